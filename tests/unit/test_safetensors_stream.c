/*
 * safetensors written from rows read a block at a time (rk_st_tensor.read_rows, how a table
 * sharded over ranks is saved without ever being whole): the same bytes as from memory, blocks
 * asked in order, each within the writer's block size, and a failing read leaves the file that
 * was there, with no temporary beside it.
 */
#include <dirent.h>
#include <string.h>

#include "reckon/io.h"
#include "support.h"

enum { ROWS = 1500, COLS = 1000 };   /* 6 MB: more than one block */

typedef struct {
  const float *table;   /* (ROWS, COLS) */
  int64_t next;         /* the row the next block must start at */
  int blocks;
  int fail_at;          /* the block that fails, or -1 */
} source;

static rk_status read_rows(void *ctx, void *out, int64_t first, int64_t n) {
  source *s = ctx;
  assert_int_equal(first, s->next);
  assert_true(n >= 1 && first + n <= ROWS);
  assert_true(n * COLS * (int64_t)sizeof(float) <= (4 << 20));
  if (s->blocks++ == s->fail_at) return rk_error(RK_EIO, "the owners could not be reached");
  memcpy(out, s->table + first * COLS, (size_t)(n * COLS) * sizeof(float));
  s->next = first + n;
  return RK_OK;
}

static float *make_table(void) {
  float *t = rk_malloc((size_t)ROWS * COLS * sizeof *t);
  assert_non_null(t);
  for (int64_t i = 0; i < (int64_t)ROWS * COLS; i++) t[i] = (float)(i % 9973) * 0.25f - 7.0f;
  return t;
}

static void test_streamed_equals_memory(void **state) {
  (void)state;
  const char *dir = rk_test_tmpdir("safetensors_stream");
  char whole[1024], streamed[1024];
  snprintf(whole, sizeof whole, "%s/whole.safetensors", dir);
  snprintf(streamed, sizeof streamed, "%s/streamed.safetensors", dir);
  float *table = make_table(), bias[2] = {0.5f, -1.5f};
  const int64_t shape[2] = {ROWS, COLS}, bshape[1] = {2};
  rk_st_tensor t[2] = {{"table", RK_DT_F32, 2, shape, table, NULL, NULL}, {"bias", RK_DT_F32, 1, bshape, bias, NULL, NULL}};
  const char *keys[] = {"format"}, *vals[] = {"reckon"};
  assert_rk_ok(rk_safetensors_write(whole, t, 2, keys, vals, 1));
  source src = {table, 0, 0, -1};
  t[0].data = NULL;
  t[0].read_rows = read_rows;
  t[0].ctx = &src;
  assert_rk_ok(rk_safetensors_write(streamed, t, 2, keys, vals, 1));
  assert_int_equal(src.next, ROWS);   /* every row, once, in order */
  assert_true(src.blocks >= 2);
  char *a, *b;
  size_t na, nb;
  assert_rk_ok(rk_read_file(whole, &a, &na));
  assert_rk_ok(rk_read_file(streamed, &b, &nb));
  assert_int_equal(na, nb);
  assert_memory_equal(a, b, na);
  rk_free(a);
  rk_free(b);
  rk_free(table);
}

static void test_failed_read_keeps_the_old_file(void **state) {
  (void)state;
  const char *dir = rk_test_tmpdir("safetensors_stream_fail");
  char path[1024];
  snprintf(path, sizeof path, "%s/w.safetensors", dir);
  float one = 1.0f;
  const int64_t s1[1] = {1}, shape[2] = {ROWS, COLS};
  rk_st_tensor old = {"old", RK_DT_F32, 1, s1, &one, NULL, NULL};
  assert_rk_ok(rk_safetensors_write(path, &old, 1, NULL, NULL, 0));
  char *before;
  size_t n_before;
  assert_rk_ok(rk_read_file(path, &before, &n_before));
  float *table = make_table();
  source src = {table, 0, 0, 1};   /* the second block fails */
  rk_st_tensor t = {"table", RK_DT_F32, 2, shape, NULL, read_rows, &src};
  assert_int_equal(rk_safetensors_write(path, &t, 1, NULL, NULL, 0), RK_EIO);
  assert_non_null(strstr(rk_error_message(), "could not be reached"));
  char *after;
  size_t n_after;
  assert_rk_ok(rk_read_file(path, &after, &n_after));
  assert_int_equal(n_before, n_after);
  assert_memory_equal(before, after, n_after);
  DIR *d = opendir(dir);
  assert_non_null(d);
  int entries = 0;
  for (struct dirent *e; (e = readdir(d));) entries += e->d_name[0] != '.';
  closedir(d);
  assert_int_equal(entries, 1);   /* no temporary left beside it */
  /* a tensor with neither data nor rows is refused by name */
  rk_st_tensor empty = {"hollow", RK_DT_F32, 1, s1, NULL, NULL, NULL};
  assert_int_equal(rk_safetensors_write(path, &empty, 1, NULL, NULL, 0), RK_EINVAL);
  assert_non_null(strstr(rk_error_message(), "'hollow'"));
  rk_free(before);
  rk_free(after);
  rk_free(table);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_streamed_equals_memory),
      cmocka_unit_test(test_failed_read_keeps_the_old_file),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
