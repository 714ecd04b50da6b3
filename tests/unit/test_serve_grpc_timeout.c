/*
 * gRPC's grpc-timeout header (src/serve/grpc/grpc_wire.c): every unit, rounding up to whole
 * milliseconds (a deadline never comes early), the largest value, and malformed values refused.
 * tests/e2e/serve_grpc_deadline.sh checks what the server answers with them.
 */
#include "support.h"

#ifdef RECKON_HAVE_GRPC
#include <string.h>

#include "serve/grpc/grpc_wire.h"

static int64_t ms_of(const char *v) { return rk_grpc_timeout_ms((const uint8_t *)v, strlen(v)); }

static void test_grpc_timeout_units(void **state) {
  (void)state;
  assert_int_equal(ms_of("2H"), 7200000);
  assert_int_equal(ms_of("3M"), 180000);
  assert_int_equal(ms_of("5S"), 5000);
  assert_int_equal(ms_of("250m"), 250);
  assert_int_equal(ms_of("1500u"), 2);      /* 1.5 ms: up to 2 */
  assert_int_equal(ms_of("1000u"), 1);
  assert_int_equal(ms_of("1n"), 1);         /* any wait at all is at least a millisecond */
  assert_int_equal(ms_of("0n"), 0);         /* already due */
  assert_int_equal(ms_of("0S"), 0);
  assert_int_equal(ms_of("99999999H"), INT64_C(99999999) * 3600000);   /* 8 digits, the most */
}

static void test_grpc_timeout_malformed(void **state) {
  (void)state;
  const char *bad[] = {"", "S", "5", "5s", "5 S", "-5S", "+5S", "123456789S", "5SS", "1.5S", "x1m", "5\x00S"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    size_t len = i == sizeof bad / sizeof *bad - 1 ? 3 : strlen(bad[i]);
    if (rk_grpc_timeout_ms((const uint8_t *)bad[i], len) != -1) fail_msg("grpc-timeout '%s' was accepted", bad[i]);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_grpc_timeout_units),
      cmocka_unit_test(test_grpc_timeout_malformed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

#else
#include <stdio.h>
int main(void) {
  printf("gRPC is not built (no nghttp2 or protobuf-c): nothing to test\n");
  return 0;
}
#endif
