/*
 * `reckon convert IN OUT`: CSV to Parquet and back (and Parquet to Parquet, CSV to CSV), by the
 * extensions of the paths, streaming in batches so files larger than memory convert. The output
 * is written under a temporary name and renamed at the end: a failure leaves no half file.
 */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "reckon/io.h"

#define CONVERT_FLAGS(X)                                                                                    \
  RK_CSV_INPUT_FLAGS(X)                                                                                      \
  X(compression,    CHOICE, "snappy", "snappy|zstd|gzip|brotli|lz4_raw|uncompressed", "Parquet output codec") \
  X(row_group_size, INT,    "0",      "N in [0, 2^30]", "Parquet output rows per row group (0: the writer's default, 1Mi)") \
  X(columns,        LIST,   "",       "C,...", "only these columns, in this order")

typedef struct {
  CONVERT_FLAGS(RK_FLAG_FIELD)
} convert_opts;
#define RK_FLAG_STRUCT convert_opts
static const rk_flag convert_flags[] = {CONVERT_FLAGS(RK_FLAG_ROW) RK_FLAG_END};
#undef RK_FLAG_STRUCT

static int run_convert(const rk_flag_parse *parse, void *arg) {
  convert_opts *o = arg;
  if (parse->npositional != 2)
    return rk_cli_fail(rk_error(RK_EUSAGE, "'reckon convert' takes an input and an output path, got %d paths",
                                parse->npositional));
  const char *in = parse->positional[0], *out = parse->positional[1];
  char sep;
  rk_status st = rk_csv_parse_sep(o->csv_sep, &sep);
  if (st != RK_OK) return rk_cli_fail(rk_error_context(RK_EUSAGE, "--csv_sep"));

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
  if (o->columns.n) {
    so.columns = o->columns.items;
    so.ncolumns = o->columns.n;
  }
  rk_table_source *src = NULL;
  if ((st = rk_source_open(&src, in, &so)) != RK_OK) return rk_cli_fail(st);

  rk_sink_options ko;
  rk_sink_options_default(&ko);
  ko.sep = rk_flags_given(parse, "csv_sep") ? sep : 0;
  if (o->csv_na_values.n) ko.na_value = o->csv_na_values.items[0];
  ko.compression = o->compression;
  ko.row_group_size = o->row_group_size;
  rk_table_sink *sink = NULL;
  if ((st = rk_output_sweep_beside(out)) != RK_OK || (st = rk_sink_open(&sink, out, &ko)) != RK_OK) {
    src->close(src);
    return rk_cli_fail(st);
  }

  rk_batch batch = {0};
  rk_progress progress;
  rk_progress_begin(&progress, "convert", 100.0, "%");
  int64_t rows = 0;
  double t0 = rk_now();
  while ((st = src->next(src, &batch)) == RK_OK && batch.nrows > 0) {
    if ((st = rk_sink_write(sink, &batch)) != RK_OK) break;
    rows += batch.nrows;
    double f = src->fraction_done(src);
    if (f >= 0) rk_progress_update(&progress, 100.0 * f);
  }
  if (st == RK_OK && rows == 0 && batch.ncols > 0) st = rk_sink_write(sink, &batch);   /* header / schema */
  rk_progress_end(&progress);
  rk_batch_free(&batch);
  src->close(src);
  if (st != RK_OK) {
    rk_sink_abort(sink);
    return rk_cli_fail(st);
  }
  if ((st = rk_sink_close(sink)) != RK_OK) return rk_cli_fail(st);
  double secs = rk_now() - t0;
  if (!parse->globals.quiet) printf("converted %lld rows from %s to %s in %.2f s\n", (long long)rows, in, out, secs);
  return RK_EXIT_OK;
}

const rk_command rk_cmd_convert = {
    .name = "convert",
    .usage = "reckon convert [flags] IN OUT",
    .summary = "convert between CSV and Parquet (by extension), streaming",
    .details = "IN is a CSV file (`.csv`, `.tsv`, optionally `.gz` or `.zst`), a `.parquet` file or a folder "
               "of `.parquet` files read as one dataset; OUT is a `.csv`/`.tsv` (optionally `.gz`/`.zst`) or "
               "`.parquet` file. Rows stream through in batches, so inputs larger than memory convert; the "
               "output appears under its name only when complete.",
    .flags = convert_flags,
    .opts_size = sizeof(convert_opts),
    .run = run_convert,
};
