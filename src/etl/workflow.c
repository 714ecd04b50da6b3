/*
 * The fitted workflow: its columns, the transform that serving and `reckon transform` run, and
 * the Merlin schema of what it writes; the categorify fit both pipelines share. Saving and
 * loading live in workflow_io.c (the session section in workflow_session.c).
 */
#include <math.h>
#include <stdlib.h>   /* qsort_r: _GNU_SOURCE comes from the build */
#include <string.h>

#include "etl/session_internal.h"

void rk_workflow_init(rk_workflow *wf) { memset(wf, 0, sizeof *wf); }

static void free_column(rk_wf_column *c) {
  rk_free(c->name);
  rk_free(c->source);
  for (int i = 0; i < c->n_tags; i++) rk_free(c->tags[i]);
  rk_free(c->tags);
  rk_dict_free(c->vocab);
  rk_free(c->freq);
  rk_free(c->target);
  rk_dict_free(c->te_values);
  rk_free(c->te_sum);
  rk_free(c->te_count);
}

void rk_workflow_free(rk_workflow *wf) {
  for (int i = 0; i < wf->n_cols; i++) free_column(&wf->cols[i]);
  rk_free(wf->cols);
  rk_session_workflow_free(wf->session);
  rk_workflow_init(wf);
}

rk_status rk_workflow_add(rk_workflow *wf, const char *name, const char *source, rk_wf_op op, rk_wf_column **col) {
  if (wf->n_cols == wf->cap_cols) {
    int cap = wf->cap_cols ? 2 * wf->cap_cols : 8;
    rk_wf_column *c = rk_realloc(wf->cols, (size_t)cap * sizeof *c);
    if (!c) return RK_ENOMEM;
    wf->cols = c;
    wf->cap_cols = cap;
  }
  rk_wf_column *c = &wf->cols[wf->n_cols];
  memset(c, 0, sizeof *c);
  c->op = op;
  c->in_type = c->out_type = RK_COL_INT64;
  c->std = 1.0;
  c->name = rk_strdup(name);
  c->source = rk_strdup(source);
  if (!c->name || !c->source) {
    free_column(c);
    return RK_ENOMEM;
  }
  wf->n_cols++;
  if (col) *col = c;
  return RK_OK;
}

rk_status rk_wf_column_add_tag(rk_wf_column *col, const char *tag) {
  for (int i = 0; i < col->n_tags; i++)
    if (strcmp(col->tags[i], tag) == 0) return RK_OK;
  char **t = rk_realloc(col->tags, (size_t)(col->n_tags + 1) * sizeof *t);
  if (!t) return RK_ENOMEM;
  col->tags = t;
  if (!(t[col->n_tags] = rk_strdup(tag))) return RK_ENOMEM;
  col->n_tags++;
  return RK_OK;
}

int64_t rk_embedding_dim(int64_t cardinality) {
  double d = round(1.6 * pow((double)cardinality, 0.56));
  if (d < 16) d = 16;
  if (d > 512) d = 512;
  return (int64_t)d;
}

float rk_wf_normalize_value(const rk_wf_column *col, double x) {
  double centred = x - col->mean;
  return (float)(col->std > 0 ? centred / col->std : centred);
}

double rk_wf_target_encode(double sum, int64_t count, double prior, double smoothing) {
  return (sum + prior * smoothing) / ((double)count + smoothing);
}

/* ---- categorify fit: shared by tabular preprocessing (fit.c) and the session ETL ---- */

typedef struct {
  const int64_t *count;
  const rk_dict *dict;
} vocab_order;

static int by_frequency(const void *a, const void *b, void *arg) {
  const vocab_order *o = arg;
  int64_t i = *(const int64_t *)a, j = *(const int64_t *)b;
  if (o->count[i] != o->count[j]) return o->count[i] > o->count[j] ? -1 : 1;
  return rk_dict_compare(o->dict, i, j);
}

rk_status rk_wf_categorify_fit(rk_wf_column *wc, const rk_dict *dict, const int64_t *count, int64_t nulls,
                               int64_t *remap, int64_t *vocabulary_size, int64_t *rare_count) {
  int64_t n = rk_dict_size(dict), min = wc->min_freq > 1 ? wc->min_freq : 1, nv = 0, rare = 0;
  int64_t *order = rk_malloc((size_t)(n ? n : 1) * sizeof *order);
  if (!order) return RK_ENOMEM;
  for (int64_t i = 0; i < n; i++) {
    remap[i] = 2;
    if (count[i] >= min)
      order[nv++] = i;
    else
      rare += count[i];
  }
  vocab_order vo = {count, dict};
  qsort_r(order, (size_t)nv, sizeof *order, by_frequency, &vo);
  wc->cardinality = 3 + nv;
  if (rk_coltype_is_int(wc->out_type)) {
    int64_t hi = wc->out_type == RK_COL_INT8 ? INT8_MAX : wc->out_type == RK_COL_INT16 ? INT16_MAX
                 : wc->out_type == RK_COL_INT32 ? INT32_MAX : INT64_MAX;
    if (wc->cardinality - 1 > hi)
      return rk_free(order), rk_error(RK_ERANGE,
                                      "column '%s' has %lld categories, so its ids go up to %lld, which does not fit "
                                      "%s (named by a --to_* flag): cast it to a wider type",
                                      wc->source, (long long)nv, (long long)(wc->cardinality - 1),
                                      rk_coltype_name(wc->out_type));
  }
  rk_status st = RK_OK;
  if (!(wc->freq = rk_malloc((size_t)wc->cardinality * sizeof *wc->freq))) st = RK_ENOMEM;
  if (st == RK_OK) {
    wc->freq[0] = 0;
    wc->freq[1] = nulls;
    wc->freq[2] = rare;
    for (int64_t k = 0; k < nv; k++) {
      remap[order[k]] = 3 + k;
      wc->freq[3 + k] = count[order[k]];
    }
  }
  /* The workflow's own dictionary holds the vocabulary in id order, for lookups by value. */
  rk_column values = {0};
  int32_t *idx = NULL;
  if (st == RK_OK) st = rk_column_init(&values, wc->source, rk_dict_key_type(dict), RK_COL_INT8);
  if (st == RK_OK) st = rk_dict_append_values(dict, order, nv, &values);
  if (st == RK_OK) st = rk_dict_create(&wc->vocab, rk_dict_key_type(dict));
  if (st == RK_OK && !(idx = rk_malloc((size_t)(nv ? nv : 1) * sizeof *idx))) st = RK_ENOMEM;
  if (st == RK_OK) st = rk_dict_insert(wc->vocab, &values, 0, nv, idx);
  rk_free(idx);
  rk_column_free(&values);
  rk_free(order);
  if (vocabulary_size) *vocabulary_size = nv;
  if (rare_count) *rare_count = rare;
  return st;
}

/* ---- transform ------------------------------------------------------------------------------ */

typedef struct {
  const rk_wf_column *wc;
  const rk_column *in;
  rk_column *out;
  int32_t *idx;
} transform_ctx;

static void store_id(rk_column *out, int64_t r, int64_t id) {
  switch (out->type) {
    case RK_COL_INT8: ((int8_t *)out->values)[r] = (int8_t)id; break;
    case RK_COL_INT16: ((int16_t *)out->values)[r] = (int16_t)id; break;
    case RK_COL_INT32: ((int32_t *)out->values)[r] = (int32_t)id; break;
    default: ((int64_t *)out->values)[r] = id; break;
  }
}

static void categorify_chunk(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  transform_ctx *t = arg;
  rk_dict_lookup(t->wc->vocab, t->in, begin, end, t->idx + begin);
  for (int64_t r = begin; r < end; r++) {
    int32_t i = t->idx[r];
    store_id(t->out, r, i >= 0 ? 3 + (int64_t)i : i == RK_DICT_NULL ? 1 : 2);
  }
}

static void normalize_chunk(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  transform_ctx *t = arg;
  float *y = t->out->values;
  for (int64_t r = begin; r < end; r++) {
    double x = rk_etl_value_double(t->in, r);
    if (isnan(x) && t->wc->fill != RK_FILL_NONE) x = t->wc->fill_value;
    y[r] = isnan(x) ? 0.0f : rk_wf_normalize_value(t->wc, x);
  }
}

static void target_encode_chunk(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  transform_ctx *t = arg;
  const rk_wf_column *c = t->wc;
  rk_dict_lookup(c->te_values, t->in, begin, end, t->idx + begin);
  float *y = t->out->values;
  for (int64_t r = begin; r < end; r++) {
    int32_t i = t->idx[r];
    /* Unseen and null values encode as a value with no train rows would: the same expression
     * with zero sums, so preprocessing and serving agree to the bit. */
    double v = i >= 0 ? rk_wf_target_encode(c->te_sum[i], c->te_count[i], c->te_prior, c->te_smoothing)
                      : rk_wf_target_encode(0.0, 0, c->te_prior, c->te_smoothing);
    y[r] = (float)v;
  }
}

static rk_status transform_column(const rk_wf_column *c, const rk_column *in, rk_column *out);

/* A list column: its values categorified as one column, into lists of the input's lengths (a
 * null row becomes an empty list and a null element id 1, as preprocessing writes them). */
static rk_status transform_list(const rk_wf_column *c, const rk_column *in, rk_column *out) {
  if (in->type != RK_COL_LIST)
    return rk_error(RK_EINVAL, "column '%s' holds %s values, but the workflow reads it as a list (of %s)",
                    in->name ? in->name : c->source, rk_coltype_name(in->type), rk_coltype_name(c->in_type));
  int64_t rows = in->length, a = in->offsets[0], n = in->offsets[rows] - a;
  rk_column values = *in->child, copy = {0};   /* a view of the rows' values, from the first row's */
  rk_status st = RK_OK;
  if (a != 0 && values.null_count > 0) {   /* null elements (id 1): a bitmap cannot be offset, copy */
    st = rk_column_init(&copy, NULL, values.type, RK_COL_INT64);
    if (st == RK_OK) st = rk_column_append_column(&copy, in->child, a, a + n);
    values = copy;
  } else if (a != 0) {
    size_t w = rk_coltype_width(values.type);
    if (w) values.values = (char *)values.values + (size_t)a * w;
    else values.offsets += a;   /* strings: their offsets index the same bytes */
  }
  values.length = n;   /* a view ends at the last row's values */
  rk_column ids = {0};
  rk_wf_column flat = *c;
  flat.is_list = false;
  if (st == RK_OK) st = transform_column(&flat, &values, &ids);
  rk_column_free(&copy);
  rk_column_free(out);
  if (st == RK_OK) st = rk_column_init(out, c->name, RK_COL_LIST, c->out_type);
  if (st == RK_OK) st = rk_column_reserve(out, rows, 0);
  if (st == RK_OK) {
    for (int64_t r = 0; r <= rows; r++) out->offsets[r] = in->offsets[r] - a;
    out->length = rows;
    rk_column_free(out->child);
    rk_free(out->child);
    out->child = rk_malloc(sizeof *out->child);
    if (!out->child) st = RK_ENOMEM;
    else *out->child = ids, ids = (rk_column){0};
  }
  rk_column_free(&ids);
  return st;
}

static rk_status transform_column(const rk_wf_column *c, const rk_column *in, rk_column *out) {
  if (c->is_list) return transform_list(c, in, out);
  int64_t n = in->length;
  if (c->op == RK_WF_PASSTHROUGH) return rk_etl_cast_take(out, in, c->out_type, NULL, 0, "input", RK_NON_FINITE_ERROR);
  RK_TRY(rk_etl_column_reset(out, c->name, c->out_type));
  RK_TRY(rk_column_reserve(out, n, n));
  out->length = n;
  transform_ctx t = {c, in, out, NULL};
  if (c->op != RK_WF_NORMALIZE && !(t.idx = rk_malloc((size_t)(n ? n : 1) * sizeof *t.idx))) return RK_ENOMEM;
  const int64_t grain = 16384;
  if (c->op == RK_WF_CATEGORIFY) rk_parallel_for(n, grain, categorify_chunk, &t);
  if (c->op == RK_WF_TARGET_ENCODE) rk_parallel_for(n, grain, target_encode_chunk, &t);
  if (c->op == RK_WF_NORMALIZE) {
    rk_parallel_for(n, grain, normalize_chunk, &t);
    if (c->fill == RK_FILL_NONE)
      for (int64_t r = 0; r < n; r++)
        if (rk_column_is_null(in, r) || isnan(rk_column_get_double(in, r))) RK_TRY(rk_column_set_null(out, r));
  }
  rk_free(t.idx);
  return RK_OK;
}

/* Raw values arrive as the reader typed them (int64 from CSV, say); lookups want the key kind. */
static bool compatible(rk_coltype key, rk_coltype have) {
  if (key == RK_COL_STRING) return have == RK_COL_STRING;
  if (key == RK_COL_FLOAT64) return rk_coltype_is_float(have);
  return rk_coltype_is_int(have);
}

/* An infinite value cannot be normalised (it would come out infinite, or NaN): refused here as
 * the casts refuse it when fitting. NaN is missing, as in the fit. */
static rk_status check_finite_input(const rk_column *src) {
  if (!rk_coltype_is_float(src->type)) return RK_OK;
  for (int64_t r = 0; r < src->length; r++) {
    double x = src->type == RK_COL_FLOAT32 ? (double)((const float *)src->values)[r] : ((const double *)src->values)[r];
    if (isinf(x) && !rk_column_is_null(src, r))
      return rk_error(RK_ERANGE, "value '%s' in batch row %lld, column '%s' is not a finite number: it cannot be normalised",
                      x < 0 ? "-inf" : "inf", (long long)r + 1, src->name ? src->name : "?");
  }
  return RK_OK;
}

/* The input column of each workflow column (-1: absent), from one index of the input's names
 * (a scan per column made every batch of a 100,000-column input quadratic). A repeated input
 * name means its first column, as rk_batch_find does. */
static rk_status find_sources(const rk_workflow *wf, const rk_batch *in, int *source) {
  rk_name_index names;
  rk_name_index_init(&names);
  rk_status st = RK_OK;
  for (int j = 0; j < in->ncols && st == RK_OK; j++)
    if (in->cols[j].name) st = rk_name_index_put(&names, in->cols[j].name, j, NULL);
  for (int i = 0; i < wf->n_cols && st == RK_OK; i++) source[i] = rk_name_index_get(&names, wf->cols[i].source);
  rk_name_index_free(&names);
  return st;
}

bool rk_wf_column_optional(const rk_wf_column *c) { return c->is_target || c->op == RK_WF_PASSTHROUGH; }

rk_status rk_workflow_transform(const rk_workflow *wf, const rk_batch *in, rk_batch *out) {
  rk_batch_free(out);
  int *source = rk_malloc((size_t)(wf->n_cols + 1) * sizeof *source), n_out = 0;
  rk_status st = source ? find_sources(wf, in, source) : RK_ENOMEM;
  for (int i = 0; i < wf->n_cols && st == RK_OK; i++) {
    const rk_wf_column *c = &wf->cols[i];
    if (source[i] >= 0) n_out++;
    else if (!rk_wf_column_optional(c))
      st = rk_error(RK_ENOTFOUND, "the workflow needs column '%s', which the input does not have", c->source);
  }
  if (st == RK_OK) st = rk_batch_init(out, n_out);
  if (st != RK_OK) {
    rk_free(source);
    return st;
  }
  out->nrows = in->nrows;
  int k = 0;
  rk_column tmp = {0};
  for (int i = 0; i < wf->n_cols && st == RK_OK; i++) {
    const rk_wf_column *c = &wf->cols[i];
    int j = source[i];
    if (j < 0) continue;
    const rk_column *src = &in->cols[j];
    const rk_dict *d = c->op == RK_WF_CATEGORIFY ? c->vocab : c->op == RK_WF_TARGET_ENCODE ? c->te_values : NULL;
    if (c->is_list && src->type == RK_COL_LIST && !compatible(rk_dict_key_type(d), src->child->type))
      st = rk_error(RK_EINVAL, "column '%s' is a list of %s, but the workflow's vocabulary holds %s values", c->source,
                    rk_coltype_name(src->child->type), rk_coltype_name(c->in_type));
    else if (d && !c->is_list && !compatible(rk_dict_key_type(d), src->type)) {
      /* A CSV may read ids of a string vocabulary as numbers, or the reverse: convert first. */
      rk_coltype want = rk_dict_key_type(d) == RK_COL_INT64 ? RK_COL_INT64 : rk_dict_key_type(d);
      if ((st = rk_etl_cast_take(&tmp, src, want, NULL, 0, "input", RK_NON_FINITE_ERROR)) != RK_OK) break;
      src = &tmp;
    }
    if (c->op == RK_WF_NORMALIZE) st = check_finite_input(src);
    if (st == RK_OK) st = transform_column(c, src, &out->cols[k]);
    if (st == RK_OK) {
      rk_free(out->cols[k].name);
      out->cols[k].name = rk_strdup(c->name);
      if (!out->cols[k].name) st = RK_ENOMEM;
    }
    k++;
  }
  rk_column_free(&tmp);
  rk_free(source);
  if (st != RK_OK) rk_batch_free(out);
  return st;
}

/* ---- schema --------------------------------------------------------------------------------- */

rk_status rk_wf_schema_column(const rk_wf_column *c, const char *name, rk_schema *out, rk_schema_column **col) {
  rk_schema_column *sc;
  RK_TRY(rk_schema_add_column(out, name, rk_coltype_name(c->out_type), &sc));
  if (col) *col = sc;
  for (int t = 0; t < c->n_tags; t++) RK_TRY(rk_schema_column_add_tag(sc, c->tags[t]));
  if (c->op != RK_WF_CATEGORIFY) return RK_OK;
  if (c->is_list) RK_TRY(rk_schema_column_set_value_count(sc, c->list_min, c->list_max));
  RK_TRY(rk_schema_column_set_int_domain(sc, 0, c->cardinality - 1, true, name));
  RK_TRY(rk_schema_column_set_property_null(sc, "num_buckets"));
  RK_TRY(rk_schema_column_set_property_number(sc, "freq_threshold", (double)c->min_freq));
  RK_TRY(rk_schema_column_set_property_number(sc, "max_size", 0));
  RK_TRY(rk_schema_column_set_property_number(sc, "start_index", 0));
  char path[1024];
  snprintf(path, sizeof path, ".//categories/unique.%s.parquet", c->source);
  RK_TRY(rk_schema_column_set_property_string(sc, "cat_path", path));
  json_t *emb = json_object();
  if (!emb) return RK_ENOMEM;
  if (json_object_set_new(emb, "cardinality", json_real((double)c->cardinality)) != 0 ||
      json_object_set_new(emb, "dimension", json_real((double)rk_embedding_dim(c->cardinality))) != 0) {
    json_decref(emb);
    return RK_ENOMEM;
  }
  return rk_schema_column_set_property(sc, "embedding_sizes", emb);
}

rk_status rk_workflow_schema(const rk_workflow *wf, bool with_targets, rk_schema *out) {
  rk_schema_init(out);
  for (int i = 0; i < wf->n_cols; i++) {
    if (wf->cols[i].is_target && !with_targets) continue;
    rk_status st = rk_wf_schema_column(&wf->cols[i], wf->cols[i].name, out, NULL);
    if (st != RK_OK) {
      rk_schema_free(out);
      return st;
    }
  }
  return RK_OK;
}
