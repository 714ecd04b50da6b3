/*
 * A loaded model version and how it runs a batch. Three kinds, as `reckon export` writes them:
 *   workflow  <version>/workflow/: the fitted workflow, applied by rk_workflow_transform (the
 *             code `reckon transform` runs) to the raw columns
 *   model     <version>/model/: a model folder (rk_model_load), run through the model
 *             interface's feed and an inference graph (the code `reckon predict` runs); outputs
 *             `<target>/binary_output` (a probability) or `<target>/regression_output` per task
 *   ensemble  platform "ensemble": its steps in order, tensors passed by name through
 *             input_map/output_map as views of the same columns (no copies between steps)
 * Session models: the workflow step is rk_session_transform (raw events in, a row per session
 * out: not row aligned, so a batch's requests are transformed one by one and their sessions
 * joined, each request's session count kept), the model step runs the joined sessions at once,
 * reads each session's last row (the PREDICT phase) and ranks the catalogue as `reckon sessions
 * --do_predict` does; the scheduler splits the outputs by the session counts.
 * Inference graphs are kept per worker thread, one per power-of-two batch size, so a batch runs
 * on a warm graph and its rows are padded to at most twice their count.
 */
#include <math.h>
#include <string.h>
#include <sys/stat.h>

#include "reckon/metrics.h"
#include "reckon/sessions.h"
#include "serve/serve_internal.h"

static bool is_file(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* The tensors of a reckon step hold one value per row (dims [1]), a list per row (dims [-1]:
 * a session's events) or, for outputs, a fixed count per row (dims [k]: top-k items). */
static rk_status check_row_tensors(const rk_model_config *c, const char *path) {
  for (int io = 0; io < 2; io++) {
    const rk_model_config_tensor *t = io ? c->output : c->input;
    for (int i = 0; i < (io ? c->n_output : c->n_input); i++)
      if (!(t[i].n_dims == 1 && (t[i].dims[0] == 1 || t[i].dims[0] == -1 || (io && t[i].dims[0] > 0))))
        return rk_error(RK_EFORMAT, "'%s': %s '%s' must have dims [1] (one value per row) or [-1] for backend "
                        "\"reckon\"", path, io ? "output" : "input", t[i].name);
  }
  if (c->max_batch_size <= 0)
    return rk_error(RK_EFORMAT, "'%s': backend \"reckon\" needs max_batch_size > 0 (it batches rows)", path);
  return RK_OK;
}

rk_status rk_loaded_open(rk_loaded **out, const char *name, int64_t version, const char *dir, rk_model_config *c,
                         char *config_text, int workers) {
  *out = NULL;
  rk_loaded *l = rk_calloc(1, sizeof *l);
  char *vdir = rk_malloc(strlen(dir) + 64), *probe = rk_malloc(strlen(dir) + 128);
  if (!l || !vdir || !probe) {
    rk_free(l), rk_free(vdir), rk_free(probe);
    return RK_ENOMEM;
  }
  snprintf(vdir, strlen(dir) + 64, "%s/%lld", dir, (long long)version);
  l->config = *c;
  memset(c, 0, sizeof *c);
  l->config_text = config_text;
  l->version = version;
  atomic_init(&l->refs, 1);
  pthread_mutex_init(&l->ref_lock, NULL);
  pthread_cond_init(&l->released, NULL);
  rk_schema_init(&l->no_schema);
  rk_status st = (l->name = rk_strdup(name)) ? RK_OK : RK_ENOMEM;
  const rk_model_config *cfg = &l->config;
  const char *kind = rk_model_config_parameter(cfg, "reckon_kind");
  l->max_batch = cfg->max_batch_size;
  l->preferred = 0;
  for (int i = 0; i < cfg->n_preferred_batch_size; i++)
    if (cfg->preferred_batch_size[i] > l->preferred) l->preferred = cfg->preferred_batch_size[i];
  l->delay_us = cfg->dynamic_batching ? cfg->max_queue_delay_microseconds : 0;
  if (!cfg->dynamic_batching) l->preferred = 1;   /* no batching: each request runs alone */
  if (st == RK_OK && cfg->platform && !strcmp(cfg->platform, "ensemble")) {
    l->kind = RK_STEP_ENSEMBLE;
    if (!cfg->n_steps) st = rk_error(RK_EFORMAT, "model '%s': an ensemble without ensemble_scheduling steps", name);
  } else if (st == RK_OK && cfg->backend && !strcmp(cfg->backend, "reckon")) {
    char cfgpath[512];
    snprintf(cfgpath, sizeof cfgpath, "%s/config.pbtxt", dir);
    st = check_row_tensors(cfg, cfgpath);
    snprintf(probe, strlen(dir) + 128, "%s/workflow/workflow.json", vdir);
    bool wf = is_file(probe);
    snprintf(probe, strlen(dir) + 128, "%s/model/model.json", vdir);
    bool model = is_file(probe);
    if (st == RK_OK && kind && strcmp(kind, wf ? "workflow" : "model"))
      st = rk_error(RK_EFORMAT, "model '%s' version %lld: parameter reckon_kind is '%s' but the folder holds a %s", name,
                    (long long)version, kind, wf ? "workflow" : model ? "model" : "neither");
    if (st == RK_OK && wf) {
      l->kind = RK_STEP_WORKFLOW;
      snprintf(probe, strlen(dir) + 128, "%s/workflow", vdir);
      st = rk_workflow_load(&l->wf, probe);
      /* rows out are sessions, not the request's events (rk_loaded_run counts them per request) */
      l->session = st == RK_OK && l->wf.session;
    } else if (st == RK_OK && model) {
      l->kind = RK_STEP_MODEL;
      snprintf(probe, strlen(dir) + 128, "%s/model", vdir);
      st = rk_model_load(&l->sm, probe);
      bool loaded = st == RK_OK;
      if (st == RK_OK && rk_model_is_session(l->sm.model)) {
        /* item_ids/item_id_scores of dims [k], or next-item of all the scores */
        l->session = true;
        for (int i = 0; i < cfg->n_output; i++)
          if (!strcmp(cfg->output[i].name, "item_ids")) l->top_k = cfg->output[i].dims[0];
        bool next_item = false;
        for (int i = 0; i < cfg->n_output; i++) next_item = next_item || !strcmp(cfg->output[i].name, "next-item");
        if (l->top_k <= 0 && !next_item)
          st = rk_error(RK_EFORMAT, "model '%s': a session model's outputs are item_ids and item_id_scores (dims [k]) "
                        "or next-item", name);
        if (st == RK_OK && l->top_k > 0) {
          rk_catalog cat;
          rk_session_catalog(l->sm.model, &cat, NULL);
          st = rk_catalog_transpose(&l->items_t, &cat);
        }
      }
      if (st == RK_OK) {
        l->n_caches = workers > 0 ? workers : 1;
        if (!(l->caches = rk_calloc((size_t)l->n_caches, sizeof *l->caches))) st = RK_ENOMEM;
      } else {
        if (loaded) rk_saved_model_free(&l->sm);   /* a refused config or no memory after the load */
        memset(&l->sm, 0, sizeof l->sm);
      }
    } else if (st == RK_OK) {
      st = rk_error(RK_EFORMAT, "model '%s' version %lld: '%s' holds neither workflow/workflow.json nor model/model.json",
                    name, (long long)version, vdir);
    }
  } else if (st == RK_OK) {
    st = rk_error(RK_EUNSUPPORTED, "model '%s': platform '%s', backend '%s' is not one reckon serves (backend \"reckon\" "
                  "or platform \"ensemble\"; export ONNX models to a Triton with its onnxruntime backend)", name,
                  cfg->platform ? cfg->platform : "", cfg->backend ? cfg->backend : "");
  }
  rk_free(vdir);
  rk_free(probe);
  if (st != RK_OK) {
    rk_serve_mark(RK_SERVE_UNAVAILABLE, st);
    rk_loaded_free(l);
    return st;
  }
  *out = l;
  return RK_OK;
}

void rk_loaded_free(rk_loaded *l) {
  if (!l) return;
  for (int w = 0; w < l->n_caches; w++)
    for (int b = 0; b < RK_SERVE_BUCKETS; b++) {
      rk_graph_cache *gc = &l->caches[w];
      rk_catalog_ranker_free(gc->ranker[b]);
      if (gc->feed[b]) gc->graph[b]->ops->feed_free(gc->feed[b]);
      if (gc->graph[b]) gc->graph[b]->ops->free(gc->graph[b]);
    }
  rk_free(l->caches);
  rk_free(l->items_t);
  if (l->kind == RK_STEP_MODEL && l->sm.model) rk_saved_model_free(&l->sm);
  if (l->kind == RK_STEP_WORKFLOW) rk_workflow_free(&l->wf);
  rk_schema_free(&l->no_schema);
  rk_model_config_free(&l->config);
  rk_free(l->config_text);
  rk_free(l->name);
  pthread_mutex_destroy(&l->ref_lock);
  pthread_cond_destroy(&l->released);
  rk_free(l);
}

void rk_loaded_hold(rk_loaded *l) { atomic_fetch_add(&l->refs, 1); }

void rk_loaded_release(rk_loaded *l) {
  pthread_mutex_lock(&l->ref_lock);
  atomic_fetch_sub(&l->refs, 1);
  pthread_cond_broadcast(&l->released);
  pthread_mutex_unlock(&l->ref_lock);
}

void rk_loaded_wait(rk_loaded *l, int keep) {
  pthread_mutex_lock(&l->ref_lock);
  while (atomic_load(&l->refs) > keep) pthread_cond_wait(&l->released, &l->ref_lock);
  pthread_mutex_unlock(&l->ref_lock);
}

/* ---- the model step ------------------------------------------------------------------------- */

static int bucket_of(int64_t rows) {
  int b = 0;
  while (b < RK_SERVE_BUCKETS - 1 && ((int64_t)1 << b) < rows) b++;
  return b;
}

/* The worker's graph for `rows` rows (at most 2^(RK_SERVE_BUCKETS-1)), built on first use. */
static rk_status graph_for(rk_loaded *l, int worker, int64_t rows, rk_model **g, rk_model_feed **feed,
                           rk_catalog_ranker **ranker) {
  rk_graph_cache *gc = &l->caches[worker % l->n_caches];
  int b = bucket_of(rows);
  if (!gc->graph[b]) {
    const rk_model *m = l->sm.model;
    RK_TRY(m->ops->share(&gc->graph[b], m, (int64_t)1 << b, false));
    rk_model *gm = gc->graph[b];
    /* a served model's weights never change: ops keep what they derive from them */
    rk_status st = rk_graph_freeze_params(gm->g);
    /* a session feed takes the model's schema and seed, as `reckon sessions --do_predict` gives them */
    uint64_t seed = l->session ? rk_session_model_config(m)->seed : 0;
    if (st == RK_OK) st = gm->ops->feed_init(&gc->feed[b], gm, l->session ? &l->sm.schema : &l->no_schema, 0, NULL, seed);
    /* a session model reads each session's last row with every item visible (--do_predict's) */
    if (st == RK_OK && l->session) st = rk_session_feed_set_phase(gc->feed[b], RK_SESSION_PHASE_PREDICT);
    if (st == RK_OK && l->session && l->top_k > 0) {
      rk_catalog cat;
      float temperature;
      rk_session_catalog(gm, &cat, &temperature);
      cat.items_t = l->items_t;   /* one request's session: scored without packing the table */
      st = rk_catalog_ranker_create(&gc->ranker[b], &cat, ((int64_t)1 << b) * rk_session_model_outputs(gm)->reads,
                                    (int)l->top_k);
    }
    if (st != RK_OK) {
      if (gc->feed[b]) gm->ops->feed_free(gc->feed[b]);
      gc->graph[b]->ops->free(gc->graph[b]);
      gc->graph[b] = NULL;
      gc->feed[b] = NULL;
      return st;
    }
  }
  *g = gc->graph[b];
  *feed = gc->feed[b];
  *ranker = gc->ranker[b];
  return RK_OK;
}

static rk_status run_model(rk_loaded *l, int worker, const rk_batch *in, rk_batch *out) {
  const rk_model *m = l->sm.model;
  int K = m->out.n_tasks;
  RK_TRY(rk_batch_init(out, K));
  out->nrows = in->nrows;
  rk_status st = RK_OK;
  for (int t = 0; t < K && st == RK_OK; t++) {
    char name[300];
    snprintf(name, sizeof name, "%s/%s", m->out.targets[t], m->out.regression[t] ? "regression_output" : "binary_output");
    st = rk_column_init(&out->cols[t], name, RK_COL_FLOAT32, RK_COL_FLOAT32);
    if (st == RK_OK) st = rk_column_reserve(&out->cols[t], in->nrows, in->nrows);
  }
  int64_t chunk_max = (int64_t)1 << (RK_SERVE_BUCKETS - 1);
  rk_batch part = {0};
  int64_t *rows = NULL;
  for (int64_t begin = 0; begin < in->nrows && st == RK_OK; begin += chunk_max) {
    int64_t n = in->nrows - begin < chunk_max ? in->nrows - begin : chunk_max;
    const rk_batch *b = in;
    if (n != in->nrows) {   /* a batch above the largest graph runs in pieces */
      if (!rows && !(rows = rk_malloc((size_t)chunk_max * sizeof *rows))) st = RK_ENOMEM;
      for (int64_t r = 0; st == RK_OK && r < n; r++) rows[r] = begin + r;
      if (st == RK_OK) st = rk_batch_take(&part, in, rows, n);
      b = &part;
    }
    rk_model *g = NULL;
    rk_model_feed *feed = NULL;
    rk_catalog_ranker *ranker = NULL;
    if (st == RK_OK) st = graph_for(l, worker, n, &g, &feed, &ranker);
    if (st == RK_OK) st = g->ops->feed_fill(feed, b, 0);
    if (st == RK_OK) st = rk_graph_forward(g->g, RK_EVAL);
    for (int t = 0; t < K && st == RK_OK; t++) {
      const float *z = rk_graph_value_f32(g->g, g->out.logits[t]);
      float *dst = (float *)out->cols[t].values + begin;
      bool reg = m->out.regression[t];
      /* exactly rk_predict's arithmetic, so served scores equal `reckon predict`'s bits */
      for (int64_t r = 0; r < n; r++) dst[r] = reg ? z[r] : (float)(1.0 / (1.0 + exp(-(double)z[r])));
    }
  }
  for (int t = 0; t < K && st == RK_OK; t++) out->cols[t].length = in->nrows;
  rk_free(rows);
  rk_batch_free(&part);
  if (st != RK_OK) rk_batch_free(out);
  return st;
}

/* A session model: per session row, its top-k items and their scores as `reckon sessions
 * --do_predict` ranks them (item_ids, item_id_scores; -1 and -inf pad a catalogue smaller than
 * k), or every item's score (next-item). */
static rk_status run_session(rk_loaded *l, int worker, const rk_batch *in, rk_batch *out) {
  int64_t k = l->top_k;
  RK_TRY(rk_batch_init(out, k > 0 ? 2 : 1));
  rk_status st = rk_column_init(&out->cols[0], k > 0 ? "item_ids" : "next-item", RK_COL_LIST,
                                k > 0 ? RK_COL_INT64 : RK_COL_FLOAT32);
  if (st == RK_OK && k > 0) st = rk_column_init(&out->cols[1], "item_id_scores", RK_COL_LIST, RK_COL_FLOAT32);
  int64_t chunk_max = (int64_t)1 << (RK_SERVE_BUCKETS - 1);
  rk_batch part = {0};
  int64_t *rows = NULL, *ids = NULL;
  float *scores = NULL;
  for (int64_t begin = 0; begin < in->nrows && st == RK_OK; begin += chunk_max) {
    int64_t n = in->nrows - begin < chunk_max ? in->nrows - begin : chunk_max;
    const rk_batch *b = in;
    if (n != in->nrows) {
      if (!rows && !(rows = rk_malloc((size_t)chunk_max * sizeof *rows))) st = RK_ENOMEM;
      for (int64_t r = 0; st == RK_OK && r < n; r++) rows[r] = begin + r;
      if (st == RK_OK) st = rk_batch_take(&part, in, rows, n);
      b = &part;
    }
    rk_model *g = NULL;
    rk_model_feed *feed = NULL;
    rk_catalog_ranker *ranker = NULL;
    if (st == RK_OK) st = graph_for(l, worker, n, &g, &feed, &ranker);
    if (st == RK_OK) st = g->ops->feed_fill(feed, b, 0);
    if (st == RK_OK) st = rk_graph_forward(g->g, RK_EVAL);
    if (st != RK_OK) break;
    const rk_session_outputs *so = rk_session_model_outputs(g);
    const float *hidden = rk_graph_value_f32(g->g, so->hidden);   /* (n, reads, D): PREDICT reads the first */
    rk_catalog cat;
    float temperature;
    rk_session_catalog(g, &cat, &temperature);
    int64_t reads = so->reads, cells = n * reads * (k > 0 ? k : 1);
    if (k > 0) {
      rk_free(ids), rk_free(scores);
      ids = rk_malloc((size_t)cells * sizeof *ids);
      scores = rk_malloc((size_t)cells * sizeof *scores);
      st = ids && scores ? rk_catalog_rank(ranker, NULL, ids, scores, hidden, NULL, n * reads) : RK_ENOMEM;
    }
    for (int64_t r = 0; st == RK_OK && r < n; r++) {
      if (k > 0) {
        for (int64_t i = 0; st == RK_OK && i < k; i++) {
          st = rk_column_append_int(out->cols[0].child, ids[(r * reads) * k + i]);
          if (st == RK_OK) st = rk_column_append_double(out->cols[1].child, scores[(r * reads) * k + i]);
        }
        if (st == RK_OK) st = rk_column_finish_list_row(&out->cols[1]);
      } else {
        const float *h = hidden + r * reads * cat.D;
        for (int64_t v = 0; st == RK_OK && v < cat.V; v++) {
          float z = cat.bias ? cat.bias[v] : 0.0f;
          for (int64_t d = 0; d < cat.D; d++) z += h[d] * cat.items[v * cat.D + d];
          st = rk_column_append_double(out->cols[0].child, z / temperature);
        }
      }
      if (st == RK_OK) st = rk_column_finish_list_row(&out->cols[0]);
    }
  }
  if (st == RK_OK) out->nrows = in->nrows;
  rk_free(rows), rk_free(ids), rk_free(scores);
  rk_batch_free(&part);
  if (st != RK_OK) rk_batch_free(out);
  return st;
}

/* ---- the ensemble --------------------------------------------------------------------------- */
/* Tensors by name: views of columns owned by the request's batch or by a step's output. */
typedef struct {
  const char **names;
  const rk_column **cols;
  int n, cap;
  rk_batch *owned;          /* the steps' outputs, freed at the end */
  int n_owned;
} tensor_table;

static const rk_column *table_find(const tensor_table *t, const char *name) {
  for (int i = t->n - 1; i >= 0; i--)
    if (!strcmp(t->names[i], name)) return t->cols[i];
  return NULL;
}

static rk_status table_put(tensor_table *t, const char *name, const rk_column *col) {
  if (t->n == t->cap) {
    int cap = t->cap ? 2 * t->cap : 32;
    const char **names = rk_realloc(t->names, (size_t)cap * sizeof *names);
    if (names) t->names = names;
    const rk_column **cols = names ? rk_realloc(t->cols, (size_t)cap * sizeof *cols) : NULL;
    if (!cols) return RK_ENOMEM;
    t->cols = cols;
    t->cap = cap;
  }
  t->names[t->n] = name;
  t->cols[t->n++] = col;
  return RK_OK;
}

static rk_status run_step(rk_server *s, const rk_loaded *ens, const rk_ensemble_step *step, int worker, int requests,
                          int64_t *rows, tensor_table *t, int64_t nrows) {
  rk_loaded *sl = NULL;
  RK_TRY(rk_server_acquire(s, step->model_name, step->model_version, &sl));
  /* The step's inputs: shallow copies of the ensemble's columns under the step's names. */
  rk_batch view = {0};
  rk_status st = RK_OK;
  view.cols = rk_calloc((size_t)step->n_input_map + 1, sizeof *view.cols);
  if (!view.cols) st = RK_ENOMEM;
  view.nrows = nrows;
  for (int i = 0; i < step->n_input_map && st == RK_OK; i++) {
    if (rk_serve_is_ragged_offsets(&sl->config, step->input_map[i].key)) continue;   /* in its values' list */
    const rk_column *c = table_find(t, step->input_map[i].value);
    if (!c) {
      st = rk_serve_fail(RK_SERVE_INVALID, RK_EINVAL, "ensemble '%s': step '%s' reads '%s', which no input or step before "
                         "it gives", ens->name, step->model_name, step->input_map[i].value);
      break;
    }
    view.cols[view.ncols] = *c;
    view.cols[view.ncols++].name = step->input_map[i].key;
    view.nrows = c->length;   /* the rows of the step before: the request's, or its sessions */
  }
  rk_batch *res = NULL;
  if (st == RK_OK) {
    rk_batch *owned = rk_realloc(t->owned, (size_t)(t->n_owned + 1) * sizeof *owned);
    if (!owned) st = RK_ENOMEM;
    else {
      t->owned = owned;
      res = &owned[t->n_owned++];
      memset(res, 0, sizeof *res);
    }
  }
  if (st == RK_OK) {
    uint64_t t0 = rk_serve_now_ns();
    st = rk_loaded_run(s, sl, worker, requests, rows, &view, res);
    rk_stats_step(sl->stats, st == RK_OK, requests, view.nrows, rk_serve_now_ns() - t0);
  }
  for (int i = 0; i < step->n_output_map && st == RK_OK; i++) {
    int j = rk_batch_find(res, step->output_map[i].key);
    if (j < 0)
      st = rk_serve_fail(RK_SERVE_INTERNAL, RK_EINTERNAL, "ensemble '%s': step '%s' gave no output '%s'", ens->name,
                         step->model_name, step->output_map[i].key);
    else st = table_put(t, step->output_map[i].value, &res->cols[j]);
  }
  rk_free(view.cols);   /* views only: the columns belong to others */
  rk_loaded_release(sl);
  return st;
}

static rk_status run_ensemble(rk_server *s, rk_loaded *l, int worker, int requests, int64_t *rows, const rk_batch *in,
                              rk_batch *out) {
  tensor_table t = {0};
  rk_status st = RK_OK;
  for (int i = 0; i < in->ncols && st == RK_OK; i++) st = table_put(&t, in->cols[i].name, &in->cols[i]);
  for (int k = 0; k < l->config.n_steps && st == RK_OK; k++)
    st = run_step(s, l, &l->config.steps[k], worker, requests, rows, &t, in->nrows);
  if (st == RK_OK) st = rk_batch_init(out, l->config.n_output);
  for (int i = 0; st == RK_OK && i < l->config.n_output; i++) {
    const rk_column *c = table_find(&t, l->config.output[i].name);
    if (!c) {
      st = rk_serve_fail(RK_SERVE_INTERNAL, RK_EINTERNAL, "ensemble '%s': no step gives its output '%s'", l->name,
                         l->config.output[i].name);
      break;
    }
    rk_column *dst = &out->cols[i];
    rk_column_free(dst);
    st = rk_column_init(dst, l->config.output[i].name, c->type, c->child ? c->child->type : RK_COL_INT64);
    if (st == RK_OK) st = rk_column_append_column(dst, c, 0, c->length);
  }
  /* the rows of the last step: the input's, or a session workflow's sessions */
  if (st == RK_OK) out->nrows = out->ncols ? out->cols[0].length : in->nrows;
  else rk_batch_free(out);
  for (int i = 0; i < t.n_owned; i++) rk_batch_free(&t.owned[i]);
  rk_free(t.owned);
  rk_free(t.names);
  rk_free(t.cols);
  return st;
}

/* A session workflow regroups events into sessions, so the requests of a batch are transformed
 * one by one (a session id in two requests stays two sessions, as each alone gives) and their
 * sessions joined in request order: rows[k] becomes request k's session count. */
static rk_status transform_sessions(rk_loaded *l, int requests, int64_t *rows, const rk_batch *in, rk_batch *out) {
  if (requests == 1) {
    RK_TRY(rk_session_transform(&l->wf, in, out));
    rows[0] = out->nrows;
    return RK_OK;
  }
  int64_t *idx = rk_malloc((size_t)(in->nrows > 0 ? in->nrows : 1) * sizeof *idx);
  if (!idx) return RK_ENOMEM;
  for (int64_t r = 0; r < in->nrows; r++) idx[r] = r;
  rk_batch part = {0}, one = {0};
  rk_status st = RK_OK;
  int64_t begin = 0;
  for (int k = 0; k < requests && st == RK_OK; k++) {
    st = rk_batch_take(&part, in, idx + begin, rows[k]);
    begin += rows[k];
    if (st == RK_OK) st = rk_session_transform(&l->wf, &part, k == 0 ? out : &one);
    if (st != RK_OK) break;
    if (k > 0) {
      for (int i = 0; i < out->ncols && st == RK_OK; i++) {
        int j = rk_batch_find(&one, out->cols[i].name);
        st = j < 0 ? rk_error(RK_EINTERNAL, "session workflow of '%s': request %d gave no column '%s'", l->name, k + 1,
                              out->cols[i].name)
                   : rk_column_append_column(&out->cols[i], &one.cols[j], 0, one.nrows);
      }
      out->nrows += one.nrows;
    }
    rows[k] = k == 0 ? out->nrows : one.nrows;
    rk_batch_free(&one);
  }
  rk_batch_free(&part);
  rk_free(idx);
  if (st != RK_OK) rk_batch_free(out);
  return st;
}

/* The workflow reads a list column by its own name: a ragged pair's list (named as its values,
 * `<col>__values`) is renamed <col> in a view of the batch. */
static rk_status transform_table(rk_loaded *l, const rk_batch *in, rk_batch *out) {
  rk_batch view = *in;
  char **names = rk_calloc((size_t)in->ncols + 1, sizeof *names);
  view.cols = rk_malloc((size_t)(in->ncols + 1) * sizeof *view.cols);
  rk_status st = names && view.cols ? RK_OK : RK_ENOMEM;
  for (int i = 0; i < in->ncols && st == RK_OK; i++) {
    view.cols[i] = in->cols[i];   /* a shallow copy: the buffers stay the batch's */
    const char *name = in->cols[i].name;
    if (in->cols[i].type != RK_COL_LIST || rk_serve_is_ragged_offsets(&l->config, name) ||
        !rk_serve_ragged_partner(&l->config, name))
      continue;
    size_t stem = strlen(name) - strlen(RK_SERVE_VALUES_SUFFIX);
    if (!(names[i] = rk_malloc(stem + 1))) st = RK_ENOMEM;
    else view.cols[i].name = memcpy(names[i], name, stem), names[i][stem] = 0;
  }
  if (st == RK_OK) st = rk_workflow_transform(&l->wf, &view, out);
  for (int i = 0; names && i < in->ncols; i++) rk_free(names[i]);
  rk_free(names);
  rk_free(view.cols);
  return st;
}

/* The workflow's outputs, typed as the config says (the next step's types). */
static rk_status run_workflow(rk_loaded *l, int requests, int64_t *rows, const rk_batch *in, rk_batch *out) {
  RK_TRY(l->session ? transform_sessions(l, requests, rows, in, out) : transform_table(l, in, out));
  rk_status st = RK_OK;
  for (int i = 0; st == RK_OK && i < l->config.n_output; i++) {
    int j = rk_batch_find(out, l->config.output[i].name);
    if (j >= 0) st = rk_serve_conform_column(&out->cols[j], l->config.output[i].data_type);
    if (j >= 0 && st == RK_OK && l->config.output[i].dims[0] > 0)   /* a list the next step reads as (rows, L) */
      st = rk_serve_pad_list(&out->cols[j], l->config.output[i].dims[0], l->config.output[i].data_type);
  }
  if (st != RK_OK) rk_batch_free(out);
  return st;
}

rk_status rk_loaded_run(rk_server *s, rk_loaded *l, int worker, int requests, int64_t *rows, const rk_batch *in,
                        rk_batch *out) {
  memset(out, 0, sizeof *out);
  switch (l->kind) {
    case RK_STEP_WORKFLOW: return run_workflow(l, requests, rows, in, out);
    case RK_STEP_MODEL: return l->session ? run_session(l, worker, in, out) : run_model(l, worker, in, out);
    default: return run_ensemble(s, l, worker, requests, rows, in, out);
  }
}
