/*
 * Parquet files built by hand (the forms reckon's writer does not produce: BOOLEAN, INT96,
 * FIXED_LEN_BYTE_ARRAY, decimals in bytes, DELTA_BYTE_ARRAY, legacy 2-level and bare repeated
 * lists, structs) and broken files: truncated, wrong magic, a footer length past the file, page
 * sizes that lie, dictionary indices out of range, RLE runs past the page, decompression bombs,
 * every single-byte corruption of a small file, and allocation failures at every step of a small
 * write and read. Each must give a clear error naming the file (and column, row group, page),
 * never a crash or a leak (run under ASan too).
 */
#include "support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/parquet/parquet_internal.h"
#include "reckon/parquet.h"

static char dir[2048];

static const char *path_of(const char *name) { return rk_test_path(dir, name); }

typedef struct {
  rk_parquet_buf bytes;   /* the chunk: pages */
  int type, codec;
  int64_t num_values;
  const char *path[3];
  int npath;
} crafted_chunk;

/* A file of one row group with the given schema and chunks. */
static void craft(const char *file, const rk_pq_out_schema *schema, int nschema, crafted_chunk *chunks, int nchunks, int64_t rows) {
  rk_parquet_buf f = {0};
  rk_parquet_buf_put(&f, "PAR1", 4);
  rk_pq_out_chunk meta[8];
  memset(meta, 0, sizeof meta);
  for (int c = 0; c < nchunks; c++) {
    meta[c].type = chunks[c].type;
    meta[c].codec = chunks[c].codec;
    meta[c].nencodings = 1;
    meta[c].npath = chunks[c].npath;
    for (int k = 0; k < chunks[c].npath; k++) meta[c].path[k] = chunks[c].path[k];
    meta[c].num_values = chunks[c].num_values;
    meta[c].total_compressed = meta[c].total_uncompressed = (int64_t)chunks[c].bytes.len;
    meta[c].data_page_offset = (int64_t)f.len;
    meta[c].dictionary_page_offset = -1;
    rk_parquet_buf_put(&f, chunks[c].bytes.data, chunks[c].bytes.len);
  }
  rk_parquet_buf foot = {0};
  int64_t bytes = 0;
  rk_pq_meta_write(&foot, schema, nschema, rows, 1, &rows, &bytes, meta, nchunks, NULL, 0, "handmade");
  rk_parquet_buf_put(&f, foot.data, foot.len);
  rk_parquet_put_u32le(&f, (uint32_t)foot.len);
  rk_parquet_buf_put(&f, "PAR1", 4);
  assert_false(f.failed || foot.failed);
  assert_rk_ok(rk_write_file_atomic(file, f.data, f.len));
  rk_parquet_buf_free(&f);
  rk_parquet_buf_free(&foot);
  for (int c = 0; c < nchunks; c++) rk_parquet_buf_free(&chunks[c].bytes);
}

/* An uncompressed v1 data page (or dictionary page) with the given body. */
static void page(rk_parquet_buf *out, int type, int encoding, int32_t num_values, const rk_parquet_buf *body) {
  rk_pq_page_header h = {0};
  h.type = type;
  h.uncompressed_size = h.compressed_size = (int32_t)body->len;
  h.num_values = num_values;
  h.dict_num_values = num_values;
  h.encoding = encoding;
  h.def_encoding = h.rep_encoding = RK_PQ_ENC_RLE;
  rk_pq_page_header_write(out, &h);
  rk_parquet_buf_put(out, body->data, body->len);
}

static void levels(rk_parquet_buf *b, const uint32_t *v, int n, int max) {
  rk_parquet_buf l = {0};
  rk_pq_rle_encode(&l, v, n, rk_pq_bit_width((uint64_t)max));
  rk_parquet_put_u32le(b, (uint32_t)l.len);
  rk_parquet_buf_put(b, l.data, l.len);
  rk_parquet_buf_free(&l);
}

static rk_pq_out_schema leaf(const char *name, int type, int rep) {
  rk_pq_out_schema s = {name, type, rep, 0, -1, 0, 0, true, 0, 0, 0};
  return s;
}
static rk_pq_out_schema group(const char *name, int rep, int children, int converted) {
  rk_pq_out_schema s = {name, -1, rep, children, converted, 0, 0, true, 0, 0, 0};
  return s;
}

static void test_handmade_types(void **state) {
  (void)state;
  snprintf(dir, sizeof dir, "%s", rk_test_tmpdir("parquet_handmade"));
  /* BOOLEAN, INT96, FLBA(3), FLBA(2) DECIMAL(4,1), BYTE_ARRAY DECIMAL(20,2) in DELTA_BYTE_ARRAY, all required, 3 rows */
  rk_pq_out_schema schema[6] = {group("schema", -1, 5, -1), leaf("b", RK_PQ_BOOLEAN, RK_PQ_REQUIRED),
                                leaf("t96", RK_PQ_INT96, RK_PQ_REQUIRED), leaf("fl", RK_PQ_FIXED_LEN_BYTE_ARRAY, RK_PQ_REQUIRED),
                                leaf("dec", RK_PQ_FIXED_LEN_BYTE_ARRAY, RK_PQ_REQUIRED), leaf("s", RK_PQ_BYTE_ARRAY, RK_PQ_REQUIRED)};
  schema[3].type_length = 3;
  schema[4].type_length = 2;
  schema[4].converted = RK_CT_DECIMAL;
  schema[4].scale = 1;
  schema[4].precision = 4;
  crafted_chunk ch[5];
  memset(ch, 0, sizeof ch);
  rk_parquet_buf body = {0};
  rk_parquet_buf_byte(&body, 0x05);   /* true, false, true */
  page(&ch[0].bytes, RK_PQ_PAGE_DATA, RK_PQ_ENC_PLAIN, 3, &body);
  body.len = 0;
  for (int i = 0; i < 3; i++) {   /* nanos i, julian day 2440588 + i */
    uint8_t v[12] = {(uint8_t)i, 0, 0, 0, 0, 0, 0, 0};
    uint32_t day = 2440588u + (uint32_t)i - 1;
    for (int k = 0; k < 4; k++) v[8 + k] = (uint8_t)(day >> (8 * k));
    rk_parquet_buf_put(&body, v, 12);
  }
  page(&ch[1].bytes, RK_PQ_PAGE_DATA, RK_PQ_ENC_PLAIN, 3, &body);
  body.len = 0;
  rk_parquet_buf_put(&body, "abcdefghi", 9);
  page(&ch[2].bytes, RK_PQ_PAGE_DATA, RK_PQ_ENC_PLAIN, 3, &body);
  body.len = 0;
  rk_parquet_buf_put(&body, "\xff\xfe\x00\x7b\x80\x00", 6);   /* -2, 123, -32768 */
  page(&ch[3].bytes, RK_PQ_PAGE_DATA, RK_PQ_ENC_PLAIN, 3, &body);
  body.len = 0;
  /* DELTA_BYTE_ARRAY of "apple", "applet", "banana": prefixes 0 5 0, suffixes "apple" "t" "banana" */
  const int64_t pre[] = {0, 5, 0}, suf[] = {5, 1, 6};
  rk_pq_delta_encode(&body, pre, 3);
  rk_pq_delta_encode(&body, suf, 3);
  rk_parquet_buf_put(&body, "appletbanana", 12);
  page(&ch[4].bytes, RK_PQ_PAGE_DATA, RK_PQ_ENC_DELTA_BYTE_ARRAY, 3, &body);
  rk_parquet_buf_free(&body);
  const int types[] = {RK_PQ_BOOLEAN, RK_PQ_INT96, RK_PQ_FIXED_LEN_BYTE_ARRAY, RK_PQ_FIXED_LEN_BYTE_ARRAY, RK_PQ_BYTE_ARRAY};
  for (int c = 0; c < 5; c++) {
    ch[c].type = types[c];
    ch[c].num_values = 3;
    ch[c].path[0] = schema[c + 1].name;
    ch[c].npath = 1;
  }
  craft(path_of("types.parquet"), schema, 6, ch, 5, 3);
  rk_batch b = {0};
  assert_rk_ok(rk_parquet_read_all(path_of("types.parquet"), NULL, &b));
  assert_int_equal(b.nrows, 3);
  assert_int_equal(b.cols[0].type, RK_COL_UINT8);
  assert_int_equal(rk_column_get_int(&b.cols[0], 0), 1);
  assert_int_equal(rk_column_get_int(&b.cols[0], 1), 0);
  assert_int_equal(rk_column_get_int(&b.cols[0], 2), 1);
  assert_int_equal(b.cols[1].type, RK_COL_INT64);
  assert_true(rk_column_get_int(&b.cols[1], 0) == -86400000000000LL);
  assert_true(rk_column_get_int(&b.cols[1], 2) == 86400000000000LL + 2);
  size_t n;
  const char *s = rk_column_get_string(&b.cols[2], 1, &n);
  assert_int_equal(n, 3);
  assert_memory_equal(s, "def", 3);
  assert_int_equal(b.cols[3].type, RK_COL_FLOAT64);
  assert_true(rk_column_get_double(&b.cols[3], 0) == -0.2);
  assert_true(rk_column_get_double(&b.cols[3], 1) == 12.3);
  assert_true(rk_column_get_double(&b.cols[3], 2) == -3276.8);
  const char *want[] = {"apple", "applet", "banana"};
  for (int i = 0; i < 3; i++) {
    s = rk_column_get_string(&b.cols[4], i, &n);
    assert_int_equal(n, strlen(want[i]));
    assert_memory_equal(s, want[i], n);
  }
  rk_batch_free(&b);
}

/* Rows [1, 2], null, [], [3] in the legacy 2-level form, and [1, 2], [], [3] as a bare repeated field. */
static void test_legacy_lists_and_structs(void **state) {
  (void)state;
  snprintf(dir, sizeof dir, "%s", rk_test_tmpdir("parquet_legacy"));
  rk_pq_out_schema schema[3] = {group("schema", -1, 1, -1), group("l", RK_PQ_OPTIONAL, 1, RK_CT_LIST),
                                leaf("element", RK_PQ_INT32, RK_PQ_REPEATED)};
  crafted_chunk ch = {0};
  rk_parquet_buf body = {0};
  const uint32_t rep[] = {0, 1, 0, 0, 0}, def[] = {2, 2, 0, 1, 2};
  levels(&body, rep, 5, 1);
  levels(&body, def, 5, 2);
  for (uint32_t v = 1; v <= 3; v++) rk_parquet_put_u32le(&body, v);
  page(&ch.bytes, RK_PQ_PAGE_DATA, RK_PQ_ENC_PLAIN, 5, &body);
  ch.type = RK_PQ_INT32, ch.num_values = 5, ch.npath = 2, ch.path[0] = "l", ch.path[1] = "element";
  craft(path_of("two.parquet"), schema, 3, &ch, 1, 4);
  rk_batch b = {0};
  assert_rk_ok(rk_parquet_read_all(path_of("two.parquet"), NULL, &b));
  rk_column *l = &b.cols[0];
  assert_int_equal(l->type, RK_COL_LIST);
  assert_int_equal(l->length, 4);
  const int64_t offs[] = {0, 2, 2, 2, 3};
  for (int i = 0; i < 5; i++) assert_int_equal(l->offsets[i], offs[i]);
  assert_true(rk_column_is_null(l, 1) && !rk_column_is_null(l, 2));
  for (int i = 0; i < 3; i++) assert_int_equal(rk_column_get_int(l->child, i), i + 1);
  rk_batch_free(&b);

  /* bare repeated */
  rk_pq_out_schema bare[2] = {group("schema", -1, 1, -1), leaf("r", RK_PQ_INT32, RK_PQ_REPEATED)};
  memset(&ch, 0, sizeof ch);
  body.len = 0;
  const uint32_t rep2[] = {0, 1, 0, 0}, def2[] = {1, 1, 0, 1};
  levels(&body, rep2, 4, 1);
  levels(&body, def2, 4, 1);
  for (uint32_t v = 1; v <= 3; v++) rk_parquet_put_u32le(&body, v);
  page(&ch.bytes, RK_PQ_PAGE_DATA, RK_PQ_ENC_PLAIN, 4, &body);
  ch.type = RK_PQ_INT32, ch.num_values = 4, ch.npath = 1, ch.path[0] = "r";
  craft(path_of("bare.parquet"), bare, 2, &ch, 1, 3);
  assert_rk_ok(rk_parquet_read_all(path_of("bare.parquet"), NULL, &b));
  assert_int_equal(b.cols[0].length, 3);
  assert_int_equal(b.cols[0].offsets[3], 3);
  assert_int_equal(b.cols[0].null_count, 0);
  rk_batch_free(&b);

  /* a struct beside a plain column: refused unless projected away */
  rk_pq_out_schema st[4] = {group("schema", -1, 2, -1), leaf("a", RK_PQ_INT32, RK_PQ_REQUIRED), group("s", RK_PQ_OPTIONAL, 1, -1),
                            leaf("x", RK_PQ_INT32, RK_PQ_REQUIRED)};
  crafted_chunk two[2];
  memset(two, 0, sizeof two);
  body.len = 0;
  rk_parquet_put_u32le(&body, 42);
  page(&two[0].bytes, RK_PQ_PAGE_DATA, RK_PQ_ENC_PLAIN, 1, &body);
  body.len = 0;
  const uint32_t one[] = {1};
  levels(&body, one, 1, 1);
  rk_parquet_put_u32le(&body, 7);
  page(&two[1].bytes, RK_PQ_PAGE_DATA, RK_PQ_ENC_PLAIN, 1, &body);
  two[0].type = two[1].type = RK_PQ_INT32;
  two[0].num_values = two[1].num_values = 1;
  two[0].npath = 1, two[0].path[0] = "a";
  two[1].npath = 2, two[1].path[0] = "s", two[1].path[1] = "x";
  craft(path_of("struct.parquet"), st, 4, two, 2, 1);
  assert_int_equal(rk_parquet_read_all(path_of("struct.parquet"), NULL, &b), RK_EUNSUPPORTED);
  assert_non_null(strstr(rk_error_message(), "unsupported: struct column: column 's'"));
  assert_non_null(strstr(rk_error_message(), "struct.parquet"));
  const char *only_a[] = {"a"};
  rk_parquet_read_options o;
  rk_parquet_read_options_default(&o);
  o.columns = only_a;
  o.ncolumns = 1;
  assert_rk_ok(rk_parquet_read_all(path_of("struct.parquet"), &o, &b));
  assert_int_equal(rk_column_get_int(&b.cols[0], 0), 42);
  rk_batch_free(&b);
  rk_parquet_buf_free(&body);
}

/* One optional int32 column 'x' of 4 rows from the given pages. */
static rk_status read_crafted(const char *name, crafted_chunk *ch, int64_t rows) {
  rk_pq_out_schema schema[2] = {group("schema", -1, 1, -1), leaf("x", RK_PQ_INT32, RK_PQ_OPTIONAL)};
  ch->type = RK_PQ_INT32;
  ch->npath = 1;
  ch->path[0] = "x";
  craft(path_of(name), schema, 2, ch, 1, rows);
  rk_batch b = {0};
  rk_status s = rk_parquet_read_all(path_of(name), NULL, &b);
  rk_batch_free(&b);
  return s;
}

static void expect_error(rk_status s, const char *name, const char *what) {
  if (s == RK_OK) fail_msg("%s: read without error, expected '%s'", name, what);
  const char *m = rk_error_message();
  if (!strstr(m, what) || !strstr(m, name)) fail_msg("%s: message '%s' lacks '%s' or the file name", name, m, what);
}

static void test_lying_pages(void **state) {
  (void)state;
  snprintf(dir, sizeof dir, "%s", rk_test_tmpdir("parquet_lies"));
  const uint32_t def[] = {1, 1, 0, 1};
  rk_parquet_buf body = {0};
  crafted_chunk ch = {0};
  /* dictionary of 2 entries, an index of 5 */
  rk_parquet_put_u32le(&body, 10);
  rk_parquet_put_u32le(&body, 20);
  page(&ch.bytes, RK_PQ_PAGE_DICTIONARY, RK_PQ_ENC_PLAIN, 2, &body);
  body.len = 0;
  levels(&body, def, 4, 1);
  const uint32_t idx[] = {0, 5, 1};
  rk_parquet_buf_byte(&body, 3);
  rk_pq_rle_encode(&body, idx, 3, 3);
  page(&ch.bytes, RK_PQ_PAGE_DATA, RK_PQ_ENC_RLE_DICTIONARY, 4, &body);
  ch.num_values = 4;
  expect_error(read_crafted("dict.parquet", &ch, 4), "dict.parquet",
               "column 'x' row group 0 page 1: dictionary index 5 out of range (dictionary has 2 entries)");

  /* definition levels whose RLE runs past the page */
  memset(&ch, 0, sizeof ch);
  body.len = 0;
  rk_parquet_put_u32le(&body, 1);
  rk_parquet_buf_byte(&body, 0x08);   /* a repeated run of 4 levels whose value byte is missing */
  page(&ch.bytes, RK_PQ_PAGE_DATA, RK_PQ_ENC_PLAIN, 4, &body);
  ch.num_values = 4;
  expect_error(read_crafted("rle.parquet", &ch, 4), "rle.parquet", "RLE run value runs past the end of the data");

  /* a page whose compressed size runs past the chunk */
  memset(&ch, 0, sizeof ch);
  body.len = 0;
  levels(&body, def, 4, 1);
  for (int i = 0; i < 3; i++) rk_parquet_put_u32le(&body, (uint32_t)i);
  rk_pq_page_header h = {0};
  h.type = RK_PQ_PAGE_DATA;
  h.uncompressed_size = (int32_t)body.len;
  h.compressed_size = 1 << 20;
  h.num_values = 4;
  rk_pq_page_header_write(&ch.bytes, &h);
  rk_parquet_buf_put(&ch.bytes, body.data, body.len);
  ch.num_values = 4;
  expect_error(read_crafted("size.parquet", &ch, 4), "size.parquet", "runs past the end of the column chunk");

  /* a snappy page of 12 bytes claiming 1 GiB: refused before allocating */
  memset(&ch, 0, sizeof ch);
  h.compressed_size = 12;
  h.uncompressed_size = 1 << 30;
  rk_pq_page_header_write(&ch.bytes, &h);
  rk_parquet_buf_put(&ch.bytes, "\x80\x80\x80\x80\x04" "abcdefg", 12);
  ch.num_values = 4;
  ch.codec = RK_PQ_CODEC_SNAPPY;
  expect_error(read_crafted("bomb.parquet", &ch, 4), "bomb.parquet", "more than the codec can produce");

  /* more values in the pages than the chunk claims, and too few */
  memset(&ch, 0, sizeof ch);
  body.len = 0;
  levels(&body, def, 4, 1);
  for (int i = 0; i < 3; i++) rk_parquet_put_u32le(&body, (uint32_t)i);
  page(&ch.bytes, RK_PQ_PAGE_DATA, RK_PQ_ENC_PLAIN, 4, &body);
  ch.num_values = 3;
  expect_error(read_crafted("count.parquet", &ch, 3), "count.parquet", "only 3 left");
  memset(&ch, 0, sizeof ch);
  page(&ch.bytes, RK_PQ_PAGE_DATA, RK_PQ_ENC_PLAIN, 4, &body);
  ch.num_values = 8;
  expect_error(read_crafted("few.parquet", &ch, 8), "few.parquet", "column chunk ends after 4 of its 8 values");
  /* PLAIN values shorter than the levels say */
  memset(&ch, 0, sizeof ch);
  body.len -= 2;
  page(&ch.bytes, RK_PQ_PAGE_DATA, RK_PQ_ENC_PLAIN, 4, &body);
  ch.num_values = 4;
  expect_error(read_crafted("short.parquet", &ch, 4), "short.parquet", "PLAIN values");
  /* the deprecated BIT_PACKED levels: unsupported, said so */
  memset(&ch, 0, sizeof ch);
  h.compressed_size = h.uncompressed_size = 9;
  h.def_encoding = RK_PQ_ENC_BIT_PACKED;
  rk_pq_page_header_write(&ch.bytes, &h);
  rk_parquet_buf_put(&ch.bytes, "\0\0\0\0\0\0\0\0\0", 9);
  ch.num_values = 4;
  expect_error(read_crafted("bp.parquet", &ch, 4), "bp.parquet", "unsupported: definition levels in BIT_PACKED encoding");
  rk_parquet_buf_free(&body);
}

/* A small file reckon writes, for the corruption tests. */
static void small_file(const char *path) {
  rk_batch b;
  assert_rk_ok(rk_batch_init(&b, 3));
  assert_rk_ok(rk_column_init(&b.cols[0], "i", RK_COL_INT64, RK_COL_INT64));
  assert_rk_ok(rk_column_init(&b.cols[1], "s", RK_COL_STRING, RK_COL_INT64));
  assert_rk_ok(rk_column_init(&b.cols[2], "l", RK_COL_LIST, RK_COL_INT32));
  for (int r = 0; r < 40; r++) {
    assert_rk_ok(rk_column_append_int(&b.cols[0], r * 1001));
    if (r % 5 == 1) assert_rk_ok(rk_column_append_null(&b.cols[1]));
    else assert_rk_ok(rk_column_append_string(&b.cols[1], "abcdef", (size_t)(r % 6)));
    for (int k = 0; k < r % 3; k++) assert_rk_ok(rk_column_append_int(b.cols[2].child, r + k));
    assert_rk_ok(rk_column_finish_list_row(&b.cols[2]));
  }
  b.nrows = 40;
  rk_parquet_write_options o;
  rk_parquet_write_options_default(&o);
  o.row_group_rows = 16;
  assert_rk_ok(rk_parquet_write(path, &b, &o));
  rk_batch_free(&b);
}

static void test_truncated_and_corrupt(void **state) {
  (void)state;
  snprintf(dir, sizeof dir, "%s", rk_test_tmpdir("parquet_corrupt"));
  const char *good = path_of("good.parquet");
  small_file(good);
  char *data;
  size_t n;
  assert_rk_ok(rk_read_file(good, &data, &n));
  const char *bad = path_of("bad.parquet");
  /* every truncation (every 7th under the sanitizers, to stay fast) */
  size_t stride = rk_test_sanitized() ? 7 : 1;
  for (size_t cut = 0; cut < n; cut += stride) {
    assert_rk_ok(rk_write_file_atomic(bad, data, cut));
    rk_batch b = {0};
    rk_status s = rk_parquet_read_all(bad, NULL, &b);
    if (s == RK_OK) fail_msg("a file cut to %zu of %zu bytes read without error", cut, n);
    if (!strstr(rk_error_message(), "bad.parquet")) fail_msg("message '%s' does not name the file", rk_error_message());
  }
  /* wrong magic; footer length past the file */
  char *copy = malloc(n);
  memcpy(copy, data, n);
  copy[n - 1] = 'X';
  assert_rk_ok(rk_write_file_atomic(bad, copy, n));
  rk_batch b = {0};
  expect_error(rk_parquet_read_all(bad, NULL, &b), "bad.parquet", "not a Parquet file");
  memcpy(copy, data, n);
  copy[n - 5] = 0x7f;
  assert_rk_ok(rk_write_file_atomic(bad, copy, n));
  expect_error(rk_parquet_read_all(bad, NULL, &b), "bad.parquet", "runs past the start of the file");
  /* every byte changed three ways: errors or (for harmless bytes) the same data, never a crash */
  int errors = 0;
  int64_t live = rk_alloc_live_bytes();
  for (size_t i = 0; i < n; i += stride) {
    const uint8_t vals[3] = {(uint8_t)(data[i] ^ 0x01), 0xff, (uint8_t)(data[i] ^ 0x80)};
    for (int k = 0; k < 3; k++) {
      memcpy(copy, data, n);
      copy[i] = (char)vals[k];
      assert_rk_ok(rk_write_file_atomic(bad, copy, n));
      rk_status s = rk_parquet_read_all(bad, NULL, &b);
      if (s == RK_OK) rk_batch_free(&b);
      else errors++;
      assert_int_equal(rk_alloc_live_bytes(), live);
    }
  }
  assert_true(errors > (int)(n / stride));
  free(copy);
  rk_free(data);
}

/* Each allocation of a small write and read fails in turn: a clean error, nothing leaked. */
static void test_allocation_failures(void **state) {
  (void)state;
  snprintf(dir, sizeof dir, "%s", rk_test_tmpdir("parquet_alloc"));
  const char *file = path_of("a.parquet");
  rk_batch b;
  assert_rk_ok(rk_batch_init(&b, 3));
  assert_rk_ok(rk_column_init(&b.cols[0], "i", RK_COL_INT32, RK_COL_INT64));
  assert_rk_ok(rk_column_init(&b.cols[1], "s", RK_COL_STRING, RK_COL_INT64));
  assert_rk_ok(rk_column_init(&b.cols[2], "l", RK_COL_LIST, RK_COL_STRING));
  for (int r = 0; r < 30; r++) {
    assert_rk_ok(r % 4 ? rk_column_append_int(&b.cols[0], r) : rk_column_append_null(&b.cols[0]));
    assert_rk_ok(rk_column_append_string(&b.cols[1], "xyz", (size_t)(r % 4)));
    for (int k = 0; k < r % 3; k++) assert_rk_ok(rk_column_append_string(b.cols[2].child, "q", 1));
    assert_rk_ok(rk_column_finish_list_row(&b.cols[2]));
  }
  b.nrows = 30;
  int64_t live = rk_alloc_live_bytes();
  int fired = 0;
  for (int64_t k = 0; k < 10000; k++) {
    rk_parquet_write_options o;
    rk_parquet_write_options_default(&o);
    o.row_group_rows = 20;
    rk_alloc_fail_after(k);
    rk_status s = rk_parquet_write(file, &b, &o);
    rk_batch back = {0};
    if (s == RK_OK) s = rk_parquet_read_all(file, NULL, &back);
    bool hit = rk_alloc_fail_fired();
    rk_alloc_fail_after(-1);
    if (!hit) {
      assert_rk_ok(s);
      for (int c = 0; c < 3; c++) assert_true(rk_column_equal(&b.cols[c], &back.cols[c]));
      rk_batch_free(&back);
      break;
    }
    fired++;
    if (s == RK_OK) rk_batch_free(&back);   /* a failure some caller tolerated (none expected) */
    else assert_true(strlen(rk_error_message()) > 0);
    if (rk_alloc_live_bytes() != live) fail_msg("allocation %lld failing leaks %lld bytes", (long long)k, (long long)(rk_alloc_live_bytes() - live));
  }
  assert_true(fired > 20);
  rk_batch_free(&b);
  /* no temporary files left behind by the failed writes */
  assert_int_equal(rk_test_system("ls '%s' | grep -q tmp", dir), 1);
}

int main(void) {
  /* thousands of tiny reads: one thread, so busy machines do not pay OpenMP's spin-waits; and
   * passive waiting, set before the OpenMP runtime starts, should a region start anyway */
  setenv("OMP_WAIT_POLICY", "passive", 0);
  rk_set_num_threads(1);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_handmade_types),     cmocka_unit_test(test_legacy_lists_and_structs),
      cmocka_unit_test(test_lying_pages),        cmocka_unit_test(test_truncated_and_corrupt),
      cmocka_unit_test(test_allocation_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
