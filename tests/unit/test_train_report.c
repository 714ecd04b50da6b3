/*
 * report.html from a synthetic run: the page is self-contained and well-formed enough for a
 * browser (balanced SVGs, each well-formed XML when xmllint is installed), says what the run
 * said (every parameter, the AUC computed here pair by pair, the calibration bins counted here),
 * escapes what it is given, survives empty and odd inputs, writes atomically and fails cleanly.
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "reckon/train.h"
#include "support.h"

#define NPRED 1000

typedef struct {
  json_t *params, *train_log, *eval_log, *final_metrics;
  float prob[NPRED], label[NPRED];
  double auc;   /* Mann-Whitney, pair by pair */
} run;

static void make_run(run *r) {
  r->params = json_object();
  json_object_set_new(r->params, "model", json_string("dlrm"));
  json_object_set_new(r->params, "batch_size", json_integer(4096));
  json_object_set_new(r->params, "lr", json_real(1e-3));
  json_object_set_new(r->params, "use_amp", json_false());
  json_object_set_new(r->params, "mlp_layers", json_pack("[iii]", 512, 256, 64));
  json_object_set_new(r->params, "data_path", json_string("/data/click & co/<train>"));
  json_object_set_new(r->params, "a<b&c", json_null());

  r->train_log = json_array();
  for (int i = 0; i < 200; i++) {
    json_t *e = json_object();
    json_object_set_new(e, "epoch", json_integer(i / 100));
    json_object_set_new(e, "step", json_integer((i + 1) * 10));
    json_object_set_new(e, "loss", json_real(0.3 + 0.4 * exp(-i / 50.0) + 0.02 * sin(i)));
    json_object_set_new(e, "regularization_loss", json_real(0.01 + 0.005 * exp(-i / 30.0)));
    json_object_set_new(e, "lr", json_real(i < 20 ? 1e-3 * (i + 1) / 20 : 1e-3 * pow(0.99, i - 20)));
    json_object_set_new(e, "samples_per_s", i % 50 == 25 ? json_null() : json_real(1e5 + 5e3 * sin(i / 7.0)));
    json_array_append_new(r->train_log, e);
  }
  r->eval_log = json_array();
  for (int i = 1; i <= 4; i++)
    json_array_append_new(r->eval_log, json_pack("{sisfsfsfsf}", "step", i * 500, "auc", 0.6 + 0.04 * i, "logloss",
                                                 0.6 - 0.03 * i, "precision", 0.5 + 0.05 * i, "recall",
                                                 0.3 + 0.02 * i));

  rk_rng rng;
  rk_rng_init(&rng, 42, 0);
  for (int i = 0; i < NPRED; i++) {
    r->label[i] = i % 3 == 0 ? 1.0f : 0.0f;
    double z = (r->label[i] == 1.0f ? 0.8 : -0.4) + rk_rng_normal(&rng);
    r->prob[i] = (float)(1 / (1 + exp(-z)));
  }
  double wins = 0, pairs = 0;
  for (int i = 0; i < NPRED; i++)
    for (int j = 0; j < NPRED; j++)
      if (r->label[i] == 1.0f && r->label[j] == 0.0f) {
        wins += r->prob[i] > r->prob[j] ? 1 : r->prob[i] == r->prob[j] ? 0.5 : 0;
        pairs++;
      }
  r->auc = wins / pairs;
  r->final_metrics = json_pack("{sfsfsnsi}", "auc", r->auc, "logloss", 0.5312, "prauc", "count", NPRED);
}

static void free_run(run *r) {
  json_decref(r->params);
  json_decref(r->train_log);
  json_decref(r->eval_log);
  json_decref(r->final_metrics);
}

static rk_report report_of(const run *r, const char *title) {
  return (rk_report){title, r->params, r->train_log, r->eval_log, r->final_metrics, r->prob, r->label, NPRED};
}

static char *read_page(const char *path) {
  char *text;
  size_t size;
  assert_rk_ok(rk_read_file(path, &text, &size));
  assert_int_equal(strlen(text), size);
  return text;
}

static int count(const char *hay, const char *needle) {
  int n = 0;
  for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) n++;
  return n;
}

static int dir_entries(const char *dir) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  int n = 0;
  for (struct dirent *e; (e = readdir(d));) n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
  closedir(d);
  return n;
}

/* What every page must be: a document with no scripts and nothing fetched from elsewhere, with
 * matched SVG and figure tags; each SVG well-formed XML when xmllint is installed. */
static void check_page(const char *page, const char *dir) {
  assert_true(strncmp(page, "<!DOCTYPE html>\n", 16) == 0);
  assert_non_null(strstr(page, "<meta charset=\"utf-8\">"));
  assert_non_null(strstr(page, "</body>\n</html>\n"));
  assert_null(strstr(page, "<script"));
  assert_null(strstr(page, "<link"));
  assert_null(strstr(page, " src="));
  assert_null(strstr(page, "url("));
  assert_int_equal(count(page, "http"), count(page, "xmlns=\"http://www.w3.org/2000/svg\""));
  assert_int_equal(count(page, "<svg"), count(page, "</svg>"));
  assert_int_equal(count(page, "<figure>"), count(page, "</figure>"));
  assert_int_equal(count(page, "<section"), count(page, "</section>"));
  assert_int_equal(count(page, "<table>"), count(page, "</table>"));
  assert_null(strstr(page, "nan"));   /* no NaN coordinates or labels */
  assert_null(strstr(page, "inf\""));
  if (rk_test_system("command -v xmllint >/dev/null 2>&1") != 0) return;
  int i = 0;
  for (const char *s = strstr(page, "<svg"); s; s = strstr(s + 1, "<svg"), i++) {
    const char *e = strstr(s, "</svg>");
    assert_non_null(e);
    char path[4200];
    snprintf(path, sizeof path, "%s/plot%d.svg", dir, i);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fwrite(s, 1, (size_t)(e + 6 - s), f);
    fclose(f);
    if (rk_test_system("xmllint --noout '%s'", path) != 0) fail_msg("%s is not well-formed XML", path);
    remove(path);
  }
}

static void test_report(void **state) {
  (void)state;
  char dir[4096], path[4200];
  snprintf(dir, sizeof dir, "%s", rk_test_tmpdir("train_report"));
  snprintf(path, sizeof path, "%s/report.html", dir);
  run r;
  make_run(&r);
  int64_t live = rk_alloc_live_bytes();
  rk_report rep = report_of(&r, "reckon train: dlrm on click <script>&\"");
  assert_rk_ok(rk_report_write_html(path, &rep));
  assert_int_equal(rk_alloc_live_bytes(), live);
  assert_int_equal(dir_entries(dir), 1);   /* no temporary file left behind */
  char *page = read_page(path);
  check_page(page, dir);

  /* the title, escaped in <title> and <h1> */
  assert_int_equal(count(page, "reckon train: dlrm on click &lt;script&gt;&amp;&quot;"), 2);
  /* every parameter, and values as they were given */
  const char *key;
  json_t *v;
  json_object_foreach(r.params, key, v) {
    if (strcmp(key, "a<b&c") != 0) assert_non_null(strstr(page, key));
  }
  assert_non_null(strstr(page, "<td>a&lt;b&amp;c</td>"));
  assert_non_null(strstr(page, "/data/click &amp; co/&lt;train&gt;"));
  assert_non_null(strstr(page, "<code>[512, 256, 64]</code>"));
  assert_non_null(strstr(page, "<td>4096</td>"));
  assert_non_null(strstr(page, "<td>false</td>"));

  /* plots: loss and regularisation loss together, lr, throughput (with its gaps), eval loss,
   * eval metrics, ROC, calibration; epoch and step are not plotted */
  assert_int_equal(count(page, "<svg"), 7);
  assert_non_null(strstr(page, "<title>Loss</title>"));
  assert_non_null(strstr(page, ">regularization_loss</text>"));
  assert_non_null(strstr(page, "<title>Learning rate</title>"));
  assert_non_null(strstr(page, "<title>Throughput (samples/s)</title>"));
  assert_non_null(strstr(page, "<title>Eval loss</title>"));
  assert_non_null(strstr(page, "<title>Eval metrics</title>"));
  assert_null(strstr(page, ">epoch</text>"));
  assert_non_null(strstr(page, "200 entries, steps 10 to 2000."));
  /* samples_per_s is null at 4 steps (25, 75, 125, 175): 5 pieces */
  const char *tp = strstr(page, "<title>Throughput");
  const char *tp_end = strstr(tp, "</svg>");
  int pieces = 0;
  for (const char *p = strstr(tp, "<polyline"); p && p < tp_end; p = strstr(p + 1, "<polyline")) pieces++;
  assert_int_equal(pieces, 5);

  /* the final eval: metrics table, ROC with the AUC computed here, calibration bins counted here */
  char auc[64];
  snprintf(auc, sizeof auc, "ROC curve (AUC = %.4f)", r.auc);
  assert_non_null(strstr(page, auc));
  assert_non_null(strstr(page, ">chance</text>"));
  assert_non_null(strstr(page, "<td>prauc</td><td class=\"num\"><span class=\"na\">"));
  assert_non_null(strstr(page, "<td>count</td><td class=\"num\">1000</td>"));
  assert_non_null(strstr(page, "<title>Calibration (10 equal-width bins)</title>"));
  assert_non_null(strstr(page, ">ideal</text>"));
  int64_t bins[10] = {0};
  int positives = 0;
  for (int i = 0; i < NPRED; i++) {
    int k = (int)((double)r.prob[i] * 10);
    bins[k > 9 ? 9 : k]++;
    positives += r.label[i] == 1.0f;
  }
  for (int k = 0; k < 10; k++) {
    char row[128];
    snprintf(row, sizeof row, "<tr><td>[%.1f, %.1f%s</td><td class=\"num\">%lld</td>", k / 10.0, (k + 1) / 10.0,
             k == 9 ? "]" : ")", (long long)bins[k]);
    if (!strstr(page, row)) fail_msg("no calibration row %s", row);
  }
  char note[128];
  snprintf(note, sizeof note, "1000 predictions, %d positive", positives);
  assert_non_null(strstr(page, note));
  rk_free(page);
  free_run(&r);
}

static void test_empty(void **state) {
  (void)state;
  char dir[4096], path[4200];
  snprintf(dir, sizeof dir, "%s", rk_test_tmpdir("train_report_empty"));
  snprintf(path, sizeof path, "%s/report.html", dir);

  /* nothing at all */
  rk_report none = {0};
  assert_rk_ok(rk_report_write_html(path, &none));
  char *page = read_page(path);
  check_page(page, dir);
  assert_int_equal(count(page, "<svg"), 0);
  assert_non_null(strstr(page, "<h1>reckon train</h1>"));
  assert_non_null(strstr(page, "No parameters recorded."));
  assert_non_null(strstr(page, "No data: no training log."));
  assert_non_null(strstr(page, "No final metrics recorded."));
  assert_null(strstr(page, "ROC curve ("));
  assert_null(strstr(page, "id=\"eval\""));
  rk_free(page);

  /* empty logs and objects; predictions absent although metrics are there */
  json_t *arr = json_array(), *obj = json_object(), *metrics = json_pack("{sf}", "auc", 0.75);
  rk_report empty = {"empty", obj, arr, arr, metrics, NULL, NULL, 0};
  assert_rk_ok(rk_report_write_html(path, &empty));
  page = read_page(path);
  check_page(page, dir);
  assert_int_equal(count(page, "<svg"), 0);
  assert_non_null(strstr(page, "No data: the log is empty."));
  assert_non_null(strstr(page, "<td>auc</td><td class=\"num\">0.75</td>"));
  assert_non_null(strstr(page, "No predictions"));
  assert_null(strstr(page, "ROC curve ("));
  rk_free(page);

  /* a training log with nothing plottable (a string, a null, an entry that is not an object);
   * an eval log whose auc is a number once between gaps and a string once, and a key logged once:
   * lone points are drawn as dots */
  json_t *strings = json_pack("[{sisssn}, i, {si}]", "step", 1, "note", "warmup", "loss", 5, "step", 2);
  json_t *gaps = json_pack("[{sisn}, {sisf}, {si}, {sisssi}]", "step", 1, "auc", "step", 2, "auc", 0.7, "step", 3,
                           "step", 4, "auc", "n/a", "count", 7);
  rk_report odd = {"odd", NULL, strings, gaps, NULL, NULL, NULL, 0};
  assert_rk_ok(rk_report_write_html(path, &odd));
  page = read_page(path);
  check_page(page, dir);
  assert_non_null(strstr(page, "No data: no numeric values were logged."));
  assert_non_null(strstr(page, "<title>Eval metrics</title>"));
  assert_non_null(strstr(page, "<title>count</title>"));
  assert_int_equal(count(page, "<polyline"), 0);
  assert_true(count(page, "<circle") >= 2);
  rk_free(page);
  json_decref(strings);
  json_decref(gaps);

  /* values at the ends of the doubles, and a constant: no overflow into NaN coordinates */
  json_t *huge = json_pack("[{sisfsf}, {sisfsf}, {sisfsf}]", "step", 1, "loss", 1.7e308, "lr", 1e-300, "step", 2,
                           "loss", -1.7e308, "lr", 1e-300, "step", 3, "loss", 4.9e-324, "lr", 1e-300);
  rk_report extreme = {"extreme", NULL, huge, NULL, NULL, NULL, NULL, 0};
  assert_rk_ok(rk_report_write_html(path, &extreme));
  page = read_page(path);
  check_page(page, dir);
  assert_int_equal(count(page, "<svg"), 2);
  rk_free(page);
  json_decref(huge);

  /* predictions with NaN, infinite probabilities and labels other than 0/1; then one class only */
  float prob[6] = {0.1f, NAN, 0.7f, INFINITY, 0.9f, 1.5f}, label[6] = {0, 1, 1, 0, 2, 1};
  rk_report preds = {"preds", NULL, NULL, NULL, NULL, prob, label, 6};
  assert_rk_ok(rk_report_write_html(path, &preds));
  page = read_page(path);
  check_page(page, dir);
  assert_non_null(strstr(page, "3 predictions, 2 positive"));
  assert_non_null(strstr(page, "3 left out"));
  assert_non_null(strstr(page, "ROC curve (AUC = 1.0000)"));
  assert_non_null(strstr(page, "<tr><td>[0.9, 1.0]</td><td class=\"num\">1</td><td class=\"num\">1.0000</td>"));
  rk_free(page);
  float ones[3] = {1, 1, 1};
  rk_report one_class = {"one class", NULL, NULL, NULL, NULL, prob, ones, 1};
  assert_rk_ok(rk_report_write_html(path, &one_class));
  page = read_page(path);
  check_page(page, dir);
  assert_non_null(strstr(page, "one class only"));
  assert_non_null(strstr(page, "Calibration"));
  rk_free(page);
  rk_report all_bad = {"all bad", NULL, NULL, NULL, NULL, prob + 1, label + 1, 1};
  assert_rk_ok(rk_report_write_html(path, &all_bad));
  page = read_page(path);
  check_page(page, dir);
  assert_non_null(strstr(page, "No usable predictions"));
  rk_free(page);

  /* a title that is not UTF-8 and holds a control character: replaced, the SVG stays XML */
  rk_report bytes = {"bad \xff\xfe bytes \x01 here", NULL, NULL, NULL, NULL, NULL, NULL, 0};
  assert_rk_ok(rk_report_write_html(path, &bytes));
  page = read_page(path);
  assert_non_null(strstr(page, "<h1>bad \xEF\xBF\xBD\xEF\xBF\xBD bytes \xEF\xBF\xBD here</h1>"));
  rk_free(page);
  json_decref(arr);
  json_decref(obj);
  json_decref(metrics);
}

/* Long logs are thinned to 2000 points, ends kept; DLLogger's [epoch, step] steps are read. */
static void test_thinning(void **state) {
  (void)state;
  char dir[4096], path[4200];
  snprintf(dir, sizeof dir, "%s", rk_test_tmpdir("train_report_thin"));
  snprintf(path, sizeof path, "%s/report.html", dir);
  json_t *log = json_array();
  for (int i = 0; i < 12345; i++)
    json_array_append_new(log, json_pack("{s[ii]sf}", "step", i / 5000, i + 1, "loss", 1.0 / (1 + i)));
  rk_report rep = {"long", NULL, log, NULL, NULL, NULL, NULL, 0};
  assert_rk_ok(rk_report_write_html(path, &rep));
  char *page = read_page(path);
  check_page(page, dir);
  assert_non_null(strstr(page, "12345 entries, steps 1 to 12345."));
  const char *p = strstr(page, "<polyline");
  assert_non_null(p);
  assert_null(strstr(p + 1, "<polyline"));
  p = strstr(p, "points=\"") + 8;
  int points = 1;
  double x0, y0, x1, y1;
  assert_int_equal(sscanf(p, "%lf,%lf", &x0, &y0), 2);
  for (; *p != '"'; p++) points += *p == ' ';
  while (p[-1] != ' ') p--;
  assert_int_equal(sscanf(p, "%lf,%lf", &x1, &y1), 2);
  assert_int_equal(points, 2000);
  assert_true(x1 - x0 > 400);   /* the first and the last step span the plot */
  assert_true(y1 > y0 + 150);   /* the loss falls from 1 to ~0 */
  rk_free(page);
  json_decref(log);
}

static void test_errors(void **state) {
  (void)state;
  char dir[4096], path[4200];
  snprintf(dir, sizeof dir, "%s", rk_test_tmpdir("train_report_errors"));
  rk_report none = {0};

  /* a folder that does not exist: an error naming the path, nothing written */
  snprintf(path, sizeof path, "%s/missing/report.html", dir);
  assert_int_equal(rk_report_write_html(path, &none), RK_EIO);
  assert_non_null(strstr(rk_error_message(), path));
  assert_int_equal(dir_entries(dir), 0);

  /* a path that is a folder: the rename fails and the temporary file goes */
  snprintf(path, sizeof path, "%s/taken", dir);
  assert_int_equal(rk_test_system("mkdir '%s'", path), 0);
  assert_int_equal(rk_report_write_html(path, &none), RK_EIO);
  assert_non_null(strstr(rk_error_message(), path));
  assert_int_equal(dir_entries(dir), 1);
  assert_int_equal(dir_entries(path), 0);

  /* inputs of the wrong type */
  snprintf(path, sizeof path, "%s/report.html", dir);
  json_t *arr = json_array(), *obj = json_object();
  rk_report bad = {.params = arr};
  assert_int_equal(rk_report_write_html(path, &bad), RK_EINVAL);
  assert_non_null(strstr(rk_error_message(), "params"));
  bad = (rk_report){.train_log = obj};
  assert_int_equal(rk_report_write_html(path, &bad), RK_EINVAL);
  bad = (rk_report){.eval_log = obj};
  assert_int_equal(rk_report_write_html(path, &bad), RK_EINVAL);
  bad = (rk_report){.final_metrics = arr};
  assert_int_equal(rk_report_write_html(path, &bad), RK_EINVAL);
  float p = 0.5f;
  bad = (rk_report){.prob = &p, .n = 1};
  assert_int_equal(rk_report_write_html(path, &bad), RK_EINVAL);
  bad = (rk_report){.n = -1};
  assert_int_equal(rk_report_write_html(path, &bad), RK_EINVAL);
  assert_int_equal(rk_report_write_html(NULL, &none), RK_EINVAL);
  assert_int_equal(rk_report_write_html(path, NULL), RK_EINVAL);
  assert_int_equal(dir_entries(dir), 1);
  json_decref(arr);
  json_decref(obj);
}

/* Every allocation failure: RK_ENOMEM, nothing leaked, no file. */
typedef struct {
  const rk_report *rep;
  const char *path;
} walk_ctx;

static rk_status write_once(void *p) {
  const walk_ctx *c = p;
  rk_status st = rk_report_write_html(c->path, c->rep);
  if (st != RK_OK) assert_int_equal(rk_test_system("test ! -e '%s'", c->path), 0);
  else remove(c->path);
  return st;
}

static void test_alloc_failures(void **state) {
  (void)state;
  char dir[4096], path[4200];
  snprintf(dir, sizeof dir, "%s", rk_test_tmpdir("train_report_alloc"));
  snprintf(path, sizeof path, "%s/report.html", dir);
  json_t *params = json_pack("{sss[ii]}", "model", "dlrm", "layers", 64, 32);
  json_t *log = json_pack("[{sisfsf}, {sisfsn}]", "step", 1, "loss", 0.7, "lr", 0.1, "step", 2, "loss", 0.6, "lr");
  json_t *metrics = json_pack("{sf}", "auc", 0.5);
  float prob[5] = {0.1f, 0.4f, NAN, 0.8f, 0.3f}, label[5] = {0, 1, 1, 1, 0};
  rk_report rep = {"alloc", params, log, log, metrics, prob, label, 5};
  walk_ctx c = {&rep, path};
  assert_true(rk_test_walk_failures(write_once, &c) > 10);
  assert_int_equal(dir_entries(dir), 0);
  json_decref(params);
  json_decref(log);
  json_decref(metrics);
}

int main(void) {
  /* jansson through the hook (this executable only), so the walk fails its allocations too */
  json_set_alloc_funcs(rk_malloc, rk_free);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_report),       cmocka_unit_test(test_empty),          cmocka_unit_test(test_thinning),
      cmocka_unit_test(test_errors),       cmocka_unit_test(test_alloc_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
