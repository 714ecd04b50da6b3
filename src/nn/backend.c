/*
 * The backends built into this library, the CPU first. A CUDA backend joins the list here when
 * it fills its table (src/nn/backend.h); until then the CUDA build only queries devices
 * (src/nn/backend_cuda.cu).
 */
#include "nn/backend.h"

static const rk_backend *const backends[] = {&rk_backend_cpu};

int rk_backend_count(void) { return (int)(sizeof backends / sizeof backends[0]); }

const rk_backend *rk_backend_at(int i) { return (i >= 0 && i < rk_backend_count()) ? backends[i] : NULL; }
