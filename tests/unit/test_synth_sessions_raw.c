/*
 * The YOOCHOOSE layout of the session generator (src/synth/sessions_raw.c): ISO-8601 times against
 * gmtime; the no-repeat oracle's top K against sorting every item; every per-session oracle row
 * against a brute-force ranking of the session's true last-step distribution, with the state
 * replayed from the session's stream and the chain read back from the written log; the log's
 * order, repeats and nulls; the same rows for any thread count and batch size; the sums of the
 * stats; and every allocation and sink failure.
 */
#include "support.h"
#include "mem_sink.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "reckon/synth.h"
#include "synth/synth_internal.h"

static void raw_config(rk_synth_sessions_config *cfg, int64_t sessions) {
  rk_synth_sessions_config_default(cfg);
  cfg->layout = RK_SYNTH_SESSIONS_YOOCHOOSE;
  cfg->sessions = sessions;
  cfg->items = 400;
  cfg->days = 3;
  cfg->seed = 17;
  cfg->repeat_prob = 0.3;
  cfg->null_fraction = 0.1;
  cfg->session_max_length = 8;
  cfg->price = true;
  cfg->users = 30;
}

/* The log and the oracle rows, kept. */
typedef struct {
  mem_sink log, oracle;
  rk_synth_sessions_stats stats;
} raw_run;

static rk_status run_raw(raw_run *r, rk_synth_sessions_config *cfg, bool keep) {
  mem_init(&r->log, keep);
  mem_init(&r->oracle, keep);
  cfg->session_oracle = &r->oracle.base;
  memset(&r->stats, 0, sizeof r->stats);
  return rk_synth_sessions(&r->log.base, &r->stats, cfg);
}

static void raw_free(raw_run *r) {
  mem_free(&r->log);
  mem_free(&r->oracle);
  rk_synth_sessions_stats_free(&r->stats);
}

static void test_iso8601_matches_gmtime(void **state) {
  (void)state;
  char buf[25] = {0};
  rk_synth_iso8601_ms(buf, INT64_C(1396867869277));
  assert_string_equal(buf, "2014-04-07T10:51:09.277Z");   /* a YOOCHOOSE timestamp */
  rk_synth_iso8601_ms(buf, 0);
  assert_string_equal(buf, "1970-01-01T00:00:00.000Z");
  rk_synth_iso8601_ms(buf, INT64_C(951782400000));
  assert_string_equal(buf, "2000-02-29T00:00:00.000Z");
  rk_rng rng;
  rk_rng_init(&rng, 3, 0);
  for (int i = 0; i < 20000; i++) {
    int64_t ms = (int64_t)rk_rng_below(&rng, UINT64_C(1) << 42);   /* to year 2109 */
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char want[80];
    snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    rk_synth_iso8601_ms(buf, ms);
    if (strcmp(buf, want) != 0) fail_msg("%lld ms: %s, gmtime says %s", (long long)ms, buf, want);
  }
}

static int cmp_desc(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x < y) - (x > y);
}

/* Top-K sums of P(x | state, x != cur), by sorting every item. */
static void brute_last_step(const rk_synth_sessions_model *m, const rk_synth_session_state *st, int k, double *hit,
                            double *ndcg, double *rr, double *scratch) {
  double keep = 1.0 - rk_synth_sessions_next_prob(m, st, st->cur);
  int64_t n = 0;
  for (int64_t x = 0; x < m->n; x++)
    if (x != st->cur) scratch[n++] = rk_synth_sessions_next_prob(m, st, (int32_t)x) / keep;
  qsort(scratch, (size_t)n, sizeof *scratch, cmp_desc);
  *hit = *ndcg = *rr = 0.0;
  for (int r = 0; r < k && r < n; r++) {
    *hit += scratch[r];
    *rr += scratch[r] / (r + 1);
    *ndcg += scratch[r] / log2(r + 2.0);
  }
}

/* Including catalogues whose interest categories hold most items, so the candidate lists widen. */
static void test_no_repeat_oracle_is_exact(void **state) {
  (void)state;
  const int cats[] = {20, 3, 1};
  const int ks[] = {20, 50, 5};
  int64_t widened = 0;
  for (int t = 0; t < 3; t++) {
    rk_synth_sessions_config cfg, resolved;
    raw_config(&cfg, 10);
    cfg.items = 300;
    cfg.categories = cats[t];
    cfg.topk = ks[t];
    cfg.p_successor = 0.2;
    cfg.p_interest = 0.7;
    assert_rk_ok(rk_synth_sessions_resolve(&resolved, &cfg));
    rk_synth_sessions_model m;
    assert_rk_ok(rk_synth_sessions_model_init(&m, &resolved));
    double *scratch = malloc((size_t)m.n * sizeof(double));
    rk_rng rng;
    rk_rng_init(&rng, 9, (uint64_t)t);
    for (int trial = 0; trial < 200; trial++) {
      rk_synth_session_state st = {.cur = (int32_t)rk_rng_below(&rng, 12), .ninterest = 1};   /* popular: P(cur) large */
      st.interest[0] = m.cat[st.cur];
      st.interest_w[0] = 1.0;
      if (m.ncat > 1 && trial % 2) {
        st.ninterest = 2;
        st.interest[1] = (st.interest[0] + 1) % m.ncat;
        st.interest_w[0] = 0.6;
        st.interest_w[1] = 0.4;
      }
      rk_synth_oracle_step o;
      rk_synth_sessions_oracle_no_repeat(&o, &m, &st, cfg.topk);
      double hit, ndcg, rr;
      brute_last_step(&m, &st, cfg.topk, &hit, &ndcg, &rr, scratch);
      if (fabs(o.recall - hit) > 1e-12 || fabs(o.ndcg - ndcg) > 1e-12 || fabs(o.mrr - rr) > 1e-12)
        fail_msg("categories %d k %d: oracle %.15g %.15g %.15g, by sorting %.15g %.15g %.15g", cats[t], cfg.topk, o.recall,
                 o.ndcg, o.mrr, hit, ndcg, rr);
      assert_int_equal(o.ntop, cfg.topk);
      for (int r = 0; r < o.ntop; r++) assert_true(o.top[r] != st.cur);
      widened += o.widened;
    }
    free(scratch);
    rk_synth_sessions_model_free(&m);
  }
  assert_true(widened > 0);
}

/* One session's events as the ETL sees them: non-null items in time order, repeats dropped. */
typedef struct {
  int64_t *rows;       /* row indices of the session, in log order (= time order) */
  int64_t n, cap;
} session_rows;

static void add_row(session_rows *s, int64_t r) {
  if (s->n == s->cap) {
    s->cap = s->cap ? 2 * s->cap : 16;
    s->rows = realloc(s->rows, (size_t)s->cap * sizeof *s->rows);
  }
  s->rows[s->n++] = r;
}

/* Every oracle row against the brute force, with the chain read back from the log and the
 * session's interests replayed from its stream (length, then interests: the stream's layout).
 * A minimum length of 4 leaves some sessions out. */
static void test_oracle_rows_match_brute_force(void **state) {
  (void)state;
  rk_synth_sessions_config cfg, resolved;
  raw_config(&cfg, 1500);
  cfg.session_min_length = 4;
  raw_run r;
  assert_rk_ok(run_raw(&r, &cfg, true));
  assert_rk_ok(rk_synth_sessions_resolve(&resolved, &cfg));
  rk_synth_sessions_model m;
  assert_rk_ok(rk_synth_sessions_model_init(&m, &resolved));
  int32_t *rank_of = malloc((size_t)(m.n + 1) * sizeof(int32_t));
  for (int64_t x = 0; x < m.n; x++) rank_of[rk_synth_perm_apply(&m.perm, (uint64_t)x) + 1] = (int32_t)x;
  session_rows *by_session = calloc((size_t)cfg.sessions + 1, sizeof *by_session);
  const rk_column *sid = batch_col(&r.log.all, "session_id"), *item = batch_col(&r.log.all, "item_id");
  const rk_column *ts = batch_col(&r.log.all, "timestamp");
  int64_t null_sessions = 0, null_items = 0, repeats = 0;
  for (int64_t i = 0; i < r.log.all.nrows; i++) {
    if (i > 0) {   /* the log is in time order: ISO text sorts as time */
      int64_t a = ts->offsets[i - 1], b = ts->offsets[i];
      assert_true(memcmp((const char *)ts->values + a, (const char *)ts->values + b, 24) <= 0);
    }
    if (rk_column_is_null(sid, i)) {
      null_sessions++;
      continue;
    }
    add_row(&by_session[rk_column_get_int(sid, i)], i);
  }
  const rk_column *o_sid = batch_col(&r.oracle.all, "session_id"), *o_len = batch_col(&r.oracle.all, "length");
  const rk_column *o_last = batch_col(&r.oracle.all, "last_item_id"), *o_hit = batch_col(&r.oracle.all, "expected_hit");
  const rk_column *o_ndcg = batch_col(&r.oracle.all, "expected_ndcg"), *o_rr = batch_col(&r.oracle.all, "expected_rr");
  const rk_column *o_day = batch_col(&r.oracle.all, "day_index"), *o_first = batch_col(&r.oracle.all, "first_event_ms");
  double *scratch = malloc((size_t)m.n * sizeof(double));
  int64_t *chain = malloc((size_t)(cfg.max_length + 1) * sizeof(int64_t));
  int64_t orow = 0, dropped = 0, day0 = 0;
  for (int64_t s = 1; s <= cfg.sessions; s++) {
    const session_rows *rows = &by_session[s];
    int64_t len = 0, deduped = 0, prev = -2;
    for (int64_t j = 0; j < rows->n; j++) {
      int64_t i = rows->rows[j];
      int64_t x = rk_column_is_null(item, i) ? -1 : rk_column_get_int(item, i);
      if (x == prev) {   /* a consecutive repeat: an exact copy of the click before */
        assert_true(x > 0);
        repeats++;
        continue;
      }
      if (x < 0) {
        assert_true(j > 0 && j < rows->n - 1);   /* a null item is never first or last */
        null_items++;
      } else {
        assert_true(len <= cfg.max_length);
        chain[len++] = x;
      }
      deduped++;
      prev = x;
    }
    /* The first session opens the log at start_time, 00:00:00.000, and day 1. */
    char iso[25] = {0};
    if (s == 1) {
      assert_memory_equal((const char *)ts->values + ts->offsets[rows->rows[0]], "2022-01-01T00:00:00.000Z", 24);
      assert_int_equal(rows->rows[0], 0);
      day0 = cfg.start_time / 86400;
    }
    if (deduped < cfg.session_min_length) {
      dropped++;
      assert_true(orow >= r.oracle.all.nrows || rk_column_get_int(o_sid, orow) != s);
      continue;
    }
    int64_t want_len = deduped < cfg.session_max_length ? deduped : cfg.session_max_length;
    assert_true(orow < r.oracle.all.nrows);
    assert_int_equal(rk_column_get_int(o_sid, orow), s);
    assert_int_equal(rk_column_get_int(o_len, orow), want_len);
    assert_int_equal(rk_column_get_int(o_last, orow), chain[len - 1]);
    int64_t first_ms = rk_column_get_int(o_first, orow);
    assert_int_equal(rk_column_get_int(o_day, orow), first_ms / 86400000 - day0 + 1);
    rk_synth_iso8601_ms(iso, first_ms);
    assert_memory_equal(iso, (const char *)ts->values + ts->offsets[rows->rows[0]], 24);
    rk_rng rng;
    rk_rng_init(&rng, cfg.seed, rk_synth_stream(RK_SYNTH_TAG_SESSION, (uint64_t)(s - 1)));
    assert_int_equal(rk_synth_sessions_draw_length(&m, &rng), len);
    rk_synth_session_state st;
    rk_synth_sessions_draw_interests(&st, &m, &rng);
    st.cur = rank_of[chain[len - 2]];
    double hit, ndcg, rr;
    brute_last_step(&m, &st, cfg.topk, &hit, &ndcg, &rr, scratch);
    if (fabs(rk_column_get_double(o_hit, orow) - hit) > 1e-12 || fabs(rk_column_get_double(o_ndcg, orow) - ndcg) > 1e-12 ||
        fabs(rk_column_get_double(o_rr, orow) - rr) > 1e-12)
      fail_msg("session %lld: oracle row %.15g %.15g %.15g, brute force %.15g %.15g %.15g", (long long)s,
               rk_column_get_double(o_hit, orow), rk_column_get_double(o_ndcg, orow), rk_column_get_double(o_rr, orow), hit,
               ndcg, rr);
    orow++;
  }
  assert_int_equal(orow, r.oracle.all.nrows);
  if (dropped < 100 || orow < 500) fail_msg("%lld sessions dropped, %lld kept", (long long)dropped, (long long)orow);
  assert_int_equal(null_sessions, r.stats.null_session_rows);
  assert_int_equal(null_items, r.stats.null_item_rows);
  assert_int_equal(repeats, r.stats.repeat_rows);
  assert_int_equal(r.stats.rows, r.log.all.nrows);
  assert_int_equal(r.stats.rows, r.stats.chain_clicks + repeats + null_items + null_sessions);
  for (int64_t s = 0; s <= cfg.sessions; s++) free(by_session[s].rows);
  free(by_session), free(scratch), free(chain), free(rank_of);
  rk_synth_sessions_model_free(&m);
  raw_free(&r);
}

/* Sums in the stats are the means of the rows; the rates are the ones asked for. */
static void test_stats_and_rates(void **state) {
  (void)state;
  rk_synth_sessions_config cfg;
  raw_config(&cfg, 6000);
  cfg.days = 4;
  raw_run r;
  assert_rk_ok(run_raw(&r, &cfg, true));
  const rk_synth_sessions_stats *st = &r.stats;
  const rk_column *o_day = batch_col(&r.oracle.all, "day_index"), *o_hit = batch_col(&r.oracle.all, "expected_hit");
  const rk_column *o_rr = batch_col(&r.oracle.all, "expected_rr"), *o_real = batch_col(&r.oracle.all, "realized_hit");
  double hit = 0, rr = 0, real = 0, day_hit[8] = {0};
  int64_t day_n[8] = {0};
  for (int64_t i = 0; i < r.oracle.all.nrows; i++) {
    int64_t d = rk_column_get_int(o_day, i);
    assert_true(d >= 1 && d <= 5);
    hit += rk_column_get_double(o_hit, i);
    rr += rk_column_get_double(o_rr, i);
    real += (double)rk_column_get_int(o_real, i);
    day_hit[d] += rk_column_get_double(o_hit, i);
    day_n[d]++;
  }
  double n = (double)r.oracle.all.nrows;
  assert_int_equal(st->steps, r.oracle.all.nrows);
  assert_true(fabs(st->oracle_recall - hit / n) < 1e-12 && fabs(st->oracle_mrr - rr / n) < 1e-12);
  assert_true(fabs(st->realized_recall - real / n) < 1e-12);
  assert_true(st->popularity_recall < st->oracle_recall && st->oracle_mrr < st->oracle_ndcg);
  double sd = sqrt(st->oracle_recall * (1 - st->oracle_recall) / n);
  if (fabs(st->realized_recall - st->oracle_recall) > 4 * sd)
    fail_msg("last items in the true top K: %g of sessions, expected %g", st->realized_recall, st->oracle_recall);
  int seen = 0;
  for (int d = 1; d < 8; d++) {
    if (!day_n[d]) continue;
    assert_true(seen < st->ndays);
    assert_int_equal(st->days[seen].day_index, d);
    assert_int_equal(st->days[seen].sessions, day_n[d]);
    assert_true(fabs(st->days[seen].recall - day_hit[d] / (double)day_n[d]) < 1e-12);
    seen++;
  }
  assert_int_equal(seen, st->ndays);
  assert_true(st->ndays >= 4);
  /* Repeats: a share repeat_prob of the clicks in runs; nulls: null_fraction per chance. */
  double runs = (double)(st->chain_clicks + st->repeat_rows);
  double rate = (double)st->repeat_rows / runs;
  assert_true(fabs(rate - cfg.repeat_prob) < 4 * sqrt(cfg.repeat_prob * (1 - cfg.repeat_prob) / runs) + 0.01);
  double gaps = (double)(st->chain_clicks - cfg.sessions);
  assert_true(fabs((double)st->null_item_rows / gaps - cfg.null_fraction) < 4 * sqrt(0.09 / gaps));
  assert_true(fabs((double)st->null_session_rows / 6000.0 - cfg.null_fraction) < 4 * sqrt(0.09 / 6000.0));
  raw_free(&r);
}

/* Small batches carry rows over to the next one: the log and the oracle rows must not change. */
static void test_same_for_any_threads_and_batch(void **state) {
  (void)state;
  rk_synth_sessions_config cfg;
  raw_config(&cfg, 5000);
  cfg.mean_gap_s = 600.0;   /* long sessions overlap many later starts */
  cfg.batch_rows = 1 << 20;
  raw_run ref, other;
  rk_set_num_threads(1);
  assert_rk_ok(run_raw(&ref, &cfg, true));
  assert_int_equal(ref.log.batches, 1);
  const int threads[] = {1, 2, 4};
  const int64_t batch_rows[] = {700, 6000, 6000};
  for (int t = 0; t < 3; t++) {
    rk_set_num_threads(threads[t]);
    cfg.batch_rows = batch_rows[t];
    assert_rk_ok(run_raw(&other, &cfg, true));
    assert_true(other.log.batches > 2);
    assert_true(batches_equal(&ref.log.all, &other.log.all));
    assert_true(batches_equal(&ref.oracle.all, &other.oracle.all));
    assert_true(other.stats.oracle_recall == ref.stats.oracle_recall && other.stats.ndays == ref.stats.ndays);
    for (int d = 0; d < ref.stats.ndays; d++) assert_true(other.stats.days[d].mrr == ref.stats.days[d].mrr);
    raw_free(&other);
  }
  rk_set_num_threads(0);
  raw_free(&ref);
}

/* Columns: the four of YOOCHOOSE, then price and user_id when asked; nulls in the right places. */
static void test_columns(void **state) {
  (void)state;
  rk_synth_sessions_config cfg;
  raw_config(&cfg, 800);
  cfg.price = false;
  cfg.users = 0;
  raw_run r;
  assert_rk_ok(run_raw(&r, &cfg, true));
  assert_int_equal(r.log.all.ncols, 4);
  assert_int_equal(batch_col(&r.log.all, "timestamp")->type, RK_COL_STRING);
  raw_free(&r);
  cfg.price = true;
  cfg.users = 30;
  assert_rk_ok(run_raw(&r, &cfg, true));
  assert_int_equal(r.log.all.ncols, 6);
  const rk_column *item = batch_col(&r.log.all, "item_id"), *cat = batch_col(&r.log.all, "category");
  const rk_column *price = batch_col(&r.log.all, "price"), *user = batch_col(&r.log.all, "user_id");
  const rk_column *sid = batch_col(&r.log.all, "session_id");
  assert_true(item->null_count > 0 && sid->null_count > 0);
  assert_int_equal(cat->null_count, item->null_count);
  assert_int_equal(price->null_count, item->null_count);
  int64_t *user_of = calloc((size_t)cfg.sessions + 1, sizeof(int64_t));
  for (int64_t i = 0; i < r.log.all.nrows; i++) {
    assert_true(rk_column_is_null(cat, i) == rk_column_is_null(item, i));
    if (!rk_column_is_null(item, i)) assert_true(rk_column_get_double(price, i) >= 0.01);
    int64_t u = rk_column_get_int(user, i);
    assert_true(u >= 1 && u <= cfg.users);
    if (rk_column_is_null(sid, i)) continue;
    int64_t s = rk_column_get_int(sid, i);
    if (user_of[s] && user_of[s] != u) fail_msg("session %lld has users %lld and %lld", (long long)s, (long long)user_of[s], (long long)u);
    user_of[s] = u;
  }
  free(user_of);
  raw_free(&r);
  cfg.sessions = 0;   /* no sessions: one empty batch, so the sinks learn the columns */
  cfg.rows = 0;
  assert_rk_ok(run_raw(&r, &cfg, true));
  assert_int_equal(r.log.batches, 1);
  assert_int_equal(r.log.all.nrows, 0);
  assert_int_equal(r.log.all.ncols, 6);
  assert_int_equal(r.oracle.batches, 1);
  assert_int_equal(r.stats.ndays, 0);
  raw_free(&r);
}

static rk_status run_counting(void *arg) {
  raw_run r;
  rk_status s = run_raw(&r, arg, false);
  raw_free(&r);
  return s;
}

static void test_failures(void **state) {
  (void)state;
  rk_synth_sessions_config cfg;
  raw_config(&cfg, 1100);   /* two blocks, two batches: the carried rows are walked too */
  cfg.items = 300;
  cfg.batch_rows = 3000;
  int64_t start = rk_alloc_live_bytes();
  assert_true(rk_test_walk_failures(run_counting, &cfg) > 5);
  raw_run r;
  for (int which = 0; which < 2; which++) {
    assert_int_equal(run_raw(&r, &cfg, false), RK_OK);
    int64_t batches = which ? r.oracle.batches : r.log.batches;
    raw_free(&r);
    mem_init(&r.log, false);
    mem_init(&r.oracle, false);
    (which ? &r.oracle : &r.log)->fail_at = batches - 1;   /* the last write fails */
    cfg.session_oracle = &r.oracle.base;
    assert_int_equal(rk_synth_sessions(&r.log.base, NULL, &cfg), RK_EIO);
    assert_non_null(strstr(rk_error_message(), "injected sink failure"));
  }
  assert_int_equal(rk_alloc_live_bytes(), start);
  rk_synth_sessions_config b = cfg;
  b.repeat_prob = 0.95;
  assert_int_equal(rk_synth_sessions(&r.log.base, NULL, &b), RK_EINVAL);
  assert_non_null(strstr(rk_error_message(), "repeat_prob"));
  b = cfg;
  b.session_min_length = 9;   /* above session_max_length 8 */
  assert_int_equal(rk_synth_sessions(&r.log.base, NULL, &b), RK_EINVAL);
  assert_non_null(strstr(rk_error_message(), "session_min_length"));
  b = cfg;
  b.start_time += 3600;   /* not a midnight: calendar days and days since the first click would differ */
  assert_int_equal(rk_synth_sessions(&r.log.base, NULL, &b), RK_EINVAL);
  assert_non_null(strstr(rk_error_message(), "start_time"));
  b = cfg;
  b.emit_truth = true;
  assert_int_equal(rk_synth_sessions(&r.log.base, NULL, &b), RK_EINVAL);
  assert_non_null(strstr(rk_error_message(), "emit_truth"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_iso8601_matches_gmtime),
      cmocka_unit_test(test_no_repeat_oracle_is_exact),
      cmocka_unit_test(test_oracle_rows_match_brute_force),
      cmocka_unit_test(test_stats_and_rates),
      cmocka_unit_test(test_same_for_any_threads_and_batch),
      cmocka_unit_test(test_columns),
      cmocka_unit_test(test_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
