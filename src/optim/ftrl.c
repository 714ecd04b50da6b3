/*
 * FTRL-Proximal, exactly TensorFlow's ApplyFtrlV2 / SparseApplyFtrlV2
 * (tf.compat.v1.train.FtrlOptimizer, Keras Ftrl; McMahan et al., "Ad click prediction: a view
 * from the trenches", KDD 2013, algorithm 1):
 *   g_s = g + 2 * l2_shrinkage * w
 *   accum_new = accum + g^2                       (the plain gradient: shrinkage does not change
 *                                                  the learning-rate schedule, TF's test says so)
 *   linear += g_s - (accum_new^(-p) - accum^(-p)) / lr * w
 *   quadratic = (beta + accum_new^(-p)) / lr + 2 * l2
 *   w = |linear| > l1 ? (sign(linear) * l1 - linear) / quadratic : 0
 *   accum = accum_new
 * p = learning_rate_power (-0.5), accum starts at initial_accumulator_value (0.1), linear at 0,
 * beta is Keras' (0 in TF1). l1, l2, l2_shrinkage: the *_regularization_strength of the group.
 * Checked against TF's ftrl_test.py vectors in tests/unit/test_optim_tf_vectors.c.
 * Sparse tables are lazy, as in TF: a row without a gradient keeps its value; a dense zero
 * gradient would instead recompute it from `linear` (0 for a row never seen, whatever its
 * initial value).
 */
#include <math.h>

#include "optim/optim_internal.h"

void rk_optim_ftrl_span(float *w, float *accum, float *linear, const float *g, int64_t n, const rk_optim_hyper *h) {
  const float lr = h->lr, l1 = h->l1, l2 = h->l2, shrink = h->l2_shrinkage, p = h->lr_power, beta = h->ftrl_beta;
  const bool sqrt_power = p == -0.5f;   /* TF's fast path; the general pow gives the same to rounding */
  for (int64_t i = 0; i < n; i++) {
    float gi = g ? g[i] : 0.0f;
    float gs = gi + 2.0f * shrink * w[i];
    float a = accum[i], na = a + gi * gi;
    float na_p = sqrt_power ? sqrtf(na) : powf(na, -p);
    float a_p = sqrt_power ? sqrtf(a) : powf(a, -p);
    float lin = linear[i] + gs - (na_p - a_p) / lr * w[i];
    float quadratic = (beta + na_p) / lr + 2.0f * l2;
    linear[i] = lin;
    accum[i] = na;
    w[i] = fabsf(lin) > l1 ? (copysignf(l1, lin) - lin) / quadratic : 0.0f;
  }
}
