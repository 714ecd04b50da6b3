/*
 * KServe v2 tensor contents: JSON `data` <-> the binary form (kserve_tensor.h). Every value is
 * checked against its datatype's range before it is stored, so a request cannot smuggle a 300
 * into a UINT8 or 1e40 into an FP32; nesting may follow the shape or be flat, as the protocol
 * allows, and no depth beyond the shape's is followed.
 */
#include "serve/http/kserve_tensor.h"

#include <math.h>
#include <string.h>

static const struct {
  const char *name;
  size_t size;
} datatypes[RK_SERVE_DT_COUNT] = {
    [RK_SERVE_DT_INVALID] = {"INVALID", 0},
#define DT_ROW(name, size, proto, type) [RK_SERVE_DT_##name] = {#name, size},
    RK_SERVE_DTYPE_LIST(DT_ROW)
#undef DT_ROW
};

bool rk_kserve_dtype_parse(const char *name, rk_serve_dtype *out) {
  for (int i = 1; i < RK_SERVE_DT_COUNT; i++)
    if (name && strcmp(name, datatypes[i].name) == 0) {
      *out = (rk_serve_dtype)i;
      return true;
    }
  return false;
}

const char *rk_kserve_dtype_name(rk_serve_dtype dt) {
  return (unsigned)dt < RK_SERVE_DT_COUNT ? datatypes[dt].name : "?";
}

size_t rk_kserve_dtype_size(rk_serve_dtype dt) { return (unsigned)dt < RK_SERVE_DT_COUNT ? datatypes[dt].size : 0; }

rk_status rk_kserve_numel(int64_t *out, int ndim, const int64_t *shape, int64_t max_elements, const char *what) {
  int64_t n = 1;
  for (int d = 0; d < ndim; d++) {
    if (shape[d] < 0)
      return rk_error(RK_EINVAL, "tensor '%s': shape dimension %d is %lld, expected a size >= 0", what, d,
                      (long long)shape[d]);
    if (shape[d] > 0 && n > max_elements / shape[d])
      return rk_error(RK_ERANGE, "tensor '%s' has more than %lld elements (--max-tensor-elements)", what,
                      (long long)max_elements);
    n *= shape[d];
  }
  if (n > max_elements)
    return rk_error(RK_ERANGE, "tensor '%s' has %lld elements, more than %lld (--max-tensor-elements)", what,
                    (long long)n, (long long)max_elements);
  *out = n;
  return RK_OK;
}

/* ---- JSON to binary -------------------------------------------------------------------------- */

typedef struct {
  rk_serve_dtype dt;
  const char *what;
  int64_t numel;
  int64_t count;     /* elements seen so far */
  uint8_t *buf;
  size_t size, cap;
} decoder;

static rk_status reserve(decoder *d, size_t more) {
  if (more <= d->cap - d->size) return RK_OK;
  size_t cap = d->cap ? d->cap : 64;
  while (cap - d->size < more) {
    if (cap > SIZE_MAX / 2) return rk_error(RK_ENOMEM, "tensor '%s' is too large", d->what);
    cap *= 2;
  }
  uint8_t *p = rk_realloc(d->buf, cap);
  if (!p) return RK_ENOMEM;
  d->buf = p, d->cap = cap;
  return RK_OK;
}

static void put_le(uint8_t *p, uint64_t v, size_t n) {
  for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* A value of the wrong kind: still checked as JSON first, so broken text is called malformed. */
static rk_status bad_value(const decoder *d, rk_json_cursor *c, const char *expected) {
  if (c) RK_TRY(rk_json_skip(c, 0, d->what));
  return rk_error(RK_EINVAL, "tensor '%s' element %lld: expected %s for datatype %s", d->what, (long long)d->count,
                  expected, rk_kserve_dtype_name(d->dt));
}

static rk_status put_string(decoder *d, rk_json_cursor *c) {
  size_t bound = rk_json_string_bound(c);
  if (bound == 0) return bad_value(d, c, "a string");
  RK_TRY(reserve(d, 4 + bound));
  size_t len;
  RK_TRY(rk_json_string(c, (char *)d->buf + d->size + 4, &len, d->what));
  if (len > UINT32_MAX) return bad_value(d, NULL, "a string under 4 GiB");
  put_le(d->buf + d->size, len, 4);
  d->size += 4 + len;
  return RK_OK;
}

static rk_status put_number(decoder *d, rk_json_cursor *c, uint8_t *p, size_t n) {
  char first = rk_json_peek(c);
  if (first != '-' && (first < '0' || first > '9')) return bad_value(d, c, "a number");
  rk_json_number v;
  RK_TRY(rk_json_number_read(c, &v, d->what));
  switch (d->dt) {
    case RK_SERVE_DT_UINT8:
    case RK_SERVE_DT_UINT16:
    case RK_SERVE_DT_UINT32:
    case RK_SERVE_DT_UINT64:
      if (!v.integral || (v.negative && v.magnitude)) return bad_value(d, NULL, "an integer >= 0");
      if (v.overflow || (n < 8 && v.magnitude >> (8 * n))) return bad_value(d, NULL, "an integer in range");
      put_le(p, v.magnitude, n);
      return RK_OK;
    case RK_SERVE_DT_INT8:
    case RK_SERVE_DT_INT16:
    case RK_SERVE_DT_INT32:
    case RK_SERVE_DT_INT64: {
      if (!v.integral) return bad_value(d, NULL, "an integer");
      uint64_t lim = UINT64_C(1) << (8 * n - 1);   /* |min|; max is lim - 1 */
      if (v.overflow || v.magnitude > lim || (!v.negative && v.magnitude == lim))
        return bad_value(d, NULL, "an integer in range");
      put_le(p, v.negative ? (uint64_t)0 - v.magnitude : v.magnitude, n);
      return RK_OK;
    }
    case RK_SERVE_DT_FP64: {
      uint64_t bits;
      memcpy(&bits, &v.value, 8);
      put_le(p, bits, 8);
      return RK_OK;
    }
    case RK_SERVE_DT_FP32:
    case RK_SERVE_DT_FP16: {
      float f = (float)v.value;
      if (isinf(f) && !isinf(v.value)) return bad_value(d, NULL, "a number within the datatype's range");
      if (d->dt == RK_SERVE_DT_FP32) {
        uint32_t bits;
        memcpy(&bits, &f, 4);
        put_le(p, bits, 4);
        return RK_OK;
      }
      uint16_t h = rk_f32_to_f16(f);
      if (isinf(rk_f16_to_f32(h)) && !isinf(f)) return bad_value(d, NULL, "a number within FP16's range (|x| < 65520)");
      put_le(p, h, 2);
      return RK_OK;
    }
    default: return bad_value(d, NULL, "a known datatype");
  }
}

static rk_status put_element(decoder *d, rk_json_cursor *c) {
  if (d->count >= d->numel)
    return rk_error(RK_EINVAL, "tensor '%s' has more data elements than its shape's %lld", d->what,
                    (long long)d->numel);
  if (d->dt == RK_SERVE_DT_BYTES) {
    RK_TRY(put_string(d, c));
  } else {
    size_t n = datatypes[d->dt].size;
    RK_TRY(reserve(d, n));
    uint8_t *p = d->buf + d->size;
    if (d->dt == RK_SERVE_DT_BOOL) {
      char ch = rk_json_peek(c);
      if (ch != 't' && ch != 'f') return bad_value(d, c, "true or false");
      RK_TRY(rk_json_skip(c, 0, d->what));
      p[0] = ch == 't';
    } else {
      RK_TRY(put_number(d, c, p, n));
    }
    d->size += n;
  }
  d->count++;
  return RK_OK;
}

/* Depth is bounded by the shape's rank (at most RK_SERVE_MAX_DIMS). */
static rk_status walk(decoder *d, rk_json_cursor *c, int depth_left) {
  if (!rk_json_take(c, '[')) return put_element(d, c);
  if (depth_left <= 0) return rk_error(RK_EINVAL, "tensor '%s': data nests deeper than its shape", d->what);
  if (rk_json_take(c, ']')) return RK_OK;
  do {
    if (rk_json_peek(c) == ']') return rk_json_malformed(c, d->what, "expected a value after ','");
    RK_TRY(walk(d, c, depth_left - 1));
  } while (rk_json_take(c, ','));
  if (!rk_json_take(c, ']')) return rk_json_malformed(c, d->what, "expected ',' or ']' in 'data'");
  return RK_OK;
}

rk_status rk_kserve_json_decode(uint8_t **out, size_t *size, rk_json_cursor *c, rk_serve_dtype dt, int ndim,
                                int64_t numel, const char *what) {
  *out = NULL, *size = 0;
  decoder d = {.dt = dt, .what = what, .numel = numel};
  if (rk_json_peek(c) != '[') {
    RK_TRY(rk_json_skip(c, 0, what));
    return rk_error(RK_EINVAL, "tensor '%s': 'data' must be an array (row-major, nested or flat)", what);
  }
  /* Fixed-size elements: one buffer for all, sized by the shape but never past what the text can
   * hold (an element and its comma are at least 2 bytes), so a small body cannot claim a large one. */
  size_t n = datatypes[dt].size;
  if (n) {
    uint64_t fits = (uint64_t)(c->end - c->p) / 2 + 1;
    rk_status st = reserve(&d, (size_t)((uint64_t)numel < fits ? (uint64_t)numel : fits) * n);
    if (st != RK_OK) return st;
  }
  rk_status st = walk(&d, c, ndim > 0 ? ndim : 1);
  if (st == RK_OK && d.count != numel)
    st = rk_error(RK_EINVAL, "tensor '%s' has %lld data elements, its shape says %lld", what, (long long)d.count,
                  (long long)numel);
  if (st == RK_OK && d.size == 0) st = reserve(&d, 1);   /* an empty tensor still gets a buffer */
  if (st != RK_OK) {
    rk_free(d.buf);
    return st;
  }
  *out = d.buf, *size = d.size;
  return RK_OK;
}

/* ---- binary ---------------------------------------------------------------------------------- */

static uint64_t get_le(const uint8_t *p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}

rk_status rk_kserve_binary_check(const uint8_t *data, size_t size, rk_serve_dtype dt, int64_t numel,
                                 const char *what) {
  size_t n = datatypes[dt].size;
  if (dt != RK_SERVE_DT_BYTES) {
    if ((uint64_t)numel > SIZE_MAX / n || size != (size_t)numel * n)
      return rk_error(RK_EINVAL, "tensor '%s': binary data is %zu bytes, its shape and %s need %lld", what, size,
                      rk_kserve_dtype_name(dt), (long long)numel * (long long)n);
    return RK_OK;
  }
  size_t at = 0;
  for (int64_t i = 0; i < numel; i++) {
    if (size - at < 4)
      return rk_error(RK_EINVAL, "tensor '%s': binary BYTES data ends before element %lld's 4-byte length", what,
                      (long long)i);
    uint64_t len = get_le(data + at, 4);
    at += 4;
    if (len > size - at)
      return rk_error(RK_EINVAL, "tensor '%s': binary BYTES element %lld is %llu bytes, past the data's end", what,
                      (long long)i, (unsigned long long)len);
    at += len;
  }
  if (at != size)
    return rk_error(RK_EINVAL, "tensor '%s': %zu bytes of binary BYTES data after its %lld elements", what,
                    size - at, (long long)numel);
  return RK_OK;
}

void rk_kserve_json_encode(rk_json_writer *w, const uint8_t *data, size_t size, rk_serve_dtype dt, int64_t numel) {
  size_t n = datatypes[dt].size, at = 0;
  rk_json_put(w, "[", 1);
  for (int64_t i = 0; i < numel && !w->failed; i++) {
    if (i) rk_json_put(w, ",", 1);
    if (dt == RK_SERVE_DT_BYTES) {
      size_t len = size - at >= 4 ? (size_t)get_le(data + at, 4) : SIZE_MAX;
      if (len > size - at - 4) {   /* checked input never ends early; null keeps the count */
        rk_json_put(w, "null", 4);
        at = size;
        continue;
      }
      rk_json_put_quoted(w, (const char *)data + at + 4, len);
      at += 4 + len;
      continue;
    }
    if (size - at < n) {
      rk_json_put(w, "null", 4);
      continue;
    }
    uint64_t bits = get_le(data + at, n);
    at += n;
    switch (dt) {
      case RK_SERVE_DT_BOOL: rk_json_put_str(w, bits ? "true" : "false"); break;
      case RK_SERVE_DT_UINT8:
      case RK_SERVE_DT_UINT16:
      case RK_SERVE_DT_UINT32:
      case RK_SERVE_DT_UINT64: rk_json_put_uint(w, bits); break;
      case RK_SERVE_DT_INT8: rk_json_put_int(w, (int8_t)bits); break;
      case RK_SERVE_DT_INT16: rk_json_put_int(w, (int16_t)bits); break;
      case RK_SERVE_DT_INT32: rk_json_put_int(w, (int32_t)bits); break;
      case RK_SERVE_DT_INT64: rk_json_put_int(w, (int64_t)bits); break;
      case RK_SERVE_DT_FP16: rk_json_put_float(w, rk_f16_to_f32((uint16_t)bits)); break;
      case RK_SERVE_DT_FP32: {
        uint32_t b32 = (uint32_t)bits;
        float f;
        memcpy(&f, &b32, 4);
        rk_json_put_float(w, f);
        break;
      }
      case RK_SERVE_DT_FP64: {
        double x;
        memcpy(&x, &bits, 8);
        rk_json_put_double(w, x);
        break;
      }
      default: rk_json_put(w, "null", 4); break;
    }
  }
  rk_json_put(w, "]", 1);
}
