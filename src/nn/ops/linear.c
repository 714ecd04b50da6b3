/*
 * linear: out (N, OC) = act(x (N, C) w^T + b), w (OC, C) as PyTorch's nn.Linear stores it.
 * The gemms are OpenBLAS's. Without an activation the bias rows are copied into the output and
 * the gemm adds to them (beta 1, as torch.addmm: OpenBLAS would otherwise zero the output in a
 * pass of its own, and a bias pass would follow); with one, bias and activation are fused into
 * one pass over the output. Backward turns the activation's derivative (from the output) into
 * dpre in its workspace.
 * An input with rows in use (gather_rows) is computed on those rows only, and so is the output.
 * Its gemm reads w transposed, made each forward, or once when the graph's parameters are
 * frozen (rk_graph_freeze_params: a served model, where the transposes were a fifth of a
 * session request's CPU).
 */
#include <math.h>
#include <string.h>

#include "nn/ops/ops.h"

typedef struct {
  float *out;
  const float *b;
  int64_t OC;
  rk_act act;
} epilogue_ctx;

/* One pass per row: bias and activation together; restrict and a loop per activation let the
 * compiler vectorise it (a switch per element or a possible alias kept these loops scalar). */
static void bias_relu(float *restrict o, const float *restrict b, int64_t n) {
  if (b)
    for (int64_t j = 0; j < n; j++) o[j] = o[j] + b[j] > 0.0f ? o[j] + b[j] : 0.0f;
  else
    for (int64_t j = 0; j < n; j++) o[j] = o[j] > 0.0f ? o[j] : 0.0f;
}

static void bias_only(float *restrict o, const float *restrict b, int64_t n) {
  for (int64_t j = 0; j < n; j++) o[j] += b[j];
}

/* libm's tanhf was a third of a session model's input layer and head (a scalar call per element) */
RK_VECTOR_CLONES static void tanh_row(float *restrict o, int64_t n) {
  for (int64_t j = 0; j < n; j++) o[j] = rk_tanhf_fast(o[j]);
}

static void epilogue_rows(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const epilogue_ctx *c = arg;
  for (int64_t n = begin; n < end; n++) {
    float *o = c->out + n * c->OC;   /* (OC) */
    if (c->act == RK_ACT_RELU) {
      bias_relu(o, c->b, c->OC);
      continue;
    }
    if (c->b) bias_only(o, c->b, c->OC);
    if (c->act == RK_ACT_SIGMOID)
      for (int64_t j = 0; j < c->OC; j++) o[j] = 1.0f / (1.0f + expf(-o[j]));
    else if (c->act == RK_ACT_TANH)
      tanh_row(o, c->OC);
  }
}

static void bias_rows(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const epilogue_ctx *c = arg;
  for (int64_t n = begin; n < end; n++) memcpy(c->out + n * c->OC, c->b, (size_t)c->OC * sizeof(float));
}

/* wt = w^T in 16 x 16 tiles (walking w's columns wrote wt a cache line per element). */
void linear_transpose_cpu(float *wt /* (C, OC) */, const float *w /* (OC, C) */, int64_t OC, int64_t C) {
  for (int64_t o0 = 0; o0 < OC; o0 += 16)
    for (int64_t k0 = 0; k0 < C; k0 += 16)
      for (int64_t o = o0; o < o0 + 16 && o < OC; o++)
        for (int64_t k = k0; k < k0 + 16 && k < C; k++) wt[k * OC + o] = w[o * C + k];
}

/* wt (C, OC) or NULL: w transposed (linear_transpose_cpu). With it the gemm is x wt (OpenBLAS's NN
 * kernels), whose rows come out the same bits whatever N: its x w^T kernel for few rows
 * (SkylakeX's small-matrix path, N OC <= 1200) sums in another order, so a session's result
 * depended on how many real rows its batch packed (a packed body's N; serve against predict).
 * At larger N the two give the same bits (measured), so only rows in use need it; the tiled
 * transpose costs about 6% of a packed session layer's gemm. */
void linear_forward_cpu(float *out /* (N, OC) */, const float *wt /* (C, OC) or NULL */, const float *x /* (N, C) */,
                        const float *w /* (OC, C) */, const float *b /* (OC) or NULL */,
                        int64_t N, int64_t C, int64_t OC, rk_act act) {
  epilogue_ctx c = {out, b, OC, act};
  bool bias_first = b && act == RK_ACT_NONE;
  if (bias_first) rk_parallel_for(N, rk_row_grain(OC), bias_rows, &c);
  if (wt) {
    rk_sgemm(false, false, N, OC, C, 1.0f, x, C, wt, OC, bias_first ? 1.0f : 0.0f, out, OC);
  } else {
    rk_sgemm(false, true, N, OC, C, 1.0f, x, C, w, C, bias_first ? 1.0f : 0.0f, out, OC);
  }
  if (act == RK_ACT_NONE) return;
  rk_parallel_for(N, rk_row_grain(OC), epilogue_rows, &c);
}

typedef struct {
  float *dpre, *db;
  const float *dout, *out, *dp;
  int64_t N, OC;
  rk_act act;
} dact_ctx;

static void dact_relu(float *restrict dpre, const float *restrict dout, const float *restrict out, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    float g = dout[i];   /* loaded unconditionally, so the select vectorises */
    dpre[i] = out[i] > 0.0f ? g : 0.0f;
  }
}

/* tanh's derivative from its output; a loop of its own vectorises (the shared one below did not) */
static void dact_tanh(float *restrict dpre, const float *restrict dout, const float *restrict out, int64_t n) {
  for (int64_t i = 0; i < n; i++) dpre[i] = dout[i] * (1.0f - out[i] * out[i]);
}

static void dact_range(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const dact_ctx *c = arg;
  if (c->act == RK_ACT_RELU) {
    dact_relu(c->dpre + begin, c->dout + begin, c->out + begin, end - begin);
    return;
  }
  if (c->act == RK_ACT_TANH) {
    dact_tanh(c->dpre + begin, c->dout + begin, c->out + begin, end - begin);
    return;
  }
  for (int64_t i = begin; i < end; i++) {   /* sigmoid */
    float y = c->out[i];
    c->dpre[i] = c->dout[i] * (y * (1.0f - y));
  }
}

/* db over a range of columns, each summed over the rows in order (as a serial loop would). */
RK_VECTOR_CLONES static void add_row(float *restrict acc, const float *restrict row, int64_t n) {
  for (int64_t j = 0; j < n; j++) acc[j] += row[j];
}

static void db_cols(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const dact_ctx *c = arg;
  for (int64_t n = 0; n < c->N; n++) add_row(c->db + begin, c->dp + n * c->OC + begin, end - begin);
}

/* dpre (N, OC): scratch when act != NONE. dx, dw, db may be NULL (not needed). */
void linear_backward_cpu(float *dx /* (N, C) */, float *dw /* (OC, C) */, float *db /* (OC) */,
                         float *dpre /* (N, OC) */, const float *dout /* (N, OC) */,
                         const float *out /* (N, OC) */, const float *x /* (N, C) */,
                         const float *w /* (OC, C) */, int64_t N, int64_t C, int64_t OC, rk_act act) {
  dact_ctx c = {dpre, db, dout, out, dout, N, OC, act};
  if (act != RK_ACT_NONE) {
    rk_parallel_for(N * OC, 1 << 14, dact_range, &c);
    c.dp = dpre;
  }
  if (dx)
    rk_sgemm(false, false, N, C, OC, 1.0f, c.dp, OC,
                w, C, 1.0f, dx, C);
  if (dw)
    rk_sgemm(true, false, OC, C, N, 1.0f, c.dp, OC, x,
                C, 1.0f, dw, C);
  /* each column sums its rows in order whatever the chunks: wide chunks read the rows in long
   * runs (64-column ones streamed the matrix in 256-byte pieces) */
  if (db) rk_parallel_for(OC, OC / 4 > 64 ? OC / 4 : 64, db_cols, &c);
}

/* N: the rows in use of x (all of them unless it comes from gather_rows): rows past them are
 * neither computed nor read, and get no gradient. */
static void dims(const rk_graph *g, const rk_node *n, int64_t *N, int64_t *C, int64_t *OC) {
  const rk_value *x = rk_val(g, n->in[0]);
  *C = x->shape[x->ndim - 1];
  *N = x->rows * (x->numel / x->shape[0]) / *C;
  *OC = n->iattr[0];
}

/* The node's kernels: rk_graph_forward/backward (graph.c) call them through the CPU backend's
 * row for RK_OP_LINEAR, which backend_cpu.c generates from RK_OP_LIST by this naming rule. */
rk_status linear_node_forward_cpu(rk_graph *g, const rk_node *n) {
  int64_t N, C, OC;
  dims(g, n, &N, &C, &OC);
  const rk_param *b = n->n_params > 1 ? n->params[1] : NULL;
  rk_val(g, n->out[0])->rows = rk_val(g, n->in[0])->rows;
  const float *w = n->params[0]->value.data, *wt = NULL;
  if (rk_val(g, n->in[0])->partial_rows) {   /* rows in use: a row's bits whatever N */
    wt = n->state;                           /* frozen: transposed once */
    if (!wt) {
      linear_transpose_cpu(n->ws_fwd, w, OC, C);
      wt = n->ws_fwd;
    }
  }
  linear_forward_cpu(rk_x(g, n->out[0]), wt, rk_x(g, n->in[0]), w, b ? b->value.data : NULL, N, C, OC,
                     (rk_act)n->iattr[1]);
  return RK_OK;
}

/* rk_graph_freeze_params: the transposed weight of a rows-in-use gemm, kept as the node's state. */
rk_status linear_node_freeze_cpu(rk_graph *g, rk_node *n) {
  if (!rk_val(g, n->in[0])->partial_rows) return RK_OK;
  int64_t OC = n->params[0]->value.shape[0], C = n->params[0]->value.shape[1];
  float *wt = rk_graph_fixed_alloc(g, (size_t)(OC * C) * sizeof(float));
  if (!wt) return rk_error_context(RK_ENOMEM, "the transposed weight of '%s'", n->params[0]->name);
  linear_transpose_cpu(wt, n->params[0]->value.data, OC, C);
  n->state = wt;
  n->state_floats = (size_t)(OC * C);
  return RK_OK;
}

void linear_node_backward_cpu(rk_graph *g, const rk_node *n) {
  int64_t N, C, OC;
  dims(g, n, &N, &C, &OC);
  const rk_param *b = n->n_params > 1 ? n->params[1] : NULL;
  linear_backward_cpu(rk_dx(g, n->in[0]), n->params[0]->grad.data, b ? b->grad.data : NULL, n->ws_bwd,
                      rk_dx(g, n->out[0]), rk_x(g, n->out[0]), rk_x(g, n->in[0]),
                      n->params[0]->value.data, N, C, OC, (rk_act)n->iattr[1]);
}

rk_status rk_graph_linear(rk_graph *g, int *out, int x, rk_param *w, rk_param *b, rk_act act) {
  RK_TRY(rk_graph_check_value(g, x, "linear"));
  const rk_value *xv = rk_val(g, x);
  char bx[96];
  if (!rk_param_declared(w) || w->value.ndim != 2)
    return rk_error(RK_EINVAL, "linear: weight must be an initialised (OC, C) parameter");
  if (w->sparse) return rk_error(RK_EINVAL, "linear: weight '%s' is a sparse table", w->name);
  if (xv->dtype != RK_DT_F32 || xv->ndim < 1 || xv->shape[xv->ndim - 1] != w->value.shape[1])
    return rk_error(RK_ESHAPE, "linear: input %s does not match weight '%s' (%lld, %lld): its last axis must be %lld",
                    rk_shape_str(xv, bx, sizeof bx), w->name, (long long)w->value.shape[0],
                    (long long)w->value.shape[1], (long long)w->value.shape[1]);
  if (b && (b->value.ndim != 1 || b->value.shape[0] != w->value.shape[0]))
    return rk_error(RK_ESHAPE, "linear: bias '%s' must have shape (%lld)", b->name, (long long)w->value.shape[0]);
  int64_t shape[RK_TENSOR_MAX_DIMS];
  memcpy(shape, xv->shape, sizeof shape);
  shape[xv->ndim - 1] = w->value.shape[0];
  rk_node *n;
  RK_TRY(rk_graph_simple_node(g, &n, out, RK_OP_LINEAR, 1, &x, RK_DT_F32, xv->ndim, shape));
  n->iattr[0] = w->value.shape[0];
  n->iattr[1] = act;
  if (act != RK_ACT_NONE) n->ws_bwd_bytes = (size_t)rk_val(g, *out)->numel * sizeof(float);
  if (rk_val(g, x)->partial_rows)   /* w transposed (linear_forward_cpu) */
    n->ws_fwd_bytes = (size_t)(w->value.shape[0] * w->value.shape[1]) * sizeof(float);
  RK_TRY(rk_graph_node_add_param(g, n, w));
  if (b) RK_TRY(rk_graph_node_add_param(g, n, b));
  return RK_OK;
}
