/*
 * Columns and batches (src/core/column.c): append and read back every type, range errors on
 * narrowing appends (naming the column), nulls (validity bitmap LSB first, null_count, zeroed or
 * empty slots), strings, lists of ints and of strings, append_column of ranges with nulls,
 * rk_column_equal, clear and reuse, coltype names and parsing, batches.
 * Reference: Arrow columnar format, "Physical memory layout". Failure injection: see
 * test_core_failpaths.c.
 */
#include "support.h"

#include <math.h>
#include <string.h>

static void check_offsets_layout(const rk_column *c) {
  assert_non_null(c->offsets);
  assert_int_equal(c->offsets[0], 0);
  for (int64_t i = 0; i < c->length; i++) assert_true(c->offsets[i] <= c->offsets[i + 1]);
}

/* ---- types -------------------------------------------------------------------------------- */
static void test_coltype_names_parse_width(void **state) {
  (void)state;
  const char *names[] = {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                         "uint64", "float32", "float64", "string", "list"};
  const size_t widths[] = {1, 2, 4, 8, 1, 2, 4, 8, 4, 8, 0, 0};
  assert_int_equal(RK_COL_TYPE_COUNT, 12);
  for (int t = 0; t < RK_COL_TYPE_COUNT; t++) {
    assert_string_equal(rk_coltype_name((rk_coltype)t), names[t]);
    assert_int_equal(rk_coltype_width((rk_coltype)t), widths[t]);
    rk_coltype back;
    assert_rk_ok(rk_coltype_parse(names[t], &back));
    assert_int_equal(back, t);
    assert_int_equal(rk_coltype_is_int((rk_coltype)t), t <= RK_COL_UINT64);
    assert_int_equal(rk_coltype_is_float((rk_coltype)t), t == RK_COL_FLOAT32 || t == RK_COL_FLOAT64);
  }
  rk_coltype out = RK_COL_INT8;
  assert_int_equal(rk_coltype_parse("int128", &out), RK_EINVAL);
  assert_non_null(strstr(rk_error_message(), "'int128'"));
  assert_int_equal(out, RK_COL_INT8);
  assert_int_equal(rk_coltype_parse("", &out), RK_EINVAL);
  assert_int_equal(rk_coltype_parse("INT8", &out), RK_EINVAL);
}

static void test_column_init_errors(void **state) {
  (void)state;
  int64_t live0 = rk_alloc_live_bytes();
  rk_column c;
  assert_int_equal(rk_column_init(&c, "x", RK_COL_TYPE_COUNT, RK_COL_INT8), RK_EINVAL);
  assert_int_equal(rk_column_init(&c, "tags", RK_COL_LIST, RK_COL_LIST), RK_EUNSUPPORTED);
  assert_non_null(strstr(rk_error_message(), "'tags'"));
  assert_int_equal(rk_alloc_live_bytes(), live0);
  assert_rk_ok(rk_column_init(&c, NULL, RK_COL_INT32, RK_COL_INT8));   /* unnamed is fine */
  assert_null(c.name);
  assert_int_equal(c.length, 0);
  rk_column_free(&c);
  assert_int_equal(rk_alloc_live_bytes(), live0);
}

/* ---- fixed width -------------------------------------------------------------------------- */
static void test_column_every_int_type_bounds(void **state) {
  (void)state;
  int64_t live0 = rk_alloc_live_bytes();
  struct {
    rk_coltype t;
    int64_t lo;
    uint64_t hi;
  } cases[] = {
      {RK_COL_INT8, INT8_MIN, INT8_MAX},     {RK_COL_INT16, INT16_MIN, INT16_MAX},
      {RK_COL_INT32, INT32_MIN, INT32_MAX},  {RK_COL_INT64, INT64_MIN, INT64_MAX},
      {RK_COL_UINT8, 0, UINT8_MAX},          {RK_COL_UINT16, 0, UINT16_MAX},
      {RK_COL_UINT32, 0, UINT32_MAX},        {RK_COL_UINT64, 0, UINT64_MAX},
  };
  for (int k = 0; k < 8; k++) {
    rk_column c;
    assert_rk_ok(rk_column_init(&c, "v", cases[k].t, RK_COL_INT8));
    assert_rk_ok(rk_column_append_int(&c, cases[k].lo));
    assert_rk_ok(rk_column_append_uint(&c, cases[k].hi));
    assert_rk_ok(rk_column_append_int(&c, 7));
    assert_rk_ok(rk_column_append_double(&c, 5.0));
    assert_int_equal(c.length, 4);
    assert_int_equal(rk_column_get_int(&c, 0), cases[k].lo);
    if (cases[k].t == RK_COL_UINT64) {
      assert_int_equal((uint64_t)rk_column_get_int(&c, 1), UINT64_MAX);
      assert_true(rk_column_get_double(&c, 1) == 18446744073709551615.0);
    } else {
      assert_int_equal(rk_column_get_int(&c, 1), (int64_t)cases[k].hi);
    }
    assert_int_equal(rk_column_get_int(&c, 2), 7);
    assert_int_equal(rk_column_get_int(&c, 3), 5);
    assert_true(rk_column_get_double(&c, 2) == 7.0);
    /* One past either end is RK_ERANGE with a message naming the column and type. */
    if (cases[k].lo > INT64_MIN) {
      assert_int_equal(rk_column_append_int(&c, cases[k].lo - 1), RK_ERANGE);
      assert_non_null(strstr(rk_error_message(), "'v'"));
      assert_non_null(strstr(rk_error_message(), rk_coltype_name(cases[k].t)));
    }
    if (cases[k].hi < UINT64_MAX) assert_int_equal(rk_column_append_uint(&c, cases[k].hi + 1), RK_ERANGE);
    assert_int_equal(rk_column_append_double(&c, 2.5), RK_ERANGE);   /* not an integer */
    assert_int_equal(rk_column_append_double(&c, NAN), RK_ERANGE);
    assert_int_equal(rk_column_append_double(&c, INFINITY), RK_ERANGE);
    assert_int_equal(c.length, 4);   /* failed appends add nothing */
    assert_int_equal(c.null_count, 0);
    assert_null(c.validity);
    rk_column_free(&c);
  }
  assert_int_equal(rk_alloc_live_bytes(), live0);
}

static void test_column_narrowing_message_names_column(void **state) {
  (void)state;
  rk_column c;
  assert_rk_ok(rk_column_init(&c, "age_bucket", RK_COL_INT8, RK_COL_INT8));
  rk_error_clear();
  assert_int_equal(rk_column_append_int(&c, 300), RK_ERANGE);
  assert_int_equal(rk_error_status(), RK_ERANGE);
  assert_string_equal(rk_error_message(), "value 300 does not fit column 'age_bucket' of type int8");
  assert_int_equal(rk_column_append_int(&c, -129), RK_ERANGE);
  assert_int_equal(rk_column_append_double(&c, 1e30), RK_ERANGE);
  assert_non_null(strstr(rk_error_message(), "'age_bucket'"));
  rk_column_free(&c);
  assert_rk_ok(rk_column_init(&c, "u", RK_COL_UINT32, RK_COL_INT8));
  assert_int_equal(rk_column_append_int(&c, -1), RK_ERANGE);
  assert_int_equal(rk_column_append_uint(&c, UINT64_MAX), RK_ERANGE);
  assert_int_equal(c.length, 0);
  rk_column_free(&c);
}

static void test_column_uint64_above_int64(void **state) {
  (void)state;
  rk_column c;
  assert_rk_ok(rk_column_init(&c, "h", RK_COL_UINT64, RK_COL_INT8));
  assert_rk_ok(rk_column_append_uint(&c, (uint64_t)INT64_MAX + 1));
  assert_rk_ok(rk_column_append_double(&c, 0x1p63));            /* fits uint64, not int64 */
  assert_rk_ok(rk_column_append_double(&c, 0x1p64 - 0x1p11));   /* the largest double below 2^64 */
  assert_int_equal(rk_column_append_double(&c, 0x1p64), RK_ERANGE);
  assert_int_equal(rk_column_append_double(&c, -1.0), RK_ERANGE);
  assert_int_equal(c.length, 3);
  const uint64_t *v = c.values;
  assert_true(v[0] == ((uint64_t)1 << 63));
  assert_true(v[1] == ((uint64_t)1 << 63));
  assert_true(v[2] == UINT64_MAX - 2047);
  rk_column_free(&c);
}

static void test_column_floats(void **state) {
  (void)state;
  rk_column f, d;
  assert_rk_ok(rk_column_init(&f, "f", RK_COL_FLOAT32, RK_COL_INT8));
  assert_rk_ok(rk_column_init(&d, "d", RK_COL_FLOAT64, RK_COL_INT8));
  for (int i = 0; i < 1000; i++) {
    assert_rk_ok(rk_column_append_double(&f, i * 0.25));
    assert_rk_ok(rk_column_append_double(&d, i * 0.1));
  }
  assert_rk_ok(rk_column_append_int(&f, -3));
  assert_rk_ok(rk_column_append_uint(&d, UINT64_MAX));
  assert_rk_ok(rk_column_append_double(&d, NAN));
  assert_int_equal(f.length, 1001);
  for (int i = 0; i < 1000; i++) {
    assert_true(rk_column_get_double(&f, i) == (double)(float)(i * 0.25));
    assert_true(rk_column_get_double(&d, i) == i * 0.1);
  }
  assert_true(rk_column_get_double(&f, 1000) == -3.0);
  assert_int_equal(rk_column_get_int(&f, 1000), -3);
  assert_true(rk_column_get_double(&d, 1000) == 0x1p64);
  assert_true(isnan(rk_column_get_double(&d, 1001)));
  /* Read as int64: toward zero, saturating, NaN as 0 (each a plain cast would leave undefined). */
  assert_int_equal(rk_column_get_int(&d, 1000), INT64_MAX);
  assert_int_equal(rk_column_get_int(&d, 1001), 0);
  assert_rk_ok(rk_column_append_double(&d, -1e300));
  assert_rk_ok(rk_column_append_double(&d, -2.75));
  assert_int_equal(rk_column_get_int(&d, 1002), INT64_MIN);
  assert_int_equal(rk_column_get_int(&d, 1003), -2);
  /* Strings and lists are not numbers. */
  assert_int_equal(rk_column_append_string(&f, "x", 1), RK_EINVAL);
  assert_non_null(strstr(rk_error_message(), "'f'"));
  assert_int_equal(rk_column_finish_list_row(&f), RK_EINVAL);
  rk_column_free(&f);
  rk_column_free(&d);
}

/* ---- nulls -------------------------------------------------------------------------------- */
static void test_column_nulls_bitmap(void **state) {
  (void)state;
  int64_t live0 = rk_alloc_live_bytes();
  rk_column c;
  assert_rk_ok(rk_column_init(&c, "n", RK_COL_INT32, RK_COL_INT8));
  for (int i = 0; i < 10; i++) assert_rk_ok(rk_column_append_int(&c, i + 1));
  assert_null(c.validity);
  assert_false(rk_column_is_null(&c, 3));
  assert_rk_ok(rk_column_append_null(&c));   /* row 10 */
  assert_non_null(c.validity);
  assert_rk_ok(rk_column_append_int(&c, 11));
  assert_rk_ok(rk_column_set_null(&c, 2));
  assert_rk_ok(rk_column_set_null(&c, 2));   /* twice counts once */
  assert_int_equal(c.null_count, 2);
  assert_int_equal(c.length, 12);
  /* Arrow: LSB first, 1 = valid. */
  assert_int_equal(c.validity[0], 0xff & ~(1 << 2));
  assert_int_equal(c.validity[1] & 0x0f, 0x0f & ~(1 << 2));
  for (int i = 0; i < 12; i++) assert_int_equal(rk_column_is_null(&c, i), i == 2 || i == 10);
  /* A null slot's value is zero, also when marked after the fact. */
  assert_int_equal(rk_column_get_int(&c, 10), 0);
  assert_int_equal(rk_column_get_int(&c, 2), 0);
  assert_int_equal(rk_column_get_int(&c, 11), 11);
  assert_int_equal(rk_column_set_null(&c, 12), RK_ERANGE);
  assert_int_equal(rk_column_set_null(&c, -1), RK_ERANGE);
  assert_non_null(strstr(rk_error_message(), "'n'"));
  /* Many rows after the bitmap exists: growth keeps new rows valid. */
  for (int i = 0; i < 1000; i++) assert_rk_ok(rk_column_append_int(&c, i));
  for (int i = 12; i < 1012; i++) assert_false(rk_column_is_null(&c, i));
  assert_int_equal(c.null_count, 2);
  rk_column_free(&c);
  assert_int_equal(rk_alloc_live_bytes(), live0);
}

static void test_column_set_null_on_full_column(void **state) {
  (void)state;
  rk_column c;
  assert_rk_ok(rk_column_init(&c, "x", RK_COL_INT64, RK_COL_INT8));
  assert_rk_ok(rk_column_reserve(&c, 16, 0));
  for (int i = 0; i < (int)c.cap_rows; i++) assert_rk_ok(rk_column_append_int(&c, i + 100));
  assert_int_equal(c.length, c.cap_rows);   /* full: the bitmap must still cover every row */
  assert_rk_ok(rk_column_set_null(&c, c.length - 1));
  assert_true(rk_column_is_null(&c, c.length - 1));
  assert_rk_ok(rk_column_append_int(&c, 5));
  assert_false(rk_column_is_null(&c, c.length - 1));
  assert_int_equal(c.null_count, 1);
  rk_column_free(&c);
}

/* ---- strings ------------------------------------------------------------------------------ */
static void test_column_strings(void **state) {
  (void)state;
  int64_t live0 = rk_alloc_live_bytes();
  rk_column c;
  assert_rk_ok(rk_column_init(&c, "title", RK_COL_STRING, RK_COL_INT8));
  assert_rk_ok(rk_column_append_string(&c, "", 0));   /* the first string empty: no bytes yet */
  assert_rk_ok(rk_column_append_string(&c, NULL, 0));
  assert_rk_ok(rk_column_append_string(&c, "hello", 5));
  assert_rk_ok(rk_column_append_string(&c, "a\0b", 3));   /* bytes, not C strings */
  assert_rk_ok(rk_column_append_null(&c));
  char big[5000];
  memset(big, 'z', sizeof big);
  assert_rk_ok(rk_column_append_string(&c, big, sizeof big));
  assert_int_equal(c.length, 6);
  assert_int_equal(c.null_count, 1);
  check_offsets_layout(&c);
  size_t len;
  const char *s = rk_column_get_string(&c, 0, &len);
  assert_int_equal(len, 0);
  (void)s;
  rk_column_get_string(&c, 1, &len);
  assert_int_equal(len, 0);
  s = rk_column_get_string(&c, 2, &len);
  assert_int_equal(len, 5);
  assert_memory_equal(s, "hello", 5);
  s = rk_column_get_string(&c, 3, &len);
  assert_int_equal(len, 3);
  assert_memory_equal(s, "a\0b", 3);
  rk_column_get_string(&c, 4, &len);
  assert_int_equal(len, 0);   /* null: empty */
  assert_true(rk_column_is_null(&c, 4));
  s = rk_column_get_string(&c, 5, &len);
  assert_int_equal(len, sizeof big);
  assert_memory_equal(s, big, sizeof big);
  assert_int_equal(c.offsets[6], 5 + 3 + 5000);
  /* Numbers into a string column are refused, naming it. */
  assert_int_equal(rk_column_append_int(&c, 1), RK_EINVAL);
  assert_non_null(strstr(rk_error_message(), "'title'"));
  assert_int_equal(rk_column_append_double(&c, 1), RK_EINVAL);
  rk_column_get_int(&c, 0);   /* not numeric: 0, no crash */
  assert_int_equal(rk_column_get_int(&c, 2), 0);
  /* get_string of a non-string column is empty. */
  rk_column n;
  assert_rk_ok(rk_column_init(&n, "n", RK_COL_INT8, RK_COL_INT8));
  assert_rk_ok(rk_column_append_int(&n, 1));
  s = rk_column_get_string(&n, 0, &len);
  assert_int_equal(len, 0);
  rk_column_free(&n);
  rk_column_free(&c);
  assert_int_equal(rk_alloc_live_bytes(), live0);
}

static void test_column_set_null_empties_last_string(void **state) {
  (void)state;
  rk_column c;
  assert_rk_ok(rk_column_init(&c, "s", RK_COL_STRING, RK_COL_INT8));
  assert_rk_ok(rk_column_append_string(&c, "abc", 3));
  assert_rk_ok(rk_column_append_string(&c, "bad", 3));
  assert_rk_ok(rk_column_set_null(&c, 1));   /* a reader that found 'bad' invalid */
  size_t len;
  rk_column_get_string(&c, 1, &len);
  assert_int_equal(len, 0);
  assert_rk_ok(rk_column_append_string(&c, "next", 4));
  const char *s = rk_column_get_string(&c, 2, &len);
  assert_int_equal(len, 4);
  assert_memory_equal(s, "next", 4);
  assert_int_equal(c.offsets[3], 7);
  rk_column_free(&c);
}

/* ---- lists -------------------------------------------------------------------------------- */
static void append_int_list(rk_column *c, const int64_t *xs, int n) {
  for (int i = 0; i < n; i++) assert_rk_ok(rk_column_append_int(c->child, xs[i]));
  assert_rk_ok(rk_column_finish_list_row(c));
}

static void test_column_list_of_ints(void **state) {
  (void)state;
  int64_t live0 = rk_alloc_live_bytes();
  rk_column c;
  assert_rk_ok(rk_column_init(&c, "clicks", RK_COL_LIST, RK_COL_INT32));
  assert_non_null(c.child);
  assert_int_equal(c.child->type, RK_COL_INT32);
  const int64_t r0[] = {1, 2, 3}, r2[] = {40};
  append_int_list(&c, r0, 3);
  append_int_list(&c, NULL, 0);   /* empty row */
  append_int_list(&c, r2, 1);
  assert_rk_ok(rk_column_append_null(&c));
  append_int_list(&c, r0, 2);
  assert_int_equal(c.length, 5);
  assert_int_equal(c.null_count, 1);
  check_offsets_layout(&c);
  const int64_t want_off[] = {0, 3, 3, 4, 4, 6};
  for (int i = 0; i <= 5; i++) assert_int_equal(c.offsets[i], want_off[i]);
  assert_int_equal(c.child->length, 6);
  const int64_t want_el[] = {1, 2, 3, 40, 1, 2};
  for (int i = 0; i < 6; i++) assert_int_equal(rk_column_get_int(c.child, i), want_el[i]);
  /* Elements are range-checked by the child's type. */
  assert_int_equal(rk_column_append_int(c.child, INT64_C(1) << 40), RK_ERANGE);
  assert_int_equal(rk_column_append_string(&c, "x", 1), RK_EINVAL);
  assert_int_equal(rk_column_append_int(&c, 1), RK_EINVAL);
  rk_column_free(&c);
  assert_int_equal(rk_alloc_live_bytes(), live0);
}

static void test_column_list_of_strings(void **state) {
  (void)state;
  int64_t live0 = rk_alloc_live_bytes();
  rk_column c;
  assert_rk_ok(rk_column_init(&c, "tags", RK_COL_LIST, RK_COL_STRING));
  const char *words[] = {"red", "", "green", "blue"};
  assert_rk_ok(rk_column_append_string(c.child, words[0], 3));
  assert_rk_ok(rk_column_append_string(c.child, words[1], 0));
  assert_rk_ok(rk_column_finish_list_row(&c));
  assert_rk_ok(rk_column_finish_list_row(&c));
  assert_rk_ok(rk_column_append_string(c.child, words[2], 5));
  assert_rk_ok(rk_column_append_string(c.child, words[3], 4));
  assert_rk_ok(rk_column_finish_list_row(&c));
  assert_int_equal(c.length, 3);
  assert_int_equal(c.offsets[1], 2);
  assert_int_equal(c.offsets[2], 2);
  assert_int_equal(c.offsets[3], 4);
  for (int i = 0; i < 4; i++) {
    size_t len;
    const char *s = rk_column_get_string(c.child, i, &len);
    assert_int_equal(len, strlen(words[i]));
    assert_memory_equal(s, words[i], len);
  }
  rk_column_free(&c);
  assert_int_equal(rk_alloc_live_bytes(), live0);
}

/* ---- append_column and equality ----------------------------------------------------------- */
static void build_mixed(rk_column *c, rk_coltype type, int n) {
  assert_rk_ok(rk_column_init(c, "m", type, RK_COL_STRING));
  for (int i = 0; i < n; i++) {
    if (i % 5 == 3) {
      assert_rk_ok(rk_column_append_null(c));
    } else if (type == RK_COL_STRING) {
      char buf[32];
      int len = snprintf(buf, sizeof buf, "s%d", i * 7);
      assert_rk_ok(rk_column_append_string(c, buf, (size_t)len));
    } else if (type == RK_COL_LIST) {
      for (int k = 0; k < i % 4; k++) {
        char buf[32];
        int len = snprintf(buf, sizeof buf, "e%d.%d", i, k);
        assert_rk_ok(rk_column_append_string(c->child, buf, (size_t)len));
      }
      assert_rk_ok(rk_column_finish_list_row(c));
    } else if (type == RK_COL_FLOAT64) {
      assert_rk_ok(rk_column_append_double(c, i * 0.5));
    } else {
      assert_rk_ok(rk_column_append_int(c, i * 3 - 50));
    }
  }
}

static void test_column_append_column_ranges(void **state) {
  (void)state;
  int64_t live0 = rk_alloc_live_bytes();
  const rk_coltype types[] = {RK_COL_INT16, RK_COL_FLOAT64, RK_COL_STRING, RK_COL_LIST};
  for (int t = 0; t < 4; t++) {
    rk_column src, whole;
    build_mixed(&src, types[t], 40);
    /* Copy in uneven pieces (including empty ones): the result equals the source. */
    assert_rk_ok(rk_column_init(&whole, "w", types[t], RK_COL_STRING));
    const int64_t cuts[] = {0, 0, 3, 4, 4, 17, 33, 40};
    for (int k = 0; k + 1 < 8; k++) assert_rk_ok(rk_column_append_column(&whole, &src, cuts[k], cuts[k + 1]));
    assert_int_equal(whole.length, 40);
    assert_int_equal(whole.null_count, src.null_count);
    assert_int_equal(src.null_count, 8);
    assert_true(rk_column_equal(&whole, &src));
    assert_true(rk_column_equal(&src, &whole));
    /* A middle range equals a column built from those rows directly. */
    rk_column part;
    assert_rk_ok(rk_column_init(&part, "p", types[t], RK_COL_STRING));
    assert_rk_ok(rk_column_append_column(&part, &src, 5, 29));
    assert_int_equal(part.length, 24);
    for (int64_t i = 0; i < 24; i++) {
      assert_int_equal(rk_column_is_null(&part, i), rk_column_is_null(&src, i + 5));
      if (types[t] == RK_COL_STRING) {
        size_t la, lb;
        const char *a = rk_column_get_string(&part, i, &la), *b = rk_column_get_string(&src, i + 5, &lb);
        assert_int_equal(la, lb);
        assert_memory_equal(a, b, la);
      } else if (types[t] == RK_COL_LIST) {
        assert_int_equal(part.offsets[i + 1] - part.offsets[i], src.offsets[i + 6] - src.offsets[i + 5]);
      } else {
        assert_true(rk_column_get_double(&part, i) == rk_column_get_double(&src, i + 5));
      }
    }
    if (types[t] == RK_COL_LIST) check_offsets_layout(&part);
    assert_false(rk_column_equal(&part, &src));
    /* Range errors. */
    assert_int_equal(rk_column_append_column(&part, &src, -1, 3), RK_ERANGE);
    assert_int_equal(rk_column_append_column(&part, &src, 5, 41), RK_ERANGE);
    assert_int_equal(rk_column_append_column(&part, &src, 6, 5), RK_ERANGE);
    assert_non_null(strstr(rk_error_message(), "'m'"));
    assert_int_equal(part.length, 24);
    rk_column_free(&src);
    rk_column_free(&whole);
    rk_column_free(&part);
  }
  assert_int_equal(rk_alloc_live_bytes(), live0);
}

static void test_column_append_column_type_mismatch(void **state) {
  (void)state;
  rk_column a, b, la, lb;
  assert_rk_ok(rk_column_init(&a, "a", RK_COL_INT32, RK_COL_INT8));
  assert_rk_ok(rk_column_init(&b, "b", RK_COL_INT64, RK_COL_INT8));
  assert_rk_ok(rk_column_append_int(&b, 1));
  assert_int_equal(rk_column_append_column(&a, &b, 0, 1), RK_EINVAL);
  assert_non_null(strstr(rk_error_message(), "'a'"));
  assert_non_null(strstr(rk_error_message(), "'b'"));
  assert_rk_ok(rk_column_init(&la, "la", RK_COL_LIST, RK_COL_INT32));
  assert_rk_ok(rk_column_init(&lb, "lb", RK_COL_LIST, RK_COL_INT64));
  assert_rk_ok(rk_column_finish_list_row(&lb));
  assert_int_equal(rk_column_append_column(&la, &lb, 0, 1), RK_EINVAL);
  assert_int_equal(a.length, 0);
  assert_int_equal(la.length, 0);
  rk_column_free(&a);
  rk_column_free(&b);
  rk_column_free(&la);
  rk_column_free(&lb);
}

static void test_column_equal_detects_differences(void **state) {
  (void)state;
  rk_column a, b;
  build_mixed(&a, RK_COL_INT32, 20);
  build_mixed(&b, RK_COL_INT32, 20);
  assert_true(rk_column_equal(&a, &b));
  ((int32_t *)b.values)[7] += 1;   /* one value */
  assert_false(rk_column_equal(&a, &b));
  ((int32_t *)b.values)[7] -= 1;
  ((int32_t *)b.values)[3] = 99;   /* under a null: ignored */
  assert_true(rk_column_equal(&a, &b));
  assert_rk_ok(rk_column_set_null(&b, 0));   /* a null more */
  assert_false(rk_column_equal(&a, &b));
  rk_column_free(&a);
  rk_column_free(&b);

  /* Floats compare bitwise: NaN equals the same NaN, 0.0 differs from -0.0. */
  assert_rk_ok(rk_column_init(&a, "f", RK_COL_FLOAT64, RK_COL_INT8));
  assert_rk_ok(rk_column_init(&b, "f", RK_COL_FLOAT64, RK_COL_INT8));
  assert_rk_ok(rk_column_append_double(&a, NAN));
  assert_rk_ok(rk_column_append_double(&b, NAN));
  assert_true(rk_column_equal(&a, &b));
  assert_rk_ok(rk_column_append_double(&a, 0.0));
  assert_rk_ok(rk_column_append_double(&b, -0.0));
  assert_false(rk_column_equal(&a, &b));
  rk_column_free(&a);
  rk_column_free(&b);

  /* Same type name, different width: int32 vs int64 of the same values. */
  assert_rk_ok(rk_column_init(&a, "x", RK_COL_INT32, RK_COL_INT8));
  assert_rk_ok(rk_column_init(&b, "x", RK_COL_INT64, RK_COL_INT8));
  assert_rk_ok(rk_column_append_int(&a, 1));
  assert_rk_ok(rk_column_append_int(&b, 1));
  assert_false(rk_column_equal(&a, &b));
  rk_column_free(&a);
  rk_column_free(&b);

  /* Strings: a different byte, a different split of the same bytes. */
  assert_rk_ok(rk_column_init(&a, "s", RK_COL_STRING, RK_COL_INT8));
  assert_rk_ok(rk_column_init(&b, "s", RK_COL_STRING, RK_COL_INT8));
  assert_rk_ok(rk_column_append_string(&a, "ab", 2));
  assert_rk_ok(rk_column_append_string(&a, "c", 1));
  assert_rk_ok(rk_column_append_string(&b, "a", 1));
  assert_rk_ok(rk_column_append_string(&b, "bc", 2));
  assert_false(rk_column_equal(&a, &b));
  rk_column_free(&a);
  rk_column_free(&b);
}

static void test_column_equal_lists(void **state) {
  (void)state;
  rk_column a, b;
  const int64_t x[] = {1, 2, 3}, y[] = {1, 2, 4};
  /* Different element values. */
  assert_rk_ok(rk_column_init(&a, "l", RK_COL_LIST, RK_COL_INT64));
  assert_rk_ok(rk_column_init(&b, "l", RK_COL_LIST, RK_COL_INT64));
  append_int_list(&a, x, 3);
  append_int_list(&b, y, 3);
  assert_false(rk_column_equal(&a, &b));
  rk_column_free(&b);
  /* Same values, elements of another type (and width): not equal, and no read out of bounds. */
  assert_rk_ok(rk_column_init(&b, "l", RK_COL_LIST, RK_COL_INT8));
  append_int_list(&b, x, 3);
  assert_false(rk_column_equal(&a, &b));
  assert_false(rk_column_equal(&b, &a));
  rk_column_free(&b);
  /* Same elements, split into rows differently. */
  assert_rk_ok(rk_column_init(&b, "l", RK_COL_LIST, RK_COL_INT64));
  append_int_list(&b, x, 1);
  append_int_list(&b, x + 1, 2);
  append_int_list(&a, NULL, 0);
  assert_false(rk_column_equal(&a, &b));
  rk_column_free(&a);
  rk_column_free(&b);
  /* A row marked null after its elements were pushed equals a row appended as null. */
  assert_rk_ok(rk_column_init(&a, "l", RK_COL_LIST, RK_COL_INT64));
  assert_rk_ok(rk_column_init(&b, "l", RK_COL_LIST, RK_COL_INT64));
  append_int_list(&a, x, 3);
  append_int_list(&a, y, 3);
  assert_rk_ok(rk_column_set_null(&a, 0));
  append_int_list(&b, NULL, 0);
  assert_rk_ok(rk_column_set_null(&b, 0));
  append_int_list(&b, y, 3);
  assert_true(rk_column_equal(&a, &b));
  assert_true(rk_column_equal(&b, &a));
  rk_column_free(&a);
  rk_column_free(&b);
}

/* ---- clear and reuse ---------------------------------------------------------------------- */
static void test_column_clear_and_reuse(void **state) {
  (void)state;
  int64_t live0 = rk_alloc_live_bytes();
  rk_column c, ref;
  build_mixed(&c, RK_COL_LIST, 30);
  build_mixed(&ref, RK_COL_LIST, 30);
  int64_t live_full = rk_alloc_live_bytes();
  rk_column_clear(&c);
  assert_int_equal(c.length, 0);
  assert_int_equal(c.null_count, 0);
  assert_int_equal(c.child->length, 0);
  assert_int_equal(c.offsets[0], 0);
  assert_int_equal(rk_alloc_live_bytes(), live_full);   /* buffers kept */
  /* Refilled, it equals a fresh column with the same rows; the old nulls are gone. */
  rk_column_free(&ref);
  for (int round = 0; round < 2; round++) {
    rk_column fresh;
    assert_rk_ok(rk_column_init(&fresh, "m", RK_COL_LIST, RK_COL_STRING));
    for (int i = 0; i < 12; i++) {
      assert_rk_ok(rk_column_append_string(c.child, "q", 1));
      assert_rk_ok(rk_column_finish_list_row(&c));
      assert_rk_ok(rk_column_append_string(fresh.child, "q", 1));
      assert_rk_ok(rk_column_finish_list_row(&fresh));
    }
    for (int i = 0; i < 12; i++) assert_false(rk_column_is_null(&c, i));
    assert_true(rk_column_equal(&c, &fresh));
    rk_column_free(&fresh);
    rk_column_clear(&c);
  }
  rk_column_free(&c);
  assert_int_equal(rk_alloc_live_bytes(), live0);
}

/* ---- batches ------------------------------------------------------------------------------ */
static void test_batch_init_find_clear(void **state) {
  (void)state;
  int64_t live0 = rk_alloc_live_bytes();
  rk_batch b;
  assert_int_equal(rk_batch_init(&b, -1), RK_EINVAL);
  assert_rk_ok(rk_batch_init(&b, 0));
  assert_int_equal(rk_batch_find(&b, "x"), -1);
  rk_batch_free(&b);
  assert_rk_ok(rk_batch_init(&b, 3));
  assert_int_equal(b.ncols, 3);
  assert_int_equal(b.nrows, 0);
  assert_rk_ok(rk_column_init(&b.cols[0], "user_id", RK_COL_INT64, RK_COL_INT8));
  assert_rk_ok(rk_column_init(&b.cols[1], "item_id", RK_COL_INT64, RK_COL_INT8));
  /* cols[2] left unnamed and zeroed: find skips it, free accepts it. */
  assert_int_equal(rk_batch_find(&b, "item_id"), 1);
  assert_int_equal(rk_batch_find(&b, "user_id"), 0);
  assert_int_equal(rk_batch_find(&b, "label"), -1);
  for (int i = 0; i < 5; i++) {
    assert_rk_ok(rk_column_append_int(&b.cols[0], i));
    assert_rk_ok(rk_column_append_int(&b.cols[1], i * 10));
  }
  b.nrows = 5;
  rk_batch_clear(&b);
  assert_int_equal(b.nrows, 0);
  assert_int_equal(b.cols[0].length, 0);
  assert_int_equal(b.ncols, 3);
  rk_batch_free(&b);
  assert_int_equal(b.ncols, 0);
  assert_null(b.cols);
  assert_int_equal(rk_alloc_live_bytes(), live0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_coltype_names_parse_width),
      cmocka_unit_test(test_column_init_errors),
      cmocka_unit_test(test_column_every_int_type_bounds),
      cmocka_unit_test(test_column_narrowing_message_names_column),
      cmocka_unit_test(test_column_uint64_above_int64),
      cmocka_unit_test(test_column_floats),
      cmocka_unit_test(test_column_nulls_bitmap),
      cmocka_unit_test(test_column_set_null_on_full_column),
      cmocka_unit_test(test_column_strings),
      cmocka_unit_test(test_column_set_null_empties_last_string),
      cmocka_unit_test(test_column_list_of_ints),
      cmocka_unit_test(test_column_list_of_strings),
      cmocka_unit_test(test_column_append_column_ranges),
      cmocka_unit_test(test_column_append_column_type_mismatch),
      cmocka_unit_test(test_column_equal_detects_differences),
      cmocka_unit_test(test_column_equal_lists),
      cmocka_unit_test(test_column_clear_and_reuse),
      cmocka_unit_test(test_batch_init_find_clear),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
