/*
 * embedding_l2: out = lambda * sum ||table[r]||^2 over the distinct rows r an embedding or
 * embedding_bag looked up in this pass (padding skipped). A row looked up by many examples counts
 * once, as in Keras' whole-table L2 restricted to the rows the batch touched; untouched rows cost
 * nothing. Its gradient, 2 lambda table[r], goes into the slot of r's first occurrence and so
 * joins the table's compact sparse gradient. A bitset over the table's rows (the op's state,
 * V bits, cleared again after each pass) finds first occurrences in O(ids).
 */
#include <string.h>

#include "nn/ops/ops.h"

/* Whether ids[j] is the first occurrence of its row; marks it. */
static inline bool first_seen(uint32_t *seen, int64_t id) {
  uint32_t bit = 1u << (id & 31);
  if (seen[id >> 5] & bit) return false;
  seen[id >> 5] |= bit;
  return true;
}

static void clear_seen(uint32_t *seen, const int64_t *ids, int64_t n, int64_t padding) {
  for (int64_t j = 0; j < n; j++)
    if (ids[j] != padding) seen[ids[j] >> 5] = 0;
}

/* ids (n) as the lookup saw them: occurrence j is slot j. seen: V bits, all clear. */
void embedding_l2_forward_cpu(float *out /* (1) */, const int64_t *ids /* (n) */, const float *table /* (V, D) */,
                              uint32_t *seen, int64_t n, int64_t D, int64_t padding, float lambda) {
  double s = 0.0;
  for (int64_t j = 0; j < n; j++) {
    if (ids[j] == padding || !first_seen(seen, ids[j])) continue;
    const float *row = table + ids[j] * D;
    for (int64_t d = 0; d < D; d++) s += (double)row[d] * row[d];
  }
  clear_seen(seen, ids, n, padding);
  out[0] = (float)(lambda * s);
}

void embedding_l2_backward_cpu(float *slot_grad /* (n, D) */, const float *dout /* (1) */,
                               const int64_t *ids /* (n) */, const float *table /* (V, D) */, uint32_t *seen,
                               int64_t n, int64_t D, int64_t padding, float lambda) {
  float scale = 2.0f * lambda * dout[0];
  for (int64_t j = 0; j < n; j++) {
    if (ids[j] == padding || !first_seen(seen, ids[j])) continue;
    const float *row = table + ids[j] * D;
    for (int64_t d = 0; d < D; d++) slot_grad[j * D + d] += scale * row[d];
  }
  clear_seen(seen, ids, n, padding);
}

/* The lookup's ids and how many of them count (a bag counts up to offsets[B]). */
static const int64_t *lookup_ids(const rk_graph *g, const rk_node *lk, int64_t *n) {
  const rk_value *iv = rk_val(g, lk->in[0]);
  *n = iv->ragged ? iv->offsets[g->batch] : iv->numel;
  return rk_xi(g, lk->in[0]);
}

rk_status embedding_l2_node_forward_cpu(rk_graph *g, const rk_node *n) {
  const rk_node *lk = &g->nodes[n->iattr[0]];
  int64_t cnt;
  const int64_t *ids = lookup_ids(g, lk, &cnt);
  const rk_param *t = n->params[0];
  embedding_l2_forward_cpu(rk_x(g, n->out[0]), ids, t->value.data, (uint32_t *)n->state, cnt, t->value.shape[1],
                           lk->iattr[0], n->fattr[0]);
  return RK_OK;
}

void embedding_l2_node_backward_cpu(rk_graph *g, const rk_node *n) {
  const rk_node *lk = &g->nodes[n->iattr[0]];
  int64_t cnt;
  const int64_t *ids = lookup_ids(g, lk, &cnt);
  const rk_param *t = n->params[0];
  int64_t D = t->value.shape[1];
  rk_sparse_table *st = rk_graph_sparse_table(g, t);
  embedding_l2_backward_cpu(st->slot_grad + lk->slot_base * D, rk_dx(g, n->out[0]), ids, t->value.data,
                            (uint32_t *)n->state, cnt, D, lk->iattr[0], n->fattr[0]);
}

rk_status rk_graph_embedding_l2(rk_graph *g, int *out, int lookup, float lambda) {
  RK_TRY(rk_graph_check_value(g, lookup, "embedding_l2"));
  int p = rk_val(g, lookup)->producer;
  if (p < 0 || (g->nodes[p].op != RK_OP_EMBEDDING && g->nodes[p].op != RK_OP_EMBEDDING_BAG))
    return rk_error(RK_EINVAL, "embedding_l2: value %d is not the output of embedding or embedding_bag", lookup);
  rk_param *table = g->nodes[p].params[0];
  if (!table->sparse)
    return rk_error(RK_EINVAL, "embedding_l2: table '%s' is dense (tied to an output layer): regularise it with l2",
                    table->name);
  if (table->fetched)   /* its bitset would span the whole table: a sharded table's owner would regularise it */
    return rk_error(RK_EUNSUPPORTED, "embedding_l2: table '%s' is sharded over ranks; L2 on its rows is not supported",
                    table->name);
  rk_node *n;
  /* The lookup's ids are an input too, so the memory plan keeps them (hashed cross ids are
   * activations) until this node has read them. */
  int in[2] = {lookup, g->nodes[p].in[0]};
  RK_TRY(rk_graph_simple_node(g, &n, out, RK_OP_EMBEDDING_L2, 2, in, RK_DT_F32, 0, NULL));
  n->iattr[0] = p;
  n->fattr[0] = lambda;
  n->state_floats = (size_t)(table->value.shape[0] / 32 + 1);   /* the row bitset, zeroed at build */
  return rk_graph_node_add_param(g, n, table);
}
