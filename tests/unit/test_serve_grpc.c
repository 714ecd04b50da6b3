/*
 * The gRPC frontend (src/serve/grpc/): gRPC's framing as pure functions; ModelInfer's tensor
 * conversions (typed contents to raw bytes and back, range and count checks); and the server
 * itself, started in-process on port 0 over a hand-made repository, driven by an HTTP/2 client
 * (nghttp2's client session) for the gRPC cases and by a raw socket for broken HTTP/2.
 * tests/e2e/serve_grpc.sh drives `reckon serve` with Python's grpcio.
 */
#include "support.h"

#ifdef RECKON_HAVE_GRPC
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "model_config.pb-c.h"
#include "serve/grpc/grpc_rpc.h"
#include "serve/grpc/grpc_server.h"

/* ---- framing ------------------------------------------------------------------------------------ */
static void test_grpc_split_unary(void **state) {
  (void)state;
  rk_grpc_unary u;
  const uint8_t ok[] = {0, 0, 0, 0, 3, 'a', 'b', 'c'};
  rk_grpc_split_unary(&u, ok, sizeof ok, 100);
  assert_int_equal(u.code, RK_GRPC_OK);
  assert_int_equal(u.length, 3);
  assert_memory_equal(u.message, "abc", 3);
  const uint8_t empty_msg[] = {0, 0, 0, 0, 0};
  rk_grpc_split_unary(&u, empty_msg, sizeof empty_msg, 100);
  assert_int_equal(u.code, RK_GRPC_OK);
  assert_int_equal(u.length, 0);

  rk_grpc_split_unary(&u, ok, 0, 100);
  assert_int_equal(u.code, RK_GRPC_INVALID_ARGUMENT);
  rk_grpc_split_unary(&u, ok, 3, 100);
  assert_int_equal(u.code, RK_GRPC_INVALID_ARGUMENT);
  assert_non_null(strstr(u.reason, "3 of its 5 bytes"));
  rk_grpc_split_unary(&u, ok, 7, 100);
  assert_int_equal(u.code, RK_GRPC_INVALID_ARGUMENT);
  assert_non_null(strstr(u.reason, "announces 3 bytes, 2 came"));
  const uint8_t zipped[] = {1, 0, 0, 0, 1, 'x'};
  rk_grpc_split_unary(&u, zipped, sizeof zipped, 100);
  assert_int_equal(u.code, RK_GRPC_UNIMPLEMENTED);
  assert_non_null(strstr(u.reason, "compressed"));
  const uint8_t badflag[] = {7, 0, 0, 0, 1, 'x'};
  rk_grpc_split_unary(&u, badflag, sizeof badflag, 100);
  assert_int_equal(u.code, RK_GRPC_INVALID_ARGUMENT);
  rk_grpc_split_unary(&u, ok, sizeof ok, 2);
  assert_int_equal(u.code, RK_GRPC_RESOURCE_EXHAUSTED);
  assert_non_null(strstr(u.reason, "3 bytes is over the limit of 2"));
  const uint8_t two[] = {0, 0, 0, 0, 1, 'a', 0, 0, 0, 0, 1, 'b'};
  rk_grpc_split_unary(&u, two, sizeof two, 100);
  assert_int_equal(u.code, RK_GRPC_UNIMPLEMENTED);
  assert_non_null(strstr(u.reason, "6 bytes follow"));
}

static void test_grpc_prefix_and_percent(void **state) {
  (void)state;
  uint8_t p[5];
  rk_grpc_write_prefix(p, 0x01020304u);
  const uint8_t want[5] = {0, 1, 2, 3, 4};
  assert_memory_equal(p, want, 5);
  assert_int_equal(rk_grpc_announced_length(p, 5), 0x01020304);
  assert_int_equal(rk_grpc_announced_length(p, 4), -1);
  char out[32];
  assert_int_equal(rk_grpc_percent_encode(out, sizeof out, "a 50%\n\xc3\xa9"), 16);
  assert_string_equal(out, "a 50%25%0A%C3%A9");
  /* Cut between escapes, never inside one. */
  rk_grpc_percent_encode(out, 5, "ab%cd");
  assert_string_equal(out, "ab");
  assert_string_equal(rk_grpc_code_name(RK_GRPC_NOT_FOUND), "NOT_FOUND");
  assert_int_equal(rk_grpc_method_find("/inference.GRPCInferenceService/ModelInfer", 42), 5);
  assert_int_equal(rk_grpc_method_find("/inference.GRPCInferenceService/ModelStreamInfer", 48), -1);
  assert_int_equal(rk_grpc_method_find("/other.Service/ModelInfer", 25), -1);
}

/* ---- ModelInfer's conversions -------------------------------------------------------------------- */
static size_t pack_request(Inference__ModelInferRequest *m, uint8_t **out) {
  size_t n = inference__model_infer_request__get_packed_size(m);
  *out = malloc(n + 1);
  inference__model_infer_request__pack(m, *out);
  return n;
}

static void test_grpc_infer_typed_contents(void **state) {
  (void)state;
  Inference__ModelInferRequest m = INFERENCE__MODEL_INFER_REQUEST__INIT;
  Inference__ModelInferRequest__InferInputTensor in[3] = {INFERENCE__MODEL_INFER_REQUEST__INFER_INPUT_TENSOR__INIT,
                                                          INFERENCE__MODEL_INFER_REQUEST__INFER_INPUT_TENSOR__INIT,
                                                          INFERENCE__MODEL_INFER_REQUEST__INFER_INPUT_TENSOR__INIT};
  Inference__ModelInferRequest__InferInputTensor *inp[3] = {&in[0], &in[1], &in[2]};
  Inference__InferTensorContents c[3] = {INFERENCE__INFER_TENSOR_CONTENTS__INIT, INFERENCE__INFER_TENSOR_CONTENTS__INIT,
                                         INFERENCE__INFER_TENSOR_CONTENTS__INIT};
  int64_t shape[2] = {2, 1};
  int32_t i16[2] = {-300, 7};
  float f[2] = {0.5f, -2.0f};
  ProtobufCBinaryData s[2] = {{2, (uint8_t *)"hi"}, {0, (uint8_t *)""}};
  in[0].name = "a", in[0].datatype = "INT16", in[0].n_shape = 2, in[0].shape = shape, in[0].contents = &c[0];
  c[0].n_int_contents = 2, c[0].int_contents = i16;
  in[1].name = "b", in[1].datatype = "FP32", in[1].n_shape = 2, in[1].shape = shape, in[1].contents = &c[1];
  c[1].n_fp32_contents = 2, c[1].fp32_contents = f;
  in[2].name = "c", in[2].datatype = "BYTES", in[2].n_shape = 2, in[2].shape = shape, in[2].contents = &c[2];
  c[2].n_bytes_contents = 2, c[2].bytes_contents = s;
  m.model_name = "m", m.model_version = "2", m.n_inputs = 3, m.inputs = inp;
  uint8_t *bytes = NULL;
  size_t n = pack_request(&m, &bytes);
  rk_grpc_infer_call call;
  rk_grpc_reply reply = {0};
  int64_t live = rk_alloc_live_bytes();
  assert_true(rk_grpc_infer_decode(&call, &reply, bytes, n));
  assert_false(call.raw);
  assert_int_equal(call.req.version, 2);
  assert_int_equal(call.req.n_inputs, 3);
  const int16_t want16[2] = {-300, 7};
  assert_int_equal(call.inputs[0].nbytes, 4);
  assert_memory_equal(call.inputs[0].data, want16, 4);
  assert_memory_equal(call.inputs[1].data, f, 8);
  const uint8_t want_bytes[] = {2, 0, 0, 0, 'h', 'i', 0, 0, 0, 0};
  assert_int_equal(call.inputs[2].nbytes, sizeof want_bytes);
  assert_memory_equal(call.inputs[2].data, want_bytes, sizeof want_bytes);
  rk_grpc_infer_call_free(&call);
  assert_int_equal(rk_alloc_live_bytes(), live);
  free(bytes);

  /* A value that does not fit its datatype, and a count that does not fit the shape. */
  in[0].datatype = "INT8";
  n = pack_request(&m, &bytes);
  assert_false(rk_grpc_infer_decode(&call, &reply, bytes, n));
  assert_int_equal(reply.code, RK_GRPC_INVALID_ARGUMENT);
  assert_non_null(strstr(reply.message, "input 'a': int_contents[0] = -300 does not fit in INT8"));
  free(bytes);
  in[0].datatype = "INT16";
  c[1].n_fp32_contents = 1;
  n = pack_request(&m, &bytes);
  assert_false(rk_grpc_infer_decode(&call, &reply, bytes, n));
  assert_non_null(strstr(reply.message, "input 'b': contents.fp32_contents has 1 values; its shape needs 2"));
  free(bytes);
  c[1].n_fp32_contents = 2;
  in[1].datatype = "FP33";
  n = pack_request(&m, &bytes);
  assert_false(rk_grpc_infer_decode(&call, &reply, bytes, n));
  assert_non_null(strstr(reply.message, "unknown datatype 'FP33'"));
  free(bytes);
  in[1].datatype = "FP32";
  m.model_version = "v1";
  n = pack_request(&m, &bytes);
  assert_false(rk_grpc_infer_decode(&call, &reply, bytes, n));
  assert_non_null(strstr(reply.message, "model_version 'v1' is not a version"));
  free(bytes);
  assert_int_equal(rk_alloc_live_bytes(), live);
  const uint8_t junk[] = {0x0a, 0x7f, 'x'};
  assert_false(rk_grpc_infer_decode(&call, &reply, junk, sizeof junk));
  assert_int_equal(reply.code, RK_GRPC_INVALID_ARGUMENT);
  assert_non_null(strstr(reply.message, "cannot decode the ModelInferRequest"));
  assert_int_equal(rk_alloc_live_bytes(), live);
}

static void test_grpc_infer_raw_contents(void **state) {
  (void)state;
  Inference__ModelInferRequest m = INFERENCE__MODEL_INFER_REQUEST__INIT;
  Inference__ModelInferRequest__InferInputTensor in = INFERENCE__MODEL_INFER_REQUEST__INFER_INPUT_TENSOR__INIT;
  Inference__ModelInferRequest__InferInputTensor *inp = &in;
  int64_t shape[1] = {3};
  const int64_t vals[3] = {1, -2, 3};
  ProtobufCBinaryData raw = {sizeof vals, (uint8_t *)vals};
  in.name = "x", in.datatype = "INT64", in.n_shape = 1, in.shape = shape;
  m.model_name = "m", m.n_inputs = 1, m.inputs = &inp, m.n_raw_input_contents = 1, m.raw_input_contents = &raw;
  uint8_t *bytes = NULL;
  size_t n = pack_request(&m, &bytes);
  rk_grpc_infer_call call;
  rk_grpc_reply reply = {0};
  assert_true(rk_grpc_infer_decode(&call, &reply, bytes, n));
  assert_true(call.raw);
  assert_int_equal(call.req.version, 0);
  assert_memory_equal(call.inputs[0].data, vals, sizeof vals);
  rk_grpc_infer_call_free(&call);
  free(bytes);
  raw.len = 16;
  n = pack_request(&m, &bytes);
  assert_false(rk_grpc_infer_decode(&call, &reply, bytes, n));
  assert_non_null(strstr(reply.message, "raw_input_contents[0] of input 'x' has 16 bytes; its shape and INT64 need 24"));
  free(bytes);

  /* The response, both ways: typed fields equal the raw bytes. */
  float scores[3] = {0.25f, 0.5f, 1.0f};
  rk_serve_output out = {.name = "click/binary_output", .datatype = RK_SERVE_DT_FP32, .ndim = 2, .shape = {3, 1},
                         .data = scores, .nbytes = sizeof scores};
  rk_serve_response resp = {.model_name = "m", .model_version = 1, .id = "r7", .outputs = &out, .n_outputs = 1};
  for (int as_raw = 0; as_raw < 2; as_raw++) {
    rk_grpc_reply r = {0};
    rk_grpc_infer_encode(&r, &resp, as_raw);
    assert_int_equal(r.code, RK_GRPC_OK);
    assert_int_equal(rk_grpc_announced_length(r.body, r.size), r.size - 5);
    Inference__ModelInferResponse *d = inference__model_infer_response__unpack(NULL, r.size - 5, r.body + 5);
    assert_non_null(d);
    assert_string_equal(d->model_version, "1");
    assert_string_equal(d->id, "r7");
    assert_int_equal(d->n_outputs, 1);
    assert_string_equal(d->outputs[0]->datatype, "FP32");
    assert_int_equal(d->outputs[0]->n_shape, 2);
    if (as_raw) {
      assert_int_equal(d->n_raw_output_contents, 1);
      assert_memory_equal(d->raw_output_contents[0].data, scores, sizeof scores);
    } else {
      assert_int_equal(d->n_raw_output_contents, 0);
      assert_int_equal(d->outputs[0]->contents->n_fp32_contents, 3);
      assert_memory_equal(d->outputs[0]->contents->fp32_contents, scores, sizeof scores);
    }
    inference__model_infer_response__free_unpacked(d, NULL);
    rk_free(r.body);
  }
}

/* The core's config structure as Triton's ModelConfig: every field reckon reads, through a pack
 * and unpack, and the config.pbtxt names of the datatypes. */
static void test_grpc_model_config_message(void **state) {
  (void)state;
  int64_t versions[2] = {2, 5}, preferred[2] = {8, 32};
  rk_model_config_tensor in = {.name = "item_id", .data_type = RK_SERVE_DT_INT64, .n_dims = 1, .dims = {-1},
                               .allow_ragged_batch = true};
  rk_model_config_tensor out = {.name = "click/binary_output", .data_type = RK_SERVE_DT_FP32, .n_dims = 1, .dims = {1}};
  rk_config_pair param = {"reckon_kind", "model"};
  rk_model_config c = {.name = "m", .backend = "reckon", .max_batch_size = 64,
                       .version_policy = {.kind = RK_VERSION_POLICY_SPECIFIC, .specific = versions, .n_specific = 2},
                       .input = &in, .n_input = 1, .output = &out, .n_output = 1, .dynamic_batching = true,
                       .preferred_batch_size = preferred, .n_preferred_batch_size = 2,
                       .max_queue_delay_microseconds = 250, .instance_count = 3, .parameters = &param, .n_parameters = 1};
  rk_arena arena;
  rk_arena_init(&arena, 1024);
  Inference__ModelConfig *m = rk_grpc_model_config_build(&c, &arena);
  assert_non_null(m);
  uint8_t buf[1024];
  size_t n = inference__model_config__pack(m, buf);
  rk_arena_free(&arena);
  Inference__ModelConfig *d = inference__model_config__unpack(NULL, n, buf);
  assert_non_null(d);
  assert_string_equal(d->name, "m");
  assert_string_equal(d->backend, "reckon");
  assert_int_equal(d->max_batch_size, 64);
  assert_int_equal(d->version_policy->policy_choice_case, INFERENCE__MODEL_VERSION_POLICY__POLICY_CHOICE_SPECIFIC);
  assert_int_equal(d->version_policy->specific->n_versions, 2);
  assert_int_equal(d->version_policy->specific->versions[1], 5);
  assert_int_equal(d->n_input, 1);
  assert_int_equal(d->input[0]->data_type, INFERENCE__DATA_TYPE__TYPE_INT64);
  assert_int_equal(d->input[0]->dims[0], -1);
  assert_true(d->input[0]->allow_ragged_batch);
  assert_int_equal(d->output[0]->data_type, INFERENCE__DATA_TYPE__TYPE_FP32);
  assert_int_equal(d->scheduling_choice_case, INFERENCE__MODEL_CONFIG__SCHEDULING_CHOICE_DYNAMIC_BATCHING);
  assert_int_equal(d->dynamic_batching->n_preferred_batch_size, 2);
  assert_int_equal(d->dynamic_batching->preferred_batch_size[1], 32);
  assert_int_equal(d->dynamic_batching->max_queue_delay_microseconds, 250);
  assert_int_equal(d->n_instance_group, 1);
  assert_int_equal(d->instance_group[0]->count, 3);
  assert_int_equal(d->instance_group[0]->kind, INFERENCE__MODEL_INSTANCE_GROUP__KIND__KIND_CPU);
  assert_int_equal(d->n_parameters, 1);
  assert_string_equal(d->parameters[0]->key, "reckon_kind");
  assert_string_equal(d->parameters[0]->value->string_value, "model");
  inference__model_config__free_unpacked(d, NULL);

  /* The other policies, and an ensemble's steps in place of dynamic batching. */
  rk_config_pair imap = {"user_id", "raw_user_id"}, omap = {"user_id", "user_id__transformed"};
  rk_ensemble_step step = {.model_name = "m_nvt", .model_version = -1, .input_map = &imap, .n_input_map = 1,
                           .output_map = &omap, .n_output_map = 1};
  rk_model_config e = {.name = "e", .platform = "ensemble", .max_batch_size = 64,
                       .version_policy = {.kind = RK_VERSION_POLICY_LATEST, .latest = 2}, .steps = &step, .n_steps = 1};
  rk_arena_init(&arena, 1024);
  m = rk_grpc_model_config_build(&e, &arena);
  n = inference__model_config__pack(m, buf);
  rk_arena_free(&arena);
  d = inference__model_config__unpack(NULL, n, buf);
  assert_non_null(d);
  assert_string_equal(d->platform, "ensemble");
  assert_int_equal(d->version_policy->latest->num_versions, 2);
  assert_int_equal(d->scheduling_choice_case, INFERENCE__MODEL_CONFIG__SCHEDULING_CHOICE_ENSEMBLE_SCHEDULING);
  Inference__ModelEnsembling__Step *st = d->ensemble_scheduling->step[0];
  assert_string_equal(st->model_name, "m_nvt");
  assert_int_equal(st->model_version, -1);
  assert_string_equal(st->input_map[0]->key, "user_id");
  assert_string_equal(st->input_map[0]->value, "raw_user_id");
  assert_string_equal(st->output_map[0]->value, "user_id__transformed");
  inference__model_config__free_unpacked(d, NULL);
  e.version_policy.kind = RK_VERSION_POLICY_ALL;
  rk_arena_init(&arena, 1024);
  m = rk_grpc_model_config_build(&e, &arena);
  assert_int_equal(m->version_policy->policy_choice_case, INFERENCE__MODEL_VERSION_POLICY__POLICY_CHOICE_ALL);
  rk_arena_free(&arena);
}

/* ---- an HTTP/2 client ---------------------------------------------------------------------------- */
typedef struct {
  int http_status;
  int grpc_status;              /* -1: none came */
  char grpc_message[1024];
  uint8_t data[1 << 16];
  size_t size;
  bool closed;
  const uint8_t *body;          /* the request body */
  size_t body_size, body_sent;
  bool trickle;                 /* one byte per resume (a slow client) */
  bool may_send;
} exchange;

static int cl_header(nghttp2_session *h2, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
                     const uint8_t *value, size_t valuelen, uint8_t flags, void *user_data) {
  (void)flags, (void)user_data;
  exchange *x = nghttp2_session_get_stream_user_data(h2, frame->hd.stream_id);
  if (!x) return 0;
  char v[1024];
  snprintf(v, sizeof v, "%.*s", (int)valuelen, value);
  if (namelen == 7 && !memcmp(name, ":status", 7)) x->http_status = atoi(v);
  if (namelen == 11 && !memcmp(name, "grpc-status", 11)) x->grpc_status = atoi(v);
  if (namelen == 12 && !memcmp(name, "grpc-message", 12)) snprintf(x->grpc_message, sizeof x->grpc_message, "%s", v);
  return 0;
}

static int cl_data(nghttp2_session *h2, uint8_t flags, int32_t id, const uint8_t *data, size_t len, void *user_data) {
  (void)flags, (void)user_data;
  exchange *x = nghttp2_session_get_stream_user_data(h2, id);
  if (x && x->size + len <= sizeof x->data) memcpy(x->data + x->size, data, len), x->size += len;
  return 0;
}

static int cl_close(nghttp2_session *h2, int32_t id, uint32_t error_code, void *user_data) {
  (void)error_code, (void)user_data;
  exchange *x = nghttp2_session_get_stream_user_data(h2, id);
  if (x) x->closed = true;
  return 0;
}

static ssize_t cl_read(nghttp2_session *h2, int32_t id, uint8_t *buf, size_t length, uint32_t *flags,
                       nghttp2_data_source *source, void *user_data) {
  (void)h2, (void)id, (void)user_data;
  exchange *x = source->ptr;
  if (x->trickle) {
    if (!x->may_send) return NGHTTP2_ERR_DEFERRED;
    x->may_send = false;
    length = 1;
  }
  size_t n = x->body_size - x->body_sent < length ? x->body_size - x->body_sent : length;
  memcpy(buf, x->body + x->body_sent, n);
  x->body_sent += n;
  if (x->body_sent == x->body_size) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return (ssize_t)n;
}

static int connect_to(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
  return fd;
}

typedef struct {
  int fd;
  nghttp2_session *h2;
  nghttp2_session_callbacks *cb;
} client;

static void client_open(client *c, int port) {
  c->fd = connect_to(port);
  nghttp2_session_callbacks_new(&c->cb);
  nghttp2_session_callbacks_set_on_header_callback(c->cb, cl_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(c->cb, cl_data);
  nghttp2_session_callbacks_set_on_stream_close_callback(c->cb, cl_close);
  nghttp2_session_client_new(&c->h2, c->cb, c);
  nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, NULL, 0);
}

static void client_close(client *c) {
  nghttp2_session_del(c->h2);
  nghttp2_session_callbacks_del(c->cb);
  close(c->fd);
}

static void submit(client *c, exchange *x, const char *method, const char *path, const char *ctype, const void *body,
                   size_t n) {
  memset(x, 0, sizeof *x);
  x->grpc_status = -1;
  x->body = body;
  x->body_size = n;
  nghttp2_nv nva[] = {
      {(uint8_t *)":method", (uint8_t *)method, 7, strlen(method), 0},
      {(uint8_t *)":scheme", (uint8_t *)"http", 7, 4, 0},
      {(uint8_t *)":path", (uint8_t *)path, 5, strlen(path), 0},
      {(uint8_t *)":authority", (uint8_t *)"localhost", 10, 9, 0},
      {(uint8_t *)"content-type", (uint8_t *)ctype, 12, strlen(ctype), 0},
      {(uint8_t *)"te", (uint8_t *)"trailers", 2, 8, 0},
  };
  nghttp2_data_provider dp = {.source.ptr = x, .read_callback = cl_read};
  assert_true(nghttp2_submit_request(c->h2, NULL, nva, 6, body ? &dp : NULL, x) > 0);
}

/* Pump until every exchange closed (or 10 s); false when the server closed the connection. */
static bool pump(client *c, exchange *xs, int n) {
  for (int64_t start = time(NULL); time(NULL) - start < 10;) {
    const uint8_t *data;
    ssize_t k;
    while ((k = nghttp2_session_mem_send(c->h2, &data)) > 0)
      if (send(c->fd, data, (size_t)k, MSG_NOSIGNAL) != k) return false;
    bool all = true;
    for (int i = 0; i < n; i++) all = all && xs[i].closed;
    if (all) return true;
    struct pollfd p = {c->fd, POLLIN, 0};
    if (poll(&p, 1, 200) <= 0) continue;
    uint8_t buf[1 << 14];
    ssize_t got = recv(c->fd, buf, sizeof buf, 0);
    if (got <= 0) return false;
    if (nghttp2_session_mem_recv(c->h2, buf, (size_t)got) < 0) return false;
  }
  return false;
}

/* One unary call with a framed body. */
static void call(int port, const char *method, const void *message, size_t n, exchange *x) {
  uint8_t *body = malloc(n + 5);
  rk_grpc_write_prefix(body, (uint32_t)n);
  if (n) memcpy(body + 5, message, n);
  char path[128];
  snprintf(path, sizeof path, "/inference.GRPCInferenceService/%s", method);
  client c;
  client_open(&c, port);
  submit(&c, x, "POST", path, "application/grpc", body, n + 5);
  if (!pump(&c, x, 1)) fail_msg("no answer to %s", method);
  client_close(&c);
  free(body);
}

/* ---- the server over a hand-made repository -------------------------------------------------------- */
typedef struct {
  rk_server *core;
  rk_grpc_server *grpc;
  int port;
} fixture;

static fixture fx;

static int server_setup(void **state) {
  (void)state;
  const char *repo = rk_test_tmpdir("serve_grpc_repo");
  /* One model folder whose config names no runnable backend: it is listed, and loading it fails
   * with the core's message. */
  char dir[512];
  snprintf(dir, sizeof dir, "%s/broken/1", repo);
  rk_test_system("mkdir -p '%s'", dir);
  rk_test_write_file(rk_test_path(repo, "broken/config.pbtxt"), "name: \"broken\"\nplatform: \"tensorflow_savedmodel\"\n");
  rk_serve_options so;
  rk_serve_options_default(&so);
  so.repository = repo;
  so.control = RK_SERVE_CONTROL_EXPLICIT;
  so.workers = 2;
  assert_rk_ok(rk_server_open(&fx.core, &so));
  rk_grpc_options go;
  rk_grpc_options_default(&go);
  go.address = "127.0.0.1";
  go.port = 0;
  go.max_message_bytes = 4096;
  go.max_streams = 8;
  go.idle_timeout_ms = 300;
  go.workers = 2;
  assert_rk_ok(rk_grpc_server_start(&fx.grpc, fx.core, &go));
  fx.port = rk_grpc_server_port(fx.grpc);
  assert_true(fx.port > 0);
  return 0;
}

static int server_teardown(void **state) {
  (void)state;
  rk_grpc_server_stop(fx.grpc);
  rk_server_close(fx.core);
  return 0;
}

static void test_grpc_health_and_metadata(void **state) {
  (void)state;
  exchange x;
  call(fx.port, "ServerLive", NULL, 0, &x);
  assert_int_equal(x.http_status, 200);
  assert_int_equal(x.grpc_status, 0);
  Inference__ServerLiveResponse *live = inference__server_live_response__unpack(NULL, x.size - 5, x.data + 5);
  assert_non_null(live);
  assert_true(live->live);
  inference__server_live_response__free_unpacked(live, NULL);

  call(fx.port, "ServerMetadata", NULL, 0, &x);
  assert_int_equal(x.grpc_status, 0);
  Inference__ServerMetadataResponse *md = inference__server_metadata_response__unpack(NULL, x.size - 5, x.data + 5);
  assert_non_null(md);
  assert_string_equal(md->name, rk_serve_server_name());
  assert_string_equal(md->version, rk_version());
  inference__server_metadata_response__free_unpacked(md, NULL);

  Inference__RepositoryIndexRequest ir = INFERENCE__REPOSITORY_INDEX_REQUEST__INIT;
  uint8_t buf[256];
  size_t n = inference__repository_index_request__pack(&ir, buf);
  call(fx.port, "RepositoryIndex", buf, n, &x);
  assert_int_equal(x.grpc_status, 0);
  Inference__RepositoryIndexResponse *ix = inference__repository_index_response__unpack(NULL, x.size - 5, x.data + 5);
  assert_non_null(ix);
  assert_int_equal(ix->n_models, 1);
  assert_string_equal(ix->models[0]->name, "broken");
  inference__repository_index_response__free_unpacked(ix, NULL);
}

static void test_grpc_core_errors(void **state) {
  (void)state;
  exchange x;
  uint8_t buf[256];
  Inference__ModelReadyRequest rr = INFERENCE__MODEL_READY_REQUEST__INIT;
  rr.name = "nope";
  call(fx.port, "ModelReady", buf, inference__model_ready_request__pack(&rr, buf), &x);
  assert_int_equal(x.grpc_status, RK_GRPC_NOT_FOUND);
  assert_non_null(strstr(x.grpc_message, "nope"));
  rr.name = "";
  call(fx.port, "ModelReady", buf, inference__model_ready_request__pack(&rr, buf), &x);
  assert_int_equal(x.grpc_status, RK_GRPC_INVALID_ARGUMENT);
  assert_non_null(strstr(x.grpc_message, "ModelReady: name is empty"));
  rr.name = "broken", rr.version = "x";
  call(fx.port, "ModelReady", buf, inference__model_ready_request__pack(&rr, buf), &x);
  assert_int_equal(x.grpc_status, RK_GRPC_INVALID_ARGUMENT);
  assert_non_null(strstr(x.grpc_message, "version 'x' is not a version"));

  Inference__RepositoryModelLoadRequest lr = INFERENCE__REPOSITORY_MODEL_LOAD_REQUEST__INIT;
  lr.model_name = "../etc";
  call(fx.port, "RepositoryModelLoad", buf, inference__repository_model_load_request__pack(&lr, buf), &x);
  assert_true(x.grpc_status == RK_GRPC_INVALID_ARGUMENT || x.grpc_status == RK_GRPC_NOT_FOUND);
  lr.model_name = "broken";
  call(fx.port, "RepositoryModelLoad", buf, inference__repository_model_load_request__pack(&lr, buf), &x);
  assert_int_not_equal(x.grpc_status, 0);
  assert_non_null(strstr(x.grpc_message, "broken"));

  Inference__ModelInferRequest mr = INFERENCE__MODEL_INFER_REQUEST__INIT;
  mr.model_name = "nope";
  call(fx.port, "ModelInfer", buf, inference__model_infer_request__pack(&mr, buf), &x);
  assert_int_equal(x.grpc_status, RK_GRPC_NOT_FOUND);
  assert_non_null(strstr(x.grpc_message, "nope"));
  const uint8_t junk[] = {0x12, 0xff, 0xff, 0xff};
  call(fx.port, "ModelInfer", junk, sizeof junk, &x);
  assert_int_equal(x.grpc_status, RK_GRPC_INVALID_ARGUMENT);
  assert_non_null(strstr(x.grpc_message, "cannot decode the ModelInferRequest"));
}

static void test_grpc_framing_errors(void **state) {
  (void)state;
  exchange x;
  call(fx.port, "ModelStreamInfer", NULL, 0, &x);
  assert_int_equal(x.grpc_status, RK_GRPC_UNIMPLEMENTED);
  assert_non_null(strstr(x.grpc_message, "unknown method '/inference.GRPCInferenceService/ModelStreamInfer'"));

  client c;
  exchange xs[5];
  const uint8_t zipped[] = {1, 0, 0, 0, 1, 0};
  const uint8_t truncated[] = {0, 0, 0, 0, 9, 1, 2};
  uint8_t big[5 + 4097] = {0};
  rk_grpc_write_prefix(big, 4097);
  client_open(&c, fx.port);
  submit(&c, &xs[0], "POST", "/inference.GRPCInferenceService/ServerLive", "application/grpc", zipped, sizeof zipped);
  submit(&c, &xs[1], "POST", "/inference.GRPCInferenceService/ServerLive", "application/grpc", truncated, sizeof truncated);
  submit(&c, &xs[2], "POST", "/inference.GRPCInferenceService/ServerLive", "application/grpc", big, sizeof big);
  submit(&c, &xs[3], "POST", "/inference.GRPCInferenceService/ServerLive", "application/json", zipped, 5);
  submit(&c, &xs[4], "GET", "/inference.GRPCInferenceService/ServerLive", "application/grpc", NULL, 0);
  assert_true(pump(&c, xs, 5));
  assert_int_equal(xs[0].grpc_status, RK_GRPC_UNIMPLEMENTED);
  assert_non_null(strstr(xs[0].grpc_message, "compressed messages are not supported"));
  assert_int_equal(xs[1].grpc_status, RK_GRPC_INVALID_ARGUMENT);
  assert_non_null(strstr(xs[1].grpc_message, "announces 9 bytes, 2 came"));
  assert_int_equal(xs[2].grpc_status, RK_GRPC_RESOURCE_EXHAUSTED);
  assert_non_null(strstr(xs[2].grpc_message, "4097 bytes is over the limit of 4096"));
  assert_int_equal(xs[3].http_status, 415);
  assert_int_equal(xs[4].http_status, 405);
  /* The server told the client its stream limit. */
  assert_int_equal(nghttp2_session_get_remote_settings(c.h2, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS), 8);
  client_close(&c);
}

/* Many streams at once on one connection: every one answered, each with its own reply. */
static void test_grpc_concurrent_streams(void **state) {
  (void)state;
  enum { N = 8 };
  client c;
  exchange xs[N];
  uint8_t bodies[N][64];
  size_t sizes[N];
  client_open(&c, fx.port);
  for (int i = 0; i < N; i++) {
    Inference__ModelReadyRequest rr = INFERENCE__MODEL_READY_REQUEST__INIT;
    char name[16];
    snprintf(name, sizeof name, "m%d", i);
    rr.name = name;
    sizes[i] = inference__model_ready_request__pack(&rr, bodies[i] + 5);
    rk_grpc_write_prefix(bodies[i], (uint32_t)sizes[i]);
    submit(&c, &xs[i], "POST", "/inference.GRPCInferenceService/ModelReady", "application/grpc", bodies[i], sizes[i] + 5);
  }
  assert_true(pump(&c, xs, N));
  for (int i = 0; i < N; i++) {
    char want[16];
    snprintf(want, sizeof want, "'m%d'", i);
    assert_int_equal(xs[i].grpc_status, RK_GRPC_NOT_FOUND);
    assert_non_null(strstr(xs[i].grpc_message, want));
  }
  client_close(&c);
}

/* Broken HTTP/2 closes that connection only; a connection that says nothing is closed after the
 * idle timeout; the server keeps serving. */
static void test_grpc_broken_and_idle_connections(void **state) {
  (void)state;
  const char *garbage[] = {"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                           "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x04\x01\x05\x00\x00\x00\x01\xff\xff\xff\xff"};
  const size_t sizes[] = {strlen(garbage[0]), 24 + 13};
  for (int i = 0; i < 2; i++) {
    int fd = connect_to(fx.port);
    assert_int_equal(send(fd, garbage[i], sizes[i], MSG_NOSIGNAL), (ssize_t)sizes[i]);
    uint8_t buf[4096];
    ssize_t got;
    struct pollfd p = {fd, POLLIN, 0};
    while (poll(&p, 1, 5000) > 0 && (got = recv(fd, buf, sizeof buf, 0)) > 0) {
    }
    assert_true(poll(&p, 1, 0) >= 0);   /* closed by the server, not by the 5 s guard */
    assert_int_equal(recv(fd, buf, sizeof buf, MSG_DONTWAIT), 0);
    close(fd);
  }
  int fd = connect_to(fx.port);
  struct pollfd p = {fd, POLLIN, 0};
  uint8_t buf[4096];
  ssize_t got = 1;
  while (got > 0 && poll(&p, 1, 5000) > 0) got = recv(fd, buf, sizeof buf, 0);
  assert_int_equal(got, 0);   /* the idle timeout (300 ms) closed it */
  close(fd);
  exchange x;
  call(fx.port, "ServerLive", NULL, 0, &x);
  assert_int_equal(x.grpc_status, 0);
}

/* Whether the server closed fd (or reset it) within `ms`. */
static bool closed_within(int fd, int ms) {
  struct pollfd p = {fd, POLLIN, 0};
  uint8_t buf[4096];
  while (poll(&p, 1, ms) > 0) {
    ssize_t got = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (got == 0 || (got < 0 && errno != EAGAIN)) return true;
  }
  return false;
}

/* A client that sends a byte every 50 ms is dropped by the request timeout (400 ms) although the
 * idle timeout (30 s) never fires: first while it says the preface, then inside a request. */
static void test_grpc_slow_client_dropped(void **state) {
  (void)state;
  rk_grpc_options go;
  rk_grpc_options_default(&go);
  go.address = "127.0.0.1";
  go.port = 0;
  go.idle_timeout_ms = 30000;
  go.request_timeout_ms = 400;
  rk_grpc_server *g = NULL;
  assert_rk_ok(rk_grpc_server_start(&g, fx.core, &go));
  int port = rk_grpc_server_port(g);

  const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  int fd = connect_to(port);
  bool dropped = false;
  for (int i = 0; i < 200 && !dropped; i++) {   /* 10 s of dribbling at most */
    if (send(fd, &preface[i % 8], 1, MSG_NOSIGNAL) != 1) dropped = true;
    else dropped = closed_within(fd, 50);
    if (i == 22) i = 0;   /* never finish the preface */
  }
  assert_true(dropped);
  close(fd);

  client c;
  exchange x;
  uint8_t body[64] = {0};
  rk_grpc_write_prefix(body, 59);
  client_open(&c, port);
  submit(&c, &x, "POST", "/inference.GRPCInferenceService/ServerLive", "application/grpc", body, sizeof body);
  x.trickle = true;
  dropped = false;
  for (int i = 0; i < 200 && !dropped; i++) {
    x.may_send = true;
    nghttp2_session_resume_data(c.h2, 1);
    const uint8_t *data;
    ssize_t k;
    while ((k = nghttp2_session_mem_send(c.h2, &data)) > 0)
      if (send(c.fd, data, (size_t)k, MSG_NOSIGNAL) != k) dropped = true;
    dropped = dropped || closed_within(c.fd, 50);
    if (x.body_sent == sizeof body - 1) x.body_sent = 8;   /* never finish the message */
  }
  assert_true(dropped);
  assert_false(x.closed && x.grpc_status >= 0);   /* no answer: the connection went */
  client_close(&c);
  rk_grpc_server_stop(g);
}

static void test_grpc_options_refused(void **state) {
  (void)state;
  rk_grpc_options go;
  rk_grpc_options_default(&go);
  rk_grpc_server *s = NULL;
  go.port = 70000;
  assert_int_equal(rk_grpc_server_start(&s, fx.core, &go), RK_ERANGE);
  assert_non_null(strstr(rk_error_message(), "gRPC port 70000"));
  go.port = 0;
  go.address = "localhost:1";
  assert_int_equal(rk_grpc_server_start(&s, fx.core, &go), RK_EUSAGE);
  assert_non_null(strstr(rk_error_message(), "'localhost:1'"));
  go.address = "127.0.0.1";
  go.port = fx.port;   /* taken */
  assert_int_equal(rk_grpc_server_start(&s, fx.core, &go), RK_EIO);
  assert_non_null(strstr(rk_error_message(), "cannot listen for gRPC on 127.0.0.1 port"));
  assert_null(s);
  go.address = "::1";   /* IPv6 loopback, where the machine has it */
  go.port = 0;
  if (rk_grpc_server_start(&s, fx.core, &go) == RK_OK) {
    assert_true(rk_grpc_server_port(s) > 0);
    rk_grpc_server_stop(s);
  }
}

int main(void) {
  const struct CMUnitTest pure[] = {
      cmocka_unit_test(test_grpc_split_unary),
      cmocka_unit_test(test_grpc_prefix_and_percent),
      cmocka_unit_test(test_grpc_infer_typed_contents),
      cmocka_unit_test(test_grpc_infer_raw_contents),
      cmocka_unit_test(test_grpc_model_config_message),
  };
  const struct CMUnitTest served[] = {
      cmocka_unit_test(test_grpc_health_and_metadata),
      cmocka_unit_test(test_grpc_core_errors),
      cmocka_unit_test(test_grpc_framing_errors),
      cmocka_unit_test(test_grpc_concurrent_streams),
      cmocka_unit_test(test_grpc_broken_and_idle_connections),
      cmocka_unit_test(test_grpc_slow_client_dropped),
      cmocka_unit_test(test_grpc_options_refused),
  };
  int failed = cmocka_run_group_tests(pure, NULL, NULL);
  return failed + cmocka_run_group_tests(served, server_setup, server_teardown);
}

#else
int main(void) {
  printf("gRPC is not built (no nghttp2 or protobuf-c): nothing to test\n");
  return 0;
}
#endif
