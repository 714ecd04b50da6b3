/*
 * rtd_interaction: --rtd_use_batch_interaction's corrupted session (Transformers4Rec's
 * recsys_meta_model.py, tag recsys2021): out (R, D) row r = x (R, D) row source[r], where x is
 * the batch's merged interaction rows (item and side features, before [MASK]) and source is
 * rtd_replace's (a labelled row's draw from the batch names the labelled row whose target it
 * drew; every other row names itself). The drawn item so brings its own side features, which
 * re-embedding the corrupted ids cannot (the reference's "TODO: sampling fake side info").
 * No backward: the reference takes these rows from pos_emb.clone().detach(), so the
 * discriminator's loss does not reach the input stage this way. Not the draws (rtd_replace.c).
 */
#include <string.h>

#include "nn/ops/ops.h"

rk_status rtd_interaction_forward_cpu(float *out /* (R, D) */, const float *x /* (R, D) */, const int64_t *source /* (R) */,
                                      int64_t R, int64_t D) {
  for (int64_t r = 0; r < R; r++) {
    if (source[r] < 0 || source[r] >= R)
      return rk_error(RK_ERANGE, "rtd_interaction: row %lld's source is %lld; want a row in [0, %lld)", (long long)r,
                      (long long)source[r], (long long)R);
    memcpy(out + r * D, x + source[r] * D, (size_t)D * sizeof(float));
  }
  return RK_OK;
}

rk_status rtd_interaction_node_forward_cpu(rk_graph *g, const rk_node *n) {
  const rk_value *x = rk_val(g, n->in[0]);
  const int64_t D = x->shape[x->ndim - 1];
  return rtd_interaction_forward_cpu(rk_x(g, n->out[0]), rk_x(g, n->in[0]), rk_xi(g, n->in[1]), x->numel / D, D);
}

void rtd_interaction_node_backward_cpu(rk_graph *g, const rk_node *n) {
  (void)g;
  (void)n;   /* detached: nothing flows back into x */
}

rk_status rk_graph_rtd_interaction(rk_graph *g, int *out, int x, int source) {
  RK_TRY(rk_graph_check_value(g, x, "rtd_interaction"));
  RK_TRY(rk_graph_check_value(g, source, "rtd_interaction"));
  const rk_value *xv = rk_val(g, x), *sv = rk_val(g, source);
  char bx[96], bs[96];
  if (xv->dtype != RK_DT_F32 || xv->ndim < 2 || xv->ragged || xv->partial_rows || sv->dtype != RK_DT_I64 || sv->ragged ||
      sv->numel * xv->shape[xv->ndim - 1] != xv->numel)
    return rk_error(RK_ESHAPE, "rtd_interaction: want rows x (..., D) and an int64 source row for each, not %s and %s",
                    rk_shape_str(xv, bx, sizeof bx), rk_shape_str(sv, bs, sizeof bs));
  int in[2] = {x, source};
  return rk_graph_simple_node(g, NULL, out, RK_OP_RTD_INTERACTION, 2, in, RK_DT_F32, xv->ndim, xv->shape);
}
