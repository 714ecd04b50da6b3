/*
 * What the CSV reader refuses or repairs instead of reading wrongly: bare-CR line ends (read as
 * DuckDB and pandas read them), invalid UTF-8 (an error naming row and column, or U+FFFD),
 * duplicated or NUL-holding header names, and floats that are not finite (an error naming row
 * and column, or null). And list columns in DuckDB's text form, which the CSV writer writes:
 * write-then-read is identity, null elements (DuckDB's unquoted NULL) included.
 */
#include "support.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "io/csv_internal.h"
#include "reckon/io.h"

static char path_buf[4096];

static const char *write_input(const char *dir, const void *data, size_t n) {
  snprintf(path_buf, sizeof path_buf, "%s/t.csv", dir);
  FILE *f = fopen(path_buf, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(data, 1, n, f), n);
  fclose(f);
  return path_buf;
}

static rk_status read_bytes(rk_batch *out, const void *data, size_t n, const rk_csv_options *opts) {
  const char *path = write_input(rk_test_tmpdir("csv_checks"), data, n);
  rk_csv_options o;
  if (opts) o = *opts;
  else rk_csv_options_default(&o);
  o.label = "t.csv";
  return rk_csv_read_all(path, &o, out);
}

static void expect_error(const char *text, size_t n, const rk_csv_options *opts, rk_status status, const char *message) {
  rk_batch b;
  rk_status s = read_bytes(&b, text, n, opts);
  if (s != status || strcmp(rk_error_message(), message) != 0)
    fail_msg("got %s '%s', want %s '%s'", rk_status_name(s), rk_error_message(), rk_status_name(status), message);
  assert_int_equal(b.ncols, 0);
}
#define EXPECT_ERROR(text, opts, status, message) expect_error(text, sizeof text - 1, opts, status, message)

static bool str_is(const rk_column *col, int64_t row, const char *want) {
  size_t n;
  const char *s = rk_column_get_string(col, row, &n);
  return !rk_column_is_null(col, row) && n == strlen(want) && memcmp(s, want, n) == 0;
}

/* A file whose lines end in bare CRs had 0 rows (the header took the whole file). A CR inside
 * quotes is data, as in DuckDB; tiny blocks make records and quotes straddle reads. */
static void test_cr_lines(void **state) {
  (void)state;
  static const char text[] = "id,name\r1,\"p\rq\"\r2,plain\r\r3,\"a\"\"\r\"\r";
  rk_batch b;
  assert_rk_ok(read_bytes(&b, text, sizeof text - 1, NULL));
  assert_int_equal(b.ncols, 2);
  assert_int_equal(b.nrows, 3);
  assert_int_equal(b.cols[0].type, RK_COL_INT64);
  assert_int_equal(rk_column_get_int(&b.cols[0], 2), 3);
  assert_true(str_is(&b.cols[1], 0, "p\rq"));
  assert_true(str_is(&b.cols[1], 1, "plain"));
  assert_true(str_is(&b.cols[1], 2, "a\"\r"));
  rk_batch_free(&b);
  for (int64_t block = 3; block <= 17; block += 7) {
    rk_csv_reader *r;
    rk_csv_tuning t = {block, 4};
    assert_rk_ok(rk_csv_open_tuned(&r, path_buf, NULL, &t));
    rk_batch part = {0};
    int64_t rows = 0;
    for (;;) {
      assert_rk_ok(rk_csv_next(r, &part));
      if (part.nrows == 0) break;
      for (int64_t i = 0; i < part.nrows; i++, rows++)
        if (rows == 0 && !str_is(&part.cols[1], i, "p\rq")) fail_msg("block %lld: row 1 differs", (long long)block);
    }
    assert_int_equal(rows, 3);
    rk_batch_free(&part);
    rk_csv_close(r);
  }
  /* CRLF files are not CR files: their CRs stay line ends only before an LF */
  static const char crlf[] = "a,b\r\n1,\"x\ry\"\r\n";
  assert_rk_ok(read_bytes(&b, crlf, sizeof crlf - 1, NULL));
  assert_int_equal(b.nrows, 1);
  assert_true(str_is(&b.cols[1], 0, "x\ry"));
  rk_batch_free(&b);
}

static void test_invalid_utf8(void **state) {
  (void)state;
  EXPECT_ERROR("id,s\n1,ok\n2,x\xFFy\n", NULL, RK_EPARSE,
               "invalid UTF-8 in 't.csv' row 2, column 's': byte 0xff at offset 1 of the value "
               "(--csv_invalid_utf8 replace substitutes U+FFFD)");
  /* each field is cut inside a sequence that the two would form together */
  EXPECT_ERROR("s\n\xC3\n\xA9\n", NULL, RK_EPARSE,
               "invalid UTF-8 in 't.csv' row 1, column 's': byte 0xc3 at offset 0 of the value "
               "(--csv_invalid_utf8 replace substitutes U+FFFD)");
  EXPECT_ERROR("id,s\n1,\"quoted \xED\xA0\x80\"\n", NULL, RK_EPARSE,
               "invalid UTF-8 in 't.csv' row 1, column 's': byte 0xed at offset 7 of the value "
               "(--csv_invalid_utf8 replace substitutes U+FFFD)");
  EXPECT_ERROR("id,n\xE9me\n1,x\n", NULL, RK_EPARSE,
               "invalid UTF-8 in the header of 't.csv', column 2: byte 0xe9 at offset 1 of the name "
               "(--csv_invalid_utf8 replace substitutes U+FFFD)");
  rk_csv_options o;
  rk_csv_options_default(&o);
  o.invalid_utf8 = RK_INVALID_UTF8_REPLACE;
  static const char text[] = "id,n\xE9me\n1,x\xFFy\n2,\xC3\xA9t\xC3\xA9\n3,\n4,\"\xC0\xAF\"\n";
  rk_batch b;
  assert_rk_ok(read_bytes(&b, text, sizeof text - 1, &o));
  assert_string_equal(b.cols[1].name, "n\xEF\xBF\xBDme");
  assert_true(str_is(&b.cols[1], 0, "x\xEF\xBF\xBDy"));
  assert_true(str_is(&b.cols[1], 1, "\xC3\xA9t\xC3\xA9"));
  assert_true(rk_column_is_null(&b.cols[1], 2));
  assert_true(str_is(&b.cols[1], 3, "\xEF\xBF\xBD\xEF\xBF\xBD"));
  rk_batch_free(&b);
}

/* preprocess took the last of two same-named columns, convert refused: the reader refuses. */
static void test_header_names(void **state) {
  (void)state;
  EXPECT_ERROR("a,b,a\n1,2,3\n", NULL, RK_EFORMAT,
               "duplicate column name 'a' in 't.csv': columns 1 and 3; names must be unique");
  EXPECT_ERROR("x,b,b,x,b\n1,2,3,4,5\n", NULL, RK_EFORMAT,
               "duplicate column name 'b' in 't.csv': columns 2 and 3; names must be unique");
  /* an empty name becomes c<position>, which may meet a real one */
  EXPECT_ERROR("c1,,z\n1,2,3\n", NULL, RK_EFORMAT,
               "duplicate column name 'c1' in 't.csv': columns 1 and 2; names must be unique");
  EXPECT_ERROR("a,b\0c\n1,2\n", NULL, RK_EPARSE,
               "NUL byte in the header of 't.csv', column 2, after 'b': a column name cannot hold NUL");
}

static void test_non_finite(void **state) {
  (void)state;
  rk_csv_options o;
  rk_csv_options_default(&o);
  o.infer_rows = 1;
  const char *tail = " (--non_finite as_missing reads such values as missing)";
  char want[256];
  const char *bad[] = {"inf", "-inf", "nan", "1e400", "-1e999", "Infinity"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char text[64];
    int n = snprintf(text, sizeof text, "id,f\n1,0.5\n2,%s\n", bad[i]);
    snprintf(want, sizeof want, "value '%s' is not a finite float64 in 't.csv' row 2, column 'f'%s", bad[i], tail);
    expect_error(text, (size_t)n, &o, RK_ERANGE, want);
  }
  const char *names[] = {"f"};
  const rk_coltype f32[] = {RK_COL_FLOAT32};
  o.typed_names = names;
  o.typed_types = f32;
  o.n_typed = 1;
  snprintf(want, sizeof want, "value '1e39' is not a finite float32 in 't.csv' row 1, column 'f'%s", tail);
  EXPECT_ERROR("f\n1e39\n", &o, RK_ERANGE, want);
  o.n_typed = 0;
  o.non_finite = RK_NON_FINITE_AS_MISSING;
  static const char text[] = "id,f\n1,0.5\n2,inf\n3,1e400\n4,nan\n5,-2\n";
  rk_batch b;
  assert_rk_ok(read_bytes(&b, text, sizeof text - 1, &o));
  assert_int_equal(b.nrows, 5);
  assert_int_equal(b.cols[1].type, RK_COL_FLOAT64);
  assert_int_equal(b.cols[1].null_count, 3);
  for (int r = 1; r <= 3; r++) assert_true(rk_column_is_null(&b.cols[1], r));
  assert_true(rk_column_get_double(&b.cols[1], 4) == -2.0);
  rk_batch_free(&b);
}

/* Lists the CSV writer wrote read back as the same columns (element types inferred). */
static void test_list_roundtrip(void **state) {
  (void)state;
  const char *dir = rk_test_tmpdir("csv_lists");
  static const char *strs[] = {"a", "b c", "d,e", "q\"x", "", "it's", " lead", "NULL", "back\\slash", "[x]",
                               "\xC3\xA9", "x:y", "two\nlines"};
  enum { NS = sizeof strs / sizeof strs[0], ROWS = 40 };
  rk_batch b;
  assert_rk_ok(rk_batch_init(&b, 3));
  assert_rk_ok(rk_column_init(&b.cols[0], "ints", RK_COL_LIST, RK_COL_INT64));
  assert_rk_ok(rk_column_init(&b.cols[1], "floats", RK_COL_LIST, RK_COL_FLOAT64));
  assert_rk_ok(rk_column_init(&b.cols[2], "strs", RK_COL_LIST, RK_COL_STRING));
  for (int r = 0; r < ROWS; r++) {
    for (int k = 0; k < r % 5; k++) assert_rk_ok(rk_column_append_int(b.cols[0].child, (int64_t)(r - 20) * 1000003 * (k + 1)));
    if (r % 6 == 1 && r % 7 != 3) assert_rk_ok(rk_column_append_null(b.cols[0].child));   /* a null element: NULL */
    if (r % 7 == 3) assert_rk_ok(rk_column_append_null(&b.cols[0]));
    else assert_rk_ok(rk_column_finish_list_row(&b.cols[0]));
    for (int k = 0; k < r % 3; k++) assert_rk_ok(rk_column_append_double(b.cols[1].child, (r + 0.1) * (k - 1.5) * 1e-3));
    assert_rk_ok(rk_column_finish_list_row(&b.cols[1]));
    for (int k = 0; k < r % 4; k++) {
      const char *s = strs[(r + k) % NS];
      assert_rk_ok(rk_column_append_string(b.cols[2].child, s, strlen(s)));
    }
    if (r % 5 == 2) assert_rk_ok(rk_column_append_null(b.cols[2].child));   /* unquoted NULL, not the string 'NULL' */
    assert_rk_ok(rk_column_finish_list_row(&b.cols[2]));
  }
  b.nrows = ROWS;
  char path[4096];
  snprintf(path, sizeof path, "%s/lists.csv", dir);
  rk_table_sink *sink;
  assert_rk_ok(rk_sink_open(&sink, path, NULL));
  assert_rk_ok(rk_sink_write(sink, &b));
  assert_rk_ok(rk_sink_close(sink));
  const char *lists[] = {"ints", "floats", "strs"};
  rk_csv_options o;
  rk_csv_options_default(&o);
  o.list_columns = lists;
  o.n_list_columns = 3;
  rk_batch got;
  assert_rk_ok(rk_csv_read_all(path, &o, &got));
  for (int c = 0; c < 3; c++)
    if (!rk_column_equal(&got.cols[c], &b.cols[c])) fail_msg("list column '%s' differs after write and read", lists[c]);
  rk_batch_free(&got);
  rk_batch_free(&b);
}

static void test_list_errors(void **state) {
  (void)state;
  const char *lists[] = {"l"};
  rk_csv_options o;
  rk_csv_options_default(&o);
  o.list_columns = lists;
  o.n_list_columns = 1;
  o.infer_rows = 1;
  EXPECT_ERROR("id,l\n1,[1]\n2,\"[1, x]\"\n", &o, RK_EPARSE, "cannot parse '[1, x]' as list in 't.csv' row 2, column 'l'");
  EXPECT_ERROR("id,l\n1,[a]\n2,\"['open, b]\"\n", &o, RK_EPARSE, "cannot parse '['open, b]' as list in 't.csv' row 2, column 'l'");
  EXPECT_ERROR("id,l\n1,[a]\n2,\"[a, , b]\"\n", &o, RK_EPARSE, "cannot parse '[a, , b]' as list in 't.csv' row 2, column 'l'");
  EXPECT_ERROR("id,l\n1,[a]\n2,a\n", &o, RK_EPARSE, "cannot parse 'a' as list in 't.csv' row 2, column 'l'");
  EXPECT_ERROR("id,l\n1,[0.5]\n2,[inf]\n", &o, RK_ERANGE,
               "value '[inf]' is not a finite list in 't.csv' row 2, column 'l' (--non_finite as_missing reads such "
               "values as missing)");
  EXPECT_ERROR("id,l\n1,[a]\n2,\"[\xFF]\"\n", &o, RK_EPARSE,
               "invalid UTF-8 in 't.csv' row 2, column 'l': byte 0xff at offset 0 of the value "
               "(--csv_invalid_utf8 replace substitutes U+FFFD)");
  lists[0] = "nosuch";
  EXPECT_ERROR("id,l\n1,[1]\n", &o, RK_ENOTFOUND, "no column 'nosuch' in 't.csv' to read as a list");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cr_lines),     cmocka_unit_test(test_invalid_utf8),
      cmocka_unit_test(test_header_names), cmocka_unit_test(test_non_finite),
      cmocka_unit_test(test_list_roundtrip), cmocka_unit_test(test_list_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
