/*
 * gate: the mixture-of-experts gate (MMoE, Ma et al. 2018, eq. 3-5): p = softmax(logits / T)
 * over E experts, out (B, D) = sum_e p_e * experts (B, E, D). Forward saves p (B, E).
 */
#include <math.h>

#include "nn/ops/ops.h"

typedef struct {
  float *out, *p, *dexperts, *dlogits;
  const float *experts, *logits, *dout, *saved_p;
  int64_t E, D;
  float temperature;
} gate_ctx;

/* Rows are independent: any split over threads gives the same bits. */
static void forward_rows(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const gate_ctx *c = arg;
  int64_t E = c->E, D = c->D;
  for (int64_t b = begin; b < end; b++) {
    const float *l = c->logits + b * E;
    float *pb = c->p + b * E, *o = c->out + b * D;
    float mx = l[0];
    for (int64_t e = 1; e < E; e++) mx = l[e] > mx ? l[e] : mx;
    double z = 0.0;
    for (int64_t e = 0; e < E; e++) z += pb[e] = expf((l[e] - mx) / c->temperature);
    for (int64_t e = 0; e < E; e++) pb[e] = (float)(pb[e] / z);
    /* Expert by expert, so the inner loop runs along D (the sum's order over e is unchanged). */
    const float *x = c->experts + b * E * D;
    for (int64_t d = 0; d < D; d++) o[d] = pb[0] * x[d];
    for (int64_t e = 1; e < E; e++)
      for (int64_t d = 0; d < D; d++) o[d] += pb[e] * x[e * D + d];
  }
}

void gate_forward_cpu(float *out /* (B, D) */, float *p /* (B, E) */, const float *experts /* (B, E, D) */,
                      const float *logits /* (B, E) */, int64_t B, int64_t E, int64_t D, float temperature) {
  gate_ctx c = {out, p, NULL, NULL, experts, logits, NULL, NULL, E, D, temperature};
  rk_parallel_for(B, rk_row_grain(2 * E * D), forward_rows, &c);
}

static void backward_rows(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const gate_ctx *c = arg;
  int64_t E = c->E, D = c->D;
  float dp[64];   /* the first 64 experts' dots, kept; more are recomputed */
  for (int64_t b = begin; b < end; b++) {
    const float *pb = c->saved_p + b * E, *go = c->dout + b * D;
    double dot_sum = 0.0;
    for (int64_t e = 0; e < E; e++) {
      const float *x = c->experts + (b * E + e) * D;
      float s = rk_dot8(go, x, D);
      if (c->dexperts) {
        float *dx = c->dexperts + (b * E + e) * D;
        for (int64_t d = 0; d < D; d++) dx[d] += pb[e] * go[d];
      }
      if (e < 64) dp[e] = s;
      dot_sum += (double)pb[e] * s;
    }
    if (c->dlogits)
      for (int64_t e = 0; e < E; e++) {
        float s = e < 64 ? dp[e] : rk_dot8(go, c->experts + (b * E + e) * D, D);
        c->dlogits[b * E + e] += pb[e] * (s - (float)dot_sum) / c->temperature;
      }
  }
}

void gate_backward_cpu(float *dexperts /* (B, E, D) */, float *dlogits /* (B, E) */, const float *dout /* (B, D) */,
                              const float *p /* (B, E) */, const float *experts /* (B, E, D) */, int64_t B, int64_t E,
                              int64_t D, float temperature) {
  gate_ctx c = {NULL, NULL, dexperts, dlogits, experts, NULL, dout, p, E, D, temperature};
  rk_parallel_for(B, rk_row_grain(3 * E * D), backward_rows, &c);
}

rk_status gate_node_forward_cpu(rk_graph *g, const rk_node *n) {
  const rk_value *x = rk_val(g, n->in[0]);
  gate_forward_cpu(rk_x(g, n->out[0]), n->saved, rk_x(g, n->in[0]), rk_x(g, n->in[1]), x->shape[0], x->shape[1],
                   x->shape[2], n->fattr[0]);
  return RK_OK;
}

void gate_node_backward_cpu(rk_graph *g, const rk_node *n) {
  const rk_value *x = rk_val(g, n->in[0]);
  gate_backward_cpu(rk_dx(g, n->in[0]), rk_dx(g, n->in[1]), rk_dx(g, n->out[0]), n->saved,
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
  return RK_OK;
}
