/*
 * Proximal Adagrad with L1 and L2, exactly TensorFlow's ApplyProximalAdagrad /
 * SparseApplyProximalAdagrad (tf.compat.v1.train.ProximalAdagradOptimizer; Duchi & Singer,
 * "Efficient learning using forward-backward splitting", NIPS 2009, FOBOS):
 *   accumulator += g^2                            (initial_accumulator_value 0.1)
 *   r = lr / sqrt(accumulator)
 *   prox = w - r * g
 *   w = sign(prox) * max(|prox| - r * l1, 0) / (1 + r * l2)
 * l1 = l1_regularization_strength, l2 = l2_regularization_strength (per parameter group).
 * Checked against TF's proximal_adagrad_test.py vectors in tests/unit/test_optim_tf_vectors.c.
 * It is not FTRL (ftrl.c), which keeps the linear term instead of the last iterate.
 * A zero gradient still shrinks a row when l1 or l2 is set, so lazy and sparse_as_dense differ.
 */
#include <math.h>

#include "optim/optim_internal.h"

void rk_optim_proximal_adagrad_span(float *w, float *acc, float *s1, const float *g, int64_t n,
                                    const rk_optim_hyper *h) {
  (void)s1;
  const float lr = h->lr, l1 = h->l1, l2 = h->l2;
  for (int64_t i = 0; i < n; i++) {
    float gi = g ? g[i] : 0.0f;
    float a = acc[i] + gi * gi;
    acc[i] = a;
    float r = lr / sqrtf(a);
    float prox = w[i] - r * gi;
    if (l1 > 0.0f) {
      float shrunk = fmaxf(fabsf(prox) - r * l1, 0.0f);
      w[i] = copysignf(shrunk, prox) / (1.0f + r * l2);
    } else {
      w[i] = prox / (1.0f + r * l2);
    }
  }
}
