/*
 * sampled_logits: a next-item head's logits against a few candidate items instead of the whole
 * catalogue (sampled softmax, negative sampling). Rows r of h (R, D), R = B T, with targets y_r
 * (labels (B, T) flattened) and M candidates c_1..c_M shared by the batch:
 *   out (B, T, C)       out[r, 0] = (h_r . W_{y_r} + b_{y_r}) / tau - logq(y_r)
 *                       out[r, m] = (h_r . W_{c_m} + b_{c_m}) / tau - logq(c_m)
 *                       C = 1 + M, or more: columns past 1 + M are absent (-inf)
 * so the gemm runs on (R x M), never (R x V). W (V, D) is the scoring matrix (the item table
 * when tied), b (V) its bias or NULL.
 *
 * Candidates, in this order:
 *   in-batch   (in_batch) the R targets of the batch in row order: the other sessions' targets
 *              are each row's negatives, as Transformers4Rec's recsys_meta_model samples them
 *   sampled    N draws with replacement over ids [first, V), or (unique) the first N distinct
 *              ids of the draws, as TensorFlow's samplers with unique=True, from the stream
 *              (seed, op, step): a pure function of those, whatever the threads
 *                log-uniform  P(i) = log((k + 2) / (k + 1)) / log(V - first + 1), k = i - first:
 *                             Zipf-like, for ids sorted by decreasing frequency (the ETL's
 *                             Categorify does), drawn as floor(exp(u log(V - first + 1))) - 1
 *                             (TensorFlow's log_uniform_candidate_sampler)
 *                uniform      P(i) = 1 / (V - first)
 *              or the N ids the caller gives (fixed draws)
 * A candidate is absent for row r, its logit -inf (which sampled_loss skips), when it is r's own
 * target (an accidental hit: removed, as TensorFlow's remove_accidental_hits), a padding label,
 * or an in-batch target of r's own session (the reference's negative mask): row r's session is
 * r / T, or sessions[r] when given (packed rows).
 * logq (sampled softmax's correction, Bengio and Senecal 2008; Jean et al. 2015): the log of
 * the expected count, N P(i) with replacement or 1 - (1 - P(i))^tries for unique draws that took
 * `tries` (TensorFlow's), subtracted from the target's logit and the sampled ones; in-batch
 * columns carry none. Rows whose label is `ignore` are zeros (the loss skips them).
 * h may have rows in use (gather_rows: the labelled rows, packed, their labels y's first R
 * entries and padding after): only those rows are scored, as catalog_ce does, and the in-batch
 * candidates are those R rows' targets, which then need each row's session (`sessions`, in the
 * rows' order: packed rows have lost theirs). So negative sampling's gemm is R x (R + N) over the
 * labelled rows, not B T x (B T + N), with the same candidates present for each row: the
 * padding labels the (B, T) layout carries are absent anyway. The value keeps its width,
 * 1 + B T + N, for the plan; the columns past 1 + R + N are absent. Backward adds into h, W's
 * rows of the target and candidates, and b; the candidates' gradient
 * rows are (M x D) = dz^T h by gemm, added to W in candidate order, so the bits do not depend
 * on threads.
 */
#include <math.h>

#include "nn/ops/ops.h"

/* ---- the samplers -------------------------------------------------------------------------- */
double rk_sampler_probability(rk_sampler s, int64_t id, int64_t first, int64_t V) {
  if (id < first || id >= V) return 0.0;
  if (s == RK_SAMPLER_UNIFORM) return 1.0 / (double)(V - first);
  double k = (double)(id - first);
  return log1p(1.0 / (k + 1.0)) / log((double)(V - first + 1));
}

double rk_sampler_expected_count(rk_sampler s, int64_t id, int64_t first, int64_t V, int64_t tries, bool unique) {
  double p = rk_sampler_probability(s, id, first, V);
  return unique ? -expm1((double)tries * log1p(-p)) : (double)tries * p;
}

static int64_t draw_one(rk_rng *rng, rk_sampler s, int64_t first, int64_t range, double log_range) {
  int64_t k;
  if (s == RK_SAMPLER_UNIFORM) k = (int64_t)rk_rng_below(rng, (uint64_t)range);
  else {
    k = (int64_t)floor(exp(rk_rng_uniform(rng) * log_range)) - 1;
    k = k < 0 ? 0 : k >= range ? range - 1 : k;   /* rounding at the ends */
  }
  return first + k;
}

void rk_sampler_draw(int64_t *ids /* (N) */, rk_sampler s, int64_t N, int64_t first, int64_t V, uint64_t seed,
                     uint64_t stream) {
  rk_rng rng;
  rk_rng_init(&rng, seed, stream);
  const int64_t range = V - first;
  const double log_range = log((double)range + 1.0);
  for (int64_t j = 0; j < N; j++) ids[j] = draw_one(&rng, s, first, range, log_range);
}

int64_t rk_sampler_set_size(int64_t N) {
  int64_t size = 16;
  while (size < 2 * N) size *= 2;
  return size;
}

/* The draws go through an open-addressing set of the ids seen (rk_sampler_set_size(N) slots,
 * at most half full), so a step costs its tries, not the catalogue. */
int64_t rk_sampler_draw_unique(int64_t *ids /* (N) */, int64_t *set /* (rk_sampler_set_size(N)) */, rk_sampler s,
                               int64_t N, int64_t first, int64_t V, uint64_t seed, uint64_t stream) {
  rk_rng rng;
  rk_rng_init(&rng, seed, stream);
  const int64_t range = V - first, size = rk_sampler_set_size(N);
  const double log_range = log((double)range + 1.0);
  for (int64_t i = 0; i < size; i++) set[i] = -1;
  int64_t tries = 0;
  for (int64_t j = 0; j < N;) {
    int64_t id = draw_one(&rng, s, first, range, log_range);
    tries++;
    uint64_t at = ((uint64_t)id * 0x9E3779B97F4A7C15ull) & (uint64_t)(size - 1);
    while (set[at] >= 0 && set[at] != id) at = (at + 1) & (uint64_t)(size - 1);
    if (set[at] == id) continue;
    set[at] = id;
    ids[j++] = id;
  }
  return tries;
}

/* ---- the kernels --------------------------------------------------------------------------- */
typedef struct {
  float *out, *dh, *dz;
  const float *h, *w, *b, *wc, *bc, *lq, *dout;
  const int64_t *y, *cand, *sessions;
  int64_t D, V, M, C, T, ignore;   /* C: out's row width, 1 + M or more */
  int64_t in_batch;   /* in-batch candidates: the first R */
  float inv_tau;
  rk_sampler sampler;
  int64_t tries, first;   /* the draws behind the candidates */
  bool logq, unique;
} sl_ctx;

static int64_t session_of(const sl_ctx *c, int64_t r) { return c->sessions ? c->sessions[r] : r / c->T; }

/* Candidate m is absent for row r. */
static bool absent(const sl_ctx *c, int64_t r, int64_t m) {
  int64_t id = c->cand[m];
  return id < 0 || id == c->y[r] || (m < c->in_batch && session_of(c, m) == session_of(c, r));
}

static float target_logq(const sl_ctx *c, int64_t id) {
  return c->logq ? (float)log(rk_sampler_expected_count(c->sampler, id, c->first, c->V, c->tries, c->unique)) : 0.0f;
}

static void rows_forward(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const sl_ctx *c = arg;
  const int64_t C = c->C;
  for (int64_t r = begin; r < end; r++) {
    float *o = c->out + r * C;
    if (c->y[r] == c->ignore) {
      memset(o, 0, (size_t)C * sizeof *o);
      continue;
    }
    const int64_t y = c->y[r];
    o[0] = (rk_dot8(c->h + r * c->D, c->w + y * c->D, c->D) + (c->b ? c->b[y] : 0.0f)) * c->inv_tau - target_logq(c, y);
    for (int64_t m = 0; m < c->M; m++)
      o[1 + m] = absent(c, r, m) ? -INFINITY : (o[1 + m] + c->bc[m]) * c->inv_tau - c->lq[m];
    for (int64_t j = 1 + c->M; j < C; j++) o[j] = -INFINITY;
  }
}

rk_status sampled_logits_forward_cpu(float *out /* (R, C) */, float *wc /* (M, D) */, float *bc /* (M) */,
                                     float *lq /* (M) */, const float *h /* (R, D) */, const int64_t *y /* (R) */,
                                     const int64_t *sessions /* (R) or NULL */,
                                     const int64_t *cand /* (M), -1 none */, const float *w /* (V, D) */,
                                     const float *b /* (V) or NULL */, int64_t R, int64_t T, int64_t D, int64_t V,
                                     int64_t M, int64_t C, int64_t in_batch, int64_t tries, const rk_sampled_spec *s) {
  for (int64_t r = 0; r < R; r++)
    if (y[r] != s->ignore && (y[r] < 0 || y[r] >= V))
      return rk_error(RK_ERANGE, "sampled_logits: label %lld of row %lld is outside [0, %lld)", (long long)y[r],
                      (long long)r, (long long)V);
  for (int64_t m = 0; m < M; m++) {
    int64_t id = cand[m];
    if (id >= 0) memcpy(wc + m * D, w + id * D, (size_t)D * sizeof *wc);
    else memset(wc + m * D, 0, (size_t)D * sizeof *wc);
    bc[m] = id >= 0 && b ? b[id] : 0.0f;
    lq[m] = s->logq && m >= in_batch && id >= 0
                ? (float)log(rk_sampler_expected_count(s->sampler, id, s->first_id, V, tries, s->unique))
                : 0.0f;
  }
  /* out[:, 1:] = h wc^T, then the bias, temperature, correction and absences row by row */
  rk_sgemm(false, true, R, M, D, 1.0f, h, D, wc, D, 0.0f, out + 1, C);
  sl_ctx c = {.out = out, .h = h, .w = w, .b = b, .wc = wc, .bc = bc, .lq = lq, .y = y, .cand = cand,
              .sessions = sessions, .D = D,
              .V = V, .M = M, .C = C, .T = T, .ignore = s->ignore, .in_batch = in_batch, .inv_tau = 1.0f / s->temperature,
              .sampler = s->sampler, .tries = tries, .first = s->first_id, .logq = s->logq, .unique = s->unique};
  rk_parallel_for(R, rk_row_grain(C), rows_forward, &c);
  return RK_OK;
}

/* dz (R, M): the candidates' logit gradients over tau, zero where absent or ignored; and the
 * target column's share of dh. */
static void rows_backward(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const sl_ctx *c = arg;
  for (int64_t r = begin; r < end; r++) {
    float *dz = c->dz + r * c->M;
    const float *d = c->dout + r * c->C;
    bool ignored = c->y[r] == c->ignore;
    for (int64_t m = 0; m < c->M; m++) dz[m] = ignored || absent(c, r, m) ? 0.0f : d[1 + m] * c->inv_tau;
    if (ignored || !c->dh) continue;
    const float g = d[0] * c->inv_tau, *wy = c->w + c->y[r] * c->D;
    float *dh = c->dh + r * c->D;
    for (int64_t k = 0; k < c->D; k++) dh[k] += g * wy[k];
  }
}

void sampled_logits_backward_cpu(float *dh /* (R, D) or NULL */, float *dw /* (V, D) */, float *db /* (V) or NULL */,
                                 float *dz /* (R, M) scratch */, float *gc /* (M, D) scratch */,
                                 const float *dout /* (R, C) */, const float *h /* (R, D) */,
                                 const int64_t *y /* (R) */, const int64_t *sessions /* (R) or NULL */,
                                 const int64_t *cand /* (M) */, const float *wc /* (M, D) */,
                                 const float *w /* (V, D) */, int64_t R, int64_t T, int64_t D, int64_t M, int64_t C,
                                 int64_t in_batch, const rk_sampled_spec *s) {
  sl_ctx c = {.dh = dh, .dz = dz, .dout = dout, .w = w, .y = y, .cand = cand, .sessions = sessions, .D = D, .M = M,
              .C = C, .T = T,
              .ignore = s->ignore, .in_batch = in_batch, .inv_tau = 1.0f / s->temperature};
  rk_parallel_for(R, rk_row_grain(C), rows_backward, &c);
  if (dh) rk_sgemm(false, false, R, D, M, 1.0f, dz, M, wc, D, 1.0f, dh, D);
  rk_sgemm(true, false, M, D, R, 1.0f, dz, M, h, D, 0.0f, gc, D);
  /* into W and b in candidate order, then the targets in row order: no races, fixed sums */
  for (int64_t m = 0; m < M; m++) {
    if (cand[m] < 0) continue;
    float *dwr = dw + cand[m] * D;
    for (int64_t k = 0; k < D; k++) dwr[k] += gc[m * D + k];
    if (db) {
      float sum = 0.0f;
      for (int64_t r = 0; r < R; r++) sum += dz[r * M + m];
      db[cand[m]] += sum;
    }
  }
  const float inv_tau = 1.0f / s->temperature;
  for (int64_t r = 0; r < R; r++) {
    if (y[r] == s->ignore) continue;
    const float g = dout[r * C] * inv_tau;
    float *dwr = dw + y[r] * D;
    for (int64_t k = 0; k < D; k++) dwr[k] += g * h[r * D + k];
    if (db) db[y[r]] += g;
  }
}

/* ---- the node ------------------------------------------------------------------------------- */
static rk_sampled_spec spec_of(const rk_node *n) {
  return (rk_sampled_spec){.n_sampled = n->iattr[0], .sampler = (rk_sampler)n->iattr[1], .first_id = n->iattr[2],
                           .in_batch = n->iattr[3] != 0, .logq = n->iattr[4] != 0, .ignore = n->iattr[5],
                           .temperature = n->fattr[0], .given = (const int64_t *)(intptr_t)n->iattr[6],
                           .unique = n->iattr[7] != 0};
}

/* The node's sizes: R rows of D in use, T per session, M candidates of which the first in_batch are
 * the batch's targets, C columns of out (1 + M, or more when in-batch rows are packed: fewer
 * targets than labels); its saved buffer: candidates (M int64), wc (M, D), bc and lq (M), and
 * with unique draws the sampler's set (int64). */
typedef struct {
  int64_t R, T, D, V, M, C, in_batch;
  int64_t *cand, *set;
  float *wc, *bc, *lq;
} sl_layout;

static sl_layout layout(const rk_graph *g, const rk_node *n, void *saved) {
  const rk_value *h = rk_val(g, n->in[0]), *y = rk_val(g, n->in[1]);
  sl_layout l = {.D = h->shape[h->ndim - 1], .T = y->numel / y->shape[0], .V = n->params[0]->value.shape[0]};
  l.R = rk_val_numel_in_use(h) / l.D;   /* an h from gather_rows: its rows in use */
  l.in_batch = n->iattr[3] ? l.R : 0;
  l.M = l.in_batch + n->iattr[0];
  const rk_value *out = rk_val(g, n->out[0]);
  l.C = out->shape[out->ndim - 1];
  l.cand = saved;
  l.wc = (void *)((char *)saved + (size_t)l.M * sizeof *l.cand);   /* past the candidates, 8-byte aligned */
  l.bc = l.wc + l.M * l.D;
  l.lq = l.bc + l.M;
  l.set = (void *)(l.lq + l.M + ((l.M * l.D) & 1));   /* past an odd float count: 8-byte aligned */
  return l;
}

/* The rows' sessions, an input when h's rows are packed, else NULL (row / T). */
static const int64_t *sessions_of(const rk_graph *g, const rk_node *n) { return n->n_in > 2 ? rk_xi(g, n->in[2]) : NULL; }

rk_status sampled_logits_node_forward_cpu(rk_graph *g, const rk_node *n) {
  rk_sampled_spec s = spec_of(n);
  sl_layout l = layout(g, n, n->saved ? n->saved : n->ws_fwd);
  const int64_t *y = rk_xi(g, n->in[1]);
  int64_t tries = s.n_sampled;   /* given or drawn with replacement: one try a candidate */
  for (int64_t r = 0; r < l.in_batch; r++) l.cand[r] = y[r] == s.ignore ? -1 : y[r];
  if (s.given) {
    for (int64_t j = 0; j < s.n_sampled; j++)
      if (s.given[j] < 0 || s.given[j] >= l.V)
        return rk_error(RK_ERANGE, "sampled_logits: given candidate %lld is outside [0, %lld)", (long long)s.given[j],
                        (long long)l.V);
    memcpy(l.cand + l.in_batch, s.given, (size_t)s.n_sampled * sizeof *s.given);
  } else if (s.unique) {
    tries = rk_sampler_draw_unique(l.cand + l.in_batch, l.set, s.sampler, s.n_sampled, s.first_id, l.V, g->seed,
                                   rk_dropout_stream(n->id, g->step));
  } else {
    rk_sampler_draw(l.cand + l.in_batch, s.sampler, s.n_sampled, s.first_id, l.V, g->seed,
                    rk_dropout_stream(n->id, g->step));
  }
  const rk_param *b = n->n_params > 1 ? n->params[1] : NULL;
  return sampled_logits_forward_cpu(rk_x(g, n->out[0]), l.wc, l.bc, l.lq, rk_x(g, n->in[0]), y, sessions_of(g, n), l.cand,
                                    n->params[0]->value.data, b ? b->value.data : NULL, l.R, l.T, l.D, l.V, l.M,
                                    l.C, l.in_batch, tries, &s);
}

void sampled_logits_node_backward_cpu(rk_graph *g, const rk_node *n) {
  rk_sampled_spec s = spec_of(n);
  sl_layout l = layout(g, n, n->saved);
  const rk_param *b = n->n_params > 1 ? n->params[1] : NULL;
  float *dz = n->ws_bwd, *gc = dz + l.R * l.M;
  sampled_logits_backward_cpu(rk_dx(g, n->in[0]), n->params[0]->grad.data, b ? b->grad.data : NULL, dz, gc,
                              rk_dx(g, n->out[0]), rk_x(g, n->in[0]), rk_xi(g, n->in[1]), sessions_of(g, n), l.cand, l.wc,
                              n->params[0]->value.data, l.R, l.T, l.D, l.M, l.C, l.in_batch, &s);
}

rk_status rk_graph_sampled_logits(rk_graph *g, int *out, int h, int labels, int sessions, rk_param *w, rk_param *b,
                                  const rk_sampled_spec *s) {
  int in[3] = {h, labels, sessions}, n_in = sessions == RK_NO_VALUE ? 2 : 3;
  for (int k = 0; k < n_in; k++) RK_TRY(rk_graph_check_value(g, in[k], "sampled_logits"));
  const rk_value *hv = rk_val(g, h), *y = rk_val(g, labels), *sv = n_in > 2 ? rk_val(g, sessions) : y;
  char bh[96], by[96];
  if (hv->dtype != RK_DT_F32 || y->dtype != RK_DT_I64 || y->ndim != 2 || hv->ndim < 2 ||
      hv->numel != y->numel * hv->shape[hv->ndim - 1] || sv->dtype != RK_DT_I64 || sv->numel != y->numel)
    return rk_error(RK_ESHAPE, "sampled_logits: hidden rows %s, int64 labels %s and sessions must be (B, T, D), "
                    "(B, T) and (B, T)", rk_shape_str(hv, bh, sizeof bh), rk_shape_str(y, by, sizeof by));
  if (!rk_param_declared(w) || w->value.ndim != 2 || w->value.shape[1] != hv->shape[hv->ndim - 1] ||
      (b && (!rk_param_declared(b) || b->value.ndim != 1 || b->value.shape[0] != w->value.shape[0])))
    return rk_error(RK_ESHAPE, "sampled_logits: the scoring matrix must be (V, %lld) and its bias (V)",
                    (long long)hv->shape[hv->ndim - 1]);
  if (hv->partial_rows && s->in_batch && n_in < 3)   /* packed rows have lost their sessions, which in-batch masks */
    return rk_error(RK_EINVAL, "sampled_logits: in-batch candidates on packed rows in use need the rows' sessions");
  const int64_t V = w->value.shape[0];
  if (s->n_sampled < 0 || (s->n_sampled > 0 && !(s->first_id >= 0 && s->first_id < V)))
    return rk_error(RK_EINVAL, "sampled_logits: %lld draws over ids [%lld, %lld): need N >= 0 and a non-empty range",
                    (long long)s->n_sampled, (long long)s->first_id, (long long)V);
  if (s->unique && !s->given && s->n_sampled > V - s->first_id)
    return rk_error(RK_EINVAL, "sampled_logits: %lld unique draws over the %lld ids [%lld, %lld): need N <= %lld",
                    (long long)s->n_sampled, (long long)(V - s->first_id), (long long)s->first_id, (long long)V,
                    (long long)(V - s->first_id));
  if (!(s->temperature > 0.0f && s->temperature < INFINITY))
    return rk_error(RK_EINVAL, "sampled_logits: temperature %g must be positive and finite", s->temperature);
  const int64_t R = y->numel, D = hv->shape[hv->ndim - 1];
  int64_t M, C, rm, md, saved, bwd;
  RK_TRY(rk_size_add(&M, s->in_batch ? R : 0, s->n_sampled, "sampled_logits' candidates"));
  if (M < 1) return rk_error(RK_EINVAL, "sampled_logits: no candidates (no draws and no in-batch targets)");
  RK_TRY(rk_size_add(&C, M, 1, "sampled_logits' columns"));
  RK_TRY(rk_size_mul(&rm, R, M, "sampled_logits' rows x candidates"));
  RK_TRY(rk_size_mul(&md, M, D + 4, "sampled_logits' candidate rows"));
  RK_TRY(rk_size_mul(&bwd, M, D, "sampled_logits' candidate gradients"));
  RK_TRY(rk_size_add(&bwd, bwd, rm, "sampled_logits' backward scratch"));
  saved = md;   /* cand (M int64: 2 M floats), wc (M D), bc and lq (M) */
  if (s->unique && !s->given) RK_TRY(rk_size_add(&saved, saved, 1 + 2 * rk_sampler_set_size(s->n_sampled),
                                                 "sampled_logits' unique draws"));
  const int64_t shape[3] = {y->shape[0], y->shape[1], C};
  rk_node *n;
  RK_TRY(rk_graph_simple_node(g, &n, out, RK_OP_SAMPLED_LOGITS, n_in, in, RK_DT_F32, 3, shape));
  RK_TRY(rk_graph_node_add_param(g, n, w));
  if (b) RK_TRY(rk_graph_node_add_param(g, n, b));
  n->iattr[0] = s->n_sampled;
  n->iattr[1] = s->sampler;
  n->iattr[2] = s->first_id;
  n->iattr[3] = s->in_batch;
  n->iattr[4] = s->logq;
  n->iattr[5] = s->ignore;
  n->iattr[6] = (int64_t)(intptr_t)s->given;   /* the node's attributes are integers */
  n->iattr[7] = s->unique;
  n->fattr[0] = s->temperature;
  n->saved_bytes = n->ws_fwd_bytes = (size_t)saved * sizeof(float);
  n->ws_bwd_bytes = (size_t)bwd * sizeof(float);
  return RK_OK;
}
