/*
 * The Parquet building blocks on their own: the Thrift compact protocol (varints, zigzag,
 * field-id deltas and long-form ids, lists, nested structs, skipping unknown fields, and
 * malformed input answered with errors), the RLE/bit-packed hybrid, DELTA_BINARY_PACKED and
 * the codecs, each as an encode-then-decode identity plus hand-made bytes from the specs.
 */
#include "support.h"

#include <string.h>

#include "io/parquet/parquet_internal.h"

static void test_varint_zigzag(void **state) {
  (void)state;
  const int64_t vals[] = {0, 1, -1, 63, -64, 64, 300, -300, INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN};
  rk_parquet_buf b = {0};
  rk_thrift_out o;
  rk_thrift_out_init(&o, &b);
  for (size_t i = 0; i < sizeof vals / sizeof *vals; i++) rk_thrift_put_zigzag(&o, vals[i]);
  /* spec examples: zigzag(-1) = 1, zigzag(1) = 2, 300 -> 600 -> 0xd8 0x04 */
  assert_int_equal(b.data[1], 2);
  assert_int_equal(b.data[2], 1);
  rk_thrift_in in = {b.data, b.data + b.len, 0};
  for (size_t i = 0; i < sizeof vals / sizeof *vals; i++) {
    int64_t v;
    assert_rk_ok(rk_thrift_i64(&in, &v));
    assert_true(v == vals[i]);
  }
  assert_true(in.p == in.end);
  int64_t v;
  assert_int_equal(rk_thrift_i64(&in, &v), RK_EFORMAT);   /* nothing left */
  /* an 11-byte varint, and an i32 out of range */
  const uint8_t longv[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
  rk_thrift_in l = {longv, longv + sizeof longv, 0};
  assert_int_equal(rk_thrift_i64(&l, &v), RK_EFORMAT);
  const uint8_t big[] = {0x80, 0x80, 0x80, 0x80, 0x20};
  rk_thrift_in bi = {big, big + sizeof big, 0};
  int32_t v32;
  assert_int_equal(rk_thrift_i32(&bi, &v32), RK_EFORMAT);
  rk_parquet_buf_free(&b);
}

/* A struct with short and long field ids, a list, a nested struct, a bool, a double, and a
 * field the reader does not know; read back field by field. */
static void test_struct_roundtrip(void **state) {
  (void)state;
  rk_parquet_buf b = {0};
  rk_thrift_out o;
  rk_thrift_out_init(&o, &b);
  rk_thrift_put_struct_begin(&o, 0);
  rk_thrift_put_i32(&o, 1, -5);
  rk_thrift_put_str(&o, 2, "hello");
  rk_thrift_put_i64(&o, 40, 1234567890123);   /* delta 38: long form */
  rk_thrift_put_list(&o, 41, RK_TT_I32, 20);   /* 20 elements: long list header */
  for (int i = 0; i < 20; i++) rk_thrift_put_zigzag(&o, i * i);
  rk_thrift_put_struct_begin(&o, 42);
  rk_thrift_put_bool(&o, 1, true);
  rk_thrift_put_bool(&o, 2, false);
  rk_thrift_put_struct_end(&o);
  rk_thrift_put_field(&o, RK_TT_DOUBLE, 43);
  rk_thrift_put_double(&o, 2.5);
  rk_thrift_put_i32(&o, 30, 7);   /* a smaller id after larger ones: long form, negative delta */
  rk_thrift_put_struct_end(&o);
  assert_false(b.failed);
  assert_int_equal(b.data[0], 0x15);   /* delta 1, type i32 */

  rk_thrift_in in = {b.data, b.data + b.len, 0};
  assert_rk_ok(rk_thrift_struct_begin(&in));
  int16_t last = 0, id;
  uint8_t t;
  int seen = 0;
  for (;;) {
    assert_rk_ok(rk_thrift_field(&in, &last, &t, &id));
    if (t == RK_TT_STOP) break;
    seen++;
    if (id == 1) {
      int32_t v;
      assert_rk_ok(rk_thrift_field_i32(&in, t, &v));
      assert_int_equal(v, -5);
    } else if (id == 2) {
      const uint8_t *d;
      size_t n;
      assert_rk_ok(rk_thrift_binary(&in, &d, &n));
      assert_int_equal(n, 5);
      assert_memory_equal(d, "hello", 5);
    } else if (id == 40) {
      int64_t v;
      assert_rk_ok(rk_thrift_field_i64(&in, t, &v));
      assert_true(v == 1234567890123);
    } else if (id == 41) {
      uint8_t et;
      int64_t n;
      assert_rk_ok(rk_thrift_list(&in, &et, &n));
      assert_int_equal(et, RK_TT_I32);
      assert_int_equal(n, 20);
      for (int i = 0; i < 20; i++) {
        int32_t v;
        assert_rk_ok(rk_thrift_i32(&in, &v));
        assert_int_equal(v, i * i);
      }
    } else if (id == 43) {
      double d;
      assert_rk_ok(rk_thrift_double(&in, &d));
      assert_true(d == 2.5);
    } else {
      assert_rk_ok(rk_thrift_skip(&in, t));   /* 42 (struct with bools) and 30 */
    }
  }
  rk_thrift_struct_end(&in);
  assert_int_equal(seen, 7);
  assert_true(in.p == in.end);
  /* every truncation of it is an error, never a crash */
  for (size_t cut = 0; cut < b.len; cut++) {
    rk_thrift_in tin = {b.data, b.data + cut, 0};
    assert_int_equal(rk_thrift_skip(&tin, RK_TT_STRUCT), RK_EFORMAT);
  }
  rk_parquet_buf_free(&b);
}

static void test_malformed(void **state) {
  (void)state;
  /* a list claiming 2^31 elements in 6 bytes */
  const uint8_t huge[] = {0xf5, 0xff, 0xff, 0xff, 0xff, 0x07};
  rk_thrift_in in = {huge, huge + sizeof huge, 0};
  uint8_t et;
  int64_t n;
  assert_int_equal(rk_thrift_list(&in, &et, &n), RK_EFORMAT);
  assert_non_null(strstr(rk_error_message(), "list"));
  /* structs nested 100 deep */
  uint8_t deep[200];
  for (int i = 0; i < 100; i++) deep[i] = 0x1c;   /* field 1, struct */
  memset(deep + 100, 0, 100);
  rk_thrift_in d = {deep, deep + sizeof deep, 0};
  assert_int_equal(rk_thrift_skip(&d, RK_TT_STRUCT), RK_EFORMAT);
  assert_non_null(strstr(rk_error_message(), "deeper"));
  /* binary longer than the buffer */
  const uint8_t bin[] = {0x7f, 'a', 'b'};
  rk_thrift_in bi = {bin, bin + sizeof bin, 0};
  const uint8_t *p;
  size_t len;
  assert_int_equal(rk_thrift_binary(&bi, &p, &len), RK_EFORMAT);
  /* unknown type nibble */
  const uint8_t bad[] = {0x1e};
  rk_thrift_in ba = {bad, bad + 1, 0};
  int16_t last = 0, id;
  uint8_t t;
  assert_int_equal(rk_thrift_field(&ba, &last, &t, &id), RK_EFORMAT);
  /* a footer of garbage */
  rk_pq_file_meta m;
  uint8_t junk[64];
  for (int i = 0; i < 64; i++) junk[i] = (uint8_t)(i * 37 + 11);
  assert_int_not_equal(rk_pq_meta_parse(&m, junk, sizeof junk), RK_OK);
}

static void test_rle_hybrid(void **state) {
  (void)state;
  /* Encodings.md example: values 0..7 with bit width 3 bit-packed -> header 0x03, bytes 0x88 0xc6 0xfa */
  const uint8_t ex[] = {0x03, 0x88, 0xc6, 0xfa};
  uint32_t out[8];
  assert_rk_ok(rk_pq_rle_decode(out, 8, ex, sizeof ex, 3));
  for (uint32_t i = 0; i < 8; i++) assert_int_equal(out[i], i);
  /* a repeated run: 100 copies of 5 in width 3 */
  const uint8_t rep[] = {200, 1, 5};
  uint32_t many[100];
  assert_rk_ok(rk_pq_rle_decode(many, 100, rep, sizeof rep, 3));
  for (int i = 0; i < 100; i++) assert_int_equal(many[i], 5);
  /* asking for more values than the runs hold is an error */
  assert_int_equal(rk_pq_rle_decode(many, 100, rep, 2, 3), RK_EFORMAT);
  uint32_t more[101];
  assert_int_equal(rk_pq_rle_decode(more, 101, rep, sizeof rep, 3), RK_EFORMAT);
  /* a bit-packed run longer than the data */
  const uint8_t past[] = {0x41, 0xff};
  assert_int_equal(rk_pq_rle_decode(many, 100, past, sizeof past, 3), RK_EFORMAT);
  /* random mixes of runs and noise, widths 0..32 */
  rk_rng rng;
  rk_rng_init(&rng, 1, 0);
  enum { N = 3000 };
  static uint32_t v[N], back[N];
  for (int w = 0; w <= 32; w++) {
    uint32_t mask = w == 32 ? 0xffffffffu : ((1u << w) - 1);
    for (int i = 0; i < N;) {
      uint32_t x = rk_rng_u32(&rng) & mask;
      int run = rk_rng_bernoulli(&rng, 0.3) ? 1 + (int)rk_rng_below(&rng, 40) : 1;
      for (int k = 0; k < run && i < N; k++) v[i++] = x;
    }
    for (int n = 1; n <= N; n = n * 3 + 1) {
      rk_parquet_buf b = {0};
      rk_pq_rle_encode(&b, v, n, w);
      assert_false(b.failed);
      assert_rk_ok(rk_pq_rle_decode(back, n, b.data, b.len, w));
      assert_memory_equal(v, back, (size_t)n * 4);
      rk_parquet_buf_free(&b);
    }
  }
}

/* The bulk unpacker (8 values at a time, a loop per width) against the scalar one at every
 * width, for group counts that end exactly at the data's end (its padded tail), and the bulk
 * packer as its inverse. */
static void test_bulk_bit_unpacking(void **state) {
  (void)state;
  enum { MAXG = 67 };
  static uint8_t data[MAXG * 32], packed[MAXG * 32];
  static uint64_t ref[MAXG * 8];
  static uint32_t got[MAXG * 8 + 1];
  rk_rng rng;
  rk_rng_init(&rng, 5, 0);
  for (size_t i = 0; i < sizeof data; i++) data[i] = (uint8_t)rk_rng_u32(&rng);
  for (int w = 0; w <= 32; w++) {
    for (int64_t groups = 0; groups <= MAXG; groups += groups < 5 ? 1 : 31) {
      /* the data ends right after the groups: copy them to the end of a heap block */
      size_t bytes = (size_t)groups * (size_t)w;
      uint8_t *exact = rk_malloc(bytes ? bytes : 1);
      assert_non_null(exact);
      memcpy(exact, data, bytes);
      got[groups * 8] = 0xdeadbeef;   /* nothing written past the groups */
      rk_pq_unpack32(got, exact, groups, w);
      rk_pq_unpack_bits(ref, exact, groups * 8, w);
      for (int64_t i = 0; i < groups * 8; i++)
        if (got[i] != (uint32_t)ref[i]) fail_msg("width %d, %lld groups: value %lld is %u, not %llu", w, (long long)groups, (long long)i, got[i], (unsigned long long)ref[i]);
      assert_int_equal(got[groups * 8], 0xdeadbeef);
      rk_pq_pack32(packed, got, groups, w);
      assert_memory_equal(packed, exact, bytes);
      rk_free(exact);
    }
  }
  /* an RLE bit-packed run cut short at the end of the data, at every width */
  for (int w = 1; w <= 32; w++) {
    uint32_t v[13], back[13];
    for (int i = 0; i < 13; i++) v[i] = rk_rng_u32(&rng) & (w == 32 ? 0xffffffffu : (1u << w) - 1);
    uint8_t run[1 + 2 * 32] = {(2 << 1) | 1};   /* two groups of 8, 13 values wanted */
    uint32_t padded[16] = {0};
    memcpy(padded, v, sizeof v);
    rk_pq_pack32(run + 1, padded, 2, w);
    size_t need = 1 + ((size_t)13 * (size_t)w + 7) / 8;
    assert_rk_ok(rk_pq_rle_decode(back, 13, run, need, w));
    assert_memory_equal(back, v, sizeof v);
  }
}

static void test_delta_binary_packed(void **state) {
  (void)state;
  enum { N = 1000 };
  static int64_t v[N], back[N];
  rk_rng rng;
  rk_rng_init(&rng, 2, 0);
  for (int kind = 0; kind < 4; kind++) {
    for (int i = 0; i < N; i++) {
      switch (kind) {
        case 0: v[i] = i * 3 + 7; break;                                    /* constant delta */
        case 1: v[i] = (int64_t)rk_rng_u64(&rng); break;                     /* wraps around */
        case 2: v[i] = (int64_t)rk_rng_below(&rng, 100) - 50; break;
        default: v[i] = i % 2 ? INT64_MAX : INT64_MIN; break;
      }
    }
    for (int n = 0; n <= N; n = n * 2 + 1) {
      rk_parquet_buf b = {0};
      rk_pq_delta_encode(&b, v, n);
      int64_t count;
      assert_rk_ok(rk_pq_delta_count(&count, b.data, b.len));
      assert_int_equal(count, n);
      size_t used;
      assert_rk_ok(rk_pq_delta_decode(back, n, &used, b.data, b.len));
      assert_int_equal(used, b.len);
      if (n) assert_memory_equal(v, back, (size_t)n * 8);
      /* truncations fail cleanly, or decode the same values when only padding was cut */
      for (size_t cut = 0; n > 1 && cut < b.len; cut += 1 + b.len / 17) {
        memset(back, 0, sizeof back);
        if (rk_pq_delta_decode(back, n, &used, b.data, cut) == RK_OK) assert_memory_equal(v, back, (size_t)n * 8);
      }
      rk_parquet_buf_free(&b);
    }
  }
  /* Encodings.md example 1: 1..5 with block 128, 4 miniblocks: header 128 4 5 2(zz 1), min delta 1 (zz 2), widths 0 */
  const uint8_t ex[] = {0x80, 0x01, 0x04, 0x05, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00};
  size_t used;
  assert_rk_ok(rk_pq_delta_decode(back, 5, &used, ex, sizeof ex));
  for (int i = 0; i < 5; i++) assert_int_equal(back[i], i + 1);
}

static void test_codecs(void **state) {
  (void)state;
  enum { N = 20000 };
  static uint8_t data[N], back[N];
  for (int i = 0; i < N; i++) data[i] = (uint8_t)(i % 251 < 100 ? 'a' : i * 7);
  const int codecs[] = {RK_PQ_CODEC_UNCOMPRESSED, RK_PQ_CODEC_SNAPPY, RK_PQ_CODEC_GZIP, RK_PQ_CODEC_ZSTD, RK_PQ_CODEC_BROTLI,
                        RK_PQ_CODEC_LZ4_RAW};
  for (int c = 0; c < 6; c++) {
    rk_parquet_buf b = {0};
    assert_rk_ok(rk_pq_compress(codecs[c], 0, &b, data, N));
    assert_rk_ok(rk_pq_decompress(codecs[c], back, N, b.data, b.len));
    assert_memory_equal(data, back, N);
    /* a size that lies is an error */
    assert_int_not_equal(rk_pq_decompress(codecs[c], back, N - 1, b.data, b.len), RK_OK);
    /* a claim far beyond the codec's ratio is refused before any work */
    assert_true(rk_pq_max_uncompressed(codecs[c], 10) < ((size_t)1 << 30));
    rk_parquet_buf_free(&b);
  }
  /* the deprecated LZ4 codec in Hadoop framing: [u32 BE size][u32 BE compressed][block] */
  rk_parquet_buf raw = {0}, framed = {0};
  assert_rk_ok(rk_pq_compress(RK_PQ_CODEC_LZ4_RAW, 0, &raw, data, N));
  uint8_t hdr[8] = {0, 0, N >> 8, N & 0xff, (uint8_t)(raw.len >> 24), (uint8_t)(raw.len >> 16), (uint8_t)(raw.len >> 8), (uint8_t)raw.len};
  rk_parquet_buf_put(&framed, hdr, 8);
  rk_parquet_buf_put(&framed, raw.data, raw.len);
  assert_rk_ok(rk_pq_decompress(RK_PQ_CODEC_LZ4, back, N, framed.data, framed.len));
  assert_memory_equal(data, back, N);
  assert_rk_ok(rk_pq_decompress(RK_PQ_CODEC_LZ4, back, N, raw.data, raw.len));   /* raw block fallback */
  assert_memory_equal(data, back, N);
  rk_parquet_buf_free(&raw);
  rk_parquet_buf_free(&framed);
  assert_int_equal(rk_pq_decompress(RK_PQ_CODEC_LZO, back, 1, data, 1), RK_EUNSUPPORTED);
  assert_non_null(strstr(rk_error_message(), "unsupported: LZO"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_varint_zigzag), cmocka_unit_test(test_struct_roundtrip),   cmocka_unit_test(test_malformed),
      cmocka_unit_test(test_rle_hybrid),    cmocka_unit_test(test_delta_binary_packed), cmocka_unit_test(test_codecs),
      cmocka_unit_test(test_bulk_bit_unpacking),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
