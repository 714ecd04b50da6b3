/*
 * matmul: out = a b, batched over a leading axis S when a is 3-d; b is (S, K, N) batched or
 * (K, N) shared by every slice (its gradient is then summed over slices in slice order).
 */
#include "nn/ops/ops.h"

void matmul_forward_cpu(float *out /* (S, M, N) */, const float *a /* (S, M, K) */,
                        const float *b /* (S, K, N) or (K, N) */, int64_t S, int64_t M, int64_t K, int64_t N,
                        bool b_batched) {
  for (int64_t s = 0; s < S; s++)
    rk_sgemm(false, false, M, N, K, 1.0f, a + s * M * K, K,
                b + (b_batched ? s * K * N : 0), N, 0.0f, out + s * M * N, N);
}

void matmul_backward_cpu(float *da /* (S, M, K) */, float *db /* (S, K, N) or (K, N) */,
                         const float *dout /* (S, M, N) */, const float *a, const float *b, int64_t S, int64_t M,
                         int64_t K, int64_t N, bool b_batched) {
  for (int64_t s = 0; s < S; s++) {
    const float *bs = b + (b_batched ? s * K * N : 0), *go = dout + s * M * N;
    if (da)
      rk_sgemm(false, true, M, K, N, 1.0f, go, N, bs, N,
                  1.0f, da + s * M * K, K);
    if (db)
      rk_sgemm(true, false, K, N, M, 1.0f, a + s * M * K, K, go,
                  N, 1.0f, db + (b_batched ? s * K * N : 0), N);
  }
}

static void dims(const rk_graph *g, const rk_node *n, int64_t *S, int64_t *M, int64_t *K, int64_t *N, bool *bb) {
  const rk_value *a = rk_val(g, n->in[0]), *b = rk_val(g, n->in[1]);
  *S = a->ndim == 3 ? a->shape[0] : 1;
  *M = a->shape[a->ndim - 2];
  *K = a->shape[a->ndim - 1];
  *N = b->shape[b->ndim - 1];
  *bb = b->ndim == 3;
}

rk_status matmul_node_forward_cpu(rk_graph *g, const rk_node *n) {
  int64_t S, M, K, N;
  bool bb;
  dims(g, n, &S, &M, &K, &N, &bb);
  matmul_forward_cpu(rk_x(g, n->out[0]), rk_x(g, n->in[0]), rk_x(g, n->in[1]), S, M, K, N, bb);
  return RK_OK;
}

void matmul_node_backward_cpu(rk_graph *g, const rk_node *n) {
  int64_t S, M, K, N;
  bool bb;
  dims(g, n, &S, &M, &K, &N, &bb);
  matmul_backward_cpu(rk_dx(g, n->in[0]), rk_dx(g, n->in[1]), rk_dx(g, n->out[0]), rk_x(g, n->in[0]),
                      rk_x(g, n->in[1]), S, M, K, N, bb);
}

rk_status rk_graph_matmul(rk_graph *g, int *out, int a, int b) {
  RK_TRY(rk_graph_check_value(g, a, "matmul"));
  RK_TRY(rk_graph_check_value(g, b, "matmul"));
  const rk_value *av = rk_val(g, a), *bv = rk_val(g, b);
  char ba[96], bb[96];
  bool ok = av->dtype == RK_DT_F32 && bv->dtype == RK_DT_F32 && (av->ndim == 2 || av->ndim == 3) && (bv->ndim == 2 || (bv->ndim == 3 && av->ndim == 3)) &&
            av->shape[av->ndim - 1] == bv->shape[bv->ndim - 2] &&
            (bv->ndim == 2 || bv->shape[0] == av->shape[0]);
  if (!ok)
    return rk_error(RK_ESHAPE, "matmul: cannot multiply %s by %s (want (M, K)(K, N), (S, M, K)(S, K, N) or (S, M, K)(K, N))",
                    rk_shape_str(av, ba, sizeof ba), rk_shape_str(bv, bb, sizeof bb));
  int64_t shape[3];
  int nd = av->ndim;
  for (int i = 0; i < nd - 1; i++) shape[i] = av->shape[i];
  shape[nd - 1] = bv->shape[bv->ndim - 1];
  int in[2] = {a, b};
  return rk_graph_simple_node(g, NULL, out, RK_OP_MATMUL, 2, in, RK_DT_F32, nd, shape);
}
