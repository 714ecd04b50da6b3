/*
 * dropout and alpha dropout. Train: element i is kept when u_i >= p, u_i a 16-bit uniform
 * from the Philox4x32-10 generator (Salmon et al. 2011) keyed by seed: with e = i % 64, word
 * e / 8 (half (e / 8) % 2, low first, of lane e / 16) of the block with counter
 * (8 (i / 64) + e % 8, stream(op id, step)). A pure function of (seed, op, step, element), so
 * masks do not depend on threads. One block serves eight elements and the eight blocks of a
 * group of 64 are drawn side by side, so the rounds and the compares vectorise: the draws were
 * 6% of a GPT-2 d64 session step at one 32-bit lane per element and a Philox call per block.
 * p is thus rounded up to a multiple of 2^-16 (0.1 keeps 58,982 of 65,536).
 * Plain dropout scales kept elements by 1/(1-p); alpha dropout (Klambauer et al. 2017, sec.
 * "New Dropout Technique") sets dropped ones to alpha' = -lambda alpha and applies a x + b,
 * which keeps SELU's mean and variance. Forward saves the 1-byte keep mask for backward (the
 * factor multiplying x follows from it and p). Eval: identity. The attention op draws its
 * probabilities' masks here too (rk_dropout_draws).
 * On a value with rows in use (docs/design.md, "Rows in use") it draws and computes those rows
 * only, and keys element d of row r by its original place, row_index[r] W + d (W the row's
 * width): the mask a packed session body draws is the one the unpacked body draws at its real
 * rows, so packing changes no result.
 */
#include <math.h>
#include <string.h>

#include "nn/ops/ops.h"

#define ALPHA_PRIME (-1.7580993408473766)   /* -lambda * alpha of SELU */
#define PHILOX_M0   0xD2511F53u
#define PHILOX_M1   0xCD9E8D57u
#define PHILOX_W0   0x9E3779B9u
#define PHILOX_W1   0xBB67AE85u

/* Philox4x32-10 of counters (block0 + w, stream) for w < WAYS: out[lane][w], each column
 * rk_philox4x32_10's output (tests/unit/test_nn_dropout_draws.c checks it). */
static void philox_ways(uint32_t out[4][RK_DROPOUT_WAYS], uint64_t block0, uint64_t seed, uint64_t stream) {
  enum { W = RK_DROPOUT_WAYS };
  uint32_t c0[W], c1[W], c2[W], c3[W], k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
  for (int w = 0; w < W; w++) {
    uint64_t b = block0 + (uint64_t)w;
    c0[w] = (uint32_t)b, c1[w] = (uint32_t)(b >> 32), c2[w] = (uint32_t)stream, c3[w] = (uint32_t)(stream >> 32);
  }
  for (int round = 0; round < 10; round++) {
    for (int w = 0; w < W; w++) {
      uint64_t p0 = (uint64_t)PHILOX_M0 * c0[w], p1 = (uint64_t)PHILOX_M1 * c2[w];
      uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1[w] ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3[w] ^ k1;
      c0[w] = n0, c1[w] = (uint32_t)p1, c2[w] = n2, c3[w] = (uint32_t)p0;
    }
    k0 += PHILOX_W0;
    k1 += PHILOX_W1;
  }
  memcpy(out[0], c0, sizeof c0);
  memcpy(out[1], c1, sizeof c1);
  memcpy(out[2], c2, sizeof c2);
  memcpy(out[3], c3, sizeof c3);
}

void rk_dropout_draws_init(rk_dropout_draws *d, float p, uint64_t seed, uint64_t stream) {
  double lim = ceil((double)p * 65536.0);
  d->threshold = lim >= 65536.0 ? 65536u : (uint32_t)lim;
  d->seed = seed;
  d->stream = stream;
  d->group = UINT64_MAX;
}

/* The keep bytes of group g (elements g GROUP .. (g + 1) GROUP - 1) into d->keep. */
static void draw_group(rk_dropout_draws *d, uint64_t g) {
  enum { W = RK_DROPOUT_WAYS };
  uint32_t r[4][W];
  philox_ways(r, g * W, d->seed, d->stream);
  for (int word = 0; word < 8; word++)
    for (int w = 0; w < W; w++) d->keep[W * word + w] = (r[word / 2][w] >> (16 * (word % 2)) & 0xFFFFu) >= d->threshold;
  d->group = g;
}

void rk_dropout_draws_at(rk_dropout_draws *d, uint8_t *keep /* (n) */, uint64_t first, int64_t n) {
  enum { G = RK_DROPOUT_GROUP };
  for (uint64_t i = first, end = first + (uint64_t)n; i < end;) {
    uint64_t g = i / G, lo = i - g * G, hi = end - g * G < G ? end - g * G : G;
    if (g != d->group) draw_group(d, g);
    memcpy(keep + (i - first), d->keep + lo, hi - lo);
    i = g * G + hi;
  }
}

/* The factors multiplying x where kept and the output where dropped. */
typedef struct {
  float kept, dropped_out, shift;
} dropout_factors;

static dropout_factors factors_of(float p, bool alpha) {
  if (!alpha) return (dropout_factors){p < 1.0f ? 1.0f / (1.0f - p) : 0.0f, 0.0f, 0.0f};
  double a = 1.0 / sqrt((1.0 - p) * (1.0 + p * ALPHA_PRIME * ALPHA_PRIME)), b = -a * ALPHA_PRIME * p;
  return (dropout_factors){(float)a, (float)(a * ALPHA_PRIME + b), (float)b};
}

typedef struct {
  float *out;
  uint8_t *keep;
  const float *x;
  const int64_t *rows;   /* (n / W) each row's original row, or NULL: element i is element i */
  int64_t W;
  float p;
  bool alpha;
  uint64_t seed, stream;
} dropout_ctx;

/* Elements [begin, end); without a row index chunks start on whole groups (the grain is a
 * multiple of GROUP), with one each row draws from its original place. */
static void dropout_range(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const dropout_ctx *c = arg;
  rk_dropout_draws d;
  rk_dropout_draws_init(&d, c->p, c->seed, c->stream);
  if (!c->rows) rk_dropout_draws_at(&d, c->keep + begin, (uint64_t)begin, end - begin);
  for (int64_t i = begin; c->rows && i < end;) {
    int64_t r = i / c->W, piece = (r + 1) * c->W < end ? (r + 1) * c->W - i : end - i;
    rk_dropout_draws_at(&d, c->keep + i, (uint64_t)(c->rows[r] * c->W + (i - r * c->W)), piece);
    i += piece;
  }
  dropout_factors f = factors_of(c->p, c->alpha);
  if (c->alpha) {
    for (int64_t i = begin; i < end; i++) c->out[i] = c->keep[i] ? f.kept * c->x[i] + f.shift : f.dropped_out;
  } else {
    for (int64_t i = begin; i < end; i++) c->out[i] = c->keep[i] ? f.kept * c->x[i] : 0.0f;
  }
}

/* rows (n / W) or NULL: each row's original row, which keys its draws. */
void dropout_forward_cpu(float *out /* (n) */, uint8_t *keep /* (n) */, const float *x /* (n) */,
                         const int64_t *rows /* (n / W) or NULL */, int64_t n, int64_t W, float p, bool alpha,
                         uint64_t seed, uint64_t stream) {
  dropout_ctx c = {out, keep, x, rows, W, p, alpha, seed, stream};
  rk_parallel_for(n, 1 << 14, dropout_range, &c);
}

void dropout_backward_cpu(float *dx /* (n) */, const float *dout /* (n) */, const uint8_t *keep /* (n) */, int64_t n,
                          float p, bool alpha) {
  const float kept = factors_of(p, alpha).kept;
  for (int64_t i = 0; i < n; i++) dx[i] += keep[i] ? dout[i] * kept : 0.0f;
}

rk_status dropout_node_forward_cpu(rk_graph *g, const rk_node *n) {
  const rk_value *x = rk_val(g, n->in[0]);
  int64_t cnt = rk_val_numel_in_use(x), W = x->numel / x->shape[0];
  rk_val(g, n->out[0])->rows = x->rows;
  if (!rk_graph_training(g) || n->fattr[0] == 0.0f) {
    memcpy(rk_x(g, n->out[0]), rk_x(g, n->in[0]), (size_t)cnt * sizeof(float));
    if (rk_graph_training(g)) memset(n->saved, 1, (size_t)cnt);   /* all kept; p = 0 makes the factor 1 */
    return RK_OK;
  }
  const int64_t *rows = n->n_in > 1 ? rk_xi(g, n->in[1]) : NULL;
  dropout_forward_cpu(rk_x(g, n->out[0]), n->saved, rk_x(g, n->in[0]), rows, cnt, W, n->fattr[0], n->iattr[0], g->seed,
                      rk_dropout_stream(n->id, g->step));
  return RK_OK;
}

void dropout_node_backward_cpu(rk_graph *g, const rk_node *n) {
  if (rk_dx(g, n->in[0]))
    dropout_backward_cpu(rk_dx(g, n->in[0]), rk_dx(g, n->out[0]), n->saved, rk_val_numel_in_use(rk_val(g, n->in[0])),
                         n->fattr[0], n->iattr[0]);
}

rk_status rk_graph_dropout(rk_graph *g, int *out, int x, float p, bool alpha) {
  if (!(p >= 0.0f && p < 1.0f)) return rk_error(RK_EINVAL, "dropout: probability %g must be in [0, 1)", p);
  RK_TRY(rk_graph_check_value(g, x, "dropout"));
  const rk_value *xv = rk_val(g, x);
  if (xv->dtype != RK_DT_F32 || xv->ndim < 1) return rk_error(RK_EINVAL, "dropout: input must be f32 with an axis");
  int in[2] = {x, xv->row_index}, n_in = xv->partial_rows ? 2 : 1;   /* packed: the draws read the row index */
  rk_node *n;
  RK_TRY(rk_graph_simple_node(g, &n, out, RK_OP_DROPOUT, n_in, in, RK_DT_F32, xv->ndim, xv->shape));
  n->fattr[0] = p;
  n->iattr[0] = alpha;
  n->saved_bytes = (size_t)rk_val(g, x)->numel;   /* the keep mask, a byte per element */
  return RK_OK;
}
