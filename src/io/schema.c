/*
 * schema.c: the Merlin schema model: tags, dtypes, building, copying, comparing, finding, and
 * the doors that read and write files (the formats live in schema_json.c and schema_pbtxt.c).
 *
 * Merlin's meaning is followed where it reads a file (merlin/schema/io/tensorflow_metadata.py):
 * dtype from the feature type and the `dtype_item_size` property (bits; int64 / float64 when
 * absent), is_list / is_ragged from `_dims`, else value_count, else the properties of those
 * names; compound tags and is_categorical widen the tag set (merlin/schema/tags.py). What the
 * file says is kept as it was (tags in order, presence of proto2 fields, property key order) so
 * a file reads back and writes out unchanged.
 *
 * It is not: a parser (pbtxt.c, schema_pbtxt.c, schema_json.c).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/schema_internal.h"

/* ---- tags ----------------------------------------------------------------------------------- */
static const char *const tag_names[RK_TAG_COUNT] = {
#define RK_SCHEMA_TAG_NAME(name, text) text,
    RK_SCHEMA_TAG_LIST(RK_SCHEMA_TAG_NAME)
#undef RK_SCHEMA_TAG_NAME
};

rk_status rk_schema_tag_parse(const char *name, rk_schema_tag *out) {
  for (int t = 0; t < RK_TAG_COUNT; t++) {
    if (strcmp(name, tag_names[t]) == 0) {
      *out = (rk_schema_tag)t;
      return RK_OK;
    }
  }
  return RK_ENOTFOUND;
}

uint64_t rk_schema_column_tag_set(const rk_schema_column *col) {
  uint64_t bits = col->tag_bits;
  if (bits & RK_TAG_BIT(RK_TAG_USER_ID)) bits |= RK_TAG_BIT(RK_TAG_USER) | RK_TAG_BIT(RK_TAG_ID);
  if (bits & RK_TAG_BIT(RK_TAG_ITEM_ID)) bits |= RK_TAG_BIT(RK_TAG_ITEM) | RK_TAG_BIT(RK_TAG_ID);
  if (bits & RK_TAG_BIT(RK_TAG_SESSION_ID)) bits |= RK_TAG_BIT(RK_TAG_SESSION) | RK_TAG_BIT(RK_TAG_ID);
  if (bits & RK_TAG_BIT(RK_TAG_TEXT_TOKENIZED)) bits |= RK_TAG_BIT(RK_TAG_TEXT) | RK_TAG_BIT(RK_TAG_TOKENIZED);
  if (col->int_domain.present && col->int_domain.has_is_categorical && col->int_domain.is_categorical)
    bits |= RK_TAG_BIT(RK_TAG_CATEGORICAL);
  return bits;
}

bool rk_schema_column_has_tag(const rk_schema_column *col, rk_schema_tag tag) {
  return (rk_schema_column_tag_set(col) & RK_TAG_BIT(tag)) != 0;
}

bool rk_schema_column_has_tag_name(const rk_schema_column *col, const char *tag) {
  for (int i = 0; i < col->n_tags; i++)
    if (strcmp(col->tags[i], tag) == 0) return true;
  return false;
}

rk_status rk_schema_column_add_tag(rk_schema_column *col, const char *tag) {
  if (rk_schema_column_has_tag_name(col, tag)) return RK_OK;
  char **tags = rk_realloc(col->tags, (size_t)(col->n_tags + 1) * sizeof *tags);
  if (!tags) return RK_ENOMEM;
  col->tags = tags;
  char *copy = rk_strdup(tag);
  if (!copy) return RK_ENOMEM;
  col->tags[col->n_tags++] = copy;
  rk_schema_tag t;
  if (rk_schema_tag_parse(tag, &t) == RK_OK) col->tag_bits |= RK_TAG_BIT(t);
  return RK_OK;
}

/* ---- feature types and dtypes --------------------------------------------------------------- */
static const char *const ftype_names[] = {"TYPE_UNKNOWN", "BYTES", "INT", "FLOAT", "STRUCT"};

const char *rk_schema_ftype_name(rk_schema_ftype type) {
  if ((int)type < 0 || (int)type > 4) return "TYPE_UNKNOWN";
  return ftype_names[type];
}

rk_status rk_schema_ftype_parse(const char *name, rk_schema_ftype *out) {
  for (int t = 0; t <= 4; t++) {
    if (strcmp(name, ftype_names[t]) == 0) {
      *out = (rk_schema_ftype)t;
      return RK_OK;
    }
  }
  return RK_ENOTFOUND;
}

typedef struct {
  const char *name;
  rk_coltype coltype;
  rk_schema_ftype ftype;
  int bits;             /* dtype_item_size; 0: Merlin writes none */
} dtype_info;

static const dtype_info dtypes[] = {
    {"int8",    RK_COL_INT8,    RK_SCHEMA_TYPE_INT,   8},
    {"int16",   RK_COL_INT16,   RK_SCHEMA_TYPE_INT,   16},
    {"int32",   RK_COL_INT32,   RK_SCHEMA_TYPE_INT,   32},
    {"int64",   RK_COL_INT64,   RK_SCHEMA_TYPE_INT,   64},
    {"uint8",   RK_COL_UINT8,   RK_SCHEMA_TYPE_INT,   8},
    {"uint16",  RK_COL_UINT16,  RK_SCHEMA_TYPE_INT,   16},
    {"uint32",  RK_COL_UINT32,  RK_SCHEMA_TYPE_INT,   32},
    {"uint64",  RK_COL_UINT64,  RK_SCHEMA_TYPE_INT,   64},
    {"float16", RK_COL_FLOAT32, RK_SCHEMA_TYPE_FLOAT, 16},
    {"float32", RK_COL_FLOAT32, RK_SCHEMA_TYPE_FLOAT, 32},
    {"float64", RK_COL_FLOAT64, RK_SCHEMA_TYPE_FLOAT, 64},
    {"string",  RK_COL_STRING,  RK_SCHEMA_TYPE_BYTES, 0},
};
enum { N_DTYPES = sizeof dtypes / sizeof dtypes[0] };

static const dtype_info *find_dtype(const char *name) {
  if (!name) return NULL;
  for (int i = 0; i < N_DTYPES; i++)
    if (strcmp(dtypes[i].name, name) == 0) return &dtypes[i];
  return NULL;
}

rk_status rk_schema_column_set_dtype(rk_schema_column *col, const char *dtype_name) {
  const dtype_info *d = find_dtype(dtype_name);
  if (!d)
    return rk_error(RK_EINVAL, "unknown dtype '%s' for column '%s', expected int8..int64, uint8..uint64, "
                    "float16..float64 or string", dtype_name ? dtype_name : "(null)", col->name ? col->name : "");
  col->dtype_name = d->name;
  col->dtype = d->coltype;
  col->ftype = d->ftype;
  return RK_OK;
}

/* ---- properties ----------------------------------------------------------------------------- */
rk_status rk_schema_json_nomem(void) { return rk_error(RK_ENOMEM, "out of memory building JSON values"); }

rk_status rk_schema_json_reals(json_t *value) {
  if (json_is_object(value)) {
    const char *key;
    json_t *v;
    json_object_foreach(value, key, v) {
      if (json_is_integer(v)) {
        json_t *r = json_real((double)json_integer_value(v));
        if (!r || json_object_set_new(value, key, r) != 0) return rk_schema_json_nomem();
      } else {
        RK_TRY(rk_schema_json_reals(v));
      }
    }
  } else if (json_is_array(value)) {
    for (size_t i = 0; i < json_array_size(value); i++) {
      json_t *v = json_array_get(value, i);
      if (json_is_integer(v)) {
        json_t *r = json_real((double)json_integer_value(v));
        if (!r || json_array_set_new(value, i, r) != 0) return rk_schema_json_nomem();
      } else {
        RK_TRY(rk_schema_json_reals(v));
      }
    }
  }
  return RK_OK;
}

static rk_status ensure_properties(rk_schema_column *col) {
  if (col->properties) return RK_OK;
  col->properties = json_object();
  return col->properties ? RK_OK : rk_schema_json_nomem();
}

rk_status rk_schema_column_set_property(rk_schema_column *col, const char *key, json_t *value) {
  if (!value) return rk_error(RK_EINVAL, "no value for property '%s' of column '%s'", key, col->name);
  rk_status s = ensure_properties(col);
  if (s == RK_OK) s = rk_schema_json_reals(value);
  if (s == RK_OK && json_is_integer(value)) {
    json_t *r = json_real((double)json_integer_value(value));
    json_decref(value);
    value = r;
    if (!value) return rk_schema_json_nomem();
  }
  if (s != RK_OK) {
    json_decref(value);
    return s;
  }
  if (json_object_set_new(col->properties, key, value) != 0)
    return rk_error(RK_EINVAL, "cannot set property '%s' of column '%s' (bad key or out of memory)", key, col->name);
  return RK_OK;
}

rk_status rk_schema_column_set_property_number(rk_schema_column *col, const char *key, double v) {
  if (!isfinite(v)) return rk_error(RK_EINVAL, "property '%s' of column '%s' is not finite", key, col->name);
  json_t *j = json_real(v);
  if (!j) return rk_schema_json_nomem();
  return rk_schema_column_set_property(col, key, j);
}

rk_status rk_schema_column_set_property_string(rk_schema_column *col, const char *key, const char *v) {
  json_t *j = json_string(v);
  if (!j) return rk_error(RK_EINVAL, "property '%s' of column '%s' is not UTF-8 (or out of memory)", key, col->name);
  return rk_schema_column_set_property(col, key, j);
}

rk_status rk_schema_column_set_property_null(rk_schema_column *col, const char *key) {
  return rk_schema_column_set_property(col, key, json_null());
}

json_t *rk_schema_column_property(const rk_schema_column *col, const char *key) {
  return col->properties ? json_object_get(col->properties, key) : NULL;
}

static bool whole_number(const json_t *v, int64_t *out) {
  if (!json_is_number(v)) return false;
  double d = json_number_value(v);
  if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0) || d != floor(d)) return false;
  *out = (int64_t)d;
  return true;
}

bool rk_schema_column_num_buckets(const rk_schema_column *col, int64_t *out) {
  return whole_number(rk_schema_column_property(col, "num_buckets"), out);
}
bool rk_schema_column_freq_threshold(const rk_schema_column *col, int64_t *out) {
  return whole_number(rk_schema_column_property(col, "freq_threshold"), out);
}
bool rk_schema_column_max_size(const rk_schema_column *col, int64_t *out) {
  return whole_number(rk_schema_column_property(col, "max_size"), out);
}
bool rk_schema_column_start_index(const rk_schema_column *col, int64_t *out) {
  return whole_number(rk_schema_column_property(col, "start_index"), out);
}
const char *rk_schema_column_cat_path(const rk_schema_column *col) {
  return json_string_value(rk_schema_column_property(col, "cat_path"));
}
bool rk_schema_column_embedding_sizes(const rk_schema_column *col, int64_t *cardinality, int64_t *dimension) {
  json_t *e = rk_schema_column_property(col, "embedding_sizes");
  int64_t c, d;
  if (!json_is_object(e) || !whole_number(json_object_get(e, "cardinality"), &c) ||
      !whole_number(json_object_get(e, "dimension"), &d))
    return false;
  if (cardinality) *cardinality = c;
  if (dimension) *dimension = d;
  return true;
}

/* ---- deriving and exporting ------------------------------------------------------------------ */
void rk_schema_column_derive(rk_schema_column *col) {
  col->tag_bits = 0;
  for (int i = 0; i < col->n_tags; i++) {
    rk_schema_tag t;
    if (rk_schema_tag_parse(col->tags[i], &t) == RK_OK) col->tag_bits |= RK_TAG_BIT(t);
  }
  /* dtype: the feature type and dtype_item_size, as _merlin_dtype does */
  int64_t bits = 0;
  json_t *size = rk_schema_column_property(col, "dtype_item_size");
  if (!whole_number(size, &bits)) bits = 0;
  const char *name = NULL;
  switch (col->ftype) {
    case RK_SCHEMA_TYPE_INT:
      name = bits == 8 ? "int8" : bits == 16 ? "int16" : bits == 32 ? "int32" : "int64";
      break;
    case RK_SCHEMA_TYPE_FLOAT:
      name = bits == 16 ? "float16" : bits == 32 ? "float32" : "float64";
      break;
    case RK_SCHEMA_TYPE_BYTES: name = "string"; break;
    default: break;
  }
  const dtype_info *d = find_dtype(name);
  col->dtype_name = d ? d->name : "unknown";
  col->dtype = d ? d->coltype : RK_COL_INT64;

  /* is_list / is_ragged: properties, then value_count, then _dims (last wins, as in Merlin) */
  col->is_list = json_is_true(rk_schema_column_property(col, "is_list"));
  col->is_ragged = json_is_true(rk_schema_column_property(col, "is_ragged"));
  const rk_schema_value_count *vc = &col->value_count;
  if (vc->present) {
    int64_t lo = vc->has_min ? vc->min : 0, hi = vc->has_max ? vc->max : 0;
    if (lo > 0 || hi > 0) {
      col->is_list = true;
      col->is_ragged = !(vc->has_min && vc->has_max && lo == hi);
    }
  }
  json_t *dims = rk_schema_column_property(col, "_dims");
  if (json_is_array(dims) && json_array_size(dims) > 0) {
    col->is_list = json_array_size(dims) > 1;
    col->is_ragged = false;
    for (size_t i = 1; i < json_array_size(dims); i++) {
      json_t *dim = json_array_get(dims, i);
      if (json_is_array(dim)) {
        json_t *lo = json_array_get(dim, 0), *hi = json_array_get(dim, 1);
        if (!json_is_number(lo) || !json_is_number(hi) || json_number_value(lo) != json_number_value(hi))
          col->is_ragged = true;
      } else if (!json_is_number(dim)) {
        col->is_ragged = true;
      }
    }
  }
  if (!col->is_list) col->is_ragged = false;
}

static int dtype_bits(const rk_schema_column *col) {
  const dtype_info *d = find_dtype(col->dtype_name);
  return d ? d->bits : 0;
}

rk_status rk_schema_column_export_properties(const rk_schema_column *col, json_t **out) {
  *out = NULL;
  if (!col->properties) return RK_OK;
  json_t *p = json_copy(col->properties);
  if (!p) return rk_schema_json_nomem();
  int bits = dtype_bits(col);
  if (json_object_set_new(p, "is_list", json_boolean(col->is_list)) != 0 ||
      json_object_set_new(p, "is_ragged", json_boolean(col->is_ragged)) != 0 ||
      (bits > 0 && json_object_set_new(p, "dtype_item_size", json_real(bits)) != 0)) {
    json_decref(p);
    return rk_schema_json_nomem();
  }
  *out = p;
  return RK_OK;
}

/* ---- building ------------------------------------------------------------------------------- */
void rk_schema_init(rk_schema *schema) { memset(schema, 0, sizeof *schema); }

void rk_schema_column_free(rk_schema_column *col) {
  rk_free(col->name);
  for (int i = 0; i < col->n_tags; i++) rk_free(col->tags[i]);
  rk_free(col->tags);
  for (int i = 0; i < col->n_comments; i++) rk_free(col->comments[i]);
  rk_free(col->comments);
  rk_free(col->domain_ref);
  rk_free(col->int_domain.name);
  rk_free(col->float_domain.name);
  rk_free(col->shape);
  json_decref(col->properties);
  json_decref(col->unknown_json);
  if (col->unknown_pbtxt) {
    rk_pbtxt_field_clear(col->unknown_pbtxt);
    rk_free(col->unknown_pbtxt);
  }
  memset(col, 0, sizeof *col);
}

/* Copies of the column names, indexed, for rk_schema_add_column: adding n columns one at a time
 * checked each against all before it (quadratic: a preprocess of 100,000 columns spent its time
 * there). Columns any other path appended are indexed at the next add; the index holds copies,
 * so a column freed since cannot leave it a dangling name, and a hit is confirmed against the
 * column itself, a stale one falling back to the scan. */
struct rk_schema_names {
  rk_name_index index;
  rk_arena copies;
  int n_indexed;   /* cols[0 .. n_indexed) are in the index */
};

static void names_free(rk_schema_names *n) {
  if (!n) return;
  rk_name_index_free(&n->index);
  rk_arena_free(&n->copies);
  rk_free(n);
}

static rk_status has_column(rk_schema *schema, const char *name, bool *found) {
  *found = false;
  rk_schema_names *n = schema->names;
  if (!n) {
    if (!(n = schema->names = rk_calloc(1, sizeof *n))) return RK_ENOMEM;
    rk_arena_init(&n->copies, 1 << 16);
  }
  if (n->n_indexed > schema->n_cols) {   /* columns were dropped: start again */
    rk_name_index_free(&n->index);
    rk_arena_reset(&n->copies);
    n->n_indexed = 0;
  }
  for (; n->n_indexed < schema->n_cols; n->n_indexed++) {
    const char *col = schema->cols[n->n_indexed].name;
    const char *copy = col ? rk_arena_strdup(&n->copies, col) : NULL;
    if (col && !copy) return RK_ENOMEM;
    if (copy) RK_TRY(rk_name_index_put(&n->index, copy, n->n_indexed, NULL));
  }
  int i = rk_name_index_get(&n->index, name);
  if (i < 0) return RK_OK;
  if (i < schema->n_cols && schema->cols[i].name && strcmp(schema->cols[i].name, name) == 0) *found = true;
  else *found = rk_schema_find(schema, name) != NULL;
  return RK_OK;
}

void rk_schema_free(rk_schema *schema) {
  names_free(schema->names);
  for (int i = 0; i < schema->n_cols; i++) rk_schema_column_free(&schema->cols[i]);
  rk_free(schema->cols);
  json_decref(schema->unknown_json);
  if (schema->unknown_pbtxt) {
    rk_pbtxt_field_clear(schema->unknown_pbtxt);
    rk_free(schema->unknown_pbtxt);
  }
  memset(schema, 0, sizeof *schema);
}

rk_status rk_schema_push_column(rk_schema *schema, rk_schema_column **col) {
  if (schema->n_cols == schema->cap_cols) {
    int cap = schema->cap_cols ? schema->cap_cols * 2 : 8;
    if (cap > (1 << 24)) return rk_error(RK_ERANGE, "too many columns in a schema (%d)", schema->n_cols);
    rk_schema_column *p = rk_realloc(schema->cols, (size_t)cap * sizeof *p);
    if (!p) return RK_ENOMEM;
    schema->cols = p;
    schema->cap_cols = cap;
  }
  rk_schema_column *c = &schema->cols[schema->n_cols++];
  memset(c, 0, sizeof *c);
  c->dtype_name = "unknown";
  *col = c;
  return RK_OK;
}

/* Merlin's `_dims` for the column's shape: [] for a scalar, [[0, null], <row length>] for a list,
 * the row length being [min, max] (max null when unknown) or a number when fixed. */
static rk_status set_dims(rk_schema_column *col) {
  json_t *dims = json_array();
  if (!dims) return rk_schema_json_nomem();
  if (col->is_list) {
    json_t *batch = json_pack("[f, n]", 0.0);
    json_t *row;
    const rk_schema_value_count *vc = &col->value_count;
    if (vc->present && vc->has_min && vc->has_max && vc->min == vc->max && vc->min > 0)
      row = json_real((double)vc->max);
    else if (vc->present && vc->has_max && vc->max > 0)
      row = json_pack("[f, f]", (double)(vc->has_min ? vc->min : 0), (double)vc->max);
    else
      row = json_pack("[f, n]", (double)(vc->has_min ? vc->min : 0));
    if (!batch || !row || json_array_append_new(dims, batch) != 0 || json_array_append_new(dims, row) != 0) {
      if (json_array_size(dims) == 0) json_decref(batch);
      if (json_array_size(dims) < 2) json_decref(row);
      json_decref(dims);
      return rk_schema_json_nomem();
    }
  }
  return rk_schema_column_set_property(col, "_dims", dims);
}

rk_status rk_schema_add_column(rk_schema *schema, const char *name, const char *dtype_name, rk_schema_column **out) {
  if (out) *out = NULL;
  if (!name || !*name) return rk_error(RK_EINVAL, "a schema column needs a name");
  bool twice;
  RK_TRY(has_column(schema, name, &twice));
  if (twice) return rk_error(RK_EINVAL, "duplicate column '%s' in the schema", name);
  if (!find_dtype(dtype_name))
    return rk_error(RK_EINVAL, "unknown dtype '%s' for column '%s', expected int8..int64, uint8..uint64, "
                    "float16..float64 or string", dtype_name ? dtype_name : "(null)", name);
  rk_schema_column *col;
  RK_TRY(rk_schema_push_column(schema, &col));
  rk_status s = RK_OK;
  col->name = rk_strdup(name);
  if (!col->name) s = RK_ENOMEM;
  if (s == RK_OK) s = rk_schema_column_set_dtype(col, dtype_name);
  if (s == RK_OK) s = set_dims(col);
  if (s != RK_OK) {
    rk_schema_column_free(col);
    schema->n_cols--;
    return s;
  }
  if (out) *out = col;
  return RK_OK;
}

static rk_status set_name(char **slot, const char *name) {
  char *copy = NULL;
  if (name) {
    copy = rk_strdup(name);
    if (!copy) return RK_ENOMEM;
  }
  rk_free(*slot);
  *slot = copy;
  return RK_OK;
}

rk_status rk_schema_column_set_int_domain(rk_schema_column *col, int64_t min, int64_t max, bool is_categorical,
                                          const char *name) {
  if (min > max) return rk_error(RK_ERANGE, "int domain of column '%s' has min %lld above max %lld", col->name,
                                 (long long)min, (long long)max);
  RK_TRY(set_name(&col->int_domain.name, name));
  rk_schema_int_domain *d = &col->int_domain;
  d->present = true;
  /* betterproto (proto3 rules) leaves out zeros and false, so Merlin's files never say them */
  d->has_min = min != 0;
  d->has_max = max != 0;
  d->has_is_categorical = is_categorical;
  d->min = min;
  d->max = max;
  d->is_categorical = is_categorical;
  return RK_OK;
}

rk_status rk_schema_column_set_float_domain(rk_schema_column *col, double min, double max, const char *name) {
  if (!(min <= max)) return rk_error(RK_ERANGE, "float domain of column '%s' has min %g above max %g", col->name, min, max);
  RK_TRY(set_name(&col->float_domain.name, name));
  rk_schema_float_domain *d = &col->float_domain;
  d->present = true;
  d->has_min = min != 0;
  d->has_max = max != 0;
  d->min = min;
  d->max = max;
  return RK_OK;
}

rk_status rk_schema_column_set_value_count(rk_schema_column *col, int64_t min, int64_t max) {
  if (min < 0 || min > max)
    return rk_error(RK_ERANGE, "value count of column '%s' must have 0 <= min <= max, got min %lld max %lld",
                    col->name, (long long)min, (long long)max);
  rk_schema_value_count *vc = &col->value_count;
  vc->present = true;
  vc->has_min = min != 0;
  vc->has_max = max != 0;
  vc->min = min;
  vc->max = max;
  col->is_list = true;
  col->is_ragged = min != max;
  if (rk_schema_column_property(col, "_dims")) return set_dims(col);
  return RK_OK;
}

/* ---- copying -------------------------------------------------------------------------------- */
static rk_status dup_str(char **dst, const char *src) {
  *dst = NULL;
  if (!src) return RK_OK;
  *dst = rk_strdup(src);
  return *dst ? RK_OK : RK_ENOMEM;
}

/* *count is set once the array exists, so a partial copy frees cleanly. */
static rk_status dup_strs(char ***dst, int *count, char *const *src, int n) {
  *dst = NULL;
  *count = 0;
  if (n == 0) return RK_OK;
  *dst = rk_calloc((size_t)n, sizeof **dst);
  if (!*dst) return RK_ENOMEM;
  *count = n;
  for (int i = 0; i < n; i++) RK_TRY(dup_str(&(*dst)[i], src[i]));
  return RK_OK;
}

static rk_status dup_pbtxt(rk_pbtxt_field **dst, const rk_pbtxt_field *src) {
  *dst = NULL;
  if (!src) return RK_OK;
  *dst = rk_calloc(1, sizeof **dst);
  if (!*dst) return RK_ENOMEM;
  (*dst)->kind = RK_PBTXT_MESSAGE;
  for (int i = 0; i < src->n_fields; i++) RK_TRY(rk_pbtxt_append_copy(*dst, &src->fields[i]));
  return RK_OK;
}

static rk_status dup_json(json_t **dst, const json_t *src) {
  *dst = NULL;
  if (!src) return RK_OK;
  *dst = json_deep_copy(src);
  return *dst ? RK_OK : rk_schema_json_nomem();
}

static rk_status column_copy(rk_schema_column *d, const rk_schema_column *s) {
  *d = *s;
  d->name = NULL;
  d->tags = d->comments = NULL;
  d->domain_ref = d->int_domain.name = d->float_domain.name = NULL;
  d->shape = NULL;
  d->properties = d->unknown_json = NULL;
  d->unknown_pbtxt = NULL;
  d->n_tags = d->n_comments = 0;
  RK_TRY(dup_str(&d->name, s->name));
  RK_TRY(dup_strs(&d->tags, &d->n_tags, s->tags, s->n_tags));
  RK_TRY(dup_strs(&d->comments, &d->n_comments, s->comments, s->n_comments));
  RK_TRY(dup_str(&d->domain_ref, s->domain_ref));
  RK_TRY(dup_str(&d->int_domain.name, s->int_domain.name));
  RK_TRY(dup_str(&d->float_domain.name, s->float_domain.name));
  if (s->n_shape > 0) {
    d->shape = rk_malloc((size_t)s->n_shape * sizeof *d->shape);
    if (!d->shape) return RK_ENOMEM;
    memcpy(d->shape, s->shape, (size_t)s->n_shape * sizeof *d->shape);
  }
  RK_TRY(dup_json(&d->properties, s->properties));
  RK_TRY(dup_json(&d->unknown_json, s->unknown_json));
  RK_TRY(dup_pbtxt(&d->unknown_pbtxt, s->unknown_pbtxt));
  return RK_OK;
}

/* Append a copy of src; on failure nothing is appended. */
static rk_status append_copy(rk_schema *dst, const rk_schema_column *src) {
  rk_schema_column *c = NULL;
  RK_TRY(rk_schema_push_column(dst, &c));
  rk_status s = column_copy(c, src);
  if (s != RK_OK) {
    rk_schema_column_free(c);
    dst->n_cols--;
  }
  return s;
}

rk_status rk_schema_copy(rk_schema *dst, const rk_schema *src) {
  rk_schema_init(dst);
  rk_status s = RK_OK;
  for (int i = 0; i < src->n_cols && s == RK_OK; i++) s = append_copy(dst, &src->cols[i]);
  if (s == RK_OK) s = dup_json(&dst->unknown_json, src->unknown_json);
  if (s == RK_OK) s = dup_pbtxt(&dst->unknown_pbtxt, src->unknown_pbtxt);
  dst->n_dropped = src->n_dropped;
  if (s != RK_OK) rk_schema_free(dst);
  return s;
}

rk_schema_column *rk_schema_find(const rk_schema *schema, const char *name) {
  int i = rk_schema_find_index(schema, name);
  return i < 0 ? NULL : &schema->cols[i];
}

int rk_schema_find_index(const rk_schema *schema, const char *name) {
  for (int i = 0; i < schema->n_cols; i++)
    if (schema->cols[i].name && strcmp(schema->cols[i].name, name) == 0) return i;
  return -1;
}

rk_status rk_schema_select_by_tag(rk_schema *out, const rk_schema *schema, rk_schema_tag tag) {
  rk_schema_init(out);
  for (int i = 0; i < schema->n_cols; i++) {
    if (!rk_schema_column_has_tag(&schema->cols[i], tag)) continue;
    rk_status s = append_copy(out, &schema->cols[i]);
    if (s != RK_OK) {
      rk_schema_free(out);
      return s;
    }
  }
  return RK_OK;
}

/* ---- comparing ------------------------------------------------------------------------------ */
static bool str_eq(const char *a, const char *b) { return strcmp(a ? a : "", b ? b : "") == 0; }

static bool column_equal(const rk_schema_column *a, const rk_schema_column *b, char *why, size_t n) {
#define DIFF(...)                                   \
  do {                                              \
    if (why) snprintf(why, n, __VA_ARGS__);         \
    return false;                                   \
  } while (0)
  const char *name = a->name ? a->name : "";
  if (!str_eq(a->name, b->name)) DIFF("column names differ: '%s' and '%s'", name, b->name ? b->name : "");
  if (a->ftype != b->ftype) DIFF("column '%s': types differ", name);
  if (!str_eq(a->dtype_name, b->dtype_name))
    DIFF("column '%s': dtypes differ: %s and %s", name, a->dtype_name, b->dtype_name);
  if (a->n_tags != b->n_tags) DIFF("column '%s': %d and %d tags", name, a->n_tags, b->n_tags);
  for (int i = 0; i < a->n_tags; i++)
    if (!str_eq(a->tags[i], b->tags[i])) DIFF("column '%s': tag %d differs: '%s' and '%s'", name, i, a->tags[i], b->tags[i]);
  if (a->n_comments != b->n_comments) DIFF("column '%s': comment counts differ", name);
  for (int i = 0; i < a->n_comments; i++)
    if (!str_eq(a->comments[i], b->comments[i])) DIFF("column '%s': comment %d differs", name, i);
  if (!str_eq(a->domain_ref, b->domain_ref)) DIFF("column '%s': domain names differ", name);
  const rk_schema_int_domain *ia = &a->int_domain, *ib = &b->int_domain;
  if (ia->present != ib->present) DIFF("column '%s': int_domain present in one only", name);
  if (ia->present) {
    if (!str_eq(ia->name, ib->name)) DIFF("column '%s': int_domain names differ", name);
    if ((ia->has_min ? ia->min : 0) != (ib->has_min ? ib->min : 0)) DIFF("column '%s': int_domain min differs", name);
    if ((ia->has_max ? ia->max : 0) != (ib->has_max ? ib->max : 0)) DIFF("column '%s': int_domain max differs", name);
    if ((ia->has_is_categorical && ia->is_categorical) != (ib->has_is_categorical && ib->is_categorical))
      DIFF("column '%s': int_domain is_categorical differs", name);
  }
  const rk_schema_float_domain *fa = &a->float_domain, *fb = &b->float_domain;
  if (fa->present != fb->present) DIFF("column '%s': float_domain present in one only", name);
  if (fa->present) {
    if (!str_eq(fa->name, fb->name)) DIFF("column '%s': float_domain names differ", name);
    float amin = fa->has_min ? (float)fa->min : 0.0f, bmin = fb->has_min ? (float)fb->min : 0.0f;
    float amax = fa->has_max ? (float)fa->max : 0.0f, bmax = fb->has_max ? (float)fb->max : 0.0f;
    if (memcmp(&amin, &bmin, sizeof amin) != 0 && amin != bmin)
      DIFF("column '%s': float_domain min differs: %.9g and %.9g", name, amin, bmin);
    if (memcmp(&amax, &bmax, sizeof amax) != 0 && amax != bmax)
      DIFF("column '%s': float_domain max differs: %.9g and %.9g", name, amax, bmax);
  }
  const rk_schema_value_count *va = &a->value_count, *vb = &b->value_count;
  if (va->present != vb->present) DIFF("column '%s': value_count present in one only", name);
  if (va->present && ((va->has_min ? va->min : 0) != (vb->has_min ? vb->min : 0) ||
                      (va->has_max ? va->max : 0) != (vb->has_max ? vb->max : 0)))
    DIFF("column '%s': value_count differs", name);
  if (a->has_shape != b->has_shape || a->n_shape != b->n_shape ||
      (a->n_shape > 0 && memcmp(a->shape, b->shape, (size_t)a->n_shape * sizeof *a->shape) != 0))
    DIFF("column '%s': shapes differ", name);
  if (a->is_list != b->is_list || a->is_ragged != b->is_ragged) DIFF("column '%s': is_list/is_ragged differ", name);
  json_t *pa = NULL, *pb = NULL;
  if (rk_schema_column_export_properties(a, &pa) != RK_OK || rk_schema_column_export_properties(b, &pb) != RK_OK) {
    json_decref(pa);
    json_decref(pb);
    DIFF("column '%s': out of memory comparing properties", name);
  }
  bool same = (pa == NULL && pb == NULL) || (pa && pb && json_equal(pa, pb));
  json_decref(pa);
  json_decref(pb);
  if (!same) DIFF("column '%s': properties differ", name);
  if (!((a->unknown_json == NULL && b->unknown_json == NULL) ||
        (a->unknown_json && b->unknown_json && json_equal(a->unknown_json, b->unknown_json))))
    DIFF("column '%s': unmodelled JSON fields differ", name);
  if (!rk_pbtxt_field_equal(a->unknown_pbtxt, b->unknown_pbtxt)) DIFF("column '%s': unmodelled pbtxt fields differ", name);
  return true;
#undef DIFF
}

bool rk_schema_equal(const rk_schema *a, const rk_schema *b, char *why, size_t why_size) {
  if (why && why_size) why[0] = '\0';
  if (a->n_cols != b->n_cols) {
    if (why) snprintf(why, why_size, "%d and %d columns", a->n_cols, b->n_cols);
    return false;
  }
  for (int i = 0; i < a->n_cols; i++)
    if (!column_equal(&a->cols[i], &b->cols[i], why, why_size)) return false;
  if (!((a->unknown_json == NULL && b->unknown_json == NULL) ||
        (a->unknown_json && b->unknown_json && json_equal(a->unknown_json, b->unknown_json)))) {
    if (why) snprintf(why, why_size, "unmodelled schema-level JSON fields differ");
    return false;
  }
  if (!rk_pbtxt_field_equal(a->unknown_pbtxt, b->unknown_pbtxt)) {
    if (why) snprintf(why, why_size, "unmodelled schema-level pbtxt fields differ");
    return false;
  }
  return true;
}

/* ---- Python's float spellings ------------------------------------------------------------------ */
const char *rk_py_float_repr(char *buf, double x, const char *nan, const char *inf) {
  if (isnan(x)) {
    snprintf(buf, 32, "%s", nan);
    return buf;
  }
  if (isinf(x)) {
    snprintf(buf, 32, "%s%s", x < 0 ? "-" : "", inf);
    return buf;
  }
  if (x == 0) {
    snprintf(buf, 32, "%s", signbit(x) ? "-0.0" : "0.0");
    return buf;
  }
  /* shortest digits that read back: %.{p-1}e for p = 1..17 */
  char e[40];
  for (int p = 1; p <= 17; p++) {
    snprintf(e, sizeof e, "%.*e", p - 1, x);
    if (strtod(e, NULL) == x) break;
  }
  /* e: [-]d[.ddd]e[+-]XX */
  const char *q = e;
  bool neg = *q == '-';
  if (neg) q++;
  char digits[24];
  int nd = 0;
  for (; *q && *q != 'e'; q++)
    if (*q >= '0' && *q <= '9' && nd < 23) digits[nd++] = *q;
  while (nd > 1 && digits[nd - 1] == '0') nd--;   /* %.Ne may pad */
  digits[nd] = '\0';
  int exp10 = *q == 'e' ? atoi(q + 1) : 0;
  int decpt = exp10 + 1;   /* value = 0.DIGITS x 10^decpt */
  char *o = buf;
  if (neg) *o++ = '-';
  if (decpt <= -4 || decpt > 16) {
    *o++ = digits[0];
    if (nd > 1) {
      *o++ = '.';
      memcpy(o, digits + 1, (size_t)nd - 1);
      o += nd - 1;
    }
    char ex[16];
    snprintf(ex, sizeof ex, "e%c%02d", exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
    memcpy(o, ex, strlen(ex) + 1);
  } else if (decpt <= 0) {
    *o++ = '0';
    *o++ = '.';
    for (int i = 0; i < -decpt; i++) *o++ = '0';
    memcpy(o, digits, (size_t)nd);
    o[nd] = '\0';
  } else if (decpt < nd) {
    memcpy(o, digits, (size_t)decpt);
    o += decpt;
    *o++ = '.';
    memcpy(o, digits + decpt, (size_t)(nd - decpt));
    o[nd - decpt] = '\0';
  } else {
    memcpy(o, digits, (size_t)nd);
    o += nd;
    for (int i = nd; i < decpt; i++) *o++ = '0';
    memcpy(o, ".0", 3);
  }
  return buf;
}

const char *rk_py_float32_str(char *buf, double x) {
  float f = (float)x;
  if (!isfinite(f)) return rk_py_float_repr(buf, (double)f, "nan", "inf");
  double rounded = (double)f;
  for (int p = 6; p <= 12; p++) {
    char g[40];
    snprintf(g, sizeof g, "%.*g", p, (double)f);
    rounded = strtod(g, NULL);
    if ((float)rounded == f) break;
  }
  return rk_py_float_repr(buf, rounded, "nan", "inf");
}

/* ---- the doors ------------------------------------------------------------------------------ */
static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && strcmp(s + n - k, suffix) == 0;
}

static bool is_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static rk_status read_file_as(rk_schema *out, const char *path) {
  char *text = NULL;
  size_t len = 0;
  RK_TRY(rk_read_file(path, &text, &len));
  bool json;
  if (ends_with(path, ".json")) {
    json = true;
  } else if (ends_with(path, ".pbtxt")) {
    json = false;
  } else {
    size_t i = 0;
    while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' || text[i] == '\n')) i++;
    json = i < len && text[i] == '{';
  }
  rk_status s = json ? rk_schema_parse_json(out, text, len, path) : rk_schema_parse_pbtxt(out, text, len, path);
  rk_free(text);
  return s;
}

rk_status rk_schema_read(rk_schema *out, const char *path) {
  rk_schema_init(out);
  struct stat st;
  if (stat(path, &st) != 0) return rk_error(RK_ENOTFOUND, "no schema at '%s': no such file or folder", path);
  if (!S_ISDIR(st.st_mode)) return read_file_as(out, path);
  static const char *const names[] = {".merlin/schema.json", "schema.json", "schema.pbtxt"};
  for (int i = 0; i < 3; i++) {
    size_t n = strlen(path) + strlen(names[i]) + 2;
    char *p = rk_malloc(n);
    if (!p) return RK_ENOMEM;
    snprintf(p, n, "%s/%s", path, names[i]);
    if (is_file(p)) {
      rk_status s = read_file_as(out, p);
      rk_free(p);
      return s;
    }
    rk_free(p);
  }
  return rk_error(RK_ENOTFOUND, "no schema in folder '%s', expected .merlin/schema.json, schema.json or schema.pbtxt",
                  path);
}

static rk_status write_text(const rk_schema *schema, const char *path, bool json) {
  char *text = NULL;
  size_t len = 0;
  RK_TRY(json ? rk_schema_to_json(schema, &text, &len) : rk_schema_to_pbtxt(schema, &text, &len));
  rk_status s = rk_write_file_atomic(path, text, len);
  rk_free(text);
  return s;
}

rk_status rk_schema_write_json(const rk_schema *schema, const char *path) { return write_text(schema, path, true); }
rk_status rk_schema_write_pbtxt(const rk_schema *schema, const char *path) { return write_text(schema, path, false); }

rk_status rk_schema_write_dataset(const rk_schema *schema, const char *dir) {
  size_t n = strlen(dir) + 32;
  char *p = rk_malloc(n);
  if (!p) return RK_ENOMEM;
  snprintf(p, n, "%s/.merlin", dir);
  rk_status s = rk_mkdir_p(p);
  if (s == RK_OK) {
    snprintf(p, n, "%s/schema.pbtxt", dir);
    s = rk_schema_write_pbtxt(schema, p);
  }
  if (s == RK_OK) {
    snprintf(p, n, "%s/.merlin/schema.json", dir);
    s = rk_schema_write_json(schema, p);
  }
  rk_free(p);
  return s;
}
