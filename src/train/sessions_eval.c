/*
 * Evaluation and prediction of a session model for `reckon sessions`: one code path (the feed's
 * EVAL or PREDICT phase, the graph's hidden vectors at the read rows, the catalogue ranked in
 * blocks by rk_catalog_rank) serves metrics, the prediction logs and --do_predict, so offline
 * numbers are what a server would return. No (B, V) score matrix is ever made.
 *
 * Metrics are keyed as the reference's Trainer.evaluate(metric_key_prefix=...) returns them
 * ("eval_recall@20"), over every example (or the mean of batch means, the 2021 code's).
 * The prediction log has recsys_outputs.py's PredictionLogger columns: dataset_type,
 * metric_<m>@<k> per example, relevant_item_ids (a list of the one target), rec_item_ids and
 * rec_item_scores (top --predict_top_k), seq_pos / seq_len (the read row, the session's items), and
 * metadata_<column> (the session's value) for the feature config's log_with_preds_as_metadata.
 *
 * Over several ranks (o->dist) metrics alone are split: batch b is ranked by rank b % ranks, and
 * after each round of one batch per rank the targets' ranks go to rank 0 in batch order, where
 * they are added as one process adds its own (the metrics' bits do not change). Prediction logs
 * and attention dumps need every batch's top items on rank 0: with them rank 0 ranks alone.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "reckon/parquet.h"
#include "sessions_internal.h"

rk_status rk_session_evaluator_init(rk_session_evaluator *e, const rk_model *m, const rk_schema *schema, int64_t batch,
                                    bool attention, uint64_t seed, const char *const *metadata, int n_metadata) {
  memset(e, 0, sizeof *e);
  e->batch = batch;
  e->metadata = metadata, e->n_metadata = n_metadata;
  RK_TRY(rk_session_share(&e->g, m, batch, false, attention));
  RK_TRY(e->g->ops->feed_init(&e->feed, e->g, schema, 0, NULL, seed));
  int max = e->g->ops->feed_max_columns(e->g);
  if (!(e->columns = rk_calloc((size_t)(max > 0 ? max : 1) + (size_t)n_metadata, sizeof *e->columns))) return RK_ENOMEM;
  e->n_columns = e->g->ops->feed_columns(e->feed, true, e->columns);
  for (int i = 0; i < n_metadata; i++) {   /* the metadata the feed does not read already */
    bool read = false;
    for (int j = 0; j < e->n_columns && !read; j++) read = strcmp(e->columns[j], metadata[i]) == 0;
    if (!read) e->columns[e->n_columns++] = metadata[i];
  }
  return RK_OK;
}

void rk_session_evaluator_free(rk_session_evaluator *e) {
  if (e->feed) e->g->ops->feed_free(e->feed);
  if (e->g) e->g->ops->free(e->g);
  rk_free(e->columns);
  memset(e, 0, sizeof *e);
}

static rk_status open_loader(rk_loader **out, const rk_session_evaluator *e, const char *path) {
  rk_loader_options lo;
  rk_loader_options_default(&lo);
  lo.path = path;
  lo.columns = e->columns;
  lo.ncolumns = e->n_columns;
  lo.batch_size = e->batch;
  lo.shuffle = false;   /* the reference evaluates in file order (shuffle_train_dataloader=False) */
  lo.drop_last = false;
  return rk_loader_open(out, &lo);
}

/* ---- the prediction log ---- */

typedef struct {
  rk_parquet_writer *w;
  rk_batch b;
  int n_metric_cols;
  int *source;                  /* (n_metadata) each metadata column's index in the data batch */
} pred_log;

/* Opened at the first batch, which gives the metadata columns' types (the reference's
 * PredictionLogger also creates its file with the first rows). */
static rk_status pred_log_open(pred_log *p, const char *path, const rk_session_eval_options *o,
                               const rk_session_evaluator *e, const rk_batch *data) {
  p->n_metric_cols = RK_RANK_METRIC_COUNT * o->n_ks;
  int ncols = 1 + p->n_metric_cols + 5 + e->n_metadata;
  if (!(p->source = rk_calloc((size_t)e->n_metadata + 1, sizeof *p->source))) return RK_ENOMEM;
  RK_TRY(rk_batch_init(&p->b, ncols));
  int c = 0;
  RK_TRY(rk_column_init(&p->b.cols[c++], "dataset_type", RK_COL_STRING, RK_COL_STRING));
  for (int m = 0; m < RK_RANK_METRIC_COUNT; m++)
    for (int k = 0; k < o->n_ks; k++) {
      char name[64];
      snprintf(name, sizeof name, "metric_%s@%d", rk_rank_metric_name((rk_rank_metric)m), o->ks[k]);
      RK_TRY(rk_column_init(&p->b.cols[c++], name, RK_COL_FLOAT64, RK_COL_FLOAT64));
    }
  RK_TRY(rk_column_init(&p->b.cols[c++], "relevant_item_ids", RK_COL_LIST, RK_COL_INT64));
  RK_TRY(rk_column_init(&p->b.cols[c++], "rec_item_ids", RK_COL_LIST, RK_COL_INT64));
  RK_TRY(rk_column_init(&p->b.cols[c++], "rec_item_scores", RK_COL_LIST, RK_COL_FLOAT32));
  RK_TRY(rk_column_init(&p->b.cols[c++], "seq_pos", RK_COL_INT64, RK_COL_INT64));
  RK_TRY(rk_column_init(&p->b.cols[c++], "seq_len", RK_COL_INT64, RK_COL_INT64));
  for (int i = 0; i < e->n_metadata; i++) {
    const rk_column *src = &data->cols[p->source[i] = rk_batch_find(data, e->metadata[i])];
    char name[256];
    snprintf(name, sizeof name, "metadata_%s", e->metadata[i]);
    RK_TRY(rk_column_init(&p->b.cols[c++], name, src->type, src->child ? src->child->type : src->type));
  }
  rk_parquet_write_options wo;
  rk_parquet_write_options_default(&wo);
  return rk_parquet_writer_open(&p->w, path, &wo);
}

static rk_status pred_log_add(pred_log *p, const rk_session_eval_options *o, const rk_batch *data, int64_t session,
                              int64_t rank, int64_t target, const int64_t *ids, const float *scores, int64_t pos,
                              int64_t len) {
  rk_column *c = p->b.cols;
  RK_TRY(rk_column_append_string(c++, o->prefix, strlen(o->prefix)));
  for (int m = 0; m < RK_RANK_METRIC_COUNT; m++)
    for (int k = 0; k < o->n_ks; k++) RK_TRY(rk_column_append_double(c++, rk_rank_metric_at((rk_rank_metric)m, rank, o->ks[k])));
  RK_TRY(rk_column_append_int(c->child, target));
  RK_TRY(rk_column_finish_list_row(c++));
  int n = 0;
  while (n < o->top_k && ids[n] >= 0) n++;   /* fewer than top_k items rank: padded with -1 */
  for (int i = 0; i < n; i++) RK_TRY(rk_column_append_int(c->child, ids[i]));
  RK_TRY(rk_column_finish_list_row(c++));
  for (int i = 0; i < n; i++) RK_TRY(rk_column_append_double(c->child, scores[i]));
  RK_TRY(rk_column_finish_list_row(c++));
  RK_TRY(rk_column_append_int(c++, pos));
  RK_TRY(rk_column_append_int(c++, len));
  for (int i = 0; c < p->b.cols + p->b.ncols; i++)
    RK_TRY(rk_column_append_column(c++, &data->cols[p->source[i]], session, session + 1));
  p->b.nrows++;
  return RK_OK;
}

static rk_status pred_log_flush(pred_log *p) {
  if (!p->b.nrows) return RK_OK;
  rk_status st = rk_parquet_writer_write(p->w, &p->b);
  rk_batch_clear(&p->b);
  return st;
}

static rk_status pred_log_close(pred_log *p, rk_status st) {
  if (st == RK_OK) st = pred_log_flush(p);
  if (p->w) {
    if (st == RK_OK) st = rk_parquet_writer_close(p->w);
    else rk_parquet_writer_abort(p->w);
  }
  rk_batch_free(&p->b);
  rk_free(p->source);
  return st;
}

/* ---- attention weights ---- */

static rk_status dump_attention(const rk_session_evaluator *e, const char *stem, int64_t rows) {
  const rk_session_outputs *so = rk_session_model_outputs(e->g);
  const rk_session_config *c = rk_session_model_config(e->g);
  int64_t T = rk_session_config_positions(c), H = c->n_head;   /* the past sessions' rows too */
  char path[4096];
  for (int l = 0; so->attention && l < so->n_layers; l++) {
    int64_t shape[4] = {rows, H, T, T};
    snprintf(path, sizeof path, "%s_layer%d.npy", stem, l);
    RK_TRY(rk_npy_write(path, "<f4", shape, 4, rk_graph_value_f32(e->g->g, so->attention[l])));
  }
  int64_t shape[2] = {rows, T};
  snprintf(path, sizeof path, "%s_items.npy", stem);
  return rk_npy_write(path, "<i8", shape, 2, rk_session_feed_items(e->feed));
}

/* ---- evaluation ---- */

typedef struct {
  rk_catalog_ranker *ranker;
  int64_t *rank, *top_ids;
  float *top_scores;
} ranking;

static rk_status ranking_init(ranking *r, const rk_session_evaluator *e, int top_k) {
  memset(r, 0, sizeof *r);
  rk_catalog cat;
  float temperature;
  rk_session_catalog(e->g, &cat, &temperature);
  int64_t rows, cells;
  RK_TRY(rk_size_mul(&rows, e->batch, rk_session_model_outputs(e->g)->reads, "--per_device_eval_batch_size x reads"));
  RK_TRY(rk_size_mul(&cells, rows, top_k, "the top --predict_top_k of an evaluation batch"));
  RK_TRY(rk_catalog_ranker_create(&r->ranker, &cat, rows, top_k));
  r->rank = rk_calloc((size_t)rows, sizeof *r->rank);
  if (!r->rank) return RK_ENOMEM;
  if (top_k > 0) {
    r->top_ids = rk_calloc((size_t)cells, sizeof *r->top_ids);
    r->top_scores = rk_calloc((size_t)cells, sizeof *r->top_scores);
    if (!r->top_ids || !r->top_scores) return RK_ENOMEM;
  }
  return RK_OK;
}

static void ranking_free(ranking *r) {
  rk_catalog_ranker_free(r->ranker);
  rk_free(r->rank);
  rk_free(r->top_ids);
  rk_free(r->top_scores);
}

/* Fill, forward and rank one batch; returns the graph rows ranked (sessions x reads). */
static rk_status rank_batch(rk_session_evaluator *e, ranking *r, const rk_batch *b, bool with_targets, int64_t *rows) {
  RK_TRY(e->g->ops->feed_fill(e->feed, b, 0));
  RK_TRY(rk_graph_forward(e->g->g, RK_EVAL));
  const rk_session_outputs *so = rk_session_model_outputs(e->g);
  *rows = b->nrows * so->reads;
  const float *hidden = rk_graph_value_f32(e->g->g, so->hidden);
  return rk_catalog_rank(r->ranker, with_targets ? r->rank : NULL, r->top_ids, r->top_scores, hidden,
                         with_targets ? rk_session_feed_targets(e->feed) : NULL, *rows);
}

/* The targets' ranks of one round (each rank's batch, or none) added on rank 0 in rank order. */
typedef struct {
  rk_dist *d;
  int64_t *counts;              /* (size) ranked rows */
  int64_t *heads;               /* (size, 2) ranked rows and sessions */
  int64_t *ranks;               /* rank 0: the round's ranks (size x rows of a batch) */
  int64_t *share;               /* rank 0: (size, 2) each rank's sessions and batches */
} rank_round;

/* mine: this rank's batch's n ranks (of `sessions` sessions), none when n is 0. */
static rk_status round_add(rank_round *x, rk_rank_metrics *rm, const int64_t *mine, int64_t n, int64_t sessions) {
  int size = rk_dist_size(x->d);
  int64_t head[2] = {n, sessions};
  RK_TRY(rk_dist_allgather(x->d, x->heads, head, 2, RK_DIST_I64));
  for (int r = 0; r < size; r++) x->counts[r] = x->heads[2 * r];
  bool root = rk_dist_rank(x->d) == 0;
  RK_TRY(rk_dist_gatherv(x->d, root ? x->ranks : NULL, mine, x->counts, RK_DIST_I64));
  const int64_t *at = x->ranks;
  for (int r = 0; root && r < size; at += x->counts[r], r++) {
    if (x->counts[r] == 0) continue;
    RK_TRY(rk_rank_metrics_add(rm, at, x->counts[r]));
    x->share[2 * r] += x->heads[2 * r + 1], x->share[2 * r + 1]++;
  }
  return RK_OK;
}

static void log_shares(const rank_round *x, const char *prefix) {
  char line[1024] = "";
  for (int r = 0; r < rk_dist_size(x->d) && strlen(line) < sizeof line - 64; r++)
    snprintf(line + strlen(line), sizeof line - strlen(line), "%srank %d %lld sessions in %lld batches", r ? ", " : "",
             r, (long long)x->share[2 * r], (long long)x->share[2 * r + 1]);
  rk_info("%s evaluation over %d ranks: %s", prefix, rk_dist_size(x->d), line);
}

rk_status rk_session_evaluate(rk_session_evaluator *e, const char *const *paths, int n_paths,
                              const rk_session_eval_options *o, json_t *into) {
  int size = o->dist ? rk_dist_size(o->dist) : 1, me = o->dist ? rk_dist_rank(o->dist) : 0;
  bool alone = size > 1 && (o->pred_log || o->attention_stem);   /* rank 0 ranks every batch */
  if (alone && me != 0) return RK_OK;
  if (alone) size = 1;
  rk_rank_metrics rm;
  RK_TRY(rk_rank_metrics_init(&rm, o->ks, o->n_ks));
  RK_TRY(rk_session_feed_set_phase(e->feed, RK_SESSION_PHASE_EVAL));
  ranking r;
  pred_log pl = {0};
  rk_loader *loader = NULL;
  rk_batch b = {0};
  rk_status st = ranking_init(&r, e, o->pred_log ? o->top_k : 0);
  int64_t batches = 0;
  int64_t reads = rk_session_model_outputs(e->g)->reads, mine = 0, mine_sessions = 0;   /* this round's batch */
  rank_round x = {size > 1 ? o->dist : NULL, NULL, NULL, NULL, NULL};
  if (st == RK_OK && size > 1) {
    x.counts = rk_calloc((size_t)size, sizeof *x.counts);
    x.heads = rk_calloc(2 * (size_t)size, sizeof *x.heads);
    x.ranks = rk_calloc((size_t)size * (size_t)e->batch * (size_t)reads + 1, sizeof *x.ranks);
    x.share = rk_calloc(2 * (size_t)size, sizeof *x.share);
    if (!x.counts || !x.heads || !x.ranks || !x.share) st = RK_ENOMEM;
  }
  for (int p = 0; st == RK_OK && p < n_paths && !(o->max_batches > 0 && batches >= o->max_batches); p++) {
    if ((st = open_loader(&loader, e, paths[p])) != RK_OK || (st = rk_loader_start_epoch(loader, 0)) != RK_OK) break;
    while (st == RK_OK && !(o->max_batches > 0 && batches >= o->max_batches)) {
      if ((st = rk_loader_next(loader, &b)) != RK_OK || b.nrows == 0) break;
      if (size > 1) {   /* over ranks: this rank's batch of the round, then the round's exchange */
        if (batches % size == me) {
          if ((st = rank_batch(e, &r, &b, true, &mine)) != RK_OK) break;
          mine_sessions = b.nrows;
        }
        if (batches % size == size - 1) st = round_add(&x, &rm, r.rank, mine, mine_sessions), mine = mine_sessions = 0;
        batches++;
        continue;
      }
      int64_t rows;
      if ((st = rank_batch(e, &r, &b, true, &rows)) != RK_OK) break;
      if (batches == 0 && o->attention_stem && (st = dump_attention(e, o->attention_stem, b.nrows)) != RK_OK) break;
      if ((st = rk_rank_metrics_add(&rm, r.rank, rows)) != RK_OK) break;
      const int64_t *targets = rk_session_feed_targets(e->feed), *pos = rk_session_feed_read_rows(e->feed),
                    *len = rk_session_feed_lengths(e->feed);
      if (o->pred_log && !pl.w) st = pred_log_open(&pl, o->pred_log, o, e, &b);
      for (int64_t i = 0; o->pred_log && st == RK_OK && i < rows; i++)
        if (r.rank[i] > 0)
          st = pred_log_add(&pl, o, &b, i / reads, r.rank[i], targets[i], r.top_ids + i * o->top_k,
                            r.top_scores + i * o->top_k, pos[i], len[i / reads]);
      if (st == RK_OK && o->pred_log) st = pred_log_flush(&pl);
      batches++;
    }
    rk_loader_close(loader);
    loader = NULL;
  }
  if (loader) rk_loader_close(loader);   /* a failed start */
  if (st == RK_OK && size > 1 && batches % size != 0) st = round_add(&x, &rm, r.rank, mine, mine_sessions);   /* the last */
  if (st == RK_OK && size > 1 && me == 0) log_shares(&x, o->prefix);
  rk_free(x.counts);
  rk_free(x.heads);
  rk_free(x.ranks);
  rk_free(x.share);
  if (o->pred_log) st = pred_log_close(&pl, st);
  rk_batch_free(&b);
  ranking_free(&r);
  for (int m = 0; st == RK_OK && m < RK_RANK_METRIC_COUNT; m++)
    for (int k = 0; k < o->n_ks; k++) {
      char key[96];
      snprintf(key, sizeof key, "%s_%s@%d", o->prefix, rk_rank_metric_name((rk_rank_metric)m), o->ks[k]);
      double v = rk_rank_metrics_result(&rm, (rk_rank_metric)m, k, o->batch_mean);
      json_object_set_new(into, key, isfinite(v) ? json_real(v) : json_null());
    }
  if (st == RK_OK) {
    char key[96];
    snprintf(key, sizeof key, "%s_examples", o->prefix);
    json_object_set_new(into, key, json_integer(rm.examples));
  }
  return st;
}

rk_status rk_session_predict(rk_session_evaluator *e, const char *path, const char *out, int top_k, int64_t *rows) {
  *rows = 0;
  RK_TRY(rk_session_feed_set_phase(e->feed, RK_SESSION_PHASE_PREDICT));
  ranking r;
  rk_loader *loader = NULL;
  rk_batch b = {0}, o = {0};
  rk_parquet_writer *w = NULL;
  rk_status st = ranking_init(&r, e, top_k);
  if (st == RK_OK) st = rk_batch_init(&o, 2);
  if (st == RK_OK) st = rk_column_init(&o.cols[0], "rec_item_ids", RK_COL_LIST, RK_COL_INT64);
  if (st == RK_OK) st = rk_column_init(&o.cols[1], "rec_item_scores", RK_COL_LIST, RK_COL_FLOAT32);
  rk_parquet_write_options wo;
  rk_parquet_write_options_default(&wo);
  if (st == RK_OK) st = rk_parquet_writer_open(&w, out, &wo);
  if (st == RK_OK) st = open_loader(&loader, e, path);
  if (st == RK_OK) st = rk_loader_start_epoch(loader, 0);
  int64_t reads = rk_session_model_outputs(e->g)->reads;
  while (st == RK_OK) {
    if ((st = rk_loader_next(loader, &b)) != RK_OK || b.nrows == 0) break;
    int64_t n;
    if ((st = rank_batch(e, &r, &b, false, &n)) != RK_OK) break;
    rk_batch_clear(&o);
    for (int64_t s = 0; st == RK_OK && s < b.nrows; s++) {
      const int64_t *ids = r.top_ids + s * reads * top_k;   /* PREDICT reads one row per session */
      const float *scores = r.top_scores + s * reads * top_k;
      for (int i = 0; st == RK_OK && i < top_k && ids[i] >= 0; i++) {
        st = rk_column_append_int(o.cols[0].child, ids[i]);
        if (st == RK_OK) st = rk_column_append_double(o.cols[1].child, scores[i]);
      }
      if (st == RK_OK) st = rk_column_finish_list_row(&o.cols[0]);
      if (st == RK_OK) st = rk_column_finish_list_row(&o.cols[1]);
      o.nrows++;
    }
    if (st == RK_OK) st = rk_parquet_writer_write(w, &o);
    *rows += b.nrows;
  }
  if (loader) rk_loader_close(loader);
  if (w) {
    if (st == RK_OK) st = rk_parquet_writer_close(w);
    else rk_parquet_writer_abort(w);
  }
  rk_batch_free(&b);
  rk_batch_free(&o);
  ranking_free(&r);
  return st;
}
