/*
 * reckon/synth.h: synthetic datasets whose signal is known, for tests, examples and benchmarks.
 *
 * Two generators, each a config struct with defaults, one entry point that writes batches through
 * an rk_table_sink, and a function that writes the JSON sidecar (the resolved config, the rates
 * that came out, and the best score any model can reach on the data):
 *   - TenRec-like multi-task ranking rows (src/synth/tenrec.c): user_id, item_id, click, follow,
 *     like, share, video_category, watching_times, gender, age. Targets are drawn from a known
 *     logistic model, so the Bayes-optimal AUC of each target is known.
 *   - Session logs (src/synth/sessions.c): session_id, item_id, category, price, timestamp, the
 *     next item drawn from a known mixture, so the Recall@K / NDCG@K / MRR@K of the true next-item
 *     distribution is known.
 * It is not: a reader of the real TenRec or YOOCHOOSE files, nor the `reckon synth` command
 * (src/cli/), which parses flags into these structs.
 *
 * Output depends only on the config (seed included): never on the thread count or batch size.
 * Memory is bounded by batch_rows (TenRec) or by the item tables (sessions), not by rows.
 * The caller owns the sink: the generators write and never close or abort it.
 * Models and the meaning of the sidecar: docs/synth.md.
 * References: TenRec (Yuan et al., "Tenrec: A Large-scale Multipurpose Benchmark Dataset for
 * Recommender Systems", NeurIPS 2022 Datasets track), QK-video.csv columns;
 * YOOCHOOSE (RecSys Challenge 2015) for the session layout.
 */
#ifndef RECKON_SYNTH_H
#define RECKON_SYNTH_H

#include "reckon/core.h"
#include "reckon/io.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Called on the calling thread after each batch is written: rows written so far, of about total. */
typedef void (*rk_synth_progress_fn)(void *ctx, int64_t rows_done, int64_t rows_total);

/* ---------------------------------------------------------------------------------------------
 * TenRec-like rows (src/synth/tenrec.c)
 * ------------------------------------------------------------------------------------------- */
typedef enum {
  RK_SYNTH_CLICK,
  RK_SYNTH_FOLLOW,
  RK_SYNTH_LIKE,
  RK_SYNTH_SHARE,
  RK_SYNTH_TENREC_TARGETS      /* 4 binary targets */
} rk_synth_tenrec_target;

typedef struct {
  int64_t rows;                /* rows to write (default 1000000) */
  uint64_t seed;               /* default 42 */
  int64_t users;               /* 0 = max(rows / 20, 100) */
  int64_t items;               /* 0 = max(rows / 50, 50) */
  int categories;              /* video_category values 0..categories-1 (default 10) */
  int latent_dim;              /* D of the latent user and item factors (default 8, at most 64) */
  double user_zipf;            /* popularity exponent of users (default 1.0) */
  double item_zipf;            /* popularity exponent of items (default 1.1) */
  double na_fraction;          /* share of null cells in video_category, gender, age (default 0) */
  bool emit_truth;             /* add float64 columns p_click, p_follow, p_like, p_share */
  int64_t batch_rows;          /* rows per batch given to the sink (default 65536) */
  rk_synth_progress_fn progress;   /* optional */
  void *progress_ctx;
} rk_synth_tenrec_config;

typedef struct {
  rk_synth_tenrec_config config;   /* as run: users and items resolved */
  int64_t rows;
  int64_t positives[RK_SYNTH_TENREC_TARGETS];       /* realized labels */
  double positive_rate[RK_SYNTH_TENREC_TARGETS];    /* realized: positives / rows */
  double expected_rate[RK_SYNTH_TENREC_TARGETS];    /* mean true probability over the rows */
  double bayes_auc[RK_SYNTH_TENREC_TARGETS];        /* AUC of the true probabilities (expected) */
  double watching_times_mean;      /* realized */
  double watching_times_bayes_rmse;  /* sqrt(mean conditional variance): best possible RMSE */
  int64_t null_cells;              /* cells written as null */
  double seconds;                  /* wall time of the generation */
} rk_synth_tenrec_stats;

void rk_synth_tenrec_config_default(rk_synth_tenrec_config *cfg);
/* "click", "follow", "like", "share". */
const char *rk_synth_tenrec_target_name(rk_synth_tenrec_target target);
/* Writes cfg->rows rows (at least one batch, possibly empty, so the sink learns the columns).
 * stats may be NULL. RK_EINVAL names the bad field of an invalid config. */
rk_status rk_synth_tenrec(rk_table_sink *sink, rk_synth_tenrec_stats *stats, const rk_synth_tenrec_config *cfg);
/* The sidecar JSON (by convention "<output>.json"), written atomically. */
rk_status rk_synth_tenrec_write_sidecar(const char *path, const rk_synth_tenrec_stats *stats);

/* ---------------------------------------------------------------------------------------------
 * Session logs (src/synth/sessions.c)
 * ------------------------------------------------------------------------------------------- */
#define RK_SYNTH_MAX_SUCCESSORS 8
#define RK_SYNTH_MAX_TOPK 100

typedef struct {
  int64_t rows;                /* about this many rows (default 1000000); used when sessions == 0 */
  int64_t sessions;            /* 0 = rows / mean_length */
  uint64_t seed;               /* default 42 */
  int64_t items;               /* 0 = max(rows / 100, 200) */
  int categories;              /* category values 1..categories (default 20) */
  double item_zipf;            /* global popularity exponent (default 1.0) */
  int successors;              /* fixed successor items per item (default 3, at most 8) */
  double p_successor;          /* mixture weight a of "a successor of the current item" (0.5) */
  double p_interest;           /* mixture weight b of "an item of an interest category" (0.3) */
  double mean_length;          /* mean session length, > 2 (default 6) */
  int max_length;              /* longest session (default 50, at least 2) */
  int days;                    /* session starts spread over this many days (default 30) */
  int64_t start_time;          /* unix seconds of the first day (default 1640995200, 2022-01-01) */
  double mean_gap_s;           /* mean seconds between events of a session (default 60) */
  int topk;                    /* K of the sidecar's Recall@K, NDCG@K, MRR@K (default 20) */
  bool emit_truth;             /* add p_next (float64), topk_mass (float64), topk_hit (int8);
                                  null on each session's first row */
  int64_t batch_rows;          /* about this many rows per batch, whole sessions (default 65536) */
  rk_synth_progress_fn progress;   /* optional */
  void *progress_ctx;
} rk_synth_sessions_config;

typedef struct {
  rk_synth_sessions_config config;   /* as run: sessions and items resolved */
  int64_t rows;
  int64_t sessions;
  int64_t steps;                 /* predictions scored: rows - sessions (steps 2..n) */
  double successor_share;        /* realized share of steps drawn from the successor component */
  double interest_share;         /* ... from the interest component */
  double mean_length;            /* realized */
  double oracle_recall;          /* expected Recall@K of the true next-item ranking */
  double oracle_ndcg;            /* expected NDCG@K (one relevant item per step) */
  double oracle_mrr;             /* expected MRR@K */
  double popularity_recall;      /* expected Recall@K of always ranking the global top K */
  int64_t oracle_widenings;      /* steps whose exact top K needed wider candidate lists */
  double seconds;
} rk_synth_sessions_stats;

void rk_synth_sessions_config_default(rk_synth_sessions_config *cfg);
rk_status rk_synth_sessions(rk_table_sink *sink, rk_synth_sessions_stats *stats, const rk_synth_sessions_config *cfg);
rk_status rk_synth_sessions_write_sidecar(const char *path, const rk_synth_sessions_stats *stats);

#ifdef __cplusplus
}
#endif
#endif /* RECKON_SYNTH_H */
