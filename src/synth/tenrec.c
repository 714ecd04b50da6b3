/*
 * src/synth/tenrec.c: TenRec-like multi-task ranking rows with a known signal.
 *
 * Columns, in QK-video.csv's order: user_id, item_id, click, follow, like, share, video_category,
 * watching_times, gender, age (+ p_click, p_follow, p_like, p_share with emit_truth).
 * Each row draws a user and an item from Zipf-like popularity (ranks scrambled into ids), derives
 * their latent factors and attributes from (seed, id) alone, and draws the targets from a
 * logistic model; follow, like and share happen only after a click. Because the probabilities
 * are known, so is the best AUC any model can reach: the sidecar's bayes_auc.
 * It is not: a model of TenRec's real joint distribution; only its schema, skew and rates.
 * The model, constants and sidecar fields are described in docs/synth.md.
 * References: Yuan et al., "Tenrec" (NeurIPS 2022 Datasets track), QK-video; Hanley and McNeil,
 * "The meaning and use of the area under a ROC curve" (Radiology 1982) for AUC as P(pos > neg).
 *
 * Determinism: every random value is keyed by (seed, row) or (seed, id), never by the thread or
 * the batch, and all sums are integers (fixed point), so output and sidecar are identical for
 * any thread count and batch size.
 */
#include <math.h>
#include <string.h>

#include <jansson.h>

#include "synth/synth_internal.h"

/* Model constants (docs/synth.md, "TenRec model"); tuned so the rates land near QK-video's. */
#define CLICK_BIAS   (-1.35)
#define USER_SD      0.60     /* user click propensity */
#define ITEM_SD      0.80     /* item click appeal */
#define AFFINITY_W   1.30     /* weight of a.b / sqrt(D) */
#define CATAGE_SD    0.45     /* category x age effect */
#define GENDER_SD    0.25
#define CENTER_W     0.60     /* item factor = CENTER_W * category centre + OWN_W * own */
#define OWN_W        0.80
#define LIKE_BIAS    (-4.15)
#define FOLLOW_BIAS  (-5.00)
#define SHARE_BIAS   (-5.20)
#define WATCH_BIAS   (-1.00)
#define CATEGORY_ZIPF 0.8

#define NGENDER 3
#define NAGE    8
static const double gender_cdf[NGENDER] = {0.08, 0.58, 1.0};
static const double age_cdf[NAGE] = {0.04, 0.14, 0.36, 0.60, 0.78, 0.90, 0.97, 1.0};

#define GRAIN      4096          /* rows per parallel chunk; a multiple of 8 keeps bitmaps apart */
#define HIST_BITS  16
#define HIST_BINS  (1 << HIST_BITS)
#define LOGIT_MAX  24.0          /* histogram over logit(p) in [-24, 24] */
#define VAR_FIX    16777216.0    /* fixed point of the watching_times variance sum */
#define WATCH_MAX  100

enum {
  COL_USER, COL_ITEM, COL_CLICK, COL_FOLLOW, COL_LIKE, COL_SHARE, COL_CATEGORY, COL_WATCH,
  COL_GENDER, COL_AGE, COL_P_CLICK, NCOLS_BASE = COL_P_CLICK, NCOLS_TRUTH = COL_P_CLICK + 4
};
static const char *const col_names[NCOLS_TRUTH] = {
  "user_id", "item_id", "click", "follow", "like", "share", "video_category", "watching_times",
  "gender", "age", "p_click", "p_follow", "p_like", "p_share"};
static const rk_coltype col_types[NCOLS_TRUTH] = {
  RK_COL_INT64, RK_COL_INT64, RK_COL_INT8, RK_COL_INT8, RK_COL_INT8, RK_COL_INT8, RK_COL_INT16,
  RK_COL_INT16, RK_COL_INT8, RK_COL_INT8, RK_COL_FLOAT64, RK_COL_FLOAT64, RK_COL_FLOAT64, RK_COL_FLOAT64};
/* The feature columns that na_fraction blanks: TenRec's own \N cells are in features too. */
static const int na_cols[3] = {COL_CATEGORY, COL_GENDER, COL_AGE};
static const int target_cols[RK_SYNTH_TENREC_TARGETS] = {COL_CLICK, COL_FOLLOW, COL_LIKE, COL_SHARE};

typedef struct {
  int64_t pos[RK_SYNTH_TENREC_TARGETS];
  int64_t watch_sum;
  uint64_t var_fix;
  int64_t nulls[3];
} chunk_stats;

typedef struct {
  rk_synth_tenrec_config cfg;      /* resolved */
  rk_synth_zipf user_zipf, item_zipf, cat_zipf;
  rk_synth_perm user_perm, item_perm;
  float *centers;                  /* (categories, D) */
  double *cat_age;                 /* (categories, NAGE) */
  double gender_eff[NGENDER];
  /* per batch */
  rk_batch *batch;
  int64_t base;                    /* first row of the batch */
  uint16_t *bins;                  /* (K, batch_rows) histogram bin of each row's p */
  uint64_t *pfix;                  /* (K, batch_rows) p in fixed point */
  chunk_stats *chunks;             /* (chunks per batch) */
  uint64_t *hist;                  /* (K, HIST_BINS, 2) expected positives, negatives */
} tenrec_ctx;

typedef struct {
  float f[64];
  double bias[3];                  /* click, like, follow propensities */
  int gender, age;
} user_traits;

typedef struct {
  float f[64];
  double bias[3];                  /* click, like, share appeal */
  int category;
} item_traits;

void rk_synth_tenrec_config_default(rk_synth_tenrec_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->rows = 1000000;
  cfg->seed = 42;
  cfg->categories = 10;
  cfg->latent_dim = 8;
  cfg->user_zipf = 1.0;
  cfg->item_zipf = 1.1;
  cfg->batch_rows = 65536;
}

const char *rk_synth_tenrec_target_name(rk_synth_tenrec_target target) {
  static const char *const names[RK_SYNTH_TENREC_TARGETS] = {"click", "follow", "like", "share"};
  return (unsigned)target < RK_SYNTH_TENREC_TARGETS ? names[target] : "?";
}

static rk_status resolve(rk_synth_tenrec_config *out, const rk_synth_tenrec_config *cfg) {
  *out = *cfg;
  if (cfg->rows < 0) return rk_error(RK_EINVAL, "invalid tenrec config: rows must be >= 0 (got %lld)", (long long)cfg->rows);
  if (out->users == 0) out->users = cfg->rows / 20 > 100 ? cfg->rows / 20 : 100;
  if (out->items == 0) out->items = cfg->rows / 50 > 50 ? cfg->rows / 50 : 50;
  if (out->users < 1 || out->users > (INT64_C(1) << 48))
    return rk_error(RK_EINVAL, "invalid tenrec config: users must be in 1..2^48 (got %lld)", (long long)out->users);
  if (out->items < 1 || out->items > (INT64_C(1) << 48))
    return rk_error(RK_EINVAL, "invalid tenrec config: items must be in 1..2^48 (got %lld)", (long long)out->items);
  if (cfg->categories < 1 || cfg->categories > 32767)
    return rk_error(RK_EINVAL, "invalid tenrec config: categories must be in 1..32767 (got %d)", cfg->categories);
  if (cfg->latent_dim < 1 || cfg->latent_dim > 64)
    return rk_error(RK_EINVAL, "invalid tenrec config: latent_dim must be in 1..64 (got %d)", cfg->latent_dim);
  if (!(cfg->user_zipf >= 0.0 && cfg->user_zipf <= 5.0))
    return rk_error(RK_EINVAL, "invalid tenrec config: user_zipf must be in [0, 5] (got %g)", cfg->user_zipf);
  if (!(cfg->item_zipf >= 0.0 && cfg->item_zipf <= 5.0))
    return rk_error(RK_EINVAL, "invalid tenrec config: item_zipf must be in [0, 5] (got %g)", cfg->item_zipf);
  if (!(cfg->na_fraction >= 0.0 && cfg->na_fraction <= 1.0))
    return rk_error(RK_EINVAL, "invalid tenrec config: na_fraction must be in [0, 1] (got %g)", cfg->na_fraction);
  if (cfg->batch_rows < 1 || cfg->batch_rows > (INT64_C(1) << 30))
    return rk_error(RK_EINVAL, "invalid tenrec config: batch_rows must be in 1..2^30 (got %lld)", (long long)cfg->batch_rows);
  return RK_OK;
}

static double sigmoid(double z) { return 1.0 / (1.0 + exp(-z)); }

static int draw_from_cdf(const double *cdf, int n, double u) {
  for (int i = 0; i < n - 1; i++)
    if (u < cdf[i]) return i;
  return n - 1;
}

/* Everything about a user is a function of (seed, id): the same user looks the same in every row. */
static void user_traits_of(user_traits *t, const tenrec_ctx *c, int64_t id) {
  rk_rng rng;
  rk_rng_init(&rng, c->cfg.seed, rk_synth_stream(RK_SYNTH_TAG_USER, (uint64_t)id));
  for (int d = 0; d < c->cfg.latent_dim; d++) t->f[d] = (rk_rng_uniformf(&rng) * 2.0f - 1.0f) * 1.7320508f;
  for (int b = 0; b < 3; b++) t->bias[b] = rk_rng_normal(&rng);
  t->gender = draw_from_cdf(gender_cdf, NGENDER, rk_rng_uniformf(&rng));
  t->age = draw_from_cdf(age_cdf, NAGE, rk_rng_uniformf(&rng));
}

static void item_traits_of(item_traits *t, const tenrec_ctx *c, int64_t id) {
  rk_rng rng;
  rk_rng_init(&rng, c->cfg.seed, rk_synth_stream(RK_SYNTH_TAG_ITEM, (uint64_t)id));
  t->category = (int)rk_synth_zipf_sample(&c->cat_zipf, rk_rng_uniform(&rng));
  const float *center = c->centers + (size_t)t->category * (size_t)c->cfg.latent_dim;
  for (int d = 0; d < c->cfg.latent_dim; d++)
    t->f[d] = (float)CENTER_W * center[d] + (float)OWN_W * (rk_rng_uniformf(&rng) * 2.0f - 1.0f) * 1.7320508f;
  for (int b = 0; b < 3; b++) t->bias[b] = rk_rng_normal(&rng);
}

/* Seed-wide tables: category centres in factor space, category x age and gender effects. */
static rk_status tables_init(tenrec_ctx *c) {
  int C = c->cfg.categories, D = c->cfg.latent_dim;
  c->centers = rk_malloc((size_t)C * (size_t)D * sizeof(float));
  c->cat_age = rk_malloc((size_t)C * NAGE * sizeof(double));
  if (!c->centers || !c->cat_age) return RK_ENOMEM;
  rk_rng rng;
  rk_rng_init(&rng, c->cfg.seed, rk_synth_stream(RK_SYNTH_TAG_TABLES, 1));
  for (int i = 0; i < C * D; i++) c->centers[i] = (rk_rng_uniformf(&rng) * 2.0f - 1.0f) * 1.7320508f;
  for (int i = 0; i < C * NAGE; i++) c->cat_age[i] = CATAGE_SD * rk_rng_normal(&rng);
  for (int g = 0; g < NGENDER; g++) c->gender_eff[g] = GENDER_SD * rk_rng_normal(&rng);
  return RK_OK;
}

static uint16_t logit_bin(double z) {
  double x = (z + LOGIT_MAX) * (HIST_BINS / (2.0 * LOGIT_MAX));
  if (!(x > 0.0)) return 0;   /* also NaN */
  if (x >= HIST_BINS - 1) return HIST_BINS - 1;
  return (uint16_t)x;
}

static double logit_of(double p) { return log(p) - log1p(-p); }

static uint64_t to_fix(double p) {
  double v = p * RK_SYNTH_FIX + 0.5;
  return v >= RK_SYNTH_FIX ? (uint64_t)RK_SYNTH_FIX : (uint64_t)v;
}

static void set_null(rk_column *col, int64_t row) { col->validity[row >> 3] &= (uint8_t)~(1u << (row & 7)); }

static void tenrec_chunk(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  tenrec_ctx *c = arg;
  const rk_synth_tenrec_config *cfg = &c->cfg;
  rk_column *cols = c->batch->cols;
  int D = cfg->latent_dim;
  double inv_sqrt_d = 1.0 / sqrt((double)D);
  chunk_stats st;
  memset(&st, 0, sizeof st);
  user_traits ut;
  item_traits it;
  for (int64_t i = begin; i < end; i++) {
    rk_rng rng;
    rk_rng_init(&rng, cfg->seed, rk_synth_stream(RK_SYNTH_TAG_ROW, (uint64_t)(c->base + i)));
    int64_t uid = (int64_t)rk_synth_perm_apply(&c->user_perm, (uint64_t)rk_synth_zipf_sample(&c->user_zipf, rk_rng_uniform(&rng))) + 1;
    int64_t iid = (int64_t)rk_synth_perm_apply(&c->item_perm, (uint64_t)rk_synth_zipf_sample(&c->item_zipf, rk_rng_uniform(&rng))) + 1;
    user_traits_of(&ut, c, uid);
    item_traits_of(&it, c, iid);
    double dot = 0.0;
    for (int d = 0; d < D; d++) dot += (double)ut.f[d] * (double)it.f[d];
    double aff = dot * inv_sqrt_d;

    double z_click = CLICK_BIAS + USER_SD * ut.bias[0] + ITEM_SD * it.bias[0] + AFFINITY_W * aff +
                     c->cat_age[it.category * NAGE + ut.age] + c->gender_eff[ut.gender];
    double z_like = LIKE_BIAS + 0.6 * ut.bias[1] + 0.5 * it.bias[1] + 0.7 * aff;
    double z_follow = FOLLOW_BIAS + 0.8 * ut.bias[2] + 0.4 * aff;
    double z_share = SHARE_BIAS + 0.7 * it.bias[2] + 0.3 * ut.bias[1] + 0.4 * aff;
    double lambda = exp(WATCH_BIAS + 0.5 * aff + 0.3 * it.bias[0]);
    double pc = sigmoid(z_click);
    double pcond[3] = {sigmoid(z_follow), sigmoid(z_like), sigmoid(z_share)};   /* follow, like, share | click */

    /* A fixed number of draws per row, whatever the outcomes, keeps the stream layout simple. */
    int click = rk_rng_uniform(&rng) < pc;
    int after[3];
    for (int k = 0; k < 3; k++) after[k] = rk_rng_uniform(&rng) < pcond[k] && click;
    double u = rk_rng_uniform(&rng), term = exp(-lambda), cdf = term;
    int extra = 0;
    while (u > cdf && extra < WATCH_MAX - 1) {   /* Poisson by inversion; lambda is small */
      extra++;
      term *= lambda / extra;
      cdf += term;
    }
    int watch = click ? 1 + extra : 0;

    ((int64_t *)cols[COL_USER].values)[i] = uid;
    ((int64_t *)cols[COL_ITEM].values)[i] = iid;
    ((int8_t *)cols[COL_CLICK].values)[i] = (int8_t)click;
    ((int8_t *)cols[COL_FOLLOW].values)[i] = (int8_t)after[0];
    ((int8_t *)cols[COL_LIKE].values)[i] = (int8_t)after[1];
    ((int8_t *)cols[COL_SHARE].values)[i] = (int8_t)after[2];
    ((int16_t *)cols[COL_CATEGORY].values)[i] = (int16_t)it.category;
    ((int16_t *)cols[COL_WATCH].values)[i] = (int16_t)watch;
    ((int8_t *)cols[COL_GENDER].values)[i] = (int8_t)ut.gender;
    ((int8_t *)cols[COL_AGE].values)[i] = (int8_t)ut.age;
    if (cfg->na_fraction > 0.0) {   /* drawn last: the same seed gives the same data with or without nulls */
      for (int k = 0; k < 3; k++) {
        if (rk_rng_uniform(&rng) < cfg->na_fraction) {
          rk_column *col = &cols[na_cols[k]];
          set_null(col, i);
          if (col->type == RK_COL_INT16) ((int16_t *)col->values)[i] = 0;
          else ((int8_t *)col->values)[i] = 0;
          st.nulls[k]++;
        }
      }
    }

    double p[RK_SYNTH_TENREC_TARGETS] = {pc, pc * pcond[0], pc * pcond[1], pc * pcond[2]};
    for (int k = 0; k < RK_SYNTH_TENREC_TARGETS; k++) {
      c->bins[(size_t)k * (size_t)cfg->batch_rows + (size_t)i] = logit_bin(k == RK_SYNTH_CLICK ? z_click : logit_of(p[k]));
      c->pfix[(size_t)k * (size_t)cfg->batch_rows + (size_t)i] = to_fix(p[k]);
      if (cfg->emit_truth) ((double *)cols[COL_P_CLICK + k].values)[i] = p[k];
    }
    st.pos[RK_SYNTH_CLICK] += click;
    st.pos[RK_SYNTH_FOLLOW] += after[0];
    st.pos[RK_SYNTH_LIKE] += after[1];
    st.pos[RK_SYNTH_SHARE] += after[2];
    st.watch_sum += watch;
    /* watching_times = click * (1 + Poisson(lambda)): E = pc m1, E[W^2] = pc m2. */
    double m1 = 1.0 + lambda, m2 = 1.0 + 3.0 * lambda + lambda * lambda;
    double var = pc * m2 - pc * pc * m1 * m1;
    st.var_fix += (uint64_t)(var * VAR_FIX + 0.5);
  }
  c->chunks[chunk] = st;
}

/* One target's histogram per task: deterministic whatever the threads (integer sums anyway). */
static void hist_target(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  tenrec_ctx *c = arg;
  (void)chunk;
  for (int64_t k = begin; k < end; k++) {
    uint64_t *h = c->hist + (size_t)k * HIST_BINS * 2;
    const uint16_t *bins = c->bins + (size_t)k * (size_t)c->cfg.batch_rows;
    const uint64_t *pf = c->pfix + (size_t)k * (size_t)c->cfg.batch_rows;
    for (int64_t i = 0; i < c->batch->nrows; i++) {
      h[2 * bins[i]] += pf[i];
      h[2 * bins[i] + 1] += (uint64_t)RK_SYNTH_FIX - pf[i];
    }
  }
}

/* AUC = P(score_pos > score_neg) + P(tie) / 2 over expected positive and negative weights. */
static double hist_auc(const uint64_t *h) {
  long double P = 0, N = 0, below = 0, acc = 0;
  for (int b = 0; b < HIST_BINS; b++) {
    P += h[2 * b];
    N += h[2 * b + 1];
  }
  if (P <= 0 || N <= 0) return 0.5;
  for (int b = 0; b < HIST_BINS; b++) {
    long double pos = h[2 * b], neg = h[2 * b + 1];
    acc += pos * (below + 0.5L * neg);
    below += neg;
  }
  return (double)(acc / (P * N));
}

static rk_status batch_setup(rk_batch *batch, const rk_synth_tenrec_config *cfg) {
  int ncols = cfg->emit_truth ? NCOLS_TRUTH : NCOLS_BASE;
  RK_TRY(rk_batch_init(batch, ncols));
  int64_t cap = cfg->rows < cfg->batch_rows ? cfg->rows : cfg->batch_rows;
  if (cap < 1) cap = 1;
  for (int j = 0; j < ncols; j++) {
    RK_TRY(rk_column_init(&batch->cols[j], col_names[j], col_types[j], RK_COL_INT64));
    RK_TRY(rk_column_reserve(&batch->cols[j], cap, 0));
  }
  if (cfg->na_fraction > 0.0) {
    for (int k = 0; k < 3; k++) {
      rk_column *col = &batch->cols[na_cols[k]];
      size_t bytes = (size_t)((col->cap_rows + 7) / 8);
      if (!(col->validity = rk_malloc(bytes))) return RK_ENOMEM;
      memset(col->validity, 0xff, bytes);
    }
  }
  return RK_OK;
}

static void ctx_free(tenrec_ctx *c, rk_batch *batch) {
  rk_batch_free(batch);
  rk_free(c->centers);
  rk_free(c->cat_age);
  rk_free(c->bins);
  rk_free(c->pfix);
  rk_free(c->chunks);
  rk_free(c->hist);
}

rk_status rk_synth_tenrec(rk_table_sink *sink, rk_synth_tenrec_stats *stats, const rk_synth_tenrec_config *config) {
  double t0 = rk_now();
  tenrec_ctx c;
  memset(&c, 0, sizeof c);
  RK_TRY(resolve(&c.cfg, config));
  const rk_synth_tenrec_config *cfg = &c.cfg;
  rk_synth_zipf_init(&c.user_zipf, cfg->users, cfg->user_zipf);
  rk_synth_zipf_init(&c.item_zipf, cfg->items, cfg->item_zipf);
  rk_synth_zipf_init(&c.cat_zipf, cfg->categories, CATEGORY_ZIPF);
  rk_synth_perm_init(&c.user_perm, (uint64_t)cfg->users, cfg->seed, 1);
  rk_synth_perm_init(&c.item_perm, (uint64_t)cfg->items, cfg->seed, 2);

  rk_batch batch;
  memset(&batch, 0, sizeof batch);
  c.batch = &batch;
  size_t scratch = (size_t)RK_SYNTH_TENREC_TARGETS * (size_t)cfg->batch_rows;
  rk_status s = tables_init(&c);
  if (s == RK_OK) s = batch_setup(&batch, cfg);
  if (s == RK_OK) {
    c.bins = rk_malloc(scratch * sizeof(uint16_t));
    c.pfix = rk_malloc(scratch * sizeof(uint64_t));
    c.chunks = rk_malloc((size_t)rk_chunk_count(cfg->batch_rows, GRAIN) * sizeof(chunk_stats));
    c.hist = rk_calloc((size_t)RK_SYNTH_TENREC_TARGETS * HIST_BINS * 2, sizeof(uint64_t));
    if (!c.bins || !c.pfix || !c.chunks || !c.hist) s = RK_ENOMEM;
  }
  if (s != RK_OK) {
    ctx_free(&c, &batch);
    return s == RK_ENOMEM ? rk_error(RK_ENOMEM, "out of memory setting up the tenrec generator") : s;
  }

  int64_t pos[RK_SYNTH_TENREC_TARGETS] = {0}, watch_sum = 0, nulls = 0;
  uint64_t var_fix = 0;
  for (int64_t start = 0; start < cfg->rows || start == 0; ) {
    int64_t n = cfg->rows - start < cfg->batch_rows ? cfg->rows - start : cfg->batch_rows;
    rk_batch_clear(&batch);
    batch.nrows = n;
    for (int j = 0; j < batch.ncols; j++) batch.cols[j].length = n;
    c.base = start;
    rk_parallel_for(n, GRAIN, tenrec_chunk, &c);
    for (int64_t ch = 0; ch < rk_chunk_count(n, GRAIN); ch++) {
      const chunk_stats *st = &c.chunks[ch];
      for (int k = 0; k < RK_SYNTH_TENREC_TARGETS; k++) pos[k] += st->pos[k];
      watch_sum += st->watch_sum;
      var_fix += st->var_fix;
      for (int k = 0; k < 3; k++) {
        batch.cols[na_cols[k]].null_count += st->nulls[k];
        nulls += st->nulls[k];
      }
    }
    rk_parallel_for(RK_SYNTH_TENREC_TARGETS, 1, hist_target, &c);
    s = rk_sink_write(sink, &batch);
    if (s != RK_OK) {
      ctx_free(&c, &batch);
      return rk_error_context(s, "writing synthetic tenrec rows %lld..%lld", (long long)start + 1, (long long)(start + n));
    }
    start += n;
    if (cfg->progress) cfg->progress(cfg->progress_ctx, start, cfg->rows);
    if (n == 0) break;
  }

  if (stats) {
    memset(stats, 0, sizeof *stats);
    stats->config = *cfg;
    stats->config.progress = NULL;
    stats->config.progress_ctx = NULL;
    stats->rows = cfg->rows;
    double rows = cfg->rows > 0 ? (double)cfg->rows : 1.0;
    for (int k = 0; k < RK_SYNTH_TENREC_TARGETS; k++) {
      const uint64_t *h = c.hist + (size_t)k * HIST_BINS * 2;
      long double expected = 0;
      for (int b = 0; b < HIST_BINS; b++) expected += h[2 * b];
      stats->positives[k] = pos[k];
      stats->positive_rate[k] = (double)pos[k] / rows;
      stats->expected_rate[k] = (double)(expected / RK_SYNTH_FIX) / rows;
      stats->bayes_auc[k] = hist_auc(h);
    }
    stats->watching_times_mean = (double)watch_sum / rows;
    stats->watching_times_bayes_rmse = sqrt((double)var_fix / VAR_FIX / rows);
    stats->null_cells = nulls;
    stats->seconds = rk_now() - t0;
  }
  ctx_free(&c, &batch);
  return RK_OK;
}

/* ---------------------------------------------------------------------------------------------
 * The sidecar.
 * ------------------------------------------------------------------------------------------- */
rk_status rk_synth_tenrec_write_sidecar(const char *path, const rk_synth_tenrec_stats *stats) {
  const rk_synth_tenrec_config *cfg = &stats->config;
  json_t *root = json_object();
  json_t *config = json_object(), *targets = json_object(), *columns = json_array(), *na = json_array();
  json_t *watch = json_object();
  if (!root || !config || !targets || !columns || !na || !watch) {
    json_decref(root), json_decref(config), json_decref(targets), json_decref(columns), json_decref(na), json_decref(watch);
    return rk_error(RK_ENOMEM, "out of memory building the sidecar '%s'", path);
  }
  json_object_set_new(root, "generator", json_string("tenrec"));
  json_object_set_new(root, "reckon_version", json_string(rk_version()));
  json_object_set_new(config, "rows", json_integer(cfg->rows));
  json_object_set_new(config, "seed", rk_synth_json_seed(cfg->seed));
  json_object_set_new(config, "users", json_integer(cfg->users));
  json_object_set_new(config, "items", json_integer(cfg->items));
  json_object_set_new(config, "categories", json_integer(cfg->categories));
  json_object_set_new(config, "latent_dim", json_integer(cfg->latent_dim));
  json_object_set_new(config, "user_zipf", json_real(cfg->user_zipf));
  json_object_set_new(config, "item_zipf", json_real(cfg->item_zipf));
  json_object_set_new(config, "na_fraction", json_real(cfg->na_fraction));
  json_object_set_new(config, "emit_truth", json_boolean(cfg->emit_truth));
  json_object_set_new(root, "config", config);
  int ncols = cfg->emit_truth ? NCOLS_TRUTH : NCOLS_BASE;
  for (int j = 0; j < ncols; j++) json_array_append_new(columns, json_string(col_names[j]));
  json_object_set_new(root, "columns", columns);
  for (int k = 0; k < 3; k++) json_array_append_new(na, json_string(col_names[na_cols[k]]));
  json_object_set_new(root, "na_columns", na);
  json_object_set_new(root, "rows", json_integer(stats->rows));
  for (int k = 0; k < RK_SYNTH_TENREC_TARGETS; k++) {
    json_t *t = json_object();
    if (!t) continue;
    json_object_set_new(t, "positives", json_integer(stats->positives[k]));
    json_object_set_new(t, "positive_rate", json_real(stats->positive_rate[k]));
    json_object_set_new(t, "expected_rate", json_real(stats->expected_rate[k]));
    json_object_set_new(t, "bayes_auc", json_real(stats->bayes_auc[k]));
    json_object_set_new(targets, col_names[target_cols[k]], t);
  }
  json_object_set_new(root, "targets", targets);
  json_object_set_new(watch, "mean", json_real(stats->watching_times_mean));
  json_object_set_new(watch, "bayes_rmse", json_real(stats->watching_times_bayes_rmse));
  json_object_set_new(root, "watching_times", watch);
  json_object_set_new(root, "null_cells", json_integer(stats->null_cells));
  json_object_set_new(root, "model", json_string("docs/synth.md"));
  return rk_synth_json_write(path, root);
}
