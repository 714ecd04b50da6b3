/*
 * The training-data loader: row groups of Parquet files, shuffled per epoch, permuted inside a
 * buffer, cut into batches, read ahead by one background thread. The batch sequence is produced
 * by one function (produce) that the thread calls in a loop, or next() calls directly without
 * prefetch, so both give the same batches.
 */
#include <dirent.h>
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
  int *order;
  int next_unit;
  rk_batch buf;
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
}

int64_t rk_loader_num_rows(const rk_loader *l) { return l->total_rows; }

int64_t rk_loader_num_batches(const rk_loader *l) {
  int64_t b = l->o.batch_size;
  return l->o.drop_last ? l->total_rows / b : (l->total_rows + b - 1) / b;
}

/* ---- opening ---- */

static int natural_cmp(const void *a, const void *b) {
  const char *x = *(char *const *)a, *y = *(char *const *)b;
  while (*x && *y) {
    if (*x >= '0' && *x <= '9' && *y >= '0' && *y <= '9') {
      unsigned long long u = strtoull(x, (char **)&x, 10), v = strtoull(y, (char **)&y, 10);
      if (u != v) return u < v ? -1 : 1;
      continue;
    }
    if (*x != *y) return (unsigned char)*x - (unsigned char)*y;
    x++, y++;
  }
  return (unsigned char)*x - (unsigned char)*y;
}

static rk_status list_files(const char *path, char ***files, int *n) {
  *files = NULL;
  *n = 0;
  DIR *d = opendir(path);
  if (!d) {
    *files = rk_malloc(sizeof **files);
    if (!*files || !((*files)[0] = rk_strdup(path))) return RK_ENOMEM;
    *n = 1;
    return RK_OK;
  }
  rk_status st = RK_OK;
  for (struct dirent *e; st == RK_OK && (e = readdir(d));) {
    size_t len = strlen(e->d_name);
    if (len < 8 || strcmp(e->d_name + len - 8, ".parquet") != 0 || e->d_name[0] == '.') continue;
    char **g = rk_realloc(*files, (size_t)(*n + 1) * sizeof *g);
    char *full = rk_malloc(strlen(path) + len + 2);
    if (!g || !full) {
      if (g) *files = g;
      rk_free(full);
      st = RK_ENOMEM;
      break;
    }
    *files = g;
    sprintf(full, "%s/%s", path, e->d_name);
    g[(*n)++] = full;
  }
  closedir(d);
  if (st == RK_OK && *n == 0) st = rk_error(RK_ENOTFOUND, "folder '%s' holds no .parquet files", path);
  if (st == RK_OK) qsort(*files, (size_t)*n, sizeof **files, natural_cmp);
  return st;
}

rk_status rk_loader_open(rk_loader **out, const rk_loader_options *o) {
  *out = NULL;
  if (o->batch_size < 1) return rk_error(RK_EINVAL, "loader: batch size must be at least 1, got %lld", (long long)o->batch_size);
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
  char **files = NULL;
  if (st == RK_OK) st = list_files(o->path, &files, &l->nfiles);
  if (st == RK_OK && !(l->readers = rk_calloc((size_t)l->nfiles, sizeof *l->readers))) st = RK_ENOMEM;
  rk_parquet_read_options po;
  rk_parquet_read_options_default(&po);
  po.columns = l->o.columns;
  po.ncolumns = l->o.ncolumns;
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
  if (st == RK_OK) st = rk_loader_start_epoch(l, 0);
  if (st != RK_OK) {
    rk_loader_close(l);
    return st;
  }
  *out = l;
  return RK_OK;
}

/* ---- producing batches ---- */

/* dst = the rows idx[0..n) of src, in that order. */
static rk_status take_rows(rk_batch *dst, const rk_batch *src, const int64_t *idx, int64_t n) {
  rk_batch_free(dst);
  RK_TRY(rk_batch_init(dst, src->ncols));
  for (int c = 0; c < src->ncols; c++) {
    const rk_column *s = &src->cols[c];
    RK_TRY(rk_column_init(&dst->cols[c], s->name, s->type, s->child ? s->child->type : RK_COL_INT64));
    RK_TRY(rk_column_reserve(&dst->cols[c], n, 0));
    for (int64_t i = 0; i < n; i++) RK_TRY(rk_column_append_column(&dst->cols[c], s, idx[i], idx[i] + 1));
  }
  dst->nrows = n;
  return RK_OK;
}

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
  rk_batch fresh = {0}, unit_batch = {0};
  rk_status st = RK_OK;
  if (l->perm_pos < l->perm_len) st = take_rows(&fresh, &l->buf, l->perm + l->perm_pos, l->perm_len - l->perm_pos);
  while (st == RK_OK && l->next_unit < l->nunits && fresh.nrows < want) {
    const unit *u = &l->units[l->order[l->next_unit++]];
    st = rk_parquet_read_row_group(l->readers[u->file], u->group, &unit_batch);
    if (st == RK_OK) st = append_batch(&fresh, &unit_batch);
  }
  rk_batch_free(&unit_batch);
  if (st != RK_OK) {
    rk_batch_free(&fresh);
    return st;
  }
  rk_batch_free(&l->buf);
  l->buf = fresh;
  int64_t n = l->buf.nrows;
  int64_t *perm = rk_realloc(l->perm, (size_t)(n ? n : 1) * sizeof *perm);
  if (!perm) return RK_ENOMEM;
  l->perm = perm;
  for (int64_t i = 0; i < n; i++) perm[i] = i;
  if (l->o.shuffle && n > 1) {
    rk_rng rng;
    rk_rng_init(&rng, l->o.seed, ((uint64_t)l->epoch << 32) | (uint64_t)(l->buffers + 1));
    for (int64_t i = n - 1; i > 0; i--) {   /* Fisher-Yates */
      int64_t j = (int64_t)rk_rng_below(&rng, (uint64_t)i + 1), t = perm[i];
      perm[i] = perm[j];
      perm[j] = t;
    }
  }
  l->buffers++;
  l->perm_len = n;
  l->perm_pos = 0;
  return RK_OK;
}

/* The epoch's next batch (nrows 0 at its end). */
static rk_status produce(rk_loader *l, rk_batch *out) {
  for (;;) {
    int64_t left = l->perm_len - l->perm_pos;
    bool more_units = l->next_unit < l->nunits;
    if (left >= l->o.batch_size || (left > 0 && !more_units)) {
      int64_t k = left < l->o.batch_size ? left : l->o.batch_size;
      if (k < l->o.batch_size && l->o.drop_last) {
        l->perm_pos = l->perm_len;
        continue;
      }
      RK_TRY(take_rows(out, &l->buf, l->perm + l->perm_pos, k));
      l->perm_pos += k;
      return RK_OK;
    }
    if (!more_units) {
      rk_batch_free(out);
      return RK_OK;   /* nrows 0: the epoch is over */
    }
    RK_TRY(refill(l));
  }
}

/* ---- read-ahead ---- */

static void *producer(void *arg) {
  rk_loader *l = arg;
  for (;;) {
    pthread_mutex_lock(&l->mu);
    while (l->qn == QUEUE && !l->stop) pthread_cond_wait(&l->cv, &l->mu);
    bool stop = l->stop;
    pthread_mutex_unlock(&l->mu);
    if (stop) break;
    rk_batch b = {0};
    rk_status st = produce(l, &b);
    pthread_mutex_lock(&l->mu);
    if (st != RK_OK) {
      l->status = st;
      snprintf(l->message, sizeof l->message, "%s", rk_error_message());
    }
    if (st == RK_OK && b.nrows > 0) {
      l->queue[(l->qhead + l->qn) % QUEUE] = b;
      l->qn++;
    } else {
      rk_batch_free(&b);
      l->done = true;
    }
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
  for (; l->qn > 0; l->qn--, l->qhead = (l->qhead + 1) % QUEUE) rk_batch_free(&l->queue[l->qhead]);
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
  rk_batch_free(&l->buf);
  for (int i = 0; i < l->nunits; i++) l->order[i] = i;
  if (l->o.shuffle && l->nunits > 1) {
    rk_rng rng;
    rk_rng_init(&rng, l->o.seed, (uint64_t)epoch << 32);
    for (int i = l->nunits - 1; i > 0; i--) {
      int j = (int)rk_rng_below(&rng, (uint64_t)i + 1), t = l->order[i];
      l->order[i] = l->order[j];
      l->order[j] = t;
    }
  }
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
  if (l->qn > 0) {
    rk_batch_free(batch);
    *batch = l->queue[l->qhead];
    memset(&l->queue[l->qhead], 0, sizeof l->queue[l->qhead]);
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
  rk_free(l->perm);
  rk_batch_free(&l->buf);
  for (int i = 0; l->columns && i < l->o.ncolumns; i++) rk_free(l->columns[i]);
  rk_free(l->columns);
  pthread_mutex_destroy(&l->mu);
  pthread_cond_destroy(&l->cv);
  rk_free(l);
}
