/*
 * gelu (Hendrycks & Gimpel 2016): the exact form 0.5 x (1 + erf(x / sqrt 2)) or the tanh
 * approximation 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), as PyTorch's approximate='tanh'
 * (GPT-2's gelu_new). The tanh form runs in float with the branch-free tanh the compiler
 * vectorises (rk_tanhf_fast, src/nn/ops/ops.h): in a GPT-2 block at d_model 64 the
 * double-precision libm tanh of both passes took 40% of the step, scalar expf still 12% at 256.
 */
#include <math.h>

#include "nn/ops/ops.h"

#define GELU_K 0.7978845608028654   /* sqrt(2 / pi) */

static inline float tanh_of(float v) { return rk_tanhf_fast((float)GELU_K * (v + 0.044715f * v * v * v)); }

void gelu_forward_cpu(float *out /* (n) */, const float *x /* (n) */, int64_t n, bool approximate) {
  if (approximate) {
    for (int64_t i = 0; i < n; i++) out[i] = 0.5f * x[i] * (1.0f + tanh_of(x[i]));
    return;
  }
  for (int64_t i = 0; i < n; i++) {
    double v = x[i];
    out[i] = (float)(0.5 * v * (1.0 + erf(v * M_SQRT1_2)));
  }
}

void gelu_backward_cpu(float *dx /* (n) */, const float *dout /* (n) */, const float *x /* (n) */, int64_t n,
                       bool approximate) {
  if (approximate) {
    for (int64_t i = 0; i < n; i++) {
      float v = x[i], t = tanh_of(v);
      float d = 0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * (float)GELU_K * (1.0f + 3.0f * 0.044715f * v * v);
      dx[i] += dout[i] * d;
    }
    return;
  }
  for (int64_t i = 0; i < n; i++) {
    double v = x[i];
    double d = 0.5 * (1.0 + erf(v * M_SQRT1_2)) + v * exp(-0.5 * v * v) * 0.3989422804014327;
    dx[i] += (float)(dout[i] * d);
  }
}

rk_status gelu_node_forward_cpu(rk_graph *g, const rk_node *n) {
  gelu_forward_cpu(rk_x(g, n->out[0]), rk_x(g, n->in[0]), rk_val(g, n->in[0])->numel, n->iattr[0]);
  return RK_OK;
}

void gelu_node_backward_cpu(rk_graph *g, const rk_node *n) {
  if (rk_dx(g, n->in[0]))
    gelu_backward_cpu(rk_dx(g, n->in[0]), rk_dx(g, n->out[0]), rk_x(g, n->in[0]), rk_val(g, n->in[0])->numel,
                      n->iattr[0]);
}

rk_status rk_graph_gelu(rk_graph *g, int *out, int x, bool approximate) {
  rk_node *n;
  RK_TRY(rk_graph_unary(g, out, x, RK_OP_GELU, &n));
  n->iattr[0] = approximate;
  return RK_OK;
}
