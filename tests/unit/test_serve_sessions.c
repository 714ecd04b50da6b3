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

#include "reckon/io.h"
#include "reckon/serve.h"
#include "support.h"

#ifndef RECKON_BINARY_DIR
#define RECKON_BINARY_DIR "."
#endif

enum { K = 5 };
static char dir[1024];

static void read_table(const char *path, bool csv, rk_batch *out) {
  rk_source_options so;
  rk_source_options_default(&so);
  so.batch_rows = 1000000;
  static const char *names[] = {"session_id", "timestamp", "item_id", "category"};
  if (csv) {
    so.csv_no_header = true;
    so.csv_column_names = names;
    so.n_csv_column_names = 4;
  }
  rk_table_source *src = NULL;
  assert_rk_ok(rk_source_open(&src, path, &so));
  assert_rk_ok(src->next(src, out));
  src->close(src);
}

/* The events' column as the config's datatype: INT64 values or BYTES strings. */
static void *tensor_bytes(const rk_column *col, rk_serve_dtype dt, int64_t *nbytes) {
  if (dt == RK_SERVE_DT_INT64) {
    int64_t *v = malloc((size_t)col->length * 8 + 8);
    for (int64_t r = 0; r < col->length; r++) v[r] = rk_column_get_int(col, r);
    *nbytes = col->length * 8;
    return v;
  }
  assert_int_equal(dt, RK_SERVE_DT_BYTES);
  unsigned char *p = malloc((size_t)(col->offsets[col->length] + 4 * col->length) + 1), *q = p;
  for (int64_t r = 0; r < col->length; r++) {
    size_t len;
    const char *s = rk_column_get_string(col, r, &len);
    uint32_t n = (uint32_t)len;
    memcpy(q, &n, 4);   /* little-endian host */
    memcpy(q + 4, s, len);
    q += 4 + len;
  }
  *nbytes = q - p;
  return p;
}

static void session_top_k(void **state) {
  (void)state;
  snprintf(dir, sizeof dir, "%s", rk_test_tmpdir("serve_sessions"));
  const char *R = RECKON_BINARY_DIR "/reckon";
  int rc = rk_test_system(
      "cd '%s' && %s synth sessions --layout yoochoose --sessions 300 --days 3 --items 60 --seed 7 --output clicks.csv "
      "--quiet >/dev/null 2>&1 && "
      "%s preprocess --data_path clicks.csv --csv_header false --csv_column_names session_id,timestamp,item_id,category "
      "--session_id_feature session_id --timestamp_feature timestamp --item_id_feature item_id "
      "--categorical_features item_id,category --quiet --output_path days && "
      "%s sessions --threads 1 --output_dir w --do_train --data_path days --start_time_window_index 1 "
      "--per_device_train_batch_size 32 --d_model 16 --n_layer 1 --n_head 2 --max_steps 3 --eval_on_last_item_seq_only "
      "--quiet && head -250 clicks.csv | grep -v ',,' | grep -v ',$' > ev.csv && "
      "%s transform --workflow w/model/workflow --csv_header false --csv_column_names session_id,timestamp,item_id,category "
      "ev.csv ev_t --quiet && "
      "%s sessions --threads 1 --output_dir pred --do_predict --model_name_or_path w/model --data_path days "
      "--predict_data_path ev_t --predict_top_k %d --per_device_eval_batch_size 16 --quiet && "
      "%s export --model_path w/model --output_path repo --name t4r --top_k %d --quiet",
      dir, R, R, R, R, R, K, R, K);
  assert_int_equal(rc, 0);
  rk_batch events = {0}, pred = {0};
  read_table(rk_test_path(dir, "ev.csv"), true, &events);
  read_table(rk_test_path(dir, "pred/predictions.parquet"), false, &pred);
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
    void *data = tensor_bytes(col, c.input[i].data_type, &nbytes);
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
