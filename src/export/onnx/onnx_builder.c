/*
 * The ONNX graph builder (onnx_builder.h): protobuf-c messages allocated through one owner list,
 * a sticky status, and the model wrapper written last. Reference: onnx/onnx, onnx/onnx.proto
 * (IR version 8: a ModelProto holding a GraphProto and the opset imports).
 */
#include <stdio.h>
#include <string.h>

#include "export/onnx/onnx_builder.h"
#include "export/onnx/onnx_export.h"

void rk_onnx_builder_init(rk_onnx_builder *b, const char *graph_name) {
  memset(b, 0, sizeof *b);
  onnx__graph_proto__init(&b->graph);
  b->graph.name = rk_onnx_strdup(b, graph_name);
}

void rk_onnx_builder_free(rk_onnx_builder *b) {
  for (int i = 0; i < b->n_owned; i++) rk_free(b->owned[i]);
  rk_free(b->owned);
  memset(b, 0, sizeof *b);
}

rk_status rk_onnx_fail(rk_onnx_builder *b, rk_status st) {
  if (b->status == RK_OK) b->status = st;
  return b->status;
}

/* Zeroed memory the builder frees; NULL after a failure. */
static void *own(rk_onnx_builder *b, size_t size) {
  if (b->status != RK_OK) return NULL;
  if (b->n_owned == b->cap_owned) {
    int cap = b->cap_owned ? 2 * b->cap_owned : 256;
    void **p = rk_realloc(b->owned, (size_t)cap * sizeof *p);
    if (!p) return rk_onnx_fail(b, RK_ENOMEM), NULL;
    b->owned = p;
    b->cap_owned = cap;
  }
  void *p = rk_calloc(1, size ? size : 1);
  if (!p) return rk_onnx_fail(b, RK_ENOMEM), NULL;
  b->owned[b->n_owned++] = p;
  return p;
}

/* Room for one more pointer in a message's repeated field (*items, *n, *cap); the array is
 * re-owned as it grows. */
static bool grow(rk_onnx_builder *b, void ***items, size_t n, int *cap) {
  if (b->status != RK_OK) return false;
  if ((int)n < *cap) return true;
  int next = *cap ? 2 * *cap : 16;
  void **p = own(b, (size_t)next * sizeof *p);
  if (!p) return false;
  if (n) memcpy(p, *items, n * sizeof *p);
  *items = p;   /* the old array stays owned until the end: a few pointers */
  *cap = next;
  return true;
}

char *rk_onnx_strdup(rk_onnx_builder *b, const char *s) {
  size_t n = strlen(s) + 1;
  char *p = own(b, n);
  if (p) memcpy(p, s, n);
  return p;
}

const char *rk_onnx_fresh(rk_onnx_builder *b, const char *hint) {
  char name[96];
  snprintf(name, sizeof name, "%s_%d", hint, b->fresh++);
  return rk_onnx_strdup(b, name);
}

Onnx__NodeProto *rk_onnx_node(rk_onnx_builder *b, const char *op_type, int n_in, const char *const *ins, int n_out,
                              const char *const *outs) {
  Onnx__NodeProto *n = own(b, sizeof *n);
  char **in = own(b, (size_t)n_in * sizeof *in), **out = own(b, (size_t)n_out * sizeof *out);
  if (!n || !in || !out || !grow(b, (void ***)&b->graph.node, b->graph.n_node, &b->cap_node)) return NULL;
  for (int k = 0; k < n_in; k++)
    if (!(in[k] = rk_onnx_strdup(b, ins[k] ? ins[k] : ""))) return NULL;
  for (int k = 0; k < n_out; k++)
    if (!outs[k] || !(out[k] = rk_onnx_strdup(b, outs[k]))) return rk_onnx_fail(b, RK_ENOMEM), NULL;
  onnx__node_proto__init(n);
  n->op_type = rk_onnx_strdup(b, op_type);
  n->name = (char *)rk_onnx_fresh(b, op_type);
  n->n_input = (size_t)n_in;
  n->input = in;
  n->n_output = (size_t)n_out;
  n->output = out;
  if (b->status != RK_OK) return NULL;
  b->graph.node[b->graph.n_node++] = n;
  return n;
}

const char *rk_onnx_op(rk_onnx_builder *b, const char *op_type, int n_in, const char *const *ins) {
  const char *out = rk_onnx_fresh(b, op_type);
  if (!out) return NULL;
  for (int k = 0; k < n_in; k++)
    if (!ins[k]) return rk_onnx_fail(b, RK_EINVAL), NULL;   /* an earlier step failed */
  return rk_onnx_node(b, op_type, n_in, ins, 1, &out) ? out : NULL;
}

const char *rk_onnx_op1(rk_onnx_builder *b, const char *op_type, const char *x) {
  return rk_onnx_op(b, op_type, 1, &x);
}

const char *rk_onnx_op2(rk_onnx_builder *b, const char *op_type, const char *x, const char *y) {
  const char *in[2] = {x, y};
  return rk_onnx_op(b, op_type, 2, in);
}

Onnx__NodeProto *rk_onnx_last(rk_onnx_builder *b) {
  return b->status == RK_OK && b->graph.n_node ? b->graph.node[b->graph.n_node - 1] : NULL;
}

void rk_onnx_name_last_output(rk_onnx_builder *b, const char *name) {
  Onnx__NodeProto *n = rk_onnx_last(b);
  if (n) n->output[0] = rk_onnx_strdup(b, name);
}

static Onnx__AttributeProto *attr(rk_onnx_builder *b, Onnx__NodeProto *n, const char *name,
                                  Onnx__AttributeProto__AttributeType type) {
  if (!n) return NULL;
  int cap = (int)n->n_attribute;   /* arrays grow by one: nodes have a few attributes */
  Onnx__AttributeProto *a = own(b, sizeof *a);
  if (!a || !grow(b, (void ***)&n->attribute, n->n_attribute, &cap)) return NULL;
  onnx__attribute_proto__init(a);
  a->name = rk_onnx_strdup(b, name);
  a->has_type = true;
  a->type = type;
  n->attribute[n->n_attribute++] = a;
  return a;
}

void rk_onnx_attr_int(rk_onnx_builder *b, Onnx__NodeProto *n, const char *name, int64_t v) {
  Onnx__AttributeProto *a = attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
  if (a) a->has_i = true, a->i = v;
}

void rk_onnx_attr_float(rk_onnx_builder *b, Onnx__NodeProto *n, const char *name, float v) {
  Onnx__AttributeProto *a = attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
  if (a) a->has_f = true, a->f = v;
}

void rk_onnx_attr_ints(rk_onnx_builder *b, Onnx__NodeProto *n, const char *name, int count, const int64_t *v) {
  Onnx__AttributeProto *a = attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
  int64_t *copy = own(b, (size_t)count * sizeof *copy);
  if (!a || !copy) return;
  memcpy(copy, v, (size_t)count * sizeof *copy);
  a->n_ints = (size_t)count;
  a->ints = copy;
}

void rk_onnx_initializer(rk_onnx_builder *b, const char *name, int onnx_type, int ndim, const int64_t *dims,
                         const void *data, size_t bytes) {
  Onnx__TensorProto *t = own(b, sizeof *t);
  int64_t *d = own(b, (size_t)ndim * sizeof *d);
  if (!t || !d || !grow(b, (void ***)&b->graph.initializer, b->graph.n_initializer, &b->cap_initializer)) return;
  onnx__tensor_proto__init(t);
  if (ndim) memcpy(d, dims, (size_t)ndim * sizeof *d);
  t->n_dims = (size_t)ndim;
  t->dims = d;
  t->has_data_type = true;
  t->data_type = onnx_type;
  t->name = rk_onnx_strdup(b, name);
  t->has_raw_data = true;
  t->raw_data.len = bytes;
  t->raw_data.data = (uint8_t *)data;   /* protobuf-c only reads it */
  b->graph.initializer[b->graph.n_initializer++] = t;
}

static const char *constant(rk_onnx_builder *b, const char *hint, int onnx_type, int count, const void *v,
                            size_t size) {
  const char *name = rk_onnx_fresh(b, hint);
  void *copy = own(b, (size_t)count * size);
  if (!name || !copy) return NULL;
  memcpy(copy, v, (size_t)count * size);
  int64_t dims[1] = {count};
  rk_onnx_initializer(b, name, onnx_type, 1, dims, copy, (size_t)count * size);
  return b->status == RK_OK ? name : NULL;
}

const char *rk_onnx_const_i64(rk_onnx_builder *b, int count, const int64_t *v) {
  return constant(b, "const_i64", ONNX__TENSOR_PROTO__DATA_TYPE__INT64, count, v, sizeof *v);
}

const char *rk_onnx_const_f32(rk_onnx_builder *b, int count, const float *v) {
  return constant(b, "const_f32", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, count, v, sizeof *v);
}

static Onnx__ValueInfoProto *value_info(rk_onnx_builder *b, const char *name, int onnx_type, int ndim,
                                        const int64_t *dims) {
  Onnx__ValueInfoProto *v = own(b, sizeof *v);
  Onnx__TypeProto *type = own(b, sizeof *type);
  Onnx__TypeProto__Tensor *tensor = own(b, sizeof *tensor);
  Onnx__TensorShapeProto *shape = own(b, sizeof *shape);
  Onnx__TensorShapeProto__Dimension **dim = own(b, (size_t)ndim * sizeof *dim);
  if (!v || !type || !tensor || !shape || !dim) return NULL;
  for (int k = 0; k < ndim; k++) {
    if (!(dim[k] = own(b, sizeof *dim[k]))) return NULL;
    onnx__tensor_shape_proto__dimension__init(dim[k]);
    if (dims[k] == RK_ONNX_DIM_ANY) continue;   /* neither a size nor a name: any */
    if (dims[k] < 0) {
      dim[k]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
      dim[k]->dim_param = rk_onnx_strdup(b, "batch");
    } else {
      dim[k]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
      dim[k]->dim_value = dims[k];
    }
  }
  onnx__tensor_shape_proto__init(shape);
  shape->n_dim = (size_t)ndim;
  shape->dim = dim;
  onnx__type_proto__tensor__init(tensor);
  tensor->has_elem_type = true;
  tensor->elem_type = onnx_type;
  tensor->shape = shape;
  onnx__type_proto__init(type);
  type->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
  type->tensor_type = tensor;
  onnx__value_info_proto__init(v);
  v->name = rk_onnx_strdup(b, name);
  v->type = type;
  return b->status == RK_OK ? v : NULL;
}

void rk_onnx_graph_input(rk_onnx_builder *b, const char *name, int onnx_type, int ndim, const int64_t *dims,
                         const char *doc) {
  Onnx__ValueInfoProto *v = value_info(b, name, onnx_type, ndim, dims);
  if (!v || !grow(b, (void ***)&b->graph.input, b->graph.n_input, &b->cap_input)) return;
  if (doc) v->doc_string = rk_onnx_strdup(b, doc);
  b->graph.input[b->graph.n_input++] = v;
}

void rk_onnx_graph_output(rk_onnx_builder *b, const char *name, int onnx_type, int ndim, const int64_t *dims) {
  Onnx__ValueInfoProto *v = value_info(b, name, onnx_type, ndim, dims);
  if (!v || !grow(b, (void ***)&b->graph.output, b->graph.n_output, &b->cap_output)) return;
  b->graph.output[b->graph.n_output++] = v;
}

rk_status rk_onnx_builder_pack(rk_onnx_builder *b, uint8_t **out, size_t *size) {
  *out = NULL;
  *size = 0;
  if (b->status != RK_OK) return b->status;
  Onnx__OperatorSetIdProto opset = ONNX__OPERATOR_SET_ID_PROTO__INIT;
  opset.domain = "";
  opset.has_version = true;
  opset.version = RK_ONNX_OPSET;
  Onnx__OperatorSetIdProto *opsets[1] = {&opset};
  Onnx__ModelProto model = ONNX__MODEL_PROTO__INIT;
  model.has_ir_version = true;
  model.ir_version = RK_ONNX_IR_VERSION;
  model.producer_name = "reckon";
  model.producer_version = RECKON_VERSION;
  model.has_model_version = true;
  model.model_version = 1;
  model.graph = &b->graph;
  model.n_opset_import = 1;
  model.opset_import = opsets;
  size_t n = onnx__model_proto__get_packed_size(&model);
  uint8_t *buf = rk_malloc(n ? n : 1);
  if (!buf) return RK_ENOMEM;
  *size = onnx__model_proto__pack(&model, buf);
  *out = buf;
  return RK_OK;
}
