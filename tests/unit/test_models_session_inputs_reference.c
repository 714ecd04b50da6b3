/*
 * The session models' input stage (src/models/session_inputs.c) against PyTorch 1.13: fixtures
 * written by tests/reference/make_session_input_fixtures.py (committed JSON, no Python needed
 * here) for continuous features projected (each, or together as Transformers4Rec's
 * continuous_projection), soft one-hot encoded (Li et al. 2017), the
 * elementwise_sum_multiply_item_embedding aggregation, per-feature and all-feature LayerNorms, and
 * session-aware inputs (each feature's bef_ column before the session). Each model is built from
 * the fixture's config and features, its parameters set from the fixture (names and order must
 * agree), the batch of list columns fed through the family's feed (whose causal masking, real
 * rows and past rows must be PyTorch's; the masked LM's draws are the fixture's), then: the loss,
 * every parameter's gradient, and three steps of Hugging Face's AdamW (tolerances:
 * model_fixture.h). A last check: stochastic shared embeddings replace ids only in training, only
 * with ids of the same column in the batch, and the same way for the same (seed, step); and a
 * training step with every input option on gives the same bits at 1 and 2 threads, and every
 * allocation failure of build, feed and forward with them on is an RK_ENOMEM that leaks nothing.
 */
#include <string.h>

#include "model_fixture.h"
#include "models/session_internal.h"
#include "reckon/sessions.h"
#include "support.h"

static rk_status adamw_step(void *opt) { return rk_optim_step(opt, 1.0); }

static void run_case(const char *name, bool fixture_masks) {
  char path[4096];
  snprintf(path, sizeof path, "%s/tests/reference/fixtures/session_%s.json", RECKON_SOURCE_DIR, name);
  fixture f = {.model = name};
  json_error_t err;
  f.root = json_load_file(path, 0, &err);
  if (!f.root) fail_msg("cannot read %s: %s (run tests/reference/make_session_input_fixtures.py)", path, err.text);
  f.tensors = json_object_get(f.root, "tensors");
  rk_session_config c;
  assert_rk_ok(rk_session_config_from_json(&c, json_object_get(f.root, "config"), name));
  rk_session_features fs;
  assert_rk_ok(rk_session_features_from_json(&fs, json_object_get(f.root, "features"), name));
  rk_model *m;
  assert_rk_ok(rk_session_build(&m, &fs, &c, 4, true));
  fx_load_params(&f, m->params, m->n_params);
  rk_batch b;
  fx_session_batch(&f, &fs, &b);
  rk_model_feed *feed;
  assert_rk_ok(m->ops->feed_init(&feed, m, NULL, 0, NULL, 1));
  assert_rk_ok(m->ops->feed_fill(feed, &b, 0));
  const rk_session_model *sm = m->self;
  const int64_t BN = 4 * rk_session_config_positions(&c);
  fx_ids_input(&f, m->g, sm->sg.mask_rows, "mask", BN, !fixture_masks);
  fx_ids_input(&f, m->g, sm->sg.keys, "keys", BN, true);
  fx_ids_input(&f, m->g, sm->sg.labels, "labels", BN, !fixture_masks);
  assert_rk_ok(rk_session_graph_pack(&sm->sg, c.pad_token));
  rk_graph_zero_grad(m->g);
  assert_rk_ok(rk_graph_forward(m->g, RK_TRAIN));
  fx_compare_all(&f, FWD, "forward", "out:loss", rk_graph_value_f32(m->g, m->out.loss), 1);
  assert_rk_ok(rk_graph_backward(m->g));
  for (int k = 0; k < m->n_params; k++) fx_compare_grad(&f, m->params[k]);
  json_t *a = json_object_get(f.root, "adamw");
  rk_optim_config oc;
  rk_optim_config_hf_adamw(&oc, (float)json_number_value(json_object_get(a, "lr")),
                           (float)json_number_value(json_object_get(a, "weight_decay")),
                           (float)json_number_value(json_object_get(a, "beta1")),
                           (float)json_number_value(json_object_get(a, "beta2")),
                           (float)json_number_value(json_object_get(a, "eps")));
  rk_optim opt;
  assert_rk_ok(rk_optim_init(&opt, &oc, m->params, m->n_params));
  fx_check_steps(&f, m->g, m->out.loss, m->params, m->n_params, 3, adamw_step, &opt, "AdamW");
  fx_report(&f);
  rk_optim_free(&opt);
  rk_batch_free(&b);
  m->ops->feed_free(feed);
  m->ops->free(m);
  rk_session_features_free(&fs);
  json_decref(f.root);
}

static void test_continuous_projected_and_layer_norms(void **state) {
  (void)state;
  run_case("inputs_project", false);
}

static void test_elementwise_aggregation(void **state) {
  (void)state;
  run_case("inputs_elementwise", false);
}

static void test_soft_one_hot_encoding(void **state) {
  (void)state;
  run_case("inputs_soft_one_hot", true);
}

static void test_session_aware_concatenation(void **state) {
  (void)state;
  run_case("session_aware", false);
}

static void test_continuous_projection_together(void **state) {
  (void)state;
  run_case("inputs_continuous_projection", true);
}

/* The item ids the graph reads after a fill, (B, T). */
static void fill_items(rk_model *m, rk_model_feed *feed, const rk_batch *b, uint64_t step, int64_t *out, int64_t n) {
  assert_rk_ok(m->ops->feed_fill(feed, b, step));
  const rk_session_model *sm = m->self;
  memcpy(out, rk_graph_input_ids_data(m->g, sm->sg.inputs[sm->features.item]), (size_t)n * sizeof *out);
}

static void test_stochastic_shared_embeddings(void **state) {
  (void)state;
  char path[4096];
  snprintf(path, sizeof path, "%s/tests/reference/fixtures/session_inputs_project.json", RECKON_SOURCE_DIR);
  fixture f = {.model = "sse"};
  json_error_t err;
  assert_non_null(f.root = json_load_file(path, 0, &err));
  f.tensors = json_object_get(f.root, "tensors");
  rk_session_config c;
  assert_rk_ok(rk_session_config_from_json(&c, json_object_get(f.root, "config"), "sse"));
  c.stochastic_shared_embeddings_replacement_prob = 0.5f;
  rk_session_features fs;
  assert_rk_ok(rk_session_features_from_json(&fs, json_object_get(f.root, "features"), "sse"));
  rk_model *m;
  assert_rk_ok(rk_session_build(&m, &fs, &c, 4, true));
  rk_batch b;
  fx_session_batch(&f, &fs, &b);
  rk_model_feed *feed;
  assert_rk_ok(m->ops->feed_init(&feed, m, NULL, 0, NULL, 9));
  enum { N = 4 * 5 };
  int64_t truth[N], a[N], again[N], other[N];
  assert_rk_ok(rk_session_feed_set_phase(feed, RK_SESSION_PHASE_EVAL));
  fill_items(m, feed, &b, 3, truth, N);
  assert_rk_ok(rk_session_feed_set_phase(feed, RK_SESSION_PHASE_TRAIN));
  fill_items(m, feed, &b, 3, a, N);
  fill_items(m, feed, &b, 3, again, N);
  fill_items(m, feed, &b, 4, other, N);
  assert_memory_equal(a, again, sizeof a);   /* the same (seed, step): the same draws */
  const int64_t *targets = rk_session_feed_items(feed);
  int replaced = 0, differs = 0;
  for (int k = 0; k < N; k++) {
    assert_int_equal(targets[k], truth[k]);       /* the targets keep the true items */
    assert_int_equal(a[k] == 0, truth[k] == 0);   /* padding stays padding */
    bool in_batch = false;
    for (int j = 0; j < N; j++) in_batch |= truth[j] != 0 && a[k] == truth[j];
    if (a[k] != 0) assert_true(in_batch);
    replaced += a[k] != truth[k];
    differs += a[k] != other[k];
  }
  assert_true(replaced > 0);
  assert_true(differs > 0);
  m->ops->feed_free(feed);
  m->ops->free(m);
  rk_batch_free(&b);
  rk_session_features_free(&fs);
  json_decref(f.root);
}

/* One training step of the soft one-hot case with every input option on (input dropout, the
 * LayerNorms, stochastic shared embeddings) at `threads`: the loss and every gradient. */
static void input_step(int threads, float *out, int64_t n_out) {
  assert_rk_ok(rk_set_num_threads(threads));
  char path[4096];
  snprintf(path, sizeof path, "%s/tests/reference/fixtures/session_inputs_soft_one_hot.json", RECKON_SOURCE_DIR);
  fixture f = {.model = "threads"};
  json_error_t err;
  assert_non_null(f.root = json_load_file(path, 0, &err));
  f.tensors = json_object_get(f.root, "tensors");
  rk_session_config c;
  assert_rk_ok(rk_session_config_from_json(&c, json_object_get(f.root, "config"), "threads"));
  c.input_dropout = 0.2f, c.dropout = 0.1f, c.layer_norm_all_features = c.layer_norm_featurewise = true;
  c.stochastic_shared_embeddings_replacement_prob = 0.3f;
  rk_session_features fs;
  assert_rk_ok(rk_session_features_from_json(&fs, json_object_get(f.root, "features"), "threads"));
  rk_model *m;
  assert_rk_ok(rk_session_build(&m, &fs, &c, 4, true));
  rk_batch b;
  fx_session_batch(&f, &fs, &b);
  rk_model_feed *feed;
  assert_rk_ok(m->ops->feed_init(&feed, m, NULL, 0, NULL, 5));
  assert_rk_ok(m->ops->feed_fill(feed, &b, 2));
  rk_graph_set_step(m->g, 2);
  rk_graph_zero_grad(m->g);
  assert_rk_ok(rk_graph_forward(m->g, RK_TRAIN));
  assert_rk_ok(rk_graph_backward(m->g));
  int64_t at = 0;
  out[at++] = rk_graph_value_f32(m->g, m->out.loss)[0];
  for (int k = 0; k < m->n_params; k++) {
    int64_t n = rk_tensor_numel(&m->params[k]->grad);
    assert_true(at + n <= n_out);
    memcpy(out + at, m->params[k]->grad.data, (size_t)n * sizeof *out);
    at += n;
  }
  m->ops->feed_free(feed);
  m->ops->free(m);
  rk_batch_free(&b);
  rk_session_features_free(&fs);
  json_decref(f.root);
  assert_rk_ok(rk_set_num_threads(1));
}

static void test_inputs_bit_identical_across_threads(void **state) {
  (void)state;
  enum { N = 20000 };
  static float one[N], two[N];
  input_step(1, one, N);
  input_step(2, two, N);
  assert_memory_equal(one, two, sizeof one);
}

/* Build, feed (training: replacements drawn) and a forward of a fixture's model with every
 * input option its case allows, for the allocation-failure walk. */
typedef struct {
  rk_session_config c;
  rk_session_features fs;
  rk_batch b;
} walk_case;

static rk_status build_feed_forward(void *ctx) {
  walk_case *w = ctx;
  rk_model *m = NULL;
  rk_model_feed *feed = NULL;
  rk_status st = rk_session_build(&m, &w->fs, &w->c, 4, true);
  if (st == RK_OK) st = m->ops->feed_init(&feed, m, NULL, 0, NULL, 1);
  if (st == RK_OK) st = m->ops->feed_fill(feed, &w->b, 0);
  if (st == RK_OK) st = rk_graph_forward(m->g, RK_TRAIN);
  if (feed) m->ops->feed_free(feed);
  if (m) m->ops->free(m);
  return st;
}

static void walk(const char *name) {
  char path[4096];
  snprintf(path, sizeof path, "%s/tests/reference/fixtures/session_%s.json", RECKON_SOURCE_DIR, name);
  fixture f = {.model = name};
  json_error_t err;
  assert_non_null(f.root = json_load_file(path, 0, &err));
  f.tensors = json_object_get(f.root, "tensors");
  walk_case w;
  assert_rk_ok(rk_session_config_from_json(&w.c, json_object_get(f.root, "config"), name));
  w.c.stochastic_shared_embeddings_replacement_prob = 0.5f;
  w.c.layer_norm_all_features = w.c.layer_norm_featurewise = true;
  assert_rk_ok(rk_session_features_from_json(&w.fs, json_object_get(f.root, "features"), name));
  fx_session_batch(&f, &w.fs, &w.b);
  assert_true(rk_test_walk_failures(build_feed_forward, &w) > 10);
  rk_batch_free(&w.b);
  rk_session_features_free(&w.fs);
  json_decref(f.root);
}

static void test_allocation_failures(void **state) {
  (void)state;
  walk("session_aware");
  walk("inputs_continuous_projection");
  walk("inputs_soft_one_hot");
}

/* Session-aware pairing: by name, every feature needs its past, kinds agree; model.json keeps it. */
static void test_pairing_past_columns(void **state) {
  (void)state;
  rk_session_feature x[4] = {
      {.name = "item", .categorical = true, .cardinality = 9, .table = "item", .is_item = true},
      {.name = "price", .categorical = false},
      {.name = "bef_item", .categorical = true, .cardinality = 9, .table = "item"},
      {.name = "bef_price", .categorical = true, .cardinality = 4, .table = "p"}};
  rk_session_features f = {.features = x, .n = 4, .item = 0}, copy, back;
  assert_int_equal(rk_session_features_pair_past(&f, "bef_"), RK_EUSAGE);   /* bef_price is categorical */
  assert_non_null(strstr(rk_error_message(), "'bef_price'"));
  x[3] = (rk_session_feature){.name = "bef_price", .categorical = false};
  x[2].is_past = x[3].is_past = false;
  f.n = 3;   /* price has no past */
  assert_int_equal(rk_session_features_pair_past(&f, "bef_"), RK_EUSAGE);
  assert_non_null(strstr(rk_error_message(), "'bef_price'"));
  f.n = 4;
  x[2].is_past = false;
  assert_rk_ok(rk_session_features_pair_past(&f, "bef_"));
  assert_true(x[2].is_past && x[2].past_of == 0 && x[3].is_past && x[3].past_of == 1 && !x[0].is_past);
  assert_rk_ok(rk_session_features_copy(&copy, &f));
  json_t *j = rk_session_features_to_json(&copy);
  assert_rk_ok(rk_session_features_from_json(&back, j, "model.json"));
  assert_true(back.features[3].is_past && back.features[3].past_of == 1 && !back.features[1].is_past);
  json_decref(j);
  rk_session_features_free(&back);
  rk_session_features_free(&copy);
  /* A model needs --session_aware for paired features, and pairs for --session_aware. */
  rk_session_config c;
  rk_session_config_default(&c);
  c.d_model = 8, c.n_head = 2, c.n_layer = 1, c.session_seq_length_max = 4;
  rk_model *m;
  assert_int_equal(rk_session_build(&m, &f, &c, 2, true), RK_EUSAGE);
  assert_non_null(strstr(rk_error_message(), "--session_aware"));
  c.session_aware = true;
  f.n = 2;
  assert_int_equal(rk_session_build(&m, &f, &c, 2, true), RK_EUSAGE);
  assert_non_null(strstr(rk_error_message(), "past sessions' column"));
  f.n = 4;
  assert_rk_ok(rk_session_build(&m, &f, &c, 2, true));
  assert_int_equal(rk_session_model_outputs(m)->reads, 4);   /* reads: the session's own rows */
  m->ops->free(m);
}

/* The settings' combinations name the flags. */
static void test_setting_checks(void **state) {
  (void)state;
  rk_session_config c;
  rk_session_config_default(&c);
  c.numeric_features_soft_one_hot_encoding_num_embeddings = 4;
  assert_int_equal(rk_session_config_check(&c), RK_EUSAGE);
  assert_non_null(strstr(rk_error_message(), "--numeric_features_project_to_embedding_dim"));
  rk_session_config_default(&c);
  c.layer_norm_all_features = true, c.inp_merge = RK_SESSION_MERGE_IDENTITY;
  assert_int_equal(rk_session_config_check(&c), RK_EUSAGE);
  rk_session_config_default(&c);
  c.continuous_projection = 4, c.input_features_aggregation = RK_SESSION_AGG_ELEMENTWISE;
  assert_int_equal(rk_session_config_check(&c), RK_EUSAGE);
  rk_session_config_default(&c);
  c.stochastic_shared_embeddings_replacement_prob = 1.5f;
  assert_int_equal(rk_session_config_check(&c), RK_EUSAGE);
  assert_non_null(strstr(rk_error_message(), "--stochastic_shared_embeddings_replacement_prob"));
  rk_session_config_default(&c);
  c.session_aware = true, c.session_aware_past_seq_length_max = 7;
  assert_int_equal(rk_session_config_positions(&c), 27);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_continuous_projected_and_layer_norms),
      cmocka_unit_test(test_elementwise_aggregation),
      cmocka_unit_test(test_soft_one_hot_encoding),
      cmocka_unit_test(test_session_aware_concatenation),
      cmocka_unit_test(test_continuous_projection_together),
      cmocka_unit_test(test_stochastic_shared_embeddings),
      cmocka_unit_test(test_inputs_bit_identical_across_threads),
      cmocka_unit_test(test_allocation_failures),
      cmocka_unit_test(test_pairing_past_columns),
      cmocka_unit_test(test_setting_checks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
