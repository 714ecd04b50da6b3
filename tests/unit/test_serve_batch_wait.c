/*
 * Dynamic batching's wait (src/serve/scheduler.c): a batch waits up to max_queue_delay for more
 * requests only while its model's requests arrive closer together than the delay on average.
 * Driven by arrival times alone (no clock, no server): a burst keeps the wait, a lone client's
 * requests spaced wider than the delay lose it within a few requests and a burst brings it
 * back, the first request waits (nothing is known yet: Triton's behaviour), arrivals stamped out
 * of order do not wrap the average, and no dynamic_batching means no wait.
 */
#include "serve/serve_internal.h"
#include "support.h"

#define US 1000u   /* ns */

static void test_burst_then_lone_client_then_burst(void **state) {
  (void)state;
  rk_loaded l = {.delay_us = 100};
  uint64_t t = 1000000;
  rk_scheduler_note_arrival(&l, t);
  assert_int_equal(rk_scheduler_batch_wait_ns(&l), 100 * US);   /* the first request waits */
  for (int k = 0; k < 50; k++) rk_scheduler_note_arrival(&l, t += 5 * US);   /* 64 clients */
  assert_int_equal(rk_scheduler_batch_wait_ns(&l), 100 * US);
  int waited = 0;
  for (int k = 0; k < 50; k++) {   /* one client: a request every 400 us */
    rk_scheduler_note_arrival(&l, t += 400 * US);
    waited += rk_scheduler_batch_wait_ns(&l) > 0;
  }
  assert_int_equal(rk_scheduler_batch_wait_ns(&l), 0);
  assert_in_range(waited, 1, 5);   /* the average crosses 100 us after a few gaps of 400 */
  for (int k = 0; k < 30; k++) rk_scheduler_note_arrival(&l, t += 5 * US);
  assert_int_equal(rk_scheduler_batch_wait_ns(&l), 100 * US);
}

static void test_out_of_order_stamps(void **state) {
  (void)state;
  rk_loaded l = {.delay_us = 100};
  rk_scheduler_note_arrival(&l, 5000000);
  rk_scheduler_note_arrival(&l, 4999000);   /* stamped before the last one, queued after it */
  assert_int_equal(l.arrival_gap_ns, 0);
  assert_int_equal(l.last_arrival_ns, 5000000);
  assert_int_equal(rk_scheduler_batch_wait_ns(&l), 100 * US);
}

static void test_no_dynamic_batching(void **state) {
  (void)state;
  rk_loaded l = {.delay_us = 0};
  for (uint64_t t = 1; t < 10; t++) rk_scheduler_note_arrival(&l, t * US);
  assert_int_equal(rk_scheduler_batch_wait_ns(&l), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_burst_then_lone_client_then_burst),
      cmocka_unit_test(test_out_of_order_stamps),
      cmocka_unit_test(test_no_dynamic_batching),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
