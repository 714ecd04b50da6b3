/*
 * The communication layer (reckon/dist.h, src/dist/). Run alone (ctest) it is rank 0 of 1; run
 * under `mpirun -np N` (tests/e2e/mpi_dist.sh) every rank runs the same tests and the
 * collectives really cross processes. Each check holds for any N:
 * - piece blocks: every piece of a global batch belongs to exactly one rank, blocks contiguous;
 * - tree cover: a block's nodes tile it exactly, and are maximal (their parent is not inside);
 * - tree sum: the bits equal a serial walk of the pairwise tree over all pieces (the single
 *   process's sum), whatever the number of ranks, on values where the order changes the rounding;
 * - allreduce: the sum in rank order, the same bits on every rank, blocking or not;
 * - allgatherv, gatherv, alltoallv, broadcast: each rank's blocks land where the contract says;
 * - the flag check passes for equal flags and names the first rank that differs.
 */
#include "support.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "reckon/dist.h"

static rk_dist *world;

/* Piece p's value at element i: mixed magnitudes, so the order of additions changes the bits. */
static float piece_value(int64_t p, int64_t i) {
  double u = rk_rng_uniform_at(7, (uint64_t)p, (uint64_t)i) - 0.5;
  return (float)(u * ((p + i) % 5 == 0 ? 1e5 : 1.0));
}

/* The single process's tree sum over pieces [l, r). */
static void serial_tree(float *out, int64_t l, int64_t r, int64_t n) {
  if (r - l == 1) {
    for (int64_t i = 0; i < n; i++) out[i] = piece_value(l, i);
    return;
  }
  int64_t m = rk_dist_tree_mid(l, r);
  float *right = malloc((size_t)n * sizeof *right);
  serial_tree(out, l, m, n);
  serial_tree(right, m, r, n);
  for (int64_t i = 0; i < n; i++) out[i] += right[i];
  free(right);
}

static void test_piece_blocks_cover_each_piece_once(void **state) {
  (void)state;
  for (int64_t P = 1; P <= 40; P++) {
    for (int size = 1; size <= 9; size++) {
      int64_t next = 0;
      for (int r = 0; r < size; r++) {
        int64_t first, count;
        rk_dist_piece_block(P, r, size, &first, &count);
        assert_int_equal(first, next);   /* contiguous, in rank order, no gap or overlap */
        assert_true(count == P / size || count == P / size + 1);
        next = first + count;
      }
      assert_int_equal(next, P);
    }
  }
}

static void test_tree_cover_tiles_block_with_maximal_nodes(void **state) {
  (void)state;
  rk_dist_node nodes[200];
  for (int64_t P = 1; P <= 64; P++) {
    for (int64_t first = 0; first < P; first++) {
      for (int64_t count = 1; first + count <= P; count++) {
        int n = rk_dist_tree_cover(P, first, count, nodes, 200);
        assert_true(n >= 1 && n <= 200);
        int64_t at = first;
        for (int k = 0; k < n; k++) {
          assert_int_equal(nodes[k].begin, at);
          at = nodes[k].end;
        }
        assert_int_equal(at, first + count);
      }
    }
    /* 2^k ranks dividing P: one node each. */
    for (int size = 1; size <= P; size *= 2) {
      if (P % size) continue;
      int64_t first, count;
      rk_dist_piece_block(P, size - 1, size, &first, &count);
      assert_int_equal(rk_dist_tree_cover(P, first, count, nodes, 200), 1);
    }
  }
}

/* This rank's node sums for P pieces of n elements, by the same tree walk. */
static float *my_node_sums(int64_t P, int64_t n, int *n_mine) {
  int64_t first, count;
  rk_dist_piece_block(P, rk_dist_rank(world), rk_dist_size(world), &first, &count);
  rk_dist_node nodes[200];
  *n_mine = rk_dist_tree_cover(P, first, count, nodes, 200);
  float *sums = malloc((size_t)(*n_mine ? *n_mine : 1) * (size_t)n * sizeof *sums);
  for (int k = 0; k < *n_mine; k++) serial_tree(sums + k * n, nodes[k].begin, nodes[k].end, n);
  return sums;
}

static void test_tree_sum_equals_single_process_bits(void **state) {
  (void)state;
  const int64_t n = 1000;
  const int64_t piece_counts[] = {1, 2, 3, 4, 7, 8, 12, 16};
  for (int t = 0; t < 8; t++) {
    int64_t P = piece_counts[t];
    int n_mine;
    float *mine = my_node_sums(P, n, &n_mine);
    float *got = malloc((size_t)n * sizeof *got), *want = malloc((size_t)n * sizeof *want);
    if (rk_dist_size(world) > P) {
      /* more ranks than pieces: some have none, the sum still is whole */
      assert_true(n_mine >= 0);
    }
    assert_rk_ok(rk_dist_tree_sum_f32(world, got, mine, n_mine, n, P));
    serial_tree(want, 0, P, n);
    assert_memory_equal(got, want, (size_t)n * sizeof *got);
    free(mine);
    free(got);
    free(want);
  }
  /* A wrong node count is a caller's bug, reported (every rank still takes part in nothing). */
  float x = 0;
  assert_int_equal(rk_dist_tree_sum_f32(world, &x, &x, 5, 1, 1), RK_EINVAL);
}

static void test_allreduce_in_rank_order(void **state) {
  (void)state;
  int rank = rk_dist_rank(world), size = rk_dist_size(world);
  const int64_t n = 257;
  float *f = malloc(n * sizeof *f), *want = malloc(n * sizeof *want);
  double d[3] = {rank + 0.5, 1e16, -1.0 * rank};
  int64_t i64[2] = {rank, (int64_t)1 << 40};
  for (int64_t i = 0; i < n; i++) {
    f[i] = (float)((rank + 1) * (i % 3 == 0 ? 1e7 : 0.1) + (double)i);
    want[i] = (float)(1 * (i % 3 == 0 ? 1e7 : 0.1) + (double)i);
    for (int r = 1; r < size; r++) want[i] += (float)((r + 1) * (i % 3 == 0 ? 1e7 : 0.1) + (double)i);
  }
  rk_dist_request *req;
  assert_rk_ok(rk_dist_allreduce_sum_start(world, &req, f, n, RK_DIST_F32));
  assert_rk_ok(rk_dist_wait(world, &req));
  assert_null(req);
  assert_memory_equal(f, want, n * sizeof *f);
  assert_rk_ok(rk_dist_allreduce_sum(world, d, 3, RK_DIST_F64));
  double d0 = 0.5;
  for (int r = 1; r < size; r++) d0 += r + 0.5;
  assert_true(d[0] == d0);
  assert_rk_ok(rk_dist_allreduce_sum(world, i64, 2, RK_DIST_I64));
  assert_int_equal(i64[0], (int64_t)size * (size - 1) / 2);
  assert_int_equal(i64[1], (int64_t)size << 40);
  assert_int_equal(rk_dist_allreduce_sum(world, i64, 1, RK_DIST_BYTE), RK_EINVAL);
  free(f);
  free(want);
}

static void test_gathers_scatter_and_broadcast(void **state) {
  (void)state;
  int rank = rk_dist_rank(world), size = rk_dist_size(world);
  /* rank r contributes r + 1 values r * 100 + k */
  int64_t *counts = malloc((size_t)size * sizeof *counts), total = 0;
  for (int r = 0; r < size; r++) total += counts[r] = r + 1;
  int32_t *in = malloc((size_t)(rank + 1) * sizeof *in), *out = malloc((size_t)total * sizeof *out);
  for (int k = 0; k <= rank; k++) in[k] = rank * 100 + k;
  assert_rk_ok(rk_dist_allgatherv(world, out, in, counts, RK_DIST_I32));
  for (int r = 0, at = 0; r < size; r++)
    for (int k = 0; k <= r; k++) assert_int_equal(out[at++], r * 100 + k);
  memset(out, 0, (size_t)total * sizeof *out);
  assert_rk_ok(rk_dist_gatherv(world, rank == 0 ? out : NULL, in, counts, RK_DIST_I32));
  for (int r = 0, at = 0; rank == 0 && r < size; r++)
    for (int k = 0; k <= r; k++) assert_int_equal(out[at++], r * 100 + k);
  /* alltoallv: rank s sends s + 1 values (s * 10 + r) to rank r */
  int64_t *send_counts = malloc((size_t)size * sizeof *send_counts), *recv_counts = malloc((size_t)size * sizeof *recv_counts);
  int64_t *send = malloc((size_t)size * (size_t)(rank + 1) * sizeof *send), *recv = malloc((size_t)total * sizeof *recv);
  for (int r = 0; r < size; r++) {
    send_counts[r] = rank + 1;
    for (int k = 0; k <= rank; k++) send[r * (rank + 1) + k] = rank * 10 + r;
  }
  assert_rk_ok(rk_dist_alltoall(world, recv_counts, send_counts, 1, RK_DIST_I64));
  for (int s = 0; s < size; s++) assert_int_equal(recv_counts[s], s + 1);
  assert_rk_ok(rk_dist_alltoallv(world, recv, recv_counts, send, send_counts, RK_DIST_I64));
  for (int s = 0, at = 0; s < size; s++)
    for (int k = 0; k <= s; k++) assert_int_equal(recv[at++], s * 10 + rank);
  double b[2] = {rank == size - 1 ? 3.25 : 0, rank == size - 1 ? -1 : 0};
  assert_rk_ok(rk_dist_broadcast(world, b, 2, RK_DIST_F64, size - 1));
  assert_true(b[0] == 3.25 && b[1] == -1);
  assert_int_equal(rk_dist_broadcast(world, b, 2, RK_DIST_F64, size), RK_EINVAL);
  assert_rk_ok(rk_dist_barrier(world));
  rk_dist_stats s = rk_dist_stats_get(world);
  assert_true(s.calls > 0);
  assert_true(size == 1 ? s.bytes_sent == 0 : s.bytes_sent > 0);
  free(counts), free(in), free(out), free(send_counts), free(recv_counts), free(send), free(recv);
}

static void test_flag_check(void **state) {
  (void)state;
  const char same[] = "train --epochs 1";
  assert_rk_ok(rk_dist_check_same(world, same, sizeof same, "flags"));
  char differ[32];
  snprintf(differ, sizeof differ, "train --epochs %d", rk_dist_rank(world) == 0 ? 1 : 2);
  rk_status st = rk_dist_check_same(world, differ, strlen(differ), "flags");
  if (rk_dist_size(world) == 1) {
    assert_int_equal(st, RK_OK);
  } else {
    assert_int_equal(st, RK_EUSAGE);
    assert_non_null(strstr(rk_error_message(), "the flags of rank 1 differ from rank 0's"));
  }
}

static void test_single_process_without_launcher(void **state) {
  (void)state;
  if (rk_dist_launched()) skip();
  assert_int_equal(rk_dist_rank(world), 0);
  assert_int_equal(rk_dist_size(world), 1);
  double was = rk_dist_timeout(world);
  assert_true(was > 0);
  assert_true(rk_dist_set_timeout(world, 7.5) == was);
  assert_true(rk_dist_timeout(world) == 7.5);
  assert_true(rk_dist_set_timeout(world, -1) == 7.5);   /* not a timeout: unchanged */
  assert_true(rk_dist_set_timeout(world, was) == 7.5);
}

int main(void) {
  if (rk_dist_init(&world, 60) != RK_OK) {
    fprintf(stderr, "rk_dist_init: %s\n", rk_error_message());
    return 1;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_piece_blocks_cover_each_piece_once),
      cmocka_unit_test(test_tree_cover_tiles_block_with_maximal_nodes),
      cmocka_unit_test(test_tree_sum_equals_single_process_bits),
      cmocka_unit_test(test_allreduce_in_rank_order),
      cmocka_unit_test(test_gathers_scatter_and_broadcast),
      cmocka_unit_test(test_flag_check),
      cmocka_unit_test(test_single_process_without_launcher),
  };
  int failed = cmocka_run_group_tests(tests, NULL, NULL);
  /* A failed rank must not leave the others blocked in a collective. */
  if (failed && rk_dist_size(world) > 1) rk_dist_abort(world, 1);
  rk_dist_finalize(world);
  return failed;
}
