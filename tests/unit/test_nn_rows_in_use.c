/*
 * Rows in use (docs/design.md, "Rows in use"): gather_rows packs the labelled rows, linear and
 * softmax_ce compute on those rows only. Checked against the same loss computed on every row
 * with the unlabelled ones ignored (what the session models did before): equal loss and
 * gradients to float rounding, zero gradient at the rows no entry names, the rows in use per
 * pass, a batch without labels, and the refusals (another op reading such a value, a bad index).
 * Gradients by finite differences are test_nn_gradcheck.c's (gather_rows, linear, softmax_ce).
 */
#include "support.h"

#include <math.h>
#include <string.h>

#include "reckon/nn.h"

enum { NB = 3, NT = 4, D = 3, H = 5, V = 7 };

typedef struct {
  rk_param x, hw, hb, ow, ob;
} weights;

static void weights_init(weights *w) {
  int64_t xs[3] = {NB, NT, D}, hw[2] = {H, D}, hb[1] = {H}, ow[2] = {V, H}, ob[1] = {V};
  assert_rk_ok(rk_param_init(&w->x, "x", 3, xs));
  assert_rk_ok(rk_param_init(&w->hw, "head_w", 2, hw));
  assert_rk_ok(rk_param_init(&w->hb, "head_b", 1, hb));
  assert_rk_ok(rk_param_init(&w->ow, "out_w", 2, ow));
  assert_rk_ok(rk_param_init(&w->ob, "out_b", 1, ob));
  rk_param *all[5] = {&w->x, &w->hw, &w->hb, &w->ow, &w->ob};
  for (int i = 0; i < 5; i++) rk_param_fill_normal(all[i], 3, (uint64_t)i, 0.7f);
}

static void weights_free(weights *w) {
  rk_param *all[5] = {&w->x, &w->hw, &w->hb, &w->ow, &w->ob};
  for (int i = 0; i < 5; i++) rk_param_free(all[i]);
}

/* The loss over the rows whose label is not 0, computed packed (gather_rows) or on all rows. */
typedef struct {
  rk_graph *g;
  int labels, rows, packed, loss, head;
} loss_graph;

static void loss_graph_build(loss_graph *lg, weights *w, bool packed) {
  assert_rk_ok(rk_graph_create(&lg->g, NB));
  int x, h, z;
  assert_rk_ok(rk_graph_param(lg->g, &x, &w->x));
  assert_rk_ok(rk_graph_input_ids(lg->g, &lg->labels, "labels", NT));
  int in = x;
  if (packed) {
    assert_rk_ok(rk_graph_input_ids(lg->g, &lg->rows, "rows", NT));
    assert_rk_ok(rk_graph_input_ids(lg->g, &lg->packed, "packed", NT));
    assert_rk_ok(rk_graph_gather_rows(lg->g, &in, x, lg->rows));
  }
  assert_rk_ok(rk_graph_linear(lg->g, &h, in, &w->hw, &w->hb, RK_ACT_TANH));
  assert_rk_ok(rk_graph_linear(lg->g, &z, h, &w->ow, &w->ob, RK_ACT_NONE));
  assert_rk_ok(rk_graph_softmax_ce(lg->g, &lg->loss, z, packed ? lg->packed : lg->labels, 0, 0.1f, 0.8f));
  lg->head = h;
  assert_rk_ok(rk_graph_output(lg->g, h));
  assert_rk_ok(rk_graph_output(lg->g, lg->loss));
  assert_rk_ok(rk_graph_build(lg->g, lg->loss));
}

/* labels (NB NT) into the graph; packed: the labelled rows and their labels, then -1 and 0. */
static int64_t fill_labels(loss_graph *lg, const int64_t *labels, bool packed) {
  memcpy(rk_graph_input_ids_data(lg->g, lg->labels), labels, NB * NT * sizeof *labels);
  if (!packed) return NB * NT;
  int64_t *rows = rk_graph_input_ids_data(lg->g, lg->rows), *y = rk_graph_input_ids_data(lg->g, lg->packed), n = 0;
  for (int64_t r = 0; r < NB * NT; r++)
    if (labels[r] != 0) rows[n] = r, y[n++] = labels[r];
  for (int64_t k = n; k < NB * NT; k++) rows[k] = -1, y[k] = 0;
  return n;
}

static float run_pass(loss_graph *lg, weights *w) {
  rk_param *all[5] = {&w->x, &w->hw, &w->hb, &w->ow, &w->ob};
  for (int i = 0; i < 5; i++) rk_param_zero_grad(all[i]);
  assert_rk_ok(rk_graph_forward(lg->g, RK_TRAIN));
  assert_rk_ok(rk_graph_backward(lg->g));
  return rk_graph_value_f32(lg->g, lg->loss)[0];
}

static void copy_grad(float *out, const rk_param *p) { memcpy(out, p->grad.data, (size_t)rk_tensor_numel(&p->grad) * sizeof(float)); }

static void assert_close(const float *a, const float *b, int64_t n, const char *what) {
  for (int64_t i = 0; i < n; i++)
    if (fabsf(a[i] - b[i]) > 1e-6f + 1e-5f * fabsf(b[i]))
      fail_msg("%s[%lld]: packed %.9g, every row %.9g", what, (long long)i, a[i], b[i]);
}

static void test_packed_equals_every_row(void **state) {
  (void)state;
  /* 6 labelled rows of 12, with a session of none and a label repeated */
  const int64_t labels[NB * NT] = {3, 0, 6, 0, 0, 0, 0, 0, 1, 3, 3, 2};
  weights w;
  weights_init(&w);
  loss_graph full, packed;
  loss_graph_build(&full, &w, false);
  loss_graph_build(&packed, &w, true);
  fill_labels(&full, labels, false);
  int64_t n = fill_labels(&packed, labels, true);
  float loss_full = run_pass(&full, &w);
  float gx[NB * NT * D], ghw[H * D], ghb[H], gow[V * H], gob[V];
  copy_grad(gx, &w.x), copy_grad(ghw, &w.hw), copy_grad(ghb, &w.hb), copy_grad(gow, &w.ow), copy_grad(gob, &w.ob);
  float loss_packed = run_pass(&packed, &w);
  assert_true(loss_full > 0.0f);
  assert_close(&loss_packed, &loss_full, 1, "loss");
  assert_close(w.x.grad.data, gx, NB * NT * D, "d x");
  assert_close(w.hw.grad.data, ghw, H * D, "d head_w");
  assert_close(w.hb.grad.data, ghb, H, "d head_b");
  assert_close(w.ow.grad.data, gow, V * H, "d out_w");
  assert_close(w.ob.grad.data, gob, V, "d out_b");
  /* the unlabelled rows get no gradient; the packed values use n rows of their capacity */
  for (int64_t r = 0; r < NB * NT; r++)
    for (int d = 0; d < D; d++)
      if (labels[r] == 0) assert_true(((const float *)w.x.grad.data)[r * D + d] == 0.0f);
  assert_int_equal(n, 6);
  assert_int_equal(rk_graph_value_rows(packed.g, packed.head), n);
  assert_int_equal(rk_graph_value_shape(packed.g, packed.head)[0], NB * NT);
  assert_int_equal(rk_graph_value_rows(full.g, full.head), NB);
  /* the head's packed rows are the labelled rows' head, bit for bit (the same gemm per row) */
  const float *hp = rk_graph_value_f32(packed.g, packed.head), *hf = rk_graph_value_f32(full.g, full.head);
  for (int64_t k = 0, r = 0; r < NB * NT; r++)
    if (labels[r] != 0) assert_close(hp + (k++) * H, hf + r * H, H, "head row");
  rk_graph_free(full.g);
  rk_graph_free(packed.g);
  weights_free(&w);
}

/* A batch without a label: no row in use, loss 0 and no gradient, like the unpacked loss. */
static void test_no_labelled_row(void **state) {
  (void)state;
  const int64_t labels[NB * NT] = {0};
  weights w;
  weights_init(&w);
  loss_graph packed;
  loss_graph_build(&packed, &w, true);
  assert_int_equal(fill_labels(&packed, labels, true), 0);
  assert_true(run_pass(&packed, &w) == 0.0f);
  assert_int_equal(rk_graph_value_rows(packed.g, packed.head), 0);
  const float *gx = w.x.grad.data, *gow = w.ow.grad.data;
  for (int i = 0; i < NB * NT * D; i++) assert_true(gx[i] == 0.0f);
  for (int i = 0; i < V * H; i++) assert_true(gow[i] == 0.0f);
  rk_graph_free(packed.g);
  weights_free(&w);
}

/* Only the ops that compute row by row read a value with rows in use: any other op would read
 * rows nothing wrote, so its builder refuses, naming the op; add sums two packed values, never
 * a packed one onto a whole one. */
static void test_other_ops_refuse_rows_in_use(void **state) {
  (void)state;
  weights w;
  weights_init(&w);
  rk_graph *g;
  assert_rk_ok(rk_graph_create(&g, NB));
  int x, ix, rows, out, whole;
  const int64_t flat[2] = {NB * NT, D};
  assert_rk_ok(rk_graph_param(g, &x, &w.x));
  assert_rk_ok(rk_graph_input_ids(g, &ix, "rows", NT));
  assert_rk_ok(rk_graph_gather_rows(g, &rows, x, ix));
  assert_rk_ok(rk_graph_reshape(g, &whole, x, 2, flat));
  assert_int_equal(rk_graph_relu(g, &out, rows), RK_EINVAL);
  assert_non_null(strstr(rk_error_message(), "relu: input 0 has rows in use"));
  assert_int_equal(rk_graph_add(g, &out, whole, rows), RK_EINVAL);
  assert_non_null(strstr(rk_error_message(), "add: input 1 has rows in use"));
  assert_int_equal(rk_graph_mul(g, &out, rows, rows), RK_EINVAL);
  assert_non_null(strstr(rk_error_message(), "mul: input 0 has rows in use"));
  assert_rk_ok(rk_graph_add(g, &out, rows, rows));
  rk_graph_free(g);
  weights_free(&w);
}

/* The index: rows in [0, N) up to the first -1, -1 after it; anything else fails the forward
 * naming the entry. */
static void test_bad_index(void **state) {
  (void)state;
  weights w;
  weights_init(&w);
  loss_graph lg;
  loss_graph_build(&lg, &w, true);
  const int64_t labels[NB * NT] = {1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  fill_labels(&lg, labels, true);
  int64_t *rows = rk_graph_input_ids_data(lg.g, lg.rows);
  rows[5] = 4;   /* a row after the first -1 (entry 3) */
  assert_int_equal(rk_graph_forward(lg.g, RK_TRAIN), RK_ERANGE);
  assert_non_null(strstr(rk_error_message(), "gather_rows: entry 5 is 4"));
  rows[5] = -1;
  rows[1] = NB * NT;   /* past the last row */
  assert_int_equal(rk_graph_forward(lg.g, RK_TRAIN), RK_ERANGE);
  assert_non_null(strstr(rk_error_message(), "entry 1 is 12; want a row in [0, 12)"));
  rk_graph_free(lg.g);
  weights_free(&w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_packed_equals_every_row),
      cmocka_unit_test(test_no_labelled_row),
      cmocka_unit_test(test_other_ops_refuse_rows_in_use),
      cmocka_unit_test(test_bad_index),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
