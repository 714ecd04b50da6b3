/*
 * serve/grpc/grpc_infer.c: ModelInfer's messages to and from the serving core's tensors
 * (contract in grpc_rpc.h). Two ways a tensor travels (KServe v2 gRPC, InferTensorContents and
 * raw_input_contents): typed, one repeated field per datatype family, or raw little-endian bytes,
 * BYTES elements each behind a 4-byte little-endian length. The core takes raw bytes, so typed
 * contents are converted here, every value range-checked (an INT8 tensor's int_contents must fit
 * in int8). Assumes a little-endian host, as the core does.
 */
#include <inttypes.h>
#include <string.h>

#include "serve/grpc/grpc_rpc.h"

typedef Inference__ModelInferRequest__InferInputTensor input_msg;
typedef Inference__InferTensorContents contents_msg;

void rk_grpc_infer_call_free(rk_grpc_infer_call *call) {
  if (call->converted)
    for (int i = 0; i < call->req.n_inputs; i++) rk_free(call->converted[i]);
  rk_free(call->converted);
  rk_free(call->inputs);
  rk_free(call->outputs);
  rk_free(call->params);
  if (call->msg) inference__model_infer_request__free_unpacked(call->msg, &rk_grpc_allocator);
  memset(call, 0, sizeof *call);
}

/* The elements of a BYTES tensor in raw form: a 4-byte length, then that many bytes, each. */
static bool count_bytes_elements(const uint8_t *p, size_t n, int64_t *count) {
  int64_t c = 0;
  size_t at = 0;
  while (at < n) {
    if (n - at < 4) return false;
    uint32_t len = (uint32_t)p[at] | (uint32_t)p[at + 1] << 8 | (uint32_t)p[at + 2] << 16 | (uint32_t)p[at + 3] << 24;
    at += 4;
    if (len > n - at) return false;
    at += len;
    c++;
  }
  *count = c;
  return true;
}

static size_t typed_count(const contents_msg *c, rk_serve_dtype dt, const char **field) {
  switch (dt) {
  case RK_SERVE_DT_BOOL: *field = "bool_contents"; return c->n_bool_contents;
  case RK_SERVE_DT_INT8:
  case RK_SERVE_DT_INT16:
  case RK_SERVE_DT_INT32: *field = "int_contents"; return c->n_int_contents;
  case RK_SERVE_DT_INT64: *field = "int64_contents"; return c->n_int64_contents;
  case RK_SERVE_DT_UINT8:
  case RK_SERVE_DT_UINT16:
  case RK_SERVE_DT_UINT32: *field = "uint_contents"; return c->n_uint_contents;
  case RK_SERVE_DT_UINT64: *field = "uint64_contents"; return c->n_uint64_contents;
  case RK_SERVE_DT_FP32: *field = "fp32_contents"; return c->n_fp32_contents;
  case RK_SERVE_DT_FP64: *field = "fp64_contents"; return c->n_fp64_contents;
  case RK_SERVE_DT_BYTES: *field = "bytes_contents"; return c->n_bytes_contents;
  default: *field = "(none)"; return 0;
  }
}

/* Typed contents of input `in` (numel elements, checked) as the raw bytes the core reads. */
static bool convert_typed(rk_grpc_reply *reply, const input_msg *in, rk_serve_dtype dt, int64_t numel, void **out,
                          int64_t *nbytes) {
  const contents_msg *c = in->contents;
  size_t esize = rk_serve_dtype_size(dt);
  int64_t bytes = numel * (int64_t)esize;
  if (dt == RK_SERVE_DT_BYTES) {
    bytes = 0;
    for (size_t i = 0; i < c->n_bytes_contents; i++) bytes += 4 + (int64_t)c->bytes_contents[i].len;
  }
  uint8_t *buf = rk_malloc(bytes > 0 ? (size_t)bytes : 1);
  if (!buf) {
    rk_grpc_reply_error(reply, RK_GRPC_RESOURCE_EXHAUSTED, "input '%s': cannot allocate %" PRId64 " bytes", in->name, bytes);
    return false;
  }
  for (int64_t i = 0; i < numel && dt != RK_SERVE_DT_BYTES; i++) {
    int64_t v = 0;
    uint64_t u = 0;
    switch (dt) {
    case RK_SERVE_DT_BOOL: buf[i] = c->bool_contents[i] ? 1 : 0; continue;
    case RK_SERVE_DT_INT64: memcpy(buf + 8 * i, &c->int64_contents[i], 8); continue;
    case RK_SERVE_DT_UINT64: memcpy(buf + 8 * i, &c->uint64_contents[i], 8); continue;
    case RK_SERVE_DT_FP32: memcpy(buf + 4 * i, &c->fp32_contents[i], 4); continue;
    case RK_SERVE_DT_FP64: memcpy(buf + 8 * i, &c->fp64_contents[i], 8); continue;
    case RK_SERVE_DT_INT8:
    case RK_SERVE_DT_INT16:
    case RK_SERVE_DT_INT32: v = c->int_contents[i]; break;
    case RK_SERVE_DT_UINT8:
    case RK_SERVE_DT_UINT16:
    case RK_SERVE_DT_UINT32: u = c->uint_contents[i]; break;
    default: break;
    }
    if (dt == RK_SERVE_DT_INT8 || dt == RK_SERVE_DT_INT16) {
      int64_t lim = dt == RK_SERVE_DT_INT8 ? INT8_MAX : INT16_MAX;
      if (v > lim || v < -lim - 1) {
        rk_free(buf);
        rk_grpc_reply_error(reply, RK_GRPC_INVALID_ARGUMENT, "input '%s': int_contents[%" PRId64 "] = %" PRId64 " does not fit in %s",
                            in->name, i, v, rk_serve_dtype_name(dt));
        return false;
      }
      if (dt == RK_SERVE_DT_INT8) buf[i] = (uint8_t)(int8_t)v;
      else { int16_t s = (int16_t)v; memcpy(buf + 2 * i, &s, 2); }
    } else if (dt == RK_SERVE_DT_INT32) {
      int32_t s = (int32_t)v;
      memcpy(buf + 4 * i, &s, 4);
    } else if (dt == RK_SERVE_DT_UINT8 || dt == RK_SERVE_DT_UINT16) {
      uint64_t lim = dt == RK_SERVE_DT_UINT8 ? UINT8_MAX : UINT16_MAX;
      if (u > lim) {
        rk_free(buf);
        rk_grpc_reply_error(reply, RK_GRPC_INVALID_ARGUMENT, "input '%s': uint_contents[%" PRId64 "] = %" PRIu64 " does not fit in %s",
                            in->name, i, u, rk_serve_dtype_name(dt));
        return false;
      }
      if (dt == RK_SERVE_DT_UINT8) buf[i] = (uint8_t)u;
      else { uint16_t s = (uint16_t)u; memcpy(buf + 2 * i, &s, 2); }
    } else if (dt == RK_SERVE_DT_UINT32) {
      uint32_t s = (uint32_t)u;
      memcpy(buf + 4 * i, &s, 4);
    }
  }
  if (dt == RK_SERVE_DT_BYTES) {
    size_t at = 0;
    for (size_t i = 0; i < c->n_bytes_contents; i++) {
      uint32_t len = (uint32_t)c->bytes_contents[i].len;
      uint8_t le[4] = {(uint8_t)len, (uint8_t)(len >> 8), (uint8_t)(len >> 16), (uint8_t)(len >> 24)};
      memcpy(buf + at, le, 4);
      if (len) memcpy(buf + at + 4, c->bytes_contents[i].data, len);
      at += 4 + len;
    }
  }
  *out = buf;
  *nbytes = bytes;
  return true;
}

static bool decode_input(rk_grpc_infer_call *call, rk_grpc_reply *reply, int i) {
  const input_msg *in = call->msg->inputs[i];
  rk_serve_input *t = &call->inputs[i];
  t->name = in->name;
  if (!in->name[0]) {
    rk_grpc_reply_error(reply, RK_GRPC_INVALID_ARGUMENT, "inputs[%d] has no name", i);
    return false;
  }
  t->datatype = rk_serve_dtype_parse(in->datatype);
  if (t->datatype == RK_SERVE_DT_INVALID) {
    rk_grpc_reply_error(reply, RK_GRPC_INVALID_ARGUMENT,
                        "input '%s': unknown datatype '%s' (BOOL, INT8..INT64, UINT8..UINT64, FP16, FP32, FP64, BYTES)",
                        in->name, in->datatype);
    return false;
  }
  if (in->n_shape > RK_SERVE_MAX_DIMS) {
    rk_grpc_reply_error(reply, RK_GRPC_INVALID_ARGUMENT, "input '%s': %zu dimensions, at most %d", in->name, in->n_shape,
                        RK_SERVE_MAX_DIMS);
    return false;
  }
  t->ndim = (int)in->n_shape;
  for (size_t d = 0; d < in->n_shape; d++) {
    if (in->shape[d] < 0) {
      rk_grpc_reply_error(reply, RK_GRPC_INVALID_ARGUMENT, "input '%s': shape[%zu] is %" PRId64 ", sizes are >= 0", in->name,
                          d, in->shape[d]);
      return false;
    }
    t->shape[d] = in->shape[d];
  }
  int64_t numel = 0, want = 0;
  if (rk_size_numel(&numel, t->ndim, t->shape, "input shape") != RK_OK) {
    rk_grpc_reply_error(reply, RK_GRPC_INVALID_ARGUMENT, "input '%s': %s", in->name, rk_error_message());
    return false;
  }
  size_t esize = rk_serve_dtype_size(t->datatype);
  if (call->raw) {
    if (in->contents) {
      rk_grpc_reply_error(reply, RK_GRPC_INVALID_ARGUMENT,
                          "input '%s' has contents while the request carries raw_input_contents: use one or the other", in->name);
      return false;
    }
    const ProtobufCBinaryData *raw = &call->msg->raw_input_contents[i];
    t->data = raw->data;
    t->nbytes = (int64_t)raw->len;
    if (t->datatype == RK_SERVE_DT_BYTES) {
      int64_t count = 0;
      if (!count_bytes_elements(raw->data, raw->len, &count) || count != numel) {
        rk_grpc_reply_error(reply, RK_GRPC_INVALID_ARGUMENT,
                            "raw_input_contents[%d] of BYTES input '%s' must hold %" PRId64
                            " elements, each a 4-byte little-endian length and its bytes",
                            i, in->name, numel);
        return false;
      }
    } else if (rk_size_mul(&want, numel, (int64_t)esize, "input bytes") != RK_OK || want != t->nbytes) {
      rk_grpc_reply_error(reply, RK_GRPC_INVALID_ARGUMENT,
                          "raw_input_contents[%d] of input '%s' has %zu bytes; its shape and %s need %" PRId64, i, in->name,
                          raw->len, rk_serve_dtype_name(t->datatype), want);
      return false;
    }
    return true;
  }
  if (!in->contents) {
    rk_grpc_reply_error(reply, RK_GRPC_INVALID_ARGUMENT, "input '%s' has no contents and the request no raw_input_contents",
                        in->name);
    return false;
  }
  if (t->datatype == RK_SERVE_DT_FP16) {
    rk_grpc_reply_error(reply, RK_GRPC_INVALID_ARGUMENT,
                        "input '%s': FP16 has no typed contents field; send it in raw_input_contents", in->name);
    return false;
  }
  const char *field = NULL;
  size_t have = typed_count(in->contents, t->datatype, &field);
  if ((int64_t)have != numel) {
    rk_grpc_reply_error(reply, RK_GRPC_INVALID_ARGUMENT, "input '%s': contents.%s has %zu values; its shape needs %" PRId64,
                        in->name, field, have, numel);
    return false;
  }
  return convert_typed(reply, in, t->datatype, numel, &call->converted[i], &t->nbytes) &&
         (t->data = call->converted[i], true);
}

static bool decode_params(rk_grpc_infer_call *call, rk_grpc_reply *reply) {
  const Inference__ModelInferRequest *m = call->msg;
  for (size_t i = 0; i < m->n_parameters; i++) {
    const Inference__InferParameter *v = m->parameters[i]->value;
    rk_serve_param *p = &call->params[i];
    p->key = m->parameters[i]->key;
    switch (v ? v->parameter_choice_case : INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE__NOT_SET) {
    case INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_BOOL_PARAM: p->kind = RK_SERVE_PARAM_BOOL, p->bool_value = v->bool_param; break;
    case INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_INT64_PARAM: p->kind = RK_SERVE_PARAM_INT, p->int_value = v->int64_param; break;
    case INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_STRING_PARAM: p->kind = RK_SERVE_PARAM_STRING, p->string_value = v->string_param; break;
    case INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_DOUBLE_PARAM: p->kind = RK_SERVE_PARAM_DOUBLE, p->double_value = v->double_param; break;
    case INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_UINT64_PARAM:
      if (v->uint64_param > (uint64_t)INT64_MAX) {
        rk_grpc_reply_error(reply, RK_GRPC_INVALID_ARGUMENT, "parameter '%s' = %" PRIu64 " is out of range", p->key, v->uint64_param);
        return false;
      }
      p->kind = RK_SERVE_PARAM_INT, p->int_value = (int64_t)v->uint64_param;
      break;
    default:
      rk_grpc_reply_error(reply, RK_GRPC_INVALID_ARGUMENT, "parameter '%s' has no value", p->key);
      return false;
    }
  }
  return true;
}

bool rk_grpc_infer_decode(rk_grpc_infer_call *call, rk_grpc_reply *reply, const uint8_t *message, size_t size) {
  memset(call, 0, sizeof *call);
  call->msg = inference__model_infer_request__unpack(&rk_grpc_allocator, size, message);
  if (!call->msg) {
    rk_grpc_reply_error(reply, RK_GRPC_INVALID_ARGUMENT, "cannot decode the ModelInferRequest message (%zu bytes)", size);
    return false;
  }
  Inference__ModelInferRequest *m = call->msg;
  rk_serve_request *r = &call->req;
  if (!m->model_name[0]) {
    rk_grpc_reply_error(reply, RK_GRPC_INVALID_ARGUMENT, "ModelInfer: model_name is empty");
    goto fail;
  }
  r->model = m->model_name;
  r->id = m->id[0] ? m->id : NULL;
  if (!rk_grpc_parse_version(reply, m->model_version, "model_version", &r->version)) goto fail;
  call->raw = m->n_raw_input_contents > 0;
  if (call->raw && m->n_raw_input_contents != m->n_inputs) {
    rk_grpc_reply_error(reply, RK_GRPC_INVALID_ARGUMENT,
                        "raw_input_contents has %zu entries for %zu inputs: one per input, in their order",
                        m->n_raw_input_contents, m->n_inputs);
    goto fail;
  }
  if (m->n_inputs > INT32_MAX || m->n_outputs > INT32_MAX || m->n_parameters > INT32_MAX) {
    rk_grpc_reply_error(reply, RK_GRPC_INVALID_ARGUMENT, "too many inputs, outputs or parameters");
    goto fail;
  }
  size_t nin = m->n_inputs ? m->n_inputs : 1;
  call->inputs = rk_calloc(nin, sizeof *call->inputs);
  call->converted = rk_calloc(nin, sizeof *call->converted);
  call->outputs = rk_calloc(m->n_outputs ? m->n_outputs : 1, sizeof *call->outputs);
  call->params = rk_calloc(m->n_parameters ? m->n_parameters : 1, sizeof *call->params);
  if (!call->inputs || !call->converted || !call->outputs || !call->params) {
    rk_grpc_reply_error(reply, RK_GRPC_RESOURCE_EXHAUSTED, "ModelInfer: out of memory for %zu inputs", m->n_inputs);
    goto fail;
  }
  r->n_inputs = (int)m->n_inputs;
  for (int i = 0; i < r->n_inputs; i++)
    if (!decode_input(call, reply, i)) goto fail;
  for (size_t i = 0; i < m->n_outputs; i++) {
    call->outputs[i] = m->outputs[i]->name;
    if (!call->outputs[i][0]) {
      rk_grpc_reply_error(reply, RK_GRPC_INVALID_ARGUMENT, "outputs[%zu] has no name", i);
      goto fail;
    }
  }
  r->n_outputs = (int)m->n_outputs;
  r->outputs = r->n_outputs ? call->outputs : NULL;
  r->n_params = (int)m->n_parameters;
  r->params = r->n_params ? call->params : NULL;
  if (!decode_params(call, reply)) goto fail;
  r->inputs = call->inputs;
  return true;
fail:
  rk_grpc_infer_call_free(call);
  return false;
}

/* ---- the response ------------------------------------------------------------------------------ */
typedef Inference__ModelInferResponse__InferOutputTensor output_msg;

/* Fill `c` (typed) from raw output bytes; the arrays point into `scratch`, one rk_malloc. */
static bool typed_contents(contents_msg *c, const rk_serve_output *o, int64_t numel, void **scratch) {
  const uint8_t *p = o->data;
  size_t esize = rk_serve_dtype_size(o->datatype);
  if (o->datatype != RK_SERVE_DT_BYTES && (o->nbytes < 0 || (uint64_t)o->nbytes != (uint64_t)numel * esize)) return false;
  if (numel == 0) return true;   /* every field empty; the data may be NULL */
  size_t each = sizeof(int64_t);
  if (o->datatype == RK_SERVE_DT_BYTES) each = sizeof(ProtobufCBinaryData);
  void *buf = rk_malloc(numel > 0 ? (size_t)numel * each : 1);
  if (!buf) return false;
  *scratch = buf;
  size_t n = (size_t)numel;
  switch (o->datatype) {
  case RK_SERVE_DT_BOOL: {
    protobuf_c_boolean *v = buf;
    for (size_t i = 0; i < n; i++) v[i] = p[i] != 0;
    c->bool_contents = v, c->n_bool_contents = n;
    break;
  }
  case RK_SERVE_DT_INT8:
  case RK_SERVE_DT_INT16:
  case RK_SERVE_DT_INT32: {
    int32_t *v = buf;
    for (size_t i = 0; i < n; i++) {
      if (o->datatype == RK_SERVE_DT_INT8) v[i] = (int8_t)p[i];
      else if (o->datatype == RK_SERVE_DT_INT16) { int16_t s; memcpy(&s, p + 2 * i, 2); v[i] = s; }
      else memcpy(&v[i], p + 4 * i, 4);
    }
    c->int_contents = v, c->n_int_contents = n;
    break;
  }
  case RK_SERVE_DT_UINT8:
  case RK_SERVE_DT_UINT16:
  case RK_SERVE_DT_UINT32: {
    uint32_t *v = buf;
    for (size_t i = 0; i < n; i++) {
      if (o->datatype == RK_SERVE_DT_UINT8) v[i] = p[i];
      else if (o->datatype == RK_SERVE_DT_UINT16) { uint16_t s; memcpy(&s, p + 2 * i, 2); v[i] = s; }
      else memcpy(&v[i], p + 4 * i, 4);
    }
    c->uint_contents = v, c->n_uint_contents = n;
    break;
  }
  case RK_SERVE_DT_INT64: memcpy(buf, p, 8 * n), c->int64_contents = buf, c->n_int64_contents = n; break;
  case RK_SERVE_DT_UINT64: memcpy(buf, p, 8 * n), c->uint64_contents = buf, c->n_uint64_contents = n; break;
  case RK_SERVE_DT_FP32: memcpy(buf, p, 4 * n), c->fp32_contents = buf, c->n_fp32_contents = n; break;
  case RK_SERVE_DT_FP64: memcpy(buf, p, 8 * n), c->fp64_contents = buf, c->n_fp64_contents = n; break;
  case RK_SERVE_DT_BYTES: {
    ProtobufCBinaryData *v = buf;
    size_t at = 0, len = (size_t)o->nbytes;
    for (size_t i = 0; i < n; i++) {
      if (len - at < 4) return false;
      uint32_t l = (uint32_t)p[at] | (uint32_t)p[at + 1] << 8 | (uint32_t)p[at + 2] << 16 | (uint32_t)p[at + 3] << 24;
      at += 4;
      if (l > len - at) return false;
      v[i].len = l, v[i].data = (uint8_t *)p + at;
      at += l;
    }
    c->bytes_contents = v, c->n_bytes_contents = n;
    break;
  }
  default: return false;
  }
  return true;
}

void rk_grpc_infer_encode(rk_grpc_reply *reply, const rk_serve_response *resp, bool raw) {
  int n = resp->n_outputs;
  for (int i = 0; i < n; i++)
    if (resp->outputs[i].datatype == RK_SERVE_DT_FP16) raw = true;
  Inference__ModelInferResponse m = INFERENCE__MODEL_INFER_RESPONSE__INIT;
  char version[24];
  snprintf(version, sizeof version, "%" PRId64, resp->model_version);
  m.model_name = resp->model_name;
  m.model_version = version;
  m.id = resp->id ? resp->id : "";
  size_t cnt = n > 0 ? (size_t)n : 1;
  output_msg *outs = rk_calloc(cnt, sizeof *outs);
  output_msg **outp = rk_calloc(cnt, sizeof *outp);
  contents_msg *contents = rk_calloc(cnt, sizeof *contents);
  ProtobufCBinaryData *raws = rk_calloc(cnt, sizeof *raws);
  void **scratch = rk_calloc(cnt, sizeof *scratch);
  if (!outs || !outp || !contents || !raws || !scratch) {
    rk_grpc_reply_error(reply, RK_GRPC_RESOURCE_EXHAUSTED, "ModelInfer: out of memory for the response");
    goto done;
  }
  for (int i = 0; i < n; i++) {
    const rk_serve_output *o = &resp->outputs[i];
    output_msg init = INFERENCE__MODEL_INFER_RESPONSE__INFER_OUTPUT_TENSOR__INIT;
    outs[i] = init;
    outs[i].name = o->name;
    outs[i].datatype = (char *)rk_serve_dtype_name(o->datatype);
    outs[i].n_shape = (size_t)o->ndim;
    outs[i].shape = (int64_t *)o->shape;
    outp[i] = &outs[i];
    if (raw) {
      raws[i].data = o->data;
      raws[i].len = (size_t)o->nbytes;
      continue;
    }
    contents_msg cinit = INFERENCE__INFER_TENSOR_CONTENTS__INIT;
    contents[i] = cinit;
    int64_t numel = 0;
    if (rk_size_numel(&numel, o->ndim, o->shape, "output shape") != RK_OK ||
        !typed_contents(&contents[i], o, numel, &scratch[i])) {
      rk_grpc_reply_error(reply, RK_GRPC_INTERNAL, "ModelInfer: output '%s' of %" PRId64 " bytes does not match its shape",
                          o->name, o->nbytes);
      goto done;
    }
    outs[i].contents = &contents[i];
  }
  m.n_outputs = (size_t)n;
  m.outputs = outp;
  if (raw) m.n_raw_output_contents = (size_t)n, m.raw_output_contents = raws;
  rk_grpc_reply_message(reply, &m.base);
done:
  for (int i = 0; scratch && i < n; i++) rk_free(scratch[i]);
  rk_free(scratch);
  rk_free(raws);
  rk_free(contents);
  rk_free(outp);
  rk_free(outs);
}
