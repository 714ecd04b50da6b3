/*
 * Parquet internals shared by the files of src/io/parquet/: the Thrift compact protocol
 * (thrift.c), the footer and page-header structures (metadata.c), the encodings
 * (encoding_rle.c, encoding_delta.c), the codecs (codec.c), the column-chunk decoder
 * (chunk_read.c) and encoder (chunk_write.c). Not a public interface: include/reckon/parquet.h is.
 *
 * Specifications: apache/parquet-format src/main/thrift/parquet.thrift (the structures),
 * Encodings.md, LogicalTypes.md, README.md (file layout, nested encoding);
 * apache/thrift doc/specs/thrift-compact-protocol.md.
 */
#ifndef RECKON_PARQUET_INTERNAL_H
#define RECKON_PARQUET_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reckon/core.h"
#include "reckon/parquet.h"

/* ---- growable byte buffer with a sticky failure flag (writers check it once at the end) ---- */
typedef struct {
  uint8_t *data;
  size_t len, cap;
  bool failed;        /* an allocation failed: contents are incomplete */
} rk_parquet_buf;

void rk_parquet_buf_put(rk_parquet_buf *b, const void *data, size_t n);
void rk_parquet_buf_byte(rk_parquet_buf *b, uint8_t v);
bool rk_parquet_buf_reserve(rk_parquet_buf *b, size_t extra);
void rk_parquet_buf_free(rk_parquet_buf *b);
void rk_parquet_put_u32le(rk_parquet_buf *b, uint32_t v);
/* Ask for transparent huge pages over the 2 MiB-aligned inside of a large buffer: a buffer
 * touched once (a column chunk, a page of indices) then costs one fault per 2 MiB, not per
 * 4 KiB. Advice only (no effect where THP is off or unsupported). */
void rk_pq_advise_huge(void *p, size_t n);

/* ---- Thrift compact protocol (thrift.c) ---- */
enum {
  RK_TT_STOP = 0, RK_TT_TRUE = 1, RK_TT_FALSE = 2, RK_TT_I8 = 3, RK_TT_I16 = 4, RK_TT_I32 = 5,
  RK_TT_I64 = 6, RK_TT_DOUBLE = 7, RK_TT_BINARY = 8, RK_TT_LIST = 9, RK_TT_SET = 10,
  RK_TT_MAP = 11, RK_TT_STRUCT = 12, RK_TT_UUID = 13
};
#define RK_THRIFT_MAX_DEPTH 32

typedef struct {
  const uint8_t *p, *end;
  int depth;
} rk_thrift_in;

rk_status rk_thrift_varint(rk_thrift_in *in, uint64_t *v);
rk_status rk_thrift_i64(rk_thrift_in *in, int64_t *v);
rk_status rk_thrift_i32(rk_thrift_in *in, int32_t *v);
rk_status rk_thrift_i16(rk_thrift_in *in, int16_t *v);
rk_status rk_thrift_i8(rk_thrift_in *in, int8_t *v);
rk_status rk_thrift_double(rk_thrift_in *in, double *v);
rk_status rk_thrift_binary(rk_thrift_in *in, const uint8_t **data, size_t *len);
/* Enter/leave a struct (depth-limited). */
rk_status rk_thrift_struct_begin(rk_thrift_in *in);
void rk_thrift_struct_end(rk_thrift_in *in);
/* Next field header: *type == RK_TT_STOP at the end of the struct. `last` carries the previous id. */
rk_status rk_thrift_field(rk_thrift_in *in, int16_t *last, uint8_t *type, int16_t *id);
/* List/set header; n is checked against the bytes left (every element takes at least one). */
rk_status rk_thrift_list(rk_thrift_in *in, uint8_t *elem_type, int64_t *n);
rk_status rk_thrift_skip(rk_thrift_in *in, uint8_t type);
/* Typed field readers: check the wire type, then read. Bools read the value from the type. */
rk_status rk_thrift_field_i32(rk_thrift_in *in, uint8_t type, int32_t *v);
rk_status rk_thrift_field_i64(rk_thrift_in *in, uint8_t type, int64_t *v);
rk_status rk_thrift_field_bool(uint8_t type, bool *v);
rk_status rk_thrift_expect(uint8_t type, uint8_t want);

typedef struct {
  rk_parquet_buf *buf;
  int16_t last[RK_THRIFT_MAX_DEPTH];
  int depth;
} rk_thrift_out;

void rk_thrift_out_init(rk_thrift_out *out, rk_parquet_buf *buf);
void rk_thrift_put_varint(rk_thrift_out *out, uint64_t v);
void rk_thrift_put_zigzag(rk_thrift_out *out, int64_t v);
void rk_thrift_put_binary(rk_thrift_out *out, const void *data, size_t n);
void rk_thrift_put_double(rk_thrift_out *out, double v);
void rk_thrift_put_field(rk_thrift_out *out, uint8_t type, int16_t id);
void rk_thrift_put_i32(rk_thrift_out *out, int16_t id, int32_t v);
void rk_thrift_put_i64(rk_thrift_out *out, int16_t id, int64_t v);
void rk_thrift_put_bool(rk_thrift_out *out, int16_t id, bool v);
void rk_thrift_put_bin(rk_thrift_out *out, int16_t id, const void *data, size_t n);
void rk_thrift_put_str(rk_thrift_out *out, int16_t id, const char *s);
/* Struct as a field (id > 0) or as a list element / top level (id == 0). */
void rk_thrift_put_struct_begin(rk_thrift_out *out, int16_t id);
void rk_thrift_put_struct_end(rk_thrift_out *out);
void rk_thrift_put_list(rk_thrift_out *out, int16_t id, uint8_t elem_type, int64_t n);

/* ---- parquet.thrift enums we use ---- */
enum { RK_PQ_BOOLEAN, RK_PQ_INT32, RK_PQ_INT64, RK_PQ_INT96, RK_PQ_FLOAT, RK_PQ_DOUBLE, RK_PQ_BYTE_ARRAY,
       RK_PQ_FIXED_LEN_BYTE_ARRAY };
enum { RK_PQ_REQUIRED, RK_PQ_OPTIONAL, RK_PQ_REPEATED };
enum { RK_PQ_ENC_PLAIN = 0, RK_PQ_ENC_PLAIN_DICTIONARY = 2, RK_PQ_ENC_RLE = 3, RK_PQ_ENC_BIT_PACKED = 4,
       RK_PQ_ENC_DELTA_BINARY_PACKED = 5, RK_PQ_ENC_DELTA_LENGTH_BYTE_ARRAY = 6, RK_PQ_ENC_DELTA_BYTE_ARRAY = 7,
       RK_PQ_ENC_RLE_DICTIONARY = 8, RK_PQ_ENC_BYTE_STREAM_SPLIT = 9 };
enum { RK_PQ_CODEC_UNCOMPRESSED, RK_PQ_CODEC_SNAPPY, RK_PQ_CODEC_GZIP, RK_PQ_CODEC_LZO, RK_PQ_CODEC_BROTLI,
       RK_PQ_CODEC_LZ4, RK_PQ_CODEC_ZSTD, RK_PQ_CODEC_LZ4_RAW };
enum { RK_PQ_PAGE_DATA = 0, RK_PQ_PAGE_INDEX = 1, RK_PQ_PAGE_DICTIONARY = 2, RK_PQ_PAGE_DATA_V2 = 3 };
/* ConvertedType */
enum { RK_CT_UTF8 = 0, RK_CT_MAP = 1, RK_CT_MAP_KEY_VALUE = 2, RK_CT_LIST = 3, RK_CT_ENUM = 4, RK_CT_DECIMAL = 5,
       RK_CT_DATE = 6, RK_CT_TIME_MILLIS = 7, RK_CT_TIME_MICROS = 8, RK_CT_TIMESTAMP_MILLIS = 9,
       RK_CT_TIMESTAMP_MICROS = 10, RK_CT_UINT_8 = 11, RK_CT_UINT_16 = 12, RK_CT_UINT_32 = 13, RK_CT_UINT_64 = 14,
       RK_CT_INT_8 = 15, RK_CT_INT_16 = 16, RK_CT_INT_32 = 17, RK_CT_INT_64 = 18, RK_CT_JSON = 19, RK_CT_BSON = 20,
       RK_CT_INTERVAL = 21 };
/* LogicalType union members */
enum { RK_LT_STRING = 1, RK_LT_MAP = 2, RK_LT_LIST = 3, RK_LT_ENUM = 4, RK_LT_DECIMAL = 5, RK_LT_DATE = 6,
       RK_LT_TIME = 7, RK_LT_TIMESTAMP = 8, RK_LT_INTEGER = 10, RK_LT_UNKNOWN = 11, RK_LT_JSON = 12, RK_LT_BSON = 13,
       RK_LT_UUID = 14, RK_LT_FLOAT16 = 15 };

const char *rk_parquet_codec_name(int codec);
const char *rk_parquet_encoding_name(int encoding);
const char *rk_parquet_physical_name(int type);

/* ---- footer structures (metadata.c); strings and arrays live in the metadata's arena ---- */
typedef struct {
  const char *name;
  int type;               /* physical type, -1 for a group */
  int32_t type_length;
  int repetition;         /* -1 when absent (the root) */
  int32_t num_children;
  int converted;          /* -1 when absent */
  int32_t scale, precision;
  int logical;            /* RK_LT_*, 0 when absent */
  int time_unit;          /* TIME/TIMESTAMP: 1 millis, 2 micros, 3 nanos */
  int int_bits;           /* INTEGER */
  bool int_signed;
} rk_pq_schema_elem;

typedef struct {
  bool has_min, has_max, has_null_count, has_distinct_count;
  const uint8_t *min, *max;
  size_t min_len, max_len;
  int64_t null_count, distinct_count;
} rk_pq_stats;

typedef struct {
  int type, codec;
  int nencodings;
  int32_t *encodings;
  int npath;
  const char **path;
  int64_t num_values, total_uncompressed, total_compressed;
  int64_t data_page_offset, dictionary_page_offset;   /* dictionary: -1 when absent */
  rk_pq_stats stats;
  bool has_stats;
  bool encrypted;         /* crypto metadata present or no meta_data */
  const char *file_path;  /* external column data (unsupported) */
} rk_pq_chunk;

typedef struct {
  int ncols;
  rk_pq_chunk *cols;
  int64_t num_rows, total_byte_size;
} rk_pq_row_group;

typedef struct {
  const char *key, *value;   /* value may be NULL */
} rk_pq_kv;

typedef struct {
  rk_arena arena;
  int32_t version;
  int nschema;
  rk_pq_schema_elem *schema;
  int64_t num_rows;
  int nrow_groups;
  rk_pq_row_group *row_groups;
  int nkv;
  rk_pq_kv *kv;
  const char *created_by;
  bool encrypted;
} rk_pq_file_meta;

/* Parse a footer; on failure the message says what was wrong (the caller adds the file). */
rk_status rk_pq_meta_parse(rk_pq_file_meta *meta, const uint8_t *data, size_t len);
void rk_pq_meta_free(rk_pq_file_meta *meta);

typedef struct {
  int type;
  int32_t uncompressed_size, compressed_size;
  bool has_crc;                       /* crc: CRC32 (zlib's) of the compressed_size bytes after the header */
  uint32_t crc;
  /* data page v1 / v2 */
  int32_t num_values, num_nulls, num_rows;
  int encoding, def_encoding, rep_encoding;
  int32_t def_bytes, rep_bytes;       /* v2 */
  bool is_compressed;                 /* v2, default true */
  /* dictionary page */
  int32_t dict_num_values;
  bool has_data, has_data_v2, has_dict;
} rk_pq_page_header;

/* Parse a page header from at most len bytes; *used = header bytes. */
rk_status rk_pq_page_header_parse(rk_pq_page_header *h, size_t *used, const uint8_t *data, size_t len);

/* Writer side: what we serialize. */
typedef struct {
  const char *name;
  int type;                 /* -1: group */
  int repetition;
  int num_children;
  int converted;            /* -1: none */
  int logical;              /* 0: none */
  int int_bits;
  bool int_signed;
  int32_t type_length;      /* FIXED_LEN_BYTE_ARRAY (0: absent) */
  int32_t scale, precision; /* written with converted type DECIMAL */
} rk_pq_out_schema;

typedef struct {
  int type, codec;
  int nencodings;
  int32_t encodings[4];
  const char *path[3];
  int npath;
  int64_t num_values, total_uncompressed, total_compressed, data_page_offset, dictionary_page_offset;
  bool has_stats;
  rk_pq_stats stats;
  uint8_t *min_owned, *max_owned;   /* the statistics' bytes (rk_malloc; the writer frees them) */
} rk_pq_out_chunk;

void rk_pq_page_header_write(rk_parquet_buf *buf, const rk_pq_page_header *h);
/* Serialize FileMetaData. chunks: nrow_groups * ncols, row-major. */
void rk_pq_meta_write(rk_parquet_buf *buf, const rk_pq_out_schema *schema, int nschema, int64_t num_rows,
                      int nrow_groups, const int64_t *rg_rows, const int64_t *rg_bytes, const rk_pq_out_chunk *chunks,
                      int ncols, const rk_pq_kv *kv, int nkv, const char *created_by);

/* ---- encodings (encoding_rle.c, encoding_delta.c) ---- */
/* RLE/bit-packed hybrid (Encodings.md "Run Length Encoding / Bit-Packing Hybrid"): decode exactly n
 * values of bit_width bits (0..32) from [data, data+len). */
rk_status rk_pq_rle_decode(uint32_t *out, int64_t n, const uint8_t *data, size_t len, int bit_width);
/* The bytes the first n values of an RLE/bit-packed stream take (checked against len), without
 * decoding them: a v2 page's level sections must be exactly as long as its header says. */
rk_status rk_pq_rle_span(size_t *used, int64_t n, const uint8_t *data, size_t len, int bit_width);
void rk_pq_rle_encode(rk_parquet_buf *buf, const uint32_t *values, int64_t n, int bit_width);
int rk_pq_bit_width(uint64_t max_value);
/* Unpack n values of `width` bits, LSB first, from data (must hold ceil(n*width/8) bytes). */
void rk_pq_unpack_bits(uint64_t *out, const uint8_t *data, int64_t n, int width);
/* The same in bulk for widths 0..32: `groups` groups of 8 values from groups * width bytes. */
void rk_pq_unpack32(uint32_t *out, const uint8_t *data, int64_t groups, int width);
/* Its inverse: groups of 8 values (each below 2^width) into groups * width bytes. */
void rk_pq_pack32(uint8_t *out, const uint32_t *values, int64_t groups, int width);

/* DELTA_BINARY_PACKED: decode up to `max` values; *n gets the count in the header; *used the bytes. */
rk_status rk_pq_delta_count(int64_t *n, const uint8_t *data, size_t len);
rk_status rk_pq_delta_decode(int64_t *out, int64_t n, size_t *used, const uint8_t *data, size_t len);
void rk_pq_delta_encode(rk_parquet_buf *buf, const int64_t *values, int64_t n);

/* ---- codecs (codec.c) ---- */
/* Decompress exactly dst_len bytes (the page header's size); anything else is an error. */
rk_status rk_pq_decompress(int codec, uint8_t *dst, size_t dst_len, const uint8_t *src, size_t src_len);
/* The largest uncompressed size we accept for src_len compressed bytes (decompression bombs). */
size_t rk_pq_max_uncompressed(int codec, size_t src_len);
rk_status rk_pq_compress(int codec, int level, rk_parquet_buf *out, const uint8_t *src, size_t src_len);
rk_status rk_pq_codec_parse(const char *name, int *codec);

/* ---- column chunks (chunk_read.c, chunk_write.c) ---- */
/* How one top-level reckon column maps onto its leaf column in the file. */
typedef struct {
  int leaf;                 /* index of the leaf (column chunk) */
  int schema_index;         /* the leaf's schema element */
  int physical;
  int32_t type_length;
  int max_def, max_rep;
  bool is_list;
  int list_def;             /* def level at which the list itself is present (empty) */
  int elem_def;             /* def level at which an element slot exists */
  double decimal_factor;    /* 10^-scale for decimals */
  rk_parquet_column_info info;
} rk_pq_column_plan;

/* Buffers a decoder reuses from page to page and, when the caller keeps them, from column chunk
 * to column chunk (one per worker thread: never shared by two decoders at once). */
typedef struct {
  uint8_t *page;            /* decompressed page */
  size_t page_cap;
  uint32_t *def, *rep, *idx;   /* levels and dictionary indices of a page */
  int64_t def_cap, rep_cap, idx_cap;
  uint8_t *bytes;           /* BYTE_STREAM_SPLIT, booleans, DELTA values */
  size_t bytes_cap;
} rk_pq_decode_scratch;

/* Room for pages of page_bytes and values per page (call on the thread that owns the buffers:
 * see rk_pq_encode_scratch on malloc arenas). */
rk_status rk_pq_decode_scratch_reserve(rk_pq_decode_scratch *s, size_t page_bytes, int64_t values);
void rk_pq_decode_scratch_free(rk_pq_decode_scratch *s);

typedef struct {
  const char *file;         /* for messages */
  int row_group;
  const rk_pq_column_plan *plan;
  const rk_pq_chunk *chunk;
  const uint8_t *data;      /* the chunk's bytes */
  size_t len;
  int64_t file_offset;      /* of data[0] */
  int64_t num_rows;         /* rows in the row group */
  rk_pq_decode_scratch *scratch;   /* NULL: the decoder allocates its own */
} rk_pq_chunk_in;

/* Decode one column chunk into col (initialised by the caller with the plan's types). */
rk_status rk_pq_chunk_decode(rk_column *col, const rk_pq_chunk_in *in);

typedef struct {
  int codec, level;
  bool dictionary, page_v2, statistics, page_checksums;
  int64_t page_bytes, dictionary_bytes;
} rk_pq_write_config;

/* Buffers an encoder reuses from column chunk to column chunk (one per worker thread). They grow
 * with realloc, so buffers first allocated on the calling thread stay in its malloc arena:
 * memory a worker thread frees goes back to the system and faults in again on the next use. */
typedef struct {
  uint32_t *idx;            /* dictionary index of each value */
  int64_t *vrows;           /* leaf row of each value (strings with nulls, list offsets) */
  void *dense;              /* fixed-width values without the null slots */
  uint32_t *lev;            /* a page's repetition then definition levels */
  void *slots;              /* the dictionary's hash table (or direct table for 8/16-bit values) */
  uint64_t *keys;           /* the dictionary entries' keys */
  int64_t idx_cap, vrows_cap, lev_cap, slots_cap, keys_cap, dense_cap;   /* elements; slots, dense: bytes */
  rk_parquet_buf body, levels, packed, vals;
} rk_pq_encode_scratch;

/* Make room for chunks of up to `rows` leaf values (call on the thread that owns the writer). */
rk_status rk_pq_encode_scratch_reserve(rk_pq_encode_scratch *s, int64_t rows, const rk_pq_write_config *cfg);
void rk_pq_encode_scratch_free(rk_pq_encode_scratch *s);

/* Encode rows of one reckon column as a column chunk into buf (pages, from file offset `at`);
 * fills chunk metadata (offsets relative to the file). scratch NULL: the encoder's own. */
rk_status rk_pq_chunk_encode(rk_parquet_buf *buf, rk_pq_out_chunk *meta, const rk_column *col,
                             const rk_pq_write_config *cfg, int64_t at, rk_pq_encode_scratch *scratch);
/* Physical type and annotations for a reckon column type. */
void rk_pq_schema_for(rk_pq_out_schema *leaf, rk_coltype type);

#endif
