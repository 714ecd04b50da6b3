/*
 * reckon/trainer.h: training runs of ranking models and their evaluation.
 *
 *   rk_train        data (a folder of Parquet parts and its Merlin schema) -> a trained model,
 *                   its eval metrics, logs (train_log.jsonl/.csv, DLLogger log.json, TensorBoard),
 *                   report.html, checkpoints, and optionally a saved model folder
 *   rk_evaluate     metrics of a model on a dataset
 *
 * What serving needs without training (the feed, model folders, prediction) is reckon/models.h's.
 */
#ifndef RECKON_TRAINER_H
#define RECKON_TRAINER_H

#include <jansson.h>

#include "reckon/data.h"
#include "reckon/dist.h"
#include "reckon/models.h"
#include "reckon/optim.h"
#include "reckon/schema.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Dense gradient buckets across ranks, in MB (PyTorch DDP's bucket_cap_mb default). */
#define RK_BUCKET_CAP_MB_DEFAULT 25.0

/* ---- evaluation (src/train/evaluate.c) ----------------------------------------------------- */
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
  rk_dist *dist;              /* NULL: one process. Else every rank of it calls rk_evaluate: batch b is
                                 scored by rank b % ranks, rank 0 adds every batch's rows in order (the
                                 bits of one process) and every rank gets its metrics; prob/label and
                                 the log of each rank's share are rank 0's */
  /* NULL, or called once a batch's inputs are filled, before its forward: a table sharded over
   * ranks fetches the rows the batch looks up (src/train/run_shards.c). Over ranks (dist) every
   * rank calls it for every batch, in order: the one scoring it with its graph, the others with
   * NULL, so the fetch, a collective, pairs up */
  rk_status (*before_forward)(void *ctx, const rk_graph *g);
  void *before_forward_ctx;
} rk_eval_options;

typedef struct {
  json_t *metrics;            /* one task: "loss", "auc", "prauc", "logloss", "precision", "recall",
                                 "binary_accuracy" | "loss", "root_mean_squared_error", "mae";
                                 several: "<task>/binary_output/auc" ..., "<task>/binary_output_loss",
                                 "<task>/regression_output/root_mean_squared_error", "auc_avg", "loss" */
  int64_t rows;
  float *prob, *label;        /* when keep_predictions: (rows) each */
} rk_eval_result;

rk_status rk_evaluate(const rk_model *m, const rk_schema *schema, const rk_eval_options *o,
                      rk_eval_result *out);
void rk_eval_result_free(rk_eval_result *r);

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
  int64_t train_batch_size, eval_batch_size;   /* train: the global batch, rows per step over all ranks */
  /* Data parallelism (docs/distributed.md): the ranks (NULL: one process), and the rows of one
   * piece of the global batch (0: the global batch / the ranks). Pieces are fixed by the run, not
   * by the ranks: the same global batch and piece size give the same weights on 1, 2 or 4 ranks. */
  rk_dist *dist;
  int64_t micro_batch_size;
  /* Across ranks the dense gradients travel in buckets of about this many MB, each sent while
   * backward still runs (docs/distributed.md, "Overlap"); 0: RK_BUCKET_CAP_MB_DEFAULT. */
  double bucket_cap_mb;
  /* Embedding tables sharded by rows over the ranks (reckon/shard.h): "auto" (those of
   * shard_threshold_mb MiB or more), "none", "all" or column names (NULL: "auto"). */
  const char *shard_tables;
  double shard_threshold_mb;
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
