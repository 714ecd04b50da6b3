/*
 * The Parquet reader's and writer's work items (column chunks) run on core's work queue
 * (src/core/work_queue.c, rk_parallel_items); these names are kept for their call sites.
 */
#include "io/parquet/parquet_internal.h"

int rk_pq_workers(int64_t nitems) { return rk_parallel_workers(nitems); }

rk_status rk_pq_run_items(int64_t nitems, int nworkers, rk_pq_item_fn fn, void *ctx) {
  return rk_parallel_items(nitems, nworkers, fn, ctx);
}
