/*
 * gelu (Hendrycks & Gimpel 2016): the exact form 0.5 x (1 + erf(x / sqrt 2)) or the tanh
 * approximation 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), as PyTorch's approximate='tanh'
 * (GPT-2's gelu_new). The tanh form runs in float with the branch-free tanh the compiler
 * vectorises (rk_tanhf_fast, src/nn/ops/ops.h): in a GPT-2 block at d_model 64 the
 * double-precision libm tanh of both passes took 40% of the step, scalar expf still 12% at 256.
 * A training forward saves the derivative beside the output (it has the tanh or erf in hand),
 * so backward is one multiply-add and no second tanh: the two passes were 5-8% of a session
 * model's step. On a value with rows in use it computes those rows only (docs/design.md).
 */
#include <math.h>

#include "nn/ops/ops.h"

#define GELU_K 0.7978845608028654   /* sqrt(2 / pi) */

/* The tanh form, inlined with deriv known NULL or not so that the loop has no branch and vectorises. */
static inline void gelu_tanh_rows(float *out, float *deriv, const float *x, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    float v = x[i], t = rk_tanhf_fast((float)GELU_K * (v + 0.044715f * v * v * v));
    out[i] = 0.5f * v * (1.0f + t);
    if (deriv)
      deriv[i] = 0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * (float)GELU_K * (1.0f + 3.0f * 0.044715f * v * v);
  }
}

/* deriv (n) or NULL: d out / d x, for backward. */
void gelu_forward_cpu(float *out /* (n) */, float *deriv /* (n) or NULL */, const float *x /* (n) */, int64_t n,
                      bool approximate) {
  if (approximate) {
    if (deriv) gelu_tanh_rows(out, deriv, x, n);
    else gelu_tanh_rows(out, NULL, x, n);
    return;
  }
  for (int64_t i = 0; i < n; i++) {
    double v = x[i], cdf = 0.5 * (1.0 + erf(v * M_SQRT1_2));
    out[i] = (float)(v * cdf);
    if (deriv) deriv[i] = (float)(cdf + v * exp(-0.5 * v * v) * 0.3989422804014327);
  }
}

void gelu_backward_cpu(float *dx /* (n) */, const float *dout /* (n) */, const float *deriv /* (n) */, int64_t n) {
  for (int64_t i = 0; i < n; i++) dx[i] += dout[i] * deriv[i];
}

rk_status gelu_node_forward_cpu(rk_graph *g, const rk_node *n) {
  const rk_value *x = rk_val(g, n->in[0]);
  rk_val(g, n->out[0])->rows = x->rows;
  gelu_forward_cpu(rk_x(g, n->out[0]), rk_graph_training(g) ? n->saved : NULL, rk_x(g, n->in[0]),
                   rk_val_numel_in_use(x), n->iattr[0]);
  return RK_OK;
}

void gelu_node_backward_cpu(rk_graph *g, const rk_node *n) {
  if (rk_dx(g, n->in[0]))
    gelu_backward_cpu(rk_dx(g, n->in[0]), rk_dx(g, n->out[0]), n->saved, rk_val_numel_in_use(rk_val(g, n->in[0])));
}

rk_status rk_graph_gelu(rk_graph *g, int *out, int x, bool approximate) {
  rk_node *n;
  RK_TRY(rk_graph_unary(g, out, x, RK_OP_GELU, &n));
  n->iattr[0] = approximate;
  n->saved_bytes = (size_t)rk_val(g, x)->numel * sizeof(float);   /* the derivative */
  return RK_OK;
}
