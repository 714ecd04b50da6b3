/*
 * dot_interaction: DLRM's feature interaction (Naumov et al. 2019, "Deep Learning
 * Recommendation Model for Personalization and Recommendation Systems", sec. 2.1.3 and the
 * reference's interact_features with arch_interaction_itself = False).
 * T = [dense (B, D); emb (B, F, D)] as (B, F+1, D); Z = T T^T; out (B, D + P) is dense followed
 * by Z[i][j] for i = 1..F, j = 0..i-1 (row-major strict lower triangle, P = (F+1)F/2).
 */
#include <string.h>

#include "nn/graph_internal.h"

static inline const float *row_of(const float *dense, const float *emb, int64_t b, int64_t i, int64_t F,
                                  int64_t D) {
  return i == 0 ? dense + b * D : emb + (b * F + (i - 1)) * D;
}

void dot_interaction_forward_cpu(float *out /* (B, D + P) */, const float *dense /* (B, D) */,
                                 const float *emb /* (B, F, D) */, int64_t B, int64_t F, int64_t D) {
  int64_t P = (F + 1) * F / 2, W = D + P;
  for (int64_t b = 0; b < B; b++) {
    float *o = out + b * W;
    memcpy(o, dense + b * D, (size_t)D * sizeof(float));
    int64_t k = D;
    for (int64_t i = 1; i <= F; i++)
      for (int64_t j = 0; j < i; j++) {
        const float *ti = row_of(dense, emb, b, i, F, D), *tj = row_of(dense, emb, b, j, F, D);
        float s = 0.0f;
        for (int64_t d = 0; d < D; d++) s += ti[d] * tj[d];
        o[k++] = s;
      }
  }
}

void dot_interaction_backward_cpu(float *ddense /* (B, D) */, float *demb /* (B, F, D) */,
                                  const float *dout /* (B, D + P) */, const float *dense /* (B, D) */,
                                  const float *emb /* (B, F, D) */, int64_t B, int64_t F, int64_t D) {
  int64_t P = (F + 1) * F / 2, W = D + P;
  for (int64_t b = 0; b < B; b++) {
    const float *go = dout + b * W;
    if (ddense)
      for (int64_t d = 0; d < D; d++) ddense[b * D + d] += go[d];
    int64_t k = D;
    for (int64_t i = 1; i <= F; i++)
      for (int64_t j = 0; j < i; j++, k++) {
        const float *ti = row_of(dense, emb, b, i, F, D), *tj = row_of(dense, emb, b, j, F, D);
        float gk = go[k];
        float *gi = demb ? demb + (b * F + (i - 1)) * D : NULL;
        float *gj = j == 0 ? (ddense ? ddense + b * D : NULL) : (demb ? demb + (b * F + (j - 1)) * D : NULL);
        for (int64_t d = 0; d < D; d++) {
          if (gi) gi[d] += gk * tj[d];
          if (gj) gj[d] += gk * ti[d];
        }
      }
  }
}

rk_status dot_interaction_node_forward_cpu(rk_graph *g, const rk_node *n) {
  const rk_value *e = rk_val(g, n->in[1]);
  dot_interaction_forward_cpu(rk_x(g, n->out[0]), rk_x(g, n->in[0]), rk_x(g, n->in[1]), e->shape[0], e->shape[1],
                              e->shape[2]);
  return RK_OK;
}

void dot_interaction_node_backward_cpu(rk_graph *g, const rk_node *n) {
  const rk_value *e = rk_val(g, n->in[1]);
  dot_interaction_backward_cpu(rk_dx(g, n->in[0]), rk_dx(g, n->in[1]), rk_dx(g, n->out[0]), rk_x(g, n->in[0]),
                               rk_x(g, n->in[1]), e->shape[0], e->shape[1], e->shape[2]);
}

rk_status rk_graph_dot_interaction(rk_graph *g, int *out, int dense, int emb) {
  RK_TRY(rk_graph_check_value(g, dense, "dot_interaction"));
  RK_TRY(rk_graph_check_value(g, emb, "dot_interaction"));
  const rk_value *dv = rk_val(g, dense), *ev = rk_val(g, emb);
  if (dv->ndim != 2 || ev->ndim != 3 || ev->shape[0] != dv->shape[0] || ev->shape[2] != dv->shape[1] ||
      dv->dtype != RK_DT_F32 || ev->dtype != RK_DT_F32) {
    char bd[96], be[96];
    return rk_error(RK_ESHAPE, "dot_interaction: dense %s and embeddings %s must be (B, D) and (B, F, D)",
                    rk_shape_str(dv, bd, sizeof bd), rk_shape_str(ev, be, sizeof be));
  }
  int64_t F = ev->shape[1], D = ev->shape[2];
  int64_t shape[2] = {dv->shape[0], D + (F + 1) * F / 2};
  int in[2] = {dense, emb};
  return rk_graph_simple_node(g, NULL, out, RK_OP_DOT_INTERACTION, 2, in, RK_DT_F32, 2, shape);
}
