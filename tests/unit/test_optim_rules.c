/*
 * The optimizer frame's promises, beyond the reference trajectories: lazy sparse updates move
 * only the listed rows and equal the dense rule on those rows; sparse_as_dense equals the dense
 * rule on a densified gradient; parameter groups and the schedule factor set each group's rate;
 * Keras' first Adam and Adagrad steps; bad configurations and bad sparse gradients are refused
 * with nothing moved; registration fails cleanly at every allocation; a step allocates nothing
 * and gives the same bits for 1 or 4 threads; clipping by global norm; the schedules' formulas.
 */
#include "support.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "reckon/optim.h"

/* ---------------------------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------------------------- */
static void dense_param(rk_param *p, const char *name, int ndim, const int64_t *shape, int group) {
  memset(p, 0, sizeof *p);
  snprintf(p->name, sizeof p->name, "%s", name);
  assert_rk_ok(rk_tensor_alloc(&p->value, RK_DT_F32, ndim, shape));
  assert_rk_ok(rk_tensor_alloc(&p->grad, RK_DT_F32, ndim, shape));
  p->group = group;
}

static void sparse_param(rk_param *p, const char *name, int64_t V, int64_t D, int64_t max_rows) {
  memset(p, 0, sizeof *p);
  snprintf(p->name, sizeof p->name, "%s", name);
  int64_t shape[2] = {V, D}, gshape[2] = {max_rows, D};
  assert_rk_ok(rk_tensor_alloc(&p->value, RK_DT_F32, 2, shape));
  assert_rk_ok(rk_tensor_alloc(&p->grad, RK_DT_F32, 2, gshape));
  p->sparse = true;
  p->grad_rows = rk_calloc((size_t)max_rows, sizeof *p->grad_rows);
  assert_non_null(p->grad_rows);
}

static void param_free(rk_param *p) {
  rk_tensor_free(&p->value);
  rk_tensor_free(&p->grad);
  rk_free(p->grad_rows);
}

static float *val(rk_param *p) { return p->value.data; }
static float *grd(rk_param *p) { return p->grad.data; }

/* A reproducible pseudo-random float in [-1, 1) for element i of draw k. */
static float wiggle(uint64_t k, uint64_t i) { return (float)(2.0 * rk_rng_uniform_at(77, k, i) - 1.0); }

static void fill(float *x, int64_t n, uint64_t k) {
  for (int64_t i = 0; i < n; i++) x[i] = wiggle(k, (uint64_t)i);
}

/* Set a sparse gradient from a list of rows (ascending) with wiggle values. */
static void set_rows(rk_param *p, const int64_t *rows, int64_t n, uint64_t k) {
  int64_t D = p->value.shape[1];
  for (int64_t r = 0; r < n; r++) p->grad_rows[r] = rows[r];
  p->n_grad_rows = n;
  fill(grd(p), n * D, k);
}

/* The same gradient as a dense (V, D) one. */
static void densify(rk_param *dense, const rk_param *sparse) {
  int64_t D = sparse->value.shape[1];
  memset(grd(dense), 0, rk_tensor_nbytes(&dense->grad));
  for (int64_t r = 0; r < sparse->n_grad_rows; r++)
    memcpy(grd(dense) + sparse->grad_rows[r] * D, (const float *)sparse->grad.data + r * D, (size_t)D * sizeof(float));
}

static rk_optim_config config_for(rk_optim_kind kind) {
  rk_optim_config cfg;
  rk_optim_config_default(&cfg, kind, 0.1f);
  if (kind == RK_OPTIM_SGD) cfg.momentum = 0.9f;
  if (kind == RK_OPTIM_FTRL || kind == RK_OPTIM_PROXIMAL_ADAGRAD) cfg.groups[0].l1 = 0.01f, cfg.groups[0].l2 = 0.1f;
  if (kind == RK_OPTIM_FTRL) cfg.groups[0].l2_shrinkage = 0.05f;
  if (kind == RK_OPTIM_ADAM || kind == RK_OPTIM_SGD || kind == RK_OPTIM_ADAGRAD) cfg.groups[0].weight_decay = 0.01f;
  return cfg;
}

/* ---------------------------------------------------------------------------------------------
 * Sparse semantics, for every optimizer
 * ------------------------------------------------------------------------------------------- */
static void test_lazy_moves_only_listed_rows_like_dense(void **state) {
  (void)state;
  const int64_t V = 6, D = 3;
  const int64_t steps[3][3] = {{1, 3, -1}, {3, -1, -1}, {0, 3, 5}};
  const int64_t counts[3] = {2, 1, 3};
  for (int kind = 0; kind < RK_OPTIM_COUNT; kind++) {
    rk_optim_config cfg = config_for((rk_optim_kind)kind);
    /* the lazy table, and one dense (D,) parameter per row fed only when the row has a gradient */
    rk_param table, rows[6];
    rk_param *row_ptr[6];
    sparse_param(&table, "table", V, D, V);
    fill(val(&table), V * D, 1);
    int64_t row_shape[1] = {D};
    rk_optim row_opt[6];
    for (int r = 0; r < V; r++) {
      dense_param(&rows[r], "row", 1, row_shape, 0);
      memcpy(val(&rows[r]), val(&table) + r * D, (size_t)D * sizeof(float));
      row_ptr[r] = &rows[r];
      assert_rk_ok(rk_optim_init(&row_opt[r], &cfg, &row_ptr[r], 1));
    }
    rk_param *tp = &table;
    rk_optim opt;
    assert_rk_ok(rk_optim_init(&opt, &cfg, &tp, 1));
    float before[18];
    memcpy(before, val(&table), sizeof before);
    for (int s = 0; s < 3; s++) {
      set_rows(&table, steps[s], counts[s], 10 + (uint64_t)s);
      for (int64_t k = 0; k < counts[s]; k++) {
        int64_t r = steps[s][k];
        memcpy(grd(&rows[r]), grd(&table) + k * D, (size_t)D * sizeof(float));
        /* a row's own optimizer must use the table's step count t for Adam */
        row_opt[r].step = opt.step;
        assert_rk_ok(rk_optim_step(&row_opt[r], 1.0));
      }
      assert_rk_ok(rk_optim_step(&opt, 1.0));
    }
    for (int r = 0; r < V; r++) {
      if (memcmp(val(&table) + r * D, val(&rows[r]), (size_t)D * sizeof(float)) != 0)
        fail_msg("%s: lazy row %d differs from the dense rule on that row", rk_optim_kind_name((rk_optim_kind)kind), r);
    }
    /* rows 2 and 4 never had a gradient */
    assert_memory_equal(val(&table) + 2 * D, before + 2 * D, (size_t)D * sizeof(float));
    assert_memory_equal(val(&table) + 4 * D, before + 4 * D, (size_t)D * sizeof(float));
    rk_optim_free(&opt);
    for (int r = 0; r < V; r++) {
      rk_optim_free(&row_opt[r]);
      param_free(&rows[r]);
    }
    param_free(&table);
  }
}

static void test_sparse_as_dense_equals_dense(void **state) {
  (void)state;
  const int64_t V = 7, D = 5;
  for (int kind = 0; kind < RK_OPTIM_COUNT; kind++) {
    rk_optim_config cfg = config_for((rk_optim_kind)kind);
    cfg.sparse_as_dense = true;
    rk_param table, dense;
    sparse_param(&table, "table", V, D, 3);
    int64_t shape[2] = {V, D};
    dense_param(&dense, "dense", 2, shape, 0);
    fill(val(&table), V * D, 2);
    memcpy(val(&dense), val(&table), (size_t)(V * D) * sizeof(float));
    rk_param *tp = &table, *dp = &dense;
    rk_optim ot, od;
    assert_rk_ok(rk_optim_init(&ot, &cfg, &tp, 1));
    assert_rk_ok(rk_optim_init(&od, &cfg, &dp, 1));
    const int64_t rows[4][3] = {{0, 2, 6}, {4, -1, -1}, {0, 0, 0}, {1, 2, 3}};
    const int64_t counts[4] = {3, 1, 0, 3};
    for (int s = 0; s < 4; s++) {
      set_rows(&table, rows[s], counts[s], 20 + (uint64_t)s);
      densify(&dense, &table);
      assert_rk_ok(rk_optim_step(&ot, 1.0));
      assert_rk_ok(rk_optim_step(&od, 1.0));
    }
    if (memcmp(val(&table), val(&dense), (size_t)(V * D) * sizeof(float)) != 0)
      fail_msg("%s: sparse_as_dense differs from the dense update", rk_optim_kind_name((rk_optim_kind)kind));
    for (int s = 0; s < ot.n_slots; s++) assert_memory_equal(rk_optim_slot(&ot, 0, s), rk_optim_slot(&od, 0, s), (size_t)(V * D) * sizeof(float));
    rk_optim_free(&ot);
    rk_optim_free(&od);
    param_free(&table);
    param_free(&dense);
  }
}

/* Lazy Adam keeps an untouched row still; Keras' dense Adam keeps moving it on momentum. */
static void test_lazy_and_dense_adam_differ_as_documented(void **state) {
  (void)state;
  for (int dense_mode = 0; dense_mode <= 1; dense_mode++) {
    rk_optim_config cfg;
    rk_optim_config_default(&cfg, RK_OPTIM_ADAM, 0.01f);
    cfg.sparse_as_dense = dense_mode;
    rk_param t;
    sparse_param(&t, "t", 2, 1, 1);
    rk_param *tp = &t;
    rk_optim opt;
    assert_rk_ok(rk_optim_init(&opt, &cfg, &tp, 1));
    set_rows(&t, (int64_t[]){0}, 1, 3);
    assert_rk_ok(rk_optim_step(&opt, 1.0));
    float after_first = val(&t)[0];
    set_rows(&t, (int64_t[]){1}, 1, 4);
    assert_rk_ok(rk_optim_step(&opt, 1.0));
    if (dense_mode) assert_true(val(&t)[0] != after_first);
    else assert_true(val(&t)[0] == after_first);
    rk_optim_free(&opt);
    param_free(&t);
  }
}

/* ---------------------------------------------------------------------------------------------
 * Groups, factor, Keras' first steps
 * ------------------------------------------------------------------------------------------- */
static void test_groups_and_lr_factor(void **state) {
  (void)state;
  rk_optim_config cfg;
  rk_optim_config_default(&cfg, RK_OPTIM_SGD, 0.1f);
  cfg.n_groups = 2;
  cfg.groups[1].lr = 0.01f;
  cfg.groups[1].weight_decay = 0.5f;
  int64_t shape[1] = {1};
  rk_param a, b;
  dense_param(&a, "a", 1, shape, 0);
  dense_param(&b, "b", 1, shape, 1);
  val(&a)[0] = 1.0f, val(&b)[0] = 1.0f;
  grd(&a)[0] = 2.0f, grd(&b)[0] = 2.0f;
  rk_param *ps[2] = {&a, &b};
  rk_optim opt;
  assert_rk_ok(rk_optim_init(&opt, &cfg, ps, 2));
  assert_int_equal(opt.n_slots, 0);   /* plain SGD keeps no state */
  assert_rk_ok(rk_optim_step(&opt, 0.5));
  assert_float_equal(val(&a)[0], 1.0f - 0.05f * 2.0f, 1e-7);
  assert_float_equal(val(&b)[0], 1.0f - 0.005f * (2.0f + 0.5f * 1.0f), 1e-7);
  rk_optim_free(&opt);
  b.group = 2;
  assert_int_equal(rk_optim_init(&opt, &cfg, ps, 2), RK_EINVAL);
  assert_non_null(strstr(rk_error_message(), "'b' is in group 2"));
  param_free(&a);
  param_free(&b);
}

/* Keras Adam (eps 1e-7, hat form) and Keras Adagrad (accumulator 0.1, eps 1e-7), one step. */
static void test_keras_first_steps(void **state) {
  (void)state;
  int64_t shape[1] = {3};
  const float g[3] = {0.5f, -2.0f, 1e-4f};
  for (int k = 0; k < 2; k++) {
    rk_optim_kind kind = k == 0 ? RK_OPTIM_ADAM : RK_OPTIM_ADAGRAD;
    rk_optim_config cfg;
    rk_optim_config_default(&cfg, kind, 0.01f);
    rk_param p;
    dense_param(&p, "p", 1, shape, 0);
    memcpy(grd(&p), g, sizeof g);
    rk_param *pp = &p;
    rk_optim opt;
    assert_rk_ok(rk_optim_init(&opt, &cfg, &pp, 1));
    assert_rk_ok(rk_optim_step(&opt, 1.0));
    for (int i = 0; i < 3; i++) {
      double want;
      if (kind == RK_OPTIM_ADAM) {
        double m = 0.1 * g[i], v = 0.001 * (double)g[i] * g[i];
        want = -0.01 * sqrt(1 - 0.999) / (1 - 0.9) * m / (sqrt(v) + 1e-7);
      } else {
        want = -0.01 * g[i] / (sqrt(0.1 + (double)g[i] * g[i]) + 1e-7);
      }
      if (fabs(val(&p)[i] - want) > 1e-6 * fabs(want) + 1e-9)
        fail_msg("%s: value %d is %.9g, Keras' rule gives %.9g", rk_optim_kind_name(kind), i, val(&p)[i], want);
    }
    rk_optim_free(&opt);
    param_free(&p);
  }
}

/* ---------------------------------------------------------------------------------------------
 * Refusals
 * ------------------------------------------------------------------------------------------- */
static void expect_refused(const rk_optim_config *cfg, rk_param **ps, int n, rk_status want, const char *words) {
  rk_optim opt;
  rk_status s = rk_optim_init(&opt, cfg, ps, n);
  if (s != want) fail_msg("expected %s, got %s: %s", rk_status_name(want), rk_status_name(s), rk_error_message());
  if (strstr(rk_error_message(), words) == NULL) fail_msg("message '%s' lacks '%s'", rk_error_message(), words);
  assert_null(opt.entries);
  assert_null(opt.state);
}

static void test_bad_configurations(void **state) {
  (void)state;
  int64_t shape[1] = {4};
  rk_param p;
  dense_param(&p, "w", 1, shape, 0);
  rk_param *pp = &p;
  rk_optim_config cfg;

  rk_optim_config_default(&cfg, RK_OPTIM_FTRL, 0.1f);
  cfg.groups[0].weight_decay = 0.1f;
  expect_refused(&cfg, &pp, 1, RK_EINVAL, "not used by ftrl");
  rk_optim_config_default(&cfg, RK_OPTIM_ADAM, 0.1f);
  cfg.groups[0].l1 = 0.1f;
  expect_refused(&cfg, &pp, 1, RK_EINVAL, "not used by adam");
  rk_optim_config_default(&cfg, RK_OPTIM_ADAGRAD, 0.1f);
  cfg.groups[0].l2_shrinkage = 0.1f;
  expect_refused(&cfg, &pp, 1, RK_EINVAL, "only by ftrl");
  rk_optim_config_default(&cfg, RK_OPTIM_SGD, 0.1f);
  cfg.nesterov = true;
  expect_refused(&cfg, &pp, 1, RK_EINVAL, "nesterov");
  rk_optim_config_default(&cfg, RK_OPTIM_ADAM, 0.1f);
  cfg.beta2 = 1.0f;
  expect_refused(&cfg, &pp, 1, RK_EINVAL, "betas");
  rk_optim_config_default(&cfg, RK_OPTIM_ADAM, -0.1f);
  expect_refused(&cfg, &pp, 1, RK_EINVAL, "learning rate");
  rk_optim_config_default(&cfg, RK_OPTIM_ADAM, NAN);
  expect_refused(&cfg, &pp, 1, RK_EINVAL, "learning rate");
  rk_optim_config_default(&cfg, RK_OPTIM_ADAGRAD, 0.1f);
  cfg.eps = 0.0f, cfg.initial_accumulator = 0.0f;
  expect_refused(&cfg, &pp, 1, RK_EINVAL, "adagrad needs");
  rk_optim_config_default(&cfg, RK_OPTIM_PROXIMAL_ADAGRAD, 0.1f);
  cfg.initial_accumulator = 0.0f;
  expect_refused(&cfg, &pp, 1, RK_EINVAL, "initial accumulator");
  rk_optim_config_default(&cfg, RK_OPTIM_FTRL, 0.1f);
  cfg.lr_power = 0.5f;
  expect_refused(&cfg, &pp, 1, RK_EINVAL, "power");
  rk_optim_config_default(&cfg, RK_OPTIM_FTRL, 0.0f);
  expect_refused(&cfg, &pp, 1, RK_EINVAL, "divides by the learning rate");
  rk_optim_config_default(&cfg, RK_OPTIM_ADAM, 0.1f);
  cfg.n_groups = 0;
  expect_refused(&cfg, &pp, 1, RK_EINVAL, "groups");

  /* shapes and types */
  rk_optim_config_default(&cfg, RK_OPTIM_ADAM, 0.1f);
  rk_tensor_free(&p.grad);
  int64_t other[1] = {5};
  assert_rk_ok(rk_tensor_alloc(&p.grad, RK_DT_F32, 1, other));
  expect_refused(&cfg, &pp, 1, RK_ESHAPE, "'w': gradient f32[5] does not match value f32[4]");
  rk_tensor_free(&p.grad);
  assert_rk_ok(rk_tensor_alloc(&p.grad, RK_DT_F16, 1, shape));
  expect_refused(&cfg, &pp, 1, RK_EUNSUPPORTED, "f32 CPU");
  rk_param t;
  sparse_param(&t, "emb", 4, 3, 2);
  rk_param *tp = &t;
  rk_tensor_free(&t.grad);
  int64_t gshape[2] = {2, 2};
  assert_rk_ok(rk_tensor_alloc(&t.grad, RK_DT_F32, 2, gshape));
  expect_refused(&cfg, &tp, 1, RK_ESHAPE, "sparse parameter 'emb'");
  param_free(&t);
  param_free(&p);
}

static void test_bad_sparse_gradient_moves_nothing(void **state) {
  (void)state;
  int64_t shape[1] = {2};
  rk_param d, t;
  dense_param(&d, "d", 1, shape, 0);
  sparse_param(&t, "emb", 5, 2, 3);
  fill(grd(&d), 2, 5);
  rk_param *ps[2] = {&d, &t};
  rk_optim_config cfg;
  rk_optim_config_default(&cfg, RK_OPTIM_ADAM, 0.1f);
  rk_optim opt;
  assert_rk_ok(rk_optim_init(&opt, &cfg, ps, 2));
  struct {
    int64_t rows[3];
    int64_t n;
    const char *words;
  } bad[] = {
      {{0, 5, 0}, 2, "row 5 is outside the table of 5 rows"},
      {{-1, 0, 0}, 1, "row -1 is outside"},
      {{2, 1, 0}, 2, "not unique and ascending at compact row 1 (1 after 2)"},
      {{2, 2, 0}, 2, "not unique and ascending"},
      {{0, 1, 2}, 4, "4 gradient rows, room for 3"},
  };
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    for (int r = 0; r < 3; r++) t.grad_rows[r] = bad[k].rows[r];
    t.n_grad_rows = bad[k].n;
    assert_int_equal(rk_optim_step(&opt, 1.0), RK_EINVAL);
    if (strstr(rk_error_message(), bad[k].words) == NULL) fail_msg("message '%s' lacks '%s'", rk_error_message(), bad[k].words);
    assert_true(val(&d)[0] == 0.0f && val(&d)[1] == 0.0f);   /* the dense parameter did not move either */
    assert_int_equal(opt.step, 0);
  }
  assert_int_equal(rk_optim_step(&opt, -1.0), RK_EINVAL);
  rk_optim_free(&opt);
  param_free(&d);
  param_free(&t);
}

/* ---------------------------------------------------------------------------------------------
 * Allocation: registration fails cleanly at every allocation; steps allocate nothing
 * ------------------------------------------------------------------------------------------- */
static void test_registration_allocation_failures(void **state) {
  (void)state;
  int64_t shape[2] = {3, 4};
  rk_param a, b, t;
  dense_param(&a, "a", 2, shape, 0);
  dense_param(&b, "b", 1, shape, 0);
  sparse_param(&t, "t", 10, 4, 4);
  rk_param *ps[3] = {&a, &b, &t};
  for (int kind = 0; kind < RK_OPTIM_COUNT; kind++) {
    rk_optim_config cfg = config_for((rk_optim_kind)kind);
    int64_t live = rk_alloc_live_bytes();
    int failures = 0;
    for (int64_t n = 0;; n++) {
      rk_optim opt;
      rk_alloc_fail_after(n);
      rk_status s = rk_optim_init(&opt, &cfg, ps, 3);
      bool fired = rk_alloc_fail_fired();
      rk_alloc_fail_after(-1);
      if (!fired) {
        assert_rk_ok(s);
        rk_optim_free(&opt);
        break;
      }
      failures++;
      assert_int_equal(s, RK_ENOMEM);
      assert_null(opt.entries);
      assert_int_equal(rk_alloc_live_bytes(), live);
      assert_true(n < 10);
    }
    assert_int_equal(rk_alloc_live_bytes(), live);
    assert_true(failures >= 1);
  }
  param_free(&a);
  param_free(&b);
  param_free(&t);
}

static void test_steps_allocate_nothing(void **state) {
  (void)state;
  int64_t shape[2] = {300, 70};
  rk_param a, t;
  dense_param(&a, "a", 2, shape, 0);
  sparse_param(&t, "t", 1000, 16, 64);
  fill(grd(&a), 300 * 70, 6);
  rk_param *ps[2] = {&a, &t};
  for (int kind = 0; kind < RK_OPTIM_COUNT; kind++) {
    for (int dense_mode = 0; dense_mode <= 1; dense_mode++) {
      rk_optim_config cfg = config_for((rk_optim_kind)kind);
      cfg.sparse_as_dense = dense_mode;
      rk_optim opt;
      assert_rk_ok(rk_optim_init(&opt, &cfg, ps, 2));
      int64_t rows[64];
      for (int r = 0; r < 64; r++) rows[r] = r * 15;
      set_rows(&t, rows, 64, 7);
      int64_t count = rk_alloc_count(), live = rk_alloc_live_bytes();
      for (int s = 0; s < 3; s++) assert_rk_ok(rk_optim_step(&opt, 1.0));
      double norm;
      assert_rk_ok(rk_optim_clip_global_norm(&norm, ps, 2, 1.0));
      assert_int_equal(rk_alloc_count(), count);
      assert_int_equal(rk_alloc_live_bytes(), live);
      rk_optim_free(&opt);
    }
  }
  param_free(&a);
  param_free(&t);
}

/* ---------------------------------------------------------------------------------------------
 * Threads: the same bits for 1 and 4 threads (steps and clipping)
 * ------------------------------------------------------------------------------------------- */
static void run_threads(int threads, rk_optim_kind kind, float *out_dense, float *out_table, double *out_norm) {
  rk_set_num_threads(threads);
  int64_t shape[1] = {200003};
  rk_param a, t;
  dense_param(&a, "a", 1, shape, 0);
  sparse_param(&t, "t", 50000, 8, 20000);
  fill(val(&a), shape[0], 8);
  fill(val(&t), 50000 * 8, 9);
  rk_param *ps[2] = {&a, &t};
  rk_optim_config cfg = config_for(kind);
  rk_optim opt;
  assert_rk_ok(rk_optim_init(&opt, &cfg, ps, 2));
  int64_t *rows = malloc(20000 * sizeof *rows);
  assert_non_null(rows);
  for (int s = 0; s < 3; s++) {
    for (int64_t r = 0; r < 20000; r++) rows[r] = r * 2 + s;
    set_rows(&t, rows, 20000, 30 + (uint64_t)s);
    fill(grd(&a), shape[0], 40 + (uint64_t)s);
    assert_rk_ok(rk_optim_clip_global_norm(out_norm, ps, 2, 10.0));
    assert_rk_ok(rk_optim_step(&opt, 1.0));
  }
  memcpy(out_dense, val(&a), (size_t)shape[0] * sizeof(float));
  memcpy(out_table, val(&t), 50000 * 8 * sizeof(float));
  free(rows);
  rk_optim_free(&opt);
  param_free(&a);
  param_free(&t);
  rk_set_num_threads(0);
}

static void test_same_bits_for_any_thread_count(void **state) {
  (void)state;
  float *d1 = malloc(200003 * sizeof(float)), *d4 = malloc(200003 * sizeof(float));
  float *t1 = malloc(400000 * sizeof(float)), *t4 = malloc(400000 * sizeof(float));
  assert_true(d1 && d4 && t1 && t4);
  const rk_optim_kind kinds[3] = {RK_OPTIM_ADAM, RK_OPTIM_FTRL, RK_OPTIM_SGD};
  for (int k = 0; k < 3; k++) {
    double n1, n4;
    run_threads(1, kinds[k], d1, t1, &n1);
    run_threads(4, kinds[k], d4, t4, &n4);
    assert_memory_equal(d1, d4, 200003 * sizeof(float));
    assert_memory_equal(t1, t4, 400000 * sizeof(float));
    assert_memory_equal(&n1, &n4, sizeof n1);
  }
  free(d1), free(d4), free(t1), free(t4);
}

/* ---------------------------------------------------------------------------------------------
 * Clipping
 * ------------------------------------------------------------------------------------------- */
static void test_clip_global_norm(void **state) {
  (void)state;
  int64_t shape[1] = {1000};
  rk_param a, t;
  dense_param(&a, "a", 1, shape, 0);
  sparse_param(&t, "t", 100, 4, 10);
  fill(grd(&a), 1000, 50);
  set_rows(&t, (int64_t[]){3, 7, 9}, 3, 51);
  /* rows past n_grad_rows are garbage the norm must not see */
  for (int64_t k = 12; k < 40; k++) grd(&t)[k] = 1e6f;
  rk_param *ps[2] = {&a, &t};
  double brute = 0.0;
  for (int i = 0; i < 1000; i++) brute += (double)grd(&a)[i] * grd(&a)[i];
  for (int i = 0; i < 12; i++) brute += (double)grd(&t)[i] * grd(&t)[i];
  brute = sqrt(brute);
  assert_float_equal(rk_optim_global_norm(ps, 2), brute, 1e-12 * brute);

  /* below the limit: nothing changes */
  float copy[1000];
  memcpy(copy, grd(&a), sizeof copy);
  double norm;
  assert_rk_ok(rk_optim_clip_global_norm(&norm, ps, 2, brute * 2));
  assert_memory_equal(copy, grd(&a), sizeof copy);
  assert_float_equal(norm, brute, 1e-12 * brute);

  /* above: everything scaled by max/norm, the new norm is max */
  assert_rk_ok(rk_optim_clip_global_norm(&norm, ps, 2, 1.5));
  assert_float_equal(rk_optim_global_norm(ps, 2), 1.5, 1e-5);
  assert_float_equal(grd(&a)[17], copy[17] * (float)(1.5 / brute), 1e-7);
  assert_true(grd(&t)[12] == 1e6f);

  /* a nan gradient: RK_ERANGE, nothing scaled */
  grd(&a)[5] = NAN;
  memcpy(copy, grd(&a), sizeof copy);
  assert_int_equal(rk_optim_clip_global_norm(&norm, ps, 2, 1.0), RK_ERANGE);
  assert_true(isnan(norm));
  assert_float_equal(grd(&a)[6], copy[6], 0.0);
  assert_int_equal(rk_optim_clip_global_norm(&norm, ps, 2, 0.0), RK_EINVAL);
  param_free(&a);
  param_free(&t);
}

/* ---------------------------------------------------------------------------------------------
 * Schedules and names
 * ------------------------------------------------------------------------------------------- */
static void test_schedules(void **state) {
  (void)state;
  rk_lr_schedule s = {.kind = RK_LR_CONSTANT};
  assert_rk_ok(rk_lr_schedule_check(&s));
  assert_true(rk_lr_schedule_factor(&s, 12345) == 1.0);

  s = (rk_lr_schedule){.kind = RK_LR_EXPONENTIAL, .decay_rate = 0.96, .decay_steps = 100, .staircase = true};
  assert_rk_ok(rk_lr_schedule_check(&s));
  assert_true(rk_lr_schedule_factor(&s, 0) == 1.0);
  assert_true(rk_lr_schedule_factor(&s, 99) == 1.0);
  assert_float_equal(rk_lr_schedule_factor(&s, 100), 0.96, 1e-15);
  assert_float_equal(rk_lr_schedule_factor(&s, 250), 0.96 * 0.96, 1e-15);
  s.staircase = false;
  assert_float_equal(rk_lr_schedule_factor(&s, 250), pow(0.96, 2.5), 1e-15);
  assert_float_equal(rk_lr_schedule_factor(&s, 50), sqrt(0.96), 1e-15);
  s.decay_steps = 0;
  assert_int_equal(rk_lr_schedule_check(&s), RK_EINVAL);

  s = (rk_lr_schedule){.kind = RK_LR_WARMUP_LINEAR, .warmup_steps = 10, .total_steps = 110, .final_factor = 0.0};
  assert_rk_ok(rk_lr_schedule_check(&s));
  assert_true(rk_lr_schedule_factor(&s, 0) == 0.0);
  assert_float_equal(rk_lr_schedule_factor(&s, 5), 0.5, 1e-15);
  assert_true(rk_lr_schedule_factor(&s, 10) == 1.0);
  assert_float_equal(rk_lr_schedule_factor(&s, 60), 0.5, 1e-15);
  assert_float_equal(rk_lr_schedule_factor(&s, 85), 0.25, 1e-15);
  assert_true(rk_lr_schedule_factor(&s, 110) == 0.0);
  assert_true(rk_lr_schedule_factor(&s, 500) == 0.0);

  s = (rk_lr_schedule){.kind = RK_LR_WARMUP_COSINE, .warmup_steps = 10, .total_steps = 110, .final_factor = 0.1};
  assert_float_equal(rk_lr_schedule_factor(&s, 5), 0.5, 1e-15);
  assert_float_equal(rk_lr_schedule_factor(&s, 10), 1.0, 1e-15);
  assert_float_equal(rk_lr_schedule_factor(&s, 60), 0.1 + 0.9 * 0.5, 1e-15);
  assert_float_equal(rk_lr_schedule_factor(&s, 35), 0.1 + 0.9 * 0.5 * (1 + cos(3.14159265358979323846 / 4)), 1e-15);
  assert_float_equal(rk_lr_schedule_factor(&s, 110), 0.1, 1e-15);
  assert_float_equal(rk_lr_schedule_factor(&s, 1000), 0.1, 1e-15);
  s.warmup_steps = 0;
  assert_float_equal(rk_lr_schedule_factor(&s, 0), 1.0, 1e-15);
  s.total_steps = -1;
  assert_int_equal(rk_lr_schedule_check(&s), RK_EINVAL);

  rk_lr_kind lk;
  for (int k = 0; k < RK_LR_COUNT; k++) {
    assert_rk_ok(rk_lr_kind_parse(rk_lr_kind_name((rk_lr_kind)k), &lk));
    assert_int_equal(lk, k);
  }
  assert_int_equal(rk_lr_kind_parse("cosine", &lk), RK_EINVAL);
  rk_optim_kind ok;
  for (int k = 0; k < RK_OPTIM_COUNT; k++) {
    assert_rk_ok(rk_optim_kind_parse(rk_optim_kind_name((rk_optim_kind)k), &ok));
    assert_int_equal(ok, k);
  }
  assert_int_equal(rk_optim_kind_parse("rmsprop", &ok), RK_EINVAL);
  assert_non_null(strstr(rk_error_message(), "'rmsprop'"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_lazy_moves_only_listed_rows_like_dense),
      cmocka_unit_test(test_sparse_as_dense_equals_dense),
      cmocka_unit_test(test_lazy_and_dense_adam_differ_as_documented),
      cmocka_unit_test(test_groups_and_lr_factor),
      cmocka_unit_test(test_keras_first_steps),
      cmocka_unit_test(test_bad_configurations),
      cmocka_unit_test(test_bad_sparse_gradient_moves_nothing),
      cmocka_unit_test(test_registration_allocation_failures),
      cmocka_unit_test(test_steps_allocate_nothing),
      cmocka_unit_test(test_same_bits_for_any_thread_count),
      cmocka_unit_test(test_clip_global_norm),
      cmocka_unit_test(test_schedules),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
