/*
 * split: cut a value along one axis into n parts of given sizes (concat's inverse).
 */
#include <string.h>

#include "nn/ops/ops.h"

void split_forward_cpu(float *const *outs /* n x (R, I_k) */, const float *x /* (R, sum I) */,
                       const int64_t *inner, int n, int64_t R) {
  int64_t W = 0;
  for (int k = 0; k < n; k++) W += inner[k];
  for (int64_t r = 0; r < R; r++) {
    int64_t o = 0;
    for (int k = 0; k < n; k++) {
      memcpy(outs[k] + r * inner[k], x + r * W + o, (size_t)inner[k] * sizeof(float));
      o += inner[k];
    }
  }
}

void split_backward_cpu(float *dx /* (R, sum I) */, const float *const *douts /* NULL: no gradient */,
                        const int64_t *inner, int n, int64_t R) {
  int64_t W = 0;
  for (int k = 0; k < n; k++) W += inner[k];
  for (int64_t r = 0; r < R; r++) {
    int64_t o = 0;
    for (int k = 0; k < n; k++) {
      if (douts[k])
        for (int64_t i = 0; i < inner[k]; i++) dx[r * W + o + i] += douts[k][r * inner[k] + i];
      o += inner[k];
    }
  }
}

static int64_t dims(const rk_graph *g, const rk_node *n, int64_t *inner) {
  const rk_value *x = rk_val(g, n->in[0]);
  int64_t R = 1;
  for (int i = 0; i < n->iattr[0]; i++) R *= x->shape[i];
  for (int k = 0; k < n->n_out; k++) inner[k] = rk_val(g, n->out[k])->numel / R;
  return R;
}

rk_status split_node_forward_cpu(rk_graph *g, const rk_node *n) {
  int64_t inner[RK_NODE_MAX_OUT];
  float *outs[RK_NODE_MAX_OUT];
  int64_t R = dims(g, n, inner);
  for (int k = 0; k < n->n_out; k++) outs[k] = rk_x(g, n->out[k]);
  split_forward_cpu(outs, rk_x(g, n->in[0]), inner, n->n_out, R);
  return RK_OK;
}

void split_node_backward_cpu(rk_graph *g, const rk_node *n) {
  int64_t inner[RK_NODE_MAX_OUT];
  const float *douts[RK_NODE_MAX_OUT];
  int64_t R = dims(g, n, inner);
  for (int k = 0; k < n->n_out; k++) douts[k] = rk_dx(g, n->out[k]);
  if (rk_dx(g, n->in[0])) split_backward_cpu(rk_dx(g, n->in[0]), douts, inner, n->n_out, R);
}

rk_status rk_graph_split(rk_graph *g, int *outs, int x, int axis, int n, const int64_t *sizes) {
  RK_TRY(rk_graph_check_value(g, x, "split"));
  const rk_value *xv = rk_val(g, x);
  char bx[96];
  if (xv->dtype != RK_DT_F32) return rk_error(RK_EINVAL, "split: input must be f32");
  if (n < 1 || n > RK_NODE_MAX_OUT) return rk_error(RK_EINVAL, "split: %d parts; between 1 and %d", n, RK_NODE_MAX_OUT);
  if (axis < 0) axis += xv->ndim;
  if (axis < 0 || axis >= xv->ndim) return rk_error(RK_EINVAL, "split: axis %d is outside %d axes", axis, xv->ndim);
  int64_t total = 0;
  for (int k = 0; k < n; k++) total += sizes[k] > 0 ? sizes[k] : -((int64_t)1 << 40);
  if (total != xv->shape[axis])
    return rk_error(RK_ESHAPE, "split: sizes add up to %lld, but axis %d of %s is %lld", (long long)total, axis,
                    rk_shape_str(xv, bx, sizeof bx), (long long)xv->shape[axis]);
  int vals[RK_NODE_MAX_OUT];
  int64_t shape[RK_TENSOR_MAX_DIMS];
  memcpy(shape, xv->shape, sizeof shape);
  int ndim = xv->ndim;
  for (int k = 0; k < n; k++) {
    shape[axis] = sizes[k];
    RK_TRY(rk_graph_add_value(g, &vals[k], RK_DT_F32, ndim, shape));
  }
  rk_node *node;
  RK_TRY(rk_graph_add_node(g, &node, RK_OP_SPLIT, 1, &x));
  node->iattr[0] = axis;
  for (int k = 0; k < n; k++) {
    rk_graph_node_set_out(g, node, k, vals[k]);
    outs[k] = vals[k];
  }
  return RK_OK;
}
