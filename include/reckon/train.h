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

#ifdef __cplusplus
}
#endif
#endif /* RECKON_TRAIN_H */
