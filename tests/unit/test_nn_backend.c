/*
 * The backend layer (src/nn/backend.h) and the kernels called by themselves (src/nn/ops/ops.h),
 * without a graph: the CPU backend's row-sparse assembly and fill, and kernels' contracts
 * (backward adds into gradients; a kernel whose input can be wrong says so).
 */
#include "support.h"

#include <string.h>

#include "nn/backend.h"
#include "nn/ops/ops.h"

/* Slots (id, gradient row) in slot order -> unique ids ascending, each row the sum of its slots;
 * slots with id -1 (padding, lookups that did not run) are left out. */
static void test_cpu_sparse_assemble(void **state) {
  (void)state;
  int64_t live0 = rk_alloc_live_bytes();
  enum { V = 5000, D = 2, SLOTS = 6 };
  rk_param p;
  assert_rk_ok(rk_param_init_sparse(&p, "table", V, D));
  int64_t gs[2] = {SLOTS, D};
  assert_rk_ok(rk_tensor_alloc(&p.grad, RK_DT_F32, 2, gs));
  p.grad_rows = rk_malloc(SLOTS * sizeof(int64_t));
  int64_t slot_ids[SLOTS], order[2 * SLOTS], order_tmp[2 * SLOTS], row_start[SLOTS + 1];
  float slot_grad[SLOTS * D];
  rk_sparse_table t = {&p, SLOTS, slot_ids, slot_grad, order, order_tmp, row_start};
  rk_backend_cpu.sparse_clear(&t);
  for (int s = 0; s < SLOTS; s++) {
    assert_int_equal(slot_ids[s], -1);
    assert_true(slot_grad[2 * s] == 0.0f && slot_grad[2 * s + 1] == 0.0f);
  }
  /* ids above 2^11 take the radix sort's second pass */
  const int64_t ids[SLOTS] = {4097, -1, 1, 4097, 0, 1};
  for (int s = 0; s < SLOTS; s++) {
    slot_ids[s] = ids[s];
    slot_grad[2 * s] = (float)(s + 1);
    slot_grad[2 * s + 1] = -(float)(10 * (s + 1));
  }
  rk_backend_cpu.sparse_assemble(&t);
  assert_int_equal(p.n_grad_rows, 3);
  const int64_t rows[3] = {0, 1, 4097};
  const float want[3][2] = {{5, -50}, {3 + 6, -30 - 60}, {1 + 4, -10 - 40}};
  const float *g = p.grad.data;
  for (int k = 0; k < 3; k++) {
    assert_int_equal(p.grad_rows[k], rows[k]);
    assert_true(g[2 * k] == want[k][0] && g[2 * k + 1] == want[k][1]);
  }
  rk_param_free(&p);
  assert_int_equal(rk_alloc_live_bytes(), live0);
}

static void test_cpu_fill_and_alloc(void **state) {
  (void)state;
  float *a = rk_backend_cpu.alloc(7 * sizeof(float));
  assert_non_null(a);
  assert_int_equal((uintptr_t)a % 64, 0);
  for (int i = 0; i < 7; i++) assert_true(a[i] == 0.0f);
  rk_backend_cpu.fill(a + 1, 5, 1.5f);
  assert_true(a[0] == 0.0f && a[1] == 1.5f && a[5] == 1.5f && a[6] == 0.0f);
  rk_backend_cpu.fill(a, 7, 0.0f);
  for (int i = 0; i < 7; i++) assert_true(a[i] == 0.0f);
  rk_backend_cpu.free(a);
  rk_backend_cpu.free(NULL);
}

/* A kernel by itself: relu's backward adds into dx (fan-out), passing dout where out > 0. */
static void test_kernel_relu_by_itself(void **state) {
  (void)state;
  const float x[4] = {-1.0f, 2.0f, 0.0f, 3.0f}, dout[4] = {1.0f, 1.0f, 1.0f, 2.0f};
  float out[4], dx[4] = {10.0f, 10.0f, 10.0f, 10.0f};
  relu_forward_cpu(out, x, 4);
  assert_true(out[0] == 0.0f && out[1] == 2.0f && out[2] == 0.0f && out[3] == 3.0f);
  relu_backward_cpu(dx, dout, out, 4);
  assert_true(dx[0] == 10.0f && dx[1] == 11.0f && dx[2] == 10.0f && dx[3] == 12.0f);
}

/* A kernel whose input can be wrong returns a status naming it: an id outside the table. */
static void test_kernel_embedding_range(void **state) {
  (void)state;
  const float table[3 * 2] = {1, 2, 3, 4, 5, 6};
  const int64_t good[2] = {2, 0}, bad[2] = {1, 3};
  float out[2 * 2];
  assert_rk_ok(embedding_forward_cpu(out, good, table, 2, 3, 2, -1));
  assert_true(out[0] == 5 && out[1] == 6 && out[2] == 1 && out[3] == 2);
  assert_int_equal(embedding_forward_cpu(out, bad, table, 2, 3, 2, -1), RK_ERANGE);
  assert_non_null(strstr(rk_error_message(), "id 3 at position 1"));
}

static int no_devices(void) { return 0; }
static int one_device(void) { return 1; }

/* Build refuses a backend without a device, and an op the op list does not give the backend,
 * naming op and backend. */
static void test_build_checks_the_backend(void **state) {
  (void)state;
  int64_t live0 = rk_alloc_live_bytes();
  rk_backend fake = rk_backend_cpu;
  fake.name = "fake";
  for (int k = 0; k < 2; k++) {
    fake.device = k == 0 ? RK_DEVICE_CPU : RK_DEVICE_CUDA;
    fake.device_count = k == 0 ? no_devices : one_device;
    rk_graph *g;
    rk_param w;
    int64_t shape[1] = {4};
    int x, y, loss;
    assert_rk_ok(rk_graph_create(&g, 2));
    assert_rk_ok(rk_graph_set_backend(g, &fake));
    assert_rk_ok(rk_param_init(&w, "w", 1, shape));
    assert_rk_ok(rk_graph_param(g, &x, &w));
    assert_rk_ok(rk_graph_relu(g, &y, x));
    assert_rk_ok(rk_graph_sum(g, &loss, y, RK_REDUCE_ALL));
    assert_int_equal(rk_graph_build(g, loss), RK_EUNSUPPORTED);
    assert_non_null(strstr(rk_error_message(), k == 0 ? "no fake device" : "op 'relu' has no fake kernel"));
    assert_int_equal(rk_graph_set_backend(g, &rk_backend_cpu), RK_OK);   /* still building */
    assert_rk_ok(rk_graph_build(g, loss));
    assert_int_equal(rk_graph_set_backend(g, &fake), RK_EUSAGE);          /* built: too late */
    rk_graph_free(g);
    rk_param_free(&w);
  }
  assert_int_equal(rk_alloc_live_bytes(), live0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cpu_sparse_assemble),
      cmocka_unit_test(test_cpu_fill_and_alloc),
      cmocka_unit_test(test_kernel_relu_by_itself),
      cmocka_unit_test(test_kernel_embedding_range),
      cmocka_unit_test(test_build_checks_the_backend),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
