/*
 * Exact median in bounded memory, as pandas' Series.median computes it: NaN skipped, the mean
 * (a + b) / 2 of the two middle values when the count is even, NaN when nothing is left.
 *
 * Each double maps to a 64-bit key whose unsigned order is the numeric order (sign bit flipped
 * for positives, every bit for negatives; -0.0 taken as 0.0). The values are fed in passes:
 *   pass 1   a histogram of the keys' top 16 bits finds the bucket holding each middle rank
 *   pass 2+  a bucket of at most COLLECT_MAX values is collected and sorted (then done);
 *            a larger one gets a histogram of its next 16 bits
 * The two middle ranks of an even count may sit in different buckets: each rank is a target
 * with its own range, and targets that share a range share its histogram. A range 64 bits deep
 * is one value, so four passes always suffice; the smallest and largest key of a range resolve
 * ranks at its edges early (a column of one repeated value takes one pass). Memory: two
 * histograms of 65536 counts (1 MB) and at most COLLECT_MAX keys (8 MB).
 * It is not: approximate (t-digest, P^2), or a quantile of any other rank.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "reckon/etl.h"

enum {
  DIGIT_BITS = 16,
  DIGITS = 1 << DIGIT_BITS,
  COLLECT_MAX = 1 << 20,   /* keys collected in one pass, over both ranges */
  MAX_PASSES = 5           /* the contract; the method needs at most 64 / DIGIT_BITS */
};

typedef struct {
  int64_t rank;      /* 0-based rank among the non-NaN values */
  int64_t below;     /* values whose key is below the range */
  uint64_t prefix;   /* the range: keys whose top `depth` bits equal prefix's (lower bits 0) */
  int depth;
  int64_t size;      /* values in the range */
  bool known;
  uint64_t key;      /* the value, once known */
} med_target;

/* One range scanned in a pass: its keys' next digit counted, or the keys themselves kept. */
typedef struct {
  uint64_t prefix;
  int depth;
  bool collect;
  int64_t *hist;     /* (DIGITS) */
  uint64_t *keys;    /* (size) when collecting */
  int64_t size;      /* values expected in the range (0 in pass 1: not yet known) */
  int64_t got;
  uint64_t min, max;
} med_range;

struct rk_median {
  int pass;          /* passes closed */
  bool done;
  bool failed;       /* a pass disagreed with the first; no more passes */
  int64_t count;     /* non-NaN values of pass 1 */
  int64_t seen;      /* non-NaN values of the pass under way */
  med_target target[2];
  med_range range[2];
  int nranges;
  int range_of[2];   /* the range each unknown target is scanned in */
  double value;
};

static inline uint64_t to_key(double x) {
  if (x == 0.0) x = 0.0;   /* -0.0 and 0.0: one key */
  uint64_t b;
  memcpy(&b, &x, sizeof b);
  return b >> 63 ? ~b : b | (1ull << 63);
}

static double from_key(uint64_t key) {
  uint64_t b = key >> 63 ? key & ~(1ull << 63) : ~key;
  double x;
  memcpy(&x, &b, sizeof x);
  return x;
}

static inline bool in_range(const med_range *r, uint64_t key) {
  return r->depth == 0 || ((key ^ r->prefix) >> (64 - r->depth)) == 0;
}

static void range_reset(med_range *r) {
  r->got = 0;
  r->min = UINT64_MAX;
  r->max = 0;
  if (!r->collect) memset(r->hist, 0, DIGITS * sizeof *r->hist);
}

rk_status rk_median_create(rk_median **median) {
  rk_median *m = rk_calloc(1, sizeof *m);
  if (!m) return RK_ENOMEM;
  if (!(m->range[0].hist = rk_malloc(DIGITS * sizeof *m->range[0].hist))) {
    rk_free(m);
    return RK_ENOMEM;
  }
  m->nranges = 1;   /* pass 1: everything, depth 0 */
  range_reset(&m->range[0]);
  *median = m;
  return RK_OK;
}

void rk_median_free(rk_median *median) {
  if (!median) return;
  for (int i = 0; i < 2; i++) {
    rk_free(median->range[i].hist);
    rk_free(median->range[i].keys);
  }
  rk_free(median);
}

double rk_median_value(const rk_median *median) { return median->done ? median->value : NAN; }

int64_t rk_median_count(const rk_median *median) { return median->pass > 0 ? median->count : median->seen; }

/* ---- feeding a pass ---- */

static inline void range_add(med_range *r, uint64_t key) {
  if (key < r->min) r->min = key;
  if (key > r->max) r->max = key;
  if (!r->collect)
    r->hist[(key >> (64 - DIGIT_BITS - r->depth)) & (DIGITS - 1)]++;
  else if (r->got < r->size)   /* more than pass 1 put here: reported when the pass ends */
    r->keys[r->got] = key;
  r->got++;
}

rk_status rk_median_add(rk_median *median, const double *x, int64_t n) {
  if (median->done) return rk_error(RK_EINVAL, "median: values added after the median was known");
  if (median->failed) return rk_error(RK_EINVAL, "median: values added after a failed pass");
  int64_t seen = 0;
  for (int64_t i = 0; i < n; i++) {
    if (isnan(x[i])) continue;
    uint64_t key = to_key(x[i]);
    seen++;
    for (int r = 0; r < median->nranges; r++)
      if (in_range(&median->range[r], key)) range_add(&median->range[r], key);
  }
  median->seen += seen;
  return RK_OK;
}

/* ---- closing a pass ---- */

static int compare_keys(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

/* Narrow target t with what its range saw this pass. Sorting collected keys in place is the
 * only change to the range, and it is idempotent, so end_pass can run again after a failure. */
static void narrow(med_target *t, med_range *r) {
  int64_t q = t->rank - t->below;   /* rank within the range */
  if (r->collect) {
    qsort(r->keys, (size_t)r->size, sizeof *r->keys, compare_keys);
    t->known = true;
    t->key = r->keys[q];
  } else if (r->min == r->max || q == 0 || q == t->size - 1) {
    t->known = true;
    t->key = q == t->size - 1 ? r->max : r->min;
  } else {
    int64_t cum = 0;
    int g = 0;
    while (cum + r->hist[g] <= q) cum += r->hist[g++];
    t->below += cum;
    t->depth += DIGIT_BITS;
    t->prefix |= (uint64_t)g << (64 - t->depth);
    t->size = r->hist[g];
    if (t->depth == 64) {   /* one key: the value itself */
      t->known = true;
      t->key = t->prefix;
    }
  }
}

static rk_status check_pass(rk_median *m) {
  if (m->pass == 0) return RK_OK;
  if (m->seen != m->count) {
    m->failed = true;
    return rk_error(RK_EINVAL, "median: pass %d saw %lld values, the first saw %lld", m->pass + 1, (long long)m->seen,
                    (long long)m->count);
  }
  for (int r = 0; r < m->nranges; r++)
    if (m->range[r].got != m->range[r].size) {
      m->failed = true;
      return rk_error(RK_EINVAL, "median: pass %d saw other values than the first (the same count, %lld)", m->pass + 1,
                      (long long)m->count);
    }
  return RK_OK;
}

static bool same_range(const med_target *a, const med_target *b) { return a->depth == b->depth && a->prefix == b->prefix; }

/* The ranges of the next pass, from the narrowed targets. Buffers are allocated before anything
 * changes: on failure the median is as it was before end_pass. */
static rk_status plan_ranges(rk_median *m, const med_target *next) {
  med_range plan[2] = {{0}};
  int nplan = 0, range_of[2] = {-1, -1};
  bool inner[2] = {false, false};   /* a target of the range is not at its edge */
  for (int t = 0; t < 2; t++) {
    if (next[t].known) continue;
    if (t == 1 && range_of[0] == 0 && same_range(&next[0], &next[1])) {
      range_of[1] = 0;
    } else {
      range_of[t] = nplan++;
      plan[range_of[t]] = (med_range){.prefix = next[t].prefix, .depth = next[t].depth, .size = next[t].size};
    }
    int64_t q = next[t].rank - next[t].below;
    inner[range_of[t]] |= q != 0 && q != next[t].size - 1;
  }
  /* A rank at the edge of its range is the range's smallest or largest key, which every pass
   * finds anyway: such a range (the two middle ranks just split apart) needs no collecting. */
  int64_t budget = COLLECT_MAX;
  for (int i = 0; i < nplan; i++) {
    plan[i].collect = inner[i] && plan[i].size <= budget;
    if (plan[i].collect) budget -= plan[i].size;
  }
  bool ok = true;
  for (int i = 0; i < nplan && ok; i++) {
    if (plan[i].collect)
      ok = (plan[i].keys = rk_malloc((size_t)(plan[i].size ? plan[i].size : 1) * sizeof(uint64_t))) != NULL;
    else if (!m->range[i].hist)
      ok = (m->range[i].hist = rk_malloc(DIGITS * sizeof(int64_t))) != NULL;   /* kept on failure: freed with m */
  }
  if (!ok) {
    for (int i = 0; i < nplan; i++) rk_free(plan[i].keys);
    return RK_ENOMEM;
  }
  for (int i = 0; i < 2; i++) {
    rk_free(m->range[i].keys);
    int64_t *hist = m->range[i].hist;
    m->range[i] = plan[i];
    m->range[i].hist = hist;
    if (i < nplan) range_reset(&m->range[i]);
  }
  m->nranges = nplan;
  m->range_of[0] = range_of[0];
  m->range_of[1] = range_of[1];
  return RK_OK;
}

static void finish(rk_median *m, const med_target *t) {
  m->done = true;
  double a = from_key(t[0].key), b = from_key(t[1].key);
  m->value = t[0].rank == t[1].rank ? a : (a + b) / 2;   /* numpy's mean of the two: overflow gives inf, as there */
  for (int i = 0; i < 2; i++) {
    rk_free(m->range[i].hist);
    rk_free(m->range[i].keys);
    m->range[i].hist = NULL;
    m->range[i].keys = NULL;
  }
  m->nranges = 0;
}

rk_status rk_median_end_pass(rk_median *median, bool *done) {
  rk_median *m = median;
  *done = m->done;
  if (m->done) return RK_OK;
  if (m->failed) return rk_error(RK_EINVAL, "median: a pass failed; start again");
  RK_TRY(check_pass(m));
  med_target next[2];
  if (m->pass == 0) {
    m->count = m->seen;
    next[0] = (med_target){.rank = (m->count - 1) / 2, .size = m->count};   /* the middle rank(s) */
    next[1] = (med_target){.rank = m->count / 2, .size = m->count};
    m->range_of[0] = m->range_of[1] = 0;
    if (m->count == 0) {
      m->done = *done = true;
      m->pass = 1;
      m->value = NAN;
      return RK_OK;
    }
  } else {
    memcpy(next, m->target, sizeof next);
  }
  for (int t = 0; t < 2; t++)
    if (!next[t].known) narrow(&next[t], &m->range[m->range_of[t]]);
  if (next[0].known && next[1].known) {
    finish(m, next);
  } else {
    RK_ASSERT(m->pass + 2 <= MAX_PASSES);
    RK_TRY(plan_ranges(m, next));
  }
  memcpy(m->target, next, sizeof next);
  m->pass++;
  m->seen = 0;
  *done = m->done;
  return RK_OK;
}
