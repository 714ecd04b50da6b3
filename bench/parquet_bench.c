/*
 * Parquet benchmark driver (bench/parquet.sh runs it next to DuckDB).
 *
 *   parquet_bench read PATH [--threads N] [--repeat K]        decode every column into memory
 *   parquet_bench write PATH OUT [--threads N] [--repeat K]   load PATH, then time writing OUT
 *
 * Reading decodes every column of every row group into reckon's columns and folds each into
 * min/max (printed, so the figures can be checked against DuckDB's). Writing uses the defaults a
 * pyarrow user expects (dictionary with fallback, snappy, statistics). Best of K runs.
 * It is not a test: it prints figures and exits 0 unless something fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reckon/parquet.h"

static int fail(void) {
  fprintf(stderr, "parquet_bench: %s\n", rk_error_message());
  return 1;
}

static int run_read(const char *path, int repeat) {
  double best = 1e30;
  int64_t rows = 0;
  double sum_min = 0, sum_max = 0;
  for (int r = 0; r < repeat; r++) {
    double t0 = rk_now();
    rk_parquet_reader *reader;
    if (rk_parquet_open(&reader, path, NULL) != RK_OK) return fail();
    rk_batch b = {0};
    rows = 0;
    sum_min = sum_max = 0;
    rk_status st;
    while ((st = rk_parquet_next(reader, &b)) == RK_OK && b.nrows > 0) {
      rows += b.nrows;
      for (int c = 0; c < b.ncols; c++) {   /* touch every value, as DuckDB's min/max does */
        const rk_column *col = &b.cols[c];
        double mn = 1e300, mx = -1e300;
        for (int64_t i = 0; i < col->length; i++) {
          double v = rk_column_get_double(col, i);
          mn = v < mn ? v : mn;
          mx = v > mx ? v : mx;
        }
        sum_min += mn;
        sum_max += mx;
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
