/*
 * What each reckon op becomes in ONNX (onnx_ops.c): one node or a small subgraph of opset-17
 * nodes computing what the op's CPU forward computes in eval mode.
 * Not here: which nodes a model needs and its inputs and outputs (onnx_export.c).
 */
#ifndef RECKON_EXPORT_ONNX_OPS_H
#define RECKON_EXPORT_ONNX_OPS_H

#include "export/onnx/onnx_builder.h"
#include "nn/graph_internal.h"

typedef struct {
  rk_onnx_builder *b;
  const rk_graph *g;
  const char **names;        /* per graph value: its ONNX name, or NULL (not made yet) */
  const rk_param **emitted;  /* parameters already written as initializers */
  int n_emitted;
} rk_onnx_ctx;

/* The initializer of parameter p (written at its first use), named as p. */
const char *rk_onnx_param(rk_onnx_ctx *c, const rk_param *p);
/* Node n's ONNX nodes; its outputs' names into c->names. An op without a mapping is an
 * RK_EUNSUPPORTED naming it. */
rk_status rk_onnx_emit_node(rk_onnx_ctx *c, const rk_node *n);

#endif
