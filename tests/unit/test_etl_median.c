/*
 * The exact streaming median (src/etl/median.c) against sorting, as pandas defines it: odd and
 * even counts, NaN skipped, nothing left -> NaN, duplicates (one repeated value; 3M values in
 * one histogram bucket that need the deepest passes), mixed signs, huge, tiny and infinite
 * values, random inputs of several distributions fed in a different order every pass, the
 * pass bound, pass mismatches, use after the end, and every allocation failure.
 */
#include "support.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "reckon/etl.h"

/* pandas: sort the non-NaN values; the middle one, or the mean (a + b) / 2 of the two. */
static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double sorted_median(const double *x, int64_t n) {
  double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
  int64_t m = 0;
  for (int64_t i = 0; i < n; i++)
    if (!isnan(x[i])) v[m++] = x[i];
  qsort(v, (size_t)m, sizeof *v, by_value);
  double r = m == 0 ? NAN : m % 2 ? v[m / 2] : (v[m / 2 - 1] + v[m / 2]) / 2;
  free(v);
  return r;
}

/* Feed pass p in its own order: forward, backward, then strided, in batches of uneven sizes. */
static rk_status feed(rk_median *m, const double *x, int64_t n, int pass) {
  double buf[1000];
  int64_t nb = 0, cap = 1 + (pass * 397) % 1000;
  for (int64_t k = 0; k < n; k++) {
    int64_t i = pass % 3 == 0 ? k : pass % 3 == 1 ? n - 1 - k : (k * 7919) % n;
    buf[nb++] = x[i];
    if (nb == cap || k == n - 1) {
      RK_TRY(rk_median_add(m, buf, nb));
      nb = 0;
    }
  }
  return RK_OK;
}

/* The median of x through the API; *passes gets the number of passes it took. */
static double stream_median(const double *x, int64_t n, int *passes) {
  if (n % 7919 == 0) fail_msg("the strided order needs n coprime with 7919");
  rk_median *m;
  assert_rk_ok(rk_median_create(&m));
  bool done = false;
  int p = 0;
  while (!done) {
    if (p == 5) fail_msg("more than five passes");
    assert_rk_ok(feed(m, x, n, p));
    assert_rk_ok(rk_median_end_pass(m, &done));
    p++;
  }
  int64_t count = 0;
  for (int64_t i = 0; i < n; i++) count += !isnan(x[i]);
  assert_int_equal(rk_median_count(m), count);
  double r = rk_median_value(m);
  rk_median_free(m);
  if (passes) *passes = p;
  return r;
}

/* Equal as numbers (a median of zeros may be -0.0 in pandas, 0.0 here), or both NaN. */
static void assert_same(double got, double want) {
  if (!(got == want || (isnan(got) && isnan(want)))) fail_msg("median %.17g, want %.17g", got, want);
}

static void check(const double *x, int64_t n) {
  int passes;
  assert_same(stream_median(x, n, &passes), sorted_median(x, n));
  assert_true(passes <= 5);
}

/* ---- small cases ---- */

static void test_small(void **state) {
  (void)state;
  check((const double[]){3.0}, 1);
  check((const double[]){3.0, 1.0}, 2);
  check((const double[]){5, 1, 4, 2, 3}, 5);
  check((const double[]){5, 1, 4, 2, 3, 6}, 6);
  check((const double[]){-1.5, 2.5, -3.0, 0.0, -0.0, 7}, 6);
  check((const double[]){2, 2, 2, 1, 3, 2, 2}, 7);
  check((const double[]){NAN, 1, NAN, 3}, 4);
  check((const double[]){-INFINITY, INFINITY}, 2);   /* (-inf + inf) / 2: NaN, as pandas */
  check((const double[]){-INFINITY, 1, INFINITY}, 3);
  check((const double[]){INFINITY, INFINITY, 1}, 3);
  check((const double[]){1e308, 1.7e308}, 2);        /* the sum overflows: inf, as pandas */
  check((const double[]){4.9e-324, 1e-310, -4.9e-324, 2.2e-308}, 4);
  check((const double[]){-1e300, -2e-300, 3e-300, 1e300, 5}, 5);
  check((const double[]){1.0, 1.0 + 0x1p-52, 1.0 + 0x1p-51, 1.0 - 0x1p-53}, 4);
}

static void test_empty_and_all_nan(void **state) {
  (void)state;
  rk_median *m;
  assert_rk_ok(rk_median_create(&m));
  bool done = false;
  assert_rk_ok(rk_median_end_pass(m, &done));
  assert_true(done);
  assert_true(isnan(rk_median_value(m)));
  assert_int_equal(rk_median_count(m), 0);
  rk_median_free(m);
  int passes;
  assert_true(isnan(stream_median((const double[]){NAN, NAN, -NAN}, 3, &passes)));
  assert_int_equal(passes, 1);
}

/* ---- duplicates and the deep passes ---- */

static void test_one_repeated_value(void **state) {
  (void)state;
  const int64_t n = 3000001;
  double *x = malloc((size_t)n * sizeof *x);
  for (int64_t i = 0; i < n; i++) x[i] = -42.125;
  int passes;
  assert_same(stream_median(x, n, &passes), -42.125);
  assert_int_equal(passes, 1);   /* the smallest and largest key agree after pass 1 */
  free(x);
}

/* 3M values in one top-16-bit bucket: two neighbouring doubles share every bit but the last,
 * so only the fourth pass separates them. */
static void test_deepest_passes(void **state) {
  (void)state;
  const int64_t n = 3000001;
  double *x = malloc((size_t)n * sizeof *x);
  const double a = 1234.5678, b = nextafter(a, INFINITY);
  for (int64_t i = 0; i < n; i++) x[i] = i % 5 == 0 ? a : i == 7 ? a * 0.999999 : b;
  int passes;
  assert_same(stream_median(x, n, &passes), b);
  assert_int_equal(passes, 4);
  /* The middle rank at the boundary between the two: even count, a and b in the middle. */
  for (int64_t i = 0; i < n - 1; i++) x[i] = i < (n - 1) / 2 ? a : b;
  x[0] = 0.5;
  x[n - 2] = 2e9;
  assert_same(stream_median(x, n - 1, &passes), (a + b) / 2);
  assert_true(passes <= 5);
  /* A narrow uniform band: the bucket narrows over passes 2 and 3, then is collected. */
  rk_rng rng;
  rk_rng_init(&rng, 3, 0);
  for (int64_t i = 0; i < n; i++) x[i] = 1.0 + rk_rng_uniform(&rng) * 0x1p-30;
  assert_same(stream_median(x, n, &passes), sorted_median(x, n));
  assert_int_equal(passes, 4);
  /* An even count whose middle ranks split into two large buckets: each is the edge of its
   * bucket, found by the second pass's smallest and largest keys without collecting. */
  for (int64_t i = 0; i < n - 1; i++)
    x[i] = i % 2 ? 1.0 + rk_rng_uniform(&rng) * 0x1p-30 : 2.0 + rk_rng_uniform(&rng) * 0x1p-29;
  assert_same(stream_median(x, n - 1, &passes), sorted_median(x, n - 1));
  assert_int_equal(passes, 2);
  free(x);
}

/* ---- random inputs against sorting ---- */

static double draw(rk_rng *rng, int dist) {
  switch (dist) {
    case 0: return rk_rng_uniform(rng);
    case 1: return rk_rng_normal(rng) * 1e3;
    case 2: return exp(rk_rng_normal(rng) * 40);                 /* magnitudes 1e-50 .. 1e50 */
    case 3: return (double)rk_rng_below(rng, 50) - 25;          /* many duplicates, zeros */
    case 4: {                                                    /* mixed: signs, NaN, inf, subnormal */
      double u = rk_rng_uniform(rng);
      if (u < 0.05) return NAN;
      if (u < 0.07) return u < 0.06 ? INFINITY : -INFINITY;
      if (u < 0.1) return (u - 0.085) * 1e-310;
      return rk_rng_normal(rng) * (u < 0.5 ? 1e-5 : 1e5);
    }
    default: return (double)(int64_t)(rk_rng_u64(rng) >> 11) * (rk_rng_bernoulli(rng, 0.5) ? 1 : -1);
  }
}

static void test_random_against_sorting(void **state) {
  (void)state;
  const int64_t sizes[] = {200000, 200001, 1, 2, 99, 100};
  double *x = malloc((size_t)200001 * sizeof *x);
  for (int dist = 0; dist < 6; dist++) {
    for (uint64_t seed = 1; seed <= 3; seed++) {
      for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        rk_rng rng;
        rk_rng_init(&rng, seed, (uint64_t)dist);
        for (int64_t i = 0; i < sizes[s]; i++) x[i] = draw(&rng, dist);
        check(x, sizes[s]);
      }
    }
  }
  free(x);
}

/* ---- errors ---- */

static void test_pass_mismatch(void **state) {
  (void)state;
  double x[10] = {9, 3, 7, 1, 5, 8, 2, 6, 4, 0};
  rk_median *m;
  bool done;
  assert_rk_ok(rk_median_create(&m));
  assert_rk_ok(rk_median_add(m, x, 10));
  assert_rk_ok(rk_median_end_pass(m, &done));
  assert_false(done);   /* ranks 4 and 5 of 10 distinct values need their bucket */
  assert_rk_ok(rk_median_add(m, x, 9));
  assert_int_equal(rk_median_end_pass(m, &done), RK_EINVAL);
  assert_string_equal(rk_error_message(), "median: pass 2 saw 9 values, the first saw 10");
  assert_int_equal(rk_median_add(m, x, 1), RK_EINVAL);
  rk_median_free(m);

  /* The same count, other values: 4.0625 lands in the range that held only 4. */
  assert_rk_ok(rk_median_create(&m));
  assert_rk_ok(rk_median_add(m, x, 10));
  assert_rk_ok(rk_median_end_pass(m, &done));
  x[0] = 4.0625;
  assert_rk_ok(rk_median_add(m, x, 10));
  assert_int_equal(rk_median_end_pass(m, &done), RK_EINVAL);
  assert_string_equal(rk_error_message(), "median: pass 2 saw other values than the first (the same count, 10)");
  rk_median_free(m);

  /* Adding once the median is known. */
  assert_rk_ok(rk_median_create(&m));
  assert_rk_ok(rk_median_add(m, x, 1));
  assert_rk_ok(rk_median_end_pass(m, &done));
  assert_true(done);
  assert_int_equal(rk_median_add(m, x, 1), RK_EINVAL);
  assert_string_equal(rk_error_message(), "median: values added after the median was known");
  assert_rk_ok(rk_median_end_pass(m, &done));   /* closing again is harmless */
  assert_true(done);
  assert_same(rk_median_value(m), 4.0625);
  rk_median_free(m);
}

/* ---- allocation failures ---- */

typedef struct {
  const double *x;
  int64_t n;
} fail_ctx;

static rk_status run_median(void *arg) {
  fail_ctx *c = arg;
  rk_median *m;
  RK_TRY(rk_median_create(&m));
  bool done = false;
  rk_status st = RK_OK;
  for (int p = 0; st == RK_OK && !done; p++) {
    st = rk_median_add(m, c->x, c->n);
    if (st == RK_OK) st = rk_median_end_pass(m, &done);
  }
  if (st == RK_OK && rk_median_value(m) != sorted_median(c->x, c->n)) st = RK_EINTERNAL;
  rk_median_free(m);
  return st;
}

static void test_allocation_failures(void **state) {
  (void)state;
  const int64_t n = 1200001;   /* above the collect limit: two histogram passes, then a collect */
  double *x = malloc((size_t)n * sizeof *x);
  rk_rng rng;
  rk_rng_init(&rng, 9, 0);
  for (int64_t i = 0; i < n; i++) x[i] = 1.0 + rk_rng_uniform(&rng) * 0x1p-30;
  fail_ctx c = {x, n};
  assert_true(rk_test_walk_failures(run_median, &c) >= 3);
  /* A failed end_pass leaves the pass intact: calling it again finishes the job. */
  rk_median *m;
  assert_rk_ok(rk_median_create(&m));
  bool done = false;
  for (int p = 0; !done; p++) {
    assert_rk_ok(rk_median_add(m, x, n));
    rk_alloc_fail_after(0);
    rk_status st = rk_median_end_pass(m, &done);
    rk_alloc_fail_after(-1);
    if (st == RK_ENOMEM) assert_rk_ok(rk_median_end_pass(m, &done));
    else assert_rk_ok(st);
  }
  assert_same(rk_median_value(m), sorted_median(x, n));
  rk_median_free(m);
  free(x);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_small),
      cmocka_unit_test(test_empty_and_all_nan),
      cmocka_unit_test(test_one_repeated_value),
      cmocka_unit_test(test_deepest_passes),
      cmocka_unit_test(test_random_against_sorting),
      cmocka_unit_test(test_pass_mismatch),
      cmocka_unit_test(test_allocation_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
