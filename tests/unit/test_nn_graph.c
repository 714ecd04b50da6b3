/*
 * The compute graph (src/nn/graph.c): determinism across thread counts, failure injection
 * during build, build-time shape errors, memory planning, train/eval modes, unused branches,
 * and the row-sparse gradient contract of embedding tables.
 */
#include "support.h"

#include <stdlib.h>
#include <string.h>

#include "reckon/nn.h"

#define NT 5   /* tables */

typedef struct {
  rk_graph *g;
  rk_param tables[NT], w1, b1, w2, b2, w3, b3, wide;
  int ids, bag, dense, label, loss, logit;
} model;

static rk_status param2(rk_param *p, const char *name, int64_t a, int64_t b, uint64_t stream) {
  int64_t s[2] = {a, b};
  RK_TRY(rk_param_init(p, name, b ? 2 : 1, s));
  rk_param_fill_normal(p, 3, stream, 0.2f);
  return RK_OK;
}

static void model_free(model *m) {
  rk_graph_free(m->g);
  for (int t = 0; t < NT; t++) rk_param_free(&m->tables[t]);
  rk_param_free(&m->w1), rk_param_free(&m->b1), rk_param_free(&m->w2), rk_param_free(&m->b2);
  rk_param_free(&m->w3), rk_param_free(&m->b3), rk_param_free(&m->wide);
  memset(m, 0, sizeof *m);
}

/* A TenRec-shaped model: 4 single-valued fields + 1 multi-hot bag, dims 8..32, a dense input,
 * MLP 64-32-1 with dropout, a hashed wide cross, BCE with weights and L2 terms. */
static rk_status model_build(model *m, int64_t B) {
  memset(m, 0, sizeof *m);
  static const int64_t dims[NT] = {8, 16, 16, 32, 8};
  int64_t total = 4;
  for (int t = 0; t < NT; t++) {
    RK_TRY(rk_param_init_sparse(&m->tables[t], "table", 50 + t, dims[t]));
    rk_param_fill_normal(&m->tables[t], 1, (uint64_t)t, 0.1f);
    total += dims[t];
  }
  RK_TRY(param2(&m->w1, "w1", 64, total, 10));
  RK_TRY(param2(&m->b1, "b1", 64, 0, 11));
  RK_TRY(param2(&m->w2, "w2", 32, 64, 12));
  RK_TRY(param2(&m->b2, "b2", 32, 0, 13));
  RK_TRY(param2(&m->w3, "w3", 1, 32, 14));
  RK_TRY(param2(&m->b3, "b3", 1, 0, 15));
  RK_TRY(rk_param_init_sparse(&m->wide, "wide", 97, 1));
  RK_TRY(rk_graph_create(&m->g, B));
  rk_graph *g = m->g;
  rk_graph_set_seed(g, 1234);
  int64_t four[1] = {4}, one[1] = {1};
  RK_TRY(rk_graph_input_ids(g, &m->ids, "ids", 4));
  RK_TRY(rk_graph_input_ragged(g, &m->bag, "bag", B * 3));
  RK_TRY(rk_graph_input(g, &m->dense, "dense", 1, four));
  RK_TRY(rk_graph_input(g, &m->label, "label", 1, one));
  int parts[NT + 1], cols[4], sizes_v[4];
  for (int t = 0; t < 4; t++) {
    int e, r;
    RK_TRY(rk_graph_embedding(g, &e, &m->tables[t], m->ids, 0));   /* (B, 4, D): reads all, keeps column t */
    int64_t sz[4] = {1, 1, 1, 1};
    int outs[4];
    RK_TRY(rk_graph_split(g, outs, e, 1, 4, sz));
    int64_t rs[2] = {B, dims[t]};
    RK_TRY(rk_graph_reshape(g, &r, outs[t], 2, rs));
    parts[t] = r;
    cols[t] = e;
    sizes_v[t] = outs[t];
  }
  (void)cols, (void)sizes_v;
  RK_TRY(rk_graph_embedding_bag(g, &parts[4], &m->tables[4], m->bag, RK_POOL_MEAN, 0));
  int xs[NT + 1];
  for (int t = 0; t < NT; t++) xs[t] = parts[t];
  xs[NT] = m->dense;
  int x, h1, d1, h2, o, cross_ids, wide_e, wide_r, logit, bce, l2, el2, tmp, tmp2;
  RK_TRY(rk_graph_concat(g, &x, NT + 1, xs, 1));
  RK_TRY(rk_graph_linear(g, &h1, x, &m->w1, &m->b1, RK_ACT_RELU));
  RK_TRY(rk_graph_dropout(g, &d1, h1, 0.2f, false));
  RK_TRY(rk_graph_linear(g, &h2, d1, &m->w2, &m->b2, RK_ACT_RELU));
  RK_TRY(rk_graph_linear(g, &o, h2, &m->w3, &m->b3, RK_ACT_NONE));
  RK_TRY(rk_graph_hash_cross(g, &cross_ids, m->ids, 0, m->ids, 1, 97));
  RK_TRY(rk_graph_embedding(g, &wide_e, &m->wide, cross_ids, 0));
  int64_t b1s[2] = {B, 1};
  RK_TRY(rk_graph_reshape(g, &wide_r, wide_e, 2, b1s));
  RK_TRY(rk_graph_add(g, &logit, o, wide_r));
  RK_TRY(rk_graph_bce_logits(g, &bce, logit, m->label, RK_NO_VALUE));
  rk_param *dense_ps[2] = {&m->w1, &m->w2};
  RK_TRY(rk_graph_l2(g, &l2, 2, dense_ps, 1e-4f));
  RK_TRY(rk_graph_embedding_l2(g, &el2, parts[4], 1e-4f));
  RK_TRY(rk_graph_add(g, &tmp, bce, l2));
  RK_TRY(rk_graph_add(g, &tmp2, tmp, el2));
  m->loss = tmp2;
  m->logit = logit;
  RK_TRY(rk_graph_output(g, m->loss));
  RK_TRY(rk_graph_output(g, m->logit));
  return rk_graph_build(g, m->loss);
}

static void model_fill(model *m, uint64_t seed) {
  rk_graph *g = m->g;
  int64_t B = rk_graph_batch(g);
  rk_rng rng;
  rk_rng_init(&rng, seed, 0);
  int64_t *ids = rk_graph_input_ids_data(g, m->ids);
  for (int64_t i = 0; i < B * 4; i++) ids[i] = (int64_t)rk_rng_below(&rng, 50);
  int64_t *off = rk_graph_input_offsets(g, m->bag), *bag = rk_graph_input_ids_data(g, m->bag);
  off[0] = 0;
  for (int64_t b = 0; b < B; b++) {
    int64_t len = (int64_t)rk_rng_below(&rng, 4);
    for (int64_t j = 0; j < len; j++) bag[off[b] + j] = (int64_t)rk_rng_below(&rng, 54);
    off[b + 1] = off[b] + len;
  }
  float *dense = rk_graph_input_f32(g, m->dense), *label = rk_graph_input_f32(g, m->label);
  for (int64_t i = 0; i < B * 4; i++) dense[i] = (float)rk_rng_normal(&rng);
  for (int64_t i = 0; i < B; i++) label[i] = (float)(rk_rng_u32(&rng) & 1);
}

/* plain SGD on every parameter the graph uses (dense and row-sparse) */
static void sgd(rk_graph *g, float lr) {
  for (int i = 0; i < rk_graph_param_count(g); i++) {
    rk_param *p = rk_graph_param_at(g, i);
    float *w = p->value.data, *gr = p->grad.data;
    if (p->sparse) {
      int64_t D = p->value.shape[1];
      for (int64_t k = 0; k < p->n_grad_rows; k++)
        for (int64_t d = 0; d < D; d++) w[p->grad_rows[k] * D + d] -= lr * gr[k * D + d];
    } else {
      for (int64_t k = 0; k < rk_tensor_numel(&p->value); k++) w[k] -= lr * gr[k];
    }
  }
}

static void train_steps(model *m, int steps, float *losses) {
  for (int s = 0; s < steps; s++) {
    model_fill(m, 100 + (uint64_t)s);
    rk_graph_zero_grad(m->g);
    assert_rk_ok(rk_graph_forward(m->g, RK_TRAIN));
    losses[s] = rk_graph_value_f32(m->g, m->loss)[0];
    assert_rk_ok(rk_graph_backward(m->g));
    sgd(m->g, 0.1f);
  }
}

static void test_deterministic_across_threads(void **state) {
  (void)state;
  const int64_t B = rk_test_sanitized() ? 64 : 512;
  model a, b;
  float la[6], lb[6];
  rk_set_num_threads(1);
  assert_rk_ok(model_build(&a, B));
  train_steps(&a, 6, la);
  rk_set_num_threads(2);
  assert_rk_ok(model_build(&b, B));
  train_steps(&b, 6, lb);
  rk_set_num_threads(0);
  assert_memory_equal(la, lb, sizeof la);
  assert_true(la[5] < la[0] + 0.5f);   /* it trains, not just runs */
  assert_memory_equal(a.w1.value.data, b.w1.value.data, rk_tensor_nbytes(&a.w1.value));
  assert_memory_equal(a.w1.grad.data, b.w1.grad.data, rk_tensor_nbytes(&a.w1.grad));
  for (int t = 0; t < NT; t++) {
    assert_memory_equal(a.tables[t].value.data, b.tables[t].value.data, rk_tensor_nbytes(&a.tables[t].value));
    assert_int_equal(a.tables[t].n_grad_rows, b.tables[t].n_grad_rows);
  }
  model_free(&a);
  model_free(&b);
}

static void test_build_failure_injection(void **state) {
  (void)state;
  int64_t live0 = rk_alloc_live_bytes();
  int fired = 0;
  for (int64_t n = 0; n < 10000; n++) {
    model m;
    rk_alloc_fail_after(n);
    rk_status s = model_build(&m, 16);
    bool hit = rk_alloc_fail_fired();
    rk_alloc_fail_after(-1);
    if (s == RK_OK) {
      assert_false(hit);
      model_fill(&m, 1);
      assert_rk_ok(rk_graph_forward(m.g, RK_TRAIN));
      assert_rk_ok(rk_graph_backward(m.g));
      model_free(&m);
      break;
    }
    assert_int_equal(s, RK_ENOMEM);
    fired++;
    model_free(&m);
    assert_int_equal(rk_alloc_live_bytes(), live0);
  }
  assert_true(fired > 20);
  assert_int_equal(rk_alloc_live_bytes(), live0);
}

static void test_shape_errors_at_build(void **state) {
  (void)state;
  rk_graph *g;
  rk_param w, t;
  int64_t ws[2] = {3, 5}, four[1] = {4};
  assert_rk_ok(rk_param_init(&w, "fc1.weight", 2, ws));
  assert_rk_ok(rk_param_init_sparse(&t, "user", 10, 4));
  assert_rk_ok(rk_graph_create(&g, 8));
  int x, out, ids, e;
  assert_rk_ok(rk_graph_input(g, &x, "x", 1, four));
  assert_int_equal(rk_graph_linear(g, &out, x, &w, NULL, RK_ACT_NONE), RK_ESHAPE);
  assert_non_null(strstr(rk_error_message(), "linear"));
  assert_non_null(strstr(rk_error_message(), "(8, 4)"));
  assert_non_null(strstr(rk_error_message(), "fc1.weight"));
  assert_int_equal(rk_graph_add(g, &out, x, x), RK_OK);
  int64_t three[1] = {3};
  int y;
  assert_rk_ok(rk_graph_input(g, &y, "y", 1, three));
  assert_int_equal(rk_graph_mul(g, &out, x, y), RK_ESHAPE);
  assert_non_null(strstr(rk_error_message(), "mul: shapes (8, 4) and (8, 3)"));
  assert_int_equal(rk_graph_concat(g, &out, 2, (int[]){x, y}, 0), RK_ESHAPE);
  assert_rk_ok(rk_graph_input_ids(g, &ids, "ids", 2));
  assert_rk_ok(rk_graph_embedding(g, &e, &t, ids, 0));
  assert_int_equal(rk_graph_dot_interaction(g, &out, y, e), RK_ESHAPE);
  assert_non_null(strstr(rk_error_message(), "dot_interaction"));
  assert_int_equal(rk_graph_embedding(g, &out, NULL, ids, 0), RK_EINVAL);   /* no table */
  assert_rk_ok(rk_graph_embedding(g, &out, &w, ids, 0));   /* a dense (V, D) table: tied to an output layer */
  assert_int_equal(rk_graph_build(g, x), RK_ESHAPE);                      /* loss must be a scalar */
  assert_non_null(strstr(rk_error_message(), "scalar"));
  rk_graph_free(g);
  rk_param_free(&w);
  rk_param_free(&t);
}

static void test_memory_plan_and_modes(void **state) {
  (void)state;
  model m;
  assert_rk_ok(model_build(&m, 256));
  /* planned reuse beats one buffer per tensor */
  assert_true(rk_graph_arena_bytes(m.g) < rk_graph_unplanned_bytes(m.g));
  model_fill(&m, 5);
  rk_graph_zero_grad(m.g);
  /* eval: no dropout, deterministic, no gradient touched */
  assert_rk_ok(rk_graph_forward(m.g, RK_EVAL));
  int64_t B = 256;
  float *e1 = malloc((size_t)B * sizeof(float));
  memcpy(e1, rk_graph_value_f32(m.g, m.logit), (size_t)B * sizeof(float));
  assert_int_equal(rk_graph_backward(m.g), RK_EUSAGE);   /* eval forward: no backward */
  float *gw = m.w1.grad.data;
  for (int64_t i = 0; i < rk_tensor_numel(&m.w1.grad); i++) assert_true(gw[i] == 0.0f);
  assert_rk_ok(rk_graph_forward(m.g, RK_TRAIN));   /* train: dropout changes the logits */
  assert_memory_not_equal(e1, rk_graph_value_f32(m.g, m.logit), (size_t)B * sizeof(float));
  assert_rk_ok(rk_graph_backward(m.g));
  assert_rk_ok(rk_graph_forward(m.g, RK_EVAL));    /* eval again: the same as before */
  assert_memory_equal(e1, rk_graph_value_f32(m.g, m.logit), (size_t)B * sizeof(float));
  free(e1);
  /* sparse gradients: unique, ascending rows, padding row 0 never present */
  for (int t = 0; t < NT; t++) {
    rk_param *p = &m.tables[t];
    assert_true(p->n_grad_rows > 0);
    for (int64_t k = 0; k < p->n_grad_rows; k++) {
      assert_true(p->grad_rows[k] > 0);
      if (k) assert_true(p->grad_rows[k] > p->grad_rows[k - 1]);
    }
  }
  /* a second backward without zero_grad is refused for sparse grads */
  assert_rk_ok(rk_graph_forward(m.g, RK_TRAIN));
  assert_int_equal(rk_graph_backward(m.g), RK_EUSAGE);
  assert_non_null(strstr(rk_error_message(), "zero_grad"));
  /* out-of-range ids fail the forward, naming the op */
  rk_graph_input_ids_data(m.g, m.ids)[3] = 1000;
  assert_int_equal(rk_graph_forward(m.g, RK_EVAL), RK_ERANGE);
  assert_non_null(strstr(rk_error_message(), "embedding"));
  model_free(&m);
}

static void test_unused_branch_and_fanout(void **state) {
  (void)state;
  rk_graph *g;
  rk_param w, v, u;
  int64_t ws[2] = {2, 3};
  assert_rk_ok(rk_param_init(&w, "w", 2, ws));
  assert_rk_ok(rk_param_init(&v, "v", 2, ws));
  assert_rk_ok(rk_param_init(&u, "u", 2, ws));
  rk_param_fill_normal(&w, 1, 0, 1.0f);
  rk_param_fill_normal(&v, 1, 1, 1.0f);
  rk_param_fill_normal(&u, 1, 2, 1.0f);
  assert_rk_ok(rk_graph_create(&g, 4));
  int64_t three[1] = {3};
  int x, a, b, c, s, loss, unused;
  assert_rk_ok(rk_graph_input(g, &x, "x", 1, three));
  assert_rk_ok(rk_graph_linear(g, &a, x, &w, NULL, RK_ACT_NONE));   /* x read by two "experts" */
  assert_rk_ok(rk_graph_linear(g, &b, x, &w, NULL, RK_ACT_NONE));   /* and w shared by both */
  assert_rk_ok(rk_graph_linear(g, &unused, x, &v, NULL, RK_ACT_NONE));
  assert_rk_ok(rk_graph_linear(g, &c, x, &u, NULL, RK_ACT_NONE));
  (void)c;
  assert_rk_ok(rk_graph_add(g, &s, a, b));
  assert_rk_ok(rk_graph_sum(g, &loss, s, RK_REDUCE_ALL));
  assert_rk_ok(rk_graph_build(g, loss));
  float *xd = rk_graph_input_f32(g, x);
  for (int i = 0; i < 12; i++) xd[i] = (float)(i % 5) - 2.0f;
  rk_graph_zero_grad(g);
  memset(v.grad.data, 0x7f, rk_tensor_nbytes(&v.grad));   /* zero_grad must clear these */
  rk_graph_zero_grad(g);
  assert_rk_ok(rk_graph_forward(g, RK_TRAIN));
  assert_rk_ok(rk_graph_backward(g));
  /* d/dw of sum(2 x w^T) = 2 * column sums of x, for each row of w */
  float colsum[3] = {0, 0, 0};
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 3; j++) colsum[j] += xd[i * 3 + j];
  for (int o = 0; o < 2; o++)
    for (int j = 0; j < 3; j++) assert_float_equal(((float *)w.grad.data)[o * 3 + j], 2.0f * colsum[j], 1e-5);
  for (int i = 0; i < 6; i++) {
    assert_true(((float *)v.grad.data)[i] == 0.0f);
    assert_true(((float *)u.grad.data)[i] == 0.0f);
  }
  /* dense grads accumulate until zero_grad */
  assert_rk_ok(rk_graph_forward(g, RK_TRAIN));
  assert_rk_ok(rk_graph_backward(g));
  assert_float_equal(((float *)w.grad.data)[0], 4.0f * colsum[0], 1e-5);
  rk_graph_free(g);
  rk_param_free(&w);
  rk_param_free(&v);
  rk_param_free(&u);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_deterministic_across_threads),
      cmocka_unit_test(test_build_failure_injection),
      cmocka_unit_test(test_shape_errors_at_build),
      cmocka_unit_test(test_memory_plan_and_modes),
      cmocka_unit_test(test_unused_branch_and_fanout),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
