/*
 * The CSV reader: RFC 4180 quoting, CRLF, BOM, NA strings, empty fields, separators, typed and
 * inferred columns, errors with exact messages, gzip/zstd, chunk-boundary equivalence against a
 * one-chunk parse, batching, and allocation-failure injection.
 */
#include "support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "io/csv_internal.h"
#include "reckon/io.h"

static char path_buf[4096];
static const char *tmp_file(const char *dir, const char *name) {
  snprintf(path_buf, sizeof path_buf, "%s/%s", dir, name);
  return path_buf;
}

static void write_bytes(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(data, 1, n, f), n);
  fclose(f);
}

static bool str_is(const rk_column *col, int64_t row, const char *want) {
  size_t n;
  const char *s = rk_column_get_string(col, row, &n);
  if (rk_column_is_null(col, row) || n != strlen(want) || memcmp(s, want, n) != 0) {
    print_message("row %lld: got '%.*s'%s, want '%s'\n", (long long)row, (int)n, s,
                  rk_column_is_null(col, row) ? " (null)" : "", want);
    return false;
  }
  return true;
}

/* Read a whole file; returns the status and leaves the message in place. */
static rk_status read_text(rk_batch *out, const char *dir, const char *text, const rk_csv_options *opts) {
  const char *path = tmp_file(dir, "in.csv");
  rk_test_write_file(path, text);
  return rk_csv_read_all(path, opts, out);
}

static void test_quoting(void **state) {
  (void)state;
  const char *dir = rk_test_tmpdir("csv_quoting");
  rk_batch b;
  assert_rk_ok(read_text(&b, dir,
                         "id,name,note\n"
                         "1,\"a,b\",\"say \"\"hi\"\"\"\n"
                         "2,\"multi\nline\",plain\n"
                         "3,\"\",x\n"
                         "4,,\"\"\"\"\n",
                         NULL));
  assert_int_equal(b.ncols, 3);
  assert_int_equal(b.nrows, 4);
  assert_int_equal(b.cols[0].type, RK_COL_INT64);
  assert_int_equal(b.cols[1].type, RK_COL_STRING);
  assert_int_equal(rk_column_get_int(&b.cols[0], 3), 4);
  assert_true(str_is(&b.cols[1], 0, "a,b"));
  assert_true(str_is(&b.cols[2], 0, "say \"hi\""));
  assert_true(str_is(&b.cols[1], 1, "multi\nline"));
  assert_true(str_is(&b.cols[1], 2, ""));          /* quoted empty: a string */
  assert_false(rk_column_is_null(&b.cols[1], 2));
  assert_true(rk_column_is_null(&b.cols[1], 3));   /* unquoted empty: null */
  assert_true(str_is(&b.cols[2], 3, "\""));
  assert_int_equal(b.cols[1].null_count, 1);
  rk_batch_free(&b);
}

static void test_crlf_bom_na(void **state) {
  (void)state;
  rk_csv_options o;
  rk_csv_options_default(&o);
  const char *na[] = {"\\N"};
  o.na_values = na;
  o.n_na_values = 1;
  rk_batch b;
  assert_rk_ok(rk_csv_read_all(rk_test_data("csv/tricky.csv"), &o, &b));
  assert_int_equal(b.nrows, 5);
  assert_string_equal(b.cols[0].name, "user_id");   /* the BOM is not part of the name */
  for (int c = 0; c < 3; c++) assert_int_equal(b.cols[c].type, RK_COL_INT64);
  assert_true(rk_column_is_null(&b.cols[1], 2));
  assert_true(rk_column_is_null(&b.cols[2], 3));
  assert_int_equal(rk_column_get_int(&b.cols[1], 3), 40);
  assert_true(str_is(&b.cols[3], 0, "plain"));       /* no '\r' left over */
  assert_true(str_is(&b.cols[3], 2, "say \"hi\""));
  assert_true(str_is(&b.cols[3], 3, "two\r\nlines"));   /* CRLF inside quotes is data */
  assert_true(rk_column_is_null(&b.cols[3], 4));
  rk_batch_free(&b);

  /* no final newline, a CRLF-only last line, blank lines in between */
  const char *dir = rk_test_tmpdir("csv_crlf");
  assert_rk_ok(read_text(&b, dir, "a,b\r\n\r\n1,x\r\n\n2,y", &o));
  assert_int_equal(b.nrows, 2);
  assert_true(str_is(&b.cols[1], 1, "y"));
  rk_batch_free(&b);
  /* NA strings for strings and floats; quoted NA text is a string */
  const char *na2[] = {"\\N", "NA"};
  o.na_values = na2;
  o.n_na_values = 2;
  assert_rk_ok(read_text(&b, dir, "a,b,c\n1,\\N,x\n\\N,2.5,NA\n3,,\"NA\"\n", &o));
  assert_int_equal(b.cols[0].type, RK_COL_INT64);
  assert_int_equal(b.cols[1].type, RK_COL_FLOAT64);
  assert_int_equal(b.cols[2].type, RK_COL_STRING);
  assert_true(rk_column_is_null(&b.cols[0], 1));
  assert_true(rk_column_is_null(&b.cols[1], 0));
  assert_true(rk_column_is_null(&b.cols[1], 2));
  assert_true(rk_column_get_double(&b.cols[1], 1) == 2.5);
  assert_true(rk_column_is_null(&b.cols[2], 1));
  assert_true(str_is(&b.cols[2], 2, "NA"));
  rk_batch_free(&b);
}

static void test_empty_fields(void **state) {
  (void)state;
  const char *dir = rk_test_tmpdir("csv_empty");
  rk_batch b;
  assert_rk_ok(read_text(&b, dir, "a,b,c\n,1,\n,,2.5\n", NULL));
  assert_int_equal(b.cols[0].type, RK_COL_STRING);   /* all null: string */
  assert_int_equal(b.cols[1].type, RK_COL_INT64);
  assert_int_equal(b.cols[2].type, RK_COL_FLOAT64);
  assert_int_equal(b.cols[0].null_count, 2);
  assert_true(rk_column_is_null(&b.cols[1], 1));
  assert_true(rk_column_is_null(&b.cols[2], 0));
  assert_int_equal(rk_column_get_int(&b.cols[1], 1), 0);   /* a null slot holds zero */
  rk_batch_free(&b);
  /* header only: no rows, columns known */
  assert_rk_ok(read_text(&b, dir, "x,y\n", NULL));
  assert_int_equal(b.ncols, 2);
  assert_int_equal(b.nrows, 0);
  rk_batch_free(&b);
}

static void test_separators(void **state) {
  (void)state;
  char sep = 0;
  assert_rk_ok(rk_csv_parse_sep(",", &sep));
  assert_int_equal(sep, ',');
  assert_rk_ok(rk_csv_parse_sep("\t", &sep));
  assert_int_equal(sep, '\t');
  sep = 0;
  assert_rk_ok(rk_csv_parse_sep("tab", &sep));
  assert_int_equal(sep, '\t');
  sep = 0;
  assert_rk_ok(rk_csv_parse_sep("\\t", &sep));
  assert_int_equal(sep, '\t');
  assert_rk_ok(rk_csv_parse_sep("|", &sep));
  assert_int_equal(sep, '|');
  assert_int_equal(rk_csv_parse_sep("ab", &sep), RK_EINVAL);
  assert_string_equal(rk_error_message(), "invalid CSV separator 'ab': expected one character, 'tab' or '\\t'");
  assert_int_equal(rk_csv_parse_sep("\"", &sep), RK_EINVAL);

  const char *dir = rk_test_tmpdir("csv_sep");
  rk_csv_options o;
  rk_csv_options_default(&o);
  rk_batch b;
  assert_rk_ok(rk_csv_parse_sep("tab", &o.sep));
  assert_rk_ok(read_text(&b, dir, "a\tb\n1\tx,y\n2\t\"p\tq\"\n", &o));
  assert_int_equal(b.nrows, 2);
  assert_true(str_is(&b.cols[1], 0, "x,y"));
  assert_true(str_is(&b.cols[1], 1, "p\tq"));
  rk_batch_free(&b);
  o.sep = ';';
  assert_rk_ok(read_text(&b, dir, "a;b\n1.5;2\n", &o));
  assert_true(rk_column_get_double(&b.cols[0], 0) == 1.5);
  rk_batch_free(&b);
}

static void test_no_header(void **state) {
  (void)state;
  const char *dir = rk_test_tmpdir("csv_noheader");
  rk_csv_options o;
  rk_csv_options_default(&o);
  o.header = false;
  rk_batch b;
  assert_rk_ok(read_text(&b, dir, "1,x\n2,y\n", &o));
  assert_int_equal(b.nrows, 2);
  assert_string_equal(b.cols[0].name, "c0");
  assert_string_equal(b.cols[1].name, "c1");
  rk_batch_free(&b);
  const char *names[] = {"id", "tag"};
  o.column_names = names;
  o.n_column_names = 2;
  assert_rk_ok(read_text(&b, dir, "1,x\n2,y\n", &o));
  assert_string_equal(b.cols[1].name, "tag");
  assert_true(str_is(&b.cols[1], 0, "x"));
  rk_batch_free(&b);
}

/* The message of a read that must fail with `status`. */
static void expect_error(const char *text, const rk_csv_options *opts, rk_status status, const char *message) {
  const char *dir = rk_test_tmpdir("csv_errors");
  rk_batch b;
  rk_status s = read_text(&b, dir, text, opts);
  if (s != status || strcmp(rk_error_message(), message) != 0)
    fail_msg("got %s '%s', want %s '%s'", rk_status_name(s), rk_error_message(), rk_status_name(status), message);
  assert_int_equal(b.ncols, 0);   /* nothing left allocated */
}

static void test_errors(void **state) {
  (void)state;
  rk_csv_options o;
  rk_csv_options_default(&o);
  o.label = "train.csv";
  o.infer_rows = 2;
  expect_error("user_id,x\n1,a\n2,b\nx1,c\n", &o, RK_EPARSE,
               "cannot parse 'x1' as int64 in 'train.csv' row 3, column 'user_id'");
  expect_error("a,b\n1,2.5\n2,3\n3,x\n", &o, RK_EPARSE, "cannot parse 'x' as float64 in 'train.csv' row 3, column 'b'");
  expect_error("a,b,c\n1,2,3\n4,5\n", &o, RK_EPARSE, "too few fields in 'train.csv' row 2: expected 3, found 2");
  expect_error("a,b,c\n1,2,3\n4,5,6,7,8\n", &o, RK_EPARSE, "too many fields in 'train.csv' row 2: expected 3, found 5");
  expect_error("a,b\n1,\"abc\n2,3\n", &o, RK_EPARSE, "unterminated quote in 'train.csv' row 1, column 'b'");
  expect_error("a,b\n1,x\n2,ab\"c\n", &o, RK_EPARSE,
               "unexpected quote inside an unquoted field in 'train.csv' row 2, column 'b'");
  expect_error("a,b\n1,\"ab\"c\n", &o, RK_EPARSE, "unexpected 'c' after a closing quote in 'train.csv' row 1, column 'b'");
  expect_error("a,b\n1,2\n3,4\n99999999999999999999,3\n", &o, RK_ERANGE,
               "value '99999999999999999999' is out of range for int64 in 'train.csv' row 3, column 'a'");
  /* rows count records, not lines: a quoted newline does not shift the row */
  expect_error("a,b\n1,\"x\ny\"\n2,z\nq,w\n", &o, RK_EPARSE,
               "cannot parse 'q' as int64 in 'train.csv' row 3, column 'a'");
  expect_error("", &o, RK_EFORMAT, "cannot read 'train.csv': the file is empty (expected a header)");
  const char *names[] = {"nope"};
  const rk_coltype types[] = {RK_COL_INT32};
  o.typed_names = names;
  o.typed_types = types;
  o.n_typed = 1;
  expect_error("a\n1\n", &o, RK_ENOTFOUND, "no column 'nope' in 'train.csv' to give type int32");

  rk_batch b;
  assert_int_equal(rk_csv_read_all("/nonexistent/x.csv", NULL, &b), RK_EIO);
  assert_non_null(strstr(rk_error_message(), "cannot open '/nonexistent/x.csv'"));

  /* an error repeats on every later call */
  const char *dir = rk_test_tmpdir("csv_sticky");
  rk_test_write_file(tmp_file(dir, "s.csv"), "a\n1\nx\n");
  rk_csv_options_default(&o);
  o.infer_rows = 1;
  o.label = "s.csv";
  rk_csv_reader *r;
  assert_rk_ok(rk_csv_open(&r, tmp_file(dir, "s.csv"), &o));
  rk_batch part = {0};
  assert_int_equal(rk_csv_next(r, &part), RK_EPARSE);
  rk_error_clear();
  assert_int_equal(rk_csv_next(r, &part), RK_EPARSE);
  assert_string_equal(rk_error_message(), "cannot parse 'x' as int64 in 's.csv' row 2, column 'a'");
  rk_batch_free(&part);
  rk_csv_close(r);
}

static void test_typed(void **state) {
  (void)state;
  const char *names[] = {"i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64", "f32", "f64", "s"};
  const rk_coltype types[] = {RK_COL_INT8,  RK_COL_INT16,  RK_COL_INT32,   RK_COL_INT64,   RK_COL_UINT8, RK_COL_UINT16,
                              RK_COL_UINT32, RK_COL_UINT64, RK_COL_FLOAT32, RK_COL_FLOAT64, RK_COL_STRING};
  rk_csv_options o;
  rk_csv_options_default(&o);
  o.typed_names = names;
  o.typed_types = types;
  o.n_typed = 11;
  o.label = "t.csv";
  const char *dir = rk_test_tmpdir("csv_typed");
  rk_batch b;
  assert_rk_ok(read_text(&b, dir,
                         "i8,i16,i32,i64,u8,u16,u32,u64,f32,f64,s\n"
                         "-128,-32768,-2147483648,-9223372036854775808,0,0,0,0,0.1,0.1,007\n"
                         "127,32767,2147483647,9223372036854775807,255,65535,4294967295,18446744073709551615,"
                         "3.4028235e38,1.7976931348623157e308,x\n"
                         " 5 ,+6,7,8,9,10,11,12,1e-45, 2.5 ,\n",
                         &o));
  for (int c = 0; c < 11; c++) assert_int_equal(b.cols[c].type, types[c]);
  assert_int_equal(((int8_t *)b.cols[0].values)[0], -128);
  assert_int_equal(((int16_t *)b.cols[1].values)[1], 32767);
  assert_int_equal(((int32_t *)b.cols[2].values)[0], INT32_MIN);
  assert_true(((int64_t *)b.cols[3].values)[0] == INT64_MIN);
  assert_true(((int64_t *)b.cols[3].values)[1] == INT64_MAX);
  assert_int_equal(((uint8_t *)b.cols[4].values)[1], 255);
  assert_true(((uint32_t *)b.cols[6].values)[1] == UINT32_MAX);
  assert_true(((uint64_t *)b.cols[7].values)[1] == UINT64_MAX);
  assert_true(((float *)b.cols[8].values)[0] == 0.1f);
  assert_true(((float *)b.cols[8].values)[1] == 3.4028235e38f);
  assert_true(((float *)b.cols[8].values)[2] == 1e-45f);
  assert_true(((double *)b.cols[9].values)[1] == 1.7976931348623157e308);
  assert_true(((double *)b.cols[9].values)[2] == 2.5);
  assert_int_equal(((int8_t *)b.cols[0].values)[2], 5);
  assert_true(str_is(&b.cols[10], 0, "007"));
  rk_batch_free(&b);

  /* range errors name the value, type, row and column */
  struct {
    const char *text;
    const char *msg;
  } cases[] = {
      {"i8\n1\n128\n", "value '128' is out of range for int8 in 't.csv' row 2, column 'i8'"},
      {"i8\n-129\n", "value '-129' is out of range for int8 in 't.csv' row 1, column 'i8'"},
      {"u8\n256\n", "value '256' is out of range for uint8 in 't.csv' row 1, column 'u8'"},
      {"u32\n-1\n", "value '-1' is out of range for uint32 in 't.csv' row 1, column 'u32'"},
      {"u64\n-1\n", "value '-1' is out of range for uint64 in 't.csv' row 1, column 'u64'"},
      {"u64\n18446744073709551616\n", "value '18446744073709551616' is out of range for uint64 in 't.csv' row 1, column 'u64'"},
      {"i64\n9223372036854775808\n", "value '9223372036854775808' is out of range for int64 in 't.csv' row 1, column 'i64'"},
      {"i32\n1.5\n", "cannot parse '1.5' as int32 in 't.csv' row 1, column 'i32'"},
      {"f32\nabc\n", "cannot parse 'abc' as float32 in 't.csv' row 1, column 'f32'"},
  };
  o.n_typed = 1;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    rk_status want = strstr(cases[i].msg, "range") ? RK_ERANGE : RK_EPARSE;
    for (int c = 0; c < 11; c++)   /* type just the one column of the case */
      if (strncmp(cases[i].text, names[c], strlen(names[c])) == 0 && cases[i].text[strlen(names[c])] == '\n') {
        o.typed_names = &names[c];
        o.typed_types = &types[c];
      }
    expect_error(cases[i].text, &o, want, cases[i].msg);
  }
  /* lists are not a CSV type */
  const rk_coltype list[] = {RK_COL_LIST};
  o.typed_names = names;
  o.typed_types = list;
  o.n_typed = 1;
  expect_error("i8\n1\n", &o, RK_EUNSUPPORTED, "unsupported: type list for CSV column 'i8' in 't.csv'");
}

/* Every float the fast path takes must equal strtod's correctly rounded value. */
static void test_float_exact(void **state) {
  (void)state;
  const char *dir = rk_test_tmpdir("csv_float");
  const int n = 20000;
  size_t cap = (size_t)n * 64 + 64;
  char *text = malloc(cap);
  double *want = malloc((size_t)n * sizeof *want);
  float *wantf = malloc((size_t)n * sizeof *wantf);
  size_t len = (size_t)snprintf(text, cap, "d,f\n");
  rk_rng rng;
  rk_rng_init(&rng, 7, 0);
  for (int i = 0; i < n; i++) {
    char num[64];
    switch (i % 4) {
      case 0: snprintf(num, sizeof num, "%.17g", (rk_rng_uniform(&rng) - 0.5) * pow(10, (int)rk_rng_below(&rng, 40) - 20)); break;
      case 1: snprintf(num, sizeof num, "%llu.%llu", (unsigned long long)rk_rng_below(&rng, 100000),
                       (unsigned long long)rk_rng_below(&rng, 1000000)); break;
      case 2: snprintf(num, sizeof num, "%llue%d", (unsigned long long)rk_rng_below(&rng, 1ull << 54),
                       (int)rk_rng_below(&rng, 50) - 25); break;
      default: snprintf(num, sizeof num, "-0.%06llu", (unsigned long long)rk_rng_below(&rng, 1000000)); break;
    }
    want[i] = strtod(num, NULL);
    wantf[i] = strtof(num, NULL);
    len += (size_t)snprintf(text + len, cap - len, "%s,%s\n", num, num);
  }
  const char *names[] = {"d", "f"};
  const rk_coltype types[] = {RK_COL_FLOAT64, RK_COL_FLOAT32};
  rk_csv_options o;
  rk_csv_options_default(&o);
  o.typed_names = names;
  o.typed_types = types;
  o.n_typed = 2;
  o.non_finite = RK_NON_FINITE_AS_MISSING;   /* some values are past float32's range: those read as null */
  rk_batch b;
  assert_rk_ok(read_text(&b, dir, text, &o));
  assert_int_equal(b.nrows, n);
  for (int i = 0; i < n; i++) {
    double d = ((double *)b.cols[0].values)[i];
    float f = ((float *)b.cols[1].values)[i];
    if (isinf(wantf[i]) != rk_column_is_null(&b.cols[1], i)) fail_msg("row %d: float32 overflow not null", i);
    if (isinf(wantf[i])) f = wantf[i];
    if (memcmp(&d, &want[i], sizeof d) != 0 || memcmp(&f, &wantf[i], sizeof f) != 0)
      fail_msg("row %d: got %.17g / %.9g, want %.17g / %.9g", i, d, (double)f, want[i], (double)wantf[i]);
  }
  rk_batch_free(&b);
  free(text);
  free(want);
  free(wantf);
}

/* ---- chunk-boundary equivalence ------------------------------------------------------------- */
static void append(char **buf, size_t *len, size_t *cap, const char *s) {
  size_t n = strlen(s);
  if (*len + n + 1 > *cap) {
    *cap = (*len + n + 1) * 2;
    *buf = realloc(*buf, *cap);
  }
  memcpy(*buf + *len, s, n + 1);
  *len += n;
}

/* Random tricky CSV: quoted fields with separators, quotes and newlines, CRLF, blank lines, NA. */
static char *tricky_csv(rk_rng *rng, int rows, int bad_row) {
  char *buf = NULL;
  size_t len = 0, cap = 0;
  append(&buf, &len, &cap, "id,text,x,flag\n");
  for (int r = 0; r < rows; r++) {
    char f[128];
    const char *eol = rk_rng_bernoulli(rng, 0.3) ? "\r\n" : "\n";
    if (rk_rng_bernoulli(rng, 0.05)) append(&buf, &len, &cap, eol);   /* blank line */
    if (r == bad_row) snprintf(f, sizeof f, "%dz,", r);
    else if (rk_rng_bernoulli(rng, 0.05)) snprintf(f, sizeof f, "\\N,");
    else snprintf(f, sizeof f, "%d,", r);
    append(&buf, &len, &cap, f);
    switch (rk_rng_below(rng, 6)) {
      case 0: append(&buf, &len, &cap, "\"a,b\nc\","); break;
      case 1: append(&buf, &len, &cap, "\"q\"\"\"\"\r\n\","); break;
      case 2: append(&buf, &len, &cap, ","); break;
      case 3: append(&buf, &len, &cap, "\"\","); break;
      case 4: append(&buf, &len, &cap, "plain text,"); break;
      default: append(&buf, &len, &cap, "\"\n\n\","); break;
    }
    snprintf(f, sizeof f, "%.6g,", rk_rng_normal(rng) * 1000);
    append(&buf, &len, &cap, rk_rng_bernoulli(rng, 0.1) ? "," : f);
    snprintf(f, sizeof f, "%d%s", (int)rk_rng_below(rng, 3) - 1, eol);
    append(&buf, &len, &cap, f);
  }
  return buf;
}

/* All rows of a file through rk_csv_next, concatenated; the status of the read. */
static rk_status read_tuned(rk_batch *all, char *msg, const char *path, const rk_csv_options *o,
                            const rk_csv_tuning *t) {
  memset(all, 0, sizeof *all);
  msg[0] = '\0';
  rk_csv_reader *r;
  rk_status s = rk_csv_open_tuned(&r, path, o, t);
  if (s != RK_OK) {
    snprintf(msg, RK_ERROR_MAX, "%s", rk_error_message());
    return s;
  }
  rk_batch part = {0};
  assert_rk_ok(rk_batch_init(all, rk_csv_num_columns(r)));
  for (int c = 0; c < all->ncols; c++)
    assert_rk_ok(rk_column_init(&all->cols[c], rk_csv_column_name(r, c), rk_csv_column_type(r, c), RK_COL_INT64));
  for (;;) {
    s = rk_csv_next(r, &part);
    if (s != RK_OK) {
      snprintf(msg, RK_ERROR_MAX, "%s", rk_error_message());
      break;
    }
    if (part.nrows == 0) break;
    assert_true(part.nrows <= o->batch_rows);
    for (int c = 0; c < all->ncols; c++) {
      assert_int_equal(part.cols[c].length, part.nrows);
      assert_rk_ok(rk_column_append_column(&all->cols[c], &part.cols[c], 0, part.nrows));
    }
    all->nrows += part.nrows;
  }
  rk_batch_free(&part);
  rk_csv_close(r);
  return s;
}

static void test_chunk_equivalence(void **state) {
  (void)state;
  const char *dir = rk_test_tmpdir("csv_chunks");
  rk_rng rng;
  rk_rng_init(&rng, 42, 0);
  const char *na[] = {"\\N"};
  int rounds = rk_test_sanitized() ? 8 : 30;
  for (int round = 0; round < rounds; round++) {
    int rows = 50 + (int)rk_rng_below(&rng, 400);
    int bad = round % 3 == 2 ? (int)rk_rng_below(&rng, (uint64_t)rows) : -1;
    char *text = tricky_csv(&rng, rows, bad);
    const char *path = tmp_file(dir, "t.csv");
    rk_test_write_file(path, text);
    free(text);
    rk_csv_options o;
    rk_csv_options_default(&o);
    o.na_values = na;
    o.n_na_values = 1;
    o.infer_rows = 20;
    o.label = "t.csv";
    o.threads = 1;
    o.batch_rows = 1 << 20;
    rk_csv_tuning one = {.block_bytes = 1 << 24, .chunk_bytes = 1 << 24};
    rk_batch want, got;
    char want_msg[RK_ERROR_MAX], got_msg[RK_ERROR_MAX];
    rk_status ws = read_tuned(&want, want_msg, path, &o, &one);
    if (bad < 0) assert_int_equal(ws, RK_OK);
    else assert_int_equal(ws, RK_EPARSE);
    for (int k = 0; k < 4; k++) {
      rk_csv_tuning t = {.block_bytes = 16 + (int64_t)rk_rng_below(&rng, 3000),
                         .chunk_bytes = 1 + (int64_t)rk_rng_below(&rng, 400)};
      o.threads = 1 + (int)rk_rng_below(&rng, 3);
      o.batch_rows = 1 + (int64_t)rk_rng_below(&rng, 100);
      rk_status gs = read_tuned(&got, got_msg, path, &o, &t);
      if (gs != ws || strcmp(got_msg, want_msg) != 0)
        fail_msg("round %d block %lld chunk %lld: got %s '%s', want %s '%s'", round, (long long)t.block_bytes,
                 (long long)t.chunk_bytes, rk_status_name(gs), got_msg, rk_status_name(ws), want_msg);
      if (ws == RK_OK) {
        assert_int_equal(got.nrows, want.nrows);
        for (int c = 0; c < want.ncols; c++)
          if (!rk_column_equal(&got.cols[c], &want.cols[c]))
            fail_msg("round %d: column %d differs (block %lld, chunk %lld)", round, c, (long long)t.block_bytes,
                     (long long)t.chunk_bytes);
      }
      rk_batch_free(&got);
    }
    if (ws == RK_OK) {
      assert_int_equal(want.nrows, rows);
      assert_int_equal(want.cols[1].type, RK_COL_STRING);
      assert_int_equal(want.cols[2].type, RK_COL_FLOAT64);
    }
    rk_batch_free(&want);
  }
}

static void test_batches(void **state) {
  (void)state;
  const char *dir = rk_test_tmpdir("csv_batches");
  const char *path = tmp_file(dir, "b.csv");
  FILE *f = fopen(path, "w");
  fprintf(f, "a,b\n");
  for (int i = 0; i < 5000; i++) fprintf(f, "%d,s%d\n", i, i);
  fclose(f);
  rk_csv_options o;
  rk_csv_options_default(&o);
  int64_t sizes[] = {7, 5000, 1 << 20};
  for (int k = 0; k < 3; k++) {
    o.batch_rows = sizes[k];
    rk_csv_reader *r;
    assert_rk_ok(rk_csv_open(&r, path, &o));
    rk_batch b = {0};
    int64_t next = 0;
    for (;;) {
      assert_rk_ok(rk_csv_next(r, &b));
      if (b.nrows == 0) break;
      assert_true(b.nrows <= sizes[k]);
      for (int64_t i = 0; i < b.nrows; i++) {
        char want[32];
        snprintf(want, sizeof want, "s%lld", (long long)next);
        assert_int_equal(rk_column_get_int(&b.cols[0], i), next);
        assert_true(str_is(&b.cols[1], i, want));
        next++;
      }
    }
    assert_int_equal(next, 5000);
    assert_int_equal(rk_csv_bytes_read(r), 4 + 10 * 5 + 90 * 7 + 900 * 9 + 4000 * 11);
    assert_rk_ok(rk_csv_next(r, &b));   /* the end stays the end */
    assert_int_equal(b.nrows, 0);
    rk_batch_free(&b);
    rk_csv_close(r);
  }
}

static void test_compressed(void **state) {
  (void)state;
  const char *dir = rk_test_tmpdir("csv_compressed");
  char *text = NULL;
  size_t len = 0, cap = 0;
  append(&text, &len, &cap, "k,v,s\n");
  for (int i = 0; i < 20000; i++) {
    char line[64];
    snprintf(line, sizeof line, "%d,%d.25,\"t,%d\"\n", i, i % 97, i);
    append(&text, &len, &cap, line);
  }
  char plain[4096], gzp[4096], zsp[4096], bad[4096];
  snprintf(plain, sizeof plain, "%s/t.csv", dir);
  snprintf(gzp, sizeof gzp, "%s/t.csv.gz", dir);
  snprintf(zsp, sizeof zsp, "%s/t.csv.zst", dir);
  snprintf(bad, sizeof bad, "%s/bad.csv.zst", dir);
  write_bytes(plain, text, len);
  gzFile gz = gzopen(gzp, "wb");
  assert_int_equal(gzwrite(gz, text, (unsigned)len), (int)len);
  gzclose(gz);
  size_t zcap = ZSTD_compressBound(len);
  char *z = malloc(zcap);
  size_t zn = ZSTD_compress(z, zcap, text, len, 3);
  assert_false(ZSTD_isError(zn));
  write_bytes(zsp, z, zn);
  write_bytes(bad, z, zn / 2);   /* truncated */
  rk_csv_options o;
  rk_csv_options_default(&o);
  rk_csv_tuning t = {.block_bytes = 10000, .chunk_bytes = 3000};
  rk_batch want, got;
  char msg[RK_ERROR_MAX];
  o.batch_rows = 1000;
  assert_rk_ok(read_tuned(&want, msg, plain, &o, &t));
  assert_int_equal(want.nrows, 20000);
  const char *paths[] = {gzp, zsp};
  for (int k = 0; k < 2; k++) {
    assert_rk_ok(read_tuned(&got, msg, paths[k], &o, &t));
    assert_int_equal(got.nrows, want.nrows);
    for (int c = 0; c < 3; c++) assert_true(rk_column_equal(&got.cols[c], &want.cols[c]));
    rk_batch_free(&got);
  }
  o.label = "bad.csv.zst";
  assert_int_equal(read_tuned(&got, msg, bad, &o, &t), RK_EFORMAT);
  assert_string_equal(msg, "cannot decompress 'bad.csv.zst': truncated zstd data");
  rk_batch_free(&got);
  rk_batch_free(&want);
  free(z);
  free(text);
}

/* Every allocation failure during open + read returns RK_ENOMEM and leaks nothing. */
static void test_alloc_failures(void **state) {
  (void)state;
  const char *dir = rk_test_tmpdir("csv_alloc");
  const char *path = tmp_file(dir, "a.csv");
  rk_test_write_file(path, "id,name,score\n1,\"a\"\"b\",0.5\n2,\\N,1e-3\n3,xyz,\n4,\"q,r\",2\n");
  const char *na[] = {"\\N"};
  rk_csv_options o;
  rk_csv_options_default(&o);
  o.na_values = na;
  o.n_na_values = 1;
  o.batch_rows = 2;
  o.threads = 2;
  rk_csv_tuning t = {.block_bytes = 32, .chunk_bytes = 16};
  int64_t start = rk_alloc_live_bytes();
  int failures = 0;
  for (int64_t n = 0; n < 10000; n++) {
    rk_alloc_fail_after(n);
    rk_csv_reader *r = NULL;
    rk_status s = rk_csv_open_tuned(&r, path, &o, &t);
    rk_batch b = {0};
    int64_t rows = 0;
    while (s == RK_OK) {
      s = rk_csv_next(r, &b);
      if (s != RK_OK || b.nrows == 0) break;
      rows += b.nrows;
    }
    rk_batch_free(&b);
    rk_csv_close(r);
    bool fired = rk_alloc_fail_fired();
    rk_alloc_fail_after(-1);
    if (!fired) {
      assert_int_equal(s, RK_OK);
      assert_int_equal(rows, 4);
      break;
    }
    if (s != RK_ENOMEM) fail_msg("failure %lld: got %s '%s'", (long long)n, rk_status_name(s), rk_error_message());
    assert_int_equal(rk_alloc_live_bytes(), start);
    failures++;
  }
  assert_true(failures > 10);
  assert_int_equal(rk_alloc_live_bytes(), start);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_quoting),        cmocka_unit_test(test_crlf_bom_na),
      cmocka_unit_test(test_empty_fields),   cmocka_unit_test(test_separators),
      cmocka_unit_test(test_no_header),      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_typed),          cmocka_unit_test(test_float_exact),
      cmocka_unit_test(test_chunk_equivalence), cmocka_unit_test(test_batches),
      cmocka_unit_test(test_compressed),     cmocka_unit_test(test_alloc_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
