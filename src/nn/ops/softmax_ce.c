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
#include <string.h>

#include "nn/ops/ops.h"

typedef struct {
  double *rows;              /* (R, 2): log-sum-exp of z / tau, the row's loss (0 when ignored) */
  float *dz;
  const float *z;
  const int64_t *y;
  int64_t C, ignore;
  double eps, inv, scale;
  bool overwrite;            /* backward writes dz (=) rather than adding to it */
} ce_ctx;

/* The catalogue-wide loops run LANES independent partial results, combined in lane order at the
 * end: the compiler vectorises them (a single running max or sum is a serial chain it must keep),
 * and the order depends on C alone, so the bits do not depend on threads. */
#define LANES 16

/* The row's largest logit and its sum (the smoothing term needs sum_c log p_c = sum_c z_c / tau
 * - C lse, so no pass of logs). */
RK_VECTOR_CLONES static void row_max_sum(float *max, double *sum, const float *restrict z, int64_t C) {
  float m[LANES];
  double s[LANES];
  for (int k = 0; k < LANES; k++) m[k] = z[0], s[k] = 0.0;
  int64_t j = 0;
  for (; j + LANES <= C; j += LANES)
    for (int k = 0; k < LANES; k++) {
      float v = z[j + k];
      m[k] = v > m[k] ? v : m[k];
      s[k] += v;
    }
  float mx = m[0];
  double sum_z = 0.0;
  for (int k = 0; k < LANES; k++) {
    mx = m[k] > mx ? m[k] : mx;
    sum_z += s[k];
  }
  for (; j < C; j++) {
    mx = z[j] > mx ? z[j] : mx;
    sum_z += z[j];
  }
  *max = mx;
  *sum = sum_z;
}

/* sum_c e^((z_c - max) / tau), each term in float (within an ulp or two of libm's), summed in
 * double. */
RK_VECTOR_CLONES static double row_sum_exp(const float *restrict z, float mx, float inv, int64_t C) {
  double s[LANES] = {0};
  int64_t j = 0;
  for (; j + LANES <= C; j += LANES)
    for (int k = 0; k < LANES; k++) s[k] += rk_exp_nonpos_fast((z[j + k] - mx) * inv);
  double se = 0.0;
  for (int k = 0; k < LANES; k++) se += s[k];
  for (; j < C; j++) se += rk_exp_nonpos_fast((z[j] - mx) * inv);
  return se;
}

/* A row's log-sum-exp of z / tau and its sum of z, reading the row from memory once: per block of
 * ROW_BLOCK logits (in the first-level cache), its max and sum, then its exponentials against the
 * running max, the sum so far rescaled when the max grows (the online softmax of Milakov and
 * Gimelshein, 2018, by blocks). The blocks depend on C alone. */
#define ROW_BLOCK 1024

static double row_lse(double *sum_z, const float *z, int64_t C, double inv) {
  float mx = 0.0f;
  double se = 0.0;
  *sum_z = 0.0;
  for (int64_t j = 0; j < C; j += ROW_BLOCK) {
    int64_t n = C - j < ROW_BLOCK ? C - j : ROW_BLOCK;
    float bm;
    double bs;
    row_max_sum(&bm, &bs, z + j, n);
    *sum_z += bs;
    if (j == 0 || bm > mx) {
      se = j == 0 ? 0.0 : se * exp(((double)mx - bm) * inv);
      mx = bm;
    }
    se += row_sum_exp(z + j, mx, (float)inv, n);
  }
  // cppcheck-suppress invalidFunctionArg ; se >= 1 (the max term is exp(0)) since C >= 1
  return mx * inv + log(se);
}

/* Each row alone (any chunking gives the same bits): the log-sum-exp, then the loss from it. */
static void ce_rows_forward(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const ce_ctx *c = arg;
  for (int64_t r = begin; r < end; r++) {
    double *out = c->rows + 2 * r;
    out[0] = out[1] = 0.0;
    if (c->y[r] == c->ignore) continue;
    const float *zr = c->z + r * c->C;
    double sum_z, lse = row_lse(&sum_z, zr, c->C, c->inv);
    double sum_logp = sum_z * c->inv - (double)c->C * lse;
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

RK_VECTOR_CLONES static void grad_row_set(float *restrict d, const float *restrict z, float inv, float lse, float scale, float base,
                         int64_t C) {
  for (int64_t j = 0; j < C; j++) d[j] = scale * (rk_exp_nonpos_fast(z[j] * inv - lse) - base);
}

RK_VECTOR_CLONES static void grad_row_add(float *restrict d, const float *restrict z, float inv, float lse, float scale, float base,
                         int64_t C) {
  for (int64_t j = 0; j < C; j++) d[j] += scale * (rk_exp_nonpos_fast(z[j] * inv - lse) - base);
}

/* p = exp(z / tau - lse) from the forward's log-sum-exp: one exp per logit, one pass per row. */
static void ce_rows_backward(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const ce_ctx *c = arg;
  const float inv = (float)c->inv, base = (float)(c->eps / (double)c->C), scale = (float)c->scale;
  for (int64_t r = begin; r < end; r++) {
    float *dr = c->dz + r * c->C;
    if (c->y[r] == c->ignore) {
      if (c->overwrite) memset(dr, 0, (size_t)c->C * sizeof(float));
      continue;
    }
    const float *zr = c->z + r * c->C;
    float lse = (float)c->rows[2 * r];
    if (c->overwrite) grad_row_set(dr, zr, inv, lse, scale, base, c->C);
    else grad_row_add(dr, zr, inv, lse, scale, base, c->C);
    dr[c->y[r]] -= scale * (float)(1.0 - c->eps);
  }
}

/* overwrite: dz holds no other gradient (the graph's first writer of it, which the graph does not
 * zero): written rather than added to, ignored rows included. */
void softmax_ce_backward_cpu(float *dz /* (R, C) */, const float *dloss /* (1) */, const double *rows /* (R, 2) */,
                             const float *z /* (R, C) */, const int64_t *y /* (R) */, int64_t R, int64_t C,
                             int64_t ignore, float eps, float tau, bool overwrite) {
  int64_t valid = 0;
  for (int64_t r = 0; r < R; r++) valid += y[r] != ignore;
  if (!valid) {
    if (overwrite) memset(dz, 0, (size_t)(R * C) * sizeof(float));
    return;
  }
  ce_ctx c = {.rows = (double *)rows, .dz = dz, .z = z, .y = y, .C = C, .ignore = ignore, .eps = eps,
              .inv = 1.0 / tau, .scale = dloss[0] / (float)valid / tau, .overwrite = overwrite};
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
                            rows_of(z), z->shape[z->ndim - 1], n->iattr[0], n->fattr[0], n->fattr[1], n->dx_overwrite);
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
