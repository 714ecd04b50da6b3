/*
 * The CSV writer and the table-sink door: write-then-read is identity for every column type
 * (nulls, awkward strings, floats bit for bit) in plain, gzip and zstd; exact text for quoting
 * and shortest floats; the temporary name, rename and abort; dispatch by extension; and
 * allocation-failure injection.
 */
#include "support.h"

#include <dirent.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reckon/io.h"

static const char *const type_names[] = {"i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64", "f32", "f64", "s"};
static const rk_coltype types[] = {RK_COL_INT8,   RK_COL_INT16,   RK_COL_INT32,   RK_COL_INT64,
                                   RK_COL_UINT8,  RK_COL_UINT16,  RK_COL_UINT32,  RK_COL_UINT64,
                                   RK_COL_FLOAT32, RK_COL_FLOAT64, RK_COL_STRING};
enum { NTYPES = 11 };

/* A batch of every type with nulls, extremes, awkward strings and random floats. */
static void make_batch(rk_batch *b, int64_t rows, uint64_t seed) {
  assert_rk_ok(rk_batch_init(b, NTYPES));
  for (int c = 0; c < NTYPES; c++) assert_rk_ok(rk_column_init(&b->cols[c], type_names[c], types[c], RK_COL_INT64));
  rk_rng rng;
  rk_rng_init(&rng, seed, 1);
  static const char *strs[] = {"", "plain", "a,b", "say \"hi\"", "two\nlines", "cr\r\nlf", "\\N", " pad ", "\t", "ünï"};
  for (int64_t r = 0; r < rows; r++) {
    for (int c = 0; c < NTYPES; c++) {
      rk_column *col = &b->cols[c];
      if (rk_rng_bernoulli(&rng, 0.05)) {
        assert_rk_ok(rk_column_append_null(col));
        continue;
      }
      uint64_t u = rk_rng_u64(&rng);
      switch (types[c]) {
        case RK_COL_INT8: assert_rk_ok(rk_column_append_int(col, (int8_t)u)); break;
        case RK_COL_INT16: assert_rk_ok(rk_column_append_int(col, (int16_t)u)); break;
        case RK_COL_INT32: assert_rk_ok(rk_column_append_int(col, (int32_t)u)); break;
        case RK_COL_INT64: assert_rk_ok(rk_column_append_int(col, r == 0 ? INT64_MIN : (int64_t)u)); break;
        case RK_COL_UINT8: assert_rk_ok(rk_column_append_int(col, (uint8_t)u)); break;
        case RK_COL_UINT16: assert_rk_ok(rk_column_append_int(col, (uint16_t)u)); break;
        case RK_COL_UINT32: assert_rk_ok(rk_column_append_int(col, (uint32_t)u)); break;
        case RK_COL_UINT64: assert_rk_ok(rk_column_append_uint(col, r == 0 ? UINT64_MAX : u)); break;
        case RK_COL_FLOAT32: {
          uint32_t bits = (uint32_t)u;
          float f;
          memcpy(&f, &bits, 4);
          if (!isfinite(f)) f = (float)rk_rng_normal(&rng);
          assert_rk_ok(rk_column_append_double(col, r % 3 ? (double)f : (double)(float)rk_rng_uniform(&rng)));
          break;
        }
        case RK_COL_FLOAT64: {
          double d;
          memcpy(&d, &u, 8);
          if (!isfinite(d)) d = rk_rng_normal(&rng);
          if (r % 4 == 1) d = (double)(int64_t)(rk_rng_normal(&rng) * 1000) / 100;
          if (r == 2) d = DBL_MAX;   /* the extreme that still reads back (inf is refused: test_non_finite) */
          if (r == 3) d = -0.0;
          assert_rk_ok(rk_column_append_double(col, d));
          break;
        }
        default: {
          const char *s = strs[u % 10];
          assert_rk_ok(rk_column_append_string(col, s, strlen(s)));
          break;
        }
      }
    }
  }
  b->nrows = rows;
}

static void write_batches(const char *path, const rk_sink_options *opts, const rk_batch *b, int parts) {
  rk_table_sink *sink;
  assert_rk_ok(rk_sink_open(&sink, path, opts));
  /* the batch in `parts` slices, to cross batch boundaries */
  int64_t step = (b->nrows + parts - 1) / parts;
  for (int64_t at = 0; at < b->nrows; at += step) {
    int64_t n = at + step < b->nrows ? step : b->nrows - at;
    rk_batch part;
    assert_rk_ok(rk_batch_init(&part, b->ncols));
    for (int c = 0; c < b->ncols; c++) {
      assert_rk_ok(rk_column_init(&part.cols[c], b->cols[c].name, b->cols[c].type, RK_COL_INT64));
      assert_rk_ok(rk_column_append_column(&part.cols[c], &b->cols[c], at, at + n));
    }
    part.nrows = n;
    assert_rk_ok(rk_sink_write(sink, &part));
    rk_batch_free(&part);
  }
  assert_rk_ok(rk_sink_close(sink));
}

static void test_roundtrip(void **state) {
  (void)state;
  const char *dir = rk_test_tmpdir("csv_write_roundtrip");
  rk_batch b;
  int64_t rows = rk_test_sanitized() ? 3000 : 20000;
  make_batch(&b, rows, 3);
  const char *exts[] = {"t.csv", "t.csv.gz", "t.csv.zst", "t.tsv", "t.tsv.zst"};
  const char *na_texts[] = {"", "\\N"};
  for (int k = 0; k < 5; k++) {
    for (int m = 0; m < 2; m++) {
      char path[4096];
      snprintf(path, sizeof path, "%s/%s", dir, exts[k]);
      rk_sink_options so;
      rk_sink_options_default(&so);
      so.na_value = na_texts[m];
      write_batches(path, &so, &b, 3);
      rk_csv_options o;
      rk_csv_options_default(&o);
      o.typed_names = type_names;
      o.typed_types = types;
      o.n_typed = NTYPES;
      o.na_values = &na_texts[m];
      o.n_na_values = 1;
      if (strstr(exts[k], ".tsv")) o.sep = '\t';
      rk_batch got;
      assert_rk_ok(rk_csv_read_all(path, &o, &got));
      assert_int_equal(got.nrows, b.nrows);
      for (int c = 0; c < NTYPES; c++) {
        if (rk_column_equal(&got.cols[c], &b.cols[c])) continue;
        for (int64_t r = 0; r < b.nrows; r++) {
          if (rk_column_is_null(&got.cols[c], r) != rk_column_is_null(&b.cols[c], r) ||
              (types[c] != RK_COL_STRING && rk_column_get_double(&got.cols[c], r) != rk_column_get_double(&b.cols[c], r)))
            fail_msg("%s na '%s' column %s row %lld: got %.17g want %.17g", exts[k], na_texts[m], type_names[c],
                     (long long)r, rk_column_get_double(&got.cols[c], r), rk_column_get_double(&b.cols[c], r));
        }
        fail_msg("%s na '%s': column %s differs", exts[k], na_texts[m], type_names[c]);
      }
      rk_batch_free(&got);
    }
  }
  rk_batch_free(&b);
}

static char *slurp(const char *path) {
  char *data;
  size_t n;
  assert_rk_ok(rk_read_file(path, &data, &n));
  return data;
}

static void test_text(void **state) {
  (void)state;
  const char *dir = rk_test_tmpdir("csv_write_text");
  rk_batch b;
  assert_rk_ok(rk_batch_init(&b, 4));
  assert_rk_ok(rk_column_init(&b.cols[0], "id", RK_COL_INT64, RK_COL_INT64));
  assert_rk_ok(rk_column_init(&b.cols[1], "name, quoted", RK_COL_STRING, RK_COL_INT64));
  assert_rk_ok(rk_column_init(&b.cols[2], "f64", RK_COL_FLOAT64, RK_COL_INT64));
  assert_rk_ok(rk_column_init(&b.cols[3], "f32", RK_COL_FLOAT32, RK_COL_INT64));
  const char *s[] = {"a\"b", "", "x,y", "NA"};
  double d[] = {0.1, 1.0 / 3, 1e300, -2.5};
  for (int i = 0; i < 4; i++) {
    assert_rk_ok(rk_column_append_int(&b.cols[0], i - 1));
    assert_rk_ok(rk_column_append_string(&b.cols[1], s[i], strlen(s[i])));
    assert_rk_ok(rk_column_append_double(&b.cols[2], d[i]));
    assert_rk_ok(rk_column_append_double(&b.cols[3], (float)d[i]));
  }
  assert_rk_ok(rk_column_append_null(&b.cols[0]));
  assert_rk_ok(rk_column_append_null(&b.cols[1]));
  assert_rk_ok(rk_column_append_double(&b.cols[2], 100));
  assert_rk_ok(rk_column_append_null(&b.cols[3]));
  b.nrows = 5;
  char path[4096];
  snprintf(path, sizeof path, "%s/t.csv", dir);
  rk_sink_options so;
  rk_sink_options_default(&so);
  so.na_value = "NA";
  write_batches(path, &so, &b, 1);
  char *text = slurp(path);
  assert_string_equal(text,
                      "id,\"name, quoted\",f64,f32\n"
                      "-1,\"a\"\"b\",0.1,0.1\n"
                      "0,\"\",0.3333333333333333,0.33333334\n"
                      "1,\"x,y\",1e+300,inf\n"
                      "2,\"NA\",-2.5,-2.5\n"
                      "NA,NA,100,NA\n");
  rk_free(text);
  /* .tsv defaults to tabs */
  snprintf(path, sizeof path, "%s/t.tsv", dir);
  so.na_value = "";
  write_batches(path, &so, &b, 1);
  text = slurp(path);
  assert_non_null(strstr(text, "id\tname, quoted\tf64\tf32\n-1\t\"a\"\"b\"\t0.1\t0.1\n"));
  rk_free(text);
  rk_batch_free(&b);
}

static int count_files(const char *dir) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n;
}

static void test_temp_rename_abort(void **state) {
  (void)state;
  const char *dir = rk_test_tmpdir("csv_write_tmp");
  char path[4096];
  snprintf(path, sizeof path, "%s/out.csv.gz", dir);
  rk_batch b;
  make_batch(&b, 10, 1);
  rk_table_sink *sink;
  assert_rk_ok(rk_sink_open(&sink, path, NULL));
  assert_rk_ok(rk_sink_write(sink, &b));
  assert_int_equal(access(path, F_OK), -1);   /* not under the final name yet */
  assert_int_equal(count_files(dir), 1);      /* the temporary */
  assert_rk_ok(rk_sink_close(sink));
  assert_int_equal(access(path, F_OK), 0);
  assert_int_equal(count_files(dir), 1);
  /* abort: the earlier file stays as it was, no temporary is left */
  char *before = slurp(path);
  assert_rk_ok(rk_sink_open(&sink, path, NULL));
  assert_rk_ok(rk_sink_write(sink, &b));
  rk_sink_abort(sink);
  assert_int_equal(count_files(dir), 1);
  char *after = slurp(path);
  assert_string_equal(before, after);
  rk_free(before);
  rk_free(after);
  /* a second batch must match the first batch's columns */
  snprintf(path, sizeof path, "%s/two.csv", dir);
  assert_rk_ok(rk_sink_open(&sink, path, NULL));
  assert_rk_ok(rk_sink_write(sink, &b));
  rk_batch other;
  assert_rk_ok(rk_batch_init(&other, 1));
  assert_rk_ok(rk_column_init(&other.cols[0], "x", RK_COL_INT64, RK_COL_INT64));
  assert_int_equal(rk_sink_write(sink, &other), RK_ESHAPE);
  rk_sink_abort(sink);
  assert_int_equal(access(path, F_OK), -1);
  rk_batch_free(&other);
  rk_batch_free(&b);
}

static void test_dispatch(void **state) {
  (void)state;
  const char *dir = rk_test_tmpdir("csv_write_dispatch");
  char path[4096];
  rk_table_sink *sink = (rk_table_sink *)1;
  snprintf(path, sizeof path, "%s/t.parquet", dir);   /* the Parquet writer, aborted: no file */
  assert_rk_ok(rk_sink_open(&sink, path, NULL));
  assert_non_null(sink);
  rk_sink_abort(sink);
  snprintf(path, sizeof path, "%s/t.json", dir);
  assert_int_equal(rk_sink_open(&sink, path, NULL), RK_EUNSUPPORTED);
  assert_non_null(strstr(rk_error_message(), "unknown table format"));
  assert_int_equal(rk_sink_open(&sink, "/nonexistent/dir/t.csv", NULL), RK_EIO);
  assert_int_equal(count_files(dir), 0);
  /* an empty table still gets its file (no columns, no rows) */
  snprintf(path, sizeof path, "%s/empty.CSV", dir);
  assert_rk_ok(rk_sink_open(&sink, path, NULL));
  assert_rk_ok(rk_sink_close(sink));
  assert_int_equal(access(path, F_OK), 0);
}

static void test_alloc_failures(void **state) {
  (void)state;
  const char *dir = rk_test_tmpdir("csv_write_alloc");
  char path[4096];
  snprintf(path, sizeof path, "%s/a.csv.zst", dir);
  rk_batch b;
  make_batch(&b, 50, 9);
  int64_t start = rk_alloc_live_bytes();
  int failures = 0;
  for (int64_t n = 0; n < 1000; n++) {
    rk_alloc_fail_after(n);
    rk_table_sink *sink;
    rk_status s = rk_sink_open(&sink, path, NULL);
    if (s == RK_OK) {
      s = rk_sink_write(sink, &b);
      if (s == RK_OK) s = rk_sink_close(sink);
      else rk_sink_abort(sink);
    }
    bool fired = rk_alloc_fail_fired();
    rk_alloc_fail_after(-1);
    if (!fired) {
      assert_int_equal(s, RK_OK);
      break;
    }
    if (s != RK_ENOMEM) fail_msg("failure %lld: got %s '%s'", (long long)n, rk_status_name(s), rk_error_message());
    assert_int_equal(count_files(dir), 0);
    assert_int_equal(rk_alloc_live_bytes(), start);
    failures++;
  }
  assert_true(failures >= 5);
  assert_int_equal(count_files(dir), 1);
  rk_batch_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_roundtrip),
      cmocka_unit_test(test_text),
      cmocka_unit_test(test_temp_rename_abort),
      cmocka_unit_test(test_dispatch),
      cmocka_unit_test(test_alloc_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
