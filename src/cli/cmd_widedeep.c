/*
 * `reckon widedeep`: NVIDIA's Wide & Deep recipe (DeepLearningExamples,
 * TensorFlow/Recommendation/WideAndDeep, trainer/task.py) with its flags, so its commands run with
 * `reckon widedeep` in place of `python -m trainer.task`. A front end over `reckon train`'s
 * wide_n_deep builder and loop (src/models/, src/train/): the recipe's feature layout
 * (RK_WIDE_LINEAR: TensorFlow's linear model beside the deep part; dimensions from the schema's
 * embedding_sizes; hashed and indicator columns by their properties), FTRL on the wide part and
 * proximal Adagrad on the deep part, MAP@12 by display_id. docs/widedeep.md has the mapping.
 * `mpirun -np N reckon widedeep --hvd` trains data parallel as the recipe's Horovod run does
 * (docs/distributed.md): rank 0 prepares --results_dir and tells the others where the data is.
 */
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/commands.h"
#include "cli/dist_start.h"
#include "reckon/data.h"
#include "reckon/train.h"
#include "reckon/trainer.h"

#define WIDEDEEP_FLAGS(X)                                                                                            \
  X(model_type,          CHOICE, "wide_n_deep", "wide|deep|wide_n_deep", "which parts the model has")              \
  X(train_data_pattern,  MULTI,  NULL,   "P",    "training data: Parquet files or folders (paths or globs), with the schema beside them") \
  X(eval_data_pattern,   MULTI,  NULL,   "P",    "evaluation data (same layout)")                                  \
  X(model_dir,           STRING, "./checkpoints", "DIR", "checkpoints (<DIR>/checkpoint) and the trained model (<DIR>/model); --evaluate and --predict load it") \
  X(results_dir,         STRING, "./results", "DIR", "logs: <DIR>/<log_filename> (DLLogger), args.json, metrics.json, report.html") \
  X(log_filename,        STRING, "log.json", "NAME", "the DLLogger file in --results_dir")                         \
  X(deep_hidden_units,   MULTI_INTS, "1024 1024 1024 1024 1024", "N in [1, 2^16]", "units of the deep part's layers")  \
  X(global_batch_size,   INT,    "131072", "N in [1, 2^28]", "training batch size")                                \
  X(eval_batch_size,     INT,    "32768", "N in [1, 2^28]", "evaluation batch size (at most the eval rows)")       \
  X(eval_steps,          INT,    NULL,   "N >= 0", "--evaluate: only the first N batches (default and 0: the whole eval set, where the recipe reads 8)") \
  X(training_set_size,   INT,    "0",    "N >= 0", "steps per epoch = N / --global_batch_size (0: every row found)") \
  X(num_epochs,          INT,    "120",  "N >= 1", "epochs")                                                       \
  X(save_checkpoints_secs, INT,  "600",  "S >= 0", "a checkpoint every S seconds (atomic; a rerun continues from it)") \
  X(save_checkpoints_steps, INT, "0",    "N >= 0", "a checkpoint every N steps instead (0: use --save_checkpoints_secs)") \
  X(linear_learning_rate, FLOAT, "0.2",  "LR > 0", "FTRL learning rate of the wide part")                          \
  X(linear_l1_regularization, FLOAT, "0", "L >= 0", "FTRL L1 strength")                                            \
  X(linear_l2_regularization, FLOAT, "0", "L >= 0", "FTRL L2 strength")                                            \
  X(deep_learning_rate,  FLOAT,  "1.0",  "LR > 0", "proximal Adagrad learning rate of the deep part (initial accumulator 0.1)") \
  X(deep_l1_regularization, FLOAT, "0",  "L >= 0", "proximal Adagrad L1 strength")                                 \
  X(deep_l2_regularization, FLOAT, "0",  "L >= 0", "proximal Adagrad L2 strength")                                 \
  X(deep_dropout,        FLOAT,  "0",    "P in [0, 1)", "dropout after every deep layer")                          \
  X(deep_warmup_epochs,  FLOAT,  "0",    "E >= 0", "linear warm-up of the deep learning rate (only 0: not supported yet)") \
  X(overwrite,           BOOL,   "false", NULL,  "replace a --results_dir or a model that reckon did not write (without it they are refused)") \
  X(batch_size,          ALIAS,  "global_batch_size", NULL, NULL)                                                  \
  X(predict,             BOOL,   "false", NULL,  "only predict on the eval data: <model_dir>/scores.txt and <model_dir>/predictions.parquet") \
  X(evaluate,            BOOL,   "false", NULL,  "only evaluate the model in --model_dir on the eval data")        \
  X(benchmark,           BOOL,   "false", NULL,  "train --benchmark_steps steps (or time --evaluate) and log the throughput after the warm-up") \
  X(benchmark_warmup_steps, INT, "50",   "N >= 0", "steps left out of the throughput")                             \
  X(benchmark_steps,     INT,    "100",  "N >= 1", "steps of a benchmark")                                         \
  X(seed,                INT,    "42",   "S >= 0", "initialisation, shuffling and dropout (reckon's; the recipe has none)") \
  X(display_id_column,   STRING, "display_id", "C", "the column MAP@12 groups by")                                \
  X(is_leak_column,      STRING, "is_leak", "C", "the column map_with_leak adds to the score (skipped when absent)") \
  X(allow_workflow_mismatch, BOOL, "false", NULL, "--evaluate, --predict: use eval data transformed by another workflow than the model's training data (a warning instead of an error)") \
  X(gpu,                 BOOL,   "false", NULL,  "run on the GPU (without CUDA: a warning, then the CPU)")         \
  X(amp,                 BOOL,   "false", NULL,  "mixed precision (not yet: a warning, then fp32)")                \
  X(hvd,                 BOOL,   "false", NULL,  "data-parallel training over the processes mpirun started (Horovod's role in the recipe), --global_batch_size split over them") \
  X(micro_batch_size,    INT,    "0",    "M in [0, 2^28]", "rows per piece of the global batch, whose gradients are summed in a fixed tree (0: --global_batch_size / the processes); the same global batch and M give the same weights on any number of processes") \
  X(shard_tables,        STRING, "auto", "auto|none|all|COL,...", "--hvd: the deep part's embedding tables sharded by rows over the processes, so a table larger than one machine's memory trains: auto (those of --shard_threshold_mb or more), none, all, or the tables of these columns") \
  X(shard_threshold_mb,  FLOAT,  "1024", "MB >= 0", "--shard_tables auto: the size (rows x dim x 4 bytes, in MiB) from which a table is sharded") \
  X(prebatch_size,       IGNORED, NULL,  NULL,   "reckon reads Parquet row groups; there are no pre-batches")     \
  X(shuffle_percentage,  IGNORED, NULL,  NULL,   "reckon shuffles files, row groups and rows in a buffer of 262144 rows") \
  X(eval_epoch_interval, IGNORED, NULL,  NULL,   "reckon evaluates after every epoch")                             \
  X(xla,                 IGNORED, NULL,  NULL,   "there is no XLA in reckon")                                      \
  X(canned_estimator,    IGNORED, NULL,  NULL,   "one model builder serves every mode")                            \
  X(transformed_metadata_path, IGNORED, NULL, NULL, "the features come from the Merlin schema beside the data")   \
  X(use_all_columns,     IGNORED, NULL,  NULL,   "the features are the schema's categorical and continuous columns") \
  X(reader_num_threads,  IGNORED, NULL,  NULL,   "--threads sets reckon's threads")                                \
  X(parser_num_threads,  IGNORED, NULL,  NULL,   "--threads sets reckon's threads")                                \
  X(prefetch_buffer_size, IGNORED, NULL, NULL,   "reckon reads one batch ahead")                                   \
  X(eval_throttle_secs,  IGNORED, NULL,  NULL,   "reckon evaluates after every epoch")                             \
  X(print_display_ids,   IGNORED, NULL,  NULL,   "not printed")                                                    \
  X(submission,          IGNORED, NULL,  NULL,   "--predict writes scores.txt and predictions.parquet")            \
  X(log_device_placement, IGNORED, NULL, NULL,   "reckon runs on the CPU")

typedef struct {
  WIDEDEEP_FLAGS(RK_FLAG_FIELD)
} widedeep_opts;
#define RK_FLAG_STRUCT widedeep_opts
static const rk_flag widedeep_flags[] = {WIDEDEEP_FLAGS(RK_FLAG_ROW) RK_FLAG_END};
#undef RK_FLAG_STRUCT

static char *join(const char *dir, const char *name) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *p = rk_malloc(n);
  if (p) snprintf(p, n, "%s/%s", dir, name);
  return p;
}

static bool is_dir(const char *p) {
  struct stat sb;
  return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* A file that is not Parquet: the recipe's TFRecords get their own message. */
static rk_status check_parquet(const char *path, const char *flag) {
  char magic[4] = {0};
  FILE *f = fopen(path, "rb");
  if (!f) return rk_error(RK_EIO, "%s: cannot open '%s': %s", flag, path, strerror(errno));
  size_t n = fread(magic, 1, 4, f);
  fclose(f);
  if (n == 4 && memcmp(magic, "PAR1", 4) == 0) return RK_OK;
  if (strstr(path, "tfrecord"))
    return rk_error(RK_EUSAGE, "%s: '%s': TFRecord input is not supported; convert to Parquet (reckon preprocess reads "
                               "CSV and Parquet logs)", flag, path);
  return rk_error(RK_EFORMAT, "%s: '%s' is not a Parquet file", flag, path);
}

/* The recipe's --*_data_pattern: paths or globs. One folder is read as it is; files (one or
 * several, as '/data/train/part_*.parquet' matches) are linked into `stage` as part_<i>.parquet
 * beside the first one's schema, so the loader reads them as one dataset. *out: the path to read
 * (rk_free). */
static rk_status resolve_data(const rk_strlist *patterns, const char *flag, const char *stage, char **out) {
  *out = NULL;
  if (!patterns->n) return rk_error(RK_EUSAGE, "%s is required", flag);
  glob_t g;
  memset(&g, 0, sizeof g);
  for (int i = 0; i < patterns->n; i++) {
    int rc = glob(patterns->items[i], i ? GLOB_APPEND : 0, NULL, &g);
    if (rc == GLOB_NOMATCH || (rc == 0 && g.gl_pathc == 0)) {
      globfree(&g);
      if (strstr(patterns->items[i], "tfrecord"))
        return rk_error(RK_EUSAGE, "%s '%s' matches nothing; TFRecord input is not supported anyway: convert to Parquet",
                        flag, patterns->items[i]);
      return rk_error(RK_ENOTFOUND, "%s '%s' matches no file or folder", flag, patterns->items[i]);
    }
    if (rc != 0) {
      globfree(&g);
      return rk_error(RK_EIO, "%s '%s': cannot list the matches", flag, patterns->items[i]);
    }
  }
  rk_status st = RK_OK;
  if (g.gl_pathc == 1 && is_dir(g.gl_pathv[0])) {
    if (!(*out = rk_strdup(g.gl_pathv[0]))) st = RK_ENOMEM;
    globfree(&g);
    return st;
  }
  rk_remove_tree(stage);
  st = rk_mkdir_p(stage);
  for (size_t i = 0; st == RK_OK && i < g.gl_pathc; i++) {
    const char *p = g.gl_pathv[i];
    if (is_dir(p)) {
      st = rk_error(RK_EUSAGE, "%s matches several paths, among them the folder '%s'; give one folder, or files", flag, p);
      break;
    }
    if (strstr(p, "schema.pbtxt") || strstr(p, "schema.json")) continue;
    if ((st = check_parquet(p, flag)) != RK_OK) break;
    char name[64], *link = NULL, *abs = realpath(p, NULL);
    snprintf(name, sizeof name, "part_%05zu.parquet", i);
    if (!abs || !(link = join(stage, name)) || symlink(abs, link) != 0)
      st = rk_error(RK_EIO, "cannot link '%s' into '%s': %s", p, stage, strerror(errno));
    free(abs);
    rk_free(link);
  }
  if (st == RK_OK) {   /* the schema beside the first file */
    char *dir = rk_strdup(g.gl_pathv[0]);
    char *slash = dir ? strrchr(dir, '/') : NULL;
    if (!dir) st = RK_ENOMEM;
    else if (slash) *slash = '\0';
    else strcpy(dir, ".");
    const char *names[2] = {"schema.pbtxt", ".merlin"};
    int found = 0;
    for (int k = 0; st == RK_OK && k < 2; k++) {
      char *from = join(dir, names[k]), *to = join(stage, names[k]), *abs = from ? realpath(from, NULL) : NULL;
      if (abs && to && symlink(abs, to) != 0) st = rk_error(RK_EIO, "cannot link '%s': %s", from, strerror(errno));
      found += abs != NULL;
      free(abs);
      rk_free(from);
      rk_free(to);
    }
    if (st == RK_OK && !found)
      st = rk_error(RK_ENOTFOUND, "%s: no schema beside '%s': expected schema.pbtxt or .merlin/schema.json in '%s'",
                    flag, g.gl_pathv[0], dir);
    rk_free(dir);
  }
  globfree(&g);
  if (st == RK_OK && !(*out = rk_strdup(stage))) st = RK_ENOMEM;
  return st;
}

/* Whether the dataset's schema has the column (false when the schema cannot be read: the run
 * itself then says why). */
static bool has_column(const char *dataset, const char *name) {
  rk_schema s;
  if (rk_schema_read(&s, dataset) != RK_OK) {
    rk_error_clear();
    return false;
  }
  bool found = rk_schema_find_index(&s, name) >= 0;
  rk_schema_free(&s);
  return found;
}

/* A column-naming flag given on the command line must name a column of the data it reads: left
 * silent, a typo would quietly drop MAP@12 or the leak. The message lists the columns there are. */
static rk_status require_column(const char *dataset, const char *flag, const char *name) {
  rk_schema s;
  RK_TRY(rk_schema_read(&s, dataset));
  rk_status st = RK_OK;
  if (rk_schema_find_index(&s, name) < 0) {
    char cols[768] = "";
    size_t at = 0;
    for (int i = 0; i < s.n_cols && at < sizeof cols; i++)
      at += (size_t)snprintf(cols + at, sizeof cols - at, "%s%s", i ? ", " : "", s.cols[i].name);
    if (at >= sizeof cols) strcpy(cols + sizeof cols - 5, "...");
    st = rk_error(RK_EUSAGE, "%s '%s' is not a column of '%s' (its columns: %s)", flag, name, dataset, cols);
  }
  rk_schema_free(&s);
  return st;
}

/* The columns the flags name, against the data they apply to (the defaults may be absent). */
static rk_status check_named_columns(const widedeep_opts *o, const rk_flag_parse *parse, const char *train_path,
                                     const char *eval_path) {
  const char *data[2] = {train_path, eval_path};
  for (int i = 0; i < 2; i++)
    if (data[i] && rk_flags_given(parse, "display_id_column"))
      RK_TRY(require_column(data[i], "--display_id_column", o->display_id_column));
  if (eval_path && rk_flags_given(parse, "is_leak_column"))
    RK_TRY(require_column(eval_path, "--is_leak_column", o->is_leak_column));
  return RK_OK;
}

/* The trained model: <model_dir>/model, or model_dir itself when it is a model folder. */
static char *model_path(const char *model_dir) {
  char *p = join(model_dir, "model.json");
  bool direct = p && access(p, F_OK) == 0;
  rk_free(p);
  return direct ? rk_strdup(model_dir) : join(model_dir, "model");
}

static rk_status write_text(const char *path, const json_t *j) {
  char *text = json_dumps(j, JSON_INDENT(4) | JSON_PRESERVE_ORDER);
  rk_status st = text ? rk_write_file_atomic(path, text, strlen(text)) : RK_ENOMEM;
  free(text);
  return st;
}

/* --evaluate and --predict: the saved model on the eval data. */
static int run_inference(const widedeep_opts *o, const rk_flag_parse *parse, const char *eval_path, json_t *flags,
                         rk_dllogger *dll) {
  char *mp = model_path(o->model_dir);
  if (!mp) return rk_cli_fail(RK_ENOMEM);
  rk_saved_model sm;
  rk_status st = rk_model_load(&sm, mp);
  if (st != RK_OK) {
    rk_error_context(st, "--model_dir '%s' (reckon widedeep writes the trained model to <model_dir>/model)", o->model_dir);
    rk_free(mp);
    return rk_cli_fail(st);
  }
  rk_free(mp);
  (void)flags;
  if (strcmp(sm.model->ops->family, "ranking") != 0) {
    st = rk_error(RK_EINVAL, "--model_dir '%s': the model is a %s model (reckon widedeep evaluates and predicts with "
                  "the Wide & Deep model it trained)", o->model_dir, sm.model->ops->family);
    rk_saved_model_free(&sm);
    return rk_cli_fail(st);
  }
  st = rk_model_check_workflow(&sm, eval_path, "--eval_data_pattern", o->allow_workflow_mismatch);
  if (st != RK_OK) {
    rk_saved_model_free(&sm);
    return rk_cli_fail(st);
  }
  double t0 = rk_now();
  int64_t rows = 0;
  json_t *data = json_object();
  if (!data) st = RK_ENOMEM;
  if (st == RK_OK && o->evaluate) {
    rk_task_weights tw;
    rk_task_weights_from_json(&tw, sm.model, json_object_get(sm.meta, "task_weights"));
    bool leak = rk_schema_find_index(&sm.schema, o->is_leak_column) >= 0;
    rk_eval_options eo = {eval_path, o->eval_batch_size, 0, &tw, (uint64_t)o->seed, false, NULL,
                          o->display_id_column, leak ? o->is_leak_column : NULL, 12, 0, NULL, NULL, NULL};
    if (o->eval_steps > 0) eo.max_batches = o->eval_steps;
    rk_eval_result ev;
    st = rk_evaluate(sm.model, &sm.schema, &eo, &ev);
    if (st == RK_OK) {
      rows = ev.rows;
      json_object_set_new(data, "map_infer", json_deep_copy(json_object_get(ev.metrics, "map")));
      if (leak) json_object_set_new(data, "map_with_leak_infer", json_deep_copy(json_object_get(ev.metrics, "map_with_leak")));
      json_object_set_new(data, "auc", json_deep_copy(json_object_get(ev.metrics, "auc")));
      json_object_set_new(data, "logloss", json_deep_copy(json_object_get(ev.metrics, "logloss")));
      rk_eval_result_free(&ev);
    }
  } else if (st == RK_OK) {
    char *parquet = join(o->model_dir, "predictions.parquet"), *scores = join(o->model_dir, "scores.txt");
    const char *keep[2] = {o->display_id_column, "ad_id"};
    int nkeep = rk_schema_find_index(&sm.schema, "ad_id") >= 0 ? 2 : 1;
    /* predictions.parquet lives in the model folder this command writes */
    rk_predict_options po = {eval_path, parquet, "parquet", keep, nkeep, o->eval_batch_size, true, NULL, NULL};
    st = parquet && scores ? rk_predict(sm.model, &po, &rows) : RK_ENOMEM;
    /* scores.txt as the recipe writes it (numpy savetxt "%f"): one probability a line. */
    char col[300] = "";
    if (st == RK_OK) snprintf(col, sizeof col, "%s/binary_output", sm.model->out.targets[0]);
    const char *cols[1] = {col};
    rk_loader_options lo;
    rk_loader_options_default(&lo);
    lo.path = parquet;
    lo.columns = cols;
    lo.ncolumns = 1;
    lo.shuffle = false;
    lo.batch_size = 65536;
    rk_loader *ld = NULL;
    char *tmp = scores ? rk_temp_path(scores) : NULL;   /* unique per process: two runs never share it */
    FILE *f = NULL;
    if (st == RK_OK && !tmp) st = RK_ENOMEM;
    if (st == RK_OK) st = rk_loader_open(&ld, &lo);
    if (st == RK_OK) st = rk_loader_start_epoch(ld, 0);
    if (st == RK_OK && !(f = fopen(tmp, "w"))) st = rk_error(RK_EIO, "cannot create '%s': %s", tmp, strerror(errno));
    rk_batch b = {0};
    while (st == RK_OK && (st = rk_loader_next(ld, &b)) == RK_OK && b.nrows > 0)
      for (int64_t r = 0; r < b.nrows; r++) fprintf(f, "%f\n", rk_column_get_double(&b.cols[0], r));
    if (f && (fclose(f) != 0) && st == RK_OK) st = rk_error(RK_EIO, "cannot write '%s'", tmp);
    if (st == RK_OK && rename(tmp, scores) != 0) st = rk_error(RK_EIO, "cannot write '%s': %s", scores, strerror(errno));
    if (st != RK_OK && tmp) remove(tmp);
    rk_batch_free(&b);
    if (ld) rk_loader_close(ld);
    if (st == RK_OK && !parse->globals.quiet)
      printf("wrote %lld scores to %s and %s\n", (long long)rows, scores, parquet);
    rk_free(tmp);
    rk_free(parquet);
    rk_free(scores);
  }
  double secs = rk_now() - t0;
  if (st == RK_OK && o->benchmark) json_object_set_new(data, "infer_throughput", json_real(secs > 0 ? rows / secs : 0));
  if (st == RK_OK && json_object_size(data)) {
    json_t *step = json_array();
    st = step ? rk_dllogger_log(dll, step, data) : RK_ENOMEM;
    json_decref(step);
  }
  if (st == RK_OK && !parse->globals.quiet && o->evaluate) {
    const char *key;
    json_t *v;
    printf("eval:");
    json_object_foreach(data, key, v) if (json_is_real(v)) printf(" %s=%.6f", key, json_real_value(v));
    printf("\n");
  }
  json_decref(data);
  rk_saved_model_free(&sm);
  return st == RK_OK ? RK_EXIT_OK : rk_cli_fail(st);
}

/* How the model's errors name the settings this command's flags set. */
static const char *const setting_names[RK_SETTING_COUNT] = {
    [RK_SETTING_kind] = "the model",   /* "the model wide_n_deep needs categorical features" */
    [RK_SETTING_mlp_layers] = "--deep_hidden_units",
    [RK_SETTING_dropout] = "--deep_dropout",
    [RK_SETTING_seed] = "--seed",
};

/* --hvd: rank 0 has prepared --results_dir and staged the data; it sends every rank its status
 * and the data's paths (the others wait here, inside the communicator's timeout). */
static rk_status share_inputs(rk_dist *d, rk_status rank0_status, char **train_path, char **eval_path) {
  int64_t head[3] = {rank0_status, 0, 0};
  char *paths[2] = {*train_path, *eval_path};
  for (int i = 0; i < 2; i++) head[1 + i] = rk_dist_rank(d) == 0 && paths[i] ? (int64_t)strlen(paths[i]) + 1 : 0;
  RK_TRY(rk_dist_broadcast(d, head, 3, RK_DIST_I64, 0));
  if (head[0] != RK_OK) return rk_dist_rank(d) == 0 ? (rk_status)head[0] : rk_error(RK_EUSAGE, "rank 0 failed to start");
  for (int i = 0; i < 2; i++) {
    if (!head[1 + i]) continue;
    if (rk_dist_rank(d) != 0) {
      rk_free(paths[i]);
      if (!(paths[i] = rk_malloc((size_t)head[1 + i]))) return RK_ENOMEM;
    }
    RK_TRY(rk_dist_broadcast(d, paths[i], head[1 + i], RK_DIST_BYTE, 0));
  }
  *train_path = paths[0];
  *eval_path = paths[1];
  return RK_OK;
}

/* The training run the recipe's flags describe, every rank's (paths and outputs are the caller's). */
static rk_train_config widedeep_config(const widedeep_opts *o, const json_t *flags, const char *ckpt, const char *saved) {
  rk_train_config c;
  rk_train_config_default(&c);
  static const char *all[1] = {"all"};
  c.tasks = all;
  c.n_tasks = 1;
  c.model.kind = RK_MODEL_WIDE_N_DEEP;
  c.model.wide_layout = RK_WIDE_LINEAR;
  c.model.wnd_parts = strcmp(o->model_type, "wide") == 0   ? RK_WND_WIDE_ONLY
                      : strcmp(o->model_type, "deep") == 0 ? RK_WND_DEEP_ONLY
                                                           : RK_WND_BOTH;
  c.model.schema_dims = true;
  c.model.tf_embedding_init = true;
  c.model.mlp_layers = o->deep_hidden_units.items;
  c.model.n_mlp_layers = o->deep_hidden_units.n;
  c.model.setting_names = setting_names;
  c.model.dropout = (float)o->deep_dropout;
  c.model.l2_reg = c.model.embeddings_l2_reg = c.model.wnd_wide_l2_reg = 0;
  c.model.seed = (uint64_t)o->seed;
  rk_optim_config_default(&c.deep_optim, RK_OPTIM_PROXIMAL_ADAGRAD, (float)o->deep_learning_rate);
  c.deep_optim.groups[0].l1 = (float)o->deep_l1_regularization;
  c.deep_optim.groups[0].l2 = (float)o->deep_l2_regularization;
  rk_optim_config_default(&c.wide_optim, RK_OPTIM_FTRL, (float)o->linear_learning_rate);
  c.wide_optim.groups[0].l1 = (float)o->linear_l1_regularization;
  c.wide_optim.groups[0].l2 = (float)o->linear_l2_regularization;
  c.lr = o->deep_learning_rate;
  c.lr_decay_rate = 0;   /* the recipe keeps its rates constant */
  c.train_batch_size = o->global_batch_size;
  c.micro_batch_size = o->micro_batch_size;
  c.shard_tables = o->shard_tables;
  c.shard_threshold_mb = o->shard_threshold_mb;
  c.eval_batch_size = o->eval_batch_size;
  c.epochs = o->num_epochs;
  if (o->training_set_size > 0 && o->global_batch_size > 0)   /* a bad batch size is reported above */
    c.steps_per_epoch = o->training_set_size / o->global_batch_size > 0 ? o->training_set_size / o->global_batch_size : 1;
  c.log_every = 100;   /* the recipe's loss every 100 steps */
  c.eval_every_epoch = true;
  c.eval_group_column = o->display_id_column;
  c.tensorboard = false;
  c.flags = flags;
  c.overwrite = o->overwrite;
  if (o->benchmark) {
    c.max_steps = o->benchmark_steps;
    c.throughput_after = o->benchmark_warmup_steps;
  } else {
    c.checkpoint_dir = ckpt;
    c.checkpoint_every = o->save_checkpoints_steps;
    c.checkpoint_secs = o->save_checkpoints_steps > 0 ? 0 : (double)o->save_checkpoints_secs;
    c.resume = RK_RESUME_IMPLICIT;   /* as TensorFlow's estimators: a rerun continues from the latest checkpoint */
    c.save_model_path = saved;
  }
  return c;
}

/* Ranks other than 0: the same training configuration on rank 0's inputs; nothing written. */
static int train_with_rank0(const widedeep_opts *o, const rk_flag_parse *parse, rk_dist *dist) {
  char *train_path = NULL, *eval_path = NULL, *ckpt = join(o->model_dir, "checkpoint");
  rk_status st = share_inputs(dist, RK_OK, &train_path, &eval_path);
  json_t *flags = rk_flags_to_json(parse);
  if (st == RK_OK && (!flags || !ckpt)) st = RK_ENOMEM;
  rk_train_config c;
  if (st == RK_OK) {
    c = widedeep_config(o, flags, ckpt, NULL);
    c.train_path = train_path;
    c.eval_path = o->benchmark ? NULL : eval_path;   /* as rank 0's: every rank scores its share */
    c.dist = dist;
    if (eval_path && has_column(eval_path, o->is_leak_column)) c.eval_leak_column = o->is_leak_column;
    if (!has_column(train_path, o->display_id_column)) c.eval_group_column = NULL;
    st = rk_train(&c, NULL);
  }
  json_decref(flags);
  rk_free(train_path);
  rk_free(eval_path);
  rk_free(ckpt);
  if (st != RK_OK) return rk_cli_dist_fail(dist, st);
  rk_cli_dist_end(dist);
  return RK_EXIT_OK;
}

static int run_widedeep(const rk_flag_parse *parse, void *arg) {
  widedeep_opts *o = arg;
  if (parse->npositional)
    return rk_cli_fail(rk_error(RK_EUSAGE, "'reckon widedeep' takes no positional arguments (got '%s')", parse->positional[0]));
  bool cuda = strstr(rk_build_features(), "cuda") != NULL;
  if (o->hvd && !rk_dist_have_mpi())
    return rk_cli_fail(rk_error(RK_EUSAGE, "--hvd: reckon was built without MPI (install libopenmpi-dev and rebuild "
                                           "with -DRECKON_MPI=ON), or run one process without --hvd"));
  if (!o->hvd && rk_dist_launched())
    return rk_cli_fail(rk_error(RK_EUSAGE, "started as one of several processes (mpirun): add --hvd to train together, "
                                           "as the recipe's Horovod command does"));
  if (o->hvd && (o->predict || o->evaluate) && rk_dist_launched())
    return rk_cli_fail(rk_error(RK_EUSAGE, "--hvd: --%s runs in one process; start it without mpirun",
                                o->predict ? "predict" : "evaluate"));
  rk_dist *dist = NULL;
  if (o->hvd) {
    int code = rk_cli_dist_start(&dist, parse);
    if (code != RK_EXIT_OK) return code;
  }
  bool rank0 = !dist || rk_dist_rank(dist) == 0;
  if (!rank0) return train_with_rank0(o, parse, dist);
  if (o->gpu) rk_warn("--gpu: %s; training in fp32 on the CPU", cuda ? "the CUDA backend does not run this model yet"
                                                                      : "this reckon was built without CUDA");
  if (o->amp) rk_warn("--amp: mixed precision is not supported yet; training in fp32");
  if (o->deep_warmup_epochs != 0)
    return rk_cli_fail(rk_error(RK_EUSAGE, "--deep_warmup_epochs %g: a warm-up of the deep learning rate is not supported yet",
                                o->deep_warmup_epochs));
  if (o->predict && o->evaluate) return rk_cli_fail(rk_error(RK_EUSAGE, "give --predict or --evaluate, not both"));
  /* --results_dir is claimed (src/core/output.c) before args.json and the staged inputs go in; the
   * training run then locks it. */
  const char *names[32] = {"args.json", o->log_filename, ".inputs"};
  for (int i = 0; rk_train_output_names[i]; i++) names[3 + i] = rk_train_output_names[i];
  rk_status st = rk_output_check_names(o->results_dir, "train-output", names, o->overwrite);
  if (st == RK_OK) st = rk_mkdir_p(o->results_dir);
  if (st == RK_OK) st = rk_output_mark(o->results_dir, "train-output", NULL);
  char *eval_path = NULL, *train_path = NULL, *stage = NULL;
  if (st == RK_OK && o->eval_data_pattern.n) {
    stage = join(o->results_dir, ".inputs/eval");
    st = stage ? resolve_data(&o->eval_data_pattern, "--eval_data_pattern", stage, &eval_path) : RK_ENOMEM;
    rk_free(stage);
  }
  bool inference = o->predict || o->evaluate;
  if (st == RK_OK && inference && !eval_path) st = rk_error(RK_EUSAGE, "--%s needs --eval_data_pattern", o->predict ? "predict" : "evaluate");
  if (st == RK_OK && !inference) {
    stage = join(o->results_dir, ".inputs/train");
    st = stage ? resolve_data(&o->train_data_pattern, "--train_data_pattern", stage, &train_path) : RK_ENOMEM;
    rk_free(stage);
  }
  if (st == RK_OK) st = check_named_columns(o, parse, train_path, eval_path);
  json_t *flags = rk_flags_to_json(parse);
  char *args = join(o->results_dir, "args.json"), *logp = join(o->results_dir, o->log_filename);
  if (st == RK_OK && (!flags || !args || !logp)) st = RK_ENOMEM;
  if (st == RK_OK) st = write_text(args, flags);   /* as the recipe: every flag's value */
  int rc;
  if (st != RK_OK) {
    rc = rk_cli_fail(st);
  } else if (inference) {
    rk_dllogger *dll = NULL;
    st = rk_dllogger_open(&dll, logp);
    if (st == RK_OK) st = rk_dllogger_parameters(dll, flags);
    rc = st == RK_OK ? run_inference(o, parse, eval_path, flags, dll) : rk_cli_fail(st);
    rk_status cs = rk_dllogger_close(dll);
    if (rc == RK_EXIT_OK && cs != RK_OK) rc = rk_cli_fail(cs);
  } else {
    rc = RK_EXIT_OK;
    char *ckpt = join(o->model_dir, "checkpoint"), *saved = join(o->model_dir, "model");
    if (st == RK_OK && (!ckpt || !saved)) st = RK_ENOMEM;
    rk_train_config c = widedeep_config(o, flags, ckpt, saved);
    c.train_path = train_path;
    c.eval_path = o->benchmark ? NULL : eval_path;
    c.output_path = o->results_dir;
    c.dllogger_path = logp;
    c.dist = dist;
    if (o->benchmark && o->benchmark_warmup_steps >= o->benchmark_steps && st == RK_OK)
      st = rk_error(RK_EUSAGE, "--benchmark_warmup_steps %lld leaves no step of --benchmark_steps %lld to time",
                    (long long)o->benchmark_warmup_steps, (long long)o->benchmark_steps);
    if (st == RK_OK && eval_path && has_column(eval_path, o->is_leak_column)) c.eval_leak_column = o->is_leak_column;
    if (st == RK_OK && !has_column(train_path, o->display_id_column))
      c.eval_group_column = NULL;   /* no displays: AUC and logloss only */
    if (st == RK_OK) st = rk_mkdir_p(o->model_dir);
    if (dist) st = share_inputs(dist, st, &train_path, &eval_path);
    json_t *result = NULL;
    if (st == RK_OK) st = rk_train(&c, &result);
    if (st != RK_OK) {
      rc = rk_cli_dist_fail(dist, st);
      dist = NULL;   /* ended by the failure */
    } else if (!parse->globals.quiet) {
      json_t *t = json_object_get(result, "train"), *m = json_object_get(result, "metrics");
      printf("trained wide & deep (%s): %lld steps, %lld samples in %.2f s (%.0f samples/s)\n", o->model_type,
             (long long)json_integer_value(json_object_get(t, "steps")),
             (long long)json_integer_value(json_object_get(t, "samples")),
             json_number_value(json_object_get(t, "seconds")), json_number_value(json_object_get(t, "samples_per_s")));
      if (o->benchmark)
        printf("train_throughput: %.0f samples/s (after %lld warm-up steps)\n",
               json_number_value(json_object_get(t, "throughput_after_warmup")), (long long)o->benchmark_warmup_steps);
      const char *keys[] = {"map", "map_with_leak", "auc", "logloss"};
      bool any = false;
      for (int k = 0; k < 4; k++) {
        json_t *v = json_object_get(m, keys[k]);
        if (json_is_number(v)) printf("%s%s=%.6f", any ? " " : "eval: ", keys[k], json_number_value(v)), any = true;
      }
      if (any) printf("\n");
      printf("logs in %s (%s, args.json)%s%s\n", o->results_dir, o->log_filename, o->benchmark ? "" : "; model in ",
             o->benchmark ? "" : saved);
    }
    json_decref(result);
    rk_free(ckpt);
    rk_free(saved);
  }
  json_decref(flags);
  rk_free(args);
  rk_free(logp);
  rk_free(eval_path);
  rk_free(train_path);
  rk_cli_dist_end(dist);
  return rc;
}

const rk_command rk_cmd_widedeep = {
    .name = "widedeep",
    .usage = "reckon widedeep --train_data_pattern P --eval_data_pattern P [flags]",
    .summary = "NVIDIA's Wide & Deep recipe (trainer/task.py): train, --evaluate, --predict, --benchmark",
    .details =
        "The flags of the recipe's `trainer/task.py`, with its defaults, so its commands run with `reckon widedeep` "
        "in place of `python -m trainer.task` (paths excepted: `--model_dir` defaults to ./checkpoints and "
        "`--results_dir` to ./results). The features come from the Merlin schema beside the data: columns with "
        "`num_buckets` are hashed, `indicator` columns are one-hot in the deep part, list columns are mean-pooled, "
        "and `embedding_sizes` gives each table's dimension (`reckon synth outbrain` writes the recipe's feature set). "
        "The wide part (TensorFlow's linear model: a weight per category and per continuous feature, and a bias) "
        "trains with FTRL, the deep part (embeddings, indicators and continuous features into ReLU layers) with "
        "proximal Adagrad; logits add; the loss is BCE averaged over the batch.\n\n"
        "Training logs the loss every 100 steps, evaluates after every epoch (MAP@12 by `display_id`, "
        "`map_with_leak` with `is_leak` added to the score, AUC, logloss) and writes DLLogger lines to "
        "`<results_dir>/<log_filename>` (a PARAMETER line, `[epoch]` evaluations, a final `[]` line with `map` "
        "and `map_with_leak`, or `train_throughput` with `--benchmark`), `args.json`, checkpoints to "
        "`<model_dir>/checkpoint` (a rerun continues from it) and the model to `<model_dir>/model`. "
        "`--evaluate` logs `map_infer` and `map_with_leak_infer`; `--predict` writes `<model_dir>/scores.txt` "
        "(one probability a line) and `<model_dir>/predictions.parquet` (`display_id`, `ad_id`, `<target>/binary_output`). "
        "The recipe's `--batch_size` (its older name of the training batch size) is `--global_batch_size`. "
        "See docs/widedeep.md.",
    .flags = widedeep_flags,
    .opts_size = sizeof(widedeep_opts),
    .run = run_widedeep,
};
