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
#include "support.h"

#define N_ITEMS 20

static const int lens[3] = {5, 2, 3};   /* 10 real rows of 15 */

static void features(rk_session_features *f) {
  static rk_session_feature x[2] = {
      {.name = "category-list", .categorical = true, .cardinality = 6, .table = "category-list"},
      {.name = "item_id-list", .categorical = true, .cardinality = N_ITEMS, .table = "item_id-list", .is_item = true}};
  f->features = x;
  f->n = 2;
  f->item = 1;
}

static void config(rk_session_config *c, rk_session_model_kind kind) {
  rk_session_config_default(c);
  c->model_type = kind;
  c->d_model = 8;
  c->n_layer = 2;
  c->n_head = 2;
  c->session_seq_length_max = 5;
  c->item_embedding_dim = 6;
  c->dropout = 0.1f;
  c->seed = 7;
  c->eval_on_last_item_seq_only = true;
}

static void list_column(rk_column *col, const char *name, int64_t modulo) {
  assert_rk_ok(rk_column_init(col, name, RK_COL_LIST, RK_COL_INT64));
  for (int r = 0; r < 3; r++) {
    for (int t = 0; t < lens[r]; t++) assert_rk_ok(rk_column_append_int(col->child, 1 + (3 * r + 2 * t) % modulo));
    assert_rk_ok(rk_column_finish_list_row(col));
  }
}

static void batch(rk_batch *b) {
  assert_rk_ok(rk_batch_init(b, 2));
  list_column(&b->cols[0], "category-list", 5);
  list_column(&b->cols[1], "item_id-list", N_ITEMS - 1);
  b->nrows = 3;
}

/* m's hidden vectors (3 sessions x item_dim) in `phase`, with a fresh feed. */
static void hidden(rk_model *m, rk_session_phase phase, const rk_batch *b, float *out) {
  rk_model_feed *feed;
  assert_rk_ok(m->ops->feed_init(&feed, m, NULL, 0, NULL, 1));
  assert_rk_ok(rk_session_feed_set_phase(feed, phase));
  assert_rk_ok(m->ops->feed_fill(feed, b, 0));
  assert_rk_ok(rk_graph_forward(m->g, RK_EVAL));
  const rk_session_outputs *o = rk_session_model_outputs(m);
  memcpy(out, rk_graph_value_f32(m->g, o->hidden), (size_t)rk_graph_value_numel(m->g, o->hidden) * sizeof *out);
  m->ops->feed_free(feed);
}

static void test_packed_equals_unpacked(void **state) {
  (void)state;
  const rk_session_model_kind kinds[3] = {RK_SESSION_GPT2, RK_SESSION_BERT, RK_SESSION_ALBERT};
  rk_session_features f;
  features(&f);
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
  features(&f);
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
