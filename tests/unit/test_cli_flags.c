/*
 * The flag parser: every form users of the reference scripts type, YAML config files,
 * precedence, errors that name the flag and value, and suggestions for unknown flags.
 */
#include "support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/flags.h"

#define TEST_FLAGS(X)                                                                       \
  X(rows,               INT,     "100",    "N",          "rows")                            \
  X(lr,                 FLOAT,   "1e-4",   "X",          "learning rate")                   \
  X(name,               STRING,  NULL,     "NAME",       "a name")                          \
  X(mode,               CHOICE,  "fast",   "fast|slow",  "a choice")                        \
  X(shuffled_train,     BOOL,    "true",   NULL,         "a boolean defaulting to true")    \
  X(use_task_towers,    BOOL,    "false",  NULL,         "a boolean defaulting to false")   \
  X(tasks,              LIST,    "all",    "T,...",      "tasks")                           \
  X(tasks_sample_space, LIST,    "",       "T,...",      "sample spaces")                   \
  X(deep_hidden_units,  MULTI,   "1024 1024", "N [N ...]", "layers")                       \
  X(mtl_loss_weight_,   FAMILY,  NULL,     "task",       "loss weight of a task")           \
  X(mtl_sample_weight_column_, FAMILY_TEXT, NULL, "task", "weight column of a task")           \
  X(data_path,          STRING,  NULL,     "PATH",       "input")                           \
  X(input_data_path,    ALIAS,   "data_path", NULL,      "")                                \
  X(log_to_wandb,       IGNORED, NULL,     NULL,         "Weights & Biases logging")

typedef struct {
  TEST_FLAGS(RK_FLAG_FIELD)
} test_opts;
#define RK_FLAG_STRUCT test_opts
static const rk_flag test_flags[] = {TEST_FLAGS(RK_FLAG_ROW) RK_FLAG_END};
#undef RK_FLAG_STRUCT

/* Parse a command line given as one string of space-separated words. */
static rk_status parse_line(rk_flag_parse *p, test_opts *o, const char *line) {
  static char buf[4096];
  static char *argv[128];
  snprintf(buf, sizeof buf, "%s", line);
  int argc = 0;
  for (char *t = strtok(buf, " "); t && argc < 128; t = strtok(NULL, " ")) argv[argc++] = t;
  memset(o, 0, sizeof *o);
  return rk_flags_parse(p, "test", test_flags, o, argc, argv);
}

static void test_defaults(void **state) {
  (void)state;
  rk_flag_parse p;
  test_opts o;
  assert_rk_ok(parse_line(&p, &o, ""));
  assert_int_equal(o.rows, 100);
  assert_true(o.lr == 1e-4);
  assert_null(o.name);
  assert_string_equal(o.mode, "fast");
  assert_true(o.shuffled_train);
  assert_false(o.use_task_towers);
  assert_int_equal(o.tasks.n, 1);
  assert_string_equal(o.tasks.items[0], "all");
  assert_int_equal(o.tasks_sample_space.n, 0);
  assert_int_equal(o.deep_hidden_units.n, 2);
  assert_int_equal(o.mtl_loss_weight_.n, 0);
  assert_false(rk_flags_given(&p, "rows"));
  assert_int_equal(p.globals.threads, 0);
  assert_string_equal(p.globals.progress, "auto");
  rk_flags_free(&p);
}

static void test_equals_and_space_forms(void **state) {
  (void)state;
  rk_flag_parse p;
  test_opts o;
  assert_rk_ok(parse_line(&p, &o, "--rows=5 --lr 0.5 --name=abc --mode slow"));
  assert_int_equal(o.rows, 5);
  assert_true(o.lr == 0.5);
  assert_string_equal(o.name, "abc");
  assert_string_equal(o.mode, "slow");
  assert_true(rk_flags_given(&p, "rows"));
  assert_false(rk_flags_given(&p, "tasks"));
  rk_flags_free(&p);
  /* integral floats are integers, as int(float(x)) users expect; negative values are values */
  assert_rk_ok(parse_line(&p, &o, "--rows 1e6 --lr -3"));
  assert_int_equal(o.rows, 1000000);
  assert_true(o.lr == -3.0);
  rk_flags_free(&p);
}

static void test_booleans(void **state) {
  (void)state;
  rk_flag_parse p;
  test_opts o;
  assert_rk_ok(parse_line(&p, &o, "--use_task_towers --rows 3"));
  assert_true(o.use_task_towers);
  assert_int_equal(o.rows, 3);
  rk_flags_free(&p);
  assert_rk_ok(parse_line(&p, &o, "--shuffled_train False --use_task_towers=yes"));
  assert_false(o.shuffled_train);
  assert_true(o.use_task_towers);
  rk_flags_free(&p);
  assert_rk_ok(parse_line(&p, &o, "--shuffled_train=0 --use_task_towers 1"));
  assert_false(o.shuffled_train);
  assert_true(o.use_task_towers);
  rk_flags_free(&p);
  /* a bare boolean followed by a positional word keeps the word positional */
  assert_rk_ok(parse_line(&p, &o, "--use_task_towers out.csv"));
  assert_true(o.use_task_towers);
  assert_int_equal(p.npositional, 1);
  assert_string_equal(p.positional[0], "out.csv");
  rk_flags_free(&p);
  assert_int_equal(parse_line(&p, &o, "--shuffled_train=maybe"), RK_EUSAGE);
  assert_non_null(strstr(rk_error_message(), "invalid value 'maybe' for --shuffled_train: expected true or false"));
  rk_flags_free(&p);
}

static void test_lists_keep_empty_items(void **state) {
  (void)state;
  rk_flag_parse p;
  test_opts o;
  assert_rk_ok(parse_line(&p, &o, "--tasks=click,like,follow,share --tasks_sample_space=,click,click,click"));
  assert_int_equal(o.tasks.n, 4);
  assert_string_equal(o.tasks.items[3], "share");
  assert_int_equal(o.tasks_sample_space.n, 4);
  assert_string_equal(o.tasks_sample_space.items[0], "");
  assert_string_equal(o.tasks_sample_space.items[1], "click");
  rk_flags_free(&p);
  assert_rk_ok(parse_line(&p, &o, "--tasks_sample_space ,click,"));
  assert_int_equal(o.tasks_sample_space.n, 3);
  assert_string_equal(o.tasks_sample_space.items[2], "");
  rk_flags_free(&p);
}

static void test_multi_values(void **state) {
  (void)state;
  rk_flag_parse p;
  test_opts o;
  assert_rk_ok(parse_line(&p, &o, "--deep_hidden_units 1024 512 256 --rows 7"));
  assert_int_equal(o.deep_hidden_units.n, 3);
  assert_string_equal(o.deep_hidden_units.items[2], "256");
  assert_int_equal(o.rows, 7);
  rk_flags_free(&p);
  assert_rk_ok(parse_line(&p, &o, "--deep_hidden_units=64"));
  assert_int_equal(o.deep_hidden_units.n, 1);
  rk_flags_free(&p);
  assert_int_equal(parse_line(&p, &o, "--deep_hidden_units --rows 3"), RK_EUSAGE);
  assert_non_null(strstr(rk_error_message(), "--deep_hidden_units needs one or more values"));
  rk_flags_free(&p);
}

static void test_families_in_both_forms(void **state) {
  (void)state;
  rk_flag_parse p;
  test_opts o;
  assert_rk_ok(parse_line(&p, &o, "--mtl_loss_weight_click=4 --mtl_loss_weight_like 2 --mtl_loss_weight_click 5"));
  assert_int_equal(o.mtl_loss_weight_.n, 2);
  assert_string_equal(o.mtl_loss_weight_.keys[0], "click");
  assert_true(o.mtl_loss_weight_.values[0] == 5.0);   /* the last one wins */
  assert_string_equal(o.mtl_loss_weight_.keys[1], "like");
  assert_true(o.mtl_loss_weight_.values[1] == 2.0);
  rk_flags_free(&p);
  assert_int_equal(parse_line(&p, &o, "--mtl_loss_weight_share=lots"), RK_EUSAGE);
  assert_non_null(strstr(rk_error_message(), "'lots' for --mtl_loss_weight_share: expected a number"));
  rk_flags_free(&p);
  /* A text family keeps the text, in both forms. */
  assert_rk_ok(parse_line(&p, &o, "--mtl_sample_weight_column_like=w1 --mtl_sample_weight_column_share w2"));
  assert_int_equal(o.mtl_sample_weight_column_.n, 2);
  assert_string_equal(o.mtl_sample_weight_column_.keys[0], "like");
  assert_string_equal(o.mtl_sample_weight_column_.texts[0], "w1");
  assert_string_equal(o.mtl_sample_weight_column_.texts[1], "w2");
  rk_flags_free(&p);
}

static void test_alias_and_ignored(void **state) {
  (void)state;
  rk_flag_parse p;
  test_opts o;
  char *logbuf = NULL;
  size_t loglen = 0;
  FILE *log = open_memstream(&logbuf, &loglen);
  rk_log_set_stream(log);
  assert_rk_ok(parse_line(&p, &o, "--input_data_path x.csv --log_to_wandb True --rows 2"));
  rk_log_set_stream(NULL);
  fclose(log);
  assert_string_equal(o.data_path, "x.csv");
  assert_true(rk_flags_given(&p, "data_path"));
  assert_int_equal(o.rows, 2);
  assert_non_null(strstr(logbuf, "--log_to_wandb has no effect"));
  free(logbuf);
  rk_flags_free(&p);
}

static void test_errors_and_suggestions(void **state) {
  (void)state;
  rk_flag_parse p;
  test_opts o;
  assert_int_equal(parse_line(&p, &o, "--row 5"), RK_EUSAGE);
  assert_string_equal(rk_error_message(),
                      "unknown flag '--row' for 'reckon test'; did you mean '--rows'? (see 'reckon test --help')");
  rk_flags_free(&p);
  assert_int_equal(parse_line(&p, &o, "--zzzzzzzzzz 5"), RK_EUSAGE);
  assert_null(strstr(rk_error_message(), "did you mean"));
  rk_flags_free(&p);
  assert_int_equal(parse_line(&p, &o, "--rows abc"), RK_EUSAGE);
  assert_string_equal(rk_error_message(), "invalid value 'abc' for --rows: expected an integer");
  rk_flags_free(&p);
  assert_int_equal(parse_line(&p, &o, "--mode medium"), RK_EUSAGE);
  assert_string_equal(rk_error_message(), "invalid value 'medium' for --mode: expected one of fast, slow");
  rk_flags_free(&p);
  assert_int_equal(parse_line(&p, &o, "--rows"), RK_EUSAGE);
  assert_string_equal(rk_error_message(), "flag --rows needs a value (N)");
  rk_flags_free(&p);
  assert_int_equal(parse_line(&p, &o, "--lr 1e-4x"), RK_EUSAGE);
  rk_flags_free(&p);
  /* dashes read as underscores */
  assert_rk_ok(parse_line(&p, &o, "--use-task-towers"));
  assert_true(o.use_task_towers);
  rk_flags_free(&p);
  assert_string_equal(rk_flags_suggest(test_flags, "mtl_loss_weight"), "mtl_loss_weight_");
  assert_string_equal(rk_flags_suggest(test_flags, "thread"), "threads");
}

static void test_yaml_config(void **state) {
  (void)state;
  const char *dir = rk_test_tmpdir("cli_flags_yaml");
  char path[4200], line[4400];
  snprintf(path, sizeof path, "%s/run.yaml", dir);
  rk_test_write_file(path,
                     "# a run\n"
                     "rows: 42\n"
                     "lr: 0.01\n"
                     "use_task_towers:\n"
                     "tasks: [click, like]\n"
                     "tasks_sample_space: ['', click]\n"
                     "deep_hidden_units:\n  - 8\n  - 4\n"
                     "mtl_loss_weight_click: 3\n"
                     "input_data_path: in.csv\n"
                     "threads: 2\n");
  rk_flag_parse p;
  test_opts o;
  snprintf(line, sizeof line, "--config %s --rows 7", path);
  assert_rk_ok(parse_line(&p, &o, line));
  assert_int_equal(o.rows, 7);   /* the command line wins */
  assert_true(o.lr == 0.01);
  assert_true(o.use_task_towers);
  assert_int_equal(o.tasks.n, 2);
  assert_string_equal(o.tasks.items[1], "like");
  assert_int_equal(o.tasks_sample_space.n, 2);
  assert_string_equal(o.tasks_sample_space.items[0], "");
  assert_int_equal(o.deep_hidden_units.n, 2);
  assert_string_equal(o.deep_hidden_units.items[1], "4");
  assert_int_equal(o.mtl_loss_weight_.n, 1);
  assert_true(o.mtl_loss_weight_.values[0] == 3.0);
  assert_string_equal(o.data_path, "in.csv");
  assert_int_equal(p.globals.threads, 2);
  assert_true(rk_flags_given(&p, "lr"));
  rk_flags_free(&p);

  rk_test_write_file(path, "rows: 1\nlearning_rate: 0.1\n");
  snprintf(line, sizeof line, "--config=%s", path);
  assert_int_equal(parse_line(&p, &o, line), RK_EUSAGE);
  char want[4400];
  snprintf(want, sizeof want, "unknown key 'learning_rate' in '%s' line 2", path);
  assert_non_null(strstr(rk_error_message(), want));
  rk_flags_free(&p);

  rk_test_write_file(path, "rows: many\n");
  assert_int_equal(parse_line(&p, &o, line), RK_EUSAGE);
  snprintf(want, sizeof want, "invalid value 'many' for 'rows' in '%s' line 1: expected an integer", path);
  assert_string_equal(rk_error_message(), want);
  rk_flags_free(&p);

  rk_test_write_file(path, "rows: [1\n");
  assert_int_equal(parse_line(&p, &o, line), RK_EPARSE);
  rk_flags_free(&p);

  snprintf(line, sizeof line, "--config %s/missing.yaml", dir);
  assert_int_equal(parse_line(&p, &o, line), RK_EIO);
  assert_non_null(strstr(rk_error_message(), "missing.yaml"));
  rk_flags_free(&p);
}

static void test_help_and_markdown_list_every_flag(void **state) {
  (void)state;
  char *text = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&text, &len);
  rk_flags_print_help(out, "test", "reckon test [flags]", "A test.", test_flags);
  rk_flags_write_markdown(out, "test", "reckon test [flags]", "A test.", NULL, test_flags);
  fclose(out);
  for (const rk_flag *f = test_flags; f->name; f++) {
    char want[128];
    snprintf(want, sizeof want, "--%s", f->name);
    assert_non_null(strstr(text, want));
  }
  assert_non_null(strstr(text, "(default: 100)"));
  assert_non_null(strstr(text, "| `--rows` | N (integer) | `100` | rows |"));
  assert_non_null(strstr(text, "same as `--data_path`"));
  free(text);
}

static void test_parse_does_not_leak_and_survives_oom(void **state) {
  (void)state;
  int64_t before = rk_alloc_live_bytes();
  for (int64_t n = 0;; n++) {
    rk_flag_parse p;
    test_opts o;
    rk_alloc_fail_after(n);
    rk_status s = parse_line(&p, &o, "--tasks=a,b,c --deep_hidden_units 1 2 3 --mtl_loss_weight_a 1 --name x");
    bool fired = rk_alloc_fail_fired();
    rk_alloc_fail_after(-1);
    rk_flags_free(&p);
    assert_int_equal(rk_alloc_live_bytes(), before);
    if (!fired) {
      assert_rk_ok(s);
      break;
    }
    assert_int_equal(s, RK_ENOMEM);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults),
      cmocka_unit_test(test_equals_and_space_forms),
      cmocka_unit_test(test_booleans),
      cmocka_unit_test(test_lists_keep_empty_items),
      cmocka_unit_test(test_multi_values),
      cmocka_unit_test(test_families_in_both_forms),
      cmocka_unit_test(test_alias_and_ignored),
      cmocka_unit_test(test_errors_and_suggestions),
      cmocka_unit_test(test_yaml_config),
      cmocka_unit_test(test_help_and_markdown_list_every_flag),
      cmocka_unit_test(test_parse_does_not_leak_and_survives_oom),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
