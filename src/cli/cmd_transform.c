/*
 * `reckon transform --workflow DIR IN OUT`: apply a fitted workflow (from `reckon preprocess`)
 * to new data, streaming, with the same code the server runs. OUT is a .parquet or .csv file,
 * or a folder that receives part_0.parquet and the Merlin schema files.
 */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "reckon/etl.h"
#include "reckon/io.h"

#define TRANSFORM_FLAGS(X)                                                                                 \
  X(workflow,    STRING, NULL,     "DIR", "the fitted workflow folder (<preprocess output>/workflow)")     \
  RK_CSV_INPUT_FLAGS(X)                                                                                    \
  X(compression, CHOICE, "snappy", "snappy|zstd|gzip|lz4_raw|uncompressed", "Parquet output codec")      \
  X(overwrite,   BOOL,   "false",  NULL,  "replace an OUT that reckon transform did not write (without it, it is refused)")

typedef struct {
  TRANSFORM_FLAGS(RK_FLAG_FIELD)
} transform_opts;
#define RK_FLAG_STRUCT transform_opts
static const rk_flag transform_flags[] = {TRANSFORM_FLAGS(RK_FLAG_ROW) RK_FLAG_END};
#undef RK_FLAG_STRUCT

static bool has_suffix(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcmp(s + n - m, suffix) == 0;
}

static bool is_table_file(const char *path) {
  const char *ext[] = {".parquet", ".csv", ".tsv", ".csv.gz", ".csv.zst", ".tsv.gz", ".tsv.zst"};
  for (size_t i = 0; i < sizeof ext / sizeof *ext; i++)
    if (has_suffix(path, ext[i])) return true;
  return false;
}

/* Which workflow columns the output carries: every feature, and the targets the input has. */
static void note_targets(const rk_workflow *wf, const rk_batch *in, uint8_t *present) {
  for (int i = 0; i < wf->n_cols; i++)
    present[i] = !wf->cols[i].is_target || rk_batch_find(in, wf->cols[i].source) >= 0;
}

static rk_status transform_stream(const rk_workflow *wf, rk_table_source *src, rk_table_sink *sink, int64_t *rows,
                                  uint8_t *present) {
  rk_batch in = {0}, out = {0};
  rk_status st;
  rk_progress progress;
  rk_progress_begin(&progress, "transform", 100.0, "%");
  bool wrote = false;
  while ((st = src->next(src, &in)) == RK_OK && in.nrows > 0) {
    if ((st = rk_workflow_transform(wf, &in, &out)) != RK_OK) {
      st = rk_error_context(st, "input rows %lld to %lld", (long long)*rows + 1, (long long)(*rows + in.nrows));
      break;
    }
    if ((st = rk_sink_write(sink, &out)) != RK_OK) break;
    note_targets(wf, &in, present);
    wrote = true;
    *rows += in.nrows;
    double f = src->fraction_done(src);
    if (f >= 0) rk_progress_update(&progress, 100.0 * f);
  }
  /* No rows: still write the columns (an empty transform gives them their types). */
  if (st == RK_OK && !wrote && (st = rk_workflow_transform(wf, &in, &out)) == RK_OK) {
    note_targets(wf, &in, present);
    st = rk_sink_write(sink, &out);
  }
  rk_progress_end(&progress);
  rk_batch_free(&in);
  rk_batch_free(&out);
  return st;
}

/* A session workflow groups events by session, so the whole input is read before transforming. */
static rk_status transform_sessions(const rk_workflow *wf, rk_table_source *src, const char *out, bool folder,
                                    const rk_sink_options *ko, const char *workflow_dir, int64_t *rows) {
  rk_batch all = {0}, in = {0}, sessions = {0};
  rk_status st;
  while ((st = src->next(src, &in)) == RK_OK && in.nrows > 0) {
    if (all.ncols == 0) {
      st = rk_batch_init(&all, in.ncols);
      for (int c = 0; c < in.ncols && st == RK_OK; c++)
        st = rk_column_init(&all.cols[c], in.cols[c].name, in.cols[c].type, in.cols[c].child ? in.cols[c].child->type : RK_COL_INT64);
    }
    for (int c = 0; c < in.ncols && st == RK_OK; c++) st = rk_column_append_column(&all.cols[c], &in.cols[c], 0, in.nrows);
    all.nrows += in.nrows;
    *rows += in.nrows;
    if (st != RK_OK) break;
  }
  if (st == RK_OK) st = rk_session_transform(wf, &all, &sessions);
  char *file = NULL;
  if (st == RK_OK && folder) {
    size_t n = strlen(out) + 32;
    if (!(file = rk_malloc(n))) st = RK_ENOMEM;
    else snprintf(file, n, "%s/part_0.parquet", out);
  }
  rk_table_sink *sink = NULL;
  if (st == RK_OK) st = rk_sink_open(&sink, folder ? file : out, ko);
  if (st == RK_OK) st = rk_sink_write(sink, &sessions);
  if (sink) {
    if (st == RK_OK) st = rk_sink_close(sink);
    else rk_sink_abort(sink);
  }
  if (st == RK_OK && folder) {
    rk_schema schema;
    char fp[RK_WORKFLOW_FINGERPRINT_SIZE];
    st = rk_session_schema(wf, &sessions, &schema);
    if (st == RK_OK) {
      st = rk_schema_write_dataset(&schema, out);
      rk_schema_free(&schema);
    }
    if (st == RK_OK) st = rk_workflow_fingerprint(workflow_dir, fp);
    if (st == RK_OK) st = rk_dataset_stamp_workflow_fingerprint(out, fp);
  }
  rk_free(file);
  rk_batch_free(&all);
  rk_batch_free(&in);
  rk_batch_free(&sessions);
  return st;
}

static int run_transform(const rk_flag_parse *parse, void *arg) {
  transform_opts *o = arg;
  if (!o->workflow) return rk_cli_fail(rk_error(RK_EUSAGE, "--workflow is required (the workflow/ folder `reckon preprocess` wrote)"));
  if (parse->npositional != 2)
    return rk_cli_fail(rk_error(RK_EUSAGE, "'reckon transform' takes an input and an output path, got %d paths",
                                parse->npositional));
  const char *in = parse->positional[0], *out = parse->positional[1];
  char sep;
  if (rk_csv_parse_sep(o->csv_sep, &sep) != RK_OK) return rk_cli_fail(rk_error_context(RK_EUSAGE, "--csv_sep"));
  rk_workflow wf;
  rk_status st = rk_workflow_load(&wf, o->workflow);
  if (st != RK_OK) return rk_cli_fail(st);

  rk_source_options so;
  rk_source_options_default(&so);
  so.csv_sep = rk_flags_given(parse, "csv_sep") ? sep : 0;
  so.na_values = o->csv_na_values.items;
  so.n_na_values = o->csv_na_values.n;
  so.csv_invalid_utf8 = rk_cli_invalid_utf8(o->csv_invalid_utf8);
  so.csv_non_finite = rk_cli_non_finite(o->non_finite);
  so.csv_list_columns = o->csv_list_columns.items;
  so.n_csv_list_columns = o->csv_list_columns.n;
  so.csv_no_header = !o->csv_header;
  so.csv_column_names = o->csv_column_names.items;
  so.n_csv_column_names = o->csv_column_names.n;
  rk_table_source *src = NULL;
  bool folder = !is_table_file(out);
  /* Never over someone's data folder or file (src/core/output.c); a folder is held while written. */
  rk_output claim = {0};
  st = folder ? rk_output_claim(&claim, out, "transform", o->overwrite) : rk_output_check_file(out, o->overwrite);
  if (st == RK_OK && !folder) st = rk_output_sweep_beside(out);
  if (st != RK_OK) {
    rk_workflow_free(&wf);
    return rk_cli_fail(st);
  }
  char *file = NULL;
  rk_table_sink *sink = NULL;
  rk_sink_options ko;
  rk_sink_options_default(&ko);
  ko.compression = o->compression;
  if ((st = rk_source_open(&src, in, &so)) == RK_OK && !wf.session) {
    if (folder) {
      size_t n = strlen(out) + 32;
      file = rk_malloc(n);
      if (!file) st = RK_ENOMEM;
      else snprintf(file, n, "%s/part_0.parquet", out);
    }
    if (st == RK_OK) st = rk_sink_open(&sink, folder ? file : out, &ko);
  }
  int64_t rows = 0;
  double t0 = rk_now();
  if (wf.session) {
    if (st == RK_OK) st = transform_sessions(&wf, src, out, folder, &ko, o->workflow, &rows);
    if (st == RK_ENOTFOUND && !o->csv_header)
      st = rk_error_context(st, "%s (read without a header row, with the columns of --csv_column_names)", in);
    else if (st == RK_ENOTFOUND)
      st = rk_error_context(st, "%s (a CSV without a header row, as YOOCHOOSE's, needs --csv_header false and "
                            "--csv_column_names, as preprocess did)", in);
    if (src) src->close(src);
    rk_workflow_free(&wf);
    rk_output_release(&claim);
    if (st != RK_OK) return rk_cli_fail(st);
    if (!parse->globals.quiet) printf("transformed %lld events from %s to sessions in %s in %.2f s\n", (long long)rows, in, out, rk_now() - t0);
    return RK_EXIT_OK;
  }
  /* Until a batch says otherwise: the features only. */
  uint8_t *present = rk_calloc((size_t)wf.n_cols + 1, 1);
  if (st == RK_OK && !present) st = RK_ENOMEM;
  for (int i = 0; present && i < wf.n_cols; i++) present[i] = !wf.cols[i].is_target;
  if (st == RK_OK) st = transform_stream(&wf, src, sink, &rows, present);
  if (sink) {
    if (st == RK_OK) st = rk_sink_close(sink);
    else rk_sink_abort(sink);
  }
  if (src) src->close(src);
  /* The schema lists what was written: prediction data comes without targets (or with some). */
  if (st == RK_OK && folder) {
    rk_workflow written = wf;   /* a view of the columns written, sharing wf's */
    written.cols = rk_malloc(((size_t)wf.n_cols + 1) * sizeof *written.cols);
    written.n_cols = 0;
    if (!written.cols) st = RK_ENOMEM;
    for (int i = 0; st == RK_OK && i < wf.n_cols; i++)
      if (present[i]) written.cols[written.n_cols++] = wf.cols[i];
    rk_schema schema;
    char fp[RK_WORKFLOW_FINGERPRINT_SIZE];
    if (st == RK_OK) st = rk_workflow_schema(&written, true, &schema);
    if (st == RK_OK) {
      st = rk_schema_write_dataset(&schema, out);
      rk_schema_free(&schema);
    }
    /* predict checks it against the model's; stamped as preprocess stamps its splits */
    if (st == RK_OK) st = rk_workflow_fingerprint(o->workflow, fp);
    if (st == RK_OK) st = rk_dataset_stamp_workflow_fingerprint(out, fp);
    rk_free(written.cols);
  }
  rk_free(present);
  rk_free(file);
  rk_workflow_free(&wf);
  rk_output_release(&claim);
  if (st != RK_OK) return rk_cli_fail(st);
  if (!parse->globals.quiet) printf("transformed %lld rows from %s to %s in %.2f s\n", (long long)rows, in, out, rk_now() - t0);
  return RK_EXIT_OK;
}

const rk_command rk_cmd_transform = {
    .name = "transform",
    .usage = "reckon transform --workflow DIR [flags] IN OUT",
    .summary = "apply a fitted preprocessing workflow to new data",
    .details = "IN is a CSV/TSV file or Parquet file or folder with the raw columns; OUT is a `.parquet` or "
               "`.csv` file, or a folder that receives `part_0.parquet`, `schema.pbtxt` and `.merlin/schema.json`. "
               "Categories unseen when the workflow was fitted map to the out-of-vocabulary id 2, nulls to 1; "
               "target encodings use the whole train statistics. Targets are copied when the input has them.\n\n"
               "With a session workflow (`reckon preprocess` session mode), IN holds raw events (one or many "
               "sessions, in any order, read whole into memory) and OUT receives exactly the rows the ETL wrote "
               "for those sessions, sorted by session id: the same ids, floats and list order (docs/sessions.md).",
    .flags = transform_flags,
    .opts_size = sizeof(transform_opts),
    .run = run_transform,
};
