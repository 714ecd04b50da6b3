/*
 * `reckon preprocess`: the flags of Merlin's quick-start preprocessing.py (both its older and
 * newer names), mapped onto rk_preprocess (src/etl/preprocess.c). The run prints what it did
 * and leaves the same figures in <output>/preprocess_report.json.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/dist_start.h"
#include "reckon/etl.h"
#include "reckon/io.h"

#define PREPROCESS_FLAGS(X)                                                                                          \
  X(data_path,           STRING, NULL,  "PATH", "input: a CSV/TSV file (optionally .gz or .zst), a .parquet file or a folder of them") \
  X(input_data_path,     ALIAS,  "data_path", NULL, NULL)                                                            \
  X(eval_data_path,      STRING, NULL,  "PATH", "eval data already split: cast and transformed with the train fit, not frequency-filtered; cannot be combined with --dataset_split_strategy") \
  X(predict_data_path,   STRING, NULL,  "PATH", "data to predict on (features, targets optional): transformed into test/") \
  X(test_data_path,      ALIAS,  "predict_data_path", NULL, NULL)                                                    \
  X(input_data_format,   CHOICE, "csv", "csv|tsv|parquet", "input format (tsv sets the separator to a tab)")         \
  RK_CSV_INPUT_FLAGS(X)                                                                                              \
  X(output_path,         STRING, "./results/", "DIR", "output folder: train/, eval/, test/, workflow/, preprocess_report.json") \
  X(output_num_partitions, INT,  "10",  "N in [1, 4096]", "Parquet files per output split (part_0.parquet ...), of consecutive rows") \
  X(persist_intermediate_files, BOOL, "false", NULL, "keep the intermediate stage under <output>/_cache/ and reuse it when the input and flags are unchanged") \
  X(control_features,    LIST,   "",    "C,...", "columns copied to the output as they are")                     \
  X(categorical_features, LIST,  "",    "C,...", "columns encoded as contiguous ids (0 padding, 1 null, 2 out-of-vocabulary or rare, then by descending train frequency)") \
  X(continuous_features, LIST,   "",    "C,...", "columns standardised with the train mean and sample standard deviation (float32)") \
  X(continuous_features_fillna, STRING, NULL, "X|median", "fill nulls of continuous features with this number, or the train median, before standardising") \
  X(user_features,       LIST,   "",    "C,...", "columns tagged 'user' in the schema")                          \
  X(item_features,       LIST,   "",    "C,...", "columns tagged 'item' in the schema")                          \
  X(user_id_feature,     STRING, NULL,  "C",    "the user id column: tagged user_id; used by --min_user_freq, --max_user_freq and random_by_user") \
  X(item_id_feature,     STRING, NULL,  "C",    "the item id column: tagged item_id; used by --min_item_freq and --max_item_freq") \
  X(timestamp_feature,   STRING, NULL,  "C",    "the timestamp column: tagged time; used by --dataset_split_strategy temporal; in session mode, each event's time") \
  X(session_id_feature,  STRING, NULL,  "C",    "session mode (without target flags): one row per session of this column, see docs/sessions.md; with targets it only tags the column session_id, session, id") \
  X(timestamp_format,    CHOICE, "iso8601", "iso8601|unix_s|unix_ms|unix_us", "session mode: how --timestamp_feature is written (ISO-8601 text with Z, fractions or an offset; or whole unix seconds, milliseconds, microseconds)") \
  X(dedup_consecutive_items, BOOL, "true", NULL, "session mode: drop consecutive repeats of an item in a session (a a b a -> a b a)") \
  X(session_max_length,  INT,    "20",  "N in [1, 100000]", "session mode: keep the last N events of each session (NVTabular's ListSlice(-N))") \
  X(session_pad,         BOOL,   "false", NULL, "session mode: pad the lists with 0 to exactly --session_max_length") \
  X(session_min_length,  INT,    "2",   "N in [0, 100000]", "session mode: drop sessions with fewer events (after dropping repeats, before slicing)") \
  X(session_time_features, LIST, "et_dayofweek_sin,et_dayofweek_cos,product_recency_days_log_norm", "F,...", "session mode: per-event time features, as lists (any of the default's three)") \
  X(relative_price_feature, LIST, "",   "PRICE,CATEGORY", "session mode: add relative_price_to_avg_<CATEGORY>: (price - the category's mean price) / that mean") \
  X(session_window,      CHOICE, "day", "day|hour", "session mode: day_index counts whole days (or hours) from 00:00 UTC of the first event's day (or hour), from 1") \
  X(session_split_fracs, LIST,   "0.8,0.1,0.1", "TRAIN,VALID,TEST", "session mode: shares of each window's sessions (shuffled with --random_seed) in train, valid and test; they add up to 1") \
  X(session_output_layout, CHOICE, "day_index", "day_index|date_files|padded_index", "session mode: <out>/<day>/{train,valid,test}.parquet, <out>/session_start_date=YYYY-MM-DD-{train,valid,test}.parquet or <out>/<day as 4 digits>/...") \
  X(session_list_suffix, STRING, "_seq", "S",  "session mode: appended to the sliced list columns' names (item_id-list_seq); empty for none") \
  X(session_context_features, LIST, "", "C,...", "session mode: categorical columns kept once per session, as <col>-first") \
  X(session_spill_partitions, INT, "0", "N in [0, 4096]", "session mode: files events are spilled to by session hash (memory holds one at a time per thread); 0: one per 8 MB of input") \
  X(binary_classif_targets, LIST, "",   "C,...", "binary targets: tagged binary_classification and target, written unchanged") \
  X(regression_targets,  LIST,   "",    "C,...", "regression targets: tagged regression and target, written unchanged") \
  X(target_encoding_features, LIST, "", "C,...", "features to target-encode (default when only targets are given: every categorical feature); adds TE_<feature>_<target> columns") \
  X(target_encoding_targets, LIST, "",  "C,...", "targets to encode with (default when only features are given: every target)") \
  X(target_encoding_kfold, INT,  "5",   "K in [1, 100]", "folds for out-of-fold target encoding of train rows (seeded by --random_seed)") \
  X(target_encoding_smoothing, FLOAT, "10", "S >= 0", "smoothing: (sum + mean * S) / (count + S)")              \
  X(to_int32,            LIST,   "",    "C,...", "cast these columns to int32 (a value that does not fit is an error naming its row)") \
  X(to_int16,            LIST,   "",    "C,...", "cast these columns to int16")                                  \
  X(to_int8,             LIST,   "",    "C,...", "cast these columns to int8")                                   \
  X(to_float32,          LIST,   "",    "C,...", "cast these columns to float32")                                \
  X(categ_min_freq_capping, INT, "0",   "N >= 0", "categorical values seen fewer than N times in train map to the out-of-vocabulary id 2") \
  X(min_user_freq,       INT,    NULL,  "N >= 0", "remove the rows of users with fewer than N rows (before splitting)") \
  X(max_user_freq,       INT,    NULL,  "N >= 0", "remove the rows of users with more than N rows")              \
  X(min_item_freq,       INT,    NULL,  "N >= 0", "remove the rows of items with fewer than N rows")             \
  X(max_item_freq,       INT,    NULL,  "N >= 0", "remove the rows of items with more than N rows")              \
  X(num_max_rounds_filtering, INT, "5", "N in [1, 1000]", "rounds of user then item filtering, stopping early when nothing changes") \
  X(filter_query,        STRING, NULL,  "EXPR", "keep rows matching a pandas-style query, e.g. \"click==1 or (click==0 and like==0)\"") \
  X(dataset_split_strategy, CHOICE, NULL, "random|random_by_user|temporal", "how to split train and eval (none: train only)") \
  X(random_split_eval_perc, FLOAT, NULL, "P in (0, 1)", "share of rows (random) or of each user's rows (random_by_user) for eval") \
  X(dataset_split_temporal_timestamp, INT, NULL, "T in (-inf, inf)", "temporal split: eval gets rows with timestamp >= T") \
  X(random_seed,         INT,    "42",  "S >= 0", "seed of the splits and target-encoding folds: the same seed gives the same bytes") \
  X(compression,         CHOICE, "snappy", "snappy|zstd|gzip|lz4_raw|uncompressed", "output Parquet codec")     \
  X(overwrite,           BOOL,   "false", NULL, "replace an --output_path that reckon preprocess did not write (without it, it is refused)") \
  X(enable_dask_cuda_cluster, IGNORED, NULL, NULL, "reckon runs on the CPU cores of one machine")               \
  X(dask_cuda_visible_gpu_devices, IGNORED, NULL, NULL, "reckon runs on the CPU cores of one machine")          \
  X(dask_cuda_gpu_device_spill_frac, IGNORED, NULL, NULL, "reckon streams from disk, so nothing spills")        \
  X(visible_gpu_devices, IGNORED, NULL, NULL, "reckon runs on the CPU cores of one machine")                     \
  X(gpu_device_spill_frac, IGNORED, NULL, NULL, "reckon streams from disk, so nothing spills")                  \
  X(device,              IGNORED, NULL, NULL, "preprocessing runs on CPU cores (--threads)")

typedef struct {
  PREPROCESS_FLAGS(RK_FLAG_FIELD)
} preprocess_opts;
#define RK_FLAG_STRUCT preprocess_opts
static const rk_flag preprocess_flags[] = {PREPROCESS_FLAGS(RK_FLAG_ROW) RK_FLAG_END};
#undef RK_FLAG_STRUCT

static rk_names names(rk_strlist l) {
  /* Trailing commas and empty items are not column names: drop them. */
  int n = 0;
  for (int i = 0; i < l.n; i++) n += l.items[i][0] != '\0';
  if (n == l.n) return (rk_names){l.n, l.items};
  int w = 0;
  for (int i = 0; i < l.n; i++)
    if (l.items[i][0]) l.items[w++] = l.items[i];
  return (rk_names){w, l.items};
}

static int64_t optional_int(const rk_flag_parse *parse, const char *flag, int64_t v) {
  return rk_flags_given(parse, flag) ? v : -1;
}

static void print_summary(const json_t *report, const char *out) {
  json_t *rows = json_object_get(report, "rows"), *inputs = json_object_get(report, "inputs");
  json_t *data = json_object_get(inputs, "data");
  printf("read %lld rows (%lld after the filter query)\n", (long long)json_integer_value(json_object_get(data, "rows_read")),
         (long long)json_integer_value(json_object_get(data, "rows_after_filter_query")));
  json_t *ff = json_object_get(report, "frequency_filter");
  size_t i;
  json_t *round;
  json_array_foreach(json_object_get(ff, "rounds"), i, round) {
    json_t *u = json_object_get(round, "users_removed"), *it = json_object_get(round, "items_removed");
    printf("filter round %lld:", (long long)json_integer_value(json_object_get(round, "round")));
    if (u) printf(" %lld users removed (%lld rows left)", (long long)json_integer_value(u),
                  (long long)json_integer_value(json_object_get(round, "rows_after_users")));
    if (it) printf(" %lld items removed (%lld rows left)", (long long)json_integer_value(it),
                   (long long)json_integer_value(json_object_get(round, "rows_after_items")));
    printf("\n");
  }
  const char *key;
  json_t *v;
  printf("rows:");
  json_object_foreach(rows, key, v) printf(" %s %lld", key, (long long)json_integer_value(v));
  printf("\n");
  json_object_foreach(json_object_get(report, "columns"), key, v) {
    json_t *card = json_object_get(v, "cardinality");
    if (!card) continue;
    printf("  %-24s vocabulary %lld, cardinality %lld", key, (long long)json_integer_value(json_object_get(v, "vocabulary")),
           (long long)json_integer_value(card));
    json_t *oov = json_object_get(v, "eval_oov");
    if (oov) printf(", eval out-of-vocabulary %lld", (long long)json_integer_value(oov));
    printf("\n");
  }
  int n = (int)strlen(out);
  while (n > 1 && out[n - 1] == '/') n--;
  printf("wrote %.*s in %.2f s (peak memory %.0f MB); report: %.*s/preprocess_report.json\n", n, out,
         json_real_value(json_object_get(report, "total_s")),
         (double)json_integer_value(json_object_get(report, "peak_rss_bytes")) / 1048576.0, n, out);
}

static rk_status session_options(const rk_flag_parse *parse, const preprocess_opts *o, rk_session_options *so) {
  (void)parse;
  RK_TRY(rk_timestamp_format_parse(o->timestamp_format, &so->timestamp_format));
  so->dedup_consecutive = o->dedup_consecutive_items;
  so->max_length = o->session_max_length;
  so->pad = o->session_pad;
  so->min_length = o->session_min_length;
  rk_names tf = names(o->session_time_features);
  so->time_features = tf.items;
  so->n_time_features = tf.n;
  rk_names price = names(o->relative_price_feature);
  if (price.n != 0 && price.n != 2)
    return rk_error(RK_EUSAGE, "--relative_price_feature takes two columns, PRICE,CATEGORY; got %d", price.n);
  so->price = price.n ? price.items[0] : NULL;
  so->price_category = price.n ? price.items[1] : NULL;
  so->window_s = strcmp(o->session_window, "hour") == 0 ? 3600 : 86400;
  if (o->session_split_fracs.n != 3)
    return rk_error(RK_EUSAGE, "--session_split_fracs takes three numbers, TRAIN,VALID,TEST; got %d", o->session_split_fracs.n);
  for (int i = 0; i < 3; i++) {
    char *end;
    const char *text = o->session_split_fracs.items[i];
    so->split_fracs[i] = strtod(text, &end);
    if (end == text || *end || !(so->split_fracs[i] >= 0 && so->split_fracs[i] <= 1))
      return rk_error(RK_EUSAGE, "invalid value '%s' in --session_split_fracs: expected a number in [0, 1]", text);
  }
  so->layout = o->session_output_layout;
  so->list_suffix = o->session_list_suffix ? o->session_list_suffix : "";
  so->context = names(o->session_context_features);
  so->partitions = (int)o->session_spill_partitions;
  return RK_OK;
}

static void print_session_summary(const json_t *report, const char *out) {
  json_t *ev = json_object_get(report, "events"), *ss = json_object_get(report, "sessions");
  printf("read %lld events: %lld with a null session, %lld repeats dropped, %lld kept\n",
         (long long)json_integer_value(json_object_get(ev, "read")),
         (long long)json_integer_value(json_object_get(ev, "null_sessions")),
         (long long)json_integer_value(json_object_get(ev, "repeats_dropped")),
         (long long)json_integer_value(json_object_get(ev, "after_dedup")));
  printf("sessions: %lld written, %lld shorter than --session_min_length dropped; %lld windows from %s\n",
         (long long)json_integer_value(json_object_get(ss, "written")),
         (long long)json_integer_value(json_object_get(ss, "dropped_short")),
         (long long)json_integer_value(json_object_get(report, "windows")),
         json_string_value(json_object_get(report, "first_day")));
  const char *key;
  json_t *v;
  json_object_foreach(json_object_get(report, "columns"), key, v)
    printf("  %-24s vocabulary %lld, cardinality %lld\n", key, (long long)json_integer_value(json_object_get(v, "vocabulary")),
           (long long)json_integer_value(json_object_get(v, "cardinality")));
  int n = (int)strlen(out);
  while (n > 1 && out[n - 1] == '/') n--;
  printf("wrote %.*s in %.2f s (peak memory %.0f MB); report: %.*s/preprocess_report.json\n", n, out,
         json_real_value(json_object_get(report, "total_s")),
         (double)json_integer_value(json_object_get(report, "peak_rss_bytes")) / 1048576.0, n, out);
}

/* Under mpirun every rank runs this; rank 0 alone prints (rk_preprocess hands it the first
 * failing rank's message). */
static int run_distributed(const rk_flag_parse *parse, rk_preprocess_config *c, const char *out) {
  rk_dist *d = NULL;
  int code = rk_cli_dist_start(&d, parse);   /* same flags on every rank; ranks but 0 quiet */
  if (!d) return code;
  bool lead = rk_dist_rank(d) == 0;
  if (rk_dist_size(d) > 1) c->dist = d;
  json_t *report = NULL;
  rk_status st = rk_preprocess(c, &report);
  /* A failure is every rank's (rk_preprocess agrees on it), so they exit in step and rank 0
   * alone prints the first failing rank's message. */
  if (st != RK_OK) code = lead ? rk_cli_fail(st) : (st == RK_EUSAGE ? RK_EXIT_USAGE : RK_EXIT_FAILURE);
  else if (lead && !parse->globals.quiet)
    (json_object_get(report, "mode") ? print_session_summary : print_summary)(report, out);
  json_decref(report);
  rk_cli_dist_end(d);
  return code;
}

static int run_preprocess(const rk_flag_parse *parse, void *arg) {
  preprocess_opts *o = arg;
  if (parse->npositional)
    return rk_cli_fail(rk_error(RK_EUSAGE, "'reckon preprocess' takes no positional arguments (got '%s'); the input is --data_path",
                                parse->positional[0]));
  rk_preprocess_config c;
  rk_preprocess_config_default(&c);
  c.data_path = o->data_path;
  c.eval_data_path = o->eval_data_path;
  c.predict_data_path = o->predict_data_path;
  c.input_format = o->input_data_format;
  if (rk_csv_parse_sep(o->csv_sep, &c.csv_sep) != RK_OK) return rk_cli_fail(rk_error_context(RK_EUSAGE, "--csv_sep"));
  c.na_values = names(o->csv_na_values);
  c.csv_invalid_utf8 = rk_cli_invalid_utf8(o->csv_invalid_utf8);
  c.non_finite = rk_cli_non_finite(o->non_finite);
  c.csv_list_columns = names(o->csv_list_columns);
  c.output_path = o->output_path;
  c.overwrite = o->overwrite;
  c.output_num_partitions = (int)o->output_num_partitions;
  c.persist_intermediate = o->persist_intermediate_files;
  c.categorical = names(o->categorical_features);
  c.continuous = names(o->continuous_features);
  c.control = names(o->control_features);
  c.user_features = names(o->user_features);
  c.item_features = names(o->item_features);
  c.binary_targets = names(o->binary_classif_targets);
  c.regression_targets = names(o->regression_targets);
  c.to_int32 = names(o->to_int32);
  c.to_int16 = names(o->to_int16);
  c.to_int8 = names(o->to_int8);
  c.to_float32 = names(o->to_float32);
  c.continuous_fillna = o->continuous_features_fillna;
  c.user_id = o->user_id_feature && *o->user_id_feature ? o->user_id_feature : NULL;
  c.item_id = o->item_id_feature && *o->item_id_feature ? o->item_id_feature : NULL;
  c.timestamp = o->timestamp_feature && *o->timestamp_feature ? o->timestamp_feature : NULL;
  c.session_id = o->session_id_feature && *o->session_id_feature ? o->session_id_feature : NULL;
  c.te_features = names(o->target_encoding_features);
  c.te_targets = names(o->target_encoding_targets);
  c.te_kfold = (int)o->target_encoding_kfold;
  c.te_smoothing = o->target_encoding_smoothing;
  c.categ_min_freq_capping = o->categ_min_freq_capping;
  c.min_user_freq = optional_int(parse, "min_user_freq", o->min_user_freq);
  c.max_user_freq = optional_int(parse, "max_user_freq", o->max_user_freq);
  c.min_item_freq = optional_int(parse, "min_item_freq", o->min_item_freq);
  c.max_item_freq = optional_int(parse, "max_item_freq", o->max_item_freq);
  c.num_max_rounds_filtering = (int)o->num_max_rounds_filtering;
  c.filter_query = o->filter_query && *o->filter_query ? o->filter_query : NULL;
  const char *s = o->dataset_split_strategy;
  c.split = !s ? RK_SPLIT_NONE : strcmp(s, "random") == 0 ? RK_SPLIT_RANDOM
            : strcmp(s, "random_by_user") == 0 ? RK_SPLIT_RANDOM_BY_USER : RK_SPLIT_TEMPORAL;
  c.eval_perc = o->random_split_eval_perc;
  c.has_temporal_timestamp = rk_flags_given(parse, "dataset_split_temporal_timestamp");
  c.temporal_timestamp = o->dataset_split_temporal_timestamp;
  c.seed = (uint64_t)o->random_seed;
  c.compression = o->compression;
  c.csv_header = o->csv_header;
  c.csv_column_names = names(o->csv_column_names);
  if (session_options(parse, o, &c.session) != RK_OK) return rk_cli_fail(rk_error_status());
  if (rk_dist_launched()) return run_distributed(parse, &c, o->output_path);
  json_t *report = NULL;
  rk_status st = rk_preprocess(&c, &report);
  if (st != RK_OK) return rk_cli_fail(st);
  bool sessions = json_object_get(report, "mode") != NULL;
  if (!parse->globals.quiet) (sessions ? print_session_summary : print_summary)(report, o->output_path);
  json_decref(report);
  return RK_EXIT_OK;
}

const rk_command rk_cmd_preprocess = {
    .name = "preprocess",
    .usage = "reckon preprocess --data_path IN --output_path OUT [flags]",
    .summary = "NVTabular-style preprocessing: filter, cast, split, categorify, normalise, target-encode",
    .details =
        "The flags are those of Merlin's quick-start `preprocessing.py`, so its commands run unchanged with "
        "`reckon preprocess` in place of `python preprocessing.py`. The pipeline, in order: read "
        "(CSV, TSV or Parquet) -> `--filter_query` -> casts -> frequency filters (users, then items, in rounds) "
        "-> split -> fit the workflow on train -> transform train, eval and predict -> write.\n\n"
        "Output under `--output_path`: `train/`, `eval/` and `test/` (each `part_<i>.parquet` plus "
        "`schema.pbtxt` and `.merlin/schema.json`, Merlin's two schema files; the quick-start calls them "
        "\"schema.yaml\"), `workflow/` (the fitted workflow, for `reckon transform` and serving) and "
         "`preprocess_report.json`, and two links: `final_dataset` to the folder itself (the quick-start's training "
         "command reads `<output_path>/final_dataset/train`) and `predict` to `test/` (its earlier name). "
         "Everything is built in a temporary folder and moved into place at the "
         "end: a failed run leaves the previous output as it was, and one killed while moving leaves parts "
         "that `reckon train` refuses as a mix of two runs until preprocess runs again. An output folder "
         "holding anything else is refused unless `--overwrite` is given, and a second run into the same "
         "folder is refused while the first runs. Memory grows with the number of distinct "
        "users, items and categories, not with rows; the output is byte-identical for any `--threads`, and for "
        "any number of processes under `mpirun -np N` (each reads its share of the input and writes its block "
        "of the parts; see docs/preprocess.md). "
        "See docs/preprocess.md.\n\n"
        "Session mode (`--session_id_feature` without target flags) is the Transformers4Rec ETL: drop null "
        "sessions, sort by (session, time), drop consecutive repeats, categorify, time features, group into "
        "one row per session with list columns, keep the last `--session_max_length` events, drop short "
        "sessions, number windows (`day_index`), then split each window into train, valid and test. Output: "
        "`sessions/` (every session), one folder (or set of files) per window, `workflow/` and "
        "`preprocess_report.json`. Events are spilled to disk by session hash, so memory holds one "
        "partition per thread plus the vocabularies. See docs/sessions.md.",
    .flags = preprocess_flags,
    .opts_size = sizeof(preprocess_opts),
    .run = run_preprocess,
};
