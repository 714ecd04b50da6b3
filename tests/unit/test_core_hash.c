/*
 * The documented hash against xxHash's published XXH64 values (seed 0) and its canonical byte
 * layouts, written out by hand.
 */
#include <string.h>

#include "reckon/core.h"
#include "support.h"

static void test_known_values(void **state) {
  (void)state;
  /* XXH64 of the empty input and of "abc" with seed 0, from xxHash's documentation and tests. */
  assert_true(rk_hash_bytes("", 0) == UINT64_C(0xEF46DB3751D8E999));
  assert_true(rk_hash_bytes("abc", 3) == UINT64_C(0x44BC2CF5AD770999));
}

static void test_canonical_bytes(void **state) {
  (void)state;
  const uint8_t le[8] = {0x2a, 0, 0, 0, 0, 0, 0, 0};
  assert_true(rk_hash_int(42) == rk_hash_bytes(le, 8));
  const uint8_t minus_one[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  assert_true(rk_hash_int(-1) == rk_hash_bytes(minus_one, 8));
  uint8_t pair[16];
  uint64_t a = rk_hash_int(1), b = rk_hash_bytes("x", 1);
  for (int i = 0; i < 8; i++) pair[i] = (uint8_t)(a >> (8 * i)), pair[8 + i] = (uint8_t)(b >> (8 * i));
  assert_true(rk_hash_cross(a, b) == rk_hash_bytes(pair, 16));
  assert_true(rk_hash_cross(a, b) != rk_hash_cross(b, a));   /* a cross is ordered */
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_known_values), cmocka_unit_test(test_canonical_bytes)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
