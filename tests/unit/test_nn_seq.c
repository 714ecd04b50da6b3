/*
 * Properties of the sequence ops and blocks that the reference fixtures cannot show:
 * attention gives padded keys and future keys exactly zero weight and a query with no visible
 * key a zero row; a GPT-2 block's position t does not depend on later positions, a BERT block's
 * real positions not on padded ones; the recurrent ops over padded sessions equal the same
 * sessions unpadded (packed); prefix_mean is a running mean; attention dropout is a pure function of (seed, step), the same on
 * one or two threads; gather's positions are checked; bad shapes are refused naming the op; block
 * weights are drawn by parameter number, not by place in the arena.
 */
#include "support.h"

#include <math.h>
#include <string.h>

#include "reckon/nn.h"

static void fill_normal(float *x, int64_t n, uint64_t stream) {
  rk_rng rng;
  rk_rng_init(&rng, 11, stream);
  for (int64_t i = 0; i < n; i++) x[i] = (float)rk_rng_normal(&rng);
}

/* B = 3 sessions of T = 6: full with a hole at 2, right-padded to 3 items, empty. */
static const int64_t session_ids[3 * 6] = {5, 7, 0, 9, 4, 2, 3, 8, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0};

static void attention_masks(bool causal) {
  enum { B = 3, T = 6, D = 8, H = 2 };
  rk_graph *g;
  int64_t qs[2] = {T, 3 * D};
  int qkv, ids, out, w;
  assert_rk_ok(rk_graph_create(&g, B));
  assert_rk_ok(rk_graph_input(g, &qkv, "qkv", 2, qs));
  assert_rk_ok(rk_graph_input_ids(g, &ids, "ids", T));
  assert_rk_ok(rk_graph_attention(g, &out, &w, qkv, H, causal, ids, 0, 0.0f));
  assert_rk_ok(rk_graph_output(g, out));
  assert_rk_ok(rk_graph_output(g, w));
  assert_rk_ok(rk_graph_build(g, RK_NO_VALUE));
  fill_normal(rk_graph_input_f32(g, qkv), B * T * 3 * D, 1);
  memcpy(rk_graph_input_ids_data(g, ids), session_ids, sizeof session_ids);
  assert_rk_ok(rk_graph_forward(g, RK_EVAL));
  const float *P = rk_graph_value_f32(g, w), *o = rk_graph_value_f32(g, out);
  for (int b = 0; b < B; b++)
    for (int h = 0; h < H; h++)
      for (int t = 0; t < T; t++) {
        const float *row = P + ((b * H + h) * T + t) * T;
        double sum = 0.0;
        int seen = 0;
        for (int j = 0; j < T; j++) {
          bool visible = session_ids[b * T + j] != 0 && (!causal || j <= t);
          if (!visible && row[j] != 0.0f) fail_msg("session %d head %d query %d: hidden key %d has weight %g", b, h, t, j, row[j]);
          sum += row[j];
          seen += visible;
        }
        if (seen) assert_true(fabs(sum - 1.0) < 1e-6);
        else assert_true(sum == 0.0);
      }
  for (int t = 0; t < T; t++)   /* the empty session: zeros, not NaN */
    for (int d = 0; d < D; d++) assert_true(o[(2 * T + t) * D + d] == 0.0f);
  rk_graph_free(g);
}

static void test_attention_masks(void **state) {
  (void)state;
  attention_masks(true);
  attention_masks(false);
}

/* A block on x (B, T, D) in eval mode: out is written to *result (B T D floats). */
typedef struct {
  rk_param_arena *arena;
  rk_transformer_block blk;
  rk_transformer_config cfg;
  rk_graph *g;
  int x, ids, out;
} block_graph;

static void block_open(block_graph *bg, bool gpt2, int64_t B, int64_t T, int64_t D, float dropout, bool train) {
  memset(bg, 0, sizeof *bg);
  bg->cfg = (rk_transformer_config){.d_model = D, .heads = 2, .dropout = dropout, .attn_dropout = dropout,
                                    .ln_eps = 1e-5f, .gelu_tanh = gpt2, .causal = gpt2};
  assert_rk_ok(rk_param_arena_create(&bg->arena));
  assert_rk_ok(rk_transformer_block_declare(&bg->blk, bg->arena, "h", &bg->cfg));
  assert_rk_ok(rk_param_arena_alloc(bg->arena));
  assert_rk_ok(rk_transformer_block_init(&bg->blk, 3, 0, 0.3, 0.3));
  int64_t xs[2] = {T, D};
  assert_rk_ok(rk_graph_create(&bg->g, B));
  assert_rk_ok(rk_graph_input(bg->g, &bg->x, "x", 2, xs));
  assert_rk_ok(rk_graph_input_ids(bg->g, &bg->ids, "ids", T));
  if (gpt2) assert_rk_ok(rk_graph_gpt2_block(bg->g, &bg->out, NULL, bg->x, &bg->blk, &bg->cfg, bg->ids, 0));
  else assert_rk_ok(rk_graph_bert_block(bg->g, &bg->out, NULL, bg->x, &bg->blk, &bg->cfg, bg->ids, 0));
  int loss = RK_NO_VALUE;
  if (train) assert_rk_ok(rk_graph_mean(bg->g, &loss, bg->out, RK_REDUCE_ALL));
  assert_rk_ok(rk_graph_output(bg->g, bg->out));
  assert_rk_ok(rk_graph_build(bg->g, loss));
  fill_normal(rk_graph_input_f32(bg->g, bg->x), B * T * D, 2);
}

static void block_close(block_graph *bg) {
  rk_graph_free(bg->g);
  rk_param *ps[RK_TRANSFORMER_BLOCK_PARAMS] = {&bg->blk.ln1_gamma, &bg->blk.ln1_beta, &bg->blk.qkv_weight,
                                               &bg->blk.qkv_bias, &bg->blk.proj_weight, &bg->blk.proj_bias,
                                               &bg->blk.ln2_gamma, &bg->blk.ln2_beta, &bg->blk.fc_weight,
                                               &bg->blk.fc_bias, &bg->blk.out_weight, &bg->blk.out_bias};
  for (int k = 0; k < RK_TRANSFORMER_BLOCK_PARAMS; k++) rk_param_free(ps[k]);
  rk_param_arena_free(bg->arena);
}

/* Changing x at the positions where `changed` is true leaves the outputs at `fixed` positions
 * bit-identical. */
static void block_independence(bool gpt2, const int64_t *ids, const bool *changed, const bool *fixed) {
  enum { B = 3, T = 6, D = 8 };
  block_graph bg;
  block_open(&bg, gpt2, B, T, D, 0.0f, false);
  memcpy(rk_graph_input_ids_data(bg.g, bg.ids), ids, sizeof(int64_t) * B * T);
  static float before[B * T * D];
  assert_rk_ok(rk_graph_forward(bg.g, RK_EVAL));
  memcpy(before, rk_graph_value_f32(bg.g, bg.out), sizeof before);
  float *x = rk_graph_input_f32(bg.g, bg.x);
  for (int i = 0; i < B * T; i++)
    if (changed[i])
      for (int d = 0; d < D; d++) x[i * D + d] += 1.5f;
  assert_rk_ok(rk_graph_forward(bg.g, RK_EVAL));
  const float *after = rk_graph_value_f32(bg.g, bg.out);
  int moved = 0;
  for (int i = 0; i < B * T; i++)
    for (int d = 0; d < D; d++) {
      bool same = memcmp(&before[i * D + d], &after[i * D + d], sizeof(float)) == 0;
      if (fixed[i] && !same) fail_msg("row %d (session %d, position %d) changed", i, i / T, i % T);
      moved += !same;
    }
  assert_true(moved > 0);   /* the change did reach something */
  block_close(&bg);
}

static void test_gpt2_block_is_causal(void **state) {
  (void)state;
  int64_t ids[18];
  bool changed[18], fixed[18];
  for (int i = 0; i < 18; i++) {
    ids[i] = 1 + i;
    changed[i] = i % 6 == 4;
    fixed[i] = i % 6 < 4;
  }
  block_independence(true, ids, changed, fixed);
}

static void test_bert_block_ignores_padded_keys(void **state) {
  (void)state;
  bool changed[18], fixed[18];
  for (int i = 0; i < 18; i++) {
    changed[i] = session_ids[i] == 0;
    fixed[i] = session_ids[i] != 0;
  }
  block_independence(false, session_ids, changed, fixed);
}

/* GRU, LSTM and RNN over right-, left- and middle-padded sessions equal the unpadded ones. */
static void recurrent_padding(rk_op op) {
  enum { B = 3, T = 6, L = 3, I = 4, H = 3 };
  const int64_t ids[B * T] = {7, 8, 9, 0, 0, 0, 0, 0, 0, 7, 8, 9, 7, 0, 8, 0, 9, 0};
  int G = op == RK_OP_GRU ? 3 : op == RK_OP_LSTM ? 4 : 1;
  int64_t wi[2] = {G * H, I}, wh[2] = {G * H, H}, bs[1] = {G * H};
  rk_param w[4];
  assert_rk_ok(rk_param_init(&w[0], "w_ih", 2, wi));
  assert_rk_ok(rk_param_init(&w[1], "w_hh", 2, wh));
  assert_rk_ok(rk_param_init(&w[2], "b_ih", 1, bs));
  assert_rk_ok(rk_param_init(&w[3], "b_hh", 1, bs));
  for (int k = 0; k < 4; k++) rk_param_fill_normal(&w[k], 5, (uint64_t)k, 0.5f);
  float items[L * I];   /* the session's three items */
  fill_normal(items, L * I, 3);
  rk_graph *g[2];
  int x[2], id = RK_NO_VALUE, out[2];
  for (int k = 0; k < 2; k++) {
    int64_t xs[2] = {k ? L : T, I};
    assert_rk_ok(rk_graph_create(&g[k], k ? 1 : B));
    assert_rk_ok(rk_graph_input(g[k], &x[k], "x", 2, xs));
    if (!k) assert_rk_ok(rk_graph_input_ids(g[k], &id, "ids", T));
    int ids_k = k ? RK_NO_VALUE : id;
    if (op == RK_OP_GRU) assert_rk_ok(rk_graph_gru(g[k], &out[k], x[k], ids_k, 0, &w[0], &w[1], &w[2], &w[3]));
    else if (op == RK_OP_LSTM) assert_rk_ok(rk_graph_lstm(g[k], &out[k], x[k], ids_k, 0, &w[0], &w[1], &w[2], &w[3]));
    else assert_rk_ok(rk_graph_rnn(g[k], &out[k], x[k], ids_k, 0, &w[0], &w[1], &w[2], &w[3]));
    assert_rk_ok(rk_graph_output(g[k], out[k]));
    assert_rk_ok(rk_graph_build(g[k], RK_NO_VALUE));
  }
  memcpy(rk_graph_input_ids_data(g[0], id), ids, sizeof ids);
  float *xp = rk_graph_input_f32(g[0], x[0]);
  fill_normal(xp, B * T * I, 4);   /* padded steps hold noise: it must not matter */
  for (int i = 0, seen[B] = {0}; i < B * T; i++)
    if (ids[i]) memcpy(xp + i * I, items + seen[i / T]++ * I, sizeof(float) * I);
  memcpy(rk_graph_input_f32(g[1], x[1]), items, sizeof items);
  assert_rk_ok(rk_graph_forward(g[0], RK_EVAL));
  assert_rk_ok(rk_graph_forward(g[1], RK_EVAL));
  const float *padded = rk_graph_value_f32(g[0], out[0]), *packed = rk_graph_value_f32(g[1], out[1]);
  for (int i = 0, seen[B] = {0}; i < B * T; i++)
    for (int k = 0; k < H; k++) {
      float want = ids[i] ? packed[seen[i / T] * H + k] : 0.0f;
      if (!(fabsf(padded[i * H + k] - want) <= 1e-6f))
        fail_msg("%s: session %d position %d unit %d: %g, unpadded %g", rk_op_name(op), i / T, i % T, k,
                 padded[i * H + k], want);
      if (ids[i] && k == H - 1) seen[i / T]++;
    }
  for (int k = 0; k < 2; k++) rk_graph_free(g[k]);
  for (int k = 0; k < 4; k++) rk_param_free(&w[k]);
}

static void test_recurrent_padding_is_packing(void **state) {
  (void)state;
  recurrent_padding(RK_OP_GRU);
  recurrent_padding(RK_OP_LSTM);
  recurrent_padding(RK_OP_RNN);
}

/* One train step of a GPT-2 block with dropout: the output and every gradient. */
static void dropout_step(int threads, uint64_t step, float *out, float *grads, int64_t n_out, int64_t n_grads) {
  assert_rk_ok(rk_set_num_threads(threads));
  block_graph bg;
  block_open(&bg, true, 8, 7, 16, 0.3f, true);
  for (int i = 0; i < 8 * 7; i++) rk_graph_input_ids_data(bg.g, bg.ids)[i] = i % 7 < 2 + i / 7 % 5 ? 1 + i : 0;
  rk_graph_set_seed(bg.g, 77);
  rk_graph_set_step(bg.g, step);
  rk_graph_zero_grad(bg.g);
  assert_rk_ok(rk_graph_forward(bg.g, RK_TRAIN));
  assert_rk_ok(rk_graph_backward(bg.g));
  memcpy(out, rk_graph_value_f32(bg.g, bg.out), (size_t)n_out * sizeof(float));
  int64_t at = 0;
  for (int k = 0; k < rk_graph_param_count(bg.g); k++) {
    const rk_param *p = rk_graph_param_at(bg.g, k);
    int64_t n = rk_tensor_numel(&p->grad);
    assert_true(at + n <= n_grads);
    memcpy(grads + at, p->grad.data, (size_t)n * sizeof(float));
    at += n;
  }
  block_close(&bg);
  assert_rk_ok(rk_set_num_threads(1));
}

static void test_dropout_is_keyed_and_thread_independent(void **state) {
  (void)state;
  enum { NO = 8 * 7 * 16, NG = 20000 };
  static float o1[NO], o2[NO], o3[NO], g1[NG], g2[NG], g3[NG];
  dropout_step(1, 4, o1, g1, NO, NG);
  dropout_step(2, 4, o2, g2, NO, NG);
  dropout_step(1, 5, o3, g3, NO, NG);
  assert_memory_equal(o1, o2, sizeof o1);
  assert_memory_equal(g1, g2, sizeof g1);
  assert_memory_not_equal(o1, o3, sizeof o1);   /* another step, other masks */
}

static void test_gather_positions(void **state) {
  (void)state;
  int64_t last[3];
  rk_seq_last_positions(last, session_ids, 3, 6, 0);
  assert_int_equal(last[0], 5);
  assert_int_equal(last[1], 2);
  assert_int_equal(last[2], -1);
  rk_graph *g;
  int64_t xs[2] = {6, 2};
  int x, ix, out;
  assert_rk_ok(rk_graph_create(&g, 3));
  assert_rk_ok(rk_graph_input(g, &x, "x", 2, xs));
  assert_rk_ok(rk_graph_input_ids(g, &ix, "last", 1));
  assert_rk_ok(rk_graph_gather(g, &out, x, ix));
  assert_rk_ok(rk_graph_output(g, out));
  assert_rk_ok(rk_graph_build(g, RK_NO_VALUE));
  float *xp = rk_graph_input_f32(g, x);
  for (int i = 0; i < 36; i++) xp[i] = (float)i;
  memcpy(rk_graph_input_ids_data(g, ix), last, sizeof last);
  assert_rk_ok(rk_graph_forward(g, RK_EVAL));
  const float *o = rk_graph_value_f32(g, out);
  const float want[6] = {10, 11, 16, 17, 0, 0};   /* session 0 row 5, session 1 row 2, none */
  assert_memory_equal(o, want, sizeof want);
  rk_graph_input_ids_data(g, ix)[1] = 6;
  assert_int_equal(rk_graph_forward(g, RK_EVAL), RK_ERANGE);
  assert_non_null(strstr(rk_error_message(), "position 6 of session 1"));
  rk_graph_free(g);
}

/* avgseq's running mean: row t of each session is the mean of its rows 0..t, padded ones too
 * (AvgSeq's cumsum / arange); backward gives row u the sum of dout row t / (t + 1) over t >= u. */
static void test_prefix_mean(void **state) {
  (void)state;
  enum { B = 2, T = 4, D = 2 };
  rk_graph *g;
  rk_param xp;
  int64_t xs[3] = {B, T, D};
  int x, out, sum;
  assert_rk_ok(rk_param_init(&xp, "x", 3, xs));
  float *xv = xp.value.data;
  for (int i = 0; i < B * T * D; i++) xv[i] = (float)(i * i % 7);
  assert_rk_ok(rk_graph_create(&g, B));
  assert_rk_ok(rk_graph_param(g, &x, &xp));
  assert_rk_ok(rk_graph_prefix_mean(g, &out, x));
  assert_rk_ok(rk_graph_sum(g, &sum, out, RK_REDUCE_ALL));
  assert_rk_ok(rk_graph_output(g, out));
  assert_rk_ok(rk_graph_output(g, sum));
  assert_rk_ok(rk_graph_build(g, sum));
  rk_graph_zero_grad(g);
  assert_rk_ok(rk_graph_forward(g, RK_TRAIN));
  assert_rk_ok(rk_graph_backward(g));
  const float *o = rk_graph_value_f32(g, out);
  for (int b = 0; b < B; b++)
    for (int t = 0; t < T; t++)
      for (int d = 0; d < D; d++) {
        float s = 0.0f, ds = 0.0f;
        for (int u = 0; u <= t; u++) s += xv[(b * T + u) * D + d];
        for (int u = t; u < T; u++) ds += 1.0f / (float)(u + 1);   /* d sum / d x[t] */
        assert_float_equal(o[(b * T + t) * D + d], s / (float)(t + 1), 1e-6f);
        assert_float_equal(((float *)xp.grad.data)[(b * T + t) * D + d], ds, 1e-6f);
      }
  assert_int_equal(rk_graph_prefix_mean(g, &out, sum), RK_ESHAPE);
  assert_non_null(strstr(rk_error_message(), "prefix_mean: want x (B, T, D)"));
  rk_graph_free(g);
  rk_param_free(&xp);
}

static void test_bad_shapes_are_refused(void **state) {
  (void)state;
  rk_graph *g;
  int64_t xs[2] = {5, 10}, ws[2] = {9, 3}, hs[2] = {9, 4};
  int x, out;
  assert_rk_ok(rk_graph_create(&g, 2));
  assert_rk_ok(rk_graph_input(g, &x, "x", 2, xs));
  assert_int_equal(rk_graph_attention(g, &out, NULL, x, 2, true, RK_NO_VALUE, 0, 0.0f), RK_ESHAPE);
  assert_non_null(strstr(rk_error_message(), "attention: input (2, 5, 10)"));
  rk_param w_ih, w_hh;
  assert_rk_ok(rk_param_init(&w_ih, "w_ih", 2, ws));
  assert_rk_ok(rk_param_init(&w_hh, "w_hh", 2, hs));
  assert_int_equal(rk_graph_gru(g, &out, x, RK_NO_VALUE, 0, &w_ih, &w_hh, NULL, NULL), RK_ESHAPE);
  assert_non_null(strstr(rk_error_message(), "gru: w_ih must be a dense (12, 10) parameter"));
  rk_transformer_config cfg = {.d_model = 10, .heads = 3};
  rk_transformer_block blk;
  rk_param_arena *a;
  assert_rk_ok(rk_param_arena_create(&a));
  assert_int_equal(rk_transformer_block_declare(&blk, a, "h.0", &cfg), RK_EINVAL);
  assert_non_null(strstr(rk_error_message(), "d_model 10 must be a positive multiple of n_head 3"));
  cfg.heads = 2;
  assert_rk_ok(rk_transformer_block_declare(&blk, a, "h.0", &cfg));
  int64_t s8[2] = {5, 8};
  int x8;
  assert_rk_ok(rk_graph_input(g, &x8, "x8", 2, s8));
  assert_int_equal(rk_graph_gpt2_block(g, &out, NULL, x8, &blk, &cfg, RK_NO_VALUE, 0), RK_ESHAPE);
  assert_non_null(strstr(rk_error_message(), "gpt2 block: input (2, 5, 8) must be (B, T, d_model 10)"));
  rk_graph_free(g);
  rk_param_free(&w_ih);
  rk_param_free(&w_hh);
  rk_param_arena_free(a);
}

/* Draws depend on (seed, parameter number), not on the arena: a block declared after another
 * parameter holds the same weights; the scales are as asked. */
static void test_block_draws_are_keyed(void **state) {
  (void)state;
  const rk_transformer_config cfg = {.d_model = 32, .heads = 4, .ln_eps = 1e-5f};
  rk_param_arena *a[2];
  rk_transformer_block blk[2];
  rk_param extra;
  int64_t es[1] = {7};
  for (int k = 0; k < 2; k++) {
    assert_rk_ok(rk_param_arena_create(&a[k]));
    if (k) assert_rk_ok(rk_param_arena_add(a[k], &extra, "extra", 1, es));
    assert_rk_ok(rk_transformer_block_declare(&blk[k], a[k], "h.1", &cfg));
    assert_rk_ok(rk_param_arena_alloc(a[k]));
    assert_rk_ok(rk_transformer_block_init(&blk[k], 9, 12, 0.02, 0.005));
  }
  assert_true(rk_param_arena_offset(&blk[0].qkv_weight) != rk_param_arena_offset(&blk[1].qkv_weight));
  assert_memory_equal(blk[0].qkv_weight.value.data, blk[1].qkv_weight.value.data, rk_tensor_nbytes(&blk[0].qkv_weight.value));
  assert_memory_equal(blk[0].out_weight.value.data, blk[1].out_weight.value.data, rk_tensor_nbytes(&blk[0].out_weight.value));
  const rk_param *ps[3] = {&blk[0].qkv_weight, &blk[0].proj_weight, &blk[0].fc_weight};
  const double want[3] = {0.02, 0.005, 0.02};
  for (int k = 0; k < 3; k++) {
    const float *v = ps[k]->value.data;
    int64_t n = rk_tensor_numel(&ps[k]->value);
    double ss = 0.0;
    for (int64_t i = 0; i < n; i++) ss += (double)v[i] * v[i];
    double sd = sqrt(ss / (double)n);
    if (fabs(sd - want[k]) > 0.1 * want[k]) fail_msg("'%s': std %g, want %g", ps[k]->name, sd, want[k]);
  }
  for (int d = 0; d < 32; d++) {
    assert_true(((const float *)blk[0].ln1_gamma.value.data)[d] == 1.0f);
    assert_true(((const float *)blk[0].qkv_bias.value.data)[d] == 0.0f);
  }
  assert_string_equal(blk[0].fc_weight.name, "h.1.mlp.fc.weight");
  for (int k = 0; k < 2; k++) {
    rk_param *ps2[RK_TRANSFORMER_BLOCK_PARAMS] = {&blk[k].ln1_gamma, &blk[k].ln1_beta, &blk[k].qkv_weight,
                                                  &blk[k].qkv_bias, &blk[k].proj_weight, &blk[k].proj_bias,
                                                  &blk[k].ln2_gamma, &blk[k].ln2_beta, &blk[k].fc_weight,
                                                  &blk[k].fc_bias, &blk[k].out_weight, &blk[k].out_bias};
    for (int j = 0; j < RK_TRANSFORMER_BLOCK_PARAMS; j++) rk_param_free(ps2[j]);
    rk_param_arena_free(a[k]);
  }
  rk_param_free(&extra);
}

/* Building a model of a GPT-2 block, a BERT block on the same parameters and a GRU: every
 * allocation failure is an RK_ENOMEM that leaks nothing. */
static rk_status build_all(void *ctx) {
  (void)ctx;
  const rk_transformer_config cfg = {.d_model = 8, .heads = 2, .dropout = 0.1f, .attn_dropout = 0.1f, .ln_eps = 1e-5f,
                                     .gelu_tanh = true, .causal = true};
  rk_param_arena *arena = NULL;
  rk_transformer_block blk;
  rk_param w[2];
  memset(&blk, 0, sizeof blk);
  memset(w, 0, sizeof w);
  rk_graph *g = NULL;
  int64_t xs[2] = {4, 8}, wi[2] = {24, 8}, wh[2] = {24, 8};
  int x, ids, h, wts, out, loss;
  rk_status s = rk_param_arena_create(&arena);
  if (!s) s = rk_transformer_block_declare(&blk, arena, "h", &cfg);
  if (!s) s = rk_param_arena_alloc(arena);
  if (!s) s = rk_transformer_block_init(&blk, 1, 0, 0.02, 0.02);
  if (!s) s = rk_param_init(&w[0], "w_ih", 2, wi);
  if (!s) s = rk_param_init(&w[1], "w_hh", 2, wh);
  if (!s) s = rk_graph_create(&g, 3);
  if (!s) s = rk_graph_input(g, &x, "x", 2, xs);
  if (!s) s = rk_graph_input_ids(g, &ids, "ids", 4);
  if (!s) s = rk_graph_gpt2_block(g, &h, &wts, x, &blk, &cfg, ids, 0);
  if (!s) s = rk_graph_bert_block(g, &h, NULL, h, &blk, &cfg, ids, 0);
  if (!s) s = rk_graph_gru(g, &out, h, ids, 0, &w[0], &w[1], NULL, NULL);
  if (!s) s = rk_graph_mean(g, &loss, out, RK_REDUCE_ALL);
  if (!s) s = rk_graph_build(g, loss);
  if (!s) s = rk_graph_forward(g, RK_TRAIN);
  if (!s) s = rk_graph_backward(g);
  rk_graph_free(g);
  rk_param *ps[RK_TRANSFORMER_BLOCK_PARAMS] = {&blk.ln1_gamma, &blk.ln1_beta, &blk.qkv_weight, &blk.qkv_bias,
                                               &blk.proj_weight, &blk.proj_bias, &blk.ln2_gamma, &blk.ln2_beta,
                                               &blk.fc_weight, &blk.fc_bias, &blk.out_weight, &blk.out_bias};
  for (int k = 0; k < RK_TRANSFORMER_BLOCK_PARAMS; k++) rk_param_free(ps[k]);
  for (int k = 0; k < 2; k++) rk_param_free(&w[k]);
  rk_param_arena_free(arena);
  return s;
}

static void test_allocation_failures(void **state) {
  (void)state;
  assert_true(rk_test_walk_failures(build_all, NULL) > 10);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_attention_masks),
      cmocka_unit_test(test_gpt2_block_is_causal),
      cmocka_unit_test(test_bert_block_ignores_padded_keys),
      cmocka_unit_test(test_recurrent_padding_is_packing),
      cmocka_unit_test(test_dropout_is_keyed_and_thread_independent),
      cmocka_unit_test(test_gather_positions),
      cmocka_unit_test(test_prefix_mean),
      cmocka_unit_test(test_bad_shapes_are_refused),
      cmocka_unit_test(test_block_draws_are_keyed),
      cmocka_unit_test(test_allocation_failures),
  };
  return cmocka_run_group_tests_name("nn_seq", tests, NULL, NULL);
}
