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

/* MAP@k over grouped click data, as NVIDIA's Wide & Deep recipe scores Outbrain
 * (TensorFlow/Recommendation/WideAndDeep/utils/metrics.py): rows are grouped by display_id, each
 * display's ads ranked by score, and tf.compat.v1.metrics.average_precision_at_k taken with k = 12
 * and the display's argmax label as its one relevant ad. The recipe's "with leak" variant is the
 * same metric on score + is_leak, which the caller adds before rk_map_metrics_add.
 *
 * Per group, rows rank by score, highest first; equal scores rank by arrival, the earlier row first
 * (TF's top_k puts equal values at lower indices first). The relevant row is the first to arrive
 * with the group's largest label (TF's argmax), and the group's AP@k is 1/rank when rank <= k, else
 * 0. MAP is the mean of AP@k over groups, summed in double in group-id order. A group with no label
 * above 0 has no click: TF's argmax would call its first row relevant, but here it is counted in
 * `unlabeled` and left out of the mean (the recipe's data has one click per display).
 * A group's rows may arrive in any batches, interleaved with other groups: the result depends only
 * on each group's rows in their arrival order, bit for bit, never on batch boundaries or on how the
 * groups interleave. Unlike the recipe, a display split across batches stays one group (its
 * comment's "roughness"); otherwise, for scores >= 0 (probabilities, plus is_leak), the result is
 * TF's (its zero padding would outrank negative scores). 16 bytes per row are kept; compute sorts
 * them by group with a stable radix sort, which needs 16 bytes per row more while it runs.
 */
typedef struct {
  int64_t rows;
  int64_t groups;           /* groups in the mean: those with a label above 0 */
  int64_t unlabeled;        /* groups with no label above 0, left out of the mean */
  int64_t hits;             /* groups in the mean whose relevant row ranks within k */
  int k;
  double map;               /* NaN when no group has a label above 0 */
} rk_map_result;

typedef struct rk_map_metrics rk_map_metrics;

/* k: the cut-off, 1 or more (the recipe's is 12). */
rk_status rk_map_metrics_create(rk_map_metrics **m, int k);
/* group: any int64 ids (display_id); score: NaN is an error; label: the largest of a group marks
 * its relevant row (clicks are 0 or 1), NaN is an error. Errors name the row by its position among
 * all rows added since create or reset; a failing call adds nothing. */
rk_status rk_map_metrics_add(rk_map_metrics *m, const int64_t *group, const float *score, const float *label,
                             int64_t n);
/* Sorts the kept rows by group in place (hence not const); adding more rows afterwards is fine. */
rk_status rk_map_metrics_compute(rk_map_metrics *m, rk_map_result *out);
void rk_map_metrics_reset(rk_map_metrics *m);   /* forgets the rows, keeps k */
void rk_map_metrics_free(rk_map_metrics *m);
/* The same in one call for n rows in memory, row i arriving i-th. */
rk_status rk_map_at_k(rk_map_result *out, const int64_t *group, const float *score, const float *label, int64_t n,
                      int k);

/* ---------------------------------------------------------------------------------------------
 * Next-item ranking metrics (Transformers4Rec's ranking_metric.py and the 2021 paper code's
 * EvalMetrics; docs/session_metrics.md). Each example has one target item and r, its 1-based
 * rank in the whole catalogue; at a cut-off k:
 *   recall@k (hit rate) = [r <= k]          precision@k     = [r <= k] / k
 *   ndcg@k              = [r <= k] / log2(r + 1)   (the ideal DCG of one relevant item is 1)
 *   mrr@k               = [r <= k] / r      avg_precision@k = [r <= k] / r   (one relevant item)
 * A result is the mean over examples (Transformers4Rec today), or with `batch_mean` the mean of
 * per-batch means the 2021 code logged (its MetricWrapper; a batch is one add call). Sums run in
 * double in the order examples arrive, so results do not depend on the thread count.
 * ------------------------------------------------------------------------------------------- */
#define RK_RANK_METRIC_LIST(X)          \
  X(RECALL,        "recall")           \
  X(PRECISION,     "precision")        \
  X(NDCG,          "ndcg")             \
  X(MRR,           "mrr")              \
  X(AVG_PRECISION, "avg_precision")

typedef enum {
#define RK_RANK_METRIC_ENUM(name, text) RK_RANK_##name,
  RK_RANK_METRIC_LIST(RK_RANK_METRIC_ENUM)
#undef RK_RANK_METRIC_ENUM
  RK_RANK_METRIC_COUNT
} rk_rank_metric;

#define RK_RANK_MAX_KS 16

const char *rk_rank_metric_name(rk_rank_metric metric);   /* "ndcg"; never NULL */
/* One example's value: rank >= 1, k >= 1. */
double rk_rank_metric_at(rk_rank_metric metric, int64_t rank, int k);

typedef struct {
  int n_ks;
  int ks[RK_RANK_MAX_KS];                                  /* cut-offs, in the caller's order */
  int64_t examples;                                        /* ranked examples added */
  int64_t skipped;                                         /* rows with rank 0 (no target) */
  int64_t batches;                                         /* add calls with an example */
  double sum[RK_RANK_METRIC_COUNT][RK_RANK_MAX_KS];        /* over examples */
  double batch_mean_sum[RK_RANK_METRIC_COUNT][RK_RANK_MAX_KS];
} rk_rank_metrics;

/* ks: 1 to RK_RANK_MAX_KS distinct cut-offs >= 1 (the paper code's are 10, 20, 1000). */
rk_status rk_rank_metrics_init(rk_rank_metrics *m, const int *ks, int n_ks);
void rk_rank_metrics_reset(rk_rank_metrics *m);            /* forgets the examples, keeps ks */
/* One batch of n ranks: rank >= 1 is an example, 0 a row without a target (padding), skipped.
 * A negative rank is RK_EINVAL naming its row, and the call adds nothing. */
rk_status rk_rank_metrics_add(rk_rank_metrics *m, const int64_t *rank, int64_t n);
/* The mean of `metric` at cut-off ks[ki]: over examples, or of batch means; NaN when empty. */
double rk_rank_metrics_result(const rk_rank_metrics *m, rk_rank_metric metric, int ki, bool batch_mean);

/* ---------------------------------------------------------------------------------------------
 * Ranking the whole catalogue without a (B, V) score matrix (src/metrics/catalog_rank.c).
 * Item v's score for hidden row b is s(b, v) = h_b . e_v + bias_v (the tied output layer of the
 * session models; a softmax temperature does not change the order). The catalogue is streamed
 * in blocks of items, one rk_sgemm per block, and each row keeps only the count of items that
 * rank above its target and, when asked, a top-k heap: memory is O(B * (block + top_k)).
 * Order: higher score first; equal scores by ascending item id (the order of a stable
 * descending sort). So r = 1 + #{v : s(b,v) > s*} + #{v < t : s(b,v) == s*} over ranked items
 * v other than the target t, where s* is the target's score. torch.topk leaves the order of
 * ties unspecified; docs/session_metrics.md says how this rule relates.
 * Items below first_item are not ranked and never recommended (0 ranks every item, as the
 * reference does, padding row included). Rows whose target is 0 (padding) or below first_item
 * get rank 0, which rk_rank_metrics_add skips. Results do not depend on the thread count.
 * ------------------------------------------------------------------------------------------- */
typedef struct {
  const float *items;   /* (V, D) item table, row-major; the caller keeps it alive */
  const float *bias;    /* (V) or NULL */
  int64_t V, D;
  int64_t first_item;   /* 0..V-1 */
  int64_t block;        /* items per gemm; 0 picks one (8 MiB of scores per block at max_batch) */
  const float *items_t; /* NULL, or rk_catalog_transpose's table: batches of up to
                           RK_CATALOG_DIRECT_ROWS rows are scored from it without the gemm */
} rk_catalog;

#define RK_CATALOG_DIRECT_ROWS 4   /* past it the gemm is faster: it shares its packing over the rows */

typedef struct rk_catalog_ranker rk_catalog_ranker;

/* Room for batches of up to max_batch rows and, with top_k > 0, a top-k list per row. */
rk_status rk_catalog_ranker_create(rk_catalog_ranker **out, const rk_catalog *cat, int64_t max_batch, int top_k);
/* Ranks B <= max_batch rows: hidden (B, D), target (B). Writes rank (B); with top_k > 0 also
 * top_ids and top_scores (B, top_k), best first (padded with id -1 and -inf when fewer items are
 * ranked); NULL for both skips them. target and rank NULL: predictions only. A target outside
 * [0, V) or a NaN score is an error naming the row (and item); nothing is written then. */
rk_status rk_catalog_rank(rk_catalog_ranker *r, int64_t *rank, int64_t *top_ids, float *top_scores, const float *hidden,
                          const int64_t *target, int64_t B);
/* For a catalogue whose items will not change (a served model): *items_t = its ranked items
 * transposed, (D, V - first_item), for rk_catalog.items_t (the caller frees it), or NULL where
 * scoring from it would not give the gemm's bits on this machine (checked here, on every item).
 * Ranks and lists are the same with it or without it. */
rk_status rk_catalog_transpose(float **items_t, const rk_catalog *cat);
void rk_catalog_ranker_free(rk_catalog_ranker *r);   /* NULL is fine */

#ifdef __cplusplus
}
#endif
#endif /* RECKON_METRICS_H */
