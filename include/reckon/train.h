/*
 * reckon/train.h: the training layer. Today: the logs training writes, in the formats users'
 * tools read. DLLogger's `log.json` (NVIDIA's DLLogger JSON-lines backend, as the session
 * pipeline's recsys_main.py writes it: one `DLLL {json}` line per entry) and TensorBoard event
 * files (TFRecord framing with masked CRC32C around Event protocol buffers holding scalar
 * summaries), written without TensorFlow.
 */
#ifndef RECKON_TRAIN_H
#define RECKON_TRAIN_H

#include <jansson.h>

#include "reckon/core.h"

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

#ifdef __cplusplus
}
#endif
#endif /* RECKON_TRAIN_H */
