/*
 * tanh: out = tanh(x) elementwise; backward reads the derivative off the output.
 */
#include <math.h>

#include "nn/ops/ops.h"

void tanh_forward_cpu(float *out /* (n) */, const float *in /* (n) */, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    float x = in[i];
    out[i] = tanhf(x);
  }
}

void tanh_backward_cpu(float *dx /* (n) */, const float *dout /* (n) */, const float *out /* (n) */,
                     int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    float y = out[i];
    dx[i] += dout[i] * (1.0f - y * y);
  }
}

rk_status tanh_node_forward_cpu(rk_graph *g, const rk_node *n) {
  tanh_forward_cpu(rk_x(g, n->out[0]), rk_x(g, n->in[0]), rk_val(g, n->in[0])->numel);
  return RK_OK;
}

void tanh_node_backward_cpu(rk_graph *g, const rk_node *n) {
  if (rk_dx(g, n->in[0]))
    tanh_backward_cpu(rk_dx(g, n->in[0]), rk_dx(g, n->out[0]), rk_x(g, n->out[0]), rk_val(g, n->in[0])->numel);
}

rk_status rk_graph_tanh(rk_graph *g, int *out, int x) {
  return rk_graph_unary(g, out, x, RK_OP_TANH, NULL);
}
