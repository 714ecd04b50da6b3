/*
 * `reckon train`, `reckon evaluate`, `reckon predict`: the flags of Merlin's quick-start
 * ranking_train_eval.py (its newer and older names), mapped onto rk_train (src/train/).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/commands.h"
#include "cli/dist_start.h"
#include "reckon/trainer.h"

#define TRAIN_DATA_FLAGS(X)                                                                                               \
  X(train_data_path,     STRING, NULL,   "DIR",  "training data: a folder of Parquet parts with its schema, as `reckon preprocess` writes train/") \
  X(train_path,          ALIAS,  "train_data_path", NULL, NULL)                                                      \
  X(eval_data_path,      STRING, NULL,   "DIR",  "evaluation data (same layout); evaluated after training")          \
  X(eval_path,           ALIAS,  "eval_data_path", NULL, NULL)                                                       \
  X(predict_data_path,   STRING, NULL,   "DIR",  "data to predict on after training (see --predict_output_path)")    \
  X(predict,             BOOL,   "false", NULL,  "predict after training: on --predict_data_path, else on the eval data") \
  X(predict_output_path, STRING, NULL,   "PATH", "predictions: a .parquet/.csv/.tsv file or a folder (default <output_path>/predictions)") \
  X(predict_output_format, CHOICE, NULL, "parquet|csv|tsv", "format of the predictions (default: from the path, else parquet)") \
  X(predict_output_keep_cols, LIST, "",  "C,...", "columns of the input copied next to the predictions")          \
  X(output_path,         STRING, "./output/", "DIR", "logs, metrics.json, report.html and checkpoints")            \
  X(save_model_path,     STRING, NULL,   "DIR",  "save the trained model: model.json, weights.safetensors, schema, workflow") \
  X(save_trained_model_path, ALIAS, "save_model_path", NULL, NULL)                                                 \
  X(overwrite,           BOOL,   "false", NULL,  "replace output folders and files that reckon did not write (without it they are refused)") \
  X(load_model_path,     STRING, NULL,   "DIR",  "start from a saved model's weights (same architecture and schema)") \
  X(workflow_path,       STRING, NULL,   "DIR",  "preprocessing workflow copied into the saved model (default <train_data_path>/../workflow when it exists)") \
  X(tasks,               LIST,   "all",  "T,...", "targets to train: names from the schema, or all")               \
  X(ignore_tasks,        LIST,   "",     "T,...", "targets left out of --tasks all")

/* The model's flags come from its settings table (RK_RANKING_SETTINGS in reckon/models.h), between
 * these two lists; then the training run's. */
#define TRAIN_RUN_FLAGS(X)                                                                                           \
  X(stl_positive_class_weight, FLOAT, "1.0", "W > 0", "weight of the positive examples in the loss (binary targets)") \
  X(optimizer,           CHOICE, "adam", "adam|adagrad|sgd", "optimizer (Keras' constants; embedding tables are updated lazily)") \
  X(lr,                  FLOAT,  "1e-4", "LR > 0", "learning rate")                                                 \
  X(lr_decay_rate,       FLOAT,  "0.99", "R in [0, 1]", "staircase decay: lr * R^floor(step / --lr_decay_steps); 0 = constant") \
  X(lr_decay_steps,      INT,    "100",  "N >= 1", "steps per decay")                                               \
  X(train_batch_size,    INT,    "1024", "N in [1, 2^28]", "rows per training step on each rank (under mpirun the global batch is N x the ranks)") \
  X(micro_batch_size,    INT,    "0",    "M in [0, 2^28]", "rows per piece of the global batch, whose gradients are summed in a fixed tree (0: --train_batch_size); the same global batch and M give the same weights on any number of ranks") \
  X(bucket_cap_mb,       FLOAT,  "25",   "MB > 0", "under mpirun, the dense gradients travel in buckets of about MB megabytes (2^20 bytes), each sent while backward still runs (PyTorch DDP's bucket_cap_mb); the weights do not depend on it") \
  X(shard_tables,        STRING, "auto", "auto|none|all|COL,...", "embedding tables sharded by rows over the ranks under mpirun, so a table larger than one machine's memory trains: auto (those of --shard_threshold_mb or more), none, all, or the tables of these columns; one process shards nothing") \
  X(shard_threshold_mb,  FLOAT,  "1024", "MB >= 0", "--shard_tables auto: the size (rows x dim x 4 bytes, in MiB) from which a table is sharded") \
  X(eval_batch_size,     INT,    "1024", "N in [1, 2^28]", "evaluation/prediction rows per batch (at most the data's)") \
  X(epochs,              INT,    "1",    "N >= 1", "passes over the training data")                                 \
  X(train_steps_per_epoch, INT,  NULL,   "N >= 1", "steps per epoch (default: every batch)")                        \
  X(shuffled_train,      BOOL,   "true", NULL,   "shuffle the training data each epoch (files, row groups and rows)") \
  X(train_metrics_steps, INT,    "1",    "N >= 1", "compute train metrics on every N-th step")                      \
  X(metrics_log_frequency, INT,  "50",   "N >= 1", "log a row every N steps")                                       \
  X(in_batch_negatives_train, INT, "0",  "N in [0, 4096]", "per training row, N negatives: its item features from another row of the batch, target 0") \
  X(in_batch_negatives_eval, INT, "0",   "N in [0, 4096]", "the same for evaluation")                               \
  X(log_to_tensorboard,  BOOL,   "false", NULL,  "write TensorBoard event files to <output_path>/tensorboard")      \
  X(checkpoint_every_steps, INT, "0",    "N >= 0", "write <output_path>/checkpoint every N steps (atomically)")    \
  X(resume,              BOOL,   "false", NULL,  "continue from <output_path>/checkpoint")                          \
  X(tasks_sample_space,  LIST,   "",     "C,...", "per task (in --tasks order), a column: the task's loss and metrics use only rows where it is 1 (empty: every row), e.g. ,click,click,click") \
  X(mtl_loss_weight_,    FAMILY, NULL,   "task: W >= 0", "weight of a task's loss (default 1)")                     \
  X(mtl_pos_class_weight_, FAMILY, NULL, "task: W > 0", "weight of a binary task's positive examples (default 1)") \
  X(sample_weight_column, STRING, NULL,  "C",    "a column multiplying every task's example weights")              \
  X(mtl_sample_weight_column_, FAMILY_TEXT, NULL, "task", "a column multiplying one task's example weights")     \
  X(mtl_tower_layers_,   FAMILY_TEXT, NULL, "task: N,... in [1, 2^16]", "units of one task's tower layers (default: --tower_layers)") \
  X(log_to_wandb,        IGNORED, NULL,  NULL,   "reckon logs to train_log.jsonl/.csv, log.json and TensorBoard")  \
  X(wandb_project,       IGNORED, NULL,  NULL,   "reckon does not log to Weights & Biases")                        \
  X(wandb_entity,        IGNORED, NULL,  NULL,   "reckon does not log to Weights & Biases")                        \
  X(wandb_exp_group,     IGNORED, NULL,  NULL,   "reckon does not log to Weights & Biases")                        \
  X(validation_steps,    IGNORED, NULL,  NULL,   "evaluation always reads the whole eval set")                     \
  X(multihot_max_seq_length, IGNORED, NULL, NULL, "a list (multi-hot) column is read ragged, up to its schema's value_count max")

typedef struct {
  TRAIN_DATA_FLAGS(RK_FLAG_FIELD)
  RK_RANKING_SETTINGS(RK_SETTING_FLAG_FIELD)
  TRAIN_RUN_FLAGS(RK_FLAG_FIELD)
} train_opts;
#define RK_FLAG_STRUCT train_opts
static const rk_flag train_flags[] = {TRAIN_DATA_FLAGS(RK_FLAG_ROW) RK_RANKING_SETTINGS(RK_SETTING_FLAG_ROW)
                                          TRAIN_RUN_FLAGS(RK_FLAG_ROW) RK_FLAG_END};
#undef RK_FLAG_STRUCT

static const char *or_null(const char *s) { return s && *s ? s : NULL; }

static void print_metrics(const json_t *metrics) {
  const char *key;
  json_t *v;
  printf("eval:");
  json_object_foreach((json_t *)metrics, key, v) {
    if (json_is_real(v)) printf(" %s=%.6g", key, json_real_value(v));
    else if (json_is_integer(v)) printf(" %s=%lld", key, (long long)json_integer_value(v));
  }
  printf("\n");
}

/* Drop empty items (trailing commas). */
static int compact(rk_strlist *l) {
  int w = 0;
  for (int i = 0; i < l->n; i++)
    if (l->items[i][0]) l->items[w++] = l->items[i];
  return l->n = w;
}

/* The model's settings from their flags: the ranking family's own kinds (the shared ones: flags.h). */
#define RK_SETTING_FROM_FLAG_STRINGS(c, field, v, meta) compact(&v), c->field = v.items, c->n_##field = v.n;
#define RK_SETTING_FROM_FLAG_MODEL(c, field, v, meta) RK_TRY(rk_model_kind_parse(v, &c->field));
#define RK_SETTING_FROM_FLAG_ACT(c, field, v, meta) RK_TRY(rk_act_parse(v, &c->field));
#define RK_SETTING_FROM_FLAG_INIT(c, field, v, meta) RK_TRY(rk_init_kind_parse(v, &c->field));
#define FROM_FLAG(kind, field, flag, section, meta, help, ...) RK_SETTING_FROM_FLAG_##kind(c, field, o->flag, meta)

static rk_status model_from_flags(rk_ranking_config *c, train_opts *o) {
  RK_RANKING_SETTINGS(FROM_FLAG)
  return RK_OK;
}

/* --mtl_tower_layers_<task> N,...: each task's own tower (the model checks the task names); the
 * lists live in the parse. */
static rk_status task_towers_from_flags(rk_ranking_config *c, const rk_flag_family *f) {
  rk_task_tower *towers = rk_calloc((size_t)f->n + 1, sizeof *towers);
  if (!towers) return RK_ENOMEM;
  c->task_towers = towers;
  c->n_task_towers = f->n;
  for (int k = 0; k < f->n; k++) {
    towers[k] = (rk_task_tower){f->keys[k], f->lists[k].items, f->lists[k].n};
    if (!f->lists[k].n)
      return rk_error(RK_EUSAGE, "invalid value '%s' for --mtl_tower_layers_%s: expected layer sizes, N,...", f->texts[k],
                      f->keys[k]);
  }
  return RK_OK;
}

static int run_train(const rk_flag_parse *parse, void *arg) {
  train_opts *o = arg;
  if (parse->npositional)
    return rk_cli_fail(rk_error(RK_EUSAGE, "'reckon train' takes no positional arguments (got '%s')", parse->positional[0]));
  rk_train_config c;
  rk_train_config_default(&c);
  c.train_path = or_null(o->train_data_path);
  c.eval_path = or_null(o->eval_data_path);
  c.output_path = o->output_path;
  c.overwrite = o->overwrite;
  c.save_model_path = or_null(o->save_model_path);
  c.workflow_path = or_null(o->workflow_path);
  c.load_model_path = or_null(o->load_model_path);
  /* --tasks all minus --ignore_tasks is resolved against the schema by rk_train. Sample spaces
   * keep their positions (an empty first item is "every row" for the first task). */
  compact(&o->tasks);
  c.tasks = o->tasks.items;
  c.n_tasks = o->tasks.n;
  if (o->tasks_sample_space.n) {
    bool all = o->tasks.n == 1 && strcmp(o->tasks.items[0], "all") == 0;
    if (all || o->tasks_sample_space.n != o->tasks.n)
      return rk_cli_fail(rk_error(RK_EUSAGE, "--tasks_sample_space has %d entries for %s; give one per task, in --tasks order",
                                  o->tasks_sample_space.n, all ? "--tasks all (name the tasks)" : "the tasks"));
    c.sample_space_by_task = o->tasks_sample_space.items;
  }
  c.loss_weight_keys = o->mtl_loss_weight_.keys;
  c.loss_weight_values = o->mtl_loss_weight_.values;
  c.n_loss_weights = o->mtl_loss_weight_.n;
  c.pos_weight_keys = o->mtl_pos_class_weight_.keys;
  c.pos_weight_values = o->mtl_pos_class_weight_.values;
  c.n_pos_weights = o->mtl_pos_class_weight_.n;
  c.sample_weight_column = or_null(o->sample_weight_column);
  c.task_weight_column_keys = o->mtl_sample_weight_column_.keys;
  c.task_weight_column_values = o->mtl_sample_weight_column_.texts;
  c.n_task_weight_columns = o->mtl_sample_weight_column_.n;
  compact(&o->ignore_tasks);
  c.ignore_tasks = o->ignore_tasks.items;
  c.n_ignore_tasks = o->ignore_tasks.n;
  rk_status st = model_from_flags(&c.model, o);
  if (st == RK_OK) st = task_towers_from_flags(&c.model, &o->mtl_tower_layers_);
  if (st == RK_OK) st = rk_optim_kind_parse(o->optimizer, &c.optimizer);
  if (st != RK_OK) {
    rk_free((void *)c.model.task_towers);
    return rk_cli_fail(st);
  }
  c.lr = o->lr;
  c.lr_decay_rate = o->lr_decay_rate;
  c.lr_decay_steps = o->lr_decay_steps;
  c.positive_class_weight = (float)o->stl_positive_class_weight;
  c.train_batch_size = o->train_batch_size;
  c.eval_batch_size = o->eval_batch_size;
  c.epochs = o->epochs;
  c.steps_per_epoch = rk_flags_given(parse, "train_steps_per_epoch") ? o->train_steps_per_epoch : 0;
  c.shuffle = o->shuffled_train;
  c.train_metrics_steps = o->train_metrics_steps;
  c.log_every = o->metrics_log_frequency;
  c.negatives_train = o->in_batch_negatives_train;
  c.negatives_eval = o->in_batch_negatives_eval;
  c.checkpoint_every = o->checkpoint_every_steps;
  c.resume = o->resume ? RK_RESUME_ASKED : RK_RESUME_NEVER;
  c.tensorboard = o->log_to_tensorboard;
  c.predict_path = or_null(o->predict_data_path);
  if (!c.predict_path && o->predict) c.predict_path = c.eval_path;
  if (o->predict && !c.predict_path) {
    rk_free((void *)c.model.task_towers);
    return rk_cli_fail(rk_error(RK_EUSAGE, "--predict needs --predict_data_path or --eval_data_path"));
  }
  c.predict_output_path = or_null(o->predict_output_path);
  c.predict_output_format = or_null(o->predict_output_format);
  compact(&o->predict_output_keep_cols);
  c.predict_keep = o->predict_output_keep_cols.items;
  c.n_predict_keep = o->predict_output_keep_cols.n;
  rk_dist *dist;
  int code = rk_cli_dist_start(&dist, parse);
  if (code != RK_EXIT_OK) {
    rk_free((void *)c.model.task_towers);
    return code;
  }
  /* Under mpirun: --train_batch_size per rank, as the reference's per-device batch. */
  c.dist = dist;
  c.micro_batch_size = o->micro_batch_size > 0 ? o->micro_batch_size : o->train_batch_size;
  c.bucket_cap_mb = o->bucket_cap_mb;
  c.shard_tables = o->shard_tables;
  c.shard_threshold_mb = o->shard_threshold_mb;
  st = rk_size_mul(&c.train_batch_size, o->train_batch_size, rk_dist_size(dist), "--train_batch_size x the ranks");
  json_t *flags = rk_flags_to_json(parse);
  c.flags = flags;
  json_t *result = NULL;
  if (st == RK_OK) st = rk_train(&c, &result);
  rk_free((void *)c.model.task_towers);
  json_decref(flags);
  if (st != RK_OK) return rk_cli_dist_fail(dist, st);
  bool rank0 = rk_dist_rank(dist) == 0;
  rk_cli_dist_end(dist);
  if (!parse->globals.quiet && rank0) {
    json_t *t = json_object_get(result, "train"), *tasks = json_object_get(result, "tasks");
    char names[512] = "";
    for (size_t i = 0; i < json_array_size(tasks); i++)
      snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "",
               json_string_value(json_array_get(tasks, i)));
    printf("trained %s on %s: %lld steps, %lld samples in %.2f s (%.0f samples/s)\n",
           json_string_value(json_object_get(result, "model")), names,
           (long long)json_integer_value(json_object_get(t, "steps")),
           (long long)json_integer_value(json_object_get(t, "samples")), json_number_value(json_object_get(t, "seconds")),
           json_number_value(json_object_get(t, "samples_per_s")));
    json_t *m = json_object_get(result, "metrics");
    if (json_object_size(m)) print_metrics(m);
    printf("outputs in %s (metrics.json, train_log.jsonl, report.html)%s%s\n", c.output_path,
           c.save_model_path ? "; model saved to " : "", c.save_model_path ? c.save_model_path : "");
  }
  json_decref(result);
  return RK_EXIT_OK;
}

const rk_command rk_cmd_train = {
    .name = "train",
    .usage = "reckon train --train_data_path DIR [--eval_data_path DIR] --model NAME [flags]",
    .summary = "train a ranking model (mlp, dcn, dlrm, wide_n_deep, deepfm) or a multi-task one (mmoe, cgc, ple) on "
               "preprocessed data",
    .details =
        "The flags are those of Merlin's quick-start `ranking_train_eval.py` (newer and older names), with its "
        "defaults, so its commands run unchanged with `reckon train` in place of `python ranking_train_eval.py`. "
        "The model is built from the schema beside the training data: one embedding table per categorical "
        "feature, continuous features as scalars, the target named by `--tasks`.\n\n"
        "Output under `--output_path`: `metrics.json` (final eval and training throughput), `train_log.jsonl` "
        "and `train_log.csv` (a row per logged step), `log.json` (DLLogger lines), `tensorboard/` (with "
        "`--log_to_tensorboard`), `report.html` (plots, ROC and calibration), and `checkpoint/` while a run "
        "with `--checkpoint_every_steps` is under way; they replace the previous run's together when the run "
        "succeeds; other files in `--output_path` are left alone, and a file of those names, or a "
        "`--save_model_path` or predictions folder, that reckon did not write is refused unless `--overwrite` "
        "is given. The same seed and data give bit-identical weights for "
        "any `--threads`, and a run resumed with `--resume` ends where an uninterrupted one does. "
        "See docs/train.md.",
    .flags = train_flags,
    .opts_size = sizeof(train_opts),
    .run = run_train,
};

/* ---- evaluate and predict ---- */

#define EVALUATE_FLAGS(X)                                                                                  \
  X(load_model_path,   STRING, NULL,  "DIR", "the model folder (--save_model_path of reckon train)")       \
  X(eval_data_path,    STRING, NULL,  "DIR", "data to evaluate on (Parquet parts with the model's columns)") \
  X(eval_path,         ALIAS,  "eval_data_path", NULL, NULL)                                              \
  X(eval_batch_size,   INT,    "1024", "N in [1, 2^28]", "rows per batch (at most the data's rows)")      \
  X(in_batch_negatives_eval, INT, "0", "N in [0, 4096]", "per row, N negatives from other rows of the batch") \
  X(stl_positive_class_weight, FLOAT, NULL, "W > 0", "positive weight in the reported loss (default: the training run's)") \
  X(random_seed,       INT,    "42",  "S >= 0", "seed of the negatives")                                    \
  X(baseline_prefix,   STRING, NULL,  "P",   "also score columns <P><task> of true probabilities (p_ for `reckon synth --emit_truth` data passed through preprocessing as control features): the ceiling, baseline_auc (under a sample space s, p_<task> / p_<s>)") \
  X(output_path,       STRING, NULL,  "DIR", "also write the metrics to <DIR>/metrics.json")            \
  X(allow_workflow_mismatch, BOOL, "false", NULL, "evaluate data transformed by another workflow than the model's training data (a warning instead of an error)")

typedef struct {
  EVALUATE_FLAGS(RK_FLAG_FIELD)
} evaluate_opts;
#define RK_FLAG_STRUCT evaluate_opts
static const rk_flag evaluate_flags[] = {EVALUATE_FLAGS(RK_FLAG_ROW) RK_FLAG_END};
#undef RK_FLAG_STRUCT

static int run_evaluate(const rk_flag_parse *parse, void *arg) {
  evaluate_opts *o = arg;
  if (!o->load_model_path) return rk_cli_fail(rk_error(RK_EUSAGE, "--load_model_path is required"));
  if (!o->eval_data_path) return rk_cli_fail(rk_error(RK_EUSAGE, "--eval_data_path is required"));
  rk_saved_model sm;
  rk_status st = rk_model_load(&sm, o->load_model_path);
  if (st != RK_OK) return rk_cli_fail(st);
  /* The weights and sample spaces of training; --stl_positive_class_weight overrides a single task's. */
  rk_task_weights tw;
  rk_task_weights_from_json(&tw, sm.model, json_object_get(sm.meta, "task_weights"));
  if (rk_flags_given(parse, "stl_positive_class_weight")) tw.positive_weight[0] = (float)o->stl_positive_class_weight;
  /* Under mpirun every rank scores its share of the batches and rank 0 writes (rk_evaluate). */
  rk_dist *dist;
  int code = rk_cli_dist_start(&dist, parse);
  if (code != RK_EXIT_OK) {
    rk_saved_model_free(&sm);
    return code;
  }
  bool rank0 = rk_dist_rank(dist) == 0;
  rk_eval_options eo = {o->eval_data_path, o->eval_batch_size, o->in_batch_negatives_eval, &tw,
                        (uint64_t)o->random_seed, false, o->baseline_prefix, NULL, NULL, 0, 0, dist, NULL, NULL};
  rk_eval_result ev;
  st = rk_model_check_workflow(&sm, o->eval_data_path, "--eval_data_path", o->allow_workflow_mismatch);
  if (st == RK_OK) st = rk_evaluate(sm.model, &sm.schema, &eo, &ev);
  bool evaluated = st == RK_OK;
  if (st == RK_OK && o->output_path && rank0) {
    st = rk_mkdir_p(o->output_path);
    size_t n = strlen(o->output_path) + 16;
    char *p = rk_malloc(n);
    if (st == RK_OK && !p) st = RK_ENOMEM;
    if (st == RK_OK) {
      snprintf(p, n, "%s/metrics.json", o->output_path);
      json_t *doc = json_pack("{ss sO}", "task", sm.model->out.targets[0], "metrics", ev.metrics);
      char *text = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
      st = text ? rk_write_file_atomic(p, text, strlen(text)) : RK_ENOMEM;
      free(text);
      json_decref(doc);
    }
    rk_free(p);
  }
  if (st == RK_OK && !parse->globals.quiet && rank0) print_metrics(ev.metrics);
  if (evaluated) rk_eval_result_free(&ev);   /* also when writing metrics.json failed */
  rk_saved_model_free(&sm);
  if (st != RK_OK) return rk_cli_dist_fail(dist, st);
  rk_cli_dist_end(dist);
  return RK_EXIT_OK;
}

const rk_command rk_cmd_evaluate = {
    .name = "evaluate",
    .usage = "reckon evaluate --load_model_path DIR --eval_data_path DIR [flags]",
    .summary = "metrics of a saved model on a dataset",
    .details = "Prints the metrics `reckon train` reports (loss, auc, prauc, logloss, precision, recall, "
               "binary_accuracy; regression: loss, root_mean_squared_error, mae), computed exactly over every row. "
               "Under mpirun every rank scores its share of the batches and rank 0 computes and writes the metrics, "
               "the same bits as one process (docs/distributed.md).",
    .flags = evaluate_flags,
    .opts_size = sizeof(evaluate_opts),
    .run = run_evaluate,
};

#define PREDICT_FLAGS(X)                                                                                   \
  X(load_model_path,   STRING, NULL,  "DIR",  "the model folder (--save_model_path of reckon train)")      \
  X(predict_data_path, STRING, NULL,  "DIR",  "data to predict on (Parquet parts with the model's features)") \
  X(predict_output_path, STRING, NULL, "PATH", "a .parquet/.csv/.tsv file, or a folder (part_0.parquet)")   \
  X(predict_output_format, CHOICE, NULL, "parquet|csv|tsv", "output format (default: from the path, else parquet)") \
  X(predict_output_keep_cols, LIST, "", "C,...", "input columns copied next to the predictions")           \
  X(eval_batch_size,   INT,    "1024", "N in [1, 2^28]", "rows per batch (at most the data's rows)") \
  X(overwrite,         BOOL,   "false", NULL, "replace an output that reckon did not write (without it, it is refused)") \
  X(allow_workflow_mismatch, BOOL, "false", NULL, "predict on data transformed by another workflow than the model's training data (a warning instead of an error)")

typedef struct {
  PREDICT_FLAGS(RK_FLAG_FIELD)
} predict_opts;
#define RK_FLAG_STRUCT predict_opts
static const rk_flag predict_flags[] = {PREDICT_FLAGS(RK_FLAG_ROW) RK_FLAG_END};
#undef RK_FLAG_STRUCT

static int run_predict(const rk_flag_parse *parse, void *arg) {
  predict_opts *o = arg;
  if (rk_dist_launched())
    return rk_cli_fail(rk_error(RK_EUSAGE, "'reckon predict' runs as one process: start it without mpirun (one process "
                                           "writes the one predictions file; `mpirun reckon evaluate` splits scoring "
                                           "over ranks)"));
  if (!o->load_model_path) return rk_cli_fail(rk_error(RK_EUSAGE, "--load_model_path is required"));
  if (!o->predict_data_path) return rk_cli_fail(rk_error(RK_EUSAGE, "--predict_data_path is required"));
  if (!o->predict_output_path) return rk_cli_fail(rk_error(RK_EUSAGE, "--predict_output_path is required"));
  rk_saved_model sm;
  rk_status st = rk_model_load(&sm, o->load_model_path);
  if (st != RK_OK) return rk_cli_fail(st);
  compact(&o->predict_output_keep_cols);
  rk_predict_options po = {o->predict_data_path, o->predict_output_path, or_null(o->predict_output_format),
                           o->predict_output_keep_cols.items, o->predict_output_keep_cols.n, o->eval_batch_size,
                           o->overwrite, NULL, NULL};
  int64_t rows = 0;
  st = rk_model_check_workflow(&sm, o->predict_data_path, "--predict_data_path", o->allow_workflow_mismatch);
  if (st == RK_OK) st = rk_predict(sm.model, &po, &rows);
  if (st == RK_OK && !parse->globals.quiet) {
    printf("wrote %lld predictions (", (long long)rows);
    for (int t = 0; t < sm.model->out.n_tasks; t++)   /* the columns rk_predict writes: one per task */
      printf("%s%s/%s", t ? ", " : "", sm.model->out.targets[t],
             sm.model->out.regression[t] ? "regression_output" : "binary_output");
    printf(") to %s\n", o->predict_output_path);
  }
  rk_saved_model_free(&sm);
  return st == RK_OK ? RK_EXIT_OK : rk_cli_fail(st);
}

const rk_command rk_cmd_predict = {
    .name = "predict",
    .usage = "reckon predict --load_model_path DIR --predict_data_path DIR --predict_output_path PATH [flags]",
    .summary = "a saved model's predictions on a dataset",
    .details = "Writes one column per task of the model, `<target>/binary_output` (probabilities) or "
               "`<target>/regression_output`, in the input's row order, after the columns named by "
               "`--predict_output_keep_cols`.",
    .flags = predict_flags,
    .opts_size = sizeof(predict_opts),
    .run = run_predict,
};
