/*
 * Encoding one reckon column (one row group's worth) as a Parquet column chunk: definition and
 * repetition levels, dictionary encoding with a fallback to PLAIN when the dictionary passes
 * its size limit, pages of about page_bytes (v1, or v2 on request), compression, each page's
 * CRC32 (unless turned off), and the chunk's min/max/null_count statistics. It is not file
 * assembly (writer.c) and writes no DELTA or BYTE_STREAM_SPLIT pages.
 *
 * Follows apache/parquet-format README.md (pages, "Nested Encoding"), Encodings.md (PLAIN,
 * RLE_DICTIONARY, the RLE hybrid for levels), LogicalTypes.md ("Lists": the 3-level form) and
 * parquet.thrift's Statistics and ColumnOrder notes (signed/unsigned/bytewise order, NaN left
 * out of min/max, -0.0 as the min zero and +0.0 as the max zero).
 * The dictionary decision is made for the whole chunk: if its PLAIN size passes the limit the
 * chunk is written PLAIN (pyarrow instead switches mid-chunk; the files read the same).
 * Speed: the dictionary of a fixed-width column hashes the values' PLAIN bits as one 64-bit key
 * (open addressing), 8- and 16-bit columns index a table by value; statistics take one typed
 * pass; indices bit-pack 8 at a time; buffers come from rk_pq_encode_scratch (per worker, kept
 * by the writer).
 */
#include <math.h>
#include <string.h>
#include <zlib.h>

#include "io/parquet/parquet_internal.h"

void rk_pq_schema_for(rk_pq_out_schema *leaf, rk_coltype type) {
  leaf->type = RK_PQ_INT32;
  leaf->converted = -1;
  leaf->logical = 0;
  leaf->int_bits = 0;
  leaf->int_signed = true;
  leaf->type_length = leaf->scale = leaf->precision = 0;
  switch (type) {
    case RK_COL_INT8: leaf->int_bits = 8; leaf->converted = RK_CT_INT_8; break;
    case RK_COL_INT16: leaf->int_bits = 16; leaf->converted = RK_CT_INT_16; break;
    case RK_COL_INT32: break;
    case RK_COL_UINT8: leaf->int_bits = 8; leaf->int_signed = false; leaf->converted = RK_CT_UINT_8; break;
    case RK_COL_UINT16: leaf->int_bits = 16; leaf->int_signed = false; leaf->converted = RK_CT_UINT_16; break;
    case RK_COL_UINT32: leaf->int_bits = 32; leaf->int_signed = false; leaf->converted = RK_CT_UINT_32; break;
    case RK_COL_INT64: leaf->type = RK_PQ_INT64; break;
    case RK_COL_UINT64:
      leaf->type = RK_PQ_INT64;
      leaf->int_bits = 64;
      leaf->int_signed = false;
      leaf->converted = RK_CT_UINT_64;
      break;
    case RK_COL_FLOAT32: leaf->type = RK_PQ_FLOAT; break;
    case RK_COL_FLOAT64: leaf->type = RK_PQ_DOUBLE; break;
    case RK_COL_STRING:
      leaf->type = RK_PQ_BYTE_ARRAY;
      leaf->converted = RK_CT_UTF8;
      leaf->logical = RK_LT_STRING;
      break;
    default: break;
  }
  if (leaf->int_bits) leaf->logical = RK_LT_INTEGER;
}

/* ---- values ------------------------------------------------------------------------------- */
/* The bytes of value i as stored in PLAIN (strings: without the length). */
static const uint8_t *value_bytes(const rk_column *leaf, int64_t i, size_t *n, uint8_t tmp[8]) {
  switch (leaf->type) {
    case RK_COL_STRING:
      *n = (size_t)(leaf->offsets[i + 1] - leaf->offsets[i]);
      return (const uint8_t *)leaf->values + leaf->offsets[i];
    case RK_COL_INT8:
    case RK_COL_INT16:
    case RK_COL_UINT8:
    case RK_COL_UINT16: {
      int64_t v = rk_column_get_int(leaf, i);
      uint32_t u = (uint32_t)(int32_t)v;
      for (int k = 0; k < 4; k++) tmp[k] = (uint8_t)(u >> (8 * k));
      *n = 4;
      return tmp;
    }
    default: {
      size_t w = rk_coltype_width(leaf->type);
      *n = w;
      return (const uint8_t *)leaf->values + (size_t)i * w;   /* little-endian machine */
    }
  }
}

static void put_plain(rk_parquet_buf *b, const rk_column *leaf, int64_t i) {
  uint8_t tmp[8];
  size_t n;
  const uint8_t *p = value_bytes(leaf, i, &n, tmp);
  if (leaf->type == RK_COL_STRING) rk_parquet_put_u32le(b, (uint32_t)n);
  rk_parquet_buf_put(b, p, n);
}

/* Values [k0, k0 + n) of the chunk (rows: their leaf indexes, or NULL for k0 + j) as PLAIN. */
static void put_plain_values(rk_parquet_buf *b, const rk_column *leaf, const int64_t *rows, int64_t k0, int64_t n) {
  size_t w = rk_coltype_width(leaf->type);
  if (leaf->type == RK_COL_STRING || n == 0) {
    for (int64_t j = 0; j < n; j++) put_plain(b, leaf, rows ? rows[j] : k0 + j);
    return;
  }
  size_t out_w = w < 4 ? 4 : w;
  if (!rk_parquet_buf_reserve(b, (size_t)n * out_w)) return;
  uint8_t *o = b->data + b->len;
  if (w >= 4 && !rows) {
    memcpy(o, (const char *)leaf->values + (size_t)k0 * w, (size_t)n * w);
  } else if (w >= 4) {
    const char *v = leaf->values;
    for (int64_t j = 0; j < n; j++) memcpy(o + (size_t)j * w, v + (size_t)rows[j] * w, w);
  } else {
    for (int64_t j = 0; j < n; j++) {
      int64_t i = rows ? rows[j] : k0 + j;
      uint32_t u;
      switch (leaf->type) {
        case RK_COL_INT8: u = (uint32_t)(int32_t)((const int8_t *)leaf->values)[i]; break;
        case RK_COL_INT16: u = (uint32_t)(int32_t)((const int16_t *)leaf->values)[i]; break;
        case RK_COL_UINT8: u = ((const uint8_t *)leaf->values)[i]; break;
        default: u = ((const uint16_t *)leaf->values)[i]; break;
      }
      memcpy(o + 4 * (size_t)j, &u, 4);
    }
  }
  b->len += (size_t)n * out_w;
}

static size_t plain_size(const rk_column *leaf, int64_t i) {
  if (leaf->type == RK_COL_STRING) return 4 + (size_t)(leaf->offsets[i + 1] - leaf->offsets[i]);
  size_t w = rk_coltype_width(leaf->type);
  return w < 4 ? 4 : w;
}

/* ---- scratch ------------------------------------------------------------------------------ */
static bool grow(void **p, int64_t *cap, int64_t need, size_t elem) {
  if (need <= *cap) return true;
  int64_t c = *cap + *cap / 2 > need ? *cap + *cap / 2 : need;
  void *n = rk_realloc(*p, (size_t)c * elem);   /* realloc: the buffer stays in its first arena */
  if (!n) return false;
  *p = n;
  *cap = c;
  rk_pq_advise_huge(n, (size_t)c * elem);
  return true;
}

/* Like grow, for contents that need not survive (no copy). */
static bool grow_fresh(void **p, int64_t *cap, int64_t need) {
  if (need <= *cap) return true;
  rk_free(*p);
  *cap = 0;
  if (!(*p = rk_malloc((size_t)need))) return false;
  *cap = need;
  rk_pq_advise_huge(*p, (size_t)need);
  return true;
}

rk_status rk_pq_encode_scratch_reserve(rk_pq_encode_scratch *s, int64_t rows, const rk_pq_write_config *cfg) {
  int64_t page = cfg->page_bytes + 4096, dict = cfg->dictionary_bytes + 4096;
  int64_t slots = 1;   /* the table for the largest dictionary: a power of two, at most half full */
  while (slots < 2 * (rows < dict / 4 ? rows : dict / 4) + 2) slots *= 2;
  bool ok = grow((void **)&s->idx, &s->idx_cap, rows + 1, sizeof *s->idx) &&
            grow((void **)&s->vrows, &s->vrows_cap, rows + 1, sizeof *s->vrows) &&
            grow(&s->dense, &s->dense_cap, (rows + 1) * 8, 1) &&
            grow((void **)&s->lev, &s->lev_cap, 2 * (rows < page ? rows : page) + 2, sizeof *s->lev) &&
            grow(&s->slots, &s->slots_cap, slots * 4 > 65536 * 4 ? slots * 4 : 65536 * 4, 1) &&
            grow((void **)&s->keys, &s->keys_cap, slots / 2 + 1, sizeof *s->keys) &&
            rk_parquet_buf_reserve(&s->body, (size_t)(page > dict ? page : dict)) &&
            rk_parquet_buf_reserve(&s->packed, (size_t)(page > dict ? page : dict) * 7 / 6 + 4096) &&
            rk_parquet_buf_reserve(&s->vals, (size_t)(page > dict ? page : dict)) && rk_parquet_buf_reserve(&s->levels, (size_t)rows / 4 + 64);
  return ok ? RK_OK : RK_ENOMEM;
}

void rk_pq_encode_scratch_free(rk_pq_encode_scratch *s) {
  rk_free(s->idx);
  rk_free(s->vrows);
  rk_free(s->dense);
  rk_free(s->lev);
  rk_free(s->slots);
  rk_free(s->keys);
  rk_parquet_buf_free(&s->body);
  rk_parquet_buf_free(&s->levels);
  rk_parquet_buf_free(&s->packed);
  rk_parquet_buf_free(&s->vals);
  memset(s, 0, sizeof *s);
}

/* ---- fixed-width values as 64-bit keys -----------------------------------------------------
 * The PLAIN bytes of a fixed-width value (small integers widened to INT32) read as one little-
 * endian integer: equal keys mean equal PLAIN bytes, which is what the dictionary needs. */
/* Keys of values [k0, k0 + n): rows[k] (rows non-NULL) or k0 + k. */
static void fixed_keys(uint64_t *key, const rk_column *leaf, const int64_t *rows, int64_t k0, int64_t n) {
#define KEYS(T, EXPR)                                                          \
  do {                                                                         \
    const T *v = leaf->values;                                                 \
    if (rows)                                                                  \
      for (int64_t k = 0; k < n; k++) { T x = v[rows[k]]; key[k] = (EXPR); }   \
    else                                                                       \
      for (int64_t k = 0; k < n; k++) { T x = v[k0 + k]; key[k] = (EXPR); }    \
  } while (0)
  switch (leaf->type) {
    case RK_COL_INT8: KEYS(int8_t, (uint32_t)(int32_t)x); break;
    case RK_COL_INT16: KEYS(int16_t, (uint32_t)(int32_t)x); break;
    case RK_COL_UINT8: KEYS(uint8_t, x); break;
    case RK_COL_UINT16: KEYS(uint16_t, x); break;
    case RK_COL_INT32:
    case RK_COL_UINT32:
    case RK_COL_FLOAT32: KEYS(uint32_t, x); break;
    default: KEYS(uint64_t, x); break;   /* int64, uint64, float64 */
  }
#undef KEYS
}

/* ---- dictionary --------------------------------------------------------------------------- */
typedef struct {
  int32_t *slots;      /* hash table of entry ids, -1 empty */
  int64_t nslots;
  int64_t *entries;    /* leaf index of each entry's first occurrence */
  int64_t n, cap;
  size_t bytes;        /* PLAIN size of the entries */
} dictionary;

static uint64_t hash_bytes(const uint8_t *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull ^ n;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
  return h ^ (h >> 29);
}

static void dict_free(dictionary *d) {
  rk_free(d->slots);
  rk_free(d->entries);
  memset(d, 0, sizeof *d);
}

/* Fixed-width columns: open addressing (Fibonacci hashing, linear probing) over the values'
 * 64-bit keys; a slot holds an entry id (4 bytes: a small table) and the entries' keys sit in
 * one array, from which a rehash rebuilds the table. Same entries, order and limit as
 * dict_build_bytes. */
static rk_status dict_build_fixed(dictionary *d, rk_pq_encode_scratch *sc, uint32_t *idx, bool *ok, const rk_column *leaf,
                                  const int64_t *rows, int64_t n, size_t value_size, int64_t limit) {
  enum { BLOCK = 2048 };
  uint64_t key[BLOCK];   /* the keys of values [base, base + BLOCK), made a block at a time */
  int64_t base = -BLOCK;
  memset(d, 0, sizeof *d);
  *ok = false;
  int bits = 10;
  int64_t nslots = (int64_t)1 << bits;
  if (!grow_fresh(&sc->slots, &sc->slots_cap, nslots * (int64_t)sizeof(int32_t))) return RK_ENOMEM;
  int32_t *slots = sc->slots;
  memset(slots, 0xff, (size_t)nslots * sizeof *slots);
  uint64_t *keys = sc->keys;
  rk_status s = RK_OK;
  int64_t k = 0;
  for (; k < n; k++) {
    if (k - base == BLOCK) {
      base = k;
      fixed_keys(key, leaf, rows ? rows + base : NULL, base, n - base < BLOCK ? n - base : BLOCK);
    }
    uint64_t x = key[k - base];
    uint64_t t = (x * 0x9e3779b97f4a7c15ull) >> (64 - bits);
    int32_t e;
    while ((e = slots[t]) >= 0 && keys[e] != x) t = (t + 1) & (uint64_t)(nslots - 1);
    if (e >= 0) {
      idx[k] = (uint32_t)e;
      continue;
    }
    d->bytes += value_size;
    if ((int64_t)d->bytes > limit || d->n >= INT32_MAX / 2) break;   /* too large: PLAIN */
    if (d->n == d->cap) {
      int64_t cap = d->cap ? d->cap * 2 : 256;
      int64_t *en = rk_realloc(d->entries, (size_t)cap * sizeof *en);
      if (!en) {
        s = RK_ENOMEM;
        break;
      }
      d->entries = en;
      d->cap = cap;
    }
    if (!grow((void **)&sc->keys, &sc->keys_cap, d->n + 1, sizeof *keys)) {
      s = RK_ENOMEM;
      break;
    }
    keys = sc->keys;
    d->entries[d->n] = rows ? rows[k] : k;
    keys[d->n] = x;
    slots[t] = (int32_t)d->n;
    idx[k] = (uint32_t)d->n++;
    if (d->n * 2 > nslots) {   /* grow and rebuild from the keys */
      bits++;
      nslots = (int64_t)1 << bits;
      if (!grow_fresh(&sc->slots, &sc->slots_cap, nslots * (int64_t)sizeof(int32_t))) {
        s = RK_ENOMEM;
        break;
      }
      slots = sc->slots;
      memset(slots, 0xff, (size_t)nslots * sizeof *slots);
      for (int64_t u = 0; u < d->n; u++) {
        uint64_t v = (keys[u] * 0x9e3779b97f4a7c15ull) >> (64 - bits);
        while (slots[v] >= 0) v = (v + 1) & (uint64_t)(nslots - 1);
        slots[v] = (int32_t)u;
      }
    }
  }
  if (s == RK_OK && k == n) *ok = true;
  return s;
}

/* 8- and 16-bit columns: a table indexed by the value itself (no hashing). Same entries, order
 * and limit as dict_build_fixed. */
static rk_status dict_build_small(dictionary *d, rk_pq_encode_scratch *sc, uint32_t *idx, bool *ok, const rk_column *leaf,
                                  const int64_t *rows, int64_t n, int64_t limit) {
  memset(d, 0, sizeof *d);
  *ok = false;
  bool wide = rk_coltype_width(leaf->type) == 2;
  int64_t range = wide ? 65536 : 256;
  if (!grow_fresh(&sc->slots, &sc->slots_cap, range * (int64_t)sizeof(int32_t))) return RK_ENOMEM;
  int32_t *id = sc->slots;
  memset(id, 0xff, (size_t)range * sizeof *id);
  const uint8_t *v8 = leaf->values;
  const uint16_t *v16 = leaf->values;
  for (int64_t k = 0; k < n; k++) {
    int64_t i = rows ? rows[k] : k;
    uint32_t x = wide ? v16[i] : v8[i];
    if (id[x] >= 0) {
      idx[k] = (uint32_t)id[x];
      continue;
    }
    d->bytes += 4;
    if ((int64_t)d->bytes > limit) return RK_OK;   /* too large: PLAIN */
    if (d->n == d->cap) {
      int64_t cap = d->cap ? d->cap * 2 : 256;
      int64_t *e = rk_realloc(d->entries, (size_t)cap * sizeof *e);
      if (!e) return RK_ENOMEM;
      d->entries = e;
      d->cap = cap;
    }
    d->entries[d->n] = i;
    id[x] = (int32_t)d->n;
    idx[k] = (uint32_t)d->n++;
  }
  *ok = true;
  return RK_OK;
}

/* Build the dictionary and each value's index; false (no error) when it grows past `limit`. */
static rk_status dict_build_bytes(dictionary *d, uint32_t *idx, bool *ok, const rk_column *leaf, const int64_t *rows, int64_t n,
                            int64_t limit) {
  memset(d, 0, sizeof *d);
  *ok = false;
  d->nslots = 1024;
  d->slots = rk_malloc((size_t)d->nslots * sizeof *d->slots);
  if (!d->slots) return RK_ENOMEM;
  memset(d->slots, 0xff, (size_t)d->nslots * sizeof *d->slots);
  for (int64_t k = 0; k < n; k++) {
    int64_t i = rows ? rows[k] : k;
    uint8_t tmp[8], tmp2[8];
    size_t len, len2;
    const uint8_t *p = value_bytes(leaf, i, &len, tmp);
    uint64_t h = hash_bytes(p, len);
    int64_t s = (int64_t)(h & (uint64_t)(d->nslots - 1));
    for (;;) {
      int32_t e = d->slots[s];
      if (e < 0) break;
      const uint8_t *q = value_bytes(leaf, d->entries[e], &len2, tmp2);
      if (len2 == len && memcmp(p, q, len) == 0) break;
      s = (s + 1) & (d->nslots - 1);
    }
    if (d->slots[s] < 0) {
      d->bytes += plain_size(leaf, i);
      if ((int64_t)d->bytes > limit || d->n >= INT32_MAX / 2) return RK_OK;   /* too large: PLAIN */
      if (d->n == d->cap) {
        int64_t cap = d->cap ? d->cap * 2 : 256;
        int64_t *e = rk_realloc(d->entries, (size_t)cap * sizeof *e);
        if (!e) return RK_ENOMEM;
        d->entries = e;
        d->cap = cap;
      }
      d->entries[d->n] = i;
      d->slots[s] = (int32_t)d->n++;
      if (d->n * 2 > d->nslots) {   /* grow and rehash */
        int64_t ns = d->nslots * 2;
        int32_t *sl = rk_malloc((size_t)ns * sizeof *sl);
        if (!sl) return RK_ENOMEM;
        memset(sl, 0xff, (size_t)ns * sizeof *sl);
        for (int64_t e = 0; e < d->n; e++) {
          size_t l;
          const uint8_t *q = value_bytes(leaf, d->entries[e], &l, tmp2);
          int64_t t = (int64_t)(hash_bytes(q, l) & (uint64_t)(ns - 1));
          while (sl[t] >= 0) t = (t + 1) & (ns - 1);
          sl[t] = (int32_t)e;
        }
        rk_free(d->slots);
        d->slots = sl;
        d->nslots = ns;
      }
      idx[k] = (uint32_t)(d->n - 1);
    } else {
      idx[k] = (uint32_t)d->slots[s];
    }
  }
  *ok = true;
  return RK_OK;
}

/* ---- statistics --------------------------------------------------------------------------- */
static int compare(const rk_column *leaf, int64_t a, int64_t b) {
  switch (leaf->type) {
    case RK_COL_STRING: {
      size_t la, lb;
      const char *x = rk_column_get_string(leaf, a, &la), *y = rk_column_get_string(leaf, b, &lb);
      int c = memcmp(x, y, la < lb ? la : lb);
      return c ? c : (la < lb ? -1 : la > lb);
    }
    case RK_COL_UINT64:
    case RK_COL_UINT32:
    case RK_COL_UINT16:
    case RK_COL_UINT8: {
      uint64_t x = (uint64_t)rk_column_get_int(leaf, a), y = (uint64_t)rk_column_get_int(leaf, b);
      return x < y ? -1 : x > y;
    }
    case RK_COL_FLOAT32:
    case RK_COL_FLOAT64: {
      double x = rk_column_get_double(leaf, a), y = rk_column_get_double(leaf, b);
      return x < y ? -1 : x > y;
    }
    default: {
      int64_t x = rk_column_get_int(leaf, a), y = rk_column_get_int(leaf, b);
      return x < y ? -1 : x > y;
    }
  }
}

/* min/max are copied into meta->min_owned / max_owned (the writer frees them). */
/* The first positions (k, not rows) of the min and max of fixed-width values in one typed pass;
 * NaN is left out (-1, -1 when nothing is left). */
static void fixed_min_max(int64_t *lo, int64_t *hi, const rk_column *leaf, const int64_t *rows, int64_t n) {
  *lo = *hi = -1;
#define MINMAX(T)                                                                 \
  do {                                                                            \
    const T *v = leaf->values;                                                    \
    T mn = 0, mx = 0;                                                             \
    for (int64_t k = 0; k < n; k++) {                                             \
      T x = v[rows ? rows[k] : k];                                                \
      if (x != x) continue; /* NaN */                                             \
      if (*lo < 0 || x < mn) mn = x, *lo = k;                                     \
      if (*hi < 0 || x > mx) mx = x, *hi = k;                                     \
    }                                                                             \
  } while (0)
  switch (leaf->type) {
    case RK_COL_INT8: MINMAX(int8_t); break;
    case RK_COL_INT16: MINMAX(int16_t); break;
    case RK_COL_INT32: MINMAX(int32_t); break;
    case RK_COL_INT64: MINMAX(int64_t); break;
    case RK_COL_UINT8: MINMAX(uint8_t); break;
    case RK_COL_UINT16: MINMAX(uint16_t); break;
    case RK_COL_UINT32: MINMAX(uint32_t); break;
    case RK_COL_UINT64: MINMAX(uint64_t); break;
    case RK_COL_FLOAT32: MINMAX(float); break;
    case RK_COL_FLOAT64: MINMAX(double); break;
    default: break;
  }
#undef MINMAX
}

static rk_status set_stats(rk_pq_out_chunk *meta, const rk_column *leaf, const int64_t *rows, int64_t n, int64_t nulls) {
  meta->has_stats = true;
  meta->stats.has_null_count = true;
  meta->stats.null_count = nulls;
  int64_t lo = -1, hi = -1;
  bool is_float = rk_coltype_is_float(leaf->type);
  if (leaf->type != RK_COL_STRING) {
    fixed_min_max(&lo, &hi, leaf, rows, n);
    if (lo >= 0 && rows) lo = rows[lo], hi = rows[hi];
    n = 0;   /* done */
  }
  for (int64_t k = 0; k < n; k++) {
    int64_t i = rows ? rows[k] : k;
    if (is_float && isnan(rk_column_get_double(leaf, i))) continue;
    if (lo < 0 || compare(leaf, i, lo) < 0) lo = i;
    if (hi < 0 || compare(leaf, i, hi) > 0) hi = i;
  }
  if (lo < 0) return RK_OK;
  size_t n1, n2;
  uint8_t t1[8], t2[8];
  const uint8_t *a = value_bytes(leaf, lo, &n1, t1), *b = value_bytes(leaf, hi, &n2, t2);
  meta->min_owned = rk_malloc(n1 ? n1 : 1);
  meta->max_owned = rk_malloc(n2 ? n2 : 1);
  if (!meta->min_owned || !meta->max_owned) return RK_ENOMEM;
  if (n1) memcpy(meta->min_owned, a, n1);
  if (n2) memcpy(meta->max_owned, b, n2);
  if (is_float) {   /* zeros: -0.0 as the min, +0.0 as the max */
    if (rk_column_get_double(leaf, lo) == 0.0) {
      if (leaf->type == RK_COL_FLOAT32) { float z = -0.0f; memcpy(meta->min_owned, &z, 4); }
      else { double z = -0.0; memcpy(meta->min_owned, &z, 8); }
    }
    if (rk_column_get_double(leaf, hi) == 0.0) memset(meta->max_owned, 0, n2);
  }
  meta->stats.min = meta->min_owned, meta->stats.min_len = n1;
  meta->stats.max = meta->max_owned, meta->stats.max_len = n2;
  meta->stats.has_min = meta->stats.has_max = true;
  return RK_OK;
}

/* ---- pages -------------------------------------------------------------------------------- */
typedef struct {
  rk_parquet_buf *out;
  rk_pq_out_chunk *meta;
  const rk_pq_write_config *cfg;
  int64_t at;
  rk_parquet_buf *body, *levels, *packed;   /* the scratch's */
} writer_state;

static rk_status emit_page(writer_state *w, rk_pq_page_header *h, const uint8_t *levels, size_t nlev, const uint8_t *values,
                           size_t nval) {
  /* v1: levels and values compressed together; v2: only the values */
  rk_parquet_buf *body = w->body;
  body->len = 0;
  if (h->type != RK_PQ_PAGE_DATA_V2) rk_parquet_buf_put(body, levels, nlev);
  rk_parquet_buf_put(body, values, nval);
  if (body->failed) return RK_ENOMEM;
  w->packed->len = 0;
  RK_TRY(rk_pq_compress(w->cfg->codec, w->cfg->level, w->packed, body->data, body->len));
  size_t usize = body->len + (h->type == RK_PQ_PAGE_DATA_V2 ? nlev : 0);
  size_t csize = w->packed->len + (h->type == RK_PQ_PAGE_DATA_V2 ? nlev : 0);
  if (usize > INT32_MAX || csize > INT32_MAX) return rk_error(RK_ERANGE, "page of %zu bytes is too large", usize);
  h->uncompressed_size = (int32_t)usize;
  h->compressed_size = (int32_t)csize;
  if (w->cfg->page_checksums) {   /* over the page's bytes as stored, after the header (v2: levels, then values) */
    uLong crc = crc32(0L, Z_NULL, 0);
    if (h->type == RK_PQ_PAGE_DATA_V2 && nlev > 0) crc = crc32_z(crc, levels, nlev);
    if (w->packed->len > 0) crc = crc32_z(crc, w->packed->data, w->packed->len);
    h->has_crc = true;
    h->crc = (uint32_t)crc;
  }
  size_t before = w->out->len;
  rk_pq_page_header_write(w->out, h);
  size_t hlen = w->out->len - before;
  if (h->type == RK_PQ_PAGE_DATA_V2) rk_parquet_buf_put(w->out, levels, nlev);
  rk_parquet_buf_put(w->out, w->packed->data, w->packed->len);
  if (w->out->failed) return RK_ENOMEM;
  w->meta->total_uncompressed += (int64_t)(hlen + usize);
  w->meta->total_compressed += (int64_t)(hlen + csize);
  return RK_OK;
}

static void put_levels(writer_state *w, const uint32_t *lev, int64_t n, int max, bool v1) {
  if (max == 0) return;
  size_t mark = w->levels->len;
  if (v1) rk_parquet_put_u32le(w->levels, 0);
  size_t start = w->levels->len;
  rk_pq_rle_encode(w->levels, lev, n, rk_pq_bit_width((uint64_t)max));
  if (v1 && !w->levels->failed) {
    uint32_t len = (uint32_t)(w->levels->len - start);
    for (int k = 0; k < 4; k++) w->levels->data[mark + (size_t)k] = (uint8_t)(len >> (8 * k));
  }
}

static rk_status chunk_encode(rk_parquet_buf *out, rk_pq_out_chunk *meta, const rk_column *col, const rk_pq_write_config *cfg,
                              int64_t at, rk_pq_encode_scratch *sc);

rk_status rk_pq_chunk_encode(rk_parquet_buf *out, rk_pq_out_chunk *meta, const rk_column *col, const rk_pq_write_config *cfg,
                             int64_t at, rk_pq_encode_scratch *scratch) {
  rk_pq_encode_scratch own;
  memset(&own, 0, sizeof own);
  rk_pq_encode_scratch *sc = scratch ? scratch : &own;
  rk_status s = chunk_encode(out, meta, col, cfg, at, sc);
  rk_pq_encode_scratch_free(&own);
  return s;
}

static rk_status chunk_encode(rk_parquet_buf *out, rk_pq_out_chunk *meta, const rk_column *col, const rk_pq_write_config *cfg,
                              int64_t at, rk_pq_encode_scratch *sc) {
  bool is_list = col->type == RK_COL_LIST;
  const rk_column *leaf = is_list ? col->child : col;
  rk_column dense;   /* a flat fixed-width column with nulls: its values without the null slots */
  int max_def = is_list ? 2 : 1, max_rep = is_list ? 1 : 0;
  if (is_list && leaf->null_count > 0)
    return rk_error(RK_EUNSUPPORTED, "unsupported: null elements in list column '%s'", col->name ? col->name : "");
  int64_t rows = col->length;
  /* the leaf values to write, in order: flat columns skip null rows */
  int64_t nvals = is_list ? col->offsets[rows] - col->offsets[0] : rows - col->null_count;
  int64_t *vrows = NULL;   /* flat with nulls: leaf index of each value */
  uint32_t *idx = NULL;
  dictionary dict;
  memset(&dict, 0, sizeof dict);
  writer_state w;
  memset(&w, 0, sizeof w);
  w.out = out, w.meta = meta, w.cfg = cfg, w.at = at;
  w.body = &sc->body, w.levels = &sc->levels, w.packed = &sc->packed;
  rk_status s = RK_OK;
  int64_t v0 = is_list ? col->offsets[0] : 0;
  size_t width = rk_coltype_width(leaf->type);
  if (!is_list && col->null_count > 0 && width > 0) {
    if (!grow((void **)&sc->dense, &sc->dense_cap, (nvals + 1) * (int64_t)width, 1)) return RK_ENOMEM;
    memset(&dense, 0, sizeof dense);
    dense.type = leaf->type;
    dense.length = dense.cap_rows = nvals;
    dense.values = sc->dense;
    char *dst = sc->dense;
    const char *src = leaf->values;
    int64_t k = 0;
    for (int64_t i = 0; i < rows; i++)
      if (!rk_column_is_null(col, i)) memcpy(dst + (size_t)k++ * width, src + (size_t)i * width, width);
    leaf = &dense;
  } else if (!is_list && col->null_count > 0) {
    if (!grow((void **)&sc->vrows, &sc->vrows_cap, nvals + 1, sizeof *sc->vrows)) return RK_ENOMEM;
    vrows = sc->vrows;
    int64_t k = 0;
    for (int64_t i = 0; i < rows; i++)
      if (!rk_column_is_null(col, i)) vrows[k++] = i;
  } else if (is_list && v0 != 0) {
    if (!grow((void **)&sc->vrows, &sc->vrows_cap, nvals + 1, sizeof *sc->vrows)) return RK_ENOMEM;
    vrows = sc->vrows;
    for (int64_t k = 0; k < nvals; k++) vrows[k] = v0 + k;
  }
  meta->total_uncompressed = meta->total_compressed = 0;
  meta->dictionary_page_offset = -1;
  meta->codec = cfg->codec;
  bool use_dict = false;
  if (cfg->dictionary && nvals > 0) {
    if (!grow((void **)&sc->idx, &sc->idx_cap, nvals, sizeof *sc->idx)) s = RK_ENOMEM;
    idx = sc->idx;
    if (s == RK_OK && leaf->type != RK_COL_STRING && rk_coltype_width(leaf->type) <= 2) {
      s = dict_build_small(&dict, sc, idx, &use_dict, leaf, vrows, nvals, cfg->dictionary_bytes);
    } else if (s == RK_OK && leaf->type != RK_COL_STRING) {
      size_t w = rk_coltype_width(leaf->type);
      s = dict_build_fixed(&dict, sc, idx, &use_dict, leaf, vrows, nvals, w < 4 ? 4 : w, cfg->dictionary_bytes);
    } else if (s == RK_OK) {
      s = dict_build_bytes(&dict, idx, &use_dict, leaf, vrows, nvals, cfg->dictionary_bytes);
    }
  }
  if (s == RK_OK && cfg->statistics) {
    int64_t nulls = 0;
    if (is_list) {
      for (int64_t r = 0; r < rows; r++)
        if (rk_column_is_null(col, r) || col->offsets[r + 1] == col->offsets[r]) nulls++;
    } else {
      nulls = col->null_count;
    }
    s = set_stats(meta, leaf, vrows, nvals, nulls);
  }
  /* dictionary page */
  if (s == RK_OK && use_dict) {
    meta->dictionary_page_offset = at + (int64_t)out->len;
    rk_parquet_buf *vals = &sc->vals;
    vals->len = 0;
    for (int64_t e = 0; e < dict.n; e++) put_plain(vals, leaf, dict.entries[e]);
    rk_pq_page_header h = {0};
    h.type = RK_PQ_PAGE_DICTIONARY;
    h.dict_num_values = (int32_t)dict.n;
    h.encoding = RK_PQ_ENC_PLAIN;
    s = vals->failed ? RK_ENOMEM : emit_page(&w, &h, NULL, 0, vals->data, vals->len);
  }
  meta->data_page_offset = at + (int64_t)out->len;
  /* data pages: rows [r0, r1) */
  int64_t slots_total = 0;
  int64_t r0 = 0, vk = 0;
  rk_parquet_buf *vb = &sc->vals;
  while (s == RK_OK && r0 < rows) {
    int64_t r1 = r0, bytes = 0, nslots = 0, nv = 0;
    if (!is_list && col->null_count == 0 && leaf->type != RK_COL_STRING) {   /* every row a value of one size */
      int64_t vs = (int64_t)plain_size(leaf, 0), take = (cfg->page_bytes + vs - 1) / vs;
      if (take < 1) take = 1;
      r1 = rows - r0 < take ? rows : r0 + take;
      nslots = nv = r1 - r0;
      bytes = nv * vs;
    }
    while (r1 < rows && (bytes < cfg->page_bytes || r1 == r0)) {
      if (is_list) {
        int64_t len = rk_column_is_null(col, r1) ? 0 : col->offsets[r1 + 1] - col->offsets[r1];
        nslots += len > 0 ? len : 1;
        for (int64_t e = 0; e < len; e++) bytes += (int64_t)plain_size(leaf, col->offsets[r1] + e);
        nv += len;
      } else {
        nslots++;
        if (!rk_column_is_null(col, r1)) {
          bytes += (int64_t)plain_size(leaf, r1);
          nv++;
        }
      }
      r1++;
    }
    if (nslots > INT32_MAX / 2) {
      s = rk_error(RK_ERANGE, "page of %lld values is too large", (long long)nslots);
      break;
    }
    if (!grow((void **)&sc->lev, &sc->lev_cap, nslots * 2, sizeof *sc->lev)) {
      s = RK_ENOMEM;
      break;
    }
    uint32_t *rep = sc->lev, *def = sc->lev + nslots;
    int64_t k = 0;
    for (int64_t r = r0; r < r1; r++) {
      if (is_list) {
        bool null = rk_column_is_null(col, r);
        int64_t len = null ? 0 : col->offsets[r + 1] - col->offsets[r];
        if (len == 0) {
          rep[k] = 0;
          def[k++] = null ? 0 : 1;
        }
        for (int64_t e = 0; e < len; e++) {
          rep[k] = e == 0 ? 0 : 1;
          def[k++] = 2;
        }
      } else {
        rep[k] = 0;
        def[k++] = col->validity ? (uint32_t)(col->validity[r >> 3] >> (r & 7) & 1) : 1;
      }
    }
    bool v1 = !cfg->page_v2;
    w.levels->len = 0;
    put_levels(&w, rep, nslots, max_rep, v1);
    size_t rep_bytes = w.levels->len;
    put_levels(&w, def, nslots, max_def, v1);
    size_t def_bytes = w.levels->len - rep_bytes;
    vb->len = 0;
    if (use_dict) {
      int bw = rk_pq_bit_width(dict.n > 1 ? (uint64_t)(dict.n - 1) : 0);
      if (bw == 0) bw = 1;
      rk_parquet_buf_byte(vb, (uint8_t)bw);
      rk_pq_rle_encode(vb, idx + vk, nv, bw);
    } else {
      put_plain_values(vb, leaf, vrows ? vrows + vk : NULL, vk, nv);
    }
    if (vb->failed || w.levels->failed) {
      s = RK_ENOMEM;
      break;
    }
    rk_pq_page_header h = {0};
    h.type = v1 ? RK_PQ_PAGE_DATA : RK_PQ_PAGE_DATA_V2;
    h.num_values = (int32_t)nslots;
    h.num_nulls = (int32_t)(nslots - nv);
    h.num_rows = (int32_t)(r1 - r0);
    h.encoding = use_dict ? RK_PQ_ENC_RLE_DICTIONARY : RK_PQ_ENC_PLAIN;
    h.def_encoding = h.rep_encoding = RK_PQ_ENC_RLE;
    h.rep_bytes = (int32_t)rep_bytes;
    h.def_bytes = (int32_t)def_bytes;
    h.is_compressed = true;
    s = emit_page(&w, &h, w.levels->data, w.levels->len, vb->data, vb->len);
    slots_total += nslots;
    vk += nv;
    r0 = r1;
  }
  meta->num_values = slots_total;
  rk_pq_out_schema phys;
  rk_pq_schema_for(&phys, leaf->type);
  meta->type = phys.type;
  meta->nencodings = 0;
  meta->encodings[meta->nencodings++] = RK_PQ_ENC_PLAIN;
  meta->encodings[meta->nencodings++] = RK_PQ_ENC_RLE;
  if (use_dict) meta->encodings[meta->nencodings++] = RK_PQ_ENC_RLE_DICTIONARY;
  dict_free(&dict);
  return s;
}
