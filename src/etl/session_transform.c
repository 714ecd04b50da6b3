/*
 * rk_session_transform: a fitted session workflow applied to raw events, for `reckon transform`
 * and the server. The events of a request are read, sorted, deduplicated and grouped by the same
 * functions as the ETL's passes (session_events.c, session_rows.c); only the tables that turn a
 * value into an id, a first-seen time or a category mean come from the workflow instead of the
 * fit, looked up by raw value. So a session sent whole gives exactly the row the ETL wrote.
 * Events of one session with the same time keep their order in the request (the ETL: input
 * order), the one case where a reordered request can differ.
 */
#include <math.h>
#include <string.h>

#include "etl/session_internal.h"

static const rk_wf_column *wf_find(const rk_workflow *wf, const char *name, rk_wf_op op) {
  for (int i = 0; i < wf->n_cols; i++)
    if (wf->cols[i].op == op && strcmp(wf->cols[i].name, name) == 0) return &wf->cols[i];
  return NULL;
}

static bool compatible(rk_coltype key, rk_coltype have) {
  if (key == RK_COL_STRING) return have == RK_COL_STRING;
  if (key == RK_COL_FLOAT64) return rk_coltype_is_float(have);
  return rk_coltype_is_int(have);
}

/* Per local dictionary index: the index of the same value in `keys`, or -1. */
static rk_status lookup_values(const rk_dict *local, const rk_dict *keys, int32_t *out) {
  int64_t n = rk_dict_size(local);
  int64_t *order = rk_malloc((size_t)(n ? n : 1) * sizeof *order);
  if (!order) return RK_ENOMEM;
  for (int64_t i = 0; i < n; i++) order[i] = i;
  rk_column values = {0};
  rk_status st = rk_column_init(&values, "v", rk_dict_key_type(local), RK_COL_INT8);
  if (st == RK_OK) st = rk_dict_append_values(local, order, n, &values);
  if (st == RK_OK) rk_dict_lookup(keys, &values, 0, n, out);
  for (int64_t i = 0; st == RK_OK && i < n; i++)
    if (out[i] < 0) out[i] = -1;
  rk_column_free(&values);
  rk_free(order);
  return st;
}

typedef struct {
  ss_plan plan;
  rk_batch view;             /* the events, with categorical columns cast to their vocabulary's type */
  rk_column cast[SS_MAX_COLUMNS];
  rk_dict *dicts[SS_MAX_COLUMNS];
  int64_t *remap[SS_MAX_COLUMNS];
  int64_t *first_seen;
  double *category_mean;
  ss_records recs;
} tx_state;

static rk_status make_view(tx_state *t, const rk_workflow *wf, const rk_batch *events) {
  t->view = *events;
  t->view.cols = rk_malloc((size_t)(events->ncols ? events->ncols : 1) * sizeof *t->view.cols);
  if (!t->view.cols) return RK_ENOMEM;
  memcpy(t->view.cols, events->cols, (size_t)events->ncols * sizeof *t->view.cols);
  for (int k = 0; k < t->plan.n_idx; k++) {
    const rk_wf_column *wc = wf_find(wf, t->plan.idx_name[k], RK_WF_CATEGORIFY);
    int j = rk_batch_find(events, t->plan.idx_name[k]);
    if (!wc) return rk_error(RK_EFORMAT, "the session workflow lacks the vocabulary of '%s'", t->plan.idx_name[k]);
    if (j < 0 || compatible(rk_dict_key_type(wc->vocab), events->cols[j].type)) continue;
    /* A CSV may read ids of a string vocabulary as numbers, or the reverse: convert first. */
    RK_TRY(rk_etl_cast_take(&t->cast[k], &events->cols[j], rk_dict_key_type(wc->vocab), NULL, 0, "input",
                            RK_NON_FINITE_ERROR));
    rk_free(t->cast[k].name);
    t->cast[k].name = NULL;
    t->view.cols[j] = t->cast[k];
    t->view.cols[j].name = events->cols[j].name;
  }
  return RK_OK;
}

static rk_status build_maps(tx_state *t, const rk_workflow *wf, ss_maps *maps) {
  const rk_session_workflow *sw = wf->session;
  memset(maps, 0, sizeof *maps);
  for (int k = 0; k < t->plan.n_idx; k++) {
    if (!t->dicts[k]) RK_TRY(rk_dict_create(&t->dicts[k], RK_COL_INT64));
    int64_t n = rk_dict_size(t->dicts[k]);
    int32_t *at = rk_malloc((size_t)(n ? n : 1) * sizeof *at);
    if (!at || !(t->remap[k] = rk_malloc((size_t)(n ? n : 1) * sizeof *t->remap[k]))) {
      rk_free(at);
      return RK_ENOMEM;
    }
    rk_status st = lookup_values(t->dicts[k], wf_find(wf, t->plan.idx_name[k], RK_WF_CATEGORIFY)->vocab, at);
    for (int64_t i = 0; st == RK_OK && i < n; i++) t->remap[k][i] = at[i] >= 0 ? 3 + (int64_t)at[i] : 2;
    if (st == RK_OK && k == 0) {
      st = lookup_values(t->dicts[0], sw->first_seen_values, at);
      if (st == RK_OK && !(t->first_seen = rk_malloc((size_t)(n ? n : 1) * sizeof *t->first_seen))) st = RK_ENOMEM;
      for (int64_t i = 0; st == RK_OK && i < n; i++) t->first_seen[i] = at[i] >= 0 ? sw->first_seen_us[at[i]] : INT64_MIN;
    }
    if (st == RK_OK && k == t->plan.category_idx) {
      st = lookup_values(t->dicts[k], sw->category_values, at);
      if (st == RK_OK && !(t->category_mean = rk_malloc((size_t)(n ? n : 1) * sizeof *t->category_mean))) st = RK_ENOMEM;
      for (int64_t i = 0; st == RK_OK && i < n; i++) t->category_mean[i] = at[i] >= 0 ? sw->category_mean_price[at[i]] : NAN;
    }
    rk_free(at);
    RK_TRY(st);
    maps->remap[k] = t->remap[k];
  }
  maps->first_seen_us = t->first_seen;
  maps->category_mean = t->category_mean;
  if (t->plan.recency && !(maps->recency_norm = wf_find(wf, "product_recency_days_log_norm", RK_WF_NORMALIZE)))
    return rk_error(RK_EFORMAT, "the session workflow lacks the statistics of product_recency_days_log_norm");
  for (int v = 0; v < sw->n_continuous; v++) {
    char name[600];
    snprintf(name, sizeof name, "%s_log_norm", sw->continuous[v]);
    if (!(maps->value_norm[v] = wf_find(wf, name, RK_WF_NORMALIZE)))
      return rk_error(RK_EFORMAT, "the session workflow lacks the statistics of %s", name);
  }
  return RK_OK;
}

static void tx_free(tx_state *t) {
  rk_free(t->view.cols);
  for (int k = 0; k < SS_MAX_COLUMNS; k++) {
    rk_column_free(&t->cast[k]);
    rk_dict_free(t->dicts[k]);
    rk_free(t->remap[k]);
  }
  rk_free(t->first_seen);
  rk_free(t->category_mean);
  ss_records_free(&t->recs);
}

rk_status rk_session_transform(const rk_workflow *wf, const rk_batch *events, rk_batch *sessions) {
  rk_batch_free(sessions);
  if (!wf->session) return rk_error(RK_EINVAL, "not a session workflow: it was fitted by tabular preprocessing");
  tx_state t;
  memset(&t, 0, sizeof t);
  rk_status st = ss_plan_init(&t.plan, wf->session);
  if (st == RK_OK) st = make_view(&t, wf, events);
  if (st == RK_OK) st = ss_records_from_batch(&t.recs, &t.plan, &t.view, t.dicts, 0, "input");
  int64_t kept = 0, min_len = INT64_MAX, max_len = 0, dropped = 0;
  if (st == RK_OK) st = ss_sort_dedup(&t.plan, &t.recs.data, t.recs.n, &kept);
  t.recs.cap = kept;
  ss_maps maps;
  if (st == RK_OK) st = build_maps(&t, wf, &maps);
  if (st == RK_OK) st = ss_output_init(&t.plan, wf, sessions);
  if (st == RK_OK) st = ss_emit_sessions(&t.plan, &maps, t.recs.data, kept, sessions, &min_len, &max_len, &dropped);
  tx_free(&t);
  if (st != RK_OK) rk_batch_free(sessions);
  return st;
}

rk_status rk_session_schema(const rk_workflow *wf, const rk_batch *sessions, rk_schema *out) {
  if (!wf->session) return rk_error(RK_EINVAL, "not a session workflow: it was fitted by tabular preprocessing");
  ss_plan plan;
  RK_TRY(ss_plan_init(&plan, wf->session));
  int64_t lo = INT64_MAX, hi = 0;
  if (sessions->ncols > 1 && sessions->cols[1].type == RK_COL_LIST)   /* the item list: every list is as long */
    for (int64_t r = 0; r < sessions->nrows; r++) {
      int64_t len = sessions->cols[1].offsets[r + 1] - sessions->cols[1].offsets[r];
      if (len < lo) lo = len;
      if (len > hi) hi = len;
    }
  return ss_schema(&plan, wf, lo, hi, out);
}
