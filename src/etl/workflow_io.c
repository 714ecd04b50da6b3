/*
 * Saving and loading a fitted workflow: workflow.json for the ops and statistics, Parquet files
 * for the vocabularies (laid out as NVTabular's categories/unique.<col>.parquet) and target
 * encodings. Paths inside workflow.json are relative to the workflow folder, so the folder can
 * be moved or copied into a model repository. A session workflow adds its "session" section
 * (workflow_session.c).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "etl/session_internal.h"
#include "reckon/parquet.h"

#define WORKFLOW_FORMAT "reckon-workflow"
#define WORKFLOW_VERSION 1

static const char *const op_names[] = {"passthrough", "categorify", "normalize", "target_encode"};
static const char *const fill_names[] = {"none", "value", "median"};

static char *join(const char *a, const char *b) {
  size_t n = strlen(a) + strlen(b) + 2;
  char *s = rk_malloc(n);
  if (s) snprintf(s, n, "%s/%s", a, b);
  return s;
}

/* ---- save ----------------------------------------------------------------------------------- */

static rk_status write_table(const char *dir, const char *rel, rk_batch *b) {
  char *path = join(dir, rel);
  if (!path) return RK_ENOMEM;
  rk_parquet_write_options o;
  rk_parquet_write_options_default(&o);
  rk_status st = rk_parquet_write(path, b, &o);
  rk_free(path);
  return st;
}

static rk_status save_categories(const rk_wf_column *c, const char *dir, const char *rel) {
  rk_batch b = {0};
  RK_TRY(rk_batch_init(&b, 2));
  char size_name[512];
  snprintf(size_name, sizeof size_name, "%s_size", c->source);
  rk_coltype vt = rk_dict_key_type(c->vocab) == RK_COL_INT64 ? c->in_type : rk_dict_key_type(c->vocab);
  int64_t nv = rk_dict_size(c->vocab);
  int64_t *order = rk_malloc((size_t)(nv ? nv : 1) * sizeof *order);
  rk_status st = order ? RK_OK : RK_ENOMEM;
  if (st == RK_OK) st = rk_column_init(&b.cols[0], c->source, vt, RK_COL_INT8);
  if (st == RK_OK) st = rk_column_init(&b.cols[1], size_name, RK_COL_INT64, RK_COL_INT8);
  for (int64_t i = 0; i < 3 && st == RK_OK; i++) {
    st = rk_column_append_null(&b.cols[0]);
    if (st == RK_OK) st = rk_column_append_int(&b.cols[1], c->freq[i]);
  }
  for (int64_t i = 0; i < nv && st == RK_OK; i++) {
    order[i] = i;
    st = rk_column_append_int(&b.cols[1], c->freq[3 + i]);
  }
  if (st == RK_OK) st = rk_dict_append_values(c->vocab, order, nv, &b.cols[0]);
  b.nrows = 3 + nv;
  if (st == RK_OK) st = write_table(dir, rel, &b);
  rk_free(order);
  rk_batch_free(&b);
  return st;
}

static rk_status save_target_encoding(const rk_wf_column *c, const char *dir, const char *rel) {
  rk_batch b = {0};
  RK_TRY(rk_batch_init(&b, 3));
  int64_t nv = rk_dict_size(c->te_values);
  int64_t *order = rk_malloc((size_t)(nv ? nv : 1) * sizeof *order);
  rk_status st = order ? RK_OK : RK_ENOMEM;
  rk_coltype vt = rk_dict_key_type(c->te_values) == RK_COL_INT64 ? RK_COL_INT64 : rk_dict_key_type(c->te_values);
  if (st == RK_OK) st = rk_column_init(&b.cols[0], c->source, vt, RK_COL_INT8);
  if (st == RK_OK) st = rk_column_init(&b.cols[1], "sum", RK_COL_FLOAT64, RK_COL_INT8);
  if (st == RK_OK) st = rk_column_init(&b.cols[2], "count", RK_COL_INT64, RK_COL_INT8);
  for (int64_t i = 0; i < nv && st == RK_OK; i++) {
    order[i] = i;
    st = rk_column_append_double(&b.cols[1], c->te_sum[i]);
    if (st == RK_OK) st = rk_column_append_int(&b.cols[2], c->te_count[i]);
  }
  if (st == RK_OK) st = rk_dict_append_values(c->te_values, order, nv, &b.cols[0]);
  b.nrows = nv;
  if (st == RK_OK) st = write_table(dir, rel, &b);
  rk_free(order);
  rk_batch_free(&b);
  return st;
}

static int set_str(json_t *o, const char *k, const char *v) { return json_object_set_new(o, k, json_string(v)); }
static int set_real(json_t *o, const char *k, double v) {
  return json_object_set_new(o, k, isfinite(v) ? json_real(v) : json_null());
}
static int set_int(json_t *o, const char *k, int64_t v) { return json_object_set_new(o, k, json_integer(v)); }

static rk_status column_json(const rk_wf_column *c, const char *dir, json_t **out) {
  json_t *o = json_object(), *tags = json_array();
  int bad = !o || !tags;
  bad |= o && set_str(o, "name", c->name);
  bad |= o && set_str(o, "source", c->source);
  bad |= o && set_str(o, "op", op_names[c->op]);
  bad |= o && set_str(o, "in_type", rk_coltype_name(c->in_type));
  bad |= o && set_str(o, "out_type", rk_coltype_name(c->out_type));
  bad |= o && json_object_set_new(o, "is_target", json_boolean(c->is_target));
  for (int i = 0; tags && i < c->n_tags; i++) bad |= json_array_append_new(tags, json_string(c->tags[i]));
  bad |= o && json_object_set(o, "tags", tags);
  json_decref(tags);
  if (bad) {
    json_decref(o);
    return RK_ENOMEM;
  }
  char rel[1024];
  rk_status st = RK_OK;
  if (c->op == RK_WF_CATEGORIFY) {
    snprintf(rel, sizeof rel, "categories/unique.%s.parquet", c->source);
    bad |= set_int(o, "cardinality", c->cardinality) | set_int(o, "min_freq", c->min_freq) |
           set_str(o, "categories", rel);
    if (c->is_list)
      bad |= json_object_set_new(o, "is_list", json_true()) |
             json_object_set_new(o, "value_count", json_pack("{sIsI}", "min", (json_int_t)c->list_min, "max",
                                                             (json_int_t)c->list_max));
    st = save_categories(c, dir, rel);
  } else if (c->op == RK_WF_NORMALIZE) {
    bad |= set_str(o, "fill", fill_names[c->fill]) | set_real(o, "fill_value", c->fill_value) |
           set_real(o, "mean", c->mean) | set_real(o, "std", c->std);
  } else if (c->op == RK_WF_TARGET_ENCODE) {
    snprintf(rel, sizeof rel, "target_encodings/te.%s.%s.parquet", c->source, c->target);
    bad |= set_str(o, "target", c->target) | set_real(o, "prior", c->te_prior) |
           set_real(o, "smoothing", c->te_smoothing) | set_int(o, "folds", c->te_folds) |
           set_int(o, "seed", (int64_t)c->te_seed) | set_str(o, "values", rel);
    st = save_target_encoding(c, dir, rel);
  }
  if (bad && st == RK_OK) st = RK_ENOMEM;
  if (st != RK_OK) {
    json_decref(o);
    return st;
  }
  *out = o;
  return RK_OK;
}

static rk_status save_into(const rk_workflow *wf, const char *tmp) {
  char *cats = join(tmp, "categories"), *tes = join(tmp, "target_encodings");
  rk_status st = cats && tes ? RK_OK : RK_ENOMEM;
  if (st == RK_OK) st = rk_mkdir_p(cats);
  if (st == RK_OK) st = rk_mkdir_p(tes);
  rk_free(cats);
  rk_free(tes);
  json_t *root = json_object(), *cols = json_array();
  if (st == RK_OK && (!root || !cols || set_str(root, "format", WORKFLOW_FORMAT) ||
                      set_int(root, "version", WORKFLOW_VERSION)))
    st = RK_ENOMEM;
  for (int i = 0; i < wf->n_cols && st == RK_OK; i++) {
    json_t *c = NULL;
    st = column_json(&wf->cols[i], tmp, &c);
    if (st == RK_OK && json_array_append_new(cols, c) != 0) st = RK_ENOMEM;
  }
  if (st == RK_OK && json_object_set(root, "columns", cols) != 0) st = RK_ENOMEM;
  if (st == RK_OK && wf->session) {
    json_t *session = ss_workflow_json(wf->session, tmp, &st);
    if (st == RK_OK && json_object_set_new(root, "session", session) != 0) st = RK_ENOMEM;
  }
  char *text = st == RK_OK ? json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17)) : NULL;
  if (st == RK_OK && !text) st = RK_ENOMEM;
  json_decref(cols);
  json_decref(root);
  if (st == RK_OK) {
    char *path = join(tmp, "workflow.json");
    st = path ? rk_write_file_atomic(path, text, strlen(text)) : RK_ENOMEM;
    rk_free(path);
  }
  free(text);
  return st;
}

rk_status rk_workflow_save(const rk_workflow *wf, const char *dir) {
  char *tmp = rk_temp_path(dir);
  if (!tmp) return RK_ENOMEM;
  rk_status st = save_into(wf, tmp);
  if (st == RK_OK) st = rk_replace_dir(tmp, dir);
  if (st != RK_OK) rk_remove_tree(tmp);
  rk_free(tmp);
  return st == RK_OK ? RK_OK : rk_error_context(st, "cannot save the workflow to '%s'", dir);
}

/* ---- load ----------------------------------------------------------------------------------- */

static rk_status bad_format(const char *path, const char *what) {
  return rk_error(RK_EFORMAT, "'%s' is not a reckon workflow: %s", path, what);
}

static const char *get_str(json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

static double get_real(json_t *o, const char *k) {
  json_t *v = json_object_get(o, k);
  return json_is_number(v) ? json_number_value(v) : NAN;
}

static int find_name(const char *const *names, int n, const char *s) {
  for (int i = 0; s && i < n; i++)
    if (strcmp(names[i], s) == 0) return i;
  return -1;
}

static rk_status read_table(const char *dir, const char *rel, rk_batch *b) {
  if (!rel || strstr(rel, "..")) return bad_format(dir, "a table path is missing or leaves the folder");
  char *path = join(dir, rel);
  if (!path) return RK_ENOMEM;
  rk_parquet_read_options o;
  rk_parquet_read_options_default(&o);
  rk_status st = rk_parquet_read_all(path, &o, b);
  rk_free(path);
  return st;
}

static rk_status load_categories(rk_wf_column *c, const char *dir, const char *rel) {
  rk_batch b = {0};
  RK_TRY(read_table(dir, rel, &b));
  rk_status st = RK_OK;
  if (b.ncols != 2 || b.nrows < 3 || b.nrows != c->cardinality || b.cols[1].type != RK_COL_INT64)
    st = rk_error(RK_EFORMAT, "'%s/%s': expected a value column and a size column with %lld rows", dir, rel,
                  (long long)c->cardinality);
  if (st == RK_OK) st = rk_dict_create(&c->vocab, b.cols[0].type);
  int32_t *idx = st == RK_OK ? rk_malloc((size_t)b.nrows * sizeof *idx) : NULL;
  if (st == RK_OK && !idx) st = RK_ENOMEM;
  if (st == RK_OK) st = rk_dict_insert(c->vocab, &b.cols[0], 3, b.nrows, idx);
  if (st == RK_OK && rk_dict_size(c->vocab) != b.nrows - 3)
    st = rk_error(RK_EFORMAT, "'%s/%s': a value appears twice", dir, rel);
  if (st == RK_OK && !(c->freq = rk_malloc((size_t)b.nrows * sizeof *c->freq))) st = RK_ENOMEM;
  if (st == RK_OK) memcpy(c->freq, b.cols[1].values, (size_t)b.nrows * sizeof *c->freq);
  rk_free(idx);
  rk_batch_free(&b);
  return st;
}

static rk_status load_target_encoding(rk_wf_column *c, const char *dir, const char *rel) {
  rk_batch b = {0};
  RK_TRY(read_table(dir, rel, &b));
  rk_status st = RK_OK;
  if (b.ncols != 3 || b.cols[1].type != RK_COL_FLOAT64 || b.cols[2].type != RK_COL_INT64)
    st = rk_error(RK_EFORMAT, "'%s/%s': expected value, sum (float64) and count (int64) columns", dir, rel);
  int64_t n = b.nrows;
  if (st == RK_OK) st = rk_dict_create(&c->te_values, b.cols[0].type);
  int32_t *idx = st == RK_OK ? rk_malloc((size_t)(n ? n : 1) * sizeof *idx) : NULL;
  if (st == RK_OK && !idx) st = RK_ENOMEM;
  if (st == RK_OK) st = rk_dict_insert(c->te_values, &b.cols[0], 0, n, idx);
  if (st == RK_OK && rk_dict_size(c->te_values) != n) st = rk_error(RK_EFORMAT, "'%s/%s': a value appears twice", dir, rel);
  if (st == RK_OK) {
    c->te_sum = rk_malloc((size_t)(n ? n : 1) * sizeof *c->te_sum);
    c->te_count = rk_malloc((size_t)(n ? n : 1) * sizeof *c->te_count);
    if (!c->te_sum || !c->te_count) st = RK_ENOMEM;
  }
  if (st == RK_OK && n) {
    memcpy(c->te_sum, b.cols[1].values, (size_t)n * sizeof *c->te_sum);
    memcpy(c->te_count, b.cols[2].values, (size_t)n * sizeof *c->te_count);
  }
  rk_free(idx);
  rk_batch_free(&b);
  return st;
}

static rk_status load_column(rk_workflow *wf, json_t *o, const char *dir, const char *path) {
  const char *name = get_str(o, "name"), *source = get_str(o, "source");
  int op = find_name(op_names, 4, get_str(o, "op"));
  rk_coltype in_type, out_type;
  if (!name || !source || op < 0 || !get_str(o, "in_type") || !get_str(o, "out_type") ||
      rk_coltype_parse(get_str(o, "in_type"), &in_type) != RK_OK ||
      rk_coltype_parse(get_str(o, "out_type"), &out_type) != RK_OK)
    return bad_format(path, "a column lacks its name, source, op or types");
  rk_wf_column *c;
  RK_TRY(rk_workflow_add(wf, name, source, (rk_wf_op)op, &c));
  c->in_type = in_type;
  c->out_type = out_type;
  c->is_target = json_is_true(json_object_get(o, "is_target"));
  json_t *tags = json_object_get(o, "tags"), *t;
  size_t i;
  json_array_foreach(tags, i, t) {
    if (json_is_string(t)) RK_TRY(rk_wf_column_add_tag(c, json_string_value(t)));
  }
  if (op == RK_WF_CATEGORIFY) {
    c->cardinality = json_integer_value(json_object_get(o, "cardinality"));
    c->min_freq = json_integer_value(json_object_get(o, "min_freq"));
    if ((c->is_list = json_is_true(json_object_get(o, "is_list")))) {
      json_t *vc = json_object_get(o, "value_count");
      c->list_min = json_integer_value(json_object_get(vc, "min"));
      c->list_max = json_integer_value(json_object_get(vc, "max"));
      if (!json_is_integer(json_object_get(vc, "min")) || !json_is_integer(json_object_get(vc, "max")) ||
          c->list_min < 0 || c->list_min > c->list_max)
        return rk_error(RK_EFORMAT, "'%s': list column '%s' lacks a value_count with 0 <= min <= max", path, name);
    }
    return load_categories(c, dir, get_str(o, "categories"));
  }
  if (op == RK_WF_NORMALIZE) {
    int fill = find_name(fill_names, 3, get_str(o, "fill"));
    if (fill < 0) return bad_format(path, "a normalize column lacks its fill");
    c->fill = (rk_fill_kind)fill;
    c->fill_value = get_real(o, "fill_value");
    c->mean = get_real(o, "mean");
    c->std = get_real(o, "std");
    /* A statistic that is missing or not finite would pass raw values through (or make NaNs). */
    if (!isfinite(c->mean) || !isfinite(c->std) || c->std < 0 || (c->fill != RK_FILL_NONE && !isfinite(c->fill_value)))
      return rk_error(RK_EFORMAT,
                      "'%s': column '%s' has a mean, std or fill value that is missing or not a finite number; "
                      "fit the workflow again",
                      path, name);
    return RK_OK;
  }
  if (op == RK_WF_TARGET_ENCODE) {
    const char *target = get_str(o, "target");
    if (!target) return bad_format(path, "a target encoding lacks its target");
    if (!(c->target = rk_strdup(target))) return RK_ENOMEM;
    c->te_prior = get_real(o, "prior");
    c->te_smoothing = get_real(o, "smoothing");
    if (!isfinite(c->te_prior) || !isfinite(c->te_smoothing))
      return rk_error(RK_EFORMAT, "'%s': target encoding '%s' has a prior or smoothing that is missing or not finite",
                      path, name);
    c->te_folds = (int)json_integer_value(json_object_get(o, "folds"));
    c->te_seed = (uint64_t)json_integer_value(json_object_get(o, "seed"));
    return load_target_encoding(c, dir, get_str(o, "values"));
  }
  return RK_OK;
}

rk_status rk_workflow_load(rk_workflow *wf, const char *dir) {
  rk_workflow_init(wf);
  RK_TRY(rk_output_check_set(dir));   /* a workflow/ of one preprocess run beside data of another: refused */
  char *path = join(dir, "workflow.json");
  if (!path) return RK_ENOMEM;
  char *text = NULL;
  size_t len;
  rk_status st = rk_read_file(path, &text, &len);
  json_t *root = NULL;
  if (st == RK_OK) {
    json_error_t err;
    root = json_loadb(text, len, 0, &err);
    if (!root) st = rk_error(RK_EPARSE, "cannot parse '%s' line %d: %s", path, err.line, err.text);
  }
  if (st == RK_OK && (!json_is_object(root) || strcmp(get_str(root, "format") ? get_str(root, "format") : "", WORKFLOW_FORMAT) != 0))
    st = bad_format(path, "no \"format\": \"" WORKFLOW_FORMAT "\"");
  if (st == RK_OK && json_integer_value(json_object_get(root, "version")) != WORKFLOW_VERSION)
    st = rk_error(RK_EUNSUPPORTED, "'%s' has workflow version %lld; this reckon reads version %d", path,
                  (long long)json_integer_value(json_object_get(root, "version")), WORKFLOW_VERSION);
  json_t *cols = root ? json_object_get(root, "columns") : NULL, *c;
  size_t i;
  if (st == RK_OK && !json_is_array(cols)) st = bad_format(path, "no \"columns\" array");
  json_array_foreach(cols, i, c) {
    if (st != RK_OK) break;
    st = load_column(wf, c, dir, path);
  }
  json_t *session = root ? json_object_get(root, "session") : NULL;
  if (st == RK_OK && session) st = ss_workflow_from_json(&wf->session, session, dir, path);
  json_decref(root);
  rk_free(text);
  rk_free(path);
  if (st != RK_OK) rk_workflow_free(wf);
  return st;
}
