/*
 * Parquet against DuckDB (the peer). DuckDB writes files with every codec it has, v1 pages with
 * dictionaries and v2 pages with the DELTA encodings and no dictionary, nulls, lists, dates,
 * timestamps in three units and decimals of three widths; reckon reads the same values DuckDB
 * reports for its own query. Then reckon writes, and DuckDB reads the same values and the same
 * statistics (parquet_metadata()). DuckDB runs through bench/peers/duckdb_query.js (Node,
 * @duckdb/node-api from scripts/install-deps.sh --peers); skips when the peer is missing.
 */
#include "support.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reckon/parquet.h"

/* A list slot as DuckDB's to_json prints it. */
static void list_json(char *buf, size_t size, const rk_column *col, int64_t row) {
  size_t n = 0;
  n += (size_t)snprintf(buf + n, size - n, "[");
  for (int64_t k = col->offsets[row]; k < col->offsets[row + 1]; k++) {
    if (k > col->offsets[row]) n += (size_t)snprintf(buf + n, size - n, ",");
    if (col->child->type == RK_COL_STRING) {
      size_t len;
      const char *s = rk_column_get_string(col->child, k, &len);
      n += (size_t)snprintf(buf + n, size - n, "\"%.*s\"", (int)len, s);
    } else {
      n += (size_t)snprintf(buf + n, size - n, "%lld", (long long)rk_column_get_int(col->child, k));
    }
  }
  snprintf(buf + n, size - n, "]");
}

static void expect_same(const json_t *v, const rk_column *col, int64_t row, const char *what) {
  if (json_is_null(v)) {
    if (!rk_column_is_null(col, row)) fail_msg("%s row %lld: DuckDB has NULL, reckon has a value", what, (long long)row);
    return;
  }
  if (rk_column_is_null(col, row)) fail_msg("%s row %lld: reckon has NULL, DuckDB has a value", what, (long long)row);
  if (col->type == RK_COL_LIST) {
    char buf[4096];
    list_json(buf, sizeof buf, col, row);
    if (!json_is_string(v) || strcmp(json_string_value(v), buf) != 0)
      fail_msg("%s row %lld: DuckDB %s, reckon %s", what, (long long)row, json_string_value(v), buf);
  } else if (col->type == RK_COL_STRING) {
    size_t n;
    const char *s = rk_column_get_string(col, row, &n);
    if (!json_is_string(v) || json_string_length(v) != n || memcmp(json_string_value(v), s, n) != 0)
      fail_msg("%s row %lld: DuckDB '%s', reckon '%.*s'", what, (long long)row, json_string_value(v), (int)n, s);
  } else if (rk_coltype_is_float(col->type)) {
    double got = rk_column_get_double(col, row), want = json_number_value(v);
    if (col->type == RK_COL_FLOAT32) want = (float)want;
    if (got != want) fail_msg("%s row %lld: DuckDB %.17g, reckon %.17g", what, (long long)row, want, got);
  } else if (json_is_boolean(v)) {
    if (rk_column_get_int(col, row) != (json_is_true(v) ? 1 : 0)) fail_msg("%s row %lld: boolean differs", what, (long long)row);
  } else if (col->type == RK_COL_UINT64) {
    unsigned long long want = json_is_string(v) ? strtoull(json_string_value(v), NULL, 10) : (unsigned long long)json_integer_value(v);
    if ((uint64_t)rk_column_get_int(col, row) != want) fail_msg("%s row %lld: DuckDB %llu", what, (long long)row, want);
  } else {
    long long want = json_is_string(v) ? strtoll(json_string_value(v), NULL, 10)
                     : json_is_integer(v) ? (long long)json_integer_value(v) : (long long)json_number_value(v);
    if (rk_column_get_int(col, row) != want)
      fail_msg("%s row %lld: DuckDB %lld, reckon %lld", what, (long long)row, want, (long long)rk_column_get_int(col, row));
  }
}

#define ROWS 4500
static const char *gen =
    "SELECT i AS id, CASE WHEN i%9=1 THEN NULL ELSE i%2=0 END AS b, (i%200-100)::TINYINT AS i8, "
    "(i*37%60000-30000)::SMALLINT AS i16, CASE WHEN i%11=2 THEN NULL ELSE (i*7919%2000003-1000000)::INTEGER END AS i32, "
    "(i*1000003-7)::BIGINT AS i64, (i%250)::UTINYINT AS u8, (i*13%65000)::USMALLINT AS u16, "
    "(i*2654435761 % 4294967295)::UINTEGER AS u32, (i*1000000007+18000000000000000000)::UBIGINT AS u64, "
    "(i/7.0)::FLOAT AS f32, CASE WHEN i%13=0 THEN NULL ELSE (i*0.37-123.4567)::DOUBLE END AS f64, "
    "CASE WHEN i%7=0 THEN NULL WHEN i%7=1 THEN '' ELSE 'v' || (i%50) || 'ü' END AS s, "
    "DATE '1960-01-01' + (i*7)::INTEGER AS dt, TIMESTAMP '2001-02-03 04:05:06.789' + to_microseconds(i*1234567) AS ts, "
    "(TIMESTAMP '1969-02-03' + to_milliseconds(i*1000))::TIMESTAMP_MS AS tsms, "
    "(TIMESTAMP '2001-02-03' + to_microseconds(i*17))::TIMESTAMP_NS AS tsns, "
    "(i/3.0-50)::DECIMAL(9,2) AS d32, (i*1.25-7)::DECIMAL(18,4) AS d64, (i*1.5-3)::DECIMAL(30,5) AS d128, "
    "CASE WHEN i%6=0 THEN NULL WHEN i%6=1 THEN [] ELSE [i, i*2, -i] END AS li, "
    "CASE WHEN i%5=0 THEN NULL ELSE ['a'||(i%3), 'b'] END AS ls "
    "FROM range(4500) t(i) ORDER BY i";
static const char *dump =
    "SELECT id, b, i8, i16, i32, i64, u8, u16, u32, u64, f32, f64, s, dt - DATE '1970-01-01', epoch_us(ts), "
    "epoch_ms(tsms), epoch_ns(tsns), d32::DOUBLE, d64::DOUBLE, d128::DOUBLE, to_json(li)::VARCHAR, to_json(ls)::VARCHAR "
    "FROM (%s) ORDER BY id";

static void test_duckdb_writes(void **state) {
  (void)state;
  if (!rk_test_have_duckdb()) skip();
  char dir[2048];
  snprintf(dir, sizeof dir, "%s", rk_test_tmpdir("parquet_duckdb_read"));
  const char *configs[] = {"COMPRESSION snappy", "COMPRESSION zstd", "COMPRESSION gzip", "COMPRESSION uncompressed",
                           "COMPRESSION snappy, PARQUET_VERSION V2, DICTIONARY_SIZE_LIMIT 1",
                           "COMPRESSION zstd, PARQUET_VERSION V2", "COMPRESSION brotli", "COMPRESSION lz4"};
  enum { NCONF = 8 };
  static char copies[NCONF][8192];
  const char *sql[NCONF + 1];
  for (int k = 0; k < NCONF; k++) {
    snprintf(copies[k], sizeof copies[k], "COPY (%s) TO '%s/d%d.parquet' (FORMAT parquet, ROW_GROUP_SIZE 2048, %s)", gen, dir, k,
             configs[k]);
    sql[k] = copies[k];
  }
  static char q[8192];
  snprintf(q, sizeof q, dump, gen);
  sql[NCONF] = q;
  json_t *j = rk_test_duckdb(dir, NCONF + 1, sql, 0);
  json_t *rows = json_object_get(j, "rows");
  assert_int_equal(json_array_size(rows), ROWS);
  static const rk_coltype want_types[] = {RK_COL_INT64, RK_COL_UINT8, RK_COL_INT8, RK_COL_INT16, RK_COL_INT32, RK_COL_INT64,
                                          RK_COL_UINT8, RK_COL_UINT16, RK_COL_UINT32, RK_COL_UINT64, RK_COL_FLOAT32,
                                          RK_COL_FLOAT64, RK_COL_STRING, RK_COL_INT32, RK_COL_INT64, RK_COL_INT64, RK_COL_INT64,
                                          RK_COL_FLOAT64, RK_COL_FLOAT64, RK_COL_FLOAT64, RK_COL_LIST, RK_COL_LIST};
  for (int k = 0; k < NCONF; k++) {
    char path[2300];
    snprintf(path, sizeof path, "%s/d%d.parquet", dir, k);
    rk_batch b = {0};
    rk_status s = rk_parquet_read_all(path, NULL, &b);
    if (s != RK_OK) fail_msg("%s (%s): %s", path, configs[k], rk_error_message());
    assert_int_equal(b.nrows, ROWS);
    assert_int_equal(b.ncols, 22);
    for (int c = 0; c < b.ncols; c++) {
      if (b.cols[c].type != want_types[c]) fail_msg("%s: column '%s' read as %s", configs[k], b.cols[c].name, rk_coltype_name(b.cols[c].type));
      for (int64_t r = 0; r < ROWS; r++) {
        char what[256];
        snprintf(what, sizeof what, "%s column '%s'", configs[k], b.cols[c].name);
        expect_same(json_array_get(json_array_get(rows, (size_t)r), (size_t)c), &b.cols[c], r, what);
      }
    }
    rk_parquet_reader *rd;
    assert_rk_ok(rk_parquet_open(&rd, path, NULL));
    assert_true(rk_parquet_num_row_groups(rd) >= 2);
    assert_int_equal(rk_parquet_column(rd, 13)->logical, RK_PARQUET_LOGICAL_DATE);
    assert_int_equal(rk_parquet_column(rd, 14)->logical, RK_PARQUET_LOGICAL_TIMESTAMP_US);
    assert_int_equal(rk_parquet_column(rd, 15)->logical, RK_PARQUET_LOGICAL_TIMESTAMP_MS);
    assert_int_equal(rk_parquet_column(rd, 16)->logical, RK_PARQUET_LOGICAL_TIMESTAMP_NS);
    assert_int_equal(rk_parquet_column(rd, 19)->logical, RK_PARQUET_LOGICAL_DECIMAL);
    assert_int_equal(rk_parquet_column(rd, 19)->decimal_scale, 5);
    rk_parquet_close(rd);
    rk_batch_free(&b);
  }
  json_decref(j);
}

static void test_reckon_writes(void **state) {
  (void)state;
  if (!rk_test_have_duckdb()) skip();
  char dir[2048];
  snprintf(dir, sizeof dir, "%s", rk_test_tmpdir("parquet_duckdb_write"));
  enum { N = 1500, NC = 10 };
  const char *names[NC] = {"id", "i32", "i64", "u8", "u64", "f32", "f64", "s", "li", "ls"};
  rk_coltype types[NC] = {RK_COL_INT64, RK_COL_INT32, RK_COL_INT64, RK_COL_UINT8, RK_COL_UINT64,
                          RK_COL_FLOAT32, RK_COL_FLOAT64, RK_COL_STRING, RK_COL_LIST, RK_COL_LIST};
  rk_coltype elems[NC] = {[8] = RK_COL_INT32, [9] = RK_COL_STRING};
  rk_batch b;
  assert_rk_ok(rk_batch_init(&b, NC));
  for (int c = 0; c < NC; c++) assert_rk_ok(rk_column_init(&b.cols[c], names[c], types[c], elems[c]));
  rk_rng rng;
  rk_rng_init(&rng, 3, 0);
  for (int64_t r = 0; r < N; r++) {
    uint64_t u = rk_rng_u64(&rng);
    assert_rk_ok(rk_column_append_int(&b.cols[0], r));
    if (r % 11 == 3) assert_rk_ok(rk_column_append_null(&b.cols[1]));
    else assert_rk_ok(rk_column_append_int(&b.cols[1], (int32_t)u));
    assert_rk_ok(rk_column_append_int(&b.cols[2], (int64_t)(u % 1000) - 500));
    assert_rk_ok(rk_column_append_uint(&b.cols[3], u % 256));
    assert_rk_ok(rk_column_append_uint(&b.cols[4], u));
    assert_rk_ok(rk_column_append_double(&b.cols[5], (float)rk_rng_normal(&rng)));
    if (r % 13 == 5) assert_rk_ok(rk_column_append_null(&b.cols[6]));
    else assert_rk_ok(rk_column_append_double(&b.cols[6], rk_rng_normal(&rng) * 1e6));
    char s[64];
    int n = snprintf(s, sizeof s, "k%llu", (unsigned long long)(u % 300));
    if (r % 17 == 2) assert_rk_ok(rk_column_append_null(&b.cols[7]));
    else assert_rk_ok(rk_column_append_string(&b.cols[7], s, (size_t)n));
    if (r % 7 == 0) {
      assert_rk_ok(rk_column_append_null(&b.cols[8]));
      assert_rk_ok(rk_column_append_null(&b.cols[9]));
    } else {
      for (int k = 0; k < (int)(u % 4); k++) {
        assert_rk_ok(rk_column_append_int(b.cols[8].child, (int32_t)(u >> (8 * k)) % 1000));
        n = snprintf(s, sizeof s, "t%d", (int)((u >> k) % 20));
        assert_rk_ok(rk_column_append_string(b.cols[9].child, s, (size_t)n));
      }
      assert_rk_ok(rk_column_finish_list_row(&b.cols[8]));
      assert_rk_ok(rk_column_finish_list_row(&b.cols[9]));
    }
  }
  b.nrows = N;
  char p0[2300], p1[2300];
  snprintf(p0, sizeof p0, "%s/r0.parquet", dir);
  snprintf(p1, sizeof p1, "%s/r1.parquet", dir);
  rk_parquet_write_options o;
  rk_parquet_write_options_default(&o);
  o.row_group_rows = 500;
  assert_rk_ok(rk_parquet_write(p0, &b, &o));
  o.dictionary = false;
  o.data_page_v2 = true;
  o.compression = "zstd";
  o.page_bytes = 2000;
  assert_rk_ok(rk_parquet_write(p1, &b, &o));

  for (int f = 0; f < 2; f++) {
    const char *p = f ? p1 : p0;
    char q[4096];
    snprintf(q, sizeof q,
             "SELECT id, i32, i64, u8, u64, f32, f64, s, to_json(li)::VARCHAR, to_json(ls)::VARCHAR FROM read_parquet('%s')", p);
    const char *sql[] = {q};
    json_t *j = rk_test_duckdb(dir, 1, sql, 0);
    json_t *rows = json_object_get(j, "rows");
    assert_int_equal(json_array_size(rows), N);
    for (int64_t r = 0; r < N; r++)
      for (int c = 0; c < NC; c++) expect_same(json_array_get(json_array_get(rows, (size_t)r), (size_t)c), &b.cols[c], r, names[c]);
    json_decref(j);
    /* the statistics DuckDB sees are the ones reckon reports */
    snprintf(q, sizeof q,
             "SELECT row_group_id, column_id, stats_min_value, stats_max_value, stats_null_count FROM parquet_metadata('%s') "
             "ORDER BY row_group_id, column_id", p);
    j = rk_test_duckdb(dir, 1, sql, 0);
    rows = json_object_get(j, "rows");
    assert_int_equal(json_array_size(rows), 3 * NC);
    rk_parquet_reader *rd;
    assert_rk_ok(rk_parquet_open(&rd, p, NULL));
    for (size_t i = 0; i < json_array_size(rows); i++) {
      json_t *row = json_array_get(rows, i);
      int g = (int)strtol(json_string_value(json_array_get(row, 0)), NULL, 10);
      int c = (int)strtol(json_string_value(json_array_get(row, 1)), NULL, 10);
      rk_parquet_stats st;
      assert_rk_ok(rk_parquet_statistics(&st, rd, g, c));
      const char *mn = json_string_value(json_array_get(row, 2)), *mx = json_string_value(json_array_get(row, 3));
      long long nulls = strtoll(json_string_value(json_array_get(row, 4)), NULL, 10);
      assert_int_equal(nulls, st.null_count);
      assert_non_null(mn);
      assert_non_null(mx);
      rk_coltype t = types[c] == RK_COL_LIST ? elems[c] : types[c];
      if (t == RK_COL_STRING) {
        if (strlen(mn) != st.min_len || memcmp(mn, st.min, st.min_len) != 0 || strlen(mx) != st.max_len ||
            memcmp(mx, st.max, st.max_len) != 0)
          fail_msg("column '%s' row group %d: DuckDB sees min/max '%s'/'%s'", names[c], g, mn, mx);
      } else if (rk_coltype_is_float(t)) {
        if (fabs(strtod(mn, NULL) - st.min_f) > 1e-5 * fabs(st.min_f) || fabs(strtod(mx, NULL) - st.max_f) > 1e-5 * fabs(st.max_f))
          fail_msg("column '%s' row group %d: DuckDB sees %s..%s, reckon %g..%g", names[c], g, mn, mx, st.min_f, st.max_f);
      } else if (t == RK_COL_UINT64) {
        assert_true(strtoull(mn, NULL, 10) == (uint64_t)st.min_i && strtoull(mx, NULL, 10) == (uint64_t)st.max_i);
      } else {
        if (strtoll(mn, NULL, 10) != st.min_i || strtoll(mx, NULL, 10) != st.max_i)
          fail_msg("column '%s' row group %d: DuckDB sees %s..%s, reckon %lld..%lld", names[c], g, mn, mx, (long long)st.min_i,
                   (long long)st.max_i);
      }
    }
    rk_parquet_close(rd);
    json_decref(j);
  }
  rk_batch_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_duckdb_writes),
      cmocka_unit_test(test_reckon_writes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
