/*
 * The builder shared by elementwise ops (relu, sigmoid, tanh, leaky_relu, gelu, selu, dropout):
 * one f32 input, an output of the same shape.
 */
#include "nn/ops/ops.h"

rk_status rk_graph_unary(rk_graph *g, int *out, int x, rk_op op, rk_node **node) {
  RK_TRY(rk_graph_check_value(g, x, rk_op_name(op)));
  const rk_value *xv = rk_val(g, x);
  if (xv->dtype != RK_DT_F32) return rk_error(RK_EINVAL, "%s: input must be f32", rk_op_name(op));
  return rk_graph_simple_node(g, node, out, op, 1, &x, RK_DT_F32, xv->ndim, xv->shape);
}
