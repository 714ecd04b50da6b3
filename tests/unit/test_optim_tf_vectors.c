/*
 * FTRL-Proximal and proximal Adagrad against the published vectors of TensorFlow's own tests,
 * tensorflow/python/training/ftrl_test.py and proximal_adagrad_test.py: the same variables,
 * gradients, hyperparameters and step counts, and the values TF asserts after them.
 * Tolerance: TF's own for float32 (assertAllCloseAccordingToType: |a - b| <= 1e-6 + 1e-6 |b|);
 * the "minimize" cases use TF's atol 0.01.
 * Equivalences TF checks (FTRL with lr_power -0.5 is Adagrad, with lr_power 0 is gradient
 * descent; proximal Adagrad without L1/L2 is Adagrad) are checked the same way, dense and sparse.
 */
#include "support.h"

#include <math.h>
#include <string.h>

#include "reckon/optim.h"

#define TF_ATOL 1e-6
#define TF_RTOL 1e-6

/* ---------------------------------------------------------------------------------------------
 * Two parameters, each of two values, dense (2,) or sparse (2, 1) with one gradient row.
 * ------------------------------------------------------------------------------------------- */
typedef struct {
  rk_param p[2];
  rk_param *ptr[2];
  rk_optim opt;
} pair;

static void pair_init(pair *t, const rk_optim_config *cfg, const float v0[2], const float v1[2], bool sparse) {
  memset(t, 0, sizeof *t);
  for (int i = 0; i < 2; i++) {
    rk_param *p = &t->p[i];
    snprintf(p->name, sizeof p->name, "var%d", i);
    const float *v = i == 0 ? v0 : v1;
    if (sparse) {
      int64_t shape[2] = {2, 1}, gshape[2] = {1, 1};
      assert_rk_ok(rk_tensor_alloc(&p->value, RK_DT_F32, 2, shape));
      assert_rk_ok(rk_tensor_alloc(&p->grad, RK_DT_F32, 2, gshape));
      p->sparse = true;
      p->grad_rows = rk_calloc(1, sizeof *p->grad_rows);
      assert_non_null(p->grad_rows);
    } else {
      int64_t shape[1] = {2};
      assert_rk_ok(rk_tensor_alloc(&p->value, RK_DT_F32, 1, shape));
      assert_rk_ok(rk_tensor_alloc(&p->grad, RK_DT_F32, 1, shape));
    }
    memcpy(p->value.data, v, 2 * sizeof(float));
    t->ptr[i] = p;
  }
  assert_rk_ok(rk_optim_init(&t->opt, cfg, t->ptr, 2));
}

static void pair_free(pair *t) {
  rk_optim_free(&t->opt);
  for (int i = 0; i < 2; i++) {
    rk_tensor_free(&t->p[i].value);
    rk_tensor_free(&t->p[i].grad);
    rk_free(t->p[i].grad_rows);
  }
}

/* TF's gradients: dense grads0 = [0.1, 0.2], grads1 = [0.01, 0.02]; sparse grads0 = 0.1 at
 * row 0, grads1 = 0.02 at row 1 (IndexedSlices of shape [2, 1]). */
static void pair_run(pair *t, int steps) {
  for (int s = 0; s < steps; s++) {
    float *g0 = t->p[0].grad.data, *g1 = t->p[1].grad.data;
    if (t->p[0].sparse) {
      g0[0] = 0.1f, t->p[0].grad_rows[0] = 0, t->p[0].n_grad_rows = 1;
      g1[0] = 0.02f, t->p[1].grad_rows[0] = 1, t->p[1].n_grad_rows = 1;
    } else {
      g0[0] = 0.1f, g0[1] = 0.2f;
      g1[0] = 0.01f, g1[1] = 0.02f;
    }
    assert_rk_ok(rk_optim_step(&t->opt, 1.0));
  }
}

static void expect_close(const char *what, const float *got, const double *want, int n, double atol, double rtol) {
  for (int i = 0; i < n; i++) {
    double err = fabs((double)got[i] - want[i]);
    if (!(err <= atol + rtol * fabs(want[i])))
      fail_msg("%s[%d] = %.9g, TensorFlow's test expects %.9g (error %.3g)", what, i, got[i], want[i], err);
  }
}

static void expect_pair(pair *t, const double w0[2], const double w1[2], double atol) {
  expect_close("var0", t->p[0].value.data, w0, 2, atol, TF_RTOL);
  expect_close("var1", t->p[1].value.data, w1, 2, atol, TF_RTOL);
}

static rk_optim_config tf_config(rk_optim_kind kind, float lr, float l1, float l2, float shrinkage) {
  rk_optim_config cfg;
  rk_optim_config_default(&cfg, kind, lr);
  cfg.initial_accumulator = 0.1f;
  cfg.groups[0].l1 = l1;
  cfg.groups[0].l2 = l2;
  cfg.groups[0].l2_shrinkage = shrinkage;
  return cfg;
}

/* One TF case: config, initial values, steps, expected values. */
static void tf_case(rk_optim_config cfg, const float v0[2], const float v1[2], bool sparse, int steps,
                    const double w0[2], const double w1[2]) {
  pair t;
  pair_init(&t, &cfg, v0, v1, sparse);
  pair_run(&t, steps);
  expect_pair(&t, w0, w1, TF_ATOL);
  pair_free(&t);
}

static const float zeros2[2] = {0.0f, 0.0f};
static const float a12[2] = {1.0f, 2.0f};
static const float a43[2] = {4.0f, 3.0f};
static const float a34[2] = {3.0f, 4.0f};

/* ---------------------------------------------------------------------------------------------
 * ftrl_test.py
 * ------------------------------------------------------------------------------------------- */
static void test_ftrl_without_regularization(void **state) {
  (void)state;
  tf_case(tf_config(RK_OPTIM_FTRL, 3.0f, 0, 0, 0), zeros2, zeros2, false, 3,
          (double[]){-2.60260963, -4.29698515}, (double[]){-0.28432083, -0.56694895});
}

static void test_ftrl_without_regularization2(void **state) {
  (void)state;
  tf_case(tf_config(RK_OPTIM_FTRL, 3.0f, 0, 0, 0), a12, a43, false, 3,
          (double[]){-2.55607247, -3.98729396}, (double[]){-0.28232238, -0.56096673});
}

static void test_ftrl_with_l1(void **state) {
  (void)state;
  tf_case(tf_config(RK_OPTIM_FTRL, 3.0f, 0.001f, 0, 0), a12, a43, false, 10,
          (double[]){-7.66718769, -10.91273689}, (double[]){-0.93460727, -1.86147261});
}

static void test_ftrl_with_l1_l2(void **state) {
  (void)state;
  tf_case(tf_config(RK_OPTIM_FTRL, 3.0f, 0.001f, 2.0f, 0), a12, a43, false, 10,
          (double[]){-0.24059935, -0.46829352}, (double[]){-0.02406147, -0.04830509});
}

static void test_ftrl_with_l1_l2_shrinkage(void **state) {
  (void)state;
  tf_case(tf_config(RK_OPTIM_FTRL, 3.0f, 0.001f, 2.0f, 0.1f), a12, a43, false, 10,
          (double[]){-0.22578995, -0.44345796}, (double[]){-0.14378493, -0.13229476});
}

/* Lazy: the row without a gradient keeps its initial value (2 and 4), as in TF. */
static void test_ftrl_with_l1_l2_shrinkage_sparse(void **state) {
  (void)state;
  tf_case(tf_config(RK_OPTIM_FTRL, 3.0f, 0.001f, 2.0f, 0.1f), a12, a43, true, 10,
          (double[]){-0.22578995, 2.0}, (double[]){4.0, -0.13229476});
}

/* Shrinkage pulls weights toward 0 but leaves the accumulator (the lr schedule) alone. */
static void test_ftrl_shrinkage_does_not_change_lr_schedule(void **state) {
  (void)state;
  pair with, without;
  rk_optim_config c0 = tf_config(RK_OPTIM_FTRL, 3.0f, 0.001f, 2.0f, 0.1f);
  rk_optim_config c1 = tf_config(RK_OPTIM_FTRL, 3.0f, 0.001f, 2.0f, 0.0f);
  pair_init(&with, &c0, a12, a12, false);
  pair_init(&without, &c1, a12, a12, false);
  /* TF gives both variables grads [0.1, 0.2] here */
  for (int s = 0; s < 10; s++) {
    pair *ts[2] = {&with, &without};
    for (int k = 0; k < 2; k++) {
      for (int i = 0; i < 2; i++) {
        float *g = ts[k]->p[i].grad.data;
        g[0] = 0.1f, g[1] = 0.2f;
      }
      assert_rk_ok(rk_optim_step(&ts[k]->opt, 1.0));
    }
  }
  const float *v0 = with.p[0].value.data, *v1 = without.p[0].value.data;
  for (int i = 0; i < 2; i++) assert_true(v0[i] * v0[i] < v1[i] * v1[i]);
  const float *a0 = rk_optim_slot(&with.opt, 0, 0), *a1 = rk_optim_slot(&without.opt, 0, 0);
  assert_string_equal(rk_optim_slot_name(&with.opt, 0), "accumulator");
  for (int i = 0; i < 2; i++) assert_true(a0[i] == a1[i]);
  pair_free(&with);
  pair_free(&without);
}

/* testMinimizeSparseResourceVariable: var [[1, 2]], loss (var . [4, 5])^2, one step of
 * FtrlOptimizer(1.0) with its defaults; TF expects [[0, 1]] within 0.01. */
static void minimize_sparse(rk_optim_kind kind) {
  rk_optim_config cfg;
  rk_optim_config_default(&cfg, kind, 1.0f);
  rk_param p = {.name = "var0", .sparse = true};
  int64_t shape[2] = {1, 2};
  assert_rk_ok(rk_tensor_alloc(&p.value, RK_DT_F32, 2, shape));
  assert_rk_ok(rk_tensor_alloc(&p.grad, RK_DT_F32, 2, shape));
  int64_t row = 0;
  p.grad_rows = &row;
  float *w = p.value.data, *g = p.grad.data;
  w[0] = 1.0f, w[1] = 2.0f;
  float pred = 4.0f * w[0] + 5.0f * w[1];
  g[0] = 2.0f * pred * 4.0f, g[1] = 2.0f * pred * 5.0f;
  p.n_grad_rows = 1;
  rk_param *ptr = &p;
  rk_optim opt;
  assert_rk_ok(rk_optim_init(&opt, &cfg, &ptr, 1));
  assert_rk_ok(rk_optim_step(&opt, 1.0));
  expect_close("var0", w, (double[]){0.0, 1.0}, 2, 0.01, 0.0);
  rk_optim_free(&opt);
  rk_tensor_free(&p.value);
  rk_tensor_free(&p.grad);
}

static void test_ftrl_minimize_sparse(void **state) {
  (void)state;
  minimize_sparse(RK_OPTIM_FTRL);
}

/* Equivalences: run both optimizers on applyOptimizer's setup and compare with TF's tolerance. */
static void equivalent(rk_optim_config a, rk_optim_config b, const float v0[2], const float v1[2], bool sparse, int steps) {
  pair ta, tb;
  pair_init(&ta, &a, v0, v1, sparse);
  pair_init(&tb, &b, v0, v1, sparse);
  pair_run(&ta, steps);
  pair_run(&tb, steps);
  double w0[2] = {((float *)tb.p[0].value.data)[0], ((float *)tb.p[0].value.data)[1]};
  double w1[2] = {((float *)tb.p[1].value.data)[0], ((float *)tb.p[1].value.data)[1]};
  expect_pair(&ta, w0, w1, TF_ATOL);
  pair_free(&ta);
  pair_free(&tb);
}

static rk_optim_config tf1_adagrad(float lr) {
  rk_optim_config cfg;
  rk_optim_config_default(&cfg, RK_OPTIM_ADAGRAD, lr);
  cfg.initial_accumulator = 0.1f;
  cfg.eps = 0.0f;   /* tf.compat.v1.train.AdagradOptimizer has no epsilon */
  return cfg;
}

static void test_ftrl_equiv_adagrad(void **state) {
  (void)state;
  for (int sparse = 0; sparse <= 1; sparse++) {
    rk_optim_config ftrl = tf_config(RK_OPTIM_FTRL, 3.0f, 0, 0, 0);
    ftrl.lr_power = -0.5f;
    equivalent(ftrl, tf1_adagrad(3.0f), zeros2, zeros2, sparse, 5);
  }
}

static void test_ftrl_equiv_gradient_descent(void **state) {
  (void)state;
  for (int sparse = 0; sparse <= 1; sparse++) {
    rk_optim_config ftrl = tf_config(RK_OPTIM_FTRL, 3.0f, 0, 0, 0);
    ftrl.lr_power = -0.0f;
    rk_optim_config sgd;
    rk_optim_config_default(&sgd, RK_OPTIM_SGD, 3.0f);
    equivalent(ftrl, sgd, zeros2, zeros2, sparse, 5);
  }
}

/* ---------------------------------------------------------------------------------------------
 * proximal_adagrad_test.py
 * ------------------------------------------------------------------------------------------- */
static void test_proximal_adagrad_without_regularization(void **state) {
  (void)state;
  tf_case(tf_config(RK_OPTIM_PROXIMAL_ADAGRAD, 3.0f, 0, 0, 0), zeros2, zeros2, false, 3,
          (double[]){-2.60260963, -4.29698515}, (double[]){-0.28432083, -0.56694895});
}

static void test_proximal_adagrad_without_regularization2(void **state) {
  (void)state;
  tf_case(tf_config(RK_OPTIM_PROXIMAL_ADAGRAD, 3.0f, 0, 0, 0), a12, a43, false, 3,
          (double[]){-1.60261, -2.296985}, (double[]){3.715679, 2.433051});
}

static void test_proximal_adagrad_with_l1(void **state) {
  (void)state;
  tf_case(tf_config(RK_OPTIM_PROXIMAL_ADAGRAD, 3.0f, 0.001f, 0, 0), a12, a43, false, 10,
          (double[]){-6.663634, -9.190331}, (double[]){2.959304, 1.029232});
}

static void test_proximal_adagrad_with_l1_l2(void **state) {
  (void)state;
  tf_case(tf_config(RK_OPTIM_PROXIMAL_ADAGRAD, 3.0f, 0.001f, 2.0f, 0), a12, a43, false, 10,
          (double[]){-0.0495, -0.0995}, (double[]){-0.0045, -0.0095});
}

static void test_proximal_adagrad_minimize_sparse(void **state) {
  (void)state;
  minimize_sparse(RK_OPTIM_PROXIMAL_ADAGRAD);
}

static void test_proximal_adagrad_equiv_adagrad(void **state) {
  (void)state;
  for (int sparse = 0; sparse <= 1; sparse++) {
    equivalent(tf_config(RK_OPTIM_PROXIMAL_ADAGRAD, 3.0f, 0, 0, 0), tf1_adagrad(3.0f), a12, a34, sparse, 5);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ftrl_without_regularization),
      cmocka_unit_test(test_ftrl_without_regularization2),
      cmocka_unit_test(test_ftrl_with_l1),
      cmocka_unit_test(test_ftrl_with_l1_l2),
      cmocka_unit_test(test_ftrl_with_l1_l2_shrinkage),
      cmocka_unit_test(test_ftrl_with_l1_l2_shrinkage_sparse),
      cmocka_unit_test(test_ftrl_shrinkage_does_not_change_lr_schedule),
      cmocka_unit_test(test_ftrl_minimize_sparse),
      cmocka_unit_test(test_ftrl_equiv_adagrad),
      cmocka_unit_test(test_ftrl_equiv_gradient_descent),
      cmocka_unit_test(test_proximal_adagrad_without_regularization),
      cmocka_unit_test(test_proximal_adagrad_without_regularization2),
      cmocka_unit_test(test_proximal_adagrad_with_l1),
      cmocka_unit_test(test_proximal_adagrad_with_l1_l2),
      cmocka_unit_test(test_proximal_adagrad_minimize_sparse),
      cmocka_unit_test(test_proximal_adagrad_equiv_adagrad),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
