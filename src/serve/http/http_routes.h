/*
 * The KServe v2 REST endpoints as plain functions of (method, path, body) to a reply, with no
 * sockets in sight: http_server.c feeds them whole requests, and tests and fuzzers can too. An
 * infer, a load and an unload are answered later: the route starts them and returns.
 *
 *   GET  /v2/health/live | /v2/health/ready          200, or 503
 *   GET  /v2                                          server metadata
 *   GET  /v2/models/M[/versions/V]                    model metadata
 *   GET  /v2/models/M[/versions/V]/ready              200, or 503 (404: no such model)
 *   GET  /v2/models/M[/versions/V]/config             the config as JSON (model_config.proto's)
 *   GET  /v2/models[/M[/versions/V]]/stats            statistics extension
 *   POST /v2/models/M[/versions/V]/infer              JSON tensors and binary tensor data
 *   POST /v2/repository/index                         [{"name","version","state","reason"}]
 *   POST /v2/repository/models/M/load | /unload       explicit mode only
 * Failures are {"error": "..."} with the core's class as the status (400/404/503/500).
 */
#ifndef RECKON_SERVE_HTTP_ROUTES_H
#define RECKON_SERVE_HTTP_ROUTES_H

#include "serve/http/http_server.h"

typedef struct {
  int status;
  char *body;                   /* rk_malloc'd; may be NULL for an empty body */
  size_t size;
  size_t json_size;             /* > 0: a binary tail follows the JSON (Inference-Header-Content-Length) */
  const char *content_type;
} rk_http_reply;

/* A request answered later: an infer the core queued for its batch, or a repository load or
 * unload (run on a thread of its own: a load can take seconds). It points into the request's
 * body, which must outlive it. */
typedef struct rk_http_call rk_http_call;
/* `call` has its answer: runs once, on another thread (a core worker, or the load's);
 * rk_http_call_reply may follow at once, on any thread. */
typedef void (*rk_http_answered_fn)(void *ctx);

/* Routes a whole request: NULL with *reply set, or the call in flight, *reply untouched, and
 * answered(ctx) to come. Nothing here waits for inference or a model's loading, so a frontend
 * thread is free for other connections meanwhile.
 * json_length: the request's Inference-Header-Content-Length header, or NULL. */
rk_http_call *rk_http_route(rk_http_reply *reply, rk_server *core, const rk_http_options *o, const char *method,
                            const char *path, const uint8_t *body, size_t size, const char *json_length,
                            rk_http_answered_fn answered, void *ctx);
/* The reply of an answered call (the response, or the failure); frees the call. */
void rk_http_call_reply(rk_http_reply *reply, rk_http_call *call);
/* Frees an answered call no reply will be written for (its client left). */
void rk_http_call_free(rk_http_call *call);
/* A {"error": message} reply. */
void rk_http_reply_error(rk_http_reply *reply, int status, const char *message);
void rk_http_reply_free(rk_http_reply *reply);

#endif
