/*
 * The KServe v2 REST endpoints as plain functions of (method, path, body) to a reply, with no
 * sockets in sight: http_server.c feeds them whole requests, and tests and fuzzers can too.
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

/* json_length: the request's Inference-Header-Content-Length header, or NULL. */
void rk_http_route(rk_http_reply *reply, rk_server *core, const rk_http_options *o, const char *method,
                   const char *path, const uint8_t *body, size_t size, const char *json_length);
/* A {"error": message} reply. */
void rk_http_reply_error(rk_http_reply *reply, int status, const char *message);
void rk_http_reply_free(rk_http_reply *reply);

#endif
