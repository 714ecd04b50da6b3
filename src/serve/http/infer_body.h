/*
 * The body of a KServe v2 infer request and response over HTTP: a JSON object, optionally
 * followed by binary tensor data (Triton's binary data extension: the header
 * `Inference-Header-Content-Length` gives the JSON's length, each binary input says its
 * `binary_data_size` and the binaries follow in input order). Parsing never trusts a count or a
 * size before checking it against the body and the limits; what fails is RK_EINVAL/RK_EPARSE/
 * RK_ERANGE with a message naming the field or tensor, which the server answers as 400.
 * The JSON is read as text (json_text.h), not as a tree: `data` arrays decode straight into the
 * tensors' buffers, and the response is written the same way.
 *
 * Not here: HTTP itself (server.c) or running the model (the serving core).
 */
#ifndef RECKON_SERVE_HTTP_INFER_BODY_H
#define RECKON_SERVE_HTTP_INFER_BODY_H

#include "serve/http/kserve_tensor.h"

typedef struct {
  const char *name;
  rk_serve_dtype datatype;
  int ndim;
  int64_t shape[RK_SERVE_MAX_DIMS];
  int64_t numel;
  const uint8_t *data;   /* the binary form (kserve_tensor.h): into the body, or decoded JSON */
  size_t size;
} rk_http_tensor;

typedef struct {
  const char *name;
  bool binary;           /* answer this output as binary data */
} rk_http_requested_output;

typedef struct {
  char *strings;         /* the unescaped strings (names, id), one block the JSON part's size */
  const char *id;        /* "" when absent */
  rk_http_tensor *inputs;
  int ninputs;
  rk_http_requested_output *outputs;   /* NULL when the request names none: all outputs */
  int noutputs;
  bool binary_output;    /* parameters.binary_data_output: every output as binary */
  uint8_t **decoded;     /* JSON inputs' buffers, freed with the request */
} rk_http_infer_request;

/* Parse `body` (size bytes). json_size: the value of Inference-Header-Content-Length, or -1 when
 * the header is absent (the whole body is JSON). Tensors over max_elements are refused. The
 * request points into body, which must outlive it. */
rk_status rk_http_infer_parse(rk_http_infer_request *req, const uint8_t *body, size_t size, int64_t json_size,
                              int64_t max_elements);
void rk_http_infer_request_free(rk_http_infer_request *req);

/* Parse an Inference-Header-Content-Length value: a decimal count of bytes within the body. */
rk_status rk_http_parse_json_length(const char *text, size_t body_size, int64_t *out);

/* Building a response: the JSON part, written as it goes, and the binary tail. */
typedef struct {
  rk_json_writer json;   /* {"model_name", "model_version", "id", "outputs": [... */
  int noutputs;
  uint8_t *binary;       /* concatenated binary outputs */
  size_t binary_size, binary_cap;
} rk_http_infer_response;

rk_status rk_http_infer_response_begin(rk_http_infer_response *res, const char *model, const char *version,
                                       const char *id);
/* Add one output, as JSON data or as binary data. */
rk_status rk_http_infer_response_add(rk_http_infer_response *res, const char *name, rk_serve_dtype dt, int ndim,
                                     const int64_t *shape, const uint8_t *data, size_t size, bool binary);
/* The body: JSON then the binary tail. *json_size is the JSON's length (for the header when there
 * is a tail). Caller frees *body with rk_free. */
rk_status rk_http_infer_response_finish(rk_http_infer_response *res, char **body, size_t *size, size_t *json_size);
void rk_http_infer_response_free(rk_http_infer_response *res);

/* Whether a request asks for an output as binary: per-output parameters.binary_data, else the
 * request's binary_data_output. */
bool rk_http_output_wants_binary(const rk_http_infer_request *req, const char *name);

#endif
