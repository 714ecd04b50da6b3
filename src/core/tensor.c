/*
 * Tensors: dense, contiguous, row-major arrays with a dtype and a device tag.
 * The compute graph views planned memory through them; they never own device memory here
 * (the CUDA backend allocates its own).
 */
#include <math.h>
#include <string.h>

#include "reckon/core.h"

size_t rk_dtype_size(rk_dtype dtype) {
  switch (dtype) {
#define RK_DTYPE_SIZE(name, text, size) \
  case RK_DT_##name:                    \
    return size;
    RK_DTYPE_LIST(RK_DTYPE_SIZE)
#undef RK_DTYPE_SIZE
    case RK_DT_COUNT:
      break;
  }
  return 0;
}

const char *rk_dtype_name(rk_dtype dtype) {
  switch (dtype) {
#define RK_DTYPE_TEXT(name, text, size) \
  case RK_DT_##name:                    \
    return text;
    RK_DTYPE_LIST(RK_DTYPE_TEXT)
#undef RK_DTYPE_TEXT
    case RK_DT_COUNT:
      break;
  }
  return "?";
}

rk_status rk_dtype_parse(const char *name, rk_dtype *out) {
  for (int d = 0; d < RK_DT_COUNT; d++) {
    if (strcmp(name, rk_dtype_name((rk_dtype)d)) == 0) {
      *out = (rk_dtype)d;
      return RK_OK;
    }
  }
  return rk_error(RK_EINVAL, "unknown dtype '%s': expected one of f32, f16, bf16, i8, i16, i32, i64, u8",
                  name);
}

int64_t rk_tensor_numel(const rk_tensor *t) {
  int64_t n = 1;
  for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
  return n;
}

size_t rk_tensor_nbytes(const rk_tensor *t) { return (size_t)rk_tensor_numel(t) * rk_dtype_size(t->dtype); }

static rk_status check_shape(rk_dtype dtype, int ndim, const int64_t *shape) {
  if ((unsigned)dtype >= RK_DT_COUNT) return rk_error(RK_EINVAL, "invalid tensor dtype %d", (int)dtype);
  if (ndim < 0 || ndim > RK_TENSOR_MAX_DIMS)
    return rk_error(RK_ESHAPE, "tensor has %d dimensions: expected 0 to %d", ndim, RK_TENSOR_MAX_DIMS);
  for (int i = 0; i < ndim; i++)
    if (shape[i] < 0) return rk_error(RK_ESHAPE, "tensor dimension %d is %lld: expected >= 0", i, (long long)shape[i]);
  int64_t n;
  if (rk_size_numel(&n, ndim, shape, "a tensor's element count") != RK_OK) return rk_error_context(RK_ESHAPE, "tensor shape");
  return RK_OK;
}

rk_status rk_tensor_view(rk_tensor *t, rk_dtype dtype, int ndim, const int64_t *shape, void *data) {
  memset(t, 0, sizeof *t);   /* first: a failed view/alloc leaves a tensor rk_tensor_free accepts */
  RK_TRY(check_shape(dtype, ndim, shape));
  t->dtype = dtype;
  t->device = RK_DEVICE_CPU;
  t->ndim = ndim;
  for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
  t->data = data;
  t->owned = false;
  return RK_OK;
}

rk_status rk_tensor_alloc(rk_tensor *t, rk_dtype dtype, int ndim, const int64_t *shape) {
  RK_TRY(rk_tensor_view(t, dtype, ndim, shape, NULL));
  size_t bytes = rk_tensor_nbytes(t);
  t->data = rk_aligned_alloc(64, bytes ? bytes : 1);
  if (!t->data) return RK_ENOMEM;
  memset(t->data, 0, bytes);
  t->owned = true;
  return RK_OK;
}

void rk_tensor_free(rk_tensor *t) {
  if (t->owned) rk_free(t->data);
  t->data = NULL;
  t->owned = false;
}

const char *rk_tensor_describe(const rk_tensor *t, char *buf, size_t size) {
  size_t at = (size_t)snprintf(buf, size, "%s[", rk_dtype_name(t->dtype));
  for (int i = 0; i < t->ndim && at < size; i++)
    at += (size_t)snprintf(buf + at, size - at, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
  if (at < size) snprintf(buf + at, size - at, "]");
  return buf;
}

/* IEEE half and bfloat16, round to nearest even; NaN stays NaN, overflow goes to infinity. */
uint16_t rk_f32_to_f16(float x) {
  uint32_t f;
  memcpy(&f, &x, 4);
  uint32_t sign = (f >> 16) & 0x8000u;
  uint32_t exp = (f >> 23) & 0xffu;
  uint32_t man = f & 0x7fffffu;
  if (exp == 0xff) return (uint16_t)(sign | 0x7c00u | (man ? 0x200u : 0));
  int32_t e = (int32_t)exp - 127 + 15;
  if (e >= 31) return (uint16_t)(sign | 0x7c00u);
  if (e <= 0) {
    if (e < -10) return (uint16_t)sign;
    man |= 0x800000u;
    uint32_t shift = (uint32_t)(14 - e);
    uint32_t half = man >> shift;
    uint32_t rem = man & ((1u << shift) - 1);
    uint32_t mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1))) half++;
    return (uint16_t)(sign | half);
  }
  uint32_t half = sign | ((uint32_t)e << 10) | (man >> 13);
  uint32_t rem = man & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (half & 1))) half++;   /* may carry into exponent: correct */
  return (uint16_t)half;
}

float rk_f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t man = h & 0x3ffu;
  uint32_t f;
  if (exp == 0) {
    if (man == 0) {
      f = sign;
    } else {   /* subnormal: normalise */
      int e = -1;
      do {
        e++;
        man <<= 1;
      } while ((man & 0x400u) == 0);
      f = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ffu) << 13);
    }
  } else if (exp == 31) {
    f = sign | 0x7f800000u | (man << 13);
  } else {
    f = sign | ((exp - 15 + 127) << 23) | (man << 13);
  }
  float x;
  memcpy(&x, &f, 4);
  return x;
}

uint16_t rk_f32_to_bf16(float x) {
  uint32_t f;
  memcpy(&f, &x, 4);
  if ((f & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((f >> 16) | 0x40u);   /* quiet NaN */
  uint32_t rounding = 0x7fffu + ((f >> 16) & 1u);
  return (uint16_t)((f + rounding) >> 16);
}

float rk_bf16_to_f32(uint16_t h) {
  uint32_t f = (uint32_t)h << 16;
  float x;
  memcpy(&x, &f, 4);
  return x;
}
