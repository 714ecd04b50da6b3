/*
 * The Parquet writer refuses a STRING column (or a list of strings) that is not UTF-8, whatever
 * produced it: such a column carries the UTF8 annotation, and DuckDB refuses the whole file.
 * Nothing is left under the output name.
 */
#include "support.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "reckon/io.h"

static void expect_refused(const rk_batch *b, const char *dir, const char *want) {
  char path[4096];
  snprintf(path, sizeof path, "%s/out.parquet", dir);
  rk_table_sink *sink;
  assert_rk_ok(rk_sink_open(&sink, path, NULL));
  rk_status s = rk_sink_write(sink, b);
  char message[1024];
  snprintf(message, sizeof message, "%s", rk_error_message());
  if (s == RK_OK) {
    rk_sink_abort(sink);
    fail_msg("a column that is not UTF-8 was written");
  }
  rk_sink_abort(sink);
  if (!strstr(message, want)) fail_msg("got '%s', want '%s'", message, want);
  assert_int_equal(access(path, F_OK), -1);
}

static void test_strings(void **state) {
  (void)state;
  const char *dir = rk_test_tmpdir("parquet_utf8");
  rk_batch b;
  assert_rk_ok(rk_batch_init(&b, 2));
  assert_rk_ok(rk_column_init(&b.cols[0], "id", RK_COL_INT64, RK_COL_INT64));
  assert_rk_ok(rk_column_init(&b.cols[1], "name", RK_COL_STRING, RK_COL_INT64));
  const char *values[] = {"plain", "\xC3\xA9t\xC3\xA9", "caf\xE9"};
  for (int r = 0; r < 3; r++) {
    assert_rk_ok(rk_column_append_int(&b.cols[0], r));
    assert_rk_ok(rk_column_append_string(&b.cols[1], values[r], strlen(values[r])));
  }
  b.nrows = 3;
  expect_refused(&b, dir, "column 'name' row 3 is not valid UTF-8 (byte 0xe9 at offset 3); Parquet strings must be UTF-8");
  rk_batch_free(&b);

  assert_rk_ok(rk_batch_init(&b, 1));
  assert_rk_ok(rk_column_init(&b.cols[0], "tags", RK_COL_LIST, RK_COL_STRING));
  assert_rk_ok(rk_column_append_string(b.cols[0].child, "ok", 2));
  assert_rk_ok(rk_column_finish_list_row(&b.cols[0]));
  assert_rk_ok(rk_column_append_string(b.cols[0].child, "fine", 4));
  assert_rk_ok(rk_column_append_string(b.cols[0].child, "\xC3", 1));   /* cut short */
  assert_rk_ok(rk_column_finish_list_row(&b.cols[0]));
  b.nrows = 2;
  expect_refused(&b, dir, "column 'tags' row 2 is not valid UTF-8 (byte 0xc3 at offset 0)");
  rk_batch_free(&b);

  assert_rk_ok(rk_batch_init(&b, 1));
  assert_rk_ok(rk_column_init(&b.cols[0], "n\xFFme", RK_COL_INT64, RK_COL_INT64));
  assert_rk_ok(rk_column_append_int(&b.cols[0], 1));
  b.nrows = 1;
  expect_refused(&b, dir, "the name of column 1 is not valid UTF-8");
  rk_batch_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_strings)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
