/*
 * Feeding batches into a ranking graph (src/models/ranking_feed.c) and graphs sharing parameters:
 *   - a short batch: real rows weighted graph rows / real rows (so the loss is their mean),
 *     padding rows id 0, value 0, weight 0; the loss equals that of a graph of exactly the real
 *     rows;
 *   - in-batch negatives: the row's non-item features, another row's item features (never the
 *     same item), target 0;
 *   - an inference graph sharing the parameters gives the train graph's logits;
 *   - errors: ids beyond a table, a missing column, a non-binary target;
 *   - columns found once per batch layout, found again when a batch's columns move or change type.
 */
#include <math.h>
#include <string.h>

#include "reckon/models.h"
#include "ranking_data.h"
#include "support.h"

static void config(rk_ranking_config *c) {
  rk_ranking_config_default(c);
  static const int64_t layers[] = {8};
  c->mlp_layers = layers;
  c->n_mlp_layers = 1;
  c->l2_reg = 0;
}

/* A 4-row mlp over the small schema, and its feed. */
typedef struct {
  rk_schema s;
  rk_ranking_model m;
  rk_feed f;
} fed;

static void fed_open(fed *x) {
  ranking_schema(&x->s);
  rk_ranking_config c;
  config(&c);
  assert_rk_ok(rk_ranking_build(&x->m, &x->s, "click", false, &c, 4));
  assert_rk_ok(rk_feed_init(&x->f, &x->m, &x->s, 0, NULL, 1));
}

static void fed_close(fed *x) {
  rk_feed_free(&x->f);
  rk_ranking_free(&x->m);
  rk_schema_free(&x->s);
}

static void test_short_batch_is_the_mean_of_its_rows(void **state) {
  (void)state;
  rk_schema s;
  ranking_schema(&s);
  rk_ranking_config c;
  config(&c);
  rk_ranking_model big, exact;
  assert_rk_ok(rk_ranking_build(&big, &s, "click", false, &c, 16));
  assert_rk_ok(rk_ranking_share(&exact, &big, 5, true));
  rk_batch b;
  ranking_batch(&b, 5);
  rk_task_weights tw;
  rk_task_weights_default(&tw);
  tw.positive_weight[0] = 2.0f;
  rk_feed f1, f2;
  assert_rk_ok(rk_feed_init(&f1, &big, &s, 0, &tw, 1));
  assert_rk_ok(rk_feed_init(&f2, &exact, &s, 0, &tw, 1));
  assert_rk_ok(rk_feed_fill(&f1, &b, 0));
  assert_rk_ok(rk_feed_fill(&f2, &b, 0));
  assert_int_equal(f1.rows, 5);
  const float *w = rk_graph_input_f32(big.g, big.weight);
  const int64_t *ids = rk_graph_input_ids_data(big.g, big.cat_inputs[1]);
  for (int64_t r = 0; r < 16; r++) {
    float expect = r < 5 ? (16.0f / 5.0f) * (r % 3 == 0 ? 2.0f : 1.0f) : 0.0f;
    assert_float_equal(w[r], expect, 1e-6);
    if (r >= 5) assert_int_equal(ids[r], 0);
    else assert_int_equal(ids[r], 3 + (r * 7) % 25);
  }
  assert_float_equal(rk_graph_input_f32(big.g, big.dense_input)[3], 0.3f, 1e-7);
  assert_rk_ok(rk_graph_forward(big.g, RK_TRAIN));
  assert_rk_ok(rk_graph_forward(exact.g, RK_TRAIN));
  double a = rk_graph_value_f32(big.g, big.loss)[0], e = rk_graph_value_f32(exact.g, exact.loss)[0];
  assert_true(fabs(a - e) <= 1e-6 * fabs(e));
  rk_feed_free(&f1);
  rk_feed_free(&f2);
  rk_batch_free(&b);
  rk_ranking_free(&exact);
  rk_ranking_free(&big);
  rk_schema_free(&s);
}

static void test_negatives(void **state) {
  (void)state;
  rk_schema s;
  ranking_schema(&s);
  rk_ranking_config c;
  config(&c);
  rk_ranking_model m;
  assert_rk_ok(rk_ranking_build(&m, &s, "click", false, &c, 8 * 3));
  rk_feed f;
  assert_rk_ok(rk_feed_init(&f, &m, &s, 2, NULL, 7));
  assert_int_equal(rk_feed_batch_rows(&f), 8);
  rk_batch b;
  ranking_batch(&b, 8);
  assert_rk_ok(rk_feed_fill(&f, &b, 3));
  const int64_t *u = rk_graph_input_ids_data(m.g, m.cat_inputs[0]), *it = rk_graph_input_ids_data(m.g, m.cat_inputs[1]);
  const float *y = rk_graph_input_f32(m.g, m.label), *w = rk_graph_input_f32(m.g, m.weight);
  for (int64_t i = 0; i < 8; i++) {
    for (int k = 0; k < 2; k++) {
      int64_t r = 8 + i * 2 + k;
      assert_int_equal(u[r], u[i]);        /* the row's own user */
      assert_true(it[r] != it[i]);         /* another row's item, never its own */
      assert_float_equal(y[r], 0.0f, 0);
      assert_float_equal(w[r], 1.0f, 1e-6);   /* 24 real rows in a graph of 24 */
    }
  }
  /* The same step draws the same negatives; another step others. */
  int64_t first[24];
  memcpy(first, it, sizeof first);
  assert_rk_ok(rk_feed_fill(&f, &b, 3));
  assert_memory_equal(first, it, sizeof first);
  assert_rk_ok(rk_feed_fill(&f, &b, 4));
  assert_true(memcmp(first, it, sizeof first) != 0);
  rk_feed_free(&f);
  /* Negatives need item features. */
  rk_schema plain;
  rk_schema_init(&plain);
  assert_int_equal(rk_feed_init(&f, &m, &plain, 1, NULL, 7), RK_EUSAGE);
  rk_schema_free(&plain);
  rk_batch_free(&b);
  rk_ranking_free(&m);
  rk_schema_free(&s);
}

static void test_shared_inference_graph(void **state) {
  (void)state;
  rk_schema s;
  ranking_schema(&s);
  rk_model_kind kinds[] = {RK_MODEL_MLP, RK_MODEL_DCN, RK_MODEL_DLRM, RK_MODEL_WIDE_N_DEEP, RK_MODEL_DEEPFM};
  for (int k = 0; k < 5; k++) {
    rk_ranking_config c;
    config(&c);
    c.kind = kinds[k];
    c.embeddings_dim = 8;
    c.embeddings_l2_reg = 1e-3f;
    rk_ranking_model m, im;
    assert_rk_ok(rk_ranking_build(&m, &s, "click", false, &c, 12));
    assert_rk_ok(rk_ranking_share(&im, &m, 12, false));
    assert_int_equal(im.n_params, m.n_params);
    assert_int_equal(im.label, RK_NO_VALUE);
    rk_batch b;
    ranking_batch(&b, 12);
    rk_feed f1, f2;
    assert_rk_ok(rk_feed_init(&f1, &m, &s, 0, NULL, 1));
    assert_rk_ok(rk_feed_init(&f2, &im, &s, 0, NULL, 1));
    assert_rk_ok(rk_feed_fill(&f1, &b, 0));
    assert_rk_ok(rk_feed_fill(&f2, &b, 0));
    assert_rk_ok(rk_graph_forward(m.g, RK_EVAL));
    assert_rk_ok(rk_graph_forward(im.g, RK_EVAL));
    assert_memory_equal(rk_graph_value_f32(m.g, m.logit), rk_graph_value_f32(im.g, im.logit), 12 * sizeof(float));
    /* Training the original moves what the shared graph computes. */
    assert_rk_ok(rk_graph_forward(m.g, RK_TRAIN));
    assert_rk_ok(rk_graph_backward(m.g));
    rk_param *out = rk_ranking_param(&m, "output.bias");
    assert_non_null(out);
    ((float *)out->value.data)[0] += 1.0f;
    assert_rk_ok(rk_graph_forward(im.g, RK_EVAL));
    assert_float_equal(rk_graph_value_f32(im.g, im.logit)[0], rk_graph_value_f32(m.g, m.logit)[0] + 1.0f, 1e-4);
    rk_feed_free(&f1);
    rk_feed_free(&f2);
    rk_batch_free(&b);
    rk_ranking_free(&im);
    rk_ranking_free(&m);
  }
  rk_schema_free(&s);
}

static void test_errors(void **state) {
  (void)state;
  fed x;
  fed_open(&x);
  rk_feed *f = &x.f;
  rk_batch b;
  ranking_batch(&b, 4);
  ((int32_t *)b.cols[1].values)[2] = 30;   /* the item table has 30 rows */
  assert_int_equal(rk_feed_fill(f, &b, 0), RK_ERANGE);
  assert_non_null(strstr(rk_error_message(), "item_id"));
  ((int32_t *)b.cols[1].values)[2] = 4;
  ((int8_t *)b.cols[3].values)[1] = 2;
  assert_int_equal(rk_feed_fill(f, &b, 0), RK_EFORMAT);
  assert_non_null(strstr(rk_error_message(), "click"));
  rk_batch_free(&b);
  ranking_batch(&b, 5);
  assert_int_equal(rk_feed_fill(f, &b, 0), RK_EINVAL);   /* more rows than the graph takes */
  rk_batch_free(&b);
  ranking_batch(&b, 3);
  rk_column_free(&b.cols[2]);
  assert_rk_ok(rk_column_init(&b.cols[2], "agex", RK_COL_FLOAT32, RK_COL_INT64));
  for (int r = 0; r < 3; r++) assert_rk_ok(rk_column_append_double(&b.cols[2], 1.0));
  assert_int_equal(rk_feed_fill(f, &b, 0), RK_ENOTFOUND);
  assert_non_null(strstr(rk_error_message(), "'age'"));
  rk_batch_free(&b);
  fed_close(&x);
}

/* Columns are found once per layout: a batch with the columns elsewhere or of other types is
 * found again (same inputs), and one whose column changed type under the same name is refused. */
static void test_layout_follows_the_batch(void **state) {
  (void)state;
  fed x;
  fed_open(&x);
  rk_feed *f = &x.f;
  rk_batch b, moved = {0};
  ranking_batch(&b, 4);
  assert_rk_ok(rk_feed_fill(f, &b, 0));
  int64_t ids[4];
  float age[4], y[4];
  memcpy(ids, rk_graph_input_ids_data(x.m.g, x.m.cat_inputs[0]), sizeof ids);
  memcpy(age, rk_graph_input_f32(x.m.g, x.m.dense_input), sizeof age);
  memcpy(y, rk_graph_input_f32(x.m.g, x.m.labels[0]), sizeof y);
  assert_rk_ok(rk_batch_init(&moved, 4));   /* reversed, age as float64 */
  for (int k = 0; k < 4; k++) {
    const rk_column *from = &b.cols[3 - k];
    rk_coltype type = k == 1 ? RK_COL_FLOAT64 : from->type;
    assert_rk_ok(rk_column_init(&moved.cols[k], from->name, type, RK_COL_INT64));
    for (int64_t r = 0; r < 4; r++) assert_rk_ok(rk_column_append_double(&moved.cols[k], rk_column_get_double(from, r)));
  }
  moved.nrows = 4;
  memset(rk_graph_input_ids_data(x.m.g, x.m.cat_inputs[0]), 0, sizeof ids);
  assert_rk_ok(rk_feed_fill(f, &moved, 0));
  assert_memory_equal(rk_graph_input_ids_data(x.m.g, x.m.cat_inputs[0]), ids, sizeof ids);
  assert_memory_equal(rk_graph_input_f32(x.m.g, x.m.dense_input), age, sizeof age);
  assert_memory_equal(rk_graph_input_f32(x.m.g, x.m.labels[0]), y, sizeof y);
  rk_column_free(&moved.cols[3]);   /* user_id, same place, now strings */
  assert_rk_ok(rk_column_init(&moved.cols[3], "user_id", RK_COL_STRING, RK_COL_INT64));
  for (int r = 0; r < 4; r++) assert_rk_ok(rk_column_append_string(&moved.cols[3], "u", 1));
  assert_int_equal(rk_feed_fill(f, &moved, 0), RK_EFORMAT);
  assert_non_null(strstr(rk_error_message(), "column 'user_id' is string"));
  rk_batch_free(&moved);
  rk_batch_free(&b);
  fed_close(&x);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_short_batch_is_the_mean_of_its_rows),
      cmocka_unit_test(test_negatives),
      cmocka_unit_test(test_shared_inference_graph),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_layout_follows_the_batch),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
