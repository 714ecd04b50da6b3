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
 *
 * Overlap: the dense vector is laid out in the order backward completes the parameters
 * (rk_graph_grad_ready_order: the last layers first) and cut into buckets of about
 * --bucket_cap_mb; during the backward of this rank's last piece the graph's hook says when a
 * parameter is final, and a bucket whose parameters all are is finished up the tree on this rank
 * and its exchange started, while backward goes on. The additions are elementwise, so doing them
 * bucket by bucket, at whatever time, changes no bit: the bucket size does not matter.
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

/* A range of the dense vector exchanged as one (the exchange, below): started as soon as this
 * rank's gradients of it are final, its segments spread (alltoallv) and, finished, gathered
 * (allgatherv). Its buffers stay the collectives' until they complete. */
typedef struct {
  int64_t begin, end;        /* floats [begin, end) of the dense vector */
  int first_param, end_param;   /* its parameters: dense_order[first_param, end_param) */
  float *send;               /* (n_mine, end - begin) this rank's nodes, segment by segment */
  float *recv;               /* (n_all, seg) every node's part of this rank's segment */
  float *mine;               /* (seg) this rank's segment, finished */
  rk_dist_request *spread, *gather;
} bucket;

/* One addition of the tree left for the buckets: dst += src (the right spine over the last piece). */
typedef struct {
  grad_set *dst;
  const grad_set *src;
} deferred_add;

struct step_pieces {
  const rk_model *m;
  rk_dist *dist;
  int64_t P, first, count;
  int n_extra;
  int64_t n_dense;           /* dense gradient floats */
  int n_dense_params;
  int *dense_order;          /* (n_dense_params) m->params indices, in the order backward completes them */
  int64_t *dense_at;         /* (m->n_params) a dense parameter's offset in the vector */
  int n_buckets;             /* 0: one process, nothing to exchange */
  bucket *buckets;
  int *closes_bucket;        /* (graph params) the bucket a graph parameter's gradient completes, or -1 */
  int n_started;             /* buckets started this step */
  grad_set *last_leaf;       /* where this rank's last piece's gradients go */
  deferred_add *spine;       /* (depth) in the tree's order, top first */
  int n_spine;
  int64_t *counts;           /* (4 x ranks) a collective's counts */
  float *finish_scratch;     /* (depth, largest segment) */
  const float **seg;         /* (n_all) */
  float *bucket_mem;         /* the buckets' buffers and finish_scratch, one allocation */
  step_pieces_stats stats;
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

/* Dense parameters dense_order[first, end)'s gradients into g's vector. */
static void capture_dense(const step_pieces *sp, grad_set *g, int first, int end) {
  for (int k = first; k < end; k++) {
    int i = sp->dense_order[k];
    const rk_param *p = sp->m->params[i];
    memcpy(g->dense + sp->dense_at[i], p->grad.data, (size_t)rk_tensor_numel(&p->value) * sizeof(float));
  }
}

/* The parameters' gradients (after a piece's backward) into g, the dense ones when `dense` (the
 * last piece's go bucket by bucket); extras already written. */
static rk_status capture(step_pieces *sp, grad_set *g, bool dense) {
  if (dense) capture_dense(sp, g, 0, sp->n_dense_params);
  for (int t = 0; t < sp->n_tables; t++) {
    const rk_param *p = sp->m->params[sp->table_param[t]];
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
  for (int k = 0; k < sp->n_dense_params; k++) {
    rk_param *p = m->params[sp->dense_order[k]];
    float *d = p->grad.data;
    const float *src = g->dense + sp->dense_at[sp->dense_order[k]];
    int64_t n = rk_tensor_numel(&p->value);
    for (int64_t e = 0; e < n; e++) d[e] = src[e] * scale;
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

/* Piece `piece` into out: from zeroed gradients, its extras, its gradients (the dense ones when
 * `dense`). */
static rk_status run_leaf(step_pieces *sp, const piece_call *call, int64_t piece, grad_set *out, bool dense) {
  rk_graph_zero_grad(sp->m->g);
  memset(out->dense + sp->n_dense, 0, (size_t)sp->n_extra * sizeof *out->dense);
  RK_TRY(call->fn(call->ctx, piece, out->dense + sp->n_dense));
  return capture(sp, out, dense);
}

static rk_status on_grad_ready(void *ctx, int param);

/* This rank's last piece, with the buckets: its dense gradients are taken bucket by bucket as
 * backward completes them (on_grad_ready), and the rest after it. */
static rk_status run_last_leaf(step_pieces *sp, const piece_call *call, int64_t piece, grad_set *out) {
  sp->last_leaf = out;
  rk_graph_set_grad_ready_hook(sp->m->g, on_grad_ready, sp);
  rk_status st = run_leaf(sp, call, piece, out, false);
  rk_graph_set_grad_ready_hook(sp->m->g, NULL, NULL);
  return st;
}

/* out = the sum of pieces [l, r), walked as the tree is defined. On the way to this rank's last
 * piece (r is its block's end), with buckets, the dense additions are left to them (sp->spine):
 * every other piece is summed by then. */
static rk_status walk(step_pieces *sp, const piece_call *call, int64_t l, int64_t r, grad_set *out, int depth) {
  bool deferred = sp->n_buckets > 0 && r == sp->first + sp->count;
  if (r - l == 1) return deferred ? run_last_leaf(sp, call, l, out) : run_leaf(sp, call, l, out, true);
  int64_t mid = rk_dist_tree_mid(l, r);
  RK_TRY(walk(sp, call, l, mid, out, depth + 1));
  if (deferred) sp->spine[sp->n_spine++] = (deferred_add){out, &sp->scratch[depth]};
  RK_TRY(walk(sp, call, mid, r, &sp->scratch[depth], depth + 1));
  return grad_set_add(sp, out, &sp->scratch[depth], !deferred);
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
 * Dense part, bucket by bucket, each by segments (a reduce-scatter, then an allgather, as a ring
 * allreduce moves about 2 (R - 1) / R of the vector per rank): a bucket is cut into R segments;
 * every rank sends segment t of each of its nodes to rank t (alltoallv), rank t finishes the
 * tree on its segment from all nodes, and the finished segments are gathered by all
 * (allgatherv). Elementwise, so the additions are those of the whole tree, whatever the buckets.
 * Every rank starts the collectives in one order (MPI's rule for non-blocking collectives):
 * spread 0, spread 1, gather 0, spread 2, gather 1, ..., gather n-1; a bucket's gather waits
 * for its spread when the next bucket starts, by when it has usually arrived (the hook tests
 * the requests in flight, which is what moves them under OpenMPI).
 * Tables: each node's touched rows (count, ids, rows) to every rank (allgatherv), where the tree
 * is finished by merging. */

static rk_status grow_bytes(unsigned char **buf, int64_t *cap, int64_t need) {
  if (need <= *cap) return RK_OK;
  unsigned char *b = rk_realloc(*buf, (size_t)need);
  if (!b) return RK_ENOMEM;
  *buf = b;
  *cap = need;
  return RK_OK;
}

/* Where rank r's segment of bucket b starts (r = ranks: its end). */
static int64_t segment_begin(const step_pieces *sp, const bucket *b, int r) {
  return b->begin + (b->end - b->begin) * r / rk_dist_size(sp->dist);
}

static int64_t segment_len(const step_pieces *sp, const bucket *b, int r) {
  return segment_begin(sp, b, r + 1) - segment_begin(sp, b, r);
}

/* Bucket k's segment finished from every node's part of it, then gathered by every rank into
 * total (after bucket k + 1's spread started, or at the end). */
static rk_status bucket_gather(step_pieces *sp, int k) {
  bucket *b = &sp->buckets[k];
  int size = rk_dist_size(sp->dist), me = rk_dist_rank(sp->dist);
  int64_t seg_n = segment_len(sp, b, me), *gather_counts = sp->counts + 2 * size;
  RK_TRY(rk_dist_wait(sp->dist, &b->spread));
  for (int j = 0; j < sp->n_all; j++) sp->seg[j] = b->recv + (int64_t)j * seg_n;   /* rank order, as sp->all */
  finish_segment(sp, 0, sp->P, b->mine, seg_n, sp->seg, sp->finish_scratch, 0);
  for (int r = 0; r < size; r++) gather_counts[r] = segment_len(sp, b, r);
  return rk_dist_allgatherv_start(sp->dist, &b->gather, sp->total.dense + b->begin, b->mine, gather_counts, RK_DIST_F32);
}

/* Bucket k, whose gradients on this rank are final: its part of the last piece taken, the tree's
 * additions left for it done, its segments spread; then the previous bucket's gather. */
static rk_status bucket_start(step_pieces *sp, int k, bool in_backward) {
  bucket *b = &sp->buckets[k];
  int size = rk_dist_size(sp->dist), me = rk_dist_rank(sp->dist);
  if (sp->last_leaf) {
    capture_dense(sp, sp->last_leaf, b->first_param, b->end_param);
    for (int j = sp->n_spine - 1; j >= 0; j--) {   /* bottom up, as the walk would have */
      float *dst = sp->spine[j].dst->dense;
      const float *src = sp->spine[j].src->dense;
      for (int64_t i = b->begin; i < b->end; i++) dst[i] += src[i];
    }
  }
  int64_t *send_counts = sp->counts, *recv_counts = sp->counts + size, *nodes_of = sp->counts + 3 * size;
  float *at = b->send;
  for (int r = 0; r < size; r++) {
    int64_t from = segment_begin(sp, b, r), n_r = segment_len(sp, b, r);
    send_counts[r] = sp->n_mine * n_r;
    recv_counts[r] = nodes_of[r] * segment_len(sp, b, me);
    for (int j = 0; j < sp->n_mine; j++, at += n_r) memcpy(at, sp->mine_sums[j].dense + from, (size_t)n_r * sizeof *at);
  }
  RK_TRY(rk_dist_alltoallv_start(sp->dist, &b->spread, b->recv, recv_counts, b->send, send_counts, RK_DIST_F32));
  sp->n_started++;
  sp->stats.buckets++;
  if (in_backward) sp->stats.buckets_in_backward++;
  return k > 0 ? bucket_gather(sp, k - 1) : RK_OK;
}

/* Buckets up to k started, in order (a bucket of parameters the graph never reports goes with
 * the next one). */
static rk_status buckets_start_through(step_pieces *sp, int k, bool in_backward) {
  while (sp->n_started <= k) RK_TRY(bucket_start(sp, sp->n_started, in_backward));
  return RK_OK;
}

/* The graph's hook during this rank's last backward: a parameter's gradient is final. */
static rk_status on_grad_ready(void *ctx, int param) {
  step_pieces *sp = ctx;
  if (sp->closes_bucket[param] >= 0) RK_TRY(buckets_start_through(sp, sp->closes_bucket[param], true));
  for (int k = 0; k < sp->n_started; k++) {   /* MPI progress for what is in flight */
    bool done;
    RK_TRY(rk_dist_test(sp->dist, &sp->buckets[k].spread, &done));
    RK_TRY(rk_dist_test(sp->dist, &sp->buckets[k].gather, &done));
  }
  return RK_OK;
}

/* After backward: the buckets not started yet, the last gather, and every gather complete. */
static rk_status buckets_finish(step_pieces *sp) {
  RK_TRY(buckets_start_through(sp, sp->n_buckets - 1, false));
  RK_TRY(bucket_gather(sp, sp->n_buckets - 1));
  for (int k = 0; k < sp->n_buckets; k++) RK_TRY(rk_dist_wait(sp->dist, &sp->buckets[k].gather));
  sp->n_started = 0;
  return RK_OK;
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
  sp->last_leaf = NULL;
  sp->n_spine = 0;
  for (int k = 0; k < sp->n_mine; k++)
    RK_TRY(walk(sp, &call, sp->mine[k].begin, sp->mine[k].end, &sp->mine_sums[k], 0));
  if (size == 1) return apply(sp, &sp->mine_sums[0], extra);   /* one node: the root */
  RK_TRY(buckets_finish(sp));
  if (sp->n_tables) RK_TRY(exchange_tables(sp));
  sp->stats.steps++;
  return apply(sp, &sp->total, extra);
}

step_pieces_stats step_pieces_stats_get(const step_pieces *sp) { return sp->stats; }
int step_pieces_bucket_count(const step_pieces *sp) { return sp->n_buckets; }

void step_pieces_mine(const step_pieces *sp, int64_t *first, int64_t *count) {
  *first = sp->first;
  *count = sp->count;
}

/* The dense vector's layout: the parameters the graph does not use (never written: ready
 * first), then the others in the order backward completes them (rk_graph_grad_ready_order). */
static rk_status plan_dense(step_pieces *sp, int *graph_of) {
  const rk_model *m = sp->m;
  int G = rk_graph_param_count(m->g);
  const int *ready = rk_graph_grad_ready_order(m->g);
  for (int i = 0; i < m->n_params; i++) {
    graph_of[i] = -1;
    for (int k = 0; k < G; k++)
      if (rk_graph_param_at(m->g, k) == m->params[i]) graph_of[i] = k;
  }
  for (int i = 0; i < m->n_params; i++)
    if (!m->params[i]->sparse && (graph_of[i] < 0 || !ready)) sp->dense_order[sp->n_dense_params++] = i;
  for (int k = 0; ready && k < G; k++)
    for (int i = 0; i < m->n_params; i++)
      if (graph_of[i] == ready[k] && !m->params[i]->sparse) sp->dense_order[sp->n_dense_params++] = i;
  int64_t at = 0;
  for (int k = 0; k < sp->n_dense_params; k++) {
    sp->dense_at[sp->dense_order[k]] = at;
    at += rk_tensor_numel(&m->params[sp->dense_order[k]]->value);
  }
  return RK_OK;
}

/* Buckets of about cap_bytes over the layout, whole parameters each (one larger than the cap is
 * a bucket alone); the first at most FIRST_BUCKET_BYTES, as PyTorch DDP's, so the exchange starts
 * early in backward; the last holds the extras too and starts after backward. Their buffers. */
enum { FIRST_BUCKET_BYTES = 1 << 20 };

static rk_status plan_buckets(step_pieces *sp, const int *graph_of, int64_t cap_bytes) {
  int size = rk_dist_size(sp->dist), me = rk_dist_rank(sp->dist);
  sp->buckets = rk_calloc((size_t)sp->n_dense_params + 1, sizeof *sp->buckets);
  sp->closes_bucket = rk_malloc((size_t)rk_graph_param_count(sp->m->g) * sizeof(int) + sizeof(int));
  if (!sp->buckets || !sp->closes_bucket) return RK_ENOMEM;
  for (int k = 0; k < rk_graph_param_count(sp->m->g); k++) sp->closes_bucket[k] = -1;
  int64_t filled = 0;
  bucket *b = &sp->buckets[0];
  for (int k = 0; k < sp->n_dense_params; k++) {
    int i = sp->dense_order[k];
    filled += rk_tensor_numel(&sp->m->params[i]->value) * (int64_t)sizeof(float);
    int64_t cap = b == sp->buckets && cap_bytes > FIRST_BUCKET_BYTES ? FIRST_BUCKET_BYTES : cap_bytes;
    if (filled >= cap && k + 1 < sp->n_dense_params) {   /* close it */
      b->end_param = k + 1;
      b->end = sp->dense_at[i] + rk_tensor_numel(&sp->m->params[i]->value);
      if (graph_of[i] >= 0) sp->closes_bucket[graph_of[i]] = (int)(b - sp->buckets);
      b[1].begin = b->end;
      b[1].first_param = k + 1;
      b++;
      filled = 0;
    }
  }
  b->end_param = sp->n_dense_params;
  b->end = sp->n_dense + sp->n_extra;
  sp->n_buckets = (int)(b - sp->buckets) + 1;
  /* memory: per bucket what it sends, receives and gathers; the finish's scratch */
  int64_t floats = 0, largest = 0;
  for (int k = 0; k < sp->n_buckets; k++) {
    int64_t seg_n = segment_len(sp, &sp->buckets[k], me), n = sp->buckets[k].end - sp->buckets[k].begin;
    floats += sp->n_mine * n + (sp->n_all + 1) * seg_n;
    if (seg_n > largest) largest = seg_n;
  }
  float *mem = rk_malloc((size_t)(floats + ((int64_t)sp->depth + 1) * largest + 1) * sizeof *mem);
  sp->bucket_mem = mem;
  sp->counts = rk_calloc(4 * (size_t)size, sizeof *sp->counts);
  sp->seg = rk_calloc((size_t)sp->n_all + 1, sizeof *sp->seg);
  sp->spine = rk_calloc((size_t)sp->depth + 1, sizeof *sp->spine);
  if (!mem || !sp->counts || !sp->seg || !sp->spine) return RK_ENOMEM;
  for (int k = 0; k < sp->n_buckets; k++) {
    bucket *bk = &sp->buckets[k];
    int64_t seg_n = segment_len(sp, bk, me);
    bk->send = mem;
    bk->recv = bk->send + sp->n_mine * (bk->end - bk->begin);
    bk->mine = bk->recv + sp->n_all * seg_n;
    mem = bk->mine + seg_n;
  }
  sp->finish_scratch = mem;
  for (int r = 0; r < size; r++) {   /* each rank's node count, for what this rank receives */
    int64_t first, count;
    rk_dist_node none[130];
    rk_dist_piece_block(sp->P, r, size, &first, &count);
    sp->counts[3 * size + r] = rk_dist_tree_cover(sp->P, first, count, none, 130);
  }
  return RK_OK;
}

rk_status step_pieces_init(step_pieces **out, const rk_model *m, int64_t P, int n_extra, rk_dist *d,
                           int64_t bucket_bytes) {
  *out = NULL;
  if (P < 1) return rk_error(RK_EINVAL, "a step of %lld pieces", (long long)P);
  if (bucket_bytes < 1) return rk_error(RK_EINVAL, "buckets of %lld bytes", (long long)bucket_bytes);
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
  sp->dense_order = rk_calloc((size_t)m->n_params + 1, sizeof *sp->dense_order);
  sp->dense_at = rk_calloc((size_t)m->n_params + 1, sizeof *sp->dense_at);
  int *graph_of = rk_calloc((size_t)m->n_params + 1, sizeof *graph_of);
  if (!sp->table_param || !sp->table_dim || !sp->dense_order || !sp->dense_at || !graph_of) st = RK_ENOMEM;
  for (int i = 0; st == RK_OK && i < m->n_params; i++) {
    const rk_param *p = m->params[i];
    if (p->sparse) {
      sp->table_param[sp->n_tables] = i;
      sp->table_dim[sp->n_tables++] = p->value.shape[1];
    } else {
      st = rk_size_add(&sp->n_dense, sp->n_dense, rk_tensor_numel(&p->value), "the dense gradients");
    }
  }
  if (st == RK_OK) st = plan_dense(sp, graph_of);
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
  if (st == RK_OK && size > 1) st = plan_buckets(sp, graph_of, bucket_bytes);
  rk_free(graph_of);
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
  rk_free(sp->dense_order);
  rk_free(sp->dense_at);
  rk_free(sp->buckets);
  rk_free(sp->closes_bucket);
  rk_free(sp->bucket_mem);
  rk_free(sp->counts);
  rk_free(sp->seg);
  rk_free(sp->spine);
  rk_free(sp->send);
  rk_free(sp->recv);
  rk_free(sp);
}
