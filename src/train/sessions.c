/*
 * `reckon sessions`' run: recsys_main.py's incremental protocol (Transformers4Rec tag
 * recsys2021; t4rec-notes 1.3) over the time windows of src/train/sessions_windows.c:
 *
 *   for t in 0 .. n-2:   train on window t (or the last W windows), the weights carrying over and
 *                        the schedule restarting (reset_lr_scheduler); evaluate on window t+1's
 *                        valid (or test) set and on the first batches of the training data
 *   then                 the results files, log.json, report.html and the model folder
 *
 * Everything a step does is a function of (seed, window, epoch, step): the loaders' order comes
 * from (seed, data window, epoch), dropout and masking from the global step. A checkpoint
 * (after each window, and every --save_steps) holds the weights, AdamW's state and where the run
 * stands, so a run killed at any point and started again with the same command continues to the
 * same bits as a run never stopped. The outputs are claimed before any work and published
 * together at the end (src/core/output.c); a failed run leaves the previous run's set whole.
 *
 * Data parallel (c->dist, docs/distributed.md): every rank reads the same global batches and
 * trains its block of their pieces (fixed row ranges of --micro_batch_size rows); the gradients
 * are summed over pieces in one tree (step_pieces.h), so 1, 2 or 4 ranks end with the same bits.
 * The session models' parameters are dense (the item table is the output layer too, whose
 * gradient touches every row), so they are exchanged as one vector, by segments. Evaluation is
 * split over ranks (sessions_eval.c); rank 0 alone writes.
 * It is not the model (src/models, reckon/sessions.h) nor evaluation (sessions_eval.c).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reckon/data.h"
#include "reckon/models.h"
#include "reckon/optim.h"
#include "reckon/trainer.h"
#include "sessions_internal.h"
#include "train/step_pieces.h"

const char *const rk_sessions_output_names[] = {"log.json",
                                                "train_results_dates.txt",
                                                "eval_results_dates.txt",
                                                "eval_train_results_dates.csv",
                                                "eval_results_avg_over_days.txt",
                                                "train_results_over_time.txt",
                                                "eval_results_over_time.txt",
                                                "eval_train_results.csv",
                                                "eval_results_avg_over_time.txt",
                                                "runs",
                                                "report.html",
                                                "pred_logs",
                                                "attention_weights",
                                                "checkpoint",
                                                "model",
                                                "predictions.parquet",
                                                NULL};

void rk_sessions_config_default(rk_sessions_config *c) {
  memset(c, 0, sizeof *c);
  c->windows.start_index = 1;
  c->windows.final_index = -1;
  c->windows.pad_digits = 4;
  rk_session_config_default(&c->model);
  c->session_aware_prefix = "bef_";
  c->incremental = true;
  c->train_batch_size = c->eval_batch_size = 8;
  c->epochs = 3;
  c->lr = 5e-5f;
  c->adam_beta1 = 0.9f, c->adam_beta2 = 0.999f, c->adam_epsilon = 1e-8f;
  c->max_grad_norm = 1.0;
  c->lr_schedule = "constant_with_warmup";
  c->cosine_cycles_by_epoch = 1.25;
  c->logging_steps = 500;
  c->eval_steps_on_train_set = 20;
  c->ks[0] = 10, c->ks[1] = 20, c->ks[2] = 1000, c->n_ks = 3;
  c->predict_top_k = 10;
}

static json_t *number(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static char *path_in(const char *dir, const char *name) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *p = rk_malloc(n);
  if (p) snprintf(p, n, "%s/%s", dir, name);
  return p;
}

static bool exists(const char *p) {
  struct stat st;
  return stat(p, &st) == 0;
}

/* Where the run stands: the training window, and inside its training, the epoch, the batch of
 * the epoch and the steps taken. */
typedef struct {
  int window;
  int64_t epoch, batch, window_step, step;
} progress;

typedef struct {
  const rk_sessions_config *c;
  bool writer;                  /* rank 0 (or the only process): writes every output */
  int64_t pieces, piece_rows;   /* P pieces of M rows per global batch */
  step_pieces *steps;           /* the step's gradient over pieces and ranks */
  const rk_batch *global;       /* the step's global batch, while step_pieces runs its pieces */
  uint64_t step;                /* the global step, while it runs */
  const char *window;           /* and its window's label */
  rk_batch piece;               /* a piece's rows of it */
  int64_t *piece_rows_idx;      /* (M) their indices */
  rk_output out;
  rk_output_set set;
  rk_session_windows win;
  rk_schema schema;
  bool have_schema;
  rk_session_features features;
  char **metadata;              /* --feature_config's log_with_preds_as_metadata columns */
  int n_metadata;
  rk_saved_model saved;         /* --model_name_or_path: the loaded model, owning the parameters */
  bool have_saved;
  rk_model *m;                  /* the training graph (owning the parameters unless loaded) */
  rk_model_feed *feed;
  const char **columns;
  int n_columns;
  rk_optim_set opt;
  rk_session_evaluator ev;
  rk_session_oracle oracle;     /* --synth_oracle, or n 0 */
  rk_tb_writer *tb;
  json_t *results;              /* [{"window": t, "metrics": {...}}] per evaluated window */
  json_t *train_log, *eval_log; /* report.html's series */
  double log_loss;              /* loss summed since the last training-log row */
  int64_t log_steps;
  json_t *train_speed;          /* the last trained window's train_runtime, _samples_ and _steps_per_second */
} run;

static void free_run(run *r) {
  step_pieces_free(r->steps);
  rk_batch_free(&r->piece);
  rk_free(r->piece_rows_idx);
  rk_session_evaluator_free(&r->ev);
  rk_session_oracle_free(&r->oracle);
  if (r->feed) r->m->ops->feed_free(r->feed);
  rk_optim_set_free(&r->opt);
  if (r->m) r->m->ops->free(r->m);
  if (r->have_saved) rk_saved_model_free(&r->saved);
  rk_free(r->columns);
  rk_session_features_free(&r->features);
  for (int i = 0; i < r->n_metadata; i++) rk_free(r->metadata[i]);
  rk_free(r->metadata);
  rk_schema_free(&r->schema);
  rk_session_windows_free(&r->win);
  if (r->tb) rk_tb_close(r->tb);
  json_decref(r->results);
  json_decref(r->train_log);
  json_decref(r->eval_log);
  json_decref(r->train_speed);
  rk_output_set_free(&r->set);
  rk_output_release(&r->out);
}

/* ---- setup ---- */

static rk_status check_config(const rk_sessions_config *c) {
  if (!c->output_dir || !*c->output_dir) return rk_error(RK_EUSAGE, "--output_dir is required");
  if (!c->do_train && !c->do_eval && !c->do_predict)
    return rk_error(RK_EUSAGE, "nothing to do: give --do_train, --do_eval or --do_predict (recsys_main.py's flags)");
  if (c->do_predict && !c->do_train && !c->load_model)
    return rk_error(RK_EUSAGE, "--do_predict without --do_train needs a trained model: --model_name_or_path DIR");
  if (c->train_batch_size < 1 || c->eval_batch_size < 1)
    return rk_error(RK_EUSAGE, "--per_device_train_batch_size and --per_device_eval_batch_size must be at least 1");
  int ranks = c->dist ? rk_dist_size(c->dist) : 1;
  int64_t M = c->micro_batch_size > 0 ? c->micro_batch_size : c->train_batch_size;
  if (c->micro_batch_size < 0) return rk_error(RK_EUSAGE, "--micro_batch_size must be 0 (the whole batch) or more");
  if (c->train_batch_size % M != 0)
    return rk_error(RK_EUSAGE, "--micro_batch_size %lld does not divide the global batch of %lld sessions",
                    (long long)M, (long long)c->train_batch_size);
  if (c->train_batch_size / M < ranks)
    return rk_error(RK_EUSAGE, "%lld pieces of %lld sessions per step, fewer than the %d ranks: lower --micro_batch_size",
                    (long long)(c->train_batch_size / M), (long long)M, ranks);
  if (!(c->epochs > 0) && c->max_steps <= 0)
    return rk_error(RK_EUSAGE, "--num_train_epochs must be above 0 (or give --max_steps)");
  rk_lr_schedule s;
  return rk_lr_schedule_recsys(&s, c->lr_schedule, c->warmup_steps, 1, c->cosine_cycles_by_epoch, 1);
}

/* The Merlin schema beside the data: in --data_path, its sessions/ (where the session ETL writes
 * every session before the split), else in the first window's folder. */
static rk_status find_schema(run *r) {
  rk_status st = rk_schema_read(&r->schema, r->c->windows.data_path);
  if (st != RK_OK) {
    char *p = path_in(r->c->windows.data_path, "sessions");
    if (!p) return RK_ENOMEM;
    st = exists(p) ? rk_schema_read(&r->schema, p) : st;
    rk_free(p);
  }
  if (st != RK_OK) {
    char *dir = rk_strdup(r->win.w[0].train);
    if (!dir) return RK_ENOMEM;
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    st = rk_schema_read(&r->schema, dir);
    rk_free(dir);
  }
  r->have_schema = st == RK_OK;
  if (!r->have_schema) rk_schema_init(&r->schema);
  return st;
}

static rk_status read_features(run *r) {
  const rk_sessions_config *c = r->c;
  rk_status schema_st = find_schema(r);
  if (c->feature_config) {
    rk_feature_config fc;
    RK_TRY(rk_feature_config_read(&fc, c->feature_config));
    rk_status st = rk_session_features_from_config(&r->features, &fc);
    if (st == RK_OK && !(r->metadata = rk_calloc((size_t)fc.n, sizeof *r->metadata))) st = RK_ENOMEM;
    for (int i = 0; st == RK_OK && i < fc.n; i++)
      if (fc.features[i].log_with_preds_as_metadata && !(r->metadata[r->n_metadata++] = rk_strdup(fc.features[i].name)))
        st = RK_ENOMEM;
    rk_feature_config_free(&fc);
    return st == RK_OK ? RK_OK : rk_error_context(st, "--feature_config '%s'", c->feature_config);
  }
  if (schema_st != RK_OK)
    return rk_error_context(schema_st,
                            "no --feature_config, and no Merlin schema in --data_path '%s' or its first window's folder "
                            "(reckon preprocess writes schema.pbtxt and .merlin/schema.json)",
                            c->windows.data_path);
  return rk_session_features_from_schema(&r->features, &r->schema);
}

static rk_status load_features(run *r) {
  if (r->c->load_model) return (void)find_schema(r), RK_OK;   /* the saved model's features */
  RK_TRY(read_features(r));
  if (!r->c->model.session_aware) return RK_OK;
  rk_status st = rk_session_features_pair_past(&r->features, r->c->session_aware_prefix);
  return st == RK_OK ? RK_OK : rk_error_context(st, "--session_aware");
}

/* The model: built from the flags and the features, or with --model_name_or_path the saved
 * model (its architecture, features and weights; rk_model_load), a graph of the training batch
 * shared over its parameters. A run that does not train builds an inference graph and no
 * optimizer: no gradient buffers, no AdamW moments (twice the item table on their own). */
static rk_status build(run *r) {
  const rk_sessions_config *c = r->c;
  if (c->load_model) {
    rk_status st = rk_model_load(&r->saved, c->load_model);
    r->have_saved = st == RK_OK;
    if (st == RK_OK && !rk_model_is_session(r->saved.model))
      st = rk_error(RK_EUSAGE, "--model_name_or_path '%s' holds a %s model, not a session model", c->load_model,
                    r->saved.model->ops->family);
    if (st == RK_OK) st = rk_session_share(&r->m, r->saved.model, r->piece_rows, c->do_train, false);
    if (st != RK_OK) return rk_error_context(st, "--model_name_or_path '%s'", c->load_model);
  } else {
    RK_TRY(rk_session_config_check(&c->model));
    RK_TRY(rk_session_build(&r->m, &r->features, &c->model, r->piece_rows, c->do_train));
  }
  uint64_t seed = rk_session_model_config(r->m)->seed;
  const rk_schema *schema = r->have_schema ? &r->schema : NULL;
  RK_TRY(r->m->ops->feed_init(&r->feed, r->m, schema, 0, NULL, seed));
  int max = r->m->ops->feed_max_columns(r->m);
  if (!(r->columns = rk_calloc((size_t)(max > 0 ? max : 1), sizeof *r->columns))) return RK_ENOMEM;
  r->n_columns = r->m->ops->feed_columns(r->feed, true, r->columns);
  /* Hugging Face's AdamW over every parameter, dense as PyTorch steps an nn.Embedding (the item
   * table lazy with --item_table_updates lazy); biases and LayerNorm weights undecayed (the build
   * marks both). */
  rk_optim_config oc;
  rk_optim_config_hf_adamw(&oc, c->lr, c->weight_decay, c->adam_beta1, c->adam_beta2, c->adam_epsilon);
  oc.sparse_as_dense = true;
  if (c->do_train) RK_TRY(rk_optim_set_init(&r->opt, r->m, &oc, NULL, NULL));
  /* DDP's default bucket size: the session models have no flag for it (recsys_main.py has none) */
  if (c->do_train)
    RK_TRY(step_pieces_init(&r->steps, r->m, r->pieces, 1, c->dist, (int64_t)(RK_BUCKET_CAP_MB_DEFAULT * 1048576.0)));
  if (!(r->piece_rows_idx = rk_calloc((size_t)r->piece_rows, sizeof *r->piece_rows_idx))) return RK_ENOMEM;
  return rk_session_evaluator_init(&r->ev, r->m, schema, c->eval_batch_size, c->log_attention_weights, seed,
                                   (const char *const *)r->metadata, r->n_metadata);
}

/* The columns the feed reads must be in the data: checked on each file before training, so a
 * feature config that does not match names the column and the file in a second. */
static rk_status check_columns(const run *r, const char *path, const char *role) {
  rk_loader_options lo;
  rk_loader_options_default(&lo);
  lo.path = path;
  lo.columns = r->columns;
  lo.ncolumns = r->n_columns;
  lo.prefetch = false;
  rk_loader *l;
  rk_status st = rk_loader_open(&l, &lo);
  if (st != RK_OK)
    return rk_error_context(st, "the %s '%s' does not hold the model's columns (from %s)", role, path,
                            r->c->feature_config ? "--feature_config" : "the Merlin schema");
  rk_loader_close(l);
  return RK_OK;
}

static rk_status check_data(const run *r) {
  const rk_sessions_config *c = r->c;
  for (int i = 0; i < r->win.n; i++) {
    const rk_session_window *w = &r->win.w[i];
    if (c->do_train && i < r->win.n - 1) RK_TRY(check_columns(r, w->train, "training data"));
    if (c->do_eval && i > 0) RK_TRY(check_columns(r, c->windows.eval_on_test_set ? w->test : w->valid, "evaluation data"));
  }
  return RK_OK;
}

/* ---- checkpoints ---- */

/* What a checkpoint must agree with to be resumed: the flags that shape the run. */
static json_t *fingerprint(const run *r) {
  const rk_sessions_config *c = r->c;
  json_t *windows = json_array();
  for (int i = 0; windows && i < r->win.n; i++) json_array_append_new(windows, json_string(r->win.w[i].label));
  return json_pack("{so so sb sI sI sI sI sf sI sf sf sf ss sI sf sb sb sb sI}", "model",
                   rk_session_config_to_json(rk_session_model_config(r->m)),
                   "windows", windows, "incremental", c->incremental, "training_window_size",
                   (json_int_t)c->training_window_size, "train_batch_size", (json_int_t)c->train_batch_size,
                   "piece_rows", (json_int_t)r->piece_rows, "eval_batch_size", (json_int_t)c->eval_batch_size,
                   "epochs", c->epochs, "max_steps", (json_int_t)c->max_steps, "lr", (double)c->lr, "weight_decay",
                   (double)c->weight_decay, "max_grad_norm", c->max_grad_norm, "lr_schedule", c->lr_schedule, "warmup_steps",
                   (json_int_t)c->warmup_steps, "cosine_cycles_by_epoch", c->cosine_cycles_by_epoch, "drop_last",
                   c->drop_last, "do_train", c->do_train, "do_eval", c->do_eval, "shuffle_buffer_rows",
                   (json_int_t)c->shuffle_buffer_rows);
}

static rk_status save_checkpoint(const run *r, const progress *ps) {
  char *dir = path_in(r->c->output_dir, "checkpoint");
  /* the loss summed since the last log row too, so the resumed run's next row is the same */
  json_t *state = json_pack("{si sI sI sI sI sI s:o s:O s:O s:O sf sI}", "window", ps->window, "epoch",
                            (json_int_t)ps->epoch, "batch", (json_int_t)ps->batch, "window_step",
                            (json_int_t)ps->window_step, "step", (json_int_t)ps->step, "optimizer_step",
                            (json_int_t)rk_optim_set_steps(&r->opt), "run", fingerprint(r), "results", r->results,
                            "train_log", r->train_log, "eval_log", r->eval_log, "log_loss", r->log_loss, "log_steps",
                            (json_int_t)r->log_steps);
  rk_status st = dir ? rk_checkpoint_write(dir, NULL, r->m, &r->opt, state) : (json_decref(state), RK_ENOMEM);
  rk_free(dir);
  return st;
}

/* A checkpoint of the same run in output_dir/checkpoint continues it; one of another run is
 * refused (or, with --overwrite_output_dir, set aside: the run starts over). */
static rk_status load_checkpoint(run *r, progress *ps, bool *resumed) {
  *resumed = false;
  char *dir = path_in(r->c->output_dir, "checkpoint");
  char *sp = dir ? path_in(dir, "state.json") : NULL, *w = dir ? path_in(dir, "weights.safetensors") : NULL;
  rk_status st = sp && w ? RK_OK : RK_ENOMEM;
  json_t *state = NULL, *fp = NULL;
  if (st != RK_OK || !exists(sp)) goto done;
  json_error_t err;
  if (!(state = json_load_file(sp, 0, &err))) {
    st = rk_error(RK_EFORMAT, "cannot read the checkpoint '%s': %s", sp, err.text);
    goto done;
  }
  int window = 0;
  json_int_t epoch = 0, batch = 0, wstep = 0, step = 0, ostep = 0;
  json_t *run_fp = NULL, *results = NULL, *tlog = NULL, *elog = NULL;
  double log_loss = 0;
  json_int_t log_steps = 0;
  if (json_unpack_ex(state, &err, 0, "{si sI sI sI sI sI so so so so sF sI}", "window", &window, "epoch", &epoch, "batch",
                     &batch, "window_step", &wstep, "step", &step, "optimizer_step", &ostep, "run", &run_fp, "results",
                     &results, "train_log", &tlog, "eval_log", &elog, "log_loss", &log_loss, "log_steps", &log_steps) != 0) {
    st = rk_error(RK_EFORMAT, "'%s': %s", sp, err.text);
    goto done;
  }
  if (!(fp = fingerprint(r))) {
    st = RK_ENOMEM;
    goto done;
  }
  if (!json_equal(fp, run_fp)) {
    if (r->c->overwrite) {
      rk_info("--overwrite_output_dir: the checkpoint in '%s' is from a run with other flags; starting over", dir);
      goto done;
    }
    st = rk_error(RK_EUSAGE,
                  "the checkpoint in '%s' was made by a run with other flags (model, windows, batch sizes, epochs or "
                  "optimizer); rerun with those flags to continue it, or give --overwrite_output_dir to start over",
                  dir);
    goto done;
  }
  if ((st = rk_model_read_weights(w, r->m, &r->opt)) != RK_OK) goto done;
  rk_optim_set_set_steps(&r->opt, ostep);
  *ps = (progress){window, epoch, batch, wstep, step};
  r->log_loss = log_loss, r->log_steps = log_steps;
  json_decref(r->results), json_decref(r->train_log), json_decref(r->eval_log);
  r->results = json_deep_copy(results), r->train_log = json_deep_copy(tlog), r->eval_log = json_deep_copy(elog);
  if (!r->results || !r->train_log || !r->eval_log) st = RK_ENOMEM;
  *resumed = st == RK_OK;
done:
  json_decref(state);
  json_decref(fp);
  rk_free(dir);
  rk_free(sp);
  rk_free(w);
  return st;
}

/* ---- training ---- */

/* A data window's loader seed: the run's seed mixed with the window (splitmix64's finaliser), so
 * each window has its own order and a window's order does not depend on which ran before. */
static uint64_t window_seed(uint64_t seed, int64_t index) {
  uint64_t z = seed + 0x9e3779b97f4a7c15ull * (uint64_t)(index + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static rk_status open_train_loader(rk_loader **out, const run *r, const rk_session_window *w) {
  const rk_sessions_config *c = r->c;
  rk_loader_options lo;
  rk_loader_options_default(&lo);
  lo.path = w->train;
  lo.columns = r->columns;
  lo.ncolumns = r->n_columns;
  lo.batch_size = c->train_batch_size;
  lo.shuffle = true;
  lo.seed = window_seed(c->model.seed, w->index);
  if (c->shuffle_buffer_rows > 0) lo.shuffle_buffer_rows = c->shuffle_buffer_rows;
  lo.drop_last = c->drop_last;
  return rk_loader_open(out, &lo);
}

static rk_status log_train_row(run *r, const progress *ps, double lr) {
  double loss = r->log_steps ? r->log_loss / (double)r->log_steps : NAN;
  json_t *row = json_pack("{sI ss so so}", "step", (json_int_t)ps->step, "window", r->win.w[ps->window].label, "loss",
                          number(loss), "lr", number(lr));
  if (!row) return RK_ENOMEM;
  json_array_append_new(r->train_log, row);
  r->log_loss = 0, r->log_steps = 0;
  rk_status st = RK_OK;
  if (r->tb) st = rk_tb_scalar(r->tb, "train/loss", ps->step, (float)loss);
  if (r->tb && st == RK_OK) st = rk_tb_scalar(r->tb, "train/learning_rate", ps->step, (float)lr);
  return st;
}

/* Piece `piece` of the step (step_pieces.h): rows [piece M, piece M + M) of the global batch
 * through forward and backward, its loss in extra[0]. Masking and dropout are keyed by
 * (step, piece), so a piece draws the same on any rank; one piece keys them by the step, as a
 * plain run does. A piece past the batch's end (its last, short batch) is empty. */
static rk_status run_piece(void *ctx, int64_t piece, float *extra) {
  run *r = ctx;
  const rk_batch *b = r->global;
  int64_t first = piece * r->piece_rows, n = b->nrows - first < r->piece_rows ? b->nrows - first : r->piece_rows;
  if (n <= 0) return RK_OK;
  const rk_batch *rows = b;
  if (r->pieces > 1) {
    for (int64_t i = 0; i < n; i++) r->piece_rows_idx[i] = first + i;
    RK_TRY(rk_batch_take(&r->piece, b, r->piece_rows_idx, n));
    rows = &r->piece;
  }
  uint64_t key = r->pieces == 1 ? r->step : r->step * (uint64_t)r->pieces + (uint64_t)piece;
  RK_TRY(r->m->ops->feed_fill(r->feed, rows, key));
  rk_graph_set_step(r->m->g, key);   /* dropout follows the step, also after a resume */
  RK_TRY(rk_graph_forward(r->m->g, RK_TRAIN));
  extra[0] = rk_graph_value_f32(r->m->g, rk_session_model_outputs(r->m)->loss)[0];
  if (!isfinite(extra[0]))
    return rk_error(RK_ERANGE, "the loss is %g at step %lld (window %s): lower --learning_rate or check the data", extra[0],
                    (long long)r->step, r->window);
  return rk_graph_backward(r->m->g);
}

/* One optimizer step on a global batch: its pieces' forward and backward (on this rank, summed
 * over all), clipping, AdamW at the schedule's rate. */
static rk_status train_step(run *r, const rk_batch *b, const progress *ps, const rk_lr_schedule *sched) {
  const rk_sessions_config *c = r->c;
  r->global = b;
  r->step = (uint64_t)ps->step;
  r->window = r->win.w[ps->window].label;
  float extra[1];
  RK_TRY(step_pieces_run(r->steps, run_piece, r, extra));
  double loss = extra[0] / (double)r->pieces;
  if (c->max_grad_norm > 0) {
    double norm;
    RK_TRY(rk_optim_clip_global_norm(&norm, r->m->params, r->m->n_params, c->max_grad_norm));
  }
  RK_TRY(rk_optim_set_step(&r->opt, rk_lr_schedule_factor(sched, ps->window_step)));
  rk_graph_zero_grad(r->m->g);
  r->log_loss += loss;
  r->log_steps++;
  return RK_OK;
}

/* Hugging Face Trainer's speed metrics of a window's training: its wall time, sessions and steps
 * per second (of this process: a resumed window counts from the resume). */
static rk_status set_train_speed(run *r, double seconds, int64_t sessions, int64_t steps) {
  json_decref(r->train_speed);
  double s = seconds > 0 ? seconds : 0;
  r->train_speed = json_pack("{s:o s:o s:o}", "train_runtime", json_real(s), "train_samples_per_second",
                             number(s > 0 ? (double)sessions / s : NAN), "train_steps_per_second",
                             number(s > 0 ? (double)steps / s : NAN));
  return r->train_speed ? RK_OK : RK_ENOMEM;
}

/* Training on window t's data: --num_train_epochs epochs (or --max_steps steps) over the
 * training windows in time order, each shuffled by (seed, window, epoch). */
static rk_status train_window(run *r, progress *ps) {
  const rk_sessions_config *c = r->c;
  int t = ps->window, first;
  rk_session_train_windows(&first, t, c->incremental, c->training_window_size);
  int nw = t - first + 1;
  rk_loader **L = rk_calloc((size_t)nw, sizeof *L);
  if (!L) return RK_ENOMEM;
  rk_status st = RK_OK;
  int64_t per_epoch = 0;
  for (int j = 0; st == RK_OK && j < nw; j++)
    if ((st = open_train_loader(&L[j], r, &r->win.w[first + j])) == RK_OK) per_epoch += rk_loader_num_batches(L[j]);
  if (st == RK_OK && per_epoch == 0)
    st = rk_error(RK_EUSAGE, "window %s has no training batch ('%s'%s)", r->win.w[t].label, r->win.w[t].train,
                  c->drop_last ? ": fewer sessions than --per_device_train_batch_size with --dataloader_drop_last" : "");
  int64_t window_steps = c->max_steps > 0 ? c->max_steps : (int64_t)ceil(c->epochs * (double)per_epoch);
  double epochs = c->max_steps > 0 ? (double)c->max_steps / (double)(per_epoch ? per_epoch : 1) : c->epochs;
  rk_lr_schedule sched;
  if (st == RK_OK)
    st = rk_lr_schedule_recsys(&sched, c->lr_schedule, c->warmup_steps, window_steps, c->cosine_cycles_by_epoch, epochs);
  rk_batch b = {0};
  rk_progress prog;
  char label[64];
  snprintf(label, sizeof label, "window %s", r->win.w[t].label);
  rk_progress_begin(&prog, label, (double)window_steps, "steps");
  double start = rk_now();
  int64_t sessions = 0, steps = 0;
  while (st == RK_OK && ps->window_step < window_steps) {
    int64_t skip = ps->batch, k = 0;   /* a resumed epoch re-reads the batches it had done */
    for (int j = 0; st == RK_OK && j < nw && ps->window_step < window_steps; j++) {
      if ((st = rk_loader_start_epoch(L[j], ps->epoch)) != RK_OK) break;
      while (st == RK_OK && ps->window_step < window_steps) {
        if ((st = rk_loader_next(L[j], &b)) != RK_OK || b.nrows == 0) break;
        if (k++ < skip) continue;
        if ((st = train_step(r, &b, ps, &sched)) != RK_OK) break;
        ps->window_step++, ps->step++, ps->batch++;
        sessions += b.nrows, steps++;
        double lr = c->lr * rk_lr_schedule_factor(&sched, ps->window_step - 1);
        /* the note before the log row, which starts the next average (--logging_steps 1 showed nan) */
        snprintf(prog.note, sizeof prog.note, "loss %.4f", r->log_steps ? r->log_loss / (double)r->log_steps : NAN);
        if (c->logging_steps > 0 && ps->step % c->logging_steps == 0) st = log_train_row(r, ps, lr);
        rk_progress_update(&prog, (double)ps->window_step);
        bool save = c->save_steps > 0 && ps->step % c->save_steps == 0 && ps->window_step < window_steps;
        if (st == RK_OK && r->writer && save) {   /* every rank holds these weights: rank 0 writes them */
          progress at = *ps;
          if (ps->batch == per_epoch) at.epoch++, at.batch = 0;
          st = save_checkpoint(r, &at);
        }
      }
    }
    if (st == RK_OK && ps->batch >= per_epoch) ps->epoch++, ps->batch = 0;
    else if (st == RK_OK) break;   /* --max_steps ended the epoch early */
  }
  rk_progress_end(&prog);
  if (st == RK_OK) st = set_train_speed(r, rk_now() - start, sessions, steps);
  if (st == RK_OK && r->log_steps)
    st = log_train_row(r, ps, c->lr * rk_lr_schedule_factor(&sched, window_steps > 0 ? window_steps - 1 : 0));
  rk_batch_free(&b);
  for (int j = 0; j < nw; j++)
    if (L[j]) rk_loader_close(L[j]);
  rk_free(L);
  return st;
}

/* ---- evaluation of a window ---- */

static rk_status pred_log_path(char **out, const run *r, const char *label) {
  char name[64];
  if (r->win.layout == RK_WINDOWS_DATES) snprintf(name, sizeof name, "pred_logs/preds_date_%s.parquet", label);
  else snprintf(name, sizeof name, "pred_logs/preds_%04lld.parquet", atoll(label));
  return (*out = path_in(r->c->output_dir, name)) ? RK_OK : RK_ENOMEM;
}

static rk_status evaluate_window(run *r, const progress *ps) {
  const rk_sessions_config *c = r->c;
  int t = ps->window, first;
  rk_session_train_windows(&first, t, c->incremental, c->training_window_size);
  const rk_session_window *ew = &r->win.w[t + 1];
  json_t *metrics = json_object();
  if (!metrics) return RK_ENOMEM;
  char *pred = NULL, *att = NULL;
  rk_status st = RK_OK;
  /* every rank knows the paths (they decide whether rank 0 ranks alone); rank 0 makes the folders */
  if (c->log_predictions) {
    char *dir = path_in(c->output_dir, "pred_logs");
    st = dir ? (r->writer ? rk_mkdir_p(dir) : RK_OK) : RK_ENOMEM;
    rk_free(dir);
    if (st == RK_OK) st = pred_log_path(&pred, r, ew->label);
  }
  if (st == RK_OK && c->log_attention_weights && rk_session_model_outputs(r->ev.g)->attention) {
    char *dir = path_in(c->output_dir, "attention_weights");
    char name[64];
    snprintf(name, sizeof name, "eval_%s", ew->label);
    st = dir ? (r->writer ? rk_mkdir_p(dir) : RK_OK) : RK_ENOMEM;
    if (st == RK_OK && !(att = path_in(dir, name))) st = RK_ENOMEM;
    rk_free(dir);
  }
  /* The evaluation window first, then the training data's first batches, as the reference's keys
   * {**eval_metrics, **train_metrics} are ordered. */
  const char *eval_path = c->windows.eval_on_test_set ? ew->test : ew->valid;
  rk_session_eval_options eo = {"eval", c->ks, c->n_ks, c->batch_mean, 0, pred, c->predict_top_k, att, c->dist};
  if (st == RK_OK) st = rk_session_evaluate(&r->ev, &eval_path, 1, &eo, metrics);
  if (st == RK_OK && c->synth_oracle && r->writer) st = rk_session_oracle_score(&r->oracle, eval_path, metrics);
  if (st == RK_OK && c->eval_steps_on_train_set > 0 && c->do_train) {
    const char **paths = rk_calloc((size_t)(t - first + 1), sizeof *paths);
    if (!paths) st = RK_ENOMEM;
    for (int j = first; paths && j <= t; j++) paths[j - first] = r->win.w[j].train;
    rk_session_eval_options to = {"train", c->ks, c->n_ks, c->batch_mean, c->eval_steps_on_train_set, NULL, 0, NULL,
                                  c->dist};
    if (st == RK_OK) st = rk_session_evaluate(&r->ev, paths, t - first + 1, &to, metrics);
    rk_free(paths);
  }
  if (st == RK_OK && c->dist && rk_dist_size(c->dist) > 1) {
    /* Rank 0 ranks alone when it logs predictions or attention: the others wait for it, however
     * long it takes (a rank that dies is still caught: mpirun ends the job). */
    double timeout = rk_dist_set_timeout(c->dist, 7 * 24 * 3600.0);
    st = rk_dist_barrier(c->dist);
    rk_dist_set_timeout(c->dist, timeout);
  }
  if (st == RK_OK) {
    /* the training speed beside the metrics: it varies from run to run, so the CSV and the
     * averages, which a resumed run must reproduce, leave it out */
    json_t *row = json_pack("{si sO sO*}", "window", t, "metrics", metrics, "speed", r->train_speed);
    json_t *erow = json_deep_copy(metrics);
    if (!row || !erow) st = RK_ENOMEM;
    if (st == RK_OK) {
      json_object_set_new(erow, "step", json_integer(ps->step));
      json_array_append_new(r->results, row);
      json_array_append_new(r->eval_log, erow);
    } else {
      json_decref(row), json_decref(erow);
    }
  }
  const char *key;
  json_t *v;
  json_object_foreach(metrics, key, v) {
    if (!r->tb || st != RK_OK || !json_is_real(v)) continue;
    char tag[128];
    snprintf(tag, sizeof tag, "%s/%s", strncmp(key, "train_", 6) == 0 ? "train" : "eval", key);
    st = rk_tb_scalar(r->tb, tag, ps->step, (float)json_real_value(v));
  }
  if (st == RK_OK && r->writer) {
    char recall[64], ndcg[64];
    snprintf(recall, sizeof recall, "eval_recall@%d", c->ks[0]);
    snprintf(ndcg, sizeof ndcg, "eval_ndcg@%d", c->ks[0]);
    rk_info("window %s -> %s: %s %.4f, %s %.4f", r->win.w[t].label, ew->label, recall,
            json_number_value(json_object_get(metrics, recall)), ndcg, json_number_value(json_object_get(metrics, ndcg)));
  }
  json_decref(metrics);
  rk_free(pred);
  rk_free(att);
  return st;
}

/* ---- outputs ---- */

static rk_status set_file(run *r, const char *name, const char **temp) {
  char *p = path_in(r->c->output_dir, name);
  rk_status st = p ? rk_output_set_add(&r->set, p, temp) : RK_ENOMEM;
  rk_free(p);
  return st;
}

static rk_status write_text(const char *path, rk_status (*body)(FILE *, const void *), const void *ctx) {
  FILE *f = fopen(path, "w");
  if (!f) return rk_error(RK_EIO, "cannot create '%s': %s", path, strerror(errno));
  rk_status st = body(f, ctx);
  if (fclose(f) != 0 && st == RK_OK) st = rk_error(RK_EIO, "cannot write '%s': %s", path, strerror(errno));
  return st;
}

typedef struct {
  const run *r;
  const rk_session_results *res;
  const json_t *average;
  int which;                    /* 0 train, 1 eval */
} results_ctx;

/* The metrics of one prefix ("train_" or "eval_") of a results row. */
/* A window's metrics that start with the prefix; the training ones with the window's training
 * speed (train_runtime, ..., as Hugging Face's Trainer logs it). */
static json_t *with_prefix(const run *r, int i, const json_t *metrics, const char *prefix) {
  json_t *o = json_object();
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)metrics, key, v) if (o && strncmp(key, prefix, strlen(prefix)) == 0)
      json_object_set(o, key, v);
  json_t *speed = json_object_get(json_array_get(r->results, (size_t)i), "speed");
  if (o && speed && strcmp(prefix, "train_") == 0 && json_object_update(o, speed) != 0) {
    json_decref(o);
    o = NULL;
  }
  return o;
}

static rk_status per_window_body(FILE *f, const void *ctx) {
  const results_ctx *x = ctx;
  rk_status st = RK_OK;
  for (int i = 0; st == RK_OK && i < x->res->n; i++) {
    json_t *m = with_prefix(x->r, i, x->res->metrics[i], x->which ? "eval_" : "train_");
    if (!m) return RK_ENOMEM;
    /* the date layout labels training results with the day trained on (the day before) */
    int t = (int)json_integer_value(json_object_get(json_array_get(x->r->results, (size_t)i), "window"));
    const char *label = x->which || x->res->layout == RK_WINDOWS_INDEX ? x->res->labels[i] : x->r->win.w[t].label;
    st = rk_session_results_block(f, x->res->layout, x->which ? "eval" : "train", label, m);
    json_decref(m);
  }
  return st;
}

static rk_status csv_body(FILE *f, const void *ctx) { return rk_session_results_write_csv(f, ((const results_ctx *)ctx)->res); }

static rk_status average_body(FILE *f, const void *ctx) {
  const results_ctx *x = ctx;
  return rk_session_results_write_average(f, x->res, x->average);
}

/* log.json: the PARAMETER line, each window's train and eval metrics (step [label]), and the
 * averages (step []), as recsys_outputs.py logs them. */
static rk_status write_dllogger(const run *r, const char *path, const rk_session_results *res, const json_t *average) {
  rk_dllogger *l;
  RK_TRY(rk_dllogger_open(&l, path));
  rk_status st = RK_OK;
  if (r->c->flags) st = rk_dllogger_parameters(l, r->c->flags);
  for (int i = 0; st == RK_OK && i < res->n; i++)
    for (int which = 0; st == RK_OK && which < 2; which++) {
      int t = (int)json_integer_value(json_object_get(json_array_get(r->results, (size_t)i), "window"));
      const char *label = which || res->layout == RK_WINDOWS_INDEX ? res->labels[i] : r->win.w[t].label;
      json_t *m = with_prefix(r, i, res->metrics[i], which ? "eval_" : "train_");
      json_t *step = res->layout == RK_WINDOWS_DATES ? json_pack("[s]", label) : json_pack("[I]", (json_int_t)atoll(label));
      st = m && step ? rk_dllogger_log(l, step, m) : RK_ENOMEM;
      json_decref(m), json_decref(step);
    }
  if (st == RK_OK && average) {
    json_t *step = json_array();
    st = step ? rk_dllogger_log(l, step, average) : RK_ENOMEM;
    json_decref(step);
  }
  rk_status cst = rk_dllogger_close(l);
  return st == RK_OK ? cst : st;
}

static const char *workflow_dir(const run *r, char *buf, size_t size) {
  snprintf(buf, size, "%s/workflow", r->c->windows.data_path);
  if (exists(buf)) return buf;
  snprintf(buf, size, "%s/../workflow", r->c->windows.data_path);
  return exists(buf) ? buf : NULL;
}

static rk_status finish(run *r, const progress *ps, json_t **result) {
  const rk_sessions_config *c = r->c;
  int n = (int)json_array_size(r->results);
  rk_session_results res = {r->win.layout, n, NULL, NULL};
  res.labels = rk_calloc((size_t)(n ? n : 1), sizeof *res.labels);
  res.metrics = rk_calloc((size_t)(n ? n : 1), sizeof *res.metrics);
  rk_status st = res.labels && res.metrics ? RK_OK : RK_ENOMEM;
  for (int i = 0; st == RK_OK && i < n; i++) {
    json_t *row = json_array_get(r->results, (size_t)i);
    int t = (int)json_integer_value(json_object_get(row, "window"));
    snprintf(res.labels[i], sizeof res.labels[i], "%s", r->win.w[t + 1].label);
    res.metrics[i] = json_object_get(row, "metrics");
  }
  json_t *average = NULL;
  if (st == RK_OK && n && !(average = rk_session_results_average(&res))) st = RK_ENOMEM;
  const char *log_path = NULL, *report_path = NULL;
  if (st == RK_OK) st = set_file(r, "log.json", &log_path);
  if (st == RK_OK) st = write_dllogger(r, log_path, &res, average);
  for (int which = 0; st == RK_OK && n && which < 4; which++) {
    const char *p;
    results_ctx x = {r, &res, average, which};
    st = set_file(r, rk_session_results_name(r->win.layout, which), &p);
    if (st == RK_OK) st = write_text(p, which < 2 ? per_window_body : which == 2 ? csv_body : average_body, &x);
  }
  if (st == RK_OK) st = set_file(r, "report.html", &report_path);
  if (st == RK_OK) {
    char title[256];
    const char *kind;
    int len = rk_setting_pick_word(RK_SESSION_MODEL_CHOICES, rk_session_model_config(r->m)->model_type, &kind);
    snprintf(title, sizeof title, "reckon sessions: %.*s over %d windows (%s to %s)", len, kind, r->win.n, r->win.w[0].label,
             r->win.w[r->win.n - 1].label);
    rk_report rep = {title, c->flags, r->train_log, r->eval_log, average, NULL, NULL, 0};
    st = rk_report_write_html(report_path, &rep);
  }
  if (st == RK_OK && c->do_train) {
    char buf[4096], *dir = path_in(c->output_dir, "model");
    json_t *extra = json_pack("{s:O s{sI si}}", "flags", c->flags ? (json_t *)c->flags : json_null(), "training", "steps",
                              (json_int_t)ps->step, "windows", r->win.n - 1);
    st = dir && extra ? rk_model_save(dir, r->m, &r->schema, workflow_dir(r, buf, sizeof buf), extra) : RK_ENOMEM;
    json_decref(extra);
    rk_free(dir);
  }
  if (st == RK_OK && c->do_predict) {
    const char *data = c->predict_path ? c->predict_path : r->win.w[r->win.n - 1].test;
    char *out = path_in(c->output_dir, "predictions.parquet");
    int64_t rows = 0;
    st = out ? rk_session_predict(&r->ev, data, out, c->predict_top_k, &rows) : RK_ENOMEM;
    if (st != RK_OK) st = rk_error_context(st, "--do_predict on '%s'", data);
    else rk_info("wrote top-%d predictions of %lld sessions of '%s' to %s", c->predict_top_k, (long long)rows, data, out);
    rk_free(out);
  }
  if (st == RK_OK && result) {
    *result = json_pack("{si sI s:o s:O}", "windows", r->win.n, "steps", (json_int_t)ps->step, "average",
                        average ? json_incref(average) : json_object(), "results", r->results);
    if (!*result) st = RK_ENOMEM;
  }
  json_decref(average);
  rk_free(res.labels);
  rk_free(res.metrics);
  return st;
}

/* A fresh run replaces what a previous run left in the folders it writes in place. */
static rk_status clear_previous(const rk_sessions_config *c) {
  static const char *const in_place[] = {"runs", "pred_logs", "attention_weights", "checkpoint"};
  for (size_t i = 0; i < sizeof in_place / sizeof *in_place; i++) {
    char *p = path_in(c->output_dir, in_place[i]);
    rk_status st = p ? rk_remove_tree(p) : RK_ENOMEM;
    rk_free(p);
    RK_TRY(st);
  }
  return RK_OK;
}

rk_status rk_sessions_run(const rk_sessions_config *c, json_t **result) {
  if (result) *result = NULL;
  RK_TRY(check_config(c));
  run r;
  memset(&r, 0, sizeof r);
  r.c = c;
  r.writer = !c->dist || rk_dist_rank(c->dist) == 0;
  r.piece_rows = c->micro_batch_size > 0 ? c->micro_batch_size : c->train_batch_size;
  r.pieces = c->train_batch_size / r.piece_rows;
  rk_session_window_options wo = c->windows;
  wo.need_train = c->do_train;
  wo.need_eval = c->do_eval;
  rk_status st = rk_session_windows_find(&r.win, &wo);
  bool made = !exists(c->output_dir), started = false;
  if (st == RK_OK && r.writer)
    st = rk_output_claim_names(&r.out, c->output_dir, "train-output", rk_sessions_output_names, c->overwrite);
  if (st == RK_OK) st = load_features(&r);
  if (st == RK_OK && c->synth_oracle) st = rk_session_oracle_read(&r.oracle, c->synth_oracle);
  if (st == RK_OK) st = build(&r);
  if (st == RK_OK) st = check_data(&r);
  r.results = json_array(), r.train_log = json_array(), r.eval_log = json_array();
  if (st == RK_OK && (!r.results || !r.train_log || !r.eval_log)) st = RK_ENOMEM;
  progress ps = {0};
  bool resumed = false;
  if (st == RK_OK) st = load_checkpoint(&r, &ps, &resumed);
  /* every rank has read the checkpoint before rank 0 may clear it */
  if (st == RK_OK && c->dist) st = rk_dist_barrier(c->dist);
  if (st == RK_OK && resumed)
    rk_info("resuming from the checkpoint in %s/checkpoint: window %s, step %lld", c->output_dir, r.win.w[ps.window].label,
            (long long)ps.step);
  if (st == RK_OK && !resumed && r.writer) st = clear_previous(c);
  started = st == RK_OK;   /* from here on a failure may leave a checkpoint to resume from */
  if (st == RK_OK && r.writer) {
    char *runs = path_in(c->output_dir, "runs");
    st = runs ? rk_tb_open(&r.tb, runs) : RK_ENOMEM;
    rk_free(runs);
  }
  /* The protocol. A window's checkpoint comes after its evaluation, so a resumed run never
   * evaluates a window twice. */
  for (; st == RK_OK && ps.window < r.win.n - 1; ps.window++) {
    if (c->do_train) st = train_window(&r, &ps);
    if (st == RK_OK && c->do_eval) st = evaluate_window(&r, &ps);

    if (st == RK_OK) {
      progress next = {ps.window + 1, 0, 0, 0, ps.step};
      if (c->do_train && r.writer) st = save_checkpoint(&r, &next);
    }
    ps.epoch = ps.batch = ps.window_step = 0;
  }
  if (st == RK_OK && c->dist && rk_dist_size(c->dist) > 1 && r.writer) {
    rk_dist_stats ds = rk_dist_stats_get(c->dist);
    rk_info("data parallel: %d ranks x %lld pieces of %lld sessions; rank 0 sent %.1f MiB in all, waited %.2f s",
            rk_dist_size(c->dist), (long long)r.pieces, (long long)r.piece_rows, (double)ds.bytes_sent / (1 << 20),
            ds.wait_seconds);
  }
  if (st == RK_OK && r.writer) st = finish(&r, &ps, result);
  if (r.tb) {
    rk_tb_close(r.tb);
    r.tb = NULL;
  }
  if (st == RK_OK && r.writer) st = rk_output_set_publish(&r.set);
  if (st == RK_OK && r.writer) {
    /* The run is complete: its checkpoint would only resume into nothing. */
    char *dir = path_in(c->output_dir, "checkpoint");
    if (dir) rk_remove_tree(dir);
    rk_free(dir);
  }
  if (st != RK_OK && result) {
    json_decref(*result);
    *result = NULL;
  }
  if (st != RK_OK && made && !started && r.out.held) rk_output_unclaim(&r.out, c->output_dir);   /* leave no folder */
  free_run(&r);
  return st;
}
