/*
 * MAP@k over grouped rows (display_id, score, label), the metric of NVIDIA's Wide & Deep recipe on
 * Outbrain (TensorFlow/Recommendation/WideAndDeep/utils/metrics.py, which calls
 * tf.compat.v1.metrics.average_precision_at_k with k = 12). The contract is in reckon/metrics.h.
 *
 * Rows are kept in arrival order; compute sorts them by group with a stable LSD radix sort, so each
 * group's rows stay in arrival order without storing it, and the sort keeps that true when more
 * rows are appended later (they arrive after every kept row). One pass over the groups then finds
 * each relevant row and counts the rows that outrank it. It is not a ranking metric for several
 * relevant items per group (TF's AP@k divides by min(k, relevant items); here there is one).
 */
#include <math.h>
#include <string.h>

#include "reckon/metrics.h"

typedef struct {
  int64_t group;
  float score, label;
} row;

struct rk_map_metrics {
  row *rows;   /* (n), arrival order, or sorted by group with each group in arrival order */
  int64_t n, cap;
  int k;
};

rk_status rk_map_metrics_create(rk_map_metrics **m, int k) {
  *m = NULL;
  if (k < 1) return rk_error(RK_EINVAL, "metrics: k is %d; MAP@k needs k of 1 or more", k);
  *m = rk_calloc(1, sizeof **m);
  if (!*m) return RK_ENOMEM;
  (*m)->k = k;
  return RK_OK;
}

void rk_map_metrics_reset(rk_map_metrics *m) { m->n = 0; }

void rk_map_metrics_free(rk_map_metrics *m) {
  if (!m) return;
  rk_free(m->rows);
  rk_free(m);
}

rk_status rk_map_metrics_add(rk_map_metrics *m, const int64_t *group, const float *score, const float *label,
                             int64_t n) {
  if (n < 0) return rk_error(RK_EINVAL, "metrics: n is %lld; a MAP@k batch has 0 or more rows", (long long)n);
  for (int64_t i = 0; i < n; i++) {
    if (isnan(score[i])) return rk_error(RK_EINVAL, "metrics: score %lld is NaN", (long long)(m->n + i));
    if (isnan(label[i])) return rk_error(RK_EINVAL, "metrics: label %lld is NaN", (long long)(m->n + i));
  }
  if (m->n + n > m->cap) {
    int64_t cap = m->cap ? m->cap : 1024;
    while (cap < m->n + n) cap *= 2;
    row *g = rk_realloc(m->rows, (size_t)cap * sizeof *g);
    if (!g) return RK_ENOMEM;
    m->rows = g;
    m->cap = cap;
  }
  for (int64_t i = 0; i < n; i++) m->rows[m->n + i] = (row){group[i], score[i], label[i]};
  m->n += n;
  return RK_OK;
}

/* The group id as an unsigned key in the same order: the sign bit flipped. */
static uint64_t key(int64_t group) { return (uint64_t)group ^ ((uint64_t)1 << 63); }

/* Stable sort by group: one histogram pass for all 8 bytes, then a scatter per byte that is not
 * the same in every row (display ids below 2^24 take 3 passes). Already-sorted rows (a second
 * compute) are left alone. */
static rk_status sort_by_group(rk_map_metrics *m) {
  int64_t n = m->n;
  bool sorted = true;
  for (int64_t i = 1; i < n && sorted; i++) sorted = key(m->rows[i - 1].group) <= key(m->rows[i].group);
  if (sorted) return RK_OK;
  row *tmp = rk_malloc((size_t)n * sizeof *tmp);
  if (!tmp) return RK_ENOMEM;
  int64_t count[8][256] = {{0}};
  for (int64_t i = 0; i < n; i++) {
    uint64_t k = key(m->rows[i].group);
    for (int b = 0; b < 8; b++) count[b][(k >> (8 * b)) & 0xff]++;
  }
  row *src = m->rows, *dst = tmp;
  uint64_t first = key(src[0].group);
  for (int b = 0; b < 8; b++) {
    if (count[b][(first >> (8 * b)) & 0xff] == n) continue;   /* every row has this byte */
    int64_t at[256], sum = 0;
    for (int d = 0; d < 256; d++) {
      at[d] = sum;
      sum += count[b][d];
    }
    for (int64_t i = 0; i < n; i++) dst[at[(key(src[i].group) >> (8 * b)) & 0xff]++] = src[i];
    row *t = src;
    src = dst;
    dst = t;
  }
  if (src == tmp) {   /* the sorted rows are in tmp: keep it, sized to the rows */
    rk_free(m->rows);
    m->rows = tmp;
    m->cap = n;
  } else {
    rk_free(tmp);
  }
  return RK_OK;
}

rk_status rk_map_metrics_compute(rk_map_metrics *m, rk_map_result *out) {
  memset(out, 0, sizeof *out);
  RK_TRY(sort_by_group(m));
  const row *r = m->rows;
  double sum = 0;
  for (int64_t b = 0, e; b < m->n; b = e) {
    /* the group's rows are [b, e), in arrival order; the relevant one is the first largest label */
    int64_t rel = b;
    for (e = b + 1; e < m->n && r[e].group == r[b].group; e++)
      if (r[e].label > r[rel].label) rel = e;
    if (!(r[rel].label > 0.0f)) {
      out->unlabeled++;
      continue;
    }
    /* rank = 1 + the rows ahead of it: earlier rows with the same score or higher, later rows
     * with a higher one */
    float s = r[rel].score;
    int64_t ahead = 0;
    for (int64_t i = b; i < rel; i++) ahead += r[i].score >= s;
    for (int64_t i = rel + 1; i < e; i++) ahead += r[i].score > s;
    out->groups++;
    if (ahead < m->k) {
      sum += 1.0 / (double)(ahead + 1);
      out->hits++;
    }
  }
  out->rows = m->n;
  out->k = m->k;
  out->map = out->groups > 0 ? sum / (double)out->groups : NAN;
  return RK_OK;
}

rk_status rk_map_at_k(rk_map_result *out, const int64_t *group, const float *score, const float *label, int64_t n,
                      int k) {
  memset(out, 0, sizeof *out);
  rk_map_metrics *m;
  RK_TRY(rk_map_metrics_create(&m, k));
  rk_status s = rk_map_metrics_add(m, group, score, label, n);
  if (s == RK_OK) s = rk_map_metrics_compute(m, out);
  rk_map_metrics_free(m);
  return s;
}
