/*
 * Evaluation: a model's inference graph (sharing its parameters, rk_model_share_for_data) over
 * a dataset read in file order, batch by batch. Metrics are exact (src/metrics/). Prediction,
 * which serving needs too, is src/models/predict.c.
 *
 * Over several ranks (o->dist, docs/distributed.md): every rank reads the batches in the same
 * order and scores those whose index is its rank modulo the ranks; after each round of one batch
 * per rank, the scored rows (probabilities, labels, loss terms, MAP's groups) go to rank 0 in
 * batch order, and rank 0 adds them to the metrics exactly as one process adds its own batches.
 * So the metrics, and everything written from them, have the bits of a one-process run; rank 0
 * then hands the metrics to every rank. Scoring a batch is kept apart from adding it
 * (scored_fill, scored_add) for that: the same record travels or not.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
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

/* ---- one batch's scored rows ----
 * What the accumulators take from a batch, in the order they take it: per task the graph rows
 * (the sample space's first), their probabilities (a regression's predictions), labels and
 * weighted loss terms, and the baseline's probabilities and labels; MAP's group, score (and
 * score + leak) and label per data row. Flat, so that it travels between ranks as bytes. */
typedef struct {
  int K;
  int64_t B;                        /* graph rows: the most any array holds */
  bool leak;
  int64_t data_rows;
  int64_t n[RK_MAX_TASKS], ns[RK_MAX_TASKS], nb[RK_MAX_TASKS];
  float *p, *y;                     /* (K, B) */
  double *loss;                     /* (K, B) */
  float *bp, *by;                   /* (K, B) baseline */
  int64_t nm;
  int64_t *group;                   /* (B) */
  float *score, *score_leak, *label;   /* (B) */
} scored;

static rk_status scored_init(scored *s, int K, int64_t B, bool leak) {
  memset(s, 0, sizeof *s);
  s->K = K, s->B = B, s->leak = leak;
  size_t kb = (size_t)K * (size_t)B;
  s->p = rk_malloc(kb * sizeof *s->p);
  s->y = rk_malloc(kb * sizeof *s->y);
  s->loss = rk_malloc(kb * sizeof *s->loss);
  s->bp = rk_malloc(kb * sizeof *s->bp);
  s->by = rk_malloc(kb * sizeof *s->by);
  s->group = rk_malloc((size_t)B * sizeof *s->group);
  s->score = rk_malloc((size_t)B * sizeof *s->score);
  s->score_leak = rk_malloc((size_t)B * sizeof *s->score_leak);
  s->label = rk_malloc((size_t)B * sizeof *s->label);
  bool ok = s->p && s->y && s->loss && s->bp && s->by && s->group && s->score && s->score_leak && s->label;
  return ok ? RK_OK : RK_ENOMEM;
}

static void scored_free(scored *s) {
  rk_free(s->p), rk_free(s->y), rk_free(s->loss), rk_free(s->bp), rk_free(s->by);
  rk_free(s->group), rk_free(s->score), rk_free(s->score_leak), rk_free(s->label);
  memset(s, 0, sizeof *s);
}

/* The record as bytes: counts (int64), then per task p, y, loss, bp, by, then MAP's arrays. */
static int64_t scored_bytes(const scored *s) {
  int64_t bytes = (int64_t)(2 + 3 * s->K) * (int64_t)sizeof(int64_t);
  for (int t = 0; t < s->K; t++)
    bytes += s->n[t] * (int64_t)(2 * sizeof(float) + sizeof(double)) + s->nb[t] * (int64_t)(2 * sizeof(float));
  return bytes + s->nm * (int64_t)(sizeof(int64_t) + (s->leak ? 3 : 2) * sizeof(float));
}

static unsigned char *put_bytes(unsigned char *at, const void *src, size_t bytes) {
  if (bytes) memcpy(at, src, bytes);
  return at + bytes;
}

static void scored_write(const scored *s, unsigned char *at) {
  at = put_bytes(at, &s->data_rows, sizeof s->data_rows);
  at = put_bytes(at, &s->nm, sizeof s->nm);
  at = put_bytes(at, s->n, (size_t)s->K * sizeof *s->n);
  at = put_bytes(at, s->ns, (size_t)s->K * sizeof *s->ns);
  at = put_bytes(at, s->nb, (size_t)s->K * sizeof *s->nb);
  for (int t = 0; t < s->K; t++) {
    int64_t o = (int64_t)t * s->B;
    at = put_bytes(at, s->p + o, (size_t)s->n[t] * sizeof *s->p);
    at = put_bytes(at, s->y + o, (size_t)s->n[t] * sizeof *s->y);
    at = put_bytes(at, s->loss + o, (size_t)s->n[t] * sizeof *s->loss);
    at = put_bytes(at, s->bp + o, (size_t)s->nb[t] * sizeof *s->bp);
    at = put_bytes(at, s->by + o, (size_t)s->nb[t] * sizeof *s->by);
  }
  at = put_bytes(at, s->group, (size_t)s->nm * sizeof *s->group);
  at = put_bytes(at, s->score, (size_t)s->nm * sizeof *s->score);
  if (s->leak) at = put_bytes(at, s->score_leak, (size_t)s->nm * sizeof *s->score_leak);
  put_bytes(at, s->label, (size_t)s->nm * sizeof *s->label);
}

/* Takes `count` elements of `size` bytes from *at into dst when they fit within `end`. */
static bool take(void *dst, const unsigned char **at, const unsigned char *end, int64_t count, size_t size) {
  if (count < 0 || (uint64_t)(end - *at) / size < (uint64_t)count) return false;
  if (count) memcpy(dst, *at, (size_t)count * size);
  *at += (size_t)count * size;
  return true;
}

/* One record from another rank (its scored_write); s keeps its K, B and leak. */
static rk_status scored_read(scored *s, const unsigned char *at, const unsigned char *end) {
  bool ok = take(&s->data_rows, &at, end, 1, sizeof s->data_rows) && take(&s->nm, &at, end, 1, sizeof s->nm) &&
            take(s->n, &at, end, s->K, sizeof *s->n) && take(s->ns, &at, end, s->K, sizeof *s->ns) &&
            take(s->nb, &at, end, s->K, sizeof *s->nb) && s->nm <= s->B;
  for (int t = 0; ok && t < s->K; t++) {
    int64_t o = (int64_t)t * s->B;
    ok = s->n[t] <= s->B && s->nb[t] <= s->B && take(s->p + o, &at, end, s->n[t], sizeof *s->p) &&
         take(s->y + o, &at, end, s->n[t], sizeof *s->y) && take(s->loss + o, &at, end, s->n[t], sizeof *s->loss) &&
         take(s->bp + o, &at, end, s->nb[t], sizeof *s->bp) && take(s->by + o, &at, end, s->nb[t], sizeof *s->by);
  }
  ok = ok && take(s->group, &at, end, s->nm, sizeof *s->group) && take(s->score, &at, end, s->nm, sizeof *s->score) &&
       (!s->leak || take(s->score_leak, &at, end, s->nm, sizeof *s->score_leak)) &&
       take(s->label, &at, end, s->nm, sizeof *s->label) && at == end;
  return ok ? RK_OK : rk_error(RK_EINTERNAL, "evaluation: a rank's scored rows are cut short or malformed");
}

/* ---- the run's accumulators ---- */

typedef struct {
  const rk_model *m;
  const rk_eval_options *o;
  const rk_task_weights *tw;
  task_acc acc[RK_MAX_TASKS];
  rk_map_metrics *map, *map_leak;   /* o->group_column: MAP@k of the first task, and with the leak */
  int64_t total, rows_done, cap;
} eval_acc;

static void eval_acc_free(eval_acc *a) {
  for (int t = 0; t < a->m->out.n_tasks; t++) {
    rk_binary_metrics_free(a->acc[t].space);
    rk_binary_metrics_free(a->acc[t].all);
    rk_binary_metrics_free(a->acc[t].base);
  }
  rk_map_metrics_free(a->map);
  rk_map_metrics_free(a->map_leak);
}

/* Scores the batch in the graph (forward done) into s. */
static rk_status scored_fill(scored *s, const eval_acc *a, const rk_model *im, const rk_batch *batch, const int64_t *src) {
  const rk_model *m = a->m;
  const rk_task_weights *tw = a->tw;
  s->data_rows = batch->nrows;
  for (int t = 0; t < s->K; t++) {
    const float *z = rk_graph_value_f32(im->g, im->out.logits[t]);
    const rk_column *tc = &batch->cols[rk_batch_find(batch, m->out.targets[t])];
    int sk = tw->sample_space[t] ? rk_batch_find(batch, tw->sample_space[t]) : -1;
    bool reg = m->out.regression[t];
    float *p = s->p + (int64_t)t * s->B, *y = s->y + (int64_t)t * s->B;
    double *loss = s->loss + (int64_t)t * s->B;
    int64_t n = 0, ns = 0;
    /* Rows of the sample space first (for the space metrics), then the others (all rows). */
    for (int pass = 0; pass < 2; pass++) {
      for (int64_t r = 0; r < s->B; r++) {
        if (src[r] < 0) continue;
        bool negative = r >= batch->nrows;
        bool in_space = sk < 0 || (!negative && rk_column_get_double(&batch->cols[sk], r) == 1.0);
        if (in_space != (pass == 0)) continue;
        double label = negative ? 0.0 : rk_column_get_double(tc, r);
        y[n] = (float)label;
        p[n] = reg ? z[r] : (float)sigmoid(z[r]);
        double w = in_space ? ((!reg && label == 1.0) ? tw->positive_weight[t] : 1.0) : 0.0;
        if (reg) {
          double d = z[r] - label;
          loss[n] = w * d * d;
        } else {
          double zr = z[r];
          loss[n] = w * ((zr > 0 ? zr : 0) - zr * label + log1p(exp(-fabs(zr))));
        }
        n++;
        ns += pass == 0;
      }
    }
    s->n[t] = n, s->ns[t] = ns, s->nb[t] = 0;
    if (a->acc[t].base) {   /* the baseline on the same data rows of the space */
      const rk_column *bc = &batch->cols[rk_batch_find(batch, a->acc[t].base_col)];
      const rk_column *dc = a->acc[t].base_div[0] ? &batch->cols[rk_batch_find(batch, a->acc[t].base_div)] : NULL;
      float *bp = s->bp + (int64_t)t * s->B, *by = s->by + (int64_t)t * s->B;
      int64_t nb = 0;
      for (int64_t r = 0; r < batch->nrows; r++) {
        if (sk >= 0 && rk_column_get_double(&batch->cols[sk], r) != 1.0) continue;
        double v = rk_column_get_double(bc, r), d = dc ? rk_column_get_double(dc, r) : 1.0;
        bp[nb] = (float)(d > 0 ? v / d : v);
        if (bp[nb] > 1.0f) bp[nb] = 1.0f;
        by[nb++] = (float)rk_column_get_double(tc, r);
      }
      s->nb[t] = nb;
    }
  }
  s->nm = 0;
  if (!a->map) return RK_OK;
  /* MAP@k ranks the first task's probabilities, and probability + the leak column's value. */
  const rk_eval_options *o = a->o;
  const float *z = rk_graph_value_f32(im->g, im->out.logits[0]);
  const rk_column *g = &batch->cols[rk_batch_find(batch, o->group_column)];
  const rk_column *y = &batch->cols[rk_batch_find(batch, m->out.targets[0])];
  const rk_column *lk = o->leak_column ? &batch->cols[rk_batch_find(batch, o->leak_column)] : NULL;
  for (int64_t r = 0; r < batch->nrows; r++) {
    if (rk_column_is_null(g, r)) return rk_error(RK_EFORMAT, "group column '%s' is null in a row", o->group_column);
    s->group[r] = rk_column_get_int(g, r);
    s->score[r] = (float)sigmoid(z[r]);
    s->label[r] = (float)rk_column_get_double(y, r);
    if (lk) s->score_leak[r] = s->score[r] + (rk_column_is_null(lk, r) ? 0.0f : (float)rk_column_get_double(lk, r));
  }
  s->nm = batch->nrows;
  return RK_OK;
}

/* Adds a batch's scored rows to the metrics (and to out's predictions when kept). */
static rk_status scored_add(eval_acc *a, const scored *s, rk_eval_result *out) {
  rk_status st = RK_OK;
  for (int t = 0; st == RK_OK && t < s->K; t++) {
    task_acc *acc = &a->acc[t];
    int64_t o = (int64_t)t * s->B, n = s->n[t];
    const float *p = s->p + o, *y = s->y + o;
    for (int64_t i = 0; i < n; i++) acc->loss += s->loss[o + i];
    if (a->m->out.regression[t]) rk_regression_metrics_add(&acc->reg, p, y, NULL, s->ns[t]);
    else st = rk_binary_metrics_add(acc->space, p, y, NULL, s->ns[t]);
    if (st == RK_OK && acc->all) st = rk_binary_metrics_add(acc->all, p, y, NULL, n);
    if (st == RK_OK && acc->base) {
      st = rk_binary_metrics_add(acc->base, s->bp + o, s->by + o, NULL, s->nb[t]);
      if (st != RK_OK) st = rk_error_context(st, "baseline column '%s'", acc->base_col);
    }
    if (st == RK_OK && t == 0 && a->o->keep_predictions &&
        (st = grow(&out->prob, &out->label, &a->cap, a->total + n)) == RK_OK) {
      memcpy(out->prob + a->total, p, (size_t)n * sizeof *p);
      memcpy(out->label + a->total, y, (size_t)n * sizeof *y);
    }
  }
  if (st == RK_OK && a->map) st = rk_map_metrics_add(a->map, s->group, s->score, s->label, s->nm);
  if (st == RK_OK && a->map_leak) st = rk_map_metrics_add(a->map_leak, s->group, s->score_leak, s->label, s->nm);
  if (st != RK_OK) return st;
  a->total += s->n[0];
  a->rows_done += s->data_rows;
  return RK_OK;
}

static rk_status map_put(eval_acc *a, json_t *out) {
  rk_map_result r;
  RK_TRY(rk_map_metrics_compute(a->map, &r));
  json_object_set_new(out, "map", number(r.map));
  json_object_set_new(out, "map_groups", json_integer(r.groups));
  if (r.unlabeled) json_object_set_new(out, "map_groups_without_click", json_integer(r.unlabeled));
  if (a->map_leak) {
    RK_TRY(rk_map_metrics_compute(a->map_leak, &r));
    json_object_set_new(out, "map_with_leak", number(r.map));
  }
  return RK_OK;
}

/* The metrics of everything added. */
static rk_status eval_acc_metrics(eval_acc *a, rk_eval_result *out) {
  const rk_model *m = a->m;
  int K = m->out.n_tasks;
  if (a->total == 0) return rk_error(RK_EINVAL, "no rows to evaluate in '%s'", a->o->path);
  if (!(out->metrics = json_object())) return RK_ENOMEM;
  double loss = 0, auc_sum = 0;
  int n_auc = 0;
  for (int t = 0; t < K; t++) {
    double auc = NAN;
    RK_TRY(task_metrics(m, t, &a->acc[t], a->total, out->metrics, &auc));
    loss += a->tw->loss_weight[t] * a->acc[t].loss / (double)a->total;
    if (!isnan(auc)) auc_sum += auc, n_auc++;
  }
  if (K > 1) {
    json_object_set_new(out->metrics, "loss", number(loss));
    if (n_auc) json_object_set_new(out->metrics, "auc_avg", number(auc_sum / n_auc));
  }
  out->rows = a->total;
  json_object_set_new(out->metrics, "rows", json_integer(a->total));
  if (a->map) RK_TRY(map_put(a, out->metrics));
  for (int t = 0; t < K; t++) {
    rk_binary_result br;
    if (!a->acc[t].base) continue;
    RK_TRY(rk_binary_metrics_compute(a->acc[t].base, &br));
    char key[400];
    snprintf(key, sizeof key, K == 1 ? "baseline_auc" : "%s/binary_output/baseline_auc", m->out.targets[t]);
    json_object_set_new(out->metrics, key, number(br.auc));
  }
  return RK_OK;
}

/* ---- over ranks ---- */

/* The ranks' scoring of one round: each rank's record (none when it had no batch this round)
 * to rank 0, which adds them in rank order, the batches' order. per_rank (rank 0; size x 2):
 * the data rows and batches each rank scored. */
typedef struct {
  rk_dist *d;
  unsigned char *send, *recv;
  int64_t send_cap, recv_cap;
  int64_t *counts;                  /* (size) */
  scored theirs;                    /* a record read back */
  int64_t *per_rank;                /* (size, 2) */
} eval_round;

static rk_status grow_bytes(unsigned char **buf, int64_t *cap, int64_t need) {
  if (need <= *cap) return RK_OK;
  unsigned char *b = rk_realloc(*buf, (size_t)need);
  if (!b) return RK_ENOMEM;
  *buf = b;
  *cap = need;
  return RK_OK;
}

static rk_status round_exchange(eval_round *x, const scored *mine, bool have, eval_acc *a, rk_eval_result *out) {
  int size = rk_dist_size(x->d);
  int64_t bytes = have ? scored_bytes(mine) : 0, total = 0;
  RK_TRY(grow_bytes(&x->send, &x->send_cap, bytes + 1));
  if (have) scored_write(mine, x->send);
  RK_TRY(rk_dist_allgather(x->d, x->counts, &bytes, 1, RK_DIST_I64));
  for (int r = 0; r < size; r++) RK_TRY(rk_size_add(&total, total, x->counts[r], "an evaluation round"));
  bool root = rk_dist_rank(x->d) == 0;
  if (root) RK_TRY(grow_bytes(&x->recv, &x->recv_cap, total + 1));
  RK_TRY(rk_dist_gatherv(x->d, root ? x->recv : NULL, x->send, x->counts, RK_DIST_BYTE));
  const unsigned char *at = x->recv;
  for (int r = 0; root && r < size; at += x->counts[r], r++) {
    if (x->counts[r] == 0) continue;
    RK_TRY(scored_read(&x->theirs, at, at + x->counts[r]));
    RK_TRY(scored_add(a, &x->theirs, out));
    x->per_rank[2 * r] += x->theirs.data_rows;
    x->per_rank[2 * r + 1]++;
  }
  return RK_OK;
}

/* Rank 0's metrics to every rank (as JSON text: jansson writes reals to round-trip), so every
 * rank returns the same result; a failure on rank 0 is sent as a length of -1. */
static rk_status share_metrics(rk_dist *d, rk_eval_result *out, rk_status root_status) {
  if (rk_dist_rank(d) == 0) {
    char *text = root_status == RK_OK ? json_dumps(out->metrics, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
    if (root_status == RK_OK && !text) root_status = RK_ENOMEM;
    int64_t len = text ? (int64_t)strlen(text) : -1;
    rk_status st = rk_dist_broadcast(d, &len, 1, RK_DIST_I64, 0);
    if (st == RK_OK && text) st = rk_dist_broadcast(d, text, len, RK_DIST_BYTE, 0);
    free(text);
    return root_status != RK_OK ? root_status : st;
  }
  /* rank 0 computes the metrics (a sort over every row) while the others wait: no hang timeout */
  int64_t len;
  double timeout = rk_dist_set_timeout(d, 7 * 24 * 3600.0);
  rk_status st = rk_dist_broadcast(d, &len, 1, RK_DIST_I64, 0);
  rk_dist_set_timeout(d, timeout);
  if (st == RK_OK && len < 0) return rk_error(RK_EIO, "evaluation failed on rank 0");
  char *text = st == RK_OK ? rk_malloc((size_t)len + 1) : NULL;
  if (st == RK_OK && !text) st = RK_ENOMEM;
  if (st == RK_OK) st = rk_dist_broadcast(d, text, len, RK_DIST_BYTE, 0);
  if (st == RK_OK) {
    text[len] = '\0';
    json_error_t err;
    out->metrics = json_loads(text, 0, &err);
    if (!out->metrics) st = rk_error(RK_EINTERNAL, "evaluation: rank 0's metrics do not parse: %s", err.text);
    else out->rows = json_integer_value(json_object_get(out->metrics, "rows"));
  }
  rk_free(text);
  return st;
}

/* ---- the pass ---- */

/* The accumulators the model and options ask for, and the columns the loader must read. */
static rk_status eval_acc_init(eval_acc *a, const rk_schema *schema, const char **cols, int *ncols) {
  const rk_model *m = a->m;
  const rk_eval_options *o = a->o;
  int K = m->out.n_tasks;
  for (int t = 0; o->baseline_prefix && t < K; t++) {
    if (m->out.regression[t]) continue;
    snprintf(a->acc[t].base_col, sizeof a->acc[t].base_col, "%s%s", o->baseline_prefix, m->out.targets[t]);
    if (rk_schema_find_index(schema, a->acc[t].base_col) < 0) {
      a->acc[t].base_col[0] = '\0';
      continue;
    }
    add_col(cols, ncols, a->acc[t].base_col);
    if (a->tw->sample_space[t]) {
      snprintf(a->acc[t].base_div, sizeof a->acc[t].base_div, "%s%s", o->baseline_prefix, a->tw->sample_space[t]);
      if (rk_schema_find_index(schema, a->acc[t].base_div) < 0) a->acc[t].base_div[0] = '\0';
      else add_col(cols, ncols, a->acc[t].base_div);
    }
  }
  for (int t = 0; t < K; t++) {
    rk_regression_metrics_reset(&a->acc[t].reg);
    if (m->out.regression[t]) continue;
    RK_TRY(rk_binary_metrics_create(&a->acc[t].space));
    if (a->tw->sample_space[t]) RK_TRY(rk_binary_metrics_create(&a->acc[t].all));
    if (a->acc[t].base_col[0]) RK_TRY(rk_binary_metrics_create(&a->acc[t].base));
  }
  if (!o->group_column) return RK_OK;
  const char *need[2] = {o->group_column, o->leak_column};
  for (int i = 0; i < 2; i++)
    if (need[i] && rk_schema_find_index(schema, need[i]) < 0)
      return rk_error(RK_ENOTFOUND, "the eval data's schema has no column '%s' (%s)", need[i],
                      i ? "the leak column of map_with_leak" : "the group column of MAP@k");
  if (m->out.regression[0])
    return rk_error(RK_EUSAGE, "MAP@k ranks by a binary task's probability; '%s' is a regression target", m->out.targets[0]);
  RK_TRY(rk_map_metrics_create(&a->map, o->map_k > 0 ? o->map_k : 12));
  if (o->leak_column) RK_TRY(rk_map_metrics_create(&a->map_leak, o->map_k > 0 ? o->map_k : 12));
  add_col(cols, ncols, o->group_column);
  if (o->leak_column) add_col(cols, ncols, o->leak_column);
  return RK_OK;
}

static void log_shares(const eval_round *x) {
  int size = rk_dist_size(x->d);
  char line[1024] = "";
  for (int r = 0; r < size && strlen(line) < sizeof line - 64; r++)
    snprintf(line + strlen(line), sizeof line - strlen(line), "%srank %d %lld rows in %lld batches", r ? ", " : "", r,
             (long long)x->per_rank[2 * r], (long long)x->per_rank[2 * r + 1]);
  rk_info("evaluation over %d ranks: %s", size, line);
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
  int size = o->dist ? rk_dist_size(o->dist) : 1, me = o->dist ? rk_dist_rank(o->dist) : 0;
  eval_acc a = {.m = m, .o = o, .tw = im->ops->feed_weights(feed)};
  const int64_t *src = im->ops->feed_sources(feed);   /* per graph row: its data row, -1 padding */
  int K = m->out.n_tasks;
  const char **cols = rk_calloc((size_t)m->ops->feed_max_columns(m) + 2 * (size_t)K + 3, sizeof *cols);
  int64_t B = rk_graph_batch(im->g);
  scored mine;
  eval_round x = {.d = o->dist};
  st = scored_init(&mine, K, B, o->leak_column != NULL);
  if (st == RK_OK && size > 1) {
    st = scored_init(&x.theirs, K, B, o->leak_column != NULL);
    x.counts = rk_calloc((size_t)size, sizeof *x.counts);
    x.per_rank = rk_calloc(2 * (size_t)size, sizeof *x.per_rank);
    if (st == RK_OK && (!x.counts || !x.per_rank)) st = RK_ENOMEM;
  }
  if (st == RK_OK && !cols) st = RK_ENOMEM;
  int ncols = cols ? im->ops->feed_columns(feed, true, cols) : 0;
  if (st == RK_OK) st = eval_acc_init(&a, schema, cols, &ncols);
  rk_loader_options lo;
  rk_loader_options_default(&lo);
  lo.path = o->path;
  lo.columns = cols;
  lo.ncolumns = ncols;
  lo.batch_size = im->ops->feed_batch_rows(feed);
  lo.shuffle = false;
  rk_loader *loader = NULL;
  rk_batch batch = {0};
  if (st == RK_OK) st = rk_loader_open(&loader, &lo);
  if (st == RK_OK) st = rk_loader_start_epoch(loader, 0);
  rk_progress progress;
  rk_progress_begin(&progress, "evaluate", loader ? (double)rk_loader_num_rows(loader) : 0, "rows");
  /* Batch `step` is scored by rank step % size; a round ends after every rank's turn, or at the end. */
  bool have = false;
  for (uint64_t step = 0; st == RK_OK; step++) {
    bool end = o->max_batches > 0 && (int64_t)step >= o->max_batches;
    if (!end && (st = rk_loader_next(loader, &batch)) != RK_OK) break;
    end = end || batch.nrows == 0;
    if (!end && (int)(step % (uint64_t)size) == me) {
      if ((st = im->ops->feed_fill(feed, &batch, step)) != RK_OK) break;
      if (o->before_forward && (st = o->before_forward(o->before_forward_ctx, im->g)) != RK_OK) break;
      if ((st = rk_graph_forward(im->g, RK_EVAL)) != RK_OK) break;
      if ((st = scored_fill(&mine, &a, im, &batch, src)) != RK_OK) break;
      have = true;
    } else if (!end && o->before_forward) {   /* another rank's batch: its fetch needs this one */
      if ((st = o->before_forward(o->before_forward_ctx, NULL)) != RK_OK) break;
    }
    bool round_end = end || (int)(step % (uint64_t)size) == size - 1;
    if (size == 1 && have) st = scored_add(&a, &mine, out);
    else if (size > 1 && round_end) st = round_exchange(&x, &mine, have, &a, out);
    if (round_end) have = false;
    rk_progress_update(&progress, (double)a.rows_done);
    if (end) break;
  }
  rk_progress_end(&progress);
  /* A rank whose pass failed leaves now (the command line stops the job); the others finish. */
  bool passed = st == RK_OK;
  if (size > 1 && me == 0 && st == RK_OK) log_shares(&x);
  if (me == 0 && st == RK_OK) st = eval_acc_metrics(&a, out);
  if (size > 1 && passed) st = share_metrics(o->dist, out, st);
  if (st != RK_OK) rk_eval_result_free(out);
  eval_acc_free(&a);
  scored_free(&mine);
  scored_free(&x.theirs);
  rk_free(x.send);
  rk_free(x.recv);
  rk_free(x.counts);
  rk_free(x.per_rank);
  rk_batch_free(&batch);
  if (loader) rk_loader_close(loader);
  rk_free(cols);
  im->ops->feed_free(feed);
  im->ops->free(im);
  return st;
}
