/*
 * Evaluation: a model's inference graph (sharing its parameters, rk_model_share_for_data) over
 * a dataset read in file order, batch by batch. Metrics are exact (src/metrics/). Prediction,
 * which serving needs too, is src/models/predict.c.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

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

/* Per task accumulators. */
typedef struct {
  rk_binary_metrics *space, *all;   /* binary: rows of the sample space (unweighted); every row */
  rk_binary_metrics *base;          /* the baseline probabilities on the space's rows, or NULL */
  char base_col[256], base_div[256];   /* p_<task>, and p_<space> under a sample space ("" if none) */
  rk_regression_metrics reg;
  double loss;                      /* sum of weighted example losses (weights without the loss weight) */
} task_acc;

static void add_col(const char **cols, int *n, const char *name) {
  for (int i = 0; i < *n; i++)
    if (strcmp(cols[i], name) == 0) return;
  cols[(*n)++] = name;
}

static void put(json_t *o, const char *prefix, const char *key, double v) {
  char name[300];
  snprintf(name, sizeof name, "%s%s", prefix, key);
  json_object_set_new(o, name, number(v));
}

/* The metrics of task t: plain names for a single task, else "<task>/binary_output/<m>". */
static rk_status task_metrics(const rk_model *m, int t, task_acc *a, int64_t rows, json_t *out, double *auc) {
  char prefix[300] = "", loss_key[300] = "loss";
  bool several = m->out.n_tasks > 1;
  if (m->out.regression[t]) {
    if (several) {
      snprintf(prefix, sizeof prefix, "%s/regression_output/", m->out.targets[t]);
      snprintf(loss_key, sizeof loss_key, "%s/regression_output_loss", m->out.targets[t]);
    }
    put(out, "", loss_key, a->loss / (double)rows);
    put(out, prefix, "root_mean_squared_error", rk_regression_rmse(&a->reg));
    put(out, prefix, "mae", rk_regression_mae(&a->reg));
    *auc = NAN;
    return RK_OK;
  }
  if (several) {
    snprintf(prefix, sizeof prefix, "%s/binary_output/", m->out.targets[t]);
    snprintf(loss_key, sizeof loss_key, "%s/binary_output_loss", m->out.targets[t]);
  }
  rk_binary_result r, all;
  RK_TRY(rk_binary_metrics_compute(a->space, &r));
  put(out, "", loss_key, a->loss / (double)rows);
  put(out, prefix, "auc", r.auc);
  put(out, prefix, "prauc", r.prauc);
  put(out, prefix, "logloss", r.logloss);
  put(out, prefix, "precision", r.precision);
  put(out, prefix, "recall", r.recall);
  put(out, prefix, "binary_accuracy", r.accuracy);
  if (a->all) {   /* a sample space: the AUC over every row too */
    RK_TRY(rk_binary_metrics_compute(a->all, &all));
    put(out, prefix, "auc_all", all.auc);
    json_object_set_new(out, several ? (snprintf(loss_key, sizeof loss_key, "%s/binary_output/rows", m->out.targets[t]), loss_key)
                                     : "space_rows", json_integer(r.count));
  }
  *auc = r.auc;
  return RK_OK;
}

/* The grouped ranking metrics (o->group_column): MAP@k of the first task's probabilities, and of
 * probability + the leak column's value ("map_with_leak"), as the Wide & Deep recipe reports. */
typedef struct {
  rk_map_metrics *plain, *leak;
  int64_t *group;
  float *score, *label;
} map_acc;

static rk_status map_add(map_acc *a, const rk_eval_options *o, const rk_batch *batch, const float *z, const char *target) {
  const rk_column *g = &batch->cols[rk_batch_find(batch, o->group_column)];
  const rk_column *y = &batch->cols[rk_batch_find(batch, target)];
  const rk_column *lk = o->leak_column ? &batch->cols[rk_batch_find(batch, o->leak_column)] : NULL;
  int64_t n = batch->nrows;
  for (int64_t r = 0; r < n; r++) {
    if (rk_column_is_null(g, r)) return rk_error(RK_EFORMAT, "group column '%s' is null in a row", o->group_column);
    a->group[r] = rk_column_get_int(g, r);
    a->score[r] = (float)sigmoid(z[r]);
    a->label[r] = (float)rk_column_get_double(y, r);
  }
  RK_TRY(rk_map_metrics_add(a->plain, a->group, a->score, a->label, n));
  if (!lk) return RK_OK;
  for (int64_t r = 0; r < n; r++) a->score[r] += rk_column_is_null(lk, r) ? 0.0f : (float)rk_column_get_double(lk, r);
  return rk_map_metrics_add(a->leak, a->group, a->score, a->label, n);
}

static rk_status map_put(map_acc *a, json_t *out) {
  rk_map_result r;
  RK_TRY(rk_map_metrics_compute(a->plain, &r));
  json_object_set_new(out, "map", number(r.map));
  json_object_set_new(out, "map_groups", json_integer(r.groups));
  if (r.unlabeled) json_object_set_new(out, "map_groups_without_click", json_integer(r.unlabeled));
  if (a->leak) {
    RK_TRY(rk_map_metrics_compute(a->leak, &r));
    json_object_set_new(out, "map_with_leak", number(r.map));
  }
  return RK_OK;
}

static void map_free(map_acc *a) {
  rk_map_metrics_free(a->plain);
  rk_map_metrics_free(a->leak);
  rk_free(a->group);
  rk_free(a->score);
  rk_free(a->label);
}

rk_status rk_evaluate(const rk_model *m, const rk_schema *schema, const rk_eval_options *o, rk_eval_result *out) {
  memset(out, 0, sizeof *out);
  rk_model *im;
  RK_TRY(rk_model_share_for_data(&im, m, o->path, o->batch_size, o->negatives));
  rk_model_feed *feed;
  rk_status st = im->ops->feed_init(&feed, im, schema, o->negatives, o->tw, o->seed);
  if (st != RK_OK) {
    im->ops->free(im);
    return st;
  }
  const rk_task_weights *tw = im->ops->feed_weights(feed);
  const int64_t *src = im->ops->feed_sources(feed);   /* per graph row: its data row, -1 padding */
  int K = m->out.n_tasks;
  const char **cols = rk_calloc((size_t)m->ops->feed_max_columns(m) + 2 * (size_t)K + 3, sizeof *cols);
  task_acc acc[RK_MAX_TASKS];
  memset(acc, 0, sizeof acc);
  int64_t B = rk_graph_batch(im->g);
  float *y = rk_malloc((size_t)B * sizeof *y), *p = rk_malloc((size_t)B * sizeof *p);
  if (!cols || !y || !p) st = RK_ENOMEM;
  int ncols = cols ? im->ops->feed_columns(feed, true, cols) : 0;
  for (int t = 0; cols && o->baseline_prefix && t < K; t++) {
    if (m->out.regression[t]) continue;
    snprintf(acc[t].base_col, sizeof acc[t].base_col, "%s%s", o->baseline_prefix, m->out.targets[t]);
    if (rk_schema_find_index(schema, acc[t].base_col) < 0) {
      acc[t].base_col[0] = '\0';
      continue;
    }
    add_col(cols, &ncols, acc[t].base_col);
    if (tw->sample_space[t]) {
      snprintf(acc[t].base_div, sizeof acc[t].base_div, "%s%s", o->baseline_prefix, tw->sample_space[t]);
      if (rk_schema_find_index(schema, acc[t].base_div) < 0) acc[t].base_div[0] = '\0';
      else add_col(cols, &ncols, acc[t].base_div);
    }
  }
  for (int t = 0; st == RK_OK && t < K; t++) {
    rk_regression_metrics_reset(&acc[t].reg);
    if (m->out.regression[t]) continue;
    st = rk_binary_metrics_create(&acc[t].space);
    if (st == RK_OK && tw->sample_space[t]) st = rk_binary_metrics_create(&acc[t].all);
  }
  for (int t = 0; st == RK_OK && t < K; t++)
    if (acc[t].base_col[0]) st = rk_binary_metrics_create(&acc[t].base);
  map_acc ma = {0};
  if (st == RK_OK && o->group_column) {
    const char *need[2] = {o->group_column, o->leak_column};
    for (int i = 0; i < 2 && st == RK_OK; i++)
      if (need[i] && rk_schema_find_index(schema, need[i]) < 0)
        st = rk_error(RK_ENOTFOUND, "the eval data's schema has no column '%s' (%s)", need[i],
                      i ? "the leak column of map_with_leak" : "the group column of MAP@k");
    if (st == RK_OK && m->out.regression[0])
      st = rk_error(RK_EUSAGE, "MAP@k ranks by a binary task's probability; '%s' is a regression target", m->out.targets[0]);
    if (st == RK_OK) st = rk_map_metrics_create(&ma.plain, o->map_k > 0 ? o->map_k : 12);
    if (st == RK_OK && o->leak_column) st = rk_map_metrics_create(&ma.leak, o->map_k > 0 ? o->map_k : 12);
    ma.group = rk_malloc((size_t)B * sizeof *ma.group);
    ma.score = rk_malloc((size_t)B * sizeof *ma.score);
    ma.label = rk_malloc((size_t)B * sizeof *ma.label);
    if (st == RK_OK && (!ma.group || !ma.score || !ma.label)) st = RK_ENOMEM;
    add_col(cols, &ncols, o->group_column);
    if (o->leak_column) add_col(cols, &ncols, o->leak_column);
  }
  rk_loader_options lo;
  rk_loader_options_default(&lo);
  lo.path = o->path;
  lo.columns = cols;
  lo.ncolumns = ncols;
  lo.batch_size = im->ops->feed_batch_rows(feed);
  lo.shuffle = false;
  rk_loader *loader = NULL;
  rk_batch batch = {0};
  int64_t cap = 0, total = 0, rows_done = 0;
  if (st == RK_OK) st = rk_loader_open(&loader, &lo);
  if (st == RK_OK) st = rk_loader_start_epoch(loader, 0);
  rk_progress progress;
  rk_progress_begin(&progress, "evaluate", loader ? (double)rk_loader_num_rows(loader) : 0, "rows");
  for (uint64_t step = 0; st == RK_OK && !(o->max_batches > 0 && (int64_t)step >= o->max_batches); step++) {
    if ((st = rk_loader_next(loader, &batch)) != RK_OK || batch.nrows == 0) break;
    if ((st = im->ops->feed_fill(feed, &batch, step)) != RK_OK) break;
    if (o->before_forward && (st = o->before_forward(o->before_forward_ctx, im->g)) != RK_OK) break;
    if ((st = rk_graph_forward(im->g, RK_EVAL)) != RK_OK) break;
    int64_t n = 0;
    for (int t = 0; st == RK_OK && t < K; t++) {
      const float *z = rk_graph_value_f32(im->g, im->out.logits[t]);
      const rk_column *tc = &batch.cols[rk_batch_find(&batch, m->out.targets[t])];
      int sk = tw->sample_space[t] ? rk_batch_find(&batch, tw->sample_space[t]) : -1;
      bool reg = m->out.regression[t];
      int64_t ns = 0;
      n = 0;
      /* Rows of the sample space first (for the space metrics), then the others (all rows). */
      for (int pass = 0; pass < 2; pass++) {
        for (int64_t r = 0; r < B; r++) {
          if (src[r] < 0) continue;
          bool negative = r >= batch.nrows;
          bool in_space = sk < 0 || (!negative && rk_column_get_double(&batch.cols[sk], r) == 1.0);
          if (in_space != (pass == 0)) continue;
          double label = negative ? 0.0 : rk_column_get_double(tc, r);
          y[n] = (float)label;
          p[n] = reg ? z[r] : (float)sigmoid(z[r]);
          double w = in_space ? ((!reg && label == 1.0) ? tw->positive_weight[t] : 1.0) : 0.0;
          if (reg) {
            double d = z[r] - label;
            acc[t].loss += w * d * d;
          } else {
            double zr = z[r];
            acc[t].loss += w * ((zr > 0 ? zr : 0) - zr * label + log1p(exp(-fabs(zr))));
          }
          n++;
          ns += pass == 0;
        }
      }
      if (reg) rk_regression_metrics_add(&acc[t].reg, p, y, NULL, ns);
      else st = rk_binary_metrics_add(acc[t].space, p, y, NULL, ns);
      if (st == RK_OK && acc[t].all) st = rk_binary_metrics_add(acc[t].all, p, y, NULL, n);
      if (st == RK_OK && acc[t].base) {   /* the baseline on the same data rows of the space */
        const rk_column *bc = &batch.cols[rk_batch_find(&batch, acc[t].base_col)];
        const rk_column *dc = acc[t].base_div[0] ? &batch.cols[rk_batch_find(&batch, acc[t].base_div)] : NULL;
        int64_t nb = 0;
        for (int64_t r = 0; r < batch.nrows; r++) {
          if (sk >= 0 && rk_column_get_double(&batch.cols[sk], r) != 1.0) continue;
          double v = rk_column_get_double(bc, r), d = dc ? rk_column_get_double(dc, r) : 1.0;
          p[nb] = (float)(d > 0 ? v / d : v);
          if (p[nb] > 1.0f) p[nb] = 1.0f;
          y[nb++] = (float)rk_column_get_double(tc, r);
        }
        st = rk_binary_metrics_add(acc[t].base, p, y, NULL, nb);
        if (st != RK_OK) st = rk_error_context(st, "baseline column '%s'", acc[t].base_col);
      }
      if (st == RK_OK && t == 0 && o->keep_predictions && (st = grow(&out->prob, &out->label, &cap, total + n)) == RK_OK) {
        memcpy(out->prob + total, p, (size_t)n * sizeof *p);
        memcpy(out->label + total, y, (size_t)n * sizeof *y);
      }
    }
    if (st == RK_OK && ma.plain) st = map_add(&ma, o, &batch, rk_graph_value_f32(im->g, im->out.logits[0]), m->out.targets[0]);
    if (st != RK_OK) break;
    total += n;
    rows_done += batch.nrows;
    rk_progress_update(&progress, (double)rows_done);
  }
  rk_progress_end(&progress);
  if (st == RK_OK && total == 0) st = rk_error(RK_EINVAL, "no rows to evaluate in '%s'", o->path);
  if (st == RK_OK && !(out->metrics = json_object())) st = RK_ENOMEM;
  double loss = 0, auc_sum = 0;
  int n_auc = 0;
  for (int t = 0; st == RK_OK && t < K; t++) {
    double auc = NAN;
    st = task_metrics(m, t, &acc[t], total, out->metrics, &auc);
    loss += tw->loss_weight[t] * acc[t].loss / (double)total;
    if (!isnan(auc)) auc_sum += auc, n_auc++;
  }
  if (st == RK_OK && K > 1) {
    json_object_set_new(out->metrics, "loss", number(loss));
    if (n_auc) json_object_set_new(out->metrics, "auc_avg", number(auc_sum / n_auc));
  }
  if (st == RK_OK) {
    out->rows = total;
    json_object_set_new(out->metrics, "rows", json_integer(total));
  }
  if (st == RK_OK && ma.plain) st = map_put(&ma, out->metrics);
  for (int t = 0; st == RK_OK && t < K; t++) {
    rk_binary_result br;
    if (!acc[t].base || (st = rk_binary_metrics_compute(acc[t].base, &br)) != RK_OK) continue;
    char key[400];
    snprintf(key, sizeof key, K == 1 ? "baseline_auc" : "%s/binary_output/baseline_auc", m->out.targets[t]);
    json_object_set_new(out->metrics, key, number(br.auc));
  }
  if (st != RK_OK) rk_eval_result_free(out);
  for (int t = 0; t < K; t++) {
    rk_binary_metrics_free(acc[t].space);
    rk_binary_metrics_free(acc[t].all);
    rk_binary_metrics_free(acc[t].base);
  }
  map_free(&ma);
  rk_free(y);
  rk_free(p);
  rk_batch_free(&batch);
  if (loader) rk_loader_close(loader);
  rk_free(cols);
  im->ops->feed_free(feed);
  im->ops->free(im);
  return st;
}
