/*
 * src/synth/sessions_raw.c: the session model written as a raw YOOCHOOSE click log, with an oracle
 * for the task the session ETL makes of it.
 *
 * Rows: session_id, timestamp, item_id, category [, price] [, user_id], as yoochoose-clicks.dat
 * has them (timestamp as ISO-8601 UTC text with milliseconds, "2014-04-07T10:51:09.277Z"), in
 * time order across sessions, as a real log: grouping by session is needed.
 * Each session is a hidden chain of items from the model of sessions.c that never repeats its
 * current item (a draw equal to it is redrawn), dressed with noise the ETL must remove:
 *   - after every click, with probability repeat_prob, one more click on the same item (so runs
 *     are geometric): exact copies that dropping consecutive repeats removes;
 *   - before every chain click but the first, with probability null_fraction, a click with a null
 *     item (and null category and price): never first, never last, never next to another null;
 *   - per session, with probability null_fraction, one row with a null session_id (dropped by the
 *     ETL) at a time inside the session.
 * So after the ETL's steps (drop null sessions, sort, drop consecutive repeats, keep the last
 * session_max_length items, drop sessions with fewer than session_min_length) a session is its
 * chain with its null clicks in place, and its last item is the chain's last item, drawn from
 * P(x | current item, interests, x != current). The oracle ranks items by that distribution; one
 * row per processed session (session_oracle sink) gives its expected hit, NDCG and reciprocal
 * rank at K, so any subset (a day's valid split) can be averaged exactly by joining on session_id.
 * It is not: the table layout (sessions.c), nor the ETL (reckon preprocess).
 * References: YOOCHOOSE (RecSys Challenge 2015) yoochoose-clicks.dat; NVIDIA Transformers4Rec's
 * 01-ETL-with-NVTabular notebook for the processing the oracle describes. docs/synth.md.
 *
 * Determinism: a session's rows and oracle are keyed by (seed, session); rows are sorted by
 * (time, session, position in the session), a total order, and emitted in batches up to the
 * lowest start time any later session can have; sums run serially in session order. Output is
 * the same for any thread count and batch size.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "synth/synth_internal.h"

#define MS_DAY          86400000
#define MAX_REDRAWS     1000    /* a chain draw equal to the current item is redrawn; P(cur)^1000 is nil */
#define MAX_REPEATS     1000    /* repeats of one click: repeat_prob^1000 is nil */
#define ISO_LEN         24

enum { COL_SESSION, COL_TIME, COL_ITEM, COL_CATEGORY };
enum { ORC_SESSION, ORC_DAY, ORC_FIRST, ORC_LENGTH, ORC_LAST, ORC_HIT, ORC_NDCG, ORC_RR, ORC_REALIZED, ORC_NCOLS };
static const char *const orc_names[ORC_NCOLS] = {"session_id", "day_index", "first_event_ms", "length", "last_item_id",
                                                 "expected_hit", "expected_ndcg", "expected_rr", "realized_hit"};
static const rk_coltype orc_types[ORC_NCOLS] = {RK_COL_INT64, RK_COL_INT32, RK_COL_INT64, RK_COL_INT32, RK_COL_INT64,
                                                RK_COL_FLOAT64, RK_COL_FLOAT64, RK_COL_FLOAT64, RK_COL_INT8};

/* One row of the log before it is sorted into place. */
typedef struct {
  int64_t t_ms;
  int64_t session;       /* 0-based; the id written is session + 1 */
  int32_t seq;           /* position among the session's rows: the last key of the total order */
  int32_t item;          /* rank; -1 for a null item */
  bool null_session;
} raw_event;

/* A session as the ETL will see it, and what the oracle expects of its last item. */
typedef struct {
  int64_t first_ms;
  int32_t length;        /* after dedup and slicing; 0 when the min-length filter drops it */
  int32_t last;          /* rank of the last item */
  double hit, ndcg, rr, pop;
  bool realized;         /* the last item is in the oracle's top K */
} raw_session;

typedef struct {
  raw_event *ev;
  int64_t n, cap;
  int64_t chain, repeats, null_items, null_sessions, widenings;
  bool oom;
} block_events;

typedef struct {
  const rk_synth_sessions_model *m;
  int64_t s0;            /* the batch's first session */
  block_events *blocks;  /* (blocks per batch) */
  raw_session *sess;     /* (sessions per batch) */
  raw_event *rows;       /* the sorted rows being written (fill_chunk) */
  rk_batch *batch;
} raw_ctx;

void rk_synth_iso8601_ms(char out[ISO_LEN], int64_t unix_ms) {
  int64_t days = unix_ms / MS_DAY, ms = unix_ms % MS_DAY;
  if (ms < 0) ms += MS_DAY, days--;
  /* Proleptic Gregorian date of a day count (Hinnant, "chrono-compatible low-level date algorithms"). */
  int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
  int64_t d = doy - (153 * mp + 2) / 5 + 1, mo = mp < 10 ? mp + 3 : mp - 9, y = yoe + era * 400 + (mo <= 2);
  const int64_t parts[7] = {y, mo, d, ms / 3600000, ms / 60000 % 60, ms / 1000 % 60, ms % 1000};
  const int width[7] = {4, 2, 2, 2, 2, 2, 3};
  const char after[7] = {'-', '-', 'T', ':', ':', '.', 'Z'};
  int at = 0;
  for (int p = 0; p < 7; p++) {
    int64_t v = parts[p];
    for (int i = width[p] - 1; i >= 0; i--, v /= 10) out[at + i] = (char)('0' + v % 10);
    at += width[p];
    out[at++] = after[p];
  }
}

static bool push(block_events *b, int64_t t, int64_t session, int32_t seq, int32_t item, bool null_session) {
  if (b->n == b->cap) {
    int64_t cap = b->cap ? 2 * b->cap : 4096;
    raw_event *ev = rk_realloc(b->ev, (size_t)cap * sizeof *ev);
    if (!ev) return false;
    b->ev = ev;
    b->cap = cap;
  }
  b->ev[b->n++] = (raw_event){.t_ms = t, .session = session, .seq = seq, .item = item, .null_session = null_session};
  return true;
}

/* Milliseconds to the next click: at least a second, so a session's times are distinct. */
static int64_t gap_ms(const rk_synth_sessions_config *cfg, rk_rng *rng) {
  return 1000 + (int64_t)floor(-cfg->mean_gap_s * 1000.0 * log1p(-rk_rng_uniform(rng)));
}

/* One session: its rows into b, its oracle into out. Returns false when out of memory. */
static bool session_rows(block_events *b, raw_session *out, const rk_synth_sessions_model *m, int64_t s,
                         int64_t start_ms) {
  const rk_synth_sessions_config *cfg = &m->cfg;
  rk_rng rng;
  rk_rng_init(&rng, cfg->seed, rk_synth_stream(RK_SYNTH_TAG_SESSION, (uint64_t)s));
  int len = rk_synth_sessions_draw_length(m, &rng);
  rk_synth_session_state st = {.cur = 0};
  rk_synth_sessions_draw_interests(&st, m, &rng);
  int64_t t = start_ms, first_row = b->n;
  int32_t seq = 0, nulls = 0;
  rk_synth_oracle_step orc = {.ntop = 0};
  for (int e = 0; e < len; e++) {
    int component;
    int32_t x;
    if (e == 0) {
      x = rk_synth_sessions_draw_item(m, &st, &rng, true, &component);
    } else {
      if (e == len - 1) rk_synth_sessions_oracle_no_repeat(&orc, m, &st, cfg->topk);
      x = st.cur;
      for (int tries = 0; tries < MAX_REDRAWS && x == st.cur; tries++)
        x = rk_synth_sessions_draw_item(m, &st, &rng, false, &component);
      if (rk_rng_uniform(&rng) < cfg->null_fraction) {
        t += gap_ms(cfg, &rng);
        if (!push(b, t, s, seq++, -1, false)) return false;
        nulls++;
      }
      t += gap_ms(cfg, &rng);
    }
    if (!push(b, t, s, seq++, x, false)) return false;
    for (int r = 0; r < MAX_REPEATS && rk_rng_uniform(&rng) < cfg->repeat_prob; r++) {
      t += gap_ms(cfg, &rng);
      if (!push(b, t, s, seq++, x, false)) return false;
      b->repeats++;
    }
    st.cur = x;
  }
  if (rk_rng_uniform(&rng) < cfg->null_fraction) {   /* a click whose session id was lost */
    int64_t at = first_row + (int64_t)rk_rng_below(&rng, (uint64_t)(b->n - first_row));
    int64_t when = b->ev[at].t_ms + 1 + (int64_t)rk_rng_below(&rng, 999);   /* before the next click */
    int32_t item = (int32_t)rk_synth_zipf_sample(&m->zipf, rk_rng_uniform(&rng));
    if (!push(b, when, s, seq++, item, true)) return false;
    b->null_sessions++;
  }
  b->chain += len;
  b->null_items += nulls;
  b->widenings += orc.widened;
  int32_t deduped = len + nulls;   /* chain items are never equal neighbours; nulls sit between them */
  out->first_ms = start_ms;
  out->length = deduped < cfg->session_min_length ? 0
                : deduped < cfg->session_max_length ? deduped : cfg->session_max_length;
  out->last = st.cur;
  out->hit = orc.recall;
  out->ndcg = orc.ndcg;
  out->rr = orc.mrr;
  out->pop = orc.popularity_recall;
  out->realized = false;
  for (int r = 0; r < orc.ntop; r++) out->realized |= orc.top[r] == st.cur;
  return true;
}

static void block_chunk(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  raw_ctx *c = arg;
  const rk_synth_sessions_config *cfg = &c->m->cfg;
  block_events *b = &c->blocks[chunk];
  b->n = b->chain = b->repeats = b->null_items = b->null_sessions = b->widenings = 0;
  b->oom = false;
  double times[RK_SYNTH_SBLOCK];
  int64_t s = c->s0 + begin;
  int64_t cnt = rk_synth_sessions_block_starts(times, cfg, s / RK_SYNTH_SBLOCK);
  /* The log opens at start_time (a UTC midnight): the first session starts at 00:00:00.000, so
   * day_index is the same counted in calendar days or in whole days since the first click, in
   * seconds or in milliseconds. */
  if (s == 0 && cnt > 0) times[0] = 0.0;
  for (int64_t j = 0; j < cnt && j < end - begin && !b->oom; j++) {
    int64_t start_ms = cfg->start_time * 1000 + (int64_t)floor(times[j] * 1000.0);
    b->oom = !session_rows(b, &c->sess[begin + j], c->m, s + j, start_ms);
  }
}

static int cmp_event(const void *a, const void *b) {
  const raw_event *x = a, *y = b;
  if (x->t_ms != y->t_ms) return x->t_ms < y->t_ms ? -1 : 1;
  if (x->session != y->session) return x->session < y->session ? -1 : 1;
  return (x->seq > y->seq) - (x->seq < y->seq);
}

static uint64_t session_user(const rk_synth_sessions_config *cfg, const rk_synth_zipf *users, int64_t s) {
  return (uint64_t)rk_synth_zipf_sample(users, rk_rng_uniform_at(cfg->seed, rk_synth_stream(RK_SYNTH_TAG_SESSION_USER,
                                                                                            (uint64_t)s), 0));
}

typedef struct {
  raw_ctx *c;
  rk_synth_zipf users;
  rk_synth_perm user_perm;
  int col_price, col_user;
} fill_ctx;

static void set_null(rk_column *col, int64_t r) { col->validity[r >> 3] &= (uint8_t)~(1u << (r & 7)); }

/* Sorted rows into the batch's columns; chunks start at multiples of 8, so no two share a validity byte. */
static void fill_chunk(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  fill_ctx *f = arg;
  const rk_synth_sessions_model *m = f->c->m;
  rk_column *cols = f->c->batch->cols;
  (void)chunk;
  for (int64_t r = begin; r < end; r++) {
    const raw_event *e = &f->c->rows[r];
    ((int64_t *)cols[COL_SESSION].values)[r] = e->null_session ? 0 : e->session + 1;
    if (e->null_session) set_null(&cols[COL_SESSION], r);
    rk_synth_iso8601_ms((char *)cols[COL_TIME].values + r * ISO_LEN, e->t_ms);
    cols[COL_TIME].offsets[r + 1] = (r + 1) * ISO_LEN;
    int64_t id = e->item < 0 ? 0 : (int64_t)rk_synth_perm_apply(&m->perm, (uint64_t)e->item) + 1;
    ((int64_t *)cols[COL_ITEM].values)[r] = id;
    ((int32_t *)cols[COL_CATEGORY].values)[r] = e->item < 0 ? 0 : m->cat[e->item] + 1;
    if (f->col_price >= 0) ((double *)cols[f->col_price].values)[r] = e->item < 0 ? 0.0 : m->price[e->item];
    if (e->item < 0) {
      set_null(&cols[COL_ITEM], r);
      set_null(&cols[COL_CATEGORY], r);
      if (f->col_price >= 0) set_null(&cols[f->col_price], r);
    }
    if (f->col_user >= 0)
      ((int64_t *)cols[f->col_user].values)[r] =
          (int64_t)rk_synth_perm_apply(&f->user_perm, session_user(&m->cfg, &f->users, e->session)) + 1;
  }
}

int rk_synth_sessions_raw_columns(const rk_synth_sessions_config *cfg, const char **names, rk_coltype *types) {
  int n = 0;
  const char *base[4] = {"session_id", "timestamp", "item_id", "category"};
  const rk_coltype base_types[4] = {RK_COL_INT64, RK_COL_STRING, RK_COL_INT64, RK_COL_INT32};
  for (int j = 0; j < 4; j++, n++) names[n] = base[j], types[n] = base_types[j];
  if (cfg->price) names[n] = "price", types[n++] = RK_COL_FLOAT64;
  if (cfg->users > 0) names[n] = "user_id", types[n++] = RK_COL_INT64;
  return n;
}

/* Room for `rows` rows; nullable columns get an all-valid bitmap that fill_chunk clears. */
static rk_status batch_reserve(rk_batch *batch, int64_t rows, int col_price) {
  for (int j = 0; j < batch->ncols; j++) {
    rk_column *col = &batch->cols[j];
    RK_TRY(rk_column_reserve(col, rows > 0 ? rows : 1, col->type == RK_COL_STRING ? (rows > 0 ? rows : 1) * ISO_LEN : 0));
    bool nullable = j == COL_SESSION || j == COL_ITEM || j == COL_CATEGORY || j == col_price;
    if (nullable && !col->validity) {
      if (!(col->validity = rk_malloc((size_t)((col->cap_rows + 7) / 8)))) return RK_ENOMEM;
    }
    if (nullable) memset(col->validity, 0xff, (size_t)((col->cap_rows + 7) / 8));
    col->length = rows;
    col->null_count = 0;
  }
  batch->nrows = rows;
  if (batch->cols[COL_TIME].offsets) batch->cols[COL_TIME].offsets[0] = 0;
  return RK_OK;
}

/* Everything the generation owns, freed in one place. */
typedef struct {
  block_events *blocks;
  int64_t nblocks;
  raw_session *sess;
  raw_event *pool;       /* carried rows, then the batch's rows, sorted */
  int64_t pool_n, pool_cap;
  rk_batch out, orc;
  double *day_sum;       /* (ndays_cap, 3) hit, ndcg, rr */
  int64_t *day_count;    /* (ndays_cap) */
  int64_t ndays_cap;
} raw_buffers;

static void buffers_free(raw_buffers *b) {
  for (int64_t i = 0; b->blocks && i < b->nblocks; i++) rk_free(b->blocks[i].ev);
  rk_free(b->blocks);
  rk_free(b->sess);
  rk_free(b->pool);
  rk_batch_free(&b->out);
  rk_batch_free(&b->orc);
  rk_free(b->day_sum);
  rk_free(b->day_count);
}

static rk_status buffers_init(raw_buffers *b, const rk_synth_sessions_config *cfg, int64_t blocks_per_batch) {
  b->nblocks = blocks_per_batch;
  b->blocks = rk_calloc((size_t)blocks_per_batch, sizeof *b->blocks);
  b->sess = rk_malloc((size_t)(blocks_per_batch * RK_SYNTH_SBLOCK) * sizeof *b->sess);
  b->ndays_cap = cfg->days + 1;   /* starts lie below days (the + 1: a uniform rounding up to the end) */
  b->day_sum = rk_calloc((size_t)b->ndays_cap * 3, sizeof(double));
  b->day_count = rk_calloc((size_t)b->ndays_cap, sizeof(int64_t));
  if (!b->blocks || !b->sess || !b->day_sum || !b->day_count) return RK_ENOMEM;
  const char *names[6];
  rk_coltype types[6];
  int ncols = rk_synth_sessions_raw_columns(cfg, names, types);
  RK_TRY(rk_batch_init(&b->out, ncols));
  for (int j = 0; j < ncols; j++) RK_TRY(rk_column_init(&b->out.cols[j], names[j], types[j], RK_COL_INT64));
  RK_TRY(rk_batch_init(&b->orc, ORC_NCOLS));
  for (int j = 0; j < ORC_NCOLS; j++) RK_TRY(rk_column_init(&b->orc.cols[j], orc_names[j], orc_types[j], RK_COL_INT64));
  return RK_OK;
}

/* The batch's rows join the carried ones; all of them are sorted. */
static rk_status pool_gather(raw_buffers *b, int64_t nblocks) {
  int64_t need = b->pool_n;
  for (int64_t i = 0; i < nblocks; i++) need += b->blocks[i].n;
  if (need > b->pool_cap) {
    int64_t cap = need + need / 2;
    raw_event *p = rk_realloc(b->pool, (size_t)cap * sizeof *p);
    if (!p) return RK_ENOMEM;
    b->pool = p;
    b->pool_cap = cap;
  }
  for (int64_t i = 0; i < nblocks; i++) {
    memcpy(b->pool + b->pool_n, b->blocks[i].ev, (size_t)b->blocks[i].n * sizeof *b->pool);
    b->pool_n += b->blocks[i].n;
  }
  if (b->pool_n > 1) qsort(b->pool, (size_t)b->pool_n, sizeof *b->pool, cmp_event);
  return RK_OK;
}

/* The processed sessions of the batch as oracle rows, in session order. */
static rk_status oracle_rows(raw_buffers *b, const rk_synth_sessions_model *m, int64_t s0, int64_t nsess,
                             int64_t first_day) {
  rk_batch *o = &b->orc;
  rk_batch_clear(o);
  for (int64_t i = 0; i < nsess; i++) {
    const raw_session *r = &b->sess[i];
    if (r->length == 0) continue;
    int64_t day = r->first_ms / MS_DAY - first_day + 1;   /* times are >= 0: start_time >= 0 */
    RK_TRY(rk_column_append_int(&o->cols[ORC_SESSION], s0 + i + 1));
    RK_TRY(rk_column_append_int(&o->cols[ORC_DAY], day));
    RK_TRY(rk_column_append_int(&o->cols[ORC_FIRST], r->first_ms));
    RK_TRY(rk_column_append_int(&o->cols[ORC_LENGTH], r->length));
    RK_TRY(rk_column_append_int(&o->cols[ORC_LAST], (int64_t)rk_synth_perm_apply(&m->perm, (uint64_t)r->last) + 1));
    RK_TRY(rk_column_append_double(&o->cols[ORC_HIT], r->hit));
    RK_TRY(rk_column_append_double(&o->cols[ORC_NDCG], r->ndcg));
    RK_TRY(rk_column_append_double(&o->cols[ORC_RR], r->rr));
    RK_TRY(rk_column_append_int(&o->cols[ORC_REALIZED], r->realized));
    o->nrows++;
  }
  return RK_OK;
}

typedef struct {
  int64_t rows, chain, repeats, null_items, null_sessions, widenings, processed, realized;
  double hit, ndcg, rr, pop;
} raw_totals;

static rk_status stats_fill(rk_synth_sessions_stats *stats, const rk_synth_sessions_config *cfg, const raw_totals *t,
                            const raw_buffers *b) {
  memset(stats, 0, sizeof *stats);
  stats->config = *cfg;
  stats->config.progress = NULL;
  stats->config.progress_ctx = NULL;
  stats->config.session_oracle = NULL;
  stats->rows = t->rows;
  stats->sessions = cfg->sessions;
  stats->steps = t->processed;
  stats->chain_clicks = t->chain;
  stats->repeat_rows = t->repeats;
  stats->null_item_rows = t->null_items;
  stats->null_session_rows = t->null_sessions;
  stats->mean_length = cfg->sessions > 0 ? (double)t->chain / (double)cfg->sessions : 0.0;
  double n = t->processed > 0 ? (double)t->processed : 1.0;
  stats->oracle_recall = t->hit / n;
  stats->oracle_ndcg = t->ndcg / n;
  stats->oracle_mrr = t->rr / n;
  stats->popularity_recall = t->pop / n;
  stats->realized_recall = (double)t->realized / n;
  stats->oracle_widenings = t->widenings;
  int ndays = 0;
  for (int64_t d = 0; d < b->ndays_cap; d++) ndays += b->day_count[d] > 0;
  if (ndays && !(stats->days = rk_calloc((size_t)ndays, sizeof *stats->days)))
    return rk_error(RK_ENOMEM, "out of memory for the sessions oracle of %d days", ndays);
  for (int64_t d = 0; d < b->ndays_cap; d++) {
    if (!b->day_count[d]) continue;
    rk_synth_sessions_day *day = &stats->days[stats->ndays++];
    double k = (double)b->day_count[d];
    day->day_index = (int)d + 1;
    day->sessions = b->day_count[d];
    day->recall = b->day_sum[3 * d] / k;
    day->ndcg = b->day_sum[3 * d + 1] / k;
    day->mrr = b->day_sum[3 * d + 2] / k;
  }
  return RK_OK;
}

rk_status rk_synth_sessions_raw(rk_table_sink *sink, rk_synth_sessions_stats *stats, const rk_synth_sessions_config *cfg,
                                rk_synth_sessions_model *m) {
  int64_t blocks_per_batch = (int64_t)((double)cfg->batch_rows / (RK_SYNTH_SBLOCK * cfg->mean_length) + 0.5);
  if (blocks_per_batch < 1) blocks_per_batch = 1;
  raw_buffers b;
  memset(&b, 0, sizeof b);
  if (buffers_init(&b, cfg, blocks_per_batch) != RK_OK) {
    buffers_free(&b);
    return rk_error(RK_ENOMEM, "out of memory setting up the yoochoose sessions generator");
  }
  int col_price = cfg->price ? 4 : -1, col_user = cfg->users > 0 ? 4 + cfg->price : -1;
  fill_ctx f = {.col_price = col_price, .col_user = col_user};
  if (cfg->users > 0) {
    rk_synth_zipf_init(&f.users, cfg->users, 1.0);
    rk_synth_perm_init(&f.user_perm, (uint64_t)cfg->users, cfg->seed, 5);
  }
  raw_ctx c = {.m = m, .blocks = b.blocks, .sess = b.sess, .batch = &b.out};
  f.c = &c;
  int64_t first_day = cfg->start_time / 86400;   /* the first session's: see block_chunk */
  raw_totals tot;
  memset(&tot, 0, sizeof tot);
  int64_t expected_rows = (int64_t)((double)cfg->sessions * cfg->mean_length);
  bool wrote = false;
  rk_status s = RK_OK;
  for (int64_t s0 = 0; s0 < cfg->sessions || !wrote;) {
    int64_t nsess = cfg->sessions - s0 < blocks_per_batch * RK_SYNTH_SBLOCK ? cfg->sessions - s0
                                                                            : blocks_per_batch * RK_SYNTH_SBLOCK;
    c.s0 = s0;
    int64_t nblocks = rk_chunk_count(nsess, RK_SYNTH_SBLOCK);
    rk_parallel_for(nsess, RK_SYNTH_SBLOCK, block_chunk, &c);
    for (int64_t i = 0; i < nblocks; i++)
      if (b.blocks[i].oom) s = RK_ENOMEM;
    if (s == RK_OK) s = pool_gather(&b, nblocks);
    if (s != RK_OK) {
      s = rk_error(RK_ENOMEM, "out of memory generating sessions %lld..%lld", (long long)s0 + 1, (long long)(s0 + nsess));
      break;
    }
    /* Rows before the lowest start a later session can have are final. */
    bool last = s0 + nsess >= cfg->sessions;
    int64_t limit = last ? INT64_MAX
                         : cfg->start_time * 1000 +
                               (int64_t)floor(rk_synth_sessions_block_lo(cfg, (s0 + nsess) / RK_SYNTH_SBLOCK) * 1000.0);
    int64_t ready = 0;
    while (ready < b.pool_n && b.pool[ready].t_ms < limit) ready++;
    rk_batch_clear(&b.out);
    s = batch_reserve(&b.out, ready, col_price);
    if (s != RK_OK) {
      s = rk_error(RK_ENOMEM, "out of memory for a batch of %lld session rows", (long long)ready);
      break;
    }
    c.rows = b.pool;
    rk_parallel_for(ready, 8192, fill_chunk, &f);
    for (int64_t r = 0; r < ready; r++) {
      b.out.cols[COL_SESSION].null_count += b.pool[r].null_session;
      b.out.cols[COL_ITEM].null_count += b.pool[r].item < 0;
    }
    b.out.cols[COL_CATEGORY].null_count = b.out.cols[COL_ITEM].null_count;
    if (col_price >= 0) b.out.cols[col_price].null_count = b.out.cols[COL_ITEM].null_count;
    if (ready > 0 || last) {
      s = rk_sink_write(sink, &b.out);
      if (s != RK_OK) {
        s = rk_error_context(s, "writing synthetic sessions up to %lld", (long long)(s0 + nsess));
        break;
      }
      wrote = true;
    }
    if (ready > 0 && ready < b.pool_n) memmove(b.pool, b.pool + ready, (size_t)(b.pool_n - ready) * sizeof *b.pool);
    b.pool_n -= ready;
    tot.rows += ready;
    /* Oracle sums in session order: the same bits for any thread count. */
    for (int64_t i = 0; i < nblocks; i++) {
      tot.chain += b.blocks[i].chain;
      tot.repeats += b.blocks[i].repeats;
      tot.null_items += b.blocks[i].null_items;
      tot.null_sessions += b.blocks[i].null_sessions;
      tot.widenings += b.blocks[i].widenings;
    }
    for (int64_t i = 0; i < nsess; i++) {
      const raw_session *r = &b.sess[i];
      if (r->length == 0) continue;
      int64_t d = r->first_ms / MS_DAY - first_day;   /* starts are sorted and < days after start_time */
      RK_ASSERT(d >= 0 && d < b.ndays_cap);
      b.day_count[d]++;
      b.day_sum[3 * d] += r->hit;
      b.day_sum[3 * d + 1] += r->ndcg;
      b.day_sum[3 * d + 2] += r->rr;
      tot.processed++;
      tot.realized += r->realized;
      tot.hit += r->hit;
      tot.ndcg += r->ndcg;
      tot.rr += r->rr;
      tot.pop += r->pop;
    }
    if (cfg->session_oracle) {
      s = oracle_rows(&b, m, s0, nsess, first_day);
      if (s == RK_OK && (b.orc.nrows > 0 || last)) s = rk_sink_write(cfg->session_oracle, &b.orc);
      if (s != RK_OK) {
        s = rk_error_context(s, "writing the oracle rows of sessions %lld..%lld", (long long)s0 + 1, (long long)(s0 + nsess));
        break;
      }
    }
    s0 += nsess;
    if (cfg->progress) cfg->progress(cfg->progress_ctx, tot.rows, expected_rows > tot.rows ? expected_rows : tot.rows);
    if (last) break;
  }
  if (s == RK_OK && stats) s = stats_fill(stats, cfg, &tot, &b);
  buffers_free(&b);
  return s;
}
