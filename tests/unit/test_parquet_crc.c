/*
 * Corruption that Parquet's own checks must catch: every single-bit flip in the pages of small
 * files reckon writes (v1 and v2 pages, dictionary and plain, snappy and uncompressed, flat,
 * nullable and list columns) is reported as an error (in a page's body, by its CRC), never read
 * back as other values; a page
 * CRC written by another writer is verified (a hand-made page whose CRC32 was computed outside
 * reckon, by Python's zlib.crc32); a file without CRCs still reads; and the footer's row counts
 * that lie (the file's total, a row group's, a column chunk's) are refused when the file opens.
 * Specification: parquet.thrift PageHeader.crc; FileMetaData.num_rows, RowGroup.num_rows,
 * ColumnMetaData.num_values.
 */
#include "support.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/parquet/parquet_internal.h"
#include "reckon/parquet.h"

static char dir[2048];

static const char *path_of(const char *name) { return rk_test_path(dir, name); }

/* 24 rows: a required int64 (plain: every value distinct), a nullable string (a dictionary),
 * a float64 and a list of int32. */
static void small_batch(rk_batch *b) {
  assert_rk_ok(rk_batch_init(b, 4));
  assert_rk_ok(rk_column_init(&b->cols[0], "id", RK_COL_INT64, RK_COL_INT64));
  assert_rk_ok(rk_column_init(&b->cols[1], "tag", RK_COL_STRING, RK_COL_INT64));
  assert_rk_ok(rk_column_init(&b->cols[2], "score", RK_COL_FLOAT64, RK_COL_INT64));
  assert_rk_ok(rk_column_init(&b->cols[3], "items", RK_COL_LIST, RK_COL_INT32));
  for (int r = 0; r < 24; r++) {
    assert_rk_ok(rk_column_append_int(&b->cols[0], (int64_t)r * 7919 - 40000));
    if (r % 5 == 2) assert_rk_ok(rk_column_append_null(&b->cols[1]));
    else assert_rk_ok(rk_column_append_string(&b->cols[1], r % 3 ? "red" : "green", r % 3 ? 3 : 5));
    assert_rk_ok(rk_column_append_double(&b->cols[2], r * 0.25 - 1.0));
    for (int k = 0; k < r % 3; k++) assert_rk_ok(rk_column_append_int(b->cols[3].child, r * 10 + k));
    assert_rk_ok(rk_column_finish_list_row(&b->cols[3]));
  }
  b->nrows = 24;
}

static bool same_batch(const rk_batch *a, const rk_batch *b) {
  if (a->nrows != b->nrows || a->ncols != b->ncols) return false;
  for (int c = 0; c < a->ncols; c++)
    if (!rk_column_equal(&a->cols[c], &b->cols[c])) return false;
  return true;
}

/* Where the pages end: the footer's start (the 4-byte length before the closing magic). */
static size_t pages_end(const uint8_t *data, size_t n) {
  uint32_t flen = (uint32_t)data[n - 8] | (uint32_t)data[n - 7] << 8 | (uint32_t)data[n - 6] << 16 | (uint32_t)data[n - 5] << 24;
  return n - 8 - flen;
}

/* Which bytes of the page region [4, end) are page bodies (the bytes a page's CRC covers):
 * reckon writes the column chunks back to back, so the headers are found by walking them. */
static bool *page_bodies(const uint8_t *data, size_t end) {
  bool *body = calloc(end, sizeof *body);
  assert_non_null(body);
  for (size_t at = 4; at < end;) {
    rk_pq_page_header h;
    size_t used;
    assert_rk_ok(rk_pq_page_header_parse(&h, &used, data + at, end - at));
    assert_true(h.has_crc);
    at += used;
    for (int32_t k = 0; k < h.compressed_size; k++) body[at + (size_t)k] = true;
    at += (size_t)h.compressed_size;
  }
  return body;
}

/* Flip every bit of the page region (after the leading magic, before the footer) of the file
 * the options write, one at a time. A flip in a page's body must fail its CRC; a flip in a page
 * header must be refused or change nothing read: the headers are outside the CRC, and some of
 * their bits do not change what they say (an i32 sent as an i16, the level encoding of a level
 * the column does not have, a field id that makes a field that held its default unknown). */
static void flip_every_page_bit(const char *name, const rk_parquet_write_options *o) {
  rk_batch want;
  small_batch(&want);
  const char *good = path_of(name);
  assert_rk_ok(rk_parquet_write(good, &want, o));
  char *raw;
  size_t n;
  assert_rk_ok(rk_read_file(good, &raw, &n));
  const uint8_t *data = (const uint8_t *)raw;
  rk_batch b = {0};
  assert_rk_ok(rk_parquet_read_all(good, NULL, &b));
  assert_true(same_batch(&b, &want));
  rk_batch_free(&b);

  size_t end = pages_end(data, n);
  bool *body = page_bodies(data, end);
  /* one copy, each bit flipped in place and back: a file per flip would cost more than reading it */
  const char *bad = path_of("flipped.parquet");
  assert_rk_ok(rk_write_file_atomic(bad, raw, n));
  int fd = open(bad, O_WRONLY);
  assert_true(fd >= 0);
  int threads = rk_num_threads();
  rk_set_num_threads(1);   /* 18k reads of a 1 KiB file: starting threads would be most of the time */
  size_t stride = rk_test_sanitized() ? 5 : 1;   /* every bit of every 5th byte under the sanitizers */
  int64_t live = rk_alloc_live_bytes();
  int flips = 0, crc_errors = 0, other_errors = 0, unchanged = 0;
  for (size_t i = 4; i < end; i += stride)
    for (int bit = 0; bit < 8; bit++) {
      uint8_t flipped = (uint8_t)(data[i] ^ (1 << bit));
      assert_int_equal(pwrite(fd, &flipped, 1, (off_t)i), 1);
      rk_batch got = {0};
      rk_status s = rk_parquet_read_all(bad, NULL, &got);
      assert_int_equal(pwrite(fd, &data[i], 1, (off_t)i), 1);
      flips++;
      if (s == RK_OK) {
        bool same = same_batch(&got, &want);
        rk_batch_free(&got);
        if (!same || body[i])
          fail_msg("%s: bit %d of byte %zu (in a page %s) flipped, and the file read %s", name, bit, i, body[i] ? "body" : "header",
                   same ? "the same values" : "other values without an error");
        unchanged++;
        continue;
      }
      const char *m = rk_error_message();
      if (!strstr(m, "flipped.parquet")) fail_msg("%s: the message '%s' does not name the file", name, m);
      bool by_crc = strstr(m, "page checksum mismatch") != NULL;
      if (body[i] && !by_crc) fail_msg("%s: bit %d of byte %zu (in a page body) flipped: '%s', not a CRC mismatch", name, bit, i, m);
      crc_errors += by_crc;
      other_errors += !by_crc;
      assert_int_equal(rk_alloc_live_bytes(), live);
    }
  rk_set_num_threads(threads);
  close(fd);
  assert_true(crc_errors > flips / 2);   /* most of the region is page bodies */
  print_message("%s: %d bit flips in %zu bytes of pages: %d refused by the page CRC, %d by other checks, %d (in headers) "
                "read the same values\n", name, flips, end - 4, crc_errors, other_errors, unchanged);
  free(body);
  rk_free(raw);
  rk_batch_free(&want);
}

static void test_every_bit_flip_is_refused(void **state) {
  (void)state;
  snprintf(dir, sizeof dir, "%s", rk_test_tmpdir("parquet_crc_flips"));
  rk_parquet_write_options o;
  rk_parquet_write_options_default(&o);
  o.row_group_rows = 12;   /* two row groups */
  o.page_bytes = 64;       /* several pages per chunk */
  flip_every_page_bit("snappy_v1.parquet", &o);
  o.compression = "uncompressed";
  o.data_page_v2 = true;
  flip_every_page_bit("plain_v2.parquet", &o);
}

/* One INT32 column x, REQUIRED, of 4 values in one uncompressed PLAIN v1 page: 1, 2, 3, 4. */
static void one_page_file(const char *file, int64_t footer_rows, int64_t rg_rows, int64_t chunk_values, bool with_crc,
                          uint32_t crc) {
  static const uint8_t values[16] = {1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0};
  rk_parquet_buf f = {0};
  rk_parquet_buf_put(&f, "PAR1", 4);
  rk_pq_page_header h = {0};
  h.type = RK_PQ_PAGE_DATA;
  h.uncompressed_size = h.compressed_size = (int32_t)sizeof values;
  h.has_crc = with_crc;
  h.crc = crc;
  h.num_values = 4;
  h.encoding = RK_PQ_ENC_PLAIN;
  h.def_encoding = h.rep_encoding = RK_PQ_ENC_RLE;
  rk_pq_page_header_write(&f, &h);
  rk_parquet_buf_put(&f, values, sizeof values);
  rk_pq_out_chunk meta;
  memset(&meta, 0, sizeof meta);
  meta.type = RK_PQ_INT32;
  meta.codec = RK_PQ_CODEC_UNCOMPRESSED;
  meta.nencodings = 1;
  meta.path[0] = "x";
  meta.npath = 1;
  meta.num_values = chunk_values;
  meta.total_compressed = meta.total_uncompressed = (int64_t)f.len - 4;
  meta.data_page_offset = 4;
  meta.dictionary_page_offset = -1;
  rk_pq_out_schema schema[2] = {{"schema", -1, -1, 1, -1, 0, 0, true, 0, 0, 0},
                                {"x", RK_PQ_INT32, RK_PQ_REQUIRED, 0, -1, 0, 0, true, 0, 0, 0}};
  rk_parquet_buf foot = {0};
  int64_t bytes = meta.total_compressed;
  rk_pq_meta_write(&foot, schema, 2, footer_rows, 1, &rg_rows, &bytes, &meta, 1, NULL, 0, "handmade");
  rk_parquet_buf_put(&f, foot.data, foot.len);
  rk_parquet_put_u32le(&f, (uint32_t)foot.len);
  rk_parquet_buf_put(&f, "PAR1", 4);
  assert_false(f.failed || foot.failed);
  assert_rk_ok(rk_write_file_atomic(file, f.data, f.len));
  rk_parquet_buf_free(&f);
  rk_parquet_buf_free(&foot);
}

static void expect_error(rk_status s, const char *name, const char *what) {
  if (s == RK_OK) fail_msg("%s: read without error, expected '%s'", name, what);
  const char *m = rk_error_message();
  if (!strstr(m, what) || !strstr(m, name)) fail_msg("%s: message '%s' lacks '%s' or the file name", name, m, what);
}

static void expect_values_1234(const char *file) {
  rk_batch b = {0};
  assert_rk_ok(rk_parquet_read_all(file, NULL, &b));
  assert_int_equal(b.nrows, 4);
  for (int i = 0; i < 4; i++) assert_int_equal(rk_column_get_int(&b.cols[0], i), i + 1);
  rk_batch_free(&b);
}

static void test_crc_from_elsewhere(void **state) {
  (void)state;
  snprintf(dir, sizeof dir, "%s", rk_test_tmpdir("parquet_crc_other"));
  /* python3 -c "import zlib; print(hex(zlib.crc32(bytes([1,0,0,0,2,0,0,0,3,0,0,0,4,0,0,0]))))" */
  const uint32_t crc = 0xaf05d4efu;
  one_page_file(path_of("crc.parquet"), 4, 4, 4, true, crc);
  expect_values_1234(path_of("crc.parquet"));
  one_page_file(path_of("nocrc.parquet"), 4, 4, 4, false, 0);   /* DuckDB's files, and older reckon's */
  expect_values_1234(path_of("nocrc.parquet"));
  one_page_file(path_of("badcrc.parquet"), 4, 4, 4, true, crc ^ 0x10000u);
  rk_batch b = {0};
  expect_error(rk_parquet_read_all(path_of("badcrc.parquet"), NULL, &b), "badcrc.parquet",
               "column 'x' row group 0 page 0: page checksum mismatch: the CRC32 of its 16 bytes is af05d4ef, the header says af04d4ef");

  /* reckon's page of the same values (nullable: definition levels first) carries the CRC zlib
   * gives its 22 bytes, python3 -c "import zlib; print(hex(zlib.crc32(bytes.fromhex(
   * '02000000030f01000000020000000300000004000000'))))"; and none when asked not to */
  const uint32_t mine_crc = 0xe9c3096du;
  rk_batch w;
  assert_rk_ok(rk_batch_init(&w, 1));
  assert_rk_ok(rk_column_init(&w.cols[0], "x", RK_COL_INT32, RK_COL_INT64));
  for (int i = 1; i <= 4; i++) assert_rk_ok(rk_column_append_int(&w.cols[0], i));
  w.nrows = 4;
  rk_parquet_write_options o;
  rk_parquet_write_options_default(&o);
  o.compression = "uncompressed";
  o.dictionary = false;
  o.statistics = false;
  const bool checksums[2] = {true, false};
  for (int k = 0; k < 2; k++) {
    o.page_checksums = checksums[k];
    assert_rk_ok(rk_parquet_write(path_of("mine.parquet"), &w, &o));
    char *raw;
    size_t n;
    assert_rk_ok(rk_read_file(path_of("mine.parquet"), &raw, &n));
    rk_pq_page_header h;
    size_t used;
    assert_rk_ok(rk_pq_page_header_parse(&h, &used, (const uint8_t *)raw + 4, n - 4));
    assert_int_equal(h.has_crc, checksums[k]);
    if (checksums[k]) assert_int_equal(h.crc, mine_crc);
    assert_int_equal(h.compressed_size, 22);
    rk_free(raw);
    expect_values_1234(path_of("mine.parquet"));
  }
  rk_batch_free(&w);
}

static void test_lying_row_counts(void **state) {
  (void)state;
  snprintf(dir, sizeof dir, "%s", rk_test_tmpdir("parquet_crc_rows"));
  rk_batch b = {0};
  rk_parquet_reader *r = NULL;
  /* the file's total, a row group's count and a chunk's count that disagree: refused on open,
   * before anything trusts them (a dataset's row count, inspect) */
  one_page_file(path_of("total.parquet"), 1, 4, 4, false, 0);
  expect_error(rk_parquet_open(&r, path_of("total.parquet"), NULL), "total.parquet",
               "the footer states 1 rows but its row groups hold 4");
  one_page_file(path_of("unset.parquet"), 0, 4, 4, false, 0);   /* a total of 0 is unset (parquet-rs 0.3 wrote it) */
  expect_values_1234(path_of("unset.parquet"));
  one_page_file(path_of("group.parquet"), 1, 1, 4, false, 0);
  expect_error(rk_parquet_open(&r, path_of("group.parquet"), NULL), "group.parquet",
               "row group 0 states 1 rows but column 'x' holds 4 values");
  one_page_file(path_of("empty.parquet"), 0, 0, 4, false, 0);   /* a row group that would be skipped */
  expect_error(rk_parquet_open(&r, path_of("empty.parquet"), NULL), "empty.parquet",
               "row group 0 states 0 rows but column 'x' holds 4 values");
  one_page_file(path_of("chunk.parquet"), 4, 4, 3, false, 0);
  expect_error(rk_parquet_read_all(path_of("chunk.parquet"), NULL, &b), "chunk.parquet",
               "row group 0 states 4 rows but column 'x' holds 3 values");
  /* a list column has at least one level per row: more levels than rows is its normal state */
  rk_batch w;
  small_batch(&w);
  assert_rk_ok(rk_parquet_write(path_of("lists.parquet"), &w, NULL));
  assert_rk_ok(rk_parquet_read_all(path_of("lists.parquet"), NULL, &b));
  assert_true(same_batch(&b, &w));
  rk_batch_free(&b);
  rk_batch_free(&w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_bit_flip_is_refused),
      cmocka_unit_test(test_crc_from_elsewhere),
      cmocka_unit_test(test_lying_row_counts),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
