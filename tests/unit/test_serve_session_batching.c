/*
 * Dynamic batching of a session model: requests to a GPT-2 ensemble that meet in one batch
 * (the workflow step transforms each request's events alone, the model step runs all their
 * sessions at once, the outputs are split by each request's session count) get exactly, bit for
 * bit, the answers they get alone, and `reckon sessions --do_predict`'s. 16 requests are queued
 * while the model step waits for all their rows (preferred_batch_size = their sum, a long queue
 * delay): request 0 holds every event, requests 1..15 slices of them that cut sessions in two (a
 * session id in two requests stays two sessions). The statistics show one batch.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session_serve.h"

enum { K = 5, REQUESTS = 16, N_IN = 4 };

typedef struct {
  pthread_mutex_t lock;
  pthread_cond_t done;
  int answered;
  rk_status status[REQUESTS];
  rk_serve_response resp[REQUESTS];
} answers;

typedef struct {
  answers *a;
  int k;
} slot;

static void on_done(void *ctx, rk_status st, rk_serve_code code, rk_serve_response *resp) {
  (void)code;
  slot *sl = ctx;
  pthread_mutex_lock(&sl->a->lock);
  sl->a->status[sl->k] = st;
  if (st == RK_OK) sl->a->resp[sl->k] = *resp;
  sl->a->answered++;
  pthread_cond_signal(&sl->a->done);
  pthread_mutex_unlock(&sl->a->lock);
}

static rk_server *open_server(const char *repo) {
  rk_serve_options o;
  rk_serve_options_default(&o);
  o.repository = repo;
  o.workers = 2;
  rk_server *s = NULL;
  assert_rk_ok(rk_server_open(&s, &o));
  assert_true(rk_server_ready(s));
  return s;
}

static void model_stats(rk_server *s, const char *name, uint64_t *executions, uint64_t *rows) {
  rk_serve_stats st;
  assert_rk_ok(rk_server_stats(s, name, 0, &st));
  assert_int_equal(st.n, 1);
  *executions = st.models[0].execution_count;
  *rows = st.models[0].inference_count;
  rk_serve_stats_free(&st);
}

static void assert_same_response(const rk_serve_response *got, const rk_serve_response *want, int k) {
  assert_int_equal(got->n_outputs, want->n_outputs);
  for (int i = 0; i < got->n_outputs; i++) {
    const rk_serve_output *g = &got->outputs[i], *w = &want->outputs[i];
    assert_string_equal(g->name, w->name);
    if (g->shape[0] != w->shape[0] || g->shape[1] != w->shape[1])
      fail_msg("request %d, %s: shape [%lld, %lld] batched, [%lld, %lld] alone", k, g->name, (long long)g->shape[0],
               (long long)g->shape[1], (long long)w->shape[0], (long long)w->shape[1]);
    assert_int_equal(g->nbytes, w->nbytes);
    if (memcmp(g->data, w->data, (size_t)g->nbytes) != 0) fail_msg("request %d, %s: bits differ from alone", k, g->name);
  }
}

/* Request 0 (every event) against --do_predict's rows: the same items and score bits. */
static void assert_do_predict(const rk_serve_response *r, const rk_batch *pred) {
  const rk_column *want_ids = &pred->cols[rk_batch_find(pred, "rec_item_ids")];
  const rk_column *want_scores = &pred->cols[rk_batch_find(pred, "rec_item_scores")];
  assert_int_equal(r->outputs[0].shape[0], pred->nrows);
  const int64_t *ids = r->outputs[0].data;
  const float *scores = r->outputs[1].data;
  for (int64_t s = 0; s < pred->nrows; s++) {
    int64_t a = want_ids->offsets[s], n = want_ids->offsets[s + 1] - a;
    for (int64_t i = 0; i < K; i++) {
      int64_t want = i < n ? ((const int64_t *)want_ids->child->values)[a + i] : -1;
      if (ids[s * K + i] != want)
        fail_msg("session %lld, rank %lld: item %lld, --do_predict %lld", (long long)s, (long long)i,
                 (long long)ids[s * K + i], (long long)want);
      if (i < n && memcmp(&scores[s * K + i], (const float *)want_scores->child->values + a + i, 4) != 0)
        fail_msg("session %lld, rank %lld: score %.9g, --do_predict %.9g", (long long)s, (long long)i,
                 scores[s * K + i], ((const float *)want_scores->child->values)[a + i]);
    }
  }
}

static void batched_equals_alone(void **state) {
  (void)state;
  char dir[1024];
  snprintf(dir, sizeof dir, "%s", rk_test_tmpdir("serve_session_batching"));
  assert_int_equal(session_serve_fixture(dir, K), 0);
  rk_batch events = {0}, pred = {0};
  session_serve_read_table(rk_test_path(dir, "ev.csv"), true, &events);
  session_serve_read_table(rk_test_path(dir, "pred/predictions.parquet"), false, &pred);
  int64_t n = events.nrows, total = 0;

  char repo[1100];
  snprintf(repo, sizeof repo, "%s", rk_test_path(dir, "repo"));
  rk_server *s = open_server(repo);
  rk_model_config c;
  assert_rk_ok(rk_server_model_config(s, "t4r", 0, &c, NULL));
  assert_int_equal(c.n_input, N_IN);
  rk_serve_input in[REQUESTS][N_IN];
  rk_serve_request req[REQUESTS];
  for (int k = 0; k < REQUESTS; k++) {
    int64_t first = k == 0 ? 0 : (k - 1) * n / (REQUESTS - 1), end = k == 0 ? n : k * n / (REQUESTS - 1);
    for (int i = 0; i < N_IN; i++) {
      const rk_column *col = &events.cols[rk_batch_find(&events, c.input[i].name)];
      int64_t nbytes;
      void *data = session_serve_tensor_bytes(col, c.input[i].data_type, first, end - first, &nbytes);
      in[k][i] = (rk_serve_input){c.input[i].name, c.input[i].data_type, 2, {end - first, 1}, data, nbytes};
    }
    req[k] = (rk_serve_request){.model = "t4r", .inputs = in[k], .n_inputs = N_IN};
    total += end - first;
  }

  /* Alone: one request at a time, each its own batch. */
  rk_serve_response alone[REQUESTS];
  for (int k = 0; k < REQUESTS; k++) assert_rk_ok(rk_server_infer(s, &req[k], &alone[k]));
  assert_do_predict(&alone[0], &pred);
  uint64_t executions, rows;
  model_stats(s, "t4r_gpt2", &executions, &rows);
  assert_int_equal(executions, REQUESTS);
  rk_server_close(s);

  /* Together: the model step waits (up to 20 s) for every request's events. */
  assert_int_equal(rk_test_system("sed -i -e '/preferred_batch_size: 64$/d' -e 's/preferred_batch_size: 256$/"
                                  "preferred_batch_size: %lld/' -e 's/max_queue_delay_microseconds: 100$/"
                                  "max_queue_delay_microseconds: 20000000/' '%s/t4r_gpt2/config.pbtxt' && "
                                  "grep -q 'preferred_batch_size: %lld$' '%s/t4r_gpt2/config.pbtxt'",
                                  (long long)total, repo, (long long)total, repo),
                   0);
  s = open_server(repo);
  answers a = {.answered = 0};
  pthread_mutex_init(&a.lock, NULL);
  pthread_cond_init(&a.done, NULL);
  slot slots[REQUESTS];
  for (int k = 0; k < REQUESTS; k++) {
    slots[k] = (slot){&a, k};
    assert_rk_ok(rk_server_infer_async(s, &req[k], on_done, &slots[k]));
  }
  pthread_mutex_lock(&a.lock);
  while (a.answered < REQUESTS) pthread_cond_wait(&a.done, &a.lock);
  pthread_mutex_unlock(&a.lock);
  int64_t sessions = 0;
  for (int k = 0; k < REQUESTS; k++) {
    assert_rk_ok(a.status[k]);
    assert_same_response(&a.resp[k], &alone[k], k);
    sessions += alone[k].outputs[0].shape[0];
  }
  assert_do_predict(&a.resp[0], &pred);
  model_stats(s, "t4r", &executions, &rows);   /* one batch of every event */
  assert_int_equal(executions, 1);
  assert_int_equal(rows, total);
  model_stats(s, "t4r_gpt2", &executions, &rows);   /* one model run of every request's sessions */
  assert_int_equal(executions, 1);
  assert_int_equal(rows, sessions);
  rk_server_close(s);

  for (int k = 0; k < REQUESTS; k++) {
    rk_serve_response_free(&alone[k]);
    rk_serve_response_free(&a.resp[k]);
    for (int i = 0; i < N_IN; i++) free((void *)in[k][i].data);
  }
  pthread_mutex_destroy(&a.lock);
  pthread_cond_destroy(&a.done);
  rk_model_config_free(&c);
  rk_batch_free(&events);
  rk_batch_free(&pred);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(batched_equals_alone),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
