/*
 * MAP@k, the Wide & Deep recipe's Outbrain metric, against brute force: per group, the rows that
 * outrank its relevant row (a higher score, or the same score and earlier arrival) counted one by
 * one. Random groups of 1..30 rows with tied scores, some without a click and some with two,
 * interleaved across random batches; k = 12, 1 and beyond every group; results identical whatever
 * the batches and the interleaving; a hand-worked example with and without the leak; bad inputs
 * and allocation failures.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "reckon/metrics.h"
#include "support.h"

/* Rows group by group, each group's rows in their arrival order. */
typedef struct {
  int64_t n, ngroups;
  int64_t *start;          /* (ngroups + 1): group g is rows [start[g], start[g + 1]) */
  int64_t *group;          /* (n) */
  float *score, *label;    /* (n) */
} dataset;

/* Group g's id is (g + 1) * id_mul ^ id_xor: distinct for an odd id_mul (a bijection of 2^64);
 * the number of id bytes that vary sets how many radix passes the sort makes. */
static dataset make_dataset(int64_t ngroups, uint64_t seed, uint64_t id_mul, uint64_t id_xor) {
  rk_rng rng;
  rk_rng_init(&rng, seed, 7);
  dataset d = {0, ngroups, rk_malloc((size_t)(ngroups + 1) * sizeof(int64_t)), NULL, NULL, NULL};
  int64_t cap = ngroups * 30;
  d.group = rk_malloc((size_t)cap * sizeof *d.group);
  d.score = rk_malloc((size_t)cap * sizeof *d.score);
  d.label = rk_malloc((size_t)cap * sizeof *d.label);
  for (int64_t g = 0; g < ngroups; g++) {
    d.start[g] = d.n;
    int64_t size = 1 + (int64_t)rk_rng_below(&rng, 30);
    int64_t id = (int64_t)((uint64_t)(g + 1) * id_mul ^ id_xor);
    bool coarse = rk_rng_bernoulli(&rng, 0.7);   /* scores in eighths: many ties */
    double u = rk_rng_uniform(&rng);
    int clicks = u < 0.1 ? 0 : u < 0.2 ? 2 : 1;
    for (int64_t i = 0; i < size; i++) {
      d.group[d.n + i] = id;
      d.score[d.n + i] = coarse ? (float)rk_rng_below(&rng, 9) / 8.0f : rk_rng_uniformf(&rng);
      d.label[d.n + i] = 0.0f;
    }
    for (int c = 0; c < clicks; c++) d.label[d.n + (int64_t)rk_rng_below(&rng, (uint64_t)size)] = 1.0f;
    d.n += size;
  }
  d.start[ngroups] = d.n;
  return d;
}

static void free_dataset(dataset *d) {
  rk_free(d->start);
  rk_free(d->group);
  rk_free(d->score);
  rk_free(d->label);
}

/* Groups by signed id, the order the contract sums them in. */
static const dataset *by_id_data;
static int by_id(const void *a, const void *b) {
  int64_t x = by_id_data->group[by_id_data->start[*(const int64_t *)a]];
  int64_t y = by_id_data->group[by_id_data->start[*(const int64_t *)b]];
  return (x > y) - (x < y);
}

/* MAP@k summed in group-id order, so it must agree to the last bit. */
static double brute_map(const dataset *d, int k, int64_t *groups, int64_t *unlabeled, int64_t *hits) {
  int64_t *order = rk_malloc((size_t)d->ngroups * sizeof *order);
  for (int64_t g = 0; g < d->ngroups; g++) order[g] = g;
  by_id_data = d;
  qsort(order, (size_t)d->ngroups, sizeof *order, by_id);
  double sum = 0;
  *groups = *unlabeled = *hits = 0;
  for (int64_t o = 0; o < d->ngroups; o++) {
    int64_t g = order[o];
    int64_t b = d->start[g], e = d->start[g + 1], rel = b;
    float best = -INFINITY;
    for (int64_t i = b; i < e; i++) best = fmaxf(best, d->label[i]);
    while (d->label[rel] != best) rel++;   /* the first row with the largest label */
    if (best <= 0) {
      ++*unlabeled;
      continue;
    }
    int64_t rank = 1;
    for (int64_t j = b; j < e; j++)
      if (d->score[j] > d->score[rel] || (d->score[j] == d->score[rel] && j < rel)) rank++;
    ++*groups;
    if (rank <= k) {
      sum += 1.0 / (double)rank;
      ++*hits;
    }
  }
  rk_free(order);
  return sum / (double)*groups;
}

/* A uniformly random interleaving of the groups that keeps each group's rows in order, added in
 * random batches (some empty); `split` computes once part-way, so later rows join sorted ones. */
static rk_map_result add_interleaved(const dataset *d, int k, uint64_t seed, bool split) {
  rk_rng rng;
  rk_rng_init(&rng, seed, 11);
  int64_t n = d->n;
  int64_t *slot = rk_malloc((size_t)n * sizeof *slot), *next = rk_malloc((size_t)d->ngroups * sizeof *next);
  int64_t *g = rk_malloc((size_t)n * sizeof *g);
  float *s = rk_malloc((size_t)n * sizeof *s), *y = rk_malloc((size_t)n * sizeof *y);
  for (int64_t i = 0; i < d->ngroups; i++) {
    next[i] = d->start[i];
    for (int64_t r = d->start[i]; r < d->start[i + 1]; r++) slot[r] = i;
  }
  rk_rng_shuffle(&rng, slot, n);
  for (int64_t i = 0; i < n; i++) {
    int64_t r = next[slot[i]]++;
    g[i] = d->group[r];
    s[i] = d->score[r];
    y[i] = d->label[r];
  }
  rk_map_metrics *m;
  assert_rk_ok(rk_map_metrics_create(&m, k));
  rk_map_result r;
  for (int64_t at = 0; at < n;) {
    int64_t len = (int64_t)rk_rng_below(&rng, (uint64_t)(n / 8 + 2));   /* 0 .. n/8 + 1 */
    if (len > n - at) len = n - at;
    assert_rk_ok(rk_map_metrics_add(m, g + at, s + at, y + at, len));
    if (split && at < n / 2 && at + len >= n / 2) assert_rk_ok(rk_map_metrics_compute(m, &r));
    at += len;
  }
  assert_rk_ok(rk_map_metrics_compute(m, &r));
  rk_map_metrics_free(m);
  rk_free(slot);
  rk_free(next);
  rk_free(g);
  rk_free(s);
  rk_free(y);
  return r;
}

static void check_against_brute_force(int64_t ngroups, uint64_t seed, uint64_t id_mul, uint64_t id_xor) {
  dataset d = make_dataset(ngroups, seed, id_mul, id_xor);
  const int ks[] = {12, 1, 31};   /* 31: beyond every group */
  for (size_t t = 0; t < sizeof ks / sizeof *ks; t++) {
    int k = ks[t];
    int64_t groups, unlabeled, hits;
    double want = brute_map(&d, k, &groups, &unlabeled, &hits);
    rk_map_result whole;
    assert_rk_ok(rk_map_at_k(&whole, d.group, d.score, d.label, d.n, k));
    assert_int_equal(whole.rows, d.n);
    assert_int_equal(whole.groups, groups);
    assert_int_equal(whole.unlabeled, unlabeled);
    assert_int_equal(whole.hits, hits);
    assert_int_equal(whole.k, k);
    if (whole.map != want) fail_msg("k=%d: MAP %.17g, brute force %.17g", k, whole.map, want);
    if (k == 1) assert_true(whole.map == (double)hits / (double)groups);
    if (k == 31) assert_int_equal(hits, groups);
    /* the same bits whatever the batches, the interleaving, or a compute part-way */
    for (uint64_t v = 0; v < 3; v++) {
      rk_map_result r = add_interleaved(&d, k, seed * 10 + v, v == 2);
      assert_int_equal(r.rows, d.n);
      assert_int_equal(r.groups, groups);
      assert_int_equal(r.unlabeled, unlabeled);
      assert_int_equal(r.hits, hits);
      if (r.map != whole.map) fail_msg("k=%d, interleaving %d: MAP %.17g, not %.17g", k, (int)v, r.map, whole.map);
    }
  }
  free_dataset(&d);
}

static void test_against_brute_force(void **state) {
  (void)state;
  /* ids over all 8 bytes, negative and positive: 8 radix passes */
  for (uint64_t seed = 1; seed <= 3; seed++) check_against_brute_force(1500, seed, 0x9E3779B97F4A7C15ull, seed);
  check_against_brute_force(1500, 4, 7919, 0);          /* ids below 2^24: 3 passes */
  check_against_brute_force(200, 5, 1, 0);              /* ids below 2^8: 1 pass */
  check_against_brute_force(1500, 6, 1, 0xffffff00u);   /* 2 passes */
  check_against_brute_force(1, 7, 1, 0);
}

/* Five displays, rows interleaved in arrival order:
 *   7: scores 0.2 0.9 0.5, labels 0 0 1       the click ranks 2nd (0.9 ahead)       AP 1/2
 *   3: scores 0.3 0.8, labels 1 1             the first click is relevant, ranks 2nd AP 1/2
 *  -5: scores 0.4 0.4 0.4 0.1, labels 0 0 1 0 tied with two earlier rows: 3rd        AP 1/3
 *  11: score 0.6, label 1                     1st                                    AP 1
 *   9: scores 0.1 0.2, labels 0 0             no click: unlabeled, not in the mean
 * MAP@12 = (1/2 + 1/2 + 1/3 + 1) / 4 = 7/12; MAP@2 = 2/4; MAP@1 = 1/4.
 * With the leak (is_leak 1 on display 7's first row and on -5's click): 7's click ranks 3rd,
 * -5's 1st, so MAP@12 = (1/3 + 1/2 + 1 + 1) / 4 = 17/24. */
static const int64_t ex_group[] = {7, -5, 3, 7, -5, 9, 11, -5, 7, 3, 9, -5};
static const float ex_score[] = {0.2f, 0.4f, 0.3f, 0.9f, 0.4f, 0.1f, 0.6f, 0.4f, 0.5f, 0.8f, 0.2f, 0.1f};
static const float ex_label[] = {0, 0, 1, 0, 0, 0, 1, 1, 1, 1, 0, 0};
static const float ex_leak[] = {1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0};
#define EX_N 12

static void test_worked_example(void **state) {
  (void)state;
  const struct {
    int k;
    double map;
    int64_t hits;
  } want[] = {{12, 7.0 / 12.0, 4}, {3, 7.0 / 12.0, 4}, {2, 0.5, 3}, {1, 0.25, 1}};
  for (size_t t = 0; t < sizeof want / sizeof *want; t++) {
    rk_map_result r;
    assert_rk_ok(rk_map_at_k(&r, ex_group, ex_score, ex_label, EX_N, want[t].k));
    assert_int_equal(r.rows, EX_N);
    assert_int_equal(r.groups, 4);
    assert_int_equal(r.unlabeled, 1);
    assert_int_equal(r.hits, want[t].hits);
    if (fabs(r.map - want[t].map) > 1e-15) fail_msg("MAP@%d is %.17g, not %.17g", want[t].k, r.map, want[t].map);
  }
  /* the "with leak" variant: the caller ranks by score + is_leak */
  float leaked[EX_N];
  for (int i = 0; i < EX_N; i++) leaked[i] = ex_score[i] + ex_leak[i];
  rk_map_result r;
  assert_rk_ok(rk_map_at_k(&r, ex_group, leaked, ex_label, EX_N, 12));
  assert_true(fabs(r.map - 17.0 / 24.0) < 1e-15);
  /* arrival breaks ties: -5's click arriving first among its equals ranks 1st */
  const int64_t g[] = {-5, -5, -5};
  assert_rk_ok(rk_map_at_k(&r, g, (const float[]){0.4f, 0.4f, 0.4f}, (const float[]){1, 0, 0}, 3, 12));
  assert_true(r.map == 1.0);
  assert_rk_ok(rk_map_at_k(&r, g, (const float[]){0.4f, 0.4f, 0.4f}, (const float[]){0, 0, 1}, 3, 12));
  assert_true(fabs(r.map - 1.0 / 3.0) < 1e-15);
  /* the largest label marks the relevant row, as TF's argmax */
  assert_rk_ok(rk_map_at_k(&r, g, (const float[]){0.9f, 0.5f, 0.1f}, (const float[]){1, 0, 2}, 3, 12));
  assert_true(fabs(r.map - 1.0 / 3.0) < 1e-15);
}

static void test_unlabeled_and_empty(void **state) {
  (void)state;
  rk_map_result r;
  assert_rk_ok(rk_map_at_k(&r, NULL, NULL, NULL, 0, 12));
  assert_true(r.rows == 0 && r.groups == 0 && r.unlabeled == 0 && isnan(r.map));
  /* no group has a click: nothing in the mean */
  assert_rk_ok(rk_map_at_k(&r, (const int64_t[]){1, 1, 2}, (const float[]){0.1f, 0.2f, 0.3f},
                           (const float[]){0, 0, 0}, 3, 12));
  assert_true(r.groups == 0 && r.unlabeled == 2 && isnan(r.map));
  /* a group without a click does not pull the mean down (TF's argmax would count row 0) */
  assert_rk_ok(rk_map_at_k(&r, (const int64_t[]){1, 1, 2, 2}, (const float[]){0.9f, 0.2f, 0.1f, 0.8f},
                           (const float[]){1, 0, 0, 0}, 4, 12));
  assert_true(r.groups == 1 && r.unlabeled == 1 && r.map == 1.0);
  /* reset forgets the rows and keeps k */
  rk_map_metrics *m;
  assert_rk_ok(rk_map_metrics_create(&m, 1));
  assert_rk_ok(rk_map_metrics_add(m, ex_group, ex_score, ex_label, EX_N));
  rk_map_metrics_reset(m);
  assert_rk_ok(rk_map_metrics_add(m, ex_group, ex_score, ex_label, EX_N));
  assert_rk_ok(rk_map_metrics_compute(m, &r));
  assert_true(r.rows == EX_N && r.k == 1 && r.map == 0.25);
  rk_map_metrics_free(m);
}

static void test_errors(void **state) {
  (void)state;
  rk_map_metrics *m;
  assert_int_equal(rk_map_metrics_create(&m, 0), RK_EINVAL);
  assert_null(m);
  assert_non_null(strstr(rk_error_message(), "k is 0"));
  rk_map_result r;
  assert_int_equal(rk_map_at_k(&r, ex_group, ex_score, ex_label, EX_N, -3), RK_EINVAL);
  assert_non_null(strstr(rk_error_message(), "k is -3"));
  assert_rk_ok(rk_map_metrics_create(&m, 12));
  assert_int_equal(rk_map_metrics_add(m, ex_group, ex_score, ex_label, -1), RK_EINVAL);
  assert_non_null(strstr(rk_error_message(), "n is -1"));
  assert_rk_ok(rk_map_metrics_add(m, ex_group, ex_score, ex_label, 2));
  /* the position counts every row added; a failing batch adds nothing */
  assert_int_equal(rk_map_metrics_add(m, ex_group, (const float[]){0.5f, NAN}, ex_label, 2), RK_EINVAL);
  assert_non_null(strstr(rk_error_message(), "score 3 is NaN"));
  assert_int_equal(rk_map_metrics_add(m, ex_group, ex_score, (const float[]){NAN}, 1), RK_EINVAL);
  assert_non_null(strstr(rk_error_message(), "label 2 is NaN"));
  assert_rk_ok(rk_map_metrics_compute(m, &r));
  assert_int_equal(r.rows, 2);
  rk_map_metrics_free(m);
  rk_map_metrics_free(NULL);
}

/* Every allocation failing in turn (growth and the sort's scratch) returns RK_ENOMEM and leaks
 * nothing. */
static rk_status run_map(void *ctx) {
  const dataset *d = ctx;
  rk_map_metrics *m;
  RK_TRY(rk_map_metrics_create(&m, 12));
  rk_map_result r;
  rk_status s = RK_OK;
  for (int64_t at = 0; at < d->n && s == RK_OK; at += 700) {
    int64_t len = d->n - at < 700 ? d->n - at : 700;
    s = rk_map_metrics_add(m, d->group + at, d->score + at, d->label + at, len);
  }
  if (s == RK_OK) s = rk_map_metrics_compute(m, &r);
  rk_map_metrics_free(m);
  return s;
}

static void test_allocation_failures(void **state) {
  (void)state;
  dataset d = make_dataset(200, 9, 0x9E3779B97F4A7C15ull, 0);
  assert_true(d.n > 2048);   /* grows twice */
  assert_true(rk_test_walk_failures(run_map, &d) >= 4);
  free_dataset(&d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_against_brute_force),
      cmocka_unit_test(test_worked_example),
      cmocka_unit_test(test_unlabeled_and_empty),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_allocation_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
