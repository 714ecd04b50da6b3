/*
 * Non-blocking collectives (reckon/dist.h: *_start, rk_dist_test, rk_dist_wait), as the
 * data-parallel step uses them to overlap its gradient buckets with backward
 * (src/train/step_pieces.c). Run alone it is rank 0 of 1; tests/e2e/mpi_overlap.sh runs it under
 * `mpirun -np 2` and `-np 3`. For any number of ranks:
 * - several requests in flight at once (alltoallvs and allgathervs into separate buffers), driven
 *   by rk_dist_test alone, complete with the blocking calls' results, and each reports done once
 *   (then its handle is NULL);
 * - rk_dist_wait finishes a request rk_dist_test has not, and a NULL request is done;
 * - a sum started and tested to completion has the blocking sum's bits.
 */
#include "support.h"

#include <stdlib.h>
#include <string.h>

#include "reckon/dist.h"

static rk_dist *world;

enum { N_REQ = 4 };

/* Request k: alltoallv where rank s sends k + s + 1 values (k * 1000 + s * 10 + r) to rank r. */
static void test_requests_in_flight_complete_by_testing(void **state) {
  (void)state;
  int rank = rk_dist_rank(world), size = rk_dist_size(world);
  int64_t *send[N_REQ], *recv[N_REQ], *send_counts[N_REQ], *recv_counts[N_REQ];
  int32_t *gathered[N_REQ], mine[N_REQ][8];
  int64_t *gather_counts = malloc((size_t)size * sizeof *gather_counts), gather_total = 0;
  for (int r = 0; r < size; r++) gather_total += gather_counts[r] = r % 3 + 1;
  rk_dist_request *req[2 * N_REQ];
  for (int k = 0; k < N_REQ; k++) {
    int64_t per = k + rank + 1, total = 0;
    send_counts[k] = malloc((size_t)size * sizeof(int64_t));
    recv_counts[k] = malloc((size_t)size * sizeof(int64_t));
    send[k] = malloc((size_t)(size * per) * sizeof(int64_t));
    for (int r = 0; r < size; r++) {
      send_counts[k][r] = per;
      recv_counts[k][r] = k + r + 1;
      total += recv_counts[k][r];
      for (int64_t e = 0; e < per; e++) send[k][r * per + e] = k * 1000 + rank * 10 + r;
    }
    recv[k] = calloc((size_t)total, sizeof(int64_t));
    gathered[k] = calloc((size_t)gather_total, sizeof(int32_t));
    for (int e = 0; e < rank % 3 + 1; e++) mine[k][e] = k * 100 + rank * 4 + e;
    assert_rk_ok(rk_dist_alltoallv_start(world, &req[2 * k], recv[k], recv_counts[k], send[k], send_counts[k],
                                         RK_DIST_I64));
    assert_rk_ok(rk_dist_allgatherv_start(world, &req[2 * k + 1], gathered[k], mine[k], gather_counts, RK_DIST_I32));
  }
  /* drive them all by testing, in reverse order of their starts */
  int done_once[2 * N_REQ] = {0}, open = 2 * N_REQ;
  for (long spins = 0; open > 0; spins++) {
    assert_true(spins < 100000000L);
    for (int q = 2 * N_REQ - 1; q >= 0; q--) {
      if (!req[q]) continue;
      bool done = false;
      assert_rk_ok(rk_dist_test(world, &req[q], &done));
      if (done) {
        assert_null(req[q]);
        done_once[q]++;
        open--;
      } else {
        assert_non_null(req[q]);
      }
    }
  }
  for (int q = 0; q < 2 * N_REQ; q++) assert_int_equal(done_once[q], 1);
  for (int k = 0; k < N_REQ; k++) {
    for (int s = 0, at = 0; s < size; s++)
      for (int e = 0; e < k + s + 1; e++) assert_int_equal(recv[k][at++], k * 1000 + s * 10 + rank);
    for (int r = 0, at = 0; r < size; r++)
      for (int e = 0; e < r % 3 + 1; e++) assert_int_equal(gathered[k][at++], k * 100 + r * 4 + e);
    free(send[k]), free(recv[k]), free(send_counts[k]), free(recv_counts[k]), free(gathered[k]);
  }
  free(gather_counts);
}

static void test_wait_finishes_what_test_began(void **state) {
  (void)state;
  int rank = rk_dist_rank(world), size = rk_dist_size(world);
  const int64_t n = 100;
  float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
  for (int64_t i = 0; i < n; i++) a[i] = b[i] = (float)((rank + 1) * (i % 4 == 0 ? 3e6 : 0.3) - (double)i);
  rk_dist_request *req = NULL;
  bool done = false;
  assert_rk_ok(rk_dist_test(world, &req, &done));   /* NULL: done */
  assert_true(done);
  assert_rk_ok(rk_dist_allreduce_sum_start(world, &req, a, n, RK_DIST_F32));
  assert_rk_ok(rk_dist_test(world, &req, &done));
  if (!done) assert_rk_ok(rk_dist_wait(world, &req));
  assert_null(req);
  assert_rk_ok(rk_dist_allreduce_sum(world, b, n, RK_DIST_F32));
  assert_memory_equal(a, b, n * sizeof *a);
  if (size == 1) assert_true(rk_dist_stats_get(world).wait_seconds == 0);
  assert_rk_ok(rk_dist_wait(world, &req));   /* NULL: done */
  free(a);
  free(b);
}

int main(void) {
  if (rk_dist_init(&world, 60) != RK_OK) {
    fprintf(stderr, "rk_dist_init: %s\n", rk_error_message());
    return 1;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_requests_in_flight_complete_by_testing),
      cmocka_unit_test(test_wait_finishes_what_test_began),
  };
  int failed = cmocka_run_group_tests(tests, NULL, NULL);
  if (failed && rk_dist_size(world) > 1) rk_dist_abort(world, 1);   /* no rank left blocked */
  rk_dist_finalize(world);
  return failed;
}
