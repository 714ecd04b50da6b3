/*
 * Fuzz target: safetensors headers and buffers. Whatever parses is walked tensor by tensor
 * (every byte of every tensor read), so offsets the validator let through would show up as
 * out-of-bounds reads under the sanitizers.
 */
#include <stdint.h>
#include <stdlib.h>

#include "reckon/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  rk_safetensors *f = NULL;
  if (rk_safetensors_parse(&f, data, size, "fuzz") != RK_OK) return 0;
  volatile uint8_t sink = 0;
  for (int i = 0; i < rk_safetensors_count(f); i++) {
    rk_st_tensor t;
    rk_safetensors_get(f, i, &t);
    int64_t n = (int64_t)rk_dtype_size(t.dtype);
    for (int d = 0; d < t.ndim; d++) n *= t.shape[d];
    for (int64_t b = 0; b < n; b++) sink ^= ((const uint8_t *)t.data)[b];
  }
  (void)sink;
  (void)rk_safetensors_metadata(f, "format");
  rk_safetensors_free(f);
  return 0;
}
