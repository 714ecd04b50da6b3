/*
 * The work queue: items of uneven cost (a Parquet column chunk, a CSV block's chunk) on up to
 * nworkers threads, each worker taking the next item as it finishes one, so a large item and
 * many small ones balance across threads (static chunking, parallel.c, would leave a thread
 * idle). Every item writes only its own outputs, so the results never depend on the thread
 * count or on which worker ran an item; the worker index only selects per-worker scratch.
 * It is the one dynamic scheduler: the Parquet reader and writer and the CSV reader use it.
 * On failure the lowest failing item wins (the same error for 1 or 16 threads): items after a
 * failure are skipped, items before it still run.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "reckon/core.h"

typedef struct {
  int64_t item;      /* -1: none failed */
  rk_status status;
  char message[RK_ERROR_MAX];
} failure;

typedef struct {
  rk_item_fn fn;
  void *ctx;
  int64_t n;
  _Atomic int64_t next;
  _Atomic int64_t lowest_failed;   /* n when none */
  failure *fails;                  /* one per worker */
} queue;

int rk_parallel_workers(int64_t nitems) {
  int t = rk_num_threads();
  if (t < 1) t = 1;
  return nitems < t ? (nitems < 1 ? 1 : (int)nitems) : t;
}

static rk_status work(void *arg, int64_t worker, int64_t begin, int64_t end) {
  (void)begin, (void)end;
  queue *q = arg;
  failure *f = &q->fails[worker];
  for (;;) {
    int64_t i = atomic_fetch_add(&q->next, 1);
    if (i >= q->n || i > atomic_load(&q->lowest_failed)) break;
    rk_error_clear();
    rk_status s = q->fn(q->ctx, (int)worker, i);
    if (s == RK_OK) continue;
    f->item = i;
    f->status = s;
    snprintf(f->message, sizeof f->message, "%s", rk_error_status() == s ? rk_error_message() : rk_strerror(s));
    int64_t low = atomic_load(&q->lowest_failed);
    while (i < low && !atomic_compare_exchange_weak(&q->lowest_failed, &low, i)) {
    }
    break;   /* later items of this worker are all larger */
  }
  return RK_OK;
}

rk_status rk_parallel_items(int64_t nitems, int nworkers, rk_item_fn fn, void *ctx) {
  if (nitems <= 0) return RK_OK;
  if (nworkers <= 1) {   /* in order, on this thread */
    for (int64_t i = 0; i < nitems; i++) RK_TRY(fn(ctx, 0, i));
    return RK_OK;
  }
  queue q = {.fn = fn, .ctx = ctx, .n = nitems};
  atomic_init(&q.next, 0);
  atomic_init(&q.lowest_failed, nitems);
  q.fails = rk_malloc((size_t)nworkers * sizeof *q.fails);
  if (!q.fails) return RK_ENOMEM;
  for (int w = 0; w < nworkers; w++) q.fails[w].item = -1;
  rk_status s = rk_parallel_try(nworkers, 1, work, &q);
  const failure *first = NULL;
  for (int w = 0; w < nworkers && s == RK_OK; w++)
    if (q.fails[w].item >= 0 && (!first || q.fails[w].item < first->item)) first = &q.fails[w];
  if (first) s = rk_error(first->status, "%s", first->message);
  rk_free(q.fails);
  return s;
}
