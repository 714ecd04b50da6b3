/*
 * The input block of the ranking models: a table per categorical feature (a lookup, or a list
 * pooled by its table), indicator features as one one-hot input, the continuous features as one
 * dense input; and the views of it the bodies read (flat, concatenated, stacked).
 */
#include <stdio.h>

#include "ranking_internal.h"

/* L2 (l2 > 0, training) on the rows a lookup read: given the embedding or embedding_bag value
 * itself, before any reshape, since the op reads that node's ids. */
rk_status rk_ranking_regularise_lookup(rk_ranking_builder *b, int lookup_value, float l2) {
  if (!(l2 > 0) || !b->m->train) return RK_OK;
  int reg;
  RK_TRY(rk_graph_embedding_l2(b->g, &reg, lookup_value, l2));
  return rk_ranking_add_to(b, &b->reg, reg);
}

/* Feature i's weights in `t` as (B, 1, D): a lookup, or a list's rows pooled (mean or sum), with
 * the table's L2 `l2`. Every categorical feature's table (embedding, list, wide weights) is read
 * here, so its regularisation cannot be left out; indicators have no table: their one-hot weights
 * are the first MLP kernel's, under --l2_reg. */
rk_status rk_ranking_lookup(rk_ranking_builder *b, int *out, rk_param *t, int i, rk_pool pool, float l2) {
  rk_ranking_model *m = b->m;
  if (!m->max_len[i]) {
    RK_TRY(rk_graph_embedding(b->g, out, t, m->cat_inputs[i], 0));   /* id 0 is padding */
    return rk_ranking_regularise_lookup(b, *out, l2);
  }
  int64_t shape[3] = {b->B, 1, t->value.shape[1]};
  RK_TRY(rk_graph_embedding_bag(b->g, out, t, m->cat_inputs[i], pool, 0));
  RK_TRY(rk_ranking_regularise_lookup(b, *out, l2));
  return rk_graph_reshape(b->g, out, *out, 3, shape);
}

/* Per categorical feature: ids (B, 1) (a list's ragged) -> its table -> (B, 1, D)
 * (b->lookups[i]); the (B, D) form (b->emb[i]) is made only where a model needs it: reshapes are
 * copies. Indicator features have no table: their one-hots form one dense input. */
rk_status rk_ranking_inputs(rk_ranking_builder *b) {
  rk_ranking_model *m = b->m;
  char name[300];
  bool deep = !(b->c->kind == RK_MODEL_WIDE_N_DEEP && b->c->wnd_parts == RK_WND_WIDE_ONLY);
  for (int i = 0; i < m->n_cat; i++) {
    if (m->max_len[i]) {
      int64_t ids;
      RK_TRY(rk_size_mul(&ids, b->B, m->max_len[i], "a list column's ids per batch (batch size x value_count max)"));
      RK_TRY(rk_graph_input_ragged(b->g, &m->cat_inputs[i], m->cat_names[i], ids));
    } else RK_TRY(rk_graph_input_ids(b->g, &m->cat_inputs[i], m->cat_names[i], 1));
    b->lookups[i] = b->emb[i] = RK_NO_VALUE;
    if (m->indicator[i] || !deep) continue;
    rk_param *t;
    snprintf(name, sizeof name, "embeddings.%s", m->cat_names[i]);
    RK_TRY(rk_ranking_table(b, &t, name, m->cardinality[i], m->dims[i], RK_TABLE_EMBEDDING));
    RK_TRY(rk_ranking_lookup(b, &b->lookups[i], t, i, RK_POOL_MEAN, b->c->embeddings_l2_reg));
  }
  m->dense_input = m->indicator_input = RK_NO_VALUE;
  if (m->n_cont) {
    int64_t shape[1] = {m->n_cont};
    RK_TRY(rk_graph_input(b->g, &m->dense_input, "continuous", 1, shape));
  }
  if (m->indicator_width && deep) {
    int64_t shape[1] = {m->indicator_width};
    RK_TRY(rk_graph_input(b->g, &m->indicator_input, "indicators", 1, shape));
  }
  return RK_OK;
}

/* Embedding i as (B, D). */
rk_status rk_ranking_flat(rk_ranking_builder *b, int i, int *out) {
  if (b->emb[i] == RK_NO_VALUE) {
    int64_t shape[2] = {b->B, b->m->dims[i]};
    RK_TRY(rk_graph_reshape(b->g, &b->emb[i], b->lookups[i], 2, shape));
  }
  *out = b->emb[i];
  return RK_OK;
}

/* [embeddings..., indicators, continuous] -> (B, 1, width): the lookups' own shape, so no
 * per-feature reshapes (linear treats the leading axes as rows). */
rk_status rk_ranking_concat_all(rk_ranking_builder *b, int *out, int64_t *width) {
  rk_ranking_model *m = b->m;
  int *xs = rk_malloc((size_t)(m->n_cat + 2) * sizeof *xs), n = 0;
  if (!xs) return RK_ENOMEM;
  *width = 0;
  for (int i = 0; i < m->n_cat; i++)
    if (!m->indicator[i]) xs[n++] = b->lookups[i], *width += m->dims[i];
  rk_status st = RK_OK;
  if (m->indicator_input != RK_NO_VALUE) {
    int64_t shape[3] = {b->B, 1, m->indicator_width};
    st = rk_graph_reshape(b->g, &xs[n++], m->indicator_input, 3, shape);
    *width += m->indicator_width;
  }
  if (st == RK_OK && m->dense_input != RK_NO_VALUE) {
    int64_t shape[3] = {b->B, 1, m->n_cont};
    st = rk_graph_reshape(b->g, &xs[n++], m->dense_input, 3, shape);
    *width += m->n_cont;
  }
  if (st == RK_OK) st = n == 1 ? (*out = xs[0], RK_OK) : rk_graph_concat(b->g, out, n, xs, 2);
  rk_free(xs);
  return st;
}

/* The embeddings as (B, F, D) (every table has the same D). */
rk_status rk_ranking_stack(rk_ranking_builder *b, int *out, int from) {
  rk_ranking_model *m = b->m;
  int F = m->n_cat - from, *xs = rk_malloc((size_t)(F + 1) * sizeof *xs);
  if (!xs) return RK_ENOMEM;
  rk_status st = RK_OK;
  for (int i = 0; i < F; i++) xs[i] = b->lookups[from + i];   /* (B, 1, D) each */
  if (st == RK_OK) st = F == 1 ? (*out = xs[0], RK_OK) : rk_graph_concat(b->g, out, F, xs, 1);
  rk_free(xs);
  return st;
}
