/*
 * Workflow fingerprints (src/etl/fingerprint.c): the same files give the same fingerprint however
 * the folder is spelled; a changed byte or a renamed file gives another; the schema carries it on
 * every column and gives it back; a folder without files is an error naming it.
 */
#include <stdio.h>
#include <string.h>

#include "reckon/etl.h"
#include "support.h"

static void put(const char *dir, const char *name, const char *text) {
  char path[600];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  assert_rk_ok(rk_write_file_atomic(path, text, strlen(text)));
}

static void test_fingerprint_follows_the_files(void **state) {
  (void)state;
  const char *dir = rk_test_tmpdir("fingerprint");
  char sub[600], slash[600], fp[RK_WORKFLOW_FINGERPRINT_SIZE], again[RK_WORKFLOW_FINGERPRINT_SIZE];
  snprintf(sub, sizeof sub, "%s/categories", dir);
  assert_rk_ok(rk_mkdir_p(sub));
  put(dir, "workflow.json", "{\"format\": \"reckon-workflow\"}");
  put(dir, "categories/unique.user_id.parquet", "PAR1 1 2 3");
  assert_rk_ok(rk_workflow_fingerprint(dir, fp));
  assert_int_equal(strlen(fp), 22);
  assert_int_equal(strncmp(fp, "xxh64:", 6), 0);
  snprintf(slash, sizeof slash, "%s/", dir);
  assert_rk_ok(rk_workflow_fingerprint(slash, again));
  assert_string_equal(fp, again);

  put(dir, "categories/unique.user_id.parquet", "PAR1 1 2 4");   /* one byte */
  assert_rk_ok(rk_workflow_fingerprint(dir, again));
  assert_string_not_equal(fp, again);
  put(dir, "categories/unique.user_id.parquet", "PAR1 1 2 3");
  assert_rk_ok(rk_workflow_fingerprint(dir, again));
  assert_string_equal(fp, again);
  char from[700], to[700];
  snprintf(from, sizeof from, "%s/categories/unique.user_id.parquet", dir);
  snprintf(to, sizeof to, "%s/categories/unique.item_id.parquet", dir);
  assert_int_equal(rename(from, to), 0);   /* the same bytes under another name */
  assert_rk_ok(rk_workflow_fingerprint(dir, again));
  assert_string_not_equal(fp, again);

  snprintf(sub, sizeof sub, "%s/empty", dir);
  assert_rk_ok(rk_mkdir_p(sub));
  assert_int_equal(rk_workflow_fingerprint(sub, again), RK_EIO);
  assert_non_null(strstr(rk_error_message(), "has no files"));
}

static void test_schema_carries_it(void **state) {
  (void)state;
  rk_schema s;
  rk_schema_init(&s);
  rk_schema_column *c;
  assert_rk_ok(rk_schema_add_column(&s, "user_id", "int64", &c));
  assert_rk_ok(rk_schema_add_column(&s, "click", "int8", &c));
  assert_null(rk_schema_workflow_fingerprint(&s));
  assert_rk_ok(rk_schema_set_workflow_fingerprint(&s, "xxh64:0123456789abcdef"));
  const char *dir = rk_test_tmpdir("fingerprint_schema");
  assert_rk_ok(rk_schema_write_dataset(&s, dir));
  rk_schema_free(&s);
  for (int form = 0; form < 2; form++) {   /* .merlin/schema.json, then schema.pbtxt */
    char path[600];
    snprintf(path, sizeof path, form ? "%s/schema.pbtxt" : "%s/.merlin/schema.json", dir);
    assert_rk_ok(rk_schema_read(&s, path));
    assert_string_equal(rk_schema_workflow_fingerprint(&s), "xxh64:0123456789abcdef");
    assert_non_null(rk_schema_column_property(&s.cols[1], "reckon_workflow_fingerprint"));
    rk_schema_free(&s);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fingerprint_follows_the_files),
      cmocka_unit_test(test_schema_carries_it),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
