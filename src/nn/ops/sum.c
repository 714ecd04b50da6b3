/*
 * sum: reduce one axis (removed) or every axis (a scalar). Seen as x (O, L, I) -> out (O, I),
 * summed in double in index order, so the result is the same on any thread count.
 * mean.c reuses these kernels with scale 1/L.
 */
#include "nn/ops/ops.h"

void sum_forward_cpu(float *out /* (O, I) */, const float *x /* (O, L, I) */, int64_t O, int64_t L,
                     int64_t I, float scale) {
  for (int64_t o = 0; o < O; o++)
    for (int64_t i = 0; i < I; i++) {
      double s = 0.0;
      for (int64_t l = 0; l < L; l++) s += x[(o * L + l) * I + i];
      out[o * I + i] = (float)(s * scale);
    }
}

void sum_backward_cpu(float *dx /* (O, L, I) */, const float *dout /* (O, I) */, int64_t O, int64_t L,
                      int64_t I, float scale) {
  for (int64_t o = 0; o < O; o++)
    for (int64_t l = 0; l < L; l++)
      for (int64_t i = 0; i < I; i++) dx[(o * L + l) * I + i] += dout[o * I + i] * scale;
}

/* O, L, I of a reduce node (shared with mean.c). */
void rk_reduce_dims(const rk_graph *g, const rk_node *n, int64_t *O, int64_t *L, int64_t *I) {
  const rk_value *x = rk_val(g, n->in[0]);
  int axis = (int)n->iattr[0];
  if (axis == RK_REDUCE_ALL) {
    *O = 1, *L = x->numel, *I = 1;
    return;
  }
  *O = 1, *I = 1, *L = x->shape[axis];
  for (int i = 0; i < axis; i++) *O *= x->shape[i];
  for (int i = axis + 1; i < x->ndim; i++) *I *= x->shape[i];
}

rk_status sum_node_forward_cpu(rk_graph *g, const rk_node *n) {
  int64_t O, L, I;
  rk_reduce_dims(g, n, &O, &L, &I);
  sum_forward_cpu(rk_x(g, n->out[0]), rk_x(g, n->in[0]), O, L, I, 1.0f);
  return RK_OK;
}

void sum_node_backward_cpu(rk_graph *g, const rk_node *n) {
  int64_t O, L, I;
  rk_reduce_dims(g, n, &O, &L, &I);
  if (rk_dx(g, n->in[0])) sum_backward_cpu(rk_dx(g, n->in[0]), rk_dx(g, n->out[0]), O, L, I, 1.0f);
}

rk_status rk_graph_reduce(rk_graph *g, int *out, int x, int axis, rk_op op) {
  RK_TRY(rk_graph_check_value(g, x, rk_op_name(op)));
  const rk_value *xv = rk_val(g, x);
  if (xv->dtype != RK_DT_F32) return rk_error(RK_EINVAL, "%s: input must be f32", rk_op_name(op));
  int64_t shape[RK_TENSOR_MAX_DIMS];
  int nd = 0;
  if (axis != RK_REDUCE_ALL) {
    if (axis < 0 || axis >= xv->ndim)
      return rk_error(RK_EINVAL, "%s: axis %d is outside a value with %d axes", rk_op_name(op), axis, xv->ndim);
    for (int i = 0; i < xv->ndim; i++)
      if (i != axis) shape[nd++] = xv->shape[i];
  }
  rk_node *n;
  RK_TRY(rk_graph_simple_node(g, &n, out, op, 1, &x, RK_DT_F32, nd, shape));
  n->iattr[0] = axis;
  return RK_OK;
}

rk_status rk_graph_sum(rk_graph *g, int *out, int x, int axis) {
  return rk_graph_reduce(g, out, x, axis, RK_OP_SUM);
}
