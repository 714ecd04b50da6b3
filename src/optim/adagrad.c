/*
 * Adagrad (Duchi, Hazan & Singer, "Adaptive subgradient methods for online learning and
 * stochastic optimization", JMLR 2011, section 1; Keras Adagrad, torch.optim.Adagrad):
 *   g += weight_decay * w                         (torch's weight_decay; Keras has none)
 *   accumulator += g^2                            (starts at initial_accumulator: Keras/TF 0.1,
 *                                                  torch's initial_accumulator_value 0)
 *   w -= lr * g / (sqrt(accumulator) + eps)       (eps: Keras 1e-7, torch 1e-10, TF1 none)
 * torch's lr_decay is not here: a learning-rate schedule does that job.
 * Lazy on sparse tables (only rows with a gradient), as TF's SparseApplyAdagrad and torch's
 * sparse Adagrad are; without weight decay that equals the dense update, since a zero gradient
 * moves neither the row nor its accumulator.
 */
#include <math.h>

#include "optim/optim_internal.h"

void rk_optim_adagrad_span(float *w, float *acc, float *s1, const float *g, int64_t n, const rk_optim_hyper *h) {
  (void)s1;
  const float lr = h->lr, eps = h->eps, wd = h->weight_decay;
  for (int64_t i = 0; i < n; i++) {
    float gi = (g ? g[i] : 0.0f) + wd * w[i];
    float a = acc[i] + gi * gi;
    acc[i] = a;
    w[i] -= lr * gi / (sqrtf(a) + eps);
  }
}
