/*
 * softmax_ce over a catalogue wider than the blocks its forward reads a row in (1,024 logits):
 * the loss and the logits' gradient against the same formulas in double (PyTorch's
 * CrossEntropyLoss with label smoothing and a temperature, ignored rows left out), with each
 * row's largest logit in a different block (the first, a middle one, the short last one), so the
 * running max is rescaled, or not, every way. The written (first-writer) and added forms of the
 * gradient agree. Small cases by finite differences are test_nn_gradcheck.c's.
 */
#include "support.h"

#include <math.h>
#include <string.h>

#include "nn/ops/ops.h"

enum { R = 4, C = 2500 };

static const int64_t labels[R] = {7, 1800, 0, 2499};   /* row 2 is ignored (label 0) */
static const int64_t peak[R] = {2100, 10, 1500, 2450};  /* where each row's largest logit is */

static void fill_logits(float *z) {
  for (int r = 0; r < R; r++)
    for (int c = 0; c < C; c++) z[r * C + c] = (float)(6.0 * rk_rng_uniform_at(11, (uint64_t)r, (uint64_t)c) - 3.0);
  for (int r = 0; r < R; r++) z[r * C + peak[r]] = 9.0f;
}

static void test_wide_rows_against_double(void **state) {
  (void)state;
  const float eps = 0.1f, tau = 0.7f;
  static float z[R * C], dz_set[R * C], dz_add[R * C];
  fill_logits(z);
  double rows[2 * R];
  float loss;
  assert_rk_ok(softmax_ce_forward_cpu(&loss, rows, z, labels, R, C, 0, eps, tau));

  double want = 0.0, lse[R];
  int valid = 0;
  for (int r = 0; r < R; r++) {
    if (labels[r] == 0) continue;
    double se = 0.0, sum_logp = 0.0;
    for (int c = 0; c < C; c++) se += exp((double)z[r * C + c] / tau);
    lse[r] = log(se);
    for (int c = 0; c < C; c++) sum_logp += (double)z[r * C + c] / tau - lse[r];
    want += -(1.0 - eps) * ((double)z[r * C + labels[r]] / tau - lse[r]) - eps / C * sum_logp;
    valid++;
  }
  want /= valid;
  if (!(fabs(loss - want) <= 1e-5 * fabs(want))) fail_msg("loss %.9g, in double %.9g", loss, want);

  float one = 1.0f;
  memset(dz_add, 0, sizeof dz_add);
  for (int i = 0; i < R * C; i++) dz_set[i] = NAN;
  softmax_ce_backward_cpu(dz_set, &one, rows, z, labels, R, C, 0, eps, tau, true);
  softmax_ce_backward_cpu(dz_add, &one, rows, z, labels, R, C, 0, eps, tau, false);
  assert_memory_equal(dz_set, dz_add, sizeof dz_set);
  for (int r = 0; r < R; r++)
    for (int c = 0; c < C; c++) {
      double g = 0.0;
      if (labels[r] != 0)
        g = (exp((double)z[r * C + c] / tau - lse[r]) - eps / C - (c == labels[r] ? 1.0 - eps : 0.0)) / valid / tau;
      if (!(fabs(dz_set[r * C + c] - g) <= 1e-6 + 1e-4 * fabs(g)))
        fail_msg("d z[%d, %d]: %.9g, in double %.9g", r, c, dz_set[r * C + c], g);
    }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_wide_rows_against_double),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
