/*
 * sampled_loss: the losses of a next-item head over candidate columns (sampled_logits' output):
 * logits z (R, C), column 0 the row's target, columns 1.. its candidate negatives, a column at
 * -inf absent (an accidental hit, or its own session's item). For the S present negatives j of
 * a row, with s = softmax over them, a_j = sigmoid(z_j - z_0), c_j = sigmoid(z_j^2):
 *   cross_entropy  -log softmax(z_0 | z_0, z_S)           (sampled softmax)
 *   bpr            -(1/S) sum_j log sigmoid(z_0 - z_j)
 *   top1           (1/S) sum_j (a_j + c_j)
 *   top1_max       sum_j s_j (a_j + c_j)
 *   bpr_max_reg    -log sum_j s_j sigmoid(z_0 - z_j) + lambda sum_j s_j z_j^2
 * the definitions of GRU4Rec (Hidasi and Karatzoglou, "Recurrent Neural Networks with Top-k
 * Gains for Session-based Recommendations", CIKM 2018, sec. 3.1). Transformers4Rec's
 * loss_functions.py differs in two places, both documented in docs/session_models.md: its
 * softmax in top1_max and bpr_max_reg runs over every column (the row's own session's items
 * too), and its top1_max also divides by S. A row with no present negative adds 0.
 * The loss is the mean over rows whose label is not `ignore` (0 when there are none). Each row
 * alone in double, the row losses summed in row order: the bits do not depend on threads.
 * Backward recomputes each row's terms from z (no saved state but the row losses).
 */
#include <math.h>

#include "nn/ops/ops.h"

static double sigmoid(double u) { return u >= 0 ? 1.0 / (1.0 + exp(-u)) : exp(u) / (1.0 + exp(u)); }
static double softplus(double u) { return u > 0 ? u + log1p(exp(-u)) : log1p(exp(u)); }

/* Row loss of z (C); with g: its gradient scaled by `scale`, added into g. */
static double row_loss(const float *z, int64_t C, rk_sampled_loss kind, double lambda, float *g, double scale) {
  const double z0 = z[0];
  double mx = kind == RK_SAMPLED_CE ? z0 : -INFINITY;   /* the softmax's max: over the target too for CE */
  int64_t S = 0;
  for (int64_t j = 1; j < C; j++)
    if (z[j] != -INFINITY) S++, mx = z[j] > mx ? z[j] : mx;
  if (S == 0) return 0.0;
  /* the log-sum-exp of the softmax, for the losses that have one (bpr and top1 do not) */
  const bool softmax = kind == RK_SAMPLED_CE || kind == RK_SAMPLED_TOP1_MAX || kind == RK_SAMPLED_BPR_MAX_REG;
  double se = kind == RK_SAMPLED_CE ? exp(z0 - mx) : 0.0;
  for (int64_t j = 1; softmax && j < C; j++)
    if (z[j] != -INFINITY) se += exp(z[j] - mx);
  const double lse = softmax ? mx + log(se) : 0.0, inv_s = 1.0 / (double)S;
  /* the sums each loss needs: L itself, and P, Q for bpr_max_reg */
  double L = 0.0, P = 0.0, Q = 0.0;
  for (int64_t j = 1; kind != RK_SAMPLED_CE && j < C; j++) {   /* CE's is lse - z0 (below) */
    if (z[j] == -INFINITY) continue;
    const double zj = z[j], s = softmax ? exp(zj - lse) : 0.0;
    switch (kind) {
    case RK_SAMPLED_CE: break;
    case RK_SAMPLED_BPR: L += inv_s * softplus(zj - z0); break;
    case RK_SAMPLED_TOP1: L += inv_s * (sigmoid(zj - z0) + sigmoid(zj * zj)); break;
    case RK_SAMPLED_TOP1_MAX: L += s * (sigmoid(zj - z0) + sigmoid(zj * zj)); break;
    case RK_SAMPLED_BPR_MAX_REG: P += s * sigmoid(z0 - zj), Q += s * zj * zj; break;
    }
  }
  if (kind == RK_SAMPLED_CE) L = lse - z0;
  if (kind == RK_SAMPLED_BPR_MAX_REG) L = -log(P) + lambda * Q;
  if (!g) return L;
  double g0 = 0.0;
  for (int64_t j = 1; j < C; j++) {
    if (z[j] == -INFINITY) continue;
    const double zj = z[j], s = softmax ? exp(zj - lse) : 0.0;
    if (kind == RK_SAMPLED_CE) {   /* the common case: no sigmoids, which cost two exps each */
      g[j] += (float)(scale * s);
      continue;
    }
    const double a = sigmoid(zj - z0), c = sigmoid(zj * zj), da = a * (1.0 - a), dc = 2.0 * zj * c * (1.0 - c);
    double gj = 0.0;
    switch (kind) {
    case RK_SAMPLED_CE: break;
    case RK_SAMPLED_BPR: gj = inv_s * a, g0 -= gj; break;
    case RK_SAMPLED_TOP1: gj = inv_s * (da + dc), g0 -= inv_s * da; break;
    case RK_SAMPLED_TOP1_MAX: gj = s * (a + c - L) + s * (da + dc), g0 -= s * da; break;
    case RK_SAMPLED_BPR_MAX_REG: {
      const double b = 1.0 - a;   /* sigmoid(z0 - zj) */
      const double dP = s * (b - P) - s * b * a, dQ = s * (zj * zj - Q) + 2.0 * s * zj;
      gj = -dP / P + lambda * dQ;
      g0 -= s * b * a / P;
      break;
    }
    }
    g[j] += (float)(scale * gj);
  }
  if (kind == RK_SAMPLED_CE) g0 = exp(z0 - lse) - 1.0;
  g[0] += (float)(scale * g0);
  return L;
}

typedef struct {
  double *rows;
  float *dz;
  const float *z;
  const int64_t *y;
  int64_t C, ignore;
  rk_sampled_loss kind;
  double lambda, scale;
} sloss_ctx;

static void rows_forward(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const sloss_ctx *c = arg;
  for (int64_t r = begin; r < end; r++)
    c->rows[r] = c->y[r] == c->ignore ? 0.0 : row_loss(c->z + r * c->C, c->C, c->kind, c->lambda, NULL, 0.0);
}

static void rows_backward(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const sloss_ctx *c = arg;
  for (int64_t r = begin; r < end; r++)
    if (c->y[r] != c->ignore) row_loss(c->z + r * c->C, c->C, c->kind, c->lambda, c->dz + r * c->C, c->scale);
}

static int64_t valid_rows(const int64_t *y, int64_t R, int64_t ignore) {
  int64_t n = 0;
  for (int64_t r = 0; r < R; r++) n += y[r] != ignore;
  return n;
}

void sampled_loss_forward_cpu(float *loss /* (1) */, double *rows /* (R) */, const float *z /* (R, C) */,
                              const int64_t *y /* (R) */, int64_t R, int64_t C, int64_t ignore, rk_sampled_loss kind,
                              float lambda) {
  sloss_ctx c = {.rows = rows, .z = z, .y = y, .C = C, .ignore = ignore, .kind = kind, .lambda = lambda};
  rk_parallel_for(R, rk_row_grain(C), rows_forward, &c);
  double s = 0.0;
  for (int64_t r = 0; r < R; r++) s += rows[r];   /* in row order: thread-independent */
  int64_t n = valid_rows(y, R, ignore);
  loss[0] = n ? (float)(s / (double)n) : 0.0f;
}

void sampled_loss_backward_cpu(float *dz /* (R, C) */, const float *dloss /* (1) */, const float *z /* (R, C) */,
                               const int64_t *y /* (R) */, int64_t R, int64_t C, int64_t ignore, rk_sampled_loss kind,
                               float lambda) {
  int64_t n = valid_rows(y, R, ignore);
  if (!n) return;
  sloss_ctx c = {.dz = dz, .z = z, .y = y, .C = C, .ignore = ignore, .kind = kind, .lambda = lambda,
                 .scale = (double)dloss[0] / (double)n};
  rk_parallel_for(R, rk_row_grain(C), rows_backward, &c);
}

rk_status sampled_loss_node_forward_cpu(rk_graph *g, const rk_node *n) {
  const rk_value *z = rk_val(g, n->in[0]);
  int64_t C = z->shape[z->ndim - 1];
  sampled_loss_forward_cpu(rk_x(g, n->out[0]), n->saved ? n->saved : n->ws_fwd, rk_x(g, n->in[0]),
                           rk_xi(g, n->in[1]), z->numel / C, C, n->iattr[0], (rk_sampled_loss)n->iattr[1],
                           n->fattr[0]);
  return RK_OK;
}

void sampled_loss_node_backward_cpu(rk_graph *g, const rk_node *n) {
  const rk_value *z = rk_val(g, n->in[0]);
  int64_t C = z->shape[z->ndim - 1];
  if (rk_dx(g, n->in[0]))
    sampled_loss_backward_cpu(rk_dx(g, n->in[0]), rk_dx(g, n->out[0]), rk_x(g, n->in[0]), rk_xi(g, n->in[1]),
                              z->numel / C, C, n->iattr[0], (rk_sampled_loss)n->iattr[1], n->fattr[0]);
}

rk_status rk_graph_sampled_loss(rk_graph *g, int *out, int logits, int labels, rk_sampled_loss kind,
                                int64_t ignore_index, float lambda) {
  RK_TRY(rk_graph_check_value(g, logits, "sampled_loss"));
  RK_TRY(rk_graph_check_value(g, labels, "sampled_loss"));
  const rk_value *z = rk_val(g, logits), *y = rk_val(g, labels);
  char bz[96], by[96];
  if (z->ndim < 2 || z->dtype != RK_DT_F32 || y->dtype != RK_DT_I64 || z->shape[z->ndim - 1] < 2 ||
      y->numel * z->shape[z->ndim - 1] != z->numel)
    return rk_error(RK_ESHAPE, "sampled_loss: logits %s and int64 labels %s must be (R.., 1 + N) and (R..), N >= 1",
                    rk_shape_str(z, bz, sizeof bz), rk_shape_str(y, by, sizeof by));
  if ((int)kind < 0 || kind > RK_SAMPLED_BPR_MAX_REG)
    return rk_error(RK_EINVAL, "sampled_loss: unknown loss %d", (int)kind);
  if (!(lambda >= 0.0f && lambda < INFINITY))
    return rk_error(RK_EINVAL, "sampled_loss: lambda %g must be >= 0 and finite", lambda);
  int in[2] = {logits, labels};
  rk_node *n;
  RK_TRY(rk_graph_simple_node(g, &n, out, RK_OP_SAMPLED_LOSS, 2, in, RK_DT_F32, 0, NULL));
  n->iattr[0] = ignore_index;
  n->iattr[1] = kind;
  n->fattr[0] = lambda;
  n->saved_bytes = n->ws_fwd_bytes = (size_t)y->numel * sizeof(double);
  return RK_OK;
}
