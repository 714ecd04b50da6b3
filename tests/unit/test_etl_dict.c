/*
 * Dictionaries (src/etl/dict.c): first-seen numbering for every column type, nulls, -0.0 and
 * NaN as one value each, uint64 by its bits, the direct map of small ints beside wider keys,
 * lookups (absent, null, wrong kind), ordering, writing values back (with range errors),
 * strings with NUL bytes, 1M random keys through many rehashes against a sorting reference,
 * concurrent lookups equal to a sequential one, type errors, and every allocation failure.
 */
#include "support.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "reckon/etl.h"

/* ---- helpers ---- */

static void int_column(rk_column *col, const char *name, rk_coltype type, const int64_t *v, int64_t n) {
  assert_rk_ok(rk_column_init(col, name, type, RK_COL_INT8));
  for (int64_t i = 0; i < n; i++) assert_rk_ok(rk_column_append_int(col, v[i]));
}

static void double_column(rk_column *col, rk_coltype type, const double *v, int64_t n) {
  assert_rk_ok(rk_column_init(col, "x", type, RK_COL_INT8));
  for (int64_t i = 0; i < n; i++) assert_rk_ok(rk_column_append_double(col, v[i]));
}

/* Strings given with their lengths, so they may hold NUL bytes; NULL is a null row. */
static void string_column(rk_column *col, const char *const *s, const size_t *len, int64_t n) {
  assert_rk_ok(rk_column_init(col, "s", RK_COL_STRING, RK_COL_INT8));
  for (int64_t i = 0; i < n; i++) {
    if (s[i])
      assert_rk_ok(rk_column_append_string(col, s[i], len ? len[i] : strlen(s[i])));
    else
      assert_rk_ok(rk_column_append_null(col));
  }
}

static void assert_indices(const int32_t *got, const int32_t *want, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    if (got[i] != want[i]) fail_msg("row %lld: index %d, want %d", (long long)i, got[i], want[i]);
}

/* ---- numbering ---- */

static void test_every_int_type(void **state) {
  (void)state;
  static const rk_coltype types[] = {RK_COL_INT8,  RK_COL_INT16,  RK_COL_INT32,  RK_COL_INT64,
                                     RK_COL_UINT8, RK_COL_UINT16, RK_COL_UINT32, RK_COL_UINT64};
  const int64_t v[] = {5, 7, 5, 0, 100, 7, 7, 0, 1};
  const int32_t want[] = {0, 1, 0, 2, 3, 1, 1, 2, 4};
  const int64_t distinct[] = {5, 7, 0, 100, 1};
  for (size_t t = 0; t < sizeof types / sizeof *types; t++) {
    rk_column col;
    int_column(&col, "c", types[t], v, 9);
    rk_dict *d;
    assert_rk_ok(rk_dict_create(&d, types[t]));
    assert_int_equal(rk_dict_key_type(d), RK_COL_INT64);
    int32_t idx[9];
    assert_rk_ok(rk_dict_insert(d, &col, 0, 9, idx));
    assert_indices(idx, want, 9);
    assert_int_equal(rk_dict_size(d), 5);
    for (int i = 0; i < 5; i++) assert_int_equal(rk_dict_int(d, i), distinct[i]);
    /* A second insert numbers nothing new; a sub-range writes from idx[0]. */
    assert_rk_ok(rk_dict_insert(d, &col, 3, 6, idx));
    assert_indices(idx, want + 3, 3);
    rk_dict_lookup(d, &col, 0, 9, idx);
    assert_indices(idx, want, 9);
    assert_true(rk_dict_memory(d) > 0);
    rk_dict_free(d);
    rk_column_free(&col);
  }
}

static void test_signed_extremes_and_uint64_bits(void **state) {
  (void)state;
  const int64_t v[] = {INT64_MIN, -1, INT64_MAX, -1, 0, INT64_MIN};
  rk_column col;
  int_column(&col, "big", RK_COL_INT64, v, 6);
  rk_dict *d;
  assert_rk_ok(rk_dict_create(&d, RK_COL_INT64));
  int32_t idx[6];
  assert_rk_ok(rk_dict_insert(d, &col, 0, 6, idx));
  assert_indices(idx, (const int32_t[]){0, 1, 2, 1, 3, 0}, 6);
  assert_true(rk_dict_compare(d, 0, 1) < 0 && rk_dict_compare(d, 1, 3) < 0 && rk_dict_compare(d, 2, 3) > 0);
  assert_int_equal(rk_dict_compare(d, 2, 2), 0);
  rk_dict_free(d);
  rk_column_free(&col);

  /* uint64: the same bits as int64 -1 is the same key; a uint64 dictionary orders unsigned. */
  rk_column u;
  assert_rk_ok(rk_column_init(&u, "u", RK_COL_UINT64, RK_COL_INT8));
  assert_rk_ok(rk_column_append_uint(&u, UINT64_MAX));
  assert_rk_ok(rk_column_append_uint(&u, 1));
  assert_rk_ok(rk_dict_create(&d, RK_COL_UINT64));
  assert_rk_ok(rk_dict_insert(d, &u, 0, 2, idx));
  assert_int_equal(rk_dict_int(d, 0), -1);
  assert_true(rk_dict_compare(d, 0, 1) > 0);
  int_column(&col, "i", RK_COL_INT64, (const int64_t[]){-1, 2}, 2);
  rk_dict_lookup(d, &col, 0, 2, idx);
  assert_indices(idx, (const int32_t[]){0, RK_DICT_ABSENT}, 2);
  rk_dict_free(d);
  rk_column_free(&col);
  rk_column_free(&u);
}

/* A dictionary made for 8- or 16-bit ints maps them directly, and still takes wider keys. */
static void test_direct_map_with_wide_keys(void **state) {
  (void)state;
  static const rk_coltype small[] = {RK_COL_INT8, RK_COL_UINT8, RK_COL_INT16, RK_COL_UINT16};
  for (size_t t = 0; t < 4; t++) {
    rk_dict *d;
    assert_rk_ok(rk_dict_create(&d, small[t]));
    rk_column narrow, wide;
    int_column(&narrow, "n", small[t], (const int64_t[]){3, 0, 3, 127}, 4);
    int_column(&wide, "w", RK_COL_INT64, (const int64_t[]){1000000, 3, -70000, 127, 65536, 1000000, 2}, 7);
    int32_t idx[7];
    assert_rk_ok(rk_dict_insert(d, &narrow, 0, 4, idx));
    assert_indices(idx, (const int32_t[]){0, 1, 0, 2}, 4);
    assert_rk_ok(rk_dict_insert(d, &wide, 0, 7, idx));
    assert_indices(idx, (const int32_t[]){3, 0, 4, 2, 5, 3, 6}, 7);
    rk_dict_lookup(d, &wide, 0, 7, idx);
    assert_indices(idx, (const int32_t[]){3, 0, 4, 2, 5, 3, 6}, 7);
    assert_int_equal(rk_dict_int(d, 4), -70000);
    /* Many wide keys: the table grows while the direct keys stay put. */
    rk_column many;
    assert_rk_ok(rk_column_init(&many, "m", RK_COL_INT32, RK_COL_INT8));
    for (int64_t i = 0; i < 5000; i++) assert_rk_ok(rk_column_append_int(&many, 100000 + 7 * i));
    int32_t *mi = malloc(5000 * sizeof *mi);
    assert_rk_ok(rk_dict_insert(d, &many, 0, 5000, mi));
    for (int64_t i = 0; i < 5000; i++) assert_int_equal(mi[i], 7 + i);
    rk_dict_lookup(d, &narrow, 0, 4, idx);
    assert_indices(idx, (const int32_t[]){0, 1, 0, 2}, 4);
    free(mi);
    rk_column_free(&many);
    rk_column_free(&narrow);
    rk_column_free(&wide);
    rk_dict_free(d);
  }
  /* Every value of int16, all distinct, through the direct map. */
  rk_dict *d;
  assert_rk_ok(rk_dict_create(&d, RK_COL_INT16));
  rk_column all;
  assert_rk_ok(rk_column_init(&all, "all", RK_COL_INT16, RK_COL_INT8));
  for (int64_t v = INT16_MAX; v >= INT16_MIN; v--) assert_rk_ok(rk_column_append_int(&all, v));
  int32_t *idx = malloc(65536 * sizeof *idx);
  assert_rk_ok(rk_dict_insert(d, &all, 0, 65536, idx));
  for (int32_t i = 0; i < 65536; i++) assert_int_equal(idx[i], i);
  assert_int_equal(rk_dict_int(d, 65535), INT16_MIN);
  free(idx);
  rk_column_free(&all);
  rk_dict_free(d);
}

static void test_floats(void **state) {
  (void)state;
  const double v[] = {0.0, -0.0, NAN, -NAN, 1.5, INFINITY, -INFINITY, 1.5, 0.0, -1e-320};
  const int32_t want[] = {0, 0, 1, 1, 2, 3, 4, 2, 0, 5};
  for (int t = 0; t < 2; t++) {
    rk_coltype type = t ? RK_COL_FLOAT64 : RK_COL_FLOAT32;
    rk_column col;
    double_column(&col, type, v, t ? 10 : 9);   /* -1e-320 is 0 in float32 */
    /* A NaN with another payload is still NaN. */
    if (t) {
      uint64_t bits = 0x7ff0000000000123ull;
      memcpy(&((double *)col.values)[3], &bits, sizeof bits);
    }
    rk_dict *d;
    assert_rk_ok(rk_dict_create(&d, type));
    assert_int_equal(rk_dict_key_type(d), RK_COL_FLOAT64);
    int32_t idx[10];
    assert_rk_ok(rk_dict_insert(d, &col, 0, col.length, idx));
    assert_indices(idx, want, col.length);
    assert_int_equal(rk_dict_size(d), t ? 6 : 5);
    assert_true(signbit(rk_dict_double(d, 0)) == 0 && rk_dict_double(d, 0) == 0.0);
    assert_true(isnan(rk_dict_double(d, 1)));
    /* NaN sorts last; -inf first. */
    assert_true(rk_dict_compare(d, 1, 3) > 0 && rk_dict_compare(d, 3, 1) < 0 && rk_dict_compare(d, 1, 1) == 0);
    assert_true(rk_dict_compare(d, 4, 0) < 0 && rk_dict_compare(d, 2, 0) > 0);
    /* A float32 column looks up in a float64-fed dictionary by value. */
    rk_column other;
    double_column(&other, t ? RK_COL_FLOAT32 : RK_COL_FLOAT64, (const double[]){-0.0, 1.5, 2.5, NAN}, 4);
    rk_dict_lookup(d, &other, 0, 4, idx);
    assert_indices(idx, (const int32_t[]){0, 2, RK_DICT_ABSENT, 1}, 4);
    rk_column_free(&other);
    rk_column_free(&col);
    rk_dict_free(d);
  }
}

static void test_strings_with_nul_bytes(void **state) {
  (void)state;
  const char *const s[] = {"a\0b", "a", "a\0c", "", "a\0b", NULL, "", "a\0\0", "a"};
  const size_t len[] = {3, 1, 3, 0, 3, 0, 0, 3, 1};
  rk_column col;
  string_column(&col, s, len, 9);
  rk_dict *d;
  assert_rk_ok(rk_dict_create(&d, RK_COL_STRING));
  int32_t idx[9];
  assert_rk_ok(rk_dict_insert(d, &col, 0, 9, idx));
  const int32_t want[] = {0, 1, 2, 3, 0, RK_DICT_NULL, 3, 4, 1};
  assert_indices(idx, want, 9);
  assert_int_equal(rk_dict_size(d), 5);
  size_t n;
  const char *v = rk_dict_string(d, 2, &n);
  assert_int_equal(n, 3);
  assert_memory_equal(v, "a\0c", 3);
  assert_non_null(rk_dict_string(d, 3, &n));   /* an address even when empty */
  assert_int_equal(n, 0);
  /* Bytewise, then by length: "" < "a" < "a\0\0" < "a\0b" < "a\0c". */
  assert_true(rk_dict_compare(d, 3, 1) < 0 && rk_dict_compare(d, 1, 4) < 0 && rk_dict_compare(d, 4, 0) < 0 &&
              rk_dict_compare(d, 0, 2) < 0 && rk_dict_compare(d, 2, 2) == 0);
  const char *const q[] = {"a\0c", "a\0", NULL, "b", ""};
  const size_t qlen[] = {3, 2, 0, 1, 0};
  rk_column look;
  string_column(&look, q, qlen, 5);
  rk_dict_lookup(d, &look, 0, 5, idx);
  assert_indices(idx, (const int32_t[]){2, RK_DICT_ABSENT, RK_DICT_NULL, RK_DICT_ABSENT, 3}, 5);
  rk_column_free(&look);
  rk_column_free(&col);
  rk_dict_free(d);
}

/* Many strings: the byte buffer and the table grow; every value keeps its number. */
static void test_many_strings(void **state) {
  (void)state;
  const int64_t n = 200000, distinct = 50000;
  rk_column col;
  assert_rk_ok(rk_column_init(&col, "s", RK_COL_STRING, RK_COL_INT8));
  char buf[64];
  for (int64_t i = 0; i < n; i++) {
    int64_t v = (i * 7919) % distinct;
    int len = snprintf(buf, sizeof buf, "user-%lld-%s", (long long)v, v % 3 ? "x" : "a much longer suffix here");
    assert_rk_ok(rk_column_append_string(&col, buf, (size_t)len));
  }
  rk_dict *d;
  assert_rk_ok(rk_dict_create(&d, RK_COL_STRING));
  int32_t *idx = malloc((size_t)n * sizeof *idx), *again = malloc((size_t)n * sizeof *again);
  assert_rk_ok(rk_dict_insert(d, &col, 0, n, idx));
  assert_int_equal(rk_dict_size(d), distinct);
  int32_t next = 0;
  for (int64_t i = 0; i < n; i++) {
    assert_true(idx[i] <= next);
    if (idx[i] == next) next++;
    size_t a, b;
    const char *x = rk_dict_string(d, idx[i], &a), *y = rk_column_get_string(&col, i, &b);
    assert_true(a == b && memcmp(x, y, a) == 0);
  }
  rk_dict_lookup(d, &col, 0, n, again);
  assert_memory_equal(idx, again, (size_t)n * sizeof *idx);
  free(idx);
  free(again);
  rk_column_free(&col);
  rk_dict_free(d);
}

static void test_nulls(void **state) {
  (void)state;
  rk_column col;
  assert_rk_ok(rk_column_init(&col, "age", RK_COL_INT64, RK_COL_INT8));
  for (int i = 0; i < 300; i++) assert_rk_ok(i % 3 == 1 ? rk_column_append_null(&col) : rk_column_append_int(&col, i % 5 + 1));
  rk_dict *d;
  assert_rk_ok(rk_dict_create(&d, RK_COL_INT64));
  int32_t idx[300];
  assert_rk_ok(rk_dict_insert(d, &col, 0, 300, idx));
  assert_int_equal(rk_dict_size(d), 5);   /* the nulls' zero slots are not values */
  for (int i = 0; i < 300; i++) {
    if (i % 3 == 1)
      assert_int_equal(idx[i], RK_DICT_NULL);
    else
      assert_int_equal(rk_dict_int(d, idx[i]), i % 5 + 1);
  }
  rk_dict_lookup(d, &col, 0, 300, idx);
  for (int i = 0; i < 300; i++) assert_true((idx[i] == RK_DICT_NULL) == (i % 3 == 1));
  rk_column_free(&col);
  rk_dict_free(d);
}

static void test_kind_errors(void **state) {
  (void)state;
  rk_dict *d;
  assert_int_equal(rk_dict_create(&d, RK_COL_LIST), RK_EINVAL);
  assert_null(d);
  assert_rk_ok(rk_dict_create(&d, RK_COL_INT32));
  rk_column col;
  const char *const s[] = {"x", NULL};
  string_column(&col, s, NULL, 2);
  int32_t idx[2];
  assert_int_equal(rk_dict_insert(d, &col, 0, 2, idx), RK_EINVAL);
  assert_string_equal(rk_error_message(), "column 's' is string, but its dictionary holds int64 values");
  rk_dict_lookup(d, &col, 0, 2, idx);   /* no status to return: nothing matches */
  assert_indices(idx, (const int32_t[]){RK_DICT_ABSENT, RK_DICT_NULL}, 2);
  rk_column_free(&col);
  double_column(&col, RK_COL_FLOAT32, (const double[]){1.0}, 1);
  assert_int_equal(rk_dict_insert(d, &col, 0, 1, idx), RK_EINVAL);
  assert_string_equal(rk_error_message(), "column 'x' is float32, but its dictionary holds int64 values");
  assert_int_equal(rk_dict_size(d), 0);
  rk_column_free(&col);
  rk_dict_free(d);
}

/* ---- writing values ---- */

static void test_append_values(void **state) {
  (void)state;
  rk_column col, out;
  int_column(&col, "id", RK_COL_INT64, (const int64_t[]){300, -5, 7, 40000}, 4);
  rk_dict *d;
  assert_rk_ok(rk_dict_create(&d, RK_COL_INT64));
  int32_t idx[4];
  assert_rk_ok(rk_dict_insert(d, &col, 0, 4, idx));
  const int64_t order[] = {2, 0, 1};

  /* Any int type that holds the values. */
  int_column(&out, "v", RK_COL_INT16, (const int64_t[]){9}, 1);
  assert_rk_ok(rk_column_append_null(&out));
  assert_rk_ok(rk_dict_append_values(d, order, 3, &out));
  assert_int_equal(out.length, 5);
  assert_int_equal(rk_column_get_int(&out, 2), 7);
  assert_int_equal(rk_column_get_int(&out, 3), 300);
  assert_int_equal(rk_column_get_int(&out, 4), -5);
  assert_false(rk_column_is_null(&out, 4));
  assert_true(rk_column_is_null(&out, 1));
  rk_column_free(&out);

  /* Range errors name the value and the type, and leave the column as it was. */
  assert_rk_ok(rk_column_init(&out, "v", RK_COL_INT8, RK_COL_INT8));
  assert_int_equal(rk_dict_append_values(d, order, 3, &out), RK_ERANGE);
  assert_string_equal(rk_error_message(), "dictionary value 300 does not fit int8 column 'v'");
  assert_int_equal(out.length, 0);
  rk_column_free(&out);
  assert_rk_ok(rk_column_init(&out, "v", RK_COL_UINT32, RK_COL_INT8));
  assert_int_equal(rk_dict_append_values(d, (const int64_t[]){3, 1}, 2, &out), RK_ERANGE);
  assert_string_equal(rk_error_message(), "dictionary value -5 does not fit uint32 column 'v'");
  rk_column_free(&out);
  assert_rk_ok(rk_column_init(&out, "v", RK_COL_FLOAT64, RK_COL_INT8));
  assert_int_equal(rk_dict_append_values(d, order, 3, &out), RK_EINVAL);
  assert_string_equal(rk_error_message(), "cannot write a dictionary of int64 values into float64 column 'v'");
  rk_column_free(&out);
  rk_column_free(&col);
  rk_dict_free(d);

  /* uint64 keys above INT64_MAX: fine in uint64, a range error in int64. */
  assert_rk_ok(rk_column_init(&col, "u", RK_COL_UINT64, RK_COL_INT8));
  assert_rk_ok(rk_column_append_uint(&col, UINT64_MAX - 1));
  assert_rk_ok(rk_dict_create(&d, RK_COL_UINT64));
  assert_rk_ok(rk_dict_insert(d, &col, 0, 1, idx));
  assert_rk_ok(rk_column_init(&out, "v", RK_COL_UINT64, RK_COL_INT8));
  assert_rk_ok(rk_dict_append_values(d, (const int64_t[]){0}, 1, &out));
  assert_true(((uint64_t *)out.values)[0] == UINT64_MAX - 1);
  rk_column_free(&out);
  assert_rk_ok(rk_column_init(&out, "v", RK_COL_INT64, RK_COL_INT8));
  assert_int_equal(rk_dict_append_values(d, (const int64_t[]){0}, 1, &out), RK_ERANGE);
  assert_string_equal(rk_error_message(), "dictionary value 18446744073709551614 does not fit int64 column 'v'");
  rk_column_free(&out);
  rk_column_free(&col);
  rk_dict_free(d);

  /* Floats into float32 or float64; strings (with NULs) into a string column. */
  double_column(&col, RK_COL_FLOAT64, (const double[]){2.5, -0.0, NAN}, 3);
  assert_rk_ok(rk_dict_create(&d, RK_COL_FLOAT64));
  assert_rk_ok(rk_dict_insert(d, &col, 0, 3, idx));
  assert_rk_ok(rk_column_init(&out, "v", RK_COL_FLOAT32, RK_COL_INT8));
  assert_rk_ok(rk_dict_append_values(d, (const int64_t[]){2, 0, 1}, 3, &out));
  assert_true(isnan(((float *)out.values)[0]) && ((float *)out.values)[1] == 2.5f && ((float *)out.values)[2] == 0.0f);
  rk_column_free(&out);
  rk_column_free(&col);
  rk_dict_free(d);

  const char *const s[] = {"x\0y", "", "hello"};
  const size_t len[] = {3, 0, 5};
  string_column(&col, s, len, 3);
  assert_rk_ok(rk_dict_create(&d, RK_COL_STRING));
  assert_rk_ok(rk_dict_insert(d, &col, 0, 3, idx));
  const char *const pre[] = {"first"};
  string_column(&out, pre, NULL, 1);
  assert_rk_ok(rk_dict_append_values(d, (const int64_t[]){2, 0, 1, 0}, 4, &out));
  const char *const want[] = {"first", "hello", "x\0y", "", "x\0y"};
  const size_t wlen[] = {5, 5, 3, 0, 3};
  rk_column expect;
  string_column(&expect, want, wlen, 5);
  assert_true(rk_column_equal(&out, &expect));
  rk_column_free(&expect);
  rk_column_free(&out);
  assert_rk_ok(rk_column_init(&out, "v", RK_COL_INT64, RK_COL_INT8));
  assert_int_equal(rk_dict_append_values(d, (const int64_t[]){0}, 1, &out), RK_EINVAL);
  rk_column_free(&out);
  rk_column_free(&col);
  rk_dict_free(d);
}

/* ---- scale: 1M random keys against a sorting reference ---- */

typedef struct {
  int64_t value, row;
} keyed_row;

static int by_value_then_row(const void *a, const void *b) {
  const keyed_row *x = a, *y = b;
  if (x->value != y->value) return x->value < y->value ? -1 : 1;
  return (x->row > y->row) - (x->row < y->row);
}

/* Values with repeats over the whole int64 range (random high bits, some small ids). */
static void random_keys(rk_column *col, int64_t n, uint64_t seed) {
  rk_rng rng;
  rk_rng_init(&rng, seed, 0);
  assert_rk_ok(rk_column_init(col, "id", RK_COL_INT64, RK_COL_INT8));
  assert_rk_ok(rk_column_reserve(col, n, 0));
  int64_t *v = col->values;
  for (int64_t i = 0; i < n; i++) {
    uint64_t k = rk_rng_below(&rng, (uint64_t)n / 2);
    v[i] = k % 4 == 0 ? (int64_t)k : (int64_t)(k * 0x9e3779b97f4a7c15ull);
  }
  col->length = n;
}

/* The numbering is first-seen order, equal values share a number, and the size is the number of
 * distinct values a sort finds. */
static void check_numbering(const rk_dict *d, const rk_column *col, const int32_t *idx) {
  int64_t n = col->length;
  const int64_t *v = col->values;
  keyed_row *kr = malloc((size_t)n * sizeof *kr);
  for (int64_t i = 0; i < n; i++) kr[i] = (keyed_row){v[i], i};
  qsort(kr, (size_t)n, sizeof *kr, by_value_then_row);
  int64_t distinct = 0;
  for (int64_t i = 0; i < n; i++) distinct += i == 0 || kr[i].value != kr[i - 1].value;
  assert_int_equal(rk_dict_size(d), distinct);
  int32_t next = 0;
  for (int64_t i = 0; i < n; i++) {
    if (idx[i] > next || rk_dict_int(d, idx[i]) != v[i])
      fail_msg("row %lld: index %d (next new %d), value %lld", (long long)i, idx[i], next, (long long)v[i]);
    if (idx[i] == next) next++;
  }
  free(kr);
}

static void test_growth_against_sorting(void **state) {
  (void)state;
  const int64_t n = rk_test_sanitized() ? 200000 : 1000000;
  rk_column col;
  random_keys(&col, n, 42);
  rk_dict *d;
  assert_rk_ok(rk_dict_create(&d, RK_COL_INT64));
  int32_t *idx = malloc((size_t)n * sizeof *idx), *again = malloc((size_t)n * sizeof *again);
  /* In uneven pieces, so the table grows in the middle of calls. */
  for (int64_t at = 0, step = 1; at < n; at += step, step = step * 3 + 1) {
    int64_t end = at + step < n ? at + step : n;
    assert_rk_ok(rk_dict_insert(d, &col, at, end, idx + at));
  }
  check_numbering(d, &col, idx);
  rk_dict_lookup(d, &col, 0, n, again);
  assert_memory_equal(idx, again, (size_t)n * sizeof *idx);
  /* Half of these are new: absent. */
  rk_column other;
  random_keys(&other, n, 43);
  rk_dict_lookup(d, &other, 0, n, again);
  const int64_t *ov = other.values;
  for (int64_t i = 0; i < n; i++)
    if (again[i] != RK_DICT_ABSENT) assert_int_equal(rk_dict_int(d, again[i]), ov[i]);
  free(idx);
  free(again);
  rk_column_free(&other);
  rk_column_free(&col);
  rk_dict_free(d);
}

/* ---- concurrent lookups ---- */

typedef struct {
  const rk_dict *dict;
  const rk_column *col;
  int32_t *idx;
} lookup_ctx;

static void lookup_chunk(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  lookup_ctx *c = arg;
  rk_dict_lookup(c->dict, c->col, begin, end, c->idx + begin);
}

static void test_concurrent_lookups(void **state) {
  (void)state;
  const int64_t n = rk_test_sanitized() ? 100000 : 1000000;
  rk_column keys, query;
  random_keys(&keys, n, 7);
  random_keys(&query, 2 * n, 8);
  /* Nulls too, and both dictionary kinds that hash: ints and strings. */
  for (int64_t i = 0; i < 2 * n; i += 97) assert_rk_ok(rk_column_set_null(&query, i));
  rk_dict *d;
  assert_rk_ok(rk_dict_create(&d, RK_COL_INT64));
  int32_t *tmp = malloc((size_t)n * sizeof *tmp), *seq = malloc((size_t)2 * n * sizeof *seq),
          *par = malloc((size_t)2 * n * sizeof *par);
  assert_rk_ok(rk_dict_insert(d, &keys, 0, n, tmp));
  rk_dict_lookup(d, &query, 0, 2 * n, seq);
  rk_set_num_threads(4);
  memset(par, 0x55, (size_t)2 * n * sizeof *par);
  lookup_ctx c = {d, &query, par};
  rk_parallel_for(2 * n, 4099, lookup_chunk, &c);
  assert_memory_equal(seq, par, (size_t)2 * n * sizeof *seq);
  int64_t found = 0;
  for (int64_t i = 0; i < 2 * n; i++) found += seq[i] >= 0;
  assert_true(found > 0 && found < 2 * n);
  rk_dict_free(d);

  rk_column s;
  assert_rk_ok(rk_column_init(&s, "s", RK_COL_STRING, RK_COL_INT8));
  char buf[32];
  for (int64_t i = 0; i < n / 4; i++) {
    int len = snprintf(buf, sizeof buf, "%llx", (unsigned long long)(i * 2654435761u % 40000));
    assert_rk_ok(rk_column_append_string(&s, buf, (size_t)len));
  }
  assert_rk_ok(rk_dict_create(&d, RK_COL_STRING));
  assert_rk_ok(rk_dict_insert(d, &s, 0, n / 8, tmp));   /* half the rows: some values absent */
  rk_dict_lookup(d, &s, 0, n / 4, seq);
  c = (lookup_ctx){d, &s, par};
  rk_parallel_for(n / 4, 1021, lookup_chunk, &c);
  assert_memory_equal(seq, par, (size_t)(n / 4) * sizeof *seq);
  rk_set_num_threads(0);
  rk_dict_free(d);
  rk_column_free(&s);
  free(tmp);
  free(seq);
  free(par);
  rk_column_free(&keys);
  rk_column_free(&query);
}

/* ---- allocation failures ---- */

typedef struct {
  const rk_column *col;
  rk_coltype type;
  int32_t *idx;
} fail_ctx;

/* Create, insert (growing every array several times), look up, write values. (Recovery after a
 * failed insert is checked separately: re-arming the injection here would hide the failure.) */
static rk_status build_and_write(void *arg) {
  fail_ctx *c = arg;
  rk_dict *d;
  RK_TRY(rk_dict_create(&d, c->type));
  rk_status st = rk_dict_insert(d, c->col, 0, c->col->length, c->idx);
  if (st != RK_OK) {
    rk_dict_free(d);
    return st;
  }
  rk_dict_lookup(d, c->col, 0, c->col->length, c->idx);
  rk_column out;
  st = rk_column_init(&out, "out", c->type, RK_COL_INT8);
  int64_t *order = rk_malloc((size_t)rk_dict_size(d) * sizeof *order);
  if (st == RK_OK && !order) st = RK_ENOMEM;
  for (int64_t i = 0; st == RK_OK && i < rk_dict_size(d); i++) order[i] = rk_dict_size(d) - 1 - i;
  if (st == RK_OK) st = rk_dict_append_values(d, order, rk_dict_size(d), &out);
  rk_free(order);
  rk_column_free(&out);
  rk_dict_free(d);
  return st;
}

static void test_allocation_failures(void **state) {
  (void)state;
  rk_column ints, small, strs;
  random_keys(&ints, 3000, 5);
  int_column(&small, "g", RK_COL_INT16, (const int64_t[]){1, -2, 1, 3, 4000, -2}, 6);
  assert_rk_ok(rk_column_append_null(&small));
  assert_rk_ok(rk_column_init(&strs, "s", RK_COL_STRING, RK_COL_INT8));
  char buf[64];
  for (int i = 0; i < 2000; i++) {
    int len = snprintf(buf, sizeof buf, "value number %d", i % 700);
    assert_rk_ok(rk_column_append_string(&strs, buf, (size_t)len));
  }
  int32_t idx[3000], want[3000];
  const fail_ctx cases[] = {{&ints, RK_COL_INT64, idx}, {&small, RK_COL_INT16, idx}, {&strs, RK_COL_STRING, idx}};
  for (int k = 0; k < 3; k++) {
    fail_ctx c = cases[k];
    int64_t allocations = rk_test_walk_failures(build_and_write, &c);
    assert_true(allocations >= 3);
    /* After a failed insert the dictionary is still valid: inserting again gives a clean run's
     * numbering. */
    rk_dict *d;
    assert_rk_ok(rk_dict_create(&d, c.type));
    assert_rk_ok(rk_dict_insert(d, c.col, 0, c.col->length, want));
    rk_dict_free(d);
    for (int64_t n = 0; n < allocations; n++) {
      assert_rk_ok(rk_dict_create(&d, c.type));
      rk_alloc_fail_after(n);
      rk_status st = rk_dict_insert(d, c.col, 0, c.col->length, idx);
      rk_alloc_fail_after(-1);
      assert_true(st == RK_OK || st == RK_ENOMEM);
      assert_rk_ok(rk_dict_insert(d, c.col, 0, c.col->length, idx));
      assert_indices(idx, want, c.col->length);
      rk_dict_free(d);
    }
  }
  rk_column_free(&ints);
  rk_column_free(&small);
  rk_column_free(&strs);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_int_type),          cmocka_unit_test(test_signed_extremes_and_uint64_bits),
      cmocka_unit_test(test_direct_map_with_wide_keys), cmocka_unit_test(test_floats),
      cmocka_unit_test(test_strings_with_nul_bytes),  cmocka_unit_test(test_many_strings),
      cmocka_unit_test(test_nulls),                   cmocka_unit_test(test_kind_errors),
      cmocka_unit_test(test_append_values),           cmocka_unit_test(test_growth_against_sorting),
      cmocka_unit_test(test_concurrent_lookups),      cmocka_unit_test(test_allocation_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
