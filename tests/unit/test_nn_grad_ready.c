/*
 * The gradient-ready hook (rk_graph_set_grad_ready_hook, src/nn/graph.c), on which data-parallel
 * training starts a bucket's exchange while backward goes on (src/train/step_pieces.c). A graph
 * with a weight read by two nodes (fan-out), a weight off the loss's path and a sparse table:
 * - the order is the one the graph's shape fixes (the dead weight first, the head, then the
 *   fan-out weight after the earlier of its two readers, the table last) and the hook follows
 *   rk_graph_grad_ready_order, once per parameter;
 * - a gradient reported ready is final: its bits when reported equal its bits after the pass
 *   (a report before the last writer would miss that writer's addition);
 * - the hook changes nothing: the gradients equal those of a pass without it;
 * - a hook's error ends the pass with that status, and the next pass runs whole.
 */
#include "support.h"

#include <string.h>

#include "reckon/nn.h"

enum { NB = 5, I = 3, H = 4, D = 2, V = 7, NP = 6 };

typedef struct {
  rk_param table, w1, b1, dead, w2, b2;
  rk_graph *g;
  int ids, x, y, loss;
} net;

/* loss = bce(w2 [relu(x w1 + b1) + x w1, table[ids]] + b2, y); x dead is computed by nobody's loss */
static void net_build(net *n) {
  memset(n, 0, sizeof *n);
  int64_t s1[2] = {H, I}, sb1[1] = {H}, s2[2] = {1, H + D}, sb2[1] = {1}, one[1] = {1}, in[1] = {I};
  assert_rk_ok(rk_param_init_sparse(&n->table, "table", V, D));
  assert_rk_ok(rk_param_init(&n->w1, "w1", 2, s1));
  assert_rk_ok(rk_param_init(&n->b1, "b1", 1, sb1));
  assert_rk_ok(rk_param_init(&n->dead, "dead", 2, s1));
  assert_rk_ok(rk_param_init(&n->w2, "w2", 2, s2));
  assert_rk_ok(rk_param_init(&n->b2, "b2", 1, sb2));
  rk_param *all[NP] = {&n->table, &n->w1, &n->b1, &n->dead, &n->w2, &n->b2};
  for (int k = 0; k < NP; k++) rk_param_fill_normal(all[k], 11, (uint64_t)k, 0.7f);
  assert_rk_ok(rk_graph_create(&n->g, NB));
  rk_graph *g = n->g;
  int e, e2, h1, h2, h, dead, z, logit, parts[2];
  int64_t flat[2] = {NB, D};
  assert_rk_ok(rk_graph_input_ids(g, &n->ids, "ids", 1));
  assert_rk_ok(rk_graph_input(g, &n->x, "x", 1, in));
  assert_rk_ok(rk_graph_input(g, &n->y, "y", 1, one));
  assert_rk_ok(rk_graph_embedding(g, &e, &n->table, n->ids, -1));   /* param 0 */
  assert_rk_ok(rk_graph_reshape(g, &e2, e, 2, flat));
  assert_rk_ok(rk_graph_linear(g, &h1, n->x, &n->w1, &n->b1, RK_ACT_RELU));   /* params 1, 2 */
  assert_rk_ok(rk_graph_linear(g, &h2, n->x, &n->w1, NULL, RK_ACT_NONE));   /* w1 again: fan-out */
  assert_rk_ok(rk_graph_add(g, &h, h1, h2));
  assert_rk_ok(rk_graph_linear(g, &dead, n->x, &n->dead, NULL, RK_ACT_NONE));   /* param 3, off the path */
  parts[0] = h;
  parts[1] = e2;
  assert_rk_ok(rk_graph_concat(g, &z, 2, parts, 1));
  assert_rk_ok(rk_graph_linear(g, &logit, z, &n->w2, &n->b2, RK_ACT_NONE));   /* params 4, 5 */
  assert_rk_ok(rk_graph_bce_logits(g, &n->loss, logit, n->y, RK_NO_VALUE));
  assert_rk_ok(rk_graph_build(g, n->loss));
  assert_int_equal(rk_graph_param_count(g), NP);
  int64_t *ids = rk_graph_input_ids_data(g, n->ids);
  float *x = rk_graph_input_f32(g, n->x), *y = rk_graph_input_f32(g, n->y);
  for (int b = 0; b < NB; b++) {
    ids[b] = (b * 3) % V;
    y[b] = (float)(b % 2);
    for (int i = 0; i < I; i++) x[b * I + i] = (float)((b + 1) * (i + 2) % 5) * 0.3f - 0.6f;
  }
}

static void net_free(net *n) {
  rk_graph_free(n->g);
  rk_param *all[NP] = {&n->table, &n->w1, &n->b1, &n->dead, &n->w2, &n->b2};
  for (int k = 0; k < NP; k++) rk_param_free(all[k]);
}

/* A parameter's gradient as it stands: dense whole, sparse its compact rows. */
static int64_t grad_floats(const rk_param *p) {
  return p->sparse ? p->n_grad_rows * p->value.shape[1] : rk_tensor_numel(&p->value);
}

typedef struct {
  net *n;
  int calls, fail_at;
  int order[2 * NP];
  float seen[NP][64];   /* each gradient when reported */
  int64_t seen_n[NP];
} recorder;

static rk_status record(void *ctx, int param) {
  recorder *r = ctx;
  if (r->calls == r->fail_at) return rk_error(RK_EIO, "the test's hook fails at report %d", r->calls);
  r->order[r->calls++] = param;
  const rk_param *p = rk_graph_param_at(r->n->g, param);
  r->seen_n[param] = grad_floats(p);
  assert_true(r->seen_n[param] <= 64);
  memcpy(r->seen[param], p->grad.data, (size_t)r->seen_n[param] * sizeof(float));
  return RK_OK;
}

static void pass(net *n) {
  rk_graph_zero_grad(n->g);
  assert_rk_ok(rk_graph_forward(n->g, RK_TRAIN));
  assert_rk_ok(rk_graph_backward(n->g));
}

static void test_hook_reports_each_param_once_when_final(void **state) {
  (void)state;
  net n;
  net_build(&n);
  /* dead (nothing writes it), w2 and b2 (the head), w1 after the earlier of its readers with
   * b1, the sparse table after the assembly */
  const int expected[NP] = {3, 4, 5, 1, 2, 0};
  const int *order = rk_graph_grad_ready_order(n.g);
  assert_non_null(order);
  for (int k = 0; k < NP; k++) assert_int_equal(order[k], expected[k]);

  recorder r = {.n = &n, .fail_at = -1};
  rk_graph_set_grad_ready_hook(n.g, record, &r);
  pass(&n);
  assert_int_equal(r.calls, NP);
  for (int k = 0; k < NP; k++) assert_int_equal(r.order[k], expected[k]);
  for (int k = 0; k < NP; k++) {
    const rk_param *p = rk_graph_param_at(n.g, k);
    assert_int_equal(r.seen_n[k], grad_floats(p));
    assert_memory_equal(r.seen[k], p->grad.data, (size_t)r.seen_n[k] * sizeof(float));
  }
  /* the check has teeth: the reported gradients are not zero (but the dead weight's) */
  for (int k = 0; k < NP; k++) {
    float mag = 0;
    for (int64_t e = 0; e < r.seen_n[k]; e++) mag += r.seen[k][e] < 0 ? -r.seen[k][e] : r.seen[k][e];
    if (k == 3) assert_true(mag == 0.0f);
    else assert_true(mag > 0.0f);
  }

  /* the same gradients without the hook */
  rk_graph_set_grad_ready_hook(n.g, NULL, NULL);
  pass(&n);
  for (int k = 0; k < NP; k++) {
    const rk_param *p = rk_graph_param_at(n.g, k);
    assert_int_equal(r.seen_n[k], grad_floats(p));
    assert_memory_equal(r.seen[k], p->grad.data, (size_t)r.seen_n[k] * sizeof(float));
  }
  net_free(&n);
}

static void test_hook_error_ends_the_pass(void **state) {
  (void)state;
  net n;
  net_build(&n);
  recorder r = {.n = &n, .fail_at = 2};
  rk_graph_set_grad_ready_hook(n.g, record, &r);
  rk_graph_zero_grad(n.g);
  assert_rk_ok(rk_graph_forward(n.g, RK_TRAIN));
  assert_int_equal(rk_graph_backward(n.g), RK_EIO);
  assert_non_null(strstr(rk_error_message(), "fails at report 2"));
  assert_int_equal(r.calls, 2);
  r.calls = 0;
  r.fail_at = -1;
  pass(&n);   /* the next pass runs whole */
  assert_int_equal(r.calls, NP);
  net_free(&n);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hook_reports_each_param_once_when_final),
      cmocka_unit_test(test_hook_error_ends_the_pass),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
