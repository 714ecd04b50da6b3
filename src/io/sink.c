/*
 * Table sinks: the one door every producer (synth, convert, preprocess) writes tables through.
 * rk_sink_open picks the writer from the path's extension: .csv / .tsv, optionally followed by
 * .gz or .zst, go to the CSV writer (src/io/csv_write.c); .parquet to the Parquet writer
 * (src/io/parquet/). It is not a writer itself and holds no state.
 */
#include <string.h>
#include <strings.h>

#include "reckon/io.h"
#include "reckon/parquet.h"

void rk_sink_options_default(rk_sink_options *opts) {
  memset(opts, 0, sizeof *opts);
  opts->na_value = "";
  opts->compression = "snappy";
}

static bool ends_with(const char *s, size_t n, const char *suffix) {
  size_t k = strlen(suffix);
  return n >= k && strncasecmp(s + n - k, suffix, k) == 0;
}

rk_status rk_sink_open(rk_table_sink **sink, const char *path, const rk_sink_options *opts) {
  *sink = NULL;
  rk_sink_options defaults;
  if (!opts) {
    rk_sink_options_default(&defaults);
    opts = &defaults;
  }
  size_t n = strlen(path);
  if (ends_with(path, n, ".gz")) n -= 3;
  else if (ends_with(path, n, ".zst")) n -= 4;
  if (ends_with(path, n, ".csv") || ends_with(path, n, ".tsv")) return rk_csv_sink_open(sink, path, opts);
  if (ends_with(path, strlen(path), ".parquet")) return rk_parquet_sink_open(sink, path, opts);
  return rk_error(RK_EUNSUPPORTED,
                  "unknown table format for '%s': expected .csv or .tsv (optionally .gz or .zst) or .parquet", path);
}
