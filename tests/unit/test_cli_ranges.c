/*
 * Flag ranges: every numeric flag of every command carries its valid range in its metavar
 * (src/cli/flag_range.h), the parser refuses values outside it (NaN always, infinity unless the
 * range closes on it) in both command-line forms and in YAML configs, and --help and the docs
 * show it. The cases are those of issue 15 item 14 (and the sizes of item 11).
 */
#include "support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/flag_range.h"
#include "cli/flags.h"

static const rk_command *command(const char *name) {
  for (const rk_command *const *c = rk_commands; *c; c++)
    if (strcmp((*c)->name, name) == 0) return *c;
  fail_msg("no command '%s'", name);
  return NULL;
}

/* Parse one command line (words separated by spaces) with a command's real table. */
static rk_status parse_command(const char *name, const char *line) {
  const rk_command *cmd = command(name);
  char buf[1024];
  char *argv[32];
  int argc = 0;
  snprintf(buf, sizeof buf, "%s", line);
  for (char *t = strtok(buf, " "); t && argc < 32; t = strtok(NULL, " ")) argv[argc++] = t;
  void *opts = calloc(1, cmd->opts_size);
  assert_non_null(opts);
  rk_flag_parse p;
  rk_status st = rk_flags_parse(&p, cmd->name, cmd->flags, opts, argc, argv);
  rk_flags_free(&p);
  free(opts);
  return st;
}

/* The value is refused, and the message names the flag, the value and the range. */
static void expect_refused(const char *name, const char *line, const char *flag, const char *value, const char *range) {
  rk_status st = parse_command(name, line);
  if (st != RK_EUSAGE) fail_msg("'%s %s' was accepted (%s)", name, line, rk_status_name(st));
  const char *msg = rk_error_message();
  char want[160];
  snprintf(want, sizeof want, "invalid value '%s' for %s: expected", value, flag);
  if (!strstr(msg, want) || !strstr(msg, range)) fail_msg("'%s %s': message '%s' lacks '%s' or '%s'", name, line, msg, want, range);
}

/* Each case of the issue, in the `--flag value` and `--flag=value` forms. */
static void expect_refused_both_forms(const char *name, const char *flag, const char *value, const char *range) {
  char line[256], dashed[80];
  snprintf(dashed, sizeof dashed, "--%s", flag);
  snprintf(line, sizeof line, "--%s %s", flag, value);
  expect_refused(name, line, dashed, value, range);
  snprintf(line, sizeof line, "--%s=%s", flag, value);
  expect_refused(name, line, dashed, value, range);
}

static void test_every_table_has_ranges(void **state) {
  (void)state;
  for (const rk_command *const *c = rk_commands; *c; c++) assert_rk_ok(rk_flags_check_table((*c)->name, (*c)->flags));
  assert_rk_ok(rk_flags_check_table("global", rk_flags_global_table()));
}

/* The table walk above can fail: each defect it looks for, in a table of one row. */
typedef struct {
  int64_t n;
  double x;
  rk_strlist layers;
  rk_flag_family weights;
} bad_opts;

static void expect_bad_table(const char *name, rk_flag_kind kind, const char *def, const char *metavar, size_t offset,
                             const char *why) {
  const rk_flag table[] = {{name, kind, def, metavar, "help", offset}, RK_FLAG_END};
  rk_status st = rk_flags_check_table("test", table);
  assert_int_equal(st, RK_EINTERNAL);
  if (!strstr(rk_error_message(), why)) fail_msg("message '%s' lacks '%s'", rk_error_message(), why);
}

static void test_table_check_finds_each_defect(void **state) {
  (void)state;
  expect_bad_table("rows", RK_FLAG_INT, "10", "N", offsetof(bad_opts, n), "gives no range");
  expect_bad_table("lr", RK_FLAG_FLOAT, "0.1", "LR", offsetof(bad_opts, x), "gives no range");
  expect_bad_table("layers", RK_FLAG_LIST, "64,32", "N,...", offsetof(bad_opts, layers), "gives no range");
  expect_bad_table("weight_", RK_FLAG_FAMILY, NULL, "task", offsetof(bad_opts, weights), "gives no range");
  expect_bad_table("rows", RK_FLAG_INT, "10", "N in [1, 2", offsetof(bad_opts, n), "cannot read the range");
  expect_bad_table("rows", RK_FLAG_INT, "0", "N >= 1", offsetof(bad_opts, n), "the default of --rows");
  expect_bad_table("x", RK_FLAG_FLOAT, "1", "P in [0, 1)", offsetof(bad_opts, x), "the default of --x");
  expect_bad_table("layers", RK_FLAG_LIST, "64,0", "N,... in [1, 8]", offsetof(bad_opts, layers), "the default of --layers");
  const rk_flag good[] = {{"rows", RK_FLAG_INT, "10", "N >= 1", "help", offsetof(bad_opts, n)},
                          {"names", RK_FLAG_LIST, "a,b", "C,...", "help", offsetof(bad_opts, layers)},
                          RK_FLAG_END};
  assert_rk_ok(rk_flags_check_table("test", good));
}

static void test_range_notation(void **state) {
  (void)state;
  rk_flag_range r;
  assert_int_equal(rk_flag_range_parse("P in [0, 1)", &r), 1);
  assert_int_equal(r.placeholder_len, 1);
  assert_string_equal(r.text, "in [0, 1)");
  assert_true(rk_flag_range_contains(&r, 0));
  assert_true(rk_flag_range_contains(&r, 0.999));
  assert_false(rk_flag_range_contains(&r, 1));
  assert_false(rk_flag_range_contains(&r, -0.5));
  assert_false(rk_flag_range_contains(&r, NAN));
  assert_int_equal(rk_flag_range_parse("N in [1, 2^28]", &r), 1);
  assert_true(rk_flag_range_contains(&r, 268435456.0));
  assert_false(rk_flag_range_contains(&r, 268435457.0));
  assert_false(rk_flag_range_contains(&r, 0));
  assert_int_equal(rk_flag_range_parse("X > 0", &r), 1);
  assert_false(rk_flag_range_contains(&r, 0));
  assert_true(rk_flag_range_contains(&r, 1e-300));
  assert_false(rk_flag_range_contains(&r, INFINITY));   /* only a range closing on inf admits it */
  assert_int_equal(rk_flag_range_parse("X in [0, inf]", &r), 1);
  assert_true(rk_flag_range_contains(&r, INFINITY));
  assert_int_equal(rk_flag_range_parse("T in (-inf, inf)", &r), 1);
  assert_true(rk_flag_range_contains(&r, -1e18));
  assert_false(rk_flag_range_contains(&r, -INFINITY));
  assert_int_equal(rk_flag_range_parse("N <= 8", &r), 1);
  assert_true(rk_flag_range_contains(&r, 8));
  assert_false(rk_flag_range_contains(&r, 9));
  assert_int_equal(rk_flag_range_parse("N,... in [1, 2^16]", &r), 1);
  assert_int_equal(r.placeholder_len, 5);
  assert_int_equal(rk_flag_range_parse("N", &r), 0);
  assert_int_equal(rk_flag_range_parse(NULL, &r), 0);
  assert_int_equal(rk_flag_range_parse("N in [2, 1]", &r), -1);
  assert_int_equal(rk_flag_range_parse("N in [1, x]", &r), -1);
  assert_int_equal(rk_flag_range_parse("N >= 1 or so", &r), -1);
}

static void test_issue_values_are_refused(void **state) {
  (void)state;
  expect_refused_both_forms("train", "dropout", "nan", "in [0, 1)");
  expect_refused_both_forms("train", "dropout", "-0.5", "in [0, 1)");
  expect_refused_both_forms("train", "l2_reg", "nan", ">= 0");
  expect_refused_both_forms("train", "l2_reg", "-1", ">= 0");
  expect_refused_both_forms("train", "lr_decay_rate", "nan", "in [0, 1]");
  expect_refused_both_forms("train", "lr_decay_rate", "-2", "in [0, 1]");
  expect_refused_both_forms("train", "lr_decay_steps", "0", ">= 1");
  expect_refused_both_forms("train", "lr_decay_steps", "-1", ">= 1");
  expect_refused_both_forms("train", "embedding_sizes_multiplier", "-1", "in (0, 1024]");
  expect_refused_both_forms("train", "embedding_sizes_multiplier", "nan", "in (0, 1024]");
  expect_refused_both_forms("train", "stl_positive_class_weight", "-1", "> 0");
  expect_refused_both_forms("train", "dcn_interacted_layer_num", "-1", "in [1, 64]");
  expect_refused_both_forms("train", "checkpoint_every_steps", "-1", ">= 0");
  expect_refused_both_forms("train", "wnd_hashed_cross_num_bins", "0", "in [1, 2^30]");
  expect_refused_both_forms("train", "mtl_gates_softmax_temperature", "0", "> 0");
  expect_refused_both_forms("train", "gate_dim", "-1", "in [0, 2^16]");
  expect_refused_both_forms("train", "wnd_wide_l2_reg", "nan", ">= 0");
  expect_refused_both_forms("train", "threads", "100000", "in [0, 1024]");
  expect_refused_both_forms("train", "train_batch_size", "2147483648", "in [1, 2^28]");
  expect_refused_both_forms("widedeep", "global_batch_size", "0", "in [1, 2^28]");
  expect_refused_both_forms("widedeep", "threads", "100000", "in [0, 1024]");
  /* a number's kinds of not-a-number: inf is outside every finite range, and so is 1e400 */
  expect_refused_both_forms("train", "lr", "inf", "> 0");
  expect_refused_both_forms("train", "lr", "-inf", "> 0");
  expect_refused_both_forms("evaluate", "stl_positive_class_weight", "nan", "> 0");
  /* items of numeric lists and members of numeric families */
  expect_refused("train", "--mlp_layers 64,0", "--mlp_layers", "0", "in [1, 2^16]");   /* the message names the item */
  expect_refused("train", "--mlp_layers=64,x", "--mlp_layers", "x", "in [1, 2^16]");
  expect_refused_both_forms("train", "tower_layers", "-8", "in [1, 2^16]");
  expect_refused_both_forms("widedeep", "deep_hidden_units", "0", "in [1, 2^16]");
  expect_refused_both_forms("train", "mtl_loss_weight_click", "-1", ">= 0");
  expect_refused_both_forms("train", "mtl_pos_class_weight_click", "nan", "> 0");
  expect_refused("widedeep", "--deep_hidden_units 64 0", "--deep_hidden_units", "0", "in [1, 2^16]");
}

static void test_bounds_are_accepted(void **state) {
  (void)state;
  assert_rk_ok(parse_command("train", "--dropout 0 --lr_decay_rate 0 --gate_dim 0 --threads 1024 --checkpoint_every_steps 0"));
  assert_rk_ok(parse_command("train", "--lr_decay_rate=1 --train_batch_size 268435456 --mlp_layers 65536,1,"));
  assert_rk_ok(parse_command("train", "--mtl_loss_weight_click 0 --mtl_pos_class_weight_click=2.5 --dropout 0.999"));
  assert_rk_ok(parse_command("preprocess", "--dataset_split_temporal_timestamp -5 --random_split_eval_perc 0.2"));
  assert_rk_ok(parse_command("widedeep", "--deep_hidden_units 1024 512 --global_batch_size 1"));
}

static void test_yaml_config_is_checked(void **state) {
  (void)state;
  const char *dir = rk_test_tmpdir("cli_ranges_yaml");
  const struct {
    const char *yaml, *flag, *value, *range;
  } cases[] = {
      {"dropout: nan\n", "'dropout'", "nan", "in [0, 1)"},
      {"lr_decay_steps: 0\n", "'lr_decay_steps'", "0", ">= 1"},
      {"threads: 100000\n", "'threads'", "100000", "in [0, 1024]"},
      {"mlp_layers: [64, 0]\n", "'mlp_layers'", "0", "in [1, 2^16]"},
      {"mtl_loss_weight_click: -1\n", "'mtl_loss_weight_click'", "-1", ">= 0"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char path[512], line[600], want[800];
    snprintf(path, sizeof path, "%s/run%zu.yaml", dir, i);
    rk_test_write_file(path, cases[i].yaml);
    snprintf(line, sizeof line, "--config %s", path);
    assert_int_equal(parse_command("train", line), RK_EUSAGE);
    snprintf(want, sizeof want, "invalid value '%s' for %s in '%s' line 1: expected", cases[i].value, cases[i].flag, path);
    const char *msg = rk_error_message();
    if (!strstr(msg, want) || !strstr(msg, cases[i].range)) fail_msg("message '%s' lacks '%s' or the range", msg, want);
  }
}

/* Test tables without a range still refuse NaN and infinity. */
static void test_nan_is_never_valid(void **state) {
  (void)state;
  typedef struct {
    double x;
  } x_opts;
  const rk_flag table[] = {{"x", RK_FLAG_FLOAT, "0", "X", "help", offsetof(x_opts, x)}, RK_FLAG_END};
  const char *values[] = {"nan", "NaN", "-nan", "inf", "-Infinity"};
  for (size_t i = 0; i < sizeof values / sizeof *values; i++) {
    x_opts o;
    rk_flag_parse p;
    char *argv[] = {"--x", (char *)values[i]};
    assert_int_equal(rk_flags_parse(&p, "test", table, &o, 2, argv), RK_EUSAGE);
    assert_non_null(strstr(rk_error_message(), "expected a finite number"));
    rk_flags_free(&p);
  }
}

/* A text family with a range holds comma lists of whole numbers in it (per-task layer widths). */
static void test_text_family_of_widths(void **state) {
  (void)state;
  typedef struct {
    rk_flag_family layers;
  } fam_opts;
  const rk_flag table[] = {{"tower_layers_", RK_FLAG_FAMILY_TEXT, NULL, "task: N,... in [1, 8]", "help",
                            offsetof(fam_opts, layers)},
                           RK_FLAG_END};
  assert_rk_ok(rk_flags_check_table("test", table));
  fam_opts o;
  memset(&o, 0, sizeof o);   /* the parser fills fields; callers zero the struct (main callocs it) */
  rk_flag_parse p;
  char *good[] = {"--tower_layers_click=4,8", "--tower_layers_like", "1"};
  assert_rk_ok(rk_flags_parse(&p, "test", table, &o, 3, good));
  assert_int_equal(o.layers.n, 2);
  assert_string_equal(o.layers.texts[0], "4,8");
  rk_flags_free(&p);
  char *bad[] = {"--tower_layers_click", "4,0"};
  memset(&o, 0, sizeof o);
  assert_int_equal(rk_flags_parse(&p, "test", table, &o, 2, bad), RK_EUSAGE);
  assert_string_equal(rk_error_message(), "invalid value '0' for --tower_layers_click: expected whole numbers in [1, 8]");
  rk_flags_free(&p);
}

/* --help and the generated docs show each range. */
static void test_help_and_docs_show_ranges(void **state) {
  (void)state;
  const rk_command *train = command("train");
  char *text = NULL;
  size_t size = 0;
  FILE *f = open_memstream(&text, &size);
  rk_flags_print_help(f, train->name, train->usage, train->summary, train->flags);
  fclose(f);
  assert_non_null(strstr(text, "--dropout P in [0, 1)"));
  assert_non_null(strstr(text, "--mtl_loss_weight_<task> W >= 0"));
  assert_non_null(strstr(text, "--threads N in [0, 1024]"));
  free(text);
  f = open_memstream(&text, &size);
  rk_flags_write_markdown(f, train->name, train->usage, train->summary, train->details, train->flags);
  fclose(f);
  assert_non_null(strstr(text, "| `--dropout` | P in [0, 1) (number) |"));
  assert_non_null(strstr(text, "| `--mtl_loss_weight_<task>` | W >= 0 (number per name) |"));
  assert_non_null(strstr(text, "| `--mlp_layers` | N,... in [1, 2^16] (comma list) |"));
  free(text);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_table_has_ranges),
      cmocka_unit_test(test_table_check_finds_each_defect),
      cmocka_unit_test(test_range_notation),
      cmocka_unit_test(test_issue_values_are_refused),
      cmocka_unit_test(test_bounds_are_accepted),
      cmocka_unit_test(test_yaml_config_is_checked),
      cmocka_unit_test(test_nan_is_never_valid),
      cmocka_unit_test(test_text_family_of_widths),
      cmocka_unit_test(test_help_and_docs_show_ranges),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
