/*
 * The CPU backend (src/nn/backend.h): host memory, the kernels of src/nn/ops/<stem>.c, and the
 * row-sparse gradient assembly of embedding tables.
 *
 * Every loop here is either elementwise or parallel over fixed chunks of rows whose sums run in
 * a fixed order, so results do not depend on the thread count.
 */
#include <string.h>

#include "nn/backend.h"
#include "nn/ops/ops.h"

#define RK_ALIGN 64

static int cpu_device_count(void) { return 1; }

static void *cpu_alloc(size_t bytes) { return rk_aligned_calloc(RK_ALIGN, bytes ? bytes : RK_ALIGN); }

static void cpu_free(void *p) { rk_free(p); }

static void cpu_fill(float *dst, int64_t n, float value) {
  if (value == 0.0f) {
    memset(dst, 0, (size_t)n * sizeof(float));   /* +0.0f is all zero bits */
    return;
  }
  for (int64_t i = 0; i < n; i++) dst[i] = value;
}

static void cpu_sparse_clear(rk_sparse_table *t) {
  memset(t->slot_grad, 0, (size_t)(t->n_slots * t->param->value.shape[1]) * sizeof(float));
  for (int64_t k = 0; k < t->n_slots; k++) t->slot_ids[k] = -1;
}

typedef struct {
  const rk_sparse_table *t;
  const int64_t *pairs;   /* sorted (id, slot) */
  float *grad;            /* (rows, D) */
  int64_t D;
} assemble_ctx;

static void assemble_rows(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const assemble_ctx *c = arg;
  const int64_t *pairs = c->pairs;
  for (int64_t k = begin; k < end; k++) {
    float *dst = c->grad + k * c->D;            /* (D) */
    memset(dst, 0, (size_t)c->D * sizeof(float));
    for (int64_t j = c->t->row_start[k]; j < c->t->row_start[k + 1]; j++) {
      const float *src = c->t->slot_grad + pairs[2 * j + 1] * c->D;
      for (int64_t d = 0; d < c->D; d++) dst[d] += src[d];
    }
  }
}

#define RADIX_BITS 11
#define RADIX_SIZE (1 << RADIX_BITS)

/* Sort m (id, slot) pairs by id, stably: an LSD radix sort over the id's significant bits
 * (ids are in [0, V), so a 1M-row table takes 2 passes). The pairs come in slot order, so the
 * result is the same as sorting by (id, slot). Returns the buffer holding the sorted pairs. */
static int64_t *radix_sort_pairs(int64_t *a, int64_t *tmp, int64_t m, uint64_t max_id) {
  int64_t count[RADIX_SIZE];
  for (int shift = 0; shift < 64 && (max_id >> shift) != 0; shift += RADIX_BITS) {
    memset(count, 0, sizeof count);
    for (int64_t j = 0; j < m; j++) count[((uint64_t)a[2 * j] >> shift) & (RADIX_SIZE - 1)]++;
    int64_t sum = 0;
    for (int d = 0; d < RADIX_SIZE; d++) {
      int64_t c = count[d];
      count[d] = sum;
      sum += c;
    }
    for (int64_t j = 0; j < m; j++) {
      int64_t at = count[((uint64_t)a[2 * j] >> shift) & (RADIX_SIZE - 1)]++;
      tmp[2 * at] = a[2 * j];
      tmp[2 * at + 1] = a[2 * j + 1];
    }
    int64_t *swap = a;
    a = tmp;
    tmp = swap;
  }
  return a;
}

static void cpu_sparse_assemble(rk_sparse_table *t) {
  rk_param *p = t->param;
  int64_t D = p->value.shape[1], m = 0;
  uint64_t max_id = 0;
  for (int64_t s = 0; s < t->n_slots; s++) {
    if (t->slot_ids[s] < 0) continue;
    t->order[2 * m] = t->slot_ids[s];
    t->order[2 * m + 1] = s;
    if ((uint64_t)t->slot_ids[s] > max_id) max_id = (uint64_t)t->slot_ids[s];
    m++;
  }
  const int64_t *pairs = radix_sort_pairs(t->order, t->order_tmp, m, max_id);
  int64_t k = 0;
  for (int64_t j = 0; j < m; j++) {
    if (j == 0 || pairs[2 * j] != pairs[2 * (j - 1)]) {
      t->row_start[k] = j;
      p->grad_rows[k] = pairs[2 * j];
      k++;
    }
  }
  t->row_start[k] = m;
  p->n_grad_rows = k;
  assemble_ctx c = {t, pairs, p->grad.data, D};
  rk_parallel_for(k, rk_row_grain(D * 4), assemble_rows, &c);
}

const rk_backend rk_backend_cpu = {
    .name = "cpu",
    .device = RK_DEVICE_CPU,
    .device_count = cpu_device_count,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .fill = cpu_fill,
    .begin_pass = rk_blas_sync_threads,
    .sparse_clear = cpu_sparse_clear,
    .sparse_assemble = cpu_sparse_assemble,
/* a row for each op whose list entry names the CPU */
#define RK_OP_ROW_CPU(name, stem, backends) \
  [RK_OP_##name] = ((backends) & RK_ON_CPU) ? stem##_node_forward_cpu : NULL,
    .forward = {RK_OP_LIST(RK_OP_ROW_CPU)},
#undef RK_OP_ROW_CPU
#define RK_OP_ROW_CPU(name, stem, backends) \
  [RK_OP_##name] = ((backends) & RK_ON_CPU) ? stem##_node_backward_cpu : NULL,
    .backward = {RK_OP_LIST(RK_OP_ROW_CPU)},
#undef RK_OP_ROW_CPU
    .init_state = {[RK_OP_BATCH_NORM] = batch_norm_node_init_state_cpu},
    .freeze = {[RK_OP_LINEAR] = linear_node_freeze_cpu},
};
