/*
 * gather_rows: the rows a loss needs, packed: out (R, D) = x (N, D) (x flattened over all but
 * its last axis) at index (R), row numbers in [0, N) up to the first -1 and -1 after it. The
 * n leading rows are out's rows in use this pass (docs/design.md, "Rows in use"): the ops
 * after it compute on n rows, not R, which is how a session model scores the whole catalogue
 * at its labelled rows only. Entries outside [0, N), or a row number after a -1, fail the
 * forward with RK_ERANGE naming the entry; x may itself have rows in use (a packed session body),
 * N then counting those. out keeps index as its row index and x's rows per session (T of a
 * (B, T, D)) as its row span, for the ops keyed by a row's original place (dropout, attention).
 * Not gather (per-session positions, zero rows for -1).
 * Backward adds row k's gradient into row index[k] for k < n, serially in k: rows may repeat,
 * and the sum's order is fixed whatever the threads.
 */
#include <string.h>

#include "nn/ops/ops.h"

rk_status gather_rows_forward_cpu(float *out /* (R, D) */, int64_t *n_used, const float *x /* (N, D) */,
                                  const int64_t *index /* (R) */, int64_t N, int64_t R, int64_t D) {
  int64_t n = 0;
  while (n < R && index[n] != -1) n++;
  for (int64_t k = 0; k < R; k++) {
    bool ok = k < n ? index[k] >= 0 && index[k] < N : index[k] == -1;
    if (!ok)
      return rk_error(RK_ERANGE, "gather_rows: entry %lld is %lld; want a row in [0, %lld) before the first -1 "
                      "(entry %lld) and -1 after it", (long long)k, (long long)index[k], (long long)N, (long long)n);
  }
  for (int64_t k = 0; k < n; k++) memcpy(out + k * D, x + index[k] * D, (size_t)D * sizeof(float));
  *n_used = n;
  return RK_OK;
}

void gather_rows_backward_cpu(float *dx /* (N, D) */, const float *dout /* (R, D) */, const int64_t *index /* (R) */,
                              int64_t n, int64_t D) {
  for (int64_t k = 0; k < n; k++) {
    float *d = dx + index[k] * D;
    const float *g = dout + k * D;
    for (int64_t j = 0; j < D; j++) d[j] += g[j];
  }
}

rk_status gather_rows_node_forward_cpu(rk_graph *g, const rk_node *n) {
  const rk_value *x = rk_val(g, n->in[0]), *ix = rk_val(g, n->in[1]);
  int64_t D = x->shape[x->ndim - 1];
  rk_value *out = rk_val(g, n->out[0]);
  return gather_rows_forward_cpu(rk_x(g, n->out[0]), &out->rows, rk_x(g, n->in[0]), rk_xi(g, n->in[1]),
                                 rk_val_numel_in_use(x) / D, ix->numel, D);
}

void gather_rows_node_backward_cpu(rk_graph *g, const rk_node *n) {
  const rk_value *x = rk_val(g, n->in[0]);
  if (rk_dx(g, n->in[0]))
    gather_rows_backward_cpu(rk_dx(g, n->in[0]), rk_dx(g, n->out[0]), rk_xi(g, n->in[1]), rk_val(g, n->out[0])->rows,
                             x->shape[x->ndim - 1]);
}

rk_status rk_graph_gather_rows(rk_graph *g, int *out, int x, int index) {
  RK_TRY(rk_graph_check_value(g, x, "gather_rows"));
  RK_TRY(rk_graph_check_value(g, index, "gather_rows"));
  const rk_value *xv = rk_val(g, x), *iv = rk_val(g, index);
  char bx[96], bi[96];
  if (xv->dtype != RK_DT_F32 || xv->ndim < 2 || iv->dtype != RK_DT_I64 || iv->ragged)
    return rk_error(RK_ESHAPE, "gather_rows: want x (..., D) and int64 row numbers, not %s and %s",
                    rk_shape_str(xv, bx, sizeof bx), rk_shape_str(iv, bi, sizeof bi));
  int64_t shape[2] = {iv->numel, xv->shape[xv->ndim - 1]}, span = xv->ndim >= 3 ? xv->shape[xv->ndim - 2] : 1;
  int in[2] = {x, index};
  RK_TRY(rk_graph_simple_node(g, NULL, out, RK_OP_GATHER_ROWS, 2, in, RK_DT_F32, 2, shape));
  rk_value *ov = rk_val(g, *out);
  ov->partial_rows = true;
  ov->row_index = index;
  ov->row_span = span;
  return RK_OK;
}
