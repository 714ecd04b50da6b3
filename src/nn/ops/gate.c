/*
 * gate: the mixture-of-experts gate (MMoE, Ma et al. 2018, eq. 3-5): p = softmax(logits / T)
 * over E experts, out (B, D) = sum_e p_e * experts (B, E, D). Forward saves p (B, E).
 */
#include <math.h>

#include "nn/graph_internal.h"

void gate_forward_cpu(float *out /* (B, D) */, float *p /* (B, E) */, const float *experts /* (B, E, D) */,
                      const float *logits /* (B, E) */, int64_t B, int64_t E, int64_t D, float temperature) {
  for (int64_t b = 0; b < B; b++) {
    const float *l = logits + b * E;
    float *pb = p + b * E;
    float mx = l[0];
    for (int64_t e = 1; e < E; e++) mx = l[e] > mx ? l[e] : mx;
    double z = 0.0;
    for (int64_t e = 0; e < E; e++) z += pb[e] = expf((l[e] - mx) / temperature);
    for (int64_t e = 0; e < E; e++) pb[e] = (float)(pb[e] / z);
    for (int64_t d = 0; d < D; d++) {
      float s = 0.0f;
      for (int64_t e = 0; e < E; e++) s += pb[e] * experts[(b * E + e) * D + d];
      out[b * D + d] = s;
    }
  }
}

void gate_backward_cpu(float *dexperts /* (B, E, D) */, float *dlogits /* (B, E) */, float *dp /* (E) */,
                       const float *dout /* (B, D) */, const float *p /* (B, E) */,
                       const float *experts /* (B, E, D) */, int64_t B, int64_t E, int64_t D, float temperature) {
  for (int64_t b = 0; b < B; b++) {
    const float *pb = p + b * E, *go = dout + b * D;
    double dot = 0.0;
    for (int64_t e = 0; e < E; e++) {
      const float *x = experts + (b * E + e) * D;
      float s = 0.0f;
      for (int64_t d = 0; d < D; d++) {
        s += go[d] * x[d];
        if (dexperts) dexperts[(b * E + e) * D + d] += pb[e] * go[d];
      }
      dp[e] = s;
      dot += (double)pb[e] * s;
    }
    if (dlogits)
      for (int64_t e = 0; e < E; e++) dlogits[b * E + e] += pb[e] * (dp[e] - (float)dot) / temperature;
  }
}

rk_status gate_node_forward_cpu(rk_graph *g, const rk_node *n) {
  const rk_value *x = rk_val(g, n->in[0]);
  gate_forward_cpu(rk_x(g, n->out[0]), n->saved, rk_x(g, n->in[0]), rk_x(g, n->in[1]), x->shape[0], x->shape[1],
                   x->shape[2], n->fattr[0]);
  return RK_OK;
}

void gate_node_backward_cpu(rk_graph *g, const rk_node *n) {
  const rk_value *x = rk_val(g, n->in[0]);
  gate_backward_cpu(rk_dx(g, n->in[0]), rk_dx(g, n->in[1]), n->ws_bwd, rk_dx(g, n->out[0]), n->saved,
                    rk_x(g, n->in[0]), x->shape[0], x->shape[1], x->shape[2], n->fattr[0]);
}

rk_status rk_graph_gate(rk_graph *g, int *out, int experts, int logits, float temperature) {
  RK_TRY(rk_graph_check_value(g, experts, "gate"));
  RK_TRY(rk_graph_check_value(g, logits, "gate"));
  const rk_value *x = rk_val(g, experts), *l = rk_val(g, logits);
  char bx[96], bl[96];
  if (x->ndim != 3 || l->ndim != 2 || l->shape[0] != x->shape[0] || l->shape[1] != x->shape[1])
    return rk_error(RK_ESHAPE, "gate: experts %s and logits %s must be (B, E, D) and (B, E)",
                    rk_shape_str(x, bx, sizeof bx), rk_shape_str(l, bl, sizeof bl));
  if (!(temperature > 0.0f)) return rk_error(RK_EINVAL, "gate: temperature %g must be positive", temperature);
  int in[2] = {experts, logits};
  int64_t shape[2] = {x->shape[0], x->shape[2]};
  rk_node *n;
  RK_TRY(rk_graph_simple_node(g, &n, out, RK_OP_GATE, 2, in, RK_DT_F32, 2, shape));
  n->fattr[0] = temperature;
  x = rk_val(g, experts);   /* the value table may have moved */
  n->saved_bytes = (size_t)(x->shape[0] * x->shape[1]) * sizeof(float);
  n->ws_bwd_bytes = (size_t)x->shape[1] * sizeof(float);
  return RK_OK;
}
