/*
 * CSV read benchmark driver (bench/csv.sh runs it next to DuckDB and pandas).
 *
 *   csv_read --generate PATH [--rows N] [--seed S]   write a TenRec QK-video-shaped CSV
 *   csv_read PATH [--threads N] [--repeat K]          read it into typed columns, best of K
 *
 * The generated table has TenRec QK-video's columns (user_id, item_id, click, follow, like, share,
 * video_category, watching_times, gender, age) with skewed ids (user_id up to ~5M, item_id up to
 * ~3M), a few '\N' values, plus one float column (score). It is written through the table sink,
 * so it also exercises the CSV writer; it is deterministic for a seed (Philox, one stream per
 * batch). Reading materialises every column and folds each into min/max, which are printed so
 * the figures can be checked against DuckDB's.
 * It is not a test: it prints figures and exits 0 unless something fails.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "reckon/io.h"

static const char *const names[] = {"user_id",        "item_id",        "click",  "follow", "like", "share",
                                    "video_category", "watching_times", "gender", "age",    "score"};
enum { NCOLS = 11, BATCH = 65536 };

static int generate(const char *path, int64_t rows, uint64_t seed) {
  rk_sink_options so;
  rk_sink_options_default(&so);
  so.na_value = "\\N";
  rk_table_sink *sink;
  rk_batch b;
  if (rk_sink_open(&sink, path, &so) != RK_OK || rk_batch_init(&b, NCOLS) != RK_OK) goto fail;
  for (int c = 0; c < NCOLS; c++)
    if (rk_column_init(&b.cols[c], names[c], c == 10 ? RK_COL_FLOAT64 : RK_COL_INT64, RK_COL_INT64) != RK_OK) goto fail;
  for (int64_t at = 0, batch = 0; at < rows; at += BATCH, batch++) {
    rk_batch_clear(&b);
    rk_rng rng;
    rk_rng_init(&rng, seed, (uint64_t)batch);
    int64_t n = rows - at < BATCH ? rows - at : BATCH;
    rk_status s = RK_OK;
    for (int64_t i = 0; i < n && s == RK_OK; i++) {
      double u = rk_rng_uniform(&rng), v = rk_rng_uniform(&rng);
      s |= rk_column_append_int(&b.cols[0], (int64_t)(5000000.0 * u * u * u));   /* skewed: most rows, few users */
      s |= rk_column_append_int(&b.cols[1], (int64_t)(3000000.0 * v * v));
      bool click = rk_rng_bernoulli(&rng, 0.3);
      s |= rk_column_append_int(&b.cols[2], click);
      s |= rk_column_append_int(&b.cols[3], click && rk_rng_bernoulli(&rng, 0.02));
      s |= rk_column_append_int(&b.cols[4], click && rk_rng_bernoulli(&rng, 0.05));
      s |= rk_column_append_int(&b.cols[5], click && rk_rng_bernoulli(&rng, 0.01));
      if (rk_rng_bernoulli(&rng, 0.005)) s |= rk_column_append_null(&b.cols[6]);
      else s |= rk_column_append_int(&b.cols[6], (int64_t)rk_rng_below(&rng, 40));
      s |= rk_column_append_int(&b.cols[7], click ? (int64_t)(-log(1.0 - rk_rng_uniform(&rng)) * 3) : 0);
      s |= rk_column_append_int(&b.cols[8], (int64_t)rk_rng_below(&rng, 3));
      if (rk_rng_bernoulli(&rng, 0.01)) s |= rk_column_append_null(&b.cols[9]);
      else s |= rk_column_append_int(&b.cols[9], (int64_t)rk_rng_below(&rng, 8));
      s |= rk_column_append_double(&b.cols[10], round(rk_rng_uniform(&rng) * 1e4) / 1e4);
    }
    b.nrows = n;
    if (s != RK_OK || rk_sink_write(sink, &b) != RK_OK) goto fail;
  }
  rk_batch_free(&b);
  if (rk_sink_close(sink) != RK_OK) goto fail;
  return 0;
fail:
  fprintf(stderr, "csv_read: %s\n", rk_error_message());
  return 1;
}

static int read_once(const char *path, int threads, double *seconds, int64_t *rows, double *lo, double *hi) {
  const rk_coltype int64s[NCOLS] = {RK_COL_INT64, RK_COL_INT64, RK_COL_INT64, RK_COL_INT64,
                                    RK_COL_INT64, RK_COL_INT64, RK_COL_INT64, RK_COL_INT64,
                                    RK_COL_INT64, RK_COL_INT64, RK_COL_FLOAT64};
  const char *na[] = {"\\N"};
  rk_csv_options o;
  rk_csv_options_default(&o);
  o.typed_names = names;
  o.typed_types = int64s;
  o.n_typed = NCOLS;
  o.na_values = na;
  o.n_na_values = 1;
  o.threads = threads;
  double t0 = rk_now();
  rk_csv_reader *r;
  if (rk_csv_open(&r, path, &o) != RK_OK) goto fail;
  rk_batch b = {0};
  *rows = 0;
  for (int c = 0; c < NCOLS; c++) lo[c] = INFINITY, hi[c] = -INFINITY;
  for (;;) {
    if (rk_csv_next(r, &b) != RK_OK) {
      rk_batch_free(&b);
      rk_csv_close(r);
      goto fail;
    }
    if (b.nrows == 0) break;
    *rows += b.nrows;
    for (int c = 0; c < b.ncols; c++) {   /* touch every value, as the SQL min/max does */
      const rk_column *col = &b.cols[c];
      double mn = lo[c], mx = hi[c];
      for (int64_t i = 0; i < b.nrows; i++) {
        if (col->validity && !(col->validity[i >> 3] & (1u << (i & 7)))) continue;
        double x = col->type == RK_COL_FLOAT64 ? ((const double *)col->values)[i] : (double)((const int64_t *)col->values)[i];
        mn = x < mn ? x : mn;
        mx = x > mx ? x : mx;
      }
      lo[c] = mn;
      hi[c] = mx;
    }
  }
  rk_batch_free(&b);
  rk_csv_close(r);
  *seconds = rk_now() - t0;
  return 0;
fail:
  fprintf(stderr, "csv_read: %s\n", rk_error_message());
  return 1;
}

int main(int argc, char **argv) {
  const char *path = NULL, *gen = NULL;
  int64_t rows = 10000000;
  uint64_t seed = 1;
  int threads = 1, repeat = 3;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--generate") == 0 && i + 1 < argc) gen = argv[++i];
    else if (strcmp(argv[i], "--rows") == 0 && i + 1 < argc) rows = atoll(argv[++i]);
    else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) seed = (uint64_t)atoll(argv[++i]);
    else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) threads = atoi(argv[++i]);
    else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc) repeat = atoi(argv[++i]);
    else if (argv[i][0] != '-') path = argv[i];
    else {
      fprintf(stderr, "usage: csv_read --generate PATH [--rows N] [--seed S] | csv_read PATH [--threads N] [--repeat K]\n");
      return 2;
    }
  }
  if (gen) return generate(gen, rows, seed);
  if (!path) {
    fprintf(stderr, "csv_read: no input file\n");
    return 2;
  }
  rk_set_num_threads(threads);
  struct stat st;
  if (stat(path, &st) != 0) {
    fprintf(stderr, "csv_read: cannot stat '%s'\n", path);
    return 1;
  }
  double best = INFINITY, lo[NCOLS], hi[NCOLS];
  int64_t n = 0;
  for (int k = 0; k < repeat; k++) {
    double s;
    if (read_once(path, threads, &s, &n, lo, hi) != 0) return 1;
    best = s < best ? s : best;
  }
  printf("reckon threads=%d rows=%lld best_s=%.4f rows_per_s=%.0f mb_per_s=%.1f\n", threads, (long long)n, best,
         (double)n / best, (double)st.st_size / 1e6 / best);
  printf("check");
  for (int c = 0; c < NCOLS; c++) printf(" %s=[%g,%g]", names[c], lo[c], hi[c]);
  printf("\n");
  return 0;
}
