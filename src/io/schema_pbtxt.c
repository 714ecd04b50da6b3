/*
 * schema_pbtxt.c: the Merlin schema as `schema.pbtxt` (tensorflow-metadata Schema in protobuf
 * text format), and the google.protobuf.Struct binary codec its properties travel in.
 *
 * Merlin writes it with text_format.MessageToString after parsing betterproto's bytes into
 * schema_pb2.Schema (merlin/schema/io/proto_utils.py), so fields come in field-number order:
 * Feature: name 1, value_count 5, type 6, domain 7, int_domain 9, float_domain 10,
 * annotation 16, shape 23. Properties are `annotation { extra_metadata { type_url:
 * "type.googleapis.com/google.protobuf.Struct" value: "<Struct bytes>" } }`, the bytes escaped by
 * CEscape (pbtxt.c). Struct (struct.proto): field 1 map<string, Value> as entries {1: key,
 * 2: Value}; Value is a oneof of null_value 1 (varint), number_value 2 (double, fixed64),
 * string_value 3, bool_value 4 (varint), struct_value 5, list_value 6 (ListValue: repeated
 * Value 1). Entries are written in the property bag's order, as Python's map encoder writes a
 * dict's insertion order.
 *
 * It is not: a general protobuf codec. Feature fields that are not modelled are kept as a
 * generic tree and written back after the modelled ones; unknown fields inside modelled
 * messages are counted in rk_schema.n_dropped.
 *
 * Reference: tensorflow_metadata/proto/v0/schema.proto; google/protobuf/struct.proto;
 * protobuf.dev/programming-guides/encoding (wire format).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/schema_internal.h"

#define STRUCT_TYPE_URL "type.googleapis.com/google.protobuf.Struct"

/* ---- Struct decoding ------------------------------------------------------------------------ */
typedef struct {
  const uint8_t *p, *end, *start;
} wire;

static rk_status wire_error(const wire *w, const char *what) {
  return rk_error(RK_EFORMAT, "%s at byte %zu of the Struct", what, (size_t)(w->p - w->start));
}

static rk_status read_varint(wire *w, uint64_t *v) {
  uint64_t x = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (w->p >= w->end) return wire_error(w, "truncated varint");
    uint8_t b = *w->p++;
    x |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *v = x;
      return RK_OK;
    }
  }
  return wire_error(w, "varint longer than 10 bytes");
}

/* A length-delimited field's bytes as a sub-reader. */
static rk_status read_len(wire *w, wire *sub) {
  uint64_t n;
  RK_TRY(read_varint(w, &n));
  if (n > (uint64_t)(w->end - w->p)) return wire_error(w, "length past the end");
  sub->p = w->p;
  sub->end = w->p + n;
  sub->start = w->start;
  w->p += n;
  return RK_OK;
}

static rk_status skip_field(wire *w, uint32_t wtype) {
  uint64_t v;
  wire sub;
  switch (wtype) {
    case 0: return read_varint(w, &v);
    case 1:
      if (w->end - w->p < 8) return wire_error(w, "truncated fixed64");
      w->p += 8;
      return RK_OK;
    case 2: return read_len(w, &sub);
    case 5:
      if (w->end - w->p < 4) return wire_error(w, "truncated fixed32");
      w->p += 4;
      return RK_OK;
    default: return wire_error(w, "unsupported wire type");
  }
}

/* Strict UTF-8 (no overlongs, surrogates or code points past U+10FFFF), as jansson wants. */
static bool utf8_valid(const uint8_t *p, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t c = p[i];
    int need = c < 0x80 ? 0 : c >= 0xc2 && c < 0xe0 ? 1 : c >= 0xe0 && c < 0xf0 ? 2 : c >= 0xf0 && c < 0xf5 ? 3 : -1;
    if (need < 0 || n - i < (size_t)need + 1) return false;
    uint32_t v = need == 0 ? c : (uint32_t)(c & (0x3f >> need));
    for (int k = 1; k <= need; k++) {
      if ((p[i + k] & 0xc0) != 0x80) return false;
      v = v << 6 | (p[i + k] & 0x3f);
    }
    if ((need == 2 && v < 0x800) || (need == 3 && (v < 0x10000 || v > 0x10ffff)) || (v >= 0xd800 && v <= 0xdfff))
      return false;
    i += (size_t)need + 1;
  }
  return true;
}

static rk_status decode_struct(wire *w, json_t **out, int depth);

static rk_status decode_list(wire *w, json_t **out, int depth);

static rk_status decode_value(wire *w, json_t **out, int depth) {
  *out = NULL;
  if (depth > RK_STRUCT_MAX_DEPTH) return wire_error(w, "values nested too deeply");
  json_t *v = NULL;
  while (w->p < w->end) {
    uint64_t key;
    RK_TRY(read_varint(w, &key));
    uint32_t field = (uint32_t)(key >> 3), wtype = (uint32_t)(key & 7);
    json_t *next = NULL;
    rk_status s = RK_OK;
    wire sub;
    uint64_t u;
    if (field == 1 && wtype == 0) {
      s = read_varint(w, &u);
      if (s == RK_OK && !(next = json_null())) s = rk_schema_json_nomem();
    } else if (field == 2 && wtype == 1) {
      if (w->end - w->p < 8) {
        s = wire_error(w, "truncated number_value");
      } else {
        uint64_t bits = 0;
        for (int i = 7; i >= 0; i--) bits = bits << 8 | w->p[i];
        w->p += 8;
        double d;
        memcpy(&d, &bits, sizeof d);
        if (!isfinite(d)) s = wire_error(w, "non-finite number_value (unsupported)");
        else if (!(next = json_real(d))) s = rk_schema_json_nomem();
      }
    } else if (field == 3 && wtype == 2) {
      s = read_len(w, &sub);
      if (s == RK_OK && !utf8_valid(sub.p, (size_t)(sub.end - sub.p))) s = wire_error(w, "string_value that is not UTF-8");
      else if (s == RK_OK && !(next = json_stringn_nocheck((const char *)sub.p, (size_t)(sub.end - sub.p))))
        s = rk_schema_json_nomem();
    } else if (field == 4 && wtype == 0) {
      s = read_varint(w, &u);
      if (s == RK_OK && !(next = json_boolean(u != 0))) s = rk_schema_json_nomem();
    } else if (field == 5 && wtype == 2) {
      s = read_len(w, &sub);
      if (s == RK_OK) s = decode_struct(&sub, &next, depth + 1);
    } else if (field == 6 && wtype == 2) {
      s = read_len(w, &sub);
      if (s == RK_OK) s = decode_list(&sub, &next, depth + 1);
    } else {
      s = skip_field(w, wtype);
    }
    if (s != RK_OK) {
      json_decref(v);
      return s;
    }
    if (next) {   /* a oneof: the last member read wins */
      json_decref(v);
      v = next;
    }
  }
  if (!v && !(v = json_null())) return rk_schema_json_nomem();
  *out = v;
  return RK_OK;
}

static rk_status decode_list(wire *w, json_t **out, int depth) {
  *out = NULL;
  if (depth > RK_STRUCT_MAX_DEPTH) return wire_error(w, "values nested too deeply");
  json_t *list = json_array();
  if (!list) return rk_schema_json_nomem();
  while (w->p < w->end) {
    uint64_t key;
    rk_status s = read_varint(w, &key);
    wire sub;
    json_t *v = NULL;
    if (s == RK_OK) {
      if ((key >> 3) == 1 && (key & 7) == 2) {
        s = read_len(w, &sub);
        if (s == RK_OK) s = decode_value(&sub, &v, depth + 1);
        if (s == RK_OK && json_array_append_new(list, v) != 0) s = rk_schema_json_nomem();
      } else {
        s = skip_field(w, (uint32_t)(key & 7));
      }
    }
    if (s != RK_OK) {
      json_decref(list);
      return s;
    }
  }
  *out = list;
  return RK_OK;
}

static rk_status decode_entry(wire *w, json_t *object, int depth) {
  const uint8_t *key_p = NULL;
  size_t key_n = 0;
  json_t *value = NULL;
  rk_status s = RK_OK;
  while (s == RK_OK && w->p < w->end) {
    uint64_t key;
    s = read_varint(w, &key);
    if (s != RK_OK) break;
    wire sub;
    if ((key >> 3) == 1 && (key & 7) == 2) {
      s = read_len(w, &sub);
      if (s == RK_OK) {
        key_p = sub.p;
        key_n = (size_t)(sub.end - sub.p);
      }
    } else if ((key >> 3) == 2 && (key & 7) == 2) {
      s = read_len(w, &sub);
      json_t *v = NULL;
      if (s == RK_OK) s = decode_value(&sub, &v, depth + 1);
      if (s == RK_OK) {
        json_decref(value);
        value = v;
      }
    } else {
      s = skip_field(w, (uint32_t)(key & 7));
    }
  }
  if (s == RK_OK && !value && !(value = json_null())) s = rk_schema_json_nomem();
  if (s == RK_OK) {
    static const uint8_t empty[1] = {0};
    if (!key_p) key_p = empty;
    if (memchr(key_p, 0, key_n)) s = wire_error(w, "map key holding a NUL byte");
    else if (!utf8_valid(key_p, key_n)) s = wire_error(w, "map key that is not UTF-8");
    else {
      if (json_object_setn_new_nocheck(object, (const char *)key_p, key_n, value) != 0) s = rk_schema_json_nomem();
      value = NULL;   /* stolen, also on failure */
    }
  }
  json_decref(value);
  return s;
}

static rk_status decode_struct(wire *w, json_t **out, int depth) {
  *out = NULL;
  if (depth > RK_STRUCT_MAX_DEPTH) return wire_error(w, "values nested too deeply");
  json_t *object = json_object();
  if (!object) return rk_schema_json_nomem();
  while (w->p < w->end) {
    uint64_t key;
    rk_status s = read_varint(w, &key);
    wire sub;
    if (s == RK_OK) {
      if ((key >> 3) == 1 && (key & 7) == 2) {
        s = read_len(w, &sub);
        if (s == RK_OK) s = decode_entry(&sub, object, depth);
      } else {
        s = skip_field(w, (uint32_t)(key & 7));
      }
    }
    if (s != RK_OK) {
      json_decref(object);
      return s;
    }
  }
  *out = object;
  return RK_OK;
}

rk_status rk_struct_decode(json_t **out, const uint8_t *data, size_t len) {
  wire w = {data, data ? data + len : data, data};   /* an empty value may come as NULL: no offset on it */
  return decode_struct(&w, out, 0);
}

/* ---- Struct encoding: sizes first, then bytes, so no temporary buffers ------------------------ */
static size_t varint_size(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

static void put_varint(rk_schema_buf *b, uint64_t v) {
  uint8_t tmp[10];
  size_t n = 0;
  while (v >= 0x80) {
    tmp[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  tmp[n++] = (uint8_t)v;
  rk_schema_buf_put(b, tmp, n);
}

static size_t struct_size(const json_t *object, int depth);
static size_t list_size(const json_t *array, int depth);

/* Bytes of the Value message (without its own tag and length). SIZE_MAX: too deep. */
static size_t value_size(const json_t *v, int depth) {
  if (depth > RK_STRUCT_MAX_DEPTH) return SIZE_MAX;
  switch (json_typeof(v)) {
    case JSON_NULL: return 2;
    case JSON_TRUE:
    case JSON_FALSE: return 2;
    case JSON_INTEGER:
    case JSON_REAL: return 9;
    case JSON_STRING: {
      size_t n = json_string_length(v);
      return 1 + varint_size(n) + n;
    }
    case JSON_OBJECT: {
      size_t n = struct_size(v, depth + 1);
      return n == SIZE_MAX ? n : 1 + varint_size(n) + n;
    }
    case JSON_ARRAY: {
      size_t n = list_size(v, depth + 1);
      return n == SIZE_MAX ? n : 1 + varint_size(n) + n;
    }
  }
  return 2;
}

static size_t entry_size(const char *key, const json_t *v, int depth) {
  size_t k = strlen(key), n = value_size(v, depth + 1);
  if (n == SIZE_MAX) return n;
  return 1 + varint_size(k) + k + 1 + varint_size(n) + n;
}

static size_t struct_size(const json_t *object, int depth) {
  size_t total = 0;
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)object, key, v) {
    size_t n = entry_size(key, v, depth);
    if (n == SIZE_MAX) return n;
    total += 1 + varint_size(n) + n;
  }
  return total;
}

static size_t list_size(const json_t *array, int depth) {
  size_t total = 0;
  for (size_t i = 0; i < json_array_size(array); i++) {
    size_t n = value_size(json_array_get(array, i), depth + 1);
    if (n == SIZE_MAX) return n;
    total += 1 + varint_size(n) + n;
  }
  return total;
}

static void put_struct(rk_schema_buf *b, const json_t *object, int depth);
static void put_list(rk_schema_buf *b, const json_t *array, int depth);

static void put_value(rk_schema_buf *b, const json_t *v, int depth) {
  uint8_t tmp[9];
  switch (json_typeof(v)) {
    case JSON_NULL: rk_schema_buf_put(b, "\x08\x00", 2); return;
    case JSON_TRUE: rk_schema_buf_put(b, "\x20\x01", 2); return;
    case JSON_FALSE: rk_schema_buf_put(b, "\x20\x00", 2); return;
    case JSON_INTEGER:
    case JSON_REAL: {
      double d = json_number_value(v);
      uint64_t bits;
      memcpy(&bits, &d, sizeof bits);
      tmp[0] = 0x11;
      for (int i = 0; i < 8; i++) tmp[1 + i] = (uint8_t)(bits >> (8 * i));
      rk_schema_buf_put(b, tmp, 9);
      return;
    }
    case JSON_STRING:
      rk_schema_buf_put(b, "\x1a", 1);
      put_varint(b, json_string_length(v));
      rk_schema_buf_put(b, json_string_value(v), json_string_length(v));
      return;
    case JSON_OBJECT:
      rk_schema_buf_put(b, "\x2a", 1);
      put_varint(b, struct_size(v, depth + 1));
      put_struct(b, v, depth + 1);
      return;
    case JSON_ARRAY:
      rk_schema_buf_put(b, "\x32", 1);
      put_varint(b, list_size(v, depth + 1));
      put_list(b, v, depth + 1);
      return;
  }
}

static void put_struct(rk_schema_buf *b, const json_t *object, int depth) {
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)object, key, v) {
    size_t k = strlen(key);
    rk_schema_buf_put(b, "\x0a", 1);
    put_varint(b, entry_size(key, v, depth));
    rk_schema_buf_put(b, "\x0a", 1);
    put_varint(b, k);
    rk_schema_buf_put(b, key, k);
    rk_schema_buf_put(b, "\x12", 1);
    put_varint(b, value_size(v, depth + 1));
    put_value(b, v, depth + 1);
  }
}

static void put_list(rk_schema_buf *b, const json_t *array, int depth) {
  for (size_t i = 0; i < json_array_size(array); i++) {
    const json_t *v = json_array_get(array, i);
    rk_schema_buf_put(b, "\x0a", 1);
    put_varint(b, value_size(v, depth + 1));
    put_value(b, v, depth + 1);
  }
}

rk_status rk_struct_encode(rk_schema_buf *b, const json_t *object) {
  if (!json_is_object(object)) return rk_error(RK_EINVAL, "a Struct must be a JSON object");
  if (struct_size(object, 0) == SIZE_MAX)
    return rk_error(RK_EINVAL, "properties nested more than %d deep", RK_STRUCT_MAX_DEPTH);
  put_struct(b, object, 0);
  return b->status;
}

/* ---- reading the text format into the model -------------------------------------------------- */
typedef struct {
  const char *label;
  rk_schema *schema;
} reader;

static const char *kind_name(rk_pbtxt_kind k) {
  switch (k) {
    case RK_PBTXT_STRING: return "a string";
    case RK_PBTXT_NUMBER: return "a number";
    case RK_PBTXT_IDENT: return "an identifier";
    case RK_PBTXT_MESSAGE: return "a message";
  }
  return "a value";
}

static rk_status expect_kind(const reader *r, const rk_pbtxt_field *f, rk_pbtxt_kind kind, const char *what) {
  if (f->kind == kind) return RK_OK;
  return rk_error(RK_EFORMAT, "wrong type for '%s' in '%s' line %d: expected %s, found %s", f->name, r->label, f->line,
                  what, kind_name(f->kind));
}

static rk_status get_string(const reader *r, const rk_pbtxt_field *f, char **out) {
  RK_TRY(expect_kind(r, f, RK_PBTXT_STRING, "a quoted string"));
  if (memchr(f->value, 0, f->len))
    return rk_error(RK_EFORMAT, "string for '%s' holds a NUL byte in '%s' line %d", f->name, r->label, f->line);
  char *copy = rk_strndup(f->value, f->len);
  if (!copy) return RK_ENOMEM;
  rk_free(*out);
  *out = copy;
  return RK_OK;
}

static rk_status get_int64(const reader *r, const rk_pbtxt_field *f, int64_t *out) {
  if (f->kind != RK_PBTXT_NUMBER)
    return rk_error(RK_EFORMAT, "wrong type for '%s' in '%s' line %d: expected an integer, found %s", f->name, r->label,
                    f->line, kind_name(f->kind));
  errno = 0;
  char *end = NULL;
  long long v = strtoll(f->value, &end, 0);
  if (errno == ERANGE || end == f->value || *end != '\0')
    return rk_error(RK_EPARSE, "cannot parse '%s' as int64 for '%s' in '%s' line %d", f->value, f->name, r->label,
                    f->line);
  *out = v;
  return RK_OK;
}

static rk_status get_double(const reader *r, const rk_pbtxt_field *f, double *out) {
  if (f->kind != RK_PBTXT_NUMBER && f->kind != RK_PBTXT_IDENT)
    return rk_error(RK_EFORMAT, "wrong type for '%s' in '%s' line %d: expected a number, found %s", f->name, r->label,
                    f->line, kind_name(f->kind));
  char buf[64];
  size_t n = f->len;
  if (n >= sizeof buf) goto bad;
  memcpy(buf, f->value, n);
  buf[n] = '\0';
  if (n > 1 && (buf[n - 1] == 'f' || buf[n - 1] == 'F') && !strchr(buf, 'x') && !strchr(buf, 'X') &&
      strcmp(buf, "inf") != 0 && strcmp(buf, "-inf") != 0)
    buf[n - 1] = '\0';   /* 1.5f */
  char *end = NULL;
  double v = strtod(buf, &end);
  if (end == buf || *end != '\0') goto bad;
  *out = v;
  return RK_OK;
bad:
  return rk_error(RK_EPARSE, "cannot parse '%.40s' as a number for '%s' in '%s' line %d", f->value, f->name, r->label,
                  f->line);
}

static rk_status get_bool(const reader *r, const rk_pbtxt_field *f, bool *out) {
  const char *v = f->kind == RK_PBTXT_IDENT || f->kind == RK_PBTXT_NUMBER ? f->value : "";
  if (!strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "t") || !strcmp(v, "1")) {
    *out = true;
    return RK_OK;
  }
  if (!strcmp(v, "false") || !strcmp(v, "False") || !strcmp(v, "f") || !strcmp(v, "0")) {
    *out = false;
    return RK_OK;
  }
  return rk_error(RK_EPARSE, "cannot parse %s as a bool for '%s' in '%s' line %d, expected true or false",
                  f->kind == RK_PBTXT_MESSAGE ? "a message" : f->value, f->name, r->label, f->line);
}

static rk_status push_str(char ***list, int *n, char *s) {
  char **p = rk_realloc(*list, (size_t)(*n + 1) * sizeof *p);
  if (!p) {
    rk_free(s);
    return RK_ENOMEM;
  }
  *list = p;
  p[(*n)++] = s;
  return RK_OK;
}

static rk_status read_int_domain(reader *r, const rk_pbtxt_field *m, rk_schema_int_domain *d) {
  RK_TRY(expect_kind(r, m, RK_PBTXT_MESSAGE, "a message"));
  d->present = true;
  for (int i = 0; i < m->n_fields; i++) {
    const rk_pbtxt_field *f = &m->fields[i];
    if (!strcmp(f->name, "name")) RK_TRY(get_string(r, f, &d->name));
    else if (!strcmp(f->name, "min")) { RK_TRY(get_int64(r, f, &d->min)); d->has_min = true; }
    else if (!strcmp(f->name, "max")) { RK_TRY(get_int64(r, f, &d->max)); d->has_max = true; }
    else if (!strcmp(f->name, "is_categorical")) { RK_TRY(get_bool(r, f, &d->is_categorical)); d->has_is_categorical = true; }
    else r->schema->n_dropped++;
  }
  return RK_OK;
}

static rk_status read_float_domain(reader *r, const rk_pbtxt_field *m, rk_schema_float_domain *d) {
  RK_TRY(expect_kind(r, m, RK_PBTXT_MESSAGE, "a message"));
  d->present = true;
  for (int i = 0; i < m->n_fields; i++) {
    const rk_pbtxt_field *f = &m->fields[i];
    if (!strcmp(f->name, "name")) RK_TRY(get_string(r, f, &d->name));
    else if (!strcmp(f->name, "min")) { RK_TRY(get_double(r, f, &d->min)); d->has_min = true; }
    else if (!strcmp(f->name, "max")) { RK_TRY(get_double(r, f, &d->max)); d->has_max = true; }
    else r->schema->n_dropped++;
  }
  return RK_OK;
}

static rk_status read_value_count(reader *r, const rk_pbtxt_field *m, rk_schema_value_count *vc) {
  RK_TRY(expect_kind(r, m, RK_PBTXT_MESSAGE, "a message"));
  vc->present = true;
  for (int i = 0; i < m->n_fields; i++) {
    const rk_pbtxt_field *f = &m->fields[i];
    if (!strcmp(f->name, "min")) { RK_TRY(get_int64(r, f, &vc->min)); vc->has_min = true; }
    else if (!strcmp(f->name, "max")) { RK_TRY(get_int64(r, f, &vc->max)); vc->has_max = true; }
    else r->schema->n_dropped++;
  }
  return RK_OK;
}

static rk_status read_shape(reader *r, const rk_pbtxt_field *m, rk_schema_column *col) {
  RK_TRY(expect_kind(r, m, RK_PBTXT_MESSAGE, "a message"));
  col->has_shape = true;
  for (int i = 0; i < m->n_fields; i++) {
    const rk_pbtxt_field *dim = &m->fields[i];
    if (strcmp(dim->name, "dim") != 0) {
      r->schema->n_dropped++;
      continue;
    }
    RK_TRY(expect_kind(r, dim, RK_PBTXT_MESSAGE, "a message"));
    int64_t size = 0;
    for (int k = 0; k < dim->n_fields; k++) {
      if (!strcmp(dim->fields[k].name, "size")) RK_TRY(get_int64(r, &dim->fields[k], &size));
      else r->schema->n_dropped++;
    }
    int64_t *p = rk_realloc(col->shape, (size_t)(col->n_shape + 1) * sizeof *p);
    if (!p) return RK_ENOMEM;
    col->shape = p;
    p[col->n_shape++] = size;
  }
  return RK_OK;
}

static rk_status read_extra_metadata(reader *r, const rk_pbtxt_field *m, rk_schema_column *col) {
  RK_TRY(expect_kind(r, m, RK_PBTXT_MESSAGE, "a message"));
  if (col->properties)
    return rk_error(RK_EFORMAT, "second extra_metadata for feature '%s' in '%s' line %d, expected one (as Merlin does)",
                    col->name ? col->name : "", r->label, m->line);
  const rk_pbtxt_field *type_url = NULL, *value = NULL;
  for (int i = 0; i < m->n_fields; i++) {
    const rk_pbtxt_field *f = &m->fields[i];
    if (!strcmp(f->name, "type_url")) type_url = f;
    else if (!strcmp(f->name, "value")) value = f;
    else if (f->name[0] == '[')
      return rk_error(RK_EUNSUPPORTED, "expanded Any '%s' in '%s' line %d is not supported, expected type_url and value",
                      f->name, r->label, f->line);
    else r->schema->n_dropped++;
  }
  if (type_url) RK_TRY(expect_kind(r, type_url, RK_PBTXT_STRING, "a quoted string"));
  if (type_url && (type_url->len != strlen(STRUCT_TYPE_URL) || memcmp(type_url->value, STRUCT_TYPE_URL, type_url->len) != 0))
    return rk_error(RK_EUNSUPPORTED, "extra_metadata of type '%.200s' in '%s' line %d, expected '%s'", type_url->value,
                    r->label, type_url->line, STRUCT_TYPE_URL);
  if (value) RK_TRY(expect_kind(r, value, RK_PBTXT_STRING, "a quoted string of bytes"));
  json_t *props = NULL;
  rk_status s = rk_struct_decode(&props, value ? (const uint8_t *)value->value : NULL, value ? value->len : 0);
  if (s != RK_OK)
    return rk_error_context(s, "cannot decode extra_metadata of feature '%s' in '%s' line %d", col->name ? col->name : "",
                            r->label, value ? value->line : m->line);
  col->properties = props;
  return RK_OK;
}

static rk_status read_annotation(reader *r, const rk_pbtxt_field *m, rk_schema_column *col) {
  RK_TRY(expect_kind(r, m, RK_PBTXT_MESSAGE, "a message"));
  for (int i = 0; i < m->n_fields; i++) {
    const rk_pbtxt_field *f = &m->fields[i];
    if (!strcmp(f->name, "tag") || !strcmp(f->name, "comment")) {
      char *s = NULL;
      RK_TRY(get_string(r, f, &s));
      if (f->name[0] == 't') RK_TRY(push_str(&col->tags, &col->n_tags, s));
      else RK_TRY(push_str(&col->comments, &col->n_comments, s));
    } else if (!strcmp(f->name, "extra_metadata")) {
      RK_TRY(read_extra_metadata(r, f, col));
    } else {
      r->schema->n_dropped++;
    }
  }
  return RK_OK;
}

static rk_status keep_unknown(rk_pbtxt_field **slot, const rk_pbtxt_field *f) {
  if (!*slot) {
    *slot = rk_calloc(1, sizeof **slot);
    if (!*slot) return RK_ENOMEM;
    (*slot)->kind = RK_PBTXT_MESSAGE;
  }
  return rk_pbtxt_append_copy(*slot, f);
}

static rk_status read_feature(reader *r, const rk_pbtxt_field *m, rk_schema_column *col) {
  RK_TRY(expect_kind(r, m, RK_PBTXT_MESSAGE, "a message"));
  for (int i = 0; i < m->n_fields; i++) {
    const rk_pbtxt_field *f = &m->fields[i];
    const char *n = f->name;
    if (!strcmp(n, "name")) {
      RK_TRY(get_string(r, f, &col->name));
    } else if (!strcmp(n, "type")) {
      int64_t v;
      if (f->kind == RK_PBTXT_IDENT) {
        rk_schema_ftype t;
        if (rk_schema_ftype_parse(f->value, &t) != RK_OK)
          return rk_error(RK_EPARSE, "unknown feature type '%s' in '%s' line %d, expected INT, FLOAT, BYTES or STRUCT",
                          f->value, r->label, f->line);
        col->ftype = t;
      } else if (get_int64(r, f, &v) == RK_OK && v >= 0 && v <= 4) {
        col->ftype = (rk_schema_ftype)v;
      } else {
        return rk_error(RK_EPARSE, "unknown feature type in '%s' line %d, expected INT, FLOAT, BYTES or STRUCT", r->label,
                        f->line);
      }
    } else if (!strcmp(n, "domain")) {
      RK_TRY(get_string(r, f, &col->domain_ref));
    } else if (!strcmp(n, "int_domain")) {
      RK_TRY(read_int_domain(r, f, &col->int_domain));
    } else if (!strcmp(n, "float_domain")) {
      RK_TRY(read_float_domain(r, f, &col->float_domain));
    } else if (!strcmp(n, "value_count")) {
      RK_TRY(read_value_count(r, f, &col->value_count));
    } else if (!strcmp(n, "shape")) {
      RK_TRY(read_shape(r, f, col));
    } else if (!strcmp(n, "annotation")) {
      RK_TRY(read_annotation(r, f, col));
    } else {
      RK_TRY(keep_unknown(&col->unknown_pbtxt, f));
    }
  }
  if (!col->name)
    return rk_error(RK_EFORMAT, "feature without a name in '%s' line %d, expected a 'name' field", r->label, m->line);
  rk_schema_column_derive(col);
  return RK_OK;
}

rk_status rk_schema_parse_pbtxt(rk_schema *out, const char *text, size_t len, const char *label) {
  rk_schema_init(out);
  if (!label) label = "<pbtxt>";
  rk_pbtxt_field root;
  RK_TRY(rk_pbtxt_parse(&root, text, len, label));
  reader r = {label, out};
  rk_status s = RK_OK;
  rk_name_index seen;   /* duplicates in one pass: a lookup per feature made loading quadratic */
  rk_name_index_init(&seen);
  for (int i = 0; i < root.n_fields && s == RK_OK; i++) {
    const rk_pbtxt_field *f = &root.fields[i];
    if (strcmp(f->name, "feature") == 0) {
      rk_schema_column *col;
      int twice = -1;
      s = rk_schema_push_column(out, &col);
      if (s == RK_OK) s = read_feature(&r, f, col);
      if (s == RK_OK) s = rk_name_index_put(&seen, col->name, i, &twice);
      if (s == RK_OK && twice >= 0)
        s = rk_error(RK_EFORMAT, "duplicate feature '%s' in '%s' line %d", col->name, label, f->line);
    } else {
      s = keep_unknown(&out->unknown_pbtxt, f);
    }
  }
  rk_name_index_free(&seen);
  rk_pbtxt_field_clear(&root);
  if (s != RK_OK) rk_schema_free(out);
  return s;
}

/* ---- writing --------------------------------------------------------------------------------- */
static void put_line_str(rk_schema_buf *b, int indent, const char *name, const char *v) {
  rk_schema_buf_indent(b, indent);
  rk_schema_buf_puts(b, name);
  rk_schema_buf_puts(b, ": ");
  rk_pbtxt_write_string(b, v, strlen(v));
  rk_schema_buf_puts(b, "\n");
}

static void put_line_int(rk_schema_buf *b, int indent, const char *name, int64_t v) {
  rk_schema_buf_indent(b, indent);
  rk_schema_buf_printf(b, "%s: %lld\n", name, (long long)v);
}

static void put_line_raw(rk_schema_buf *b, int indent, const char *name, const char *v) {
  rk_schema_buf_indent(b, indent);
  rk_schema_buf_printf(b, "%s: %s\n", name, v);
}

static void open_msg(rk_schema_buf *b, int indent, const char *name) {
  rk_schema_buf_indent(b, indent);
  rk_schema_buf_puts(b, name);
  rk_schema_buf_puts(b, " {\n");
}

static void close_msg(rk_schema_buf *b, int indent) {
  rk_schema_buf_indent(b, indent);
  rk_schema_buf_puts(b, "}\n");
}

static rk_status write_feature(rk_schema_buf *b, const rk_schema_column *col) {
  char num[32];
  open_msg(b, 0, "feature");
  put_line_str(b, 2, "name", col->name ? col->name : "");
  const rk_schema_value_count *vc = &col->value_count;
  if (vc->present) {
    open_msg(b, 2, "value_count");
    if (vc->has_min) put_line_int(b, 4, "min", vc->min);
    if (vc->has_max) put_line_int(b, 4, "max", vc->max);
    close_msg(b, 2);
  }
  if (col->ftype != RK_SCHEMA_TYPE_UNKNOWN) put_line_raw(b, 2, "type", rk_schema_ftype_name(col->ftype));
  if (col->domain_ref) put_line_str(b, 2, "domain", col->domain_ref);
  const rk_schema_int_domain *id = &col->int_domain;
  if (id->present) {
    open_msg(b, 2, "int_domain");
    if (id->name) put_line_str(b, 4, "name", id->name);
    if (id->has_min) put_line_int(b, 4, "min", id->min);
    if (id->has_max) put_line_int(b, 4, "max", id->max);
    if (id->has_is_categorical) put_line_raw(b, 4, "is_categorical", id->is_categorical ? "true" : "false");
    close_msg(b, 2);
  }
  const rk_schema_float_domain *fd = &col->float_domain;
  if (fd->present) {
    open_msg(b, 2, "float_domain");
    if (fd->name) put_line_str(b, 4, "name", fd->name);
    if (fd->has_min) put_line_raw(b, 4, "min", rk_py_float32_str(num, fd->min));
    if (fd->has_max) put_line_raw(b, 4, "max", rk_py_float32_str(num, fd->max));
    close_msg(b, 2);
  }
  json_t *props = NULL;
  RK_TRY(rk_schema_column_export_properties(col, &props));
  if (col->n_tags > 0 || col->n_comments > 0 || props) {
    open_msg(b, 2, "annotation");
    for (int i = 0; i < col->n_tags; i++) put_line_str(b, 4, "tag", col->tags[i]);
    for (int i = 0; i < col->n_comments; i++) put_line_str(b, 4, "comment", col->comments[i]);
    if (props) {
      rk_schema_buf bytes = {0};
      rk_status s = rk_struct_encode(&bytes, props);
      json_decref(props);
      if (s != RK_OK) {
        rk_free(bytes.data);
        return s;
      }
      open_msg(b, 4, "extra_metadata");
      put_line_str(b, 6, "type_url", STRUCT_TYPE_URL);
      rk_schema_buf_indent(b, 6);
      rk_schema_buf_puts(b, "value: ");
      rk_pbtxt_write_string(b, bytes.data ? bytes.data : "", bytes.len);
      rk_schema_buf_puts(b, "\n");
      rk_free(bytes.data);
      close_msg(b, 4);
    }
    close_msg(b, 2);
  }
  if (col->has_shape) {
    open_msg(b, 2, "shape");
    for (int i = 0; i < col->n_shape; i++) {
      open_msg(b, 4, "dim");
      put_line_int(b, 6, "size", col->shape[i]);
      close_msg(b, 4);
    }
    close_msg(b, 2);
  }
  if (col->unknown_pbtxt)
    for (int i = 0; i < col->unknown_pbtxt->n_fields; i++) rk_pbtxt_write_field(b, &col->unknown_pbtxt->fields[i], 2);
  close_msg(b, 0);
  return b->status;
}

rk_status rk_schema_to_pbtxt(const rk_schema *schema, char **text, size_t *len) {
  rk_schema_buf b = {0};
  for (int i = 0; i < schema->n_cols && b.status == RK_OK; i++) {
    rk_status s = write_feature(&b, &schema->cols[i]);
    if (s != RK_OK && b.status == RK_OK) b.status = s;
  }
  if (schema->unknown_pbtxt)
    for (int i = 0; i < schema->unknown_pbtxt->n_fields; i++) rk_pbtxt_write_field(&b, &schema->unknown_pbtxt->fields[i], 0);
  return rk_schema_buf_finish(&b, text, len);
}
