/*
 * The loader's streams (reckon/data.h), the split of each epoch's data over the pieces of a
 * data-parallel global batch: S loaders over streams 0..S-1 deliver every row exactly once per
 * epoch, whatever S; one stream is the plain loader, batch for batch; the deal changes with the
 * epoch and not with anything else; every loader agrees on the epoch's step count (the longest
 * stream's batches); a stream that does not exist is refused.
 */
#include <string.h>

#include "reckon/data.h"
#include "reckon/parquet.h"
#include "support.h"

#define ROWS 5003

/* Two files with row groups of 250 rows (21 groups, the last short): id = 0..ROWS-1. */
static const char *make_dataset(void) {
  const char *dir = rk_test_tmpdir("data_loader_streams");
  int64_t id = 0;
  const int64_t per_file[2] = {3000, ROWS - 3000};
  for (int f = 0; f < 2; f++) {
    char path[1024];
    snprintf(path, sizeof path, "%s/part_%d.parquet", dir, f);
    rk_parquet_write_options o;
    rk_parquet_write_options_default(&o);
    o.row_group_rows = 250;
    rk_parquet_writer *w;
    assert_rk_ok(rk_parquet_writer_open(&w, path, &o));
    rk_batch b = {0};
    assert_rk_ok(rk_batch_init(&b, 1));
    assert_rk_ok(rk_column_init(&b.cols[0], "id", RK_COL_INT64, RK_COL_INT64));
    for (int64_t r = 0; r < per_file[f]; r++, id++) assert_rk_ok(rk_column_append_int(&b.cols[0], id));
    b.nrows = per_file[f];
    assert_rk_ok(rk_parquet_writer_write(w, &b));
    assert_rk_ok(rk_parquet_writer_close(w));
    rk_batch_free(&b);
  }
  return dir;
}

static rk_loader *open_stream(const char *dir, int64_t S, int64_t stream, int64_t batch, bool shuffle) {
  rk_loader_options o;
  rk_loader_options_default(&o);
  o.path = dir;
  o.batch_size = batch;
  o.shuffle = shuffle;
  o.shuffle_buffer_rows = 600;
  o.seed = 9;
  o.n_streams = S;
  o.stream = stream;
  rk_loader *l;
  assert_rk_ok(rk_loader_open(&l, &o));
  return l;
}

/* Appends the epoch's ids of one loader to ids; returns its batches. */
static int64_t read_epoch(rk_loader *l, int64_t epoch, int64_t *ids, int64_t *n) {
  assert_rk_ok(rk_loader_start_epoch(l, epoch));
  rk_batch b = {0};
  int64_t batches = 0;
  for (;;) {
    assert_rk_ok(rk_loader_next(l, &b));
    if (b.nrows == 0) break;
    batches++;
    for (int64_t r = 0; r < b.nrows; r++) {
      assert_true(*n < ROWS);
      ids[(*n)++] = rk_column_get_int(&b.cols[0], r);
    }
  }
  rk_batch_free(&b);
  return batches;
}

static void test_streams_deliver_every_row_once(void **state) {
  (void)state;
  const char *dir = make_dataset();
  int64_t *ids = rk_malloc(ROWS * sizeof *ids), *seen = rk_malloc(ROWS * sizeof *seen);
  for (int64_t S = 1; S <= 5; S++) {
    for (int64_t epoch = 0; epoch < 3; epoch++) {
      int64_t n = 0, longest = 0, steps = -1;
      for (int64_t s = 0; s < S; s++) {
        rk_loader *l = open_stream(dir, S, s, 64, true);
        int64_t before = n, batches = read_epoch(l, epoch, ids, &n);
        assert_int_equal(n - before, rk_loader_stream_rows(l));
        if (steps < 0) steps = rk_loader_epoch_batches(l);
        assert_int_equal(rk_loader_epoch_batches(l), steps);   /* every stream agrees */
        if (batches > longest) longest = batches;
        rk_loader_close(l);
      }
      assert_int_equal(n, ROWS);
      assert_int_equal(steps, longest);
      memset(seen, 0, ROWS * sizeof *seen);
      for (int64_t i = 0; i < n; i++) {
        assert_true(ids[i] >= 0 && ids[i] < ROWS);
        seen[ids[i]]++;
      }
      for (int64_t i = 0; i < ROWS; i++) assert_int_equal(seen[i], 1);
    }
  }
  rk_free(ids);
  rk_free(seen);
}

static void test_one_stream_is_the_plain_loader(void **state) {
  (void)state;
  const char *dir = make_dataset();
  rk_loader_options o;
  rk_loader_options_default(&o);
  o.path = dir;
  o.batch_size = 100;
  o.shuffle_buffer_rows = 600;
  o.seed = 9;
  rk_loader *plain;
  assert_rk_ok(rk_loader_open(&plain, &o));
  rk_loader *one = open_stream(dir, 1, 0, 100, true);
  int64_t *a = rk_malloc(ROWS * sizeof *a), *b = rk_malloc(ROWS * sizeof *b), na = 0, nb = 0;
  read_epoch(plain, 1, a, &na);
  read_epoch(one, 1, b, &nb);
  assert_int_equal(na, nb);
  assert_memory_equal(a, b, (size_t)na * sizeof *a);
  assert_int_equal(rk_loader_epoch_batches(one), rk_loader_num_batches(plain));
  rk_loader_close(plain);
  rk_loader_close(one);
  rk_free(a);
  rk_free(b);
}

static void test_deal_changes_with_the_epoch(void **state) {
  (void)state;
  const char *dir = make_dataset();
  int64_t *e0 = rk_malloc(ROWS * sizeof *e0), *e1 = rk_malloc(ROWS * sizeof *e1), *again = rk_malloc(ROWS * sizeof *again);
  int64_t n0 = 0, n1 = 0, n2 = 0;
  rk_loader *l = open_stream(dir, 3, 1, 50, true);
  read_epoch(l, 0, e0, &n0);
  read_epoch(l, 1, e1, &n1);
  read_epoch(l, 0, again, &n2);
  assert_int_equal(n0, n2);
  assert_memory_equal(e0, again, (size_t)n0 * sizeof *e0);   /* a function of (seed, epoch) */
  assert_true(n0 != n1 || memcmp(e0, e1, (size_t)n0 * sizeof *e0) != 0);
  rk_loader_close(l);
  rk_free(e0);
  rk_free(e1);
  rk_free(again);
}

static void test_missing_stream_refused(void **state) {
  (void)state;
  const char *dir = make_dataset();
  rk_loader_options o;
  rk_loader_options_default(&o);
  o.path = dir;
  o.n_streams = 2;
  o.stream = 2;
  rk_loader *l;
  assert_int_equal(rk_loader_open(&l, &o), RK_EINVAL);
  assert_non_null(strstr(rk_error_message(), "stream 2 of 2"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_streams_deliver_every_row_once),
      cmocka_unit_test(test_one_stream_is_the_plain_loader),
      cmocka_unit_test(test_deal_changes_with_the_epoch),
      cmocka_unit_test(test_missing_stream_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
