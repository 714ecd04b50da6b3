/*
 * `reckon serve`: a model repository served over KServe v2 (HTTP/REST on --http-port, gRPC on
 * --grpc-port) with Prometheus metrics on --metrics-port, taking tritonserver's flags where they
 * apply so a tritonserver command line runs with `reckon serve` in its place (seed 003 section
 * 2.4: `--model-repository=<path> --backend-config=tensorflow,version=2 --model-control-mode=explicit`).
 * Dashed flag names are the same flags as the underscored ones (src/cli/flags.c).
 *
 * SIGTERM or SIGINT: stop accepting, let the requests in flight finish (at most
 * --exit-timeout-secs), then exit. The core is reckon/serve.h; the HTTP frontend
 * src/serve/http/, the gRPC one src/serve/grpc/; docs/serving_http.md, docs/serving_grpc.md.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"
#include "reckon/serve.h"
#ifdef RECKON_HAVE_HTTP
#include "serve/http/http_server.h"
#endif
#ifdef RECKON_HAVE_GRPC
#include "serve/grpc/grpc_server.h"
#endif

#define SERVE_FLAGS(X)                                                                                     \
  X(model_repository,   STRING, NULL,       "DIR", "the model repository, Triton's layout: DIR/<model>/config.pbtxt and " \
                                            "DIR/<model>/<version>/ (reckon export writes one)")               \
  X(model_control_mode, CHOICE, "none",     "none|poll|explicit", "none: load every model at start, never change; " \
                                            "poll: also rescan the repository every --repository-poll-secs; "   \
                                            "explicit: load only --load-model models, then as clients ask "      \
                                            "(POST /v2/repository/models/<m>/load and /unload)")                \
  X(load_model,         REPEATED, "",       "NAME", "explicit mode: a model to load at start; repeat the flag for " \
                                            "more, '*' for all")                                                \
  X(strict_readiness,   BOOL,   "true",     NULL, "ready (/v2/health/ready) only when every loaded model is; false: " \
                                            "ready whenever live")                                              \
  X(repository_poll_secs, INT,  "15",       "S in [0, 86400]", "poll mode: seconds between rescans (0: never)") \
  X(exit_timeout_secs,  INT,    "30",       "S in [0, 86400]", "on SIGTERM or SIGINT: seconds to let requests in " \
                                            "flight finish before exiting")                                     \
  X(allow_http,         BOOL,   "true",     NULL, "serve KServe v2 over HTTP/REST")                             \
  X(http_port,          INT,    "8000",     "P in [0, 65535]", "HTTP port (0: a free one, printed at start)")   \
  X(http_address,       STRING, "0.0.0.0",  "ADDR", "the address HTTP and metrics listen on (one interface; " \
                                            "numeric IPv4 or IPv6)")                                            \
  X(allow_grpc,         BOOL,   "true",     NULL, "serve KServe v2 over gRPC")                                  \
  X(grpc_port,          INT,    "8001",     "P in [0, 65535]", "gRPC port (0: a free one, printed at start)")   \
  X(grpc_address,       STRING, "0.0.0.0",  "ADDR", "the address gRPC listens on (one interface; numeric IPv4 or IPv6)") \
  X(allow_metrics,      BOOL,   "true",     NULL, "serve Prometheus metrics at GET /metrics on --metrics-port") \
  X(metrics_port,       INT,    "8002",     "P in [0, 65535]", "metrics port (0: a free one, printed at start)") \
  X(max_body_bytes,     INT,    "67108864", "N in [1, 2^40]", "largest HTTP request body; larger is refused (413)") \
  X(max_tensor_elements, INT,   "16777216", "N in [1, 2^40]", "most elements in one request tensor; more is " \
                                            "refused (400)")                                                    \
  X(max_headers,        INT,    "64",       "N in [1, 10000]", "most HTTP request headers; more is refused (431)") \
  X(idle_timeout_secs,  INT,    "60",       "S in [1, 86400]", "close an HTTP connection silent this long")    \
  X(read_timeout_secs,  INT,    "30",       "S in [1, 86400]", "close an HTTP connection whose request has not " \
                                            "arrived whole this long after it began (a client trickling bytes)") \
  X(max_connections,    INT,    "1024",     "N in [1, 65536]", "most HTTP connections open at once")            \
  X(http_thread_count,  INT,    "0",        "N in [0, 1024]", "HTTP event-loop threads; a connection whose " \
                                            "request waits for inference frees its thread (0: as many as "      \
                                            "--threads)")                                                       \
  X(backend_config,     IGNORED, NULL,      NULL, "Triton's per-backend settings; reckon runs its own backend")   \
  X(pinned_memory_pool_byte_size, IGNORED, NULL, NULL, "a GPU setting of Triton's")                            \
  X(cuda_memory_pool_byte_size,   IGNORED, NULL, NULL, "a GPU setting of Triton's")                            \
  X(min_supported_compute_capability, IGNORED, NULL, NULL, "a GPU setting of Triton's")

typedef struct {
  SERVE_FLAGS(RK_FLAG_FIELD)
} serve_opts;
#define RK_FLAG_STRUCT serve_opts
static const rk_flag serve_flags[] = {SERVE_FLAGS(RK_FLAG_ROW) RK_FLAG_END};
#undef RK_FLAG_STRUCT

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The stop signals' handler: only async-signal-safe work (a flag and a byte into the pipe). */
static int stop_pipe[2] = {-1, -1};
static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig) {
  int saved = errno;
  if (!stop_signal) stop_signal = sig;
  ssize_t n = write(stop_pipe[1], "x", 1);
  (void)n;
  errno = saved;
}

static int run_serve(const rk_flag_parse *parse, void *arg) {
  serve_opts *o = arg;
  (void)parse;
  if (!o->model_repository)
    return rk_cli_fail(rk_error(RK_EUSAGE, "'reckon serve' needs --model-repository DIR"));
#ifndef RECKON_HAVE_HTTP
  if (o->allow_http)
    return rk_cli_fail(rk_error(RK_EUNSUPPORTED, "this reckon was built without libmicrohttpd: no HTTP endpoint "
                                                 "(install libmicrohttpd-dev and rebuild, or give --allow-http false)"));
#endif
#ifndef RECKON_HAVE_GRPC
  if (o->allow_grpc)
    rk_warn("note: this reckon was built without nghttp2 and protobuf-c: no gRPC endpoint (--allow-grpc false "
            "says so quietly)");
#endif
  rk_serve_options so;
  rk_serve_options_default(&so);
  so.repository = o->model_repository;
  rk_status st = rk_serve_control_parse(o->model_control_mode, &so.control);
  if (st != RK_OK) return rk_cli_fail(st);
  so.load_models = o->load_model.items;
  so.n_load_models = o->load_model.n;
  so.strict_readiness = o->strict_readiness;
  so.poll_interval_ms = o->repository_poll_secs * 1000;
  if (o->load_model.n && so.control != RK_SERVE_CONTROL_EXPLICIT)
    rk_warn("note: --load-model is for --model-control-mode explicit; in mode %s every model loads at start",
            o->model_control_mode);

  /* SIGTERM and SIGINT: a handler that wakes this thread through a pipe, whichever thread the
   * signal lands on (OpenBLAS starts its threads before any mask could be set, so blocking the
   * signals and sigwait let a second SIGTERM kill the process there). */
  if (pipe(stop_pipe) != 0) return rk_cli_fail(rk_error(RK_EIO, "cannot create the stop pipe: %s", strerror(errno)));
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop_signal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);

  rk_server *core = NULL;
  st = rk_server_open(&core, &so);
  if (st != RK_OK) return rk_cli_fail(st);
#ifdef RECKON_HAVE_HTTP
  rk_http_server *http = NULL;
  if (o->allow_http) {
    rk_http_options ho;
    rk_http_options_default(&ho);
    ho.address = o->http_address;
    ho.http_port = (int)o->http_port;
    ho.metrics_port = o->allow_metrics ? (int)o->metrics_port : -1;
    ho.max_body_bytes = o->max_body_bytes;
    ho.max_tensor_elements = o->max_tensor_elements;
    ho.max_headers = (int)o->max_headers;
    ho.idle_timeout_s = (int)o->idle_timeout_secs;
    ho.read_timeout_s = (int)o->read_timeout_secs;
    ho.max_connections = (int)o->max_connections;
    ho.threads = o->http_thread_count > 0 ? (int)o->http_thread_count : rk_num_threads();
    st = rk_http_server_start(&http, core, &ho);
    if (st != RK_OK) {
      rk_server_close(core);
      return rk_cli_fail(st);
    }
    printf("reckon serve: HTTP on %s:%d\n", o->http_address, rk_http_server_port(http));
    if (ho.metrics_port >= 0)
      printf("reckon serve: metrics on %s:%d/metrics\n", o->http_address, rk_http_server_metrics_port(http));
  }
#endif
#ifdef RECKON_HAVE_GRPC
  rk_grpc_server *grpc = NULL;
  if (o->allow_grpc) {
    rk_grpc_options go;
    rk_grpc_options_default(&go);
    go.address = o->grpc_address;
    go.port = (int)o->grpc_port;
    go.idle_timeout_ms = (int)o->idle_timeout_secs * 1000;
    go.request_timeout_ms = (int)o->read_timeout_secs * 1000;
    go.max_message_bytes = o->max_body_bytes;
    st = rk_grpc_server_start(&grpc, core, &go);
    if (st != RK_OK) {
#ifdef RECKON_HAVE_HTTP
      rk_http_server_stop(http);
#endif
      rk_server_close(core);
      return rk_cli_fail(st);
    }
    printf("reckon serve: gRPC on %s:%d\n", o->grpc_address, rk_grpc_server_port(grpc));
  }
#endif
  printf("reckon serve: repository %s, control mode %s, %s\n", o->model_repository, o->model_control_mode,
         rk_server_ready(core) ? "ready" : "not ready");
  fflush(stdout);

  char byte;
  while (read(stop_pipe[0], &byte, 1) < 0 && errno == EINTR) {
  }
  int sig = stop_signal;
  printf("reckon serve: %s: draining (at most %lld s)\n", sig == SIGINT ? "SIGINT" : "SIGTERM",
         (long long)o->exit_timeout_secs);
  fflush(stdout);
  int64_t deadline = now_ms() + o->exit_timeout_secs * 1000;
  rk_status drained = RK_OK;
#ifdef RECKON_HAVE_HTTP
  if (http) drained = rk_http_server_drain(http, o->exit_timeout_secs * 1000);
#endif
#ifdef RECKON_HAVE_GRPC
  rk_grpc_server_stop(grpc);   /* lets its RPCs in flight finish */
#endif
  int64_t left = deadline - now_ms();
  rk_status core_drained = rk_server_shutdown(core, left > 0 ? left : 0);
  if (drained == RK_OK) drained = core_drained;
  if (drained != RK_OK) rk_warn("%s", rk_error_message());
#ifdef RECKON_HAVE_HTTP
  rk_http_server_stop(http);
#endif
  rk_server_close(core);
  printf("reckon serve: stopped\n");
  return drained == RK_OK ? RK_EXIT_OK : RK_EXIT_FAILURE;
}

const rk_command rk_cmd_serve = {
    .name = "serve",
    .usage = "reckon serve --model-repository DIR [flags]",
    .summary = "serve a model repository over KServe v2 (HTTP and gRPC) with Prometheus metrics, as tritonserver does",
    .details = "Takes tritonserver's flags where they apply, with dashes or underscores: seed 003's "
               "`tritonserver --model-repository=<path> --backend-config=tensorflow,version=2 "
               "--model-control-mode=explicit` runs as `reckon serve` with the same flags. Endpoints, limits and "
               "metrics: docs/serving_http.md.",
    .flags = serve_flags,
    .opts_size = sizeof(serve_opts),
    .run = run_serve,
};
