/*
 * The initialisers: Keras' fans from the shape; each distribution's bounds, mean and variance
 * on 2^17 draws; constants exactly; and determinism: the same seed gives the same bits for 1 or
 * 4 threads, element i does not depend on the tensor's size (a prefix of a bigger tensor is the
 * smaller tensor), and another seed or parameter index gives other values.
 * Statistical tolerances: n = 131072 draws; the sample mean must lie within 5 standard errors of
 * 0 and the sample variance within 3% of the intended one (its standard error is about 0.4% for
 * a normal and 0.25% for a uniform), so a correct initialiser fails with odds below 1e-6 and a
 * wrong constant (sqrt(3) vs sqrt(6), fan_in vs fan_avg, a missing 0.8796 correction) fails.
 */
#include "support.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "reckon/nn.h"

#define N_ROWS 256
#define N_COLS 512

typedef struct {
  double mean, var, max_abs;
} stats;

static stats stats_of(const float *x, int64_t n) {
  double s = 0, s2 = 0, m = 0;
  for (int64_t i = 0; i < n; i++) {
    s += x[i];
    if (fabs(x[i]) > m) m = fabs(x[i]);
  }
  double mean = s / (double)n;
  for (int64_t i = 0; i < n; i++) s2 += (x[i] - mean) * (x[i] - mean);
  return (stats){mean, s2 / (double)(n - 1), m};
}

static void alloc2(rk_tensor *t, int64_t a, int64_t b) {
  int64_t shape[2] = {a, b};
  assert_rk_ok(rk_tensor_alloc(t, RK_DT_F32, 2, shape));
}

/* Check bounds, mean and variance of one initialiser on a (256, 512) tensor. */
static void check_distribution(rk_init_spec spec, double want_var, double bound) {
  rk_tensor t;
  alloc2(&t, N_ROWS, N_COLS);
  assert_rk_ok(rk_init_tensor(&t, &spec, 1234, 7));
  int64_t n = rk_tensor_numel(&t);
  stats s = stats_of(t.data, n);
  const char *name = rk_init_kind_name(spec.kind);
  if (s.max_abs > bound) fail_msg("%s: |value| %.6g exceeds the bound %.6g", name, s.max_abs, bound);
  if (fabs(s.mean) > 5.0 * sqrt(want_var / (double)n)) fail_msg("%s: mean %.3g is too far from 0", name, s.mean);
  if (fabs(s.var / want_var - 1.0) > 0.03) fail_msg("%s: variance %.6g, expected %.6g", name, s.var, want_var);
  rk_tensor_free(&t);
}

static void test_fans_as_keras(void **state) {
  (void)state;
  int64_t fi, fo;
  rk_tensor t;
  memset(&t, 0, sizeof t);
  t.ndim = 0;
  rk_init_fans(&fi, &fo, &t);
  assert_true(fi == 1 && fo == 1);
  t.ndim = 1, t.shape[0] = 7;
  rk_init_fans(&fi, &fo, &t);
  assert_true(fi == 7 && fo == 7);
  t.ndim = 2, t.shape[0] = 30, t.shape[1] = 20;
  rk_init_fans(&fi, &fo, &t);
  assert_true(fi == 30 && fo == 20);
  t.ndim = 4, t.shape[0] = 3, t.shape[1] = 5, t.shape[2] = 16, t.shape[3] = 32;   /* Keras conv: (kh, kw, in, out) */
  rk_init_fans(&fi, &fo, &t);
  assert_true(fi == 16 * 15 && fo == 32 * 15);
}

static void test_distributions(void **state) {
  (void)state;
  const double fi = N_ROWS, fo = N_COLS;
  const double trunc_var = 0.77374;   /* variance of N(0, 1) truncated to [-2, 2] */
  const double c = 0.87962566103423978;
  rk_init_spec s = rk_init_spec_default(RK_INIT_UNIFORM);
  assert_true(s.scale == 0.05);
  check_distribution(s, 0.05 * 0.05 / 3, 0.05);
  s = rk_init_spec_default(RK_INIT_NORMAL);
  check_distribution(s, 0.05 * 0.05, 0.05 * 7);
  s = rk_init_spec_default(RK_INIT_TRUNCATED_NORMAL);
  check_distribution(s, 0.05 * 0.05 * trunc_var, 2 * 0.05);
  s = (rk_init_spec){.kind = RK_INIT_NORMAL, .scale = 3.0};
  check_distribution(s, 9.0, 3.0 * 7);
  s = rk_init_spec_default(RK_INIT_GLOROT_UNIFORM);
  check_distribution(s, 2.0 / (fi + fo), sqrt(6.0 / (fi + fo)));
  s = rk_init_spec_default(RK_INIT_GLOROT_NORMAL);
  check_distribution(s, 2.0 / (fi + fo), 2.0 * sqrt(2.0 / (fi + fo)) / c);
  s = rk_init_spec_default(RK_INIT_HE_UNIFORM);
  check_distribution(s, 2.0 / fi, sqrt(6.0 / fi));
  s = rk_init_spec_default(RK_INIT_HE_NORMAL);
  check_distribution(s, 2.0 / fi, 2.0 * sqrt(2.0 / fi) / c);
  /* explicit fans override the shape (another weight layout) */
  s = (rk_init_spec){.kind = RK_INIT_HE_UNIFORM, .fan_in = 100, .fan_out = 3};
  check_distribution(s, 2.0 / 100, sqrt(6.0 / 100));
}

static void test_constants(void **state) {
  (void)state;
  rk_tensor t;
  alloc2(&t, 3, 5);
  const rk_init_kind kinds[3] = {RK_INIT_ONES, RK_INIT_ZEROS, RK_INIT_CONSTANT};
  const float want[3] = {1.0f, 0.0f, -0.25f};
  for (int k = 0; k < 3; k++) {
    rk_init_spec s = {kinds[k], -0.25, 0, 0};
    assert_rk_ok(rk_init_tensor(&t, &s, 1, 0));
    for (int i = 0; i < 15; i++) assert_true(((float *)t.data)[i] == want[k]);
  }
  rk_tensor_free(&t);
  int64_t shape[1] = {4};
  assert_rk_ok(rk_tensor_alloc(&t, RK_DT_I32, 1, shape));
  rk_init_spec s = rk_init_spec_default(RK_INIT_UNIFORM);
  assert_int_equal(rk_init_tensor(&t, &s, 1, 0), RK_EUNSUPPORTED);
  rk_tensor_free(&t);
  rk_init_kind k;
  for (int i = 0; i < RK_INIT_COUNT; i++) {
    assert_rk_ok(rk_init_kind_parse(rk_init_kind_name((rk_init_kind)i), &k));
    assert_int_equal(k, i);
  }
  assert_int_equal(rk_init_kind_parse("xavier", &k), RK_EINVAL);
}

static void test_deterministic(void **state) {
  (void)state;
  const int64_t rows = 1000, cols = 300;   /* 300,000 values: several chunks of work */
  const rk_init_kind kinds[3] = {RK_INIT_UNIFORM, RK_INIT_TRUNCATED_NORMAL, RK_INIT_GLOROT_NORMAL};
  for (int k = 0; k < 3; k++) {
    rk_init_spec s = rk_init_spec_default(kinds[k]);
    rk_tensor a, b, small, other;
    alloc2(&a, rows, cols);
    alloc2(&b, rows, cols);
    alloc2(&small, 10, cols);
    alloc2(&other, rows, cols);
    rk_set_num_threads(1);
    assert_rk_ok(rk_init_tensor(&a, &s, 42, 3));
    rk_set_num_threads(4);
    assert_rk_ok(rk_init_tensor(&b, &s, 42, 3));
    rk_set_num_threads(0);
    assert_memory_equal(a.data, b.data, rk_tensor_nbytes(&a));
    /* element i depends on (seed, param, i) only: a smaller tensor is a prefix (uniform and
     * truncated normal take no fan from the shape) */
    if (kinds[k] != RK_INIT_GLOROT_NORMAL) {
      assert_rk_ok(rk_init_tensor(&small, &s, 42, 3));
      assert_memory_equal(small.data, a.data, rk_tensor_nbytes(&small));
    }
    assert_rk_ok(rk_init_tensor(&other, &s, 42, 4));
    assert_true(memcmp(other.data, a.data, 64) != 0);
    assert_rk_ok(rk_init_tensor(&other, &s, 43, 3));
    assert_true(memcmp(other.data, a.data, 64) != 0);
    rk_tensor_free(&a), rk_tensor_free(&b), rk_tensor_free(&small), rk_tensor_free(&other);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fans_as_keras),
      cmocka_unit_test(test_distributions),
      cmocka_unit_test(test_constants),
      cmocka_unit_test(test_deterministic),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
