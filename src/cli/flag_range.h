/*
 * The valid range of a numeric flag, written in its table row's metavar after the placeholder,
 * in interval notation, so one string feeds the parser, `--help` and the docs:
 *
 *   "P in [0, 1)"   "N in [1, 2^28]"   "X > 0"   "N >= 0"   "T in (-inf, inf)"
 *
 * Bounds are decimal numbers, powers such as 2^28, or inf. A bracket includes its bound and a
 * parenthesis or strict comparison excludes it, so infinity is admitted only by a range that
 * closes on it ("X in [0, inf]"), and NaN is in no range. Not here: which flags have ranges
 * (the tables in src/cli/cmd_*.c) and the messages (src/cli/flags.c).
 */
#ifndef RECKON_CLI_FLAG_RANGE_H
#define RECKON_CLI_FLAG_RANGE_H

#include <stdbool.h>

typedef struct {
  double lo, hi;
  bool lo_open, hi_open;
  const char *text;       /* the range as written in the metavar: "in [0, 1)", ">= 0" */
  int placeholder_len;    /* the length of "P" in "P in [0, 1)" */
} rk_flag_range;

/* The range in a metavar (NULL: none): 1 when found, 0 when the metavar has none, -1 when the
 * text after the placeholder looks like a range but does not parse (a bug in a flag table). */
int rk_flag_range_parse(const char *metavar, rk_flag_range *out);

/* Whether v lies in the range; false for NaN. */
bool rk_flag_range_contains(const rk_flag_range *r, double v);

#endif
