/*
 * rtd_replace: the corrupted sequence of replacement token detection (ELECTRA, Clark et al.
 * 2020, sec. 2): at each row the masked LM predicts, an item sampled from the generator's
 * softmax at its temperature, x^corrupt_i ~ p_G(x_i | x^masked) = softmax(z / temperature), by
 * inversion: one uniform U, and the first candidate whose running sum of exp((z_v - max) /
 * temperature) passes U times the whole sum. The reference adds Gumbel noise to every logit and
 * takes the argmax, which is a sample of the same softmax but costs two logarithms per item of
 * the catalogue per row (measured: about 7% of an unpacked electra step on 1203 items);
 * inversion costs one uniform and the exponentials. Candidates v: the whole catalogue, or
 * (from_batch) the labelled rows' own targets, repeats included, as Transformers4Rec's
 * get_fake_data (recsys2021, masking; its logits_all[:, labels_all]). Row r's uniform comes from
 * the (seed, step, r) stream (r = session x T + position) and its sums run in double in an order
 * fixed by the candidates alone, so a draw does not depend on threads, on which rows are
 * computed first, or on whether the body was packed: the rows are drawn in parallel.
 *
 * Rows: the body's rows are every row of B T, or (body_rows given: a packed body,
 * docs/design.md "Rows in use") the rows it lists, in order, then -1; `rows` names the labelled
 * rows among the body's rows (packed row numbers when packed), in the order of the logits.
 * Outputs: fake and source over the B T rows (the corrupted items, draws at the labelled rows,
 * for the input stage; the row whose interaction each row shows: itself, or for a draw from the
 * batch the labelled row whose target was drawn, --rtd_use_batch_interaction's rows,
 * src/nn/ops/rtd_interaction.c); replaced and weight over the body's rows, in its order (what
 * the discriminator's BCE reads): 1 where a draw differs from the item (a draw of the original
 * counts as original, as the paper's labels), and n / m at the m of the n body rows whose item
 * is not padding, 0 elsewhere, so the bce_logits mean over the n rows is the mean over the m.
 * Not differentiable: the draws are ids; nothing flows back into the generator's logits (the
 * paper's "we do not back-propagate the discriminator loss through the generator").
 */
#include <math.h>

#include "nn/ops/ops.h"

/* Apart from the masking, dropout and parameter streams. */
#define RTD_STREAM_SALT UINT64_C(0x7274645f67756d62)

typedef struct {
  int64_t *fake, *source;
  const float *z;
  const int64_t *rows, *packed, *body, *given;
  int64_t n, V;
  float inv;
  bool from_batch;
  uint64_t seed, step;
} draw_ctx;

/* The row of B T that the body's row k is. */
static int64_t row_of(const draw_ctx *c, int64_t k) { return c->body ? c->body[k] : k; }

/* The catalogue-wide sums run LANES partial sums, combined in lane order (as softmax_ce's), so
 * they vectorise and give the same bits whatever the chunking. */
#define LANES 16

RK_VECTOR_CLONES static float row_max(const float *restrict z, int64_t V) {
  float m[LANES];
  for (int k = 0; k < LANES; k++) m[k] = -INFINITY;
  int64_t j = 0;
  for (; j + LANES <= V; j += LANES)
    for (int k = 0; k < LANES; k++) m[k] = z[j + k] > m[k] ? z[j + k] : m[k];
  for (; j < V; j++) m[0] = z[j] > m[0] ? z[j] : m[0];
  float top = m[0];
  for (int k = 1; k < LANES; k++) top = m[k] > top ? m[k] : top;
  return top;
}

RK_VECTOR_CLONES static double row_sum_exp(const float *restrict z, float top, float inv, int64_t V) {
  double s[LANES] = {0};
  int64_t j = 0;
  for (; j + LANES <= V; j += LANES)
    for (int k = 0; k < LANES; k++) s[k] += rk_exp_nonpos_fast((z[j + k] - top) * inv);
  double total = 0.0;
  for (int k = 0; k < LANES; k++) total += s[k];
  for (; j < V; j++) total += rk_exp_nonpos_fast((z[j] - top) * inv);
  return total;
}

/* A catalogue row's draw scans blocks of BLOCK items by their sums (vectorised), then the items
 * of the block where the running sum passes the target, one by one. */
#define BLOCK 256

static double catalogue_sum(const float *z, float top, float inv, int64_t V) {
  double total = 0.0;
  for (int64_t j = 0; j < V; j += BLOCK) total += row_sum_exp(z + j, top, inv, V - j < BLOCK ? V - j : BLOCK);
  return total;
}

/* The first item whose running sum (blocks summed as catalogue_sum does) passes target. */
static int64_t catalogue_scan(const float *z, float top, float inv, int64_t V, double target) {
  double before = 0.0;
  for (int64_t j = 0; j < V; j += BLOCK) {
    const int64_t n = V - j < BLOCK ? V - j : BLOCK;
    const double block = row_sum_exp(z + j, top, inv, n);
    double sum = before;
    for (int64_t k = 0; before + block > target && k < n; k++) {
      sum += rk_exp_nonpos_fast((z[j + k] - top) * inv);
      if (sum > target) return j + k;
    }
    before += block;   /* the items' sum fell short of the block's by rounding: on to the next */
  }
  return V - 1;
}

/* One draw from softmax(zi / temperature) over the K candidates, by inversion of u in [0, 1):
 * the first candidate whose running sum of e^((z - max) / temperature) passes u times the
 * whole sum. Where rounding leaves u x total past the scan's last sum, the last candidate. */
static int64_t draw_one(const draw_ctx *c, const float *zi, int64_t K, double u) {
  if (!c->from_batch) {
    const float top = row_max(zi, K);
    return catalogue_scan(zi, top, c->inv, K, u * catalogue_sum(zi, top, c->inv, K));
  }
  float top = -INFINITY;   /* the batch's targets: a few hundred, gathered from the row */
  double total = 0.0, sum = 0.0;
  for (int64_t k = 0; k < K; k++) top = fmaxf(top, zi[c->packed[k]]);
  for (int64_t k = 0; k < K; k++) total += rk_exp_nonpos_fast((zi[c->packed[k]] - top) * c->inv);
  const double target = u * total;
  for (int64_t k = 0; k < K; k++) {
    sum += rk_exp_nonpos_fast((zi[c->packed[k]] - top) * c->inv);
    if (sum > target) return k;
  }
  return K - 1;
}

/* Labelled rows [begin, end): each its own stream, so chunks may run in any order on any
 * thread. The rows named are distinct (gather_rows' packing of the labelled rows). */
static void draw_rows(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const draw_ctx *c = arg;
  for (int64_t i = begin; i < end; i++) {
    const int64_t r = row_of(c, c->rows[i]);
    int64_t pick = -1;   /* from the batch: the labelled row whose target is drawn */
    if (c->given) {      /* fixed draws (tests); from the batch, the first labelled row with the item */
      c->fake[r] = c->given[r];
      for (int64_t k = 0; c->from_batch && pick < 0 && k < c->n; k++)
        if (c->packed[k] == c->given[r]) pick = k;
    } else {
      rk_rng rng;
      rk_rng_init(&rng, c->seed ^ RTD_STREAM_SALT, (c->step << 32) ^ (uint64_t)r);
      const int64_t k = draw_one(c, c->z + i * c->V, c->from_batch ? c->n : c->V, rk_rng_uniform(&rng));
      c->fake[r] = c->from_batch ? c->packed[k] : k;
      if (c->from_batch) pick = k;
    }
    if (pick >= 0) c->source[r] = row_of(c, c->rows[pick]);
  }
}

rk_status rtd_replace_forward_cpu(int64_t *fake /* (R) */, int64_t *source /* (R) */, float *replaced /* (R) */,
                                  float *weight /* (R) */, const float *z /* (R, V) packed */,
                                  const int64_t *rows /* (R) */, const int64_t *packed /* (R) */,
                                  const int64_t *items /* (R) */, const int64_t *body_rows /* (R) or NULL */,
                                  int64_t R, int64_t V, const rk_rtd_draw *d) {
  int64_t nb = R, n = 0, m = 0;
  if (body_rows)
    for (nb = 0; nb < R && body_rows[nb] >= 0; nb++)
      if (body_rows[nb] >= R)
        return rk_error(RK_ERANGE, "rtd_replace: body row %lld is %lld; want a row in [0, %lld)", (long long)nb,
                        (long long)body_rows[nb], (long long)R);
  for (; n < R && rows[n] >= 0; n++) {
    if (rows[n] >= nb)
      return rk_error(RK_ERANGE, "rtd_replace: labelled row %lld is %lld; want one of the body's %lld rows",
                      (long long)n, (long long)rows[n], (long long)nb);
    if (d->from_batch && (packed[n] < 0 || packed[n] >= V))
      return rk_error(RK_ERANGE, "rtd_replace: labelled row %lld's target is %lld; want an item in [0, %lld)",
                      (long long)n, (long long)packed[n], (long long)V);
  }
  for (int64_t r = 0; r < R; r++) {
    fake[r] = items[r];
    source[r] = r;
  }
  draw_ctx c = {.fake = fake, .source = source, .z = z, .rows = rows, .packed = packed, .body = body_rows,
                .given = d->given, .n = n, .V = V, .inv = 1.0f / d->temperature, .from_batch = d->from_batch,
                .seed = d->seed, .step = d->step};
  rk_parallel_for(n, rk_row_grain(d->from_batch ? n : V), draw_rows, &c);
  for (int64_t k = 0; k < nb; k++) m += items[row_of(&c, k)] != d->padding;
  const float w = m ? (float)nb / (float)m : 0.0f;
  for (int64_t k = 0; k < R; k++) {
    const int64_t r = k < nb ? row_of(&c, k) : -1;
    replaced[k] = r >= 0 && fake[r] != items[r] ? 1.0f : 0.0f;
    weight[k] = r >= 0 && items[r] != d->padding ? w : 0.0f;
  }
  return RK_OK;
}

rk_status rtd_replace_node_forward_cpu(rk_graph *g, const rk_node *n) {
  const rk_value *z = rk_val(g, n->in[0]), *items = rk_val(g, n->in[3]);
  const rk_rtd_draw d = {.padding = n->iattr[0], .temperature = n->fattr[0], .from_batch = n->iattr[1] != 0,
                         .given = (const int64_t *)(intptr_t)n->iattr[2], .seed = g->seed, .step = g->step};
  return rtd_replace_forward_cpu(rk_xi(g, n->out[0]), rk_xi(g, n->out[3]), rk_x(g, n->out[1]), rk_x(g, n->out[2]),
                                 rk_x(g, n->in[0]), rk_xi(g, n->in[1]), rk_xi(g, n->in[2]), rk_xi(g, n->in[3]),
                                 n->n_in > 4 ? rk_xi(g, n->in[4]) : NULL, items->numel, z->shape[z->ndim - 1], &d);
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
                               int packed, int items, int body_rows, int64_t padding, float temperature,
                               bool from_batch) {
  int in[5] = {logits, rows, packed, items, body_rows}, n_in = body_rows == RK_NO_VALUE ? 4 : 5;
  for (int k = 0; k < n_in; k++) RK_TRY(rk_graph_check_value(g, in[k], "rtd_replace"));
  const rk_value *z = rk_val(g, logits), *r = rk_val(g, rows), *p = rk_val(g, packed), *x = rk_val(g, items);
  const rk_value *b = n_in > 4 ? rk_val(g, body_rows) : x;
  char bz[96], bx[96];
  if (z->dtype != RK_DT_F32 || z->ndim < 2 || x->dtype != RK_DT_I64 || x->ragged || r->dtype != RK_DT_I64 ||
      p->dtype != RK_DT_I64 || b->dtype != RK_DT_I64 || r->numel != x->numel || p->numel != x->numel ||
      b->numel != x->numel || z->numel != x->numel * z->shape[z->ndim - 1])
    return rk_error(RK_ESHAPE, "rtd_replace: logits %s must be (R, V) over the R rows of int64 items %s, with int64 "
                    "rows, packed targets and body rows of R each", rk_shape_str(z, bz, sizeof bz),
                    rk_shape_str(x, bx, sizeof bx));
  if (!(temperature > 0.0f && temperature < INFINITY))
    return rk_error(RK_EINVAL, "rtd_replace: temperature %g must be positive and finite", temperature);
  int v[4];   /* fake, replaced, weight, source */
  RK_TRY(rk_graph_add_value(g, &v[0], RK_DT_I64, x->ndim, x->shape));
  RK_TRY(rk_graph_add_value(g, &v[1], RK_DT_F32, x->ndim, x->shape));
  RK_TRY(rk_graph_add_value(g, &v[2], RK_DT_F32, x->ndim, x->shape));
  RK_TRY(rk_graph_add_value(g, &v[3], RK_DT_I64, x->ndim, x->shape));
  rk_node *n;
  RK_TRY(rk_graph_add_node(g, &n, RK_OP_RTD_REPLACE, n_in, in));
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
