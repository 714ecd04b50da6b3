/*
 * Next-item metrics at cut-offs k from each example's 1-based rank r of its one target item
 * (reckon/metrics.h states them; docs/session_metrics.md derives them from Transformers4Rec's
 * ranking_metric.py and the 2021 paper code's ranking_metrics_torch).
 *
 * It is not the ranking itself (catalog_rank.c turns scores into ranks), nor a metric for several
 * relevant items per example: with one, average precision equals MRR and IDCG is 1.
 */
#include <math.h>
#include <string.h>

#include "reckon/metrics.h"

static const char *const metric_names[] = {
#define RK_RANK_METRIC_NAME(name, text) text,
    RK_RANK_METRIC_LIST(RK_RANK_METRIC_NAME)
#undef RK_RANK_METRIC_NAME
};

const char *rk_rank_metric_name(rk_rank_metric metric) {
  return (unsigned)metric < RK_RANK_METRIC_COUNT ? metric_names[metric] : "unknown";
}

double rk_rank_metric_at(rk_rank_metric metric, int64_t rank, int k) {
  if (rank < 1 || rank > k) return 0.0;
  switch (metric) {
  case RK_RANK_RECALL:
    return 1.0;
  case RK_RANK_PRECISION:
    return 1.0 / (double)k;
  case RK_RANK_NDCG:
    return 1.0 / log2((double)rank + 1.0);
  case RK_RANK_MRR:
  case RK_RANK_AVG_PRECISION:
    return 1.0 / (double)rank;
  default:
    return NAN;
  }
}

rk_status rk_rank_metrics_init(rk_rank_metrics *m, const int *ks, int n_ks) {
  memset(m, 0, sizeof *m);
  if (n_ks < 1 || n_ks > RK_RANK_MAX_KS)
    return rk_error(RK_EINVAL, "metrics: %d cut-offs; give 1 to %d", n_ks, RK_RANK_MAX_KS);
  for (int i = 0; i < n_ks; i++) {
    if (ks[i] < 1) return rk_error(RK_EINVAL, "metrics: cut-off %d is %d; a cut-off k must be 1 or more", i + 1, ks[i]);
    for (int j = 0; j < i; j++)
      if (ks[j] == ks[i]) return rk_error(RK_EINVAL, "metrics: cut-off %d is given twice", ks[i]);
    m->ks[i] = ks[i];
  }
  m->n_ks = n_ks;
  return RK_OK;
}

void rk_rank_metrics_reset(rk_rank_metrics *m) {
  rk_rank_metrics keep = *m;
  memset(m, 0, sizeof *m);
  m->n_ks = keep.n_ks;
  memcpy(m->ks, keep.ks, sizeof m->ks);
}

rk_status rk_rank_metrics_add(rk_rank_metrics *m, const int64_t *rank, int64_t n) {
  if (n < 0) return rk_error(RK_EINVAL, "metrics: a batch of %lld ranks", (long long)n);
  for (int64_t i = 0; i < n; i++)
    if (rank[i] < 0) return rk_error(RK_EINVAL, "metrics: rank %lld of batch row %lld is negative", (long long)rank[i], (long long)i);
  double batch[RK_RANK_METRIC_COUNT][RK_RANK_MAX_KS] = {{0}};
  int64_t examples = 0;
  for (int64_t i = 0; i < n; i++) {
    if (rank[i] == 0) {
      m->skipped++;
      continue;
    }
    examples++;
    for (int t = 0; t < RK_RANK_METRIC_COUNT; t++) {
      for (int ki = 0; ki < m->n_ks; ki++) {
        double v = rk_rank_metric_at((rk_rank_metric)t, rank[i], m->ks[ki]);
        m->sum[t][ki] += v;   /* example by example: the mean does not depend on batch sizes */
        batch[t][ki] += v;
      }
    }
  }
  if (examples == 0) return RK_OK;   /* the 2021 code would log a NaN batch mean; it is left out */
  for (int t = 0; t < RK_RANK_METRIC_COUNT; t++)
    for (int ki = 0; ki < m->n_ks; ki++) m->batch_mean_sum[t][ki] += batch[t][ki] / (double)examples;
  m->examples += examples;
  m->batches++;
  return RK_OK;
}

double rk_rank_metrics_result(const rk_rank_metrics *m, rk_rank_metric metric, int ki, bool batch_mean) {
  if ((unsigned)metric >= RK_RANK_METRIC_COUNT || ki < 0 || ki >= m->n_ks) return NAN;
  if (batch_mean) return m->batches ? m->batch_mean_sum[metric][ki] / (double)m->batches : NAN;
  return m->examples ? m->sum[metric][ki] / (double)m->examples : NAN;
}
