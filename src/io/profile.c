/*
 * Column profiles: one streaming pass gives each column's nulls, range, mean, distinct-value
 * estimate and most frequent values, in memory bounded per column (16 KiB of HyperLogLog
 * registers and 64 Space-Saving counters), whatever the number of rows. The registers are
 * allocated only once a column has shown more than EXACT_HASHES distinct values (until then
 * the distinct count is exact), so a file of 100,000 columns and few rows does not ask for
 * 1.6 GB of registers nor spend its time summing them.
 *
 * It is not: exact distinct counts or exact frequencies of a high-cardinality column (those need
 * memory that grows with the data; `reckon preprocess` computes exact vocabularies itself).
 *
 * References: Flajolet, Fusy, Gandouet, Meunier, "HyperLogLog: the analysis of a near-optimal
 * cardinality estimation algorithm" (AofA 2007), with the small-range (linear counting)
 * correction; Metwally, Agrawal, El Abbadi, "Efficient computation of frequent and top-k
 * elements in data streams" (ICDT 2005), the Space-Saving algorithm.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "reckon/io.h"

#define HLL_BITS 14
#define HLL_REGISTERS (1 << HLL_BITS)
#define TOP_SLOTS 64
#define SHOWN_BYTES 64
#define EXACT_HASHES 16

typedef struct {
  uint64_t hash;
  int64_t count;
  int64_t error;     /* Space-Saving's over-count bound for this slot */
  char text[SHOWN_BYTES + 1];
} top_slot;

typedef struct {
  rk_column_profile pub;
  uint8_t *hll;            /* (HLL_REGISTERS), NULL while the distinct hashes fit `exact` */
  uint64_t exact[EXACT_HASHES];
  int n_exact;
  top_slot *top;           /* (cap_top), grown to at most TOP_SLOTS as values appear */
  int ntop_slots, cap_top;
  bool evicted;           /* a slot was ever replaced: counts are upper bounds */
  double sum;             /* numbers, in stream order */
  int64_t list_rows, list_len_sum;
  char min_s[SHOWN_BYTES + 1], max_s[SHOWN_BYTES + 1];
  size_t min_len, max_len;
} column_state;

struct rk_profiler {
  int ncols;
  column_state *cols;
};

rk_status rk_profiler_create(rk_profiler **profiler) {
  *profiler = rk_calloc(1, sizeof **profiler);
  return *profiler ? RK_OK : RK_ENOMEM;
}

static void release_public(rk_column_profile *p) {
  for (int i = 0; i < p->ntop; i++) rk_free(p->top_value[i]);
  p->ntop = 0;
  rk_free(p->min_s);
  rk_free(p->max_s);
  p->min_s = p->max_s = NULL;
}

void rk_profiler_free(rk_profiler *profiler) {
  if (!profiler) return;
  for (int c = 0; c < profiler->ncols; c++) {
    release_public(&profiler->cols[c].pub);
    rk_free(profiler->cols[c].pub.name);
    rk_free(profiler->cols[c].hll);
    rk_free(profiler->cols[c].top);
  }
  rk_free(profiler->cols);
  rk_free(profiler);
}

static rk_status setup(rk_profiler *p, const rk_batch *batch) {
  p->cols = rk_calloc((size_t)batch->ncols, sizeof(column_state));
  if (!p->cols) return RK_ENOMEM;
  p->ncols = batch->ncols;
  for (int c = 0; c < batch->ncols; c++) {
    const rk_column *col = &batch->cols[c];
    column_state *s = &p->cols[c];
    s->pub.type = col->type;
    s->pub.elem_type = col->child ? col->child->type : col->type;
    s->pub.list_min_len = INT64_MAX;
    if (!(s->pub.name = rk_strdup(col->name ? col->name : ""))) return RK_ENOMEM;
  }
  return RK_OK;
}

static void hll_register(column_state *s, uint64_t h) {
  uint32_t reg = (uint32_t)(h >> (64 - HLL_BITS));
  uint64_t rest = (h << HLL_BITS) | ((uint64_t)1 << (HLL_BITS - 1));   /* sentinel bounds the count */
  uint8_t rank = (uint8_t)(__builtin_clzll(rest) + 1);
  if (rank > s->hll[reg]) s->hll[reg] = rank;
}

/* Count hash h: exactly while the column's distinct hashes fit `exact`, then in registers. */
static rk_status hll_add(column_state *s, uint64_t h) {
  if (!s->hll) {
    for (int i = 0; i < s->n_exact; i++)
      if (s->exact[i] == h) return RK_OK;
    if (s->n_exact < EXACT_HASHES) {
      s->exact[s->n_exact++] = h;
      return RK_OK;
    }
    if (!(s->hll = rk_calloc(HLL_REGISTERS, 1))) return RK_ENOMEM;
    for (int i = 0; i < s->n_exact; i++) hll_register(s, s->exact[i]);
  }
  hll_register(s, h);
  return RK_OK;
}

static double hll_estimate(const column_state *s) {
  if (!s->hll) return s->n_exact;
  const double m = HLL_REGISTERS;
  double sum = 0.0;
  int zeros = 0;
  for (int i = 0; i < HLL_REGISTERS; i++) {
    sum += ldexp(1.0, -s->hll[i]);
    zeros += s->hll[i] == 0;
  }
  double alpha = 0.7213 / (1.0 + 1.079 / m);
  double e = alpha * m * m / sum;
  if (e <= 2.5 * m && zeros > 0) e = m * log(m / zeros);   /* linear counting for small sets */
  return e;
}

static rk_status top_add(column_state *s, uint64_t h, const char *text, size_t len) {
  for (int i = 0; i < s->ntop_slots; i++) {
    if (s->top[i].hash == h) {
      s->top[i].count++;
      return RK_OK;
    }
  }
  top_slot *slot;
  int64_t base = 0;
  if (s->ntop_slots < TOP_SLOTS) {
    if (s->ntop_slots == s->cap_top) {
      int cap = s->cap_top ? 2 * s->cap_top : 4;
      top_slot *g = rk_realloc(s->top, (size_t)cap * sizeof *g);
      if (!g) return RK_ENOMEM;
      s->top = g;
      s->cap_top = cap;
    }
    slot = &s->top[s->ntop_slots++];
  } else {   /* replace the smallest counter (the first one on ties: deterministic) */
    slot = &s->top[0];
    for (int i = 1; i < TOP_SLOTS; i++)
      if (s->top[i].count < slot->count) slot = &s->top[i];
    base = slot->count;
    s->evicted = true;
  }
  slot->hash = h;
  slot->count = base + 1;
  slot->error = base;
  if (len > SHOWN_BYTES) len = SHOWN_BYTES;
  memcpy(slot->text, text, len);
  slot->text[len] = '\0';
  return RK_OK;
}

static rk_status add_number_text(column_state *s, uint64_t h, double v, const char *text) {
  RK_TRY(hll_add(s, h));
  RK_TRY(top_add(s, h, text, strlen(text)));
  if (!s->pub.has_range) {
    s->pub.min = s->pub.max = v;
    s->pub.has_range = true;
  } else if (v < s->pub.min) {
    s->pub.min = v;
  } else if (v > s->pub.max) {
    s->pub.max = v;
  }
  s->sum += v;
  s->pub.values++;
  return RK_OK;
}

/* Lexicographic order of byte strings (a prefix sorts first). */
static int compare_bytes(const char *a, size_t alen, const char *b, size_t blen) {
  int c = memcmp(a, b, alen < blen ? alen : blen);
  if (c != 0) return c;
  return alen < blen ? -1 : alen > blen;
}

static rk_status add_string(column_state *s, const char *str, size_t len) {
  uint64_t h = XXH3_64bits(str, len);
  RK_TRY(hll_add(s, h));
  RK_TRY(top_add(s, h, str, len));
  size_t shown = len > SHOWN_BYTES ? SHOWN_BYTES : len;   /* min/max of the shown prefixes */
  if (!s->pub.has_range || compare_bytes(str, shown, s->min_s, s->min_len) < 0) {
    memcpy(s->min_s, str, shown);
    s->min_s[shown] = '\0';
    s->min_len = shown;
  }
  if (!s->pub.has_range || compare_bytes(str, shown, s->max_s, s->max_len) > 0) {
    memcpy(s->max_s, str, shown);
    s->max_s[shown] = '\0';
    s->max_len = shown;
  }
  s->pub.has_range = true;
  s->pub.values++;
  return RK_OK;
}

/* One value of a primitive column (or list child) at index i. */
static rk_status add_value(column_state *s, const rk_column *col, int64_t i) {
  char text[48];
  if (col->type == RK_COL_STRING) {
    size_t len;
    const char *str = rk_column_get_string(col, i, &len);
    return add_string(s, str, len);
  } else if (rk_coltype_is_float(col->type)) {
    double v = rk_column_get_double(col, i);
    if (col->type == RK_COL_FLOAT32) snprintf(text, sizeof text, "%.9g", v);
    else snprintf(text, sizeof text, "%.17g", v);
    /* hash the shortest text so 0.1f and 0.1 count apart but equal floats agree */
    return add_number_text(s, XXH3_64bits(&v, sizeof v), v, text);
  } else if (col->type == RK_COL_UINT64) {
    uint64_t u = ((const uint64_t *)col->values)[i];
    snprintf(text, sizeof text, "%llu", (unsigned long long)u);
    return add_number_text(s, XXH3_64bits(&u, sizeof u), (double)u, text);
  } else {
    int64_t v = rk_column_get_int(col, i);
    snprintf(text, sizeof text, "%lld", (long long)v);
    return add_number_text(s, XXH3_64bits(&v, sizeof v), (double)v, text);
  }
}

rk_status rk_profiler_add(rk_profiler *p, const rk_batch *batch) {
  if (!p->cols) RK_TRY(setup(p, batch));
  if (batch->ncols != p->ncols)
    return rk_error(RK_EINVAL, "batch has %d columns but the profile has %d", batch->ncols, p->ncols);
  for (int c = 0; c < p->ncols; c++) {
    const rk_column *col = &batch->cols[c];
    column_state *s = &p->cols[c];
    if (col->type != s->pub.type)
      return rk_error(RK_EINVAL, "column '%s' changed type from %s to %s between batches", s->pub.name,
                      rk_coltype_name(s->pub.type), rk_coltype_name(col->type));
    s->pub.rows += col->length;
    s->pub.nulls += col->null_count;
    for (int64_t i = 0; i < col->length; i++) {
      if (rk_column_is_null(col, i)) continue;
      if (col->type == RK_COL_LIST) {
        int64_t b = col->offsets[i], e = col->offsets[i + 1], n = e - b;
        if (n < s->pub.list_min_len) s->pub.list_min_len = n;
        if (n > s->pub.list_max_len) s->pub.list_max_len = n;
        s->list_rows++;
        s->list_len_sum += n;
        for (int64_t k = b; k < e; k++)
          if (!rk_column_is_null(col->child, k)) RK_TRY(add_value(s, col->child, k));
      } else {
        RK_TRY(add_value(s, col, i));
      }
    }
  }
  return RK_OK;
}

int rk_profiler_num_columns(const rk_profiler *p) { return p->ncols; }

static int by_count(const void *a, const void *b) {
  const top_slot *x = a, *y = b;
  if (x->count != y->count) return x->count < y->count ? 1 : -1;
  return strcmp(x->text, y->text);
}

const rk_column_profile *rk_profiler_column(rk_profiler *p, int c) {
  column_state *s = &p->cols[c];
  rk_column_profile *pub = &s->pub;
  release_public(pub);
  pub->mean = pub->values > 0 && s->pub.type != RK_COL_STRING && s->pub.elem_type != RK_COL_STRING
                  ? s->sum / (double)pub->values
                  : 0.0;
  pub->distinct = pub->values > 0 ? hll_estimate(s) : 0.0;
  if (pub->distinct > (double)pub->values) pub->distinct = (double)pub->values;
  if (s->list_rows == 0) pub->list_min_len = 0;
  pub->list_mean_len = s->list_rows ? (double)s->list_len_sum / (double)s->list_rows : 0.0;
  if (pub->has_range && (pub->type == RK_COL_STRING || pub->elem_type == RK_COL_STRING)) {
    pub->min_s = rk_strdup(s->min_s);
    pub->max_s = rk_strdup(s->max_s);
  }
  top_slot sorted[TOP_SLOTS];
  if (s->ntop_slots) {
    memcpy(sorted, s->top, sizeof(top_slot) * (size_t)s->ntop_slots);
    qsort(sorted, (size_t)s->ntop_slots, sizeof(top_slot), by_count);
  }
  pub->top_exact = !s->evicted;
  for (int i = 0; i < s->ntop_slots && pub->ntop < RK_PROFILE_TOP; i++) {
    /* After evictions a count is only an upper bound (count - error <= true <= count): show a
     * value only when its guaranteed part outweighs the uncertainty, so a high-cardinality
     * column shows no made-up favourites. */
    if (sorted[i].count - sorted[i].error <= sorted[i].error) continue;
    char *text = rk_strdup(sorted[i].text);
    if (!text) break;   /* out of memory: show fewer values */
    pub->top_value[pub->ntop] = text;
    pub->top_count[pub->ntop++] = sorted[i].count;
  }
  return pub;
}
