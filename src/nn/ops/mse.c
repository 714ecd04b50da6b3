/*
 * mse: loss = mean_i w_i (pred_i - target_i)^2, PyTorch's MSELoss (reduction 'mean') with Keras'
 * per-example weights (sum of weighted losses over the batch size). Weights get no gradient.
 */
#include "nn/ops/ops.h"

void mse_forward_cpu(float *loss /* (1) */, const float *p /* (n) */, const float *t /* (n) */,
                     const float *w /* (n) or NULL */, int64_t n) {
  double s = 0.0;
  for (int64_t i = 0; i < n; i++) {
    double d = (double)p[i] - t[i];
    s += w ? w[i] * d * d : d * d;
  }
  loss[0] = (float)(s / (double)n);
}

void mse_backward_cpu(float *dp /* (n) */, float *dt /* (n) */, const float *dloss /* (1) */,
                      const float *p /* (n) */, const float *t /* (n) */, const float *w /* (n) or NULL */,
                      int64_t n) {
  float scale = 2.0f * dloss[0] / (float)n;
  for (int64_t i = 0; i < n; i++) {
    float d = scale * (w ? w[i] : 1.0f) * (p[i] - t[i]);
    if (dp) dp[i] += d;
    if (dt) dt[i] -= d;
  }
}

rk_status mse_node_forward_cpu(rk_graph *g, const rk_node *n) {
  mse_forward_cpu(rk_x(g, n->out[0]), rk_x(g, n->in[0]), rk_x(g, n->in[1]), n->n_in > 2 ? rk_x(g, n->in[2]) : NULL,
                  rk_val(g, n->in[0])->numel);
  return RK_OK;
}

void mse_node_backward_cpu(rk_graph *g, const rk_node *n) {
  mse_backward_cpu(rk_dx(g, n->in[0]), rk_dx(g, n->in[1]), rk_dx(g, n->out[0]), rk_x(g, n->in[0]),
                   rk_x(g, n->in[1]), n->n_in > 2 ? rk_x(g, n->in[2]) : NULL, rk_val(g, n->in[0])->numel);
}

rk_status rk_graph_mse(rk_graph *g, int *out, int pred, int target, int weights) {
  int in[3] = {pred, target, weights};
  int n_in = weights == RK_NO_VALUE ? 2 : 3;
  RK_TRY(rk_graph_loss_check(g, n_in, in, "mse"));
  return rk_graph_simple_node(g, NULL, out, RK_OP_MSE, n_in, in, RK_DT_F32, 0, NULL);
}
