/*
 * attention: fused multi-head scaled dot-product self-attention (Vaswani et al. 2017, sec.
 * 3.2.2 and 3.2.3), forward and backward, on the output of one fused Q/K/V projection.
 *
 *   qkv (B, T, 3D) = [q | k | v], head h owning columns h dh .. (h + 1) dh of each (dh = D / H),
 *   as GPT-2's c_attn output split three ways and viewed (B, T, H, dh);
 *   P = softmax(q k^T / sqrt(dh)) over the keys a query may see, P' = dropout(P),
 *   out (B, T, D) = P' v, heads side by side (the input of the output projection).
 *
 * Which keys a query sees: all, or (causal) those at or before it; and, given key ids (B, T),
 * not those whose id is the padding id. A padded key gets exactly zero weight (not exp(-1e4)),
 * and a query that sees no key at all gets a zero row rather than NaN or a uniform average.
 * HuggingFace's BERT adds -10000 instead, so a fully padded row there averages every key.
 *
 * Packed (docs/design.md, "Rows in use"): qkv (R, 3D) with rows in use, the real rows of a
 * session body that gather_rows packed, its row index naming each row's original row b T + t.
 * A session is a run of rows with one b (kept in order); its rows attend among themselves
 * (causal: in order), with no key mask, since no padding was packed. Per row and head the work
 * is a real session's, and the dropout draws are keyed by the original (b, h, t, key position),
 * so the real rows come out as the unpacked op's with every padded key masked.
 *
 * Not here: the projections (linear ops) and the output dropout (the block builders,
 * src/nn/blocks/transformer.c).
 *
 * Memory: nothing of size T x T leaves a (batch, head) pair except P (and P' under dropout),
 * saved for backward as (B, H, T, T). Backward uses P' dP' - P <P', dP'> for the softmax's
 * input gradient, so the dropout mask itself is never stored. Dropout draws are keyed by
 * (seed, op, step, element of (B, H, T, T)) and drawn by the dropout op's rk_dropout_draws
 * (src/nn/ops/dropout.c). Under the causal mask only the keys at or before a query are looked at.
 * Every (session, head) pair is one work item writing only its own outputs, with its sums in a
 * fixed order, so the bits do not depend on the thread count.
 */
#include <math.h>
#include <string.h>

#include "nn/ops/ops.h"

/* The rows that attend among themselves: unpacked, session b is rows b T .. (b + 1) T - 1 of
 * (B, T, 3D), its keys masked by its ids; packed, a session is a run of rows whose original row
 * (orig, b T + t) has one b, and holds only real rows. Item (s, h) is segment s's head h; its
 * (L, T) probabilities, (dh, L) transposed keys or values and (L) scratch row sit at offsets
 * (s0 H + h L) times T, dh and 1, which tile the buffers whatever the lengths. */
typedef struct {
  const int64_t *start;   /* packed: segment s is rows start[s] .. start[s + 1] - 1; NULL: every T rows */
  const int64_t *orig;    /* packed: (n) each row's original row; NULL: unpacked */
  int64_t T;
} segments;

static void segment_of(const segments *sg, int64_t s, int64_t *s0, int64_t *L) {
  *s0 = sg->start ? sg->start[s] : s * sg->T;
  *L = sg->start ? sg->start[s + 1] - *s0 : sg->T;
}

/* The original position (0 .. T - 1) of row s0 + t: it keys the dropout draws, as unpacked. */
static int64_t position_of(const segments *sg, int64_t s0, int64_t t) {
  return sg->orig ? sg->orig[s0 + t] % sg->T : t;
}

int64_t rk_packed_sessions(int64_t *start, const int64_t *orig, int64_t n, int64_t T, const char *op) {
  int64_t k = 0;
  for (int64_t r = 0; r < n; r++) {
    if (r > 0 && orig[r] <= orig[r - 1]) {
      rk_error(RK_EINVAL, "%s: packed row %lld is row %lld of the unpacked input, after row %lld: a packed session "
               "body keeps its rows in order", op, (long long)r, (long long)orig[r], (long long)orig[r - 1]);
      return -1;
    }
    if (r == 0 || orig[r] / T != orig[r - 1] / T) start[k++] = r;
  }
  start[k] = n;
  return k;
}

typedef struct {
  float *out, *probs, *dropped, *keys_t;
  const float *qkv;
  const int64_t *key_ids;
  segments seg;
  int64_t H, D, padding;
  bool causal;
  float p;
  uint64_t seed, stream;
} attn_fwd_ctx;

static bool key_visible(const int64_t *ids /* (T) or NULL */, int64_t padding, bool causal, int64_t t, int64_t j) {
  if (causal && j > t) return false;
  return !ids || ids[j] != padding;
}

/* xt (dh, L) = the head's rows x (L, dh) of stride row, transposed, so that one query's scores
 * (or one output gradient's dots with the values) run along the keys, contiguous: T dots of
 * dh = 16 each reduced across a vector were slower than dh passes over T keys. */
static void transpose_head(float *xt /* (dh, L) */, const float *x, int64_t L, int64_t dh, int64_t row) {
  for (int64_t j = 0; j < L; j++)
    for (int64_t d = 0; d < dh; d++) xt[d * L + j] = x[j * row + d];
}

/* s[j] = <a, xt[:, j]> for j < n, summed over d in order. */
static void dots_along_keys(float *s /* (n) */, const float *a /* (dh) */, const float *xt /* (dh, L) */, int64_t n,
                            int64_t L, int64_t dh) {
  for (int64_t j = 0; j < n; j++) s[j] = 0.0f;
  for (int64_t d = 0; d < dh; d++) {
    const float ad = a[d], *xd = xt + d * L;
    for (int64_t j = 0; j < n; j++) s[j] += ad * xd[j];
  }
}

/* pd = dropout(pr) over the L keys of query t (original position to) of session b: element
 * ((b H + h) T + to) T + key's original position, drawn in windows of 256 original positions. */
static void drop_row(float *pd, const float *pr, rk_dropout_draws *draws, const segments *sg, int64_t s0, int64_t L,
                     uint64_t base, float keep_scale) {
  uint8_t keep[256];
  int64_t w0 = -1;
  for (int64_t j = 0; j < L; j++) {
    int64_t jo = position_of(sg, s0, j);
    if (w0 < 0 || jo >= w0 + (int64_t)sizeof keep) {
      w0 = jo;
      int64_t n = sg->T - w0 < (int64_t)sizeof keep ? sg->T - w0 : (int64_t)sizeof keep;
      rk_dropout_draws_at(draws, keep, base + (uint64_t)w0, n);
    }
    pd[j] = keep[jo - w0] ? keep_scale * pr[j] : 0.0f;
  }
}

static void attn_fwd_items(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const attn_fwd_ctx *c = arg;
  const int64_t T = c->seg.T, H = c->H, D = c->D, dh = D / H, row = 3 * D;
  const float scale = 1.0f / sqrtf((float)dh), keep_scale = 1.0f / (1.0f - c->p);
  rk_dropout_draws draws;
  rk_dropout_draws_init(&draws, c->p, c->seed, c->stream);
  for (int64_t item = begin; item < end; item++) {
    int64_t s = item / H, h = item % H, s0, L;
    segment_of(&c->seg, s, &s0, &L);
    const int64_t b = c->seg.orig ? c->seg.orig[s0] / T : s, at = s0 * H + h * L;
    const float *q = c->qkv + s0 * row + h * dh, *k = q + D, *v = q + 2 * D;   /* rows of stride 3D */
    const int64_t *ids = c->key_ids ? c->key_ids + s0 : NULL;
    float *P = c->probs + at * T;                       /* (L, T) */
    float *Pd = c->dropped ? c->dropped + at * T : P;   /* (L, T) */
    float *kt = c->keys_t + at * dh;                    /* (dh, L) */
    transpose_head(kt, k, L, dh, row);
    for (int64_t t = 0; t < L; t++) {
      const int64_t seen = c->causal ? t + 1 : L;   /* keys past it get zero weight without a look */
      float *pr = P + t * T, mx = -INFINITY;
      dots_along_keys(pr, q + t * row, kt, seen, L, dh);
      for (int64_t j = 0; j < seen; j++) {
        pr[j] = key_visible(ids, c->padding, c->causal, t, j) ? scale * pr[j] : -INFINITY;
        if (pr[j] > mx) mx = pr[j];
      }
      for (int64_t j = seen; j < L; j++) pr[j] = 0.0f;
      double z = 0.0;
      if (mx > -INFINITY)
        for (int64_t j = 0; j < seen; j++) z += pr[j] = pr[j] == -INFINITY ? 0.0f : rk_exp_nonpos_fast(pr[j] - mx);
      for (int64_t j = 0; j < seen; j++) pr[j] = z > 0.0 ? (float)(pr[j] / z) : 0.0f;   /* no visible key: zeros */
      if (c->dropped)
        drop_row(Pd + t * T, pr, &draws, &c->seg, s0, L, (uint64_t)(((b * H + h) * T + position_of(&c->seg, s0, t)) * T),
                 keep_scale);
      float *o = c->out + (s0 + t) * D + h * dh;   /* (dh) */
      memset(o, 0, (size_t)dh * sizeof(float));
      for (int64_t j = 0; j < seen; j++) {
        float w = Pd[t * T + j];
        if (w == 0.0f) continue;
        const float *vj = v + j * row;
        for (int64_t d = 0; d < dh; d++) o[d] += w * vj[d];
      }
    }
  }
}

/* keys_t (n, D): scratch for each head's keys, transposed. Unpacked: n = B T, n_seg = B
 * sessions of T rows, key_ids (B, T) or NULL; packed: n rows in n_seg segments (seg). */
static void attention_forward(float *out /* (n, D) */, float *probs /* (n H T) */, float *dropped /* (n H T) or NULL */,
                              float *keys_t /* (n, D) */, const float *qkv /* (n, 3D) */, const int64_t *key_ids,
                              const segments *seg, int64_t n_seg, int64_t H, int64_t D, int64_t padding, bool causal,
                              float p, uint64_t seed, uint64_t stream) {
  attn_fwd_ctx c = {out, probs, dropped, keys_t, qkv, key_ids, *seg, H, D, padding, causal, p, seed, stream};
  rk_parallel_for(n_seg * H, 1, attn_fwd_items, &c);
}

void attention_forward_cpu(float *out /* (B, T, D) */, float *probs /* (B, H, T, T) */,
                           float *dropped /* (B, H, T, T) or NULL: no dropout */, float *keys_t /* (B, T, D) */,
                           const float *qkv /* (B, T, 3D) */,
                           const int64_t *key_ids /* (B, T) or NULL */, int64_t B, int64_t T, int64_t H, int64_t D,
                           int64_t padding, bool causal, float p, uint64_t seed, uint64_t stream) {
  segments seg = {NULL, NULL, T};
  attention_forward(out, probs, dropped, keys_t, qkv, key_ids, &seg, B, H, D, padding, causal, p, seed, stream);
}

typedef struct {
  float *dqkv, *dprobs_row, *values_t;
  const float *dout, *dweights, *probs, *dropped, *qkv;
  segments seg;
  int64_t H, D;
} attn_bwd_ctx;

static void attn_bwd_items(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const attn_bwd_ctx *c = arg;
  const int64_t T = c->seg.T, H = c->H, D = c->D, dh = D / H, row = 3 * D;
  const float scale = 1.0f / sqrtf((float)dh);
  for (int64_t item = begin; item < end; item++) {
    int64_t s = item / H, h = item % H, s0, L;
    segment_of(&c->seg, s, &s0, &L);
    const int64_t at = s0 * H + h * L;
    const float *q = c->qkv + s0 * row + h * dh, *k = q + D, *v = q + 2 * D;
    float *dq = c->dqkv + s0 * row + h * dh, *dk = dq + D, *dv = dq + 2 * D;
    const float *P = c->probs + at * T, *Pd = c->dropped ? c->dropped + at * T : P;
    const float *dW = c->dweights ? c->dweights + at * T : NULL;
    float *ds = c->dprobs_row + at;          /* (L): this item's scratch row */
    float *vt = c->values_t + at * dh;       /* (dh, L) */
    transpose_head(vt, v, L, dh, row);
    for (int64_t t = 0; t < L; t++) {
      const float *go = c->dout + (s0 + t) * D + h * dh, *pr = P + t * T, *pdr = Pd + t * T;
      /* dP' = dout v^T; dv += P'^T dout; <P', dP'> and, for the weights output, <P, dW> */
      double dot = 0.0, dotw = 0.0;
      dots_along_keys(ds, go, vt, L, L, dh);
      for (int64_t j = 0; j < L; j++) {
        if (pr[j] == 0.0f) {
          ds[j] = 0.0f;
          continue;
        }
        dot += (double)pdr[j] * ds[j];
        if (dW) dotw += (double)pr[j] * dW[t * T + j];
        float w = pdr[j];
        float *dvj = dv + j * row;
        for (int64_t d = 0; d < dh; d++) dvj[d] += w * go[d];
      }
      /* dS = P' dP' - P <P', dP'> (+ P (dW - <P, dW>)), times the scale for q and k */
      for (int64_t j = 0; j < L; j++) {
        if (pr[j] == 0.0f) continue;
        float sj = pdr[j] * ds[j] - pr[j] * (float)dot;
        if (dW) sj += pr[j] * (dW[t * T + j] - (float)dotw);
        sj *= scale;
        const float *kj = k + j * row, *qt = q + t * row;
        float *dqt = dq + t * row, *dkj = dk + j * row;
        for (int64_t d = 0; d < dh; d++) {
          dqt[d] += sj * kj[d];
          dkj[d] += sj * qt[d];
        }
      }
    }
  }
}

/* scratch (n H) and values_t (n, D): each head's values, transposed; segments as forward's. */
static void attention_backward(float *dqkv /* (n, 3D) */, float *scratch, float *values_t, const float *dout /* (n, D) */,
                               const float *dweights /* (n H T) or NULL */, const float *probs, const float *dropped,
                               const float *qkv /* (n, 3D) */, const segments *seg, int64_t n_seg, int64_t H,
                               int64_t D) {
  attn_bwd_ctx c = {dqkv, scratch, values_t, dout, dweights, probs, dropped, qkv, *seg, H, D};
  rk_parallel_for(n_seg * H, 1, attn_bwd_items, &c);
}

/* dweights: the gradient reaching the weights output, or NULL. scratch (B, H, T), values_t
 * (B, H, dh, T): each head's values, transposed. */
void attention_backward_cpu(float *dqkv /* (B, T, 3D) */, float *scratch /* (B, H, T) */,
                            float *values_t /* (B, T, D) */, const float *dout /* (B, T, D) */,
                            const float *dweights /* (B, H, T, T) or NULL */, const float *probs /* (B, H, T, T) */,
                            const float *dropped /* (B, H, T, T) or NULL */, const float *qkv /* (B, T, 3D) */,
                            int64_t B, int64_t T, int64_t H, int64_t D) {
  segments seg = {NULL, NULL, T};
  attention_backward(dqkv, scratch, values_t, dout, dweights, probs, dropped, qkv, &seg, B, H, D);
}

/* ---- the node ---- */

/* The node's sizes: R rows of capacity (B T), H heads, D; its rows per session T (iattr[3]
 * when packed, else the input's axis 1). */
typedef struct {
  int64_t R, T, H, D;
  bool packed;
} attn_dims;

static attn_dims dims(const rk_graph *g, const rk_node *n) {
  const rk_value *x = rk_val(g, n->in[0]);
  attn_dims d = {.H = n->iattr[0], .packed = n->iattr[3] > 0, .D = x->shape[x->ndim - 1] / 3};
  d.T = d.packed ? n->iattr[3] : x->shape[1];
  d.R = x->numel / (3 * d.D);
  return d;
}

/* The segments of this pass: packed, from the row index into ws (R + 1); returns their count,
 * or -1 with the error set. */
static int64_t pass_segments(segments *seg, int64_t *ws, const rk_graph *g, const rk_node *n, const attn_dims *d) {
  *seg = (segments){NULL, NULL, d->T};
  if (!d->packed) return d->R / d->T;
  seg->start = ws;
  seg->orig = rk_xi(g, n->in[1]);
  return rk_packed_sessions(ws, seg->orig, rk_val(g, n->in[0])->rows, d->T, "attention");
}

static bool with_dropout(const rk_graph *g, const rk_node *n) {
  return rk_graph_training(g) && n->fattr[0] > 0.0f;
}

/* Workspaces: packed, the segment starts (R + 1 int64) first. */
static size_t segments_bytes(int64_t R, bool packed) { return packed ? (size_t)(R + 1) * sizeof(int64_t) : 0; }

rk_status attention_node_forward_cpu(rk_graph *g, const rk_node *n) {
  attn_dims d = dims(g, n);
  segments seg;
  int64_t n_seg = pass_segments(&seg, n->ws_fwd, g, n, &d);
  if (n_seg < 0) return RK_EINVAL;
  rk_val(g, n->out[0])->rows = rk_val(g, n->in[0])->rows;
  const int64_t cap = d.R * d.H * d.T;
  float *probs = n->saved, *dropped = with_dropout(g, n) ? probs + cap : NULL;
  const int64_t *ids = !d.packed && n->n_in > 1 ? rk_xi(g, n->in[1]) : NULL;
  float *keys_t = (void *)((char *)n->ws_fwd + segments_bytes(d.R, d.packed));
  attention_forward(rk_x(g, n->out[0]), probs, dropped, keys_t, rk_x(g, n->in[0]), ids, &seg, n_seg, d.H, d.D,
                    n->iattr[1], n->iattr[2], n->fattr[0], g->seed, rk_dropout_stream(n->id, g->step));
  if (n->n_out > 1) memcpy(rk_x(g, n->out[1]), probs, (size_t)cap * sizeof(float));
  return RK_OK;
}

void attention_node_backward_cpu(rk_graph *g, const rk_node *n) {
  attn_dims d = dims(g, n);
  if (!rk_dx(g, n->in[0])) return;
  segments seg;
  int64_t n_seg = pass_segments(&seg, n->ws_bwd, g, n, &d);   /* forward checked the rows */
  const int64_t cap = d.R * d.H * d.T;
  const float *probs = n->saved, *dropped = n->fattr[0] > 0.0f ? probs + cap : NULL;
  const float *dweights = n->n_out > 1 ? rk_dx(g, n->out[1]) : NULL;
  /* (R H), the values transposed (R, D), then (R, D) zeros when only the weights have a gradient */
  float *scratch = (void *)((char *)n->ws_bwd + segments_bytes(d.R, d.packed)), *values_t = scratch + d.R * d.H;
  const float *dout = rk_dx(g, n->out[0]);
  if (!dout) {
    dout = values_t + d.R * d.D;
    memset(values_t + d.R * d.D, 0, (size_t)(d.R * d.D) * sizeof(float));
  }
  attention_backward(rk_dx(g, n->in[0]), scratch, values_t, dout, dweights, probs, dropped, rk_x(g, n->in[0]), &seg,
                     n_seg, d.H, d.D);
}

rk_status rk_graph_attention(rk_graph *g, int *out, int *weights, int qkv, int64_t heads, bool causal, int key_ids,
                             int64_t padding, float dropout) {
  RK_TRY(rk_graph_check_value(g, qkv, "attention"));
  const rk_value *x = rk_val(g, qkv);
  const bool packed = x->partial_rows;
  char bx[96], bi[96];
  if (x->dtype != RK_DT_F32 || x->ndim != (packed ? 2 : 3) || x->shape[x->ndim - 1] % 3 != 0)
    return rk_error(RK_ESHAPE, "attention: input %s must be the fused projection (B, T, 3 d_model), or its packed "
                    "rows (R, 3 d_model)", rk_shape_str(x, bx, sizeof bx));
  const int64_t R = packed ? x->shape[0] : x->shape[0] * x->shape[1], T = packed ? x->row_span : x->shape[1];
  const int64_t D = x->shape[x->ndim - 1] / 3, row_index = x->row_index;
  if (heads < 1 || D % heads != 0)
    return rk_error(RK_EINVAL, "attention: d_model %lld is not a multiple of %lld heads", (long long)D, (long long)heads);
  if (!(dropout >= 0.0f && dropout < 1.0f))
    return rk_error(RK_EINVAL, "attention: dropout %g must be in [0, 1)", dropout);
  if (packed && (key_ids != RK_NO_VALUE || weights))
    return rk_error(RK_EINVAL, "attention: packed rows %s hold no padding to mask and no (B, T) layout for weights: "
                    "key ids and weights need the unpacked input", rk_shape_str(x, bx, sizeof bx));
  int in[2] = {qkv, packed ? row_index : key_ids}, n_in = packed ? 2 : 1;
  if (key_ids != RK_NO_VALUE) {
    RK_TRY(rk_graph_check_value(g, key_ids, "attention"));
    const rk_value *iv = rk_val(g, key_ids);
    if (iv->dtype != RK_DT_I64 || iv->ragged || iv->ndim != 2 || iv->shape[0] * iv->shape[1] != R ||
        iv->shape[1] != T)
      return rk_error(RK_ESHAPE, "attention: key ids %s must be int64 (%lld, %lld) for input %s",
                      rk_shape_str(iv, bi, sizeof bi), (long long)(R / T), (long long)T, rk_shape_str(x, bx, sizeof bx));
    n_in = 2;
  }
  int64_t probs_numel, shape[3] = {R / T, T, D}, wshape[4] = {R / T, heads, T, T}, pshape[3] = {R, heads, T};
  RK_TRY(rk_size_numel(&probs_numel, 3, pshape, "attention weights (batch x T x heads x T)"));
  if (packed) shape[0] = R, shape[1] = D;
  rk_node *n;
  RK_TRY(rk_graph_simple_node(g, &n, out, RK_OP_ATTENTION, n_in, in, RK_DT_F32, packed ? 2 : 3, shape));
  n->iattr[0] = heads;
  n->iattr[1] = padding;
  n->iattr[2] = causal;
  n->iattr[3] = packed ? T : 0;
  n->fattr[0] = dropout;
  n->saved_bytes = (size_t)(probs_numel * (dropout > 0.0f ? 2 : 1)) * sizeof(float);
  n->ws_fwd_bytes = segments_bytes(R, packed) + (size_t)(R * D) * sizeof(float);   /* the keys, transposed per head */
  n->ws_bwd_bytes = segments_bytes(R, packed) + (size_t)(R * heads + R * D + (weights ? R * D : 0)) * sizeof(float);
  if (weights) {
    int w;
    RK_TRY(rk_graph_add_value(g, &w, RK_DT_F32, 4, wshape));
    rk_graph_node_set_out(g, &g->nodes[g->n_nodes - 1], 1, w);
    *weights = w;
  }
  return RK_OK;
}
