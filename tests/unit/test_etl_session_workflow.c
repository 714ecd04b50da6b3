/*
 * The session ETL end to end through the library (src/etl/session_etl.c, session_transform.c,
 * workflow_session.c), on a log small enough to compute by hand: the report's counts, the fitted
 * workflow after a save and load (origin, first-seen times, category mean prices, vocabulary
 * order after dedup), rk_session_transform on the raw events equal to the written rows column by
 * column, and every allocation failure of the transform returning RK_ENOMEM without a leak.
 */
#include "support.h"

#include <math.h>
#include <string.h>

#include "reckon/etl.h"
#include "reckon/parquet.h"

/* 4 sessions (ids 7, 3, 9, 5), out of order; 7 repeats item 10; 5 has one event (dropped). */
static const char *const log_csv =
    "sid,ts,item,cat,price\n"
    "7,2014-04-01T10:00:00Z,10,1,2.0\n"
    "3,2014-04-02T23:00:00Z,20,2,4.0\n"
    "7,2014-04-01T10:00:01Z,10,1,2.0\n"
    "7,2014-04-01T10:00:02Z,30,1,6.0\n"
    "3,2014-04-02T23:30:00Z,10,1,2.0\n"
    "9,2014-04-03T00:10:00Z,30,1,6.0\n"
    "9,2014-04-03T00:20:00Z,40,2,8.0\n"
    "5,2014-04-01T12:00:00Z,20,2,4.0\n"
    "7,2014-04-01T10:00:03Z,10,1,2.0\n";

static void configure(rk_preprocess_config *c, const char *data, const char *out) {
  static const char *const cats[] = {"item", "cat"}, *const conts[] = {"price"};
  static const char *const tf[] = {"et_dayofweek_sin", "product_recency_days_log_norm"};
  rk_preprocess_config_default(c);
  c->data_path = data;
  c->output_path = out;
  c->csv_header = true;
  c->session_id = "sid";
  c->timestamp = "ts";
  c->item_id = "item";
  c->categorical = (rk_names){2, cats};
  c->continuous = (rk_names){1, conts};
  rk_session_options *s = &c->session;
  s->timestamp_format = RK_TS_ISO8601;
  s->dedup_consecutive = true;
  s->max_length = 20;
  s->min_length = 2;
  s->time_features = tf;
  s->n_time_features = 2;
  s->price = "price";
  s->price_category = "cat";
  s->window_s = 86400;
  s->split_fracs[0] = 1;
  s->split_fracs[1] = s->split_fracs[2] = 0;
  s->layout = "day_index";
  s->list_suffix = "_seq";
}

typedef struct {
  rk_workflow wf;
  rk_batch events;
} tx_ctx;

static rk_status transform_once(void *arg) {
  tx_ctx *t = arg;
  rk_batch out = {0};
  rk_status st = rk_session_transform(&t->wf, &t->events, &out);
  rk_batch_free(&out);
  return st;
}

static void test_etl_fit_and_transform(void **state) {
  (void)state;
  const char *dir = rk_test_tmpdir("etl_session_workflow");
  const char *data = rk_test_path(dir, "log.csv");
  rk_test_write_file(data, log_csv);
  char out[1024];
  snprintf(out, sizeof out, "%s", rk_test_path(dir, "out"));
  rk_preprocess_config c;
  configure(&c, data, out);
  json_t *report = NULL;
  assert_rk_ok(rk_preprocess(&c, &report));
  json_t *ev = json_object_get(report, "events"), *ss = json_object_get(report, "sessions");
  assert_int_equal(json_integer_value(json_object_get(ev, "read")), 9);
  assert_int_equal(json_integer_value(json_object_get(ev, "repeats_dropped")), 1);   /* 7's second 10 */
  assert_int_equal(json_integer_value(json_object_get(ss, "written")), 3);
  assert_int_equal(json_integer_value(json_object_get(ss, "dropped_short")), 1);
  assert_int_equal(json_integer_value(json_object_get(report, "windows")), 3);
  json_decref(report);

  tx_ctx t;
  char wf_dir[1100];
  snprintf(wf_dir, sizeof wf_dir, "%s/workflow", out);
  assert_rk_ok(rk_workflow_load(&t.wf, wf_dir));
  const rk_session_workflow *sw = t.wf.session;
  assert_non_null(sw);
  assert_int_equal(sw->origin_s, 1396310400);   /* 2014-04-01T00:00:00Z */
  assert_string_equal(sw->list_suffix, "_seq");
  /* item counts after dedup: 10 x3, 30 x2, 20 x2, 40 x1 -> ids 3 (10), 4 (20, ties by value), 5 (30), 6 (40) */
  const rk_wf_column *item = &t.wf.cols[0];
  assert_string_equal(item->name, "item");
  assert_int_equal(item->cardinality, 7);
  assert_int_equal(rk_dict_int(item->vocab, 0), 10);
  assert_int_equal(rk_dict_int(item->vocab, 1), 20);
  assert_int_equal(rk_dict_int(item->vocab, 2), 30);
  assert_int_equal(item->freq[3], 3);
  /* first seen: item 20 at 2014-04-01T12:00 (session 5, dropped later, still counts) */
  for (int64_t i = 0; i < rk_dict_size(sw->first_seen_values); i++)
    if (rk_dict_int(sw->first_seen_values, i) == 20) assert_int_equal(sw->first_seen_us[i], INT64_C(1396353600) * 1000000);
  /* category mean price over events after dedup: cat 1 = (2 + 6 + 2 + 2 + 6) / 5, cat 2 = (4 + 8 + 4) / 3 */
  for (int64_t i = 0; i < rk_dict_size(sw->category_values); i++) {
    double want = rk_dict_int(sw->category_values, i) == 1 ? 18.0 / 5 : 16.0 / 3;
    assert_true(fabs(sw->category_mean_price[i] - want) < 1e-12);
  }

  /* the transform on the raw events gives the written rows, bit for bit */
  rk_csv_options co;
  rk_csv_options_default(&co);
  assert_rk_ok(rk_csv_read_all(data, &co, &t.events));
  rk_batch got = {0}, want = {0};
  assert_rk_ok(rk_session_transform(&t.wf, &t.events, &got));
  char part[1200];
  snprintf(part, sizeof part, "%s/sessions/part_0.parquet", out);
  rk_parquet_read_options ro;
  rk_parquet_read_options_default(&ro);
  assert_rk_ok(rk_parquet_read_all(part, &ro, &want));
  assert_int_equal(got.nrows, 3);
  assert_int_equal(got.ncols, want.ncols);
  for (int k = 0; k < got.ncols; k++) {
    assert_string_equal(got.cols[k].name, want.cols[k].name);
    if (!rk_column_equal(&got.cols[k], &want.cols[k])) fail_msg("column '%s' differs", got.cols[k].name);
  }
  assert_string_equal(got.cols[1].name, "item-list_seq");
  const int64_t *ids = got.cols[1].child->values;   /* session 3 first: 20 then 10 */
  assert_int_equal(ids[0], 4);
  assert_int_equal(ids[1], 3);
  rk_batch_free(&got);
  rk_batch_free(&want);
  rk_set_num_threads(1);
  rk_test_walk_failures(transform_once, &t);
  rk_set_num_threads(0);
  rk_batch_free(&t.events);
  rk_workflow_free(&t.wf);
}

static void test_refusals(void **state) {
  (void)state;
  const char *dir = rk_test_tmpdir("etl_session_refusals");
  const char *data = rk_test_path(dir, "log.csv");
  rk_test_write_file(data, log_csv);
  char out[1024];
  snprintf(out, sizeof out, "%s", rk_test_path(dir, "out"));
  rk_preprocess_config c;
  configure(&c, data, out);
  c.filter_query = "price > 1";
  assert_int_equal(rk_preprocess(&c, NULL), RK_EUSAGE);
  assert_non_null(strstr(rk_error_message(), "--filter_query does not apply in session mode"));
  configure(&c, data, out);
  c.session.price_category = "item";
  assert_int_equal(rk_preprocess(&c, NULL), RK_EUSAGE);
  configure(&c, data, out);
  c.session.layout = "weekly";
  assert_int_equal(rk_preprocess(&c, NULL), RK_EUSAGE);
  assert_non_null(strstr(rk_error_message(), "'weekly'"));
  rk_workflow plain;
  rk_workflow_init(&plain);
  rk_batch none = {0}, rows = {0};
  assert_int_equal(rk_session_transform(&plain, &none, &rows), RK_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_etl_fit_and_transform),
      cmocka_unit_test(test_refusals),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
