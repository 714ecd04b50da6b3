/*
 * lstm: one LSTM layer (Hochreiter & Schmidhuber 1997, with a forget gate) with PyTorch's
 * equations and gate order (i, f, g, o):
 *   i = sigmoid(W_ii x + b_ii + W_hi h + b_hi)    f = sigmoid(W_if x + b_if + W_hf h + b_hf)
 *   g = tanh(W_ig x + b_ig + W_hg h + b_hg)       o = sigmoid(W_io x + b_io + W_ho h + b_ho)
 *   c' = f * c + i * g                            h' = o * tanh(c')
 * The time loop, padding (which freezes c as well as h) and the gemms are src/nn/recurrent.c's;
 * this file is the cell. Saved per step and unit: i, f, g, o (the cell states are kept beside
 * the hidden ones).
 */
#include "nn/ops/ops.h"

RK_VECTOR_CLONES static void lstm_step(float *restrict h /* (H) */, float *restrict c /* (H) */, float *restrict saved /* (4H) */, const float *restrict gx /* (4H) */,
                      const float *restrict gh /* (4H) */, const float *restrict h_prev, const float *restrict c_prev /* (H) */, int64_t H) {
  (void)h_prev;
  for (int64_t k = 0; k < H; k++) {
    float i = rk_sigmoidf_fast(gx[k] + gh[k]), f = rk_sigmoidf_fast(gx[H + k] + gh[H + k]);
    float gg = rk_tanhf_fast(gx[2 * H + k] + gh[2 * H + k]), o = rk_sigmoidf_fast(gx[3 * H + k] + gh[3 * H + k]);
    c[k] = f * c_prev[k] + i * gg;
    h[k] = o * rk_tanhf_fast(c[k]);
    saved[k] = i;
    saved[H + k] = f;
    saved[2 * H + k] = gg;
    saved[3 * H + k] = o;
  }
}

RK_VECTOR_CLONES static void lstm_step_back(float *restrict dgx /* (4H) */, float *restrict dgh /* (4H) */, float *restrict dh_prev /* (H) */,
                           float *restrict dc_prev /* (H) */, const float *restrict dh /* (H) */, const float *restrict dc /* (H) */,
                           const float *restrict saved /* (4H) */, const float *restrict h, const float *restrict h_prev,
                           const float *restrict c /* (H) */, const float *restrict c_prev /* (H) */, int64_t H) {
  (void)h;
  (void)h_prev;
  for (int64_t k = 0; k < H; k++) {
    float i = saved[k], f = saved[H + k], gg = saved[2 * H + k], o = saved[3 * H + k], tc = rk_tanhf_fast(c[k]);
    float dct = dc[k] + dh[k] * o * (1.0f - tc * tc);
    dgx[k] = dct * gg * i * (1.0f - i);
    dgx[H + k] = dct * c_prev[k] * f * (1.0f - f);
    dgx[2 * H + k] = dct * i * (1.0f - gg * gg);
    dgx[3 * H + k] = dh[k] * tc * o * (1.0f - o);
    dc_prev[k] = dct * f;
    dh_prev[k] = 0.0f;   /* h reaches the past only through the gates: the gemm adds that */
  }
  /* every gate's input- and hidden-side pre-activations are summed: one gradient for both (written
   * once in the loop: more output streams, or a memset before it, kept it from vectorising) */
  memcpy(dgh, dgx, (size_t)(4 * H) * sizeof(float));
}

static const rk_recurrent_cell lstm_cell = {4, 4, true, lstm_step, lstm_step_back};

rk_status lstm_node_forward_cpu(rk_graph *g, const rk_node *n) { return recurrent_node_forward_cpu(&lstm_cell, g, n); }
void lstm_node_backward_cpu(rk_graph *g, const rk_node *n) { recurrent_node_backward_cpu(&lstm_cell, g, n); }

rk_status rk_graph_lstm(rk_graph *g, int *out, int x, int step_ids, int64_t padding, rk_param *w_ih, rk_param *w_hh,
                        rk_param *b_ih, rk_param *b_hh) {
  return rk_graph_recurrent(g, out, &lstm_cell, RK_OP_LSTM, x, step_ids, padding, w_ih, w_hh, b_ih, b_hh);
}
