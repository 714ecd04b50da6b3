/*
 * rk_graph_freeze_params: a graph whose parameters no longer change (a served model) keeps what
 * its ops derive from them. Checked on linear over rows in use (gather_rows), whose transposed
 * weight is then made once: a frozen graph gives the bits of an unfrozen one for any number of
 * rows in use, with and without an activation; it computes from the weights as they were when it
 * was frozen (the transpose is kept, not redone); and the refusals (freezing before the build,
 * backward once frozen). The linear kernels themselves are test_nn_rows_in_use.c's and
 * test_nn_gradcheck.c's.
 */
#include "support.h"

#include <string.h>

#include "reckon/nn.h"

enum { NB = 4, NT = 5, C = 24, OC = 40 };

typedef struct {
  rk_param x, w1, b1, w2;
} weights;

static void weights_init(weights *w) {
  int64_t xs[3] = {NB, NT, C}, w1[2] = {OC, C}, b1[1] = {OC}, w2[2] = {C, OC};
  assert_rk_ok(rk_param_init(&w->x, "x", 3, xs));
  assert_rk_ok(rk_param_init(&w->w1, "w1", 2, w1));
  assert_rk_ok(rk_param_init(&w->b1, "b1", 1, b1));
  assert_rk_ok(rk_param_init(&w->w2, "w2", 2, w2));
  rk_param *all[4] = {&w->x, &w->w1, &w->b1, &w->w2};
  for (int i = 0; i < 4; i++) rk_param_fill_normal(all[i], 11, (uint64_t)i, 0.5f);
}

static void weights_free(weights *w) {
  rk_param *all[4] = {&w->x, &w->w1, &w->b1, &w->w2};
  for (int i = 0; i < 4; i++) rk_param_free(all[i]);
}

typedef struct {
  rk_graph *g;
  int rows, out;
} packed_graph;

/* out = linear(tanh(linear(x[rows]) + b1)) without bias: an activation and none. */
static void packed_graph_build(packed_graph *pg, weights *w) {
  assert_rk_ok(rk_graph_create(&pg->g, NB));
  int x, in, h;
  assert_rk_ok(rk_graph_param(pg->g, &x, &w->x));
  assert_rk_ok(rk_graph_input_ids(pg->g, &pg->rows, "rows", NT));
  assert_rk_ok(rk_graph_gather_rows(pg->g, &in, x, pg->rows));
  assert_rk_ok(rk_graph_linear(pg->g, &h, in, &w->w1, &w->b1, RK_ACT_TANH));
  assert_rk_ok(rk_graph_linear(pg->g, &pg->out, h, &w->w2, NULL, RK_ACT_NONE));
  assert_rk_ok(rk_graph_output(pg->g, pg->out));
  assert_rk_ok(rk_graph_build(pg->g, RK_NO_VALUE));
}

/* The first n rows of x in use, in a scattered order. */
static void run_rows(packed_graph *pg, int64_t n) {
  int64_t *rows = rk_graph_input_ids_data(pg->g, pg->rows);
  for (int64_t k = 0; k < NB * NT; k++) rows[k] = k < n ? (k * 7 + 3) % (NB * NT) : -1;
  assert_rk_ok(rk_graph_forward(pg->g, RK_EVAL));
  assert_int_equal(rk_graph_value_rows(pg->g, pg->out), n);
}

static void test_frozen_gives_the_same_bits(void **state) {
  (void)state;
  weights w;
  weights_init(&w);
  packed_graph plain, frozen;
  packed_graph_build(&plain, &w);
  packed_graph_build(&frozen, &w);
  assert_rk_ok(rk_graph_freeze_params(frozen.g));
  assert_rk_ok(rk_graph_freeze_params(frozen.g));   /* once is enough; again changes nothing */
  for (int64_t n = 1; n <= NB * NT; n += 3) {
    run_rows(&plain, n);
    run_rows(&frozen, n);
    const float *a = rk_graph_value_f32(plain.g, plain.out), *b = rk_graph_value_f32(frozen.g, frozen.out);
    if (memcmp(a, b, (size_t)(n * C) * sizeof(float)))
      fail_msg("%lld rows in use: the frozen graph's output differs from the unfrozen one's", (long long)n);
  }
  rk_graph_free(plain.g);
  rk_graph_free(frozen.g);
  weights_free(&w);
}

/* The kept transpose is used: new weights reach the unfrozen graph only. */
static void test_frozen_keeps_its_weights(void **state) {
  (void)state;
  weights w;
  weights_init(&w);
  packed_graph plain, frozen;
  packed_graph_build(&plain, &w);
  packed_graph_build(&frozen, &w);
  assert_rk_ok(rk_graph_freeze_params(frozen.g));
  run_rows(&frozen, 6);
  float before[6 * C];
  memcpy(before, rk_graph_value_f32(frozen.g, frozen.out), sizeof before);
  float *w2 = w.w2.value.data;
  for (int64_t i = 0; i < C * OC; i++) w2[i] *= -2.0f;
  run_rows(&frozen, 6);
  run_rows(&plain, 6);
  assert_memory_equal(rk_graph_value_f32(frozen.g, frozen.out), before, sizeof before);
  assert_true(rk_graph_value_f32(plain.g, plain.out)[0] != before[0]);
  rk_graph_free(plain.g);
  rk_graph_free(frozen.g);
  weights_free(&w);
}

static void test_refusals(void **state) {
  (void)state;
  weights w;
  weights_init(&w);
  rk_graph *g;
  assert_rk_ok(rk_graph_create(&g, NB));
  assert_int_equal(rk_graph_freeze_params(g), RK_EUSAGE);
  assert_non_null(strstr(rk_error_message(), "not built"));
  rk_graph_free(g);
  /* a trainable graph, frozen: it still runs forward, but backward would step stale state */
  int x, h, loss;
  assert_rk_ok(rk_graph_create(&g, NB));
  assert_rk_ok(rk_graph_param(g, &x, &w.x));
  assert_rk_ok(rk_graph_linear(g, &h, x, &w.w1, &w.b1, RK_ACT_NONE));
  assert_rk_ok(rk_graph_mean(g, &loss, h, RK_REDUCE_ALL));
  assert_rk_ok(rk_graph_build(g, loss));
  assert_rk_ok(rk_graph_freeze_params(g));
  assert_rk_ok(rk_graph_forward(g, RK_TRAIN));
  assert_int_equal(rk_graph_backward(g), RK_EUSAGE);
  assert_non_null(strstr(rk_error_message(), "frozen"));
  rk_graph_free(g);
  weights_free(&w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_frozen_gives_the_same_bits),
      cmocka_unit_test(test_frozen_keeps_its_weights),
      cmocka_unit_test(test_refusals),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
