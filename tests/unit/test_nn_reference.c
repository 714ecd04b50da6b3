/*
 * The compute graph against PyTorch 1.13: fixtures written by tests/reference/make_nn_fixtures.py
 * (committed JSON under tests/reference/fixtures/, no Python needed here) hold inputs, parameters,
 * forward values and gradients for a small MLP, a DLRM-style interaction model, a DCN-v2 cross
 * stack (full and low rank), an FM, gated experts and single ops. Each model is built here with
 * the graph API, and every value and gradient must match within |a - b| <= 2e-5 + 1e-3 |b|
 * (float32 on both sides; sums in different orders).
 */
#include "support.h"

#include <jansson.h>
#include <math.h>
#include <string.h>

#include "reckon/nn.h"

#define ATOL 2e-5
#define RTOL 1e-3

typedef struct {
  json_t *root, *tensors;
  rk_graph *g;
  rk_param params[24];
  const char *pnames[24];
  int n_params;
} fixture;

static void load(fixture *f, const char *name, int64_t B) {
  memset(f, 0, sizeof *f);
  char path[4096];
  snprintf(path, sizeof path, "%s/tests/reference/fixtures/%s.json", RECKON_SOURCE_DIR, name);
  json_error_t err;
  f->root = json_load_file(path, 0, &err);
  if (!f->root) fail_msg("cannot read fixture %s: %s (run tests/reference/make_nn_fixtures.py)", path, err.text);
  f->tensors = json_object_get(f->root, "tensors");
  assert_non_null(f->tensors);
  assert_rk_ok(rk_graph_create(&f->g, B));
}

static json_t *tensor(fixture *f, const char *name, int64_t *numel) {
  json_t *t = json_object_get(f->tensors, name);
  if (!t) fail_msg("fixture has no tensor '%s'", name);
  json_t *data = json_object_get(t, "data");
  *numel = (int64_t)json_array_size(data);
  return data;
}

static void copy_f32(fixture *f, const char *name, float *dst, int64_t expect) {
  int64_t n;
  json_t *d = tensor(f, name, &n);
  assert_int_equal(n, expect);
  for (int64_t i = 0; i < n; i++) dst[i] = (float)json_number_value(json_array_get(d, (size_t)i));
}

static void copy_i64(fixture *f, const char *name, int64_t *dst, int64_t expect) {
  int64_t n;
  json_t *d = tensor(f, name, &n);
  assert_int_equal(n, expect);
  for (int64_t i = 0; i < n; i++) dst[i] = json_integer_value(json_array_get(d, (size_t)i));
}

/* A parameter with the fixture's shape and value (sparse: an embedding table). */
static rk_param *param(fixture *f, const char *name, bool sparse) {
  json_t *t = json_object_get(f->tensors, name);
  if (!t) fail_msg("fixture has no parameter '%s'", name);
  json_t *shape = json_object_get(t, "shape");
  int64_t s[RK_TENSOR_MAX_DIMS];
  int nd = (int)json_array_size(shape);
  for (int i = 0; i < nd; i++) s[i] = json_integer_value(json_array_get(shape, (size_t)i));
  rk_param *p = &f->params[f->n_params];
  f->pnames[f->n_params++] = name;
  if (sparse) assert_rk_ok(rk_param_init_sparse(p, name, s[0], s[1]));
  else assert_rk_ok(rk_param_init(p, name, nd, s));
  copy_f32(f, name, p->value.data, rk_tensor_numel(&p->value));
  return p;
}

static void close_to(const char *what, const float *got, fixture *f, const char *name, int64_t n) {
  int64_t m;
  json_t *d = tensor(f, name, &m);
  assert_int_equal(m, n);
  for (int64_t i = 0; i < n; i++) {
    double want = json_number_value(json_array_get(d, (size_t)i));
    if (!(fabs(got[i] - want) <= ATOL + RTOL * fabs(want)))
      fail_msg("%s: '%s' element %lld: got %.8g, PyTorch %.8g", what, name, (long long)i, got[i], want);
  }
}

static void check_value(fixture *f, int v, const char *name) {
  close_to(json_string_value(json_object_get(f->root, "name")), rk_graph_value_f32(f->g, v), f, name,
           rk_graph_value_numel(f->g, v));
}

/* Every parameter's gradient: dense directly, sparse scattered into a dense (V, D) copy. */
static void check_grads(fixture *f) {
  const char *model = json_string_value(json_object_get(f->root, "name"));
  for (int k = 0; k < f->n_params; k++) {
    rk_param *p = &f->params[k];
    char name[96];
    snprintf(name, sizeof name, "grad:%s", f->pnames[k]);
    int64_t n = rk_tensor_numel(&p->value);
    float *dense = calloc((size_t)n, sizeof(float));
    if (p->sparse) {
      int64_t D = p->value.shape[1];
      for (int64_t r = 0; r < p->n_grad_rows; r++)
        memcpy(dense + p->grad_rows[r] * D, (float *)p->grad.data + r * D, (size_t)D * sizeof(float));
    } else {
      memcpy(dense, p->grad.data, (size_t)n * sizeof(float));
    }
    close_to(model, dense, f, name, n);
    free(dense);
  }
}

static void run(fixture *f, int loss) {
  assert_rk_ok(rk_graph_build(f->g, loss));
}

static void step(fixture *f) {
  rk_graph_zero_grad(f->g);
  assert_rk_ok(rk_graph_forward(f->g, RK_TRAIN));
  assert_rk_ok(rk_graph_backward(f->g));
}

static void finish(fixture *f) {
  rk_graph_free(f->g);
  for (int k = 0; k < f->n_params; k++) rk_param_free(&f->params[k]);
  json_decref(f->root);
}

static void test_mlp(void **state) {
  (void)state;
  fixture f;
  load(&f, "mlp", 4);
  int64_t six[1] = {6}, one[1] = {1};
  int x, y, w, h, logit, loss;
  rk_param *w1 = param(&f, "w1", false), *b1 = param(&f, "b1", false), *w2 = param(&f, "w2", false),
           *b2 = param(&f, "b2", false);
  assert_rk_ok(rk_graph_input(f.g, &x, "x", 1, six));
  assert_rk_ok(rk_graph_input(f.g, &y, "y", 1, one));
  assert_rk_ok(rk_graph_input(f.g, &w, "w", 1, one));
  assert_rk_ok(rk_graph_linear(f.g, &h, x, w1, b1, RK_ACT_RELU));
  assert_rk_ok(rk_graph_linear(f.g, &logit, h, w2, b2, RK_ACT_NONE));
  assert_rk_ok(rk_graph_bce_logits(f.g, &loss, logit, y, w));
  assert_rk_ok(rk_graph_output(f.g, logit));
  run(&f, loss);
  copy_f32(&f, "x", rk_graph_input_f32(f.g, x), 24);
  copy_f32(&f, "y", rk_graph_input_f32(f.g, y), 4);
  copy_f32(&f, "w", rk_graph_input_f32(f.g, w), 4);
  step(&f);
  check_value(&f, logit, "out:logit");
  check_value(&f, loss, "out:loss");
  check_grads(&f);
  finish(&f);
}

static void test_dlrm(void **state) {
  (void)state;
  fixture f;
  load(&f, "dlrm", 4);
  int64_t three[1] = {3}, one[1] = {1};
  rk_param *bw = param(&f, "bw", false), *bb = param(&f, "bb", false);
  rk_param *t[3] = {param(&f, "t0", true), param(&f, "t1", true), param(&f, "t2", true)};
  rk_param *tw = param(&f, "tw", false), *tb = param(&f, "tb", false);
  int dense, ids, y, xd, embs[3], emb, inter, logit, loss;
  assert_rk_ok(rk_graph_input(f.g, &dense, "dense", 1, three));
  assert_rk_ok(rk_graph_input_ids(f.g, &ids, "ids", 3));
  assert_rk_ok(rk_graph_input(f.g, &y, "y", 1, one));
  assert_rk_ok(rk_graph_linear(f.g, &xd, dense, bw, bb, RK_ACT_RELU));
  int64_t sizes[3] = {1, 1, 1};
  int cols[3];
  assert_int_equal(rk_graph_split(f.g, cols, ids, 1, 3, sizes), RK_EINVAL);   /* ids are not f32 */
  for (int k = 0; k < 3; k++) {
    int e, outs[3];
    assert_rk_ok(rk_graph_embedding(f.g, &e, t[k], ids, 0));   /* (B, 3, D): field k is column k */
    assert_rk_ok(rk_graph_split(f.g, outs, e, 1, 3, sizes));
    embs[k] = outs[k];
  }
  assert_rk_ok(rk_graph_concat(f.g, &emb, 3, embs, 1));
  assert_rk_ok(rk_graph_dot_interaction(f.g, &inter, xd, emb));
  assert_rk_ok(rk_graph_linear(f.g, &logit, inter, tw, tb, RK_ACT_NONE));
  assert_rk_ok(rk_graph_bce_logits(f.g, &loss, logit, y, RK_NO_VALUE));
  assert_rk_ok(rk_graph_output(f.g, inter));
  run(&f, loss);
  copy_f32(&f, "dense", rk_graph_input_f32(f.g, dense), 12);
  copy_i64(&f, "ids", rk_graph_input_ids_data(f.g, ids), 12);
  copy_f32(&f, "y", rk_graph_input_f32(f.g, y), 4);
  step(&f);
  check_value(&f, inter, "out:inter");
  check_value(&f, loss, "out:loss");
  check_grads(&f);
  finish(&f);
}

static void test_dcn(void **state) {
  (void)state;
  fixture f;
  load(&f, "dcn", 4);
  int64_t five[1] = {5}, one[1] = {1};
  rk_param *w0 = param(&f, "w0", false), *b0 = param(&f, "b0", false), *u1 = param(&f, "u1", false),
           *v1 = param(&f, "v1", false), *b1 = param(&f, "b1", false), *wo = param(&f, "wo", false),
           *bo = param(&f, "bo", false);
  int x, y, x1, x2, pred, loss;
  assert_rk_ok(rk_graph_input(f.g, &x, "x", 1, five));
  assert_rk_ok(rk_graph_input(f.g, &y, "y", 1, one));
  assert_rk_ok(rk_graph_cross(f.g, &x1, x, x, w0, NULL, NULL, b0));
  assert_rk_ok(rk_graph_cross(f.g, &x2, x, x1, NULL, u1, v1, b1));
  assert_rk_ok(rk_graph_linear(f.g, &pred, x2, wo, bo, RK_ACT_NONE));
  assert_rk_ok(rk_graph_mse(f.g, &loss, pred, y, RK_NO_VALUE));
  assert_rk_ok(rk_graph_output(f.g, x2));
  run(&f, loss);
  copy_f32(&f, "x", rk_graph_input_f32(f.g, x), 20);
  copy_f32(&f, "y", rk_graph_input_f32(f.g, y), 4);
  step(&f);
  check_value(&f, x2, "out:x2");
  check_value(&f, loss, "out:loss");
  check_grads(&f);
  finish(&f);
}

static void test_fm(void **state) {
  (void)state;
  fixture f;
  load(&f, "fm", 4);
  int64_t one[1] = {1};
  rk_param *v = param(&f, "v", true), *w = param(&f, "w", true), *bias = param(&f, "bias", false);
  int ids, y, e, e1, first, fmv, bv, logit, loss;
  assert_rk_ok(rk_graph_input_ids(f.g, &ids, "ids", 4));
  assert_rk_ok(rk_graph_input(f.g, &y, "y", 1, one));
  assert_rk_ok(rk_graph_embedding(f.g, &e, v, ids, 0));
  assert_rk_ok(rk_graph_embedding(f.g, &e1, w, ids, 0));
  int64_t bf[2] = {4, 4};
  assert_rk_ok(rk_graph_reshape(f.g, &first, e1, 2, bf));
  assert_rk_ok(rk_graph_fm(f.g, &fmv, e, first));
  assert_rk_ok(rk_graph_param(f.g, &bv, bias));
  assert_rk_ok(rk_graph_add(f.g, &logit, fmv, bv));
  assert_rk_ok(rk_graph_bce_logits(f.g, &loss, logit, y, RK_NO_VALUE));
  assert_rk_ok(rk_graph_output(f.g, logit));
  run(&f, loss);
  copy_i64(&f, "ids", rk_graph_input_ids_data(f.g, ids), 16);
  copy_f32(&f, "y", rk_graph_input_f32(f.g, y), 4);
  step(&f);
  check_value(&f, logit, "out:logit");
  check_value(&f, loss, "out:loss");
  check_grads(&f);
  finish(&f);
}

static void test_experts(void **state) {
  (void)state;
  fixture f;
  load(&f, "experts", 4);
  int64_t five[1] = {5}, one[1] = {1};
  rk_param *ew[3], *eb[3];
  const char *wn[3] = {"e0.w", "e1.w", "e2.w"}, *bn[3] = {"e0.b", "e1.b", "e2.b"};
  for (int k = 0; k < 3; k++) ew[k] = param(&f, wn[k], false);
  for (int k = 0; k < 3; k++) eb[k] = param(&f, bn[k], false);
  rk_param *gw = param(&f, "gw", false), *gb = param(&f, "gb", false), *ow = param(&f, "ow", false),
           *ob = param(&f, "ob", false);
  int x, y, ex[3], stack, gl, mix, pred, loss;
  assert_rk_ok(rk_graph_input(f.g, &x, "x", 1, five));
  assert_rk_ok(rk_graph_input(f.g, &y, "y", 1, one));
  for (int k = 0; k < 3; k++) {   /* x fans out to three experts and the gate */
    int h;
    int64_t s[3] = {4, 1, 4};
    assert_rk_ok(rk_graph_linear(f.g, &h, x, ew[k], eb[k], RK_ACT_RELU));
    assert_rk_ok(rk_graph_reshape(f.g, &ex[k], h, 3, s));
  }
  assert_rk_ok(rk_graph_concat(f.g, &stack, 3, ex, 1));
  assert_rk_ok(rk_graph_linear(f.g, &gl, x, gw, gb, RK_ACT_NONE));
  assert_rk_ok(rk_graph_gate(f.g, &mix, stack, gl, 0.5f));
  assert_rk_ok(rk_graph_linear(f.g, &pred, mix, ow, ob, RK_ACT_NONE));
  assert_rk_ok(rk_graph_mse(f.g, &loss, pred, y, RK_NO_VALUE));
  assert_rk_ok(rk_graph_output(f.g, mix));
  run(&f, loss);
  copy_f32(&f, "x", rk_graph_input_f32(f.g, x), 20);
  copy_f32(&f, "y", rk_graph_input_f32(f.g, y), 4);
  step(&f);
  check_value(&f, mix, "out:mix");
  check_value(&f, loss, "out:loss");
  check_grads(&f);
  finish(&f);
}

/* Single ops: loss = sum(op(x) * probe), x a parameter so its gradient is checked. */
typedef enum { OP_GELU_TANH, OP_GELU_ERF, OP_SELU, OP_LEAKY, OP_SOFTMAX, OP_LOG_SOFTMAX, OP_LAYER_NORM,
               OP_BATCH_NORM, OP_SIGMOID, OP_TANH, OP_COUNT } single_op;
static const char *single_names[OP_COUNT] = {"gelu_tanh", "gelu_erf", "selu", "leaky_relu", "softmax",
                                             "log_softmax", "layer_norm", "batch_norm", "sigmoid", "tanh"};

static void test_single_ops(void **state) {
  (void)state;
  for (int op = 0; op < OP_COUNT; op++) {
    fixture f;
    load(&f, "ops", 4);
    rk_param *x = param(&f, "x", false), *probe = param(&f, "probe", false);
    rk_param *gamma = param(&f, "gamma", false), *beta = param(&f, "beta", false);
    int xv, pv, out = -1, prod, loss;
    assert_rk_ok(rk_graph_param(f.g, &xv, x));
    assert_rk_ok(rk_graph_param(f.g, &pv, probe));
    switch ((single_op)op) {
    case OP_GELU_TANH: assert_rk_ok(rk_graph_gelu(f.g, &out, xv, true)); break;
    case OP_GELU_ERF: assert_rk_ok(rk_graph_gelu(f.g, &out, xv, false)); break;
    case OP_SELU: assert_rk_ok(rk_graph_selu(f.g, &out, xv)); break;
    case OP_LEAKY: assert_rk_ok(rk_graph_leaky_relu(f.g, &out, xv, 0.1f)); break;
    case OP_SOFTMAX: assert_rk_ok(rk_graph_softmax(f.g, &out, xv, 0.7f)); break;
    case OP_LOG_SOFTMAX: assert_rk_ok(rk_graph_log_softmax(f.g, &out, xv)); break;
    case OP_LAYER_NORM: assert_rk_ok(rk_graph_layer_norm(f.g, &out, xv, gamma, beta, 1e-5f)); break;
    case OP_BATCH_NORM: assert_rk_ok(rk_graph_batch_norm(f.g, &out, xv, gamma, beta, 1e-5f, 0.1f)); break;
    case OP_SIGMOID: assert_rk_ok(rk_graph_sigmoid(f.g, &out, xv)); break;
    case OP_TANH: assert_rk_ok(rk_graph_tanh(f.g, &out, xv)); break;
    case OP_COUNT: break;
    }
    assert_rk_ok(rk_graph_mul(f.g, &prod, out, pv));
    assert_rk_ok(rk_graph_sum(f.g, &loss, prod, RK_REDUCE_ALL));
    assert_rk_ok(rk_graph_output(f.g, out));
    run(&f, loss);
    step(&f);
    char name[64];
    snprintf(name, sizeof name, "out:%s", single_names[op]);
    check_value(&f, out, name);
    snprintf(name, sizeof name, "grad:%s", single_names[op]);
    close_to(single_names[op], x->grad.data, &f, name, 24);
    if (op == OP_BATCH_NORM) {
      close_to("batch_norm", rk_graph_batch_norm_running(f.g, out, false), &f, "out:bn_running_mean", 6);
      close_to("batch_norm", rk_graph_batch_norm_running(f.g, out, true), &f, "out:bn_running_var", 6);
    }
    finish(&f);
  }
}

static void test_softmax_ce_and_bag(void **state) {
  (void)state;
  fixture f;
  load(&f, "ops", 4);
  rk_param *x = param(&f, "x", false), *t = param(&f, "table", true), *probe = param(&f, "probe", false);
  int xv, labels, ce, bagin, bag, pv, prod, s, ce1, s1, loss;
  assert_rk_ok(rk_graph_param(f.g, &xv, x));
  assert_rk_ok(rk_graph_input_ids(f.g, &labels, "labels", 1));
  assert_rk_ok(rk_graph_softmax_ce(f.g, &ce, xv, labels, 5, 0.1f, 1.0f));
  assert_rk_ok(rk_graph_input_ragged(f.g, &bagin, "bag", 8));
  assert_rk_ok(rk_graph_embedding_bag(f.g, &bag, t, bagin, RK_POOL_MEAN, 0));
  assert_rk_ok(rk_graph_param(f.g, &pv, probe));
  assert_rk_ok(rk_graph_mul(f.g, &prod, bag, pv));
  assert_rk_ok(rk_graph_sum(f.g, &s, prod, RK_REDUCE_ALL));
  int64_t one[1] = {1};
  assert_rk_ok(rk_graph_reshape(f.g, &ce1, ce, 1, one));
  assert_rk_ok(rk_graph_reshape(f.g, &s1, s, 1, one));
  assert_rk_ok(rk_graph_add(f.g, &loss, ce1, s1));   /* independent terms: each gradient is its own */
  assert_rk_ok(rk_graph_output(f.g, ce));
  assert_rk_ok(rk_graph_output(f.g, bag));
  run(&f, loss);
  copy_i64(&f, "labels", rk_graph_input_ids_data(f.g, labels), 4);
  copy_i64(&f, "bag_ids", rk_graph_input_ids_data(f.g, bagin), 8);
  copy_i64(&f, "bag_off", rk_graph_input_offsets(f.g, bagin), 5);
  step(&f);
  check_value(&f, ce, "out:softmax_ce");
  check_value(&f, bag, "out:bag_mean");
  close_to("softmax_ce", x->grad.data, &f, "grad:softmax_ce", 24);
  float dense[60] = {0};
  for (int64_t r = 0; r < t->n_grad_rows; r++)
    memcpy(dense + t->grad_rows[r] * 6, (float *)t->grad.data + r * 6, 6 * sizeof(float));
  close_to("embedding_bag", dense, &f, "grad:bag_mean", 60);
  finish(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_mlp),          cmocka_unit_test(test_dlrm),
      cmocka_unit_test(test_dcn),          cmocka_unit_test(test_fm),
      cmocka_unit_test(test_experts),      cmocka_unit_test(test_single_ops),
      cmocka_unit_test(test_softmax_ce_and_bag),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
