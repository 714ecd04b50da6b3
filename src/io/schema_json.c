/*
 * schema_json.c: the Merlin schema as `.merlin/schema.json` (tensorflow-metadata Schema in
 * proto3 JSON).
 *
 * Merlin writes it with betterproto 1.x `to_json()`, which is Python's `json.dumps(to_dict())`:
 * one line, ", " and ": " separators, ASCII only (\uXXXX), floats as repr(), no final newline.
 * to_dict() walks fields in declaration order (Feature: name, shape, valueCount, type, domain,
 * intDomain, floatDomain, annotation), camelCase keys, int64 as strings, enums by name, and
 * skips values equal to their default. extra_metadata is Merlin's own Any whose to_dict() is
 * the Struct as a plain object, so `annotation.extraMetadata` is a list of property objects
 * with every number a float ("dtype_item_size": 32.0).
 *
 * Reads that and proto3 JSON from other writers (google.protobuf.json_format, e.g. the
 * Transformers4Rec test schema): snake_case keys too, int64 as strings or numbers, float
 * strings "NaN" / "Infinity", Any as {"@type": ..., "value": {...}}. Keys that are not modelled
 * are kept (unknown_json) and written back after the modelled ones.
 *
 * It is not: a JSON parser (jansson parses; its line and column name syntax errors).
 *
 * Reference: protobuf.dev/programming-guides/proto3/#json; danielgtaylor/python-betterproto
 * v1.2.5 `Message.to_dict`; NVIDIA-Merlin/core merlin/schema/io/schema_bp.py (`Any`).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/schema_internal.h"

#define STRUCT_TYPE_URL "type.googleapis.com/google.protobuf.Struct"

/* ---- reading --------------------------------------------------------------------------------- */
typedef struct {
  const char *label;
  rk_schema *schema;
  int index;          /* feature index, for messages */
  const char *feature;
} reader;

static const char *type_name(const json_t *v) {
  switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a bool";
    case JSON_NULL: return "null";
  }
  return "a value";
}

static rk_status wrong(const reader *r, const char *key, const json_t *v, const char *expected) {
  if (r->feature)
    return rk_error(RK_EFORMAT, "wrong type for '%s' of feature '%s' in '%s': expected %s, found %s", key, r->feature,
                    r->label, expected, type_name(v));
  return rk_error(RK_EFORMAT, "wrong type for '%s' of feature %d in '%s': expected %s, found %s", key, r->index,
                  r->label, expected, type_name(v));
}

/* The value under `key`; null counts as absent (proto3 JSON; betterproto writes a domain
 * without a name as "name": null). */
static json_t *get(const json_t *obj, const char *key) {
  json_t *v = json_object_get(obj, key);
  return json_is_null(v) ? NULL : v;
}

/* The value under the camelCase or the snake_case key. */
static json_t *get2(const json_t *obj, const char *camel, const char *snake) {
  json_t *v = get(obj, camel);
  return v ? v : get(obj, snake);
}

static rk_status get_string(const reader *r, const char *key, const json_t *v, char **out) {
  if (!json_is_string(v)) return wrong(r, key, v, "a string");
  if (memchr(json_string_value(v), 0, json_string_length(v)))
    return rk_error(RK_EFORMAT, "string for '%s' holds a NUL character in '%s'", key, r->label);
  char *copy = rk_strdup(json_string_value(v));
  if (!copy) return RK_ENOMEM;
  rk_free(*out);
  *out = copy;
  return RK_OK;
}

static rk_status get_int64(const reader *r, const char *key, const json_t *v, int64_t *out) {
  if (json_is_integer(v)) {
    *out = json_integer_value(v);
    return RK_OK;
  }
  if (json_is_real(v)) {
    double d = json_real_value(v);
    if (d == floor(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0) {
      *out = (int64_t)d;
      return RK_OK;
    }
    return rk_error(RK_EPARSE, "cannot parse %.17g as int64 for '%s' in '%s'", d, key, r->label);
  }
  if (json_is_string(v)) {
    const char *s = json_string_value(v);
    char *end = NULL;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno == 0 && end != s && *end == '\0') {
      *out = x;
      return RK_OK;
    }
    return rk_error(RK_EPARSE, "cannot parse '%.60s' as int64 for '%s' in '%s'", s, key, r->label);
  }
  return wrong(r, key, v, "an int64 (a string or a number)");
}

static rk_status get_double(const reader *r, const char *key, const json_t *v, double *out) {
  if (json_is_number(v)) {
    *out = json_number_value(v);
    return RK_OK;
  }
  if (json_is_string(v)) {
    const char *s = json_string_value(v);
    if (!strcmp(s, "NaN")) *out = NAN;
    else if (!strcmp(s, "Infinity")) *out = INFINITY;
    else if (!strcmp(s, "-Infinity")) *out = -INFINITY;
    else {
      char *end = NULL;
      *out = strtod(s, &end);
      if (end == s || *end != '\0')
        return rk_error(RK_EPARSE, "cannot parse '%.60s' as a number for '%s' in '%s'", s, key, r->label);
    }
    return RK_OK;
  }
  return wrong(r, key, v, "a number");
}

static rk_status get_bool(const reader *r, const char *key, const json_t *v, bool *out) {
  if (!json_is_boolean(v)) return wrong(r, key, v, "true or false");
  *out = json_is_true(v);
  return RK_OK;
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

/* Count the keys of `obj` other than the listed ones (both spellings given) as dropped. */
static void count_dropped(reader *r, const json_t *obj, const char *const *known, int n) {
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)obj, key, v) {
    bool ok = false;
    for (int i = 0; i < n && !ok; i++) ok = strcmp(key, known[i]) == 0;
    if (!ok) r->schema->n_dropped++;
  }
}

static rk_status read_int_domain(reader *r, const json_t *o, rk_schema_int_domain *d) {
  if (!json_is_object(o)) return wrong(r, "intDomain", o, "an object");
  d->present = true;
  json_t *v;
  if ((v = get(o, "name"))) RK_TRY(get_string(r, "intDomain.name", v, &d->name));
  if ((v = get(o, "min"))) { RK_TRY(get_int64(r, "intDomain.min", v, &d->min)); d->has_min = true; }
  if ((v = get(o, "max"))) { RK_TRY(get_int64(r, "intDomain.max", v, &d->max)); d->has_max = true; }
  if ((v = get2(o, "isCategorical", "is_categorical"))) {
    RK_TRY(get_bool(r, "intDomain.isCategorical", v, &d->is_categorical));
    d->has_is_categorical = true;
  }
  static const char *const known[] = {"name", "min", "max", "isCategorical", "is_categorical"};
  count_dropped(r, o, known, 5);
  return RK_OK;
}

static rk_status read_float_domain(reader *r, const json_t *o, rk_schema_float_domain *d) {
  if (!json_is_object(o)) return wrong(r, "floatDomain", o, "an object");
  d->present = true;
  json_t *v;
  if ((v = get(o, "name"))) RK_TRY(get_string(r, "floatDomain.name", v, &d->name));
  if ((v = get(o, "min"))) { RK_TRY(get_double(r, "floatDomain.min", v, &d->min)); d->has_min = true; }
  if ((v = get(o, "max"))) { RK_TRY(get_double(r, "floatDomain.max", v, &d->max)); d->has_max = true; }
  static const char *const known[] = {"name", "min", "max"};
  count_dropped(r, o, known, 3);
  return RK_OK;
}

static rk_status read_value_count(reader *r, const json_t *o, rk_schema_value_count *vc) {
  if (!json_is_object(o)) return wrong(r, "valueCount", o, "an object");
  vc->present = true;
  json_t *v;
  if ((v = get(o, "min"))) { RK_TRY(get_int64(r, "valueCount.min", v, &vc->min)); vc->has_min = true; }
  if ((v = get(o, "max"))) { RK_TRY(get_int64(r, "valueCount.max", v, &vc->max)); vc->has_max = true; }
  static const char *const known[] = {"min", "max"};
  count_dropped(r, o, known, 2);
  return RK_OK;
}

static rk_status read_shape(reader *r, const json_t *o, rk_schema_column *col) {
  if (!json_is_object(o)) return wrong(r, "shape", o, "an object");
  col->has_shape = true;
  json_t *dims = get(o, "dim");
  if (!dims) return RK_OK;
  if (!json_is_array(dims)) return wrong(r, "shape.dim", dims, "an array");
  size_t n = json_array_size(dims);
  if (n > 1024) return rk_error(RK_EFORMAT, "shape of feature '%s' has %zu dims in '%s', expected at most 1024", col->name, n, r->label);
  if (n == 0) return RK_OK;
  col->shape = rk_calloc(n, sizeof *col->shape);
  if (!col->shape) return RK_ENOMEM;
  col->n_shape = (int)n;
  for (size_t i = 0; i < n; i++) {
    json_t *dim = json_array_get(dims, i);
    if (!json_is_object(dim)) return wrong(r, "shape.dim[]", dim, "an object");
    json_t *size = get(dim, "size");
    if (size) RK_TRY(get_int64(r, "shape.dim.size", size, &col->shape[i]));
    if (json_object_size(dim) > (size ? 1u : 0u)) r->schema->n_dropped++;
  }
  return RK_OK;
}

static rk_status read_extra_metadata(reader *r, const json_t *list, rk_schema_column *col) {
  if (!json_is_array(list)) return wrong(r, "annotation.extraMetadata", list, "an array");
  if (json_array_size(list) == 0) return RK_OK;
  if (json_array_size(list) > 1)
    return rk_error(RK_EFORMAT, "feature '%s' has %zu extraMetadata entries in '%s', expected one (as Merlin does)",
                    col->name, json_array_size(list), r->label);
  json_t *item = json_array_get(list, 0);
  if (!json_is_object(item)) return wrong(r, "annotation.extraMetadata[0]", item, "an object");
  json_t *props = item;
  json_t *type = get(item, "@type");
  if (type) {   /* proto3 JSON for Any holding a Struct: {"@type": url, "value": {...}} */
    if (!json_is_string(type) || strcmp(json_string_value(type), STRUCT_TYPE_URL) != 0)
      return rk_error(RK_EUNSUPPORTED, "extraMetadata of type '%.200s' for feature '%s' in '%s', expected '%s'",
                      json_is_string(type) ? json_string_value(type) : "?", col->name, r->label, STRUCT_TYPE_URL);
    props = get(item, "value");
    if (!json_is_object(props)) return wrong(r, "annotation.extraMetadata[0].value", props, "an object");
  }
  col->properties = json_deep_copy(props);
  if (!col->properties) return rk_schema_json_nomem();
  return rk_schema_json_reals(col->properties);
}

static rk_status read_annotation(reader *r, const json_t *o, rk_schema_column *col) {
  if (!json_is_object(o)) return wrong(r, "annotation", o, "an object");
  json_t *v;
  for (int pass = 0; pass < 2; pass++) {
    const char *key = pass == 0 ? "tag" : "comment";
    if (!(v = get(o, key))) continue;
    if (!json_is_array(v)) return wrong(r, pass == 0 ? "annotation.tag" : "annotation.comment", v, "an array of strings");
    for (size_t i = 0; i < json_array_size(v); i++) {
      char *s = NULL;
      RK_TRY(get_string(r, pass == 0 ? "annotation.tag[]" : "annotation.comment[]", json_array_get(v, i), &s));
      if (pass == 0) RK_TRY(push_str(&col->tags, &col->n_tags, s));
      else RK_TRY(push_str(&col->comments, &col->n_comments, s));
    }
  }
  if ((v = get2(o, "extraMetadata", "extra_metadata"))) RK_TRY(read_extra_metadata(r, v, col));
  static const char *const known[] = {"tag", "comment", "extraMetadata", "extra_metadata"};
  count_dropped(r, o, known, 4);
  return RK_OK;
}

static const char *const feature_keys[] = {"name",       "type",         "domain",      "intDomain", "int_domain",
                                           "floatDomain", "float_domain", "valueCount", "value_count", "shape",
                                           "annotation"};
enum { N_FEATURE_KEYS = sizeof feature_keys / sizeof feature_keys[0] };

static rk_status read_feature(reader *r, const json_t *o, rk_schema_column *col) {
  if (!json_is_object(o)) return wrong(r, "feature[]", o, "an object");
  json_t *v;
  if (!(v = get(o, "name")))
    return rk_error(RK_EFORMAT, "feature %d without a name in '%s', expected a \"name\" key", r->index, r->label);
  RK_TRY(get_string(r, "name", v, &col->name));
  r->feature = col->name;
  if ((v = get(o, "type"))) {
    rk_schema_ftype t;
    if (json_is_string(v) && rk_schema_ftype_parse(json_string_value(v), &t) == RK_OK) {
      col->ftype = t;
    } else if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= 4) {
      col->ftype = (rk_schema_ftype)json_integer_value(v);
    } else {
      return rk_error(RK_EPARSE, "unknown type %s%s%s for feature '%s' in '%s', expected INT, FLOAT, BYTES or STRUCT",
                      json_is_string(v) ? "'" : "", json_is_string(v) ? json_string_value(v) : type_name(v),
                      json_is_string(v) ? "'" : "", col->name, r->label);
    }
  }
  if ((v = get(o, "domain"))) RK_TRY(get_string(r, "domain", v, &col->domain_ref));
  if ((v = get2(o, "intDomain", "int_domain"))) RK_TRY(read_int_domain(r, v, &col->int_domain));
  if ((v = get2(o, "floatDomain", "float_domain"))) RK_TRY(read_float_domain(r, v, &col->float_domain));
  if ((v = get2(o, "valueCount", "value_count"))) RK_TRY(read_value_count(r, v, &col->value_count));
  if ((v = get(o, "shape"))) RK_TRY(read_shape(r, v, col));
  if ((v = get(o, "annotation"))) RK_TRY(read_annotation(r, v, col));
  const char *key;
  json_t *val;
  json_object_foreach((json_t *)o, key, val) {
    bool known = false;
    for (int i = 0; i < N_FEATURE_KEYS && !known; i++) known = strcmp(key, feature_keys[i]) == 0;
    if (known) continue;
    if (!col->unknown_json && !(col->unknown_json = json_object())) return rk_schema_json_nomem();
    if (json_object_set(col->unknown_json, key, val) != 0) return rk_schema_json_nomem();
  }
  rk_schema_column_derive(col);
  return RK_OK;
}

rk_status rk_schema_parse_json(rk_schema *out, const char *text, size_t len, const char *label) {
  rk_schema_init(out);
  if (!label) label = "<json>";
  json_error_t err;
  json_t *root = json_loadb(text, len, JSON_ALLOW_NUL, &err);
  if (!root) {
    if (json_error_code(&err) == json_error_out_of_memory) return rk_schema_json_nomem();
    return rk_error(RK_EPARSE, "cannot parse '%s' line %d column %d as JSON: %s", label, err.line, err.column, err.text);
  }
  reader r = {label, out, 0, NULL};
  rk_status s = RK_OK;
  if (!json_is_object(root)) {
    s = rk_error(RK_EFORMAT, "schema in '%s' is %s, expected an object with a \"feature\" list", label, type_name(root));
  } else {
    json_t *features = get(root, "feature");
    if (features && !json_is_array(features))
      s = rk_error(RK_EFORMAT, "\"feature\" in '%s' is %s, expected a list of features", label, type_name(features));
    rk_name_index seen;   /* duplicates in one pass: a lookup per feature made loading quadratic */
    rk_name_index_init(&seen);
    for (size_t i = 0; s == RK_OK && i < json_array_size(features); i++) {
      rk_schema_column *col;
      int twice = -1;
      r.index = (int)i;
      r.feature = NULL;
      s = rk_schema_push_column(out, &col);
      if (s == RK_OK) s = read_feature(&r, json_array_get(features, i), col);
      if (s == RK_OK) s = rk_name_index_put(&seen, col->name, (int)i, &twice);
      if (s == RK_OK && twice >= 0) s = rk_error(RK_EFORMAT, "duplicate feature '%s' in '%s'", col->name, label);
    }
    rk_name_index_free(&seen);
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
      if (s != RK_OK) break;
      if (!strcmp(key, "feature")) continue;
      if (!out->unknown_json && !(out->unknown_json = json_object())) s = rk_schema_json_nomem();
      else if (json_object_set(out->unknown_json, key, val) != 0) s = rk_schema_json_nomem();
    }
  }
  json_decref(root);
  if (s != RK_OK) rk_schema_free(out);
  return s;
}

/* ---- writing as Python's json.dumps ------------------------------------------------------------ */
static void put_str(rk_schema_buf *b, const char *s, size_t n) {
  rk_schema_buf_put(b, "\"", 1);
  const unsigned char *p = (const unsigned char *)s, *end = p + n;
  while (p < end) {
    const unsigned char *run = p;
    while (p < end && *p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\') p++;
    rk_schema_buf_put(b, run, (size_t)(p - run));
    if (p >= end) break;
    unsigned char c = *p;
    char esc[16];
    if (c == '"') { rk_schema_buf_puts(b, "\\\""); p++; continue; }
    if (c == '\\') { rk_schema_buf_puts(b, "\\\\"); p++; continue; }
    if (c == '\n') { rk_schema_buf_puts(b, "\\n"); p++; continue; }
    if (c == '\r') { rk_schema_buf_puts(b, "\\r"); p++; continue; }
    if (c == '\t') { rk_schema_buf_puts(b, "\\t"); p++; continue; }
    if (c == '\b') { rk_schema_buf_puts(b, "\\b"); p++; continue; }
    if (c == '\f') { rk_schema_buf_puts(b, "\\f"); p++; continue; }
    if (c < 0x80) {   /* other controls and DEL */
      snprintf(esc, sizeof esc, "\\u%04x", c);
      rk_schema_buf_puts(b, esc);
      p++;
      continue;
    }
    /* UTF-8 to \uXXXX (surrogate pairs above U+FFFF); a bad byte is written as U+FFFD */
    uint32_t cp = 0xfffd;
    int need = c >= 0xf0 && c < 0xf5 ? 3 : c >= 0xe0 ? 2 : c >= 0xc2 && c < 0xe0 ? 1 : -1;
    if (need > 0 && end - p > need) {
      uint32_t v = c & (0x3f >> need);
      bool ok = true;
      for (int k = 1; k <= need && ok; k++) {
        ok = (p[k] & 0xc0) == 0x80;
        v = v << 6 | (p[k] & 0x3f);
      }
      if (ok && !(need == 2 && v < 0x800) && !(need == 3 && (v < 0x10000 || v > 0x10ffff)) &&
          !(v >= 0xd800 && v <= 0xdfff)) {
        cp = v;
        p += need;
      }
    }
    p++;
    if (cp >= 0x10000) {
      cp -= 0x10000;
      snprintf(esc, sizeof esc, "\\u%04x\\u%04x", 0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
    } else {
      snprintf(esc, sizeof esc, "\\u%04x", cp);
    }
    rk_schema_buf_puts(b, esc);
  }
  rk_schema_buf_put(b, "\"", 1);
}

static void put_cstr(rk_schema_buf *b, const char *s) { put_str(b, s, strlen(s)); }

static void put_key(rk_schema_buf *b, bool *first, const char *key) {
  if (!*first) rk_schema_buf_puts(b, ", ");
  *first = false;
  put_cstr(b, key);
  rk_schema_buf_puts(b, ": ");
}

static void put_double(rk_schema_buf *b, double x) {
  char num[32];
  rk_schema_buf_puts(b, rk_py_float_repr(num, x, "NaN", "Infinity"));
}

static void put_int64_str(rk_schema_buf *b, int64_t v) { rk_schema_buf_printf(b, "\"%lld\"", (long long)v); }

static void put_json(rk_schema_buf *b, const json_t *v, int depth) {
  if (depth > RK_STRUCT_MAX_DEPTH) {
    if (b->status == RK_OK) b->status = rk_error(RK_EINVAL, "properties nested more than %d deep", RK_STRUCT_MAX_DEPTH);
    return;
  }
  switch (json_typeof(v)) {
    case JSON_NULL: rk_schema_buf_puts(b, "null"); return;
    case JSON_TRUE: rk_schema_buf_puts(b, "true"); return;
    case JSON_FALSE: rk_schema_buf_puts(b, "false"); return;
    case JSON_INTEGER: rk_schema_buf_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v)); return;
    case JSON_REAL: put_double(b, json_real_value(v)); return;
    case JSON_STRING: put_str(b, json_string_value(v), json_string_length(v)); return;
    case JSON_ARRAY:
      rk_schema_buf_puts(b, "[");
      for (size_t i = 0; i < json_array_size(v); i++) {
        if (i) rk_schema_buf_puts(b, ", ");
        put_json(b, json_array_get(v, i), depth + 1);
      }
      rk_schema_buf_puts(b, "]");
      return;
    case JSON_OBJECT: {
      rk_schema_buf_puts(b, "{");
      bool first = true;
      const char *key;
      json_t *x;
      json_object_foreach((json_t *)v, key, x) {
        put_key(b, &first, key);
        put_json(b, x, depth + 1);
      }
      rk_schema_buf_puts(b, "}");
      return;
    }
  }
}

/* Python's json.dumps has no NaN-free mode; proto3 JSON spells them as strings. */
static void put_float_field(rk_schema_buf *b, double x) {
  if (isfinite(x)) put_double(b, x);
  else put_cstr(b, isnan(x) ? "NaN" : x > 0 ? "Infinity" : "-Infinity");
}

static rk_status write_feature(rk_schema_buf *b, const rk_schema_column *col) {
  bool first = true;
  rk_schema_buf_puts(b, "{");
  put_key(b, &first, "name");
  put_cstr(b, col->name ? col->name : "");
  if (col->has_shape) {
    put_key(b, &first, "shape");
    rk_schema_buf_puts(b, "{");
    if (col->n_shape > 0) {
      rk_schema_buf_puts(b, "\"dim\": [");
      for (int i = 0; i < col->n_shape; i++) {
        rk_schema_buf_puts(b, i ? ", {" : "{");
        if (col->shape[i] != 0) {
          rk_schema_buf_puts(b, "\"size\": ");
          put_int64_str(b, col->shape[i]);
        }
        rk_schema_buf_puts(b, "}");
      }
      rk_schema_buf_puts(b, "]");
    }
    rk_schema_buf_puts(b, "}");
  }
  const rk_schema_value_count *vc = &col->value_count;
  if (vc->present) {
    bool f = true;
    put_key(b, &first, "valueCount");
    rk_schema_buf_puts(b, "{");
    if (vc->has_min) { put_key(b, &f, "min"); put_int64_str(b, vc->min); }
    if (vc->has_max) { put_key(b, &f, "max"); put_int64_str(b, vc->max); }
    rk_schema_buf_puts(b, "}");
  }
  if (col->ftype != RK_SCHEMA_TYPE_UNKNOWN) {
    put_key(b, &first, "type");
    put_cstr(b, rk_schema_ftype_name(col->ftype));
  }
  if (col->domain_ref) {
    put_key(b, &first, "domain");
    put_cstr(b, col->domain_ref);
  }
  const rk_schema_int_domain *id = &col->int_domain;
  if (id->present) {
    bool f = true;
    put_key(b, &first, "intDomain");
    rk_schema_buf_puts(b, "{");
    if (id->name) { put_key(b, &f, "name"); put_cstr(b, id->name); }
    if (id->has_min) { put_key(b, &f, "min"); put_int64_str(b, id->min); }
    if (id->has_max) { put_key(b, &f, "max"); put_int64_str(b, id->max); }
    if (id->has_is_categorical) {
      put_key(b, &f, "isCategorical");
      rk_schema_buf_puts(b, id->is_categorical ? "true" : "false");
    }
    rk_schema_buf_puts(b, "}");
  }
  const rk_schema_float_domain *fd = &col->float_domain;
  if (fd->present) {
    bool f = true;
    put_key(b, &first, "floatDomain");
    rk_schema_buf_puts(b, "{");
    if (fd->name) { put_key(b, &f, "name"); put_cstr(b, fd->name); }
    if (fd->has_min) { put_key(b, &f, "min"); put_float_field(b, fd->min); }
    if (fd->has_max) { put_key(b, &f, "max"); put_float_field(b, fd->max); }
    rk_schema_buf_puts(b, "}");
  }
  json_t *props = NULL;
  RK_TRY(rk_schema_column_export_properties(col, &props));
  if (col->n_tags > 0 || col->n_comments > 0 || props) {
    bool f = true;
    put_key(b, &first, "annotation");
    rk_schema_buf_puts(b, "{");
    if (col->n_tags > 0) {
      put_key(b, &f, "tag");
      rk_schema_buf_puts(b, "[");
      for (int i = 0; i < col->n_tags; i++) {
        if (i) rk_schema_buf_puts(b, ", ");
        put_cstr(b, col->tags[i]);
      }
      rk_schema_buf_puts(b, "]");
    }
    if (col->n_comments > 0) {
      put_key(b, &f, "comment");
      rk_schema_buf_puts(b, "[");
      for (int i = 0; i < col->n_comments; i++) {
        if (i) rk_schema_buf_puts(b, ", ");
        put_cstr(b, col->comments[i]);
      }
      rk_schema_buf_puts(b, "]");
    }
    if (props) {
      put_key(b, &f, "extraMetadata");
      rk_schema_buf_puts(b, "[");
      put_json(b, props, 0);
      rk_schema_buf_puts(b, "]");
      json_decref(props);
    }
    rk_schema_buf_puts(b, "}");
  }
  if (col->unknown_json) {
    const char *key;
    json_t *v;
    json_object_foreach(col->unknown_json, key, v) {
      put_key(b, &first, key);
      put_json(b, v, 0);
    }
  }
  rk_schema_buf_puts(b, "}");
  return b->status;
}

rk_status rk_schema_to_json(const rk_schema *schema, char **text, size_t *len) {
  rk_schema_buf b = {0};
  bool first = true;
  rk_schema_buf_puts(&b, "{");
  if (schema->n_cols > 0) {
    put_key(&b, &first, "feature");
    rk_schema_buf_puts(&b, "[");
    for (int i = 0; i < schema->n_cols && b.status == RK_OK; i++) {
      if (i) rk_schema_buf_puts(&b, ", ");
      rk_status s = write_feature(&b, &schema->cols[i]);
      if (s != RK_OK && b.status == RK_OK) b.status = s;
    }
    rk_schema_buf_puts(&b, "]");
  }
  if (schema->unknown_json) {
    const char *key;
    json_t *v;
    json_object_foreach(schema->unknown_json, key, v) {
      put_key(&b, &first, key);
      put_json(&b, v, 0);
    }
  }
  rk_schema_buf_puts(&b, "}");
  return rk_schema_buf_finish(&b, text, len);
}
