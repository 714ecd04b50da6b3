/* The CUDA backend's device queries in a build without CUDA: no devices (src/nn/backend_cuda.cu
 * otherwise). */
#include "reckon/nn.h"

#ifndef RECKON_HAVE_CUDA
int rk_cuda_device_count(void) { return 0; }
const char *rk_cuda_device_name(int device, char *buf, size_t size) {
  (void)device;
  snprintf(buf, size, "none (built without CUDA)");
  return buf;
}
#endif
