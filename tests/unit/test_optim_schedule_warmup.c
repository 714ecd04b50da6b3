/*
 * The learning-rate schedules of recsys_main.py (constant_with_warmup, linear_with_warmup,
 * cosine_with_warmup with num_cycles) against Hugging Face's formulas evaluated by
 * tests/reference/make_adamw_fixtures.py (tests/reference/fixtures/adamw.json, "schedules"),
 * at every step of each window to 1e-12; what --learning_rate_num_cosine_cycles_by_epoch means
 * (cycles per epoch, times the epochs); a restart per time window; half a cycle when num_cycles
 * is 0, bit for bit the cosine the other schedules used before cycles; bad settings.
 */
#include "support.h"

#include <math.h>
#include <string.h>

#include "reckon/optim.h"

static void test_against_hugging_face(void **state) {
  (void)state;
  char path[1024];
  snprintf(path, sizeof path, "%s/tests/reference/fixtures/adamw.json", RECKON_SOURCE_DIR);
  json_error_t err;
  json_t *doc = json_load_file(path, 0, &err);
  if (!doc) fail_msg("%s line %d: %s", path, err.line, err.text);
  size_t i, n_schedules = json_array_size(json_object_get(doc, "schedules"));
  json_t *sj;
  assert_true(n_schedules >= 7);
  json_array_foreach(json_object_get(doc, "schedules"), i, sj) {
    const char *name = json_string_value(json_object_get(sj, "name"));
    int64_t warmup = json_integer_value(json_object_get(sj, "warmup"));
    int64_t total = json_integer_value(json_object_get(sj, "total"));
    double cycles = json_number_value(json_object_get(sj, "cycles"));
    rk_lr_schedule s;
    /* cycles are per epoch: the same total over 2 epochs of half the cycles each */
    assert_rk_ok(rk_lr_schedule_recsys(&s, name, warmup, total, cycles / 2.0, 2.0));
    size_t k;
    json_t *f;
    json_array_foreach(json_object_get(sj, "factors"), k, f) {
      double got = rk_lr_schedule_factor(&s, (int64_t)k), want = json_number_value(f);
      if (fabs(got - want) > 1e-12)
        fail_msg("%s (warmup %lld, total %lld, cycles %g) at step %zu: %.17g, Hugging Face %.17g", name, (long long)warmup,
                 (long long)total, cycles, k, got, want);
    }
  }
  json_decref(doc);
}

/* A window's schedule is a pure function of the step within the window: a second window that
 * counts from 0 again sees the first window's factors (recsys_main's reset_lr_scheduler). */
static void test_restart_per_window(void **state) {
  (void)state;
  rk_lr_schedule s;
  assert_rk_ok(rk_lr_schedule_recsys(&s, "linear_with_warmup", 2, 10, 1.25, 1.0));
  double first[10];
  for (int k = 0; k < 10; k++) first[k] = rk_lr_schedule_factor(&s, k);
  assert_true(first[0] == 0.0 && first[2] == 1.0 && first[9] > 0.0);
  assert_true(rk_lr_schedule_factor(&s, 10) == 0.0);   /* the end of the window */
  for (int k = 0; k < 10; k++) assert_true(rk_lr_schedule_factor(&s, k) == first[k]);
  /* a longer window: same warmup, slower decay */
  assert_rk_ok(rk_lr_schedule_recsys(&s, "linear_with_warmup", 2, 18, 1.25, 1.0));
  assert_true(rk_lr_schedule_factor(&s, 1) == first[1]);
  assert_true(rk_lr_schedule_factor(&s, 6) > first[6]);
}

static void test_cosine_cycles(void **state) {
  (void)state;
  /* 1.25 cycles per epoch over 2 epochs of 100 steps, no warmup: 2.5 cycles of 80 steps, so
   * the factor is 0 at step 40, back at 1 at 80 and 160, and 0.5 where the first epoch ends */
  rk_lr_schedule s;
  assert_rk_ok(rk_lr_schedule_recsys(&s, "cosine_with_warmup", 0, 200, 1.25, 2.0));
  assert_float_equal(s.num_cycles, 2.5, 0);
  assert_float_equal(rk_lr_schedule_factor(&s, 40), 0.0, 1e-15);
  assert_float_equal(rk_lr_schedule_factor(&s, 80), 1.0, 1e-15);
  assert_float_equal(rk_lr_schedule_factor(&s, 160), 1.0, 1e-15);
  assert_float_equal(rk_lr_schedule_factor(&s, 100), 0.5, 1e-15);
  assert_float_equal(rk_lr_schedule_factor(&s, 200), 0.0, 1e-15);
  /* num_cycles 0 is half a cycle, the same bits as 0.5 */
  rk_lr_schedule half = {.kind = RK_LR_WARMUP_COSINE, .warmup_steps = 3, .total_steps = 50, .final_factor = 0.1};
  rk_lr_schedule explicit_half = half;
  explicit_half.num_cycles = 0.5;
  for (int k = 0; k < 60; k++) {
    double a = rk_lr_schedule_factor(&half, k), b = rk_lr_schedule_factor(&explicit_half, k);
    assert_memory_equal(&a, &b, sizeof a);
  }
  assert_float_equal(rk_lr_schedule_factor(&half, 17), 0.1 + 0.9 * 0.5 * (1.0 + cos(3.14159265358979323846 * 14.0 / 47.0)),
                     1e-15);
}

static void test_constant_with_warmup(void **state) {
  (void)state;
  rk_lr_schedule s = {.kind = RK_LR_WARMUP_CONSTANT, .warmup_steps = 4};
  assert_rk_ok(rk_lr_schedule_check(&s));
  assert_true(rk_lr_schedule_factor(&s, 0) == 0.0);
  assert_true(rk_lr_schedule_factor(&s, 2) == 0.5);
  assert_true(rk_lr_schedule_factor(&s, 4) == 1.0);
  assert_true(rk_lr_schedule_factor(&s, 1000000) == 1.0);
  rk_lr_kind k;
  assert_rk_ok(rk_lr_kind_parse("warmup_constant", &k));
  assert_int_equal(k, RK_LR_WARMUP_CONSTANT);
}

static void test_bad_settings(void **state) {
  (void)state;
  rk_lr_schedule s;
  assert_int_equal(rk_lr_schedule_recsys(&s, "cosine", 0, 10, 1.25, 1.0), RK_EINVAL);
  assert_non_null(strstr(rk_error_message(), "--learning_rate_schedule 'cosine'"));
  assert_int_equal(rk_lr_schedule_recsys(&s, "cosine_with_warmup", 0, 10, 0.0, 1.0), RK_EINVAL);
  assert_non_null(strstr(rk_error_message(), "--learning_rate_num_cosine_cycles_by_epoch"));
  assert_int_equal(rk_lr_schedule_recsys(&s, "linear_with_warmup", -1, 10, 1.25, 1.0), RK_EINVAL);
  /* a window shorter than its warmup stays in it */
  assert_rk_ok(rk_lr_schedule_recsys(&s, "linear_with_warmup", 8, 4, 1.25, 1.0));
  assert_true(rk_lr_schedule_factor(&s, 3) == 3.0 / 8.0);
  rk_lr_schedule bad = {.kind = RK_LR_WARMUP_COSINE, .total_steps = 5, .num_cycles = -1.0};
  assert_int_equal(rk_lr_schedule_check(&bad), RK_EINVAL);
  bad = (rk_lr_schedule){.kind = RK_LR_WARMUP_CONSTANT, .warmup_steps = -2};
  assert_int_equal(rk_lr_schedule_check(&bad), RK_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_against_hugging_face),
      cmocka_unit_test(test_restart_per_window),
      cmocka_unit_test(test_cosine_cycles),
      cmocka_unit_test(test_constant_with_warmup),
      cmocka_unit_test(test_bad_settings),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
