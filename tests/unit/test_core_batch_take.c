/*
 * rk_batch_take (src/core/column.c): rows by index into a batch whose buffers are reused. Checked
 * against the row-by-row reference (rk_column_append_column of one row at a time) for every
 * fixed width, strings, lists of ints and of strings, with nulls; reuse means no allocation once
 * the buffers are large enough; a change of columns rebuilds; a row outside is an error.
 */
#include "support.h"

#include <string.h>

#define N 40

/* Columns of every kind; every 7th row null in the nullable ones. */
static void make_source(rk_batch *b) {
  static const rk_coltype fixed[] = {RK_COL_INT8, RK_COL_UINT16, RK_COL_INT32, RK_COL_FLOAT32, RK_COL_INT64, RK_COL_FLOAT64};
  int nfixed = (int)(sizeof fixed / sizeof *fixed);
  assert_rk_ok(rk_batch_init(b, nfixed + 3));
  for (int c = 0; c < nfixed; c++) {
    char name[8];
    snprintf(name, sizeof name, "f%d", c);
    assert_rk_ok(rk_column_init(&b->cols[c], name, fixed[c], RK_COL_INT64));
    for (int64_t r = 0; r < N; r++) {
      if (c % 2 == 0 && r % 7 == 3) assert_rk_ok(rk_column_append_null(&b->cols[c]));
      else assert_rk_ok(rk_column_append_int(&b->cols[c], (r * 37 + c) % 100));
    }
  }
  rk_column *s = &b->cols[nfixed], *li = &b->cols[nfixed + 1], *ls = &b->cols[nfixed + 2];
  assert_rk_ok(rk_column_init(s, "s", RK_COL_STRING, RK_COL_INT64));
  assert_rk_ok(rk_column_init(li, "li", RK_COL_LIST, RK_COL_INT32));
  assert_rk_ok(rk_column_init(ls, "ls", RK_COL_LIST, RK_COL_STRING));
  for (int64_t r = 0; r < N; r++) {
    char text[32];
    int len = snprintf(text, sizeof text, "%.*s", (int)(r % 5), "abcdefg");   /* some empty */
    if (r % 7 == 5) assert_rk_ok(rk_column_append_null(s));
    else assert_rk_ok(rk_column_append_string(s, text, (size_t)len));
    for (int64_t k = 0; k < r % 4; k++) assert_rk_ok(rk_column_append_int(li->child, r * 10 + k));
    if (r % 9 == 1) assert_rk_ok(rk_column_append_null(li));
    else assert_rk_ok(rk_column_finish_list_row(li));
    for (int64_t k = 0; k < r % 3; k++) assert_rk_ok(rk_column_append_string(ls->child, text, (size_t)len));
    assert_rk_ok(rk_column_finish_list_row(ls));
  }
  b->nrows = N;
}

/* The reference: one append per row per column. */
static void take_reference(rk_batch *dst, const rk_batch *src, const int64_t *idx, int64_t n) {
  assert_rk_ok(rk_batch_init(dst, src->ncols));
  for (int c = 0; c < src->ncols; c++) {
    const rk_column *s = &src->cols[c];
    assert_rk_ok(rk_column_init(&dst->cols[c], s->name, s->type, s->child ? s->child->type : RK_COL_INT64));
    for (int64_t i = 0; i < n; i++) assert_rk_ok(rk_column_append_column(&dst->cols[c], s, idx[i], idx[i] + 1));
  }
  dst->nrows = n;
}

static void assert_batches_equal(const rk_batch *a, const rk_batch *b) {
  assert_int_equal(a->ncols, b->ncols);
  assert_int_equal(a->nrows, b->nrows);
  for (int c = 0; c < a->ncols; c++) {
    assert_string_equal(a->cols[c].name, b->cols[c].name);
    assert_true(rk_column_equal(&a->cols[c], &b->cols[c]));
  }
}

static void test_take_matches_row_by_row(void **state) {
  (void)state;
  rk_batch src = {0}, dst = {0};
  make_source(&src);
  int64_t idx[N];
  for (int64_t i = 0; i < N; i++) idx[i] = (i * 17 + 5) % N;   /* a permutation */
  for (int64_t n = 0; n <= N; n += 13) {                       /* 0, 13, 26, 39 rows into one dst */
    rk_batch want = {0};
    take_reference(&want, &src, idx, n);
    assert_rk_ok(rk_batch_take(&dst, &src, idx, n));
    assert_batches_equal(&dst, &want);
    rk_batch_free(&want);
  }
  int64_t repeat[3] = {2, 2, 2};   /* rows may repeat */
  rk_batch want = {0};
  take_reference(&want, &src, repeat, 3);
  assert_rk_ok(rk_batch_take(&dst, &src, repeat, 3));
  assert_batches_equal(&dst, &want);
  rk_batch_free(&want);
  rk_batch_free(&dst);
  rk_batch_free(&src);
}

static void test_take_reuses_buffers(void **state) {
  (void)state;
  rk_batch src = {0}, dst = {0};
  make_source(&src);
  int64_t idx[N];
  for (int64_t i = 0; i < N; i++) idx[i] = N - 1 - i;
  assert_rk_ok(rk_batch_take(&dst, &src, idx, N));   /* grows to N rows */
  int64_t calls = rk_alloc_count(), live = rk_alloc_live_bytes();
  for (int k = 0; k < 5; k++) assert_rk_ok(rk_batch_take(&dst, &src, idx + k, N - 5));
  assert_int_equal(rk_alloc_count(), calls);   /* no allocation: the buffers were large enough */
  assert_int_equal(rk_alloc_live_bytes(), live);
  assert_int_equal(dst.nrows, N - 5);
  assert_int_equal(rk_column_get_int(&dst.cols[1], 0), rk_column_get_int(&src.cols[1], N - 5));
  rk_batch_free(&dst);
  rk_batch_free(&src);
}

static void test_take_rebuilds_for_other_columns(void **state) {
  (void)state;
  rk_batch src = {0}, dst = {0}, other = {0};
  make_source(&src);
  assert_rk_ok(rk_batch_init(&other, 1));   /* dst starts with another batch's column */
  assert_rk_ok(rk_column_init(&other.cols[0], "f0", RK_COL_STRING, RK_COL_INT64));
  assert_rk_ok(rk_column_append_string(&other.cols[0], "x", 1));
  other.nrows = 1;
  int64_t zero = 0;
  assert_rk_ok(rk_batch_take(&dst, &other, &zero, 1));
  int64_t idx[2] = {4, 1};
  rk_batch want = {0};
  take_reference(&want, &src, idx, 2);
  assert_rk_ok(rk_batch_take(&dst, &src, idx, 2));   /* same first name, another type: rebuilt */
  assert_batches_equal(&dst, &want);
  rk_batch_free(&want);
  rk_batch_free(&other);
  rk_batch_free(&dst);
  rk_batch_free(&src);
}

static void test_take_row_outside(void **state) {
  (void)state;
  rk_batch src = {0}, dst = {0};
  make_source(&src);
  int64_t idx[2] = {1, N};
  assert_int_equal(rk_batch_take(&dst, &src, idx, 2), RK_ERANGE);
  assert_non_null(strstr(rk_error_message(), "row 40 of a batch of 40 rows"));
  assert_int_equal(dst.nrows, 0);
  idx[1] = -1;
  assert_int_equal(rk_batch_take(&dst, &src, idx, 2), RK_ERANGE);
  rk_batch_free(&dst);
  rk_batch_free(&src);
}

static void test_take_out_of_memory(void **state) {
  (void)state;
  rk_batch src = {0};
  make_source(&src);
  int64_t idx[N];
  for (int64_t i = 0; i < N; i++) idx[i] = i;
  int64_t live = rk_alloc_live_bytes();
  for (int64_t k = 0;; k++) {   /* every allocation in turn fails: an error, dst empty, no leak */
    rk_batch dst = {0};
    rk_alloc_fail_after(k);
    rk_status st = rk_batch_take(&dst, &src, idx, N);
    bool fired = rk_alloc_fail_fired();
    rk_alloc_fail_after(-1);
    if (!fired) {
      assert_rk_ok(st);
      rk_batch_free(&dst);
      break;
    }
    assert_int_equal(st, RK_ENOMEM);
    assert_int_equal(dst.nrows, 0);
    rk_batch_free(&dst);
    assert_int_equal(rk_alloc_live_bytes(), live);
  }
  rk_batch_free(&src);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_take_matches_row_by_row),
      cmocka_unit_test(test_take_reuses_buffers),
      cmocka_unit_test(test_take_rebuilds_for_other_columns),
      cmocka_unit_test(test_take_row_outside),
      cmocka_unit_test(test_take_out_of_memory),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
