/*
 * serve/grpc/grpc_server.c: the sockets and HTTP/2 under the gRPC frontend (contract in
 * grpc_server.h). One thread accepts and hands each connection to one of a few event loops, a
 * thread with an epoll set that alone touches its connections' nghttp2 sessions (nghttp2 is not
 * thread-safe); sockets are non-blocking, and what a slow reader leaves waits in the connection's
 * buffer. A request whose stream ended goes to a pool of workers that run the RPC (grpc_rpc.c),
 * and the reply comes back to the loop through a queue and the connection's eventfd. A stream
 * that closes while its RPC runs is kept until the reply arrives, then dropped; so is a closed
 * connection (off epoll, freed when no worker holds one of its streams).
 *
 * HTTP/2 per gRPC's protocol: POST, :path /inference.GRPCInferenceService/<Method>, content-type
 * application/grpc[+proto]; the answer is HEADERS (:status 200), DATA (the message) and trailers
 * (grpc-status, grpc-message), or one HEADERS block with the status ("Trailers-Only") on failure.
 * Limits: SETTINGS_MAX_CONCURRENT_STREAMS, a message size checked from the first 5 bytes (before
 * buffering), header count and bytes per request, an idle timeout per connection, and a request
 * timeout: the preface and every request must arrive whole within it (a slow client is dropped).
 * A call's grpc-timeout header is its deadline: a call past it before it runs, or while it runs, is
 * answered DEADLINE_EXCEEDED at once (a reply that comes later is dropped; the work already queued
 * in the core still runs: the core has no cancellation).
 */
#include "serve/grpc/grpc_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "serve/grpc/grpc_rpc.h"

enum {
  MAX_CONNECTIONS = 1024,              /* more are closed at once */
  MAX_REQUEST_HEADERS = 64,            /* per request; more reset the stream */
  MAX_REQUEST_HEADER_BYTES = 16 << 10,
  WINDOW_BYTES = 16 << 20,             /* flow-control windows: a large infer in few round trips */
  READ_CHUNK = 64 << 10,
};

typedef struct conn conn;
typedef struct loop loop;

/* One request stream, from its HEADERS to its reply. */
typedef struct stream {
  conn *c;
  int32_t id;
  int method;                  /* index in grpc_rpc.c's table, -1: unknown */
  bool is_post, is_grpc;
  int n_headers;
  size_t header_bytes;
  char path[128];
  uint8_t *body;               /* the request's DATA */
  size_t size, cap;
  bool answered;               /* a reply was submitted (or refused early): ignore the rest */
  bool running;                /* handed to a worker, reply not back yet */
  bool closed;                 /* nghttp2 closed it while running: free when the reply comes */
  int64_t started_ms;          /* its HEADERS came; the request must end within request_timeout */
  bool has_deadline, bad_timeout;
  int64_t deadline_ms;         /* grpc-timeout after its HEADERS (now_ms's clock) */
  bool expired;                /* answered DEADLINE_EXCEEDED while running: its reply is dropped */
  struct stream *older, *newer;   /* in the connection's list of requests still arriving */
  struct stream *prev, *next_live;  /* in the connection's list of every stream it holds */
  rk_grpc_reply reply;
  const uint8_t *message;      /* the request message inside body, once the stream ended */
  size_t message_size;
  size_t sent;                 /* bytes of reply.body given to nghttp2 */
  struct stream *next;         /* in the job queue, then in the connection's done list */
} stream;

struct conn {
  rk_grpc_server *srv;
  loop *loop;                  /* the event loop that owns it (and alone touches h2) */
  int fd;                      /* non-blocking */
  int wake;                    /* eventfd: replies are waiting */
  uint8_t *out;                /* bytes nghttp2 gave that the socket did not take yet */
  size_t out_size, out_cap;
  bool out_watched;            /* EPOLLOUT is asked for, as out is not empty */
  int64_t last_ms;             /* the last bytes received, or written while out was waiting */
  bool closing;                /* off epoll; freed when no worker holds a stream of it */
  int64_t due_ms;              /* when it next needs a turn without an event (INT64_MAX: never) */
  nghttp2_session *h2;
  pthread_mutex_t lock;        /* done, pending */
  stream *done;                /* replies for the connection thread to send */
  int pending;                 /* streams with a worker */
  bool goaway_sent;
  bool greeted;                /* the client's preface and SETTINGS came */
  int64_t born_ms;
  stream *arriving_oldest, *arriving_newest;   /* requests whose END_STREAM has not come */
  stream *live;                /* every stream allocated and not yet freed */
  struct conn *next;           /* in the server's list */
  struct conn *next_in_loop;   /* in its loop's list, or the loop's incoming list */
};

/* An event loop: a thread, its epoll set and its share of the connections. */
struct loop {
  rk_grpc_server *srv;
  int epfd;
  int wake;                    /* eventfd: a connection came, or the server stops */
  uint8_t *buf;                /* (READ_CHUNK) what recv reads into */
  pthread_t thread;
  bool started;
  pthread_mutex_t lock;        /* incoming */
  conn *incoming;              /* handed over by the acceptor, not yet on epoll */
  conn *conns;                 /* owned by the loop thread */
};

struct rk_grpc_server {
  rk_server *core;
  rk_grpc_options opt;
  char address[64];
  int listen_fd;
  int port;
  int wake[2];                 /* a pipe: stop wakes the accepting thread */
  pthread_t acceptor;
  atomic_bool stopping;
  pthread_mutex_t lock;        /* conns, n_conns, jobs, quit */
  pthread_cond_t changed;
  conn *conns;
  int n_conns;
  stream *jobs, *jobs_tail;
  bool quit;
  pthread_t *workers;
  int n_workers;
  loop *loops;
  int n_loops;
  int next_loop;               /* round robin, the acceptor's */
};

void rk_grpc_options_default(rk_grpc_options *o) {
  memset(o, 0, sizeof *o);
  o->port = 8001;
  o->max_message_bytes = INT64_C(64) << 20;
  o->max_streams = 128;
  o->idle_timeout_ms = 60000;
  o->request_timeout_ms = 30000;
  o->workers = 0;
}

int rk_grpc_server_port(const rk_grpc_server *s) { return s->port; }

static int64_t now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void poke(int fd) {
  uint64_t one = 1;
  ssize_t r = write(fd, &one, sizeof one);
  (void)r;   /* an eventfd that is already signalled stays signalled */
}

static void stream_free(stream *st) {
  conn *c = st->c;
  if (st->prev) st->prev->next_live = st->next_live;
  else c->live = st->next_live;
  if (st->next_live) st->next_live->prev = st->prev;
  rk_free(st->body);
  rk_free(st->reply.body);
  rk_free(st);
}

/* Requests still arriving, oldest first: the request timeout watches the oldest. */
static void arriving_add(conn *c, stream *st) {
  st->older = c->arriving_newest;
  st->newer = NULL;
  if (c->arriving_newest) c->arriving_newest->newer = st;
  else c->arriving_oldest = st;
  c->arriving_newest = st;
}

static void arriving_remove(conn *c, stream *st) {
  if (!st->started_ms) return;   /* not in the list */
  if (st->older) st->older->newer = st->newer;
  else c->arriving_oldest = st->newer;
  if (st->newer) st->newer->older = st->older;
  else c->arriving_newest = st->older;
  st->started_ms = 0;
}

/* ---- the worker pool ---------------------------------------------------------------------------- */
/* A worker's RPC finished (on the worker, or on a core thread for ModelInfer). */
static void finish(void *ctx, rk_grpc_reply *reply) {
  stream *st = ctx;
  conn *c = st->c;
  pthread_mutex_lock(&c->lock);
  st->reply = *reply;
  st->next = c->done;
  c->done = st;
  pthread_mutex_unlock(&c->lock);
  poke(c->wake);
}

static void *worker_main(void *arg) {
  rk_grpc_server *s = arg;
  for (;;) {
    pthread_mutex_lock(&s->lock);
    while (!s->jobs && !s->quit) pthread_cond_wait(&s->changed, &s->lock);
    stream *st = s->jobs;
    if (!st) {
      pthread_mutex_unlock(&s->lock);
      return NULL;
    }
    s->jobs = st->next;
    if (!s->jobs) s->jobs_tail = NULL;
    pthread_mutex_unlock(&s->lock);
    rk_grpc_call(s->core, st->method, st->message, st->message_size, finish, st);
  }
}

static void enqueue(rk_grpc_server *s, stream *st) {
  st->next = NULL;
  pthread_mutex_lock(&s->lock);
  if (s->jobs_tail) s->jobs_tail->next = st;
  else s->jobs = st;
  s->jobs_tail = st;
  pthread_cond_signal(&s->changed);
  pthread_mutex_unlock(&s->lock);
}

/* ---- answers ------------------------------------------------------------------------------------ */
#define NV(n, v, vlen) {(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, (vlen), NGHTTP2_NV_FLAG_NONE}

/* Trailers-Only: one HEADERS frame with the status, ending the stream. */
static void answer_status(conn *c, stream *st, const char *http_status, rk_grpc_code code, const char *message) {
  char status[12], text[3 * RK_ERROR_MAX];
  snprintf(status, sizeof status, "%d", (int)code);
  size_t tlen = rk_grpc_percent_encode(text, sizeof text, message);
  nghttp2_nv nva[] = {
      NV(":status", http_status, strlen(http_status)),
      NV("content-type", "application/grpc", 16),
      NV("grpc-status", status, strlen(status)),
      NV("grpc-message", text, tlen),
  };
  st->answered = true;
  nghttp2_submit_response(c->h2, st->id, nva, tlen ? 4 : 3, NULL);
}

static ssize_t read_reply(nghttp2_session *h2, int32_t id, uint8_t *buf, size_t length, uint32_t *flags,
                          nghttp2_data_source *source, void *user_data) {
  (void)user_data;
  stream *st = source->ptr;
  size_t n = st->reply.size - st->sent;
  if (n > length) n = length;
  memcpy(buf, st->reply.body + st->sent, n);
  st->sent += n;
  if (st->sent == st->reply.size) {
    *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
    nghttp2_nv trailer[] = {NV("grpc-status", "0", 1)};
    if (nghttp2_submit_trailer(h2, id, trailer, 1) != 0) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  return (ssize_t)n;
}

static void answer(conn *c, stream *st) {
  if (st->reply.code != RK_GRPC_OK) {
    answer_status(c, st, "200", st->reply.code, st->reply.message);
    return;
  }
  nghttp2_nv nva[] = {NV(":status", "200", 3), NV("content-type", "application/grpc", 16)};
  nghttp2_data_provider data = {.source.ptr = st, .read_callback = read_reply};
  st->answered = true;
  nghttp2_submit_response(c->h2, st->id, nva, 2, &data);
}

/* The request stream ended: check it as gRPC and hand it to a worker, or answer at once. */
static void dispatch(conn *c, stream *st) {
  arriving_remove(c, st);
  if (st->answered) return;
  if (!st->is_post) {
    answer_status(c, st, "405", RK_GRPC_UNIMPLEMENTED, "gRPC calls are POST requests");
    return;
  }
  if (!st->is_grpc) {
    answer_status(c, st, "415", RK_GRPC_UNKNOWN, "content-type must be application/grpc");
    return;
  }
  if (st->bad_timeout) {
    answer_status(c, st, "200", RK_GRPC_INVALID_ARGUMENT,
                  "header grpc-timeout is not 1 to 8 digits and a unit (H, M, S, m, u or n)");
    return;
  }
  if (st->has_deadline && now_ms() >= st->deadline_ms) {
    answer_status(c, st, "200", RK_GRPC_DEADLINE_EXCEEDED, "the call's grpc-timeout passed before it could run");
    return;
  }
  if (st->method < 0) {
    char why[300];
    snprintf(why, sizeof why, "unknown method '%s' (inference.GRPCInferenceService serves ServerLive ... RepositoryModelUnload)",
             st->path);
    answer_status(c, st, "200", RK_GRPC_UNIMPLEMENTED, why);
    return;
  }
  rk_grpc_unary u;
  rk_grpc_split_unary(&u, st->body, st->size, c->srv->opt.max_message_bytes);
  if (u.code != RK_GRPC_OK) {
    answer_status(c, st, "200", u.code, u.reason);
    return;
  }
  st->message = u.message;
  st->message_size = u.length;
  st->answered = st->running = true;
  pthread_mutex_lock(&c->lock);
  c->pending++;
  pthread_mutex_unlock(&c->lock);
  enqueue(c->srv, st);
}

/* ---- nghttp2 callbacks ----------------------------------------------------------------------------- */
static int on_begin_headers(nghttp2_session *h2, const nghttp2_frame *frame, void *user_data) {
  conn *c = user_data;
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  stream *st = rk_calloc(1, sizeof *st);
  if (!st) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;   /* resets this stream only */
  st->c = c;
  st->next_live = c->live;
  if (c->live) c->live->prev = st;
  c->live = st;
  st->id = frame->hd.stream_id;
  st->method = -1;
  st->started_ms = now_ms();
  arriving_add(c, st);
  nghttp2_session_set_stream_user_data(h2, st->id, st);
  return 0;
}

static bool header_is(const uint8_t *name, size_t len, const char *want) {
  return len == strlen(want) && memcmp(name, want, len) == 0;
}

static int on_header(nghttp2_session *h2, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
                     const uint8_t *value, size_t valuelen, uint8_t flags, void *user_data) {
  (void)flags, (void)user_data;
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  stream *st = nghttp2_session_get_stream_user_data(h2, frame->hd.stream_id);
  if (!st) return 0;
  st->n_headers++;
  st->header_bytes += namelen + valuelen;
  if (st->n_headers > MAX_REQUEST_HEADERS || st->header_bytes > MAX_REQUEST_HEADER_BYTES)
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  if (header_is(name, namelen, ":method")) {
    st->is_post = valuelen == 4 && memcmp(value, "POST", 4) == 0;
  } else if (header_is(name, namelen, ":path")) {
    size_t n = valuelen < sizeof st->path - 1 ? valuelen : sizeof st->path - 1;
    memcpy(st->path, value, n);
    st->path[n] = '\0';
    st->method = rk_grpc_method_find((const char *)value, valuelen);
  } else if (header_is(name, namelen, "content-type")) {
    /* application/grpc, or application/grpc+proto / ;params */
    st->is_grpc = valuelen >= 16 && memcmp(value, "application/grpc", 16) == 0 &&
                  (valuelen == 16 || value[16] == '+' || value[16] == ';');
  } else if (header_is(name, namelen, "grpc-timeout")) {
    int64_t ms = rk_grpc_timeout_ms(value, valuelen);
    st->bad_timeout = ms < 0;
    st->has_deadline = ms >= 0;
    st->deadline_ms = now_ms() + ms;
  }
  return 0;
}

static int on_data(nghttp2_session *h2, uint8_t flags, int32_t id, const uint8_t *data, size_t len, void *user_data) {
  (void)flags;
  conn *c = user_data;
  stream *st = nghttp2_session_get_stream_user_data(h2, id);
  if (!st || st->answered) return 0;
  /* Refuse before buffering: the length the prefix announces, or more bytes than one message. */
  int64_t max = c->srv->opt.max_message_bytes;
  uint8_t head[RK_GRPC_PREFIX_BYTES];
  size_t have = st->size < sizeof head ? st->size : sizeof head;
  if (have) memcpy(head, st->body, have);
  size_t more = len < sizeof head - have ? len : sizeof head - have;
  memcpy(head + have, data, more);
  int64_t announced = rk_grpc_announced_length(head, have + more);
  if (announced > max || (int64_t)(st->size + len) > max + RK_GRPC_PREFIX_BYTES) {
    char why[160];
    snprintf(why, sizeof why, "request message of %lld bytes is over the limit of %lld", (long long)announced,
             (long long)max);
    answer_status(c, st, "200", RK_GRPC_RESOURCE_EXHAUSTED, why);
    return 0;
  }
  if (st->size + len > st->cap) {
    size_t cap = st->cap ? st->cap : 256;
    while (cap < st->size + len) cap *= 2;
    uint8_t *b = rk_realloc(st->body, cap);
    if (!b) {
      answer_status(c, st, "200", RK_GRPC_RESOURCE_EXHAUSTED, "out of memory for the request message");
      return 0;
    }
    st->body = b;
    st->cap = cap;
  }
  memcpy(st->body + st->size, data, len);
  st->size += len;
  return 0;
}

static int on_frame(nghttp2_session *h2, const nghttp2_frame *frame, void *user_data) {
  conn *c = user_data;
  if (frame->hd.type == NGHTTP2_SETTINGS) c->greeted = true;
  if ((frame->hd.type == NGHTTP2_DATA || frame->hd.type == NGHTTP2_HEADERS) && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
    stream *st = nghttp2_session_get_stream_user_data(h2, frame->hd.stream_id);
    if (st) dispatch(c, st);
  }
  return 0;
}

static int on_close(nghttp2_session *h2, int32_t id, uint32_t error_code, void *user_data) {
  (void)error_code;
  stream *st = nghttp2_session_get_stream_user_data(h2, id);
  if (!st) return 0;
  arriving_remove(user_data, st);
  nghttp2_session_set_stream_user_data(h2, id, NULL);
  if (st->running) st->closed = true;   /* the worker still holds it: freed when its reply comes */
  else stream_free(st);
  return 0;
}

/* ---- a connection ------------------------------------------------------------------------------- */
/* Send what nghttp2 has without blocking: what the socket does not take waits in c->out (nothing
 * new is asked of nghttp2 until it is gone; EPOLLOUT brings the loop back). false: it failed. */
static bool flush(conn *c) {
  for (;;) {
    while (c->out_size > 0) {
      ssize_t w = send(c->fd, c->out, c->out_size, MSG_NOSIGNAL);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
      if (w <= 0) return false;
      memmove(c->out, c->out + w, c->out_size - (size_t)w);
      c->out_size -= (size_t)w;
      c->last_ms = now_ms();   /* the peer reads: not idle */
    }
    const uint8_t *data = NULL;
    ssize_t n = nghttp2_session_mem_send(c->h2, &data);
    if (n < 0) return false;
    if (n == 0) return true;
    ssize_t off = 0;
    while (off < n) {
      ssize_t w = send(c->fd, data + off, (size_t)(n - off), MSG_NOSIGNAL);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (w <= 0) return false;
      off += w;
    }
    if (off < n) {   /* nghttp2's buffer lasts until its next call: keep the rest */
      size_t rest = (size_t)(n - off);
      if (rest > c->out_cap) {
        uint8_t *b = rk_realloc(c->out, rest);
        if (!b) return false;
        c->out = b, c->out_cap = rest;
      }
      memcpy(c->out, data + off, rest);
      c->out_size = rest;
      return true;
    }
  }
}

/* Ask epoll for writability exactly while bytes wait in c->out. */
static void watch_out(conn *c) {
  bool want = c->out_size > 0;
  if (want == c->out_watched) return;
  struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c};
  epoll_ctl(c->loop->epfd, EPOLL_CTL_MOD, c->fd, &ev);
  c->out_watched = want;
}

static int pending_of(conn *c) {
  pthread_mutex_lock(&c->lock);
  int pending = c->pending;
  pthread_mutex_unlock(&c->lock);
  return pending;
}

/* Send the replies workers left; drop those whose stream (or connection) closed meanwhile. */
static void take_replies(conn *c) {
  uint64_t count;
  ssize_t r = read(c->wake, &count, sizeof count);
  (void)r;
  pthread_mutex_lock(&c->lock);
  stream *list = c->done;
  c->done = NULL;
  pthread_mutex_unlock(&c->lock);
  for (stream *st = list, *next; st; st = next) {
    next = st->next;
    st->running = false;
    pthread_mutex_lock(&c->lock);
    c->pending--;
    pthread_mutex_unlock(&c->lock);
    if (st->closed) stream_free(st);
    else if (!st->expired && !c->closing) answer(c, st);   /* an expired one was answered at its deadline */
  }
}

/* Answer running calls whose deadline passed (*answered: some were); returns the milliseconds to
 * the next deadline of a running call, or -1 when none has one. */
static int64_t expire_running(conn *c, int64_t now, bool *answered) {
  int64_t next = -1;
  for (stream *st = c->live; st; st = st->next_live) {
    if (!st->running || !st->has_deadline || st->expired || st->closed) continue;
    if (now >= st->deadline_ms) {
      st->expired = *answered = true;
      answer_status(c, st, "200", RK_GRPC_DEADLINE_EXCEEDED, "the call's grpc-timeout passed while it ran");
    } else if (next < 0 || st->deadline_ms - now < next) {
      next = st->deadline_ms - now;
    }
  }
  return next;
}

/* One turn of a connection on its loop: replies in, bytes in, bytes out, then its limits.
 * false: it is to close. *due_ms gets when it next needs a turn without an event (INT64_MAX:
 * never). buf: the loop's read buffer. */
static bool conn_turn(conn *c, uint8_t *buf, int64_t *due_ms) {
  rk_grpc_server *s = c->srv;
  *due_ms = INT64_MAX;
  take_replies(c);
  for (;;) {
    ssize_t got = recv(c->fd, buf, READ_CHUNK, MSG_DONTWAIT);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (got <= 0) return false;   /* the peer closed, or the socket failed */
    c->last_ms = now_ms();
    if (nghttp2_session_mem_recv(c->h2, buf, (size_t)got) < 0) {
      flush(c);                   /* nghttp2 queued a GOAWAY naming the protocol error */
      return false;
    }
    if (got < READ_CHUNK) break;
  }
  for (;;) {
    if (!flush(c)) return false;
    int pending = pending_of(c);
    bool quiet = c->out_size == 0 && !nghttp2_session_want_write(c->h2);
    if (atomic_load(&s->stopping) && !c->goaway_sent) {
      /* Drain: streams already received are answered; the client opens new ones elsewhere. */
      nghttp2_submit_goaway(c->h2, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(c->h2),
                            NGHTTP2_NO_ERROR, NULL, 0);
      c->goaway_sent = true;
      continue;
    }
    if (c->goaway_sent && pending == 0 && quiet) return false;
    if (!nghttp2_session_want_read(c->h2) && quiet && pending == 0) return false;
    int64_t now = now_ms(), idle = now - c->last_ms;
    /* The preface, or the oldest request still arriving, must be whole by now. */
    int64_t since = !c->greeted ? c->born_ms : c->arriving_oldest ? c->arriving_oldest->started_ms : -1;
    if (since >= 0 && now - since >= s->opt.request_timeout_ms) {
      nghttp2_session_terminate_session(c->h2, NGHTTP2_PROTOCOL_ERROR);
      flush(c);
      return false;
    }
    if (pending == 0 && idle >= s->opt.idle_timeout_ms) {
      if (c->goaway_sent) return false;
      nghttp2_submit_goaway(c->h2, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(c->h2),
                            NGHTTP2_NO_ERROR, (const uint8_t *)"idle", 4);
      c->goaway_sent = true;
      continue;
    }
    bool expired = false;
    int64_t deadline = pending ? expire_running(c, now, &expired) : -1;
    if (expired) continue;   /* its answer goes out first */
    int64_t timeout = pending ? deadline : s->opt.idle_timeout_ms - idle;
    if (since >= 0 && (timeout < 0 || s->opt.request_timeout_ms - (now - since) < timeout))
      timeout = s->opt.request_timeout_ms - (now - since);
    *due_ms = timeout < 0 ? INT64_MAX : now + timeout;
    watch_out(c);
    return true;
  }
}

static void conn_free(conn *c) {
  /* nghttp2_session_del frees its streams without on_close: ours go here. */
  while (c->live) stream_free(c->live);
  if (c->h2) nghttp2_session_del(c->h2);
  if (c->fd >= 0) close(c->fd);
  if (c->wake >= 0) close(c->wake);
  rk_free(c->out);
  pthread_mutex_destroy(&c->lock);
  rk_free(c);
}

/* Off epoll and its socket closed; the connection itself goes once no worker holds one of its
 * streams (their replies come through c->wake, still watched). */
static void conn_close(conn *c) {
  epoll_ctl(c->loop->epfd, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  c->fd = -1;
  c->closing = true;
}

static nghttp2_session *session_new(conn *c) {
  nghttp2_session_callbacks *cb = NULL;
  nghttp2_session *h2 = NULL;
  if (nghttp2_session_callbacks_new(&cb) != 0) return NULL;
  nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_close);
  int rv = nghttp2_session_server_new(&h2, cb, c);
  nghttp2_session_callbacks_del(cb);
  if (rv != 0) return NULL;
  nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, (uint32_t)c->srv->opt.max_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, WINDOW_BYTES},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, MAX_REQUEST_HEADER_BYTES},
  };
  if (nghttp2_submit_settings(h2, NGHTTP2_FLAG_NONE, settings, 3) != 0 ||
      nghttp2_session_set_local_window_size(h2, NGHTTP2_FLAG_NONE, 0, WINDOW_BYTES) != 0) {
    nghttp2_session_del(h2);
    return NULL;
  }
  return h2;
}

/* ---- the event loops ------------------------------------------------------------------------------ */
/* Take the connections the acceptor handed over: on epoll, due for a turn now. */
static void loop_adopt(loop *L) {
  pthread_mutex_lock(&L->lock);
  conn *in = L->incoming;
  L->incoming = NULL;
  pthread_mutex_unlock(&L->lock);
  while (in) {
    conn *c = in;
    in = c->next_in_loop;
    /* Both its fds point at it: either event gives it a turn. */
    struct epoll_event on_fd = {.events = EPOLLIN, .data.ptr = c};
    struct epoll_event on_wake = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(L->epfd, EPOLL_CTL_ADD, c->fd, &on_fd) != 0 ||
        epoll_ctl(L->epfd, EPOLL_CTL_ADD, c->wake, &on_wake) != 0)
      conn_close(c);   /* swept below: never served */
    c->due_ms = 0;
    c->next_in_loop = L->conns;
    L->conns = c;
  }
}

/* Free the closed connections no worker holds any more. */
static void loop_sweep(loop *L) {
  rk_grpc_server *s = L->srv;
  for (conn **p = &L->conns; *p;) {
    conn *c = *p;
    if (!c->closing || pending_of(c) > 0) {
      p = &c->next_in_loop;
      continue;
    }
    *p = c->next_in_loop;
    epoll_ctl(L->epfd, EPOLL_CTL_DEL, c->wake, NULL);
    pthread_mutex_lock(&s->lock);
    for (conn **q = &s->conns; *q; q = &(*q)->next)
      if (*q == c) {
        *q = c->next;
        break;
      }
    s->n_conns--;
    pthread_mutex_unlock(&s->lock);
    conn_free(c);
  }
}

static void turn(conn *c, uint8_t *buf) {
  if (c->closing) {
    take_replies(c);   /* replies of a closed connection: dropped */
    c->due_ms = INT64_MAX;
    return;
  }
  if (!conn_turn(c, buf, &c->due_ms)) conn_close(c);
}

static void *loop_main(void *arg) {
  loop *L = arg;
  rk_grpc_server *s = L->srv;
  struct epoll_event events[64];
  bool stop_seen = false;
  for (;;) {
    loop_adopt(L);
    bool stopping = atomic_load(&s->stopping);
    if (stopping && !stop_seen) {   /* every connection sends its GOAWAY now */
      for (conn *c = L->conns; c; c = c->next_in_loop) c->due_ms = 0;
      stop_seen = true;
    }
    int64_t now = now_ms(), next = INT64_MAX;
    for (conn *c = L->conns; c; c = c->next_in_loop) {
      if (c->due_ms <= now) turn(c, L->buf);
      if (c->due_ms < next) next = c->due_ms;
    }
    loop_sweep(L);
    if (stopping && !L->conns) break;
    int64_t wait = next == INT64_MAX ? -1 : next - now_ms();
    if (wait > INT_MAX) wait = INT_MAX;   /* a deadline hours away */
    int n = epoll_wait(L->epfd, events, 64, next == INT64_MAX ? -1 : wait < 0 ? 0 : (int)wait);
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < n; i++) {
      conn *c = events[i].data.ptr;
      if (!c) {   /* the loop's own eventfd */
        uint64_t count;
        ssize_t r = read(L->wake, &count, sizeof count);
        (void)r;
      } else {
        c->due_ms = 0;   /* its turn comes in the pass above, once however many events it had */
      }
    }
  }
  return NULL;
}

static void start_conn(rk_grpc_server *s, int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  conn *c = rk_calloc(1, sizeof *c);
  if (!c) {
    close(fd);
    return;
  }
  c->srv = s;
  c->fd = fd;
  c->born_ms = c->last_ms = now_ms();
  c->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  pthread_mutex_init(&c->lock, NULL);
  c->h2 = c->wake >= 0 ? session_new(c) : NULL;
  pthread_mutex_lock(&s->lock);
  bool room = s->n_conns < MAX_CONNECTIONS && !atomic_load(&s->stopping) && c->h2;
  if (room) {
    c->next = s->conns;
    s->conns = c;
    s->n_conns++;
  }
  pthread_mutex_unlock(&s->lock);
  if (!room) {
    conn_free(c);
    return;
  }
  loop *L = &s->loops[s->next_loop];
  s->next_loop = (s->next_loop + 1) % s->n_loops;
  c->loop = L;
  pthread_mutex_lock(&L->lock);
  c->next_in_loop = L->incoming;
  L->incoming = c;
  pthread_mutex_unlock(&L->lock);
  poke(L->wake);
}

static void *accept_main(void *arg) {
  rk_grpc_server *s = arg;
  for (;;) {
    struct pollfd fds[2] = {{s->listen_fd, POLLIN, 0}, {s->wake[0], POLLIN, 0}};
    if (poll(fds, 2, -1) < 0 && errno != EINTR) break;
    if (atomic_load(&s->stopping) || (fds[1].revents & POLLIN)) break;
    if (!(fds[0].revents & POLLIN)) continue;
    int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd >= 0) start_conn(s, fd);
  }
  return NULL;
}

/* ---- start and stop ------------------------------------------------------------------------------- */
static rk_status listen_on(rk_grpc_server *s) {
  struct sockaddr_storage addr = {0};
  struct sockaddr_in *v4 = (struct sockaddr_in *)&addr;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&addr;
  socklen_t len = sizeof *v4;
  if (inet_pton(AF_INET, s->address, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)s->opt.port);
  } else if (inet_pton(AF_INET6, s->address, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)s->opt.port);
    len = sizeof *v6;
  } else {
    return rk_error(RK_EUSAGE, "gRPC address '%s' is not a numeric IPv4 or IPv6 address (such as 127.0.0.1, 0.0.0.0 or ::)",
                    s->address);
  }
  s->listen_fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s->listen_fd < 0) return rk_error(RK_EIO, "cannot open a socket for gRPC: %s", strerror(errno));
  int one = 1;
  setsockopt(s->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(s->listen_fd, (struct sockaddr *)&addr, len) != 0 || listen(s->listen_fd, 128) != 0)
    return rk_error(RK_EIO, "cannot listen for gRPC on %s port %d: %s", s->address, s->opt.port, strerror(errno));
  getsockname(s->listen_fd, (struct sockaddr *)&addr, &len);
  s->port = ntohs(addr.ss_family == AF_INET6 ? v6->sin6_port : v4->sin_port);
  return RK_OK;
}

static rk_status check_options(const rk_grpc_options *o) {
  if (o->port < 0 || o->port > 65535) return rk_error(RK_ERANGE, "gRPC port %d is out of range [0, 65535]", o->port);
  if (o->max_message_bytes < 0)
    return rk_error(RK_ERANGE, "gRPC max message size %lld must be >= 1", (long long)o->max_message_bytes);
  if (o->max_streams < 0) return rk_error(RK_ERANGE, "gRPC max streams %d must be >= 1", o->max_streams);
  if (o->idle_timeout_ms < 0) return rk_error(RK_ERANGE, "gRPC idle timeout %d ms must be >= 1", o->idle_timeout_ms);
  if (o->request_timeout_ms < 0)
    return rk_error(RK_ERANGE, "gRPC request timeout %d ms must be >= 1", o->request_timeout_ms);
  if (o->workers < 0) return rk_error(RK_ERANGE, "gRPC workers %d must be >= 1", o->workers);
  return RK_OK;
}

static void stop_workers(rk_grpc_server *s) {
  pthread_mutex_lock(&s->lock);
  s->quit = true;
  pthread_cond_broadcast(&s->changed);
  pthread_mutex_unlock(&s->lock);
  for (int i = 0; i < s->n_workers; i++) pthread_join(s->workers[i], NULL);
  s->n_workers = 0;
}

static rk_status start_loops(rk_grpc_server *s) {
  s->n_loops = s->opt.workers;
  if (!(s->loops = rk_calloc((size_t)s->n_loops, sizeof *s->loops))) return RK_ENOMEM;
  for (int i = 0; i < s->n_loops; i++) {
    loop *L = &s->loops[i];
    L->srv = s;
    L->epfd = L->wake = -1;
    pthread_mutex_init(&L->lock, NULL);
  }
  for (int i = 0; i < s->n_loops; i++) {
    loop *L = &s->loops[i];
    L->epfd = epoll_create1(EPOLL_CLOEXEC);
    L->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (L->epfd < 0 || L->wake < 0 || epoll_ctl(L->epfd, EPOLL_CTL_ADD, L->wake, &ev) != 0)
      return rk_error(RK_EIO, "gRPC: cannot make event loop %d: %s", i, strerror(errno));
    if (!(L->buf = rk_malloc(READ_CHUNK))) return RK_ENOMEM;
    if (pthread_create(&L->thread, NULL, loop_main, L) != 0)
      return rk_error(RK_EINTERNAL, "gRPC: cannot start event loop %d", i);
    L->started = true;
  }
  return RK_OK;
}

/* The loops end once stopping is set and their connections are gone. */
static void stop_loops(rk_grpc_server *s) {
  for (int i = 0; s->loops && i < s->n_loops; i++) {
    loop *L = &s->loops[i];
    if (L->started) {
      poke(L->wake);
      pthread_join(L->thread, NULL);
    }
    while (L->incoming) {   /* handed over after the loop ended (never, once the acceptor is joined) */
      conn *c = L->incoming;
      L->incoming = c->next_in_loop;
      conn_free(c);
    }
    if (L->epfd >= 0) close(L->epfd);
    if (L->wake >= 0) close(L->wake);
    rk_free(L->buf);
    pthread_mutex_destroy(&L->lock);
  }
  rk_free(s->loops);
  s->loops = NULL;
}

static void server_free(rk_grpc_server *s) {
  if (s->listen_fd >= 0) close(s->listen_fd);
  if (s->wake[0] >= 0) close(s->wake[0]), close(s->wake[1]);
  pthread_mutex_destroy(&s->lock);
  pthread_cond_destroy(&s->changed);
  rk_free(s->workers);
  rk_free(s);
}

rk_status rk_grpc_server_start(rk_grpc_server **out, rk_server *core, const rk_grpc_options *o) {
  *out = NULL;
  rk_grpc_options d;
  rk_grpc_options_default(&d);
  RK_TRY(check_options(o));
  rk_grpc_server *s = rk_calloc(1, sizeof *s);
  if (!s) return RK_ENOMEM;
  s->core = core;
  s->opt = *o;
  if (!s->opt.max_message_bytes) s->opt.max_message_bytes = d.max_message_bytes;
  if (s->opt.max_message_bytes > UINT32_MAX) s->opt.max_message_bytes = UINT32_MAX;   /* gRPC's own bound */
  if (!s->opt.max_streams) s->opt.max_streams = d.max_streams;
  if (!s->opt.idle_timeout_ms) s->opt.idle_timeout_ms = d.idle_timeout_ms;
  if (!s->opt.request_timeout_ms) s->opt.request_timeout_ms = d.request_timeout_ms;
  if (!s->opt.workers) s->opt.workers = rk_num_threads() > 0 ? rk_num_threads() : 1;
  snprintf(s->address, sizeof s->address, "%s", o->address ? o->address : "0.0.0.0");
  s->opt.address = s->address;
  s->listen_fd = s->wake[0] = s->wake[1] = -1;
  atomic_init(&s->stopping, false);
  pthread_mutex_init(&s->lock, NULL);
  pthread_cond_init(&s->changed, NULL);
  rk_status st = listen_on(s);
  if (st == RK_OK && pipe2(s->wake, O_CLOEXEC) != 0) st = rk_error(RK_EIO, "gRPC: cannot make a pipe: %s", strerror(errno));
  if (st == RK_OK && !(s->workers = rk_calloc((size_t)s->opt.workers, sizeof *s->workers))) st = RK_ENOMEM;
  for (int i = 0; st == RK_OK && i < s->opt.workers; i++) {
    if (pthread_create(&s->workers[i], NULL, worker_main, s) != 0) st = rk_error(RK_EINTERNAL, "gRPC: cannot start worker %d", i);
    else s->n_workers++;
  }
  if (st == RK_OK) st = start_loops(s);
  if (st == RK_OK && pthread_create(&s->acceptor, NULL, accept_main, s) != 0)
    st = rk_error(RK_EINTERNAL, "gRPC: cannot start the accepting thread");
  if (st != RK_OK) {
    atomic_store(&s->stopping, true);
    stop_loops(s);
    stop_workers(s);
    server_free(s);
    return st;
  }
  *out = s;
  return RK_OK;
}

void rk_grpc_server_stop(rk_grpc_server *s) {
  if (!s) return;
  atomic_store(&s->stopping, true);
  char byte = 1;
  ssize_t w = write(s->wake[1], &byte, 1);
  (void)w;
  pthread_join(s->acceptor, NULL);
  stop_loops(s);   /* each connection drains (GOAWAY, its calls answered) and closes */
  stop_workers(s);
  server_free(s);
}
