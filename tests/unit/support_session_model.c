/* The small session model of the unit tests: see session_model.h. */
#include "session_model.h"

#include <math.h>
#include <string.h>

void session_test_features(rk_session_features *f, bool with_price) {
  static rk_session_feature x[3] = {
      {.name = "category-list", .categorical = true, .cardinality = 6, .table = "category-list"},
      {.name = "item_id-list", .categorical = true, .cardinality = SESSION_TEST_ITEMS, .table = "item_id-list",
       .is_item = true},
      {.name = "price-list", .categorical = false}};
  f->features = x;
  f->n = with_price ? 3 : 2;
  f->item = 1;
}

void session_test_config(rk_session_config *c, rk_session_model_kind kind) {
  rk_session_config_default(c);
  c->model_type = kind;
  c->d_model = 8;
  c->n_layer = 2;
  c->n_head = 2;
  c->session_seq_length_max = 5;
  c->item_embedding_dim = 6;
  c->dropout = 0.0f;
  c->seed = 7;
}

void session_test_list_column(rk_column *col, const char *name, bool ints, int rows, const int *lens, int64_t modulo) {
  assert_rk_ok(rk_column_init(col, name, RK_COL_LIST, ints ? RK_COL_INT64 : RK_COL_FLOAT32));
  for (int r = 0; r < rows; r++) {
    for (int t = 0; t < lens[r]; t++) {
      if (ints) assert_rk_ok(rk_column_append_int(col->child, 1 + (3 * r + 2 * t) % modulo));
      else assert_rk_ok(rk_column_append_double(col->child, 0.25 * r - 0.1 * t));
    }
    assert_rk_ok(rk_column_finish_list_row(col));
  }
}

void session_test_batch(rk_batch *b, int rows, const int *lens, bool with_price) {
  assert_rk_ok(rk_batch_init(b, with_price ? 3 : 2));
  session_test_list_column(&b->cols[0], "category-list", true, rows, lens, 5);
  session_test_list_column(&b->cols[1], "item_id-list", true, rows, lens, SESSION_TEST_ITEMS - 1);
  if (with_price) session_test_list_column(&b->cols[2], "price-list", false, rows, lens, 0);
  b->nrows = rows;
}

void session_test_hidden(rk_model *m, rk_model_feed *feed, const rk_batch *b, rk_session_phase phase, float *out) {
  assert_rk_ok(rk_session_feed_set_phase(feed, phase));
  assert_rk_ok(m->ops->feed_fill(feed, b, 0));
  assert_rk_ok(rk_graph_forward(m->g, RK_EVAL));
  const rk_session_outputs *o = rk_session_model_outputs(m);
  memcpy(out, rk_graph_value_f32(m->g, o->hidden), (size_t)rk_graph_value_numel(m->g, o->hidden) * sizeof *out);
}

rk_status session_test_build_share_feed(const rk_session_features *f, const rk_session_config *c) {
  rk_model *m = NULL, *s = NULL;
  rk_model_feed *feed = NULL;
  rk_status st = rk_session_build(&m, f, c, 2, true);
  if (st == RK_OK) st = rk_session_share(&s, m, 3, false, true);
  if (st == RK_OK) st = s->ops->feed_init(&feed, s, NULL, 0, NULL, 1);
  if (feed) s->ops->feed_free(feed);
  if (s) s->ops->free(s);
  if (m) m->ops->free(m);
  return st;
}

void session_test_train_pass(rk_model *m, const rk_batch *b, session_test_pass *out) {
  rk_model_feed *feed;
  assert_rk_ok(m->ops->feed_init(&feed, m, NULL, 0, NULL, 1));
  assert_rk_ok(m->ops->feed_fill(feed, b, 3));
  rk_graph_set_step(m->g, 3);
  rk_graph_zero_grad(m->g);
  assert_rk_ok(rk_graph_forward(m->g, RK_TRAIN));
  assert_rk_ok(rk_graph_backward(m->g));
  out->loss = rk_graph_value_f32(m->g, m->out.loss)[0];
  assert_true(m->n_params <= SESSION_TEST_MAX_PARAMS);
  for (int i = 0; i < m->n_params; i++) {
    const rk_param *p = m->params[i];
    assert_false(p->sparse);
    size_t bytes = (size_t)rk_tensor_numel(&p->grad) * sizeof(float);
    out->grads[i] = test_malloc(bytes);
    memcpy(out->grads[i], p->grad.data, bytes);
  }
  m->ops->feed_free(feed);
}

static void expect_close(const char *what, const char *name, float got, float want) {
  if (!(fabsf(got - want) <= 1e-6f + 2e-5f * fabsf(want))) fail_msg("%s, %s: packed %.9g, unpacked %.9g", what, name, got, want);
}

void session_test_expect_same_pass(const char *what, const rk_model *m, session_test_pass *a, session_test_pass *u) {
  if (!(a->loss > 0.0f && isfinite(a->loss))) fail_msg("%s: loss %g", what, a->loss);
  expect_close(what, "loss", a->loss, u->loss);
  for (int i = 0; i < m->n_params; i++) {
    const rk_param *p = m->params[i];
    for (int64_t j = 0; j < rk_tensor_numel(&p->grad); j++) expect_close(what, p->name, a->grads[i][j], u->grads[i][j]);
    test_free(a->grads[i]);
    test_free(u->grads[i]);
  }
}
