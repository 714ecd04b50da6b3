/*
 * A packed session body (docs/design.md, "Rows in use"): gather_rows packs the real rows of
 * (B, T, D) sessions and a transformer block computes them only (layer_norm, dropout, gelu, add
 * and attention on rows in use). Checked against the unpacked block with the key-padding mask,
 * dropout on: equal loss and gradients (the draws are keyed by the original rows, so the masks
 * are the same), zero gradient at the padded rows; the packed block's gradients by finite
 * differences; a linear's rows the same bits whatever the rows in use (a session's result must
 * not depend on its batch); and the refusals (key ids or weights on packed rows, rows out of
 * order, a packed sum of unequal rows).
 */
#include "support.h"

#include <math.h>
#include <string.h>

#include "reckon/nn.h"

enum { NB = 4, NT = 5, D = 8, C = 5 };

static const int64_t lengths[NB] = {3, 0, 5, 1};   /* an empty session, a full one */

typedef struct {
  rk_param_arena *arena;
  rk_transformer_block blk;
  rk_transformer_config cfg;
  rk_param x, head_w, head_b;
} weights;

static void weights_init(weights *w, bool gpt2) {
  memset(w, 0, sizeof *w);
  w->cfg = (rk_transformer_config){.d_model = D, .heads = 2, .dropout = 0.2f, .attn_dropout = 0.25f, .ln_eps = 1e-5f,
                                   .gelu_tanh = gpt2, .causal = gpt2};
  assert_rk_ok(rk_param_arena_create(&w->arena));
  assert_rk_ok(rk_transformer_block_declare(&w->blk, w->arena, "h", &w->cfg));
  assert_rk_ok(rk_param_arena_alloc(w->arena));
  assert_rk_ok(rk_transformer_block_init(&w->blk, 3, 0, 0.3, 0.3));
  int64_t xs[3] = {NB, NT, D}, hw[2] = {C, D}, hb[1] = {C};
  assert_rk_ok(rk_param_init(&w->x, "x", 3, xs));
  assert_rk_ok(rk_param_init(&w->head_w, "head_w", 2, hw));
  assert_rk_ok(rk_param_init(&w->head_b, "head_b", 1, hb));
  rk_param_fill_normal(&w->x, 3, 1, 0.8f);
  rk_param_fill_normal(&w->head_w, 3, 2, 0.5f);
  rk_param_fill_normal(&w->head_b, 3, 3, 0.5f);
}

static void weights_free(weights *w) {
  rk_param_free(&w->x);
  rk_param_free(&w->head_w);
  rk_param_free(&w->head_b);
  rk_param_arena_free(w->arena);
}

/* Every parameter the loss reads: the block's, the head's and x. */
static int all_params(weights *w, rk_param **out) {
  rk_param *ps[RK_TRANSFORMER_BLOCK_PARAMS] = {&w->blk.ln1_gamma,  &w->blk.ln1_beta,  &w->blk.qkv_weight,
                                               &w->blk.qkv_bias,   &w->blk.proj_weight, &w->blk.proj_bias,
                                               &w->blk.ln2_gamma,  &w->blk.ln2_beta,  &w->blk.fc_weight,
                                               &w->blk.fc_bias,    &w->blk.out_weight, &w->blk.out_bias};
  int n = 0;
  for (int k = 0; k < RK_TRANSFORMER_BLOCK_PARAMS; k++) out[n++] = ps[k];
  out[n++] = &w->head_w;
  out[n++] = &w->head_b;
  out[n++] = &w->x;
  return n;
}

/* The loss: cross-entropy of head(block(x)) at the labelled rows (every real row but each
 * session's last), the block packed or unpacked. */
typedef struct {
  rk_graph *g;
  int keys, rows, labelled, labels, loss, out;
  bool packed;
} loss_graph;

static void loss_graph_build(loss_graph *lg, weights *w, bool gpt2, bool packed) {
  memset(lg, 0, sizeof *lg);
  lg->packed = packed;
  rk_graph *g;
  assert_rk_ok(rk_graph_create(&g, NB));
  lg->g = g;
  int x, h, z;
  const int64_t shape[3] = {NB, NT, D};
  assert_rk_ok(rk_graph_param(g, &x, &w->x));
  assert_rk_ok(rk_graph_input_ids(g, &lg->keys, "keys", NT));
  assert_rk_ok(rk_graph_input_ids(g, &lg->rows, "rows", NT));
  assert_rk_ok(rk_graph_input_ids(g, &lg->labelled, "labelled", NT));
  assert_rk_ok(rk_graph_input_ids(g, &lg->labels, "labels", NT));
  /* one node before the block either way, so the blocks' dropout nodes have the same ids */
  if (packed) assert_rk_ok(rk_graph_gather_rows(g, &h, x, lg->rows));
  else assert_rk_ok(rk_graph_reshape(g, &h, x, 3, shape));
  int keys = packed ? RK_NO_VALUE : lg->keys;
  if (gpt2) assert_rk_ok(rk_graph_gpt2_block(g, &h, NULL, h, &w->blk, &w->cfg, keys, 0));
  else assert_rk_ok(rk_graph_bert_block(g, &h, NULL, h, &w->blk, &w->cfg, keys, 0));
  lg->out = h;
  assert_rk_ok(rk_graph_gather_rows(g, &h, h, lg->labelled));
  assert_rk_ok(rk_graph_linear(g, &z, h, &w->head_w, &w->head_b, RK_ACT_NONE));
  assert_rk_ok(rk_graph_softmax_ce(g, &lg->loss, z, lg->labels, -1, 0.0f, 1.0f));
  assert_rk_ok(rk_graph_output(g, lg->loss));
  assert_rk_ok(rk_graph_output(g, lg->out));
  assert_rk_ok(rk_graph_build(g, lg->loss));
  /* the real rows, and the labelled ones as rows of the body (packed: packed row numbers) */
  int64_t *k = rk_graph_input_ids_data(g, lg->keys), *r = rk_graph_input_ids_data(g, lg->rows);
  int64_t *l = rk_graph_input_ids_data(g, lg->labelled), *y = rk_graph_input_ids_data(g, lg->labels);
  int64_t n = 0, m = 0;
  for (int64_t b = 0; b < NB; b++)
    for (int64_t t = 0; t < NT; t++) {
      k[b * NT + t] = t < lengths[b];
      if (t >= lengths[b]) continue;
      if (t + 1 < lengths[b]) l[m] = packed ? n : b * NT + t, y[m++] = (b * 7 + t * 3) % C;
      r[n++] = b * NT + t;
    }
  for (int64_t i = n; i < NB * NT; i++) r[i] = -1;
  for (int64_t i = m; i < NB * NT; i++) l[i] = -1, y[i] = -1;
}

static float run_pass(loss_graph *lg, weights *w) {
  rk_param *ps[16];
  int np = all_params(w, ps);
  for (int i = 0; i < np; i++) rk_param_zero_grad(ps[i]);
  rk_graph_set_step(lg->g, 5);
  assert_rk_ok(rk_graph_forward(lg->g, RK_TRAIN));
  assert_rk_ok(rk_graph_backward(lg->g));
  return rk_graph_value_f32(lg->g, lg->loss)[0];
}

static void packed_equals_unpacked(bool gpt2) {
  weights w;
  weights_init(&w, gpt2);
  loss_graph full, packed;
  loss_graph_build(&full, &w, gpt2, false);
  loss_graph_build(&packed, &w, gpt2, true);
  rk_param *ps[16];
  int np = all_params(&w, ps);
  static float grads[16][NB * NT * D * 4 * D];
  float loss_full = run_pass(&full, &w);
  for (int i = 0; i < np; i++)
    memcpy(grads[i], ps[i]->grad.data, (size_t)rk_tensor_numel(&ps[i]->grad) * sizeof(float));
  float loss_packed = run_pass(&packed, &w);
  assert_true(loss_full > 0.0f);
  if (fabsf(loss_packed - loss_full) > 1e-6f * loss_full)
    fail_msg("%s: loss packed %.9g, unpacked %.9g", gpt2 ? "gpt2" : "bert", loss_packed, loss_full);
  for (int i = 0; i < np; i++) {
    const float *a = ps[i]->grad.data;
    for (int64_t j = 0; j < rk_tensor_numel(&ps[i]->grad); j++)
      if (fabsf(a[j] - grads[i][j]) > 1e-6f + 1e-5f * fabsf(grads[i][j]))
        fail_msg("%s: d %s[%lld]: packed %.9g, unpacked %.9g", gpt2 ? "gpt2" : "bert", ps[i]->name, (long long)j, a[j],
                 grads[i][j]);
  }
  /* padded rows get no gradient; the body computed the 9 real rows of its 20 */
  const float *gx = w.x.grad.data;
  for (int64_t b = 0; b < NB; b++)
    for (int64_t t = lengths[b]; t < NT; t++)
      for (int d = 0; d < D; d++) assert_true(gx[(b * NT + t) * D + d] == 0.0f);
  assert_int_equal(rk_graph_value_rows(packed.g, packed.out), 9);
  assert_int_equal(rk_graph_value_shape(packed.g, packed.out)[0], NB * NT);
  rk_graph_free(full.g);
  rk_graph_free(packed.g);
  weights_free(&w);
}

static void test_gpt2_block_packed_equals_unpacked(void **state) {
  (void)state;
  packed_equals_unpacked(true);
}

static void test_bert_block_packed_equals_unpacked(void **state) {
  (void)state;
  packed_equals_unpacked(false);
}

/* The packed block's gradient, dropout on, against central differences of its loss (the
 * masks stay put: each pass runs at the same step). Reductions are in float here and there,
 * so h = 1e-2 and the tolerance is 2e-3 + 2e-2 |analytic|. */
static void packed_finite_differences(bool gpt2) {
  weights w;
  weights_init(&w, gpt2);
  loss_graph lg;
  loss_graph_build(&lg, &w, gpt2, true);
  rk_param *ps[16];
  int np = all_params(&w, ps);
  run_pass(&lg, &w);
  static float ana[16][NB * NT * D * 4 * D];
  for (int i = 0; i < np; i++)
    memcpy(ana[i], ps[i]->grad.data, (size_t)rk_tensor_numel(&ps[i]->grad) * sizeof(float));
  const float h = 1e-2f;
  int checked = 0;
  for (int i = 0; i < np; i++) {
    float *v = ps[i]->value.data;
    int64_t n = rk_tensor_numel(&ps[i]->value);
    for (int64_t j = 0; j < n; j += 1 + n / 7) {   /* a few entries of each */
      float keep = v[j];
      v[j] = keep + h;
      float up = run_pass(&lg, &w);
      v[j] = keep - h;
      float down = run_pass(&lg, &w);
      v[j] = keep;
      float num = (up - down) / (2.0f * h), a = ana[i][j];
      if (fabsf(num - a) > 2e-3f + 2e-2f * fabsf(a))
        fail_msg("%s: d %s[%lld]: finite differences %.6g, backward %.6g", gpt2 ? "gpt2" : "bert", ps[i]->name,
                 (long long)j, num, a);
      checked++;
    }
  }
  assert_true(checked > 50);
  rk_graph_free(lg.g);
  weights_free(&w);
}

static void test_packed_gradients(void **state) {
  (void)state;
  packed_finite_differences(true);
  packed_finite_differences(false);
}

/* A linear's row is the same bits at every count of rows in use: a packed body's rows must not
 * depend on how many real rows the rest of its batch has (serve against predict). */
static void test_linear_rows_independent_of_rows_in_use(void **state) {
  (void)state;
  enum { R = 100, IN = 64, OUT = 16 };   /* 75 rows or fewer take OpenBLAS's small-matrix path */
  rk_param x, wt, bias;
  int64_t xs[2] = {R, IN}, ws[2] = {OUT, IN}, bs[1] = {OUT};
  assert_rk_ok(rk_param_init(&x, "x", 2, xs));
  assert_rk_ok(rk_param_init(&wt, "w", 2, ws));
  assert_rk_ok(rk_param_init(&bias, "b", 1, bs));
  rk_param_fill_normal(&x, 5, 1, 1.0f);
  rk_param_fill_normal(&wt, 5, 2, 0.3f);
  rk_param_fill_normal(&bias, 5, 3, 0.3f);
  rk_graph *g;
  int xv, ix, rows, out;
  assert_rk_ok(rk_graph_create(&g, 1));
  assert_rk_ok(rk_graph_param(g, &xv, &x));
  assert_rk_ok(rk_graph_input_ids(g, &ix, "rows", R));
  assert_rk_ok(rk_graph_gather_rows(g, &rows, xv, ix));
  assert_rk_ok(rk_graph_linear(g, &out, rows, &wt, &bias, RK_ACT_NONE));
  assert_rk_ok(rk_graph_output(g, out));
  assert_rk_ok(rk_graph_build(g, RK_NO_VALUE));
  static float first[R][OUT];
  int64_t *index = rk_graph_input_ids_data(g, ix);
  for (int64_t n = R; n >= 1; n--) {
    for (int64_t k = 0; k < R; k++) index[k] = k < n ? k : -1;
    assert_rk_ok(rk_graph_forward(g, RK_EVAL));
    const float *o = rk_graph_value_f32(g, out);
    for (int64_t k = 0; k < n; k++) {
      if (n == R) memcpy(first[k], o + k * OUT, sizeof first[k]);
      else if (memcmp(first[k], o + k * OUT, sizeof first[k]) != 0)
        fail_msg("row %lld differs with %lld rows in use and with %d", (long long)k, (long long)n, R);
    }
  }
  rk_graph_free(g);
  rk_param_free(&x);
  rk_param_free(&wt);
  rk_param_free(&bias);
}

/* Packed rows carry no padding and no (B, T) layout: key ids and weights are refused, rows out of
 * order fail the forward naming them, and a packed sum needs equal rows in use. */
static void test_refusals(void **state) {
  (void)state;
  weights w;
  weights_init(&w, true);
  rk_graph *g;
  assert_rk_ok(rk_graph_create(&g, NB));
  int x, ix, keys, h, out, wts;
  assert_rk_ok(rk_graph_param(g, &x, &w.x));
  assert_rk_ok(rk_graph_input_ids(g, &ix, "rows", NT));
  assert_rk_ok(rk_graph_input_ids(g, &keys, "keys", NT));
  assert_rk_ok(rk_graph_gather_rows(g, &h, x, ix));
  assert_int_equal(rk_graph_gpt2_block(g, &out, NULL, h, &w.blk, &w.cfg, keys, 0), RK_EINVAL);
  assert_non_null(strstr(rk_error_message(), "attention: packed rows (20, 24) hold no padding"));
  assert_int_equal(rk_graph_gpt2_block(g, &out, &wts, h, &w.blk, &w.cfg, RK_NO_VALUE, 0), RK_EINVAL);
  assert_rk_ok(rk_graph_gpt2_block(g, &out, NULL, h, &w.blk, &w.cfg, RK_NO_VALUE, 0));
  assert_rk_ok(rk_graph_output(g, out));
  assert_rk_ok(rk_graph_build(g, RK_NO_VALUE));
  int64_t *index = rk_graph_input_ids_data(g, ix);
  for (int k = 0; k < NB * NT; k++) index[k] = k < 4 ? 3 - k : -1;   /* rows 3, 2, 1, 0 */
  assert_int_equal(rk_graph_forward(g, RK_EVAL), RK_EINVAL);
  assert_non_null(strstr(rk_error_message(), "packed row 1 is row 2 of the unpacked input, after row 3"));
  rk_graph_free(g);
  /* add: two packed values of different rows in use */
  assert_rk_ok(rk_graph_create(&g, NB));
  int ia, a, b, sum;
  assert_rk_ok(rk_graph_param(g, &x, &w.x));
  assert_rk_ok(rk_graph_input_ids(g, &ia, "rows a", NT));
  assert_rk_ok(rk_graph_input_ids(g, &ix, "rows b", NT));
  assert_rk_ok(rk_graph_gather_rows(g, &a, x, ia));
  assert_rk_ok(rk_graph_gather_rows(g, &b, x, ix));
  assert_rk_ok(rk_graph_add(g, &sum, a, b));
  assert_rk_ok(rk_graph_output(g, sum));
  assert_rk_ok(rk_graph_build(g, RK_NO_VALUE));
  int64_t *ra = rk_graph_input_ids_data(g, ia), *rb = rk_graph_input_ids_data(g, ix);
  for (int k = 0; k < NB * NT; k++) ra[k] = k < 3 ? k : -1, rb[k] = k < 2 ? k : -1;
  assert_int_equal(rk_graph_forward(g, RK_EVAL), RK_EINVAL);
  assert_non_null(strstr(rk_error_message(), "add: the inputs have 3 and 2 rows in use"));
  rb[2] = 7;
  assert_rk_ok(rk_graph_forward(g, RK_EVAL));
  const float *s = rk_graph_value_f32(g, sum), *xs = w.x.value.data;
  assert_true(s[2 * D + 1] == xs[2 * D + 1] + xs[7 * D + 1]);
  assert_int_equal(rk_graph_value_rows(g, sum), 3);
  rk_graph_free(g);
  weights_free(&w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_gpt2_block_packed_equals_unpacked),
      cmocka_unit_test(test_bert_block_packed_equals_unpacked),
      cmocka_unit_test(test_packed_gradients),
      cmocka_unit_test(test_linear_rows_independent_of_rows_in_use),
      cmocka_unit_test(test_refusals),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
