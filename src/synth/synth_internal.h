/*
 * src/synth/synth_internal.h: pieces shared by the generators (src/synth/common.c) and the
 * session model, its oracle and its draws (src/synth/sessions.c), which both session layouts use
 * (sessions.c, sessions_raw.c), exposed to the unit tests so they can check them by brute force.
 * It is not a public API: the CLI uses reckon/synth.h.
 */
#ifndef RECKON_SYNTH_INTERNAL_H
#define RECKON_SYNTH_INTERNAL_H

#include "reckon/synth.h"

/* RNG streams: a tag in the top 8 bits, the subject (row, user id, session ...) below. */
enum {
  RK_SYNTH_TAG_ROW = 1,
  RK_SYNTH_TAG_USER,
  RK_SYNTH_TAG_ITEM,
  RK_SYNTH_TAG_TABLES,       /* small seed-wide tables (effects, category centres) */
  RK_SYNTH_TAG_PERM,         /* keys of the id scramblers */
  RK_SYNTH_TAG_SESSION,
  RK_SYNTH_TAG_SBLOCK,       /* start times of a block of sessions */
  RK_SYNTH_TAG_SUCC,
  RK_SYNTH_TAG_PRICE,
  RK_SYNTH_TAG_CAT,
  RK_SYNTH_TAG_SESSION_USER, /* the user of a session (YOOCHOOSE layout) */
};
static inline uint64_t rk_synth_stream(int tag, uint64_t subject) {
  return ((uint64_t)tag << 56) | (subject & ((UINT64_C(1) << 56) - 1));
}

/* A keyed bijection of [0, n): a 4-round Feistel network on the smallest even-bit power of two
 * >= n, cycle-walking until the value falls inside [0, n) (Black and Rogaway, "Ciphers with
 * arbitrary finite domains", CT-RSA 2002). Scrambles popularity ranks into ids. */
typedef struct {
  uint64_t n;
  int half_bits;
  uint64_t half_mask;
  uint64_t keys[4];
} rk_synth_perm;

void rk_synth_perm_init(rk_synth_perm *p, uint64_t n, uint64_t seed, uint64_t tag);
uint64_t rk_synth_perm_apply(const rk_synth_perm *p, uint64_t x);

/* Zipf-like popularity over ranks 0..n-1: the continuous power law x^-s on [1, n+1), floored.
 * P(rank k) = F(k+2) - F(k+1) is in closed form, decreasing in k, and sampling is one
 * inverse-CDF evaluation with no table, so popularity costs no memory. s = 0 is uniform. */
typedef struct {
  int64_t n;
  double s;
  double log_n1;     /* s == 1: log(n + 1) */
  double span;       /* s != 1: (n + 1)^(1-s) - 1 */
} rk_synth_zipf;

void rk_synth_zipf_init(rk_synth_zipf *z, int64_t n, double s);
int64_t rk_synth_zipf_sample(const rk_synth_zipf *z, double u);   /* u in [0, 1) */
double rk_synth_zipf_pmf(const rk_synth_zipf *z, int64_t k);

/* Dump and free a jansson value (NULL: out of memory) into `path`, atomically. */
struct json_t;
rk_status rk_synth_json_write(const char *path, struct json_t *root);
/* A seed as a JSON integer, or a decimal string above INT64_MAX (JSON integers are signed). */
struct json_t *rk_synth_json_seed(uint64_t seed);

/* Fixed-point scale of the probability sums: integers add in any order to the same total. */
#define RK_SYNTH_FIX 4294967296.0

/* ---------------------------------------------------------------------------------------------
 * The session model: item tables and the next-item mixture (src/synth/sessions.c).
 * Items are handled by popularity rank r (0 = most popular); their id is perm(r) + 1.
 * ------------------------------------------------------------------------------------------- */
typedef struct {
  rk_synth_sessions_config cfg;    /* resolved */
  int64_t n;                       /* items */
  int ncat;
  int nsucc;
  rk_synth_zipf zipf;
  rk_synth_perm perm;
  double *w;                       /* (n) global popularity P(rank) */
  int32_t *cat;                    /* (n) category of a rank, 0-based */
  double *price;                   /* (n) */
  int32_t *succ;                   /* (n, nsucc) successor ranks, distinct, != the item */
  double succ_w[RK_SYNTH_MAX_SUCCESSORS];  /* weights of successor slots, sum 1 */
  int64_t *cat_start;              /* (ncat + 1) offsets into cat_ranks */
  int32_t *cat_ranks;              /* (n) ranks grouped by category, ascending inside each */
  double *cat_cdf;                 /* (n) within-category cumulative popularity, ends at 1 */
  double *cat_mass;                /* (ncat) total popularity of a category */
} rk_synth_sessions_model;

/* The hidden state of a prediction step: the current item and the session's interests. */
typedef struct {
  int32_t cur;                     /* rank */
  int ninterest;                   /* 1 or 2 */
  int32_t interest[2];             /* categories, 0-based, distinct */
  double interest_w[2];            /* sum 1 */
} rk_synth_session_state;

/* The oracle's scores of one step: what ranking items by their true probability earns. */
typedef struct {
  double recall, ndcg, mrr;        /* expected over the next item */
  double popularity_recall;        /* mass of the global top K */
  int32_t top[RK_SYNTH_MAX_TOPK + 1];  /* the exact top K ranks, most probable first (room for
                                          the K + 1 the no-repeat oracle asks for) */
  int ntop;
  bool widened;
} rk_synth_oracle_step;

rk_status rk_synth_sessions_model_init(rk_synth_sessions_model *m, const rk_synth_sessions_config *resolved);
void rk_synth_sessions_model_free(rk_synth_sessions_model *m);
/* Fill defaults that depend on rows (items, sessions) and check every field. */
rk_status rk_synth_sessions_resolve(rk_synth_sessions_config *out, const rk_synth_sessions_config *cfg);
/* True P(next = rank x | state). */
double rk_synth_sessions_next_prob(const rk_synth_sessions_model *m, const rk_synth_session_state *st, int32_t x);
/* The exact top K of P(next | state), by candidate lists and a bound on everything else
 * (k <= RK_SYNTH_MAX_TOPK + 1). */
void rk_synth_sessions_oracle(rk_synth_oracle_step *out, const rk_synth_sessions_model *m,
                              const rk_synth_session_state *st, int k);
/* The same for the chain that never repeats its current item: P(next = x | next != cur)
 * = P(x) / (1 - P(cur)) for x != cur; the top K of P over the other items, rescaled. */
void rk_synth_sessions_oracle_no_repeat(rk_synth_oracle_step *out, const rk_synth_sessions_model *m,
                                        const rk_synth_session_state *st, int k);

/* Draws, in the order a session's stream makes them (both layouts). */
#define RK_SYNTH_SBLOCK 1024       /* sessions per block: the unit of start times and parallel work */
/* Session length: 2 + Geometric with mean cfg.mean_length, clipped to cfg.max_length. */
int rk_synth_sessions_draw_length(const rk_synth_sessions_model *m, rk_rng *rng);
/* Interests: 1 or 2 categories drawn by their popularity (the category of a popular item). */
void rk_synth_sessions_draw_interests(rk_synth_session_state *st, const rk_synth_sessions_model *m, rk_rng *rng);
/* The next item (rank) from the mixture; first: no current item. component: 0 successor, 1
 * interest, 2 global. Three uniforms whatever the branch. */
int32_t rk_synth_sessions_draw_item(const rk_synth_sessions_model *m, const rk_synth_session_state *st, rk_rng *rng,
                                    bool first, int *component);
/* Sorted start offsets (seconds after cfg.start_time) of the sessions of one block; returns their
 * count. Every one is >= rk_synth_sessions_block_lo(cfg, block), which rises with block. */
int64_t rk_synth_sessions_block_starts(double *times, const rk_synth_sessions_config *cfg, int64_t block);
double rk_synth_sessions_block_lo(const rk_synth_sessions_config *cfg, int64_t block);

/* The YOOCHOOSE layout (src/synth/sessions_raw.c), called by rk_synth_sessions on a resolved config. */
rk_status rk_synth_sessions_raw(rk_table_sink *sink, rk_synth_sessions_stats *stats, const rk_synth_sessions_config *cfg,
                                rk_synth_sessions_model *m);
/* The YOOCHOOSE layout's columns (at most 6): names and types; returns the count. */
int rk_synth_sessions_raw_columns(const rk_synth_sessions_config *cfg, const char **names, rk_coltype *types);
/* "2014-04-07T10:51:09.277Z" (24 bytes, no terminator written) for unix milliseconds in years 0..9999. */
void rk_synth_iso8601_ms(char out[24], int64_t unix_ms);

#endif
