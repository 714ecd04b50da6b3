/*
 * Interval notation in flag metavars (see flag_range.h): finding the range after the
 * placeholder, reading its bounds, and testing a value against it.
 */
#include "cli/flag_range.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Where a range starts: the earliest of these after the placeholder. */
static const char *const range_openers[] = {" in [", " in (", " >= ", " > ", " <= ", " < "};

static const char *find_range(const char *metavar) {
  const char *first = NULL;
  for (size_t i = 0; i < sizeof range_openers / sizeof *range_openers; i++) {
    const char *at = strstr(metavar, range_openers[i]);
    if (at && (!first || at < first)) first = at;
  }
  return first;
}

static const char *skip_spaces(const char *s) {
  while (*s == ' ') s++;
  return s;
}

/* A bound: [-]inf, a decimal number, or base^exponent (2^28). */
static bool parse_bound(const char **s, double *out) {
  const char *c = skip_spaces(*s);
  bool negative = *c == '-';
  if (strncmp(c + negative, "inf", 3) == 0) {
    *out = negative ? -INFINITY : INFINITY;
    *s = c + negative + 3;
    return true;
  }
  char *end;
  double v = strtod(c, &end);
  if (end == c || !isfinite(v)) return false;
  if (*end == '^') {
    char *exp_end;
    long e = strtol(end + 1, &exp_end, 10);
    if (exp_end == end + 1 || e < 0 || e > 1023) return false;
    v = pow(v, (double)e);
    end = exp_end;
  }
  *out = v;
  *s = end;
  return true;
}

int rk_flag_range_parse(const char *metavar, rk_flag_range *out) {
  memset(out, 0, sizeof *out);
  out->lo = -INFINITY;
  out->hi = INFINITY;
  out->lo_open = out->hi_open = true;
  const char *start = metavar ? find_range(metavar) : NULL;
  if (!start) return 0;
  out->placeholder_len = (int)(start - metavar);
  out->text = start + 1;
  const char *c = start + 1;
  if (strncmp(c, "in ", 3) == 0) {
    c += 3;
    out->lo_open = *c == '(';
    c++;
    if (!parse_bound(&c, &out->lo)) return -1;
    c = skip_spaces(c);
    if (*c++ != ',') return -1;
    if (!parse_bound(&c, &out->hi)) return -1;
    if (*c != ']' && *c != ')') return -1;
    out->hi_open = *c++ == ')';
  } else {
    bool lower = *c == '>';
    bool strict = c[1] != '=';
    c += strict ? 1 : 2;
    double bound;
    if (!parse_bound(&c, &bound)) return -1;
    if (lower) out->lo = bound, out->lo_open = strict;
    else out->hi = bound, out->hi_open = strict;
  }
  if (*skip_spaces(c) != '\0' || !(out->lo <= out->hi)) return -1;
  return 1;
}

bool rk_flag_range_contains(const rk_flag_range *r, double v) {
  bool above = r->lo_open ? v > r->lo : v >= r->lo;
  bool below = r->hi_open ? v < r->hi : v <= r->hi;
  return above && below;   /* both false for NaN */
}
