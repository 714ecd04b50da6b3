/*
 * recsys_main.py's --feature_config (src/io/feature_config.c): a file in the shape of
 * Transformers4Rec's session_based_features_all.yaml (tests/data/feature_config/, written here)
 * read column by column; the same content as JSON gives the same struct; a session-aware file
 * with two label columns on one table; every check, each error naming the file, the line and the
 * column and key; allocation failures.
 */
#include <string.h>

#include "reckon/io.h"
#include "support.h"

static void expect(const rk_feature_config *c, int i, const char *name, rk_feature_dtype dtype, int64_t card, const char *table,
                   bool label, bool control, bool meta) {
  const rk_feature_spec *f = &c->features[i];
  assert_string_equal(f->name, name);
  assert_int_equal(f->dtype, dtype);
  assert_int_equal(f->cardinality, card);
  if (table) assert_string_equal(f->emb_table, table);
  else assert_null(f->emb_table);
  assert_int_equal(f->is_label, label);
  assert_int_equal(f->is_control, control);
  assert_int_equal(f->log_with_preds_as_metadata, meta);
}

static void expect_rees46_shape(const rk_feature_config *c) {
  assert_int_equal(c->n, 7);
  assert_int_equal(c->label, 0);
  expect(c, 0, "sess_pid_seq", RK_FEATURE_CATEGORICAL, 20003, "product_id", true, false, true);
  expect(c, 1, "sess_ccid_seq", RK_FEATURE_CATEGORICAL, 64, "category_id", false, false, true);
  expect(c, 2, "sess_bid_seq", RK_FEATURE_CATEGORICAL, 512, "brand", false, false, true);
  expect(c, 3, "sess_price_log_norm_seq", RK_FEATURE_FLOAT, 0, NULL, false, false, true);
  expect(c, 4, "sess_et_hour_sin_seq", RK_FEATURE_FLOAT, 0, NULL, false, false, true);
  expect(c, 5, "sess_et_dayofweek_cos_seq", RK_FEATURE_FLOAT, 0, NULL, false, false, true);
  expect(c, 6, "sess_etime_seq", RK_FEATURE_TIMESTAMP, 0, NULL, false, true, true);
  assert_int_equal(rk_feature_config_find(c, "sess_bid_seq"), 2);
  assert_int_equal(rk_feature_config_find(c, "sess_dtime_secs_log_norm_seq"), -1);   /* commented out */
}

static void test_yaml_file(void **state) {
  (void)state;
  rk_feature_config c;
  assert_rk_ok(rk_feature_config_read(&c, rk_test_data("feature_config/session_based_features_all.yaml")));
  expect_rees46_shape(&c);
  assert_int_equal(c.features[0].line, 7);
  assert_int_equal(c.features[6].line, 37);
  assert_string_equal(rk_feature_dtype_name(c.features[6].dtype), "timestamp");
  rk_feature_config_free(&c);
}

static void test_json_file(void **state) {
  (void)state;
  rk_feature_config c;
  assert_rk_ok(rk_feature_config_read(&c, rk_test_data("feature_config/session_based_features_all.json")));
  expect_rees46_shape(&c);
  assert_int_equal(c.features[2].line, 6);
  rk_feature_config_free(&c);
}

static void test_session_aware(void **state) {
  (void)state;
  rk_feature_config c;
  assert_rk_ok(rk_feature_config_read(&c, rk_test_data("feature_config/session_aware_features_pid.yaml")));
  assert_int_equal(c.n, 2);
  assert_int_equal(c.label, 0);
  expect(&c, 1, "bef_sess_pid_seq", RK_FEATURE_CATEGORICAL, 20003, "product_id", true, false, true);
  rk_feature_config_free(&c);
}

static void test_defaults_and_spellings(void **state) {
  (void)state;
  const char *text = "item_id: {dtype: categorical, cardinality: 100, is_label: yes}\n"
                     "cat:\n  dtype: categorical\n  cardinality: 7\n  is_control: ON\n  log_with_preds_as_metadata:\n"
                     "n: {dtype: long, is_label: false}\n";
  rk_feature_config c;
  assert_rk_ok(rk_feature_config_parse(&c, text, strlen(text), "inline.yaml"));
  expect(&c, 0, "item_id", RK_FEATURE_CATEGORICAL, 100, "item_id", true, false, false);   /* table: its own name */
  expect(&c, 1, "cat", RK_FEATURE_CATEGORICAL, 7, "cat", false, true, false);
  expect(&c, 2, "n", RK_FEATURE_LONG, 0, NULL, false, false, false);
  rk_feature_config_free(&c);
}

static void expect_error(const char *text, const char *want) {
  rk_feature_config c;
  rk_status st = rk_feature_config_parse(&c, text, strlen(text), "f.yaml");
  if (st == RK_OK) fail_msg("accepted:\n%s", text);
  assert_int_equal(st, RK_EPARSE);
  if (!strstr(rk_error_message(), want)) fail_msg("message '%s' lacks '%s'", rk_error_message(), want);
  assert_null(c.features);
}

static void test_errors(void **state) {
  (void)state;
  const char *label = "item: {dtype: categorical, cardinality: 10, is_label: True}\n";
  char text[512];
  snprintf(text, sizeof text, "%sx:\n  dtype: float\n  is_lable: True\n", label);
  expect_error(text, "'f.yaml' line 4: column 'x' has an unknown key 'is_lable'");
  snprintf(text, sizeof text, "%sx: {dtype: string}\n", label);
  expect_error(text, "line 2: dtype of column 'x' is 'string'");
  snprintf(text, sizeof text, "%sx: {dtype: categorical}\n", label);
  expect_error(text, "line 2: categorical column 'x' has no cardinality");
  snprintf(text, sizeof text, "%sx: {dtype: categorical, cardinality: 1.5}\n", label);
  expect_error(text, "line 2: cardinality of column 'x' is '1.5'");
  snprintf(text, sizeof text, "%sx: {dtype: categorical, cardinality: 0}\n", label);
  expect_error(text, "cardinality of column 'x' is '0'");
  snprintf(text, sizeof text, "%sx: {dtype: categorical, cardinality: 99999999999999999999}\n", label);
  expect_error(text, "expected a whole number");
  snprintf(text, sizeof text, "%sx: {dtype: float, is_control: maybe}\n", label);
  expect_error(text, "line 2: 'is_control' of column 'x' is 'maybe'");
  snprintf(text, sizeof text, "%sx: {dtype: float, cardinality: 5}\n", label);
  expect_error(text, "cardinality of column 'x' is for categorical columns, not float");
  snprintf(text, sizeof text, "%sx: {dtype: float, emb_table: t}\n", label);
  expect_error(text, "emb_table of column 'x' is for categorical columns");
  snprintf(text, sizeof text, "%sx: {dtype: timestamp}\n", label);
  expect_error(text, "line 2: timestamp column 'x' must have is_control: True");
  snprintf(text, sizeof text, "%sx: {dtype: float, is_label: True}\n", label);
  expect_error(text, "label column 'x' must be categorical");
  expect_error("x: {dtype: float}\n", "no column has is_label: True");
  snprintf(text, sizeof text, "%sx: {dtype: categorical, cardinality: 5, is_label: True}\n", label);
  expect_error(text, "line 2: label columns 'x' and 'item' (line 1) look up different tables");
  snprintf(text, sizeof text, "%sx: {dtype: categorical, cardinality: 11, emb_table: item}\n", label);
  expect_error(text, "line 2: column 'x' gives table 'item' cardinality 11, but column 'item' (line 1) gives it 10");
  snprintf(text, sizeof text, "%sitem: {dtype: float}\n", label);
  expect_error(text, "line 2: column 'item' is declared again (first at line 1)");
  snprintf(text, sizeof text, "%sx: float\n", label);
  expect_error(text, "line 2: column 'x' needs a mapping of settings");
  snprintf(text, sizeof text, "%sx: {cardinality: 3}\n", label);
  expect_error(text, "line 2: column 'x' has no dtype");
  expect_error("- a\n- b\n", "line 1: expected a mapping of column names");
  expect_error("", "is empty");
  expect_error("{}", "declares no columns");
  expect_error("item: {dtype: categorical,\n  cardinality: [10}\n", "cannot parse feature config 'f.yaml' line 2");

  rk_feature_config c;
  assert_int_equal(rk_feature_config_read(&c, "/nonexistent/features.yaml"), RK_EIO);
  assert_non_null(strstr(rk_error_message(), "--feature_config"));
  assert_non_null(strstr(rk_error_message(), "/nonexistent/features.yaml"));
}

static rk_status read_rees46(void *ctx) {
  (void)ctx;
  rk_feature_config c;
  RK_TRY(rk_feature_config_read(&c, rk_test_data("feature_config/session_based_features_all.yaml")));
  rk_feature_config_free(&c);
  return RK_OK;
}

static void test_allocation_failures(void **state) {
  (void)state;
  assert_true(rk_test_walk_failures(read_rees46, NULL) >= 3);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_yaml_file),
      cmocka_unit_test(test_json_file),
      cmocka_unit_test(test_session_aware),
      cmocka_unit_test(test_defaults_and_spellings),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_allocation_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
