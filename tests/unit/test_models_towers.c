/*
 * Per-task towers (--mtl_tower_layers_<task>, the multi-task notebook's
 * `BinaryOutput("click", pre=MLPBlock([64]))` beside `BinaryOutput("like", pre=MLPBlock([32]))`):
 * a named task gets its own layer sizes, the others the shared --tower_layers; a name that is not
 * a task is an error naming the flag and the tasks; model.json keeps them.
 */
#include <string.h>

#include "reckon/models.h"
#include "reckon/trainer.h"
#include "support.h"

static void make_schema(rk_schema *s) {
  rk_schema_init(s);
  rk_schema_column *c;
  assert_rk_ok(rk_schema_add_column(s, "user_id", "int64", &c));
  assert_rk_ok(rk_schema_column_add_tag(c, "categorical"));
  assert_rk_ok(rk_schema_column_set_int_domain(c, 0, 99, true, "user_id"));
  const char *targets[] = {"click", "like", "share"};
  for (int t = 0; t < 3; t++) {
    assert_rk_ok(rk_schema_add_column(s, targets[t], "int8", &c));
    assert_rk_ok(rk_schema_column_add_tag(c, "target"));
    assert_rk_ok(rk_schema_column_add_tag(c, "binary_classification"));
  }
}

static void expect_shape(const rk_ranking_model *m, const char *name, int64_t rows, int64_t cols) {
  const rk_param *p = rk_ranking_param(m, name);
  if (!p) fail_msg("no parameter '%s'", name);
  if (p->value.shape[0] != rows || p->value.shape[1] != cols)
    fail_msg("'%s' is %lldx%lld, expected %lldx%lld", name, (long long)p->value.shape[0], (long long)p->value.shape[1],
             (long long)rows, (long long)cols);
}

static void test_towers_per_task(void **state) {
  (void)state;
  rk_schema s;
  make_schema(&s);
  rk_ranking_config c;
  rk_ranking_config_default(&c);
  c.kind = RK_MODEL_MMOE;
  const int64_t ex[] = {16}, shared[] = {5}, click[] = {12, 6}, like[] = {3};
  c.expert_layers = ex;
  c.tower_layers = shared;
  const rk_task_tower towers[] = {{"click", click, 2}, {"like", like, 1}};
  c.task_towers = towers;
  c.n_task_towers = 2;
  const char *targets[] = {"click", "like", "share"};
  bool reg[] = {false, false, false};
  rk_ranking_model m;
  assert_rk_ok(rk_ranking_build_tasks(&m, &s, 3, targets, reg, &c, 8));
  expect_shape(&m, "tower.click.0.weight", 12, 16);
  expect_shape(&m, "tower.click.1.weight", 6, 12);
  expect_shape(&m, "output.click.weight", 1, 6);
  expect_shape(&m, "tower.like.0.weight", 3, 16);
  assert_null(rk_ranking_param(&m, "tower.like.1.weight"));
  expect_shape(&m, "tower.share.0.weight", 5, 16);   /* not named: the shared size */

  /* model.json keeps them: the configuration read back builds the same parameters. */
  json_t *j = rk_ranking_config_to_json(&m.cfg);
  rk_ranking_config back;
  assert_rk_ok(rk_ranking_config_from_json(&back, j, "model.json"));
  assert_int_equal(back.n_task_towers, 2);
  rk_ranking_model m2;
  assert_rk_ok(rk_ranking_build_tasks(&m2, &s, 3, targets, reg, &back, 8));
  assert_int_equal(m2.n_params, m.n_params);
  for (int i = 0; i < m.n_params; i++) {
    assert_string_equal(m2.params[i]->name, m.params[i]->name);
    assert_int_equal(rk_tensor_numel(&m2.params[i]->value), rk_tensor_numel(&m.params[i]->value));
  }
  rk_ranking_free(&m2);
  rk_ranking_config_free_lists(&back);
  json_decref(j);
  rk_ranking_free(&m);

  /* A name that is not a task. */
  const rk_task_tower typo[] = {{"clik", click, 2}};
  c.task_towers = typo;
  c.n_task_towers = 1;
  assert_int_equal(rk_ranking_build_tasks(&m, &s, 3, targets, reg, &c, 8), RK_EUSAGE);
  assert_non_null(strstr(rk_error_message(), "--mtl_tower_layers_clik"));
  assert_non_null(strstr(rk_error_message(), "click, like, share"));
  rk_schema_free(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_towers_per_task),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
