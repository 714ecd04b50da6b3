/*
 * `reckon synth tenrec`, `reckon synth sessions` and `reckon synth outbrain`: synthetic datasets
 * with a known best score (src/synth/, docs/synth.md). TenRec and sessions write one CSV
 * (optionally .gz / .zst) or Parquet file, by extension, with a JSON sidecar "<output>.json"
 * holding the rates and the ceiling; outbrain writes a dataset folder (train/, eval/, synth.json).
 */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "reckon/io.h"
#include "reckon/synth.h"

#define TENREC_FLAGS(X)                                                                                  \
  X(rows,        INT,    "1000000", "N in [0, 2^62]", "rows (interactions) to generate")               \
  X(seed,        INT,    "42",      "S >= 0", "random seed: the same seed gives the same bytes")        \
  X(output,      STRING, NULL,      "FILE", "output file: .csv, .tsv (optionally .gz or .zst) or .parquet; " \
                                            "the sidecar goes to FILE.json")                            \
  X(emit_truth,  BOOL,   "false",   NULL,   "add the true probabilities as columns p_click, p_follow, p_like, p_share") \
  X(na_fraction, FLOAT,  "0",       "F in [0, 1]", "share of video_category, gender and age cells written as \\N") \
  X(users,       INT,    "0",       "N in [0, 2^48]", "distinct users (0: rows / 20, at least 100)")    \
  X(items,       INT,    "0",       "N in [0, 2^48]", "distinct items (0: rows / 50, at least 50)")     \
  X(categories,  INT,    "10",      "N in [1, 32767]", "video categories")                              \
  X(latent_dim,  INT,    "8",       "D in [1, 64]", "dimension of the latent user and item factors (at most 64)") \
  X(user_zipf,   FLOAT,  "1.0",     "A in [0, 5]", "popularity skew of users (Zipf exponent)")          \
  X(item_zipf,   FLOAT,  "1.1",     "A in [0, 5]", "popularity skew of items (Zipf exponent)")

typedef struct {
  TENREC_FLAGS(RK_FLAG_FIELD)
} tenrec_opts;
#define RK_FLAG_STRUCT tenrec_opts
static const rk_flag tenrec_flags[] = {TENREC_FLAGS(RK_FLAG_ROW) RK_FLAG_END};
#undef RK_FLAG_STRUCT

#define SESSIONS_FLAGS(X)                                                                                 \
  X(sessions,    INT,    "100000",  "N in [1, 2^56]", "sessions to generate")                            \
  X(days,        INT,    "30",      "D in [1, 36500]", "session starts spread over this many days")      \
  X(seed,        INT,    "42",      "S >= 0", "random seed: the same seed gives the same bytes")          \
  X(output,      STRING, NULL,      "FILE", "output file: .csv, .tsv (optionally .gz or .zst) or .parquet; " \
                                            "the sidecar goes to FILE.json")                              \
  X(layout,      CHOICE, "table",   "table|yoochoose", "table: session_id,item_id,category,price,timestamp (unix seconds) " \
                                            "with a header, sessions in order; yoochoose: the raw click log the session " \
                                            "ETL reads (session_id,timestamp,item_id,category[,price][,user_id], " \
                                            "ISO-8601 times, no CSV header, rows in time order, with repeats and nulls) " \
                                            "and the oracle of each processed session in FILE.oracle.parquet") \
  X(items,       INT,    "0",       "N in [0, 2^31)", "distinct items (0: events / 100, at least 200)")   \
  X(categories,  INT,    "20",      "N in [1, 32767]", "item categories")                                 \
  X(item_zipf,   FLOAT,  "1.0",     "A in [0, 5]", "popularity skew of items (Zipf exponent)")            \
  X(successors,  INT,    "3",       "N in [0, 8]", "fixed successor items per item (at most 8)")          \
  X(p_successor, FLOAT,  "0.5",     "P in [0, 1]", "chance the next item is a successor of the current one") \
  X(p_interest,  FLOAT,  "0.3",     "P in [0, 1]", "chance the next item comes from the session's interest categories") \
  X(mean_length, FLOAT,  "6",       "L in [2, 100000]", "mean session length (events)")                   \
  X(max_length,  INT,    "50",      "L in [2, 100000]", "longest session (events)")                       \
  X(topk,        INT,    "20",      "K in [1, 100]", "K of the sidecar's oracle Recall@K, NDCG@K and MRR@K") \
  X(emit_truth,  BOOL,   "false",   NULL,   "add p_next, topk_mass and topk_hit columns (the oracle's view of each step); " \
                                            "table layout only")                                          \
  X(repeat_prob, FLOAT,  "0.1",     "P in [0, 0.9]", "yoochoose: chance a click is followed by another click on the same item") \
  X(null_fraction, FLOAT, "0.01",   "F in [0, 0.5]", "yoochoose: chance of a null-item click before each chain click but the " \
                                            "first, and of one null-session row per session")             \
  X(price,       BOOL,   "false",   NULL,   "yoochoose: add price, fixed per item around its category's level") \
  X(users,       INT,    "0",       "N in [0, 2^48]", "yoochoose: add user_id, 1..N by Zipf popularity, one per session " \
                                            "(0: no column)")                                             \
  X(session_max_length, INT, "20",  "N in [2, 100000]", "yoochoose: the ETL keeps the last N items of a session " \
                                            "(the oracle file's length is after it)")                     \
  X(session_min_length, INT, "2",   "N in [2, 100000]", "yoochoose: the ETL drops sessions with fewer items (the " \
                                            "oracle leaves them out); at most --session_max_length")

typedef struct {
  SESSIONS_FLAGS(RK_FLAG_FIELD)
} sessions_opts;
#define RK_FLAG_STRUCT sessions_opts
static const rk_flag sessions_flags[] = {SESSIONS_FLAGS(RK_FLAG_ROW) RK_FLAG_END};
#undef RK_FLAG_STRUCT

#define OUTBRAIN_FLAGS(X)                                                                                 \
  X(displays,       INT,    "1000000", "N in [0, 2^48]", "displays (page views with 2 to 12 ads, about 5 on average) to generate") \
  X(seed,           INT,    "42",      "S >= 0", "random seed: the same seed gives the same rows")           \
  X(output,         STRING, NULL,      "DIR", "output folder: DIR/train and DIR/eval (part_*.parquet with the Merlin " \
                                              "schema) and the sidecar DIR/synth.json; an existing DIR is replaced " \
                                              "only when it is empty or was written by this command")      \
  X(eval_fraction,  FLOAT,  "0.1",     "F in [0, 1]", "share of displays (whole displays, drawn by the seed) written to DIR/eval") \
  X(emit_truth,     BOOL,   "false",   NULL,  "add p_click, the true probability that the row's ad is the one clicked " \
                                              "in its display")                                             \
  X(row_group_rows, INT,    "65536",   "N in [1, 2^30]", "rows per Parquet row group")                      \
  X(bucket_scale,   FLOAT,  "1.0",     "F in (0, 1]", "the schema's hash bucket counts times F (at least 2): small tables for " \
                                              "quick runs; the rows are the same")

typedef struct {
  OUTBRAIN_FLAGS(RK_FLAG_FIELD)
} outbrain_opts;
#define RK_FLAG_STRUCT outbrain_opts
static const rk_flag outbrain_flags[] = {OUTBRAIN_FLAGS(RK_FLAG_ROW) RK_FLAG_END};
#undef RK_FLAG_STRUCT

static void show_progress(void *ctx, int64_t done, int64_t total) {
  rk_progress *p = ctx;
  p->total = (double)total;
  rk_progress_update(p, (double)done);
}

static int need_output(const rk_flag_parse *parse, const char *output) {
  if (output) return RK_EXIT_OK;
  return rk_cli_fail(rk_error(RK_EUSAGE, "'reckon %s' needs --output FILE (.csv, .csv.gz, .csv.zst or .parquet)",
                              parse->command));
}

/* Open the sink, generate into it, close it; abort it (no half file) on any failure. */
typedef rk_status (*generate_fn)(rk_table_sink *sink, void *stats, const void *cfg);

static int generate(const char *output, const char *na_value, generate_fn fn, void *stats, const void *cfg) {
  rk_sink_options so;
  rk_sink_options_default(&so);
  so.na_value = na_value;
  rk_table_sink *sink = NULL;
  rk_status st = rk_output_sweep_beside(output);   /* a killed run's "<output>.tmp.<pid>.<n>" */
  if (st == RK_OK) st = rk_sink_open(&sink, output, &so);
  if (st != RK_OK) return rk_cli_fail(st);
  st = fn(sink, stats, cfg);
  if (st != RK_OK) {
    rk_sink_abort(sink);
    return rk_cli_fail(rk_error_context(st, "generating '%s'", output));
  }
  st = rk_sink_close(sink);
  if (st != RK_OK) return rk_cli_fail(st);
  return RK_EXIT_OK;
}

static rk_status tenrec_generate(rk_table_sink *sink, void *stats, const void *cfg) {
  return rk_synth_tenrec(sink, stats, cfg);
}

static int run_tenrec(const rk_flag_parse *parse, void *arg) {
  tenrec_opts *o = arg;
  int rc;
  if ((rc = need_output(parse, o->output))) return rc;
  rk_synth_tenrec_config cfg;
  rk_synth_tenrec_config_default(&cfg);
  cfg.rows = o->rows;
  cfg.seed = (uint64_t)o->seed;
  cfg.users = o->users;
  cfg.items = o->items;
  cfg.categories = (int)o->categories;
  cfg.latent_dim = (int)o->latent_dim;
  cfg.user_zipf = o->user_zipf;
  cfg.item_zipf = o->item_zipf;
  cfg.na_fraction = o->na_fraction;
  cfg.emit_truth = o->emit_truth;
  rk_progress progress;
  rk_progress_begin(&progress, "synth tenrec", (double)o->rows, "rows");
  cfg.progress = show_progress;
  cfg.progress_ctx = &progress;

  rk_synth_tenrec_stats stats;
  rc = generate(o->output, "\\N", tenrec_generate, &stats, &cfg);
  rk_progress_end(&progress);
  if (rc) return rc;
  char sidecar[4096];
  snprintf(sidecar, sizeof sidecar, "%s.json", o->output);
  rk_status st = rk_synth_tenrec_write_sidecar(sidecar, &stats);
  if (st != RK_OK) return rk_cli_fail(st);

  printf("wrote %lld rows to %s in %.2f s (%.2fM rows/s); sidecar %s\n", (long long)stats.rows, o->output,
         stats.seconds, stats.seconds > 0 ? (double)stats.rows / stats.seconds / 1e6 : 0.0, sidecar);
  printf("users %lld, items %lld, categories %d, null cells %lld\n", (long long)stats.config.users,
         (long long)stats.config.items, stats.config.categories, (long long)stats.null_cells);
  printf("%-8s %10s %10s %10s\n", "target", "positives", "rate", "best AUC");
  for (int t = 0; t < RK_SYNTH_TENREC_TARGETS; t++)
    printf("%-8s %10lld %9.4f%% %10.4f\n", rk_synth_tenrec_target_name((rk_synth_tenrec_target)t),
           (long long)stats.positives[t], 100.0 * stats.positive_rate[t], stats.bayes_auc[t]);
  printf("watching_times: mean %.3f, best RMSE %.3f\n", stats.watching_times_mean, stats.watching_times_bayes_rmse);
  return RK_EXIT_OK;
}

/* Flags of the yoochoose layout given with the table layout are an error, not ignored. */
static int check_layout_flags(const rk_flag_parse *parse, bool raw) {
  static const char *const raw_only[] = {"repeat_prob", "null_fraction", "price", "users", "session_max_length",
                                         "session_min_length"};
  for (size_t i = 0; !raw && i < sizeof raw_only / sizeof *raw_only; i++)
    if (rk_flags_given(parse, raw_only[i]))
      return rk_cli_fail(rk_error(RK_EUSAGE, "--%s is for --layout yoochoose (the layout is table)", raw_only[i]));
  if (raw && rk_flags_given(parse, "emit_truth"))
    return rk_cli_fail(rk_error(RK_EUSAGE, "--emit_truth is for --layout table; --layout yoochoose writes the oracle "
                                           "of each processed session to FILE.oracle.parquet"));
  return RK_EXIT_OK;
}

/* Both files or neither: the oracle rows go to a second sink, closed before the log. */
static int sessions_write(const char *output, const char *oracle_path, rk_synth_sessions_config *cfg,
                          rk_synth_sessions_stats *stats) {
  rk_sink_options so;
  rk_sink_options_default(&so);
  so.omit_header = oracle_path != NULL;   /* YOOCHOOSE's files have no header */
  rk_table_sink *sink = NULL, *oracle = NULL;
  rk_status st = rk_output_sweep_beside(output);   /* a killed run's "<output>.tmp.<pid>.<n>" */
  if (st == RK_OK && oracle_path) st = rk_output_sweep_beside(oracle_path);
  if (st == RK_OK) st = rk_sink_open(&sink, output, &so);
  if (st == RK_OK && oracle_path) {
    rk_sink_options oo;
    rk_sink_options_default(&oo);
    oo.row_group_size = 65536;   /* memory: one small row group at a time, not the writer's 1Mi rows */
    st = rk_sink_open(&oracle, oracle_path, &oo);
  }
  cfg->session_oracle = oracle;
  if (st == RK_OK) st = rk_synth_sessions(sink, stats, cfg);
  if (st != RK_OK) st = rk_error_context(st, "generating '%s'", output);
  if (st == RK_OK && oracle) {
    st = rk_sink_close(oracle);
    oracle = NULL;
  }
  if (st == RK_OK) {
    st = rk_sink_close(sink);
    sink = NULL;
  }
  if (oracle) rk_sink_abort(oracle);
  if (sink) rk_sink_abort(sink);
  return st == RK_OK ? RK_EXIT_OK : rk_cli_fail(st);
}

static int run_sessions(const rk_flag_parse *parse, void *arg) {
  sessions_opts *o = arg;
  int rc;
  if ((rc = need_output(parse, o->output))) return rc;
  bool raw = strcmp(o->layout, "yoochoose") == 0;
  if ((rc = check_layout_flags(parse, raw))) return rc;
  rk_synth_sessions_config cfg;
  rk_synth_sessions_config_default(&cfg);
  cfg.sessions = o->sessions;
  cfg.rows = (int64_t)((double)o->sessions * o->mean_length);   /* sizes the default item count */
  cfg.days = (int)o->days;
  cfg.seed = (uint64_t)o->seed;
  cfg.items = o->items;
  cfg.categories = (int)o->categories;
  cfg.item_zipf = o->item_zipf;
  cfg.successors = (int)o->successors;
  cfg.p_successor = o->p_successor;
  cfg.p_interest = o->p_interest;
  cfg.mean_length = o->mean_length;
  cfg.max_length = (int)o->max_length;
  cfg.topk = (int)o->topk;
  cfg.emit_truth = o->emit_truth;
  cfg.layout = raw ? RK_SYNTH_SESSIONS_YOOCHOOSE : RK_SYNTH_SESSIONS_TABLE;
  cfg.repeat_prob = o->repeat_prob;
  cfg.null_fraction = o->null_fraction;
  cfg.price = o->price;
  cfg.users = o->users;
  cfg.session_max_length = (int)o->session_max_length;
  cfg.session_min_length = (int)o->session_min_length;
  rk_progress progress;
  rk_progress_begin(&progress, "synth sessions", (double)o->sessions * o->mean_length, "rows");
  cfg.progress = show_progress;
  cfg.progress_ctx = &progress;

  char sidecar[4096], oracle[4096];
  snprintf(sidecar, sizeof sidecar, "%s.json", o->output);
  snprintf(oracle, sizeof oracle, "%s.oracle.parquet", o->output);
  rk_synth_sessions_stats stats;
  memset(&stats, 0, sizeof stats);
  rc = sessions_write(o->output, raw ? oracle : NULL, &cfg, &stats);
  rk_progress_end(&progress);
  if (rc) return rc;
  rk_status st = rk_synth_sessions_write_sidecar(sidecar, &stats);
  rk_synth_sessions_stats_free(&stats);
  if (st != RK_OK) return rk_cli_fail(st);
  printf("wrote %lld events in %lld sessions to %s in %.2f s; sidecar %s%s%s\n", (long long)stats.rows,
         (long long)stats.sessions, o->output, stats.seconds, sidecar, raw ? ", per-session oracle " : "",
         raw ? oracle : "");
  if (raw)
    printf("chain clicks %lld, repeats %lld, null items %lld, null sessions %lld; best possible last-item scores over "
           "%lld processed sessions at K=%d: Recall %.4f, NDCG %.4f, MRR %.4f (popularity: Recall %.4f)\n",
           (long long)stats.chain_clicks, (long long)stats.repeat_rows, (long long)stats.null_item_rows,
           (long long)stats.null_session_rows, (long long)stats.steps, stats.config.topk, stats.oracle_recall,
           stats.oracle_ndcg, stats.oracle_mrr, stats.popularity_recall);
  else
    printf("items %lld, mean length %.2f; best possible next-item scores at K=%d: Recall %.4f, NDCG %.4f, MRR %.4f "
           "(popularity: Recall %.4f)\n",
           (long long)stats.config.items, stats.mean_length, stats.config.topk, stats.oracle_recall, stats.oracle_ndcg,
           stats.oracle_mrr, stats.popularity_recall);
  return RK_EXIT_OK;
}

static int run_outbrain(const rk_flag_parse *parse, void *arg) {
  outbrain_opts *o = arg;
  if (!o->output)
    return rk_cli_fail(rk_error(RK_EUSAGE, "'reckon %s' needs --output DIR (a folder for train/, eval/ and synth.json)",
                                parse->command));
  rk_synth_outbrain_config cfg;
  rk_synth_outbrain_config_default(&cfg);
  cfg.displays = o->displays;
  cfg.seed = (uint64_t)o->seed;
  cfg.eval_fraction = o->eval_fraction;
  cfg.emit_truth = o->emit_truth;
  cfg.row_group_rows = o->row_group_rows;
  cfg.bucket_scale = o->bucket_scale;
  rk_progress progress;
  rk_progress_begin(&progress, "synth outbrain", (double)o->displays, "displays");
  cfg.progress = show_progress;
  cfg.progress_ctx = &progress;

  rk_synth_outbrain_stats stats;
  rk_status st = rk_synth_outbrain_write_dataset(o->output, &stats, &cfg);
  rk_progress_end(&progress);
  if (st != RK_OK) return rk_cli_fail(st);
  if (parse->globals.quiet) return RK_EXIT_OK;
  printf("wrote %lld rows in %lld displays to %s in %.2f s: train %lld displays (%lld rows), eval %lld displays "
         "(%lld rows); sidecar %s/synth.json\n",
         (long long)stats.rows, (long long)stats.displays, o->output, stats.seconds,
         (long long)stats.split_displays[RK_SYNTH_TRAIN], (long long)stats.split_rows[RK_SYNTH_TRAIN],
         (long long)stats.split_displays[RK_SYNTH_EVAL], (long long)stats.split_rows[RK_SYNTH_EVAL], o->output);
  printf("mean ads per display %.3f, click rate %.4f\n", stats.mean_ads, stats.click_rate);
  printf("MAP@12 on eval: best possible %.4f (realized %.4f, with the leak %.4f), random ranking %.4f\n",
         stats.bayes_map12, stats.realized_map12, stats.realized_map12_with_leak, stats.random_map12);
  return RK_EXIT_OK;
}

const rk_command rk_cmd_synth_tenrec = {
    .name = "synth tenrec",
    .usage = "reckon synth tenrec --rows N --seed S --output FILE [flags]",
    .summary = "generate TenRec-like interactions (click, follow, like, share, watching_times) with known best AUC",
    .details = "Columns, as in TenRec's QK-video.csv: `user_id,item_id,click,follow,like,share,video_category,"
               "watching_times,gender,age`. Targets are drawn from a known model (latent user and item factors "
               "plus feature effects); `follow`, `like` and `share` happen only after a click. The sidecar "
               "`FILE.json` holds the positive rates and the Bayes-optimal AUC of each target, the ceiling any "
               "model can reach; `--emit_truth` adds the true probabilities so the ceiling can be recomputed on "
               "exactly the rows that are evaluated. Output is byte-identical for any `--threads`. "
               "See docs/synth.md.",
    .flags = tenrec_flags,
    .opts_size = sizeof(tenrec_opts),
    .run = run_tenrec,
};

const rk_command rk_cmd_synth_sessions = {
    .name = "synth sessions",
    .usage = "reckon synth sessions --sessions N --days D --seed S --output FILE [--layout yoochoose] [flags]",
    .summary = "generate session logs (a table, or YOOCHOOSE's raw click log) with known best Recall@K",
    .details = "Each next item is drawn from a known mixture: a successor of the current item, an item of the "
               "session's interest categories, or a globally popular item. The sidecar `FILE.json` gives the "
               "Recall@K, NDCG@K and MRR@K of ranking by that true distribution, the best any model can do: over "
               "every step with `--layout table`; with `--layout yoochoose` (the raw log the session ETL of "
               "`reckon preprocess` reads), for the last item of each session as the ETL leaves it, overall and "
               "per day, and per session in `FILE.oracle.parquet` (join on session_id to average any split). "
               "Output is byte-identical for any `--threads`. See docs/synth.md.",
    .flags = sessions_flags,
    .opts_size = sizeof(sessions_opts),
    .run = run_sessions,
};

const rk_command rk_cmd_synth_outbrain = {
    .name = "synth outbrain",
    .usage = "reckon synth outbrain --displays N --seed S --output DIR [flags]",
    .summary = "generate Outbrain-like click logs in the Wide & Deep recipe's columns, with known best MAP@12",
    .details = "Each display shows 2 to 12 ads (about 5 on average); exactly one is clicked, drawn from a softmax "
               "over a known score (ad, campaign, advertiser and document effects, matches between the viewed "
               "document, the user's interests and the ad's document, traffic_source x advertiser and "
               "event_country x source crosses). Columns are the training columns of NVIDIA's Wide & Deep recipe "
               "(DeepLearningExamples TensorFlow/Recommendation/WideAndDeep): `display_id`, `ad_id`, `label`, "
               "`is_leak`, raw int64 ids for the hashed columns, 0-based values for the identity columns, "
               "`list<int64>` for the multi-hot ones and 32 numeric columns in [0, 1]. The Merlin schema carries "
               "the recipe's hash buckets (`num_buckets`), embedding sizes (`embedding_sizes`) and identity "
               "columns (`indicator`). `DIR/synth.json` gives the MAP@12 of ranking the eval displays by the true "
               "probabilities (`bayes_map12`), the ceiling any model can reach, next to a random ranking's. "
               "Everything is built in `DIR.tmp.<pid>` and moved into place at the end. Rows are identical for "
               "any `--threads` and `--row_group_rows`. See docs/synth.md.",
    .flags = outbrain_flags,
    .opts_size = sizeof(outbrain_opts),
    .run = run_outbrain,
};
