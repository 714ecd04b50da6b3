/*
 * CSV against DuckDB (the peer): a file reckon writes reads back in DuckDB with the same values,
 * and a file DuckDB writes reads in reckon with the values DuckDB computed, doubles bit for bit.
 * DuckDB runs through bench/peers/duckdb_query.js (Node, @duckdb/node-api from
 * scripts/install-deps.sh --peers) and answers in JSON. Skips when the peer is missing.
 *
 * One difference is known and kept out of the data: DuckDB writes an empty string as an empty
 * field, which reckon (like RFC 4180 readers that map empty to null) reads as null.
 */
#include "support.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reckon/io.h"

/* Compare one value DuckDB gave (JSON) with one reckon slot. */
static void expect_same(const json_t *v, const rk_column *col, int64_t row, const char *what) {
  if (json_is_null(v)) {
    if (!rk_column_is_null(col, row)) fail_msg("%s row %lld: DuckDB has NULL, reckon has a value", what, (long long)row);
    return;
  }
  if (rk_column_is_null(col, row)) fail_msg("%s row %lld: reckon has NULL, DuckDB has a value", what, (long long)row);
  if (col->type == RK_COL_STRING) {
    size_t n;
    const char *s = rk_column_get_string(col, row, &n);
    if (!json_is_string(v) || json_string_length(v) != n || memcmp(json_string_value(v), s, n) != 0)
      fail_msg("%s row %lld: DuckDB '%s', reckon '%.*s'", what, (long long)row, json_string_value(v), (int)n, s);
  } else if (rk_coltype_is_float(col->type)) {
    double got = rk_column_get_double(col, row), want = json_number_value(v);
    if (memcmp(&got, &want, sizeof got) != 0)
      fail_msg("%s row %lld: DuckDB %.17g, reckon %.17g", what, (long long)row, want, got);
  } else {
    /* BIGINT arrives as a string (exact); INTEGER as a number */
    long long want = json_is_string(v) ? strtoll(json_string_value(v), NULL, 10) : (long long)json_number_value(v);
    if (rk_column_get_int(col, row) != want)
      fail_msg("%s row %lld: DuckDB %lld, reckon %lld", what, (long long)row, want,
               (long long)rk_column_get_int(col, row));
  }
}

/* reckon writes; DuckDB reads. */
static void test_reckon_to_duckdb(void **state) {
  (void)state;
  if (!rk_test_have_duckdb()) skip();
  const char *dir = rk_test_tmpdir("csv_duckdb_write");
  char dirc[2048], path[4096];
  snprintf(dirc, sizeof dirc, "%s", dir);
  snprintf(path, sizeof path, "%s/r.csv", dirc);
  enum { ROWS = 3000 };
  rk_batch b;
  assert_rk_ok(rk_batch_init(&b, 5));
  const char *names[] = {"id", "i32", "f64", "f32", "s"};
  rk_coltype types[] = {RK_COL_INT64, RK_COL_INT32, RK_COL_FLOAT64, RK_COL_FLOAT32, RK_COL_STRING};
  for (int c = 0; c < 5; c++) assert_rk_ok(rk_column_init(&b.cols[c], names[c], types[c], RK_COL_INT64));
  static const char *strs[] = {"plain", "a,b", "say \"hi\"", "two\nlines", "\\N", "", "ünï"};
  rk_rng rng;
  rk_rng_init(&rng, 5, 0);
  for (int64_t r = 0; r < ROWS; r++) {
    assert_rk_ok(rk_column_append_int(&b.cols[0], r * 1000003 - 7));
    if (r % 11 == 3) assert_rk_ok(rk_column_append_null(&b.cols[1]));
    else assert_rk_ok(rk_column_append_int(&b.cols[1], (int32_t)rk_rng_u32(&rng)));
    double d = (rk_rng_uniform(&rng) - 0.5) * pow(10, (int)rk_rng_below(&rng, 60) - 30);
    if (r % 17 == 5) assert_rk_ok(rk_column_append_null(&b.cols[2]));
    else assert_rk_ok(rk_column_append_double(&b.cols[2], d));
    assert_rk_ok(rk_column_append_double(&b.cols[3], (float)rk_rng_normal(&rng)));
    if (r % 13 == 6) assert_rk_ok(rk_column_append_null(&b.cols[4]));
    else assert_rk_ok(rk_column_append_string(&b.cols[4], strs[r % 7], strlen(strs[r % 7])));
  }
  b.nrows = ROWS;
  rk_sink_options so;
  rk_sink_options_default(&so);
  so.na_value = "\\N";
  rk_table_sink *sink;
  assert_rk_ok(rk_sink_open(&sink, path, &so));
  assert_rk_ok(rk_sink_write(sink, &b));
  assert_rk_ok(rk_sink_close(sink));

  char sql[8192];
  snprintf(sql, sizeof sql,
           "SELECT * FROM read_csv('%s', header=true, delim=',', quote='\"', escape='\"', nullstr='\\N', "
           "allow_quoted_nulls=false, columns={'id':'BIGINT','i32':'INTEGER','f64':'DOUBLE','f32':'FLOAT','s':'VARCHAR'}) "
           "ORDER BY id",
           path);
  const char *q[] = {sql};
  json_t *j = rk_test_duckdb(dirc, 1, q, JSON_DECODE_INT_AS_REAL);
  json_t *rows = json_object_get(j, "rows");
  assert_int_equal(json_array_size(rows), ROWS);
  for (int64_t r = 0; r < ROWS; r++) {
    json_t *row = json_array_get(rows, (size_t)r);
    for (int c = 0; c < 5; c++) expect_same(json_array_get(row, (size_t)c), &b.cols[c], r, names[c]);
  }
  json_decref(j);
  rk_batch_free(&b);
}

/* DuckDB writes; reckon reads. */
static void test_duckdb_to_reckon(void **state) {
  (void)state;
  if (!rk_test_have_duckdb()) skip();
  const char *dir = rk_test_tmpdir("csv_duckdb_read");
  char dirc[2048], path[4096];
  snprintf(dirc, sizeof dirc, "%s", dir);
  snprintf(path, sizeof path, "%s/d.csv", dirc);
  const char *select =
      "SELECT i AS id, (i * 7919 % 100003 - 50000)::INTEGER AS i32, "
      "CASE WHEN i % 13 = 0 THEN NULL ELSE (i * 0.37 - 123.4567) / 7 * pow(10, i % 40 - 20) END AS f64, "
      "CASE i % 5 WHEN 0 THEN 'a,b' WHEN 1 THEN 'say \"hi\"' WHEN 2 THEN 'two' || chr(10) || 'lines' "
      "WHEN 3 THEN '\\N' ELSE NULL END AS s "
      "FROM range(5000) t(i) ORDER BY i";
  char copy[8192];
  snprintf(copy, sizeof copy, "COPY (%s) TO '%s' (HEADER, DELIMITER ',', NULLSTR '\\N')", select, path);
  const char *q[] = {copy, select};
  json_t *j = rk_test_duckdb(dirc, 2, q, JSON_DECODE_INT_AS_REAL);
  json_t *rows = json_object_get(j, "rows");
  assert_int_equal(json_array_size(rows), 5000);

  rk_csv_options o;
  rk_csv_options_default(&o);
  const char *na[] = {"\\N"};
  o.na_values = na;
  o.n_na_values = 1;
  o.infer_rows = 100;
  rk_batch b;
  assert_rk_ok(rk_csv_read_all(path, &o, &b));
  assert_int_equal(b.nrows, 5000);
  assert_int_equal(b.cols[0].type, RK_COL_INT64);
  assert_int_equal(b.cols[1].type, RK_COL_INT64);
  assert_int_equal(b.cols[2].type, RK_COL_FLOAT64);
  assert_int_equal(b.cols[3].type, RK_COL_STRING);
  for (int64_t r = 0; r < b.nrows; r++) {
    json_t *row = json_array_get(rows, (size_t)r);
    for (int c = 0; c < 4; c++) expect_same(json_array_get(row, (size_t)c), &b.cols[c], r, b.cols[c].name);
  }
  json_decref(j);
  rk_batch_free(&b);
}

/* List columns: reckon writes them as DuckDB does, so DuckDB reads them back as lists with the
 * same elements (strings that need DuckDB's single quotes included), and DuckDB's own COPY of
 * the same integer and string lists is byte for byte the file reckon wrote. */
static void test_lists_to_duckdb(void **state) {
  (void)state;
  if (!rk_test_have_duckdb()) skip();
  const char *dir = rk_test_tmpdir("csv_duckdb_lists");
  char dirc[2048], path[4096], copy[4096];
  snprintf(dirc, sizeof dirc, "%s", dir);
  snprintf(path, sizeof path, "%s/lists.csv", dirc);
  snprintf(copy, sizeof copy, "%s/duck.csv", dirc);
  static const char *strs[] = {"a", "b c", "d,e", "q\"x", "", "it's", " lead", "NULL", "back\\slash", "[x]", "\xC3\xA9"};
  enum { NS = sizeof strs / sizeof strs[0], ROWS = 5 };
  rk_batch b;
  assert_rk_ok(rk_batch_init(&b, 3));
  assert_rk_ok(rk_column_init(&b.cols[0], "id", RK_COL_INT64, RK_COL_INT64));
  assert_rk_ok(rk_column_init(&b.cols[1], "ints", RK_COL_LIST, RK_COL_INT64));
  assert_rk_ok(rk_column_init(&b.cols[2], "strs", RK_COL_LIST, RK_COL_STRING));
  for (int r = 0; r < ROWS; r++) {
    assert_rk_ok(rk_column_append_int(&b.cols[0], r));
    for (int k = 0; k < r; k++) assert_rk_ok(rk_column_append_int(b.cols[1].child, (int64_t)k * 1000 - 7));
    assert_rk_ok(rk_column_finish_list_row(&b.cols[1]));
    for (int k = 0; k < (r == 3 ? NS : r); k++) assert_rk_ok(rk_column_append_string(b.cols[2].child, strs[k], strlen(strs[k])));
    if (r == 4) assert_rk_ok(rk_column_append_null(&b.cols[2]));
    else assert_rk_ok(rk_column_finish_list_row(&b.cols[2]));
  }
  b.nrows = ROWS;
  rk_table_sink *sink;
  assert_rk_ok(rk_sink_open(&sink, path, NULL));
  assert_rk_ok(rk_sink_write(sink, &b));
  assert_rk_ok(rk_sink_close(sink));
  char q0[8192], q1[8192];
  snprintf(q0, sizeof q0,
           "CREATE TABLE t AS SELECT * FROM read_csv('%s', header=true, columns={'id': 'BIGINT', 'ints': 'BIGINT[]', "
           "'strs': 'VARCHAR[]'})", path);
  snprintf(q1, sizeof q1, "COPY t TO '%s' (HEADER, DELIMITER ',')", copy);
  const char *q[] = {q0, q1, "SELECT id, to_json(ints)::VARCHAR, to_json(strs)::VARCHAR FROM t ORDER BY id"};
  json_t *j = rk_test_duckdb(dirc, 3, q, 0);
  json_t *rows = json_object_get(j, "rows");
  assert_int_equal(json_array_size(rows), ROWS);
  for (int r = 0; r < ROWS; r++) {
    json_t *ints = json_loads(json_string_value(json_array_get(json_array_get(rows, r), 1)), 0, NULL);
    json_t *got = json_loads(json_string_value(json_array_get(json_array_get(rows, r), 2)), 0, NULL);
    assert_int_equal(json_array_size(ints), r);
    for (int k = 0; k < r; k++) assert_int_equal(json_integer_value(json_array_get(ints, k)), (json_int_t)k * 1000 - 7);
    if (r == 4) {
      assert_true(json_is_null(json_array_get(json_array_get(rows, r), 2)) || json_is_null(got));
    } else {
      int n = r == 3 ? NS : r;
      assert_int_equal(json_array_size(got), n);
      for (int k = 0; k < n; k++)
        if (strcmp(json_string_value(json_array_get(got, k)), strs[k]) != 0)
          fail_msg("row %d element %d: DuckDB read '%s', reckon wrote '%s'", r, k, json_string_value(json_array_get(got, k)),
                   strs[k]);
    }
    json_decref(ints);
    json_decref(got);
  }
  json_decref(j);
  char *mine = NULL, *theirs = NULL;
  size_t n1, n2;
  assert_rk_ok(rk_read_file(path, &mine, &n1));
  assert_rk_ok(rk_read_file(copy, &theirs, &n2));
  if (n1 != n2 || memcmp(mine, theirs, n1) != 0) fail_msg("reckon wrote:\n%s\nDuckDB writes:\n%s", mine, theirs);
  rk_free(mine);
  rk_free(theirs);
  rk_batch_free(&b);
}

/* DuckDB writes lists; reckon reads them (asked to) with the elements DuckDB has. */
static void test_duckdb_lists_to_reckon(void **state) {
  (void)state;
  if (!rk_test_have_duckdb()) skip();
  const char *dir = rk_test_tmpdir("csv_duckdb_read_lists");
  char dirc[2048], path[4096], q0[4096];
  snprintf(dirc, sizeof dirc, "%s", dir);
  snprintf(path, sizeof path, "%s/d.csv", dirc);
  snprintf(q0, sizeof q0,
           "CREATE TABLE t AS SELECT i AS id, CASE WHEN i %% 5 = 4 THEN NULL ELSE range(i %% 4)::BIGINT[] END AS ints, "
           "[i / 7.0, -1e-300, 1e300][1:i %% 4] AS dbls, "
           "list_slice(['a', 'b c', 'd,e', 'q\"x', '', 'it''s', ' lead', 'NULL', 'back\\slash', '[x]', 'é', 'x]\\y'], "
           "1 + i %% 6, 1 + i %% 6 + i %% 7) AS strs FROM range(60) r(i)");
  char q1[4200];
  snprintf(q1, sizeof q1, "COPY t TO '%s' (HEADER)", path);
  const char *q[] = {q0, q1, "SELECT id, to_json(ints)::VARCHAR, to_json(dbls)::VARCHAR, to_json(strs)::VARCHAR FROM t ORDER BY id"};
  json_t *j = rk_test_duckdb(dirc, 3, q, 0);
  const char *lists[] = {"ints", "dbls", "strs"};
  rk_csv_options o;
  rk_csv_options_default(&o);
  o.list_columns = lists;
  o.n_list_columns = 3;
  rk_batch b;
  assert_rk_ok(rk_csv_read_all(path, &o, &b));
  json_t *rows = json_object_get(j, "rows");
  assert_int_equal(b.nrows, json_array_size(rows));
  assert_int_equal(b.cols[1].child->type, RK_COL_INT64);
  assert_int_equal(b.cols[2].child->type, RK_COL_FLOAT64);
  assert_int_equal(b.cols[3].child->type, RK_COL_STRING);
  for (int64_t r = 0; r < b.nrows; r++) {
    for (int c = 1; c <= 3; c++) {
      const char *text = json_string_value(json_array_get(json_array_get(rows, (size_t)r), (size_t)c));
      const rk_column *col = &b.cols[c];
      if (!text) {
        if (!rk_column_is_null(col, r)) fail_msg("%s row %lld: DuckDB has NULL", lists[c - 1], (long long)r);
        continue;
      }
      json_t *want = json_loads(text, JSON_DECODE_INT_AS_REAL, NULL);
      int64_t n = col->offsets[r + 1] - col->offsets[r];
      if (rk_column_is_null(col, r) || (size_t)n != json_array_size(want))
        fail_msg("%s row %lld: DuckDB %s, reckon %lld elements", lists[c - 1], (long long)r, text, (long long)n);
      for (int64_t k = 0; k < n; k++) expect_same(json_array_get(want, (size_t)k), col->child, col->offsets[r] + k, lists[c - 1]);
      json_decref(want);
    }
  }
  rk_batch_free(&b);
  json_decref(j);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reckon_to_duckdb),
      cmocka_unit_test(test_duckdb_to_reckon),
      cmocka_unit_test(test_lists_to_duckdb),
      cmocka_unit_test(test_duckdb_lists_to_reckon),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
