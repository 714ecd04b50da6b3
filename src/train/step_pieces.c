/*
 * One training step's gradient over the pieces of its global batch (step_pieces.h).
 *
 * Why pieces: a float sum depends on its order, and a gemm over 1024 rows does not add the same
 * way as two over 512. So the global batch is cut into P pieces of fixed size, fixed by the run
 * and not by the number of ranks; a piece's gradient is computed by the same graph on whatever
 * rank holds it, and the step's gradient is the pairwise tree sum over pieces (reckon/dist.h):
 * each rank sums the tree nodes its block of pieces covers, the nodes are exchanged, and every
 * rank finishes the tree in the same order. 1, 2 or 4 ranks: the same additions, the same bits.
 *
 * What is exchanged per node: the dense gradients (the parameter arena's, one vector), the
 * touched rows of each embedding table (ids and row gradients, never the whole table) and a few
 * extra values (the loss); tables' rows merge by id, ascending, so a row touched in both halves
 * adds left + right like a dense element. The global gradient is sum / P: each piece's loss is
 * the mean over its rows, so the mean of the pieces' means is the global batch's mean.
 * It is not: the optimizer (the caller steps after), nor the data (the caller's piece function).
 */
#include <string.h>

#include "reckon/nn.h"
#include "train/step_pieces.h"

typedef struct {
  int64_t n, cap, vals_cap;
  int64_t *rows;   /* (cap) ascending */
  float *vals;     /* (n, D), room for vals_cap floats (a merge's buffer serves tables of any D) */
} row_set;

/* A node's sum: dense gradients and extras in one vector, and each table's touched rows. */
typedef struct {
  float *dense;     /* (n_dense + n_extra) */
  row_set *tables;  /* (n_tables) */
} grad_set;

struct step_pieces {
  const rk_model *m;
  rk_dist *dist;
  int64_t P, first, count;
  int n_extra;
  int64_t n_dense;           /* dense gradient floats */
  int n_tables;
  int *table_param;          /* (n_tables) index into m->params */
  int64_t *table_dim;        /* (n_tables) D */
  int n_mine;                /* this rank's tree nodes */
  rk_dist_node *mine;        /* (n_mine) */
  grad_set *mine_sums;       /* (n_mine) */
  int depth;
  grad_set *scratch;         /* (depth) right children while walking */
  row_set merged;            /* a merge's output, swapped in */
  int n_all;                 /* every rank's nodes */
  rk_dist_node *all;         /* (n_all) */
  grad_set *all_sums;        /* (n_all) parsed from the exchange */
  grad_set total;
  unsigned char *send;       /* serialised nodes */
  int64_t send_cap;
  unsigned char *recv;
  int64_t recv_cap;
};

/* ---- grad sets ---- */

static rk_status row_set_reserve(row_set *s, int64_t rows, int64_t D) {
  int64_t vals;
  RK_TRY(rk_size_mul(&vals, rows, D, "a table's touched rows"));
  if (rows > s->cap) {
    int64_t cap = s->cap ? s->cap : 64;
    while (cap < rows) cap *= 2;
    int64_t *r = rk_realloc(s->rows, (size_t)cap * sizeof *r);
    if (!r) return RK_ENOMEM;
    s->rows = r;
    s->cap = cap;
  }
  if (vals > s->vals_cap) {
    int64_t cap = s->vals_cap ? s->vals_cap : 256;
    while (cap < vals) cap *= 2;
    float *v = rk_realloc(s->vals, (size_t)cap * sizeof *v);
    if (!v) return RK_ENOMEM;
    s->vals = v;
    s->vals_cap = cap;
  }
  return RK_OK;
}

static void row_set_free(row_set *s) {
  rk_free(s->rows);
  rk_free(s->vals);
  memset(s, 0, sizeof *s);
}

static rk_status grad_set_init(const step_pieces *sp, grad_set *g) {
  g->dense = rk_calloc((size_t)(sp->n_dense + sp->n_extra + 1), sizeof *g->dense);
  g->tables = rk_calloc((size_t)sp->n_tables + 1, sizeof *g->tables);
  return g->dense && g->tables ? RK_OK : RK_ENOMEM;
}

static void grad_set_free(const step_pieces *sp, grad_set *g) {
  for (int t = 0; g->tables && t < sp->n_tables; t++) row_set_free(&g->tables[t]);
  rk_free(g->tables);
  rk_free(g->dense);
  memset(g, 0, sizeof *g);
}

/* dst = src; the dense part too when `dense` (the exchange finishes it apart, by segments). */
static rk_status grad_set_copy(const step_pieces *sp, grad_set *dst, const grad_set *src, bool dense) {
  if (dense) memcpy(dst->dense, src->dense, (size_t)(sp->n_dense + sp->n_extra) * sizeof *dst->dense);
  for (int t = 0; t < sp->n_tables; t++) {
    const row_set *s = &src->tables[t];
    row_set *d = &dst->tables[t];
    RK_TRY(row_set_reserve(d, s->n, sp->table_dim[t]));
    d->n = s->n;
    if (s->n == 0) continue;   /* empty sets may hold NULL buffers */
    memcpy(d->rows, s->rows, (size_t)s->n * sizeof *d->rows);
    memcpy(d->vals, s->vals, (size_t)(s->n * sp->table_dim[t]) * sizeof *d->vals);
  }
  return RK_OK;
}

/* a += b: dense element by element (when `dense`); tables merged by row id, common rows a's + b's. */
static rk_status grad_set_add(step_pieces *sp, grad_set *a, const grad_set *b, bool dense) {
  int64_t n = dense ? sp->n_dense + sp->n_extra : 0;
  for (int64_t i = 0; i < n; i++) a->dense[i] += b->dense[i];
  for (int t = 0; t < sp->n_tables; t++) {
    row_set *x = &a->tables[t], *out = &sp->merged;
    const row_set *y = &b->tables[t];
    int64_t D = sp->table_dim[t], i = 0, j = 0, k = 0;
    RK_TRY(row_set_reserve(out, x->n + y->n, D));
    while (i < x->n || j < y->n) {
      bool take_x = j == y->n || (i < x->n && x->rows[i] <= y->rows[j]);
      bool take_y = i == x->n || (j < y->n && y->rows[j] <= x->rows[i]);
      float *o = out->vals + k * D;
      if (take_x && take_y) {
        for (int64_t e = 0; e < D; e++) o[e] = x->vals[i * D + e] + y->vals[j * D + e];
        out->rows[k++] = x->rows[i++];
        j++;
      } else if (take_x) {
        memcpy(o, x->vals + i * D, (size_t)D * sizeof *o);
        out->rows[k++] = x->rows[i++];
      } else {
        memcpy(o, y->vals + j * D, (size_t)D * sizeof *o);
        out->rows[k++] = y->rows[j++];
      }
    }
    out->n = k;
    row_set swap = *x;
    *x = *out;
    *out = swap;
  }
  return RK_OK;
}

/* The parameters' gradients (after a piece's backward) into g; extras already written. */
static rk_status capture(step_pieces *sp, grad_set *g) {
  const rk_model *m = sp->m;
  int64_t at = 0;
  for (int i = 0; i < m->n_params; i++) {
    const rk_param *p = m->params[i];
    if (p->sparse) continue;
    int64_t n = rk_tensor_numel(&p->value);
    memcpy(g->dense + at, p->grad.data, (size_t)n * sizeof(float));
    at += n;
  }
  for (int t = 0; t < sp->n_tables; t++) {
    const rk_param *p = m->params[sp->table_param[t]];
    row_set *s = &g->tables[t];
    RK_TRY(row_set_reserve(s, p->n_grad_rows, sp->table_dim[t]));
    s->n = p->n_grad_rows;
    if (s->n == 0) continue;   /* a piece that touched no row of it: the buffers may be NULL */
    memcpy(s->rows, p->grad_rows, (size_t)s->n * sizeof *s->rows);
    memcpy(s->vals, p->grad.data, (size_t)(s->n * sp->table_dim[t]) * sizeof *s->vals);
  }
  return RK_OK;
}

/* g / P into the parameters' gradients; the extras' sums into `extra`. */
static rk_status apply(step_pieces *sp, const grad_set *g, float *extra) {
  const rk_model *m = sp->m;
  float scale = (float)(1.0 / (double)sp->P);
  int64_t at = 0;
  for (int i = 0; i < m->n_params; i++) {
    rk_param *p = m->params[i];
    if (p->sparse) continue;
    float *d = p->grad.data;
    int64_t n = rk_tensor_numel(&p->value);
    for (int64_t e = 0; e < n; e++) d[e] = g->dense[at + e] * scale;
    at += n;
  }
  memcpy(extra, g->dense + sp->n_dense, (size_t)sp->n_extra * sizeof *extra);
  for (int t = 0; t < sp->n_tables; t++) {
    rk_param *p = m->params[sp->table_param[t]];
    const row_set *s = &g->tables[t];
    int64_t D = sp->table_dim[t];
    RK_TRY(rk_param_reserve_grad_rows(p, s->n));   /* the pieces' union may pass one backward's */
    if (s->n > 0) memcpy(p->grad_rows, s->rows, (size_t)s->n * sizeof *s->rows);
    float *d = p->grad.data;
    for (int64_t e = 0; e < s->n * D; e++) d[e] = s->vals[e] * scale;
    p->n_grad_rows = s->n;
  }
  return RK_OK;
}

/* ---- the tree ---- */

typedef struct {
  step_piece_fn fn;
  void *ctx;
} piece_call;

/* out = the sum of pieces [l, r), walked as the tree is defined. */
static rk_status walk(step_pieces *sp, const piece_call *call, int64_t l, int64_t r, grad_set *out, int depth) {
  if (r - l == 1) {
    rk_graph_zero_grad(sp->m->g);
    memset(out->dense + sp->n_dense, 0, (size_t)sp->n_extra * sizeof *out->dense);
    RK_TRY(call->fn(call->ctx, l, out->dense + sp->n_dense));
    return capture(sp, out);
  }
  int64_t mid = rk_dist_tree_mid(l, r);
  RK_TRY(walk(sp, call, l, mid, out, depth + 1));
  RK_TRY(walk(sp, call, mid, r, &sp->scratch[depth], depth + 1));
  return grad_set_add(sp, out, &sp->scratch[depth], true);
}

/* The gathered node [l, r), or -1 when no rank summed it whole. */
static int gathered(const step_pieces *sp, int64_t l, int64_t r) {
  for (int k = 0; k < sp->n_all; k++)
    if (sp->all[k].begin == l && sp->all[k].end == r) return k;
  return -1;
}

/* out's tables = the sum of pieces [l, r) from the gathered nodes' tables. */
static rk_status finish_tables(step_pieces *sp, int64_t l, int64_t r, grad_set *out, int depth) {
  int k = gathered(sp, l, r);
  if (k >= 0) return grad_set_copy(sp, out, &sp->all_sums[k], false);
  if (r - l < 2) return rk_error(RK_EINTERNAL, "step: piece %lld was computed by no rank", (long long)l);
  int64_t mid = rk_dist_tree_mid(l, r);
  RK_TRY(finish_tables(sp, l, mid, out, depth + 1));
  RK_TRY(finish_tables(sp, mid, r, &sp->scratch[depth], depth + 1));
  return grad_set_add(sp, out, &sp->scratch[depth], false);
}

/* out (n) = the sum of pieces [l, r) of one dense segment, node k's values at seg[k]. */
static void finish_segment(const step_pieces *sp, int64_t l, int64_t r, float *out, int64_t n,
                           const float *const *seg, float *scratch, int depth) {
  int k = gathered(sp, l, r);
  if (k >= 0) {
    memcpy(out, seg[k], (size_t)n * sizeof *out);
    return;
  }
  int64_t mid = rk_dist_tree_mid(l, r);   /* every piece is in some node: the cover tiles [0, P) */
  float *right = scratch + (int64_t)depth * n;
  finish_segment(sp, l, mid, out, n, seg, scratch, depth + 1);
  finish_segment(sp, mid, r, right, n, seg, scratch, depth + 1);
  for (int64_t i = 0; i < n; i++) out[i] += right[i];
}

/* ---- the exchange ----
 * Dense part, by segments (a reduce-scatter, then an allgather, as a ring allreduce moves about
 * 2 (R - 1) / R of the vector per rank): the vector is cut into R segments; every rank sends
 * segment t of each of its nodes to rank t (alltoallv), rank t finishes the tree on its segment
 * from all nodes, and the finished segments are gathered by all (allgatherv). Elementwise, so the
 * additions are those of the whole tree. Tables: each node's touched rows (count, ids, rows) to
 * every rank (allgatherv), where the tree is finished by merging. */

static rk_status grow_bytes(unsigned char **buf, int64_t *cap, int64_t need) {
  if (need <= *cap) return RK_OK;
  unsigned char *b = rk_realloc(*buf, (size_t)need);
  if (!b) return RK_ENOMEM;
  *buf = b;
  *cap = need;
  return RK_OK;
}

static int64_t segment_begin(const step_pieces *sp, int r) {
  int size = rk_dist_size(sp->dist);
  return (sp->n_dense + sp->n_extra) * r / size;
}

static rk_status exchange_dense(step_pieces *sp) {
  int size = rk_dist_size(sp->dist), me = rk_dist_rank(sp->dist);
  int64_t *counts = rk_malloc(4 * (size_t)size * sizeof *counts), seg_n = segment_begin(sp, me + 1) - segment_begin(sp, me);
  if (!counts) return RK_ENOMEM;
  int64_t *send_counts = counts, *recv_counts = counts + size, *gather_counts = counts + 2 * size, *nodes_of = counts + 3 * size;
  for (int r = 0; r < size; r++) {
    int64_t first, count;
    rk_dist_piece_block(sp->P, r, size, &first, &count);
    rk_dist_node none[130];
    nodes_of[r] = rk_dist_tree_cover(sp->P, first, count, none, 130);
  }
  int64_t send_n = 0, recv_n = 0;
  for (int r = 0; r < size; r++) {
    int64_t n_r = segment_begin(sp, r + 1) - segment_begin(sp, r);
    send_counts[r] = sp->n_mine * n_r;
    recv_counts[r] = nodes_of[r] * seg_n;
    gather_counts[r] = n_r;
    send_n += send_counts[r];
    recv_n += recv_counts[r];
  }
  /* one float buffer: what this rank sends, what it receives, its segment's scratch and result */
  int64_t depth = sp->depth, need = send_n + recv_n + (depth + 1) * seg_n + 1;
  rk_status st = grow_bytes(&sp->send, &sp->send_cap, need * (int64_t)sizeof(float));
  const float **seg = rk_malloc((size_t)(sp->n_all + 1) * sizeof *seg);
  if (st == RK_OK && !seg) st = RK_ENOMEM;
  if (st != RK_OK) {
    rk_free(counts);
    rk_free(seg);
    return st;
  }
  float *send = (float *)(void *)sp->send, *recv = send + send_n, *scratch = recv + recv_n, *mine = scratch + depth * seg_n;
  float *at = send;
  for (int r = 0; r < size; r++)
    for (int k = 0; k < sp->n_mine; k++) {
      int64_t b = segment_begin(sp, r), n_r = segment_begin(sp, r + 1) - b;
      memcpy(at, sp->mine_sums[k].dense + b, (size_t)n_r * sizeof *at);
      at += n_r;
    }
  st = rk_dist_alltoallv(sp->dist, recv, recv_counts, send, send_counts, RK_DIST_F32);
  for (int k = 0; k < sp->n_all; k++) seg[k] = recv + (int64_t)k * seg_n;   /* rank order, as sp->all */
  if (st == RK_OK) {
    finish_segment(sp, 0, sp->P, mine, seg_n, seg, scratch, 0);
    st = rk_dist_allgatherv(sp->dist, sp->total.dense, mine, gather_counts, RK_DIST_F32);
  }
  rk_free(seg);
  rk_free(counts);
  return st;
}

static int64_t tables_bytes(const step_pieces *sp, const grad_set *g) {
  int64_t bytes = 0;
  for (int t = 0; t < sp->n_tables; t++)
    bytes += (int64_t)sizeof(int64_t) + g->tables[t].n * (int64_t)(sizeof(int64_t) + sizeof(float) * sp->table_dim[t]);
  return bytes;
}

static unsigned char *put(unsigned char *at, const void *src, size_t bytes) {
  if (bytes) memcpy(at, src, bytes);
  return at + bytes;
}

static rk_status parse_tables(step_pieces *sp, grad_set *g, const unsigned char **at, const unsigned char *end) {
  for (int t = 0; t < sp->n_tables; t++) {
    int64_t n, D = sp->table_dim[t];
    if ((size_t)(end - *at) < sizeof n) return rk_error(RK_EINTERNAL, "step: a rank's gradients are cut short");
    memcpy(&n, *at, sizeof n);
    *at += sizeof n;
    if (n < 0 || (uint64_t)(end - *at) < (uint64_t)n * (sizeof(int64_t) + sizeof(float) * (uint64_t)D))
      return rk_error(RK_EINTERNAL, "step: a rank's gradients are cut short");
    row_set *s = &g->tables[t];
    RK_TRY(row_set_reserve(s, n, D));
    s->n = n;
    if (n == 0) continue;   /* an empty set may hold NULL buffers */
    memcpy(s->rows, *at, (size_t)n * sizeof *s->rows);
    *at += (size_t)n * sizeof *s->rows;
    memcpy(s->vals, *at, (size_t)(n * D) * sizeof *s->vals);
    *at += (size_t)(n * D) * sizeof *s->vals;
  }
  return RK_OK;
}

static rk_status exchange_tables(step_pieces *sp) {
  int size = rk_dist_size(sp->dist);
  int64_t mine = 0;
  for (int k = 0; k < sp->n_mine; k++) mine += tables_bytes(sp, &sp->mine_sums[k]);
  RK_TRY(grow_bytes(&sp->send, &sp->send_cap, mine + 1));
  unsigned char *at = sp->send;
  for (int k = 0; k < sp->n_mine; k++)
    for (int t = 0; t < sp->n_tables; t++) {
      const row_set *s = &sp->mine_sums[k].tables[t];
      at = put(at, &s->n, sizeof s->n);
      at = put(at, s->rows, (size_t)s->n * sizeof *s->rows);
      at = put(at, s->vals, (size_t)(s->n * sp->table_dim[t]) * sizeof *s->vals);
    }
  int64_t *counts = rk_malloc((size_t)size * sizeof *counts), total = 0;
  if (!counts) return RK_ENOMEM;
  rk_status st = rk_dist_allgather(sp->dist, counts, &mine, 1, RK_DIST_I64);
  for (int r = 0; st == RK_OK && r < size; r++) st = rk_size_add(&total, total, counts[r], "the step's gradients");
  if (st == RK_OK) st = grow_bytes(&sp->recv, &sp->recv_cap, total + 1);
  if (st == RK_OK) st = rk_dist_allgatherv(sp->dist, sp->recv, sp->send, counts, RK_DIST_BYTE);
  rk_free(counts);
  const unsigned char *in = sp->recv, *end = sp->recv + total;
  for (int k = 0; st == RK_OK && k < sp->n_all; k++) st = parse_tables(sp, &sp->all_sums[k], &in, end);
  if (st == RK_OK) st = finish_tables(sp, 0, sp->P, &sp->total, 0);
  return st;
}

/* ---- the step ---- */

rk_status step_pieces_run(step_pieces *sp, step_piece_fn fn, void *ctx, float *extra) {
  int size = sp->dist ? rk_dist_size(sp->dist) : 1;
  if (sp->P == 1 && size == 1) {   /* the plain step: nothing to sum */
    memset(extra, 0, (size_t)sp->n_extra * sizeof *extra);
    return fn(ctx, 0, extra);
  }
  piece_call call = {fn, ctx};
  for (int k = 0; k < sp->n_mine; k++)
    RK_TRY(walk(sp, &call, sp->mine[k].begin, sp->mine[k].end, &sp->mine_sums[k], 0));
  if (size == 1) return apply(sp, &sp->mine_sums[0], extra);   /* one node: the root */
  RK_TRY(exchange_dense(sp));
  if (sp->n_tables) RK_TRY(exchange_tables(sp));
  return apply(sp, &sp->total, extra);
}

void step_pieces_mine(const step_pieces *sp, int64_t *first, int64_t *count) {
  *first = sp->first;
  *count = sp->count;
}

rk_status step_pieces_init(step_pieces **out, const rk_model *m, int64_t P, int n_extra, rk_dist *d) {
  *out = NULL;
  if (P < 1) return rk_error(RK_EINVAL, "a step of %lld pieces", (long long)P);
  step_pieces *sp = rk_calloc(1, sizeof *sp);
  if (!sp) return RK_ENOMEM;
  sp->m = m;
  sp->dist = d;
  sp->P = P;
  sp->n_extra = n_extra;
  int rank = d ? rk_dist_rank(d) : 0, size = d ? rk_dist_size(d) : 1;
  rk_dist_piece_block(P, rank, size, &sp->first, &sp->count);
  rk_status st = RK_OK;
  sp->table_param = rk_calloc((size_t)m->n_params + 1, sizeof *sp->table_param);
  sp->table_dim = rk_calloc((size_t)m->n_params + 1, sizeof *sp->table_dim);
  if (!sp->table_param || !sp->table_dim) st = RK_ENOMEM;
  for (int i = 0; st == RK_OK && i < m->n_params; i++) {
    const rk_param *p = m->params[i];
    if (p->sparse) {
      sp->table_param[sp->n_tables] = i;
      sp->table_dim[sp->n_tables++] = p->value.shape[1];
    } else {
      st = rk_size_add(&sp->n_dense, sp->n_dense, rk_tensor_numel(&p->value), "the dense gradients");
    }
  }
  /* Room for the nodes: this rank's, every rank's (to parse the exchange into), the scratch. */
  enum { MAX_NODES = 130 };
  sp->depth = rk_dist_tree_depth(P);
  sp->mine = rk_calloc(MAX_NODES, sizeof *sp->mine);
  sp->all = rk_calloc((size_t)size * MAX_NODES, sizeof *sp->all);
  if (st == RK_OK && (!sp->mine || !sp->all)) st = RK_ENOMEM;
  if (st == RK_OK) sp->n_mine = rk_dist_tree_cover(P, sp->first, sp->count, sp->mine, MAX_NODES);
  for (int r = 0; st == RK_OK && r < size; r++) {
    int64_t first, count;
    rk_dist_piece_block(P, r, size, &first, &count);
    sp->n_all += rk_dist_tree_cover(P, first, count, sp->all + sp->n_all, MAX_NODES);
  }
  sp->mine_sums = rk_calloc((size_t)sp->n_mine + 1, sizeof *sp->mine_sums);
  sp->scratch = rk_calloc((size_t)sp->depth + 1, sizeof *sp->scratch);
  sp->all_sums = rk_calloc((size_t)(size > 1 ? sp->n_all : 0) + 1, sizeof *sp->all_sums);
  if (st == RK_OK && (!sp->mine_sums || !sp->scratch || !sp->all_sums)) st = RK_ENOMEM;
  for (int k = 0; st == RK_OK && k < sp->n_mine; k++) st = grad_set_init(sp, &sp->mine_sums[k]);
  for (int k = 0; st == RK_OK && k < sp->depth; k++) st = grad_set_init(sp, &sp->scratch[k]);
  for (int k = 0; st == RK_OK && size > 1 && k < sp->n_all; k++) st = grad_set_init(sp, &sp->all_sums[k]);
  if (st == RK_OK && size > 1) st = grad_set_init(sp, &sp->total);
  if (st != RK_OK) {
    step_pieces_free(sp);
    return st;
  }
  *out = sp;
  return RK_OK;
}

void step_pieces_free(step_pieces *sp) {
  if (!sp) return;
  for (int k = 0; sp->mine_sums && k < sp->n_mine; k++) grad_set_free(sp, &sp->mine_sums[k]);
  for (int k = 0; sp->scratch && k < sp->depth; k++) grad_set_free(sp, &sp->scratch[k]);
  for (int k = 0; sp->all_sums && k < sp->n_all; k++) grad_set_free(sp, &sp->all_sums[k]);
  grad_set_free(sp, &sp->total);
  row_set_free(&sp->merged);
  rk_free(sp->mine_sums);
  rk_free(sp->scratch);
  rk_free(sp->all_sums);
  rk_free(sp->mine);
  rk_free(sp->all);
  rk_free(sp->table_param);
  rk_free(sp->table_dim);
  rk_free(sp->send);
  rk_free(sp->recv);
  rk_free(sp);
}
