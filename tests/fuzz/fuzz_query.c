/*
 * Fuzz target: filter queries. Arbitrary bytes are parsed; a query that parses is evaluated on a
 * small fixed batch (ints with a null, floats with a NaN, strings), so the evaluator sees every
 * shape of tree the parser accepts. Errors are fine; crashes, leaks and UB are not.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reckon/etl.h"

static void fill(rk_batch *b) {
  rk_batch_init(b, 4);
  rk_column_init(&b->cols[0], "a", RK_COL_INT64, RK_COL_INT64);
  rk_column_init(&b->cols[1], "x", RK_COL_FLOAT32, RK_COL_INT64);
  rk_column_init(&b->cols[2], "s", RK_COL_STRING, RK_COL_INT64);
  rk_column_init(&b->cols[3], "click", RK_COL_INT8, RK_COL_INT64);
  const int64_t a[] = {0, 1, -1, INT64_MAX, INT64_MIN};
  const double x[] = {0.5, NAN, -0.0, 1e30, -3};
  const char *s[] = {"", "a", "bob", "\xff", "zz"};
  for (int r = 0; r < 5; r++) {
    if (r == 2) rk_column_append_null(&b->cols[0]);
    else rk_column_append_int(&b->cols[0], a[r]);
    rk_column_append_double(&b->cols[1], x[r]);
    rk_column_append_string(&b->cols[2], s[r], strlen(s[r]));
    rk_column_append_int(&b->cols[3], r & 1);
  }
  b->nrows = 5;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  if (!text) return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  rk_query *q = NULL;
  if (rk_query_parse(&q, text) == RK_OK) {
    rk_batch b = {0};
    fill(&b);
    uint8_t keep[5];
    (void)rk_query_eval(q, &b, keep);
    rk_batch_free(&b);
    rk_query_free(q);
  }
  free(text);
  return 0;
}
