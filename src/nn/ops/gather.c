/*
 * gather: per session, rows of a sequence at given positions: out (B, K, D) = x (B, T, D) at
 * index (B, K), an int64 position in [0, T) or -1 for "none" (a zero row, no gradient). It reads
 * the last item of each session (K = 1, rk_seq_last_positions) or the masked positions of a
 * masked-LM batch (K = the most masked in a session, -1 after the last). Positions outside
 * [-1, T) fail the forward with RK_ERANGE, naming session and slot.
 * Backward adds each slot's gradient into its row, slots in order (one session per work item).
 * x may be a packed session body instead (R, D) with rows in use (docs/design.md, "Rows in
 * use"): index (B, K) then holds packed row numbers in [0, rows in use) or -1, read as one
 * sequence of all the rows.
 */
#include <string.h>

#include "nn/ops/ops.h"

void rk_seq_last_positions(int64_t *index /* (B) */, const int64_t *ids /* (B, T) */, int64_t B, int64_t T,
                           int64_t padding) {
  for (int64_t b = 0; b < B; b++) {
    index[b] = -1;
    for (int64_t t = T - 1; t >= 0; t--)
      if (ids[b * T + t] != padding) {
        index[b] = t;
        break;
      }
  }
}

rk_status gather_forward_cpu(float *out /* (B, K, D) */, const float *x /* (B, T, D) */, const int64_t *index /* (B, K) */,
                             int64_t B, int64_t T, int64_t K, int64_t D) {
  for (int64_t i = 0; i < B * K; i++)
    if (index[i] < -1 || index[i] >= T)
      return rk_error(RK_ERANGE, "gather: position %lld of session %lld, slot %lld, is outside [0, %lld) (or -1 for none)",
                      (long long)index[i], (long long)(i / K), (long long)(i % K), (long long)T);
  for (int64_t i = 0; i < B * K; i++) {
    float *o = out + i * D;
    if (index[i] < 0) memset(o, 0, (size_t)D * sizeof(float));
    else memcpy(o, x + ((i / K) * T + index[i]) * D, (size_t)D * sizeof(float));
  }
  return RK_OK;
}

typedef struct {
  float *dx;
  const float *dout;
  const int64_t *index;
  int64_t T, K, D;
} gather_bwd_ctx;

static void gather_bwd_sessions(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const gather_bwd_ctx *c = arg;
  for (int64_t b = begin; b < end; b++)
    for (int64_t k = 0; k < c->K; k++) {
      int64_t t = c->index[b * c->K + k];
      if (t < 0) continue;
      float *d = c->dx + (b * c->T + t) * c->D;
      const float *g = c->dout + (b * c->K + k) * c->D;
      for (int64_t j = 0; j < c->D; j++) d[j] += g[j];
    }
}

void gather_backward_cpu(float *dx /* (B, T, D) */, const float *dout /* (B, K, D) */, const int64_t *index /* (B, K) */,
                         int64_t B, int64_t T, int64_t K, int64_t D) {
  gather_bwd_ctx c = {dx, dout, index, T, K, D};
  rk_parallel_for(B, rk_row_grain(K * D), gather_bwd_sessions, &c);
}

/* Packed x: one sequence of its rows in use, every entry of the index a slot of it. */
static void dims(const rk_graph *g, const rk_node *n, int64_t *B, int64_t *T, int64_t *K, int64_t *D) {
  const rk_value *x = rk_val(g, n->in[0]), *ix = rk_val(g, n->in[1]);
  const bool packed = x->partial_rows;
  *B = packed ? 1 : x->shape[0];
  *T = packed ? x->rows : x->shape[1];
  *D = x->shape[x->ndim - 1];
  *K = packed ? ix->numel : ix->shape[1];
}

rk_status gather_node_forward_cpu(rk_graph *g, const rk_node *n) {
  int64_t B, T, K, D;
  dims(g, n, &B, &T, &K, &D);
  const int64_t *index = rk_xi(g, n->in[1]), slots = rk_val(g, n->in[1])->shape[1];
  for (int64_t i = 0; rk_val(g, n->in[0])->partial_rows && i < K; i++)   /* name the session and slot */
    if (index[i] < -1 || index[i] >= T)
      return rk_error(RK_ERANGE, "gather: session %lld, slot %lld, reads packed row %lld, outside the %lld rows in use "
                      "(or -1 for none)", (long long)(i / slots), (long long)(i % slots), (long long)index[i],
                      (long long)T);
  return gather_forward_cpu(rk_x(g, n->out[0]), rk_x(g, n->in[0]), index, B, T, K, D);
}

void gather_node_backward_cpu(rk_graph *g, const rk_node *n) {
  int64_t B, T, K, D;
  dims(g, n, &B, &T, &K, &D);
  if (rk_dx(g, n->in[0])) gather_backward_cpu(rk_dx(g, n->in[0]), rk_dx(g, n->out[0]), rk_xi(g, n->in[1]), B, T, K, D);
}

rk_status rk_graph_gather(rk_graph *g, int *out, int x, int index) {
  RK_TRY(rk_graph_check_value(g, x, "gather"));
  RK_TRY(rk_graph_check_value(g, index, "gather"));
  const rk_value *xv = rk_val(g, x), *iv = rk_val(g, index);
  char bx[96], bi[96];
  const bool packed = xv->partial_rows;
  if (xv->dtype != RK_DT_F32 || xv->ndim != (packed ? 2 : 3) || iv->dtype != RK_DT_I64 || iv->ragged ||
      iv->ndim != 2 || (!packed && iv->shape[0] != xv->shape[0]))
    return rk_error(RK_ESHAPE, "gather: want x (B, T, D) or packed rows (R, D), and int64 positions (B, K), not %s "
                    "and %s", rk_shape_str(xv, bx, sizeof bx), rk_shape_str(iv, bi, sizeof bi));
  int64_t shape[3] = {iv->shape[0], iv->shape[1], xv->shape[xv->ndim - 1]};
  int in[2] = {x, index};
  return rk_graph_simple_node(g, NULL, out, RK_OP_GATHER, 2, in, RK_DT_F32, 3, shape);
}
