/*
 * The pieces of a global batch and the pairwise tree that sums them (reckon/dist.h).
 *
 * Why a tree over pieces: a float sum depends on its order. Data-parallel training must end
 * with the same bits on 1, 2 or 4 ranks, so the global batch is cut into P pieces fixed by the
 * run (never by the rank count), and the gradient is the sum over pieces in one fixed shape:
 * node [l, r) = node [l, m) + node [m, r), m = l + (r - l) / 2. Each rank owns a contiguous
 * block of pieces and sums the maximal nodes inside it; gathering those nodes and finishing the
 * tree from the top gives every rank, and a single process, the same additions in the same
 * order. With 2^k ranks dividing P each rank's block is exactly one node.
 */
#include <string.h>

#include "dist/dist_internal.h"

void rk_dist_piece_block(int64_t P, int rank, int size, int64_t *first, int64_t *count) {
  int64_t base = P / size, extra = P % size;
  *first = rank * base + (rank < extra ? rank : extra);
  *count = base + (rank < extra ? 1 : 0);
}

int64_t rk_dist_tree_mid(int64_t begin, int64_t end) { return begin + (end - begin) / 2; }

static void cover(int64_t l, int64_t r, int64_t a, int64_t b, rk_dist_node *nodes, int max, int *n) {
  if (r <= a || b <= l) return;   /* disjoint */
  if (a <= l && r <= b) {         /* inside: maximal, its parent was not */
    if (*n < max) nodes[*n] = (rk_dist_node){l, r};
    (*n)++;
    return;
  }
  int64_t m = rk_dist_tree_mid(l, r);
  cover(l, m, a, b, nodes, max, n);
  cover(m, r, a, b, nodes, max, n);
}

int rk_dist_tree_cover(int64_t P, int64_t first, int64_t count, rk_dist_node *nodes, int max) {
  int n = 0;
  if (count > 0 && P > 0) cover(0, P, first, first + count, nodes, max, &n);
  return n;
}

/* The gathered nodes of every rank, and scratch for the levels the tree is finished on. */
typedef struct {
  const rk_dist_node *nodes;
  const float *const *sums;   /* sums[k] (n): node k's */
  int n_nodes;
  int64_t n;
  float *scratch;             /* (depth, n) */
} finish_ctx;

static const float *known(const finish_ctx *c, int64_t l, int64_t r) {
  for (int k = 0; k < c->n_nodes; k++)
    if (c->nodes[k].begin == l && c->nodes[k].end == r) return c->sums[k];
  return NULL;
}

static rk_status finish(const finish_ctx *c, int64_t l, int64_t r, float *out, int depth) {
  const float *s = known(c, l, r);
  if (s) {
    memcpy(out, s, (size_t)c->n * sizeof *out);
    return RK_OK;
  }
  if (r - l < 2) return rk_error(RK_EINTERNAL, "tree sum: piece %lld was summed by no rank", (long long)l);
  int64_t m = rk_dist_tree_mid(l, r);
  float *right = c->scratch + (int64_t)depth * c->n;
  RK_TRY(finish(c, l, m, out, depth + 1));
  RK_TRY(finish(c, m, r, right, depth + 1));
  for (int64_t i = 0; i < c->n; i++) out[i] += right[i];
  return RK_OK;
}

int rk_dist_tree_depth(int64_t P) {
  int depth = 1;
  for (int64_t span = 1; span < P; span *= 2) depth++;
  return depth;
}

rk_status rk_dist_tree_sum_f32(rk_dist *d, float *out, const float *mine, int n_mine, int64_t n, int64_t P) {
  if (P < 1) return rk_error(RK_EINVAL, "tree sum over %lld pieces", (long long)P);
  int size = d->size;
  enum { MAX_NODES = 130 };
  /* Every rank's nodes follow from (P, size): no counts need exchanging. */
  int64_t *counts = rk_calloc((size_t)size, sizeof *counts), total = 0;
  rk_dist_node *nodes = rk_malloc((size_t)size * MAX_NODES * sizeof *nodes);
  const float **sums = rk_malloc((size_t)size * MAX_NODES * sizeof *sums);
  rk_status st = counts && nodes && sums ? RK_OK : RK_ENOMEM;
  int n_nodes = 0;
  for (int r = 0; st == RK_OK && r < size; r++) {
    int64_t first, count;
    rk_dist_piece_block(P, r, size, &first, &count);
    int k = rk_dist_tree_cover(P, first, count, nodes + n_nodes, MAX_NODES);
    if (r == d->rank && k != n_mine)
      st = rk_error(RK_EINVAL, "tree sum: rank %d gave %d node sums, its block of %lld pieces has %d nodes", r, n_mine,
                    (long long)count, k);
    if (st == RK_OK) st = rk_size_mul(&counts[r], k, n, "tree sum");
    if (st == RK_OK) st = rk_size_add(&total, total, counts[r], "tree sum");
    n_nodes += k;
  }
  float *gathered = NULL, *scratch = NULL;
  if (st == RK_OK && !(gathered = rk_malloc((size_t)(total ? total : 1) * sizeof *gathered))) st = RK_ENOMEM;
  if (st == RK_OK && !(scratch = rk_malloc((size_t)rk_dist_tree_depth(P) * (size_t)(n ? n : 1) * sizeof *scratch)))
    st = RK_ENOMEM;
  if (st == RK_OK) st = rk_dist_allgatherv(d, gathered, mine, counts, RK_DIST_F32);
  for (int k = 0; st == RK_OK && k < n_nodes; k++) sums[k] = gathered + (int64_t)k * n;
  if (st == RK_OK) {
    finish_ctx c = {nodes, sums, n_nodes, n, scratch};
    st = finish(&c, 0, P, out, 0);
  }
  rk_free(scratch);
  rk_free(gathered);
  rk_free(sums);
  rk_free(nodes);
  rk_free(counts);
  return st;
}
