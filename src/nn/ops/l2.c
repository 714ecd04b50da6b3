/*
 * l2: out = lambda * sum_p ||p||^2 over chosen dense parameters (weight decay as a loss term).
 */
#include "nn/ops/ops.h"

void l2_forward_cpu(float *out /* (1) */, const float *const *ps, const int64_t *sizes, int n, float lambda) {
  double s = 0.0;
  for (int k = 0; k < n; k++)
    for (int64_t i = 0; i < sizes[k]; i++) s += (double)ps[k][i] * ps[k][i];
  out[0] = (float)(lambda * s);
}

void l2_backward_cpu(float *const *dps, const float *dout /* (1) */, const float *const *ps,
                     const int64_t *sizes, int n, float lambda) {
  float scale = 2.0f * lambda * dout[0];
  for (int k = 0; k < n; k++)
    for (int64_t i = 0; i < sizes[k]; i++) dps[k][i] += scale * ps[k][i];
}

static int gather(const rk_node *n, const float **ps, float **dps, int64_t *sizes) {
  for (int k = 0; k < n->n_params; k++) {
    ps[k] = n->params[k]->value.data;
    dps[k] = n->params[k]->grad.data;
    sizes[k] = rk_tensor_numel(&n->params[k]->value);
  }
  return n->n_params;
}

rk_status l2_node_forward_cpu(rk_graph *g, const rk_node *n) {
  const float *ps[RK_NODE_MAX_PARAMS];
  float *dps[RK_NODE_MAX_PARAMS];
  int64_t sizes[RK_NODE_MAX_PARAMS];
  int count = gather(n, ps, dps, sizes);
  l2_forward_cpu(rk_x(g, n->out[0]), ps, sizes, count, n->fattr[0]);
  return RK_OK;
}

void l2_node_backward_cpu(rk_graph *g, const rk_node *n) {
  const float *ps[RK_NODE_MAX_PARAMS];
  float *dps[RK_NODE_MAX_PARAMS];
  int64_t sizes[RK_NODE_MAX_PARAMS];
  int k = gather(n, ps, dps, sizes);
  l2_backward_cpu(dps, rk_dx(g, n->out[0]), ps, sizes, k, n->fattr[0]);
}

rk_status rk_graph_l2(rk_graph *g, int *out, int n, rk_param *const *params, float lambda) {
  if (n < 1 || n > RK_NODE_MAX_PARAMS)
    return rk_error(RK_EINVAL, "l2: %d parameters; between 1 and %d (add several l2 terms for more)", n,
                    RK_NODE_MAX_PARAMS);
  for (int k = 0; k < n; k++)
    if (!params[k] || params[k]->sparse)
      return rk_error(RK_EINVAL, "l2: parameter %d is missing or sparse (use embedding_l2 for tables)", k);
  rk_node *node;
  RK_TRY(rk_graph_simple_node(g, &node, out, RK_OP_L2, 0, NULL, RK_DT_F32, 0, NULL));
  node->fattr[0] = lambda;
  for (int k = 0; k < n; k++) RK_TRY(rk_graph_node_add_param(g, node, params[k]));
  return RK_OK;
}
