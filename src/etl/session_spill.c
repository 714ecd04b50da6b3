/*
 * Pass 1 of the session ETL (session_etl.c drives it): the input read once, rows with a null
 * session dropped, categorical values numbered in first-seen order (rk_dict), each item's first
 * event time and the log's first time noted, and every event spilled as a fixed-size record to
 * one of P files by xxh64(session) mod P, so pass 2 can group a partition at a time.
 * It is not: the sorting or the statistics (session_fit.c).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>

#include "etl/session_internal.h"

#define SPILL_TARGET_BYTES (INT64_C(8) << 20)   /* of input per partition, when not given: ~200k events */
#define SPILL_MAX_PARTITIONS 4096

/* Bytes of input, for the partition count: a folder's files together; compressed ones count 4x. */
static int64_t input_bytes(const char *path) {
  struct stat sb;
  if (stat(path, &sb) != 0) return 0;
  if (!S_ISDIR(sb.st_mode)) {
    size_t n = strlen(path);
    bool packed = (n > 3 && strcmp(path + n - 3, ".gz") == 0) || (n > 4 && strcmp(path + n - 4, ".zst") == 0);
    return (int64_t)sb.st_size * (packed ? 4 : 1);
  }
  DIR *d = opendir(path);
  int64_t total = 0;
  for (struct dirent *e; d && (e = readdir(d));) {
    if (e->d_name[0] == '.') continue;
    char *p = se_path(path, e->d_name);
    if (p && stat(p, &sb) == 0 && S_ISREG(sb.st_mode)) total += sb.st_size;
    rk_free(p);
  }
  if (d) closedir(d);
  return total;
}

/* ---- pass 1: read, number, spill ---- */

static rk_status open_input(se_state *s, rk_table_source **src, const char **names, int *n) {
  const rk_preprocess_config *c = s->cfg;
  const char *path = c->data_path, *fmt = c->input_format ? c->input_format : "csv";
  bool parquet = rk_source_is_parquet(path);
  if (strcmp(fmt, "parquet") == 0 && !parquet)
    return rk_error(RK_EUSAGE, "--input_data_format is parquet but '%s' is not a .parquet file or a folder of them", path);
  if (strcmp(fmt, "parquet") != 0 && parquet) return rk_error(RK_EUSAGE, "'%s' is Parquet: pass --input_data_format parquet", path);
  *n = 0;
  names[(*n)++] = s->sw->session_id;
  names[(*n)++] = s->sw->timestamp;
  for (int k = 0; k < s->plan.n_idx; k++) names[(*n)++] = s->plan.idx_name[k];
  for (int k = 0; k < s->plan.n_val; k++) names[(*n)++] = s->plan.val_name[k];
  rk_source_options so;
  rk_source_options_default(&so);
  so.csv_sep = strcmp(fmt, "tsv") == 0 ? '\t' : c->csv_sep;
  so.na_values = c->na_values.items;
  so.n_na_values = c->na_values.n;
  so.csv_invalid_utf8 = c->csv_invalid_utf8;
  so.csv_non_finite = c->non_finite;
  so.csv_no_header = !c->csv_header;
  so.csv_column_names = c->csv_column_names.items;
  so.n_csv_column_names = c->csv_column_names.n;
  so.columns = names;
  so.ncolumns = *n;
  rk_status st = rk_source_open(src, path, &so);
  if (st == RK_ENOTFOUND) st = rk_error_context(st, "session mode reads '%s'", path);
  return st;
}

static rk_status note_first_seen(se_state *s, const ss_records *r) {
  int64_t size = rk_dict_size(s->dicts[0]);
  if (size > s->first_seen_cap) {
    int64_t cap = s->first_seen_cap ? s->first_seen_cap : 1024;
    while (cap < size) cap *= 2;
    int64_t *g = rk_realloc(s->first_seen, (size_t)cap * sizeof *g);
    if (!g) return RK_ENOMEM;
    for (int64_t i = s->first_seen_cap; i < cap; i++) g[i] = INT64_MAX;
    s->first_seen = g;
    s->first_seen_cap = cap;
  }
  for (int64_t i = 0; i < r->n; i++) {
    void *rec = ss_head_at(&s->plan, r->data, i);
    int64_t ts = ((ss_head *)rec)->ts_us;
    int32_t item = ss_idx(&s->plan, rec)[0];
    if (ts < s->min_ts_us) s->min_ts_us = ts;
    if (item >= 0 && ts < s->first_seen[item]) s->first_seen[item] = ts;
  }
  return RK_OK;
}

rk_status se_pass1(se_state *s) {
  double t0 = rk_now();
  int64_t bytes = input_bytes(s->cfg->data_path);
  int64_t parts = s->cfg->session.partitions > 0 ? s->cfg->session.partitions : bytes / SPILL_TARGET_BYTES + 1;
  s->n_parts = (int)(parts < SPILL_MAX_PARTITIONS ? parts : SPILL_MAX_PARTITIONS);
  s->spill = rk_calloc((size_t)s->n_parts, sizeof *s->spill);
  FILE **files = rk_calloc((size_t)s->n_parts, sizeof *files);
  rk_status st = s->spill && files ? RK_OK : RK_ENOMEM;
  for (int p = 0; p < s->n_parts && st == RK_OK; p++) {
    char name[64];
    snprintf(name, sizeof name, "spill/part_%d.bin", p);
    if (!(s->spill[p] = se_path(s->tmp_dir, name))) st = RK_ENOMEM;
    else if (!(files[p] = fopen(s->spill[p], "wb")))
      st = rk_error(RK_EIO, "cannot create the spill file '%s': %s", s->spill[p], strerror(errno));
  }
  rk_table_source *src = NULL;
  const char *names[2 * SS_MAX_COLUMNS + 2];
  int nnames = 0;
  if (st == RK_OK) st = open_input(s, &src, names, &nnames);
  rk_batch in = {0};
  ss_records recs = {0};
  s->min_ts_us = INT64_MAX;
  rk_progress progress;
  rk_progress_begin(&progress, "read events", 100.0, "%");
  while (st == RK_OK && (st = src->next(src, &in)) == RK_OK && in.nrows > 0) {
    st = ss_records_from_batch(&recs, &s->plan, &in, s->dicts, s->events_read, s->cfg->data_path);
    if (st == RK_OK) st = note_first_seen(s, &recs);
    for (int64_t i = 0; i < recs.n && st == RK_OK; i++) {
      void *rec = ss_head_at(&s->plan, recs.data, i);
      int p = (int)(rk_hash_int(((ss_head *)rec)->session) % (uint64_t)s->n_parts);
      if (fwrite(rec, s->plan.size, 1, files[p]) != 1)
        st = rk_error(RK_EIO, "cannot write the spill file '%s': %s", s->spill[p], strerror(errno));
    }
    s->events_read += in.nrows;
    double f = src->fraction_done(src);
    if (f >= 0) rk_progress_update(&progress, 100.0 * f);
  }
  rk_progress_end(&progress);
  s->null_sessions = recs.null_sessions;
  if (st == RK_OK && recs.hashed) {
    s->sw->hashed_session_ids = true;
    rk_warn("session ids in column '%s' are not integers: each is written as its xxh64 hash (int64)", s->sw->session_id);
  }
  if (src) src->close(src);
  for (int p = 0; p < s->n_parts; p++)
    if (files[p] && fclose(files[p]) != 0 && st == RK_OK)
      st = rk_error(RK_EIO, "cannot write the spill file '%s': %s", s->spill[p], strerror(errno));
  rk_free(files);
  rk_batch_free(&in);
  ss_records_free(&recs);
  if (st == RK_OK && s->events_read == s->null_sessions)
    st = rk_error(RK_EINVAL, "'%s' has no events with a session (%lld rows read, %lld with a null session)",
                  s->cfg->data_path, (long long)s->events_read, (long long)s->null_sessions);
  se_timing(s, "read_and_spill", t0);
  return st;
}

rk_status se_read_spill(const char *path, size_t rec_size, void **data, int64_t *n) {
  struct stat sb;
  *data = NULL;
  *n = 0;
  if (stat(path, &sb) != 0) return rk_error(RK_EIO, "cannot read the spill file '%s': %s", path, strerror(errno));
  *n = (int64_t)((size_t)sb.st_size / rec_size);
  if (!(*data = rk_malloc((size_t)sb.st_size + 1))) return RK_ENOMEM;
  FILE *f = fopen(path, "rb");
  bool ok = f && fread(*data, 1, (size_t)sb.st_size, f) == (size_t)sb.st_size;
  if (f) fclose(f);
  return ok ? RK_OK : rk_error(RK_EIO, "cannot read the spill file '%s'", path);
}
