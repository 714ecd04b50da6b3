/*
 * The session ETL's grouping rules (src/etl/session_events.c, session_rows.c) on hand-made events:
 * rows with a null session are dropped; events sort by (session, time, input row) whatever the
 * input order; only consecutive repeats go (a a a b c c a -> a b c a), or none when asked; lists
 * keep the LAST max_length events, pad with 0 on the right when asked; -count is the length
 * before slicing; sessions shorter than min_length go; -first and day_index come from the first
 * event; the output is sorted by session id.
 */
#include "support.h"

#include <string.h>

#include "etl/session_internal.h"

/* Events: session (-1: null), ISO time, item. */
typedef struct {
  int64_t session;
  const char *time;
  int64_t item;
} event;

static void events_batch(rk_batch *b, const event *ev, int n) {
  assert_rk_ok(rk_batch_init(b, 3));
  assert_rk_ok(rk_column_init(&b->cols[0], "s", RK_COL_INT64, RK_COL_INT64));
  assert_rk_ok(rk_column_init(&b->cols[1], "t", RK_COL_STRING, RK_COL_INT64));
  assert_rk_ok(rk_column_init(&b->cols[2], "i", RK_COL_INT64, RK_COL_INT64));
  for (int r = 0; r < n; r++) {
    assert_rk_ok(ev[r].session < 0 ? rk_column_append_null(&b->cols[0]) : rk_column_append_int(&b->cols[0], ev[r].session));
    assert_rk_ok(rk_column_append_string(&b->cols[1], ev[r].time, strlen(ev[r].time)));
    assert_rk_ok(rk_column_append_int(&b->cols[2], ev[r].item));
  }
  b->nrows = n;
}

static rk_session_workflow workflow(bool dedup, int64_t max_length, bool pad, int64_t min_length) {
  rk_session_workflow sw;
  memset(&sw, 0, sizeof sw);
  sw.session_id = (char *)"s";
  sw.timestamp = (char *)"t";
  sw.item_id = (char *)"i";
  sw.list_suffix = (char *)"";
  sw.timestamp_format = RK_TS_ISO8601;
  sw.dedup_consecutive = dedup;
  sw.max_length = max_length;
  sw.pad = pad;
  sw.min_length = min_length;
  sw.window_s = 86400;
  sw.origin_s = 1396310400;   /* 2014-04-01T00:00:00Z */
  return sw;
}

/* Session 5 is a a a b c c a (given out of order), 2 has one event, 9 has two at the same time. */
static const event events[] = {
    {5, "2014-04-02T10:00:03Z", 30}, {5, "2014-04-02T10:00:01Z", 10}, {9, "2014-04-03T08:00:00Z", 70},
    {5, "2014-04-02T10:00:00Z", 10}, {-1, "2014-04-02T10:00:00Z", 10}, {2, "2014-04-01T23:59:59Z", 40},
    {5, "2014-04-02T10:00:02Z", 20}, {5, "2014-04-02T10:00:04Z", 30}, {9, "2014-04-03T08:00:00Z", 80},
    {5, "2014-04-02T10:00:05Z", 10}, {5, "2014-04-02T09:59:59.5Z", 10},
};
#define N_EVENTS ((int)(sizeof events / sizeof *events))

typedef struct {
  rk_batch in, out;
  ss_plan plan;
  ss_records recs;
  rk_dict *dicts[SS_MAX_COLUMNS];
  int64_t kept, min_len, max_len, dropped;
  int64_t remap[16];
} run;

/* Read, sort, dedup and group; item ids are 100 + the item's first-seen index. */
static void group(run *r, const rk_session_workflow *sw) {
  memset(r, 0, sizeof *r);
  events_batch(&r->in, events, N_EVENTS);
  assert_rk_ok(ss_plan_init(&r->plan, sw));
  assert_rk_ok(ss_records_from_batch(&r->recs, &r->plan, &r->in, r->dicts, 0, "events"));
  assert_int_equal(r->recs.null_sessions, 1);
  assert_rk_ok(ss_sort_dedup(&r->plan, &r->recs.data, r->recs.n, &r->kept));
  for (int i = 0; i < 16; i++) r->remap[i] = 100 + i;
  ss_maps maps;
  memset(&maps, 0, sizeof maps);
  maps.remap[0] = r->remap;
  r->min_len = INT64_MAX;
  assert_rk_ok(ss_output_init(&r->plan, NULL, &r->out));
  assert_rk_ok(ss_emit_sessions(&r->plan, &maps, r->recs.data, r->kept, &r->out, &r->min_len, &r->max_len, &r->dropped));
}

static void done(run *r) {
  rk_batch_free(&r->in);
  rk_batch_free(&r->out);
  ss_records_free(&r->recs);
  for (int k = 0; k < SS_MAX_COLUMNS; k++) rk_dict_free(r->dicts[k]);
}

/* Row `row` of the item list as item values (id - 100 -> the dictionary's value). */
static void assert_items(const run *r, int64_t row, const int64_t *want, int n) {
  const rk_column *l = &r->out.cols[1];
  assert_int_equal(l->offsets[row + 1] - l->offsets[row], n);
  for (int k = 0; k < n; k++) {
    int64_t id = ((const int64_t *)l->child->values)[l->offsets[row] + k];
    int64_t item = id == 0 ? 0 : rk_dict_int(r->dicts[0], id - 100);
    if (item != want[k]) fail_msg("row %lld item %d: %lld, expected %lld", (long long)row, k, (long long)item, (long long)want[k]);
  }
}

static void test_dedup_slice_and_order(void **state) {
  (void)state;
  rk_session_workflow sw = workflow(true, 3, false, 2);
  run r;
  group(&r, &sw);
  assert_int_equal(r.kept, 4 + 1 + 2);   /* 5: a b c a (from 7 events), 2: one, 9: two */
  assert_int_equal(r.out.nrows, 2);      /* session 2 is shorter than 2 */
  assert_int_equal(r.dropped, 1);
  assert_string_equal(r.out.cols[1].name, "i-list");
  assert_int_equal(((int64_t *)r.out.cols[0].values)[0], 5);
  assert_int_equal(((int64_t *)r.out.cols[0].values)[1], 9);
  assert_items(&r, 0, (const int64_t[]){20, 30, 10}, 3);   /* the LAST three of a b c a */
  assert_items(&r, 1, (const int64_t[]){70, 80}, 2);       /* equal times: input order */
  assert_int_equal(((int64_t *)r.out.cols[2].values)[0], 4);   /* i-count: before slicing */
  assert_int_equal(((int64_t *)r.out.cols[3].values)[0], 1396432799);   /* t-first: 09:59:59.5 -> whole seconds */
  assert_int_equal(((int64_t *)r.out.cols[4].values)[0], 2);   /* day_index: April 2 */
  assert_int_equal(((int64_t *)r.out.cols[4].values)[1], 3);
  assert_int_equal(r.min_len, 2);
  assert_int_equal(r.max_len, 3);
  done(&r);
}

static void test_no_dedup_pad_and_min_length(void **state) {
  (void)state;
  rk_session_workflow sw = workflow(false, 4, true, 0);
  run r;
  group(&r, &sw);
  assert_int_equal(r.kept, N_EVENTS - 1);
  assert_int_equal(r.out.nrows, 3);
  assert_int_equal(((int64_t *)r.out.cols[0].values)[0], 2);   /* sorted by session id */
  assert_items(&r, 0, (const int64_t[]){40, 0, 0, 0}, 4);        /* padded on the right */
  assert_items(&r, 1, (const int64_t[]){20, 30, 30, 10}, 4);     /* repeats kept: a a a b c c a -> last 4 */
  assert_int_equal(((int64_t *)r.out.cols[2].values)[1], 7);
  assert_int_equal(((int64_t *)r.out.cols[4].values)[0], 1);    /* 23:59:59 of April 1 */
  assert_int_equal(r.min_len, 4);
  assert_int_equal(r.max_len, 4);
  done(&r);
}

static void test_bad_timestamp_names_everything(void **state) {
  (void)state;
  const event bad[] = {{1, "2014-04-02T10:00:00Z", 1}, {1, "2014-04-31T10:00:00Z", 2}};
  rk_batch in = {0};
  events_batch(&in, bad, 2);
  rk_session_workflow sw = workflow(true, 20, false, 2);
  ss_plan plan;
  assert_rk_ok(ss_plan_init(&plan, &sw));
  ss_records recs = {0};
  rk_dict *dicts[SS_MAX_COLUMNS] = {0};
  assert_int_equal(ss_records_from_batch(&recs, &plan, &in, dicts, 100, "clicks.dat"), RK_EPARSE);
  assert_string_equal(rk_error_message(),
                      "cannot parse '2014-04-31T10:00:00Z' as a iso8601 timestamp in 'clicks.dat' row 102, column 't'");
  sw.timestamp_format = RK_TS_UNIX_S;
  assert_rk_ok(ss_plan_init(&plan, &sw));
  assert_int_equal(ss_records_from_batch(&recs, &plan, &in, dicts, 0, "clicks.dat"), RK_EPARSE);
  assert_non_null(strstr(rk_error_message(), "as a unix_s timestamp in 'clicks.dat' row 1"));
  ss_records_free(&recs);
  for (int k = 0; k < SS_MAX_COLUMNS; k++) rk_dict_free(dicts[k]);
  rk_batch_free(&in);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_dedup_slice_and_order),
      cmocka_unit_test(test_no_dedup_pad_and_min_length),
      cmocka_unit_test(test_bad_timestamp_names_everything),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
