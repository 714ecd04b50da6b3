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

/* One element's update after any decay of w, the same operations in the same order for every
 * mode, so the modes' loops below give the bits a single loop would. */
static inline void adam_element(float *w, float *m, float *v, float g, float b1, float b2, float step, float eps,
                                float bc2_sqrt) {
  float mi = b1 * *m + (1.0f - b1) * g;
  float vi = b2 * *v + (1.0f - b2) * g * g;
  *m = mi;
  *v = vi;
  *w -= step * mi / (sqrtf(vi) / bc2_sqrt + eps);
}

/* A loop per mode with restrict pointers: the compiler vectorises them (one loop testing the
 * mode per element, on pointers that might alias, stayed scalar; a dense AdamW walks the whole
 * item table every step). */
void rk_optim_adam_span(float *restrict w, float *restrict m, float *restrict v, const float *restrict g, int64_t n,
                        const rk_optim_hyper *h) {
  const float b1 = h->beta1, b2 = h->beta2, eps = h->eps, step = h->adam_step, bc2_sqrt = h->adam_bc2_sqrt;
  const float wd = h->weight_decay, keep = h->adamw_keep, shrink = h->adamw_shrink;
  if (!g) {   /* a row without a gradient: m and v decay, w moves by what they hold */
    for (int64_t i = 0; i < n; i++) {
      if (h->decoupled && !h->adamw_after) w[i] *= keep;
      float gi = h->decoupled ? 0.0f : wd * w[i];
      adam_element(&w[i], &m[i], &v[i], gi, b1, b2, step, eps, bc2_sqrt);
      if (h->decoupled && h->adamw_after) w[i] += shrink * w[i];
    }
  } else if (!h->decoupled) {
    for (int64_t i = 0; i < n; i++) adam_element(&w[i], &m[i], &v[i], g[i] + wd * w[i], b1, b2, step, eps, bc2_sqrt);
  } else if (!h->adamw_after) {
    for (int64_t i = 0; i < n; i++) {
      w[i] *= keep;
      adam_element(&w[i], &m[i], &v[i], g[i], b1, b2, step, eps, bc2_sqrt);
    }
  } else {
    for (int64_t i = 0; i < n; i++) {
      adam_element(&w[i], &m[i], &v[i], g[i], b1, b2, step, eps, bc2_sqrt);
      w[i] += shrink * w[i];
    }
  }
}
