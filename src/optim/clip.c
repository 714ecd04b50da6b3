/*
 * Gradient clipping by global norm (Pascanu, Mikolov & Bengio, "On the difficulty of training
 * recurrent neural networks", ICML 2013, section 3.2; TF tf.clip_by_global_norm):
 *   norm = sqrt(sum over every gradient value of g^2)
 *   g *= max_norm / norm                          when norm > max_norm
 * TF's form, without the 1e-6 that torch.nn.utils.clip_grad_norm_ adds to the norm.
 * A sparse parameter counts its compact rows only (the rows of the table that have a gradient).
 * Squares are summed in double per chunk of a grain that depends only on the size, and chunks
 * are added in order, so the norm has the same bits for any thread count.
 * It is not per-value clipping (clip_by_value) nor per-tensor norm clipping.
 */
#include <math.h>

#include "reckon/optim.h"

#define CLIP_MAX_CHUNKS 256
#define CLIP_MIN_GRAIN  65536

typedef struct {
  float *g;
  double *partial;   /* (chunks) */
  float scale;
} clip_ctx;

static int64_t grad_count(const rk_param *p) {
  if (p->sparse) return p->n_grad_rows * (p->grad.ndim == 2 ? p->grad.shape[1] : 0);
  return rk_tensor_numel(&p->grad);
}

static int64_t clip_grain(int64_t n) {
  int64_t g = (n + CLIP_MAX_CHUNKS - 1) / CLIP_MAX_CHUNKS;
  return g < CLIP_MIN_GRAIN ? CLIP_MIN_GRAIN : g;
}

/* In 8 interleaved partial sums, added in order at the end: vectorised, and the order depends
 * on the chunk alone. */
static void square_chunk(void *ctx, int64_t chunk, int64_t begin, int64_t end) {
  clip_ctx *c = ctx;
  const float *restrict g = c->g;
  double acc[8] = {0};
  int64_t i = begin;
  for (; i + 8 <= end; i += 8)
    for (int k = 0; k < 8; k++) acc[k] += (double)g[i + k] * (double)g[i + k];
  double s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; i < end; i++) s += (double)g[i] * (double)g[i];
  c->partial[chunk] = s;
}

static void scale_chunk(void *ctx, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  clip_ctx *c = ctx;
  for (int64_t i = begin; i < end; i++) c->g[i] *= c->scale;
}

double rk_optim_global_norm(rk_param *const *params, int n_params) {
  double partial[CLIP_MAX_CHUNKS];
  double total = 0.0;
  for (int i = 0; i < n_params; i++) {
    int64_t n = grad_count(params[i]);
    if (n <= 0) continue;
    clip_ctx c = {(float *)params[i]->grad.data, partial, 1.0f};   // cppcheck-suppress legacyUninitvar ; filled by square_chunk
    int64_t grain = clip_grain(n);
    rk_parallel_for(n, grain, square_chunk, &c);
    for (int64_t k = 0; k < rk_chunk_count(n, grain); k++) total += partial[k];
  }
  return sqrt(total);
}

rk_status rk_optim_clip_global_norm(double *norm, rk_param *const *params, int n_params, double max_norm) {
  if (!(isfinite(max_norm) && max_norm > 0.0))
    return rk_error(RK_EINVAL, "clipping norm %g must be a finite number > 0", max_norm);
  double total = rk_optim_global_norm(params, n_params);
  if (norm != NULL) *norm = total;
  if (!isfinite(total)) return rk_error(RK_ERANGE, "gradient global norm is %g; gradients left unclipped", total);
  if (total <= max_norm) return RK_OK;
  clip_ctx c = {NULL, NULL, (float)(max_norm / total)};
  for (int i = 0; i < n_params; i++) {
    int64_t n = grad_count(params[i]);
    if (n <= 0) continue;
    c.g = (float *)params[i]->grad.data;
    rk_parallel_for(n, clip_grain(n), scale_chunk, &c);
  }
  return RK_OK;
}
