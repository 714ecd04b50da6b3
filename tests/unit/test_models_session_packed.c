/*
 * A session model's packed body (src/models/session_graph.c; docs/session_models.md, "Packed
 * rows"): the eval and predict graphs of gpt2, bert and albert run on the real rows only, and
 * their hidden vectors are the unpacked body's bit for bit (a share asked for attention weights
 * keeps the (B, T) body); the packing's bookkeeping (n real rows, reads and labels as packed
 * row numbers) and its refusal of a read or a label on a padded row, naming the session.
 */
#include <string.h>

#include "models/session_internal.h"
#include "reckon/sessions.h"
#include "session_model.h"

static const int lens[3] = {5, 2, 3};   /* 10 real rows of 15 */

/* The tests' small model, with dropout (off in the eval graphs compared) and scored on each
 * session's last item. */
static void config(rk_session_config *c, rk_session_model_kind kind) {
  session_test_config(c, kind);
  c->dropout = 0.1f;
  c->eval_on_last_item_seq_only = true;
}

static void batch(rk_batch *b) { session_test_batch(b, 3, lens, false); }

/* m's hidden vectors (3 sessions x item_dim) in `phase`, with a fresh feed. */
static void hidden(rk_model *m, rk_session_phase phase, const rk_batch *b, float *out) {
  rk_model_feed *feed;
  assert_rk_ok(m->ops->feed_init(&feed, m, NULL, 0, NULL, 1));
  session_test_hidden(m, feed, b, phase, out);
  m->ops->feed_free(feed);
}

static void test_packed_equals_unpacked(void **state) {
  (void)state;
  const rk_session_model_kind kinds[3] = {RK_SESSION_GPT2, RK_SESSION_BERT, RK_SESSION_ALBERT};
  rk_session_features f;
  session_test_features(&f, false);
  rk_batch b;
  batch(&b);
  for (int k = 0; k < 3; k++) {
    rk_session_config c;
    config(&c, kinds[k]);
    rk_model *m, *unpacked;
    assert_rk_ok(rk_session_build(&m, &f, &c, 3, false));
    assert_rk_ok(rk_session_share(&unpacked, m, 3, false, true));   /* attention weights: the (B, T) body */
    assert_true(((const rk_session_model *)m->self)->sg.packed);
    assert_false(((const rk_session_model *)unpacked->self)->sg.packed);
    for (int phase = RK_SESSION_PHASE_EVAL; phase <= RK_SESSION_PHASE_PREDICT; phase++) {
      float a[3 * 6], u[3 * 6];
      hidden(m, (rk_session_phase)phase, &b, a);
      hidden(unpacked, (rk_session_phase)phase, &b, u);
      if (memcmp(a, u, sizeof a) != 0) fail_msg("model kind %d, phase %d: packed and unpacked hidden differ", k, phase);
    }
    unpacked->ops->free(unpacked);
    m->ops->free(m);
  }
  rk_batch_free(&b);
}

/* The packing of a train graph: the real rows in order with their positions, the labelled rows
 * as packed row numbers; a read or a label on a row without a key is refused. */
static void test_packing(void **state) {
  (void)state;
  rk_session_features f;
  session_test_features(&f, false);
  rk_session_config c;
  config(&c, RK_SESSION_GPT2);
  rk_model *m;
  assert_rk_ok(rk_session_build(&m, &f, &c, 3, true));
  rk_model_feed *feed;
  assert_rk_ok(m->ops->feed_init(&feed, m, NULL, 0, NULL, 1));
  rk_batch b;
  batch(&b);
  assert_rk_ok(m->ops->feed_fill(feed, &b, 0));
  const rk_session_graph *sg = &((const rk_session_model *)m->self)->sg;
  const int64_t *rows = rk_graph_input_ids_data(sg->g, sg->packed_rows);
  const int64_t *pos = rk_graph_input_ids_data(sg->g, sg->packed_positions);
  const int64_t *labelled = rk_graph_input_ids_data(sg->g, sg->labelled);
  const int64_t want_rows[10] = {0, 1, 2, 3, 4, 5, 6, 10, 11, 12};
  for (int i = 0; i < 15; i++) {
    assert_int_equal(rows[i], i < 10 ? want_rows[i] : -1);
    assert_int_equal(pos[i], i < 10 ? want_rows[i] % 5 : -1);
  }
  /* causal LM: every real row but a session's last has a label (4 + 1 + 2) */
  const int64_t want_labelled[7] = {0, 1, 2, 3, 5, 7, 8};
  for (int i = 0; i < 15; i++) assert_int_equal(labelled[i], i < 7 ? want_labelled[i] : -1);
  assert_rk_ok(rk_graph_forward(m->g, RK_TRAIN));
  int64_t *keys = rk_graph_input_ids_data(sg->g, sg->keys);
  keys[10] = 0;   /* session 2's first row, which has a label */
  assert_int_equal(rk_session_graph_pack(sg, c.pad_token), RK_EINVAL);
  assert_non_null(strstr(rk_error_message(), "session 2: a label at position 0, which holds no item"));
  m->ops->feed_free(feed);
  m->ops->free(m);
  /* an eval graph reads one row per session: a padded row there is refused */
  assert_rk_ok(rk_session_build(&m, &f, &c, 3, false));
  assert_rk_ok(m->ops->feed_init(&feed, m, NULL, 0, NULL, 1));
  assert_rk_ok(m->ops->feed_fill(feed, &b, 0));
  sg = &((const rk_session_model *)m->self)->sg;
  keys = rk_graph_input_ids_data(sg->g, sg->keys);
  keys[3] = 0;   /* the row session 0 is evaluated at (it predicts item 4 from items 0..3) */
  assert_int_equal(rk_session_graph_pack(sg, c.pad_token), RK_EINVAL);
  assert_non_null(strstr(rk_error_message(), "session 0: a read at position 3, which holds no item"));
  m->ops->feed_free(feed);
  m->ops->free(m);
  rk_batch_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_packed_equals_unpacked),
      cmocka_unit_test(test_packing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
