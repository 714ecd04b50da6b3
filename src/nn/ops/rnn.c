/*
 * rnn: one plain recurrent layer (Elman 1990) as PyTorch's nn.RNN with nonlinearity='tanh':
 *   h' = tanh(W_ih x + b_ih + W_hh h + b_hh)
 * The time loop, padding and the gemms are src/nn/recurrent.c's; this file is the cell. Nothing
 * is saved beyond the states: the derivative comes from h' itself.
 */
#include "nn/ops/ops.h"

RK_VECTOR_CLONES static void rnn_step(float *restrict h /* (H) */, float *restrict c, float *restrict saved, const float *restrict gx /* (H) */, const float *restrict gh /* (H) */,
                     const float *restrict h_prev, const float *restrict c_prev, int64_t H) {
  (void)c;
  (void)saved;
  (void)h_prev;
  (void)c_prev;
  for (int64_t k = 0; k < H; k++) h[k] = rk_tanhf_fast(gx[k] + gh[k]);
}

RK_VECTOR_CLONES static void rnn_step_back(float *restrict dgx /* (H) */, float *restrict dgh /* (H) */, float *restrict dh_prev /* (H) */, float *restrict dc_prev,
                          const float *restrict dh /* (H) */, const float *restrict dc, const float *restrict saved, const float *restrict h /* (H) */,
                          const float *restrict h_prev, const float *restrict c, const float *restrict c_prev, int64_t H) {
  (void)dc_prev;
  (void)dc;
  (void)saved;
  (void)h_prev;
  (void)c;
  (void)c_prev;
  for (int64_t k = 0; k < H; k++) {
    dgx[k] = dgh[k] = dh[k] * (1.0f - h[k] * h[k]);
    dh_prev[k] = 0.0f;   /* only through W_hh: the gemm adds that */
  }
}

static const rk_recurrent_cell rnn_cell = {1, 0, false, rnn_step, rnn_step_back};

rk_status rnn_node_forward_cpu(rk_graph *g, const rk_node *n) { return recurrent_node_forward_cpu(&rnn_cell, g, n); }
void rnn_node_backward_cpu(rk_graph *g, const rk_node *n) { recurrent_node_backward_cpu(&rnn_cell, g, n); }

rk_status rk_graph_rnn(rk_graph *g, int *out, int x, int step_ids, int64_t padding, rk_param *w_ih, rk_param *w_hh,
                       rk_param *b_ih, rk_param *b_hh) {
  return rk_graph_recurrent(g, out, &rnn_cell, RK_OP_RNN, x, step_ids, padding, w_ih, w_hh, b_ih, b_hh);
}
