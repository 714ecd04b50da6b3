/*
 * mask_fill: out (B, T, D) = x, with the rows where mask (B, T) is non-zero replaced by one vector
 * value (D): Transformers4Rec's learnable [MASK] embedding, put in place of the items a masked-LM
 * batch hides and of the positions a causal-LM batch has no target for. Backward gives x the
 * gradient of the rows kept and value the sum over the rows replaced (rows in order).
 * On x with rows in use (a packed session input stage; docs/design.md, "Rows in use") it computes
 * those rows only and reads row r's mask at its original place, mask[row_index[r]]: the mask
 * stays the feed's (B, T) one, and the rows filled are the unpacked fill's.
 */
#include <string.h>

#include "nn/ops/ops.h"

/* rows (R) or NULL: each row's original row, where its mask is read. */
static int64_t mask_at(const int64_t *mask, const int64_t *rows, int64_t r) { return mask[rows ? rows[r] : r]; }

void mask_fill_forward_cpu(float *out /* (R, D) */, const float *x /* (R, D) */, const int64_t *mask /* (N) */,
                           const int64_t *rows /* (R) or NULL */, const float *value /* (D) */, int64_t R, int64_t D) {
  for (int64_t r = 0; r < R; r++)
    memcpy(out + r * D, mask_at(mask, rows, r) ? value : x + r * D, (size_t)D * sizeof(float));
}

void mask_fill_backward_cpu(float *dx /* (R, D) or NULL */, float *dvalue /* (D) or NULL */, const float *dout /* (R, D) */,
                            const int64_t *mask /* (N) */, const int64_t *rows /* (R) or NULL */, int64_t R, int64_t D) {
  for (int64_t r = 0; r < R; r++) {
    float *dst = mask_at(mask, rows, r) ? dvalue : dx ? dx + r * D : NULL;
    if (!dst) continue;
    const float *g = dout + r * D;
    for (int64_t d = 0; d < D; d++) dst[d] += g[d];
  }
}

rk_status mask_fill_node_forward_cpu(rk_graph *g, const rk_node *n) {
  const rk_value *x = rk_val(g, n->in[0]);
  int64_t D = x->shape[x->ndim - 1];
  rk_val(g, n->out[0])->rows = x->rows;
  mask_fill_forward_cpu(rk_x(g, n->out[0]), rk_x(g, n->in[0]), rk_xi(g, n->in[1]), n->n_in > 2 ? rk_xi(g, n->in[2]) : NULL,
                        n->params[0]->value.data, rk_val_numel_in_use(x) / D, D);
  return RK_OK;
}

void mask_fill_node_backward_cpu(rk_graph *g, const rk_node *n) {
  const rk_value *x = rk_val(g, n->in[0]);
  int64_t D = x->shape[x->ndim - 1];
  mask_fill_backward_cpu(rk_dx(g, n->in[0]), n->params[0]->grad.data, rk_dx(g, n->out[0]), rk_xi(g, n->in[1]),
                         n->n_in > 2 ? rk_xi(g, n->in[2]) : NULL, rk_val_numel_in_use(x) / D, D);
}

rk_status rk_graph_mask_fill(rk_graph *g, int *out, int x, int mask, rk_param *value) {
  RK_TRY(rk_graph_check_value(g, x, "mask_fill"));
  RK_TRY(rk_graph_check_value(g, mask, "mask_fill"));
  const rk_value *xv = rk_val(g, x), *mv = rk_val(g, mask);
  char bx[96], bm[96];
  if (xv->dtype != RK_DT_F32 || xv->ndim < 2 || mv->dtype != RK_DT_I64 || mv->ragged ||
      mv->numel * xv->shape[xv->ndim - 1] != xv->numel)
    return rk_error(RK_ESHAPE, "mask_fill: want x (B, T, D) and an int64 mask (B, T), not %s and %s",
                    rk_shape_str(xv, bx, sizeof bx), rk_shape_str(mv, bm, sizeof bm));
  if (!rk_param_declared(value) || value->sparse || value->value.ndim != 1 ||
      value->value.shape[0] != xv->shape[xv->ndim - 1])
    return rk_error(RK_ESHAPE, "mask_fill: the value must be a dense (%lld) parameter",
                    (long long)xv->shape[xv->ndim - 1]);
  int in[3] = {x, mask, xv->row_index}, n_in = xv->partial_rows ? 3 : 2;   /* packed: the mask read at the row index */
  rk_node *n;
  RK_TRY(rk_graph_simple_node(g, &n, out, RK_OP_MASK_FILL, n_in, in, RK_DT_F32, xv->ndim, xv->shape));
  return rk_graph_node_add_param(g, n, value);
}
