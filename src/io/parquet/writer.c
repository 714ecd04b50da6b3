/*
 * Parquet file writer and the Parquet table sink: buffers rows into row groups (row and byte
 * limits), encodes each row group's columns in parallel (chunk_write.c; deterministic, since
 * every column goes to its own buffer and the buffers are written in column order), then
 * writes the footer with key-value metadata and created_by = "reckon version X". It is not
 * the page encoding (chunk_write.c) nor the footer's wire format (metadata.c).
 *
 * Follows apache/parquet-format README.md ("File Format"): "PAR1", column chunks, FileMetaData,
 * its 4-byte little-endian length, "PAR1". Output goes to "<path>.tmp.<pid>.<n>" and is renamed
 * into place by close, so a failed or aborted write never leaves a half file under the name.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "io/parquet/parquet_internal.h"

struct rk_parquet_writer {
  rk_table_sink sink;          /* first: the table-sink interface */
  char *path, *tmp;
  int fd;
  rk_pq_write_config cfg;
  int64_t rg_rows_limit, rg_bytes_limit;
  rk_batch rows;               /* buffered rows of the current row group */
  bool have_schema;
  int64_t offset;              /* bytes written so far */
  int nrg, cap_rg;
  rk_pq_out_chunk *chunks;     /* nrg * ncols */
  int64_t *rg_rows, *rg_bytes;
  int nkv;
  rk_pq_kv *kv;
  rk_status failed;            /* sticky: a failed write makes close fail */
  int nworkers;                /* kept from row group to row group, allocated on this thread: */
  rk_pq_encode_scratch *scratch;
  rk_parquet_buf *bufs;        /* one per column: the encoded chunk */
  bool last_batch;             /* rk_parquet_write: no batch follows, so a short tail is a row group */
};

static _Atomic int tmp_counter = 0;

void rk_parquet_write_options_default(rk_parquet_write_options *o) {
  memset(o, 0, sizeof *o);
  o->compression = "snappy";
  o->row_group_rows = 1 << 20;
  o->row_group_bytes = (int64_t)128 << 20;
  o->page_bytes = 1 << 20;
  o->dictionary = true;
  o->dictionary_page_bytes = 1 << 20;
  o->statistics = true;
  o->page_checksums = true;
}

static rk_status write_all(rk_parquet_writer *w, const void *data, size_t n) {
  const char *p = data;
  while (n > 0) {
    ssize_t got = write(w->fd, p, n);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return rk_error(RK_EIO, "cannot write '%s': %s", w->path, strerror(errno));
    p += got;
    n -= (size_t)got;
    w->offset += got;
  }
  return RK_OK;
}

static void free_writer(rk_parquet_writer *w) {
  if (w->fd >= 0) close(w->fd);
  for (int i = 0; i < w->nworkers; i++) rk_pq_encode_scratch_free(&w->scratch[i]);
  rk_free(w->scratch);
  for (int c = 0; w->bufs && c < w->rows.ncols; c++) rk_parquet_buf_free(&w->bufs[c]);
  rk_free(w->bufs);
  for (int64_t i = 0; w->chunks && i < (int64_t)w->nrg * w->rows.ncols; i++) {
    rk_free(w->chunks[i].min_owned);
    rk_free(w->chunks[i].max_owned);
  }
  rk_batch_free(&w->rows);
  rk_free(w->chunks);
  rk_free(w->rg_rows);
  rk_free(w->rg_bytes);
  for (int i = 0; i < w->nkv; i++) {
    rk_free((char *)w->kv[i].key);
    rk_free((char *)w->kv[i].value);
  }
  rk_free(w->kv);
  rk_free(w->path);
  rk_free(w->tmp);
  rk_free(w);
}

void rk_parquet_writer_abort(rk_parquet_writer *w) {
  if (!w) return;
  if (w->fd >= 0) {
    close(w->fd);
    w->fd = -1;
  }
  if (w->tmp) unlink(w->tmp);
  free_writer(w);
}

static rk_status sink_write(rk_table_sink *sink, const rk_batch *batch) {
  return rk_parquet_writer_write((rk_parquet_writer *)sink, batch);
}
static rk_status sink_close(rk_table_sink *sink) { return rk_parquet_writer_close((rk_parquet_writer *)sink); }
static void sink_abort(rk_table_sink *sink) { rk_parquet_writer_abort((rk_parquet_writer *)sink); }

static rk_status setup(rk_parquet_writer *w, const char *path, const rk_parquet_write_options *o) {
  int codec;
  RK_TRY(rk_pq_codec_parse(o->compression, &codec));
  w->cfg.codec = codec;
  w->cfg.level = o->compression_level;
  w->cfg.dictionary = o->dictionary;
  w->cfg.page_v2 = o->data_page_v2;
  w->cfg.statistics = o->statistics;
  w->cfg.page_checksums = o->page_checksums;
  w->cfg.page_bytes = o->page_bytes > 0 ? o->page_bytes : 1 << 20;
  w->cfg.dictionary_bytes = o->dictionary_page_bytes > 0 ? o->dictionary_page_bytes : 1 << 20;
  w->rg_rows_limit = o->row_group_rows > 0 ? o->row_group_rows : 1 << 20;
  w->rg_bytes_limit = o->row_group_bytes > 0 ? o->row_group_bytes : (int64_t)128 << 20;
  if (o->nmetadata > 0) {
    w->kv = rk_calloc((size_t)o->nmetadata, sizeof *w->kv);
    if (!w->kv) return RK_ENOMEM;
    for (int i = 0; i < o->nmetadata; i++) {
      w->nkv = i + 1;
      if (!o->metadata_keys[i]) return rk_error(RK_EINVAL, "metadata key %d is NULL", i);
      if (!(w->kv[i].key = rk_strdup(o->metadata_keys[i]))) return RK_ENOMEM;
      if (o->metadata_values && o->metadata_values[i] && !(w->kv[i].value = rk_strdup(o->metadata_values[i]))) return RK_ENOMEM;
    }
  }
  if (!(w->path = rk_strdup(path))) return RK_ENOMEM;
  size_t n = strlen(path) + 48;
  if (!(w->tmp = rk_malloc(n))) return RK_ENOMEM;
  snprintf(w->tmp, n, "%s.tmp.%ld.%d", path, (long)getpid(), atomic_fetch_add(&tmp_counter, 1));
  w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (w->fd < 0) return rk_error(RK_EIO, "cannot create '%s': %s", w->tmp, strerror(errno));
  return write_all(w, "PAR1", 4);
}

rk_status rk_parquet_writer_open(rk_parquet_writer **out, const char *path, const rk_parquet_write_options *opts) {
  *out = NULL;
  rk_parquet_write_options defaults;
  if (!opts) {
    rk_parquet_write_options_default(&defaults);
    opts = &defaults;
  }
  rk_parquet_writer *w = rk_calloc(1, sizeof *w);
  if (!w) return RK_ENOMEM;
  w->fd = -1;
  w->sink.write = sink_write;
  w->sink.close = sink_close;
  w->sink.abort = sink_abort;
  rk_status s = setup(w, path, opts);
  if (s != RK_OK) {
    rk_parquet_writer_abort(w);
    return s;
  }
  *out = w;
  return RK_OK;
}

static rk_status take_schema(rk_parquet_writer *w, const rk_batch *b) {
  RK_TRY(rk_batch_init(&w->rows, b->ncols));
  rk_name_index seen;   /* duplicates found in one pass, not a pass per column */
  rk_name_index_init(&seen);
  rk_status st = RK_OK;
  for (int c = 0; c < b->ncols && st == RK_OK; c++) {
    const rk_column *col = &b->cols[c];
    int twice = -1;
    if (!col->name || !*col->name) st = rk_error(RK_EINVAL, "cannot write '%s': column %d has no name", w->path, c);
    if (st == RK_OK && rk_utf8_valid_prefix(col->name, strlen(col->name)) != strlen(col->name))
      st = rk_error(RK_EINVAL, "cannot write '%s': the name of column %d is not valid UTF-8", w->path, c + 1);
    if (st == RK_OK) st = rk_name_index_put(&seen, col->name, c, &twice);
    if (st == RK_OK && twice >= 0)
      st = rk_error(RK_EINVAL, "cannot write '%s': column '%s' appears twice", w->path, col->name);
    if (st == RK_OK)
      st = rk_column_init(&w->rows.cols[c], col->name, col->type, col->child ? col->child->type : RK_COL_INT64);
  }
  rk_name_index_free(&seen);
  RK_TRY(st);
  w->have_schema = true;
  return RK_OK;
}

typedef struct {
  rk_parquet_writer *w;
  const rk_column *cols;
  rk_pq_out_chunk *metas;
} flush_job;

static rk_status encode_one(void *ctx, int worker, int64_t c) {
  flush_job *j = ctx;
  const rk_column *col = &j->cols[c];
  rk_status s = rk_pq_chunk_encode(&j->w->bufs[c], &j->metas[c], col, &j->w->cfg, 0, &j->w->scratch[worker]);
  if (s != RK_OK) return rk_error_context(s, "cannot write '%s': column '%s'", j->w->path, col->name);
  return RK_OK;
}

static int64_t column_bytes(const rk_column *col, int64_t rows) {
  const rk_column *leaf = col->type == RK_COL_LIST ? col->child : col;
  int64_t n = col->type == RK_COL_LIST ? rows * 8 : 0;
  int64_t values = col->type == RK_COL_LIST ? col->offsets[rows] - col->offsets[0] : rows;
  if (leaf->type == RK_COL_STRING) {
    int64_t b0 = col->type == RK_COL_LIST ? col->offsets[0] : 0;
    return n + leaf->offsets[b0 + values] - leaf->offsets[b0] + values * 4;
  }
  return n + values * (int64_t)rk_coltype_width(leaf->type);
}

static int64_t buffered_bytes(const rk_batch *b) {
  int64_t n = 0;
  for (int c = 0; c < b->ncols; c++) n += column_bytes(&b->cols[c], b->cols[c].length);
  return n;
}

/* Buffers for encoding nrows rows, made (or grown) here on the caller's thread (see
 * rk_pq_encode_scratch), so the workers allocate nothing in the common case. */
static rk_status reserve_buffers(rk_parquet_writer *w, const rk_column *cols, int n, int64_t nrows, int workers) {
  if (!w->bufs && !(w->bufs = rk_calloc((size_t)(n ? n : 1), sizeof *w->bufs))) return RK_ENOMEM;
  if (workers > w->nworkers) {
    rk_pq_encode_scratch *sc = rk_realloc(w->scratch, (size_t)workers * sizeof *sc);
    if (!sc) return RK_ENOMEM;
    memset(sc + w->nworkers, 0, (size_t)(workers - w->nworkers) * sizeof *sc);
    w->scratch = sc;
    w->nworkers = workers;
  }
  int64_t leaf_rows = nrows;
  for (int c = 0; c < n; c++) {
    const rk_column *col = &cols[c];
    if (col->type == RK_COL_LIST && col->offsets[nrows] - col->offsets[0] > leaf_rows) leaf_rows = col->offsets[nrows] - col->offsets[0];
    w->bufs[c].len = 0;
    w->bufs[c].failed = false;
    /* PLAIN widens small integers to 4 bytes; snappy may add a sixth */
    size_t w4 = col->type == RK_COL_STRING || col->type == RK_COL_LIST || rk_coltype_width(col->type) >= 4 ? 1 : 4 / rk_coltype_width(col->type);
    if (!rk_parquet_buf_reserve(&w->bufs[c], (size_t)column_bytes(col, nrows) * w4 * 7 / 6 + 65536)) return RK_ENOMEM;
  }
  for (int i = 0; i < workers; i++) RK_TRY(rk_pq_encode_scratch_reserve(&w->scratch[i], leaf_rows, &w->cfg));
  return RK_OK;
}

/* Encode nrows rows of cols (the buffered rows, or a slice of the caller's batch) as a row
 * group and write it. */
static rk_status write_row_group(rk_parquet_writer *w, const rk_column *cols, int64_t nrows) {
  int n = w->rows.ncols;
  if (nrows == 0) return RK_OK;
  if (w->nrg == w->cap_rg) {
    int cap = w->cap_rg ? w->cap_rg * 2 : 8;
    rk_pq_out_chunk *ch = rk_realloc(w->chunks, (size_t)cap * (size_t)(n ? n : 1) * sizeof *ch);
    if (!ch) return RK_ENOMEM;
    w->chunks = ch;
    int64_t *a = rk_realloc(w->rg_rows, (size_t)cap * sizeof *a);
    if (!a) return RK_ENOMEM;
    w->rg_rows = a;
    int64_t *b = rk_realloc(w->rg_bytes, (size_t)cap * sizeof *b);
    if (!b) return RK_ENOMEM;
    w->rg_bytes = b;
    w->cap_rg = cap;
  }
  rk_pq_out_chunk *metas = &w->chunks[(size_t)w->nrg * (size_t)n];
  memset(metas, 0, (size_t)n * sizeof *metas);
  w->nrg++;   /* counted now so close/abort free the statistics of a half-written group */
  w->rg_rows[w->nrg - 1] = nrows;
  w->rg_bytes[w->nrg - 1] = 0;
  int workers = rk_parallel_workers(n);
  RK_TRY(reserve_buffers(w, cols, n, nrows, workers));
  flush_job j = {w, cols, metas};
  rk_status s = rk_parallel_items(n, workers, encode_one, &j);
  int64_t total = 0;
  for (int c = 0; c < n && s == RK_OK; c++) {
    rk_pq_out_chunk *m = &metas[c];
    int64_t base = w->offset;
    m->data_page_offset += base;
    if (m->dictionary_page_offset >= 0) m->dictionary_page_offset += base;
    total += m->total_uncompressed;
    s = write_all(w, w->bufs[c].data, w->bufs[c].len);
  }
  w->rg_bytes[w->nrg - 1] = total;
  return s;
}

static rk_status flush(rk_parquet_writer *w) {
  rk_status s = write_row_group(w, w->rows.cols, w->rows.nrows);
  rk_batch_clear(&w->rows);
  return s;
}

/* Rows [at, at + n) of a flat column as a column of its own, sharing the bytes (at % 8 == 0,
 * so the validity bitmap starts at a byte). */
static void column_view(rk_column *view, const rk_column *col, int64_t at, int64_t n) {
  *view = *col;
  view->length = n;
  view->cap_rows = n;
  view->null_count = 0;
  if (col->validity) {
    view->validity = col->validity + at / 8;
    for (int64_t i = 0; i < n; i++) view->null_count += !(view->validity[i >> 3] >> (i & 7) & 1);
  }
  if (col->type == RK_COL_STRING) view->offsets = col->offsets + at;
  else view->values = (char *)col->values + (size_t)at * rk_coltype_width(col->type);
}

/* A whole row group straight from the caller's batch, without copying it into the buffer:
 * when nothing is buffered, a full row group's rows remain (or the tail of the last batch),
 * and the columns are flat. Writes the same row groups as buffering would. *done: rows
 * written (0: not taken). */
static rk_status write_direct(rk_parquet_writer *w, const rk_batch *b, int64_t at, int64_t *done) {
  *done = 0;
  int64_t take = w->rg_rows_limit;
  if (w->last_batch && b->nrows - at < take) take = b->nrows - at;
  if (w->rows.nrows != 0 || b->nrows - at < take || at % 8 != 0) return RK_OK;
  int64_t bytes = 0;
  for (int c = 0; c < b->ncols; c++) {
    if (b->cols[c].type == RK_COL_LIST) return RK_OK;
    if (b->cols[c].type == RK_COL_STRING)
      bytes += b->cols[c].offsets[at + take] - b->cols[c].offsets[at] + take * 4;
    else
      bytes += take * (int64_t)rk_coltype_width(b->cols[c].type);
  }
  if (bytes >= w->rg_bytes_limit) return RK_OK;
  rk_column *views = rk_malloc((size_t)(b->ncols ? b->ncols : 1) * sizeof *views);
  if (!views) return RK_ENOMEM;
  for (int c = 0; c < b->ncols; c++) column_view(&views[c], &b->cols[c], at, take);
  rk_status s = write_row_group(w, views, take);
  rk_free(views);
  if (s == RK_OK) *done = take;
  return s;
}

/* Every STRING column (and list of strings) is written with the UTF8 annotation, which promises
 * UTF-8: bytes that are not would make the file unreadable to DuckDB, pyarrow or Spark, so they
 * are refused here, whatever produced them. */
static rk_status check_utf8(const rk_parquet_writer *w, const rk_column *col, int64_t nrows) {
  const rk_column *s = col->type == RK_COL_LIST ? col->child : col;
  if (s->type != RK_COL_STRING) return RK_OK;
  int64_t n = col->type == RK_COL_LIST ? col->offsets[nrows] : nrows;
  size_t at = 0;
  int64_t bad = rk_utf8_first_invalid(s->values, s->offsets, n, &at), row = bad;
  if (bad < 0) return RK_OK;
  if (col->type == RK_COL_LIST)
    for (row = 0; col->offsets[row + 1] <= bad; row++) {
    }
  return rk_error(RK_EFORMAT,
                  "cannot write '%s': column '%s' row %lld is not valid UTF-8 (byte 0x%02x at offset %zu); "
                  "Parquet strings must be UTF-8",
                  w->path, col->name ? col->name : "", (long long)row + 1,
                  (unsigned)((const unsigned char *)s->values)[s->offsets[bad] + (int64_t)at], at);
}

rk_status rk_parquet_writer_write(rk_parquet_writer *w, const rk_batch *b) {
  if (w->failed != RK_OK) return rk_error(w->failed, "cannot write '%s': an earlier write failed", w->path);
  rk_status s = RK_OK;
  if (!w->have_schema) s = take_schema(w, b);
  if (s == RK_OK && b->ncols != w->rows.ncols)
    s = rk_error(RK_ESHAPE, "cannot write '%s': batch has %d columns, the file %d", w->path, b->ncols, w->rows.ncols);
  for (int c = 0; c < b->ncols && s == RK_OK; c++) {
    const rk_column *a = &b->cols[c], *f = &w->rows.cols[c];
    if (a->type != f->type || (a->child && a->child->type != f->child->type) || !a->name || strcmp(a->name, f->name) != 0)
      s = rk_error(RK_ESHAPE, "cannot write '%s': column %d is '%s' (%s), the file has '%s' (%s)", w->path, c,
                   a->name ? a->name : "", rk_coltype_name(a->type), f->name, rk_coltype_name(f->type));
    else if (a->length < b->nrows)
      s = rk_error(RK_ESHAPE, "cannot write '%s': column '%s' has %lld rows, the batch %lld", w->path, a->name,
                   (long long)a->length, (long long)b->nrows);
    else if (a->type == RK_COL_LIST && a->child->null_count > 0)
      s = rk_error(RK_EUNSUPPORTED, "cannot write '%s': unsupported: null elements in list column '%s'", w->path, a->name);
    else
      s = check_utf8(w, a, b->nrows);
  }
  int64_t at = 0;
  while (s == RK_OK && at < b->nrows) {
    int64_t direct = 0;
    s = write_direct(w, b, at, &direct);
    if (s != RK_OK) break;
    if (direct > 0) {
      at += direct;
      continue;
    }
    int64_t room = w->rg_rows_limit - w->rows.nrows;
    int64_t take = b->nrows - at < room ? b->nrows - at : room;
    /* respect the byte limit roughly: at most 64k rows between checks */
    if (take > 65536) take = 65536;
    for (int c = 0; c < b->ncols && s == RK_OK; c++) s = rk_column_append_column(&w->rows.cols[c], &b->cols[c], at, at + take);
    if (s != RK_OK) break;
    w->rows.nrows += take;
    at += take;
    if (w->rows.nrows >= w->rg_rows_limit || buffered_bytes(&w->rows) >= w->rg_bytes_limit) s = flush(w);
  }
  if (s != RK_OK) w->failed = s;
  return s;
}

rk_status rk_parquet_writer_close(rk_parquet_writer *w) {
  rk_status s = w->failed;
  if (s != RK_OK) s = rk_error(s, "cannot write '%s': an earlier write failed", w->path);
  if (s == RK_OK) s = flush(w);
  rk_parquet_buf foot = {0};
  rk_pq_out_schema *schema = NULL;
  if (s == RK_OK) {
    int n = w->rows.ncols, ns = 1;
    schema = rk_calloc((size_t)(1 + 3 * (n ? n : 1)), sizeof *schema);
    if (!schema) s = RK_ENOMEM;
    for (int c = 0; c < n && s == RK_OK; c++) {
      const rk_column *col = &w->rows.cols[c];
      if (col->type == RK_COL_LIST) {
        schema[ns++] = (rk_pq_out_schema){col->name, -1, RK_PQ_OPTIONAL, 1, RK_CT_LIST, RK_LT_LIST, 0, true, 0, 0, 0};
        schema[ns++] = (rk_pq_out_schema){"list", -1, RK_PQ_REPEATED, 1, -1, 0, 0, true, 0, 0, 0};
        rk_pq_schema_for(&schema[ns], col->child->type);
        schema[ns].name = "element";
        schema[ns++].repetition = RK_PQ_REQUIRED;
      } else {
        rk_pq_schema_for(&schema[ns], col->type);
        schema[ns].name = col->name;
        schema[ns++].repetition = RK_PQ_OPTIONAL;
      }
      for (int g = 0; g < w->nrg; g++) {
        rk_pq_out_chunk *m = &w->chunks[(size_t)g * (size_t)n + (size_t)c];
        m->npath = 0;
        m->path[m->npath++] = col->name;
        if (col->type == RK_COL_LIST) {
          m->path[m->npath++] = "list";
          m->path[m->npath++] = "element";
        }
      }
    }
    if (s == RK_OK) {
      schema[0] = (rk_pq_out_schema){"schema", -1, -1, n, -1, 0, 0, true, 0, 0, 0};
      int64_t total = 0;
      for (int g = 0; g < w->nrg; g++) total += w->rg_rows[g];
      char created_by[128];
      snprintf(created_by, sizeof created_by, "reckon version %s", rk_version());
      rk_pq_meta_write(&foot, schema, ns, total, w->nrg, w->rg_rows, w->rg_bytes, w->chunks, n, w->kv, w->nkv, created_by);
      if (foot.failed) s = RK_ENOMEM;
      else if (foot.len > UINT32_MAX) s = rk_error(RK_ERANGE, "cannot write '%s': footer of %zu bytes", w->path, foot.len);
    }
  }
  if (s == RK_OK) s = write_all(w, foot.data, foot.len);
  if (s == RK_OK) {
    uint8_t tail[8] = {(uint8_t)foot.len, (uint8_t)(foot.len >> 8), (uint8_t)(foot.len >> 16), (uint8_t)(foot.len >> 24),
                       'P', 'A', 'R', '1'};
    s = write_all(w, tail, 8);
  }
  rk_parquet_buf_free(&foot);
  rk_free(schema);
  if (s == RK_OK) {
    int rc = close(w->fd);
    w->fd = -1;
    if (rc != 0) s = rk_error(RK_EIO, "cannot write '%s': %s", w->path, strerror(errno));
  }
  if (s == RK_OK && rename(w->tmp, w->path) != 0)
    s = rk_error(RK_EIO, "cannot rename '%s' to '%s': %s", w->tmp, w->path, strerror(errno));
  if (s != RK_OK) {
    rk_parquet_writer_abort(w);
    return s;
  }
  free_writer(w);
  return RK_OK;
}

rk_status rk_parquet_write(const char *path, const rk_batch *batch, const rk_parquet_write_options *opts) {
  rk_parquet_writer *w;
  RK_TRY(rk_parquet_writer_open(&w, path, opts));
  w->last_batch = true;
  rk_status s = rk_parquet_writer_write(w, batch);
  if (s != RK_OK) {
    rk_parquet_writer_abort(w);
    return s;
  }
  return rk_parquet_writer_close(w);
}

rk_status rk_parquet_sink_open(rk_table_sink **sink, const char *path, const rk_sink_options *opts) {
  *sink = NULL;
  rk_parquet_write_options o;
  rk_parquet_write_options_default(&o);
  if (opts) {
    if (opts->compression) o.compression = opts->compression;
    if (opts->row_group_size > 0) o.row_group_rows = opts->row_group_size;
  }
  rk_parquet_writer *w;
  RK_TRY(rk_parquet_writer_open(&w, path, &o));
  *sink = &w->sink;
  return RK_OK;
}
