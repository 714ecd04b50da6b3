/*
 * The session family's feed (reckon/model.h's feed_*, reckon/sessions.h's phases): a batch of
 * sessions, one row each with list columns, into a graph's (B, T) inputs, keeping the time axis.
 * A session keeps its last T items (the ETL's slice), right-padded with the pad token; every
 * feature's list of a row must be as long as the item list. Session-aware, each feature's past
 * sessions' column fills the P positions before the session the same way (their last P items),
 * and training may replace ids (stochastic shared embeddings). The masking of each session is
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
  int64_t P, N;                /* past positions (session-aware, else 0), and N = P + T in the graph */
  int *past;                   /* per feature: the index of its past sessions' column, or -1 */
  int64_t *items;              /* (B, N) the item ids of the last fill, past first */
  int64_t *pool;               /* (B N) scratch: a column's ids in the batch (stochastic shared embeddings) */
  int64_t *lengths, *src;      /* (B) */
  int64_t *start;              /* (B) where each session's window starts in the item column */
  int64_t *past_start, *past_lengths;   /* (B) the same for the past sessions' item column */
  int64_t *reads, *targets;    /* (B, K) */
  int64_t *labels;             /* (B, N) */
  int64_t *row_mask, *row_keys, *row_labels;   /* (T) one session's masking */
} session_feed;

static session_feed *feed_of(rk_model_feed *f) { return (session_feed *)f; }
static const session_feed *const_feed_of(const rk_model_feed *f) { return (const session_feed *)f; }

void rk_session_feed_free(rk_model_feed *f) {
  session_feed *s = feed_of(f);
  if (!s) return;
  rk_free(s->past);
  rk_free(s->items);
  rk_free(s->pool);
  rk_free(s->lengths);
  rk_free(s->src);
  rk_free(s->start);
  rk_free(s->past_start);
  rk_free(s->past_lengths);
  rk_free(s->reads);
  rk_free(s->targets);
  rk_free(s->labels);
  rk_free(s->row_mask);
  rk_free(s->row_keys);
  rk_free(s->row_labels);
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
  s->T = c->session_seq_length_max;
  s->N = s->sm->sg.T;
  s->P = s->N - s->T;
  s->K = s->sm->sg.K;
  s->rule = (rk_session_mask_rule){.mlm = rk_session_config_mlm(c), .train_last_only = c->train_on_last_item_seq_only,
                                   .eval_last_only = c->eval_on_last_item_seq_only, .T = s->T, .K = s->K,
                                   .pad = c->pad_token, .mlm_probability = c->mlm_probability, .plm = c->plm,
                                   .plm_permute_all = c->plm_permute_all, .plm_mask_input = c->plm_mask_input,
                                   .plm_max_span_length = c->plm_max_span_length, .plm_probability = c->plm_probability};
  const rk_session_features *fs = &s->sm->features;
  size_t bn = (size_t)(s->B * s->N), bk = (size_t)(s->B * s->K), B = (size_t)s->B, T = (size_t)s->T;
  s->past = rk_calloc((size_t)fs->n + 1, sizeof *s->past);
  s->items = rk_calloc(bn, sizeof *s->items);
  s->pool = rk_calloc(bn, sizeof *s->pool);
  s->labels = rk_calloc(bn, sizeof *s->labels);
  s->lengths = rk_calloc(B, sizeof *s->lengths);
  s->src = rk_calloc(B, sizeof *s->src);
  s->start = rk_calloc(B, sizeof *s->start);
  s->past_start = rk_calloc(B, sizeof *s->past_start);
  s->past_lengths = rk_calloc(B, sizeof *s->past_lengths);
  s->reads = rk_calloc(bk, sizeof *s->reads);
  s->targets = rk_calloc(bk, sizeof *s->targets);
  s->row_mask = rk_calloc(T, sizeof *s->row_mask);
  s->row_keys = rk_calloc(T, sizeof *s->row_keys);
  s->row_labels = rk_calloc(T, sizeof *s->row_labels);
  if (!s->past || !s->items || !s->pool || !s->labels || !s->lengths || !s->src || !s->start || !s->past_start ||
      !s->past_lengths || !s->reads || !s->targets || !s->row_mask || !s->row_keys || !s->row_labels) {
    rk_session_feed_free((rk_model_feed *)s);
    return RK_ENOMEM;
  }
  for (int64_t b = 0; b < s->B; b++) s->src[b] = -1;
  for (int i = 0; i < fs->n; i++) s->past[i] = -1;
  for (int i = 0; s->P > 0 && i < fs->n; i++)
    if (fs->features[i].is_past) s->past[fs->features[i].past_of] = i;
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

/* One part of the time axis of every session: the values of a list column at positions
 * [offset, offset + n[r]) of row r, read from start[r] in the column `ref` (the item column of
 * that part) on; `col` must be as long as `ref` in every row. */
typedef struct {
  const rk_column *ref;
  const int64_t *start, *n;
  int64_t offset;
} span;

static rk_status check_length(const rk_session_feature *ft, const rk_column *col, const span *sp, int64_t r) {
  if (list_length(col, r) == list_length(sp->ref, r)) return RK_OK;
  return rk_error(RK_EUSAGE, "column '%s' row %lld has %lld values where the item column has %lld: a session's lists "
                  "must be as long as its items", ft->name, (long long)r, (long long)list_length(col, r),
                  (long long)list_length(sp->ref, r));
}

/* Feature ft's ids into ids (B, N); checked against the table they look up (cardinality). */
static rk_status gather_ids(const session_feed *s, const rk_session_feature *ft, int64_t cardinality,
                            const rk_column *col, const span *sp, int64_t *ids) {
  for (int64_t r = 0; r < sp->ref->length; r++) {
    RK_TRY(check_length(ft, col, sp, r));
    int64_t from = col->offsets[r] + (sp->start[r] - sp->ref->offsets[r]);
    for (int64_t t = 0; t < sp->n[r]; t++) {
      int64_t v = rk_column_get_int(col->child, from + t);
      if (v < 0 || v >= cardinality)
        return rk_error(RK_ERANGE, "column '%s' row %lld holds id %lld, outside its table's [0, %lld) (the "
                        "cardinality of the feature config or the schema's int_domain)", ft->name, (long long)r,
                        (long long)v, (long long)cardinality);
      ids[r * s->N + sp->offset + t] = v;
    }
  }
  return RK_OK;
}

static rk_status gather_values(const session_feed *s, const rk_session_feature *ft, const rk_column *col,
                               const span *sp, float *x) {
  for (int64_t r = 0; r < sp->ref->length; r++) {
    RK_TRY(check_length(ft, col, sp, r));
    int64_t from = col->offsets[r] + (sp->start[r] - sp->ref->offsets[r]);
    for (int64_t t = 0; t < sp->n[r]; t++) x[r * s->N + sp->offset + t] = (float)rk_column_get_double(col->child, from + t);
  }
  return RK_OK;
}

/* Feature i (and its past sessions' column) into its graph input: right-padded, past first. */
static rk_status gather_feature(session_feed *s, const rk_batch *batch, int i, const span *now, const span *past) {
  const rk_session_features *fs = &s->sm->features;
  const rk_session_feature *ft = &fs->features[i];
  const rk_session_graph *sg = &s->sm->sg;
  const rk_column *col;
  RK_TRY(find_list(batch, ft, &col));
  const rk_column *past_col = NULL;
  if (s->past[i] >= 0) RK_TRY(find_list(batch, &fs->features[s->past[i]], &past_col));
  const size_t bn = (size_t)(s->B * s->N);
  if (!ft->categorical) {
    float *x = rk_graph_input_f32(sg->g, sg->inputs[i]);
    memset(x, 0, bn * sizeof *x);
    RK_TRY(gather_values(s, ft, col, now, x));
    return past_col ? gather_values(s, &fs->features[s->past[i]], past_col, past, x) : RK_OK;
  }
  int64_t *ids = rk_graph_input_ids_data(sg->g, sg->inputs[i]);
  for (size_t k = 0; k < bn; k++) ids[k] = s->rule.pad;
  RK_TRY(gather_ids(s, ft, ft->cardinality, col, now, ids));
  if (past_col) RK_TRY(gather_ids(s, &fs->features[s->past[i]], ft->cardinality, past_col, past, ids));
  if (i == fs->item) memcpy(s->items, ids, bn * sizeof *ids);
  return RK_OK;
}

/* Stochastic shared embeddings (recsys_meta_model's, training only): each non-padding id of a
 * categorical input is replaced with probability p by an id drawn from the non-padding ids of
 * the same column in the batch (the reference draws them without replacement, reckon with).
 * The draws of session b come from (seed, step, b, feature), position by position. The
 * targets keep the true items: only the inputs change. */
static void replace_ids(session_feed *s, int64_t rows, uint64_t step) {
  const rk_session_features *fs = &s->sm->features;
  const rk_session_graph *sg = &s->sm->sg;
  const double p = s->sm->cfg.stochastic_shared_embeddings_replacement_prob;
  const int64_t pad = s->rule.pad;
  for (int i = 0; i < fs->n; i++) {
    if (!fs->features[i].categorical || fs->features[i].is_past) continue;
    int64_t *ids = rk_graph_input_ids_data(sg->g, sg->inputs[i]), n = 0;
    for (int64_t k = 0; k < rows * s->N; k++)
      if (ids[k] != pad) s->pool[n++] = ids[k];
    for (int64_t b = 0; n > 0 && b < rows; b++) {
      rk_rng rng;
      rk_rng_init(&rng, s->seed ^ UINT64_C(0x7373652d69647321), (step << 32) ^ ((uint64_t)b << 12) ^ (uint64_t)i);
      for (int64_t t = 0; t < s->N; t++) {
        int64_t *id = &ids[b * s->N + t];
        bool replace = rk_rng_bernoulli(&rng, p);
        if (replace && *id != pad) *id = s->pool[rk_rng_below(&rng, (uint64_t)n)];
      }
    }
  }
}

/* Session b's masking (over its own T rows) into the graph's N rows: past rows hold no [MASK]
 * and no label, and are keys where they hold an item. */
/* hidden: the permutation LM's (B, T, T) visibility (no past rows then: the settings refuse
 * session-aware inputs with it), else NULL. */
static void mask_session(session_feed *s, int64_t b, uint64_t step, bool draws, int64_t *mask, int64_t *keys,
                         int64_t *hidden) {
  const int64_t T = s->T, P = s->P, N = s->N, K = s->K;
  rk_rng rng;
  if (draws) rk_session_mask_rng(&rng, s->seed, step, b);
  if (s->rule.plm)
    rk_session_plm_mask(&s->rule, s->phase, s->items + b * N + P, s->lengths[b], draws ? &rng : NULL, s->row_mask,
                        s->row_keys, s->row_labels, s->reads + b * K, s->targets + b * K, hidden + b * T * T);
  else
    rk_session_mask(&s->rule, s->phase, s->items + b * N + P, s->lengths[b], draws ? &rng : NULL, s->row_mask,
                    s->row_keys, s->row_labels, s->reads + b * K, s->targets + b * K);
  for (int64_t t = 0; t < P; t++) {
    mask[b * N + t] = 0;
    keys[b * N + t] = s->items[b * N + t] != s->rule.pad;
    s->labels[b * N + t] = s->rule.pad;
  }
  memcpy(mask + b * N + P, s->row_mask, (size_t)T * sizeof *mask);
  memcpy(keys + b * N + P, s->row_keys, (size_t)T * sizeof *keys);
  memcpy(s->labels + b * N + P, s->row_labels, (size_t)T * sizeof *s->labels);
  for (int64_t k = 0; k < K; k++)
    if (s->reads[b * K + k] >= 0) s->reads[b * K + k] += P;
}

rk_status rk_session_feed_fill(rk_model_feed *f, const rk_batch *batch, uint64_t step) {
  session_feed *s = feed_of(f);
  const rk_session_model *sm = s->sm;
  const rk_session_features *fs = &sm->features;
  const rk_session_graph *sg = &sm->sg;
  const int64_t B = s->B, N = s->N, K = s->K;
  if (batch->nrows > B)
    return rk_error(RK_EINVAL, "a batch of %lld sessions does not fit a graph of %lld", (long long)batch->nrows,
                    (long long)B);
  const rk_column *items_col, *past_items_col = NULL;
  RK_TRY(find_list(batch, &fs->features[fs->item], &items_col));
  /* A masked LM prediction needs a free row after the items: it keeps T - 1 of them. */
  int64_t keep = (s->rule.mlm || s->rule.plm) && s->phase == RK_SESSION_PHASE_PREDICT ? s->T - 1 : s->T;
  window(batch, items_col, keep, s->start, s->lengths);
  for (int64_t r = batch->nrows; r < B; r++) s->lengths[r] = 0;
  span now = {.ref = items_col, .start = s->start, .n = s->lengths, .offset = s->P}, past = {0};
  if (s->past[fs->item] >= 0) {
    RK_TRY(find_list(batch, &fs->features[s->past[fs->item]], &past_items_col));
    window(batch, past_items_col, s->P, s->past_start, s->past_lengths);   /* the most recent P */
    past = (span){.ref = past_items_col, .start = s->past_start, .n = s->past_lengths, .offset = 0};
  }
  for (int i = 0; i < fs->n; i++)
    if (!fs->features[i].is_past) RK_TRY(gather_feature(s, batch, i, &now, &past));
  int64_t *mask = rk_graph_input_ids_data(sg->g, sg->mask_rows), *keys = rk_graph_input_ids_data(sg->g, sg->keys);
  bool draws = (s->rule.mlm || s->rule.plm) && s->phase == RK_SESSION_PHASE_TRAIN;
  int64_t *hidden = sg->hidden != RK_NO_VALUE ? rk_graph_input_ids_data(sg->g, sg->hidden) : NULL;   /* (B, T, T) */
  for (int64_t b = 0; b < B; b++) mask_session(s, b, step, draws, mask, keys, hidden);
  memcpy(rk_graph_input_ids_data(sg->g, sg->reads), s->reads, (size_t)(B * K) * sizeof *s->reads);
  if (sg->labels != RK_NO_VALUE)
    memcpy(rk_graph_input_ids_data(sg->g, sg->labels), s->labels, (size_t)(B * N) * sizeof *s->labels);
  RK_TRY(rk_session_graph_pack(sg, s->rule.pad));   /* the real rows, reads and labels, packed */
  if (s->phase == RK_SESSION_PHASE_TRAIN && sm->cfg.stochastic_shared_embeddings_replacement_prob > 0)
    replace_ids(s, batch->nrows, step);
  for (int64_t b = 0; b < B; b++) s->src[b] = b < batch->nrows ? b : -1;
  return RK_OK;
}
