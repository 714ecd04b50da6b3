/*
 * batch_norm (Ioffe & Szegedy 2015) of x (N, C) per feature C. Train normalises with the batch
 * mean and biased variance and updates the running statistics as PyTorch's BatchNorm1d does
 * (running = (1 - momentum) running + momentum * batch, with the unbiased variance); eval uses
 * the running statistics. Forward saves (mean, rstd) per feature; the running ones are the op's
 * state (graph-owned, rk_graph_batch_norm_running).
 */
#include <math.h>

#include "nn/ops/ops.h"

void batch_norm_forward_cpu(float *out /* (N, C) */, float *stats /* (C, 2) */, float *running /* (2, C) */,
                            const float *x /* (N, C) */, const float *gamma /* (C) */, const float *beta /* (C) */,
                            int64_t N, int64_t C, float eps, float momentum, bool train) {
  for (int64_t c = 0; c < C; c++) {
    float mean, rstd;
    if (train) {
      double m = 0.0, v = 0.0;
      for (int64_t i = 0; i < N; i++) m += x[i * C + c];
      m /= (double)N;
      for (int64_t i = 0; i < N; i++) v += (x[i * C + c] - m) * (x[i * C + c] - m);
      mean = (float)m;
      rstd = (float)(1.0 / sqrt(v / (double)N + eps));
      stats[2 * c] = mean;
      stats[2 * c + 1] = rstd;
      running[c] = (1.0f - momentum) * running[c] + momentum * mean;
      running[C + c] = (1.0f - momentum) * running[C + c] + momentum * (float)(N > 1 ? v / (double)(N - 1) : v);
    } else {
      mean = running[c];
      rstd = 1.0f / sqrtf(running[C + c] + eps);
    }
    for (int64_t i = 0; i < N; i++)
      out[i * C + c] = (x[i * C + c] - mean) * rstd * (gamma ? gamma[c] : 1.0f) + (beta ? beta[c] : 0.0f);
  }
}

void batch_norm_backward_cpu(float *dx /* (N, C) */, float *dgamma /* (C) */, float *dbeta /* (C) */,
                             const float *dout /* (N, C) */, const float *x /* (N, C) */, const float *stats /* (C, 2) */,
                             const float *gamma /* (C) */, int64_t N, int64_t C) {
  for (int64_t c = 0; c < C; c++) {
    float mean = stats[2 * c], rstd = stats[2 * c + 1], gm = gamma ? gamma[c] : 1.0f;
    double s1 = 0.0, s2 = 0.0;
    for (int64_t i = 0; i < N; i++) {
      float xh = (x[i * C + c] - mean) * rstd, dy = dout[i * C + c];
      s1 += dy;
      s2 += dy * xh;
    }
    if (dgamma) dgamma[c] += (float)s2;
    if (dbeta) dbeta[c] += (float)s1;
    float m1 = (float)(s1 / (double)N), m2 = (float)(s2 / (double)N);
    if (dx)
      for (int64_t i = 0; i < N; i++) {
        float xh = (x[i * C + c] - mean) * rstd;
        dx[i * C + c] += gm * rstd * (dout[i * C + c] - m1 - xh * m2);
      }
  }
}

static void parts(const rk_node *n, const rk_param **gm, const rk_param **bt) {
  int k = 0;
  *gm = n->iattr[0] ? n->params[k++] : NULL;
  *bt = n->iattr[1] ? n->params[k] : NULL;
}

rk_status batch_norm_node_forward_cpu(rk_graph *g, const rk_node *n) {
  const rk_value *x = rk_val(g, n->in[0]);
  const rk_param *gm, *bt;
  parts(n, &gm, &bt);
  int64_t C = x->shape[x->ndim - 1];
  batch_norm_forward_cpu(rk_x(g, n->out[0]), n->saved, n->state, rk_x(g, n->in[0]), gm ? gm->value.data : NULL,
                         bt ? bt->value.data : NULL, x->numel / C, C, n->fattr[0], n->fattr[1], rk_graph_training(g));
  return RK_OK;
}

void batch_norm_node_backward_cpu(rk_graph *g, const rk_node *n) {
  const rk_value *x = rk_val(g, n->in[0]);
  const rk_param *gm, *bt;
  parts(n, &gm, &bt);
  int64_t C = x->shape[x->ndim - 1];
  batch_norm_backward_cpu(rk_dx(g, n->in[0]), gm ? gm->grad.data : NULL, bt ? bt->grad.data : NULL, rk_dx(g, n->out[0]),
                          rk_x(g, n->in[0]), n->saved, gm ? gm->value.data : NULL, x->numel / C, C);
}

/* The running statistics (mean, var), (2, C), start at (0, 1), as PyTorch's. */
void batch_norm_node_init_state_cpu(rk_graph *g, const rk_node *n) {
  (void)g;
  for (size_t c = n->state_floats / 2; c < n->state_floats; c++) n->state[c] = 1.0f;
}

float *rk_graph_batch_norm_running(rk_graph *g, int bn, bool var) {
  if (bn < 0 || bn >= g->n_values || g->values[bn].producer < 0) return NULL;
  rk_node *n = &g->nodes[g->values[bn].producer];
  if (n->op != RK_OP_BATCH_NORM || !n->state) return NULL;
  return n->state + (var ? n->state_floats / 2 : 0);
}

rk_status rk_graph_batch_norm(rk_graph *g, int *out, int x, rk_param *gamma, rk_param *beta, float eps,
                              float momentum) {
  RK_TRY(rk_graph_check_value(g, x, "batch_norm"));
  const rk_value *xv = rk_val(g, x);
  char bx[96];
  if (xv->ndim < 2 || xv->dtype != RK_DT_F32)
    return rk_error(RK_ESHAPE, "batch_norm: input %s must be (N, C)", rk_shape_str(xv, bx, sizeof bx));
  int64_t C = xv->shape[xv->ndim - 1];
  rk_param *ps[2] = {gamma, beta};
  for (int k = 0; k < 2; k++)
    if (ps[k] && (ps[k]->value.ndim != 1 || ps[k]->value.shape[0] != C))
      return rk_error(RK_ESHAPE, "batch_norm: '%s' must be (%lld) for input %s", ps[k]->name, (long long)C,
                      rk_shape_str(xv, bx, sizeof bx));
  rk_node *n;
  RK_TRY(rk_graph_simple_node(g, &n, out, RK_OP_BATCH_NORM, 1, &x, RK_DT_F32, xv->ndim, xv->shape));
  n->fattr[0] = eps;
  n->fattr[1] = momentum;
  n->iattr[0] = gamma != NULL;
  n->iattr[1] = beta != NULL;
  n->saved_bytes = (size_t)(2 * C) * sizeof(float);
  n->state_floats = (size_t)(2 * C);
  if (gamma) RK_TRY(rk_graph_node_add_param(g, n, gamma));
  if (beta) RK_TRY(rk_graph_node_add_param(g, n, beta));
  return RK_OK;
}
