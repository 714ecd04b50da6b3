/*
 * `reckon sessions`: the flags of Transformers4Rec's research pipeline recsys_main.py (its three
 * argument groups, hf4rec/recsys_args.py at tag recsys2021, with Hugging Face TrainingArguments'
 * common ones), mapped onto rk_sessions_run (src/train/sessions.c). Defaults are the reference's
 * (t4rec-notes 1.1); the model's flags come from the session family's settings table
 * (RK_SESSION_SETTINGS in reckon/sessions.h). Flags that select GPU machinery or logging services
 * are accepted with a note; flags of features outside this issue are accepted at their defaults
 * and refused, naming the issue, when set.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/commands.h"
#include "cli/dist_start.h"
#include "reckon/train.h"

#define SESSIONS_DATA_FLAGS(X)                                                                                         \
  X(data_path,           STRING, "",    "DIR",  "the time windows: session_start_date=YYYY-MM-DD-{train,valid,test}.parquet files, or one folder per window holding {train,valid,test}.parquet") \
  X(start_date,          STRING, NULL,  "YYYY-MM-DD", "first day of the date-files layout (with --end_date; else the window-folder layout)") \
  X(end_date,            STRING, NULL,  "YYYY-MM-DD", "last day (inclusive): days start..end-1 train, start+1..end evaluate")  \
  X(start_time_window_index, INT, "1",  "N >= 0", "first window folder (trained on, never evaluated)")                  \
  X(final_time_window_index, INT, NULL, "N >= 1", "last window folder (evaluated on, never trained); default: the last one present after the start") \
  X(time_window_folder_pad_digits, INT, "4", "N in [0, 9]", "window folder names are zero-padded to N digits (0001); unpadded names (the session ETL's day_index folders) are found too") \
  X(no_incremental_training, BOOL, "false", NULL, "train each window on the last --training_time_window_size windows (or all so far) instead of fine-tuning on the latest") \
  X(training_time_window_size, INT, "0", "N >= 0", "with --no_incremental_training: windows per training (0: every window so far)") \
  X(feature_config,      STRING, NULL,  "FILE", "recsys_main's feature YAML (or the same as JSON): per column dtype, cardinality, is_label, emb_table, is_control; default: the Merlin schema beside the data") \
  X(eval_on_test_set,    BOOL,   "false", NULL, "evaluate on each window's test.parquet instead of valid.parquet")     \
  X(shuffle_buffer_size, INT,    "0",   "N >= 0", "rows shuffled together when reading training data (0: the loader's default, 262144)") \
  X(session_aware_features_prefix, STRING, "bef_", "P", "session-aware: the prefix of the past sessions' columns (bef_item_id-list_seq precedes item_id-list_seq)") \
  X(mask_token,          INT,    "0",   "N >= 0", "recorded; the [MASK] of the masked LM is a learned vector, not a token") \
  X(feature_prefix_neg_sample, STRING, "_neg_", "P", "recorded: reckon draws negatives itself (--negative_sampling), it reads no negative-sample columns") \
  X(data_loader_engine,  IGNORED, NULL, NULL,  "reckon reads Parquet with its own loader (nvtabular, pyarrow and petastorm are GPU or Python machinery)") \
  X(nvt_part_mem_fraction, IGNORED, NULL, NULL, "NVTabular's partition sizing; reckon streams row groups")                 \
  X(nvt_part_size,       IGNORED, NULL, NULL,   "NVTabular's partition sizing; reckon streams row groups")                   \
  X(workers_count,       IGNORED, NULL, NULL,   "reckon reads ahead on a thread of its own (--threads sets the compute threads)") \
  X(petastorm_reader_pool_type, IGNORED, NULL, NULL, "petastorm is not used")                                          \
  X(avg_session_length,  IGNORED, NULL, NULL,   "the number of steps per epoch comes from the data's row count")

/* The model's flags come from the family's settings table (RK_SESSION_SETTINGS), between these
 * lists; then the model flags of the reference outside it, then the training run's. */
#define SESSIONS_MODEL_FLAGS(X)                                                                                        \
  X(similarity_type,     CHOICE, "concat_mlp", "cosine|concat_mlp|multi_mlp", "recorded: the reference builds its MLP but scores negatives with the output layer all the same") \
  X(margin_loss,         FLOAT,  "0.0", "M >= 0", "recorded: the reference's forward never reads it")                  \
  X(loss_scale_factor,   FLOAT,  "1.0", "S > 0", "recorded (the reference scales its loss only for pairwise losses)")   \
  X(summary_type,        CHOICE, "last", "last|first|mean|cls_index", "recorded (the reference's sequence summary is unused by next-item prediction)") \
  X(model_name_or_path,  STRING, NULL,  "DIR",  "start from a saved model folder (its model.json's architecture and its weights): --do_eval or --do_predict without --do_train evaluate or predict with it") \
  X(all_rescale_factor,  IGNORED, NULL, NULL,   "removed from recsys_main.py in 2021 (it rescaled the cross-entropy to match a hinge loss)") \
  X(neg_rescale_factor,  IGNORED, NULL, NULL,   "removed from recsys_main.py in 2021 (it rescaled the hinge loss)")                       \
  X(disable_positional_embeddings, IGNORED, NULL, NULL, "removed from recsys_main.py in 2021")                              \
  X(constrained_embeddings, IGNORED, NULL, NULL, "removed from recsys_main.py in 2021 (see --mf_constrained_embeddings)")   \
  X(mf_constrained_embeddings_disable_bias, IGNORED, NULL, NULL, "removed from recsys_main.py in 2021 (the tied output has a bias)") \
  X(item_embedding_with_dmodel_dim, IGNORED, NULL, NULL, "removed from recsys_main.py in 2021 (see --item_embedding_dim)")

#define SESSIONS_RUN_FLAGS(X)                                                                                          \
  X(output_dir,          STRING, NULL,  "DIR",  "results, log.json, runs/, report.html, checkpoint/, model/")         \
  X(overwrite_output_dir, BOOL,  "false", NULL, "replace outputs that reckon did not write, and a checkpoint of a run with other flags") \
  X(do_train,            BOOL,   "false", NULL, "train on each window")                                                \
  X(do_eval,             BOOL,   "false", NULL, "evaluate after each window on the next window")                       \
  X(do_predict,          BOOL,   "false", NULL, "at the end, top --predict_top_k items for every session of --predict_data_path (default: the last window's test set) into <output_dir>/predictions.parquet") \
  X(predict_data_path,   STRING, NULL,  "PATH", "a day folder's Parquet file or folder for --do_predict")               \
  X(per_device_train_batch_size, INT, "8", "N in [1, 2^24]", "sessions per training step (per rank under mpirun with --model_parallel: the global batch is N x the ranks)") \
  X(micro_batch_size,    INT,    "0",   "M in [0, 2^24]", "sessions of one piece of the global batch (0: --per_device_train_batch_size); the same global batch and M give the same bits on any number of ranks") \
  X(per_device_eval_batch_size, INT, "8", "N in [1, 2^24]", "sessions per evaluation batch")                           \
  X(num_train_epochs,    FLOAT,  "3.0", "E > 0", "epochs over each window (fractions allowed)")                        \
  X(max_steps,           INT,    "-1",  "N >= -1", "steps per window, overriding --num_train_epochs (-1 or 0: the epochs decide)") \
  X(learning_rate,       FLOAT,  "5e-05", "LR > 0", "AdamW's learning rate")                                           \
  X(weight_decay,        FLOAT,  "0.0", "W >= 0", "AdamW's decoupled weight decay (not on biases and LayerNorm weights)") \
  X(adam_beta1,          FLOAT,  "0.9", "B in [0, 1)", "AdamW's beta1")                                                \
  X(adam_beta2,          FLOAT,  "0.999", "B in [0, 1)", "AdamW's beta2")                                              \
  X(adam_epsilon,        FLOAT,  "1e-08", "E > 0", "AdamW's epsilon")                                                  \
  X(max_grad_norm,       FLOAT,  "1.0", "N >= 0", "clip gradients to this global norm (0: no clipping)")              \
  X(learning_rate_schedule, CHOICE, "constant_with_warmup", "constant_with_warmup|linear_with_warmup|cosine_with_warmup", "the schedule, restarted every window") \
  X(learning_rate_warmup_steps, INT, "0", "N >= 0", "warm-up steps of the schedule")                                   \
  X(learning_rate_num_cosine_cycles_by_epoch, FLOAT, "1.25", "C > 0", "cosine_with_warmup: cycles per epoch")         \
  X(learning_rate_num_cosine_cycles, ALIAS, "learning_rate_num_cosine_cycles_by_epoch", NULL, NULL)                   \
  X(dataloader_drop_last, BOOL,  "false", NULL, "drop each training window's last short batch")                       \
  X(logging_steps,       INT,    "500", "N >= 1", "a training-log row (loss, learning rate) every N steps")            \
  X(save_steps,          INT,    "500", "N >= 0", "also a checkpoint every N steps (0: only after each window)")      \
  X(eval_steps_on_train_set, INT, "20", "N >= 0", "batches of the training data evaluated after each window (train_* metrics; 0: none)") \
  X(eval_metrics_ks,     INTS,   "10,20,1000", "K,... in [1, 2^24]", "cut-offs of recall, precision, ndcg, mrr and avg_precision") \
  X(eval_metrics_batch_mean, BOOL, "false", NULL, "report metrics as the mean of batch means, as the 2021 code did, instead of the mean over sessions") \
  X(predict_top_k,       INT,    "10",  "K in [1, 2^16]", "items in prediction logs and --do_predict's output")        \
  X(log_predictions,     BOOL,   "false", NULL, "write pred_logs/: each evaluated session's top items and scores, target and metrics") \
  X(log_attention_weights, BOOL, "false", NULL, "write attention_weights/: the first evaluation batch's attention per layer, as .npy") \
  X(synth_oracle,        STRING, NULL,  "FILE", "the click log of `reckon synth sessions --layout yoochoose` the data was made from: each window also gets eval_oracle_recall@K, _ndcg@K, _mrr@K, the best any model can score on its evaluated sessions") \
  X(compute_metrics_each_n_steps, INT, "1", "N >= 1", "recorded (metrics cover every evaluation batch)")               \
  X(validate_every,      INT,    "-1",  "N >= -1", "recorded (evaluation follows each window)")                        \
  X(experiments_group,   STRING, "default", "NAME", "recorded in log.json")                                           \
  X(model_parallel,      BOOL,   "false", NULL, "data-parallel training over the processes of `mpirun -np N` (the reference's DistributedDataParallel under torch.distributed.launch)") \
  X(fp16,                IGNORED, NULL, NULL,   "reckon trains in float32 on the CPU")                                 \
  X(eval_accumulation_steps, IGNORED, NULL, NULL, "metrics stream over the batches; nothing accumulates on a device")  \
  X(use_legacy_prediction_loop, IGNORED, NULL, NULL, "reckon has one evaluation loop")                                 \
  X(local_rank,          IGNORED, NULL, NULL,   "one process")                                                         \
  X(report_to,           IGNORED, NULL, NULL,   "reckon logs to log.json and TensorBoard (runs/)")                     \
  X(pyprof,              IGNORED, NULL, NULL,   "no PyProf")

typedef struct {
  SESSIONS_DATA_FLAGS(RK_FLAG_FIELD)
  RK_SESSION_SETTINGS(RK_SETTING_FLAG_FIELD)
  SESSIONS_MODEL_FLAGS(RK_FLAG_FIELD)
  SESSIONS_RUN_FLAGS(RK_FLAG_FIELD)
} sessions_opts;
#define RK_FLAG_STRUCT sessions_opts
static const rk_flag sessions_flags[] = {SESSIONS_DATA_FLAGS(RK_FLAG_ROW) RK_SESSION_SETTINGS(RK_SETTING_FLAG_ROW)
                                             SESSIONS_MODEL_FLAGS(RK_FLAG_ROW) SESSIONS_RUN_FLAGS(RK_FLAG_ROW) RK_FLAG_END};
#undef RK_FLAG_STRUCT

/* The model's settings from their flags: the session family's own kind (the shared ones: flags.h). */
#define RK_SETTING_FROM_FLAG_PICK(c, field, v, meta) c->field = rk_setting_pick(meta, v);
#define FROM_FLAG(kind, field, flag, section, meta, help, ...) RK_SETTING_FROM_FLAG_##kind(c, field, o->flag, meta)

static void model_from_flags(rk_session_config *c, const sessions_opts *o) { RK_SESSION_SETTINGS(FROM_FLAG) }

/* --model_parallel and mpirun go together: each without the other says how to run. */
static rk_status check_launch(const sessions_opts *o) {
  if (o->model_parallel && !rk_dist_have_mpi())
    return rk_error(RK_EUSAGE, "--model_parallel trains over MPI processes, and reckon was built without MPI "
                               "(install libopenmpi-dev and reconfigure)");
  if (o->model_parallel && !rk_dist_launched())
    return rk_error(RK_EUSAGE, "--model_parallel trains over several processes: start it as `mpirun -np N reckon "
                               "sessions ... --model_parallel` (the reference's `torch.distributed.launch "
                               "--nproc_per_node N`), or leave the flag out to train in this one process");
  if (!o->model_parallel && rk_dist_launched())
    return rk_error(RK_EUSAGE, "'reckon sessions' was started by mpirun without --model_parallel: add "
                               "--model_parallel to train data-parallel over the processes, or run one process");
  return RK_OK;
}

static const char *or_null(const char *s) { return s && *s ? s : NULL; }

static int run_sessions(const rk_flag_parse *parse, void *arg) {
  sessions_opts *o = arg;
  if (parse->npositional)
    return rk_cli_fail(rk_error(RK_EUSAGE, "'reckon sessions' takes no positional arguments (got '%s')", parse->positional[0]));
  rk_status st = check_launch(o);
  if (st != RK_OK) return rk_cli_fail(st);
  if (o->eval_metrics_ks.n > RK_RANK_MAX_KS)
    return rk_cli_fail(rk_error(RK_EUSAGE, "--eval_metrics_ks has %d cut-offs; at most %d", o->eval_metrics_ks.n, RK_RANK_MAX_KS));
  if (!o->eval_metrics_ks.n) return rk_cli_fail(rk_error(RK_EUSAGE, "--eval_metrics_ks needs one cut-off at least"));
  rk_sessions_config c;
  rk_sessions_config_default(&c);
  c.windows.data_path = o->data_path;
  c.windows.start_date = or_null(o->start_date);
  c.windows.end_date = or_null(o->end_date);
  c.windows.start_index = o->start_time_window_index;
  c.windows.final_index = rk_flags_given(parse, "final_time_window_index") ? o->final_time_window_index : -1;
  c.windows.pad_digits = (int)o->time_window_folder_pad_digits;
  c.windows.eval_on_test_set = o->eval_on_test_set;
  c.feature_config = or_null(o->feature_config);
  c.session_aware_prefix = o->session_aware_features_prefix;
  c.output_dir = or_null(o->output_dir);
  c.overwrite = o->overwrite_output_dir;
  c.do_train = o->do_train, c.do_eval = o->do_eval, c.do_predict = o->do_predict;
  model_from_flags(&c.model, o);
  c.incremental = !o->no_incremental_training;
  c.training_window_size = o->training_time_window_size;
  c.train_batch_size = o->per_device_train_batch_size;
  c.eval_batch_size = o->per_device_eval_batch_size;
  c.epochs = o->num_train_epochs;
  c.max_steps = o->max_steps;
  c.lr = (float)o->learning_rate;
  c.weight_decay = (float)o->weight_decay;
  c.adam_beta1 = (float)o->adam_beta1, c.adam_beta2 = (float)o->adam_beta2, c.adam_epsilon = (float)o->adam_epsilon;
  c.max_grad_norm = o->max_grad_norm;
  c.lr_schedule = o->learning_rate_schedule;
  c.warmup_steps = o->learning_rate_warmup_steps;
  c.cosine_cycles_by_epoch = o->learning_rate_num_cosine_cycles_by_epoch;
  c.drop_last = o->dataloader_drop_last;
  c.shuffle_buffer_rows = o->shuffle_buffer_size;
  c.logging_steps = o->logging_steps;
  c.save_steps = o->save_steps;
  c.eval_steps_on_train_set = o->eval_steps_on_train_set;
  c.n_ks = o->eval_metrics_ks.n;
  for (int i = 0; i < c.n_ks; i++) c.ks[i] = (int)o->eval_metrics_ks.items[i];
  c.batch_mean = o->eval_metrics_batch_mean;
  c.log_predictions = o->log_predictions;
  c.log_attention_weights = o->log_attention_weights;
  c.predict_top_k = (int)o->predict_top_k;
  c.load_model = or_null(o->model_name_or_path);
  c.predict_path = or_null(o->predict_data_path);
  c.synth_oracle = or_null(o->synth_oracle);
  rk_dist *dist;
  int code = rk_cli_dist_start(&dist, parse);
  if (code != RK_EXIT_OK) return code;
  /* Under mpirun: the batch per rank, as the reference's per-device batch; pieces of it by default. */
  c.dist = dist;
  c.micro_batch_size = o->micro_batch_size > 0 ? o->micro_batch_size : o->per_device_train_batch_size;
  st = rk_size_mul(&c.train_batch_size, o->per_device_train_batch_size, rk_dist_size(dist),
                   "--per_device_train_batch_size x the ranks");
  json_t *flags = rk_flags_to_json(parse);
  c.flags = flags;
  json_t *result = NULL;
  if (st == RK_OK) st = rk_sessions_run(&c, &result);
  json_decref(flags);
  if (st != RK_OK) return rk_cli_dist_fail(dist, st);
  bool rank0 = rk_dist_rank(dist) == 0;
  rk_cli_dist_end(dist);
  if (!parse->globals.quiet && rank0) {
    printf("%lld windows, %lld training steps; outputs in %s\n", (long long)json_integer_value(json_object_get(result, "windows")),
           (long long)json_integer_value(json_object_get(result, "steps")), c.output_dir);
    const char *key;
    json_t *v;
    json_object_foreach(json_object_get(result, "average"), key, v) {
      if (strncmp(key, "eval_", 5) == 0 && json_is_number(v) && (strstr(key, "recall@") || strstr(key, "ndcg@")))
        printf("  %s = %.6f\n", key, json_number_value(v));
    }
  }
  json_decref(result);
  return RK_EXIT_OK;
}

const rk_command rk_cmd_sessions = {
    .name = "sessions",
    .usage = "reckon sessions --output_dir DIR --data_path DIR (--start_date D --end_date D | "
             "--start_time_window_index N [--final_time_window_index N]) --do_train --do_eval [flags]",
    .summary = "train and evaluate next-item session models (gpt2, bert, albert, electra, xlnet, transfoxl, gru, lstm, rnn, avgseq) day by day, "
               "with recsys_main.py's flags",
    .details =
        "The flags are those of Transformers4Rec's research pipeline `recsys_main.py` (its data, model and training "
        "arguments, with Hugging Face's common TrainingArguments), with its defaults, so its commands run with "
        "`reckon sessions` in place of `python recsys_main.py`. Flags of GPU machinery and logging services are "
        "accepted with a note; flags removed from the reference in 2021 are accepted with a note. "
        "`mpirun -np N reckon sessions ... --model_parallel` trains data-parallel: N x "
        "--per_device_train_batch_size sessions per step, the same bits as one process over the same pieces "
        "(--micro_batch_size; docs/distributed.md).\n\n"
        "For each time window but the last, the model trains on it (the weights carry over, the learning-rate "
        "schedule restarts) and is evaluated on the next window's valid set and on the first batches of its "
        "training data. `--output_dir` gets `log.json` (DLLogger), the per-window and averaged results files "
        "(`*_results_dates.txt`, `eval_train_results_dates.csv`, `eval_results_avg_over_days.txt`; the "
        "window-folder layout's `*_over_time` names), `runs/` (TensorBoard), `report.html`, `pred_logs/` and "
        "`attention_weights/` when asked, and `model/` at the end. A run killed at any point continues from "
        "`checkpoint/` when started again with the same command, to the same bits. See docs/sessions_command.md.",
    .flags = sessions_flags,
    .opts_size = sizeof(sessions_opts),
    .run = run_sessions,
};
