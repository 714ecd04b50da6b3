/*
 * weighted_sum: out = wa a + wb b of two scalars, the weighted terms of a joint loss (ELECTRA's
 * lambda x discriminator BCE + generator MLM, Clark et al. 2020, eq. 1). Backward adds wa and wb
 * times the output's gradient.
 */
#include "nn/ops/ops.h"

void weighted_sum_forward_cpu(float *out /* (1) */, const float *a /* (1) */, const float *b /* (1) */, float wa,
                              float wb) {
  out[0] = wa * a[0] + wb * b[0];
}

void weighted_sum_backward_cpu(float *da /* (1) or NULL */, float *db /* (1) or NULL */, const float *dout /* (1) */,
                               float wa, float wb) {
  if (da) da[0] += wa * dout[0];
  if (db) db[0] += wb * dout[0];
}

rk_status weighted_sum_node_forward_cpu(rk_graph *g, const rk_node *n) {
  weighted_sum_forward_cpu(rk_x(g, n->out[0]), rk_x(g, n->in[0]), rk_x(g, n->in[1]), n->fattr[0], n->fattr[1]);
  return RK_OK;
}

void weighted_sum_node_backward_cpu(rk_graph *g, const rk_node *n) {
  weighted_sum_backward_cpu(rk_dx(g, n->in[0]), rk_dx(g, n->in[1]), rk_dx(g, n->out[0]), n->fattr[0], n->fattr[1]);
}

rk_status rk_graph_weighted_sum(rk_graph *g, int *out, int a, float wa, int b, float wb) {
  int in[2] = {a, b};
  for (int k = 0; k < 2; k++) {
    RK_TRY(rk_graph_check_value(g, in[k], "weighted_sum"));
    const rk_value *v = rk_val(g, in[k]);
    char bv[96];
    if (v->dtype != RK_DT_F32 || v->numel != 1)
      return rk_error(RK_ESHAPE, "weighted_sum: input %d of shape %s must be an f32 scalar", k,
                      rk_shape_str(v, bv, sizeof bv));
  }
  if (!isfinite(wa) || !isfinite(wb)) return rk_error(RK_EINVAL, "weighted_sum: weights %g and %g must be finite", wa, wb);
  rk_node *n;
  RK_TRY(rk_graph_simple_node(g, &n, out, RK_OP_WEIGHTED_SUM, 2, in, RK_DT_F32, 0, NULL));
  n->fattr[0] = wa;
  n->fattr[1] = wb;
  return RK_OK;
}
