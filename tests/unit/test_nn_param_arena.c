/*
 * The parameter arena (reckon/nn.h): declared parameters become views into one value and one
 * gradient allocation, in declaration order at 64-byte-aligned offsets; a graph holding the whole
 * arena zeroes its gradients in one fill (the alignment padding too), a graph holding part of it
 * leaves the other gradients alone; build refuses a parameter whose arena has no memory yet;
 * every allocation failure is clean; an optimizer's slots mirror the arena. And a ranking model
 * keeps its dense parameters in one arena whose initial values are each parameter's own draws,
 * whatever the layout.
 */
#include <string.h>

#include "reckon/models.h"
#include "support.h"

/* (3, 5), (3), (2, 7): 15, 3 and 14 floats at offsets 0, 16 and 32, 48 floats in all. */
static const int64_t shape_w[2] = {3, 5}, shape_b[1] = {3}, shape_v[2] = {2, 7};

static void declare_three(rk_param_arena *a, rk_param p[3]) {
  assert_rk_ok(rk_param_arena_add(a, &p[0], "w", 2, shape_w));
  assert_rk_ok(rk_param_arena_add(a, &p[1], "b", 1, shape_b));
  assert_rk_ok(rk_param_arena_add(a, &p[2], "v", 2, shape_v));
}

static void test_views_in_declaration_order(void **state) {
  (void)state;
  rk_param_arena *a;
  rk_param p[3];
  assert_rk_ok(rk_param_arena_create(&a));
  declare_three(a, p);
  assert_int_equal(rk_param_arena_count(a), 3);
  assert_int_equal(rk_param_arena_bytes(a), 0);
  assert_null(p[0].value.data);
  assert_rk_ok(rk_param_arena_alloc(a));
  assert_int_equal(rk_param_arena_bytes(a), 48 * sizeof(float));
  float *values = p[0].value.data, *grads = p[0].grad.data;
  const int64_t offset[3] = {0, 16, 32};
  for (int i = 0; i < 3; i++) {
    assert_ptr_equal(p[i].value.data, values + offset[i]);
    assert_ptr_equal(p[i].grad.data, grads + offset[i]);
    assert_int_equal((uintptr_t)p[i].value.data % 64, 0);
    assert_int_equal((uintptr_t)p[i].grad.data % 64, 0);
    assert_ptr_equal(p[i].arena, a);
    assert_false(p[i].value.owned);
  }
  assert_int_equal(p[2].value.shape[1], 7);
  for (int k = 0; k < 48; k++) assert_true(values[k] == 0.0f && grads[k] == 0.0f);
  assert_int_equal(rk_param_arena_alloc(a), RK_EINVAL);   /* once */
  rk_param late;
  assert_int_equal(rk_param_arena_add(a, &late, "late", 1, shape_b), RK_EINVAL);
  assert_non_null(strstr(rk_error_message(), "'late'"));
  for (int i = 0; i < 3; i++) rk_param_free(&p[i]);
  rk_param_arena_free(a);
}

/* loss = sum(x w^T + b) over a batch of 2, x (2, 5) of ones: every gradient is non-zero. */
static void sum_of_linear(rk_graph *g, rk_param *w, rk_param *b) {
  int x, y, loss;
  int64_t five[1] = {5};
  assert_rk_ok(rk_graph_input(g, &x, "x", 1, five));
  assert_rk_ok(rk_graph_linear(g, &y, x, w, b, RK_ACT_NONE));
  assert_rk_ok(rk_graph_sum(g, &loss, y, RK_REDUCE_ALL));
  assert_rk_ok(rk_graph_build(g, loss));
  float *xs = rk_graph_input_f32(g, x);
  for (int k = 0; k < 10; k++) xs[k] = 1.0f;
  assert_rk_ok(rk_graph_forward(g, RK_TRAIN));
  assert_rk_ok(rk_graph_backward(g));
}

static void test_zero_grad_whole_and_part(void **state) {
  (void)state;
  rk_param_arena *a;
  rk_param p[3];
  assert_rk_ok(rk_param_arena_create(&a));
  declare_three(a, p);
  rk_graph *g;
  assert_rk_ok(rk_graph_create(&g, 2));
  int x, y, z, loss;
  int64_t five[1] = {5};
  assert_rk_ok(rk_graph_input(g, &x, "x", 1, five));
  assert_int_equal(rk_graph_linear(g, &y, x, &p[0], &p[1], RK_ACT_NONE), RK_OK);   /* no memory yet: fine */
  assert_rk_ok(rk_graph_sum(g, &loss, y, RK_REDUCE_ALL));
  assert_int_equal(rk_graph_build(g, loss), RK_EINVAL);   /* ... until build */
  assert_non_null(strstr(rk_error_message(), "'w'"));
  rk_graph_free(g);
  assert_rk_ok(rk_param_arena_alloc(a));

  /* the whole arena: w, b and v (v through a second linear on y) */
  assert_rk_ok(rk_graph_create(&g, 2));
  assert_rk_ok(rk_graph_input(g, &x, "x", 1, five));
  assert_rk_ok(rk_graph_linear(g, &y, x, &p[0], &p[1], RK_ACT_NONE));
  int64_t seven[1] = {7};
  int xv;
  assert_rk_ok(rk_graph_input(g, &xv, "xv", 1, seven));
  assert_rk_ok(rk_graph_linear(g, &z, xv, &p[2], NULL, RK_ACT_NONE));
  assert_rk_ok(rk_graph_sum(g, &y, y, RK_REDUCE_ALL));
  assert_rk_ok(rk_graph_sum(g, &z, z, RK_REDUCE_ALL));
  assert_rk_ok(rk_graph_add(g, &loss, y, z));
  assert_rk_ok(rk_graph_build(g, loss));
  float *xs = rk_graph_input_f32(g, x), *xvs = rk_graph_input_f32(g, xv);
  for (int k = 0; k < 10; k++) xs[k] = 1.0f;
  for (int k = 0; k < 14; k++) xvs[k] = 1.0f;
  assert_rk_ok(rk_graph_forward(g, RK_TRAIN));
  assert_rk_ok(rk_graph_backward(g));
  float *grads = p[0].grad.data;
  for (int i = 0; i < 3; i++) assert_true(((float *)p[i].grad.data)[0] != 0.0f);
  grads[15] = grads[31] = grads[47] = 9.0f;   /* the padding: only an arena-wide fill clears it */
  rk_graph_zero_grad(g);
  for (int k = 0; k < 48; k++) assert_true(grads[k] == 0.0f);
  rk_graph_free(g);

  /* part of it (w and b, not v): v's gradient is not this graph's to clear */
  assert_rk_ok(rk_graph_create(&g, 2));
  sum_of_linear(g, &p[0], &p[1]);
  ((float *)p[2].grad.data)[0] = 5.0f;
  grads[15] = 9.0f;
  rk_graph_zero_grad(g);
  for (int k = 0; k < 15; k++) assert_true(grads[k] == 0.0f);
  for (int k = 16; k < 19; k++) assert_true(grads[k] == 0.0f);
  assert_true(((float *)p[2].grad.data)[0] == 5.0f);
  assert_true(grads[15] == 9.0f);
  rk_graph_free(g);
  for (int i = 0; i < 3; i++) rk_param_free(&p[i]);
  rk_param_arena_free(a);
}

static rk_status arena_round_trip(void *ctx) {
  (void)ctx;
  rk_param_arena *a;
  rk_param p[40];
  RK_TRY(rk_param_arena_create(&a));
  rk_status st = RK_OK;
  for (int i = 0; i < 40 && st == RK_OK; i++) st = rk_param_arena_add(a, &p[i], "p", 1, shape_b);
  if (st == RK_OK) st = rk_param_arena_alloc(a);
  rk_param_arena_free(a);
  return st;
}

static void test_allocation_failures(void **state) {
  (void)state;
  assert_true(rk_test_walk_failures(arena_round_trip, NULL) >= 4);
}

/* An optimizer holding a whole arena lays each slot kind out like it (the others packed after);
 * one holding part of it packs them all. Either way a step moves the values as it did on
 * parameters of their own. */
static void test_optim_slots_mirror_the_arena(void **state) {
  (void)state;
  rk_param_arena *a;
  rk_param p[4], solo[4];
  assert_rk_ok(rk_param_arena_create(&a));
  declare_three(a, p);
  assert_rk_ok(rk_param_arena_alloc(a));
  const int64_t shape_o[1] = {5};
  assert_rk_ok(rk_param_init(&p[3], "own", 1, shape_o));
  for (int i = 0; i < 4; i++) {
    assert_rk_ok(rk_param_init(&solo[i], p[i].name, p[i].value.ndim, p[i].value.shape));
    float *v = p[i].value.data, *g = p[i].grad.data, *sv = solo[i].value.data, *sg = solo[i].grad.data;
    for (int64_t k = 0; k < rk_tensor_numel(&p[i].value); k++) {
      v[k] = sv[k] = 0.1f * (float)(k + i);
      g[k] = sg[k] = 0.01f * (float)(k - 3 * i);
    }
  }
  rk_optim_config cfg;
  rk_optim_config_default(&cfg, RK_OPTIM_ADAM, 0.01f);
  rk_param *ps[4] = {&p[0], &p[1], &p[2], &p[3]}, *ss[4] = {&solo[0], &solo[1], &solo[2], &solo[3]};
  rk_optim opt, ref;
  assert_rk_ok(rk_optim_init(&opt, &cfg, ps, 4));
  assert_rk_ok(rk_optim_init(&ref, &cfg, ss, 4));
  const int64_t offset[4] = {0, 16, 32, 48};   /* the arena's, then "own" packed after it */
  for (int s = 0; s < 2; s++)
    for (int i = 0; i < 4; i++) assert_ptr_equal(rk_optim_slot(&opt, i, s), rk_optim_slot(&opt, 0, s) + offset[i]);
  assert_int_equal(rk_optim_slot(&opt, 0, 1) - rk_optim_slot(&opt, 0, 0), 48 + 5);
  for (int step = 0; step < 2; step++) {
    assert_rk_ok(rk_optim_step(&opt, 1.0));
    assert_rk_ok(rk_optim_step(&ref, 1.0));
  }
  for (int i = 0; i < 4; i++) assert_memory_equal(p[i].value.data, solo[i].value.data, rk_tensor_nbytes(&p[i].value));
  rk_optim_free(&opt);
  assert_rk_ok(rk_optim_init(&opt, &cfg, ps, 2));   /* part of the arena: packed */
  assert_ptr_equal(rk_optim_slot(&opt, 1, 0), rk_optim_slot(&opt, 0, 0) + 15);
  rk_optim_free(&opt);
  rk_optim_free(&ref);
  for (int i = 0; i < 4; i++) {
    rk_param_free(&p[i]);
    rk_param_free(&solo[i]);
  }
  rk_param_arena_free(a);
}

/* user (50 ids), item (30): categorical; click: target. */
static void make_schema(rk_schema *s) {
  rk_schema_init(s);
  const char *cats[] = {"user_id", "item_id"};
  const int64_t card[] = {50, 30};
  rk_schema_column *c;
  for (int i = 0; i < 2; i++) {
    assert_rk_ok(rk_schema_add_column(s, cats[i], "int64", &c));
    assert_rk_ok(rk_schema_column_add_tag(c, "categorical"));
    assert_rk_ok(rk_schema_column_set_int_domain(c, 0, card[i] - 1, true, cats[i]));
  }
  assert_rk_ok(rk_schema_add_column(s, "age_norm", "float32", &c));
  assert_rk_ok(rk_schema_column_add_tag(c, "continuous"));
  assert_rk_ok(rk_schema_add_column(s, "click", "int8", &c));
  assert_rk_ok(rk_schema_column_add_tag(c, "target"));
  assert_rk_ok(rk_schema_column_add_tag(c, "binary_classification"));
}

static void test_model_dense_params_in_one_arena(void **state) {
  (void)state;
  rk_schema s;
  make_schema(&s);
  rk_ranking_config c;
  rk_ranking_config_default(&c);
  c.kind = RK_MODEL_DLRM;
  c.embeddings_dim = 8;
  const int64_t layers[] = {16, 8};
  c.mlp_layers = layers;
  c.n_mlp_layers = 2;
  rk_ranking_model m;
  assert_rk_ok(rk_ranking_build(&m, &s, "click", false, &c, 4));
  assert_non_null(m.arena);
  const float *next = NULL;
  int dense = 0;
  for (int i = 0; i < m.n_params; i++) {
    rk_param *p = m.params[i];
    if (p->sparse) {
      assert_null(p->arena);
      continue;
    }
    assert_ptr_equal(p->arena, m.arena);
    if (next) assert_ptr_equal(p->value.data, next);   /* the next row of one allocation */
    int64_t n = rk_tensor_numel(&p->value);
    next = (const float *)p->value.data + (n + 15) / 16 * 16;
    dense++;
    if (p->value.ndim != 2) continue;
    /* its initial values: the draws of its own stream (its number), as a tensor of its own */
    rk_tensor t;
    assert_rk_ok(rk_tensor_alloc(&t, RK_DT_F32, 2, p->value.shape));
    rk_init_spec spec = rk_init_spec_default(c.mlp_init);
    spec.fan_in = p->value.shape[1];
    spec.fan_out = p->value.shape[0];
    assert_rk_ok(rk_init_tensor(&t, &spec, c.seed, (uint64_t)i + 1));
    assert_memory_equal(t.data, p->value.data, rk_tensor_nbytes(&t));
    rk_tensor_free(&t);
  }
  assert_int_equal(rk_param_arena_count(m.arena), dense);
  assert_true(dense >= 6);
  rk_ranking_model eval;   /* a graph sharing the parameters shares the arena, not a copy */
  assert_rk_ok(rk_ranking_share(&eval, &m, 3, false));
  assert_null(eval.arena);
  for (int i = 0; i < m.n_params; i++) assert_ptr_equal(eval.params[i], m.params[i]);
  rk_ranking_free(&eval);
  rk_ranking_free(&m);
  rk_schema_free(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_views_in_declaration_order),
      cmocka_unit_test(test_zero_grad_whole_and_part),
      cmocka_unit_test(test_allocation_failures),
      cmocka_unit_test(test_optim_slots_mirror_the_arena),
      cmocka_unit_test(test_model_dense_params_in_one_arena),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
