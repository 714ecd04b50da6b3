// The CUDA backend: device queries, compiled and linked in every CUDA build so the CUDA path
// builds from the first day. Its op table (src/nn/backend.h) fills in here, with the kernels
// from the op stems' twins (src/nn/ops/<stem>.cu); src/nn/backend_cuda.c answers these queries
// in a build without CUDA.
#include <cuda_runtime.h>

#include <cstdio>

#include "reckon/nn.h"

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
