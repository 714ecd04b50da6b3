/*
 * serve/grpc/grpc_server.h: the gRPC frontend of `reckon serve`, inference.GRPCInferenceService
 * (proto/grpc_service.proto) over HTTP/2 (nghttp2) with protobuf-c messages.
 *
 * It is a thin protocol layer over the serving core (include/reckon/serve.h): every RPC decodes
 * its message, asks the core, and encodes the answer or a gRPC status (INVALID_ARGUMENT,
 * NOT_FOUND, UNAVAILABLE, ...) whose message names what was wrong. It owns sockets and threads
 * (one accepting, event loops carrying the connections, a pool running the RPCs); it does not
 * own the core.
 * Built only with RECKON_HAVE_GRPC (nghttp2 and protobuf-c found). docs/serving_grpc.md.
 */
#ifndef RECKON_SERVE_GRPC_SERVER_H
#define RECKON_SERVE_GRPC_SERVER_H

#include <stdint.h>

#include "reckon/core.h"
#include "reckon/serve.h"

/* Limits and where to listen. Zero in a limit takes its default (rk_grpc_options_default). */
typedef struct {
  const char *address;        /* numeric IPv4 or IPv6 interface to bind, "0.0.0.0" (all) when NULL */
  int port;                   /* 0: the kernel picks a free one; rk_grpc_server_port tells */
  int64_t max_message_bytes;  /* a request message above it: RESOURCE_EXHAUSTED (default 64 MiB;
                                 above 4 GiB - 1, gRPC's bound, it is that) */
  int max_streams;            /* concurrent streams per connection, HTTP/2 SETTINGS (default 128) */
  int idle_timeout_ms;        /* a connection silent this long is closed (default 60000) */
  int request_timeout_ms;     /* a request (or the connection preface) must arrive whole within
                                 this; a client sending one byte at a time is dropped (default 30000) */
  int workers;                /* threads running RPCs, and as many event loops (default: the cores) */
} rk_grpc_options;

typedef struct rk_grpc_server rk_grpc_server;

/* Fill *o with the defaults (address NULL, port 8001, the limits above). */
void rk_grpc_options_default(rk_grpc_options *o);

/* Bind, listen and start serving `core` (which must outlive the server). On failure nothing is
 * left running and the message names the address and port. */
rk_status rk_grpc_server_start(rk_grpc_server **out, rk_server *core, const rk_grpc_options *o);

/* The port the server listens on (the one picked when the options asked for 0). */
int rk_grpc_server_port(const rk_grpc_server *s);

/* Stop accepting, let in-flight RPCs finish and send their answers, close every connection and
 * free the server. NULL is a no-op. */
void rk_grpc_server_stop(rk_grpc_server *s);

#endif
