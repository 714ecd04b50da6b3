/*
 * reckon/data.h: streaming training batches from a folder of Parquet files.
 *
 * The loader reads row groups ("units") of a Parquet dataset's files (rk_parquet_dataset: natural
 * order, checked at open to hold the same columns), in a seeded random order per epoch when
 * shuffling, into a buffer of at least `shuffle_buffer_rows` rows whose rows are then permuted
 * (seeded by (seed, epoch, buffer)) and cut into batches. Every row is delivered exactly
 * once per epoch; the last batch may be short (unless drop_last). A background thread reads and
 * assembles the next batches while the caller trains on the current one; the sequence of batches
 * is the same with or without it, and for any thread count.
 */
#ifndef RECKON_DATA_H
#define RECKON_DATA_H

#include "reckon/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  const char *path;                  /* a .parquet file or a folder of them */
  const char *const *columns;        /* projection, order kept; NULL = every column */
  int ncolumns;
  int64_t batch_size;                /* default 1024 */
  bool shuffle;                      /* default true */
  uint64_t seed;                     /* default 42 */
  int64_t shuffle_buffer_rows;       /* default 262144; rows permuted together */
  bool drop_last;                    /* default false: the last short batch is delivered */
  bool prefetch;                     /* default true: a background thread reads ahead */
} rk_loader_options;

void rk_loader_options_default(rk_loader_options *o);

typedef struct rk_loader rk_loader;

/* Opens every file's footer; errors name the file. */
rk_status rk_loader_open(rk_loader **loader, const rk_loader_options *o);
int64_t rk_loader_num_rows(const rk_loader *loader);
/* Batches per epoch (the short one counts unless drop_last). */
int64_t rk_loader_num_batches(const rk_loader *loader);
/* Starts epoch `epoch` (0, 1, ...): its order comes from (seed, epoch). */
rk_status rk_loader_start_epoch(rk_loader *loader, int64_t epoch);
/* The next batch of the epoch into `batch` (replaced; its buffers may be reused for later
 * batches, so nothing may point into it past the next call); nrows == 0 when the epoch is over. */
rk_status rk_loader_next(rk_loader *loader, rk_batch *batch);
void rk_loader_close(rk_loader *loader);

#ifdef __cplusplus
}
#endif
#endif /* RECKON_DATA_H */
