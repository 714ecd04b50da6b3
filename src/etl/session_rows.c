/*
 * Session rows: sorted, deduplicated events grouped into one row per session, as NVTabular's
 * Groupby(session, sort by time, aggs list/count/first) -> ListSlice(-N, pad) -> Rename(postfix)
 * -> day_index -> Filter(count >= min) writes them, and the Merlin schema of that table.
 * Shared by the ETL's second pass and rk_session_transform, so both write the same bits.
 *
 * Columns, in order: <session>, <item>-list, <categorical>-list..., <time feature>-list...,
 * <continuous>_log_norm-list..., relative_price_to_avg_<category>-list (lists carry the suffix,
 * "_seq" by default), <item>-count (events after dedup, before slicing), <timestamp>-first (unix
 * seconds), <user>-first, <context>-first..., day_index.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "etl/session_internal.h"

static void list_name(const ss_plan *plan, const char *base, char *buf, size_t size) {
  snprintf(buf, size, "%s-list%s", base, plan->sw->list_suffix ? plan->sw->list_suffix : "");
}

static const rk_wf_column *wf_find(const rk_workflow *wf, const char *name) {
  for (int i = 0; i < wf->n_cols; i++)
    if (strcmp(wf->cols[i].name, name) == 0) return &wf->cols[i];
  return NULL;
}

static rk_status add_col(rk_batch *out, int *k, const char *name, rk_coltype type, rk_coltype elem) {
  return rk_column_init(&out->cols[(*k)++], name, type, elem);
}

rk_status ss_output_init(const ss_plan *plan, const rk_workflow *wf, rk_batch *out) {
  (void)wf;
  const rk_session_workflow *sw = plan->sw;
  int n_lists = 1 + sw->n_categorical + sw->n_time_features + sw->n_continuous + (sw->price ? 1 : 0);
  int n_first = 1 + (sw->user_id ? 1 : 0) + sw->n_context;
  RK_TRY(rk_batch_init(out, 1 + n_lists + 1 + n_first + 1));
  char name[600];
  int k = 0;
  RK_TRY(add_col(out, &k, sw->session_id, RK_COL_INT64, RK_COL_INT64));
  list_name(plan, sw->item_id, name, sizeof name);
  RK_TRY(add_col(out, &k, name, RK_COL_LIST, RK_COL_INT64));
  for (int i = 0; i < sw->n_categorical; i++) {
    list_name(plan, sw->categorical[i], name, sizeof name);
    RK_TRY(add_col(out, &k, name, RK_COL_LIST, RK_COL_INT64));
  }
  for (int i = 0; i < sw->n_time_features; i++) {
    list_name(plan, sw->time_features[i], name, sizeof name);
    RK_TRY(add_col(out, &k, name, RK_COL_LIST, RK_COL_FLOAT32));
  }
  for (int i = 0; i < sw->n_continuous; i++) {
    char base[560];
    snprintf(base, sizeof base, "%s_log_norm", sw->continuous[i]);
    list_name(plan, base, name, sizeof name);
    RK_TRY(add_col(out, &k, name, RK_COL_LIST, RK_COL_FLOAT32));
  }
  if (sw->price) {
    char base[560];
    snprintf(base, sizeof base, "relative_price_to_avg_%s", sw->price_category);
    list_name(plan, base, name, sizeof name);
    RK_TRY(add_col(out, &k, name, RK_COL_LIST, RK_COL_FLOAT32));
  }
  snprintf(name, sizeof name, "%s-count", sw->item_id);
  RK_TRY(add_col(out, &k, name, RK_COL_INT64, RK_COL_INT64));
  snprintf(name, sizeof name, "%s-first", sw->timestamp);
  RK_TRY(add_col(out, &k, name, RK_COL_INT64, RK_COL_INT64));
  if (sw->user_id) {
    snprintf(name, sizeof name, "%s-first", sw->user_id);
    RK_TRY(add_col(out, &k, name, RK_COL_INT64, RK_COL_INT64));
  }
  for (int i = 0; i < sw->n_context; i++) {
    snprintf(name, sizeof name, "%s-first", sw->context[i]);
    RK_TRY(add_col(out, &k, name, RK_COL_INT64, RK_COL_INT64));
  }
  return add_col(out, &k, "day_index", RK_COL_INT64, RK_COL_INT64);
}

static int64_t id_of(const ss_maps *maps, int k, int32_t idx) { return idx < 0 ? 1 : maps->remap[k][idx]; }

static int64_t floor_div(int64_t a, int64_t b) { return a / b - (a % b != 0 && (a < 0) != (b < 0)); }

/* One list row: the events [b, e) as values, then zeros up to `width`. */
typedef struct {
  const ss_plan *plan;
  const ss_maps *maps;
  char *data;
  int64_t b, e, width;
} span;

static void *rec_at(const span *s, int64_t i) { return s->data + (size_t)i * s->plan->size; }

static rk_status ids_list(rk_column *col, const span *s, int k) {
  for (int64_t i = s->b; i < s->e; i++)
    RK_TRY(rk_column_append_int(col->child, id_of(s->maps, k, ss_idx(s->plan, rec_at(s, i))[k])));
  for (int64_t i = s->e - s->b; i < s->width; i++) RK_TRY(rk_column_append_int(col->child, 0));
  return rk_column_finish_list_row(col);
}

typedef enum { F_WD_SIN, F_WD_COS, F_RECENCY, F_VALUE, F_RELATIVE_PRICE } feature;

static float feature_value(const span *s, void *rec, feature f, int val) {
  const ss_plan *plan = s->plan;
  const ss_maps *maps = s->maps;
  int64_t ts = ((ss_head *)rec)->ts_us;
  switch (f) {
    case F_WD_SIN: return ss_weekday_sin(ts);
    case F_WD_COS: return ss_weekday_cos(ts);
    case F_RECENCY: {
      int32_t item = ss_idx(plan, rec)[0];
      return rk_wf_normalize_value(maps->recency_norm, ss_recency_log(ts, item < 0 ? INT64_MIN : maps->first_seen_us[item]));
    }
    case F_VALUE: {
      double x = ss_value_log(ss_vals(plan, rec)[val]);
      return isnan(x) ? 0.0f : rk_wf_normalize_value(maps->value_norm[val], x);   /* missing: the mean */
    }
    case F_RELATIVE_PRICE: {
      int32_t cat = ss_idx(plan, rec)[plan->category_idx];
      double p = ss_vals(plan, rec)[plan->price_val], mean = cat < 0 ? NAN : maps->category_mean[cat];
      return isnan(p) || isnan(mean) || mean == 0 ? 0.0f : (float)((p - mean) / mean);
    }
  }
  return 0.0f;
}

static rk_status features_list(rk_column *col, const span *s, feature f, int val) {
  for (int64_t i = s->b; i < s->e; i++) RK_TRY(rk_column_append_double(col->child, feature_value(s, rec_at(s, i), f, val)));
  for (int64_t i = s->e - s->b; i < s->width; i++) RK_TRY(rk_column_append_double(col->child, 0.0));
  return rk_column_finish_list_row(col);
}

static rk_status emit_one(const ss_plan *plan, const ss_maps *maps, char *data, int64_t b, int64_t e, rk_batch *out,
                          int64_t *min_len, int64_t *max_len) {
  const rk_session_workflow *sw = plan->sw;
  int64_t count = e - b;
  int64_t start = count > sw->max_length ? e - sw->max_length : b;
  span s = {plan, maps, data, start, e, sw->pad ? sw->max_length : 0};
  int64_t len = sw->pad ? sw->max_length : e - start;
  if (len < *min_len) *min_len = len;
  if (len > *max_len) *max_len = len;
  const ss_head *first = (const ss_head *)(data + (size_t)b * plan->size);
  int k = 0;
  RK_TRY(rk_column_append_int(&out->cols[k++], first->session));
  for (int c = 0; c < 1 + sw->n_categorical; c++) RK_TRY(ids_list(&out->cols[k++], &s, c));
  for (int i = 0; i < sw->n_time_features; i++) {
    const char *f = sw->time_features[i];
    feature which = strcmp(f, "et_dayofweek_sin") == 0 ? F_WD_SIN : strcmp(f, "et_dayofweek_cos") == 0 ? F_WD_COS : F_RECENCY;
    RK_TRY(features_list(&out->cols[k++], &s, which, 0));
  }
  for (int v = 0; v < sw->n_continuous; v++) RK_TRY(features_list(&out->cols[k++], &s, F_VALUE, v));
  if (sw->price) RK_TRY(features_list(&out->cols[k++], &s, F_RELATIVE_PRICE, 0));
  RK_TRY(rk_column_append_int(&out->cols[k++], count));
  int64_t first_s = floor_div(first->ts_us, 1000000);
  RK_TRY(rk_column_append_int(&out->cols[k++], first_s));
  const int32_t *ix = ss_idx(plan, (void *)first);
  if (sw->user_id) RK_TRY(rk_column_append_int(&out->cols[k++], id_of(maps, plan->first_user, ix[plan->first_user])));
  for (int c = 0; c < sw->n_context; c++)
    RK_TRY(rk_column_append_int(&out->cols[k++], id_of(maps, plan->first_context + c, ix[plan->first_context + c])));
  RK_TRY(rk_column_append_int(&out->cols[k++], floor_div(first_s - sw->origin_s, sw->window_s) + 1));
  out->nrows++;
  return RK_OK;
}

rk_status ss_emit_sessions(const ss_plan *plan, const ss_maps *maps, void *data, int64_t n, rk_batch *out,
                           int64_t *min_len, int64_t *max_len, int64_t *dropped_short) {
  char *base = data;
  for (int64_t b = 0; b < n;) {
    int64_t session = ((ss_head *)(base + (size_t)b * plan->size))->session, e = b + 1;
    while (e < n && ((ss_head *)(base + (size_t)e * plan->size))->session == session) e++;
    if (e - b < plan->sw->min_length)
      (*dropped_short)++;
    else
      RK_TRY(emit_one(plan, maps, base, b, e, out, min_len, max_len));
    b = e;
  }
  return RK_OK;
}

/* ---- schema ---- */

static rk_status list_entry(const rk_wf_column *wc, const char *name, rk_schema *out, int64_t lo, int64_t hi,
                            const char *const *tags, int ntags, rk_coltype type) {
  rk_schema_column *sc;
  if (wc && wc->op == RK_WF_CATEGORIFY)
    RK_TRY(rk_wf_schema_column(wc, name, out, &sc));
  else
    RK_TRY(rk_schema_add_column(out, name, rk_coltype_name(type), &sc));
  for (int t = 0; t < ntags; t++) RK_TRY(rk_schema_column_add_tag(sc, tags[t]));
  return lo >= 0 ? rk_schema_column_set_value_count(sc, lo, hi) : RK_OK;
}

rk_status ss_schema(const ss_plan *plan, const rk_workflow *wf, int64_t min_len, int64_t max_len, rk_schema *out) {
  const rk_session_workflow *sw = plan->sw;
  if (min_len > max_len) min_len = max_len = 0;   /* no session written */
  static const char *const list_tag[] = {"list"}, *const cont_tags[] = {"continuous", "list"},
                           *const recency_tags[] = {"continuous", "list", "item"}, *const session_tags[] = {"session_id"},
                           *const time_tags[] = {"time"};
  rk_schema_init(out);
  rk_batch cols = {0};
  rk_status st = ss_output_init(plan, wf, &cols);
  int k = 0;
  if (st == RK_OK) st = list_entry(NULL, cols.cols[k++].name, out, -1, 0, session_tags, 1, RK_COL_INT64);
  for (int c = 0; c < 1 + sw->n_categorical && st == RK_OK; c++)
    st = list_entry(wf_find(wf, plan->idx_name[c]), cols.cols[k++].name, out, min_len, max_len, list_tag, 1, RK_COL_INT64);
  for (int i = 0; i < sw->n_time_features && st == RK_OK; i++) {
    bool recency = strcmp(sw->time_features[i], "product_recency_days_log_norm") == 0;
    st = list_entry(NULL, cols.cols[k++].name, out, min_len, max_len, recency ? recency_tags : cont_tags, recency ? 3 : 2,
                    RK_COL_FLOAT32);
  }
  for (int i = 0; i < sw->n_continuous + (sw->price ? 1 : 0) && st == RK_OK; i++)
    st = list_entry(NULL, cols.cols[k++].name, out, min_len, max_len, cont_tags, 2, RK_COL_FLOAT32);
  if (st == RK_OK) st = list_entry(NULL, cols.cols[k++].name, out, -1, 0, NULL, 0, RK_COL_INT64);   /* count */
  if (st == RK_OK) st = list_entry(NULL, cols.cols[k++].name, out, -1, 0, time_tags, 1, RK_COL_INT64);
  for (int c = plan->first_user >= 0 ? plan->first_user : plan->first_context; c < plan->n_idx && st == RK_OK; c++)
    st = list_entry(wf_find(wf, plan->idx_name[c]), cols.cols[k++].name, out, -1, 0, NULL, 0, RK_COL_INT64);
  if (st == RK_OK) st = list_entry(NULL, cols.cols[k++].name, out, -1, 0, NULL, 0, RK_COL_INT64);   /* day_index */
  rk_batch_free(&cols);
  if (st != RK_OK) rk_schema_free(out);
  return st;
}
