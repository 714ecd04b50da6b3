/*
 * KServe v2 infer bodies over HTTP (infer_body.h): the request's JSON and binary parts checked
 * field by field, and the response written as JSON or JSON plus a binary tail.
 * The JSON is walked as text in one pass (json_text.h): each input's `data` decodes straight
 * into its typed buffer when its name, datatype and shape came first (the usual order; otherwise
 * the array is checked, skipped and decoded at the input's end), and keys this server does not
 * read are checked and skipped. Known keys given twice in one object are refused.
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

/* ---- the request ----------------------------------------------------------------------------- */

static const char doc[] = "infer request";

/* The walk over one request: the cursor and where the next unescaped string goes. Every string
 * unescapes to no more than its quoted source, so the block the JSON part's size always has room. */
typedef struct {
  rk_json_cursor c;
  rk_http_infer_request *req;
  size_t used;
  const uint8_t *binary;
  size_t binary_size, binary_at;   /* binary inputs take the tail in order */
  int64_t max_elements;
  size_t inputs_cap, outputs_cap;
} request_walk;

/* A string value kept in the request. */
static rk_status keep_string(request_walk *w, const char **out) {
  char *dst = w->req->strings + w->used;
  size_t len;
  RK_TRY(rk_json_string(&w->c, dst, &len, doc));
  w->used += len + 1;
  *out = dst;
  return RK_OK;
}

/* The next key of an object (after its '{' or a ','), read into scratch space past the kept
 * strings; *index is its position in `known` (a NULL-terminated list) or -1. A known key given
 * twice is refused (bit i of *seen). */
static rk_status next_key(request_walk *w, const char *const *known, unsigned *seen, int *index) {
  char *key = w->req->strings + w->used;
  RK_TRY(rk_json_string(&w->c, key, NULL, doc));
  if (!rk_json_take(&w->c, ':')) return rk_json_malformed(&w->c, doc, "expected ':' after a key");
  *index = -1;
  for (int i = 0; known[i]; i++)
    if (strcmp(key, known[i]) == 0) {
      if (*seen & (1u << i)) return rk_error(RK_EINVAL, "%s: key '%s' is given twice in one object", doc, key);
      *seen |= 1u << i, *index = i;
    }
  return RK_OK;
}

/* An object whose keys other than `known` are skipped, each known value handed to on_key. */
typedef rk_status (*key_handler)(request_walk *w, int index, void *arg);
static rk_status walk_object(request_walk *w, const char *const *known, key_handler on_key, void *arg, int depth) {
  if (!rk_json_take(&w->c, '{')) return rk_json_malformed(&w->c, doc, "expected an object");
  if (rk_json_take(&w->c, '}')) return RK_OK;
  unsigned seen = 0;
  do {
    int index = -1;
    RK_TRY(next_key(w, known, &seen, &index));
    if (index < 0) RK_TRY(rk_json_skip(&w->c, depth + 1, doc));
    else RK_TRY(on_key(w, index, arg));
  } while (rk_json_take(&w->c, ','));
  if (!rk_json_take(&w->c, '}')) return rk_json_malformed(&w->c, doc, "expected ',' or '}'");
  return RK_OK;
}

/* A value that is checked and skipped unless it is `true`. */
static rk_status read_true(request_walk *w, int depth, bool *out) {
  *out = rk_json_peek(&w->c) == 't';
  return rk_json_skip(&w->c, depth, doc);
}

/* ---- one input ---- */

typedef enum { SHAPE_MISSING, SHAPE_OK, SHAPE_NOT_ARRAY, SHAPE_NOT_INTEGERS, SHAPE_TOO_DEEP } shape_state;

typedef struct {
  rk_http_tensor *t;
  const char *datatype;     /* as given, NULL when absent or not a string */
  shape_state shape;
  int shape_dims;           /* as given, for the message when too many */
  bool has_bsize, bsize_ok, has_data, data_done, checked;
  int64_t bsize;
  rk_json_cursor data_at;   /* where 'data' starts, when it came before what decodes it */
  uint8_t **decoded;
} input_walk;

static rk_status read_shape(request_walk *w, input_walk *in) {
  rk_http_tensor *t = in->t;
  in->shape = SHAPE_OK, t->ndim = 0;
  if (rk_json_peek(&w->c) != '[') {
    in->shape = SHAPE_NOT_ARRAY;
    return rk_json_skip(&w->c, 3, doc);
  }
  w->c.p++;
  if (rk_json_take(&w->c, ']')) return RK_OK;
  int dims = 0;
  do {
    char ch = rk_json_peek(&w->c);
    if (ch != '-' && (ch < '0' || ch > '9')) {
      RK_TRY(rk_json_skip(&w->c, 4, doc));
      in->shape = SHAPE_NOT_INTEGERS;
    } else {
      rk_json_number v;
      RK_TRY(rk_json_number_read(&w->c, &v, doc));
      if (!v.integral || v.overflow || v.magnitude > (uint64_t)INT64_MAX) in->shape = SHAPE_NOT_INTEGERS;
      else if (dims < RK_SERVE_MAX_DIMS) t->shape[dims] = v.negative ? -(int64_t)v.magnitude : (int64_t)v.magnitude;
    }
    dims++;
  } while (rk_json_take(&w->c, ','));
  if (!rk_json_take(&w->c, ']')) return rk_json_malformed(&w->c, doc, "expected ',' or ']' in 'shape'");
  in->shape_dims = dims;
  if (in->shape == SHAPE_OK && dims > RK_SERVE_MAX_DIMS) in->shape = SHAPE_TOO_DEEP;
  if (in->shape == SHAPE_OK) t->ndim = dims;
  return RK_OK;
}

static const char *const input_params_keys[] = {"binary_data_size", NULL};

static rk_status on_input_param(request_walk *w, int index, void *arg) {
  (void)index;   /* only binary_data_size */
  input_walk *in = arg;
  in->has_bsize = true;
  char ch = rk_json_peek(&w->c);
  if (ch < '0' || ch > '9') return rk_json_skip(&w->c, 3, doc);
  rk_json_number v;
  RK_TRY(rk_json_number_read(&w->c, &v, doc));
  in->bsize_ok = v.integral && !v.overflow && v.magnitude <= (uint64_t)INT64_MAX;
  in->bsize = (int64_t)v.magnitude;
  return RK_OK;
}

/* Everything about an input but its data, checked once its name, datatype and shape are known
 * (at 'data' when they came first, else at the object's end), in the order the messages read. */
static rk_status check_input(request_walk *w, input_walk *in, size_t i) {
  rk_http_tensor *t = in->t;
  in->checked = true;
  if (!t->name || !*t->name) return rk_error(RK_EINVAL, "infer request: inputs[%zu] has no 'name'", i);
  for (size_t j = 0; j < i; j++)
    if (strcmp(w->req->inputs[j].name, t->name) == 0) return bad("infer request: input '%s' is given twice", t->name);
  if (!in->datatype || !rk_kserve_dtype_parse(in->datatype, &t->datatype))
    return rk_error(RK_EINVAL,
                    "input '%s': datatype '%s' is not one of BOOL, UINT8..UINT64, INT8..INT64, FP16, FP32, "
                    "FP64, BYTES", t->name, in->datatype ? in->datatype : "(missing)");
  if (in->shape == SHAPE_MISSING || in->shape == SHAPE_NOT_ARRAY)
    return bad("input '%s': 'shape' must be an array of sizes", t->name);
  if (in->shape == SHAPE_NOT_INTEGERS) return bad("input '%s': shape sizes must be integers", t->name);
  if (in->shape == SHAPE_TOO_DEEP)
    return rk_error(RK_EINVAL, "input '%s': shape has %d dimensions, at most %d are supported", t->name,
                    in->shape_dims, RK_SERVE_MAX_DIMS);
  return rk_kserve_numel(&t->numel, t->ndim, t->shape, w->max_elements, t->name);
}

static rk_status decode_data(input_walk *in, rk_json_cursor *c) {
  in->data_done = true;
  rk_http_tensor *t = in->t;
  RK_TRY(rk_kserve_json_decode(in->decoded, &t->size, c, t->datatype, t->ndim, t->numel, t->name));
  t->data = *in->decoded;
  return RK_OK;
}

static const char *const input_keys[] = {"name", "datatype", "shape", "parameters", "data", NULL};

static rk_status on_input_key(request_walk *w, int index, void *arg) {
  input_walk *in = arg;
  switch (index) {
    case 0:
      if (rk_json_peek(&w->c) != '"') return rk_json_skip(&w->c, 3, doc);
      return keep_string(w, &in->t->name);
    case 1:
      if (rk_json_peek(&w->c) != '"') return rk_json_skip(&w->c, 3, doc);
      return keep_string(w, &in->datatype);
    case 2: return read_shape(w, in);
    case 3:
      if (rk_json_peek(&w->c) != '{') {
        in->has_bsize = true;   /* reported as a bad binary_data_size: parameters must say it */
        return rk_json_skip(&w->c, 3, doc);
      }
      return walk_object(w, input_params_keys, on_input_param, in, 3);
    default:
      in->has_data = true;
      in->data_at = w->c;
      if (in->t->name && in->datatype && in->shape != SHAPE_MISSING) {   /* decode in place */
        RK_TRY(check_input(w, in, (size_t)(in->t - w->req->inputs)));
        return decode_data(in, &w->c);
      }
      return rk_json_skip(&w->c, 3, doc);
  }
}

static rk_status read_input(request_walk *w, size_t i) {
  rk_http_infer_request *req = w->req;
  rk_http_tensor *t = &req->inputs[i];
  input_walk in = {.t = t, .decoded = &req->decoded[i]};
  if (rk_json_peek(&w->c) != '{') {
    RK_TRY(rk_json_skip(&w->c, 2, doc));
    return rk_error(RK_EINVAL, "infer request: inputs[%zu] must be an object", i);
  }
  RK_TRY(walk_object(w, input_keys, on_input_key, &in, 2));
  if (!in.checked) RK_TRY(check_input(w, &in, i));
  if (in.has_bsize) {
    if (in.has_data) return bad("input '%s': has both 'data' and parameters.binary_data_size", t->name);
    if (!in.bsize_ok) return bad("input '%s': parameters.binary_data_size must be an integer >= 0", t->name);
    uint64_t len = (uint64_t)in.bsize;
    if (len > w->binary_size - w->binary_at)
      return rk_error(RK_EINVAL, "input '%s': binary_data_size %llu runs past the body's binary part (%zu bytes left)",
                      t->name, (unsigned long long)len, w->binary_size - w->binary_at);
    t->data = w->binary + w->binary_at, t->size = (size_t)len;
    w->binary_at += (size_t)len;
    return rk_kserve_binary_check(t->data, t->size, t->datatype, t->numel, t->name);
  }
  if (!in.has_data) return bad("input '%s': no 'data' and no parameters.binary_data_size", t->name);
  if (in.data_done) return RK_OK;
  return decode_data(&in, &in.data_at);
}

/* Room for item i of an array whose length is known only at its end (zeroed, doubling). */
static rk_status grow(void **items, size_t *cap, size_t i, size_t item_size) {
  if (i < *cap) return RK_OK;
  size_t more = *cap ? *cap * 2 : 4;
  void *p = rk_realloc(*items, more * item_size);
  if (!p) return RK_ENOMEM;
  memset((char *)p + *cap * item_size, 0, (more - *cap) * item_size);
  *items = p, *cap = more;
  return RK_OK;
}

/* An array's items one by one (the cursor at its '['); *n: how many. */
typedef rk_status (*item_handler)(request_walk *w, size_t i);
static rk_status walk_array(request_walk *w, item_handler on_item, size_t *n) {
  w->c.p++;
  *n = 0;
  if (rk_json_take(&w->c, ']')) return RK_OK;
  do {
    RK_TRY(on_item(w, (*n)++));
  } while (rk_json_take(&w->c, ','));
  if (!rk_json_take(&w->c, ']')) return rk_json_malformed(&w->c, doc, "expected ',' or ']'");
  return RK_OK;
}

static rk_status input_item(request_walk *w, size_t i) {
  rk_http_infer_request *req = w->req;
  size_t cap = w->inputs_cap;
  RK_TRY(grow((void **)&req->decoded, &cap, i, sizeof *req->decoded));
  RK_TRY(grow((void **)&req->inputs, &w->inputs_cap, i, sizeof *req->inputs));
  req->ninputs = (int)i + 1;
  return read_input(w, i);
}

static rk_status read_inputs(request_walk *w) {
  size_t n = 0;
  if (rk_json_peek(&w->c) == '[') RK_TRY(walk_array(w, input_item, &n));
  else RK_TRY(rk_json_skip(&w->c, 1, doc));
  if (n == 0) return rk_error(RK_EINVAL, "infer request: 'inputs' must be a non-empty array");
  return RK_OK;
}

/* ---- outputs ---- */

static const char *const output_keys[] = {"name", "parameters", NULL};
static const char *const output_params_keys[] = {"binary_data", NULL};

static rk_status on_output_param(request_walk *w, int index, void *arg) {
  (void)index;
  return read_true(w, 4, &((rk_http_requested_output *)arg)->binary);
}

static rk_status on_output_key(request_walk *w, int index, void *arg) {
  rk_http_requested_output *out = arg;
  if (index == 0) {
    if (rk_json_peek(&w->c) != '"') return rk_json_skip(&w->c, 3, doc);
    return keep_string(w, &out->name);
  }
  if (rk_json_peek(&w->c) != '{') return rk_json_skip(&w->c, 3, doc);
  return walk_object(w, output_params_keys, on_output_param, out, 3);
}

static rk_status output_item(request_walk *w, size_t i) {
  rk_http_infer_request *req = w->req;
  RK_TRY(grow((void **)&req->outputs, &w->outputs_cap, i, sizeof *req->outputs));
  rk_http_requested_output *out = &req->outputs[i];
  req->noutputs = (int)i + 1;
  if (rk_json_peek(&w->c) == '{') RK_TRY(walk_object(w, output_keys, on_output_key, out, 2));
  else RK_TRY(rk_json_skip(&w->c, 2, doc));
  if (!out->name || !*out->name) return rk_error(RK_EINVAL, "infer request: outputs[%zu] has no 'name'", i);
  return RK_OK;
}

static rk_status read_outputs(request_walk *w) {
  size_t n;
  if (rk_json_peek(&w->c) == '[') return walk_array(w, output_item, &n);
  RK_TRY(rk_json_skip(&w->c, 1, doc));
  return rk_error(RK_EINVAL, "infer request: 'outputs' must be an array");
}

/* ---- the top level ---- */

static const char *const top_keys[] = {"id", "parameters", "inputs", "outputs", NULL};
static const char *const top_params_keys[] = {"binary_data_output", NULL};

static rk_status on_top_param(request_walk *w, int index, void *arg) {
  (void)index, (void)arg;
  return read_true(w, 2, &w->req->binary_output);
}

static rk_status on_top_key(request_walk *w, int index, void *arg) {
  (void)arg;
  switch (index) {
    case 0:
      if (rk_json_peek(&w->c) != '"') {
        RK_TRY(rk_json_skip(&w->c, 1, doc));
        return rk_error(RK_EINVAL, "infer request: 'id' must be a string");
      }
      return keep_string(w, &w->req->id);
    case 1:
      if (rk_json_peek(&w->c) != '{') {
        RK_TRY(rk_json_skip(&w->c, 1, doc));
        return rk_error(RK_EINVAL, "infer request: 'parameters' must be an object");
      }
      return walk_object(w, top_params_keys, on_top_param, NULL, 1);
    case 2: return read_inputs(w);
    default: return read_outputs(w);
  }
}

rk_status rk_http_infer_parse(rk_http_infer_request *req, const uint8_t *body, size_t size, int64_t json_size,
                              int64_t max_elements) {
  memset(req, 0, sizeof *req);
  req->id = "";
  size_t jlen = json_size < 0 ? size : (size_t)json_size;
  if (jlen > size) return rk_error(RK_EINVAL, "Inference-Header-Content-Length is past the body's end");
  req->strings = rk_malloc(jlen + 1);
  if (!req->strings) return RK_ENOMEM;
  const char *text = (const char *)body;
  request_walk w = {.c = {text, text, text + jlen}, .req = req, .binary = body + jlen, .binary_size = size - jlen,
                    .max_elements = max_elements};
  if (rk_json_peek(&w.c) != '{') {
    RK_TRY(rk_json_skip(&w.c, 0, doc));
    if (rk_json_peek(&w.c)) return rk_json_malformed(&w.c, doc, "text after the JSON value");
    return rk_error(RK_EINVAL, "infer request: the body must be a JSON object");
  }
  RK_TRY(walk_object(&w, top_keys, on_top_key, NULL, 0));
  if (rk_json_peek(&w.c)) return rk_json_malformed(&w.c, doc, "text after the JSON object");
  if (!req->inputs) return rk_error(RK_EINVAL, "infer request: 'inputs' must be a non-empty array");
  if (w.binary_at != w.binary_size)
    return rk_error(RK_EINVAL, "infer request: %zu bytes of binary data that no input's binary_data_size claims",
                    w.binary_size - w.binary_at);
  return RK_OK;
}

void rk_http_infer_request_free(rk_http_infer_request *req) {
  for (int i = 0; req->decoded && i < req->ninputs; i++) rk_free(req->decoded[i]);
  rk_free(req->decoded);
  rk_free(req->inputs);
  rk_free(req->outputs);
  rk_free(req->strings);
  memset(req, 0, sizeof *req);
}

bool rk_http_output_wants_binary(const rk_http_infer_request *req, const char *name) {
  for (int i = 0; i < req->noutputs; i++)
    if (strcmp(req->outputs[i].name, name) == 0) return req->outputs[i].binary || req->binary_output;
  return req->binary_output;
}

/* ---- the response ---------------------------------------------------------------------------- */

static rk_status written(const rk_json_writer *w) {
  return w->failed ? rk_error(RK_ENOMEM, "out of memory writing an infer response") : RK_OK;
}

rk_status rk_http_infer_response_begin(rk_http_infer_response *res, const char *model, const char *version,
                                       const char *id) {
  memset(res, 0, sizeof *res);
  rk_json_writer *w = &res->json;
  rk_json_put_str(w, "{\"model_name\":");
  rk_json_put_quoted(w, model, strlen(model));
  rk_json_put_str(w, ",\"model_version\":");
  rk_json_put_quoted(w, version, strlen(version));
  if (id && *id) {
    rk_json_put_str(w, ",\"id\":");
    rk_json_put_quoted(w, id, strlen(id));
  }
  rk_json_put_str(w, ",\"outputs\":[");
  return written(w);
}

rk_status rk_http_infer_response_add(rk_http_infer_response *res, const char *name, rk_serve_dtype dt, int ndim,
                                     const int64_t *shape, const uint8_t *data, size_t size, bool binary) {
  rk_json_writer *w = &res->json;
  rk_json_put_str(w, res->noutputs++ ? ",{\"name\":" : "{\"name\":");
  rk_json_put_quoted(w, name, strlen(name));
  rk_json_put_str(w, ",\"datatype\":\"");
  rk_json_put_str(w, rk_kserve_dtype_name(dt));
  rk_json_put_str(w, "\",\"shape\":[");
  int64_t numel = 1;
  for (int d = 0; d < ndim; d++) {
    if (d) rk_json_put(w, ",", 1);
    rk_json_put_int(w, shape[d]);
    numel *= shape[d];
  }
  rk_json_put(w, "]", 1);
  if (binary) {
    if (size > res->binary_cap - res->binary_size) {
      size_t cap = res->binary_cap ? res->binary_cap : 256;
      while (cap - res->binary_size < size) cap *= 2;
      uint8_t *p = rk_realloc(res->binary, cap);
      if (!p) return rk_error(RK_ENOMEM, "out of memory writing an infer response");
      res->binary = p, res->binary_cap = cap;
    }
    if (size) memcpy(res->binary + res->binary_size, data, size);
    res->binary_size += size;
    rk_json_put_str(w, ",\"parameters\":{\"binary_data_size\":");
    rk_json_put_uint(w, size);
    rk_json_put(w, "}}", 2);
  } else {
    rk_json_put_str(w, ",\"data\":");
    rk_kserve_json_encode(w, data, size, dt, numel);
    rk_json_put(w, "}", 1);
  }
  return written(w);
}

rk_status rk_http_infer_response_finish(rk_http_infer_response *res, char **body, size_t *size, size_t *json_size) {
  rk_json_writer *w = &res->json;
  rk_json_put(w, "]}", 2);
  size_t jlen = w->size;
  rk_json_put(w, (const char *)res->binary, res->binary_size);
  rk_json_put(w, "", 1);   /* a NUL past the end, for readers of the JSON as a string */
  RK_TRY(written(w));
  *body = w->buf, *size = w->size - 1, *json_size = jlen;
  *w = (rk_json_writer){0};   /* the body is the caller's now */
  return RK_OK;
}

void rk_http_infer_response_free(rk_http_infer_response *res) {
  rk_free(res->json.buf);
  rk_free(res->binary);
  memset(res, 0, sizeof *res);
}
