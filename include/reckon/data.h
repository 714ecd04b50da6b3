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
 *
 * Streams (data-parallel training, docs/distributed.md): with n_streams S > 1 each epoch's row
 * groups, in the epoch's seeded order, are dealt to S streams, each next group to the stream
 * with the fewest rows so far (the lowest on a tie), and a loader reads only the groups of its
 * `stream`, with its own shuffle buffer. S loaders over streams 0..S-1 together deliver every
 * row once per epoch; the deal is a function of (seed, epoch, the groups' sizes), never of who
 * reads which stream, so piece k of every global batch holds the same rows on 1 rank or 4.
 * S = 1 is the plain loader.
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
  int64_t n_streams;                 /* default 1; row groups dealt to this many streams */
  int64_t stream;                    /* default 0; the stream this loader reads, in [0, n_streams) */
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
/* The started epoch's batches of its longest stream (every stream's count, not only this
 * loader's): the steps of a data-parallel epoch. With one stream, rk_loader_num_batches. */
int64_t rk_loader_epoch_batches(const rk_loader *loader);
/* Rows of the started epoch in this loader's stream. */
int64_t rk_loader_stream_rows(const rk_loader *loader);
/* The next batch of the epoch into `batch` (replaced; its buffers may be reused for later
 * batches, so nothing may point into it past the next call); nrows == 0 when the epoch is over. */
rk_status rk_loader_next(rk_loader *loader, rk_batch *batch);
void rk_loader_close(rk_loader *loader);

#ifdef __cplusplus
}
#endif
#endif /* RECKON_DATA_H */
