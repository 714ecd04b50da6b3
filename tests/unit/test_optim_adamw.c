/*
 * AdamW as Hugging Face's Trainer applies it (src/optim/hf_adamw.c) against PyTorch 1.13
 * trajectories (tests/reference/fixtures/adamw.json, made by
 * tests/reference/make_adamw_fixtures.py; no Python needed here): transformers.AdamW with two
 * groups (decay; "bias" and "LayerNorm.weight" without), 3 steps under each of the three
 * schedules recsys_main.py offers, one case clipped by global norm 1.0 first; and
 * torch.optim.AdamW on the cosine case. Every value after every step must satisfy
 * |ours - torch| <= 1e-7 + 1e-6 |torch|. The fixtures use eps 1e-3 and weight decay 0.1, so that
 * the two AdamWs differ visibly: each case fails with the other one's settings, and with the
 * no-decay marks ignored. Existing optimizers keep their bits: test_optim_reference.c.
 */
#include "support.h"

#include <math.h>
#include <string.h>

#include "reckon/optim.h"

#define REF_ATOL 1e-7
#define REF_RTOL 1e-6
#define MAX_PARAMS 4

static json_t *load_fixture(void) {
  char path[1024];
  snprintf(path, sizeof path, "%s/tests/reference/fixtures/adamw.json", RECKON_SOURCE_DIR);
  json_error_t err;
  json_t *doc = json_load_file(path, 0, &err);
  if (!doc) fail_msg("%s line %d: %s", path, err.line, err.text);
  return doc;
}

static json_t *case_named(json_t *doc, const char *name) {
  size_t i;
  json_t *c;
  json_array_foreach(json_object_get(doc, "cases"), i, c) {
    if (strcmp(json_string_value(json_object_get(c, "name")), name) == 0) return c;
  }
  fail_msg("adamw.json has no case '%s'", name);
  return NULL;
}

static double num(json_t *obj, const char *key) {
  json_t *v = json_object_get(obj, key);
  if (!json_is_number(v)) fail_msg("adamw.json: '%s' is not a number", key);
  return json_number_value(v);
}

static void fill(float *dst, json_t *values, int64_t n) {
  if ((int64_t)json_array_size(values) != n) fail_msg("adamw.json: %zu values, expected %lld", json_array_size(values), (long long)n);
  for (int64_t k = 0; k < n; k++) dst[k] = (float)json_number_value(json_array_get(values, (size_t)k));
}

typedef enum { AS_FIXTURE, SWAP_DECAY_ORDER, SWAP_EPS_MODE, IGNORE_NO_DECAY } variant;

/* Runs a case; returns the worst error as a fraction of the tolerance (> 1: a miss). */
static double run_case(json_t *c, variant how) {
  const char *name = json_string_value(json_object_get(c, "name"));
  bool hf = strcmp(json_string_value(json_object_get(c, "optimizer")), "transformers") == 0;
  json_t *betas = json_object_get(c, "betas");
  float lr = (float)num(c, "lr"), wd = (float)num(c, "weight_decay"), eps = (float)num(c, "eps");
  float b1 = (float)json_number_value(json_array_get(betas, 0)), b2 = (float)json_number_value(json_array_get(betas, 1));
  rk_optim_config cfg;
  if (hf) {
    rk_optim_config_hf_adamw(&cfg, lr, wd, b1, b2, eps);
  } else {   /* torch.optim.AdamW */
    rk_optim_config_default(&cfg, RK_OPTIM_ADAMW, lr);
    cfg.groups[0].weight_decay = wd;
    cfg.beta1 = b1;
    cfg.beta2 = b2;
    cfg.eps = eps;
    cfg.eps_mode = RK_ADAM_EPS_CORRECTED;
  }
  if (how == SWAP_DECAY_ORDER) cfg.decay_after_update = !cfg.decay_after_update;
  if (how == SWAP_EPS_MODE) cfg.eps_mode = cfg.eps_mode == RK_ADAM_EPS_HAT ? RK_ADAM_EPS_CORRECTED : RK_ADAM_EPS_HAT;

  json_t *sj = json_object_get(c, "schedule");
  rk_lr_schedule sched;
  assert_rk_ok(rk_lr_schedule_recsys(&sched, json_string_value(json_object_get(sj, "name")), (int64_t)num(sj, "warmup"),
                                     (int64_t)num(sj, "total"), num(sj, "cycles"), 1.0));
  double max_norm = num(c, "max_grad_norm");

  json_t *pj = json_object_get(c, "params");
  int n = (int)json_array_size(pj);
  assert_true(n >= 1 && n <= MAX_PARAMS);
  rk_param params[MAX_PARAMS];
  rk_param *ptrs[MAX_PARAMS];
  for (int i = 0; i < n; i++) {
    json_t *p = json_array_get(pj, (size_t)i), *shape_j = json_object_get(p, "shape");
    int64_t shape[2] = {1, 1};
    int nd = (int)json_array_size(shape_j);
    for (int d = 0; d < nd; d++) shape[d] = (int64_t)json_integer_value(json_array_get(shape_j, (size_t)d));
    assert_rk_ok(rk_param_init(&params[i], json_string_value(json_object_get(p, "name")), nd, shape));
    fill(params[i].value.data, json_object_get(p, "init"), rk_tensor_numel(&params[i].value));
    ptrs[i] = &params[i];
  }
  /* the fixture's names: body.layer.bias and body.LayerNorm.weight go undecayed */
  assert_int_equal(rk_optim_mark_no_decay(ptrs, n), 2);
  assert_false(params[0].no_decay);
  assert_true(params[1].no_decay && params[2].no_decay);
  if (how == IGNORE_NO_DECAY)
    for (int i = 0; i < n; i++) params[i].no_decay = false;

  rk_optim opt;
  assert_rk_ok(rk_optim_init(&opt, &cfg, ptrs, n));
  double worst = 0.0;
  size_t s;
  json_t *step;
  json_array_foreach(json_object_get(c, "steps"), s, step) {
    double factor = rk_lr_schedule_factor(&sched, (int64_t)s);
    assert_float_equal(factor, num(step, "factor"), 1e-12);
    for (int i = 0; i < n; i++)
      fill(params[i].grad.data, json_array_get(json_object_get(step, "grads"), (size_t)i), rk_tensor_numel(&params[i].grad));
    if (max_norm > 0) {
      double norm;
      assert_rk_ok(rk_optim_clip_global_norm(&norm, ptrs, n, max_norm));
      assert_true(norm > max_norm);   /* the case does clip */
    }
    assert_rk_ok(rk_optim_step(&opt, factor));
    for (int i = 0; i < n; i++) {
      json_t *want = json_array_get(json_object_get(step, "values"), (size_t)i);
      const float *got = params[i].value.data;
      for (int64_t k = 0; k < rk_tensor_numel(&params[i].value); k++) {
        double w = json_number_value(json_array_get(want, (size_t)k));
        double ratio = fabs((double)got[k] - w) / (REF_ATOL + REF_RTOL * fabs(w));
        if (ratio > worst) worst = ratio;
        if (how == AS_FIXTURE && ratio > 1.0)
          fail_msg("%s: %s[%lld] after step %zu is %.9g, torch has %.9g", name, params[i].name, (long long)k, s + 1, got[k], w);
      }
    }
  }
  rk_optim_free(&opt);
  for (int i = 0; i < n; i++) rk_param_free(&params[i]);
  return worst;
}

static void check_case(const char *name) {
  json_t *doc = load_fixture();
  json_t *c = case_named(doc, name);
  double worst = run_case(c, AS_FIXTURE);
  print_message("%s: worst error %.3f of the tolerance\n", name, worst);
  /* each setting matters: getting any one wrong misses the reference */
  assert_true(run_case(c, SWAP_DECAY_ORDER) > 1.0);
  assert_true(run_case(c, SWAP_EPS_MODE) > 1.0);
  assert_true(run_case(c, IGNORE_NO_DECAY) > 1.0);
  json_decref(doc);
}

static void test_transformers_constant_with_warmup(void **state) {
  (void)state;
  check_case("transformers_constant");
}

static void test_transformers_linear_with_warmup_clipped(void **state) {
  (void)state;
  check_case("transformers_linear_clipped");
}

static void test_transformers_cosine_with_warmup(void **state) {
  (void)state;
  check_case("transformers_cosine");
}

static void test_torch_adamw_cosine(void **state) {
  (void)state;
  check_case("torch_cosine");
}

static void test_no_decay_rule_and_checks(void **state) {
  (void)state;
  assert_true(rk_optim_hf_no_decay_name("encoder.h.0.attn.c_attn.bias"));
  assert_true(rk_optim_hf_no_decay_name("features.LayerNorm.weight"));
  assert_false(rk_optim_hf_no_decay_name("features.LayerNorm_weight"));
  assert_false(rk_optim_hf_no_decay_name("encoder.ln_1.weight"));   /* GPT-2's names: decayed, as in the reference */
  assert_false(rk_optim_hf_no_decay_name("item_embeddings.weight"));
  rk_optim_config cfg;
  rk_optim_config_default(&cfg, RK_OPTIM_ADAM, 0.01f);
  cfg.decay_after_update = true;
  rk_optim opt;
  assert_int_equal(rk_optim_init(&opt, &cfg, NULL, 0), RK_EINVAL);
  assert_non_null(strstr(rk_error_message(), "decay_after_update"));
  /* a no-decay mark leaves a plain Adam's L2 out too, and a decay-free parameter moves as
   * it would with weight_decay 0 */
  int64_t shape[1] = {5};
  rk_param a, b;
  assert_rk_ok(rk_param_init(&a, "a", 1, shape));
  assert_rk_ok(rk_param_init(&b, "b", 1, shape));
  for (int k = 0; k < 5; k++) {
    ((float *)a.value.data)[k] = ((float *)b.value.data)[k] = 0.5f * (float)k - 1.0f;
    ((float *)a.grad.data)[k] = ((float *)b.grad.data)[k] = 0.25f - 0.1f * (float)k;
  }
  a.no_decay = true;
  rk_optim oa, ob;
  rk_optim_config ca, cb;
  rk_optim_config_hf_adamw(&ca, 0.01f, 0.5f, 0.9f, 0.999f, 1e-8f);
  rk_optim_config_hf_adamw(&cb, 0.01f, 0.0f, 0.9f, 0.999f, 1e-8f);
  rk_param *pa = &a, *pb = &b;
  assert_rk_ok(rk_optim_init(&oa, &ca, &pa, 1));
  assert_rk_ok(rk_optim_init(&ob, &cb, &pb, 1));
  for (int s = 0; s < 3; s++) {
    assert_rk_ok(rk_optim_step(&oa, 1.0));
    assert_rk_ok(rk_optim_step(&ob, 1.0));
  }
  assert_memory_equal(a.value.data, b.value.data, 5 * sizeof(float));
  rk_optim_free(&oa);
  rk_optim_free(&ob);
  rk_param_free(&a);
  rk_param_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_transformers_constant_with_warmup),
      cmocka_unit_test(test_transformers_linear_with_warmup_clipped),
      cmocka_unit_test(test_transformers_cosine_with_warmup),
      cmocka_unit_test(test_torch_adamw_cosine),
      cmocka_unit_test(test_no_decay_rule_and_checks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
