// The CUDA backend's entry point. For now it only reports the devices, so the CUDA path is
// compiled (and linked) in CI from the first day; kernels join it op by op (src/nn/ops/*.cu).
#include <cuda_runtime.h>

#include <cstdio>

#include "reckon/core.h"

extern "C" int rk_cuda_device_count(void) {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) return 0;
  return n;
}

extern "C" const char *rk_cuda_device_name(int device, char *buf, size_t size) {
  cudaDeviceProp prop;
  if (cudaGetDeviceProperties(&prop, device) != cudaSuccess) {
    snprintf(buf, size, "none");
  } else {
    snprintf(buf, size, "%s (sm_%d%d, %.0f GiB)", prop.name, prop.major, prop.minor,
             (double)prop.totalGlobalMem / (1024.0 * 1024.0 * 1024.0));
  }
  return buf;
}
