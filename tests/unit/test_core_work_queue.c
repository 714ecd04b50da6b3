/*
 * The work queue (src/core/work_queue.c), the one dynamic scheduler (Parquet column chunks, CSV
 * block chunks): every item runs once, with a worker index in range, whatever the thread and
 * worker counts; on failure the lowest failing item's status and message win, items before it
 * all ran, and the same error comes back for 1 or 8 threads.
 */
#include "support.h"

#include <stdatomic.h>
#include <string.h>

#define ITEMS 1000

typedef struct {
  _Atomic int runs[ITEMS];
  int nworkers;
  _Atomic int bad_worker;
  int64_t fail_from;   /* items at or past it fail, each with its own message; ITEMS: none */
} job;

static rk_status run_item(void *ctx, int worker, int64_t item) {
  job *j = ctx;
  if (worker < 0 || worker >= j->nworkers) atomic_store(&j->bad_worker, 1);
  atomic_fetch_add(&j->runs[item], 1);
  if (item >= j->fail_from) return rk_error(RK_EFORMAT, "item %lld failed", (long long)item);
  return RK_OK;
}

static void teardown_threads(void) { rk_set_num_threads(0); }

static void test_each_item_once(void **state) {
  (void)state;
  const int threads[] = {1, 3, 8}, workers[] = {1, 2, 8, 20};
  for (int t = 0; t < 3; t++) {
    rk_set_num_threads(threads[t]);
    for (int w = 0; w < 4; w++) {
      job *j = rk_calloc(1, sizeof *j);
      j->nworkers = workers[w];
      j->fail_from = ITEMS;
      assert_rk_ok(rk_parallel_items(ITEMS, workers[w], run_item, j));
      for (int64_t i = 0; i < ITEMS; i++) assert_int_equal(atomic_load(&j->runs[i]), 1);
      assert_int_equal(atomic_load(&j->bad_worker), 0);
      rk_free(j);
    }
  }
  teardown_threads();
  assert_int_equal(rk_parallel_workers(0), 1);
  assert_int_equal(rk_parallel_workers(1), 1);
  assert_true(rk_parallel_workers(ITEMS) == rk_num_threads() || rk_parallel_workers(ITEMS) == ITEMS);
}

static void test_lowest_failure_wins(void **state) {
  (void)state;
  const int threads[] = {1, 8};
  for (int t = 0; t < 2; t++) {
    rk_set_num_threads(threads[t]);
    job *j = rk_calloc(1, sizeof *j);
    j->nworkers = rk_parallel_workers(ITEMS);
    j->fail_from = 600;
    assert_int_equal(rk_parallel_items(ITEMS, j->nworkers, run_item, j), RK_EFORMAT);
    assert_string_equal(rk_error_message(), "item 600 failed");
    for (int64_t i = 0; i < 600; i++) assert_int_equal(atomic_load(&j->runs[i]), 1);
    rk_free(j);
  }
  teardown_threads();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_each_item_once),
      cmocka_unit_test(test_lowest_failure_wins),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
