/*
 * gelu's kernels (src/nn/ops/gelu.c), which call no libm, against libm in double over a dense
 * sweep of [-12, 12], where activations live: the erf form's outputs are the floats libm's erf
 * formula rounds to (at most one in 10^4 may differ, by an ulp, for another libm; none here),
 * and both forms' outputs and derivatives are within 1e-6 of the exact values (the tanh form's
 * derivative within 1.5e-6: 1 + tanh u cancels in its lower tail); the erf form's lower tail to
 * relative 1e-5 down to x = -6; the output the same whether or not the derivative is asked
 * for (inference and training forwards agree); and the special values (signed zeros,
 * infinities, NaN, 1e30). The op against PyTorch is test_nn_reference.c's and the session
 * models' fixtures'.
 */
#include "support.h"

#include <math.h>
#include <string.h>

#include "nn/ops/ops.h"

enum { N = 240001 };   /* [-12, 12] in steps of 1e-4 */

/* The exact values (erfc keeps the lower tail that 1 + erf loses). */
static double exact_out(double v, bool tanh_form) {
  if (tanh_form) return 0.5 * v * (1.0 + tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)));
  return v * 0.5 * erfc(-v * M_SQRT1_2);
}

static double exact_deriv(double v, bool tanh_form) {
  if (tanh_form) {
    double t = tanh(0.7978845608028654 * (v + 0.044715 * v * v * v));
    return 0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * 0.7978845608028654 * (1.0 + 3.0 * 0.044715 * v * v);
  }
  return 0.5 * erfc(-v * M_SQRT1_2) + v * exp(-0.5 * v * v) * 0.3989422804014327;
}

static void sweep(bool tanh_form) {
  static float x[N], out[N], deriv[N], out_only[N];
  for (int64_t i = 0; i < N; i++) x[i] = (float)(-12.0 + 1e-4 * (double)i);
  gelu_forward_cpu(out, deriv, x, N, tanh_form);
  gelu_forward_cpu(out_only, NULL, x, N, tanh_form);
  assert_memory_equal(out, out_only, sizeof out);
  double worst_out = 0.0, worst_deriv = 0.0, deriv_bound = tanh_form ? 1.5e-6 : 1e-6;
  int64_t not_libm = 0;
  for (int64_t i = 0; i < N; i++) {
    double v = x[i], eo = fabs(out[i] - exact_out(v, tanh_form)), ed = fabs(deriv[i] - exact_deriv(v, tanh_form));
    worst_out = eo > worst_out ? eo : worst_out;
    worst_deriv = ed > worst_deriv ? ed : worst_deriv;
    if (eo > 1e-6 || ed > deriv_bound)
      fail_msg("gelu (%s form) at x = %.9g: output %.9g (exact %.9g), derivative %.9g (exact %.9g)",
               tanh_form ? "tanh" : "erf", v, out[i], exact_out(v, tanh_form), deriv[i], exact_deriv(v, tanh_form));
    if (!tanh_form) not_libm += out[i] != (float)(v * (0.5 * (1.0 + erf(v * M_SQRT1_2))));
  }
  print_message("gelu %s form over [-12, 12]: max |error| %.3g (output), %.3g (derivative)\n", tanh_form ? "tanh" : "erf",
                worst_out, worst_deriv);
  if (not_libm > N / 10000) fail_msg("%lld of %d erf-form outputs differ from libm's formula", (long long)not_libm, N);
}

static void test_erf_form_against_libm(void **state) {
  (void)state;
  sweep(false);
}

static void test_tanh_form_against_libm(void **state) {
  (void)state;
  sweep(true);
}

/* gelu(x) / x = Phi(x), relative where it is small. */
static void test_erf_form_lower_tail(void **state) {
  (void)state;
  for (float v = -6.0f; v <= -1.0f; v += 0.125f) {
    float out;
    gelu_forward_cpu(&out, NULL, &v, 1, false);
    double want = 0.5 * erfc(-(double)v * M_SQRT1_2);
    if (fabs(out / v - want) > 1e-5 * want) fail_msg("Phi(%g) = %.9g, exact %.9g", (double)v, (double)(out / v), want);
  }
}

static void test_special_values(void **state) {
  (void)state;
  const float x[8] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 1e30f, -1e30f, 40.0f};
  for (int tanh_form = 0; tanh_form < 2; tanh_form++) {
    float out[8], deriv[8];
    gelu_forward_cpu(out, deriv, x, 8, tanh_form);
    assert_true(out[0] == 0.0f && out[1] == 0.0f);
    assert_true(fabsf(deriv[0] - 0.5f) < 1e-6f && fabsf(deriv[1] - 0.5f) < 1e-6f);
    assert_true(out[2] == INFINITY);
    assert_true(isnan(out[3]));   /* -inf times a cdf of 0, as the formulas give */
    assert_true(isnan(out[4]) && isnan(deriv[4]));
    assert_true(out[5] == 1e30f && out[6] == 0.0f && out[7] == 40.0f);
    if (!tanh_form)   /* the tanh form's cubic overflows there, as PyTorch's does */
      assert_true(deriv[5] == 1.0f && deriv[6] == 0.0f && deriv[7] == 1.0f);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_erf_form_against_libm),
      cmocka_unit_test(test_tanh_form_against_libm),
      cmocka_unit_test(test_erf_form_lower_tail),
      cmocka_unit_test(test_special_values),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
