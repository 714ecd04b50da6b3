/*
 * ONNX export: a trained model's graph as an ONNX model (IR version 8, opset 17), so an existing
 * Triton with its ONNX Runtime backend can serve the model step of reckon's ensemble.
 *
 * What the file holds (docs/serving_onnx.md):
 *   ranking models (src/export/onnx/onnx_ranking.c)
 *     inputs    the feed's columns after the workflow, each (batch, 1): int64 ids of a
 *               categorical column named for it, float32 for a continuous one; a list column
 *               as (batch, L) int64 ids right-padded with 0, L its schema's value_count max (a
 *               batch axis, so Triton's batcher can stack requests)
 *     outputs   per task "<target>/binary_output" (the probability) or
 *               "<target>/regression_output", (batch, 1) float32, as `reckon predict` writes them
 *   session models, causal GPT-2 (onnx_session.c)
 *     inputs    each feature's list column as a padded (batch, T) tensor: the session's last T
 *               values, right-padded with the pad token
 *     outputs   "next-item" (batch, V): every item's score for the session's next item
 *   weights     every parameter the outputs read, an initializer named for it, its bytes as trained
 * Only what the outputs need is written (no labels, losses or regularisers). A reckon op with no
 * ONNX mapping, and a feature the feed rewrites in a way ONNX cannot (hashed or indicator
 * columns), is an error naming it: never a graph that computes something else.
 * Not here: the Triton repository layout around the file (src/export/, `reckon export`).
 * Reference: onnx/onnx, onnx/onnx.proto (the IR) and docs/Operators.md (the ops of opset 17).
 */
#ifndef RECKON_EXPORT_ONNX_EXPORT_H
#define RECKON_EXPORT_ONNX_EXPORT_H

#include "reckon/model.h"
#include "reckon/schema.h"

/* ONNX's versions this exporter writes. */
#define RK_ONNX_IR_VERSION 8
#define RK_ONNX_OPSET 17

/* Write m (a ranking or a causal session model; any batch size) as an ONNX model at `path`, atomically (a temporary
 * name, then rename: a failure leaves what was there). schema: the model's schema, for the
 * columns' names and types. */
rk_status rk_onnx_export(const rk_model *m, const rk_schema *schema, const char *path);

#endif
