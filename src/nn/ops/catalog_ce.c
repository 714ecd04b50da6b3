/*
 * catalog_ce: a next-item head's cross-entropy over the whole catalogue, fused with the scoring
 * gemm so the (R, V) logits are never stored. Rows h (R, D) against the item matrix W (V, D) and
 * bias b (V) or NULL, integer labels y (R):
 *   z = h W^T + b,   loss = softmax_ce(z, y, ignore, eps, tau)
 * the same value and gradients as linear (no activation) followed by softmax_ce (see its header:
 * PyTorch's CrossEntropyLoss with ignore_index, label smoothing eps, logits over tau), to float
 * rounding. Its reason: at a 9,002-item catalogue and ~2,500 labelled rows a step, the unfused
 * path wrote and re-read 90 MB of logits and as many of their gradients several times, and was
 * memory-bound; here each tile of Rt rows x Vb items lives in the second-level cache only.
 *
 * Forward: per tile, z by rk_sgemm, then per row an online log-sum-exp (Milakov and Gimelshein,
 * 2018) over the item blocks: the block's max and sum, its exponentials against the running max,
 * the sum so far rescaled when the max grows. Each row saves its log-sum-exp for backward.
 * Backward: per tile, z again, dz = (softmax - target) / (valid tau) in place (smoothing spreads
 * eps / V over the items), then dh_tile += dz W_blk, dW_blk += dz^T h_tile, db_blk += column sums.
 * The tiles run in one fixed order (row tiles, then item blocks within them) and only the work
 * inside a tile is parallel (rk_sgemm's chunks, and rows for the softmax), so every sum is made
 * in the same order whatever the threads. Not the sampled heads (sampled_logits.c).
 * An h with rows in use (gather_rows) is read on those rows, with the same leading labels.
 */
#include <math.h>
#include <string.h>

#include "nn/ops/ops.h"

/* The node's tile: 128 rows x 1024 items of logits is 512 KiB, with W's block (1024 x D) beside
 * it in a 2 MiB second-level cache at D 64 to 128. */
#define TILE_ROWS 128
#define TILE_ITEMS 1024

/* One row's running state over the item blocks seen so far. */
typedef struct {
  double sum_exp;   /* sum e^((z - max) / tau) */
  double sum_z;     /* sum z (the smoothing term) */
  float max, zy;    /* the largest logit; the target's */
} ce_row;

typedef struct {
  float *tile;               /* (nr, nc): the tile's logits, then (backward) their gradients */
  ce_row *state;             /* (nr) */
  const double *rows;        /* (R, 2): log-sum-exp of z / tau, the row's loss */
  const int64_t *y;          /* the tile's labels */
  int64_t r0, j0, nc, ignore;
  double inv;
  float scale, base, target; /* backward: d = scale (p - base), and - scale (1 - eps) at y */
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

RK_VECTOR_CLONES static double block_sum_exp(const float *restrict z, float mx, float inv, int64_t n) {
  double s[LANES] = {0};
  int64_t j = 0;
  for (; j + LANES <= n; j += LANES)
    for (int k = 0; k < LANES; k++) s[k] += rk_exp_nonpos_fast((z[j + k] - mx) * inv);
  double se = 0.0;
  for (int k = 0; k < LANES; k++) se += s[k];
  for (; j < n; j++) se += rk_exp_nonpos_fast((z[j] - mx) * inv);
  return se;
}

/* tile (nr, nc) = h_tile W_blk^T + b_blk: the bias rows first and the gemm adding to them. */
static void tile_logits(float *tile, const float *h, const float *w, const float *b, int64_t nr, int64_t nc,
                        int64_t D) {
  for (int64_t r = 0; r < nr; r++)
    if (b) memcpy(tile + r * nc, b, (size_t)nc * sizeof *tile);
  rk_sgemm(false, true, nr, nc, D, 1.0f, h, D, w, D, b ? 1.0f : 0.0f, tile, nc);
}

/* Each row of the tile alone: fold the block into the row's running state. */
static void tile_forward_rows(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const tile_ctx *c = arg;
  for (int64_t r = begin; r < end; r++) {
    const int64_t y = c->y[r];
    if (y == c->ignore) continue;
    const float *z = c->tile + r * c->nc;
    ce_row *s = &c->state[r];
    float bm;
    double bs;
    block_max_sum(&bm, &bs, z, c->nc);
    if (c->j0 == 0) *s = (ce_row){.max = bm};
    else if (bm > s->max) {
      s->sum_exp *= exp(((double)s->max - bm) * c->inv);
      s->max = bm;
    }
    s->sum_exp += block_sum_exp(z, s->max, (float)c->inv, c->nc);
    s->sum_z += bs;
    if (y >= c->j0 && y < c->j0 + c->nc) s->zy = z[y - c->j0];
  }
}

rk_status catalog_ce_forward_cpu(float *loss /* (1) */, double *rows /* (R, 2) */, float *tile /* (Rt, Vb) */,
                                 void *state /* Rt row states: catalog_ce_scratch_bytes */, const float *h /* (R, D) */,
                                 const int64_t *y /* (R) */, const float *w /* (V, D) */, const float *b /* (V) or NULL */,
                                 int64_t R, int64_t D, int64_t V, int64_t ignore, float eps, float tau, int64_t Rt,
                                 int64_t Vb) {
  int64_t valid = 0;
  for (int64_t r = 0; r < R; r++) {
    if (y[r] == ignore) continue;
    if (y[r] < 0 || y[r] >= V)
      return rk_error(RK_ERANGE, "catalog_ce: label %lld of row %lld is outside the catalogue [0, %lld)",
                      (long long)y[r], (long long)r, (long long)V);
    valid++;
  }
  const double inv = 1.0 / tau;
  for (int64_t r0 = 0; r0 < R; r0 += Rt) {
    const int64_t nr = R - r0 < Rt ? R - r0 : Rt;
    for (int64_t j0 = 0; j0 < V; j0 += Vb) {
      const int64_t nc = V - j0 < Vb ? V - j0 : Vb;
      tile_logits(tile, h + r0 * D, w + j0 * D, b ? b + j0 : NULL, nr, nc, D);
      tile_ctx c = {.tile = tile, .state = state, .y = y + r0, .j0 = j0, .nc = nc, .ignore = ignore, .inv = inv};
      rk_parallel_for(nr, rk_row_grain(nc), tile_forward_rows, &c);
    }
    for (int64_t r = 0; r < nr; r++) {
      double *out = rows + 2 * (r0 + r);
      out[0] = out[1] = 0.0;
      if (y[r0 + r] == ignore) continue;
      const ce_row *s = (const ce_row *)state + r;
      // cppcheck-suppress invalidFunctionArg ; sum_exp >= 1 (the max's term is e^0)
      double lse = s->max * inv + log(s->sum_exp), sum_logp = s->sum_z * inv - (double)V * lse;
      out[0] = lse;
      out[1] = -(1.0 - eps) * (s->zy * inv - lse) - eps / (double)V * sum_logp;
    }
  }
  double sum = 0.0;
  for (int64_t r = 0; r < R; r++) sum += rows[2 * r + 1];   /* in row order: thread-independent */
  loss[0] = valid ? (float)(sum / (double)valid) : 0.0f;
  return RK_OK;
}

RK_VECTOR_CLONES static void grad_block(float *restrict d, float inv, float lse, float scale, float base, int64_t n) {
  for (int64_t j = 0; j < n; j++) d[j] = scale * (rk_exp_nonpos_fast(d[j] * inv - lse) - base);
}

/* The tile's logits become their gradients in place; ignored rows are zeros. */
static void tile_backward_rows(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const tile_ctx *c = arg;
  for (int64_t r = begin; r < end; r++) {
    float *d = c->tile + r * c->nc;
    const int64_t y = c->y[r];
    if (y == c->ignore) {
      memset(d, 0, (size_t)c->nc * sizeof *d);
      continue;
    }
    grad_block(d, (float)c->inv, (float)c->rows[2 * (c->r0 + r)], c->scale, c->base, c->nc);
    if (y >= c->j0 && y < c->j0 + c->nc) d[y - c->j0] -= c->target;
  }
}

/* db over a range of the block's items, each summed over the tile's rows in order. */
typedef struct {
  float *db;
  const float *tile;
  int64_t nr, nc;
} colsum_ctx;

static void tile_colsums(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const colsum_ctx *c = arg;
  for (int64_t r = 0; r < c->nr; r++)
    for (int64_t j = begin; j < end; j++) c->db[j] += c->tile[r * c->nc + j];
}

/* Adds into dh, dw and db (each may be NULL: not needed). */
void catalog_ce_backward_cpu(float *dh /* (R, D) */, float *dw /* (V, D) */, float *db /* (V) */,
                             float *tile /* (Rt, Vb) */, const float *dloss /* (1) */, const double *rows /* (R, 2) */,
                             const float *h /* (R, D) */, const int64_t *y /* (R) */, const float *w /* (V, D) */,
                             const float *b /* (V) or NULL */, int64_t R, int64_t D, int64_t V, int64_t ignore,
                             float eps, float tau, int64_t Rt, int64_t Vb) {
  int64_t valid = 0;
  for (int64_t r = 0; r < R; r++) valid += y[r] != ignore;
  if (!valid || !(dh || dw || db)) return;
  /* as softmax_ce's: the same float roundings */
  const float scale = dloss[0] / (float)valid / tau;
  for (int64_t r0 = 0; r0 < R; r0 += Rt) {
    const int64_t nr = R - r0 < Rt ? R - r0 : Rt;
    for (int64_t j0 = 0; j0 < V; j0 += Vb) {
      const int64_t nc = V - j0 < Vb ? V - j0 : Vb;
      tile_logits(tile, h + r0 * D, w + j0 * D, b ? b + j0 : NULL, nr, nc, D);
      tile_ctx c = {.tile = tile, .rows = rows, .y = y + r0, .r0 = r0, .j0 = j0, .nc = nc, .ignore = ignore,
                    .inv = 1.0 / tau, .scale = scale, .base = (float)(eps / (double)V),
                    .target = scale * (float)(1.0 - eps)};
      rk_parallel_for(nr, rk_row_grain(nc), tile_backward_rows, &c);
      if (dh) rk_sgemm(false, false, nr, D, nc, 1.0f, tile, nc, w + j0 * D, D, 1.0f, dh + r0 * D, D);
      if (dw) rk_sgemm(true, false, nc, D, nr, 1.0f, tile, nc, h + r0 * D, D, 1.0f, dw + j0 * D, D);
      if (db) {
        colsum_ctx cs = {.db = db + j0, .tile = tile, .nr = nr, .nc = nc};
        rk_parallel_for(nc, 256, tile_colsums, &cs);
      }
    }
  }
}

size_t catalog_ce_scratch_bytes(int64_t Rt) { return (size_t)Rt * sizeof(ce_row); }

/* ---- the node ------------------------------------------------------------------------------- */
/* R: the rows in use of h (all of them unless it comes from gather_rows). */
static void dims(const rk_graph *g, const rk_node *n, int64_t *R, int64_t *D, int64_t *V) {
  const rk_value *h = rk_val(g, n->in[0]);
  *D = h->shape[h->ndim - 1];
  *R = h->rows * (h->numel / h->shape[0]) / *D;
  *V = n->params[0]->value.shape[0];
}

rk_status catalog_ce_node_forward_cpu(rk_graph *g, const rk_node *n) {
  int64_t R, D, V;
  dims(g, n, &R, &D, &V);
  const rk_param *b = n->n_params > 1 ? n->params[1] : NULL;
  double *rows = n->saved ? n->saved : n->ws_fwd;
  float *tile = (float *)((double *)n->ws_fwd + 2 * n->iattr[1]);   /* past a copy of the rows */
  void *state = tile + TILE_ROWS * TILE_ITEMS;
  return catalog_ce_forward_cpu(rk_x(g, n->out[0]), rows, tile, state, rk_x(g, n->in[0]), rk_xi(g, n->in[1]),
                                n->params[0]->value.data, b ? b->value.data : NULL, R, D, V, n->iattr[0],
                                n->fattr[0], n->fattr[1], TILE_ROWS, TILE_ITEMS);
}

void catalog_ce_node_backward_cpu(rk_graph *g, const rk_node *n) {
  int64_t R, D, V;
  dims(g, n, &R, &D, &V);
  const rk_param *b = n->n_params > 1 ? n->params[1] : NULL;
  catalog_ce_backward_cpu(rk_dx(g, n->in[0]), n->params[0]->grad.data, b ? b->grad.data : NULL, n->ws_bwd,
                          rk_dx(g, n->out[0]), n->saved, rk_x(g, n->in[0]), rk_xi(g, n->in[1]),
                          n->params[0]->value.data, b ? b->value.data : NULL, R, D, V, n->iattr[0], n->fattr[0],
                          n->fattr[1], TILE_ROWS, TILE_ITEMS);
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
  int in[2] = {h, labels};
  rk_node *n;
  RK_TRY(rk_graph_simple_node(g, &n, out, RK_OP_CATALOG_CE, 2, in, RK_DT_F32, 0, NULL));
  RK_TRY(rk_graph_node_add_param(g, n, w));
  if (b) RK_TRY(rk_graph_node_add_param(g, n, b));
  n->iattr[0] = ignore_index;
  n->iattr[1] = y->numel;
  n->fattr[0] = smoothing;
  n->fattr[1] = temperature;
  /* saved per row: the log-sum-exp backward reuses, and the loss summed in order after the rows;
   * forward's scratch: those rows (an eval pass has no saved buffer), one tile, its rows' states */
  int64_t rows_bytes, tile_bytes = (int64_t)(TILE_ROWS * TILE_ITEMS * sizeof(float));
  RK_TRY(rk_size_mul(&rows_bytes, y->numel, 2 * (int64_t)sizeof(double), "catalog_ce's per-row results"));
  n->saved_bytes = (size_t)rows_bytes;
  n->ws_fwd_bytes = (size_t)rows_bytes + (size_t)tile_bytes + catalog_ce_scratch_bytes(TILE_ROWS);
  n->ws_bwd_bytes = (size_t)tile_bytes;
  return RK_OK;
}
