/*
 * Column profiles: exact nulls/min/max/mean, distinct estimates within HyperLogLog's error,
 * top values exact for low-cardinality columns, string ranges, list lengths, failure paths.
 */
#include "support.h"

#include <math.h>
#include <string.h>

#include "reckon/io.h"

static void make_batch(rk_batch *b, int64_t n, int64_t distinct) {
  assert_rk_ok(rk_batch_init(b, 4));
  assert_rk_ok(rk_column_init(&b->cols[0], "id", RK_COL_INT64, RK_COL_INT64));
  assert_rk_ok(rk_column_init(&b->cols[1], "score", RK_COL_FLOAT32, RK_COL_INT64));
  assert_rk_ok(rk_column_init(&b->cols[2], "name", RK_COL_STRING, RK_COL_INT64));
  assert_rk_ok(rk_column_init(&b->cols[3], "tags", RK_COL_LIST, RK_COL_INT32));
  for (int64_t i = 0; i < n; i++) {
    assert_rk_ok(rk_column_append_int(&b->cols[0], (i * 7919) % distinct));
    if (i % 10 == 0) assert_rk_ok(rk_column_append_null(&b->cols[1]));
    else assert_rk_ok(rk_column_append_double(&b->cols[1], (double)(i % 4)));
    const char *names[] = {"pear", "apple", "fig", "apple"};
    assert_rk_ok(rk_column_append_string(&b->cols[2], names[i % 4], strlen(names[i % 4])));
    for (int k = 0; k < (int)(i % 3); k++) assert_rk_ok(rk_column_append_int(b->cols[3].child, k));
    assert_rk_ok(rk_column_finish_list_row(&b->cols[3]));
  }
  b->nrows = n;
}

static void test_exact_small_values(void **state) {
  (void)state;
  rk_batch b;
  make_batch(&b, 1000, 50);
  rk_profiler *p;
  assert_rk_ok(rk_profiler_create(&p));
  assert_rk_ok(rk_profiler_add(p, &b));
  assert_int_equal(rk_profiler_num_columns(p), 4);

  const rk_column_profile *id = rk_profiler_column(p, 0);
  assert_string_equal(id->name, "id");
  assert_int_equal(id->rows, 1000);
  assert_int_equal(id->nulls, 0);
  assert_true(id->min == 0 && id->max == 49);
  assert_true(fabs(id->distinct - 50) <= 1);
  assert_true(id->top_exact);
  assert_int_equal(id->top_count[0], 20);   /* every id appears exactly 20 times */
  assert_string_equal(id->top_value[0], "0");   /* ties break by text */

  const rk_column_profile *score = rk_profiler_column(p, 1);
  assert_int_equal(score->nulls, 100);
  assert_int_equal(score->values, 900);
  assert_true(score->min == 0 && score->max == 3);
  /* rows i % 10 != 0 hold i % 4: the mean of those values, computed directly */
  double sum = 0;
  for (int i = 0; i < 1000; i++)
    if (i % 10) sum += i % 4;
  assert_true(fabs(score->mean - sum / 900) < 1e-12);

  const rk_column_profile *name = rk_profiler_column(p, 2);
  assert_string_equal(name->min_s, "apple");
  assert_string_equal(name->max_s, "pear");
  assert_int_equal(name->ntop, 3);
  assert_string_equal(name->top_value[0], "apple");
  assert_int_equal(name->top_count[0], 500);
  assert_true(fabs(name->distinct - 3) < 0.5);

  const rk_column_profile *tags = rk_profiler_column(p, 3);
  assert_int_equal(tags->list_min_len, 0);
  assert_int_equal(tags->list_max_len, 2);
  assert_true(fabs(tags->list_mean_len - 999.0 / 1000.0) < 1e-9);   /* (0+1+2) per 3 rows, 1000 rows */
  assert_true(tags->min == 0 && tags->max == 1);
  rk_profiler_free(p);
  rk_batch_free(&b);
}

static void test_distinct_estimate_accuracy(void **state) {
  (void)state;
  int64_t n = rk_test_sanitized() ? 50000 : 200000;
  rk_batch b;
  make_batch(&b, n, n);   /* 7919 is prime and coprime with n here: all distinct */
  rk_profiler *p;
  assert_rk_ok(rk_profiler_create(&p));
  assert_rk_ok(rk_profiler_add(p, &b));
  const rk_column_profile *id = rk_profiler_column(p, 0);
  double err = fabs(id->distinct - (double)n) / (double)n;
  print_message("distinct estimate %.0f for %lld: error %.3f%%\n", id->distinct, (long long)n, 100 * err);
  assert_true(err < 0.03);   /* 1.04/sqrt(16384) = 0.8% standard error */
  assert_false(id->top_exact);
  assert_int_equal(id->ntop, 0);   /* every value once: no favourite is shown */
  rk_profiler_free(p);
  rk_batch_free(&b);
}

static void test_batches_add_up_and_repeat(void **state) {
  (void)state;
  rk_batch b;
  make_batch(&b, 500, 50);
  rk_profiler *one, *two;
  assert_rk_ok(rk_profiler_create(&one));
  assert_rk_ok(rk_profiler_create(&two));
  assert_rk_ok(rk_profiler_add(one, &b));
  assert_rk_ok(rk_profiler_add(one, &b));
  assert_rk_ok(rk_profiler_add(two, &b));
  assert_rk_ok(rk_profiler_add(two, &b));
  for (int c = 0; c < 4; c++) {
    const rk_column_profile *x = rk_profiler_column(one, c), *y = rk_profiler_column(two, c);
    assert_int_equal(x->rows, 1000);
    assert_true(x->distinct == y->distinct && x->mean == y->mean && x->ntop == y->ntop);
  }
  /* a batch whose column changed type is refused */
  rk_batch other;
  assert_rk_ok(rk_batch_init(&other, 4));
  for (int c = 0; c < 4; c++) assert_rk_ok(rk_column_init(&other.cols[c], "x", RK_COL_INT8, RK_COL_INT8));
  assert_int_equal(rk_profiler_add(one, &other), RK_EINVAL);
  assert_non_null(strstr(rk_error_message(), "changed type"));
  rk_batch_free(&other);
  rk_profiler_free(one);
  rk_profiler_free(two);
  rk_batch_free(&b);
}

static void test_out_of_memory_is_clean(void **state) {
  (void)state;
  rk_batch b;
  make_batch(&b, 100, 10);
  int64_t before = rk_alloc_live_bytes();
  for (int64_t n = 0;; n++) {
    rk_profiler *p = NULL;
    rk_alloc_fail_after(n);
    rk_status s = rk_profiler_create(&p);
    if (s == RK_OK) s = rk_profiler_add(p, &b);
    if (s == RK_OK) (void)rk_profiler_column(p, 2);
    bool fired = rk_alloc_fail_fired();
    rk_alloc_fail_after(-1);
    rk_profiler_free(p);
    assert_int_equal(rk_alloc_live_bytes(), before);
    if (!fired) break;
    if (s != RK_OK) assert_int_equal(s, RK_ENOMEM);
  }
  rk_batch_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_exact_small_values),
      cmocka_unit_test(test_distinct_estimate_accuracy),
      cmocka_unit_test(test_batches_add_up_and_repeat),
      cmocka_unit_test(test_out_of_memory_is_clean),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
