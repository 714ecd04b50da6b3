/*
 * Binary and regression metrics against brute force: AUC as the weighted count of correctly
 * ordered (positive, negative) pairs with ties counting half, average precision by scanning
 * every threshold, logloss and the 0.5-threshold counts by their definitions; order independence;
 * edge cases (one class, perfect and reversed rankings, all ties) and bad inputs.
 */
#include <math.h>
#include <string.h>

#include "reckon/metrics.h"
#include "support.h"

static double brute_auc(const float *s, const float *y, const float *w, int n) {
  double num = 0, P = 0, N = 0;
  for (int i = 0; i < n; i++) {
    if (y[i] == 1) P += w[i];
    else N += w[i];
    if (y[i] != 1) continue;
    for (int j = 0; j < n; j++) {
      if (y[j] != 0) continue;
      num += w[i] * w[j] * (s[i] > s[j] ? 1.0 : s[i] == s[j] ? 0.5 : 0.0);
    }
  }
  return num / (P * N);
}

static double brute_ap(const float *s, const float *y, const float *w, int n) {
  double P = 0, ap = 0, prev_recall = 0;
  for (int i = 0; i < n; i++) P += y[i] * w[i];
  /* thresholds: the distinct scores, descending */
  float last = INFINITY;
  for (;;) {
    float t = -INFINITY;
    for (int i = 0; i < n; i++)
      if (s[i] < last && s[i] > t) t = s[i];
    if (t == -INFINITY) break;
    double tp = 0, fp = 0;
    for (int i = 0; i < n; i++)
      if (s[i] >= t) (void)(y[i] == 1 ? (tp += w[i]) : (fp += w[i]));
    double recall = tp / P;
    ap += (recall - prev_recall) * tp / (tp + fp);
    prev_recall = recall;
    last = t;
  }
  return ap;
}

static void random_case(int n, int seed, bool weighted, bool ties) {
  float *s = rk_malloc(sizeof(float) * (size_t)n), *y = rk_malloc(sizeof(float) * (size_t)n);
  float *w = rk_malloc(sizeof(float) * (size_t)n), *ones = rk_malloc(sizeof(float) * (size_t)n);
  rk_rng rng;
  rk_rng_init(&rng, (uint64_t)seed, 1);
  for (int i = 0; i < n; i++) {
    y[i] = rk_rng_uniform(&rng) < 0.3 ? 1.0f : 0.0f;
    float u = (float)rk_rng_uniform(&rng);
    s[i] = 0.3f * u + 0.4f * y[i] * (float)rk_rng_uniform(&rng);
    if (ties) s[i] = roundf(s[i] * 10.0f) / 10.0f;
    w[i] = weighted ? (float)(0.5 + rk_rng_uniform(&rng)) : 1.0f;
    ones[i] = 1.0f;
  }
  rk_binary_metrics *m;
  assert_rk_ok(rk_binary_metrics_create(&m));
  /* added in two pieces, the second first: the order must not matter */
  assert_rk_ok(rk_binary_metrics_add(m, s + n / 3, y + n / 3, weighted ? w + n / 3 : NULL, n - n / 3));
  assert_rk_ok(rk_binary_metrics_add(m, s, y, weighted ? w : NULL, n / 3));
  rk_binary_result r;
  assert_rk_ok(rk_binary_metrics_compute(m, &r));
  const float *ww = weighted ? w : ones;
  assert_true(fabs(r.auc - brute_auc(s, y, ww, n)) < 1e-9);
  assert_true(fabs(r.prauc - brute_ap(s, y, ww, n)) < 1e-9);
  double loss = 0, W = 0, tp = 0, fp = 0, tn = 0, P = 0;
  for (int i = 0; i < n; i++) {
    double p = fmin(fmax(s[i], 1e-7), 1 - 1e-7);
    loss -= ww[i] * (y[i] == 1 ? log(p) : log(1 - p));
    W += ww[i];
    P += ww[i] * y[i];
    bool pred = s[i] > 0.5f;
    tp += ww[i] * (pred && y[i] == 1);
    fp += ww[i] * (pred && y[i] == 0);
    tn += ww[i] * (!pred && y[i] == 0);
  }
  assert_true(fabs(r.logloss - loss / W) < 1e-9);
  assert_true(fabs(r.recall - tp / P) < 1e-12);
  if (tp + fp > 0) assert_true(fabs(r.precision - tp / (tp + fp)) < 1e-12);
  assert_true(fabs(r.accuracy - (tp + tn) / W) < 1e-12);
  assert_int_equal(r.count, n);
  rk_binary_metrics_free(m);
  rk_free(s);
  rk_free(y);
  rk_free(w);
  rk_free(ones);
}

static void test_against_brute_force(void **state) {
  (void)state;
  for (int seed = 1; seed <= 3; seed++) {
    random_case(2000, seed, false, false);
    random_case(2000, seed, false, true);
    random_case(2000, seed, true, true);
  }
}

static rk_binary_result compute(const float *s, const float *y, int n) {
  rk_binary_metrics *m;
  assert_rk_ok(rk_binary_metrics_create(&m));
  assert_rk_ok(rk_binary_metrics_add(m, s, y, NULL, n));
  rk_binary_result r;
  assert_rk_ok(rk_binary_metrics_compute(m, &r));
  rk_binary_metrics_free(m);
  return r;
}

static void test_edges(void **state) {
  (void)state;
  const float y[] = {0, 0, 1, 1};
  rk_binary_result r = compute((const float[]){0.1f, 0.2f, 0.8f, 0.9f}, y, 4);
  assert_true(r.auc == 1.0 && r.prauc == 1.0 && r.accuracy == 1.0);
  r = compute((const float[]){0.9f, 0.8f, 0.2f, 0.1f}, y, 4);
  assert_true(r.auc == 0.0);
  r = compute((const float[]){0.5f, 0.5f, 0.5f, 0.5f}, y, 4);
  assert_true(r.auc == 0.5 && r.prauc == 0.5);
  assert_true(isnan(r.precision));   /* nothing above 0.5 */
  r = compute((const float[]){0.5f, 0.7f}, (const float[]){0, 0}, 2);
  assert_true(isnan(r.auc) && isnan(r.prauc) && isnan(r.recall));
  r = compute((const float[]){0.0f, 1.0f}, (const float[]){1, 0}, 2);
  assert_true(fabs(r.logloss - (-log(1e-7))) < 1e-6);   /* clipped, not infinite */
  rk_binary_metrics *m;
  assert_rk_ok(rk_binary_metrics_create(&m));
  assert_int_equal(rk_binary_metrics_add(m, (const float[]){0.5f}, (const float[]){2}, NULL, 1), RK_EINVAL);
  assert_non_null(strstr(rk_error_message(), "label 0 is 2"));
  assert_int_equal(rk_binary_metrics_add(m, (const float[]){NAN}, (const float[]){1}, NULL, 1), RK_EINVAL);
  double *f, *t;
  int64_t n;
  assert_rk_ok(rk_binary_metrics_add(m, (const float[]){0.1f, 0.4f, 0.35f, 0.8f}, (const float[]){0, 0, 1, 1}, NULL, 4));
  assert_rk_ok(rk_binary_metrics_roc(m, 100, &f, &t, &n));
  assert_int_equal(n, 5);
  assert_true(f[0] == 0 && t[0] == 0 && f[n - 1] == 1 && t[n - 1] == 1);
  assert_true(f[2] == 0.5 && t[2] == 0.5);   /* after 0.8 and 0.4 */
  rk_free(f);
  rk_free(t);
  rk_binary_metrics_free(m);
}

static void test_regression(void **state) {
  (void)state;
  rk_regression_metrics m;
  rk_regression_metrics_reset(&m);
  rk_regression_metrics_add(&m, (const float[]){1, 2, 3}, (const float[]){1, 4, 0}, NULL, 3);
  assert_true(fabs(rk_regression_rmse(&m) - sqrt(13.0 / 3.0)) < 1e-12);
  assert_true(fabs(rk_regression_mae(&m) - 5.0 / 3.0) < 1e-12);
  rk_regression_metrics_reset(&m);
  assert_true(isnan(rk_regression_rmse(&m)));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_against_brute_force),
      cmocka_unit_test(test_edges),
      cmocka_unit_test(test_regression),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
