/*
 * reckon/parquet.h: reading and writing Apache Parquet files with reckon's own implementation
 * (src/io/parquet/): no C Parquet library is packaged for Debian.
 *
 * Reading: flat columns of every physical type and the common logical types, and LISTs of
 * primitives (3-level and legacy 2-level), one batch per row group (or capped), with column
 * projection, key-value metadata and statistics; many files as one dataset. Writing: the table
 * sink of reckon/io.h (dictionary or plain encoding, snappy by default, statistics, LIST columns).
 * Not supported (a clear "unsupported: ..." error, never wrong data): structs, maps, deeper
 * nesting, LZO, encrypted files, column data in external files.
 *
 * Type mapping when reading (Parquet -> rk_coltype):
 *   BOOLEAN -> uint8 (0/1); INT32 -> int32 (INT(8|16|32, signed|unsigned) -> the matching type,
 *   DATE -> int32 days since 1970-01-01, TIME(ms) -> int32); INT64 -> int64 (UINT_64 -> uint64,
 *   TIMESTAMP/TIME keep their unit: see rk_parquet_column_info.logical); INT96 -> int64 ns since
 *   the epoch; FLOAT -> float32; DOUBLE -> float64; BYTE_ARRAY and FIXED_LEN_BYTE_ARRAY ->
 *   string (bytes as stored); DECIMAL (any physical type) -> float64; FLOAT16 -> float32.
 * Writing (rk_coltype -> Parquet): int8/16/32 and uint8/16/32 -> INT32 with INT(bits, signed);
 *   int64 -> INT64; uint64 -> INT64 INT(64, false); float32 -> FLOAT; float64 -> DOUBLE;
 *   string -> BYTE_ARRAY STRING; list -> the standard 3-level LIST of required elements.
 *   Every column is written OPTIONAL.
 */
#ifndef RECKON_PARQUET_H
#define RECKON_PARQUET_H

#include "reckon/core.h"
#include "reckon/io.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  RK_PARQUET_LOGICAL_NONE,
  RK_PARQUET_LOGICAL_STRING,         /* UTF8 / STRING, ENUM, JSON */
  RK_PARQUET_LOGICAL_DATE,           /* int32 days since 1970-01-01 */
  RK_PARQUET_LOGICAL_TIME_MS,
  RK_PARQUET_LOGICAL_TIME_US,
  RK_PARQUET_LOGICAL_TIME_NS,
  RK_PARQUET_LOGICAL_TIMESTAMP_MS,   /* int64 since the epoch, in the unit named */
  RK_PARQUET_LOGICAL_TIMESTAMP_US,
  RK_PARQUET_LOGICAL_TIMESTAMP_NS,   /* also INT96 timestamps */
  RK_PARQUET_LOGICAL_DECIMAL,        /* read as float64 */
  RK_PARQUET_LOGICAL_UUID,           /* 16 raw bytes in a string */
  RK_PARQUET_LOGICAL_FLOAT16         /* read as float32 */
} rk_parquet_logical;

/* One top-level column of a file as reckon reads it. */
typedef struct {
  const char *name;
  rk_coltype type;            /* RK_COL_LIST for lists */
  rk_coltype elem_type;       /* lists: the element type */
  int physical;               /* Parquet physical type of the leaf (0 BOOLEAN .. 7 FIXED_LEN_BYTE_ARRAY) */
  rk_parquet_logical logical;
  int decimal_scale, decimal_precision;
  bool nullable;
  const char *unsupported;    /* non-NULL: why reckon cannot read this column (structs, maps, ...) */
} rk_parquet_column_info;

typedef struct {
  const char *const *columns; /* projection by name (order kept); NULL = every column */
  int ncolumns;
  int64_t batch_rows;         /* 0: one batch per row group; else at most this many rows per batch */
  const char *label;          /* name used in messages (default: the path) */
} rk_parquet_read_options;

void rk_parquet_read_options_default(rk_parquet_read_options *opts);

/* Statistics of one column chunk, as stored (min/max PLAIN-encoded, strings without length),
 * plus the decoded values for numeric columns. */
typedef struct {
  bool has_min_max;
  bool has_null_count;
  bool has_distinct_count;
  int64_t null_count;
  int64_t distinct_count;
  const uint8_t *min, *max;   /* raw bytes, valid while the reader is open */
  size_t min_len, max_len;
  bool is_float;              /* decoded values: floats in min_f/max_f, integers in min_i/max_i */
  int64_t min_i, max_i;       /* unsigned types: the bits of the uint64 */
  double min_f, max_f;
} rk_parquet_stats;

/* How one column chunk is stored: for `reckon inspect`. */
typedef struct {
  const char *codec;          /* "SNAPPY", "ZSTD", ... (static) */
  char encodings[96];         /* "PLAIN_DICTIONARY,PLAIN,RLE" as the footer lists them */
  int64_t compressed_bytes;
  int64_t uncompressed_bytes;
  int64_t num_values;
  bool has_dictionary;
} rk_parquet_chunk_info;

typedef struct rk_parquet_reader rk_parquet_reader;

/* Opens a file and reads its footer. Errors name the file: "cannot read 'x.parquet': ...". */
rk_status rk_parquet_open(rk_parquet_reader **reader, const char *path, const rk_parquet_read_options *opts);
/* The selected columns. */
int rk_parquet_num_columns(const rk_parquet_reader *reader);
const rk_parquet_column_info *rk_parquet_column(const rk_parquet_reader *reader, int col);
int64_t rk_parquet_num_rows(const rk_parquet_reader *reader);
int rk_parquet_num_row_groups(const rk_parquet_reader *reader);
int64_t rk_parquet_row_group_rows(const rk_parquet_reader *reader, int row_group);
const char *rk_parquet_created_by(const rk_parquet_reader *reader);   /* NULL when absent */
/* Key-value metadata of the file. */
int rk_parquet_num_metadata(const rk_parquet_reader *reader);
void rk_parquet_metadata(const rk_parquet_reader *reader, int i, const char **key, const char **value);
const char *rk_parquet_metadata_find(const rk_parquet_reader *reader, const char *key);   /* NULL: absent */
/* Statistics of selected column `col` in a row group (RK_ENOTFOUND when the file has none). */
rk_status rk_parquet_statistics(rk_parquet_stats *stats, const rk_parquet_reader *reader, int row_group, int col);
/* Storage of selected column `col` in a row group. */
rk_status rk_parquet_chunk(rk_parquet_chunk_info *info, const rk_parquet_reader *reader, int row_group, int col);
/* Fills batch (initialised by the reader on first use; reuse it between calls) with the next row
 * group, or the next batch_rows rows; batch->nrows == 0 at the end. Columns decode in parallel. */
rk_status rk_parquet_next(rk_parquet_reader *reader, rk_batch *batch);
/* One row group, whole (the batch is replaced). */
rk_status rk_parquet_read_row_group(rk_parquet_reader *reader, int row_group, rk_batch *batch);
void rk_parquet_close(rk_parquet_reader *reader);
/* The whole file as one batch. */
rk_status rk_parquet_read_all(const char *path, const rk_parquet_read_options *opts, rk_batch *out);

/* ---- many files as one dataset ---------------------------------------------------------------
 * A path that is a folder means its *.parquet files sorted naturally (part_2 before part_10);
 * a file means just that file. Every file must have the selected columns with the same types. */
typedef struct rk_parquet_dataset rk_parquet_dataset;
rk_status rk_parquet_dataset_open(rk_parquet_dataset **ds, const char *path, const rk_parquet_read_options *opts);
int rk_parquet_dataset_num_files(const rk_parquet_dataset *ds);
const char *rk_parquet_dataset_file(const rk_parquet_dataset *ds, int i);
int64_t rk_parquet_dataset_num_rows(const rk_parquet_dataset *ds);
int rk_parquet_dataset_num_columns(const rk_parquet_dataset *ds);
const rk_parquet_column_info *rk_parquet_dataset_column(const rk_parquet_dataset *ds, int col);
/* Like rk_parquet_next, across the files in order. */
rk_status rk_parquet_dataset_next(rk_parquet_dataset *ds, rk_batch *batch);
void rk_parquet_dataset_close(rk_parquet_dataset *ds);

/* ---- writing --------------------------------------------------------------------------------- */
typedef struct {
  const char *compression;       /* "snappy" (default), "zstd", "gzip", "brotli", "lz4_raw", "uncompressed" */
  int compression_level;         /* 0: the codec's default */
  int64_t row_group_rows;        /* default 1048576 */
  int64_t row_group_bytes;       /* default 128 MiB (estimated from the in-memory size) */
  int64_t page_bytes;            /* default 1 MiB (estimated, before compression) */
  bool dictionary;               /* default true: dictionary-encode, plain when the dictionary grows past... */
  int64_t dictionary_page_bytes; /* ...this many bytes (default 1 MiB), for the whole column chunk */
  bool data_page_v2;             /* default false (v1 pages) */
  bool statistics;               /* default true: min/max/null_count per column chunk */
  bool page_checksums;           /* default true: a CRC32 in every page header (readers verify it) */
  const char *const *metadata_keys;   /* key-value metadata written into the footer */
  const char *const *metadata_values;
  int nmetadata;
} rk_parquet_write_options;

void rk_parquet_write_options_default(rk_parquet_write_options *opts);

typedef struct rk_parquet_writer rk_parquet_writer;
/* Writes to "<path>.tmp.<pid>.<n>"; close renames into place, abort deletes. The schema is taken
 * from the first batch; later batches must have the same column names and types. */
rk_status rk_parquet_writer_open(rk_parquet_writer **writer, const char *path, const rk_parquet_write_options *opts);
rk_status rk_parquet_writer_write(rk_parquet_writer *writer, const rk_batch *batch);
/* Flush, write the footer, rename into place and free (also on failure). */
rk_status rk_parquet_writer_close(rk_parquet_writer *writer);
void rk_parquet_writer_abort(rk_parquet_writer *writer);
/* One batch as one file. */
rk_status rk_parquet_write(const char *path, const rk_batch *batch, const rk_parquet_write_options *opts);

/* The Parquet table sink behind rk_sink_open (opts->compression, opts->row_group_size). */
rk_status rk_parquet_sink_open(rk_table_sink **sink, const char *path, const rk_sink_options *opts);

#ifdef __cplusplus
}
#endif
#endif /* RECKON_PARQUET_H */
