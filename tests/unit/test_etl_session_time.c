/*
 * Timestamps of the session ETL (src/etl/session_time.c, session_events.c): ISO-8601 as event
 * logs write it (Z, fractions, offsets, a space for T, a date alone) against hand-computed unix
 * microseconds; text that is not a time (bad months, days past the month's end, junk, missing
 * digits) is refused; civil dates round-trip over 800 years; weekday features of known dates.
 */
#include "support.h"

#include <math.h>
#include <string.h>

#include "etl/session_internal.h"

static int64_t parse(const char *s) {
  int64_t us = 0;
  assert_true(rk_iso8601_parse(s, strlen(s), &us));
  return us;
}

static void test_iso8601_forms(void **state) {
  (void)state;
  /* 2014-04-07T10:51:09Z = 1396867869 (16167 days * 86400 + 39069) */
  assert_int_equal(rk_days_from_civil(2014, 4, 7), 16167);
  const int64_t t = INT64_C(1396867869) * 1000000;
  assert_int_equal(parse("2014-04-07T10:51:09Z"), t);
  assert_int_equal(parse("2014-04-07T10:51:09.277Z"), t + 277000);
  assert_int_equal(parse("2014-04-07T10:51:09.2771234Z"), t + 277123);   /* past 6 digits: dropped */
  assert_int_equal(parse("2014-04-07 10:51:09"), t);                      /* no zone: UTC */
  assert_int_equal(parse("2014-04-07T12:51:09+02:00"), t);
  assert_int_equal(parse("2014-04-07T05:51:09-0500"), t);
  assert_int_equal(parse("2014-04-07T10:51Z"), t - 9000000);
  assert_int_equal(parse("2014-04-07"), INT64_C(16167) * 86400 * 1000000);
  assert_int_equal(parse(" 1969-12-31T23:59:59.5Z "), -500000);          /* before 1970, spaces around */
  assert_int_equal(parse("2016-02-29T00:00:00Z"), rk_days_from_civil(2016, 2, 29) * 86400 * 1000000);
}

static void test_iso8601_refused(void **state) {
  (void)state;
  const char *bad[] = {"",           "noon",        "2014-13-01",          "2014-02-30",           "2015-02-29",
                       "2014-4-7",   "2014-04-07T", "2014-04-07T25:00:00", "2014-04-07T10:61:00", "2014-04-07T10:51:09.Z",
                       "2014-04-07T10:51:09Zjunk", "2014-04-07T10:51:09+2", "1396867869", "2014/04/07"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    int64_t us = 0;
    if (rk_iso8601_parse(bad[i], strlen(bad[i]), &us)) fail_msg("'%s' parsed as %lld", bad[i], (long long)us);
  }
}

static void test_civil_round_trip(void **state) {
  (void)state;
  for (int64_t days = -200000; days <= 200000; days += 7) {
    int64_t y;
    int m, d;
    rk_civil_from_days(days, &y, &m, &d);
    assert_int_equal(rk_days_from_civil(y, m, d), days);
  }
  int64_t y;
  int m, d;
  rk_civil_from_days(0, &y, &m, &d);
  assert_true(y == 1970 && m == 1 && d == 1);
}

static void test_formats_and_weekdays(void **state) {
  (void)state;
  rk_timestamp_format f;
  assert_rk_ok(rk_timestamp_format_parse("unix_ms", &f));
  assert_int_equal(f, RK_TS_UNIX_MS);
  assert_string_equal(rk_timestamp_format_name(RK_TS_ISO8601), "iso8601");
  assert_int_equal(rk_timestamp_format_parse("seconds", &f), RK_EUSAGE);
  assert_non_null(strstr(rk_error_message(), "'seconds'"));
  /* 1970-01-01 was a Thursday (pandas' weekday 3); 2014-04-07 a Monday (0); 1969-12-31 a Wednesday */
  const double two_pi = 6.283185307179586;
  assert_float_equal(ss_weekday_sin(0), (float)sin(two_pi * (3 + 1e-6) / 7), 0);
  assert_float_equal(ss_weekday_cos(parse("2014-04-07T23:59:59Z")), (float)cos(two_pi * 1e-6 / 7), 0);
  assert_float_equal(ss_weekday_sin(-1), (float)sin(two_pi * (2 + 1e-6) / 7), 0);
  /* recency: days since first seen, clipped at 0, log1p; an unknown first-seen time is now */
  assert_true(ss_recency_log(86400000000LL * 3, 0) == log1p(3.0));
  assert_true(ss_recency_log(0, 86400000000LL) == 0.0);
  assert_true(ss_recency_log(5, INT64_MIN) == 0.0);
  assert_true(isnan(ss_value_log(-2)) && isnan(ss_value_log(NAN)) && ss_value_log(0) == 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_iso8601_forms),
      cmocka_unit_test(test_iso8601_refused),
      cmocka_unit_test(test_civil_round_trip),
      cmocka_unit_test(test_formats_and_weekdays),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
