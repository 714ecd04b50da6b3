/*
 * The serving core on a real export: a DLRM trained by `reckon train` on `reckon preprocess`'s
 * data, exported by `reckon export`, served from the repository in-process.
 *   - the ensemble given new raw rows returns exactly (bit for bit) what `reckon transform` then
 *     `reckon predict` write for them, in one request or cut into many concurrent requests that
 *     dynamic batching merges and splits; each step alone gives its command's output;
 *   - statistics count every request, row and batch;
 *   - load/unload in a loop while clients send requests: no failure but "not ready";
 *   - the model's metadata, config and request errors (unknown input, dtype, shape, bytes).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reckon/io.h"
#include "reckon/serve.h"
#include "support.h"

#ifndef RECKON_BINARY_DIR
#define RECKON_BINARY_DIR "."
#endif

static char dir[1024];
static rk_batch raw;          /* the new rows' raw columns */
static float *want;           /* `reckon predict`'s click/binary_output per row */
static int64_t n_rows;

static int setup(void **state) {
  (void)state;
  snprintf(dir, sizeof dir, "%s", rk_test_tmpdir("serve_ensemble"));
  const char *R = RECKON_BINARY_DIR "/reckon";
  int rc = rk_test_system(
      "cd '%s' && %s synth tenrec --rows 3000 --seed 5 --output qk.csv >/dev/null && "
      "%s preprocess --input_data_format=csv --input_data_path qk.csv --output_path=pp/ "
      "--categorical_features=user_id,item_id,video_category,gender,age --continuous_features=watching_times "
      "--binary_classif_targets=click,like --to_int32=user_id,item_id --to_int8=gender,age,video_category,click,like "
      "--dataset_split_strategy=random --random_split_eval_perc=0.2 --quiet && "
      "%s train --train_data_path pp/train --eval_data_path pp/eval --tasks click,like --model dlrm --embeddings_dim 8 "
      "--mlp_layers 16,8 --epochs 1 --train_batch_size 256 --output_path o --save_model_path m --quiet && "
      "%s synth tenrec --rows 300 --seed 9 --users 200 --items 80 --output new.csv >/dev/null && "
      "%s transform --workflow m/workflow new.csv new_t --quiet && "
      "%s predict --load_model_path m --predict_data_path new_t --predict_output_path pred.parquet --quiet && "
      "%s export --model_path m --output_path repo --name tr --quiet",
      dir, R, R, R, R, R, R, R);
  if (rc != 0) return -1;
  rk_source_options so;
  rk_source_options_default(&so);
  so.batch_rows = 100000;
  rk_table_source *src = NULL;
  rk_batch pred = {0};
  if (rk_source_open(&src, rk_test_path(dir, "new.csv"), &so) != RK_OK || src->next(src, &raw) != RK_OK) return -1;
  src->close(src);
  if (rk_source_open(&src, rk_test_path(dir, "pred.parquet"), &so) != RK_OK || src->next(src, &pred) != RK_OK) return -1;
  src->close(src);
  int j = rk_batch_find(&pred, "click/binary_output");
  if (j < 0 || pred.nrows != raw.nrows) return -1;
  n_rows = raw.nrows;
  want = malloc((size_t)n_rows * sizeof *want);
  memcpy(want, pred.cols[j].values, (size_t)n_rows * sizeof *want);
  rk_batch_free(&pred);
  /* scores that differ from row to row, so equal bits mean the right rows */
  int distinct = 0;
  for (int64_t r = 1; r < n_rows; r++) distinct += want[r] != want[0];
  return distinct > n_rows / 2 ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  rk_batch_free(&raw);
  free(want);
  return 0;
}

static rk_server *open_server(rk_serve_control mode, int workers) {
  rk_serve_options o;
  rk_serve_options_default(&o);
  o.repository = rk_test_path(dir, "repo");
  o.control = mode;
  o.workers = workers;
  const char *load[] = {"tr"};
  o.load_models = load;
  o.n_load_models = 1;
  rk_server *s = NULL;
  assert_rk_ok(rk_server_open(&s, &o));
  return s;
}

/* Rows [begin, begin + n) of the raw columns as the ensemble's typed inputs. */
typedef struct {
  rk_serve_input in[16];
  void *data[16];
  int n;
} tensors;

static void make_tensors(tensors *t, const rk_model_config *c, int64_t begin, int64_t n) {
  t->n = c->n_input;
  for (int i = 0; i < c->n_input; i++) {
    const rk_column *col = &raw.cols[rk_batch_find(&raw, c->input[i].name)];
    rk_serve_dtype dt = c->input[i].data_type;
    size_t es = rk_serve_dtype_size(dt);
    unsigned char *p = malloc((size_t)n * es + 1);
    for (int64_t r = 0; r < n; r++) {
      int64_t v = rk_column_get_int(col, begin + r);
      double d = rk_column_get_double(col, begin + r);
      switch (dt) {
        case RK_SERVE_DT_INT8: ((int8_t *)p)[r] = (int8_t)v; break;
        case RK_SERVE_DT_INT16: ((int16_t *)p)[r] = (int16_t)v; break;
        case RK_SERVE_DT_INT32: ((int32_t *)p)[r] = (int32_t)v; break;
        case RK_SERVE_DT_INT64: ((int64_t *)p)[r] = v; break;
        case RK_SERVE_DT_FP32: ((float *)p)[r] = (float)d; break;
        case RK_SERVE_DT_FP64: ((double *)p)[r] = d; break;
        default: fail_msg("input '%s': datatype %s not made by this test", c->input[i].name, rk_serve_dtype_name(dt));
      }
    }
    t->data[i] = p;
    t->in[i] = (rk_serve_input){c->input[i].name, dt, 2, {n, 1}, p, n * (int64_t)es};
  }
}

static void free_tensors(tensors *t) {
  for (int i = 0; i < t->n; i++) free(t->data[i]);
}

static void check_scores(const rk_serve_response *resp, int64_t begin, int64_t n) {
  const rk_serve_output *o = NULL;
  for (int i = 0; i < resp->n_outputs; i++)
    if (!strcmp(resp->outputs[i].name, "click/binary_output")) o = &resp->outputs[i];
  assert_non_null(o);
  assert_int_equal(o->datatype, RK_SERVE_DT_FP32);
  assert_int_equal(o->ndim, 2);
  assert_int_equal(o->shape[0], n);
  assert_int_equal(o->shape[1], 1);
  assert_int_equal(o->nbytes, n * 4);
  const float *got = o->data;
  for (int64_t r = 0; r < n; r++)
    if (memcmp(&got[r], &want[begin + r], 4) != 0)
      fail_msg("row %lld: served %.9g, reckon predict wrote %.9g", (long long)(begin + r), got[r], want[begin + r]);
}

static void one_request(void **state) {
  (void)state;
  rk_server *s = open_server(RK_SERVE_CONTROL_EXPLICIT, 2);
  assert_true(rk_server_ready(s));
  rk_model_config c;
  assert_rk_ok(rk_server_model_config(s, "tr", 0, &c, NULL));
  tensors t;
  make_tensors(&t, &c, 0, n_rows);
  rk_serve_request req = {.model = "tr", .id = "q1", .inputs = t.in, .n_inputs = t.n};
  rk_serve_response resp;
  assert_rk_ok(rk_server_infer(s, &req, &resp));
  assert_string_equal(resp.id, "q1");
  assert_string_equal(resp.model_name, "tr");
  assert_int_equal(resp.model_version, 1);
  assert_int_equal(resp.n_outputs, 2);   /* click and like, the config's order */
  assert_string_equal(resp.outputs[0].name, "click/binary_output");
  assert_string_equal(resp.outputs[1].name, "like/binary_output");
  check_scores(&resp, 0, n_rows);
  rk_serve_response_free(&resp);
  /* only the output asked for */
  const char *only[] = {"like/binary_output"};
  req.outputs = only;
  req.n_outputs = 1;
  assert_rk_ok(rk_server_infer(s, &req, &resp));
  assert_int_equal(resp.n_outputs, 1);
  assert_string_equal(resp.outputs[0].name, "like/binary_output");
  rk_serve_response_free(&resp);
  free_tensors(&t);
  rk_model_config_free(&c);
  rk_server_close(s);
}

/* Each step alone: the workflow step returns `reckon transform`'s columns, and the model step
 * given them returns `reckon predict`'s scores. */
static void steps_alone(void **state) {
  (void)state;
  rk_server *s = open_server(RK_SERVE_CONTROL_EXPLICIT, 1);
  rk_source_options so;
  rk_source_options_default(&so);
  so.batch_rows = 100000;
  rk_table_source *src = NULL;
  rk_batch transformed = {0};
  assert_rk_ok(rk_source_open(&src, rk_test_path(dir, "new_t"), &so));
  assert_rk_ok(src->next(src, &transformed));
  src->close(src);
  assert_int_equal(transformed.nrows, n_rows);
  /* the workflow step */
  rk_model_config c;
  assert_rk_ok(rk_server_model_config(s, "tr_nvt", 0, &c, NULL));
  tensors t;
  make_tensors(&t, &c, 0, n_rows);
  rk_serve_request req = {.model = "tr_nvt", .inputs = t.in, .n_inputs = t.n};
  rk_serve_response resp;
  assert_rk_ok(rk_server_infer(s, &req, &resp));
  assert_int_equal(resp.n_outputs, c.n_output);
  for (int i = 0; i < resp.n_outputs; i++) {
    const rk_column *want_col = &transformed.cols[rk_batch_find(&transformed, resp.outputs[i].name)];
    size_t w = rk_coltype_width(want_col->type);
    assert_int_equal(resp.outputs[i].datatype, rk_serve_coltype_dtype(want_col->type));
    assert_int_equal(resp.outputs[i].nbytes, n_rows * (int64_t)w);
    if (memcmp(resp.outputs[i].data, want_col->values, (size_t)n_rows * w) != 0)
      fail_msg("workflow output '%s' differs from reckon transform's", resp.outputs[i].name);
  }
  rk_serve_response_free(&resp);
  free_tensors(&t);
  rk_model_config_free(&c);
  /* the model step, on the transformed columns */
  assert_rk_ok(rk_server_model_config(s, "tr_dlrm", 0, &c, NULL));
  rk_serve_input in[16];
  for (int i = 0; i < c.n_input; i++) {
    const rk_column *col = &transformed.cols[rk_batch_find(&transformed, c.input[i].name)];
    assert_int_equal(c.input[i].data_type, rk_serve_coltype_dtype(col->type));
    in[i] = (rk_serve_input){c.input[i].name, c.input[i].data_type, 1, {n_rows},
                             col->values, n_rows * (int64_t)rk_coltype_width(col->type)};   /* flat [rows] */
  }
  req = (rk_serve_request){.model = "tr_dlrm", .inputs = in, .n_inputs = c.n_input};
  assert_rk_ok(rk_server_infer(s, &req, &resp));
  check_scores(&resp, 0, n_rows);
  rk_serve_response_free(&resp);
  rk_model_config_free(&c);
  rk_batch_free(&transformed);
  rk_server_close(s);
}

/* Many requests at once, of uneven sizes: batched together, split back exactly. */
typedef struct {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int pending, failed;
  char failure[512];
} gather;

typedef struct {
  gather *g;
  int64_t begin, n;
  tensors t;
  rk_serve_request req;
} call;

static void on_done(void *ctx, rk_status st, rk_serve_code code, rk_serve_response *resp) {
  call *c = ctx;
  gather *g = c->g;
  bool ok = st == RK_OK;
  char why[512] = "";
  if (ok) {
    const float *got = resp->outputs[0].data;
    if (resp->outputs[0].shape[0] != c->n) ok = false, snprintf(why, sizeof why, "rows %lld", (long long)resp->outputs[0].shape[0]);
    for (int64_t r = 0; ok && r < c->n; r++)
      if (memcmp(&got[r], &want[c->begin + r], 4) != 0)
        ok = false, snprintf(why, sizeof why, "row %lld: %.9g vs %.9g", (long long)(c->begin + r), got[r], want[c->begin + r]);
    rk_serve_response_free(resp);
  } else {
    snprintf(why, sizeof why, "%s: %s", rk_serve_code_name(code), rk_error_message());
  }
  pthread_mutex_lock(&g->lock);
  if (!ok && !g->failed++) snprintf(g->failure, sizeof g->failure, "%s", why);
  g->pending--;
  pthread_cond_signal(&g->cond);
  pthread_mutex_unlock(&g->lock);
}

static void batched_requests(void **state) {
  (void)state;
  rk_server *s = open_server(RK_SERVE_CONTROL_NONE, 3);
  rk_model_config c;
  assert_rk_ok(rk_server_model_config(s, "tr", 0, &c, NULL));
  enum { MAX_CALLS = 64 };
  call *calls = calloc(MAX_CALLS, sizeof *calls);
  gather g = {.pending = 0};
  pthread_mutex_init(&g.lock, NULL);
  pthread_cond_init(&g.cond, NULL);
  int n = 0;
  for (int64_t begin = 0, k = 0; begin < n_rows && n < MAX_CALLS; k++) {
    int64_t len = 1 + (k * 7) % 13;
    if (begin + len > n_rows) len = n_rows - begin;
    call *cl = &calls[n++];
    cl->g = &g;
    cl->begin = begin;
    cl->n = len;
    make_tensors(&cl->t, &c, begin, len);
    static const char *click[] = {"click/binary_output"};
    cl->req = (rk_serve_request){.model = "tr", .inputs = cl->t.in, .n_inputs = cl->t.n, .outputs = click, .n_outputs = 1};
    begin += len;
  }
  g.pending = n;
  for (int i = 0; i < n; i++) assert_rk_ok(rk_server_infer_async(s, &calls[i].req, on_done, &calls[i]));
  pthread_mutex_lock(&g.lock);
  while (g.pending > 0) pthread_cond_wait(&g.cond, &g.lock);
  pthread_mutex_unlock(&g.lock);
  if (g.failed) fail_msg("%d of %d requests failed or differ; first: %s", g.failed, n, g.failure);
  /* statistics: every request and row counted, batches no more than requests */
  rk_serve_stats st;
  assert_rk_ok(rk_server_stats(s, "tr", 0, &st));
  assert_int_equal(st.n, 1);
  int64_t rows = 0;
  for (int i = 0; i < n; i++) rows += calls[i].n;
  assert_int_equal(st.models[0].success.count, (uint64_t)n);
  assert_int_equal(st.models[0].fail.count, 0);
  assert_int_equal(st.models[0].inference_count, (uint64_t)rows);
  assert_true(st.models[0].execution_count >= 1 && st.models[0].execution_count <= (uint64_t)n);
  uint64_t batched_rows = 0, batches = 0;
  for (int i = 0; i < st.models[0].n_batch; i++) {
    batched_rows += (uint64_t)st.models[0].batch[i].batch_size * st.models[0].batch[i].compute_infer.count;
    batches += st.models[0].batch[i].compute_infer.count;
  }
  assert_int_equal(batches, st.models[0].execution_count);
  assert_int_equal(batched_rows, (uint64_t)rows);
  rk_serve_stats_free(&st);
  char *metrics = NULL;
  assert_rk_ok(rk_server_metrics_text(s, &metrics));
  char line[128];
  snprintf(line, sizeof line, "nv_inference_request_success{model=\"tr\",version=\"1\"} %d\n", n);
  if (!strstr(metrics, line)) fail_msg("metrics lack '%s':\n%s", line, metrics);
  snprintf(line, sizeof line, "nv_inference_count{model=\"tr\",version=\"1\"} %lld\n", (long long)rows);
  if (!strstr(metrics, line)) fail_msg("metrics lack '%s'", line);
  rk_free(metrics);
  for (int i = 0; i < n; i++) free_tensors(&calls[i].t);
  free(calls);
  rk_model_config_free(&c);
  rk_server_close(s);
}

/* A batch waits for its preferred size: four requests of 10 rows with preferred_batch_size 40
 * (and a delay far longer than the test) run as exactly one batch of 40, split back exactly. */
static void batching_merges_exactly(void **state) {
  (void)state;
  const char *repo2 = rk_test_path(dir, "repo_batch");
  assert_int_equal(rk_test_system("rm -rf '%s' && cp -r '%s' '%s'", repo2, rk_test_path(dir, "repo"), repo2), 0);
  char cfgpath[1200];
  snprintf(cfgpath, sizeof cfgpath, "%s/tr_dlrm/config.pbtxt", repo2);
  rk_model_config mc;
  assert_rk_ok(rk_model_config_read(&mc, cfgpath));
  mc.preferred_batch_size[0] = 40;
  mc.n_preferred_batch_size = 1;
  mc.max_queue_delay_microseconds = 60000000;
  char *text;
  assert_rk_ok(rk_model_config_format(&mc, &text));
  rk_test_write_file(cfgpath, text);
  rk_free(text);
  rk_model_config_free(&mc);
  rk_serve_options o;
  rk_serve_options_default(&o);
  o.repository = repo2;
  o.workers = 2;
  rk_server *s = NULL;
  assert_rk_ok(rk_server_open(&s, &o));
  rk_model_config c;
  assert_rk_ok(rk_server_model_config(s, "tr", 0, &c, NULL));
  call calls[4];
  gather g = {.pending = 4};
  pthread_mutex_init(&g.lock, NULL);
  pthread_cond_init(&g.cond, NULL);
  static const char *click[] = {"click/binary_output"};
  for (int i = 0; i < 4; i++) {
    calls[i] = (call){.g = &g, .begin = 50 + 10 * i, .n = 10};
    make_tensors(&calls[i].t, &c, calls[i].begin, 10);
    calls[i].req = (rk_serve_request){.model = "tr", .inputs = calls[i].t.in, .n_inputs = calls[i].t.n,
                                      .outputs = click, .n_outputs = 1};
  }
  for (int i = 0; i < 4; i++) assert_rk_ok(rk_server_infer_async(s, &calls[i].req, on_done, &calls[i]));
  pthread_mutex_lock(&g.lock);
  while (g.pending > 0) pthread_cond_wait(&g.cond, &g.lock);
  pthread_mutex_unlock(&g.lock);
  if (g.failed) fail_msg("%d requests failed or differ; first: %s", g.failed, g.failure);
  rk_serve_stats st;
  assert_rk_ok(rk_server_stats(s, "tr", 1, &st));
  assert_int_equal(st.n, 1);
  assert_int_equal(st.models[0].execution_count, 1);
  assert_int_equal(st.models[0].n_batch, 1);
  assert_int_equal(st.models[0].batch[0].batch_size, 40);
  assert_int_equal(st.models[0].success.count, 4);
  rk_serve_stats_free(&st);
  for (int i = 0; i < 4; i++) free_tensors(&calls[i].t);
  rk_model_config_free(&c);
  rk_server_close(s);
}

/* ---- load and unload while clients send requests -------------------------------------------- */
typedef struct {
  rk_server *s;
  const rk_model_config *c;
  atomic_bool stop;
  atomic_int ok, other;
  int not_ready;
  char other_msg[512];
} client;

static void *client_main(void *arg) {
  client *cl = arg;
  tensors t;
  make_tensors(&t, cl->c, 10, 20);
  rk_serve_request req = {.model = "tr", .inputs = t.in, .n_inputs = t.n};
  while (!atomic_load(&cl->stop)) {
    rk_serve_response resp;
    rk_status st = rk_server_infer(cl->s, &req, &resp);
    if (st == RK_OK) {
      if (memcmp(resp.outputs[0].data, &want[10], 20 * 4) == 0) atomic_fetch_add(&cl->ok, 1);
      if (memcmp(resp.outputs[0].data, &want[10], 20 * 4) != 0 && !atomic_fetch_add(&cl->other, 1))
        snprintf(cl->other_msg, sizeof cl->other_msg, "served scores differ from reckon predict's");
      rk_serve_response_free(&resp);
    } else if (rk_serve_error_code(st) == RK_SERVE_UNAVAILABLE) {
      cl->not_ready++;
    } else if (!atomic_fetch_add(&cl->other, 1)) {
      snprintf(cl->other_msg, sizeof cl->other_msg, "%s: %s", rk_serve_code_name(rk_serve_error_code(st)), rk_error_message());
    }
  }
  free_tensors(&t);
  return NULL;
}

static void load_unload_while_serving(void **state) {
  (void)state;
  rk_server *s = open_server(RK_SERVE_CONTROL_EXPLICIT, 2);
  rk_model_config c;
  assert_rk_ok(rk_server_model_config(s, "tr", 0, &c, NULL));
  client cl[2] = {{.s = s, .c = &c}, {.s = s, .c = &c}};
  pthread_t th[2];
  for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, client_main, &cl[i]);
  int rounds = rk_test_sanitized() ? 3 : 8;
  for (int r = 0; r < rounds; r++) {
    assert_rk_ok(rk_server_unload(s, "tr", r % 2 == 0));
    bool ready = true;
    assert_rk_ok(rk_server_model_ready(s, "tr", 0, &ready));
    assert_false(ready);
    assert_rk_ok(rk_server_load(s, "tr"));
    assert_rk_ok(rk_server_model_ready(s, "tr", 0, &ready));
    assert_true(ready);
  }
  /* the model is loaded now: each client gets its answers (a wait for progress, not a clock) */
  for (int i = 0; i < 2; i++) {
    int before = atomic_load(&cl[i].ok);
    while (atomic_load(&cl[i].ok) == before && !atomic_load(&cl[i].other)) usleep(1000);
  }
  for (int i = 0; i < 2; i++) {
    atomic_store(&cl[i].stop, true);
    pthread_join(th[i], NULL);
    if (atomic_load(&cl[i].other))
      fail_msg("client %d: %d requests failed other than 'not ready'; first: %s", i, atomic_load(&cl[i].other),
               cl[i].other_msg);
  }
  rk_model_config_free(&c);
  rk_server_close(s);
}

/* ---- metadata and malformed requests ---------------------------------------------------------- */
static void expect_refused(rk_server *s, const rk_serve_request *req, rk_serve_code code, const char *words) {
  rk_serve_response resp;
  rk_status st = rk_server_infer(s, req, &resp);
  assert_int_not_equal(st, RK_OK);
  assert_int_equal(rk_serve_error_code(st), code);
  if (!strstr(rk_error_message(), words)) fail_msg("message '%s' lacks '%s'", rk_error_message(), words);
  assert_null(resp.outputs);
}

static void metadata_and_errors(void **state) {
  (void)state;
  rk_server *s = open_server(RK_SERVE_CONTROL_EXPLICIT, 1);
  rk_serve_model_meta m;
  assert_rk_ok(rk_server_model_metadata(s, "tr", 0, &m));
  assert_string_equal(m.platform, "ensemble");
  assert_int_equal(m.n_versions, 1);
  assert_int_equal(m.versions[0], 1);
  assert_int_equal(m.n_outputs, 2);
  assert_int_equal(m.outputs[0].ndim, 2);
  assert_int_equal(m.outputs[0].shape[0], -1);
  assert_int_equal(m.outputs[0].shape[1], 1);
  assert_int_equal(m.outputs[0].datatype, RK_SERVE_DT_FP32);
  rk_serve_model_meta_free(&m);
  char *text = NULL;
  assert_rk_ok(rk_server_model_config(s, "tr_dlrm", 0, NULL, &text));
  assert_non_null(strstr(text, "dynamic_batching"));
  rk_free(text);
  /* the steps were loaded with the ensemble */
  bool ready = false;
  assert_rk_ok(rk_server_model_ready(s, "tr_nvt", 0, &ready));
  assert_true(ready);

  rk_model_config c;
  assert_rk_ok(rk_server_model_config(s, "tr", 0, &c, NULL));
  tensors t;
  make_tensors(&t, &c, 0, 4);
  rk_serve_request req = {.model = "tr", .inputs = t.in, .n_inputs = t.n};
  rk_serve_request bad = req;
  bad.model = "nope";
  expect_refused(s, &bad, RK_SERVE_NOT_FOUND, "'nope'");
  bad.model = "../repo";
  expect_refused(s, &bad, RK_SERVE_INVALID, "'../repo'");
  bad = req;
  bad.version = 7;
  expect_refused(s, &bad, RK_SERVE_NOT_FOUND, "version 7");
  bad = req;
  bad.n_inputs = t.n - 1;
  expect_refused(s, &bad, RK_SERVE_INVALID, "lacks input");
  rk_serve_input saved = t.in[0];
  t.in[0].datatype = RK_SERVE_DT_FP64;
  expect_refused(s, &req, RK_SERVE_INVALID, "expected INT32");
  t.in[0] = saved;
  t.in[0].shape[1] = 2;
  expect_refused(s, &req, RK_SERVE_INVALID, "expected [-1, 1]");
  t.in[0] = saved;
  t.in[0].nbytes -= 1;
  expect_refused(s, &req, RK_SERVE_INVALID, "bytes");
  t.in[0] = saved;
  t.in[0].name = "user";
  expect_refused(s, &req, RK_SERVE_INVALID, "no input 'user'");
  t.in[0] = saved;
  const char *no[] = {"clicks"};
  bad = req;
  bad.outputs = no;
  bad.n_outputs = 1;
  expect_refused(s, &bad, RK_SERVE_INVALID, "no output 'clicks'");
  rk_serve_param p = {.key = "temperature", .kind = RK_SERVE_PARAM_DOUBLE};
  bad = req;
  bad.params = &p;
  bad.n_params = 1;
  expect_refused(s, &bad, RK_SERVE_INVALID, "'temperature'");
  /* explicit mode only: load in mode none is refused */
  rk_server *none = open_server(RK_SERVE_CONTROL_NONE, 1);
  rk_status st = rk_server_load(none, "tr");
  assert_int_equal(rk_serve_error_code(st), RK_SERVE_INVALID);
  rk_server_close(none);
  /* shutdown drains, then refuses */
  assert_rk_ok(rk_server_shutdown(s, 10000));
  assert_false(rk_server_live(s));
  expect_refused(s, &req, RK_SERVE_UNAVAILABLE, "shutting down");
  free_tensors(&t);
  rk_model_config_free(&c);
  rk_server_close(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(one_request),
      cmocka_unit_test(steps_alone),
      cmocka_unit_test(batched_requests),
      cmocka_unit_test(batching_merges_exactly),
      cmocka_unit_test(load_unload_while_serving),
      cmocka_unit_test(metadata_and_errors),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
