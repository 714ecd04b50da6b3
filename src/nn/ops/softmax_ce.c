/*
 * softmax_ce: cross-entropy of logits (R, C) divided by a temperature tau against integer
 * labels (R), PyTorch's CrossEntropyLoss(ignore_index, label_smoothing=eps, reduction='mean')
 * of z / tau:
 *   p_r = softmax(z_r / tau), loss_r = -(1 - eps) log p_{r,y} - (eps / C) sum_c log p_{r,c},
 * averaged over rows whose label is not ignore_index (0 when every row is ignored): the session
 * models' --softmax_temperature and --label_smoothing, padding rows (label 0) ignored. Labels
 * outside [0, C) fail forward. Logits with rows in use (gather_rows) are read on those rows,
 * with the same leading labels.
 */
#include <math.h>

#include "nn/ops/ops.h"

rk_status softmax_ce_forward_cpu(float *loss /* (1) */, const float *z /* (R, C) */, const int64_t *y /* (R) */,
                                 int64_t R, int64_t C, int64_t ignore, float eps, float tau) {
  double s = 0.0, inv = 1.0 / tau;
  int64_t valid = 0;
  for (int64_t r = 0; r < R; r++) {
    if (y[r] == ignore) continue;
    if (y[r] < 0 || y[r] >= C)
      return rk_error(RK_ERANGE, "softmax_ce: label %lld of row %lld is outside [0, %lld)", (long long)y[r],
                      (long long)r, (long long)C);
    const float *zr = z + r * C;
    float mx = zr[0];
    for (int64_t c = 1; c < C; c++) mx = zr[c] > mx ? zr[c] : mx;
    double se = 0.0, sum_logp = 0.0;
    for (int64_t c = 0; c < C; c++) se += exp(((double)zr[c] - mx) * inv);
    // cppcheck-suppress invalidFunctionArg ; se >= 1 (the max term is exp(0)) since C >= 1
    double lse = mx * inv + log(se);
    for (int64_t c = 0; c < C; c++) sum_logp += zr[c] * inv - lse;
    s += -(1.0 - eps) * (zr[y[r]] * inv - lse) - eps / (double)C * sum_logp;
    valid++;
  }
  loss[0] = valid ? (float)(s / (double)valid) : 0.0f;
  return RK_OK;
}

void softmax_ce_backward_cpu(float *dz /* (R, C) */, const float *dloss /* (1) */, const float *z /* (R, C) */,
                             const int64_t *y /* (R) */, int64_t R, int64_t C, int64_t ignore, float eps,
                             float tau) {
  int64_t valid = 0;
  for (int64_t r = 0; r < R; r++) valid += y[r] != ignore;
  if (!valid) return;
  float scale = dloss[0] / (float)valid / tau;
  double inv = 1.0 / tau;
  for (int64_t r = 0; r < R; r++) {
    if (y[r] == ignore) continue;
    const float *zr = z + r * C;
    float mx = zr[0];
    for (int64_t c = 1; c < C; c++) mx = zr[c] > mx ? zr[c] : mx;
    double se = 0.0;
    for (int64_t c = 0; c < C; c++) se += exp(((double)zr[c] - mx) * inv);
    for (int64_t c = 0; c < C; c++) {
      double p = exp(((double)zr[c] - mx) * inv) / se, target = eps / (double)C + (c == y[r] ? 1.0 - eps : 0.0);
      dz[r * C + c] += scale * (float)(p - target);
    }
  }
}

rk_status softmax_ce_node_forward_cpu(rk_graph *g, const rk_node *n) {
  const rk_value *z = rk_val(g, n->in[0]);
  int64_t C = z->shape[z->ndim - 1], R = z->rows * (z->numel / z->shape[0]) / C;
  return softmax_ce_forward_cpu(rk_x(g, n->out[0]), rk_x(g, n->in[0]), rk_xi(g, n->in[1]), R, C,
                                n->iattr[0], n->fattr[0], n->fattr[1]);
}

void softmax_ce_node_backward_cpu(rk_graph *g, const rk_node *n) {
  const rk_value *z = rk_val(g, n->in[0]);
  int64_t C = z->shape[z->ndim - 1], R = z->rows * (z->numel / z->shape[0]) / C;
  if (rk_dx(g, n->in[0]))
    softmax_ce_backward_cpu(rk_dx(g, n->in[0]), rk_dx(g, n->out[0]), rk_x(g, n->in[0]), rk_xi(g, n->in[1]),
                            R, C, n->iattr[0], n->fattr[0], n->fattr[1]);
}

rk_status rk_graph_softmax_ce(rk_graph *g, int *out, int logits, int labels, int64_t ignore_index, float smoothing,
                              float temperature) {
  RK_TRY(rk_graph_check_value(g, logits, "softmax_ce"));
  RK_TRY(rk_graph_check_value(g, labels, "softmax_ce"));
  const rk_value *z = rk_val(g, logits), *y = rk_val(g, labels);
  char bz[96], by[96];
  if (z->ndim < 1 || z->dtype != RK_DT_F32 || y->dtype != RK_DT_I64 ||
      y->numel * z->shape[z->ndim - 1] != z->numel)
    return rk_error(RK_ESHAPE, "softmax_ce: logits %s and int64 labels %s must be (R, C) and (R) or (R, 1)",
                    rk_shape_str(z, bz, sizeof bz), rk_shape_str(y, by, sizeof by));
  if (!(smoothing >= 0.0f && smoothing <= 1.0f))
    return rk_error(RK_EINVAL, "softmax_ce: label smoothing %g must be in [0, 1]", smoothing);
  if (!(temperature > 0.0f && temperature < INFINITY))
    return rk_error(RK_EINVAL, "softmax_ce: temperature %g must be positive and finite", temperature);
  int in[2] = {logits, labels};
  rk_node *n;
  RK_TRY(rk_graph_simple_node(g, &n, out, RK_OP_SOFTMAX_CE, 2, in, RK_DT_F32, 0, NULL));
  n->iattr[0] = ignore_index;
  n->fattr[0] = smoothing;
  n->fattr[1] = temperature;
  return RK_OK;
}
