/*
 * gelu (Hendrycks & Gimpel 2016): the exact form 0.5 x (1 + erf(x / sqrt 2)) or the tanh
 * approximation 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), as PyTorch's approximate='tanh'.
 */
#include <math.h>

#include "nn/ops/ops.h"

#define GELU_K 0.7978845608028654   /* sqrt(2 / pi) */

void gelu_forward_cpu(float *out /* (n) */, const float *x /* (n) */, int64_t n, bool approximate) {
  for (int64_t i = 0; i < n; i++) {
    double v = x[i];
    out[i] = approximate ? (float)(0.5 * v * (1.0 + tanh(GELU_K * (v + 0.044715 * v * v * v))))
                         : (float)(0.5 * v * (1.0 + erf(v * M_SQRT1_2)));
  }
}

void gelu_backward_cpu(float *dx /* (n) */, const float *dout /* (n) */, const float *x /* (n) */, int64_t n,
                       bool approximate) {
  for (int64_t i = 0; i < n; i++) {
    double v = x[i], d;
    if (approximate) {
      double t = tanh(GELU_K * (v + 0.044715 * v * v * v));
      d = 0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * GELU_K * (1.0 + 3.0 * 0.044715 * v * v);
    } else {
      d = 0.5 * (1.0 + erf(v * M_SQRT1_2)) + v * exp(-0.5 * v * v) * 0.3989422804014327;
    }
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
