/*
 * Logging and progress (src/core/log.c): rk_log honours levels and prefixes (written to a
 * tmpfile through rk_log_set_stream); progress on a stream that is not a terminal prints nothing
 * for short jobs and plain lines (no carriage returns or escapes) for long ones; --quiet and
 * --progress=never silence it, --progress=always overrides quiet; on a terminal (a pty, when the
 * system has one) it draws a bar in place; rk_progress_mode_parse and its errors.
 * Long jobs are faked, not waited for: rk_progress keeps its clock in public fields, and the test
 * moves start_s and last_draw_s back by 11 seconds.
 */
#include "support.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static FILE *out;

static int setup(void **state) {
  (void)state;
  out = tmpfile();
  if (!out) return -1;
  rk_log_set_stream(out);
  rk_log_set_level(RK_LOG_INFO);
  rk_progress_set_mode(RK_PROGRESS_AUTO);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  rk_log_set_stream(NULL);
  rk_log_set_level(RK_LOG_INFO);
  rk_progress_set_mode(RK_PROGRESS_AUTO);
  fclose(out);
  return 0;
}

/* Everything written so far, then start afresh. */
static const char *take(void) {
  static char buf[16384];
  fflush(out);
  long n = ftell(out);
  rewind(out);
  size_t got = fread(buf, 1, sizeof buf - 1, out);
  assert_int_equal((long)got, n);
  buf[got] = '\0';
  rewind(out);
  assert_int_equal(ftruncate(fileno(out), 0), 0);
  return buf;
}

static void test_log_levels_and_prefixes(void **state) {
  (void)state;
  take();
  rk_log_set_level(RK_LOG_DEBUG);
  assert_int_equal(rk_log_get_level(), RK_LOG_DEBUG);
  rk_debug("d %d", 1);
  rk_info("i %s", "x");
  rk_warn("w");
  rk_log(RK_LOG_ERROR, "e");
  assert_string_equal(take(), "debug: d 1\ni x\nwarning: w\nerror: e\n");

  rk_log_set_level(RK_LOG_INFO);
  rk_debug("hidden");
  rk_info("shown");
  assert_string_equal(take(), "shown\n");

  rk_log_set_level(RK_LOG_WARN);   /* --quiet */
  rk_debug("hidden");
  rk_info("hidden");
  rk_warn("careful");
  rk_log(RK_LOG_ERROR, "bad");
  assert_string_equal(take(), "warning: careful\nerror: bad\n");

  rk_log_set_level(RK_LOG_OFF);
  rk_log(RK_LOG_ERROR, "hidden");
  rk_log(RK_LOG_OFF, "hidden");
  assert_string_equal(take(), "");
  rk_log_set_level(RK_LOG_DEBUG);
  rk_log(RK_LOG_OFF, "OFF is a level, not a message kind");
  assert_string_equal(take(), "");
}

static void test_log_long_line_truncates(void **state) {
  (void)state;
  take();
  char *big = malloc(10000);
  memset(big, 'q', 9999);
  big[9999] = '\0';
  rk_info("%s", big);
  const char *got = take();
  size_t n = strlen(got);
  assert_true(n > 1000 && n < 9999);
  assert_int_equal(got[n - 1], '\n');
  assert_int_equal(got[0], 'q');
  free(big);
}

static void test_progress_mode_parse(void **state) {
  (void)state;
  rk_progress_mode m = RK_PROGRESS_NEVER;
  assert_rk_ok(rk_progress_mode_parse("auto", &m));
  assert_int_equal(m, RK_PROGRESS_AUTO);
  assert_rk_ok(rk_progress_mode_parse("always", &m));
  assert_int_equal(m, RK_PROGRESS_ALWAYS);
  assert_rk_ok(rk_progress_mode_parse("never", &m));
  assert_int_equal(m, RK_PROGRESS_NEVER);
  const char *bad[] = {"", "Always", "sometimes", "never ", "al"};
  for (int i = 0; i < 5; i++) {
    m = RK_PROGRESS_ALWAYS;
    rk_error_clear();
    assert_int_equal(rk_progress_mode_parse(bad[i], &m), RK_EINVAL);
    assert_int_equal(m, RK_PROGRESS_ALWAYS);   /* untouched */
    char quoted[64];
    snprintf(quoted, sizeof quoted, "'%s'", bad[i]);
    assert_non_null(strstr(rk_error_message(), quoted));
    assert_non_null(strstr(rk_error_message(), "auto, always or never"));
  }
}

/* Pretend the job began `secs` seconds ago and last drew then too. */
static void age(rk_progress *p, double secs) {
  p->start_s -= secs;
  p->last_draw_s -= secs;
}

static void test_progress_short_job_silent(void **state) {
  (void)state;
  take();
  rk_progress p;
  rk_progress_begin(&p, "reading", 1000, "rows");
  assert_false(p.tty);
  assert_true(p.active);
  for (int i = 0; i <= 1000; i += 10) rk_progress_update(&p, i);
  rk_progress_end(&p);
  assert_false(p.active);
  assert_string_equal(take(), "");
}

static void test_progress_long_job_plain_lines(void **state) {
  (void)state;
  take();
  rk_progress p;
  rk_progress_begin(&p, "reading", 2000000, "rows");
  age(&p, 11);
  rk_progress_update(&p, 1000000);
  const char *line = take();
  assert_non_null(strstr(line, "reading: 1.00M/2.00M rows (50%), "));
  assert_non_null(strstr(line, "rows/s, ETA "));
  assert_non_null(strstr(line, ", 11.0s\n"));
  assert_null(strchr(line, '\r'));
  assert_null(strchr(line, '\033'));
  assert_int_equal(strchr(line, '\n') - line, (long)strlen(line) - 1);   /* one line */
  /* The next line waits another 10 seconds. */
  rk_progress_update(&p, 1500000);
  assert_string_equal(take(), "");
  rk_progress_end(&p);
  line = take();
  assert_non_null(strstr(line, "reading: 1.50M/2.00M rows (75%)"));
  assert_null(strstr(line, "ETA"));   /* the final line has no ETA */
  rk_progress_end(&p);   /* ending twice prints nothing more */
  assert_string_equal(take(), "");
}

static void test_progress_unknown_total(void **state) {
  (void)state;
  take();
  rk_progress p;
  rk_progress_begin(&p, "scanning", 0, NULL);
  age(&p, 12);
  rk_progress_update(&p, 12345);
  const char *line = take();
  assert_non_null(strstr(line, "scanning: 12.3k"));
  assert_non_null(strstr(line, ", 12.0s\n"));
  assert_null(strchr(line, '%'));
  rk_progress_end(&p);
}

static void test_progress_modes_and_quiet(void **state) {
  (void)state;
  take();
  rk_progress p;
  /* never: silent however long. */
  rk_progress_set_mode(RK_PROGRESS_NEVER);
  rk_progress_begin(&p, "x", 10, "rows");
  assert_false(p.active);
  age(&p, 20);
  rk_progress_update(&p, 5);
  rk_progress_end(&p);
  assert_string_equal(take(), "");
  /* auto under --quiet: silent. */
  rk_progress_set_mode(RK_PROGRESS_AUTO);
  rk_log_set_level(RK_LOG_WARN);
  rk_progress_begin(&p, "x", 10, "rows");
  assert_false(p.active);
  age(&p, 20);
  rk_progress_update(&p, 5);
  rk_progress_end(&p);
  assert_string_equal(take(), "");
  /* always beats --quiet. */
  rk_progress_set_mode(RK_PROGRESS_ALWAYS);
  rk_progress_begin(&p, "x", 10, "rows");
  assert_true(p.active);
  age(&p, 20);
  rk_progress_update(&p, 5);
  assert_non_null(strstr(take(), "x: 5/10 rows (50%)"));
  rk_progress_end(&p);
  take();
  rk_log_set_level(RK_LOG_INFO);
  rk_progress_set_mode(RK_PROGRESS_AUTO);
}

/* On a terminal: redrawn in place (carriage return, bar, erase to end of line). */
static void test_progress_tty_bar(void **state) {
  (void)state;
  int master = posix_openpt(O_RDWR | O_NOCTTY);
  if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0) {
    if (master >= 0) close(master);
    skip();
  }
  FILE *tty = fopen(ptsname(master), "w");
  if (!tty) {
    close(master);
    skip();
  }
  rk_log_set_stream(tty);
  rk_progress p;
  rk_progress_begin(&p, "training", 100, "steps");
  assert_true(p.tty);
  rk_progress_update(&p, 10);   /* too soon to draw */
  p.last_draw_s -= 1;
  rk_progress_update(&p, 50);
  rk_progress_end(&p);
  rk_log_set_stream(out);
  fclose(tty);
  char buf[4096];
  int flags = fcntl(master, F_GETFL);
  fcntl(master, F_SETFL, flags | O_NONBLOCK);
  ssize_t n = read(master, buf, sizeof buf - 1);
  close(master);
  assert_true(n > 0);
  buf[n] = '\0';
  assert_non_null(strstr(buf, "\rtraining [###############...............]  50% 50/100 steps"));
  assert_non_null(strstr(buf, "\033[K"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_log_levels_and_prefixes),
      cmocka_unit_test(test_log_long_line_truncates),
      cmocka_unit_test(test_progress_mode_parse),
      cmocka_unit_test(test_progress_short_job_silent),
      cmocka_unit_test(test_progress_long_job_plain_lines),
      cmocka_unit_test(test_progress_unknown_total),
      cmocka_unit_test(test_progress_modes_and_quiet),
      cmocka_unit_test(test_progress_tty_bar),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
