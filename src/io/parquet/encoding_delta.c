/*
 * DELTA_BINARY_PACKED, Parquet's delta encoding of integers, used on its own for INT32/INT64
 * pages and inside DELTA_LENGTH_BYTE_ARRAY and DELTA_BYTE_ARRAY (chunk_read.c assembles those).
 * It is not the byte-array encodings themselves, and reckon's writer does not emit it by default
 * (the encoder is here for tests and for v2 pages that ask for it).
 *
 * Follows apache/parquet-format Encodings.md, "Delta Encoding (DELTA_BINARY_PACKED = 5)":
 * header <block size> <miniblocks per block> <total count> <first value (zigzag)>, then blocks of
 * <min delta (zigzag)> <one bit-width byte per miniblock> <miniblocks, LSB-first bit-packed>.
 * Arithmetic wraps around in 64 bits as the spec requires. Bounds-checked throughout.
 */
#include <string.h>

#include "io/parquet/parquet_internal.h"

typedef struct {
  const uint8_t *p, *end;
} cursor;

static rk_status uleb(cursor *c, uint64_t *v) {
  uint64_t x = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (c->p >= c->end) return rk_error(RK_EFORMAT, "DELTA_BINARY_PACKED data is truncated");
    uint8_t b = *c->p++;
    x |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *v = x;
      return RK_OK;
    }
  }
  return rk_error(RK_EFORMAT, "DELTA_BINARY_PACKED varint is too long");
}

static int64_t unzigzag(uint64_t u) { return (int64_t)(u >> 1) ^ -(int64_t)(u & 1); }

typedef struct {
  uint64_t block, miniblocks, total;
  int64_t first;
} header;

static rk_status read_header(header *h, cursor *c) {
  uint64_t first;
  RK_TRY(uleb(c, &h->block));
  RK_TRY(uleb(c, &h->miniblocks));
  RK_TRY(uleb(c, &h->total));
  RK_TRY(uleb(c, &first));
  h->first = unzigzag(first);
  if (h->block == 0 || h->block % 128 != 0 || h->block > (1u << 20) || h->miniblocks == 0 ||
      h->block % h->miniblocks != 0 || (h->block / h->miniblocks) % 32 != 0)
    return rk_error(RK_EFORMAT, "DELTA_BINARY_PACKED header has block size %llu with %llu miniblocks",
                    (unsigned long long)h->block, (unsigned long long)h->miniblocks);
  if (h->total > INT32_MAX) return rk_error(RK_EFORMAT, "DELTA_BINARY_PACKED header claims %llu values", (unsigned long long)h->total);
  return RK_OK;
}

rk_status rk_pq_delta_count(int64_t *n, const uint8_t *data, size_t len) {
  cursor c = {data, data + len};
  header h;
  RK_TRY(read_header(&h, &c));
  *n = (int64_t)h.total;
  return RK_OK;
}

rk_status rk_pq_delta_decode(int64_t *out, int64_t n, size_t *used, const uint8_t *data, size_t len) {
  cursor c = {data, data + len};
  header h;
  RK_TRY(read_header(&h, &c));
  if ((int64_t)h.total != n)
    return rk_error(RK_EFORMAT, "DELTA_BINARY_PACKED holds %llu values where %lld were expected", (unsigned long long)h.total,
                    (long long)n);
  if (n == 0) {
    *used = (size_t)(c.p - data);
    return RK_OK;
  }
  uint64_t per_mini = h.block / h.miniblocks;
  uint64_t prev = (uint64_t)h.first;
  out[0] = h.first;
  int64_t i = 1;
  uint64_t tmp[64];
  uint8_t widths[256];
  while (i < n) {
    uint64_t md;
    RK_TRY(uleb(&c, &md));
    uint64_t min_delta = (uint64_t)unzigzag(md);
    if (h.miniblocks > 256) return rk_error(RK_EFORMAT, "DELTA_BINARY_PACKED block has %llu miniblocks", (unsigned long long)h.miniblocks);
    if ((uint64_t)(c.end - c.p) < h.miniblocks) return rk_error(RK_EFORMAT, "DELTA_BINARY_PACKED data is truncated");
    memcpy(widths, c.p, (size_t)h.miniblocks);
    c.p += h.miniblocks;
    for (uint64_t m = 0; m < h.miniblocks && i < n; m++) {
      int w = widths[m];
      if (w > 64) return rk_error(RK_EFORMAT, "DELTA_BINARY_PACKED miniblock bit width %d exceeds 64", w);
      uint64_t bytes = per_mini * (uint64_t)w / 8;
      if ((uint64_t)(c.end - c.p) < bytes) {
        /* writers may drop the padding of the last miniblock: accept what the values need */
        uint64_t need = ((uint64_t)(n - i) * (uint64_t)w + 7) / 8;
        if ((uint64_t)(n - i) >= per_mini || (uint64_t)(c.end - c.p) < need)
          return rk_error(RK_EFORMAT, "DELTA_BINARY_PACKED miniblock runs past the end of the data");
        bytes = (uint64_t)(c.end - c.p);
      }
      uint64_t take = per_mini < (uint64_t)(n - i) ? per_mini : (uint64_t)(n - i);
      for (uint64_t done = 0; done < take;) {
        uint64_t k = take - done < 64 ? take - done : 64;
        rk_pq_unpack_bits(tmp, c.p + done * (uint64_t)w / 8, (int64_t)k, w);
        for (uint64_t j = 0; j < k; j++) {
          prev = prev + min_delta + tmp[j];
          out[i++] = (int64_t)prev;
        }
        done += k;
      }
      c.p += bytes;
    }
  }
  *used = (size_t)(c.p - data);
  return RK_OK;
}

static void put_uleb(rk_parquet_buf *b, uint64_t v) {
  while (v >= 0x80) {
    rk_parquet_buf_byte(b, (uint8_t)(v | 0x80));
    v >>= 7;
  }
  rk_parquet_buf_byte(b, (uint8_t)v);
}

static void put_zigzag(rk_parquet_buf *b, int64_t v) { put_uleb(b, ((uint64_t)v << 1) ^ (0 - ((uint64_t)v >> 63))); }

void rk_pq_delta_encode(rk_parquet_buf *buf, const int64_t *values, int64_t n) {
  enum { BLOCK = 128, MINI = 4, PER = BLOCK / MINI };
  put_uleb(buf, BLOCK);
  put_uleb(buf, MINI);
  put_uleb(buf, (uint64_t)n);
  put_zigzag(buf, n > 0 ? values[0] : 0);
  uint64_t deltas[BLOCK];
  for (int64_t i = 1; i < n; i += BLOCK) {
    int64_t k = n - i < BLOCK ? n - i : BLOCK;
    uint64_t min = UINT64_MAX;
    int64_t mind = 0;
    for (int64_t j = 0; j < k; j++) {
      int64_t d = (int64_t)((uint64_t)values[i + j] - (uint64_t)values[i + j - 1]);
      if (j == 0 || d < mind) mind = d;
    }
    (void)min;
    for (int64_t j = 0; j < BLOCK; j++)
      deltas[j] = j < k ? (uint64_t)values[i + j] - (uint64_t)values[i + j - 1] - (uint64_t)mind : 0;
    put_zigzag(buf, mind);
    int widths[MINI];
    int used = (int)((k + PER - 1) / PER);
    for (int m = 0; m < MINI; m++) {
      uint64_t mx = 0;
      for (int j = 0; j < PER; j++) mx |= deltas[m * PER + j];
      widths[m] = m < used ? rk_pq_bit_width(mx) : 0;
      rk_parquet_buf_byte(buf, (uint8_t)widths[m]);
    }
    for (int m = 0; m < used; m++) {
      int w = widths[m];
      size_t bytes = (size_t)PER * (size_t)w / 8;
      if (!rk_parquet_buf_reserve(buf, bytes)) return;
      uint8_t *o = buf->data + buf->len;
      memset(o, 0, bytes);
      for (int j = 0; j < PER; j++)
        for (int b = 0; b < w; b++)
          if (deltas[m * PER + j] >> b & 1) {
            size_t bit = (size_t)j * (size_t)w + (size_t)b;
            o[bit >> 3] |= (uint8_t)(1u << (bit & 7));
          }
      buf->len += bytes;
    }
  }
}
