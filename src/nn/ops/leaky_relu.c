/*
 * leaky_relu: out = x > 0 ? x : slope * x.
 */
#include "nn/ops/ops.h"

void leaky_relu_forward_cpu(float *out /* (n) */, const float *x /* (n) */, int64_t n, float slope) {
  for (int64_t i = 0; i < n; i++) out[i] = x[i] > 0.0f ? x[i] : slope * x[i];
}

void leaky_relu_backward_cpu(float *dx /* (n) */, const float *dout /* (n) */, const float *x /* (n) */, int64_t n,
                             float slope) {
  for (int64_t i = 0; i < n; i++) dx[i] += x[i] > 0.0f ? dout[i] : slope * dout[i];
}

rk_status leaky_relu_node_forward_cpu(rk_graph *g, const rk_node *n) {
  leaky_relu_forward_cpu(rk_x(g, n->out[0]), rk_x(g, n->in[0]), rk_val(g, n->in[0])->numel, n->fattr[0]);
  return RK_OK;
}

void leaky_relu_node_backward_cpu(rk_graph *g, const rk_node *n) {
  if (rk_dx(g, n->in[0]))
    leaky_relu_backward_cpu(rk_dx(g, n->in[0]), rk_dx(g, n->out[0]), rk_x(g, n->in[0]), rk_val(g, n->in[0])->numel,
                            n->fattr[0]);
}

rk_status rk_graph_leaky_relu(rk_graph *g, int *out, int x, float slope) {
  rk_node *n;
  RK_TRY(rk_graph_unary(g, out, x, RK_OP_LEAKY_RELU, &n));
  n->fattr[0] = slope;
  return RK_OK;
}
