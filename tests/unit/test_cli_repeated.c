/*
 * Repeatable flags (RK_FLAG_REPEATED, src/cli/flags.c) and Triton's dashed names: each use of
 * `--load-model` adds a model, dashes read as underscores, a YAML list gives the same, and the
 * value a use takes is never split on commas.
 */
#include "support.h"

#include <stdio.h>
#include <string.h>

#include "cli/flags.h"

#define TEST_FLAGS(X)                                                                       \
  X(model_repository, STRING,   NULL, "DIR",  "a repository")                               \
  X(load_model,       REPEATED, "",   "NAME", "a model to load; repeat for more")           \
  X(backend_config,   IGNORED,  NULL, NULL,   "Triton's backend settings")

typedef struct {
  TEST_FLAGS(RK_FLAG_FIELD)
} test_opts;
#define RK_FLAG_STRUCT test_opts
static const rk_flag test_flags[] = {TEST_FLAGS(RK_FLAG_ROW) RK_FLAG_END};
#undef RK_FLAG_STRUCT

static rk_status parse(rk_flag_parse *p, test_opts *o, int argc, char **argv) {
  memset(o, 0, sizeof *o);
  return rk_flags_parse(p, "test", test_flags, o, argc, argv);
}

static void test_each_use_adds_one(void **state) {
  (void)state;
  rk_flag_parse p;
  test_opts o;
  char *argv[] = {"--model-repository=/r", "--load-model", "a,b", "--load_model=c", "--backend-config=tensorflow,version=2",
                  "--load-model", "d"};
  assert_rk_ok(parse(&p, &o, 7, argv));
  assert_string_equal(o.model_repository, "/r");
  assert_int_equal(o.load_model.n, 3);
  assert_string_equal(o.load_model.items[0], "a,b");
  assert_string_equal(o.load_model.items[1], "c");
  assert_string_equal(o.load_model.items[2], "d");
  assert_true(rk_flags_given(&p, "load_model"));
  json_t *j = rk_flags_to_json(&p);
  assert_int_equal(json_array_size(json_object_get(j, "load_model")), 3);
  json_decref(j);
  rk_flags_free(&p);

  assert_rk_ok(parse(&p, &o, 0, argv));
  assert_int_equal(o.load_model.n, 0);
  assert_false(rk_flags_given(&p, "load_model"));
  rk_flags_free(&p);

  char *missing[] = {"--load-model"};
  assert_int_equal(parse(&p, &o, 1, missing), RK_EUSAGE);
  assert_non_null(strstr(rk_error_message(), "--load_model needs a value"));
  rk_flags_free(&p);
}

static void test_yaml_list(void **state) {
  (void)state;
  const char *dir = rk_test_tmpdir("cli_repeated");
  const char *path = rk_test_path(dir, "serve.yaml");
  rk_test_write_file(path, "load_model: [x, y]\n");
  char config[512];
  snprintf(config, sizeof config, "--config=%s", path);
  char *argv[] = {config, "--load-model", "z"};
  rk_flag_parse p;
  test_opts o;
  assert_rk_ok(parse(&p, &o, 3, argv));
  assert_int_equal(o.load_model.n, 3);
  assert_string_equal(o.load_model.items[0], "x");
  assert_string_equal(o.load_model.items[1], "y");
  assert_string_equal(o.load_model.items[2], "z");
  rk_flags_free(&p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_each_use_adds_one),
      cmocka_unit_test(test_yaml_list),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
