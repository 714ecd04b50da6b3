/*
 * Parameters: a value and the gradient it owns (reckon/nn.h states the dense and the
 * row-sparse contracts), and the parameter arena that holds a model's dense ones in one
 * allocation of values and one of gradients (llm.c's layout: a size table, then views).
 * Initialisers draw from the counter-based RNG, element by element, so a parameter's initial
 * value depends only on (seed, stream), never on threads or on where its memory is.
 */
#include <math.h>
#include <string.h>

#include "nn/backend.h"

rk_status rk_param_init(rk_param *p, const char *name, int ndim, const int64_t *shape) {
  memset(p, 0, sizeof *p);
  snprintf(p->name, sizeof p->name, "%s", name ? name : "");
  RK_TRY(rk_tensor_alloc(&p->value, RK_DT_F32, ndim, shape));
  rk_status s = rk_tensor_alloc(&p->grad, RK_DT_F32, ndim, shape);
  if (s != RK_OK) rk_tensor_free(&p->value);
  return s;
}

/* A row-sparse parameter's start: zeroed, named, its (V, D) shape checked. */
static rk_status sparse_named(rk_param *p, const char *name, int64_t V, int64_t D) {
  memset(p, 0, sizeof *p);
  snprintf(p->name, sizeof p->name, "%s", name ? name : "");
  if (V <= 0 || D <= 0)
    return rk_error(RK_ESHAPE, "embedding table '%s' of shape (%lld, %lld): both sizes must be positive",
                    p->name, (long long)V, (long long)D);
  return RK_OK;
}

rk_status rk_param_init_sparse(rk_param *p, const char *name, int64_t V, int64_t D) {
  RK_TRY(sparse_named(p, name, V, D));
  int64_t shape[2] = {V, D};
  RK_TRY(rk_tensor_alloc(&p->value, RK_DT_F32, 2, shape));
  p->sparse = true;
  return RK_OK;
}

rk_status rk_param_init_sparse_fetched(rk_param *p, const char *name, int64_t V, int64_t D, const rk_row_cache *rows) {
  RK_TRY(sparse_named(p, name, V, D));
  int64_t shape[2] = {V, D};
  RK_TRY(rk_tensor_view(&p->value, RK_DT_F32, 2, shape, NULL));
  p->sparse = true;
  p->fetched = rows;
  return RK_OK;
}

const float *rk_row_cache_find(const rk_row_cache *c, int64_t id, int64_t D) {
  int64_t lo = 0, hi = c->n;
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (c->ids[mid] < id) lo = mid + 1;
    else hi = mid;
  }
  return lo < c->n && c->ids[lo] == id ? c->rows + lo * D : NULL;
}

void rk_param_free(rk_param *p) {
  rk_tensor_free(&p->value);   /* an arena's views are only cleared */
  rk_tensor_free(&p->grad);
  p->arena = NULL;
  rk_free(p->grad_rows);
  p->grad_rows = NULL;
  p->n_grad_rows = 0;
  p->fetched = NULL;
}

void rk_param_fill_uniform(rk_param *p, uint64_t seed, uint64_t stream, float lo, float hi) {
  int64_t n = rk_tensor_numel(&p->value), D = p->value.ndim == 2 ? p->value.shape[1] : n;
  rk_param_fill_uniform_rows(p, seed, stream, lo, hi, 0, 1, D ? n / D : 0);
}

/* Element e of whole-table row g is draw g * D + e, wherever that row is held. */
void rk_param_fill_uniform_rows(rk_param *p, uint64_t seed, uint64_t stream, float lo, float hi, int64_t first,
                                int64_t step, int64_t rows) {
  float *w = p->value.data;
  int64_t D = rows ? rk_tensor_numel(&p->value) / rows : 0;
  for (int64_t k = 0; k < rows; k++) {
    uint64_t at = (uint64_t)(first + k * step) * (uint64_t)D;
    for (int64_t e = 0; e < D; e++) w[k * D + e] = lo + (hi - lo) * (float)rk_rng_uniform_at(seed, stream, at + (uint64_t)e);
  }
}

void rk_param_fill_normal(rk_param *p, uint64_t seed, uint64_t stream, float std) {
  float *w = p->value.data;
  int64_t n = rk_tensor_numel(&p->value);
  for (int64_t i = 0; i < n; i++) {   /* Box-Muller on two uniforms keyed by 2i, 2i+1 */
    double u1 = rk_rng_uniform_at(seed, stream, 2 * (uint64_t)i);
    double u2 = rk_rng_uniform_at(seed, stream, 2 * (uint64_t)i + 1);
    w[i] = std * (float)(sqrt(-2.0 * log(1.0 - u1)) * cos(6.283185307179586 * u2));
  }
}

void rk_param_zero_grad(rk_param *p) {
  if (p->sparse) {
    p->n_grad_rows = 0;
    return;
  }
  if (p->grad.data) memset(p->grad.data, 0, rk_tensor_nbytes(&p->grad));
}

/* ---- the parameter arena ---- */

#define ARENA_ALIGN_FLOATS 16   /* 64 bytes: each view starts where its own allocation would */

struct rk_param_arena {
  rk_param **params;        /* (n) the size table's rows, in declaration order */
  int64_t *offset;          /* (n) each row's first float */
  int n, cap;
  int64_t numel;            /* floats in each allocation, the alignment padding included */
  float *values, *grads;    /* (numel) each; NULL before rk_param_arena_alloc */
};

rk_status rk_param_arena_create(rk_param_arena **out) {
  *out = rk_calloc(1, sizeof **out);
  return *out ? RK_OK : rk_error_context(RK_ENOMEM, "a parameter arena");
}

rk_status rk_param_arena_add(rk_param_arena *a, rk_param *p, const char *name, int ndim, const int64_t *shape) {
  memset(p, 0, sizeof *p);
  snprintf(p->name, sizeof p->name, "%s", name ? name : "");
  if (a->values)
    return rk_error(RK_EINVAL, "parameter '%s': its arena is already allocated; declare every parameter first",
                    p->name);
  RK_TRY(rk_tensor_view(&p->value, RK_DT_F32, ndim, shape, NULL));
  RK_TRY(rk_tensor_view(&p->grad, RK_DT_F32, ndim, shape, NULL));
  char what[160];
  snprintf(what, sizeof what, "the parameter arena at '%s'", p->name);
  int64_t end;
  RK_TRY(rk_size_add(&end, a->numel, rk_tensor_numel(&p->value), what));
  RK_TRY(rk_size_add(&end, end, ARENA_ALIGN_FLOATS - 1, what));
  if (a->n == a->cap) {
    int cap = a->cap ? 2 * a->cap : 16;
    rk_param **params = rk_realloc(a->params, (size_t)cap * sizeof *params);
    if (!params) return rk_error_context(RK_ENOMEM, "the parameter arena's size table");
    a->params = params;
    int64_t *offset = rk_realloc(a->offset, (size_t)cap * sizeof *offset);
    if (!offset) return rk_error_context(RK_ENOMEM, "the parameter arena's size table");
    a->offset = offset;
    a->cap = cap;
  }
  a->params[a->n] = p;
  a->offset[a->n++] = a->numel;
  a->numel = end / ARENA_ALIGN_FLOATS * ARENA_ALIGN_FLOATS;
  p->arena = a;
  return RK_OK;
}

rk_status rk_param_arena_alloc(rk_param_arena *a) {
  if (a->values) return rk_error(RK_EINVAL, "the parameter arena is already allocated");
  size_t bytes = (size_t)a->numel * sizeof(float);
  a->values = rk_backend_cpu.alloc(bytes);
  a->grads = a->values ? rk_backend_cpu.alloc(bytes) : NULL;
  if (!a->grads) {
    rk_backend_cpu.free(a->values);
    a->values = NULL;
    return rk_error_context(RK_ENOMEM, "the parameter arena (%d parameters, %lld floats)", a->n,
                            (long long)a->numel);
  }
  for (int i = 0; i < a->n; i++) {
    a->params[i]->value.data = a->values + a->offset[i];
    a->params[i]->grad.data = a->grads + a->offset[i];
  }
  return RK_OK;
}

void rk_param_arena_zero_grad(const rk_param_arena *a) {
  if (a->grads) rk_backend_cpu.fill(a->grads, a->numel, 0.0f);
}

int rk_param_arena_count(const rk_param_arena *a) { return a->n; }

int64_t rk_param_arena_numel(const rk_param_arena *a) { return a->numel; }

int64_t rk_param_arena_offset(const rk_param *p) {
  RK_ASSERT(p->arena && p->arena->values);
  return (const float *)p->value.data - p->arena->values;
}

rk_param_arena *rk_param_arena_whole(rk_param *const *params, int n) {
  rk_param_arena *a = NULL;
  int in_a = 0;
  for (int i = 0; i < n; i++) {
    const rk_param *p = params[i];
    if (!p->arena) continue;   /* tables and parameters of their own */
    if (a && p->arena != a) return NULL;
    a = p->arena;
    in_a++;
  }
  return a && in_a == a->n ? a : NULL;
}

size_t rk_param_arena_bytes(const rk_param_arena *a) {
  return a->values ? (size_t)a->numel * sizeof(float) : 0;
}

void rk_param_arena_free(rk_param_arena *a) {
  if (!a) return;
  rk_backend_cpu.free(a->values);
  rk_backend_cpu.free(a->grads);
  rk_free(a->params);
  rk_free(a->offset);
  rk_free(a);
}

/* Keeps what it has when it is big enough: grad_rows holds row ids, grad their rows. */
rk_status rk_param_reserve_grad_rows(rk_param *p, int64_t rows) {
  int64_t V = p->value.shape[0], D = p->value.shape[1];
  if (rows > V) rows = V;
  if (rows < 1) rows = 1;
  if (p->grad.data && p->grad.ndim == 2 && p->grad.shape[0] >= rows) return RK_OK;
  rk_tensor t;
  int64_t shape[2] = {rows, D};
  RK_TRY(rk_tensor_alloc(&t, RK_DT_F32, 2, shape));
  int64_t *r = rk_calloc((size_t)rows, sizeof *r);
  if (!r) {
    rk_tensor_free(&t);
    return RK_ENOMEM;
  }
  rk_tensor_free(&p->grad);
  rk_free(p->grad_rows);
  p->grad = t;
  p->grad_rows = r;
  p->n_grad_rows = 0;
  return RK_OK;
}
