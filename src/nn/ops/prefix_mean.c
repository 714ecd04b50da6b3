/*
 * prefix_mean: each session's running mean, out (B, T, D) row t = (x row 0 + ... + x row t) /
 * (t + 1): the `avgseq` model's body (recsys_models.py's AvgSeq, x.cumsum(1) / arange(1, T + 1);
 * the floor the session models are compared with). Every position counts, padded ones too, as
 * there: the rows a model reads (a session's real positions, right-padded) see real items only.
 * Backward: dx row u = the sum over t >= u of dout row t / (t + 1), a running sum from the end.
 * Sessions run in parallel, each in one fixed order. Not the (T, T) averaging matmul it replaces:
 * that cost T / 2 times the work, and a (B, T, T) input.
 * On x with rows in use (a packed session input stage; docs/design.md, "Rows in use") the n rows
 * are sessions' runs of positions 0, 1, ... (the row index gives each row's session and position
 * t: row_index / T, row_index % T) and row k's mean is over its run so far, divided by t + 1:
 * the unpacked result at those rows when every session's real rows are a prefix of its positions
 * (the padding after them is never read, and its gradient is zero). Rows run in one order.
 */
#include <string.h>

#include "nn/ops/ops.h"

typedef struct {
  float *out, *sum;   /* out (B, T, D); sum (B, D): a session's running sum */
  const float *x;
  int64_t T, D;
} prefix_ctx;

/* s += x, o = s / n over a row (restrict: the loop vectorises) */
static void running_mean_row(float *restrict o, float *restrict s, const float *restrict x, float n, int64_t D) {
  for (int64_t d = 0; d < D; d++) {
    s[d] += x[d];
    o[d] = s[d] / n;
  }
}

/* s += g / n, dx += s over a row */
static void running_grad_row(float *restrict dx, float *restrict s, const float *restrict g, float n, int64_t D) {
  for (int64_t d = 0; d < D; d++) {
    s[d] += g[d] / n;
    dx[d] += s[d];
  }
}

static void forward_sessions(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const prefix_ctx *c = arg;
  const int64_t T = c->T, D = c->D;
  for (int64_t b = begin; b < end; b++) {
    float *s = c->sum + b * D;
    memset(s, 0, (size_t)D * sizeof(float));
    for (int64_t t = 0; t < T; t++)
      running_mean_row(c->out + (b * T + t) * D, s, c->x + (b * T + t) * D, (float)(t + 1), D);
  }
}

static void backward_sessions(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const prefix_ctx *c = arg;   /* out: dx (added to); x: dout */
  const int64_t T = c->T, D = c->D;
  for (int64_t b = begin; b < end; b++) {
    float *s = c->sum + b * D;
    memset(s, 0, (size_t)D * sizeof(float));
    for (int64_t t = T - 1; t >= 0; t--)
      running_grad_row(c->out + (b * T + t) * D, s, c->x + (b * T + t) * D, (float)(t + 1), D);
  }
}

/* The packed rows' running means and their gradients: rows (n) each row's original row of B T. */
void prefix_mean_rows_forward_cpu(float *out /* (n, D) */, float *sum /* (D) scratch */, const float *x /* (n, D) */,
                                  const int64_t *rows /* (n) */, int64_t n, int64_t T, int64_t D) {
  for (int64_t k = 0; k < n; k++) {
    if (k == 0 || rows[k] / T != rows[k - 1] / T) memset(sum, 0, (size_t)D * sizeof(float));   /* a session's first */
    running_mean_row(out + k * D, sum, x + k * D, (float)(rows[k] % T + 1), D);
  }
}

void prefix_mean_rows_backward_cpu(float *dx /* (n, D) */, float *sum /* (D) scratch */, const float *dout /* (n, D) */,
                                   const int64_t *rows /* (n) */, int64_t n, int64_t T, int64_t D) {
  for (int64_t k = n - 1; k >= 0; k--) {
    if (k == n - 1 || rows[k] / T != rows[k + 1] / T) memset(sum, 0, (size_t)D * sizeof(float));   /* a session's last */
    running_grad_row(dx + k * D, sum, dout + k * D, (float)(rows[k] % T + 1), D);
  }
}

void prefix_mean_forward_cpu(float *out /* (B, T, D) */, float *sum /* (B, D) scratch */, const float *x /* (B, T, D) */,
                             int64_t B, int64_t T, int64_t D) {
  prefix_ctx c = {out, sum, x, T, D};
  rk_parallel_for(B, rk_row_grain(T * D), forward_sessions, &c);
}

void prefix_mean_backward_cpu(float *dx /* (B, T, D) */, float *sum /* (B, D) scratch */,
                              const float *dout /* (B, T, D) */, int64_t B, int64_t T, int64_t D) {
  prefix_ctx c = {dx, sum, dout, T, D};
  rk_parallel_for(B, rk_row_grain(T * D), backward_sessions, &c);
}

/* B, T, D of x (B, T, D), or packed (R, D): its rows in use, its row span and D. */
static void dims(const rk_graph *g, const rk_node *n, int64_t *B, int64_t *T, int64_t *D) {
  const rk_value *x = rk_val(g, n->in[0]);
  const bool packed = n->n_in > 1;
  *B = packed ? x->rows : x->shape[0];
  *T = packed ? x->row_span : x->shape[1];
  *D = x->shape[x->ndim - 1];
}

rk_status prefix_mean_node_forward_cpu(rk_graph *g, const rk_node *n) {
  int64_t B, T, D;
  dims(g, n, &B, &T, &D);
  rk_val(g, n->out[0])->rows = rk_val(g, n->in[0])->rows;
  if (n->n_in > 1) prefix_mean_rows_forward_cpu(rk_x(g, n->out[0]), n->ws_fwd, rk_x(g, n->in[0]), rk_xi(g, n->in[1]), B, T, D);
  else prefix_mean_forward_cpu(rk_x(g, n->out[0]), n->ws_fwd, rk_x(g, n->in[0]), B, T, D);
  return RK_OK;
}

void prefix_mean_node_backward_cpu(rk_graph *g, const rk_node *n) {
  int64_t B, T, D;
  dims(g, n, &B, &T, &D);
  if (!rk_dx(g, n->in[0])) return;
  if (n->n_in > 1)
    prefix_mean_rows_backward_cpu(rk_dx(g, n->in[0]), n->ws_bwd, rk_dx(g, n->out[0]), rk_xi(g, n->in[1]), B, T, D);
  else prefix_mean_backward_cpu(rk_dx(g, n->in[0]), n->ws_bwd, rk_dx(g, n->out[0]), B, T, D);
}

rk_status rk_graph_prefix_mean(rk_graph *g, int *out, int x) {
  RK_TRY(rk_graph_check_value(g, x, "prefix_mean"));
  const rk_value *xv = rk_val(g, x);
  char bx[96];
  const bool packed = xv->partial_rows;
  if (xv->dtype != RK_DT_F32 || xv->ndim != (packed ? 2 : 3) || (packed && xv->row_span < 1))
    return rk_error(RK_ESHAPE, "prefix_mean: want x (B, T, D), or packed rows (R, D) of sessions, not %s",
                    rk_shape_str(xv, bx, sizeof bx));
  int64_t BD;
  RK_TRY(rk_size_mul(&BD, xv->shape[0], xv->shape[xv->ndim - 1], "prefix_mean's running sums (batch x width)"));
  int in[2] = {x, xv->row_index};   /* packed: each row's session and position from the row index */
  rk_node *n;
  RK_TRY(rk_graph_simple_node(g, &n, out, RK_OP_PREFIX_MEAN, packed ? 2 : 1, in, RK_DT_F32, xv->ndim, xv->shape));
  n->ws_fwd_bytes = n->ws_bwd_bytes = (size_t)BD * sizeof(float);
  return RK_OK;
}
