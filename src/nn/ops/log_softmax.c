/*
 * log_softmax over the last axis: x - logsumexp(x) (max subtracted first).
 */
#include <math.h>

#include "nn/ops/ops.h"

void log_softmax_forward_cpu(float *out /* (R, C) */, const float *x /* (R, C) */, int64_t R, int64_t C) {
  for (int64_t r = 0; r < R; r++) {
    const float *xr = x + r * C;
    float mx = xr[0];
    for (int64_t c = 1; c < C; c++) mx = xr[c] > mx ? xr[c] : mx;
    double z = 0.0;
    for (int64_t c = 0; c < C; c++) z += exp((double)xr[c] - mx);
    // cppcheck-suppress invalidFunctionArg ; z >= 1 (the max term is exp(0)) since C >= 1
    float lse = mx + (float)log(z);
    for (int64_t c = 0; c < C; c++) out[r * C + c] = xr[c] - lse;
  }
}

void log_softmax_backward_cpu(float *dx /* (R, C) */, const float *dout /* (R, C) */, const float *out /* (R, C) */,
                              int64_t R, int64_t C) {
  for (int64_t r = 0; r < R; r++) {
    double s = 0.0;
    for (int64_t c = 0; c < C; c++) s += dout[r * C + c];
    for (int64_t c = 0; c < C; c++) dx[r * C + c] += dout[r * C + c] - expf(out[r * C + c]) * (float)s;
  }
}

rk_status log_softmax_node_forward_cpu(rk_graph *g, const rk_node *n) {
  const rk_value *x = rk_val(g, n->in[0]);
  int64_t C = x->shape[x->ndim - 1];
  log_softmax_forward_cpu(rk_x(g, n->out[0]), rk_x(g, n->in[0]), x->numel / C, C);
  return RK_OK;
}

void log_softmax_node_backward_cpu(rk_graph *g, const rk_node *n) {
  const rk_value *x = rk_val(g, n->in[0]);
  int64_t C = x->shape[x->ndim - 1];
  if (rk_dx(g, n->in[0])) log_softmax_backward_cpu(rk_dx(g, n->in[0]), rk_dx(g, n->out[0]), rk_x(g, n->out[0]), x->numel / C, C);
}

rk_status rk_graph_log_softmax(rk_graph *g, int *out, int x) {
  return rk_graph_unary(g, out, x, RK_OP_LOG_SOFTMAX, NULL);
}
