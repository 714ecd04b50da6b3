/*
 * fm: the factorization machine's interaction term (Rendle 2010, "Factorization Machines",
 * eq. 5 / lemma 3.1): sum_{i<j} <v_i, v_j> = 0.5 * sum_d ((sum_f v_fd)^2 - sum_f v_fd^2), in
 * O(F D). out (B, 1) adds the first-order term sum_f first (B, F) when given (the weights of
 * the active features, e.g. a D = 1 embedding of the same ids); the global bias is an add.
 */
#include "nn/graph_internal.h"

void fm_forward_cpu(float *out /* (B) */, const float *emb /* (B, F, D) */, const float *first /* (B, F) */,
                    int64_t B, int64_t F, int64_t D) {
  for (int64_t b = 0; b < B; b++) {
    double s = 0.0;
    for (int64_t d = 0; d < D; d++) {
      double sum = 0.0, sq = 0.0;
      for (int64_t f = 0; f < F; f++) {
        double v = emb[(b * F + f) * D + d];
        sum += v;
        sq += v * v;
      }
      s += 0.5 * (sum * sum - sq);
    }
    if (first)
      for (int64_t f = 0; f < F; f++) s += first[b * F + f];
    out[b] = (float)s;
  }
}

/* d/dv_fd = (sum_f' v_f'd) - v_fd */
void fm_backward_cpu(float *demb /* (B, F, D) */, float *dfirst /* (B, F) */, const float *dout /* (B) */,
                     const float *emb /* (B, F, D) */, int64_t B, int64_t F, int64_t D) {
  for (int64_t b = 0; b < B; b++) {
    if (demb)
      for (int64_t d = 0; d < D; d++) {
        float sum = 0.0f;
        for (int64_t f = 0; f < F; f++) sum += emb[(b * F + f) * D + d];
        for (int64_t f = 0; f < F; f++) demb[(b * F + f) * D + d] += dout[b] * (sum - emb[(b * F + f) * D + d]);
      }
    if (dfirst)
      for (int64_t f = 0; f < F; f++) dfirst[b * F + f] += dout[b];
  }
}

rk_status fm_node_forward_cpu(rk_graph *g, const rk_node *n) {
  const rk_value *e = rk_val(g, n->in[0]);
  fm_forward_cpu(rk_x(g, n->out[0]), rk_x(g, n->in[0]), n->n_in > 1 ? rk_x(g, n->in[1]) : NULL, e->shape[0],
                 e->shape[1], e->shape[2]);
  return RK_OK;
}

void fm_node_backward_cpu(rk_graph *g, const rk_node *n) {
  const rk_value *e = rk_val(g, n->in[0]);
  fm_backward_cpu(rk_dx(g, n->in[0]), n->n_in > 1 ? rk_dx(g, n->in[1]) : NULL, rk_dx(g, n->out[0]),
                  rk_x(g, n->in[0]), e->shape[0], e->shape[1], e->shape[2]);
}

rk_status rk_graph_fm(rk_graph *g, int *out, int emb, int first) {
  RK_TRY(rk_graph_check_value(g, emb, "fm"));
  const rk_value *e = rk_val(g, emb);
  char be[96], bf[96];
  if (e->ndim != 3 || e->dtype != RK_DT_F32)
    return rk_error(RK_ESHAPE, "fm: embeddings %s must be (B, F, D)", rk_shape_str(e, be, sizeof be));
  if (first != RK_NO_VALUE) {
    RK_TRY(rk_graph_check_value(g, first, "fm"));
    const rk_value *f = rk_val(g, first);
    if (f->numel != e->shape[0] * e->shape[1] || f->shape[0] != e->shape[0] || f->dtype != RK_DT_F32)
      return rk_error(RK_ESHAPE, "fm: first-order weights %s must be (B, F) = (%lld, %lld) for embeddings %s",
                      rk_shape_str(f, bf, sizeof bf), (long long)e->shape[0], (long long)e->shape[1],
                      rk_shape_str(e, be, sizeof be));
  }
  int in[2] = {emb, first};
  int64_t shape[2] = {e->shape[0], 1};
  return rk_graph_simple_node(g, NULL, out, RK_OP_FM, first == RK_NO_VALUE ? 1 : 2, in, RK_DT_F32, 2, shape);
}
