/*
 * rk_param.lazy_rows: a dense table (the session models' item table and output bias) stepped
 * the lazy way. Its touched rows, those with a non-zero gradient value, end bit-identical (values
 * and slots) to a sparse table given the same rows, which test_optim_rules checks against the
 * dense rule row by row; untouched rows keep their bits, for every optimizer and under
 * sparse_as_dense (which reckon sessions sets); a 1-D parameter's rows are its elements; and the
 * bits do not depend on the thread count.
 */
#include "support.h"

#include <stdlib.h>
#include <string.h>

#include "reckon/optim.h"

static void alloc_param(rk_param *p, const char *name, int ndim, const int64_t *shape, const int64_t *grad_shape) {
  memset(p, 0, sizeof *p);
  snprintf(p->name, sizeof p->name, "%s", name);
  assert_rk_ok(rk_tensor_alloc(&p->value, RK_DT_F32, ndim, shape));
  assert_rk_ok(rk_tensor_alloc(&p->grad, RK_DT_F32, ndim, grad_shape));
}

static void free_param(rk_param *p) {
  rk_tensor_free(&p->value);
  rk_tensor_free(&p->grad);
  free(p->grad_rows);
}

static float *val(rk_param *p) { return p->value.data; }
static float *grd(rk_param *p) { return p->grad.data; }

/* A reproducible float in [-1, 1) for element i of draw k. */
static float wiggle(uint64_t k, uint64_t i) { return (float)(2.0 * rk_rng_uniform_at(91, k, i) - 1.0); }

static rk_optim_config config_for(rk_optim_kind kind, bool sparse_as_dense) {
  rk_optim_config cfg;
  rk_optim_config_default(&cfg, kind, 0.1f);
  if (kind == RK_OPTIM_SGD) cfg.momentum = 0.9f;
  if (kind == RK_OPTIM_FTRL || kind == RK_OPTIM_PROXIMAL_ADAGRAD) cfg.groups[0].l1 = 0.01f, cfg.groups[0].l2 = 0.1f;
  if (kind == RK_OPTIM_ADAM || kind == RK_OPTIM_ADAMW || kind == RK_OPTIM_SGD) cfg.groups[0].weight_decay = 0.01f;
  cfg.sparse_as_dense = sparse_as_dense;
  return cfg;
}

/* The lazy dense table (V, D) or (V) and a sparse (V, D) twin, stepped on the same rows: step s
 * touches rows[s] (ascending, -1 ends); a touched row's gradient may hold zeros, never only zeros. */
static void check_twins(rk_optim_kind kind, bool sparse_as_dense, int ndim) {
  enum { V = 7, D = 3, STEPS = 4 };
  const int64_t d = ndim == 2 ? D : 1;
  const int64_t rows[STEPS][4] = {{1, 4, -1}, {4, -1}, {0, 1, 6, -1}, {-1}};
  int64_t shape[2] = {V, d}, sparse_grad[2] = {V, d};
  rk_param lazy, twin;
  alloc_param(&lazy, "lazy", ndim, shape, shape);
  alloc_param(&twin, "twin", 2, shape, sparse_grad);
  lazy.lazy_rows = true;
  twin.sparse = true;
  twin.grad_rows = calloc(V, sizeof *twin.grad_rows);
  assert_non_null(twin.grad_rows);
  for (int64_t i = 0; i < V * d; i++) val(&lazy)[i] = val(&twin)[i] = wiggle(1, (uint64_t)i);
  float before[V * D];
  memcpy(before, val(&lazy), (size_t)(V * d) * sizeof(float));
  rk_optim_config cfg = config_for(kind, sparse_as_dense);
  rk_param *lp = &lazy, *tp = &twin;
  rk_optim ol, ot;
  assert_rk_ok(rk_optim_init(&ol, &cfg, &lp, 1));
  cfg.sparse_as_dense = false;   /* the twin is lazy in any case */
  assert_rk_ok(rk_optim_init(&ot, &cfg, &tp, 1));
  bool touched[V] = {false};
  for (int s = 0; s < STEPS; s++) {
    memset(grd(&lazy), 0, (size_t)(V * d) * sizeof(float));
    twin.n_grad_rows = 0;
    for (int k = 0; rows[s][k] >= 0; k++) {
      int64_t r = rows[s][k];
      float *g = grd(&twin) + twin.n_grad_rows * d;
      for (int64_t j = 0; j < d; j++) g[j] = j == 1 ? 0.0f : wiggle(10 + (uint64_t)s, (uint64_t)(r * d + j));
      memcpy(grd(&lazy) + r * d, g, (size_t)d * sizeof(float));
      twin.grad_rows[twin.n_grad_rows++] = r;
      touched[r] = true;
    }
    assert_rk_ok(rk_optim_step(&ol, 1.0));
    assert_rk_ok(rk_optim_step(&ot, 1.0));
  }
  const char *name = rk_optim_kind_name(kind);
  if (memcmp(val(&lazy), val(&twin), (size_t)(V * d) * sizeof(float)) != 0)
    fail_msg("%s (%dD, sparse_as_dense %d): the lazy dense table differs from its sparse twin", name, ndim,
             sparse_as_dense);
  for (int s = 0; s < ol.n_slots; s++)
    if (memcmp(rk_optim_slot(&ol, 0, s), rk_optim_slot(&ot, 0, s), (size_t)(V * d) * sizeof(float)) != 0)
      fail_msg("%s (%dD): slot %d differs from the sparse twin's", name, ndim, s);
  for (int r = 0; r < V; r++) {
    bool same = memcmp(val(&lazy) + r * d, before + r * d, (size_t)d * sizeof(float)) == 0;
    if (!touched[r] && !same) fail_msg("%s (%dD): untouched row %d moved", name, ndim, r);
    if (touched[r] && same) fail_msg("%s (%dD): touched row %d did not move", name, ndim, r);
  }
  rk_optim_free(&ol);
  rk_optim_free(&ot);
  free_param(&lazy);
  free_param(&twin);
}

static void test_lazy_dense_table_equals_sparse_twin(void **state) {
  (void)state;
  for (int kind = 0; kind < RK_OPTIM_COUNT; kind++)
    for (int as_dense = 0; as_dense <= 1; as_dense++)
      for (int ndim = 1; ndim <= 2; ndim++) check_twins((rk_optim_kind)kind, as_dense, ndim);
}

/* Hugging Face's AdamW, as reckon sessions runs it: a lazy table's untouched row keeps its
 * value, where the same table without the mark keeps moving it on its momentum. */
static void test_lazy_rows_stop_momentum(void **state) {
  (void)state;
  for (int lazy_rows = 0; lazy_rows <= 1; lazy_rows++) {
    int64_t shape[2] = {2, 2};
    rk_param t;
    alloc_param(&t, "items", 2, shape, shape);
    t.lazy_rows = lazy_rows;
    rk_optim_config cfg;
    rk_optim_config_hf_adamw(&cfg, 0.01f, 0.0f, 0.9f, 0.999f, 1e-8f);
    cfg.sparse_as_dense = true;
    rk_param *tp = &t;
    rk_optim opt;
    assert_rk_ok(rk_optim_init(&opt, &cfg, &tp, 1));
    float *w = t.value.data, *g = t.grad.data;
    g[0] = g[1] = 0.5f;   /* step 1: row 0 */
    assert_rk_ok(rk_optim_step(&opt, 1.0));
    const float after_first[2] = {w[0], w[1]};
    memset(g, 0, 4 * sizeof(float));
    g[2] = 0.5f;   /* step 2: row 1 only */
    assert_rk_ok(rk_optim_step(&opt, 1.0));
    bool still = memcmp(after_first, w, sizeof after_first) == 0;
    if (lazy_rows != still) fail_msg("lazy_rows %d: row 0 %s after a step without it", lazy_rows, still ? "kept" : "moved");
    rk_optim_free(&opt);
    free_param(&t);
  }
}

/* A table large enough to be split among threads: the same bits for 1 and 4. */
static void run_threads(int threads, float *out) {
  enum { V = 40000, D = 8 };
  rk_set_num_threads(threads);
  int64_t shape[2] = {V, D};
  rk_param t;
  alloc_param(&t, "items", 2, shape, shape);
  t.lazy_rows = true;
  for (int64_t i = 0; i < V * D; i++) val(&t)[i] = wiggle(2, (uint64_t)i);
  rk_optim_config cfg = config_for(RK_OPTIM_ADAMW, true);
  rk_param *tp = &t;
  rk_optim opt;
  assert_rk_ok(rk_optim_init(&opt, &cfg, &tp, 1));
  for (int s = 0; s < 3; s++) {
    memset(grd(&t), 0, (size_t)(V * D) * sizeof(float));
    for (int64_t r = s; r < V; r += 3 + s)
      for (int64_t j = 0; j < D; j++) grd(&t)[r * D + j] = wiggle(20 + (uint64_t)s, (uint64_t)(r * D + j));
    assert_rk_ok(rk_optim_step(&opt, 1.0));
  }
  memcpy(out, val(&t), (size_t)(V * D) * sizeof(float));
  rk_optim_free(&opt);
  free_param(&t);
  rk_set_num_threads(0);
}

static void test_same_bits_for_any_thread_count(void **state) {
  (void)state;
  float *a = malloc(40000 * 8 * sizeof(float)), *b = malloc(40000 * 8 * sizeof(float));
  assert_true(a && b);
  run_threads(1, a);
  run_threads(4, b);
  assert_memory_equal(a, b, 40000 * 8 * sizeof(float));
  free(a), free(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_lazy_dense_table_equals_sparse_twin),
      cmocka_unit_test(test_lazy_rows_stop_momentum),
      cmocka_unit_test(test_same_bits_for_any_thread_count),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
