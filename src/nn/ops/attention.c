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
 * Not here: the projections (linear ops) and the output dropout (the block builders,
 * src/nn/blocks/transformer.c).
 *
 * Memory: nothing of size T x T leaves a (batch, head) pair except P (and P' under dropout),
 * saved for backward as (B, H, T, T). Backward uses P' dP' - P <P', dP'> for the softmax's
 * input gradient, so the dropout mask itself is never stored. Dropout draws are keyed by
 * (seed, op, step, element of (B, H, T, T)) and drawn by the dropout op's rk_dropout_draws
 * (src/nn/ops/dropout.c). Under the causal mask only the keys at or before a query are looked at.
 * Every (batch, head) pair is one work item writing only its own outputs, with its sums in a
 * fixed order, so the bits do not depend on the thread count.
 */
#include <math.h>
#include <string.h>

#include "nn/ops/ops.h"

typedef struct {
  float *out, *probs, *dropped, *keys_t;
  const float *qkv;
  const int64_t *key_ids;
  int64_t T, H, D, padding;
  bool causal;
  float p;
  uint64_t seed, stream;
} attn_fwd_ctx;

static bool key_visible(const int64_t *ids /* (T) or NULL */, int64_t padding, bool causal, int64_t t, int64_t j) {
  if (causal && j > t) return false;
  return !ids || ids[j] != padding;
}

/* xt (dh, T) = the head's rows x (T, dh) of stride row, transposed, so that one query's scores
 * (or one output gradient's dots with the values) run along the keys, contiguous: T dots of
 * dh = 16 each reduced across a vector were slower than dh passes over T keys. */
static void transpose_head(float *xt /* (dh, T) */, const float *x, int64_t T, int64_t dh, int64_t row) {
  for (int64_t j = 0; j < T; j++)
    for (int64_t d = 0; d < dh; d++) xt[d * T + j] = x[j * row + d];
}

/* s[j] = <a, xt[:, j]> for j < n, summed over d in order. */
static void dots_along_keys(float *s /* (n) */, const float *a /* (dh) */, const float *xt /* (dh, T) */, int64_t n,
                            int64_t T, int64_t dh) {
  for (int64_t j = 0; j < n; j++) s[j] = 0.0f;
  for (int64_t d = 0; d < dh; d++) {
    const float ad = a[d], *xd = xt + d * T;
    for (int64_t j = 0; j < n; j++) s[j] += ad * xd[j];
  }
}

static void attn_fwd_items(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const attn_fwd_ctx *c = arg;
  const int64_t T = c->T, D = c->D, dh = D / c->H, row = 3 * D;
  const float scale = 1.0f / sqrtf((float)dh), keep_scale = 1.0f / (1.0f - c->p);
  rk_dropout_draws draws;
  rk_dropout_draws_init(&draws, c->p, c->seed, c->stream);
  uint8_t keep[256];   /* a row's keep bytes, in pieces of at most 256 keys */
  for (int64_t item = begin; item < end; item++) {
    int64_t b = item / c->H, h = item % c->H;
    const float *q = c->qkv + b * T * row + h * dh, *k = q + D, *v = q + 2 * D;   /* rows of stride 3D */
    const int64_t *ids = c->key_ids ? c->key_ids + b * T : NULL;
    float *P = c->probs + item * T * T;                       /* (T, T) */
    float *Pd = c->dropped ? c->dropped + item * T * T : P;   /* (T, T) */
    float *kt = c->keys_t + item * dh * T;                    /* (dh, T) */
    transpose_head(kt, k, T, dh, row);
    for (int64_t t = 0; t < T; t++) {
      const int64_t seen = c->causal ? t + 1 : T;   /* keys past it get zero weight without a look */
      float *pr = P + t * T, mx = -INFINITY;
      dots_along_keys(pr, q + t * row, kt, seen, T, dh);
      for (int64_t j = 0; j < seen; j++) {
        pr[j] = key_visible(ids, c->padding, c->causal, t, j) ? scale * pr[j] : -INFINITY;
        if (pr[j] > mx) mx = pr[j];
      }
      for (int64_t j = seen; j < T; j++) pr[j] = 0.0f;
      double z = 0.0;
      if (mx > -INFINITY)
        for (int64_t j = 0; j < seen; j++) z += pr[j] = pr[j] == -INFINITY ? 0.0f : rk_exp_nonpos_fast(pr[j] - mx);
      for (int64_t j = 0; j < seen; j++) pr[j] = z > 0.0 ? (float)(pr[j] / z) : 0.0f;   /* no visible key: zeros */
      if (c->dropped) {
        float *pd = Pd + t * T;
        for (int64_t j0 = 0; j0 < T; j0 += (int64_t)sizeof keep) {
          int64_t n = T - j0 < (int64_t)sizeof keep ? T - j0 : (int64_t)sizeof keep;
          rk_dropout_draws_at(&draws, keep, (uint64_t)((item * T + t) * T + j0), n);
          for (int64_t j = 0; j < n; j++) pd[j0 + j] = keep[j] ? keep_scale * pr[j0 + j] : 0.0f;
        }
      }
      float *o = c->out + (b * T + t) * D + h * dh;   /* (dh) */
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

/* keys_t (B, H, dh, T): scratch for each head's keys, transposed. */
void attention_forward_cpu(float *out /* (B, T, D) */, float *probs /* (B, H, T, T) */,
                           float *dropped /* (B, H, T, T) or NULL: no dropout */, float *keys_t /* (B, T, D) */,
                           const float *qkv /* (B, T, 3D) */,
                           const int64_t *key_ids /* (B, T) or NULL */, int64_t B, int64_t T, int64_t H, int64_t D,
                           int64_t padding, bool causal, float p, uint64_t seed, uint64_t stream) {
  attn_fwd_ctx c = {out, probs, dropped, keys_t, qkv, key_ids, T, H, D, padding, causal, p, seed, stream};
  rk_parallel_for(B * H, 1, attn_fwd_items, &c);
}

typedef struct {
  float *dqkv, *dprobs_row, *values_t;
  const float *dout, *dweights, *probs, *dropped, *qkv;
  int64_t T, H, D;
} attn_bwd_ctx;

static void attn_bwd_items(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const attn_bwd_ctx *c = arg;
  const int64_t T = c->T, D = c->D, dh = D / c->H, row = 3 * D;
  const float scale = 1.0f / sqrtf((float)dh);
  for (int64_t item = begin; item < end; item++) {
    int64_t b = item / c->H, h = item % c->H;
    const float *q = c->qkv + b * T * row + h * dh, *k = q + D, *v = q + 2 * D;
    float *dq = c->dqkv + b * T * row + h * dh, *dk = dq + D, *dv = dq + 2 * D;
    const float *P = c->probs + item * T * T, *Pd = c->dropped ? c->dropped + item * T * T : P;
    const float *dW = c->dweights ? c->dweights + item * T * T : NULL;
    float *ds = c->dprobs_row + item * T;   /* (T): this item's scratch row */
    float *vt = c->values_t + item * dh * T;   /* (dh, T) */
    transpose_head(vt, v, T, dh, row);
    for (int64_t t = 0; t < T; t++) {
      const float *go = c->dout + (b * T + t) * D + h * dh, *pr = P + t * T, *pdr = Pd + t * T;
      /* dP' = dout v^T; dv += P'^T dout; <P', dP'> and, for the weights output, <P, dW> */
      double dot = 0.0, dotw = 0.0;
      dots_along_keys(ds, go, vt, T, T, dh);
      for (int64_t j = 0; j < T; j++) {
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
      for (int64_t j = 0; j < T; j++) {
        if (pr[j] == 0.0f) continue;
        float s = pdr[j] * ds[j] - pr[j] * (float)dot;
        if (dW) s += pr[j] * (dW[t * T + j] - (float)dotw);
        s *= scale;
        const float *kj = k + j * row, *qt = q + t * row;
        float *dqt = dq + t * row, *dkj = dk + j * row;
        for (int64_t d = 0; d < dh; d++) {
          dqt[d] += s * kj[d];
          dkj[d] += s * qt[d];
        }
      }
    }
  }
}

/* dweights: the gradient reaching the weights output, or NULL. scratch (B, H, T), values_t
 * (B, H, dh, T): each head's values, transposed. */
void attention_backward_cpu(float *dqkv /* (B, T, 3D) */, float *scratch /* (B, H, T) */,
                            float *values_t /* (B, T, D) */, const float *dout /* (B, T, D) */,
                            const float *dweights /* (B, H, T, T) or NULL */, const float *probs /* (B, H, T, T) */,
                            const float *dropped /* (B, H, T, T) or NULL */, const float *qkv /* (B, T, 3D) */,
                            int64_t B, int64_t T, int64_t H, int64_t D) {
  attn_bwd_ctx c = {dqkv, scratch, values_t, dout, dweights, probs, dropped, qkv, T, H, D};
  rk_parallel_for(B * H, 1, attn_bwd_items, &c);
}

/* ---- the node ---- */

static void dims(const rk_graph *g, const rk_node *n, int64_t *B, int64_t *T, int64_t *H, int64_t *D) {
  const rk_value *x = rk_val(g, n->in[0]);
  *B = x->shape[0];
  *T = x->shape[1];
  *D = x->shape[2] / 3;
  *H = n->iattr[0];
}

static bool with_dropout(const rk_graph *g, const rk_node *n) {
  return rk_graph_training(g) && n->fattr[0] > 0.0f;
}

rk_status attention_node_forward_cpu(rk_graph *g, const rk_node *n) {
  int64_t B, T, H, D;
  dims(g, n, &B, &T, &H, &D);
  float *probs = n->saved, *dropped = with_dropout(g, n) ? probs + B * H * T * T : NULL;
  const int64_t *ids = n->n_in > 1 ? rk_xi(g, n->in[1]) : NULL;
  attention_forward_cpu(rk_x(g, n->out[0]), probs, dropped, n->ws_fwd, rk_x(g, n->in[0]), ids, B, T, H, D, n->iattr[1],
                        n->iattr[2], n->fattr[0], g->seed, rk_dropout_stream(n->id, g->step));
  if (n->n_out > 1) memcpy(rk_x(g, n->out[1]), probs, (size_t)(B * H * T * T) * sizeof(float));
  return RK_OK;
}

void attention_node_backward_cpu(rk_graph *g, const rk_node *n) {
  int64_t B, T, H, D;
  dims(g, n, &B, &T, &H, &D);
  if (!rk_dx(g, n->in[0])) return;
  const float *probs = n->saved, *dropped = n->fattr[0] > 0.0f ? probs + B * H * T * T : NULL;
  const float *dweights = n->n_out > 1 ? rk_dx(g, n->out[1]) : NULL;
  /* (B, H, T), the values transposed (B, T, D), then (B, T, D) zeros when only the weights have a gradient */
  float *scratch = n->ws_bwd, *values_t = scratch + B * H * T;
  const float *dout = rk_dx(g, n->out[0]);
  if (!dout) {
    dout = values_t + B * T * D;
    memset(values_t + B * T * D, 0, (size_t)(B * T * D) * sizeof(float));
  }
  attention_backward_cpu(rk_dx(g, n->in[0]), scratch, values_t, dout, dweights, probs, dropped, rk_x(g, n->in[0]), B, T,
                         H, D);
}

rk_status rk_graph_attention(rk_graph *g, int *out, int *weights, int qkv, int64_t heads, bool causal, int key_ids,
                             int64_t padding, float dropout) {
  RK_TRY(rk_graph_check_value(g, qkv, "attention"));
  const rk_value *x = rk_val(g, qkv);
  char bx[96], bi[96];
  if (x->dtype != RK_DT_F32 || x->ndim != 3 || x->shape[2] % 3 != 0)
    return rk_error(RK_ESHAPE, "attention: input %s must be the fused projection (B, T, 3 d_model)",
                    rk_shape_str(x, bx, sizeof bx));
  int64_t B = x->shape[0], T = x->shape[1], D = x->shape[2] / 3;
  if (heads < 1 || D % heads != 0)
    return rk_error(RK_EINVAL, "attention: d_model %lld is not a multiple of %lld heads", (long long)D, (long long)heads);
  if (!(dropout >= 0.0f && dropout < 1.0f))
    return rk_error(RK_EINVAL, "attention: dropout %g must be in [0, 1)", dropout);
  int in[2] = {qkv, key_ids}, n_in = 1;
  if (key_ids != RK_NO_VALUE) {
    RK_TRY(rk_graph_check_value(g, key_ids, "attention"));
    const rk_value *iv = rk_val(g, key_ids);
    if (iv->dtype != RK_DT_I64 || iv->ragged || iv->ndim != 2 || iv->shape[0] != B || iv->shape[1] != T)
      return rk_error(RK_ESHAPE, "attention: key ids %s must be int64 (%lld, %lld) for input %s",
                      rk_shape_str(iv, bi, sizeof bi), (long long)B, (long long)T, rk_shape_str(x, bx, sizeof bx));
    n_in = 2;
  }
  int64_t probs_numel, shape[3] = {B, T, D}, wshape[4] = {B, heads, T, T};
  RK_TRY(rk_size_numel(&probs_numel, 4, wshape, "attention weights (batch x heads x T x T)"));
  rk_node *n;
  RK_TRY(rk_graph_simple_node(g, &n, out, RK_OP_ATTENTION, n_in, in, RK_DT_F32, 3, shape));
  n->iattr[0] = heads;
  n->iattr[1] = padding;
  n->iattr[2] = causal;
  n->fattr[0] = dropout;
  n->saved_bytes = (size_t)(probs_numel * (dropout > 0.0f ? 2 : 1)) * sizeof(float);
  n->ws_fwd_bytes = (size_t)(B * T * D) * sizeof(float);   /* the keys, transposed per head */
  n->ws_bwd_bytes = (size_t)(B * heads * T + B * T * D + (weights ? B * T * D : 0)) * sizeof(float);
  if (weights) {
    int w;
    RK_TRY(rk_graph_add_value(g, &w, RK_DT_F32, 4, wshape));
    rk_graph_node_set_out(g, &g->nodes[g->n_nodes - 1], 1, w);
    *weights = w;
  }
  return RK_OK;
}
