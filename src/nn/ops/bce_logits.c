/*
 * bce_logits: binary cross-entropy from logits with optional per-example weights,
 *   loss = mean_i w_i * (max(z_i, 0) - z_i y_i + log(1 + exp(-|z_i|)))
 * the numerically stable form (no exp of a large positive number), as PyTorch's
 * BCEWithLogitsLoss(weight=w, reduction='mean'). Labels and weights get no gradient. Logits
 * with rows in use (docs/design.md, "Rows in use": a packed discriminator's, session_rtd.c)
 * count those rows only, with the labels and weights in front: the mean is over them.
 */
#include <math.h>

#include "nn/ops/ops.h"

void bce_logits_forward_cpu(float *loss /* (1) */, const float *z /* (n) */, const float *y /* (n) */,
                            const float *w /* (n) or NULL */, int64_t n) {
  double s = 0.0;
  for (int64_t i = 0; i < n; i++) {
    double zi = z[i];
    double l = (zi > 0 ? zi : 0) - zi * y[i] + log1p(exp(-fabs(zi)));
    s += w ? w[i] * l : l;
  }
  loss[0] = (float)(s / (double)n);
}

void bce_logits_backward_cpu(float *dz /* (n) */, const float *dloss /* (1) */, const float *z /* (n) */,
                             const float *y /* (n) */, const float *w /* (n) or NULL */, int64_t n) {
  float scale = dloss[0] / (float)n;
  for (int64_t i = 0; i < n; i++) {
    float p = 1.0f / (1.0f + expf(-z[i]));
    dz[i] += scale * (w ? w[i] : 1.0f) * (p - y[i]);
  }
}

rk_status bce_logits_node_forward_cpu(rk_graph *g, const rk_node *n) {
  bce_logits_forward_cpu(rk_x(g, n->out[0]), rk_x(g, n->in[0]), rk_x(g, n->in[1]),
                         n->n_in > 2 ? rk_x(g, n->in[2]) : NULL, rk_val_numel_in_use(rk_val(g, n->in[0])));
  return RK_OK;
}

void bce_logits_node_backward_cpu(rk_graph *g, const rk_node *n) {
  if (rk_dx(g, n->in[0]))
    bce_logits_backward_cpu(rk_dx(g, n->in[0]), rk_dx(g, n->out[0]), rk_x(g, n->in[0]), rk_x(g, n->in[1]),
                            n->n_in > 2 ? rk_x(g, n->in[2]) : NULL, rk_val_numel_in_use(rk_val(g, n->in[0])));
}

/* Same numel and f32 for a loss's inputs. */
rk_status rk_graph_loss_check(const rk_graph *g, int n, const int *in, const char *op) {
  for (int k = 0; k < n; k++) RK_TRY(rk_graph_check_value(g, in[k], op));
  const rk_value *a = rk_val(g, in[0]);
  for (int k = 0; k < n; k++) {
    const rk_value *b = rk_val(g, in[k]);
    if (b->dtype != RK_DT_F32 || b->numel != a->numel) {
      char ba[96], bb[96];
      return rk_error(RK_ESHAPE, "%s: input %d of shape %s does not match input 0 of shape %s", op, k,
                      rk_shape_str(b, bb, sizeof bb), rk_shape_str(a, ba, sizeof ba));
    }
  }
  return RK_OK;
}

rk_status rk_graph_bce_logits(rk_graph *g, int *out, int logits, int labels, int weights) {
  int in[3] = {logits, labels, weights};
  int n_in = weights == RK_NO_VALUE ? 2 : 3;
  RK_TRY(rk_graph_loss_check(g, n_in, in, "bce_logits"));
  return rk_graph_simple_node(g, NULL, out, RK_OP_BCE_LOGITS, n_in, in, RK_DT_F32, 0, NULL);
}
