/*
 * reckon/train.h: the training layer. Today: the logs training writes, in the formats users'
 * tools read. DLLogger's `log.json` (NVIDIA's DLLogger JSON-lines backend, as the session
 * pipeline's recsys_main.py writes it: one `DLLL {json}` line per entry) and TensorBoard event
 * files (TFRecord framing with masked CRC32C around Event protocol buffers holding scalar
 * summaries), written without TensorFlow.
 */
#ifndef RECKON_TRAIN_H
#define RECKON_TRAIN_H

#include <stdio.h>

#include <jansson.h>

#include "reckon/core.h"
#include "reckon/dist.h"
#include "reckon/metrics.h"
#include "reckon/sessions.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- DLLogger (src/train/dllogger.c) ----
 * Each line: DLLL {"timestamp": "<unix seconds>", "datetime": "YYYY-MM-DD HH:MM:SS.ffffff",
 * "elapsedtime": "<seconds since open>", "type": "LOG", "step": <step>, "data": {...}}, with
 * step "PARAMETER" for the run's parameters, else an array (e.g. [epoch, step] or ["2019-10-02"]). */
typedef struct rk_dllogger rk_dllogger;
rk_status rk_dllogger_open(rk_dllogger **log, const char *path);      /* creates or truncates */
rk_status rk_dllogger_parameters(rk_dllogger *log, const json_t *params);
/* JSON has no NaN: pass a missing metric as null (DLLogger itself, being Python, writes NaN). */
rk_status rk_dllogger_log(rk_dllogger *log, const json_t *step, const json_t *data);
rk_status rk_dllogger_close(rk_dllogger *log);                         /* flushes; frees */

/* ---- TensorBoard (src/train/tensorboard.c) ----
 * One file `events.out.tfevents.<unix seconds>.<host>` per writer in `dir` (created), starting
 * with the `brain.Event:2` version event; each scalar is an Event {wall_time, step, summary
 * {value {tag, simple_value}}}. */
typedef struct rk_tb_writer rk_tb_writer;
rk_status rk_tb_open(rk_tb_writer **writer, const char *dir);
rk_status rk_tb_scalar(rk_tb_writer *writer, const char *tag, int64_t step, float value);
rk_status rk_tb_flush(rk_tb_writer *writer);
rk_status rk_tb_close(rk_tb_writer *writer);
const char *rk_tb_path(const rk_tb_writer *writer);

/* CRC-32C (Castagnoli), as TFRecord uses it: crc of data continuing from `crc` (0 to start),
 * and TFRecord's masking ((crc >> 15 | crc << 17) + 0xa282ead8). */
uint32_t rk_crc32c(const void *data, size_t len, uint32_t crc);
uint32_t rk_crc32c_mask(uint32_t crc);

/* ---- report.html (src/train/report.c) ----
 * A self-contained page (inline SVG and CSS, no scripts, no external files) describing a run:
 * the run's parameters as a table, plots of training loss, regularisation loss and learning rate
 * over steps, eval metrics over steps when logged, the final eval metrics table, the ROC curve
 * (with the AUC in its title and the diagonal) and a calibration plot (mean predicted probability
 * vs observed positive rate in 10 equal-width bins, bins' counts shown, the ideal diagonal) of the
 * final eval. Written atomically (a temporary name, then rename).
 * Every string taken from the inputs is HTML-escaped. Series longer than 2000 points are thinned
 * evenly (first and last kept); null, missing and non-finite values are gaps; a log entry's x is
 * its "step" (a number, or the last element of an array such as DLLogger's [epoch, step]), else
 * its index. Predictions whose probability is not finite or whose label is not 0/1 are left out
 * of the ROC and calibration (the page says how many). Inputs of the wrong JSON type (params not
 * an object, a log not an array) are RK_EINVAL. */
typedef struct {
  const char *title;            /* e.g. "reckon train: dlrm on click" */
  const json_t *params;         /* object: flag -> value, shown as a table */
  const json_t *train_log;      /* array of objects, each with "step" and numbers such as "loss",
                                   "regularization_loss", "lr", "samples_per_s", "auc" ... : every
                                   numeric key other than step/epoch gets a plot (loss-like keys
                                   together, one plot per other key); null values are gaps */
  const json_t *eval_log;       /* array of objects with "step" and eval metrics, or NULL */
  const json_t *final_metrics;  /* object: metric -> number (or null), shown as a table */
  const float *prob;            /* final eval probabilities, or NULL (no ROC or calibration) */
  const float *label;           /* 0/1 */
  int64_t n;
} rk_report;
rk_status rk_report_write_html(const char *path, const rk_report *r);


/* ---- session time windows (src/train/sessions_windows.c) ----
 * The day-by-day protocol of recsys_main.py (Transformers4Rec, tag recsys2021) reads one data set
 * per time window in one of two layouts under --data_path:
 *   dates   session_start_date=YYYY-MM-DD-{train,valid,test}.parquet, one window per day from
 *           --start_date to --end_date inclusive (the research code before Feb 2021)
 *   index   <window>/{train,valid,test}.parquet, windows --start_time_window_index to
 *           --final_time_window_index inclusive, folder names zero-padded to
 *           --time_window_folder_pad_digits (the paper's layout), or unpadded (the session ETL's
 *           day_index folders); each name is tried padded first
 * Window i trains the model, window i + 1 evaluates it: the first window is only trained on, the
 * last only evaluated on. A missing file is an error naming the flags, the window and the path. */
typedef enum { RK_WINDOWS_DATES, RK_WINDOWS_INDEX } rk_window_layout;

typedef struct {
  char label[16];             /* "2019-10-01", or the index as text ("3") */
  int64_t index;              /* the window index; dates: days since 1970-01-01 */
  char *train, *valid, *test; /* paths (checked as the options ask) */
} rk_session_window;

typedef struct {
  rk_window_layout layout;
  int n;
  rk_session_window *w;       /* (n), in time order */
} rk_session_windows;

typedef struct {
  const char *data_path;
  const char *start_date, *end_date;      /* both: the dates layout; else the index layout */
  int64_t start_index;                    /* >= 0 */
  int64_t final_index;                    /* < 0: the last window present after start_index */
  int pad_digits;                         /* 0..9 */
  bool need_train;                        /* --do_train: windows 0..n-2 need train.parquet */
  bool need_eval;                         /* --do_eval: windows 1..n-1 need valid (or test) */
  bool eval_on_test_set;
} rk_session_window_options;

rk_status rk_session_windows_find(rk_session_windows *out, const rk_session_window_options *o);
void rk_session_windows_free(rk_session_windows *w);
/* The windows training step t (0..n-2) trains on, [*first, t]: t alone (incremental), else the
 * last `size` windows up to t (size > 0) or all of them (size 0): --no_incremental_training. */
void rk_session_train_windows(int *first, int t, bool incremental, int64_t size);
/* "YYYY-MM-DD" -> days since 1970-01-01; RK_EUSAGE naming `flag` when it is not a real date. */
rk_status rk_parse_date(const char *text, const char *flag, int64_t *days);
void rk_format_date(char out[16], int64_t days);

/* ---- session results files (src/train/sessions_results.c) ----
 * The human-readable and CSV results of recsys_main.py (its recsys_outputs.py), per layout:
 *                      dates                          index
 *   per window         {train,eval}_results_dates.txt {train,eval}_results_over_time.txt
 *   table              eval_train_results_dates.csv   eval_train_results.csv
 *   averages           eval_results_avg_over_days.txt eval_results_avg_over_time.txt (_AOD / _AOT)
 * A results table has one row per evaluated window: its label and an object of metrics
 * ("eval_recall@20", "train_loss", ...; null for a metric that could not be computed). Numbers
 * are written as Python's str(float) writes them (the shortest text that reads back the same). */
typedef struct {
  rk_window_layout layout;
  int n;
  char (*labels)[16];         /* (n) the evaluated windows */
  json_t **metrics;           /* (n) objects, owned */
} rk_session_results;

const char *rk_session_results_name(rk_window_layout layout, int which);   /* 0 train txt, 1 eval txt, 2 csv, 3 avg */
/* Python's str() of a float into buf (at least 32 bytes): "0.25", "1e-05", "nan", "inf". */
void rk_format_py_float(char *buf, size_t size, double v);
/* One window's block of a per-window file: "\n***** <prefix> results (<label>)*****\n" (the index
 * layout: "(time index): <label>)") and "key = value" lines in sorted key order. */
rk_status rk_session_results_block(FILE *f, rk_window_layout layout, const char *prefix, const char *label,
                                   const json_t *metrics);
/* The mean of each metric over the windows that have it (null and missing are skipped; a metric
 * no window has is null), keys suffixed _AOD or _AOT. New object. */
json_t *rk_session_results_average(const rk_session_results *r);
rk_status rk_session_results_write_csv(FILE *f, const rk_session_results *r);
rk_status rk_session_results_write_average(FILE *f, const rk_session_results *r, const json_t *average);


/* ---- the day-by-day protocol (src/train/sessions.c) ----
 * `reckon sessions`: recsys_main.py's incremental training and evaluation of a session model
 * (reckon/sessions.h) over time windows. For each window t but the last: train on t (or, without
 * incremental training, on the last training_window_size windows up to t, or all of them), the
 * weights carrying over and the learning-rate schedule restarting; then evaluate on window t+1's
 * valid set (test with eval_on_test_set) and on at most eval_steps_on_train_set batches of the
 * training data. Outputs under output_dir: log.json (DLLogger), the results files above, runs/
 * (TensorBoard), report.html, pred_logs/ and attention_weights/ when asked, checkpoint/ while a
 * run is under way, model/ at the end, predictions.parquet with do_predict. docs/sessions_command.md. */
typedef struct {
  rk_session_window_options windows;
  const char *feature_config;       /* NULL: the Merlin schema beside the data */
  const char *session_aware_prefix; /* model.session_aware: past sessions' columns are this + a feature's name */
  const char *output_dir;
  bool overwrite;                   /* --overwrite_output_dir */
  bool do_train, do_eval, do_predict;
  rk_session_config model;
  bool incremental;
  int64_t training_window_size;
  int64_t train_batch_size, eval_batch_size;   /* train: the global batch (per device x ranks) */
  int64_t micro_batch_size;         /* rows of a piece of the global batch; 0: the whole batch */
  rk_dist *dist;                    /* NULL: one process. Else data parallel (docs/distributed.md): each
                                       rank trains its pieces of every global batch, the gradients are
                                       summed in one tree over pieces (the same bits on any number of
                                       ranks), evaluation is split over ranks, rank 0 writes */
  double epochs;                    /* per window; fractions allowed */
  int64_t max_steps;                /* per window; <= 0: the epochs decide */
  float lr, weight_decay, adam_beta1, adam_beta2, adam_epsilon;
  double max_grad_norm;             /* 0: no clipping */
  const char *lr_schedule;          /* constant_with_warmup | linear_with_warmup | cosine_with_warmup */
  int64_t warmup_steps;
  double cosine_cycles_by_epoch;
  bool drop_last;
  int64_t shuffle_buffer_rows;      /* 0: the loader's default */
  int64_t logging_steps;            /* a training-log row (loss, lr) every N steps */
  int64_t save_steps;               /* 0: a checkpoint only after each window */
  int64_t eval_steps_on_train_set;
  int ks[RK_RANK_MAX_KS];
  int n_ks;
  bool batch_mean;                  /* metrics as the mean of batch means (the 2021 code) */
  bool log_predictions, log_attention_weights;
  int predict_top_k;
  const char *load_model;           /* --model_name_or_path: a model folder to start from */
  const char *predict_path;         /* --do_predict's data: NULL, the last window's test set */
  const char *synth_oracle;         /* NULL, or the click log of `reckon synth sessions --layout
                                       yoochoose` the data came from: each window's ceiling */
  const json_t *flags;              /* every flag, for log.json's PARAMETER line and model.json */
} rk_sessions_config;

void rk_sessions_config_default(rk_sessions_config *c);
/* *result: {"windows": n, "steps": s, "average": {...}, "results": [...]} (new object). */
rk_status rk_sessions_run(const rk_sessions_config *c, json_t **result);
/* The names a run adds to output_dir (NULL-terminated); the folder's other files stay. */
extern const char *const rk_sessions_output_names[];

#ifdef __cplusplus
}
#endif
#endif /* RECKON_TRAIN_H */
