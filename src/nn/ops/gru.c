/*
 * gru: one GRU layer (Cho et al. 2014) with PyTorch's equations and gate order (r, z, n):
 *   r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
 *   z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
 *   n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
 *   h' = (1 - z) * n + z * h
 * The time loop, padding and the gemms are src/nn/recurrent.c's; this file is the cell. Saved
 * per step and unit: r, z, n and W_hn h + b_hn.
 */
#include "nn/ops/ops.h"

RK_VECTOR_CLONES static void gru_step(float *restrict h /* (H) */, float *restrict c, float *restrict saved /* (4H) */, const float *restrict gx /* (3H) */,
                     const float *restrict gh /* (3H) */, const float *restrict h_prev /* (H) */, const float *restrict c_prev, int64_t H) {
  (void)c;
  (void)c_prev;
  for (int64_t k = 0; k < H; k++) {
    float r = rk_sigmoidf_fast(gx[k] + gh[k]), z = rk_sigmoidf_fast(gx[H + k] + gh[H + k]), hn = gh[2 * H + k];
    float n = rk_tanhf_fast(gx[2 * H + k] + r * hn);
    h[k] = (1.0f - z) * n + z * h_prev[k];
    saved[k] = r;
    saved[H + k] = z;
    saved[2 * H + k] = n;
    saved[3 * H + k] = hn;
  }
}

RK_VECTOR_CLONES static void gru_step_back(float *restrict dgx /* (3H) */, float *restrict dgh /* (3H) */, float *restrict dh_prev /* (H) */, float *restrict dc_prev,
                          const float *restrict dh /* (H) */, const float *restrict dc, const float *restrict saved /* (4H) */, const float *restrict h,
                          const float *restrict h_prev /* (H) */, const float *restrict c, const float *restrict c_prev, int64_t H) {
  (void)dc_prev;
  (void)dc;
  (void)h;
  (void)c;
  (void)c_prev;
  for (int64_t k = 0; k < H; k++) {
    float r = saved[k], z = saved[H + k], n = saved[2 * H + k], hn = saved[3 * H + k];
    float dn = dh[k] * (1.0f - z) * (1.0f - n * n);
    float dz = dh[k] * (h_prev[k] - n) * z * (1.0f - z);
    float dr = dn * hn * r * (1.0f - r);
    dgx[k] = dgh[k] = dr;
    dgx[H + k] = dgh[H + k] = dz;
    dgx[2 * H + k] = dn;
    dgh[2 * H + k] = dn * r;
    dh_prev[k] = dh[k] * z;
  }
}

static const rk_recurrent_cell gru_cell = {3, 4, false, gru_step, gru_step_back};

rk_status gru_node_forward_cpu(rk_graph *g, const rk_node *n) { return recurrent_node_forward_cpu(&gru_cell, g, n); }
void gru_node_backward_cpu(rk_graph *g, const rk_node *n) { recurrent_node_backward_cpu(&gru_cell, g, n); }

rk_status rk_graph_gru(rk_graph *g, int *out, int x, int step_ids, int64_t padding, rk_param *w_ih, rk_param *w_hh,
                       rk_param *b_ih, rk_param *b_hh) {
  return rk_graph_recurrent(g, out, &gru_cell, RK_OP_GRU, x, step_ids, padding, w_ih, w_hh, b_ih, b_hh);
}
