/*
 * hash_cross: a hashed 2-way feature cross for a wide (linear) part, as Wide & Deep's cross
 * product transformations (Cheng et al. 2016, sec. 3.1) are usually hashed:
 *   out (B, 1) = 1 + h(a[:, fa], b[:, fb]) mod (buckets - 1), and 0 (padding) when either id is 0.
 * h is reckon's one hash (rk_hash_cross of the two ids' rk_hash_int, reckon/core.h), so a cross
 * lands in the same bucket in training, in the Wide & Deep recipe and in serving. Ids carry no
 * gradient; feed out to an embedding with D = 1 (the weights).
 */
#include "nn/ops/ops.h"

void hash_cross_forward_cpu(int64_t *out /* (B) */, const int64_t *a /* (B, Fa) */, const int64_t *b /* (B, Fb) */,
                            int64_t B, int64_t Fa, int64_t fa, int64_t Fb, int64_t fb, int64_t buckets) {
  for (int64_t i = 0; i < B; i++) {
    int64_t x = a[i * Fa + fa], y = b[i * Fb + fb];
    out[i] = (x == 0 || y == 0) ? 0
                                : 1 + (int64_t)(rk_hash_cross(rk_hash_int(x), rk_hash_int(y)) % (uint64_t)(buckets - 1));
  }
}

rk_status hash_cross_node_forward_cpu(rk_graph *g, const rk_node *n) {
  const rk_value *a = rk_val(g, n->in[0]), *b = rk_val(g, n->in[1]);
  hash_cross_forward_cpu(rk_xi(g, n->out[0]), rk_xi(g, n->in[0]), rk_xi(g, n->in[1]), g->batch, a->shape[1],
                         n->iattr[0], b->shape[1], n->iattr[1], n->iattr[2]);
  return RK_OK;
}

void hash_cross_node_backward_cpu(rk_graph *g, const rk_node *n) {
  (void)g;
  (void)n;   /* integer ids: nothing flows back */
}

rk_status rk_graph_hash_cross(rk_graph *g, int *out, int a, int fa, int b, int fb, int64_t buckets) {
  RK_TRY(rk_graph_check_value(g, a, "hash_cross"));
  RK_TRY(rk_graph_check_value(g, b, "hash_cross"));
  const rk_value *av = rk_val(g, a), *bv = rk_val(g, b);
  char ba[96], bb[96];
  if (av->dtype != RK_DT_I64 || bv->dtype != RK_DT_I64 || av->ndim != 2 || bv->ndim != 2 || av->ragged ||
      bv->ragged || fa < 0 || fa >= av->shape[1] || fb < 0 || fb >= bv->shape[1])
    return rk_error(RK_ESHAPE, "hash_cross: ids %s column %d and %s column %d must be columns of (B, F) int64 ids",
                    rk_shape_str(av, ba, sizeof ba), fa, rk_shape_str(bv, bb, sizeof bb), fb);
  if (buckets < 2) return rk_error(RK_EINVAL, "hash_cross: %lld buckets; at least 2", (long long)buckets);
  int in[2] = {a, b};
  int64_t shape[2] = {g->batch, 1};
  rk_node *n;
  RK_TRY(rk_graph_simple_node(g, &n, out, RK_OP_HASH_CROSS, 2, in, RK_DT_I64, 2, shape));
  n->iattr[0] = fa;
  n->iattr[1] = fb;
  n->iattr[2] = buckets;
  return RK_OK;
}
