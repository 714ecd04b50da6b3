/*
 * Deterministic parallelism (src/core/parallel.c): rk_parallel_sum_f32/f64 are bit-identical for
 * 1, 2, 3 and 16 threads and equal a serial loop over the same chunks; rk_parallel_for calls each
 * index exactly once, in chunks that depend only on n and the grain; rk_parallel_try reports the
 * lowest failing chunk's status and message whatever the thread count (and never a stale message
 * left on a worker thread); rk_chunk_count; thread-count settings.
 */
#include "support.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static const int thread_counts[] = {1, 2, 3, 16};

static void teardown_threads(void) { rk_set_num_threads(0); }

/* The definition: per-chunk double sums, combined in chunk order. */
static double reference_sum(const void *x, bool is_f32, int64_t n, int64_t grain) {
  double total = 0;
  for (int64_t begin = 0; begin < n; begin += grain) {
    int64_t end = begin + grain < n ? begin + grain : n;
    double s = 0;
    for (int64_t i = begin; i < end; i++) s += is_f32 ? ((const float *)x)[i] : ((const double *)x)[i];
    total += s;
  }
  return total;
}

static void test_parallel_sum_bit_identical_across_threads(void **state) {
  (void)state;
  const int64_t n = 1000003;
  float *xf = malloc((size_t)n * sizeof *xf);
  double *xd = malloc((size_t)n * sizeof *xd);
  rk_rng r;
  rk_rng_init(&r, 123, 0);
  for (int64_t i = 0; i < n; i++) {
    /* Mixed signs and magnitudes: the order of additions changes the rounding. */
    double v = (rk_rng_uniform(&r) - 0.5) * (i % 17 == 0 ? 1e6 : 1.0);
    xd[i] = v;
    xf[i] = (float)v;
  }
  const int64_t grains[] = {0, 1000, 4096, 2 * 1000003};
  for (int g = 0; g < 4; g++) {
    int64_t grain = grains[g] ? grains[g] : 4096;   /* 0 means the default of 4096 */
    double want_f = reference_sum(xf, true, n, grain), want_d = reference_sum(xd, false, n, grain);
    for (int t = 0; t < 4; t++) {
      rk_set_num_threads(thread_counts[t]);
      assert_int_equal(rk_num_threads(), thread_counts[t]);
      double got_f = rk_parallel_sum_f32(xf, n, grains[g]);
      double got_d = rk_parallel_sum_f64(xd, n, grains[g]);
      if (memcmp(&got_f, &want_f, sizeof got_f) != 0 || memcmp(&got_d, &want_d, sizeof got_d) != 0)
        fail_msg("grain %lld, %d threads: f32 %a vs %a, f64 %a vs %a", (long long)grains[g], thread_counts[t], got_f,
                 want_f, got_d, want_d);
    }
  }
  /* A different grain is a different (documented) association: allowed to differ, but close. */
  double a = rk_parallel_sum_f64(xd, n, 1000), b = rk_parallel_sum_f64(xd, n, 4096);
  assert_true(a - b < 1e-6 && b - a < 1e-6);
  assert_true(rk_parallel_sum_f64(xd, 0, 0) == 0.0);
  assert_true(rk_parallel_sum_f32(xf, 1, 0) == (double)xf[0]);
  teardown_threads();
  free(xf);
  free(xd);
}

typedef struct {
  _Atomic int *hits;
  int64_t grain, n;
  _Atomic int bad_chunks;
  _Atomic int calls;
} cover_ctx;

static void cover_chunk(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  cover_ctx *c = arg;
  atomic_fetch_add(&c->calls, 1);
  int64_t want_end = (chunk + 1) * c->grain < c->n ? (chunk + 1) * c->grain : c->n;
  if (begin != chunk * c->grain || end != want_end || begin >= end) atomic_fetch_add(&c->bad_chunks, 1);
  for (int64_t i = begin; i < end; i++) atomic_fetch_add(&c->hits[i], 1);
}

static void test_parallel_for_covers_each_index_once(void **state) {
  (void)state;
  const int64_t n = 100003;
  _Atomic int *hits = malloc((size_t)n * sizeof *hits);
  const int64_t grains[] = {1, 97, 4096, 200000, 0, -3};
  for (int t = 0; t < 4; t++) {
    rk_set_num_threads(thread_counts[t]);
    for (int g = 0; g < 6; g++) {
      for (int64_t i = 0; i < n; i++) atomic_init(&hits[i], 0);
      int64_t grain = grains[g] > 0 ? grains[g] : 1;   /* grain <= 0 is 1 */
      cover_ctx c = {.hits = hits, .grain = grain, .n = n};
      atomic_init(&c.bad_chunks, 0);
      atomic_init(&c.calls, 0);
      rk_parallel_for(n, grains[g], cover_chunk, &c);
      assert_int_equal(atomic_load(&c.bad_chunks), 0);
      assert_int_equal(atomic_load(&c.calls), rk_chunk_count(n, grains[g]));
      for (int64_t i = 0; i < n; i++)
        if (atomic_load(&hits[i]) != 1)
          fail_msg("index %lld seen %d times (grain %lld, %d threads)", (long long)i, atomic_load(&hits[i]),
                   (long long)grains[g], thread_counts[t]);
    }
  }
  /* n = 0 calls nothing. */
  cover_ctx c = {.hits = hits, .grain = 1, .n = 0};
  atomic_init(&c.calls, 0);
  atomic_init(&c.bad_chunks, 0);
  rk_parallel_for(0, 10, cover_chunk, &c);
  rk_parallel_for(-5, 10, cover_chunk, &c);
  assert_int_equal(atomic_load(&c.calls), 0);
  teardown_threads();
  free(hits);
}

/* A parallel_for inside a chunk runs on that thread and still covers its range once. */
typedef struct {
  _Atomic int *hits;
} nested_ctx;

static void inner_chunk(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  int64_t *base = arg;
  for (int64_t i = begin; i < end; i++) base[i]++;
}

static void outer_chunk(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)begin;
  (void)end;
  int64_t *rows = arg;
  rk_parallel_for(100, 7, inner_chunk, rows + chunk * 100);
}

static void test_parallel_for_nested(void **state) {
  (void)state;
  rk_set_num_threads(4);
  int64_t *rows = calloc(8 * 100, sizeof *rows);
  rk_parallel_for(8, 1, outer_chunk, rows);
  for (int i = 0; i < 800; i++) assert_int_equal(rows[i], 1);
  free(rows);
  teardown_threads();
}

static rk_status failing_chunk(void *ctx, int64_t chunk, int64_t begin, int64_t end) {
  (void)ctx;
  (void)begin;
  (void)end;
  if (chunk == 5) return rk_error(RK_EPARSE, "chunk %lld failed", (long long)chunk);
  if (chunk == 9) return rk_error(RK_EIO, "chunk %lld failed", (long long)chunk);
  if (chunk == 30) return rk_error(RK_ERANGE, "chunk %lld failed", (long long)chunk);
  if (chunk > 30 && chunk % 2) return rk_error(RK_EFORMAT, "chunk %lld failed", (long long)chunk);
  return RK_OK;
}

static rk_status ok_chunk(void *ctx, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  _Atomic int64_t *sum = ctx;
  atomic_fetch_add(sum, end - begin);
  return RK_OK;
}

/* Fails without setting a message of its own: the report must be the status's text. */
static rk_status silent_failing_chunk(void *ctx, int64_t chunk, int64_t begin, int64_t end) {
  (void)ctx;
  (void)begin;
  (void)end;
  return chunk >= 3 ? RK_EFORMAT : RK_OK;
}

static void test_parallel_try_lowest_failing_chunk(void **state) {
  (void)state;
  for (int t = 0; t < 4; t++) {
    rk_set_num_threads(thread_counts[t]);
    for (int rep = 0; rep < 5; rep++) {
      rk_error_clear();
      rk_status s = rk_parallel_try(64 * 10, 10, failing_chunk, NULL);
      if (s != RK_EPARSE || strcmp(rk_error_message(), "chunk 5 failed") != 0)
        fail_msg("%d threads: %s '%s'", thread_counts[t], rk_status_name(s), rk_error_message());
      assert_int_equal(rk_error_status(), RK_EPARSE);
    }
    _Atomic int64_t sum;
    atomic_init(&sum, 0);
    assert_rk_ok(rk_parallel_try(1000, 7, ok_chunk, &sum));
    assert_int_equal(atomic_load(&sum), 1000);
    assert_rk_ok(rk_parallel_try(0, 7, ok_chunk, &sum));
    /* After failures with messages on every thread, a silent failure must not report them. */
    rk_status s = rk_parallel_try(64, 1, silent_failing_chunk, NULL);
    assert_int_equal(s, RK_EFORMAT);
    if (strcmp(rk_error_message(), rk_strerror(RK_EFORMAT)) != 0)
      fail_msg("%d threads: stale message '%s'", thread_counts[t], rk_error_message());
  }
  teardown_threads();
}

static void test_parallel_chunk_count(void **state) {
  (void)state;
  assert_int_equal(rk_chunk_count(0, 10), 0);
  assert_int_equal(rk_chunk_count(-5, 10), 0);
  assert_int_equal(rk_chunk_count(1, 10), 1);
  assert_int_equal(rk_chunk_count(9, 3), 3);
  assert_int_equal(rk_chunk_count(10, 3), 4);
  assert_int_equal(rk_chunk_count(10, 0), 10);
  assert_int_equal(rk_chunk_count(10, -1), 10);
  assert_int_equal(rk_chunk_count(INT64_MAX, INT64_MAX), 1);
}

static void test_parallel_thread_settings(void **state) {
  (void)state;
  rk_set_num_threads(3);
  assert_int_equal(rk_num_threads(), 3);
  rk_set_num_threads(0);
  assert_true(rk_num_threads() >= 1);
  rk_set_num_threads(-2);
  assert_true(rk_num_threads() >= 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parallel_sum_bit_identical_across_threads),
      cmocka_unit_test(test_parallel_for_covers_each_index_once),
      cmocka_unit_test(test_parallel_for_nested),
      cmocka_unit_test(test_parallel_try_lowest_failing_chunk),
      cmocka_unit_test(test_parallel_chunk_count),
      cmocka_unit_test(test_parallel_thread_settings),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
