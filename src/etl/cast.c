/*
 * Casts with range checks (--to_int32, --to_int16, --to_int8, --to_float32) fused with row
 * selection, so the filter query's surviving rows are converted in one pass and a value that
 * does not fit is reported with the row of the input it came from.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "etl/etl_internal.h"

rk_status rk_etl_column_reset(rk_column *col, const char *name, rk_coltype type) {
  bool same = col->type == type && type != RK_COL_LIST && col->name && name && strcmp(col->name, name) == 0;
  if (same) {
    rk_column_clear(col);
    return RK_OK;
  }
  rk_column_free(col);
  return rk_column_init(col, name, type, RK_COL_INT8);
}

double rk_etl_value_double(const rk_column *col, int64_t row) {
  if (rk_column_is_null(col, row)) return NAN;
  return rk_column_get_double(col, row);
}

static void int_range(rk_coltype t, int64_t *lo, int64_t *hi) {
  switch (t) {
    case RK_COL_INT8: *lo = INT8_MIN; *hi = INT8_MAX; break;
    case RK_COL_INT16: *lo = INT16_MIN; *hi = INT16_MAX; break;
    case RK_COL_INT32: *lo = INT32_MIN; *hi = INT32_MAX; break;
    case RK_COL_UINT8: *lo = 0; *hi = UINT8_MAX; break;
    case RK_COL_UINT16: *lo = 0; *hi = UINT16_MAX; break;
    case RK_COL_UINT32: *lo = 0; *hi = UINT32_MAX; break;
    case RK_COL_UINT64: *lo = 0; *hi = INT64_MAX; break;
    default: *lo = INT64_MIN; *hi = INT64_MAX; break;
  }
}

static void store_int(rk_column *dst, int64_t row, int64_t v) {
  switch (dst->type) {
    case RK_COL_INT8: ((int8_t *)dst->values)[row] = (int8_t)v; break;
    case RK_COL_INT16: ((int16_t *)dst->values)[row] = (int16_t)v; break;
    case RK_COL_INT32: ((int32_t *)dst->values)[row] = (int32_t)v; break;
    case RK_COL_UINT8: ((uint8_t *)dst->values)[row] = (uint8_t)v; break;
    case RK_COL_UINT16: ((uint16_t *)dst->values)[row] = (uint16_t)v; break;
    case RK_COL_UINT32: ((uint32_t *)dst->values)[row] = (uint32_t)v; break;
    case RK_COL_UINT64: ((uint64_t *)dst->values)[row] = (uint64_t)v; break;
    default: ((int64_t *)dst->values)[row] = v; break;
  }
}

typedef struct {
  const rk_column *src;
  int64_t row_base;
  const char *label;
  rk_non_finite non_finite;
} cast_ctx;

static rk_status value_error(const cast_ctx *c, int64_t r, const char *text, const char *what, rk_coltype to) {
  return rk_error(RK_ERANGE, "value '%s' in '%s' row %lld, column '%s' %s %s", text, c->label,
                  (long long)(c->row_base + r + 1), c->src->name ? c->src->name : "?", what, rk_coltype_name(to));
}

/* One source value as an integer of type `to`, or an error. */
static rk_status to_int(const cast_ctx *c, int64_t r, rk_coltype to, int64_t *out, bool *is_null) {
  const rk_column *src = c->src;
  int64_t lo, hi;
  int_range(to, &lo, &hi);
  char text[64];
  *is_null = false;
  if (src->type == RK_COL_STRING) {
    size_t n;
    const char *s = rk_column_get_string(src, r, &n);
    char buf[64];
    if (n == 0 || n >= sizeof buf) goto unparsable;
    memcpy(buf, s, n);
    buf[n] = '\0';
    errno = 0;
    char *end;
    long long v = strtoll(buf, &end, 10);
    if (*end != '\0') goto unparsable;
    if (errno == ERANGE || v < lo || v > hi) return value_error(c, r, buf, "does not fit", to);
    *out = v;
    return RK_OK;
  unparsable:
    snprintf(text, sizeof text, "%.*s", (int)(n < 40 ? n : 40), s);
    return value_error(c, r, text, "cannot be read as", to);
  }
  if (rk_coltype_is_float(src->type)) {
    double x = rk_column_get_double(src, r);
    if (isnan(x)) {
      *is_null = true;
      return RK_OK;
    }
    snprintf(text, sizeof text, "%.17g", x);
    if (x != floor(x)) return value_error(c, r, text, "is not a whole number, so it cannot become", to);
    if (x < (double)lo || x >= -(double)INT64_MIN || (int64_t)x > hi) return value_error(c, r, text, "does not fit", to);
    *out = (int64_t)x;
    return RK_OK;
  }
  if (src->type == RK_COL_UINT64) {
    uint64_t u = ((const uint64_t *)src->values)[r];
    if (u > (uint64_t)hi) {
      snprintf(text, sizeof text, "%llu", (unsigned long long)u);
      return value_error(c, r, text, "does not fit", to);
    }
    *out = (int64_t)u;
    return RK_OK;
  }
  int64_t v = rk_column_get_int(src, r);
  if (v < lo || v > hi) {
    snprintf(text, sizeof text, "%lld", (long long)v);
    return value_error(c, r, text, "does not fit", to);
  }
  *out = v;
  return RK_OK;
}

static rk_status non_finite_error(const cast_ctx *c, int64_t r, const char *text, bool overflow, rk_coltype to) {
  return rk_error(RK_ERANGE, "value '%s' in '%s' row %lld, column '%s' %s %s (--non_finite as_missing reads such "
                  "values as missing)", text, c->label, (long long)(c->row_base + r + 1),
                  c->src->name ? c->src->name : "?", overflow ? "does not fit" : "is not a finite", rk_coltype_name(to));
}

/* A string becoming a float: text that reads as inf or nan (or past double's range) is not finite. */
static rk_status to_float(const cast_ctx *c, int64_t r, rk_coltype to, double *out, bool *is_null) {
  const rk_column *src = c->src;
  if (src->type != RK_COL_STRING) {
    *out = rk_column_get_double(src, r);
    return RK_OK;
  }
  size_t n;
  const char *s = rk_column_get_string(src, r, &n);
  char buf[64];
  if (n > 0 && n < sizeof buf) {
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *end;
    *out = strtod(buf, &end);
    if (*end == '\0' && !isfinite(*out)) {
      if (c->non_finite != RK_NON_FINITE_AS_MISSING) return non_finite_error(c, r, buf, false, to);
      *is_null = true;
    }
    if (*end == '\0') return RK_OK;
  }
  char text[48];
  snprintf(text, sizeof text, "%.*s", (int)(n < 40 ? n : 40), s);
  return value_error(c, r, text, "cannot be read as", to);
}

/* The common case, kept fast: an integer column narrowed, every row kept. A value out of range
 * stops the loop (its row is reported), unless it sits in a null slot. */
#define NARROW_LOOP(T)                                                  \
  do {                                                                  \
    T *into = dst->values;                                              \
    for (int64_t r = 0; r < src->length; r++) {                         \
      if (v[r] < lo || v[r] > hi) {                                     \
        if (!rk_column_is_null(src, r)) return *bad_row = r, true;      \
        into[r] = 0;                                                    \
        continue;                                                       \
      }                                                                 \
      into[r] = (T)v[r];                                                \
    }                                                                   \
  } while (0)

static bool narrow_fast(rk_column *dst, const rk_column *src, int64_t *bad_row) {
  if (src->type != RK_COL_INT64 || !rk_coltype_is_int(dst->type)) return false;
  int64_t lo, hi;
  int_range(dst->type, &lo, &hi);
  const int64_t *v = src->values;
  *bad_row = -1;
  switch (dst->type) {
    case RK_COL_INT8: NARROW_LOOP(int8_t); break;
    case RK_COL_INT16: NARROW_LOOP(int16_t); break;
    case RK_COL_INT32: NARROW_LOOP(int32_t); break;
    case RK_COL_UINT8: NARROW_LOOP(uint8_t); break;
    case RK_COL_UINT16: NARROW_LOOP(uint16_t); break;
    case RK_COL_UINT32: NARROW_LOOP(uint32_t); break;
    default: NARROW_LOOP(int64_t); break;
  }
  return true;
}

/* dst's nulls = src's, row for row (nulls are rare: whole bytes of valid rows are skipped). */
static rk_status copy_nulls(rk_column *dst, const rk_column *src, int64_t n) {
  if (src->null_count == 0 || !src->validity) return RK_OK;
  for (int64_t byte = 0; byte < (n + 7) / 8; byte++) {
    if (src->validity[byte] == 0xff) continue;
    for (int64_t r = byte * 8; r < n && r < byte * 8 + 8; r++)
      if (rk_column_is_null(src, r)) RK_TRY(rk_column_set_null(dst, r));
  }
  return RK_OK;
}

/* Row selection without conversion: the transform's split routing, so kept simple and fast. */
#define TAKE_LOOP(T)                                                  \
  do {                                                                \
    const T *from = src->values;                                      \
    T *into = dst->values;                                            \
    for (int64_t r = 0, w = 0; r < src->length; r++) {                \
      into[w] = from[r];                                              \
      w += keep[r] != 0;                                              \
    }                                                                 \
  } while (0)

static rk_status take_same_type(rk_column *dst, const rk_column *src, const uint8_t *keep) {
  switch (rk_coltype_width(src->type)) {
    case 1: TAKE_LOOP(uint8_t); break;
    case 2: TAKE_LOOP(uint16_t); break;
    case 4: TAKE_LOOP(uint32_t); break;
    default: TAKE_LOOP(uint64_t); break;
  }
  if (src->null_count == 0) return RK_OK;
  for (int64_t r = 0, w = 0; r < src->length; r++) {
    if (!keep[r]) continue;
    if (rk_column_is_null(src, r)) RK_TRY(rk_column_set_null(dst, w));
    w++;
  }
  return RK_OK;
}

/* Infinite floats in dst, the cast's output (row w of dst is the w-th kept row of the source):
 * an error naming the first one's input row, or nulls. A float32 result is infinite exactly when
 * the value did not fit. */
static rk_status check_finite(rk_column *dst, const cast_ctx *c, const uint8_t *keep, rk_coltype to) {
  if (!rk_coltype_is_float(to)) return RK_OK;
  for (int64_t w = 0, r = 0; w < dst->length; w++, r++) {
    while (keep && !keep[r]) r++;
    double x = to == RK_COL_FLOAT32 ? (double)((const float *)dst->values)[w] : ((const double *)dst->values)[w];
    if (!isinf(x) || rk_column_is_null(dst, w)) continue;
    if (c->non_finite == RK_NON_FINITE_AS_MISSING) {
      RK_TRY(rk_column_set_null(dst, w));
      continue;
    }
    char text[64];
    if (c->src->type == RK_COL_STRING) {
      size_t n;
      const char *s = rk_column_get_string(c->src, r, &n);
      snprintf(text, sizeof text, "%.*s", (int)(n < 40 ? n : 40), s);
    } else {   /* the shortest of 15 or 17 digits that reads back, as the CSV writer prints it */
      double v = rk_column_get_double(c->src, r);
      snprintf(text, sizeof text, "%.15g", v);
      if (strtod(text, NULL) != v) snprintf(text, sizeof text, "%.17g", v);
    }
    return non_finite_error(c, r, text, c->src->type == RK_COL_STRING || isfinite(rk_column_get_double(c->src, r)),
                            to);
  }
  return RK_OK;
}

/* A list column's kept rows as they are: list values are never cast (categorify numbers them). */
static rk_status take_lists(rk_column *dst, const rk_column *src, const uint8_t *keep) {
  rk_column_free(dst);
  RK_TRY(rk_column_init(dst, src->name, RK_COL_LIST, src->child->type));
  if (!keep) return rk_column_append_column(dst, src, 0, src->length);
  for (int64_t r = 0; r < src->length;) {   /* runs of kept rows */
    if (!keep[r]) {
      r++;
      continue;
    }
    int64_t e = r + 1;
    while (e < src->length && keep[e]) e++;
    RK_TRY(rk_column_append_column(dst, src, r, e));
    r = e;
  }
  return RK_OK;
}

rk_status rk_etl_cast_take(rk_column *dst, const rk_column *src, rk_coltype to, const uint8_t *keep,
                           int64_t row_base, const char *label, rk_non_finite non_finite) {
  if (to == RK_COL_LIST && src->type == RK_COL_LIST) return take_lists(dst, src, keep);
  RK_TRY(rk_etl_column_reset(dst, src->name, to));
  /* Strings become numbers by parsing (an unparsable value is an error naming its row); integers
   * become their decimal text, so a CSV that typed a column of a string vocabulary as numbers
   * (an eval file whose values are all digits, say) still finds its categories. */
  if (to == RK_COL_LIST || src->type == RK_COL_LIST ||
      (to == RK_COL_STRING && src->type != RK_COL_STRING && !rk_coltype_is_int(src->type)))
    return rk_error(RK_EUNSUPPORTED, "cannot convert column '%s' from %s to %s", src->name ? src->name : "?",
                    rk_coltype_name(src->type), rk_coltype_name(to));
  cast_ctx c = {src, row_base, label ? label : "input", non_finite};
  int64_t n = 0;
  if (!keep) {
    n = src->length;
  } else {
    for (int64_t r = 0; r < src->length; r++) n += keep[r] != 0;
  }
  if (to == RK_COL_STRING && src->type != RK_COL_STRING) {
    for (int64_t r = 0; r < src->length; r++) {
      if (keep && !keep[r]) continue;
      if (rk_column_is_null(src, r)) {
        RK_TRY(rk_column_append_null(dst));
        continue;
      }
      char text[32];
      int len = src->type == RK_COL_UINT64
                    ? snprintf(text, sizeof text, "%llu", (unsigned long long)((const uint64_t *)src->values)[r])
                    : snprintf(text, sizeof text, "%lld", (long long)rk_column_get_int(src, r));
      RK_TRY(rk_column_append_string(dst, text, (size_t)len));
    }
    return RK_OK;
  }
  if (to == RK_COL_STRING) {
    if (!keep) return rk_column_append_column(dst, src, 0, src->length);
    for (int64_t r = 0; r < src->length; r++) {
      if (!keep[r]) continue;
      if (rk_column_is_null(src, r)) {
        RK_TRY(rk_column_append_null(dst));
      } else {
        size_t len;
        const char *s = rk_column_get_string(src, r, &len);
        RK_TRY(rk_column_append_string(dst, s, len));
      }
    }
    return RK_OK;
  }
  RK_TRY(rk_column_reserve(dst, n + 1, n + 1));   /* + 1: the branch-free take writes one past */
  dst->length = n;
  if (!keep && src->type == to) {
    memcpy(dst->values, src->values, (size_t)n * rk_coltype_width(to));
    RK_TRY(copy_nulls(dst, src, n));
    return check_finite(dst, &c, keep, to);
  }
  if (src->type == to) {
    RK_TRY(take_same_type(dst, src, keep));
    return check_finite(dst, &c, keep, to);
  }
  int64_t bad = -1;
  if (!keep && narrow_fast(dst, src, &bad)) {
    if (bad >= 0) {
      int64_t ignored;
      bool is_null;
      return to_int(&c, bad, to, &ignored, &is_null);
    }
    return copy_nulls(dst, src, n);
  }
  int64_t w = 0;
  for (int64_t r = 0; r < src->length; r++) {
    if (keep && !keep[r]) continue;
    bool is_null = rk_column_is_null(src, r);
    if (!is_null) {
      if (rk_coltype_is_int(to)) {
        int64_t v = 0;
        RK_TRY(to_int(&c, r, to, &v, &is_null));
        store_int(dst, w, v);
      } else {
        double x = 0;
        RK_TRY(to_float(&c, r, to, &x, &is_null));
        if (to == RK_COL_FLOAT32)
          ((float *)dst->values)[w] = (float)x;
        else
          ((double *)dst->values)[w] = x;
      }
    }
    if (is_null) {
      size_t width = rk_coltype_width(to);
      memset((char *)dst->values + (size_t)w * width, 0, width);
      RK_TRY(rk_column_set_null(dst, w));
    }
    w++;
  }
  return check_finite(dst, &c, keep, to);
}
