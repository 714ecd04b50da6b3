/*
 * Whole session models against PyTorch 1.13: fixtures written by
 * tests/reference/make_session_fixtures.py (models in tests/reference/session_models.py; committed
 * JSON, no Python needed here) for a GPT-2 causal LM (untied output layer, per-feature LayerNorm),
 * a BERT-style masked LM (tied output with its bias, fixed masking draws, a temperature, label
 * smoothing), a GRU causal LM, XLNet's causal (unidirectional), masked and permutation LMs (two
 * streams, the fixture's permutation mask) and Transformer-XL with memory slots (issue 19, part
 * X; tests/reference/rel_blocks.py), and replacement token detection with a tied generator on
 * electra and xlnet --mlm, with ELECTRA's separate, narrower generator (the reference's
 * default: the discriminator's own merge and body), and with --rtd_use_batch_interaction (the
 * discriminator reads the batch's detached rows at the draws' sources) (part RTD: the joint loss of the masked LM and
 * the discriminator's BCE, the fixture's replacement draws; tests/reference/make_rtd_fixtures.py), over sessions with
 * padding and one longer than T. Each model is
 * built with reckon's builder, its parameters set from the fixture (names and order must agree),
 * the batch fed through the family's feed (whose causal masking must equal the fixture's; the
 * masked LM's draws are the fixture's), and then: the loss, every parameter's gradient, and three
 * steps of Hugging Face's AdamW with the model's own no-decay marks (tolerances: model_fixture.h).
 */
#include <string.h>

#include "model_fixture.h"
#include "models/session_internal.h"
#include "reckon/sessions.h"
#include "support.h"

static void config_of(fixture *f, rk_session_config *c) {
  rk_session_config_default(c);
  json_t *j = json_object_get(f->root, "config");
  assert_rk_ok(rk_session_config_from_json(c, j, f->model));
}

static rk_session_features features_of(void) {
  static rk_session_feature x[3] = {
      {.name = "category-list", .categorical = true, .cardinality = 6, .table = "category-list"},
      {.name = "item_id-list", .categorical = true, .cardinality = 13, .table = "item_id-list", .is_item = true},
      {.name = "price-list", .categorical = false}};
  return (rk_session_features){.features = x, .n = 3, .item = 1};
}

static rk_status adamw_step(void *opt) { return rk_optim_step(opt, 1.0); }

static void run_case(const char *name, bool fixture_masks) {
  char path[4096];
  snprintf(path, sizeof path, "%s/tests/reference/fixtures/session_%s.json", RECKON_SOURCE_DIR, name);
  fixture f = {.model = name};
  json_error_t err;
  f.root = json_load_file(path, 0, &err);
  if (!f.root) fail_msg("cannot read %s: %s (run tests/reference/make_session_fixtures.py)", path, err.text);
  f.tensors = json_object_get(f.root, "tensors");
  rk_session_config c;
  config_of(&f, &c);
  rk_session_features fs = features_of();
  rk_model *m;
  assert_rk_ok(rk_session_build(&m, &fs, &c, 4, true));
  fx_load_params(&f, m->params, m->n_params);
  rk_batch b;
  fx_session_batch(&f, &fs, &b);
  rk_model_feed *feed;
  assert_rk_ok(m->ops->feed_init(&feed, m, NULL, 0, NULL, 1));
  assert_rk_ok(m->ops->feed_fill(feed, &b, 0));
  /* The graph's inputs: the mask, real rows and labels the feed made (causal LM: they must be
   * PyTorch's) or the fixture's draws (masked LM). */
  const rk_session_model *sm = m->self;
  const int64_t BT = 4 * c.session_seq_length_max;
  fx_ids_input(&f, m->g, sm->sg.mask_rows, "mask", BT, !fixture_masks);
  fx_ids_input(&f, m->g, sm->sg.keys, "keys", BT, true);
  fx_ids_input(&f, m->g, sm->sg.labels, "labels", BT, !fixture_masks);
  if (sm->sg.hidden != RK_NO_VALUE) fx_ids_input(&f, m->g, sm->sg.hidden, "hidden", BT * c.session_seq_length_max, false);
  int64_t draws[64], n_draws;   /* rtd: PyTorch's replacements in place of the Gumbel draws */
  if (c.rtd) {
    json_t *d = fx_tensor(&f, "draws", &n_draws);
    assert_true(n_draws == BT && BT <= 64);
    for (int64_t i = 0; i < BT; i++) draws[i] = json_integer_value(json_array_get(d, (size_t)i));
    assert_rk_ok(rk_session_rtd_fix_draws(&sm->sg, draws));
  }
  rk_session_graph_pack_labels(&sm->sg, c.pad_token);   /* the loss reads the labelled rows */
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
  json_decref(f.root);
}

static void test_gpt2_causal_lm(void **state) {
  (void)state;
  run_case("gpt2", false);
}

static void test_bert_masked_lm(void **state) {
  (void)state;
  run_case("bert", true);
}

static void test_gru_causal_lm(void **state) {
  (void)state;
  run_case("gru", false);
}

static void test_xlnet_causal_lm(void **state) {
  (void)state;
  run_case("xlnet", false);
}

static void test_xlnet_masked_lm(void **state) {
  (void)state;
  run_case("xlnet_mlm", true);
}

static void test_xlnet_permutation_lm(void **state) {
  (void)state;
  run_case("xlnet_plm", true);
}

static void test_transfoxl_causal_lm_with_memory(void **state) {
  (void)state;
  run_case("transfoxl", false);
}

static void test_electra_replacement_token_detection(void **state) {
  (void)state;
  run_case("rtd_electra", true);
}

static void test_electra_separate_generator_replacement_token_detection(void **state) {
  (void)state;
  run_case("rtd_electra_separate", true);
}

static void test_electra_batch_interaction_replacement_token_detection(void **state) {
  (void)state;
  run_case("rtd_electra_batch_interaction", true);
}

static void test_xlnet_masked_lm_replacement_token_detection(void **state) {
  (void)state;
  run_case("rtd_xlnet_mlm", true);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_gpt2_causal_lm),
      cmocka_unit_test(test_bert_masked_lm),
      cmocka_unit_test(test_gru_causal_lm),
      cmocka_unit_test(test_xlnet_causal_lm),
      cmocka_unit_test(test_xlnet_masked_lm),
      cmocka_unit_test(test_xlnet_permutation_lm),
      cmocka_unit_test(test_transfoxl_causal_lm_with_memory),
      cmocka_unit_test(test_electra_replacement_token_detection),
      cmocka_unit_test(test_electra_separate_generator_replacement_token_detection),
      cmocka_unit_test(test_electra_batch_interaction_replacement_token_detection),
      cmocka_unit_test(test_xlnet_masked_lm_replacement_token_detection),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
