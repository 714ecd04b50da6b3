/*
 * catalog_ce: a next-item head's cross-entropy over the whole catalogue, fused with the scoring
 * gemm so the (R, V) logits are never stored whole. Rows h (R, D) against the item matrix W (V, D)
 * and bias b (V) or NULL, integer labels y (R):
 *   z = h W^T + b,   loss = softmax_ce(z, y, ignore, eps, tau)
 * the same value and gradients as linear (no activation) followed by softmax_ce (see its header:
 * PyTorch's CrossEntropyLoss with ignore_index, label smoothing eps, logits over tau), to float
 * rounding. Its reason: at a 9,002-item catalogue and ~2,500 labelled rows a step, the unfused
 * path wrote and re-read 90 MB of logits and as many of their gradients, each pass from memory.
 *
 * By tiles of Rt rows (catalog_ce_tile_rows: their logits (Rt, V) in the last-level cache), each
 * in blocks of Vb items (a block's logits in the second-level cache):
 *   1. per block, its logits by rk_sgemm, folded at once into each row's online log-sum-exp
 *      (Milakov and Gimelshein, 2018): the block's max and sum, its exponentials against the
 *      running max, the sum so far rescaled when the max grows;
 *   2. (train) per block again, dz = (softmax - target) / (valid tau) in place (smoothing spreads
 *      eps / V over the items), then dh_tile += dz W_blk, dW_blk += dz^T h_tile, db_blk += sums.
 * The gradient is made in the forward pass, for d loss = 1, while the logits are in cache (as
 * Liger-Kernel's fused linear cross-entropy does): no second gemm for the logits. Backward scales
 * it by d loss into the gradients. The tiles and blocks run in one fixed order and only the work
 * inside a block is parallel (rk_sgemm's row chunks; rows for the softmax; items for db), so
 * every sum is made in the same order whatever the threads. Not the sampled heads
 * (sampled_logits.c). An h with rows in use (gather_rows) is read on those rows, with the same
 * leading labels.
 */
#include <math.h>
#include <string.h>

#include "nn/ops/ops.h"

/* Items per block: a block of a 128-row tile is 128 KiB of logits, with W's block (256, D) beside
 * it in the second-level cache. */
#define BLOCK_ITEMS 256

/* One row's running state over the item blocks seen so far. */
typedef struct {
  double sum_exp;   /* sum e^((z - max) / tau) */
  double sum_z;     /* sum z (the smoothing term) */
  float max, zy;    /* the largest logit; the target's */
} ce_row;

typedef struct {
  float *tile;               /* (nr, nc), row stride ld: a block's logits, their exponentials, then
                                their gradients */
  ce_row *state;             /* (nr) */
  float *block_max;          /* (nr, blocks): the running max each block's exponentials are against */
  const double *rows;        /* the tile's (nr, 2): log-sum-exp of z / tau, the row's loss */
  const int64_t *y;          /* the tile's labels */
  int64_t j0, nc, ld, ignore, blk, blocks;   /* blk: the block's number, of blocks */
  double inv;
  float scale, base, target; /* gradient: d = scale (p - base), and - scale (1 - eps) at y */
} tile_ctx;

/* The catalogue-wide loops keep LANES partial results, combined in lane order: the compiler
 * vectorises them, and their order depends on the block's width alone. */
#define LANES 16

RK_VECTOR_CLONES static void block_max_sum(float *max, double *sum, const float *restrict z, int64_t n) {
  float m[LANES];
  double s[LANES];
  for (int k = 0; k < LANES; k++) m[k] = z[0], s[k] = 0.0;
  int64_t j = 0;
  for (; j + LANES <= n; j += LANES)
    for (int k = 0; k < LANES; k++) {
      float v = z[j + k];
      m[k] = v > m[k] ? v : m[k];
      s[k] += v;
    }
  float mx = m[0];
  double sz = 0.0;
  for (int k = 0; k < LANES; k++) {
    mx = m[k] > mx ? m[k] : mx;
    sz += s[k];
  }
  for (; j < n; j++) {
    mx = z[j] > mx ? z[j] : mx;
    sz += z[j];
  }
  *max = mx;
  *sum = sz;
}

/* z becomes e^((z - mx) / tau), kept for the gradient (no second exp); returns their sum. */
RK_VECTOR_CLONES static double block_exp_sum(float *restrict z, float mx, float inv, int64_t n) {
  double s[LANES] = {0};
  int64_t j = 0;
  for (; j + LANES <= n; j += LANES)
    for (int k = 0; k < LANES; k++) {
      z[j + k] = rk_exp_nonpos_fast((z[j + k] - mx) * inv);
      s[k] += z[j + k];
    }
  double se = 0.0;
  for (int k = 0; k < LANES; k++) se += s[k];
  for (; j < n; j++) {
    z[j] = rk_exp_nonpos_fast((z[j] - mx) * inv);
    se += z[j];
  }
  return se;
}

/* The block's logits (nr, nc), row stride ld: the bias rows first and the gemm adding to them. */
static void block_logits(float *z, int64_t ld, const float *h, const float *w, const float *b, int64_t nr, int64_t nc,
                         int64_t D) {
  for (int64_t r = 0; b && r < nr; r++) memcpy(z + r * ld, b, (size_t)nc * sizeof *z);
  rk_sgemm(false, true, nr, nc, D, 1.0f, h, D, w, D, b ? 1.0f : 0.0f, z, ld);
}

/* Each row alone: fold the block into the row's running state. */
static void block_forward_rows(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const tile_ctx *c = arg;
  for (int64_t r = begin; r < end; r++) {
    const int64_t y = c->y[r];
    if (y == c->ignore) continue;
    const float *z = c->tile + r * c->ld;
    ce_row *s = &c->state[r];
    float bm;
    double bs;
    block_max_sum(&bm, &bs, z, c->nc);
    if (c->j0 == 0) *s = (ce_row){.max = bm};
    else if (bm > s->max) {
      s->sum_exp *= exp(((double)s->max - bm) * c->inv);
      s->max = bm;
    }
    s->sum_z += bs;
    if (y >= c->j0 && y < c->j0 + c->nc) s->zy = z[y - c->j0];
    c->block_max[r * c->blocks + c->blk] = s->max;
    s->sum_exp += block_exp_sum(c->tile + r * c->ld, s->max, (float)c->inv, c->nc);
  }
}

/* p = e^((z - m) / tau) e^(m / tau - lse): the kept exponential times the row's factor for the
 * block's max m. */
RK_VECTOR_CLONES static void grad_block(float *restrict d, float factor, float scale, float base, int64_t n) {
  for (int64_t j = 0; j < n; j++) d[j] = scale * (d[j] * factor - base);
}

/* The block's logits become their gradients in place; ignored rows are zeros. */
static void block_grad_rows(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const tile_ctx *c = arg;
  for (int64_t r = begin; r < end; r++) {
    float *d = c->tile + r * c->ld;
    const int64_t y = c->y[r];
    if (y == c->ignore) {
      memset(d, 0, (size_t)c->nc * sizeof *d);
      continue;
    }
    float factor = (float)exp(c->block_max[r * c->blocks + c->blk] * c->inv - c->rows[2 * r]);
    grad_block(d, factor, c->scale, c->base, c->nc);
    if (y >= c->j0 && y < c->j0 + c->nc) d[y - c->j0] -= c->target;
  }
}

/* db over a range of the block's items, each summed over the tile's rows in order. */
typedef struct {
  float *db;
  const float *dz;
  int64_t nr, ld;
} colsum_ctx;

static void block_colsums(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const colsum_ctx *c = arg;
  for (int64_t r = 0; r < c->nr; r++)
    for (int64_t j = begin; j < end; j++) c->db[j] += c->dz[r * c->ld + j];
}

/* The tile's gradients, block by block over its exponentials (nr, V) in the panel: dz in place,
 * then dh_tile = dz W (written), dW += dz^T h_tile, db += column sums (added). t: the tile's
 * context, its blocks' fields set here. */
static void tile_gradients(const catalog_ce_grads *gr, tile_ctx t, const float *h, const float *w, int64_t nr,
                           int64_t D, int64_t V, int64_t Vb) {
  for (int64_t j0 = 0; j0 < V; j0 += Vb) {
    t.j0 = j0, t.blk = j0 / Vb, t.nc = V - j0 < Vb ? V - j0 : Vb;
    float *dz = t.tile + j0;
    tile_ctx c = t;
    c.tile = dz;
    rk_parallel_for(nr, rk_row_grain(t.nc), block_grad_rows, &c);
    rk_sgemm(false, false, nr, D, t.nc, 1.0f, dz, V, w + j0 * D, D, j0 == 0 ? 0.0f : 1.0f, gr->dh, D);
    rk_sgemm(true, false, t.nc, D, nr, 1.0f, dz, V, h, D, 1.0f, gr->dw + j0 * D, D);
    if (gr->db) {
      colsum_ctx cs = {.db = gr->db + j0, .dz = dz, .nr = nr, .ld = V};
      rk_parallel_for(t.nc, 256, block_colsums, &cs);
    }
  }
}

static int64_t blocks_of(int64_t V, int64_t Vb) { return (V + Vb - 1) / Vb; }

rk_status catalog_ce_forward_cpu(float *loss /* (1) */, double *rows /* (R, 2) */, const catalog_ce_grads *grads,
                                 float *panel /* (Rt, V) */, void *scratch /* catalog_ce_scratch_bytes */,
                                 const float *h /* (R, D) */, const int64_t *y /* (R) */, const float *w /* (V, D) */,
                                 const float *b /* (V) or NULL */, int64_t R, int64_t D, int64_t V, int64_t ignore,
                                 float eps, float tau, int64_t Rt, int64_t Vb) {
  int64_t valid = 0;
  for (int64_t r = 0; r < R; r++) {
    if (y[r] == ignore) continue;
    if (y[r] < 0 || y[r] >= V)
      return rk_error(RK_ERANGE, "catalog_ce: label %lld of row %lld is outside the catalogue [0, %lld)",
                      (long long)y[r], (long long)r, (long long)V);
    valid++;
  }
  if (grads) {
    memset(grads->dw, 0, (size_t)(V * D) * sizeof(float));
    if (grads->db) memset(grads->db, 0, (size_t)V * sizeof(float));
  }
  const double inv = 1.0 / tau;
  /* d loss = 1; as softmax_ce's scale, the same float roundings */
  const float scale = valid ? 1.0f / (float)valid / tau : 0.0f;
  ce_row *state = scratch;
  for (int64_t r0 = 0; r0 < R; r0 += Rt) {
    const int64_t nr = R - r0 < Rt ? R - r0 : Rt;
    tile_ctx t = {.tile = panel, .state = state, .block_max = (float *)(state + Rt), .rows = rows + 2 * r0,
                  .y = y + r0, .ld = V, .ignore = ignore, .blocks = blocks_of(V, Vb), .inv = inv, .scale = scale,
                  .base = (float)(eps / (double)V), .target = scale * (float)(1.0 - eps)};
    for (int64_t j0 = 0; j0 < V; j0 += Vb) {   /* the logits block by block, each folded while in cache */
      tile_ctx c = t;
      c.j0 = j0, c.blk = j0 / Vb, c.nc = V - j0 < Vb ? V - j0 : Vb, c.tile = panel + j0;
      block_logits(c.tile, V, h + r0 * D, w + j0 * D, b ? b + j0 : NULL, nr, c.nc, D);
      rk_parallel_for(nr, rk_row_grain(c.nc), block_forward_rows, &c);
    }
    for (int64_t r = 0; r < nr; r++) {
      double *out = rows + 2 * (r0 + r);
      out[0] = out[1] = 0.0;
      if (y[r0 + r] == ignore) continue;
      const ce_row *s = state + r;
      // cppcheck-suppress invalidFunctionArg ; sum_exp >= 1 (the max's term is e^0)
      double lse = s->max * inv + log(s->sum_exp), sum_logp = s->sum_z * inv - (double)V * lse;
      out[0] = lse;
      out[1] = -(1.0 - eps) * (s->zy * inv - lse) - eps / (double)V * sum_logp;
    }
    if (grads) {
      catalog_ce_grads tile = {.dh = grads->dh + r0 * D, .dw = grads->dw, .db = grads->db};
      tile_gradients(&tile, t, h + r0 * D, w, nr, D, V, Vb);
    }
  }
  double sum = 0.0;
  for (int64_t r = 0; r < R; r++) sum += rows[2 * r + 1];   /* in row order: thread-independent */
  loss[0] = valid ? (float)(sum / (double)valid) : 0.0f;
  return RK_OK;
}

/* acc (n) += g x (n), in fixed chunks. */
typedef struct {
  float *acc;
  const float *x;
  float g;
} axpy_ctx;

static void axpy_range(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const axpy_ctx *c = arg;
  for (int64_t i = begin; i < end; i++) c->acc[i] += c->g * c->x[i];
}

static void axpy(float *acc, const float *x, float g, int64_t n) {
  if (!acc) return;
  axpy_ctx c = {acc, x, g};
  rk_parallel_for(n, 1 << 14, axpy_range, &c);
}

void catalog_ce_backward_cpu(float *dh /* (R, D) or NULL */, float *dw /* (V, D) or NULL */, float *db /* (V) or NULL */,
                             const float *dloss /* (1) */, const catalog_ce_grads *saved, int64_t R, int64_t D,
                             int64_t V) {
  axpy(dh, saved->dh, dloss[0], R * D);
  axpy(dw, saved->dw, dloss[0], V * D);
  if (saved->db) axpy(db, saved->db, dloss[0], V);
}

size_t catalog_ce_scratch_bytes(int64_t Rt, int64_t V, int64_t Vb) {
  return (size_t)Rt * (sizeof(ce_row) + (size_t)blocks_of(V, Vb) * sizeof(float));
}

/* Rows per tile: 128 (measured best at a 9,002-item catalogue: larger tiles gained nothing),
 * fewer when the tile's logits (Rt, V) would pass 16 MiB, at least 16; a function of V alone, so
 * the sums do not depend on threads. */
int64_t catalog_ce_tile_rows(int64_t V) {
  int64_t rt = ((int64_t)1 << 22) / V / 16 * 16;
  return rt < 16 ? 16 : rt > 128 ? 128 : rt;
}

/* ---- the node ------------------------------------------------------------------------------- */
/* The node's sizes; its saved buffer: rows (R, 2) doubles, then the gradients for d loss = 1:
 * dh (R, D), dW (V, D), db (V). Its forward scratch: rows (an eval pass has no saved buffer),
 * the tile's logits (Rt, V), the tile's row states. */
typedef struct {
  int64_t R, D, V, Rt;
  double *rows;
  catalog_ce_grads grads;
  float *panel;
  void *scratch;
} ce_layout;

static ce_layout layout(const rk_graph *g, const rk_node *n, bool train) {
  const rk_value *h = rk_val(g, n->in[0]);
  ce_layout l = {.D = h->shape[h->ndim - 1], .V = n->params[0]->value.shape[0]};
  l.R = h->rows * (h->numel / h->shape[0]) / l.D;   /* the rows in use */
  l.Rt = catalog_ce_tile_rows(l.V);
  const int64_t R_all = n->iattr[1];
  const size_t rows_bytes = (size_t)(2 * R_all) * sizeof(double);   /* the buffers start with the rows */
  if (train && n->saved) {
    l.rows = n->saved;
    l.grads.dh = (void *)((char *)n->saved + rows_bytes);
    l.grads.dw = l.grads.dh + R_all * l.D;
    l.grads.db = n->n_params > 1 ? l.grads.dw + l.V * l.D : NULL;
  }
  if (!l.rows) l.rows = n->ws_fwd;
  l.panel = (void *)((char *)n->ws_fwd + rows_bytes);
  l.scratch = l.panel + l.Rt * l.V;
  return l;
}

rk_status catalog_ce_node_forward_cpu(rk_graph *g, const rk_node *n) {
  const bool train = rk_graph_training(g);
  ce_layout l = layout(g, n, train);
  const rk_param *b = n->n_params > 1 ? n->params[1] : NULL;
  return catalog_ce_forward_cpu(rk_x(g, n->out[0]), l.rows, l.grads.dh ? &l.grads : NULL, l.panel, l.scratch,
                                rk_x(g, n->in[0]), rk_xi(g, n->in[1]), n->params[0]->value.data,
                                b ? b->value.data : NULL, l.R, l.D, l.V, n->iattr[0], n->fattr[0], n->fattr[1], l.Rt,
                                BLOCK_ITEMS);
}

void catalog_ce_node_backward_cpu(rk_graph *g, const rk_node *n) {
  ce_layout l = layout(g, n, true);
  const rk_param *b = n->n_params > 1 ? n->params[1] : NULL;
  catalog_ce_backward_cpu(rk_dx(g, n->in[0]), n->params[0]->grad.data, b ? b->grad.data : NULL, rk_dx(g, n->out[0]),
                          &l.grads, l.R, l.D, l.V);
}

rk_status rk_graph_catalog_ce(rk_graph *g, int *out, int h, int labels, rk_param *w, rk_param *b,
                              int64_t ignore_index, float smoothing, float temperature) {
  RK_TRY(rk_graph_check_value(g, h, "catalog_ce"));
  RK_TRY(rk_graph_check_value(g, labels, "catalog_ce"));
  const rk_value *hv = rk_val(g, h), *y = rk_val(g, labels);
  char bh[96], by[96];
  if (hv->ndim < 1 || hv->dtype != RK_DT_F32 || y->dtype != RK_DT_I64 ||
      y->numel * hv->shape[hv->ndim - 1] != hv->numel)
    return rk_error(RK_ESHAPE, "catalog_ce: rows %s and int64 labels %s must be (R, D) and (R) or (R, 1)",
                    rk_shape_str(hv, bh, sizeof bh), rk_shape_str(y, by, sizeof by));
  const int64_t D = hv->shape[hv->ndim - 1];
  if (!rk_param_declared(w) || w->sparse || w->value.ndim != 2 || w->value.shape[1] != D || w->value.shape[0] < 1)
    return rk_error(RK_ESHAPE, "catalog_ce: the item matrix '%s' must be a dense (V, %lld) parameter, V >= 1",
                    w->name, (long long)D);
  if (b && (!rk_param_declared(b) || b->value.ndim != 1 || b->value.shape[0] != w->value.shape[0]))
    return rk_error(RK_ESHAPE, "catalog_ce: the item bias '%s' must have shape (%lld)", b->name,
                    (long long)w->value.shape[0]);
  if (!(smoothing >= 0.0f && smoothing <= 1.0f))
    return rk_error(RK_EINVAL, "catalog_ce: label smoothing %g must be in [0, 1]", smoothing);
  if (!(temperature > 0.0f && temperature < INFINITY))
    return rk_error(RK_EINVAL, "catalog_ce: temperature %g must be positive and finite", temperature);
  const int64_t R = y->numel, V = w->value.shape[0], Rt = catalog_ce_tile_rows(V);
  int64_t rows, grads, panel, t;
  RK_TRY(rk_size_mul(&rows, R, 4, "catalog_ce's per-row results"));   /* 2 doubles: 4 floats */
  RK_TRY(rk_size_mul(&grads, R, D, "catalog_ce's row gradients"));
  RK_TRY(rk_size_mul(&t, V, D + 1, "catalog_ce's item gradients"));
  RK_TRY(rk_size_add(&grads, grads, t, "catalog_ce's gradients"));
  RK_TRY(rk_size_mul(&panel, Rt, V, "catalog_ce's tile of logits"));
  int in[2] = {h, labels};
  rk_node *n;
  RK_TRY(rk_graph_simple_node(g, &n, out, RK_OP_CATALOG_CE, 2, in, RK_DT_F32, 0, NULL));
  RK_TRY(rk_graph_node_add_param(g, n, w));
  if (b) RK_TRY(rk_graph_node_add_param(g, n, b));
  n->iattr[0] = ignore_index;
  n->iattr[1] = R;
  n->fattr[0] = smoothing;
  n->fattr[1] = temperature;
  n->saved_bytes = (size_t)(rows + grads) * sizeof(float);
  n->ws_fwd_bytes = (size_t)(rows + panel) * sizeof(float) + catalog_ce_scratch_bytes(Rt, V, BLOCK_ITEMS);
  return RK_OK;
}
