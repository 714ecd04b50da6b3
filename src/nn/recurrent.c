/*
 * The time loop shared by the recurrent ops (gru, lstm, rnn: src/nn/ops/<stem>.c), forward and
 * backward through time, and their common builder. Each stem gives only its cell: the equations
 * of one step and of its derivative, for one row (rk_recurrent_cell in src/nn/ops/ops.h).
 *
 * As PyTorch's nn.GRU / nn.LSTM / nn.RNN with one layer, batch_first=True, a zero initial state
 * and its weight layout: w_ih (G H, I), w_hh (G H, H), b_ih and b_hh (G H), the G gate blocks in
 * PyTorch's order. The input projection of every step is one gemm over all B T rows before the
 * loop; each step is one (B, H) x (H, G H) gemm and the cell's elementwise work; backward runs the
 * steps in reverse, then finds the weight gradients with one gemm each over all steps.
 *
 * Padding: given step ids (B, T), a step whose id is the padding id leaves the state unchanged
 * and outputs zeros. For right-padded sessions that is exactly PyTorch's packed sequences
 * (pack_padded_sequence, then pad_packed_sequence): each session's outputs and final state are
 * those of its real items alone; left padding keeps the zero state until the first item.
 *
 * Layouts: x, out and the input-side gate gradients are batch-major (B, T, .); the states, the
 * saved gate values and the hidden-side gate gradients are time-major (T, B, .), so a step's rows
 * are contiguous for its gemm. All sums are gemms (rk_sgemm) or run in a fixed order.
 */
#include <string.h>

#include "nn/ops/ops.h"

static bool padded(const int64_t *ids, int64_t padding, int64_t b, int64_t T, int64_t t) {
  return ids && ids[b * T + t] == padding;
}

/* One step's pointers and sizes; its rows (sessions) are independent and run in parallel, each
 * writing only its own outputs. */
typedef struct {
  const rk_recurrent_cell *cell;
  int64_t t, B, T, H, GH, SH, padding;
  const int64_t *ids;
  const float *h_prev, *c_prev, *h, *c;   /* (B, H) states before and after the step */
  /* forward */
  float *out, *saved, *h_out, *c_out;
  const float *gx, *gh;
  /* backward */
  float *dgx, *dgh, *dh, *dh_next, *dc, *dc_next;
  const float *dout, *saved_in;
} step_ctx;

static void forward_rows(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const step_ctx *s = arg;
  const int64_t T = s->T, H = s->H, t = s->t;
  for (int64_t b = begin; b < end; b++) {
    float *o = s->out + (b * T + t) * H, *h = s->h_out + b * H, *c = s->c_out ? s->c_out + b * H : NULL;
    const float *h_prev = s->h_prev + b * H, *c_prev = s->c_prev ? s->c_prev + b * H : NULL;
    if (padded(s->ids, s->padding, b, T, t)) {
      memcpy(h, h_prev, (size_t)H * sizeof(float));
      if (c) memcpy(c, c_prev, (size_t)H * sizeof(float));
      memset(o, 0, (size_t)H * sizeof(float));
      continue;
    }
    s->cell->step(h, c, s->SH ? s->saved + (t * s->B + b) * s->SH : NULL, s->gx + (b * T + t) * s->GH,
                  s->gh + b * s->GH, h_prev, c_prev, H);
    memcpy(o, h, (size_t)H * sizeof(float));
  }
}

void recurrent_forward_cpu(const rk_recurrent_cell *cell, float *out /* (B, T, H) */, float *saved /* (T, B, S H) */,
                           float *hs /* (T + 1, B, H) */, float *cs /* (T + 1, B, H) or NULL */,
                           float *gx /* (B, T, G H) */, float *gh /* (B, G H) */, const float *x /* (B, T, I) */,
                           const int64_t *ids /* (B, T) or NULL */, const float *w_ih /* (G H, I) */,
                           const float *w_hh /* (G H, H) */, const float *b_ih /* (G H) or NULL */,
                           const float *b_hh /* (G H) or NULL */, int64_t B, int64_t T, int64_t I, int64_t H,
                           int64_t padding) {
  const int64_t GH = cell->gates * H;
  linear_forward_cpu(gx, NULL, x, w_ih, b_ih, B * T, I, GH, RK_ACT_NONE);
  memset(hs, 0, (size_t)(B * H) * sizeof(float));
  if (cs) memset(cs, 0, (size_t)(B * H) * sizeof(float));
  step_ctx s = {.cell = cell, .B = B, .T = T, .H = H, .GH = GH, .SH = cell->saved * H, .padding = padding,
                .ids = ids, .out = out, .saved = saved, .gx = gx, .gh = gh};
  for (int64_t t = 0; t < T; t++) {
    s.t = t;
    s.h_prev = hs + t * B * H;
    s.h_out = hs + (t + 1) * B * H;
    s.c_prev = cs ? cs + t * B * H : NULL;
    s.c_out = cs ? cs + (t + 1) * B * H : NULL;
    linear_forward_cpu(gh, NULL, s.h_prev, w_hh, b_hh, B, H, GH, RK_ACT_NONE);
    rk_parallel_for(B, rk_row_grain(GH), forward_rows, &s);
  }
}

static void backward_rows(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const step_ctx *s = arg;
  const int64_t T = s->T, H = s->H, GH = s->GH, t = s->t;
  for (int64_t b = begin; b < end; b++) {
    float *gxr = s->dgx + (b * T + t) * GH, *ghr = s->dgh + (t * s->B + b) * GH, *dh = s->dh + b * H;
    if (padded(s->ids, s->padding, b, T, t)) {   /* the state passed through: so does its gradient */
      memset(gxr, 0, (size_t)GH * sizeof(float));
      memset(ghr, 0, (size_t)GH * sizeof(float));
      memcpy(s->dh_next + b * H, dh, (size_t)H * sizeof(float));
      memcpy(s->dc_next + b * H, s->dc + b * H, (size_t)H * sizeof(float));
      continue;
    }
    const float *go = s->dout + (b * T + t) * H;
    for (int64_t k = 0; k < H; k++) dh[k] += go[k];
    bool cell_state = s->c != NULL;
    s->cell->step_back(gxr, ghr, s->dh_next + b * H, cell_state ? s->dc_next + b * H : NULL, dh,
                       cell_state ? s->dc + b * H : NULL, s->SH ? s->saved_in + (t * s->B + b) * s->SH : NULL,
                       s->h + b * H, s->h_prev + b * H, cell_state ? s->c + b * H : NULL,
                       cell_state ? s->c_prev + b * H : NULL, H);
  }
}

/* scratch: dgx (B, T, G H), dgh (T, B, G H), then four (B, H) rows: dh, dh_next, dc, dc_next. */
void recurrent_backward_cpu(const rk_recurrent_cell *cell, float *dx /* (B, T, I) or NULL */, float *dw_ih,
                            float *dw_hh, float *db_ih /* or NULL */, float *db_hh /* or NULL */, float *scratch,
                            const float *dout /* (B, T, H) */, const float *saved /* (T, B, S H) */,
                            const float *hs /* (T + 1, B, H) */, const float *cs /* (T + 1, B, H) or NULL */,
                            const float *x /* (B, T, I) */, const int64_t *ids /* (B, T) or NULL */,
                            const float *w_ih /* (G H, I) */, const float *w_hh /* (G H, H) */, int64_t B,
                            int64_t T, int64_t I, int64_t H, int64_t padding) {
  const int64_t GH = cell->gates * H;
  float *dgx = scratch, *dgh = dgx + B * T * GH, *dh = dgh + T * B * GH;
  memset(dh, 0, (size_t)(4 * B * H) * sizeof(float));
  step_ctx s = {.cell = cell, .B = B, .T = T, .H = H, .GH = GH, .SH = cell->saved * H, .padding = padding,
                .ids = ids, .dgx = dgx, .dgh = dgh, .dh = dh, .dh_next = dh + B * H, .dc = dh + 2 * B * H,
                .dc_next = dh + 3 * B * H, .dout = dout, .saved_in = saved};
  for (int64_t t = T - 1; t >= 0; t--) {
    s.t = t;
    s.h_prev = hs + t * B * H;
    s.h = hs + (t + 1) * B * H;
    s.c_prev = cs ? cs + t * B * H : NULL;
    s.c = cs ? cs + (t + 1) * B * H : NULL;
    rk_parallel_for(B, rk_row_grain(GH), backward_rows, &s);
    rk_sgemm(false, false, B, H, GH, 1.0f, dgh + t * B * GH, GH, w_hh, H, 1.0f, s.dh_next, H);
    float *swap = s.dh;   /* the next (earlier) step's dh is this one's dh_next */
    s.dh = s.dh_next;
    s.dh_next = swap;
    swap = s.dc;
    s.dc = s.dc_next;
    s.dc_next = swap;
  }
  linear_backward_cpu(dx, dw_ih, db_ih, NULL, dgx, NULL, x, w_ih, B * T, I, GH, RK_ACT_NONE);
  linear_backward_cpu(NULL, dw_hh, db_hh, NULL, dgh, NULL, hs, w_hh, T * B, H, GH, RK_ACT_NONE);
}

/* ---- the node ---- */

typedef struct {
  int64_t B, T, I, H;
  const rk_param *w_ih, *w_hh, *b_ih, *b_hh;
  float *saved, *hs, *cs;
} rec_parts;

static void parts(const rk_recurrent_cell *cell, const rk_graph *g, const rk_node *n, rec_parts *p) {
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
  p->saved = n->saved;
  p->hs = p->saved + p->T * p->B * cell->saved * p->H;
  p->cs = cell->has_cell ? p->hs + (p->T + 1) * p->B * p->H : NULL;
}

rk_status recurrent_node_forward_cpu(const rk_recurrent_cell *cell, rk_graph *g, const rk_node *n) {
  rec_parts p;
  parts(cell, g, n, &p);
  float *gx = n->ws_fwd, *gh = gx + p.B * p.T * cell->gates * p.H;
  recurrent_forward_cpu(cell, rk_x(g, n->out[0]), p.saved, p.hs, p.cs, gx, gh, rk_x(g, n->in[0]),
                        n->n_in > 1 ? rk_xi(g, n->in[1]) : NULL, p.w_ih->value.data, p.w_hh->value.data,
                        p.b_ih ? p.b_ih->value.data : NULL, p.b_hh ? p.b_hh->value.data : NULL, p.B, p.T, p.I, p.H,
                        n->iattr[0]);
  return RK_OK;
}

void recurrent_node_backward_cpu(const rk_recurrent_cell *cell, rk_graph *g, const rk_node *n) {
  rec_parts p;
  parts(cell, g, n, &p);
  recurrent_backward_cpu(cell, rk_dx(g, n->in[0]), p.w_ih->grad.data, p.w_hh->grad.data,
                         p.b_ih ? p.b_ih->grad.data : NULL, p.b_hh ? p.b_hh->grad.data : NULL, n->ws_bwd,
                         rk_dx(g, n->out[0]), p.saved, p.hs, p.cs, rk_x(g, n->in[0]),
                         n->n_in > 1 ? rk_xi(g, n->in[1]) : NULL, p.w_ih->value.data, p.w_hh->value.data, p.B, p.T,
                         p.I, p.H, n->iattr[0]);
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
  /* floats: saved gates (T, B, S H), states (T + 1, B, H) twice with a cell; gx (B, T, G H) and
   * gh (B, G H) forward; dgx, dgh and four (B, H) rows backward */
  const char *what = "a recurrent op's buffers (batch x steps x hidden)";
  int64_t BH, TBH, TBGH, f_saved, f_fwd, f_bwd;
  RK_TRY(rk_size_mul(&BH, B, H, what));
  RK_TRY(rk_size_mul(&TBH, T, BH, what));
  RK_TRY(rk_size_mul(&TBGH, TBH, cell->gates, what));
  RK_TRY(rk_size_add(&f_saved, TBH * cell->saved, (TBH + BH) * (cell->has_cell ? 2 : 1), what));
  RK_TRY(rk_size_add(&f_fwd, TBGH, BH * cell->gates, what));
  RK_TRY(rk_size_add(&f_bwd, 2 * TBGH, 4 * BH, what));
  int64_t shape[3] = {B, T, H};
  rk_node *n;
  RK_TRY(rk_graph_simple_node(g, &n, out, op, n_in, in, RK_DT_F32, 3, shape));
  n->iattr[0] = padding;
  n->iattr[1] = b_ih != NULL;
  n->iattr[2] = b_hh != NULL;
  n->saved_bytes = (size_t)f_saved * sizeof(float);
  n->ws_fwd_bytes = (size_t)f_fwd * sizeof(float);
  n->ws_bwd_bytes = (size_t)f_bwd * sizeof(float);
  RK_TRY(rk_graph_node_add_param(g, n, w_ih));
  RK_TRY(rk_graph_node_add_param(g, n, w_hh));
  if (b_ih) RK_TRY(rk_graph_node_add_param(g, n, b_ih));
  if (b_hh) RK_TRY(rk_graph_node_add_param(g, n, b_hh));
  return RK_OK;
}
