/*
 * The ranking family's settings table (RK_RANKING_SETTINGS in reckon/models.h) is the one place a
 * setting lives: train's flags carry every setting with the config's default, --model offers
 * every model of RK_MODEL_LIST, model.json reads back what it wrote, every --optimizer choice
 * parses, and the model's errors name a setting by the name its caller gives.
 */
#include "support.h"
#include <math.h>
#include <string.h>

#include <jansson.h>

#include "cli/commands.h"
#include "cli/flags.h"
#include "reckon/trainer.h"

static const rk_command *command(const char *name) {
  for (const rk_command *const *c = rk_commands; *c; c++)
    if (strcmp((*c)->name, name) == 0) return *c;
  fail_msg("no command '%s'", name);
  return NULL;
}

static const rk_flag *flag(const rk_flag *table, const char *name) {
  for (const rk_flag *f = table; f->name; f++)
    if (strcmp(f->name, name) == 0) return f;
  return NULL;
}

/* A config value and a flag value agree: reals as the float the model keeps. */
static bool agree(const json_t *config, const json_t *flags) {
  if (json_is_number(config) && json_is_number(flags))
    return (float)json_number_value(config) == (float)json_number_value(flags);
  return json_equal((json_t *)config, (json_t *)flags);
}

static void check_section(const json_t *config, const json_t *flags, const char *section) {
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)config, key, v) {
    if (json_is_object(v)) continue;   /* "multi_task", "layout": their own sections */
    json_t *given = json_object_get(flags, key);
    if (!given) fail_msg("%s setting \"%s\" is not a flag of reckon train", section, key);
    if (!agree(v, given)) {
      char *a = json_dumps(v, JSON_ENCODE_ANY), *b = json_dumps(given, JSON_ENCODE_ANY);
      fail_msg("\"%s\": the config's default is %s, the flag's %s", key, a, b);
    }
  }
}

static void test_train_flags_are_the_settings(void **state) {
  (void)state;
  const rk_command *train = command("train");
  void *opts = calloc(1, train->opts_size);
  char *argv[] = {NULL};
  rk_flag_parse parse;
  assert_rk_ok(rk_flags_parse(&parse, "train", train->flags, opts, 0, argv));
  json_t *flags = rk_flags_to_json(&parse);
  rk_ranking_config c;
  rk_ranking_config_default(&c);
  json_t *config = rk_ranking_config_to_json(&c);
  check_section(config, flags, "model");
  check_section(json_object_get(config, "multi_task"), flags, "multi_task");
  json_decref(config);
  json_decref(flags);
  rk_flags_free(&parse);
  free(opts);
}

static void test_model_choice_lists_every_model(void **state) {
  (void)state;
  const rk_flag *f = flag(command("train")->flags, "model");
  assert_non_null(f);
  assert_int_equal(f->kind, RK_FLAG_CHOICE);
  for (int k = 0; k < RK_MODEL_COUNT; k++) {
    const char *name = rk_model_kind_name((rk_model_kind)k);
    size_t n = strlen(name);
    bool found = false;
    for (const char *c = f->metavar; c && !found; c = strchr(c, '|') ? strchr(c, '|') + 1 : NULL)
      found = strncmp(c, name, n) == 0 && (c[n] == '|' || c[n] == '\0');
    if (!found) fail_msg("--model's choices '%s' lack '%s'", f->metavar, name);
    rk_model_kind back;
    assert_rk_ok(rk_model_kind_parse(name, &back));
    assert_int_equal(back, k);
  }
}

static void test_optimizer_choices_parse(void **state) {
  (void)state;
  const rk_flag *f = flag(command("train")->flags, "optimizer");
  assert_non_null(f);
  char choices[128];
  snprintf(choices, sizeof choices, "%s", f->metavar);
  for (char *save = NULL, *w = strtok_r(choices, "|", &save); w; w = strtok_r(NULL, "|", &save)) {
    rk_optim_kind k;
    if (rk_optim_kind_parse(w, &k) != RK_OK) fail_msg("--optimizer offers '%s', which does not parse", w);
  }
}

/* Every setting away from its default survives model.json. */
static void test_json_round_trip(void **state) {
  (void)state;
  static const int64_t layers[] = {7, 5}, experts[] = {9}, towers[] = {3, 2};
  static const char *const ignore[] = {"a:b"};
  rk_ranking_config c;
  rk_ranking_config_default(&c);
  c.kind = RK_MODEL_PLE;
  c.mlp_layers = layers, c.n_mlp_layers = 2;
  c.activation = RK_ACT_TANH;
  c.mlp_init = RK_INIT_HE_NORMAL;
  c.dropout = 0.25f;
  c.embeddings_dim = 12;
  c.embedding_sizes_multiplier = 3.5;
  c.dcn_layers = 3;
  c.wnd_hashed_cross_num_bins = 99;
  c.wnd_ignore = ignore, c.n_wnd_ignore = 1;
  c.l2_reg = 0.5f, c.embeddings_l2_reg = 0.125f, c.wnd_wide_l2_reg = 2;
  c.seed = 1234567890123ULL;
  c.dlrm_top_dots_only = true;
  c.mmoe_experts = 6;
  c.expert_layers = experts, c.n_expert_layers = 1;
  c.gate_dim = 0;
  c.gate_temperature = 0.5f;
  c.use_task_towers = false;
  c.tower_layers = towers, c.n_tower_layers = 2;
  c.cgc_task_experts = 2, c.cgc_shared_experts = 0, c.ple_layers = 3;
  c.ple_gate_original = true;
  json_t *j = rk_ranking_config_to_json(&c);
  rk_ranking_config back;
  assert_rk_ok(rk_ranking_config_from_json(&back, j, "model.json"));
  json_t *again = rk_ranking_config_to_json(&back);
  if (!json_equal(j, again)) {
    char *a = json_dumps(j, JSON_SORT_KEYS), *b = json_dumps(again, JSON_SORT_KEYS);
    fail_msg("written %s, read back %s", a, b);
  }
  assert_int_equal(back.kind, RK_MODEL_PLE);
  assert_int_equal(back.n_tower_layers, 2);
  assert_int_equal(back.tower_layers[1], 2);
  assert_true(back.ple_gate_original && back.dlrm_top_dots_only && !back.use_task_towers);
  assert_true(back.seed == 1234567890123ULL);
  rk_ranking_config_free_lists(&back);
  /* A model file without "multi_task" (single-task, from before it) reads the defaults. */
  json_object_del(j, "multi_task");
  assert_rk_ok(rk_ranking_config_from_json(&back, j, "model.json"));
  assert_int_equal(back.mmoe_experts, 4);
  assert_int_equal(back.n_expert_layers, 1);
  rk_ranking_config_free_lists(&back);
  /* A setting missing from a present section is named. */
  json_object_del(j, "dropout");
  assert_int_equal(rk_ranking_config_from_json(&back, j, "model.json"), RK_EFORMAT);
  assert_non_null(strstr(rk_error_message(), "\"dropout\""));
  rk_ranking_config_free_lists(&back);
  json_decref(again);
  json_decref(j);
}

/* reckon widedeep's --deep_hidden_units are the model's mlp_layers: errors say so. */
static void test_errors_use_the_callers_names(void **state) {
  (void)state;
  rk_schema s;
  rk_schema_init(&s);
  rk_schema_column *col;
  assert_rk_ok(rk_schema_add_column(&s, "user_id", "int64", &col));
  assert_rk_ok(rk_schema_column_add_tag(col, "categorical"));
  assert_rk_ok(rk_schema_column_set_int_domain(col, 0, 9, true, "user_id"));
  assert_rk_ok(rk_schema_add_column(&s, "click", "int8", &col));
  assert_rk_ok(rk_schema_column_add_tag(col, "target"));
  assert_rk_ok(rk_schema_column_add_tag(col, "binary_classification"));
  static const int64_t bad[] = {8, 0};
  static const char *const names[RK_SETTING_COUNT] = {[RK_SETTING_mlp_layers] = "--deep_hidden_units"};
  rk_ranking_config c;
  rk_ranking_config_default(&c);
  c.mlp_layers = bad, c.n_mlp_layers = 2;
  rk_ranking_model m;
  assert_int_equal(rk_ranking_build(&m, &s, "click", false, &c, 4), RK_EUSAGE);
  assert_non_null(strstr(rk_error_message(), "--mlp_layers"));
  c.setting_names = names;
  assert_int_equal(rk_ranking_build(&m, &s, "click", false, &c, 4), RK_EUSAGE);
  if (!strstr(rk_error_message(), "--deep_hidden_units") || strstr(rk_error_message(), "--mlp_layers"))
    fail_msg("'%s' should name --deep_hidden_units", rk_error_message());
  rk_schema_free(&s);
  /* widedeep has no --model: a model that needs categorical features says so without naming it */
  rk_schema_init(&s);
  assert_rk_ok(rk_schema_add_column(&s, "age", "float32", &col));
  assert_rk_ok(rk_schema_column_add_tag(col, "continuous"));
  assert_rk_ok(rk_schema_add_column(&s, "click", "int8", &col));
  assert_rk_ok(rk_schema_column_add_tag(col, "target"));
  assert_rk_ok(rk_schema_column_add_tag(col, "binary_classification"));
  static const char *const widedeep[RK_SETTING_COUNT] = {[RK_SETTING_kind] = "the model"};
  rk_ranking_config_default(&c);
  c.kind = RK_MODEL_WIDE_N_DEEP;
  assert_int_equal(rk_ranking_build(&m, &s, "click", false, &c, 4), RK_EUSAGE);
  assert_non_null(strstr(rk_error_message(), "--model wide_n_deep needs categorical features"));
  c.setting_names = widedeep;
  assert_int_equal(rk_ranking_build(&m, &s, "click", false, &c, 4), RK_EUSAGE);
  if (!strstr(rk_error_message(), "the model wide_n_deep needs categorical features"))
    fail_msg("'%s' should not name --model", rk_error_message());
  rk_schema_free(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_train_flags_are_the_settings),
      cmocka_unit_test(test_model_choice_lists_every_model),
      cmocka_unit_test(test_optimizer_choices_parse),
      cmocka_unit_test(test_json_round_trip),
      cmocka_unit_test(test_errors_use_the_callers_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
