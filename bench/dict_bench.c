/*
 * Dictionary micro benchmark (src/etl/dict.c): the categorify hot loop of preprocessing.
 *
 *   dict_bench [--rows N] [--distinct D] [--threads T] [--repeat K]
 *
 * Draws N Zipf-like ids (exponent ~1, like user ids in interaction logs: a few heavy users, a
 * long tail) over a vocabulary sized so that about D distinct values occur, scrambled over the
 * int64 range. Inserts them in batches of 1M rows (as the pipeline feeds them) into a fresh
 * dictionary, then looks every row up on one thread and on T threads. The same ids as strings
 * ("u<id>") and a small int16 column (the direct map) follow. Prints M rows/s, best of K.
 * It is not a test and has no peer: it prints figures and exits 0 unless something fails.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reckon/etl.h"

enum { BATCH = 1 << 20, ZIPF_TABLE = 1 << 16 };

static void die(const char *what) {
  fprintf(stderr, "dict_bench: %s: %s\n", what, rk_error_message());
  exit(1);
}

/* Zipf(1) over [1, v] by inverting its CDF, H(k) ~ ln k + 0.5772: k = exp(u * H(v) - 0.5772). */
static int64_t zipf(rk_rng *rng, double vocab) {
  double h = log(vocab) + 0.5772156649;
  double k = floor(exp(rk_rng_uniform(rng) * h - 0.5772156649));
  return k < 1 ? 1 : k > vocab ? (int64_t)vocab : (int64_t)k;
}

/* The vocabulary that yields ~`distinct` values in `rows` draws (found by bisection on a
 * sample's expected count; close enough for a benchmark). */
static double vocab_for(int64_t rows, int64_t distinct) {
  double lo = (double)distinct, hi = (double)distinct * 1000;
  for (int it = 0; it < 40; it++) {
    double v = sqrt(lo * hi), h = log(v) + 0.5772156649, expect = 0;
    /* expected distinct = sum_k 1 - (1 - p_k)^rows, p_k ~ 1 / (k H), summed in geometric strata */
    for (double k = 1; k <= v; k = k * 1.01 + 1) {
      double width = fmin(k * 0.01 + 1, v - k + 1), p = 1 / (k * h);
      expect += width * -expm1((double)rows * log1p(-p));
    }
    if (expect < (double)distinct) lo = v;
    else hi = v;
  }
  return sqrt(lo * hi);
}

static void make_ids(rk_column *col, int64_t rows, int64_t distinct, uint64_t seed) {
  if (rk_column_init(col, "user_id", RK_COL_INT64, RK_COL_INT8) != RK_OK || rk_column_reserve(col, rows, 0) != RK_OK)
    die("ids");
  double vocab = vocab_for(rows, distinct);
  int64_t *v = col->values;
  rk_rng rng;
  rk_rng_init(&rng, seed, 0);
  for (int64_t i = 0; i < rows; i++) v[i] = (int64_t)((uint64_t)zipf(&rng, vocab) * 0x9e3779b97f4a7c15ull >> 1);
  col->length = rows;
}

typedef struct {
  const rk_dict *dict;
  const rk_column *col;
  int32_t *idx;
} lookup_ctx;

static void lookup_chunk(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  lookup_ctx *c = arg;
  rk_dict_lookup(c->dict, c->col, begin, end, c->idx + begin);
}

/* Best-of-K seconds for a fresh dictionary filled batch by batch; the last one is kept. */
static double time_insert(rk_dict **dict, const rk_column *col, rk_coltype type, int32_t *idx, int repeat) {
  double best = INFINITY;
  for (int r = 0; r < repeat; r++) {
    rk_dict_free(*dict);
    if (rk_dict_create(dict, type) != RK_OK) die("create");
    double t0 = rk_now();
    for (int64_t at = 0; at < col->length; at += BATCH) {
      int64_t end = at + BATCH < col->length ? at + BATCH : col->length;
      if (rk_dict_insert(*dict, col, at, end, idx + at) != RK_OK) die("insert");
    }
    best = fmin(best, rk_now() - t0);
  }
  return best;
}

static double time_lookup(const rk_dict *dict, const rk_column *col, int32_t *idx, int threads, int repeat) {
  rk_set_num_threads(threads);
  lookup_ctx c = {dict, col, idx};
  double best = INFINITY;
  for (int r = 0; r < repeat; r++) {
    double t0 = rk_now();
    rk_parallel_for(col->length, 65536, lookup_chunk, &c);
    best = fmin(best, rk_now() - t0);
  }
  rk_set_num_threads(0);
  return best;
}

static void report(const char *what, const rk_dict *d, const rk_column *col, int32_t *idx, double insert_s, int threads,
                   int repeat) {
  double mrows = (double)col->length / 1e6;
  double one = time_lookup(d, col, idx, 1, repeat), many = time_lookup(d, col, idx, threads, repeat);
  printf("%-14s rows=%lld distinct=%lld mem_mb=%.1f insert_mrows_s=%.1f lookup_mrows_s=%.1f lookup_%dt_mrows_s=%.1f\n", what,
         (long long)col->length, (long long)rk_dict_size(d), (double)rk_dict_memory(d) / 1e6, mrows / insert_s, mrows / one,
         threads, mrows / many);
}

int main(int argc, char **argv) {
  int64_t rows = 10000000, distinct = 500000;
  int threads = rk_num_threads(), repeat = 3;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--rows") == 0 && i + 1 < argc) rows = atoll(argv[++i]);
    else if (strcmp(argv[i], "--distinct") == 0 && i + 1 < argc) distinct = atoll(argv[++i]);
    else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) threads = atoi(argv[++i]);
    else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc) repeat = atoi(argv[++i]);
    else {
      fprintf(stderr, "usage: dict_bench [--rows N] [--distinct D] [--threads T] [--repeat K]\n");
      return 2;
    }
  }
  rk_column ids, strs, small;
  int32_t *idx = malloc((size_t)rows * sizeof *idx);
  if (!idx) die("idx");
  make_ids(&ids, rows, distinct, 1);
  rk_dict *d = NULL;
  double s = time_insert(&d, &ids, RK_COL_INT64, idx, repeat);
  report("int64_zipf", d, &ids, idx, s, threads, repeat);

  /* The same ids as strings. */
  if (rk_column_init(&strs, "user_id", RK_COL_STRING, RK_COL_INT8) != RK_OK) die("strings");
  char buf[32];
  for (int64_t i = 0; i < rows; i++) {
    int n = snprintf(buf, sizeof buf, "u%lld", (long long)((const int64_t *)ids.values)[i]);
    if (rk_column_append_string(&strs, buf, (size_t)n) != RK_OK) die("strings");
  }
  s = time_insert(&d, &strs, RK_COL_STRING, idx, repeat);
  report("string_zipf", d, &strs, idx, s, threads, repeat);

  /* A small column (age, gender): the direct map. */
  if (rk_column_init(&small, "age", RK_COL_INT16, RK_COL_INT8) != RK_OK || rk_column_reserve(&small, rows, 0) != RK_OK)
    die("small");
  for (int64_t i = 0; i < rows; i++) ((int16_t *)small.values)[i] = (int16_t)(((const int64_t *)ids.values)[i] % 97);
  small.length = rows;
  s = time_insert(&d, &small, RK_COL_INT16, idx, repeat);
  report("int16_small", d, &small, idx, s, threads, repeat);

  rk_dict_free(d);
  rk_column_free(&ids);
  rk_column_free(&strs);
  rk_column_free(&small);
  free(idx);
  return 0;
}
