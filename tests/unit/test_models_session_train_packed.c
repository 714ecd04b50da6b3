/*
 * The train graphs that pack beyond the full softmax's (src/models/session_graph.c,
 * session_rtd.c, session_sampling.c; docs/session_models.md, "Packed rows"): their loss and
 * every parameter's gradient equal the unpacked graph's (a share that keeps attention weights
 * keeps the (B, T) bodies) to float rounding.
 *   --rtd                an electra's generator body and discriminator body on the real rows,
 *                        with the same draws (a row's draw is keyed by its row of B T, not its
 *                        packed number): the separate generator (the default), a tied one
 *                        drawing from the catalogue, one drawing from the batch with
 *                        --rtd_use_batch_interaction, and bert as its own generator
 *   --negative_sampling  the labelled rows' in-batch candidates masked by the rows' sessions
 *                        (cross-entropy and bpr_max_reg, gpt2 and bert; no extra draws: those
 *                        are keyed by the node's number, which the packing moves)
 * Sessions of 5 (every position), 2, 0 and 3 items: a full and an empty session.
 */
#include <math.h>
#include <string.h>

#include "models/session_internal.h"
#include "nn/graph_internal.h"
#include "reckon/sessions.h"
#include "session_model.h"

enum { B = 4, T = 5 };
static const int lens[B] = {5, 2, 0, 3};   /* 10 real rows of 20 */

typedef struct {
  const char *name;
  rk_session_model_kind kind;
  bool rtd, tied, from_batch;   /* --rtd, else --negative_sampling with loss */
  rk_session_loss loss;
} train_case;

static void config(rk_session_config *c, const train_case *k) {
  session_test_config(c, k->kind);
  c->mlm_probability = 0.5f;
  if (!k->rtd) {
    c->negative_sampling = true;
    c->loss_type = k->loss;
    c->neg_sampling_extra_samples_per_batch = 0;
    c->bpr_max_reg_lambda = 0.1f;
    return;
  }
  c->rtd = true;
  c->rtd_tied_generator = k->tied;
  c->electra_generator_hidden_size = 0.5f;   /* a generator 4 wide, the discriminator 8 */
  c->rtd_sample_from_batch = c->rtd_use_batch_interaction = k->from_batch;
  c->rtd_discriminator_loss_weight = 20.0f;
}

/* The corrupted items of m's last train pass (--rtd: a graph output). */
static void fake_items(const rk_model *m, int64_t fake[B * T]) {
  const rk_session_graph *sg = &((const rk_session_model *)m->self)->sg;
  memcpy(fake, rk_xi(sg->g, sg->rtd_fake), B * T * sizeof *fake);
}

/* Each case packed and unpacked: equal loss and gradients (and --rtd: the same draws, some of
 * them replacements). */
static void packed_equals_unpacked(const train_case *cases, size_t n_cases) {
  rk_session_features f;
  session_test_features(&f, true);
  rk_batch b;
  session_test_batch(&b, B, lens, true);
  for (size_t k = 0; k < n_cases; k++) {
    rk_session_config c;
    config(&c, &cases[k]);
    rk_model *m, *unpacked;
    assert_rk_ok(rk_session_build(&m, &f, &c, B, true));
    assert_rk_ok(rk_session_share(&unpacked, m, B, true, true));   /* attention weights: the (B, T) bodies */
    assert_true(((const rk_session_model *)m->self)->sg.packed);
    assert_false(((const rk_session_model *)unpacked->self)->sg.packed);
    session_test_pass a, u;
    session_test_train_pass(m, &b, &a);
    session_test_train_pass(unpacked, &b, &u);
    if (cases[k].rtd) {
      int64_t fa[B * T], fu[B * T];
      fake_items(m, fa);
      fake_items(unpacked, fu);
      if (memcmp(fa, fu, sizeof fa) != 0) fail_msg("%s: the packed graph drew other items", cases[k].name);
      int64_t replaced = 0;   /* the draws replaced some items: the discriminator has both labels to learn */
      const int64_t *items = rk_graph_input_ids_data(m->g, ((const rk_session_model *)m->self)->sg.inputs[f.item]);
      for (int r = 0; r < B * T; r++) replaced += fa[r] != items[r];
      if (replaced == 0) fail_msg("%s: no item was replaced", cases[k].name);
    }
    session_test_expect_same_pass(cases[k].name, m, &a, &u);
    unpacked->ops->free(unpacked);
    m->ops->free(m);
  }
  rk_batch_free(&b);
}

static void test_packed_rtd_equals_unpacked(void **state) {
  (void)state;
  const train_case cases[] = {
      {"electra, separate generator", RK_SESSION_ELECTRA, true, false, false, RK_SESSION_LOSS_CE},
      {"electra, tied, catalogue draws", RK_SESSION_ELECTRA, true, true, false, RK_SESSION_LOSS_CE},
      {"electra, tied, batch draws and interaction", RK_SESSION_ELECTRA, true, true, true, RK_SESSION_LOSS_CE},
      {"bert, tied", RK_SESSION_BERT, true, true, false, RK_SESSION_LOSS_CE},
  };
  packed_equals_unpacked(cases, sizeof cases / sizeof *cases);
}

static void test_packed_negative_sampling_equals_unpacked(void **state) {
  (void)state;
  const train_case cases[] = {
      {"gpt2, negative sampling, cross-entropy", RK_SESSION_GPT2, false, false, false, RK_SESSION_LOSS_CE},
      {"gpt2, negative sampling, bpr_max_reg", RK_SESSION_GPT2, false, false, false, RK_SESSION_LOSS_BPR_MAX_REG},
      {"bert, negative sampling, cross-entropy", RK_SESSION_BERT, false, false, false, RK_SESSION_LOSS_CE},
  };
  packed_equals_unpacked(cases, sizeof cases / sizeof *cases);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_packed_rtd_equals_unpacked),
      cmocka_unit_test(test_packed_negative_sampling_equals_unpacked),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
