/*
 * A training step's gradient over the pieces of its batch (src/train/step_pieces.c), in one
 * process: on a small graph (an embedding table, a linear layer, MSE), the step leaves in the
 * parameters exactly the pairwise tree sum of the pieces' gradients, computed here piece by
 * piece, times 1/P: dense element by element, the table's touched rows merged by id (a row only
 * one half touched keeps its value; untouched rows stay out), the extras summed the same way.
 * One piece is the plain step. Every allocation failure of setting up and running a step is
 * reported as RK_ENOMEM and leaks nothing.
 */
#include "support.h"

#include <stdlib.h>
#include <string.h>

#include "reckon/nn.h"
#include "train/step_pieces.h"

#define B 4
#define V 23
#define D 3

typedef struct {
  rk_param table, w, b;
  rk_param *params[3];
  rk_graph *g;
  int ids, x, label, loss;
  rk_model m;
} tiny;

static void tiny_build(tiny *t) {
  memset(t, 0, sizeof *t);
  assert_rk_ok(rk_param_init_sparse(&t->table, "table", V, D));
  rk_param_fill_normal(&t->table, 3, 0, 0.5f);
  int64_t wshape[2] = {1, D + 2}, bshape[1] = {1};
  assert_rk_ok(rk_param_init(&t->w, "w", 2, wshape));
  rk_param_fill_normal(&t->w, 3, 1, 0.5f);
  assert_rk_ok(rk_param_init(&t->b, "b", 1, bshape));
  assert_rk_ok(rk_graph_create(&t->g, B));
  int64_t two[1] = {2}, one[1] = {1}, flat[2] = {B, D};
  int e, er, xs[2], h, out;
  assert_rk_ok(rk_graph_input_ids(t->g, &t->ids, "ids", 1));
  assert_rk_ok(rk_graph_input(t->g, &t->x, "x", 1, two));
  assert_rk_ok(rk_graph_input(t->g, &t->label, "label", 1, one));
  assert_rk_ok(rk_graph_embedding(t->g, &e, &t->table, t->ids, -1));
  assert_rk_ok(rk_graph_reshape(t->g, &er, e, 2, flat));
  xs[0] = er;
  xs[1] = t->x;
  assert_rk_ok(rk_graph_concat(t->g, &h, 2, xs, 1));
  assert_rk_ok(rk_graph_linear(t->g, &out, h, &t->w, &t->b, RK_ACT_NONE));
  assert_rk_ok(rk_graph_mse(t->g, &t->loss, out, t->label, RK_NO_VALUE));
  assert_rk_ok(rk_graph_build(t->g, t->loss));
  t->params[0] = &t->table;
  t->params[1] = &t->w;
  t->params[2] = &t->b;
  t->m.g = t->g;
  t->m.params = t->params;
  t->m.n_params = 3;
}

static void tiny_free(tiny *t) {
  rk_graph_free(t->g);
  for (int i = 0; i < 3; i++) rk_param_free(t->params[i]);
}

/* Piece k's rows: ids from a small range, so pieces share some rows and not others. */
static rk_status run_piece(void *ctx, int64_t k, float *extra) {
  tiny *t = ctx;
  int64_t *ids = rk_graph_input_ids_data(t->g, t->ids);
  float *x = rk_graph_input_f32(t->g, t->x), *y = rk_graph_input_f32(t->g, t->label);
  for (int64_t i = 0; i < B; i++) {
    ids[i] = ((k * 5 + i * 3) % 11 + (k % 3) * 7) % V;
    x[2 * i] = (float)rk_rng_uniform_at(9, (uint64_t)k, (uint64_t)(2 * i)) - 0.5f;
    x[2 * i + 1] = (float)(k + 1) * 0.25f;
    y[i] = (float)rk_rng_uniform_at(9, 100 + (uint64_t)k, (uint64_t)i);
  }
  RK_TRY(rk_graph_forward(t->g, RK_TRAIN));
  extra[0] = rk_graph_value_f32(t->g, t->loss)[0];
  extra[1] = 1.0f;   /* counts the pieces */
  return rk_graph_backward(t->g);
}

/* A piece's gradient, dense: w (D + 2), b (1), table (V, D) with untouched rows zero. */
enum { NW = D + 2, NG = NW + 1 + V * D + 2 };

static void piece_gradient(tiny *t, int64_t k, float *out) {
  rk_graph_zero_grad(t->g);
  float extra[2] = {0, 0};
  assert_rk_ok(run_piece(t, k, extra));
  memset(out, 0, NG * sizeof *out);
  memcpy(out, t->w.grad.data, NW * sizeof *out);
  out[NW] = ((float *)t->b.grad.data)[0];
  for (int64_t r = 0; r < t->table.n_grad_rows; r++)
    memcpy(out + NW + 1 + t->table.grad_rows[r] * D, (float *)t->table.grad.data + r * D, D * sizeof *out);
  out[NG - 2] = extra[0];
  out[NG - 1] = extra[1];
}

static void tree(tiny *t, int64_t l, int64_t r, float *out) {
  if (r - l == 1) {
    piece_gradient(t, l, out);
    return;
  }
  float right[NG];
  int64_t m = rk_dist_tree_mid(l, r);
  tree(t, l, m, out);
  tree(t, m, r, right);
  for (int i = 0; i < NG; i++) out[i] += right[i];
}

static void test_step_is_the_tree_sum_of_its_pieces(void **state) {
  (void)state;
  const int64_t piece_counts[] = {1, 2, 3, 5, 8};
  for (int c = 0; c < 5; c++) {
    int64_t P = piece_counts[c];
    tiny t;
    tiny_build(&t);
    float want[NG];
    tree(&t, 0, P, want);
    float scale = (float)(1.0 / (double)P);
    step_pieces *sp;
    assert_rk_ok(step_pieces_init(&sp, &t.m, P, 2, NULL, 1 << 20));
    int64_t first, count;
    step_pieces_mine(sp, &first, &count);
    assert_int_equal(first, 0);
    assert_int_equal(count, P);
    rk_graph_zero_grad(t.g);
    float extra[2];
    assert_rk_ok(step_pieces_run(sp, run_piece, &t, extra));
    const float *w = t.w.grad.data, *b = t.b.grad.data;
    for (int i = 0; i < NW; i++) assert_true(w[i] == want[i] * scale);
    assert_true(b[0] == want[NW] * scale);
    assert_true(extra[0] == want[NG - 2]);   /* extras: the sum, not the mean */
    assert_true(extra[1] == (float)P);
    /* the table: ascending rows, exactly those some piece touched, each the tree's value */
    int64_t touched = 0;
    for (int64_t r = 0; r < V; r++) {
      bool any = false;
      for (int e = 0; e < D; e++) any = any || want[NW + 1 + r * D + e] != 0.0f;
      touched += any;
    }
    assert_int_equal(t.table.n_grad_rows, touched);
    for (int64_t k = 0; k < t.table.n_grad_rows; k++) {
      int64_t r = t.table.grad_rows[k];
      if (k) assert_true(r > t.table.grad_rows[k - 1]);
      for (int e = 0; e < D; e++)
        assert_true(((float *)t.table.grad.data)[k * D + e] == want[NW + 1 + r * D + e] * scale);
    }
    step_pieces_free(sp);
    tiny_free(&t);
  }
}

typedef struct {
  tiny *t;
} walk_ctx;

static rk_status one_step(void *arg) {
  walk_ctx *c = arg;
  step_pieces *sp;
  RK_TRY(step_pieces_init(&sp, &c->t->m, 5, 2, NULL, 1 << 20));
  float extra[2];
  rk_graph_zero_grad(c->t->g);
  rk_status st = step_pieces_run(sp, run_piece, c->t, extra);
  step_pieces_free(sp);
  return st;
}

static void test_allocation_failures(void **state) {
  (void)state;
  tiny t;
  tiny_build(&t);
  walk_ctx c = {&t};
  /* A first step grows the table's gradient buffers to the step's touched rows (the param owns
   * them from then on, as it owned the graph's): the walk then sees only the step's own memory. */
  assert_rk_ok(one_step(&c));
  assert_true(rk_test_walk_failures(one_step, &c) > 0);
  tiny_free(&t);
}

static void test_bad_piece_count(void **state) {
  (void)state;
  tiny t;
  tiny_build(&t);
  step_pieces *sp;
  assert_int_equal(step_pieces_init(&sp, &t.m, 0, 1, NULL, 1 << 20), RK_EINVAL);
  tiny_free(&t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_step_is_the_tree_sum_of_its_pieces),
      cmocka_unit_test(test_allocation_failures),
      cmocka_unit_test(test_bad_piece_count),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
