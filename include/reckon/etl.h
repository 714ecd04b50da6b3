/*
 * reckon/etl.h: preprocessing as NVTabular does it, streaming on CPU cores.
 *
 * A workflow is FIT on the train split (vocabularies, statistics, target encodings) and APPLIED
 * to any split, and later by the server, with the same code (rk_workflow_transform). The
 * building blocks below it are usable on their own: filter queries (pandas' DataFrame.query
 * subset), dictionaries of distinct values, and an exact streaming median.
 *
 * docs/preprocess.md explains the pipeline, the output layout and the reference's bugs we fixed.
 */
#ifndef RECKON_ETL_H
#define RECKON_ETL_H

#include <jansson.h>

#include "reckon/core.h"
#include "reckon/io.h"
#include "reckon/schema.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------
 * Filter queries (src/etl/query.c): the subset of pandas' DataFrame.query that users write.
 *
 *   click==1 or (click==0 and follow==0 and like==0 and share==0)
 *   age >= 3 & ~(gender == 0)        watching_times / 2 > 1.5        `video category` in [1, 2]
 *   name != 'bob'                    1 < age <= 5 (chained)          not (x == 1)
 *
 * Operators: or | ; and & ; not ~ ; == != < <= > >= (chained comparisons as in Python); in,
 * not in (a list or tuple of literals); + - * / % and unary minus. Operands: column names
 * (backquotes for names with spaces), integers, floats, 'strings' or "strings", True, False.
 * Numbers compare exactly (int64 against int64 without going through double). Nulls follow
 * pandas' NaN rules: every comparison with a null is false except != (true); arithmetic with a
 * null gives null; a null in a boolean position is false.
 * ------------------------------------------------------------------------------------------- */
typedef struct rk_query rk_query;

/* Errors (RK_EPARSE) quote the query and say where and what was expected:
 * "cannot parse --filter_query 'click== or x': expected a value at offset 7". */
rk_status rk_query_parse(rk_query **query, const char *text);
/* The distinct column names the query reads, in order of first use. */
int rk_query_num_columns(const rk_query *query);
const char *rk_query_column(const rk_query *query, int i);
/* keep[r] = 1 where row r satisfies the query, else 0. A column the batch lacks (RK_ENOTFOUND)
 * or a comparison of a string with a number (RK_EINVAL) is an error naming the column. Rows are
 * evaluated in parallel; the result does not depend on the thread count. */
rk_status rk_query_eval(const rk_query *query, const rk_batch *batch, uint8_t *keep);
void rk_query_free(rk_query *query);

/* ---------------------------------------------------------------------------------------------
 * Dictionaries (src/etl/dict.c): the distinct values of one column, numbered 0, 1, 2, ... in
 * order of first insertion. Keys are int64 for every integer column type (uint64 by its bits),
 * float64 for float columns (-0.0 and 0.0 are one value, every NaN is one value) and bytes for
 * strings. Memory grows with the number of distinct values only.
 * ------------------------------------------------------------------------------------------- */
typedef struct rk_dict rk_dict;

#define RK_DICT_NULL (-1)      /* the row is null */
#define RK_DICT_ABSENT (-2)    /* lookups only: the value is not in the dictionary */

/* `type` is the column type the dictionary will be fed (any int, float or string type). */
rk_status rk_dict_create(rk_dict **dict, rk_coltype type);
/* The key type: RK_COL_INT64, RK_COL_FLOAT64 or RK_COL_STRING. */
rk_coltype rk_dict_key_type(const rk_dict *dict);
/* idx[r - begin] = index of row r's value, inserting values not yet present (first-seen order
 * follows row order, so the numbering is deterministic); nulls get RK_DICT_NULL. The column's
 * type must match the dictionary's key kind (an int column for an int dictionary, ...). */
rk_status rk_dict_insert(rk_dict *dict, const rk_column *col, int64_t begin, int64_t end, int32_t *idx);
/* The same without inserting: absent values get RK_DICT_ABSENT. Safe to call from many threads
 * at once (while nobody inserts). */
void rk_dict_lookup(const rk_dict *dict, const rk_column *col, int64_t begin, int64_t end, int32_t *idx);
int64_t rk_dict_size(const rk_dict *dict);
/* Value i (0 <= i < size) by key type. */
int64_t rk_dict_int(const rk_dict *dict, int64_t i);
double rk_dict_double(const rk_dict *dict, int64_t i);
const char *rk_dict_string(const rk_dict *dict, int64_t i, size_t *len);
/* Order of values i and j: ints and doubles numerically (NaN last), strings bytewise. */
int rk_dict_compare(const rk_dict *dict, int64_t i, int64_t j);
/* Append values order[0..n) to `col` (a column of the key type, or any int type for int keys:
 * range-checked), for writing vocabularies. */
rk_status rk_dict_append_values(const rk_dict *dict, const int64_t *order, int64_t n, rk_column *col);
/* Bytes held, for reports. */
int64_t rk_dict_memory(const rk_dict *dict);
void rk_dict_free(rk_dict *dict);

/* ---------------------------------------------------------------------------------------------
 * Exact median in bounded memory (src/etl/median.c), as pandas' Series.median computes it (the
 * mean of the two middle values when the count is even; NaN skipped). Values are fed in passes:
 * each pass narrows a histogram of the values' order-preserving bits until the middle values
 * are known exactly; usually two passes, at most five. Memory: a few MB whatever the count.
 *
 *   rk_median_create(&m);
 *   do { for each batch: rk_median_add(m, x, n); } while (rk_median_end_pass(m, &done) == RK_OK && !done);
 * ------------------------------------------------------------------------------------------- */
typedef struct rk_median rk_median;

rk_status rk_median_create(rk_median **median);
/* Every pass must see the same multiset of values (order is free). */
rk_status rk_median_add(rk_median *median, const double *x, int64_t n);
/* Closes a pass; *done is true when the median is known (then further adds are errors). A pass
 * that saw a different number of values than the first is an error (RK_EINVAL). */
rk_status rk_median_end_pass(rk_median *median, bool *done);
double rk_median_value(const rk_median *median);   /* NaN when there were no values */
int64_t rk_median_count(const rk_median *median);  /* non-NaN values per pass */
void rk_median_free(rk_median *median);

/* ---------------------------------------------------------------------------------------------
 * Workflows (src/etl/workflow.c): the fitted transforms, one output column each, saved to and
 * loaded from a folder laid out as NVTabular lays out its workflow's categories:
 *   <dir>/workflow.json                       ops, parameters, statistics (paths relative to dir)
 *   <dir>/categories/unique.<col>.parquet     one row per id from 0: `<col>` (the value; null for
 *                                             0 padding, 1 null, 2 out-of-vocabulary) and
 *                                             `<col>_size` (its frequency in train)
 *   <dir>/target_encodings/te.<col>.<target>.parquet   value, sum, count per value
 * ------------------------------------------------------------------------------------------- */
typedef enum {
  RK_WF_PASSTHROUGH,   /* kept as is (control features, timestamp, session id, targets) */
  RK_WF_CATEGORIFY,    /* ids: 0 padding, 1 null, 2 OOV / rare, 3.. vocabulary by frequency */
  RK_WF_NORMALIZE,     /* fill nulls (value or median), then (x - mean) / std */
  RK_WF_TARGET_ENCODE  /* (sum + prior * smoothing) / (count + smoothing), out-of-fold on train */
} rk_wf_op;

typedef enum { RK_FILL_NONE, RK_FILL_VALUE, RK_FILL_MEDIAN } rk_fill_kind;

typedef struct {
  char *name;             /* output column */
  char *source;           /* input column */
  rk_wf_op op;
  rk_coltype in_type;     /* after the casts; a list column's: its values' type */
  rk_coltype out_type;
  bool is_target;         /* not required at transform time */
  char **tags;            /* schema tags, in the order written */
  int n_tags;
  /* categorify */
  rk_dict *vocab;         /* value i has id 3 + i */
  int64_t *freq;          /* train frequency per id (0, 1 null, 2 OOV, 3..) */
  int64_t cardinality;    /* 3 + vocabulary size */
  int64_t min_freq;       /* values rarer than this in train map to OOV */
  /* A list (multi-hot) column, categorify only: each value of a row's list is looked up in one
   * vocabulary over all the lists' values, as NVTabular's Categorify does; a null row becomes an
   * empty list. list_min/list_max: the fewest and most values of a row in the data preprocess
   * wrote (the schema's value_count). */
  bool is_list;
  int64_t list_min, list_max;
  /* normalize */
  rk_fill_kind fill;
  double fill_value;      /* the number, or the median */
  double mean, std;       /* std 0: subtract the mean only */
  /* target encoding: per value of `source` (vocab order), sums and counts of `target` */
  char *target;
  rk_dict *te_values;
  double *te_sum;
  int64_t *te_count;
  double te_prior, te_smoothing;
  int te_folds;
  uint64_t te_seed;
} rk_wf_column;

typedef struct rk_session_workflow rk_session_workflow;   /* below */

typedef struct {
  rk_wf_column *cols;
  int n_cols;
  int cap_cols;
  rk_session_workflow *session;   /* a session workflow (reckon preprocess session mode), else NULL */
} rk_workflow;

void rk_workflow_init(rk_workflow *wf);
void rk_workflow_free(rk_workflow *wf);
/* Appends a zeroed column (name and source copied); *col valid until the next add. */
rk_status rk_workflow_add(rk_workflow *wf, const char *name, const char *source, rk_wf_op op, rk_wf_column **col);
rk_status rk_wf_column_add_tag(rk_wf_column *col, const char *tag);
/* Written atomically (a temporary folder, then rename). */
rk_status rk_workflow_save(const rk_workflow *wf, const char *dir);
rk_status rk_workflow_load(rk_workflow *wf, const char *dir);
/* Raw rows (as read and cast) -> output columns. Target and pass-through columns (controls) are
 * copied when the input has them and left out when it does not (prediction data, a served
 * request). Target encodings use the whole train statistics (no folds: that is for fitting). A
 * missing feature column is an error naming it. */
rk_status rk_workflow_transform(const rk_workflow *wf, const rk_batch *in, rk_batch *out);
/* Whether the input may lack column c (rk_workflow_transform leaves it out). */
bool rk_wf_column_optional(const rk_wf_column *c);
/* The Merlin schema of the output (tags, int domains, embedding sizes, cat_path). */
rk_status rk_workflow_schema(const rk_workflow *wf, bool with_targets, rk_schema *out);

/* The fingerprint of the fitted workflow in folder `dir` (src/etl/fingerprint.c): "xxh64:" and 16
 * hex digits over its files. Data carries it in its schema, models in model.json, so predict can
 * refuse data transformed by another workflow than the model's training data. */
#define RK_WORKFLOW_FINGERPRINT_SIZE 24
rk_status rk_workflow_fingerprint(const char *dir, char out[RK_WORKFLOW_FINGERPRINT_SIZE]);
/* Every column of the schema gets the property `reckon_workflow_fingerprint`. */
rk_status rk_schema_set_workflow_fingerprint(rk_schema *s, const char *fingerprint);
/* The schema's fingerprint (borrowed), or NULL when the data came from elsewhere. */
const char *rk_schema_workflow_fingerprint(const rk_schema *s);
/* Rewrite the schema files of a dataset folder with the fingerprint. */
rk_status rk_dataset_stamp_workflow_fingerprint(const char *dataset, const char *fingerprint);
/* NVTabular's embedding size rule: min(512, max(16, round(1.6 * cardinality^0.56))). */
int64_t rk_embedding_dim(int64_t cardinality);

/* Kernels shared by the transform and the preprocessing pipeline, so both give the same bits. */
float rk_wf_normalize_value(const rk_wf_column *col, double x);   /* x already filled */
double rk_wf_target_encode(double sum, int64_t count, double prior, double smoothing);

/* ---------------------------------------------------------------------------------------------
 * The preprocessing pipeline (src/etl/preprocess.c): `reckon preprocess`.
 * read -> filter query -> casts -> frequency filters (users, then items, in rounds) -> split ->
 * fit on train -> transform train, eval, predict -> write Parquet parts + schema + workflow.
 * ------------------------------------------------------------------------------------------- */
typedef struct {
  int n;
  const char *const *items;
} rk_names;

/* ---------------------------------------------------------------------------------------------
 * Timestamps of event logs (src/etl/session_time.c). Internally every time is int64 unix
 * microseconds, UTC; what the session ETL writes (timestamp-first) is whole unix seconds.
 * ------------------------------------------------------------------------------------------- */
typedef enum { RK_TS_ISO8601, RK_TS_UNIX_S, RK_TS_UNIX_MS, RK_TS_UNIX_US } rk_timestamp_format;

/* "iso8601", "unix_s", "unix_ms", "unix_us"; RK_EUSAGE naming the value otherwise. */
rk_status rk_timestamp_format_parse(const char *name, rk_timestamp_format *out);
const char *rk_timestamp_format_name(rk_timestamp_format format);
/* ISO-8601 text, as event logs write it: "2014-04-07T10:51:09.277Z", "2014-04-07 10:51:09",
 * "2014-04-07T12:51:09+02:00", "2014-04-07" (midnight). Fractional seconds keep 6 digits
 * (further digits are dropped, not rounded); no zone means UTC. False when the text is not one. */
bool rk_iso8601_parse(const char *text, size_t n, int64_t *us);
/* Days since 1970-01-01 of a civil date, and back (Howard Hinnant's algorithms, proleptic Gregorian). */
int64_t rk_days_from_civil(int64_t y, int m, int d);
void rk_civil_from_days(int64_t days, int64_t *y, int *m, int *d);

/* ---------------------------------------------------------------------------------------------
 * Session workflows (src/etl/session*.c): `reckon preprocess` with --session_id_feature turns a
 * click log into one row per session with list columns, as NVTabular's Transformers4Rec ETL
 * does (drop null sessions, sort, drop consecutive repeats, categorify, time features, group,
 * slice, filter, day_index), writes every session to <out>/sessions/, splits them per window
 * and saves the fitted workflow; rk_session_transform replays it on raw events for serving.
 * docs/sessions.md has the formulas, the outputs and the memory behaviour.
 * ------------------------------------------------------------------------------------------- */
typedef struct {
  rk_timestamp_format timestamp_format;
  bool dedup_consecutive;         /* a a a b c c a -> a b c a */
  int64_t max_length;             /* keep the last N events of each session */
  bool pad;                       /* pad lists with 0 to exactly max_length */
  int64_t min_length;             /* drop sessions with fewer events (after dedup, before slicing) */
  const char *const *time_features;   /* et_dayofweek_sin, et_dayofweek_cos, product_recency_days_log_norm */
  int n_time_features;
  const char *price, *price_category; /* relative price: (price - category mean) / category mean; NULL: off */
  int64_t window_s;               /* 86400 (day) or 3600 (hour) */
  double split_fracs[3];          /* train, valid, test inside each window */
  const char *layout;             /* "day_index", "date_files" or "padded_index" */
  const char *list_suffix;        /* appended to the sliced list columns ("_seq"); "" for none */
  rk_names context;               /* categorified, kept as <col>-first per session */
  int partitions;                 /* spill partitions; 0: from the input's size */
} rk_session_options;

struct rk_session_workflow {
  char *session_id, *timestamp, *item_id;
  char *user_id;                  /* NULL when none */
  rk_timestamp_format timestamp_format;
  bool dedup_consecutive, pad;
  int64_t max_length, min_length;
  int64_t window_s, origin_s;     /* window 1 starts at origin_s (unix seconds) */
  char *list_suffix;
  char **time_features;
  int n_time_features;
  char **categorical;             /* event-level categoricals other than the item, as lists */
  int n_categorical;
  char **continuous;              /* event-level continuous columns: <c>_log_norm lists */
  int n_continuous;
  char **context;
  int n_context;
  char *price, *price_category;   /* NULL when off */
  bool hashed_session_ids;        /* session ids that are not integers: their xxh64, as int64 */
  /* fitted */
  rk_dict *first_seen_values;     /* every item value seen (raw), ... */
  int64_t *first_seen_us;         /* ... and its first event time */
  rk_dict *category_values;       /* every category with a price (raw), ... */
  double *category_mean_price;    /* ... and its mean price over events */
};

void rk_session_workflow_free(rk_session_workflow *sw);
/* Raw events (one or many sessions, any order; the columns as the ETL read them) -> exactly the
 * rows the ETL wrote for those sessions (same ids, floats and list order), sorted by session id,
 * with the ETL's columns (no split). wf must be a session workflow. */
rk_status rk_session_transform(const rk_workflow *wf, const rk_batch *events, rk_batch *sessions);
/* The Merlin schema of session rows (rk_session_transform's output): tags, vocabularies, and list
 * value counts from the rows' list lengths. */
rk_status rk_session_schema(const rk_workflow *wf, const rk_batch *sessions, rk_schema *out);

typedef enum { RK_SPLIT_NONE, RK_SPLIT_RANDOM, RK_SPLIT_RANDOM_BY_USER, RK_SPLIT_TEMPORAL } rk_split_strategy;

typedef struct {
  const char *data_path;          /* CSV/TSV file (optionally .gz/.zst), Parquet file or folder */
  const char *eval_data_path;     /* already split: cast and transformed, not frequency-filtered */
  const char *predict_data_path;  /* features only: written to predict/ */
  const char *input_format;       /* "csv", "tsv" or "parquet" */
  char csv_sep;                   /* 0: ',' (tab for tsv) */
  rk_names na_values;
  rk_invalid_utf8 csv_invalid_utf8;   /* CSV strings that are not UTF-8: error or U+FFFD */
  rk_non_finite non_finite;       /* inf, nan, overflow in any input or cast: error or missing */
  rk_names csv_list_columns;      /* CSV columns read as lists ("[1, 2, 3]") */
  const char *output_path;
  int output_num_partitions;
  bool persist_intermediate;      /* keep and reuse <output>/_cache/ */
  rk_names categorical, continuous, control, user_features, item_features;
  rk_names binary_targets, regression_targets;
  rk_names to_int32, to_int16, to_int8, to_float32;
  const char *continuous_fillna;  /* NULL, a number, or "median" */
  const char *user_id, *item_id, *timestamp, *session_id;   /* NULL when not given */
  rk_names te_features, te_targets;
  int te_kfold;
  double te_smoothing;
  int64_t categ_min_freq_capping;
  int64_t min_user_freq, max_user_freq, min_item_freq, max_item_freq;   /* -1: unset */
  int num_max_rounds_filtering;
  const char *filter_query;       /* NULL: none */
  rk_split_strategy split;
  double eval_perc;
  bool has_temporal_timestamp;
  int64_t temporal_timestamp;
  uint64_t seed;
  const char *compression;        /* output codec, default "snappy" */
  bool overwrite;                 /* replace an output folder reckon did not write (--overwrite) */
  bool csv_header;                /* false: no header line; names from csv_column_names */
  rk_names csv_column_names;
  rk_session_options session;     /* session mode: when session_id is given */
  /* Several processes (mpirun): each reads its share of the inputs, rank 0 writes the output,
   * identical to one process's (src/etl/dist_preprocess.c). NULL: one process. */
  struct rk_dist *dist;
} rk_preprocess_config;

void rk_preprocess_config_default(rk_preprocess_config *cfg);
/* Runs the pipeline (session mode, src/etl/session_etl.c, when cfg->session_id is set). Output appears under cfg->output_path only when complete; on failure it
 * is left as it was (apart from a complete _cache/ stage). *report (may be NULL) receives what
 * was done: rows read, filtered per rule, per split, vocabulary sizes, OOV counts, timings. */
rk_status rk_preprocess(const rk_preprocess_config *cfg, json_t **report);

#ifdef __cplusplus
}
#endif
#endif /* RECKON_ETL_H */
