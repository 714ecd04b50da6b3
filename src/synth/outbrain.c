/*
 * src/synth/outbrain.c: Outbrain-like click logs in the columns NVIDIA's Wide & Deep recipe trains
 * on, with a known best MAP@12.
 *
 * A display (one page view with ads) shows 2 to 12 ads; exactly one is clicked, drawn from the
 * softmax over the display's ads of a score built from learnable effects: ad, campaign,
 * advertiser, the ad's document, publisher and source, its categories and topics, matches between
 * the viewed document (and the user's interests) and the ad's document, two crosses
 * (traffic_source x advertiser, event_country x ad source), freshness and a "viewed before" flag.
 * The numeric columns are noisy monotone views of those effects, scaled to [0, 1] as the
 * recipe's *_log_01scaled columns are. Because the probabilities are known, so is the MAP@12 of
 * ranking by them: the sidecar's bayes_map12, computed on the eval displays.
 * It is not: a model of Outbrain's real joint distribution, nor the recipe's preprocessing; only
 * its columns, id ranges, skew, display structure and leak feature.
 * Columns, model, constants and sidecar fields: docs/synth.md ("Outbrain (Wide & Deep recipe)").
 * References: Outbrain Click Prediction (Kaggle, 2016): displays, MAP@12, the page-view leak;
 * NVIDIA DeepLearningExamples TensorFlow/Recommendation/WideAndDeep: trainer/features.py (the
 * training columns, HASH_BUCKET_SIZES, IDENTITY_NUM_BUCKETS, EMBEDDING_DIMENSIONS) and
 * preproc/preproc3.py, preproc4.py (doc_id is the ad's document; log2(1 + x) scaled to [0, 1]).
 *
 * Determinism: every random value is keyed by (seed, display), (seed, display, position) or
 * (seed, id), never by the thread or the batch; sums run over displays in display order. Output
 * and sidecar are identical for any thread count and any row_group_rows.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <dirent.h>
#include <unistd.h>

#include <jansson.h>

#include "reckon/parquet.h"
#include "synth/synth_internal.h"

/* ---------------------------------------------------------------------------------------------
 * Model constants (docs/synth.md, "Outbrain (Wide & Deep recipe)"). Weights of the click score;
 * every z is a standard normal keyed by the id it belongs to.
 * ------------------------------------------------------------------------------------------- */
#define AD_SD           0.60    /* the ad itself */
#define AD_POP_W        0.50    /* x (ad_views_log_01scaled - 0.5): popular ads are clicked more */
#define CAMPAIGN_SD     0.40
#define ADVERTISER_SD   0.45
#define DOC_SD          0.30    /* the ad's landing document (doc_id) */
#define PUBLISHER_SD    0.30    /* of the ad's document */
#define SOURCE_SD       0.20
#define CATEGORY_SD     0.30    /* mean over the ad document's categories */
#define TOPIC_SD        0.25    /* mean over its topics */
#define CAT_MATCH_W     0.50    /* per category shared by the viewed document and the ad's */
#define TOPIC_MATCH_W   0.40    /* per shared topic */
#define ENT_MATCH_W     0.30    /* per shared entity */
#define USER_CAT_W      0.40    /* per category shared by the user's interests and the ad's document */
#define USER_TOPIC_W    0.30
#define USER_ENT_W      0.25
#define TS_ADV_SD       0.40    /* cross traffic_source x ad_advertiser */
#define COUNTRY_SRC_SD  0.40    /* cross event_country x doc_ad_source_id */
#define VIEWED_W        (-0.40) /* the user has already viewed the ad's document */
#define FRESH_W         0.80    /* x (0.5 - doc_ad_days_since_published_log_01scaled) */

/* The observed popularity statistics: pop = sigmoid(POP_BIAS + z + sd * noise) with
 * sd = POP_NOISE * (1 - conf) + POP_NOISE_MIN and conf = views / (views + CONF_VIEWS). */
#define POP_BIAS        (-1.5)
#define POP_NOISE       1.50
#define POP_NOISE_MIN   0.15
#define CONF_VIEWS      200.0
#define VIEWS_SD        0.30    /* log-normal scatter of views around the popularity law */
#define SIM_NOISE       0.25    /* relative noise of doc_event_doc_ad_sim_* */
#define USER_SIM_NOISE  0.60    /* relative noise of user_doc_ad_sim_*, times (1 - user confidence) */
#define USER_CONF_VIEWS 5.0
#define LEAK_CLICKED    0.30    /* P(is_leak = 1) for the clicked ad */
#define LEAK_OTHER      0.02    /* ... for the others */
#define VIEWED_BASE     0.02    /* P(user_has_already_viewed_doc), plus VIEWED_MATCH when the ad's */
#define VIEWED_MATCH    0.08    /* document shares a category with the user's interests */

/* Catalogues: raw ids are 1..n, popularity ranks scrambled into ids (sizes near Outbrain's). */
#define N_DOCS        3000000
#define N_ADS          600000
#define N_CAMPAIGNS     36000
#define N_ADVERTISERS    4500
#define N_SOURCES       14400
#define N_PUBLISHERS     1300
#define N_CATEGORIES      100
#define N_TOPICS          300
#define ENTS_PER_CAT    13000
#define N_ENTITIES    (N_CATEGORIES * ENTS_PER_CAT)
#define N_COUNTRIES       230
#define N_STATES         2000
#define N_GEOS           3000
#define N_USERS      20000000

#define DOC_VIEWS     2.0e9     /* page views over the whole catalogue (Outbrain: about 2 billion) */
#define AD_VIEWS      8.7e7     /* ad impressions (Outbrain's clicks_train + clicks_test rows) */
#define VIEWS_LOG_MAX 31.0      /* *_views_log_01scaled = log2(1 + views) / 31 (capped at 1) */
#define AGE_MAX_DAYS  3650.0
#define USER_VIEWS_LOG_MAX 14.0

enum { MAX_ADS = RK_SYNTH_OUTBRAIN_MAX_ADS, MAX_CAT = 3, MAX_TOPIC = 3, MAX_ENT = 6, USER_ENTS = 3 };

/* 2..12 ads a display, mean 4.97 (Outbrain: 87M rows / 16.9M displays, 5.2). */
static const double nads_cdf[MAX_ADS - 1] = {0.07, 0.23, 0.47, 0.67, 0.81, 0.89, 0.94, 0.97, 0.99, 0.995, 1.0};
static const double ncat_cdf[MAX_CAT] = {0.45, 0.80, 1.0};
static const double ntopic_cdf[MAX_TOPIC] = {0.40, 0.75, 1.0};
static const double nent_cdf[MAX_ENT] = {0.20, 0.35, 0.50, 0.65, 0.80, 1.0};
static const double hour_cdf[6] = {0.07, 0.24, 0.42, 0.68, 0.86, 1.0};   /* the recipe's 6 hour bins */
static const double platform_cdf[3] = {0.42, 0.88, 1.0};                 /* desktop, mobile, tablet */
static const double traffic_cdf[3] = {0.77, 0.92, 1.0};                  /* internal, search, social */
#define WEEKEND_P 0.27

/* RNG stream tags of this generator (above the shared ones in synth_internal.h). */
enum {
  TAG_DISPLAY = 0x40, TAG_POS, TAG_SPLIT, TAG_USER, TAG_DOC, TAG_AD, TAG_CAMPAIGN, TAG_ADVERTISER, TAG_SOURCE,
  TAG_PUBLISHER, TAG_CATEGORY, TAG_TOPIC, TAG_ENTITY, TAG_GEO, TAG_STATE, TAG_COUNTRY, TAG_X_TS_ADV, TAG_X_CTY_SRC, TAG_LEAK
};

#define DBLOCK 1024   /* displays generated per parallel step */
#define DGRAIN 32     /* displays per parallel chunk */

/* ---------------------------------------------------------------------------------------------
 * Columns: one table drives the batches, the schema and the sidecar's column list.
 * ------------------------------------------------------------------------------------------- */
typedef enum { KIND_PLAIN, KIND_TARGET, KIND_HASHED, KIND_IDENTITY, KIND_LIST, KIND_CONTINUOUS, KIND_TRUTH } col_kind;

typedef struct {
  const char *name;
  col_kind kind;
  bool item;          /* item feature (else context) */
  int64_t buckets;    /* hashed and list: hash buckets; identity: values 0..buckets-1 */
  int dim;            /* embedding dimension */
  int max_len;        /* list: most values in a row */
  int64_t raw_max;    /* hashed and list: the largest raw id */
} col_def;

enum {
  C_DISPLAY, C_AD, C_LABEL, C_LEAK,
  C_DOC_EVENT, C_DOC, C_EV_SOURCE, C_GEO, C_STATE, C_EV_PUBLISHER, C_COUNTRY,
  C_HOUR, C_PLATFORM, C_TRAFFIC, C_WEEKEND, C_VIEWED,
  C_EV_ENT, C_EV_TOPIC, C_EV_CAT,
  C_NUM_REQ,
  C_AD_SOURCE = C_NUM_REQ + 16, C_ADVERTISER, C_AD_PUBLISHER,
  C_AD_TOPIC, C_AD_ENT, C_AD_CAT,
  C_NUM_ITEM,
  C_P_CLICK = C_NUM_ITEM + 16,
  NCOLS_BASE = C_P_CLICK, NCOLS_TRUTH
};

#define NNUM 32   /* numeric columns: request 0..15, item 16..31 */

static const col_def cols[NCOLS_TRUTH] = {
  {"display_id",                  KIND_PLAIN,      false, 0, 0, 0, 0},
  {"ad_id",                       KIND_HASHED,     true,  250000, 128, 0, N_ADS},
  {"label",                       KIND_TARGET,     false, 0, 0, 0, 0},
  {"is_leak",                     KIND_PLAIN,      false, 0, 0, 0, 0},
  {"doc_event_id",                KIND_HASHED,     false, 300000, 128, 0, N_DOCS},
  {"doc_id",                      KIND_HASHED,     false, 100000, 128, 0, N_DOCS},
  {"doc_event_source_id",         KIND_HASHED,     false, 4000, 64, 0, N_SOURCES},
  {"event_geo_location",          KIND_HASHED,     false, 2500, 64, 0, N_GEOS},
  {"event_country_state",         KIND_HASHED,     false, 2000, 64, 0, N_STATES},
  {"doc_event_publisher_id",      KIND_HASHED,     false, 1000, 64, 0, N_PUBLISHERS},
  {"event_country",               KIND_HASHED,     false, 300, 64, 0, N_COUNTRIES},
  {"event_hour",                  KIND_IDENTITY,   false, 6, 0, 0, 0},
  {"event_platform",              KIND_IDENTITY,   false, 3, 0, 0, 0},
  {"traffic_source",              KIND_IDENTITY,   false, 3, 0, 0, 0},
  {"event_weekend",               KIND_IDENTITY,   false, 2, 0, 0, 0},
  {"user_has_already_viewed_doc", KIND_IDENTITY,   false, 2, 0, 0, 0},
  {"doc_event_entity_id",         KIND_LIST,       false, 10000, 64, MAX_ENT, N_ENTITIES},
  {"doc_event_topic_id",          KIND_LIST,       false, 350, 64, MAX_TOPIC, N_TOPICS},
  {"doc_event_category_id",       KIND_LIST,       false, 100, 64, MAX_CAT, N_CATEGORIES},
  {"pop_document_id_conf",                         KIND_CONTINUOUS, false, 0, 0, 0, 0},
  {"pop_publisher_id_conf",                        KIND_CONTINUOUS, false, 0, 0, 0, 0},
  {"pop_source_id_conf",                           KIND_CONTINUOUS, false, 0, 0, 0, 0},
  {"pop_entity_id_conf",                           KIND_CONTINUOUS, false, 0, 0, 0, 0},
  {"pop_topic_id_conf",                            KIND_CONTINUOUS, false, 0, 0, 0, 0},
  {"pop_category_id_conf",                         KIND_CONTINUOUS, false, 0, 0, 0, 0},
  {"pop_document_id_log_01scaled",                 KIND_CONTINUOUS, false, 0, 0, 0, 0},
  {"pop_publisher_id_log_01scaled",                KIND_CONTINUOUS, false, 0, 0, 0, 0},
  {"pop_source_id_log_01scaled",                   KIND_CONTINUOUS, false, 0, 0, 0, 0},
  {"pop_entity_id_log_01scaled",                   KIND_CONTINUOUS, false, 0, 0, 0, 0},
  {"pop_topic_id_log_01scaled",                    KIND_CONTINUOUS, false, 0, 0, 0, 0},
  {"pop_category_id_log_01scaled",                 KIND_CONTINUOUS, false, 0, 0, 0, 0},
  {"user_views_log_01scaled",                      KIND_CONTINUOUS, false, 0, 0, 0, 0},
  {"doc_views_log_01scaled",                       KIND_CONTINUOUS, false, 0, 0, 0, 0},
  {"doc_event_days_since_published_log_01scaled",  KIND_CONTINUOUS, false, 0, 0, 0, 0},
  {"doc_event_hour_log_01scaled",                  KIND_CONTINUOUS, false, 0, 0, 0, 0},
  {"doc_ad_source_id",            KIND_HASHED,     true,  4000, 64, 0, N_SOURCES},
  {"ad_advertiser",               KIND_HASHED,     true,  2500, 64, 0, N_ADVERTISERS},
  {"doc_ad_publisher_id",         KIND_HASHED,     true,  1000, 64, 0, N_PUBLISHERS},
  {"doc_ad_topic_id",             KIND_LIST,       true,  350, 64, MAX_TOPIC, N_TOPICS},
  {"doc_ad_entity_id",            KIND_LIST,       true,  10000, 64, MAX_ENT, N_ENTITIES},
  {"doc_ad_category_id",          KIND_LIST,       true,  100, 64, MAX_CAT, N_CATEGORIES},
  {"pop_ad_id_conf",                               KIND_CONTINUOUS, true, 0, 0, 0, 0},
  {"user_doc_ad_sim_categories_conf",              KIND_CONTINUOUS, true, 0, 0, 0, 0},
  {"user_doc_ad_sim_topics_conf",                  KIND_CONTINUOUS, true, 0, 0, 0, 0},
  {"pop_advertiser_id_conf",                       KIND_CONTINUOUS, true, 0, 0, 0, 0},
  {"pop_campain_id_conf_multipl_log_01scaled",     KIND_CONTINUOUS, true, 0, 0, 0, 0},
  {"pop_ad_id_log_01scaled",                       KIND_CONTINUOUS, true, 0, 0, 0, 0},
  {"pop_advertiser_id_log_01scaled",               KIND_CONTINUOUS, true, 0, 0, 0, 0},
  {"pop_campain_id_log_01scaled",                  KIND_CONTINUOUS, true, 0, 0, 0, 0},
  {"user_doc_ad_sim_categories_log_01scaled",      KIND_CONTINUOUS, true, 0, 0, 0, 0},
  {"user_doc_ad_sim_topics_log_01scaled",          KIND_CONTINUOUS, true, 0, 0, 0, 0},
  {"user_doc_ad_sim_entities_log_01scaled",        KIND_CONTINUOUS, true, 0, 0, 0, 0},
  {"doc_event_doc_ad_sim_categories_log_01scaled", KIND_CONTINUOUS, true, 0, 0, 0, 0},
  {"doc_event_doc_ad_sim_topics_log_01scaled",     KIND_CONTINUOUS, true, 0, 0, 0, 0},
  {"doc_event_doc_ad_sim_entities_log_01scaled",   KIND_CONTINUOUS, true, 0, 0, 0, 0},
  {"ad_views_log_01scaled",                        KIND_CONTINUOUS, true, 0, 0, 0, 0},
  {"doc_ad_days_since_published_log_01scaled",     KIND_CONTINUOUS, true, 0, 0, 0, 0},
  {"p_click",                     KIND_TRUTH,      false, 0, 0, 0, 0},
};

/* Numeric slots (index into the row's num[]; column C_NUM_REQ + slot). */
enum {
  N_POP_DOC_CONF, N_POP_PUB_CONF, N_POP_SRC_CONF, N_POP_ENT_CONF, N_POP_TOPIC_CONF, N_POP_CAT_CONF,
  N_POP_DOC, N_POP_PUB, N_POP_SRC, N_POP_ENT, N_POP_TOPIC, N_POP_CAT,
  N_USER_VIEWS, N_DOC_VIEWS, N_EV_AGE, N_EV_HOUR,
  N_POP_AD_CONF, N_USIM_CAT_CONF, N_USIM_TOPIC_CONF, N_POP_ADV_CONF, N_POP_CAMP_MULT,
  N_POP_AD, N_POP_ADV, N_POP_CAMP,
  N_USIM_CAT, N_USIM_TOPIC, N_USIM_ENT, N_DSIM_CAT, N_DSIM_TOPIC, N_DSIM_ENT,
  N_AD_VIEWS, N_AD_AGE
};

static rk_coltype col_type(int c) {
  switch (cols[c].kind) {
    case KIND_TARGET: return RK_COL_INT32;
    case KIND_LIST: return RK_COL_LIST;
    case KIND_CONTINUOUS: return RK_COL_FLOAT32;
    case KIND_TRUTH: return RK_COL_FLOAT64;
    default: return c == C_LEAK ? RK_COL_INT32 : RK_COL_INT64;
  }
}

/* ---------------------------------------------------------------------------------------------
 * Catalogues and their small tables.
 * ------------------------------------------------------------------------------------------- */
/* What a row sees of an id with a popularity statistic. */
typedef struct {
  int64_t id;         /* raw value, 1..n */
  int32_t parent;     /* rank of the parent (campaign -> advertiser, source -> publisher,
                         geo -> state, state -> country), else -1 */
  float z;            /* its effect, standard normal */
  float conf;         /* views / (views + CONF_VIEWS) */
  float pop;          /* the observed click rate: sigmoid(POP_BIAS + z + noise) */
  float views01;      /* log2(1 + views) / VIEWS_LOG_MAX */
} entry;

typedef struct {
  int64_t n;
  rk_synth_zipf zipf;
  rk_synth_perm perm;
  int tag;
  double views;       /* total views spread over the ranks by the popularity law */
  entry *tab;         /* by rank; NULL for the large catalogues (computed when needed) */
} catalog;

enum { K_DOC, K_AD, K_CAMPAIGN, K_ADVERTISER, K_SOURCE, K_PUBLISHER, K_CATEGORY, K_TOPIC, K_ENT_BLOCK, K_GEO,
       K_STATE, K_COUNTRY, K_USER, NCATALOGS };

static const struct {
  int64_t n;          /* ranks of the popularity law (entities: within a category's block) */
  int64_t ids;        /* ids 1..ids */
  double zipf;
  int tag;
  double views;
  int parent;         /* catalogue of the parent, or -1 */
  bool table;
} catalog_defs[NCATALOGS] = {
  [K_DOC]        = {N_DOCS,        N_DOCS,        1.0, TAG_DOC,        DOC_VIEWS, -1,           false},
  [K_AD]         = {N_ADS,         N_ADS,         1.0, TAG_AD,         AD_VIEWS,  -1,           false},
  [K_CAMPAIGN]   = {N_CAMPAIGNS,   N_CAMPAIGNS,   1.0, TAG_CAMPAIGN,   AD_VIEWS,  K_ADVERTISER, true},
  [K_ADVERTISER] = {N_ADVERTISERS, N_ADVERTISERS, 1.0, TAG_ADVERTISER, AD_VIEWS,  -1,           true},
  [K_SOURCE]     = {N_SOURCES,     N_SOURCES,     1.0, TAG_SOURCE,     DOC_VIEWS, K_PUBLISHER,  true},
  [K_PUBLISHER]  = {N_PUBLISHERS,  N_PUBLISHERS,  1.0, TAG_PUBLISHER,  DOC_VIEWS, -1,           true},
  [K_CATEGORY]   = {N_CATEGORIES,  N_CATEGORIES,  1.0, TAG_CATEGORY,   DOC_VIEWS, -1,           true},
  [K_TOPIC]      = {N_TOPICS,      N_TOPICS,      1.0, TAG_TOPIC,      DOC_VIEWS, -1,           true},
  [K_ENT_BLOCK]  = {ENTS_PER_CAT,  N_ENTITIES,    1.1, TAG_ENTITY,     DOC_VIEWS, -1,           false},
  [K_GEO]        = {N_GEOS,        N_GEOS,        1.0, TAG_GEO,        0,         K_STATE,      true},
  [K_STATE]      = {N_STATES,      N_STATES,      1.2, TAG_STATE,      0,         K_COUNTRY,    true},
  [K_COUNTRY]    = {N_COUNTRIES,   N_COUNTRIES,   1.5, TAG_COUNTRY,    0,         -1,           true},
  [K_USER]       = {N_USERS,       N_USERS,       0.0, TAG_USER,       0,         -1,           false},
};

typedef struct {
  int n;
  int64_t v[MAX_ENT];
} idlist;

/* One row as generated, before it is poured into a batch. */
typedef struct {
  int64_t ad_id, doc_id, source, advertiser, publisher;
  idlist topic, ent, cat;
  int32_t label, leak, viewed;
  float num[NNUM];
  double p;
} ad_row;

typedef struct {
  int n;
  bool eval;
  int64_t doc_event, ev_source, geo, state, ev_publisher, country;
  int32_t hour, platform, traffic, weekend;
  idlist ev_ent, ev_topic, ev_cat;
  double ap_bayes, ap_real, ap_leak, ap_random;
  ad_row ads[MAX_ADS];
} display_rec;

typedef struct {
  rk_synth_outbrain_config cfg;    /* resolved */
  catalog catalogs[NCATALOGS];
  int64_t first;                   /* display index of recs[0] */
  display_rec *recs;               /* (DBLOCK) */
} ob_ctx;

void rk_synth_outbrain_config_default(rk_synth_outbrain_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->displays = 1000000;
  cfg->seed = 42;
  cfg->eval_fraction = 0.1;
  cfg->row_group_rows = 65536;
  cfg->bucket_scale = 1.0;
}

static rk_status resolve(rk_synth_outbrain_config *out, const rk_synth_outbrain_config *cfg) {
  *out = *cfg;
  if (cfg->displays < 0 || cfg->displays > (INT64_C(1) << 48))
    return rk_error(RK_EINVAL, "invalid outbrain config: displays must be in 0..2^48 (got %lld)", (long long)cfg->displays);
  if (!(cfg->eval_fraction >= 0.0 && cfg->eval_fraction <= 1.0))
    return rk_error(RK_EINVAL, "invalid outbrain config: eval_fraction must be in [0, 1] (got %g)", cfg->eval_fraction);
  if (cfg->row_group_rows < 1 || cfg->row_group_rows > (INT64_C(1) << 30))
    return rk_error(RK_EINVAL, "invalid outbrain config: row_group_rows must be in 1..2^30 (got %lld)",
                    (long long)cfg->row_group_rows);
  return RK_OK;
}

static double sigmoid(double z) { return 1.0 / (1.0 + exp(-z)); }

static int draw_from_cdf(const double *cdf, int n, double u) {
  for (int i = 0; i < n - 1; i++)
    if (u < cdf[i]) return i;
  return n - 1;
}

static double clamp01(double x) { return x < 0.0 ? 0.0 : x > 1.0 ? 1.0 : x; }
/* The recipe's scaling of rates: log2(1 + 1000 x), over its largest value at x = 1. */
static double log01_rate(double x) { return clamp01(log2(1.0 + 1000.0 * clamp01(x)) / log2(1001.0)); }
static double log01_views(double views) { return clamp01(log2(1.0 + views) / VIEWS_LOG_MAX); }

static int64_t catalog_id(const catalog *k, int64_t rank) {
  return (int64_t)rk_synth_perm_apply(&k->perm, (uint64_t)rank) + 1;
}

static int64_t catalog_draw(const catalog *k, rk_rng *rng) {
  return rk_synth_zipf_sample(&k->zipf, rk_rng_uniform(rng));
}

/* Effect, views and the observed statistic of an id with popularity `pmf`. */
static void stat_traits(entry *e, rk_rng *rng, double views_total, double pmf) {
  e->z = (float)rk_rng_normal(rng);
  double views = views_total * pmf * exp(VIEWS_SD * rk_rng_normal(rng));
  double conf = views / (views + CONF_VIEWS);
  double sd = POP_NOISE * (1.0 - conf) + POP_NOISE_MIN;
  e->conf = (float)conf;
  e->pop = (float)sigmoid(POP_BIAS + e->z + sd * rk_rng_normal(rng));
  e->views01 = (float)log01_views(views);
}

/* Allocation first, filling later (catalogs_fill), so that every allocation fails cheaply. */
static rk_status catalogs_alloc(ob_ctx *c) {
  for (int k = 0; k < NCATALOGS; k++) {
    catalog *kat = &c->catalogs[k];
    kat->n = catalog_defs[k].n;
    kat->tag = catalog_defs[k].tag;
    kat->views = catalog_defs[k].views;
    rk_synth_zipf_init(&kat->zipf, kat->n, catalog_defs[k].zipf);
    rk_synth_perm_init(&kat->perm, (uint64_t)catalog_defs[k].ids, c->cfg.seed, (uint64_t)(100 + k));
    if (catalog_defs[k].table && !(kat->tab = rk_malloc((size_t)kat->n * sizeof(entry)))) return RK_ENOMEM;
  }
  return RK_OK;
}

static void catalogs_fill(ob_ctx *c) {
  for (int k = 0; k < NCATALOGS; k++) {
    if (!catalog_defs[k].table) continue;
    catalog *kat = &c->catalogs[k];
    int parent = catalog_defs[k].parent;
    for (int64_t r = 0; r < kat->n; r++) {
      entry *e = &kat->tab[r];
      e->id = catalog_id(kat, r);
      rk_rng rng;
      rk_rng_init(&rng, c->cfg.seed, rk_synth_stream(kat->tag, (uint64_t)e->id));
      e->parent = parent >= 0 ? (int32_t)catalog_draw(&c->catalogs[parent], &rng) : -1;
      /* Topics are drawn around a category (content_draw), so no single law gives their
       * popularity: each topic gets an even share. */
      double pmf = k == K_TOPIC ? 1.0 / N_TOPICS : rk_synth_zipf_pmf(&kat->zipf, r);
      stat_traits(e, &rng, kat->views, pmf);
    }
  }
}

static void catalogs_free(ob_ctx *c) {
  for (int k = 0; k < NCATALOGS; k++) rk_free(c->catalogs[k].tab);
}

static bool idlist_has(const idlist *l, int64_t v) {
  for (int i = 0; i < l->n; i++)
    if (l->v[i] == v) return true;
  return false;
}

static int overlap(const idlist *a, const idlist *b) {
  int n = 0;
  for (int i = 0; i < a->n; i++) n += idlist_has(b, a->v[i]);
  return n;
}

/* Cosine of the two sets as binary vectors. */
static double set_cosine(const idlist *a, const idlist *b) {
  if (a->n == 0 || b->n == 0) return 0.0;
  return overlap(a, b) / sqrt((double)a->n * (double)b->n);
}

/* Categories, topics and entities of a document or of a user's interests. Each list takes up
 * to its length of distinct values; a repeat is redrawn up to 8 times, then left out (the first
 * value never repeats, so no list is empty). */
typedef struct {
  idlist cat, topic, ent;          /* raw ids */
  int32_t cat_rank[MAX_CAT];       /* ranks: the table rows of the categories and topics */
  int32_t topic_rank[MAX_TOPIC];
  float ent_conf_max, ent_pop_mean;  /* with stats: the entities' popularity statistics */
} content;

/* Categories by their popularity; topics and entities around the first category (topics: the
 * popularity law shifted by 131 x its rank, modulo 300; entities: the category's own block of
 * 13000), so documents that share a category tend to share topics and entities too. */
static void content_draw(content *out, const ob_ctx *c, rk_rng *rng, int ncat, int ntopic, int nent, bool stats) {
  const catalog *kc = &c->catalogs[K_CATEGORY], *kt = &c->catalogs[K_TOPIC], *ke = &c->catalogs[K_ENT_BLOCK];
  out->cat.n = out->topic.n = out->ent.n = 0;
  for (int k = 0; k < ncat; k++) {
    for (int t = 0; t < 8; t++) {
      int32_t r = (int32_t)catalog_draw(kc, rng);
      if (idlist_has(&out->cat, kc->tab[r].id)) continue;
      out->cat_rank[out->cat.n] = r;
      out->cat.v[out->cat.n++] = kc->tab[r].id;
      break;
    }
  }
  int32_t first = out->cat_rank[0];
  for (int k = 0; k < ntopic; k++) {
    for (int t = 0; t < 8; t++) {
      int32_t r = (int32_t)((catalog_draw(kt, rng) + (int64_t)first * 131) % N_TOPICS);
      if (idlist_has(&out->topic, kt->tab[r].id)) continue;
      out->topic_rank[out->topic.n] = r;
      out->topic.v[out->topic.n++] = kt->tab[r].id;
      break;
    }
  }
  float conf_max = 0.0f, pop_sum = 0.0f;
  for (int k = 0; k < nent; k++) {
    for (int t = 0; t < 8; t++) {
      int64_t r = catalog_draw(ke, rng);
      int64_t id = catalog_id(ke, (int64_t)first * ENTS_PER_CAT + r);
      if (idlist_has(&out->ent, id)) continue;
      out->ent.v[out->ent.n++] = id;
      if (stats) {
        entry e;
        rk_rng er;
        rk_rng_init(&er, c->cfg.seed, rk_synth_stream(TAG_ENTITY, (uint64_t)id));
        stat_traits(&e, &er, ke->views, rk_synth_zipf_pmf(&kc->zipf, first) * rk_synth_zipf_pmf(&ke->zipf, r));
        if (e.conf > conf_max) conf_max = e.conf;
        pop_sum += e.pop;
      }
      break;
    }
  }
  out->ent_conf_max = conf_max;
  out->ent_pop_mean = out->ent.n > 0 ? pop_sum / (float)out->ent.n : 0.0f;
}

typedef struct {
  int64_t id;
  int32_t source;               /* rank */
  content ct;
  double age01;                 /* log2(1 + days since published) / log2(1 + 3650) */
  entry st;                     /* effect and popularity statistics */
} doc_traits;

typedef struct {
  content ct;                   /* interests */
  double views01, conf;
} user_traits;

static double age01_draw(rk_rng *rng) {
  double days = floor(exp(log(180.0) + 1.3 * rk_rng_normal(rng)));
  if (days > AGE_MAX_DAYS) days = AGE_MAX_DAYS;
  return log2(1.0 + days) / log2(1.0 + AGE_MAX_DAYS);
}

/* Everything about a document is a function of (seed, id). With stats false (the viewed
 * document) the entities' statistics are skipped: they are not needed. */
static void doc_traits_of(doc_traits *d, const ob_ctx *c, int64_t rank, bool stats) {
  const catalog *k = &c->catalogs[K_DOC];
  d->id = catalog_id(k, rank);
  rk_rng rng;
  rk_rng_init(&rng, c->cfg.seed, rk_synth_stream(TAG_DOC, (uint64_t)d->id));
  stat_traits(&d->st, &rng, k->views, rk_synth_zipf_pmf(&k->zipf, rank));
  d->source = (int32_t)catalog_draw(&c->catalogs[K_SOURCE], &rng);
  d->age01 = age01_draw(&rng);
  int ncat = 1 + draw_from_cdf(ncat_cdf, MAX_CAT, rk_rng_uniform(&rng));
  int ntopic = 1 + draw_from_cdf(ntopic_cdf, MAX_TOPIC, rk_rng_uniform(&rng));
  int nent = 1 + draw_from_cdf(nent_cdf, MAX_ENT, rk_rng_uniform(&rng));
  content_draw(&d->ct, c, &rng, ncat, ntopic, nent, stats);
}

static void user_traits_of(user_traits *u, const ob_ctx *c, int64_t id) {
  rk_rng rng;
  rk_rng_init(&rng, c->cfg.seed, rk_synth_stream(TAG_USER, (uint64_t)id));
  double views = floor(exp(log(4.0) + 1.2 * rk_rng_normal(&rng))) + 1.0;
  u->views01 = clamp01(log2(1.0 + views) / USER_VIEWS_LOG_MAX);
  u->conf = views / (views + USER_CONF_VIEWS);
  int ncat = 1 + (rk_rng_uniform(&rng) < 0.5);
  int ntopic = 1 + draw_from_cdf(ntopic_cdf, MAX_TOPIC, rk_rng_uniform(&rng));
  content_draw(&u->ct, c, &rng, ncat, ntopic, USER_ENTS, false);
}

static double cross_effect(uint64_t seed, int tag, uint64_t subject) {
  rk_rng rng;
  rk_rng_init(&rng, seed, rk_synth_stream(tag, subject));
  return rk_rng_normal(&rng);
}

/* Rank of row i when rows are sorted by score, descending, ties by row order (1-based). */
static int rank_of(const double *score, int n, int i) {
  int r = 1;
  for (int j = 0; j < n; j++) r += j < i ? score[j] >= score[i] : score[j] > score[i];
  return r;
}

static double ap_at_k(int rank) { return rank <= RK_SYNTH_OUTBRAIN_MAP_K ? 1.0 / rank : 0.0; }

static bool rank_taken(const int64_t *ranks, int n, int64_t r) {
  for (int i = 0; i < n; i++)
    if (ranks[i] == r) return true;
  return false;
}

/* One display: request, ads, scores, the click, the leak and its AP figures. */
static void display_make(display_rec *rec, const ob_ctx *c, int64_t d) {
  const rk_synth_outbrain_config *cfg = &c->cfg;
  const catalog *K = c->catalogs;
  rk_rng rng;
  rk_rng_init(&rng, cfg->seed, rk_synth_stream(TAG_DISPLAY, (uint64_t)d));
  rec->eval = rk_rng_uniform_at(cfg->seed, rk_synth_stream(TAG_SPLIT, 0), (uint64_t)d) < cfg->eval_fraction;
  int n = rec->n = 2 + draw_from_cdf(nads_cdf, MAX_ADS - 1, rk_rng_uniform(&rng));

  user_traits user;
  user_traits_of(&user, c, catalog_id(&K[K_USER], (int64_t)rk_rng_below(&rng, N_USERS)));
  doc_traits ev;
  doc_traits_of(&ev, c, catalog_draw(&K[K_DOC], &rng), false);
  const entry *geo = &K[K_GEO].tab[catalog_draw(&K[K_GEO], &rng)];
  const entry *state = &K[K_STATE].tab[geo->parent];
  const entry *country = &K[K_COUNTRY].tab[state->parent];
  const entry *ev_src = &K[K_SOURCE].tab[ev.source];
  rec->doc_event = ev.id;
  rec->ev_source = ev_src->id;
  rec->ev_publisher = K[K_PUBLISHER].tab[ev_src->parent].id;
  rec->geo = geo->id;
  rec->state = state->id;
  rec->country = country->id;
  rec->hour = draw_from_cdf(hour_cdf, 6, rk_rng_uniform(&rng));
  rec->platform = draw_from_cdf(platform_cdf, 3, rk_rng_uniform(&rng));
  rec->traffic = draw_from_cdf(traffic_cdf, 3, rk_rng_uniform(&rng));
  rec->weekend = rk_rng_uniform(&rng) < WEEKEND_P;
  const content *evc = &ev.ct, *uc = &user.ct;
  rec->ev_ent = evc->ent;
  rec->ev_topic = evc->topic;
  rec->ev_cat = evc->cat;

  /* The ads: distinct, by popularity (a repeat is redrawn 16 times, then walks to a free rank). */
  int64_t ad_rank[MAX_ADS];
  for (int j = 0; j < n; j++) {
    int64_t r = catalog_draw(&K[K_AD], &rng);
    for (int t = 1; rank_taken(ad_rank, j, r); t++) r = t < 16 ? catalog_draw(&K[K_AD], &rng) : (r + 1) % N_ADS;
    ad_rank[j] = r;
  }
  double u_click = rk_rng_uniform(&rng);

  double score[MAX_ADS] = {0};
  for (int j = 0; j < n; j++) {
    ad_row *row = &rec->ads[j];
    rk_rng pos;
    rk_rng_init(&pos, cfg->seed, rk_synth_stream(TAG_POS, (uint64_t)d * 16 + (uint64_t)j));
    /* ad -> campaign -> advertiser; ad -> document -> source -> publisher */
    int64_t ad_id = catalog_id(&K[K_AD], ad_rank[j]);
    rk_rng ar;
    rk_rng_init(&ar, cfg->seed, rk_synth_stream(TAG_AD, (uint64_t)ad_id));
    entry ad;
    stat_traits(&ad, &ar, K[K_AD].views, rk_synth_zipf_pmf(&K[K_AD].zipf, ad_rank[j]));
    const entry *camp = &K[K_CAMPAIGN].tab[catalog_draw(&K[K_CAMPAIGN], &ar)];
    const entry *adv = &K[K_ADVERTISER].tab[camp->parent];
    doc_traits doc;
    doc_traits_of(&doc, c, catalog_draw(&K[K_DOC], &ar), true);
    const entry *src = &K[K_SOURCE].tab[doc.source];
    const entry *pub = &K[K_PUBLISHER].tab[src->parent];
    const content *dc = &doc.ct;
    double cat_z = 0.0, cat_pop = 0.0, cat_conf = 0.0, topic_z = 0.0, topic_pop = 0.0, topic_conf = 0.0;
    for (int i = 0; i < dc->cat.n; i++) {
      const entry *e = &K[K_CATEGORY].tab[dc->cat_rank[i]];
      cat_z += e->z / dc->cat.n;
      cat_pop += e->pop / dc->cat.n;
      if (e->conf > cat_conf) cat_conf = e->conf;
    }
    for (int i = 0; i < dc->topic.n; i++) {
      const entry *e = &K[K_TOPIC].tab[dc->topic_rank[i]];
      topic_z += e->z / dc->topic.n;
      topic_pop += e->pop / dc->topic.n;
      if (e->conf > topic_conf) topic_conf = e->conf;
    }
    int m_cat = overlap(&evc->cat, &dc->cat), m_topic = overlap(&evc->topic, &dc->topic);
    int m_ent = overlap(&evc->ent, &dc->ent);
    int u_cat = overlap(&uc->cat, &dc->cat), u_topic = overlap(&uc->topic, &dc->topic), u_ent = overlap(&uc->ent, &dc->ent);
    int viewed = rk_rng_uniform(&pos) < VIEWED_BASE + (u_cat > 0 ? VIEWED_MATCH : 0.0);
    double x_ts = cross_effect(cfg->seed, TAG_X_TS_ADV, (uint64_t)adv->id * 4 + (uint64_t)rec->traffic);
    double x_cs = cross_effect(cfg->seed, TAG_X_CTY_SRC, (uint64_t)src->id * 256 + (uint64_t)country->id);

    score[j] = AD_SD * ad.z + AD_POP_W * (ad.views01 - 0.5) + CAMPAIGN_SD * camp->z + ADVERTISER_SD * adv->z +
               DOC_SD * doc.st.z + PUBLISHER_SD * pub->z + SOURCE_SD * src->z + CATEGORY_SD * cat_z + TOPIC_SD * topic_z +
               CAT_MATCH_W * m_cat + TOPIC_MATCH_W * m_topic + ENT_MATCH_W * m_ent + USER_CAT_W * u_cat +
               USER_TOPIC_W * u_topic + USER_ENT_W * u_ent + TS_ADV_SD * x_ts + COUNTRY_SRC_SD * x_cs +
               VIEWED_W * viewed + FRESH_W * (0.5 - doc.age01);

    row->ad_id = ad_id;
    row->doc_id = doc.id;
    row->source = src->id;
    row->advertiser = adv->id;
    row->publisher = pub->id;
    row->topic = dc->topic;
    row->ent = dc->ent;
    row->cat = dc->cat;
    row->viewed = viewed;

    /* Observed similarities: exact set cosines with multiplicative noise (user ones noisier the
     * less the user has read), drawn from the row's own stream. */
    double dn[3], un[3];
    for (int i = 0; i < 3; i++) dn[i] = rk_rng_normal(&pos);
    for (int i = 0; i < 3; i++) un[i] = rk_rng_normal(&pos);
    double usd = USER_SIM_NOISE * (1.0 - user.conf) + 0.1;
    float *num = row->num;
    num[N_POP_DOC_CONF] = doc.st.conf;
    num[N_POP_PUB_CONF] = pub->conf;
    num[N_POP_SRC_CONF] = src->conf;
    num[N_POP_ENT_CONF] = dc->ent_conf_max;
    num[N_POP_TOPIC_CONF] = (float)topic_conf;
    num[N_POP_CAT_CONF] = (float)cat_conf;
    num[N_POP_DOC] = (float)log01_rate(doc.st.pop);
    num[N_POP_PUB] = (float)log01_rate(pub->pop);
    num[N_POP_SRC] = (float)log01_rate(src->pop);
    num[N_POP_ENT] = (float)log01_rate(dc->ent_pop_mean);
    num[N_POP_TOPIC] = (float)log01_rate(topic_pop);
    num[N_POP_CAT] = (float)log01_rate(cat_pop);
    num[N_USER_VIEWS] = (float)user.views01;
    num[N_DOC_VIEWS] = doc.st.views01;
    num[N_EV_AGE] = (float)ev.age01;
    num[N_EV_HOUR] = (float)(log2(1.0 + rec->hour) / log2(6.0));
    num[N_POP_AD_CONF] = ad.conf;
    num[N_USIM_CAT_CONF] = (float)(user.conf * cat_conf);
    num[N_USIM_TOPIC_CONF] = (float)(user.conf * topic_conf);
    num[N_POP_ADV_CONF] = adv->conf;
    num[N_POP_CAMP_MULT] = (float)log01_rate((double)camp->pop * camp->conf);
    num[N_POP_AD] = (float)log01_rate(ad.pop);
    num[N_POP_ADV] = (float)log01_rate(adv->pop);
    num[N_POP_CAMP] = (float)log01_rate(camp->pop);
    num[N_USIM_CAT] = (float)log01_rate(set_cosine(&uc->cat, &dc->cat) * (1.0 + usd * un[0]));
    num[N_USIM_TOPIC] = (float)log01_rate(set_cosine(&uc->topic, &dc->topic) * (1.0 + usd * un[1]));
    num[N_USIM_ENT] = (float)log01_rate(set_cosine(&uc->ent, &dc->ent) * (1.0 + usd * un[2]));
    num[N_DSIM_CAT] = (float)log01_rate(set_cosine(&evc->cat, &dc->cat) * (1.0 + SIM_NOISE * dn[0]));
    num[N_DSIM_TOPIC] = (float)log01_rate(set_cosine(&evc->topic, &dc->topic) * (1.0 + SIM_NOISE * dn[1]));
    num[N_DSIM_ENT] = (float)log01_rate(set_cosine(&evc->ent, &dc->ent) * (1.0 + SIM_NOISE * dn[2]));
    num[N_AD_VIEWS] = ad.views01;
    num[N_AD_AGE] = (float)doc.age01;
  }

  /* Softmax, the click (inverse CDF in row order), the leak. */
  double hi = score[0], total = 0.0;
  for (int j = 1; j < n; j++) hi = score[j] > hi ? score[j] : hi;
  double p[MAX_ADS];
  for (int j = 0; j < n; j++) total += p[j] = exp(score[j] - hi);
  int clicked = n - 1;
  double cum = 0.0;
  for (int j = 0; j < n; j++) {
    p[j] /= total;
    rec->ads[j].p = p[j];
  }
  for (int j = 0; j < n; j++) {
    cum += p[j];
    if (u_click < cum) {
      clicked = j;
      break;
    }
  }
  double with_leak[MAX_ADS];
  for (int j = 0; j < n; j++) {
    ad_row *row = &rec->ads[j];
    row->label = j == clicked;
    double u = rk_rng_uniform_at(cfg->seed, rk_synth_stream(TAG_LEAK, (uint64_t)d * 16 + (uint64_t)j), 0);
    row->leak = u < (row->label ? LEAK_CLICKED : LEAK_OTHER);
    with_leak[j] = p[j] + row->leak;
  }
  rec->ap_bayes = 0.0;
  for (int j = 0; j < n; j++) rec->ap_bayes += p[j] * ap_at_k(rank_of(p, n, j));
  rec->ap_real = ap_at_k(rank_of(p, n, clicked));
  rec->ap_leak = ap_at_k(rank_of(with_leak, n, clicked));
  double h = 0.0;
  for (int r = 1; r <= n && r <= RK_SYNTH_OUTBRAIN_MAP_K; r++) h += 1.0 / r;
  rec->ap_random = h / n;
}

static void display_chunk(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  ob_ctx *c = arg;
  (void)chunk;
  for (int64_t i = begin; i < end; i++) display_make(&c->recs[i], c, c->first + i);
}

/* ---------------------------------------------------------------------------------------------
 * Batches: one per split, filled row by row in display order and handed to the split's sink
 * when the next display would not fit.
 * ------------------------------------------------------------------------------------------- */
typedef struct {
  rk_batch b;
  int64_t cap;
  int64_t batches;
} split_batch;

static rk_status split_setup(split_batch *s, const rk_synth_outbrain_config *cfg) {
  int ncols = cfg->emit_truth ? NCOLS_TRUTH : NCOLS_BASE;
  RK_TRY(rk_batch_init(&s->b, ncols));
  s->cap = cfg->row_group_rows < MAX_ADS ? MAX_ADS : cfg->row_group_rows;
  for (int j = 0; j < ncols; j++) {
    rk_column *col = &s->b.cols[j];
    RK_TRY(rk_column_init(col, cols[j].name, col_type(j), RK_COL_INT64));
    RK_TRY(rk_column_reserve(col, s->cap, 0));
    if (col->child) RK_TRY(rk_column_reserve(col->child, s->cap * cols[j].max_len, 0));
  }
  return RK_OK;
}

static void put_list(rk_column *col, int64_t row, const idlist *l) {
  rk_column *ch = col->child;
  int64_t at = col->offsets[row];
  memcpy((int64_t *)ch->values + at, l->v, (size_t)l->n * sizeof(int64_t));
  col->offsets[row + 1] = at + l->n;
  ch->length = at + l->n;
}

static void split_append(split_batch *s, const display_rec *rec, int64_t display_id) {
  rk_column *c = s->b.cols;
  for (int j = 0; j < rec->n; j++) {
    const ad_row *a = &rec->ads[j];
    int64_t r = s->b.nrows++;
    ((int64_t *)c[C_DISPLAY].values)[r] = display_id;
    ((int64_t *)c[C_AD].values)[r] = a->ad_id;
    ((int32_t *)c[C_LABEL].values)[r] = a->label;
    ((int32_t *)c[C_LEAK].values)[r] = a->leak;
    ((int64_t *)c[C_DOC_EVENT].values)[r] = rec->doc_event;
    ((int64_t *)c[C_DOC].values)[r] = a->doc_id;
    ((int64_t *)c[C_EV_SOURCE].values)[r] = rec->ev_source;
    ((int64_t *)c[C_GEO].values)[r] = rec->geo;
    ((int64_t *)c[C_STATE].values)[r] = rec->state;
    ((int64_t *)c[C_EV_PUBLISHER].values)[r] = rec->ev_publisher;
    ((int64_t *)c[C_COUNTRY].values)[r] = rec->country;
    ((int64_t *)c[C_HOUR].values)[r] = rec->hour;
    ((int64_t *)c[C_PLATFORM].values)[r] = rec->platform;
    ((int64_t *)c[C_TRAFFIC].values)[r] = rec->traffic;
    ((int64_t *)c[C_WEEKEND].values)[r] = rec->weekend;
    ((int64_t *)c[C_VIEWED].values)[r] = a->viewed;
    put_list(&c[C_EV_ENT], r, &rec->ev_ent);
    put_list(&c[C_EV_TOPIC], r, &rec->ev_topic);
    put_list(&c[C_EV_CAT], r, &rec->ev_cat);
    for (int k = 0; k < 16; k++) ((float *)c[C_NUM_REQ + k].values)[r] = a->num[k];
    ((int64_t *)c[C_AD_SOURCE].values)[r] = a->source;
    ((int64_t *)c[C_ADVERTISER].values)[r] = a->advertiser;
    ((int64_t *)c[C_AD_PUBLISHER].values)[r] = a->publisher;
    put_list(&c[C_AD_TOPIC], r, &a->topic);
    put_list(&c[C_AD_ENT], r, &a->ent);
    put_list(&c[C_AD_CAT], r, &a->cat);
    for (int k = 0; k < 16; k++) ((float *)c[C_NUM_ITEM + k].values)[r] = a->num[16 + k];
    if (s->b.ncols > C_P_CLICK) ((double *)c[C_P_CLICK].values)[r] = a->p;
  }
}

static rk_status split_flush(split_batch *s, rk_table_sink *sink) {
  for (int j = 0; j < s->b.ncols; j++) s->b.cols[j].length = s->b.nrows;
  rk_status st = rk_sink_write(sink, &s->b);
  s->batches++;
  rk_batch_clear(&s->b);
  return st;
}

rk_status rk_synth_outbrain(rk_table_sink *train, rk_table_sink *eval, rk_synth_outbrain_stats *stats,
                            const rk_synth_outbrain_config *config) {
  double t0 = rk_now();
  ob_ctx c;
  memset(&c, 0, sizeof c);
  RK_TRY(resolve(&c.cfg, config));
  const rk_synth_outbrain_config *cfg = &c.cfg;
  rk_table_sink *sinks[RK_SYNTH_SPLITS] = {train, eval};
  split_batch sb[RK_SYNTH_SPLITS];
  memset(sb, 0, sizeof sb);

  rk_status s = catalogs_alloc(&c);
  for (int k = 0; k < RK_SYNTH_SPLITS && s == RK_OK; k++) s = split_setup(&sb[k], cfg);
  if (s == RK_OK && !(c.recs = rk_malloc(DBLOCK * sizeof *c.recs))) s = RK_ENOMEM;
  if (s != RK_OK) {
    if (s == RK_ENOMEM) s = rk_error(RK_ENOMEM, "out of memory setting up the outbrain generator");
    goto done;
  }
  catalogs_fill(&c);

  int64_t rows[RK_SYNTH_SPLITS] = {0}, displays[RK_SYNTH_SPLITS] = {0}, leak_clicked = 0, leak_other = 0;
  double ap_bayes = 0.0, ap_real = 0.0, ap_leak = 0.0, ap_random = 0.0;
  for (int64_t first = 0; first < cfg->displays && s == RK_OK; first += DBLOCK) {
    int64_t n = cfg->displays - first < DBLOCK ? cfg->displays - first : DBLOCK;
    c.first = first;
    rk_parallel_for(n, DGRAIN, display_chunk, &c);
    for (int64_t i = 0; i < n && s == RK_OK; i++) {
      const display_rec *rec = &c.recs[i];
      int k = rec->eval ? RK_SYNTH_EVAL : RK_SYNTH_TRAIN;
      if (sb[k].b.nrows + rec->n > sb[k].cap) {
        s = split_flush(&sb[k], sinks[k]);
        if (s != RK_OK) break;
      }
      split_append(&sb[k], rec, first + i + 1);
      rows[k] += rec->n;
      displays[k]++;
      for (int j = 0; j < rec->n; j++) {
        leak_clicked += rec->ads[j].leak && rec->ads[j].label;
        leak_other += rec->ads[j].leak && !rec->ads[j].label;
      }
      if (rec->eval) {
        ap_bayes += rec->ap_bayes;
        ap_real += rec->ap_real;
        ap_leak += rec->ap_leak;
        ap_random += rec->ap_random;
      }
    }
    if (s == RK_OK && cfg->progress) cfg->progress(cfg->progress_ctx, first + n, cfg->displays);
  }
  /* The rest, and at least one batch per sink, so both learn the columns. */
  for (int k = 0; k < RK_SYNTH_SPLITS && s == RK_OK; k++)
    if (sb[k].b.nrows > 0 || sb[k].batches == 0) s = split_flush(&sb[k], sinks[k]);
  if (s != RK_OK) {
    s = rk_error_context(s, "writing synthetic outbrain displays");
    goto done;
  }

  if (stats) {
    memset(stats, 0, sizeof *stats);
    stats->config = *cfg;
    stats->config.progress = NULL;
    stats->config.progress_ctx = NULL;
    stats->config.compression = NULL;
    for (int k = 0; k < RK_SYNTH_SPLITS; k++) {
      stats->split_rows[k] = rows[k];
      stats->split_displays[k] = displays[k];
      stats->rows += rows[k];
      stats->displays += displays[k];
    }
    if (stats->rows > 0) {
      stats->mean_ads = (double)stats->rows / (double)stats->displays;
      stats->click_rate = (double)stats->displays / (double)stats->rows;
      int64_t others = stats->rows - stats->displays;
      stats->leak_rate_clicked = (double)leak_clicked / (double)stats->displays;
      stats->leak_rate_other = others > 0 ? (double)leak_other / (double)others : 0.0;
    }
    double ne = (double)displays[RK_SYNTH_EVAL];
    if (ne > 0) {
      stats->bayes_map12 = ap_bayes / ne;
      stats->realized_map12 = ap_real / ne;
      stats->realized_map12_with_leak = ap_leak / ne;
      stats->random_map12 = ap_random / ne;
    }
    stats->seconds = rk_now() - t0;
  }
done:
  for (int k = 0; k < RK_SYNTH_SPLITS; k++) rk_batch_free(&sb[k].b);
  rk_free(c.recs);
  catalogs_free(&c);
  return s;
}

/* ---------------------------------------------------------------------------------------------
 * The Merlin schema.
 * ------------------------------------------------------------------------------------------- */
static rk_status schema_column(rk_schema *schema, int j, double bucket_scale) {
  const col_def *d = &cols[j];
  /* --bucket_scale shrinks the hash tables (small tests); the data does not change. */
  int64_t buckets = (int64_t)llround((double)d->buckets * bucket_scale);
  if (buckets < 2) buckets = 2;
  rk_schema_column *col;
  const char *dtype = col_type(j) == RK_COL_INT32 ? "int32" : col_type(j) == RK_COL_FLOAT32 ? "float32"
                      : col_type(j) == RK_COL_FLOAT64 ? "float64" : "int64";
  RK_TRY(rk_schema_add_column(schema, d->name, dtype, &col));
  const char *side = d->item ? "item" : "context";
  switch (d->kind) {
    case KIND_TARGET:
      RK_TRY(rk_schema_column_add_tag(col, "target"));
      RK_TRY(rk_schema_column_add_tag(col, "binary_classification"));
      RK_TRY(rk_schema_column_set_int_domain(col, 0, 1, false, NULL));
      break;
    case KIND_HASHED:
    case KIND_LIST: {
      RK_TRY(rk_schema_column_add_tag(col, "categorical"));
      if (d->kind == KIND_LIST) RK_TRY(rk_schema_column_add_tag(col, "list"));
      RK_TRY(rk_schema_column_add_tag(col, side));
      if (j == C_AD) RK_TRY(rk_schema_column_add_tag(col, "item_id"));
      RK_TRY(rk_schema_column_set_int_domain(col, 0, d->raw_max, true, NULL));
      if (d->kind == KIND_LIST) RK_TRY(rk_schema_column_set_value_count(col, 1, d->max_len));
      RK_TRY(rk_schema_column_set_property_number(col, "num_buckets", (double)buckets));
      json_t *emb = json_object();
      if (!emb || json_object_set_new(emb, "cardinality", json_real((double)buckets)) != 0 ||
          json_object_set_new(emb, "dimension", json_real((double)d->dim)) != 0) {
        json_decref(emb);
        return RK_ENOMEM;
      }
      RK_TRY(rk_schema_column_set_property(col, "embedding_sizes", emb));
      break;
    }
    case KIND_IDENTITY:
      RK_TRY(rk_schema_column_add_tag(col, "categorical"));
      RK_TRY(rk_schema_column_add_tag(col, side));
      RK_TRY(rk_schema_column_set_int_domain(col, 0, d->buckets - 1, true, NULL));
      RK_TRY(rk_schema_column_set_property(col, "indicator", json_true()));
      break;
    case KIND_CONTINUOUS:
      RK_TRY(rk_schema_column_add_tag(col, "continuous"));
      RK_TRY(rk_schema_column_add_tag(col, side));
      RK_TRY(rk_schema_column_set_float_domain(col, 0.0, 1.0, NULL));
      break;
    default:
      break;
  }
  return RK_OK;
}

rk_status rk_synth_outbrain_schema(rk_schema *out, const rk_synth_outbrain_config *cfg) {
  rk_schema_init(out);
  int ncols = cfg->emit_truth ? NCOLS_TRUTH : NCOLS_BASE;
  rk_status s = RK_OK;
  double scale = cfg->bucket_scale > 0 ? cfg->bucket_scale : 1.0;
  for (int j = 0; j < ncols && s == RK_OK; j++) s = schema_column(out, j, scale);
  if (s != RK_OK) {
    rk_schema_free(out);
    rk_schema_init(out);
    if (s == RK_ENOMEM) s = rk_error(RK_ENOMEM, "out of memory building the outbrain schema");
  }
  return s;
}

/* ---------------------------------------------------------------------------------------------
 * The sidecar.
 * ------------------------------------------------------------------------------------------- */
static json_t *split_json(int64_t rows, int64_t displays) {
  json_t *o = json_object();
  if (!o) return NULL;
  json_object_set_new(o, "displays", json_integer(displays));
  json_object_set_new(o, "rows", json_integer(rows));
  json_object_set_new(o, "mean_ads", json_real(displays > 0 ? (double)rows / (double)displays : 0.0));
  json_object_set_new(o, "click_rate", json_real(rows > 0 ? (double)displays / (double)rows : 0.0));
  return o;
}

rk_status rk_synth_outbrain_write_sidecar(const char *path, const rk_synth_outbrain_stats *stats) {
  const rk_synth_outbrain_config *cfg = &stats->config;
  json_t *root = json_object(), *config = json_object(), *columns = json_array(), *splits = json_object();
  json_t *catalogs = json_object(), *ceiling = json_object();
  if (!root || !config || !columns || !splits || !catalogs || !ceiling) {
    json_decref(root), json_decref(config), json_decref(columns), json_decref(splits), json_decref(catalogs);
    json_decref(ceiling);
    return rk_error(RK_ENOMEM, "out of memory building the sidecar '%s'", path);
  }
  json_object_set_new(root, "generator", json_string("outbrain"));
  json_object_set_new(root, "reckon_version", json_string(rk_version()));
  json_object_set_new(config, "displays", json_integer(cfg->displays));
  json_object_set_new(config, "seed", rk_synth_json_seed(cfg->seed));
  json_object_set_new(config, "eval_fraction", json_real(cfg->eval_fraction));
  json_object_set_new(config, "emit_truth", json_boolean(cfg->emit_truth));
  json_object_set_new(config, "row_group_rows", json_integer(cfg->row_group_rows));
  json_object_set_new(root, "config", config);
  int ncols = cfg->emit_truth ? NCOLS_TRUTH : NCOLS_BASE;
  for (int j = 0; j < ncols; j++) json_array_append_new(columns, json_string(cols[j].name));
  json_object_set_new(root, "columns", columns);
  json_object_set_new(root, "rows", json_integer(stats->rows));
  json_object_set_new(root, "displays", json_integer(stats->displays));
  json_object_set_new(splits, "train", split_json(stats->split_rows[RK_SYNTH_TRAIN], stats->split_displays[RK_SYNTH_TRAIN]));
  json_object_set_new(splits, "eval", split_json(stats->split_rows[RK_SYNTH_EVAL], stats->split_displays[RK_SYNTH_EVAL]));
  json_object_set_new(root, "splits", splits);
  json_object_set_new(root, "mean_ads", json_real(stats->mean_ads));
  json_object_set_new(root, "click_rate", json_real(stats->click_rate));
  json_object_set_new(root, "leak_rate_clicked", json_real(stats->leak_rate_clicked));
  json_object_set_new(root, "leak_rate_other", json_real(stats->leak_rate_other));
  json_object_set_new(ceiling, "k", json_integer(RK_SYNTH_OUTBRAIN_MAP_K));
  json_object_set_new(ceiling, "displays", json_integer(stats->split_displays[RK_SYNTH_EVAL]));
  json_object_set_new(root, "eval_ceiling", ceiling);
  json_object_set_new(root, "bayes_map12", json_real(stats->bayes_map12));
  json_object_set_new(root, "realized_map12", json_real(stats->realized_map12));
  json_object_set_new(root, "realized_map12_with_leak", json_real(stats->realized_map12_with_leak));
  json_object_set_new(root, "random_map12", json_real(stats->random_map12));
  static const struct { const char *name; int64_t n; } sizes[] = {
      {"documents", N_DOCS},     {"ads", N_ADS},           {"campaigns", N_CAMPAIGNS},
      {"advertisers", N_ADVERTISERS}, {"sources", N_SOURCES}, {"publishers", N_PUBLISHERS},
      {"categories", N_CATEGORIES}, {"topics", N_TOPICS},   {"entities", N_ENTITIES},
      {"countries", N_COUNTRIES}, {"states", N_STATES},     {"geo_locations", N_GEOS},
      {"users", N_USERS}};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
    json_object_set_new(catalogs, sizes[i].name, json_integer(sizes[i].n));
  json_object_set_new(root, "catalogs", catalogs);
  json_object_set_new(root, "model", json_string("docs/synth.md"));
  return rk_synth_json_write(path, root);
}

/* ---------------------------------------------------------------------------------------------
 * The dataset folder.
 * ------------------------------------------------------------------------------------------- */
static char *path_join(const char *dir, const char *name) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *p = rk_malloc(n);
  if (p) snprintf(p, n, "%s/%s", dir, name);
  return p;
}

/* Whether `dir` may be replaced: absent, an empty folder, or a folder this generator wrote. */
static rk_status check_target(const char *dir) {
  struct stat sb;
  if (stat(dir, &sb) != 0) {
    if (errno == ENOENT) return RK_OK;
    return rk_error(RK_EIO, "cannot read '%s': %s", dir, strerror(errno));
  }
  if (!S_ISDIR(sb.st_mode)) return rk_error(RK_EUSAGE, "'%s' exists and is not a folder", dir);
  DIR *d = opendir(dir);
  if (!d) return rk_error(RK_EIO, "cannot read '%s': %s", dir, strerror(errno));
  bool empty = true;
  for (struct dirent *e; (e = readdir(d)) != NULL && empty;)
    empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
  closedir(d);
  if (empty) return RK_OK;
  char *sidecar = path_join(dir, "synth.json");
  if (!sidecar) return RK_ENOMEM;
  json_t *j = json_load_file(sidecar, 0, NULL);
  rk_free(sidecar);
  const char *gen = json_string_value(json_object_get(j, "generator"));
  bool ours = gen && strcmp(gen, "outbrain") == 0;
  json_decref(j);
  if (ours) return RK_OK;
  return rk_error(RK_EUSAGE, "'%s' exists and was not written by 'reckon synth outbrain' (no outbrain synth.json): "
                  "remove it or choose another output folder", dir);
}

static rk_status open_split(rk_table_sink **sink, const char *tmp, const char *split, const rk_synth_outbrain_config *cfg) {
  char *dir = path_join(tmp, split);
  char *file = dir ? path_join(dir, "part_0.parquet") : NULL;
  rk_status s = file ? rk_mkdir_p(dir) : RK_ENOMEM;
  if (s == RK_OK) {
    rk_sink_options so;
    rk_sink_options_default(&so);
    so.row_group_size = cfg->row_group_rows;
    if (cfg->compression) so.compression = cfg->compression;
    s = rk_parquet_sink_open(sink, file, &so);
  }
  rk_free(dir);
  rk_free(file);
  return s;
}

static rk_status write_schemas(const char *tmp, const rk_synth_outbrain_config *cfg) {
  rk_schema schema;
  RK_TRY(rk_synth_outbrain_schema(&schema, cfg));
  static const char *const splits[RK_SYNTH_SPLITS] = {"train", "eval"};
  rk_status s = RK_OK;
  for (int k = 0; k < RK_SYNTH_SPLITS && s == RK_OK; k++) {
    char *dir = path_join(tmp, splits[k]);
    s = dir ? rk_schema_write_dataset(&schema, dir) : RK_ENOMEM;
    rk_free(dir);
  }
  rk_schema_free(&schema);
  return s;
}

/* Everything into the fresh folder `tmp`: both splits, their schemas, the sidecar. */
static rk_status write_into(const char *tmp, rk_synth_outbrain_stats *stats, const rk_synth_outbrain_config *cfg) {
  rk_table_sink *sinks[RK_SYNTH_SPLITS] = {NULL, NULL};
  rk_status s = open_split(&sinks[RK_SYNTH_TRAIN], tmp, "train", cfg);
  if (s == RK_OK) s = open_split(&sinks[RK_SYNTH_EVAL], tmp, "eval", cfg);
  if (s == RK_OK) s = rk_synth_outbrain(sinks[RK_SYNTH_TRAIN], sinks[RK_SYNTH_EVAL], stats, cfg);
  for (int k = 0; k < RK_SYNTH_SPLITS; k++) {
    if (!sinks[k]) continue;
    if (s == RK_OK) s = rk_sink_close(sinks[k]);
    else rk_sink_abort(sinks[k]);
  }
  if (s == RK_OK) s = write_schemas(tmp, cfg);
  char *sidecar = s == RK_OK ? path_join(tmp, "synth.json") : NULL;
  if (s == RK_OK && !sidecar) s = RK_ENOMEM;
  if (s == RK_OK) s = rk_synth_outbrain_write_sidecar(sidecar, stats);
  rk_free(sidecar);
  return s;
}

rk_status rk_synth_outbrain_write_dataset(const char *dir_in, rk_synth_outbrain_stats *stats,
                                          const rk_synth_outbrain_config *config) {
  rk_synth_outbrain_config cfg;
  RK_TRY(resolve(&cfg, config));
  size_t len = strlen(dir_in);
  while (len > 1 && dir_in[len - 1] == '/') len--;   /* "out/" is "out": the temporary goes beside it */
  char *dir = rk_malloc(len + 1), *tmp = rk_malloc(len + 32);
  if (!dir || !tmp) {
    rk_free(dir);
    rk_free(tmp);
    return rk_error(RK_ENOMEM, "out of memory writing '%s'", dir_in);
  }
  memcpy(dir, dir_in, len);
  dir[len] = '\0';
  snprintf(tmp, len + 32, "%s.tmp.%ld", dir, (long)getpid());

  rk_synth_outbrain_stats local;
  rk_status s = check_target(dir);
  if (s == RK_OK) s = rk_output_sweep_beside(dir);   /* what killed runs left beside it */
  if (s == RK_OK) s = rk_remove_tree(tmp);
  if (s == RK_OK) {
    s = write_into(tmp, stats ? stats : &local, &cfg);
    if (s == RK_OK) s = rk_replace_dir(tmp, dir);
    if (s != RK_OK) {
      /* Keep the message across the clean-up, which may leave one of its own. */
      char saved[1024];
      if (s == RK_ENOMEM) snprintf(saved, sizeof saved, "out of memory writing '%s'", dir);
      else snprintf(saved, sizeof saved, "writing '%s': %s", dir, rk_error_message());
      (void)rk_remove_tree(tmp);
      s = rk_error(s, "%s", saved);
    }
  }
  rk_free(dir);
  rk_free(tmp);
  return s;
}
