/*
 * fm: the factorization machine's interaction term (Rendle 2010, "Factorization Machines",
 * eq. 5 / lemma 3.1): sum_{i<j} <v_i, v_j> = 0.5 * sum_d ((sum_f v_fd)^2 - sum_f v_fd^2), in
 * O(F D). out (B, 1) adds the first-order term sum_f first (B, F) when given (the weights of
 * the active features, e.g. a D = 1 embedding of the same ids); the global bias is an add.
 */
#include "nn/ops/ops.h"

/* Rows are independent: they are split over threads; inside a row, d runs in blocks with f as the
 * outer loop, so the sums vectorise while each (b, d) still adds its fields in order f = 0..F-1
 * (the same bits as the plain loops). */
#define FM_BLOCK 64

typedef struct {
  float *out, *demb, *dfirst;
  const float *emb, *first, *dout;
  int64_t F, D;
} fm_ctx;

static void fm_forward_rows(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const fm_ctx *c = arg;
  int64_t F = c->F, D = c->D;
  double sum[FM_BLOCK], sq[FM_BLOCK];
  for (int64_t b = begin; b < end; b++) {
    double s = 0.0;
    for (int64_t d0 = 0; d0 < D; d0 += FM_BLOCK) {
      int64_t n = D - d0 < FM_BLOCK ? D - d0 : FM_BLOCK;
      for (int64_t k = 0; k < n; k++) sum[k] = sq[k] = 0.0;
      for (int64_t f = 0; f < F; f++) {
        const float *e = c->emb + (b * F + f) * D + d0;
        for (int64_t k = 0; k < n; k++) {
          double v = e[k];
          sum[k] += v;
          sq[k] += v * v;
        }
      }
      for (int64_t k = 0; k < n; k++) s += 0.5 * (sum[k] * sum[k] - sq[k]);
    }
    if (c->first)
      for (int64_t f = 0; f < F; f++) s += c->first[b * F + f];
    c->out[b] = (float)s;
  }
}

void fm_forward_cpu(float *out /* (B) */, const float *emb /* (B, F, D) */, const float *first /* (B, F) */,
                    int64_t B, int64_t F, int64_t D) {
  fm_ctx c = {out, NULL, NULL, emb, first, NULL, F, D};
  rk_parallel_for(B, rk_row_grain(F * D), fm_forward_rows, &c);
}

/* d/dv_fd = (sum_f' v_f'd) - v_fd */
static void fm_backward_rows(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const fm_ctx *c = arg;
  int64_t F = c->F, D = c->D;
  float sum[FM_BLOCK];
  for (int64_t b = begin; b < end; b++) {
    float g = c->dout[b];
    for (int64_t d0 = 0; c->demb && d0 < D; d0 += FM_BLOCK) {
      int64_t n = D - d0 < FM_BLOCK ? D - d0 : FM_BLOCK;
      for (int64_t k = 0; k < n; k++) sum[k] = 0.0f;
      for (int64_t f = 0; f < F; f++) {
        const float *e = c->emb + (b * F + f) * D + d0;
        for (int64_t k = 0; k < n; k++) sum[k] += e[k];
      }
      for (int64_t f = 0; f < F; f++) {
        const float *e = c->emb + (b * F + f) * D + d0;
        float *de = c->demb + (b * F + f) * D + d0;
        for (int64_t k = 0; k < n; k++) de[k] += g * (sum[k] - e[k]);
      }
    }
    if (c->dfirst)
      for (int64_t f = 0; f < F; f++) c->dfirst[b * F + f] += g;
  }
}

void fm_backward_cpu(float *demb /* (B, F, D) */, float *dfirst /* (B, F) */, const float *dout /* (B) */,
                     const float *emb /* (B, F, D) */, int64_t B, int64_t F, int64_t D) {
  fm_ctx c = {NULL, demb, dfirst, emb, NULL, dout, F, D};
  rk_parallel_for(B, rk_row_grain(F * D), fm_backward_rows, &c);
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
