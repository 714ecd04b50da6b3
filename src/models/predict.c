/*
 * Prediction: a model's inference graph (sharing its parameters) over a dataset read in file
 * order, batch by batch; the probabilities (or a regression's outputs) go to any table sink with
 * chosen columns of the input kept beside them. Here, not in train/, so that a server needs only
 * models/ and etl/.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "reckon/io.h"
#include "reckon/models.h"

static double sigmoid(double z) { return 1.0 / (1.0 + exp(-z)); }

static bool has_suffix(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && strcmp(s + n - k, suffix) == 0;
}

rk_status rk_predict(const rk_model *m, const rk_predict_options *o, int64_t *rows) {
  *rows = 0;
  const char *fmt = o->format;
  bool is_file = has_suffix(o->output, ".parquet") || has_suffix(o->output, ".csv") || has_suffix(o->output, ".tsv");
  if (!fmt) fmt = has_suffix(o->output, ".csv") ? "csv" : has_suffix(o->output, ".tsv") ? "tsv" : "parquet";
  if (strcmp(fmt, "parquet") && strcmp(fmt, "csv") && strcmp(fmt, "tsv"))
    return rk_error(RK_EUSAGE, "invalid value '%s' for --predict_output_format: expected parquet, csv or tsv", fmt);
  /* A file is written only where none is, a folder only where no other kind of output is
   * (src/core/output.c); the folder is held while the predictions are written. */
  char *file = NULL;
  rk_output folder = {0};
  bool made = access(o->output, F_OK) != 0;
  if (is_file) {
    RK_TRY(rk_output_check_file(o->output, o->overwrite));
    RK_TRY(rk_output_sweep_beside(o->output));
    if (!(file = rk_strdup(o->output))) return RK_ENOMEM;
  } else {
    RK_TRY(rk_output_claim(&folder, o->output, "predictions", o->overwrite));
    size_t n = strlen(o->output) + 32;
    if ((file = rk_malloc(n))) snprintf(file, n, "%s/part_0.%s", o->output, fmt);
  }
  rk_model *im = NULL;
  rk_status st = file ? rk_model_share_for_data(&im, m, o->path, o->batch_size, 0) : RK_ENOMEM;
  if (st != RK_OK) {
    if (made && folder.held) rk_output_unclaim(&folder, o->output);
    rk_output_release(&folder);
    rk_free(file);
    return st;
  }
  rk_model_feed *feed = NULL;
  rk_schema none;
  rk_schema_init(&none);
  st = im->ops->feed_init(&feed, im, &none, 0, NULL, 0);
  /* The model's features, then kept columns that are not among them. */
  int nf = m->ops->feed_max_columns(m);
  const char **cols = rk_calloc((size_t)(nf + o->n_keep) + 1, sizeof *cols);
  if (!cols) st = RK_ENOMEM;
  int ncols = cols && st == RK_OK ? im->ops->feed_columns(feed, false, cols) : 0;
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
  lo.batch_size = rk_graph_batch(im->g);
  lo.shuffle = false;
  rk_loader *loader = NULL;
  rk_table_sink *sink = NULL;
  rk_sink_options so;
  rk_sink_options_default(&so);
  if (strcmp(fmt, "tsv") == 0) so.sep = '\t';
  rk_batch batch = {0}, outb = {0};
  int K = m->out.n_tasks;
  if (st == RK_OK) st = rk_loader_open(&loader, &lo);
  if (st == RK_OK) st = rk_loader_start_epoch(loader, 0);
  if (st == RK_OK) st = rk_sink_open(&sink, file, &so);
  if (st == RK_OK) st = rk_batch_init(&outb, o->n_keep + K);
  rk_progress progress;
  rk_progress_begin(&progress, "predict", loader ? (double)rk_loader_num_rows(loader) : 0, "rows");
  while (st == RK_OK) {
    if ((st = rk_loader_next(loader, &batch)) != RK_OK || batch.nrows == 0) break;
    if ((st = im->ops->feed_fill(feed, &batch, 0)) != RK_OK) break;
    if (o->before_forward && (st = o->before_forward(o->before_forward_ctx, im->g)) != RK_OK) break;
    if ((st = rk_graph_forward(im->g, RK_EVAL)) != RK_OK) break;
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
    /* One column per task: <target>/binary_output (a probability) or <target>/regression_output. */
    for (int t = 0; t < K && st == RK_OK; t++) {
      const float *z = rk_graph_value_f32(im->g, im->out.logits[t]);
      bool reg = m->out.regression[t];
      char out_name[300];
      snprintf(out_name, sizeof out_name, "%s/%s", m->out.targets[t], reg ? "regression_output" : "binary_output");
      rk_column *pc = &outb.cols[o->n_keep + t];
      rk_column_free(pc);
      if ((st = rk_column_init(pc, out_name, RK_COL_FLOAT32, RK_COL_FLOAT32)) == RK_OK)
        st = rk_column_reserve(pc, batch.nrows, batch.nrows);
      for (int64_t r = 0; st == RK_OK && r < batch.nrows; r++)
        ((float *)pc->values)[r] = reg ? z[r] : (float)sigmoid(z[r]);
      pc->length = st == RK_OK ? batch.nrows : 0;
    }
    if (st != RK_OK) break;
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
  im->ops->feed_free(feed);
  rk_schema_free(&none);
  im->ops->free(im);
  rk_free(file);
  if (st != RK_OK && made && folder.held) rk_output_unclaim(&folder, o->output);   /* leave no folder a failure made */
  rk_output_release(&folder);
  return st;
}
