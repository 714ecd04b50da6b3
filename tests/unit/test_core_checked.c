/*
 * Checked sizes and machine memory (src/core/checked.c, src/core/memory.c): products and sums
 * exact up to RK_SIZE_MAX and refused past it (the first product that would wrap int64_t, and
 * the ones that only pass the limit), negative operands refused, every refusal naming what
 * overflowed; the shape product over the header shapes that used to wrap in safetensors; the
 * memory check passes what fits and refuses what cannot with the estimate and the machine's size.
 */
#include "support.h"

#include <string.h>

static void assert_refused(rk_status st, const char *what) {
  assert_int_equal(st, RK_ERANGE);
  if (!strstr(rk_error_message(), what)) fail_msg("the message does not name '%s': %s", what, rk_error_message());
}

static void test_size_mul_exact_below_the_limit(void **state) {
  (void)state;
  int64_t r;
  assert_rk_ok(rk_size_mul(&r, 0, RK_SIZE_MAX, "x"));
  assert_int_equal(r, 0);
  assert_rk_ok(rk_size_mul(&r, 1, RK_SIZE_MAX, "x"));
  assert_int_equal(r, RK_SIZE_MAX);
  assert_rk_ok(rk_size_mul(&r, INT64_C(1) << 24, INT64_C(1) << 24, "x"));
  assert_int_equal(r, RK_SIZE_MAX);
  assert_rk_ok(rk_size_mul(&r, 1000003, 999983, "x"));
  assert_int_equal(r, INT64_C(1000003) * 999983);
}

static void test_size_mul_refuses_past_the_limit(void **state) {
  (void)state;
  int64_t r = 7;
  /* The header shape of issue 15: 2^32 x 2^32 wraps int64_t to 0. */
  assert_refused(rk_size_mul(&r, INT64_C(4294967296), INT64_C(4294967296), "tensor 'w' element count"),
                 "tensor 'w' element count is too large: 4294967296 x 4294967296");
  assert_int_equal(r, 0);
  /* 2^62 x 4 bytes: the operand itself is past the limit. */
  assert_refused(rk_size_mul(&r, INT64_C(4611686018427387904), 4, "tensor bytes"), "tensor bytes is too large");
  /* one past the limit, without wrapping anything */
  assert_refused(rk_size_mul(&r, (INT64_C(1) << 24) + 1, INT64_C(1) << 24, "rows"), "rows is too large");
  assert_refused(rk_size_mul(&r, INT64_MAX, INT64_MAX, "domain"), "domain");
  assert_refused(rk_size_mul(&r, -1, 5, "batch"), "batch: -1 is negative");
  assert_refused(rk_size_mul(&r, 5, INT64_MIN, "batch"), "batch: -9223372036854775808 is negative");
}

static void test_size_add(void **state) {
  (void)state;
  int64_t r;
  assert_rk_ok(rk_size_add(&r, RK_SIZE_MAX - 5, 5, "x"));
  assert_int_equal(r, RK_SIZE_MAX);
  assert_refused(rk_size_add(&r, RK_SIZE_MAX, 1, "cardinality"), "cardinality is too large: 281474976710656 + 1");
  assert_refused(rk_size_add(&r, INT64_MAX, 1, "cardinality"), "cardinality is too large");
  assert_refused(rk_size_add(&r, 3, -4, "offset"), "offset: -4 is negative");
}

static void test_size_numel(void **state) {
  (void)state;
  int64_t r;
  const int64_t shape[4] = {2, 3, 5, 7};
  assert_rk_ok(rk_size_numel(&r, 4, shape, "x"));
  assert_int_equal(r, 210);
  assert_rk_ok(rk_size_numel(&r, 0, shape, "x"));
  assert_int_equal(r, 1);
  const int64_t empty[3] = {0, RK_SIZE_MAX, RK_SIZE_MAX};
  assert_rk_ok(rk_size_numel(&r, 3, empty, "an empty tensor"));   /* legal axes, an empty product */
  assert_int_equal(r, 0);
  const int64_t wraps[3] = {INT64_C(1) << 21, INT64_C(1) << 21, INT64_C(1) << 22};
  assert_refused(rk_size_numel(&r, 3, wraps, "tensor 'big'"), "tensor 'big' is too large");
  const int64_t negative[2] = {4, -2};
  assert_refused(rk_size_numel(&r, 2, negative, "shape"), "shape: -2 is negative");
}

static void test_memory_check(void **state) {
  (void)state;
  int64_t total = rk_memory_total_bytes(), avail = rk_memory_available_bytes();
  assert_true(total > 0);   /* Linux CI: /proc/meminfo */
  assert_true(avail > 0 && avail <= total);
  assert_rk_ok(rk_memory_check(1 << 20, "a small run"));
  assert_int_equal(rk_memory_check(total + (INT64_C(1) << 40), "training at batch 100000000"), RK_ENOMEM);
  const char *m = rk_error_message();
  if (!strstr(m, "training at batch 100000000 needs ~") || !strstr(m, "GiB, this machine has ") || !strstr(m, "GiB available"))
    fail_msg("message: %s", m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_size_mul_exact_below_the_limit),
      cmocka_unit_test(test_size_mul_refuses_past_the_limit),
      cmocka_unit_test(test_size_add),
      cmocka_unit_test(test_size_numel),
      cmocka_unit_test(test_memory_check),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
