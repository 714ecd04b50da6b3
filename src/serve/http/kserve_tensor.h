/*
 * KServe v2 tensors on the wire: the datatypes by their protocol names and the two encodings of a
 * tensor's contents, JSON `data` (row-major, nested or flat) and Triton's binary tensor data
 * extension (raw little-endian elements; BYTES as a 4-byte little-endian length before each
 * string). Both decode to the binary form, which is also how the serving core takes tensors, so a
 * request's JSON and binary inputs meet the core the same way.
 *
 * Not here: the request and response bodies around the tensors (infer_body.h).
 * References: kserve/kserve docs/predict-api/v2/required_api.md (Tensor Data), Triton's
 * docs/protocol/extension_binary_data.md.
 */
#ifndef RECKON_SERVE_HTTP_KSERVE_TENSOR_H
#define RECKON_SERVE_HTTP_KSERVE_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "reckon/core.h"
#include "reckon/serve.h"
#include "serve/http/json_text.h"

/* The datatypes are the core's (reckon/serve.h: RK_SERVE_DTYPE_LIST, KServe's names); these read
 * that list directly, so the wire code has no link-time tie to the core. */

/* "FP32" -> RK_SERVE_DT_FP32; false for a name the protocol does not have. */
bool rk_kserve_dtype_parse(const char *name, rk_serve_dtype *out);
const char *rk_kserve_dtype_name(rk_serve_dtype dt);
size_t rk_kserve_dtype_size(rk_serve_dtype dt);   /* 0 for BYTES */

/* The element count of a shape, refusing negative dimensions and counts above max_elements
 * (the server's --max-tensor-elements); `what` names the tensor in the message. */
rk_status rk_kserve_numel(int64_t *out, int ndim, const int64_t *shape, int64_t max_elements, const char *what);

/* JSON `data` at the cursor (arrays nested at most ndim deep following the shape, or one flat
 * array) to the binary form: *out (rk_malloc'd, *size bytes) holds numel elements, decoded
 * straight from the text. Wrong counts, types and out-of-range values are RK_EINVAL naming the
 * tensor and the element; broken JSON is RK_EPARSE. The cursor ends after the array. */
rk_status rk_kserve_json_decode(uint8_t **out, size_t *size, rk_json_cursor *c, rk_serve_dtype dt, int ndim,
                                int64_t numel, const char *what);

/* Check a binary tensor: size matches numel elements (BYTES: numel length-prefixed strings that
 * end exactly at size). RK_EINVAL naming the tensor otherwise. */
rk_status rk_kserve_binary_check(const uint8_t *data, size_t size, rk_serve_dtype dt, int64_t numel,
                                 const char *what);

/* The binary form as a flat JSON array (the form Triton answers with) onto w. */
void rk_kserve_json_encode(rk_json_writer *w, const uint8_t *data, size_t size, rk_serve_dtype dt, int64_t numel);

#endif
