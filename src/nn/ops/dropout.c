/*
 * dropout and alpha dropout. Train: element i is kept when u_i >= p, with u_i =
 * rk_rng_uniform_at(seed, stream(op id, step), i): a pure function of (seed, op, step, element),
 * so masks do not depend on threads. Plain dropout scales kept elements by 1/(1-p); alpha
 * dropout (Klambauer et al. 2017, sec. "New Dropout Technique") sets dropped ones to
 * alpha' = -lambda alpha and applies a x + b, which keeps SELU's mean and variance.
 * Forward saves the factor multiplying x (B..) for backward. Eval: identity.
 */
#include <math.h>
#include <string.h>

#include "nn/graph_internal.h"

rk_status rk_graph_unary(rk_graph *g, int *out, int x, rk_op op, rk_node **node);

#define ALPHA_PRIME (-1.7580993408473766)   /* -lambda * alpha of SELU */

static uint64_t stream_of(int op_id, uint64_t step) { return ((uint64_t)(uint32_t)op_id << 40) ^ step; }

/* factor (n): saved multiplier of x per element. */
void dropout_forward_cpu(float *out /* (n) */, float *factor /* (n) */, const float *x /* (n) */, int64_t n, float p,
                         bool alpha, uint64_t seed, uint64_t stream) {
  if (alpha) {
    double a = 1.0 / sqrt((1.0 - p) * (1.0 + p * ALPHA_PRIME * ALPHA_PRIME)), b = -a * ALPHA_PRIME * p;
    for (int64_t i = 0; i < n; i++) {
      bool keep = rk_rng_uniform_at(seed, stream, (uint64_t)i) >= p;
      factor[i] = keep ? (float)a : 0.0f;
      out[i] = (float)(keep ? a * x[i] + b : a * ALPHA_PRIME + b);
    }
  } else {
    float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
    for (int64_t i = 0; i < n; i++) {
      factor[i] = rk_rng_uniform_at(seed, stream, (uint64_t)i) >= p ? scale : 0.0f;
      out[i] = x[i] * factor[i];
    }
  }
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
                      stream_of(n->id, g->step));
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
