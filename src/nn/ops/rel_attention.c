/*
 * rel_attention: fused multi-head self-attention with relative positions, as Transformer-XL
 * (Dai et al. 2019, sec. 3.3) and XLNet (Yang et al. 2019, sec. 2.3 and A.2) define it; the
 * structure of the plain fused attention (attention.c), with a second score term.
 *
 *   q from q_src (B, T, 3D), k and v from kv_src (B, T, 3D): the q, k, v column blocks of one
 *   fused projection, head h owning columns h dh .. (h + 1) dh of each (dh = D / H). The content
 *   stream passes one value as both; XLNet's query stream passes its own projection as q_src.
 *   E (P, D): the sinusoid of each relative distance d = i - j (query minus key), row p for
 *   d = d_max - p (descending, as both papers order pos_seq), [sin(d f) | cos(d f)],
 *   f_k = 1 / 10000^(2k / D); dropout(pos_dropout) on it, one draw for the batch.
 *   kr (P, D) = E r^T (r: the (D, D) relative projection, nn.Linear's (out, in) layout).
 *   score(i, j) = ((q_i + r_w_bias) . k_j + (q_i + r_r_bias) . kr[d(i, j)]) / sqrt(dh)
 *   P = softmax over the keys query i sees, out (B, T, D) = dropout(P) v, heads side by side.
 *
 * Keys: `mem` memory slots, then the T positions. A memory slot holds a zero hidden state (what
 * Hugging Face's Transformer-XL's init_mems gives a segment without a past): its key and value
 * are zero, so it scores by its position term only and adds nothing to the output, yet takes
 * its share of the softmax; every query sees it. Distances run d_min .. d_max = T - 1 + mem,
 * d_min = 0 when causal, else -(T - 1).
 * Which positions a query sees: all, or (causal) those at or before it; not those whose key id
 * is the padding id; not those `hidden` (B, T, T) marks for it (XLNet's permutation mask), except
 * itself when self_visible (XLNet's content stream). As attention.c: a masked key gets exactly
 * zero weight and a query that sees nothing gets a zero row.
 *
 * Packed (docs/design.md, "Rows in use"): q_src and kv_src may be the real rows (R, 3D) of a
 * (B, T) body, packed alike by one gather_rows, whose row index names each row's original row
 * b T + t. A session is a run of rows with one b (in order, checked, as attention.c's); each
 * keeps its mem memory slots, and every distance, mask (`hidden` read at (b, t, u)) and dropout
 * draw is taken at the rows' original positions, so the real rows come out as the unpacked op's
 * with every padded key masked, to the bit. No key ids (nothing padded was packed) nor weights
 * (their (B, T) layout is gone) there.
 *
 * Not here: the projections of q, k, v and the output (linear ops), the residuals and
 * LayerNorms (src/nn/blocks/rel_transformer.c). No segment term: the session models have one
 * segment (XLNet's r_s_bias and seg_embed are not used).
 *
 * Memory and determinism as attention.c: per (session, head) work items writing only their own
 * outputs; the gradients shared by the batch (kr's, and so r's; r_w_bias's, r_r_bias's) are
 * summed per item into scratch and reduced over the items in a fixed order. Dropout draws are
 * keyed by (seed, op, step, element): the probabilities' elements of (B, H, T, mem + T) first,
 * then E's (P, D).
 */
#include <math.h>
#include <string.h>

#include "nn/ops/ops.h"

/* The op's sizes: B sessions (packed: the capacity's), K = mem + T key slots, P distances. */
typedef struct {
  int64_t B, T, H, D, dh, M, K, P, d_max;
} rel_dims;

static rel_dims rel_dims_of(int64_t B, int64_t T, int64_t H, int64_t D, int64_t M, bool causal) {
  rel_dims s = {.B = B, .T = T, .H = H, .D = D, .dh = D / H, .M = M, .K = M + T, .d_max = T - 1 + M};
  s.P = s.d_max - (causal ? 0 : -(T - 1)) + 1;
  return s;
}

/* The sessions of one pass. Unpacked: session i is rows i T .. i T + T - 1. Packed: rows
 * start[i] .. start[i + 1] - 1, row r at original row orig[r] = b T + t. */
typedef struct {
  const int64_t *start, *orig;   /* NULL: unpacked */
  int64_t n;
} rel_sessions;

/* Session i's first row, its rows and its b. */
static void session_of(const rel_sessions *ss, const rel_dims *s, int64_t i, int64_t *r0, int64_t *L, int64_t *b) {
  *r0 = ss->start ? ss->start[i] : i * s->T;
  *L = ss->start ? ss->start[i + 1] - *r0 : s->T;
  *b = ss->orig ? ss->orig[*r0] / s->T : i;
}

/* Row r's original position t. */
static inline int64_t position_of(const rel_sessions *ss, const rel_dims *s, int64_t r) {
  return (ss->orig ? ss->orig[r] : r) % s->T;
}

/* The original key slot (0 .. K - 1, memory first) of a session's key j (memory slots, then its
 * rows from r0). */
static inline int64_t slot_of(const rel_sessions *ss, const rel_dims *s, int64_t r0, int64_t j) {
  return j < s->M ? j : s->M + position_of(ss, s, r0 + j - s->M);
}

/* The row of E for a query at position t and key slot j: d = t + M - j, p = d_max - d. */
static inline int64_t rel_row(const rel_dims *s, int64_t t, int64_t j) { return s->T - 1 - t + j; }

static bool rel_visible(const rel_dims *s, const int64_t *ids /* (T) or NULL */, const int64_t *hidden /* (T, T) or NULL */,
                        int64_t padding, bool causal, bool self_visible, int64_t t, int64_t j) {
  if (j < s->M) return true;
  int64_t u = j - s->M;
  if (causal && u > t) return false;
  if (ids && ids[u] == padding) return false;
  return !hidden || !hidden[t * s->T + u] || (self_visible && u == t);
}

/* Keep factors, as attention.c's: element i kept when lane i % 4 of Philox block i / 4 >= p. */
static void rel_dropout_factors(float *f /* (n) */, uint64_t seed, uint64_t stream, uint64_t first, int64_t n, float p) {
  const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
  const double threshold = (double)p * 4294967296.0;
  const float scale = 1.0f / (1.0f - p);
  uint32_t r[4];
  for (int64_t k = 0; k < n; k++) {
    uint64_t i = first + (uint64_t)k;
    if (k == 0 || i % 4 == 0) {
      uint64_t block = i / 4;
      const uint32_t ctr[4] = {(uint32_t)block, (uint32_t)(block >> 32), (uint32_t)stream, (uint32_t)(stream >> 32)};
      rk_philox4x32_10(r, ctr, key);
    }
    f[k] = (double)r[i % 4] >= threshold ? scale : 0.0f;
  }
}

void rel_attention_sinusoid_cpu(float *E /* (P, D) */, int64_t P, int64_t D, int64_t d_max) {
  const int64_t half = D / 2;
  for (int64_t p = 0; p < P; p++) {
    float d = (float)(d_max - p);
    for (int64_t k = 0; k < half; k++) {
      float f = 1.0f / powf(10000.0f, (float)(2 * k) / (float)D);
      E[p * D + k] = sinf(d * f);
      E[p * D + half + k] = cosf(d * f);
    }
  }
}

/* ---- forward ----
 * Item (i, h) is session i's head h. Its probabilities are (L, K) rows of stride K at row
 * (r0 H + h L) K, the first mem + L entries in use (unpacked: the (B, H, T, K) layout). */

/* Per item forward scratch: qw and qr (dh each), a query's keep factors (K). */
static int64_t rel_fwd_scratch(const rel_dims *s) { return 2 * s->dh + s->K; }

typedef struct {
  float *out, *probs, *dropped, *scratch;
  const float *q_src, *kv_src, *kr, *rw, *rr;
  const int64_t *key_ids, *hidden;
  rel_sessions ss;
  rel_dims s;
  int64_t padding;
  bool causal, self_visible;
  float p;
  uint64_t seed, stream;
} rel_fwd_ctx;

static void rel_fwd_items(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const rel_fwd_ctx *c = arg;
  const rel_dims *s = &c->s;
  const int64_t T = s->T, K = s->K, D = s->D, dh = s->dh, M = s->M, row = 3 * D;
  const float scale = 1.0f / sqrtf((float)dh);
  for (int64_t item = begin; item < end; item++) {
    int64_t h = item % s->H, r0, L, b;
    session_of(&c->ss, s, item / s->H, &r0, &L, &b);
    const float *q = c->q_src + r0 * row + h * dh, *k = c->kv_src + r0 * row + D + h * dh, *v = k + D;
    const float *kr = c->kr + h * dh, *rw = c->rw + h * dh, *rr = c->rr + h * dh;   /* rows of stride D */
    const int64_t *ids = c->key_ids ? c->key_ids + b * T : NULL, *hid = c->hidden ? c->hidden + b * T * T : NULL;
    const int64_t at = (r0 * s->H + h * L) * K, keys = M + L;
    float *P = c->probs + at, *Pd = c->dropped ? c->dropped + at : P;   /* (L, K) */
    float *qw = c->scratch + item * rel_fwd_scratch(s), *qr = qw + dh, *keep = qr + dh;
    const int64_t drawn = slot_of(&c->ss, s, r0, keys - 1) + 1;   /* the slots up to the last key */
    for (int64_t t = 0; t < L; t++) {
      const int64_t pt = position_of(&c->ss, s, r0 + t);
      for (int64_t d = 0; d < dh; d++) qw[d] = q[t * row + d] + rw[d], qr[d] = q[t * row + d] + rr[d];
      float *pr = P + t * K, mx = -INFINITY;
      for (int64_t j = 0; j < keys; j++) {
        const int64_t kj = slot_of(&c->ss, s, r0, j);
        if (!rel_visible(s, ids, hid, c->padding, c->causal, c->self_visible, pt, kj)) {
          pr[j] = -INFINITY;
          continue;
        }
        float ac = j < M ? 0.0f : rk_dot8(qw, k + (j - M) * row, dh);   /* a memory slot's key is zero */
        pr[j] = scale * (ac + rk_dot8(qr, kr + rel_row(s, pt, kj) * D, dh));
        if (pr[j] > mx) mx = pr[j];
      }
      double z = 0.0;
      for (int64_t j = 0; j < keys; j++) z += pr[j] = pr[j] == -INFINITY ? 0.0f : expf(pr[j] - mx);
      for (int64_t j = 0; j < keys; j++) pr[j] = z > 0.0 ? (float)(pr[j] / z) : 0.0f;
      if (c->dropped) {   /* element (b, h, t, slot) of (B, H, T, K), as unpacked */
        float *pd = Pd + t * K;
        rel_dropout_factors(keep, c->seed, c->stream, (uint64_t)(((b * s->H + h) * T + pt) * K), drawn, c->p);
        for (int64_t j = 0; j < keys; j++) pd[j] = keep[slot_of(&c->ss, s, r0, j)] * pr[j];
      }
      float *o = c->out + (r0 + t) * D + h * dh;
      memset(o, 0, (size_t)dh * sizeof(float));
      for (int64_t j = M; j < keys; j++) {   /* memory slots' values are zero */
        float w = Pd[t * K + j];
        if (w == 0.0f) continue;
        const float *vj = v + (j - M) * row;
        for (int64_t d = 0; d < dh; d++) o[d] += w * vj[d];
      }
    }
  }
}

typedef struct {
  float *kr;
  const float *E, *r;
  int64_t D;
} rel_proj_ctx;

static void rel_project_rows(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const rel_proj_ctx *c = arg;
  for (int64_t p = begin; p < end; p++)
    for (int64_t o = 0; o < c->D; o++) c->kr[p * c->D + o] = rk_dot8(c->E + p * c->D, c->r + o * c->D, c->D);
}

/* E and kr are outputs too (saved for backward). pos_p: dropout on E (0: none); p: on the
 * probabilities (dropped NULL: none). Packed rows: orig and starts (S sessions); else NULL, S = B. */
void rel_attention_forward_cpu(float *out /* (R, D) */, float *probs /* (R H K) */, float *dropped /* (R H K) or NULL */,
                               float *E /* (P, D) */, float *kr /* (P, D) */, float *scratch /* (B H (2 dh + K)) */,
                               const float *q_src /* (R, 3D) */, const float *kv_src /* (R, 3D) */,
                               const float *r /* (D, D) */, const float *rw /* (D) */, const float *rr /* (D) */,
                               const int64_t *key_ids /* (B, T) or NULL */, const int64_t *hidden /* (B, T, T) or NULL */,
                               const int64_t *orig /* (R) or NULL */, const int64_t *starts /* (S + 1) or NULL */,
                               int64_t S, int64_t B, int64_t T, int64_t H, int64_t D, int64_t mem, int64_t padding,
                               bool causal, bool self_visible, float p, float pos_p, uint64_t seed, uint64_t stream) {
  const rel_dims dims = rel_dims_of(B, T, H, D, mem, causal), *s = &dims;
  const rel_sessions sessions = {starts, orig, S}, *ss = &sessions;
  rel_attention_sinusoid_cpu(E, s->P, D, s->d_max);
  if (pos_p > 0.0f) {
    for (int64_t i = 0; i < s->P; i++) {
      float f[64];
      for (int64_t d0 = 0; d0 < D; d0 += 64) {
        int64_t n = D - d0 < 64 ? D - d0 : 64;
        rel_dropout_factors(f, seed, stream, (uint64_t)(s->B * s->H * s->T * s->K + i * D + d0), n, pos_p);
        for (int64_t d = 0; d < n; d++) E[i * D + d0 + d] *= f[d];
      }
    }
  }
  rel_proj_ctx pc = {kr, E, r, D};
  rk_parallel_for(s->P, 1, rel_project_rows, &pc);   /* a row is D x D work */
  rel_fwd_ctx c = {out, probs, dropped, scratch, q_src, kv_src, kr, rw, rr, key_ids, hidden, *ss, *s, padding, causal,
                   self_visible, p, seed, stream};
  rk_parallel_for(ss->n * s->H, 1, rel_fwd_items, &c);
}

/* ---- backward ---- */

typedef struct {
  float *dq_src, *dkv_src, *scratch;
  const float *dout, *dweights, *probs, *dropped, *q_src, *kv_src, *kr, *rw, *rr;
  rel_sessions ss;
  rel_dims s;
} rel_bwd_ctx;

/* Per item scratch: ds (K), qw and qr (dh each), its share of dkr (P, dh), of dr_w and dr_r (dh). */
static int64_t rel_item_scratch(const rel_dims *s) { return s->K + 2 * s->dh + s->P * s->dh + 2 * s->dh; }

static void rel_bwd_items(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const rel_bwd_ctx *c = arg;
  const rel_dims *s = &c->s;
  const int64_t T = s->T, K = s->K, D = s->D, dh = s->dh, M = s->M, row = 3 * D;
  const float scale = 1.0f / sqrtf((float)dh);
  for (int64_t item = begin; item < end; item++) {
    int64_t h = item % s->H, r0, L, b;
    session_of(&c->ss, s, item / s->H, &r0, &L, &b);
    const float *q = c->q_src + r0 * row + h * dh, *k = c->kv_src + r0 * row + D + h * dh, *v = k + D;
    float *dq = c->dq_src ? c->dq_src + r0 * row + h * dh : NULL;
    float *dk = c->dkv_src ? c->dkv_src + r0 * row + D + h * dh : NULL, *dv = dk ? dk + D : NULL;
    const float *kr = c->kr + h * dh, *rw = c->rw + h * dh, *rr = c->rr + h * dh;
    const int64_t at = (r0 * s->H + h * L) * K, keys = M + L;
    const float *P = c->probs + at, *Pd = c->dropped ? c->dropped + at : P;
    const float *dW = c->dweights ? c->dweights + item * T * T : NULL;   /* unpacked: (T, T), the positions only */
    float *ds = c->scratch + item * rel_item_scratch(s), *qw = ds + K, *qr = qw + dh, *dkr = qr + dh;   /* dkr (P, dh) */
    float *drw = dkr + s->P * dh, *drr = drw + dh;
    memset(dkr, 0, (size_t)((s->P + 2) * dh) * sizeof(float));
    for (int64_t t = 0; t < L; t++) {
      const int64_t pt = position_of(&c->ss, s, r0 + t);
      const float *go = c->dout + (r0 + t) * D + h * dh, *pr = P + t * K, *pdr = Pd + t * K;
      for (int64_t d = 0; d < dh; d++) qw[d] = q[t * row + d] + rw[d], qr[d] = q[t * row + d] + rr[d];
      double dot = 0.0, dotw = 0.0;
      for (int64_t j = 0; j < keys; j++) {
        if (pr[j] == 0.0f || j < M) {   /* a memory slot's value is zero: no gradient reaches it from out */
          ds[j] = 0.0f;
          continue;
        }
        ds[j] = rk_dot8(go, v + (j - M) * row, dh);
        dot += (double)pdr[j] * ds[j];
        if (dv) {
          float w = pdr[j], *dvj = dv + (j - M) * row;
          for (int64_t d = 0; d < dh; d++) dvj[d] += w * go[d];
        }
      }
      for (int64_t j = M; dW && j < K; j++) dotw += (double)pr[j] * dW[t * T + j - M];
      for (int64_t j = 0; j < keys; j++) {
        if (pr[j] == 0.0f) continue;
        float sc = pdr[j] * ds[j] - pr[j] * (float)dot;
        if (dW) sc += pr[j] * ((j >= M ? dW[t * T + j - M] : 0.0f) - (float)dotw);
        sc *= scale;
        const int64_t p = rel_row(s, pt, slot_of(&c->ss, s, r0, j));
        const float *krp = kr + p * D;
        float *dkrp = dkr + p * dh;
        for (int64_t d = 0; d < dh; d++) {
          dkrp[d] += sc * qr[d];
          drr[d] += sc * krp[d];
        }
        if (dq)
          for (int64_t d = 0; d < dh; d++) dq[t * row + d] += sc * krp[d];
        if (j < M) continue;
        const float *kj = k + (j - M) * row;
        for (int64_t d = 0; d < dh; d++) drw[d] += sc * kj[d];
        if (dq)
          for (int64_t d = 0; d < dh; d++) dq[t * row + d] += sc * kj[d];
        if (dk) {
          float *dkj = dk + (j - M) * row;
          for (int64_t d = 0; d < dh; d++) dkj[d] += sc * qw[d];
        }
      }
    }
  }
}

typedef struct {
  float *dr, *dkr;
  const float *E;
  int64_t P, D;
} rel_dr_ctx;

/* dr (D, D) += dkr^T E: row o of dr from column o of dkr. */
static void rel_dr_rows(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const rel_dr_ctx *c = arg;
  for (int64_t o = begin; o < end; o++)
    for (int64_t p = 0; p < c->P; p++) {
      float g = c->dkr[p * c->D + o];
      if (g == 0.0f) continue;
      const float *e = c->E + p * c->D;
      float *dro = c->dr + o * c->D;
      for (int64_t i = 0; i < c->D; i++) dro[i] += g * e[i];
    }
}

/* dq_src receives the q columns' gradient, dkv_src the k and v columns' (the same buffer for the
 * content stream); dr, drw, drr may be NULL. scratch: (B H rel_item_scratch) then dkr (P, D). */
void rel_attention_backward_cpu(float *dq_src /* (R, 3D) or NULL */, float *dkv_src /* (R, 3D) or NULL */,
                                float *dr /* (D, D) or NULL */, float *drw /* (D) or NULL */, float *drr /* (D) or NULL */,
                                float *scratch, const float *dout /* (R, D) */,
                                const float *dweights /* (B, H, T, T) or NULL */, const float *probs /* (R H K) */,
                                const float *dropped /* (R H K) or NULL */, const float *E /* (P, D) */,
                                const float *kr /* (P, D) */, const float *q_src, const float *kv_src,
                                const float *rw /* (D) */, const float *rr /* (D) */, const int64_t *orig /* (R) or NULL */,
                                const int64_t *starts /* (S + 1) or NULL */, int64_t S, int64_t B, int64_t T, int64_t H,
                                int64_t D, int64_t mem, bool causal) {
  const rel_dims dims = rel_dims_of(B, T, H, D, mem, causal), *s = &dims;
  const rel_sessions sessions = {starts, orig, S}, *ss = &sessions;
  rel_bwd_ctx c = {dq_src, dkv_src, scratch, dout, dweights, probs, dropped, q_src, kv_src, kr, rw, rr, *ss, *s};
  const int64_t items = S * H, per = rel_item_scratch(s), dh = s->dh;
  rk_parallel_for(items, 1, rel_bwd_items, &c);
  /* The items' shares, summed in item order (session by session, as unpacked). */
  float *dkr = scratch + s->B * s->H * per;   /* (P, D) */
  memset(dkr, 0, (size_t)(s->P * D) * sizeof(float));
  for (int64_t item = 0; item < items; item++) {
    const int64_t h = item % s->H;
    const float *it = scratch + item * per + s->K + 2 * dh, *irw = it + s->P * dh, *irr = irw + dh;
    for (int64_t p = 0; p < s->P; p++)
      for (int64_t d = 0; d < dh; d++) dkr[p * D + h * dh + d] += it[p * dh + d];
    for (int64_t d = 0; d < dh; d++) {
      if (drw) drw[h * dh + d] += irw[d];
      if (drr) drr[h * dh + d] += irr[d];
    }
  }
  if (!dr) return;
  rel_dr_ctx rc = {dr, dkr, E, s->P, D};
  rk_parallel_for(D, 1, rel_dr_rows, &rc);   /* a row is P x D work */
}

/* ---- the node ----
 * in: q_src, kv_src, r, r_w_bias, r_r_bias, then key ids, hidden and (packed) the row index
 * when present. iattr: heads, padding, causal, mem, key ids' input (or -1), hidden's input (or
 * -1), self_visible, packed: T (else 0). fattr: dropout, pos_dropout. saved: probs [, dropped],
 * E, kr. Workspaces: packed, the session starts (R + 1 int64) first. */

static rel_dims node_dims(const rk_graph *g, const rk_node *n) {
  const rk_value *x = rk_val(g, n->in[0]);
  const int64_t D = x->shape[x->ndim - 1] / 3, R = x->numel / (3 * D), T = n->iattr[7] > 0 ? n->iattr[7] : x->shape[1];
  return rel_dims_of(R / T, T, n->iattr[0], D, n->iattr[3], n->iattr[2]);
}

static size_t starts_bytes(const rel_dims *s, bool packed) {
  return packed ? (size_t)(s->B * s->T + 1) * sizeof(int64_t) : 0;
}

/* The sessions of this pass: packed, from the row index into ws; RK_EINVAL when the rows are
 * out of order or the two inputs' rows in use differ. */
static rk_status node_sessions(rel_sessions *ss, int64_t *ws, const rk_graph *g, const rk_node *n, const rel_dims *s) {
  *ss = (rel_sessions){NULL, NULL, s->B};
  if (n->iattr[7] == 0) return RK_OK;
  const rk_value *q = rk_val(g, n->in[0]), *x = rk_val(g, n->in[1]);
  if (q->rows != x->rows)
    return rk_error(RK_EINVAL, "rel_attention: the queries have %lld rows in use and the keys %lld: both streams are "
                    "the same packed rows", (long long)q->rows, (long long)x->rows);
  ss->start = ws;
  ss->orig = rk_xi(g, n->in[n->n_in - 1]);
  ss->n = rk_packed_sessions(ws, ss->orig, x->rows, s->T, "rel_attention");
  return ss->n < 0 ? RK_EINVAL : RK_OK;
}

static bool node_dropout(const rk_graph *g, const rk_node *n) { return rk_graph_training(g) && n->fattr[0] > 0.0f; }

static void node_saved(const rk_node *n, const rel_dims *s, float **probs, float **dropped, float **E, float **kr) {
  int64_t np = s->B * s->H * s->T * s->K;
  *probs = n->saved;
  *dropped = n->fattr[0] > 0.0f ? *probs + np : NULL;
  *E = *probs + np * (n->fattr[0] > 0.0f ? 2 : 1);
  *kr = *E + s->P * s->D;
}

rk_status rel_attention_node_forward_cpu(rk_graph *g, const rk_node *n) {
  rel_dims s = node_dims(g, n);
  rel_sessions ss;
  RK_TRY(node_sessions(&ss, n->ws_fwd, g, n, &s));
  rk_val(g, n->out[0])->rows = rk_val(g, n->in[0])->rows;
  float *probs, *dropped, *E, *kr;
  node_saved(n, &s, &probs, &dropped, &E, &kr);
  if (!node_dropout(g, n)) dropped = NULL;
  const int64_t *ids = n->iattr[4] >= 0 ? rk_xi(g, n->in[n->iattr[4]]) : NULL;
  const int64_t *hidden = n->iattr[5] >= 0 ? rk_xi(g, n->in[n->iattr[5]]) : NULL;
  float pos_p = rk_graph_training(g) ? n->fattr[1] : 0.0f;
  float *scratch = (void *)((char *)n->ws_fwd + starts_bytes(&s, ss.start != NULL));
  rel_attention_forward_cpu(rk_x(g, n->out[0]), probs, dropped, E, kr, scratch, rk_x(g, n->in[0]), rk_x(g, n->in[1]),
                            rk_x(g, n->in[2]), rk_x(g, n->in[3]), rk_x(g, n->in[4]), ids, hidden, ss.orig, ss.start,
                            ss.n, s.B, s.T, s.H, s.D, s.M, n->iattr[1], n->iattr[2], n->iattr[6], n->fattr[0], pos_p,
                            g->seed, rk_dropout_stream(n->id, g->step));
  if (n->n_out > 1) {   /* the positions' columns of the probabilities */
    float *w = rk_x(g, n->out[1]);
    for (int64_t r = 0; r < s.B * s.H * s.T; r++) memcpy(w + r * s.T, probs + r * s.K + s.M, (size_t)s.T * sizeof(float));
  }
  return RK_OK;
}

void rel_attention_node_backward_cpu(rk_graph *g, const rk_node *n) {
  rel_dims s = node_dims(g, n);
  rel_sessions ss;
  if (node_sessions(&ss, n->ws_bwd, g, n, &s) != RK_OK) return;   /* forward checked the rows */
  float *probs, *dropped, *E, *kr;
  node_saved(n, &s, &probs, &dropped, &E, &kr);
  float *scratch = (void *)((char *)n->ws_bwd + starts_bytes(&s, ss.start != NULL));
  const float *dout = rk_dx(g, n->out[0]);
  if (!dout) {   /* only the weights output has a gradient: zeros after the scratch */
    float *zeros = scratch + s.B * s.H * rel_item_scratch(&s) + s.P * s.D;
    memset(zeros, 0, (size_t)(s.B * s.T * s.D) * sizeof(float));
    dout = zeros;
  }
  const float *dweights = n->n_out > 1 ? rk_dx(g, n->out[1]) : NULL;
  rel_attention_backward_cpu(rk_dx(g, n->in[0]), rk_dx(g, n->in[1]), rk_dx(g, n->in[2]), rk_dx(g, n->in[3]),
                             rk_dx(g, n->in[4]), scratch, dout, dweights, probs, dropped, E, kr, rk_x(g, n->in[0]),
                             rk_x(g, n->in[1]), rk_x(g, n->in[3]), rk_x(g, n->in[4]), ss.orig, ss.start, ss.n, s.B, s.T,
                             s.H, s.D, s.M, n->iattr[2]);
}

static rk_status check_ids(rk_graph *g, int v, int64_t B, int64_t cols, const char *what) {
  RK_TRY(rk_graph_check_value(g, v, "rel_attention"));
  const rk_value *iv = rk_val(g, v);
  char bi[96];
  if (iv->dtype != RK_DT_I64 || iv->ragged || iv->ndim != 2 || iv->shape[0] != B || iv->shape[1] != cols)
    return rk_error(RK_ESHAPE, "rel_attention: %s %s must be int64 (%lld, %lld)", what, rk_shape_str(iv, bi, sizeof bi),
                    (long long)B, (long long)cols);
  return RK_OK;
}

static rk_status check_param(const rk_param *p, int ndim, int64_t d0, int64_t d1, const char *what) {
  if (!rk_param_declared(p) || p->value.ndim != ndim || p->value.shape[0] != d0 || (ndim == 2 && p->value.shape[1] != d1))
    return rk_error(RK_ESHAPE, "rel_attention: %s must be a declared parameter of shape (%lld%s%lld)", what,
                    (long long)d0, ndim == 2 ? ", " : "", ndim == 2 ? (long long)d1 : 0LL);
  return RK_OK;
}

/* The inputs' layout: (B, T, 3D), or packed rows (R, 3D) of one row index, both alike. */
static rk_status check_inputs(const rk_value *qx, const rk_value *x) {
  char bx[96], bq[96];
  const bool packed = x->partial_rows;
  if (x->dtype != RK_DT_F32 || x->ndim != (packed ? 2 : 3) || x->shape[x->ndim - 1] % 3 != 0 ||
      qx->dtype != RK_DT_F32 || qx->ndim != x->ndim || qx->partial_rows != packed ||
      (packed && (qx->row_index != x->row_index || qx->row_span != x->row_span)) ||
      memcmp(qx->shape, x->shape, (size_t)x->ndim * sizeof x->shape[0]) != 0)
    return rk_error(RK_ESHAPE, "rel_attention: inputs %s and %s must be fused projections (B, T, 3 d_model) alike, or "
                    "the packed rows (R, 3 d_model) of one gather_rows", rk_shape_str(qx, bq, sizeof bq),
                    rk_shape_str(x, bx, sizeof bx));
  if (packed && x->shape[0] % x->row_span != 0)
    return rk_error(RK_ESHAPE, "rel_attention: packed rows %s are not whole sessions of %lld rows",
                    rk_shape_str(x, bx, sizeof bx), (long long)x->row_span);
  return RK_OK;
}

rk_status rk_graph_rel_attention(rk_graph *g, int *out, int *weights, const rk_rel_attention *a) {
  RK_TRY(rk_graph_check_value(g, a->q_src, "rel_attention"));
  RK_TRY(rk_graph_check_value(g, a->kv_src, "rel_attention"));
  const rk_value *x = rk_val(g, a->kv_src), *qx = rk_val(g, a->q_src);
  RK_TRY(check_inputs(qx, x));
  const bool packed = x->partial_rows;
  const int row_index = x->row_index;
  const int64_t T = packed ? x->row_span : x->shape[1], B = packed ? x->shape[0] / T : x->shape[0];
  const int64_t D = x->shape[x->ndim - 1] / 3, H = a->heads;
  char bx[96];
  if (packed && (a->key_ids != RK_NO_VALUE || weights))
    return rk_error(RK_EINVAL, "rel_attention: packed rows %s hold no padding to mask and no (B, T) layout for "
                    "weights: key ids and weights need the unpacked input", rk_shape_str(x, bx, sizeof bx));
  if (H < 1 || D % H != 0 || D % 2 != 0)
    return rk_error(RK_EINVAL, "rel_attention: d_model %lld must be even and a multiple of %lld heads", (long long)D,
                    (long long)H);
  if (!(a->dropout >= 0.0f && a->dropout < 1.0f) || !(a->pos_dropout >= 0.0f && a->pos_dropout < 1.0f))
    return rk_error(RK_EINVAL, "rel_attention: dropouts %g and %g must be in [0, 1)", a->dropout, a->pos_dropout);
  if (a->mem < 0 || a->mem > 4096) return rk_error(RK_EINVAL, "rel_attention: %lld memory slots: expected 0 to 4096", (long long)a->mem);
  RK_TRY(check_param(a->r, 2, D, D, "the relative projection r"));
  RK_TRY(check_param(a->r_w_bias, 1, D, 0, "r_w_bias"));
  RK_TRY(check_param(a->r_r_bias, 1, D, 0, "r_r_bias"));
  int in[8] = {a->q_src, a->kv_src}, n_in = 5;
  RK_TRY(rk_graph_param(g, &in[2], a->r));
  RK_TRY(rk_graph_param(g, &in[3], a->r_w_bias));
  RK_TRY(rk_graph_param(g, &in[4], a->r_r_bias));
  int64_t ids_at = -1, hidden_at = -1;
  if (a->key_ids != RK_NO_VALUE) {
    RK_TRY(check_ids(g, a->key_ids, B, T, "key ids"));
    ids_at = n_in;
    in[n_in++] = a->key_ids;
  }
  if (a->hidden != RK_NO_VALUE) {
    RK_TRY(check_ids(g, a->hidden, B, T * T, "the hidden-key mask"));
    hidden_at = n_in;
    in[n_in++] = a->hidden;
  }
  if (packed) in[n_in++] = row_index;   /* last */
  rel_dims s = rel_dims_of(B, T, H, D, a->mem, a->causal);
  int64_t probs_numel, shape[3] = {B, T, D}, pshape[4] = {B, H, T, s.K}, wshape[4] = {B, H, T, T};
  RK_TRY(rk_size_numel(&probs_numel, 4, pshape, "relative attention weights (batch x heads x T x keys)"));
  if (packed) shape[0] = B * T, shape[1] = D;
  rk_node *n;
  RK_TRY(rk_graph_simple_node(g, &n, out, RK_OP_REL_ATTENTION, n_in, in, RK_DT_F32, packed ? 2 : 3, shape));
  n->iattr[0] = H;
  n->iattr[1] = a->padding;
  n->iattr[2] = a->causal;
  n->iattr[3] = a->mem;
  n->iattr[4] = ids_at;
  n->iattr[5] = hidden_at;
  n->iattr[6] = a->self_visible;
  n->iattr[7] = packed ? T : 0;
  n->fattr[0] = a->dropout;
  n->fattr[1] = a->pos_dropout;
  n->saved_bytes = (size_t)(probs_numel * (a->dropout > 0.0f ? 2 : 1) + 2 * s.P * D) * sizeof(float);
  n->ws_fwd_bytes = starts_bytes(&s, packed) + (size_t)(B * H * rel_fwd_scratch(&s)) * sizeof(float);
  n->ws_bwd_bytes = starts_bytes(&s, packed) +
                    (size_t)(B * H * rel_item_scratch(&s) + s.P * D + (weights ? B * T * D : 0)) * sizeof(float);
  if (weights) {
    int w;
    RK_TRY(rk_graph_add_value(g, &w, RK_DT_F32, 4, wshape));
    rk_graph_node_set_out(g, &g->nodes[g->n_nodes - 1], 1, w);
    *weights = w;
  }
  return RK_OK;
}
