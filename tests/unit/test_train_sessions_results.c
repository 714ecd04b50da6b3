/*
 * The results files of `reckon sessions` byte for byte as recsys_main.py writes them: Python's
 * str() of floats, the per-window blocks of both layouts, pandas' CSV of the results table, and
 * the averages over windows (NaN skipped, as pandas' mean does).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "reckon/train.h"
#include "support.h"

static void test_py_float(void **state) {
  (void)state;
  /* the texts Python 3 prints for str(float(x)) */
  struct {
    double v;
    const char *text;
  } cases[] = {
      {0.25, "0.25"},         {1.0, "1.0"},           {0.1, "0.1"},           {1e-05, "1e-05"},
      {0.0001, "0.0001"},     {1.5e-05, "1.5e-05"},   {123456.0, "123456.0"}, {1e16, "1e+16"},
      {1e15, "1000000000000000.0"}, {-2.5, "-2.5"},   {0.0, "0.0"},           {1.0 / 3, "0.3333333333333333"},
      {2.0 / 3, "0.6666666666666666"}, {123.456, "123.456"}, {5e-324, "5e-324"}, {1.7976931348623157e308, "1.7976931348623157e+308"},
      {0.30000000000000004, "0.30000000000000004"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char buf[64];
    rk_format_py_float(buf, sizeof buf, cases[i].v);
    assert_string_equal(buf, cases[i].text);
  }
  char buf[64];
  rk_format_py_float(buf, sizeof buf, NAN);
  assert_string_equal(buf, "nan");
  /* random doubles read back exactly */
  srand(7);
  for (int i = 0; i < 10000; i++) {
    double v = (double)rand() / RAND_MAX * pow(10, rand() % 40 - 20);
    rk_format_py_float(buf, sizeof buf, v);
    assert_true(strtod(buf, NULL) == v);
  }
}

static char *write_to_string(rk_status (*body)(FILE *, const void *), const void *ctx) {
  char *text = NULL;
  size_t size = 0;
  FILE *f = open_memstream(&text, &size);
  assert_non_null(f);
  assert_rk_ok(body(f, ctx));
  fclose(f);
  return text;
}

static rk_status date_block(FILE *f, const void *m) {
  return rk_session_results_block(f, RK_WINDOWS_DATES, "eval", "2019-10-02", m);
}
static rk_status index_block(FILE *f, const void *m) { return rk_session_results_block(f, RK_WINDOWS_INDEX, "train", "3", m); }

static void test_blocks(void **state) {
  (void)state;
  json_t *m = json_pack("{sfsfsn}", "eval_recall@20", 0.5, "eval_ndcg@20", 0.125, "eval_mrr@20");
  char *text = write_to_string(date_block, m);
  assert_string_equal(text, "\n***** eval results (2019-10-02)*****\neval_mrr@20 = nan\neval_ndcg@20 = 0.125\n"
                            "eval_recall@20 = 0.5\n");
  free(text);
  text = write_to_string(index_block, m);
  assert_string_equal(text, "\n***** train results (time index): 3)*****\neval_mrr@20 = nan\neval_ndcg@20 = 0.125\n"
                            "eval_recall@20 = 0.5\n");
  free(text);
  json_decref(m);
  assert_string_equal(rk_session_results_name(RK_WINDOWS_DATES, 2), "eval_train_results_dates.csv");
  assert_string_equal(rk_session_results_name(RK_WINDOWS_INDEX, 3), "eval_results_avg_over_time.txt");
}

static rk_status csv_body(FILE *f, const void *r) { return rk_session_results_write_csv(f, r); }

static void test_table(void **state) {
  (void)state;
  char labels[3][16] = {"2019-10-02", "2019-10-03", "2019-10-04"};
  json_t *m[3] = {
      json_pack("{sfsf}", "train_recall@20", 0.75, "eval_recall@20", 0.5),
      json_pack("{sfsn}", "train_recall@20", 0.25, "eval_recall@20"),   /* a window without examples */
      json_pack("{sfsf}", "train_recall@20", 0.5, "eval_recall@20", 0.1),
  };
  rk_session_results r = {RK_WINDOWS_DATES, 3, labels, m};
  char *text = write_to_string(csv_body, &r);
  /* pandas: index column, eval columns then train ones, NaN empty */
  assert_string_equal(text, "index,eval_recall@20,train_recall@20\n2019-10-02,0.5,0.75\n2019-10-03,,0.25\n"
                            "2019-10-04,0.1,0.5\n");
  free(text);
  json_t *avg = rk_session_results_average(&r);
  assert_non_null(avg);
  assert_int_equal(json_object_size(avg), 2);
  assert_true(json_real_value(json_object_get(avg, "eval_recall@20_AOD")) == (0.5 + 0.1) / 2);
  assert_true(json_real_value(json_object_get(avg, "train_recall@20_AOD")) == (0.75 + 0.25 + 0.5) / 3);
  char *out = NULL;
  size_t size = 0;
  FILE *f = open_memstream(&out, &size);
  assert_rk_ok(rk_session_results_write_average(f, &r, avg));
  fclose(f);
  assert_string_equal(out, "\n***** Eval results (avg over dates) *****\neval_recall@20_AOD = 0.3\n"
                           "train_recall@20_AOD = 0.5\n");
  free(out);
  json_decref(avg);
  r.layout = RK_WINDOWS_INDEX;
  avg = rk_session_results_average(&r);
  assert_non_null(json_object_get(avg, "eval_recall@20_AOT"));
  json_decref(avg);
  for (int i = 0; i < 3; i++) json_decref(m[i]);
}

static rk_status average_and_free(void *ctx) {
  json_t *avg = rk_session_results_average(ctx);
  json_decref(avg);
  return avg ? RK_OK : RK_ENOMEM;
}

/* The averages' own allocations may fail: NULL, nothing leaked (jansson's are not counted). */
static void test_average_allocation_failures(void **state) {
  (void)state;
  char labels[2][16] = {"1", "2"};
  json_t *m[2] = {json_pack("{sfsf}", "eval_recall@20", 0.5, "train_recall@20", 0.25),
                  json_pack("{sfsf}", "eval_recall@20", 0.75, "train_recall@20", 0.5)};
  rk_session_results r = {RK_WINDOWS_INDEX, 2, labels, m};
  assert_true(rk_test_walk_failures(average_and_free, &r) > 0);
  json_decref(m[0]), json_decref(m[1]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_py_float),
      cmocka_unit_test(test_blocks),
      cmocka_unit_test(test_table),
      cmocka_unit_test(test_average_allocation_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
