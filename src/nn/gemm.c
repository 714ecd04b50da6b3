/*
 * rk_sgemm: row-major C = alpha op(A) op(B) + beta C on OpenBLAS, made thread-count independent.
 * OpenBLAS's own threading may split the inner (K) dimension, so its sums change with its
 * thread count. Here OpenBLAS runs single-threaded inside each chunk of C's rows, and the
 * chunks depend only on the problem size (rk_parallel_for), so every element is summed the same
 * way on 1 or 16 threads.
 */
#include <cblas.h>
#include <pthread.h>
#include <stdlib.h>
#include <strings.h>
#include <unistd.h>

#include "nn/graph_internal.h"

typedef struct {
  bool ta, tb;
  int64_t N, K;
  float alpha, beta;
  const float *A, *B;
  float *C;
  int64_t lda, ldb, ldc;
} gemm_ctx;

static void gemm_rows(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const gemm_ctx *c = arg;
  const float *a = c->ta ? c->A + begin : c->A + begin * c->lda;
  cblas_sgemm(CblasRowMajor, c->ta ? CblasTrans : CblasNoTrans, c->tb ? CblasTrans : CblasNoTrans, (int)(end - begin),
              (int)c->N, (int)c->K, c->alpha, a, (int)c->lda, c->B, (int)c->ldb, c->beta, c->C + begin * c->ldc,
              (int)c->ldc);
}

void rk_sgemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
              const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  rk_blas_sync_threads();   /* callers outside a graph pass get the same single-threaded BLAS */
  gemm_ctx c = {ta, tb, N, K, alpha, beta, A, B, C, lda, ldb, ldc};
  /* Every chunk packs all of op(B) again, so chunks are as large as parallelism allows: a
   * quarter of the rows (balanced on 1, 2 or 4 threads; 16-row chunks ran the 1024x1024 layers
   * at about 2/3 of OpenBLAS's speed, 256-row ones at 90%), at least 1 MFLOP and 16 rows. */
  int64_t per_row = N * (K > 0 ? K : 1), grain = (1 << 20) / (per_row > 0 ? per_row : 1);
  int64_t quarter = (M + 3) / 4;
  if (grain < quarter) grain = quarter;
  if (grain < 16) grain = 16;
  rk_parallel_for(M, grain, gemm_rows, &c);
}

/* OpenBLAS picks its kernels from the CPU model; a model newer than the library (a virtual
 * machine's generic "Intel Xeon Processor", say) falls back to the Prescott (SSE3) kernels,
 * which run GEMM at well under half the speed of the AVX-512 or AVX2 ones. The choice is made
 * when the library loads, so the only fix is OPENBLAS_CORETYPE in the environment of a new
 * process: this names the kernels to ask for, or NULL when the choice is fine. */
const char *rk_blas_better_coretype(void) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  const char *core = openblas_get_corename();
  if (!core || strcasecmp(core, "prescott") != 0) return NULL;
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return "SkylakeX";
  if (__builtin_cpu_supports("avx2")) return "Haswell";
#endif
  return NULL;
}

const char *rk_blas_corename(void) { return openblas_get_corename(); }

void rk_blas_choose_kernels(char **argv) {
  const char *want = getenv("OPENBLAS_CORETYPE") ? NULL : rk_blas_better_coretype();
  if (!want || setenv("OPENBLAS_CORETYPE", want, 1) != 0) return;
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);   /* the real path keeps the process name */
  if (n > 0) {
    self[n] = '\0';
    execv(self, argv);   /* returns only on failure: carry on with the kernels we have */
  }
  unsetenv("OPENBLAS_CORETYPE");
}

static void blas_single_threaded(void) { openblas_set_num_threads(1); }

/* Once per process, whichever graph runs first, and safe when graphs on several threads start
 * together (a plain flag there was a data race). */
void rk_blas_sync_threads(void) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, blas_single_threaded);
}
