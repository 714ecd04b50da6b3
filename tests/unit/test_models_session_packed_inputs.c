/*
 * A session model's packed input stage (src/models/session_inputs.c; docs/session_models.md,
 * "Packed rows"): when the body packs, the merge (input dropout, then the real rows gathered,
 * LayerNorm over all features, the linear layer to d_model and its tanh), the [MASK] fill and the
 * body compute the real rows only, and the model is the unpacked one: its eval and predict hidden
 * vectors bit for bit, a train step's loss and every parameter's gradient to float rounding, with
 * input dropout drawing (a share that keeps attention weights keeps the (B, T) rows throughout).
 * Side features: a categorical one (category-list) and a continuous one (price-list, projected),
 * concat and elementwise aggregation, for gpt2 (causal LM), avgseq (its running mean over each
 * session's packed rows: prefix_mean reads them by the row index), xlnet (permutation LM: its query
 * stream filled on the packed rows) and electra with --rtd (the discriminator's input stage
 * packed too); --rtd_use_batch_interaction reads the (B, T) merged rows and keeps them. The rtd
 * cases draw no input dropout: the discriminator's second input stage's draws are keyed by the
 * dropout node's number, which the packed generator body's extra nodes move.
 * Sessions of 5 (every position), 2, 0 and 3 items: a full and an empty session.
 */
#include <math.h>
#include <string.h>

#include "models/session_internal.h"
#include "nn/graph_internal.h"
#include "reckon/sessions.h"
#include "session_model.h"

enum { B = 4, T = 5, ITEM_DIM = 6 };
static const int lens[B] = {5, 2, 0, 3};   /* 10 real rows of 20 */

typedef struct {
  const char *name;
  rk_session_model_kind kind;
  bool plm, rtd, interaction;
} packed_case;

static const packed_case cases[] = {
    {"gpt2", RK_SESSION_GPT2, false, false, false},
    {"avgseq", RK_SESSION_AVGSEQ, false, false, false},
    {"xlnet, permutation LM", RK_SESSION_XLNET, true, false, false},
    {"electra, rtd", RK_SESSION_ELECTRA, false, true, false},
    {"electra, rtd with batch interaction", RK_SESSION_ELECTRA, false, true, true},
};

static void config(rk_session_config *c, const packed_case *k, rk_session_aggregation agg) {
  session_test_config(c, k->kind);
  c->input_features_aggregation = agg;
  c->numeric_features_project_to_embedding_dim = 3;
  c->input_dropout = k->rtd ? 0.0f : 0.25f;   /* rtd: see the top */
  c->layer_norm_all_features = true;
  c->eval_on_last_item_seq_only = true;
  c->mlm_probability = 0.5f;
  c->plm = k->plm;
  c->rtd = k->rtd;
  c->rtd_tied_generator = k->interaction;   /* batch interaction needs the discriminator's width */
  c->rtd_sample_from_batch = c->rtd_use_batch_interaction = k->interaction;
}

static const rk_session_graph *graph_of(const rk_model *m) { return &((const rk_session_model *)m->self)->sg; }

/* Whether the model's merged rows are packed (rows in use), as the case says they should be. */
static void expect_packing(const rk_model *m, const packed_case *k) {
  const rk_session_graph *sg = graph_of(m);
  assert_true(sg->packed);
  bool packed = rk_val(sg->g, sg->merged)->partial_rows;
  if (packed != !k->interaction) fail_msg("%s: the merged rows are %spacked", k->name, packed ? "" : "not ");
}

static void test_packed_train_step_equals_unpacked(void **state) {
  (void)state;
  rk_session_features f;
  session_test_features(&f, true);
  rk_batch b;
  session_test_batch(&b, B, lens, true);
  for (int agg = RK_SESSION_AGG_CONCAT; agg <= RK_SESSION_AGG_ELEMENTWISE; agg++)
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
      rk_session_config c;
      config(&c, &cases[k], (rk_session_aggregation)agg);
      rk_model *m, *unpacked;
      assert_rk_ok(rk_session_build(&m, &f, &c, B, true));
      assert_rk_ok(rk_session_share(&unpacked, m, B, true, true));   /* attention weights: the (B, T) rows */
      expect_packing(m, &cases[k]);
      assert_false(graph_of(unpacked)->packed);
      session_test_pass a, u;
      session_test_train_pass(m, &b, &a);
      session_test_train_pass(unpacked, &b, &u);
      session_test_expect_same_pass(cases[k].name, m, &a, &u);
      unpacked->ops->free(unpacked);
      m->ops->free(m);
    }
  rk_batch_free(&b);
}

/* m's hidden vectors (B sessions x item_dim) in `phase`, with a fresh feed. */
static void hidden(rk_model *m, rk_session_phase phase, const rk_batch *b, float *out) {
  rk_model_feed *feed;
  assert_rk_ok(m->ops->feed_init(&feed, m, NULL, 0, NULL, 1));
  session_test_hidden(m, feed, b, phase, out);
  m->ops->feed_free(feed);
}

static void test_packed_hidden_equals_unpacked(void **state) {
  (void)state;
  static const int eval_lens[3] = {5, 2, 3};
  rk_session_features f;
  session_test_features(&f, true);
  rk_batch b;
  session_test_batch(&b, 3, eval_lens, true);
  for (int agg = RK_SESSION_AGG_CONCAT; agg <= RK_SESSION_AGG_ELEMENTWISE; agg++)
    for (size_t k = 0; k < 3; k++) {   /* gpt2, avgseq and xlnet: an rtd model evaluates its generator alone */
      rk_session_config c;
      config(&c, &cases[k], (rk_session_aggregation)agg);
      rk_model *m, *unpacked;
      assert_rk_ok(rk_session_build(&m, &f, &c, 3, false));
      assert_rk_ok(rk_session_share(&unpacked, m, 3, false, true));
      expect_packing(m, &cases[k]);
      for (int phase = RK_SESSION_PHASE_EVAL; phase <= RK_SESSION_PHASE_PREDICT; phase++) {
        float a[3 * ITEM_DIM], u[3 * ITEM_DIM];
        hidden(m, (rk_session_phase)phase, &b, a);
        hidden(unpacked, (rk_session_phase)phase, &b, u);
        if (memcmp(a, u, sizeof a) != 0) fail_msg("%s, aggregation %d, phase %d: packed and unpacked hidden differ",
                                                  cases[k].name, agg, phase);
      }
      unpacked->ops->free(unpacked);
      m->ops->free(m);
    }
  rk_batch_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_packed_train_step_equals_unpacked),
      cmocka_unit_test(test_packed_hidden_equals_unpacked),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
