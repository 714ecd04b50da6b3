/*
 * The recurrent ops run packed (src/nn/recurrent.c): only the real steps, each step's gemm over
 * the sessions with an item there. What the fixtures and finite differences cannot show:
 * a session's outputs and input gradients are the same bits whatever sessions share its batch
 * (how many are active at each step changes every gemm's row count), and the outputs and every
 * gradient are the same bits on one thread or two.
 */
#include "support.h"

#include <string.h>

#include "reckon/nn.h"

/* H 64: at 32 units OpenBLAS's small-matrix x w^T path summed a row as its large one did, so a
 * packed step that used it would pass here; at 64 it does not. */
enum { T = 7, I = 64, H = 64, MAX_B = 40 };

typedef struct {
  float out[MAX_B * T * H], dx[MAX_B * T * I], dw[4][4 * H * (I > H ? I : H)];
} run_result;

static int gates_of(rk_op op) { return op == RK_OP_GRU ? 3 : op == RK_OP_LSTM ? 4 : 1; }

static void fill(float *v, int64_t n, uint64_t stream) {
  rk_rng rng;
  rk_rng_init(&rng, 3, stream);
  for (int64_t i = 0; i < n; i++) v[i] = (float)rk_rng_normal(&rng);
}

/* One forward and backward of loss = sum(out * probe) over the sessions `which` of the
 * reference batch (x and probe rows drawn per session, so a session's data is its own). */
static void run(run_result *r, rk_op op, const int64_t *ids /* (n, T) */, const int *which, int n, int threads) {
  assert_rk_ok(rk_set_num_threads(threads));
  const int64_t G = gates_of(op), xs[3] = {n, T, I}, hs[3] = {n, T, H}, wi[2] = {G * H, I}, wh[2] = {G * H, H},
                bs[1] = {G * H};
  rk_param x, probe, w[4];
  assert_rk_ok(rk_param_init(&x, "x", 3, xs));
  assert_rk_ok(rk_param_init(&probe, "probe", 3, hs));
  assert_rk_ok(rk_param_init(&w[0], "w_ih", 2, wi));
  assert_rk_ok(rk_param_init(&w[1], "w_hh", 2, wh));
  assert_rk_ok(rk_param_init(&w[2], "b_ih", 1, bs));
  assert_rk_ok(rk_param_init(&w[3], "b_hh", 1, bs));
  for (int k = 0; k < 4; k++) rk_param_fill_normal(&w[k], 5, (uint64_t)k, 0.4f);
  for (int s = 0; s < n; s++) {
    fill((float *)x.value.data + s * T * I, T * I, 100 + (uint64_t)which[s]);
    fill((float *)probe.value.data + s * T * H, T * H, 200 + (uint64_t)which[s]);
  }
  rk_graph *g;
  int xv, pv, iv, out, prod, loss;
  assert_rk_ok(rk_graph_create(&g, n));
  assert_rk_ok(rk_graph_param(g, &xv, &x));
  assert_rk_ok(rk_graph_param(g, &pv, &probe));
  assert_rk_ok(rk_graph_input_ids(g, &iv, "ids", T));
  if (op == RK_OP_GRU) assert_rk_ok(rk_graph_gru(g, &out, xv, iv, 0, &w[0], &w[1], &w[2], &w[3]));
  else if (op == RK_OP_LSTM) assert_rk_ok(rk_graph_lstm(g, &out, xv, iv, 0, &w[0], &w[1], &w[2], &w[3]));
  else assert_rk_ok(rk_graph_rnn(g, &out, xv, iv, 0, &w[0], &w[1], &w[2], &w[3]));
  assert_rk_ok(rk_graph_mul(g, &prod, out, pv));
  assert_rk_ok(rk_graph_sum(g, &loss, prod, RK_REDUCE_ALL));
  assert_rk_ok(rk_graph_output(g, out));
  assert_rk_ok(rk_graph_output(g, loss));
  assert_rk_ok(rk_graph_build(g, loss));
  memcpy(rk_graph_input_ids_data(g, iv), ids, (size_t)(n * T) * sizeof *ids);
  rk_graph_zero_grad(g);
  assert_rk_ok(rk_graph_forward(g, RK_TRAIN));
  assert_rk_ok(rk_graph_backward(g));
  memcpy(r->out, rk_graph_value_f32(g, out), (size_t)(n * T * H) * sizeof(float));
  memcpy(r->dx, x.grad.data, (size_t)(n * T * I) * sizeof(float));
  for (int k = 0; k < 4; k++) memcpy(r->dw[k], w[k].grad.data, (size_t)rk_tensor_numel(&w[k].grad) * sizeof(float));
  rk_graph_free(g);
  rk_param_free(&x);
  rk_param_free(&probe);
  for (int k = 0; k < 4; k++) rk_param_free(&w[k]);
  assert_rk_ok(rk_set_num_threads(1));
}

/* Sessions of every shape: full, right-padded to 1..6 items, left-padded, with holes, empty. */
static void session_ids(int64_t *ids, int n) {
  for (int s = 0; s < n; s++)
    for (int t = 0; t < T; t++) {
      int shape = s % 5, len = 1 + s % T;
      bool real = shape == 0 ? true : shape == 1 ? t < len : shape == 2 ? t >= T - len : shape == 3 ? (t + s) % 3 != 0 : false;
      ids[s * T + t] = real ? 1 + (s * T + t) % 9 : 0;
    }
}

static void batch_independence(rk_op op) {
  enum { B = 10 };
  static run_result all, one;
  int64_t ids[B * T];
  int which[B];
  session_ids(ids, B);
  for (int s = 0; s < B; s++) which[s] = s;
  run(&all, op, ids, which, B, 1);
  for (int s = 0; s < B; s++) {
    run(&one, op, ids + s * T, &which[s], 1, 1);
    if (memcmp(one.out, all.out + s * T * H, sizeof(float) * T * H) != 0)
      fail_msg("%s: session %d's outputs alone differ from those in a batch of %d", rk_op_name(op), s, B);
    if (memcmp(one.dx, all.dx + s * T * I, sizeof(float) * T * I) != 0)
      fail_msg("%s: session %d's input gradients alone differ from those in a batch of %d", rk_op_name(op), s, B);
  }
}

static void test_a_session_does_not_depend_on_its_batch(void **state) {
  (void)state;
  batch_independence(RK_OP_GRU);
  batch_independence(RK_OP_LSTM);
  batch_independence(RK_OP_RNN);
}

static void thread_independence(rk_op op) {
  static run_result one, two;
  int64_t ids[MAX_B * T];
  int which[MAX_B];
  session_ids(ids, MAX_B);
  for (int s = 0; s < MAX_B; s++) which[s] = s;
  run(&one, op, ids, which, MAX_B, 1);
  run(&two, op, ids, which, MAX_B, 2);
  assert_memory_equal(one.out, two.out, sizeof one.out);
  assert_memory_equal(one.dx, two.dx, sizeof one.dx);
  assert_memory_equal(one.dw, two.dw, sizeof one.dw);
  float zeros[T * H] = {0};   /* the empty sessions (shape 4) output zeros and get no gradient */
  assert_memory_equal(one.out + 4 * T * H, zeros, sizeof zeros);
  assert_memory_equal(one.dx + 4 * T * I, zeros, sizeof(float) * T * I);
}

static void test_threads_give_the_same_bits(void **state) {
  (void)state;
  thread_independence(RK_OP_GRU);
  thread_independence(RK_OP_LSTM);
  thread_independence(RK_OP_RNN);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_a_session_does_not_depend_on_its_batch),
      cmocka_unit_test(test_threads_give_the_same_bits),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
