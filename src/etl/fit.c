/*
 * Fitting the workflow on the train rows: category frequencies (on dictionary indices, so a
 * count is an array increment), moments and medians of continuous features, and target sums
 * per fold. One pass over stage 1 (plus a pass or two per median); each statistic is one task
 * that sees the rows in order, so results are identical for any thread count.
 */
/* qsort_r: _GNU_SOURCE comes from the build */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "etl/preprocess_internal.h"

#define TE_STREAM 0x7e00ull

int pp_te_fold(uint64_t seed, int64_t row, int folds) {
  uint32_t out[4], ctr[4] = {(uint32_t)row, (uint32_t)((uint64_t)row >> 32), 0, (uint32_t)TE_STREAM};
  uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
  rk_philox4x32_10(out, ctr, key);
  return (int)((((uint64_t)out[0] << 32) | out[1]) % (uint64_t)folds);
}

enum { TASK_CAT, TASK_CONT, TASK_TE };

typedef struct {
  int kind;
  int col;                 /* pp column (the feature) */
  int te;                  /* TASK_TE: index into p->te */
  int bcol, tcol;          /* columns in the scanned batch */
  /* categorical */
  int64_t *count;
  int64_t nulls;
  /* continuous: moments of the non-null values (Chan's merge, batch by batch), nulls, median */
  double n, mean, m2;
  int64_t n_null;
  rk_median *median;
} fit_task;

typedef struct {
  fit_task *tasks;
  int n;
  int row_col;
  const rk_batch *b;
  const uint8_t *split;
  pp_state *p;
} fit_ctx;

static void moments(fit_task *t, const rk_column *c, const uint8_t *split, double fill, bool has_fill) {
  double n = 0, mean = 0, m2 = 0;
  for (int64_t r = 0; r < c->length; r++) {
    if (split[r] != SPLIT_TRAIN) continue;
    double x = rk_etl_value_double(c, r);
    if (isnan(x)) {
      t->n_null++;
      if (!has_fill) continue;
      x = fill;
    }
    n += 1;
    double d = x - mean;
    mean += d / n;
    m2 += d * (x - mean);
  }
  if (n == 0) return;
  double tot = t->n + n, d = mean - t->mean;
  t->mean += d * n / tot;
  t->m2 += m2 + d * d * t->n * n / tot;
  t->n = tot;
}

static rk_status fit_task_batch(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  (void)end;
  fit_ctx *f = arg;
  fit_task *t = &f->tasks[begin];
  const rk_batch *b = f->b;
  const uint8_t *split = f->split;
  const rk_preprocess_config *cfg = f->p->cfg;
  if (t->kind == TASK_CAT) {
    /* A list column counts every value of its train rows (NVTabular's frequencies over all the
     * lists' values), so --categ_min_freq_capping and id 1's count are per value, not per row. */
    const rk_column *ic = &b->cols[t->bcol];
    const int64_t *off = ic->type == RK_COL_LIST ? ic->offsets : NULL;
    const int32_t *idx = off ? ic->child->values : ic->values;
    for (int64_t r = 0; r < b->nrows; r++) {
      if (split[r] != SPLIT_TRAIN) continue;
      for (int64_t k = off ? off[r] : r; k < (off ? off[r + 1] : r + 1); k++) {
        if (idx[k] >= 0)
          t->count[idx[k]]++;
        else
          t->nulls++;
      }
    }
    return RK_OK;
  }
  if (t->kind == TASK_CONT) {
    const rk_column *c = &b->cols[t->bcol];
    bool value_fill = f->p->wf.cols[f->p->cols[t->col].wf_col].fill == RK_FILL_VALUE;
    moments(t, c, split, f->p->wf.cols[f->p->cols[t->col].wf_col].fill_value, value_fill);
    if (t->median) {
      double buf[1024];
      int nb = 0;
      for (int64_t r = 0; r < b->nrows; r++) {
        if (split[r] != SPLIT_TRAIN) continue;
        double x = rk_etl_value_double(c, r);
        if (isnan(x)) continue;
        buf[nb++] = x;
        if (nb == 1024) {
          RK_TRY(rk_median_add(t->median, buf, nb));
          nb = 0;
        }
      }
      if (nb) RK_TRY(rk_median_add(t->median, buf, nb));
    }
    return RK_OK;
  }
  pp_te *te = &f->p->te[t->te];
  const int32_t *idx = b->cols[t->bcol].values;
  const rk_column *y = &b->cols[t->tcol];
  const int64_t *row = b->cols[f->row_col].values;
  for (int64_t r = 0; r < b->nrows; r++) {
    if (split[r] != SPLIT_TRAIN || idx[r] < 0) continue;
    double v = rk_etl_value_double(y, r);
    if (isnan(v)) continue;
    int fold = te->folds > 1 ? pp_te_fold(cfg->seed, row[r], te->folds) : 0;
    te->sum[(int64_t)fold * te->nvals + idx[r]] += v;
    te->cnt[(int64_t)fold * te->nvals + idx[r]]++;
  }
  return RK_OK;
}

static rk_status fit_batch(pp_state *p, const rk_batch *b, const uint8_t *split, void *arg) {
  fit_ctx *f = arg;
  f->b = b;
  f->split = split;
  for (int64_t r = 0; r < b->nrows; r++) p->rows[split[r]]++;
  return rk_parallel_try(f->n, 1, fit_task_batch, f);
}

/* Later median passes: only the columns whose median is not known yet. */
static rk_status median_batch(pp_state *p, const rk_batch *b, const uint8_t *split, void *arg) {
  fit_ctx *f = arg;
  (void)p;
  f->b = b;
  f->split = split;
  for (int i = 0; i < f->n; i++) {
    fit_task *t = &f->tasks[i];
    if (t->kind != TASK_CONT || !t->median) continue;
    const rk_column *c = &b->cols[t->bcol];
    for (int64_t r = 0; r < b->nrows; r++) {
      if (split[r] != SPLIT_TRAIN) continue;
      double x = rk_etl_value_double(c, r);
      if (!isnan(x)) RK_TRY(rk_median_add(t->median, &x, 1));
    }
  }
  return RK_OK;
}

/* ---- the vocabulary (rk_wf_categorify_fit, src/etl/workflow.c) ---- */

static rk_status build_vocab(pp_state *p, pp_column *pc, rk_wf_column *wc, const int64_t *count, int64_t nulls) {
  int64_t n = rk_dict_size(pc->dict), nv = 0, rare = 0;
  pc->remap = rk_malloc((size_t)(n ? n : 1) * sizeof *pc->remap);
  if (!pc->remap) return RK_ENOMEM;
  RK_TRY(rk_wf_categorify_fit(wc, pc->dict, count, nulls, pc->remap, &nv, &rare));
  json_t *cols = json_object_get(p->report, "columns");
  json_object_set_new(cols, pc->name,
                      json_pack("{sIsIsIsIsI}", "distinct_values", (json_int_t)n, "vocabulary", (json_int_t)nv,
                                "cardinality", (json_int_t)wc->cardinality, "train_nulls", (json_int_t)nulls,
                                "train_rare", (json_int_t)rare));
  return RK_OK;
}

static rk_status finish_te(pp_state *p, pp_te *te) {
  rk_wf_column *wc = &p->wf.cols[te->wf_col];
  pp_column *f = &p->cols[te->feature];
  int64_t nv = te->nvals;
  double total = 0;
  int64_t total_n = 0;
  for (int64_t v = 0; v < nv; v++) {
    for (int k = 0; k < te->folds; k++) {
      te->tot_sum[v] += te->sum[(int64_t)k * nv + v];
      te->tot_cnt[v] += te->cnt[(int64_t)k * nv + v];
    }
    total += te->tot_sum[v];
    total_n += te->tot_cnt[v];
  }
  te->prior = total_n ? total / (double)total_n : 0.0;
  wc->te_prior = te->prior;
  /* The workflow keeps the values seen with a target in train; the rest encode to the prior. */
  int64_t *order = rk_malloc((size_t)(nv ? nv : 1) * sizeof *order), m = 0;
  wc->te_sum = rk_malloc((size_t)(nv ? nv : 1) * sizeof *wc->te_sum);
  wc->te_count = rk_malloc((size_t)(nv ? nv : 1) * sizeof *wc->te_count);
  rk_status st = order && wc->te_sum && wc->te_count ? RK_OK : RK_ENOMEM;
  for (int64_t v = 0; st == RK_OK && v < nv; v++) {
    if (te->tot_cnt[v] == 0) continue;
    wc->te_sum[m] = te->tot_sum[v];
    wc->te_count[m] = te->tot_cnt[v];
    order[m++] = v;
  }
  rk_column values = {0};
  int32_t *idx = NULL;
  if (st == RK_OK) st = rk_column_init(&values, f->name, rk_dict_key_type(f->dict), RK_COL_INT8);
  if (st == RK_OK) st = rk_dict_append_values(f->dict, order, m, &values);
  if (st == RK_OK) st = rk_dict_create(&wc->te_values, rk_dict_key_type(f->dict));
  if (st == RK_OK && !(idx = rk_malloc((size_t)(m ? m : 1) * sizeof *idx))) st = RK_ENOMEM;
  if (st == RK_OK) st = rk_dict_insert(wc->te_values, &values, 0, m, idx);
  rk_free(idx);
  rk_column_free(&values);
  rk_free(order);
  return st;
}

static rk_status finish_continuous(pp_state *p, fit_task *t) {
  rk_wf_column *wc = &p->wf.cols[p->cols[t->col].wf_col];
  if (wc->fill == RK_FILL_MEDIAN) {
    double med = rk_median_value(t->median);
    wc->fill_value = isnan(med) ? 0.0 : med;
    /* The nulls become the median: merge them in as a group of equal values. */
    double n = (double)t->n_null, tot = t->n + n;
    if (n > 0) {
      double d = wc->fill_value - t->mean;
      t->mean += d * n / tot;
      t->m2 += d * d * t->n * n / tot;
      t->n = tot;
    }
  }
  /* Inputs are finite (the casts refuse the rest), so only sums of huge values can overflow;
   * a column without train values is centred on 0 and not scaled, and said so. */
  if (t->n == 0)
    rk_warn("continuous column '%s' has no values in the train rows: it is normalised with mean 0 and std 1",
            wc->name);
  wc->mean = t->n > 0 ? t->mean : 0.0;
  wc->std = t->n > 1 ? sqrt(t->m2 / (t->n - 1)) : t->n > 0 ? 0.0 : 1.0;
  if (wc->fill != RK_FILL_NONE && !isfinite(wc->fill_value))
    return rk_error(RK_ERANGE, "cannot fill continuous column '%s' with %g: the fill value must be a finite number",
                    wc->name, wc->fill_value);
  if (!isfinite(wc->mean) || !isfinite(wc->std))
    return rk_error(RK_ERANGE,
                    "cannot normalise continuous column '%s': its train mean or standard deviation overflows "
                    "float64 (values near 1e308): scale the column first",
                    wc->name);
  json_t *cols = json_object_get(p->report, "columns");
  json_object_set_new(cols, wc->name,
                      json_pack("{sfsfsIsf}", "mean", wc->mean, "std", wc->std, "train_nulls", (json_int_t)t->n_null,
                                "fill_value", wc->fill == RK_FILL_NONE ? NAN : wc->fill_value));
  return RK_OK;
}

static rk_status add_task(fit_task **tasks, int *n, fit_task t) {
  fit_task *g = rk_realloc(*tasks, (size_t)(*n + 1) * sizeof *g);
  if (!g) return RK_ENOMEM;
  *tasks = g;
  g[(*n)++] = t;
  return RK_OK;
}

static rk_status run_fit(pp_state *p, fit_ctx *f, const char ***names, int *nnames) {
  char buf[600];
  rk_status st = RK_OK;
  *names = rk_malloc((size_t)(2 * p->n_cols + 2 * p->n_te + 2) * sizeof **names);
  if (!*names) return RK_ENOMEM;
  const char **nm = *names;
  int k = 0;
  nm[k++] = "__row";
  f->row_col = 0;
  /* Index names must outlive this function: keep them in the workflow-independent arena of the
   * pp columns (their names) by formatting into per-task strings. */
  for (int i = 0; i < p->n_cols && st == RK_OK; i++) {
    pp_column *c = &p->cols[i];
    if (c->wf_col < 0) continue;
    rk_wf_column *wc = &p->wf.cols[c->wf_col];
    if (wc->op == RK_WF_CATEGORIFY) {
      char *idx = rk_strdup(pp_idx_name(c->name, buf, sizeof buf));
      int64_t *count = rk_calloc((size_t)rk_dict_size(c->dict) + 1, sizeof *count);
      if (!idx || !count) {
        rk_free(idx);
        rk_free(count);
        return RK_ENOMEM;
      }
      nm[k] = idx;
      st = add_task(&f->tasks, &f->n, (fit_task){.kind = TASK_CAT, .col = i, .bcol = k++, .count = count});
    } else if (wc->op == RK_WF_NORMALIZE) {
      rk_median *m = NULL;
      if (wc->fill == RK_FILL_MEDIAN) st = rk_median_create(&m);
      nm[k] = c->name;
      if (st == RK_OK) st = add_task(&f->tasks, &f->n, (fit_task){.kind = TASK_CONT, .col = i, .bcol = k++, .median = m});
    }
  }
  for (int e = 0; e < p->n_te && st == RK_OK; e++) {
    pp_te *te = &p->te[e];
    int fb = -1, tb = -1;
    pp_idx_name(p->cols[te->feature].name, buf, sizeof buf);
    for (int j = 0; j < k; j++) {
      if (strcmp(nm[j], buf) == 0) fb = j;
      if (strcmp(nm[j], p->cols[te->target].name) == 0) tb = j;
    }
    if (fb < 0) {
      if (!(nm[k] = rk_strdup(buf))) return RK_ENOMEM;
      fb = k++;
    }
    if (tb < 0) {
      nm[k] = p->cols[te->target].name;
      tb = k++;
    }
    st = add_task(&f->tasks, &f->n, (fit_task){.kind = TASK_TE, .col = te->feature, .te = e, .bcol = fb, .tcol = tb});
  }
  *nnames = k;
  if (st == RK_OK) st = pp_scan(p, PP_DATA, nm, k, "fit", fit_batch, f);
  for (bool done = false; st == RK_OK && !done;) {
    done = true;
    for (int i = 0; i < f->n && st == RK_OK; i++) {
      fit_task *t = &f->tasks[i];
      if (t->kind != TASK_CONT || !t->median) continue;
      bool d = false;
      st = rk_median_end_pass(t->median, &d);
      if (d) {
        st = st == RK_OK ? finish_continuous(p, t) : st;
        rk_median_free(t->median);
        t->median = NULL;
        t->kind = -1;   /* finished */
      }
      done &= d;
    }
    if (st == RK_OK && !done) st = pp_scan(p, PP_DATA, nm, k, "median", median_batch, f);
  }
  return st;
}

rk_status pp_fit(pp_state *p) {
  double t0 = rk_now();
  fit_ctx f = {NULL, 0, 0, NULL, NULL, p};
  const char **names = NULL;
  int nnames = 0;
  for (int r = 0; r < 4; r++) p->rows[r] = 0;
  rk_status st = run_fit(p, &f, &names, &nnames);
  for (int i = 0; i < f.n && st == RK_OK; i++) {
    fit_task *t = &f.tasks[i];
    if (t->kind == TASK_CAT) {
      pp_column *c = &p->cols[t->col];
      st = build_vocab(p, c, &p->wf.cols[c->wf_col], t->count, t->nulls);
    } else if (t->kind == TASK_CONT) {
      st = finish_continuous(p, t);
    }
  }
  for (int e = 0; e < p->n_te && st == RK_OK; e++) st = finish_te(p, &p->te[e]);
  for (int i = 0; i < f.n; i++) {
    rk_free(f.tasks[i].count);
    rk_median_free(f.tasks[i].median);
  }
  for (int j = 0; j < nnames; j++)
    if (strncmp(names[j], "__idx_", 6) == 0) rk_free((void *)names[j]);
  rk_free(names);
  rk_free(f.tasks);
  pp_time(p, "fit", t0);
  return st;
}
