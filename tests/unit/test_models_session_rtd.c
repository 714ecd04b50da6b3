/*
 * Replacement token detection's model settings and parameters (src/models/session_rtd.c,
 * session_params.c): the separate generator's width is round(R x d_model) with Python's rounding
 * (half to even), its parameters have that width (MLPs 4 d_model) and the discriminator's merge
 * and body have d_model; the refusals name their flags; building, sharing and feeding an electra
 * with a separate generator and with --rtd_use_batch_interaction fail cleanly on every injected
 * allocation. The model's numbers against PyTorch are in test_models_session_reference.c.
 */
#include <string.h>

#include "models/session_internal.h"
#include "reckon/sessions.h"
#include "session_model.h"

static rk_session_features features(void) {
  static rk_session_feature x[3] = {
      {.name = "category-list", .categorical = true, .cardinality = 6, .table = "category-list"},
      {.name = "item_id-list", .categorical = true, .cardinality = 13, .table = "item_id-list", .is_item = true},
      {.name = "price-list", .categorical = false}};
  return (rk_session_features){.features = x, .n = 3, .item = 1};
}

/* electra --rtd with the reference's defaults otherwise: a separate generator of 0.25 d_model. */
static void electra_rtd(rk_session_config *c, int64_t d_model, int heads) {
  rk_session_config_default(c);
  c->model_type = RK_SESSION_ELECTRA;
  c->rtd = true;
  c->d_model = d_model;
  c->n_head = heads;
  c->n_layer = 2;
  c->session_seq_length_max = 5;
  c->item_embedding_dim = 6;
  c->dropout = 0.0f;
}

static void expect_refused(const rk_session_config *c, const char *flag) {
  assert_int_equal(rk_session_config_check(c), RK_EUSAGE);
  if (!strstr(rk_error_message(), flag)) fail_msg("the refusal does not name %s: %s", flag, rk_error_message());
}

/* recsys_models.py's int(round(d_model x R)): Python rounds halves to even. */
static void test_generator_width_rounds_half_to_even(void **state) {
  (void)state;
  rk_session_config c;
  electra_rtd(&c, 10, 1);
  assert_int_equal(rk_session_width(&c), 2);   /* 2.5 */
  electra_rtd(&c, 14, 1);
  assert_int_equal(rk_session_width(&c), 4);   /* 3.5 */
  electra_rtd(&c, 256, 4);
  assert_int_equal(rk_session_width(&c), 64);
  assert_rk_ok(rk_session_config_check(&c));
  c.rtd_tied_generator = true;
  assert_int_equal(rk_session_width(&c), 256);
  c.rtd_tied_generator = false;
  c.rtd = false;
  assert_int_equal(rk_session_width(&c), 256);
}

static void test_refusals_name_their_flags(void **state) {
  (void)state;
  rk_session_config c;
  electra_rtd(&c, 12, 4);   /* 3 wide: 4 heads do not divide it */
  expect_refused(&c, "--electra_generator_hidden_size");
  electra_rtd(&c, 2, 1);
  c.electra_generator_hidden_size = 0.2f;   /* round(0.4) = 0 */
  expect_refused(&c, "--electra_generator_hidden_size");
  electra_rtd(&c, 16, 2);
  c.model_type = RK_SESSION_BERT;   /* the reference builds two models for electra only */
  expect_refused(&c, "--rtd_tied_generator");
  c.rtd_tied_generator = true;
  assert_rk_ok(rk_session_config_check(&c));
  electra_rtd(&c, 16, 2);
  c.inp_merge = RK_SESSION_MERGE_IDENTITY;
  expect_refused(&c, "--inp_merge identity");
  electra_rtd(&c, 16, 2);
  c.rtd_use_batch_interaction = true;
  c.rtd_tied_generator = true;
  expect_refused(&c, "--rtd_sample_from_batch");
  c.rtd_sample_from_batch = true;
  assert_rk_ok(rk_session_config_check(&c));
  c.rtd_tied_generator = false;   /* the generator's rows are 4 wide, the discriminator 16 */
  expect_refused(&c, "--electra_generator_hidden_size 1");
  c.electra_generator_hidden_size = 1.0f;
  assert_rk_ok(rk_session_config_check(&c));
}

static const rk_param *named(const rk_session_params *p, const char *name) {
  for (int i = 0; i < p->n; i++)
    if (strcmp(p->list[i]->name, name) == 0) return p->list[i];
  fail_msg("no parameter '%s'", name);
  return NULL;
}

static void expect_shape(const rk_session_params *p, const char *name, int64_t d0, int64_t d1) {
  const rk_param *x = named(p, name);
  if (x->value.shape[0] != d0 || (d1 && x->value.shape[1] != d1))
    fail_msg("'%s' is (%lld, %lld); want (%lld, %lld)", name, (long long)x->value.shape[0],
             (long long)(x->value.ndim > 1 ? x->value.shape[1] : 0), (long long)d0, (long long)d1);
}

/* d_model 16, R 0.25: the generator 4 wide with MLPs of 64; the discriminator's own merge, positions
 * and blocks at 16; the shared tables once; everything the discriminator adds declared after the
 * generator's output layer, so the generator's draws do not depend on it. */
static void test_separate_generator_parameters(void **state) {
  (void)state;
  rk_session_features f = features();
  rk_session_config c;
  electra_rtd(&c, 16, 2);
  c.layer_norm_all_features = true;
  rk_session_params p;
  assert_rk_ok(rk_session_params_create(&p, &f, &c));
  const int64_t W = p.merged_width;
  expect_shape(&p, "mlp_merge.weight", 4, W);
  expect_shape(&p, "masked_item_embedding", 4, 0);
  expect_shape(&p, "embeddings.position_embeddings.weight", 5, 4);
  expect_shape(&p, "encoder.layer.1.mlp.fc.weight", 64, 4);
  expect_shape(&p, "output_layer.weight", 6, 4);
  expect_shape(&p, "merge_disc.layer_norm_all_input.weight", W, 0);
  expect_shape(&p, "merge_disc.weight", 16, W);
  expect_shape(&p, "discriminator.embeddings.position_embeddings.weight", 5, 16);
  expect_shape(&p, "discriminator.encoder.layer.1.mlp.fc.weight", 64, 16);
  expect_shape(&p, "dense_discriminator.weight", 16, 16);
  int tables = 0, head = -1, first_disc = -1;
  for (int i = 0; i < p.n; i++) {
    tables += strncmp(p.list[i]->name, "embedding_tables.", 17) == 0;
    if (strcmp(p.list[i]->name, "output_layer_items.bias") == 0) head = i;
    if (first_disc < 0 && (strstr(p.list[i]->name, "disc") != NULL)) first_disc = i;
  }
  assert_int_equal(tables, 2);
  assert_true(head >= 0 && first_disc > head);
  assert_true(named(&p, "discriminator.encoder.layer.0.ln_2.weight")->no_decay);
  rk_session_params_free(&p);
}

static rk_status build_share_feed(void *ctx) {
  rk_session_features f = features();
  return session_test_build_share_feed(&f, ctx);
}

static void test_allocation_failures(void **state) {
  (void)state;
  rk_session_config c;
  electra_rtd(&c, 8, 2);
  c.layer_norm_all_features = true;
  assert_true(rk_test_walk_failures(build_share_feed, &c) > 10);
  c.rtd_tied_generator = c.rtd_sample_from_batch = c.rtd_use_batch_interaction = true;
  assert_true(rk_test_walk_failures(build_share_feed, &c) > 10);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_generator_width_rounds_half_to_even),
      cmocka_unit_test(test_refusals_name_their_flags),
      cmocka_unit_test(test_separate_generator_parameters),
      cmocka_unit_test(test_allocation_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
