/*
 * softmax over the last axis of x / temperature (max subtracted first).
 */
#include <math.h>

#include "nn/ops/ops.h"

void softmax_forward_cpu(float *out /* (R, C) */, const float *x /* (R, C) */, int64_t R, int64_t C, float temperature) {
  for (int64_t r = 0; r < R; r++) {
    const float *xr = x + r * C;
    float *o = out + r * C, mx = xr[0];
    for (int64_t c = 1; c < C; c++) mx = xr[c] > mx ? xr[c] : mx;
    double z = 0.0;
    for (int64_t c = 0; c < C; c++) z += o[c] = expf((xr[c] - mx) / temperature);
    for (int64_t c = 0; c < C; c++) o[c] = (float)(o[c] / z);
  }
}

void softmax_backward_cpu(float *dx /* (R, C) */, const float *dout /* (R, C) */, const float *out /* (R, C) */,
                          int64_t R, int64_t C, float temperature) {
  for (int64_t r = 0; r < R; r++) {
    const float *y = out + r * C, *dy = dout + r * C;
    double dot = 0.0;
    for (int64_t c = 0; c < C; c++) dot += (double)dy[c] * y[c];
    for (int64_t c = 0; c < C; c++) dx[r * C + c] += y[c] * (dy[c] - (float)dot) / temperature;
  }
}

rk_status softmax_node_forward_cpu(rk_graph *g, const rk_node *n) {
  const rk_value *x = rk_val(g, n->in[0]);
  int64_t C = x->shape[x->ndim - 1];
  softmax_forward_cpu(rk_x(g, n->out[0]), rk_x(g, n->in[0]), x->numel / C, C, n->fattr[0]);
  return RK_OK;
}

void softmax_node_backward_cpu(rk_graph *g, const rk_node *n) {
  const rk_value *x = rk_val(g, n->in[0]);
  int64_t C = x->shape[x->ndim - 1];
  if (rk_dx(g, n->in[0]))
    softmax_backward_cpu(rk_dx(g, n->in[0]), rk_dx(g, n->out[0]), rk_x(g, n->out[0]), x->numel / C, C, n->fattr[0]);
}

rk_status rk_graph_softmax(rk_graph *g, int *out, int x, float temperature) {
  if (!(temperature > 0.0f)) return rk_error(RK_EINVAL, "softmax: temperature %g must be positive", temperature);
  rk_node *n;
  RK_TRY(rk_graph_unary(g, out, x, RK_OP_SOFTMAX, &n));
  n->fattr[0] = temperature;
  return RK_OK;
}
