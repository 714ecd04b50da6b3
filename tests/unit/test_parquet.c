/*
 * Parquet write-then-read identity: every reckon column type (with nulls, lists of numbers and
 * strings), every codec reckon writes, dictionary on/off, data pages v1/v2, several row groups
 * and many pages; streaming per row group and capped batches, projection, key-value metadata,
 * statistics, the table sink, and datasets of many files in natural order.
 */
#include "support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/parquet/parquet_internal.h"
#include "reckon/io.h"
#include "reckon/parquet.h"

enum { NCOLS = 13 };
static const char *const names[NCOLS] = {"i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64", "f32", "f64", "s", "li", "ls"};
static const rk_coltype types[NCOLS] = {RK_COL_INT8, RK_COL_INT16, RK_COL_INT32, RK_COL_INT64, RK_COL_UINT8,
                                         RK_COL_UINT16, RK_COL_UINT32, RK_COL_UINT64, RK_COL_FLOAT32, RK_COL_FLOAT64,
                                         RK_COL_STRING, RK_COL_LIST, RK_COL_LIST};
static const rk_coltype elems[NCOLS] = {[11] = RK_COL_INT64, [12] = RK_COL_STRING};

/* A batch of `rows` rows over every type; `distinct` bounds the number of different values. */
static void make_batch(rk_batch *b, int64_t rows, uint64_t seed, int64_t distinct) {
  assert_rk_ok(rk_batch_init(b, NCOLS));
  for (int c = 0; c < NCOLS; c++) assert_rk_ok(rk_column_init(&b->cols[c], names[c], types[c], elems[c]));
  rk_rng rng;
  rk_rng_init(&rng, seed, 0);
  char s[64];
  for (int64_t r = 0; r < rows; r++) {
    uint64_t u = rk_rng_u64(&rng);
    if (distinct > 0) u %= (uint64_t)distinct;
    for (int c = 0; c < NCOLS; c++) {
      rk_column *col = &b->cols[c];
      if ((r * 7 + c) % 11 == 3) {
        assert_rk_ok(rk_column_append_null(col));
        continue;
      }
      switch (types[c]) {
        case RK_COL_INT8: assert_rk_ok(rk_column_append_int(col, (int8_t)u)); break;
        case RK_COL_INT16: assert_rk_ok(rk_column_append_int(col, (int16_t)u)); break;
        case RK_COL_INT32: assert_rk_ok(rk_column_append_int(col, (int32_t)u)); break;
        case RK_COL_INT64: assert_rk_ok(rk_column_append_int(col, (int64_t)(u * 0x9E3779B97F4A7C15ull))); break;
        case RK_COL_UINT8: assert_rk_ok(rk_column_append_uint(col, (uint8_t)u)); break;
        case RK_COL_UINT16: assert_rk_ok(rk_column_append_uint(col, (uint16_t)(u * 977))); break;
        case RK_COL_UINT32: assert_rk_ok(rk_column_append_uint(col, (uint32_t)(u * 2654435761u))); break;
        case RK_COL_UINT64: assert_rk_ok(rk_column_append_uint(col, u * 0xD1B54A32D192ED03ull)); break;
        case RK_COL_FLOAT32: assert_rk_ok(rk_column_append_double(col, (float)((double)u / 7.0 - 3.0))); break;
        case RK_COL_FLOAT64:
          assert_rk_ok(rk_column_append_double(col, u % 97 == 5 ? NAN : (double)u * 1e-3 - 17.25));
          break;
        case RK_COL_STRING: {
          int n = snprintf(s, sizeof s, "v%llu-%s", (unsigned long long)u, u % 5 == 0 ? "" : "ünïcode");
          if (u % 13 == 0) n = 0;   /* empty strings are values, not nulls */
          assert_rk_ok(rk_column_append_string(col, s, (size_t)n));
          break;
        }
        default: {
          int len = (int)(u % 5);   /* 0: an empty list */
          for (int k = 0; k < len; k++) {
            if (elems[c] == RK_COL_INT64) {
              assert_rk_ok(rk_column_append_int(col->child, (int64_t)(u + (uint64_t)k) - 2));
            } else {
              int n = snprintf(s, sizeof s, "e%llu", (unsigned long long)(u + (uint64_t)k) % 50);
              assert_rk_ok(rk_column_append_string(col->child, s, (size_t)n));
            }
          }
          assert_rk_ok(rk_column_finish_list_row(col));
        }
      }
    }
  }
  b->nrows = rows;
}

static void expect_batch_equal(const rk_batch *a, const rk_batch *b, int64_t a_begin) {
  assert_int_equal(a->ncols, b->ncols);
  for (int c = 0; c < a->ncols; c++) {
    rk_column part;
    assert_rk_ok(rk_column_init(&part, a->cols[c].name, a->cols[c].type, a->cols[c].child ? a->cols[c].child->type : RK_COL_INT64));
    assert_rk_ok(rk_column_append_column(&part, &a->cols[c], a_begin, a_begin + b->nrows));
    assert_string_equal(part.name, b->cols[c].name);
    if (!rk_column_equal(&part, &b->cols[c]))
      fail_msg("column '%s' differs after the round trip (rows %lld..)", part.name, (long long)a_begin);
    rk_column_free(&part);
  }
}

static const char *tmp_file(const char *dir, const char *name) {
  static char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  return path;
}

static void roundtrip(const char *codec, bool dict, bool v2, int64_t rows, int64_t rg_rows, int64_t page_bytes) {
  if (rk_test_sanitized() && rows > 1000) rows /= 2;
  char dir[2048];
  snprintf(dir, sizeof dir, "%s", rk_test_tmpdir("parquet_roundtrip"));
  const char *path = tmp_file(dir, "t.parquet");
  rk_batch b;
  make_batch(&b, rows, 42, dict ? 300 : 0);
  rk_parquet_write_options o;
  rk_parquet_write_options_default(&o);
  o.compression = codec;
  o.dictionary = dict;
  o.data_page_v2 = v2;
  o.row_group_rows = rg_rows;
  o.page_bytes = page_bytes;
  assert_rk_ok(rk_parquet_write(path, &b, &o));
  /* whole file */
  rk_batch all = {0};
  assert_rk_ok(rk_parquet_read_all(path, NULL, &all));
  assert_int_equal(all.nrows, rows);
  expect_batch_equal(&b, &all, 0);
  rk_batch_free(&all);
  /* streaming: one batch per row group */
  rk_parquet_reader *r;
  assert_rk_ok(rk_parquet_open(&r, path, NULL));
  assert_int_equal(rk_parquet_num_rows(r), rows);
  assert_int_equal(rk_parquet_num_row_groups(r), (rows + rg_rows - 1) / rg_rows);
  rk_batch part = {0};
  int64_t at = 0;
  for (;;) {
    assert_rk_ok(rk_parquet_next(r, &part));
    if (part.nrows == 0) break;
    assert_true(part.nrows <= rg_rows);
    expect_batch_equal(&b, &part, at);
    at += part.nrows;
  }
  assert_int_equal(at, rows);
  rk_batch_free(&part);
  rk_parquet_close(r);
  rk_batch_free(&b);
}

static void test_every_codec(void **state) {
  (void)state;
  const char *codecs[] = {"uncompressed", "snappy", "gzip", "zstd", "brotli", "lz4_raw"};
  for (int i = 0; i < 6; i++) roundtrip(codecs[i], true, false, 1200, 500, 2048);
}

static void test_dictionary_and_pages(void **state) {
  (void)state;
  for (int dict = 0; dict < 2; dict++)
    for (int v2 = 0; v2 < 2; v2++) roundtrip("snappy", dict, v2, 2500, 1000, dict ? 1 << 20 : 1500);
  roundtrip("zstd", true, true, 3000, 3000, 512);   /* many small pages, one row group */
  roundtrip("uncompressed", false, false, 1, 10, 1 << 20);
}

/* Read the footer of a file reckon wrote (tests the internals too). */
static void read_meta(rk_pq_file_meta *m, const char *path) {
  char *data;
  size_t n;
  assert_rk_ok(rk_read_file(path, &data, &n));
  uint32_t flen = (uint32_t)(uint8_t)data[n - 8] | (uint32_t)(uint8_t)data[n - 7] << 8 | (uint32_t)(uint8_t)data[n - 6] << 16 |
                  (uint32_t)(uint8_t)data[n - 5] << 24;
  assert_rk_ok(rk_pq_meta_parse(m, (const uint8_t *)data + n - 8 - flen, flen));
  rk_free(data);
}

static void test_dictionary_fallback(void **state) {
  (void)state;
  char dir[2048];
  snprintf(dir, sizeof dir, "%s", rk_test_tmpdir("parquet_fallback"));
  const char *path = tmp_file(dir, "f.parquet");
  rk_batch b;
  make_batch(&b, 3000, 7, 0);   /* all distinct */
  rk_parquet_write_options o;
  rk_parquet_write_options_default(&o);
  o.dictionary_page_bytes = 4096;   /* strings (~3000 * 20 bytes) pass it; u8 (256 values) does not */
  assert_rk_ok(rk_parquet_write(path, &b, &o));
  rk_pq_file_meta m;
  read_meta(&m, path);
  const rk_pq_chunk *s = &m.row_groups[0].cols[10], *u8 = &m.row_groups[0].cols[4];
  bool s_dict = false, u8_dict = false;
  for (int k = 0; k < s->nencodings; k++) s_dict |= s->encodings[k] == RK_PQ_ENC_RLE_DICTIONARY;
  for (int k = 0; k < u8->nencodings; k++) u8_dict |= u8->encodings[k] == RK_PQ_ENC_RLE_DICTIONARY;
  assert_false(s_dict);
  assert_true(u8_dict);
  assert_true(s->dictionary_page_offset < 0);
  assert_true(u8->dictionary_page_offset > 0);
  assert_int_equal(m.version, 1);
  rk_pq_meta_free(&m);
  rk_batch all = {0};
  assert_rk_ok(rk_parquet_read_all(path, NULL, &all));
  expect_batch_equal(&b, &all, 0);
  rk_batch_free(&all);
  rk_batch_free(&b);
}

/* The dictionary's hash table over typed values: keys that differ only in their high bits (one
 * bucket for a table that hashes low bits), +0.0 and -0.0 and NaN payloads (equal as numbers,
 * different as PLAIN bytes: different entries), negative small integers (widened to INT32),
 * and enough distinct values to grow and rehash the table several times. */
static void test_dictionary_hash(void **state) {
  (void)state;
  char dir[2048];
  snprintf(dir, sizeof dir, "%s", rk_test_tmpdir("parquet_dict_hash"));
  const char *path = tmp_file(dir, "h.parquet");
  rk_batch b;
  assert_rk_ok(rk_batch_init(&b, 4));
  assert_rk_ok(rk_column_init(&b.cols[0], "hi64", RK_COL_INT64, RK_COL_INT64));
  assert_rk_ok(rk_column_init(&b.cols[1], "f64", RK_COL_FLOAT64, RK_COL_INT64));
  assert_rk_ok(rk_column_init(&b.cols[2], "i8", RK_COL_INT8, RK_COL_INT64));
  assert_rk_ok(rk_column_init(&b.cols[3], "f32", RK_COL_FLOAT32, RK_COL_INT64));
  const double specials[] = {0.0, -0.0, NAN, -NAN, 1.5};
  int64_t rows = 20000;
  for (int64_t r = 0; r < rows; r++) {
    assert_rk_ok(rk_column_append_int(&b.cols[0], (int64_t)((uint64_t)(r % 3000) << 40)));
    if (r % 3 == 0) {
      assert_rk_ok(rk_column_append_double(&b.cols[1], specials[(r / 3) % 5]));
      assert_rk_ok(rk_column_append_double(&b.cols[3], specials[(r / 3) % 5]));
    } else {
      assert_rk_ok(rk_column_append_double(&b.cols[1], (double)(r % 1500) * 0.25));
      assert_rk_ok(rk_column_append_double(&b.cols[3], (double)(r % 700) * 0.5));
    }
    assert_rk_ok(rk_column_append_int(&b.cols[2], (int8_t)(r * 37)));
  }
  b.nrows = rows;
  uint64_t nan_bits, negnan_bits;
  double nan = NAN, negnan = -NAN;
  memcpy(&nan_bits, &nan, 8);
  memcpy(&negnan_bits, &negnan, 8);
  assert_true(nan_bits != negnan_bits);
  assert_rk_ok(rk_parquet_write(path, &b, NULL));
  rk_batch back = {0};
  assert_rk_ok(rk_parquet_read_all(path, NULL, &back));
  expect_batch_equal(&b, &back, 0);   /* bitwise for floats: -0.0 and the NaNs kept apart */
  rk_parquet_reader *r;
  assert_rk_ok(rk_parquet_open(&r, path, NULL));
  for (int c = 0; c < 4; c++) {
    rk_parquet_chunk_info info;
    assert_rk_ok(rk_parquet_chunk(&info, r, 0, c));
    assert_true(info.has_dictionary);
  }
  rk_parquet_close(r);
  rk_batch_free(&back);
  rk_batch_free(&b);
}

/* Deterministic at any thread count: the same bytes written with 1, 2 and 3 threads (several
 * row groups, dictionary and plain chunks, nulls, lists), and the same batches read back,
 * whole and streamed (where threads decode row groups ahead). */
static void test_threads_deterministic(void **state) {
  (void)state;
  char dir[2048];
  snprintf(dir, sizeof dir, "%s", rk_test_tmpdir("parquet_threads"));
  rk_batch b;
  make_batch(&b, 5000, 11, 300);
  rk_parquet_write_options o;
  rk_parquet_write_options_default(&o);
  o.row_group_rows = 1024;   /* 5 row groups, the last short */
  o.page_bytes = 2048;
  char *first = NULL;
  size_t first_len = 0;
  int saved = rk_num_threads();
  for (int t = 1; t <= 3; t++) {
    rk_set_num_threads(t);
    char name[32];
    snprintf(name, sizeof name, "t%d.parquet", t);
    const char *path = tmp_file(dir, name);
    assert_rk_ok(rk_parquet_write(path, &b, &o));
    char *data;
    size_t n;
    assert_rk_ok(rk_read_file(path, &data, &n));
    if (!first) {
      first = data, first_len = n;
    } else {
      assert_int_equal(n, first_len);
      assert_memory_equal(data, first, n);
      rk_free(data);
    }
    rk_batch all = {0};
    assert_rk_ok(rk_parquet_read_all(path, NULL, &all));
    expect_batch_equal(&b, &all, 0);
    rk_batch_free(&all);
    rk_parquet_reader *r;
    assert_rk_ok(rk_parquet_open(&r, path, NULL));
    rk_batch part = {0};
    int64_t at = 0;
    int batches = 0;
    for (;;) {
      assert_rk_ok(rk_parquet_next(r, &part));
      if (part.nrows == 0) break;
      assert_int_equal(part.nrows, at + 1024 <= 5000 ? 1024 : 5000 - at);
      expect_batch_equal(&b, &part, at);
      at += part.nrows;
      batches++;
    }
    assert_int_equal(at, 5000);
    assert_int_equal(batches, 5);
    rk_batch_free(&part);
    rk_parquet_close(r);
  }
  rk_set_num_threads(saved);
  rk_free(first);
  /* flat columns: rk_parquet_write encodes whole row groups straight from the batch; the same
   * rows streamed in small batches go through the writer's buffer: the files are the same */
  rk_batch flat;
  assert_rk_ok(rk_batch_init(&flat, 11));
  for (int c = 0; c < 11; c++) {
    assert_rk_ok(rk_column_init(&flat.cols[c], names[c], types[c], elems[c]));
    assert_rk_ok(rk_column_append_column(&flat.cols[c], &b.cols[c], 0, b.nrows));
  }
  flat.nrows = b.nrows;
  char direct_path[4096], streamed_path[4096];
  snprintf(direct_path, sizeof direct_path, "%s", tmp_file(dir, "direct.parquet"));
  snprintf(streamed_path, sizeof streamed_path, "%s", tmp_file(dir, "streamed.parquet"));
  assert_rk_ok(rk_parquet_write(direct_path, &flat, &o));
  rk_parquet_writer *w;
  assert_rk_ok(rk_parquet_writer_open(&w, streamed_path, &o));
  for (int64_t at = 0; at < flat.nrows; at += 700) {
    int64_t end = at + 700 < flat.nrows ? at + 700 : flat.nrows;
    rk_batch part;
    assert_rk_ok(rk_batch_init(&part, 11));
    for (int c = 0; c < 11; c++) {
      assert_rk_ok(rk_column_init(&part.cols[c], names[c], types[c], elems[c]));
      assert_rk_ok(rk_column_append_column(&part.cols[c], &flat.cols[c], at, end));
    }
    part.nrows = end - at;
    assert_rk_ok(rk_parquet_writer_write(w, &part));
    rk_batch_free(&part);
  }
  assert_rk_ok(rk_parquet_writer_close(w));
  char *d1, *d2;
  size_t n1, n2;
  assert_rk_ok(rk_read_file(direct_path, &d1, &n1));
  assert_rk_ok(rk_read_file(streamed_path, &d2, &n2));
  assert_int_equal(n1, n2);
  assert_memory_equal(d1, d2, n1);
  rk_free(d1);
  rk_free(d2);
  rk_batch all = {0};
  assert_rk_ok(rk_parquet_read_all(direct_path, NULL, &all));
  expect_batch_equal(&flat, &all, 0);
  rk_batch_free(&all);
  rk_batch_free(&flat);
  rk_batch_free(&b);
}

static void test_metadata_stats_projection(void **state) {
  (void)state;
  char dir[2048];
  snprintf(dir, sizeof dir, "%s", rk_test_tmpdir("parquet_meta"));
  const char *path = tmp_file(dir, "m.parquet");
  rk_batch b;
  make_batch(&b, 1000, 9, 0);
  rk_parquet_write_options o;
  rk_parquet_write_options_default(&o);
  const char *keys[] = {"origin", "empty"}, *values[] = {"reckon test", NULL};
  o.metadata_keys = keys;
  o.metadata_values = values;
  o.nmetadata = 2;
  o.row_group_rows = 400;
  assert_rk_ok(rk_parquet_write(path, &b, &o));

  const char *cols[] = {"s", "i32", "f64", "u64", "li"};
  rk_parquet_read_options ro;
  rk_parquet_read_options_default(&ro);
  ro.columns = cols;
  ro.ncolumns = 5;
  ro.batch_rows = 150;
  rk_parquet_reader *r;
  assert_rk_ok(rk_parquet_open(&r, path, &ro));
  char want[64];
  snprintf(want, sizeof want, "reckon version %s", rk_version());
  assert_string_equal(rk_parquet_created_by(r), want);
  assert_string_equal(rk_parquet_metadata_find(r, "origin"), "reckon test");
  assert_string_equal(rk_parquet_metadata_find(r, "empty"), "");
  assert_null(rk_parquet_metadata_find(r, "missing"));
  assert_int_equal(rk_parquet_num_columns(r), 5);
  assert_string_equal(rk_parquet_column(r, 0)->name, "s");
  assert_int_equal(rk_parquet_column(r, 4)->type, RK_COL_LIST);
  assert_int_equal(rk_parquet_column(r, 4)->elem_type, RK_COL_INT64);
  /* statistics against the data */
  for (int g = 0; g < rk_parquet_num_row_groups(r); g++) {
    int64_t begin = g * 400, end = begin + rk_parquet_row_group_rows(r, g);
    const int ci[] = {2, 9, 7}, sel[] = {1, 2, 3};
    for (int k = 0; k < 3; k++) {
      const rk_column *col = &b.cols[ci[k]];
      rk_parquet_stats st;
      assert_rk_ok(rk_parquet_statistics(&st, r, g, sel[k]));
      int64_t nulls = 0;
      double lo = INFINITY, hi = -INFINITY;
      uint64_t ulo = UINT64_MAX, uhi = 0;
      for (int64_t i = begin; i < end; i++) {
        if (rk_column_is_null(col, i)) {
          nulls++;
          continue;
        }
        double v = rk_column_get_double(col, i);
        if (!isnan(v)) lo = fmin(lo, v), hi = fmax(hi, v);
        uint64_t u = (uint64_t)rk_column_get_int(col, i);
        if (u < ulo) ulo = u;
        if (u > uhi) uhi = u;
      }
      assert_true(st.has_null_count);
      assert_int_equal(st.null_count, nulls);
      assert_true(st.has_min_max);
      if (col->type == RK_COL_FLOAT64) {
        assert_true(st.min_f == lo && st.max_f == hi);
      } else if (col->type == RK_COL_UINT64) {
        assert_true((uint64_t)st.min_i == ulo && (uint64_t)st.max_i == uhi);
      } else {
        assert_true(st.min_i == (int64_t)lo && st.max_i == (int64_t)hi);
      }
    }
  }
  /* capped batches in projection order */
  rk_batch part = {0};
  int64_t at = 0;
  for (;;) {
    assert_rk_ok(rk_parquet_next(r, &part));
    if (part.nrows == 0) break;
    assert_true(part.nrows <= 150);
    const int src[] = {10, 2, 9, 7, 11};
    for (int k = 0; k < 5; k++) {
      rk_column want_col;
      assert_rk_ok(rk_column_init(&want_col, names[src[k]], types[src[k]], elems[src[k]]));
      assert_rk_ok(rk_column_append_column(&want_col, &b.cols[src[k]], at, at + part.nrows));
      assert_true(rk_column_equal(&want_col, &part.cols[k]));
      rk_column_free(&want_col);
    }
    at += part.nrows;
  }
  assert_int_equal(at, 1000);
  rk_batch_free(&part);
  rk_parquet_close(r);
  /* a column that is not there */
  const char *bad[] = {"nope"};
  ro.columns = bad;
  ro.ncolumns = 1;
  assert_int_equal(rk_parquet_open(&r, path, &ro), RK_ENOTFOUND);
  assert_non_null(strstr(rk_error_message(), "'nope'"));
  rk_batch_free(&b);
}

static void test_sink_and_dataset(void **state) {
  (void)state;
  char dir[2048];
  snprintf(dir, sizeof dir, "%s", rk_test_tmpdir("parquet_dataset"));
  rk_batch b;
  make_batch(&b, 900, 11, 50);
  /* three files through the sink, named so that natural order differs from byte order */
  const char *files[] = {"part_10.parquet", "part_2.parquet", "part_1.parquet"};
  const int64_t ranges[][2] = {{600, 900}, {300, 600}, {0, 300}};
  for (int f = 0; f < 3; f++) {
    rk_sink_options so;
    rk_sink_options_default(&so);
    so.compression = f == 0 ? "zstd" : "snappy";
    so.row_group_size = 128;
    rk_table_sink *sink;
    assert_rk_ok(rk_parquet_sink_open(&sink, tmp_file(dir, files[f]), &so));
    /* in pieces of 100 rows */
    for (int64_t at = ranges[f][0]; at < ranges[f][1]; at += 100) {
      rk_batch piece;
      assert_rk_ok(rk_batch_init(&piece, NCOLS));
      for (int c = 0; c < NCOLS; c++) {
        assert_rk_ok(rk_column_init(&piece.cols[c], names[c], types[c], elems[c]));
        assert_rk_ok(rk_column_append_column(&piece.cols[c], &b.cols[c], at, at + 100));
      }
      piece.nrows = 100;
      assert_rk_ok(rk_sink_write(sink, &piece));
      rk_batch_free(&piece);
    }
    assert_rk_ok(rk_sink_close(sink));
  }
  /* an aborted sink leaves nothing behind */
  rk_table_sink *sink;
  assert_rk_ok(rk_parquet_sink_open(&sink, tmp_file(dir, "aborted.txt"), NULL));
  assert_rk_ok(rk_sink_write(sink, &b));
  rk_sink_abort(sink);
  assert_int_equal(rk_test_system("ls '%s' | grep -c -v parquet$ > /dev/null", dir), 1);

  rk_parquet_dataset *ds;
  assert_rk_ok(rk_parquet_dataset_open(&ds, dir, NULL));
  assert_int_equal(rk_parquet_dataset_num_files(ds), 3);
  assert_non_null(strstr(rk_parquet_dataset_file(ds, 0), "part_1.parquet"));
  assert_non_null(strstr(rk_parquet_dataset_file(ds, 2), "part_10.parquet"));
  assert_int_equal(rk_parquet_dataset_num_rows(ds), 900);
  assert_int_equal(rk_parquet_dataset_num_columns(ds), NCOLS);
  rk_batch part = {0};
  int64_t at = 0;
  for (;;) {
    assert_rk_ok(rk_parquet_dataset_next(ds, &part));
    if (part.nrows == 0) break;
    assert_true(part.nrows <= 128);
    expect_batch_equal(&b, &part, at);
    at += part.nrows;
  }
  assert_int_equal(at, 900);
  rk_batch_free(&part);
  rk_parquet_dataset_close(ds);
  rk_batch_free(&b);
}

static void test_empty_and_schema_checks(void **state) {
  (void)state;
  char dir[2048];
  snprintf(dir, sizeof dir, "%s", rk_test_tmpdir("parquet_empty"));
  rk_batch b;
  make_batch(&b, 0, 1, 0);
  assert_rk_ok(rk_parquet_write(tmp_file(dir, "e.parquet"), &b, NULL));
  rk_batch all = {0};
  assert_rk_ok(rk_parquet_read_all(tmp_file(dir, "e.parquet"), NULL, &all));
  assert_int_equal(all.nrows, 0);
  assert_int_equal(all.ncols, NCOLS);
  for (int c = 0; c < NCOLS; c++) assert_int_equal(all.cols[c].type, types[c]);
  rk_batch_free(&all);
  /* a second batch with another schema is refused */
  rk_parquet_writer *w;
  assert_rk_ok(rk_parquet_writer_open(&w, tmp_file(dir, "x.parquet"), NULL));
  assert_rk_ok(rk_parquet_writer_write(w, &b));
  rk_batch other;
  assert_rk_ok(rk_batch_init(&other, 1));
  assert_rk_ok(rk_column_init(&other.cols[0], "z", RK_COL_INT32, RK_COL_INT64));
  assert_int_equal(rk_parquet_writer_write(w, &other), RK_ESHAPE);
  rk_parquet_writer_abort(w);
  rk_batch_free(&other);
  rk_batch_free(&b);
  /* unknown codec */
  rk_parquet_write_options o;
  rk_parquet_write_options_default(&o);
  o.compression = "lzo";
  assert_int_equal(rk_parquet_writer_open(&w, tmp_file(dir, "y.parquet"), &o), RK_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_codec),
      cmocka_unit_test(test_dictionary_and_pages),
      cmocka_unit_test(test_dictionary_fallback),
      cmocka_unit_test(test_dictionary_hash),
      cmocka_unit_test(test_threads_deterministic),
      cmocka_unit_test(test_metadata_stats_projection),
      cmocka_unit_test(test_sink_and_dataset),
      cmocka_unit_test(test_empty_and_schema_checks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
