/*
 * Outputs (src/core/output.c): a target is claimed only when absent, empty or marked as the same
 * kind, else refused naming the folder and what it holds (unless overwrite); a file target only
 * when absent; a claimed folder is locked, and a second claim is refused naming the holder's pid;
 * temporaries of dead processes are swept, those of live ones and anything else kept; a set is
 * published together or not at all; a part of a set whose run is not its folder's is refused,
 * naming both runs.
 */
#include "support.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[4096];

static int setup(void **state) {
  (void)state;
  snprintf(dir, sizeof dir, "%s", rk_test_tmpdir("core_output"));
  return 0;
}

static const char *in_dir(const char *name) {
  static char slots[8][4300];
  static int next;
  char *p = slots[next++ % 8];
  snprintf(p, 4300, "%s/%s", dir, name);
  return p;
}

static void fresh(void) { assert_int_equal(rk_test_system("rm -rf '%s' && mkdir -p '%s'", dir, dir), 0); }

static void put(const char *name, const char *text) {
  assert_rk_ok(rk_write_file_atomic(in_dir(name), text, strlen(text)));
}

static bool exists(const char *name) {
  struct stat sb;
  return lstat(in_dir(name), &sb) == 0;
}

static void expect_refused(rk_status st, const char *a, const char *b) {
  assert_int_equal(st, RK_EUSAGE);
  assert_non_null(strstr(rk_error_message(), a));
  if (b) assert_non_null(strstr(rk_error_message(), b));
}

/* A pid that belonged to a process which has exited and been reaped. */
static long dead_pid(void) {
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) _exit(0);
  assert_int_equal(waitpid(pid, NULL, 0), pid);
  return (long)pid;
}

static void test_output_check_dir(void **state) {
  (void)state;
  fresh();
  assert_rk_ok(rk_output_check_dir(in_dir("absent"), "model", false));
  assert_rk_ok(rk_mkdir_p(in_dir("empty")));
  assert_rk_ok(rk_output_check_dir(in_dir("empty"), "model", false));
  /* A folder someone else filled: refused, naming it and what it holds; the flag allows it. */
  assert_rk_ok(rk_mkdir_p(in_dir("data")));
  put("data/part_0.parquet", "PAR1");
  expect_refused(rk_output_check_dir(in_dir("data"), "model", false), "data", "part_0.parquet");
  assert_non_null(strstr(rk_error_message(), "--overwrite"));
  assert_rk_ok(rk_output_check_dir(in_dir("data"), "model", true));
  /* Marked as the same kind: replaceable; as another kind: refused, naming both kinds. */
  assert_rk_ok(rk_mkdir_p(in_dir("model")));
  put("model/model.json", "{}");
  assert_rk_ok(rk_output_mark(in_dir("model"), "model", NULL));
  assert_rk_ok(rk_output_check_dir(in_dir("model"), "model", false));
  expect_refused(rk_output_check_dir(in_dir("model"), "predictions", false), "model", "predictions");
  /* A file where a folder should go. */
  put("file", "x");
  expect_refused(rk_output_check_dir(in_dir("file"), "model", false), "file", "not a folder");
  assert_rk_ok(rk_output_check_dir(in_dir("file"), "model", true));
}

static void test_output_check_file(void **state) {
  (void)state;
  fresh();
  assert_rk_ok(rk_output_check_file(in_dir("p.parquet"), false));
  put("p.parquet", "PAR1");
  expect_refused(rk_output_check_file(in_dir("p.parquet"), false), "p.parquet", "--overwrite");
  assert_rk_ok(rk_output_check_file(in_dir("p.parquet"), true));
  assert_rk_ok(rk_mkdir_p(in_dir("folder.parquet")));
  expect_refused(rk_output_check_file(in_dir("folder.parquet"), true), "folder.parquet", "folder");
}

static void test_output_marker_round_trip(void **state) {
  (void)state;
  fresh();
  rk_output_marker m, back;
  bool found;
  assert_rk_ok(rk_output_read_marker(dir, &back, &found));
  assert_false(found);
  memset(&m, 0, sizeof m);
  snprintf(m.kind, sizeof m.kind, "preprocess");
  rk_output_run_id(m.run);
  rk_output_run_id(m.publishing);
  assert_int_equal(strlen(m.run), 16);
  assert_string_not_equal(m.run, m.publishing);
  assert_rk_ok(rk_output_write_marker(dir, &m));
  assert_rk_ok(rk_output_read_marker(dir, &back, &found));
  assert_true(found);
  assert_string_equal(back.kind, "preprocess");
  assert_string_equal(back.run, m.run);
  assert_string_equal(back.publishing, m.publishing);
}

/* A folder a run only adds named files to: the user's other files are no reason to refuse and
 * stay; one of the run's names, unmarked, is refused; a marked folder of the kind takes the run. */
static void test_output_claim_names(void **state) {
  (void)state;
  fresh();
  static const char *const names[] = {"metrics.json", "report.html", NULL};
  assert_int_equal(rk_test_system("mkdir -p '%s/out' '%s/out/preproc'", dir, dir), 0);
  put("out/notes.txt", "mine");
  rk_output a = {0};
  assert_rk_ok(rk_output_claim_names(&a, in_dir("out"), "train-output", names, false));
  assert_true(a.held && exists("out/notes.txt") && exists("out/preproc"));
  rk_output_release(&a);
  /* The strict form refuses the same folder (its content is not reckon's). */
  rk_output_marker m = {0};
  assert_int_equal(rk_test_system("rm '%s/out/.reckon-output'", dir), 0);
  expect_refused(rk_output_claim(&a, in_dir("out"), "train-output", false), "out", "notes.txt");
  put("out/report.html", "the user's report");
  expect_refused(rk_output_claim_names(&a, in_dir("out"), "train-output", names, false), "out", "report.html");
  assert_false(exists("out/.reckon-lock"));
  assert_rk_ok(rk_output_claim_names(&a, in_dir("out"), "train-output", names, true));   /* --overwrite */
  rk_output_release(&a);
  /* Now marked as a training output: its report is reckon's to replace. */
  assert_rk_ok(rk_output_claim_names(&a, in_dir("out"), "train-output", names, false));
  rk_output_release(&a);
  /* Another kind of reckon output is never written into. */
  snprintf(m.kind, sizeof m.kind, "model");
  assert_rk_ok(rk_output_write_marker(in_dir("out"), &m));
  expect_refused(rk_output_claim_names(&a, in_dir("out"), "train-output", names, false), "model", "train-output");
}

static void test_output_claim_locks(void **state) {
  (void)state;
  fresh();
  rk_output a = {0}, b = {0};
  assert_rk_ok(rk_output_claim(&a, in_dir("out"), "train-output", false));
  assert_true(exists("out/.reckon-lock"));
  rk_output_marker m;
  bool found;
  assert_rk_ok(rk_output_read_marker(in_dir("out"), &m, &found));
  assert_true(found);
  assert_string_equal(m.kind, "train-output");
  /* A second claim (another open file, as another process would have) is refused with our pid. */
  char pid[32];
  snprintf(pid, sizeof pid, "pid %ld", (long)getpid());
  expect_refused(rk_output_claim(&b, in_dir("out"), "train-output", false), "out", pid);
  assert_false(b.held);
  rk_output_release(&b);   /* releasing what was never held is harmless */
  rk_output_release(&a);
  assert_false(exists("out/.reckon-lock"));
  assert_rk_ok(rk_output_claim(&b, in_dir("out"), "train-output", false));
  rk_output_release(&b);
  /* Another kind of output in the folder: refused before anything is locked or written. */
  expect_refused(rk_output_claim(&a, in_dir("out"), "model", false), "train-output", "model");
  assert_false(exists("out/.reckon-lock"));
  /* Undoing the claim of a folder this run made leaves no folder. */
  assert_rk_ok(rk_output_claim(&a, in_dir("new"), "preprocess", false));
  rk_output_unclaim(&a, in_dir("new"));
  assert_false(exists("new"));
}

static void test_output_temp_names(void **state) {
  (void)state;
  char *a = rk_temp_path("x/log.json"), *b = rk_temp_path("x/log.json");
  assert_string_not_equal(a, b);   /* unique per call, not only per process */
  long me = (long)getpid();
  assert_int_equal(rk_output_temp_pid(strrchr(a, '/') + 1), me);
  rk_free(a);
  rk_free(b);
  a = rk_temp_path("x/model/");   /* a folder named with its slash stages beside itself */
  assert_int_equal(strncmp(a, "x/model.tmp.", 12), 0);
  rk_free(a);
  assert_int_equal(rk_output_temp_pid(".reckon-tmp-123"), 123);
  assert_int_equal(rk_output_temp_pid("model.tmp.45"), 45);
  assert_int_equal(rk_output_temp_pid("model.tmp.45.7"), 45);
  assert_int_equal(rk_output_temp_pid("model.tmp-46"), 46);
  assert_int_equal(rk_output_temp_pid("part_0.parquet"), 0);
  assert_int_equal(rk_output_temp_pid("model.tmp.45x"), 0);
  assert_int_equal(rk_output_temp_pid("model.tmp."), 0);
  assert_int_equal(rk_output_temp_pid(".reckon-tmp-"), 0);
  assert_int_equal(rk_output_temp_pid("checkpoint.tmp"), 0);
}

static void test_output_sweep(void **state) {
  (void)state;
  fresh();
  long dead = dead_pid(), live = (long)getppid(), me = (long)getpid();
  char name[128];
  snprintf(name, sizeof name, "train_log.jsonl.tmp.%ld.0", dead);
  put(name, "dead");
  snprintf(name, sizeof name, ".reckon-tmp-%ld/train", dead);
  assert_rk_ok(rk_mkdir_p(in_dir(name)));
  snprintf(name, sizeof name, "metrics.json.tmp.%ld.1", live);
  put(name, "live");
  snprintf(name, sizeof name, "report.html.tmp.%ld.2", me);
  put(name, "mine");
  put("notes.txt", "user");
  assert_rk_ok(rk_output_sweep(dir, NULL));
  snprintf(name, sizeof name, "train_log.jsonl.tmp.%ld.0", dead);
  assert_false(exists(name));
  snprintf(name, sizeof name, ".reckon-tmp-%ld", dead);
  assert_false(exists(name));
  snprintf(name, sizeof name, "metrics.json.tmp.%ld.1", live);
  assert_true(exists(name));
  snprintf(name, sizeof name, "report.html.tmp.%ld.2", me);
  assert_true(exists(name));
  assert_true(exists("notes.txt"));
  /* Beside a target: only that target's temporaries go, not a look-alike of the user's. */
  snprintf(name, sizeof name, "model.tmp.%ld.3", dead);
  assert_rk_ok(rk_mkdir_p(in_dir(name)));
  snprintf(name, sizeof name, "notes.tmp.%ld", dead);
  put(name, "user");
  assert_rk_ok(rk_output_sweep_beside(in_dir("model")));
  snprintf(name, sizeof name, "model.tmp.%ld.3", dead);
  assert_false(exists(name));
  snprintf(name, sizeof name, "notes.tmp.%ld", dead);
  assert_true(exists(name));
}

static void expect_text(const char *name, const char *want) {
  char *data;
  size_t n;
  assert_rk_ok(rk_read_file(in_dir(name), &data, &n));
  assert_string_equal(data, want);
  rk_free(data);
}

static void write_temp(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  assert_int_equal(fclose(f), 0);
}

static void test_output_set(void **state) {
  (void)state;
  fresh();
  put("log", "old log");
  put("metrics", "old metrics");
  /* A run that fails half way (its metrics never written) publishes nothing and leaves nothing. */
  rk_output_set set = {0};
  const char *log, *metrics;
  assert_rk_ok(rk_output_set_add(&set, in_dir("log"), &log));
  assert_rk_ok(rk_output_set_add(&set, in_dir("metrics"), &metrics));
  write_temp(log, "new log");
  rk_output_set_free(&set);
  expect_text("log", "old log");
  expect_text("metrics", "old metrics");
  assert_int_equal(rk_test_system("test $(ls -A '%s' | wc -l) = 2", dir), 0);
  /* A run that completes publishes every file. */
  assert_rk_ok(rk_output_set_add(&set, in_dir("log"), &log));
  assert_rk_ok(rk_output_set_add(&set, in_dir("metrics"), &metrics));
  write_temp(log, "new log");
  write_temp(metrics, "new metrics");
  assert_rk_ok(rk_output_set_publish(&set));
  rk_output_set_free(&set);
  expect_text("log", "new log");
  expect_text("metrics", "new metrics");
  assert_int_equal(rk_test_system("test $(ls -A '%s' | wc -l) = 2", dir), 0);
}

static void test_output_check_set(void **state) {
  (void)state;
  fresh();
  char r1[RK_OUTPUT_ID_SIZE], r2[RK_OUTPUT_ID_SIZE];
  rk_output_run_id(r1);
  rk_output_run_id(r2);
  assert_rk_ok(rk_mkdir_p(in_dir("pp/train")));
  assert_rk_ok(rk_mkdir_p(in_dir("pp/eval")));
  /* Unmarked parts (data from elsewhere, an older reckon) and a part copied out alone pass. */
  assert_rk_ok(rk_output_check_set(in_dir("pp/train")));
  assert_rk_ok(rk_output_mark(in_dir("pp/train"), "dataset", r2));
  assert_rk_ok(rk_output_check_set(in_dir("pp/train")));
  /* One run: passes. */
  assert_rk_ok(rk_output_mark(in_dir("pp/eval"), "dataset", r2));
  assert_rk_ok(rk_output_mark(in_dir("pp"), "preprocess", r2));
  assert_rk_ok(rk_output_check_set(in_dir("pp/train")));
  assert_rk_ok(rk_output_check_set(in_dir("pp/eval/")));
  /* Killed between two moves: the folder still records run 1 and the publish of run 2; the new
   * train/ and the old eval/ are both refused, naming both runs. */
  rk_output_marker m = {{0}, {0}, {0}};
  snprintf(m.kind, sizeof m.kind, "preprocess");
  snprintf(m.run, sizeof m.run, "%s", r1);
  snprintf(m.publishing, sizeof m.publishing, "%s", r2);
  assert_rk_ok(rk_output_write_marker(in_dir("pp"), &m));
  assert_rk_ok(rk_output_mark(in_dir("pp/eval"), "dataset", r1));
  for (int k = 0; k < 2; k++) {
    rk_error_clear();
    assert_int_equal(rk_output_check_set(in_dir(k ? "pp/eval" : "pp/train")), RK_EFORMAT);
    assert_non_null(strstr(rk_error_message(), r1));
    assert_non_null(strstr(rk_error_message(), r2));
  }
  /* A first publish killed half way: no earlier run, still refused. */
  memset(m.run, 0, sizeof m.run);
  assert_rk_ok(rk_output_write_marker(in_dir("pp"), &m));
  assert_int_equal(rk_output_check_set(in_dir("pp/train")), RK_EFORMAT);
  assert_non_null(strstr(rk_error_message(), r2));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_output_check_dir),
      cmocka_unit_test(test_output_check_file),
      cmocka_unit_test(test_output_marker_round_trip),
      cmocka_unit_test(test_output_claim_names),
      cmocka_unit_test(test_output_claim_locks),
      cmocka_unit_test(test_output_temp_names),
      cmocka_unit_test(test_output_sweep),
      cmocka_unit_test(test_output_set),
      cmocka_unit_test(test_output_check_set),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
