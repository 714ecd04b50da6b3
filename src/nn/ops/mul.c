/*
 * mul: out = a * b elementwise, b of a's shape or a trailing part of it (broadcast as in add).
 */
#include "nn/ops/ops.h"

void mul_forward_cpu(float *out /* (R, I) */, const float *a /* (R, I) */, const float *b /* (I) */,
                     int64_t R, int64_t I) {
  for (int64_t r = 0; r < R; r++)
    for (int64_t i = 0; i < I; i++) out[r * I + i] = a[r * I + i] * b[i];
}

void mul_backward_cpu(float *da /* (R, I) */, float *db /* (I) */, const float *dout /* (R, I) */,
                      const float *a /* (R, I) */, const float *b /* (I) */, int64_t R, int64_t I) {
  for (int64_t r = 0; r < R; r++)
    for (int64_t i = 0; i < I; i++) {
      if (da) da[r * I + i] += dout[r * I + i] * b[i];
      if (db) db[i] += dout[r * I + i] * a[r * I + i];
    }
}

rk_status mul_node_forward_cpu(rk_graph *g, const rk_node *n) {
  int64_t I = rk_val(g, n->in[1])->numel, R = rk_val(g, n->in[0])->numel / I;
  mul_forward_cpu(rk_x(g, n->out[0]), rk_x(g, n->in[0]), rk_x(g, n->in[1]), R, I);
  return RK_OK;
}

void mul_node_backward_cpu(rk_graph *g, const rk_node *n) {
  int64_t I = rk_val(g, n->in[1])->numel, R = rk_val(g, n->in[0])->numel / I;
  mul_backward_cpu(rk_dx(g, n->in[0]), rk_dx(g, n->in[1]), rk_dx(g, n->out[0]), rk_x(g, n->in[0]),
                   rk_x(g, n->in[1]), R, I);
}

rk_status rk_graph_mul(rk_graph *g, int *out, int a, int b) {
  RK_TRY(rk_graph_broadcast_check(g, a, b, "mul"));
  int in[2] = {a, b};
  const rk_value *av = rk_val(g, a);
  return rk_graph_simple_node(g, NULL, out, RK_OP_MUL, 2, in, RK_DT_F32, av->ndim, av->shape);
}
