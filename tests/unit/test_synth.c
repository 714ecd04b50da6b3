/*
 * The synthetic generators (src/synth/): determinism across threads, batch sizes and seeds; the
 * rates, skew and structure they promise; the sidecar's Bayes AUC against a brute-force AUC of
 * the true probabilities on the same rows; the session oracle's exact top K against sorting all
 * items; null cells; and every allocation failure path.
 */
#include "support.h"
#include "mem_sink.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "reckon/synth.h"
#include "synth/synth_internal.h"

/* One generation into a sink that keeps nothing: the unit the failure walks repeat. */
static rk_status run_tenrec(void *cfg) {
  mem_sink m;
  mem_init(&m, false);
  rk_status s = rk_synth_tenrec(&m.base, NULL, cfg);
  mem_free(&m);
  return s;
}

static rk_status run_sessions(void *cfg) {
  mem_sink m;
  mem_init(&m, false);
  rk_status s = rk_synth_sessions(&m.base, NULL, cfg);
  mem_free(&m);
  return s;
}

static void tenrec_run(mem_sink *out, rk_synth_tenrec_stats *st, const rk_synth_tenrec_config *cfg) {
  mem_init(out, true);
  assert_rk_ok(rk_synth_tenrec(&out->base, st, cfg));
}

static void sessions_run(mem_sink *out, rk_synth_sessions_stats *st, const rk_synth_sessions_config *cfg) {
  mem_init(out, true);
  assert_rk_ok(rk_synth_sessions(&out->base, st, cfg));
}

/* ---------------------------------------------------------------------------------------------
 * Building blocks.
 * ------------------------------------------------------------------------------------------- */
static void test_perm_is_bijection(void **state) {
  (void)state;
  const uint64_t sizes[] = {1, 2, 3, 7, 64, 100, 1000, 12345};
  for (size_t t = 0; t < sizeof sizes / sizeof *sizes; t++) {
    uint64_t n = sizes[t];
    rk_synth_perm p;
    rk_synth_perm_init(&p, n, 42, 1);
    uint8_t *seen = calloc(n, 1);
    uint64_t fixed = 0;
    for (uint64_t x = 0; x < n; x++) {
      uint64_t y = rk_synth_perm_apply(&p, x);
      assert_true(y < n);
      assert_int_equal(seen[y], 0);
      seen[y] = 1;
      fixed += y == x;
    }
    if (n >= 100) assert_true(fixed < n / 10);   /* it scrambles */
    free(seen);
  }
}

static void test_zipf_pmf_and_sampling(void **state) {
  (void)state;
  const double exps[] = {0.0, 0.8, 1.0, 1.2};
  for (int e = 0; e < 4; e++) {
    rk_synth_zipf z;
    rk_synth_zipf_init(&z, 50, exps[e]);
    double sum = 0.0;
    for (int64_t k = 0; k < 50; k++) {
      sum += rk_synth_zipf_pmf(&z, k);
      if (k > 0) assert_true(rk_synth_zipf_pmf(&z, k) <= rk_synth_zipf_pmf(&z, k - 1) + 1e-15);
    }
    assert_true(fabs(sum - 1.0) < 1e-12);
    int64_t counts[50] = {0};
    rk_rng rng;
    rk_rng_init(&rng, 7, 0);
    const int draws = 200000;
    for (int i = 0; i < draws; i++) counts[rk_synth_zipf_sample(&z, rk_rng_uniform(&rng))]++;
    for (int64_t k = 0; k < 50; k++) {
      double p = rk_synth_zipf_pmf(&z, k), sd = sqrt(p * (1 - p) / draws);
      if (fabs((double)counts[k] / draws - p) > 5 * sd + 1e-4)
        fail_msg("zipf s=%g rank %lld: frequency %g, pmf %g", exps[e], (long long)k, (double)counts[k] / draws, p);
    }
  }
}

/* ---------------------------------------------------------------------------------------------
 * TenRec.
 * ------------------------------------------------------------------------------------------- */
static void small_tenrec(rk_synth_tenrec_config *cfg, int64_t rows) {
  rk_synth_tenrec_config_default(cfg);
  cfg->rows = rows;
  cfg->seed = 7;
}

static void test_tenrec_same_for_any_threads_and_batch(void **state) {
  (void)state;
  rk_synth_tenrec_config cfg;
  small_tenrec(&cfg, 30000);
  cfg.emit_truth = true;
  cfg.na_fraction = 0.05;
  cfg.batch_rows = 10000;
  mem_sink ref, other;
  rk_synth_tenrec_stats st_ref, st;
  rk_set_num_threads(1);
  tenrec_run(&ref, &st_ref, &cfg);
  assert_int_equal(ref.all.nrows, 30000);
  assert_int_equal(ref.batches, 3);
  const int threads[] = {2, 4};
  for (int t = 0; t < 2; t++) {
    rk_set_num_threads(threads[t]);
    tenrec_run(&other, &st, &cfg);
    assert_true(batches_equal(&ref.all, &other.all));
    assert_memory_equal(st.bayes_auc, st_ref.bayes_auc, sizeof st.bayes_auc);
    assert_memory_equal(st.positives, st_ref.positives, sizeof st.positives);
    assert_true(st.watching_times_bayes_rmse == st_ref.watching_times_bayes_rmse);
    mem_free(&other);
  }
  /* Batches of another size (not a multiple of 8) concatenate to the same table. */
  cfg.batch_rows = 7777;
  tenrec_run(&other, &st, &cfg);
  assert_int_equal(other.batches, 4);
  assert_true(batches_equal(&ref.all, &other.all));
  assert_memory_equal(st.bayes_auc, st_ref.bayes_auc, sizeof st.bayes_auc);
  mem_free(&other);
  rk_set_num_threads(0);
  mem_free(&ref);
}

static void test_tenrec_seed(void **state) {
  (void)state;
  rk_synth_tenrec_config cfg;
  small_tenrec(&cfg, 5000);
  mem_sink a, b, c;
  tenrec_run(&a, NULL, &cfg);
  tenrec_run(&b, NULL, &cfg);
  cfg.seed = 8;
  tenrec_run(&c, NULL, &cfg);
  assert_true(batches_equal(&a.all, &b.all));
  assert_false(rk_column_equal(&a.all.cols[0], &c.all.cols[0]));
  assert_false(rk_column_equal(&a.all.cols[2], &c.all.cols[2]));
  mem_free(&a), mem_free(&b), mem_free(&c);
}

static void test_tenrec_columns_and_rates(void **state) {
  (void)state;
  rk_synth_tenrec_config cfg;
  small_tenrec(&cfg, 50000);
  mem_sink m;
  rk_synth_tenrec_stats st;
  tenrec_run(&m, &st, &cfg);
  const char *names[] = {"user_id", "item_id", "click", "follow", "like", "share", "video_category",
                         "watching_times", "gender", "age"};
  assert_int_equal(m.all.ncols, 10);
  for (int j = 0; j < 10; j++) {
    assert_string_equal(m.all.cols[j].name, names[j]);
    assert_true(rk_coltype_is_int(m.all.cols[j].type));
    assert_int_equal(m.all.cols[j].null_count, 0);
  }
  assert_int_equal(st.config.users, 2500);
  assert_int_equal(st.config.items, 1000);
  int64_t n = m.all.nrows, pos[4] = {0};
  const rk_column *click = batch_col(&m.all, "click"), *watch = batch_col(&m.all, "watching_times");
  const char *after[3] = {"follow", "like", "share"};
  for (int64_t i = 0; i < n; i++) {
    int64_t c = rk_column_get_int(click, i);
    pos[0] += c;
    for (int k = 0; k < 3; k++) {
      int64_t v = rk_column_get_int(batch_col(&m.all, after[k]), i);
      if (v && !c) fail_msg("row %lld: %s without a click", (long long)i, after[k]);
      pos[1 + k] += v;
    }
    int64_t w = rk_column_get_int(watch, i);
    assert_true(c ? w >= 1 : w == 0);
    int64_t u = rk_column_get_int(batch_col(&m.all, "user_id"), i), it = rk_column_get_int(batch_col(&m.all, "item_id"), i);
    assert_true(u >= 1 && u <= st.config.users);
    assert_true(it >= 1 && it <= st.config.items);
  }
  /* stats order: click, follow, like, share */
  assert_int_equal(st.positives[RK_SYNTH_CLICK], pos[0]);
  assert_int_equal(st.positives[RK_SYNTH_FOLLOW], pos[1]);
  assert_int_equal(st.positives[RK_SYNTH_LIKE], pos[2]);
  assert_int_equal(st.positives[RK_SYNTH_SHARE], pos[3]);
  double r_click = (double)pos[0] / n, r_follow = (double)pos[1] / n, r_like = (double)pos[2] / n,
         r_share = (double)pos[3] / n;
  if (!(r_click > 0.24 && r_click < 0.31)) fail_msg("click rate %g", r_click);
  if (!(r_like > 0.006 && r_like < 0.015)) fail_msg("like rate %g", r_like);
  if (!(r_follow > 0.001 && r_follow < 0.01)) fail_msg("follow rate %g", r_follow);
  if (!(r_share > 0.001 && r_share < 0.01)) fail_msg("share rate %g", r_share);
  for (int k = 0; k < 4; k++) assert_true(fabs(st.expected_rate[k] - st.positive_rate[k]) < 5 * sqrt(st.expected_rate[k] / n) + 1e-3);
  assert_true(st.watching_times_bayes_rmse > 0.1 && st.watching_times_bayes_rmse < 3.0);
  mem_free(&m);
}

/* Users keep their attributes across rows, items their category; ids are skewed and scrambled. */
static void test_tenrec_attributes_and_skew(void **state) {
  (void)state;
  rk_synth_tenrec_config cfg;
  small_tenrec(&cfg, 50000);
  mem_sink m;
  rk_synth_tenrec_stats st;
  tenrec_run(&m, &st, &cfg);
  int64_t U = st.config.users, I = st.config.items;
  int *gender = malloc((size_t)(U + 1) * sizeof(int)), *age = malloc((size_t)(U + 1) * sizeof(int));
  int *cat = malloc((size_t)(I + 1) * sizeof(int));
  int64_t *item_count = calloc((size_t)I + 1, sizeof(int64_t));
  for (int64_t i = 0; i <= U; i++) gender[i] = age[i] = -1;
  for (int64_t i = 0; i <= I; i++) cat[i] = -1;
  for (int64_t i = 0; i < m.all.nrows; i++) {
    int64_t u = rk_column_get_int(batch_col(&m.all, "user_id"), i), it = rk_column_get_int(batch_col(&m.all, "item_id"), i);
    int g = (int)rk_column_get_int(batch_col(&m.all, "gender"), i), a = (int)rk_column_get_int(batch_col(&m.all, "age"), i);
    int c = (int)rk_column_get_int(batch_col(&m.all, "video_category"), i);
    assert_true(g >= 0 && g <= 2);
    assert_true(a >= 0 && a <= 7);
    assert_true(c >= 0 && c < cfg.categories);
    if (gender[u] >= 0 && (gender[u] != g || age[u] != a)) fail_msg("user %lld changed attributes", (long long)u);
    if (cat[it] >= 0 && cat[it] != c) fail_msg("item %lld changed category", (long long)it);
    gender[u] = g, age[u] = a, cat[it] = c;
    item_count[it]++;
  }
  /* Top 1% of items by count take a large share of rows. */
  int64_t *sorted = malloc((size_t)I * sizeof(int64_t));
  memcpy(sorted, item_count + 1, (size_t)I * sizeof(int64_t));
  int64_t top_id = 1;
  for (int64_t i = 1; i <= I; i++)
    if (item_count[i] > item_count[top_id]) top_id = i;
  for (int64_t i = 0; i < I; i++)   /* partial selection sort of the top 1% */
    for (int64_t j = i + 1; j < I && i < I / 100; j++)
      if (sorted[j] > sorted[i]) {
        int64_t t = sorted[i];
        sorted[i] = sorted[j];
        sorted[j] = t;
      }
  int64_t top = 0;
  for (int64_t i = 0; i < I / 100; i++) top += sorted[i];
  double share = (double)top / (double)m.all.nrows;
  if (share < 0.25) fail_msg("top 1%% of items take only %g of rows", share);
  assert_true(top_id != 1);   /* ids are not in popularity order */
  free(gender), free(age), free(cat), free(item_count), free(sorted);
  mem_free(&m);
}

static int cmp_score(const void *a, const void *b) {
  const double *x = a, *y = b;
  return (x[0] > y[0]) - (x[0] < y[0]);
}

/* AUC by sorting: P(score_pos > score_neg) + 0.5 P(tie), ties grouped. */
static double brute_auc(const rk_column *score, const rk_column *label) {
  int64_t n = score->length;
  double *pairs = malloc((size_t)n * 2 * sizeof(double));
  for (int64_t i = 0; i < n; i++) {
    pairs[2 * i] = rk_column_get_double(score, i);
    pairs[2 * i + 1] = (double)rk_column_get_int(label, i);
  }
  qsort(pairs, (size_t)n, 2 * sizeof(double), cmp_score);
  double neg_below = 0, acc = 0, P = 0, N = 0;
  for (int64_t i = 0; i < n;) {
    int64_t j = i;
    double pos = 0, neg = 0;
    while (j < n && pairs[2 * j] == pairs[2 * i]) {
      pos += pairs[2 * j + 1];
      neg += 1 - pairs[2 * j + 1];
      j++;
    }
    acc += pos * (neg_below + 0.5 * neg);
    neg_below += neg;
    P += pos, N += neg;
    i = j;
  }
  free(pairs);
  return acc / (P * N);
}

static void test_tenrec_bayes_auc_matches_labels(void **state) {
  (void)state;
  rk_synth_tenrec_config cfg;
  small_tenrec(&cfg, 50000);
  cfg.emit_truth = true;
  mem_sink m;
  rk_synth_tenrec_stats st;
  tenrec_run(&m, &st, &cfg);
  assert_int_equal(m.all.ncols, 14);
  const char *p_names[4] = {"p_click", "p_follow", "p_like", "p_share"};
  const char *y_names[4] = {"click", "follow", "like", "share"};
  const double tol[4] = {0.01, 0.06, 0.03, 0.07};   /* a few standard errors at these positive counts */
  for (int k = 0; k < 4; k++) {
    const rk_column *p = batch_col(&m.all, p_names[k]), *y = batch_col(&m.all, y_names[k]);
    double sum = 0;
    for (int64_t i = 0; i < p->length; i++) {
      double v = rk_column_get_double(p, i);
      assert_true(v >= 0 && v <= 1);
      if (k > 0) assert_true(v <= rk_column_get_double(batch_col(&m.all, "p_click"), i));
      sum += v;
    }
    assert_true(fabs(sum / (double)p->length - st.expected_rate[k]) < 1e-6);
    double auc = brute_auc(p, y);
    if (fabs(auc - st.bayes_auc[k]) > tol[k])
      fail_msg("%s: sidecar Bayes AUC %g, empirical AUC of %s %g", y_names[k], st.bayes_auc[k], p_names[k], auc);
    assert_true(st.bayes_auc[k] > 0.6 && st.bayes_auc[k] < 0.98);
  }
  mem_free(&m);
}

static void test_tenrec_na_fraction(void **state) {
  (void)state;
  rk_synth_tenrec_config cfg;
  small_tenrec(&cfg, 20000);
  mem_sink plain, nulls;
  tenrec_run(&plain, NULL, &cfg);
  cfg.na_fraction = 0.1;
  rk_synth_tenrec_stats st;
  tenrec_run(&nulls, &st, &cfg);
  int64_t total = 0;
  for (int j = 0; j < nulls.all.ncols; j++) {
    const rk_column *a = &plain.all.cols[j], *b = &nulls.all.cols[j];
    bool feature = !strcmp(b->name, "video_category") || !strcmp(b->name, "gender") || !strcmp(b->name, "age");
    if (!feature) {
      assert_int_equal(b->null_count, 0);
      assert_true(rk_column_equal(a, b));
      continue;
    }
    double share = (double)b->null_count / (double)b->length;
    if (fabs(share - 0.1) > 0.01) fail_msg("%s: null share %g", b->name, share);
    int64_t counted = 0;
    for (int64_t i = 0; i < b->length; i++) {
      if (rk_column_is_null(b, i)) {
        counted++;
        assert_int_equal(rk_column_get_int(b, i), 0);
      } else {
        assert_int_equal(rk_column_get_int(a, i), rk_column_get_int(b, i));   /* same data under the nulls */
      }
    }
    assert_int_equal(counted, b->null_count);
    total += counted;
  }
  assert_int_equal(st.null_cells, total);
  mem_free(&plain), mem_free(&nulls);
}

static void test_tenrec_sidecar(void **state) {
  (void)state;
  rk_synth_tenrec_config cfg;
  small_tenrec(&cfg, 3000);
  mem_sink m;
  mem_init(&m, false);
  rk_synth_tenrec_stats st;
  assert_rk_ok(rk_synth_tenrec(&m.base, &st, &cfg));
  assert_int_equal(m.rows, 3000);
  char path[4200];
  snprintf(path, sizeof path, "%s/tenrec.csv.json", rk_test_tmpdir("synth_tenrec_sidecar"));
  assert_rk_ok(rk_synth_tenrec_write_sidecar(path, &st));
  json_error_t err;
  json_t *root = json_load_file(path, 0, &err);
  if (!root) fail_msg("sidecar does not parse: %s", err.text);
  assert_string_equal(json_string_value(json_object_get(root, "generator")), "tenrec");
  assert_int_equal(json_integer_value(json_object_get(json_object_get(root, "config"), "rows")), 3000);
  assert_int_equal(json_integer_value(json_object_get(json_object_get(root, "config"), "seed")), 7);
  assert_int_equal(json_integer_value(json_object_get(json_object_get(root, "config"), "users")), 150);
  json_t *click = json_object_get(json_object_get(root, "targets"), "click");
  assert_non_null(click);
  assert_true(fabs(json_real_value(json_object_get(click, "bayes_auc")) - st.bayes_auc[0]) < 1e-9);
  assert_int_equal(json_integer_value(json_object_get(click, "positives")), st.positives[0]);
  assert_non_null(json_object_get(json_object_get(root, "targets"), "share"));
  assert_true(json_real_value(json_object_get(json_object_get(root, "watching_times"), "bayes_rmse")) > 0);
  json_decref(root);
}

static void test_tenrec_invalid_config(void **state) {
  (void)state;
  rk_synth_tenrec_config cfg;
  mem_sink m;
  mem_init(&m, false);
  small_tenrec(&cfg, 100);
  cfg.users = -1;
  assert_int_equal(rk_synth_tenrec(&m.base, NULL, &cfg), RK_EINVAL);
  assert_non_null(strstr(rk_error_message(), "users"));
  small_tenrec(&cfg, 100);
  cfg.na_fraction = 1.5;
  assert_int_equal(rk_synth_tenrec(&m.base, NULL, &cfg), RK_EINVAL);
  assert_non_null(strstr(rk_error_message(), "na_fraction"));
  small_tenrec(&cfg, 0);   /* zero rows: one empty batch, so a writer still learns the columns */
  assert_rk_ok(rk_synth_tenrec(&m.base, NULL, &cfg));
  assert_int_equal(m.batches, 1);
  assert_int_equal(m.rows, 0);
}

/* Every allocation failure: RK_ENOMEM, nothing leaked; and a failing sink's error comes back. */
static void test_tenrec_failures(void **state) {
  (void)state;
  rk_synth_tenrec_config cfg;
  small_tenrec(&cfg, 2000);
  cfg.emit_truth = true;
  cfg.na_fraction = 0.1;
  cfg.batch_rows = 1000;
  int64_t start = rk_alloc_live_bytes();
  assert_true(rk_test_walk_failures(run_tenrec, &cfg) > 3);
  mem_sink m;
  mem_init(&m, false);
  m.fail_at = 1;
  assert_int_equal(rk_synth_tenrec(&m.base, NULL, &cfg), RK_EIO);
  assert_non_null(strstr(rk_error_message(), "injected sink failure"));
  assert_int_equal(rk_alloc_live_bytes(), start);
}

/* ---------------------------------------------------------------------------------------------
 * Sessions.
 * ------------------------------------------------------------------------------------------- */
static void small_sessions(rk_synth_sessions_config *cfg, int64_t sessions) {
  rk_synth_sessions_config_default(cfg);
  cfg->sessions = sessions;
  cfg->items = 2000;
  cfg->seed = 11;
}

static void test_sessions_same_for_any_threads_and_batch(void **state) {
  (void)state;
  rk_synth_sessions_config cfg;
  small_sessions(&cfg, 5000);
  cfg.emit_truth = true;
  cfg.batch_rows = 6000;
  mem_sink ref, other;
  rk_synth_sessions_stats st_ref, st;
  rk_set_num_threads(1);
  sessions_run(&ref, &st_ref, &cfg);
  assert_true(ref.batches >= 4);
  const int threads[] = {2, 4};
  for (int t = 0; t < 2; t++) {
    rk_set_num_threads(threads[t]);
    sessions_run(&other, &st, &cfg);
    assert_true(batches_equal(&ref.all, &other.all));
    assert_true(st.oracle_recall == st_ref.oracle_recall && st.oracle_mrr == st_ref.oracle_mrr);
    mem_free(&other);
  }
  cfg.batch_rows = 1 << 20;
  sessions_run(&other, &st, &cfg);
  assert_int_equal(other.batches, 1);
  assert_true(batches_equal(&ref.all, &other.all));
  assert_true(st.oracle_recall == st_ref.oracle_recall && st.oracle_ndcg == st_ref.oracle_ndcg);
  mem_free(&other);
  cfg.seed = 12;
  sessions_run(&other, &st, &cfg);
  assert_false(rk_column_equal(&ref.all.cols[1], &other.all.cols[1]));
  mem_free(&other);
  rk_set_num_threads(0);
  mem_free(&ref);
}

static void test_sessions_structure(void **state) {
  (void)state;
  rk_synth_sessions_config cfg;
  small_sessions(&cfg, 4000);
  cfg.days = 3;
  mem_sink m;
  rk_synth_sessions_stats st;
  sessions_run(&m, &st, &cfg);
  assert_int_equal(st.rows, m.all.nrows);
  assert_int_equal(st.steps, st.rows - 4000);
  const rk_column *sid = batch_col(&m.all, "session_id"), *item = batch_col(&m.all, "item_id"), *cat = batch_col(&m.all, "category");
  const rk_column *price = batch_col(&m.all, "price"), *ts = batch_col(&m.all, "timestamp");
  assert_int_equal(price->type, RK_COL_FLOAT64);
  assert_int_equal(ts->type, RK_COL_INT64);
  int *item_cat = calloc((size_t)cfg.items + 1, sizeof(int));
  double *item_price = calloc((size_t)cfg.items + 1, sizeof(double));
  int64_t prev_sid = 0, len = 0, prev_start = 0, prev_t = 0;
  int64_t t0 = cfg.start_time, t1 = cfg.start_time + (int64_t)cfg.days * 86400;
  for (int64_t i = 0; i <= m.all.nrows; i++) {
    int64_t s = i < m.all.nrows ? rk_column_get_int(sid, i) : -1;
    if (s != prev_sid) {
      if (prev_sid) {
        if (len < 2 || len > cfg.max_length) fail_msg("session %lld has %lld events", (long long)prev_sid, (long long)len);
      }
      if (s < 0) break;
      assert_int_equal(s, prev_sid + 1);   /* whole sessions, in order */
      int64_t t = rk_column_get_int(ts, i);
      assert_true(t >= prev_start);        /* sorted by start time */
      assert_true(t >= t0 && t < t1);
      prev_start = prev_t = t;
      prev_sid = s;
      len = 0;
    }
    int64_t t = rk_column_get_int(ts, i);
    assert_true(t >= prev_t);
    prev_t = t;
    len++;
    int64_t x = rk_column_get_int(item, i);
    assert_true(x >= 1 && x <= cfg.items);
    int c = (int)rk_column_get_int(cat, i);
    double p = rk_column_get_double(price, i);
    assert_true(c >= 1 && c <= cfg.categories);
    assert_true(p >= 0.01);
    if (item_cat[x] && (item_cat[x] != c || item_price[x] != p)) fail_msg("item %lld changed category or price", (long long)x);
    item_cat[x] = c;
    item_price[x] = p;
  }
  assert_int_equal(prev_sid, 4000);
  assert_true(st.mean_length > 5.0 && st.mean_length < 7.0);
  free(item_cat), free(item_price);
  mem_free(&m);
}

/* Successor transitions, seen through the model's own tables: about p_successor of the steps. */
static void test_sessions_successor_rate(void **state) {
  (void)state;
  rk_synth_sessions_config cfg, resolved;
  small_sessions(&cfg, 6000);
  mem_sink m;
  rk_synth_sessions_stats st;
  sessions_run(&m, &st, &cfg);
  assert_rk_ok(rk_synth_sessions_resolve(&resolved, &cfg));
  rk_synth_sessions_model model;
  assert_rk_ok(rk_synth_sessions_model_init(&model, &resolved));
  int32_t *rank_of = malloc((size_t)(model.n + 1) * sizeof(int32_t));
  for (int64_t r = 0; r < model.n; r++) rank_of[rk_synth_perm_apply(&model.perm, (uint64_t)r) + 1] = (int32_t)r;
  const rk_column *sid = batch_col(&m.all, "session_id"), *item = batch_col(&m.all, "item_id");
  int64_t steps = 0, succ = 0;
  for (int64_t i = 1; i < m.all.nrows; i++) {
    if (rk_column_get_int(sid, i) != rk_column_get_int(sid, i - 1)) continue;
    int32_t cur = rank_of[rk_column_get_int(item, i - 1)], nxt = rank_of[rk_column_get_int(item, i)];
    steps++;
    for (int j = 0; j < model.nsucc; j++) succ += model.succ[(int64_t)cur * model.nsucc + j] == nxt;
  }
  assert_int_equal(steps, st.steps);
  double rate = (double)succ / (double)steps, sd = sqrt(0.25 / (double)steps);
  /* At least the successor component; other components land on a successor only by chance. */
  if (rate < cfg.p_successor - 4 * sd || rate > cfg.p_successor + 0.04)
    fail_msg("successor transitions %g of steps, p_successor %g", rate, cfg.p_successor);
  assert_true(fabs(st.successor_share - cfg.p_successor) < 4 * sd);
  assert_true(fabs(st.interest_share - cfg.p_interest) < 4 * sqrt(0.21 / (double)steps));
  free(rank_of);
  rk_synth_sessions_model_free(&model);
  mem_free(&m);
}

static int cmp_desc(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x < y) - (x > y);
}

/* The oracle's top K against sorting every item's probability, including catalogues where the
 * interest categories hold most items, so the candidate lists must widen. */
static void test_sessions_oracle_is_exact(void **state) {
  (void)state;
  const int cats[] = {20, 3, 1};
  const int ks[] = {20, 50, 5};
  int64_t widened = 0;
  for (int t = 0; t < 3; t++) {
    rk_synth_sessions_config cfg, resolved;
    small_sessions(&cfg, 10);
    cfg.items = 300;
    cfg.categories = cats[t];
    cfg.topk = ks[t];
    cfg.p_successor = 0.2;
    cfg.p_interest = 0.7;
    assert_rk_ok(rk_synth_sessions_resolve(&resolved, &cfg));
    rk_synth_sessions_model m;
    assert_rk_ok(rk_synth_sessions_model_init(&m, &resolved));
    double *all = malloc((size_t)m.n * sizeof(double));
    rk_rng rng;
    rk_rng_init(&rng, 5, (uint64_t)t);
    for (int trial = 0; trial < 200; trial++) {
      rk_synth_session_state st = {.cur = (int32_t)rk_rng_below(&rng, (uint64_t)m.n), .ninterest = 1};
      st.interest[0] = (int32_t)rk_rng_below(&rng, (uint64_t)m.ncat);
      st.interest_w[0] = 1.0;
      if (m.ncat > 1 && trial % 2) {
        st.ninterest = 2;
        st.interest[1] = (st.interest[0] + 1) % m.ncat;
        st.interest_w[0] = 0.6;
        st.interest_w[1] = 0.4;
      }
      double sum = 0;
      for (int64_t x = 0; x < m.n; x++) sum += all[x] = rk_synth_sessions_next_prob(&m, &st, (int32_t)x);
      assert_true(fabs(sum - 1.0) < 1e-9);
      qsort(all, (size_t)m.n, sizeof(double), cmp_desc);
      rk_synth_oracle_step o;
      rk_synth_sessions_oracle(&o, &m, &st, cfg.topk);
      double recall = 0, mrr = 0;
      for (int r = 0; r < cfg.topk; r++) {
        recall += all[r];
        mrr += all[r] / (r + 1);
        assert_true(fabs(rk_synth_sessions_next_prob(&m, &st, o.top[r]) - all[r]) < 1e-12);
      }
      if (fabs(o.recall - recall) > 1e-12 || fabs(o.mrr - mrr) > 1e-12)
        fail_msg("categories %d k %d: oracle recall %.15g mrr %.15g, by sorting %.15g %.15g", cats[t], cfg.topk,
                 o.recall, o.mrr, recall, mrr);
      widened += o.widened;
    }
    free(all);
    rk_synth_sessions_model_free(&m);
  }
  assert_true(widened > 0);   /* the widening path ran */
}

/* The sidecar's Recall@K is what the true top K actually hits on the generated rows. */
static void test_sessions_oracle_matches_hits(void **state) {
  (void)state;
  rk_synth_sessions_config cfg;
  small_sessions(&cfg, 8000);
  cfg.emit_truth = true;
  mem_sink m;
  rk_synth_sessions_stats st;
  sessions_run(&m, &st, &cfg);
  assert_true(st.oracle_recall > 0 && st.oracle_recall < 1);
  assert_true(st.oracle_mrr > 0 && st.oracle_mrr <= st.oracle_ndcg && st.oracle_ndcg <= st.oracle_recall);
  assert_true(st.popularity_recall < st.oracle_recall);
  const rk_column *hit = batch_col(&m.all, "topk_hit"), *mass = batch_col(&m.all, "topk_mass"), *p = batch_col(&m.all, "p_next");
  assert_int_equal(hit->null_count, 8000);
  double hits = 0, masses = 0;
  int64_t steps = 0;
  for (int64_t i = 0; i < m.all.nrows; i++) {
    if (rk_column_is_null(hit, i)) continue;
    steps++;
    hits += (double)rk_column_get_int(hit, i);
    masses += rk_column_get_double(mass, i);
    double pn = rk_column_get_double(p, i);
    assert_true(pn > 0 && pn <= 1);
  }
  assert_int_equal(steps, st.steps);
  assert_true(fabs(masses / (double)steps - st.oracle_recall) < 1e-9);
  double sd = sqrt(st.oracle_recall * (1 - st.oracle_recall) / (double)steps);
  if (fabs(hits / (double)steps - st.oracle_recall) > 4 * sd)
    fail_msg("empirical hit rate of the true top %d: %g, sidecar Recall@%d %g", cfg.topk, hits / (double)steps, cfg.topk,
             st.oracle_recall);
  char path[4200];
  snprintf(path, sizeof path, "%s/sessions.csv.json", rk_test_tmpdir("synth_sessions_sidecar"));
  assert_rk_ok(rk_synth_sessions_write_sidecar(path, &st));
  json_error_t err;
  json_t *root = json_load_file(path, 0, &err);
  if (!root) fail_msg("sidecar does not parse: %s", err.text);
  json_t *oracle = json_object_get(root, "oracle");
  assert_int_equal(json_integer_value(json_object_get(oracle, "k")), 20);
  double r = json_real_value(json_object_get(oracle, "recall"));
  assert_true(r > 0 && r < 1 && fabs(r - st.oracle_recall) < 1e-9);
  assert_int_equal(json_integer_value(json_object_get(root, "sessions")), 8000);
  json_decref(root);
  mem_free(&m);
}

static void test_sessions_failures(void **state) {
  (void)state;
  rk_synth_sessions_config cfg;
  small_sessions(&cfg, 3000);
  cfg.items = 300;
  cfg.emit_truth = true;
  cfg.batch_rows = 6000;
  int64_t start = rk_alloc_live_bytes();
  assert_true(rk_test_walk_failures(run_sessions, &cfg) > 5);
  mem_sink m;
  mem_init(&m, false);
  m.fail_at = 1;
  assert_int_equal(rk_synth_sessions(&m.base, NULL, &cfg), RK_EIO);
  assert_int_equal(rk_alloc_live_bytes(), start);
  cfg.p_successor = 0.8;   /* with p_interest 0.3: over 1 */
  assert_int_equal(rk_synth_sessions(&m.base, NULL, &cfg), RK_EINVAL);
  assert_non_null(strstr(rk_error_message(), "p_successor"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_perm_is_bijection),
      cmocka_unit_test(test_zipf_pmf_and_sampling),
      cmocka_unit_test(test_tenrec_same_for_any_threads_and_batch),
      cmocka_unit_test(test_tenrec_seed),
      cmocka_unit_test(test_tenrec_columns_and_rates),
      cmocka_unit_test(test_tenrec_attributes_and_skew),
      cmocka_unit_test(test_tenrec_bayes_auc_matches_labels),
      cmocka_unit_test(test_tenrec_na_fraction),
      cmocka_unit_test(test_tenrec_sidecar),
      cmocka_unit_test(test_tenrec_invalid_config),
      cmocka_unit_test(test_tenrec_failures),
      cmocka_unit_test(test_sessions_same_for_any_threads_and_batch),
      cmocka_unit_test(test_sessions_structure),
      cmocka_unit_test(test_sessions_successor_rate),
      cmocka_unit_test(test_sessions_oracle_is_exact),
      cmocka_unit_test(test_sessions_oracle_matches_hits),
      cmocka_unit_test(test_sessions_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
