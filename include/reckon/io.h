/*
 * reckon/io.h: reading and writing tables.
 *
 * Readers produce rk_batch values (reckon/core.h) in bounded memory; writers take them through
 * one table-sink interface, so every producer (synth, convert, preprocess) writes CSV or Parquet
 * alike. Formats: CSV/TSV (RFC 4180, gzip and zstd by extension), Parquet (src/io/parquet/),
 * Merlin schema (src/io/schema.c).
 */
#ifndef RECKON_IO_H
#define RECKON_IO_H

#include "reckon/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------
 * CSV reader (src/io/csv_read.c)
 * ------------------------------------------------------------------------------------------- */
/* Text that is not valid UTF-8: an error naming file, row and column, or replaced by U+FFFD. */
typedef enum { RK_INVALID_UTF8_ERROR, RK_INVALID_UTF8_REPLACE } rk_invalid_utf8;
/* Numbers that are not finite (inf, nan, 1e400, a cast past the type's range): an error naming
 * file, row and column, or read as missing (null). Statistics are never fitted on them. */
typedef enum { RK_NON_FINITE_ERROR, RK_NON_FINITE_AS_MISSING } rk_non_finite;

typedef struct {
  char sep;                   /* field separator, default ',' */
  bool header;                /* first record names the columns (default true) */
  const char *const *na_values;  /* strings read as null (e.g. "\\N"); an empty field is always null */
  int n_na_values;
  /* Column names when header is false (else "c0", "c1", ...). */
  const char *const *column_names;
  int n_column_names;
  /* Types given by name; other columns are inferred from the first infer_rows records as
   * int64, float64 or string. */
  const char *const *typed_names;
  const rk_coltype *typed_types;
  int n_typed;
  int64_t infer_rows;         /* default 10000 */
  int64_t batch_rows;         /* most rows per batch from rk_csv_next (default 65536) */
  int threads;                /* parse threads; 0 = rk_num_threads() */
  const char *label;          /* name used in messages (default: the path) */
  rk_invalid_utf8 invalid_utf8;   /* string fields and header names (default: error) */
  rk_non_finite non_finite;   /* float fields (default: error) */
  /* Columns holding lists in DuckDB's text form ("[1, 2, 3]", "[a, 'b, c']", as the CSV writer
   * writes them), read as list columns; the element type is inferred like a column's. */
  const char *const *list_columns;
  int n_list_columns;
  /* A share of the file (range_end > 0): only the records that start in bytes [range_begin,
   * range_end), a record starting where the previous one ends; the header and the inferred types
   * still come from the head of the file, so every share of one file reads the same columns.
   * Rows in messages count from the share's first record. Plain files with LF line ends only,
   * and no line break inside a quoted field (a boundary is the byte after a newline). */
  int64_t range_begin, range_end;
} rk_csv_options;

void rk_csv_options_default(rk_csv_options *opts);
/* Parse a --csv_sep value: ",", "\t", "tab", "\\t", or any single byte. */
rk_status rk_csv_parse_sep(const char *text, char *sep);

typedef struct rk_csv_reader rk_csv_reader;

/* Opens a file (".gz" and ".zst" are decompressed as they stream) and settles the columns.
 * Errors name the file, the row (1-based data rows, header excluded), the column and what was
 * expected: "cannot parse 'x1' as int64 in 'train.csv' row 1042, column 'user_id'". */
rk_status rk_csv_open(rk_csv_reader **reader, const char *path, const rk_csv_options *opts);
int rk_csv_num_columns(const rk_csv_reader *reader);
const char *rk_csv_column_name(const rk_csv_reader *reader, int col);
rk_coltype rk_csv_column_type(const rk_csv_reader *reader, int col);
/* Fills `batch` (initialised by the reader on first use; reuse it between calls) with the next
 * rows; batch->nrows == 0 at the end. */
rk_status rk_csv_next(rk_csv_reader *reader, rk_batch *batch);
/* Bytes of (decompressed) input consumed so far, for progress. */
int64_t rk_csv_bytes_read(const rk_csv_reader *reader);
void rk_csv_close(rk_csv_reader *reader);
/* The whole file as one batch. */
rk_status rk_csv_read_all(const char *path, const rk_csv_options *opts, rk_batch *out);

/* ---------------------------------------------------------------------------------------------
 * Table sinks (src/io/sink.c): the one interface every writer implements.
 * rk_sink_open picks the format from the path's extension: .csv / .tsv (optionally .gz or .zst),
 * .parquet. Output goes to a temporary name and is renamed by rk_sink_close, so a failed or
 * aborted write never leaves a half file under the final name.
 * ------------------------------------------------------------------------------------------- */
typedef struct {
  char sep;                   /* CSV: 0 = ',' (or '\t' for .tsv) */
  const char *na_value;       /* CSV: text written for nulls (default empty) */
  bool omit_header;           /* CSV: no header record, as YOOCHOOSE's files (default false) */
  const char *compression;    /* Parquet: "snappy" (default), "zstd", "gzip", "uncompressed" */
  int64_t row_group_size;     /* Parquet: rows per row group (0 = writer default) */
} rk_sink_options;

typedef struct rk_table_sink rk_table_sink;
struct rk_table_sink {
  rk_status (*write)(rk_table_sink *sink, const rk_batch *batch);
  rk_status (*close)(rk_table_sink *sink);   /* finish, rename into place, free */
  void (*abort)(rk_table_sink *sink);        /* discard the temporary file, free */
};

void rk_sink_options_default(rk_sink_options *opts);
rk_status rk_sink_open(rk_table_sink **sink, const char *path, const rk_sink_options *opts);
static inline rk_status rk_sink_write(rk_table_sink *sink, const rk_batch *batch) { return sink->write(sink, batch); }
static inline rk_status rk_sink_close(rk_table_sink *sink) { return sink->close(sink); }
static inline void rk_sink_abort(rk_table_sink *sink) { sink->abort(sink); }

/* CSV writer behind rk_sink_open (src/io/csv_write.c). */
rk_status rk_csv_sink_open(rk_table_sink **sink, const char *path, const rk_sink_options *opts);

/* ---------------------------------------------------------------------------------------------
 * Table sources (src/io/source.c): the reading twin of the sink. rk_source_open picks the reader
 * from the path: a folder of *.parquet files or a .parquet file (Parquet), anything else CSV
 * (.tsv means tab; .gz and .zst are decompressed).
 * ------------------------------------------------------------------------------------------- */
typedef struct {
  char csv_sep;                   /* 0: ',' (tab for .tsv) */
  const char *const *na_values;   /* CSV: strings read as null */
  int n_na_values;
  const char *const *columns;     /* projection by name, order kept; NULL = all */
  int ncolumns;
  int64_t batch_rows;             /* 0: the reader's default */
  rk_invalid_utf8 csv_invalid_utf8;   /* CSV: see rk_csv_options */
  rk_non_finite csv_non_finite;
  const char *const *csv_list_columns;   /* CSV: see rk_csv_options */
  int n_csv_list_columns;
  bool csv_no_header;             /* CSV: the first line is data (names from csv_column_names, else c0, c1, ...) */
  const char *const *csv_column_names;
  int n_csv_column_names;
  /* Read only share `share` of `shares` (shares > 1), for one of several processes: Parquet, a
   * contiguous block of the row groups (over the files in order); CSV, a contiguous byte range
   * on record boundaries (rk_csv_options.range_begin; messages name "<path> (share s+1 of n)"
   * and count rows from the share's first). The shares of 0..shares-1 together are the whole
   * input, each row once, in order. */
  int share, shares;
} rk_source_options;

typedef struct rk_table_source rk_table_source;
struct rk_table_source {
  const char *format;                                          /* "csv" or "parquet" */
  rk_status (*next)(rk_table_source *source, rk_batch *batch); /* nrows == 0 at the end */
  double (*fraction_done)(rk_table_source *source);           /* 0..1 for progress */
  int64_t (*total_rows)(rk_table_source *source);              /* -1 when unknown (CSV) */
  void (*close)(rk_table_source *source);
};

void rk_source_options_default(rk_source_options *opts);
rk_status rk_source_open(rk_table_source **source, const char *path, const rk_source_options *opts);
/* Whether a path is read as Parquet (a .parquet file, or a folder holding *.parquet files). */
bool rk_source_is_parquet(const char *path);

/* ---------------------------------------------------------------------------------------------
 * Column profiles (src/io/profile.c): one streaming pass over batches gives, per column, the
 * count, nulls, min, max, mean, an estimate of distinct values (HyperLogLog, about 1% error)
 * and the most frequent values (Space-Saving; exact while a column has at most 64 distinct
 * values). Deterministic: the same batches give the same profile.
 * ------------------------------------------------------------------------------------------- */
#define RK_PROFILE_TOP 5

typedef struct {
  char *name;
  rk_coltype type;
  rk_coltype elem_type;       /* lists: their elements are profiled */
  int64_t rows;
  int64_t nulls;
  int64_t values;             /* non-null values (list elements for lists) */
  bool has_range;             /* numbers: min/max/mean; strings: min_s/max_s */
  double min, max, mean;      /* numbers (int64 beyond 2^53 lose precision here) */
  char *min_s, *max_s;        /* strings, lexicographic (at most 64 bytes shown) */
  int64_t list_min_len, list_max_len;
  double list_mean_len;
  double distinct;            /* estimate */
  int ntop;
  char *top_value[RK_PROFILE_TOP];
  int64_t top_count[RK_PROFILE_TOP];   /* exact when top_exact, else upper bounds; values whose
                                          count is mostly uncertainty are left out */
  bool top_exact;
} rk_column_profile;

typedef struct rk_profiler rk_profiler;
rk_status rk_profiler_create(rk_profiler **profiler);
rk_status rk_profiler_add(rk_profiler *profiler, const rk_batch *batch);
/* Valid until the next add or free. */
int rk_profiler_num_columns(const rk_profiler *profiler);
const rk_column_profile *rk_profiler_column(rk_profiler *profiler, int col);
void rk_profiler_free(rk_profiler *profiler);

/* ---------------------------------------------------------------------------------------------
 * safetensors (src/io/safetensors.c): model weights as PyTorch and numpy users read them.
 * Layout: 8-byte little-endian header size N, N bytes of JSON ({"name": {"dtype": "F32",
 * "shape": [..], "data_offsets": [begin, end]}, ..., "__metadata__": {"k": "v"}}, padded with
 * spaces to a multiple of 8), then the tensors' bytes, little-endian, row-major, without gaps.
 * Reading checks all of it: unknown dtypes, sizes that disagree with shapes, holes, overlaps,
 * duplicate names and offsets past the end are RK_EFORMAT errors naming the file and tensor.
 * ------------------------------------------------------------------------------------------- */
typedef struct {
  const char *name;
  rk_dtype dtype;
  int ndim;
  const int64_t *shape;
  const void *data;
  /* or, data NULL: the rows (slices along shape[0]) asked for in order, a block of n from row
   * `first` at a time, so a tensor larger than memory (a table sharded over ranks) is written
   * without ever being whole */
  rk_status (*read_rows)(void *ctx, void *out, int64_t first, int64_t n);
  void *ctx;
} rk_st_tensor;

/* Written atomically (temporary name, then rename), streamed: the file is never whole in
 * memory. */
rk_status rk_safetensors_write(const char *path, const rk_st_tensor *tensors, int n, const char *const *meta_keys,
                               const char *const *meta_values, int nmeta);

typedef struct rk_safetensors rk_safetensors;
rk_status rk_safetensors_read(rk_safetensors **file, const char *path);
/* The same from bytes in memory (copied); `label` names them in messages. */
rk_status rk_safetensors_parse(rk_safetensors **file, const void *data, size_t size, const char *label);
int rk_safetensors_count(const rk_safetensors *file);
/* Tensor i in data order; pointers valid until rk_safetensors_free. */
void rk_safetensors_get(const rk_safetensors *file, int i, rk_st_tensor *out);
/* RK_ENOTFOUND (with a message naming the file) when absent. */
rk_status rk_safetensors_find(const rk_safetensors *file, const char *name, rk_st_tensor *out);
const char *rk_safetensors_metadata(const rk_safetensors *file, const char *key);   /* NULL when absent */
void rk_safetensors_free(rk_safetensors *file);

/* ---------------------------------------------------------------------------------------------
 * Session feature configs (src/io/feature_config.c): recsys_main.py's --feature_config, a YAML
 * mapping of column name to its settings (Transformers4Rec, tag recsys2021,
 * datasets/<set>/config/features/), or the same content as JSON:
 *   sess_pid_seq: {dtype: categorical, cardinality: 390000, is_label: True,
 *                  emb_table: product_id, log_with_preds_as_metadata: True}
 *   sess_etime_seq: {dtype: timestamp, is_control: True}
 * Booleans are YAML 1.1's (True, true, yes, on, ...; an empty value is false, as Python reads
 * None). Stricter than the reference, which would fail later or silently: every key must be
 * known, a column appears once, a categorical column has a cardinality >= 1 (and only it has
 * cardinality and emb_table), columns sharing an emb_table agree on its cardinality, and there
 * is an is_label column; several (a session-aware config's bef_ copy) must share one table; a
 * timestamp column is a control column (the reference raises NotImplementedError otherwise).
 * Errors name the file, the line and the column and key at fault.
 * ------------------------------------------------------------------------------------------- */
#define RK_FEATURE_DTYPE_LIST(X)      \
  X(CATEGORICAL, "categorical")       \
  X(FLOAT,       "float")             \
  X(LONG,        "long")              \
  X(TIMESTAMP,   "timestamp")

typedef enum {
#define RK_FEATURE_DTYPE_ENUM(name, text) RK_FEATURE_##name,
  RK_FEATURE_DTYPE_LIST(RK_FEATURE_DTYPE_ENUM)
#undef RK_FEATURE_DTYPE_ENUM
  RK_FEATURE_DTYPE_COUNT
} rk_feature_dtype;

typedef struct {
  const char *name;               /* the column */
  rk_feature_dtype dtype;
  int64_t cardinality;            /* categorical: rows of its embedding table; else 0 */
  const char *emb_table;          /* categorical: the table it looks up (the column's own name
                                     when not given); NULL otherwise */
  bool is_label;                  /* the item id: the output layer has `cardinality` items */
  bool is_control;                /* not a model input (read for metadata only) */
  bool log_with_preds_as_metadata;
  int line;                       /* where the column is declared (1-based) */
} rk_feature_spec;

typedef struct {
  rk_feature_spec *features;      /* (n) in file order */
  int n;
  int label;                      /* index of the first is_label column */
  rk_arena strings;               /* names, owned */
} rk_feature_config;

const char *rk_feature_dtype_name(rk_feature_dtype dtype);
/* Reads `path`, YAML or JSON: JSON is YAML's flow syntax, so one parser reads both and gives
 * lines for either. */
rk_status rk_feature_config_read(rk_feature_config *out, const char *path);
/* The same from text in memory; `label` names it in errors. */
rk_status rk_feature_config_parse(rk_feature_config *out, const char *text, size_t size, const char *label);
/* The column's index, or -1. */
int rk_feature_config_find(const rk_feature_config *c, const char *name);
void rk_feature_config_free(rk_feature_config *c);

#ifdef __cplusplus
}
#endif
#endif /* RECKON_IO_H */
