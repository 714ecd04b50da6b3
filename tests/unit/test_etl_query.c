/*
 * Filter queries: every operator and its precedence, chained comparisons, in / not in, strings,
 * backquoted names, exact int64/double comparisons, pandas' NaN rules, error messages, the seed
 * query on random rows against a plain C loop, thread independence and allocation failures.
 */
#include <math.h>
#include <string.h>

#include "reckon/etl.h"
#include "support.h"

/* Columns: a int64 (null at row 3), x float64 (NaN at row 2), s string, b int8. Six rows. */
static void small_batch(rk_batch *b) {
  assert_rk_ok(rk_batch_init(b, 4));
  assert_rk_ok(rk_column_init(&b->cols[0], "a", RK_COL_INT64, RK_COL_INT64));
  assert_rk_ok(rk_column_init(&b->cols[1], "x", RK_COL_FLOAT64, RK_COL_INT64));
  assert_rk_ok(rk_column_init(&b->cols[2], "s", RK_COL_STRING, RK_COL_INT64));
  assert_rk_ok(rk_column_init(&b->cols[3], "my col", RK_COL_INT8, RK_COL_INT64));
  const int64_t a[] = {1, 2, 3, 0, -5, 9007199254740993};
  const double x[] = {0.5, 2.0, NAN, -1.5, 3.0, 1e300};
  const char *s[] = {"bob", "alice", "", "bob", "zed", "al"};
  const int64_t m[] = {0, 1, 0, 1, 0, 1};
  for (int r = 0; r < 6; r++) {
    assert_rk_ok(r == 3 ? rk_column_append_null(&b->cols[0]) : rk_column_append_int(&b->cols[0], a[r]));
    assert_rk_ok(rk_column_append_double(&b->cols[1], x[r]));
    assert_rk_ok(rk_column_append_string(&b->cols[2], s[r], strlen(s[r])));
    assert_rk_ok(rk_column_append_int(&b->cols[3], m[r]));
  }
  b->nrows = 6;
}

/* The rows a query keeps, as a string of 0/1. */
static const char *run(const rk_batch *b, const char *text) {
  static char out[64];
  rk_query *q;
  rk_status st = rk_query_parse(&q, text);
  if (st != RK_OK) fail_msg("parse '%s': %s", text, rk_error_message());
  uint8_t keep[64];
  st = rk_query_eval(q, b, keep);
  if (st != RK_OK) fail_msg("eval '%s': %s", text, rk_error_message());
  for (int64_t r = 0; r < b->nrows; r++) out[r] = (char)('0' + keep[r]);
  out[b->nrows] = '\0';
  rk_query_free(q);
  return out;
}

static void test_operators(void **state) {
  (void)state;
  rk_batch b = {0};
  small_batch(&b);
  assert_string_equal(run(&b, "a == 2"), "010000");
  assert_string_equal(run(&b, "a != 2"), "101111");            /* null != 2 is true */
  assert_string_equal(run(&b, "a < 3"), "110010");             /* null < 3 is false */
  assert_string_equal(run(&b, "a >= 3"), "001001");
  assert_string_equal(run(&b, "x > 1 and a > 1"), "010001");
  assert_string_equal(run(&b, "x > 1 & a > 1"), "010001");
  assert_string_equal(run(&b, "x > 1 or a == 1"), "110011");
  assert_string_equal(run(&b, "not x > 1"), "101100");         /* NaN > 1 is false, so not is true */
  assert_string_equal(run(&b, "~(x > 1)"), "101100");
  assert_string_equal(run(&b, "a == 1 or a == 2 and x > 10"), "100000");   /* and binds tighter */
  assert_string_equal(run(&b, "(a == 1 or a == 2) and x > 1"), "010000");
  assert_string_equal(run(&b, "1 < a <= 3"), "011000");        /* chained */
  assert_string_equal(run(&b, "a + 1 == 3"), "010000");
  assert_string_equal(run(&b, "a * 2 - 1 == 5"), "001000");
  assert_string_equal(run(&b, "a / 2 == 1.5"), "001000");       /* true division */
  assert_string_equal(run(&b, "a % 3 == 1"), "100010");         /* Python: -5 % 3 == 1 */
  assert_string_equal(run(&b, "-a == -2"), "010000");
  assert_string_equal(run(&b, "a in [1, 3]"), "101000");
  assert_string_equal(run(&b, "a not in (1, 3)"), "010111");    /* null not in: true */
  assert_string_equal(run(&b, "s == 'bob'"), "100100");
  assert_string_equal(run(&b, "s == \"bob\""), "100100");
  assert_string_equal(run(&b, "s < 'b'"), "011001");
  assert_string_equal(run(&b, "s in ['zed', 'al']"), "000011");
  assert_string_equal(run(&b, "`my col` == True"), "010101");
  assert_string_equal(run(&b, "`my col`"), "010101");          /* a number as a condition */
  assert_string_equal(run(&b, "x"), "110111");            /* NaN is false */
  rk_batch_free(&b);
}

static void test_exact_numbers(void **state) {
  (void)state;
  rk_batch b = {0};
  small_batch(&b);
  /* 9007199254740993 is not a double: compared exactly it differs from 2^53. */
  assert_string_equal(run(&b, "a == 9007199254740992.0"), "000000");
  assert_string_equal(run(&b, "a > 9007199254740992.0"), "000001");
  assert_string_equal(run(&b, "a == 9007199254740993"), "000001");
  assert_string_equal(run(&b, "a < 1e300"), "111011");
  assert_string_equal(run(&b, "a == 2.5 or a == 2.0"), "010000");
  assert_string_equal(run(&b, "a / 0 == 1 or a % 0 == 1"), "000000");   /* division by zero: null */
  /* 1e300 squared is inf, and inf - inf is NaN: missing, as a NaN read from a column, so it
   * equals nothing (an int neither) and differs from everything, as in pandas. */
  assert_string_equal(run(&b, "x * x - x * x == 0"), "110110");
  assert_string_equal(run(&b, "x * x - x * x != 0"), "001001");
  assert_string_equal(run(&b, "a == x * x - x * x"), "000000");
  assert_string_equal(run(&b, "a >= x * x - x * x"), "110000");
  rk_batch_free(&b);
}

static void expect_error(const rk_batch *b, const char *text, rk_status want, const char *needle) {
  rk_query *q = NULL;
  rk_status st = rk_query_parse(&q, text);
  if (st == RK_OK) {
    uint8_t keep[64];
    st = rk_query_eval(q, b, keep);
    rk_query_free(q);
  }
  assert_int_equal(st, want);
  if (!strstr(rk_error_message(), needle)) fail_msg("'%s': message '%s' lacks '%s'", text, rk_error_message(), needle);
}

static void test_errors(void **state) {
  (void)state;
  rk_batch b = {0};
  small_batch(&b);
  expect_error(&b, "a ==", RK_EPARSE, "expected a value at offset 4");
  expect_error(&b, "a = 1", RK_EPARSE, "use == to compare");
  expect_error(&b, "(a == 1", RK_EPARSE, "expected ')'");
  expect_error(&b, "a == 1)", RK_EPARSE, "unbalanced ')'");
  expect_error(&b, "", RK_EPARSE, "empty");
  expect_error(&b, "s == 'bob", RK_EPARSE, "unterminated string");
  expect_error(&b, "a == 1 b", RK_EPARSE, "expected the end");
  expect_error(&b, "a in 3", RK_EPARSE, "expected a list");
  expect_error(&b, "a not 3", RK_EPARSE, "expected 'in'");
  expect_error(&b, "a $ 3", RK_EPARSE, "unexpected character");
  expect_error(&b, "aa == 1", RK_ENOTFOUND, "did you mean 'a'");
  expect_error(&b, "s == 1", RK_EINVAL, "column 's' (string) with a number");
  expect_error(&b, "s + 1 > 0", RK_EINVAL, "not a number");
  expect_error(&b, "s and a == 1", RK_EINVAL, "as a condition");
  rk_batch_free(&b);
}

static void test_columns(void **state) {
  (void)state;
  rk_query *q;
  assert_rk_ok(rk_query_parse(&q, "click==1 or (click==0 and `my col`==0) or a in [1]"));
  assert_int_equal(rk_query_num_columns(q), 3);
  assert_string_equal(rk_query_column(q, 0), "click");
  assert_string_equal(rk_query_column(q, 1), "my col");
  assert_string_equal(rk_query_column(q, 2), "a");
  rk_query_free(q);
}

/* The quick-start's query on 50k random rows, against a plain loop, on 1 and 2 threads. */
static void test_seed_query(void **state) {
  (void)state;
  const char *names[] = {"click", "follow", "like", "share"};
  int64_t n = 50000;
  rk_batch b = {0};
  assert_rk_ok(rk_batch_init(&b, 4));
  rk_rng rng;
  rk_rng_init(&rng, 7, 0);
  for (int c = 0; c < 4; c++) {
    assert_rk_ok(rk_column_init(&b.cols[c], names[c], RK_COL_INT8, RK_COL_INT64));
    for (int64_t r = 0; r < n; r++)
      assert_rk_ok(rk_rng_below(&rng, 50) == 0 ? rk_column_append_null(&b.cols[c])
                                               : rk_column_append_int(&b.cols[c], (int64_t)rk_rng_below(&rng, 2)));
  }
  b.nrows = n;
  rk_query *q;
  assert_rk_ok(rk_query_parse(&q, "click==1 or (click==0 and follow==0 and like==0 and share==0)"));
  uint8_t *k1 = rk_malloc((size_t)n), *k2 = rk_malloc((size_t)n);
  rk_set_num_threads(1);
  assert_rk_ok(rk_query_eval(q, &b, k1));
  rk_set_num_threads(2);
  assert_rk_ok(rk_query_eval(q, &b, k2));
  rk_set_num_threads(0);
  assert_memory_equal(k1, k2, (size_t)n);
  int64_t kept = 0;
  for (int64_t r = 0; r < n; r++) {
    bool eq[4][2];
    for (int c = 0; c < 4; c++) {
      bool null = rk_column_is_null(&b.cols[c], r);
      int64_t v = rk_column_get_int(&b.cols[c], r);
      eq[c][0] = !null && v == 0;
      eq[c][1] = !null && v == 1;
    }
    bool want = eq[0][1] || (eq[0][0] && eq[1][0] && eq[2][0] && eq[3][0]);
    assert_int_equal(k1[r], want);
    kept += want;
  }
  assert_true(kept > n / 4 && kept < n);
  rk_free(k1);
  rk_free(k2);
  rk_query_free(q);
  rk_batch_free(&b);
}

typedef struct {
  rk_batch b;
} walk_ctx;

static rk_status parse_and_eval(void *arg) {
  walk_ctx *w = arg;
  rk_query *q = NULL;
  RK_TRY(rk_query_parse(&q, "(a + 1) * 2 > 3 and s in ['bob', 'al'] or not 1 < x < 5 or `my col` not in [2]"));
  uint8_t keep[8];
  rk_status st = rk_query_eval(q, &w->b, keep);
  rk_query_free(q);
  return st;
}

static void test_allocation_failures(void **state) {
  (void)state;
  walk_ctx w = {{0}};
  small_batch(&w.b);
  rk_set_num_threads(1);
  assert_true(rk_test_walk_failures(parse_and_eval, &w) > 10);
  rk_set_num_threads(0);
  rk_batch_free(&w.b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_operators), cmocka_unit_test(test_exact_numbers), cmocka_unit_test(test_errors),
      cmocka_unit_test(test_columns),   cmocka_unit_test(test_seed_query),    cmocka_unit_test(test_allocation_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
