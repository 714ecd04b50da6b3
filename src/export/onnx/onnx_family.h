/*
 * What differs per model family in the ONNX export (onnx_export.c walks, these name):
 *   roots    the graph values the family's outputs are made from (the walk keeps what they read)
 *   inputs   the graph's leaves as ONNX inputs (the feed's columns) or values made from them
 *   outputs  the ONNX outputs, named as the family's predictions are (`reckon predict`'s columns)
 * onnx_ranking.c: the ranking family; onnx_session.c: the session family (causal GPT-2).
 */
#ifndef RECKON_EXPORT_ONNX_FAMILY_H
#define RECKON_EXPORT_ONNX_FAMILY_H

#include "export/onnx/onnx_ops.h"
#include "reckon/model.h"
#include "reckon/schema.h"

typedef struct {
  const char *family;        /* rk_model_ops.family */
  /* A model of the family the export takes, or an RK_EUNSUPPORTED naming what it cannot. */
  rk_status (*check)(const rk_model *m);
  int (*roots)(const rk_model *m, int *out, int cap);
  rk_status (*inputs)(rk_onnx_ctx *c, const rk_model *m, const rk_schema *schema, const bool *needed);
  rk_status (*outputs)(rk_onnx_ctx *c, const rk_model *m);
  /* NULL, or the model to translate instead of m, whose graph keeps the layout ONNX takes (a
   * session model's (B, T) body rather than its packed real rows); freed after the export. */
  rk_status (*layout)(const rk_model *m, rk_model **out);
} rk_onnx_family;

extern const rk_onnx_family rk_onnx_ranking_family;
extern const rk_onnx_family rk_onnx_session_family;

/* The schema's column `name`, or an RK_ENOTFOUND naming it. */
rk_status rk_onnx_schema_column(const rk_schema *schema, const char *name, const rk_schema_column **out);

#endif
