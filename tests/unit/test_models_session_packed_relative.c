/*
 * The relative-position session models' packed body (src/models/session_xlnet.c; docs/
 * session_models.md, "Packed rows"): xlnet with the causal, masked and permutation LM tasks and
 * transfoxl (mem_len 2) run their real rows only. Against the unpacked body (a share asked for
 * attention weights keeps the (B, T) layout): the eval and predict hidden vectors bit for bit,
 * and a train step's loss and every parameter's gradient (the same batch, masking draws and
 * step; dropout off, since the two graphs number their dropout nodes apart: tests/unit/
 * test_nn_packed_rows and test_nn_packed_rel_rows check the draws with the nodes numbered alike).
 * And a session's prediction does not depend on the sessions batched with it (the rows in use),
 * which `reckon serve` against `--do_predict` needs bit for bit.
 */
#include <math.h>
#include <string.h>

#include "models/session_internal.h"
#include "reckon/sessions.h"
#include "session_model.h"

static const int lens[4] = {5, 2, 3, 4};   /* 14 real rows of 20 */

typedef struct {
  const char *name;
  rk_session_model_kind kind;
  bool mlm, plm;
} relative_case;

static const relative_case cases[4] = {
    {"xlnet causal LM", RK_SESSION_XLNET, false, false},
    {"xlnet masked LM", RK_SESSION_XLNET, true, false},
    {"xlnet permutation LM", RK_SESSION_XLNET, false, true},
    {"transfoxl", RK_SESSION_TRANSFOXL, false, false},
};

static void config(rk_session_config *c, const relative_case *k, float dropout) {
  session_test_config(c, k->kind);
  c->mlm = k->mlm;
  c->plm = k->plm;
  c->mlm_probability = 0.4;
  c->plm_probability = 0.5;
  c->plm_max_span_length = 2;
  c->mem_len = 2;
  c->dropout = dropout;
  c->eval_on_last_item_seq_only = true;
}

/* m's hidden vectors (4 sessions x item_dim) in `phase`, with a fresh feed. */
static void hidden(rk_model *m, rk_session_phase phase, const rk_batch *b, float *out) {
  rk_model_feed *feed;
  assert_rk_ok(m->ops->feed_init(&feed, m, NULL, 0, NULL, 1));
  session_test_hidden(m, feed, b, phase, out);
  m->ops->feed_free(feed);
}

static void test_eval_and_predict_equal_unpacked(void **state) {
  (void)state;
  rk_session_features f;
  session_test_features(&f, false);
  rk_batch b;
  session_test_batch(&b, 4, lens, false);
  for (int k = 0; k < 4; k++) {
    rk_session_config c;
    config(&c, &cases[k], 0.1f);   /* off in the eval graphs compared */
    rk_model *m, *unpacked;
    assert_rk_ok(rk_session_build(&m, &f, &c, 4, false));
    assert_rk_ok(rk_session_share(&unpacked, m, 4, false, true));
    assert_true(rk_session_of(m)->sg.packed);
    assert_false(rk_session_of(unpacked)->sg.packed);
    for (int phase = RK_SESSION_PHASE_EVAL; phase <= RK_SESSION_PHASE_PREDICT; phase++) {
      float a[4 * 6], u[4 * 6];
      hidden(m, (rk_session_phase)phase, &b, a);
      hidden(unpacked, (rk_session_phase)phase, &b, u);
      if (memcmp(a, u, sizeof a) != 0) fail_msg("%s, phase %d: packed and unpacked hidden differ", cases[k].name, phase);
      bool zero = true;
      for (int i = 0; i < 4 * 6; i++) zero &= a[i] == 0.0f;
      assert_false(zero);
    }
    unpacked->ops->free(unpacked);
    m->ops->free(m);
  }
  rk_batch_free(&b);
}

static void test_prediction_independent_of_batch(void **state) {
  (void)state;
  rk_session_features f;
  session_test_features(&f, false);
  for (int k = 0; k < 4; k++) {
    rk_session_config c;
    config(&c, &cases[k], 0.1f);
    rk_model *m;
    assert_rk_ok(rk_session_build(&m, &f, &c, 4, false));
    float all[4 * 6];
    rk_batch b;
    session_test_batch(&b, 4, lens, false);
    hidden(m, RK_SESSION_PHASE_PREDICT, &b, all);
    rk_batch_free(&b);
    for (int n = 1; n < 4; n++) {   /* the first n sessions alone: fewer rows in use */
      float some[4 * 6];
      session_test_batch(&b, n, lens, false);
      hidden(m, RK_SESSION_PHASE_PREDICT, &b, some);
      rk_batch_free(&b);
      if (memcmp(some, all, (size_t)(n * 6) * sizeof(float)) != 0)
        fail_msg("%s: the first %d sessions predict otherwise alone than in a batch of 4", cases[k].name, n);
    }
    m->ops->free(m);
  }
}

/* One train step's loss of m over b (step 3), its gradients left in the parameters. */
static float train_step(rk_model *m, const rk_batch *b) {
  rk_model_feed *feed;
  assert_rk_ok(m->ops->feed_init(&feed, m, NULL, 0, NULL, 1));
  assert_rk_ok(m->ops->feed_fill(feed, b, 3));
  rk_graph_zero_grad(m->g);
  rk_graph_set_step(m->g, 3);
  assert_rk_ok(rk_graph_forward(m->g, RK_TRAIN));
  assert_rk_ok(rk_graph_backward(m->g));
  m->ops->feed_free(feed);
  return rk_graph_value_f32(m->g, rk_session_model_outputs(m)->loss)[0];
}

static void test_train_step_equals_unpacked(void **state) {
  (void)state;
  rk_session_features f;
  session_test_features(&f, false);
  rk_batch b;
  session_test_batch(&b, 4, lens, false);
  for (int k = 0; k < 4; k++) {
    const char *name = cases[k].name;
    rk_session_config c;
    config(&c, &cases[k], 0.0f);
    rk_model *m, *unpacked;
    assert_rk_ok(rk_session_build(&m, &f, &c, 4, true));
    assert_rk_ok(rk_session_share(&unpacked, m, 4, true, true));
    assert_true(rk_session_of(m)->sg.packed);
    assert_false(rk_session_of(unpacked)->sg.packed);
    const rk_session_params *p = rk_session_of(m)->params;
    float loss_unpacked = train_step(unpacked, &b);
    float **want = calloc((size_t)p->n, sizeof *want);
    for (int i = 0; i < p->n; i++) {
      size_t bytes = (size_t)rk_tensor_numel(&p->list[i]->grad) * sizeof(float);
      want[i] = malloc(bytes);
      memcpy(want[i], p->list[i]->grad.data, bytes);
    }
    float loss = train_step(m, &b);
    assert_true(loss_unpacked > 0.0f);
    if (fabsf(loss - loss_unpacked) > 1e-6f * loss_unpacked)
      fail_msg("%s: loss packed %.9g, unpacked %.9g", name, loss, loss_unpacked);
    int nonzero = 0;
    for (int i = 0; i < p->n; i++) {
      const float *g = p->list[i]->grad.data;
      for (int64_t j = 0; j < rk_tensor_numel(&p->list[i]->grad); j++) {
        nonzero += g[j] != 0.0f;
        if (fabsf(g[j] - want[i][j]) > 1e-6f + 1e-5f * fabsf(want[i][j]))
          fail_msg("%s: d %s[%lld]: packed %.9g, unpacked %.9g", name, p->list[i]->name, (long long)j, g[j],
                   want[i][j]);
      }
      free(want[i]);
    }
    free(want);
    assert_true(nonzero > 100);
    unpacked->ops->free(unpacked);
    m->ops->free(m);
  }
  rk_batch_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_eval_and_predict_equal_unpacked),
      cmocka_unit_test(test_train_step_equals_unpacked),
      cmocka_unit_test(test_prediction_independent_of_batch),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
