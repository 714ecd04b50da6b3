/*
 * Unique candidate draws (rk_sampled_spec.unique, TensorFlow's unique=True): the sampler returns
 * the first N distinct ids of the same stream rk_sampler_draw reads, in the order drawn, and the
 * draws that took; every id of the range when N is the range; and the sampled_logits op corrects
 * each drawn logit and the target's by log(1 - (1 - P(id))^tries), one `tries` for the batch.
 */
#include "support.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "reckon/nn.h"

static void test_unique_draws_are_the_streams_first_distinct(void **state) {
  (void)state;
  enum { V = 60, FIRST = 1, N = 25 };
  const rk_sampler samplers[2] = {RK_SAMPLER_LOG_UNIFORM, RK_SAMPLER_UNIFORM};
  for (int k = 0; k < 2; k++) {
    int64_t ids[N], *set = malloc((size_t)rk_sampler_set_size(N) * sizeof *set);
    assert_non_null(set);
    int64_t tries = rk_sampler_draw_unique(ids, set, samplers[k], N, FIRST, V, 5, 77);
    assert_true(tries >= N);
    int64_t *stream = malloc((size_t)tries * sizeof *stream);
    assert_non_null(stream);
    rk_sampler_draw(stream, samplers[k], tries, FIRST, V, 5, 77);
    int64_t n = 0;
    for (int64_t t = 0; t < tries; t++) {
      bool seen = false;
      for (int64_t j = 0; j < n; j++) seen |= ids[j] == stream[t];
      if (seen) continue;
      if (n == N) fail_msg("draw %lld is new after the N-th distinct one", (long long)t);
      if (ids[n] != stream[t]) fail_msg("unique draw %lld is %lld, the stream's is %lld", (long long)n,
                                        (long long)ids[n], (long long)stream[t]);
      n++;
    }
    assert_int_equal(n, N);
    assert_true(stream[tries - 1] == ids[N - 1]);   /* the last try found the N-th */
    free(stream);
    free(set);
  }
}

static void test_unique_draws_cover_the_range(void **state) {
  (void)state;
  enum { V = 40, FIRST = 3, N = V - FIRST };
  int64_t ids[N], *set = malloc((size_t)rk_sampler_set_size(N) * sizeof *set);
  assert_non_null(set);
  rk_sampler_draw_unique(ids, set, RK_SAMPLER_LOG_UNIFORM, N, FIRST, V, 9, 1);
  bool hit[V] = {false};
  for (int j = 0; j < N; j++) {
    assert_true(ids[j] >= FIRST && ids[j] < V);
    assert_false(hit[ids[j]]);
    hit[ids[j]] = true;
  }
  free(set);
}

static void test_expected_counts(void **state) {
  (void)state;
  const int64_t first = 1, V = 1000;
  for (int64_t id = first; id < V; id += 97) {
    double p = rk_sampler_probability(RK_SAMPLER_LOG_UNIFORM, id, first, V);
    assert_true(fabs(rk_sampler_expected_count(RK_SAMPLER_LOG_UNIFORM, id, first, V, 300, false) - 300 * p) <= 1e-12);
    double q = 1.0 - pow(1.0 - p, 300.0);
    assert_true(fabs(rk_sampler_expected_count(RK_SAMPLER_LOG_UNIFORM, id, first, V, 300, true) - q) <= 1e-12 * q + 1e-15);
  }
}

/* The op: h = 1 (D = 1) and W[id] = 100 id, no bias, so a logit is 100 id - log E(id): the id
 * and its correction read back from the logits. */
static void test_op_corrects_by_the_unique_expected_count(void **state) {
  (void)state;
  enum { B = 2, T = 3, V = 50, N = 12 };
  rk_param x, w;
  int64_t xs[3] = {B, T, 1}, ws[2] = {V, 1};
  assert_rk_ok(rk_param_init(&x, "h", 3, xs));
  assert_rk_ok(rk_param_init(&w, "items", 2, ws));
  for (int i = 0; i < B * T; i++) ((float *)x.value.data)[i] = 1.0f;
  for (int i = 0; i < V; i++) ((float *)w.value.data)[i] = 100.0f * (float)i;
  rk_graph *g;
  assert_rk_ok(rk_graph_create(&g, B));
  rk_graph_set_seed(g, 3);
  int h, y, z;
  assert_rk_ok(rk_graph_param(g, &h, &x));
  assert_rk_ok(rk_graph_input_ids(g, &y, "labels", T));
  rk_sampled_spec s = {.n_sampled = N, .sampler = RK_SAMPLER_LOG_UNIFORM, .first_id = 1, .logq = true,
                       .unique = true, .ignore = 0, .temperature = 1.0f};
  assert_rk_ok(rk_graph_sampled_logits(g, &z, h, y, RK_NO_VALUE, &w, NULL, &s));
  assert_rk_ok(rk_graph_output(g, z));
  assert_rk_ok(rk_graph_build(g, RK_NO_VALUE));
  int64_t *labels = rk_graph_input_ids_data(g, y);
  for (int i = 0; i < B * T; i++) labels[i] = V - 1 - 7 * i;   /* rare ids: E(id) well inside (0, 1) */
  assert_rk_ok(rk_graph_forward(g, RK_TRAIN));
  const float *out = rk_graph_value_f32(g, z);
  /* tries from the target of row 0, then every logit must agree with it */
  double p0 = rk_sampler_probability(RK_SAMPLER_LOG_UNIFORM, labels[0], 1, V);
  double e0 = exp(100.0 * (double)labels[0] - out[0]);
  double tries = round(log1p(-e0) / log1p(-p0));
  assert_true(tries >= N);
  bool seen[V] = {false};
  for (int r = 0; r < B * T; r++) {
    const float *o = out + r * (1 + N);
    double want = 100.0 * (double)labels[r] -
                  log(rk_sampler_expected_count(RK_SAMPLER_LOG_UNIFORM, labels[r], 1, V, (int64_t)tries, true));
    assert_true(fabs(o[0] - want) <= 2e-3);
    for (int m = 0; m < N; m++) {
      if (isinf(o[1 + m])) continue;   /* an accidental hit */
      int64_t id = (int64_t)lround(o[1 + m] / 100.0);
      assert_true(id >= 1 && id < V);
      double lq = log(rk_sampler_expected_count(RK_SAMPLER_LOG_UNIFORM, id, 1, V, (int64_t)tries, true));
      assert_true(fabs(o[1 + m] - (100.0 * (double)id - lq)) <= 2e-3);
      if (r == 0) {
        assert_false(seen[id]);   /* distinct */
        seen[id] = true;
      }
    }
  }
  rk_graph_free(g);
  rk_param_free(&x);
  rk_param_free(&w);
}

static void test_op_refuses_more_unique_draws_than_ids(void **state) {
  (void)state;
  rk_param x, w;
  int64_t xs[3] = {1, 2, 1}, ws[2] = {10, 1};
  assert_rk_ok(rk_param_init(&x, "h", 3, xs));
  assert_rk_ok(rk_param_init(&w, "items", 2, ws));
  rk_graph *g;
  assert_rk_ok(rk_graph_create(&g, 1));
  int h, y, z;
  assert_rk_ok(rk_graph_param(g, &h, &x));
  assert_rk_ok(rk_graph_input_ids(g, &y, "labels", 2));
  rk_sampled_spec s = {.n_sampled = 10, .sampler = RK_SAMPLER_LOG_UNIFORM, .first_id = 1, .logq = true,
                       .unique = true, .ignore = 0, .temperature = 1.0f};
  assert_int_equal(rk_graph_sampled_logits(g, &z, h, y, RK_NO_VALUE, &w, NULL, &s), RK_EINVAL);
  assert_non_null(strstr(rk_error_message(), "10 unique draws over the 9 ids"));
  s.n_sampled = 9;
  assert_rk_ok(rk_graph_sampled_logits(g, &z, h, y, RK_NO_VALUE, &w, NULL, &s));
  rk_graph_free(g);
  rk_param_free(&x);
  rk_param_free(&w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_unique_draws_are_the_streams_first_distinct),
      cmocka_unit_test(test_unique_draws_cover_the_range),
      cmocka_unit_test(test_expected_counts),
      cmocka_unit_test(test_op_corrects_by_the_unique_expected_count),
      cmocka_unit_test(test_op_refuses_more_unique_draws_than_ids),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
