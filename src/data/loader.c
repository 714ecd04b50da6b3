/*
 * The training-data loader: row groups of Parquet files, shuffled per epoch, permuted inside a
 * buffer, cut into batches, read ahead by one background thread. The batch sequence is produced
 * by one function (produce) that the thread calls in a loop, or next() calls directly without
 * prefetch, so both give the same batches.
 * The files are a Parquet dataset's (its listing, natural order and column checks); rows are
 * copied twice after decoding: into the shuffle buffer, then by rk_batch_take into the batch,
 * whose buffers cycle between the read-ahead queue and the caller and so are reused.
 * With streams (reckon/data.h) the epoch's row-group order is dealt over them first and this
 * loader keeps only its stream's groups; everything after that is the same code.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reckon/data.h"
#include "reckon/parquet.h"

#define QUEUE 2

typedef struct {
  int file, group;
  int64_t rows;
} unit;

struct rk_loader {
  rk_loader_options o;
  char **columns;
  int nfiles;
  rk_parquet_reader **readers;
  unit *units;
  int nunits;
  int64_t total_rows;

  /* producer state for the current epoch */
  int64_t epoch;
  int64_t *order;        /* this epoch's units of this loader's stream, in reading order */
  int n_order;
  int64_t epoch_batches; /* the longest stream's batches this epoch */
  int64_t stream_rows;   /* rows of this loader's stream this epoch */
  int64_t *stream_load;  /* (n_streams) rows dealt so far, while dealing */
  int next_unit;
  rk_batch buf, spare;   /* the shuffle buffer; the next one is built in spare, then they swap */
  rk_batch unit_batch;   /* a row group as read, its buffers reused */
  int64_t *perm;
  int64_t perm_len, perm_pos;
  int64_t buffers;

  /* read-ahead */
  pthread_t thread;
  bool running, stop, done;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  rk_batch queue[QUEUE];
  int qhead, qn;
  rk_status status;
  char message[512];
};

void rk_loader_options_default(rk_loader_options *o) {
  memset(o, 0, sizeof *o);
  o->batch_size = 1024;
  o->shuffle = true;
  o->seed = 42;
  o->shuffle_buffer_rows = 262144;
  o->prefetch = true;
  o->n_streams = 1;
}

int64_t rk_loader_num_rows(const rk_loader *l) { return l->total_rows; }

static int64_t batches_of(const rk_loader *l, int64_t rows) {
  int64_t b = l->o.batch_size;
  return l->o.drop_last ? rows / b : (rows + b - 1) / b;
}

int64_t rk_loader_num_batches(const rk_loader *l) { return batches_of(l, l->total_rows); }
int64_t rk_loader_epoch_batches(const rk_loader *l) { return l->epoch_batches; }
int64_t rk_loader_stream_rows(const rk_loader *l) { return l->stream_rows; }

/* ---- opening ---- */

/* The dataset's files, in its natural order (checked to hold the same columns). */
static rk_status list_files(const char *path, const rk_parquet_read_options *po, char ***files, int *n) {
  *files = NULL;
  *n = 0;
  rk_parquet_dataset *ds;
  RK_TRY(rk_parquet_dataset_open(&ds, path, po));
  rk_status st = RK_OK;
  int count = rk_parquet_dataset_num_files(ds);
  if (!(*files = rk_calloc((size_t)count, sizeof **files))) st = RK_ENOMEM;
  for (int f = 0; st == RK_OK && f < count; f++, (*n)++)
    if (!((*files)[f] = rk_strdup(rk_parquet_dataset_file(ds, f)))) st = RK_ENOMEM;
  rk_parquet_dataset_close(ds);
  return st;
}

rk_status rk_loader_open(rk_loader **out, const rk_loader_options *o) {
  *out = NULL;
  if (o->batch_size < 1) return rk_error(RK_EINVAL, "loader: batch size must be at least 1, got %lld", (long long)o->batch_size);
  if (o->n_streams < 1 || o->stream < 0 || o->stream >= o->n_streams)
    return rk_error(RK_EINVAL, "loader: stream %lld of %lld does not exist", (long long)o->stream, (long long)o->n_streams);
  RK_TRY(rk_output_check_set(o->path));   /* train/ of one preprocess run beside eval/ of another: refused */
  rk_loader *l = rk_calloc(1, sizeof *l);
  if (!l) return RK_ENOMEM;
  l->o = *o;
  pthread_mutex_init(&l->mu, NULL);
  pthread_cond_init(&l->cv, NULL);
  rk_status st = RK_OK;
  if (o->columns) {
    if (!(l->columns = rk_calloc((size_t)o->ncolumns + 1, sizeof *l->columns))) st = RK_ENOMEM;
    for (int i = 0; st == RK_OK && i < o->ncolumns; i++)
      if (!(l->columns[i] = rk_strdup(o->columns[i]))) st = RK_ENOMEM;
    l->o.columns = (const char *const *)l->columns;
  }
  rk_parquet_read_options po;
  rk_parquet_read_options_default(&po);
  po.columns = l->o.columns;
  po.ncolumns = l->o.ncolumns;
  char **files = NULL;
  if (st == RK_OK) st = list_files(o->path, &po, &files, &l->nfiles);
  if (st == RK_OK && !(l->readers = rk_calloc((size_t)l->nfiles, sizeof *l->readers))) st = RK_ENOMEM;
  for (int f = 0; st == RK_OK && f < l->nfiles; f++) {
    st = rk_parquet_open(&l->readers[f], files[f], &po);
    int groups = st == RK_OK ? rk_parquet_num_row_groups(l->readers[f]) : 0;
    unit *g = st == RK_OK ? rk_realloc(l->units, (size_t)(l->nunits + groups + 1) * sizeof *g) : NULL;
    if (st == RK_OK && !g) st = RK_ENOMEM;
    for (int k = 0; st == RK_OK && k < groups; k++) {
      l->units = g;
      int64_t rows = rk_parquet_row_group_rows(l->readers[f], k);
      if (rows > 0) g[l->nunits++] = (unit){f, k, rows};
      l->total_rows += rows;
    }
    if (g) l->units = g;
  }
  for (int f = 0; f < l->nfiles && files; f++) rk_free(files[f]);
  rk_free(files);
  if (st == RK_OK && !(l->order = rk_malloc((size_t)(l->nunits + 1) * sizeof *l->order))) st = RK_ENOMEM;
  if (st == RK_OK && !(l->stream_load = rk_calloc((size_t)l->o.n_streams, sizeof *l->stream_load))) st = RK_ENOMEM;
  if (st == RK_OK) st = rk_loader_start_epoch(l, 0);
  if (st != RK_OK) {
    rk_loader_close(l);
    return st;
  }
  *out = l;
  return RK_OK;
}

/* ---- producing batches ---- */

static rk_status append_batch(rk_batch *dst, const rk_batch *src) {
  if (dst->ncols == 0) {
    RK_TRY(rk_batch_init(dst, src->ncols));
    for (int c = 0; c < src->ncols; c++) {
      const rk_column *s = &src->cols[c];
      RK_TRY(rk_column_init(&dst->cols[c], s->name, s->type, s->child ? s->child->type : RK_COL_INT64));
    }
  }
  for (int c = 0; c < src->ncols; c++) RK_TRY(rk_column_append_column(&dst->cols[c], &src->cols[c], 0, src->nrows));
  dst->nrows += src->nrows;
  return RK_OK;
}

/* Refill the buffer: the rows not yet delivered, then whole units until it holds enough. */
static rk_status refill(rk_loader *l) {
  int64_t want = l->o.shuffle ? l->o.shuffle_buffer_rows : l->o.batch_size;
  if (want < l->o.batch_size) want = l->o.batch_size;
  rk_batch *fresh = &l->spare;
  int64_t left = l->perm_len - l->perm_pos;
  rk_status st = rk_batch_take(fresh, &l->buf, left > 0 ? l->perm + l->perm_pos : NULL, left);
  while (st == RK_OK && l->next_unit < l->n_order && fresh->nrows < want) {
    const unit *u = &l->units[l->order[l->next_unit++]];
    st = rk_parquet_read_row_group(l->readers[u->file], u->group, &l->unit_batch);
    if (st == RK_OK) st = append_batch(fresh, &l->unit_batch);
  }
  if (st != RK_OK) return st;
  rk_batch t = l->buf;
  l->buf = *fresh;
  *fresh = t;
  int64_t n = l->buf.nrows;
  int64_t *perm = rk_realloc(l->perm, (size_t)(n ? n : 1) * sizeof *perm);
  if (!perm) return RK_ENOMEM;
  l->perm = perm;
  rk_rng rng;
  rk_rng_init(&rng, l->o.seed, ((uint64_t)l->epoch << 32) | (uint64_t)(l->buffers + 1));
  if (l->o.shuffle) rk_rng_permutation(&rng, perm, n);
  else for (int64_t i = 0; i < n; i++) perm[i] = i;
  l->buffers++;
  l->perm_len = n;
  l->perm_pos = 0;
  return RK_OK;
}

/* The epoch's next batch (nrows 0 at its end). */
static rk_status produce(rk_loader *l, rk_batch *out) {
  for (;;) {
    int64_t left = l->perm_len - l->perm_pos;
    bool more_units = l->next_unit < l->n_order;
    if (left >= l->o.batch_size || (left > 0 && !more_units)) {
      int64_t k = left < l->o.batch_size ? left : l->o.batch_size;
      if (k < l->o.batch_size && l->o.drop_last) {
        l->perm_pos = l->perm_len;
        continue;
      }
      RK_TRY(rk_batch_take(out, &l->buf, l->perm + l->perm_pos, k));
      l->perm_pos += k;
      return RK_OK;
    }
    if (!more_units) {
      rk_batch_clear(out);
      return RK_OK;   /* nrows 0: the epoch is over */
    }
    RK_TRY(refill(l));
  }
}

/* ---- read-ahead ---- */

/* Fills the free queue slot, the one after the queued batches: the consumer takes from the head
 * only, so the slot stays the producer's until it is queued. */
static void *producer(void *arg) {
  rk_loader *l = arg;
  for (;;) {
    pthread_mutex_lock(&l->mu);
    while (l->qn == QUEUE && !l->stop) pthread_cond_wait(&l->cv, &l->mu);
    bool stop = l->stop;
    rk_batch *b = &l->queue[(l->qhead + l->qn) % QUEUE];
    pthread_mutex_unlock(&l->mu);
    if (stop) break;
    rk_status st = produce(l, b);
    pthread_mutex_lock(&l->mu);
    if (st != RK_OK) {
      l->status = st;
      snprintf(l->message, sizeof l->message, "%s", rk_error_message());
    }
    if (st == RK_OK && b->nrows > 0) l->qn++;
    else l->done = true;
    pthread_cond_broadcast(&l->cv);
    bool finished = l->done;
    pthread_mutex_unlock(&l->mu);
    if (finished) break;
  }
  return NULL;
}

static void stop_producer(rk_loader *l) {
  if (!l->running) return;
  pthread_mutex_lock(&l->mu);
  l->stop = true;
  pthread_cond_broadcast(&l->cv);
  pthread_mutex_unlock(&l->mu);
  pthread_join(l->thread, NULL);
  l->running = false;
  l->qn = 0;   /* batches not taken are dropped; their buffers stay for the next epoch */
}

/* The epoch's order (all units) dealt to the streams, each unit to the stream with the fewest
 * rows so far; this loader keeps its stream's units, in order. One stream keeps them all. */
static void deal_streams(rk_loader *l) {
  int64_t S = l->o.n_streams, longest = 0;
  memset(l->stream_load, 0, (size_t)S * sizeof *l->stream_load);
  l->n_order = 0;
  for (int i = 0; i < l->nunits; i++) {
    int64_t unit_index = l->order[i], s = 0;
    for (int64_t k = 1; k < S; k++)
      if (l->stream_load[k] < l->stream_load[s]) s = k;
    l->stream_load[s] += l->units[unit_index].rows;
    if (s == l->o.stream) l->order[l->n_order++] = unit_index;   /* never ahead of i: in place */
  }
  for (int64_t k = 0; k < S; k++)
    if (batches_of(l, l->stream_load[k]) > longest) longest = batches_of(l, l->stream_load[k]);
  l->epoch_batches = longest;
  l->stream_rows = l->stream_load[l->o.stream];
}

rk_status rk_loader_start_epoch(rk_loader *l, int64_t epoch) {
  stop_producer(l);
  l->epoch = epoch;
  l->stop = l->done = false;
  l->status = RK_OK;
  l->qhead = l->qn = 0;
  l->next_unit = 0;
  l->perm_len = l->perm_pos = 0;
  l->buffers = 0;
  rk_batch_clear(&l->buf);
  rk_rng rng;
  rk_rng_init(&rng, l->o.seed, (uint64_t)epoch << 32);
  if (l->o.shuffle) rk_rng_permutation(&rng, l->order, l->nunits);
  else for (int i = 0; i < l->nunits; i++) l->order[i] = i;
  deal_streams(l);
  if (!l->o.prefetch) return RK_OK;
  if (pthread_create(&l->thread, NULL, producer, l) != 0) return rk_error(RK_EINTERNAL, "loader: cannot start its read-ahead thread");
  l->running = true;
  return RK_OK;
}

rk_status rk_loader_next(rk_loader *l, rk_batch *batch) {
  if (!l->o.prefetch) return produce(l, batch);
  pthread_mutex_lock(&l->mu);
  while (l->qn == 0 && !l->done) pthread_cond_wait(&l->cv, &l->mu);
  rk_status st = RK_OK;
  if (l->qn > 0) {   /* swap: the caller's old buffers become the producer's to fill */
    rk_batch t = *batch;
    *batch = l->queue[l->qhead];
    l->queue[l->qhead] = t;
    l->qhead = (l->qhead + 1) % QUEUE;
    l->qn--;
    pthread_cond_broadcast(&l->cv);
  } else {
    rk_batch_free(batch);
    if (l->status != RK_OK) st = rk_error(l->status, "%s", l->message);
  }
  pthread_mutex_unlock(&l->mu);
  return st;
}

void rk_loader_close(rk_loader *l) {
  if (!l) return;
  stop_producer(l);
  for (int f = 0; f < l->nfiles && l->readers; f++)
    if (l->readers[f]) rk_parquet_close(l->readers[f]);
  rk_free(l->readers);
  rk_free(l->units);
  rk_free(l->order);
  rk_free(l->stream_load);
  rk_free(l->perm);
  rk_batch_free(&l->buf);
  rk_batch_free(&l->spare);
  rk_batch_free(&l->unit_batch);
  for (int i = 0; i < QUEUE; i++) rk_batch_free(&l->queue[i]);
  for (int i = 0; l->columns && i < l->o.ncolumns; i++) rk_free(l->columns[i]);
  rk_free(l->columns);
  pthread_mutex_destroy(&l->mu);
  pthread_cond_destroy(&l->cv);
  rk_free(l);
}
