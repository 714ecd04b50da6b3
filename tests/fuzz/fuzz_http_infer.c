/*
 * Fuzz target: a KServe v2 infer request body as JSON (src/serve/http/infer_body.c). A body that
 * parses is answered back: each input becomes an output, as JSON data and as binary data, so the
 * encoder sees every tensor the parser accepts. Errors are fine; crashes, leaks and UB are not.
 */
#include <stdint.h>
#include <stddef.h>

#ifdef RECKON_HAVE_HTTP
#include "serve/http/infer_body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  rk_http_infer_request req;
  if (rk_http_infer_parse(&req, data, size, -1, 1 << 16) == RK_OK) {
    rk_http_infer_response res;
    if (rk_http_infer_response_begin(&res, "m", "1", req.id) == RK_OK) {
      for (int i = 0; i < req.ninputs; i++) {
        const rk_http_tensor *t = &req.inputs[i];
        rk_http_infer_response_add(&res, t->name, t->datatype, t->ndim, t->shape, t->data, t->size,
                                   rk_http_output_wants_binary(&req, t->name) || (i & 1));
      }
      char *body;
      size_t n, json_size;
      if (rk_http_infer_response_finish(&res, &body, &n, &json_size) == RK_OK) rk_free(body);
    }
    rk_http_infer_response_free(&res);
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
