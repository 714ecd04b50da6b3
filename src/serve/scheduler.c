/*
 * The scheduler: one queue of requests for every model version, a pool of worker threads, and
 * Triton's dynamic batching. A worker takes the oldest request whose version can run now, with
 * the requests behind it for the same version that fit max_batch_size, and runs them as one
 * batch. A version with dynamic_batching waits for more requests while its batch is below the
 * largest preferred_batch_size (else max_batch_size) and its oldest request has waited less than
 * max_queue_delay_microseconds, as long as its requests arrive closer together than that delay
 * on average: a lone client's requests (one connection) come further apart, and waiting added
 * the whole delay to each of them for no company (Triton waits regardless). A version without
 * dynamic_batching runs each request alone.
 *
 * Splitting is exact: the rows of a batch are the requests' rows one after another, and each
 * request gets back its own rows of every output (a session ensemble's: its own sessions, as the
 * workflow step counts them per request). A batch that fails (one request's values the
 * workflow refuses) is run again request by request, so each request gets its own answer.
 *
 * Reference: Triton's docs/user_guide/model_configuration.md, "Dynamic Batcher".
 */
#include <string.h>
#include <time.h>

#include "serve/serve_internal.h"

struct rk_job {
  rk_loaded *l;                 /* held until answered */
  const rk_serve_request *req;
  int64_t rows;
  rk_serve_done_fn done;
  void *ctx;
  uint64_t arrival_ns;
  rk_job *next;
};

typedef struct {
  rk_scheduler *q;
  int index;
} worker_arg;

struct rk_scheduler {
  rk_server *s;
  pthread_mutex_t lock;
  pthread_cond_t wake;          /* a job arrived, or closing */
  pthread_cond_t idle;          /* a batch finished */
  rk_job *head, *tail;
  int64_t queued, running;
  bool stopping, closing;
  pthread_t *threads;
  worker_arg *args;
  int n_threads;
};

/* Whether two requests carry the same inputs (so their columns line up in one batch). */
static bool same_inputs(const rk_serve_request *a, const rk_serve_request *b) {
  if (a->n_inputs != b->n_inputs) return false;
  for (int i = 0; i < a->n_inputs; i++) {
    bool found = false;
    for (int j = 0; j < b->n_inputs && !found; j++) found = !strcmp(a->inputs[i].name, b->inputs[j].name);
    if (!found) return false;
  }
  return true;
}

/* The jobs that would batch with `first` (first included), in queue order; *rows their rows;
 * *full when the batch can take no more (the next request would not fit, or no batching). */
static int batch_members(const rk_job *first, rk_job **members, int cap, int64_t *rows, bool *full) {
  const rk_loaded *l = first->l;
  int n = 0;
  *rows = 0;
  *full = false;
  bool batching = l->config.max_batch_size > 0 && l->preferred > 1;
  for (rk_job *j = (rk_job *)first; j && n < cap; j = j->next) {
    if (j->l != l || !same_inputs(j->req, first->req)) continue;
    if (n > 0 && (!batching || *rows + j->rows > l->max_batch)) {
      *full = true;
      break;
    }
    members[n++] = j;
    *rows += j->rows;
  }
  if (n == cap || !batching) *full = true;
  return n;
}

#define MAX_MEMBERS 4096

void rk_scheduler_note_arrival(rk_loaded *l, uint64_t now_ns) {
  /* two frontend threads may stamp their requests in one order and queue them in the other */
  uint64_t gap = l->last_arrival_ns && now_ns > l->last_arrival_ns ? now_ns - l->last_arrival_ns : 0;
  if (l->last_arrival_ns) l->arrival_gap_ns = l->arrival_gap_ns - l->arrival_gap_ns / 8 + gap / 8;
  if (now_ns > l->last_arrival_ns) l->last_arrival_ns = now_ns;
}

uint64_t rk_scheduler_batch_wait_ns(const rk_loaded *l) {
  uint64_t delay_ns = (uint64_t)l->delay_us * 1000u;
  return l->arrival_gap_ns < delay_ns ? delay_ns : 0;   /* else no company is due within the delay */
}

static void unlink_job(rk_scheduler *q, rk_job *job) {
  rk_job **p = &q->head, *prev = NULL;
  while (*p != job) {
    prev = *p;
    p = &(*p)->next;
  }
  *p = job->next;
  if (q->tail == job) q->tail = prev;
  q->queued--;
}

static void respond(rk_job *job, rk_status st, rk_serve_response *resp) {
  rk_loaded *l = job->l;
  job->done(job->ctx, st, st == RK_OK ? RK_SERVE_OK : rk_serve_error_code(st), resp);
  rk_loaded_release(l);
  rk_free(job);
}

/* The response of one request: its rows [begin, begin + rows) of the outputs it asked for (its
 * own rows, or its sessions when a session workflow regrouped them). */
static rk_status make_response(rk_job *job, const rk_batch *out, int64_t begin, int64_t rows, rk_serve_response *resp) {
  const rk_model_config *c = &job->l->config;
  const rk_serve_request *req = job->req;
  memset(resp, 0, sizeof *resp);
  int n = req->n_outputs > 0 ? req->n_outputs : c->n_output;
  resp->model_version = job->l->version;
  if (!(resp->model_name = rk_strdup(job->l->name))) return RK_ENOMEM;
  if (req->id && !(resp->id = rk_strdup(req->id))) return RK_ENOMEM;
  if (!(resp->outputs = rk_calloc((size_t)n + 1, sizeof *resp->outputs))) return RK_ENOMEM;
  for (int i = 0; i < n; i++) {
    const char *name = req->n_outputs > 0 ? req->outputs[i] : c->output[i].name;
    const rk_model_config_tensor *t = NULL;
    for (int k = 0; k < c->n_output && !t; k++)
      if (!strcmp(c->output[k].name, name)) t = &c->output[k];
    int j = rk_batch_find(out, name);
    if (!t || j < 0)
      return rk_serve_fail(RK_SERVE_INTERNAL, RK_EINTERNAL, "model '%s' computed no output '%s'", job->l->name, name);
    RK_TRY(rk_serve_column_tensor(&resp->outputs[i], &out->cols[j], begin, begin + rows, t, c->max_batch_size > 0));
    resp->n_outputs++;
  }
  return RK_OK;
}

static void run_batch(rk_scheduler *q, int worker, rk_job **jobs, int n) {
  rk_loaded *l = jobs[0]->l;
  uint64_t t0 = rk_serve_now_ns();
  const rk_serve_request *first = jobs[0]->req;
  rk_batch in = {0}, out = {0};
  int64_t rows = 0;
  int64_t *counts = rk_malloc((size_t)n * sizeof *counts);   /* each request's rows: in, then out */
  rk_status st = counts ? rk_batch_init(&in, first->n_inputs) : RK_ENOMEM;
  int ncols = 0;   /* a ragged pair is one list column, named as its values */
  for (int k = 0; k < n && st == RK_OK; k++) {
    ncols = 0;
    for (int i = 0; i < first->n_inputs && st == RK_OK; i++) {
      const char *name = first->inputs[i].name;
      if (rk_serve_is_ragged_offsets(&l->config, name)) continue;
      const rk_model_config_tensor *offsets = rk_serve_ragged_partner(&l->config, name);
      const rk_serve_request *r = jobs[k]->req;
      for (int j = 0; j < r->n_inputs && st == RK_OK; j++) {
        if (strcmp(r->inputs[j].name, name)) continue;
        if (!offsets) {
          st = rk_serve_append_tensor(&in.cols[ncols], &r->inputs[j]);
          continue;
        }
        for (int o = 0; o < r->n_inputs; o++)   /* there: the request was checked */
          if (!strcmp(r->inputs[o].name, offsets->name)) st = rk_serve_append_ragged(&in.cols[ncols], &r->inputs[j], &r->inputs[o]);
      }
      ncols++;
    }
    rows += jobs[k]->rows;
    counts[k] = jobs[k]->rows;
  }
  if (st == RK_OK) in.ncols = ncols;
  in.nrows = rows;
  uint64_t t1 = rk_serve_now_ns();
  if (st == RK_OK) st = rk_loaded_run(q->s, l, worker, n, counts, &in, &out);
  uint64_t t2 = rk_serve_now_ns();
  rk_batch_free(&in);
  if (st != RK_OK && n > 1) {
    /* One request spoiled the batch: each gets its own answer. */
    rk_error_clear();
    rk_serve_clear_code();
    rk_free(counts);
    for (int k = 0; k < n; k++) run_batch(q, worker, &jobs[k], 1);
    return;
  }
  rk_serve_response *resps = rk_calloc((size_t)n, sizeof *resps);
  rk_status *sts = rk_calloc((size_t)n, sizeof *sts);
  if (st == RK_OK && (!resps || !sts)) st = RK_ENOMEM;
  int64_t begin = 0;
  for (int k = 0; k < n && st == RK_OK; k++) {
    sts[k] = make_response(jobs[k], &out, begin, counts[k], &resps[k]);
    begin += counts[k];
  }
  rk_batch_free(&out);
  uint64_t t3 = rk_serve_now_ns();
  const uint64_t compute[3] = {t1 - t0, t2 - t1, t3 - t2};
  if (st == RK_OK) rk_stats_batch(l->stats, rows, compute[0], compute[1], compute[2]);
  for (int k = 0; k < n; k++) {
    rk_status sk = st != RK_OK ? st : sts[k];
    uint64_t end = rk_serve_now_ns();
    rk_stats_request(l->stats, sk == RK_OK, jobs[k]->rows, t0 - jobs[k]->arrival_ns, end - jobs[k]->arrival_ns, compute);
    if (sk != RK_OK && resps) rk_serve_response_free(&resps[k]);
    respond(jobs[k], sk, sk == RK_OK ? &resps[k] : NULL);
  }
  rk_free(resps);
  rk_free(sts);
  rk_free(counts);
}

static void *worker_main(void *arg) {
  worker_arg *wa = arg;
  rk_scheduler *q = wa->q;
  rk_job **members = rk_malloc(MAX_MEMBERS * sizeof *members);
  pthread_mutex_lock(&q->lock);
  while (members) {
    while (!q->head && !q->closing) pthread_cond_wait(&q->wake, &q->lock);
    if (!q->head) break;
    /* The oldest job whose batch is full enough or has waited long enough. */
    uint64_t now = rk_serve_now_ns(), wake_at = UINT64_MAX;
    int n = 0;
    for (rk_job *j = q->head; j && n == 0; j = j->next) {
      bool earlier = false;   /* a job of the same version ahead of j was already weighed */
      for (rk_job *e = q->head; e != j && !earlier; e = e->next) earlier = e->l == j->l;
      if (earlier) continue;
      int64_t rows;
      bool full;
      int k = batch_members(j, members, MAX_MEMBERS, &rows, &full);
      uint64_t deadline = j->arrival_ns + rk_scheduler_batch_wait_ns(j->l);
      int64_t target = j->l->preferred > 1 ? j->l->preferred : 1;
      if (target > j->l->max_batch && j->l->max_batch > 0) target = j->l->max_batch;
      if (rows >= target || full || now >= deadline || q->stopping) n = k;
      else if (deadline < wake_at) wake_at = deadline;
    }
    if (n == 0) {
      struct timespec ts;
      clock_gettime(CLOCK_MONOTONIC, &ts);
      uint64_t abs_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec + (wake_at - now);
      ts.tv_sec = (time_t)(abs_ns / 1000000000u);
      ts.tv_nsec = (long)(abs_ns % 1000000000u);
      pthread_cond_timedwait(&q->wake, &q->lock, &ts);
      continue;
    }
    for (int k = 0; k < n; k++) unlink_job(q, members[k]);
    q->running += n;
    pthread_mutex_unlock(&q->lock);
    run_batch(q, wa->index, members, n);
    pthread_mutex_lock(&q->lock);
    q->running -= n;
    pthread_cond_broadcast(&q->idle);
  }
  pthread_mutex_unlock(&q->lock);
  rk_free(members);
  return NULL;
}

rk_status rk_scheduler_open(rk_scheduler **out, rk_server *s, int workers) {
  *out = NULL;
  rk_scheduler *q = rk_calloc(1, sizeof *q);
  if (!q) return RK_ENOMEM;
  q->s = s;
  pthread_mutex_init(&q->lock, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&q->wake, &ca);
  pthread_condattr_destroy(&ca);
  pthread_cond_init(&q->idle, NULL);
  q->threads = rk_calloc((size_t)workers, sizeof *q->threads);
  q->args = rk_calloc((size_t)workers, sizeof *q->args);
  rk_status st = q->threads && q->args ? RK_OK : RK_ENOMEM;
  for (int i = 0; i < workers && st == RK_OK; i++) {
    q->args[i] = (worker_arg){q, i};
    if (pthread_create(&q->threads[i], NULL, worker_main, &q->args[i]) != 0)
      st = rk_error(RK_EINTERNAL, "cannot start inference worker %d of %d", i + 1, workers);
    else q->n_threads++;
  }
  if (st != RK_OK) {
    rk_scheduler_close(q);
    return st;
  }
  *out = q;
  return RK_OK;
}

rk_status rk_scheduler_submit(rk_scheduler *q, rk_loaded *l, const rk_serve_request *req, int64_t rows,
                              rk_serve_done_fn done, void *ctx) {
  rk_job *job = rk_calloc(1, sizeof *job);
  if (!job) return rk_serve_mark(RK_SERVE_INTERNAL, RK_ENOMEM);
  *job = (rk_job){l, req, rows, done, ctx, rk_serve_now_ns(), NULL};
  pthread_mutex_lock(&q->lock);
  if (q->stopping) {
    pthread_mutex_unlock(&q->lock);
    rk_free(job);
    return rk_serve_fail(RK_SERVE_UNAVAILABLE, RK_EIO, "the server is shutting down: model '%s' takes no new requests",
                         l->name);
  }
  rk_loaded_hold(l);
  rk_scheduler_note_arrival(l, job->arrival_ns);
  if (q->tail) q->tail->next = job;
  else q->head = job;
  q->tail = job;
  q->queued++;
  pthread_cond_signal(&q->wake);
  pthread_mutex_unlock(&q->lock);
  return RK_OK;
}

void rk_scheduler_drain(rk_scheduler *q, int64_t timeout_ms, int64_t *left) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  int64_t ns = ts.tv_nsec + (timeout_ms % 1000) * 1000000;
  ts.tv_sec += (time_t)(timeout_ms / 1000 + ns / 1000000000);
  ts.tv_nsec = (long)(ns % 1000000000);
  pthread_mutex_lock(&q->lock);
  q->stopping = true;
  pthread_cond_broadcast(&q->wake);   /* waiting batches run now */
  while (q->queued + q->running > 0) {
    if (timeout_ms < 0) pthread_cond_wait(&q->idle, &q->lock);
    else if (pthread_cond_timedwait(&q->idle, &q->lock, &ts) != 0) break;
  }
  *left = q->queued + q->running;
  pthread_mutex_unlock(&q->lock);
}

void rk_scheduler_close(rk_scheduler *q) {
  if (!q) return;
  pthread_mutex_lock(&q->lock);
  q->stopping = true;
  q->closing = true;
  pthread_cond_broadcast(&q->wake);
  pthread_mutex_unlock(&q->lock);
  /* Workers finish the queue before they exit (head is emptied before they see closing). */
  for (int i = 0; i < q->n_threads; i++) pthread_join(q->threads[i], NULL);
  pthread_mutex_destroy(&q->lock);
  pthread_cond_destroy(&q->wake);
  pthread_cond_destroy(&q->idle);
  rk_free(q->threads);
  rk_free(q->args);
  rk_free(q);
}
