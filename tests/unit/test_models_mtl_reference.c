/*
 * The multi-task models (src/models/multitask.c, rk_ranking_build_tasks: the shared-bottom mlp with
 * per-task towers, MMoE, CGC and PLE) against an independent PyTorch implementation
 * (tests/reference/multitask_models.py): fixtures written by tests/reference/make_mtl_fixtures.py
 * (committed JSON, tests/reference/fixtures/models/mtl_*.json, no Python needed here) hold a tiny
 * schema with three tasks (click and like binary, watch a regression), the configuration, every
 * parameter's initial value, a batch of 6 (repeated ids, one padding id) with per-task labels and
 * per-example weights (loss weight x class weight x sample-space mask x sample weight: like only
 * counts where click == 1), each task's logit and loss, the total loss and its regularisation,
 * every gate's probabilities, every gradient, the loss after each of 3 Adam steps (Keras' epsilon
 * hat, lazy on tables) and every parameter after them. Each model is built here by
 * rk_ranking_build_tasks from the same schema and configuration, loaded with the same values,
 * run forward and backward, and stepped with rk_optim.
 *
 * Tolerances as tests/unit/test_models_reference.c, |reckon - PyTorch| <= atol + rtol |PyTorch|
 * (the fixtures are the float32 problem solved in float64, so the differences are reckon's
 * float32 rounding):
 *   forward (logits, task losses, loss, regularisation, gate probabilities): atol 1e-6, rtol 1e-5
 *   gradients:                                                            atol 1e-6, rtol 1e-4
 *   after Adam steps (values, losses):                                    atol 1e-5, rtol 1e-4
 * The worst differences seen are printed per model. Table rows touched must match exactly.
 */
#include "support.h"

#include <jansson.h>
#include <math.h>
#include <string.h>

#include "reckon/models.h"
#include "reckon/optim.h"
#include "model_fixture.h"


/* Categorical and continuous features, then one target column per task. The task names and
 * kinds go to names / regression (pointing into the JSON). */
static int make_schema(fixture *f, rk_schema *s, const char **names, bool *regression) {
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
  json_t *tasks = json_object_get(schema, "tasks");
  assert_true(json_array_size(tasks) >= 2 && json_array_size(tasks) <= RK_MAX_TASKS);
  json_array_foreach(tasks, i, v) {
    names[i] = json_string_value(json_object_get(v, "name"));
    regression[i] = json_is_true(json_object_get(v, "regression"));
    assert_rk_ok(rk_schema_add_column(s, names[i], regression[i] ? "float32" : "int8", &c));
    assert_rk_ok(rk_schema_column_add_tag(c, "target"));
    assert_rk_ok(rk_schema_column_add_tag(c, regression[i] ? "regression" : "binary_classification"));
  }
  return (int)json_array_size(tasks);
}

/* A list of layer sizes (at most 16) into dst; returns how many. */
static int layers_of(json_t *j, const char *key, int64_t *dst) {
  json_t *v, *a = json_object_get(j, key);
  size_t i;
  assert_true(json_is_array(a) && json_array_size(a) <= 16);
  json_array_foreach(a, i, v) dst[i] = json_integer_value(v);
  return (int)json_array_size(a);
}

/* The configuration; its lists point into layers[3][16]. */
static void make_config(fixture *f, rk_ranking_config *c, int64_t (*layers)[16]) {
  json_t *j = json_object_get(f->root, "config");
  rk_ranking_config_default(c);
  assert_int_equal(rk_model_kind_parse(json_string_value(json_object_get(f->root, "kind")), &c->kind), RK_OK);
  c->n_mlp_layers = layers_of(j, "mlp_layers", layers[0]);
  c->mlp_layers = layers[0];
  c->n_expert_layers = layers_of(j, "expert_layers", layers[1]);
  c->expert_layers = layers[1];
  c->n_tower_layers = layers_of(j, "tower_layers", layers[2]);
  c->tower_layers = layers[2];
  assert_rk_ok(rk_act_parse(json_string_value(json_object_get(j, "activation")), &c->activation));
  c->dropout = (float)json_number_value(json_object_get(j, "dropout"));
  c->embedding_sizes_multiplier = json_number_value(json_object_get(j, "embedding_sizes_multiplier"));
  c->l2_reg = (float)json_number_value(json_object_get(j, "l2_reg"));
  c->embeddings_l2_reg = (float)json_number_value(json_object_get(j, "embeddings_l2_reg"));
  c->mmoe_experts = (int)json_integer_value(json_object_get(j, "mmoe_experts"));
  c->gate_dim = json_integer_value(json_object_get(j, "gate_dim"));
  c->gate_temperature = (float)json_number_value(json_object_get(j, "gate_temperature"));
  c->use_task_towers = json_is_true(json_object_get(j, "use_task_towers"));
  c->cgc_task_experts = (int)json_integer_value(json_object_get(j, "cgc_task_experts"));
  c->cgc_shared_experts = (int)json_integer_value(json_object_get(j, "cgc_shared_experts"));
  c->ple_layers = (int)json_integer_value(json_object_get(j, "ple_layers"));
  c->ple_gate_original = json_is_true(json_object_get(j, "ple_gate_original"));
}

/* Every parameter: reckon's names in reckon's order, the fixture's shapes and initial values, each
 * reachable by its name. */
static void load_params(fixture *f, rk_ranking_model *m) {
  fx_load_params(f, m->params, m->n_params);
  for (int k = 0; k < m->n_params; k++) assert_ptr_equal(rk_ranking_param(m, m->params[k]->name), m->params[k]);
}

static void fill_f32(fixture *f, rk_graph *g, int v, const char *name, int64_t n) {
  int64_t m;
  json_t *d = fx_tensor(f, name, &m);
  if (m != n) fail_msg("model %s: tensor '%s' has %lld elements, the graph's input %lld", f->model, name, (long long)m,
                       (long long)n);
  float *dst = rk_graph_input_f32(g, v);
  for (int64_t i = 0; i < n; i++) dst[i] = (float)fx_num(d, i);
}

static void fill_inputs(fixture *f, rk_ranking_model *m, int64_t B) {
  int64_t n;
  json_t *ids = fx_tensor(f, "cat_ids", &n);
  assert_int_equal(n, B * m->n_cat);
  for (int i = 0; i < m->n_cat; i++) {
    int64_t *dst = rk_graph_input_ids_data(m->g, m->cat_inputs[i]);
    for (int64_t b = 0; b < B; b++) dst[b] = json_integer_value(json_array_get(ids, (size_t)(b * m->n_cat + i)));
  }
  assert_int_not_equal(m->dense_input, RK_NO_VALUE);
  fill_f32(f, m->g, m->dense_input, "dense", B * m->n_cont);
  for (int t = 0; t < m->n_tasks; t++) {
    char name[160];
    snprintf(name, sizeof name, "label:%s", m->targets[t]);
    fill_f32(f, m->g, m->labels[t], name, B);
    snprintf(name, sizeof name, "weight:%s", m->targets[t]);
    fill_f32(f, m->g, m->weights[t], name, B);
  }
}

/* Per task: its logit, its loss and its gate's probabilities (B, E) where the model has gates. */
static void compare_tasks(fixture *f, rk_ranking_model *m, int64_t B) {
  for (int t = 0; t < m->n_tasks; t++) {
    char name[160];
    snprintf(name, sizeof name, "out:logit:%s", m->targets[t]);
    fx_compare_all(f, FWD, "forward", name, rk_graph_value_f32(m->g, m->logits[t]), B);
    snprintf(name, sizeof name, "out:loss:%s", m->targets[t]);
    fx_compare_all(f, FWD, "forward", name, rk_graph_value_f32(m->g, m->task_losses[t]), 1);
    snprintf(name, sizeof name, "out:gate:%s", m->targets[t]);
    json_t *want = json_object_get(f->tensors, name);
    if (!want) {
      if (m->gate_probs[t] != RK_NO_VALUE) fail_msg("model %s: task %s has gate weights, PyTorch's has none", f->model,
                                                    m->targets[t]);
      continue;
    }
    if (m->gate_probs[t] == RK_NO_VALUE)
      fail_msg("model %s: task %s has no gate weights, PyTorch's has", f->model, m->targets[t]);
    json_t *shape = json_object_get(want, "shape");
    const int64_t *got = rk_graph_value_shape(m->g, m->gate_probs[t]);
    assert_int_equal(rk_graph_value_ndim(m->g, m->gate_probs[t]), 2);
    if (got[0] != B || got[1] != json_integer_value(json_array_get(shape, 1)))
      fail_msg("model %s: task %s's gate weights are (%lld, %lld), PyTorch's (%lld, %lld)", f->model, m->targets[t],
               (long long)got[0], (long long)got[1], (long long)json_integer_value(json_array_get(shape, 0)),
               (long long)json_integer_value(json_array_get(shape, 1)));
    fx_compare_all(f, FWD, "forward", name, rk_graph_value_f32(m->g, m->gate_probs[t]), got[0] * got[1]);
  }
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
  if (!f.root) fail_msg("cannot read fixture %s: %s (run tests/reference/make_mtl_fixtures.py)", path, err.text);
  f.tensors = json_object_get(f.root, "tensors");
  assert_non_null(f.tensors);
  int64_t B = json_integer_value(json_object_get(f.root, "batch"));

  rk_schema s;
  const char *targets[RK_MAX_TASKS];
  bool regression[RK_MAX_TASKS];
  int K = make_schema(&f, &s, targets, regression);
  rk_ranking_config c;
  int64_t layers[3][16];
  make_config(&f, &c, layers);
  rk_ranking_model m;
  assert_rk_ok(rk_ranking_build_tasks(&m, &s, K, targets, regression, &c, B));
  assert_int_equal(m.n_tasks, K);
  load_params(&f, &m);
  fill_inputs(&f, &m, B);

  /* Forward and backward. */
  rk_graph_zero_grad(m.g);
  assert_rk_ok(rk_graph_forward(m.g, RK_TRAIN));
  assert_rk_ok(rk_graph_backward(m.g));
  compare_tasks(&f, &m, B);
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
      MODEL("mtl_mlp"), MODEL("mtl_mmoe"), MODEL("mtl_mmoe_plain"), MODEL("mtl_cgc"), MODEL("mtl_ple"),
      MODEL("mtl_ple_original"),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
