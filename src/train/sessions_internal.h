/*
 * Private to src/train/sessions*.c: what the run (sessions.c) hands evaluation and prediction
 * (sessions_eval.c) and the attention dump (sessions_npy.c).
 */
#ifndef RECKON_TRAIN_SESSIONS_INTERNAL_H
#define RECKON_TRAIN_SESSIONS_INTERNAL_H

#include "reckon/data.h"
#include "reckon/train.h"

/* An inference graph over the trained parameters and its feed, reused for every evaluation. */
typedef struct {
  rk_model *g;                  /* rk_session_share(train model, eval batch, false, attention) */
  rk_model_feed *feed;
  const char **columns;         /* the feed's columns, then the metadata's, for the loader */
  int n_columns;
  const char *const *metadata;  /* columns logged beside predictions (log_with_preds_as_metadata) */
  int n_metadata;
  int64_t batch;                /* sessions per graph */
} rk_session_evaluator;

/* metadata: column names (kept alive by the caller) copied into prediction logs as
 * metadata_<name>, as recsys_outputs.py does for the feature config's log_with_preds_as_metadata. */
rk_status rk_session_evaluator_init(rk_session_evaluator *e, const rk_model *m, const rk_schema *schema, int64_t batch,
                                    bool attention, uint64_t seed, const char *const *metadata, int n_metadata);
void rk_session_evaluator_free(rk_session_evaluator *e);

/* One evaluation pass over `paths` (the EVAL phase): ranks every target over the catalogue and
 * adds `<prefix>_<metric>@<k>` for each metric and cut-off to `into`, and `<prefix>_examples`.
 * max_batches > 0: only the first batches (--eval_steps_on_train_set). pred_log: NULL, or a
 * Parquet file of each example's top_k items and scores, target and metrics (recsys_outputs.py's
 * columns). attention_stem: NULL, or "<dir>/<name>": the first batch's attention weights and
 * items as <stem>_layer<l>.npy and <stem>_items.npy. */
typedef struct {
  const char *prefix;           /* "eval", "train" */
  const int *ks;
  int n_ks;
  bool batch_mean;
  int64_t max_batches;
  const char *pred_log;
  int top_k;
  const char *attention_stem;
  rk_dist *dist;                /* NULL: one process; else every rank calls, each ranks its share
                                   of the batches and rank 0 alone gets the metrics in `into` (with
                                   pred_log or attention_stem, rank 0 ranks every batch alone) */
} rk_session_eval_options;

rk_status rk_session_evaluate(rk_session_evaluator *e, const char *const *paths, int n_paths,
                              const rk_session_eval_options *o, json_t *into);

/* Top-k next items for every session of `path` (the PREDICT phase) into the Parquet file `out`:
 * rec_item_ids (list of int64) and rec_item_scores (list of float), in the data's row order.
 * *rows: the sessions written. */
rk_status rk_session_predict(rk_session_evaluator *e, const char *path, const char *out, int top_k, int64_t *rows);

/* The synthetic data's ceiling (sessions_oracle.c): `reckon synth sessions --layout yoochoose`'s
 * per-session oracle, read from FILE.oracle.parquet and K from FILE.json. */
typedef struct {
  int64_t n;
  int64_t *ids;                 /* (n) ascending session ids */
  double *hit, *ndcg, *rr;      /* (n) the oracle's expected hit, NDCG and reciprocal rank at k */
  int k;
} rk_session_oracle;

rk_status rk_session_oracle_read(rk_session_oracle *o, const char *file);
void rk_session_oracle_free(rk_session_oracle *o);
/* The means over the sessions of `path` (its session_id column) as eval_oracle_recall@K,
 * eval_oracle_ndcg@K and eval_oracle_mrr@K in `into`; a session the oracle lacks is an error. */
rk_status rk_session_oracle_score(const rk_session_oracle *o, const char *path, json_t *into);

/* A numpy .npy file (format version 1.0, little-endian, C order) of `n` values of dtype
 * "<f4" or "<i8" and the given shape, written atomically. */
rk_status rk_npy_write(const char *path, const char *dtype, const int64_t *shape, int ndim, const void *data);

#endif
