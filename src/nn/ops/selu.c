/*
 * selu (Klambauer et al. 2017, "Self-Normalizing Neural Networks", eq. 2):
 * out = lambda * (x > 0 ? x : alpha (exp(x) - 1)).
 */
#include <math.h>

#include "nn/ops/ops.h"

#define SELU_ALPHA 1.6732632423543772
#define SELU_LAMBDA 1.0507009873554805

void selu_forward_cpu(float *out /* (n) */, const float *x /* (n) */, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    out[i] = (float)(SELU_LAMBDA * (x[i] > 0.0f ? x[i] : SELU_ALPHA * expm1(x[i])));
}

void selu_backward_cpu(float *dx /* (n) */, const float *dout /* (n) */, const float *x /* (n) */, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    dx[i] += (float)(dout[i] * SELU_LAMBDA * (x[i] > 0.0f ? 1.0 : SELU_ALPHA * exp(x[i])));
}

rk_status selu_node_forward_cpu(rk_graph *g, const rk_node *n) {
  selu_forward_cpu(rk_x(g, n->out[0]), rk_x(g, n->in[0]), rk_val(g, n->in[0])->numel);
  return RK_OK;
}

void selu_node_backward_cpu(rk_graph *g, const rk_node *n) {
  if (rk_dx(g, n->in[0]))
    selu_backward_cpu(rk_dx(g, n->in[0]), rk_dx(g, n->out[0]), rk_x(g, n->in[0]), rk_val(g, n->in[0])->numel);
}

rk_status rk_graph_selu(rk_graph *g, int *out, int x) { return rk_graph_unary(g, out, x, RK_OP_SELU, NULL); }
