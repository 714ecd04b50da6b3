/*
 * The losses over candidate items against PyTorch 1.13: fixtures written by
 * tests/reference/make_sampled_fixtures.py (committed JSON, no Python needed here) for a session
 * model's head h = tanh(x Wh^T + bh) scored against a few items: sampled softmax (log-uniform
 * logQ, shared draws with repeats and accidental hits) and negative sampling (the batch's other
 * sessions' targets plus draws) under cross-entropy, bpr, top1, top1_max and bpr_max_reg. The
 * draws are the fixture's (rk_sampled_spec.given). Each case checks the loss, every parameter's
 * gradient and three steps of Hugging Face's AdamW (tolerances: model_fixture.h).
 */
#include <string.h>

#include "model_fixture.h"
#include "support.h"

#define SB 3
#define ST 5
#define NP 5

static rk_sampled_loss loss_of(const char *name) {
  static const struct {
    const char *name;
    rk_sampled_loss kind;
  } kinds[] = {{"cross_entropy", RK_SAMPLED_CE}, {"bpr", RK_SAMPLED_BPR}, {"top1", RK_SAMPLED_TOP1},
               {"top1_max", RK_SAMPLED_TOP1_MAX}, {"bpr_max_reg", RK_SAMPLED_BPR_MAX_REG}};
  for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
    if (strcmp(kinds[i].name, name) == 0) return kinds[i].kind;
  fail_msg("unknown loss '%s'", name);
  return RK_SAMPLED_CE;
}

static double num(json_t *o, const char *key) { return json_number_value(json_object_get(o, key)); }

static rk_status adamw_step(void *opt) { return rk_optim_step(opt, 1.0); }

static void run_case(const char *name) {
  char path[4096];
  snprintf(path, sizeof path, "%s/tests/reference/fixtures/sampled_%s.json", RECKON_SOURCE_DIR, name);
  fixture f = {.model = name};
  json_error_t err;
  f.root = json_load_file(path, 0, &err);
  if (!f.root) fail_msg("cannot read %s: %s (run tests/reference/make_sampled_fixtures.py)", path, err.text);
  f.tensors = json_object_get(f.root, "tensors");
  json_t *spec = json_object_get(f.root, "spec");

  /* x, head_w, head_b, items, bias: shapes from the fixture (fx_load_params sets the values) */
  int64_t n_draws, n_labels;
  json_t *draws_j = fx_tensor(&f, "draws", &n_draws), *labels_j = fx_tensor(&f, "labels", &n_labels);
  assert_int_equal(n_labels, SB * ST);
  int64_t D0 = 6, D = 4, V = 12, draws[16];
  assert_true(n_draws <= 16);
  for (int64_t i = 0; i < n_draws; i++) draws[i] = json_integer_value(json_array_get(draws_j, (size_t)i));
  rk_param P[NP], *params[NP];
  const int64_t sx[3] = {SB, ST, D0}, shw[2] = {D, D0}, shb[1] = {D}, si[2] = {V, D}, sb[1] = {V};
  assert_rk_ok(rk_param_init(&P[0], "x", 3, sx));
  assert_rk_ok(rk_param_init(&P[1], "head_w", 2, shw));
  assert_rk_ok(rk_param_init(&P[2], "head_b", 1, shb));
  assert_rk_ok(rk_param_init(&P[3], "items", 2, si));
  assert_rk_ok(rk_param_init(&P[4], "bias", 1, sb));
  for (int k = 0; k < NP; k++) params[k] = &P[k];
  fx_load_params(&f, params, NP);

  rk_graph *g;
  assert_rk_ok(rk_graph_create(&g, SB));
  int x, h, y, z, loss;
  assert_rk_ok(rk_graph_param(g, &x, &P[0]));
  assert_rk_ok(rk_graph_input_ids(g, &y, "labels", ST));
  assert_rk_ok(rk_graph_linear(g, &h, x, &P[1], &P[2], RK_ACT_TANH));
  rk_sampled_spec s = {.n_sampled = n_draws, .sampler = RK_SAMPLER_LOG_UNIFORM, .first_id = 1,
                       .in_batch = json_is_true(json_object_get(spec, "in_batch")),
                       .logq = json_is_true(json_object_get(spec, "logq")), .ignore = 0,
                       .temperature = (float)num(spec, "temperature"), .given = draws};
  assert_rk_ok(rk_graph_sampled_logits(g, &z, h, y, RK_NO_VALUE, &P[3], &P[4], &s));
  const char *kind = json_string_value(json_object_get(spec, "loss"));
  assert_rk_ok(rk_graph_sampled_loss(g, &loss, z, y, loss_of(kind), 0, (float)num(spec, "lambda")));
  assert_rk_ok(rk_graph_output(g, loss));
  assert_rk_ok(rk_graph_build(g, loss));
  int64_t *labels = rk_graph_input_ids_data(g, y);
  for (int64_t i = 0; i < n_labels; i++) labels[i] = json_integer_value(json_array_get(labels_j, (size_t)i));

  rk_graph_zero_grad(g);
  assert_rk_ok(rk_graph_forward(g, RK_TRAIN));
  fx_compare_all(&f, FWD, "forward", "out:loss", rk_graph_value_f32(g, loss), 1);
  assert_rk_ok(rk_graph_backward(g));
  for (int k = 0; k < NP; k++) fx_compare_grad(&f, &P[k]);

  json_t *a = json_object_get(f.root, "adamw");
  rk_optim_config oc;
  rk_optim_config_hf_adamw(&oc, (float)num(a, "lr"), (float)num(a, "weight_decay"), (float)num(a, "beta1"),
                           (float)num(a, "beta2"), (float)num(a, "eps"));
  rk_optim opt;
  assert_rk_ok(rk_optim_init(&opt, &oc, params, NP));
  fx_check_steps(&f, g, loss, params, NP, 3, adamw_step, &opt, "AdamW");
  fx_report(&f);
  rk_optim_free(&opt);
  rk_graph_free(g);
  for (int k = 0; k < NP; k++) rk_param_free(&P[k]);
  json_decref(f.root);
}

static void test_sampled_softmax(void **state) { (void)state, run_case("softmax"); }
static void test_negatives_cross_entropy(void **state) { (void)state, run_case("negatives_cross_entropy"); }
static void test_negatives_bpr(void **state) { (void)state, run_case("negatives_bpr"); }
static void test_negatives_top1(void **state) { (void)state, run_case("negatives_top1"); }
static void test_negatives_top1_max(void **state) { (void)state, run_case("negatives_top1_max"); }
static void test_negatives_bpr_max_reg(void **state) { (void)state, run_case("negatives_bpr_max_reg"); }

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sampled_softmax),       cmocka_unit_test(test_negatives_cross_entropy),
      cmocka_unit_test(test_negatives_bpr),         cmocka_unit_test(test_negatives_top1),
      cmocka_unit_test(test_negatives_top1_max),    cmocka_unit_test(test_negatives_bpr_max_reg),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
