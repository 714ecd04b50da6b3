/*
 * sampled_logits on rows in use (docs/design.md, "Rows in use"): the session train graph packs
 * the labelled rows before sampled softmax and negative sampling, as before the full one, so
 * the head and the candidates' gemm run on those rows only. Checked against the same loss on
 * every row with the unlabelled ones ignored: equal loss and gradients to float rounding (fixed
 * draws, an accidental hit among them, logQ on, a temperature), zero gradient at the unlabelled
 * rows; with in-batch candidates (negative sampling: the packed rows' sessions given, each row
 * masking its own session's targets) under cross-entropy and bpr; and the refusal of in-batch
 * candidates on packed rows without their sessions.
 */
#include "support.h"

#include <math.h>
#include <string.h>

#include "reckon/nn.h"

enum { NB = 3, NT = 4, D = 3, H = 5, V = 9, N = 4 };

static const int64_t draws[N] = {2, 3, 5, 8};   /* 3 is a target below: an accidental hit */

typedef struct {
  rk_param x, hw, hb, w, b;
} weights;

static rk_param *weight(weights *w, int i) {
  rk_param *all[5] = {&w->x, &w->hw, &w->hb, &w->w, &w->b};
  return all[i];
}

static void weights_init(weights *w) {
  int64_t xs[3] = {NB, NT, D}, hw[2] = {H, D}, hb[1] = {H}, ws[2] = {V, H}, bs[1] = {V};
  assert_rk_ok(rk_param_init(&w->x, "x", 3, xs));
  assert_rk_ok(rk_param_init(&w->hw, "head_w", 2, hw));
  assert_rk_ok(rk_param_init(&w->hb, "head_b", 1, hb));
  assert_rk_ok(rk_param_init(&w->w, "items", 2, ws));
  assert_rk_ok(rk_param_init(&w->b, "items_b", 1, bs));
  for (int i = 0; i < 5; i++) rk_param_fill_normal(weight(w, i), 5, (uint64_t)i, 0.7f);
}

static void weights_free(weights *w) {
  for (int i = 0; i < 5; i++) rk_param_free(weight(w, i));
}

static rk_sampled_spec spec(bool in_batch) {
  return (rk_sampled_spec){.n_sampled = N, .sampler = RK_SAMPLER_LOG_UNIFORM, .first_id = 1, .in_batch = in_batch,
                           .logq = true, .ignore = 0, .temperature = 0.7f, .given = draws};
}

typedef struct {
  rk_graph *g;
  int labels, rows, packed, sessions, loss;
} loss_graph;

/* The loss over the rows whose label is not 0: packed (gather_rows; in-batch: with the rows'
 * sessions) or on all rows. */
static void loss_graph_build(loss_graph *lg, weights *w, bool packed, bool in_batch, rk_sampled_loss kind) {
  assert_rk_ok(rk_graph_create(&lg->g, NB));
  int x, h, z;
  assert_rk_ok(rk_graph_param(lg->g, &x, &w->x));
  assert_rk_ok(rk_graph_input_ids(lg->g, &lg->labels, "labels", NT));
  int in = x, y = lg->labels;
  lg->sessions = RK_NO_VALUE;
  if (packed) {
    assert_rk_ok(rk_graph_input_ids(lg->g, &lg->rows, "rows", NT));
    assert_rk_ok(rk_graph_input_ids(lg->g, &lg->packed, "packed", NT));
    if (in_batch) assert_rk_ok(rk_graph_input_ids(lg->g, &lg->sessions, "sessions", NT));
    assert_rk_ok(rk_graph_gather_rows(lg->g, &in, x, lg->rows));
    y = lg->packed;
  }
  assert_rk_ok(rk_graph_linear(lg->g, &h, in, &w->hw, &w->hb, RK_ACT_TANH));
  rk_sampled_spec s = spec(in_batch);
  assert_rk_ok(rk_graph_sampled_logits(lg->g, &z, h, y, lg->sessions, &w->w, &w->b, &s));
  assert_rk_ok(rk_graph_sampled_loss(lg->g, &lg->loss, z, y, kind, 0, 0.0f));
  assert_rk_ok(rk_graph_output(lg->g, lg->loss));
  assert_rk_ok(rk_graph_build(lg->g, lg->loss));
}

/* labels (NB NT) into the graph; packed: the labelled rows, their labels and sessions, then -1,
 * 0 and -1. */
static void fill_labels(loss_graph *lg, const int64_t *labels, bool packed) {
  memcpy(rk_graph_input_ids_data(lg->g, lg->labels), labels, NB * NT * sizeof *labels);
  if (!packed) return;
  int64_t *rows = rk_graph_input_ids_data(lg->g, lg->rows), *y = rk_graph_input_ids_data(lg->g, lg->packed), n = 0;
  int64_t *sessions = lg->sessions != RK_NO_VALUE ? rk_graph_input_ids_data(lg->g, lg->sessions) : NULL;
  for (int64_t r = 0; r < NB * NT; r++)
    if (labels[r] != 0) {
      if (sessions) sessions[n] = r / NT;
      rows[n] = r, y[n++] = labels[r];
    }
  for (int64_t k = n; k < NB * NT; k++) {
    if (sessions) sessions[k] = -1;
    rows[k] = -1, y[k] = 0;
  }
}

static float run_pass(loss_graph *lg, weights *w) {
  for (int i = 0; i < 5; i++) rk_param_zero_grad(weight(w, i));
  assert_rk_ok(rk_graph_forward(lg->g, RK_TRAIN));
  assert_rk_ok(rk_graph_backward(lg->g));
  return rk_graph_value_f32(lg->g, lg->loss)[0];
}

static void assert_close(const float *a, const float *b, int64_t n, const char *what) {
  for (int64_t i = 0; i < n; i++)
    if (fabsf(a[i] - b[i]) > 1e-6f + 1e-5f * fabsf(b[i]))
      fail_msg("%s[%lld]: packed %.9g, every row %.9g", what, (long long)i, a[i], b[i]);
}

/* 6 labelled rows of 12, a session with none, a label repeated and one drawn (3) */
static void packed_equals_every_row(bool in_batch, rk_sampled_loss kind) {
  const int64_t labels[NB * NT] = {3, 0, 6, 0, 0, 0, 0, 0, 1, 3, 7, 2};
  weights w;
  weights_init(&w);
  loss_graph full, packed;
  loss_graph_build(&full, &w, false, in_batch, kind);
  loss_graph_build(&packed, &w, true, in_batch, kind);
  fill_labels(&full, labels, false);
  fill_labels(&packed, labels, true);
  float loss_full = run_pass(&full, &w), grads[5][NB * NT * D + V * H];
  for (int i = 0; i < 5; i++)
    memcpy(grads[i], weight(&w, i)->grad.data, (size_t)rk_tensor_numel(&weight(&w, i)->grad) * sizeof(float));
  float loss_packed = run_pass(&packed, &w);
  assert_true(loss_full > 0.0f && isfinite(loss_full));
  assert_close(&loss_packed, &loss_full, 1, "loss");
  const char *names[5] = {"d x", "d head_w", "d head_b", "d items", "d items_b"};
  for (int i = 0; i < 5; i++)
    assert_close(weight(&w, i)->grad.data, grads[i], rk_tensor_numel(&weight(&w, i)->grad), names[i]);
  bool moved = false;   /* the target rows and the draws get gradient; the unlabelled rows none */
  for (int64_t r = 0; r < NB * NT; r++)
    for (int d = 0; d < D; d++) {
      float g = ((const float *)w.x.grad.data)[r * D + d];
      if (labels[r] == 0) assert_true(g == 0.0f);
      moved = moved || g != 0.0f;
    }
  assert_true(moved);
  rk_graph_free(full.g);
  rk_graph_free(packed.g);
  weights_free(&w);
}

static void test_packed_equals_every_row(void **state) {
  (void)state;
  packed_equals_every_row(false, RK_SAMPLED_CE);
}

/* Negative sampling: in-batch candidates, each row's own session's targets masked. */
static void test_packed_in_batch_equals_every_row(void **state) {
  (void)state;
  packed_equals_every_row(true, RK_SAMPLED_CE);
  packed_equals_every_row(true, RK_SAMPLED_BPR);
}

/* In-batch candidates mask each row's own session's targets: packed rows have lost their
 * sessions, so the builder refuses them without the sessions input, naming why. */
static void test_in_batch_refuses_packed_rows(void **state) {
  (void)state;
  weights w;
  weights_init(&w);
  rk_graph *g;
  assert_rk_ok(rk_graph_create(&g, NB));
  int x, ix, y, rows, h, z;
  assert_rk_ok(rk_graph_param(g, &x, &w.x));
  assert_rk_ok(rk_graph_input_ids(g, &ix, "rows", NT));
  assert_rk_ok(rk_graph_input_ids(g, &y, "packed", NT));
  assert_rk_ok(rk_graph_gather_rows(g, &rows, x, ix));
  assert_rk_ok(rk_graph_linear(g, &h, rows, &w.hw, &w.hb, RK_ACT_TANH));
  rk_sampled_spec s = spec(true);
  assert_int_equal(rk_graph_sampled_logits(g, &z, h, y, RK_NO_VALUE, &w.w, &w.b, &s), RK_EINVAL);
  assert_non_null(strstr(rk_error_message(), "in-batch candidates on packed rows in use need the rows' sessions"));
  s = spec(false);
  assert_rk_ok(rk_graph_sampled_logits(g, &z, h, y, RK_NO_VALUE, &w.w, &w.b, &s));
  rk_graph_free(g);
  weights_free(&w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_packed_equals_every_row),
      cmocka_unit_test(test_packed_in_batch_equals_every_row),
      cmocka_unit_test(test_in_batch_refuses_packed_rows),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
