/*
 * reshape: the same elements under another shape (a copy, so memory planning needs no aliases).
 */
#include <string.h>

#include "nn/ops/ops.h"

void reshape_forward_cpu(float *out /* (n) */, const float *x /* (n) */, int64_t n) {
  memcpy(out, x, (size_t)n * sizeof(float));
}

void reshape_backward_cpu(float *dx /* (n) */, const float *dout /* (n) */, int64_t n) {
  for (int64_t i = 0; i < n; i++) dx[i] += dout[i];
}

rk_status reshape_node_forward_cpu(rk_graph *g, const rk_node *n) {
  reshape_forward_cpu(rk_x(g, n->out[0]), rk_x(g, n->in[0]), rk_val(g, n->in[0])->numel);
  return RK_OK;
}

void reshape_node_backward_cpu(rk_graph *g, const rk_node *n) {
  if (rk_dx(g, n->in[0]))
    reshape_backward_cpu(rk_dx(g, n->in[0]), rk_dx(g, n->out[0]), rk_val(g, n->in[0])->numel);
}

rk_status rk_graph_reshape(rk_graph *g, int *out, int x, int ndim, const int64_t *shape) {
  RK_TRY(rk_graph_check_value(g, x, "reshape"));
  const rk_value *xv = rk_val(g, x);
  char bx[96];
  if (ndim < 0 || ndim > RK_TENSOR_MAX_DIMS || xv->dtype != RK_DT_F32)
    return rk_error(RK_ESHAPE, "reshape: cannot reshape %s into %d axes", rk_shape_str(xv, bx, sizeof bx), ndim);
  int64_t s[RK_TENSOR_MAX_DIMS], known = 1;
  int free_axis = -1;
  for (int i = 0; i < ndim; i++) {
    s[i] = shape[i];
    if (s[i] == -1 && free_axis < 0) free_axis = i;
    else if (s[i] <= 0) return rk_error(RK_ESHAPE, "reshape: axis %d of the new shape is %lld", i, (long long)s[i]);
    else known *= s[i];
  }
  if (free_axis >= 0) s[free_axis] = known > 0 && xv->numel % known == 0 ? xv->numel / known : -1;
  int64_t numel = 1;
  for (int i = 0; i < ndim; i++) numel *= s[i];
  if (numel != xv->numel || (free_axis >= 0 && s[free_axis] <= 0))
    return rk_error(RK_ESHAPE, "reshape: %s has %lld elements, which the new shape cannot hold",
                    rk_shape_str(xv, bx, sizeof bx), (long long)xv->numel);
  return rk_graph_simple_node(g, NULL, out, RK_OP_RESHAPE, 1, &x, RK_DT_F32, ndim, s);
}
