/*
 * Next-item ranking over the whole catalogue (src/metrics/catalog_rank.c) and the metrics at k
 * (src/metrics/rank_at_k.c), against brute force: every score of every row computed on its own,
 * the catalogue sorted by (score descending, id ascending), the target's position read off.
 * Scores are sums of small multiples of 1/8, exact in float whatever the summation order, so
 * ties are frequent and the brute force sees the very floats the ranker sees. Cases: blocks that
 * do not divide V, V = 20000 with blocks of 333, first_item 3 (padding, null and OOV ids not
 * ranked), padding targets, no bias; top-k lists item by item; real-valued scores identical for
 * 1 and 4 threads and any block; the metrics' values worked by hand, the mean over examples and
 * the 2021 code's mean of batch means; bad input and allocation failures.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "reckon/metrics.h"
#include "support.h"

typedef struct {
  int64_t V, D, B;
  float *items;    /* (V, D) */
  float *bias;     /* (V) */
  float *hidden;   /* (B, D) */
  int64_t *target; /* (B) */
} problem;

/* Values in {-2, ..., 2} / 8 (coarse: exact sums, many ties) or normal (fine). Targets are
 * uniform, with a padding target (0) every 7th row. */
static problem make_problem(int64_t V, int64_t D, int64_t B, uint64_t seed, bool coarse) {
  rk_rng rng;
  rk_rng_init(&rng, seed, 3);
  problem p = {V, D, B, malloc((size_t)(V * D) * sizeof(float)), malloc((size_t)V * sizeof(float)),
               malloc((size_t)(B * D) * sizeof(float)), malloc((size_t)B * sizeof(int64_t))};
  float *all[2] = {p.items, p.hidden};
  int64_t n[2] = {V * D, B * D};
  for (int a = 0; a < 2; a++)
    for (int64_t i = 0; i < n[a]; i++)
      all[a][i] = coarse ? (float)((int)rk_rng_below(&rng, 5) - 2) / 8.0f : (float)rk_rng_normal(&rng);
  for (int64_t v = 0; v < V; v++) p.bias[v] = coarse ? (float)((int)rk_rng_below(&rng, 3) - 1) / 8.0f : 0.1f * (float)rk_rng_normal(&rng);
  for (int64_t b = 0; b < B; b++) p.target[b] = b % 7 == 3 ? 0 : (int64_t)rk_rng_below(&rng, (uint64_t)V);
  return p;
}

static void free_problem(problem *p) {
  free(p->items);
  free(p->bias);
  free(p->hidden);
  free(p->target);
}

static float score_of(const problem *p, bool with_bias, int64_t b, int64_t v) {
  double s = with_bias ? p->bias[v] : 0.0;
  for (int64_t d = 0; d < p->D; d++) s += (double)p->hidden[b * p->D + d] * (double)p->items[v * p->D + d];
  return (float)s;   /* exact for the coarse values */
}

typedef struct {
  float s;
  int64_t id;
} scored;

static int by_rank(const void *a, const void *b) {
  const scored *x = a, *y = b;
  if (x->s != y->s) return x->s > y->s ? -1 : 1;
  return x->id < y->id ? -1 : x->id > y->id;
}

/* Rank every row's catalogue with the ranker and by sorting; compare ranks and top-k lists. */
static void check_against_sort(const problem *p, bool with_bias, int64_t first_item, int64_t block, int top_k) {
  rk_catalog cat = {p->items, with_bias ? p->bias : NULL, p->V, p->D, first_item, block, NULL};
  rk_catalog_ranker *r;
  assert_rk_ok(rk_catalog_ranker_create(&r, &cat, p->B, top_k));
  int64_t *rank = malloc((size_t)p->B * sizeof *rank);
  int64_t *ids = malloc((size_t)(p->B * top_k + 1) * sizeof *ids);
  float *scores = malloc((size_t)(p->B * top_k + 1) * sizeof *scores);
  assert_rk_ok(rk_catalog_rank(r, rank, top_k ? ids : NULL, top_k ? scores : NULL, p->hidden, p->target, p->B));
  int64_t ranked = p->V - first_item;
  scored *all = malloc((size_t)ranked * sizeof *all);
  int64_t ties_seen = 0;
  for (int64_t b = 0; b < p->B; b++) {
    for (int64_t v = first_item; v < p->V; v++) all[v - first_item] = (scored){score_of(p, with_bias, b, v), v};
    qsort(all, (size_t)ranked, sizeof *all, by_rank);
    int64_t want = 0;
    if (p->target[b] != 0 && p->target[b] >= first_item) {
      for (int64_t i = 0; i < ranked && !want; i++)
        if (all[i].id == p->target[b]) want = i + 1;
      float st = score_of(p, with_bias, b, p->target[b]);
      for (int64_t i = 0; i < ranked; i++) ties_seen += all[i].s == st && all[i].id != p->target[b];
    }
    if (rank[b] != want)
      fail_msg("V %lld block %lld first_item %lld: row %lld (target %lld) has rank %lld, brute force %lld", (long long)p->V,
               (long long)block, (long long)first_item, (long long)b, (long long)p->target[b], (long long)rank[b],
               (long long)want);
    for (int k = 0; k < top_k; k++) {
      int64_t want_id = k < ranked ? all[k].id : -1;
      float want_s = k < ranked ? all[k].s : -INFINITY;
      if (ids[b * top_k + k] != want_id || scores[b * top_k + k] != want_s)
        fail_msg("row %lld: top-%d entry %d is item %lld (%g), brute force item %lld (%g)", (long long)b, top_k, k,
                 (long long)ids[b * top_k + k], scores[b * top_k + k], (long long)want_id, want_s);
    }
  }
  assert_true(ties_seen > 0);   /* the case exercises the tie rule */
  free(all);
  free(rank);
  free(ids);
  free(scores);
  rk_catalog_ranker_free(r);
}

static void test_ranks_against_sort(void **state) {
  (void)state;
  problem p = make_problem(1000, 3, 37, 11, true);
  check_against_sort(&p, true, 0, 96, 10);     /* 1000 = 10 * 96 + 40 */
  check_against_sort(&p, true, 3, 96, 10);     /* ids 1, 2 (null, OOV) and padding 0 not ranked */
  check_against_sort(&p, false, 0, 1000, 0);   /* one block, no bias, no lists */
  check_against_sort(&p, true, 0, 1, 5);       /* a block per item */
  check_against_sort(&p, true, 0, 0, 1000);    /* default block; every item listed */
  free_problem(&p);
  problem small = make_problem(6, 2, 5, 12, true);
  check_against_sort(&small, true, 0, 4, 9);   /* lists longer than the catalogue: padded */
  free_problem(&small);
}

static void test_large_catalogue(void **state) {
  (void)state;
  problem p = make_problem(20000, 4, 9, 13, true);
  check_against_sort(&p, true, 0, 333, 20);
  free_problem(&p);
}

/* Real-valued scores: the same bits for 1 and 4 threads and any block; a rank within the list
 * is the target's place in it. */
static void test_real_scores_deterministic(void **state) {
  (void)state;
  problem p = make_problem(5000, 16, 70, 14, false);
  enum { K = 50 };
  int64_t rank[2][70], ids[2][70 * K];
  float scores[2][70 * K];
  int64_t blocks[2] = {4999, 128};
  int threads[2] = {1, 4};
  for (int run = 0; run < 2; run++) {
    assert_rk_ok(rk_set_num_threads(threads[run]));
    rk_catalog cat = {p.items, p.bias, p.V, p.D, 0, blocks[run], NULL};
    rk_catalog_ranker *r;
    assert_rk_ok(rk_catalog_ranker_create(&r, &cat, p.B, K));
    assert_rk_ok(rk_catalog_rank(r, rank[run], ids[run], scores[run], p.hidden, p.target, p.B));
    rk_catalog_ranker_free(r);
  }
  assert_rk_ok(rk_set_num_threads(0));
  assert_memory_equal(rank[0], rank[1], sizeof rank[0]);
  assert_memory_equal(ids[0], ids[1], sizeof ids[0]);
  assert_memory_equal(scores[0], scores[1], sizeof scores[0]);
  int in_list = 0;
  for (int64_t b = 0; b < p.B; b++) {
    if (p.target[b] == 0) {
      assert_int_equal(rank[0][b], 0);
      continue;
    }
    assert_true(rank[0][b] >= 1 && rank[0][b] <= p.V);
    for (int k = 0; k < K; k++) {
      if (k > 0) assert_true(scores[0][b * K + k - 1] >= scores[0][b * K + k]);
      if (ids[0][b * K + k] == p.target[b]) {
        assert_int_equal(rank[0][b], k + 1);
        in_list++;
      }
    }
    if (rank[0][b] <= K) assert_true(ids[0][b * K + rank[0][b] - 1] == p.target[b]);
  }
  /* make targets good: each row's target is its own best item, so every rank is 1 */
  for (int64_t b = 0; b < p.B; b++)
    if (p.target[b] != 0) p.target[b] = ids[0][b * K];
  rk_catalog cat = {p.items, p.bias, p.V, p.D, 0, 700, NULL};
  rk_catalog_ranker *r;
  assert_rk_ok(rk_catalog_ranker_create(&r, &cat, p.B, 0));
  assert_rk_ok(rk_catalog_rank(r, rank[1], NULL, NULL, p.hidden, p.target, p.B));
  for (int64_t b = 0; b < p.B; b++) assert_int_equal(rank[1][b], p.target[b] != 0 ? 1 : 0);
  rk_catalog_ranker_free(r);
  free_problem(&p);
}

/* Predictions without targets. */
static void test_predict_only(void **state) {
  (void)state;
  problem p = make_problem(300, 3, 8, 15, true);
  rk_catalog cat = {p.items, p.bias, p.V, p.D, 3, 50, NULL};
  rk_catalog_ranker *r;
  assert_rk_ok(rk_catalog_ranker_create(&r, &cat, p.B, 4));
  int64_t ids[8 * 4];
  float scores[8 * 4];
  assert_rk_ok(rk_catalog_rank(r, NULL, ids, scores, p.hidden, NULL, p.B));
  for (int64_t b = 0; b < p.B; b++) {
    for (int k = 0; k < 4; k++) {
      assert_true(ids[b * 4 + k] >= 3);
      assert_true(scores[b * 4 + k] == score_of(&p, true, b, ids[b * 4 + k]));
      /* nothing outside the list beats its last entry */
      for (int64_t v = 3; v < p.V; v++) {
        bool listed = false;
        for (int j = 0; j < 4; j++) listed |= ids[b * 4 + j] == v;
        float s = score_of(&p, true, b, v);
        if (!listed) assert_true(s < scores[b * 4 + 3] || (s == scores[b * 4 + 3] && v > ids[b * 4 + 3]));
      }
    }
  }
  rk_catalog_ranker_free(r);
  free_problem(&p);
}

static void test_metric_values(void **state) {
  (void)state;
  assert_true(rk_rank_metric_at(RK_RANK_NDCG, 1, 10) == 1.0);
  assert_true(rk_rank_metric_at(RK_RANK_NDCG, 3, 10) == 0.5);   /* 1 / log2(4) */
  assert_true(rk_rank_metric_at(RK_RANK_NDCG, 11, 10) == 0.0);
  assert_true(rk_rank_metric_at(RK_RANK_RECALL, 10, 10) == 1.0);
  assert_true(rk_rank_metric_at(RK_RANK_RECALL, 11, 10) == 0.0);
  assert_true(rk_rank_metric_at(RK_RANK_PRECISION, 4, 20) == 0.05);
  assert_true(rk_rank_metric_at(RK_RANK_MRR, 4, 20) == 0.25);
  assert_true(rk_rank_metric_at(RK_RANK_AVG_PRECISION, 4, 20) == 0.25);
  assert_true(rk_rank_metric_at(RK_RANK_AVG_PRECISION, 4, 3) == 0.0);
  assert_string_equal(rk_rank_metric_name(RK_RANK_AVG_PRECISION), "avg_precision");

  /* batch 1: ranks 1, 3, pad; batch 2: rank 30; batch 3: only padding (left out of batch means) */
  rk_rank_metrics m;
  int ks[] = {20, 2};
  assert_rk_ok(rk_rank_metrics_init(&m, ks, 2));
  int64_t b1[] = {1, 3, 0}, b2[] = {30}, b3[] = {0, 0};
  assert_rk_ok(rk_rank_metrics_add(&m, b1, 3));
  assert_rk_ok(rk_rank_metrics_add(&m, b2, 1));
  assert_rk_ok(rk_rank_metrics_add(&m, b3, 2));
  assert_int_equal(m.examples, 3);
  assert_int_equal(m.skipped, 3);
  assert_int_equal(m.batches, 2);
  double eps = 1e-15;
  assert_true(fabs(rk_rank_metrics_result(&m, RK_RANK_RECALL, 0, false) - 2.0 / 3.0) < eps);
  assert_true(fabs(rk_rank_metrics_result(&m, RK_RANK_RECALL, 0, true) - 0.5) < eps);       /* (1 + 0) / 2 */
  assert_true(fabs(rk_rank_metrics_result(&m, RK_RANK_NDCG, 0, false) - 0.5) < eps);        /* (1 + .5 + 0) / 3 */
  assert_true(fabs(rk_rank_metrics_result(&m, RK_RANK_NDCG, 0, true) - 0.375) < eps);       /* (.75 + 0) / 2 */
  assert_true(fabs(rk_rank_metrics_result(&m, RK_RANK_MRR, 1, false) - 1.0 / 3.0) < eps);   /* only rank 1 within 2 */
  assert_true(fabs(rk_rank_metrics_result(&m, RK_RANK_PRECISION, 1, false) - 1.0 / 6.0) < eps);
  assert_true(isnan(rk_rank_metrics_result(&m, RK_RANK_MRR, 2, false)));
  rk_rank_metrics_reset(&m);
  assert_int_equal(m.n_ks, 2);
  assert_int_equal(m.ks[1], 2);
  assert_true(isnan(rk_rank_metrics_result(&m, RK_RANK_NDCG, 0, false)));
  assert_true(isnan(rk_rank_metrics_result(&m, RK_RANK_NDCG, 0, true)));
}

/* The metrics of ranks from the ranker equal the metrics of brute-force ranks. */
static void test_metrics_of_ranks(void **state) {
  (void)state;
  problem p = make_problem(2000, 3, 40, 16, true);
  rk_catalog cat = {p.items, p.bias, p.V, p.D, 0, 300, NULL};
  rk_catalog_ranker *r;
  assert_rk_ok(rk_catalog_ranker_create(&r, &cat, p.B, 0));
  int64_t rank[40];
  assert_rk_ok(rk_catalog_rank(r, rank, NULL, NULL, p.hidden, p.target, p.B));
  rk_catalog_ranker_free(r);
  rk_rank_metrics m;
  int ks[] = {10, 20, 1000};
  assert_rk_ok(rk_rank_metrics_init(&m, ks, 3));
  assert_rk_ok(rk_rank_metrics_add(&m, rank, 17));
  assert_rk_ok(rk_rank_metrics_add(&m, rank + 17, 23));
  double want_ndcg = 0, want_hits = 0, n = 0;
  for (int64_t b = 0; b < p.B; b++) {
    if (p.target[b] == 0) continue;
    float st = score_of(&p, true, b, p.target[b]);
    int64_t above = 0;
    for (int64_t v = 0; v < p.V; v++) {
      float s = score_of(&p, true, b, v);
      above += s > st || (s == st && v < p.target[b]);
    }
    n++;
    if (above + 1 <= 1000) {
      want_hits++;
      want_ndcg += 1.0 / log2((double)above + 2.0);
    }
  }
  assert_true(fabs(rk_rank_metrics_result(&m, RK_RANK_RECALL, 2, false) - want_hits / n) < 1e-12);
  assert_true(fabs(rk_rank_metrics_result(&m, RK_RANK_NDCG, 2, false) - want_ndcg / n) < 1e-12);
  free_problem(&p);
}

static void test_errors(void **state) {
  (void)state;
  rk_rank_metrics m;
  int dup[] = {10, 10}, zero[] = {0};
  assert_int_equal(rk_rank_metrics_init(&m, dup, 2), RK_EINVAL);
  assert_non_null(strstr(rk_error_message(), "10 is given twice"));
  assert_int_equal(rk_rank_metrics_init(&m, zero, 1), RK_EINVAL);
  assert_int_equal(rk_rank_metrics_init(&m, zero, 0), RK_EINVAL);
  int ks[] = {5};
  assert_rk_ok(rk_rank_metrics_init(&m, ks, 1));
  int64_t bad[] = {1, -2};
  assert_int_equal(rk_rank_metrics_add(&m, bad, 2), RK_EINVAL);
  assert_non_null(strstr(rk_error_message(), "row 1"));
  assert_int_equal(m.examples, 0);

  problem p = make_problem(50, 2, 4, 17, true);
  rk_catalog cat = {p.items, p.bias, p.V, p.D, 0, 16, NULL};
  rk_catalog_ranker *r;
  cat.first_item = 50;
  assert_int_equal(rk_catalog_ranker_create(&r, &cat, 4, 0), RK_EINVAL);
  cat.first_item = 0;
  assert_int_equal(rk_catalog_ranker_create(&r, &cat, 0, 0), RK_EINVAL);
  assert_rk_ok(rk_catalog_ranker_create(&r, &cat, 4, 2));
  int64_t rank[4] = {-7, -7, -7, -7}, ids[8];
  float scores[8];
  p.target[2] = 50;
  assert_int_equal(rk_catalog_rank(r, rank, NULL, NULL, p.hidden, p.target, 4), RK_ERANGE);
  assert_non_null(strstr(rk_error_message(), "row 2 has target item 50"));
  p.target[2] = 5;
  assert_int_equal(rk_catalog_rank(r, rank, NULL, NULL, p.hidden, p.target, 5), RK_EINVAL);   /* past max_batch */
  assert_int_equal(rk_catalog_rank(r, rank, ids, NULL, p.hidden, p.target, 4), RK_EINVAL);
  p.items[33 * 2 + 1] = NAN;
  assert_int_equal(rk_catalog_rank(r, rank, ids, scores, p.hidden, p.target, 4), RK_ERANGE);
  assert_non_null(strstr(rk_error_message(), "item 33 as NaN"));
  for (int b = 0; b < 4; b++) assert_int_equal(rank[b], -7);   /* nothing written */
  rk_catalog_ranker_free(r);
  free_problem(&p);
}

static rk_status create_and_rank(void *arg) {
  problem *p = arg;
  rk_catalog cat = {p->items, p->bias, p->V, p->D, 0, 7, NULL};
  rk_catalog_ranker *r;
  RK_TRY(rk_catalog_ranker_create(&r, &cat, p->B, 3));
  int64_t rank[6], ids[18];
  float scores[18];
  rk_status st = rk_catalog_rank(r, rank, ids, scores, p->hidden, p->target, p->B);
  rk_catalog_ranker_free(r);
  return st;
}

static void test_allocation_failures(void **state) {
  (void)state;
  problem p = make_problem(40, 2, 6, 18, true);
  assert_true(rk_test_walk_failures(create_and_rank, &p) >= 9);
  free_problem(&p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ranks_against_sort),
      cmocka_unit_test(test_large_catalogue),
      cmocka_unit_test(test_real_scores_deterministic),
      cmocka_unit_test(test_predict_only),
      cmocka_unit_test(test_metric_values),
      cmocka_unit_test(test_metrics_of_ranks),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_allocation_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
