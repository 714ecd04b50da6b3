/*
 * The session ETL's shared parts (src/etl/session_*.c): the event record both the ETL and
 * rk_session_transform work on, and the steps they share, so the two give the same bits.
 *
 * An event is a fixed-size record: its session key, time (unix microseconds) and input row, the
 * doubles of the value columns (continuous, then the price when it is not one of them) and the
 * int32 dictionary indices of the categorical columns (the item first, then the event-level
 * categoricals, the user, the context columns; -1 for null). Indices number raw values in
 * first-seen order (rk_dict); the tables of an ss_maps turn them into ids and statistics, so the
 * ETL (its pass-1 dictionaries) and the transform (dictionaries of the request) share every step
 * after reading. The last section is the ETL driver's own state (session_etl.c, session_spill.c,
 * session_fit.c).
 */
#ifndef RECKON_SESSION_INTERNAL_H
#define RECKON_SESSION_INTERNAL_H

#include "etl/etl_internal.h"
#include "etl/session_split.h"

#define SS_MAX_COLUMNS 64

typedef struct {
  int64_t session, ts_us, row;
} ss_head;

/* Which input column fills which part of a record, and what the output holds. Built from a
 * session workflow, so the ETL and the transform agree on it. */
typedef struct {
  const rk_session_workflow *sw;
  int n_idx, n_val;
  const char *idx_name[SS_MAX_COLUMNS];
  const char *val_name[SS_MAX_COLUMNS];
  int first_categorical, first_user, first_context;   /* positions in idx (user: -1 when none) */
  int price_val, category_idx;   /* the relative price's inputs, or -1 */
  bool wd_sin, wd_cos, recency;  /* time features asked for */
  size_t size;                   /* bytes per record */
} ss_plan;

rk_status ss_plan_init(ss_plan *plan, const rk_session_workflow *sw);

static inline ss_head *ss_head_at(const ss_plan *plan, void *base, int64_t i) {
  return (ss_head *)((char *)base + (size_t)i * plan->size);
}
static inline double *ss_vals(const ss_plan *plan, void *rec) {
  (void)plan;
  ss_head *head = rec;
  return (double *)(void *)(head + 1);   /* the values follow the head, 8-byte aligned */
}
static inline int32_t *ss_idx(const ss_plan *plan, void *rec) {
  return (int32_t *)((char *)rec + sizeof(ss_head) + (size_t)plan->n_val * sizeof(double));
}

/* Records of one batch of raw events: rows with a null session are skipped (counted). dicts[k]
 * (created here on first use, with the column's type) numbers the values of idx column k. */
typedef struct {
  void *data;
  int64_t n, cap;          /* records */
  int64_t null_sessions;
  bool hashed;             /* some session id was not an integer */
} ss_records;

rk_status ss_records_from_batch(ss_records *out, const ss_plan *plan, const rk_batch *in, rk_dict **dicts,
                                int64_t row_base, const char *label);
void ss_records_free(ss_records *r);

/* Sort records (in input order) by (session, time, input row), then drop consecutive repeats of an
 * item inside a session when the plan says so. *data (rk_malloc'd) is replaced by the records kept. */
rk_status ss_sort_dedup(const ss_plan *plan, void **data, int64_t n, int64_t *kept);

/* How indices become output values. */
typedef struct {
  const int64_t *remap[SS_MAX_COLUMNS];   /* per idx column: dictionary index -> id (null: 1) */
  const int64_t *first_seen_us;           /* per item index: first event time (INT64_MIN: unknown) */
  const double *category_mean;            /* per category index: mean price (NaN: unknown) */
  const rk_wf_column *recency_norm;       /* statistics of product_recency_days_log_norm */
  const rk_wf_column *value_norm[SS_MAX_COLUMNS];   /* per continuous column */
} ss_maps;

/* Per-event features, shared by the fit (statistics) and the output. NaN: missing. */
double ss_recency_log(int64_t ts_us, int64_t first_seen_us);
double ss_value_log(double x);
float ss_weekday_sin(int64_t ts_us);
float ss_weekday_cos(int64_t ts_us);

/* The output table: its columns (empty), in order. */
rk_status ss_output_init(const ss_plan *plan, const rk_workflow *wf, rk_batch *out);
/* Group sorted, deduplicated records into session rows appended to `out` (ss_output_init's
 * layout): slice, pad, filter, features, day_index. *min_len / *max_len track the list lengths
 * written (initialise to INT64_MAX / 0). */
rk_status ss_emit_sessions(const ss_plan *plan, const ss_maps *maps, void *data, int64_t n, rk_batch *out,
                           int64_t *min_len, int64_t *max_len, int64_t *dropped_short);
/* The Merlin schema of the output (value counts from the lengths written). */
rk_status ss_schema(const ss_plan *plan, const rk_workflow *wf, int64_t min_len, int64_t max_len, rk_schema *out);

/* `reckon preprocess` session mode (session_etl.c); rk_preprocess calls it. */
rk_status rk_session_preprocess(const rk_preprocess_config *cfg, json_t **report);

/* Session workflows: building, and saving the session section (src/etl/workflow_session.c). */
json_t *ss_workflow_json(const rk_session_workflow *sw, const char *dir, rk_status *st);
rk_status ss_workflow_from_json(rk_session_workflow **sw, json_t *o, const char *dir, const char *path);

/* ---------------------------------------------------------------------------------------------
 * The ETL driver's state (session_etl.c drives; session_spill.c is pass 1, session_fit.c pass 2a
 * and the fit).
 * ------------------------------------------------------------------------------------------- */
typedef struct {
  int64_t n;
  double mean, m2;   /* Welford; combined across partitions with Chan's formula */
} se_moments;

typedef struct {
  int64_t events_in, events_kept;
  se_moments recency, value[SS_MAX_COLUMNS];
  int64_t n_price;   /* (category index, sum, count) of the partition's priced events */
  int32_t *price_cat;
  double *price_sum;
  int64_t *price_cnt;
  int64_t sessions, dropped_short, min_len, max_len;
} se_part;

/* A worker's dense sums per category, reset after each partition (only the touched entries). */
typedef struct {
  double *sum;
  int64_t *cnt;
  int32_t *touched;
} se_price_scratch;

typedef struct {
  const rk_preprocess_config *cfg;
  rk_workflow wf;
  rk_session_workflow *sw;
  ss_plan plan;
  rk_dict *dicts[SS_MAX_COLUMNS];
  int64_t *first_seen;       /* per item index */
  int64_t first_seen_cap;
  int64_t min_ts_us;
  int n_parts;
  char **spill;              /* per partition: its file */
  se_part *parts;
  int n_workers;
  int64_t **counts;          /* [worker * n_idx + k][index], then the totals in counts[k] */
  int64_t *nulls;            /* [worker * n_idx + k] */
  se_price_scratch *price;   /* per worker, when the relative price is on */
  int64_t *remap[SS_MAX_COLUMNS];
  char *out_dir, *tmp_dir, *sessions_dir;
  rk_output out;
  char run_id[RK_OUTPUT_ID_SIZE];
  bool made_out_dir;
  int64_t events_read, null_sessions;
  json_t *report, *timings;
  double t_start;
} se_state;

/* "<dir>/<name>", rk_malloc'd. */
char *se_path(const char *dir, const char *name);
/* Seconds of a stage, and the process's peak memory when it ended (the report). */
void se_timing(se_state *s, const char *stage, double t0);
/* Pass 1: read the input once, number values, note first-seen times, spill events by session hash. */
rk_status se_pass1(se_state *s);
/* A spill file's records (rk_malloc'd). */
rk_status se_read_spill(const char *path, size_t rec_size, void **data, int64_t *n);
/* Pass 2a: per partition, sort, dedup, count and accumulate statistics; write it back sorted. */
rk_status se_pass2a(se_state *s);
/* Vocabularies, z-score statistics, first-seen times and category means into the workflow. */
rk_status se_fit(se_state *s);

#endif
