/* A table sink in memory and batch helpers for tests: see mem_sink.h. */
#include "mem_sink.h"

#include <string.h>

#include "support.h"

static rk_status mem_write(rk_table_sink *sink, const rk_batch *b) {
  mem_sink *m = (mem_sink *)sink;
  if (m->batches++ == m->fail_at) return rk_error(RK_EIO, "injected sink failure");
  m->rows += b->nrows;
  if (!m->keep) return RK_OK;
  if (m->all.ncols == 0) {
    RK_TRY(rk_batch_init(&m->all, b->ncols));
    for (int j = 0; j < b->ncols; j++) {
      const rk_column *c = &b->cols[j];
      RK_TRY(rk_column_init(&m->all.cols[j], c->name, c->type, c->child ? c->child->type : RK_COL_INT64));
    }
  }
  if (m->all.ncols != b->ncols) return rk_error(RK_ESHAPE, "batches of %d and %d columns", m->all.ncols, b->ncols);
  for (int j = 0; j < b->ncols; j++) {
    if (b->cols[j].length != b->nrows) return rk_error(RK_ESHAPE, "column '%s' length != nrows", b->cols[j].name);
    RK_TRY(rk_column_append_column(&m->all.cols[j], &b->cols[j], 0, b->nrows));
  }
  m->all.nrows += b->nrows;
  return RK_OK;
}

static rk_status mem_close(rk_table_sink *sink) { (void)sink; return RK_OK; }
static void mem_abort(rk_table_sink *sink) { (void)sink; }

void mem_init(mem_sink *m, bool keep) {
  memset(m, 0, sizeof *m);
  m->base.write = mem_write;
  m->base.close = mem_close;
  m->base.abort = mem_abort;
  m->fail_at = -1;
  m->keep = keep;
}

void mem_free(mem_sink *m) { rk_batch_free(&m->all); }

const rk_column *batch_col(const rk_batch *b, const char *name) {
  int j = rk_batch_find(b, name);
  if (j < 0) fail_msg("no column '%s'", name);
  return &b->cols[j];
}

bool batches_equal(const rk_batch *a, const rk_batch *b) {
  if (a->ncols != b->ncols || a->nrows != b->nrows) return false;
  for (int j = 0; j < a->ncols; j++)
    if (strcmp(a->cols[j].name, b->cols[j].name) != 0 || !rk_column_equal(&a->cols[j], &b->cols[j])) return false;
  return true;
}
