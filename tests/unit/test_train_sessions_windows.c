/*
 * The time windows of `reckon sessions`: dates (calendar arithmetic across months and leap days),
 * window folders padded, unpadded and mixed, the last window found when no final index is given,
 * the training range of --no_incremental_training, and errors that name the flag and the path.
 */
#include <string.h>
#include <sys/stat.h>

#include "reckon/train.h"
#include "support.h"

static void touch(const char *dir, const char *name) { rk_test_write_file(rk_test_path(dir, name), "x"); }

static void test_dates(void **state) {
  (void)state;
  int64_t d;
  assert_rk_ok(rk_parse_date("1970-01-01", "--start_date", &d));
  assert_int_equal(d, 0);
  assert_rk_ok(rk_parse_date("2019-10-01", "--start_date", &d));
  assert_int_equal(d, 18170);   /* date -d 2019-10-01 +%s / 86400 */
  char text[16];
  rk_format_date(text, d);
  assert_string_equal(text, "2019-10-01");
  /* every day of four years (a leap year among them) round-trips and follows the one before */
  int64_t prev;
  assert_rk_ok(rk_parse_date("2019-12-31", "--x", &prev));
  for (int64_t day = prev + 1; day < prev + 4 * 366; day++) {
    rk_format_date(text, day);
    int64_t back;
    assert_rk_ok(rk_parse_date(text, "--x", &back));
    assert_int_equal(back, day);
  }
  rk_format_date(text, prev + 60);
  assert_string_equal(text, "2020-02-29");
  const char *bad[] = {"2019-02-29", "2019-13-01", "2019-1-01", "20191001", "2019-10-01x", "2019-00-10", ""};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    assert_int_equal(rk_parse_date(bad[i], "--end_date", &d), RK_EUSAGE);
    assert_non_null(strstr(rk_error_message(), "--end_date"));
  }
}

static void test_date_layout(void **state) {
  (void)state;
  const char *dir = rk_test_tmpdir("sessions_windows_dates");
  const char *days[] = {"2019-09-30", "2019-10-01"};
  for (int i = 0; i < 2; i++)
    for (int s = 0; s < 3; s++) {
      static const char *const split[] = {"train", "valid", "test"};
      char name[96];
      snprintf(name, sizeof name, "session_start_date=%s-%s.parquet", days[i], split[s]);
      touch(dir, name);
    }
  rk_session_window_options o = {dir, "2019-09-30", "2019-10-01", 1, -1, 4, true, true, false};
  rk_session_windows w;
  assert_rk_ok(rk_session_windows_find(&w, &o));
  assert_int_equal(w.layout, RK_WINDOWS_DATES);
  assert_int_equal(w.n, 2);
  assert_string_equal(w.w[0].label, "2019-09-30");
  assert_string_equal(w.w[1].label, "2019-10-01");
  assert_string_equal(w.w[1].valid, rk_test_path(dir, "session_start_date=2019-10-01-valid.parquet"));
  rk_session_windows_free(&w);

  /* a missing training day names it, the flags and the path */
  o.end_date = "2019-10-02";
  assert_int_equal(rk_session_windows_find(&w, &o), RK_EUSAGE);
  assert_non_null(strstr(rk_error_message(), "session_start_date=2019-10-02-valid.parquet"));
  assert_non_null(strstr(rk_error_message(), "--end_date 2019-10-02"));
  assert_null(w.w);
  o.end_date = "2019-09-30";
  assert_int_equal(rk_session_windows_find(&w, &o), RK_EUSAGE);
  assert_non_null(strstr(rk_error_message(), "not after --start_date"));
  o.end_date = NULL;
  assert_int_equal(rk_session_windows_find(&w, &o), RK_EUSAGE);
  assert_non_null(strstr(rk_error_message(), "--start_date is given without --end_date"));
  o.end_date = "2019-10-32";
  assert_int_equal(rk_session_windows_find(&w, &o), RK_EUSAGE);
  assert_non_null(strstr(rk_error_message(), "'2019-10-32' for --end_date"));
}

static void test_index_layout(void **state) {
  (void)state;
  const char *dir = rk_test_tmpdir("sessions_windows_index");
  /* 0001 padded, 2 and 3 unpadded (the session ETL's day_index folders), 5 after a gap */
  const char *folders[] = {"0001", "2", "3", "5"};
  for (int i = 0; i < 4; i++) {
    char sub[256];
    snprintf(sub, sizeof sub, "%s/%s", dir, folders[i]);
    assert_rk_ok(rk_mkdir_p(sub));
    touch(sub, "train.parquet");
    touch(sub, "valid.parquet");
    if (i != 2) touch(sub, "test.parquet");
  }
  rk_session_window_options o = {dir, NULL, NULL, 1, -1, 4, true, true, false};
  rk_session_windows w;
  assert_rk_ok(rk_session_windows_find(&w, &o));   /* 1..3: the gap ends the windows found */
  assert_int_equal(w.layout, RK_WINDOWS_INDEX);
  assert_int_equal(w.n, 3);
  assert_string_equal(w.w[0].label, "1");
  assert_string_equal(w.w[0].train, rk_test_path(dir, "0001/train.parquet"));
  assert_string_equal(w.w[2].valid, rk_test_path(dir, "3/valid.parquet"));
  rk_session_windows_free(&w);

  o.eval_on_test_set = true;   /* window 3 has no test set */
  assert_int_equal(rk_session_windows_find(&w, &o), RK_EUSAGE);
  assert_non_null(strstr(rk_error_message(), "3/test.parquet"));
  assert_non_null(strstr(rk_error_message(), "--eval_on_test_set"));
  o.need_eval = false;   /* training only: test sets are not read */
  assert_rk_ok(rk_session_windows_find(&w, &o));
  rk_session_windows_free(&w);

  o.final_index = 5;   /* window 4 is missing */
  o.need_eval = true, o.eval_on_test_set = false;
  assert_int_equal(rk_session_windows_find(&w, &o), RK_EUSAGE);
  assert_non_null(strstr(rk_error_message(), "0004/train.parquet"));
  assert_non_null(strstr(rk_error_message(), "window 4"));
  o.start_index = 5;
  assert_int_equal(rk_session_windows_find(&w, &o), RK_EUSAGE);
  assert_non_null(strstr(rk_error_message(), "--final_time_window_index 5 is not after"));
  o.data_path = rk_test_path(dir, "absent");
  assert_int_equal(rk_session_windows_find(&w, &o), RK_EUSAGE);
  assert_non_null(strstr(rk_error_message(), "--data_path"));
  assert_non_null(strstr(rk_error_message(), "absent"));
}

static rk_status find_and_free(void *ctx) {
  rk_session_windows w;
  rk_status st = rk_session_windows_find(&w, ctx);
  if (st == RK_OK) rk_session_windows_free(&w);
  return st;
}

/* Every allocation of the discovery may fail: RK_ENOMEM, nothing leaked (both layouts). */
static void test_allocation_failures(void **state) {
  (void)state;
  const char *dir = rk_test_tmpdir("sessions_windows_alloc");
  for (int i = 1; i <= 3; i++) {
    char sub[256];
    snprintf(sub, sizeof sub, "%s/%04d", dir, i);
    assert_rk_ok(rk_mkdir_p(sub));
    touch(sub, "train.parquet");
    touch(sub, "valid.parquet");
  }
  touch(dir, "session_start_date=2020-02-28-train.parquet");
  touch(dir, "session_start_date=2020-02-29-valid.parquet");
  rk_session_window_options index = {dir, NULL, NULL, 1, -1, 4, true, true, false};
  assert_true(rk_test_walk_failures(find_and_free, &index) > 0);
  rk_session_window_options dates = {dir, "2020-02-28", "2020-02-29", 1, -1, 4, true, true, false};
  assert_true(rk_test_walk_failures(find_and_free, &dates) > 0);
}

static void test_train_range(void **state) {
  (void)state;
  int first;
  rk_session_train_windows(&first, 4, true, 0);
  assert_int_equal(first, 4);
  rk_session_train_windows(&first, 4, false, 0);   /* every window so far */
  assert_int_equal(first, 0);
  rk_session_train_windows(&first, 4, false, 2);   /* the last two: 3 and 4 */
  assert_int_equal(first, 3);
  rk_session_train_windows(&first, 1, false, 5);   /* fewer than the size so far */
  assert_int_equal(first, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_dates),
      cmocka_unit_test(test_date_layout),
      cmocka_unit_test(test_index_layout),
      cmocka_unit_test(test_allocation_failures),
      cmocka_unit_test(test_train_range),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
