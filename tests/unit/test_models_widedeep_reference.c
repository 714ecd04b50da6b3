/*
 * The Wide & Deep recipe's model and optimizers (`reckon widedeep`, docs/widedeep.md) against an
 * independent PyTorch reference (tests/reference/widedeep_model.py): the fixture
 * tests/reference/fixtures/models/widedeep_recipe.json, written by
 * tests/reference/make_widedeep_fixtures.py (no Python needed here), holds a schema of hashed
 * columns (one a list), an indicator column and continuous columns, a raw batch of 6 with nulls,
 * repeats and an empty list, every parameter's initial value, the logit, the loss, every
 * gradient, the loss after each of 3 steps and every parameter after them.
 *
 * Here the model is built as the recipe builds it (rk_ranking_build with wide_layout
 * RK_WIDE_LINEAR, schema_dims, tf_embedding_init) from the same schema as an rk_schema, loaded
 * with the fixture's values, fed the raw batch through the real feed (rk_feed_fill: hashing,
 * indicators' one-hots, lists, nulls), run forward and backward, and stepped with the recipe's
 * two optimizers (rk_optim_set: FTRL on the wide part, proximal Adagrad on the rest, each with
 * l1 and l2, tables lazily). Checked: rk_hash_int against the fixture's pure-Python XXH64, every
 * fed input exactly, then values with model_fixture.h's tolerances (forward atol 1e-6 rtol
 * 1e-5; gradients atol 1e-6 rtol 1e-4; after steps atol 1e-5 rtol 1e-4): the fixture is the
 * float32 problem solved in float64, so differences are reckon's float32 rounding. The worst
 * differences are printed.
 */
#include "support.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model_fixture.h"
#include "reckon/models.h"
#include "reckon/trainer.h"

static const char *str(json_t *o, const char *key) { return json_string_value(json_object_get(o, key)); }
static int64_t num(json_t *o, const char *key) { return json_integer_value(json_object_get(o, key)); }

/* The fixture's columns as an rk_schema, as `reckon synth outbrain` writes the recipe's. */
static void make_schema(fixture *f, rk_schema *s) {
  json_t *v;
  size_t i;
  rk_schema_init(s);
  json_array_foreach(json_object_get(f->root, "schema"), i, v) {
    const char *name = str(v, "name"), *kind = str(v, "kind");
    rk_schema_column *c;
    if (strcmp(kind, "hashed") == 0) {
      assert_rk_ok(rk_schema_add_column(s, name, "int64", &c));
      assert_rk_ok(rk_schema_column_add_tag(c, "categorical"));
      if (json_object_get(v, "max_len")) {
        assert_rk_ok(rk_schema_column_add_tag(c, "list"));
        assert_rk_ok(rk_schema_column_set_value_count(c, 0, num(v, "max_len")));
      }
      assert_rk_ok(rk_schema_column_set_property_number(c, "num_buckets", (double)num(v, "buckets")));
      json_t *emb = json_pack("{s:f, s:f}", "cardinality", (double)num(v, "buckets"), "dimension", (double)num(v, "dim"));
      assert_non_null(emb);
      assert_rk_ok(rk_schema_column_set_property(c, "embedding_sizes", emb));
    } else if (strcmp(kind, "indicator") == 0) {
      assert_rk_ok(rk_schema_add_column(s, name, "int64", &c));
      assert_rk_ok(rk_schema_column_add_tag(c, "categorical"));
      assert_rk_ok(rk_schema_column_set_int_domain(c, 0, num(v, "n") - 1, true, name));
      assert_rk_ok(rk_schema_column_set_property(c, "indicator", json_true()));
    } else if (strcmp(kind, "continuous") == 0) {
      assert_rk_ok(rk_schema_add_column(s, name, "float32", &c));
      assert_rk_ok(rk_schema_column_add_tag(c, "continuous"));
    } else {
      assert_string_equal(kind, "target");
      assert_rk_ok(rk_schema_add_column(s, name, "int8", &c));
      assert_rk_ok(rk_schema_column_add_tag(c, "target"));
      assert_rk_ok(rk_schema_column_add_tag(c, "binary_classification"));
    }
  }
}

/* The fixture's raw rows as a batch, a column per schema column (nulls, lists and all). */
static void make_batch(fixture *f, rk_batch *b) {
  json_t *schema = json_object_get(f->root, "schema"), *rows = json_object_get(f->root, "rows"), *col;
  size_t i, r;
  int64_t B = num(f->root, "batch");
  assert_rk_ok(rk_batch_init(b, (int)json_array_size(schema)));
  json_array_foreach(schema, i, col) {
    const char *name = str(col, "name"), *kind = str(col, "kind");
    bool list = json_object_get(col, "max_len") != NULL;
    rk_coltype type = strcmp(kind, "continuous") == 0 ? RK_COL_FLOAT32
                      : strcmp(kind, "target") == 0    ? RK_COL_INT8
                      : list                           ? RK_COL_LIST
                                                       : RK_COL_INT64;
    rk_column *c = &b->cols[i];
    assert_rk_ok(rk_column_init(c, name, type, RK_COL_INT64));
    json_t *values = json_object_get(rows, name), *v;
    assert_int_equal(json_array_size(values), B);
    json_array_foreach(values, r, v) {
      if (json_is_null(v)) {
        assert_rk_ok(rk_column_append_null(c));
      } else if (list) {
        size_t k;
        json_t *x;
        json_array_foreach(v, k, x) assert_rk_ok(rk_column_append_int(c->child, json_integer_value(x)));
        assert_rk_ok(rk_column_finish_list_row(c));
      } else if (type == RK_COL_FLOAT32) {
        assert_rk_ok(rk_column_append_double(c, json_number_value(v)));
      } else {
        assert_rk_ok(rk_column_append_int(c, json_integer_value(v)));
      }
    }
  }
  b->nrows = B;
}

/* n ids against a fixture tensor of exactly n integers, exactly. */
static void expect_ids(fixture *f, const char *name, const int64_t *got, int64_t n) {
  int64_t m;
  json_t *d = fx_tensor(f, name, &m);
  if (m != n) fail_msg("model %s: '%s' has %lld entries, reckon's feed %lld", f->model, name, (long long)m, (long long)n);
  for (int64_t i = 0; i < n; i++)
    if (got[i] != json_integer_value(json_array_get(d, (size_t)i)))
      fail_msg("model %s: '%s' entry %lld: reckon's feed %lld, PyTorch %lld", f->model, name, (long long)i,
               (long long)got[i], (long long)json_integer_value(json_array_get(d, (size_t)i)));
}

/* n floats against a fixture tensor, exactly (inputs are float32 values both sides). */
static void expect_exact(fixture *f, const char *name, const float *got, int64_t n) {
  int64_t m;
  json_t *d = fx_tensor(f, name, &m);
  assert_int_equal(m, n);
  for (int64_t i = 0; i < n; i++)
    if (got[i] != (float)fx_num(d, i))
      fail_msg("model %s: '%s' element %lld: reckon's feed %.9g, PyTorch %.9g", f->model, name, (long long)i,
               got[i], fx_num(d, i));
}

/* The hash both sides use: the fixture's pure-Python XXH64 of a few values, bit for bit. */
static void check_hashes(fixture *f) {
  json_t *pair;
  size_t i;
  json_array_foreach(json_object_get(f->root, "hashes"), i, pair) {
    int64_t v = json_integer_value(json_array_get(pair, 0));
    uint64_t want = strtoull(json_string_value(json_array_get(pair, 1)), NULL, 16);
    if (rk_hash_int(v) != want)
      fail_msg("rk_hash_int(%lld) = 0x%016llx, the Python XXH64 0x%016llx", (long long)v,
               (unsigned long long)rk_hash_int(v), (unsigned long long)want);
  }
  assert_true(i >= 2);
}

/* Every fed input against the fixture's encoding of the same raw rows. */
static void check_feed(fixture *f, rk_ranking_model *m, int64_t B) {
  char name[300];
  for (int i = 0; i < m->n_cat; i++) {
    const int64_t *ids = rk_graph_input_ids_data(m->g, m->cat_inputs[i]);
    snprintf(name, sizeof name, "ids:%s", m->cat_names[i]);
    if (m->max_len[i]) {
      const int64_t *off = rk_graph_input_offsets(m->g, m->cat_inputs[i]);
      char oname[300];
      snprintf(oname, sizeof oname, "offsets:%s", m->cat_names[i]);
      expect_ids(f, oname, off, B + 1);
      expect_ids(f, name, ids, off[B]);
    } else {
      expect_ids(f, name, ids, B);
    }
  }
  assert_int_not_equal(m->indicator_input, RK_NO_VALUE);
  expect_exact(f, "indicators", rk_graph_input_f32(m->g, m->indicator_input), B * m->indicator_width);
  expect_exact(f, "dense", rk_graph_input_f32(m->g, m->dense_input), B * m->n_cont);
  expect_exact(f, "label", rk_graph_input_f32(m->g, m->label), B);
  const float *w = rk_graph_input_f32(m->g, m->weight);
  for (int64_t r = 0; r < B; r++) assert_true(w[r] == 1.0f);
}

/* Every parameter: reckon's names in reckon's order, the fixture's shapes and initial values;
 * the wide ones (FTRL's) the same on both sides. */
static void load_params(fixture *f, rk_ranking_model *m) {
  fx_load_params(f, m->params, m->n_params);
  json_t *wide = json_object_get(f->root, "wide_params"), *w;
  for (int k = 0; k < m->n_params; k++) {
    const rk_param *p = m->params[k];
    bool is_wide = false;
    size_t i;
    json_array_foreach(wide, i, w) is_wide = is_wide || strcmp(json_string_value(w), p->name) == 0;
    if (rk_ranking_param_is_wide(p) != is_wide)
      fail_msg("model %s: '%s' is %s in reckon, %s in PyTorch", f->model, p->name,
               rk_ranking_param_is_wide(p) ? "wide" : "deep", is_wide ? "wide" : "deep");
  }
}

/* One optimizer's settings from the fixture ("deep" or "wide"). */
static void optim_config(fixture *f, rk_optim_config *c, const char *part) {
  json_t *o = json_object_get(json_object_get(f->root, "optim"), part);
  rk_optim_kind kind;
  assert_rk_ok(rk_optim_kind_parse(str(o, "kind"), &kind));
  rk_optim_config_default(c, kind, (float)json_number_value(json_object_get(o, "lr")));
  c->groups[0].l1 = (float)json_number_value(json_object_get(o, "l1"));
  c->groups[0].l2 = (float)json_number_value(json_object_get(o, "l2"));
  assert_true(c->initial_accumulator == (float)json_number_value(json_object_get(o, "initial_accumulator")));
  if (kind == RK_OPTIM_FTRL) assert_true(c->lr_power == (float)json_number_value(json_object_get(o, "lr_power")));
  assert_false(c->sparse_as_dense);   /* tables step lazily, as TF's sparse apply ops */
}

static rk_status set_step(void *opt) { return rk_optim_set_step(opt, 1.0); }

static void test_widedeep_recipe(void **state) {
  (void)state;
  fixture f;
  memset(&f, 0, sizeof f);
  f.model = "widedeep_recipe";
  char path[4096];
  snprintf(path, sizeof path, "%s/tests/reference/fixtures/models/%s.json", RECKON_SOURCE_DIR, f.model);
  json_error_t err;
  f.root = json_load_file(path, 0, &err);
  if (!f.root) fail_msg("cannot read fixture %s: %s (run tests/reference/make_widedeep_fixtures.py)", path, err.text);
  f.tensors = json_object_get(f.root, "tensors");
  assert_non_null(f.tensors);
  int64_t B = num(f.root, "batch");
  check_hashes(&f);

  rk_schema s;
  make_schema(&f, &s);
  rk_ranking_config c;
  rk_ranking_config_default(&c);
  int64_t layers[16];
  json_t *v;
  size_t i;
  c.kind = RK_MODEL_WIDE_N_DEEP;
  c.wide_layout = RK_WIDE_LINEAR;
  c.schema_dims = true;
  c.tf_embedding_init = true;
  c.n_mlp_layers = 0;
  assert_true(json_array_size(json_object_get(f.root, "mlp_layers")) <= 16);
  json_array_foreach(json_object_get(f.root, "mlp_layers"), i, v) layers[c.n_mlp_layers++] = json_integer_value(v);
  c.mlp_layers = layers;
  c.l2_reg = c.embeddings_l2_reg = c.wnd_wide_l2_reg = 0;   /* the recipe regularises in its optimizers */
  rk_ranking_model m;
  assert_rk_ok(rk_ranking_build(&m, &s, "click", false, &c, B));
  assert_int_equal(m.reg, RK_NO_VALUE);
  load_params(&f, &m);

  rk_batch batch;
  make_batch(&f, &batch);
  rk_feed feed;
  assert_rk_ok(rk_feed_init(&feed, &m, &s, 0, NULL, 1));
  assert_rk_ok(rk_feed_fill(&feed, &batch, 0));
  check_feed(&f, &m, B);

  /* Forward and backward. */
  rk_graph_zero_grad(m.g);
  assert_rk_ok(rk_graph_forward(m.g, RK_TRAIN));
  assert_rk_ok(rk_graph_backward(m.g));
  fx_compare_all(&f, FWD, "forward", "out:logit", rk_graph_value_f32(m.g, m.logit), B);
  fx_compare_all(&f, FWD, "forward", "out:loss", rk_graph_value_f32(m.g, m.loss), 1);
  for (int k = 0; k < m.n_params; k++) fx_compare_grad(&f, m.params[k]);

  /* The recipe's optimizers, 3 steps on the same batch. */
  rk_optim_config deep, wide;
  optim_config(&f, &deep, "deep");
  optim_config(&f, &wide, "wide");
  assert_int_equal(deep.kind, RK_OPTIM_PROXIMAL_ADAGRAD);
  assert_int_equal(wide.kind, RK_OPTIM_FTRL);
  rk_optim_set opt;
  assert_rk_ok(rk_optim_set_init(&opt, &m.base, &deep, &wide, NULL));
  assert_int_equal(opt.n, 2);
  fx_check_steps(&f, m.g, m.loss, m.params, m.n_params, (int)num(f.root, "steps"), set_step, &opt, "the recipe's");
  fx_report(&f);

  rk_optim_set_free(&opt);
  rk_feed_free(&feed);
  rk_batch_free(&batch);
  rk_ranking_free(&m);
  rk_schema_free(&s);
  json_decref(f.root);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_widedeep_recipe)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
