/*
 * Test support for the generators and writers: a table sink that collects every batch into one
 * (or only counts rows) and can fail on a chosen write, plus batch helpers.
 */
#ifndef RECKON_TEST_MEM_SINK_H
#define RECKON_TEST_MEM_SINK_H

#include "reckon/io.h"

typedef struct {
  rk_table_sink base;
  rk_batch all;        /* every batch written, appended (when keep) */
  int64_t batches;
  int64_t fail_at;     /* the write with this index fails with RK_EIO (-1: never) */
  bool keep;           /* false: only count rows (a null sink) */
  int64_t rows;
} mem_sink;

void mem_init(mem_sink *m, bool keep);
void mem_free(mem_sink *m);
/* The column called `name`; fails the test when there is none. */
const rk_column *batch_col(const rk_batch *b, const char *name);
/* Same columns (names, order, values) and rows. */
bool batches_equal(const rk_batch *a, const rk_batch *b);

#endif
