/*
 * Parquet's footer (FileMetaData) and page headers (PageHeader): reading them from Thrift compact
 * bytes into plain structs, and writing the subset reckon produces. It is not the schema logic
 * (reader.c maps the schema onto reckon columns) and not the Thrift wire format (thrift.c).
 *
 * Follows apache/parquet-format src/main/thrift/parquet.thrift: field ids below are that file's.
 * Unknown fields are skipped; required fields that are missing are errors. Strings and arrays
 * live in the metadata's arena; their sizes are bounded by the footer's length.
 */
#include <string.h>

#include "io/parquet/parquet_internal.h"

#define FIELD_LOOP(in)                                                       \
  int16_t last_ = 0, id;                                                     \
  uint8_t t;                                                                 \
  RK_TRY(rk_thrift_struct_begin(in));                                        \
  for (;;) {                                                                 \
    RK_TRY(rk_thrift_field(in, &last_, &t, &id));                            \
    if (t == RK_TT_STOP) break;

#define FIELD_LOOP_END(in) \
  }                        \
  rk_thrift_struct_end(in);

static void *arena_array(rk_pq_file_meta *m, int64_t n, size_t size) {
  if (n == 0) n = 1;
  return rk_arena_alloc(&m->arena, (size_t)n * size, 8);
}

static const uint8_t *arena_copy(rk_pq_file_meta *m, const uint8_t *p, size_t n) {
  uint8_t *d = rk_arena_alloc(&m->arena, n ? n : 1, 1);
  if (d && n) memcpy(d, p, n);
  return d;
}

static rk_status read_string(rk_pq_file_meta *m, rk_thrift_in *in, uint8_t t, const char **out) {
  RK_TRY(rk_thrift_expect(t, RK_TT_BINARY));
  const uint8_t *d;
  size_t n;
  RK_TRY(rk_thrift_binary(in, &d, &n));
  char *s = rk_arena_alloc(&m->arena, n + 1, 1);
  if (!s) return RK_ENOMEM;
  memcpy(s, d, n);
  s[n] = 0;
  *out = s;
  return RK_OK;
}

static rk_status read_stats(rk_pq_file_meta *m, rk_thrift_in *in, rk_pq_stats *s) {
  memset(s, 0, sizeof *s);
  const uint8_t *old_min = NULL, *old_max = NULL;
  size_t old_min_len = 0, old_max_len = 0;
  bool has_old_min = false, has_old_max = false;
  FIELD_LOOP(in)
    switch (id) {
      case 1: RK_TRY(rk_thrift_expect(t, RK_TT_BINARY)); RK_TRY(rk_thrift_binary(in, &old_max, &old_max_len)); has_old_max = true; break;
      case 2: RK_TRY(rk_thrift_expect(t, RK_TT_BINARY)); RK_TRY(rk_thrift_binary(in, &old_min, &old_min_len)); has_old_min = true; break;
      case 3: RK_TRY(rk_thrift_field_i64(in, t, &s->null_count)); s->has_null_count = true; break;
      case 4: RK_TRY(rk_thrift_field_i64(in, t, &s->distinct_count)); s->has_distinct_count = true; break;
      case 5: RK_TRY(rk_thrift_expect(t, RK_TT_BINARY)); RK_TRY(rk_thrift_binary(in, &s->max, &s->max_len)); s->has_max = true; break;
      case 6: RK_TRY(rk_thrift_expect(t, RK_TT_BINARY)); RK_TRY(rk_thrift_binary(in, &s->min, &s->min_len)); s->has_min = true; break;
      default: RK_TRY(rk_thrift_skip(in, t));
    }
  FIELD_LOOP_END(in)
  /* The deprecated min/max are signed-order only; use them when the new ones are absent
   * (the caller decides whether the order fits the column). */
  if (!s->has_min && !s->has_max && has_old_min && has_old_max) {
    s->min = old_min, s->min_len = old_min_len, s->has_min = true;
    s->max = old_max, s->max_len = old_max_len, s->has_max = true;
  }
  /* the bytes point into the footer buffer, which the caller frees: keep copies */
  if (s->has_min && !(s->min = arena_copy(m, s->min, s->min_len))) return RK_ENOMEM;
  if (s->has_max && !(s->max = arena_copy(m, s->max, s->max_len))) return RK_ENOMEM;
  return RK_OK;
}

static rk_status read_time_unit(rk_thrift_in *in, int *unit) {
  FIELD_LOOP(in)
    if (t == RK_TT_STRUCT && id >= 1 && id <= 3) *unit = id;
    RK_TRY(rk_thrift_skip(in, t));
  FIELD_LOOP_END(in)
  return RK_OK;
}

static rk_status read_logical(rk_thrift_in *in, rk_pq_schema_elem *e) {
  FIELD_LOOP(in)
    if (t != RK_TT_STRUCT) {
      RK_TRY(rk_thrift_skip(in, t));
      continue;
    }
    e->logical = id;
    if (id == RK_LT_DECIMAL) {
      FIELD_LOOP(in)
        int32_t v;
        if (id == 1) { RK_TRY(rk_thrift_field_i32(in, t, &v)); e->scale = v; }
        else if (id == 2) { RK_TRY(rk_thrift_field_i32(in, t, &v)); e->precision = v; }
        else RK_TRY(rk_thrift_skip(in, t));
      FIELD_LOOP_END(in)
    } else if (id == RK_LT_TIME || id == RK_LT_TIMESTAMP) {
      FIELD_LOOP(in)
        if (id == 2 && t == RK_TT_STRUCT) RK_TRY(read_time_unit(in, &e->time_unit));
        else RK_TRY(rk_thrift_skip(in, t));
      FIELD_LOOP_END(in)
    } else if (id == RK_LT_INTEGER) {
      FIELD_LOOP(in)
        if (id == 1 && t == RK_TT_I8) {
          int8_t b;
          RK_TRY(rk_thrift_i8(in, &b));
          e->int_bits = b;
        } else if (id == 2 && (t == RK_TT_TRUE || t == RK_TT_FALSE)) {
          e->int_signed = t == RK_TT_TRUE;
        } else {
          RK_TRY(rk_thrift_skip(in, t));
        }
      FIELD_LOOP_END(in)
    } else {
      RK_TRY(rk_thrift_skip(in, t));
    }
  FIELD_LOOP_END(in)
  return RK_OK;
}

static rk_status read_schema_elem(rk_pq_file_meta *m, rk_thrift_in *in, rk_pq_schema_elem *e) {
  memset(e, 0, sizeof *e);
  e->type = -1, e->repetition = -1, e->converted = -1;
  bool has_name = false;
  FIELD_LOOP(in)
    int32_t v;
    switch (id) {
      case 1: RK_TRY(rk_thrift_field_i32(in, t, &v)); e->type = v; break;
      case 2: RK_TRY(rk_thrift_field_i32(in, t, &e->type_length)); break;
      case 3: RK_TRY(rk_thrift_field_i32(in, t, &v)); e->repetition = v; break;
      case 4: RK_TRY(read_string(m, in, t, &e->name)); has_name = true; break;
      case 5: RK_TRY(rk_thrift_field_i32(in, t, &e->num_children)); break;
      case 6: RK_TRY(rk_thrift_field_i32(in, t, &v)); e->converted = v; break;
      case 7: RK_TRY(rk_thrift_field_i32(in, t, &e->scale)); break;
      case 8: RK_TRY(rk_thrift_field_i32(in, t, &e->precision)); break;
      case 10: RK_TRY(rk_thrift_expect(t, RK_TT_STRUCT)); RK_TRY(read_logical(in, e)); break;
      default: RK_TRY(rk_thrift_skip(in, t));
    }
  FIELD_LOOP_END(in)
  if (!has_name) return rk_error(RK_EFORMAT, "schema element without a name");
  if (e->num_children < 0) return rk_error(RK_EFORMAT, "schema element '%s' has %d children", e->name, e->num_children);
  return RK_OK;
}

static rk_status read_string_list(rk_pq_file_meta *m, rk_thrift_in *in, uint8_t t, const char ***out, int *n) {
  RK_TRY(rk_thrift_expect(t, RK_TT_LIST));
  uint8_t et;
  int64_t count;
  RK_TRY(rk_thrift_list(in, &et, &count));
  RK_TRY(rk_thrift_expect(et, RK_TT_BINARY));
  const char **a = arena_array(m, count, sizeof *a);
  if (!a) return RK_ENOMEM;
  for (int64_t i = 0; i < count; i++) RK_TRY(read_string(m, in, RK_TT_BINARY, &a[i]));
  *out = a;
  *n = (int)count;
  return RK_OK;
}

static rk_status read_kv_list(rk_pq_file_meta *m, rk_thrift_in *in, uint8_t t, rk_pq_kv **out, int *n) {
  RK_TRY(rk_thrift_expect(t, RK_TT_LIST));
  uint8_t et;
  int64_t count;
  RK_TRY(rk_thrift_list(in, &et, &count));
  RK_TRY(rk_thrift_expect(et, RK_TT_STRUCT));
  rk_pq_kv *a = arena_array(m, count, sizeof *a);
  if (!a) return RK_ENOMEM;
  for (int64_t i = 0; i < count; i++) {
    a[i].key = NULL, a[i].value = NULL;
    FIELD_LOOP(in)
      if (id == 1) RK_TRY(read_string(m, in, t, &a[i].key));
      else if (id == 2) RK_TRY(read_string(m, in, t, &a[i].value));
      else RK_TRY(rk_thrift_skip(in, t));
    FIELD_LOOP_END(in)
    if (!a[i].key) return rk_error(RK_EFORMAT, "key-value metadata entry without a key");
  }
  *out = a;
  *n = (int)count;
  return RK_OK;
}

static rk_status read_column_meta(rk_pq_file_meta *m, rk_thrift_in *in, rk_pq_chunk *c) {
  bool has_type = false, has_codec = false, has_nv = false, has_dpo = false;
  FIELD_LOOP(in)
    int32_t v;
    switch (id) {
      case 1: RK_TRY(rk_thrift_field_i32(in, t, &v)); c->type = v; has_type = true; break;
      case 2: {
        RK_TRY(rk_thrift_expect(t, RK_TT_LIST));
        uint8_t et;
        int64_t count;
        RK_TRY(rk_thrift_list(in, &et, &count));
        RK_TRY(rk_thrift_expect(et, RK_TT_I32));
        c->encodings = arena_array(m, count, sizeof(int32_t));
        if (!c->encodings) return RK_ENOMEM;
        for (int64_t i = 0; i < count; i++) RK_TRY(rk_thrift_i32(in, &c->encodings[i]));
        c->nencodings = (int)count;
        break;
      }
      case 3: RK_TRY(read_string_list(m, in, t, &c->path, &c->npath)); break;
      case 4: RK_TRY(rk_thrift_field_i32(in, t, &v)); c->codec = v; has_codec = true; break;
      case 5: RK_TRY(rk_thrift_field_i64(in, t, &c->num_values)); has_nv = true; break;
      case 6: RK_TRY(rk_thrift_field_i64(in, t, &c->total_uncompressed)); break;
      case 7: RK_TRY(rk_thrift_field_i64(in, t, &c->total_compressed)); break;
      case 9: RK_TRY(rk_thrift_field_i64(in, t, &c->data_page_offset)); has_dpo = true; break;
      case 11: RK_TRY(rk_thrift_field_i64(in, t, &c->dictionary_page_offset)); break;
      case 12: RK_TRY(rk_thrift_expect(t, RK_TT_STRUCT)); RK_TRY(read_stats(m, in, &c->stats)); c->has_stats = true; break;
      default: RK_TRY(rk_thrift_skip(in, t));
    }
  FIELD_LOOP_END(in)
  if (!has_type || !has_codec || !has_nv || !has_dpo)
    return rk_error(RK_EFORMAT, "column metadata lacks a required field (type, codec, num_values or data_page_offset)");
  return RK_OK;
}

static rk_status read_chunk(rk_pq_file_meta *m, rk_thrift_in *in, rk_pq_chunk *c) {
  memset(c, 0, sizeof *c);
  c->dictionary_page_offset = -1;
  bool has_meta = false;
  FIELD_LOOP(in)
    switch (id) {
      case 1: RK_TRY(read_string(m, in, t, &c->file_path)); break;
      case 3: RK_TRY(rk_thrift_expect(t, RK_TT_STRUCT)); RK_TRY(read_column_meta(m, in, c)); has_meta = true; break;
      case 8:
      case 9: c->encrypted = true; RK_TRY(rk_thrift_skip(in, t)); break;
      default: RK_TRY(rk_thrift_skip(in, t));
    }
  FIELD_LOOP_END(in)
  if (!has_meta) c->encrypted = true;   /* encrypted column metadata: we cannot see the chunk */
  return RK_OK;
}

static rk_status read_row_group(rk_pq_file_meta *m, rk_thrift_in *in, rk_pq_row_group *rg) {
  memset(rg, 0, sizeof *rg);
  bool has_cols = false, has_rows = false;
  FIELD_LOOP(in)
    switch (id) {
      case 1: {
        RK_TRY(rk_thrift_expect(t, RK_TT_LIST));
        uint8_t et;
        int64_t count;
        RK_TRY(rk_thrift_list(in, &et, &count));
        RK_TRY(rk_thrift_expect(et, RK_TT_STRUCT));
        rg->cols = arena_array(m, count, sizeof *rg->cols);
        if (!rg->cols) return RK_ENOMEM;
        for (int64_t i = 0; i < count; i++) RK_TRY(read_chunk(m, in, &rg->cols[i]));
        rg->ncols = (int)count;
        has_cols = true;
        break;
      }
      case 2: RK_TRY(rk_thrift_field_i64(in, t, &rg->total_byte_size)); break;
      case 3: RK_TRY(rk_thrift_field_i64(in, t, &rg->num_rows)); has_rows = true; break;
      default: RK_TRY(rk_thrift_skip(in, t));
    }
  FIELD_LOOP_END(in)
  if (!has_cols || !has_rows) return rk_error(RK_EFORMAT, "row group lacks its columns or num_rows");
  if (rg->num_rows < 0) return rk_error(RK_EFORMAT, "row group has %lld rows", (long long)rg->num_rows);
  return RK_OK;
}

static rk_status parse_file_meta(rk_pq_file_meta *m, rk_thrift_in *in) {
  bool has_schema = false, has_rg = false;
  FIELD_LOOP(in)
    uint8_t et;
    int64_t count;
    switch (id) {
      case 1: RK_TRY(rk_thrift_field_i32(in, t, &m->version)); break;
      case 2:
        RK_TRY(rk_thrift_expect(t, RK_TT_LIST));
        RK_TRY(rk_thrift_list(in, &et, &count));
        RK_TRY(rk_thrift_expect(et, RK_TT_STRUCT));
        if (!(m->schema = arena_array(m, count, sizeof *m->schema))) return RK_ENOMEM;
        for (int64_t i = 0; i < count; i++) RK_TRY(read_schema_elem(m, in, &m->schema[i]));
        m->nschema = (int)count;
        has_schema = true;
        break;
      case 3: RK_TRY(rk_thrift_field_i64(in, t, &m->num_rows)); break;
      case 4:
        RK_TRY(rk_thrift_expect(t, RK_TT_LIST));
        RK_TRY(rk_thrift_list(in, &et, &count));
        RK_TRY(rk_thrift_expect(et, RK_TT_STRUCT));
        if (!(m->row_groups = arena_array(m, count, sizeof *m->row_groups))) return RK_ENOMEM;
        for (int64_t i = 0; i < count; i++) RK_TRY(read_row_group(m, in, &m->row_groups[i]));
        m->nrow_groups = (int)count;
        has_rg = true;
        break;
      case 5: RK_TRY(read_kv_list(m, in, t, &m->kv, &m->nkv)); break;
      case 6: RK_TRY(read_string(m, in, t, &m->created_by)); break;
      case 8: m->encrypted = true; RK_TRY(rk_thrift_skip(in, t)); break;
      default: RK_TRY(rk_thrift_skip(in, t));
    }
  FIELD_LOOP_END(in)
  if (!has_schema || m->nschema == 0) return rk_error(RK_EFORMAT, "footer has no schema");
  if (!has_rg) return rk_error(RK_EFORMAT, "footer has no row groups list");
  return RK_OK;
}

rk_status rk_pq_meta_parse(rk_pq_file_meta *m, const uint8_t *data, size_t len) {
  memset(m, 0, sizeof *m);
  rk_arena_init(&m->arena, 64 * 1024);
  rk_thrift_in in = {data, data + len, 0};
  rk_status s = parse_file_meta(m, &in);
  if (s != RK_OK) rk_pq_meta_free(m);
  return s;
}

void rk_pq_meta_free(rk_pq_file_meta *m) {
  rk_arena_free(&m->arena);
  memset(m, 0, sizeof *m);
}

/* ---- page headers ------------------------------------------------------------------------- */
static rk_status read_page_header(rk_thrift_in *in, rk_pq_page_header *h) {
  bool has_type = false, has_u = false, has_c = false;
  FIELD_LOOP(in)
    int32_t v;
    switch (id) {
      case 1: RK_TRY(rk_thrift_field_i32(in, t, &v)); h->type = v; has_type = true; break;
      case 2: RK_TRY(rk_thrift_field_i32(in, t, &h->uncompressed_size)); has_u = true; break;
      case 3: RK_TRY(rk_thrift_field_i32(in, t, &h->compressed_size)); has_c = true; break;
      case 4: RK_TRY(rk_thrift_field_i32(in, t, &v)); h->crc = (uint32_t)v; h->has_crc = true; break;
      case 5: {
        RK_TRY(rk_thrift_expect(t, RK_TT_STRUCT));
        h->has_data = true;
        FIELD_LOOP(in)
          switch (id) {
            case 1: RK_TRY(rk_thrift_field_i32(in, t, &h->num_values)); break;
            case 2: RK_TRY(rk_thrift_field_i32(in, t, &v)); h->encoding = v; break;
            case 3: RK_TRY(rk_thrift_field_i32(in, t, &v)); h->def_encoding = v; break;
            case 4: RK_TRY(rk_thrift_field_i32(in, t, &v)); h->rep_encoding = v; break;
            default: RK_TRY(rk_thrift_skip(in, t));
          }
        FIELD_LOOP_END(in)
        break;
      }
      case 7: {
        RK_TRY(rk_thrift_expect(t, RK_TT_STRUCT));
        h->has_dict = true;
        FIELD_LOOP(in)
          switch (id) {
            case 1: RK_TRY(rk_thrift_field_i32(in, t, &h->dict_num_values)); break;
            case 2: RK_TRY(rk_thrift_field_i32(in, t, &v)); h->encoding = v; break;
            default: RK_TRY(rk_thrift_skip(in, t));
          }
        FIELD_LOOP_END(in)
        break;
      }
      case 8: {
        RK_TRY(rk_thrift_expect(t, RK_TT_STRUCT));
        h->has_data_v2 = true;
        FIELD_LOOP(in)
          switch (id) {
            case 1: RK_TRY(rk_thrift_field_i32(in, t, &h->num_values)); break;
            case 2: RK_TRY(rk_thrift_field_i32(in, t, &h->num_nulls)); break;
            case 3: RK_TRY(rk_thrift_field_i32(in, t, &h->num_rows)); break;
            case 4: RK_TRY(rk_thrift_field_i32(in, t, &v)); h->encoding = v; break;
            case 5: RK_TRY(rk_thrift_field_i32(in, t, &h->def_bytes)); break;
            case 6: RK_TRY(rk_thrift_field_i32(in, t, &h->rep_bytes)); break;
            case 7: RK_TRY(rk_thrift_field_bool(t, &h->is_compressed)); break;
            default: RK_TRY(rk_thrift_skip(in, t));
          }
        FIELD_LOOP_END(in)
        break;
      }
      default: RK_TRY(rk_thrift_skip(in, t));
    }
  FIELD_LOOP_END(in)
  if (!has_type || !has_u || !has_c) return rk_error(RK_EFORMAT, "page header lacks its type or sizes");
  if ((h->type == RK_PQ_PAGE_DATA && !h->has_data) || (h->type == RK_PQ_PAGE_DATA_V2 && !h->has_data_v2) ||
      (h->type == RK_PQ_PAGE_DICTIONARY && !h->has_dict))
    return rk_error(RK_EFORMAT, "page header of type %d lacks the header of its type", h->type);
  if (h->uncompressed_size < 0 || h->compressed_size < 0)
    return rk_error(RK_EFORMAT, "page header has negative sizes (%d, %d)", h->compressed_size, h->uncompressed_size);
  if (h->num_values < 0 || h->num_nulls < 0 || h->def_bytes < 0 || h->rep_bytes < 0 || h->dict_num_values < 0)
    return rk_error(RK_EFORMAT, "page header has negative counts");
  return RK_OK;
}

rk_status rk_pq_page_header_parse(rk_pq_page_header *h, size_t *used, const uint8_t *data, size_t len) {
  memset(h, 0, sizeof *h);
  h->is_compressed = true;
  rk_thrift_in in = {data, data + len, 0};
  RK_TRY(read_page_header(&in, h));
  *used = (size_t)(in.p - data);
  return RK_OK;
}

/* ---- writing ------------------------------------------------------------------------------ */
void rk_pq_page_header_write(rk_parquet_buf *buf, const rk_pq_page_header *h) {
  rk_thrift_out o;
  rk_thrift_out_init(&o, buf);
  rk_thrift_put_struct_begin(&o, 0);
  rk_thrift_put_i32(&o, 1, h->type);
  rk_thrift_put_i32(&o, 2, h->uncompressed_size);
  rk_thrift_put_i32(&o, 3, h->compressed_size);
  if (h->has_crc) rk_thrift_put_i32(&o, 4, (int32_t)h->crc);
  if (h->type == RK_PQ_PAGE_DATA) {
    rk_thrift_put_struct_begin(&o, 5);
    rk_thrift_put_i32(&o, 1, h->num_values);
    rk_thrift_put_i32(&o, 2, h->encoding);
    rk_thrift_put_i32(&o, 3, h->def_encoding);
    rk_thrift_put_i32(&o, 4, h->rep_encoding);
    rk_thrift_put_struct_end(&o);
  } else if (h->type == RK_PQ_PAGE_DICTIONARY) {
    rk_thrift_put_struct_begin(&o, 7);
    rk_thrift_put_i32(&o, 1, h->dict_num_values);
    rk_thrift_put_i32(&o, 2, h->encoding);
    rk_thrift_put_struct_end(&o);
  } else {
    rk_thrift_put_struct_begin(&o, 8);
    rk_thrift_put_i32(&o, 1, h->num_values);
    rk_thrift_put_i32(&o, 2, h->num_nulls);
    rk_thrift_put_i32(&o, 3, h->num_rows);
    rk_thrift_put_i32(&o, 4, h->encoding);
    rk_thrift_put_i32(&o, 5, h->def_bytes);
    rk_thrift_put_i32(&o, 6, h->rep_bytes);
    rk_thrift_put_bool(&o, 7, h->is_compressed);
    rk_thrift_put_struct_end(&o);
  }
  rk_thrift_put_struct_end(&o);
}

static void write_stats(rk_thrift_out *o, int16_t id, const rk_pq_stats *s) {
  rk_thrift_put_struct_begin(o, id);
  if (s->has_null_count) rk_thrift_put_i64(o, 3, s->null_count);
  if (s->has_max) rk_thrift_put_bin(o, 5, s->max, s->max_len);
  if (s->has_min) rk_thrift_put_bin(o, 6, s->min, s->min_len);
  rk_thrift_put_struct_end(o);
}

void rk_pq_meta_write(rk_parquet_buf *buf, const rk_pq_out_schema *schema, int nschema, int64_t num_rows,
                      int nrow_groups, const int64_t *rg_rows, const int64_t *rg_bytes, const rk_pq_out_chunk *chunks,
                      int ncols, const rk_pq_kv *kv, int nkv, const char *created_by) {
  rk_thrift_out o;
  rk_thrift_out_init(&o, buf);
  rk_thrift_put_struct_begin(&o, 0);
  rk_thrift_put_i32(&o, 1, 1);
  rk_thrift_put_list(&o, 2, RK_TT_STRUCT, nschema);
  int nleaves = 0;
  for (int i = 0; i < nschema; i++) {
    const rk_pq_out_schema *e = &schema[i];
    rk_thrift_put_struct_begin(&o, 0);
    if (e->type >= 0) rk_thrift_put_i32(&o, 1, e->type);
    if (e->type_length > 0) rk_thrift_put_i32(&o, 2, e->type_length);
    if (e->repetition >= 0) rk_thrift_put_i32(&o, 3, e->repetition);
    rk_thrift_put_str(&o, 4, e->name);
    if (e->type < 0) rk_thrift_put_i32(&o, 5, e->num_children);
    if (e->converted >= 0) rk_thrift_put_i32(&o, 6, e->converted);
    if (e->converted == RK_CT_DECIMAL) {
      rk_thrift_put_i32(&o, 7, e->scale);
      rk_thrift_put_i32(&o, 8, e->precision);
    }
    if (e->logical) {
      rk_thrift_put_struct_begin(&o, 10);
      rk_thrift_put_struct_begin(&o, (int16_t)e->logical);
      if (e->logical == RK_LT_INTEGER) {
        rk_thrift_put_field(&o, RK_TT_I8, 1);
        rk_parquet_buf_byte(buf, (uint8_t)e->int_bits);
        rk_thrift_put_bool(&o, 2, e->int_signed);
      }
      rk_thrift_put_struct_end(&o);
      rk_thrift_put_struct_end(&o);
    }
    rk_thrift_put_struct_end(&o);
    if (e->type >= 0) nleaves++;
  }
  rk_thrift_put_i64(&o, 3, num_rows);
  rk_thrift_put_list(&o, 4, RK_TT_STRUCT, nrow_groups);
  for (int g = 0; g < nrow_groups; g++) {
    rk_thrift_put_struct_begin(&o, 0);
    rk_thrift_put_list(&o, 1, RK_TT_STRUCT, ncols);
    int64_t compressed = 0;
    for (int c = 0; c < ncols; c++) {
      const rk_pq_out_chunk *ch = &chunks[(size_t)g * (size_t)ncols + (size_t)c];
      compressed += ch->total_compressed;
      rk_thrift_put_struct_begin(&o, 0);
      rk_thrift_put_i64(&o, 2, ch->dictionary_page_offset >= 0 ? ch->dictionary_page_offset : ch->data_page_offset);
      rk_thrift_put_struct_begin(&o, 3);
      rk_thrift_put_i32(&o, 1, ch->type);
      rk_thrift_put_list(&o, 2, RK_TT_I32, ch->nencodings);
      for (int k = 0; k < ch->nencodings; k++) rk_thrift_put_zigzag(&o, ch->encodings[k]);
      rk_thrift_put_list(&o, 3, RK_TT_BINARY, ch->npath);
      for (int k = 0; k < ch->npath; k++) rk_thrift_put_binary(&o, ch->path[k], strlen(ch->path[k]));
      rk_thrift_put_i32(&o, 4, ch->codec);
      rk_thrift_put_i64(&o, 5, ch->num_values);
      rk_thrift_put_i64(&o, 6, ch->total_uncompressed);
      rk_thrift_put_i64(&o, 7, ch->total_compressed);
      rk_thrift_put_i64(&o, 9, ch->data_page_offset);
      if (ch->dictionary_page_offset >= 0) rk_thrift_put_i64(&o, 11, ch->dictionary_page_offset);
      if (ch->has_stats) write_stats(&o, 12, &ch->stats);
      rk_thrift_put_struct_end(&o);
      rk_thrift_put_struct_end(&o);
    }
    rk_thrift_put_i64(&o, 2, rg_bytes[g]);
    rk_thrift_put_i64(&o, 3, rg_rows[g]);
    if (ncols > 0) {
      const rk_pq_out_chunk *first = &chunks[(size_t)g * (size_t)ncols];
      rk_thrift_put_i64(&o, 5, first->dictionary_page_offset >= 0 ? first->dictionary_page_offset : first->data_page_offset);
    }
    rk_thrift_put_i64(&o, 6, compressed);
    rk_thrift_put_field(&o, RK_TT_I16, 7);
    rk_thrift_put_zigzag(&o, g);
    rk_thrift_put_struct_end(&o);
  }
  if (nkv > 0) {
    rk_thrift_put_list(&o, 5, RK_TT_STRUCT, nkv);
    for (int i = 0; i < nkv; i++) {
      rk_thrift_put_struct_begin(&o, 0);
      rk_thrift_put_str(&o, 1, kv[i].key);
      if (kv[i].value) rk_thrift_put_str(&o, 2, kv[i].value);
      rk_thrift_put_struct_end(&o);
    }
  }
  rk_thrift_put_str(&o, 6, created_by);
  /* column_orders: TYPE_ORDER for every leaf, so readers trust min_value/max_value */
  rk_thrift_put_list(&o, 7, RK_TT_STRUCT, nleaves);
  for (int i = 0; i < nleaves; i++) {
    rk_thrift_put_struct_begin(&o, 0);
    rk_thrift_put_struct_begin(&o, 1);
    rk_thrift_put_struct_end(&o);
    rk_thrift_put_struct_end(&o);
  }
  rk_thrift_put_struct_end(&o);
}

/* ---- names for messages ------------------------------------------------------------------- */
const char *rk_parquet_encoding_name(int e) {
  static const char *const names[] = {"PLAIN", "GROUP_VAR_INT", "PLAIN_DICTIONARY", "RLE", "BIT_PACKED",
                                      "DELTA_BINARY_PACKED", "DELTA_LENGTH_BYTE_ARRAY", "DELTA_BYTE_ARRAY",
                                      "RLE_DICTIONARY", "BYTE_STREAM_SPLIT"};
  return e >= 0 && e < 10 ? names[e] : "unknown";
}

const char *rk_parquet_physical_name(int t) {
  static const char *const names[] = {"BOOLEAN", "INT32", "INT64", "INT96", "FLOAT", "DOUBLE", "BYTE_ARRAY",
                                      "FIXED_LEN_BYTE_ARRAY"};
  return t >= 0 && t < 8 ? names[t] : "unknown";
}
