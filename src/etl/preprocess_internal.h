/*
 * The preprocessing pipeline's shared state (src/etl/preprocess*.c, ingest.c, rows.c, fit.c,
 * emit.c). Data flows through one intermediate stage per input, written once:
 *
 *   stage 1 (<cache>/01_<input>/part_0.parquet): the rows that passed the filter query, only
 *   the columns the workflow needs, cast; plus `__row` (the row's position in its input) and,
 *   for every column that needs a dictionary (categorical, target-encoded, user and item ids),
 *   `__idx_<col>`: the value's index in that column's dictionary (first-seen order).
 *
 * Later passes read stage 1 back (projected), so frequency filtering, fitting and transforming
 * work on small integer indices and arrays, never on hash tables, and memory grows with the
 * number of distinct values, not with rows.
 */
#ifndef RECKON_PREPROCESS_INTERNAL_H
#define RECKON_PREPROCESS_INTERNAL_H

#include "etl/etl_internal.h"
#include "reckon/io.h"
#include "reckon/parquet.h"

enum { PP_DATA, PP_EVAL, PP_PREDICT, PP_INPUTS };
enum { SPLIT_DROP = 0, SPLIT_TRAIN = 1, SPLIT_EVAL = 2, SPLIT_PREDICT = 3 };

/* One input column the workflow reads. */
typedef struct {
  const char *name;
  const char *flag;        /* the flag that named it first, for messages */
  bool cast;               /* a --to_* flag names it */
  rk_coltype cast_type;
  rk_coltype type;         /* in stage 1 (after the cast) */
  bool is_list;            /* a list (multi-hot) categorical column: its __idx_<col> is a list too */
  rk_coltype elem_type;    /* a list's values' type */
  bool is_target;
  bool needs_dict;
  rk_dict *dict;
  int64_t *count;          /* rows per dictionary index in the data (ingest), for the user/item filters */
  int64_t count_cap;
  int64_t *remap;          /* categorical: dictionary index -> id (fit) */
  int wf_col;              /* its column in the workflow, or -1 */
} pp_column;

/* A target encoding: per dictionary index of the feature, sums and counts of the target on
 * train, per fold (folds x values) and in total. */
typedef struct {
  int feature, target;     /* pp columns */
  int wf_col;
  int folds;
  int64_t nvals;
  double *sum, *tot_sum;
  int64_t *cnt, *tot_cnt;
  double prior;
} pp_te;

typedef struct {
  const rk_preprocess_config *cfg;
  char *out_dir;           /* output path without a trailing slash */
  char *tmp_dir;           /* <out>/.reckon-tmp-<pid>: everything is built here, then moved */
  rk_output out;           /* out_dir, held for the run */
  char run_id[RK_OUTPUT_ID_SIZE];   /* in every part's marker and, once published, the folder's */
  char *cache_dir;         /* <out>/_cache when persisting, else <tmp>/_cache */
  bool made_out_dir;       /* the run created the output folder (removed again if it fails) */
  char *stage[PP_INPUTS];  /* stage 1 folder per input (NULL when the input is absent) */
  const char *input_path[PP_INPUTS];

  pp_column *cols;
  int n_cols;
  rk_name_index col_index;     /* cols by name (pp_find) */
  int user_col, item_col, ts_col;   /* indices into cols, or -1 */

  /* frequency filters: keep flags per dictionary index */
  uint8_t *keep_user, *keep_item;
  /* random_by_user: per user, the largest split key that goes to eval (valid when has_thr) */
  uint64_t *user_thr;
  uint8_t *user_has_thr;

  pp_te *te;
  int n_te;

  rk_workflow wf;
  int64_t rows[4];         /* rows per split (drop, train, eval, predict) */
  int64_t null_ts_rows;

  json_t *report;
  json_t *timings;
  double t_start;
} pp_state;

/* Stage 1 is read in batches of this many rows (the last one shorter), whatever its files' row
 * groups: the statistics fitted batch by batch then do not depend on how many ranks wrote it. */
#define PP_STAGE_ROWS ((int64_t)1 << 17)

/* The type of the values a dictionary column numbers: a list column's elements. */
static inline rk_coltype pp_value_type(const pp_column *c) {
  return c->cast ? c->cast_type : c->is_list ? c->elem_type : c->type;
}

/* ---- ingest.c: inputs -> stage 1 ---- */
/* This rank's share of an input (all of it for one process) into the stage folder `stage`;
 * *read and *kept are the rows read and kept by the filter query (-1 when a persisted stage
 * was reused, which reports itself). */
rk_status pp_ingest(pp_state *p, int input, const char *stage, int64_t *read, int64_t *kept);
void pp_ingest_report(pp_state *p, int input, int64_t rows_read, int64_t rows_kept);
/* Whether column i is read from this input: predictions come without targets. */
bool pp_reads(const pp_state *p, int input, int i);
/* How stage files are written (uncompressed, PP_STAGE_ROWS-row groups). */
void pp_stage_write_options(rk_parquet_write_options *o);

/* ---- dist_preprocess.c: several ranks (cfg->dist) ---- */
int pp_dist_rank(const pp_state *p);
int pp_dist_size(const pp_state *p);
/* Every rank's status: OK when all are; else this rank's own failure, or the first failing
 * rank's status and message ("rank 1 of 2: ..."). A collective: every rank calls it. */
rk_status pp_dist_agree(pp_state *p, rk_status st);
/* v (n) = its sum over the ranks (integers: exact); nothing for one process. A collective. */
rk_status pp_dist_sum(pp_state *p, int64_t *v, int64_t n);
/* Rank 0's process id to every rank (it names the shared temporary folder). */
rk_status pp_dist_broadcast_pid(pp_state *p, long *pid);
/* Merge the ranks' stage-1 shares of `input` (this rank's in folder `mine`) into
 * p->stage[input]: global row numbers and dictionary indices, one part per rank; the
 * dictionaries (p->cols[].dict, whose sizes before this input were old_size[]) and the user and
 * item counts become the global ones on every rank; *rows_read and *rows_kept, this rank's on
 * entry, become the totals. */
rk_status pp_dist_merge_input(pp_state *p, int input, const char *mine, const int64_t *old_size, int64_t *rows_read,
                              int64_t *rows_kept);

/* ---- rows.c: which rows survive and where they go ---- */
rk_status pp_frequency_filter(pp_state *p);
rk_status pp_prepare_split(pp_state *p);
/* split[r] for the rows of a stage-1 batch of `input` (SPLIT_*). */
void pp_assign(const pp_state *p, int input, const rk_batch *b, uint8_t *split);
/* Columns pp_assign reads, to add to a projection. */
int pp_assign_columns(const pp_state *p, int input, const char **names);

/* Pass over a stage with a projection (the assign columns are added); fn sees each batch and its
 * split. Column i of the projection is at b->cols[i]. */
typedef rk_status (*pp_batch_fn)(pp_state *p, const rk_batch *b, const uint8_t *split, void *ctx);
rk_status pp_scan(pp_state *p, int input, const char *const *cols, int ncols, const char *label, pp_batch_fn fn,
                  void *ctx);

/* ---- fit.c: statistics on train -> p->wf ---- */
rk_status pp_fit(pp_state *p);
/* The fold of a train row for out-of-fold target encoding. */
int pp_te_fold(uint64_t seed, int64_t row, int folds);

/* ---- emit.c: transform and write partitions ---- */
rk_status pp_emit(pp_state *p);

/* ---- preprocess.c ---- */
char *pp_path(const char *dir, const char *name);   /* "<dir>/<name>", rk_malloc'd */
const char *pp_idx_name(const char *col, char *buf, size_t size);   /* "__idx_<col>" */
int pp_find(const pp_state *p, const char *name);
void pp_time(pp_state *p, const char *stage, double t0);

#endif
