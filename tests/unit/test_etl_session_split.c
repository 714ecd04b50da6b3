/*
 * The per-window split of sessions (src/etl/session_split.c): the counts per window under the
 * rounding rule, every session written exactly once and whole, each split sorted by time then
 * input order, the three layouts' names, the schema files beside each split, empty windows and
 * empty splits, a window's split independent of the other windows and of the thread count, the
 * flag parsers, bad inputs, and every allocation failure.
 */
#include "support.h"

#include <dirent.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>

#include "etl/session_split.h"
#include "reckon/parquet.h"

#define ORIGIN INT64_C(1396310400)   /* 2014-04-01T00:00:00Z, YOOCHOOSE's first day */
#define DAY INT64_C(86400)

static const char *const splits[3] = {"train", "valid", "test"};

/* A session's items: a function of its id, to check that rows travel whole. */
static int64_t item_of(int64_t sid, int64_t k) { return sid * 10 + k; }

/* Sessions in two part files, ids 0..n-1 ascending (the ETL's order), window[i] each; times
 * repeat every 5 sessions so that ties are sorted by input order. */
static void write_sessions(const char *dir, const int64_t *window, int64_t n) {
  char path[4400];
  snprintf(path, sizeof path, "%s/.merlin", dir);
  assert_int_equal(mkdir(path, 0755), 0);
  rk_test_write_file(rk_test_path(dir, "schema.pbtxt"), "feature { name: \"session_id\" type: INT }\n");
  rk_test_write_file(rk_test_path(dir, ".merlin/schema.json"), "{\"column_schemas\": {}}\n");
  int64_t half = n / 2;
  for (int part = 0; part < 2; part++) {
    rk_batch b = {0};
    assert_rk_ok(rk_batch_init(&b, 4));
    assert_rk_ok(rk_column_init(&b.cols[0], "session_id", RK_COL_INT64, RK_COL_INT64));
    assert_rk_ok(rk_column_init(&b.cols[1], "day_index", RK_COL_INT32, RK_COL_INT64));
    assert_rk_ok(rk_column_init(&b.cols[2], "timestamp-first", RK_COL_INT64, RK_COL_INT64));
    assert_rk_ok(rk_column_init(&b.cols[3], "item_id-list", RK_COL_LIST, RK_COL_INT64));
    for (int64_t i = part ? half : 0; i < (part ? n : half); i++) {
      assert_rk_ok(rk_column_append_int(&b.cols[0], i));
      assert_rk_ok(rk_column_append_int(&b.cols[1], window[i]));
      assert_rk_ok(rk_column_append_int(&b.cols[2], ORIGIN + (window[i] - 1) * DAY + (4 - i % 5) * 60));
      for (int64_t k = 0; k < 1 + i % 3; k++) assert_rk_ok(rk_column_append_int(b.cols[3].child, item_of(i, k)));
      assert_rk_ok(rk_column_finish_list_row(&b.cols[3]));
      b.nrows++;
    }
    snprintf(path, sizeof path, "%s/part_%d.parquet", dir, part);
    assert_rk_ok(rk_parquet_write(path, &b, NULL));
    rk_batch_free(&b);
  }
}

static rk_session_split_options options(const char *sessions, const char *out, rk_session_layout layout) {
  rk_session_split_options o = {sessions, out, "day_index", "timestamp-first", ORIGIN, DAY, {0.8, 0.1, 0.1}, 42, 2, NULL, layout};
  return o;
}

/* Windows 1, 2, 3, 5, 6 and 70 (4 has none; 6 and 70 share a staging bucket) with 10, 1, 37, 4,
 * 3 and 5 sessions, interleaved as an ETL sorted by session id leaves them. */
#define NSESSIONS 60
static const int64_t sizes[][2] = {{1, 10}, {2, 1}, {3, 37}, {5, 4}, {6, 3}, {70, 5}};
#define NWINDOWS ((int)(sizeof sizes / sizeof *sizes))

static void make_windows(int64_t *window) {
  int64_t left[NWINDOWS] = {0}, i = 0;
  for (int w = 0; w < NWINDOWS; w++) left[w] = sizes[w][1];
  for (int w = 0; i < NSESSIONS; w = (w + 1) % NWINDOWS)
    if (left[w] > 0) {
      left[w]--;
      window[i++] = sizes[w][0];
    }
}

static rk_batch read_file(const char *path) {
  rk_batch b = {0};
  assert_rk_ok(rk_parquet_read_all(path, NULL, &b));
  return b;
}

static bool exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

/* The whole content of a file, for byte comparisons. */
static char *slurp(const char *path, size_t *size) {
  char *data = NULL;
  assert_rk_ok(rk_read_file(path, &data, size));
  return data;
}

static void assert_same_file(const char *a, const char *b) {
  size_t na, nb;
  char *x = slurp(a, &na), *y = slurp(b, &nb);
  if (na != nb || memcmp(x, y, na) != 0) fail_msg("'%s' and '%s' differ", a, b);
  rk_free(x);
  rk_free(y);
}

/* ---- flags and rounding ---- */

static void test_layout_parse(void **state) {
  (void)state;
  const rk_session_layout all[] = {RK_SESSION_LAYOUT_DAY_INDEX, RK_SESSION_LAYOUT_DATE_FILES, RK_SESSION_LAYOUT_PADDED_INDEX};
  const char *names[] = {"day_index", "date_files", "padded_index"};
  for (int i = 0; i < 3; i++) {
    rk_session_layout l;
    assert_rk_ok(rk_session_layout_parse(names[i], &l));
    assert_int_equal(l, all[i]);
    assert_string_equal(rk_session_layout_name(all[i]), names[i]);
  }
  rk_session_layout l;
  assert_int_equal(rk_session_layout_parse("days", &l), RK_EUSAGE);
  assert_non_null(strstr(rk_error_message(), "--session_output_layout"));
  assert_non_null(strstr(rk_error_message(), "'days'"));
}

static void test_counts_round_half_up(void **state) {
  (void)state;
  const double nvt[3] = {0.8, 0.1, 0.1}, half[3] = {0.5, 0.5, 0}, test_only[3] = {0, 0, 1};
  const struct {
    const double *f;
    int64_t n, want[3];
  } cases[] = {
      {nvt, 0, {0, 0, 0}},  {nvt, 1, {1, 0, 0}},       {nvt, 2, {2, 0, 0}},  {nvt, 3, {2, 0, 1}},
      {nvt, 5, {4, 1, 0}},  {nvt, 10, {8, 1, 1}},      {nvt, 37, {30, 4, 3}}, {nvt, 15, {12, 2, 1}},
      {half, 1, {1, 0, 0}}, {half, 3, {2, 1, 0}},      {test_only, 7, {0, 0, 7}},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    int64_t c[3];
    rk_session_split_counts(c, cases[i].n, cases[i].f);
    for (int s = 0; s < 3; s++)
      if (c[s] != cases[i].want[s])
        fail_msg("case %zu (n %lld): %s %lld, expected %lld", i, (long long)cases[i].n, splits[s], (long long)c[s],
                 (long long)cases[i].want[s]);
  }
  for (int64_t n = 0; n < 500; n++) {   /* train and valid within half a session of n * f; all add up */
    int64_t c[3];
    rk_session_split_counts(c, n, nvt);
    assert_int_equal(c[0] + c[1] + c[2], n);
    assert_true(c[0] >= 0 && c[1] >= 0 && c[2] >= 0);
    assert_true(fabs((double)c[0] - 0.8 * (double)n) <= 0.5 + 1e-9);
    assert_true(fabs((double)c[1] - 0.1 * (double)n) <= 0.5 + 1e-9);
  }
}

/* ---- the split ---- */

/* Checks one window's three files in `dir`-style paths: counts, sort order, rows whole; marks
 * each session seen. */
static void check_window(const char *const paths[3], int64_t window, int64_t n, int *seen) {
  int64_t want[3];
  rk_session_split_counts(want, n, (const double[3]){0.8, 0.1, 0.1});
  for (int s = 0; s < 3; s++) {
    rk_batch b = read_file(paths[s]);
    assert_int_equal(b.ncols, 4);   /* an empty split still has every column */
    assert_int_equal(b.cols[3].type, RK_COL_LIST);
    if (b.nrows != want[s])
      fail_msg("window %lld %s: %lld rows, expected %lld", (long long)window, splits[s], (long long)b.nrows, (long long)want[s]);
    for (int64_t r = 0; r < b.nrows; r++) {
      int64_t sid = rk_column_get_int(&b.cols[0], r), t = rk_column_get_int(&b.cols[2], r);
      assert_int_equal(rk_column_get_int(&b.cols[1], r), window);
      assert_int_equal(seen[sid]++, 0);
      const int64_t *off = b.cols[3].offsets, *items = b.cols[3].child->values;
      assert_int_equal(off[r + 1] - off[r], 1 + sid % 3);
      for (int64_t k = off[r]; k < off[r + 1]; k++) assert_int_equal(items[k], item_of(sid, k - off[r]));
      if (r > 0) {   /* by time, then by input order (session id) */
        int64_t prev_t = rk_column_get_int(&b.cols[2], r - 1), prev_sid = rk_column_get_int(&b.cols[0], r - 1);
        assert_true(prev_t < t || (prev_t == t && prev_sid < sid));
      }
    }
    rk_batch_free(&b);
  }
}

static void test_day_index_layout(void **state) {
  (void)state;
  const char *root = rk_test_tmpdir("session_split_day_index");
  char sessions[4200], out[4200];
  snprintf(sessions, sizeof sessions, "%s/sessions", root);
  snprintf(out, sizeof out, "%s/out", root);
  assert_int_equal(mkdir(sessions, 0755), 0);
  assert_int_equal(mkdir(out, 0755), 0);
  int64_t window[NSESSIONS];
  make_windows(window);
  write_sessions(sessions, window, NSESSIONS);
  rk_session_split_options o = options(sessions, out, RK_SESSION_LAYOUT_DAY_INDEX);
  int64_t nw = -1;
  assert_rk_ok(rk_session_split_write(&o, &nw));
  assert_int_equal(nw, NWINDOWS);
  int seen[NSESSIONS] = {0};
  for (int w = 0; w < NWINDOWS; w++) {
    char dir[4300], p[3][4400];
    snprintf(dir, sizeof dir, "%s/%lld", out, (long long)sizes[w][0]);
    for (int s = 0; s < 3; s++) snprintf(p[s], sizeof p[s], "%s/%s.parquet", dir, splits[s]);
    check_window((const char *const[3]){p[0], p[1], p[2]}, sizes[w][0], sizes[w][1], seen);
    assert_same_file(rk_test_path(dir, "schema.pbtxt"), rk_test_path(sessions, "schema.pbtxt"));
    assert_same_file(rk_test_path(dir, ".merlin/schema.json"), rk_test_path(sessions, ".merlin/schema.json"));
  }
  for (int64_t i = 0; i < NSESSIONS; i++) assert_int_equal(seen[i], 1);
  /* No folder for the empty window 4, nothing padded, no staging left. */
  DIR *d = opendir(out);
  assert_non_null(d);
  int entries = 0;
  for (struct dirent *e; (e = readdir(d));) {
    if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2]))) continue;
    entries++;
    assert_true(strcmp(e->d_name, "4") != 0 && e->d_name[0] != '0' && e->d_name[0] != '.');
  }
  closedir(d);
  assert_int_equal(entries, NWINDOWS);
}

static void test_padded_and_date_layouts(void **state) {
  (void)state;
  const char *root = rk_test_tmpdir("session_split_layouts");
  char sessions[4200], padded[4200], dated[4200], hours[4200];
  snprintf(sessions, sizeof sessions, "%s/sessions", root);
  snprintf(padded, sizeof padded, "%s/padded", root);
  snprintf(dated, sizeof dated, "%s/dated", root);
  snprintf(hours, sizeof hours, "%s/hours", root);
  assert_int_equal(mkdir(sessions, 0755), 0);
  assert_int_equal(mkdir(padded, 0755), 0);
  assert_int_equal(mkdir(dated, 0755), 0);
  assert_int_equal(mkdir(hours, 0755), 0);
  int64_t window[NSESSIONS];
  make_windows(window);
  write_sessions(sessions, window, NSESSIONS);

  rk_session_split_options o = options(sessions, padded, RK_SESSION_LAYOUT_PADDED_INDEX);
  assert_rk_ok(rk_session_split_write(&o, NULL));
  int seen[NSESSIONS] = {0};
  for (int w = 0; w < NWINDOWS; w++) {
    char dir[4300], p[3][4400];
    snprintf(dir, sizeof dir, "%s/%04lld", padded, (long long)sizes[w][0]);
    for (int s = 0; s < 3; s++) snprintf(p[s], sizeof p[s], "%s/%s.parquet", dir, splits[s]);
    check_window((const char *const[3]){p[0], p[1], p[2]}, sizes[w][0], sizes[w][1], seen);
    assert_true(exists(rk_test_path(dir, "schema.pbtxt")) && exists(rk_test_path(dir, ".merlin/schema.json")));
  }
  assert_true(exists(rk_test_path(padded, "0070/train.parquet")) && !exists(rk_test_path(padded, "70")));

  /* Days: window 1 is 2014-04-01, window 70 is 69 days later, 2014-06-09. */
  o = options(sessions, dated, RK_SESSION_LAYOUT_DATE_FILES);
  assert_rk_ok(rk_session_split_write(&o, NULL));
  memset(seen, 0, sizeof seen);
  const char *dates[NWINDOWS] = {"2014-04-01", "2014-04-02", "2014-04-03", "2014-04-05", "2014-04-06", "2014-06-09"};
  for (int w = 0; w < NWINDOWS; w++) {
    char p[3][4400];
    for (int s = 0; s < 3; s++) snprintf(p[s], sizeof p[s], "%s/session_start_date=%s-%s.parquet", dated, dates[w], splits[s]);
    check_window((const char *const[3]){p[0], p[1], p[2]}, sizes[w][0], sizes[w][1], seen);
  }
  assert_same_file(rk_test_path(dated, "schema.pbtxt"), rk_test_path(sessions, "schema.pbtxt"));
  assert_same_file(rk_test_path(dated, ".merlin/schema.json"), rk_test_path(sessions, ".merlin/schema.json"));

  /* Hours from 2014-04-01T22: window 3 is 2014-04-02T00, window 70 is 69 hours on, 2014-04-04T19. */
  o = options(sessions, hours, RK_SESSION_LAYOUT_DATE_FILES);
  o.window_s = 3600;
  o.origin_s = ORIGIN + 22 * 3600;
  assert_rk_ok(rk_session_split_write(&o, NULL));
  assert_true(exists(rk_test_path(hours, "session_start_date=2014-04-01T22-train.parquet")));
  assert_true(exists(rk_test_path(hours, "session_start_date=2014-04-02T00-valid.parquet")));
  assert_true(exists(rk_test_path(hours, "session_start_date=2014-04-04T19-test.parquet")));
  assert_false(exists(rk_test_path(hours, "session_start_date=2014-04-02T01-train.parquet")));   /* window 4: empty */
}

/* Every file under a and b (two outputs of the same split) is byte-identical. */
static void assert_same_tree(const char *a, const char *b, const char *const *names, int n) {
  for (int i = 0; i < n; i++) {
    char x[4400], y[4400];
    snprintf(x, sizeof x, "%s/%s", a, names[i]);
    snprintf(y, sizeof y, "%s/%s", b, names[i]);
    assert_same_file(x, y);
  }
}

static void test_same_output_for_any_threads_and_other_windows(void **state) {
  (void)state;
  const char *root = rk_test_tmpdir("session_split_threads");
  char sessions[4200], few[4200], one[4200], four[4200], fewer[4200], reseeded[4200];
  snprintf(sessions, sizeof sessions, "%s/sessions", root);
  snprintf(few, sizeof few, "%s/few", root);
  snprintf(one, sizeof one, "%s/one", root);
  snprintf(four, sizeof four, "%s/four", root);
  snprintf(fewer, sizeof fewer, "%s/fewer", root);
  snprintf(reseeded, sizeof reseeded, "%s/reseeded", root);
  const char *dirs[] = {sessions, few, one, four, fewer, reseeded};
  for (int i = 0; i < 6; i++) assert_int_equal(mkdir(dirs[i], 0755), 0);
  int64_t window[NSESSIONS];
  make_windows(window);
  write_sessions(sessions, window, NSESSIONS);
  rk_session_split_options o = options(sessions, one, RK_SESSION_LAYOUT_DAY_INDEX);
  o.threads = 1;
  assert_rk_ok(rk_set_num_threads(1));
  assert_rk_ok(rk_session_split_write(&o, NULL));
  o.output_dir = four;
  o.threads = 4;
  assert_rk_ok(rk_set_num_threads(4));
  assert_rk_ok(rk_session_split_write(&o, NULL));
  assert_rk_ok(rk_set_num_threads(0));
  const char *names[] = {"1/train.parquet", "1/valid.parquet", "1/test.parquet", "3/train.parquet", "3/valid.parquet",
                         "3/test.parquet",  "6/train.parquet", "70/train.parquet", "70/test.parquet", "2/train.parquet"};
  assert_same_tree(one, four, names, 10);

  /* The same sessions of window 3 without windows 1 and 70 around them: the same files. */
  int64_t kept[NSESSIONS];
  int64_t n = 0;
  for (int64_t i = 0; i < NSESSIONS; i++)
    if (window[i] != 1 && window[i] != 70) kept[n++] = window[i];
  write_sessions(few, kept, n);   /* renumbered ids 0..n-1: compare window 3's ids and order instead */
  o.sessions_path = few;
  o.output_dir = fewer;
  assert_rk_ok(rk_session_split_write(&o, NULL));
  for (int s = 0; s < 3; s++) {
    char x[4400], y[4400];
    snprintf(x, sizeof x, "%s/3/%s.parquet", one, splits[s]);
    snprintf(y, sizeof y, "%s/3/%s.parquet", fewer, splits[s]);
    rk_batch a = read_file(x), b = read_file(y);
    assert_int_equal(a.nrows, b.nrows);
    /* The same sessions, by their rank among window 3's sessions (times follow the renumbered
     * ids, so the order inside a split may differ; the draw may not). */
    uint64_t ranks_a = 0, ranks_b = 0;   /* sets of ranks < 64 as bits */
    for (int64_t r = 0; r < a.nrows; r++) {
      int64_t rank_a = 0, rank_b = 0, sa = rk_column_get_int(&a.cols[0], r), sb = rk_column_get_int(&b.cols[0], r);
      for (int64_t i = 0; i < sa; i++) rank_a += window[i] == 3;
      for (int64_t i = 0; i < sb; i++) rank_b += kept[i] == 3;
      ranks_a |= UINT64_C(1) << rank_a;
      ranks_b |= UINT64_C(1) << rank_b;
    }
    assert_true(ranks_a == ranks_b);
    rk_batch_free(&a);
    rk_batch_free(&b);
  }

  /* Another seed draws another split of window 3's 37 sessions. */
  o.sessions_path = sessions;
  o.output_dir = reseeded;
  o.seed = 43;
  assert_rk_ok(rk_session_split_write(&o, NULL));
  size_t na, nb;
  char *x = slurp(rk_test_path(one, "3/valid.parquet"), &na), *y = slurp(rk_test_path(reseeded, "3/valid.parquet"), &nb);
  assert_true(na != nb || memcmp(x, y, na) != 0);
  rk_free(x);
  rk_free(y);
}

static void test_one_session(void **state) {
  (void)state;
  const char *root = rk_test_tmpdir("session_split_one");
  char sessions[4200], out[4200];
  snprintf(sessions, sizeof sessions, "%s/sessions", root);
  snprintf(out, sizeof out, "%s/out", root);
  assert_int_equal(mkdir(sessions, 0755), 0);
  assert_int_equal(mkdir(out, 0755), 0);
  const int64_t window[1] = {9};
  write_sessions(sessions, window, 1);   /* part_0 has no rows, part_1 the session */
  rk_session_split_options o = options(sessions, out, RK_SESSION_LAYOUT_DAY_INDEX);
  int64_t nw = 0;
  assert_rk_ok(rk_session_split_write(&o, &nw));
  assert_int_equal(nw, 1);
  int seen[1] = {0};
  char p[3][4400];
  for (int s = 0; s < 3; s++) snprintf(p[s], sizeof p[s], "%s/9/%s.parquet", out, splits[s]);
  check_window((const char *const[3]){p[0], p[1], p[2]}, 9, 1, seen);
  assert_int_equal(seen[0], 1);
}

/* ---- bad input ---- */

static void expect_error(const rk_session_split_options *o, rk_status want, const char *needle) {
  int64_t nw = 7;
  rk_status s = rk_session_split_write(o, &nw);
  if (s != want) fail_msg("expected %s, got %s: %s", rk_status_name(want), rk_status_name(s), rk_error_message());
  if (!strstr(rk_error_message(), needle)) fail_msg("'%s' does not say '%s'", rk_error_message(), needle);
  assert_int_equal(nw, 0);
  /* No staging folder left behind. */
  DIR *d = opendir(o->output_dir);
  assert_non_null(d);
  for (struct dirent *e; (e = readdir(d));) assert_null(strstr(e->d_name, ".session-split"));
  closedir(d);
}

static void test_bad_input(void **state) {
  (void)state;
  const char *root = rk_test_tmpdir("session_split_bad");
  char sessions[4200], zero[4200], out[4200];
  snprintf(sessions, sizeof sessions, "%s/sessions", root);
  snprintf(zero, sizeof zero, "%s/zero", root);
  snprintf(out, sizeof out, "%s/out", root);
  assert_int_equal(mkdir(sessions, 0755), 0);
  assert_int_equal(mkdir(zero, 0755), 0);
  assert_int_equal(mkdir(out, 0755), 0);
  int64_t window[NSESSIONS];
  make_windows(window);
  write_sessions(sessions, window, NSESSIONS);
  rk_session_split_options o = options(sessions, out, RK_SESSION_LAYOUT_DAY_INDEX);

  o.window_column = "day";
  expect_error(&o, RK_ENOTFOUND, "no column 'day'");
  o.window_column = "day_index";
  o.time_column = "item_id-list";
  expect_error(&o, RK_EFORMAT, "column 'item_id-list'");
  o.time_column = "timestamp-first";
  o.fracs[2] = 0.2;
  expect_error(&o, RK_EUSAGE, "sums to 1.1");
  o.fracs[2] = 0.1;
  o.window_s = 7200;
  expect_error(&o, RK_EINVAL, "7200 seconds");
  o.window_s = DAY;
  o.layout = (rk_session_layout)7;
  expect_error(&o, RK_EINVAL, "layout 7");
  o.layout = RK_SESSION_LAYOUT_DAY_INDEX;

  /* A window of 0 in the second file's third row: row 33 of the dataset. */
  window[32] = 0;
  write_sessions(zero, window, NSESSIONS);
  o.sessions_path = zero;
  expect_error(&o, RK_ERANGE, "'day_index' is 0 in");
  assert_non_null(strstr(rk_error_message(), "row 33"));

  /* No schema files. */
  assert_int_equal(remove(rk_test_path(sessions, ".merlin/schema.json")), 0);
  o.sessions_path = sessions;
  expect_error(&o, RK_EIO, "schema.json");

  /* A year past 9999 in date_files. */
  rk_test_write_file(rk_test_path(sessions, ".merlin/schema.json"), "{}\n");
  o.layout = RK_SESSION_LAYOUT_DATE_FILES;
  o.origin_s = INT64_C(253402300800) - DAY;   /* 9999-12-31: window 2 is in year 10000 */
  expect_error(&o, RK_ERANGE, "year 10000");
}

/* ---- allocation failures ---- */

typedef struct {
  char sessions[4200], out[4200];
} walk_ctx;

static rk_status run_split(void *arg) {
  walk_ctx *c = arg;
  rk_session_split_options o = options(c->sessions, c->out, RK_SESSION_LAYOUT_DATE_FILES);
  o.threads = 1;
  return rk_session_split_write(&o, NULL);
}

static void test_every_allocation_failure(void **state) {
  (void)state;
  const char *root = rk_test_tmpdir("session_split_alloc");
  walk_ctx c;
  snprintf(c.sessions, sizeof c.sessions, "%s/sessions", root);
  snprintf(c.out, sizeof c.out, "%s/out", root);
  assert_int_equal(mkdir(c.sessions, 0755), 0);
  assert_int_equal(mkdir(c.out, 0755), 0);
  const int64_t window[4] = {1, 2, 1, 66};   /* 2 and 66 share a bucket */
  write_sessions(c.sessions, window, 4);
  assert_rk_ok(rk_set_num_threads(1));
  assert_true(rk_test_walk_failures(run_split, &c) > 0);
  assert_rk_ok(rk_set_num_threads(0));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_layout_parse),
      cmocka_unit_test(test_counts_round_half_up),
      cmocka_unit_test(test_day_index_layout),
      cmocka_unit_test(test_padded_and_date_layouts),
      cmocka_unit_test(test_same_output_for_any_threads_and_other_windows),
      cmocka_unit_test(test_one_session),
      cmocka_unit_test(test_bad_input),
      cmocka_unit_test(test_every_allocation_failure),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
