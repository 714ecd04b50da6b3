/*
 * The sequence ops and blocks against PyTorch 1.13: fixtures written by
 * tests/reference/make_seq_fixtures.py (from tests/reference/seq_blocks.py; committed JSON, no
 * Python needed here) hold inputs, parameters, outputs and every gradient of loss = sum(out * probe)
 * for a GPT-2 block (causal, key padding), a BERT block (key padding, one session without items),
 * nn.GRU, nn.LSTM and nn.RNN over right-padded sessions (packed sequences) and the cross-entropy
 * with temperature, label smoothing and ignored rows, and a tied output head (the item table read
 * by a lookup and as the output layer, with a bias). Each is built here with the graph API and
 * must match within |a - b| <= 1e-5 + 1e-4 |b| (float32 on both sides, sums in other orders).
 */
#include "support.h"

#include <jansson.h>
#include <math.h>
#include <string.h>

#include "reckon/nn.h"

#define ATOL 1e-5
#define RTOL 1e-4
#define SB 3   /* sessions */
#define ST 5   /* positions */

typedef struct {
  json_t *root, *tensors;
  const char *name;
} fixture;

static void load(fixture *f, const char *name) {
  char path[4096];
  snprintf(path, sizeof path, "%s/tests/reference/fixtures/%s.json", RECKON_SOURCE_DIR, name);
  json_error_t err;
  f->root = json_load_file(path, 0, &err);
  if (!f->root) fail_msg("cannot read fixture %s: %s (run tests/reference/make_seq_fixtures.py)", path, err.text);
  f->tensors = json_object_get(f->root, "tensors");
  f->name = name;
  assert_non_null(f->tensors);
}

static json_t *data_of(const fixture *f, const char *name, int64_t expect) {
  json_t *t = json_object_get(f->tensors, name);
  if (!t) fail_msg("%s: no tensor '%s'", f->name, name);
  json_t *d = json_object_get(t, "data");
  if ((int64_t)json_array_size(d) != expect)
    fail_msg("%s: '%s' has %zu values, the graph %lld", f->name, name, json_array_size(d), (long long)expect);
  return d;
}

static void copy_f32(const fixture *f, const char *name, float *dst, int64_t n) {
  json_t *d = data_of(f, name, n);
  for (int64_t i = 0; i < n; i++) dst[i] = (float)json_number_value(json_array_get(d, (size_t)i));
}

static void copy_i64(const fixture *f, const char *name, int64_t *dst, int64_t n) {
  json_t *d = data_of(f, name, n);
  for (int64_t i = 0; i < n; i++) dst[i] = json_integer_value(json_array_get(d, (size_t)i));
}

static void close_to(const fixture *f, const char *name, const float *got, int64_t n) {
  json_t *d = data_of(f, name, n);
  for (int64_t i = 0; i < n; i++) {
    double want = json_number_value(json_array_get(d, (size_t)i));
    if (!(fabs(got[i] - want) <= ATOL + RTOL * fabs(want)))
      fail_msg("%s: '%s' element %lld: got %.8g, PyTorch %.8g", f->name, name, (long long)i, got[i], want);
  }
}

static void check_param(const fixture *f, const rk_param *p, const char *name) {
  char g[96];
  snprintf(g, sizeof g, "grad:%s", name);
  close_to(f, g, p->grad.data, rk_tensor_numel(&p->grad));
}

/* loss = sum(out * probe); x and probe are parameters, so x's gradient is readable. */
static int probe_loss(rk_graph *g, int out, rk_param *probe) {
  int pv, prod, loss;
  assert_rk_ok(rk_graph_param(g, &pv, probe));
  assert_rk_ok(rk_graph_mul(g, &prod, out, pv));
  assert_rk_ok(rk_graph_sum(g, &loss, prod, RK_REDUCE_ALL));
  return loss;
}

static void train_step(rk_graph *g) {
  rk_graph_zero_grad(g);
  assert_rk_ok(rk_graph_forward(g, RK_TRAIN));
  assert_rk_ok(rk_graph_backward(g));
}

static void block_case(const char *name, bool gpt2) {
  fixture f;
  load(&f, name);
  const rk_transformer_config cfg = {.d_model = 8, .heads = 2, .d_ff = 12, .ln_eps = 0.03f, .gelu_tanh = gpt2,
                                     .causal = gpt2};
  rk_param_arena *arena;
  rk_transformer_block blk;
  assert_rk_ok(rk_param_arena_create(&arena));
  assert_rk_ok(rk_transformer_block_declare(&blk, arena, "h.0", &cfg));
  assert_rk_ok(rk_param_arena_alloc(arena));
  assert_rk_ok(rk_transformer_block_init(&blk, 1, 0, 0.02, 0.01));
  rk_param *ps[RK_TRANSFORMER_BLOCK_PARAMS] = {&blk.ln1_gamma, &blk.ln1_beta, &blk.qkv_weight, &blk.qkv_bias,
                                               &blk.proj_weight, &blk.proj_bias, &blk.ln2_gamma, &blk.ln2_beta,
                                               &blk.fc_weight, &blk.fc_bias, &blk.out_weight, &blk.out_bias};
  for (int k = 0; k < RK_TRANSFORMER_BLOCK_PARAMS; k++)
    copy_f32(&f, ps[k]->name + strlen("h.0."), ps[k]->value.data, rk_tensor_numel(&ps[k]->value));

  int64_t xs[3] = {SB, ST, 8};
  rk_param x, probe;
  assert_rk_ok(rk_param_init(&x, "x", 3, xs));
  assert_rk_ok(rk_param_init(&probe, "probe", 3, xs));
  copy_f32(&f, "x", x.value.data, SB * ST * 8);
  copy_f32(&f, "probe", probe.value.data, SB * ST * 8);
  rk_graph *g;
  int xv, ids, out, weights;
  assert_rk_ok(rk_graph_create(&g, SB));
  assert_rk_ok(rk_graph_param(g, &xv, &x));
  assert_rk_ok(rk_graph_input_ids(g, &ids, "ids", ST));
  if (gpt2) assert_rk_ok(rk_graph_gpt2_block(g, &out, &weights, xv, &blk, &cfg, ids, 0));
  else assert_rk_ok(rk_graph_bert_block(g, &out, &weights, xv, &blk, &cfg, ids, 0));
  assert_rk_ok(rk_graph_output(g, out));
  assert_rk_ok(rk_graph_output(g, weights));
  assert_rk_ok(rk_graph_build(g, probe_loss(g, out, &probe)));
  copy_i64(&f, "ids", rk_graph_input_ids_data(g, ids), SB * ST);
  train_step(g);
  close_to(&f, "out:out", rk_graph_value_f32(g, out), rk_graph_value_numel(g, out));
  close_to(&f, "out:weights", rk_graph_value_f32(g, weights), rk_graph_value_numel(g, weights));
  check_param(&f, &x, "x");
  for (int k = 0; k < RK_TRANSFORMER_BLOCK_PARAMS; k++) check_param(&f, ps[k], ps[k]->name + strlen("h.0."));
  rk_graph_free(g);
  rk_param_free(&x);
  rk_param_free(&probe);
  for (int k = 0; k < RK_TRANSFORMER_BLOCK_PARAMS; k++) rk_param_free(ps[k]);
  rk_param_arena_free(arena);
  json_decref(f.root);
}

static void test_gpt2_block(void **state) {
  (void)state;
  block_case("seq_gpt2", true);
}

static void test_bert_block(void **state) {
  (void)state;
  block_case("seq_bert", false);
}

static void recurrent_case(const char *name, rk_op op) {
  fixture f;
  load(&f, name);
  const int64_t I = 4, H = 3, G = op == RK_OP_GRU ? 3 : op == RK_OP_LSTM ? 4 : 1;
  int64_t xs[3] = {SB, ST, I}, os[3] = {SB, ST, H}, wi[2] = {G * H, I}, wh[2] = {G * H, H}, bs[1] = {G * H};
  rk_param x, probe, w[4];
  const char *names[4] = {"w_ih", "w_hh", "b_ih", "b_hh"};
  assert_rk_ok(rk_param_init(&x, "x", 3, xs));
  assert_rk_ok(rk_param_init(&probe, "probe", 3, os));
  assert_rk_ok(rk_param_init(&w[0], names[0], 2, wi));
  assert_rk_ok(rk_param_init(&w[1], names[1], 2, wh));
  assert_rk_ok(rk_param_init(&w[2], names[2], 1, bs));
  assert_rk_ok(rk_param_init(&w[3], names[3], 1, bs));
  copy_f32(&f, "x", x.value.data, SB * ST * I);
  copy_f32(&f, "probe", probe.value.data, SB * ST * H);
  for (int k = 0; k < 4; k++) copy_f32(&f, names[k], w[k].value.data, rk_tensor_numel(&w[k].value));
  rk_graph *g;
  int xv, ids, out;
  assert_rk_ok(rk_graph_create(&g, SB));
  assert_rk_ok(rk_graph_param(g, &xv, &x));
  assert_rk_ok(rk_graph_input_ids(g, &ids, "ids", ST));
  if (op == RK_OP_GRU) assert_rk_ok(rk_graph_gru(g, &out, xv, ids, 0, &w[0], &w[1], &w[2], &w[3]));
  else if (op == RK_OP_LSTM) assert_rk_ok(rk_graph_lstm(g, &out, xv, ids, 0, &w[0], &w[1], &w[2], &w[3]));
  else assert_rk_ok(rk_graph_rnn(g, &out, xv, ids, 0, &w[0], &w[1], &w[2], &w[3]));
  assert_rk_ok(rk_graph_output(g, out));
  assert_rk_ok(rk_graph_build(g, probe_loss(g, out, &probe)));
  copy_i64(&f, "ids", rk_graph_input_ids_data(g, ids), SB * ST);
  train_step(g);
  close_to(&f, "out:out", rk_graph_value_f32(g, out), SB * ST * H);
  check_param(&f, &x, "x");
  for (int k = 0; k < 4; k++) check_param(&f, &w[k], names[k]);
  rk_graph_free(g);
  rk_param_free(&x);
  rk_param_free(&probe);
  for (int k = 0; k < 4; k++) rk_param_free(&w[k]);
  json_decref(f.root);
}

static void test_gru(void **state) {
  (void)state;
  recurrent_case("seq_gru", RK_OP_GRU);
}

static void test_lstm(void **state) {
  (void)state;
  recurrent_case("seq_lstm", RK_OP_LSTM);
}

static void test_rnn(void **state) {
  (void)state;
  recurrent_case("seq_rnn", RK_OP_RNN);
}

/* F.cross_entropy(z / 0.7, y, ignore_index=0, label_smoothing=0.1) */
static void test_cross_entropy(void **state) {
  (void)state;
  fixture f;
  load(&f, "seq_ce");
  int64_t zs[2] = {6, 7};
  rk_param z;
  assert_rk_ok(rk_param_init(&z, "z", 2, zs));
  copy_f32(&f, "z", z.value.data, 42);
  rk_graph *g;
  int zv, y, loss;
  assert_rk_ok(rk_graph_create(&g, 6));
  assert_rk_ok(rk_graph_param(g, &zv, &z));
  assert_rk_ok(rk_graph_input_ids(g, &y, "y", 1));
  assert_rk_ok(rk_graph_softmax_ce(g, &loss, zv, y, 0, 0.1f, 0.7f));
  assert_rk_ok(rk_graph_build(g, loss));
  copy_i64(&f, "y", rk_graph_input_ids_data(g, y), 6);
  train_step(g);
  close_to(&f, "out:loss", rk_graph_value_f32(g, loss), 1);
  check_param(&f, &z, "z");
  rk_graph_free(g);
  rk_param_free(&z);
  json_decref(f.root);
}

/* A session model's head, tied: e = items[ids] (a dense table), logits = tanh(e w^T + b1) items^T
 * + bias, the tempered, smoothed cross-entropy of the next item; items gets both gradients. */
static void test_tied_output(void **state) {
  (void)state;
  fixture f;
  load(&f, "seq_tied");
  enum { V = 9, D = 4 };
  int64_t es[2] = {V, D}, ws[2] = {D, D}, b1s[1] = {D}, bs[1] = {V};
  rk_param p[4];
  const char *names[4] = {"items", "w", "b1", "bias"};
  assert_rk_ok(rk_param_init(&p[0], names[0], 2, es));
  assert_rk_ok(rk_param_init(&p[1], names[1], 2, ws));
  assert_rk_ok(rk_param_init(&p[2], names[2], 1, b1s));
  assert_rk_ok(rk_param_init(&p[3], names[3], 1, bs));
  for (int k = 0; k < 4; k++) copy_f32(&f, names[k], p[k].value.data, rk_tensor_numel(&p[k].value));
  rk_graph *g;
  int ids, labels, e, h, logits, loss;
  assert_rk_ok(rk_graph_create(&g, SB));
  assert_rk_ok(rk_graph_input_ids(g, &ids, "ids", ST));
  assert_rk_ok(rk_graph_input_ids(g, &labels, "labels", ST));
  assert_rk_ok(rk_graph_embedding(g, &e, &p[0], ids, 0));
  assert_rk_ok(rk_graph_linear(g, &h, e, &p[1], &p[2], RK_ACT_TANH));
  assert_rk_ok(rk_graph_linear(g, &logits, h, &p[0], &p[3], RK_ACT_NONE));
  assert_rk_ok(rk_graph_softmax_ce(g, &loss, logits, labels, 0, 0.1f, 0.7f));
  assert_rk_ok(rk_graph_output(g, logits));
  assert_rk_ok(rk_graph_build(g, loss));
  copy_i64(&f, "ids", rk_graph_input_ids_data(g, ids), SB * ST);
  copy_i64(&f, "labels", rk_graph_input_ids_data(g, labels), SB * ST);
  train_step(g);
  close_to(&f, "out:logits", rk_graph_value_f32(g, logits), SB * ST * V);
  close_to(&f, "out:loss", rk_graph_value_f32(g, loss), 1);
  for (int k = 0; k < 4; k++) check_param(&f, &p[k], names[k]);
  rk_graph_free(g);
  for (int k = 0; k < 4; k++) rk_param_free(&p[k]);
  json_decref(f.root);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_gpt2_block), cmocka_unit_test(test_bert_block), cmocka_unit_test(test_gru),
      cmocka_unit_test(test_lstm),       cmocka_unit_test(test_rnn),        cmocka_unit_test(test_cross_entropy),
      cmocka_unit_test(test_tied_output),
  };
  return cmocka_run_group_tests_name("nn_seq_reference", tests, NULL, NULL);
}
