/*
 * Adam and AdamW (Kingma & Ba, "Adam: a method for stochastic optimization", ICLR 2015,
 * algorithm 1; Loshchilov & Hutter, "Decoupled weight decay regularization", ICLR 2019, for W):
 *   AdamW:  w *= 1 - lr * weight_decay           (torch.optim.AdamW, Keras AdamW; with
 *                                                 decay_after_update this comes last instead,
 *                                                 as w += -lr * weight_decay * w: transformers.AdamW)
 *   Adam:   g += weight_decay * w                 (torch.optim.Adam's L2 weight_decay)
 *   m = beta1 * m + (1 - beta1) * g
 *   v = beta2 * v + (1 - beta2) * g^2
 *   RK_ADAM_EPS_HAT:       w -= lr * sqrt(1 - beta2^t) / (1 - beta1^t) * m / (sqrt(v) + eps)
 *                          (Keras, TF, torch SparseAdam: the "epsilon hat" of section 2)
 *   RK_ADAM_EPS_CORRECTED: w -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 *                          (torch Adam / AdamW)
 * with t the optimizer's step count (from 1), shared by all rows.
 *
 * On a sparse table the frame (optim.c) calls this only for rows with a gradient (lazy, like
 * torch.optim.SparseAdam and TF's LazyAdam): an untouched row keeps its value and its m and v.
 * It is not Keras' Adam on an embedding, which receives a dense gradient and so decays m and v
 * of every row each step and keeps moving rows seen earlier (sparse_as_dense gives that).
 */
#include <math.h>

#include "optim/optim_internal.h"

void rk_optim_adam_span(float *w, float *m, float *v, const float *g, int64_t n, const rk_optim_hyper *h) {
  const float b1 = h->beta1, b2 = h->beta2, eps = h->eps, step = h->adam_step, bc2_sqrt = h->adam_bc2_sqrt;
  const float wd = h->weight_decay, keep = h->adamw_keep, shrink = h->adamw_shrink;
  const bool before = h->decoupled && !h->adamw_after, after = h->decoupled && h->adamw_after;
  for (int64_t i = 0; i < n; i++) {
    float gi = g ? g[i] : 0.0f;
    if (before) w[i] *= keep;
    else if (!h->decoupled) gi += wd * w[i];
    float mi = b1 * m[i] + (1.0f - b1) * gi;
    float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    w[i] -= step * mi / (sqrtf(vi) / bc2_sqrt + eps);
    if (after) w[i] += shrink * w[i];
  }
}
