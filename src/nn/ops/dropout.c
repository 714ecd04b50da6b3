/*
 * dropout and alpha dropout. Train: element i is kept when u_i >= p, u_i a 32-bit uniform: lane
 * i % 4 of the Philox4x32-10 block i / 4 keyed by seed with counter (i / 4, stream(op id, step)).
 * A pure function of (seed, op, step, element), so masks do not depend on threads; one block
 * serves four elements, and blocks of rows run in parallel. Plain dropout scales kept elements by 1/(1-p); alpha
 * dropout (Klambauer et al. 2017, sec. "New Dropout Technique") sets dropped ones to
 * alpha' = -lambda alpha and applies a x + b, which keeps SELU's mean and variance.
 * Forward saves the factor multiplying x (B..) for backward. Eval: identity.
 */
#include <math.h>
#include <string.h>

#include "nn/ops/ops.h"

#define ALPHA_PRIME (-1.7580993408473766)   /* -lambda * alpha of SELU */

typedef struct {
  float *out, *factor;
  const float *x;
  float p;
  bool alpha;
  uint64_t seed, stream;
} dropout_ctx;

/* Elements [begin, end) in whole blocks of 4 (chunks start at multiples of 4). */
static void dropout_range(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const dropout_ctx *c = arg;
  const uint32_t key[2] = {(uint32_t)c->seed, (uint32_t)(c->seed >> 32)};
  /* keep when u >= p, u = r / 2^32 */
  double lim = (double)c->p * 4294967296.0;
  uint64_t threshold = lim >= 4294967296.0 ? UINT64_C(4294967296) : (uint64_t)ceil(lim);
  double a = 1.0, b = 0.0;
  float scale = c->p < 1.0f ? 1.0f / (1.0f - c->p) : 0.0f;
  if (c->alpha) {
    a = 1.0 / sqrt((1.0 - c->p) * (1.0 + c->p * ALPHA_PRIME * ALPHA_PRIME));
    b = -a * ALPHA_PRIME * c->p;
  }
  for (int64_t i0 = begin; i0 < end; i0 += 4) {
    uint64_t block = (uint64_t)i0 / 4;
    const uint32_t ctr[4] = {(uint32_t)block, (uint32_t)(block >> 32), (uint32_t)c->stream, (uint32_t)(c->stream >> 32)};
    uint32_t r[4];
    rk_philox4x32_10(r, ctr, key);
    for (int k = 0; k < 4 && i0 + k < end; k++) {
      int64_t i = i0 + k;
      bool keep = (uint64_t)r[k] >= threshold;
      if (c->alpha) {
        c->factor[i] = keep ? (float)a : 0.0f;
        c->out[i] = (float)(keep ? a * c->x[i] + b : a * ALPHA_PRIME + b);
      } else {
        c->factor[i] = keep ? scale : 0.0f;
        c->out[i] = c->x[i] * c->factor[i];
      }
    }
  }
}

/* factor (n): saved multiplier of x per element. */
void dropout_forward_cpu(float *out /* (n) */, float *factor /* (n) */, const float *x /* (n) */, int64_t n, float p,
                         bool alpha, uint64_t seed, uint64_t stream) {
  dropout_ctx c = {out, factor, x, p, alpha, seed, stream};
  rk_parallel_for(n, 1 << 14, dropout_range, &c);   /* the grain is a multiple of 4: blocks stay whole */
}

void dropout_backward_cpu(float *dx /* (n) */, const float *dout /* (n) */, const float *factor /* (n) */, int64_t n) {
  for (int64_t i = 0; i < n; i++) dx[i] += dout[i] * factor[i];
}

rk_status dropout_node_forward_cpu(rk_graph *g, const rk_node *n) {
  int64_t cnt = rk_val(g, n->in[0])->numel;
  if (!rk_graph_training(g) || n->fattr[0] == 0.0f) {
    memcpy(rk_x(g, n->out[0]), rk_x(g, n->in[0]), (size_t)cnt * sizeof(float));
    if (rk_graph_training(g))
      for (int64_t i = 0; i < cnt; i++) ((float *)n->saved)[i] = 1.0f;
    return RK_OK;
  }
  dropout_forward_cpu(rk_x(g, n->out[0]), n->saved, rk_x(g, n->in[0]), cnt, n->fattr[0], n->iattr[0], g->seed,
                      rk_dropout_stream(n->id, g->step));
  return RK_OK;
}

void dropout_node_backward_cpu(rk_graph *g, const rk_node *n) {
  if (rk_dx(g, n->in[0]))
    dropout_backward_cpu(rk_dx(g, n->in[0]), rk_dx(g, n->out[0]), n->saved, rk_val(g, n->in[0])->numel);
}

rk_status rk_graph_dropout(rk_graph *g, int *out, int x, float p, bool alpha) {
  if (!(p >= 0.0f && p < 1.0f)) return rk_error(RK_EINVAL, "dropout: probability %g must be in [0, 1)", p);
  rk_node *n;
  RK_TRY(rk_graph_unary(g, out, x, RK_OP_DROPOUT, &n));
  n->fattr[0] = p;
  n->iattr[0] = alpha;
  n->saved_bytes = (size_t)rk_val(g, x)->numel * sizeof(float);
  return RK_OK;
}
