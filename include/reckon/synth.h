/*
 * reckon/synth.h: synthetic datasets whose signal is known, for tests, examples and benchmarks.
 *
 * Three generators, each a config struct with defaults, one entry point that writes batches through
 * rk_table_sinks (Outbrain: one per split), and a function that writes the JSON sidecar (the resolved config, the rates
 * that came out, and the best score any model can reach on the data):
 *   - TenRec-like multi-task ranking rows (src/synth/tenrec.c): user_id, item_id, click, follow,
 *     like, share, video_category, watching_times, gender, age. Targets are drawn from a known
 *     logistic model, so the Bayes-optimal AUC of each target is known.
 *   - Session logs (src/synth/sessions.c): session_id, item_id, category, price, timestamp, the
 *     next item drawn from a known mixture, so the Recall@K / NDCG@K / MRR@K of the true next-item
 *     distribution is known; or the same sessions as YOOCHOOSE's raw click log
 *     (src/synth/sessions_raw.c) with the oracle of the last item of each session the ETL keeps.
 *   - Outbrain click prediction as NVIDIA's Wide & Deep recipe trains on it (src/synth/outbrain.c):
 *     displays of 2 to 12 ads, one clicked, drawn from a softmax over known effects, so the MAP@12
 *     of the true probabilities is known. Two splits (train, eval) and a Merlin schema.
 * It is not: a reader of the real TenRec, YOOCHOOSE or Outbrain files, nor the `reckon synth`
 * command (src/cli/), which parses flags into these structs.
 *
 * Output depends only on the config (seed included): never on the thread count or batch size.
 * Memory is bounded by batch_rows (TenRec), by the item tables (sessions) or by row_group_rows
 * and small id tables (Outbrain), not by rows.
 * The caller owns the sink: the generators write and never close or abort it.
 * Models and the meaning of the sidecar: docs/synth.md.
 * References: TenRec (Yuan et al., "Tenrec: A Large-scale Multipurpose Benchmark Dataset for
 * Recommender Systems", NeurIPS 2022 Datasets track), QK-video.csv columns;
 * YOOCHOOSE (RecSys Challenge 2015) for the session layout; Outbrain Click Prediction (Kaggle
 * 2016) and NVIDIA DeepLearningExamples TensorFlow/Recommendation/WideAndDeep trainer/features.py
 * for the Outbrain columns, hash buckets and embedding sizes.
 */
#ifndef RECKON_SYNTH_H
#define RECKON_SYNTH_H

#include "reckon/core.h"
#include "reckon/io.h"
#include "reckon/schema.h"

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

/* TABLE: session_id, item_id, category, price, timestamp (unix seconds), sessions in order, every
 * chain step scored by the oracle. YOOCHOOSE: the raw click log the session ETL reads (session_id,
 * timestamp as ISO-8601 text, item_id, category [, price] [, user_id]; no CSV header), events in
 * time order with repeats and nulls, the oracle scoring the last item of each processed session. */
typedef enum { RK_SYNTH_SESSIONS_TABLE, RK_SYNTH_SESSIONS_YOOCHOOSE } rk_synth_sessions_layout;

/* The YOOCHOOSE layout's oracle over the processed sessions whose first event falls on one day. */
typedef struct {
  int day_index;                 /* whole days since the first session's day, + 1 */
  int64_t sessions;
  double recall, ndcg, mrr;      /* means over those sessions */
} rk_synth_sessions_day;

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
  rk_synth_sessions_layout layout;   /* default RK_SYNTH_SESSIONS_TABLE */
  /* The YOOCHOOSE layout only (src/synth/sessions_raw.c): */
  double repeat_prob;          /* P(a click is followed by another click on the same item) (0.1) */
  double null_fraction;        /* P(a null-item click before a chain click), P(a null-session row
                                  per session) (0.01) */
  bool price;                  /* add the item's price (float64) */
  int64_t users;               /* add user_id, 1..users, one per session (0: no column) */
  int session_max_length;      /* the ETL keeps the last N items of a session (default 20) */
  int session_min_length;      /* the ETL drops sessions with fewer items (default 2) */
  rk_table_sink *session_oracle;   /* optional: one row per processed session (docs/synth.md) */
  rk_synth_progress_fn progress;   /* optional */
  void *progress_ctx;
} rk_synth_sessions_config;

typedef struct {
  rk_synth_sessions_config config;   /* as run: sessions and items resolved */
  int64_t rows;
  int64_t sessions;
  int64_t steps;                 /* predictions scored: TABLE rows - sessions (steps 2..n);
                                    YOOCHOOSE: processed sessions (their last item) */
  double successor_share;        /* realized share of steps drawn from the successor component */
  double interest_share;         /* ... from the interest component */
  double mean_length;            /* realized */
  double oracle_recall;          /* expected Recall@K of the true next-item ranking */
  double oracle_ndcg;            /* expected NDCG@K (one relevant item per step) */
  double oracle_mrr;             /* expected MRR@K */
  double popularity_recall;      /* expected Recall@K of always ranking the global top K */
  int64_t oracle_widenings;      /* steps whose exact top K needed wider candidate lists */
  /* YOOCHOOSE only: */
  int64_t chain_clicks;          /* clicks of the hidden chains (no repeats, no nulls) */
  int64_t repeat_rows;           /* injected copies of the previous click */
  int64_t null_item_rows;
  int64_t null_session_rows;
  double realized_recall;        /* share of processed sessions whose last item is in the top K */
  rk_synth_sessions_day *days;   /* (ndays) days with sessions, ascending; free with _stats_free */
  int ndays;
  double seconds;
} rk_synth_sessions_stats;

void rk_synth_sessions_config_default(rk_synth_sessions_config *cfg);
rk_status rk_synth_sessions(rk_table_sink *sink, rk_synth_sessions_stats *stats, const rk_synth_sessions_config *cfg);
rk_status rk_synth_sessions_write_sidecar(const char *path, const rk_synth_sessions_stats *stats);
/* Frees stats->days (allocated by the YOOCHOOSE layout only); the stats stay readable. */
void rk_synth_sessions_stats_free(rk_synth_sessions_stats *stats);

/* ---------------------------------------------------------------------------------------------
 * Outbrain click prediction, Wide & Deep recipe columns (src/synth/outbrain.c)
 * ------------------------------------------------------------------------------------------- */
#define RK_SYNTH_OUTBRAIN_MAX_ADS 12     /* ads in one display: 2..12 */
#define RK_SYNTH_OUTBRAIN_MAP_K   12     /* K of the sidecar's MAP@K, as in the Kaggle competition */

typedef enum { RK_SYNTH_TRAIN, RK_SYNTH_EVAL, RK_SYNTH_SPLITS } rk_synth_split;

typedef struct {
  int64_t displays;            /* displays to write, both splits (default 1000000) */
  uint64_t seed;               /* default 42 */
  double eval_fraction;        /* share of displays drawn into eval, whole displays (default 0.1) */
  bool emit_truth;             /* add p_click (float64): the row's true softmax probability */
  int64_t row_group_rows;      /* rows per batch given to each sink, whole displays, and per
                                  Parquet row group in rk_synth_outbrain_write_dataset
                                  (default 65536; batches hold at least 12 rows) */
  const char *compression;     /* rk_synth_outbrain_write_dataset's Parquet codec (NULL: snappy) */
  double bucket_scale;         /* the schema's num_buckets times this, at least 2 (default 1: the
                                  recipe's; smaller for small tests; the rows do not change) */
  rk_synth_progress_fn progress;   /* optional; counts displays (done, of cfg->displays), not rows */
  void *progress_ctx;
} rk_synth_outbrain_config;

typedef struct {
  rk_synth_outbrain_config config;   /* as run (progress and compression cleared) */
  int64_t rows;                      /* both splits */
  int64_t displays;
  int64_t split_rows[RK_SYNTH_SPLITS];
  int64_t split_displays[RK_SYNTH_SPLITS];
  double mean_ads;                   /* rows / displays */
  double click_rate;                 /* label = 1 rows / rows (= displays / rows) */
  double leak_rate_clicked;          /* realized share of is_leak = 1 among clicked rows */
  double leak_rate_other;            /* ... among the other rows */
  /* MAP@12 over the eval displays (0 when eval is empty). With one clicked ad per display,
   * AP@12 = 1/rank of the clicked ad (0 past rank 12). Rankings sort by score, descending, ties
   * by row order. */
  double bayes_map12;                /* expected over the clicks: mean of sum_i p_i / rank_i, ranked by p */
  double realized_map12;             /* ranked by p, scored on the clicks written */
  double realized_map12_with_leak;   /* ranked by p + is_leak, scored on the clicks written */
  double random_map12;               /* expected under a uniformly random ranking: mean H_n / n */
  double seconds;
} rk_synth_outbrain_stats;

void rk_synth_outbrain_config_default(rk_synth_outbrain_config *cfg);
/* Writes cfg->displays displays, each one's rows to `train` or `eval` (at least one batch each,
 * possibly empty, so both sinks learn the columns). stats may be NULL. RK_EINVAL names the bad
 * field of an invalid config. Columns and the click model: docs/synth.md. */
rk_status rk_synth_outbrain(rk_table_sink *train, rk_table_sink *eval, rk_synth_outbrain_stats *stats,
                            const rk_synth_outbrain_config *cfg);
/* The Merlin schema of the rows (initialises `out`; p_click only with emit_truth): tags, domains,
 * value counts and the recipe's hash buckets and embedding sizes as column properties. */
rk_status rk_synth_outbrain_schema(rk_schema *out, const rk_synth_outbrain_config *cfg);
/* The sidecar JSON, written atomically. */
rk_status rk_synth_outbrain_write_sidecar(const char *path, const rk_synth_outbrain_stats *stats);
/* The whole dataset folder: dir/train/part_0.parquet, dir/eval/part_0.parquet, each with the Merlin
 * schema (schema.pbtxt, .merlin/schema.json), and dir/synth.json. Built in "<dir>.tmp.<pid>" and
 * swapped into place at the end, so a failure leaves dir as it was. An existing dir is replaced
 * only when it is empty or holds an Outbrain synth.json; anything else is RK_EUSAGE. */
rk_status rk_synth_outbrain_write_dataset(const char *dir, rk_synth_outbrain_stats *stats,
                                          const rk_synth_outbrain_config *cfg);

#ifdef __cplusplus
}
#endif
#endif /* RECKON_SYNTH_H */
