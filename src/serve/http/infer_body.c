/*
 * KServe v2 infer bodies over HTTP (infer_body.h): the request's JSON and binary parts checked
 * field by field, and the response written as JSON or JSON plus a binary tail.
 */
#include "serve/http/infer_body.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static rk_status bad(const char *fmt, const char *a) { return rk_error(RK_EINVAL, fmt, a); }

rk_status rk_http_parse_json_length(const char *text, size_t body_size, int64_t *out) {
  char *end = NULL;
  errno = 0;
  long long v = text && *text >= '0' && *text <= '9' ? strtoll(text, &end, 10) : -1;
  if (v < 0 || errno || !end || *end || (unsigned long long)v > body_size)
    return rk_error(RK_EINVAL,
                    "header Inference-Header-Content-Length is '%.40s': expected the JSON part's byte count, "
                    "at most the body's %zu bytes", text ? text : "", body_size);
  *out = v;
  return RK_OK;
}

/* parameters.<key> as a boolean (absent: false) or integer (absent: -1). */
static bool param_bool(const json_t *obj, const char *key) {
  return json_is_true(json_object_get(json_object_get(obj, "parameters"), key));
}

static rk_status parse_shape(rk_http_tensor *t, const json_t *shape) {
  if (!json_is_array(shape)) return bad("input '%s': 'shape' must be an array of sizes", t->name);
  if (json_array_size(shape) > RK_SERVE_MAX_DIMS)
    return rk_error(RK_EINVAL, "input '%s': shape has %zu dimensions, at most %d are supported", t->name,
                    json_array_size(shape), RK_SERVE_MAX_DIMS);
  t->ndim = (int)json_array_size(shape);
  for (int d = 0; d < t->ndim; d++) {
    const json_t *v = json_array_get(shape, (size_t)d);
    if (!json_is_integer(v)) return bad("input '%s': shape sizes must be integers", t->name);
    t->shape[d] = json_integer_value(v);
  }
  return RK_OK;
}

static rk_status parse_inputs(rk_http_infer_request *req, const json_t *inputs, const uint8_t *binary,
                              size_t binary_size, int64_t max_elements) {
  if (!json_is_array(inputs) || json_array_size(inputs) == 0)
    return rk_error(RK_EINVAL, "infer request: 'inputs' must be a non-empty array");
  size_t n = json_array_size(inputs);
  req->inputs = rk_calloc(n, sizeof *req->inputs);
  req->decoded = rk_calloc(n, sizeof *req->decoded);
  if (!req->inputs || !req->decoded) return RK_ENOMEM;
  size_t at = 0;   /* binary inputs take the tail in order */
  for (size_t i = 0; i < n; i++) {
    const json_t *in = json_array_get(inputs, i);
    rk_http_tensor *t = &req->inputs[i];
    req->ninputs = (int)i + 1;
    if (!json_is_object(in)) return rk_error(RK_EINVAL, "infer request: inputs[%zu] must be an object", i);
    t->name = json_string_value(json_object_get(in, "name"));
    if (!t->name || !*t->name) return rk_error(RK_EINVAL, "infer request: inputs[%zu] has no 'name'", i);
    for (size_t j = 0; j < i; j++)
      if (strcmp(req->inputs[j].name, t->name) == 0) return bad("infer request: input '%s' is given twice", t->name);
    const char *dt = json_string_value(json_object_get(in, "datatype"));
    if (!rk_kserve_dtype_parse(dt, &t->datatype))
      return rk_error(RK_EINVAL,
                      "input '%s': datatype '%s' is not one of BOOL, UINT8..UINT64, INT8..INT64, FP16, FP32, "
                      "FP64, BYTES", t->name, dt ? dt : "(missing)");
    RK_TRY(parse_shape(t, json_object_get(in, "shape")));
    RK_TRY(rk_kserve_numel(&t->numel, t->ndim, t->shape, max_elements, t->name));
    const json_t *bsize = json_object_get(json_object_get(in, "parameters"), "binary_data_size");
    const json_t *data = json_object_get(in, "data");
    if (bsize) {
      if (data) return bad("input '%s': has both 'data' and parameters.binary_data_size", t->name);
      if (!json_is_integer(bsize) || json_integer_value(bsize) < 0)
        return bad("input '%s': parameters.binary_data_size must be an integer >= 0", t->name);
      uint64_t len = (uint64_t)json_integer_value(bsize);
      if (len > binary_size - at)
        return rk_error(RK_EINVAL, "input '%s': binary_data_size %llu runs past the body's binary part (%zu bytes left)",
                        t->name, (unsigned long long)len, binary_size - at);
      t->data = binary + at, t->size = (size_t)len;
      at += (size_t)len;
      RK_TRY(rk_kserve_binary_check(t->data, t->size, t->datatype, t->numel, t->name));
    } else {
      if (!data) return bad("input '%s': no 'data' and no parameters.binary_data_size", t->name);
      RK_TRY(rk_kserve_json_to_binary(&req->decoded[i], &t->size, data, t->datatype, t->ndim, t->numel, t->name));
      t->data = req->decoded[i];
    }
  }
  if (at != binary_size)
    return rk_error(RK_EINVAL, "infer request: %zu bytes of binary data that no input's binary_data_size claims",
                    binary_size - at);
  return RK_OK;
}

static rk_status parse_outputs(rk_http_infer_request *req, const json_t *outputs) {
  if (!outputs) return RK_OK;
  if (!json_is_array(outputs)) return rk_error(RK_EINVAL, "infer request: 'outputs' must be an array");
  size_t n = json_array_size(outputs);
  if (n == 0) return RK_OK;
  req->outputs = rk_calloc(n, sizeof *req->outputs);
  if (!req->outputs) return RK_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    const json_t *out = json_array_get(outputs, i);
    const char *name = json_is_object(out) ? json_string_value(json_object_get(out, "name")) : NULL;
    if (!name || !*name) return rk_error(RK_EINVAL, "infer request: outputs[%zu] has no 'name'", i);
    req->outputs[i].name = name;
    req->outputs[i].binary = param_bool(out, "binary_data");
    req->noutputs = (int)i + 1;
  }
  return RK_OK;
}

rk_status rk_http_infer_parse(rk_http_infer_request *req, const uint8_t *body, size_t size, int64_t json_size,
                              int64_t max_elements) {
  memset(req, 0, sizeof *req);
  req->id = "";
  size_t jlen = json_size < 0 ? size : (size_t)json_size;
  if (jlen > size) return rk_error(RK_EINVAL, "Inference-Header-Content-Length is past the body's end");
  json_error_t err;
  req->root = json_loadb((const char *)body, jlen, JSON_REJECT_DUPLICATES, &err);
  if (!req->root)
    return rk_error(RK_EPARSE, "infer request: malformed JSON at byte %d: %s", err.position, err.text);
  if (!json_is_object(req->root)) return rk_error(RK_EINVAL, "infer request: the body must be a JSON object");
  const json_t *id = json_object_get(req->root, "id");
  if (id && !json_is_string(id)) return rk_error(RK_EINVAL, "infer request: 'id' must be a string");
  if (id) req->id = json_string_value(id);
  const json_t *params = json_object_get(req->root, "parameters");
  if (params && !json_is_object(params)) return rk_error(RK_EINVAL, "infer request: 'parameters' must be an object");
  req->binary_output = param_bool(req->root, "binary_data_output");
  RK_TRY(parse_inputs(req, json_object_get(req->root, "inputs"), body + jlen, size - jlen, max_elements));
  return parse_outputs(req, json_object_get(req->root, "outputs"));
}

void rk_http_infer_request_free(rk_http_infer_request *req) {
  for (int i = 0; req->decoded && i < req->ninputs; i++) rk_free(req->decoded[i]);
  rk_free(req->decoded);
  rk_free(req->inputs);
  rk_free(req->outputs);
  json_decref(req->root);
  memset(req, 0, sizeof *req);
}

bool rk_http_output_wants_binary(const rk_http_infer_request *req, const char *name) {
  for (int i = 0; i < req->noutputs; i++)
    if (strcmp(req->outputs[i].name, name) == 0) return req->outputs[i].binary || req->binary_output;
  return req->binary_output;
}

/* ---- the response ---------------------------------------------------------------------------- */

rk_status rk_http_infer_response_begin(rk_http_infer_response *res, const char *model, const char *version,
                                       const char *id) {
  memset(res, 0, sizeof *res);
  res->root = json_pack("{s:s, s:s, s:[]}", "model_name", model, "model_version", version, "outputs");
  if (!res->root) return rk_error(RK_ENOMEM, "out of memory building an infer response");
  if (id && *id && json_object_set_new(res->root, "id", json_string(id)) != 0) return RK_ENOMEM;
  return RK_OK;
}

rk_status rk_http_infer_response_add(rk_http_infer_response *res, const char *name, rk_serve_dtype dt, int ndim,
                                     const int64_t *shape, const uint8_t *data, size_t size, bool binary) {
  json_t *out = json_pack("{s:s, s:s, s:[]}", "name", name, "datatype", rk_kserve_dtype_name(dt), "shape");
  if (!out) return RK_ENOMEM;
  int64_t numel = 1;
  for (int d = 0; d < ndim; d++) {
    json_array_append_new(json_object_get(out, "shape"), json_integer(shape[d]));
    numel *= shape[d];
  }
  if (binary) {
    if (size > res->binary_cap - res->binary_size) {
      size_t cap = res->binary_cap ? res->binary_cap : 256;
      while (cap - res->binary_size < size) cap *= 2;
      uint8_t *p = rk_realloc(res->binary, cap);
      if (!p) {
        json_decref(out);
        return RK_ENOMEM;
      }
      res->binary = p, res->binary_cap = cap;
    }
    if (size) memcpy(res->binary + res->binary_size, data, size);
    res->binary_size += size;
    json_object_set_new(out, "parameters", json_pack("{s:I}", "binary_data_size", (json_int_t)size));
  } else {
    json_t *arr = rk_kserve_binary_to_json(data, size, dt, numel);
    if (!arr) {
      json_decref(out);
      return RK_ENOMEM;
    }
    json_object_set_new(out, "data", arr);
  }
  if (json_array_append_new(json_object_get(res->root, "outputs"), out) != 0) return RK_ENOMEM;
  return RK_OK;
}

/* json_dump_callback's sink: the body grows in place (the binary tail is appended after). */
typedef struct {
  char *buf;
  size_t size, cap;
} dump_sink;

static int dump_append(const char *text, size_t n, void *arg) {
  dump_sink *d = arg;
  if (n == 0) return 0;
  if (n > d->cap - d->size) {
    size_t cap = d->cap ? d->cap : 256;
    while (cap - d->size < n) {
      if (cap > SIZE_MAX / 2) return -1;
      cap *= 2;
    }
    char *p = rk_realloc(d->buf, cap);
    if (!p) return -1;
    d->buf = p, d->cap = cap;
  }
  memcpy(d->buf + d->size, text, n);
  d->size += n;
  return 0;
}

rk_status rk_http_infer_response_finish(rk_http_infer_response *res, char **body, size_t *size, size_t *json_size) {
  dump_sink d = {0};
  if (json_dump_callback(res->root, dump_append, &d, JSON_COMPACT | JSON_REAL_PRECISION(17)) != 0 ||
      dump_append((const char *)res->binary, res->binary_size, &d) != 0 || dump_append("", 1, &d) != 0) {
    rk_free(d.buf);
    return rk_error(RK_ENOMEM, "out of memory writing an infer response");
  }
  size_t jlen = d.size - 1 - res->binary_size;   /* less the tail and the NUL */
  *body = d.buf, *size = d.size - 1, *json_size = jlen;
  return RK_OK;
}

void rk_http_infer_response_free(rk_http_infer_response *res) {
  json_decref(res->root);
  rk_free(res->binary);
  memset(res, 0, sizeof *res);
}
