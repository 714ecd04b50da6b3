/*
 * reckon/model.h: the model interface. A model family (the ranking family of reckon/models.h
 * today; a session family later) hands the trainer, evaluation, prediction, checkpoints and model
 * folders an rk_model: its graph, its parameters, what the graph computes per task, and a table of
 * what differs per family, as a file-ops table does for files:
 *   share      another graph over the same parameters, built for another batch size
 *   feed_*     the family's own feed: the columns it reads and how a batch fills the graph's
 *              inputs (the ranking feed pools lists; a session feed would keep the time axis)
 *   describe   model.json's keys of the family (the save hook; rk_model_load reads them back)
 *   param_group  which optimizer a parameter belongs to (Wide & Deep's wide part has its own)
 *   free       a graph made by share
 * Callers hold an rk_model and call through model->ops; the family's own model sits behind it.
 */
#ifndef RECKON_MODEL_H
#define RECKON_MODEL_H

#include <jansson.h>

#include "reckon/data.h"
#include "reckon/nn.h"
#include "reckon/schema.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RK_MAX_TASKS 16

/* How each task weighs its examples: example weight = loss weight x (positive weight when a
 * binary target is 1) x (1 when the sample-space column is 1, else 0) x the sample-weight
 * column. Keras' loss, sum over tasks of loss weight x mean over the batch, follows. */
typedef struct {
  float loss_weight[RK_MAX_TASKS];        /* default 1 */
  float positive_weight[RK_MAX_TASKS];    /* default 1 */
  const char *sample_space[RK_MAX_TASKS]; /* NULL: every row */
  const char *sample_weight_column;       /* NULL: none; multiplies every task's weights */
  const char *task_sample_weight[RK_MAX_TASKS];   /* NULL: none; multiplies one task's weights */
} rk_task_weights;

void rk_task_weights_default(rk_task_weights *w);

typedef struct rk_model rk_model;
typedef struct rk_model_feed rk_model_feed;   /* a family's feed, behind the interface */

/* What a model's graph computes, per task (value handles of model->g). */
typedef struct {
  int n_tasks;
  char *const *targets;       /* per task: its target column */
  const bool *regression;     /* per task: MSE on a linear output, else weighted BCE on a logit */
  const int *logits;          /* per task: (B, 1) logit, or the regression's prediction */
  const int *labels, *weights;    /* per task: inputs (B, 1) (train graphs) */
  const int *task_losses;     /* per task: its weighted mean loss (train graphs) */
  const int *gate_probs;      /* per task: (B, E) gate weights, or RK_NO_VALUE */
  int loss;                   /* the loss with its regularisation terms (train graphs) */
  int reg;                    /* the regularisation terms alone, or RK_NO_VALUE */
} rk_model_outputs;

typedef struct {
  const char *family;
  /* A graph over m's parameters (not copied: training one trains both) for `batch` graph rows;
   * train: with labels, weights and losses, else an inference graph. m must outlive it; free it
   * with ops->free. */
  rk_status (*share)(rk_model **out, const rk_model *m, int64_t batch, bool train);
  /* The family's feed of m's graph: `negatives` in-batch negatives per row (refused where the
   * schema cannot tell items apart), tw NULL: defaults. */
  rk_status (*feed_init)(rk_model_feed **out, const rk_model *m, const rk_schema *schema, int64_t negatives,
                         const rk_task_weights *tw, uint64_t seed);
  /* The columns the feed reads from data (names holds at least feed_max_columns), with targets
   * also the targets, sample spaces and sample weights. */
  int (*feed_max_columns)(const rk_model *m);
  int (*feed_columns)(const rk_model_feed *f, bool with_targets, const char **names);
  /* Data rows per fill; fill the graph's inputs from `batch` (`step` keys the negatives). */
  int64_t (*feed_batch_rows)(const rk_model_feed *f);
  rk_status (*feed_fill)(rk_model_feed *f, const rk_batch *batch, uint64_t step);
  /* Per graph row of the last fill: its data row, or -1 for padding. */
  const int64_t *(*feed_sources)(const rk_model_feed *f);
  /* The task weights the feed applies (tw, or the defaults). */
  const rk_task_weights *(*feed_weights)(const rk_model_feed *f);
  void (*feed_free)(rk_model_feed *f);
  /* model.json's keys of the family ("model", "features" for the ranking family), new object. */
  json_t *(*describe)(const rk_model *m);
  /* Parameter i's optimizer: 0, or 1 for a part trained by an optimizer of its own. */
  int (*param_group)(const rk_model *m, int i);
  void (*free)(rk_model *m);
} rk_model_ops;

struct rk_model {
  const rk_model_ops *ops;
  void *self;                 /* the family's model */
  rk_graph *g;
  rk_param **params;          /* every parameter, in creation order */
  int n_params;
  rk_model_outputs out;
};

/* An inference graph over m's parameters for the data at `path`, `rows` data rows per batch
 * (times 1 + negatives, checked as rk_feed_graph_rows does, naming --in_batch_negatives_eval), or
 * fewer when the data has fewer rows: a 32768-row graph for a few thousand rows would only
 * compute padding. A family without per-row tasks (out.n_tasks 0: the session models) is refused,
 * naming the command that serves it. Free with (*out)->ops->free. */
rk_status rk_model_share_for_data(rk_model **out, const rk_model *m, const char *path, int64_t rows,
                                  int64_t negatives);

/* The graph rows for `batch_rows` data rows with `negatives` in-batch negatives each:
 * batch_rows x (1 + negatives), checked. A row's negatives are drawn from the other rows of its
 * batch, so more than batch_rows - 1 would only repeat them: refused, naming `flag`. */
rk_status rk_feed_graph_rows(int64_t *out, int64_t batch_rows, int64_t negatives, const char *flag);

#ifdef __cplusplus
}
#endif
#endif /* RECKON_MODEL_H */
