/*
 * Stage 1: read an input once (CSV or Parquet), apply the filter query and the casts, number the
 * values of dictionary columns, and write what later passes need to one Parquet file. With
 * --persist_intermediate_files the stage is kept under <output>/_cache/ with a manifest of what
 * made it, and a later run with the same input and flags reads it instead of the input.
 */
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "etl/preprocess_internal.h"

static const char *const input_names[PP_INPUTS] = {"data", "eval", "predict"};

bool pp_reads(const pp_state *p, int input, int i) { return !(input == PP_PREDICT && p->cols[i].is_target); }

void pp_stage_write_options(rk_parquet_write_options *o) {
  rk_parquet_write_options_default(o);
  /* Read back a few times and deleted unless persisted: speed over size. */
  o->compression = "uncompressed";
  o->dictionary = false;
  o->statistics = false;
  o->row_group_rows = PP_STAGE_ROWS;   /* later passes hold one batch of this many rows */
}

/* ---- manifest: what made a stage, so a persisted one is reused only when nothing changed ---- */

static json_t *manifest(const pp_state *p, int input) {
  const rk_preprocess_config *c = p->cfg;
  struct stat sb;
  const char *path = p->input_path[input];
  bool ok = stat(path, &sb) == 0;
  json_t *m = json_object(), *cols = json_array(), *na = json_array();
  if (!m || !cols || !na) goto fail;
  for (int i = 0; i < c->na_values.n; i++) json_array_append_new(na, json_string(c->na_values.items[i]));
  for (int i = 0; i < p->n_cols; i++) {
    if (!pp_reads(p, input, i)) continue;
    /* A dictionary column also has its __idx_<col> in the stage: a run that needs one cannot
     * reuse a stage made without it. */
    json_array_append_new(cols, json_pack("[ssb]", p->cols[i].name,
                                          p->cols[i].cast ? rk_coltype_name(p->cols[i].cast_type) : "as read",
                                          p->cols[i].needs_dict));
  }
  char sep[2] = {c->csv_sep, 0};
  json_object_set_new(m, "input", json_string(path));
  json_object_set_new(m, "size", json_integer(ok ? (json_int_t)sb.st_size : -1));
  json_object_set_new(m, "mtime", json_integer(ok ? (json_int_t)sb.st_mtime : -1));
  /* Seconds alone miss an input rewritten (same size) within the second of the cached run. */
  json_object_set_new(m, "mtime_ns", json_integer(ok ? (json_int_t)sb.st_mtim.tv_nsec : -1));
  json_object_set_new(m, "format", json_string(c->input_format ? c->input_format : "csv"));
  json_object_set_new(m, "csv_sep", json_string(sep));
  json_object_set_new(m, "na_values", na);
  /* a stage read with other names (or with its first line as data) holds other rows */
  json_t *names = json_array();
  for (int i = 0; names && i < c->csv_column_names.n; i++) json_array_append_new(names, json_string(c->csv_column_names.items[i]));
  json_object_set_new(m, "csv_header", json_boolean(c->csv_header));
  json_object_set_new(m, "csv_column_names", names ? names : json_null());
  json_object_set_new(m, "filter_query", input != PP_PREDICT && c->filter_query ? json_string(c->filter_query) : json_null());
  json_object_set_new(m, "columns", cols);
  if (input != PP_DATA) {
    /* An eval or predict stage holds dictionary indices that continue those of the inputs read
     * before it (their values were numbered first): it is valid only after the same stages. */
    json_t *before = json_array();
    for (int k = PP_DATA; k < input && before; k++)
      if (p->input_path[k]) json_array_append_new(before, manifest(p, k));
    json_object_set_new(m, "after", before);
  }
  return m;
fail:
  json_decref(m);
  json_decref(cols);
  json_decref(na);
  return NULL;
}

static bool manifest_matches(const char *stage, json_t *want) {
  char *path = pp_path(stage, "manifest.json"), *text = NULL;
  size_t len;
  bool same = false;
  if (path && rk_read_file(path, &text, &len) == RK_OK) {
    json_t *have = json_loadb(text, len, 0, NULL);
    json_t *got = json_object_get(have, "made_by");
    same = got && json_equal(got, want);
    json_decref(have);
  }
  rk_free(text);
  rk_free(path);
  return same;
}

static rk_status write_manifest(const char *stage, json_t *made_by, int64_t rows_read, int64_t rows_kept) {
  json_t *m = json_pack("{sOsIsI}", "made_by", made_by, "rows_read", (json_int_t)rows_read, "rows_kept",
                        (json_int_t)rows_kept);
  char *text = m ? json_dumps(m, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
  char *path = pp_path(stage, "manifest.json");
  rk_status st = text && path ? rk_write_file_atomic(path, text, strlen(text)) : RK_ENOMEM;
  free(text);
  rk_free(path);
  json_decref(m);
  return st;
}

/* ---- dictionaries and counts ---- */

static rk_status count_index(pp_column *c, const int32_t *idx, int64_t n) {
  int64_t size = rk_dict_size(c->dict);
  if (size > c->count_cap) {
    int64_t cap = c->count_cap ? c->count_cap : 1024;
    while (cap < size) cap *= 2;
    int64_t *g = rk_realloc(c->count, (size_t)cap * sizeof *g);
    if (!g) return RK_ENOMEM;
    memset(g + c->count_cap, 0, (size_t)(cap - c->count_cap) * sizeof *g);
    c->count = g;
    c->count_cap = cap;
  }
  for (int64_t r = 0; r < n; r++)
    if (idx[r] >= 0) c->count[idx[r]]++;
  return RK_OK;
}

/* ---- one batch: query, casts, indices ---- */

typedef struct {
  pp_state *p;
  int input;
  const rk_batch *in;
  rk_batch *out;
  const int *src_col;      /* per workflow column: its column in `in`, or -1 */
  const int *out_col;      /* per workflow column: its column in `out`, or -1 */
  const int *idx_col;      /* per workflow column: its __idx column in `out`, or -1 */
  const uint8_t *keep;
  int64_t row_base;
  const char *label;
} batch_ctx;

/* The stage keeps a list's values for the dictionary alone (a reused stage rebuilds it from them),
 * and Parquet as reckon writes it holds no null element: they are dropped from `list` here, once
 * __idx_<col> has recorded them (RK_DICT_NULL, id 1 in the output). */
static rk_status drop_null_elements(rk_column *list) {
  rk_column *v = list->child;
  if (v->null_count == 0) return RK_OK;
  rk_column kept = {0};
  RK_TRY(rk_column_init(&kept, NULL, v->type, RK_COL_INT64));
  rk_status st = RK_OK;
  int64_t from = list->offsets[0];
  for (int64_t r = 0; r < list->length && st == RK_OK; r++) {
    int64_t end = list->offsets[r + 1];
    for (int64_t k = from; k < end && st == RK_OK; k++)
      if (!rk_column_is_null(v, k)) st = rk_column_append_column(&kept, v, k, k + 1);
    from = end;
    list->offsets[r + 1] = kept.length;
  }
  list->offsets[0] = 0;
  if (st != RK_OK) {
    rk_column_free(&kept);
    return st;
  }
  rk_column_free(v);
  *v = kept;
  return RK_OK;
}

/* A list column's __idx_<col>: the dictionary index of every value (RK_DICT_NULL for a null
 * element), in lists of the column's own lengths (a null row becomes an empty list, as
 * NVTabular's Categorify rebuilds a list column from its offsets alone). */
static rk_status list_indices(pp_column *c, const rk_column *dst, rk_column *ix) {
  if (ix->type != RK_COL_LIST) {
    char *name = ix->name;
    ix->name = NULL;
    rk_column_free(ix);
    rk_status st = rk_column_init(ix, name, RK_COL_LIST, RK_COL_INT32);
    rk_free(name);
    RK_TRY(st);
  }
  rk_column_clear(ix);
  int64_t rows = dst->length, n = dst->offsets[rows] - dst->offsets[0];
  RK_TRY(rk_column_reserve(ix, rows, n));
  for (int64_t r = 0; r <= rows; r++) ix->offsets[r] = dst->offsets[r] - dst->offsets[0];
  ix->length = rows;
  ix->child->length = n;
  return rk_dict_insert(c->dict, dst->child, dst->offsets[0], dst->offsets[rows], ix->child->values);
}

static rk_status convert_column(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  (void)end;
  batch_ctx *b = arg;
  int i = (int)begin;
  pp_column *c = &b->p->cols[i];
  if (b->out_col[i] < 0) return RK_OK;
  const rk_column *src = &b->in->cols[b->src_col[i]];
  if ((src->type == RK_COL_LIST) != c->is_list)
    return rk_error(RK_EFORMAT, "column '%s' is %s in '%s' but %s in the data input: every input must give it the "
                    "same shape", c->name, src->type == RK_COL_LIST ? "a list" : "not a list", b->label,
                    c->is_list ? "a list" : "not a list");
  rk_coltype to = c->cast ? c->cast_type : c->type;
  rk_column *dst = &b->out->cols[b->out_col[i]];
  RK_TRY(rk_etl_cast_take(dst, src, to, b->keep, b->row_base, b->label, b->p->cfg->non_finite));
  if (!c->needs_dict) return RK_OK;
  if (c->is_list) {
    RK_TRY(list_indices(c, dst, &b->out->cols[b->idx_col[i]]));
    return drop_null_elements(dst);
  }
  rk_column *ix = &b->out->cols[b->idx_col[i]];
  RK_TRY(rk_column_reserve(ix, dst->length, dst->length));
  ix->length = dst->length;
  RK_TRY(rk_dict_insert(c->dict, dst, 0, dst->length, ix->values));
  if (b->input == PP_DATA && (i == b->p->user_col || i == b->p->item_col)) RK_TRY(count_index(c, ix->values, dst->length));
  return RK_OK;
}

static rk_status fill_rows(rk_column *rows, const uint8_t *keep, int64_t n, int64_t base) {
  rk_column_clear(rows);
  RK_TRY(rk_column_reserve(rows, n, n));
  int64_t *v = rows->values, w = 0;
  for (int64_t r = 0; r < n; r++)
    if (!keep || keep[r]) v[w++] = base + r;
  rows->length = w;
  return RK_OK;
}

/* The stage-1 batch layout: __row, the wanted columns, then one __idx_<col> per dictionary column. */
static rk_status layout(pp_state *p, int input, rk_batch *out, int *out_col, int *idx_col) {
  int n = 1;
  for (int i = 0; i < p->n_cols; i++) n += pp_reads(p, input, i) ? 1 + p->cols[i].needs_dict : 0;
  RK_TRY(rk_batch_init(out, n));
  RK_TRY(rk_column_init(&out->cols[0], "__row", RK_COL_INT64, RK_COL_INT64));
  int k = 1;
  for (int i = 0; i < p->n_cols; i++) {
    out_col[i] = idx_col[i] = -1;
    if (!pp_reads(p, input, i)) continue;
    out_col[i] = k++;
    RK_TRY(rk_column_init(&out->cols[out_col[i]], p->cols[i].name, RK_COL_INT64, RK_COL_INT64));
  }
  char name[600];
  for (int i = 0; i < p->n_cols; i++) {
    if (out_col[i] < 0 || !p->cols[i].needs_dict) continue;
    idx_col[i] = k++;
    RK_TRY(rk_column_init(&out->cols[idx_col[i]], pp_idx_name(p->cols[i].name, name, sizeof name), RK_COL_INT32,
                          RK_COL_INT32));
  }
  return RK_OK;
}

/* ---- reading an input ---- */

static rk_status open_source(pp_state *p, int input, rk_table_source **src, const char ***names, int *nnames,
                             rk_query **query) {
  const rk_preprocess_config *c = p->cfg;
  const char *path = p->input_path[input];
  bool parquet = rk_source_is_parquet(path);
  const char *fmt = c->input_format ? c->input_format : "csv";
  if (strcmp(fmt, "parquet") == 0 && !parquet)
    return rk_error(RK_EUSAGE, "--input_data_format is parquet but '%s' is not a .parquet file or a folder of them", path);
  if (strcmp(fmt, "parquet") != 0 && parquet)
    return rk_error(RK_EUSAGE, "'%s' is Parquet: pass --input_data_format parquet", path);
  if (input != PP_PREDICT && c->filter_query) RK_TRY(rk_query_parse(query, c->filter_query));
  int nq = *query ? rk_query_num_columns(*query) : 0;
  *names = rk_malloc((size_t)(p->n_cols + nq + 1) * sizeof **names);
  if (!*names) return RK_ENOMEM;
  *nnames = 0;
  for (int i = 0; i < p->n_cols; i++)
    if (pp_reads(p, input, i)) (*names)[(*nnames)++] = p->cols[i].name;
  for (int q = 0; q < nq; q++) {
    const char *qc = rk_query_column(*query, q);
    bool seen = false;
    for (int j = 0; j < *nnames; j++) seen |= strcmp((*names)[j], qc) == 0;
    if (!seen) (*names)[(*nnames)++] = qc;
  }
  rk_source_options so;
  rk_source_options_default(&so);
  so.csv_sep = strcmp(fmt, "tsv") == 0 ? '\t' : c->csv_sep;
  so.na_values = c->na_values.items;
  so.n_na_values = c->na_values.n;
  so.csv_invalid_utf8 = c->csv_invalid_utf8;
  so.csv_non_finite = c->non_finite;
  so.csv_list_columns = c->csv_list_columns.items;
  so.n_csv_list_columns = c->csv_list_columns.n;
  so.csv_no_header = !c->csv_header;
  so.csv_column_names = c->csv_column_names.items;
  so.n_csv_column_names = c->csv_column_names.n;
  so.columns = *names;
  so.ncolumns = *nnames;
  so.share = pp_dist_rank(p);
  so.shares = pp_dist_size(p);
  rk_status st = rk_source_open(src, path, &so);
  if (st != RK_ENOTFOUND) return st;
  /* Say which flag named the missing column. */
  char msg[512];
  snprintf(msg, sizeof msg, "%s", rk_error_message());
  for (int i = 0; i < p->n_cols; i++) {
    char quoted[300];
    snprintf(quoted, sizeof quoted, "'%s'", p->cols[i].name);
    if (pp_reads(p, input, i) && strstr(msg, quoted))
      return rk_error(RK_ENOTFOUND, "%s names column '%s', which %s input '%s' does not have", p->cols[i].flag,
                      p->cols[i].name, input_names[input], path);
  }
  return rk_error(RK_ENOTFOUND, "--filter_query: %s", msg);
}

/* A list column read from the data input (its first batch): only a categorical feature may be
 * one (its values share one vocabulary, as NVTabular's Categorify takes a list column); every
 * other use is refused by name here, before any row is written. */
static rk_status plan_list(pp_state *p, int i, const rk_column *col) {
  pp_column *c = &p->cols[i];
  if (col->type != RK_COL_LIST) return RK_OK;
  const char *why = NULL;
  bool encoded = false;
  for (int e = 0; e < p->n_te; e++) encoded |= p->te[e].feature == i;
  if (i == p->user_col || i == p->item_col) why = "it cannot be a user or item id";
  else if (encoded) why = "target encoding takes one value per row";
  else if (c->cast) why = "its values are not cast (categorify gives them int64 ids)";
  else if (strcmp(c->flag, "--categorical_features") != 0) why = "only --categorical_features takes a list column";
  else if (pp_dist_size(p) > 1) why = "list columns are preprocessed by one process (not under mpirun) for now";
  if (why)
    return rk_error(RK_EUNSUPPORTED, "%s names column '%s', a list of %s in '%s': %s", c->flag, c->name,
                    rk_coltype_name(col->child->type), p->input_path[PP_DATA], why);
  c->is_list = true;
  c->elem_type = col->child->type;
  return RK_OK;
}

static rk_status ingest_batches(pp_state *p, int input, rk_table_source *src, rk_query *query, rk_parquet_writer *w,
                                int64_t *rows_read, int64_t *rows_kept) {
  int *map = rk_malloc(3 * (size_t)(p->n_cols ? p->n_cols : 1) * sizeof *map);
  if (!map) return RK_ENOMEM;
  int *src_col = map, *out_col = map + p->n_cols, *idx_col = map + 2 * p->n_cols;
  rk_batch in = {0}, out = {0};
  uint8_t *keep = NULL;
  int64_t keep_cap = 0;
  rk_status st = layout(p, input, &out, out_col, idx_col);
  rk_progress progress;
  char what[64], label[600];
  snprintf(what, sizeof what, "read %s", input_names[input]);
  rk_progress_begin(&progress, what, 100.0, "%");
  /* A rank's rows are counted from the start of its share, so its messages name the share. */
  if (pp_dist_size(p) > 1)
    snprintf(label, sizeof label, "%s (share %d of %d)", p->input_path[input], pp_dist_rank(p) + 1, pp_dist_size(p));
  else
    snprintf(label, sizeof label, "%s", p->input_path[input]);
  while (st == RK_OK && (st = src->next(src, &in)) == RK_OK && in.nrows > 0) {
    if (in.nrows > keep_cap) {
      rk_free(keep);
      keep_cap = in.nrows;
      if (!(keep = rk_malloc((size_t)keep_cap))) st = RK_ENOMEM;
    }
    if (st == RK_OK && query) st = rk_query_eval(query, &in, keep);
    for (int i = 0; i < p->n_cols && st == RK_OK; i++) {
      src_col[i] = out_col[i] >= 0 ? rk_batch_find(&in, p->cols[i].name) : -1;
      if (input == PP_DATA && *rows_read == 0)
        p->cols[i].type = p->cols[i].cast ? p->cols[i].cast_type : in.cols[src_col[i]].type;
    }
    if (st == RK_OK && *rows_read == 0 && input == PP_DATA) {
      for (int i = 0; i < p->n_cols && st == RK_OK; i++)
        if (src_col[i] >= 0) st = plan_list(p, i, &in.cols[src_col[i]]);
      for (int i = 0; i < p->n_cols && st == RK_OK; i++)
        if (p->cols[i].needs_dict) st = rk_dict_create(&p->cols[i].dict, pp_value_type(&p->cols[i]));
    }
    batch_ctx b = {p, input, &in, &out, src_col, out_col, idx_col, query ? keep : NULL, *rows_read, label};
    if (st == RK_OK) st = rk_parallel_try(p->n_cols, 1, convert_column, &b);
    if (st == RK_OK) st = fill_rows(&out.cols[0], query ? keep : NULL, in.nrows, *rows_read);
    out.nrows = out.cols[0].length;
    if (st == RK_OK && out.nrows > 0) st = rk_parquet_writer_write(w, &out);
    *rows_read += in.nrows;
    *rows_kept += out.nrows;
    double f = src->fraction_done(src);
    if (f >= 0) rk_progress_update(&progress, 100.0 * f);
  }
  rk_progress_end(&progress);
  if (st == RK_OK && *rows_kept == 0) {
    /* An empty stage still needs its columns: write one empty batch so the file has a schema. */
    for (int i = 0; i < p->n_cols && st == RK_OK; i++) {
      if (out_col[i] < 0) continue;
      rk_column_free(&out.cols[out_col[i]]);
      st = rk_column_init(&out.cols[out_col[i]], p->cols[i].name, p->cols[i].cast ? p->cols[i].cast_type : p->cols[i].type,
                          RK_COL_INT64);
      if (st == RK_OK && p->cols[i].is_list) {   /* a list of its values, as a read batch gives it */
        rk_column_free(&out.cols[out_col[i]]);
        st = rk_column_init(&out.cols[out_col[i]], p->cols[i].name, RK_COL_LIST, p->cols[i].elem_type);
      }
      if (st == RK_OK && p->cols[i].needs_dict && !p->cols[i].dict)
        st = rk_dict_create(&p->cols[i].dict, pp_value_type(&p->cols[i]));
      if (st == RK_OK && p->cols[i].is_list) st = list_indices(&p->cols[i], &out.cols[out_col[i]], &out.cols[idx_col[i]]);
    }
    for (int c = 0; c < out.ncols; c++) rk_column_clear(&out.cols[c]);
    out.nrows = 0;
    if (st == RK_OK) st = rk_parquet_writer_write(w, &out);
  }
  rk_free(keep);
  rk_free(map);
  rk_batch_free(&in);
  rk_batch_free(&out);
  return st;
}

/* ---- reusing a persisted stage: the dictionaries are rebuilt from its values ---- */

static rk_status rebuild_batch(pp_state *p, const rk_batch *b, const uint8_t *split, void *ctx) {
  (void)split;
  int input = *(int *)ctx, k = 0;
  int32_t *idx = rk_malloc((size_t)(b->nrows ? b->nrows : 1) * sizeof *idx);
  if (!idx) return RK_ENOMEM;
  rk_status st = RK_OK;
  for (int i = 0; i < p->n_cols && st == RK_OK; i++) {
    pp_column *c = &p->cols[i];
    if (!c->needs_dict || !pp_reads(p, input, i)) continue;
    const rk_column *col = &b->cols[k++];
    if (!c->dict) {
      c->type = col->type;
      c->is_list = col->type == RK_COL_LIST;
      if (c->is_list) c->elem_type = col->child->type;
      st = rk_dict_create(&c->dict, pp_value_type(c));
    }
    if (st == RK_OK && c->is_list) {   /* its values, a batch's worth at a time */
      int64_t n = col->offsets[col->length] - col->offsets[0];
      int32_t *vidx = rk_malloc((size_t)(n ? n : 1) * sizeof *vidx);
      st = vidx ? rk_dict_insert(c->dict, col->child, col->offsets[0], col->offsets[col->length], vidx) : RK_ENOMEM;
      rk_free(vidx);
      continue;
    }
    if (st == RK_OK) st = rk_dict_insert(c->dict, col, 0, col->length, idx);
    if (st == RK_OK && input == PP_DATA && (i == p->user_col || i == p->item_col)) st = count_index(c, idx, col->length);
  }
  rk_free(idx);
  return st;
}

static rk_status reuse_stage(pp_state *p, int input) {
  rk_parquet_dataset *ds = NULL;
  rk_parquet_read_options o;
  rk_parquet_read_options_default(&o);
  RK_TRY(rk_parquet_dataset_open(&ds, p->stage[input], &o));
  for (int i = 0; i < p->n_cols; i++) {
    for (int j = 0; j < rk_parquet_dataset_num_columns(ds); j++) {
      const rk_parquet_column_info *info = rk_parquet_dataset_column(ds, j);
      if (strcmp(info->name, p->cols[i].name) == 0 && input == PP_DATA) p->cols[i].type = info->type;
    }
  }
  rk_parquet_dataset_close(ds);
  const char **names = rk_malloc((size_t)(p->n_cols ? p->n_cols : 1) * sizeof *names);
  if (!names) return RK_ENOMEM;
  int n = 0;
  for (int i = 0; i < p->n_cols; i++)
    if (p->cols[i].needs_dict && pp_reads(p, input, i)) names[n++] = p->cols[i].name;
  rk_status st = pp_scan(p, -1 - input, names, n, "reuse cached stage", rebuild_batch, &input);
  rk_free(names);
  return st;
}

static rk_status report_reuse(pp_state *p, int input) {
  char *path = pp_path(p->stage[input], "manifest.json"), *text = NULL;
  size_t len;
  rk_status st = path ? rk_read_file(path, &text, &len) : RK_ENOMEM;
  json_t *m = st == RK_OK ? json_loadb(text, len, 0, NULL) : NULL;
  if (m) {
    json_object_set_new(json_object_get(p->report, "inputs"), input_names[input],
                        json_pack("{sssOsOsb}", "path", p->input_path[input], "rows_read", json_object_get(m, "rows_read"),
                                  "rows_after_filter_query", json_object_get(m, "rows_kept"), "reused_cache", 1));
  }
  json_decref(m);
  rk_free(text);
  rk_free(path);
  return st;
}

rk_status pp_ingest(pp_state *p, int input, const char *stage, int64_t *read, int64_t *kept) {
  double t0 = rk_now();
  json_t *made_by = manifest(p, input);
  if (!made_by) return RK_ENOMEM;
  if (p->cfg->persist_intermediate && manifest_matches(stage, made_by)) {
    rk_info("reusing %s (same input and flags as the run that wrote it)", stage);
    json_decref(made_by);
    rk_status st = reuse_stage(p, input);
    if (st == RK_OK) st = report_reuse(p, input);
    *read = *kept = -1;   /* reported from the cache's manifest */
    pp_time(p, input == PP_DATA ? "read_data" : input == PP_EVAL ? "read_eval" : "read_predict", t0);
    return st;
  }
  size_t n = strlen(stage) + 32;
  char *tmp = rk_malloc(n), *file = NULL;
  rk_table_source *src = NULL;
  rk_query *query = NULL;
  const char **names = NULL;
  int nnames = 0;
  rk_parquet_writer *w = NULL;
  int64_t rows_read = 0, rows_kept = 0;
  rk_status st = tmp ? RK_OK : RK_ENOMEM;
  if (st == RK_OK) {
    snprintf(tmp, n, "%s.tmp.%ld", stage, (long)getpid());
    st = rk_remove_tree(tmp);
  }
  if (st == RK_OK) st = rk_mkdir_p(tmp);
  if (st == RK_OK && !(file = pp_path(tmp, "part_0.parquet"))) st = RK_ENOMEM;
  if (st == RK_OK) st = open_source(p, input, &src, &names, &nnames, &query);
  rk_parquet_write_options wo;
  pp_stage_write_options(&wo);
  if (st == RK_OK) st = rk_parquet_writer_open(&w, file, &wo);
  if (st == RK_OK) st = ingest_batches(p, input, src, query, w, &rows_read, &rows_kept);
  if (w) {
    if (st == RK_OK)
      st = rk_parquet_writer_close(w);
    else
      rk_parquet_writer_abort(w);
  }
  if (src) src->close(src);
  rk_query_free(query);
  rk_free(names);
  if (st == RK_OK) st = write_manifest(tmp, made_by, rows_read, rows_kept);
  if (st == RK_OK) st = rk_replace_dir(tmp, stage);
  if (st != RK_OK && tmp) rk_remove_tree(tmp);
  rk_free(tmp);
  rk_free(file);
  json_decref(made_by);
  *read = rows_read;
  *kept = rows_kept;
  pp_time(p, input == PP_DATA ? "read_data" : input == PP_EVAL ? "read_eval" : "read_predict", t0);
  return st;
}

void pp_ingest_report(pp_state *p, int input, int64_t rows_read, int64_t rows_kept) {
  json_t *r = json_object_get(p->report, "inputs");
  json_object_set_new(r, input_names[input],
                      json_pack("{sssIsI}", "path", p->input_path[input], "rows_read", (json_int_t)rows_read,
                                "rows_after_filter_query", (json_int_t)rows_kept));
  rk_debug("%s: %lld rows read, %lld after the filter query", p->input_path[input], (long long)rows_read,
           (long long)rows_kept);
}
