/*
 * Parquet's RLE / bit-packed hybrid encoding (definition and repetition levels, dictionary
 * indices, booleans in v2 pages) and the LSB-first bit packing it is built on. It is not the
 * deprecated BIT_PACKED (MSB-first) encoding, which we reject where it appears.
 *
 * Follows apache/parquet-format Encodings.md, "Run Length Encoding / Bit-Packing Hybrid
 * (RLE = 3)": a run header is a ULEB128 varint; its low bit 1 means a bit-packed run of
 * (header >> 1) groups of 8 values, 0 a repeated run of (header >> 1) copies of one value stored
 * in ceil(bit_width / 8) little-endian bytes. Every run is checked against the buffer's end.
 */
#include <string.h>

#include "io/parquet/parquet_internal.h"

int rk_pq_bit_width(uint64_t max_value) {
  int w = 0;
  while (max_value) {
    w++;
    max_value >>= 1;
  }
  return w;
}

void rk_pq_unpack_bits(uint64_t *out, const uint8_t *data, int64_t n, int width) {
  if (width == 0) {
    memset(out, 0, (size_t)n * sizeof *out);
    return;
  }
  uint64_t mask = width == 64 ? ~(uint64_t)0 : (((uint64_t)1 << width) - 1);
  uint64_t bitpos = 0;
  for (int64_t i = 0; i < n; i++, bitpos += (uint64_t)width) {
    uint64_t byte = bitpos >> 3;
    int shift = (int)(bitpos & 7);
    int need = (shift + width + 7) / 8;   /* bytes that hold this value: at most 9 */
    uint64_t lo = 0;
    int first = need > 8 ? 8 : need;
    for (int k = 0; k < first; k++) lo |= (uint64_t)data[byte + (uint64_t)k] << (8 * k);
    uint64_t v = lo >> shift;
    if (need > 8) v |= (uint64_t)data[byte + 8] << (64 - shift);
    out[i] = v & mask;
  }
}

/* Groups of 8 values of a constant width: the compiler turns the shifts and masks into
 * constants for each width. Reads 8 bytes from each value's first byte, so the caller keeps 8
 * bytes of slack after the group. */
static inline __attribute__((always_inline)) void unpack8(uint32_t *out, const uint8_t *p, int width) {
  uint64_t mask = ((uint64_t)1 << width) - 1;
  for (int j = 0; j < 8; j++) {
    int bit = j * width;
    uint64_t x;
    memcpy(&x, p + (bit >> 3), 8);
    out[j] = (uint32_t)((x >> (bit & 7)) & mask);
  }
}

static void unpack_groups(uint32_t *out, const uint8_t *p, int64_t groups, int width) {
  switch (width) {
#define CASE(W) \
    case W: for (int64_t g = 0; g < groups; g++) unpack8(out + 8 * g, p + W * g, W); break;
    CASE(1) CASE(2) CASE(3) CASE(4) CASE(5) CASE(6) CASE(7) CASE(8)
    CASE(9) CASE(10) CASE(11) CASE(12) CASE(13) CASE(14) CASE(15) CASE(16)
    CASE(17) CASE(18) CASE(19) CASE(20) CASE(21) CASE(22) CASE(23) CASE(24)
    CASE(25) CASE(26) CASE(27) CASE(28) CASE(29) CASE(30) CASE(31) CASE(32)
#undef CASE
    default: break;
  }
}

void rk_pq_unpack32(uint32_t *out, const uint8_t *data, int64_t groups, int width) {
  if (groups <= 0) return;
  if (width == 0) {
    memset(out, 0, (size_t)groups * 8 * sizeof *out);
    return;
  }
  /* the groups whose 8-byte loads stay inside the data, then the rest through a padded copy */
  int64_t fast = groups - 1 - (8 + width - 1) / width;
  if (fast < 0) fast = 0;
  unpack_groups(out, data, fast, width);
  for (int64_t g = fast; g < groups; g++) {
    uint8_t tmp[32 + 8] = {0};
    memcpy(tmp, data + (size_t)g * (size_t)width, (size_t)width);
    unpack_groups(out + 8 * g, tmp, 1, width);
  }
}

rk_status rk_pq_rle_decode(uint32_t *out, int64_t n, const uint8_t *data, size_t len, int bit_width) {
  if (bit_width < 0 || bit_width > 32) return rk_error(RK_EFORMAT, "RLE bit width %d is outside 0..32", bit_width);
  const uint8_t *p = data, *end = data + len;
  int value_bytes = (bit_width + 7) / 8;
  int64_t i = 0;
  while (i < n) {
    uint64_t header = 0;
    int shift = 0;
    for (;;) {
      if (p >= end) return rk_error(RK_EFORMAT, "RLE data ends after %lld of %lld values", (long long)i, (long long)n);
      uint8_t b = *p++;
      if (shift > 56) return rk_error(RK_EFORMAT, "RLE run header is too long");
      header |= (uint64_t)(b & 0x7f) << shift;
      shift += 7;
      if (!(b & 0x80)) break;
    }
    if (header & 1) {
      uint64_t groups = header >> 1;
      if (groups == 0) continue;
      uint64_t left = (uint64_t)(end - p);
      uint64_t count = groups > ((uint64_t)1 << 40) ? (uint64_t)1 << 43 : groups * 8;
      uint64_t bytes = bit_width == 0 ? 0 : (groups > left ? left + 1 : groups * (uint64_t)bit_width);
      if (bytes > left) {
        /* the last run may be cut short if the values we still need are all there */
        uint64_t needed = (uint64_t)(n - i) < count ? (uint64_t)(n - i) : count;
        uint64_t need_bytes = (needed * (uint64_t)bit_width + 7) / 8;
        if (need_bytes > left)
          return rk_error(RK_EFORMAT, "bit-packed run of %llu values runs past the end of the data",
                          (unsigned long long)count);
        count = needed;
        bytes = need_bytes;
      }
      uint64_t take = (uint64_t)(n - i) < count ? (uint64_t)(n - i) : count;
      int64_t full = (int64_t)(take / 8);
      rk_pq_unpack32(out + i, p, full, bit_width);
      if (take % 8) {   /* the last group, partly wanted: its bytes may be cut short too */
        uint8_t tmp[32] = {0};
        uint64_t at = (uint64_t)full * (uint64_t)bit_width, have = bytes - at;
        memcpy(tmp, p + at, have < (uint64_t)bit_width ? have : (uint64_t)bit_width);
        uint32_t last[8];
        rk_pq_unpack32(last, tmp, 1, bit_width);
        memcpy(out + i + full * 8, last, (take % 8) * sizeof *last);
      }
      i += (int64_t)take;
      p += bytes;
    } else {
      uint64_t count = header >> 1;
      if ((int64_t)(end - p) < value_bytes) return rk_error(RK_EFORMAT, "RLE run value runs past the end of the data");
      uint32_t v = 0;
      for (int k = 0; k < value_bytes; k++) v |= (uint32_t)p[k] << (8 * k);
      p += value_bytes;
      if (bit_width < 32 && (v >> bit_width)) return rk_error(RK_EFORMAT, "RLE run value %u does not fit %d bits", v, bit_width);
      uint64_t take = (uint64_t)(n - i) < count ? (uint64_t)(n - i) : count;
      for (uint64_t j = 0; j < take; j++) out[i + (int64_t)j] = v;
      i += (int64_t)take;
    }
  }
  return RK_OK;
}

rk_status rk_pq_rle_span(size_t *used, int64_t n, const uint8_t *data, size_t len, int bit_width) {
  if (bit_width < 0 || bit_width > 32) return rk_error(RK_EFORMAT, "RLE bit width %d is outside 0..32", bit_width);
  size_t pos = 0;
  int64_t i = 0;
  while (i < n) {
    uint64_t header = 0;
    for (int shift = 0;; shift += 7) {
      if (pos >= len) return rk_error(RK_EFORMAT, "RLE data ends after %lld of %lld values", (long long)i, (long long)n);
      if (shift > 56) return rk_error(RK_EFORMAT, "RLE run header is too long");
      uint8_t b = data[pos++];
      header |= (uint64_t)(b & 0x7f) << shift;
      if (!(b & 0x80)) break;
    }
    uint64_t count = header >> 1, bytes = (uint64_t)(bit_width + 7) / 8, left = len - pos;
    if (header & 1) {   /* whole groups, except that a last run may stop at the last value wanted */
      uint64_t wanted = (uint64_t)(n - i);
      bool last = count >= (wanted + 7) / 8;
      uint64_t values = last ? wanted : count * 8;
      bytes = last && count * (uint64_t)bit_width > left ? (values * (uint64_t)bit_width + 7) / 8
                                                          : count * (uint64_t)bit_width;
      count = values;
    }
    if (bytes > left) return rk_error(RK_EFORMAT, "RLE run of %llu values runs past the end of the data", (unsigned long long)count);
    pos += (size_t)bytes;
    i += (uint64_t)(n - i) < count ? n - i : (int64_t)count;
  }
  *used = pos;
  return RK_OK;
}

static void put_uleb(rk_parquet_buf *buf, uint64_t v) {
  uint8_t b[10];
  int n = 0;
  while (v >= 0x80) {
    b[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  b[n++] = (uint8_t)v;
  rk_parquet_buf_put(buf, b, (size_t)n);
}

/* Pack groups of 8 values of `width` bits, LSB first, into width bytes each (the inverse of
 * rk_pq_unpack32); out must hold groups * width bytes. */
void rk_pq_pack32(uint8_t *out, const uint32_t *v, int64_t groups, int width) {
  for (int64_t g = 0; g < groups; g++, v += 8, out += width) {
    uint64_t acc = 0;
    int bits = 0, k = 0;
    for (int j = 0; j < 8; j++) {
      acc |= (uint64_t)v[j] << bits;
      bits += width;
      while (bits >= 8) {
        out[k++] = (uint8_t)acc;
        acc >>= 8;
        bits -= 8;
      }
    }
  }
}

/* Pack values into one bit-packed run (count a multiple of 8, padded by the caller). */
static void put_packed(rk_parquet_buf *buf, const uint32_t *v, int64_t count, int width) {
  put_uleb(buf, (uint64_t)(count / 8) << 1 | 1);
  size_t bytes = (size_t)(count * width / 8);
  if (!rk_parquet_buf_reserve(buf, bytes)) return;
  rk_pq_pack32(buf->data + buf->len, v, count / 8, width);
  buf->len += bytes;
}

static void put_repeat(rk_parquet_buf *buf, uint32_t v, int64_t count, int width) {
  put_uleb(buf, (uint64_t)count << 1);
  for (int k = 0; k < (width + 7) / 8; k++) rk_parquet_buf_byte(buf, (uint8_t)(v >> (8 * k)));
}

void rk_pq_rle_encode(rk_parquet_buf *buf, const uint32_t *values, int64_t n, int width) {
  /* Runs of 8 or more equal values become repeated runs; the rest is bit-packed in groups of 8
   * (a bit-packed stretch must hold a multiple of 8 values, so a run first tops it up). */
  uint32_t pending[512];
  int64_t np = 0, i = 0;
  while (i < n) {
    int64_t r = 1;
    while (i + r < n && values[i + r] == values[i]) r++;
    if (r >= 8 + (np % 8 ? 8 - np % 8 : 0) || (np == 0 && r >= 8)) {
      while (np % 8) {
        pending[np++] = values[i++];
        r--;
      }
      if (np) put_packed(buf, pending, np, width);
      np = 0;
      put_repeat(buf, values[i], r, width);
      i += r;
      continue;
    }
    for (int64_t k = 0; k < r; k++) {
      pending[np++] = values[i++];
      if (np == 512) {
        put_packed(buf, pending, np, width);
        np = 0;
      }
    }
  }
  if (np) {
    int64_t padded = (np + 7) / 8 * 8;
    for (int64_t k = np; k < padded; k++) pending[k] = 0;
    put_packed(buf, pending, padded, width);
  }
}
