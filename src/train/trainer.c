/*
 * The training run: schema -> model -> epochs of (feed, forward, backward, optimizer step) ->
 * evaluation -> outputs. Everything a step does is a function of (seed, step), never of time or
 * threads, so a run resumed from a checkpoint ends with the same bits as one never stopped.
 *
 * Outputs under --output_path: train_log.jsonl and train_log.csv (one row per logged step),
 * log.json (DLLogger), tensorboard/ (with --log_to_tensorboard), metrics.json, report.html,
 * checkpoint/ (with --checkpoint_every_steps; removed when the run completes). The folder is
 * claimed and locked for the run (src/core/output.c); the logs, metrics and report are written
 * under temporary names and published together when the run succeeds, so a failed run (a full
 * disk, a bad flag found late) leaves the previous run's set whole.
 *
 * Data parallel (docs/distributed.md): under mpirun every rank builds the same model and trains
 * its pieces of each global batch (src/train/step_pieces.c); the gradients are summed over
 * pieces in one fixed tree, so every rank holds the same weights and the run ends with the bits
 * of a single process over the same pieces. Every rank scores its share of the eval batches and
 * rank 0 computes the metrics over all of them (rk_evaluate), exact. Rank 0 alone writes: logs,
 * checkpoints, metrics, the report and the model.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reckon/etl.h"
#include "reckon/metrics.h"
#include "reckon/parquet.h"
#include "reckon/train.h"
#include "reckon/trainer.h"
#include "train/run_shards.h"
#include "train/step_pieces.h"

void rk_train_config_default(rk_train_config *c) {
  memset(c, 0, sizeof *c);
  c->output_path = "./output/";
  rk_ranking_config_default(&c->model);
  c->optimizer = RK_OPTIM_ADAM;
  c->lr = 1e-4;
  c->lr_decay_rate = 0.99;
  c->lr_decay_steps = 100;
  c->positive_class_weight = 1.0f;
  c->train_batch_size = c->eval_batch_size = 1024;
  c->epochs = 1;
  c->shuffle = true;
  c->train_metrics_steps = 1;
  c->log_every = 50;
  c->shard_tables = "auto";
  c->shard_threshold_mb = 1024;
}

static json_t *number(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static char *path_in(const char *dir, const char *name) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *s = rk_malloc(n);
  if (s) snprintf(s, n, "%s%s%s", dir, dir[0] && dir[strlen(dir) - 1] == '/' ? "" : "/", name);
  return s;
}

/* Rank 0 of a data-parallel run, or the only process: the one that writes. */
static bool writes(const rk_train_config *c) { return !c->dist || rk_dist_rank(c->dist) == 0; }

/* The values a step sums beside the gradients (step_pieces.h), per piece: losses (the step's is
 * their mean), and the rows in two exact halves (a float holds integers to 2^24). */
enum { EXTRA_LOSS, EXTRA_REG, EXTRA_ROWS_HIGH, EXTRA_ROWS_LOW, EXTRA_TASK_LOSS };
#define ROWS_SPLIT 4096

static bool is_dir(const char *p) {
  struct stat sb;
  return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* ---- the task ---- */

/* The tasks: the targets named by --tasks (or every target for all, minus --ignore_tasks),
 * binary targets first, then regression targets, each in schema order; and their weights. */
typedef struct {
  int n;
  const char *names[RK_MAX_TASKS];
  bool regression[RK_MAX_TASKS];
  rk_task_weights tw;
} task_list;

static bool named(const char *const *list, int n, const char *name) {
  for (int k = 0; k < n; k++)
    if (strcmp(list[k], name) == 0) return true;
  return false;
}

static rk_status pick_tasks(const rk_train_config *c, const rk_schema *s, task_list *tl) {
  memset(tl, 0, sizeof *tl);
  rk_task_weights_default(&tl->tw);
  bool all = c->n_tasks == 0 || (c->n_tasks == 1 && strcmp(c->tasks[0], "all") == 0);
  char list[512] = "";
  for (int i = 0; i < s->n_cols; i++)
    if (rk_schema_column_has_tag(&s->cols[i], RK_TAG_TARGET))
      snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", list[0] ? ", " : "", s->cols[i].name);
  for (int k = 0; !all && k < c->n_tasks; k++) {
    const rk_schema_column *col = rk_schema_find(s, c->tasks[k]);
    if (!col || !rk_schema_column_has_tag(col, RK_TAG_TARGET))
      return rk_error(RK_EUSAGE, "--tasks names '%s', which is not a target in the schema (targets: %s)", c->tasks[k],
                      list[0] ? list : "none");
  }
  for (int pass = 0; pass < 2; pass++) {   /* binary, then regression */
    for (int i = 0; i < s->n_cols; i++) {
      const rk_schema_column *col = &s->cols[i];
      if (!rk_schema_column_has_tag(col, RK_TAG_TARGET)) continue;
      if (rk_schema_column_has_tag(col, RK_TAG_REGRESSION) != (pass == 1)) continue;
      if (all ? named(c->ignore_tasks, c->n_ignore_tasks, col->name) : !named(c->tasks, c->n_tasks, col->name)) continue;
      if (tl->n == RK_MAX_TASKS) return rk_error(RK_EUSAGE, "more than %d tasks", RK_MAX_TASKS);
      tl->regression[tl->n] = pass == 1;
      tl->names[tl->n++] = col->name;
    }
  }
  if (tl->n == 0)
    return rk_error(RK_EUSAGE, "--tasks all: the schema has no column tagged 'target'%s",
                    c->n_ignore_tasks ? " besides those of --ignore_tasks" : "");
  /* Weights by task name; a name that is not a task is a mistake worth reporting. */
  for (int t = 0; t < tl->n; t++) {
    tl->tw.positive_weight[t] = tl->n == 1 ? c->positive_class_weight : 1.0f;
    for (int k = 0; k < c->n_tasks && c->sample_space_by_task; k++)
      if (strcmp(c->tasks[k], tl->names[t]) == 0 && c->sample_space_by_task[k] && c->sample_space_by_task[k][0])
        tl->tw.sample_space[t] = c->sample_space_by_task[k];
  }
  const char *fam[2] = {"--mtl_loss_weight_", "--mtl_pos_class_weight_"};
  const char *const *keys[2] = {c->loss_weight_keys, c->pos_weight_keys};
  const double *vals[2] = {c->loss_weight_values, c->pos_weight_values};
  int counts[2] = {c->n_loss_weights, c->n_pos_weights};
  for (int f = 0; f < 2; f++) {
    for (int k = 0; k < counts[f]; k++) {
      int t = 0;
      while (t < tl->n && strcmp(tl->names[t], keys[f][k]) != 0) t++;
      if (t == tl->n) return rk_error(RK_EUSAGE, "%s%s: '%s' is not one of the tasks", fam[f], keys[f][k], keys[f][k]);
      if (f == 0) tl->tw.loss_weight[t] = (float)vals[f][k];
      else tl->tw.positive_weight[t] = (float)vals[f][k];
    }
  }
  for (int t = 0; t < tl->n; t++)
    if (tl->tw.sample_space[t] && rk_schema_find_index(s, tl->tw.sample_space[t]) < 0)
      return rk_error(RK_EUSAGE, "--tasks_sample_space names '%s' for task '%s', which the schema does not have",
                      tl->tw.sample_space[t], tl->names[t]);
  tl->tw.sample_weight_column = c->sample_weight_column;
  for (int k = 0; k < c->n_task_weight_columns; k++) {
    int t = 0;
    while (t < tl->n && strcmp(tl->names[t], c->task_weight_column_keys[k]) != 0) t++;
    if (t == tl->n)
      return rk_error(RK_EUSAGE, "--mtl_sample_weight_column_%s: '%s' is not one of the tasks", c->task_weight_column_keys[k],
                      c->task_weight_column_keys[k]);
    if (rk_schema_find_index(s, c->task_weight_column_values[k]) < 0)
      return rk_error(RK_EUSAGE, "--mtl_sample_weight_column_%s names '%s', which the schema does not have",
                      c->task_weight_column_keys[k], c->task_weight_column_values[k]);
    tl->tw.task_sample_weight[t] = c->task_weight_column_values[k];
  }
  if (c->sample_weight_column && rk_schema_find_index(s, c->sample_weight_column) < 0)
    return rk_error(RK_EUSAGE, "--sample_weight_column names '%s', which the schema does not have", c->sample_weight_column);
  return RK_OK;
}

/* ---- logs ---- */

typedef struct {
  FILE *jsonl, *csv;
  const char *jsonl_path, *csv_path;   /* their temporary names, for messages */
  rk_dllogger *dll;
  rk_tb_writer *tb;
  json_t *history;           /* every logged row, for checkpoints and the report */
  json_t *columns;           /* of train_log.csv */
} run_logs;

static const char *const binary_cols[] = {"auc", "prauc", "logloss", "precision", "recall", "binary_accuracy"};
static const char *const regression_cols[] = {"root_mean_squared_error", "mae"};

/* "<task>/binary_output" or "<task>/regression_output": Merlin's name of a task's output. */
static void output_name(char *buf, size_t size, const rk_model *m, int t) {
  snprintf(buf, size, "%s/%s", m->out.targets[t], m->out.regression[t] ? "regression_output" : "binary_output");
}

/* A task's train-metric key: plain for one task, "<task>/binary_output/<metric>" for several. */
static void metric_key(char *buf, size_t size, const rk_model *m, int t, const char *metric) {
  char out[300];
  output_name(out, sizeof out, m, t);
  if (m->out.n_tasks == 1) snprintf(buf, size, "%s", metric);
  else snprintf(buf, size, "%s/%s", out, metric);
}

static json_t *log_columns(const rk_model *m) {
  json_t *cols = json_pack("[ssssss]", "step", "epoch", "loss", "regularization_loss", "lr", "samples_per_s");
  char key[400], out[300];
  for (int t = 0; cols && t < m->out.n_tasks; t++) {
    bool reg = m->out.regression[t];
    output_name(out, sizeof out, m, t);
    if (m->out.n_tasks > 1) {
      snprintf(key, sizeof key, "%s_loss", out);
      json_array_append_new(cols, json_string(key));
    }
    for (int i = 0; i < (reg ? 2 : 6); i++) {
      metric_key(key, sizeof key, m, t, reg ? regression_cols[i] : binary_cols[i]);
      json_array_append_new(cols, json_string(key));
    }
  }
  for (int t = 0; cols && t < m->out.n_tasks; t++) {
    if (m->out.gate_probs[t] == RK_NO_VALUE) continue;
    output_name(out, sizeof out, m, t);
    int64_t E = rk_graph_value_shape(m->g, m->out.gate_probs[t])[1];
    for (int64_t e = 0; e < E; e++) {
      snprintf(key, sizeof key, "gate_%s_weight_%lld", out, (long long)e);
      json_array_append_new(cols, json_string(key));
    }
  }
  return cols;
}

static void csv_header(run_logs *l) {
  size_t i;
  json_t *c;
  json_array_foreach(l->columns, i, c) fprintf(l->csv, "%s%s", i ? "," : "", json_string_value(c));
  fputc('\n', l->csv);
}

static rk_status log_row(run_logs *l, const json_t *row, bool keep) {
  char *text = json_dumps(row, JSON_COMPACT | JSON_SORT_KEYS);
  if (!text) return RK_ENOMEM;
  fprintf(l->jsonl, "%s\n", text);
  free(text);
  size_t i;
  json_t *c;
  json_array_foreach(l->columns, i, c) {
    json_t *v = json_object_get(row, json_string_value(c));
    if (i) fputc(',', l->csv);
    if (json_is_integer(v)) fprintf(l->csv, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v)) fprintf(l->csv, "%.9g", json_real_value(v));
  }
  fputc('\n', l->csv);
  /* A full disk shows here, in the run's temporaries, never in the previous run's files. */
  if (fflush(l->jsonl) != 0 || ferror(l->jsonl))
    return rk_error(RK_EIO, "cannot write '%s': %s", l->jsonl_path, strerror(errno));
  if (fflush(l->csv) != 0 || ferror(l->csv)) return rk_error(RK_EIO, "cannot write '%s': %s", l->csv_path, strerror(errno));
  json_int_t step = json_integer_value(json_object_get(row, "step"));
  json_t *dstep = json_pack("[II]", json_integer_value(json_object_get(row, "epoch")), step);
  json_t *data = json_deep_copy(row);
  json_object_del(data, "step");
  json_object_del(data, "epoch");
  rk_status st = dstep && data ? rk_dllogger_log(l->dll, dstep, data) : RK_ENOMEM;
  json_decref(dstep);
  json_decref(data);
  const char *key;
  json_t *v;
  char tag[400];
  json_object_foreach((json_t *)row, key, v) {
    if (!l->tb || st != RK_OK || !json_is_real(v)) continue;
    snprintf(tag, sizeof tag, "train/%s", key);
    st = rk_tb_scalar(l->tb, tag, step, (float)json_real_value(v));
  }
  if (st == RK_OK && l->tb) st = rk_tb_flush(l->tb);
  if (st == RK_OK && keep) json_array_append(l->history, (json_t *)row);
  return st;
}

/* Where the run's output `name` goes: a temporary name in `set`, published with the others. */
static rk_status set_file(rk_output_set *set, const char *dir, const char *name, const char **temp) {
  char *p = path_in(dir, name);
  rk_status st = p ? rk_output_set_add(set, p, temp) : RK_ENOMEM;
  rk_free(p);
  return st;
}

static rk_status open_logs(run_logs *l, rk_output_set *set, const rk_train_config *c, const json_t *history) {
  char *p;
  const char *tmp;
  rk_status st = RK_OK;
  if (!(l->history = json_array())) return RK_ENOMEM;
  RK_TRY(set_file(set, c->output_path, "train_log.jsonl", &l->jsonl_path));
  if (!(l->jsonl = fopen(l->jsonl_path, "w")))
    return rk_error(RK_EIO, "cannot create '%s': %s", l->jsonl_path, strerror(errno));
  RK_TRY(set_file(set, c->output_path, "train_log.csv", &l->csv_path));
  if (!(l->csv = fopen(l->csv_path, "w"))) return rk_error(RK_EIO, "cannot create '%s': %s", l->csv_path, strerror(errno));
  /* --dllogger_path names its log file outright; it joins the set like the others */
  if (c->dllogger_path) st = rk_output_set_add(set, c->dllogger_path, &tmp);
  else st = set_file(set, c->output_path, "log.json", &tmp);
  if (st == RK_OK) st = rk_dllogger_open(&l->dll, tmp);
  if (st == RK_OK && c->flags) st = rk_dllogger_parameters(l->dll, c->flags);
  if (st == RK_OK && c->tensorboard) {
    if (!(p = path_in(c->output_path, "tensorboard"))) return RK_ENOMEM;
    st = rk_tb_open(&l->tb, p);
    rk_free(p);
  }
  if (st != RK_OK) return st;
  csv_header(l);
  /* A resumed run: the rows logged before the checkpoint, again. */
  size_t i;
  json_t *row;
  json_array_foreach((json_t *)history, i, row) RK_TRY(log_row(l, row, true));
  return RK_OK;
}

/* Closes everything; the first failure to write out what was buffered is the status. */
static rk_status close_logs(run_logs *l) {
  rk_status st = RK_OK;
  json_decref(l->columns);
  if (l->jsonl && fclose(l->jsonl) != 0) st = rk_error(RK_EIO, "cannot write '%s': %s", l->jsonl_path, strerror(errno));
  if (l->csv && fclose(l->csv) != 0 && st == RK_OK)
    st = rk_error(RK_EIO, "cannot write '%s': %s", l->csv_path, strerror(errno));
  rk_status d = l->dll ? rk_dllogger_close(l->dll) : RK_OK;
  if (st == RK_OK) st = d;
  if (l->tb) rk_tb_close(l->tb);
  json_decref(l->history);
  memset(l, 0, sizeof *l);
  return st;
}

/* ---- checkpoints ---- */

typedef struct {
  int64_t step, epoch, batch, samples;
  double seconds;
} progress_state;

static char *checkpoint_dir(const rk_train_config *c) {
  return c->checkpoint_dir ? rk_strdup(c->checkpoint_dir) : path_in(c->output_path, "checkpoint");
}

static json_t *optim_json(const rk_optim_config *o) {
  if (!o->n_groups) return json_null();
  return json_pack("{ss sf sf sf}", "kind", rk_optim_kind_name(o->kind), "lr", (double)o->groups[0].lr, "l1",
                   (double)o->groups[0].l1, "l2", (double)o->groups[0].l2);
}

/* What a checkpoint must agree with to be resumed: the flags that shape the run. */
static json_t *fingerprint(const rk_train_config *c, const task_list *tl) {
  json_t *tasks = json_array();
  for (int t = 0; tasks && t < tl->n; t++)
    json_array_append_new(tasks, json_pack("{ss sf sf ss* ss*}", "name", tl->names[t], "loss_weight",
                                           (double)tl->tw.loss_weight[t], "positive_weight",
                                           (double)tl->tw.positive_weight[t], "sample_space", tl->tw.sample_space[t],
                                           "sample_weight", tl->tw.task_sample_weight[t]));
  return json_pack("{so so so so ss sf sf sI sI sI sI sI sb sf}", "tasks", tasks, "deep_optimizer",
                   optim_json(&c->deep_optim), "wide_optimizer", optim_json(&c->wide_optim), "model",
                   rk_ranking_config_to_json(&c->model), "optimizer", rk_optim_kind_name(c->optimizer), "lr", c->lr,
                   "lr_decay_rate", c->lr_decay_rate, "lr_decay_steps", (json_int_t)c->lr_decay_steps,
                   "train_batch_size", (json_int_t)c->train_batch_size, "epochs", (json_int_t)c->epochs,
                   "steps_per_epoch", (json_int_t)c->steps_per_epoch, "negatives", (json_int_t)c->negatives_train,
                   "shuffle", c->shuffle, "positive_class_weight", (double)c->positive_class_weight);
}

/* The run's pieces per step: the global batch over the piece size (docs/distributed.md). */
static int64_t piece_rows(const rk_train_config *c) {
  int ranks = c->dist ? rk_dist_size(c->dist) : 1;
  return c->micro_batch_size > 0 ? c->micro_batch_size : c->train_batch_size / ranks;
}

/* What a checkpoint must agree with, pieces included when a step has several: the loaders'
 * streams follow them, so a resumed epoch must cut the data the same way. Any number of ranks
 * resumes it. */
static json_t *run_fingerprint(const rk_train_config *c, const task_list *tl) {
  json_t *fp = fingerprint(c, tl);
  int64_t P = c->train_batch_size / piece_rows(c);
  if (fp && P > 1) json_object_set_new(fp, "pieces", json_integer((json_int_t)P));
  return fp;
}

/* The same status on every rank: a failure on one fails the step on all. */
static rk_status agreed(rk_dist *d, rk_status st) {
  if (!d || rk_dist_size(d) == 1) return st;
  int64_t failed = st != RK_OK;
  RK_TRY(rk_dist_allreduce_sum(d, &failed, 1, RK_DIST_I64));
  if (st == RK_OK && failed) return rk_error(RK_EIO, "the checkpoint failed on %lld other rank(s)", (long long)failed);
  return st;
}

/* Rank 0 writes the checkpoint (every rank holds its weights); with sharded tables every rank
 * first writes its rows into their folders inside the checkpoint's stage (run_shards_save),
 * which rank 0 then completes and publishes whole. state.json names those tables. */
static rk_status save_checkpoint(const rk_train_config *c, const rk_model *m, const rk_optim_set *opt,
                                 run_shards *shards, bool writer, const progress_state *ps, const run_logs *logs,
                                 const task_list *task) {
  char *dir = checkpoint_dir(c), *stage = NULL;
  rk_status st = dir ? RK_OK : RK_ENOMEM;
  bool sharded = run_shards_count(shards) > 0;
  if (sharded) {
    if (st == RK_OK) st = rk_shard_stage(c->dist, dir, &stage);
    if (st == RK_OK) st = run_shards_save(shards, stage, opt);
  }
  if (st == RK_OK && writer) {
    json_t *state = json_pack("{sI sI sI sI sI sf s:o s:O}", "step", (json_int_t)ps->step, "epoch",
                              (json_int_t)ps->epoch, "batch", (json_int_t)ps->batch, "samples",
                              (json_int_t)ps->samples, "optimizer_step", (json_int_t)rk_optim_set_steps(opt), "seconds",
                              ps->seconds, "run", run_fingerprint(c, task), "history", logs->history);
    if (state && sharded) json_object_set_new(state, "sharded_tables", json_true());   /* folders to read back */
    st = rk_checkpoint_write(dir, stage, m, opt, state);   /* removes the stage when it fails */
  } else if (st != RK_OK && writer && stage) {
    rk_remove_tree(stage);
  }
  rk_free(dir);
  rk_free(stage);
  return sharded ? agreed(c->dist, st) : st;
}

/* Restore from the checkpoint folder when it exists (else leave everything at the start). */
static rk_status load_checkpoint(const rk_train_config *c, const rk_model *m, rk_optim_set *opt,
                                 const run_shards *shards, progress_state *ps, json_t **history,
                                 const task_list *task, bool *resumed) {
  *resumed = false;
  char *dir = checkpoint_dir(c);
  if (!dir) return RK_ENOMEM;
  char *sp = path_in(dir, "state.json"), *w = path_in(dir, "weights.safetensors");
  rk_status st = sp && w ? RK_OK : RK_ENOMEM;
  json_t *state = NULL, *fp = NULL;
  if (st == RK_OK && access(sp, F_OK) != 0) {
    if (c->resume == RK_RESUME_ASKED && writes(c)) rk_info("--resume: no checkpoint in '%s'; starting from the beginning", dir);
    goto done;
  }
  json_error_t err;
  if (st == RK_OK && !(state = json_load_file(sp, 0, &err)))
    st = rk_error(RK_EFORMAT, "cannot read the checkpoint '%s': %s", sp, err.text);
  json_int_t step = 0, epoch = 0, batch = 0, samples = 0, ostep = 0;
  double secs = 0;
  json_t *run = NULL, *hist = NULL;
  if (st == RK_OK && json_unpack_ex(state, &err, 0, "{sI sI sI sI sI sF so so}", "step", &step, "epoch", &epoch,
                                    "batch", &batch, "samples", &samples, "optimizer_step", &ostep, "seconds", &secs,
                                    "run", &run, "history", &hist) != 0)
    st = rk_error(RK_EFORMAT, "'%s': %s", sp, err.text);
  if (st == RK_OK && !(fp = run_fingerprint(c, task))) st = RK_ENOMEM;
  if (st == RK_OK && !json_equal(fp, run))
    st = rk_error(RK_EUSAGE,
                  "the checkpoint in '%s' was made by a run with other flags (model, task, optimizer, batch size, "
                  "epochs or steps); rerun with those flags, or without --resume to start over",
                  dir);
  if (st == RK_OK) st = rk_model_read_weights(w, m, opt);
  bool tables_apart = json_is_true(json_object_get(state, "sharded_tables")) || run_shards_count(shards) > 0;
  if (st == RK_OK && tables_apart) {   /* tables in folders of their own, or sharded now */
    rk_safetensors *f = NULL;
    st = rk_safetensors_read(&f, w);
    if (st == RK_OK) st = run_shards_load(shards, dir, m, f, w, opt);
    rk_safetensors_free(f);
  }
  if (st == RK_OK) {
    rk_optim_set_set_steps(opt, ostep);
    ps->step = step;
    ps->epoch = epoch;
    ps->batch = batch;
    ps->samples = samples;
    ps->seconds = secs;
    *history = json_incref(hist);
    *resumed = true;
  }
done:
  json_decref(state);
  json_decref(fp);
  rk_free(dir);
  rk_free(sp);
  rk_free(w);
  return st;
}

/* ---- the run ---- */

typedef struct {
  const rk_train_config *c;
  rk_output out;                        /* --output_path, held for the run */
  rk_output_set set;                    /* logs, metrics.json, report.html: published together */
  rk_schema schema;
  task_list tasks;
  rk_ranking_model ranking;              /* the model the run builds; the rest of the run sees m */
  rk_model *m;                          /* &ranking.base: the model interface (reckon/model.h) */
  rk_optim_set opt;
  rk_lr_schedule sched;
  rk_model_feed *feed;
  bool writer;                          /* rank 0 (or the only process): writes every output */
  int64_t pieces;                       /* P: pieces per step */
  step_pieces *steps;                   /* the step's gradient over pieces and ranks */
  int64_t first_piece, n_loaders;       /* this rank's pieces, one loader (stream) each */
  rk_loader **loaders;                  /* (n_loaders) */
  rk_batch *batches;                    /* (n_loaders) each loader's current batch */
  run_shards *shards;                   /* the tables sharded over the ranks, if any */
  uint64_t step;                        /* the step being computed (keys dropout and negatives) */
  bool metrics_due;                     /* add this step's pieces to the train metrics */
  run_logs logs;
  rk_binary_metrics *window_metrics[RK_MAX_TASKS];   /* train metrics since the last log row */
  rk_regression_metrics window_reg[RK_MAX_TASKS];
  double window_task_loss[RK_MAX_TASKS];
  float *prob, *label;                  /* (graph rows) */
  progress_state warm;                  /* samples and seconds after --throughput_after steps */
  json_t *epoch_comm;                   /* across ranks: per epoch, seconds waited and bytes per step */
} run;

static void free_run(run *r) {
  for (int64_t k = 0; r->loaders && k < r->n_loaders; k++) {
    if (r->loaders[k]) rk_loader_close(r->loaders[k]);
    rk_batch_free(&r->batches[k]);
  }
  rk_free(r->loaders);
  rk_free(r->batches);
  step_pieces_free(r->steps);
  run_shards_free(r->shards);
  json_decref(r->epoch_comm);
  if (r->feed) r->m->ops->feed_free(r->feed);
  rk_optim_set_free(&r->opt);
  rk_ranking_free(&r->ranking);
  rk_schema_free(&r->schema);
  close_logs(&r->logs);
  rk_output_set_free(&r->set);   /* what a failed run wrote goes; the previous set stays */
  if (r->writer) rk_output_release(&r->out);
  for (int t = 0; t < RK_MAX_TASKS; t++) rk_binary_metrics_free(r->window_metrics[t]);
  rk_free(r->prob);
  rk_free(r->label);
}

static bool is_table_file(const char *path) {
  size_t n = strlen(path);
  const char *ext[] = {".parquet", ".csv", ".tsv"};
  for (int i = 0; i < 3; i++)
    if (n >= strlen(ext[i]) && strcmp(path + n - strlen(ext[i]), ext[i]) == 0) return true;
  return false;
}

/* Every place this run will write, claimed before any work: a refusal comes in a second, not
 * after an hour of training. */
const char *const rk_train_output_names[] = {"train_log.jsonl", "train_log.csv", "log.json", "tensorboard", "checkpoint",
                                            "metrics.json", "report.html", "predictions", NULL};

static rk_status claim_outputs(run *r) {
  const rk_train_config *c = r->c;
  /* --output_path only gains the files above: what else the folder holds is the user's and stays. */
  RK_TRY(rk_output_claim_names(&r->out, c->output_path, "train-output", rk_train_output_names, c->overwrite));
  if (c->checkpoint_dir) {
    RK_TRY(rk_output_check_dir(c->checkpoint_dir, "checkpoint", c->overwrite));
    RK_TRY(rk_output_sweep_beside(c->checkpoint_dir));
  }
  if (c->save_model_path) {
    RK_TRY(rk_output_check_dir(c->save_model_path, "model", c->overwrite));
    RK_TRY(rk_output_sweep_beside(c->save_model_path));
  }
  const char *pred = c->predict_output_path;
  if (!c->predict_path || !pred) return RK_OK;
  return is_table_file(pred) ? rk_output_check_file(pred, c->overwrite)
                             : rk_output_check_dir(pred, "predictions", c->overwrite);
}

static int compare_names(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Before building anything: the columns the model will read (the schema's features and the
 * tasks) against the data files' columns, so a schema that does not fit the data fails at once,
 * listing what is missing (names sorted once, then looked up: linear in the columns). */
static rk_status check_data_columns(const char *path, const char *flag, const rk_schema *s, const task_list *tasks) {
  rk_parquet_dataset *ds;
  rk_status st = rk_parquet_dataset_open(&ds, path, NULL);
  if (st != RK_OK) return rk_error_context(st, "%s '%s'", flag, path);
  int n = rk_parquet_dataset_num_columns(ds), missing = 0;
  const char **have = rk_malloc(((size_t)n + 1) * sizeof *have);
  if (!have) {
    rk_parquet_dataset_close(ds);
    return RK_ENOMEM;
  }
  for (int i = 0; i < n; i++) have[i] = rk_parquet_dataset_column(ds, i)->name;
  qsort(have, (size_t)n, sizeof *have, compare_names);
  char list[400] = "";
  for (int i = 0; i < s->n_cols; i++) {
    const rk_schema_column *col = &s->cols[i];
    bool target = rk_schema_column_has_tag(col, RK_TAG_TARGET);
    bool read = target ? named(tasks->names, tasks->n, col->name)
                       : rk_schema_column_has_tag(col, RK_TAG_CATEGORICAL) || rk_schema_column_has_tag(col, RK_TAG_CONTINUOUS);
    if (!read || bsearch(&col->name, have, (size_t)n, sizeof *have, compare_names)) continue;
    if (missing++ < 10) snprintf(list + strlen(list), sizeof list - strlen(list), "%s'%s'", missing > 1 ? ", " : "", col->name);
  }
  rk_free(have);
  rk_parquet_dataset_close(ds);
  if (missing)
    return rk_error(RK_ENOTFOUND, "%s '%s': the data has no column %s%s (%d of the schema's columns the model reads "
                    "are missing): the schema beside the data does not describe it", flag, path, list,
                    missing > 10 ? ", ..." : "", missing);
  return RK_OK;
}

/* P = the global batch / the piece size; each rank takes a block of them (reckon/dist.h). */
static rk_status plan_pieces(run *r) {
  const rk_train_config *c = r->c;
  int ranks = c->dist ? rk_dist_size(c->dist) : 1;
  int64_t M = piece_rows(c);
  if (c->micro_batch_size < 0) return rk_error(RK_EUSAGE, "--micro_batch_size must be 0 (one piece per rank) or more");
  if (c->micro_batch_size == 0 && c->train_batch_size % ranks != 0)
    return rk_error(RK_EUSAGE, "the global batch of %lld rows does not split over %d ranks: give a multiple of %d, or "
                    "--micro_batch_size", (long long)c->train_batch_size, ranks, ranks);
  if (M < 1 || c->train_batch_size % M != 0)
    return rk_error(RK_EUSAGE, "--micro_batch_size %lld does not divide the global batch of %lld rows",
                    (long long)M, (long long)c->train_batch_size);
  r->pieces = c->train_batch_size / M;
  if (r->pieces < ranks)
    return rk_error(RK_EUSAGE, "%lld pieces of %lld rows per step, fewer than the %d ranks: lower --micro_batch_size",
                    (long long)r->pieces, (long long)M, ranks);
  rk_dist_piece_block(r->pieces, c->dist ? rk_dist_rank(c->dist) : 0, ranks, &r->first_piece, &r->n_loaders);
  return RK_OK;
}


static rk_status setup(run *r) {
  const rk_train_config *c = r->c;
  if (!c->train_path) return rk_error(RK_EUSAGE, "--train_data_path (or --train_path) is required");
  if (r->writer) RK_TRY(claim_outputs(r));
  if (c->train_batch_size <= 0 || c->eval_batch_size <= 0)
    return rk_error(RK_EUSAGE, "--train_batch_size and --eval_batch_size must be at least 1");
  if (c->epochs < 0) return rk_error(RK_EUSAGE, "--epochs must be 0 or more");
  RK_TRY(plan_pieces(r));
  int64_t graph_rows, eval_rows;
  RK_TRY(rk_feed_graph_rows(&graph_rows, piece_rows(c), c->negatives_train, "--in_batch_negatives_train"));
  if (c->eval_path) RK_TRY(rk_feed_graph_rows(&eval_rows, c->eval_batch_size, c->negatives_eval, "--in_batch_negatives_eval"));
  if (c->lr <= 0 || !isfinite(c->lr)) return rk_error(RK_EUSAGE, "--lr must be a positive number");
  rk_status st = rk_schema_read(&r->schema, c->train_path);
  if (st != RK_OK)
    return rk_error_context(st, "cannot read the schema of the training data '%s' (reckon preprocess writes "
                                "schema.pbtxt and .merlin/schema.json beside the Parquet parts)", c->train_path);
  RK_TRY(pick_tasks(c, &r->schema, &r->tasks));
  RK_TRY(check_data_columns(c->train_path, "--train_data_path", &r->schema, &r->tasks));
  if (c->eval_path) RK_TRY(check_data_columns(c->eval_path, "--eval_data_path", &r->schema, &r->tasks));
  /* A model to start from gives the architecture (its weights' shapes), whatever the flags say. */
  rk_ranking_config saved;
  const rk_ranking_config *arch = &c->model;
  if (c->load_model_path) {
    char differ[512];
    st = rk_model_read_architecture(c->load_model_path, &c->model, &saved, differ, sizeof differ);
    if (st != RK_OK) {
      rk_ranking_config_free_lists(&saved);
      return rk_error_context(st, "--load_model_path '%s'", c->load_model_path);
    }
    if (differ[0])
      rk_warn("--load_model_path: the architecture is %s/model.json's, where the flags differ: %s", c->load_model_path,
              differ);
    arch = &saved;
  }
  st = run_shards_init(&r->shards, c->shard_tables ? c->shard_tables : "auto", c->shard_threshold_mb, c->dist);
  rk_ranking_config placed = *arch;
  if (st == RK_OK) placed.placement = run_shards_placement(r->shards);
  if (st == RK_OK)
    st = rk_ranking_build_tasks(&r->ranking, &r->schema, r->tasks.n, r->tasks.names, r->tasks.regression, &placed,
                                graph_rows);
  if (c->load_model_path) rk_ranking_config_free_lists(&saved);
  RK_TRY(st);
  r->m = &r->ranking.base;
  RK_TRY(run_shards_bind(r->shards, r->m, r->writer));
  if (c->load_model_path) {
    char *w = path_in(c->load_model_path, "weights.safetensors");
    if (!w) return RK_ENOMEM;
    st = rk_model_read_weights(w, r->m, NULL);
    if (st == RK_OK && run_shards_count(r->shards)) st = run_shards_read_model(r->shards, w);   /* this rank's rows */
    rk_free(w);
    if (st != RK_OK) return rk_error_context(st, "--load_model_path '%s'", c->load_model_path);
  }
  RK_TRY(r->m->ops->feed_init(&r->feed, r->m, &r->schema, c->negatives_train, &r->tasks.tw, c->model.seed));
  rk_optim_config oc;
  rk_optim_config_default(&oc, c->optimizer, (float)c->lr);
  /* A sharded table's optimizer steps this rank's rows (and keeps their slots) in its place. */
  rk_param **stand_ins = rk_calloc((size_t)r->m->n_params + 1, sizeof *stand_ins);
  if (!stand_ins) return RK_ENOMEM;
  run_shards_stand_ins(r->shards, r->m, stand_ins);
  st = rk_optim_set_init(&r->opt, r->m, c->deep_optim.n_groups ? &c->deep_optim : &oc,
                         c->wide_optim.n_groups ? &c->wide_optim : NULL, stand_ins);
  rk_free(stand_ins);
  RK_TRY(st);
  memset(&r->sched, 0, sizeof r->sched);
  r->sched.kind = RK_LR_CONSTANT;
  if (c->lr_decay_rate > 0 && c->lr_decay_steps > 0 && c->lr_decay_rate != 1.0) {
    r->sched.kind = RK_LR_EXPONENTIAL;
    r->sched.decay_rate = c->lr_decay_rate;
    r->sched.decay_steps = c->lr_decay_steps;
    r->sched.staircase = true;
  }
  RK_TRY(rk_lr_schedule_check(&r->sched));
  const char **cols = rk_calloc((size_t)r->m->ops->feed_max_columns(r->m) + 1, sizeof *cols);
  if (!cols) return RK_ENOMEM;
  rk_loader_options lo;
  rk_loader_options_default(&lo);
  lo.path = c->train_path;
  lo.columns = cols;
  lo.ncolumns = r->m->ops->feed_columns(r->feed, true, cols);
  lo.batch_size = piece_rows(c);
  lo.shuffle = c->shuffle;
  lo.seed = c->model.seed;
  /* One stream per piece, this rank's only; the shuffle memory stays that of one loader. */
  lo.n_streams = r->pieces;
  lo.shuffle_buffer_rows /= r->pieces;
  r->loaders = rk_calloc((size_t)r->n_loaders, sizeof *r->loaders);
  r->batches = rk_calloc((size_t)r->n_loaders, sizeof *r->batches);
  if (!r->loaders || !r->batches) st = RK_ENOMEM;
  for (int64_t k = 0; st == RK_OK && k < r->n_loaders; k++) {
    lo.stream = r->first_piece + k;
    st = rk_loader_open(&r->loaders[k], &lo);
  }
  rk_free(cols);
  RK_TRY(st);
  double bucket_mb = c->bucket_cap_mb > 0 ? c->bucket_cap_mb : RK_BUCKET_CAP_MB_DEFAULT;
  int64_t bucket_bytes = bucket_mb * 1048576.0 < 1.0 ? 1 : (int64_t)fmin(bucket_mb * 1048576.0, 0x1p62);
  RK_TRY(step_pieces_init(&r->steps, r->m, r->pieces, EXTRA_TASK_LOSS + r->m->out.n_tasks, c->dist, bucket_bytes));
  int64_t B = rk_graph_batch(r->m->g);
  if (!(r->prob = rk_malloc((size_t)B * sizeof(float))) || !(r->label = rk_malloc((size_t)B * sizeof(float))))
    return RK_ENOMEM;
  for (int t = 0; t < r->m->out.n_tasks; t++) {
    rk_regression_metrics_reset(&r->window_reg[t]);
    if (!r->m->out.regression[t]) RK_TRY(rk_binary_metrics_create(&r->window_metrics[t]));
  }
  return RK_OK;
}

/* The train metrics of this step's real rows (of each task's sample space) join the window's. */
static rk_status add_train_metrics(run *r) {
  rk_graph *g = r->m->g;
  int64_t B = rk_graph_batch(g);
  const int64_t *src = r->m->ops->feed_sources(r->feed);   /* per graph row: its data row, -1 padding */
  for (int t = 0; t < r->m->out.n_tasks; t++) {
    const float *z = rk_graph_value_f32(g, r->m->out.logits[t]), *y = rk_graph_input_f32(g, r->m->out.labels[t]);
    const float *w = rk_graph_input_f32(g, r->m->out.weights[t]);
    bool reg = r->m->out.regression[t], spaced = r->tasks.tw.sample_space[t] != NULL;
    int64_t n = 0;
    for (int64_t i = 0; i < B; i++) {
      if (src[i] < 0 || (spaced && w[i] == 0.0f)) continue;
      r->prob[n] = reg ? z[i] : 1.0f / (1.0f + expf(-z[i]));
      r->label[n++] = y[i];
    }
    if (reg) rk_regression_metrics_add(&r->window_reg[t], r->prob, r->label, NULL, n);
    else RK_TRY(rk_binary_metrics_add(r->window_metrics[t], r->prob, r->label, NULL, n));
  }
  return RK_OK;
}

static rk_status window_row(run *r, json_t *row, int64_t steps) {
  const rk_model *m = r->m;
  const int64_t *src = m->ops->feed_sources(r->feed);
  char key[400];
  for (int t = 0; t < m->out.n_tasks; t++) {
    if (m->out.n_tasks > 1) {
      char out[300];
      output_name(out, sizeof out, m, t);
      snprintf(key, sizeof key, "%s_loss", out);
      /* Keras reports each output's loss before its loss weight */
      double lw = r->tasks.tw.loss_weight[t] != 0 ? r->tasks.tw.loss_weight[t] : 1.0;
      json_object_set_new(row, key, number(steps ? r->window_task_loss[t] / (double)steps / lw : NAN));
      r->window_task_loss[t] = 0;
    }
    if (m->out.regression[t]) {
      if (r->window_reg[t].count) {
        metric_key(key, sizeof key, m, t, "root_mean_squared_error");
        json_object_set_new(row, key, number(rk_regression_rmse(&r->window_reg[t])));
        metric_key(key, sizeof key, m, t, "mae");
        json_object_set_new(row, key, number(rk_regression_mae(&r->window_reg[t])));
      }
      rk_regression_metrics_reset(&r->window_reg[t]);
      continue;
    }
    rk_binary_result b;
    RK_TRY(rk_binary_metrics_compute(r->window_metrics[t], &b));
    if (b.count > 0) {
      const double v[6] = {b.auc, b.prauc, b.logloss, b.precision, b.recall, b.accuracy};
      for (int i = 0; i < 6; i++) {
        metric_key(key, sizeof key, m, t, binary_cols[i]);
        json_object_set_new(row, key, number(v[i]));
      }
    }
    rk_binary_metrics_reset(r->window_metrics[t]);
  }
  /* Gate weights: the batch mean of the last step's weights per expert. */
  for (int t = 0; t < m->out.n_tasks; t++) {
    if (m->out.gate_probs[t] == RK_NO_VALUE) continue;
    const float *p = rk_graph_value_f32(m->g, m->out.gate_probs[t]);
    int64_t B = rk_graph_batch(m->g), E = rk_graph_value_shape(m->g, m->out.gate_probs[t])[1], n = 0;
    double sum[64] = {0};
    for (int64_t i = 0; i < B; i++) {
      if (src[i] < 0) continue;
      for (int64_t e = 0; e < E && e < 64; e++) sum[e] += p[i * E + e];
      n++;
    }
    char out[300];
    output_name(out, sizeof out, m, t);
    for (int64_t e = 0; e < E && e < 64 && n; e++) {
      snprintf(key, sizeof key, "gate_%s_weight_%lld", out, (long long)e);
      json_object_set_new(row, key, number(sum[e] / (double)n));
    }
  }
  return RK_OK;
}

static rk_eval_options eval_options(const run *r) {
  const rk_train_config *c = r->c;
  rk_eval_options eo = {c->eval_path, c->eval_batch_size, c->negatives_eval, &r->tasks.tw, c->model.seed, true, NULL,
                        c->eval_group_column, c->eval_leak_column, 0, 0, c->dist, NULL, NULL};
  if (run_shards_count(r->shards)) {   /* each batch's rows of the sharded tables, fetched by all ranks */
    eo.before_forward = run_shards_fetch_batch;
    eo.before_forward_ctx = r->shards;
  }
  return eo;
}

/* --eval_every_epoch: the eval metrics after epoch `epoch` (0-based), in the logs as DLLogger's
 * step [epoch + 1] and on the terminal. Every rank evaluates its share; rank 0 logs. */
static rk_status epoch_eval(run *r, int64_t epoch) {
  rk_eval_options eo = eval_options(r);
  eo.keep_predictions = false;
  rk_eval_result ev;
  RK_TRY(rk_evaluate(r->m, &r->schema, &eo, &ev));
  if (!r->writer) {
    rk_eval_result_free(&ev);
    return RK_OK;
  }
  json_t *step = json_pack("[I]", (json_int_t)epoch + 1);
  rk_status st = step ? rk_dllogger_log(r->logs.dll, step, ev.metrics) : RK_ENOMEM;
  json_decref(step);
  char line[512] = "";
  const char *key;
  json_t *v;
  json_object_foreach(ev.metrics, key, v)
    if (json_is_real(v)) snprintf(line + strlen(line), sizeof line - strlen(line), " %s=%.5f", key, json_real_value(v));
  rk_info("epoch %lld eval:%s", (long long)epoch + 1, line);
  rk_eval_result_free(&ev);
  return st;
}

/* Dropout and negatives are keyed by (step, piece), so a piece draws the same on any rank; one
 * piece per step keys them by the step as a plain run does. */
static uint64_t piece_key(const run *r, int64_t piece) {
  return r->pieces == 1 ? r->step : r->step * (uint64_t)r->pieces + (uint64_t)piece;
}

/* Before the step: every piece's batch of this rank, and, with sharded tables, the rows all of
 * them look up, fetched in one exchange per table (each piece's inputs are filled to read its
 * ids, and filled again, the same, when it runs). */
static rk_status load_pieces(run *r) {
  for (int64_t k = 0; k < r->n_loaders; k++) RK_TRY(rk_loader_next(r->loaders[k], &r->batches[k]));
  if (!run_shards_count(r->shards)) return RK_OK;
  for (int64_t k = 0; k < r->n_loaders; k++) {
    if (r->batches[k].nrows == 0) continue;
    RK_TRY(r->m->ops->feed_fill(r->feed, &r->batches[k], piece_key(r, r->first_piece + k)));
    RK_TRY(run_shards_collect(r->shards, r->m->g));
  }
  return run_shards_fetch(r->shards);
}

/* Piece `piece` of step r->step (step_pieces.h): its stream's batch (load_pieces) through
 * forward and backward. */
static rk_status run_piece(void *ctx, int64_t piece, float *extra) {
  run *r = ctx;
  rk_batch *batch = &r->batches[piece - r->first_piece];
  if (batch->nrows == 0) return RK_OK;   /* a stream ran out before the longest: an empty piece */
  uint64_t key = piece_key(r, piece);
  RK_TRY(r->m->ops->feed_fill(r->feed, batch, key));
  rk_graph_set_step(r->m->g, key);
  RK_TRY(rk_graph_forward(r->m->g, RK_TRAIN));
  float loss = rk_graph_value_f32(r->m->g, r->m->out.loss)[0];
  if (!isfinite(loss))
    return rk_error(RK_ERANGE, "the loss is %g at step %lld: lower --lr or check the data", loss, (long long)r->step);
  extra[EXTRA_LOSS] = loss;
  extra[EXTRA_REG] = r->m->out.reg != RK_NO_VALUE ? rk_graph_value_f32(r->m->g, r->m->out.reg)[0] : 0.0f;
  extra[EXTRA_ROWS_HIGH] = (float)(batch->nrows / ROWS_SPLIT);
  extra[EXTRA_ROWS_LOW] = (float)(batch->nrows % ROWS_SPLIT);
  for (int t = 0; r->m->out.n_tasks > 1 && t < r->m->out.n_tasks; t++)
    extra[EXTRA_TASK_LOSS + t] = rk_graph_value_f32(r->m->g, r->m->out.task_losses[t])[0];
  /* Train metrics are rank 0's pieces' (the weights do not depend on them). */
  if (r->metrics_due && r->writer) RK_TRY(add_train_metrics(r));
  return rk_graph_backward(r->m->g);
}

static rk_status start_epoch(run *r, int64_t epoch, int64_t skip) {
  for (int64_t k = 0; k < r->n_loaders; k++) {
    RK_TRY(rk_loader_start_epoch(r->loaders[k], epoch));
    for (int64_t b = 0; b < skip; b++) RK_TRY(rk_loader_next(r->loaders[k], &r->batches[k]));   /* resumed */
  }
  return RK_OK;
}

/* Rank 0's clock decides when a checkpoint is due, for every rank. */
static rk_status agree_due(rk_dist *d, bool *due) {
  int64_t v = *due;
  if (d) RK_TRY(rk_dist_broadcast(d, &v, 1, RK_DIST_I64, 0));
  *due = v != 0;
  return RK_OK;
}

/* Across ranks, an epoch's communication: the seconds this rank waited on the others (what
 * backward did not overlap) and the bytes it sent per step, kept for metrics.json and logged. */
static rk_status epoch_comm_note(run *r, int64_t epoch, const rk_dist_stats *start, int64_t steps) {
  const rk_train_config *c = r->c;
  if (!c->dist || rk_dist_size(c->dist) < 2 || steps < 1) return RK_OK;
  rk_dist_stats now = rk_dist_stats_get(c->dist);
  double wait = now.wait_seconds - start->wait_seconds;
  int64_t bytes = (now.bytes_sent - start->bytes_sent) / steps;
  if (!r->epoch_comm && !(r->epoch_comm = json_array())) return RK_ENOMEM;
  json_t *e = json_pack("{sI sf sI}", "epoch", (json_int_t)epoch + 1, "comm_wait_seconds", wait,
                        "bytes_sent_per_step", (json_int_t)bytes);
  if (!e || json_array_append_new(r->epoch_comm, e) != 0) return RK_ENOMEM;
  step_pieces_stats sps = step_pieces_stats_get(r->steps);
  if (r->writer)
    rk_info("epoch %lld: waited %.3f s on the other ranks (not overlapped), sent %.1f KiB per step; %lld of %lld "
            "gradient buckets so far started during backward",
            (long long)epoch + 1, wait, (double)bytes / 1024.0, (long long)sps.buckets_in_backward,
            (long long)sps.buckets);
  return RK_OK;
}

static rk_status train_loop(run *r, progress_state *ps, double *last_reg, double *last_loss) {
  const rk_train_config *c = r->c;
  rk_status st = RK_OK;
  double window_loss = 0, t_window = rk_now(), t_start = rk_now() - ps->seconds, t_checkpoint = rk_now();
  int64_t window_steps = 0, window_samples = 0;
  float extra[EXTRA_TASK_LOSS + RK_MAX_TASKS];
  char label[64];
  if (c->dist) rk_dist_stats_reset(c->dist);
  for (; st == RK_OK && ps->epoch < c->epochs; ps->epoch++, ps->batch = 0) {
    if ((st = start_epoch(r, ps->epoch, ps->batch)) != RK_OK) break;
    /* The epoch's steps: its longest stream's batches, the same on every rank. */
    int64_t per_epoch = rk_loader_epoch_batches(r->loaders[0]);
    if (c->steps_per_epoch > 0 && c->steps_per_epoch < per_epoch) per_epoch = c->steps_per_epoch;
    rk_progress progress;
    snprintf(label, sizeof label, "epoch %lld/%lld", (long long)ps->epoch + 1, (long long)c->epochs);
    /* Samples (so the rate is samples/s), with the step and running loss beside them. */
    int64_t epoch_rows = rk_loader_num_rows(r->loaders[0]), cap = per_epoch * c->train_batch_size;
    rk_progress_begin(&progress, label, (double)(cap < epoch_rows ? cap : epoch_rows), "samples");
    int64_t epoch_samples = ps->batch * c->train_batch_size;
    rk_progress_update(&progress, (double)epoch_samples);
    rk_dist_stats comm_start = c->dist ? rk_dist_stats_get(c->dist) : (rk_dist_stats){0};
    int64_t epoch_first_step = ps->step;
    while (st == RK_OK && ps->batch < per_epoch && !(c->max_steps > 0 && ps->step >= c->max_steps)) {
      if (c->throughput_after > 0 && ps->step == c->throughput_after) r->warm = (progress_state){0}, r->warm.seconds = rk_now();
      r->step = (uint64_t)ps->step;
      r->metrics_due = c->train_metrics_steps > 0 && ps->step % c->train_metrics_steps == 0;
      if ((st = load_pieces(r)) != RK_OK) break;
      if ((st = step_pieces_run(r->steps, run_piece, r, extra)) != RK_OK) break;
      int64_t rows = (int64_t)extra[EXTRA_ROWS_HIGH] * ROWS_SPLIT + (int64_t)extra[EXTRA_ROWS_LOW];
      if (rows == 0) break;   /* every stream is spent: the epoch is over */
      if ((st = run_shards_take_grads(r->shards)) != RK_OK) break;   /* each owner its rows' */
      double loss = extra[EXTRA_LOSS] / (double)r->pieces;
      *last_reg = extra[EXTRA_REG] / (double)r->pieces;
      *last_loss = loss;
      if ((st = rk_optim_set_step(&r->opt, rk_lr_schedule_factor(&r->sched, ps->step))) != RK_OK) break;
      rk_graph_zero_grad(r->m->g);
      ps->step++;
      ps->batch++;
      ps->samples += rows;
      r->warm.samples += rows;
      window_loss += loss;
      for (int t = 0; r->m->out.n_tasks > 1 && t < r->m->out.n_tasks; t++) r->window_task_loss[t] += extra[EXTRA_TASK_LOSS + t] / (double)r->pieces;
      window_steps++;
      window_samples += rows;
      bool last = ps->batch == per_epoch && ps->epoch == c->epochs - 1;
      if (r->writer && ((c->log_every > 0 && ps->step % c->log_every == 0) || last)) {
        double now = rk_now();
        json_t *row = json_pack("{sI sI so so so so}", "step", (json_int_t)ps->step, "epoch", (json_int_t)ps->epoch,
                                "loss", number(window_loss / (double)window_steps), "regularization_loss",
                                number(*last_reg), "lr",
                                number(c->lr * rk_lr_schedule_factor(&r->sched, ps->step - 1)), "samples_per_s",
                                number(now > t_window ? (double)window_samples / (now - t_window) : 0));
        if (!row) st = RK_ENOMEM;
        if (st == RK_OK) st = window_row(r, row, window_steps);
        if (st == RK_OK) st = log_row(&r->logs, row, true);
        json_decref(row);
        window_loss = 0;
        window_steps = window_samples = 0;
        t_window = now;
      }
      epoch_samples += rows;
      snprintf(progress.note, sizeof progress.note, "step %lld/%lld, loss %.4f", (long long)ps->batch,
               (long long)per_epoch, window_steps ? window_loss / (double)window_steps : loss);
      rk_progress_update(&progress, (double)epoch_samples);
      bool due = (c->checkpoint_every > 0 && ps->step % c->checkpoint_every == 0) ||
                 (c->checkpoint_secs > 0 && rk_now() - t_checkpoint >= c->checkpoint_secs);
      bool sharded = run_shards_count(r->shards) > 0;
      if (st == RK_OK && sharded && c->checkpoint_secs > 0) st = agree_due(c->dist, &due);   /* clocks differ */
      /* every rank holds the weights but the sharded tables': rank 0 writes them, all write those */
      if (st == RK_OK && due && (r->writer || sharded)) {
        t_checkpoint = rk_now();
        ps->seconds = rk_now() - t_start;
        progress_state at = *ps;
        if (ps->batch == per_epoch) at.epoch++, at.batch = 0;
        st = save_checkpoint(c, r->m, &r->opt, r->shards, r->writer, &at, &r->logs, &r->tasks);
      }
    }
    rk_progress_end(&progress);
    if (st == RK_OK) st = epoch_comm_note(r, ps->epoch, &comm_start, ps->step - epoch_first_step);
    bool eval_now = c->eval_every_epoch && c->eval_path && ps->epoch < c->epochs - 1 && ps->batch == per_epoch;
    if (st == RK_OK && eval_now) st = epoch_eval(r, ps->epoch);
    if (c->max_steps > 0 && ps->step >= c->max_steps) {
      ps->epoch++;
      break;
    }
  }
  if (c->throughput_after > 0 && r->warm.seconds > 0) r->warm.seconds = rk_now() - r->warm.seconds;
  ps->seconds = rk_now() - t_start;
  return st;
}

static const char *workflow_dir(const rk_train_config *c, char *buf, size_t size) {
  if (c->workflow_path) return c->workflow_path;
  snprintf(buf, size, "%s/../workflow", c->train_path);
  return is_dir(buf) ? buf : NULL;
}

static rk_status write_json(const char *path, const json_t *j) {
  char *text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
  rk_status st = text ? rk_write_file_atomic(path, text, strlen(text)) : RK_ENOMEM;
  free(text);
  return st;
}

/* Rank 0's outputs; ev: the final evaluation (every rank's, rk_train), empty without eval data. */
static rk_status finish(run *r, const progress_state *ps, double last_reg, double last_loss, const rk_eval_result *ev,
                        json_t **result) {
  const rk_train_config *c = r->c;
  const char *metrics_path, *report_path;
  RK_TRY(set_file(&r->set, c->output_path, "metrics.json", &metrics_path));
  RK_TRY(set_file(&r->set, c->output_path, "report.html", &report_path));
  rk_status st = RK_OK;
  json_t *metrics = NULL;
  if (c->eval_path) {
    metrics = json_incref(ev->metrics);
    json_object_set_new(metrics, "regularization_loss", number(last_reg));
    json_t *l = json_object_get(metrics, "loss");
    if (json_is_real(l)) json_real_set(l, json_real_value(l) + last_reg);   /* Keras' loss includes the terms */
  }
  double sps = ps->seconds > 0 ? (double)ps->samples / ps->seconds : 0;
  if (!metrics && !(metrics = json_object())) return RK_ENOMEM;
  json_t *tasks = json_array();
  for (int t = 0; tasks && t < r->m->out.n_tasks; t++) json_array_append_new(tasks, json_string(r->m->out.targets[t]));
  json_t *out = json_pack("{ss s:o ss s:O s{sI sI sI so so so so}}", "task", r->m->out.targets[0], "tasks", tasks, "model",
                          rk_model_kind_name(r->ranking.cfg.kind), "metrics", metrics, "train",
                          "steps", (json_int_t)ps->step, "epochs", (json_int_t)ps->epoch, "samples",
                          (json_int_t)ps->samples, "seconds", number(ps->seconds), "samples_per_s", number(sps),
                          "final_loss", number(last_loss), "regularization_loss", number(last_reg));
  if (!out) st = RK_ENOMEM;
  if (st == RK_OK) json_object_set(out, "samples_per_s", json_object_get(json_object_get(out, "train"), "samples_per_s"));
  if (st == RK_OK && (c->dist || r->pieces > 1)) {
    /* Data parallel: the ranks, the pieces, and rank 0's traffic and time blocked on the others. */
    rk_dist_stats ds = c->dist ? rk_dist_stats_get(c->dist) : (rk_dist_stats){0};
    int64_t steps = ps->step > 0 ? ps->step : 1;
    json_t *par = json_pack("{sI sI sI sI sf}", "ranks", (json_int_t)(c->dist ? rk_dist_size(c->dist) : 1), "pieces",
                            (json_int_t)r->pieces, "piece_rows", (json_int_t)piece_rows(c), "bytes_sent_per_step",
                            (json_int_t)(ds.bytes_sent / steps), "comm_wait_seconds", ds.wait_seconds);
    if (!par) st = RK_ENOMEM;
    else json_object_set_new(json_object_get(out, "train"), "data_parallel", par);
    /* the overlap: buckets per step, how many started while backward ran, the wait per epoch */
    step_pieces_stats sps = step_pieces_stats_get(r->steps);
    if (st == RK_OK && c->dist && rk_dist_size(c->dist) > 1 && !r->epoch_comm && !(r->epoch_comm = json_array()))
      st = RK_ENOMEM;
    if (st == RK_OK && c->dist && rk_dist_size(c->dist) > 1) {
      json_t *o = json_pack("{sI sI sI sO}", "buckets_per_step", (json_int_t)step_pieces_bucket_count(r->steps),
                            "buckets", (json_int_t)sps.buckets, "buckets_started_in_backward",
                            (json_int_t)sps.buckets_in_backward, "epochs", r->epoch_comm);
      if (!o) st = RK_ENOMEM;
      else json_object_set_new(par, "overlap", o);
    }
    if (st == RK_OK && c->dist && rk_dist_size(c->dist) > 1)
      rk_info("data parallel: %d ranks x %lld pieces of %lld rows; rank 0 sent %.1f KiB per step, waited %.2f s",
              rk_dist_size(c->dist), (long long)r->pieces, (long long)piece_rows(c),
              (double)ds.bytes_sent / (double)steps / 1024.0, ds.wait_seconds);
  }
  if (st == RK_OK && c->throughput_after > 0) {
    /* The recipe's benchmark figure: samples/s over the steps after the warm-up. */
    double warm = r->warm.seconds > 0 ? (double)r->warm.samples / r->warm.seconds : NAN;
    json_object_set_new(json_object_get(out, "train"), "throughput_after_warmup", number(warm));
    json_t *dstep = json_array(), *data = json_pack("{so}", "train_throughput", number(warm));
    st = dstep && data ? rk_dllogger_log(r->logs.dll, dstep, data) : RK_ENOMEM;
    json_decref(dstep);
    json_decref(data);
  }
  if (st == RK_OK) st = write_json(metrics_path, out);
  if (st == RK_OK && c->eval_path) {
    json_t *dstep = json_array();
    st = dstep ? rk_dllogger_log(r->logs.dll, dstep, metrics) : RK_ENOMEM;
    json_decref(dstep);
    const char *key;
    json_t *v;
    char tag[96];
    json_object_foreach(metrics, key, v) {
      if (!r->logs.tb || st != RK_OK || !json_is_real(v)) continue;
      snprintf(tag, sizeof tag, "eval/%s", key);
      st = rk_tb_scalar(r->logs.tb, tag, ps->step, (float)json_real_value(v));
    }
  }
  if (st == RK_OK) {
    char title[256];
    char names[200] = "";
    for (int t = 0; t < r->m->out.n_tasks; t++)
      snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", t ? ", " : "", r->m->out.targets[t]);
    snprintf(title, sizeof title, "reckon train: %s on %s", rk_model_kind_name(r->ranking.cfg.kind), names);
    bool roc = !r->m->out.regression[0];   /* the ROC and calibration plots show the first task */
    rk_report rep = {title, c->flags, r->logs.history, NULL, c->eval_path ? metrics : NULL, roc ? ev->prob : NULL,
                     roc ? ev->label : NULL, roc ? ev->rows : 0};
    st = rk_report_write_html(report_path, &rep);
  }
  if (st == RK_OK && c->save_model_path) {
    char buf[4096];
    json_t *extra = json_pack("{s:O s{sI sI} so}", "flags", c->flags ? (json_t *)c->flags : json_null(), "training",
                              "steps", (json_int_t)ps->step, "samples", (json_int_t)ps->samples, "task_weights",
                              rk_task_weights_to_json(&r->tasks.tw, r->m));
    const char *fp = rk_schema_workflow_fingerprint(&r->schema);   /* predict checks data against it */
    if (extra) json_object_set_new(extra, "workflow_fingerprint", fp ? json_string(fp) : json_null());
    st = extra ? rk_model_save(c->save_model_path, r->m, &r->schema, workflow_dir(c, buf, sizeof buf), extra)
               : RK_ENOMEM;
    json_decref(extra);
  }
  if (st == RK_OK && c->predict_path) {
    rk_predict_options po = {c->predict_path, c->predict_output_path, c->predict_output_format, c->predict_keep,
                             c->n_predict_keep, c->eval_batch_size, c->overwrite, NULL, NULL};
    if (run_shards_count(r->shards)) {   /* rank 0 fetches each batch's rows; the others serve */
      po.before_forward = run_shards_ask;
      po.before_forward_ctx = r->shards;
    }
    int64_t rows;
    if (!po.output) {
      char *p = path_in(c->output_path, "predictions");
      po.output = p;
      st = p ? rk_predict(r->m, &po, &rows) : RK_ENOMEM;
      rk_free(p);
    } else {
      st = rk_predict(r->m, &po, &rows);
    }
  }
  json_decref(metrics);
  if (st == RK_OK && result) *result = json_incref(out);
  json_decref(out);
  return st;
}

rk_status rk_train(const rk_train_config *c, json_t **result) {
  if (result) *result = NULL;
  run r;
  memset(&r, 0, sizeof r);
  r.c = c;
  r.writer = writes(c);
  rk_schema_init(&r.schema);
  rk_status st = setup(&r);
  progress_state ps = {0};
  json_t *history = NULL;
  bool resumed = false;
  if (st == RK_OK && c->resume != RK_RESUME_NEVER)
    st = load_checkpoint(c, r.m, &r.opt, r.shards, &ps, &history, &r.tasks, &resumed);
  if (st == RK_OK && !(r.logs.columns = log_columns(r.m))) st = RK_ENOMEM;
  if (st == RK_OK && r.writer) st = open_logs(&r.logs, &r.set, c, history);
  json_decref(history);
  if (st == RK_OK && resumed && r.writer)
    rk_info("resuming from step %lld (epoch %lld, batch %lld)", (long long)ps.step, (long long)ps.epoch + 1,
            (long long)ps.batch);
  double last_reg = 0, last_loss = NAN;
  if (st == RK_OK) st = train_loop(&r, &ps, &last_reg, &last_loss);
  /* The final evaluation: every rank scores its share, rank 0 has the metrics (rk_evaluate). */
  rk_eval_result ev = {0};
  bool evaluated = false;
  if (st == RK_OK && c->eval_path) {
    rk_eval_options eo = eval_options(&r);
    evaluated = (st = rk_evaluate(r.m, &r.schema, &eo, &ev)) == RK_OK;
  }
  if (st == RK_OK && r.writer) {
    st = finish(&r, &ps, last_reg, last_loss, &ev, result);
    rk_status done = run_shards_serve_done(r.shards);   /* the others served the model's and predictions' rows */
    if (st == RK_OK) st = done;
  } else if (st == RK_OK) {
    st = run_shards_serve(r.shards);
  }
  if (evaluated) rk_eval_result_free(&ev);
  if (st == RK_OK && r.writer) st = close_logs(&r.logs);
  if (st == RK_OK && r.writer) st = rk_output_set_publish(&r.set);
  if (st == RK_OK && r.writer && c->checkpoint_every > 0) {
    /* The run is complete: its checkpoint would only resume into nothing. */
    char *dir = checkpoint_dir(c);
    if (dir) rk_remove_tree(dir);
    rk_free(dir);
  }
  free_run(&r);
  return st;
}
