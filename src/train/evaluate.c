/*
 * Evaluation and prediction: a model's inference graph (sharing its parameters) over a dataset
 * read in file order, batch by batch. Metrics are exact (src/metrics/); predictions go to any
 * table sink with chosen columns of the input kept beside them.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "reckon/io.h"
#include "reckon/metrics.h"
#include "reckon/trainer.h"

static double sigmoid(double z) { return 1.0 / (1.0 + exp(-z)); }

static json_t *number(double v) { return isfinite(v) ? json_real(v) : json_null(); }

void rk_eval_result_free(rk_eval_result *r) {
  json_decref(r->metrics);
  rk_free(r->prob);
  rk_free(r->label);
  memset(r, 0, sizeof *r);
}

/* An inference graph over m's parameters, at `rows` data rows per batch (times 1 + negatives). */
static rk_status infer_model(rk_ranking_model *im, const rk_ranking_model *m, int64_t rows, int64_t negatives) {
  if (rows <= 0) return rk_error(RK_EUSAGE, "invalid batch size %lld: expected at least 1", (long long)rows);
  return rk_ranking_share(im, m, rows * (1 + negatives), false);
}

static rk_status grow(float **a, float **b, int64_t *cap, int64_t need) {
  if (need <= *cap) return RK_OK;
  int64_t c = *cap ? *cap : 4096;
  while (c < need) c *= 2;
  float *x = rk_realloc(*a, (size_t)c * sizeof *x);
  if (!x) return RK_ENOMEM;
  *a = x;
  float *y = rk_realloc(*b, (size_t)c * sizeof *y);
  if (!y) return RK_ENOMEM;
  *b = y;
  *cap = c;
  return RK_OK;
}

rk_status rk_evaluate(const rk_ranking_model *m, const rk_schema *schema, const rk_eval_options *o,
                      rk_eval_result *out) {
  memset(out, 0, sizeof *out);
  rk_ranking_model im;
  RK_TRY(infer_model(&im, m, o->batch_size, o->negatives));
  rk_feed feed;
  rk_status st = rk_feed_init(&feed, &im, schema, o->negatives, o->positive_weight, o->seed);
  if (st != RK_OK) {
    rk_ranking_free(&im);
    return st;
  }
  const char **cols = rk_calloc((size_t)(m->n_cat + m->n_cont) + 2, sizeof *cols);
  if (!cols) {
    rk_feed_free(&feed);
    rk_ranking_free(&im);
    return RK_ENOMEM;
  }
  int ncols = rk_feed_columns(m, true, cols);
  if (o->baseline) cols[ncols++] = o->baseline;
  rk_loader_options lo;
  rk_loader_options_default(&lo);
  lo.path = o->path;
  lo.columns = cols;
  lo.ncolumns = ncols;
  lo.batch_size = rk_feed_batch_rows(&feed);
  lo.shuffle = false;
  rk_loader *loader = NULL;
  rk_batch batch = {0};
  rk_binary_metrics *bm = NULL, *base = NULL;
  rk_regression_metrics rm;
  rk_regression_metrics_reset(&rm);
  double loss_sum = 0;
  int64_t cap = 0, total = 0;
  float *y = NULL, *p = NULL, *w = NULL;
  int64_t B = rk_graph_batch(im.g);
  if (!(y = rk_malloc((size_t)B * sizeof *y)) || !(p = rk_malloc((size_t)B * sizeof *p)) ||
      !(w = rk_malloc((size_t)B * sizeof *w)))
    st = RK_ENOMEM;
  if (st == RK_OK && !m->regression) st = rk_binary_metrics_create(&bm);
  if (st == RK_OK && o->baseline) st = rk_binary_metrics_create(&base);
  if (st == RK_OK) st = rk_loader_open(&loader, &lo);
  if (st == RK_OK) st = rk_loader_start_epoch(loader, 0);
  rk_progress progress;
  rk_progress_begin(&progress, "evaluate", loader ? (double)rk_loader_num_rows(loader) : 0, "rows");
  int64_t rows_done = 0;
  for (uint64_t step = 0; st == RK_OK; step++) {
    if ((st = rk_loader_next(loader, &batch)) != RK_OK || batch.nrows == 0) break;
    /* The target goes through the feed's checks on a train-shaped copy of the inputs. */
    int tk = rk_batch_find(&batch, m->target);
    if ((st = rk_feed_fill(&feed, &batch, step)) != RK_OK) break;
    if ((st = rk_graph_forward(im.g, RK_EVAL)) != RK_OK) break;
    const float *z = rk_graph_value_f32(im.g, im.logit);
    int64_t n = 0;
    for (int64_t r = 0; r < B; r++) {
      if (feed.src[r] < 0) continue;
      bool negative = r >= batch.nrows;
      double label = negative ? 0.0 : rk_column_get_double(&batch.cols[tk], r);
      if (!negative && rk_column_is_null(&batch.cols[tk], r)) {
        st = rk_error(RK_EFORMAT, "target '%s' is null in a row of '%s'", m->target, o->path);
        break;
      }
      y[n] = (float)label;
      p[n] = m->regression ? z[r] : (float)sigmoid(z[r]);
      w[n] = (!m->regression && label == 1.0) ? o->positive_weight : 1.0f;
      if (m->regression) {
        double d = z[r] - label;
        loss_sum += d * d;
      } else {
        double zr = z[r];
        loss_sum += w[n] * ((zr > 0 ? zr : 0) - zr * label + log1p(exp(-fabs(zr))));
      }
      n++;
    }
    if (st != RK_OK) break;
    if (base) {   /* the baseline scores the data rows (negatives have no baseline) */
      int bk = rk_batch_find(&batch, o->baseline);
      if (bk < 0) {
        st = rk_error(RK_ENOTFOUND, "the data has no column '%s' (the baseline)", o->baseline);
        break;
      }
      for (int64_t r = 0; r < batch.nrows; r++) w[r] = (float)rk_column_get_double(&batch.cols[bk], r);
      st = rk_binary_metrics_add(base, w, y, NULL, batch.nrows);
      if (st != RK_OK) {
        st = rk_error_context(st, "baseline column '%s'", o->baseline);
        break;
      }
    }
    if (bm) st = rk_binary_metrics_add(bm, p, y, NULL, n);
    else rk_regression_metrics_add(&rm, p, y, NULL, n);
    if (st == RK_OK && o->keep_predictions && (st = grow(&out->prob, &out->label, &cap, total + n)) == RK_OK) {
      memcpy(out->prob + total, p, (size_t)n * sizeof *p);
      memcpy(out->label + total, y, (size_t)n * sizeof *y);
    }
    total += n;
    rows_done += batch.nrows;
    rk_progress_update(&progress, (double)rows_done);
  }
  rk_progress_end(&progress);
  if (st == RK_OK && total == 0) st = rk_error(RK_EINVAL, "no rows to evaluate in '%s'", o->path);
  if (st == RK_OK) {
    out->rows = total;
    if (bm) {
      rk_binary_result r;
      if ((st = rk_binary_metrics_compute(bm, &r)) == RK_OK)
        out->metrics = json_pack("{so so so so so so so sI}", "loss", number(loss_sum / (double)total), "auc",
                                 number(r.auc), "prauc", number(r.prauc), "logloss", number(r.logloss), "precision",
                                 number(r.precision), "recall", number(r.recall), "binary_accuracy",
                                 number(r.accuracy), "rows", (json_int_t)total);
    } else {
      out->metrics = json_pack("{so so so sI}", "loss", number(loss_sum / (double)total), "root_mean_squared_error",
                               number(rk_regression_rmse(&rm)), "mae", number(rk_regression_mae(&rm)), "rows",
                               (json_int_t)total);
    }
    if (st == RK_OK && !out->metrics) st = RK_ENOMEM;
    rk_binary_result b;
    if (st == RK_OK && base && (st = rk_binary_metrics_compute(base, &b)) == RK_OK) {
      json_object_set_new(out->metrics, "baseline_auc", number(b.auc));
      json_object_set_new(out->metrics, "baseline_logloss", number(b.logloss));
    }
  }
  if (st != RK_OK) rk_eval_result_free(out);
  rk_binary_metrics_free(bm);
  rk_binary_metrics_free(base);
  rk_free(y);
  rk_free(p);
  rk_free(w);
  rk_batch_free(&batch);
  if (loader) rk_loader_close(loader);
  rk_free(cols);
  rk_feed_free(&feed);
  rk_ranking_free(&im);
  return st;
}

/* ---- prediction ---- */

static bool has_suffix(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && strcmp(s + n - k, suffix) == 0;
}

rk_status rk_predict(const rk_ranking_model *m, const rk_predict_options *o, int64_t *rows) {
  *rows = 0;
  const char *fmt = o->format;
  bool is_file = has_suffix(o->output, ".parquet") || has_suffix(o->output, ".csv") || has_suffix(o->output, ".tsv");
  if (!fmt) fmt = has_suffix(o->output, ".csv") ? "csv" : has_suffix(o->output, ".tsv") ? "tsv" : "parquet";
  if (strcmp(fmt, "parquet") && strcmp(fmt, "csv") && strcmp(fmt, "tsv"))
    return rk_error(RK_EUSAGE, "invalid value '%s' for --predict_output_format: expected parquet, csv or tsv", fmt);
  char *file = NULL;
  if (is_file) {
    if (!(file = rk_strdup(o->output))) return RK_ENOMEM;
  } else {
    RK_TRY(rk_mkdir_p(o->output));
    size_t n = strlen(o->output) + 32;
    if (!(file = rk_malloc(n))) return RK_ENOMEM;
    snprintf(file, n, "%s/part_0.%s", o->output, fmt);
  }
  rk_ranking_model im;
  rk_status st = infer_model(&im, m, o->batch_size, 0);
  if (st != RK_OK) {
    rk_free(file);
    return st;
  }
  rk_feed feed;
  memset(&feed, 0, sizeof feed);
  rk_schema none;
  rk_schema_init(&none);
  st = rk_feed_init(&feed, &im, &none, 0, 1.0f, 0);
  /* The model's features, then kept columns that are not among them. */
  int nf = m->n_cat + m->n_cont;
  const char **cols = rk_calloc((size_t)(nf + o->n_keep) + 1, sizeof *cols);
  if (!cols) st = RK_ENOMEM;
  int ncols = cols ? rk_feed_columns(m, false, cols) : 0;
  for (int k = 0; cols && k < o->n_keep; k++) {
    bool dup = false;
    for (int i = 0; i < ncols; i++) dup = dup || strcmp(cols[i], o->keep[k]) == 0;
    if (!dup) cols[ncols++] = o->keep[k];
  }
  rk_loader_options lo;
  rk_loader_options_default(&lo);
  lo.path = o->path;
  lo.columns = cols;
  lo.ncolumns = ncols;
  lo.batch_size = o->batch_size;
  lo.shuffle = false;
  rk_loader *loader = NULL;
  rk_table_sink *sink = NULL;
  rk_sink_options so;
  rk_sink_options_default(&so);
  if (strcmp(fmt, "tsv") == 0) so.sep = '\t';
  rk_batch batch = {0}, outb = {0};
  char out_name[300];
  snprintf(out_name, sizeof out_name, "%s/%s", m->target, m->regression ? "regression_output" : "binary_output");
  if (st == RK_OK) st = rk_loader_open(&loader, &lo);
  if (st == RK_OK) st = rk_loader_start_epoch(loader, 0);
  if (st == RK_OK) st = rk_sink_open(&sink, file, &so);
  if (st == RK_OK) st = rk_batch_init(&outb, o->n_keep + 1);
  rk_progress progress;
  rk_progress_begin(&progress, "predict", loader ? (double)rk_loader_num_rows(loader) : 0, "rows");
  while (st == RK_OK) {
    if ((st = rk_loader_next(loader, &batch)) != RK_OK || batch.nrows == 0) break;
    if ((st = rk_feed_fill(&feed, &batch, 0)) != RK_OK) break;
    if ((st = rk_graph_forward(im.g, RK_EVAL)) != RK_OK) break;
    const float *z = rk_graph_value_f32(im.g, im.logit);
    /* Kept columns are copied beside the predictions. */
    for (int k = 0; k < o->n_keep && st == RK_OK; k++) {
      const rk_column *src = &batch.cols[rk_batch_find(&batch, o->keep[k])];
      rk_column *dst = &outb.cols[k];
      if (!dst->name) {
        rk_column_free(dst);
        st = rk_column_init(dst, src->name, src->type, src->child ? src->child->type : RK_COL_INT64);
      }
      rk_column_clear(dst);
      if (st == RK_OK) st = rk_column_append_column(dst, src, 0, batch.nrows);
    }
    rk_column *pc = &outb.cols[o->n_keep];
    rk_column_free(pc);
    if (st == RK_OK) st = rk_column_init(pc, out_name, RK_COL_FLOAT32, RK_COL_FLOAT32);
    if (st == RK_OK) st = rk_column_reserve(pc, batch.nrows, batch.nrows);
    for (int64_t r = 0; st == RK_OK && r < batch.nrows; r++)
      ((float *)pc->values)[r] = m->regression ? z[r] : (float)sigmoid(z[r]);
    if (st != RK_OK) break;
    pc->length = batch.nrows;
    outb.nrows = batch.nrows;
    if ((st = rk_sink_write(sink, &outb)) != RK_OK) break;
    *rows += batch.nrows;
    rk_progress_update(&progress, (double)*rows);
  }
  rk_progress_end(&progress);
  if (sink) {
    if (st == RK_OK) st = rk_sink_close(sink);
    else rk_sink_abort(sink);
  }
  rk_batch_free(&outb);
  rk_batch_free(&batch);
  if (loader) rk_loader_close(loader);
  rk_free(cols);
  rk_feed_free(&feed);
  rk_schema_free(&none);
  rk_ranking_free(&im);
  rk_free(file);
  return st;
}
