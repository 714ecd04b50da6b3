/*
 * The Thrift compact protocol, reading and writing, as Parquet uses it for its footer and page
 * headers: varints, zigzag integers, field-id deltas, lists, nested structs, and skipping of
 * fields we do not know. It is not a general Thrift library (no messages, no services) and it
 * knows nothing of Parquet's structures (metadata.c does).
 *
 * Follows apache/thrift doc/specs/thrift-compact-protocol.md. Every read is bounds-checked
 * against the buffer; list sizes are checked against the bytes left (each element takes at
 * least one byte), so a malformed footer gives an error, never a crash or a huge allocation.
 * Also holds the growable byte buffer the writers share.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "io/parquet/parquet_internal.h"

/* ---- byte buffer -------------------------------------------------------------------------- */
void rk_pq_advise_huge(void *p, size_t n) {
#ifdef MADV_HUGEPAGE
  const uintptr_t huge = (uintptr_t)2 << 20;
  if (n < 2 * huge) return;
  uintptr_t b = ((uintptr_t)p + huge - 1) & ~(huge - 1), e = ((uintptr_t)p + n) & ~(huge - 1);
  if (e > b) (void)madvise((void *)b, e - b, MADV_HUGEPAGE);   /* advice only: failure changes nothing */
#else
  (void)p, (void)n;
#endif
}

bool rk_parquet_buf_reserve(rk_parquet_buf *b, size_t extra) {
  if (b->failed) return false;
  if (b->len + extra <= b->cap) return true;
  size_t cap = b->cap < 256 ? 256 : b->cap;
  while (cap < b->len + extra) cap += cap / 2;
  uint8_t *d = rk_realloc(b->data, cap);
  if (!d) {
    b->failed = true;
    return false;
  }
  b->data = d;
  b->cap = cap;
  rk_pq_advise_huge(d, cap);
  return true;
}

void rk_parquet_buf_put(rk_parquet_buf *b, const void *data, size_t n) {
  if (n == 0 || !rk_parquet_buf_reserve(b, n)) return;
  memcpy(b->data + b->len, data, n);
  b->len += n;
}

void rk_parquet_buf_byte(rk_parquet_buf *b, uint8_t v) { rk_parquet_buf_put(b, &v, 1); }

void rk_parquet_put_u32le(rk_parquet_buf *b, uint32_t v) {
  uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
  rk_parquet_buf_put(b, x, 4);
}

void rk_parquet_buf_free(rk_parquet_buf *b) {
  rk_free(b->data);
  memset(b, 0, sizeof *b);
}

/* ---- reading ------------------------------------------------------------------------------ */
static rk_status truncated(void) { return rk_error(RK_EFORMAT, "truncated Thrift data"); }

rk_status rk_thrift_varint(rk_thrift_in *in, uint64_t *v) {
  uint64_t x = 0;
  for (int shift = 0; shift < 70; shift += 7) {
    if (in->p >= in->end) return truncated();
    uint8_t b = *in->p++;
    if (shift == 63 && (b & 0x7e)) return rk_error(RK_EFORMAT, "Thrift varint overflows 64 bits");
    x |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *v = x;
      return RK_OK;
    }
  }
  return rk_error(RK_EFORMAT, "Thrift varint longer than 10 bytes");
}

rk_status rk_thrift_i64(rk_thrift_in *in, int64_t *v) {
  uint64_t u;
  RK_TRY(rk_thrift_varint(in, &u));
  *v = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
  return RK_OK;
}

rk_status rk_thrift_i32(rk_thrift_in *in, int32_t *v) {
  int64_t x;
  RK_TRY(rk_thrift_i64(in, &x));
  if (x < INT32_MIN || x > INT32_MAX) return rk_error(RK_EFORMAT, "Thrift i32 out of range (%lld)", (long long)x);
  *v = (int32_t)x;
  return RK_OK;
}

rk_status rk_thrift_i16(rk_thrift_in *in, int16_t *v) {
  int64_t x;
  RK_TRY(rk_thrift_i64(in, &x));
  if (x < INT16_MIN || x > INT16_MAX) return rk_error(RK_EFORMAT, "Thrift i16 out of range (%lld)", (long long)x);
  *v = (int16_t)x;
  return RK_OK;
}

rk_status rk_thrift_i8(rk_thrift_in *in, int8_t *v) {
  if (in->p >= in->end) return truncated();
  *v = (int8_t)*in->p++;
  return RK_OK;
}

rk_status rk_thrift_double(rk_thrift_in *in, double *v) {
  if (in->end - in->p < 8) return truncated();
  uint64_t bits = 0;
  for (int i = 7; i >= 0; i--) bits = bits << 8 | in->p[i];
  memcpy(v, &bits, 8);
  in->p += 8;
  return RK_OK;
}

rk_status rk_thrift_binary(rk_thrift_in *in, const uint8_t **data, size_t *len) {
  uint64_t n;
  RK_TRY(rk_thrift_varint(in, &n));
  if (n > (uint64_t)(in->end - in->p))
    return rk_error(RK_EFORMAT, "Thrift binary of %llu bytes runs past the end (%lld bytes left)", (unsigned long long)n,
                    (long long)(in->end - in->p));
  *data = in->p;
  *len = (size_t)n;
  in->p += n;
  return RK_OK;
}

rk_status rk_thrift_struct_begin(rk_thrift_in *in) {
  if (++in->depth > RK_THRIFT_MAX_DEPTH) return rk_error(RK_EFORMAT, "Thrift structs nested deeper than %d", RK_THRIFT_MAX_DEPTH);
  return RK_OK;
}

void rk_thrift_struct_end(rk_thrift_in *in) { in->depth--; }

rk_status rk_thrift_field(rk_thrift_in *in, int16_t *last, uint8_t *type, int16_t *id) {
  if (in->p >= in->end) return truncated();
  uint8_t b = *in->p++;
  *type = b & 0x0f;
  if (*type == RK_TT_STOP) {
    *id = 0;
    return RK_OK;
  }
  if (*type > RK_TT_UUID) return rk_error(RK_EFORMAT, "unknown Thrift field type %d", *type);
  int delta = b >> 4;
  if (delta) {
    *id = (int16_t)(*last + delta);
  } else {
    RK_TRY(rk_thrift_i16(in, id));
  }
  *last = *id;
  return RK_OK;
}

rk_status rk_thrift_list(rk_thrift_in *in, uint8_t *elem_type, int64_t *n) {
  if (in->p >= in->end) return truncated();
  uint8_t b = *in->p++;
  *elem_type = b & 0x0f;
  uint64_t size = b >> 4;
  if (size == 15) RK_TRY(rk_thrift_varint(in, &size));
  if (*elem_type == RK_TT_STOP || *elem_type > RK_TT_UUID)
    return rk_error(RK_EFORMAT, "unknown Thrift list element type %d", *elem_type);
  if (size > (uint64_t)(in->end - in->p))
    return rk_error(RK_EFORMAT, "Thrift list of %llu elements is longer than the %lld bytes left", (unsigned long long)size,
                    (long long)(in->end - in->p));
  *n = (int64_t)size;
  return RK_OK;
}

rk_status rk_thrift_skip(rk_thrift_in *in, uint8_t type) {
  uint64_t u;
  const uint8_t *d;
  size_t n;
  switch (type) {
    case RK_TT_TRUE:
    case RK_TT_FALSE: return RK_OK;   /* a field's bool lives in its type */
    case RK_TT_I8:
      if (in->p >= in->end) return truncated();
      in->p++;
      return RK_OK;
    case RK_TT_I16:
    case RK_TT_I32:
    case RK_TT_I64: return rk_thrift_varint(in, &u);
    case RK_TT_DOUBLE:
      if (in->end - in->p < 8) return truncated();
      in->p += 8;
      return RK_OK;
    case RK_TT_UUID:
      if (in->end - in->p < 16) return truncated();
      in->p += 16;
      return RK_OK;
    case RK_TT_BINARY: return rk_thrift_binary(in, &d, &n);
    case RK_TT_LIST:
    case RK_TT_SET: {
      uint8_t et;
      int64_t count;
      RK_TRY(rk_thrift_list(in, &et, &count));
      RK_TRY(rk_thrift_struct_begin(in));
      for (int64_t i = 0; i < count; i++) {
        /* bools in lists take one byte */
        RK_TRY(rk_thrift_skip(in, et == RK_TT_TRUE || et == RK_TT_FALSE ? RK_TT_I8 : et));
      }
      rk_thrift_struct_end(in);
      return RK_OK;
    }
    case RK_TT_MAP: {
      RK_TRY(rk_thrift_varint(in, &u));
      if (u == 0) return RK_OK;
      if (in->p >= in->end) return truncated();
      uint8_t kv = *in->p++;
      uint8_t kt = kv >> 4, vt = kv & 0x0f;
      if (u > (uint64_t)(in->end - in->p)) return rk_error(RK_EFORMAT, "Thrift map of %llu entries runs past the end", (unsigned long long)u);
      RK_TRY(rk_thrift_struct_begin(in));
      for (uint64_t i = 0; i < u; i++) {
        RK_TRY(rk_thrift_skip(in, kt == RK_TT_TRUE || kt == RK_TT_FALSE ? RK_TT_I8 : kt));
        RK_TRY(rk_thrift_skip(in, vt == RK_TT_TRUE || vt == RK_TT_FALSE ? RK_TT_I8 : vt));
      }
      rk_thrift_struct_end(in);
      return RK_OK;
    }
    case RK_TT_STRUCT: {
      RK_TRY(rk_thrift_struct_begin(in));
      int16_t last = 0, id;
      uint8_t t;
      for (;;) {
        RK_TRY(rk_thrift_field(in, &last, &t, &id));
        if (t == RK_TT_STOP) break;
        RK_TRY(rk_thrift_skip(in, t));
      }
      rk_thrift_struct_end(in);
      return RK_OK;
    }
    default: return rk_error(RK_EFORMAT, "unknown Thrift type %d", type);
  }
}

rk_status rk_thrift_expect(uint8_t type, uint8_t want) {
  if (type == want) return RK_OK;
  return rk_error(RK_EFORMAT, "Thrift field of type %d where type %d was expected", type, want);
}

rk_status rk_thrift_field_i32(rk_thrift_in *in, uint8_t type, int32_t *v) {
  if (type == RK_TT_I8) {   /* tolerate narrower encodings of small enums/ints */
    int8_t x = 0;
    RK_TRY(rk_thrift_i8(in, &x));
    *v = x;
    return RK_OK;
  }
  if (type == RK_TT_I16) {
    int16_t x = 0;
    RK_TRY(rk_thrift_i16(in, &x));
    *v = x;
    return RK_OK;
  }
  RK_TRY(rk_thrift_expect(type, RK_TT_I32));
  return rk_thrift_i32(in, v);
}

rk_status rk_thrift_field_i64(rk_thrift_in *in, uint8_t type, int64_t *v) {
  if (type == RK_TT_I32 || type == RK_TT_I16) return rk_thrift_i64(in, v);
  RK_TRY(rk_thrift_expect(type, RK_TT_I64));
  return rk_thrift_i64(in, v);
}

rk_status rk_thrift_field_bool(uint8_t type, bool *v) {
  if (type != RK_TT_TRUE && type != RK_TT_FALSE)
    return rk_error(RK_EFORMAT, "Thrift field of type %d where a bool was expected", type);
  *v = type == RK_TT_TRUE;
  return RK_OK;
}

/* ---- writing ------------------------------------------------------------------------------ */
void rk_thrift_out_init(rk_thrift_out *out, rk_parquet_buf *buf) {
  memset(out, 0, sizeof *out);
  out->buf = buf;
}

void rk_thrift_put_varint(rk_thrift_out *out, uint64_t v) {
  uint8_t b[10];
  int n = 0;
  while (v >= 0x80) {
    b[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  b[n++] = (uint8_t)v;
  rk_parquet_buf_put(out->buf, b, (size_t)n);
}

void rk_thrift_put_zigzag(rk_thrift_out *out, int64_t v) {
  rk_thrift_put_varint(out, ((uint64_t)v << 1) ^ (0 - ((uint64_t)v >> 63)));
}

void rk_thrift_put_binary(rk_thrift_out *out, const void *data, size_t n) {
  rk_thrift_put_varint(out, n);
  rk_parquet_buf_put(out->buf, data, n);
}

void rk_thrift_put_double(rk_thrift_out *out, double v) {
  uint64_t bits;
  memcpy(&bits, &v, 8);
  uint8_t b[8];
  for (int i = 0; i < 8; i++) b[i] = (uint8_t)(bits >> (8 * i));
  rk_parquet_buf_put(out->buf, b, 8);
}

void rk_thrift_put_field(rk_thrift_out *out, uint8_t type, int16_t id) {
  int16_t *last = &out->last[out->depth];
  int delta = id - *last;
  if (delta > 0 && delta <= 15) {
    rk_parquet_buf_byte(out->buf, (uint8_t)(delta << 4 | type));
  } else {
    rk_parquet_buf_byte(out->buf, type);
    rk_thrift_put_zigzag(out, id);
  }
  *last = id;
}

void rk_thrift_put_i32(rk_thrift_out *out, int16_t id, int32_t v) {
  rk_thrift_put_field(out, RK_TT_I32, id);
  rk_thrift_put_zigzag(out, v);
}

void rk_thrift_put_i64(rk_thrift_out *out, int16_t id, int64_t v) {
  rk_thrift_put_field(out, RK_TT_I64, id);
  rk_thrift_put_zigzag(out, v);
}

void rk_thrift_put_bool(rk_thrift_out *out, int16_t id, bool v) {
  rk_thrift_put_field(out, v ? RK_TT_TRUE : RK_TT_FALSE, id);
}

void rk_thrift_put_bin(rk_thrift_out *out, int16_t id, const void *data, size_t n) {
  rk_thrift_put_field(out, RK_TT_BINARY, id);
  rk_thrift_put_binary(out, data, n);
}

void rk_thrift_put_str(rk_thrift_out *out, int16_t id, const char *s) { rk_thrift_put_bin(out, id, s, strlen(s)); }

void rk_thrift_put_struct_begin(rk_thrift_out *out, int16_t id) {
  if (id > 0) rk_thrift_put_field(out, RK_TT_STRUCT, id);
  RK_ASSERT(out->depth + 1 < RK_THRIFT_MAX_DEPTH);
  out->last[++out->depth] = 0;
}

void rk_thrift_put_struct_end(rk_thrift_out *out) {
  rk_parquet_buf_byte(out->buf, RK_TT_STOP);
  RK_ASSERT(out->depth > 0);
  out->depth--;
}

void rk_thrift_put_list(rk_thrift_out *out, int16_t id, uint8_t elem_type, int64_t n) {
  if (id > 0) rk_thrift_put_field(out, RK_TT_LIST, id);
  if (n < 15) {
    rk_parquet_buf_byte(out->buf, (uint8_t)(n << 4 | elem_type));
  } else {
    rk_parquet_buf_byte(out->buf, (uint8_t)(0xf0 | elem_type));
    rk_thrift_put_varint(out, (uint64_t)n);
  }
}
