/*
 * reckon serve's HTTP/1.1 frontend: the KServe v2 REST protocol with Triton's extensions (binary
 * tensor data, model repository, statistics, model configuration) in front of the serving core
 * (reckon/serve.h), and Prometheus metrics on a port of their own. libmicrohttpd with a few
 * event-loop threads (epoll) for all the connections: a connection whose infer waits in the
 * core's batching queue is parked, and its thread serves the others meanwhile.
 *
 * Limits, each a `reckon serve` flag: the body's size (413), a tensor's elements (400), the count
 * of headers (431), how long a connection may be idle, and how long a request may take to arrive
 * (a client trickling bytes is dropped: the read deadline is enforced by a watchdog that shuts the
 * socket, since libmicrohttpd's own timeout restarts with every byte).
 *
 * Not here: models, batching, metrics' values (the core); flags and signals (src/cli/cmd_serve.c).
 * References: kserve/kserve docs/predict-api/v2/required_api.md; Triton's
 * docs/protocol/extension_{binary_data,model_repository,statistics,model_configuration}.md.
 */
#ifndef RECKON_SERVE_HTTP_SERVER_H
#define RECKON_SERVE_HTTP_SERVER_H

#include "reckon/serve.h"

typedef struct {
  const char *address;          /* the interface to bind (IPv4 dotted or IPv6); NULL or "0.0.0.0": all */
  int http_port;                /* 0: a free port (rk_http_server_port says which) */
  int metrics_port;             /* 0: a free port; -1: no metrics endpoint */
  int64_t max_body_bytes;       /* a request body larger is 413 */
  int64_t max_tensor_elements;  /* a tensor larger is 400 */
  int max_headers;              /* more request headers is 431 */
  int idle_timeout_s;           /* a connection silent this long is closed */
  int read_timeout_s;           /* a request must arrive whole within this, from its start */
  int max_connections;
  int threads;                  /* event-loop threads carrying the connections (>= 1) */
} rk_http_options;

void rk_http_options_default(rk_http_options *o);

typedef struct rk_http_server rk_http_server;

/* Listens (HTTP and metrics) and serves `core`, which must outlive the server. */
rk_status rk_http_server_start(rk_http_server **out, rk_server *core, const rk_http_options *o);
int rk_http_server_port(const rk_http_server *h);
int rk_http_server_metrics_port(const rk_http_server *h);   /* -1 when none */
/* Stop accepting connections; waits up to timeout_ms for the requests in flight (a request is in
 * flight from its headers to its response's last byte). RK_OK when they all finished. */
rk_status rk_http_server_drain(rk_http_server *h, int64_t timeout_ms);
/* Close every connection and free. NULL is a no-op. */
void rk_http_server_stop(rk_http_server *h);

#endif
