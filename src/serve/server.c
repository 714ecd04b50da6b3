/*
 * The server: the models of a repository, their loaded versions, and the calls of reckon/serve.h.
 *
 * Each model has a version set: its version folders that the policy serves, each with its state
 * and, when ready, its loaded version. Loading builds the whole new set first (versions whose
 * number and config are unchanged are kept, not reloaded) and then swaps it in under the lock,
 * so a request sees either the old set or the new one; versions left out are freed once the
 * requests holding them have finished. Unloading takes the set out at once (new requests get
 * UNAVAILABLE) and returns when the last request on it has finished.
 *
 * Locks: `lock` guards the model table and is held only to look up or swap; `load_lock`
 * serialises loads, unloads and polls, which may take seconds. Requests never wait on
 * load_lock.
 *
 * Reference: Triton's docs/user_guide/model_management.md (control modes none, poll, explicit;
 * strict readiness; ensembles load their steps).
 */
#include <dirent.h>
#include <string.h>
#include <time.h>

#include "serve/serve_internal.h"

typedef struct {
  int64_t version;
  rk_model_state state;
  char *reason;
  rk_loaded *l;                 /* READY: the server's hold */
} version_slot;

struct rk_server_model {
  char *name;
  version_slot *v;              /* ascending versions */
  int n_v;
  rk_model_state state;         /* the model's own, when it has no version slots */
  char *reason;
  bool wanted;                  /* loaded by the mode or a load call, until unloaded */
};

struct rk_server {
  char *repo;
  rk_serve_control control;
  bool strict;
  int64_t max_elements;
  int workers;
  pthread_mutex_t lock;
  pthread_mutex_t load_lock;
  rk_server_model **models;
  int n_models;
  rk_stats_cell **cells;
  int n_cells;
  rk_scheduler *q;
  atomic_bool shutting_down, shut;
  /* poll mode's background rescans */
  pthread_t poller;
  bool polling;
  pthread_cond_t poll_wake;
  int64_t poll_ms;
};

void rk_serve_options_default(rk_serve_options *o) {
  memset(o, 0, sizeof *o);
  o->control = RK_SERVE_CONTROL_NONE;
  o->strict_readiness = true;
  o->poll_interval_ms = 15000;
  o->max_request_elements = (int64_t)1 << 26;
}

int rk_server_workers(const rk_server *s) { return s->workers; }
rk_serve_control rk_server_control(const rk_server *s) { return s->control; }

/* ---- the table (callers hold s->lock) ------------------------------------------------------- */
static rk_server_model *find_model(rk_server *s, const char *name) {
  for (int i = 0; i < s->n_models; i++)
    if (!strcmp(s->models[i]->name, name)) return s->models[i];
  return NULL;
}

static rk_status add_model(rk_server *s, const char *name, rk_server_model **out) {
  rk_server_model **p = rk_realloc(s->models, (size_t)(s->n_models + 1) * sizeof *p);
  if (!p) return RK_ENOMEM;
  s->models = p;
  rk_server_model *m = rk_calloc(1, sizeof *m);
  if (!m || !(m->name = rk_strdup(name))) {
    rk_free(m);
    return RK_ENOMEM;
  }
  /* kept sorted by name, so the index is too */
  int i = s->n_models;
  while (i > 0 && strcmp(p[i - 1]->name, name) > 0) {
    p[i] = p[i - 1];
    i--;
  }
  p[i] = m;
  s->n_models++;
  *out = m;
  return RK_OK;
}

static rk_stats_cell *cell_for(rk_server *s, const char *name, int64_t version) {
  for (int i = 0; i < s->n_cells; i++)
    if (s->cells[i]->s.version == version && !strcmp(s->cells[i]->s.name, name)) return s->cells[i];
  rk_stats_cell **p = rk_realloc(s->cells, (size_t)(s->n_cells + 1) * sizeof *p);
  if (!p) return NULL;
  s->cells = p;
  rk_stats_cell *c = rk_calloc(1, sizeof *c);
  if (!c || !(c->s.name = rk_strdup(name))) {
    rk_free(c);
    return NULL;
  }
  c->s.version = version;
  pthread_mutex_init(&c->lock, NULL);
  p[s->n_cells++] = c;
  return c;
}

static void free_slots(version_slot *v, int n) {
  for (int i = 0; i < n; i++) rk_free(v[i].reason);
  rk_free(v);
}

/* Free versions after the requests holding them are done. */
static void retire(rk_loaded **old, int n) {
  for (int i = 0; i < n; i++) {
    rk_loaded_wait(old[i], 1);
    rk_loaded_free(old[i]);
  }
}

static void set_reason(char **reason, const char *text) {
  rk_free(*reason);
  *reason = rk_strdup(text ? text : "");
}

/* ---- loading -------------------------------------------------------------------------------- */
#define MAX_ENSEMBLE_DEPTH 8

static rk_status load_locked(rk_server *s, const char *name, int depth);

/* An ensemble batches as its last step with dynamic batching does (a session ensemble too: its
 * workflow step transforms each request's events alone and the model step runs them together). */
static void ensemble_batching(rk_server *s, rk_loaded *l) {
  for (int k = 0; k < l->config.n_steps; k++) {
    rk_loaded *sl = NULL;
    if (rk_server_acquire(s, l->config.steps[k].model_name, l->config.steps[k].model_version, &sl) != RK_OK) continue;
    if (sl->config.dynamic_batching) {
      l->preferred = sl->preferred;
      l->delay_us = sl->delay_us;
    }
    rk_loaded_release(sl);
  }
  rk_error_clear();
  rk_serve_clear_code();
}

static rk_status mark_failed(rk_server *s, const char *name, rk_status st) {
  char reason[RK_ERROR_MAX];
  snprintf(reason, sizeof reason, "%s", rk_error_message());
  rk_serve_code code = rk_serve_error_code(st);
  pthread_mutex_lock(&s->lock);
  rk_server_model *m = find_model(s, name);
  if (!m && add_model(s, name, &m) != RK_OK) m = NULL;
  rk_loaded **old = NULL;
  int n_old = 0;
  if (m) {
    m->wanted = true;
    /* a model that cannot be read keeps nothing loaded: its versions are unloaded */
    old = rk_calloc((size_t)m->n_v + 1, sizeof *old);
    for (int i = 0; old && i < m->n_v; i++)
      if (m->v[i].l) old[n_old++] = m->v[i].l;
    free_slots(m->v, m->n_v);
    m->v = NULL;
    m->n_v = 0;
    m->state = RK_MODEL_STATE_UNAVAILABLE;
    set_reason(&m->reason, reason);
  }
  pthread_mutex_unlock(&s->lock);
  retire(old, n_old);
  rk_free(old);
  rk_error(st, "%s", reason);
  return rk_serve_mark(code == RK_SERVE_NOT_FOUND || code == RK_SERVE_INVALID ? code : RK_SERVE_UNAVAILABLE, st);
}

static rk_status load_locked(rk_server *s, const char *name, int depth) {
  char *dir = NULL, *cfgpath = NULL, *text = NULL;
  size_t len = 0;
  rk_model_config cfg = {0};
  int64_t *present = NULL, *serve = NULL;
  int n_present = 0, n_serve = 0;
  rk_status st = rk_repo_model_dir(s->repo, name, &dir);
  if (st != RK_OK) return rk_serve_error_code(st) == RK_SERVE_NOT_FOUND ? st : mark_failed(s, name, st);
  if (depth > MAX_ENSEMBLE_DEPTH) {
    rk_free(dir);
    return rk_serve_fail(RK_SERVE_INVALID, RK_EINVAL, "model '%s': ensembles nest more than %d deep (a cycle?)", name,
                         MAX_ENSEMBLE_DEPTH);
  }
  if (!(cfgpath = rk_malloc(strlen(dir) + 16))) st = RK_ENOMEM;
  else snprintf(cfgpath, strlen(dir) + 16, "%s/config.pbtxt", dir);
  if (st == RK_OK) st = rk_read_file(cfgpath, &text, &len);
  if (st == RK_OK) st = rk_model_config_parse(&cfg, text, len, cfgpath);
  if (st == RK_OK && cfg.name && strcmp(cfg.name, name))
    st = rk_error(RK_EFORMAT, "'%s' names the model '%s', but its folder is '%s'", cfgpath, cfg.name, name);
  if (st == RK_OK) st = rk_repo_versions(dir, &present, &n_present);
  if (st == RK_OK) st = rk_repo_apply_policy(&cfg.version_policy, present, n_present, &serve, &n_serve, name);
  /* An ensemble loads its steps first (a step that fails fails the ensemble). */
  for (int k = 0; st == RK_OK && k < cfg.n_steps; k++) {
    st = load_locked(s, cfg.steps[k].model_name, depth + 1);
    if (st != RK_OK)
      st = rk_error_context(st, "model '%s': its step '%s' did not load", name, cfg.steps[k].model_name);
  }
  if (st != RK_OK) {
    rk_model_config_free(&cfg);
    rk_free(text), rk_free(cfgpath), rk_free(dir), rk_free(present), rk_free(serve);
    return mark_failed(s, name, st);
  }
  /* The new set: unchanged versions kept, the others loaded now. */
  version_slot *nv = rk_calloc((size_t)n_serve, sizeof *nv);
  if (!nv) st = RK_ENOMEM;
  pthread_mutex_lock(&s->lock);
  rk_server_model *m = find_model(s, name);
  for (int i = 0; st == RK_OK && i < n_serve; i++) {
    nv[i].version = serve[i];
    for (int j = 0; m && j < m->n_v; j++)
      if (m->v[j].version == serve[i] && m->v[j].l && !strcmp(m->v[j].l->config_text, text)) {
        nv[i].l = m->v[j].l;
        rk_loaded_hold(nv[i].l);
        nv[i].state = RK_MODEL_STATE_READY;
      }
  }
  pthread_mutex_unlock(&s->lock);
  bool any_ready = false;
  for (int i = 0; st == RK_OK && i < n_serve; i++) {
    if (!nv[i].l) {
      rk_model_config c;
      char *t = rk_strdup(text);
      rk_status vs = t ? rk_model_config_parse(&c, text, len, cfgpath) : RK_ENOMEM;
      if (vs == RK_OK) vs = rk_loaded_open(&nv[i].l, name, serve[i], dir, &c, t, s->workers);
      else rk_free(t);
      if (vs == RK_OK) {
        pthread_mutex_lock(&s->lock);
        nv[i].l->stats = cell_for(s, name, serve[i]);
        pthread_mutex_unlock(&s->lock);
        if (!nv[i].l->stats) {
          rk_loaded_free(nv[i].l);
          nv[i].l = NULL;
          vs = RK_ENOMEM;
        }
      }
      if (vs == RK_OK && nv[i].l->kind == RK_STEP_ENSEMBLE) ensemble_batching(s, nv[i].l);
      nv[i].state = vs == RK_OK ? RK_MODEL_STATE_READY : RK_MODEL_STATE_UNAVAILABLE;
      set_reason(&nv[i].reason, vs == RK_OK ? "" : rk_error_message());
      if (vs == RK_ENOMEM) st = vs;
    }
    any_ready = any_ready || nv[i].state == RK_MODEL_STATE_READY;
  }
  if (st == RK_OK && !any_ready)
    st = rk_serve_fail(RK_SERVE_UNAVAILABLE, RK_EFORMAT, "%s", n_serve ? nv[n_serve - 1].reason : "no version");
  rk_loaded **old = NULL;
  int n_old = 0;
  if (st == RK_OK) {
    pthread_mutex_lock(&s->lock);
    m = find_model(s, name);
    if (!m) st = add_model(s, name, &m);
    if (st == RK_OK && !(old = rk_calloc((size_t)m->n_v + 1, sizeof *old))) st = RK_ENOMEM;
    if (st == RK_OK) {
      for (int j = 0; j < m->n_v; j++)
        if (m->v[j].l) old[n_old++] = m->v[j].l;   /* kept ones were held again above */
      free_slots(m->v, m->n_v);
      m->v = nv;
      m->n_v = n_serve;
      m->state = RK_MODEL_STATE_READY;
      set_reason(&m->reason, "");
      m->wanted = true;
      nv = NULL;
    }
    pthread_mutex_unlock(&s->lock);
  }
  if (nv) {   /* not swapped in: give back what was loaded or held */
    for (int i = 0; i < n_serve; i++)
      if (nv[i].l) {
        rk_loaded_release(nv[i].l);
        if (atomic_load(&nv[i].l->refs) == 0) rk_loaded_free(nv[i].l);
      }
    free_slots(nv, n_serve);
  }
  /* The old set's table holds go; versions the new set does not keep are freed once idle (m->v
   * changes only under load_lock, which this thread holds). */
  for (int i = 0; i < n_old; i++) {
    bool kept = false;
    for (int j = 0; m && j < m->n_v; j++) kept = kept || m->v[j].l == old[i];
    rk_loaded_release(old[i]);
    if (!kept) {
      rk_loaded_wait(old[i], 0);
      rk_loaded_free(old[i]);
    }
  }
  rk_free(old);
  rk_model_config_free(&cfg);
  rk_free(text), rk_free(cfgpath), rk_free(dir), rk_free(present), rk_free(serve);
  if (st != RK_OK) return mark_failed(s, name, st);   /* no version loaded: the index says why */
  return st;
}

rk_status rk_server_load(rk_server *s, const char *name) {
  rk_serve_clear_code();
  if (s->control != RK_SERVE_CONTROL_EXPLICIT)
    return rk_serve_fail(RK_SERVE_INVALID, RK_EUSAGE, "cannot load model '%s': the server runs with model control mode "
                         "'%s' (load and unload need --model-control-mode=explicit)", name ? name : "",
                         rk_serve_control_name(s->control));
  if (atomic_load(&s->shutting_down))
    return rk_serve_fail(RK_SERVE_UNAVAILABLE, RK_EIO, "cannot load model '%s': the server is shutting down", name);
  pthread_mutex_lock(&s->load_lock);
  rk_status st = load_locked(s, name, 0);
  pthread_mutex_unlock(&s->load_lock);
  return st;
}

/* Takes the model's versions out of the table and frees them once idle. */
static rk_status unload_locked(rk_server *s, const char *name, bool dependents, int depth) {
  RK_TRY(rk_serve_check_name(name, "model name"));
  pthread_mutex_lock(&s->lock);
  rk_server_model *m = find_model(s, name);
  rk_loaded **old = m ? rk_calloc((size_t)m->n_v + 1, sizeof *old) : NULL;
  int n_old = 0;
  char **steps = NULL;
  int n_steps = 0;
  if (m && old) {
    for (int i = 0; i < m->n_v; i++) {
      if (!m->v[i].l) continue;
      rk_loaded *l = m->v[i].l;
      if (dependents && !steps && l->config.n_steps) {
        steps = rk_calloc((size_t)l->config.n_steps, sizeof *steps);
        for (int k = 0; steps && k < l->config.n_steps; k++)
          if ((steps[n_steps] = rk_strdup(l->config.steps[k].model_name))) n_steps++;
      }
      old[n_old++] = l;
    }
    free_slots(m->v, m->n_v);
    m->v = NULL;
    m->n_v = 0;
    m->state = RK_MODEL_STATE_UNAVAILABLE;
    m->wanted = false;
    set_reason(&m->reason, "unloaded");
  }
  pthread_mutex_unlock(&s->lock);
  if (m && !old) return RK_ENOMEM;
  retire(old, n_old);
  rk_free(old);
  if (!m) {
    char *dir = NULL;
    rk_status st = rk_repo_model_dir(s->repo, name, &dir);
    rk_free(dir);
    if (st != RK_OK) return st;
  }
  /* Steps no other loaded ensemble uses go too. */
  for (int k = 0; k < n_steps; k++) {
    bool used = false;
    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < s->n_models && !used; i++)
      for (int j = 0; j < s->models[i]->n_v && !used; j++) {
        const rk_loaded *l = s->models[i]->v[j].l;
        for (int t = 0; l && t < l->config.n_steps && !used; t++) used = !strcmp(l->config.steps[t].model_name, steps[k]);
      }
    pthread_mutex_unlock(&s->lock);
    if (!used && depth < MAX_ENSEMBLE_DEPTH) unload_locked(s, steps[k], true, depth + 1);
    rk_free(steps[k]);
  }
  rk_free(steps);
  return RK_OK;
}

rk_status rk_server_unload(rk_server *s, const char *name, bool unload_dependents) {
  rk_serve_clear_code();
  if (s->control != RK_SERVE_CONTROL_EXPLICIT)
    return rk_serve_fail(RK_SERVE_INVALID, RK_EUSAGE, "cannot unload model '%s': the server runs with model control "
                         "mode '%s' (load and unload need --model-control-mode=explicit)", name ? name : "",
                         rk_serve_control_name(s->control));
  pthread_mutex_lock(&s->load_lock);
  rk_status st = unload_locked(s, name, unload_dependents, 0);
  pthread_mutex_unlock(&s->load_lock);
  return st;
}

/* ---- poll mode ---------------------------------------------------------------------------- */
static rk_status poll_locked(rk_server *s) {
  char **names = NULL;
  int n = 0;
  RK_TRY(rk_repo_list(s->repo, &names, &n));
  for (int i = 0; i < n; i++) load_locked(s, names[i], 0);   /* failures stay in the index */
  /* models whose folder went away */
  for (;;) {
    char *gone = NULL;
    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < s->n_models && !gone; i++) {
      bool listed = false;
      for (int k = 0; k < n && !listed; k++) listed = !strcmp(names[k], s->models[i]->name);
      if (!listed && s->models[i]->n_v) gone = rk_strdup(s->models[i]->name);
    }
    pthread_mutex_unlock(&s->lock);
    if (!gone) break;
    unload_locked(s, gone, false, 0);
    rk_free(gone);
  }
  rk_repo_free_names(names, n);
  rk_error_clear();
  rk_serve_clear_code();
  return RK_OK;
}

rk_status rk_server_poll(rk_server *s) {
  if (s->control != RK_SERVE_CONTROL_POLL)
    return rk_serve_fail(RK_SERVE_INVALID, RK_EUSAGE, "cannot rescan the repository: the model control mode is '%s', "
                         "not poll", rk_serve_control_name(s->control));
  pthread_mutex_lock(&s->load_lock);
  rk_status st = poll_locked(s);
  pthread_mutex_unlock(&s->load_lock);
  return st;
}

static void *poll_main(void *arg) {
  rk_server *s = arg;
  pthread_mutex_lock(&s->load_lock);
  while (!atomic_load(&s->shutting_down)) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t ns = ts.tv_nsec + (s->poll_ms % 1000) * 1000000;
    ts.tv_sec += (time_t)(s->poll_ms / 1000 + ns / 1000000000);
    ts.tv_nsec = (long)(ns % 1000000000);
    pthread_cond_timedwait(&s->poll_wake, &s->load_lock, &ts);
    if (!atomic_load(&s->shutting_down)) poll_locked(s);
  }
  pthread_mutex_unlock(&s->load_lock);
  return NULL;
}

/* ---- open and close ------------------------------------------------------------------------- */
rk_status rk_server_open(rk_server **out, const rk_serve_options *o) {
  *out = NULL;
  rk_serve_clear_code();
  if (!o->repository || !o->repository[0]) return rk_error(RK_EUSAGE, "--model-repository is required");
  DIR *d = opendir(o->repository);
  if (!d) return rk_error(RK_ENOTFOUND, "cannot open the model repository '%s': no such folder", o->repository);
  closedir(d);
  rk_server *s = rk_calloc(1, sizeof *s);
  if (!s) return RK_ENOMEM;
  s->control = o->control;
  s->strict = o->strict_readiness;
  s->max_elements = o->max_request_elements > 0 ? o->max_request_elements : (int64_t)1 << 26;
  s->workers = o->workers > 0 ? o->workers : rk_num_threads();
  s->poll_ms = o->poll_interval_ms;
  pthread_mutex_init(&s->lock, NULL);
  pthread_mutex_init(&s->load_lock, NULL);
  pthread_cond_init(&s->poll_wake, NULL);
  rk_status st = (s->repo = rk_strdup(o->repository)) ? RK_OK : RK_ENOMEM;
  if (st == RK_OK) st = rk_scheduler_open(&s->q, s, s->workers);
  if (st != RK_OK) {
    rk_server_close(s);
    return st;
  }
  pthread_mutex_lock(&s->load_lock);
  if (s->control == RK_SERVE_CONTROL_EXPLICIT) {
    for (int i = 0; i < o->n_load_models; i++) {
      if (!strcmp(o->load_models[i], "*")) poll_locked(s);
      else load_locked(s, o->load_models[i], 0);   /* a failure stays in the index, with its reason */
    }
  } else {
    poll_locked(s);
  }
  pthread_mutex_unlock(&s->load_lock);
  rk_error_clear();
  rk_serve_clear_code();
  if (s->control == RK_SERVE_CONTROL_POLL && s->poll_ms > 0) {
    if (pthread_create(&s->poller, NULL, poll_main, s) != 0) {
      rk_server_close(s);
      return rk_error(RK_EINTERNAL, "cannot start the repository poller");
    }
    s->polling = true;
  }
  *out = s;
  return RK_OK;
}

rk_status rk_server_shutdown(rk_server *s, int64_t timeout_ms) {
  if (atomic_exchange(&s->shut, true)) return RK_OK;
  atomic_store(&s->shutting_down, true);
  if (s->polling) {
    pthread_mutex_lock(&s->load_lock);
    pthread_cond_broadcast(&s->poll_wake);
    pthread_mutex_unlock(&s->load_lock);
    pthread_join(s->poller, NULL);
    s->polling = false;
  }
  int64_t left = 0;
  if (s->q) rk_scheduler_drain(s->q, timeout_ms, &left);
  if (left > 0)
    return rk_error(RK_EIO, "shutdown: %lld requests were still queued or running after %lld ms", (long long)left,
                    (long long)timeout_ms);
  return RK_OK;
}

void rk_server_close(rk_server *s) {
  if (!s) return;
  if (!atomic_load(&s->shut)) rk_server_shutdown(s, -1);
  rk_scheduler_close(s->q);   /* runs what is left, then joins the workers */
  for (int i = 0; i < s->n_models; i++) {
    rk_server_model *m = s->models[i];
    for (int j = 0; j < m->n_v; j++)
      if (m->v[j].l) rk_loaded_free(m->v[j].l);
    free_slots(m->v, m->n_v);
    rk_free(m->reason);
    rk_free(m->name);
    rk_free(m);
  }
  rk_free(s->models);
  for (int i = 0; i < s->n_cells; i++) {
    rk_serve_model_stats_clear(&s->cells[i]->s);
    pthread_mutex_destroy(&s->cells[i]->lock);
    rk_free(s->cells[i]);
  }
  rk_free(s->cells);
  pthread_mutex_destroy(&s->lock);
  pthread_mutex_destroy(&s->load_lock);
  pthread_cond_destroy(&s->poll_wake);
  rk_free(s->repo);
  rk_free(s);
}

bool rk_server_live(const rk_server *s) { return !atomic_load(&s->shutting_down); }

bool rk_server_ready(rk_server *s) {
  if (atomic_load(&s->shutting_down)) return false;
  if (!s->strict) return true;
  bool ready = true;
  pthread_mutex_lock(&s->lock);
  for (int i = 0; i < s->n_models && ready; i++) {
    const rk_server_model *m = s->models[i];
    if (!m->wanted) continue;
    bool any = false;
    for (int j = 0; j < m->n_v; j++) any = any || m->v[j].state == RK_MODEL_STATE_READY;
    ready = any;
  }
  pthread_mutex_unlock(&s->lock);
  return ready;
}

/* ---- lookups -------------------------------------------------------------------------------- */
rk_status rk_server_acquire(rk_server *s, const char *name, int64_t version, rk_loaded **out) {
  *out = NULL;
  if (!name) return rk_serve_fail(RK_SERVE_INVALID, RK_EINVAL, "the request names no model");
  char reason[512] = "";
  pthread_mutex_lock(&s->lock);
  rk_server_model *m = find_model(s, name);
  rk_loaded *best = NULL;
  bool known = m != NULL, known_version = false, has_versions = m && m->n_v > 0;
  for (int j = 0; m && j < m->n_v; j++) {
    if (version > 0 && m->v[j].version != version) continue;
    known_version = true;
    if (m->v[j].l && m->v[j].state == RK_MODEL_STATE_READY) best = m->v[j].l;
  }
  if (best) rk_loaded_hold(best);
  else if (m && m->reason) snprintf(reason, sizeof reason, "%s", m->reason);   /* the table may change after */
  pthread_mutex_unlock(&s->lock);
  if (best) {
    *out = best;
    return RK_OK;
  }
  char *dir = NULL;
  rk_status st = known ? RK_OK : rk_repo_model_dir(s->repo, name, &dir);
  rk_free(dir);
  if (st != RK_OK) return st;   /* NOT_FOUND, or a name that leaves the repository */
  if (version > 0 && !known_version && has_versions)
    return rk_serve_fail(RK_SERVE_NOT_FOUND, RK_ENOTFOUND, "model '%s' has no version %lld loaded", name, (long long)version);
  if (version > 0)
    return rk_serve_fail(RK_SERVE_UNAVAILABLE, RK_EIO, "model '%s' version %lld is not ready", name, (long long)version);
  return rk_serve_fail(RK_SERVE_UNAVAILABLE, RK_EIO, "model '%s' is not ready%s%s", name,
                       reason[0] ? ": " : " (not loaded)", reason);
}

rk_status rk_server_model_ready(rk_server *s, const char *name, int64_t version, bool *ready) {
  rk_serve_clear_code();
  *ready = false;
  rk_loaded *l = NULL;
  rk_status st = rk_server_acquire(s, name, version, &l);
  if (st == RK_OK) {
    *ready = !atomic_load(&s->shutting_down);
    rk_loaded_release(l);
    return RK_OK;
  }
  if (rk_serve_error_code(st) == RK_SERVE_UNAVAILABLE) {
    rk_error_clear();
    rk_serve_clear_code();
    return RK_OK;
  }
  return st;
}

/* ---- the index ------------------------------------------------------------------------------ */
static rk_status push_entry(rk_serve_index *ix, const char *name, int64_t version, rk_model_state state,
                            const char *reason) {
  rk_serve_index_entry *e = rk_realloc(ix->entries, (size_t)(ix->n + 1) * sizeof *e);
  if (!e) return RK_ENOMEM;
  ix->entries = e;
  e = &e[ix->n];
  e->name = rk_strdup(name);
  e->reason = rk_strdup(reason ? reason : "");
  e->version = version;
  e->state = state;
  if (!e->name || !e->reason) {
    rk_free(e->name);
    rk_free(e->reason);
    return RK_ENOMEM;
  }
  ix->n++;
  return RK_OK;
}

rk_status rk_server_index(rk_server *s, bool ready_only, rk_serve_index *out) {
  memset(out, 0, sizeof *out);
  char **names = NULL;
  int n = 0;
  RK_TRY(rk_repo_list(s->repo, &names, &n));
  rk_status st = RK_OK;
  pthread_mutex_lock(&s->lock);
  /* the repository's folders, and loaded models whose folder went away meanwhile */
  int i = 0, k = 0;
  while (st == RK_OK && (i < n || k < s->n_models)) {
    int c = i == n ? 1 : k == s->n_models ? -1 : strcmp(names[i], s->models[k]->name);
    rk_server_model *m = c >= 0 ? s->models[k] : NULL;
    const char *name = c <= 0 ? names[i] : s->models[k]->name;
    if (m && m->n_v) {
      for (int j = 0; st == RK_OK && j < m->n_v; j++)
        if (!ready_only || m->v[j].state == RK_MODEL_STATE_READY)
          st = push_entry(out, name, m->v[j].version, m->v[j].state, m->v[j].reason);
    } else if (!ready_only) {
      st = push_entry(out, name, 0, m ? m->state : RK_MODEL_STATE_UNKNOWN, m ? m->reason : "");
    }
    if (c <= 0) i++;
    if (c >= 0) k++;
  }
  pthread_mutex_unlock(&s->lock);
  rk_repo_free_names(names, n);
  if (st != RK_OK) rk_serve_index_free(out);
  return st;
}

void rk_serve_index_free(rk_serve_index *ix) {
  if (!ix) return;
  for (int i = 0; i < ix->n; i++) {
    rk_free(ix->entries[i].name);
    rk_free(ix->entries[i].reason);
  }
  rk_free(ix->entries);
  memset(ix, 0, sizeof *ix);
}

/* ---- metadata and config -------------------------------------------------------------------- */
static rk_status meta_tensors(rk_serve_tensor_meta **out, int *n, const rk_model_config_tensor *t, int nt, bool batched) {
  *n = 0;
  if (!(*out = rk_calloc((size_t)nt + 1, sizeof **out))) return RK_ENOMEM;
  for (int i = 0; i < nt; i++) {
    rk_serve_tensor_meta *m = &(*out)[i];
    if (!(m->name = rk_strdup(t[i].name))) return RK_ENOMEM;
    (*n)++;
    m->datatype = t[i].data_type;
    if (batched) m->shape[m->ndim++] = -1;
    for (int d = 0; d < t[i].n_dims && m->ndim < RK_SERVE_MAX_DIMS; d++) m->shape[m->ndim++] = t[i].dims[d];
  }
  return RK_OK;
}

rk_status rk_server_model_metadata(rk_server *s, const char *name, int64_t version, rk_serve_model_meta *out) {
  rk_serve_clear_code();
  memset(out, 0, sizeof *out);
  rk_loaded *l = NULL;
  RK_TRY(rk_server_acquire(s, name, version, &l));
  const rk_model_config *c = &l->config;
  rk_status st = RK_OK;
  if (!(out->name = rk_strdup(name)) || !(out->platform = rk_strdup(l->kind == RK_STEP_ENSEMBLE ? "ensemble" : "reckon")))
    st = RK_ENOMEM;
  pthread_mutex_lock(&s->lock);
  rk_server_model *m = find_model(s, name);
  if (st == RK_OK && m && !(out->versions = rk_calloc((size_t)m->n_v + 1, sizeof *out->versions))) st = RK_ENOMEM;
  for (int j = 0; st == RK_OK && m && j < m->n_v; j++)
    if (m->v[j].state == RK_MODEL_STATE_READY) out->versions[out->n_versions++] = m->v[j].version;
  pthread_mutex_unlock(&s->lock);
  if (st == RK_OK) st = meta_tensors(&out->inputs, &out->n_inputs, c->input, c->n_input, c->max_batch_size > 0);
  for (int i = 0; st == RK_OK && i < out->n_inputs; i++)   /* a ragged pair's tensors are 1-D: no batch axis */
    if (rk_serve_ragged_partner(c, out->inputs[i].name)) out->inputs[i].ndim = 1, out->inputs[i].shape[0] = -1;
  if (st == RK_OK) st = meta_tensors(&out->outputs, &out->n_outputs, c->output, c->n_output, c->max_batch_size > 0);
  rk_loaded_release(l);
  if (st != RK_OK) rk_serve_model_meta_free(out);
  return st;
}

void rk_serve_model_meta_free(rk_serve_model_meta *m) {
  if (!m) return;
  for (int i = 0; i < m->n_inputs; i++) rk_free(m->inputs[i].name);
  for (int i = 0; i < m->n_outputs; i++) rk_free(m->outputs[i].name);
  rk_free(m->inputs);
  rk_free(m->outputs);
  rk_free(m->versions);
  rk_free(m->name);
  rk_free(m->platform);
  memset(m, 0, sizeof *m);
}

rk_status rk_server_model_config(rk_server *s, const char *name, int64_t version, rk_model_config *config,
                                 char **text) {
  rk_serve_clear_code();
  if (config) memset(config, 0, sizeof *config);
  if (text) *text = NULL;
  rk_loaded *l = NULL;
  RK_TRY(rk_server_acquire(s, name, version, &l));
  rk_status st = RK_OK;
  if (config) st = rk_model_config_parse(config, l->config_text, strlen(l->config_text), "config.pbtxt");
  if (st == RK_OK && text && !(*text = rk_strdup(l->config_text))) st = RK_ENOMEM;
  if (st != RK_OK && config) rk_model_config_free(config);
  rk_loaded_release(l);
  return st;
}

/* ---- inference ------------------------------------------------------------------------------ */
rk_status rk_server_infer_async(rk_server *s, const rk_serve_request *req, rk_serve_done_fn done, void *ctx) {
  rk_serve_clear_code();
  if (atomic_load(&s->shutting_down))
    return rk_serve_fail(RK_SERVE_UNAVAILABLE, RK_EIO, "the server is shutting down: no new requests");
  rk_loaded *l = NULL;
  RK_TRY(rk_server_acquire(s, req->model, req->version, &l));
  int64_t rows = 0;
  rk_status st = rk_serve_check_inputs(&l->config, l->name, req, s->max_elements, &rows);
  if (st == RK_OK) st = rk_serve_check_outputs(&l->config, l->name, req);
  for (int i = 0; st == RK_OK && i < req->n_params; i++)
    st = rk_serve_fail(RK_SERVE_INVALID, RK_EINVAL, "model '%s' takes no request parameter '%s'", l->name,
                       req->params[i].key ? req->params[i].key : "");
  if (st == RK_OK) st = rk_scheduler_submit(s->q, l, req, rows, done, ctx);
  rk_loaded_release(l);
  return st;
}

typedef struct {
  pthread_mutex_t lock;
  pthread_cond_t done_cond;
  bool done;
  rk_status status;
  rk_serve_code code;
  char message[RK_ERROR_MAX];
  rk_serve_response *resp;
} sync_call;

static void sync_done(void *ctx, rk_status status, rk_serve_code code, rk_serve_response *resp) {
  sync_call *c = ctx;
  pthread_mutex_lock(&c->lock);
  c->status = status;
  c->code = code;
  if (status != RK_OK) snprintf(c->message, sizeof c->message, "%s", rk_error_message());
  else *c->resp = *resp;
  c->done = true;
  pthread_cond_signal(&c->done_cond);
  pthread_mutex_unlock(&c->lock);
}

rk_status rk_server_infer(rk_server *s, const rk_serve_request *req, rk_serve_response *resp) {
  memset(resp, 0, sizeof *resp);
  sync_call c = {.resp = resp};
  pthread_mutex_init(&c.lock, NULL);
  pthread_cond_init(&c.done_cond, NULL);
  rk_status st = rk_server_infer_async(s, req, sync_done, &c);
  if (st == RK_OK) {
    pthread_mutex_lock(&c.lock);
    while (!c.done) pthread_cond_wait(&c.done_cond, &c.lock);
    pthread_mutex_unlock(&c.lock);
    st = c.status;
    if (st != RK_OK) rk_serve_fail(c.code, st, "%s", c.message);   /* the worker's message, on this thread */
  }
  pthread_mutex_destroy(&c.lock);
  pthread_cond_destroy(&c.done_cond);
  return st;
}

void rk_serve_response_free(rk_serve_response *resp) {
  if (!resp) return;
  for (int i = 0; i < resp->n_outputs; i++) {
    rk_free(resp->outputs[i].name);
    rk_free(resp->outputs[i].data);
  }
  /* outputs allocated but not counted (a failure midway) are zeroed by calloc: names NULL */
  if (resp->outputs) {
    rk_serve_output *o = &resp->outputs[resp->n_outputs];
    rk_free(o->name);
    rk_free(o->data);
  }
  rk_free(resp->outputs);
  rk_free(resp->model_name);
  rk_free(resp->id);
  memset(resp, 0, sizeof *resp);
}

/* ---- statistics ----------------------------------------------------------------------------- */
rk_status rk_server_stats(rk_server *s, const char *name, int64_t version, rk_serve_stats *out) {
  rk_serve_clear_code();
  memset(out, 0, sizeof *out);
  if (name) {
    rk_loaded *l = NULL;
    char *dir = NULL;
    rk_status st = rk_repo_model_dir(s->repo, name, &dir);
    rk_free(dir);
    if (st != RK_OK && rk_server_acquire(s, name, version, &l) != RK_OK) return st;
    if (l) rk_loaded_release(l);
    rk_error_clear();
    rk_serve_clear_code();
  }
  pthread_mutex_lock(&s->lock);
  rk_status st = RK_OK;
  if (!(out->models = rk_calloc((size_t)s->n_cells + 1, sizeof *out->models))) st = RK_ENOMEM;
  for (int i = 0; st == RK_OK && i < s->n_cells; i++) {
    rk_stats_cell *c = s->cells[i];
    if (name && strcmp(c->s.name, name)) continue;
    if (version > 0 && c->s.version != version) continue;
    if ((st = rk_stats_copy(&out->models[out->n], c)) == RK_OK) out->n++;
  }
  pthread_mutex_unlock(&s->lock);
  if (st != RK_OK) rk_serve_stats_free(out);
  return st;
}
