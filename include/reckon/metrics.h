/*
 * reckon/metrics.h: the metrics users of Merlin Models know, computed exactly.
 *
 * Binary classification keeps every (score, label, weight) it is given (12 bytes per example)
 * and computes at the end: AUC by sorting with ties averaged (the Mann-Whitney statistic, as
 * scikit-learn's roc_auc_score), PR-AUC as average precision (scikit-learn's
 * average_precision_score: thresholds at the distinct scores), logloss with probabilities
 * clipped to [1e-7, 1 - 1e-7] (Keras' epsilon), and precision, recall and accuracy with a score
 * above 0.5 counting as positive (Keras' default threshold). Weights multiply each example's
 * contribution everywhere. Results are a pure function of the multiset of examples: the order in
 * which they were added does not change a bit.
 */
#ifndef RECKON_METRICS_H
#define RECKON_METRICS_H

#include "reckon/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  int64_t count;
  double weight;            /* total weight (count when unweighted) */
  double positives;         /* weight of label-1 examples */
  double auc;               /* NaN when one class is absent */
  double prauc;             /* NaN without positives */
  double logloss;
  double precision, recall, accuracy;   /* threshold 0.5; precision NaN without predicted positives */
} rk_binary_result;

typedef struct rk_binary_metrics rk_binary_metrics;

rk_status rk_binary_metrics_create(rk_binary_metrics **m);
/* prob: probabilities in [0, 1] (scores outside are clipped for logloss only; NaN is an error);
 * label: 0 or 1 (other values are an error naming the position); weight: NULL for 1 each. */
rk_status rk_binary_metrics_add(rk_binary_metrics *m, const float *prob, const float *label, const float *weight,
                                int64_t n);
rk_status rk_binary_metrics_compute(const rk_binary_metrics *m, rk_binary_result *out);
/* ROC curve points at the distinct thresholds (descending), for reports: fpr and tpr arrays of
 * *n points from (0, 0) to (1, 1), at most max_points (evenly thinned, ends kept). Caller frees
 * both with rk_free. */
rk_status rk_binary_metrics_roc(const rk_binary_metrics *m, int64_t max_points, double **fpr, double **tpr,
                                int64_t *n);
void rk_binary_metrics_reset(rk_binary_metrics *m);
void rk_binary_metrics_free(rk_binary_metrics *m);

/* Regression: running sums in double, added in call order. */
typedef struct {
  int64_t count;
  double weight;
  double sum_sq;            /* weighted squared errors */
  double sum_abs;
} rk_regression_metrics;

void rk_regression_metrics_reset(rk_regression_metrics *m);
void rk_regression_metrics_add(rk_regression_metrics *m, const float *pred, const float *target, const float *weight,
                               int64_t n);
double rk_regression_rmse(const rk_regression_metrics *m);   /* NaN when empty */
double rk_regression_mae(const rk_regression_metrics *m);

#ifdef __cplusplus
}
#endif
#endif /* RECKON_METRICS_H */
