/*
 * Columns and batches in Arrow's layout (validity bitmap, int64 offsets), so every reader,
 * transform and loader shares one in-memory format and an Arrow C Data export is a relabel.
 * Reference: Arrow columnar format, "Physical memory layout" (large_utf8, large_list).
 *
 * Buffers grow geometrically; appends are amortised O(1). Readers that know their sizes
 * reserve once and write into values/offsets directly, then set length.
 */
#include <math.h>
#include <string.h>

#include "reckon/core.h"

size_t rk_coltype_width(rk_coltype type) {
  switch (type) {
#define RK_COLTYPE_WIDTH(name, text, width) \
  case RK_COL_##name:                       \
    return width;
    RK_COLTYPE_LIST(RK_COLTYPE_WIDTH)
#undef RK_COLTYPE_WIDTH
    case RK_COL_TYPE_COUNT:
      break;
  }
  return 0;
}

const char *rk_coltype_name(rk_coltype type) {
  switch (type) {
#define RK_COLTYPE_TEXT(name, text, width) \
  case RK_COL_##name:                      \
    return text;
    RK_COLTYPE_LIST(RK_COLTYPE_TEXT)
#undef RK_COLTYPE_TEXT
    case RK_COL_TYPE_COUNT:
      break;
  }
  return "?";
}

rk_status rk_coltype_parse(const char *name, rk_coltype *out) {
  for (int t = 0; t < RK_COL_TYPE_COUNT; t++) {
    if (strcmp(name, rk_coltype_name((rk_coltype)t)) == 0) {
      *out = (rk_coltype)t;
      return RK_OK;
    }
  }
  return rk_error(RK_EINVAL,
                  "unknown column type '%s': expected int8..int64, uint8..uint64, float32, float64, string or list",
                  name);
}

bool rk_coltype_is_int(rk_coltype t) { return t <= RK_COL_UINT64; }
bool rk_coltype_is_float(rk_coltype t) { return t == RK_COL_FLOAT32 || t == RK_COL_FLOAT64; }
static bool has_offsets(rk_coltype t) { return t == RK_COL_STRING || t == RK_COL_LIST; }

rk_status rk_column_init(rk_column *col, const char *name, rk_coltype type, rk_coltype elem_type) {
  memset(col, 0, sizeof *col);
  if ((unsigned)type >= RK_COL_TYPE_COUNT) return rk_error(RK_EINVAL, "invalid column type %d", (int)type);
  col->type = type;
  if (name && !(col->name = rk_strdup(name))) return RK_ENOMEM;
  if (type == RK_COL_LIST) {
    if (elem_type == RK_COL_LIST || (unsigned)elem_type >= RK_COL_TYPE_COUNT) {
      rk_free(col->name);
      col->name = NULL;
      return rk_error(RK_EUNSUPPORTED, "unsupported: list column '%s' of %s elements (lists hold primitives or strings)",
                      name ? name : "", rk_coltype_name(elem_type));
    }
    col->child = rk_malloc(sizeof *col->child);
    if (!col->child) goto nomem;
    if (rk_column_init(col->child, NULL, elem_type, RK_COL_INT64) != RK_OK) {
      rk_free(col->child);
      col->child = NULL;
      goto nomem;
    }
  }
  if (has_offsets(type)) {
    col->offsets = rk_calloc(1, sizeof(int64_t));
    if (!col->offsets) goto nomem;
  }
  return RK_OK;
nomem:
  rk_column_free(col);
  return RK_ENOMEM;
}

void rk_column_free(rk_column *col) {
  if (col->child) {
    rk_column_free(col->child);
    rk_free(col->child);
  }
  rk_free(col->name);
  rk_free(col->validity);
  rk_free(col->values);
  rk_free(col->offsets);
  memset(col, 0, sizeof *col);
}

void rk_column_clear(rk_column *col) {
  col->length = 0;
  col->null_count = 0;
  if (col->validity) memset(col->validity, 0xff, (size_t)((col->cap_rows + 7) / 8));
  if (col->offsets) col->offsets[0] = 0;
  if (col->child) rk_column_clear(col->child);
}

static int64_t grow(int64_t cap, int64_t need) {
  int64_t c = cap < 16 ? 16 : cap;
  while (c < need) c += c / 2 + 16;
  return c;
}

/* Make room for `rows` rows and `values` value slots (bytes for strings). */
rk_status rk_column_reserve(rk_column *col, int64_t rows, int64_t values) {
  if (rows > col->cap_rows) {
    int64_t cap = grow(col->cap_rows, rows);
    if (has_offsets(col->type)) {
      int64_t *o = rk_realloc(col->offsets, (size_t)(cap + 1) * sizeof(int64_t));
      if (!o) return RK_ENOMEM;
      col->offsets = o;
    } else {
      void *v = rk_realloc(col->values, (size_t)cap * rk_coltype_width(col->type));
      if (!v) return RK_ENOMEM;
      col->values = v;
    }
    if (col->validity) {
      size_t old = (size_t)((col->cap_rows + 7) / 8), fresh = (size_t)((cap + 7) / 8);
      uint8_t *b = rk_realloc(col->validity, fresh);
      if (!b) return RK_ENOMEM;
      memset(b + old, 0xff, fresh - old);
      col->validity = b;
    }
    col->cap_rows = cap;
  }
  if (col->type == RK_COL_STRING && values > col->cap_values) {
    int64_t cap = grow(col->cap_values, values);
    void *v = rk_realloc(col->values, (size_t)cap);
    if (!v) return RK_ENOMEM;
    col->values = v;
    col->cap_values = cap;
  }
  if (col->type == RK_COL_LIST && values > 0) RK_TRY(rk_column_reserve(col->child, values, 0));
  return RK_OK;
}

static rk_status ensure_validity(rk_column *col) {
  if (col->validity) return RK_OK;
  int64_t cap = col->cap_rows > col->length ? col->cap_rows : col->length + 1;
  size_t bytes = (size_t)((cap + 7) / 8);
  col->validity = rk_malloc(bytes);
  if (!col->validity) return RK_ENOMEM;
  memset(col->validity, 0xff, bytes);
  if (cap > col->cap_rows) {   /* keep bitmap capacity in step with rows */
    rk_status s = rk_column_reserve(col, cap, 0);
    if (s != RK_OK) return s;
  }
  return RK_OK;
}

rk_status rk_column_set_null(rk_column *col, int64_t row) {
  if (row < 0 || row >= col->length)
    return rk_error(RK_ERANGE, "row %lld is outside column '%s' of %lld rows", (long long)row,
                    col->name ? col->name : "", (long long)col->length);
  RK_TRY(ensure_validity(col));
  if (col->validity[row >> 3] & (1u << (row & 7))) {
    col->validity[row >> 3] &= (uint8_t)~(1u << (row & 7));
    col->null_count++;
  }
  /* A null slot reads as zero (fixed width) or empty. Strings and lists can only be emptied in
   * place when the row is the last one (a reader rejecting the value it just appended); an
   * earlier row keeps its bytes, which readers and rk_column_equal ignore. */
  if (!has_offsets(col->type)) {
    size_t w = rk_coltype_width(col->type);
    memset((char *)col->values + (size_t)row * w, 0, w);
  } else if (row == col->length - 1) {
    col->offsets[row + 1] = col->offsets[row];
    if (col->type == RK_COL_LIST) col->child->length = col->offsets[row];
  }
  return RK_OK;
}

bool rk_column_is_null(const rk_column *col, int64_t row) {
  return col->validity && !(col->validity[row >> 3] & (1u << (row & 7)));
}

/* Store a value known to fit into a fixed-width slot. */
static void store_int(rk_column *col, int64_t row, int64_t v) {
  switch (col->type) {
    case RK_COL_INT8: ((int8_t *)col->values)[row] = (int8_t)v; break;
    case RK_COL_INT16: ((int16_t *)col->values)[row] = (int16_t)v; break;
    case RK_COL_INT32: ((int32_t *)col->values)[row] = (int32_t)v; break;
    case RK_COL_INT64: ((int64_t *)col->values)[row] = v; break;
    case RK_COL_UINT8: ((uint8_t *)col->values)[row] = (uint8_t)v; break;
    case RK_COL_UINT16: ((uint16_t *)col->values)[row] = (uint16_t)v; break;
    case RK_COL_UINT32: ((uint32_t *)col->values)[row] = (uint32_t)v; break;
    case RK_COL_UINT64: ((uint64_t *)col->values)[row] = (uint64_t)v; break;
    case RK_COL_FLOAT32: ((float *)col->values)[row] = (float)v; break;
    case RK_COL_FLOAT64: ((double *)col->values)[row] = (double)v; break;
    default: break;
  }
}

static rk_status int_range(rk_coltype t, int64_t *lo, uint64_t *hi) {
  switch (t) {
    case RK_COL_INT8: *lo = INT8_MIN; *hi = INT8_MAX; break;
    case RK_COL_INT16: *lo = INT16_MIN; *hi = INT16_MAX; break;
    case RK_COL_INT32: *lo = INT32_MIN; *hi = INT32_MAX; break;
    case RK_COL_INT64: *lo = INT64_MIN; *hi = INT64_MAX; break;
    case RK_COL_UINT8: *lo = 0; *hi = UINT8_MAX; break;
    case RK_COL_UINT16: *lo = 0; *hi = UINT16_MAX; break;
    case RK_COL_UINT32: *lo = 0; *hi = UINT32_MAX; break;
    case RK_COL_UINT64: *lo = 0; *hi = UINT64_MAX; break;
    default: return RK_EINVAL;
  }
  return RK_OK;
}

static rk_status check_fixed(rk_column *col, const char *what) {
  if (has_offsets(col->type))
    return rk_error(RK_EINVAL, "cannot append %s to %s column '%s'", what, rk_coltype_name(col->type),
                    col->name ? col->name : "");
  return rk_column_reserve(col, col->length + 1, 0);
}

rk_status rk_column_append_int(rk_column *col, int64_t v) {
  RK_TRY(check_fixed(col, "an integer"));
  int64_t lo;
  uint64_t hi;
  if (int_range(col->type, &lo, &hi) == RK_OK && (v < lo || (v > 0 && (uint64_t)v > hi)))
    return rk_error(RK_ERANGE, "value %lld does not fit column '%s' of type %s", (long long)v,
                    col->name ? col->name : "", rk_coltype_name(col->type));
  store_int(col, col->length++, v);
  return RK_OK;
}

rk_status rk_column_append_uint(rk_column *col, uint64_t v) {
  if (v <= INT64_MAX) return rk_column_append_int(col, (int64_t)v);
  RK_TRY(check_fixed(col, "an integer"));
  if (col->type == RK_COL_UINT64) {
    ((uint64_t *)col->values)[col->length++] = v;
  } else if (rk_coltype_is_float(col->type)) {
    if (col->type == RK_COL_FLOAT32) ((float *)col->values)[col->length++] = (float)v;
    else ((double *)col->values)[col->length++] = (double)v;
  } else {
    return rk_error(RK_ERANGE, "value %llu does not fit column '%s' of type %s", (unsigned long long)v,
                    col->name ? col->name : "", rk_coltype_name(col->type));
  }
  return RK_OK;
}

rk_status rk_column_append_double(rk_column *col, double v) {
  RK_TRY(check_fixed(col, "a number"));
  if (col->type == RK_COL_FLOAT32) {
    ((float *)col->values)[col->length++] = (float)v;
  } else if (col->type == RK_COL_FLOAT64) {
    ((double *)col->values)[col->length++] = v;
  } else {
    if (v != floor(v) || !isfinite(v))
      return rk_error(RK_ERANGE, "value %g is not an integer for column '%s' of type %s", v,
                      col->name ? col->name : "", rk_coltype_name(col->type));
    if (v >= 0x1p63 && v < 0x1p64) return rk_column_append_uint(col, (uint64_t)v);
    if (v < -9223372036854775808.0 || v >= 9223372036854775808.0)   /* outside int64 */
      return rk_error(RK_ERANGE, "value %g does not fit column '%s' of type %s", v, col->name ? col->name : "",
                      rk_coltype_name(col->type));
    return rk_column_append_int(col, (int64_t)v);
  }
  return RK_OK;
}

rk_status rk_column_append_string(rk_column *col, const char *s, size_t n) {
  if (col->type != RK_COL_STRING)
    return rk_error(RK_EINVAL, "cannot append a string to %s column '%s'", rk_coltype_name(col->type),
                    col->name ? col->name : "");
  int64_t end = col->offsets[col->length] + (int64_t)n;
  RK_TRY(rk_column_reserve(col, col->length + 1, end));
  if (n > 0) memcpy((char *)col->values + col->offsets[col->length], s, n);   /* values may be NULL */
  col->offsets[++col->length] = end;
  return RK_OK;
}

rk_status rk_column_append_null(rk_column *col) {
  RK_TRY(rk_column_reserve(col, col->length + 1, 0));
  RK_TRY(ensure_validity(col));
  int64_t row = col->length;
  if (has_offsets(col->type)) {
    col->offsets[row + 1] = col->offsets[row];
  } else {
    memset((char *)col->values + (size_t)row * rk_coltype_width(col->type), 0, rk_coltype_width(col->type));
  }
  col->validity[row >> 3] &= (uint8_t)~(1u << (row & 7));
  col->null_count++;
  col->length++;
  return RK_OK;
}

rk_status rk_column_finish_list_row(rk_column *col) {
  if (col->type != RK_COL_LIST)
    return rk_error(RK_EINVAL, "column '%s' is %s, not a list", col->name ? col->name : "",
                    rk_coltype_name(col->type));
  RK_TRY(rk_column_reserve(col, col->length + 1, 0));
  col->offsets[col->length + 1] = col->child->length;
  col->length++;
  return RK_OK;
}

rk_status rk_column_append_column(rk_column *dst, const rk_column *src, int64_t begin, int64_t end) {
  if (dst->type != src->type || (dst->child && dst->child->type != src->child->type))
    return rk_error(RK_EINVAL, "cannot append %s column '%s' to %s column '%s'", rk_coltype_name(src->type),
                    src->name ? src->name : "", rk_coltype_name(dst->type), dst->name ? dst->name : "");
  if (begin < 0 || end > src->length || begin > end)
    return rk_error(RK_ERANGE, "rows [%lld, %lld) are outside column '%s' of %lld rows", (long long)begin,
                    (long long)end, src->name ? src->name : "", (long long)src->length);
  int64_t n = end - begin, at = dst->length;
  /* All room first (rows, bytes, the bitmap when nulls come along), so that running out of memory
   * leaves dst as it was; only the list's child append can fail after this, and it is the last. */
  int64_t bytes = src->type == RK_COL_STRING ? src->offsets[end] - src->offsets[begin] : 0;
  RK_TRY(rk_column_reserve(dst, at + n, src->type == RK_COL_STRING ? dst->offsets[at] + bytes : 0));
  bool nulls = false;
  for (int64_t i = begin; i < end && src->null_count > 0 && !nulls; i++) nulls = rk_column_is_null(src, i);
  if (nulls) RK_TRY(ensure_validity(dst));
  if (src->type == RK_COL_STRING) {
    if (bytes > 0)   /* values may be NULL when no string has bytes yet */
      memcpy((char *)dst->values + dst->offsets[at], (const char *)src->values + src->offsets[begin], (size_t)bytes);
    for (int64_t i = 1; i <= n; i++) dst->offsets[at + i] = dst->offsets[at] + src->offsets[begin + i] - src->offsets[begin];
  } else if (src->type == RK_COL_LIST) {
    int64_t cbase = dst->child->length;
    RK_TRY(rk_column_append_column(dst->child, src->child, src->offsets[begin], src->offsets[end]));
    for (int64_t i = 1; i <= n; i++) dst->offsets[at + i] = cbase + src->offsets[begin + i] - src->offsets[begin];
  } else {
    size_t w = rk_coltype_width(src->type);
    if (n > 0) memcpy((char *)dst->values + (size_t)at * w, (const char *)src->values + (size_t)begin * w, (size_t)n * w);
  }
  dst->length = at + n;
  if (nulls) {   /* the bitmap exists and covers the rows: marking cannot fail */
    for (int64_t i = 0; i < n; i++) {
      if (!rk_column_is_null(src, begin + i)) continue;
      int64_t row = at + i;
      dst->validity[row >> 3] &= (uint8_t)~(1u << (row & 7));
      dst->null_count++;
    }
  }
  return RK_OK;
}

/* Toward zero, saturating; NaN reads 0 (the plain cast of NaN or of a value past int64 is undefined). */
static int64_t float_to_int(double x) {
  if (isnan(x)) return 0;
  if (x >= 9223372036854775808.0) return INT64_MAX;
  if (x <= -9223372036854775808.0) return INT64_MIN;
  return (int64_t)x;
}

int64_t rk_column_get_int(const rk_column *col, int64_t row) {
  switch (col->type) {
    case RK_COL_INT8: return ((const int8_t *)col->values)[row];
    case RK_COL_INT16: return ((const int16_t *)col->values)[row];
    case RK_COL_INT32: return ((const int32_t *)col->values)[row];
    case RK_COL_INT64: return ((const int64_t *)col->values)[row];
    case RK_COL_UINT8: return ((const uint8_t *)col->values)[row];
    case RK_COL_UINT16: return ((const uint16_t *)col->values)[row];
    case RK_COL_UINT32: return ((const uint32_t *)col->values)[row];
    case RK_COL_UINT64: return (int64_t)((const uint64_t *)col->values)[row];
    case RK_COL_FLOAT32: return float_to_int(((const float *)col->values)[row]);
    case RK_COL_FLOAT64: return float_to_int(((const double *)col->values)[row]);
    default: return 0;
  }
}

double rk_column_get_double(const rk_column *col, int64_t row) {
  switch (col->type) {
    case RK_COL_FLOAT32: return ((const float *)col->values)[row];
    case RK_COL_FLOAT64: return ((const double *)col->values)[row];
    case RK_COL_UINT64: return (double)((const uint64_t *)col->values)[row];
    default: return (double)rk_column_get_int(col, row);
  }
}

const char *rk_column_get_string(const rk_column *col, int64_t row, size_t *len) {
  if (col->type != RK_COL_STRING) {
    *len = 0;
    return "";
  }
  *len = (size_t)(col->offsets[row + 1] - col->offsets[row]);
  return (const char *)col->values + col->offsets[row];
}

/* Element k of a list's child equals element l of another child of the same type. */
static bool element_equal(const rk_column *a, int64_t k, const rk_column *b, int64_t l) {
  if (a->type == RK_COL_STRING) {
    size_t la, lb;
    const char *x = rk_column_get_string(a, k, &la), *y = rk_column_get_string(b, l, &lb);
    return la == lb && memcmp(x, y, la) == 0;
  }
  size_t w = rk_coltype_width(a->type);
  return memcmp((const char *)a->values + (size_t)k * w, (const char *)b->values + (size_t)l * w, w) == 0;
}

bool rk_column_equal(const rk_column *a, const rk_column *b) {
  if (a->type != b->type || a->length != b->length || a->null_count != b->null_count) return false;
  if (a->type == RK_COL_LIST && a->child->type != b->child->type) return false;
  for (int64_t i = 0; i < a->length; i++) {
    bool na = rk_column_is_null(a, i), nb = rk_column_is_null(b, i);
    if (na != nb) return false;
    if (na) continue;   /* a null slot's contents do not count */
    if (a->type == RK_COL_STRING) {
      if (!element_equal(a, i, b, i)) return false;
    } else if (a->type == RK_COL_LIST) {
      int64_t a0 = a->offsets[i], b0 = b->offsets[i], len = a->offsets[i + 1] - a0;
      if (len != b->offsets[i + 1] - b0) return false;
      for (int64_t k = 0; k < len; k++) {
        bool ea = rk_column_is_null(a->child, a0 + k), eb = rk_column_is_null(b->child, b0 + k);
        if (ea != eb || (!ea && !element_equal(a->child, a0 + k, b->child, b0 + k))) return false;
      }
    } else {
      if (!element_equal(a, i, b, i)) return false;
    }
  }
  return true;
}

rk_status rk_batch_init(rk_batch *batch, int ncols) {
  batch->nrows = 0;
  batch->ncols = 0;
  batch->cols = NULL;
  if (ncols < 0) return rk_error(RK_EINVAL, "batch of %d columns", ncols);
  if (ncols > 0 && !(batch->cols = rk_calloc((size_t)ncols, sizeof(rk_column)))) return RK_ENOMEM;
  batch->ncols = ncols;
  return RK_OK;
}

void rk_batch_free(rk_batch *batch) {
  for (int i = 0; i < batch->ncols; i++) rk_column_free(&batch->cols[i]);
  rk_free(batch->cols);
  batch->cols = NULL;
  batch->ncols = 0;
  batch->nrows = 0;
}

void rk_batch_clear(rk_batch *batch) {
  for (int i = 0; i < batch->ncols; i++) rk_column_clear(&batch->cols[i]);
  batch->nrows = 0;
}

int rk_batch_find(const rk_batch *batch, const char *name) {
  for (int i = 0; i < batch->ncols; i++)
    if (batch->cols[i].name && strcmp(batch->cols[i].name, name) == 0) return i;
  return -1;
}

/* ---- taking rows by index ------------------------------------------------------------------ */

/* dst (same type as src, cleared) = src's rows idx[0..n): one pass per column, typed copies. */
static rk_status take_column(rk_column *dst, const rk_column *src, const int64_t *idx, int64_t n) {
  int64_t values = 0;   /* string bytes or list elements */
  if (has_offsets(src->type))
    for (int64_t i = 0; i < n; i++) values += src->offsets[idx[i] + 1] - src->offsets[idx[i]];
  RK_TRY(rk_column_reserve(dst, n, src->type == RK_COL_STRING ? values : 0));
  if (src->type == RK_COL_LIST) {
    RK_TRY(rk_column_reserve(dst->child, values, 0));   /* a string child's bytes grow as they come */
    for (int64_t i = 0; i < n; i++) {
      RK_TRY(rk_column_append_column(dst->child, src->child, src->offsets[idx[i]], src->offsets[idx[i] + 1]));
      dst->offsets[i + 1] = dst->child->length;
    }
  } else if (src->type == RK_COL_STRING) {
    char *out = dst->values;
    const char *in = src->values;
    for (int64_t i = 0; i < n; i++) {
      int64_t a = src->offsets[idx[i]], len = src->offsets[idx[i] + 1] - a;
      if (len > 0) memcpy(out + dst->offsets[i], in + a, (size_t)len);
      dst->offsets[i + 1] = dst->offsets[i] + len;
    }
  } else {
    switch (rk_coltype_width(src->type)) {   /* whole-word copies: the compiler keeps them in registers */
      case 1: for (int64_t i = 0; i < n; i++) ((uint8_t *)dst->values)[i] = ((const uint8_t *)src->values)[idx[i]]; break;
      case 2: for (int64_t i = 0; i < n; i++) ((uint16_t *)dst->values)[i] = ((const uint16_t *)src->values)[idx[i]]; break;
      case 4: for (int64_t i = 0; i < n; i++) ((uint32_t *)dst->values)[i] = ((const uint32_t *)src->values)[idx[i]]; break;
      default: for (int64_t i = 0; i < n; i++) ((uint64_t *)dst->values)[i] = ((const uint64_t *)src->values)[idx[i]]; break;
    }
  }
  dst->length = n;
  if (src->null_count == 0) return RK_OK;
  for (int64_t i = 0; i < n; i++) {
    if (!rk_column_is_null(src, idx[i])) continue;
    RK_TRY(ensure_validity(dst));
    dst->validity[i >> 3] &= (uint8_t)~(1u << (i & 7));
    dst->null_count++;
  }
  return RK_OK;
}

/* Whether dst already holds columns of src's names and types, so its buffers can be reused. */
static bool same_columns(const rk_batch *dst, const rk_batch *src) {
  if (dst->ncols != src->ncols) return false;
  for (int c = 0; c < src->ncols; c++) {
    const rk_column *d = &dst->cols[c], *s = &src->cols[c];
    if (d->type != s->type || (s->child && d->child->type != s->child->type)) return false;
    if (!d->name != !s->name || (s->name && strcmp(d->name, s->name) != 0)) return false;
  }
  return true;
}

rk_status rk_batch_take(rk_batch *dst, const rk_batch *src, const int64_t *rows, int64_t n) {
  rk_batch_clear(dst);
  for (int64_t i = 0; i < n; i++)
    if (rows[i] < 0 || rows[i] >= src->nrows)
      return rk_error(RK_ERANGE, "cannot take row %lld of a batch of %lld rows", (long long)rows[i], (long long)src->nrows);
  rk_status st = RK_OK;
  if (!same_columns(dst, src)) {
    rk_batch_free(dst);
    st = rk_batch_init(dst, src->ncols);
    for (int c = 0; st == RK_OK && c < src->ncols; c++) {
      const rk_column *s = &src->cols[c];
      st = rk_column_init(&dst->cols[c], s->name, s->type, s->child ? s->child->type : RK_COL_INT64);
    }
  }
  for (int c = 0; st == RK_OK && c < src->ncols; c++) st = take_column(&dst->cols[c], &src->cols[c], rows, n);
  if (st != RK_OK) {
    rk_batch_clear(dst);
    return st;
  }
  dst->nrows = n;
  return RK_OK;
}
