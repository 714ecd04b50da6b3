/*
 * seq_mean: the mean of each session's real positions, out (B, D) = sum_t x (B, T, D) [ids[b, t]
 * != padding] / count, zeros for a session without items: the `avgseq` model's body (the floor the
 * session models are compared with). Backward spreads dout / count over the real positions.
 */
#include <string.h>

#include "nn/ops/ops.h"

void seq_mean_forward_cpu(float *out /* (B, D) */, const float *x /* (B, T, D) */, const int64_t *ids /* (B, T) */,
                          int64_t B, int64_t T, int64_t D, int64_t padding) {
  for (int64_t b = 0; b < B; b++) {
    float *o = out + b * D;
    memset(o, 0, (size_t)D * sizeof(float));
    int64_t count = 0;
    for (int64_t t = 0; t < T; t++) {
      if (ids[b * T + t] == padding) continue;
      const float *xr = x + (b * T + t) * D;
      for (int64_t d = 0; d < D; d++) o[d] += xr[d];
      count++;
    }
    if (count > 1)
      for (int64_t d = 0; d < D; d++) o[d] /= (float)count;
  }
}

void seq_mean_backward_cpu(float *dx /* (B, T, D) */, const float *dout /* (B, D) */, const int64_t *ids /* (B, T) */,
                           int64_t B, int64_t T, int64_t D, int64_t padding) {
  for (int64_t b = 0; b < B; b++) {
    int64_t count = 0;
    for (int64_t t = 0; t < T; t++) count += ids[b * T + t] != padding;
    if (!count) continue;
    const float inv = 1.0f / (float)count, *g = dout + b * D;
    for (int64_t t = 0; t < T; t++) {
      if (ids[b * T + t] == padding) continue;
      float *d = dx + (b * T + t) * D;
      for (int64_t k = 0; k < D; k++) d[k] += g[k] * inv;
    }
  }
}

static void dims(const rk_graph *g, const rk_node *n, int64_t *B, int64_t *T, int64_t *D) {
  const rk_value *x = rk_val(g, n->in[0]);
  *B = x->shape[0];
  *T = x->shape[1];
  *D = x->shape[2];
}

rk_status seq_mean_node_forward_cpu(rk_graph *g, const rk_node *n) {
  int64_t B, T, D;
  dims(g, n, &B, &T, &D);
  seq_mean_forward_cpu(rk_x(g, n->out[0]), rk_x(g, n->in[0]), rk_xi(g, n->in[1]), B, T, D, n->iattr[0]);
  return RK_OK;
}

void seq_mean_node_backward_cpu(rk_graph *g, const rk_node *n) {
  int64_t B, T, D;
  dims(g, n, &B, &T, &D);
  if (rk_dx(g, n->in[0]))
    seq_mean_backward_cpu(rk_dx(g, n->in[0]), rk_dx(g, n->out[0]), rk_xi(g, n->in[1]), B, T, D, n->iattr[0]);
}

rk_status rk_graph_seq_mean(rk_graph *g, int *out, int x, int ids, int64_t padding) {
  RK_TRY(rk_graph_check_value(g, x, "seq_mean"));
  RK_TRY(rk_graph_check_value(g, ids, "seq_mean"));
  const rk_value *xv = rk_val(g, x), *iv = rk_val(g, ids);
  char bx[96], bi[96];
  if (xv->dtype != RK_DT_F32 || xv->ndim != 3 || iv->dtype != RK_DT_I64 || iv->ragged || iv->ndim != 2 ||
      iv->shape[0] != xv->shape[0] || iv->shape[1] != xv->shape[1])
    return rk_error(RK_ESHAPE, "seq_mean: want x (B, T, D) and int64 ids (B, T), not %s and %s",
                    rk_shape_str(xv, bx, sizeof bx), rk_shape_str(iv, bi, sizeof bi));
  int64_t shape[2] = {xv->shape[0], xv->shape[2]};
  int in[2] = {x, ids};
  rk_node *n;
  RK_TRY(rk_graph_simple_node(g, &n, out, RK_OP_SEQ_MEAN, 2, in, RK_DT_F32, 2, shape));
  n->iattr[0] = padding;
  return RK_OK;
}
