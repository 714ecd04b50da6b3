/*
 * Parquet benchmark driver (bench/parquet.sh runs it next to DuckDB).
 *
 *   parquet_bench read PATH [--threads N] [--repeat K]        decode every column into memory
 *   parquet_bench write PATH OUT [--threads N] [--repeat K]   load PATH, then time writing OUT
 *
 * Reading decodes every column of every row group into reckon's columns and folds each into
 * min/max (printed, so the figures can be checked against DuckDB's) with a loop per column type,
 * the columns in parallel, as DuckDB's vectorised aggregate on all its threads. Writing uses the
 * defaults a pyarrow user expects (dictionary with fallback, snappy, statistics). Best of K runs.
 * It is not a test: it prints figures and exits 0 unless something fails.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reckon/parquet.h"

static int fail(void) {
  fprintf(stderr, "parquet_bench: %s\n", rk_error_message());
  return 1;
}

/* min/max of one column's values skipping nulls, in a loop per type (as DuckDB's vectorised
 * min/max); the loop without nulls has no branch on validity. */
#define FOLD(T)                                                                  \
  do {                                                                           \
    const T *v = col->values;                                                    \
    const uint8_t *ok = col->validity;                                           \
    T lo = 0, hi = 0;                                                            \
    bool any = false;                                                            \
    if (!ok || col->null_count == 0) {                                           \
      lo = hi = v[0];                                                            \
      any = true;                                                                \
      for (int64_t i = 0; i < n; i++) {                                          \
        lo = v[i] < lo ? v[i] : lo;                                              \
        hi = v[i] > hi ? v[i] : hi;                                              \
      }                                                                          \
    } else {                                                                     \
      for (int64_t i = 0; i < n; i++) {                                          \
        if (!(ok[i >> 3] >> (i & 7) & 1)) continue;                              \
        if (!any) lo = hi = v[i], any = true;                                    \
        lo = v[i] < lo ? v[i] : lo;                                              \
        hi = v[i] > hi ? v[i] : hi;                                              \
      }                                                                          \
    }                                                                            \
    if (any) *mn = (double)lo, *mx = (double)hi;                                 \
  } while (0)

static void fold(const rk_column *col, double *mn, double *mx) {
  *mn = 1e300, *mx = -1e300;
  int64_t n = col->length;
  if (n == 0) return;
  switch (col->type) {
    case RK_COL_INT8: FOLD(int8_t); break;
    case RK_COL_INT16: FOLD(int16_t); break;
    case RK_COL_INT32: FOLD(int32_t); break;
    case RK_COL_INT64: FOLD(int64_t); break;
    case RK_COL_UINT8: FOLD(uint8_t); break;
    case RK_COL_UINT16: FOLD(uint16_t); break;
    case RK_COL_UINT32: FOLD(uint32_t); break;
    case RK_COL_UINT64: FOLD(uint64_t); break;
    case RK_COL_FLOAT32: FOLD(float); break;
    case RK_COL_FLOAT64: FOLD(double); break;
    default: break;   /* strings and lists: not in the benchmark's file */
  }
}
#undef FOLD

/* The columns fold in parallel, as DuckDB's aggregate runs on all its threads; each column's
 * result has its own slot and the sums run in column order, so the checksum never depends on
 * the thread count. */
enum { FOLD_MAX_COLS = 1024 };

typedef struct {
  const rk_batch *b;
  double *mn, *mx;
} fold_job;

static void fold_columns(void *ctx, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  fold_job *j = ctx;
  for (int64_t c = begin; c < end; c++) fold(&j->b->cols[c], &j->mn[c], &j->mx[c]);
}

static int run_read(const char *path, int repeat) {
  double best = 1e30;
  int64_t rows = 0;
  double sum_min = 0, sum_max = 0;
  for (int r = 0; r < repeat; r++) {
    double t0 = rk_now();
    rk_parquet_reader *reader;
    if (rk_parquet_open(&reader, path, NULL) != RK_OK) return fail();
    if (rk_parquet_num_columns(reader) > FOLD_MAX_COLS) {
      fprintf(stderr, "parquet_bench: '%s' has more than %d columns\n", path, FOLD_MAX_COLS);
      rk_parquet_close(reader);
      return 1;
    }
    rk_batch b = {0};
    rows = 0;
    sum_min = sum_max = 0;
    rk_status st;
    while ((st = rk_parquet_next(reader, &b)) == RK_OK && b.nrows > 0) {
      rows += b.nrows;
      double mn[FOLD_MAX_COLS], mx[FOLD_MAX_COLS];   /* touch every value, as DuckDB's min/max does */
      fold_job j = {&b, mn, mx};
      rk_parallel_for(b.ncols, 1, fold_columns, &j);
      for (int c = 0; c < b.ncols; c++) {
        sum_min += mn[c];
        sum_max += mx[c];
      }
    }
    rk_batch_free(&b);
    rk_parquet_close(reader);
    if (st != RK_OK) return fail();
    double t = rk_now() - t0;
    if (t < best) best = t;
  }
  printf("reckon read: rows=%lld threads=%d best_s=%.4f rows_per_s=%.0f (checksum min %.6g max %.6g)\n",
         (long long)rows, rk_num_threads(), best, (double)rows / best, sum_min, sum_max);
  return 0;
}

static int run_write(const char *path, const char *out, int repeat) {
  rk_batch all = {0};
  if (rk_parquet_read_all(path, NULL, &all) != RK_OK) return fail();
  double best = 1e30;
  for (int r = 0; r < repeat; r++) {
    double t0 = rk_now();
    if (rk_parquet_write(out, &all, NULL) != RK_OK) return fail();
    double t = rk_now() - t0;
    if (t < best) best = t;
  }
  printf("reckon write: rows=%lld threads=%d best_s=%.4f rows_per_s=%.0f\n", (long long)all.nrows, rk_num_threads(),
         best, (double)all.nrows / best);
  rk_batch_free(&all);
  return 0;
}

int main(int argc, char **argv) {
  int threads = 1, repeat = 3;
  const char *pos[3] = {0};
  int npos = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) threads = atoi(argv[++i]);
    else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc) repeat = atoi(argv[++i]);
    else if (npos < 3) pos[npos++] = argv[i];
  }
  rk_set_num_threads(threads);
  if (npos == 2 && strcmp(pos[0], "read") == 0) return run_read(pos[1], repeat);
  if (npos == 3 && strcmp(pos[0], "write") == 0) return run_write(pos[1], pos[2], repeat);
  fprintf(stderr, "usage: parquet_bench read PATH | write PATH OUT [--threads N] [--repeat K]\n");
  return 2;
}
