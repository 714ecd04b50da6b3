/*
 * `mpirun -np N reckon preprocess`: the tabular pipeline over several ranks, with the output
 * byte for byte that of one process.
 *
 * Who does what. Every rank reads its share of each input (Parquet: a block of row groups; CSV:
 * a byte range on record boundaries, rk_source_options.share) and runs stage 1 on it (filter
 * query, casts, dictionary numbering: the parsing, the expensive part) into its own folder. The
 * shares are then merged here into the stage one process would have written:
 *   - row numbers: each rank's `__row` is shifted by the rows the ranks before it read;
 *   - dictionaries: first-seen order over the whole input is rank 0's values, then rank 1's
 *     new ones, and so on, so every rank inserts all ranks' new values in rank order into a
 *     fresh dictionary (the same on every rank) and renumbers its `__idx_<col>` columns;
 *   - the user and item counts of the frequency filters: per global index, summed over ranks
 *     (integers: exact in any order).
 * Each rank writes its renumbered share as <stage>/part_<rank>.parquet. Every rank then fits
 * the same workflow on the merged stage (deterministic: nothing to exchange) and writes its
 * block of the output parts (emit.c); stage scans (pp_scan) cut batches of PP_STAGE_ROWS rows
 * whatever the files, so every statistic is computed over the same batches in the same order as
 * by one process: the output is identical, not merely close. Rank 0 writes the workflow, the
 * report and publishes.
 *
 * Dictionary values travel as small Parquet files in the run's temporary folder, which is under
 * the output path: the ranks must share that file system (one machine, or a cluster's shared
 * storage), as they must to write one output anyway.
 *
 * Every step that can fail on one rank ends with pp_dist_agree, so the ranks never wait in a
 * collective for a rank that already gave up, and rank 0 reports the first failing rank's
 * message.
 *
 * It is not: the communication layer (reckon/dist.h), nor session mode (one process).
 */
#include <stdio.h>
#include <string.h>

#include "etl/preprocess_internal.h"
#include "reckon/dist.h"

int pp_dist_rank(const pp_state *p) { return p->cfg->dist ? rk_dist_rank(p->cfg->dist) : 0; }
int pp_dist_size(const pp_state *p) { return p->cfg->dist ? rk_dist_size(p->cfg->dist) : 1; }

enum { MESSAGE_BYTES = 512 };

rk_status pp_dist_agree(pp_state *p, rk_status st) {
  rk_dist *d = p->cfg->dist;
  int n = pp_dist_size(p), me = pp_dist_rank(p);
  if (n == 1) return st;
  int64_t mine = st, *all = rk_malloc((size_t)n * sizeof *all);
  char *text = NULL, msg[MESSAGE_BYTES];
  if (!all) return RK_ENOMEM;   /* the others time out in the collective and say so */
  rk_status cs = rk_dist_allgather(d, all, &mine, 1, RK_DIST_I64);
  int first = -1;
  for (int r = 0; cs == RK_OK && r < n && first < 0; r++)
    if (all[r] != RK_OK) first = r;
  if (cs == RK_OK && first >= 0) {
    /* Someone failed: every rank learns the first failure's message, for rank 0 to print. */
    snprintf(msg, sizeof msg, "%s", st != RK_OK ? rk_error_message() : "");
    if (!(text = rk_malloc((size_t)n * MESSAGE_BYTES))) cs = RK_ENOMEM;
    if (cs == RK_OK) cs = rk_dist_allgather(d, text, msg, MESSAGE_BYTES, RK_DIST_BYTE);
    if (cs == RK_OK && first != me) {
      text[(size_t)first * MESSAGE_BYTES + MESSAGE_BYTES - 1] = '\0';
      cs = rk_error((rk_status)all[first], "rank %d of %d: %s", first, n, text + (size_t)first * MESSAGE_BYTES);
    } else if (cs == RK_OK) {
      cs = st;   /* this rank's own failure, its message as it is */
    }
  }
  rk_free(text);
  rk_free(all);
  return cs;
}

rk_status pp_dist_sum(pp_state *p, int64_t *v, int64_t n) {
  return pp_dist_size(p) > 1 ? rk_dist_allreduce_sum(p->cfg->dist, v, n, RK_DIST_I64) : RK_OK;
}

rk_status pp_dist_broadcast_pid(pp_state *p, long *pid) {
  int64_t v = *pid;
  RK_TRY(rk_dist_broadcast(p->cfg->dist, &v, 1, RK_DIST_I64, 0));
  *pid = (long)v;
  return RK_OK;
}

/* ---- the merge of one input's shares ---- */

typedef struct {
  int input;
  int n, me;
  int64_t *read, *kept;    /* per rank: rows read and rows kept by the filter query */
  int64_t base;            /* rows read by the ranks before this one */
  int32_t **map;           /* per pp column: local index - old size -> global index, or NULL */
  int64_t *old_size;       /* per pp column: dictionary size before this input */
} merge_ctx;

static char *dict_file(const pp_state *p, const merge_ctx *m, int col, int rank) {
  char name[96];
  snprintf(name, sizeof name, "dict_%d_%d.%d.parquet", m->input, col, rank);
  char *dir = pp_path(p->tmp_dir, "_dist"), *path = dir ? pp_path(dir, name) : NULL;
  rk_free(dir);
  return path;
}

/* The column's type in stage 1, where one process takes it from the first batch it reads: here,
 * from the first rank that read a row (rank 0's guess when none did). */
static rk_status agree_types(pp_state *p, merge_ctx *m) {
  int first = 0;
  while (first < m->n - 1 && m->read[first] == 0) first++;
  int32_t *types = rk_malloc((size_t)(p->n_cols ? p->n_cols : 1) * sizeof *types);
  if (!types) return RK_ENOMEM;
  for (int i = 0; i < p->n_cols; i++) types[i] = (int32_t)p->cols[i].type;
  rk_status st = rk_dist_broadcast(p->cfg->dist, types, p->n_cols, RK_DIST_I32, first);
  for (int i = 0; st == RK_OK && i < p->n_cols; i++) p->cols[i].type = (rk_coltype)types[i];
  rk_free(types);
  return st;
}

/* This rank's new dictionary values (indices old_size.. of its local dictionary) to a file. */
static rk_status write_new_values(pp_state *p, merge_ctx *m, int i, int64_t *count) {
  pp_column *c = &p->cols[i];
  int64_t from = m->old_size[i], to = c->dict ? rk_dict_size(c->dict) : 0;
  *count = to > from ? to - from : 0;
  if (*count == 0) return RK_OK;
  int64_t *order = rk_malloc((size_t)*count * sizeof *order);
  char *path = dict_file(p, m, i, m->me);
  rk_batch b = {0};
  rk_parquet_writer *w = NULL;
  rk_status st = order && path ? rk_batch_init(&b, 1) : RK_ENOMEM;
  for (int64_t k = 0; st == RK_OK && k < *count; k++) order[k] = from + k;
  if (st == RK_OK) st = rk_column_init(&b.cols[0], "value", rk_dict_key_type(c->dict), RK_COL_INT64);
  if (st == RK_OK) st = rk_dict_append_values(c->dict, order, *count, &b.cols[0]);
  b.nrows = *count;
  rk_parquet_write_options o;
  rk_parquet_write_options_default(&o);
  o.compression = "uncompressed";
  if (st == RK_OK) st = rk_parquet_writer_open(&w, path, &o);
  if (st == RK_OK) st = rk_parquet_writer_write(w, &b);
  if (w) st = st == RK_OK ? rk_parquet_writer_close(w) : (rk_parquet_writer_abort(w), st);
  rk_batch_free(&b);
  rk_free(path);
  rk_free(order);
  return st;
}

/* The global dictionary of column i: the values known before this input, then every rank's new
 * values in rank order. This rank's own come back as their global indices: its map. */
static rk_status merge_dict(pp_state *p, merge_ctx *m, int i, const int64_t *counts) {
  pp_column *c = &p->cols[i];
  rk_coltype type = pp_value_type(c);
  rk_dict *g = NULL;
  rk_column old = {0};
  int32_t *idx = NULL;
  int64_t n_old = m->old_size[i], most = n_old;
  for (int r = 0; r < m->n; r++) most = counts[r] > most ? counts[r] : most;
  rk_status st = rk_dict_create(&g, type);
  if (st == RK_OK && !(idx = rk_malloc((size_t)(most ? most : 1) * sizeof *idx))) st = RK_ENOMEM;
  if (st == RK_OK && n_old > 0) {
    int64_t *order = rk_malloc((size_t)n_old * sizeof *order);
    if (!order) st = RK_ENOMEM;
    for (int64_t k = 0; st == RK_OK && k < n_old; k++) order[k] = k;
    if (st == RK_OK) st = rk_column_init(&old, c->name, rk_dict_key_type(c->dict), RK_COL_INT64);
    if (st == RK_OK) st = rk_dict_append_values(c->dict, order, n_old, &old);
    if (st == RK_OK) st = rk_dict_insert(g, &old, 0, n_old, idx);
    rk_free(order);
  }
  for (int r = 0; r < m->n && st == RK_OK; r++) {
    if (counts[r] == 0) continue;
    char *path = dict_file(p, m, i, r);
    rk_batch b = {0};
    st = path ? rk_parquet_read_all(path, NULL, &b) : RK_ENOMEM;
    if (st == RK_OK && b.nrows != counts[r])
      st = rk_error(RK_EINTERNAL, "'%s' holds %lld values, rank %d counted %lld", path, (long long)b.nrows, r,
                    (long long)counts[r]);
    if (st == RK_OK) st = rk_dict_insert(g, &b.cols[0], 0, b.nrows, idx);
    if (st == RK_OK && r == m->me) {
      if (!(m->map[i] = rk_malloc((size_t)b.nrows * sizeof *m->map[i]))) st = RK_ENOMEM;
      else memcpy(m->map[i], idx, (size_t)b.nrows * sizeof *idx);
    }
    rk_batch_free(&b);
    rk_free(path);
  }
  rk_column_free(&old);
  rk_free(idx);
  if (st != RK_OK) {
    rk_dict_free(g);
    return st;
  }
  rk_dict_free(c->dict);
  c->dict = g;
  return RK_OK;
}

static int32_t global_index(const merge_ctx *m, int i, int32_t local) {
  return local < m->old_size[i] ? local : m->map[i][local - m->old_size[i]];
}

/* The frequency filters' counts per user (item), summed over ranks on the global numbering.
 * Only the data input counts them (ingest.c). */
static rk_status merge_counts(pp_state *p, merge_ctx *m, int i) {
  pp_column *c = &p->cols[i];
  int64_t size = rk_dict_size(c->dict), local = c->count_cap;
  int64_t *g = rk_calloc((size_t)(size ? size : 1), sizeof *g);
  if (!g) return RK_ENOMEM;
  for (int64_t k = 0; k < local && c->count; k++)
    if (c->count[k]) g[global_index(m, i, (int32_t)k)] += c->count[k];
  rk_status st = rk_dist_allreduce_sum(p->cfg->dist, g, size, RK_DIST_I64);
  if (st != RK_OK) {
    rk_free(g);
    return st;
  }
  rk_free(c->count);
  c->count = g;
  c->count_cap = size;
  return RK_OK;
}

/* This rank's share, renumbered, as <stage>/part_<rank>.parquet. A rank that read no rows adds
 * no file (its columns' types may be guesses), unless no rank read any: then rank 0's empty
 * file gives the stage its columns, as one process's does. */
static rk_status write_share(pp_state *p, merge_ctx *m, const char *mine) {
  bool any = false;
  for (int r = 0; r < m->n; r++) any |= m->read[r] > 0;
  if (m->read[m->me] == 0 && (any || m->me != 0)) return RK_OK;
  char name[64];
  snprintf(name, sizeof name, "part_%d.parquet", m->me);
  char *to = pp_path(p->stage[m->input], name);
  rk_status st = to ? rk_mkdir_p(p->stage[m->input]) : RK_ENOMEM;
  rk_parquet_dataset *ds = NULL;
  rk_parquet_writer *w = NULL;
  rk_batch b = {0};
  if (st == RK_OK) st = rk_parquet_dataset_open(&ds, mine, NULL);
  rk_parquet_write_options o;
  pp_stage_write_options(&o);
  if (st == RK_OK) st = rk_parquet_writer_open(&w, to, &o);
  char idx_name[600];
  while (st == RK_OK && (st = rk_parquet_dataset_next(ds, &b)) == RK_OK && b.nrows > 0) {
    int64_t *row = b.cols[rk_batch_find(&b, "__row")].values;
    for (int64_t r = 0; r < b.nrows; r++) row[r] += m->base;
    for (int i = 0; i < p->n_cols; i++) {
      int k = m->map[i] ? rk_batch_find(&b, pp_idx_name(p->cols[i].name, idx_name, sizeof idx_name)) : -1;
      if (k < 0) continue;
      int32_t *idx = b.cols[k].values;
      for (int64_t r = 0; r < b.nrows; r++)
        if (idx[r] >= 0) idx[r] = global_index(m, i, idx[r]);
    }
    st = rk_parquet_writer_write(w, &b);
  }
  /* A share that kept no rows still has its (empty) batch, so the file has the columns. */
  if (st == RK_OK && rk_parquet_dataset_num_rows(ds) == 0) {
    rk_parquet_dataset_close(ds);
    ds = NULL;
    rk_parquet_read_options ro;
    rk_parquet_read_options_default(&ro);
    char *file = pp_path(mine, "part_0.parquet");
    st = file ? rk_parquet_read_all(file, &ro, &b) : RK_ENOMEM;
    if (st == RK_OK) st = rk_parquet_writer_write(w, &b);
    rk_free(file);
  }
  if (w) st = st == RK_OK ? rk_parquet_writer_close(w) : (rk_parquet_writer_abort(w), st);
  if (ds) rk_parquet_dataset_close(ds);
  rk_batch_free(&b);
  rk_free(to);
  return st;
}

static void merge_free(merge_ctx *m, int ncols) {
  for (int i = 0; m->map && i < ncols; i++) rk_free(m->map[i]);
  rk_free(m->map);
  rk_free(m->old_size);
  rk_free(m->read);
  rk_free(m->kept);
}

rk_status pp_dist_merge_input(pp_state *p, int input, const char *mine, const int64_t *old_size, int64_t *rows_read,
                              int64_t *rows_kept) {
  rk_dist *d = p->cfg->dist;
  merge_ctx m = {input, pp_dist_size(p), pp_dist_rank(p), NULL, NULL, 0, NULL, NULL};
  int nc = p->n_cols ? p->n_cols : 1;
  m.read = rk_malloc((size_t)m.n * sizeof *m.read);
  m.kept = rk_malloc((size_t)m.n * sizeof *m.kept);
  m.map = rk_calloc((size_t)nc, sizeof *m.map);
  m.old_size = rk_malloc((size_t)nc * sizeof *m.old_size);
  int64_t *counts = rk_malloc((size_t)m.n * sizeof *counts);
  rk_status st = m.read && m.kept && m.map && m.old_size && counts ? RK_OK : RK_ENOMEM;
  st = pp_dist_agree(p, st);
  for (int i = 0; st == RK_OK && i < p->n_cols; i++) m.old_size[i] = old_size[i];
  if (st == RK_OK) st = rk_dist_allgather(d, m.read, rows_read, 1, RK_DIST_I64);
  if (st == RK_OK) st = rk_dist_allgather(d, m.kept, rows_kept, 1, RK_DIST_I64);
  for (int r = 0; st == RK_OK && r < m.me; r++) m.base += m.read[r];
  if (st == RK_OK && input == PP_DATA) st = agree_types(p, &m);
  if (st == RK_OK) {
    char *dir = pp_path(p->tmp_dir, "_dist");
    st = pp_dist_agree(p, dir ? rk_mkdir_p(dir) : RK_ENOMEM);
    rk_free(dir);
  }
  for (int i = 0; st == RK_OK && i < p->n_cols; i++) {
    if (!p->cols[i].needs_dict || !pp_reads(p, input, i)) continue;
    int64_t mine_count = 0;
    st = pp_dist_agree(p, write_new_values(p, &m, i, &mine_count));
    if (st == RK_OK) st = rk_dist_allgather(d, counts, &mine_count, 1, RK_DIST_I64);
    if (st == RK_OK) st = pp_dist_agree(p, merge_dict(p, &m, i, counts));
    if (st == RK_OK && input == PP_DATA && (i == p->user_col || i == p->item_col)) st = merge_counts(p, &m, i);
  }
  if (st == RK_OK) st = pp_dist_agree(p, write_share(p, &m, mine));
  if (st == RK_OK) {
    *rows_read = *rows_kept = 0;
    for (int r = 0; r < m.n; r++) {
      *rows_read += m.read[r];
      *rows_kept += m.kept[r];
    }
  }
  rk_free(counts);
  merge_free(&m, nc);
  return st;
}
