/*
 * rtd_replace: the corrupted sequence of replacement token detection (ELECTRA, Clark et al.
 * 2020, sec. 2): at each row the masked LM predicts, an item sampled from the generator's
 * softmax, x^corrupt_i ~ p_G(x_i | x^masked), by the Gumbel-max trick,
 *   draw = argmax_v (z_v / temperature + G_v),  G_v = -log(-log U_v),  U_v ~ U(0, 1),
 * which is a sample of softmax(z / temperature). Candidates v: the whole catalogue, or
 * (from_batch) the labelled rows' own targets, as Transformers4Rec's get_fake_data (recsys2021,
 * masking; its logits_all[:, labels_all]). Row r's noise comes from the (seed, step, r) stream
 * (r = session x T + position), so the draws do not depend on threads or on which rows are
 * computed first: the rows are drawn in parallel.
 *
 * Outputs, over the B T rows: fake (the items, draws at the labelled rows), source (the row whose
 * interaction each row shows: itself, or for a draw from the batch the labelled row whose target
 * was drawn; --rtd_use_batch_interaction's rows, src/nn/ops/rtd_interaction.c), replaced (1 where
 * a draw differs from the item: a draw of the original counts as original, as the paper's labels)
 * and the discriminator's weight, (B T) / m at the m rows whose item is not padding, 0
 * elsewhere: the bce_logits mean under it is the mean over the non-padding rows.
 * Not differentiable: the draws are ids; nothing flows back into the generator's logits (the
 * paper's "we do not back-propagate the discriminator loss through the generator").
 */
#include "nn/ops/ops.h"

/* Apart from the masking, dropout and parameter streams. */
#define RTD_STREAM_SALT UINT64_C(0x7274645f67756d62)

static float gumbel(rk_rng *rng) {
  double u = rk_rng_uniform(rng);   /* [0, 1): keep it off 0, whose -log(-log u) is -inf */
  if (u <= 0.0) u = 0x1p-53;
  return (float)-log(-log(u));
}

typedef struct {
  int64_t *fake, *source;
  const float *z;
  const int64_t *rows, *packed, *given;
  int64_t n, V;
  float inv;
  bool from_batch;
  uint64_t seed, step;
} draw_ctx;

/* Packed rows [begin, end): each its own stream, so chunks may run in any order on any thread.
 * The rows named are distinct (gather_rows' packing of the labelled rows). */
static void draw_rows(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const draw_ctx *c = arg;
  for (int64_t i = begin; i < end; i++) {
    const int64_t r = c->rows[i];
    if (c->given) {   /* fixed draws (tests); from the batch, the first labelled row with the item */
      c->fake[r] = c->given[r];
      for (int64_t k = 0; c->from_batch && k < c->n; k++)
        if (c->packed[k] == c->given[r]) {
          c->source[r] = c->rows[k];
          break;
        }
      continue;
    }
    rk_rng rng;
    rk_rng_init(&rng, c->seed ^ RTD_STREAM_SALT, (c->step << 32) ^ (uint64_t)r);
    const float *zi = c->z + i * c->V;
    int64_t best = -1;
    float top = -INFINITY;
    for (int64_t k = 0, K = c->from_batch ? c->n : c->V; k < K; k++) {
      int64_t v = c->from_batch ? c->packed[k] : k;
      float s = zi[v] * c->inv + gumbel(&rng);
      if (best < 0 || s > top) best = k, top = s;
    }
    c->fake[r] = c->from_batch ? c->packed[best] : best;
    if (c->from_batch) c->source[r] = c->rows[best];
  }
}

void rtd_replace_forward_cpu(int64_t *fake /* (R) */, int64_t *source /* (R) */, float *replaced /* (R) */,
                             float *weight /* (R) */,
                             const float *z /* (R, V) packed */, const int64_t *rows /* (R) */,
                             const int64_t *packed /* (R) */, const int64_t *items /* (R) */, int64_t R, int64_t V,
                             int64_t padding, float temperature, bool from_batch, const int64_t *given /* (R) */,
                             uint64_t seed, uint64_t step) {
  int64_t n = 0, m = 0;
  while (n < R && rows[n] >= 0) n++;
  for (int64_t r = 0; r < R; r++) {
    fake[r] = items[r];
    source[r] = r;
    m += items[r] != padding;
  }
  draw_ctx c = {.fake = fake, .source = source, .z = z, .rows = rows, .packed = packed, .given = given, .n = n, .V = V,
                .inv = 1.0f / temperature, .from_batch = from_batch, .seed = seed, .step = step};
  rk_parallel_for(n, rk_row_grain(from_batch ? n : V), draw_rows, &c);
  const float w = m ? (float)R / (float)m : 0.0f;
  for (int64_t r = 0; r < R; r++) {
    replaced[r] = fake[r] != items[r] ? 1.0f : 0.0f;
    weight[r] = items[r] != padding ? w : 0.0f;
  }
}

rk_status rtd_replace_node_forward_cpu(rk_graph *g, const rk_node *n) {
  const rk_value *z = rk_val(g, n->in[0]), *items = rk_val(g, n->in[3]);
  rtd_replace_forward_cpu(rk_xi(g, n->out[0]), rk_xi(g, n->out[3]), rk_x(g, n->out[1]), rk_x(g, n->out[2]), rk_x(g, n->in[0]),
                          rk_xi(g, n->in[1]), rk_xi(g, n->in[2]), rk_xi(g, n->in[3]), items->numel,
                          z->shape[z->ndim - 1], n->iattr[0], n->fattr[0], n->iattr[1] != 0, (const int64_t *)(intptr_t)n->iattr[2], g->seed, g->step);
  return RK_OK;
}

void rtd_replace_node_backward_cpu(rk_graph *g, const rk_node *n) {
  (void)g;
  (void)n;   /* draws are ids: nothing flows back */
}

rk_status rk_graph_rtd_replace_fix(rk_graph *g, int fake, const int64_t *given) {
  RK_TRY(rk_graph_check_value(g, fake, "rtd_replace_fix"));
  int producer = rk_val(g, fake)->producer;
  if (producer < 0 || g->nodes[producer].op != RK_OP_RTD_REPLACE || g->nodes[producer].out[0] != fake)
    return rk_error(RK_EINVAL, "rtd_replace_fix: value %d is not the draws of an rtd_replace", fake);
  g->nodes[producer].iattr[2] = (int64_t)(intptr_t)given;   /* the node's attributes are integers */
  return RK_OK;
}

rk_status rk_graph_rtd_replace(rk_graph *g, int *fake, int *source, int *replaced, int *weight, int logits, int rows,
                               int packed, int items, int64_t padding, float temperature, bool from_batch) {
  int in[4] = {logits, rows, packed, items};
  for (int k = 0; k < 4; k++) RK_TRY(rk_graph_check_value(g, in[k], "rtd_replace"));
  const rk_value *z = rk_val(g, logits), *r = rk_val(g, rows), *p = rk_val(g, packed), *x = rk_val(g, items);
  char bz[96], bx[96];
  if (z->dtype != RK_DT_F32 || z->ndim < 2 || x->dtype != RK_DT_I64 || x->ragged || r->dtype != RK_DT_I64 ||
      p->dtype != RK_DT_I64 || r->numel != x->numel || p->numel != x->numel ||
      z->numel != x->numel * z->shape[z->ndim - 1])
    return rk_error(RK_ESHAPE, "rtd_replace: logits %s must be (R, V) over the R rows of int64 items %s, with int64 "
                    "rows and packed targets of R each", rk_shape_str(z, bz, sizeof bz), rk_shape_str(x, bx, sizeof bx));
  if (!(temperature > 0.0f && temperature < INFINITY))
    return rk_error(RK_EINVAL, "rtd_replace: temperature %g must be positive and finite", temperature);
  int v[4];   /* fake, replaced, weight, source */
  RK_TRY(rk_graph_add_value(g, &v[0], RK_DT_I64, x->ndim, x->shape));
  RK_TRY(rk_graph_add_value(g, &v[1], RK_DT_F32, x->ndim, x->shape));
  RK_TRY(rk_graph_add_value(g, &v[2], RK_DT_F32, x->ndim, x->shape));
  RK_TRY(rk_graph_add_value(g, &v[3], RK_DT_I64, x->ndim, x->shape));
  rk_node *n;
  RK_TRY(rk_graph_add_node(g, &n, RK_OP_RTD_REPLACE, 4, in));
  for (int k = 0; k < 4; k++) rk_graph_node_set_out(g, n, k, v[k]);
  n->iattr[0] = padding;
  n->iattr[1] = from_batch;
  n->fattr[0] = temperature;
  *fake = v[0];
  *source = v[3];
  *replaced = v[1];
  *weight = v[2];
  return RK_OK;
}
