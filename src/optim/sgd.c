/*
 * Stochastic gradient descent with momentum and Nesterov momentum, PyTorch's form
 * (torch.optim.SGD, dampening 0; Sutskever et al., "On the importance of initialization and
 * momentum in deep learning", ICML 2013, for Nesterov's variant):
 *   g = grad + weight_decay * w
 *   buf = momentum * buf + g                      (buf starts at 0, so the first buf is g)
 *   w -= lr * (nesterov ? g + momentum * buf : buf)
 * It is not Keras' form (velocity = momentum * velocity - lr * g), which keeps lr inside the
 * velocity: the two agree while lr is constant and differ once a schedule changes it.
 */
#include "optim/optim_internal.h"

void rk_optim_sgd_span(float *w, float *s0, float *s1, const float *g, int64_t n, const rk_optim_hyper *h) {
  (void)s1;
  const float lr = h->lr, wd = h->weight_decay, mu = h->momentum;
  for (int64_t i = 0; i < n; i++) {
    float gi = (g ? g[i] : 0.0f) + wd * w[i];
    if (s0 != NULL) {
      float buf = mu * s0[i] + gi;
      s0[i] = buf;
      gi = h->nesterov ? gi + mu * buf : buf;
    }
    w[i] -= lr * gi;
  }
}
