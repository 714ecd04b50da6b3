/*
 * softmax_ce: cross-entropy of logits (R, C) divided by a temperature tau against integer
 * labels (R), PyTorch's CrossEntropyLoss(ignore_index, label_smoothing=eps, reduction='mean')
 * of z / tau:
 *   p_r = softmax(z_r / tau), loss_r = -(1 - eps) log p_{r,y} - (eps / C) sum_c log p_{r,c},
 * averaged over rows whose label is not ignore_index (0 when every row is ignored): the session
 * models' --softmax_temperature and --label_smoothing, padding rows (label 0) ignored. Labels
 * outside [0, C) fail forward. Rows run in parallel, each alone, and the row losses are summed
 * in row order, so the bits do not depend on threads. Logits with rows in use (gather_rows) are
 * read on those rows, with the same leading labels.
 */
#include <math.h>

#include "nn/ops/ops.h"

typedef struct {
  double *rows;              /* (R, 2): log-sum-exp of z / tau, the row's loss (0 when ignored) */
  float *dz;
  const float *z;
  const int64_t *y;
  int64_t C, ignore;
  double eps, inv, scale;
} ce_ctx;

/* Sums of a row in LANES fixed double lanes, added up in lane order at the end: the order is the
 * code's, not the thread count's, and the exps of a block vectorise. */
enum { LANES = 8, BLOCK = 64 };

static double lanes_total(const double *lane) {
  double s = 0.0;
  for (int l = 0; l < LANES; l++) s += lane[l];
  return s;
}

/* max_j z_j, in LANES lanes (a float compare alone keeps a loop scalar). */
static float max_of(const float *z /* (C) */, int64_t C) {
  float lane[LANES];
  for (int l = 0; l < LANES; l++) lane[l] = z[0];
  int64_t j = 0;
  for (; j + LANES <= C; j += LANES)
    for (int l = 0; l < LANES; l++) lane[l] = z[j + l] > lane[l] ? z[j + l] : lane[l];
  float mx = lane[0];
  for (int l = 1; l < LANES; l++) mx = lane[l] > mx ? lane[l] : mx;
  for (; j < C; j++) mx = z[j] > mx ? z[j] : mx;
  return mx;
}

/* sum_j e^((z_j - mx) inv), the exps in float (rk_exp_nonpos_fast: every argument is <= 0), summed
 * in double. libm's double exp per logit was a third of a GPT-2 d64 step at 9,002 items. */
static double sum_exp(const float *z /* (C) */, int64_t C, float mx, float inv) {
  double lane[LANES] = {0};
  float e[BLOCK];
  for (int64_t j0 = 0; j0 < C; j0 += BLOCK) {
    int64_t n = C - j0 < BLOCK ? C - j0 : BLOCK, i;
    for (i = 0; i < n; i++) e[i] = rk_exp_nonpos_fast((z[j0 + i] - mx) * inv);
    for (i = n; i % LANES; i++) e[i] = 0.0f;   /* a whole last group of lanes: + 0 changes no sum */
    for (i = 0; i < n; i += LANES)
      for (int l = 0; l < LANES; l++) lane[l] += e[i + l];
  }
  return lanes_total(lane);
}

static double sum_of(const float *z /* (C) */, int64_t C) {
  double lane[LANES] = {0};
  for (int64_t j = 0; j < C; j++) lane[j % LANES] += z[j];
  return lanes_total(lane);
}

/* Each row alone (any chunking gives the same bits): the log-sum-exp, then the loss from it
 * without another exp; sum_j log p_j = inv sum_j z_j - C lse, wanted only under smoothing. */
static void ce_rows_forward(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const ce_ctx *c = arg;
  const float inv = (float)c->inv;
  for (int64_t r = begin; r < end; r++) {
    double *out = c->rows + 2 * r;
    out[0] = out[1] = 0.0;
    if (c->y[r] == c->ignore) continue;
    const float *zr = c->z + r * c->C;
    float mx = max_of(zr, c->C);
    double se = sum_exp(zr, c->C, mx, inv);
    // cppcheck-suppress invalidFunctionArg ; se >= 1 (the max term is exp(0)) since C >= 1
    double lse = (double)mx * c->inv + log(se);
    double sum_logp = c->eps > 0.0 ? c->inv * sum_of(zr, c->C) - (double)c->C * lse : 0.0;
    out[0] = lse;
    out[1] = -(1.0 - c->eps) * (zr[c->y[r]] * c->inv - lse) - c->eps / (double)c->C * sum_logp;
  }
}

rk_status softmax_ce_forward_cpu(float *loss /* (1) */, double *rows /* (R, 2) */, const float *z /* (R, C) */,
                                 const int64_t *y /* (R) */, int64_t R, int64_t C, int64_t ignore, float eps, float tau) {
  int64_t valid = 0;
  for (int64_t r = 0; r < R; r++) {
    if (y[r] == ignore) continue;
    if (y[r] < 0 || y[r] >= C)
      return rk_error(RK_ERANGE, "softmax_ce: label %lld of row %lld is outside [0, %lld)", (long long)y[r],
                      (long long)r, (long long)C);
    valid++;
  }
  ce_ctx c = {.rows = rows, .z = z, .y = y, .C = C, .ignore = ignore, .eps = eps, .inv = 1.0 / tau};
  rk_parallel_for(R, rk_row_grain(C), ce_rows_forward, &c);
  double s = 0.0;
  for (int64_t r = 0; r < R; r++) s += rows[2 * r + 1];   /* in row order: thread-independent */
  loss[0] = valid ? (float)(s / (double)valid) : 0.0f;
  return RK_OK;
}

/* p = exp(z / tau - lse) from the forward's log-sum-exp: one exp per logit, in float and
 * vectorised (the gradient is a float; rk_exp_nonpos_fast is within 1e-7 of expf). */
static void ce_rows_backward(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const ce_ctx *c = arg;
  const float inv = (float)c->inv, base = (float)(c->eps / (double)c->C);
  for (int64_t r = begin; r < end; r++) {
    if (c->y[r] == c->ignore) continue;
    const float *zr = c->z + r * c->C;
    float *dr = c->dz + r * c->C, lse = (float)c->rows[2 * r], scale = (float)c->scale;
    for (int64_t j = 0; j < c->C; j++) dr[j] += scale * (rk_exp_nonpos_fast(zr[j] * inv - lse) - base);
    dr[c->y[r]] -= scale * (float)(1.0 - c->eps);
  }
}

void softmax_ce_backward_cpu(float *dz /* (R, C) */, const float *dloss /* (1) */, const double *rows /* (R, 2) */,
                             const float *z /* (R, C) */, const int64_t *y /* (R) */, int64_t R, int64_t C,
                             int64_t ignore, float eps, float tau) {
  int64_t valid = 0;
  for (int64_t r = 0; r < R; r++) valid += y[r] != ignore;
  if (!valid) return;
  ce_ctx c = {.rows = (double *)rows, .dz = dz, .z = z, .y = y, .C = C, .ignore = ignore, .eps = eps,
              .inv = 1.0 / tau, .scale = dloss[0] / (float)valid / tau};
  rk_parallel_for(R, rk_row_grain(C), ce_rows_backward, &c);
}

/* R: the rows in use of the logits (all of them unless they come from gather_rows). */
static int64_t rows_of(const rk_value *z) { return z->rows * (z->numel / z->shape[0]) / z->shape[z->ndim - 1]; }

rk_status softmax_ce_node_forward_cpu(rk_graph *g, const rk_node *n) {
  const rk_value *z = rk_val(g, n->in[0]);
  return softmax_ce_forward_cpu(rk_x(g, n->out[0]), n->saved ? n->saved : n->ws_fwd, rk_x(g, n->in[0]),
                                rk_xi(g, n->in[1]), rows_of(z), z->shape[z->ndim - 1], n->iattr[0], n->fattr[0],
                                n->fattr[1]);
}

void softmax_ce_node_backward_cpu(rk_graph *g, const rk_node *n) {
  const rk_value *z = rk_val(g, n->in[0]);
  if (rk_dx(g, n->in[0]))
    softmax_ce_backward_cpu(rk_dx(g, n->in[0]), rk_dx(g, n->out[0]), n->saved, rk_x(g, n->in[0]), rk_xi(g, n->in[1]),
                            rows_of(z), z->shape[z->ndim - 1], n->iattr[0], n->fattr[0], n->fattr[1]);
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
  /* per row: the log-sum-exp backward reuses, and the loss summed in order after the rows */
  n->saved_bytes = n->ws_fwd_bytes = (size_t)(2 * y->numel) * sizeof(double);
  return RK_OK;
}
