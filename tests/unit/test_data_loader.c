/*
 * The training-data loader: every row exactly once per epoch (shuffled or not), the last short
 * batch kept or dropped, a seeded order that changes per epoch and not with read-ahead or thread
 * count, projection, and errors naming the path; batches cut without allocating once the buffers
 * are grown; a folder's files checked to agree as a Parquet dataset.
 */
#include <string.h>

#include "reckon/data.h"
#include "reckon/parquet.h"
#include "support.h"

#define ROWS 10007

/* Three files with row groups of 1000 rows: id = 0..ROWS-1, a string and a float column. */
static const char *make_dataset(void) {
  const char *dir = rk_test_tmpdir("data_loader");
  int64_t id = 0;
  const int64_t per_file[3] = {4000, 3500, ROWS - 7500};
  for (int f = 0; f < 3; f++) {
    char path[1024];
    snprintf(path, sizeof path, "%s/part_%d.parquet", dir, f);
    rk_parquet_write_options o;
    rk_parquet_write_options_default(&o);
    o.row_group_rows = 1000;
    rk_parquet_writer *w;
    assert_rk_ok(rk_parquet_writer_open(&w, path, &o));
    rk_batch b = {0};
    assert_rk_ok(rk_batch_init(&b, 3));
    assert_rk_ok(rk_column_init(&b.cols[0], "id", RK_COL_INT64, RK_COL_INT64));
    assert_rk_ok(rk_column_init(&b.cols[1], "name", RK_COL_STRING, RK_COL_INT64));
    assert_rk_ok(rk_column_init(&b.cols[2], "x", RK_COL_FLOAT32, RK_COL_INT64));
    for (int64_t r = 0; r < per_file[f]; r++, id++) {
      char s[32];
      int n = snprintf(s, sizeof s, "row%lld", (long long)id);
      assert_rk_ok(rk_column_append_int(&b.cols[0], id));
      assert_rk_ok(rk_column_append_string(&b.cols[1], s, (size_t)n));
      assert_rk_ok(rk_column_append_double(&b.cols[2], (double)id * 0.5));
    }
    b.nrows = per_file[f];
    assert_rk_ok(rk_parquet_writer_write(w, &b));
    assert_rk_ok(rk_parquet_writer_close(w));
    rk_batch_free(&b);
  }
  return dir;
}

/* The ids of one epoch, in delivery order; checks each batch's size and row consistency. */
static int64_t *epoch_ids(rk_loader *l, int64_t epoch, int64_t batch, bool drop_last, int64_t *n) {
  assert_rk_ok(rk_loader_start_epoch(l, epoch));
  int64_t *ids = rk_malloc(sizeof(int64_t) * ROWS), k = 0, batches = 0;
  rk_batch b = {0};
  for (;;) {
    assert_rk_ok(rk_loader_next(l, &b));
    if (b.nrows == 0) break;
    batches++;
    bool last = k + b.nrows == (drop_last ? ROWS / batch * batch : ROWS);
    assert_true(b.nrows == batch || (last && !drop_last));
    for (int64_t r = 0; r < b.nrows; r++) {
      int64_t id = rk_column_get_int(&b.cols[0], r);
      size_t len;
      const char *s = rk_column_get_string(&b.cols[1], r, &len);
      char want[32];
      snprintf(want, sizeof want, "row%lld", (long long)id);
      assert_true(len == strlen(want) && memcmp(s, want, len) == 0);   /* columns stay aligned */
      assert_true(rk_column_get_double(&b.cols[2], r) == (double)id * 0.5);
      ids[k++] = id;
    }
  }
  assert_int_equal(batches, rk_loader_num_batches(l));
  rk_batch_free(&b);
  *n = k;
  return ids;
}

static void check_once(const int64_t *ids, int64_t n) {
  assert_int_equal(n, ROWS);
  uint8_t *seen = rk_calloc(ROWS, 1);
  for (int64_t i = 0; i < n; i++) {
    assert_true(ids[i] >= 0 && ids[i] < ROWS);
    assert_false(seen[ids[i]]);
    seen[ids[i]] = 1;
  }
  rk_free(seen);
}

static rk_loader *open_loader(const char *dir, bool shuffle, bool prefetch, int64_t batch, bool drop_last) {
  rk_loader_options o;
  rk_loader_options_default(&o);
  o.path = dir;
  o.batch_size = batch;
  o.shuffle = shuffle;
  o.prefetch = prefetch;
  o.drop_last = drop_last;
  o.shuffle_buffer_rows = 3000;
  rk_loader *l;
  assert_rk_ok(rk_loader_open(&l, &o));
  assert_int_equal(rk_loader_num_rows(l), ROWS);
  return l;
}

static void test_in_order(void **state) {
  (void)state;
  const char *dir = make_dataset();
  rk_loader *l = open_loader(dir, false, true, 256, false);
  int64_t n, *ids = epoch_ids(l, 0, 256, false, &n);
  for (int64_t i = 0; i < n; i++) assert_int_equal(ids[i], i);   /* files in natural order, rows in order */
  rk_free(ids);
  rk_loader_close(l);
}

static void test_shuffled_each_row_once(void **state) {
  (void)state;
  const char *dir = make_dataset();
  rk_loader *a = open_loader(dir, true, true, 256, false), *b = open_loader(dir, true, false, 256, false);
  int64_t n0, n1, nb;
  int64_t *e0 = epoch_ids(a, 0, 256, false, &n0), *e1 = epoch_ids(a, 1, 256, false, &n1);
  check_once(e0, n0);
  check_once(e1, n1);
  assert_true(memcmp(e0, e1, sizeof(int64_t) * ROWS) != 0);   /* a new order per epoch */
  int64_t in_order = 0;
  for (int64_t i = 1; i < n0; i++) in_order += e0[i] == e0[i - 1] + 1;
  assert_true(in_order < ROWS / 10);                           /* really shuffled */
  int64_t *f0 = epoch_ids(b, 0, 256, false, &nb);              /* read-ahead does not change the order */
  assert_memory_equal(e0, f0, sizeof(int64_t) * ROWS);
  rk_set_num_threads(1);
  int64_t *g0 = epoch_ids(a, 0, 256, false, &nb);              /* nor does the thread count */
  rk_set_num_threads(0);
  assert_memory_equal(e0, g0, sizeof(int64_t) * ROWS);
  rk_free(e0);
  rk_free(e1);
  rk_free(f0);
  rk_free(g0);
  rk_loader_close(a);
  rk_loader_close(b);
}

static void test_drop_last_and_projection(void **state) {
  (void)state;
  const char *dir = make_dataset();
  rk_loader *l = open_loader(dir, true, true, 1000, true);
  int64_t n, *ids = epoch_ids(l, 0, 1000, true, &n);
  assert_int_equal(n, 10000);
  rk_free(ids);
  rk_loader_close(l);
  rk_loader_options o;
  rk_loader_options_default(&o);
  o.path = dir;
  o.columns = (const char *const[]){"x", "id"};
  o.ncolumns = 2;
  assert_rk_ok(rk_loader_open(&l, &o));
  rk_batch b = {0};
  assert_rk_ok(rk_loader_next(l, &b));
  assert_int_equal(b.ncols, 2);
  assert_string_equal(b.cols[0].name, "x");
  assert_true(rk_column_get_double(&b.cols[0], 0) == 0.5 * (double)rk_column_get_int(&b.cols[1], 0));
  rk_batch_free(&b);
  rk_loader_close(l);   /* closing mid-epoch stops the read-ahead */
  o.columns = (const char *const[]){"nope"};
  o.ncolumns = 1;
  assert_int_equal(rk_loader_open(&l, &o), RK_ENOTFOUND);
  o.columns = NULL;
  o.path = "/nonexistent/data";
  assert_int_not_equal(rk_loader_open(&l, &o), RK_OK);
  assert_non_null(strstr(rk_error_message(), "/nonexistent/data"));
}

/* Batches inside one buffered unit are cut into the caller's batch without an allocation. */
static void test_batches_reuse_buffers(void **state) {
  (void)state;
  const char *dir = make_dataset();
  rk_loader *l = open_loader(dir, false, false, 100, false);   /* buffers of one 1000-row unit */
  rk_batch b = {0};
  assert_rk_ok(rk_loader_next(l, &b));   /* reads the unit */
  assert_rk_ok(rk_loader_next(l, &b));   /* rows 100..199: strings as long as the next ones */
  int64_t calls = rk_alloc_count();
  for (int k = 2; k < 8; k++) {
    assert_rk_ok(rk_loader_next(l, &b));
    assert_int_equal(rk_column_get_int(&b.cols[0], 0), k * 100);
  }
  assert_int_equal(rk_alloc_count(), calls);
  rk_batch_free(&b);
  rk_loader_close(l);
}

/* A folder is read as a Parquet dataset: files whose columns disagree are refused at open,
 * naming both files, rather than failing mid-epoch. */
static void test_files_must_agree(void **state) {
  (void)state;
  const char *dir = rk_test_tmpdir("data_loader_disagree");
  for (int f = 0; f < 2; f++) {
    char path[1024];
    snprintf(path, sizeof path, "%s/part_%d.parquet", dir, f);
    rk_parquet_write_options o;
    rk_parquet_write_options_default(&o);
    rk_parquet_writer *w;
    assert_rk_ok(rk_parquet_writer_open(&w, path, &o));
    rk_batch b = {0};
    assert_rk_ok(rk_batch_init(&b, 1));
    assert_rk_ok(rk_column_init(&b.cols[0], "id", f == 0 ? RK_COL_INT64 : RK_COL_FLOAT64, RK_COL_INT64));
    assert_rk_ok(rk_column_append_int(&b.cols[0], 7));
    b.nrows = 1;
    assert_rk_ok(rk_parquet_writer_write(w, &b));
    assert_rk_ok(rk_parquet_writer_close(w));
    rk_batch_free(&b);
  }
  rk_loader_options o;
  rk_loader_options_default(&o);
  o.path = dir;
  rk_loader *l = NULL;
  assert_int_equal(rk_loader_open(&l, &o), RK_ESHAPE);
  assert_null(l);
  assert_non_null(strstr(rk_error_message(), "part_0.parquet"));
  assert_non_null(strstr(rk_error_message(), "part_1.parquet"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_in_order),
      cmocka_unit_test(test_shuffled_each_row_once),
      cmocka_unit_test(test_drop_last_and_projection),
      cmocka_unit_test(test_batches_reuse_buffers),
      cmocka_unit_test(test_files_must_agree),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
