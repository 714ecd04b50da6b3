/*
 * reckon/trainer.h: training runs of ranking models, and the model folder they leave.
 *
 *   rk_train        data (a folder of Parquet parts and its Merlin schema) -> a trained model,
 *                   its eval metrics, logs (train_log.jsonl/.csv, DLLogger log.json, TensorBoard),
 *                   report.html, checkpoints, and optionally a saved model folder
 *   rk_model_save   model folder: model.json + weights.safetensors + schema + workflow copy
 *   rk_model_load   the same folder back into a model
 *   rk_evaluate     metrics of a model on a dataset
 *   rk_predict      a model's predictions on a dataset, with chosen columns kept
 *
 * Batches reach the graph through a feed (src/train/feed.c): the model's columns are gathered
 * into its inputs; a short last batch is padded with rows of weight 0 while the real rows'
 * weights are scaled by (graph rows / real rows), so the loss is the mean over the real rows,
 * as Keras computes it; in-batch negatives are extra rows built from the batch.
 */
#ifndef RECKON_TRAINER_H
#define RECKON_TRAINER_H

#include <jansson.h>

#include "reckon/data.h"
#include "reckon/models.h"
#include "reckon/optim.h"
#include "reckon/schema.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- feeding batches (src/train/feed.c) ---------------------------------------------------- */
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

typedef struct {
  const rk_ranking_model *m;
  int64_t negatives;          /* in-batch negatives per row */
  rk_task_weights tw;
  uint64_t seed;
  bool *item_feature;         /* per categorical then continuous feature: tagged item / item_id */
  int item_id;                /* categorical feature telling items apart (-1: all item features) */
  int64_t *src, *item_src;    /* (graph rows): source rows; -1 = padding */
  int64_t rows;               /* real rows in the last fill (positives and negatives) */
  const rk_column **cols;     /* per feature: the batch column of the last fill */
  struct rk_feed_layout *layout;   /* where each column the feed reads sits in the batches (feed.c) */
} rk_feed;

/* The columns a feed reads from data: the model's features, and with targets its targets, sample
 * spaces and sample weights (names holds at least rk_feed_max_columns). Names point into the
 * model and the weights. */
int rk_feed_columns(const rk_feed *f, bool with_targets, const char **names);
int rk_feed_max_columns(const rk_ranking_model *m);
/* The graph rows for `batch_rows` data rows with `negatives` in-batch negatives each:
 * batch_rows x (1 + negatives), checked. A row's negatives are drawn from the other rows of its
 * batch, so more than batch_rows - 1 would only repeat them: refused, naming `flag`. */
rk_status rk_feed_graph_rows(int64_t *out, int64_t batch_rows, int64_t negatives, const char *flag);
/* negatives > 0 needs features tagged item or item_id in the schema; tw NULL: defaults. */
rk_status rk_feed_init(rk_feed *f, const rk_ranking_model *m, const rk_schema *schema, int64_t negatives,
                       const rk_task_weights *tw, uint64_t seed);
void rk_feed_free(rk_feed *f);
/* Rows graph_rows / (1 + negatives) of data a graph of f's model takes per fill. */
int64_t rk_feed_batch_rows(const rk_feed *f);
/* Fill the graph's inputs from `batch` (at most rk_feed_batch_rows rows; columns found by name
 * once, and found again only when a batch's columns differ from the last one's),
 * `step` keys the choice of negatives. Ids beyond a table or a null target are errors naming the
 * column. */
rk_status rk_feed_fill(rk_feed *f, const rk_batch *batch, uint64_t step);

/* ---- optimizers (src/train/optim_set.c) ----------------------------------------------------- */
/* One optimizer over every parameter (wide NULL), or the Wide & Deep recipe's two: `wide` for
 * the wide part (rk_ranking_param_is_wide), `deep` for the rest. They step together. */
typedef struct {
  rk_optim opt[2];
  int n;
  int *which, *index;   /* per model parameter: its optimizer, and its place there */
} rk_optim_set;

rk_status rk_optim_set_init(rk_optim_set *s, const rk_ranking_model *m, const rk_optim_config *deep,
                            const rk_optim_config *wide);
rk_status rk_optim_set_step(rk_optim_set *s, double lr_factor);
int64_t rk_optim_set_steps(const rk_optim_set *s);
void rk_optim_set_set_steps(rk_optim_set *s, int64_t steps);
/* Model parameter `param`'s state: its slot count, and slot `slot` (numel floats) with its name. */
int rk_optim_set_slots(const rk_optim_set *s, int param);
float *rk_optim_set_slot(const rk_optim_set *s, int param, int slot, const char **name);
void rk_optim_set_free(rk_optim_set *s);

/* ---- model folders (src/train/model_dir.c) ------------------------------------------------- */
/* Writes <dir>/model.json, weights.safetensors, schema.pbtxt and .merlin/schema.json, and a copy
 * of workflow_dir as <dir>/workflow (when not NULL), into a temporary folder renamed into place.
 * extra: more keys for model.json ("flags", "training"), or NULL. */
rk_status rk_model_save(const char *dir, const rk_ranking_model *m, const rk_schema *schema, const char *workflow_dir,
                        const json_t *extra);
typedef struct {
  rk_ranking_model model;     /* a train graph of batch 1 owning the parameters */
  rk_schema schema;
  json_t *meta;               /* model.json */
} rk_saved_model;
rk_status rk_model_load(rk_saved_model *out, const char *dir);
/* Whether the data at data_path (named by `flag` in messages) was transformed by the workflow the
 * model's training data was (their fingerprints, src/etl/fingerprint.c): a mismatch is an error
 * naming both (a warning when `allow`); data without a fingerprint, from other tools, is accepted
 * with a warning; a model without one checks nothing. */
rk_status rk_model_check_workflow(const rk_saved_model *sm, const char *data_path, const char *flag, bool allow);
void rk_saved_model_free(rk_saved_model *s);
/* Parameter values to and from a safetensors file (every parameter by name, shapes checked). */
/* opts (may be NULL): each parameter's optimizer state too, as "<param>/<slot>" (checkpoints). */
rk_status rk_model_write_weights(const char *path, const rk_ranking_model *m, const rk_optim_set *opts,
                                 const char *const *meta_keys, const char *const *meta_values, int nmeta);
rk_status rk_model_read_weights(const char *path, rk_ranking_model *m, rk_optim_set *opts);
/* model.json's "task_weights" (the loss weights, positive weights and sample spaces a model was
 * trained with, which evaluation reuses), and back (strings point into j). */
json_t *rk_task_weights_to_json(const rk_task_weights *tw, const rk_ranking_model *m);
rk_status rk_task_weights_from_json(rk_task_weights *tw, const rk_ranking_model *m, const json_t *j);
/* model.json's "model" object from a configuration, and back. */
json_t *rk_ranking_config_to_json(const rk_ranking_config *c);
rk_status rk_ranking_config_from_json(rk_ranking_config *c, const json_t *j, const char *label);
/* Free what rk_ranking_config_from_json allocated (its lists). */
void rk_ranking_config_free_lists(rk_ranking_config *c);
/* The architecture of the model folder `dir` (its model.json), for `train --load_model_path`:
 * the weights' shapes follow it, whatever the flags say. The training choices (dropout, L2,
 * initialisation, seed) come from `flags`. `differ` gets each key of model.json's "model" whose
 * value in `flags` differs, with both values ("mlp_layers [16,8] (flags: [128,64,32]); ..."; empty
 * when none), for a note. Free `out`
 * with rk_ranking_config_free_lists. */
rk_status rk_model_read_architecture(const char *dir, const rk_ranking_config *flags, rk_ranking_config *out,
                                     char *differ, size_t differ_size);

/* ---- evaluation and prediction (src/train/evaluate.c) -------------------------------------- */
typedef struct {
  const char *path;           /* a Parquet file or folder */
  int64_t batch_size;
  int64_t negatives;          /* in-batch negatives (eval) */
  const rk_task_weights *tw;  /* for the losses and sample spaces; NULL: defaults */
  uint64_t seed;
  bool keep_predictions;      /* fill prob/label for reports */
  const char *baseline_prefix;   /* NULL, or the prefix of columns of true probabilities (p_ for the
                                 p_<target> columns of `reckon synth --emit_truth` data) scored
                                 alongside each task that has one, on the task's rows:
                                 "baseline_auc" ("<task>/binary_output/baseline_auc"); under a
                                 sample space s, p_<task> / p_<s> (the probability given s) */
  const char *group_column;   /* NULL, or a column grouping rows (display_id): "map" = MAP@map_k of
                                 the first task's probabilities within each group (rk_map_metrics) */
  const char *leak_column;    /* with group_column: "map_with_leak" ranks by probability + this column */
  int map_k;                  /* 0: 12, the recipe's */
  int64_t max_batches;        /* 0: every row; else only the first batches (the recipe's --eval_steps) */
} rk_eval_options;

typedef struct {
  json_t *metrics;            /* one task: "loss", "auc", "prauc", "logloss", "precision", "recall",
                                 "binary_accuracy" | "loss", "root_mean_squared_error", "mae";
                                 several: "<task>/binary_output/auc" ..., "<task>/binary_output_loss",
                                 "<task>/regression_output/root_mean_squared_error", "auc_avg", "loss" */
  int64_t rows;
  float *prob, *label;        /* when keep_predictions: (rows) each */
} rk_eval_result;

rk_status rk_evaluate(const rk_ranking_model *m, const rk_schema *schema, const rk_eval_options *o,
                      rk_eval_result *out);
void rk_eval_result_free(rk_eval_result *r);

typedef struct {
  const char *path;           /* data to predict on */
  const char *output;         /* a file (.parquet, .csv, .tsv) or a folder (part_0.parquet) */
  const char *format;         /* parquet|csv|tsv, or NULL: from the output's extension */
  const char *const *keep;    /* columns copied next to the predictions */
  int n_keep;
  int64_t batch_size;
  bool overwrite;             /* replace an output reckon did not write (--overwrite) */
} rk_predict_options;

/* Writes `<target>/binary_output` (probabilities) or `<target>/regression_output`, one per task. */
rk_status rk_predict(const rk_ranking_model *m, const rk_predict_options *o, int64_t *rows);

/* ---- training (src/train/trainer.c) -------------------------------------------------------- */
/* Whether a run continues from its checkpoint folder. */
typedef enum {
  RK_RESUME_NEVER,      /* start over */
  RK_RESUME_ASKED,      /* --resume: from the checkpoint, with a note when there is none */
  RK_RESUME_IMPLICIT,   /* from the checkpoint when there is one, silently (TensorFlow's estimators) */
} rk_resume;

typedef struct {
  const char *train_path, *eval_path;       /* eval optional */
  const char *output_path;                  /* logs, metrics.json, report.html, checkpoint/ */
  const char *save_model_path;              /* NULL: not saved */
  const char *workflow_path;                /* NULL: <train_path>/../workflow when it exists */
  const char *load_model_path;              /* NULL, or a model folder whose weights start the run */
  const char *const *tasks;                 /* target names, or the one item "all" */
  int n_tasks;
  const char *const *ignore_tasks;          /* left out of "all" */
  int n_ignore_tasks;
  rk_ranking_config model;
  rk_optim_kind optimizer;
  double lr, lr_decay_rate;                 /* decay 0: a constant rate */
  int64_t lr_decay_steps;                   /* staircase: lr * rate^floor(step / steps) */
  rk_task_weights tw;                       /* by task name order of `tasks` below */
  const char *const *sample_space_by_task;  /* parallel to tasks (NULL or "" = every row) */
  const char *const *loss_weight_keys;      /* --mtl_loss_weight_<task> */
  const double *loss_weight_values;
  int n_loss_weights;
  const char *const *pos_weight_keys;       /* --mtl_pos_class_weight_<task> */
  const double *pos_weight_values;
  int n_pos_weights;
  float positive_class_weight;              /* --stl_positive_class_weight: every binary task's default */
  const char *sample_weight_column;
  const char *const *task_weight_column_keys;   /* --mtl_sample_weight_column_<task> COL */
  const char *const *task_weight_column_values;
  int n_task_weight_columns;
  int64_t train_batch_size, eval_batch_size;
  int64_t epochs;
  int64_t steps_per_epoch;                  /* 0: every batch */
  bool shuffle;
  int64_t train_metrics_steps;              /* batch AUC etc. every N steps */
  int64_t log_every;                        /* --metrics_log_frequency */
  int64_t negatives_train, negatives_eval;
  int64_t checkpoint_every;                 /* 0: none */
  const char *checkpoint_dir;               /* NULL: <output_path>/checkpoint */
  double checkpoint_secs;                   /* also a checkpoint when this long since the last (0: never) */
  int64_t max_steps;                        /* stop after this many steps in all (0: the epochs decide) */
  int64_t throughput_after;                 /* > 0: also report samples/s over the steps after this many
                                               ("train.throughput_after_warmup", the recipe's benchmark) */
  bool eval_every_epoch;                    /* evaluate after each epoch too (DLLogger step [epoch]) */
  const char *eval_group_column;            /* rk_eval_options.group_column: MAP@12 by this column */
  const char *eval_leak_column;             /* rk_eval_options.leak_column */
  const char *dllogger_path;                /* NULL: <output_path>/log.json */
  /* Optimizers other than `optimizer` at `lr` (n_groups 0: not set): every parameter but the
   * wide part's by deep_optim, the wide part's by wide_optim (the Wide & Deep recipe). */
  rk_optim_config deep_optim, wide_optim;
  rk_resume resume;
  bool tensorboard;
  const json_t *flags;                      /* every flag's value, for log.json and model.json */
  /* prediction after training */
  const char *predict_path, *predict_output_path, *predict_output_format;
  const char *const *predict_keep;
  int n_predict_keep;
  bool overwrite;                           /* replace outputs reckon did not write (--overwrite) */
} rk_train_config;

void rk_train_config_default(rk_train_config *c);
/* *result: {"metrics": {...}, "samples_per_s": x, "steps": n, ...} (also in metrics.json). */
rk_status rk_train(const rk_train_config *c, json_t **result);
/* The names a run adds to --output_path (NULL-terminated); whatever else the folder holds is left alone. */
extern const char *const rk_train_output_names[];

#ifdef __cplusplus
}
#endif
#endif /* RECKON_TRAINER_H */
