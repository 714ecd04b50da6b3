/*
 * Ranking models from a schema: every model builds for a TenRec-like schema (with and without
 * continuous features), learns a planted signal with plain SGD (the loss falls well below the
 * constant predictor's), and bad configurations fail at build time naming the problem.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "reckon/models.h"
#include "support.h"

/* user (200 ids), item (100), gender (6): categorical; age_norm: continuous; click: target. */
static void make_schema(rk_schema *s, bool continuous) {
  rk_schema_init(s);
  const char *cats[] = {"user_id", "item_id", "gender"};
  const int64_t card[] = {200, 100, 6};
  for (int i = 0; i < 3; i++) {
    rk_schema_column *c;
    assert_rk_ok(rk_schema_add_column(s, cats[i], "int64", &c));
    assert_rk_ok(rk_schema_column_add_tag(c, "categorical"));
    assert_rk_ok(rk_schema_column_set_int_domain(c, 0, card[i] - 1, true, cats[i]));
  }
  rk_schema_column *c;
  if (continuous) {
    assert_rk_ok(rk_schema_add_column(s, "age_norm", "float32", &c));
    assert_rk_ok(rk_schema_column_add_tag(c, "continuous"));
  }
  assert_rk_ok(rk_schema_add_column(s, "click", "int8", &c));
  assert_rk_ok(rk_schema_column_add_tag(c, "target"));
  assert_rk_ok(rk_schema_column_add_tag(c, "binary_classification"));
}

/* click = 1 when the item id is even (and, with continuous features, age_norm > 0): learnable. */
static void fill(rk_ranking_model *m, rk_rng *rng) {
  int64_t B = rk_graph_batch(m->g);
  int64_t *u = rk_graph_input_ids_data(m->g, m->cat_inputs[0]), *it = rk_graph_input_ids_data(m->g, m->cat_inputs[1]);
  int64_t *gd = rk_graph_input_ids_data(m->g, m->cat_inputs[2]);
  float *dense = m->dense_input != RK_NO_VALUE ? rk_graph_input_f32(m->g, m->dense_input) : NULL;
  float *y = rk_graph_input_f32(m->g, m->label), *w = rk_graph_input_f32(m->g, m->weight);
  for (int64_t b = 0; b < B; b++) {
    u[b] = 3 + (int64_t)rk_rng_below(rng, 197);
    it[b] = 3 + (int64_t)rk_rng_below(rng, 97);
    gd[b] = 3 + (int64_t)rk_rng_below(rng, 3);
    float x = (float)rk_rng_normal(rng);
    if (dense) dense[b] = x;
    y[b] = (it[b] % 2 == 0 && (!dense || x > -0.5f)) ? 1.0f : 0.0f;
    w[b] = 1.0f;
  }
}

static void sgd(rk_graph *g, float lr) {
  for (int i = 0; i < rk_graph_param_count(g); i++) {
    rk_param *p = rk_graph_param_at(g, i);
    float *v = p->value.data, *gr = p->grad.data;
    if (p->sparse) {
      int64_t D = p->value.shape[1];
      for (int64_t k = 0; k < p->n_grad_rows; k++)
        for (int64_t d = 0; d < D; d++) v[p->grad_rows[k] * D + d] -= lr * gr[k * D + d];
    } else {
      for (int64_t k = 0; k < rk_tensor_numel(&p->value); k++) v[k] -= lr * gr[k];
    }
  }
}

static void learns(rk_model_kind kind, bool continuous) {
  rk_schema s;
  make_schema(&s, continuous);
  rk_ranking_config c;
  rk_ranking_config_default(&c);
  c.kind = kind;
  const int64_t layers[] = {32, 16};
  c.mlp_layers = layers;
  c.n_mlp_layers = 2;
  c.embeddings_dim = 8;
  c.wnd_hashed_cross_num_bins = 500;
  c.embeddings_l2_reg = 1e-6f;
  c.dropout = 0.05f;
  c.dcn_layers = 2;
  rk_ranking_model m;
  assert_rk_ok(rk_ranking_build(&m, &s, "click", false, &c, 128));
  assert_int_equal(m.n_cat, 3);
  assert_int_equal(m.n_cont, continuous ? 1 : 0);
  rk_rng rng;
  rk_rng_init(&rng, 5, (uint64_t)kind);
  double first = 0, last = 0;
  const int steps = 400;   /* a few seconds even under the sanitizers */
  for (int step = 0; step < steps; step++) {
    fill(&m, &rng);
    for (int i = 0; i < rk_graph_param_count(m.g); i++) rk_param_zero_grad(rk_graph_param_at(m.g, i));
    assert_rk_ok(rk_graph_forward(m.g, RK_TRAIN));
    assert_rk_ok(rk_graph_backward(m.g));
    sgd(m.g, 0.2f);
    double loss = rk_graph_value_f32(m.g, m.loss)[0];
    if (step < 20) first += loss / 20;
    if (step >= steps - 20) last += loss / 20;
  }
  /* The constant predictor's loss is about 0.69 (half the rows are clicks, or 0.6 with the
   * continuous condition); the planted rule is deterministic, so a model that learns it does far
   * better. */
  if (!(last < 0.75 * first)) fail_msg("%s%s: loss %.4f -> %.4f", rk_model_kind_name(kind), continuous ? "+cont" : "", first, last);
  rk_ranking_free(&m);
  rk_schema_free(&s);
}

/* Two tasks: click (binary, item id even) and watch (regression: 2 * click + gender effect):
 * every model, the multi-task ones too, learns both; gates give probabilities. */
static void learns_two_tasks(rk_model_kind kind) {
  rk_schema s;
  make_schema(&s, true);
  rk_schema_column *col;
  assert_rk_ok(rk_schema_add_column(&s, "watch", "float32", &col));
  assert_rk_ok(rk_schema_column_add_tag(col, "target"));
  assert_rk_ok(rk_schema_column_add_tag(col, "regression"));
  rk_ranking_config c;
  rk_ranking_config_default(&c);
  c.kind = kind;
  const int64_t layers[] = {16}, ex[] = {16}, tower[] = {8};
  c.mlp_layers = layers;
  c.n_mlp_layers = 1;
  c.expert_layers = ex;
  c.tower_layers = tower;
  c.embeddings_dim = 8;
  c.wnd_hashed_cross_num_bins = 300;
  c.mmoe_experts = 3;
  c.gate_dim = 8;
  c.ple_layers = 2;
  const char *targets[] = {"click", "watch"};
  bool reg[] = {false, true};
  rk_ranking_model m;
  assert_rk_ok(rk_ranking_build_tasks(&m, &s, 2, targets, reg, &c, 64));
  assert_int_equal(m.n_tasks, 2);
  if (kind >= RK_MODEL_MMOE) {
    const char *gate = kind == RK_MODEL_MMOE ? "mmoe.gate.watch.weight"
                       : kind == RK_MODEL_CGC ? "cgc.0.gate.click.weight" : "ple.0.gate.shared.weight";
    assert_non_null(rk_ranking_param(&m, gate));
    assert_true(m.gate_probs[0] != RK_NO_VALUE && m.gate_probs[1] != RK_NO_VALUE);
  }
  assert_non_null(rk_ranking_param(&m, "output.watch.bias"));
  rk_rng rng;
  rk_rng_init(&rng, 9, (uint64_t)kind);
  double first[2] = {0, 0}, last[2] = {0, 0};
  const int steps = 300;
  for (int step = 0; step < steps; step++) {
    fill(&m, &rng);
    const float *y = rk_graph_input_f32(m.g, m.labels[0]);
    const int64_t *gd = rk_graph_input_ids_data(m.g, m.cat_inputs[2]);
    float *y2 = rk_graph_input_f32(m.g, m.labels[1]), *w2 = rk_graph_input_f32(m.g, m.weights[1]);
    for (int64_t r = 0; r < 64; r++) y2[r] = 2.0f * y[r] + (gd[r] == 4 ? 1.0f : 0.0f), w2[r] = 1.0f;
    for (int i = 0; i < rk_graph_param_count(m.g); i++) rk_param_zero_grad(rk_graph_param_at(m.g, i));
    assert_rk_ok(rk_graph_forward(m.g, RK_TRAIN));
    assert_rk_ok(rk_graph_backward(m.g));
    sgd(m.g, 0.1f);
    for (int t = 0; t < 2; t++) {
      double l = rk_graph_value_f32(m.g, m.task_losses[t])[0];
      if (step < 20) first[t] += l / 20;
      if (step >= steps - 20) last[t] += l / 20;
    }
  }
  for (int t = 0; t < 2; t++)
    if (!(last[t] < 0.8 * first[t])) fail_msg("%s task %d: loss %.4f -> %.4f", rk_model_kind_name(kind), t, first[t], last[t]);
  if (m.gate_probs[0] != RK_NO_VALUE) {
    const float *p = rk_graph_value_f32(m.g, m.gate_probs[1]);
    int64_t E = rk_graph_value_shape(m.g, m.gate_probs[1])[1];
    double sum = 0;
    for (int64_t e = 0; e < E; e++) sum += p[e];
    assert_true(fabs(sum - 1.0) < 1e-5);
  }
  rk_ranking_free(&m);
  rk_schema_free(&s);
}

static void test_two_tasks(void **state) {
  (void)state;
  for (int k = RK_MODEL_MLP; k <= RK_MODEL_PLE; k++) learns_two_tasks((rk_model_kind)k);
}

static void test_every_model_learns(void **state) {
  (void)state;
  for (int k = RK_MODEL_MLP; k <= RK_MODEL_DEEPFM; k++) {
    learns((rk_model_kind)k, true);
    learns((rk_model_kind)k, false);
  }
}

static void test_dims_and_errors(void **state) {
  (void)state;
  assert_int_equal(rk_model_embedding_dim(6, 2.0), 8);        /* ceil(6^0.25 * 2) = 4 -> 8 */
  assert_int_equal(rk_model_embedding_dim(100001, 2.0), 40);  /* ceil(17.78 * 2) = 36 -> 40 */
  rk_model_kind k;
  assert_int_equal(rk_model_kind_parse("dlrmm", &k), RK_EUSAGE);
  assert_non_null(strstr(rk_error_message(), "expected mlp, dcn, dlrm, wide_n_deep, deepfm, mmoe, cgc or ple"));
  rk_schema s;
  make_schema(&s, false);
  rk_ranking_config c;
  rk_ranking_config_default(&c);
  rk_ranking_model m;
  assert_int_equal(rk_ranking_build(&m, &s, "like", false, &c, 8), RK_ENOTFOUND);
  assert_non_null(strstr(rk_error_message(), "'like'"));
  /* --wnd_ignore_combinations names crosses of single-valued categorical features, in either order */
  c.kind = RK_MODEL_WIDE_N_DEEP;
  const char *ignore[] = {"item_id:user_id", "user_id:nosuch", "gender", "gender:gender"};
  c.wnd_ignore = ignore;
  c.n_wnd_ignore = 1;
  assert_rk_ok(rk_ranking_build(&m, &s, "click", false, &c, 8));
  rk_ranking_free(&m);
  for (int k = 1; k < 4; k++) {
    c.wnd_ignore = ignore + k;
    assert_int_equal(rk_ranking_build(&m, &s, "click", false, &c, 8), RK_EUSAGE);
    char want[80];
    snprintf(want, sizeof want, "--wnd_ignore_combinations: '%s' is not A:B", ignore[k]);
    if (!strstr(rk_error_message(), want)) fail_msg("'%s' lacks '%s'", rk_error_message(), want);
  }
  rk_ranking_config_default(&c);
  s.cols[0].int_domain.present = false;
  assert_int_equal(rk_ranking_build(&m, &s, "click", false, &c, 8), RK_EFORMAT);
  assert_non_null(strstr(rk_error_message(), "'user_id'"));
  rk_schema_free(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_model_learns),
      cmocka_unit_test(test_two_tasks),
      cmocka_unit_test(test_dims_and_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
