/*
 * reckon/schema.h: the Merlin schema, read and written as Merlin reads and writes it.
 *
 * A Merlin dataset carries its schema twice: `.merlin/schema.json` (tensorflow-metadata Schema as
 * proto3 JSON, written by betterproto: one line, camelCase keys, int64 as strings) and
 * `schema.pbtxt` (protobuf text format). Column properties travel in
 * `annotation.extra_metadata`, a google.protobuf.Struct: a plain JSON object in schema.json, the
 * Struct's binary encoding as escaped bytes in schema.pbtxt. docs/formats/schema.md has the
 * field-by-field mapping.
 *
 * It is not: a general protobuf library, or Merlin's shape/dtype algebra. Fields of the
 * tensorflow-metadata Feature message that Merlin never writes are kept as they were read
 * (unknown_json / unknown_pbtxt) and written back to the same format only.
 *
 * References: tensorflow/metadata `tensorflow_metadata/proto/v0/schema.proto`;
 * NVIDIA-Merlin/core `merlin/schema/io/tensorflow_metadata.py`, `schema_bp.py`, `tags.py`;
 * protobuf `struct.proto` and the text-format spec (protobuf.dev/reference/protobuf/textformat-spec).
 *
 * Memory: every string and array below is owned by the schema and allocated through rk_malloc;
 * `properties` and `unknown_json` are jansson values (jansson's allocator, see
 * json_set_alloc_funcs). Free with rk_schema_free.
 */
#ifndef RECKON_SCHEMA_H
#define RECKON_SCHEMA_H

#include <jansson.h>

#include "reckon/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Merlin's standard tags (merlin/schema/tags.py), in its order. Other tags are kept by name. */
#define RK_SCHEMA_TAG_LIST(X)                                        \
  X(CATEGORICAL,                "categorical")                       \
  X(CONTINUOUS,                 "continuous")                        \
  X(LIST,                       "list")                              \
  X(SEQUENCE,                   "sequence")                          \
  X(TEXT,                       "text")                              \
  X(TOKENIZED,                  "tokenized")                         \
  X(TIME,                       "time")                              \
  X(EMBEDDING,                  "embedding")                         \
  X(ID,                         "id")                                \
  X(USER,                       "user")                              \
  X(ITEM,                       "item")                              \
  X(SESSION,                    "session")                           \
  X(CONTEXT,                    "context")                           \
  X(TARGET,                     "target")                            \
  X(REGRESSION,                 "regression")                        \
  X(CLASSIFICATION,             "classification")                    \
  X(BINARY,                     "binary")                            \
  X(MULTI_CLASS,                "multi_class")                       \
  X(USER_ID,                    "user_id")                           \
  X(ITEM_ID,                    "item_id")                           \
  X(SESSION_ID,                 "session_id")                        \
  X(TEXT_TOKENIZED,             "text_tokenized")                    \
  X(BINARY_CLASSIFICATION,      "binary_classification")             \
  X(MULTI_CLASS_CLASSIFICATION, "multi_class_classification")

typedef enum {
#define RK_SCHEMA_TAG_ENUM(name, text) RK_TAG_##name,
  RK_SCHEMA_TAG_LIST(RK_SCHEMA_TAG_ENUM)
#undef RK_SCHEMA_TAG_ENUM
  RK_TAG_COUNT
} rk_schema_tag;

#define RK_TAG_BIT(tag) (UINT64_C(1) << (tag))

/* RK_ENOTFOUND (no message) when `name` is not one of Merlin's standard tags. */
rk_status rk_schema_tag_parse(const char *name, rk_schema_tag *out);

/* tensorflow-metadata FeatureType (schema.proto), same numbers. */
typedef enum {
  RK_SCHEMA_TYPE_UNKNOWN = 0,
  RK_SCHEMA_TYPE_BYTES   = 1,
  RK_SCHEMA_TYPE_INT     = 2,
  RK_SCHEMA_TYPE_FLOAT   = 3,
  RK_SCHEMA_TYPE_STRUCT  = 4
} rk_schema_ftype;

/* IntDomain. The has_* flags record presence (the proto is proto2), so a file reads back as
 * written; an absent field means 0 / false, as in Merlin. */
typedef struct {
  bool present;
  char *name;                 /* NULL when absent */
  bool has_min, has_max, has_is_categorical;
  int64_t min, max;
  bool is_categorical;
} rk_schema_int_domain;

/* FloatDomain: min and max are float fields in the proto; kept as the doubles read. */
typedef struct {
  bool present;
  char *name;
  bool has_min, has_max;
  double min, max;
} rk_schema_float_domain;

/* ValueCount: the lengths of a list column's rows. */
typedef struct {
  bool present;
  bool has_min, has_max;
  int64_t min, max;
} rk_schema_value_count;

typedef struct rk_pbtxt_field rk_pbtxt_field;   /* private: src/io/schema_internal.h */

typedef struct {
  char *name;
  rk_schema_ftype ftype;      /* what the file says: INT, FLOAT, BYTES */
  /* Merlin's dtype, from ftype and the `dtype_item_size` property (bits): "int8".."int64",
   * "float16".."float64", "string"; no size means int64 / float64, as in Merlin. dtype is the
   * nearest reckon column type (float16 maps to RK_COL_FLOAT32; dtype_name stays "float16"). */
  const char *dtype_name;     /* static string */
  rk_coltype dtype;
  /* Tags as written, in order (duplicates too), and the standard ones among them as bits. */
  char **tags;
  int n_tags;
  uint64_t tag_bits;
  char **comments;            /* annotation.comment */
  int n_comments;
  char *domain_ref;           /* Feature.domain: the name of a schema-level domain, or NULL */
  rk_schema_int_domain int_domain;
  rk_schema_float_domain float_domain;
  rk_schema_value_count value_count;
  bool has_shape;             /* FixedShape: dimension sizes (names are not kept) */
  int n_shape;
  int64_t *shape;
  /* Derived as Merlin derives them: from `_dims`, else value_count, else the is_list/is_ragged
   * properties. Writers put them back into the properties. */
  bool is_list;
  bool is_ragged;
  /* The extra_metadata Struct as a JSON object (numbers are reals: a Struct holds doubles), in
   * the file's key order; NULL when the feature had no extra_metadata. Holds every property,
   * also is_list, is_ragged and dtype_item_size, which writers refresh from the fields above. */
  json_t *properties;
  /* Feature fields reckon does not model, as read: written back to the same format only. */
  json_t *unknown_json;       /* object of proto3-JSON keys, or NULL */
  rk_pbtxt_field *unknown_pbtxt;  /* a message node holding the fields, or NULL */
} rk_schema_column;

typedef struct rk_schema_names rk_schema_names;   /* private to src/io/schema.c */

typedef struct {
  rk_schema_column *cols;
  int n_cols;
  int cap_cols;
  rk_schema_names *names;     /* private: the index behind rk_schema_add_column's duplicate check */
  json_t *unknown_json;       /* Schema fields other than `feature` (same rules as columns) */
  rk_pbtxt_field *unknown_pbtxt;
  int64_t n_dropped;          /* fields inside known messages that were not kept (see docs) */
} rk_schema;

/* ---------------------------------------------------------------------------------------------
 * Reading and writing. Readers initialise `out` (no rk_schema_init needed) and leave it empty
 * on failure. Errors name the file, the line (and column for JSON syntax) and what was expected:
 * "cannot parse 'x1' as int64 for 'max' in 'schema.pbtxt' line 7".
 * ------------------------------------------------------------------------------------------- */
/* A file (".json": proto3 JSON, ".pbtxt": text format, anything else by its first byte) or a
 * dataset folder (looks for .merlin/schema.json, schema.json, schema.pbtxt in that order). */
rk_status rk_schema_read(rk_schema *out, const char *path);
/* Parse text already in memory; `label` names it in messages. */
rk_status rk_schema_parse_json(rk_schema *out, const char *text, size_t len, const char *label);
rk_status rk_schema_parse_pbtxt(rk_schema *out, const char *text, size_t len, const char *label);

/* The text Merlin writes: schema.json as betterproto's to_json (Python json.dumps, one line, no
 * newline at the end), schema.pbtxt as protobuf's text_format.MessageToString. The caller frees
 * *text with rk_free; *len excludes the NUL that follows. */
rk_status rk_schema_to_json(const rk_schema *schema, char **text, size_t *len);
rk_status rk_schema_to_pbtxt(const rk_schema *schema, char **text, size_t *len);
/* Write a file atomically (temporary name, then rename). */
rk_status rk_schema_write_json(const rk_schema *schema, const char *path);
rk_status rk_schema_write_pbtxt(const rk_schema *schema, const char *path);
/* Both, as Merlin's Dataset.to_parquet does: <dir>/schema.pbtxt and <dir>/.merlin/schema.json. */
rk_status rk_schema_write_dataset(const rk_schema *schema, const char *dir);

/* ---------------------------------------------------------------------------------------------
 * The model: build, copy, compare, free.
 * ------------------------------------------------------------------------------------------- */
void rk_schema_init(rk_schema *schema);
void rk_schema_free(rk_schema *schema);
rk_status rk_schema_copy(rk_schema *dst, const rk_schema *src);
/* Same columns in the same order with the same meaning: absent and default-valued proto fields
 * are equal, float domains compare as floats (the proto field is a float), properties compare
 * as written (is_list, is_ragged and dtype_item_size refreshed first). On a difference, `why`
 * (may be NULL) says where. */
bool rk_schema_equal(const rk_schema *a, const rk_schema *b, char *why, size_t why_size);

/* Append a column as Merlin's ColumnSchema would serialise it: type and dtype from dtype_name
 * ("int32", "float32", "string", ...), an empty property bag with `_dims`. *col (may be NULL)
 * points into schema->cols and stays valid until the next add. */
rk_status rk_schema_add_column(rk_schema *schema, const char *name, const char *dtype_name,
                               rk_schema_column **col);
rk_status rk_schema_column_set_dtype(rk_schema_column *col, const char *dtype_name);
/* Adds the tag unless present (by name); standard tags also set their bit. */
rk_status rk_schema_column_add_tag(rk_schema_column *col, const char *tag);
bool rk_schema_column_has_tag_name(const rk_schema_column *col, const char *tag);
/* Merlin's meaning of a column's tags (TagSet): compound tags add their parts (user_id: user,
 * id; item_id: item, id; session_id: session, id; text_tokenized: text, tokenized) and an
 * int_domain with is_categorical adds categorical. */
uint64_t rk_schema_column_tag_set(const rk_schema_column *col);
bool rk_schema_column_has_tag(const rk_schema_column *col, rk_schema_tag tag);
/* name may be NULL. The int domain sets is_categorical; Merlin writes it from the tag. */
rk_status rk_schema_column_set_int_domain(rk_schema_column *col, int64_t min, int64_t max,
                                          bool is_categorical, const char *name);
rk_status rk_schema_column_set_float_domain(rk_schema_column *col, double min, double max,
                                            const char *name);
/* Marks the column a list (ragged when min != max), as Merlin's value_count property does. */
rk_status rk_schema_column_set_value_count(rk_schema_column *col, int64_t min, int64_t max);
/* Set a property; `value` is stolen (also on failure). Numbers are stored as reals. */
rk_status rk_schema_column_set_property(rk_schema_column *col, const char *key, json_t *value);
rk_status rk_schema_column_set_property_number(rk_schema_column *col, const char *key, double v);
rk_status rk_schema_column_set_property_string(rk_schema_column *col, const char *key,
                                               const char *v);
rk_status rk_schema_column_set_property_null(rk_schema_column *col, const char *key);
/* Borrowed reference or NULL. */
json_t *rk_schema_column_property(const rk_schema_column *col, const char *key);

/* Typed getters for the properties NVTabular's Categorify writes. False when the property is
 * absent, null or not a number (cat_path: not a string). Numbers must be whole for int64. */
bool rk_schema_column_num_buckets(const rk_schema_column *col, int64_t *out);
bool rk_schema_column_freq_threshold(const rk_schema_column *col, int64_t *out);
bool rk_schema_column_max_size(const rk_schema_column *col, int64_t *out);
bool rk_schema_column_start_index(const rk_schema_column *col, int64_t *out);
const char *rk_schema_column_cat_path(const rk_schema_column *col);
bool rk_schema_column_embedding_sizes(const rk_schema_column *col, int64_t *cardinality,
                                      int64_t *dimension);

/* The column named `name`, or NULL. */
rk_schema_column *rk_schema_find(const rk_schema *schema, const char *name);
int rk_schema_find_index(const rk_schema *schema, const char *name);
/* The columns carrying `tag` in Merlin's meaning (rk_schema_column_has_tag), copied into a
 * fresh schema `out`, in order. */
rk_status rk_schema_select_by_tag(rk_schema *out, const rk_schema *schema, rk_schema_tag tag);

#ifdef __cplusplus
}
#endif
#endif /* RECKON_SCHEMA_H */
