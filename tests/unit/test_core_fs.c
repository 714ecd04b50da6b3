/*
 * File helpers (src/core/fs.c): rk_write_file_atomic writes then replaces, leaves no temporary
 * behind, and when it fails (missing folder, a folder in the target's place, out of memory) it
 * creates nothing and keeps an existing target intact; rk_read_file returns content, size and a
 * NUL after the end for empty, small, binary and multi-buffer files, and errors naming the path;
 * rk_mkdir_p makes nested folders, accepts existing ones, and fails on a file in the way or an
 * empty path; rk_replace_dir moves a folder into a new or an occupied place, leaving only the new
 * content and no source, and fails naming the source when it is missing. Out-of-memory walks:
 * test_core_failpaths.c.
 */
#include "support.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[4096];

static int setup(void **state) {
  (void)state;
  snprintf(dir, sizeof dir, "%s", rk_test_tmpdir("core_fs"));
  return 0;
}

static const char *in_dir(const char *name) {
  static char slots[4][4300];
  static int next;
  char *p = slots[next++ % 4];
  snprintf(p, 4300, "%s/%s", dir, name);
  return p;
}

static int count_entries(const char *path) {
  DIR *d = opendir(path);
  assert_non_null(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
  closedir(d);
  return n;
}

static void expect_file(const char *path, const void *want, size_t size) {
  char *data;
  size_t n;
  assert_rk_ok(rk_read_file(path, &data, &n));
  assert_int_equal(n, size);
  if (size) assert_memory_equal(data, want, size);
  assert_int_equal(data[n], '\0');
  rk_free(data);
}

static void test_fs_write_then_read(void **state) {
  (void)state;
  rk_test_system("rm -rf '%s' && mkdir -p '%s'", dir, dir);
  const char bin[] = {'a', '\0', 'b', '\n', '\xff', '\0'};
  const char *path = in_dir("bin.dat");
  assert_rk_ok(rk_write_file_atomic(path, bin, sizeof bin));
  expect_file(path, bin, sizeof bin);
  assert_rk_ok(rk_write_file_atomic(path, "", 0));   /* empty */
  expect_file(path, "", 0);
  assert_int_equal(count_entries(dir), 1);   /* no temporary left */
  struct stat sb;
  assert_int_equal(stat(path, &sb), 0);
  assert_int_equal(sb.st_size, 0);
}

static void test_fs_write_replaces_existing(void **state) {
  (void)state;
  rk_test_system("rm -rf '%s' && mkdir -p '%s'", dir, dir);
  const char *path = in_dir("model.json");
  rk_test_write_file(path, "old contents that are longer than the new ones");
  assert_rk_ok(rk_write_file_atomic(path, "new", 3));
  expect_file(path, "new", 3);
  assert_int_equal(count_entries(dir), 1);
}

static void test_fs_write_failures_leave_no_file(void **state) {
  (void)state;
  rk_test_system("rm -rf '%s' && mkdir -p '%s'", dir, dir);
  /* A folder that does not exist: RK_EIO naming the path, nothing created anywhere. */
  const char *missing = in_dir("no/such/folder/out.bin");
  rk_error_clear();
  assert_int_equal(rk_write_file_atomic(missing, "x", 1), RK_EIO);
  assert_non_null(strstr(rk_error_message(), "no/such/folder/out.bin"));
  assert_int_equal(count_entries(dir), 0);

  /* A folder where the file should go: fails, and the folder and its contents survive. */
  const char *target = in_dir("taken");
  assert_rk_ok(rk_mkdir_p(target));
  rk_test_write_file(in_dir("taken/inner.txt"), "inner");
  assert_int_equal(rk_write_file_atomic(target, "x", 1), RK_EIO);
  assert_non_null(strstr(rk_error_message(), "taken"));
  struct stat sb;
  assert_int_equal(stat(target, &sb), 0);
  assert_true(S_ISDIR(sb.st_mode));
  expect_file(in_dir("taken/inner.txt"), "inner", 5);
  assert_int_equal(count_entries(dir), 1);   /* no temporary left beside it */

  /* Out of memory before anything is written: the existing target is untouched. */
  const char *kept = in_dir("kept.txt");
  rk_test_write_file(kept, "precious");
  rk_alloc_fail_after(0);
  assert_int_equal(rk_write_file_atomic(kept, "overwritten", 11), RK_ENOMEM);
  rk_alloc_fail_after(-1);
  expect_file(kept, "precious", 8);
  assert_int_equal(count_entries(dir), 2);
}

static void test_fs_read_sizes_around_buffer_growth(void **state) {
  (void)state;
  rk_test_system("rm -rf '%s' && mkdir -p '%s'", dir, dir);
  const size_t sizes[] = {1, 65534, 65535, 65536, 65537, 131071, 131072, 400000};
  char *buf = malloc(400000);
  for (size_t i = 0; i < 400000; i++) buf[i] = (char)((i * 2654435761u) >> 13);
  for (int k = 0; k < 8; k++) {
    const char *path = in_dir("sized.bin");
    assert_rk_ok(rk_write_file_atomic(path, buf, sizes[k]));
    int64_t live0 = rk_alloc_live_bytes();
    expect_file(path, buf, sizes[k]);
    assert_int_equal(rk_alloc_live_bytes(), live0);
  }
  free(buf);
}

static void test_fs_read_errors(void **state) {
  (void)state;
  rk_test_system("rm -rf '%s' && mkdir -p '%s'", dir, dir);
  int64_t live0 = rk_alloc_live_bytes();
  char *data = (char *)0x1;
  size_t n = 99;
  assert_int_equal(rk_read_file(in_dir("missing.txt"), &data, &n), RK_EIO);
  assert_non_null(strstr(rk_error_message(), "missing.txt"));
  assert_null(data);
  assert_int_equal(n, 0);
  /* A folder is not a file. */
  data = (char *)0x1;
  assert_int_equal(rk_read_file(dir, &data, &n), RK_EIO);
  assert_null(data);
  assert_int_equal(rk_alloc_live_bytes(), live0);
}

static void test_fs_mkdir_p(void **state) {
  (void)state;
  rk_test_system("rm -rf '%s' && mkdir -p '%s'", dir, dir);
  struct stat sb;
  const char *nested = in_dir("a/b/c/d");
  assert_rk_ok(rk_mkdir_p(nested));
  assert_int_equal(stat(nested, &sb), 0);
  assert_true(S_ISDIR(sb.st_mode));
  assert_rk_ok(rk_mkdir_p(nested));            /* existing: fine */
  assert_rk_ok(rk_mkdir_p(in_dir("a/b/")));    /* trailing slash */
  assert_rk_ok(rk_mkdir_p(in_dir("a//e")));    /* doubled slash */
  assert_int_equal(stat(in_dir("a/e"), &sb), 0);
  assert_rk_ok(rk_mkdir_p("/"));
  assert_rk_ok(rk_mkdir_p(dir));

  /* A file in the way, in the middle or at the end. */
  rk_test_write_file(in_dir("file"), "x");
  rk_error_clear();
  assert_int_equal(rk_mkdir_p(in_dir("file/sub/deeper")), RK_EIO);
  assert_non_null(strstr(rk_error_message(), "file/sub"));
  assert_int_equal(stat(in_dir("file"), &sb), 0);
  assert_true(S_ISREG(sb.st_mode));
  assert_int_equal(rk_mkdir_p(in_dir("file")), RK_EIO);
  assert_non_null(strstr(rk_error_message(), "not a folder"));

  /* An empty path names nothing. */
  assert_int_equal(rk_mkdir_p(""), RK_EINVAL);

  /* Relative paths work from the current folder. */
  char cwd[4096];
  assert_non_null(getcwd(cwd, sizeof cwd));
  assert_int_equal(chdir(dir), 0);
  assert_rk_ok(rk_mkdir_p("rel/x"));
  assert_int_equal(chdir(cwd), 0);
  assert_int_equal(stat(in_dir("rel/x"), &sb), 0);
}

static void test_fs_replace_dir(void **state) {
  (void)state;
  rk_test_system("rm -rf '%s' && mkdir -p '%s/new1' '%s/new2'", dir, dir, dir);
  rk_test_write_file(in_dir("new1/a"), "first");
  rk_test_write_file(in_dir("new2/b"), "second");
  struct stat sb;
  /* Into an empty place. */
  assert_rk_ok(rk_replace_dir(in_dir("new1"), in_dir("dst")));
  assert_int_equal(stat(in_dir("new1"), &sb), -1);
  expect_file(in_dir("dst/a"), "first", 5);
  /* Over an existing folder: its old content goes, the source is gone. */
  assert_rk_ok(rk_replace_dir(in_dir("new2"), in_dir("dst")));
  assert_int_equal(stat(in_dir("new2"), &sb), -1);
  assert_int_equal(stat(in_dir("dst/a"), &sb), -1);
  expect_file(in_dir("dst/b"), "second", 6);
  assert_int_equal(count_entries(dir), 1);
  /* A missing source fails, naming it, and keeps the target. */
  rk_error_clear();
  assert_int_equal(rk_replace_dir(in_dir("absent"), in_dir("dst")), RK_EIO);
  assert_non_null(strstr(rk_error_message(), "absent"));
  expect_file(in_dir("dst/b"), "second", 6);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fs_write_then_read),
      cmocka_unit_test(test_fs_write_replaces_existing),
      cmocka_unit_test(test_fs_write_failures_leave_no_file),
      cmocka_unit_test(test_fs_read_sizes_around_buffer_growth),
      cmocka_unit_test(test_fs_read_errors),
      cmocka_unit_test(test_fs_mkdir_p),
      cmocka_unit_test(test_fs_replace_dir),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
