/*
 * Categorify of a list (multi-hot) column (docs/preprocess.md, NVTabular's Categorify on a list
 * column): rk_preprocess on a small Parquet input whose lists are written here, so every id is
 * known by hand:
 *   - one vocabulary over all the lists' values, counted per value (not per row), ordered by
 *     count then value, values rarer than --categ_min_freq_capping mapped to 2, and their count
 *     in id 2's frequency;
 *   - empty lists stay empty, a null row becomes an empty list, a null element id 1 (a CSV input:
 *     reckon's Parquet writer writes no null element);
 *   - the schema's value_count (min, max), is_list and is_ragged, and the workflow's round trip;
 *   - rk_workflow_transform (the code serving runs) on lists: a batch slice whose offsets do not
 *     start at 0, values of another int width, a column that is not a list (refused by name), and
 *     every allocation failure.
 * The end-to-end run (DuckDB agreement, train, serve) is tests/e2e/serve_lists.sh.
 */
#include <string.h>

#include "reckon/etl.h"
#include "reckon/parquet.h"
#include "reckon/schema.h"
#include "support.h"

#define NAMES(...) ((rk_names){sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *), \
                               (const char *const[]){__VA_ARGS__}})

/* A list column from rows of values, -1 ending a row, -2 a null row, -3 the end. */
static void list_column(rk_column *c, const char *name, rk_coltype elem, const int64_t *spec) {
  assert_rk_ok(rk_column_init(c, name, RK_COL_LIST, elem));
  for (const int64_t *v = spec; *v != -3; v++) {
    if (*v == -2) {
      assert_rk_ok(rk_column_append_null(c));
      v++;   /* its -1 */
    } else if (*v == -1) {
      assert_rk_ok(rk_column_finish_list_row(c));
    } else {
      assert_rk_ok(rk_column_append_int(c->child, *v));
    }
  }
}

/* tags: [5, 7, 5], [], null, [7, 9], [5], [11]; click: 0 1 0 1 0 1.
 * Counts per value: 5 x3, 7 x2, 9 x1, 11 x1. With min_freq 2: 5 -> 3, 7 -> 4; 9, 11 -> 2. */
static const int64_t tags_in[] = {5, 7, 5, -1, -1, -2, -1, 7, 9, -1, 5, -1, 11, -1, -3};
static const int64_t tags_out[] = {3, 4, 3, -1, -1, -1, 4, 2, -1, 3, -1, 2, -1, -3};

static void write_input(const char *path) {
  rk_batch b = {0};
  assert_rk_ok(rk_batch_init(&b, 2));
  list_column(&b.cols[0], "tags", RK_COL_INT64, tags_in);
  assert_rk_ok(rk_column_init(&b.cols[1], "click", RK_COL_INT32, RK_COL_INT32));
  for (int r = 0; r < 6; r++) assert_rk_ok(rk_column_append_int(&b.cols[1], r % 2));
  b.nrows = 6;
  rk_parquet_write_options o;
  rk_parquet_write_options_default(&o);
  assert_rk_ok(rk_parquet_write(path, &b, &o));
  rk_batch_free(&b);
}

static void preprocess(const char *dir, char *out, size_t size) {
  char in[1024];
  snprintf(in, sizeof in, "%s/in.parquet", dir);
  snprintf(out, size, "%s/out", dir);
  write_input(in);
  rk_preprocess_config c;
  rk_preprocess_config_default(&c);
  c.data_path = in;
  c.input_format = "parquet";
  c.output_path = out;
  c.categorical = NAMES("tags");
  c.binary_targets = NAMES("click");
  c.categ_min_freq_capping = 2;
  c.output_num_partitions = 1;
  assert_rk_ok(rk_preprocess(&c, NULL));
}

static void assert_list_equal(const rk_column *got, const int64_t *spec) {
  rk_column want = {0};
  list_column(&want, "tags", RK_COL_INT64, spec);
  assert_int_equal(got->type, RK_COL_LIST);
  assert_int_equal(got->length, want.length);
  assert_int_equal(got->null_count, 0);
  for (int64_t r = 0; r <= want.length; r++) assert_int_equal(got->offsets[r] - got->offsets[0], want.offsets[r]);
  for (int64_t k = 0; k < want.child->length; k++)
    assert_int_equal(rk_column_get_int(got->child, got->offsets[0] + k), rk_column_get_int(want.child, k));
  rk_column_free(&want);
}

static void test_preprocess_lists(void **state) {
  (void)state;
  const char *dir = rk_test_tmpdir("etl_list_categorify");
  char out[1024], path[1200];
  preprocess(dir, out, sizeof out);
  rk_batch b = {0};
  snprintf(path, sizeof path, "%s/train/part_0.parquet", out);
  assert_rk_ok(rk_parquet_read_all(path, NULL, &b));
  int t = rk_batch_find(&b, "tags");
  assert_true(t >= 0);
  assert_int_equal(b.cols[t].child->type, RK_COL_INT64);
  assert_list_equal(&b.cols[t], tags_out);
  rk_batch_free(&b);

  /* the vocabulary file: ids 0, 1 (nulls: none inside lists), 2 (the rare values' count), 3.. */
  snprintf(path, sizeof path, "%s/workflow/categories/unique.tags.parquet", out);
  assert_rk_ok(rk_parquet_read_all(path, NULL, &b));
  assert_int_equal(b.nrows, 5);
  const int64_t freq[] = {0, 0, 2, 3, 2}, value[] = {0, 0, 0, 5, 7};
  for (int i = 0; i < 5; i++) {
    assert_int_equal(rk_column_get_int(&b.cols[1], i), freq[i]);
    assert_int_equal(rk_column_is_null(&b.cols[0], i), i < 3);
    if (i >= 3) assert_int_equal(rk_column_get_int(&b.cols[0], i), value[i]);
  }
  rk_batch_free(&b);

  /* the schema: a ragged list of 0 to 3 ids */
  rk_schema s;
  snprintf(path, sizeof path, "%s/train/schema.pbtxt", out);
  assert_rk_ok(rk_schema_read(&s, path));
  const rk_schema_column *sc = rk_schema_find(&s, "tags");
  assert_non_null(sc);
  assert_true(sc->is_list && sc->is_ragged && sc->value_count.present);
  assert_int_equal(sc->value_count.min, 0);
  assert_int_equal(sc->value_count.max, 3);
  assert_int_equal(sc->int_domain.max, 4);
  rk_schema_free(&s);
}

/* Null elements (DuckDB's NULL inside a CSV list, a Parquet list's null element) get the null id
 * 1, as NVTabular encodes them, keep their place in the list, and are id 1's frequency. */
static void test_null_elements(void **state) {
  (void)state;
  const char *dir = rk_test_tmpdir("etl_list_nulls");
  char in[1024], out[1024], path[1200];
  snprintf(in, sizeof in, "%s/in.csv", dir);
  snprintf(out, sizeof out, "%s/out", dir);
  rk_test_write_file(in, "tags,click\n\"[5, NULL, 5]\",0\n[],1\n\"[NULL]\",0\n\"[7, 5]\",1\n");
  rk_preprocess_config c;
  rk_preprocess_config_default(&c);
  c.data_path = in;
  c.input_format = "csv";
  c.csv_list_columns = NAMES("tags");
  c.output_path = out;
  c.categorical = NAMES("tags");
  c.binary_targets = NAMES("click");
  c.output_num_partitions = 1;
  assert_rk_ok(rk_preprocess(&c, NULL));
  /* 5 x3 -> 3, 7 x1 -> 4 */
  static const int64_t want[] = {3, 1, 3, -1, -1, 1, -1, 4, 3, -1, -3};
  rk_batch b = {0};
  snprintf(path, sizeof path, "%s/train/part_0.parquet", out);
  assert_rk_ok(rk_parquet_read_all(path, NULL, &b));
  assert_list_equal(&b.cols[rk_batch_find(&b, "tags")], want);
  rk_batch_free(&b);
  snprintf(path, sizeof path, "%s/workflow/categories/unique.tags.parquet", out);
  assert_rk_ok(rk_parquet_read_all(path, NULL, &b));
  assert_int_equal(rk_column_get_int(&b.cols[1], 1), 2);   /* two null elements */
  rk_batch_free(&b);

  /* the serving transform too: [NULL, 9, 7] -> [1, 2, 4] */
  rk_workflow wf;
  snprintf(path, sizeof path, "%s/workflow", out);
  assert_rk_ok(rk_workflow_load(&wf, path));
  assert_int_equal(wf.cols[0].list_max, 3);
  rk_batch raw = {0}, res = {0};
  assert_rk_ok(rk_batch_init(&raw, 1));
  static const int64_t values[] = {9, 7};
  rk_column_free(&raw.cols[0]);
  assert_rk_ok(rk_column_init(&raw.cols[0], "tags", RK_COL_LIST, RK_COL_INT64));
  assert_rk_ok(rk_column_append_null(raw.cols[0].child));
  for (int k = 0; k < 2; k++) assert_rk_ok(rk_column_append_int(raw.cols[0].child, values[k]));
  assert_rk_ok(rk_column_finish_list_row(&raw.cols[0]));
  raw.nrows = 1;
  assert_rk_ok(rk_workflow_transform(&wf, &raw, &res));
  assert_list_equal(&res.cols[0], (const int64_t[]){1, 2, 4, -1, -3});
  rk_batch_free(&res);
  rk_batch_free(&raw);
  rk_workflow_free(&wf);
}

/* ---- the transform serving runs ---- */

typedef struct {
  const rk_workflow *wf;
  const rk_batch *in;
} transform_args;

static rk_status run_transform(void *ctx) {
  transform_args *a = ctx;
  rk_batch out = {0};
  rk_status st = rk_workflow_transform(a->wf, a->in, &out);
  rk_batch_free(&out);
  return st;
}

static void test_transform_lists(void **state) {
  (void)state;
  const char *dir = rk_test_tmpdir("etl_list_transform");
  char out[1024], path[1200];
  preprocess(dir, out, sizeof out);
  rk_workflow wf;
  snprintf(path, sizeof path, "%s/workflow", out);
  assert_rk_ok(rk_workflow_load(&wf, path));
  const rk_wf_column *c = &wf.cols[0];
  assert_true(c->is_list);
  assert_int_equal(c->list_min, 0);
  assert_int_equal(c->list_max, 3);

  /* int32 values (a request's width, not the file's), and a slice: rows 1.. of a batch */
  static const int64_t raw[] = {1, 2, -1, 9, 5, -1, -1, 42, 7, 7, -1, -3};
  static const int64_t ids[] = {2, 3, -1, -1, 2, 4, 4, -1, -3};
  rk_column whole = {0};
  list_column(&whole, "tags", RK_COL_INT32, raw);
  rk_batch in = {0};
  assert_rk_ok(rk_batch_init(&in, 1));
  rk_column_free(&in.cols[0]);
  assert_rk_ok(rk_column_init(&in.cols[0], "tags", RK_COL_LIST, RK_COL_INT32));
  assert_rk_ok(rk_column_append_column(&in.cols[0], &whole, 0, whole.length));
  in.cols[0].offsets++;   /* a view starting at row 1: offsets[0] is 2, not 0 */
  in.cols[0].length--;
  in.nrows = in.cols[0].length;
  rk_batch res = {0};
  assert_rk_ok(rk_workflow_transform(&wf, &in, &res));
  assert_int_equal(res.nrows, 3);
  assert_string_equal(res.cols[0].name, "tags");
  assert_list_equal(&res.cols[0], ids);
  rk_batch_free(&res);

  transform_args a = {&wf, &in};
  assert_true(rk_test_walk_failures(run_transform, &a) > 0);

  /* a column that is not a list is refused, naming it */
  rk_batch flat = {0};
  assert_rk_ok(rk_batch_init(&flat, 1));
  rk_column_free(&flat.cols[0]);
  assert_rk_ok(rk_column_init(&flat.cols[0], "tags", RK_COL_INT64, RK_COL_INT64));
  assert_rk_ok(rk_column_append_int(&flat.cols[0], 5));
  flat.nrows = 1;
  assert_int_equal(rk_workflow_transform(&wf, &flat, &res), RK_EINVAL);
  assert_non_null(strstr(rk_error_message(), "column 'tags'"));
  assert_non_null(strstr(rk_error_message(), "as a list"));

  in.cols[0].offsets--;
  in.cols[0].length++;
  rk_batch_free(&flat);
  rk_batch_free(&in);
  rk_column_free(&whole);
  rk_workflow_free(&wf);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_preprocess_lists),
      cmocka_unit_test(test_transform_lists),
      cmocka_unit_test(test_null_elements),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
