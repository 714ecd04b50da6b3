/*
 * A minimal per-window split of the session ETL's output, standing in for helper B's
 * src/etl/session_split.c until the branches merge (the lead keeps B's file and drops this one).
 * Every session goes to its window; inside a window the sessions are shuffled with the seed
 * (stream = window) and cut into train, valid and test (valid and test rounded to nearest, train
 * the rest), each sorted by the time column. Reads the whole table at once.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etl/session_split.h"
#include "reckon/etl.h"
#include "reckon/parquet.h"

typedef struct {
  int64_t window, time, pos;
} row_key;

static int by_window_then_pos(const void *a, const void *b) {
  const row_key *x = a, *y = b;
  if (x->window != y->window) return x->window < y->window ? -1 : 1;
  return (x->pos > y->pos) - (x->pos < y->pos);
}

static int by_time_then_pos(const void *a, const void *b) {
  const row_key *x = a, *y = b;
  if (x->time != y->time) return x->time < y->time ? -1 : 1;
  return (x->pos > y->pos) - (x->pos < y->pos);
}

static rk_status write_rows(const char *path, const rk_batch *all, row_key *keys, int64_t n, const char *compression) {
  qsort(keys, (size_t)n, sizeof *keys, by_time_then_pos);
  int64_t *rows = rk_malloc((size_t)(n ? n : 1) * sizeof *rows);
  if (!rows) return RK_ENOMEM;
  for (int64_t i = 0; i < n; i++) rows[i] = keys[i].pos;
  rk_batch part = {0};
  rk_status st = rk_batch_take(&part, all, rows, n);
  rk_parquet_write_options o;
  rk_parquet_write_options_default(&o);
  o.compression = compression;
  if (st == RK_OK) st = rk_parquet_write(path, &part, &o);
  rk_batch_free(&part);
  rk_free(rows);
  return st;
}

static rk_status copy_schema(const char *from_dir, const char *to_dir) {
  const char *files[] = {"schema.pbtxt", ".merlin/schema.json"};
  char a[4096], b[4096];
  snprintf(b, sizeof b, "%s/.merlin", to_dir);
  RK_TRY(rk_mkdir_p(b));
  for (int i = 0; i < 2; i++) {
    snprintf(a, sizeof a, "%s/%s", from_dir, files[i]);
    snprintf(b, sizeof b, "%s/%s", to_dir, files[i]);
    char *data;
    size_t size;
    RK_TRY(rk_read_file(a, &data, &size));
    rk_status st = rk_write_file_atomic(b, data, size);
    rk_free(data);
    RK_TRY(st);
  }
  return RK_OK;
}

static rk_status write_window(const rk_session_split_options *o, const rk_batch *all, row_key *keys, int64_t n) {
  int64_t window = keys[0].window;
  rk_rng rng;
  rk_rng_init(&rng, o->seed, (uint64_t)window);
  for (int64_t i = n - 1; i > 0; i--) {
    int64_t j = (int64_t)rk_rng_below(&rng, (uint64_t)i + 1);
    row_key t = keys[i];
    keys[i] = keys[j];
    keys[j] = t;
  }
  int64_t n_valid = (int64_t)llround((double)n * o->fracs[1]), n_test = (int64_t)llround((double)n * o->fracs[2]);
  if (n_valid + n_test > n) n_test = n - n_valid;
  int64_t n_train = n - n_valid - n_test;
  static const char *const names[] = {"train", "valid", "test"};
  int64_t begin[] = {0, n_train, n_train + n_valid}, count[] = {n_train, n_valid, n_test};
  char dir[4096], path[4200];
  if (o->layout == RK_SESSION_LAYOUT_DATE_FILES) {
    snprintf(dir, sizeof dir, "%s", o->output_dir);
  } else if (o->layout == RK_SESSION_LAYOUT_PADDED_INDEX) {
    snprintf(dir, sizeof dir, "%s/%04lld", o->output_dir, (long long)window);
  } else {
    snprintf(dir, sizeof dir, "%s/%lld", o->output_dir, (long long)window);
  }
  RK_TRY(rk_mkdir_p(dir));
  int64_t y;
  int m, d;
  int64_t start = o->origin_s + (window - 1) * o->window_s;
  rk_civil_from_days(start / 86400 - (start % 86400 < 0), &y, &m, &d);
  char date[32];
  if (o->window_s == 3600)
    snprintf(date, sizeof date, "%04lld-%02d-%02dT%02lld", (long long)y, m, d, (long long)((start % 86400 + 86400) % 86400 / 3600));
  else
    snprintf(date, sizeof date, "%04lld-%02d-%02d", (long long)y, m, d);
  for (int s = 0; s < 3; s++) {
    if (o->layout == RK_SESSION_LAYOUT_DATE_FILES)
      snprintf(path, sizeof path, "%s/session_start_date=%s-%s.parquet", dir, date, names[s]);
    else
      snprintf(path, sizeof path, "%s/%s.parquet", dir, names[s]);
    RK_TRY(write_rows(path, all, keys + begin[s], count[s], o->compression));
  }
  return o->layout == RK_SESSION_LAYOUT_DATE_FILES ? RK_OK : copy_schema(o->sessions_path, dir);
}

static rk_status read_folder(const char *dir, const rk_parquet_read_options *ro, rk_batch *all) {
  rk_parquet_dataset *ds = NULL;
  RK_TRY(rk_parquet_dataset_open(&ds, dir, ro));
  rk_batch b = {0};
  rk_status st;
  while ((st = rk_parquet_dataset_next(ds, &b)) == RK_OK && b.nrows > 0) {
    if (all->ncols == 0) {
      st = rk_batch_init(all, b.ncols);
      for (int c = 0; c < b.ncols && st == RK_OK; c++)
        st = rk_column_init(&all->cols[c], b.cols[c].name, b.cols[c].type, b.cols[c].child ? b.cols[c].child->type : RK_COL_INT64);
    }
    for (int c = 0; c < b.ncols && st == RK_OK; c++) st = rk_column_append_column(&all->cols[c], &b.cols[c], 0, b.nrows);
    all->nrows += b.nrows;
    if (st != RK_OK) break;
  }
  rk_batch_free(&b);
  rk_parquet_dataset_close(ds);
  return st;
}

rk_status rk_session_split_write(const rk_session_split_options *o, int64_t *n_windows_out) {
  rk_batch all = {0};
  rk_parquet_read_options ro;
  rk_parquet_read_options_default(&ro);
  rk_status st = read_folder(o->sessions_path, &ro, &all);
  int wc = st == RK_OK ? rk_batch_find(&all, o->window_column) : -1, tc = st == RK_OK ? rk_batch_find(&all, o->time_column) : -1;
  if (st == RK_OK && (wc < 0 || tc < 0))
    st = rk_error(RK_ENOTFOUND, "'%s' lacks the column '%s' or '%s'", o->sessions_path, o->window_column, o->time_column);
  int64_t n = all.nrows, windows = 0;
  row_key *keys = st == RK_OK ? rk_malloc((size_t)(n ? n : 1) * sizeof *keys) : NULL;
  if (st == RK_OK && !keys) st = RK_ENOMEM;
  for (int64_t i = 0; st == RK_OK && i < n; i++)
    keys[i] = (row_key){rk_column_get_int(&all.cols[wc], i), rk_column_get_int(&all.cols[tc], i), i};
  if (st == RK_OK) qsort(keys, (size_t)n, sizeof *keys, by_window_then_pos);
  if (st == RK_OK && o->layout == RK_SESSION_LAYOUT_DATE_FILES) st = copy_schema(o->sessions_path, o->output_dir);
  for (int64_t b = 0; st == RK_OK && b < n;) {
    int64_t e = b + 1;
    while (e < n && keys[e].window == keys[b].window) e++;
    st = write_window(o, &all, keys + b, e - b);
    windows++;
    b = e;
  }
  rk_free(keys);
  rk_batch_free(&all);
  if (n_windows_out) *n_windows_out = windows;
  return st;
}
