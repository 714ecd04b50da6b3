/*
 * Shares of an input (rk_source_options.share / shares, what each rank of `mpirun reckon
 * preprocess` reads): for every number of shares, the shares' rows one after another are the
 * whole input's rows, each once, in order, with the same column types. CSV shares are byte
 * ranges moved to record starts (blank lines, quoted separators, no final newline, a BOM,
 * headerless files, more shares than rows); Parquet shares are blocks of row groups over a
 * folder's files. A compressed CSV cannot be split and says so.
 */
#include "support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reckon/io.h"
#include "reckon/parquet.h"

/* Every row of a source as text, "a|b|c\n" per row (null as \N), appended to *out. */
static void rows_as_text(rk_table_source *src, char **out, size_t *len, rk_coltype *types, int *ncols) {
  rk_batch b = {0};
  for (;;) {
    assert_rk_ok(src->next(src, &b));
    if (b.nrows == 0) break;
    *ncols = b.ncols;
    for (int c = 0; c < b.ncols; c++) types[c] = b.cols[c].type;
    for (int64_t r = 0; r < b.nrows; r++) {
      for (int c = 0; c < b.ncols; c++) {
        char cell[256];
        const rk_column *col = &b.cols[c];
        if (rk_column_is_null(col, r)) {
          snprintf(cell, sizeof cell, "\\N");
        } else if (col->type == RK_COL_INT64) {
          snprintf(cell, sizeof cell, "%lld", (long long)((const int64_t *)col->values)[r]);
        } else if (col->type == RK_COL_FLOAT64) {
          snprintf(cell, sizeof cell, "%.17g", ((const double *)col->values)[r]);
        } else {
          size_t n;
          const char *s = rk_column_get_string(col, r, &n);
          snprintf(cell, sizeof cell, "%.*s", (int)n, s);
        }
        size_t k = strlen(cell);
        *out = realloc(*out, *len + k + 2);
        assert_non_null(*out);
        memcpy(*out + *len, cell, k);
        *len += k;
        (*out)[(*len)++] = c + 1 < b.ncols ? '|' : '\n';
        (*out)[*len] = '\0';
      }
    }
  }
  rk_batch_free(&b);
}

/* The whole input's rows, then for shares = 1..max the shares' rows concatenated: equal. */
static void expect_shares_cover(const char *path, const rk_source_options *base, int max) {
  char *whole = NULL;
  size_t whole_len = 0;
  rk_coltype whole_types[16], types[16];
  int whole_cols = 0, ncols = 0;
  rk_table_source *src;
  assert_rk_ok(rk_source_open(&src, path, base));
  rows_as_text(src, &whole, &whole_len, whole_types, &whole_cols);
  src->close(src);
  for (int n = 2; n <= max; n++) {
    char *joined = NULL;
    size_t len = 0;
    for (int s = 0; s < n; s++) {
      rk_source_options o = *base;
      o.share = s;
      o.shares = n;
      assert_rk_ok(rk_source_open(&src, path, &o));
      ncols = 0;
      rows_as_text(src, &joined, &len, types, &ncols);
      src->close(src);
      for (int c = 0; c < ncols; c++)
        if (types[c] != whole_types[c]) fail_msg("%s: share %d of %d reads column %d as %s, the whole as %s", path, s, n, c,
                                                 rk_coltype_name(types[c]), rk_coltype_name(whole_types[c]));
    }
    if (len != whole_len || (len && memcmp(joined, whole, len) != 0))
      fail_msg("%s: %d shares give\n%s\nthe whole file\n%s", path, n, joined ? joined : "", whole ? whole : "");
    free(joined);
  }
  free(whole);
}

static const char *write_text(const char *name, const char *text) {
  const char *path = rk_test_path(rk_test_tmpdir("source_shares"), name);
  rk_test_write_file(path, text);
  return path;
}

static void test_csv_shares(void **state) {
  (void)state;
  static const char *const texts[] = {
      "id,name,x\n1,a,0.5\n2,bb,1.5\n3,ccc,2.5\n4,dddd,3.5\n5,e,4.5\n6,ff,5.5\n7,g,6.5\n",
      "id,name,x\n1,a,0.5\n\n2,\"b,b\",1.5\n\n\n3,,2.5\n4,\"d\"\"d\",\n5,e,4.5",   /* blank lines, quotes, no final LF */
      "\xEF\xBB\xBFid,name,x\n10,a,1\n20,b,2\n30,c,3\n",                          /* BOM */
      "id,name,x\n1,a,0.5\n",                                                   /* fewer rows than shares */
      "id,name,x\n",                                                            /* the header alone */
  };
  for (size_t k = 0; k < sizeof texts / sizeof *texts; k++) {
    rk_source_options o;
    rk_source_options_default(&o);
    expect_shares_cover(write_text("t.csv", texts[k]), &o, 7);
  }
  /* no header: the first line is data, and still read once */
  rk_source_options o;
  rk_source_options_default(&o);
  o.csv_no_header = true;
  expect_shares_cover(write_text("h.csv", "1,a\n2,b\n3,c\n4,d\n5,e\n"), &o, 5);
}

/* A longer file, rows of varied widths, so boundaries land everywhere in a record. */
static void test_csv_shares_long(void **state) {
  (void)state;
  size_t cap = 1 << 16, len = 0;
  char *text = malloc(cap);
  assert_non_null(text);
  len += (size_t)snprintf(text + len, cap - len, "user,item,price\n");
  for (int r = 0; r < 1500 && len + 64 < cap; r++)
    len += (size_t)snprintf(text + len, cap - len, "u%d,%d,%d.%d\n", r * 7919 % 1000, r % (1 + r % 97), r, r % 10);
  rk_source_options o;
  rk_source_options_default(&o);
  expect_shares_cover(write_text("long.csv", text), &o, 9);
  free(text);
}

/* Two files of 3 and 4 row groups: shares are blocks of the 7 groups, over the files in order. */
static void test_parquet_shares(void **state) {
  (void)state;
  const char *dir = rk_test_tmpdir("source_shares_pq");
  for (int f = 0; f < 2; f++) {
    rk_batch b = {0};
    assert_rk_ok(rk_batch_init(&b, 2));
    assert_rk_ok(rk_column_init(&b.cols[0], "id", RK_COL_INT64, RK_COL_INT64));
    assert_rk_ok(rk_column_init(&b.cols[1], "name", RK_COL_STRING, RK_COL_INT64));
    int rows = f == 0 ? 30 : 40;
    for (int r = 0; r < rows; r++) {
      char name[32];
      snprintf(name, sizeof name, "n%d_%d", f, r);
      assert_rk_ok(rk_column_append_int(&b.cols[0], f * 1000 + r));
      assert_rk_ok(rk_column_append_string(&b.cols[1], name, strlen(name)));
    }
    b.nrows = rows;
    rk_parquet_write_options wo;
    rk_parquet_write_options_default(&wo);
    wo.row_group_rows = 10;
    rk_parquet_writer *w;
    char file[64];
    snprintf(file, sizeof file, "part_%d.parquet", f);
    assert_rk_ok(rk_parquet_writer_open(&w, rk_test_path(dir, file), &wo));
    assert_rk_ok(rk_parquet_writer_write(w, &b));
    assert_rk_ok(rk_parquet_writer_close(w));
    rk_batch_free(&b);
  }
  rk_source_options o;
  rk_source_options_default(&o);
  expect_shares_cover(dir, &o, 9);   /* 8 and 9 shares: some get no row group */
  /* a share's total_rows counts its own groups only */
  int64_t total = 0;
  for (int s = 0; s < 3; s++) {
    rk_table_source *src;
    o.share = s;
    o.shares = 3;
    assert_rk_ok(rk_source_open(&src, dir, &o));
    total += src->total_rows(src);
    src->close(src);
  }
  assert_int_equal(total, 70);
}

static void test_compressed_csv_refused(void **state) {
  (void)state;
  const char *dir = rk_test_tmpdir("source_shares_gz");
  const char *plain = rk_test_path(dir, "t.csv");
  rk_test_write_file(plain, "id\n1\n2\n3\n");
  assert_int_equal(rk_test_system("gzip -kf '%s'", plain), 0);
  rk_source_options o;
  rk_source_options_default(&o);
  o.share = 1;
  o.shares = 2;
  rk_table_source *src = NULL;
  char gz[4200];
  snprintf(gz, sizeof gz, "%s.gz", plain);
  assert_int_equal(rk_source_open(&src, gz, &o), RK_EUNSUPPORTED);
  assert_null(src);
  assert_non_null(strstr(rk_error_message(), "compressed"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_csv_shares),
      cmocka_unit_test(test_csv_shares_long),
      cmocka_unit_test(test_parquet_shares),
      cmocka_unit_test(test_compressed_csv_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
