/*
 * src/synth/sessions.c: session logs whose next item comes from a known mixture.
 *
 * Columns: session_id, item_id, category, price, timestamp (+ p_next, topk_mass, topk_hit with
 * emit_truth). Each session has hidden interests (1 or 2 categories); each next item is, with
 * probability a, one of the current item's fixed successors, with probability b an item of an
 * interest category (by popularity within it), else a globally popular item. Sessions are sorted
 * by start time; events inside a session are seconds apart.
 * The sidecar reports what ranking items by this true next-item distribution earns: the oracle's
 * expected Recall@K, NDCG@K and MRR@K over steps 2..n of every session. The top K of each step is
 * exact: candidates are the successors, the head of each interest category and the head of the
 * global ranking; a bound on the mass of every other item proves the top K, and the lists are
 * widened when it does not.
 * The model, its draws and its oracle (with the variant for chains that never repeat their current
 * item) serve both layouts; this file writes the table layout, sessions_raw.c the YOOCHOOSE one.
 * It is not: a model of YOOCHOOSE's real dynamics (no repeat-buy, dwell or price signal).
 * docs/synth.md gives the model and the sidecar's meaning.
 * References: YOOCHOOSE (RecSys Challenge 2015) for the layout; Hidasi et al., "Session-based
 * recommendations with recurrent neural networks" (ICLR 2016), section 4, for Recall@20/MRR@20.
 *
 * Determinism: a session's content is keyed by (seed, session index); start times by (seed,
 * block of SBLOCK sessions); sums are per block in a fixed order. Output is the same for any
 * thread count and batch size.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "synth/synth_internal.h"

#define SBLOCK        RK_SYNTH_SBLOCK
#define SECONDS_DAY   86400
#define SECOND_INTEREST 0.5     /* P(a session has two interest categories) */
#define FIRST_INTEREST_W 0.6    /* weight of the first of two interests */
#define SAME_CAT_SUCC 0.5       /* P(a successor is drawn from the item's own category) */

enum { COL_SESSION, COL_ITEM, COL_CATEGORY, COL_PRICE, COL_TIME, COL_P_NEXT, COL_TOPK_MASS, COL_TOPK_HIT,
       NCOLS_BASE = COL_P_NEXT, NCOLS_TRUTH = COL_TOPK_HIT + 1 };
static const char *const col_names[NCOLS_TRUTH] = {"session_id", "item_id", "category", "price", "timestamp",
                                                   "p_next", "topk_mass", "topk_hit"};
static const rk_coltype col_types[NCOLS_TRUTH] = {RK_COL_INT64, RK_COL_INT64, RK_COL_INT32, RK_COL_FLOAT64,
                                                  RK_COL_INT64, RK_COL_FLOAT64, RK_COL_FLOAT64, RK_COL_INT8};

void rk_synth_sessions_config_default(rk_synth_sessions_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->rows = 1000000;
  cfg->seed = 42;
  cfg->categories = 20;
  cfg->item_zipf = 1.0;
  cfg->successors = 3;
  cfg->p_successor = 0.5;
  cfg->p_interest = 0.3;
  cfg->mean_length = 6.0;
  cfg->max_length = 50;
  cfg->days = 30;
  cfg->start_time = 1640995200;
  cfg->mean_gap_s = 60.0;
  cfg->topk = 20;
  cfg->batch_rows = 65536;
  cfg->layout = RK_SYNTH_SESSIONS_TABLE;
  cfg->repeat_prob = 0.1;
  cfg->null_fraction = 0.01;
  cfg->session_max_length = 20;
  cfg->session_min_length = 2;
}

rk_status rk_synth_sessions_resolve(rk_synth_sessions_config *out, const rk_synth_sessions_config *cfg) {
  *out = *cfg;
  if (cfg->rows < 0) return rk_error(RK_EINVAL, "invalid sessions config: rows must be >= 0 (got %lld)", (long long)cfg->rows);
  if (cfg->sessions < 0)
    return rk_error(RK_EINVAL, "invalid sessions config: sessions must be >= 0 (got %lld)", (long long)cfg->sessions);
  if (cfg->max_length < 2 || cfg->max_length > 100000)
    return rk_error(RK_EINVAL, "invalid sessions config: max_length must be in 2..100000 (got %d)", cfg->max_length);
  if (!(cfg->mean_length >= 2.0 && cfg->mean_length <= cfg->max_length))
    return rk_error(RK_EINVAL, "invalid sessions config: mean_length must be in [2, max_length=%d] (got %g)",
                    cfg->max_length, cfg->mean_length);
  if (out->sessions == 0) out->sessions = (int64_t)((double)cfg->rows / cfg->mean_length + 0.5);
  if (out->sessions == 0 && cfg->rows > 0) out->sessions = 1;
  if (out->items == 0) out->items = cfg->rows / 100 > 200 ? cfg->rows / 100 : 200;
  if (cfg->successors < 0 || cfg->successors > RK_SYNTH_MAX_SUCCESSORS)
    return rk_error(RK_EINVAL, "invalid sessions config: successors must be in 0..%d (got %d)", RK_SYNTH_MAX_SUCCESSORS,
                    cfg->successors);
  if (out->items < 2 * cfg->successors + 2 || out->items > INT32_MAX - 1)
    return rk_error(RK_EINVAL, "invalid sessions config: items must be in %d..%d (got %lld)", 2 * cfg->successors + 2,
                    INT32_MAX - 1, (long long)out->items);
  if (cfg->categories < 1 || cfg->categories > 32767 || cfg->categories > out->items)
    return rk_error(RK_EINVAL, "invalid sessions config: categories must be in 1..min(32767, items=%lld) (got %d)",
                    (long long)out->items, cfg->categories);
  if (!(cfg->item_zipf >= 0.0 && cfg->item_zipf <= 5.0))
    return rk_error(RK_EINVAL, "invalid sessions config: item_zipf must be in [0, 5] (got %g)", cfg->item_zipf);
  if (!(cfg->p_successor >= 0.0 && cfg->p_interest >= 0.0 && cfg->p_successor + cfg->p_interest <= 1.0))
    return rk_error(RK_EINVAL, "invalid sessions config: p_successor (%g) and p_interest (%g) must be >= 0 with a sum <= 1",
                    cfg->p_successor, cfg->p_interest);
  if (cfg->successors == 0 && cfg->p_successor > 0.0)
    return rk_error(RK_EINVAL, "invalid sessions config: p_successor is %g but successors is 0", cfg->p_successor);
  if (cfg->days < 1 || cfg->days > 36500)
    return rk_error(RK_EINVAL, "invalid sessions config: days must be in 1..36500 (got %d)", cfg->days);
  if (!(cfg->mean_gap_s >= 0.0 && cfg->mean_gap_s <= 86400.0))
    return rk_error(RK_EINVAL, "invalid sessions config: mean_gap_s must be in [0, 86400] (got %g)", cfg->mean_gap_s);
  if (cfg->topk < 1 || cfg->topk > RK_SYNTH_MAX_TOPK)
    return rk_error(RK_EINVAL, "invalid sessions config: topk must be in 1..%d (got %d)", RK_SYNTH_MAX_TOPK, cfg->topk);
  if (cfg->batch_rows < 1 || cfg->batch_rows > (INT64_C(1) << 30))
    return rk_error(RK_EINVAL, "invalid sessions config: batch_rows must be in 1..2^30 (got %lld)", (long long)cfg->batch_rows);
  if (cfg->layout != RK_SYNTH_SESSIONS_TABLE && cfg->layout != RK_SYNTH_SESSIONS_YOOCHOOSE)
    return rk_error(RK_EINVAL, "invalid sessions config: layout must be table or yoochoose (got %d)", (int)cfg->layout);
  if (cfg->layout == RK_SYNTH_SESSIONS_TABLE) return RK_OK;
  if (cfg->emit_truth)
    return rk_error(RK_EINVAL, "invalid sessions config: emit_truth is for the table layout; the yoochoose layout "
                               "writes one oracle row per processed session instead");
  if (!(cfg->repeat_prob >= 0.0 && cfg->repeat_prob <= 0.9))
    return rk_error(RK_EINVAL, "invalid sessions config: repeat_prob must be in [0, 0.9] (got %g)", cfg->repeat_prob);
  if (!(cfg->null_fraction >= 0.0 && cfg->null_fraction <= 0.5))
    return rk_error(RK_EINVAL, "invalid sessions config: null_fraction must be in [0, 0.5] (got %g)", cfg->null_fraction);
  if (cfg->users < 0 || cfg->users > (INT64_C(1) << 48))
    return rk_error(RK_EINVAL, "invalid sessions config: users must be in 0..2^48 (got %lld)", (long long)cfg->users);
  if (cfg->session_max_length < 2 || cfg->session_max_length > 100000)
    return rk_error(RK_EINVAL, "invalid sessions config: session_max_length must be in 2..100000 (got %d)",
                    cfg->session_max_length);
  if (cfg->session_min_length < 2 || cfg->session_min_length > cfg->session_max_length)
    return rk_error(RK_EINVAL, "invalid sessions config: session_min_length must be in 2..session_max_length=%d (got %d)",
                    cfg->session_max_length, cfg->session_min_length);
  if (cfg->start_time < 0 || cfg->start_time > (INT64_C(1) << 37) || cfg->start_time % SECONDS_DAY != 0)
    return rk_error(RK_EINVAL, "invalid sessions config: start_time must be a UTC midnight in 0..2^37 seconds (years "
                               "1970..6325) for the yoochoose layout (got %lld)", (long long)cfg->start_time);
  return RK_OK;
}

/* ---------------------------------------------------------------------------------------------
 * The model: item tables.
 * ------------------------------------------------------------------------------------------- */
static void price_chunk(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  rk_synth_sessions_model *m = arg;
  (void)chunk;
  for (int64_t r = begin; r < end; r++) {
    rk_rng cat_rng, rng;
    rk_rng_init(&cat_rng, m->cfg.seed, rk_synth_stream(RK_SYNTH_TAG_CAT, (uint64_t)m->cat[r]));
    rk_rng_init(&rng, m->cfg.seed, rk_synth_stream(RK_SYNTH_TAG_PRICE, (uint64_t)r));
    double base = exp(2.5 + 0.8 * rk_rng_normal(&cat_rng));   /* a category's typical price */
    double p = floor(base * exp(0.3 * rk_rng_normal(&rng)) * 100.0 + 0.5) / 100.0;
    m->price[r] = p < 0.01 ? 0.01 : p;
  }
}

static bool succ_taken(const int32_t *s, int n, int32_t x) {
  for (int j = 0; j < n; j++)
    if (s[j] == x) return true;
  return false;
}

/* Successors: half from the item's own category, half from anywhere, distinct and not the item. */
static void succ_chunk(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  rk_synth_sessions_model *m = arg;
  (void)chunk;
  for (int64_t r = begin; r < end; r++) {
    rk_rng rng;
    rk_rng_init(&rng, m->cfg.seed, rk_synth_stream(RK_SYNTH_TAG_SUCC, (uint64_t)r));
    int32_t *s = m->succ + r * m->nsucc;
    int c = m->cat[r];
    int64_t cs = m->cat_start[c], csize = m->cat_start[c + 1] - cs;
    for (int j = 0; j < m->nsucc; j++) {
      int32_t x = -1;
      for (int tries = 0; tries < 32 && x < 0; tries++) {
        int32_t y = rk_rng_uniform(&rng) < SAME_CAT_SUCC ? m->cat_ranks[cs + (int64_t)rk_rng_below(&rng, (uint64_t)csize)]
                                                          : (int32_t)rk_rng_below(&rng, (uint64_t)m->n);
        if (y != r && !succ_taken(s, j, y)) x = y;
      }
      for (int64_t y = (r + 1) % m->n; x < 0; y = (y + 1) % m->n)   /* tiny catalogues only */
        if (y != r && !succ_taken(s, j, (int32_t)y)) x = (int32_t)y;
      s[j] = x;
    }
  }
}

void rk_synth_sessions_model_free(rk_synth_sessions_model *m) {
  rk_free(m->w);
  rk_free(m->cat);
  rk_free(m->price);
  rk_free(m->succ);
  rk_free(m->cat_start);
  rk_free(m->cat_ranks);
  rk_free(m->cat_cdf);
  rk_free(m->cat_mass);
  memset(m, 0, sizeof *m);
}

rk_status rk_synth_sessions_model_init(rk_synth_sessions_model *m, const rk_synth_sessions_config *cfg) {
  memset(m, 0, sizeof *m);
  m->cfg = *cfg;
  m->n = cfg->items;
  m->ncat = cfg->categories;
  m->nsucc = cfg->successors;
  size_t n = (size_t)m->n;
  m->w = rk_malloc(n * sizeof(double));
  m->cat = rk_malloc(n * sizeof(int32_t));
  m->price = rk_malloc(n * sizeof(double));
  m->succ = rk_malloc((n * (size_t)m->nsucc + 1) * sizeof(int32_t));
  m->cat_start = rk_calloc((size_t)m->ncat + 1, sizeof(int64_t));
  m->cat_ranks = rk_malloc(n * sizeof(int32_t));
  m->cat_cdf = rk_malloc(n * sizeof(double));
  m->cat_mass = rk_calloc((size_t)m->ncat, sizeof(double));
  if (!m->w || !m->cat || !m->price || !m->succ || !m->cat_start || !m->cat_ranks || !m->cat_cdf || !m->cat_mass) {
    rk_synth_sessions_model_free(m);
    return rk_error(RK_ENOMEM, "out of memory building the session model of %lld items", (long long)cfg->items);
  }
  rk_synth_zipf_init(&m->zipf, m->n, cfg->item_zipf);
  rk_synth_perm_init(&m->perm, (uint64_t)m->n, cfg->seed, 3);
  /* Categories through a second scrambler: every category gets n/ncat items, at random ranks. */
  rk_synth_perm cat_perm;
  rk_synth_perm_init(&cat_perm, (uint64_t)m->n, cfg->seed, 4);
  for (int64_t r = 0; r < m->n; r++) {
    m->w[r] = rk_synth_zipf_pmf(&m->zipf, r);
    m->cat[r] = (int32_t)(rk_synth_perm_apply(&cat_perm, (uint64_t)r) % (uint64_t)m->ncat);
    m->cat_start[m->cat[r] + 1]++;
    m->cat_mass[m->cat[r]] += m->w[r];
  }
  for (int c = 0; c < m->ncat; c++) m->cat_start[c + 1] += m->cat_start[c];
  int64_t *fill = m->cat_start;   /* reuse: walk each category's cursor, then restore */
  for (int64_t r = 0; r < m->n; r++) m->cat_ranks[fill[m->cat[r]]++] = (int32_t)r;
  for (int c = m->ncat; c > 0; c--) m->cat_start[c] = m->cat_start[c - 1];
  m->cat_start[0] = 0;
  for (int c = 0; c < m->ncat; c++) {
    double acc = 0.0;
    for (int64_t i = m->cat_start[c]; i < m->cat_start[c + 1]; i++) {
      acc += m->w[m->cat_ranks[i]];
      m->cat_cdf[i] = acc / m->cat_mass[c];
    }
    if (m->cat_start[c + 1] > m->cat_start[c]) m->cat_cdf[m->cat_start[c + 1] - 1] = 1.0;
  }
  double h = 0.0;
  for (int j = 0; j < m->nsucc; j++) h += 1.0 / (j + 1);
  for (int j = 0; j < m->nsucc; j++) m->succ_w[j] = 1.0 / (j + 1) / h;
  rk_parallel_for(m->n, 8192, price_chunk, m);
  rk_parallel_for(m->n, 8192, succ_chunk, m);
  return RK_OK;
}

/* ---------------------------------------------------------------------------------------------
 * The mixture and its oracle.
 * ------------------------------------------------------------------------------------------- */
static double p_global(const rk_synth_sessions_model *m) { return 1.0 - m->cfg.p_successor - m->cfg.p_interest; }

/* m_c: P(next = x) = a * succ(x) + w[x] * m_c for x in category c. */
static double cat_multiplier(const rk_synth_sessions_model *m, const rk_synth_session_state *st, int c) {
  double v = 0.0;
  for (int k = 0; k < st->ninterest; k++)
    if (st->interest[k] == c) v += st->interest_w[k];
  return p_global(m) + (v > 0.0 ? m->cfg.p_interest * v / m->cat_mass[c] : 0.0);
}

double rk_synth_sessions_next_prob(const rk_synth_sessions_model *m, const rk_synth_session_state *st, int32_t x) {
  double p = m->w[x] * cat_multiplier(m, st, m->cat[x]);
  const int32_t *s = m->succ + (int64_t)st->cur * m->nsucc;
  for (int j = 0; j < m->nsucc; j++)
    if (s[j] == x) p += m->cfg.p_successor * m->succ_w[j];
  return p;
}

typedef struct {
  double mass[RK_SYNTH_MAX_TOPK + 1];
  int32_t rank[RK_SYNTH_MAX_TOPK + 1];
  int n, k;
} topk_buf;

/* Keep the k largest, ties to the lower rank so the result never depends on visiting order. */
static void topk_offer(topk_buf *t, double mass, int32_t rank) {
  if (t->n == t->k && !(mass > t->mass[t->n - 1] || (mass == t->mass[t->n - 1] && rank < t->rank[t->n - 1]))) return;
  int i = t->n < t->k ? t->n++ : t->n - 1;
  while (i > 0 && (mass > t->mass[i - 1] || (mass == t->mass[i - 1] && rank < t->rank[i - 1]))) {
    t->mass[i] = t->mass[i - 1];
    t->rank[i] = t->rank[i - 1];
    i--;
  }
  t->mass[i] = mass;
  t->rank[i] = rank;
}

void rk_synth_sessions_oracle(rk_synth_oracle_step *out, const rk_synth_sessions_model *m,
                              const rk_synth_session_state *st, int k) {
  int keff = (int64_t)k < m->n ? k : (int)m->n;
  const int32_t *succ = m->succ + (int64_t)st->cur * m->nsucc;
  double mult[2], g = p_global(m);
  for (int i = 0; i < st->ninterest; i++) mult[i] = cat_multiplier(m, st, st->interest[i]);
  out->widened = false;
  for (int64_t len = (keff + 1) / 2;; len *= 2) {   /* half first: cheaper, and K = k always suffices */
    topk_buf t = {.n = 0, .k = keff};
    for (int j = 0; j < m->nsucc; j++) topk_offer(&t, rk_synth_sessions_next_prob(m, st, succ[j]), succ[j]);
    /* The head of each interest category, in popularity order; mass m_c * w is decreasing. */
    double bound = 0.0;
    for (int i = 0; i < st->ninterest; i++) {
      int64_t cs = m->cat_start[st->interest[i]], ce = m->cat_start[st->interest[i] + 1];
      int64_t stop = cs + len < ce ? cs + len : ce;
      for (int64_t p = cs; p < stop; p++) {
        int32_t x = m->cat_ranks[p];
        if (!succ_taken(succ, m->nsucc, x)) topk_offer(&t, m->w[x] * mult[i], x);
      }
      if (stop < ce && m->w[m->cat_ranks[stop]] * mult[i] > bound) bound = m->w[m->cat_ranks[stop]] * mult[i];
    }
    /* The head of the global ranking, for items outside the interests (mass g * w). */
    int64_t gstop = len < m->n ? len : m->n;
    for (int64_t x = 0; x < gstop; x++) {
      int c = m->cat[x];
      bool interest = false;
      for (int i = 0; i < st->ninterest; i++) interest |= st->interest[i] == c;
      if (!interest && !succ_taken(succ, m->nsucc, (int32_t)x)) topk_offer(&t, m->w[x] * g, (int32_t)x);
    }
    if (gstop < m->n && m->w[gstop] * g > bound) bound = m->w[gstop] * g;
    /* Every item not offered has mass <= bound, so a k-th mass >= bound makes the top k exact. */
    if (t.n == keff && t.mass[keff - 1] >= bound) {
      out->recall = out->ndcg = out->mrr = 0.0;
      for (int r = 0; r < keff; r++) {
        out->top[r] = t.rank[r];
        out->recall += t.mass[r];
        out->mrr += t.mass[r] / (r + 1);
        out->ndcg += t.mass[r] / log2(r + 2.0);
      }
      out->ntop = keff;
      break;
    }
    out->widened = true;
  }
  out->popularity_recall = 0.0;
  for (int32_t x = 0; x < keff; x++) out->popularity_recall += rk_synth_sessions_next_prob(m, st, x);
}

void rk_synth_sessions_oracle_no_repeat(rk_synth_oracle_step *out, const rk_synth_sessions_model *m,
                                        const rk_synth_session_state *st, int k) {
  rk_synth_oracle_step with_cur;
  rk_synth_sessions_oracle(&with_cur, m, st, k + 1);   /* the top k of the others are among these */
  double keep = 1.0 - rk_synth_sessions_next_prob(m, st, st->cur);
  int64_t kmax = (int64_t)k < m->n - 1 ? k : m->n - 1;
  out->recall = out->ndcg = out->mrr = out->popularity_recall = 0.0;
  out->ntop = 0;
  out->widened = with_cur.widened;
  for (int r = 0; r < with_cur.ntop && out->ntop < kmax; r++) {
    int32_t x = with_cur.top[r];
    if (x == st->cur) continue;
    double p = rk_synth_sessions_next_prob(m, st, x) / keep;
    out->top[out->ntop++] = x;
    out->recall += p;
    out->mrr += p / out->ntop;
    out->ndcg += p / log2(out->ntop + 1.0);
  }
  /* The popularity floor: the global top k, less the current item (it cannot come next). */
  int taken = 0;
  for (int32_t x = 0; x < m->n && taken < kmax; x++)
    if (x != st->cur) {
      out->popularity_recall += rk_synth_sessions_next_prob(m, st, x) / keep;
      taken++;
    }
}

/* ---------------------------------------------------------------------------------------------
 * Generation.
 * ------------------------------------------------------------------------------------------- */
typedef struct {
  int64_t steps, from_succ, from_interest, widenings, rows;
  double recall, ndcg, mrr, pop;
} block_stats;

typedef struct {
  const rk_synth_sessions_model *m;
  rk_batch *batch;
  int64_t s0;              /* first session of the batch */
  int64_t nsess;           /* sessions in the batch */
  int32_t *len;            /* (sessions per batch) */
  int64_t *start;          /* (sessions per batch) start time */
  int64_t *offset;         /* (sessions per batch + 1) first row */
  block_stats *stats;      /* (blocks per batch) */
} sess_ctx;

int rk_synth_sessions_draw_length(const rk_synth_sessions_model *m, rk_rng *rng) {
  double q = (m->cfg.mean_length - 2.0) / (m->cfg.mean_length - 1.0);   /* geometric ratio beyond 2 */
  double u = rk_rng_uniform(rng);
  int extra = q > 0.0 ? (int)floor(log1p(-u) / log(q)) : 0;
  int max = m->cfg.max_length;
  return extra > max - 2 || extra < 0 ? max : 2 + extra;
}

void rk_synth_sessions_draw_interests(rk_synth_session_state *st, const rk_synth_sessions_model *m, rk_rng *rng) {
  st->ninterest = 1;
  st->interest[0] = m->cat[rk_synth_zipf_sample(&m->zipf, rk_rng_uniform(rng))];
  st->interest_w[0] = 1.0;
  double u = rk_rng_uniform(rng);
  for (int tries = 0; tries < 8; tries++) {   /* fixed draws: the stream layout never shifts */
    int32_t c = m->cat[rk_synth_zipf_sample(&m->zipf, rk_rng_uniform(rng))];
    if (u < SECOND_INTEREST && st->ninterest == 1 && c != st->interest[0]) {
      st->ninterest = 2;
      st->interest[1] = c;
      st->interest_w[0] = FIRST_INTEREST_W;
      st->interest_w[1] = 1.0 - FIRST_INTEREST_W;
    }
  }
}

static int32_t draw_in_category(const rk_synth_sessions_model *m, int c, double u) {
  int64_t lo = m->cat_start[c], hi = m->cat_start[c + 1] - 1;
  while (lo < hi) {   /* first position whose cumulative mass exceeds u */
    int64_t mid = lo + (hi - lo) / 2;
    if (m->cat_cdf[mid] > u) hi = mid;
    else lo = mid + 1;
  }
  return m->cat_ranks[lo];
}

int32_t rk_synth_sessions_draw_item(const rk_synth_sessions_model *m, const rk_synth_session_state *st, rk_rng *rng,
                                    bool first, int *component) {
  double u = rk_rng_uniform(rng), v = rk_rng_uniform(rng), w = rk_rng_uniform(rng);
  double a = m->cfg.p_successor, b = m->cfg.p_interest, g = p_global(m);
  if (first) {   /* no current item: interests or global, renormalised */
    a = 0.0;
    if (b + g > 0.0) {
      b = b / (b + g);
    } else {
      b = 0.0;
    }
  }
  if (u < a) {
    *component = 0;
    const int32_t *s = m->succ + (int64_t)st->cur * m->nsucc;
    double acc = 0.0;
    for (int j = 0; j < m->nsucc - 1; j++) {
      acc += m->succ_w[j];
      if (v < acc) return s[j];
    }
    return s[m->nsucc - 1];
  }
  if (u < a + b) {
    *component = 1;
    int c = st->ninterest == 2 && v >= st->interest_w[0] ? st->interest[1] : st->interest[0];
    return draw_in_category(m, c, w);
  }
  *component = 2;
  return (int32_t)rk_synth_zipf_sample(&m->zipf, w);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double rk_synth_sessions_block_lo(const rk_synth_sessions_config *cfg, int64_t block) {
  return (double)cfg->days * SECONDS_DAY * (double)(block * SBLOCK) / (double)cfg->sessions;
}

int64_t rk_synth_sessions_block_starts(double *times, const rk_synth_sessions_config *cfg, int64_t block) {
  int64_t first = block * SBLOCK, total = cfg->sessions;
  int64_t cnt = total - first < SBLOCK ? total - first : SBLOCK;
  double lo = rk_synth_sessions_block_lo(cfg, block);
  double hi = (double)cfg->days * SECONDS_DAY * (double)(first + SBLOCK < total ? first + SBLOCK : total) / (double)total;
  rk_rng brng;
  rk_rng_init(&brng, cfg->seed, rk_synth_stream(RK_SYNTH_TAG_SBLOCK, (uint64_t)block));
  for (int64_t j = 0; j < cnt; j++) times[j] = lo + rk_rng_uniform(&brng) * (hi - lo);
  qsort(times, (size_t)cnt, sizeof(double), cmp_double);   /* equal keys are equal values: stable enough */
  return cnt;
}

/* Pass 1, per block: session lengths and sorted start times inside the block's time slice. */
static void lengths_chunk(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  sess_ctx *c = arg;
  (void)chunk;
  const rk_synth_sessions_config *cfg = &c->m->cfg;
  double times[SBLOCK];
  for (int64_t i = begin; i < end; i += SBLOCK) {
    int64_t s = c->s0 + i;
    int64_t cnt = rk_synth_sessions_block_starts(times, cfg, s / SBLOCK);
    for (int64_t j = 0; j < cnt; j++) {
      rk_rng rng;
      rk_rng_init(&rng, cfg->seed, rk_synth_stream(RK_SYNTH_TAG_SESSION, (uint64_t)(s + j)));
      c->len[i + j] = rk_synth_sessions_draw_length(c->m, &rng);
      c->start[i + j] = cfg->start_time + (int64_t)floor(times[j]);
    }
  }
}

/* Pass 2, per block: the events. */
static void events_chunk(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  sess_ctx *c = arg;
  const rk_synth_sessions_model *m = c->m;
  const rk_synth_sessions_config *cfg = &m->cfg;
  rk_column *cols = c->batch->cols;
  block_stats bs;
  memset(&bs, 0, sizeof bs);
  rk_synth_oracle_step orc;
  for (int64_t i = begin; i < end; i++) {
    int64_t s = c->s0 + i, row = c->offset[i];
    rk_rng rng;
    rk_rng_init(&rng, cfg->seed, rk_synth_stream(RK_SYNTH_TAG_SESSION, (uint64_t)s));
    int len = rk_synth_sessions_draw_length(m, &rng);
    rk_synth_session_state st = {.cur = 0};
    rk_synth_sessions_draw_interests(&st, m, &rng);
    int64_t t = c->start[i];
    for (int e = 0; e < len; e++, row++) {
      int component;
      if (e > 0) rk_synth_sessions_oracle(&orc, m, &st, cfg->topk);
      int32_t x = rk_synth_sessions_draw_item(m, &st, &rng, e == 0, &component);
      if (e > 0) {
        t += 1 + (int64_t)floor(-cfg->mean_gap_s * log1p(-rk_rng_uniform(&rng)));
        bs.steps++;
        bs.from_succ += component == 0;
        bs.from_interest += component == 1;
        bs.widenings += orc.widened;
        bs.recall += orc.recall;
        bs.ndcg += orc.ndcg;
        bs.mrr += orc.mrr;
        bs.pop += orc.popularity_recall;
      }
      ((int64_t *)cols[COL_SESSION].values)[row] = s + 1;
      ((int64_t *)cols[COL_ITEM].values)[row] = (int64_t)rk_synth_perm_apply(&m->perm, (uint64_t)x) + 1;
      ((int32_t *)cols[COL_CATEGORY].values)[row] = m->cat[x] + 1;
      ((double *)cols[COL_PRICE].values)[row] = m->price[x];
      ((int64_t *)cols[COL_TIME].values)[row] = t;
      if (cfg->emit_truth) {
        bool hit = false;
        if (e > 0)
          for (int r = 0; r < orc.ntop; r++) hit |= orc.top[r] == x;
        ((double *)cols[COL_P_NEXT].values)[row] = e > 0 ? rk_synth_sessions_next_prob(m, &st, x) : 0.0;
        ((double *)cols[COL_TOPK_MASS].values)[row] = e > 0 ? orc.recall : 0.0;
        ((int8_t *)cols[COL_TOPK_HIT].values)[row] = (int8_t)hit;
      }
      st.cur = x;
    }
    bs.rows += len;
  }
  c->stats[chunk] = bs;
}

typedef struct {
  rk_batch batch;
  int32_t *len;
  int64_t *start, *offset;
  block_stats *stats;
} sess_buffers;

static void buffers_free(sess_buffers *b) {
  rk_batch_free(&b->batch);
  rk_free(b->len);
  rk_free(b->start);
  rk_free(b->offset);
  rk_free(b->stats);
}

static rk_status buffers_init(sess_buffers *b, const rk_synth_sessions_config *cfg, int64_t blocks_per_batch) {
  int64_t ns = blocks_per_batch * SBLOCK;
  b->len = rk_malloc((size_t)ns * sizeof(int32_t));
  b->start = rk_malloc((size_t)ns * sizeof(int64_t));
  b->offset = rk_malloc((size_t)(ns + 1) * sizeof(int64_t));
  b->stats = rk_malloc((size_t)blocks_per_batch * sizeof(block_stats));
  if (!b->len || !b->start || !b->offset || !b->stats) return RK_ENOMEM;
  int ncols = cfg->emit_truth ? NCOLS_TRUTH : NCOLS_BASE;
  RK_TRY(rk_batch_init(&b->batch, ncols));
  for (int j = 0; j < ncols; j++) RK_TRY(rk_column_init(&b->batch.cols[j], col_names[j], col_types[j], RK_COL_INT64));
  return RK_OK;
}

/* Room for `rows`; the truth columns get a bitmap for their null first rows. */
static rk_status batch_reserve(rk_batch *batch, int64_t rows) {
  for (int j = 0; j < batch->ncols; j++) {
    rk_column *col = &batch->cols[j];
    RK_TRY(rk_column_reserve(col, rows > 0 ? rows : 1, 0));
    if (j >= COL_P_NEXT && !col->validity) {
      size_t bytes = (size_t)((col->cap_rows + 7) / 8);
      if (!(col->validity = rk_malloc(bytes))) return RK_ENOMEM;
      memset(col->validity, 0xff, bytes);
    }
  }
  return RK_OK;
}

rk_status rk_synth_sessions(rk_table_sink *sink, rk_synth_sessions_stats *stats, const rk_synth_sessions_config *config) {
  double t0 = rk_now();
  rk_synth_sessions_config cfg;
  RK_TRY(rk_synth_sessions_resolve(&cfg, config));
  rk_synth_sessions_model m;
  RK_TRY(rk_synth_sessions_model_init(&m, &cfg));
  if (cfg.layout == RK_SYNTH_SESSIONS_YOOCHOOSE) {
    rk_status s = rk_synth_sessions_raw(sink, stats, &cfg, &m);
    rk_synth_sessions_model_free(&m);
    if (s == RK_OK && stats) stats->seconds = rk_now() - t0;
    return s;
  }
  int64_t blocks_per_batch = (int64_t)((double)cfg.batch_rows / (SBLOCK * cfg.mean_length) + 0.5);
  if (blocks_per_batch < 1) blocks_per_batch = 1;
  sess_buffers buf;
  memset(&buf, 0, sizeof buf);
  rk_status s = buffers_init(&buf, &cfg, blocks_per_batch);
  if (s != RK_OK) {
    buffers_free(&buf);
    rk_synth_sessions_model_free(&m);
    return rk_error(RK_ENOMEM, "out of memory setting up the sessions generator");
  }
  sess_ctx c = {.m = &m, .batch = &buf.batch, .len = buf.len, .start = buf.start, .offset = buf.offset,
                .stats = buf.stats};
  block_stats total;
  memset(&total, 0, sizeof total);
  int64_t expected_rows = (int64_t)((double)cfg.sessions * cfg.mean_length);
  for (int64_t s0 = 0; s0 < cfg.sessions || s0 == 0; ) {
    int64_t nsess = cfg.sessions - s0 < blocks_per_batch * SBLOCK ? cfg.sessions - s0 : blocks_per_batch * SBLOCK;
    c.s0 = s0;
    c.nsess = nsess;
    rk_parallel_for(nsess, SBLOCK, lengths_chunk, &c);
    c.offset[0] = 0;
    for (int64_t i = 0; i < nsess; i++) c.offset[i + 1] = c.offset[i] + c.len[i];
    int64_t rows = c.offset[nsess];
    rk_batch_clear(&buf.batch);
    s = batch_reserve(&buf.batch, rows);
    if (s != RK_OK) {
      s = rk_error(RK_ENOMEM, "out of memory for a batch of %lld session rows", (long long)rows);
      break;
    }
    buf.batch.nrows = rows;
    for (int j = 0; j < buf.batch.ncols; j++) buf.batch.cols[j].length = rows;
    rk_parallel_for(nsess, SBLOCK, events_chunk, &c);
    if (cfg.emit_truth) {   /* the first row of a session has no prediction: null, set here, not in threads */
      for (int64_t i = 0; i < nsess; i++)
        for (int j = COL_P_NEXT; j < NCOLS_TRUTH; j++) {
          rk_column *col = &buf.batch.cols[j];
          col->validity[c.offset[i] >> 3] &= (uint8_t)~(1u << (c.offset[i] & 7));
          col->null_count++;
        }
    }
    for (int64_t b = 0; b < rk_chunk_count(nsess, SBLOCK); b++) {
      const block_stats *bs = &c.stats[b];
      total.steps += bs->steps;
      total.from_succ += bs->from_succ;
      total.from_interest += bs->from_interest;
      total.widenings += bs->widenings;
      total.rows += bs->rows;
      total.recall += bs->recall;
      total.ndcg += bs->ndcg;
      total.mrr += bs->mrr;
      total.pop += bs->pop;
    }
    s = rk_sink_write(sink, &buf.batch);
    if (s != RK_OK) {
      s = rk_error_context(s, "writing synthetic sessions %lld..%lld", (long long)s0 + 1, (long long)(s0 + nsess));
      break;
    }
    s0 += nsess;
    if (cfg.progress) cfg.progress(cfg.progress_ctx, total.rows, expected_rows > total.rows ? expected_rows : total.rows);
    if (nsess == 0) break;
  }
  buffers_free(&buf);
  rk_synth_sessions_model_free(&m);
  if (s != RK_OK) return s;
  if (stats) {
    memset(stats, 0, sizeof *stats);
    stats->config = cfg;
    stats->config.progress = NULL;
    stats->config.progress_ctx = NULL;
    stats->config.session_oracle = NULL;
    stats->rows = total.rows;
    stats->sessions = cfg.sessions;
    stats->steps = total.steps;
    double steps = total.steps > 0 ? (double)total.steps : 1.0;
    stats->successor_share = (double)total.from_succ / steps;
    stats->interest_share = (double)total.from_interest / steps;
    stats->mean_length = cfg.sessions > 0 ? (double)total.rows / (double)cfg.sessions : 0.0;
    stats->oracle_recall = total.recall / steps;
    stats->oracle_ndcg = total.ndcg / steps;
    stats->oracle_mrr = total.mrr / steps;
    stats->popularity_recall = total.pop / steps;
    stats->oracle_widenings = total.widenings;
    stats->seconds = rk_now() - t0;
  }
  return RK_OK;
}

void rk_synth_sessions_stats_free(rk_synth_sessions_stats *stats) {
  rk_free(stats->days);
  stats->days = NULL;
  stats->ndays = 0;
}

/* The YOOCHOOSE layout's part: its settings, the noise it injected and the oracle per day. */
static void sidecar_raw(json_t *root, json_t *config, json_t *oracle, const rk_synth_sessions_stats *stats) {
  const rk_synth_sessions_config *cfg = &stats->config;
  json_object_set_new(config, "repeat_prob", json_real(cfg->repeat_prob));
  json_object_set_new(config, "null_fraction", json_real(cfg->null_fraction));
  json_object_set_new(config, "price", json_boolean(cfg->price));
  json_object_set_new(config, "users", json_integer(cfg->users));
  json_object_set_new(config, "session_max_length", json_integer(cfg->session_max_length));
  json_object_set_new(config, "session_min_length", json_integer(cfg->session_min_length));
  json_object_set_new(root, "chain_clicks", json_integer(stats->chain_clicks));
  json_object_set_new(root, "repeat_rows", json_integer(stats->repeat_rows));
  json_object_set_new(root, "null_item_rows", json_integer(stats->null_item_rows));
  json_object_set_new(root, "null_session_rows", json_integer(stats->null_session_rows));
  json_object_set_new(oracle, "task", json_string("last_item"));
  json_object_set_new(oracle, "sessions", json_integer(stats->steps));
  json_object_set_new(oracle, "realized_recall", json_real(stats->realized_recall));
  json_t *days = json_array();
  for (int d = 0; days && d < stats->ndays; d++) {
    const rk_synth_sessions_day *day = &stats->days[d];
    json_t *o = json_object();
    json_object_set_new(o, "day_index", json_integer(day->day_index));
    json_object_set_new(o, "sessions", json_integer(day->sessions));
    json_object_set_new(o, "recall", json_real(day->recall));
    json_object_set_new(o, "ndcg", json_real(day->ndcg));
    json_object_set_new(o, "mrr", json_real(day->mrr));
    json_array_append_new(days, o);
  }
  json_object_set_new(oracle, "by_day", days);
}

rk_status rk_synth_sessions_write_sidecar(const char *path, const rk_synth_sessions_stats *stats) {
  const rk_synth_sessions_config *cfg = &stats->config;
  bool raw = cfg->layout == RK_SYNTH_SESSIONS_YOOCHOOSE;
  json_t *root = json_object(), *config = json_object(), *columns = json_array(), *oracle = json_object();
  if (!root || !config || !columns || !oracle) {
    json_decref(root), json_decref(config), json_decref(columns), json_decref(oracle);
    return rk_error(RK_ENOMEM, "out of memory building the sidecar '%s'", path);
  }
  json_object_set_new(root, "generator", json_string("sessions"));
  json_object_set_new(root, "reckon_version", json_string(rk_version()));
  json_object_set_new(config, "layout", json_string(raw ? "yoochoose" : "table"));
  json_object_set_new(config, "rows", json_integer(cfg->rows));
  json_object_set_new(config, "sessions", json_integer(cfg->sessions));
  json_object_set_new(config, "seed", rk_synth_json_seed(cfg->seed));
  json_object_set_new(config, "items", json_integer(cfg->items));
  json_object_set_new(config, "categories", json_integer(cfg->categories));
  json_object_set_new(config, "item_zipf", json_real(cfg->item_zipf));
  json_object_set_new(config, "successors", json_integer(cfg->successors));
  json_object_set_new(config, "p_successor", json_real(cfg->p_successor));
  json_object_set_new(config, "p_interest", json_real(cfg->p_interest));
  json_object_set_new(config, "mean_length", json_real(cfg->mean_length));
  json_object_set_new(config, "max_length", json_integer(cfg->max_length));
  json_object_set_new(config, "days", json_integer(cfg->days));
  json_object_set_new(config, "start_time", json_integer(cfg->start_time));
  json_object_set_new(config, "mean_gap_s", json_real(cfg->mean_gap_s));
  json_object_set_new(config, "topk", json_integer(cfg->topk));
  json_object_set_new(config, "emit_truth", json_boolean(cfg->emit_truth));
  json_object_set_new(root, "config", config);   /* root holds it; sidecar_raw adds to it below */
  const char *names[NCOLS_TRUTH];
  rk_coltype types[NCOLS_TRUTH];
  int ncols = raw ? rk_synth_sessions_raw_columns(cfg, names, types) : cfg->emit_truth ? NCOLS_TRUTH : NCOLS_BASE;
  for (int j = 0; j < ncols; j++) json_array_append_new(columns, json_string(raw ? names[j] : col_names[j]));
  json_object_set_new(root, "columns", columns);
  json_object_set_new(root, "rows", json_integer(stats->rows));
  json_object_set_new(root, "sessions", json_integer(stats->sessions));
  json_object_set_new(root, "steps", json_integer(stats->steps));
  json_object_set_new(root, "mean_length", json_real(stats->mean_length));
  if (!raw) {   /* the raw layout does not tally components: it scores last items only */
    json_object_set_new(root, "successor_share", json_real(stats->successor_share));
    json_object_set_new(root, "interest_share", json_real(stats->interest_share));
    json_object_set_new(oracle, "task", json_string("every_step"));
  }
  json_object_set_new(oracle, "k", json_integer(cfg->topk));
  json_object_set_new(oracle, "recall", json_real(stats->oracle_recall));
  json_object_set_new(oracle, "ndcg", json_real(stats->oracle_ndcg));
  json_object_set_new(oracle, "mrr", json_real(stats->oracle_mrr));
  json_object_set_new(oracle, "popularity_recall", json_real(stats->popularity_recall));
  json_object_set_new(oracle, "widened_steps", json_integer(stats->oracle_widenings));
  json_object_set_new(root, "oracle", oracle);
  if (raw) sidecar_raw(root, config, oracle, stats);
  json_object_set_new(root, "model", json_string("docs/synth.md"));
  return rk_synth_json_write(path, root);
}
