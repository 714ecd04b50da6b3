/*
 * An ONNX graph under construction (src/export/onnx/): nodes, initializers, inputs and outputs as
 * protobuf-c messages (proto/onnx.proto), every allocation owned by the builder and freed in one
 * call, and a sticky status: after the first failure every call does nothing and returns NULL, so
 * an op's emission reads as a list of ONNX nodes and is checked once, at its end.
 * Value names are the builder's own strings; initializer data is referenced, not copied (weights
 * outlive the builder), except for the constants the builder makes itself.
 * Not here: what a reckon op becomes (onnx_ops.c) or which values a model exports (onnx_export.c).
 */
#ifndef RECKON_EXPORT_ONNX_BUILDER_H
#define RECKON_EXPORT_ONNX_BUILDER_H

#include <stdint.h>

#include "onnx.pb-c.h"
#include "reckon/core.h"

typedef struct {
  Onnx__GraphProto graph;
  int cap_node, cap_initializer, cap_input, cap_output;
  void **owned;             /* every allocation, freed by rk_onnx_builder_free */
  int n_owned, cap_owned;
  int fresh;                /* the next number for a generated value name */
  rk_status status;         /* the first failure, or RK_OK */
} rk_onnx_builder;

void rk_onnx_builder_init(rk_onnx_builder *b, const char *graph_name);
void rk_onnx_builder_free(rk_onnx_builder *b);
/* Record a failure (the first one stays); returns it. */
rk_status rk_onnx_fail(rk_onnx_builder *b, rk_status st);

/* A new value name "<hint>_<n>", unique in the graph. */
const char *rk_onnx_fresh(rk_onnx_builder *b, const char *hint);
/* A copy of s that the builder owns. */
char *rk_onnx_strdup(rk_onnx_builder *b, const char *s);

/* A node op_type(ins) -> outs; a NULL entry of ins is an omitted optional input (""). */
Onnx__NodeProto *rk_onnx_node(rk_onnx_builder *b, const char *op_type, int n_in, const char *const *ins, int n_out,
                              const char *const *outs);
/* A node with one output, named fresh after op_type; returns the output's name. */
const char *rk_onnx_op(rk_onnx_builder *b, const char *op_type, int n_in, const char *const *ins);
const char *rk_onnx_op1(rk_onnx_builder *b, const char *op_type, const char *x);
const char *rk_onnx_op2(rk_onnx_builder *b, const char *op_type, const char *x, const char *y);
/* Rename the single output of the last node to `name` (a value the graph's readers know by name). */
void rk_onnx_name_last_output(rk_onnx_builder *b, const char *name);
/* Attributes of node n (NULL: nothing, after a failure). */
void rk_onnx_attr_int(rk_onnx_builder *b, Onnx__NodeProto *n, const char *name, int64_t v);
void rk_onnx_attr_float(rk_onnx_builder *b, Onnx__NodeProto *n, const char *name, float v);
void rk_onnx_attr_ints(rk_onnx_builder *b, Onnx__NodeProto *n, const char *name, int count, const int64_t *v);
/* The last node added (for its attributes), or NULL. */
Onnx__NodeProto *rk_onnx_last(rk_onnx_builder *b);

/* An initializer `name` of ONNX data type `onnx_type` and dims, its bytes at data (not copied). */
void rk_onnx_initializer(rk_onnx_builder *b, const char *name, int onnx_type, int ndim, const int64_t *dims,
                         const void *data, size_t bytes);
/* Constants the builder owns: int64 and float 1-d tensors, named fresh; returns the name. */
const char *rk_onnx_const_i64(rk_onnx_builder *b, int count, const int64_t *v);
const char *rk_onnx_const_f32(rk_onnx_builder *b, int count, const float *v);
/* A graph input or output of `onnx_type` whose dims are sizes, the symbolic "batch"
 * (RK_ONNX_DIM_BATCH) or any size (RK_ONNX_DIM_ANY: a list's value count). */
#define RK_ONNX_DIM_BATCH (-1)
#define RK_ONNX_DIM_ANY (-2)
void rk_onnx_graph_input(rk_onnx_builder *b, const char *name, int onnx_type, int ndim, const int64_t *dims,
                         const char *doc);
void rk_onnx_graph_output(rk_onnx_builder *b, const char *name, int onnx_type, int ndim, const int64_t *dims);

/* The model around the graph (IR version, opset, producer), serialised to a new buffer. */
rk_status rk_onnx_builder_pack(rk_onnx_builder *b, uint8_t **out, size_t *size);

#endif
