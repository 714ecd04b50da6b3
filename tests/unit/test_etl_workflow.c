/*
 * The fitted workflow on its own: the transform's values (ids, normalised values, target
 * encodings, passthrough), prediction inputs without targets, save/load round trips, the schema
 * it describes, NVTabular's embedding size rule and bad workflow folders.
 */
#include <math.h>
#include <string.h>

#include "reckon/etl.h"
#include "support.h"

static void int_column(rk_column *c, const char *name, rk_coltype t, const int64_t *v, const bool *null, int n) {
  assert_rk_ok(rk_column_init(c, name, t, RK_COL_INT64));
  for (int i = 0; i < n; i++) assert_rk_ok(null && null[i] ? rk_column_append_null(c) : rk_column_append_int(c, v[i]));
}

static void float_column(rk_column *c, const char *name, const double *v, int n) {
  assert_rk_ok(rk_column_init(c, name, RK_COL_FLOAT64, RK_COL_INT64));
  for (int i = 0; i < n; i++) assert_rk_ok(isnan(v[i]) ? rk_column_append_null(c) : rk_column_append_double(c, v[i]));
}

/* A dictionary holding `values` in order. */
static rk_dict *dict_of(const int64_t *values, int n) {
  rk_dict *d;
  assert_rk_ok(rk_dict_create(&d, RK_COL_INT64));
  rk_column c;
  int_column(&c, "v", RK_COL_INT64, values, NULL, n);
  int32_t idx[16];
  assert_rk_ok(rk_dict_insert(d, &c, 0, n, idx));
  rk_column_free(&c);
  return d;
}

/* user: vocabulary 30, 10, 20 (ids 3, 4, 5); x: mean 2, std 4, median fill 1.5;
 * TE_user_click over users 10 and 30; click passed through as a target. */
static void make_workflow(rk_workflow *wf) {
  rk_workflow_init(wf);
  rk_wf_column *c;
  assert_rk_ok(rk_workflow_add(wf, "user", "user", RK_WF_CATEGORIFY, &c));
  c->in_type = RK_COL_INT32;
  c->out_type = RK_COL_INT32;
  c->vocab = dict_of((const int64_t[]){30, 10, 20}, 3);
  c->cardinality = 6;
  c->freq = rk_malloc(6 * sizeof *c->freq);
  memcpy(c->freq, (const int64_t[]){0, 2, 1, 9, 7, 5}, 6 * sizeof *c->freq);
  assert_rk_ok(rk_wf_column_add_tag(c, "user_id"));
  assert_rk_ok(rk_wf_column_add_tag(c, "categorical"));
  assert_rk_ok(rk_workflow_add(wf, "x", "x", RK_WF_NORMALIZE, &c));
  c->in_type = RK_COL_FLOAT64;
  c->out_type = RK_COL_FLOAT32;
  c->fill = RK_FILL_MEDIAN;
  c->fill_value = 1.5;
  c->mean = 2;
  c->std = 4;
  assert_rk_ok(rk_wf_column_add_tag(c, "continuous"));
  assert_rk_ok(rk_workflow_add(wf, "TE_user_click", "user", RK_WF_TARGET_ENCODE, &c));
  c->in_type = RK_COL_INT32;
  c->out_type = RK_COL_FLOAT32;
  c->target = rk_strdup("click");
  c->te_values = dict_of((const int64_t[]){10, 30}, 2);
  c->te_sum = rk_malloc(2 * sizeof *c->te_sum);
  c->te_count = rk_malloc(2 * sizeof *c->te_count);
  c->te_sum[0] = 3, c->te_sum[1] = 1;
  c->te_count[0] = 4, c->te_count[1] = 6;
  c->te_prior = 0.4;
  c->te_smoothing = 10;
  c->te_folds = 5;
  c->te_seed = 42;
  assert_rk_ok(rk_workflow_add(wf, "click", "click", RK_WF_PASSTHROUGH, &c));
  c->in_type = c->out_type = RK_COL_INT8;
  c->is_target = true;
  assert_rk_ok(rk_wf_column_add_tag(c, "binary_classification"));
  assert_rk_ok(rk_wf_column_add_tag(c, "target"));
}

static void make_input(rk_batch *b, bool with_click) {
  assert_rk_ok(rk_batch_init(b, with_click ? 3 : 2));
  int_column(&b->cols[0], "user", RK_COL_INT64, (const int64_t[]){10, 99, 0, 30}, (const bool[]){0, 0, 1, 0}, 4);
  float_column(&b->cols[1], "x", (const double[]){6, NAN, 2, -2}, 4);
  if (with_click) int_column(&b->cols[2], "click", RK_COL_INT64, (const int64_t[]){1, 0, 1, 0}, NULL, 4);
  b->nrows = 4;
}

static void check_output(const rk_batch *out, bool with_click) {
  assert_int_equal(out->ncols, with_click ? 4 : 3);
  assert_string_equal(out->cols[0].name, "user");
  assert_int_equal(out->cols[0].type, RK_COL_INT32);
  const int32_t want_ids[] = {4, 2, 1, 3};   /* 10 -> 4, unseen -> 2 (OOV), null -> 1, 30 -> 3 */
  assert_memory_equal(out->cols[0].values, want_ids, sizeof want_ids);
  const float *x = out->cols[1].values;
  assert_float_equal(x[0], 1.0f, 0);
  assert_float_equal(x[1], -0.125f, 0);   /* null -> median 1.5 */
  assert_float_equal(x[2], 0.0f, 0);
  assert_float_equal(x[3], -1.0f, 0);
  const float *te = out->cols[2].values;
  assert_float_equal(te[0], (float)((3 + 0.4 * 10) / (4 + 10)), 0);
  assert_float_equal(te[1], (float)(0.4 * 10 / 10), 0);
  assert_float_equal(te[2], (float)(0.4 * 10 / 10), 0);
  assert_float_equal(te[3], (float)((1 + 0.4 * 10) / (6 + 10)), 0);
  if (with_click) {
    assert_int_equal(out->cols[3].type, RK_COL_INT8);
    assert_int_equal(rk_column_get_int(&out->cols[3], 0), 1);
  }
}

static void test_transform(void **state) {
  (void)state;
  rk_workflow wf;
  make_workflow(&wf);
  rk_batch in = {0}, out = {0};
  make_input(&in, true);
  assert_rk_ok(rk_workflow_transform(&wf, &in, &out));
  check_output(&out, true);
  rk_batch_free(&in);
  /* Prediction data: no targets, no target columns out. */
  make_input(&in, false);
  assert_rk_ok(rk_workflow_transform(&wf, &in, &out));
  check_output(&out, false);
  /* A missing feature is an error naming it. */
  rk_free(in.cols[1].name);
  in.cols[1].name = rk_strdup("y");
  assert_int_equal(rk_workflow_transform(&wf, &in, &out), RK_ENOTFOUND);
  assert_non_null(strstr(rk_error_message(), "'x'"));
  rk_batch_free(&in);
  rk_batch_free(&out);
  rk_workflow_free(&wf);
}

static void test_save_load(void **state) {
  (void)state;
  const char *dir = rk_test_tmpdir("etl_workflow_save");
  char path[1024];
  snprintf(path, sizeof path, "%s/workflow", dir);
  rk_workflow wf, back;
  make_workflow(&wf);
  assert_rk_ok(rk_workflow_save(&wf, path));
  assert_rk_ok(rk_workflow_save(&wf, path));   /* saving again replaces it */
  assert_rk_ok(rk_workflow_load(&back, path));
  assert_int_equal(back.n_cols, 4);
  assert_int_equal(back.cols[0].cardinality, 6);
  assert_int_equal(back.cols[0].freq[3], 9);
  assert_int_equal(back.cols[1].fill, RK_FILL_MEDIAN);
  assert_true(back.cols[2].te_prior == 0.4);
  assert_string_equal(back.cols[2].target, "click");
  assert_true(back.cols[3].is_target);
  rk_batch in = {0}, a = {0}, b = {0};
  make_input(&in, true);
  assert_rk_ok(rk_workflow_transform(&wf, &in, &a));
  assert_rk_ok(rk_workflow_transform(&back, &in, &b));
  for (int c = 0; c < a.ncols; c++) assert_true(rk_column_equal(&a.cols[c], &b.cols[c]));
  rk_batch_free(&in);
  rk_batch_free(&a);
  rk_batch_free(&b);
  rk_workflow_free(&back);
  rk_workflow_free(&wf);
}

static void test_schema(void **state) {
  (void)state;
  rk_workflow wf;
  make_workflow(&wf);
  rk_schema s;
  assert_rk_ok(rk_workflow_schema(&wf, true, &s));
  assert_int_equal(s.n_cols, 4);
  rk_schema_column *u = rk_schema_find(&s, "user");
  assert_true(u->int_domain.present);
  assert_int_equal(u->int_domain.max, 5);
  assert_true(rk_schema_column_has_tag(u, RK_TAG_USER_ID));
  assert_true(rk_schema_column_has_tag(u, RK_TAG_CATEGORICAL));
  int64_t card, dim;
  assert_true(rk_schema_column_embedding_sizes(u, &card, &dim));
  assert_int_equal(card, 6);
  assert_int_equal(dim, 16);
  assert_string_equal(rk_schema_column_cat_path(u), ".//categories/unique.user.parquet");
  assert_string_equal(rk_schema_find(&s, "user")->dtype_name, "int32");
  assert_true(rk_schema_column_has_tag(rk_schema_find(&s, "click"), RK_TAG_TARGET));
  rk_schema_free(&s);
  assert_rk_ok(rk_workflow_schema(&wf, false, &s));
  assert_int_equal(s.n_cols, 3);
  rk_schema_free(&s);
  rk_workflow_free(&wf);
}

static void test_embedding_dim(void **state) {
  (void)state;
  assert_int_equal(rk_embedding_dim(5), 16);
  assert_int_equal(rk_embedding_dim(1000), 77);       /* round(1.6 * 1000^0.56) */
  assert_int_equal(rk_embedding_dim(397152), 512);
}

static void test_bad_folders(void **state) {
  (void)state;
  const char *dir = rk_test_tmpdir("etl_workflow_bad");
  rk_workflow wf;
  assert_int_not_equal(rk_workflow_load(&wf, dir), RK_OK);
  assert_non_null(strstr(rk_error_message(), "workflow.json"));
  char path[1024];
  snprintf(path, sizeof path, "%s/workflow.json", dir);
  rk_test_write_file(path, "{\"format\": \"something else\"}");
  assert_int_equal(rk_workflow_load(&wf, dir), RK_EFORMAT);
  rk_test_write_file(path, "{\"format\": \"reckon-workflow\", \"version\": 99, \"columns\": []}");
  assert_int_equal(rk_workflow_load(&wf, dir), RK_EUNSUPPORTED);
  rk_test_write_file(path, "{\"format\": \"reckon-workflow\", \"version\": 1, \"columns\": [{\"name\": \"a\", "
                           "\"source\": \"a\", \"op\": \"categorify\", \"in_type\": \"int64\", \"out_type\": \"int64\", "
                           "\"cardinality\": 4, \"categories\": \"categories/missing.parquet\"}]}");
  assert_int_not_equal(rk_workflow_load(&wf, dir), RK_OK);
  rk_test_write_file(path, "{\"format\": \"reckon-workflow\", \"version\": 1, \"columns\": [{\"name\": \"a\", "
                           "\"source\": \"a\", \"op\": \"categorify\", \"in_type\": \"int64\", \"out_type\": \"int64\", "
                           "\"cardinality\": 4, \"categories\": \"../../etc/passwd\"}]}");
  assert_int_equal(rk_workflow_load(&wf, dir), RK_EFORMAT);
  rk_test_write_file(path, "{not json");
  assert_int_equal(rk_workflow_load(&wf, dir), RK_EPARSE);
}

/* Statistics that are not numbers made transform pass raw values through: refused at load; an
 * infinite input is refused at transform (it would come out infinite or NaN). */
static void test_non_finite(void **state) {
  (void)state;
  const char *dir = rk_test_tmpdir("etl_workflow_non_finite");
  char path[1024];
  snprintf(path, sizeof path, "%s/workflow.json", dir);
  const char *bad[] = {"\"mean\": null, \"std\": 1", "\"mean\": 0, \"std\": null", "\"mean\": 0", "\"mean\": 0, \"std\": -1"};
  for (int i = 0; i < 4; i++) {
    char text[1024];
    snprintf(text, sizeof text,
             "{\"format\": \"reckon-workflow\", \"version\": 1, \"columns\": [{\"name\": \"x\", \"source\": \"x\", "
             "\"op\": \"normalize\", \"in_type\": \"float64\", \"out_type\": \"float32\", \"fill\": \"none\", %s}]}",
             bad[i]);
    rk_test_write_file(path, text);
    rk_workflow wf;
    assert_int_equal(rk_workflow_load(&wf, dir), RK_EFORMAT);
    if (!strstr(rk_error_message(), "column 'x' has a mean, std or fill value that is missing or not a finite number"))
      fail_msg("case %d: %s", i, rk_error_message());
  }
  rk_workflow wf;
  make_workflow(&wf);
  rk_batch in = {0}, out = {0};
  make_input(&in, false);
  ((double *)in.cols[1].values)[3] = -INFINITY;
  assert_int_equal(rk_workflow_transform(&wf, &in, &out), RK_ERANGE);
  assert_string_equal(rk_error_message(),
                      "value '-inf' in batch row 4, column 'x' is not a finite number: it cannot be normalised");
  rk_batch_free(&in);
  rk_batch_free(&out);
  rk_workflow_free(&wf);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_transform),   cmocka_unit_test(test_save_load),    cmocka_unit_test(test_schema),
      cmocka_unit_test(test_embedding_dim), cmocka_unit_test(test_bad_folders),
      cmocka_unit_test(test_non_finite),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
