/*
 * Timestamps of event logs: the formats --timestamp_format names, parsed to int64 unix
 * microseconds (UTC), and the civil-date arithmetic the session features and day folders need.
 * It is not: a general date library (no locales, no leap seconds, no time zones by name).
 * References: ISO 8601 / RFC 3339 section 5.6; Howard Hinnant, "chrono-Compatible Low-Level Date
 * Algorithms" (days_from_civil, civil_from_days).
 */
#include <string.h>

#include "reckon/etl.h"

static const char *const format_names[] = {"iso8601", "unix_s", "unix_ms", "unix_us"};

rk_status rk_timestamp_format_parse(const char *name, rk_timestamp_format *out) {
  for (int i = 0; i < 4; i++)
    if (name && strcmp(name, format_names[i]) == 0) {
      *out = (rk_timestamp_format)i;
      return RK_OK;
    }
  return rk_error(RK_EUSAGE, "unknown --timestamp_format '%s': expected iso8601, unix_s, unix_ms or unix_us",
                  name ? name : "");
}

const char *rk_timestamp_format_name(rk_timestamp_format format) {
  return (unsigned)format < 4 ? format_names[format] : "?";
}

int64_t rk_days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

void rk_civil_from_days(int64_t days, int64_t *y, int *m, int *d) {
  days += 719468;
  int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  int64_t doe = days - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  *d = (int)(doy - (153 * mp + 2) / 5 + 1);
  *m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (*m <= 2);
}

/* `count` digits at *p as a number, advancing *p; false when fewer digits are there. */
static bool digits(const char **p, const char *end, int count, int *out) {
  int v = 0;
  for (int i = 0; i < count; i++, (*p)++) {
    if (*p >= end || **p < '0' || **p > '9') return false;
    v = v * 10 + (**p - '0');
  }
  *out = v;
  return true;
}

static bool accept(const char **p, const char *end, char c) {
  if (*p < end && **p == c) {
    (*p)++;
    return true;
  }
  return false;
}

static int days_in_month(int y, int m) {
  static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : dm[m - 1];
}

bool rk_iso8601_parse(const char *text, size_t n, int64_t *us) {
  const char *p = text, *end = text + n;
  while (p < end && (*p == ' ' || *p == '\t')) p++;
  while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r')) end--;
  int y, mo, d, h = 0, mi = 0, s = 0;
  if (!digits(&p, end, 4, &y) || !accept(&p, end, '-') || !digits(&p, end, 2, &mo) || !accept(&p, end, '-') ||
      !digits(&p, end, 2, &d))
    return false;
  if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo)) return false;
  int64_t frac_us = 0, offset_s = 0;
  if (p < end) {
    if (!accept(&p, end, 'T') && !accept(&p, end, 't') && !accept(&p, end, ' ')) return false;
    if (!digits(&p, end, 2, &h) || !accept(&p, end, ':') || !digits(&p, end, 2, &mi)) return false;
    if (accept(&p, end, ':')) {
      if (!digits(&p, end, 2, &s)) return false;
      if (accept(&p, end, '.') || accept(&p, end, ',')) {
        int k = 0;
        for (; p < end && *p >= '0' && *p <= '9'; p++, k++)
          if (k < 6) frac_us = frac_us * 10 + (*p - '0');
        if (k == 0) return false;
        for (; k < 6; k++) frac_us *= 10;
      }
    }
    if (h > 23 || mi > 59 || s > 60) return false;   /* 60: a leap second, read as the next second */
    if (accept(&p, end, 'Z') || accept(&p, end, 'z')) {
    } else if (p < end && (*p == '+' || *p == '-')) {
      int sign = *p++ == '-' ? -1 : 1, oh, om = 0;
      if (!digits(&p, end, 2, &oh)) return false;
      if (accept(&p, end, ':')) {
        if (!digits(&p, end, 2, &om)) return false;
      } else if (p < end && !digits(&p, end, 2, &om)) {
        return false;
      }
      if (oh > 23 || om > 59) return false;
      offset_s = sign * (oh * 3600 + om * 60);
    }
  }
  if (p != end) return false;
  int64_t days = rk_days_from_civil(y, mo, d);
  *us = ((days * 86400 + h * 3600 + mi * 60 + s) - offset_s) * 1000000 + frac_us;
  return true;
}
