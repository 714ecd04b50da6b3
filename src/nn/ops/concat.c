/*
 * concat: join n values along one axis (all other axes equal). Seen as rows: each input is
 * (R, I_k) with R the product of the axes before `axis`, and out is (R, sum I_k).
 */
#include <string.h>

#include "nn/ops/ops.h"

void concat_forward_cpu(float *out /* (R, sum I) */, const float *const *xs /* n x (R, I_k) */,
                        const int64_t *inner, int n, int64_t R) {
  int64_t W = 0;
  for (int k = 0; k < n; k++) W += inner[k];
  for (int64_t r = 0; r < R; r++) {
    int64_t o = 0;
    for (int k = 0; k < n; k++) {
      memcpy(out + r * W + o, xs[k] + r * inner[k], (size_t)inner[k] * sizeof(float));
      o += inner[k];
    }
  }
}

void concat_backward_cpu(float *const *dxs /* n x (R, I_k), NULL entries skipped */,
                         const float *dout /* (R, sum I) */, const int64_t *inner, int n, int64_t R) {
  int64_t W = 0;
  for (int k = 0; k < n; k++) W += inner[k];
  for (int64_t r = 0; r < R; r++) {
    int64_t o = 0;
    for (int k = 0; k < n; k++) {
      if (dxs[k])
        for (int64_t i = 0; i < inner[k]; i++) dxs[k][r * inner[k] + i] += dout[r * W + o + i];
      o += inner[k];
    }
  }
}

static int64_t rows_and_inner(const rk_graph *g, const rk_node *n, int64_t *inner) {
  int axis = (int)n->iattr[0];
  int64_t R = 1;
  const rk_value *v0 = rk_val(g, n->in[0]);
  for (int i = 0; i < axis; i++) R *= v0->shape[i];
  for (int k = 0; k < n->n_in; k++) inner[k] = rk_val(g, n->in[k])->numel / R;
  return R;
}

rk_status concat_node_forward_cpu(rk_graph *g, const rk_node *n) {
  int64_t inner[RK_NODE_MAX_IN];
  const float *xs[RK_NODE_MAX_IN];
  int64_t R = rows_and_inner(g, n, inner);
  for (int k = 0; k < n->n_in; k++) xs[k] = rk_x(g, n->in[k]);
  concat_forward_cpu(rk_x(g, n->out[0]), xs, inner, n->n_in, R);
  return RK_OK;
}

void concat_node_backward_cpu(rk_graph *g, const rk_node *n) {
  int64_t inner[RK_NODE_MAX_IN];
  float *dxs[RK_NODE_MAX_IN];
  int64_t R = rows_and_inner(g, n, inner);
  for (int k = 0; k < n->n_in; k++) dxs[k] = rk_dx(g, n->in[k]);
  concat_backward_cpu(dxs, rk_dx(g, n->out[0]), inner, n->n_in, R);
}

rk_status rk_graph_concat(rk_graph *g, int *out, int n, const int *xs, int axis) {
  if (n < 1) return rk_error(RK_EINVAL, "concat: %d inputs; at least 1", n);
  if (n > RK_NODE_MAX_IN) {
    /* More inputs than a node holds: concatenate groups, then the groups (concat is associative). */
    int groups[RK_NODE_MAX_IN], ng = 0;
    int per = (n + RK_NODE_MAX_IN - 1) / RK_NODE_MAX_IN;
    for (int i = 0; i < n; i += per) RK_TRY(rk_graph_concat(g, &groups[ng++], n - i < per ? n - i : per, xs + i, axis));
    return rk_graph_concat(g, out, ng, groups, axis);
  }
  for (int k = 0; k < n; k++) RK_TRY(rk_graph_check_value(g, xs[k], "concat"));
  const rk_value *v0 = rk_val(g, xs[0]);
  if (axis < 0) axis += v0->ndim;
  if (axis < 0 || axis >= v0->ndim)
    return rk_error(RK_EINVAL, "concat: axis %d is outside a value with %d axes", axis, v0->ndim);
  int64_t shape[RK_TENSOR_MAX_DIMS];
  memcpy(shape, v0->shape, sizeof shape);
  shape[axis] = 0;
  for (int k = 0; k < n; k++) {
    const rk_value *v = rk_val(g, xs[k]);
    bool ok = v->ndim == v0->ndim && v->dtype == RK_DT_F32;
    for (int i = 0; ok && i < v->ndim; i++) ok = i == axis || v->shape[i] == v0->shape[i];
    if (!ok) {
      char b0[96], bk[96];
      return rk_error(RK_ESHAPE, "concat: input %d of shape %s does not match input 0 of shape %s outside axis %d",
                      k, rk_shape_str(v, bk, sizeof bk), rk_shape_str(v0, b0, sizeof b0), axis);
    }
    shape[axis] += v->shape[axis];
  }
  rk_node *node;
  RK_TRY(rk_graph_simple_node(g, &node, out, RK_OP_CONCAT, n, xs, RK_DT_F32, v0->ndim, shape));
  node->iattr[0] = axis;
  return RK_OK;
}
