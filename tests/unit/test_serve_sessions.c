/*
 * Serving a session model: a GPT-2 trained by `reckon sessions` on the session ETL's output,
 * exported with --top_k by `reckon export` and served in-process. Raw click events in (ids as
 * INT64, ISO 8601 times as BYTES), one row per session out, sorted by session id: its top-k items
 * and scores, exactly (bit for bit) what `reckon transform` then `reckon sessions --do_predict`
 * write for the same events. (Events with an empty cell are left out: a tensor has no nulls.)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session_serve.h"

enum { K = 5 };
static char dir[1024];

static void session_top_k(void **state) {
  (void)state;
  snprintf(dir, sizeof dir, "%s", rk_test_tmpdir("serve_sessions"));
  int rc = session_serve_fixture(dir, K);
  assert_int_equal(rc, 0);
  rk_batch events = {0}, pred = {0};
  session_serve_read_table(rk_test_path(dir, "ev.csv"), true, &events);
  session_serve_read_table(rk_test_path(dir, "pred/predictions.parquet"), false, &pred);
  const rk_column *want_ids = &pred.cols[rk_batch_find(&pred, "rec_item_ids")];
  const rk_column *want_scores = &pred.cols[rk_batch_find(&pred, "rec_item_scores")];

  rk_serve_options o;
  rk_serve_options_default(&o);
  o.repository = rk_test_path(dir, "repo");
  o.workers = 2;
  rk_server *s = NULL;
  assert_rk_ok(rk_server_open(&s, &o));
  assert_true(rk_server_ready(s));
  rk_model_config c;
  assert_rk_ok(rk_server_model_config(s, "t4r", 0, &c, NULL));
  assert_int_equal(c.n_input, 4);
  rk_serve_input in[4];
  for (int i = 0; i < c.n_input; i++) {
    const rk_column *col = &events.cols[rk_batch_find(&events, c.input[i].name)];
    int64_t nbytes;
    void *data = session_serve_tensor_bytes(col, c.input[i].data_type, 0, events.nrows, &nbytes);
    in[i] = (rk_serve_input){c.input[i].name, c.input[i].data_type, 2, {events.nrows, 1}, data, nbytes};
  }
  rk_serve_request req = {.model = "t4r", .inputs = in, .n_inputs = 4};
  rk_serve_response resp;
  assert_rk_ok(rk_server_infer(s, &req, &resp));
  assert_int_equal(resp.n_outputs, 2);
  assert_string_equal(resp.outputs[0].name, "item_ids");
  assert_string_equal(resp.outputs[1].name, "item_id_scores");
  int64_t sessions = resp.outputs[0].shape[0];
  assert_int_equal(sessions, pred.nrows);   /* one row per session of the events */
  assert_int_equal(resp.outputs[0].shape[1], K);
  const int64_t *ids = resp.outputs[0].data;
  const float *scores = resp.outputs[1].data;
  for (int64_t r = 0; r < sessions; r++) {
    int64_t a = want_ids->offsets[r], n = want_ids->offsets[r + 1] - a;
    for (int64_t i = 0; i < K; i++) {
      int64_t want = i < n ? ((const int64_t *)want_ids->child->values)[a + i] : -1;
      if (ids[r * K + i] != want) fail_msg("session row %lld, rank %lld: item %lld, --do_predict %lld", (long long)r,
                                           (long long)i, (long long)ids[r * K + i], (long long)want);
      if (i < n && memcmp(&scores[r * K + i], (const float *)want_scores->child->values + a + i, 4) != 0)
        fail_msg("session row %lld, rank %lld: score %.9g, --do_predict %.9g", (long long)r, (long long)i,
                 scores[r * K + i], ((const float *)want_scores->child->values)[a + i]);
    }
  }
  rk_serve_response_free(&resp);
  /* BYTES framing is checked before anything runs: a length past the end, or bytes left over */
  for (int i = 0; i < 4; i++) {
    if (in[i].datatype != RK_SERVE_DT_BYTES) continue;
    rk_serve_input saved = in[i];
    static const int64_t cut[] = {-1, -5};
    for (size_t k = 0; k < sizeof cut / sizeof *cut; k++) {
      in[i].nbytes = saved.nbytes + cut[k];
      rk_status st = rk_server_infer(s, &req, &resp);
      assert_int_equal(rk_serve_error_code(st), RK_SERVE_INVALID);
      if (!strstr(rk_error_message(), "BYTES elements")) fail_msg("'%s'", rk_error_message());
    }
    unsigned char *huge = malloc((size_t)saved.nbytes);
    memcpy(huge, saved.data, (size_t)saved.nbytes);
    huge[3] = 0x7f;   /* the first element claims ~2 GiB */
    in[i].data = huge;
    in[i].nbytes = saved.nbytes;
    rk_status st = rk_server_infer(s, &req, &resp);
    assert_int_equal(rk_serve_error_code(st), RK_SERVE_INVALID);
    free(huge);
    in[i] = saved;
  }
  for (int i = 0; i < 4; i++) free((void *)in[i].data);
  rk_model_config_free(&c);
  rk_server_close(s);
  rk_batch_free(&events);
  rk_batch_free(&pred);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(session_top_k),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
