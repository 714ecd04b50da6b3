/*
 * The HTTP/1.1 server around the KServe routes (http_server.h): libmicrohttpd daemons for the
 * protocol and for Prometheus metrics, the request limits, the read-deadline watchdog and drain.
 *
 * A request's life: headers arrive (the header count and the declared length are checked, it is
 * counted in flight, its connection's read deadline starts), the body is gathered up to the size
 * limit, the route runs, the reply is queued; when its last byte is sent the request stops being
 * in flight and the connection's deadline restarts at idle + read for the next request.
 *
 * Threads: a small pool, each thread an event loop (epoll on Linux) over its share of the
 * connections. An infer the route queued in the core (or a repository load or unload the route
 * started on a thread) parks its connection (MHD_suspend_connection) and the thread goes on with
 * others; the answer resumes it (MHD_resume_connection) and the same thread writes the reply.
 * So a few threads carry many connections, and the batching queue sees as many requests at once
 * as there are clients.
 */
#include "serve/http/http_server.h"

#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "serve/http/http_routes.h"

void rk_http_options_default(rk_http_options *o) {
  *o = (rk_http_options){.address = NULL, .http_port = 8000, .metrics_port = 8002,
                         .max_body_bytes = 64 << 20, .max_tensor_elements = 1 << 24, .max_headers = 64,
                         .idle_timeout_s = 60, .read_timeout_s = 30, .max_connections = 1024,
                         .threads = 4};
}

/* One open connection, for the watchdog. */
typedef struct conn {
  int fd;
  int64_t deadline_ms;          /* INT64_MAX: none (a request is being answered) */
  struct conn *prev, *next;
} conn;

/* Where a parked call stands. Its connection is resumed once both the handler has parked it
 * and the core has answered, by whichever of the two comes second. */
enum { CALL_QUEUED, CALL_PARKED, CALL_ANSWERED };

/* One request being received, or waiting for the core. */
typedef struct {
  uint8_t *body;
  size_t size, cap;
  bool too_large;
  bool answered;                /* a reply was queued, or the route ran */
  rk_http_call *call;           /* answered later: an infer, a load, an unload */
  atomic_int phase;             /* of call: CALL_* */
  struct MHD_Connection *connection;
  rk_http_server *h;
} request;

struct rk_http_server {
  rk_server *core;
  rk_http_options o;
  struct MHD_Daemon *http, *metrics;
  int port, metrics_port;
  atomic_int in_flight;
  atomic_int parked;            /* requests whose connection waits for its call's answer: stop waits for 0 */
  pthread_mutex_t lock;         /* conns, stopping */
  pthread_cond_t wake;
  conn *conns;
  bool stopping;
  pthread_t watchdog;
  bool watchdog_started;
};

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void set_deadline(rk_http_server *h, conn *c, int64_t deadline_ms) {
  if (!c) return;
  pthread_mutex_lock(&h->lock);
  c->deadline_ms = deadline_ms;
  pthread_mutex_unlock(&h->lock);
}

/* Bring a connection's deadline forward to deadline_ms (never later). */
static void lower_deadline(rk_http_server *h, conn *c, int64_t deadline_ms) {
  if (!c) return;
  pthread_mutex_lock(&h->lock);
  if (c->deadline_ms > deadline_ms) c->deadline_ms = deadline_ms;
  pthread_mutex_unlock(&h->lock);
}

static int64_t next_request_deadline(const rk_http_server *h) {
  return now_ms() + 1000 * ((int64_t)h->o.idle_timeout_s + h->o.read_timeout_s);
}

/* ---- the watchdog: shuts the socket of a connection past its deadline ----------------------- */

static void *watchdog_main(void *arg) {
  rk_http_server *h = arg;
  pthread_mutex_lock(&h->lock);
  while (!h->stopping) {
    int64_t now = now_ms();
    for (conn *c = h->conns; c; c = c->next)
      if (c->deadline_ms <= now) {
        shutdown(c->fd, SHUT_RDWR);   /* the connection's thread sees EOF and closes it */
        c->deadline_ms = INT64_MAX;
      }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 100 * 1000000L;
    if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    pthread_cond_timedwait(&h->wake, &h->lock, &ts);
  }
  pthread_mutex_unlock(&h->lock);
  return NULL;
}

/* Called on a connection's start and close (before its socket is closed). */
static void on_connection(void *cls, struct MHD_Connection *connection, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
  rk_http_server *h = cls;
  if (code == MHD_CONNECTION_NOTIFY_STARTED) {
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
    conn *c = info ? rk_calloc(1, sizeof *c) : NULL;
    *socket_context = c;
    if (!c) return;
    c->fd = info->connect_fd;
    c->deadline_ms = next_request_deadline(h);
    pthread_mutex_lock(&h->lock);
    c->next = h->conns;
    if (h->conns) h->conns->prev = c;
    h->conns = c;
    pthread_mutex_unlock(&h->lock);
  } else if (*socket_context) {
    conn *c = *socket_context;
    pthread_mutex_lock(&h->lock);
    if (c->prev) c->prev->next = c->next;
    else h->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    pthread_mutex_unlock(&h->lock);
    rk_free(c);
    *socket_context = NULL;
  }
}

static conn *connection_of(struct MHD_Connection *connection) {
  const union MHD_ConnectionInfo *info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  return info ? info->socket_context : NULL;
}

static void on_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  rk_http_server *h = cls;
  (void)toe;
  request *r = *con_cls;
  if (!r) return;
  if (r->call) rk_http_call_free(r->call);   /* answered, but the connection closed first */
  rk_free(r->body);
  rk_free(r);
  *con_cls = NULL;
  atomic_fetch_sub(&h->in_flight, 1);
  set_deadline(h, connection_of(connection), next_request_deadline(h));
}

/* ---- replies --------------------------------------------------------------------------------- */

static enum MHD_Result queue_reply(struct MHD_Connection *connection, rk_http_reply *reply) {
  struct MHD_Response *res;
  if (reply->body) {
    res = MHD_create_response_from_buffer_with_free_callback(reply->size, reply->body, rk_free);
    reply->body = NULL;   /* the response owns it now */
  } else {
    res = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
  }
  if (!res) return MHD_NO;
  if (reply->content_type) MHD_add_response_header(res, MHD_HTTP_HEADER_CONTENT_TYPE, reply->content_type);
  if (reply->json_size > 0) {
    char n[32];
    snprintf(n, sizeof n, "%zu", reply->json_size);
    MHD_add_response_header(res, "Inference-Header-Content-Length", n);
  }
  enum MHD_Result ok = MHD_queue_response(connection, (unsigned)reply->status, res);
  MHD_destroy_response(res);
  rk_http_reply_free(reply);
  return ok;
}

static enum MHD_Result queue_error(struct MHD_Connection *connection, int status, const char *message) {
  rk_http_reply reply;
  rk_http_reply_error(&reply, status, message);
  return queue_reply(connection, &reply);
}

/* The first call for a request: its headers are in. A reply queued here refuses it at once. */
static enum MHD_Result begin_request(rk_http_server *h, struct MHD_Connection *connection, void **con_cls) {
  request *r = rk_calloc(1, sizeof *r);
  if (!r) return MHD_NO;
  *con_cls = r;
  atomic_fetch_add(&h->in_flight, 1);
  lower_deadline(h, connection_of(connection), now_ms() + 1000 * (int64_t)h->o.read_timeout_s);

  int headers = MHD_get_connection_values(connection, MHD_HEADER_KIND, NULL, NULL);
  char msg[200];
  if (headers > h->o.max_headers) {
    r->answered = true;
    snprintf(msg, sizeof msg, "the request has %d headers, more than %d (--max-headers)", headers, h->o.max_headers);
    return queue_error(connection, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE, msg);
  }
  const char *length = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
  unsigned long long declared = length ? strtoull(length, NULL, 10) : 0;
  if (declared > (unsigned long long)h->o.max_body_bytes) {
    r->answered = true;
    snprintf(msg, sizeof msg, "the request body is %.30s bytes, more than %lld (--max-body-bytes)", length,
             (long long)h->o.max_body_bytes);
    return queue_error(connection, MHD_HTTP_CONTENT_TOO_LARGE, msg);
  }
  /* The body's buffer at its declared size, up to 64 KiB (a larger body grows as it arrives, so a
   * client that only declares one holds nothing): one allocation, and a small one for a small
   * body (a fixed 4 KiB first block made glibc consolidate its free lists on every request). */
  size_t first = declared < (64u << 10) ? (size_t)declared : (64u << 10);
  if (first > 0 && !(r->body = rk_malloc(first))) return MHD_NO;
  r->cap = first;
  return MHD_YES;
}

/* Both the handler and the core are done with a parked request: hand its connection back to its
 * thread, which calls on_request again to write the reply. r may be freed once this returns. */
static void unpark(request *r) {
  rk_http_server *h = r->h;
  MHD_resume_connection(r->connection);
  atomic_fetch_sub(&h->parked, 1);
}

static void on_answered(void *ctx) {
  request *r = ctx;
  if (atomic_exchange(&r->phase, CALL_ANSWERED) == CALL_PARKED) unpark(r);
}

/* The whole request is in: route it; a call answered later parks the connection till then. */
static enum MHD_Result run_route(rk_http_server *h, request *r, struct MHD_Connection *connection, const char *url,
                                 const char *method) {
  const char *json_length = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "Inference-Header-Content-Length");
  rk_http_reply reply;
  r->h = h, r->connection = connection;
  atomic_init(&r->phase, CALL_QUEUED);
  atomic_fetch_add(&h->parked, 1);   /* before the core can answer */
  r->call = rk_http_route(&reply, h->core, &h->o, method, url, r->body ? r->body : (const uint8_t *)"", r->size,
                          json_length, on_answered, r);
  if (!r->call) {
    atomic_fetch_sub(&h->parked, 1);
    return queue_reply(connection, &reply);
  }
  MHD_suspend_connection(connection);
  if (atomic_exchange(&r->phase, CALL_PARKED) == CALL_ANSWERED) unpark(r);
  return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *connection, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
  rk_http_server *h = cls;
  (void)version;
  if (!*con_cls) return begin_request(h, connection, con_cls);
  request *r = *con_cls;
  if (r->call) {   /* resumed: the call has its answer */
    rk_http_reply reply;
    rk_http_call_reply(&reply, r->call);
    r->call = NULL;
    return queue_reply(connection, &reply);
  }
  if (*upload_data_size > 0) {   /* a piece of the body */
    size_t n = *upload_data_size;
    *upload_data_size = 0;
    if (r->answered || r->too_large) return MHD_YES;
    if (n > (size_t)h->o.max_body_bytes - r->size) {
      r->too_large = true;   /* chunked bodies have no length up front */
      return MHD_YES;
    }
    if (n > r->cap - r->size) {
      size_t cap = r->cap ? r->cap : 1024;
      while (cap - r->size < n) cap *= 2;
      uint8_t *p = rk_realloc(r->body, cap);
      if (!p) return MHD_NO;
      r->body = p, r->cap = cap;
    }
    memcpy(r->body + r->size, upload_data, n);
    r->size += n;
    return MHD_YES;
  }
  if (r->answered) return MHD_YES;
  r->answered = true;
  if (r->too_large) {
    char msg[160];
    snprintf(msg, sizeof msg, "the request body is more than %lld bytes (--max-body-bytes)",
             (long long)h->o.max_body_bytes);
    return queue_error(connection, MHD_HTTP_CONTENT_TOO_LARGE, msg);
  }
  set_deadline(h, connection_of(connection), INT64_MAX);   /* received whole: the answer takes what it takes */
  return run_route(h, r, connection, url, method);
}

/* ---- metrics --------------------------------------------------------------------------------- */

static enum MHD_Result on_metrics(void *cls, struct MHD_Connection *connection, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
  rk_http_server *h = cls;
  (void)version, (void)upload_data;
  if (!*con_cls) {   /* headers in: wait for the (empty) body before answering */
    *con_cls = h;
    return MHD_YES;
  }
  *upload_data_size = 0;
  if (strcmp(url, "/metrics") != 0) return queue_error(connection, 404, "metrics are at GET /metrics");
  if (strcmp(method, "GET") != 0) return queue_error(connection, 405, "GET /metrics");
  char *text = NULL;
  rk_status st = rk_server_metrics_text(h->core, &text);
  if (st != RK_OK) return queue_error(connection, 500, rk_error_message());
  rk_http_reply reply = {.status = 200, .body = text, .size = strlen(text),
                         .content_type = "text/plain; version=0.0.4; charset=utf-8"};
  return queue_reply(connection, &reply);
}

/* ---- start, drain, stop ---------------------------------------------------------------------- */

static rk_status listen_on(struct MHD_Daemon **out, int *bound, rk_http_server *h, int port,
                           MHD_AccessHandlerCallback handler, bool protocol, const char *what) {
  struct sockaddr_storage addr;
  memset(&addr, 0, sizeof addr);
  /* An event loop per thread (epoll on Linux); the protocol's connections park while the core
   * works. TURBO: read and write before asking epoll, as the sockets are non-blocking. */
  unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ITC | MHD_USE_TURBO;
  if (protocol) flags |= MHD_ALLOW_SUSPEND_RESUME;
  unsigned pool = protocol && h->o.threads > 1 ? (unsigned)h->o.threads : 1;
  const char *address = h->o.address && *h->o.address ? h->o.address : "0.0.0.0";
  struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_PASSIVE, .ai_socktype = SOCK_STREAM}, *ai = NULL;
  if (getaddrinfo(address, NULL, &hints, &ai) != 0 || !ai)
    return rk_error(RK_EUSAGE, "--http-address '%s' is not a numeric IPv4 or IPv6 address", address);
  memcpy(&addr, ai->ai_addr, ai->ai_addrlen);
  freeaddrinfo(ai);
  if (addr.ss_family == AF_INET6) {
    ((struct sockaddr_in6 *)&addr)->sin6_port = htons((uint16_t)port);
    flags |= MHD_USE_IPv6;
  } else {
    ((struct sockaddr_in *)&addr)->sin_port = htons((uint16_t)port);
  }
  *out = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, handler, h,
                          MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                          MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)h->o.idle_timeout_s,
                          MHD_OPTION_CONNECTION_LIMIT, (unsigned)h->o.max_connections,
                          MHD_OPTION_NOTIFY_CONNECTION, protocol ? on_connection : NULL, h,
                          MHD_OPTION_NOTIFY_COMPLETED, protocol ? on_completed : NULL, h,
                          pool > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, pool,   /* no pool: the list ends */
                          MHD_OPTION_END);
  if (!*out) return rk_error(RK_EIO, "cannot listen for %s on %s port %d (in use, or not this machine's address?)",
                             what, address, port);
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(*out, MHD_DAEMON_INFO_BIND_PORT);
  *bound = info ? info->port : port;
  return RK_OK;
}

rk_status rk_http_server_start(rk_http_server **out, rk_server *core, const rk_http_options *o) {
  *out = NULL;
  rk_http_server *h = rk_calloc(1, sizeof *h);
  if (!h) return RK_ENOMEM;
  h->core = core, h->o = *o, h->metrics_port = -1;
  atomic_init(&h->in_flight, 0);
  atomic_init(&h->parked, 0);
  pthread_mutex_init(&h->lock, NULL);
  pthread_cond_init(&h->wake, NULL);
  rk_status st = listen_on(&h->http, &h->port, h, o->http_port, on_request, true, "HTTP");
  if (st == RK_OK && o->metrics_port >= 0)
    st = listen_on(&h->metrics, &h->metrics_port, h, o->metrics_port, on_metrics, false, "metrics");
  if (st == RK_OK && pthread_create(&h->watchdog, NULL, watchdog_main, h) != 0)
    st = rk_error(RK_EIO, "cannot start the HTTP server's watchdog thread");
  else if (st == RK_OK) h->watchdog_started = true;
  if (st != RK_OK) {
    rk_http_server_stop(h);
    return st;
  }
  *out = h;
  return RK_OK;
}

int rk_http_server_port(const rk_http_server *h) { return h->port; }
int rk_http_server_metrics_port(const rk_http_server *h) { return h->metrics ? h->metrics_port : -1; }

rk_status rk_http_server_drain(rk_http_server *h, int64_t timeout_ms) {
  if (h->http) {
    MHD_socket listener = MHD_quiesce_daemon(h->http);
    if (listener != MHD_INVALID_SOCKET) close(listener);
  }
  int64_t until = now_ms() + timeout_ms;
  while (atomic_load(&h->in_flight) > 0 && now_ms() < until) {
    struct timespec ts = {0, 5 * 1000000L};
    nanosleep(&ts, NULL);
  }
  int left = atomic_load(&h->in_flight);
  if (left > 0)
    return rk_error(RK_EIO, "%d HTTP request%s still in flight after %lld ms (--exit-timeout-secs)", left,
                    left == 1 ? "" : "s", (long long)timeout_ms);
  return RK_OK;
}

void rk_http_server_stop(rk_http_server *h) {
  if (!h) return;
  if (h->watchdog_started) {
    pthread_mutex_lock(&h->lock);
    h->stopping = true;
    pthread_cond_signal(&h->wake);
    pthread_mutex_unlock(&h->lock);
    pthread_join(h->watchdog, NULL);
  }
  if (h->metrics) MHD_stop_daemon(h->metrics);
  /* libmicrohttpd may not stop with a connection parked: let every call be answered (the core's
   * workers finish what they hold, drained or not; a load finishes), which resumes them. */
  while (atomic_load(&h->parked) > 0) {
    struct timespec ts = {0, 1000000L};
    nanosleep(&ts, NULL);
  }
  if (h->http) MHD_stop_daemon(h->http);
  pthread_mutex_destroy(&h->lock);
  pthread_cond_destroy(&h->wake);
  rk_free(h);
}
