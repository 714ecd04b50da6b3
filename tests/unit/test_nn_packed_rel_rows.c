/*
 * A packed relative-position body (docs/design.md, "Rows in use"; src/nn/ops/rel_attention.c,
 * src/nn/blocks/rel_transformer.c): gather_rows packs the real rows of (B, T, D) sessions and
 * a relative layer computes them only, rel_attention reading each row's session and position
 * from the row index. Three layers, as the session models run them: Transformer-XL's (causal,
 * a zero memory slot, ReLU), XLNet's one-way and both-ways content stream (gelu), and XLNet's
 * two streams under a permutation mask (`hidden`), the loss read from the query stream.
 * Checked against the unpacked layer with the key-padding mask, dropout on everywhere: equal
 * loss and gradients (the draws are keyed by the original rows and positions), zero gradient at
 * the padded rows; the packed layer's gradients by finite differences; and the refusals (key
 * ids or weights on packed rows, one stream packed and not the other, rows out of order).
 */
#include "support.h"

#include <math.h>
#include <string.h>

#include "reckon/nn.h"

enum { NB = 4, NT = 5, D = 8, C = 5, NP = RK_REL_TRANSFORMER_BLOCK_PARAMS + 4 };

/* The real rows: an empty session, a full one, and one with gaps (the op takes every row at its
 * original position; the feed's sessions are prefixes). Each session's last real row has no label. */
static const char *const real[NB] = {"xxx..", ".....", "xxxxx", ".x.x."};
static bool is_real(int64_t b, int64_t t) { return real[b][t] == 'x'; }
static bool is_last(int64_t b, int64_t t) { return strchr(real[b] + t + 1, 'x') == NULL; }

typedef enum { TRANSFOXL, XLNET_CAUSAL, XLNET_BOTH_WAYS, XLNET_TWO_STREAMS } layer_kind;
static const char *const kind_names[] = {"transfoxl", "xlnet causal", "xlnet both ways", "xlnet two streams"};

typedef struct {
  rk_rel_transformer_block blk;
  rk_rel_transformer_config cfg;
  rk_param x, q, head_w, head_b;   /* q: the query stream's input (two streams) */
} weights;

static void param(rk_param *p, const char *name, int ndim, const int64_t *shape, uint64_t stream, float std, float mean) {
  assert_rk_ok(rk_param_init(p, name, ndim, shape));
  rk_param_fill_normal(p, 3, stream, std);
  float *v = p->value.data;
  for (int64_t i = 0; i < rk_tensor_numel(&p->value); i++) v[i] += mean;
}

static void weights_init(weights *w, layer_kind kind) {
  memset(w, 0, sizeof *w);
  w->cfg = (rk_rel_transformer_config){.d_model = D, .heads = 2, .d_ff = 2 * D, .dropout = 0.2f, .attn_dropout = 0.25f,
                                       .ln_eps = 1e-5f, .act = kind == TRANSFOXL ? RK_REL_ACT_RELU : RK_REL_ACT_GELU,
                                       .causal = kind == TRANSFOXL || kind == XLNET_CAUSAL,
                                       .mem = kind == TRANSFOXL ? 1 : 0};
  const int64_t dd[2] = {D, D}, qkv[2] = {3 * D, D}, d1[1] = {D}, fc[2] = {2 * D, D}, out[2] = {D, 2 * D},
                f1[1] = {2 * D}, xs[3] = {NB, NT, D}, hw[2] = {C, D}, hb[1] = {C};
  rk_rel_transformer_block *b = &w->blk;
  param(&b->qkv_weight, "qkv", 2, qkv, 1, 0.4f, 0.0f);
  param(&b->r_weight, "r", 2, dd, 2, 0.4f, 0.0f);
  param(&b->r_w_bias, "r_w_bias", 1, d1, 3, 0.3f, 0.0f);
  param(&b->r_r_bias, "r_r_bias", 1, d1, 4, 0.3f, 0.0f);
  param(&b->o_weight, "o", 2, dd, 5, 0.4f, 0.0f);
  param(&b->ln1_gamma, "ln1_gamma", 1, d1, 6, 0.2f, 1.0f);
  param(&b->ln1_beta, "ln1_beta", 1, d1, 7, 0.2f, 0.0f);
  param(&b->fc_weight, "fc", 2, fc, 8, 0.4f, 0.0f);
  param(&b->fc_bias, "fc_bias", 1, f1, 9, 0.2f, 0.0f);
  param(&b->out_weight, "out", 2, out, 10, 0.4f, 0.0f);
  param(&b->out_bias, "out_bias", 1, d1, 11, 0.2f, 0.0f);
  param(&b->ln2_gamma, "ln2_gamma", 1, d1, 12, 0.2f, 1.0f);
  param(&b->ln2_beta, "ln2_beta", 1, d1, 13, 0.2f, 0.0f);
  param(&w->x, "x", 3, xs, 14, 0.8f, 0.0f);
  param(&w->q, "q", 3, xs, 15, 0.8f, 0.0f);
  param(&w->head_w, "head_w", 2, hw, 16, 0.5f, 0.0f);
  param(&w->head_b, "head_b", 1, hb, 17, 0.5f, 0.0f);
}

/* Every parameter the loss may read: the layer's, x, q and the head's. */
static int all_params(weights *w, rk_param **out) {
  rk_rel_transformer_block_params(&w->blk, out);
  int n = RK_REL_TRANSFORMER_BLOCK_PARAMS;
  out[n++] = &w->x;
  out[n++] = &w->q;
  out[n++] = &w->head_w;
  out[n++] = &w->head_b;
  return n;
}

static void weights_free(weights *w) {
  rk_param *ps[NP];
  int n = all_params(w, ps);
  for (int i = 0; i < n; i++) rk_param_free(ps[i]);
}

/* The loss: cross-entropy of head(layer(x)) (two streams: of the query stream's output) at the
 * labelled rows (every real row but each session's last), the layer packed or unpacked. */
typedef struct {
  rk_graph *g;
  int keys, rows, labelled, labels, hidden, loss, out;
} loss_graph;

/* A permutation-like mask: real row t of session b does not see row u when (3t + 5u + b) % 3 is 0
 * (itself included, as XLNet's query stream never sees itself). */
static int64_t hidden_at(int64_t b, int64_t t, int64_t u) { return t == u || (3 * t + 5 * u + b) % 3 == 0; }

static void loss_graph_build(loss_graph *lg, weights *w, layer_kind kind, bool packed) {
  memset(lg, 0, sizeof *lg);
  rk_graph *g;
  assert_rk_ok(rk_graph_create(&g, NB));
  lg->g = g;
  const bool two = kind == XLNET_TWO_STREAMS;
  int x, q = RK_NO_VALUE, h, hg, z;
  const int64_t shape[3] = {NB, NT, D};
  assert_rk_ok(rk_graph_param(g, &x, &w->x));
  assert_rk_ok(rk_graph_input_ids(g, &lg->keys, "keys", NT));
  assert_rk_ok(rk_graph_input_ids(g, &lg->rows, "rows", NT));
  assert_rk_ok(rk_graph_input_ids(g, &lg->labelled, "labelled", NT));
  assert_rk_ok(rk_graph_input_ids(g, &lg->labels, "labels", NT));
  lg->hidden = RK_NO_VALUE;
  if (two) {
    assert_rk_ok(rk_graph_input_ids(g, &lg->hidden, "hidden", NT * NT));
    assert_rk_ok(rk_graph_param(g, &q, &w->q));
  }
  /* one node per stream before the layer either way, so the layers' dropout nodes have the same ids */
  if (packed) assert_rk_ok(rk_graph_gather_rows(g, &h, x, lg->rows));
  else assert_rk_ok(rk_graph_reshape(g, &h, x, 3, shape));
  if (two && packed) assert_rk_ok(rk_graph_gather_rows(g, &q, q, lg->rows));
  else if (two) assert_rk_ok(rk_graph_reshape(g, &q, q, 3, shape));
  rk_rel_transformer_masks m = {.key_ids = packed ? RK_NO_VALUE : lg->keys, .padding = 0, .hidden = lg->hidden};
  assert_rk_ok(rk_graph_rel_transformer_block(g, &h, two ? &hg : NULL, NULL, h, q, &w->blk, &w->cfg, &m));
  lg->out = two ? hg : h;
  assert_rk_ok(rk_graph_gather_rows(g, &h, lg->out, lg->labelled));
  assert_rk_ok(rk_graph_linear(g, &z, h, &w->head_w, &w->head_b, RK_ACT_NONE));
  assert_rk_ok(rk_graph_softmax_ce(g, &lg->loss, z, lg->labels, -1, 0.0f, 1.0f));
  assert_rk_ok(rk_graph_output(g, lg->loss));
  assert_rk_ok(rk_graph_output(g, lg->out));
  assert_rk_ok(rk_graph_build(g, lg->loss));
  /* the real rows, and the labelled ones as rows of the layer (packed: packed row numbers) */
  int64_t *k = rk_graph_input_ids_data(g, lg->keys), *r = rk_graph_input_ids_data(g, lg->rows);
  int64_t *l = rk_graph_input_ids_data(g, lg->labelled), *y = rk_graph_input_ids_data(g, lg->labels);
  int64_t *hid = two ? rk_graph_input_ids_data(g, lg->hidden) : NULL;
  int64_t n = 0, c = 0;
  for (int64_t b = 0; b < NB; b++)
    for (int64_t t = 0; t < NT; t++) {
      k[b * NT + t] = is_real(b, t);
      for (int64_t u = 0; hid && u < NT; u++) hid[(b * NT + t) * NT + u] = hidden_at(b, t, u);
      if (!is_real(b, t)) continue;
      if (!is_last(b, t)) l[c] = packed ? n : b * NT + t, y[c++] = (b * 7 + t * 3) % C;
      r[n++] = b * NT + t;
    }
  for (int64_t i = n; i < NB * NT; i++) r[i] = -1;
  for (int64_t i = c; i < NB * NT; i++) l[i] = -1, y[i] = -1;
}

static float run_pass(loss_graph *lg, weights *w) {
  rk_param *ps[NP];
  int np = all_params(w, ps);
  for (int i = 0; i < np; i++) rk_param_zero_grad(ps[i]);
  rk_graph_set_step(lg->g, 5);
  assert_rk_ok(rk_graph_forward(lg->g, RK_TRAIN));
  assert_rk_ok(rk_graph_backward(lg->g));
  return rk_graph_value_f32(lg->g, lg->loss)[0];
}

static float grads[NP][NB * NT * D * 3];   /* the largest parameter: x, q (NB NT D) */

static void test_packed_equals_unpacked(void **state) {
  (void)state;
  for (layer_kind kind = TRANSFOXL; kind <= XLNET_TWO_STREAMS; kind++) {
    const char *name = kind_names[kind];
    weights w;
    weights_init(&w, kind);
    loss_graph full, packed;
    loss_graph_build(&full, &w, kind, false);
    loss_graph_build(&packed, &w, kind, true);
    rk_param *ps[NP];
    int np = all_params(&w, ps);
    float loss_full = run_pass(&full, &w);
    for (int i = 0; i < np; i++)
      memcpy(grads[i], ps[i]->grad.data, (size_t)rk_tensor_numel(&ps[i]->grad) * sizeof(float));
    float loss_packed = run_pass(&packed, &w);
    assert_true(loss_full > 0.0f);
    if (fabsf(loss_packed - loss_full) > 1e-6f * loss_full)
      fail_msg("%s: loss packed %.9g, unpacked %.9g", name, loss_packed, loss_full);
    int nonzero = 0;
    for (int i = 0; i < np; i++) {
      const float *a = ps[i]->grad.data;
      for (int64_t j = 0; j < rk_tensor_numel(&ps[i]->grad); j++) {
        nonzero += a[j] != 0.0f;
        if (fabsf(a[j] - grads[i][j]) > 1e-6f + 1e-5f * fabsf(grads[i][j]))
          fail_msg("%s: d %s[%lld]: packed %.9g, unpacked %.9g", name, ps[i]->name, (long long)j, a[j], grads[i][j]);
      }
    }
    assert_true(nonzero > 200);
    /* padded rows get no gradient; the layer computed the 10 real rows of its 20 */
    const float *gx = w.x.grad.data, *gq = w.q.grad.data;
    for (int64_t b = 0; b < NB; b++)
      for (int64_t t = 0; t < NT; t++)
        for (int d = 0; !is_real(b, t) && d < D; d++)
          assert_true(gx[(b * NT + t) * D + d] == 0.0f && gq[(b * NT + t) * D + d] == 0.0f);
    assert_int_equal(rk_graph_value_rows(packed.g, packed.out), 10);
    assert_int_equal(rk_graph_value_shape(packed.g, packed.out)[0], NB * NT);
    rk_graph_free(full.g);
    rk_graph_free(packed.g);
    weights_free(&w);
  }
}

/* The packed layer's gradient, dropout on, against central differences of its loss (the masks
 * stay put: each pass runs at the same step). Reductions are in float here and there, so h =
 * 1e-2 and the tolerance is 2e-3 + 2e-2 |analytic|. An entry whose step crosses a ReLU's kink
 * (Transformer-XL's feed-forward), seen as one-sided differences that disagree, is not a
 * derivative to compare: skipped, and few are. */
static void test_packed_gradients(void **state) {
  (void)state;
  static float ana[NP][NB * NT * D * 3];
  for (layer_kind kind = TRANSFOXL; kind <= XLNET_TWO_STREAMS; kind++) {
    weights w;
    weights_init(&w, kind);
    loss_graph lg;
    loss_graph_build(&lg, &w, kind, true);
    rk_param *ps[NP];
    int np = all_params(&w, ps);
    const float at = run_pass(&lg, &w);
    for (int i = 0; i < np; i++)
      memcpy(ana[i], ps[i]->grad.data, (size_t)rk_tensor_numel(&ps[i]->grad) * sizeof(float));
    const float h = 1e-2f;
    int checked = 0, kinks = 0;
    for (int i = 0; i < np; i++) {
      float *v = ps[i]->value.data;
      int64_t n = rk_tensor_numel(&ps[i]->value);
      for (int64_t j = 0; j < n; j += 1 + n / 4) {   /* a few entries of each */
        float keep = v[j];
        v[j] = keep + h;
        float up = run_pass(&lg, &w);
        v[j] = keep - h;
        float down = run_pass(&lg, &w);
        v[j] = keep;
        float num = (up - down) / (2.0f * h), a = ana[i][j], right = (up - at) / h, left = (at - down) / h;
        if (fabsf(right - left) > 4e-3f + 4e-2f * fabsf(num)) {
          kinks++;
          continue;
        }
        if (fabsf(num - a) > 2e-3f + 2e-2f * fabsf(a))
          fail_msg("%s: d %s[%lld]: finite differences %.6g, backward %.6g", kind_names[kind], ps[i]->name,
                   (long long)j, num, a);
        checked++;
      }
    }
    assert_true(checked > 50 && kinks * 10 < checked);
    rk_graph_free(lg.g);
    weights_free(&w);
  }
}

/* Packed rows carry no padding and no (B, T) layout: key ids and weights are refused, as is a
 * query stream packed when the content is not; rows out of order fail the forward naming them. */
static void test_refusals(void **state) {
  (void)state;
  weights w;
  weights_init(&w, XLNET_TWO_STREAMS);
  rk_graph *g;
  assert_rk_ok(rk_graph_create(&g, NB));
  int x, q, ix, keys, h, hq, out, out_g, wts;
  const int64_t shape[3] = {NB, NT, D};
  assert_rk_ok(rk_graph_param(g, &x, &w.x));
  assert_rk_ok(rk_graph_param(g, &q, &w.q));
  assert_rk_ok(rk_graph_input_ids(g, &ix, "rows", NT));
  assert_rk_ok(rk_graph_input_ids(g, &keys, "keys", NT));
  assert_rk_ok(rk_graph_gather_rows(g, &h, x, ix));
  rk_rel_transformer_masks m = {.key_ids = keys, .padding = 0, .hidden = RK_NO_VALUE};
  assert_int_equal(rk_graph_rel_transformer_block(g, &out, NULL, NULL, h, RK_NO_VALUE, &w.blk, &w.cfg, &m), RK_EINVAL);
  assert_non_null(strstr(rk_error_message(), "rel_attention: packed rows (20, 24) hold no padding"));
  m.key_ids = RK_NO_VALUE;
  assert_int_equal(rk_graph_rel_transformer_block(g, &out, NULL, &wts, h, RK_NO_VALUE, &w.blk, &w.cfg, &m), RK_EINVAL);
  assert_rk_ok(rk_graph_reshape(g, &hq, q, 3, shape));
  assert_int_equal(rk_graph_rel_transformer_block(g, &out, &out_g, NULL, h, hq, &w.blk, &w.cfg, &m), RK_ESHAPE);
  assert_non_null(strstr(rk_error_message(), "the packed rows (R, 3 d_model) of one gather_rows"));
  assert_rk_ok(rk_graph_rel_transformer_block(g, &out, NULL, NULL, h, RK_NO_VALUE, &w.blk, &w.cfg, &m));
  assert_rk_ok(rk_graph_output(g, out));
  assert_rk_ok(rk_graph_build(g, RK_NO_VALUE));
  int64_t *index = rk_graph_input_ids_data(g, ix);
  for (int k = 0; k < NB * NT; k++) index[k] = k < 3 ? 2 * (2 - k) : -1;   /* rows 4, 2, 0 */
  assert_int_equal(rk_graph_forward(g, RK_EVAL), RK_EINVAL);
  assert_non_null(strstr(rk_error_message(), "rel_attention: packed row 1 is row 2 of the unpacked input, after row 4"));
  for (int k = 0; k < 3; k++) index[k] = 2 * k;   /* in order: runs */
  assert_rk_ok(rk_graph_forward(g, RK_EVAL));
  assert_int_equal(rk_graph_value_rows(g, out), 3);
  rk_graph_free(g);
  weights_free(&w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_packed_equals_unpacked),
      cmocka_unit_test(test_packed_gradients),
      cmocka_unit_test(test_refusals),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
