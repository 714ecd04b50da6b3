/*
 * serve/grpc/grpc_rpc.h: the RPCs of inference.GRPCInferenceService as plain functions: a request
 * message's bytes in, a framed response message or a gRPC status out. No sockets and no HTTP/2:
 * grpc_server.c feeds them, and the tests and fuzz targets call them directly.
 *
 * Every RPC but ModelInfer answers before rk_grpc_call returns; ModelInfer answers from the
 * serving core's worker once the (possibly batched) inference ran.
 */
#ifndef RECKON_SERVE_GRPC_RPC_H
#define RECKON_SERVE_GRPC_RPC_H

#include <protobuf-c/protobuf-c.h>

#include "grpc_service.pb-c.h"
#include "reckon/serve.h"
#include "serve/grpc/grpc_wire.h"

/* The RPCs served, X(method name as on the wire, handler stem). Others are UNIMPLEMENTED. */
#define RK_GRPC_METHOD_LIST(X)                        \
  X(ServerLive,            server_live)               \
  X(ServerReady,           server_ready)              \
  X(ModelReady,            model_ready)               \
  X(ServerMetadata,        server_metadata)           \
  X(ModelMetadata,         model_metadata)            \
  X(ModelInfer,            model_infer)               \
  X(ModelConfig,           model_config)              \
  X(ModelStatistics,       model_statistics)          \
  X(RepositoryIndex,       repository_index)          \
  X(RepositoryModelLoad,   repository_model_load)     \
  X(RepositoryModelUnload, repository_model_unload)

#define RK_GRPC_SERVICE_PATH "/inference.GRPCInferenceService/"

/* One RPC's answer: a status, its message, and (OK only) the framed response message. */
typedef struct {
  rk_grpc_code code;
  char message[RK_ERROR_MAX];
  uint8_t *body;                /* prefix + message, rk_malloc'd; NULL unless code is OK */
  size_t size;
} rk_grpc_reply;

/* Receives the reply once; it then owns reply->body (rk_free). */
typedef void (*rk_grpc_finish_fn)(void *ctx, rk_grpc_reply *reply);

/* The index of the method a :path names ("/inference.GRPCInferenceService/ModelInfer"), or -1. */
int rk_grpc_method_find(const char *path, size_t len);
const char *rk_grpc_method_name(int method);

/* Run `method` on the unframed request `message`; `finish` gets the reply exactly once, on this
 * thread or (ModelInfer) on a worker of the core. `message` must stay valid until then. */
void rk_grpc_call(rk_server *core, int method, const uint8_t *message, size_t size, rk_grpc_finish_fn finish,
                  void *ctx);

/* protobuf-c allocations through reckon's hook, so leaks and failures are counted and testable. */
extern ProtobufCAllocator rk_grpc_allocator;

/* Frame `m` (prefix + packed message) into reply->body with code OK; INTERNAL when out of memory
 * or above gRPC's 4 GiB message bound. */
void rk_grpc_reply_message(rk_grpc_reply *reply, const ProtobufCMessage *m);
/* Set a failure: the code and the printf-formatted message. */
void rk_grpc_reply_error(rk_grpc_reply *reply, rk_grpc_code code, const char *fmt, ...) RK_PRINTF(3, 4);
/* A failure of the serving core: its class as a gRPC code, rk_error_message() as the text. */
void rk_grpc_reply_core_error(rk_grpc_reply *reply, rk_status status);

/* "" -> 0 (the policy's choice); "3" -> 3; anything else INVALID_ARGUMENT naming `what`. */
bool rk_grpc_parse_version(rk_grpc_reply *reply, const char *text, const char *what, int64_t *version);

/* ---- ModelInfer's conversions (grpc_infer.c) ------------------------------------------------- */
/* A decoded ModelInferRequest as the core's request. Typed contents are converted to raw
 * little-endian buffers it owns; raw contents are borrowed from the message. */
typedef struct {
  Inference__ModelInferRequest *msg;
  rk_serve_request req;
  rk_serve_input *inputs;
  void **converted;             /* per input: the buffer made from typed contents, or NULL */
  const char **outputs;
  rk_serve_param *params;
  bool raw;                     /* the request came as raw_input_contents: answer the same way */
} rk_grpc_infer_call;

/* Decode and check a ModelInferRequest: the model name, version, every input's datatype, shape and
 * contents (bytes matching the shape, or the typed field of its datatype with one value per
 * element), outputs and parameters. On failure reply holds INVALID_ARGUMENT (or INTERNAL: out of
 * memory) naming the input and what was expected, and call is freed. */
bool rk_grpc_infer_decode(rk_grpc_infer_call *call, rk_grpc_reply *reply, const uint8_t *message, size_t size);
void rk_grpc_infer_call_free(rk_grpc_infer_call *call);
/* The core's response as a framed ModelInferResponse: raw_output_contents when `raw` (or when an
 * output is FP16, which has no typed field), else each output's typed contents. */
void rk_grpc_infer_encode(rk_grpc_reply *reply, const rk_serve_response *resp, bool raw);

/* ---- ModelConfig's conversion (grpc_config.c) ------------------------------------------------ */
/* The core's config structure as model_config.proto's ModelConfig, every part allocated in
 * `arena` (strings borrowed from `c`); NULL when out of memory. */
Inference__ModelConfig *rk_grpc_model_config_build(const rk_model_config *c, rk_arena *arena);

#endif
