/*
 * Failure injection without leaks, for the core library: each operation runs with
 * rk_alloc_fail_after(n) for n = 0, 1, 2, ... until it succeeds without the injection firing.
 * Every failing run must return RK_ENOMEM with an "out of memory" message, and after cleanup
 * rk_alloc_live_bytes() must be back where it started (ASan's leak check backs this up). The
 * successful run's result is checked too, and failed column appends must leave the column as it
 * was. Covers: column appends (ints, nulls, strings, lists of ints and strings, append_column of
 * ranges with nulls), rk_batch_init, rk_tensor_alloc, arenas, rk_write_file_atomic, rk_read_file,
 * rk_mkdir_p, and rk_parallel_sum's documented fallback when its partials cannot be allocated.
 */
#include "support.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
  const char *what;
  rk_status (*run)(void *ctx);
  void (*check)(void *ctx);     /* on the successful run, before cleanup; may be NULL */
  void (*cleanup)(void *ctx);
  void (*after_failure)(void *ctx);   /* extra checks after a failed run, before cleanup */
} failpath;

/* Returns the number of allocation points walked (each one failed once). */
static int64_t walk(const failpath *fp, void *ctx) {
  for (int64_t n = 0; n < 1000000; n++) {
    int64_t live0 = rk_alloc_live_bytes();
    rk_error_clear();
    rk_alloc_fail_after(n);
    rk_status s = fp->run(ctx);
    bool fired = rk_alloc_fail_fired();
    rk_alloc_fail_after(-1);
    if (!fired) {
      if (s != RK_OK) fail_msg("%s: fails without injection: %s: %s", fp->what, rk_status_name(s), rk_error_message());
      if (fp->check) fp->check(ctx);
      fp->cleanup(ctx);
      if (rk_alloc_live_bytes() != live0)
        fail_msg("%s: leaks %lld bytes on success", fp->what, (long long)(rk_alloc_live_bytes() - live0));
      return n;
    }
    if (s != RK_ENOMEM)
      fail_msg("%s: allocation %lld failed but the call returned %s (%s)", fp->what, (long long)n, rk_status_name(s),
               rk_error_message());
    if (rk_error_status() != RK_ENOMEM || !strstr(rk_error_message(), "out of memory"))
      fail_msg("%s: allocation %lld failed, message is '%s'", fp->what, (long long)n, rk_error_message());
    if (fp->after_failure) fp->after_failure(ctx);
    fp->cleanup(ctx);
    if (rk_alloc_live_bytes() != live0)
      fail_msg("%s: allocation %lld failed and %lld bytes leaked", fp->what, (long long)n,
               (long long)(rk_alloc_live_bytes() - live0));
  }
  fail_msg("%s: never succeeded", fp->what);
  return -1;
}

/* ---- columns ------------------------------------------------------------------------------ */
typedef struct {
  rk_column col;
} col_ctx;

static void col_cleanup(void *arg) { rk_column_free(&((col_ctx *)arg)->col); }

static rk_status ints_run(void *arg) {
  rk_column *c = &((col_ctx *)arg)->col;
  RK_TRY(rk_column_init(c, "user_id", RK_COL_INT32, RK_COL_INT8));
  for (int i = 0; i < 300; i++) {
    if (i == 40 || i == 250) RK_TRY(rk_column_append_null(c));
    else RK_TRY(rk_column_append_int(c, i * 11));
  }
  RK_TRY(rk_column_set_null(c, 7));
  return RK_OK;
}

static void ints_check(void *arg) {
  rk_column *c = &((col_ctx *)arg)->col;
  assert_int_equal(c->length, 300);
  assert_int_equal(c->null_count, 3);
  for (int i = 0; i < 300; i++) {
    bool null = i == 7 || i == 40 || i == 250;
    assert_int_equal(rk_column_is_null(c, i), null);
    assert_int_equal(rk_column_get_int(c, i), null ? 0 : i * 11);
  }
}

/* Nulls first: the bitmap is allocated before any values. */
static rk_status nulls_first_run(void *arg) {
  rk_column *c = &((col_ctx *)arg)->col;
  RK_TRY(rk_column_init(c, NULL, RK_COL_FLOAT64, RK_COL_INT8));
  RK_TRY(rk_column_append_null(c));
  for (int i = 0; i < 100; i++) RK_TRY(rk_column_append_double(c, i + 0.5));
  return RK_OK;
}

static rk_status strings_run(void *arg) {
  rk_column *c = &((col_ctx *)arg)->col;
  RK_TRY(rk_column_init(c, "title", RK_COL_STRING, RK_COL_INT8));
  char buf[600];
  memset(buf, 'x', sizeof buf);
  for (int i = 0; i < 60; i++) {
    if (i % 13 == 5) RK_TRY(rk_column_append_null(c));
    else RK_TRY(rk_column_append_string(c, buf, (size_t)(i * 10)));
  }
  return RK_OK;
}

static void strings_check(void *arg) {
  rk_column *c = &((col_ctx *)arg)->col;
  assert_int_equal(c->length, 60);
  for (int i = 0; i < 60; i++) {
    size_t len;
    rk_column_get_string(c, i, &len);
    assert_int_equal(len, i % 13 == 5 ? 0 : (size_t)(i * 10));
  }
}

static rk_status list_ints_run(void *arg) {
  rk_column *c = &((col_ctx *)arg)->col;
  RK_TRY(rk_column_init(c, "clicks", RK_COL_LIST, RK_COL_INT64));
  for (int i = 0; i < 40; i++) {
    if (i % 9 == 4) {
      RK_TRY(rk_column_append_null(c));
      continue;
    }
    for (int k = 0; k < i % 6; k++) RK_TRY(rk_column_append_int(c->child, i * 100 + k));
    RK_TRY(rk_column_finish_list_row(c));
  }
  return RK_OK;
}

static void list_ints_check(void *arg) {
  rk_column *c = &((col_ctx *)arg)->col;
  assert_int_equal(c->length, 40);
  for (int i = 0; i < 40; i++) {
    int want = i % 9 == 4 ? 0 : i % 6;
    assert_int_equal(c->offsets[i + 1] - c->offsets[i], want);
    for (int k = 0; k < want; k++) assert_int_equal(rk_column_get_int(c->child, c->offsets[i] + k), i * 100 + k);
  }
}

static rk_status list_strings_run(void *arg) {
  rk_column *c = &((col_ctx *)arg)->col;
  RK_TRY(rk_column_init(c, "tags", RK_COL_LIST, RK_COL_STRING));
  for (int i = 0; i < 30; i++) {
    if (i == 11) {
      RK_TRY(rk_column_append_null(c));
      continue;
    }
    for (int k = 0; k < i % 4; k++) {
      char buf[32];
      int len = snprintf(buf, sizeof buf, "tag-%d-%d", i, k);
      RK_TRY(rk_column_append_string(c->child, buf, (size_t)len));
    }
    RK_TRY(rk_column_finish_list_row(c));
  }
  return RK_OK;
}

static void walk_column(const char *what, rk_status (*run)(void *), void (*check)(void *), int64_t min_points) {
  col_ctx ctx;
  memset(&ctx, 0, sizeof ctx);
  failpath fp = {what, run, check, col_cleanup, NULL};
  int64_t points = walk(&fp, &ctx);
  if (points < min_points) fail_msg("%s: only %lld allocation points", what, (long long)points);
}

static void test_failpath_column_ints(void **state) {
  (void)state;
  walk_column("int column appends", ints_run, ints_check, 3);
  walk_column("float column, null first", nulls_first_run, NULL, 3);
}

static void test_failpath_column_strings(void **state) {
  (void)state;
  walk_column("string column appends", strings_run, strings_check, 4);
}

static void test_failpath_column_lists(void **state) {
  (void)state;
  walk_column("list<int64> appends", list_ints_run, list_ints_check, 4);
  walk_column("list<string> appends", list_strings_run, NULL, 5);
}

/* append_column of ranges with nulls, into a column that already has rows and no bitmap: a
 * failed append must leave dst exactly as it was. */
static rk_status build_src(rk_column *c, rk_coltype type, int rows) {
  RK_TRY(rk_column_init(c, "src", type, RK_COL_STRING));
  for (int i = 0; i < rows; i++) {
    if (i % 7 == 2) {
      RK_TRY(rk_column_append_null(c));
    } else if (type == RK_COL_STRING) {
      RK_TRY(rk_column_append_string(c, "abcdefghijklmnopqrstuvwxyz", (size_t)(i % 27)));
    } else if (type == RK_COL_LIST) {
      for (int k = 0; k < i % 3; k++) RK_TRY(rk_column_append_string(c->child, "elem", 4));
      RK_TRY(rk_column_finish_list_row(c));
    } else {
      RK_TRY(rk_column_append_int(c, i));
    }
  }
  return RK_OK;
}

static void test_failpath_column_append_column(void **state) {
  (void)state;
  const rk_coltype types[] = {RK_COL_INT16, RK_COL_STRING, RK_COL_LIST};
  for (int t = 0; t < 3; t++) {
    rk_column src;
    assert_rk_ok(build_src(&src, types[t], 200));
    int64_t points = 0;
    for (int64_t n = 0;; n++) {
      int64_t live0 = rk_alloc_live_bytes();
      rk_column dst, before;
      assert_rk_ok(build_src(&dst, types[t], 2));   /* rows 0, 1: no nulls, no bitmap */
      assert_rk_ok(build_src(&before, types[t], 2));
      assert_null(dst.validity);
      rk_error_clear();
      rk_alloc_fail_after(n);
      rk_status s = rk_column_append_column(&dst, &src, 1, 150);
      if (s == RK_OK) s = rk_column_append_column(&dst, &src, 150, 200);
      bool fired = rk_alloc_fail_fired();
      rk_alloc_fail_after(-1);
      if (!fired) {
        assert_rk_ok(s);
        rk_column want;
        assert_rk_ok(build_src(&want, types[t], 2));
        assert_rk_ok(rk_column_append_column(&want, &src, 1, 200));
        assert_true(rk_column_equal(&dst, &want));
        assert_int_equal(dst.length, 201);
        rk_column_free(&want);
        rk_column_free(&dst);
        rk_column_free(&before);
        assert_int_equal(rk_alloc_live_bytes(), live0);
        break;
      }
      points++;
      assert_int_equal(s, RK_ENOMEM);
      assert_non_null(strstr(rk_error_message(), "out of memory"));
      /* Either the first append failed (dst as before) or the second (dst = before + rows 1..149). */
      if (dst.length == 2) {
        assert_true(rk_column_equal(&dst, &before));
      } else {
        assert_int_equal(dst.length, 151);
        assert_rk_ok(rk_column_append_column(&before, &src, 1, 150));
        assert_true(rk_column_equal(&dst, &before));
      }
      /* And the column still works: appending the rest now succeeds. */
      assert_rk_ok(rk_column_append_column(&dst, &src, 0, 1));
      rk_column_free(&dst);
      rk_column_free(&before);
      assert_int_equal(rk_alloc_live_bytes(), live0);
    }
    if (points < 2) fail_msg("append_column %s: only %lld allocation points", rk_coltype_name(types[t]), (long long)points);
    rk_column_free(&src);
  }
}

/* ---- batch, tensor, arena ----------------------------------------------------------------- */
typedef struct {
  rk_batch batch;
} batch_ctx;

static rk_status batch_run(void *arg) {
  rk_batch *b = &((batch_ctx *)arg)->batch;
  RK_TRY(rk_batch_init(b, 3));
  RK_TRY(rk_column_init(&b->cols[0], "user_id", RK_COL_INT64, RK_COL_INT8));
  RK_TRY(rk_column_init(&b->cols[1], "tags", RK_COL_LIST, RK_COL_STRING));
  RK_TRY(rk_column_init(&b->cols[2], "title", RK_COL_STRING, RK_COL_INT8));
  RK_TRY(rk_column_append_int(&b->cols[0], 1));
  return RK_OK;
}

static void batch_cleanup(void *arg) { rk_batch_free(&((batch_ctx *)arg)->batch); }

static void batch_check(void *arg) {
  rk_batch *b = &((batch_ctx *)arg)->batch;
  assert_int_equal(b->ncols, 3);
  assert_int_equal(rk_batch_find(b, "tags"), 1);
}

static void test_failpath_batch_init(void **state) {
  (void)state;
  batch_ctx ctx;
  memset(&ctx, 0, sizeof ctx);
  failpath fp = {"rk_batch_init + columns", batch_run, batch_check, batch_cleanup, NULL};
  assert_true(walk(&fp, &ctx) >= 7);
}

typedef struct {
  rk_tensor t[3];
} tensor_ctx;

static rk_status tensor_run(void *arg) {
  tensor_ctx *x = arg;
  memset(x, 0, sizeof *x);
  const int64_t s0[2] = {128, 64}, s1[1] = {7};
  RK_TRY(rk_tensor_alloc(&x->t[0], RK_DT_F32, 2, s0));
  RK_TRY(rk_tensor_alloc(&x->t[1], RK_DT_BF16, 1, s1));
  RK_TRY(rk_tensor_alloc(&x->t[2], RK_DT_I64, 0, s1));
  return RK_OK;
}

static void tensor_cleanup(void *arg) {
  tensor_ctx *x = arg;
  for (int i = 0; i < 3; i++) rk_tensor_free(&x->t[i]);
}

static void tensor_check(void *arg) {
  tensor_ctx *x = arg;
  assert_int_equal(rk_tensor_nbytes(&x->t[0]), 128 * 64 * 4);
  assert_int_equal(rk_tensor_nbytes(&x->t[2]), 8);
}

static void test_failpath_tensor_alloc(void **state) {
  (void)state;
  tensor_ctx ctx;
  failpath fp = {"rk_tensor_alloc", tensor_run, tensor_check, tensor_cleanup, NULL};
  assert_int_equal(walk(&fp, &ctx), 3);
}

typedef struct {
  rk_arena arena;
  char *kept;
} arena_ctx;

static rk_status arena_run(void *arg) {
  arena_ctx *x = arg;
  rk_arena_init(&x->arena, 512);
  for (int i = 0; i < 50; i++)
    if (!rk_arena_alloc(&x->arena, 100, 32)) return RK_ENOMEM;
  if (!rk_arena_alloc(&x->arena, 5000, 0)) return RK_ENOMEM;
  rk_arena_reset(&x->arena);
  for (int i = 0; i < 80; i++)
    if (!rk_arena_alloc(&x->arena, 100, 8)) return RK_ENOMEM;
  if (!(x->kept = rk_arena_strdup(&x->arena, "still here"))) return RK_ENOMEM;
  return RK_OK;
}

static void arena_cleanup(void *arg) { rk_arena_free(&((arena_ctx *)arg)->arena); }

static void arena_check(void *arg) { assert_string_equal(((arena_ctx *)arg)->kept, "still here"); }

static void test_failpath_arena(void **state) {
  (void)state;
  arena_ctx ctx;
  failpath fp = {"arena", arena_run, arena_check, arena_cleanup, NULL};
  assert_true(walk(&fp, &ctx) >= 10);
}

/* ---- files -------------------------------------------------------------------------------- */
typedef struct {
  char dir[4096];
  char path[4200];
  char *data;
  size_t size;
  const char *payload;
  size_t payload_size;
} file_ctx;

static int count_entries(const char *dir) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
  closedir(d);
  return n;
}

static rk_status write_run(void *arg) {
  file_ctx *x = arg;
  return rk_write_file_atomic(x->path, x->payload, x->payload_size);
}

static void write_after_failure(void *arg) {
  file_ctx *x = arg;
  assert_int_equal(count_entries(x->dir), 0);   /* no target, no temporary left behind */
}

static void write_check(void *arg) {
  file_ctx *x = arg;
  assert_int_equal(count_entries(x->dir), 1);
  char *got;
  size_t n;
  assert_rk_ok(rk_read_file(x->path, &got, &n));
  assert_int_equal(n, x->payload_size);
  assert_memory_equal(got, x->payload, n);
  rk_free(got);
}

static void write_cleanup(void *arg) { unlink(((file_ctx *)arg)->path); }

static rk_status read_run(void *arg) {
  file_ctx *x = arg;
  return rk_read_file(x->path, &x->data, &x->size);
}

static void read_after_failure(void *arg) {
  file_ctx *x = arg;
  assert_null(x->data);
  assert_int_equal(x->size, 0);
}

static void read_check(void *arg) {
  file_ctx *x = arg;
  assert_int_equal(x->size, x->payload_size);
  assert_memory_equal(x->data, x->payload, x->size);
  assert_int_equal(x->data[x->size], '\0');
}

static void read_cleanup(void *arg) {
  file_ctx *x = arg;
  rk_free(x->data);
  x->data = NULL;
}

static rk_status mkdir_run(void *arg) { return rk_mkdir_p(((file_ctx *)arg)->path); }

static void mkdir_cleanup(void *arg) {
  file_ctx *x = arg;
  rk_test_system("rm -rf '%s/a'", x->dir);
}

static void test_failpath_files(void **state) {
  (void)state;
  static file_ctx x;
  memset(&x, 0, sizeof x);
  snprintf(x.dir, sizeof x.dir, "%s", rk_test_tmpdir("core_failpaths"));
  snprintf(x.path, sizeof x.path, "%s/out.bin", x.dir);
  size_t big = 300000;   /* larger than rk_read_file's first buffer: its growth is walked too */
  char *payload = malloc(big);
  for (size_t i = 0; i < big; i++) payload[i] = (char)(i * 131 + 7);
  x.payload = payload;
  x.payload_size = big;

  failpath w = {"rk_write_file_atomic", write_run, write_check, write_cleanup, write_after_failure};
  assert_int_equal(walk(&w, &x), 1);

  FILE *f = fopen(x.path, "wb");
  fwrite(payload, 1, big, f);
  fclose(f);
  failpath r = {"rk_read_file", read_run, read_check, read_cleanup, read_after_failure};
  assert_true(walk(&r, &x) >= 3);
  unlink(x.path);

  snprintf(x.path, sizeof x.path, "%s/a/b/c", x.dir);
  failpath m = {"rk_mkdir_p", mkdir_run, NULL, mkdir_cleanup, NULL};
  assert_int_equal(walk(&m, &x), 1);
  free(payload);
}

/* ---- parallel sum: documented fallback to one thread when partials cannot be allocated ---- */
static void test_failpath_parallel_sum_fallback(void **state) {
  (void)state;
  int64_t n = 100000;
  double *x = malloc((size_t)n * sizeof *x);
  for (int64_t i = 0; i < n; i++) x[i] = 1.0 / (double)(i + 1);
  double want = rk_parallel_sum_f64(x, n, 100);   /* 1000 chunks: partials on the heap */
  int64_t live0 = rk_alloc_live_bytes();
  rk_alloc_fail_after(0);
  double got = rk_parallel_sum_f64(x, n, 100);
  assert_true(rk_alloc_fail_fired());
  rk_alloc_fail_after(-1);
  assert_true(got == want);   /* same chunks, same order: bit-identical */
  assert_int_equal(rk_alloc_live_bytes(), live0);
  free(x);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_failpath_column_ints),
      cmocka_unit_test(test_failpath_column_strings),
      cmocka_unit_test(test_failpath_column_lists),
      cmocka_unit_test(test_failpath_column_append_column),
      cmocka_unit_test(test_failpath_batch_init),
      cmocka_unit_test(test_failpath_tensor_alloc),
      cmocka_unit_test(test_failpath_arena),
      cmocka_unit_test(test_failpath_files),
      cmocka_unit_test(test_failpath_parallel_sum_fallback),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
