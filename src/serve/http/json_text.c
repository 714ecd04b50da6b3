/*
 * JSON text without a tree (json_text.h): a strict cursor and an append-only writer.
 * Numbers: the grammar is checked byte by byte; a decimal with at most 19 significant digits
 * whose value times a power of ten up to 1e22 is exact in a double is computed directly (Clinger's
 * fast path: one correctly rounded multiply or divide), anything else goes to strtod_l in the "C"
 * locale, so every number reads as the nearest double either way.
 * Reference: RFC 8259 (grammar), RFC 3629 (UTF-8: no overlongs, surrogates or code points past
 * U+10FFFF).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE   /* strtod_l, newlocale, uselocale */
#endif
#include "serve/http/json_text.h"

#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

rk_status rk_json_malformed(const rk_json_cursor *c, const char *what, const char *why) {
  return rk_error(RK_EPARSE, "%s: malformed JSON at byte %zu: %s", what, (size_t)(c->p - c->begin), why);
}

static void skip_ws(rk_json_cursor *c) {
  while (c->p < c->end && (*c->p == ' ' || *c->p == '\n' || *c->p == '\r' || *c->p == '\t')) c->p++;
}

char rk_json_peek(rk_json_cursor *c) {
  skip_ws(c);
  return c->p < c->end ? *c->p : 0;
}

bool rk_json_take(rk_json_cursor *c, char ch) {
  if (rk_json_peek(c) != ch) return false;
  c->p++;
  return true;
}

/* ---- strings --------------------------------------------------------------------------------- */

size_t rk_json_string_bound(const rk_json_cursor *c) {
  const char *p = c->p;
  while (p < c->end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
  if (p >= c->end || *p != '"') return 0;
  const char *q = p + 1;
  while (q < c->end && *q != '"') q += *q == '\\' && q + 1 < c->end ? 2 : 1;
  return (size_t)(q - p) + 1;
}

static int hex4(const char *p) {
  int v = 0;
  for (int i = 0; i < 4; i++) {
    char h = p[i];
    int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

/* The length of the valid UTF-8 sequence at p (lead byte >= 0x80), 0 when invalid. */
static size_t utf8_length(const unsigned char *p, size_t left) {
  unsigned char b = p[0];
  size_t n = b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
  if (n == 0 || n > left) return 0;
  for (size_t i = 1; i < n; i++)
    if ((p[i] & 0xc0) != 0x80) return 0;
  if ((b == 0xe0 && p[1] < 0xa0) || (b == 0xed && p[1] > 0x9f) || (b == 0xf0 && p[1] < 0x90) ||
      (b == 0xf4 && p[1] > 0x8f))
    return 0;
  return n;
}

static size_t utf8_put(char *out, uint32_t cp) {
  if (cp < 0x80) return out[0] = (char)cp, 1;
  if (cp < 0x800) return out[0] = (char)(0xc0 | cp >> 6), out[1] = (char)(0x80 | (cp & 0x3f)), 2;
  if (cp < 0x10000) {
    out[0] = (char)(0xe0 | cp >> 12), out[1] = (char)(0x80 | ((cp >> 6) & 0x3f)), out[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
  }
  out[0] = (char)(0xf0 | cp >> 18), out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
  out[2] = (char)(0x80 | ((cp >> 6) & 0x3f)), out[3] = (char)(0x80 | (cp & 0x3f));
  return 4;
}

/* One escape after the backslash at c->p; its UTF-8 into tmp, *n bytes. */
static rk_status read_escape(rk_json_cursor *c, char tmp[4], size_t *n, const char *what) {
  if (c->end - c->p < 2) return rk_json_malformed(c, what, "unterminated string");
  char e = c->p[1];
  static const char plain_in[] = "\"\\/bfnrt", plain_out[] = "\"\\/\b\f\n\r\t";
  const char *k = e ? strchr(plain_in, e) : NULL;
  if (k) {
    tmp[0] = plain_out[k - plain_in], *n = 1;
    c->p += 2;
    return RK_OK;
  }
  if (e != 'u') return rk_json_malformed(c, what, "unknown escape in a string");
  int cp = c->end - c->p >= 6 ? hex4(c->p + 2) : -1;
  if (cp < 0) return rk_json_malformed(c, what, "\\u needs 4 hex digits");
  if (cp == 0) return rk_json_malformed(c, what, "\\u0000 in a string");
  if (cp >= 0xdc00 && cp <= 0xdfff) return rk_json_malformed(c, what, "a lone low surrogate in a string");
  if (cp >= 0xd800 && cp <= 0xdbff) {
    int lo = c->end - c->p >= 12 && c->p[6] == '\\' && c->p[7] == 'u' ? hex4(c->p + 8) : -1;
    if (lo < 0xdc00 || lo > 0xdfff) return rk_json_malformed(c, what, "a high surrogate without its low half");
    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
    c->p += 6;
  }
  *n = utf8_put(tmp, (uint32_t)cp);
  c->p += 6;
  return RK_OK;
}

rk_status rk_json_string(rk_json_cursor *c, char *out, size_t *len, const char *what) {
  if (rk_json_peek(c) != '"') return rk_json_malformed(c, what, "expected a string");
  c->p++;
  size_t n = 0;
  for (;;) {
    const char *run = c->p;   /* plain ASCII copies as one run */
    while (c->p < c->end && (unsigned char)*c->p >= 0x20 && (unsigned char)*c->p < 0x80 && *c->p != '"' &&
           *c->p != '\\')
      c->p++;
    if (out && c->p > run) memcpy(out + n, run, (size_t)(c->p - run));
    n += (size_t)(c->p - run);
    if (c->p >= c->end) return rk_json_malformed(c, what, "unterminated string");
    unsigned char b = (unsigned char)*c->p;
    if (b == '"') break;
    if (b < 0x20) return rk_json_malformed(c, what, "a control character in a string");
    if (b == '\\') {
      char tmp[4];
      size_t k = 0;
      RK_TRY(read_escape(c, tmp, &k, what));
      if (out) memcpy(out + n, tmp, k);
      n += k;
      continue;
    }
    size_t k = utf8_length((const unsigned char *)c->p, (size_t)(c->end - c->p));
    if (k == 0) return rk_json_malformed(c, what, "invalid UTF-8 in a string");
    if (out) memcpy(out + n, c->p, k);
    n += k, c->p += k;
  }
  c->p++;
  if (out) out[n] = '\0';
  if (len) *len = n;
  return RK_OK;
}

/* ---- numbers --------------------------------------------------------------------------------- */

static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static locale_t c_locale;
static void c_locale_make(void) { c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0); }

/* The correctly rounded double of a checked number's text (strtod_l needs it NUL-terminated). */
static double slow_value(const char *text, size_t n) {
  char small[128];
  char *copy = n < sizeof small ? small : rk_malloc(n + 1);
  if (!copy) return NAN;   /* the caller reports out of memory */
  memcpy(copy, text, n);
  copy[n] = '\0';
  pthread_once(&c_locale_once, c_locale_make);
  double v = c_locale ? strtod_l(copy, NULL, c_locale) : strtod(copy, NULL);
  if (copy != small) rk_free(copy);
  return v;
}

static bool is_digit(const rk_json_cursor *c) { return c->p < c->end && *c->p >= '0' && *c->p <= '9'; }

rk_status rk_json_number_read(rk_json_cursor *c, rk_json_number *out, const char *what) {
  static const double pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
  skip_ws(c);
  const char *start = c->p;
  *out = (rk_json_number){.integral = true};
  if (c->p < c->end && *c->p == '-') out->negative = true, c->p++;
  if (!is_digit(c)) return rk_json_malformed(c, what, "expected a value");
  uint64_t m = 0;          /* up to 19 significant digits */
  int digits = 0, exp10 = 0;
  bool inexact = false;    /* digits past the 19th were not zero */
  if (*c->p == '0') {
    c->p++;
    if (is_digit(c)) return rk_json_malformed(c, what, "a number with a leading zero");
  }
  for (; is_digit(c); c->p++) {
    unsigned d = (unsigned)(*c->p - '0');
    if (out->magnitude > (UINT64_MAX - d) / 10) out->overflow = true;
    out->magnitude = out->magnitude * 10 + d;
    if (m == 0 && d == 0) continue;
    if (digits < 19) m = m * 10 + d, digits++;
    else exp10++, inexact |= d != 0;
  }
  if (c->p < c->end && *c->p == '.') {
    c->p++, out->integral = false;
    if (!is_digit(c)) return rk_json_malformed(c, what, "a digit must follow a decimal point");
    for (; is_digit(c); c->p++) {
      unsigned d = (unsigned)(*c->p - '0');
      if (m == 0 && d == 0) exp10--;
      else if (digits < 19) m = m * 10 + d, digits++, exp10--;
      else inexact |= d != 0;
    }
  }
  if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
    c->p++, out->integral = false;
    int sign = 1, e = 0;
    if (c->p < c->end && (*c->p == '+' || *c->p == '-')) sign = *c->p == '-' ? -1 : 1, c->p++;
    if (!is_digit(c)) return rk_json_malformed(c, what, "an exponent needs digits");
    for (; is_digit(c); c->p++)
      if (e < 100000) e = e * 10 + (*c->p - '0');
    exp10 += sign * e;
  }
  if (out->integral && !out->overflow) {
    out->value = (double)out->magnitude;   /* the conversion rounds to nearest */
  } else if (!inexact && m <= (UINT64_C(1) << 53) && exp10 >= -22 && exp10 <= 22) {
    out->value = exp10 < 0 ? (double)m / pow10[-exp10] : (double)m * pow10[exp10];
  } else {
    double v = slow_value(start, (size_t)(c->p - start));
    if (isnan(v)) return rk_error(RK_ENOMEM, "%s: out of memory reading a number", what);
    out->value = fabs(v);
  }
  if (out->negative) out->value = -out->value;
  return RK_OK;
}

/* ---- skipping -------------------------------------------------------------------------------- */

static rk_status skip_literal(rk_json_cursor *c, const char *word, const char *what) {
  size_t n = strlen(word);
  if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0) return rk_json_malformed(c, what, "expected a value");
  c->p += n;
  return RK_OK;
}

rk_status rk_json_skip(rk_json_cursor *c, int depth, const char *what) {
  char ch = rk_json_peek(c);
  if (ch == '{' || ch == '[') {
    if (depth >= RK_JSON_MAX_DEPTH) return rk_json_malformed(c, what, "nested too deep");
    char close = ch == '{' ? '}' : ']';
    c->p++;
    if (rk_json_take(c, close)) return RK_OK;
    do {
      if (ch == '{') {
        RK_TRY(rk_json_string(c, NULL, NULL, what));
        if (!rk_json_take(c, ':')) return rk_json_malformed(c, what, "expected ':' after a key");
      }
      RK_TRY(rk_json_skip(c, depth + 1, what));
    } while (rk_json_take(c, ','));
    if (!rk_json_take(c, close)) return rk_json_malformed(c, what, ch == '{' ? "expected ',' or '}'" : "expected ',' or ']'");
    return RK_OK;
  }
  if (ch == '"') return rk_json_string(c, NULL, NULL, what);
  if (ch == 't') return skip_literal(c, "true", what);
  if (ch == 'f') return skip_literal(c, "false", what);
  if (ch == 'n') return skip_literal(c, "null", what);
  rk_json_number n;
  return rk_json_number_read(c, &n, what);
}

/* ---- writing --------------------------------------------------------------------------------- */

void rk_json_put(rk_json_writer *w, const char *text, size_t n) {
  if (w->failed || n == 0) return;
  if (n > w->cap - w->size) {
    size_t cap = w->cap ? w->cap : 256;
    while (cap - w->size < n) {
      if (cap > SIZE_MAX / 2) {
        w->failed = true;
        return;
      }
      cap *= 2;
    }
    char *p = rk_realloc(w->buf, cap);
    if (!p) {
      w->failed = true;
      return;
    }
    w->buf = p, w->cap = cap;
  }
  memcpy(w->buf + w->size, text, n);
  w->size += n;
}

void rk_json_put_str(rk_json_writer *w, const char *text) { rk_json_put(w, text, strlen(text)); }

void rk_json_put_quoted(rk_json_writer *w, const char *text, size_t n) {
  rk_json_put(w, "\"", 1);
  size_t run = 0;   /* bytes that need no escape go out as one run */
  for (size_t i = 0; i < n; i++) {
    unsigned char b = (unsigned char)text[i];
    if (b >= 0x20 && b != '"' && b != '\\') continue;
    rk_json_put(w, text + run, i - run);
    char esc[8];
    int k = b == '"' || b == '\\' ? snprintf(esc, sizeof esc, "\\%c", b) : snprintf(esc, sizeof esc, "\\u%04x", b);
    rk_json_put(w, esc, (size_t)k);
    run = i + 1;
  }
  rk_json_put(w, text + run, n - run);
  rk_json_put(w, "\"", 1);
}

void rk_json_put_uint(rk_json_writer *w, uint64_t v) {
  char digits[24];
  int i = (int)sizeof digits;
  do digits[--i] = (char)('0' + v % 10), v /= 10;
  while (v);
  rk_json_put(w, digits + i, sizeof digits - (size_t)i);
}

void rk_json_put_int(rk_json_writer *w, int64_t v) {
  if (v < 0) rk_json_put(w, "-", 1);
  rk_json_put_uint(w, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v);
}

void rk_json_put_double(rk_json_writer *w, double v) {
  if (!isfinite(v)) {
    rk_json_put(w, "null", 4);
    return;
  }
  char text[40];
  pthread_once(&c_locale_once, c_locale_make);
  locale_t old = c_locale ? uselocale(c_locale) : (locale_t)0;
  int n = snprintf(text, sizeof text, "%.17g", v);
  if (old) uselocale(old);
  rk_json_put(w, text, (size_t)n);
}

/* A float as 9 significant digits (trailing zeros dropped), in %g's layout. The digits come from
 * the float's exact double scaled into [1e8, 1e9) by one multiply or divide and rounded: the
 * scaling's error (a few parts in 1e16) can at worst move the last digit by one, and a 9-digit
 * decimal even a unit off in its 9th digit (at most 1e-8 of the value) is still nearer the float
 * than any other (their spacing is at least 2^-24 of the value): the text reads back exactly. */
static size_t format_float(char *out, float v) {
  static const double pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11, 1e12, 1e13,
                                 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22, 1e23, 1e24, 1e25, 1e26, 1e27,
                                 1e28, 1e29, 1e30, 1e31, 1e32, 1e33, 1e34, 1e35, 1e36, 1e37, 1e38, 1e39, 1e40, 1e41,
                                 1e42, 1e43, 1e44, 1e45, 1e46, 1e47, 1e48, 1e49, 1e50, 1e51, 1e52, 1e53, 1e54};
  char *p = out;
  double d = v;
  if (signbit(d)) *p++ = '-', d = -d;
  if (d == 0) {
    *p++ = '0';
    return (size_t)(p - out);
  }
  int e = (int)floor(log10(d));   /* floats: e in [-46, 38] */
  double s = e <= 8 ? d * pow10[8 - e] : d / pow10[e - 8];
  if (s >= 1e9) s /= 10, e++;
  if (s < 1e8) s *= 10, e--;
  uint64_t m = (uint64_t)(s + 0.5);
  if (m >= 1000000000u) m /= 10, e++;
  char digits[9];
  for (int i = 8; i >= 0; i--) digits[i] = (char)('0' + m % 10), m /= 10;
  int nd = 9;
  while (nd > 1 && digits[nd - 1] == '0') nd--;
  if (e < -4 || e >= 9) {   /* d.ddde-XX */
    *p++ = digits[0];
    if (nd > 1) *p++ = '.', memcpy(p, digits + 1, (size_t)nd - 1), p += nd - 1;
    *p++ = 'e', *p++ = e < 0 ? '-' : '+';
    int a = e < 0 ? -e : e;
    if (a >= 10) *p++ = (char)('0' + a / 10);
    *p++ = (char)('0' + a % 10);
  } else if (e >= 0) {      /* ddd[.ddd] */
    for (int i = 0; i <= e; i++) *p++ = i < nd ? digits[i] : '0';
    if (nd > e + 1) *p++ = '.', memcpy(p, digits + e + 1, (size_t)(nd - e - 1)), p += nd - e - 1;
  } else {                  /* 0.000ddd */
    *p++ = '0', *p++ = '.';
    for (int i = 0; i < -e - 1; i++) *p++ = '0';
    memcpy(p, digits, (size_t)nd), p += nd;
  }
  return (size_t)(p - out);
}

void rk_json_put_float(rk_json_writer *w, float v) {
  if (!isfinite(v)) {
    rk_json_put(w, "null", 4);
    return;
  }
  char text[24];
  rk_json_put(w, text, format_float(text, v));
}
