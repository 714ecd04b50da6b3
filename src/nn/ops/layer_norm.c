/*
 * layer_norm (Ba et al. 2016) over the last axis D: out = (x - mean) * rstd * gamma + beta,
 * biased variance, as PyTorch's LayerNorm. Forward saves (mean, rstd) per row. Row sums are in
 * double, over fixed lanes. On a value with rows in use (docs/design.md, "Rows in use") it
 * normalises those rows only, and its output has them in use.
 */
#include <math.h>

#include "nn/ops/ops.h"

/* Row sums in LANES double lanes added in lane order at the end (the order is the code's, so
 * the bits are too): the lanes vectorise where one double chain ran at an add's latency, which
 * made both passes of a d_model 64 row a third of the op. */
enum { LANES = 8 };

static double lanes_total(const double *lane) {
  return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
}

static double row_mean(const float *x /* (D) */, int64_t D) {
  double lane[LANES] = {0};
  int64_t d = 0;
  for (; d + LANES <= D; d += LANES)
    for (int l = 0; l < LANES; l++) lane[l] += x[d + l];
  for (; d < D; d++) lane[d % LANES] += x[d];
  return lanes_total(lane) / (double)D;
}

static double row_variance(const float *x /* (D) */, int64_t D, double m) {
  double lane[LANES] = {0};
  int64_t d = 0;
  for (; d + LANES <= D; d += LANES)
    for (int l = 0; l < LANES; l++) lane[l] += (x[d + l] - m) * (x[d + l] - m);
  for (; d < D; d++) lane[d % LANES] += (x[d] - m) * (x[d] - m);
  return lanes_total(lane) / (double)D;
}

void layer_norm_forward_cpu(float *out /* (R, D) */, float *stats /* (R, 2) */, const float *x /* (R, D) */,
                            const float *gamma /* (D) */, const float *beta /* (D) */, int64_t R, int64_t D, float eps) {
  for (int64_t r = 0; r < R; r++) {
    const float *xr = x + r * D;
    double m = row_mean(xr, D), v = row_variance(xr, D, m);
    float rstd = (float)(1.0 / sqrt(v + eps)), mean = (float)m;
    for (int64_t d = 0; d < D; d++) {
      float xh = (xr[d] - mean) * rstd;
      out[r * D + d] = xh * (gamma ? gamma[d] : 1.0f) + (beta ? beta[d] : 0.0f);
    }
    stats[2 * r] = mean;
    stats[2 * r + 1] = rstd;
  }
}

/* sum_d g_d and sum_d g_d xh_d of a row, g = dy gamma (gamma NULL: 1), in lanes as above;
 * inlined with gamma known NULL or not, so the loop has no select. */
static inline void row_grad_sums(double *s1, double *s2, const float *dy, const float *xr, const float *gamma,
                                 float mean, float rstd, int64_t D) {
  double l1[LANES] = {0}, l2[LANES] = {0};
  int64_t d = 0;
  for (; d + LANES <= D; d += LANES)
    for (int l = 0; l < LANES; l++) {
      float xh = (xr[d + l] - mean) * rstd, g = dy[d + l] * (gamma ? gamma[d + l] : 1.0f);
      l1[l] += g;
      l2[l] += g * xh;
    }
  for (; d < D; d++) {
    float xh = (xr[d] - mean) * rstd, g = dy[d] * (gamma ? gamma[d] : 1.0f);
    l1[d % LANES] += g;
    l2[d % LANES] += g * xh;
  }
  *s1 = lanes_total(l1);
  *s2 = lanes_total(l2);
}

void layer_norm_backward_cpu(float *dx /* (R, D) */, float *dgamma /* (D) */, float *dbeta /* (D) */,
                             const float *dout /* (R, D) */, const float *x /* (R, D) */, const float *stats /* (R, 2) */,
                             const float *gamma /* (D) */, int64_t R, int64_t D) {
  for (int64_t r = 0; r < R; r++) {
    const float *xr = x + r * D, *dy = dout + r * D;
    float mean = stats[2 * r], rstd = stats[2 * r + 1];
    if (dgamma)
      for (int64_t d = 0; d < D; d++) dgamma[d] += dy[d] * ((xr[d] - mean) * rstd);
    if (dbeta)
      for (int64_t d = 0; d < D; d++) dbeta[d] += dy[d];
    if (!dx) continue;
    double s1, s2;
    if (gamma) row_grad_sums(&s1, &s2, dy, xr, gamma, mean, rstd, D);
    else row_grad_sums(&s1, &s2, dy, xr, NULL, mean, rstd, D);
    float m1 = (float)(s1 / (double)D), m2 = (float)(s2 / (double)D);
    for (int64_t d = 0; d < D; d++) {
      float xh = (xr[d] - mean) * rstd, g = dy[d] * (gamma ? gamma[d] : 1.0f);
      dx[r * D + d] += rstd * (g - m1 - xh * m2);
    }
  }
}

static void parts(const rk_node *n, const rk_param **gm, const rk_param **bt) {
  int k = 0;
  *gm = n->iattr[0] ? n->params[k++] : NULL;
  *bt = n->iattr[1] ? n->params[k] : NULL;
}

rk_status layer_norm_node_forward_cpu(rk_graph *g, const rk_node *n) {
  const rk_value *x = rk_val(g, n->in[0]);
  const rk_param *gm, *bt;
  parts(n, &gm, &bt);
  int64_t D = x->shape[x->ndim - 1];
  rk_val(g, n->out[0])->rows = x->rows;
  layer_norm_forward_cpu(rk_x(g, n->out[0]), n->saved ? n->saved : n->ws_fwd, rk_x(g, n->in[0]),
                         gm ? gm->value.data : NULL, bt ? bt->value.data : NULL, rk_val_numel_in_use(x) / D, D,
                         n->fattr[0]);
  return RK_OK;
}

void layer_norm_node_backward_cpu(rk_graph *g, const rk_node *n) {
  const rk_value *x = rk_val(g, n->in[0]);
  const rk_param *gm, *bt;
  parts(n, &gm, &bt);
  int64_t D = x->shape[x->ndim - 1];
  layer_norm_backward_cpu(rk_dx(g, n->in[0]), gm ? gm->grad.data : NULL, bt ? bt->grad.data : NULL, rk_dx(g, n->out[0]),
                          rk_x(g, n->in[0]), n->saved, gm ? gm->value.data : NULL, rk_val_numel_in_use(x) / D, D);
}

rk_status rk_graph_layer_norm(rk_graph *g, int *out, int x, rk_param *gamma, rk_param *beta, float eps) {
  RK_TRY(rk_graph_check_value(g, x, "layer_norm"));
  const rk_value *xv = rk_val(g, x);
  int64_t D = xv->shape[xv->ndim > 0 ? xv->ndim - 1 : 0];
  char bx[96];
  if (xv->ndim < 1 || xv->dtype != RK_DT_F32)
    return rk_error(RK_ESHAPE, "layer_norm: input %s needs a last axis", rk_shape_str(xv, bx, sizeof bx));
  rk_param *ps[2] = {gamma, beta};
  for (int k = 0; k < 2; k++)
    if (ps[k] && (ps[k]->value.ndim != 1 || ps[k]->value.shape[0] != D))
      return rk_error(RK_ESHAPE, "layer_norm: '%s' must be (%lld) for input %s", ps[k]->name, (long long)D,
                      rk_shape_str(xv, bx, sizeof bx));
  rk_node *n;
  RK_TRY(rk_graph_simple_node(g, &n, out, RK_OP_LAYER_NORM, 1, &x, RK_DT_F32, xv->ndim, xv->shape));
  n->fattr[0] = eps;
  n->iattr[0] = gamma != NULL;
  n->iattr[1] = beta != NULL;
  n->saved_bytes = (size_t)(2 * (rk_val(g, x)->numel / D)) * sizeof(float);
  if (gamma) RK_TRY(rk_graph_node_add_param(g, n, gamma));
  if (beta) RK_TRY(rk_graph_node_add_param(g, n, beta));
  return RK_OK;
}
