/*
 * serve/grpc/grpc_rpc.c: each RPC of inference.GRPCInferenceService translated onto the serving
 * core (include/reckon/serve.h); contract in grpc_rpc.h. Request messages that do not decode, and
 * names or versions that are malformed, are INVALID_ARGUMENT naming the field; the core's
 * failures keep its message and map by class (INVALID -> INVALID_ARGUMENT, NOT_FOUND, UNAVAILABLE,
 * INTERNAL).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "serve/grpc/grpc_rpc.h"

/* ---- protobuf-c through the allocation hook ---------------------------------------------------- */
static void *pb_alloc(void *data, size_t size) {
  (void)data;
  return rk_malloc(size ? size : 1);
}
static void pb_free(void *data, void *ptr) {
  (void)data;
  rk_free(ptr);
}
ProtobufCAllocator rk_grpc_allocator = {pb_alloc, pb_free, NULL};

/* ---- replies ---------------------------------------------------------------------------------- */
void rk_grpc_reply_error(rk_grpc_reply *reply, rk_grpc_code code, const char *fmt, ...) {
  reply->code = code;
  rk_free(reply->body);
  reply->body = NULL;
  reply->size = 0;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(reply->message, sizeof reply->message, fmt, ap);
  va_end(ap);
}

void rk_grpc_reply_core_error(rk_grpc_reply *reply, rk_status status) {
  static const rk_grpc_code by_class[] = {
      [RK_SERVE_OK] = RK_GRPC_UNKNOWN,                  [RK_SERVE_INVALID] = RK_GRPC_INVALID_ARGUMENT,
      [RK_SERVE_NOT_FOUND] = RK_GRPC_NOT_FOUND,         [RK_SERVE_UNAVAILABLE] = RK_GRPC_UNAVAILABLE,
      [RK_SERVE_INTERNAL] = RK_GRPC_INTERNAL,
  };
  rk_serve_code c = rk_serve_error_code(status);
  rk_grpc_code code = (unsigned)c < sizeof by_class / sizeof by_class[0] ? by_class[c] : RK_GRPC_INTERNAL;
  rk_grpc_reply_error(reply, code, "%s", rk_error_message());
}

void rk_grpc_reply_message(rk_grpc_reply *reply, const ProtobufCMessage *m) {
  size_t n = protobuf_c_message_get_packed_size(m);
  if (n > UINT32_MAX) {
    rk_grpc_reply_error(reply, RK_GRPC_RESOURCE_EXHAUSTED, "the response of %zu bytes is over gRPC's 4 GiB message bound", n);
    return;
  }
  uint8_t *body = rk_malloc(RK_GRPC_PREFIX_BYTES + n);
  if (!body) {
    rk_grpc_reply_error(reply, RK_GRPC_RESOURCE_EXHAUSTED, "cannot allocate a response of %zu bytes", n);
    return;
  }
  rk_grpc_write_prefix(body, (uint32_t)n);
  protobuf_c_message_pack(m, body + RK_GRPC_PREFIX_BYTES);
  rk_free(reply->body);
  reply->code = RK_GRPC_OK;
  reply->message[0] = '\0';
  reply->body = body;
  reply->size = RK_GRPC_PREFIX_BYTES + n;
}

bool rk_grpc_parse_version(rk_grpc_reply *reply, const char *text, const char *what, int64_t *version) {
  *version = 0;
  if (!text[0]) return true;
  int64_t v = 0;
  for (const char *p = text; *p; p++) {
    if (*p < '0' || *p > '9' || v > (INT64_MAX - 9) / 10) {
      rk_grpc_reply_error(reply, RK_GRPC_INVALID_ARGUMENT, "%s '%s' is not a version (a positive whole number)", what, text);
      return false;
    }
    v = v * 10 + (*p - '0');
  }
  if (v == 0) {
    rk_grpc_reply_error(reply, RK_GRPC_INVALID_ARGUMENT, "%s '0' is not a version (versions start at 1)", what);
    return false;
  }
  *version = v;
  return true;
}

/* Unpack `size` bytes as the request type `desc`, or reply INVALID_ARGUMENT. */
static ProtobufCMessage *unpack(rk_grpc_reply *reply, const ProtobufCMessageDescriptor *desc, const uint8_t *message,
                                size_t size) {
  ProtobufCMessage *m = protobuf_c_message_unpack(desc, &rk_grpc_allocator, size, message);
  if (!m) rk_grpc_reply_error(reply, RK_GRPC_INVALID_ARGUMENT, "cannot decode the %s message (%zu bytes)", desc->short_name, size);
  return m;
}

static bool need_name(rk_grpc_reply *reply, const char *rpc, const char *field, const char *name) {
  if (name[0]) return true;
  rk_grpc_reply_error(reply, RK_GRPC_INVALID_ARGUMENT, "%s: %s is empty", rpc, field);
  return false;
}

/* ---- the RPCs ----------------------------------------------------------------------------------- */
/* Every handler but model_infer fills `reply` before returning. */
typedef void handler_fn(rk_server *core, const uint8_t *message, size_t size, rk_grpc_reply *reply,
                        rk_grpc_finish_fn finish, void *ctx);

static void server_live(rk_server *core, const uint8_t *message, size_t size, rk_grpc_reply *reply,
                        rk_grpc_finish_fn finish, void *ctx) {
  (void)finish, (void)ctx;
  ProtobufCMessage *req = unpack(reply, &inference__server_live_request__descriptor, message, size);
  if (!req) return;
  protobuf_c_message_free_unpacked(req, &rk_grpc_allocator);
  Inference__ServerLiveResponse r = INFERENCE__SERVER_LIVE_RESPONSE__INIT;
  r.live = rk_server_live(core);
  rk_grpc_reply_message(reply, &r.base);
}

static void server_ready(rk_server *core, const uint8_t *message, size_t size, rk_grpc_reply *reply,
                         rk_grpc_finish_fn finish, void *ctx) {
  (void)finish, (void)ctx;
  ProtobufCMessage *req = unpack(reply, &inference__server_ready_request__descriptor, message, size);
  if (!req) return;
  protobuf_c_message_free_unpacked(req, &rk_grpc_allocator);
  Inference__ServerReadyResponse r = INFERENCE__SERVER_READY_RESPONSE__INIT;
  r.ready = rk_server_ready(core);
  rk_grpc_reply_message(reply, &r.base);
}

static void model_ready(rk_server *core, const uint8_t *message, size_t size, rk_grpc_reply *reply,
                        rk_grpc_finish_fn finish, void *ctx) {
  (void)finish, (void)ctx;
  Inference__ModelReadyRequest *req =
      (Inference__ModelReadyRequest *)unpack(reply, &inference__model_ready_request__descriptor, message, size);
  if (!req) return;
  int64_t version = 0;
  bool ready = false;
  if (need_name(reply, "ModelReady", "name", req->name) && rk_grpc_parse_version(reply, req->version, "version", &version)) {
    rk_status st = rk_server_model_ready(core, req->name, version, &ready);
    if (st != RK_OK) {
      rk_grpc_reply_core_error(reply, st);
    } else {
      Inference__ModelReadyResponse r = INFERENCE__MODEL_READY_RESPONSE__INIT;
      r.ready = ready;
      rk_grpc_reply_message(reply, &r.base);
    }
  }
  protobuf_c_message_free_unpacked(&req->base, &rk_grpc_allocator);
}

static void server_metadata(rk_server *core, const uint8_t *message, size_t size, rk_grpc_reply *reply,
                            rk_grpc_finish_fn finish, void *ctx) {
  (void)core, (void)finish, (void)ctx;
  ProtobufCMessage *req = unpack(reply, &inference__server_metadata_request__descriptor, message, size);
  if (!req) return;
  protobuf_c_message_free_unpacked(req, &rk_grpc_allocator);
  const char *const *extensions = NULL;
  int n = rk_serve_server_extensions(&extensions);
  Inference__ServerMetadataResponse r = INFERENCE__SERVER_METADATA_RESPONSE__INIT;
  r.name = (char *)rk_serve_server_name();
  r.version = (char *)rk_version();
  r.n_extensions = n > 0 ? (size_t)n : 0;
  r.extensions = (char **)extensions;
  rk_grpc_reply_message(reply, &r.base);
}

typedef Inference__ModelMetadataResponse__TensorMetadata tensor_meta_msg;

static tensor_meta_msg *tensor_metas(const rk_serve_tensor_meta *t, int n, tensor_meta_msg ***ptrs) {
  tensor_meta_msg *m = rk_calloc(n > 0 ? (size_t)n : 1, sizeof *m);
  *ptrs = rk_calloc(n > 0 ? (size_t)n : 1, sizeof **ptrs);
  if (!m || !*ptrs) {
    rk_free(m);
    rk_free(*ptrs);
    *ptrs = NULL;
    return NULL;
  }
  for (int i = 0; i < n; i++) {
    tensor_meta_msg init = INFERENCE__MODEL_METADATA_RESPONSE__TENSOR_METADATA__INIT;
    m[i] = init;
    m[i].name = t[i].name;
    m[i].datatype = (char *)rk_serve_dtype_name(t[i].datatype);
    m[i].n_shape = (size_t)t[i].ndim;
    m[i].shape = (int64_t *)t[i].shape;
    (*ptrs)[i] = &m[i];
  }
  return m;
}

static void model_metadata(rk_server *core, const uint8_t *message, size_t size, rk_grpc_reply *reply,
                           rk_grpc_finish_fn finish, void *ctx) {
  (void)finish, (void)ctx;
  Inference__ModelMetadataRequest *req =
      (Inference__ModelMetadataRequest *)unpack(reply, &inference__model_metadata_request__descriptor, message, size);
  if (!req) return;
  int64_t version = 0;
  rk_serve_model_meta meta = {0};
  if (need_name(reply, "ModelMetadata", "name", req->name) && rk_grpc_parse_version(reply, req->version, "version", &version)) {
    rk_status st = rk_server_model_metadata(core, req->name, version, &meta);
    if (st != RK_OK) {
      rk_grpc_reply_core_error(reply, st);
    } else {
      Inference__ModelMetadataResponse r = INFERENCE__MODEL_METADATA_RESPONSE__INIT;
      int nv = meta.n_versions;
      char(*vtext)[24] = rk_calloc(nv > 0 ? (size_t)nv : 1, sizeof *vtext);
      char **vptr = rk_calloc(nv > 0 ? (size_t)nv : 1, sizeof *vptr);
      tensor_meta_msg **in_p = NULL, **out_p = NULL;
      tensor_meta_msg *in = tensor_metas(meta.inputs, meta.n_inputs, &in_p);
      tensor_meta_msg *out = tensor_metas(meta.outputs, meta.n_outputs, &out_p);
      if (!vtext || !vptr || !in || !out) {
        rk_grpc_reply_error(reply, RK_GRPC_RESOURCE_EXHAUSTED, "ModelMetadata: out of memory");
      } else {
        for (int i = 0; i < nv; i++) {
          snprintf(vtext[i], sizeof vtext[i], "%" PRId64, meta.versions[i]);
          vptr[i] = vtext[i];
        }
        r.name = meta.name;
        r.platform = meta.platform ? meta.platform : "";
        r.n_versions = (size_t)nv, r.versions = vptr;
        r.n_inputs = (size_t)meta.n_inputs, r.inputs = in_p;
        r.n_outputs = (size_t)meta.n_outputs, r.outputs = out_p;
        rk_grpc_reply_message(reply, &r.base);
      }
      rk_free(vtext), rk_free(vptr), rk_free(in), rk_free(in_p), rk_free(out), rk_free(out_p);
      rk_serve_model_meta_free(&meta);
    }
  }
  protobuf_c_message_free_unpacked(&req->base, &rk_grpc_allocator);
}

static void model_config(rk_server *core, const uint8_t *message, size_t size, rk_grpc_reply *reply,
                         rk_grpc_finish_fn finish, void *ctx) {
  (void)finish, (void)ctx;
  Inference__ModelConfigRequest *req =
      (Inference__ModelConfigRequest *)unpack(reply, &inference__model_config_request__descriptor, message, size);
  if (!req) return;
  int64_t version = 0;
  rk_model_config config = {0};
  if (need_name(reply, "ModelConfig", "name", req->name) && rk_grpc_parse_version(reply, req->version, "version", &version)) {
    rk_status st = rk_server_model_config(core, req->name, version, &config, NULL);
    if (st != RK_OK) {
      rk_grpc_reply_core_error(reply, st);
    } else {
      rk_arena arena;
      rk_arena_init(&arena, 4096);
      Inference__ModelConfig *c = rk_grpc_model_config_build(&config, &arena);
      if (!c) {
        rk_grpc_reply_error(reply, RK_GRPC_RESOURCE_EXHAUSTED, "ModelConfig: out of memory");
      } else {
        Inference__ModelConfigResponse r = INFERENCE__MODEL_CONFIG_RESPONSE__INIT;
        r.config = c;
        rk_grpc_reply_message(reply, &r.base);
      }
      rk_arena_free(&arena);
      rk_model_config_free(&config);
    }
  }
  protobuf_c_message_free_unpacked(&req->base, &rk_grpc_allocator);
}

static void duration(Inference__StatisticDuration *m, rk_serve_duration d) {
  Inference__StatisticDuration init = INFERENCE__STATISTIC_DURATION__INIT;
  *m = init;
  m->count = d.count;
  m->ns = d.ns;
}

/* One model's statistics; its sub-messages live in `slab` (rk_free'd by the caller). */
typedef struct {
  Inference__ModelStatistics stats;
  Inference__InferStatistics infer;
  Inference__StatisticDuration d[6];
  char version[24];
} stats_slab;

static void model_statistics(rk_server *core, const uint8_t *message, size_t size, rk_grpc_reply *reply,
                             rk_grpc_finish_fn finish, void *ctx) {
  (void)finish, (void)ctx;
  Inference__ModelStatisticsRequest *req =
      (Inference__ModelStatisticsRequest *)unpack(reply, &inference__model_statistics_request__descriptor, message, size);
  if (!req) return;
  int64_t version = 0;
  rk_serve_stats st = {0};
  if (rk_grpc_parse_version(reply, req->version, "version", &version)) {
    rk_status s = rk_server_stats(core, req->name[0] ? req->name : NULL, version, &st);
    if (s != RK_OK) {
      rk_grpc_reply_core_error(reply, s);
    } else {
      size_t n = st.n > 0 ? (size_t)st.n : 1, nbatch = 1;
      for (int i = 0; i < st.n; i++) nbatch += (size_t)st.models[i].n_batch;
      stats_slab *slab = rk_calloc(n, sizeof *slab);
      Inference__ModelStatistics **ptrs = rk_calloc(n, sizeof *ptrs);
      Inference__InferBatchStatistics *batch = rk_calloc(nbatch, sizeof *batch);
      Inference__InferBatchStatistics **batch_p = rk_calloc(nbatch, sizeof *batch_p);
      Inference__StatisticDuration *batch_d = rk_calloc(nbatch * 3, sizeof *batch_d);
      if (!slab || !ptrs || !batch || !batch_p || !batch_d) {
        rk_grpc_reply_error(reply, RK_GRPC_RESOURCE_EXHAUSTED, "ModelStatistics: out of memory");
      } else {
        size_t b = 0;
        for (int i = 0; i < st.n; i++) {
          const rk_serve_model_stats *ms = &st.models[i];
          stats_slab *sl = &slab[i];
          Inference__ModelStatistics init = INFERENCE__MODEL_STATISTICS__INIT;
          Inference__InferStatistics iinit = INFERENCE__INFER_STATISTICS__INIT;
          sl->stats = init, sl->infer = iinit;
          snprintf(sl->version, sizeof sl->version, "%" PRId64, ms->version);
          sl->stats.name = ms->name;
          sl->stats.version = sl->version;
          sl->stats.last_inference = ms->last_inference_ms;
          sl->stats.inference_count = ms->inference_count;
          sl->stats.execution_count = ms->execution_count;
          const rk_serve_duration ds[6] = {ms->success, ms->fail, ms->queue, ms->compute_input, ms->compute_infer,
                                           ms->compute_output};
          for (int k = 0; k < 6; k++) duration(&sl->d[k], ds[k]);
          sl->infer.success = &sl->d[0], sl->infer.fail = &sl->d[1], sl->infer.queue = &sl->d[2];
          sl->infer.compute_input = &sl->d[3], sl->infer.compute_infer = &sl->d[4], sl->infer.compute_output = &sl->d[5];
          sl->stats.inference_stats = &sl->infer;
          sl->stats.batch_stats = &batch_p[b];
          sl->stats.n_batch_stats = (size_t)ms->n_batch;
          for (int k = 0; k < ms->n_batch; k++, b++) {
            Inference__InferBatchStatistics binit = INFERENCE__INFER_BATCH_STATISTICS__INIT;
            batch[b] = binit;
            batch[b].batch_size = (uint64_t)ms->batch[k].batch_size;
            duration(&batch_d[3 * b], ms->batch[k].compute_input);
            duration(&batch_d[3 * b + 1], ms->batch[k].compute_infer);
            duration(&batch_d[3 * b + 2], ms->batch[k].compute_output);
            batch[b].compute_input = &batch_d[3 * b];
            batch[b].compute_infer = &batch_d[3 * b + 1];
            batch[b].compute_output = &batch_d[3 * b + 2];
            batch_p[b] = &batch[b];
          }
          ptrs[i] = &sl->stats;
        }
        Inference__ModelStatisticsResponse r = INFERENCE__MODEL_STATISTICS_RESPONSE__INIT;
        r.n_model_stats = (size_t)st.n;
        r.model_stats = ptrs;
        rk_grpc_reply_message(reply, &r.base);
      }
      rk_free(slab), rk_free(ptrs), rk_free(batch), rk_free(batch_p), rk_free(batch_d);
      rk_serve_stats_free(&st);
    }
  }
  protobuf_c_message_free_unpacked(&req->base, &rk_grpc_allocator);
}

typedef Inference__RepositoryIndexResponse__ModelIndex index_msg;

static void repository_index(rk_server *core, const uint8_t *message, size_t size, rk_grpc_reply *reply,
                             rk_grpc_finish_fn finish, void *ctx) {
  (void)finish, (void)ctx;
  Inference__RepositoryIndexRequest *req =
      (Inference__RepositoryIndexRequest *)unpack(reply, &inference__repository_index_request__descriptor, message, size);
  if (!req) return;
  rk_serve_index ix = {0};
  rk_status st = rk_server_index(core, req->ready, &ix);
  if (st != RK_OK) {
    rk_grpc_reply_core_error(reply, st);
  } else {
    size_t n = ix.n > 0 ? (size_t)ix.n : 1;
    index_msg *e = rk_calloc(n, sizeof *e);
    index_msg **ptrs = rk_calloc(n, sizeof *ptrs);
    char(*vtext)[24] = rk_calloc(n, sizeof *vtext);
    if (!e || !ptrs || !vtext) {
      rk_grpc_reply_error(reply, RK_GRPC_RESOURCE_EXHAUSTED, "RepositoryIndex: out of memory");
    } else {
      for (int i = 0; i < ix.n; i++) {
        const rk_serve_index_entry *x = &ix.entries[i];
        index_msg init = INFERENCE__REPOSITORY_INDEX_RESPONSE__MODEL_INDEX__INIT;
        e[i] = init;
        if (x->version > 0) snprintf(vtext[i], sizeof vtext[i], "%" PRId64, x->version);
        e[i].name = x->name;
        e[i].version = vtext[i];
        /* A model never loaded has no state in Triton's index: it is listed with an empty one. */
        e[i].state = x->state == RK_MODEL_STATE_UNKNOWN ? "" : (char *)rk_model_state_name(x->state);
        e[i].reason = x->reason ? x->reason : "";
        ptrs[i] = &e[i];
      }
      Inference__RepositoryIndexResponse r = INFERENCE__REPOSITORY_INDEX_RESPONSE__INIT;
      r.n_models = (size_t)ix.n;
      r.models = ptrs;
      rk_grpc_reply_message(reply, &r.base);
    }
    rk_free(e), rk_free(ptrs), rk_free(vtext);
    rk_serve_index_free(&ix);
  }
  protobuf_c_message_free_unpacked(&req->base, &rk_grpc_allocator);
}

static void repository_model_load(rk_server *core, const uint8_t *message, size_t size, rk_grpc_reply *reply,
                                  rk_grpc_finish_fn finish, void *ctx) {
  (void)finish, (void)ctx;
  Inference__RepositoryModelLoadRequest *req = (Inference__RepositoryModelLoadRequest *)unpack(
      reply, &inference__repository_model_load_request__descriptor, message, size);
  if (!req) return;
  if (req->n_parameters > 0) {
    /* Triton's load parameters ("config", "file:...") override the repository: not offered. */
    rk_grpc_reply_error(reply, RK_GRPC_INVALID_ARGUMENT,
                        "RepositoryModelLoad: parameter '%s' is not supported (models load from the repository as they are)",
                        req->parameters[0]->key);
  } else if (need_name(reply, "RepositoryModelLoad", "model_name", req->model_name)) {
    rk_status st = rk_server_load(core, req->model_name);
    if (st != RK_OK) {
      rk_grpc_reply_core_error(reply, st);
    } else {
      Inference__RepositoryModelLoadResponse r = INFERENCE__REPOSITORY_MODEL_LOAD_RESPONSE__INIT;
      rk_grpc_reply_message(reply, &r.base);
    }
  }
  protobuf_c_message_free_unpacked(&req->base, &rk_grpc_allocator);
}

static void repository_model_unload(rk_server *core, const uint8_t *message, size_t size, rk_grpc_reply *reply,
                                    rk_grpc_finish_fn finish, void *ctx) {
  (void)finish, (void)ctx;
  Inference__RepositoryModelUnloadRequest *req = (Inference__RepositoryModelUnloadRequest *)unpack(
      reply, &inference__repository_model_unload_request__descriptor, message, size);
  if (!req) return;
  bool dependents = false, ok = true;
  for (size_t i = 0; i < req->n_parameters && ok; i++) {
    const Inference__ModelRepositoryParameter *v = req->parameters[i]->value;
    if (strcmp(req->parameters[i]->key, "unload_dependents") == 0 && v &&
        v->parameter_choice_case == INFERENCE__MODEL_REPOSITORY_PARAMETER__PARAMETER_CHOICE_BOOL_PARAM) {
      dependents = v->bool_param;
    } else {
      rk_grpc_reply_error(reply, RK_GRPC_INVALID_ARGUMENT,
                          "RepositoryModelUnload: parameter '%s' is not supported (only unload_dependents, a bool)",
                          req->parameters[i]->key);
      ok = false;
    }
  }
  if (ok && need_name(reply, "RepositoryModelUnload", "model_name", req->model_name)) {
    rk_status st = rk_server_unload(core, req->model_name, dependents);
    if (st != RK_OK) {
      rk_grpc_reply_core_error(reply, st);
    } else {
      Inference__RepositoryModelUnloadResponse r = INFERENCE__REPOSITORY_MODEL_UNLOAD_RESPONSE__INIT;
      rk_grpc_reply_message(reply, &r.base);
    }
  }
  protobuf_c_message_free_unpacked(&req->base, &rk_grpc_allocator);
}

/* ModelInfer: the decoded request waits in `pending` for the core's worker to answer. */
typedef struct {
  rk_grpc_infer_call call;
  rk_grpc_finish_fn finish;
  void *ctx;
} pending_infer;

static void infer_done(void *arg, rk_status status, rk_serve_code code, rk_serve_response *resp) {
  (void)code;
  pending_infer *p = arg;
  rk_grpc_reply reply = {0};
  if (status != RK_OK) rk_grpc_reply_core_error(&reply, status);
  else rk_grpc_infer_encode(&reply, resp, p->call.raw);
  if (resp) rk_serve_response_free(resp);
  rk_grpc_finish_fn finish = p->finish;
  void *ctx = p->ctx;
  rk_grpc_infer_call_free(&p->call);
  rk_free(p);
  finish(ctx, &reply);
}

static void model_infer(rk_server *core, const uint8_t *message, size_t size, rk_grpc_reply *reply,
                        rk_grpc_finish_fn finish, void *ctx) {
  pending_infer *p = rk_calloc(1, sizeof *p);
  if (!p) {
    rk_grpc_reply_error(reply, RK_GRPC_RESOURCE_EXHAUSTED, "ModelInfer: out of memory");
    return;
  }
  if (!rk_grpc_infer_decode(&p->call, reply, message, size)) {
    rk_free(p);
    return;
  }
  p->finish = finish;
  p->ctx = ctx;
  /* The core calls infer_done when it accepted the request (RK_OK); a refusal comes back here. */
  rk_status st = rk_server_infer_async(core, &p->call.req, infer_done, p);
  if (st != RK_OK) {
    rk_grpc_reply_core_error(reply, st);
    rk_grpc_infer_call_free(&p->call);
    rk_free(p);
  }
}

static const struct {
  const char *name;
  handler_fn *fn;
} methods[] = {
#define RK_GRPC_METHOD_ROW(name, stem) {#name, stem},
    RK_GRPC_METHOD_LIST(RK_GRPC_METHOD_ROW)
#undef RK_GRPC_METHOD_ROW
};
enum { N_METHODS = sizeof methods / sizeof methods[0] };

int rk_grpc_method_find(const char *path, size_t len) {
  size_t prefix = strlen(RK_GRPC_SERVICE_PATH);
  if (len <= prefix || memcmp(path, RK_GRPC_SERVICE_PATH, prefix) != 0) return -1;
  for (int i = 0; i < N_METHODS; i++)
    if (strlen(methods[i].name) == len - prefix && memcmp(path + prefix, methods[i].name, len - prefix) == 0) return i;
  return -1;
}

const char *rk_grpc_method_name(int method) { return method >= 0 && method < N_METHODS ? methods[method].name : "?"; }

void rk_grpc_call(rk_server *core, int method, const uint8_t *message, size_t size, rk_grpc_finish_fn finish,
                  void *ctx) {
  rk_grpc_reply reply = {0};
  if (method < 0 || method >= N_METHODS) {
    rk_grpc_reply_error(&reply, RK_GRPC_UNIMPLEMENTED, "unknown method");
    finish(ctx, &reply);
    return;
  }
  bool async = methods[method].fn == model_infer;
  rk_error_clear();
  methods[method].fn(core, message, size, &reply, finish, ctx);
  /* An infer that was handed to the core answers later; one refused before that answers now. */
  if (!async || reply.code != RK_GRPC_OK) finish(ctx, &reply);
}
