/*
 * JSON text read and written in place, with no tree: a cursor that walks strict JSON (RFC 8259:
 * the number grammar, escapes, UTF-8, no trailing commas, nesting at most RK_JSON_MAX_DEPTH) and
 * hands out one value at a time, and an append-only writer. The KServe infer body (infer_body.c)
 * walks its request with the cursor and decodes tensor data straight into typed buffers
 * (kserve_tensor.c), where a tree would build and free an object per number.
 *
 * Not here: what the values mean (infer_body.c, kserve_tensor.c). Documents off the hot path
 * (model metadata and config, error bodies, repository calls) stay with jansson.
 */
#ifndef RECKON_SERVE_HTTP_JSON_TEXT_H
#define RECKON_SERVE_HTTP_JSON_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reckon/core.h"

#define RK_JSON_MAX_DEPTH 64

typedef struct {
  const char *begin, *p, *end;   /* the text, the next byte, one past the last */
} rk_json_cursor;

/* Malformed text: RK_EPARSE, "<what>: malformed JSON at byte N: <why>". */
rk_status rk_json_malformed(const rk_json_cursor *c, const char *what, const char *why);

/* Skip whitespace; the next byte, or 0 at the end. */
char rk_json_peek(rk_json_cursor *c);
/* Skip whitespace and take `ch` when it is next. */
bool rk_json_take(rk_json_cursor *c, char ch);

/* A string at the cursor, unescaped into out (room for the source's length: the unescaped
 * form, plus a NUL, is never longer than the quoted source) as NUL-terminated UTF-8; *len its
 * length. Refuses bad escapes, invalid UTF-8, control characters and \u0000. out may be NULL to
 * check and skip. `what` names the document in messages. */
rk_status rk_json_string(rk_json_cursor *c, char *out, size_t *len, const char *what);
/* The source length of the string at the cursor, quotes included (a bound on its unescaped
 * form), or 0 when the next value is not a string. */
size_t rk_json_string_bound(const rk_json_cursor *c);

/* A number at the cursor, by the JSON grammar. `integral`: no fraction or exponent; then
 * `magnitude` is its absolute value (`overflow` when past 2^64-1). `value` is the nearest
 * double either way. */
typedef struct {
  bool negative, integral, overflow;
  uint64_t magnitude;
  double value;
} rk_json_number;
rk_status rk_json_number_read(rk_json_cursor *c, rk_json_number *out, const char *what);

/* Skip one value of any kind, checking it (depth: the nesting already entered). */
rk_status rk_json_skip(rk_json_cursor *c, int depth, const char *what);

/* ---- writing --------------------------------------------------------------------------------- */

typedef struct {
  char *buf;
  size_t size, cap;
  bool failed;           /* an allocation failed: the text is incomplete */
} rk_json_writer;

void rk_json_put(rk_json_writer *w, const char *text, size_t n);
void rk_json_put_str(rk_json_writer *w, const char *text);   /* raw, no quoting */
void rk_json_put_quoted(rk_json_writer *w, const char *text, size_t n);
void rk_json_put_int(rk_json_writer *w, int64_t v);
void rk_json_put_uint(rk_json_writer *w, uint64_t v);
/* A float as at most 9 significant digits, a double as "%.17g": enough that the text reads back
 * as the same float / double; NaN and infinities, which JSON lacks, as null (as Triton answers). */
void rk_json_put_float(rk_json_writer *w, float v);
void rk_json_put_double(rk_json_writer *w, double v);

#endif
