/*
 * embedding: out (B, F, D) = table (V, D) rows at ids (B, F); the padding id gives a zero row
 * and no gradient. Ids outside [0, V) fail the forward with RK_ERANGE.
 * A sparse table (rk_param_init_sparse): backward adds each looked-up row's gradient into this
 * op's slots, and the graph folds all slots of a table into its compact row-sparse gradient (the
 * backend's sparse_assemble, src/nn/backend_cpu.c).
 * A dense table (a (V, D) parameter of the arena): backward adds the rows into its dense gradient,
 * ids in order. That is the item table a session model ties to its output layer (logits = h
 * table^T + b, the linear op on the same parameter), whose gradient is dense anyway.
 * A table held elsewhere (sharded over ranks, rk_param_init_sparse_fetched): the forward reads
 * the rows fetched for the step; backward is the sparse one, with table rows as ids.
 */
#include <string.h>

#include "nn/ops/ops.h"

typedef struct {
  float *out;
  const int64_t *ids;
  const float *table;            /* or NULL: */
  const rk_row_cache *fetched;   /* the rows fetched for a table held elsewhere */
  int64_t D, padding;
} lookup_ctx;

static void lookup_rows(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const lookup_ctx *c = arg;
  for (int64_t i = begin; i < end; i++) {
    if (c->ids[i] == c->padding) memset(c->out + i * c->D, 0, (size_t)c->D * sizeof(float));
    else if (c->fetched) memcpy(c->out + i * c->D, rk_row_cache_find(c->fetched, c->ids[i], c->D), (size_t)c->D * sizeof(float));
    else memcpy(c->out + i * c->D, c->table + c->ids[i] * c->D, (size_t)c->D * sizeof(float));
  }
}

/* A table held elsewhere: every id (but padding) must be among the rows fetched for the step. */
rk_status embedding_check_fetched(const rk_param *t, const int64_t *ids, int64_t n, int64_t padding) {
  for (int64_t i = 0; i < n; i++)
    if (ids[i] != padding && !rk_row_cache_find(t->fetched, ids[i], t->value.shape[1]))
      return rk_error(RK_EINTERNAL, "table '%s': row %lld (position %lld) was not fetched for this step", t->name,
                      (long long)ids[i], (long long)i);
  return RK_OK;
}

/* Checks the ids first: RK_ERANGE names the first bad one. */
rk_status embedding_forward_cpu(float *out /* (n, D) */, const int64_t *ids /* (n) */,
                                const float *table /* (V, D) */, int64_t n, int64_t V, int64_t D,
                                int64_t padding) {
  for (int64_t i = 0; i < n; i++)
    if (ids[i] != padding && (ids[i] < 0 || ids[i] >= V))
      return rk_error(RK_ERANGE, "embedding: id %lld at position %lld is outside the table's %lld rows",
                      (long long)ids[i], (long long)i, (long long)V);
  lookup_ctx c = {out, ids, table, NULL, D, padding};
  rk_parallel_for(n, rk_row_grain(D), lookup_rows, &c);
  return RK_OK;
}

static rk_status embedding_forward_fetched(float *out /* (n, D) */, const int64_t *ids /* (n) */, const rk_param *t,
                                           int64_t n, int64_t padding) {
  int64_t V = t->value.shape[0], D = t->value.shape[1];
  for (int64_t i = 0; i < n; i++)
    if (ids[i] != padding && (ids[i] < 0 || ids[i] >= V))
      return rk_error(RK_ERANGE, "embedding: id %lld at position %lld is outside the table's %lld rows",
                      (long long)ids[i], (long long)i, (long long)V);
  RK_TRY(embedding_check_fetched(t, ids, n, padding));
  lookup_ctx c = {out, ids, NULL, t->fetched, D, padding};
  rk_parallel_for(n, rk_row_grain(D), lookup_rows, &c);
  return RK_OK;
}

/* slot_ids (n): the id each slot's gradient row belongs to, -1 for padding. */
void embedding_backward_cpu(float *slot_grad /* (n, D) */, int64_t *slot_ids /* (n) */,
                            const float *dout /* (n, D) */, const int64_t *ids /* (n) */, int64_t n,
                            int64_t D, int64_t padding) {
  for (int64_t i = 0; i < n; i++) {
    slot_ids[i] = ids[i] == padding ? -1 : ids[i];
    if (ids[i] == padding) continue;
    for (int64_t d = 0; d < D; d++) slot_grad[i * D + d] += dout[i * D + d];
  }
}

rk_status embedding_node_forward_cpu(rk_graph *g, const rk_node *n) {
  const rk_param *t = n->params[0];
  if (t->fetched) return embedding_forward_fetched(rk_x(g, n->out[0]), rk_xi(g, n->in[0]), t, rk_val(g, n->in[0])->numel, n->iattr[0]);
  return embedding_forward_cpu(rk_x(g, n->out[0]), rk_xi(g, n->in[0]), t->value.data,
                               rk_val(g, n->in[0])->numel, t->value.shape[0], t->value.shape[1],
                               n->iattr[0]);
}

/* The dense table's gradient: rows added in id order (serial, so the bits never depend on threads). */
void embedding_backward_dense_cpu(float *dtable /* (V, D) */, const float *dout /* (n, D) */, const int64_t *ids /* (n) */,
                                  int64_t n, int64_t D, int64_t padding) {
  for (int64_t i = 0; i < n; i++) {
    if (ids[i] == padding) continue;
    float *dst = dtable + ids[i] * D;
    const float *src = dout + i * D;
    for (int64_t d = 0; d < D; d++) dst[d] += src[d];
  }
}

void embedding_node_backward_cpu(rk_graph *g, const rk_node *n) {
  if (!n->params[0]->sparse) {
    embedding_backward_dense_cpu(n->params[0]->grad.data, rk_dx(g, n->out[0]), rk_xi(g, n->in[0]),
                                 rk_val(g, n->in[0])->numel, n->params[0]->value.shape[1], n->iattr[0]);
    return;
  }
  rk_sparse_table *st = rk_graph_sparse_table(g, n->params[0]);
  int64_t D = n->params[0]->value.shape[1];
  embedding_backward_cpu(st->slot_grad + n->slot_base * D, st->slot_ids + n->slot_base, rk_dx(g, n->out[0]),
                         rk_xi(g, n->in[0]), n->n_slots, D, n->iattr[0]);
}

rk_status rk_graph_embedding(rk_graph *g, int *out, rk_param *table, int ids, int64_t padding) {
  RK_TRY(rk_graph_check_value(g, ids, "embedding"));
  const rk_value *iv = rk_val(g, ids);
  if (!rk_param_declared(table) || table->value.ndim != 2)
    return rk_error(RK_EINVAL, "embedding: the table must be a (V, D) parameter (sparse, or dense when tied)");
  if (iv->dtype != RK_DT_I64 || iv->ragged) {
    char b[96];
    return rk_error(RK_EINVAL, "embedding: ids %s must be int64 (rk_graph_input_ids or hash_cross)",
                    rk_shape_str(iv, b, sizeof b));
  }
  int64_t shape[RK_TENSOR_MAX_DIMS];
  for (int i = 0; i < iv->ndim; i++) shape[i] = iv->shape[i];
  shape[iv->ndim] = table->value.shape[1];
  if (iv->ndim + 1 > RK_TENSOR_MAX_DIMS) return rk_error(RK_ESHAPE, "embedding: ids have too many axes");
  rk_node *n;
  RK_TRY(rk_graph_simple_node(g, &n, out, RK_OP_EMBEDDING, 1, &ids, RK_DT_F32, iv->ndim + 1, shape));
  n->iattr[0] = padding;
  RK_TRY(rk_graph_node_add_param(g, n, table));
  return table->sparse ? rk_graph_node_add_slots(g, n, table, rk_val(g, ids)->numel) : RK_OK;
}
