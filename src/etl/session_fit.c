/*
 * Pass 2a of the session ETL and the fit (session_etl.c drives them): each spill partition, in
 * parallel, is sorted by (session, time, input row) and freed of consecutive repeats; its values
 * are counted (per worker: integer sums do not depend on the order), and the se_moments of the
 * z-scores and the category price sums are kept per partition and combined in partition order
 * (Chan's formula), so no figure depends on the thread count. Then the vocabularies (the tabular
 * categorify rule), the statistics, the first-seen times and the category means go into the
 * workflow.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etl/session_internal.h"

static void moments_add(se_moments *m, double x) {
  m->n++;
  double d = x - m->mean;
  m->mean += d / (double)m->n;
  m->m2 += d * (x - m->mean);
}

static void moments_merge(se_moments *a, const se_moments *b) {
  if (b->n == 0) return;
  int64_t n = a->n + b->n;
  double d = b->mean - a->mean;
  a->mean += d * (double)b->n / (double)n;
  a->m2 += b->m2 + d * d * (double)a->n * (double)b->n / (double)n;
  a->n = n;
}

static int by_int32(const void *a, const void *b) {
  int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
  return (x > y) - (x < y);
}

/* The partition's (category, sum, count) entries: events summed in partition order (fixed by the
 * sort), so the figures do not depend on which worker ran it. */
static rk_status price_sums(se_state *s, se_price_scratch *w, se_part *r, void *data, int64_t n) {
  const ss_plan *plan = &s->plan;
  int64_t m = 0;
  for (int64_t i = 0; i < n; i++) {
    void *rec = ss_head_at(plan, data, i);
    double p = ss_vals(plan, rec)[plan->price_val];
    int32_t c = ss_idx(plan, rec)[plan->category_idx];
    if (isnan(p) || c < 0) continue;
    if (w->cnt[c]++ == 0) w->touched[m++] = c;
    w->sum[c] += p;
  }
  qsort(w->touched, (size_t)m, sizeof *w->touched, by_int32);
  size_t keep = (size_t)(m ? m : 1);
  r->price_cat = rk_malloc(keep * sizeof *r->price_cat);
  r->price_sum = rk_malloc(keep * sizeof *r->price_sum);
  r->price_cnt = rk_malloc(keep * sizeof *r->price_cnt);
  rk_status st = r->price_cat && r->price_sum && r->price_cnt ? RK_OK : RK_ENOMEM;
  for (int64_t k = 0; k < m; k++) {
    int32_t c = w->touched[k];
    if (st == RK_OK) {
      r->price_cat[k] = c;
      r->price_sum[k] = w->sum[c];
      r->price_cnt[k] = w->cnt[c];
    }
    w->sum[c] = 0;
    w->cnt[c] = 0;
  }
  if (st == RK_OK) r->n_price = m;
  return st;
}

static rk_status group_partition(void *ctx, int worker, int64_t item) {
  se_state *s = ctx;
  const ss_plan *plan = &s->plan;
  se_part *r = &s->parts[item];
  void *data;
  int64_t n, kept;
  RK_TRY(se_read_spill(s->spill[item], plan->size, &data, &n));
  rk_status st = ss_sort_dedup(plan, &data, n, &kept);
  r->events_in = n;
  r->events_kept = kept;
  for (int64_t i = 0; i < kept && st == RK_OK; i++) {
    void *rec = ss_head_at(plan, data, i);
    const int32_t *ix = ss_idx(plan, rec);
    for (int k = 0; k < plan->n_idx; k++) {
      if (ix[k] >= 0) s->counts[worker * plan->n_idx + k][ix[k]]++;
      else s->nulls[worker * plan->n_idx + k]++;
    }
    if (plan->recency) {
      int64_t first = ix[0] >= 0 ? s->first_seen[ix[0]] : INT64_MIN;
      moments_add(&r->recency, ss_recency_log(((ss_head *)rec)->ts_us, first));
    }
    const double *v = ss_vals(plan, rec);
    for (int k = 0; k < s->sw->n_continuous; k++) {
      double x = ss_value_log(v[k]);
      if (!isnan(x)) moments_add(&r->value[k], x);
    }
  }
  if (st == RK_OK && plan->price_val >= 0) st = price_sums(s, &s->price[worker], r, data, kept);
  if (st == RK_OK) {
    FILE *f = fopen(s->spill[item], "wb");
    bool ok = f && fwrite(data, plan->size, (size_t)kept, f) == (size_t)kept;
    if (f && fclose(f) != 0) ok = false;
    if (!ok) st = rk_error(RK_EIO, "cannot write the spill file '%s'", s->spill[item]);
  }
  rk_free(data);
  return st;
}

rk_status se_pass2a(se_state *s) {
  double t0 = rk_now();
  const ss_plan *plan = &s->plan;
  s->parts = rk_calloc((size_t)s->n_parts, sizeof *s->parts);
  s->n_workers = rk_parallel_workers(s->n_parts);
  size_t slots = (size_t)s->n_workers * (size_t)plan->n_idx;
  s->counts = rk_calloc(slots + 1, sizeof *s->counts);
  s->nulls = rk_calloc(slots + 1, sizeof *s->nulls);
  if (!s->parts || !s->counts || !s->nulls) return RK_ENOMEM;
  for (size_t i = 0; i < slots; i++) {
    int k = (int)(i % (size_t)plan->n_idx);
    if (!(s->counts[i] = rk_calloc((size_t)rk_dict_size(s->dicts[k]) + 1, sizeof **s->counts))) return RK_ENOMEM;
  }
  if (s->first_seen_cap < rk_dict_size(s->dicts[0]) + 1) {
    int64_t cap = rk_dict_size(s->dicts[0]) + 1;
    int64_t *g = rk_realloc(s->first_seen, (size_t)cap * sizeof *g);
    if (!g) return RK_ENOMEM;
    for (int64_t i = s->first_seen_cap; i < cap; i++) g[i] = INT64_MAX;
    s->first_seen = g;
    s->first_seen_cap = cap;
  }
  for (int64_t i = 0; i < s->first_seen_cap; i++)
    if (s->first_seen[i] == INT64_MAX) s->first_seen[i] = INT64_MIN;   /* only in null sessions */
  if (plan->price_val >= 0) {
    size_t n_cat = (size_t)rk_dict_size(s->dicts[plan->category_idx]) + 1;
    if (!(s->price = rk_calloc((size_t)s->n_workers, sizeof *s->price))) return RK_ENOMEM;
    for (int w = 0; w < s->n_workers; w++) {
      s->price[w].sum = rk_calloc(n_cat, sizeof *s->price[w].sum);
      s->price[w].cnt = rk_calloc(n_cat, sizeof *s->price[w].cnt);
      s->price[w].touched = rk_malloc(n_cat * sizeof *s->price[w].touched);
      if (!s->price[w].sum || !s->price[w].cnt || !s->price[w].touched) return RK_ENOMEM;
    }
  }
  RK_TRY(rk_parallel_items(s->n_parts, s->n_workers, group_partition, s));
  se_timing(s, "sort_dedup_statistics", t0);
  return RK_OK;
}

/* ---- fit ---- */

static void finish_moments(rk_wf_column *w, const se_moments *m) {
  w->mean = m->n ? m->mean : 0.0;
  w->std = m->n > 1 ? sqrt(m->m2 / (double)(m->n - 1)) : 0.0;   /* sample standard deviation, as the tabular fit */
}

rk_status se_fit(se_state *s) {
  const ss_plan *plan = &s->plan;
  rk_session_workflow *sw = s->sw;
  json_t *cols = json_object();
  if (!cols) return RK_ENOMEM;
  json_object_set_new(s->report, "columns", cols);
  for (int k = 0; k < plan->n_idx; k++) {
    int64_t size = rk_dict_size(s->dicts[k]), nulls = 0, nv, rare;
    int64_t *total = s->counts[k];   /* worker 0's slot receives the others' counts */
    for (int w = 1; w < s->n_workers; w++) {
      const int64_t *c = s->counts[w * plan->n_idx + k];
      for (int64_t i = 0; i < size; i++) total[i] += c[i];
    }
    for (int w = 0; w < s->n_workers; w++) nulls += s->nulls[w * plan->n_idx + k];
    if (!(s->remap[k] = rk_malloc((size_t)(size ? size : 1) * sizeof **s->remap))) return RK_ENOMEM;
    rk_wf_column *wc = &s->wf.cols[k];
    wc->in_type = rk_dict_key_type(s->dicts[k]);
    RK_TRY(rk_wf_categorify_fit(wc, s->dicts[k], total, nulls, s->remap[k], &nv, &rare));
    json_object_set_new(cols, plan->idx_name[k],
                        json_pack("{sIsIsIsI}", "distinct_values", (json_int_t)size, "vocabulary", (json_int_t)nv,
                                  "cardinality", (json_int_t)wc->cardinality, "nulls", (json_int_t)nulls));
  }
  int w = plan->n_idx;
  se_moments all = {0};
  if (plan->recency) {
    for (int p = 0; p < s->n_parts; p++) moments_merge(&all, &s->parts[p].recency);
    finish_moments(&s->wf.cols[w++], &all);
  }
  for (int v = 0; v < sw->n_continuous; v++) {
    se_moments m = {0};
    for (int p = 0; p < s->n_parts; p++) moments_merge(&m, &s->parts[p].value[v]);
    finish_moments(&s->wf.cols[w++], &m);
  }
  /* The first-seen times and category mean prices, keyed by raw value: the pass-1 dictionaries
   * move into the workflow. */
  int64_t n_items = rk_dict_size(s->dicts[0]);
  if (!(sw->first_seen_us = rk_malloc((size_t)(n_items ? n_items : 1) * sizeof *sw->first_seen_us))) return RK_ENOMEM;
  memcpy(sw->first_seen_us, s->first_seen, (size_t)n_items * sizeof *sw->first_seen_us);
  sw->first_seen_values = s->dicts[0];
  s->dicts[0] = NULL;
  if (plan->price_val >= 0) {
    int64_t n_cat = rk_dict_size(s->dicts[plan->category_idx]);
    double *sum = rk_calloc((size_t)n_cat + 1, sizeof *sum);
    int64_t *cnt = rk_calloc((size_t)n_cat + 1, sizeof *cnt);
    sw->category_mean_price = rk_malloc(((size_t)n_cat + 1) * sizeof *sw->category_mean_price);
    if (!sum || !cnt || !sw->category_mean_price) {
      rk_free(sum);
      rk_free(cnt);
      return RK_ENOMEM;
    }
    for (int p = 0; p < s->n_parts; p++)
      for (int64_t i = 0; i < s->parts[p].n_price; i++) {
        sum[s->parts[p].price_cat[i]] += s->parts[p].price_sum[i];
        cnt[s->parts[p].price_cat[i]] += s->parts[p].price_cnt[i];
      }
    for (int64_t i = 0; i < n_cat; i++) sw->category_mean_price[i] = cnt[i] ? sum[i] / (double)cnt[i] : NAN;
    rk_free(sum);
    rk_free(cnt);
    sw->category_values = s->dicts[plan->category_idx];
    s->dicts[plan->category_idx] = NULL;
  }
  int64_t first_s = s->min_ts_us / 1000000 - (s->min_ts_us % 1000000 < 0);
  sw->origin_s = first_s / sw->window_s * sw->window_s - (first_s % sw->window_s < 0 ? sw->window_s : 0);
  return RK_OK;
}
