/*
 * embedding_bag: multi-hot lookup with pooling. Example b owns ids[offsets[b] .. offsets[b+1])
 * (a ragged list); out (B, D) is the sum, or the mean over non-padding ids, of their rows.
 * Padding ids contribute nothing (an all-padding or empty bag gives zeros). Each id position is
 * one gradient slot of the table, as in embedding.c.
 */
#include <string.h>

#include "nn/ops/ops.h"

typedef struct {
  float *out;
  const int64_t *offsets, *ids;
  const float *table;            /* or NULL: */
  const rk_row_cache *fetched;   /* the rows fetched for a table held elsewhere (embedding.c) */
  int64_t D, padding;
  bool mean;
} bag_ctx;

static void bag_rows(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const bag_ctx *c = arg;
  for (int64_t b = begin; b < end; b++) {
    float *o = c->out + b * c->D;   /* (D) */
    memset(o, 0, (size_t)c->D * sizeof(float));
    int64_t count = 0;
    for (int64_t j = c->offsets[b]; j < c->offsets[b + 1]; j++) {
      if (c->ids[j] == c->padding) continue;
      const float *row = c->fetched ? rk_row_cache_find(c->fetched, c->ids[j], c->D) : c->table + c->ids[j] * c->D;
      for (int64_t d = 0; d < c->D; d++) o[d] += row[d];
      count++;
    }
    if (c->mean && count > 1)
      for (int64_t d = 0; d < c->D; d++) o[d] /= (float)count;
  }
}

static int64_t bag_count(const int64_t *offsets, const int64_t *ids, int64_t b, int64_t padding) {
  int64_t count = 0;
  for (int64_t j = offsets[b]; j < offsets[b + 1]; j++) count += ids[j] != padding;
  return count;
}

/* Offsets and ids in range: RK_ERANGE names the first bad one. */
static rk_status check_bags(const int64_t *offsets, const int64_t *ids, int64_t B, int64_t max_ids, int64_t V,
                            int64_t padding) {
  if (offsets[0] != 0 || offsets[B] > max_ids)
    return rk_error(RK_ERANGE, "embedding_bag: offsets must start at 0 and end within %lld ids (start %lld, end %lld)",
                    (long long)max_ids, (long long)offsets[0], (long long)offsets[B]);
  for (int64_t b = 0; b < B; b++)
    if (offsets[b + 1] < offsets[b])
      return rk_error(RK_ERANGE, "embedding_bag: offsets decrease at example %lld", (long long)b);
  for (int64_t j = 0; j < offsets[B]; j++)
    if (ids[j] != padding && (ids[j] < 0 || ids[j] >= V))
      return rk_error(RK_ERANGE, "embedding_bag: id %lld at position %lld is outside the table's %lld rows",
                      (long long)ids[j], (long long)j, (long long)V);
  return RK_OK;
}

rk_status embedding_bag_forward_cpu(float *out /* (B, D) */, const int64_t *offsets /* (B + 1) */,
                                    const int64_t *ids /* (max_ids) */, const float *table /* (V, D) */,
                                    int64_t B, int64_t max_ids, int64_t V, int64_t D, rk_pool pool,
                                    int64_t padding) {
  RK_TRY(check_bags(offsets, ids, B, max_ids, V, padding));
  bag_ctx c = {out, offsets, ids, table, NULL, D, padding, pool == RK_POOL_MEAN};
  rk_parallel_for(B, rk_row_grain(D * 8), bag_rows, &c);
  return RK_OK;
}

static rk_status embedding_bag_forward_fetched(float *out /* (B, D) */, const int64_t *offsets /* (B + 1) */,
                                               const int64_t *ids /* (max_ids) */, const rk_param *t, int64_t B,
                                               int64_t max_ids, rk_pool pool, int64_t padding) {
  int64_t V = t->value.shape[0], D = t->value.shape[1];
  RK_TRY(check_bags(offsets, ids, B, max_ids, V, padding));
  RK_TRY(embedding_check_fetched(t, ids, offsets[B], padding));
  bag_ctx c = {out, offsets, ids, NULL, t->fetched, D, padding, pool == RK_POOL_MEAN};
  rk_parallel_for(B, rk_row_grain(D * 8), bag_rows, &c);
  return RK_OK;
}

void embedding_bag_backward_cpu(float *slot_grad /* (max_ids, D) */, int64_t *slot_ids /* (max_ids) */,
                                const float *dout /* (B, D) */, const int64_t *offsets /* (B + 1) */,
                                const int64_t *ids /* (max_ids) */, int64_t B, int64_t max_ids,
                                int64_t D, rk_pool pool, int64_t padding) {
  for (int64_t j = offsets[B]; j < max_ids; j++) slot_ids[j] = -1;
  for (int64_t b = 0; b < B; b++) {
    int64_t count = pool == RK_POOL_MEAN ? bag_count(offsets, ids, b, padding) : 1;
    float scale = count > 1 ? 1.0f / (float)count : 1.0f;
    for (int64_t j = offsets[b]; j < offsets[b + 1]; j++) {
      slot_ids[j] = ids[j] == padding ? -1 : ids[j];
      if (ids[j] == padding) continue;
      for (int64_t d = 0; d < D; d++) slot_grad[j * D + d] += scale * dout[b * D + d];
    }
  }
}

rk_status embedding_bag_node_forward_cpu(rk_graph *g, const rk_node *n) {
  const rk_param *t = n->params[0];
  const rk_value *r = rk_val(g, n->in[0]);
  if (t->fetched)
    return embedding_bag_forward_fetched(rk_x(g, n->out[0]), r->offsets, rk_xi(g, n->in[0]), t, g->batch, r->numel,
                                         (rk_pool)n->iattr[1], n->iattr[0]);
  return embedding_bag_forward_cpu(rk_x(g, n->out[0]), r->offsets, rk_xi(g, n->in[0]), t->value.data,
                                   g->batch, r->numel, t->value.shape[0], t->value.shape[1],
                                   (rk_pool)n->iattr[1], n->iattr[0]);
}

void embedding_bag_node_backward_cpu(rk_graph *g, const rk_node *n) {
  rk_sparse_table *st = rk_graph_sparse_table(g, n->params[0]);
  const rk_value *r = rk_val(g, n->in[0]);
  int64_t D = n->params[0]->value.shape[1];
  embedding_bag_backward_cpu(st->slot_grad + n->slot_base * D, st->slot_ids + n->slot_base,
                             rk_dx(g, n->out[0]), r->offsets, rk_xi(g, n->in[0]), g->batch, r->numel, D,
                             (rk_pool)n->iattr[1], n->iattr[0]);
}

rk_status rk_graph_embedding_bag(rk_graph *g, int *out, rk_param *table, int ragged, rk_pool pool,
                                 int64_t padding) {
  RK_TRY(rk_graph_check_value(g, ragged, "embedding_bag"));
  const rk_value *rv = rk_val(g, ragged);
  if (!table || !table->sparse || table->value.ndim != 2)
    return rk_error(RK_EINVAL, "embedding_bag: the table must be a sparse (V, D) parameter (rk_param_init_sparse)");
  if (!rv->ragged)
    return rk_error(RK_EINVAL, "embedding_bag: ids must be a ragged input (rk_graph_input_ragged)");
  int64_t shape[2] = {g->batch, table->value.shape[1]};
  rk_node *n;
  RK_TRY(rk_graph_simple_node(g, &n, out, RK_OP_EMBEDDING_BAG, 1, &ragged, RK_DT_F32, 2, shape));
  n->iattr[0] = padding;
  n->iattr[1] = pool;
  RK_TRY(rk_graph_node_add_param(g, n, table));
  return rk_graph_node_add_slots(g, n, table, rk_val(g, ragged)->numel);
}
