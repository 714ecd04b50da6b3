/*
 * Parameters and the blocks every ranking model builds with: dense weights declared in the
 * model's arena and drawn once it has memory, embedding and wide tables (the MLP block is in
 * bodies.c, beside the bodies built from it). A graph sharing another model's parameters takes
 * them here, in the order they were made.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ranking_internal.h"

/* ---- parameters ---- */

/* The next parameter: a new one, or, for a graph sharing another model's, that model's next
 * (the builders create parameters in a fixed order, so the k-th is the same parameter). */
rk_status rk_ranking_next_param(rk_ranking_model *m, const rk_ranking_model *share, const char *name, rk_param **out,
                            bool *fresh) {
  rk_param **g = rk_realloc(m->params, (size_t)(m->n_params + 1) * sizeof *g);
  if (!g) return RK_ENOMEM;
  m->params = g;
  *fresh = share == NULL;
  if (share) {
    if (m->n_params >= share->n_params || strcmp(share->params[m->n_params]->name, name) != 0)
      return rk_error(RK_EINVAL, "shared model: parameter %d is not '%s'", m->n_params, name);
    *out = g[m->n_params] = share->params[m->n_params];
    m->n_params++;
    return RK_OK;
  }
  /* Names identify parameters in weight files: they must fit rk_param.name and differ. */
  if (strlen(name) >= sizeof g[0]->name)
    return rk_error(RK_EUSAGE, "parameter name '%s' is longer than %zu bytes (a target or column name is too long)",
                    name, sizeof g[0]->name - 1);
  if (!(g[m->n_params] = rk_calloc(1, sizeof **g))) return RK_ENOMEM;
  *out = g[m->n_params++];
  return RK_OK;
}

static int by_name(const void *a, const void *b) {
  return strcmp((*(rk_param *const *)a)->name, (*(rk_param *const *)b)->name);
}

/* Names identify parameters in weight files, so they must differ: checked once, sorted (a check
 * as each is made compared every pair, quadratic in a schema's features). */
rk_status rk_ranking_check_unique_names(const rk_ranking_model *m) {
  rk_param **sorted = rk_malloc((size_t)m->n_params * sizeof *sorted + 1);
  if (!sorted) return RK_ENOMEM;
  if (m->n_params) memcpy(sorted, m->params, (size_t)m->n_params * sizeof *sorted);
  qsort(sorted, (size_t)m->n_params, sizeof *sorted, by_name);
  rk_status st = RK_OK;
  for (int i = 1; i < m->n_params && st == RK_OK; i++)
    if (strcmp(sorted[i - 1]->name, sorted[i]->name) == 0)
      st = rk_error(RK_EINVAL, "two parameters named '%s'", sorted[i]->name);
  rk_free(sorted);
  return st;
}

/* ---- building blocks ---- */

/* A dense weight (out, in) initialised by --mlp_init (fans of a Keras (in, out) kernel), or a
 * zero bias (out) when in == 0. Declared in the model's arena; its values are drawn later, by
 * init_dense_params, from the stream of its own number (1 for the first parameter made). */
rk_status rk_ranking_dense(rk_ranking_builder *b, rk_param **out, const char *name, int64_t o, int64_t in) {
  bool fresh;
  RK_TRY(rk_ranking_next_param(b->m, b->share, name, out, &fresh));
  if (!fresh) return RK_OK;
  int64_t shape[2] = {o, in};
  RK_TRY(rk_param_arena_add(b->m->arena, *out, name, in ? 2 : 1, shape));
  if (!in) return RK_OK;
  rk_dense_init *inits = rk_realloc(b->inits, (size_t)(b->n_inits + 1) * sizeof *inits);
  if (!inits) return RK_ENOMEM;
  b->inits = inits;
  rk_dense_init *d = &inits[b->n_inits++];
  d->param = *out;
  d->stream = (uint64_t)b->m->n_params;
  d->spec = rk_init_spec_default(b->c->mlp_init);
  d->spec.fan_in = in;
  d->spec.fan_out = o;
  return RK_OK;
}

/* Give the declared dense parameters their memory (one allocation of values, one of gradients)
 * and draw their initial values, each from its own stream: the arena's layout cannot change them. */
rk_status rk_ranking_init_dense_params(rk_ranking_builder *b) {
  RK_TRY(rk_param_arena_alloc(b->m->arena));
  for (int i = 0; i < b->n_inits; i++)
    RK_TRY(rk_init_tensor(&b->inits[i].param->value, &b->inits[i].spec, b->c->seed, b->inits[i].stream));
  return RK_OK;
}

/* A sparse table (V, D): an embedding or a wide table, initialised as rk_table_kind says. */
rk_status rk_ranking_table(rk_ranking_builder *b, rk_param **out, const char *name, int64_t V, int64_t D,
                           rk_table_kind kind) {
  bool fresh;
  RK_TRY(rk_ranking_next_param(b->m, b->share, name, out, &fresh));
  if (!fresh) return RK_OK;
  rk_init_spec tf = rk_init_spec_default(RK_INIT_TRUNCATED_NORMAL);
  tf.scale = 1.0 / sqrt((double)D);
  const rk_init_spec *init = kind == RK_TABLE_EMBEDDING && b->c->tf_embedding_init ? &tf : NULL;
  const rk_table_placement *place = b->c->placement;
  if (place && kind == RK_TABLE_EMBEDDING) {   /* held elsewhere (sharded)? The hook fills its rows */
    const rk_row_cache *held = NULL;
    RK_TRY(place->place(place->ctx, name, V, D, init, b->c->seed, (uint64_t)b->m->n_params, &held));
    if (held) return rk_param_init_sparse_fetched(*out, name, V, D, held);
  }
  RK_TRY(rk_param_init_sparse(*out, name, V, D));
  if (kind == RK_TABLE_WIDE && b->c->wide_layout == RK_WIDE_LINEAR) return RK_OK;   /* zeros */
  if (init) return rk_init_tensor(&(*out)->value, init, b->c->seed, (uint64_t)b->m->n_params);
  rk_param_fill_uniform(*out, b->c->seed, (uint64_t)b->m->n_params, -0.05f, 0.05f);
  return RK_OK;
}

rk_status rk_ranking_add_to(rk_ranking_builder *b, int *acc, int term) {
  if (*acc == RK_NO_VALUE) return *acc = term, RK_OK;
  return rk_graph_add(b->g, acc, *acc, term);
}

rk_status rk_ranking_track_kernel(rk_ranking_builder *b, rk_param *p) {
  rk_param **g = rk_realloc(b->kernels, (size_t)(b->n_kernels + 1) * sizeof *g);
  if (!g) return RK_ENOMEM;
  b->kernels = g;
  g[b->n_kernels++] = p;
  return RK_OK;
}
