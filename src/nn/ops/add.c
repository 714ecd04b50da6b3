/*
 * add: out = a + b, where b has a's shape or a trailing part of it (broadcast over a's leading
 * axes, as a bias). Backward sums b's gradient over the broadcast rows in row order. With rows
 * in use (docs/design.md, "Rows in use") it adds those rows only: a packed b needs a packed a of
 * its shape (a residual over a packed session body) and the same rows in use each pass.
 */
#include "nn/ops/ops.h"

void add_forward_cpu(float *out /* (R, I) */, const float *a /* (R, I) */, const float *b /* (I) */,
                     int64_t R, int64_t I) {
  for (int64_t r = 0; r < R; r++)
    for (int64_t i = 0; i < I; i++) out[r * I + i] = a[r * I + i] + b[i];
}

void add_backward_cpu(float *da /* (R, I) */, float *db /* (I) */, const float *dout /* (R, I) */,
                      int64_t R, int64_t I) {
  if (da)
    for (int64_t k = 0; k < R * I; k++) da[k] += dout[k];
  if (db)
    for (int64_t r = 0; r < R; r++)
      for (int64_t i = 0; i < I; i++) db[i] += dout[r * I + i];
}

/* (R, I): b's elements in use, repeated R times over a's. */
static void dims(const rk_graph *g, const rk_node *n, int64_t *R, int64_t *I) {
  const rk_value *a = rk_val(g, n->in[0]), *b = rk_val(g, n->in[1]);
  *I = rk_val_numel_in_use(b);
  *R = *I ? rk_val_numel_in_use(a) / *I : 0;
}

rk_status add_node_forward_cpu(rk_graph *g, const rk_node *n) {
  const rk_value *a = rk_val(g, n->in[0]), *b = rk_val(g, n->in[1]);
  if (b->partial_rows && b->rows != a->rows)
    return rk_error(RK_EINVAL, "add: the inputs have %lld and %lld rows in use; a packed sum needs the same rows",
                    (long long)a->rows, (long long)b->rows);
  int64_t R, I;
  dims(g, n, &R, &I);
  rk_val(g, n->out[0])->rows = a->rows;
  add_forward_cpu(rk_x(g, n->out[0]), rk_x(g, n->in[0]), rk_x(g, n->in[1]), R, I);
  return RK_OK;
}

void add_node_backward_cpu(rk_graph *g, const rk_node *n) {
  int64_t R, I;
  dims(g, n, &R, &I);
  add_backward_cpu(rk_dx(g, n->in[0]), rk_dx(g, n->in[1]), rk_dx(g, n->out[0]), R, I);
}

/* Shared with mul: b's shape must be a's or a trailing part of it. */
rk_status rk_graph_broadcast_check(const rk_graph *g, int a, int b, const char *op) {
  RK_TRY(rk_graph_check_value(g, a, op));
  RK_TRY(rk_graph_check_value(g, b, op));
  const rk_value *av = rk_val(g, a), *bv = rk_val(g, b);
  bool ok = av->dtype == RK_DT_F32 && bv->dtype == RK_DT_F32 && bv->ndim <= av->ndim;
  for (int i = 0; ok && i < bv->ndim; i++)
    ok = bv->shape[bv->ndim - 1 - i] == av->shape[av->ndim - 1 - i];
  if (!ok) {
    char ba[96], bb[96];
    return rk_error(RK_ESHAPE, "%s: shapes %s and %s do not match (the second must equal the first or its trailing axes)",
                    op, rk_shape_str(av, ba, sizeof ba), rk_shape_str(bv, bb, sizeof bb));
  }
  return RK_OK;
}

rk_status rk_graph_add(rk_graph *g, int *out, int a, int b) {
  RK_TRY(rk_graph_broadcast_check(g, a, b, "add"));
  int in[2] = {a, b};
  const rk_value *av = rk_val(g, a), *bv = rk_val(g, b);
  if (bv->partial_rows && (!av->partial_rows || av->ndim != bv->ndim))
    return rk_error(RK_EINVAL, "add: input 1 has rows in use (from gather_rows); input 0 must be packed alike, "
                    "with the same shape");
  return rk_graph_simple_node(g, NULL, out, RK_OP_ADD, 2, in, RK_DT_F32, av->ndim, av->shape);
}
