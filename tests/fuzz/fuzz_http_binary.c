/*
 * Fuzz target: the binary tensor data extension's split (src/serve/http/infer_body.c). The input
 * is the Inference-Header-Content-Length value, a newline, then the body: the JSON part and the
 * binary inputs it sizes with binary_data_size, checked element by element (BYTES' 4-byte
 * lengths). Errors are fine; crashes, leaks and UB are not.
 */
#include <stdint.h>
#include <stddef.h>
#include <string.h>

#ifdef RECKON_HAVE_HTTP
#include "serve/http/infer_body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *nl = memchr(data, '\n', size < 32 ? size : 32);
  if (!nl) return 0;
  char header[33];
  memcpy(header, data, (size_t)(nl - data));
  header[nl - data] = '\0';
  const uint8_t *body = nl + 1;
  size_t body_size = size - (size_t)(body - data);
  int64_t json_size;
  if (rk_http_parse_json_length(header, body_size, &json_size) != RK_OK) return 0;
  rk_http_infer_request req;
  if (rk_http_infer_parse(&req, body, body_size, json_size, 1 << 16) == RK_OK) {
    for (int i = 0; i < req.ninputs; i++) {   /* what was accepted reads back whole */
      rk_json_writer w = {0};
      rk_kserve_json_encode(&w, req.inputs[i].data, req.inputs[i].size, req.inputs[i].datatype, req.inputs[i].numel);
      rk_free(w.buf);
    }
  }
  rk_http_infer_request_free(&req);
  return 0;
}
#else
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  (void)data, (void)size;
  return 0;
}
#endif
