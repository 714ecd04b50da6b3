/* Device queries when reckon is built without CUDA: no devices (src/cuda/device.cu otherwise). */
#include "reckon/core.h"

#ifndef RECKON_HAVE_CUDA
int rk_cuda_device_count(void) { return 0; }
const char *rk_cuda_device_name(int device, char *buf, size_t size) {
  (void)device;
  snprintf(buf, size, "none (built without CUDA)");
  return buf;
}
#endif
