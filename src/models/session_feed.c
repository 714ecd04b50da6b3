/*
 * The session family's feed (reckon/model.h's feed_*, reckon/sessions.h's phases): a batch of
 * sessions, one row each with list columns, into a graph's (B, T) inputs, keeping the time axis.
 * A session keeps its last T items (the ETL's slice), right-padded with the pad token; every
 * feature's list of a row must be as long as the item list. The masking of each session is
 * session_masking.c's, its draws keyed by (seed, step, session). Errors name the column, the row
 * of the batch and what was expected. Not the loader (src/data/), nor the masking rules.
 */
#include <string.h>

#include "session_internal.h"

typedef struct {
  const rk_model *model;
  const rk_session_model *sm;
  rk_session_phase phase;
  uint64_t seed;
  rk_task_weights tw;
  rk_session_mask_rule rule;
  int64_t B, T, K;
  int64_t *items;              /* (B, T) the item ids of the last fill */
  int64_t *ids;                /* (B, T) scratch: another feature's ids */
  int64_t *lengths, *src;      /* (B) */
  int64_t *start;              /* (B) where each session's window starts in the item column */
  int64_t *reads, *targets;    /* (B, K) */
  int64_t *labels;             /* (B, T) */
} session_feed;

static session_feed *feed_of(rk_model_feed *f) { return (session_feed *)f; }
static const session_feed *const_feed_of(const rk_model_feed *f) { return (const session_feed *)f; }

void rk_session_feed_free(rk_model_feed *f) {
  session_feed *s = feed_of(f);
  if (!s) return;
  rk_free(s->items);
  rk_free(s->ids);
  rk_free(s->lengths);
  rk_free(s->src);
  rk_free(s->start);
  rk_free(s->reads);
  rk_free(s->targets);
  rk_free(s->labels);
  rk_free(s);
}

rk_status rk_session_feed_init(rk_model_feed **out, const rk_model *m, const rk_schema *schema, int64_t negatives,
                               const rk_task_weights *tw, uint64_t seed) {
  (void)schema;   /* the model knows its columns */
  *out = NULL;
  if (negatives != 0)
    return rk_error(RK_EUSAGE, "session models score the whole catalogue: in-batch negatives (%lld) do not apply",
                    (long long)negatives);
  session_feed *s = rk_calloc(1, sizeof *s);
  if (!s) return RK_ENOMEM;
  s->model = m;
  s->sm = rk_session_of(m);
  const rk_session_config *c = &s->sm->cfg;
  s->phase = s->sm->sg.labels != RK_NO_VALUE ? RK_SESSION_PHASE_TRAIN : RK_SESSION_PHASE_EVAL;
  s->seed = seed;
  if (tw) s->tw = *tw;
  else rk_task_weights_default(&s->tw);
  s->B = s->sm->sg.B;
  s->T = s->sm->sg.T;
  s->K = s->sm->sg.K;
  s->rule = (rk_session_mask_rule){.mlm = rk_session_config_mlm(c), .train_last_only = c->train_on_last_item_seq_only,
                                   .eval_last_only = c->eval_on_last_item_seq_only, .T = s->T, .K = s->K,
                                   .pad = c->pad_token, .mlm_probability = c->mlm_probability, .plm = c->plm,
                                   .plm_permute_all = c->plm_permute_all, .plm_mask_input = c->plm_mask_input,
                                   .plm_max_span_length = c->plm_max_span_length, .plm_probability = c->plm_probability};
  size_t bt = (size_t)(s->B * s->T), bk = (size_t)(s->B * s->K);
  s->items = rk_calloc(bt, sizeof *s->items);
  s->ids = rk_calloc(bt, sizeof *s->ids);
  s->labels = rk_calloc(bt, sizeof *s->labels);
  s->lengths = rk_calloc((size_t)s->B, sizeof *s->lengths);
  s->src = rk_calloc((size_t)s->B, sizeof *s->src);
  s->start = rk_calloc((size_t)s->B, sizeof *s->start);
  s->reads = rk_calloc(bk, sizeof *s->reads);
  s->targets = rk_calloc(bk, sizeof *s->targets);
  if (!s->items || !s->ids || !s->labels || !s->lengths || !s->src || !s->start || !s->reads || !s->targets) {
    rk_session_feed_free((rk_model_feed *)s);
    return RK_ENOMEM;
  }
  for (int64_t b = 0; b < s->B; b++) s->src[b] = -1;
  *out = (rk_model_feed *)s;
  return RK_OK;
}

rk_status rk_session_feed_set_phase(rk_model_feed *f, rk_session_phase phase) {
  if (phase < RK_SESSION_PHASE_TRAIN || phase > RK_SESSION_PHASE_PREDICT)
    return rk_error(RK_EINVAL, "unknown session phase %d", (int)phase);
  feed_of(f)->phase = phase;
  return RK_OK;
}

int rk_session_feed_max_columns(const rk_model *m) { return rk_session_of(m)->features.n; }

int rk_session_feed_columns(const rk_model_feed *f, bool with_targets, const char **names) {
  (void)with_targets;   /* the target is the item column, which is an input */
  const rk_session_features *ft = &const_feed_of(f)->sm->features;
  for (int i = 0; i < ft->n; i++) names[i] = ft->features[i].name;
  return ft->n;
}

int64_t rk_session_feed_batch_rows(const rk_model_feed *f) { return const_feed_of(f)->B; }
const int64_t *rk_session_feed_sources(const rk_model_feed *f) { return const_feed_of(f)->src; }
const rk_task_weights *rk_session_feed_weights(const rk_model_feed *f) { return &const_feed_of(f)->tw; }
const int64_t *rk_session_feed_targets(const rk_model_feed *f) { return const_feed_of(f)->targets; }
const int64_t *rk_session_feed_read_rows(const rk_model_feed *f) { return const_feed_of(f)->reads; }
const int64_t *rk_session_feed_lengths(const rk_model_feed *f) { return const_feed_of(f)->lengths; }
const int64_t *rk_session_feed_items(const rk_model_feed *f) { return const_feed_of(f)->items; }

/* The batch's list column of feature i, checked. */
static rk_status find_list(const rk_batch *batch, const rk_session_feature *ft, const rk_column **out) {
  int k = rk_batch_find(batch, ft->name);
  if (k < 0) return rk_error(RK_ENOTFOUND, "the batch has no column '%s', a feature of the session model", ft->name);
  const rk_column *col = &batch->cols[k];
  bool numeric = col->type == RK_COL_LIST && col->child &&
                 (rk_coltype_is_int(col->child->type) || rk_coltype_is_float(col->child->type));
  if (!numeric || (ft->categorical && !rk_coltype_is_int(col->child->type)))
    return rk_error(RK_EUSAGE, "column '%s' is %s; a session feature is a list of %s", ft->name,
                    col->type == RK_COL_LIST && col->child ? "a list of another type" : rk_coltype_name(col->type),
                    ft->categorical ? "integer ids" : "numbers");
  *out = col;
  return RK_OK;
}

static int64_t list_length(const rk_column *col, int64_t row) {
  return rk_column_is_null(col, row) ? 0 : col->offsets[row + 1] - col->offsets[row];
}

/* Each session's window: its last `keep` items (start: the first list index kept). */
static void window(const rk_batch *batch, const rk_column *items_col, int64_t keep, int64_t *start, int64_t *n) {
  for (int64_t r = 0; r < batch->nrows; r++) {
    int64_t len = list_length(items_col, r);
    n[r] = len < keep ? len : keep;
    start[r] = items_col->offsets[r] + (len - n[r]);
  }
}

/* Feature ft's ids into ids (B, T), right-padded; checked against its table. */
static rk_status gather_ids(session_feed *s, const rk_session_feature *ft, const rk_column *col,
                            const rk_column *items_col, const int64_t *start, int64_t *ids) {
  const int64_t T = s->T, pad = s->rule.pad;
  for (int64_t i = 0; i < s->B * T; i++) ids[i] = pad;
  for (int64_t r = 0; r < items_col->length; r++) {
    if (list_length(col, r) != list_length(items_col, r))
      return rk_error(RK_EUSAGE, "column '%s' row %lld has %lld values where the item column has %lld: a session's "
                      "lists must be as long as its items", ft->name, (long long)r, (long long)list_length(col, r),
                      (long long)list_length(items_col, r));
    int64_t from = col->offsets[r] + (start[r] - items_col->offsets[r]);
    for (int64_t t = 0; t < s->lengths[r]; t++) {
      int64_t v = rk_column_get_int(col->child, from + t);
      if (v < 0 || v >= ft->cardinality)
        return rk_error(RK_ERANGE, "column '%s' row %lld holds id %lld, outside its table's [0, %lld) (the "
                        "cardinality of the feature config or the schema's int_domain)", ft->name, (long long)r,
                        (long long)v, (long long)ft->cardinality);
      ids[r * T + t] = v;
    }
  }
  return RK_OK;
}

static rk_status gather_values(session_feed *s, const rk_session_feature *ft, const rk_column *col,
                               const rk_column *items_col, const int64_t *start, float *x) {
  const int64_t T = s->T;
  memset(x, 0, (size_t)(s->B * T) * sizeof *x);
  for (int64_t r = 0; r < items_col->length; r++) {
    if (list_length(col, r) != list_length(items_col, r))
      return rk_error(RK_EUSAGE, "column '%s' row %lld has %lld values where the item column has %lld: a session's "
                      "lists must be as long as its items", ft->name, (long long)r, (long long)list_length(col, r),
                      (long long)list_length(items_col, r));
    int64_t from = col->offsets[r] + (start[r] - items_col->offsets[r]);
    for (int64_t t = 0; t < s->lengths[r]; t++) x[r * T + t] = (float)rk_column_get_double(col->child, from + t);
  }
  return RK_OK;
}

rk_status rk_session_feed_fill(rk_model_feed *f, const rk_batch *batch, uint64_t step) {
  session_feed *s = feed_of(f);
  const rk_session_model *sm = s->sm;
  const rk_session_features *fs = &sm->features;
  const rk_session_graph *sg = &sm->sg;
  const int64_t B = s->B, T = s->T, K = s->K;
  if (batch->nrows > B)
    return rk_error(RK_EINVAL, "a batch of %lld sessions does not fit a graph of %lld", (long long)batch->nrows,
                    (long long)B);
  const rk_column *items_col;
  RK_TRY(find_list(batch, &fs->features[fs->item], &items_col));
  /* A masked LM prediction needs a free row after the items: it keeps T - 1 of them. */
  int64_t keep = (s->rule.mlm || s->rule.plm) && s->phase == RK_SESSION_PHASE_PREDICT ? T - 1 : T;
  int64_t *start = s->start;
  window(batch, items_col, keep, start, s->lengths);
  for (int64_t r = batch->nrows; r < B; r++) s->lengths[r] = 0;
  for (int i = 0; i < fs->n; i++) {
    const rk_session_feature *ft = &fs->features[i];
    const rk_column *col;
    RK_TRY(find_list(batch, ft, &col));
    if (ft->categorical) {
      int64_t *ids = i == fs->item ? s->items : s->ids;
      RK_TRY(gather_ids(s, ft, col, items_col, start, ids));
      if (ids != s->items) memcpy(rk_graph_input_ids_data(sg->g, sg->inputs[i]), ids, (size_t)(B * T) * sizeof *ids);
    } else {
      RK_TRY(gather_values(s, ft, col, items_col, start, rk_graph_input_f32(sg->g, sg->inputs[i])));
    }
  }
  memcpy(rk_graph_input_ids_data(sg->g, sg->inputs[fs->item]), s->items, (size_t)(B * T) * sizeof *s->items);
  int64_t *mask = rk_graph_input_ids_data(sg->g, sg->mask_rows), *keys = rk_graph_input_ids_data(sg->g, sg->keys);
  int64_t *reads = rk_graph_input_ids_data(sg->g, sg->reads);
  bool draws = (s->rule.mlm || s->rule.plm) && s->phase == RK_SESSION_PHASE_TRAIN;
  int64_t *hidden = sg->hidden != RK_NO_VALUE ? rk_graph_input_ids_data(sg->g, sg->hidden) : NULL;   /* (B, T, T) */
  for (int64_t b = 0; b < B; b++) {
    rk_rng rng;
    if (draws) rk_session_mask_rng(&rng, s->seed, step, b);
    if (s->rule.plm)
      rk_session_plm_mask(&s->rule, s->phase, s->items + b * T, s->lengths[b], draws ? &rng : NULL, mask + b * T,
                          keys + b * T, s->labels + b * T, s->reads + b * K, s->targets + b * K, hidden + b * T * T);
    else
      rk_session_mask(&s->rule, s->phase, s->items + b * T, s->lengths[b], draws ? &rng : NULL, mask + b * T,
                      keys + b * T, s->labels + b * T, s->reads + b * K, s->targets + b * K);
  }
  memcpy(reads, s->reads, (size_t)(B * K) * sizeof *reads);
  if (sg->labels != RK_NO_VALUE) {
    memcpy(rk_graph_input_ids_data(sg->g, sg->labels), s->labels, (size_t)(B * T) * sizeof *s->labels);
    rk_session_graph_pack_labels(sg, s->rule.pad);
  }
  for (int64_t b = 0; b < B; b++) s->src[b] = b < batch->nrows ? b : -1;
  return RK_OK;
}
