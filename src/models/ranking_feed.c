/*
 * Batches into a ranking graph's inputs. Every graph row r takes its features from data row
 * src[r] and, for in-batch negatives, its item features from data row item_src[r]; rows past
 * the data are padding (id 0, zeros, weight 0). Real rows' weights are scaled by
 * (graph rows / real rows) so a short batch's loss is still the mean over its real rows.
 * The columns are found by name and checked once (a layout); a batch shaped like the last one
 * (the loader's always are) is only checked to be so: the same count, names and types.
 */
#include <string.h>

#include "reckon/models.h"

/* Every column the feed reads, as entries: the features (categorical then continuous), the
 * sample weight, then per task its target, sample space and task weight. */
struct rk_feed_layout {
  int n;                /* entries */
  const char **name;    /* per entry; NULL: not read (no such weight, or a model without targets) */
  bool *list;           /* per entry: read as a list of ids */
  int ncols;            /* the batch column count the layout was found in; -1: none yet */
  int *at;              /* per entry read: its batch column */
  rk_coltype *type, *elem;   /* per entry read: its column's type and list element type */
};

static int entry_sample_weight(const rk_ranking_model *m) { return m->n_cat + m->n_cont; }
static int entry_target(const rk_ranking_model *m, int t) { return m->n_cat + m->n_cont + 1 + 3 * t; }

int rk_feed_max_columns(const rk_ranking_model *m) { return m->n_cat + m->n_cont + 3 * m->n_tasks + 2; }

/* Adds name unless already there. */
static void add_name(const char **names, int *n, const char *name) {
  for (int i = 0; i < *n; i++)
    if (strcmp(names[i], name) == 0) return;
  names[(*n)++] = name;
}

int rk_feed_columns(const rk_feed *f, bool with_targets, const char **names) {
  const rk_ranking_model *m = f->m;
  int n = 0;
  for (int i = 0; i < m->n_cat; i++) names[n++] = m->cat_names[i];
  for (int i = 0; i < m->n_cont; i++) names[n++] = m->cont_names[i];
  if (!with_targets) return n;
  for (int t = 0; t < m->n_tasks; t++) add_name(names, &n, m->targets[t]);
  for (int t = 0; t < m->n_tasks; t++)
    if (f->tw.sample_space[t]) add_name(names, &n, f->tw.sample_space[t]);
  if (f->tw.sample_weight_column) add_name(names, &n, f->tw.sample_weight_column);
  for (int t = 0; t < m->n_tasks; t++)
    if (f->tw.task_sample_weight[t]) add_name(names, &n, f->tw.task_sample_weight[t]);
  return n;
}

/* The entries' names, known from the model and the weights; where they are comes with a batch. */
static rk_status layout_init(rk_feed *f) {
  const rk_ranking_model *m = f->m;
  struct rk_feed_layout *L = rk_calloc(1, sizeof *L);
  if (!L) return RK_ENOMEM;
  f->layout = L;
  L->n = entry_target(m, m->n_tasks);
  L->ncols = -1;
  size_t n = (size_t)L->n;
  L->name = rk_calloc(n, sizeof *L->name);
  L->list = rk_calloc(n, sizeof *L->list);
  L->at = rk_calloc(n, sizeof *L->at);
  L->type = rk_calloc(n, sizeof *L->type);
  L->elem = rk_calloc(n, sizeof *L->elem);
  if (!L->name || !L->list || !L->at || !L->type || !L->elem) return RK_ENOMEM;
  for (int i = 0; i < m->n_cat; i++) L->name[i] = m->cat_names[i], L->list[i] = m->max_len[i] > 0;
  for (int i = 0; i < m->n_cont; i++) L->name[m->n_cat + i] = m->cont_names[i];
  if (m->labels[0] == RK_NO_VALUE) return RK_OK;   /* predicting: no targets or weights read */
  L->name[entry_sample_weight(m)] = f->tw.sample_weight_column;
  for (int t = 0; t < m->n_tasks; t++) {
    L->name[entry_target(m, t)] = m->targets[t];
    L->name[entry_target(m, t) + 1] = f->tw.sample_space[t];
    L->name[entry_target(m, t) + 2] = f->tw.task_sample_weight[t];
  }
  return RK_OK;
}

rk_status rk_feed_init(rk_feed *f, const rk_ranking_model *m, const rk_schema *schema, int64_t negatives,
                       const rk_task_weights *tw, uint64_t seed) {
  memset(f, 0, sizeof *f);
  f->m = m;
  f->negatives = negatives;
  if (tw) f->tw = *tw;
  else rk_task_weights_default(&f->tw);
  f->seed = seed;
  f->item_id = -1;
  int64_t B = rk_graph_batch(m->g);
  if (negatives < 0) return rk_error(RK_EUSAGE, "in-batch negatives: %lld is negative", (long long)negatives);
  if (B % (1 + negatives) != 0)
    return rk_error(RK_EINVAL, "feed: graph batch %lld is not a multiple of 1 + %lld negatives", (long long)B,
                    (long long)negatives);
  int nf = m->n_cat + m->n_cont;
  f->item_feature = rk_calloc((size_t)nf + 1, sizeof *f->item_feature);
  f->src = rk_malloc((size_t)B * sizeof *f->src);
  f->item_src = rk_malloc((size_t)B * sizeof *f->item_src);
  f->cols = rk_calloc((size_t)(m->n_cat + m->n_cont) + 1, sizeof *f->cols);
  if (!f->item_feature || !f->src || !f->item_src || !f->cols || layout_init(f) != RK_OK) {
    rk_feed_free(f);
    return RK_ENOMEM;
  }
  rk_name_index by_name;   /* the schema's columns: one lookup per feature, not a scan */
  rk_name_index_init(&by_name);
  for (int c = 0; c < schema->n_cols; c++) {
    if (rk_name_index_put(&by_name, schema->cols[c].name, c, NULL) == RK_OK) continue;
    rk_name_index_free(&by_name);
    rk_feed_free(f);
    return RK_ENOMEM;
  }
  bool any = false;
  for (int i = 0; i < nf; i++) {
    const char *name = i < m->n_cat ? m->cat_names[i] : m->cont_names[i - m->n_cat];
    int k = rk_name_index_get(&by_name, name);
    const rk_schema_column *col = k >= 0 ? &schema->cols[k] : NULL;
    bool item = col && (rk_schema_column_has_tag(col, RK_TAG_ITEM) || rk_schema_column_has_tag(col, RK_TAG_ITEM_ID));
    f->item_feature[i] = item;
    any = any || item;
    if (item && i < m->n_cat && f->item_id < 0 && rk_schema_column_has_tag(col, RK_TAG_ITEM_ID)) f->item_id = i;
  }
  rk_name_index_free(&by_name);
  if (negatives > 0 && !any) {
    rk_feed_free(f);
    return rk_error(RK_EUSAGE,
                    "in-batch negatives need item features: no model feature is tagged 'item' or 'item_id' in the schema");
  }
  return RK_OK;
}

static void layout_free(struct rk_feed_layout *L) {
  if (!L) return;
  rk_free(L->name);
  rk_free(L->list);
  rk_free(L->at);
  rk_free(L->type);
  rk_free(L->elem);
  rk_free(L);
}

void rk_feed_free(rk_feed *f) {
  layout_free(f->layout);
  rk_free(f->item_feature);
  rk_free(f->src);
  rk_free(f->item_src);
  rk_free(f->cols);
  memset(f, 0, sizeof *f);
}

int64_t rk_feed_batch_rows(const rk_feed *f) { return rk_graph_batch(f->m->g) / (1 + f->negatives); }

/* dst[r] = column value at row src[r] as int64 (0 for padding and nulls). */
static void gather_ids(int64_t *dst, const rk_column *c, const int64_t *src, int64_t B) {
  for (int64_t r = 0; r < B; r++) {
    int64_t s = src[r];
    if (s < 0 || (c->validity && rk_column_is_null(c, s))) {
      dst[r] = 0;
      continue;
    }
    switch (c->type) {
      case RK_COL_INT8: dst[r] = ((const int8_t *)c->values)[s]; break;
      case RK_COL_INT16: dst[r] = ((const int16_t *)c->values)[s]; break;
      case RK_COL_INT32: dst[r] = ((const int32_t *)c->values)[s]; break;
      case RK_COL_INT64: dst[r] = ((const int64_t *)c->values)[s]; break;
      default: dst[r] = rk_column_get_int(c, s); break;
    }
  }
}

/* dst[r * stride] = column value at row src[r] as float (0 for padding and nulls). */
static void gather_f32(float *dst, int64_t stride, const rk_column *c, const int64_t *src, int64_t B) {
  for (int64_t r = 0; r < B; r++) {
    int64_t s = src[r];
    float v = 0.0f;
    if (s >= 0 && !(c->validity && rk_column_is_null(c, s))) {
      if (c->type == RK_COL_FLOAT32) v = ((const float *)c->values)[s];
      else v = (float)rk_column_get_double(c, s);
    }
    dst[r * stride] = v;
  }
}

/* Column `name`, looked for at `hint` first: the loader returns the columns in the order
 * rk_feed_columns asked for them, so a model with thousands of features finds each in one
 * comparison instead of a scan per feature. */
static int find_index(const rk_batch *b, const char *name, int hint) {
  if (hint >= 0 && hint < b->ncols && b->cols[hint].name && strcmp(b->cols[hint].name, name) == 0) return hint;
  return rk_batch_find(b, name);
}

static rk_status find(const rk_batch *b, const char *name, int hint, int *at) {
  int k = find_index(b, name, hint);
  if (k < 0) return rk_error(RK_ENOTFOUND, "the data has no column '%s', which the model reads", name);
  const rk_column *c = &b->cols[k];
  if (!rk_coltype_is_int(c->type) && !rk_coltype_is_float(c->type))
    return rk_error(RK_EFORMAT, "column '%s' is %s; the model reads numbers", name, rk_coltype_name(c->type));
  *at = k;
  return RK_OK;
}

/* A list feature's column: a list of integers. */
static rk_status find_list(const rk_batch *b, const char *name, int hint, int *at) {
  int k = find_index(b, name, hint);
  if (k < 0) return rk_error(RK_ENOTFOUND, "the data has no column '%s', which the model reads", name);
  const rk_column *c = &b->cols[k];
  if (c->type != RK_COL_LIST || !c->child || !rk_coltype_is_int(c->child->type))
    return rk_error(RK_EFORMAT, "column '%s' is %s; the schema says it is a list of integer ids", name,
                    c->type == RK_COL_LIST && c->child ? "a list of non-integers" : rk_coltype_name(c->type));
  *at = k;
  return RK_OK;
}

/* Whether b's columns are where the layout found them, of the same types. */
static bool layout_holds(const struct rk_feed_layout *L, const rk_batch *b) {
  if (L->ncols != b->ncols) return false;
  for (int e = 0; e < L->n; e++) {
    if (!L->name[e]) continue;
    const rk_column *c = &b->cols[L->at[e]];
    if (c->type != L->type[e] || (c->child && c->child->type != L->elem[e])) return false;
    if (!c->name || strcmp(c->name, L->name[e]) != 0) return false;
  }
  return true;
}

/* Find every column the feed reads in b and check its type, in the order errors are reported:
 * features first, then the sample weight, then each task's target, sample space and weight. */
static rk_status layout_find(struct rk_feed_layout *L, const rk_batch *b) {
  if (layout_holds(L, b)) return RK_OK;
  L->ncols = -1;
  for (int e = 0; e < L->n; e++) {
    if (!L->name[e]) continue;
    RK_TRY(L->list[e] ? find_list(b, L->name[e], e, &L->at[e]) : find(b, L->name[e], e, &L->at[e]));
    const rk_column *c = &b->cols[L->at[e]];
    L->type[e] = c->type;
    L->elem[e] = c->child ? c->child->type : RK_COL_INT64;
  }
  L->ncols = b->ncols;
  return RK_OK;
}

/* Entry e's column in b (NULL when the feed does not read it); b holds the layout. */
static const rk_column *layout_column(const struct rk_feed_layout *L, const rk_batch *b, int e) {
  return L->name[e] ? &b->cols[L->at[e]] : NULL;
}

/* Feature i's id for raw value v (models.h): hashed, an indicator's one up, or as stored. */
static rk_status feature_id(const rk_ranking_model *m, int i, int64_t v, int64_t *id) {
  if (m->hash_buckets[i]) {
    *id = 1 + (int64_t)(rk_hash_int(v) % (uint64_t)(m->hash_buckets[i] - 1));
    return RK_OK;
  }
  *id = m->indicator[i] ? v + 1 : v;
  if (*id < (m->indicator[i] ? 1 : 0) || *id >= m->cardinality[i]) {
    if (m->indicator[i])
      return rk_error(RK_ERANGE, "indicator column '%s' holds %lld; the schema's int_domain allows 0 to %lld",
                      m->cat_names[i], (long long)v, (long long)m->cardinality[i] - 2);
    return rk_error(RK_ERANGE,
                    "column '%s' holds id %lld, outside the model's table of %lld rows (the schema's int_domain "
                    "max is %lld): was the data preprocessed with another workflow?",
                    m->cat_names[i], (long long)v, (long long)m->cardinality[i], (long long)m->cardinality[i] - 1);
  }
  return RK_OK;
}

/* Single-valued feature i: ids[r] for graph row r (0 for padding and nulls). */
static rk_status fill_ids(const rk_ranking_model *m, int i, int64_t *ids, const rk_column *c, const int64_t *src,
                          int64_t B) {
  if (!m->hash_buckets[i] && !m->indicator[i]) {   /* the common case: ids as stored */
    gather_ids(ids, c, src, B);
    for (int64_t r = 0; r < B; r++)
      if (ids[r] < 0 || ids[r] >= m->cardinality[i]) return feature_id(m, i, ids[r], &ids[r]);
    return RK_OK;
  }
  for (int64_t r = 0; r < B; r++) {
    int64_t s = src[r];
    if (s < 0 || (c->validity && rk_column_is_null(c, s))) ids[r] = 0;
    else RK_TRY(feature_id(m, i, rk_column_get_int(c, s), &ids[r]));
  }
  return RK_OK;
}

/* List feature i into its ragged input: offsets (B + 1) and ids. */
static rk_status fill_list(const rk_ranking_model *m, int i, const rk_column *c, const int64_t *src, int64_t B) {
  rk_graph *g = m->g;
  int64_t *off = rk_graph_input_offsets(g, m->cat_inputs[i]), *ids = rk_graph_input_ids_data(g, m->cat_inputs[i]);
  int64_t cap = B * m->max_len[i], n = 0;
  off[0] = 0;
  for (int64_t r = 0; r < B; r++) {
    int64_t s = src[r];
    if (s >= 0 && !(c->validity && rk_column_is_null(c, s))) {
      int64_t a = c->offsets[s], e = c->offsets[s + 1];
      if (e - a > m->max_len[i])
        return rk_error(RK_ERANGE, "list column '%s' has a row of %lld values; the schema's value_count max is %lld",
                        m->cat_names[i], (long long)(e - a), (long long)m->max_len[i]);
      for (int64_t k = a; k < e && n < cap; k++)   /* a null element looks nothing up */
        if (!rk_column_is_null(c->child, k)) RK_TRY(feature_id(m, i, rk_column_get_int(c->child, k), &ids[n++]));
    }
    off[r + 1] = n;
  }
  return RK_OK;
}

/* The indicator features' one-hots (a list's counts) side by side, in feature order. */
static void fill_indicators(const rk_ranking_model *m) {
  rk_graph *g = m->g;
  int64_t B = rk_graph_batch(g), W = m->indicator_width, at = 0;
  float *x = rk_graph_input_f32(g, m->indicator_input);
  memset(x, 0, (size_t)(B * W) * sizeof *x);
  for (int i = 0; i < m->n_cat; i++) {
    if (!m->indicator[i]) continue;
    if (m->max_len[i]) {
      const int64_t *off = rk_graph_input_offsets(g, m->cat_inputs[i]), *ids = rk_graph_input_ids_data(g, m->cat_inputs[i]);
      for (int64_t r = 0; r < B; r++)
        for (int64_t k = off[r]; k < off[r + 1]; k++) x[r * W + at + ids[k] - 1] += 1.0f;
    } else {
      const int64_t *ids = rk_graph_input_ids_data(g, m->cat_inputs[i]);
      for (int64_t r = 0; r < B; r++)
        if (ids[r] > 0) x[r * W + at + ids[r] - 1] = 1.0f;
    }
    at += m->cardinality[i] - 1;
  }
}

/* Whether data rows a and b hold the same item. */
static bool same_item(const rk_feed *f, const rk_batch *b, const rk_column *const *cols, int64_t x, int64_t y) {
  const rk_ranking_model *m = f->m;
  int nf = m->n_cat + m->n_cont;
  for (int i = 0; i < nf; i++) {
    if (!f->item_feature[i] || (f->item_id >= 0 && i != f->item_id) || cols[i]->type == RK_COL_LIST) continue;
    if (rk_column_get_double(cols[i], x) != rk_column_get_double(cols[i], y)) return false;
  }
  (void)b;
  return true;
}

rk_status rk_feed_fill(rk_feed *f, const rk_batch *batch, uint64_t step) {
  const rk_ranking_model *m = f->m;
  rk_graph *g = m->g;
  int64_t B = rk_graph_batch(g), n = batch->nrows, per = rk_feed_batch_rows(f);
  if (n > per) return rk_error(RK_EINVAL, "feed: %lld rows for a graph taking %lld", (long long)n, (long long)per);
  int nf = m->n_cat + m->n_cont;
  const struct rk_feed_layout *L = f->layout;
  RK_TRY(layout_find(f->layout, batch));
  const rk_column **cols = f->cols;
  for (int i = 0; i < nf; i++) cols[i] = layout_column(L, batch, i);

  /* Which data rows each graph row reads. */
  for (int64_t r = 0; r < B; r++) f->src[r] = f->item_src[r] = r < n ? r : -1;
  int64_t real = n;
  if (f->negatives > 0 && n > 1) {
    for (int64_t i = 0; i < n; i++) {
      for (int64_t k = 0; k < f->negatives; k++) {
        int64_t r = n + i * f->negatives + k, j = -1;
        rk_rng rng;
        rk_rng_init(&rng, f->seed ^ UINT64_C(0x6e6567), step);   /* "neg" */
        rk_rng_seek(&rng, (uint64_t)(i * f->negatives + k) * 8);
        for (int t = 0; t < 8 && j < 0; t++) {
          int64_t c = (int64_t)rk_rng_below(&rng, (uint64_t)(n - 1));
          if (c >= i) c++;                                    /* any row but i */
          if (!same_item(f, batch, cols, i, c)) j = c;
        }
        f->src[r] = j < 0 ? -1 : i;   /* no other item found: this negative is padding */
        f->item_src[r] = j;
        real += j >= 0;
      }
    }
  }

  for (int i = 0; i < m->n_cat; i++) {
    const int64_t *src = f->item_feature[i] ? f->item_src : f->src;
    if (m->max_len[i]) RK_TRY(fill_list(m, i, cols[i], src, B));
    else RK_TRY(fill_ids(m, i, rk_graph_input_ids_data(g, m->cat_inputs[i]), cols[i], src, B));
  }
  if (m->indicator_input != RK_NO_VALUE) fill_indicators(m);
  if (m->n_cont) {
    float *dense = rk_graph_input_f32(g, m->dense_input);
    for (int i = 0; i < m->n_cont; i++)
      gather_f32(dense + i, m->n_cont, cols[m->n_cat + i], f->item_feature[m->n_cat + i] ? f->item_src : f->src, B);
  }
  f->rows = real;
  if (m->labels[0] == RK_NO_VALUE) return RK_OK;
  const rk_column *sw = layout_column(L, batch, entry_sample_weight(m));
  float scale = real > 0 ? (float)B / (float)real : 0.0f;
  for (int t = 0; t < m->n_tasks; t++) {
    const rk_column *target = layout_column(L, batch, entry_target(m, t));
    const rk_column *space = layout_column(L, batch, entry_target(m, t) + 1);
    const rk_column *tsw = layout_column(L, batch, entry_target(m, t) + 2);
    bool regression = m->task_regression[t];
    float lw = f->tw.loss_weight[t], pw = f->tw.positive_weight[t];
    float *y = rk_graph_input_f32(g, m->labels[t]), *w = rk_graph_input_f32(g, m->weights[t]);
    for (int64_t r = 0; r < B; r++) {
      if (r >= n) {   /* negatives (counted by tasks over every row) and padding */
        y[r] = 0.0f;
        w[r] = f->src[r] >= 0 && !space ? scale * lw : 0.0f;
        continue;
      }
      if (rk_column_is_null(target, r))
        return rk_error(RK_EFORMAT, "target '%s' is null in a row of the data; drop or fill such rows in preprocessing",
                        m->targets[t]);
      double v = rk_column_get_double(target, r);
      if (!regression && v != 0.0 && v != 1.0)
        return rk_error(RK_EFORMAT, "binary target '%s' holds %g; expected 0 or 1", m->targets[t], v);
      y[r] = (float)v;
      float wr = scale * lw * (v == 1.0 && !regression ? pw : 1.0f);
      if (space && rk_column_get_double(space, r) != 1.0) wr = 0.0f;
      if (sw) wr *= rk_column_is_null(sw, r) ? 0.0f : (float)rk_column_get_double(sw, r);
      if (tsw) wr *= rk_column_is_null(tsw, r) ? 0.0f : (float)rk_column_get_double(tsw, r);
      w[r] = wr;
    }
  }
  return RK_OK;
}
