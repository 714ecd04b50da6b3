/*
 * Exact binary-classification metrics: the examples are kept and sorted once by score; AUC,
 * average precision and the ROC curve walk the groups of equal scores, so ties count half (AUC)
 * and share one threshold (average precision), as scikit-learn defines them. The sort orders by
 * (score, label, weight), so results do not depend on the order examples arrived in.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "reckon/metrics.h"

typedef struct {
  float score, label, weight;
} example;

struct rk_binary_metrics {
  example *ex;
  int64_t n, cap;
};

rk_status rk_binary_metrics_create(rk_binary_metrics **m) {
  *m = rk_calloc(1, sizeof **m);
  return *m ? RK_OK : RK_ENOMEM;
}

void rk_binary_metrics_reset(rk_binary_metrics *m) { m->n = 0; }

void rk_binary_metrics_free(rk_binary_metrics *m) {
  if (!m) return;
  rk_free(m->ex);
  rk_free(m);
}

rk_status rk_binary_metrics_add(rk_binary_metrics *m, const float *prob, const float *label, const float *weight,
                                int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    if (isnan(prob[i])) return rk_error(RK_EINVAL, "metrics: prediction %lld is NaN", (long long)(m->n + i));
    if (label[i] != 0.0f && label[i] != 1.0f)
      return rk_error(RK_EINVAL, "metrics: label %lld is %g; binary labels are 0 or 1", (long long)(m->n + i),
                      (double)label[i]);
    if (weight && !(weight[i] >= 0.0f))
      return rk_error(RK_EINVAL, "metrics: weight %lld is %g; weights are 0 or more", (long long)(m->n + i),
                      (double)weight[i]);
  }
  if (m->n + n > m->cap) {
    int64_t cap = m->cap ? m->cap : 1024;
    while (cap < m->n + n) cap *= 2;
    example *g = rk_realloc(m->ex, (size_t)cap * sizeof *g);
    if (!g) return RK_ENOMEM;
    m->ex = g;
    m->cap = cap;
  }
  for (int64_t i = 0; i < n; i++) m->ex[m->n + i] = (example){prob[i], label[i], weight ? weight[i] : 1.0f};
  m->n += n;
  return RK_OK;
}

/* Descending score; then label, then weight, only so equal scores sort the same every time. */
static int by_score_desc(const void *a, const void *b) {
  const example *x = a, *y = b;
  if (x->score != y->score) return x->score > y->score ? -1 : 1;
  if (x->label != y->label) return x->label > y->label ? -1 : 1;
  return x->weight > y->weight ? -1 : x->weight < y->weight;
}

static rk_status sorted(const rk_binary_metrics *m, example **out) {
  *out = rk_malloc((size_t)(m->n ? m->n : 1) * sizeof **out);
  if (!*out) return RK_ENOMEM;
  if (m->n) memcpy(*out, m->ex, (size_t)m->n * sizeof **out);
  qsort(*out, (size_t)m->n, sizeof **out, by_score_desc);
  return RK_OK;
}

/* Walks the groups of equal scores in descending order: per group its positive and negative
 * weight. */
typedef struct {
  const example *ex;
  int64_t n, at;
} groups;

static bool next_group(groups *g, double *pos, double *neg) {
  if (g->at >= g->n) return false;
  *pos = *neg = 0;
  float s = g->ex[g->at].score;
  while (g->at < g->n && g->ex[g->at].score == s) {
    const example *e = &g->ex[g->at++];
    if (e->label == 1.0f)
      *pos += e->weight;
    else
      *neg += e->weight;
  }
  return true;
}

rk_status rk_binary_metrics_compute(const rk_binary_metrics *m, rk_binary_result *out) {
  memset(out, 0, sizeof *out);
  example *ex;
  RK_TRY(sorted(m, &ex));
  double P = 0, N = 0, loss = 0, tp = 0, fp = 0, tn = 0, fn = 0;
  for (int64_t i = 0; i < m->n; i++) {
    const example *e = &ex[i];
    double p = e->score < 1e-7f ? 1e-7 : e->score > 1.0f - 1e-7f ? 1.0 - 1e-7 : (double)e->score;
    bool y = e->label == 1.0f, pred = e->score > 0.5f;
    if (y) P += e->weight;
    else N += e->weight;
    loss -= e->weight * (y ? log(p) : log(1.0 - p));
    tp += e->weight * (y && pred);
    fp += e->weight * (!y && pred);
    tn += e->weight * (!y && !pred);
    fn += e->weight * (y && !pred);
  }
  /* AUC: each positive scores 1 per negative below it and 1/2 per negative tied with it. */
  groups g = {ex, m->n, 0};
  double pos, neg, neg_above = 0, auc = 0, tp_run = 0, fp_run = 0, ap = 0, recall_prev = 0;
  while (next_group(&g, &pos, &neg)) {
    auc += pos * (N - neg_above - neg) + 0.5 * pos * neg;
    neg_above += neg;
    tp_run += pos;
    fp_run += neg;
    if (P > 0 && tp_run + fp_run > 0) {
      double recall = tp_run / P;
      ap += (recall - recall_prev) * (tp_run / (tp_run + fp_run));
      recall_prev = recall;
    }
  }
  rk_free(ex);
  double W = P + N;
  out->count = m->n;
  out->weight = W;
  out->positives = P;
  out->auc = P > 0 && N > 0 ? auc / (P * N) : NAN;
  out->prauc = P > 0 ? ap : NAN;
  out->logloss = W > 0 ? loss / W : NAN;
  out->precision = tp + fp > 0 ? tp / (tp + fp) : NAN;
  out->recall = P > 0 ? tp / P : NAN;
  out->accuracy = W > 0 ? (tp + tn) / W : NAN;
  (void)fn;
  return RK_OK;
}

rk_status rk_binary_metrics_roc(const rk_binary_metrics *m, int64_t max_points, double **fpr, double **tpr,
                                int64_t *n) {
  *fpr = *tpr = NULL;
  *n = 0;
  example *ex;
  RK_TRY(sorted(m, &ex));
  double P = 0, N = 0;
  for (int64_t i = 0; i < m->n; i++) {
    if (ex[i].label == 1.0f) P += ex[i].weight;
    else N += ex[i].weight;
  }
  int64_t cap = m->n + 2;
  double *f = rk_malloc((size_t)cap * sizeof *f), *t = rk_malloc((size_t)cap * sizeof *t);
  if (!f || !t) {
    rk_free(ex);
    rk_free(f);
    rk_free(t);
    return RK_ENOMEM;
  }
  int64_t k = 0;
  f[k] = t[k] = 0;
  k++;
  groups g = {ex, m->n, 0};
  double pos, neg, tp = 0, fp = 0;
  while (next_group(&g, &pos, &neg)) {
    tp += pos;
    fp += neg;
    f[k] = N > 0 ? fp / N : 0;
    t[k] = P > 0 ? tp / P : 0;
    k++;
  }
  rk_free(ex);
  if (max_points >= 2 && k > max_points) {   /* thin evenly, keeping both ends */
    for (int64_t i = 0; i < max_points; i++) {
      int64_t from = i * (k - 1) / (max_points - 1);
      f[i] = f[from];
      t[i] = t[from];
    }
    k = max_points;
  }
  *fpr = f;
  *tpr = t;
  *n = k;
  return RK_OK;
}

/* ---- regression ---- */

void rk_regression_metrics_reset(rk_regression_metrics *m) { memset(m, 0, sizeof *m); }

void rk_regression_metrics_add(rk_regression_metrics *m, const float *pred, const float *target, const float *weight,
                               int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    double w = weight ? weight[i] : 1.0, d = (double)pred[i] - (double)target[i];
    m->sum_sq += w * d * d;
    m->sum_abs += w * fabs(d);
    m->weight += w;
  }
  m->count += n;
}

double rk_regression_rmse(const rk_regression_metrics *m) { return m->weight > 0 ? sqrt(m->sum_sq / m->weight) : NAN; }
double rk_regression_mae(const rk_regression_metrics *m) { return m->weight > 0 ? m->sum_abs / m->weight : NAN; }
