/*
 * Decoding one Parquet column chunk into one reckon column: walks the pages (dictionary, data
 * v1 and v2), decompresses them, decodes repetition/definition levels and values, and
 * assembles nulls and lists. It is not file handling (reader.c reads the bytes and maps the
 * schema) and not the encodings' bit-level work (encoding_*.c).
 *
 * Follows apache/parquet-format README.md ("Data Pages", "Nested Encoding": levels then values),
 * Encodings.md (PLAIN, PLAIN_DICTIONARY/RLE_DICTIONARY, RLE, DELTA_*, BYTE_STREAM_SPLIT) and
 * LogicalTypes.md (the conversions to reckon types, INT96 timestamps, DECIMAL).
 * A page's CRC32, when its header has one, is checked before it is decoded; every size a page
 * states is checked against the bytes present, every dictionary index against the dictionary,
 * and errors name the column, row group and page (0-based).
 * Speed: a flat page without nulls (its definition levels one run) decodes straight into the
 * column; dictionary indices unpack 8 at a time (rk_pq_unpack32), are range-checked once per
 * page and gathered in a loop per value width; page buffers come from rk_pq_decode_scratch,
 * which the reader keeps per worker thread from chunk to chunk.
 */
#include <math.h>
#include <string.h>
#include <zlib.h>

#include "io/parquet/parquet_internal.h"

#define MAX_PAGE_VALUES ((int64_t)1 << 27)

typedef struct {
  const rk_pq_chunk_in *in;
  const rk_pq_column_plan *plan;
  rk_column *col;
  rk_coltype leaf_type;     /* type of the values: the column's, or a list's elements */
  rk_column dict;
  bool has_dict;
  rk_column vals;           /* the current page's non-null values */
  int page;
  int64_t values_seen;
  int64_t elems;            /* lists: child elements assigned to rows so far */
  int64_t start_rows;       /* the column's length before this chunk */
  bool row_open, row_null;
  rk_pq_decode_scratch *s;  /* the caller's, or own */
  rk_pq_decode_scratch own;
} decoder;

static bool grow_bytes(uint8_t **p, size_t *cap, size_t need) {
  if (need <= *cap) return true;
  size_t c = need < 4096 ? 4096 : need;
  uint8_t *n = rk_realloc(*p, c);
  if (!n) return false;
  *p = n;
  *cap = c;
  return true;
}

static bool grow_u32(uint32_t **p, int64_t *cap, int64_t need) {
  if (need <= *cap) return true;
  rk_free(*p);
  *p = rk_malloc((size_t)need * sizeof **p);
  *cap = *p ? need : 0;
  return *p != NULL;
}

/* ---- conversions from physical values to reckon's types ----------------------------------- */
static uint32_t le32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t le64(const uint8_t *p) { return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32; }

/* Big-endian two's complement bytes (DECIMAL in byte arrays) as a double. */
static double be_decimal(const uint8_t *p, size_t n, double scale_div) {
  if (n == 0) return 0.0;
  if (n <= 8) {
    uint64_t u = 0;
    for (size_t i = 0; i < n; i++) u = u << 8 | p[i];
    if (p[0] & 0x80 && n < 8) u |= ~(uint64_t)0 << (8 * n);
    return (double)(int64_t)u / scale_div;
  }
  bool neg = p[0] & 0x80;
  double v = 0.0;
  for (size_t i = 0; i < n; i++) v = v * 256.0 + (double)(neg ? (uint8_t)~p[i] : p[i]);
  if (neg) v = -(v + 1.0);
  return v / scale_div;
}

static double decimal_div(const rk_pq_column_plan *plan) { return pow(10.0, plan->info.decimal_scale); }

/* Append count fixed-size physical values (PLAIN layout) converted to out's type. */
static rk_status append_fixed(rk_column *out, const rk_pq_column_plan *plan, const uint8_t *raw, int64_t count) {
  int64_t at = out->length;
  if (out->type == RK_COL_STRING) {   /* FIXED_LEN_BYTE_ARRAY kept as bytes */
    size_t w = (size_t)plan->type_length;
    RK_TRY(rk_column_reserve(out, at + count, out->offsets[at] + count * (int64_t)w));
    if (count > 0 && w > 0) memcpy((char *)out->values + out->offsets[at], raw, (size_t)count * w);
    for (int64_t i = 0; i < count; i++) out->offsets[at + i + 1] = out->offsets[at + i] + (int64_t)w;
    out->length = at + count;
    return RK_OK;
  }
  RK_TRY(rk_column_reserve(out, at + count, 0));
  bool decimal = plan->info.logical == RK_PARQUET_LOGICAL_DECIMAL;
  /* the common cases in a loop of their own (little-endian machine: PLAIN is the memory layout) */
  if (!decimal && count > 0) {
    int ph = plan->physical;
    rk_coltype t = out->type;
    bool same = (ph == RK_PQ_INT32 && (t == RK_COL_INT32 || t == RK_COL_UINT32)) || (ph == RK_PQ_FLOAT && t == RK_COL_FLOAT32) ||
                (ph == RK_PQ_INT64 && (t == RK_COL_INT64 || t == RK_COL_UINT64)) || (ph == RK_PQ_DOUBLE && t == RK_COL_FLOAT64) ||
                (ph == RK_PQ_BOOLEAN && t == RK_COL_UINT8);
    if (same) {
      size_t w = rk_coltype_width(t);
      memcpy((char *)out->values + (size_t)at * w, raw, (size_t)count * w);
      out->length = at + count;
      return RK_OK;
    }
    if (ph == RK_PQ_INT32 && (t == RK_COL_INT8 || t == RK_COL_UINT8)) {
      uint8_t *v = (uint8_t *)out->values + at;
      for (int64_t i = 0; i < count; i++) v[i] = raw[4 * i];
      out->length = at + count;
      return RK_OK;
    }
    if (ph == RK_PQ_INT32 && (t == RK_COL_INT16 || t == RK_COL_UINT16)) {
      uint16_t *v = (uint16_t *)out->values + at;
      for (int64_t i = 0; i < count; i++) v[i] = (uint16_t)(raw[4 * i] | raw[4 * i + 1] << 8);
      out->length = at + count;
      return RK_OK;
    }
  }
  double div = decimal ? decimal_div(plan) : 1.0;
  void *v = out->values;
  for (int64_t i = 0; i < count; i++) {
    int64_t r = at + i;
    switch (plan->physical) {
      case RK_PQ_BOOLEAN: ((uint8_t *)v)[r] = raw[i]; break;
      case RK_PQ_INT32: {
        int32_t x = (int32_t)le32(raw + 4 * i);
        switch (out->type) {
          case RK_COL_INT8: ((int8_t *)v)[r] = (int8_t)x; break;
          case RK_COL_INT16: ((int16_t *)v)[r] = (int16_t)x; break;
          case RK_COL_UINT8: ((uint8_t *)v)[r] = (uint8_t)x; break;
          case RK_COL_UINT16: ((uint16_t *)v)[r] = (uint16_t)x; break;
          case RK_COL_UINT32: ((uint32_t *)v)[r] = (uint32_t)x; break;
          case RK_COL_FLOAT64: ((double *)v)[r] = (double)x / div; break;
          default: ((int32_t *)v)[r] = x; break;
        }
        break;
      }
      case RK_PQ_INT64: {
        uint64_t x = le64(raw + 8 * i);
        if (out->type == RK_COL_FLOAT64) ((double *)v)[r] = (double)(int64_t)x / div;
        else ((uint64_t *)v)[r] = x;
        break;
      }
      case RK_PQ_INT96: {
        const uint8_t *p = raw + 12 * i;
        int64_t nanos = (int64_t)le64(p), julian = (int32_t)le32(p + 8), ns;
        if (__builtin_mul_overflow(julian - 2440588, INT64_C(86400000000000), &ns) || __builtin_add_overflow(ns, nanos, &ns))
          return rk_error(RK_ERANGE, "INT96 timestamp (Julian day %lld) is outside int64 nanoseconds (years 1677 to 2262)",
                          (long long)julian);
        ((int64_t *)v)[r] = ns;
        break;
      }
      case RK_PQ_FLOAT: {
        uint32_t b = le32(raw + 4 * i);
        memcpy((float *)v + r, &b, 4);
        break;
      }
      case RK_PQ_DOUBLE: {
        uint64_t b = le64(raw + 8 * i);
        memcpy((double *)v + r, &b, 8);
        break;
      }
      case RK_PQ_FIXED_LEN_BYTE_ARRAY: {
        const uint8_t *p = raw + (size_t)i * (size_t)plan->type_length;
        if (out->type == RK_COL_FLOAT32) ((float *)v)[r] = rk_f16_to_f32((uint16_t)(p[0] | p[1] << 8));
        else ((double *)v)[r] = be_decimal(p, (size_t)plan->type_length, div);
        break;
      }
      default: return rk_error(RK_EINTERNAL, "physical type %d as fixed", plan->physical);
    }
  }
  out->length = at + count;
  return RK_OK;
}

/* Append one byte array (BYTE_ARRAY value) converted to out's type. */
static rk_status append_bytes(rk_column *out, const rk_pq_column_plan *plan, const uint8_t *p, size_t n) {
  if (out->type == RK_COL_STRING) return rk_column_append_string(out, (const char *)p, n);
  return rk_column_append_double(out, be_decimal(p, n, decimal_div(plan)));
}

static size_t physical_size(const rk_pq_column_plan *plan) {
  switch (plan->physical) {
    case RK_PQ_BOOLEAN: return 1;
    case RK_PQ_INT32:
    case RK_PQ_FLOAT: return 4;
    case RK_PQ_INT64:
    case RK_PQ_DOUBLE: return 8;
    case RK_PQ_INT96: return 12;
    case RK_PQ_FIXED_LEN_BYTE_ARRAY: return (size_t)plan->type_length;
    default: return 0;
  }
}

/* ---- value encodings ---------------------------------------------------------------------- */
static rk_status decode_plain(decoder *d, rk_column *out, const uint8_t *p, size_t len, int64_t count) {
  const rk_pq_column_plan *plan = d->plan;
  if (plan->physical == RK_PQ_BOOLEAN) {
    if ((uint64_t)len * 8 < (uint64_t)count)
      return rk_error(RK_EFORMAT, "PLAIN booleans: %lld values need %lld bytes, the page has %zu", (long long)count,
                      (long long)((count + 7) / 8), len);
    if (!grow_bytes(&d->s->bytes, &d->s->bytes_cap, (size_t)count + 1)) return RK_ENOMEM;
    for (int64_t i = 0; i < count; i++) d->s->bytes[i] = p[i >> 3] >> (i & 7) & 1;
    return append_fixed(out, plan, d->s->bytes, count);
  }
  if (plan->physical == RK_PQ_BYTE_ARRAY) {
    size_t pos = 0;
    if (out->type == RK_COL_STRING) RK_TRY(rk_column_reserve(out, out->length + count, out->offsets[out->length] + (int64_t)len));
    for (int64_t i = 0; i < count; i++) {
      if (len - pos < 4) return rk_error(RK_EFORMAT, "PLAIN byte arrays end after %lld of %lld values", (long long)i, (long long)count);
      uint32_t n = le32(p + pos);
      pos += 4;
      if (n > len - pos)
        return rk_error(RK_EFORMAT, "PLAIN byte array %lld of %u bytes runs past the end of the page", (long long)i, n);
      RK_TRY(append_bytes(out, plan, p + pos, n));
      pos += n;
    }
    return RK_OK;
  }
  size_t w = physical_size(plan);
  if (w == 0) return rk_error(RK_EFORMAT, "FIXED_LEN_BYTE_ARRAY column has length 0");
  if ((uint64_t)count > len / w)
    return rk_error(RK_EFORMAT, "PLAIN values: %lld values of %zu bytes need more than the %zu bytes the page has", (long long)count, w,
                    len);
  return append_fixed(out, plan, p, count);
}

static rk_status decode_dict_indices(decoder *d, rk_column *out, const uint8_t *p, size_t len, int64_t count) {
  if (!d->has_dict) return rk_error(RK_EFORMAT, "dictionary-encoded page without a dictionary page");
  if (count == 0) return RK_OK;
  if (len < 1) return rk_error(RK_EFORMAT, "dictionary-encoded page has no bit width");
  int bw = p[0];
  if (bw > 32) return rk_error(RK_EFORMAT, "dictionary index bit width %d exceeds 32", bw);
  if (!grow_u32(&d->s->idx, &d->s->idx_cap, count)) return RK_ENOMEM;
  uint32_t *idx = d->s->idx;
  RK_TRY(rk_pq_rle_decode(idx, count, p + 1, len - 1, bw));
  const rk_column *dict = &d->dict;
  int64_t n = dict->length;
  uint32_t top = 0;   /* one check for the page, then gathers without branches */
  for (int64_t i = 0; i < count; i++) top = idx[i] > top ? idx[i] : top;
  if (top >= n) {
    for (int64_t i = 0; i < count; i++)
      if (idx[i] >= n)
        return rk_error(RK_EFORMAT, "dictionary index %u out of range (dictionary has %lld entries)", idx[i], (long long)n);
  }
  int64_t at = out->length;
  if (out->type == RK_COL_STRING) {
    int64_t bytes = 0;
    for (int64_t i = 0; i < count; i++) bytes += dict->offsets[idx[i] + 1] - dict->offsets[idx[i]];
    RK_TRY(rk_column_reserve(out, at + count, out->offsets[at] + bytes));
    char *dst = out->values;
    for (int64_t i = 0; i < count; i++) {
      int64_t b = dict->offsets[idx[i]], e = dict->offsets[idx[i] + 1];
      if (e > b) memcpy(dst + out->offsets[at + i], (const char *)dict->values + b, (size_t)(e - b));
      out->offsets[at + i + 1] = out->offsets[at + i] + (e - b);
    }
    out->length = at + count;
    return RK_OK;
  }
  RK_TRY(rk_column_reserve(out, at + count, 0));
  switch (rk_coltype_width(out->type)) {
    case 1: {
      const uint8_t *src = dict->values;
      uint8_t *dst = (uint8_t *)out->values + at;
      for (int64_t i = 0; i < count; i++) dst[i] = src[idx[i]];
      break;
    }
    case 2: {
      const uint16_t *src = dict->values;
      uint16_t *dst = (uint16_t *)out->values + at;
      for (int64_t i = 0; i < count; i++) dst[i] = src[idx[i]];
      break;
    }
    case 4: {
      const uint32_t *src = dict->values;
      uint32_t *dst = (uint32_t *)out->values + at;
      for (int64_t i = 0; i < count; i++) dst[i] = src[idx[i]];
      break;
    }
    case 8: {
      const uint64_t *src = dict->values;
      uint64_t *dst = (uint64_t *)out->values + at;
      for (int64_t i = 0; i < count; i++) dst[i] = src[idx[i]];
      break;
    }
    default: return rk_error(RK_EINTERNAL, "dictionary of %s values", rk_coltype_name(out->type));
  }
  out->length = at + count;
  return RK_OK;
}

static rk_status decode_bool_rle(decoder *d, rk_column *out, const uint8_t *p, size_t len, int64_t count) {
  if (len < 4) return rk_error(RK_EFORMAT, "RLE booleans lack their length");
  uint32_t n = le32(p);
  if (n > len - 4) return rk_error(RK_EFORMAT, "RLE booleans of %u bytes run past the end of the page", n);
  uint32_t *v = rk_malloc((size_t)(count ? count : 1) * sizeof *v);
  if (!v) return RK_ENOMEM;
  rk_status s = rk_pq_rle_decode(v, count, p + 4, n, 1);
  if (s == RK_OK && grow_bytes(&d->s->bytes, &d->s->bytes_cap, (size_t)count + 1)) {
    for (int64_t i = 0; i < count; i++) d->s->bytes[i] = (uint8_t)v[i];
    s = append_fixed(out, d->plan, d->s->bytes, count);
  } else if (s == RK_OK) {
    s = RK_ENOMEM;
  }
  rk_free(v);
  return s;
}

static rk_status decode_delta_ints(decoder *d, rk_column *out, const uint8_t *p, size_t len, int64_t count) {
  const rk_pq_column_plan *plan = d->plan;
  if (plan->physical != RK_PQ_INT32 && plan->physical != RK_PQ_INT64)
    return rk_error(RK_EFORMAT, "DELTA_BINARY_PACKED on a %s column", rk_parquet_physical_name(plan->physical));
  int64_t *v = rk_malloc((size_t)(count ? count : 1) * sizeof *v);
  if (!v) return RK_ENOMEM;
  size_t used;
  rk_status s = rk_pq_delta_decode(v, count, &used, p, len);
  if (s == RK_OK) {
    size_t w = physical_size(plan);
    if (!grow_bytes(&d->s->bytes, &d->s->bytes_cap, (size_t)count * w + 1)) {
      s = RK_ENOMEM;
    } else {
      for (int64_t i = 0; i < count; i++) {
        uint64_t x = (uint64_t)v[i];
        for (size_t k = 0; k < w; k++) d->s->bytes[(size_t)i * w + k] = (uint8_t)(x >> (8 * k));
      }
      s = append_fixed(out, plan, d->s->bytes, count);
    }
  }
  rk_free(v);
  return s;
}

/* Lengths (DELTA_BINARY_PACKED) then concatenated bytes; with prefixes for DELTA_BYTE_ARRAY. */
static rk_status decode_delta_bytes(decoder *d, rk_column *out, const uint8_t *p, size_t len, int64_t count, bool with_prefix) {
  const rk_pq_column_plan *plan = d->plan;
  if (plan->physical != RK_PQ_BYTE_ARRAY && !(with_prefix && plan->physical == RK_PQ_FIXED_LEN_BYTE_ARRAY))
    return rk_error(RK_EFORMAT, "%s on a %s column", with_prefix ? "DELTA_BYTE_ARRAY" : "DELTA_LENGTH_BYTE_ARRAY",
                    rk_parquet_physical_name(plan->physical));
  int64_t *pre = NULL, *lens = rk_malloc((size_t)(count ? count : 1) * sizeof *lens);
  if (!lens) return RK_ENOMEM;
  rk_status s = RK_OK;
  size_t pos = 0, used = 0;
  if (with_prefix) {
    if (!(pre = rk_malloc((size_t)(count ? count : 1) * sizeof *pre))) s = RK_ENOMEM;
    if (s == RK_OK) s = rk_pq_delta_decode(pre, count, &used, p, len);
    pos += used;
  }
  if (s == RK_OK) s = rk_pq_delta_decode(lens, count, &used, p + pos, len - pos);
  pos += used;
  size_t prev_len = 0;
  uint8_t *prev = NULL;
  size_t prev_cap = 0;
  for (int64_t i = 0; s == RK_OK && i < count; i++) {
    int64_t n = lens[i], k = with_prefix ? pre[i] : 0;
    if (n < 0 || (uint64_t)n > len - pos) {
      s = rk_error(RK_EFORMAT, "byte array %lld of %lld bytes runs past the end of the page", (long long)i, (long long)n);
      break;
    }
    if (k < 0 || (size_t)k > prev_len) {
      s = rk_error(RK_EFORMAT, "DELTA_BYTE_ARRAY prefix of %lld bytes is longer than the previous value (%zu)", (long long)k, prev_len);
      break;
    }
    const uint8_t *value = p + pos;
    size_t vlen = (size_t)n;
    if (with_prefix) {
      if (!grow_bytes(&prev, &prev_cap, (size_t)k + (size_t)n + 1)) {
        s = RK_ENOMEM;
        break;
      }
      memcpy(prev + k, p + pos, (size_t)n);
      prev_len = (size_t)k + (size_t)n;
      value = prev;
      vlen = prev_len;
    }
    pos += (size_t)n;
    if (plan->physical == RK_PQ_FIXED_LEN_BYTE_ARRAY) {
      if (vlen != (size_t)plan->type_length) {
        s = rk_error(RK_EFORMAT, "value of %zu bytes in a FIXED_LEN_BYTE_ARRAY(%d) column", vlen, plan->type_length);
        break;
      }
      s = append_fixed(out, plan, value, 1);
    } else {
      s = append_bytes(out, plan, value, vlen);
    }
  }
  rk_free(prev);
  rk_free(pre);
  rk_free(lens);
  return s;
}

static rk_status decode_byte_stream_split(decoder *d, rk_column *out, const uint8_t *p, size_t len, int64_t count) {
  const rk_pq_column_plan *plan = d->plan;
  size_t w = physical_size(plan);
  if (plan->physical == RK_PQ_BOOLEAN || plan->physical == RK_PQ_BYTE_ARRAY || plan->physical == RK_PQ_INT96 || w == 0)
    return rk_error(RK_EFORMAT, "BYTE_STREAM_SPLIT on a %s column", rk_parquet_physical_name(plan->physical));
  if ((uint64_t)count > len / w)
    return rk_error(RK_EFORMAT, "BYTE_STREAM_SPLIT: %lld values of %zu bytes need more than the %zu bytes the page has",
                    (long long)count, w, len);
  size_t n = (size_t)count;
  size_t stream = len / w;   /* each stream holds the page's values */
  if (!grow_bytes(&d->s->bytes, &d->s->bytes_cap, n * w + 1)) return RK_ENOMEM;
  for (size_t i = 0; i < n; i++)
    for (size_t k = 0; k < w; k++) d->s->bytes[i * w + k] = p[k * stream + i];
  return append_fixed(out, plan, d->s->bytes, count);
}

static rk_status decode_values(decoder *d, rk_column *out, int encoding, const uint8_t *p, size_t len, int64_t count) {
  switch (encoding) {
    case RK_PQ_ENC_PLAIN: return decode_plain(d, out, p, len, count);
    case RK_PQ_ENC_PLAIN_DICTIONARY:
    case RK_PQ_ENC_RLE_DICTIONARY: return decode_dict_indices(d, out, p, len, count);
    case RK_PQ_ENC_RLE:
      if (d->plan->physical != RK_PQ_BOOLEAN) return rk_error(RK_EFORMAT, "RLE values in a non-boolean column");
      return decode_bool_rle(d, out, p, len, count);
    case RK_PQ_ENC_DELTA_BINARY_PACKED: return decode_delta_ints(d, out, p, len, count);
    case RK_PQ_ENC_DELTA_LENGTH_BYTE_ARRAY: return decode_delta_bytes(d, out, p, len, count, false);
    case RK_PQ_ENC_DELTA_BYTE_ARRAY: return decode_delta_bytes(d, out, p, len, count, true);
    case RK_PQ_ENC_BYTE_STREAM_SPLIT: return decode_byte_stream_split(d, out, p, len, count);
    default: return rk_error(RK_EUNSUPPORTED, "unsupported: %s encoding", rk_parquet_encoding_name(encoding));
  }
}

/* ---- levels and assembly ------------------------------------------------------------------ */
static rk_status decode_levels(uint32_t *out, int64_t n, const uint8_t *p, size_t len, int max, const char *what) {
  RK_TRY(rk_pq_rle_decode(out, n, p, len, rk_pq_bit_width((uint64_t)max)));
  for (int64_t i = 0; i < n; i++)
    if (out[i] > (uint32_t)max)
      return rk_error(RK_EFORMAT, "%s level %u exceeds the maximum %d", what, out[i], max);
  return RK_OK;
}

/* Whether RLE levels open with a repeated run of `max` covering all n values (a page without
 * nulls, as writers store it): then the levels need not be expanded. Flat columns only (the
 * caller's max_rep is 0), so no one reads the expanded levels. */
static bool all_defined(const uint8_t *p, size_t len, int64_t n, int max) {
  uint64_t header = 0;
  size_t i = 0;
  bool ended = false;
  for (int shift = 0; i < len && shift <= 56 && !ended; shift += 7) {
    uint8_t b = p[i++];
    header |= (uint64_t)(b & 0x7f) << shift;
    ended = !(b & 0x80);
  }
  if (!ended || (header & 1) || (header >> 1) < (uint64_t)n) return false;
  int bytes = (rk_pq_bit_width((uint64_t)max) + 7) / 8;
  if (len - i < (size_t)bytes) return false;
  uint32_t v = 0;
  for (int k = 0; k < bytes; k++) v |= (uint32_t)p[i + (size_t)k] << (8 * k);
  return v == (uint32_t)max;
}

static rk_status finish_row(decoder *d) {
  rk_column *col = d->col;
  d->row_open = false;
  /* a null row has no elements; the child's values of the page are appended after its rows */
  if (d->row_null) return rk_column_append_null(col);
  int64_t r = col->length;
  RK_TRY(rk_column_reserve(col, r + 1, 0));
  col->offsets[r + 1] = d->elems;
  col->length = r + 1;
  return RK_OK;
}

/* Place the page's values (d->vals) into the column following the levels. */
static rk_status assemble(decoder *d, int64_t n) {
  const rk_pq_column_plan *plan = d->plan;
  rk_column *col = d->col;
  if (!plan->is_list) {
    if (plan->max_def == 0) return rk_column_append_column(col, &d->vals, 0, d->vals.length);
    size_t w = rk_coltype_width(col->type);
    if (w > 0) {   /* fixed width: values to their rows, zeros in the null slots, then the bitmap */
      int64_t at = col->length, k = 0;
      RK_TRY(rk_column_reserve(col, at + n, 0));
      const uint32_t *def = d->s->def, top = (uint32_t)plan->max_def;
      const char *src = d->vals.values;
      char *dst = (char *)col->values + (size_t)at * w;
      for (int64_t i = 0; i < n; i++) {
        if (def[i] == top) memcpy(dst + (size_t)i * w, src + (size_t)k++ * w, w);
        else memset(dst + (size_t)i * w, 0, w);
      }
      col->length = at + n;
      for (int64_t i = 0; i < n; i++)
        if (def[i] != top) RK_TRY(rk_column_set_null(col, at + i));
      return RK_OK;
    }
    int64_t k = 0;
    for (int64_t i = 0; i < n;) {
      if (d->s->def[i] == (uint32_t)plan->max_def) {
        int64_t j = i;
        while (j < n && d->s->def[j] == (uint32_t)plan->max_def) j++;
        RK_TRY(rk_column_append_column(col, &d->vals, k, k + (j - i)));
        k += j - i;
        i = j;
      } else {
        RK_TRY(rk_column_append_null(col));
        i++;
      }
    }
    return RK_OK;
  }
  bool holes = false;   /* a null element: an element slot whose value is not defined */
  for (int64_t i = 0; i < n; i++) {
    uint32_t def = plan->max_def ? d->s->def[i] : 0, rep = d->s->rep[i];
    if (rep == 0) {
      if (d->row_open) RK_TRY(finish_row(d));
      d->row_open = true;
      d->row_null = (int)def < plan->list_def;
    } else if (!d->row_open) {
      return rk_error(RK_EFORMAT, "repetition level %u starts a column chunk", rep);
    }
    if ((int)def >= plan->elem_def) {
      holes |= (int)def < plan->max_def;
      d->elems++;
    }
  }
  if (!holes) return rk_column_append_column(col->child, &d->vals, 0, d->vals.length);
  /* Null elements become null slots of the child (Arrow's layout); the values fill the rest in
   * order, a run of defined elements at a time. */
  int64_t k = 0;
  for (int64_t i = 0; i < n;) {
    int def = (int)d->s->def[i];
    if (def < plan->elem_def) {
      i++;
    } else if (def < plan->max_def) {
      RK_TRY(rk_column_append_null(col->child));
      i++;
    } else {
      int64_t j = i + 1;
      while (j < n && (int)d->s->def[j] == plan->max_def) j++;
      RK_TRY(rk_column_append_column(col->child, &d->vals, k, k + (j - i)));
      k += j - i;
      i = j;
    }
  }
  return RK_OK;
}

static rk_status ensure_levels(decoder *d, int64_t n) {
  if (!grow_u32(&d->s->def, &d->s->def_cap, n)) return RK_ENOMEM;
  if (d->plan->max_rep > 0 && !grow_u32(&d->s->rep, &d->s->rep_cap, n)) return RK_ENOMEM;
  return RK_OK;
}

static rk_status decompress_into(decoder *d, const uint8_t *src, size_t src_len, size_t dst_len, const uint8_t **out) {
  int codec = d->in->chunk->codec;
  if (codec == RK_PQ_CODEC_UNCOMPRESSED || (src_len == 0 && dst_len == 0)) {   /* writers store empty pages raw */
    if (src_len != dst_len)
      return rk_error(RK_EFORMAT, "uncompressed page of %zu bytes states %zu bytes", src_len, dst_len);
    *out = src;
    return RK_OK;
  }
  if (dst_len > rk_pq_max_uncompressed(codec, src_len))
    return rk_error(RK_EFORMAT, "%s page of %zu bytes claims %zu bytes uncompressed (more than the codec can produce)",
                    rk_parquet_codec_name(codec), src_len, dst_len);
  if (!grow_bytes(&d->s->page, &d->s->page_cap, dst_len + 1)) return RK_ENOMEM;
  RK_TRY(rk_pq_decompress(codec, d->s->page, dst_len, src, src_len));
  *out = d->s->page;
  return RK_OK;
}

/* A v2 page's header splits it into repetition levels, definition levels and values, outside
 * the CRC's reach: each level section must hold exactly its n levels, so a wrong split is an
 * error, not values read from the wrong bytes. */
static rk_status check_v2_levels(const decoder *d, const rk_pq_page_header *h, const uint8_t *src, int64_t n) {
  const int32_t bytes[2] = {h->rep_bytes, h->def_bytes};
  const int maxes[2] = {d->plan->max_rep, d->plan->max_def};
  const char *names[2] = {"repetition", "definition"};
  size_t at = 0;
  for (int k = 0; k < 2; k++) {
    size_t used = 0;
    if (maxes[k] > 0) {
      RK_TRY(rk_pq_rle_span(&used, n, src + at, (size_t)bytes[k], rk_pq_bit_width((uint64_t)maxes[k])));
    } else if (bytes[k] > 0) {   /* a level the column lacks: no bytes, or (parquet-rs) a run of 0-bit levels */
      if (src[at] & 1) return rk_error(RK_EFORMAT, "%s levels of a column without them are bit-packed", names[k]);
      RK_TRY(rk_pq_rle_span(&used, n, src + at, (size_t)bytes[k], 0));
    }
    if (used != (size_t)bytes[k])
      return rk_error(RK_EFORMAT, "%s levels of %lld values take %zu bytes, the page header says %d", names[k], (long long)n,
                      used, bytes[k]);
    at += (size_t)bytes[k];
  }
  return RK_OK;
}

static rk_status data_page(decoder *d, const rk_pq_page_header *h, const uint8_t *src) {
  const rk_pq_column_plan *plan = d->plan;
  int64_t n = h->num_values;
  int64_t left = d->in->chunk->num_values - d->values_seen;
  if (n > left)
    return rk_error(RK_EFORMAT, "page holds %lld values but the column chunk has only %lld left", (long long)n, (long long)left);
  if (n > MAX_PAGE_VALUES)
    return rk_error(RK_EUNSUPPORTED, "unsupported: page of %lld values (limit %lld)", (long long)n, (long long)MAX_PAGE_VALUES);
  RK_TRY(ensure_levels(d, n ? n : 1));
  bool full = false;   /* a flat page whose definition levels are one run of the maximum: no nulls */
  const uint8_t *vp;
  size_t vlen;
  if (h->type == RK_PQ_PAGE_DATA) {
    const uint8_t *p;
    RK_TRY(decompress_into(d, src, (size_t)h->compressed_size, (size_t)h->uncompressed_size, &p));
    size_t len = (size_t)h->uncompressed_size, pos = 0;
    int maxes[2] = {plan->max_rep, plan->max_def};
    int encs[2] = {h->rep_encoding, h->def_encoding};
    uint32_t *dst[2] = {d->s->rep, d->s->def};
    const char *names[2] = {"repetition", "definition"};
    for (int k = 0; k < 2; k++) {
      if (maxes[k] == 0) continue;
      if (encs[k] != RK_PQ_ENC_RLE)
        return rk_error(RK_EUNSUPPORTED, "unsupported: %s levels in %s encoding", names[k], rk_parquet_encoding_name(encs[k]));
      if (len - pos < 4) return rk_error(RK_EFORMAT, "%s levels lack their length", names[k]);
      uint32_t ln = le32(p + pos);
      pos += 4;
      if (ln > len - pos) return rk_error(RK_EFORMAT, "%s levels of %u bytes run past the end of the page", names[k], ln);
      if (k == 1 && plan->max_rep == 0 && !plan->is_list && all_defined(p + pos, ln, n, maxes[k])) full = true;
      else RK_TRY(decode_levels(dst[k], n, p + pos, ln, maxes[k], names[k]));
      pos += ln;
    }
    vp = p + pos;
    vlen = len - pos;
  } else {
    size_t lev = (size_t)h->rep_bytes + (size_t)h->def_bytes;
    if (lev > (size_t)h->compressed_size || lev > (size_t)h->uncompressed_size)
      return rk_error(RK_EFORMAT, "levels of %zu bytes are larger than the page", lev);
    RK_TRY(check_v2_levels(d, h, src, n));
    if (plan->max_rep > 0) RK_TRY(decode_levels(d->s->rep, n, src, (size_t)h->rep_bytes, plan->max_rep, "repetition"));
    if (plan->max_def > 0 && plan->max_rep == 0 && !plan->is_list && all_defined(src + h->rep_bytes, (size_t)h->def_bytes, n, plan->max_def)) full = true;
    else if (plan->max_def > 0) RK_TRY(decode_levels(d->s->def, n, src + h->rep_bytes, (size_t)h->def_bytes, plan->max_def, "definition"));
    size_t clen = (size_t)h->compressed_size - lev, ulen = (size_t)h->uncompressed_size - lev;
    if (h->is_compressed) {
      RK_TRY(decompress_into(d, src + lev, clen, ulen, &vp));
    } else {
      if (clen != ulen) return rk_error(RK_EFORMAT, "uncompressed page values of %zu bytes state %zu bytes", clen, ulen);
      vp = src + lev;
    }
    vlen = ulen;
  }
  int64_t nonnull = 0;
  if (plan->max_def == 0 || full) {
    nonnull = n;
  } else {
    const uint32_t *def = d->s->def, top = (uint32_t)plan->max_def;
    for (int64_t i = 0; i < n; i++) nonnull += def[i] == top;
  }
  if (!plan->is_list && nonnull == n) {   /* a flat page without nulls: straight into the column */
    int64_t at = d->col->length;
    RK_TRY(decode_values(d, d->col, h->encoding, vp, vlen, nonnull));
    if (d->col->length - at != nonnull)
      return rk_error(RK_EINTERNAL, "decoded %lld of %lld values", (long long)(d->col->length - at), (long long)nonnull);
  } else {
    rk_column_clear(&d->vals);
    RK_TRY(decode_values(d, &d->vals, h->encoding, vp, vlen, nonnull));
    if (d->vals.length != nonnull) return rk_error(RK_EINTERNAL, "decoded %lld of %lld values", (long long)d->vals.length, (long long)nonnull);
    RK_TRY(assemble(d, n));
  }
  d->values_seen += n;
  return RK_OK;
}

static rk_status dictionary_page(decoder *d, const rk_pq_page_header *h, const uint8_t *src) {
  if (d->has_dict) return rk_error(RK_EFORMAT, "a second dictionary page");
  if (d->values_seen > 0) return rk_error(RK_EFORMAT, "dictionary page after data pages");
  if (h->encoding != RK_PQ_ENC_PLAIN && h->encoding != RK_PQ_ENC_PLAIN_DICTIONARY)
    return rk_error(RK_EUNSUPPORTED, "unsupported: dictionary page in %s encoding", rk_parquet_encoding_name(h->encoding));
  const uint8_t *p;
  RK_TRY(decompress_into(d, src, (size_t)h->compressed_size, (size_t)h->uncompressed_size, &p));
  RK_TRY(rk_column_init(&d->dict, NULL, d->leaf_type, RK_COL_INT64));
  d->has_dict = true;
  if (h->dict_num_values > 0 && d->plan->physical != RK_PQ_BYTE_ARRAY && d->plan->physical != RK_PQ_BOOLEAN &&
      (uint64_t)h->dict_num_values > (uint64_t)h->uncompressed_size / (physical_size(d->plan) ? physical_size(d->plan) : 1))
    return rk_error(RK_EFORMAT, "dictionary of %d entries does not fit its %d bytes", h->dict_num_values, h->uncompressed_size);
  return decode_plain(d, &d->dict, p, (size_t)h->uncompressed_size, h->dict_num_values);
}

/* The page's CRC32 (parquet.thrift PageHeader.crc): zlib's CRC of its bytes after the header,
 * as stored (compressed; for v2 pages the levels too). Checked before anything is decoded. */
static rk_status check_crc(const rk_pq_page_header *h, const uint8_t *src) {
  uint32_t crc = (uint32_t)crc32_z(crc32(0L, Z_NULL, 0), src, (size_t)h->compressed_size);
  if (crc != h->crc)
    return rk_error(RK_EFORMAT, "page checksum mismatch: the CRC32 of its %d bytes is %08x, the header says %08x "
                    "(the file is corrupt)", h->compressed_size, crc, h->crc);
  return RK_OK;
}

static rk_status decode_chunk(decoder *d) {
  const rk_pq_chunk_in *in = d->in;
  size_t pos = 0;
  if (!d->plan->is_list && in->chunk->num_values != in->num_rows)
    return rk_error(RK_EFORMAT, "column chunk holds %lld values, the row group %lld rows", (long long)in->chunk->num_values,
                    (long long)in->num_rows);
  while (d->values_seen < in->chunk->num_values) {
    if (pos >= in->len)
      return rk_error(RK_EFORMAT, "column chunk ends after %lld of its %lld values", (long long)d->values_seen,
                      (long long)in->chunk->num_values);
    rk_pq_page_header h;
    size_t used;
    RK_TRY(rk_pq_page_header_parse(&h, &used, in->data + pos, in->len - pos));
    pos += used;
    if ((size_t)h.compressed_size > in->len - pos)
      return rk_error(RK_EFORMAT, "page of %d bytes runs past the end of the column chunk (%zu bytes left)", h.compressed_size,
                      in->len - pos);
    const uint8_t *src = in->data + pos;
    pos += (size_t)h.compressed_size;
    if (h.has_crc) RK_TRY(check_crc(&h, src));
    if (h.type == RK_PQ_PAGE_DICTIONARY) RK_TRY(dictionary_page(d, &h, src));
    else if (h.type == RK_PQ_PAGE_DATA || h.type == RK_PQ_PAGE_DATA_V2) RK_TRY(data_page(d, &h, src));
    d->page++;
  }
  if (d->row_open) RK_TRY(finish_row(d));
  if (d->col->length - d->start_rows != in->num_rows)
    return rk_error(RK_EFORMAT, "column chunk holds %lld rows, the row group %lld", (long long)(d->col->length - d->start_rows),
                    (long long)in->num_rows);
  return RK_OK;
}

rk_status rk_pq_decode_scratch_reserve(rk_pq_decode_scratch *s, size_t page_bytes, int64_t values) {
  if (!grow_bytes(&s->page, &s->page_cap, page_bytes + 1)) return RK_ENOMEM;
  if (!grow_u32(&s->def, &s->def_cap, values) || !grow_u32(&s->idx, &s->idx_cap, values)) return RK_ENOMEM;
  return RK_OK;
}

void rk_pq_decode_scratch_free(rk_pq_decode_scratch *s) {
  rk_free(s->page);
  rk_free(s->def);
  rk_free(s->rep);
  rk_free(s->idx);
  rk_free(s->bytes);
  memset(s, 0, sizeof *s);
}

rk_status rk_pq_chunk_decode(rk_column *col, const rk_pq_chunk_in *in) {
  decoder d;
  memset(&d, 0, sizeof d);
  d.in = in;
  d.plan = in->plan;
  d.col = col;
  d.leaf_type = in->plan->is_list ? in->plan->info.elem_type : in->plan->info.type;
  d.elems = col->child ? col->child->length : 0;
  d.start_rows = col->length;
  d.s = in->scratch ? in->scratch : &d.own;
  rk_status s = rk_column_init(&d.vals, NULL, d.leaf_type, RK_COL_INT64);
  if (s == RK_OK) {
    if (in->chunk->codec == RK_PQ_CODEC_LZO) s = rk_error(RK_EUNSUPPORTED, "unsupported: LZO compression");
    else if (in->chunk->codec < 0 || in->chunk->codec > RK_PQ_CODEC_LZ4_RAW)
      s = rk_error(RK_EUNSUPPORTED, "unsupported: compression codec %d", in->chunk->codec);
    else s = decode_chunk(&d);
  }
  if (s != RK_OK) {
    if (s == RK_ENOMEM && rk_error_status() != RK_ENOMEM) rk_error(RK_ENOMEM, "out of memory");
    rk_error_context(s, "cannot read '%s': column '%s' row group %d page %d", in->file, in->plan->info.name, in->row_group, d.page);
  }
  rk_column_free(&d.vals);
  if (d.has_dict) rk_column_free(&d.dict);
  rk_pq_decode_scratch_free(&d.own);
  return s;
}
