/*
 * A training run's sharded embedding tables (run_shards.h).
 *
 * The model builder asks about each embedding table as it makes it (rk_table_placement): the
 * flags' choice is made table by table there (by size, all, none, or the listed names), and a
 * chosen table gets only this rank's rows (rk_shard_table), drawn as the whole table's would be,
 * so nothing of its size is ever allocated. Once the model is built, rk_shard_choose checks the
 * whole choice against every table seen (an unknown name is refused) and agrees with it.
 *
 * A step: the trainer fills each of its pieces' inputs and collects the ids each sharded table's
 * lookups read; one fetch per table serves all the rank's pieces (every rank fetches every
 * table, in table order, so the all-to-alls pair up); the pieces then run as usual, their
 * lookups reading the fetched rows, and the summed gradient (over table rows, the same on every
 * rank) leaves each owner its rows' share for the optimizer, which steps the shard in the
 * table's place.
 *
 * Around the steps: evaluation over the ranks fetches each eval batch's rows with every rank in
 * the fetch; rank 0's predictions and saved model ask for rows while the other ranks serve them;
 * checkpoints keep each table in a folder of rank files (reckon/shard.h), resharded on load.
 *
 * It is not: the table (src/train/shard_table.c), nor the exchange of the step's gradients
 * (src/train/step_pieces.c).
 */
#include <string.h>

#include "train/run_shards.h"

#define TABLE_PREFIX "embeddings."

typedef struct sharded {
  rk_shard_table table;
  const rk_param *param;   /* the model's table reading it (bound after the build) */
  int64_t *ids, n_ids, ids_cap;   /* the step's collected ids, repeats and all */
  struct run_shards *run;
  int index;               /* in run->tables */
  int param_index;         /* in the model's parameters */
} sharded;

struct run_shards {
  rk_table_placement placement;
  char *spec;
  double threshold_mb;
  rk_dist *dist;
  int rank, ranks;
  int n_seen;              /* every embedding table the builder made: */
  char **seen;             /* (n_seen) its name as the flags give it: the column's */
  int64_t *seen_V, *seen_D;
  bool *seen_sharded;
  int n;
  sharded **tables;        /* (n) each allocated apart: the graph holds pointers into them */
};

/* "embeddings.item_id" -> "item_id": the flags name a table by its column. */
static const char *column_of(const char *param_name) {
  size_t k = strlen(TABLE_PREFIX);
  return strncmp(param_name, TABLE_PREFIX, k) == 0 ? param_name + k : param_name;
}

static bool grow(void **p, int n, size_t each) {
  void *q = rk_realloc(*p, (size_t)(n + 1) * each);
  if (q) *p = q;
  return q != NULL;
}

static rk_status remember(run_shards *s, const char *name, int64_t V, int64_t D, bool sharded) {
  if (!grow((void **)&s->seen, s->n_seen, sizeof *s->seen) || !grow((void **)&s->seen_V, s->n_seen, sizeof *s->seen_V) ||
      !grow((void **)&s->seen_D, s->n_seen, sizeof *s->seen_D) ||
      !grow((void **)&s->seen_sharded, s->n_seen, sizeof *s->seen_sharded))
    return RK_ENOMEM;
  if (!(s->seen[s->n_seen] = rk_strdup(name))) return RK_ENOMEM;
  s->seen_V[s->n_seen] = V;
  s->seen_D[s->n_seen] = D;
  s->seen_sharded[s->n_seen++] = sharded;
  return RK_OK;
}

static rk_status reserve_ids(sharded *t, int64_t n) {
  if (n <= t->ids_cap) return RK_OK;
  int64_t *ids = rk_realloc(t->ids, (size_t)n * sizeof *ids);
  if (!ids) return RK_ENOMEM;
  t->ids = ids;
  t->ids_cap = n;
  return RK_OK;
}

/* ---- the saved model: rank 0 reads the table a block at a time (rk_row_cache.read_rows), each
 * block fetched from the owners; the other ranks serve, told by rank 0 which table each fetch
 * is for, until it says it is done (SERVE_DONE), whatever its save did. ---- */
enum { SERVE_DONE = -1 };

/* Rank 0: tells the serving ranks which table, then fetches its ids (n of t->ids). */
static rk_status ask(sharded *t, int64_t n) {
  int64_t which = t->index;
  if (t->run->dist) RK_TRY(rk_dist_broadcast(t->run->dist, &which, 1, RK_DIST_I64, 0));
  rk_status st = rk_shard_fetch(&t->table, t->run->dist, t->ids, n);
  t->n_ids = 0;
  return st;
}

static rk_status read_rows(void *ctx, void *out, int64_t first, int64_t n) {
  sharded *t = ctx;
  RK_TRY(reserve_ids(t, n));
  for (int64_t k = 0; k < n; k++) t->ids[k] = first + k;
  RK_TRY(ask(t, n));
  memcpy(out, t->table.cached, (size_t)(n * t->table.D) * sizeof(float));   /* ascending ids: in order */
  return RK_OK;
}

/* This table alone: rk_shard_choose decides by size, all or none; a list by membership (the list
 * as a whole is checked once every table is known, in run_shards_bind). */
static rk_status choose(const run_shards *s, const char *name, int64_t V, int64_t D, bool *want) {
  bool listing = strcmp(s->spec, "auto") && strcmp(s->spec, "all") && strcmp(s->spec, "none");
  *want = false;
  if (listing && !rk_name_listed(s->spec, name)) return RK_OK;
  return rk_shard_choose(want, listing ? name : s->spec, s->threshold_mb, &name, &V, &D, 1, s->ranks);
}

/* The memory check's question: this rank's rows of the table. */
static rk_status rows_here(void *ctx, const char *param_name, int64_t V, int64_t D, int64_t *rows) {
  const run_shards *s = ctx;
  bool want;
  RK_TRY(choose(s, column_of(param_name), V, D, &want));
  *rows = want ? rk_shard_local_rows(V, s->rank, s->ranks) : V;
  return RK_OK;
}

static rk_status place(void *ctx, const char *param_name, int64_t V, int64_t D, const rk_init_spec *init,
                       uint64_t seed, uint64_t stream, const rk_row_cache **held) {
  run_shards *s = ctx;
  *held = NULL;
  const char *name = column_of(param_name);
  bool want;
  RK_TRY(choose(s, name, V, D, &want));
  RK_TRY(remember(s, name, V, D, want));
  if (!want) return RK_OK;
  sharded *t = rk_calloc(1, sizeof *t);
  if (!t || !grow((void **)&s->tables, s->n, sizeof *s->tables)) {
    rk_free(t);
    return RK_ENOMEM;
  }
  rk_status st = rk_shard_table_init(&t->table, param_name, V, D, s->rank, s->ranks);
  if (st != RK_OK) {
    rk_free(t);
    return st;
  }
  t->run = s;
  t->index = s->n;
  t->table.fetched.read_rows = read_rows;   /* a saved model streams the table through it */
  t->table.fetched.ctx = t;
  s->tables[s->n++] = t;
  /* The builder's initial values (src/models/blocks.c), on this rank's rows only. */
  if (init) RK_TRY(rk_init_tensor_rows(&t->table.rows.value, init, seed, stream, V, s->rank, s->ranks));
  else rk_shard_table_fill_uniform(&t->table, seed, stream, -0.05f, 0.05f);
  *held = &t->table.fetched;
  return RK_OK;
}

rk_status run_shards_init(run_shards **out, const char *spec, double threshold_mb, rk_dist *d) {
  *out = NULL;
  if (!spec || !spec[0]) return rk_error(RK_EUSAGE, "--shard_tables: give auto, none, all or table names");
  if (!(threshold_mb >= 0)) return rk_error(RK_EUSAGE, "--shard_threshold_mb must be 0 or more");
  run_shards *s = rk_calloc(1, sizeof *s);
  if (!s) return RK_ENOMEM;
  if (!(s->spec = rk_strdup(spec))) {
    rk_free(s);
    return RK_ENOMEM;
  }
  s->threshold_mb = threshold_mb;
  s->dist = d;
  s->rank = d ? rk_dist_rank(d) : 0;
  s->ranks = d ? rk_dist_size(d) : 1;
  s->placement = (rk_table_placement){s, place, rows_here};
  *out = s;
  return RK_OK;
}

const rk_table_placement *run_shards_placement(run_shards *s) { return &s->placement; }

rk_status run_shards_bind(run_shards *s, const rk_model *m, bool print) {
  bool *check = rk_calloc((size_t)s->n_seen + 1, sizeof *check);
  if (!check) return RK_ENOMEM;
  rk_status st = rk_shard_choose(check, s->spec, s->threshold_mb, (const char *const *)s->seen, s->seen_V, s->seen_D,
                                 s->n_seen, s->ranks);
  for (int i = 0; st == RK_OK && i < s->n_seen; i++)
    if (check[i] != s->seen_sharded[i])
      st = rk_error(RK_EINTERNAL, "--shard_tables: table '%s' was chosen one way as it was made, another after", s->seen[i]);
  rk_free(check);
  RK_TRY(st);
  for (int k = 0; k < s->n; k++) {
    sharded *t = s->tables[k];
    for (int i = 0; i < m->n_params && !t->param; i++)
      if (m->params[i]->fetched == &t->table.fetched) t->param = m->params[i], t->param_index = i;
    if (!t->param) return rk_error(RK_EINTERNAL, "sharded table '%s' is no parameter of the model", t->table.rows.name);
  }
  char line[400];
  for (int i = 0; print && s->ranks > 1 && i < s->n_seen; i++) {
    rk_shard_describe(line, sizeof line, s->seen[i], s->seen_V[i], s->seen_D[i], s->seen_sharded[i], s->ranks);
    rk_info("%s", line);
  }
  return RK_OK;
}

int run_shards_count(const run_shards *s) { return s ? s->n : 0; }

void run_shards_stand_ins(const run_shards *s, const rk_model *m, rk_param **stand_ins) {
  for (int i = 0; i < m->n_params; i++) {
    stand_ins[i] = NULL;
    for (int k = 0; s && k < s->n; k++)
      if (s->tables[k]->param == m->params[i]) stand_ins[i] = &s->tables[k]->table.rows;
  }
}

rk_status run_shards_collect(run_shards *s, const rk_graph *g) {
  for (int k = 0; s && k < s->n; k++) {
    sharded *t = s->tables[k];
    RK_TRY(rk_graph_table_ids(g, t->param, &t->ids, &t->n_ids, &t->ids_cap));
  }
  return RK_OK;
}

rk_status run_shards_fetch(run_shards *s) {
  rk_status st = RK_OK;
  for (int k = 0; s && k < s->n; k++) {
    sharded *t = s->tables[k];
    /* every table's fetch runs on every rank, even after a failure: the others wait in it */
    rk_status f = rk_shard_fetch(&t->table, s->dist, t->ids, t->n_ids);
    if (st == RK_OK) st = f;
    t->n_ids = 0;
  }
  return st;
}

rk_status run_shards_take_grads(run_shards *s) {
  for (int k = 0; s && k < s->n; k++) {
    sharded *t = s->tables[k];
    RK_TRY(rk_shard_take_grad(&t->table, t->param->grad_rows, t->param->grad.data, t->param->n_grad_rows));
  }
  return RK_OK;
}

/* ---- checkpoints: a folder per sharded table inside the checkpoint, <checkpoint>/<table>
 * (reckon/shard.h), staged inside the checkpoint's own stage so both are published together. */

static char *table_dir(const char *dir, const char *table) {
  size_t n = strlen(dir) + strlen(table) + 2;
  char *p = rk_malloc(n);
  if (p) snprintf(p, n, "%s/%s", dir, table);
  return p;
}

/* The optimizer that steps parameter i of the model, and i's place in it. */
static rk_optim *optim_of(const rk_optim_set *opt, int i, int *index) {
  *index = opt->index[i];
  return opt->which[i] < opt->n ? (rk_optim *)&opt->opt[opt->which[i]] : NULL;
}

rk_status run_shards_save(run_shards *s, const char *stage, const rk_optim_set *opt) {
  for (int k = 0; s && k < s->n; k++) {
    sharded *t = s->tables[k];
    char *dir = table_dir(stage, t->table.rows.name), *sub = NULL;
    int index;
    rk_optim *o = optim_of(opt, t->param_index, &index);
    rk_status st = dir ? rk_shard_stage(s->dist, dir, &sub) : RK_ENOMEM;   /* agreed by all */
    if (st == RK_OK) st = rk_shard_table_save(&t->table, s->dist, sub, o, index);
    if (st == RK_OK) st = rk_shard_publish(s->dist, sub, dir);
    rk_free(sub);
    rk_free(dir);
    RK_TRY(st);
  }
  return RK_OK;
}

/* Sharded now, whole in the checkpoint's weights (saved by one rank, or kept whole): this rank's
 * rows of the table's tensor and of its slots' ("<table>/<slot>"). */
static rk_status load_from_whole(sharded *t, const rk_safetensors *f, const char *path, const rk_optim *o, int index) {
  const rk_shard_table *x = &t->table;
  int64_t rows = x->rows.value.shape[0], D = x->D;
  for (int s = -1; s < (o ? o->n_slots : 0); s++) {
    char name[200];
    if (s < 0) snprintf(name, sizeof name, "%s", x->rows.name);
    else snprintf(name, sizeof name, "%s/%s", x->rows.name, rk_optim_slot_name(o, s));
    rk_st_tensor w;
    RK_TRY(rk_safetensors_find(f, name, &w));
    if (w.dtype != RK_DT_F32 || w.ndim != 2 || w.shape[0] != x->V || w.shape[1] != D)
      return rk_error(RK_EFORMAT, "'%s': tensor '%s' is not (%lld, %lld) float32", path, name, (long long)x->V,
                      (long long)D);
    float *dst = s < 0 ? x->rows.value.data : rk_optim_slot(o, index, s);
    const float *src = w.data;
    for (int64_t l = 0; l < rows; l++)
      memcpy(dst + l * D, src + (l * x->size + x->rank) * D, (size_t)D * sizeof *dst);
  }
  return RK_OK;
}

rk_status run_shards_read_model(const run_shards *s, const char *path) {
  rk_safetensors *f;
  RK_TRY(rk_safetensors_read(&f, path));
  rk_status st = RK_OK;
  for (int i = 0; st == RK_OK && i < s->n; i++) st = load_from_whole(s->tables[i], f, path, NULL, 0);
  rk_safetensors_free(f);
  return st;
}

rk_status run_shards_load(const run_shards *s, const char *dir, const rk_model *m, const rk_safetensors *f,
                          const char *path, rk_optim_set *opt) {
  const char *held = rk_safetensors_metadata(f, RK_HELD_ELSEWHERE);
  for (int i = 0; s && i < s->n; i++) {   /* sharded now, whole then */
    sharded *t = s->tables[i];
    int index;
    rk_optim *o = optim_of(opt, t->param_index, &index);
    if (!rk_name_listed(held, t->param->name))
      RK_TRY(rk_error_context(load_from_whole(t, f, path, o, index), "the checkpoint's table '%s'", t->param->name));
  }
  for (int i = 0; held && i < m->n_params; i++) {
    rk_param *p = m->params[i];
    if (!rk_name_listed(held, p->name)) continue;
    char *folder = table_dir(dir, p->name);
    if (!folder) return RK_ENOMEM;
    int index;
    rk_optim *o = optim_of(opt, i, &index);
    rk_status st;
    if (p->fetched) {   /* sharded now: this rank's rows, whatever ranks saved them */
      sharded *t = NULL;
      for (int k = 0; s && k < s->n && !t; k++)
        if (s->tables[k]->param == p) t = s->tables[k];
      st = t ? rk_shard_table_load(&t->table, folder, o, index)
             : rk_error(RK_EINTERNAL, "table '%s' is held elsewhere but by no shard", p->name);
    } else {
      /* whole now: a table is the one shard of a single rank, its rows the parameter's own */
      rk_shard_table whole;
      memset(&whole, 0, sizeof whole);
      whole.V = p->value.shape[0];
      whole.D = p->value.shape[1];
      whole.size = 1;
      whole.rows = *p;   /* a view: the load writes into p's rows; nothing of it is freed */
      st = rk_shard_table_load(&whole, folder, o, index);
    }
    rk_free(folder);
    if (st != RK_OK) return rk_error_context(st, "the checkpoint's table '%s'", p->name);
  }
  return RK_OK;
}

rk_status run_shards_ask(void *ctx, const rk_graph *g) {
  run_shards *s = ctx;
  for (int k = 0; k < s->n; k++) {
    sharded *t = s->tables[k];
    t->n_ids = 0;
    RK_TRY(rk_graph_table_ids(g, t->param, &t->ids, &t->n_ids, &t->ids_cap));
    RK_TRY(ask(t, t->n_ids));
  }
  return RK_OK;
}

rk_status run_shards_fetch_batch(void *ctx, const rk_graph *g) {
  run_shards *s = ctx;
  rk_status st = RK_OK;
  for (int k = 0; k < s->n; k++) {
    sharded *t = s->tables[k];
    t->n_ids = 0;
    if (g && st == RK_OK) st = rk_graph_table_ids(g, t->param, &t->ids, &t->n_ids, &t->ids_cap);
    /* every table's fetch on every rank, even after a failure here: the others are in it */
    rk_status f = rk_shard_fetch(&t->table, s->dist, t->ids, st == RK_OK ? t->n_ids : 0);
    if (st == RK_OK) st = f;
    t->n_ids = 0;
  }
  return st;
}

rk_status run_shards_serve(run_shards *s) {
  if (!s || !s->n || s->rank == 0) return RK_OK;
  /* rank 0 may evaluate and write for long before it saves: only the hang timeout is lifted */
  double timeout = rk_dist_set_timeout(s->dist, 7 * 24 * 3600.0);
  rk_status st = RK_OK;
  for (;;) {
    int64_t ask;
    rk_status b = rk_dist_broadcast(s->dist, &ask, 1, RK_DIST_I64, 0);
    if (b != RK_OK) {
      st = b;
      break;
    }
    if (ask == SERVE_DONE) break;
    if (ask < 0 || ask >= s->n) {
      st = rk_error(RK_EINTERNAL, "rank 0 asked for sharded table %lld of %d", (long long)ask, s->n);
      break;
    }
    rk_status f = rk_shard_fetch(&s->tables[ask]->table, s->dist, NULL, 0);
    if (st == RK_OK) st = f;   /* rank 0 fails the same way, and still says when it is done */
  }
  rk_dist_set_timeout(s->dist, timeout);
  return st;
}

rk_status run_shards_serve_done(run_shards *s) {
  if (!s || !s->n || s->rank != 0 || !s->dist) return RK_OK;
  int64_t done = SERVE_DONE;
  return rk_dist_broadcast(s->dist, &done, 1, RK_DIST_I64, 0);
}

void run_shards_free(run_shards *s) {
  if (!s) return;
  for (int k = 0; k < s->n; k++) {
    rk_shard_table_free(&s->tables[k]->table);
    rk_free(s->tables[k]->ids);
    rk_free(s->tables[k]);
  }
  for (int i = 0; i < s->n_seen; i++) rk_free(s->seen[i]);
  rk_free(s->seen);
  rk_free(s->seen_V);
  rk_free(s->seen_D);
  rk_free(s->seen_sharded);
  rk_free(s->tables);
  rk_free(s->spec);
  rk_free(s);
}
