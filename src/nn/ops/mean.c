/*
 * mean: sum over one axis (or all) divided by its length; the kernels are sum's with a scale.
 */
#include "nn/ops/ops.h"

void mean_forward_cpu(float *out /* (O, I) */, const float *x /* (O, L, I) */, int64_t O, int64_t L,
                      int64_t I) {
  sum_forward_cpu(out, x, O, L, I, 1.0f / (float)L);
}

void mean_backward_cpu(float *dx /* (O, L, I) */, const float *dout /* (O, I) */, int64_t O, int64_t L,
                       int64_t I) {
  sum_backward_cpu(dx, dout, O, L, I, 1.0f / (float)L);
}

rk_status mean_node_forward_cpu(rk_graph *g, const rk_node *n) {
  int64_t O, L, I;
  rk_reduce_dims(g, n, &O, &L, &I);
  mean_forward_cpu(rk_x(g, n->out[0]), rk_x(g, n->in[0]), O, L, I);
  return RK_OK;
}

void mean_node_backward_cpu(rk_graph *g, const rk_node *n) {
  int64_t O, L, I;
  rk_reduce_dims(g, n, &O, &L, &I);
  if (rk_dx(g, n->in[0])) mean_backward_cpu(rk_dx(g, n->in[0]), rk_dx(g, n->out[0]), O, L, I);
}

rk_status rk_graph_mean(rk_graph *g, int *out, int x, int axis) {
  return rk_graph_reduce(g, out, x, axis, RK_OP_MEAN);
}
