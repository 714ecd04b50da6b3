/*
 * The model interface (reckon/model.h) over the ranking family (src/models/ranking_model.c):
 *   - the view is the model's: graph, parameters and per-task outputs are the family's own;
 *   - a graph shared and fed through the table computes the family's logits, and training the
 *     original moves it (the parameters are shared, not copied);
 *   - the feed through the table reads the family feed's columns, rows and default weights;
 *   - param_group puts exactly wide_n_deep's wide parameters in the second optimizer;
 *   - describe gives model.json's "model" and "features";
 *   - rk_model_share_for_data sizes the graph to the batch, and checks the negatives;
 *   - share and feed_init fail on every injected allocation failure with RK_ENOMEM, leaking nothing.
 */
#include <string.h>

#include "reckon/models.h"
#include "ranking_data.h"
#include "support.h"

static void build(rk_ranking_model *m, const rk_schema *s, rk_model_kind kind, int64_t batch) {
  rk_ranking_config c;
  rk_ranking_config_default(&c);
  static const int64_t layers[] = {8};
  c.mlp_layers = layers;
  c.n_mlp_layers = 1;
  c.kind = kind;
  c.embeddings_dim = 8;
  assert_rk_ok(rk_ranking_build(m, s, "click", false, &c, batch));
}

static void test_the_view_is_the_models(void **state) {
  (void)state;
  rk_schema s;
  ranking_schema(&s);
  rk_ranking_model m;
  build(&m, &s, RK_MODEL_DLRM, 6);
  const rk_model *v = &m.base;
  assert_string_equal(v->ops->family, "ranking");
  assert_ptr_equal(v->self, &m);
  assert_ptr_equal(v->g, m.g);
  assert_ptr_equal(v->params, m.params);
  assert_int_equal(v->n_params, m.n_params);
  assert_int_equal(v->out.n_tasks, 1);
  assert_string_equal(v->out.targets[0], "click");
  assert_false(v->out.regression[0]);
  assert_int_equal(v->out.logits[0], m.logit);
  assert_int_equal(v->out.labels[0], m.label);
  assert_int_equal(v->out.weights[0], m.weight);
  assert_int_equal(v->out.loss, m.loss);
  assert_int_equal(v->out.reg, m.reg);
  assert_int_equal(v->out.gate_probs[0], RK_NO_VALUE);
  rk_ranking_free(&m);
  rk_schema_free(&s);
}

static void test_shared_and_fed_through_the_table(void **state) {
  (void)state;
  rk_schema s;
  ranking_schema(&s);
  rk_model_kind kinds[] = {RK_MODEL_MLP, RK_MODEL_WIDE_N_DEEP};
  for (int k = 0; k < 2; k++) {
    rk_ranking_model m;
    build(&m, &s, kinds[k], 12);
    rk_model *im;
    assert_rk_ok(m.base.ops->share(&im, &m.base, 12, false));
    assert_int_equal(im->n_params, m.n_params);
    assert_int_equal(im->out.labels[0], RK_NO_VALUE);
    rk_batch b;
    ranking_batch(&b, 12);
    rk_feed f;
    rk_model_feed *mf;
    assert_rk_ok(rk_feed_init(&f, &m, &s, 0, NULL, 1));
    assert_rk_ok(im->ops->feed_init(&mf, im, &s, 0, NULL, 1));
    const char *names[16];
    assert_true(im->ops->feed_max_columns(im) <= 16);
    assert_int_equal(im->ops->feed_columns(mf, false, names), 3);
    assert_string_equal(names[0], "user_id");
    assert_string_equal(names[1], "item_id");
    assert_string_equal(names[2], "age");
    assert_int_equal(im->ops->feed_columns(mf, true, names), 4);
    assert_string_equal(names[3], "click");
    assert_int_equal(im->ops->feed_batch_rows(mf), 12);
    assert_float_equal(im->ops->feed_weights(mf)->loss_weight[0], 1.0, 0);
    assert_rk_ok(rk_feed_fill(&f, &b, 0));
    assert_rk_ok(im->ops->feed_fill(mf, &b, 0));
    const int64_t *src = im->ops->feed_sources(mf);
    for (int64_t r = 0; r < 12; r++) assert_int_equal(src[r], r);
    assert_rk_ok(rk_graph_forward(m.g, RK_EVAL));
    assert_rk_ok(rk_graph_forward(im->g, RK_EVAL));
    assert_memory_equal(rk_graph_value_f32(m.g, m.logit), rk_graph_value_f32(im->g, im->out.logits[0]),
                        12 * sizeof(float));
    /* The parameters are shared: a change to the original's shows in the shared graph. */
    rk_param *bias = rk_ranking_param(&m, "output.bias");
    assert_non_null(bias);
    ((float *)bias->value.data)[0] += 1.0f;
    float before = rk_graph_value_f32(im->g, im->out.logits[0])[0];
    assert_rk_ok(rk_graph_forward(im->g, RK_EVAL));
    assert_float_equal(rk_graph_value_f32(im->g, im->out.logits[0])[0], before + 1.0f, 1e-5);
    im->ops->feed_free(mf);
    rk_feed_free(&f);
    rk_batch_free(&b);
    im->ops->free(im);
    rk_ranking_free(&m);
  }
  rk_schema_free(&s);
}

static void test_param_group_is_the_wide_part(void **state) {
  (void)state;
  rk_schema s;
  ranking_schema(&s);
  rk_ranking_model wnd, mlp;
  build(&wnd, &s, RK_MODEL_WIDE_N_DEEP, 4);
  build(&mlp, &s, RK_MODEL_MLP, 4);
  int wide = 0;
  for (int i = 0; i < wnd.n_params; i++) {
    const char *name = wnd.params[i]->name;
    bool is_wide =
        !strncmp(name, "first_order.", 12) || !strncmp(name, "wide_cross.", 11) || !strncmp(name, "wide.", 5);
    assert_int_equal(wnd.base.ops->param_group(&wnd.base, i), is_wide ? 1 : 0);
    wide += is_wide;
  }
  assert_true(wide > 0 && wide < wnd.n_params);
  for (int i = 0; i < mlp.n_params; i++) assert_int_equal(mlp.base.ops->param_group(&mlp.base, i), 0);
  rk_ranking_free(&wnd);
  rk_ranking_free(&mlp);
  rk_schema_free(&s);
}

static void test_describe_gives_model_and_features(void **state) {
  (void)state;
  rk_schema s;
  ranking_schema(&s);
  rk_ranking_model m;
  build(&m, &s, RK_MODEL_MLP, 4);
  json_t *d = m.base.ops->describe(&m.base);
  assert_non_null(d);
  assert_int_equal(json_object_size(d), 2);
  json_t *layers = json_object_get(json_object_get(d, "model"), "mlp_layers");
  assert_int_equal(json_array_size(layers), 1);
  assert_int_equal(json_integer_value(json_array_get(layers, 0)), 8);
  json_t *cat = json_object_get(json_object_get(d, "features"), "categorical");
  assert_int_equal(json_array_size(cat), 2);
  assert_string_equal(json_string_value(json_object_get(json_array_get(cat, 1), "name")), "item_id");
  assert_int_equal(json_integer_value(json_object_get(json_array_get(cat, 1), "cardinality")), 30);
  json_decref(d);
  rk_ranking_free(&m);
  rk_schema_free(&s);
}

static void test_share_for_data(void **state) {
  (void)state;
  rk_schema s;
  ranking_schema(&s);
  rk_ranking_model m;
  build(&m, &s, RK_MODEL_MLP, 4);
  rk_model *im;
  /* No data there: the rows asked for (the loader reports the path later). */
  assert_rk_ok(rk_model_share_for_data(&im, &m.base, "/nonexistent/reckon-data", 7, 2));
  assert_int_equal(rk_graph_batch(im->g), 21);
  assert_int_equal(rk_error_status(), RK_OK);   /* the open's failure was cleared */
  im->ops->free(im);
  assert_int_equal(rk_model_share_for_data(&im, &m.base, "/nonexistent/reckon-data", 7, 7), RK_EUSAGE);
  assert_null(im);
  assert_non_null(strstr(rk_error_message(), "--in_batch_negatives_eval"));
  rk_ranking_free(&m);
  rk_schema_free(&s);
}

/* share and feed_init with rk_alloc_fail_after(n), n = 0, 1, ... until no injection fires. */
static void test_out_of_memory(void **state) {
  (void)state;
  rk_schema s;
  ranking_schema(&s);
  rk_ranking_model m;
  build(&m, &s, RK_MODEL_MLP, 4);
  /* A train graph leaves state on the shared parameters the first time (freed with m): made once
   * here, so each run below must end where it started. */
  rk_model *warm;
  assert_rk_ok(m.base.ops->share(&warm, &m.base, 6, true));
  warm->ops->free(warm);
  bool succeeded = false;
  for (int64_t n = 0; n < 100000 && !succeeded; n++) {
    int64_t live0 = rk_alloc_live_bytes();
    rk_model *im = NULL;
    rk_model_feed *f = NULL;
    rk_alloc_fail_after(n);
    rk_status st = m.base.ops->share(&im, &m.base, 6, true);
    if (st == RK_OK) st = im->ops->feed_init(&f, im, &s, 0, NULL, 1);
    bool fired = rk_alloc_fail_fired();
    rk_alloc_fail_after(-1);
    if (fired) assert_int_equal(st, RK_ENOMEM);
    else assert_rk_ok(st);
    succeeded = !fired;
    if (f) im->ops->feed_free(f);
    if (im) im->ops->free(im);
    if (rk_alloc_live_bytes() != live0)
      fail_msg("allocation %lld: leaks %lld bytes", (long long)n, (long long)(rk_alloc_live_bytes() - live0));
  }
  assert_true(succeeded);
  rk_ranking_free(&m);
  rk_schema_free(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_the_view_is_the_models),
      cmocka_unit_test(test_shared_and_fed_through_the_table),
      cmocka_unit_test(test_param_group_is_the_wide_part),
      cmocka_unit_test(test_describe_gives_model_and_features),
      cmocka_unit_test(test_share_for_data),
      cmocka_unit_test(test_out_of_memory),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
