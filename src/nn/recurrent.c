/*
 * The time loop shared by the recurrent ops (gru, lstm, rnn: src/nn/ops/<stem>.c), forward and
 * backward through time, and their common builder. Each stem gives only its cell: the equations
 * of one step and of its derivative, for one row (rk_recurrent_cell in src/nn/ops/ops.h).
 *
 * As PyTorch's nn.GRU / nn.LSTM / nn.RNN with one layer, batch_first=True, a zero initial state
 * and its weight layout: w_ih (G H, I), w_hh (G H, H), b_ih and b_hh (G H), the G gate blocks in
 * PyTorch's order.
 *
 * Padding: given step ids (B, T), a step whose id is the padding id leaves the state unchanged
 * and outputs zeros. For right-padded sessions that is exactly PyTorch's packed sequences
 * (pack_padded_sequence, then pad_packed_sequence): each session's outputs and final state are
 * those of its real items alone; left padding keeps the zero state until the first item.
 *
 * Packed, as cuDNN runs packed sequences: only the real steps are computed. The N real (session,
 * step) pairs are numbered step by step, sessions in order within a step (`packing`), so step t's
 * rows are a contiguous run [off[t], off[t + 1]) of every packed buffer. The input projection is
 * one gemm over the N packed rows; each step is one (n_t, H) x (H, G H) gemm over the sessions
 * with an item at t and the cell's elementwise work; backward runs the steps in reverse, then
 * finds the weight gradients with one gemm each over the N rows. At mean session length 6 of
 * T 20 that is a third of the work of the padded (B, T) grid, with the same results (a padded
 * step's rows were never read). The running state of every session is kept in (B, H) rows.
 *
 * The hidden-side products use w_hh transposed (x wt: OpenBLAS's NN kernels give a row the same
 * bits whatever the row count, as linear.c notes), so a session's result does not depend on how
 * many sessions share its steps. All sums are gemms (rk_sgemm) or run in a fixed order.
 */
#include <string.h>

#include "nn/ops/ops.h"

/* The packed order: rows[p] = b T + t of the p-th real step, off (T + 1) the start of each step.
 * Returns N. */
static int64_t packing(int64_t *rows /* (B T) */, int64_t *off /* (T + 1) */, const int64_t *ids /* (B, T) or NULL */,
                       int64_t B, int64_t T, int64_t padding) {
  int64_t n = 0;
  for (int64_t t = 0; t < T; t++) {
    off[t] = n;
    for (int64_t b = 0; b < B; b++)
      if (!ids || ids[b * T + t] != padding) rows[n++] = b * T + t;
  }
  off[T] = n;
  return n;
}

/* dst (n, D) = the src (., D) rows named by rows; scatter_add is its adjoint. */
static void gather(float *dst, const float *src, const int64_t *rows, int64_t n, int64_t D) {
  for (int64_t p = 0; p < n; p++) memcpy(dst + p * D, src + rows[p] * D, (size_t)D * sizeof(float));
}

static void scatter_add(float *dst, const float *src, const int64_t *rows, int64_t n, int64_t D) {
  for (int64_t p = 0; p < n; p++) {
    float *d = dst + rows[p] * D;
    const float *s = src + p * D;
    for (int64_t k = 0; k < D; k++) d[k] += s[k];
  }
}

static void transpose(float *wt /* (C, R) */, const float *w /* (R, C) */, int64_t R, int64_t C) {
  for (int64_t r = 0; r < R; r++)
    for (int64_t c = 0; c < C; c++) wt[c * R + r] = w[r * C + c];
}

/* out (n, O) = x (n, C) wt (C, O) + b: the bias rows first, the gemm adding to them. */
static void project(float *out, const float *x, const float *wt, const float *b, int64_t n, int64_t C, int64_t O) {
  for (int64_t r = 0; b && r < n; r++) memcpy(out + r * O, b, (size_t)O * sizeof(float));
  rk_sgemm(false, false, n, O, C, 1.0f, x, C, wt, O, b ? 1.0f : 0.0f, out, O);
}

/* The saved buffer, N_max = B T rows each: the cell's saved values (N_max, S H), then h before and
 * after each packed step (N_max, H) twice, and with a cell state c before and after. */
typedef struct {
  float *gates, *h_prev, *h, *c_prev, *c;
} saved_parts;

static saved_parts carve_saved(const rk_recurrent_cell *cell, float *saved, int64_t BT, int64_t H) {
  saved_parts s = {.gates = saved};
  s.h_prev = s.gates + BT * cell->saved * H;
  s.h = s.h_prev + BT * H;
  if (cell->has_cell) {
    s.c_prev = s.h + BT * H;
    s.c = s.c_prev + BT * H;
  }
  return s;
}

/* One step's rows [begin, end) of its n, each a session, independent of the others. */
typedef struct {
  const rk_recurrent_cell *cell;
  const int64_t *rows;   /* the step's packed rows */
  int64_t p0, T, H, GH, SH;
  saved_parts s;
  /* forward */
  float *out, *h_cur, *c_cur;
  const float *gx, *gh;
  /* backward */
  float *dgx, *dgh, *dh_cur, *dc_cur, *dh_prev, *dc_prev;
  const float *dout;
} step_ctx;

static void forward_rows(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const step_ctx *s = arg;
  const int64_t H = s->H;
  for (int64_t i = begin; i < end; i++) {
    const int64_t p = s->p0 + i, b = s->rows[i] / s->T;
    float *h = s->s.h + p * H, *c = s->s.c ? s->s.c + p * H : NULL;
    s->cell->step(h, c, s->SH ? s->s.gates + p * s->SH : NULL, s->gx + p * s->GH, s->gh + i * s->GH,
                  s->s.h_prev + p * H, c ? s->s.c_prev + p * H : NULL, H);
    memcpy(s->out + s->rows[i] * H, h, (size_t)H * sizeof(float));
    memcpy(s->h_cur + b * H, h, (size_t)H * sizeof(float));
    if (c) memcpy(s->c_cur + b * H, c, (size_t)H * sizeof(float));
  }
}

/* A scratch starts with the packing, rows (B T) and off (T + 1) int64s; its floats follow. */
static float *index_carve(int64_t **rows, int64_t **off, void *scratch, int64_t BT, int64_t T) {
  *rows = scratch;
  *off = *rows + BT;
  return (void *)((char *)scratch + (size_t)(BT + T + 1) * sizeof(int64_t));
}

/* floats of the forward scratch past the packing's int64s */
static int64_t fwd_floats(const rk_recurrent_cell *cell, int64_t B, int64_t T, int64_t I, int64_t H) {
  const int64_t GH = cell->gates * H;
  return B * T * (I + GH) + B * GH + 2 * B * H + (I + H) * GH;
}

void recurrent_forward_cpu(const rk_recurrent_cell *cell, float *out /* (B, T, H) */, float *saved,
                           void *scratch, const float *x /* (B, T, I) */, const int64_t *ids /* (B, T) or NULL */,
                           const float *w_ih /* (G H, I) */, const float *w_hh /* (G H, H) */,
                           const float *b_ih /* (G H) or NULL */, const float *b_hh /* (G H) or NULL */, int64_t B,
                           int64_t T, int64_t I, int64_t H, int64_t padding) {
  const int64_t GH = cell->gates * H, BT = B * T;
  int64_t *rows, *off;
  float *xp = index_carve(&rows, &off, scratch, BT, T), *gx = xp + BT * I, *gh = gx + BT * GH, *h_cur = gh + B * GH,
        *c_cur = h_cur + B * H, *wt_ih = c_cur + B * H, *wt_hh = wt_ih + I * GH;
  const int64_t N = packing(rows, off, ids, B, T, padding);
  saved_parts s = carve_saved(cell, saved, BT, H);
  transpose(wt_ih, w_ih, GH, I);
  transpose(wt_hh, w_hh, GH, H);
  gather(xp, x, rows, N, I);
  project(gx, xp, wt_ih, b_ih, N, I, GH);
  memset(out, 0, (size_t)(BT * H) * sizeof(float));   /* padded steps output zeros */
  memset(h_cur, 0, (size_t)(2 * B * H) * sizeof(float));
  step_ctx c = {.cell = cell, .T = T, .H = H, .GH = GH, .SH = cell->saved * H, .s = s, .out = out, .h_cur = h_cur,
                .c_cur = cell->has_cell ? c_cur : NULL, .gx = gx, .gh = gh};
  for (int64_t t = 0; t < T; t++) {
    const int64_t p0 = off[t], n = off[t + 1] - p0;
    if (!n) continue;
    c.p0 = p0, c.rows = rows + p0;
    for (int64_t i = 0; i < n; i++) {   /* the step's sessions' states, kept for backward */
      const int64_t b = c.rows[i] / T;
      memcpy(s.h_prev + (p0 + i) * H, h_cur + b * H, (size_t)H * sizeof(float));
      if (s.c_prev) memcpy(s.c_prev + (p0 + i) * H, c_cur + b * H, (size_t)H * sizeof(float));
    }
    project(gh, s.h_prev + p0 * H, wt_hh, b_hh, n, H, GH);
    rk_parallel_for(n, rk_row_grain(GH), forward_rows, &c);
  }
}

static void backward_rows(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const step_ctx *s = arg;
  const int64_t H = s->H;
  for (int64_t i = begin; i < end; i++) {
    const int64_t p = s->p0 + i, b = s->rows[i] / s->T;
    float *dh = s->dh_cur + b * H;
    const float *go = s->dout + s->rows[i] * H;
    for (int64_t k = 0; k < H; k++) dh[k] += go[k];
    bool cell_state = s->s.c != NULL;
    s->cell->step_back(s->dgx + p * s->GH, s->dgh + p * s->GH, s->dh_prev + i * H,
                       cell_state ? s->dc_prev + i * H : NULL, dh, cell_state ? s->dc_cur + b * H : NULL,
                       s->SH ? s->s.gates + p * s->SH : NULL, s->s.h + p * H, s->s.h_prev + p * H,
                       cell_state ? s->s.c + p * H : NULL, cell_state ? s->s.c_prev + p * H : NULL, H);
  }
}

/* The step's sessions take their new running gradients: dh_prev (the gemm's part added) and dc_prev. */
static void backward_store(const step_ctx *s, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    const int64_t b = s->rows[i] / s->T;
    memcpy(s->dh_cur + b * s->H, s->dh_prev + i * s->H, (size_t)s->H * sizeof(float));
    if (s->s.c) memcpy(s->dc_cur + b * s->H, s->dc_prev + i * s->H, (size_t)s->H * sizeof(float));
  }
}

/* floats of the backward scratch past the packing's int64s */
static int64_t bwd_floats(const rk_recurrent_cell *cell, int64_t B, int64_t T, int64_t I, int64_t H) {
  const int64_t GH = cell->gates * H;
  return B * T * (2 * GH + 2 * I) + 4 * B * H;
}

void recurrent_backward_cpu(const rk_recurrent_cell *cell, float *dx /* (B, T, I) or NULL */, float *dw_ih,
                            float *dw_hh, float *db_ih /* or NULL */, float *db_hh /* or NULL */, void *scratch,
                            const float *dout /* (B, T, H) */, float *saved, const float *x /* (B, T, I) */,
                            const int64_t *ids /* (B, T) or NULL */, const float *w_ih /* (G H, I) */,
                            const float *w_hh /* (G H, H) */, int64_t B, int64_t T, int64_t I, int64_t H,
                            int64_t padding) {
  const int64_t GH = cell->gates * H, BT = B * T;
  int64_t *rows, *off;
  float *dgx = index_carve(&rows, &off, scratch, BT, T), *dgh = dgx + BT * GH, *xp = dgh + BT * GH, *dxp = xp + BT * I,
        *dh_cur = dxp + BT * I, *dc_cur = dh_cur + B * H, *dh_prev = dc_cur + B * H, *dc_prev = dh_prev + B * H;
  const int64_t N = packing(rows, off, ids, B, T, padding);
  memset(dh_cur, 0, (size_t)(2 * B * H) * sizeof(float));
  step_ctx c = {.cell = cell, .T = T, .H = H, .GH = GH, .SH = cell->saved * H, .s = carve_saved(cell, saved, BT, H),
                .dgx = dgx, .dgh = dgh, .dh_cur = dh_cur, .dc_cur = dc_cur, .dh_prev = dh_prev, .dc_prev = dc_prev,
                .dout = dout};
  for (int64_t t = T - 1; t >= 0; t--) {   /* a session without an item at t passes its gradient through */
    const int64_t p0 = off[t], n = off[t + 1] - p0;
    if (!n) continue;
    c.p0 = p0, c.rows = rows + p0;
    rk_parallel_for(n, rk_row_grain(GH), backward_rows, &c);
    rk_sgemm(false, false, n, H, GH, 1.0f, dgh + p0 * GH, GH, w_hh, H, 1.0f, dh_prev, H);
    backward_store(&c, n);
  }
  gather(xp, x, rows, N, I);
  if (dx) memset(dxp, 0, (size_t)(N * I) * sizeof(float));
  linear_backward_cpu(dx ? dxp : NULL, dw_ih, db_ih, NULL, dgx, NULL, xp, w_ih, N, I, GH, RK_ACT_NONE);
  if (dx) scatter_add(dx, dxp, rows, N, I);
  linear_backward_cpu(NULL, dw_hh, db_hh, NULL, dgh, NULL, c.s.h_prev, w_hh, N, H, GH, RK_ACT_NONE);
}

/* ---- the node ---- */

typedef struct {
  int64_t B, T, I, H;
  const rk_param *w_ih, *w_hh, *b_ih, *b_hh;
} rec_parts;

static void parts(const rk_graph *g, const rk_node *n, rec_parts *p) {
  const rk_value *x = rk_val(g, n->in[0]);
  p->B = x->shape[0];
  p->T = x->shape[1];
  p->I = x->shape[2];
  p->w_ih = n->params[0];
  p->w_hh = n->params[1];
  p->H = p->w_hh->value.shape[1];
  int k = 2;
  p->b_ih = n->iattr[1] ? n->params[k++] : NULL;
  p->b_hh = n->iattr[2] ? n->params[k] : NULL;
}

rk_status recurrent_node_forward_cpu(const rk_recurrent_cell *cell, rk_graph *g, const rk_node *n) {
  rec_parts p;
  parts(g, n, &p);
  recurrent_forward_cpu(cell, rk_x(g, n->out[0]), n->saved, n->ws_fwd, rk_x(g, n->in[0]),
                        n->n_in > 1 ? rk_xi(g, n->in[1]) : NULL, p.w_ih->value.data, p.w_hh->value.data,
                        p.b_ih ? p.b_ih->value.data : NULL, p.b_hh ? p.b_hh->value.data : NULL, p.B, p.T, p.I, p.H,
                        n->iattr[0]);
  return RK_OK;
}

void recurrent_node_backward_cpu(const rk_recurrent_cell *cell, rk_graph *g, const rk_node *n) {
  rec_parts p;
  parts(g, n, &p);
  recurrent_backward_cpu(cell, rk_dx(g, n->in[0]), p.w_ih->grad.data, p.w_hh->grad.data,
                         p.b_ih ? p.b_ih->grad.data : NULL, p.b_hh ? p.b_hh->grad.data : NULL, n->ws_bwd,
                         rk_dx(g, n->out[0]), n->saved, rk_x(g, n->in[0]), n->n_in > 1 ? rk_xi(g, n->in[1]) : NULL,
                         p.w_ih->value.data, p.w_hh->value.data, p.B, p.T, p.I, p.H, n->iattr[0]);
}

static rk_status check_weight(const rk_param *p, const char *op, const char *what, int ndim, int64_t rows,
                              int64_t cols) {
  if (!rk_param_declared(p) || p->sparse || p->value.ndim != ndim || p->value.shape[0] != rows ||
      (ndim == 2 && p->value.shape[1] != cols)) {
    if (ndim == 2)
      return rk_error(RK_ESHAPE, "%s: %s must be a dense (%lld, %lld) parameter", op, what, (long long)rows,
                      (long long)cols);
    return rk_error(RK_ESHAPE, "%s: %s must be a dense (%lld) parameter", op, what, (long long)rows);
  }
  return RK_OK;
}

rk_status rk_graph_recurrent(rk_graph *g, int *out, const rk_recurrent_cell *cell, rk_op op, int x, int step_ids,
                             int64_t padding, rk_param *w_ih, rk_param *w_hh, rk_param *b_ih, rk_param *b_hh) {
  const char *name = rk_op_name(op);
  RK_TRY(rk_graph_check_value(g, x, name));
  const rk_value *xv = rk_val(g, x);
  char bx[96], bi[96];
  if (xv->dtype != RK_DT_F32 || xv->ndim != 3)
    return rk_error(RK_ESHAPE, "%s: input %s must be (B, T, features)", name, rk_shape_str(xv, bx, sizeof bx));
  int64_t B = xv->shape[0], T = xv->shape[1], I = xv->shape[2];
  if (!rk_param_declared(w_hh) || w_hh->value.ndim != 2)
    return rk_error(RK_ESHAPE, "%s: w_hh must be a dense (%d H, H) parameter", name, cell->gates);
  int64_t H = w_hh->value.shape[1], GH = cell->gates * H;
  RK_TRY(check_weight(w_ih, name, "w_ih", 2, GH, I));
  RK_TRY(check_weight(w_hh, name, "w_hh", 2, GH, H));
  if (b_ih) RK_TRY(check_weight(b_ih, name, "b_ih", 1, GH, 0));
  if (b_hh) RK_TRY(check_weight(b_hh, name, "b_hh", 1, GH, 0));
  int in[2] = {x, step_ids}, n_in = 1;
  if (step_ids != RK_NO_VALUE) {
    RK_TRY(rk_graph_check_value(g, step_ids, name));
    const rk_value *iv = rk_val(g, step_ids);
    if (iv->dtype != RK_DT_I64 || iv->ragged || iv->ndim != 2 || iv->shape[0] != B || iv->shape[1] != T)
      return rk_error(RK_ESHAPE, "%s: step ids %s must be int64 (%lld, %lld) for input %s", name,
                      rk_shape_str(iv, bi, sizeof bi), (long long)B, (long long)T, rk_shape_str(xv, bx, sizeof bx));
    n_in = 2;
  }
  /* Every buffer has B T rows of at most G H + 2 I floats, so one bound on B T (G H + 2 I + 4 H)
   * and on (I + H) G H covers the sums below. The scratches start with the packing's B T + T + 1
   * int64s (two floats each). */
  const char *what = "a recurrent op's buffers (batch x steps x hidden)";
  int64_t BT, width, bound;
  RK_TRY(rk_size_mul(&BT, B, T, what));
  RK_TRY(rk_size_add(&width, 2 * GH + 2 * I, 4 * H, what));
  RK_TRY(rk_size_mul(&bound, BT + 1, width, what));
  RK_TRY(rk_size_mul(&width, I + H, GH, what));
  RK_TRY(rk_size_add(&bound, bound, width + 2 * (BT + T + 1), what));
  const int64_t f_saved = BT * (cell->saved * H + (cell->has_cell ? 4 : 2) * H), index_bytes = (BT + T + 1) * 8;
  int64_t shape[3] = {B, T, H};
  rk_node *n;
  RK_TRY(rk_graph_simple_node(g, &n, out, op, n_in, in, RK_DT_F32, 3, shape));
  n->iattr[0] = padding;
  n->iattr[1] = b_ih != NULL;
  n->iattr[2] = b_hh != NULL;
  n->saved_bytes = (size_t)f_saved * sizeof(float);
  n->ws_fwd_bytes = (size_t)index_bytes + (size_t)fwd_floats(cell, B, T, I, H) * sizeof(float);
  n->ws_bwd_bytes = (size_t)index_bytes + (size_t)bwd_floats(cell, B, T, I, H) * sizeof(float);
  RK_TRY(rk_graph_node_add_param(g, n, w_ih));
  RK_TRY(rk_graph_node_add_param(g, n, w_hh));
  if (b_ih) RK_TRY(rk_graph_node_add_param(g, n, b_ih));
  if (b_hh) RK_TRY(rk_graph_node_add_param(g, n, b_hh));
  return RK_OK;
}
