/*
 * prefix_mean: each session's running mean, out (B, T, D) row t = (x row 0 + ... + x row t) /
 * (t + 1): the `avgseq` model's body (recsys_models.py's AvgSeq, x.cumsum(1) / arange(1, T + 1);
 * the floor the session models are compared with). Every position counts, padded ones too, as
 * there: the rows a model reads (a session's real positions, right-padded) see real items only.
 * Backward: dx row u = the sum over t >= u of dout row t / (t + 1), a running sum from the end.
 * Sessions run in parallel, each in one fixed order. Not the (T, T) averaging matmul it replaces:
 * that cost T / 2 times the work, and a (B, T, T) input.
 */
#include <string.h>

#include "nn/ops/ops.h"

typedef struct {
  float *out, *sum;   /* out (B, T, D); sum (B, D): a session's running sum */
  const float *x;
  int64_t T, D;
} prefix_ctx;

/* s += x, o = s / n over a row (restrict: the loop vectorises) */
static void running_mean_row(float *restrict o, float *restrict s, const float *restrict x, float n, int64_t D) {
  for (int64_t d = 0; d < D; d++) {
    s[d] += x[d];
    o[d] = s[d] / n;
  }
}

/* s += g / n, dx += s over a row */
static void running_grad_row(float *restrict dx, float *restrict s, const float *restrict g, float n, int64_t D) {
  for (int64_t d = 0; d < D; d++) {
    s[d] += g[d] / n;
    dx[d] += s[d];
  }
}

static void forward_sessions(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const prefix_ctx *c = arg;
  const int64_t T = c->T, D = c->D;
  for (int64_t b = begin; b < end; b++) {
    float *s = c->sum + b * D;
    memset(s, 0, (size_t)D * sizeof(float));
    for (int64_t t = 0; t < T; t++)
      running_mean_row(c->out + (b * T + t) * D, s, c->x + (b * T + t) * D, (float)(t + 1), D);
  }
}

static void backward_sessions(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const prefix_ctx *c = arg;   /* out: dx (added to); x: dout */
  const int64_t T = c->T, D = c->D;
  for (int64_t b = begin; b < end; b++) {
    float *s = c->sum + b * D;
    memset(s, 0, (size_t)D * sizeof(float));
    for (int64_t t = T - 1; t >= 0; t--)
      running_grad_row(c->out + (b * T + t) * D, s, c->x + (b * T + t) * D, (float)(t + 1), D);
  }
}

void prefix_mean_forward_cpu(float *out /* (B, T, D) */, float *sum /* (B, D) scratch */, const float *x /* (B, T, D) */,
                             int64_t B, int64_t T, int64_t D) {
  prefix_ctx c = {out, sum, x, T, D};
  rk_parallel_for(B, rk_row_grain(T * D), forward_sessions, &c);
}

void prefix_mean_backward_cpu(float *dx /* (B, T, D) */, float *sum /* (B, D) scratch */,
                              const float *dout /* (B, T, D) */, int64_t B, int64_t T, int64_t D) {
  prefix_ctx c = {dx, sum, dout, T, D};
  rk_parallel_for(B, rk_row_grain(T * D), backward_sessions, &c);
}

static void dims(const rk_graph *g, const rk_node *n, int64_t *B, int64_t *T, int64_t *D) {
  const rk_value *x = rk_val(g, n->in[0]);
  *B = x->shape[0];
  *T = x->shape[1];
  *D = x->shape[2];
}

rk_status prefix_mean_node_forward_cpu(rk_graph *g, const rk_node *n) {
  int64_t B, T, D;
  dims(g, n, &B, &T, &D);
  prefix_mean_forward_cpu(rk_x(g, n->out[0]), n->ws_fwd, rk_x(g, n->in[0]), B, T, D);
  return RK_OK;
}

void prefix_mean_node_backward_cpu(rk_graph *g, const rk_node *n) {
  int64_t B, T, D;
  dims(g, n, &B, &T, &D);
  if (rk_dx(g, n->in[0])) prefix_mean_backward_cpu(rk_dx(g, n->in[0]), n->ws_bwd, rk_dx(g, n->out[0]), B, T, D);
}

rk_status rk_graph_prefix_mean(rk_graph *g, int *out, int x) {
  RK_TRY(rk_graph_check_value(g, x, "prefix_mean"));
  const rk_value *xv = rk_val(g, x);
  char bx[96];
  if (xv->dtype != RK_DT_F32 || xv->ndim != 3)
    return rk_error(RK_ESHAPE, "prefix_mean: want x (B, T, D), not %s", rk_shape_str(xv, bx, sizeof bx));
  int64_t BD;
  RK_TRY(rk_size_mul(&BD, xv->shape[0], xv->shape[2], "prefix_mean's running sums (batch x width)"));
  rk_node *n;
  RK_TRY(rk_graph_simple_node(g, &n, out, RK_OP_PREFIX_MEAN, 1, &x, RK_DT_F32, 3, xv->shape));
  n->ws_fwd_bytes = n->ws_bwd_bytes = (size_t)BD * sizeof(float);
  return RK_OK;
}
