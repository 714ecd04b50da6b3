/*
 * Parameters: a value and the gradient it owns (reckon/nn.h states the dense and the
 * row-sparse contracts). Initialisers draw from the counter-based RNG, element by element, so
 * a parameter's initial value depends only on (seed, stream), never on threads.
 */
#include <math.h>
#include <string.h>

#include "reckon/nn.h"

rk_status rk_param_init(rk_param *p, const char *name, int ndim, const int64_t *shape) {
  memset(p, 0, sizeof *p);
  snprintf(p->name, sizeof p->name, "%s", name ? name : "");
  RK_TRY(rk_tensor_alloc(&p->value, RK_DT_F32, ndim, shape));
  rk_status s = rk_tensor_alloc(&p->grad, RK_DT_F32, ndim, shape);
  if (s != RK_OK) rk_tensor_free(&p->value);
  return s;
}

rk_status rk_param_init_sparse(rk_param *p, const char *name, int64_t V, int64_t D) {
  memset(p, 0, sizeof *p);
  snprintf(p->name, sizeof p->name, "%s", name ? name : "");
  if (V <= 0 || D <= 0)
    return rk_error(RK_ESHAPE, "embedding table '%s' of shape (%lld, %lld): both sizes must be positive",
                    p->name, (long long)V, (long long)D);
  int64_t shape[2] = {V, D};
  RK_TRY(rk_tensor_alloc(&p->value, RK_DT_F32, 2, shape));
  p->sparse = true;
  return RK_OK;
}

void rk_param_free(rk_param *p) {
  rk_tensor_free(&p->value);
  rk_tensor_free(&p->grad);
  rk_free(p->grad_rows);
  p->grad_rows = NULL;
  p->n_grad_rows = 0;
}

void rk_param_fill_uniform(rk_param *p, uint64_t seed, uint64_t stream, float lo, float hi) {
  float *w = p->value.data;
  int64_t n = rk_tensor_numel(&p->value);
  for (int64_t i = 0; i < n; i++)
    w[i] = lo + (hi - lo) * (float)rk_rng_uniform_at(seed, stream, (uint64_t)i);
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
