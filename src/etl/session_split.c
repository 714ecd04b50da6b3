/*
 * The per-window split of a session dataset (src/etl/session_split.h; the rules and the layouts
 * are in docs/sessions.md, "The per-day split"). Two steps:
 *   stage: the sessions are read once, in dataset order, and each batch's rows are appended to one
 *          of SPLIT_BUCKETS staging files by window ((window - 1) mod SPLIT_BUCKETS), so a bucket
 *          holds whole windows and the rows of a window keep their input order (a batch's buckets
 *          are written in parallel, each by its own writer);
 *   split: the buckets run in parallel (rk_parallel_items); each reads its file, and for each of
 *          its windows shuffles the sessions with a permutation keyed by (seed, window), cuts it
 *          into train, valid and test by exact counts, sorts each part by time and writes it.
 * The staging files bound memory by a bucket (one window when there are at most SPLIT_BUCKETS of
 * them) instead of the dataset, at the cost of writing the sessions once more; a bucket per
 * window would need a file descriptor per window, thousands with hour windows. Every window's
 * output depends only on its own sessions, their input order and the seed, so the files are
 * byte-identical for any thread count and any number of other windows.
 * It is not the ETL that makes the sessions, nor the publishing of the output (the caller's).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etl/session_split.h"
#include "reckon/etl.h"
#include "reckon/parquet.h"

#define SPLIT_BUCKETS 64
#define SPLIT_WINDOW_MAX INT64_C(10000000)                /* far past any log; keeps dates in range */
#define SPLIT_STREAM_BASE UINT64_C(0x73706c6974000000)   /* "split": windows' streams, apart from others */
#define STAGE_BATCH_ROWS 65536
#define STAGE_ROW_GROUP_BYTES (INT64_C(1) << 18)         /* small: SPLIT_BUCKETS writers buffer at once */

static const char *const split_names[3] = {"train", "valid", "test"};

/* ---- flags ---- */

static const struct {
  const char *name;
  rk_session_layout layout;
} layouts[] = {
    {"day_index",    RK_SESSION_LAYOUT_DAY_INDEX},
    {"date_files",   RK_SESSION_LAYOUT_DATE_FILES},
    {"padded_index", RK_SESSION_LAYOUT_PADDED_INDEX},
};
#define NLAYOUTS ((int)(sizeof layouts / sizeof *layouts))

rk_status rk_session_layout_parse(const char *name, rk_session_layout *out) {
  for (int i = 0; name && i < NLAYOUTS; i++)
    if (strcmp(name, layouts[i].name) == 0) {
      *out = layouts[i].layout;
      return RK_OK;
    }
  return rk_error(RK_EUSAGE, "--session_output_layout: unknown layout '%s' (expected day_index, date_files or padded_index)",
                  name ? name : "");
}

const char *rk_session_layout_name(rk_session_layout layout) {
  for (int i = 0; i < NLAYOUTS; i++)
    if (layouts[i].layout == layout) return layouts[i].name;
  return "unknown";
}

static rk_status check_fracs(const double f[3]) {
  double sum = 0;
  for (int i = 0; i < 3; i++) {
    if (!isfinite(f[i]) || f[i] < 0)
      return rk_error(RK_EUSAGE, "--session_split_fracs: the %s fraction is %g (expected a number >= 0)", split_names[i], f[i]);
    sum += f[i];
  }
  if (fabs(sum - 1.0) > 1e-9)
    return rk_error(RK_EUSAGE, "--session_split_fracs: %g,%g,%g sums to %.12g (expected train, valid and test fractions "
                    "summing to 1)", f[0], f[1], f[2], sum);
  return RK_OK;
}

void rk_session_split_counts(int64_t counts[3], int64_t n, const double fracs[3]) {
  int64_t train = (int64_t)floor((double)n * fracs[0] + 0.5);
  int64_t valid = (int64_t)floor((double)n * fracs[1] + 0.5);
  if (train > n) train = n;
  if (valid > n - train) valid = n - train;
  counts[0] = train;
  counts[1] = valid;
  counts[2] = n - train - valid;
}

/* ---- names of windows ---- */

/* The folder (day_index, padded_index) or file stem (date_files) of a window. */
static rk_status window_name(char *buf, size_t size, const rk_session_split_options *o, int64_t window) {
  if (o->layout == RK_SESSION_LAYOUT_DAY_INDEX) {
    snprintf(buf, size, "%lld", (long long)window);
    return RK_OK;
  }
  if (o->layout == RK_SESSION_LAYOUT_PADDED_INDEX) {
    snprintf(buf, size, "%04lld", (long long)window);
    return RK_OK;
  }
  int64_t start = o->origin_s + (window - 1) * o->window_s;   /* in range: checked by check_options */
  int64_t days = start >= 0 ? start / 86400 : -((-start + 86399) / 86400);
  int64_t year;
  int month, day;
  rk_civil_from_days(days, &year, &month, &day);
  if (year < 1 || year > 9999)
    return rk_error(RK_ERANGE, "session split: window %lld starts at unix second %lld, in year %lld (expected years 1 to 9999)",
                    (long long)window, (long long)start, (long long)year);
  if (o->window_s == 86400) snprintf(buf, size, "session_start_date=%04d-%02d-%02d", (int)year, month, day);
  else snprintf(buf, size, "session_start_date=%04d-%02d-%02dT%02d", (int)year, month, day, (int)((start - days * 86400) / 3600));
  return RK_OK;
}

static char *join(const char *dir, const char *name) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *p = rk_malloc(n);
  if (p) snprintf(p, n, "%s/%s", dir, name);
  return p;
}

/* ---- the state of one run ---- */

typedef struct {
  const rk_session_split_options *o;
  char *stage_dir;
  char *bucket_path[SPLIT_BUCKETS];          /* NULL: no session fell in the bucket */
  rk_parquet_writer *bucket_writer[SPLIT_BUCKETS];
  rk_batch bucket_rows[SPLIT_BUCKETS];       /* while staging: a batch's rows for each bucket */
  int64_t bucket_windows[SPLIT_BUCKETS];     /* windows written from each bucket */
  int staged[SPLIT_BUCKETS], nstaged;        /* the buckets that got sessions, ascending */
  char *schema_pbtxt, *schema_json;          /* the sessions' schema files, copied beside each split */
  size_t schema_pbtxt_size, schema_json_size;
} split_run;

static rk_status check_options(const rk_session_split_options *o) {
  if (!o || !o->sessions_path || !o->output_dir || !o->window_column || !o->time_column)
    return rk_error(RK_EINVAL, "session split: the sessions path, output folder, window column and time column are required");
  if (o->window_s != 86400 && o->window_s != 3600)
    return rk_error(RK_EINVAL, "session split: a window of %lld seconds (expected 86400 for days or 3600 for hours)",
                    (long long)o->window_s);
  if (o->layout != RK_SESSION_LAYOUT_DAY_INDEX && o->layout != RK_SESSION_LAYOUT_DATE_FILES &&
      o->layout != RK_SESSION_LAYOUT_PADDED_INDEX)
    return rk_error(RK_EINVAL, "session split: layout %d (expected day_index, date_files or padded_index)", (int)o->layout);
  /* |origin| below 2^40 s (35,000 years) keeps origin + window * window_s inside int64. */
  if (o->origin_s <= -(INT64_C(1) << 40) || o->origin_s >= (INT64_C(1) << 40))
    return rk_error(RK_ERANGE, "session split: origin %lld is out of range (expected unix seconds within 2^40 of 1970)",
                    (long long)o->origin_s);
  return check_fracs(o->fracs);
}

static rk_status read_schema_files(split_run *r) {
  char *pbtxt = join(r->o->sessions_path, "schema.pbtxt"), *json = join(r->o->sessions_path, ".merlin/schema.json");
  rk_status st = pbtxt && json ? RK_OK : RK_ENOMEM;
  if (st == RK_OK) st = rk_read_file(pbtxt, &r->schema_pbtxt, &r->schema_pbtxt_size);
  if (st == RK_OK) st = rk_read_file(json, &r->schema_json, &r->schema_json_size);
  if (st != RK_OK) st = rk_error_context(st, "session split: reading the schema of '%s'", r->o->sessions_path);
  rk_free(pbtxt);
  rk_free(json);
  return st;
}

static rk_status write_schema_files(const split_run *r, const char *dir) {
  char *pbtxt = join(dir, "schema.pbtxt"), *merlin = join(dir, ".merlin"), *json = join(dir, ".merlin/schema.json");
  rk_status st = pbtxt && merlin && json ? RK_OK : RK_ENOMEM;
  if (st == RK_OK) st = rk_write_file_atomic(pbtxt, r->schema_pbtxt, r->schema_pbtxt_size);
  if (st == RK_OK) st = rk_mkdir_p(merlin);
  if (st == RK_OK) st = rk_write_file_atomic(json, r->schema_json, r->schema_json_size);
  rk_free(pbtxt);
  rk_free(merlin);
  rk_free(json);
  return st;
}

/* ---- stage: the sessions into buckets of windows ---- */

static rk_status check_column(const rk_parquet_dataset *ds, const char *path, const char *name, const char *role) {
  for (int c = 0; c < rk_parquet_dataset_num_columns(ds); c++) {
    const rk_parquet_column_info *info = rk_parquet_dataset_column(ds, c);
    if (strcmp(info->name, name) != 0) continue;
    if (rk_coltype_is_int(info->type)) return RK_OK;
    return rk_error(RK_EFORMAT, "session split: column '%s' of '%s' is %s (expected integers: %s)", name, path,
                    rk_coltype_name(info->type), role);
  }
  return rk_error(RK_ENOTFOUND, "session split: no column '%s' in '%s' (expected %s)", name, path, role);
}

static rk_status open_bucket(split_run *r, int b) {
  char name[32];
  snprintf(name, sizeof name, "bucket_%d.parquet", b);
  if (!(r->bucket_path[b] = join(r->stage_dir, name))) return RK_ENOMEM;
  rk_parquet_write_options wo;
  rk_parquet_write_options_default(&wo);
  wo.compression = "uncompressed";   /* read back once, soon: speed over size */
  wo.dictionary = false;
  wo.statistics = false;
  wo.row_group_bytes = STAGE_ROW_GROUP_BYTES;
  return rk_parquet_writer_open(&r->bucket_writer[b], r->bucket_path[b], &wo);
}

/* One batch's rows bound for their buckets: bucket k gets rows[start[k], start[k + 1]). */
typedef struct {
  split_run *r;
  const rk_batch *batch;
  const int64_t *rows;
  int64_t start[SPLIT_BUCKETS + 1];
  int active[SPLIT_BUCKETS], nactive;   /* the buckets with rows, ascending */
} stage_job;

static rk_status stage_bucket(void *ctx, int worker, int64_t item) {
  (void)worker;
  stage_job *j = ctx;
  int k = j->active[item];
  RK_TRY(rk_batch_take(&j->r->bucket_rows[k], j->batch, j->rows + j->start[k], j->start[k + 1] - j->start[k]));
  return rk_parquet_writer_write(j->r->bucket_writer[k], &j->r->bucket_rows[k]);
}

/* Route one batch's rows to their buckets, keeping their order; the buckets' writers run in
 * parallel (one parallel step per batch, not one per row group each writer flushes). first_row:
 * the dataset row of the batch's first row, for messages. */
static rk_status stage_batch(split_run *r, const rk_batch *b, int64_t first_row, int64_t *idx) {
  const char *wname = r->o->window_column;
  const rk_column *win = &b->cols[rk_batch_find(b, wname)];
  stage_job j = {.r = r, .batch = b, .rows = idx};
  int64_t *at = j.start + 1;   /* counts, then the next free slot of each bucket */
  for (int64_t i = 0; i < b->nrows; i++) {
    int64_t w = rk_column_get_int(win, i);
    if (rk_column_is_null(win, i) || w < 1 || w > SPLIT_WINDOW_MAX) {
      char value[32] = "null";
      if (!rk_column_is_null(win, i)) snprintf(value, sizeof value, "%lld", (long long)w);
      return rk_error(RK_ERANGE, "session split: '%s' is %s in '%s' row %lld (expected a window from 1 to %lld)", wname, value,
                      r->o->sessions_path, (long long)(first_row + i + 1), (long long)SPLIT_WINDOW_MAX);
    }
    at[(w - 1) % SPLIT_BUCKETS]++;
  }
  for (int k = 0; k < SPLIT_BUCKETS; k++) {
    if (at[k] > 0) j.active[j.nactive++] = k;
    at[k] += j.start[k];   /* now the end of bucket k */
  }
  int64_t next[SPLIT_BUCKETS];
  memcpy(next, j.start, sizeof next);
  for (int64_t i = 0; i < b->nrows; i++) idx[next[(rk_column_get_int(win, i) - 1) % SPLIT_BUCKETS]++] = i;
  for (int a = 0; a < j.nactive; a++)
    if (!r->bucket_writer[j.active[a]]) RK_TRY(open_bucket(r, j.active[a]));
  return rk_parallel_items(j.nactive, rk_parallel_workers(j.nactive), stage_bucket, &j);
}

static rk_status stage(split_run *r) {
  const rk_session_split_options *o = r->o;
  rk_parquet_read_options ro;
  rk_parquet_read_options_default(&ro);
  ro.batch_rows = STAGE_BATCH_ROWS;
  rk_parquet_dataset *ds = NULL;
  RK_TRY(rk_parquet_dataset_open(&ds, o->sessions_path, &ro));
  rk_status st = check_column(ds, o->sessions_path, o->window_column, "the 1-based window of each session");
  if (st == RK_OK) st = check_column(ds, o->sessions_path, o->time_column, "unix seconds, to sort each split by");
  int64_t *idx = NULL, idx_cap = 0;
  rk_batch batch = {0};
  for (int64_t row = 0; st == RK_OK;) {
    st = rk_parquet_dataset_next(ds, &batch);
    if (st != RK_OK || batch.nrows == 0) break;
    if (batch.nrows > idx_cap) {
      rk_free(idx);
      idx_cap = batch.nrows;
      if (!(idx = rk_malloc((size_t)idx_cap * sizeof *idx))) st = RK_ENOMEM;
    }
    if (st == RK_OK) st = stage_batch(r, &batch, row, idx);
    row += batch.nrows;
  }
  for (int k = 0; k < SPLIT_BUCKETS; k++) {
    if (!r->bucket_writer[k]) continue;
    if (st == RK_OK) st = rk_parquet_writer_close(r->bucket_writer[k]);
    else rk_parquet_writer_abort(r->bucket_writer[k]);
    r->bucket_writer[k] = NULL;
  }
  rk_free(idx);
  rk_batch_free(&batch);
  for (int k = 0; k < SPLIT_BUCKETS; k++) rk_batch_free(&r->bucket_rows[k]);
  rk_parquet_dataset_close(ds);
  return st;
}

/* ---- split: one bucket's windows ---- */

typedef struct {
  int64_t window, row;   /* row: in the bucket file, which keeps the input order */
} window_row;

static int by_window_then_row(const void *x, const void *y) {
  const window_row *a = x, *b = y;
  if (a->window != b->window) return a->window < b->window ? -1 : 1;
  return (a->row > b->row) - (a->row < b->row);
}

typedef struct {
  int64_t time, row;
  bool null;             /* a null time sorts last, as pandas' sort_values puts NaN */
} time_row;

static int by_time_then_row(const void *x, const void *y) {
  const time_row *a = x, *b = y;
  if (a->null != b->null) return a->null ? 1 : -1;
  if (!a->null && a->time != b->time) return a->time < b->time ? -1 : 1;
  return (a->row > b->row) - (a->row < b->row);
}

/* One split of a window: its rows (bucket rows) sorted by time, then input order, into `path`. */
static rk_status write_part(const rk_session_split_options *o, const rk_batch *bucket, const rk_column *time, time_row *keys,
                            const int64_t *rows, int64_t n, int64_t *sorted, rk_batch *out, const char *path) {
  for (int64_t i = 0; i < n; i++)
    keys[i] = (time_row){rk_column_get_int(time, rows[i]), rows[i], rk_column_is_null(time, rows[i])};
  qsort(keys, (size_t)n, sizeof *keys, by_time_then_row);
  for (int64_t i = 0; i < n; i++) sorted[i] = keys[i].row;
  RK_TRY(rk_batch_take(out, bucket, sorted, n));
  rk_parquet_write_options wo;
  rk_parquet_write_options_default(&wo);
  if (o->compression) wo.compression = o->compression;
  return rk_parquet_write(path, out, &wo);
}

static rk_status output_path(char **path, const rk_session_split_options *o, const char *name, int split) {
  char file[160];
  if (o->layout == RK_SESSION_LAYOUT_DATE_FILES) snprintf(file, sizeof file, "%s-%s.parquet", name, split_names[split]);
  else snprintf(file, sizeof file, "%s/%s.parquet", name, split_names[split]);
  return (*path = join(o->output_dir, file)) ? RK_OK : RK_ENOMEM;
}

/* rows[0, n): the bucket rows of one window, in input order. */
static rk_status split_window(split_run *r, const rk_batch *bucket, const rk_column *time, int64_t window, const int64_t *rows,
                              int64_t n, int64_t *order, time_row *keys, rk_batch *out) {
  const rk_session_split_options *o = r->o;
  char name[96];
  RK_TRY(window_name(name, sizeof name, o, window));
  if (o->layout != RK_SESSION_LAYOUT_DATE_FILES) {
    char *dir = join(o->output_dir, name);
    rk_status st = dir ? rk_mkdir_p(dir) : RK_ENOMEM;
    if (st == RK_OK) st = write_schema_files(r, dir);
    rk_free(dir);
    RK_TRY(st);
  }
  /* The shuffle: a window's own stream, so it does not depend on the other windows. */
  rk_rng rng;
  rk_rng_init(&rng, o->seed, SPLIT_STREAM_BASE + (uint64_t)window);
  rk_rng_permutation(&rng, order, n);
  for (int64_t i = 0; i < n; i++) order[i] = rows[order[i]];
  int64_t counts[3];
  rk_session_split_counts(counts, n, o->fracs);
  int64_t *sorted = order + n;
  int64_t at = 0;   /* the shuffled order's first counts[0] go to train, the next counts[1] to valid */
  for (int s = 0; s < 3; s++) {
    char *path = NULL;
    RK_TRY(output_path(&path, o, name, s));
    rk_status st = write_part(o, bucket, time, keys, order + at, counts[s], sorted, out, path);
    rk_free(path);
    RK_TRY(st);
    at += counts[s];
  }
  return RK_OK;
}

static rk_status split_bucket(void *ctx, int worker, int64_t item) {
  (void)worker;
  split_run *r = ctx;
  int b = r->staged[item];
  rk_batch bucket = {0}, out = {0};
  window_row *wr = NULL;
  int64_t *scratch = NULL;
  time_row *keys = NULL;
  rk_status st = rk_parquet_read_all(r->bucket_path[b], NULL, &bucket);
  int64_t n = bucket.nrows;
  if (st == RK_OK) {
    wr = rk_malloc((size_t)(n > 0 ? n : 1) * sizeof *wr);
    scratch = rk_malloc((size_t)(n > 0 ? 3 * n : 1) * sizeof *scratch);   /* rows, order, sorted */
    keys = rk_malloc((size_t)(n > 0 ? n : 1) * sizeof *keys);
    if (!wr || !scratch || !keys) st = RK_ENOMEM;
  }
  if (st == RK_OK) {
    const rk_column *win = &bucket.cols[rk_batch_find(&bucket, r->o->window_column)];
    const rk_column *time = &bucket.cols[rk_batch_find(&bucket, r->o->time_column)];
    for (int64_t i = 0; i < n; i++) wr[i] = (window_row){rk_column_get_int(win, i), i};
    qsort(wr, (size_t)n, sizeof *wr, by_window_then_row);
    for (int64_t i = 0; i < n; i++) scratch[i] = wr[i].row;
    for (int64_t begin = 0, end; begin < n && st == RK_OK; begin = end) {
      for (end = begin + 1; end < n && wr[end].window == wr[begin].window;) end++;
      st = split_window(r, &bucket, time, wr[begin].window, scratch + begin, end - begin, scratch + n, keys, &out);
      r->bucket_windows[b]++;
    }
  }
  rk_free(wr);
  rk_free(scratch);
  rk_free(keys);
  rk_batch_free(&bucket);
  rk_batch_free(&out);
  return st;
}

/* ---- the whole split ---- */

rk_status rk_session_split_write(const rk_session_split_options *o, int64_t *n_windows_out) {
  if (n_windows_out) *n_windows_out = 0;
  RK_TRY(check_options(o));
  split_run r = {.o = o};
  rk_status st = read_schema_files(&r);
  char *stem = st == RK_OK ? join(o->output_dir, ".session-split") : NULL;
  if (st == RK_OK && !stem) st = RK_ENOMEM;
  if (st == RK_OK && !(r.stage_dir = rk_temp_path(stem))) st = RK_ENOMEM;
  rk_free(stem);
  if (st == RK_OK) st = rk_mkdir_p(r.stage_dir);
  if (st == RK_OK) st = stage(&r);
  for (int b = 0; b < SPLIT_BUCKETS; b++)
    if (r.bucket_path[b]) r.staged[r.nstaged++] = b;
  if (st == RK_OK) {
    /* One worker runs its bucket on this thread, where the Parquet reader and writer go parallel. */
    int workers = rk_parallel_workers(r.nstaged);
    if (o->threads > 0 && o->threads < workers) workers = o->threads;
    st = rk_parallel_items(r.nstaged, workers, split_bucket, &r);
  }
  int64_t windows = 0;
  for (int b = 0; b < SPLIT_BUCKETS; b++) windows += r.bucket_windows[b];
  if (st == RK_OK && o->layout == RK_SESSION_LAYOUT_DATE_FILES && windows > 0) st = write_schema_files(&r, o->output_dir);
  if (r.stage_dir) {
    rk_status rm = rk_remove_tree(r.stage_dir);
    if (st == RK_OK) st = rm;
  }
  for (int b = 0; b < SPLIT_BUCKETS; b++) rk_free(r.bucket_path[b]);
  rk_free(r.stage_dir);
  rk_free(r.schema_pbtxt);
  rk_free(r.schema_json);
  if (st == RK_OK && n_windows_out) *n_windows_out = windows;
  return st;
}
