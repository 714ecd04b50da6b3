/*
 * The first writer of a gradient (graph.c, overwrites_dx; rk_node.dx_overwrite): the graph does
 * not zero a gradient whose first backward writer writes it whole, which softmax_ce does for its
 * logits. Checked with the graph's memory filled with NaN before a pass (a row left unwritten,
 * an ignored label's, would carry NaN into the weight gradients), and with the logits read by
 * two losses: the later reader (the first in backward) writes, the earlier one adds, and the
 * gradients are the sum of each loss's alone. Finite differences of softmax_ce are
 * test_nn_gradcheck.c's.
 */
#include "support.h"

#include <math.h>
#include <string.h>

#include "nn/graph_internal.h"
#include "reckon/nn.h"

enum { NB = 6, I = 4, V = 9 };

typedef struct {
  rk_param x, w, b;
} weights;

static void weights_init(weights *p) {
  int64_t xs[2] = {NB, I}, ws[2] = {V, I}, bs[1] = {V};
  assert_rk_ok(rk_param_init(&p->x, "x", 2, xs));
  assert_rk_ok(rk_param_init(&p->w, "out_w", 2, ws));
  assert_rk_ok(rk_param_init(&p->b, "out_b", 1, bs));
  rk_param *all[3] = {&p->x, &p->w, &p->b};
  for (int i = 0; i < 3; i++) rk_param_fill_normal(all[i], 5, (uint64_t)i, 0.8f);
}

static void weights_free(weights *p) {
  rk_param_free(&p->x);
  rk_param_free(&p->w);
  rk_param_free(&p->b);
}

/* label rows: 0 is ignored (rows 1 and 4) */
static const int64_t labels_a[NB] = {3, 0, 8, 1, 0, 5};
static const int64_t labels_b[NB] = {2, 7, 0, 0, 4, 6};

typedef struct {
  rk_graph *g;
  int ya, yb, z, loss;
  int ce[2];   /* node index of each loss's softmax_ce, -1 when absent */
} head;

/* logits = x w^T + b; the loss of labels a, of labels b, or (both) their sum */
static void head_build(head *h, weights *p, bool use_a, bool use_b) {
  assert_rk_ok(rk_graph_create(&h->g, NB));
  int x, la = RK_NO_VALUE, lb = RK_NO_VALUE;
  assert_rk_ok(rk_graph_param(h->g, &x, &p->x));
  assert_rk_ok(rk_graph_input_ids(h->g, &h->ya, "labels_a", 1));
  assert_rk_ok(rk_graph_input_ids(h->g, &h->yb, "labels_b", 1));
  assert_rk_ok(rk_graph_linear(h->g, &h->z, x, &p->w, &p->b, RK_ACT_NONE));
  h->ce[0] = h->ce[1] = -1;
  if (use_a) {
    assert_rk_ok(rk_graph_softmax_ce(h->g, &la, h->z, h->ya, 0, 0.1f, 0.8f));
    h->ce[0] = h->g->n_nodes - 1;
  }
  if (use_b) {
    assert_rk_ok(rk_graph_softmax_ce(h->g, &lb, h->z, h->yb, 0, 0.0f, 1.3f));
    h->ce[1] = h->g->n_nodes - 1;
  }
  h->loss = use_a ? la : lb;
  if (use_a && use_b) assert_rk_ok(rk_graph_add(h->g, &h->loss, la, lb));
  assert_rk_ok(rk_graph_build(h->g, h->loss));
  memcpy(rk_graph_input_ids_data(h->g, h->ya), labels_a, sizeof labels_a);
  memcpy(rk_graph_input_ids_data(h->g, h->yb), labels_b, sizeof labels_b);
}

/* One pass from zeroed parameter gradients; with poison, the graph's memory is NaN first. */
static void head_pass(head *h, weights *p, bool poison) {
  rk_param_zero_grad(&p->x);
  rk_param_zero_grad(&p->w);
  rk_param_zero_grad(&p->b);
  if (poison) memset(h->g->arena, 0xff, h->g->arena_bytes);
  assert_rk_ok(rk_graph_forward(h->g, RK_TRAIN));
  assert_rk_ok(rk_graph_backward(h->g));
}

typedef struct {
  float x[NB * I], w[V * I], b[V];
} grads;

static void grads_read(grads *out, const weights *p) {
  memcpy(out->x, p->x.grad.data, sizeof out->x);
  memcpy(out->w, p->w.grad.data, sizeof out->w);
  memcpy(out->b, p->b.grad.data, sizeof out->b);
}

static void assert_close(const float *a, const float *b, int n, float tol, const char *what) {
  for (int i = 0; i < n; i++)
    if (!(fabsf(a[i] - b[i]) <= tol * (1.0f + fabsf(b[i]))))
      fail_msg("%s[%d]: %.9g, expected %.9g", what, i, a[i], b[i]);
}

static void assert_grads(const grads *a, const grads *b, float tol) {
  assert_close(a->x, b->x, NB * I, tol, "d x");
  assert_close(a->w, b->w, V * I, tol, "d out_w");
  assert_close(a->b, b->b, V, tol, "d out_b");
}

/* softmax_ce is the logits' only reader: it writes their gradient whole, the graph leaves it
 * unzeroed, and memory full of NaN changes no bit of the gradients. */
static void test_only_reader_overwrites(void **state) {
  (void)state;
  weights p;
  weights_init(&p);
  head h;
  head_build(&h, &p, true, false);
  assert_true(h.g->nodes[h.ce[0]].dx_overwrite);
  assert_true(h.g->values[h.z].grad_overwritten);
  grads clean, poisoned;
  head_pass(&h, &p, false);
  grads_read(&clean, &p);
  head_pass(&h, &p, true);
  grads_read(&poisoned, &p);
  assert_memory_equal(&clean, &poisoned, sizeof clean);
  float norm = 0.0f;
  for (int i = 0; i < V * I; i++) norm += fabsf(clean.w[i]);
  assert_true(norm > 0.0f && isfinite(norm));
  rk_graph_free(h.g);
  weights_free(&p);
}

/* Two losses read the logits: the later one (first in backward) writes, the earlier adds; the
 * gradients are the two losses' own summed, NaN-filled memory or not. */
static void test_later_reader_writes_earlier_adds(void **state) {
  (void)state;
  weights p;
  weights_init(&p);
  head a, b, both;
  head_build(&a, &p, true, false);
  head_build(&b, &p, false, true);
  head_build(&both, &p, true, true);
  assert_false(both.g->nodes[both.ce[0]].dx_overwrite);
  assert_true(both.g->nodes[both.ce[1]].dx_overwrite);
  grads ga, gb, sum, gboth, gpoisoned;
  head_pass(&a, &p, false);
  grads_read(&ga, &p);
  head_pass(&b, &p, false);
  grads_read(&gb, &p);
  for (int i = 0; i < NB * I; i++) sum.x[i] = ga.x[i] + gb.x[i];
  for (int i = 0; i < V * I; i++) sum.w[i] = ga.w[i] + gb.w[i];
  for (int i = 0; i < V; i++) sum.b[i] = ga.b[i] + gb.b[i];
  head_pass(&both, &p, false);
  grads_read(&gboth, &p);
  assert_grads(&gboth, &sum, 1e-5f);
  head_pass(&both, &p, true);
  grads_read(&gpoisoned, &p);
  assert_memory_equal(&gboth, &gpoisoned, sizeof gboth);
  rk_graph_free(a.g);
  rk_graph_free(b.g);
  rk_graph_free(both.g);
  weights_free(&p);
}

/* A parameter read directly by softmax_ce keeps adding: its gradient is the caller's to zero
 * (rk_graph_zero_grad), and two passes without zeroing give twice one pass. */
static void test_parameter_logits_add(void **state) {
  (void)state;
  rk_param z;
  int64_t zs[2] = {NB, V};
  assert_rk_ok(rk_param_init(&z, "logits", 2, zs));
  rk_param_fill_normal(&z, 9, 0, 1.0f);
  rk_graph *g;
  int zv, y, loss;
  assert_rk_ok(rk_graph_create(&g, NB));
  assert_rk_ok(rk_graph_param(g, &zv, &z));
  assert_rk_ok(rk_graph_input_ids(g, &y, "labels", 1));
  assert_rk_ok(rk_graph_softmax_ce(g, &loss, zv, y, 0, 0.0f, 1.0f));
  assert_rk_ok(rk_graph_build(g, loss));
  assert_false(g->nodes[g->n_nodes - 1].dx_overwrite);
  memcpy(rk_graph_input_ids_data(g, y), labels_a, sizeof labels_a);
  rk_param_zero_grad(&z);
  assert_rk_ok(rk_graph_forward(g, RK_TRAIN));
  assert_rk_ok(rk_graph_backward(g));
  float once[NB * V];
  memcpy(once, z.grad.data, sizeof once);
  assert_rk_ok(rk_graph_forward(g, RK_TRAIN));
  assert_rk_ok(rk_graph_backward(g));
  for (int i = 0; i < NB * V; i++) assert_true(((const float *)z.grad.data)[i] == 2.0f * once[i]);
  rk_graph_free(g);
  rk_param_free(&z);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_only_reader_overwrites),
      cmocka_unit_test(test_later_reader_writes_earlier_adds),
      cmocka_unit_test(test_parameter_logits_add),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
