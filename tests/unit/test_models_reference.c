/*
 * The five ranking models (src/models/) against an independent PyTorch implementation
 * (tests/reference/ranking_models.py): fixtures written by tests/reference/make_model_fixtures.py
 * (committed JSON under tests/reference/fixtures/models/, no Python needed here) hold a tiny
 * schema and configuration, every parameter's initial value, a batch of 6 (repeated ids, one
 * padding id), the logit, the loss and its regularisation, every gradient, the loss after each of
 * 3 Adam steps (Keras' epsilon hat, lazy on tables) and every parameter after them. Each model is
 * built here by rk_ranking_build from the same schema and configuration, loaded with the same
 * values, run forward and backward, and stepped with rk_optim.
 *
 * Tolerances, |reckon - PyTorch| <= atol + rtol |PyTorch| (the fixtures are the float32 problem
 * solved in float64, so the differences are reckon's float32 rounding):
 *   forward (logit, loss, regularisation):  atol 1e-6, rtol 1e-5
 *   gradients:                              atol 1e-6, rtol 1e-4 (sums of many products; a
 *                                           gradient is a difference of larger terms)
 *   after Adam steps (values, losses):      atol 1e-5, rtol 1e-4 (an Adam step normalises the
 *                                           gradient, so a small gradient's relative rounding
 *                                           error reaches the update; lr is 1e-2)
 * The worst differences seen are printed per model. Ids (table rows touched, hashed cross ids)
 * must match exactly.
 */
#include "support.h"

#include <jansson.h>
#include <math.h>
#include <string.h>

#include "reckon/models.h"
#include "reckon/optim.h"
#include "model_fixture.h"

static void make_schema(fixture *f, rk_schema *s) {
  json_t *schema = json_object_get(f->root, "schema"), *v;
  size_t i;
  rk_schema_init(s);
  rk_schema_column *c;
  json_array_foreach(json_object_get(schema, "categorical"), i, v) {
    const char *name = json_string_value(json_object_get(v, "name"));
    assert_rk_ok(rk_schema_add_column(s, name, "int64", &c));
    assert_rk_ok(rk_schema_column_add_tag(c, "categorical"));
    int64_t card = json_integer_value(json_object_get(v, "cardinality"));
    assert_rk_ok(rk_schema_column_set_int_domain(c, 0, card - 1, true, name));
  }
  json_array_foreach(json_object_get(schema, "continuous"), i, v) {
    assert_rk_ok(rk_schema_add_column(s, json_string_value(v), "float32", &c));
    assert_rk_ok(rk_schema_column_add_tag(c, "continuous"));
  }
  assert_rk_ok(rk_schema_add_column(s, json_string_value(json_object_get(schema, "target")), "int8", &c));
  assert_rk_ok(rk_schema_column_add_tag(c, "target"));
  assert_rk_ok(rk_schema_column_add_tag(c, "binary_classification"));
}

/* The configuration; its lists point into layers / ignore (and the JSON). */
static void make_config(fixture *f, rk_ranking_config *c, int64_t *layers, const char **ignore) {
  json_t *j = json_object_get(f->root, "config"), *v;
  size_t i;
  rk_ranking_config_default(c);
  assert_int_equal(rk_model_kind_parse(json_string_value(json_object_get(f->root, "kind")), &c->kind), RK_OK);
  c->n_mlp_layers = 0;
  assert_true(json_array_size(json_object_get(j, "mlp_layers")) <= 16);   /* the caller's arrays */
  assert_true(json_array_size(json_object_get(j, "wnd_ignore")) <= 16);
  json_array_foreach(json_object_get(j, "mlp_layers"), i, v) layers[c->n_mlp_layers++] = json_integer_value(v);
  c->mlp_layers = layers;
  assert_string_equal(json_string_value(json_object_get(j, "activation")), "relu");
  c->activation = RK_ACT_RELU;
  c->dropout = (float)json_number_value(json_object_get(j, "dropout"));
  c->embeddings_dim = json_integer_value(json_object_get(j, "embeddings_dim"));
  c->embedding_sizes_multiplier = json_number_value(json_object_get(j, "embedding_sizes_multiplier"));
  c->dcn_layers = (int)json_integer_value(json_object_get(j, "dcn_layers"));
  c->wnd_hashed_cross_num_bins = json_integer_value(json_object_get(j, "wnd_hashed_cross_num_bins"));
  c->n_wnd_ignore = 0;
  json_array_foreach(json_object_get(j, "wnd_ignore"), i, v) ignore[c->n_wnd_ignore++] = json_string_value(v);
  c->wnd_ignore = ignore;
  c->l2_reg = (float)json_number_value(json_object_get(j, "l2_reg"));
  c->embeddings_l2_reg = (float)json_number_value(json_object_get(j, "embeddings_l2_reg"));
  c->wnd_wide_l2_reg = (float)json_number_value(json_object_get(j, "wnd_wide_l2_reg"));
  c->dlrm_top_dots_only = json_is_true(json_object_get(j, "dlrm_top_dots_only"));
}

/* Every parameter: reckon's names in reckon's order, the fixture's shapes and initial values, each
 * reachable by its name. */
static void load_params(fixture *f, rk_ranking_model *m) {
  fx_load_params(f, m->params, m->n_params);
  for (int k = 0; k < m->n_params; k++) assert_ptr_equal(rk_ranking_param(m, m->params[k]->name), m->params[k]);
}

static void fill_inputs(fixture *f, rk_ranking_model *m, int64_t B) {
  int64_t n;
  json_t *ids = fx_tensor(f, "cat_ids", &n);
  assert_int_equal(n, B * m->n_cat);
  for (int i = 0; i < m->n_cat; i++) {
    int64_t *dst = rk_graph_input_ids_data(m->g, m->cat_inputs[i]);
    for (int64_t b = 0; b < B; b++) dst[b] = json_integer_value(json_array_get(ids, (size_t)(b * m->n_cat + i)));
  }
  const struct { const char *name; int v; int64_t width; } dense[] = {
      {"dense", m->dense_input, m->n_cont}, {"label", m->label, 1}, {"weight", m->weight, 1}};
  for (int k = 0; k < 3; k++) {
    if (dense[k].v == RK_NO_VALUE) {
      assert_null(json_object_get(f->tensors, dense[k].name));
      continue;
    }
    json_t *d = fx_tensor(f, dense[k].name, &n);
    assert_int_equal(n, B * dense[k].width);
    float *dst = rk_graph_input_f32(m->g, dense[k].v);
    for (int64_t i = 0; i < n; i++) dst[i] = (float)fx_num(d, i);
  }
}

/* wide_n_deep: the fixture's hashed cross ids (PyTorch side: a pure-Python XXH64) against
 * reckon's hash on the same ids, exactly. */
static void check_cross_ids(fixture *f, rk_ranking_model *m, int64_t B) {
  int64_t n, buckets = m->cfg.wnd_hashed_cross_num_bins;
  json_t *ids = fx_tensor(f, "cat_ids", &n);
  int checked = 0;
  for (int i = 0; i < m->n_cat; i++)
    for (int j = i + 1; j < m->n_cat; j++) {
      char name[300];
      snprintf(name, sizeof name, "ids:wide_cross.%s.%s", m->cat_names[i], m->cat_names[j]);
      json_t *want = json_object_get(f->tensors, name);
      if (!want) {
        snprintf(name, sizeof name, "wide_cross.%s.%s", m->cat_names[i], m->cat_names[j]);
        if (rk_ranking_param(m, name)) fail_msg("model %s: reckon has '%s', PyTorch does not", f->model, name);
        continue;
      }
      json_t *data = json_object_get(want, "data");
      for (int64_t b = 0; b < B; b++) {
        int64_t x = json_integer_value(json_array_get(ids, (size_t)(b * m->n_cat + i)));
        int64_t y = json_integer_value(json_array_get(ids, (size_t)(b * m->n_cat + j)));
        uint64_t h = rk_hash_cross(rk_hash_int(x), rk_hash_int(y));
        int64_t got = x == 0 || y == 0 ? 0 : 1 + (int64_t)(h % (uint64_t)(buckets - 1));
        int64_t w = json_integer_value(json_array_get(data, (size_t)b));
        if (got != w)
          fail_msg("model %s: '%s' example %lld (ids %lld, %lld): reckon's hash gives %lld, PyTorch's %lld", f->model,
                   name, (long long)b, (long long)x, (long long)y, (long long)got, (long long)w);
      }
      checked++;
    }
  assert_true(checked > 0);
}

static rk_status adam_step(void *opt) { return rk_optim_step(opt, 1.0); }

static void test_model(void **state) {
  fixture f;
  memset(&f, 0, sizeof f);
  f.model = *state;
  char path[4096];
  snprintf(path, sizeof path, "%s/tests/reference/fixtures/models/%s.json", RECKON_SOURCE_DIR, f.model);
  json_error_t err;
  f.root = json_load_file(path, 0, &err);
  if (!f.root) fail_msg("cannot read fixture %s: %s (run tests/reference/make_model_fixtures.py)", path, err.text);
  f.tensors = json_object_get(f.root, "tensors");
  assert_non_null(f.tensors);
  int64_t B = json_integer_value(json_object_get(f.root, "batch"));

  rk_schema s;
  make_schema(&f, &s);
  rk_ranking_config c;
  int64_t layers[16];
  const char *ignore[16];
  make_config(&f, &c, layers, ignore);
  rk_ranking_model m;
  assert_rk_ok(rk_ranking_build(&m, &s, "click", false, &c, B));
  load_params(&f, &m);
  fill_inputs(&f, &m, B);
  if (c.kind == RK_MODEL_WIDE_N_DEEP) check_cross_ids(&f, &m, B);

  /* Forward and backward. */
  rk_graph_zero_grad(m.g);
  assert_rk_ok(rk_graph_forward(m.g, RK_TRAIN));
  assert_rk_ok(rk_graph_backward(m.g));
  fx_compare_all(&f, FWD, "forward", "out:logit", rk_graph_value_f32(m.g, m.logit), B);
  fx_compare_all(&f, FWD, "forward", "out:loss", rk_graph_value_f32(m.g, m.loss), 1);
  assert_int_not_equal(m.reg, RK_NO_VALUE);
  fx_compare_all(&f, FWD, "forward", "out:reg", rk_graph_value_f32(m.g, m.reg), 1);
  for (int k = 0; k < m.n_params; k++) fx_compare_grad(&f, m.params[k]);

  /* Adam, Keras' epsilon hat, lazy on tables: 3 steps on the same batch. */
  rk_optim_config oc;
  fx_adam_config(&f, &oc);
  rk_optim opt;
  assert_rk_ok(rk_optim_init(&opt, &oc, m.params, m.n_params));
  int steps = (int)json_integer_value(json_object_get(json_object_get(f.root, "adam"), "steps"));
  fx_check_steps(&f, m.g, m.loss, m.params, m.n_params, steps, adam_step, &opt, "Adam");
  fx_report(&f);

  rk_optim_free(&opt);
  rk_ranking_free(&m);
  rk_schema_free(&s);
  json_decref(f.root);
}

#define MODEL(name) {name, test_model, NULL, NULL, (void *)name}

int main(void) {
  const struct CMUnitTest tests[] = {
      MODEL("mlp"),  MODEL("dcn"), MODEL("dlrm"), MODEL("dlrm_nocont"), MODEL("dlrm_dots"), MODEL("wide_n_deep"),
      MODEL("deepfm"),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
