/*
 * Name index (src/core/name_index.c): every name put is found with its value through many
 * growths, a second put of a name keeps the first value and reports it, absent names and the
 * empty index answer -1, and every allocation failure leaves the index usable and leaks nothing.
 */
#include <stdio.h>
#include <string.h>

#include "support.h"

enum { N = 20000 };
static char names[N][16];

static void test_put_get(void **state) {
  (void)state;
  rk_name_index ix;
  rk_name_index_init(&ix);
  assert_int_equal(rk_name_index_get(&ix, "a"), -1);
  for (int i = 0; i < N; i++) {
    int existing;
    assert_rk_ok(rk_name_index_put(&ix, names[i], i, &existing));
    assert_int_equal(existing, -1);
  }
  assert_int_equal(ix.n, N);
  assert_true(ix.cap >= 2 * N);
  for (int i = 0; i < N; i++) assert_int_equal(rk_name_index_get(&ix, names[i]), i);
  char other[16] = "c17";   /* equal text at another address */
  int existing;
  assert_rk_ok(rk_name_index_put(&ix, other, 99, &existing));
  assert_int_equal(existing, 17);
  assert_int_equal(rk_name_index_get(&ix, "c17"), 17);
  assert_int_equal(rk_name_index_get(&ix, "c20000"), -1);
  assert_int_equal(rk_name_index_get(&ix, ""), -1);
  rk_name_index_free(&ix);
  assert_int_equal(rk_name_index_get(&ix, "c1"), -1);
}

static rk_status fill(void *ctx) {
  (void)ctx;
  rk_name_index ix;
  rk_name_index_init(&ix);
  rk_status st = RK_OK;
  for (int i = 0; i < 100 && st == RK_OK; i++) st = rk_name_index_put(&ix, names[i], i, NULL);
  for (int i = 0; i < 100 && st == RK_OK; i++)
    if (rk_name_index_get(&ix, names[i]) != i) st = RK_EINTERNAL;
  rk_name_index_free(&ix);
  return st;
}

static void test_allocation_failures(void **state) {
  (void)state;
  assert_true(rk_test_walk_failures(fill, NULL) > 0);
}

int main(void) {
  for (int i = 0; i < N; i++) snprintf(names[i], sizeof names[i], "c%d", i);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_put_get),
      cmocka_unit_test(test_allocation_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
