/*
 * The KServe v2 REST endpoints (http_routes.h): parse the path, call the core, answer JSON.
 */
#include "serve/http/http_routes.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/http/infer_body.h"

static const char content_json[] = "application/json";

void rk_http_reply_free(rk_http_reply *reply) {
  rk_free(reply->body);
  memset(reply, 0, sizeof *reply);
}

static void reply_json(rk_http_reply *reply, int status, json_t *doc) {
  char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(17) | JSON_ENCODE_ANY) : NULL;
  json_decref(doc);
  reply->status = status, reply->content_type = content_json, reply->json_size = 0;
  if (!text) {
    reply->status = 500;
    reply->body = NULL, reply->size = 0;
    return;
  }
  size_t n = strlen(text);
  reply->body = rk_malloc(n + 1);
  if (reply->body) memcpy(reply->body, text, n + 1);
  reply->size = reply->body ? n : 0;
  if (!reply->body) reply->status = 500;
  free(text);
}

void rk_http_reply_error(rk_http_reply *reply, int status, const char *message) {
  reply_json(reply, status, json_pack("{s:s}", "error", message));
}

static void reply_status(rk_http_reply *reply, int status) {
  reply->status = status, reply->body = NULL, reply->size = 0, reply->json_size = 0, reply->content_type = content_json;
}

/* A failed core call: its class decides the status, its message is the error. */
static void reply_failure(rk_http_reply *reply, rk_status st) {
  rk_http_reply_error(reply, rk_serve_code_http(rk_serve_error_code(st)), rk_error_message());
}

/* ---- paths ----------------------------------------------------------------------------------- */

/* "/v2/models/M[/versions/V][/rest]" split; false when it is not such a path. */
typedef struct {
  char model[256];
  int64_t version;              /* 0: none given */
  const char *rest;             /* "" or "ready", "config", "stats", "infer" */
  bool bad_version;
} model_path;

static bool split_model_path(const char *path, const char *prefix, model_path *mp) {
  size_t plen = strlen(prefix);
  if (strncmp(path, prefix, plen) != 0) return false;
  const char *p = path + plen;
  const char *slash = strchr(p, '/');
  size_t n = slash ? (size_t)(slash - p) : strlen(p);
  if (n == 0 || n >= sizeof mp->model) return false;
  memcpy(mp->model, p, n);
  mp->model[n] = '\0';
  mp->version = 0, mp->bad_version = false;
  p += n;
  if (strncmp(p, "/versions/", 10) == 0) {
    p += 10;
    char *end = NULL;
    errno = 0;
    long long v = *p >= '0' && *p <= '9' ? strtoll(p, &end, 10) : -1;
    if (v <= 0 || errno || !end || (*end && *end != '/')) {
      mp->bad_version = true;
      end = strchr(p, '/');
      p = end ? end : p + strlen(p);
    } else {
      mp->version = v;
      p = end;
    }
  }
  mp->rest = *p == '/' ? p + 1 : p;
  return *p == '\0' || *p == '/';
}

/* ---- endpoints ------------------------------------------------------------------------------- */

static void server_metadata(rk_http_reply *reply) {
  const char *const *names = NULL;
  int n = rk_serve_server_extensions(&names);
  json_t *ext = json_array();
  for (int i = 0; i < n; i++) json_array_append_new(ext, json_string(names[i]));
  reply_json(reply, 200, json_pack("{s:s, s:s, s:o}", "name", rk_serve_server_name(), "version", rk_version(),
                                   "extensions", ext));
}

static json_t *shape_json(int ndim, const int64_t *shape) {
  json_t *a = json_array();
  for (int d = 0; d < ndim; d++) json_array_append_new(a, json_integer(shape[d]));
  return a;
}

static json_t *tensor_meta_json(const rk_serve_tensor_meta *t, int n) {
  json_t *a = json_array();
  for (int i = 0; i < n; i++)
    json_array_append_new(a, json_pack("{s:s, s:s, s:o}", "name", t[i].name, "datatype",
                                       rk_kserve_dtype_name(t[i].datatype), "shape",
                                       shape_json(t[i].ndim, t[i].shape)));
  return a;
}

static void model_metadata(rk_http_reply *reply, rk_server *core, const model_path *mp) {
  rk_serve_model_meta m;
  rk_status st = rk_server_model_metadata(core, mp->model, mp->version, &m);
  if (st != RK_OK) return reply_failure(reply, st);
  json_t *versions = json_array();
  char buf[32];
  for (int i = 0; i < m.n_versions; i++) {
    snprintf(buf, sizeof buf, "%lld", (long long)m.versions[i]);
    json_array_append_new(versions, json_string(buf));
  }
  reply_json(reply, 200,
             json_pack("{s:s, s:o, s:s, s:o, s:o}", "name", m.name, "versions", versions, "platform",
                       m.platform ? m.platform : "", "inputs", tensor_meta_json(m.inputs, m.n_inputs), "outputs",
                       tensor_meta_json(m.outputs, m.n_outputs)));
  rk_serve_model_meta_free(&m);
}

static void model_ready(rk_http_reply *reply, rk_server *core, const model_path *mp) {
  bool ready = false;
  rk_status st = rk_server_model_ready(core, mp->model, mp->version, &ready);
  if (st != RK_OK) return reply_failure(reply, st);
  reply_status(reply, ready ? 200 : 503);
}

/* model_config.proto's JSON mapping of the fields reckon reads and writes. */
static json_t *config_tensors_json(const rk_model_config_tensor *t, int n) {
  json_t *a = json_array();
  for (int i = 0; i < n; i++) {
    json_t *o = json_pack("{s:s, s:s, s:o}", "name", t[i].name, "data_type", rk_serve_dtype_config_name(t[i].data_type),
                          "dims", shape_json(t[i].n_dims, t[i].dims));
    if (t[i].allow_ragged_batch) json_object_set_new(o, "allow_ragged_batch", json_true());
    if (t[i].optional) json_object_set_new(o, "optional", json_true());
    json_array_append_new(a, o);
  }
  return a;
}

static json_t *config_map_json(const rk_config_pair *p, int n) {
  json_t *o = json_object();
  for (int i = 0; i < n; i++) json_object_set_new(o, p[i].key, json_string(p[i].value));
  return o;
}

static json_t *config_json(const rk_model_config *c) {
  json_t *o = json_pack("{s:s, s:I, s:o, s:o}", "name", c->name, "max_batch_size", (json_int_t)c->max_batch_size,
                        "input", config_tensors_json(c->input, c->n_input), "output",
                        config_tensors_json(c->output, c->n_output));
  if (c->platform) json_object_set_new(o, "platform", json_string(c->platform));
  if (c->backend) json_object_set_new(o, "backend", json_string(c->backend));
  const rk_version_policy *vp = &c->version_policy;
  json_t *policy = NULL;
  if (vp->kind == RK_VERSION_POLICY_ALL) policy = json_pack("{s:{}}", "all");
  else if (vp->kind == RK_VERSION_POLICY_SPECIFIC)
    policy = json_pack("{s:{s:o}}", "specific", "versions", shape_json(vp->n_specific, vp->specific));
  else policy = json_pack("{s:{s:I}}", "latest", "num_versions", (json_int_t)vp->latest);
  json_object_set_new(o, "version_policy", policy);
  if (c->dynamic_batching)
    json_object_set_new(o, "dynamic_batching",
                        json_pack("{s:o, s:I}", "preferred_batch_size",
                                  shape_json(c->n_preferred_batch_size, c->preferred_batch_size),
                                  "max_queue_delay_microseconds", (json_int_t)c->max_queue_delay_microseconds));
  if (c->instance_count > 0)
    json_object_set_new(o, "instance_group",
                        json_pack("[{s:I, s:s}]", "count", (json_int_t)c->instance_count, "kind", "KIND_CPU"));
  if (c->n_steps > 0) {
    json_t *steps = json_array();
    for (int i = 0; i < c->n_steps; i++) {
      const rk_ensemble_step *s = &c->steps[i];
      json_array_append_new(steps, json_pack("{s:s, s:I, s:o, s:o}", "model_name", s->model_name, "model_version",
                                             (json_int_t)s->model_version, "input_map",
                                             config_map_json(s->input_map, s->n_input_map), "output_map",
                                             config_map_json(s->output_map, s->n_output_map)));
    }
    json_object_set_new(o, "ensemble_scheduling", json_pack("{s:o}", "step", steps));
  }
  if (c->n_parameters > 0) {
    json_t *params = json_object();
    for (int i = 0; i < c->n_parameters; i++)
      json_object_set_new(params, c->parameters[i].key, json_pack("{s:s}", "string_value", c->parameters[i].value));
    json_object_set_new(o, "parameters", params);
  }
  return o;
}

static void model_config(rk_http_reply *reply, rk_server *core, const model_path *mp) {
  rk_model_config c;
  rk_status st = rk_server_model_config(core, mp->model, mp->version, &c, NULL);
  if (st != RK_OK) return reply_failure(reply, st);
  reply_json(reply, 200, config_json(&c));
  rk_model_config_free(&c);
}

static json_t *duration_json(const rk_serve_duration *d) {
  return json_pack("{s:I, s:I}", "count", (json_int_t)d->count, "ns", (json_int_t)d->ns);
}

static void model_stats(rk_http_reply *reply, rk_server *core, const char *model, int64_t version) {
  rk_serve_stats s;
  rk_status st = rk_server_stats(core, model, version, &s);
  if (st != RK_OK) return reply_failure(reply, st);
  json_t *models = json_array();
  char buf[32];
  for (int i = 0; i < s.n; i++) {
    const rk_serve_model_stats *m = &s.models[i];
    snprintf(buf, sizeof buf, "%lld", (long long)m->version);
    json_t *batches = json_array();
    for (int b = 0; b < m->n_batch; b++)
      json_array_append_new(batches, json_pack("{s:I, s:o, s:o, s:o}", "batch_size", (json_int_t)m->batch[b].batch_size,
                                               "compute_input", duration_json(&m->batch[b].compute_input),
                                               "compute_infer", duration_json(&m->batch[b].compute_infer),
                                               "compute_output", duration_json(&m->batch[b].compute_output)));
    json_array_append_new(
        models, json_pack("{s:s, s:s, s:I, s:I, s:I, s:{s:o, s:o, s:o, s:o, s:o, s:o}, s:o}", "name", m->name,
                          "version", buf, "last_inference", (json_int_t)m->last_inference_ms, "inference_count",
                          (json_int_t)m->inference_count, "execution_count", (json_int_t)m->execution_count,
                          "inference_stats", "success", duration_json(&m->success), "fail", duration_json(&m->fail),
                          "queue", duration_json(&m->queue), "compute_input", duration_json(&m->compute_input),
                          "compute_infer", duration_json(&m->compute_infer), "compute_output",
                          duration_json(&m->compute_output), "batch_stats", batches));
  }
  rk_serve_stats_free(&s);
  reply_json(reply, 200, json_pack("{s:o}", "model_stats", models));
}

/* ---- calls answered later: infer (the core calls back), load and unload (a thread of their own) -- */

/* A call stays under glibc's small-block size (about 1 KiB): a larger block makes malloc
 * consolidate its free lists, which cost more than the rest of the allocation on every request. */
typedef enum { CALL_INFER, CALL_LOAD, CALL_UNLOAD } call_kind;

struct rk_http_call {
  call_kind kind;
  rk_server *core;              /* load, unload */
  bool dependents;              /* unload: unload_dependents */
  rk_http_infer_request req;    /* infer: points into the request body */
  char model[256];
  rk_serve_input *inputs;       /* (req.ninputs) the core's view of req.inputs */
  const char **wanted;          /* (req.noutputs) */
  rk_serve_request sreq;        /* the core reads it until it answers */
  rk_http_answered_fn answered;
  void *ctx;
  /* the answer, written on the core's thread before answered() */
  rk_status status;
  rk_serve_code code;
  rk_serve_response resp;
  char *message;                /* a failure's; NULL: out of memory copying it */
};

void rk_http_call_free(rk_http_call *call) {
  rk_free(call->message);
  rk_serve_response_free(&call->resp);
  rk_free(call->wanted);
  rk_free(call->inputs);
  rk_http_infer_request_free(&call->req);
  rk_free(call);
}

static void infer_done(void *ctx, rk_status status, rk_serve_code code, rk_serve_response *resp) {
  rk_http_call *call = ctx;
  call->status = status, call->code = code;
  if (status == RK_OK) call->resp = *resp;
  else call->message = rk_strdup(rk_error_message());
  call->answered(call->ctx);   /* the call may be gone after this */
}

static rk_http_call *infer(rk_http_reply *reply, rk_server *core, const rk_http_options *o, const model_path *mp,
                           const uint8_t *body, size_t size, const char *json_length, rk_http_answered_fn answered,
                           void *ctx) {
  int64_t jsize = -1;
  if (json_length && rk_http_parse_json_length(json_length, size, &jsize) != RK_OK) {
    rk_http_reply_error(reply, 400, rk_error_message());
    return NULL;
  }
  rk_http_call *call = rk_calloc(1, sizeof *call);
  if (!call) {
    rk_http_reply_error(reply, 500, "out of memory reading an infer request");
    return NULL;
  }
  if (rk_http_infer_parse(&call->req, body, size, jsize, o->max_tensor_elements) != RK_OK) {
    rk_http_reply_error(reply, 400, rk_error_message());
    rk_http_call_free(call);
    return NULL;
  }
  const rk_http_infer_request *req = &call->req;
  call->inputs = rk_calloc((size_t)req->ninputs, sizeof *call->inputs);
  call->wanted = req->noutputs ? rk_calloc((size_t)req->noutputs, sizeof *call->wanted) : NULL;
  if (!call->inputs || (req->noutputs && !call->wanted)) {
    rk_http_reply_error(reply, 500, "out of memory reading an infer request");
    rk_http_call_free(call);
    return NULL;
  }
  for (int i = 0; i < req->ninputs; i++) {
    const rk_http_tensor *t = &req->inputs[i];
    call->inputs[i] = (rk_serve_input){.name = t->name, .datatype = t->datatype, .ndim = t->ndim, .data = t->data,
                                       .nbytes = (int64_t)t->size};
    memcpy(call->inputs[i].shape, t->shape, sizeof t->shape);
  }
  for (int i = 0; i < req->noutputs; i++) call->wanted[i] = req->outputs[i].name;
  snprintf(call->model, sizeof call->model, "%s", mp->model);
  call->sreq = (rk_serve_request){.model = call->model, .version = mp->version, .id = req->id,
                                  .inputs = call->inputs, .n_inputs = req->ninputs, .outputs = call->wanted,
                                  .n_outputs = req->noutputs};
  call->kind = CALL_INFER, call->answered = answered, call->ctx = ctx;
  rk_status st = rk_server_infer_async(core, &call->sreq, infer_done, call);
  if (st != RK_OK) {   /* refused before queueing: infer_done never runs */
    reply_failure(reply, st);
    rk_http_call_free(call);
    return NULL;
  }
  return call;
}

void rk_http_call_reply(rk_http_reply *reply, rk_http_call *call) {
  memset(reply, 0, sizeof *reply);
  if (call->status == RK_OK && call->kind != CALL_INFER) {
    reply_status(reply, 200);
    return rk_http_call_free(call);
  }
  if (call->status != RK_OK) {
    rk_http_reply_error(reply, rk_serve_code_http(call->code),
                        call->message ? call->message : "out of memory copying the failure's message");
    return rk_http_call_free(call);
  }
  const rk_serve_response *sres = &call->resp;
  rk_http_infer_response res;
  char version[32];
  snprintf(version, sizeof version, "%lld", (long long)sres->model_version);
  rk_status st = rk_http_infer_response_begin(&res, sres->model_name, version, call->req.id);
  for (int i = 0; st == RK_OK && i < sres->n_outputs; i++) {
    const rk_serve_output *out = &sres->outputs[i];
    st = rk_http_infer_response_add(&res, out->name, out->datatype, out->ndim, out->shape, out->data,
                                    (size_t)out->nbytes, rk_http_output_wants_binary(&call->req, out->name));
  }
  size_t jlen = 0;
  if (st == RK_OK) st = rk_http_infer_response_finish(&res, &reply->body, &reply->size, &jlen);
  if (st == RK_OK) {
    reply->status = 200;
    reply->json_size = res.binary_size ? jlen : 0;
    reply->content_type = res.binary_size ? "application/octet-stream" : content_json;
  } else {
    rk_http_reply_error(reply, 500, "out of memory writing the infer response");
  }
  rk_http_infer_response_free(&res);
  rk_http_call_free(call);
}

/* A JSON object body (possibly empty); NULL with a 400 reply when it is not one. */
static json_t *object_body(rk_http_reply *reply, const uint8_t *body, size_t size, const char *what) {
  if (size == 0) return json_object();
  json_error_t err;
  json_t *doc = json_loadb((const char *)body, size, JSON_REJECT_DUPLICATES, &err);
  if (!json_is_object(doc)) {
    char msg[300];
    snprintf(msg, sizeof msg, "%s: the body must be a JSON object%s%s", what, doc ? "" : ": ", doc ? "" : err.text);
    json_decref(doc);
    rk_http_reply_error(reply, 400, msg);
    return NULL;
  }
  return doc;
}

static void repository_index(rk_http_reply *reply, rk_server *core, const uint8_t *body, size_t size) {
  json_t *req = object_body(reply, body, size, "repository index");
  if (!req) return;
  const json_t *ready = json_object_get(req, "ready");
  if (ready && !json_is_boolean(ready)) {
    json_decref(req);
    return rk_http_reply_error(reply, 400, "repository index: 'ready' must be true or false");
  }
  rk_serve_index ix;
  rk_status st = rk_server_index(core, json_is_true(ready), &ix);
  json_decref(req);
  if (st != RK_OK) return reply_failure(reply, st);
  json_t *arr = json_array();
  char buf[32];
  for (int i = 0; i < ix.n; i++) {
    const rk_serve_index_entry *e = &ix.entries[i];
    json_t *o = json_pack("{s:s, s:s}", "name", e->name, "state", rk_model_state_name(e->state));
    if (e->version > 0) {
      snprintf(buf, sizeof buf, "%lld", (long long)e->version);
      json_object_set_new(o, "version", json_string(buf));
    }
    if (e->reason && *e->reason) json_object_set_new(o, "reason", json_string(e->reason));
    json_array_append_new(arr, o);
  }
  rk_serve_index_free(&ix);
  reply_json(reply, 200, arr);
}

static void *repository_main(void *arg) {
  rk_http_call *call = arg;
  call->status = call->kind == CALL_LOAD ? rk_server_load(call->core, call->model)
                                         : rk_server_unload(call->core, call->model, call->dependents);
  if (call->status != RK_OK) {
    call->code = rk_serve_error_code(call->status);
    call->message = rk_strdup(rk_error_message());
  }
  call->answered(call->ctx);   /* the call may be gone after this */
  return NULL;
}

/* A load (or unload) runs on a thread of its own, which answers the call: loading a model can
 * take seconds, and an unload waits for the requests in flight. */
static rk_http_call *repository_load(rk_http_reply *reply, rk_server *core, const char *model, bool load,
                                     const uint8_t *body, size_t size, rk_http_answered_fn answered, void *ctx) {
  json_t *req = object_body(reply, body, size, load ? "repository load" : "repository unload");
  if (!req) return NULL;
  bool dependents = json_is_true(json_object_get(json_object_get(req, "parameters"), "unload_dependents"));
  json_decref(req);
  rk_http_call *call = rk_calloc(1, sizeof *call);
  if (!call) {
    rk_http_reply_error(reply, 500, "out of memory starting a repository load or unload");
    return NULL;
  }
  *call = (rk_http_call){.kind = load ? CALL_LOAD : CALL_UNLOAD, .core = core, .dependents = dependents,
                         .answered = answered, .ctx = ctx};
  snprintf(call->model, sizeof call->model, "%s", model);
  pthread_attr_t attr;
  pthread_t thread;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  bool started = pthread_create(&thread, &attr, repository_main, call) == 0;
  pthread_attr_destroy(&attr);
  if (started) return call;
  rk_http_call_free(call);
  rk_http_reply_error(reply, 500, "cannot start a thread for the repository load or unload");
  return NULL;
}

/* ---- routing --------------------------------------------------------------------------------- */

static bool method_is(rk_http_reply *reply, const char *method, const char *want, const char *path) {
  if (strcmp(method, want) == 0) return true;
  char msg[400];
  snprintf(msg, sizeof msg, "%s %.300s: this endpoint takes %s", method, path, want);
  rk_http_reply_error(reply, 405, msg);
  return false;
}

rk_http_call *rk_http_route(rk_http_reply *reply, rk_server *core, const rk_http_options *o, const char *method,
                            const char *path, const uint8_t *body, size_t size, const char *json_length,
                            rk_http_answered_fn answered, void *ctx) {
  memset(reply, 0, sizeof *reply);
  model_path mp;
  if (strcmp(path, "/v2/health/live") == 0) {
    if (method_is(reply, method, "GET", path)) reply_status(reply, rk_server_live(core) ? 200 : 503);
  } else if (strcmp(path, "/v2/health/ready") == 0) {
    if (method_is(reply, method, "GET", path)) reply_status(reply, rk_server_ready(core) ? 200 : 503);
  } else if (strcmp(path, "/v2") == 0 || strcmp(path, "/v2/") == 0) {
    if (method_is(reply, method, "GET", path)) server_metadata(reply);
  } else if (strcmp(path, "/v2/models/stats") == 0) {
    if (method_is(reply, method, "GET", path)) model_stats(reply, core, NULL, 0);
  } else if (strcmp(path, "/v2/repository/index") == 0) {
    if (method_is(reply, method, "POST", path)) repository_index(reply, core, body, size);
  } else if (split_model_path(path, "/v2/repository/models/", &mp) && !mp.bad_version && mp.version == 0 &&
             (strcmp(mp.rest, "load") == 0 || strcmp(mp.rest, "unload") == 0)) {
    if (method_is(reply, method, "POST", path))
      return repository_load(reply, core, mp.model, strcmp(mp.rest, "load") == 0, body, size, answered, ctx);
  } else if (split_model_path(path, "/v2/models/", &mp)) {
    char msg[400];
    if (mp.bad_version) {
      snprintf(msg, sizeof msg, "%.300s: the version must be a whole number >= 1", path);
      rk_http_reply_error(reply, 400, msg);
      return NULL;
    }
    if (strcmp(mp.rest, "") == 0) {
      if (method_is(reply, method, "GET", path)) model_metadata(reply, core, &mp);
    } else if (strcmp(mp.rest, "ready") == 0) {
      if (method_is(reply, method, "GET", path)) model_ready(reply, core, &mp);
    } else if (strcmp(mp.rest, "config") == 0) {
      if (method_is(reply, method, "GET", path)) model_config(reply, core, &mp);
    } else if (strcmp(mp.rest, "stats") == 0) {
      if (method_is(reply, method, "GET", path)) model_stats(reply, core, mp.model, mp.version);
    } else if (strcmp(mp.rest, "infer") == 0) {
      if (method_is(reply, method, "POST", path))
        return infer(reply, core, o, &mp, body, size, json_length, answered, ctx);
    } else {
      snprintf(msg, sizeof msg, "no endpoint %.300s: a model's are ready, config, stats and infer", path);
      rk_http_reply_error(reply, 404, msg);
    }
  } else {
    char msg[400];
    snprintf(msg, sizeof msg, "no endpoint %.300s (KServe v2: /v2, /v2/health/..., /v2/models/..., /v2/repository/...)",
             path);
    rk_http_reply_error(reply, 404, msg);
  }
  return NULL;
}
