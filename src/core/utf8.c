/*
 * UTF-8 validation and repair: the one check every string that leaves reckon as text passes
 * (the CSV reader's string fields and header, the Parquet writer's STRING columns), so no file
 * reckon writes holds bytes that other tools refuse to read as UTF-8.
 *
 * Valid means well-formed in the sense of RFC 3629 section 4 / Unicode 15 table 3-7: no overlong
 * forms, no surrogates (U+D800..U+DFFF), nothing above U+10FFFF. Repair replaces each maximal
 * subpart of an ill-formed sequence with U+FFFD, the practice Unicode recommends (section 3.9,
 * "U+FFFD Substitution of Maximal Subparts") and WHATWG's decoder, Python and ICU follow.
 * It is not: a normaliser, nor a checker of what characters mean.
 */
#include <string.h>

#include "reckon/core.h"

/* Bytes of the well-formed sequence at s[0, n) (1..4), or 0 when ill-formed; then *bad is the
 * length of its maximal subpart (1..3): the bytes that could begin a well-formed sequence. */
static size_t sequence_length(const unsigned char *s, size_t n, size_t *bad) {
  unsigned char c = s[0];
  size_t need;
  unsigned char lo = 0x80, hi = 0xBF;   /* the range of the second byte (table 3-7) */
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) need = 2;
  else if (c >= 0xE0 && c <= 0xEF) {
    need = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    need = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    *bad = 1;
    return 0;
  }
  size_t i = 1;
  if (i < n && s[i] >= lo && s[i] <= hi) {
    for (i = 2; i < need && i < n && (s[i] & 0xC0) == 0x80; i++) {
    }
  }
  if (i == need) return need;
  *bad = i;
  return 0;
}

/* How many leading bytes are ASCII, checked 8 at a time: the common case costs a load and a mask. */
static size_t ascii_prefix(const unsigned char *s, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    memcpy(&w, s + i, 8);
    if (w & 0x8080808080808080ull) break;
  }
  while (i < n && s[i] < 0x80) i++;
  return i;
}

size_t rk_utf8_valid_prefix(const char *text, size_t n) {
  const unsigned char *s = (const unsigned char *)text;
  size_t i = 0;
  for (;;) {
    i += ascii_prefix(s + i, n - i);
    if (i == n) return n;
    size_t bad, len = sequence_length(s + i, n - i, &bad);
    if (len == 0) return i;
    i += len;
  }
}

int64_t rk_utf8_first_invalid(const char *values, const int64_t *offsets, int64_t n, size_t *at) {
  int64_t begin = offsets[0], bytes = offsets[n] - begin;
  if (bytes == 0) return -1;
  if (rk_utf8_valid_prefix(values + begin, (size_t)bytes) == (size_t)bytes) {
    /* valid as a whole: only a string that starts inside a sequence (its lead byte ending the
     * string before it) can still be ill-formed */
    bool split = false;
    for (int64_t i = 1; i < n && !split; i++)
      split = offsets[i] < offsets[n] && ((unsigned char)values[offsets[i]] & 0xC0) == 0x80;
    if (!split) return -1;
  }
  for (int64_t i = 0; i < n; i++) {
    size_t len = (size_t)(offsets[i + 1] - offsets[i]);
    size_t ok = rk_utf8_valid_prefix(values + offsets[i], len);
    if (ok < len) {
      *at = ok;
      return i;
    }
  }
  return -1;
}

size_t rk_utf8_repair(char *dst, const char *text, size_t n) {
  static const char replacement[3] = {(char)0xEF, (char)0xBF, (char)0xBD};   /* U+FFFD */
  const unsigned char *s = (const unsigned char *)text;
  size_t i = 0, o = 0;
  while (i < n) {
    size_t run = rk_utf8_valid_prefix((const char *)s + i, n - i);
    if (dst && run) memcpy(dst + o, s + i, run);
    o += run;
    i += run;
    if (i == n) break;
    size_t bad = 1;
    sequence_length(s + i, n - i, &bad);
    if (dst) memcpy(dst + o, replacement, 3);
    o += 3;
    i += bad;
  }
  return o;
}
