/*
 * pbtxt.c: protobuf text format, read into a generic tree of fields and written back.
 *
 * Reads what text_format.Parse accepts for the messages a schema holds: `name: value` and
 * `name { ... }` (also `name: { ... }` and `< >`), `#` comments, `,` or `;` after a field, list
 * values `tag: ["a", "b"]`, strings in double or single quotes with C escapes (\n \t \r \" \'
 * \\ \a \b \f \v \?, octal \NNN, hex \xHH, \uXXXX, \UXXXXXXXX) and adjacent strings joined.
 * Numbers and identifiers are kept as tokens; the schema layer gives them types. Writes as
 * text_format.MessageToString does: two-space indent, `name: value`, `name {`, strings through
 * CEscape with as_utf8=False (octal for bytes below 32 except \t \n \r, and from 127 up).
 *
 * It is not: a parser that knows message types (no descriptors), or a protobuf binary codec.
 * Every read is bounds-checked and nesting is limited (RK_PBTXT_MAX_DEPTH): malformed input
 * gives an error naming the line, never a crash.
 *
 * Reference: protobuf.dev/reference/protobuf/textformat-spec; python/google/protobuf/text_format.py
 * and text_encoding.py (CEscape) in protocolbuffers/protobuf.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "io/schema_internal.h"

/* ---- text buffer ------------------------------------------------------------------------------ */
void rk_schema_buf_put(rk_schema_buf *b, const void *data, size_t n) {
  if (b->status != RK_OK) return;
  if (n > SIZE_MAX - b->len - 1) {
    b->status = rk_error(RK_ENOMEM, "out of memory: text of %zu bytes", b->len);
    return;
  }
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1) cap = cap > SIZE_MAX / 2 ? b->len + n + 1 : cap * 2;
    char *p = rk_realloc(b->data, cap);
    if (!p) {
      b->status = RK_ENOMEM;
      return;
    }
    b->data = p;
    b->cap = cap;
  }
  if (n) memcpy(b->data + b->len, data, n);
  b->len += n;
  b->data[b->len] = '\0';
}

void rk_schema_buf_puts(rk_schema_buf *b, const char *s) { rk_schema_buf_put(b, s, strlen(s)); }

void rk_schema_buf_printf(rk_schema_buf *b, const char *fmt, ...) {
  char small[128];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0) {
    if (b->status == RK_OK) b->status = rk_error(RK_EINTERNAL, "cannot format '%s'", fmt);
    return;
  }
  if ((size_t)n < sizeof small) {
    rk_schema_buf_put(b, small, (size_t)n);
    return;
  }
  char *big = rk_malloc((size_t)n + 1);
  if (!big) {
    if (b->status == RK_OK) b->status = RK_ENOMEM;
    return;
  }
  va_start(ap, fmt);
  vsnprintf(big, (size_t)n + 1, fmt, ap);
  va_end(ap);
  rk_schema_buf_put(b, big, (size_t)n);
  rk_free(big);
}

void rk_schema_buf_indent(rk_schema_buf *b, int n) {
  static const char spaces[] = "                                ";
  while (n > 0) {
    int k = n < 32 ? n : 32;
    rk_schema_buf_put(b, spaces, (size_t)k);
    n -= k;
  }
}

rk_status rk_schema_buf_finish(rk_schema_buf *b, char **text, size_t *len) {
  if (b->status == RK_OK && !b->data) rk_schema_buf_put(b, "", 0);
  if (b->status != RK_OK) {
    rk_free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    *text = NULL;
    if (len) *len = 0;
    return b->status;
  }
  *text = b->data;
  if (len) *len = b->len;
  b->data = NULL;
  b->len = b->cap = 0;
  return RK_OK;
}

/* ---- the tree ------------------------------------------------------------------------------- */
void rk_pbtxt_field_clear(rk_pbtxt_field *field) {
  if (!field) return;
  for (int i = 0; i < field->n_fields; i++) rk_pbtxt_field_clear(&field->fields[i]);
  rk_free(field->fields);
  rk_free(field->name);
  rk_free(field->value);
  memset(field, 0, sizeof *field);
}

/* A new zeroed child at the end of `msg`; NULL when memory runs out. */
static rk_pbtxt_field *push_child(rk_pbtxt_field *msg) {
  if (msg->n_fields == msg->cap_fields) {
    int cap = msg->cap_fields ? msg->cap_fields * 2 : 4;
    if (cap > (1 << 28)) {
      rk_error(RK_ENOMEM, "out of memory: too many fields in one message");
      return NULL;
    }
    rk_pbtxt_field *p = rk_realloc(msg->fields, (size_t)cap * sizeof *p);
    if (!p) return NULL;
    msg->fields = p;
    msg->cap_fields = cap;
  }
  rk_pbtxt_field *f = &msg->fields[msg->n_fields++];
  memset(f, 0, sizeof *f);
  return f;
}

static rk_status copy_into(rk_pbtxt_field *dst, const rk_pbtxt_field *src, int depth) {
  if (depth > RK_PBTXT_MAX_DEPTH) return rk_error(RK_EFORMAT, "text-format message nested too deeply");
  dst->line = src->line;
  dst->kind = src->kind;
  dst->name = src->name ? rk_strdup(src->name) : NULL;
  if (src->name && !dst->name) return RK_ENOMEM;
  if (src->value) {
    dst->value = rk_malloc(src->len + 1);
    if (!dst->value) return RK_ENOMEM;
    memcpy(dst->value, src->value, src->len);
    dst->value[src->len] = '\0';
    dst->len = src->len;
  }
  for (int i = 0; i < src->n_fields; i++) {
    rk_pbtxt_field *c = push_child(dst);
    if (!c) return RK_ENOMEM;
    RK_TRY(copy_into(c, &src->fields[i], depth + 1));
  }
  return RK_OK;
}

rk_status rk_pbtxt_append_copy(rk_pbtxt_field *dst, const rk_pbtxt_field *src) {
  rk_pbtxt_field *c = push_child(dst);
  if (!c) return RK_ENOMEM;
  rk_status s = copy_into(c, src, 0);
  if (s != RK_OK) {
    rk_pbtxt_field_clear(c);
    dst->n_fields--;
  }
  return s;
}

bool rk_pbtxt_field_equal(const rk_pbtxt_field *a, const rk_pbtxt_field *b) {
  if (!a || !b) return a == b;
  if (a->kind != b->kind || a->n_fields != b->n_fields || a->len != b->len) return false;
  if ((a->name == NULL) != (b->name == NULL) || (a->name && strcmp(a->name, b->name) != 0)) return false;
  if ((a->value == NULL) != (b->value == NULL) || (a->value && memcmp(a->value, b->value, a->len) != 0)) return false;
  for (int i = 0; i < a->n_fields; i++)
    if (!rk_pbtxt_field_equal(&a->fields[i], &b->fields[i])) return false;
  return true;
}

/* ---- the lexer ------------------------------------------------------------------------------ */
typedef struct {
  const char *p;
  const char *end;
  int line;
  const char *label;
} lexer;

static void skip_space(lexer *lx) {
  while (lx->p < lx->end) {
    char c = *lx->p;
    if (c == '\n') {
      lx->line++;
      lx->p++;
    } else if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
      lx->p++;
    } else if (c == '#') {
      while (lx->p < lx->end && *lx->p != '\n') lx->p++;
    } else {
      break;
    }
  }
}

/* What is at the cursor, quoted for a message: "'}'", "end of file". */
static const char *describe_here(const lexer *lx, char *buf, size_t size) {
  if (lx->p >= lx->end) return "end of file";
  unsigned char c = (unsigned char)*lx->p;
  if (c >= 0x20 && c < 0x7f) snprintf(buf, size, "'%c'", c);
  else snprintf(buf, size, "byte 0x%02x", c);
  return buf;
}

static rk_status unexpected(const lexer *lx, const char *expected) {
  char here[16];
  return rk_error(RK_EPARSE, "unexpected %s in '%s' line %d, expected %s", describe_here(lx, here, sizeof here),
                  lx->label, lx->line, expected);
}

static bool is_ident_start(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
static bool is_ident_char(char c) { return is_ident_start(c) || (c >= '0' && c <= '9'); }

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static void put_utf8(rk_schema_buf *b, uint32_t cp) {
  unsigned char u[4];
  size_t n;
  if (cp < 0x80) { u[0] = (unsigned char)cp; n = 1; }
  else if (cp < 0x800) { u[0] = (unsigned char)(0xc0 | (cp >> 6)); u[1] = (unsigned char)(0x80 | (cp & 0x3f)); n = 2; }
  else if (cp < 0x10000) {
    u[0] = (unsigned char)(0xe0 | (cp >> 12)); u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
    u[2] = (unsigned char)(0x80 | (cp & 0x3f)); n = 3;
  } else {
    u[0] = (unsigned char)(0xf0 | (cp >> 18)); u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
    u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f)); u[3] = (unsigned char)(0x80 | (cp & 0x3f)); n = 4;
  }
  rk_schema_buf_put(b, u, n);
}

/* One quoted string at the cursor (which is on the quote), unescaped into b. */
static rk_status lex_string(lexer *lx, rk_schema_buf *b) {
  char quote = *lx->p++;
  int start_line = lx->line;
  while (true) {
    if (lx->p >= lx->end || *lx->p == '\n')
      return rk_error(RK_EPARSE, "unterminated string in '%s' line %d, expected a closing %c", lx->label,
                      start_line, quote);
    char c = *lx->p++;
    if (c == quote) return RK_OK;
    if (c != '\\') {
      rk_schema_buf_put(b, &c, 1);
      continue;
    }
    if (lx->p >= lx->end)
      return rk_error(RK_EPARSE, "unterminated string in '%s' line %d, expected a closing %c", lx->label,
                      start_line, quote);
    char e = *lx->p++;
    char out;
    switch (e) {
      case 'n': out = '\n'; break;
      case 't': out = '\t'; break;
      case 'r': out = '\r'; break;
      case 'a': out = '\a'; break;
      case 'b': out = '\b'; break;
      case 'f': out = '\f'; break;
      case 'v': out = '\v'; break;
      case '"': out = '"'; break;
      case '\'': out = '\''; break;
      case '\\': out = '\\'; break;
      case '?': out = '?'; break;
      case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7': {
        unsigned v = (unsigned)(e - '0');
        for (int k = 0; k < 2 && lx->p < lx->end && *lx->p >= '0' && *lx->p <= '7'; k++) v = v * 8 + (unsigned)(*lx->p++ - '0');
        if (v > 255)
          return rk_error(RK_EPARSE, "octal escape above \\377 in a string in '%s' line %d", lx->label, lx->line);
        out = (char)v;
        break;
      }
      case 'x': case 'X': {
        int v = 0, k = 0;
        while (k < 2 && lx->p < lx->end && hex_value(*lx->p) >= 0) v = v * 16 + hex_value(*lx->p++), k++;
        if (k == 0)
          return rk_error(RK_EPARSE, "bad escape '\\x' without hex digits in a string in '%s' line %d", lx->label,
                          lx->line);
        out = (char)v;
        break;
      }
      case 'u': case 'U': {
        int digits = e == 'u' ? 4 : 8;
        uint32_t cp = 0;
        for (int k = 0; k < digits; k++) {
          int h = lx->p < lx->end ? hex_value(*lx->p) : -1;
          if (h < 0)
            return rk_error(RK_EPARSE, "bad escape '\\%c' (expected %d hex digits) in a string in '%s' line %d", e,
                            digits, lx->label, lx->line);
          cp = cp * 16 + (uint32_t)h;
          lx->p++;
        }
        if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
          return rk_error(RK_EPARSE, "bad escape: code point U+%X is not a character, in a string in '%s' line %d",
                          (unsigned)cp, lx->label, lx->line);
        put_utf8(b, cp);
        continue;
      }
      default: {
        unsigned char u = (unsigned char)e;
        if (u >= 0x20 && u < 0x7f)
          return rk_error(RK_EPARSE, "bad escape '\\%c' in a string in '%s' line %d", e, lx->label, lx->line);
        return rk_error(RK_EPARSE, "bad escape (backslash before byte 0x%02x) in a string in '%s' line %d", u,
                        lx->label, lx->line);
      }
    }
    rk_schema_buf_put(b, &out, 1);
  }
}

static rk_status set_token(rk_pbtxt_field *f, rk_pbtxt_kind kind, const char *s, size_t n) {
  f->kind = kind;
  f->value = rk_strndup(s, n);
  if (!f->value) return RK_ENOMEM;
  f->len = n;
  return RK_OK;
}

static rk_status parse_message_body(lexer *lx, rk_pbtxt_field *msg, char close, int depth);

/* A value at the cursor for field f (name already set): a message or a scalar. */
static rk_status parse_value(lexer *lx, rk_pbtxt_field *f, bool had_colon, int depth) {
  if (lx->p < lx->end && (*lx->p == '{' || *lx->p == '<')) {
    if (depth >= RK_PBTXT_MAX_DEPTH)
      return rk_error(RK_EPARSE, "messages nested more than %d deep in '%s' line %d", RK_PBTXT_MAX_DEPTH, lx->label,
                      lx->line);
    char close = *lx->p == '{' ? '}' : '>';
    lx->p++;
    f->kind = RK_PBTXT_MESSAGE;
    return parse_message_body(lx, f, close, depth + 1);
  }
  if (!had_colon) {
    char what[160];
    snprintf(what, sizeof what, "':' or '{' after field '%.100s'", f->name);
    return unexpected(lx, what);
  }
  if (lx->p >= lx->end) {
    char what[160];
    snprintf(what, sizeof what, "a value for field '%.100s'", f->name);
    return unexpected(lx, what);
  }
  char c = *lx->p;
  if (c == '"' || c == '\'') {
    rk_schema_buf b = {0};
    rk_status s = lex_string(lx, &b);
    while (s == RK_OK) {   /* adjacent strings are one value */
      lexer save = *lx;
      skip_space(lx);
      if (lx->p < lx->end && (*lx->p == '"' || *lx->p == '\'')) {
        s = lex_string(lx, &b);
      } else {
        *lx = save;
        break;
      }
    }
    if (s == RK_OK) s = b.status;
    if (s != RK_OK) {
      rk_free(b.data);
      return s;
    }
    f->kind = RK_PBTXT_STRING;
    size_t n = b.len;
    s = rk_schema_buf_finish(&b, &f->value, NULL);
    if (s != RK_OK) return s;
    f->len = n;
    return RK_OK;
  }
  const char *start = lx->p;
  if (c == '-' || c == '+' || c == '.' || (c >= '0' && c <= '9')) {
    lx->p++;
    while (lx->p < lx->end) {
      char d = *lx->p;
      if (is_ident_char(d) || d == '.') {
        lx->p++;
      } else if ((d == '-' || d == '+') && (lx->p[-1] == 'e' || lx->p[-1] == 'E') && !(start + 1 < lx->end && (start[1] == 'x' || start[1] == 'X'))) {
        lx->p++;
      } else {
        break;
      }
    }
    if (lx->p - start == 1 && (c == '-' || c == '+' || c == '.')) {
      lx->p = start;
      char what[160];
      snprintf(what, sizeof what, "a value for field '%.100s'", f->name);
      return unexpected(lx, what);
    }
    return set_token(f, RK_PBTXT_NUMBER, start, (size_t)(lx->p - start));
  }
  if (is_ident_start(c)) {
    while (lx->p < lx->end && is_ident_char(*lx->p)) lx->p++;
    return set_token(f, RK_PBTXT_IDENT, start, (size_t)(lx->p - start));
  }
  char what[160];
  snprintf(what, sizeof what, "a value for field '%.100s'", f->name);
  return unexpected(lx, what);
}

static rk_status parse_message_body(lexer *lx, rk_pbtxt_field *msg, char close, int depth) {
  int open_line = lx->line;
  while (true) {
    skip_space(lx);
    if (lx->p >= lx->end) {
      if (close == 0) return RK_OK;
      return rk_error(RK_EPARSE, "unexpected end of file in '%s' line %d, expected '%c' to close the message opened on line %d",
                      lx->label, lx->line, close, open_line);
    }
    if (close != 0 && *lx->p == close) {
      lx->p++;
      return RK_OK;
    }
    /* field name */
    const char *start = lx->p;
    int line = lx->line;
    if (*lx->p == '[') {
      while (lx->p < lx->end && *lx->p != ']' && *lx->p != '\n') lx->p++;
      if (lx->p >= lx->end || *lx->p != ']') {
        lx->p = start;
        return rk_error(RK_EPARSE, "unterminated extension name in '%s' line %d, expected ']'", lx->label, line);
      }
      lx->p++;
    } else if (is_ident_start(*lx->p)) {
      while (lx->p < lx->end && is_ident_char(*lx->p)) lx->p++;
    } else {
      return unexpected(lx, close ? "a field name or the end of the message" : "a field name");
    }
    size_t name_len = (size_t)(lx->p - start);
    skip_space(lx);
    bool colon = lx->p < lx->end && *lx->p == ':';
    if (colon) {
      lx->p++;
      skip_space(lx);
    }
    /* `f: [1, 2]`, and for messages also `f [ {...}, {...} ]` (the colon is optional before a
     * message, so before a list of them: Triton's config.pbtxt files are written so) */
    bool list = lx->p < lx->end && *lx->p == '[';
    if (list && !colon) {
      lexer peek = *lx;
      peek.p++;
      skip_space(&peek);
      list = peek.p < peek.end && (*peek.p == '{' || *peek.p == '<' || *peek.p == ']');
    }
    if (list) {
      lx->p++;
      skip_space(lx);
      if (lx->p < lx->end && *lx->p == ']') {
        lx->p++;
      } else {
        while (true) {
          rk_pbtxt_field *f = push_child(msg);
          if (!f) return RK_ENOMEM;
          f->line = lx->line;
          f->name = rk_strndup(start, name_len);
          if (!f->name) return RK_ENOMEM;
          RK_TRY(parse_value(lx, f, colon, depth));
          skip_space(lx);
          if (lx->p < lx->end && *lx->p == ',') {
            lx->p++;
            skip_space(lx);
            continue;
          }
          if (lx->p < lx->end && *lx->p == ']') {
            lx->p++;
            break;
          }
          return unexpected(lx, "',' or ']' in a list value");
        }
      }
    } else {
      rk_pbtxt_field *f = push_child(msg);
      if (!f) return RK_ENOMEM;
      f->line = line;
      f->name = rk_strndup(start, name_len);
      if (!f->name) return RK_ENOMEM;
      RK_TRY(parse_value(lx, f, colon, depth));
    }
    skip_space(lx);
    if (lx->p < lx->end && (*lx->p == ',' || *lx->p == ';')) lx->p++;
  }
}

rk_status rk_pbtxt_parse(rk_pbtxt_field *root, const char *text, size_t len, const char *label) {
  memset(root, 0, sizeof *root);
  root->kind = RK_PBTXT_MESSAGE;
  root->line = 1;
  lexer lx = {text, text + len, 1, label ? label : "<text>"};
  rk_status s = parse_message_body(&lx, root, 0, 0);
  if (s != RK_OK) {
    rk_pbtxt_field_clear(root);
    root->kind = RK_PBTXT_MESSAGE;
  }
  return s;
}

/* ---- the writer ----------------------------------------------------------------------------- */
void rk_pbtxt_write_string(rk_schema_buf *b, const char *s, size_t n) {
  rk_schema_buf_put(b, "\"", 1);
  size_t run = 0;   /* bytes that need no escape, written in one go */
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    const char *esc = NULL;
    char oct[5];
    switch (c) {
      case '\t': esc = "\\t"; break;
      case '\n': esc = "\\n"; break;
      case '\r': esc = "\\r"; break;
      case '"': esc = "\\\""; break;
      case '\'': esc = "\\'"; break;
      case '\\': esc = "\\\\"; break;
      default:
        if (c < 32 || c >= 127) {
          snprintf(oct, sizeof oct, "\\%03o", c);
          esc = oct;
        }
    }
    if (!esc) {
      run++;
      continue;
    }
    rk_schema_buf_put(b, s + i - run, run);
    run = 0;
    rk_schema_buf_puts(b, esc);
  }
  rk_schema_buf_put(b, s + n - run, run);
  rk_schema_buf_put(b, "\"", 1);
}

void rk_pbtxt_write_field(rk_schema_buf *b, const rk_pbtxt_field *field, int indent) {
  rk_schema_buf_indent(b, indent);
  rk_schema_buf_puts(b, field->name ? field->name : "");
  switch (field->kind) {
    case RK_PBTXT_MESSAGE:
      rk_schema_buf_puts(b, " {\n");
      for (int i = 0; i < field->n_fields; i++) rk_pbtxt_write_field(b, &field->fields[i], indent + 2);
      rk_schema_buf_indent(b, indent);
      rk_schema_buf_puts(b, "}\n");
      return;
    case RK_PBTXT_STRING:
      rk_schema_buf_puts(b, ": ");
      rk_pbtxt_write_string(b, field->value ? field->value : "", field->len);
      break;
    case RK_PBTXT_NUMBER:
    case RK_PBTXT_IDENT:
      rk_schema_buf_puts(b, ": ");
      rk_schema_buf_put(b, field->value ? field->value : "", field->value ? field->len : 0);
      break;
  }
  rk_schema_buf_puts(b, "\n");
}
