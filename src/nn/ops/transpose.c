/*
 * transpose: swap two axes (a copy). Seen as x (P, A, M, C, Q) -> out (P, C, M, A, Q) for axes
 * of sizes A and C with M between them.
 */
#include "nn/ops/ops.h"

void transpose_forward_cpu(float *out /* (P, C, M, A, Q) */, const float *x /* (P, A, M, C, Q) */, int64_t P,
                           int64_t A, int64_t M, int64_t C, int64_t Q) {
  for (int64_t p = 0; p < P; p++)
    for (int64_t a = 0; a < A; a++)
      for (int64_t m = 0; m < M; m++)
        for (int64_t c = 0; c < C; c++)
          for (int64_t q = 0; q < Q; q++)
            out[(((p * C + c) * M + m) * A + a) * Q + q] = x[(((p * A + a) * M + m) * C + c) * Q + q];
}

void transpose_backward_cpu(float *dx /* (P, A, M, C, Q) */, const float *dout /* (P, C, M, A, Q) */, int64_t P,
                            int64_t A, int64_t M, int64_t C, int64_t Q) {
  for (int64_t p = 0; p < P; p++)
    for (int64_t a = 0; a < A; a++)
      for (int64_t m = 0; m < M; m++)
        for (int64_t c = 0; c < C; c++)
          for (int64_t q = 0; q < Q; q++)
            dx[(((p * A + a) * M + m) * C + c) * Q + q] += dout[(((p * C + c) * M + m) * A + a) * Q + q];
}

static void dims(const rk_graph *g, const rk_node *n, int64_t *d) {
  const rk_value *x = rk_val(g, n->in[0]);
  int a = (int)n->iattr[0], b = (int)n->iattr[1];
  for (int i = 0; i < 5; i++) d[i] = 1;
  for (int i = 0; i < x->ndim; i++) d[i < a ? 0 : i == a ? 1 : i < b ? 2 : i == b ? 3 : 4] *= x->shape[i];
}

rk_status transpose_node_forward_cpu(rk_graph *g, const rk_node *n) {
  int64_t d[5];
  dims(g, n, d);
  transpose_forward_cpu(rk_x(g, n->out[0]), rk_x(g, n->in[0]), d[0], d[1], d[2], d[3], d[4]);
  return RK_OK;
}

void transpose_node_backward_cpu(rk_graph *g, const rk_node *n) {
  int64_t d[5];
  dims(g, n, d);
  if (rk_dx(g, n->in[0])) transpose_backward_cpu(rk_dx(g, n->in[0]), rk_dx(g, n->out[0]), d[0], d[1], d[2], d[3], d[4]);
}

rk_status rk_graph_transpose(rk_graph *g, int *out, int x, int a, int b) {
  RK_TRY(rk_graph_check_value(g, x, "transpose"));
  const rk_value *xv = rk_val(g, x);
  if (xv->dtype != RK_DT_F32) return rk_error(RK_EINVAL, "transpose: input must be f32");
  if (a < 0) a += xv->ndim;
  if (b < 0) b += xv->ndim;
  if (a < 0 || b < 0 || a >= xv->ndim || b >= xv->ndim || a == b)
    return rk_error(RK_EINVAL, "transpose: axes %d and %d must be two different axes of %d", a, b, xv->ndim);
  if (a > b) {
    int t = a;
    a = b;
    b = t;
  }
  int64_t shape[RK_TENSOR_MAX_DIMS];
  for (int i = 0; i < xv->ndim; i++) shape[i] = xv->shape[i];
  shape[a] = xv->shape[b];
  shape[b] = xv->shape[a];
  rk_node *n;
  RK_TRY(rk_graph_simple_node(g, &n, out, RK_OP_TRANSPOSE, 1, &x, RK_DT_F32, xv->ndim, shape));
  n->iattr[0] = a;
  n->iattr[1] = b;
  return RK_OK;
}
