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

static rk_status bad_value(const decoder *d, const char *expected) {
  return rk_error(RK_EINVAL, "tensor '%s' element %lld: expected %s for datatype %s", d->what, (long long)d->count,
                  expected, rk_kserve_dtype_name(d->dt));
}

static rk_status put_element(decoder *d, const json_t *v) {
  if (d->count >= d->numel)
    return rk_error(RK_EINVAL, "tensor '%s' has more data elements than its shape's %lld", d->what,
                    (long long)d->numel);
  rk_serve_dtype dt = d->dt;
  size_t n = datatypes[dt].size;
  if (dt == RK_SERVE_DT_BYTES) {
    if (!json_is_string(v)) return bad_value(d, "a string");
    size_t len = json_string_length(v);
    if (len > UINT32_MAX) return bad_value(d, "a string under 4 GiB");
    RK_TRY(reserve(d, 4 + len));
    put_le(d->buf + d->size, len, 4);
    memcpy(d->buf + d->size + 4, json_string_value(v), len);
    d->size += 4 + len;
    d->count++;
    return RK_OK;
  }
  RK_TRY(reserve(d, n));
  uint8_t *p = d->buf + d->size;
  switch (dt) {
    case RK_SERVE_DT_BOOL:
      if (!json_is_boolean(v)) return bad_value(d, "true or false");
      p[0] = json_is_true(v) ? 1 : 0;
      break;
    case RK_SERVE_DT_UINT8:
    case RK_SERVE_DT_UINT16:
    case RK_SERVE_DT_UINT32:
    case RK_SERVE_DT_UINT64: {
      /* jansson holds integers as json_int_t (long long): UINT64 above 2^63-1 is not reachable */
      if (!json_is_integer(v) || json_integer_value(v) < 0) return bad_value(d, "an integer >= 0");
      uint64_t x = (uint64_t)json_integer_value(v);
      if (n < 8 && x >> (8 * n)) return bad_value(d, "an integer in range");
      put_le(p, x, n);
      break;
    }
    case RK_SERVE_DT_INT8:
    case RK_SERVE_DT_INT16:
    case RK_SERVE_DT_INT32:
    case RK_SERVE_DT_INT64: {
      if (!json_is_integer(v)) return bad_value(d, "an integer");
      int64_t x = json_integer_value(v);
      if (n < 8) {
        int64_t lim = (int64_t)1 << (8 * n - 1);
        if (x < -lim || x >= lim) return bad_value(d, "an integer in range");
      }
      put_le(p, (uint64_t)x, n);
      break;
    }
    case RK_SERVE_DT_FP16:
    case RK_SERVE_DT_FP32:
    case RK_SERVE_DT_FP64: {
      if (!json_is_number(v)) return bad_value(d, "a number");
      double x = json_number_value(v);
      if (dt == RK_SERVE_DT_FP64) {
        uint64_t bits;
        memcpy(&bits, &x, 8);
        put_le(p, bits, 8);
        break;
      }
      float f = (float)x;
      if (isinf(f) && !isinf(x)) return bad_value(d, "a number within the datatype's range");
      if (dt == RK_SERVE_DT_FP32) {
        uint32_t bits;
        memcpy(&bits, &f, 4);
        put_le(p, bits, 4);
      } else {
        uint16_t h = rk_f32_to_f16(f);
        if (isinf(rk_f16_to_f32(h)) && !isinf(f))
          return bad_value(d, "a number within FP16's range (|x| < 65520)");
        put_le(p, h, 2);
      }
      break;
    }
    default: return bad_value(d, "a known datatype");
  }
  d->size += n;
  d->count++;
  return RK_OK;
}

/* Depth is bounded by the shape's rank (and jansson's own nesting limit before that). */
static rk_status walk(decoder *d, const json_t *v, int depth_left) {
  if (!json_is_array(v)) return put_element(d, v);
  if (depth_left <= 0)
    return rk_error(RK_EINVAL, "tensor '%s': data nests deeper than its shape", d->what);
  size_t i;
  const json_t *item;
  json_array_foreach(v, i, item) RK_TRY(walk(d, item, depth_left - 1));
  return RK_OK;
}

rk_status rk_kserve_json_to_binary(uint8_t **out, size_t *size, const json_t *data, rk_serve_dtype dt, int ndim,
                                   int64_t numel, const char *what) {
  *out = NULL, *size = 0;
  if (!json_is_array(data))
    return rk_error(RK_EINVAL, "tensor '%s': 'data' must be an array (row-major, nested or flat)", what);
  decoder d = {.dt = dt, .what = what, .numel = numel};
  rk_status st = walk(&d, data, ndim > 0 ? ndim : 1);
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

json_t *rk_kserve_binary_to_json(const uint8_t *data, size_t size, rk_serve_dtype dt, int64_t numel) {
  json_t *arr = json_array();
  size_t n = datatypes[dt].size, at = 0;
  for (int64_t i = 0; arr && i < numel; i++) {
    json_t *v = NULL;
    if (dt == RK_SERVE_DT_BYTES) {
      if (size - at < 4) break;
      size_t len = (size_t)get_le(data + at, 4);
      if (len > size - at - 4) break;
      v = json_stringn_nocheck((const char *)data + at + 4, len);
      at += 4 + len;
    } else {
      if (size - at < n) break;
      uint64_t bits = get_le(data + at, n);
      at += n;
      switch (dt) {
        case RK_SERVE_DT_BOOL: v = json_boolean(bits != 0); break;
        case RK_SERVE_DT_UINT8:
        case RK_SERVE_DT_UINT16:
        case RK_SERVE_DT_UINT32:
        case RK_SERVE_DT_UINT64: v = json_integer((json_int_t)bits); break;
        case RK_SERVE_DT_INT8: v = json_integer((int8_t)bits); break;
        case RK_SERVE_DT_INT16: v = json_integer((int16_t)bits); break;
        case RK_SERVE_DT_INT32: v = json_integer((int32_t)bits); break;
        case RK_SERVE_DT_INT64: v = json_integer((json_int_t)bits); break;
        case RK_SERVE_DT_FP16: v = json_real(rk_f16_to_f32((uint16_t)bits)); break;
        case RK_SERVE_DT_FP32: {
          uint32_t b32 = (uint32_t)bits;
          float f;
          memcpy(&f, &b32, 4);
          v = json_real(f);
          break;
        }
        case RK_SERVE_DT_FP64: {
          double x;
          memcpy(&x, &bits, 8);
          v = json_real(x);
          break;
        }
        default: break;
      }
    }
    /* JSON has no NaN or infinity: those become null, as Triton's answers do */
    if (!v) v = json_null();
    if (json_array_append_new(arr, v) != 0) {
      json_decref(arr);
      return NULL;
    }
  }
  return arr;
}
