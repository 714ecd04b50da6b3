/*
 * rk_preprocess as a library call (docs/preprocess.md):
 *   - the schema it writes, read back with rk_schema_read (both files) and compared structurally
 *     with Merlin's own TenRec schema (tests/data/merlin/tenrec_video.schema.pbtxt);
 *   - out-of-fold target encodings of train rows, value by value, against the folds
 *     (pp_te_fold) and sums computed here;
 *   - the report against the files it describes;
 *   - configuration errors, which leave nothing at the output path.
 * The end-to-end checks of every flag are tests/e2e/preprocess.sh.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "etl/preprocess_internal.h"   /* pp_te_fold: the fold of a train row */
#include "reckon/etl.h"
#include "reckon/io.h"
#include "reckon/parquet.h"
#include "reckon/schema.h"
#include "reckon/synth.h"
#include "support.h"

/* A name list for use within the enclosing block (a compound literal). */
#define NAMES(...) ((rk_names){sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *), \
                               (const char *const[]){__VA_ARGS__}})

/* "<dir>/<rel>" in one of 8 rotating buffers: use it at once. */
static char *path_of(const char *dir, const char *rel) {
  static char slots[8][4096];
  static int next = 0;
  size_t a = strlen(dir), b = strlen(rel);
  if (a + b + 2 > sizeof slots[0]) fail_msg("path too long: %s/%s", dir, rel);
  char tmp[sizeof slots[0]];   /* dir may be an earlier slot */
  memcpy(tmp, dir, a);
  tmp[a] = '/';
  memcpy(tmp + a + 1, rel, b + 1);
  char *p = slots[next++ % 8];
  memcpy(p, tmp, a + b + 2);
  return p;
}

static bool exists(const char *path) { return access(path, F_OK) == 0; }

/* TenRec-like rows as Parquet (nulls in video_category, gender, age). */
static void write_tenrec(const char *path, int64_t rows) {
  rk_synth_tenrec_config cfg;
  rk_synth_tenrec_config_default(&cfg);
  cfg.rows = rows;
  cfg.seed = 5;
  cfg.na_fraction = 0.02;
  rk_sink_options so;
  rk_sink_options_default(&so);
  rk_table_sink *sink;
  assert_rk_ok(rk_sink_open(&sink, path, &so));
  rk_synth_tenrec_stats stats;
  assert_rk_ok(rk_synth_tenrec(sink, &stats, &cfg));
  assert_rk_ok(rk_sink_close(sink));
}

/* The quick-start's seed command, plus the user/item features Merlin's own run tagged. */
static void seed_config(rk_preprocess_config *c, const char *in, const char *out) {
  static const char *const cats[] = {"user_id", "item_id", "video_category", "gender", "age"};
  static const char *const binary[] = {"click", "follow", "like", "share"}, *const regression[] = {"watching_times"};
  static const char *const i32[] = {"user_id", "item_id"}, *const i16[] = {"watching_times"};
  static const char *const i8[] = {"gender", "age", "video_category", "click", "follow", "like", "share"};
  static const char *const user[] = {"gender", "age"}, *const item[] = {"video_category"};
  rk_preprocess_config_default(c);
  c->data_path = in;
  c->input_format = "parquet";
  c->output_path = out;
  c->categorical = (rk_names){5, cats};
  c->binary_targets = (rk_names){4, binary};
  c->regression_targets = (rk_names){1, regression};
  c->to_int32 = (rk_names){2, i32};
  c->to_int16 = (rk_names){1, i16};
  c->to_int8 = (rk_names){7, i8};
  c->user_id = "user_id";
  c->item_id = "item_id";
  c->user_features = (rk_names){2, user};
  c->item_features = (rk_names){1, item};
  c->min_user_freq = 5;
  c->split = RK_SPLIT_RANDOM;
  c->eval_perc = 0.2;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* A column's tags as a sorted, space-separated set (duplicates once). */
static void tag_set(const rk_schema_column *c, char *buf, size_t size) {
  char *tags[64];
  int n = c->n_tags < 64 ? c->n_tags : 64;
  for (int i = 0; i < n; i++) tags[i] = c->tags[i];
  qsort(tags, (size_t)n, sizeof *tags, cmp_str);
  buf[0] = '\0';
  for (int i = 0; i < n; i++) {
    if (i > 0 && strcmp(tags[i], tags[i - 1]) == 0) continue;
    strncat(buf, tags[i], size - strlen(buf) - 2);
    strncat(buf, " ", size - strlen(buf) - 1);
  }
}

static int64_t rows_in(const char *dir) {
  rk_parquet_dataset *ds;
  rk_parquet_read_options o;
  rk_parquet_read_options_default(&o);
  assert_rk_ok(rk_parquet_dataset_open(&ds, dir, &o));
  int64_t n = rk_parquet_dataset_num_rows(ds);
  rk_parquet_dataset_close(ds);
  return n;
}

/*
 * Differences from Merlin's file that are accepted (each one a choice documented in
 * docs/preprocess.md, or data-dependent):
 *   - int_domain max and embedding cardinality depend on the data (the real QK-video against
 *     synthetic rows): compared as relations (reckon: max = cardinality - 1, ids 0 .. max), not as
 *     values. Merlin's file itself has item_id max = cardinality (179280), written by an older
 *     NVTabular.
 *   - Merlin's watching_times carries int_domain {max 5, is_categorical false} (statistics
 *     NVTabular kept for the regression column); reckon writes no domain for columns it passes
 *     through.
 *   - Merlin's start_index is 1 (that run's Categorify(start_index=1)); reckon's ids start at 0
 *     (0 padding, 1 null, 2 out-of-vocabulary), so start_index 0.
 *   - video_category, gender, age are int32 in Merlin's file (NVTabular ignores cast flags on
 *     categorical columns); reckon gives their ids the cast type, int8.
 *   - reckon adds Merlin core's `_dims` property (the column's shape); Merlin's file lacks it.
 * Everything else is equal: the column names (as a set), each column's tags (as a set), INT
 * feature types, int_domain with is_categorical exactly on the categorical columns, every
 * property key of Merlin's file, and the dtypes of the ids and targets.
 */
static void test_schema_matches_merlin(void **state) {
  (void)state;
  const char *dir = rk_test_tmpdir("etl_preprocess_schema");
  char in[4096], out[4096];
  snprintf(in, sizeof in, "%s/tenrec.parquet", dir);
  snprintf(out, sizeof out, "%s/out", dir);
  write_tenrec(in, rk_test_sanitized() ? 4000 : 20000);
  rk_preprocess_config c;
  seed_config(&c, in, out);
  json_t *report = NULL;
  assert_rk_ok(rk_preprocess(&c, &report));

  rk_schema ref, pb, js, ev;
  assert_rk_ok(rk_schema_read(&ref, rk_test_data("merlin/tenrec_video.schema.pbtxt")));
  assert_rk_ok(rk_schema_read(&pb, path_of(out, "train/schema.pbtxt")));
  assert_rk_ok(rk_schema_read(&js, path_of(out, "train/.merlin/schema.json")));
  assert_rk_ok(rk_schema_read(&ev, path_of(out, "eval")));
  char why[512] = "";
  if (!rk_schema_equal(&pb, &js, why, sizeof why)) fail_msg("schema.pbtxt and schema.json differ: %s", why);
  if (!rk_schema_equal(&pb, &ev, why, sizeof why)) fail_msg("train/ and eval/ schemas differ: %s", why);

  assert_int_equal(pb.n_cols, ref.n_cols);
  for (int i = 0; i < ref.n_cols; i++) {
    const rk_schema_column *r = &ref.cols[i], *o = rk_schema_find(&pb, r->name);
    if (!o) fail_msg("reckon's schema lacks Merlin's column '%s'", r->name);
    char want[512], got[512];
    tag_set(r, want, sizeof want);
    tag_set(o, got, sizeof got);
    if (strcmp(want, got) != 0) fail_msg("column '%s': tags {%s} where Merlin has {%s}", r->name, got, want);
    assert_int_equal(o->ftype, r->ftype);
    assert_int_equal(o->ftype, RK_SCHEMA_TYPE_INT);
    assert_false(o->is_list);
    bool categorical = r->int_domain.present && r->int_domain.is_categorical;
    assert_int_equal(o->int_domain.present && o->int_domain.is_categorical, categorical);
    assert_int_equal(rk_schema_column_has_tag(o, RK_TAG_CATEGORICAL), categorical);
    if (!categorical) {
      assert_false(o->int_domain.present);   /* accepted: Merlin's watching_times has one */
      assert_null(rk_schema_column_cat_path(o));
      continue;
    }
    /* Every property Merlin's Categorify wrote is there too. */
    const char *key;
    json_t *v;
    json_object_foreach(r->properties, key, v) {
      if (!rk_schema_column_property(o, key)) fail_msg("column '%s' lacks Merlin's property '%s'", r->name, key);
    }
    assert_int_equal(o->int_domain.min, 0);
    assert_string_equal(o->int_domain.name, r->name);
    json_t *cj = json_object_get(json_object_get(report, "columns"), r->name);
    int64_t cardinality = json_integer_value(json_object_get(cj, "cardinality"));
    assert_int_equal(o->int_domain.max, cardinality - 1);
    int64_t card, dim, v64;
    assert_true(rk_schema_column_embedding_sizes(o, &card, &dim));
    assert_int_equal(card, cardinality);
    double d = round(1.6 * pow((double)card, 0.56));
    assert_int_equal(dim, (int64_t)(d < 16 ? 16 : d > 512 ? 512 : d));   /* NVTabular's rule */
    assert_true(rk_schema_column_embedding_sizes(r, &card, &dim));       /* Merlin's has both too */
    assert_true(rk_schema_column_freq_threshold(o, &v64));
    assert_int_equal(v64, 0);
    assert_true(rk_schema_column_max_size(o, &v64));
    assert_int_equal(v64, 0);
    assert_true(rk_schema_column_start_index(o, &v64));
    assert_int_equal(v64, 0);   /* accepted: Merlin's is 1 */
    assert_false(rk_schema_column_num_buckets(o, &v64));
    assert_true(json_is_null(rk_schema_column_property(o, "num_buckets")));
    char want_path[256];
    snprintf(want_path, sizeof want_path, ".//categories/unique.%s.parquet", r->name);
    assert_string_equal(rk_schema_column_cat_path(o), want_path);
    assert_string_equal(rk_schema_column_cat_path(r), want_path);
    /* cat_path is relative to the workflow folder, where the vocabulary is. */
    const char *vocab = path_of(path_of(out, "workflow"), want_path + 3);
    if (!exists(vocab)) fail_msg("cat_path of '%s' names %s, which does not exist", r->name, vocab);
    assert_int_equal(rows_in(vocab), cardinality);
  }
  /* dtypes follow the casts; Merlin's ids and targets have the same. */
  static const struct { const char *col, *dtype; bool same_as_merlin; } dtypes[] = {
      {"user_id", "int32", true}, {"item_id", "int32", true}, {"click", "int8", true}, {"follow", "int8", true},
      {"like", "int8", true}, {"share", "int8", true}, {"watching_times", "int16", true},
      {"video_category", "int8", false}, {"gender", "int8", false}, {"age", "int8", false}};
  for (size_t i = 0; i < sizeof dtypes / sizeof *dtypes; i++) {
    const rk_schema_column *o = rk_schema_find(&pb, dtypes[i].col), *r = rk_schema_find(&ref, dtypes[i].col);
    assert_string_equal(o->dtype_name, dtypes[i].dtype);
    if (dtypes[i].same_as_merlin) assert_string_equal(r->dtype_name, dtypes[i].dtype);
    else assert_string_equal(r->dtype_name, "int32");   /* accepted: NVTabular ignored the cast */
  }
  /* The regression target is regression + target only (Merlin's file agrees; the reference
   * script's code would add binary). */
  assert_false(rk_schema_column_has_tag(rk_schema_find(&pb, "watching_times"), RK_TAG_BINARY));

  json_decref(report);
  rk_schema_free(&ref);
  rk_schema_free(&pb);
  rk_schema_free(&js);
  rk_schema_free(&ev);
}

/* The report's rows per split are the files' rows; predict/ has no targets in its files or schema. */
static void test_report_and_predict(void **state) {
  (void)state;
  const char *dir = rk_test_tmpdir("etl_preprocess_report");
  char in[4096], out[4096];
  snprintf(in, sizeof in, "%s/tenrec.parquet", dir);
  snprintf(out, sizeof out, "%s/out", dir);
  write_tenrec(in, rk_test_sanitized() ? 3000 : 10000);
  rk_preprocess_config c;
  seed_config(&c, in, out);
  c.predict_data_path = in;
  c.output_num_partitions = 3;
  json_t *report = NULL;
  assert_rk_ok(rk_preprocess(&c, &report));
  json_t *rows = json_object_get(report, "rows");
  int64_t train = rows_in(path_of(out, "train")), eval = rows_in(path_of(out, "eval"));
  int64_t predict = rows_in(path_of(out, "predict"));
  assert_int_equal(json_integer_value(json_object_get(rows, "train")), train);
  assert_int_equal(json_integer_value(json_object_get(rows, "eval")), eval);
  assert_int_equal(json_integer_value(json_object_get(rows, "predict")), predict);
  int64_t read = json_integer_value(json_object_get(json_object_get(json_object_get(report, "inputs"), "data"), "rows_read"));
  assert_int_equal(read, rk_test_sanitized() ? 3000 : 10000);
  assert_int_equal(predict, read);   /* prediction data is not filtered */
  assert_int_equal(train + eval + json_integer_value(json_object_get(rows, "dropped_by_filters")), read);
  /* The file on disk says the same as the returned report. */
  char *text = NULL;
  size_t len;
  assert_rk_ok(rk_read_file(path_of(out, "preprocess_report.json"), &text, &len));
  json_t *file = json_loadb(text, len, 0, NULL);
  assert_non_null(file);
  assert_true(json_equal(json_object_get(file, "rows"), rows));
  json_decref(file);
  rk_free(text);

  rk_schema s;
  assert_rk_ok(rk_schema_read(&s, path_of(out, "predict")));
  assert_int_equal(s.n_cols, 5);
  rk_schema t;
  assert_rk_ok(rk_schema_select_by_tag(&t, &s, RK_TAG_TARGET));
  assert_int_equal(t.n_cols, 0);
  rk_schema_free(&t);
  rk_schema_free(&s);
  rk_parquet_dataset *ds;
  rk_parquet_read_options o;
  rk_parquet_read_options_default(&o);
  assert_rk_ok(rk_parquet_dataset_open(&ds, path_of(out, "predict"), &o));
  assert_int_equal(rk_parquet_dataset_num_files(ds), 3);
  assert_int_equal(rk_parquet_dataset_num_columns(ds), 5);
  for (int i = 0; i < rk_parquet_dataset_num_columns(ds); i++)
    assert_null(strstr("click follow like share watching_times", rk_parquet_dataset_column(ds, i)->name));
  rk_parquet_dataset_close(ds);
  json_decref(report);
}

/*
 * Out-of-fold target encoding, value by value. 60 rows of a feature f (5 values, some null) and
 * two targets (y binary, r regression with dyadic values so every sum is exact in any order,
 * some null). A train row in fold k gets (S - S_k + prior * s) / (N - N_k + s), where S, N are
 * the value's target sum and count over train and S_k, N_k those of fold k
 * (k = pp_te_fold(seed, row, folds)); prior is the train mean of the target; rows whose target
 * is null count nowhere but still get an encoding; a null feature encodes to the prior.
 */
#define TE_ROWS 60

typedef struct {
  int f[TE_ROWS];          /* value index 0..4, or -1 for null */
  double y[TE_ROWS], r[TE_ROWS];   /* NAN for null */
} te_data;

static void make_te_data(te_data *d, const char *path) {
  char *text = rk_malloc(8192);
  size_t n = (size_t)snprintf(text, 8192, "row,f,y,r\n");
  static const char *const names[] = {"apple", "kiwi", "fig", "date", "pear"};
  uint64_t s = 12345;
  for (int i = 0; i < TE_ROWS; i++) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    int f = (int)((s >> 33) % 6) - 1;   /* -1 .. 4; -1 is null */
    int y = (int)((s >> 20) % 3 == 0);
    double r = (double)((s >> 40) % 16) * 0.25;
    bool y_null = i % 11 == 3, r_null = i % 13 == 5;
    d->f[i] = f;
    d->y[i] = y_null ? NAN : y;
    d->r[i] = r_null ? NAN : r;
    n += (size_t)snprintf(text + n, 8192 - n, "%d,%s,", i, f < 0 ? "" : names[f]);
    n += (size_t)(y_null ? snprintf(text + n, 8192 - n, ",") : snprintf(text + n, 8192 - n, "%d,", y));
    n += (size_t)(r_null ? snprintf(text + n, 8192 - n, "\n") : snprintf(text + n, 8192 - n, "%.2f\n", r));
  }
  rk_test_write_file(path, text);
  rk_free(text);
}

static double expected_te(const te_data *d, const double *t, int row, int folds, uint64_t seed, double smoothing,
                          bool out_of_fold) {
  double total = 0, sum = 0, fold_sum = 0;
  int64_t total_n = 0, cnt = 0, fold_cnt = 0;
  int k = pp_te_fold(seed, row, folds);
  for (int i = 0; i < TE_ROWS; i++) {
    if (isnan(t[i]) || d->f[i] < 0) continue;
    total += t[i];
    total_n++;
    if (d->f[i] != d->f[row]) continue;
    sum += t[i];
    cnt++;
    if (pp_te_fold(seed, i, folds) == k) {
      fold_sum += t[i];
      fold_cnt++;
    }
  }
  double prior = total / (double)total_n;
  if (d->f[row] < 0) return rk_wf_target_encode(0, 0, prior, smoothing);
  if (out_of_fold) return rk_wf_target_encode(sum - fold_sum, cnt - fold_cnt, prior, smoothing);
  return rk_wf_target_encode(sum, cnt, prior, smoothing);
}

static void check_te(const char *dir, int folds, bool out_of_fold) {
  te_data d;
  char in[4096], out[4096];
  snprintf(in, sizeof in, "%s/te.csv", dir);
  snprintf(out, sizeof out, "%s/%s", dir, folds > 1 ? "oof" : "in_sample");
  make_te_data(&d, in);
  rk_preprocess_config c;
  rk_preprocess_config_default(&c);
  c.data_path = in;
  c.output_path = out;
  c.output_num_partitions = 1;
  c.control = NAMES("row");
  c.categorical = NAMES("f");
  c.binary_targets = NAMES("y");
  c.regression_targets = NAMES("r");
  c.te_features = NAMES("f");
  c.te_kfold = folds;
  c.te_smoothing = 3;
  c.seed = 77;
  assert_rk_ok(rk_preprocess(&c, NULL));
  rk_batch b = {0};
  rk_parquet_read_options o;
  rk_parquet_read_options_default(&o);
  assert_rk_ok(rk_parquet_read_all(path_of(out, "train/part_0.parquet"), &o, &b));
  assert_int_equal(b.nrows, TE_ROWS);
  int row = rk_batch_find(&b, "row"), ty = rk_batch_find(&b, "TE_f_y"), tr = rk_batch_find(&b, "TE_f_r");
  assert_true(row >= 0 && ty >= 0 && tr >= 0);
  assert_int_equal(b.cols[ty].type, RK_COL_FLOAT32);
  int differ = 0;
  for (int i = 0; i < TE_ROWS; i++) {
    assert_int_equal(rk_column_get_int(&b.cols[row], i), i);   /* split-less: input order */
    float got_y = ((const float *)b.cols[ty].values)[i], got_r = ((const float *)b.cols[tr].values)[i];
    float want_y = (float)expected_te(&d, d.y, i, folds, 77, 3, out_of_fold);
    float want_r = (float)expected_te(&d, d.r, i, folds, 77, 3, out_of_fold);
    if (got_y != want_y || got_r != want_r)
      fail_msg("row %d (f %d, fold %d of %d): TE_f_y %.9g, TE_f_r %.9g; expected %.9g, %.9g", i, d.f[i],
               pp_te_fold(77, i, folds), folds, got_y, got_r, want_y, want_r);
    differ += want_y != (float)expected_te(&d, d.y, i, folds, 77, 3, false);
  }
  if (out_of_fold) assert_true(differ > TE_ROWS / 2);   /* the out-of-fold values are not the in-fold ones */
  rk_batch_free(&b);
}

static void test_out_of_fold_target_encoding(void **state) {
  (void)state;
  const char *dir = rk_test_tmpdir("etl_preprocess_te");
  check_te(dir, 4, true);
  /* One fold: no rows to leave out, train rows get the whole statistics. */
  check_te(dir, 1, false);
  /* The folds spread the rows: every fold is used. */
  int used[4] = {0};
  for (int i = 0; i < TE_ROWS; i++) used[pp_te_fold(77, i, 4)]++;
  for (int k = 0; k < 4; k++) assert_true(used[k] > 5);
}

/* Usage errors are found before anything is written: the output path stays absent. */
static void test_config_errors_leave_nothing(void **state) {
  (void)state;
  const char *dir = rk_test_tmpdir("etl_preprocess_errors");
  char in[4096], out[4096];
  snprintf(in, sizeof in, "%s/in.csv", dir);
  snprintf(out, sizeof out, "%s/out", dir);
  rk_test_write_file(in, "u,i,x,y,t\n1,10,0.5,1,100\n2,11,1.5,0,200\n");
  rk_preprocess_config base;
  rk_preprocess_config_default(&base);
  base.data_path = in;
  base.output_path = out;
  base.categorical = NAMES("u", "i");
  base.binary_targets = NAMES("y");
  rk_preprocess_config c;
  const char *expect_msg;
#define EXPECT(status, msg)                                                                   \
  do {                                                                                        \
    expect_msg = msg;                                                                         \
    rk_status st_ = rk_preprocess(&c, NULL);                                                  \
    if (st_ != status) fail_msg("expected %s, got %s: %s", rk_status_name(status), rk_status_name(st_), rk_error_message()); \
    if (!strstr(rk_error_message(), expect_msg)) fail_msg("'%s' lacks '%s'", rk_error_message(), expect_msg); \
    if (exists(out)) fail_msg("a failed run left %s", out);                                  \
  } while (0)
  c = base, c.eval_data_path = in, c.split = RK_SPLIT_RANDOM, c.eval_perc = 0.2;
  EXPECT(RK_EUSAGE, "cannot be combined");
  c = base, c.split = RK_SPLIT_RANDOM, c.eval_perc = 0;
  EXPECT(RK_EUSAGE, "--random_split_eval_perc");
  c = base, c.split = RK_SPLIT_RANDOM_BY_USER, c.eval_perc = 1.5, c.user_id = "u";
  EXPECT(RK_EUSAGE, "--random_split_eval_perc");
  c = base, c.split = RK_SPLIT_TEMPORAL, c.timestamp = "t";
  EXPECT(RK_EUSAGE, "--dataset_split_temporal_timestamp");
  c = base, c.split = RK_SPLIT_RANDOM_BY_USER, c.eval_perc = 0.5;
  EXPECT(RK_EUSAGE, "--user_id_feature");
  c = base, c.max_item_freq = 3;
  EXPECT(RK_EUSAGE, "--item_id_feature");
  c = base, c.continuous = NAMES("u");
  EXPECT(RK_EUSAGE, "both --categorical_features and --continuous_features");
  c = base, c.binary_targets = NAMES("u");
  EXPECT(RK_EUSAGE, "both a target and a feature");
  c = base, c.output_num_partitions = 0;
  EXPECT(RK_EUSAGE, "--output_num_partitions");
  c = base, c.num_max_rounds_filtering = 0;
  EXPECT(RK_EUSAGE, "--num_max_rounds_filtering");
  c = base, c.te_kfold = 0, c.te_features = NAMES("u");
  EXPECT(RK_EUSAGE, "--target_encoding_kfold");
  c = base, c.continuous_fillna = "avg", c.continuous = NAMES("x");
  EXPECT(RK_EUSAGE, "--continuous_features_fillna");
  c = base, c.continuous_fillna = "nan", c.continuous = NAMES("x");   /* a NaN fill is no fill */
  EXPECT(RK_EUSAGE, "invalid value 'nan' for --continuous_features_fillna: expected a finite number or 'median'");
  c = base, c.continuous_fillna = "1e400", c.continuous = NAMES("x");
  EXPECT(RK_EUSAGE, "invalid value '1e400' for --continuous_features_fillna");
  /* Contradictions between flags, which the run would resolve silently (0 rows, the last cast). */
  c = base, c.user_id = "u", c.min_user_freq = 10, c.max_user_freq = 5;
  EXPECT(RK_EUSAGE, "--min_user_freq 10 is above --max_user_freq 5");
  c = base, c.item_id = "i", c.min_item_freq = 2, c.max_item_freq = 1;
  EXPECT(RK_EUSAGE, "--min_item_freq 2 is above --max_item_freq 1");
  c = base, c.to_int8 = NAMES("y"), c.to_int16 = NAMES("x", "y");
  EXPECT(RK_EUSAGE, "column 'y' is named by both --to_int16 and --to_int8");
  c = base, c.to_int32 = NAMES("t"), c.to_float32 = NAMES("t");
  EXPECT(RK_EUSAGE, "column 't' is named by both --to_int32 and --to_float32");
  c = base, c.control = NAMES("x", "i");   /* copied as it is, or categorified? */
  EXPECT(RK_EUSAGE, "column 'i' is named by both --categorical_features and --control_features");
  c = base, c.regression_targets = NAMES("y");
  EXPECT(RK_EUSAGE, "column 'y' is named by both --binary_classif_targets and --regression_targets");
  c = base, c.eval_perc = 0.2;
  EXPECT(RK_EUSAGE, "--random_split_eval_perc 0.2 needs --dataset_split_strategy random or random_by_user (got no split)");
  c = base, c.split = RK_SPLIT_TEMPORAL, c.timestamp = "t", c.has_temporal_timestamp = true, c.eval_perc = 0.2;
  EXPECT(RK_EUSAGE, "(got temporal)");
  c = base, c.split = RK_SPLIT_RANDOM, c.eval_perc = 0.2, c.has_temporal_timestamp = true;
  EXPECT(RK_EUSAGE, "--dataset_split_temporal_timestamp needs --dataset_split_strategy temporal");
  c = base, c.categorical = NAMES("u"), c.binary_targets = (rk_names){0, NULL};
  c.te_features = NAMES("u");
  EXPECT(RK_EUSAGE, "needs targets");
  rk_preprocess_config_default(&c);
  c.data_path = in, c.output_path = out;
  EXPECT(RK_EUSAGE, "nothing to preprocess");
  /* Errors found while reading also leave nothing behind. */
  c = base, c.categorical = NAMES("u", "nope");
  EXPECT(RK_ENOTFOUND, "--categorical_features names column 'nope'");
  c = base, c.to_int8 = NAMES("t"), c.control = NAMES("t");
  EXPECT(RK_ERANGE, "row 2, column 't' does not fit int8");
  c = base, c.persist_intermediate = true, c.to_int8 = NAMES("t"), c.control = NAMES("t");
  EXPECT(RK_ERANGE, "value '200'");
  /* The same configuration without the error runs. */
  c = base;
  assert_rk_ok(rk_preprocess(&c, NULL));
  assert_true(exists(path_of(out, "train/part_0.parquet")));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_schema_matches_merlin),
      cmocka_unit_test(test_report_and_predict),
      cmocka_unit_test(test_out_of_fold_target_encoding),
      cmocka_unit_test(test_config_errors_leave_nothing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
