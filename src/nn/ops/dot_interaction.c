/*
 * dot_interaction: DLRM's feature interaction (Naumov et al. 2019, "Deep Learning
 * Recommendation Model for Personalization and Recommendation Systems", sec. 2.1.3 and the
 * reference's interact_features with arch_interaction_itself = False).
 * T = [dense (B, D); emb (B, F, D)] as (B, F+1, D); Z = T T^T; out (B, D + P) is dense followed
 * by Z[i][j] for i = 1..F, j = 0..i-1 (row-major strict lower triangle, P = (F+1)F/2).
 */
#include <string.h>

#include "nn/ops/ops.h"

static inline const float *row_of(const float *dense, const float *emb, int64_t b, int64_t i, int64_t F,
                                  int64_t D) {
  return i == 0 ? dense + b * D : emb + (b * F + (i - 1)) * D;
}

static void axpy(float *restrict y, float a, const float *restrict x, int64_t D) {
  for (int64_t d = 0; d < D; d++) y[d] += a * x[d];
}

typedef struct {
  float *out, *ddense, *demb;
  const float *dout, *dense, *emb;
  int64_t F, D;
} di_ctx;

static void forward_rows(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const di_ctx *c = arg;
  int64_t F = c->F, D = c->D, W = D + (F + 1) * F / 2;
  for (int64_t b = begin; b < end; b++) {
    float *o = c->out + b * W;
    memcpy(o, c->dense + b * D, (size_t)D * sizeof(float));
    int64_t k = D;
    for (int64_t i = 1; i <= F; i++)
      for (int64_t j = 0; j < i; j++)
        o[k++] = rk_dot8(row_of(c->dense, c->emb, b, i, F, D), row_of(c->dense, c->emb, b, j, F, D), D);
  }
}

void dot_interaction_forward_cpu(float *out /* (B, D + P) */, const float *dense /* (B, D) */,
                                 const float *emb /* (B, F, D) */, int64_t B, int64_t F, int64_t D) {
  di_ctx c = {out, NULL, NULL, NULL, dense, emb, F, D};
  rk_parallel_for(B, rk_row_grain((F + 1) * F / 2 * D), forward_rows, &c);
}

/* The gradient row of T's row i for example b (NULL when that input needs none). */
static float *grad_row(const di_ctx *c, int64_t b, int64_t i) {
  if (i == 0) return c->ddense ? c->ddense + b * c->D : NULL;
  return c->demb ? c->demb + (b * c->F + (i - 1)) * c->D : NULL;
}

static void backward_rows(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const di_ctx *c = arg;
  int64_t F = c->F, D = c->D, W = D + (F + 1) * F / 2;
  for (int64_t b = begin; b < end; b++) {
    const float *go = c->dout + b * W;
    if (c->ddense) axpy(c->ddense + b * D, 1.0f, go, D);
    int64_t k = D;
    for (int64_t i = 1; i <= F; i++)
      for (int64_t j = 0; j < i; j++, k++) {
        float *gi = grad_row(c, b, i), *gj = grad_row(c, b, j);
        if (gi) axpy(gi, go[k], row_of(c->dense, c->emb, b, j, F, D), D);
        if (gj) axpy(gj, go[k], row_of(c->dense, c->emb, b, i, F, D), D);
      }
  }
}

void dot_interaction_backward_cpu(float *ddense /* (B, D) */, float *demb /* (B, F, D) */,
                                  const float *dout /* (B, D + P) */, const float *dense /* (B, D) */,
                                  const float *emb /* (B, F, D) */, int64_t B, int64_t F, int64_t D) {
  di_ctx c = {NULL, ddense, demb, dout, dense, emb, F, D};
  rk_parallel_for(B, rk_row_grain((F + 1) * F * D), backward_rows, &c);
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
