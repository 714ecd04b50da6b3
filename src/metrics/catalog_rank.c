/*
 * Ranking the whole item catalogue for next-item evaluation and prediction without a (B, V)
 * score matrix (reckon/metrics.h states the contract and the order of ties).
 *
 * The item table is streamed in blocks: one rk_sgemm scores the batch against a block (B x block
 * floats, reused), and each row then folds the block into what it keeps: the count of items that
 * outrank its target, and, for predictions, a min-heap of its best top_k (score, id) pairs whose
 * root is the worst kept. The target's own score s* comes from a small gemm of the rows against
 * their gathered target items, so it is a float computed like every other score, and the target
 * is never compared with itself. Rows are independent and the order (score, then id) is total, so
 * neither the block size nor the thread count changes a rank or a top-k list.
 *
 * It is not a loss (the softmax over the catalogue is the model's) nor a sampled ranking: every
 * item from first_item on is scored.
 *
 * A catalogue given its items transposed (rk_catalog_transpose: a served model, whose items
 * never change) has batches of a few rows scored without the gemm: OpenBLAS packs the whole item
 * table into its own layout on every call, which for one row cost several times the arithmetic
 * (a third of a served session request's CPU). Each score is then one chain of fused
 * multiply-adds in d order, which is how OpenBLAS's AVX-512 kernel sums it; rk_catalog_transpose
 * checks that the two give the same bits on this catalogue and this machine and gives no table
 * where they do not, so a served top-k is the one `reckon sessions --do_predict` writes.
 */
#include <math.h>
#include <string.h>

#include "nn/ops/ops.h"
#include "reckon/metrics.h"
#include "reckon/nn.h"

#define DEFAULT_BLOCK_FLOATS ((int64_t)2 << 20)   /* 8 MiB of scores per block at max_batch */
#define GATHER_ROWS 64                             /* target scores: (64 x 64) gemms */
#define ROW_GRAIN_ITEMS 65536                      /* items per parallel chunk of rows */
#define CHECK_ROWS 16                              /* rk_catalog_transpose: rows the two scorings are */
#define CHECK_BLOCK 16384                          /* compared on, a block of items at a time */

struct rk_catalog_ranker {
  rk_catalog cat;
  int64_t max_batch, block;
  int top_k, heap_cap;         /* heap_cap = min(top_k, ranked items) */
  float *scores;               /* (max_batch, block) */
  float *target_score;         /* (max_batch) s* */
  int64_t *above;              /* (max_batch) items ranked above the target so far */
  int64_t *nan_item;           /* (max_batch) first item with a NaN score, or -1 */
  float *heap_score;           /* (max_batch, heap_cap) */
  int64_t *heap_id;            /* (max_batch, heap_cap) */
  int *heap_n;                 /* (max_batch) */
  float *gathered;             /* (GATHER_ROWS, D) target item rows */
  float *gathered_scores;      /* (GATHER_ROWS, GATHER_ROWS) */
};

void rk_catalog_ranker_free(rk_catalog_ranker *r) {
  if (!r) return;
  rk_free(r->scores);
  rk_free(r->target_score);
  rk_free(r->above);
  rk_free(r->nan_item);
  rk_free(r->heap_score);
  rk_free(r->heap_id);
  rk_free(r->heap_n);
  rk_free(r->gathered);
  rk_free(r->gathered_scores);
  rk_free(r);
}

static rk_status check_catalog(const rk_catalog *c) {
  if (!c->items) return rk_error(RK_EINVAL, "catalogue ranking: no item table");
  if (c->V < 1 || c->D < 1)
    return rk_error(RK_ESHAPE, "catalogue ranking: item table of shape (%lld, %lld); both sizes must be positive",
                    (long long)c->V, (long long)c->D);
  if (c->first_item < 0 || c->first_item >= c->V)
    return rk_error(RK_EINVAL, "catalogue ranking: first ranked item %lld is outside [0, %lld)", (long long)c->first_item,
                    (long long)c->V);
  if (c->block < 0) return rk_error(RK_EINVAL, "catalogue ranking: block of %lld items; give 0 (automatic) or more", (long long)c->block);
  return RK_OK;
}

static void *alloc_array(rk_status *st, int64_t n, size_t size, const char *what) {
  int64_t bytes;
  if (*st != RK_OK) return NULL;
  if ((*st = rk_size_mul(&bytes, n, (int64_t)size, what)) != RK_OK) return NULL;
  void *p = rk_malloc((size_t)bytes + 1);
  if (!p) *st = rk_error_context(RK_ENOMEM, "%s (%lld bytes)", what, (long long)bytes);
  return p;
}

rk_status rk_catalog_ranker_create(rk_catalog_ranker **out, const rk_catalog *cat, int64_t max_batch, int top_k) {
  *out = NULL;
  RK_TRY(check_catalog(cat));
  if (max_batch < 1) return rk_error(RK_EINVAL, "catalogue ranking: batches of %lld rows; need 1 or more", (long long)max_batch);
  if (top_k < 0) return rk_error(RK_EINVAL, "catalogue ranking: top_k %d; give 0 (no lists) or more", top_k);
  rk_catalog_ranker *r = rk_calloc(1, sizeof *r);
  if (!r) return rk_error_context(RK_ENOMEM, "a catalogue ranker");
  r->cat = *cat;
  r->max_batch = max_batch;
  int64_t ranked = cat->V - cat->first_item;
  r->block = cat->block ? cat->block : DEFAULT_BLOCK_FLOATS / max_batch;
  if (r->block < 1) r->block = 1;
  if (r->block > ranked) r->block = ranked;
  r->top_k = top_k;
  r->heap_cap = top_k < ranked ? top_k : (int)ranked;
  int64_t block_floats, heap_items;
  rk_status st = rk_size_mul(&block_floats, max_batch, r->block, "the catalogue ranker's score block");
  if (st == RK_OK) st = rk_size_mul(&heap_items, max_batch, r->heap_cap, "the catalogue ranker's top-k lists");
  r->scores = alloc_array(&st, block_floats, sizeof(float), "the catalogue ranker's score block");
  r->target_score = alloc_array(&st, max_batch, sizeof(float), "the catalogue ranker's target scores");
  r->above = alloc_array(&st, max_batch, sizeof(int64_t), "the catalogue ranker's counts");
  r->nan_item = alloc_array(&st, max_batch, sizeof(int64_t), "the catalogue ranker's counts");
  r->heap_n = alloc_array(&st, max_batch, sizeof(int), "the catalogue ranker's top-k lists");
  if (top_k > 0) {
    r->heap_score = alloc_array(&st, heap_items, sizeof(float), "the catalogue ranker's top-k lists");
    r->heap_id = alloc_array(&st, heap_items, sizeof(int64_t), "the catalogue ranker's top-k lists");
  }
  r->gathered = alloc_array(&st, GATHER_ROWS * cat->D, sizeof(float), "the catalogue ranker's target rows");
  r->gathered_scores = alloc_array(&st, GATHER_ROWS * GATHER_ROWS, sizeof(float), "the catalogue ranker's target rows");
  if (st != RK_OK) {
    rk_catalog_ranker_free(r);
    return st;
  }
  *out = r;
  return RK_OK;
}

/* ---- a fixed catalogue's scores for a few rows ---- */

/* s (nb) = h . items_t[:, 0..nb), each a chain of fused multiply-adds over d in order (fmaf
 * rounds once on every machine; the clones only widen the vectors across items). */
RK_VECTOR_CLONES static void score_direct(float *restrict s /* (nb) */, const float *restrict h /* (D) */,
                                          const float *restrict items_t /* (D, stride) */, int64_t stride,
                                          int64_t nb, int64_t D) {
  for (int64_t j = 0; j < nb; j++) s[j] = 0.0f;
  for (int64_t d = 0; d < D; d++) {
    const float hd = h[d], *row = items_t + d * stride;
    for (int64_t j = 0; j < nb; j++) s[j] = fmaf(hd, row[j], s[j]);
  }
}

/* scores (B, nb): the rows of hidden against the items [v0, v0 + nb). */
static void score_block(const rk_catalog *cat, float *scores, const float *hidden, int64_t B, int64_t v0, int64_t nb) {
  int64_t D = cat->D;
  if (cat->items_t && B <= RK_CATALOG_DIRECT_ROWS) {
    for (int64_t b = 0; b < B; b++)
      score_direct(scores + b * nb, hidden + b * D, cat->items_t + (v0 - cat->first_item), cat->V - cat->first_item, nb, D);
    return;
  }
  rk_sgemm(false, true, B, nb, D, 1.0f, hidden, D, cat->items + v0 * D, D, 0.0f, scores, nb);
}

rk_status rk_catalog_transpose(float **items_t, const rk_catalog *cat) {
  *items_t = NULL;
  RK_TRY(check_catalog(cat));
  int64_t D = cat->D, first = cat->first_item, ranked = cat->V - first, block = CHECK_BLOCK < ranked ? CHECK_BLOCK : ranked;
  int64_t n;
  rk_status st = rk_size_mul(&n, D, ranked, "a catalogue's transposed item table");
  float *t = alloc_array(&st, n, sizeof(float), "a catalogue's transposed item table");
  float *h = alloc_array(&st, CHECK_ROWS * D, sizeof(float), "a catalogue's scoring check");
  float *want = alloc_array(&st, CHECK_ROWS * block, sizeof(float), "a catalogue's scoring check");
  float *got = alloc_array(&st, CHECK_ROWS * block, sizeof(float), "a catalogue's scoring check");
  if (st == RK_OK) {
    for (int64_t v = 0; v < ranked; v++)
      for (int64_t d = 0; d < D; d++) t[d * ranked + v] = cat->items[(first + v) * D + d];
    /* rows in a tanh head's range, of mixed signs and magnitudes, the same on every run */
    uint32_t x = 2463534242u;
    for (int64_t i = 0; i < CHECK_ROWS * D; i++) {
      x ^= x << 13, x ^= x >> 17, x ^= x << 5;
      h[i] = (float)((double)x / 2147483648.0 - 1.0);
    }
    /* every item, as the gemm scores a batch of rows; any difference keeps the gemm */
    bool same = true;
    for (int64_t v0 = first; v0 < cat->V && same; v0 += block) {
      int64_t nb = cat->V - v0 < block ? cat->V - v0 : block;
      rk_sgemm(false, true, CHECK_ROWS, nb, D, 1.0f, h, D, cat->items + v0 * D, D, 0.0f, want, nb);
      for (int64_t b = 0; b < CHECK_ROWS; b++) score_direct(got + b * nb, h + b * D, t + (v0 - first), ranked, nb, D);
      same = !memcmp(want, got, (size_t)(CHECK_ROWS * nb) * sizeof(float));
    }
    if (same) {
      *items_t = t;
      t = NULL;
    }
  }
  rk_free(t), rk_free(h), rk_free(want), rk_free(got);
  return st;
}

/* ---- the order: higher score first, then lower id ---- */

static bool better(float sa, int64_t ia, float sb, int64_t ib) { return sa > sb || (sa == sb && ia < ib); }

/* Min-heap on `better`: the root is the worst kept pair. */
static void heap_sift_down(float *s, int64_t *id, int n, int at) {
  for (;;) {
    int worst = at, l = 2 * at + 1, rt = l + 1;
    if (l < n && better(s[worst], id[worst], s[l], id[l])) worst = l;
    if (rt < n && better(s[worst], id[worst], s[rt], id[rt])) worst = rt;
    if (worst == at) return;
    float ts = s[at];
    s[at] = s[worst];
    s[worst] = ts;
    int64_t ti = id[at];
    id[at] = id[worst];
    id[worst] = ti;
    at = worst;
  }
}

static void heap_offer(float *s, int64_t *id, int *n, int cap, float score, int64_t item) {
  if (*n < cap) {   /* sift up */
    int at = (*n)++;
    while (at > 0) {
      int parent = (at - 1) / 2;
      if (!better(s[parent], id[parent], score, item)) break;
      s[at] = s[parent];
      id[at] = id[parent];
      at = parent;
    }
    s[at] = score;
    id[at] = item;
  } else if (better(score, item, s[0], id[0])) {
    s[0] = score;
    id[0] = item;
    heap_sift_down(s, id, cap, 0);
  }
}

/* ---- one batch ---- */

typedef struct {
  rk_catalog_ranker *r;
  const int64_t *target;   /* NULL: predictions only */
  int64_t v0, nb;          /* the block: items [v0, v0 + nb) */
  int heap_cap;            /* 0 when this call asks for no lists */
} block_ctx;

static bool row_ranked(const rk_catalog_ranker *r, const int64_t *target, int64_t b) {
  return target && target[b] != 0 && target[b] >= r->cat.first_item;
}

static void fold_block_rows(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const block_ctx *c = arg;
  rk_catalog_ranker *r = c->r;
  const float *bias = r->cat.bias;
  for (int64_t b = begin; b < end; b++) {
    float *s = r->scores + b * c->nb;   /* (nb) */
    bool nan = false;
    for (int64_t j = 0; j < c->nb; j++) {
      if (bias) s[j] += bias[c->v0 + j];
      nan |= isnan(s[j]);
    }
    if (nan) {
      if (r->nan_item[b] < 0)
        for (int64_t j = 0; j < c->nb && r->nan_item[b] < 0; j++)
          if (isnan(s[j])) r->nan_item[b] = c->v0 + j;
      continue;
    }
    if (row_ranked(r, c->target, b)) {
      float t = r->target_score[b];
      int64_t tid = c->target[b], above = 0;
      for (int64_t j = 0; j < c->nb; j++) above += (s[j] > t) + ((s[j] == t) & (c->v0 + j < tid));
      if (tid >= c->v0 && tid < c->v0 + c->nb) above -= s[tid - c->v0] > t;   /* never against itself */
      r->above[b] += above;
    }
    if (c->heap_cap > 0) {
      float *hs = r->heap_score + b * r->heap_cap;
      int64_t *hi = r->heap_id + b * r->heap_cap;
      int64_t j = 0;
      for (; j < c->nb && r->heap_n[b] < c->heap_cap; j++) heap_offer(hs, hi, &r->heap_n[b], c->heap_cap, s[j], c->v0 + j);
      /* a full heap takes only what beats or ties its worst: one compare for most items */
      for (float worst = hs[0]; j < c->nb; j++) {
        if (s[j] < worst) continue;
        heap_offer(hs, hi, &r->heap_n[b], c->heap_cap, s[j], c->v0 + j);
        worst = hs[0];
      }
    }
  }
}

/* s* for every ranked row: each chunk of rows against its gathered target items. */
static void score_targets(rk_catalog_ranker *r, const float *hidden, const int64_t *target, int64_t B) {
  int64_t D = r->cat.D;
  for (int64_t c0 = 0; c0 < B; c0 += GATHER_ROWS) {
    int64_t m = B - c0 < GATHER_ROWS ? B - c0 : GATHER_ROWS;
    for (int64_t i = 0; i < m; i++) {
      int64_t t = row_ranked(r, target, c0 + i) ? target[c0 + i] : r->cat.first_item;
      memcpy(r->gathered + i * D, r->cat.items + t * D, (size_t)D * sizeof(float));
    }
    rk_sgemm(false, true, m, m, D, 1.0f, hidden + c0 * D, D, r->gathered, D, 0.0f, r->gathered_scores, m);
    for (int64_t i = 0; i < m; i++) {
      float s = r->gathered_scores[i * m + i];
      if (r->cat.bias && row_ranked(r, target, c0 + i)) s += r->cat.bias[target[c0 + i]];
      r->target_score[c0 + i] = s;
    }
  }
}

static void write_top_k(const rk_catalog_ranker *r, int64_t *top_ids, float *top_scores, int64_t B) {
  for (int64_t b = 0; b < B; b++) {
    float *hs = r->heap_score + b * r->heap_cap;
    int64_t *hi = r->heap_id + b * r->heap_cap;
    int n = r->heap_n[b];
    for (int k = n; k < r->top_k; k++) {
      top_ids[b * r->top_k + k] = -1;
      top_scores[b * r->top_k + k] = -INFINITY;
    }
    /* pop the worst into the last free slot: the list comes out best first */
    while (n > 0) {
      top_ids[b * r->top_k + n - 1] = hi[0];
      top_scores[b * r->top_k + n - 1] = hs[0];
      n--;
      hs[0] = hs[n];
      hi[0] = hi[n];
      heap_sift_down(hs, hi, n, 0);
    }
  }
}

rk_status rk_catalog_rank(rk_catalog_ranker *r, int64_t *rank, int64_t *top_ids, float *top_scores, const float *hidden,
                          const int64_t *target, int64_t B) {
  if (B < 0 || B > r->max_batch)
    return rk_error(RK_EINVAL, "catalogue ranking: a batch of %lld rows; this ranker takes 0 to %lld", (long long)B,
                    (long long)r->max_batch);
  if ((top_ids == NULL) != (top_scores == NULL))
    return rk_error(RK_EINVAL, "catalogue ranking: top-k ids and scores go together (one of them is NULL)");
  if (top_ids && r->top_k == 0) return rk_error(RK_EINVAL, "catalogue ranking: top-k lists asked of a ranker made with top_k 0");
  if (target && !rank) return rk_error(RK_EINVAL, "catalogue ranking: targets given without room for their ranks");
  for (int64_t b = 0; target && b < B; b++)
    if (target[b] < 0 || target[b] >= r->cat.V)
      return rk_error(RK_ERANGE, "catalogue ranking: row %lld has target item %lld, outside the catalogue of %lld items",
                      (long long)b, (long long)target[b], (long long)r->cat.V);
  if (B == 0) return RK_OK;
  bool lists = top_ids != NULL;
  for (int64_t b = 0; b < B; b++) {
    r->above[b] = 0;
    r->nan_item[b] = -1;
    r->heap_n[b] = 0;
  }
  if (target) score_targets(r, hidden, target, B);
  int64_t grain = ROW_GRAIN_ITEMS / r->block;
  if (grain < 1) grain = 1;
  for (int64_t v0 = r->cat.first_item; v0 < r->cat.V; v0 += r->block) {
    int64_t nb = r->cat.V - v0 < r->block ? r->cat.V - v0 : r->block;
    score_block(&r->cat, r->scores, hidden, B, v0, nb);
    block_ctx c = {r, target, v0, nb, lists ? r->heap_cap : 0};
    rk_parallel_for(B, grain, fold_block_rows, &c);
  }
  for (int64_t b = 0; b < B; b++) {
    if (r->nan_item[b] >= 0)
      return rk_error(RK_ERANGE, "catalogue ranking: row %lld scores item %lld as NaN (a NaN hidden vector, item row or bias)",
                      (long long)b, (long long)r->nan_item[b]);
    if (target && row_ranked(r, target, b) && isnan(r->target_score[b]))
      return rk_error(RK_ERANGE, "catalogue ranking: row %lld scores its target item %lld as NaN", (long long)b,
                      (long long)target[b]);
  }
  for (int64_t b = 0; target && b < B; b++) rank[b] = row_ranked(r, target, b) ? r->above[b] + 1 : 0;
  if (lists) write_top_k(r, top_ids, top_scores, B);
  return RK_OK;
}
