/*
 * Embedding L2 covers every way a model reads a table: a single id's embedding, a list's pooled
 * embedding bag, an indicator's and a list's first-order (wide) weights. The regularisation term
 * of a forward pass equals lambda * sum ||row||^2 over each table's distinct rows looked up,
 * computed here by hand from the tables and the batch's ids.
 */
#include <math.h>
#include <string.h>

#include "reckon/models.h"
#include "support.h"

enum { B = 4, LIST_MAX = 3 };

/* user_id (10 ids), tags (a list of up to 3 of 8 ids), gender (an indicator of 0..3): categorical;
 * click: target. */
static void make_schema(rk_schema *s) {
  rk_schema_init(s);
  rk_schema_column *c;
  assert_rk_ok(rk_schema_add_column(s, "user_id", "int64", &c));
  assert_rk_ok(rk_schema_column_add_tag(c, "categorical"));
  assert_rk_ok(rk_schema_column_set_int_domain(c, 0, 9, true, "user_id"));
  assert_rk_ok(rk_schema_add_column(s, "tags", "int64", &c));
  assert_rk_ok(rk_schema_column_add_tag(c, "categorical"));
  assert_rk_ok(rk_schema_column_set_int_domain(c, 0, 7, true, "tags"));
  assert_rk_ok(rk_schema_column_set_value_count(c, 0, LIST_MAX));
  assert_rk_ok(rk_schema_add_column(s, "gender", "int64", &c));
  assert_rk_ok(rk_schema_column_add_tag(c, "categorical"));
  assert_rk_ok(rk_schema_column_set_int_domain(c, 0, 3, true, "gender"));
  assert_rk_ok(rk_schema_column_set_property(c, "indicator", json_true()));
  assert_rk_ok(rk_schema_add_column(s, "click", "int8", &c));
  assert_rk_ok(rk_schema_column_add_tag(c, "target"));
  assert_rk_ok(rk_schema_column_add_tag(c, "binary_classification"));
}

/* The batch's ids, with repeats (a row counts once) and padding (0, never counted). */
static const int64_t user[B] = {3, 5, 3, 0};
static const int64_t tag_offsets[B + 1] = {0, 2, 2, 5, 6};
static const int64_t tags[6] = {1, 4, 4, 7, 1, 0};
static const int64_t gender[B] = {2, 1, 2, 4};   /* indicator ids: raw value + 1 */

static void fill(rk_ranking_model *m) {
  memcpy(rk_graph_input_ids_data(m->g, m->cat_inputs[0]), user, sizeof user);
  memcpy(rk_graph_input_offsets(m->g, m->cat_inputs[1]), tag_offsets, sizeof tag_offsets);
  memcpy(rk_graph_input_ids_data(m->g, m->cat_inputs[1]), tags, sizeof tags);
  memcpy(rk_graph_input_ids_data(m->g, m->cat_inputs[2]), gender, sizeof gender);
  float *x = rk_graph_input_f32(m->g, m->indicator_input);
  if (m->indicator_input != RK_NO_VALUE) memset(x, 0, (size_t)B * (size_t)m->indicator_width * sizeof *x);
  for (int b = 0; b < B; b++) {
    rk_graph_input_f32(m->g, m->labels[0])[b] = (float)(b % 2);
    rk_graph_input_f32(m->g, m->weights[0])[b] = 1.0f;
  }
}

/* lambda * sum ||table[r]||^2 over the distinct non-zero ids. */
static double by_hand(const rk_param *t, const int64_t *ids, int n, double lambda) {
  bool seen[16] = {false};
  double s = 0;
  for (int j = 0; j < n; j++) {
    if (ids[j] == 0 || seen[ids[j]]) continue;
    seen[ids[j]] = true;
    const float *row = (const float *)t->value.data + ids[j] * t->value.shape[1];
    for (int64_t d = 0; d < t->value.shape[1]; d++) s += (double)row[d] * row[d];
  }
  return lambda * s;
}

static double regularisation(rk_model_kind kind, double emb_l2, double wide_l2, double *expect) {
  rk_schema s;
  make_schema(&s);
  rk_ranking_config c;
  rk_ranking_config_default(&c);
  c.kind = kind;
  const int64_t layers[] = {4};
  c.mlp_layers = layers;
  c.n_mlp_layers = 1;
  c.l2_reg = 0;
  c.embeddings_l2_reg = (float)emb_l2;
  c.wnd_wide_l2_reg = (float)wide_l2;
  const char *ignore[] = {"user_id:gender"};   /* the only cross; its hashed ids are not by hand */
  c.wnd_ignore = ignore;
  c.n_wnd_ignore = 1;
  rk_ranking_model m;
  assert_rk_ok(rk_ranking_build(&m, &s, "click", false, &c, B));
  assert_int_equal(m.max_len[1], LIST_MAX);
  assert_true(m.indicator[2]);
  fill(&m);
  assert_rk_ok(rk_graph_forward(m.g, RK_TRAIN));
  assert_true(m.reg != RK_NO_VALUE);
  double got = rk_graph_value_f32(m.g, m.reg)[0];
  *expect = by_hand(rk_ranking_param(&m, "embeddings.user_id"), user, B, emb_l2) +
            by_hand(rk_ranking_param(&m, "embeddings.tags"), tags, 6, emb_l2);
  assert_null(rk_ranking_param(&m, "embeddings.gender"));   /* an indicator has no embedding */
  if (kind == RK_MODEL_WIDE_N_DEEP)
    *expect += by_hand(rk_ranking_param(&m, "first_order.user_id"), user, B, wide_l2) +
               by_hand(rk_ranking_param(&m, "first_order.tags"), tags, 6, wide_l2) +
               by_hand(rk_ranking_param(&m, "first_order.gender"), gender, B, wide_l2);
  assert_rk_ok(rk_graph_backward(m.g));
  rk_ranking_free(&m);
  rk_schema_free(&s);
  return got;
}

static void test_every_lookup_kind(void **state) {
  (void)state;
  double expect, got;
  got = regularisation(RK_MODEL_MLP, 0.5, 0.0, &expect);
  assert_true(expect > 0);
  if (fabs(got - expect) > 1e-6 * expect) fail_msg("mlp: L2 %.9g, by hand %.9g", got, expect);
  got = regularisation(RK_MODEL_WIDE_N_DEEP, 0.5, 0.25, &expect);
  if (fabs(got - expect) > 1e-6 * expect) fail_msg("wide_n_deep: L2 %.9g, by hand %.9g", got, expect);
  got = regularisation(RK_MODEL_WIDE_N_DEEP, 0.0, 0.25, &expect);   /* the wide tables alone */
  assert_true(expect > 0);
  if (fabs(got - expect) > 1e-6 * expect) fail_msg("wide part: L2 %.9g, by hand %.9g", got, expect);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_lookup_kind),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
