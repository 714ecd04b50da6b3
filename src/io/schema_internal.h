/*
 * schema_internal.h: what the Merlin schema files share (src/io/schema*.c, src/io/pbtxt.c).
 *
 * A growable text buffer with a sticky failure, the generic protobuf text-format tree, the
 * google.protobuf.Struct binary codec, and Python's float spellings. Not a public interface.
 */
#ifndef RECKON_SCHEMA_INTERNAL_H
#define RECKON_SCHEMA_INTERNAL_H

#include "reckon/schema.h"

/* ---- text buffer: appends never fail loudly; the first failure sticks in `status` ---------- */
typedef struct {
  char *data;          /* NUL-terminated while status == RK_OK */
  size_t len;
  size_t cap;
  rk_status status;
} rk_schema_buf;

void rk_schema_buf_put(rk_schema_buf *b, const void *data, size_t n);
void rk_schema_buf_puts(rk_schema_buf *b, const char *s);
void rk_schema_buf_printf(rk_schema_buf *b, const char *fmt, ...) RK_PRINTF(2, 3);
void rk_schema_buf_indent(rk_schema_buf *b, int n);
/* Hand the text over (status RK_OK) or free it and return the failure. */
rk_status rk_schema_buf_finish(rk_schema_buf *b, char **text, size_t *len);

/* ---- protobuf text format (src/io/pbtxt.c) -------------------------------------------------- */
typedef enum {
  RK_PBTXT_STRING,     /* value: the unescaped bytes (NUL-terminated, may hold NULs), len */
  RK_PBTXT_NUMBER,     /* value: the token as written ("12", "-1.5e3", "0x1f", "-inf") */
  RK_PBTXT_IDENT,      /* value: an identifier (enum name, true/false, inf, nan) */
  RK_PBTXT_MESSAGE     /* fields[n_fields] */
} rk_pbtxt_kind;

struct rk_pbtxt_field {
  char *name;          /* field name, or "[type.url/Name]" for an extension or expanded Any */
  int line;            /* 1-based line of the name */
  rk_pbtxt_kind kind;
  char *value;
  size_t len;
  rk_pbtxt_field *fields;
  int n_fields;
  int cap_fields;
};

#define RK_PBTXT_MAX_DEPTH 64

/* Parse a whole document into `root` (a MESSAGE). On failure root is empty and the message
 * names `label` and the line. */
rk_status rk_pbtxt_parse(rk_pbtxt_field *root, const char *text, size_t len, const char *label);
/* Free what a field holds (not the field itself). */
void rk_pbtxt_field_clear(rk_pbtxt_field *field);
/* Append a copy of `src` to the message `dst`. */
rk_status rk_pbtxt_append_copy(rk_pbtxt_field *dst, const rk_pbtxt_field *src);
bool rk_pbtxt_field_equal(const rk_pbtxt_field *a, const rk_pbtxt_field *b);
/* Write a field as text_format does, at `indent` spaces. */
void rk_pbtxt_write_field(rk_schema_buf *b, const rk_pbtxt_field *field, int indent);
/* A string or bytes value quoted as text_format quotes it (CEscape, as_utf8=False). */
void rk_pbtxt_write_string(rk_schema_buf *b, const char *s, size_t n);

/* ---- google.protobuf.Struct <-> JSON object (src/io/schema_pbtxt.c) --------------------------- */
#define RK_STRUCT_MAX_DEPTH 64
/* Decode Struct bytes into a new JSON object (numbers as reals). */
rk_status rk_struct_decode(json_t **out, const uint8_t *data, size_t len);
/* Encode a JSON object as Struct bytes (keys in object order). */
rk_status rk_struct_encode(rk_schema_buf *b, const json_t *object);

/* ---- Python's float spellings --------------------------------------------------------------- */
/* repr(x) for a double: "0.1", "294737.0", "1e-05", "1.5e+16". Non-finite: `nan`, `inf`, `-inf`
 * spelled as given (json.dumps: "NaN", "Infinity"; str(): "nan", "inf"). buf: 32 bytes. */
const char *rk_py_float_repr(char *buf, double x, const char *nan, const char *inf);
/* str(ToShortestFloat(x)): the shortest %g of at least 6 digits that reads back as the same
 * float32, as text_format prints float fields. buf: 32 bytes. */
const char *rk_py_float32_str(char *buf, double x);

/* ---- the model, shared by the two formats (src/io/schema.c) ----------------------------------- */
/* A fresh zeroed column appended to the schema. */
rk_status rk_schema_push_column(rk_schema *schema, rk_schema_column **col);
void rk_schema_column_free(rk_schema_column *col);
/* After reading: dtype, is_list, is_ragged and tag bits from what was read. */
void rk_schema_column_derive(rk_schema_column *col);
/* The property bag a writer writes: a new object (NULL in *out when the column has none) with
 * is_list, is_ragged and dtype_item_size refreshed from the column. */
rk_status rk_schema_column_export_properties(const rk_schema_column *col, json_t **out);
/* Merlin's feature type names: "INT" for RK_SCHEMA_TYPE_INT, ... */
const char *rk_schema_ftype_name(rk_schema_ftype type);
rk_status rk_schema_ftype_parse(const char *name, rk_schema_ftype *out);
/* Convert integers to reals throughout (a Struct holds doubles); RK_ENOMEM on failure. */
rk_status rk_schema_json_reals(json_t *value);
/* A jansson failure that returned NULL: always out of memory here. */
rk_status rk_schema_json_nomem(void);

#endif
