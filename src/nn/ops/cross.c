/*
 * cross: a DCN-v2 cross layer (Wang et al. 2021, "DCN V2", eq. 1):
 *   out = x0 * (x w^T + b) + x,   x0, x (B, D), w (D, D), b (D)
 * and its low-rank form (sec. 5.1, eq. 2 with one expert): w = u v^T, u, v (D, R), so
 *   x w^T = (x v) u^T, two thin gemms instead of one square one.
 * Workspace: forward keeps h = x w^T + b (B, D) as saved for backward; the low-rank form also
 * saves t = x v (B, R). Backward: dh = dout * x0; dx0 += dout * h; dx += dout + dh w;
 * dw += dh^T x (or du += dh^T t, dt = dh u, dv += x^T dt, dx += dt v^T); db += sum dh.
 */
#include <string.h>

#include "nn/ops/ops.h"

#define SG(ta, tb, M, N, K, A, lda, Bm, ldb, beta, C, ldc)                                          \
  rk_sgemm(ta, tb, M, N, K, 1.0f, A, lda, Bm, ldb, \
              beta, C, ldc)

/* h (B, D) saved; t (B, R) saved (low rank); u, v NULL for full rank. */
void cross_forward_cpu(float *out /* (B, D) */, float *h /* (B, D) */, float *t /* (B, R) */,
                       const float *x0 /* (B, D) */, const float *x /* (B, D) */, const float *w /* (D, D) */,
                       const float *u /* (D, R) */, const float *v /* (D, R) */, const float *b /* (D) */,
                       int64_t B, int64_t D, int64_t R) {
  if (w) {
    SG(false, true, B, D, D, x, D, w, D, 0.0f, h, D);
  } else {
    SG(false, false, B, R, D, x, D, v, R, 0.0f, t, R);
    SG(false, true, B, D, R, t, R, u, R, 0.0f, h, D);
  }
  for (int64_t i = 0; i < B; i++)
    for (int64_t d = 0; d < D; d++) {
      float hv = h[i * D + d] + (b ? b[d] : 0.0f);
      h[i * D + d] = hv;
      out[i * D + d] = x0[i * D + d] * hv + x[i * D + d];
    }
}

/* dh (B, D), dt (B, R): workspace. */
void cross_backward_cpu(float *dx0, float *dx, float *dw, float *du, float *dv, float *db, float *dh, float *dt,
                        const float *dout /* (B, D) */, const float *h /* (B, D) */, const float *t /* (B, R) */,
                        const float *x0, const float *x, const float *w, const float *u, const float *v,
                        int64_t B, int64_t D, int64_t R) {
  for (int64_t k = 0; k < B * D; k++) {
    dh[k] = dout[k] * x0[k];
    if (dx0) dx0[k] += dout[k] * h[k];
    if (dx) dx[k] += dout[k];
  }
  if (db)
    for (int64_t i = 0; i < B; i++)
      for (int64_t d = 0; d < D; d++) db[d] += dh[i * D + d];
  if (w) {
    if (dx) SG(false, false, B, D, D, dh, D, w, D, 1.0f, dx, D);
    SG(true, false, D, D, B, dh, D, x, D, 1.0f, dw, D);
  } else {
    SG(true, false, D, R, B, dh, D, t, R, 1.0f, du, R);   /* du += dh^T t */
    SG(false, false, B, R, D, dh, D, u, R, 0.0f, dt, R); /* dt = dh u */
    SG(true, false, D, R, B, x, D, dt, R, 1.0f, dv, R);   /* dv += x^T dt */
    if (dx) SG(false, true, B, D, R, dt, R, v, R, 1.0f, dx, D);
  }
}

typedef struct {
  const rk_param *w, *u, *v, *b;
  int64_t B, D, R;
} cross_parts;

static cross_parts parts(const rk_graph *g, const rk_node *n) {
  cross_parts c = {0};
  bool low = n->iattr[0] > 0;
  int k = 0;
  if (low) {
    c.u = n->params[k++];
    c.v = n->params[k++];
  } else {
    c.w = n->params[k++];
  }
  if (n->iattr[1]) c.b = n->params[k];
  c.B = rk_val(g, n->in[0])->shape[0];
  c.D = rk_val(g, n->in[0])->shape[1];
  c.R = n->iattr[0];
  return c;
}
#define PV(p) ((p) ? (float *)(p)->value.data : NULL)
#define PG(p) ((p) ? (float *)(p)->grad.data : NULL)

rk_status cross_node_forward_cpu(rk_graph *g, const rk_node *n) {
  cross_parts c = parts(g, n);
  float *h = n->saved, *t = c.R ? h + c.B * c.D : NULL;
  cross_forward_cpu(rk_x(g, n->out[0]), h, t, rk_x(g, n->in[0]), rk_x(g, n->in[1]), PV(c.w), PV(c.u), PV(c.v),
                    PV(c.b), c.B, c.D, c.R);
  return RK_OK;
}

void cross_node_backward_cpu(rk_graph *g, const rk_node *n) {
  cross_parts c = parts(g, n);
  float *h = n->saved, *t = c.R ? h + c.B * c.D : NULL;
  float *dh = n->ws_bwd, *dt = c.R ? dh + c.B * c.D : NULL;
  int x0 = n->in[0], x = n->in[1];
  /* x0 == x (the first layer) is one value: both adds land in the same buffer */
  cross_backward_cpu(rk_dx(g, x0), rk_dx(g, x), PG(c.w), PG(c.u), PG(c.v), PG(c.b), dh, dt, rk_dx(g, n->out[0]),
                     h, t, rk_x(g, x0), rk_x(g, x), PV(c.w), PV(c.u), PV(c.v), c.B, c.D, c.R);
}

rk_status rk_graph_cross(rk_graph *g, int *out, int x0, int x, rk_param *w, rk_param *u, rk_param *v,
                         rk_param *b) {
  RK_TRY(rk_graph_check_value(g, x0, "cross"));
  RK_TRY(rk_graph_check_value(g, x, "cross"));
  const rk_value *a = rk_val(g, x0), *xv = rk_val(g, x);
  char ba[96], bx[96];
  if (a->ndim != 2 || xv->ndim != 2 || a->shape[0] != xv->shape[0] || a->shape[1] != xv->shape[1])
    return rk_error(RK_ESHAPE, "cross: x0 %s and x %s must both be (B, D)", rk_shape_str(a, ba, sizeof ba),
                    rk_shape_str(xv, bx, sizeof bx));
  int64_t D = a->shape[1], R = 0;
  if (w) {
    if (u || v) return rk_error(RK_EINVAL, "cross: give either w (full rank) or u and v (low rank), not both");
    if (w->value.ndim != 2 || w->value.shape[0] != D || w->value.shape[1] != D)
      return rk_error(RK_ESHAPE, "cross: weight '%s' must be (%lld, %lld) for x %s", w->name, (long long)D,
                      (long long)D, rk_shape_str(xv, bx, sizeof bx));
  } else {
    if (!u || !v) return rk_error(RK_EINVAL, "cross: give w, or both u and v");
    R = u->value.ndim == 2 ? u->value.shape[1] : 0;
    if (u->value.ndim != 2 || v->value.ndim != 2 || u->value.shape[0] != D || v->value.shape[0] != D ||
        v->value.shape[1] != R)
      return rk_error(RK_ESHAPE, "cross: low-rank u '%s' and v '%s' must both be (%lld, R) for x %s", u->name,
                      v->name, (long long)D, rk_shape_str(xv, bx, sizeof bx));
  }
  if (b && (b->value.ndim != 1 || b->value.shape[0] != D))
    return rk_error(RK_ESHAPE, "cross: bias '%s' must be (%lld)", b->name, (long long)D);
  int in[2] = {x0, x};
  rk_node *n;
  RK_TRY(rk_graph_simple_node(g, &n, out, RK_OP_CROSS, 2, in, RK_DT_F32, 2, a->shape));
  int64_t Bn = rk_val(g, x0)->shape[0];
  n->iattr[0] = R;
  n->iattr[1] = b != NULL;
  n->saved_bytes = (size_t)(Bn * D + Bn * R) * sizeof(float);
  n->ws_bwd_bytes = n->saved_bytes;
  if (w) RK_TRY(rk_graph_node_add_param(g, n, w));
  else {
    RK_TRY(rk_graph_node_add_param(g, n, u));
    RK_TRY(rk_graph_node_add_param(g, n, v));
  }
  if (b) RK_TRY(rk_graph_node_add_param(g, n, b));
  return RK_OK;
}
