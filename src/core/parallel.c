/*
 * Parallel loops on OpenMP with static chunking.
 *
 * Work is cut into chunks of a fixed grain that depend only on n, never on the thread count;
 * per-chunk results are combined in chunk order. Floating-point sums are therefore bit-identical
 * for any number of threads, which is what makes training deterministic.
 * Without OpenMP everything runs on the calling thread, in the same chunks.
 */
#include <stdlib.h>
#include <string.h>

#include "reckon/core.h"

#ifdef RECKON_HAVE_OPENMP
#include <omp.h>
#endif

static int default_threads(void) {
#ifdef RECKON_HAVE_OPENMP
  return omp_get_num_procs();
#else
  return 1;
#endif
}

static int configured_threads = 0;   /* 0: the OpenMP default */

int rk_num_threads(void) {
#ifdef RECKON_HAVE_OPENMP
  if (configured_threads > 0) return configured_threads;
  int n = omp_get_max_threads();   /* OMP_NUM_THREADS may ask for any count */
  return n < RK_THREADS_MAX ? n : RK_THREADS_MAX;
#else
  return 1;
#endif
}

/* OMP_NUM_THREADS when it is a count reckon runs, else the cores. */
static int env_threads(void) {
  const char *env = getenv("OMP_NUM_THREADS");
  long n = env ? strtol(env, NULL, 10) : 0;
  return n > 0 && n <= RK_THREADS_MAX ? (int)n : default_threads();
}

rk_status rk_set_num_threads(int64_t n) {
  if (n > RK_THREADS_MAX)
    return rk_error(RK_ERANGE, "%lld threads: reckon runs at most %d (this machine has %d cores)", (long long)n,
                    RK_THREADS_MAX, default_threads());
  configured_threads = n > 0 ? (int)n : 0;
#ifdef RECKON_HAVE_OPENMP
  omp_set_num_threads(n > 0 ? (int)n : env_threads());
#else
  (void)env_threads;
#endif
  return RK_OK;
}

int64_t rk_chunk_count(int64_t n, int64_t grain) {
  if (n <= 0) return 0;
  if (grain <= 0) grain = 1;
  return n / grain + (n % grain != 0);   /* not (n + grain - 1) / grain: that can overflow */
}

void rk_parallel_for(int64_t n, int64_t grain, rk_chunk_fn fn, void *ctx) {
  if (grain <= 0) grain = 1;
  int64_t chunks = rk_chunk_count(n, grain);
#ifdef RECKON_HAVE_OPENMP
  if (chunks > 1 && rk_num_threads() > 1 && !omp_in_parallel()) {
#pragma omp parallel for schedule(static) num_threads(rk_num_threads())
    for (int64_t c = 0; c < chunks; c++) {
      int64_t begin = c * grain, end = grain < n - begin ? begin + grain : n;
      fn(ctx, c, begin, end);
    }
    return;
  }
#endif
  for (int64_t c = 0; c < chunks; c++) {
    int64_t begin = c * grain, end = grain < n - begin ? begin + grain : n;
    fn(ctx, c, begin, end);
  }
}

/* The lowest failing chunk's status and message, carried back from the worker thread. */
typedef struct {
  rk_chunk_try_fn fn;
  void *ctx;
  int64_t failed_chunk;
  rk_status status;
  char message[RK_ERROR_MAX];
} try_state;

static void try_chunk(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  try_state *st = arg;
  rk_error_clear();   /* a worker thread may still hold a message from earlier work */
  rk_status s = st->fn(st->ctx, chunk, begin, end);
  if (s == RK_OK) return;
#ifdef RECKON_HAVE_OPENMP
#pragma omp critical(rk_parallel_try)
#endif
  {
    if (st->failed_chunk < 0 || chunk < st->failed_chunk) {
      st->failed_chunk = chunk;
      st->status = s;
      /* A chunk that failed without a message of its own reports its status's text. */
      snprintf(st->message, sizeof st->message, "%s", rk_error_status() == s ? rk_error_message() : rk_strerror(s));
    }
  }
}

rk_status rk_parallel_try(int64_t n, int64_t grain, rk_chunk_try_fn fn, void *ctx) {
  try_state st = {.fn = fn, .ctx = ctx, .failed_chunk = -1, .status = RK_OK};
  rk_parallel_for(n, grain, try_chunk, &st);
  if (st.failed_chunk < 0) return RK_OK;
  return rk_error(st.status, "%s", st.message);
}

typedef struct {
  const void *x;
  bool is_f32;
  double *partial;
} sum_state;

static void sum_chunk(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  sum_state *st = arg;
  double s = 0.0;
  if (st->is_f32) {
    const float *x = st->x;
    for (int64_t i = begin; i < end; i++) s += x[i];
  } else {
    const double *x = st->x;
    for (int64_t i = begin; i < end; i++) s += x[i];
  }
  st->partial[chunk] = s;
}

static double parallel_sum(const void *x, bool is_f32, int64_t n, int64_t grain) {
  if (grain <= 0) grain = 4096;
  int64_t chunks = rk_chunk_count(n, grain);
  double stack[256];
  double *partial = chunks <= 256 ? stack : rk_malloc((size_t)chunks * sizeof(double));
  if (!partial) {   /* out of memory: the same chunks, one thread */
    double total = 0.0;
    for (int64_t c = 0; c < chunks; c++) {
      double p;
      sum_state one = {x, is_f32, &p};
      int64_t begin = c * grain, end = grain < n - begin ? begin + grain : n;
      sum_chunk(&one, 0, begin, end);
      total += p;
    }
    return total;
  }
  sum_state st = {x, is_f32, partial};
  rk_parallel_for(n, grain, sum_chunk, &st);
  double total = 0.0;
  for (int64_t c = 0; c < chunks; c++) total += partial[c];
  if (partial != stack) rk_free(partial);
  return total;
}

double rk_parallel_sum_f64(const double *x, int64_t n, int64_t grain) { return parallel_sum(x, false, n, grain); }
double rk_parallel_sum_f32(const float *x, int64_t n, int64_t grain) { return parallel_sum(x, true, n, grain); }
