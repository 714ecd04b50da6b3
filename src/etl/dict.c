/*
 * Dictionaries: the distinct values of one column, numbered 0, 1, 2, ... in order of first
 * insertion (reckon/etl.h). This is the hot loop of preprocessing (every categorical column of
 * 10M-100M rows goes through it), so the layout is chosen for the cache:
 *
 *   values   dense arrays indexed by value number: keys (int bits or canonical double bits), or,
 *            for strings, one growing byte buffer with int64 offsets and each value's XXH3 hash
 *   table    open addressing with linear probing over a power-of-two array of int32 value
 *            numbers (-1 empty), at most half full: 4 bytes a slot keeps it small, and probing
 *            a neighbour stays in the same cache line
 *   direct   for dictionaries of 8- and 16-bit ints, direct[key - lo] replaces hashing
 *            (256 or 65536 entries); wider keys that show up anyway go to the table
 *
 * Int keys are hashed with splitmix64's finaliser (Steele et al., "Fast splittable pseudorandom
 * number generators", OOPSLA 2014): a bijection in which every output bit depends on every
 * input bit, so sequential ids spread over the table. Strings use XXH3_64bits; the stored hash
 * rejects almost every mismatch before the bytes are compared.
 *
 * Lookups only read, so any number of threads may look up at once while nobody inserts.
 * An allocation failure returns RK_ENOMEM and leaves the dictionary valid: values inserted by
 * the failing call before the failure stay (with their numbers), nothing leaks.
 * It is not: a concurrent map (inserts are single-threaded), or ordered.
 */
#include <math.h>
#include <string.h>
/* Inlined: strings of ids are short, and a call per row would cost as much as the hash. */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "reckon/etl.h"

#if defined(__GNUC__)
#define PREFETCH(p) __builtin_prefetch(p)
#else
#define PREFETCH(p) ((void)(p))
#endif

enum {
  CHUNK = 1024,         /* rows converted to keys at a time (stack buffers) */
  AHEAD = 8,            /* prefetch distance in rows, per stage */
  MIN_TABLE = 16,
  MIN_VALUES = 16,
  MIN_BYTES = 256
};

#define CANONICAL_NAN 0x7ff8000000000000ull

struct rk_dict {
  rk_coltype type;       /* the column type given at creation */
  rk_coltype key_type;   /* RK_COL_INT64, RK_COL_FLOAT64 or RK_COL_STRING */
  int64_t n;             /* distinct values */
  int64_t cap;           /* capacity of the per-value arrays */
  uint64_t *keys;        /* (n) ints and floats: the key bits */
  uint64_t *hashes;      /* (n) strings: XXH3_64bits of the bytes */
  int64_t *offsets;      /* (n + 1) strings: value i is bytes[offsets[i], offsets[i + 1]) */
  char *bytes;           /* strings: never NULL, so empty values have an address */
  int64_t cap_bytes;
  int32_t *table;        /* (mask + 1) value numbers, -1 empty */
  uint64_t mask;
  int64_t hashed;        /* values in the table (the others live in `direct`) */
  int32_t *direct;       /* (direct_size) value numbers of keys lo .. lo + size - 1, -1 absent */
  uint64_t direct_lo;    /* the lowest direct key, as key bits */
  uint64_t direct_size;  /* 0: no direct map */
};

/* ---- keys ---- */

static inline uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

/* -0.0 and 0.0 are one value, every NaN is one value: equal keys are then equal bits. */
static inline uint64_t double_key(double x) {
  if (x != x) return CANONICAL_NAN;
  if (x == 0.0) return 0;
  uint64_t bits;
  memcpy(&bits, &x, sizeof bits);
  return bits;
}

static double key_double(uint64_t key) {
  double x;
  memcpy(&x, &key, sizeof x);
  return x;
}

/* k[i] = the key of row begin + i, for i < n (null rows read their zero slot). */
static void load_keys(uint64_t *k, const rk_column *col, int64_t begin, int64_t n) {
  const void *v = col->values;
  switch (col->type) {
    case RK_COL_INT8: for (int64_t i = 0; i < n; i++) k[i] = (uint64_t)(int64_t)((const int8_t *)v)[begin + i]; break;
    case RK_COL_INT16: for (int64_t i = 0; i < n; i++) k[i] = (uint64_t)(int64_t)((const int16_t *)v)[begin + i]; break;
    case RK_COL_INT32: for (int64_t i = 0; i < n; i++) k[i] = (uint64_t)(int64_t)((const int32_t *)v)[begin + i]; break;
    case RK_COL_INT64: memcpy(k, (const int64_t *)v + begin, (size_t)n * sizeof *k); break;
    case RK_COL_UINT8: for (int64_t i = 0; i < n; i++) k[i] = ((const uint8_t *)v)[begin + i]; break;
    case RK_COL_UINT16: for (int64_t i = 0; i < n; i++) k[i] = ((const uint16_t *)v)[begin + i]; break;
    case RK_COL_UINT32: for (int64_t i = 0; i < n; i++) k[i] = ((const uint32_t *)v)[begin + i]; break;
    case RK_COL_UINT64: memcpy(k, (const uint64_t *)v + begin, (size_t)n * sizeof *k); break;
    case RK_COL_FLOAT32: for (int64_t i = 0; i < n; i++) k[i] = double_key(((const float *)v)[begin + i]); break;
    case RK_COL_FLOAT64: for (int64_t i = 0; i < n; i++) k[i] = double_key(((const double *)v)[begin + i]); break;
    default: RK_ASSERT(!"load_keys: not a numeric column");
  }
}

static inline bool row_is_null(const uint8_t *validity, int64_t row) {
  return validity && !(validity[row >> 3] & (1u << (row & 7)));
}

/* The range of keys a direct map covers for a column type (size 0: none). */
static void direct_range(rk_coltype type, uint64_t *lo, uint64_t *size) {
  *lo = 0;
  *size = 0;
  switch (type) {
    case RK_COL_INT8: *lo = (uint64_t)(int64_t)INT8_MIN; *size = 256; break;
    case RK_COL_UINT8: *size = 256; break;
    case RK_COL_INT16: *lo = (uint64_t)(int64_t)INT16_MIN; *size = 65536; break;
    case RK_COL_UINT16: *size = 65536; break;
    default: break;
  }
}

static inline bool in_direct(const rk_dict *d, uint64_t key) { return key - d->direct_lo < d->direct_size; }

/* Every value of `type` lands in the direct map: no hashing, no range check per row. */
static bool covered_by_direct(const rk_dict *d, rk_coltype type) {
  uint64_t lo, size;
  direct_range(type, &lo, &size);
  return size > 0 && in_direct(d, lo) && in_direct(d, lo + size - 1);
}

/* ---- creation ---- */

static rk_coltype key_type_of(rk_coltype type) {
  if (rk_coltype_is_int(type)) return RK_COL_INT64;
  if (rk_coltype_is_float(type)) return RK_COL_FLOAT64;
  return type == RK_COL_STRING ? RK_COL_STRING : RK_COL_TYPE_COUNT;
}

static int32_t *alloc_slots(uint64_t n) {
  int32_t *s = rk_malloc((size_t)n * sizeof *s);
  if (s) memset(s, 0xff, (size_t)n * sizeof *s);   /* -1 everywhere */
  return s;
}

rk_status rk_dict_create(rk_dict **dict, rk_coltype type) {
  *dict = NULL;
  rk_coltype key = key_type_of(type);
  if (key == RK_COL_TYPE_COUNT)
    return rk_error(RK_EINVAL, "cannot build a dictionary of %s values (only ints, floats and strings)",
                    rk_coltype_name(type));
  rk_dict *d = rk_calloc(1, sizeof *d);
  if (!d) return RK_ENOMEM;
  d->type = type;
  d->key_type = key;
  d->cap = MIN_VALUES;
  d->mask = MIN_TABLE - 1;
  direct_range(type, &d->direct_lo, &d->direct_size);
  bool ok = (d->table = alloc_slots(MIN_TABLE)) != NULL;
  if (ok && key == RK_COL_STRING) {
    ok = (d->hashes = rk_malloc(MIN_VALUES * sizeof *d->hashes)) &&
         (d->offsets = rk_malloc((MIN_VALUES + 1) * sizeof *d->offsets)) && (d->bytes = rk_malloc(MIN_BYTES));
    if (ok) d->offsets[0] = 0;
    d->cap_bytes = MIN_BYTES;
  } else if (ok) {
    ok = (d->keys = rk_malloc(MIN_VALUES * sizeof *d->keys)) != NULL;
  }
  if (ok && d->direct_size) ok = (d->direct = alloc_slots(d->direct_size)) != NULL;
  if (!ok) {
    rk_dict_free(d);
    return RK_ENOMEM;
  }
  *dict = d;
  return RK_OK;
}

void rk_dict_free(rk_dict *dict) {
  if (!dict) return;
  rk_free(dict->keys);
  rk_free(dict->hashes);
  rk_free(dict->offsets);
  rk_free(dict->bytes);
  rk_free(dict->table);
  rk_free(dict->direct);
  rk_free(dict);
}

rk_coltype rk_dict_key_type(const rk_dict *dict) { return dict->key_type; }
int64_t rk_dict_size(const rk_dict *dict) { return dict->n; }

int64_t rk_dict_memory(const rk_dict *dict) {
  int64_t per_value = dict->key_type == RK_COL_STRING ? 16 : 8;
  return (int64_t)sizeof *dict + dict->cap * per_value + (dict->key_type == RK_COL_STRING ? 8 + dict->cap_bytes : 0) +
         (int64_t)(dict->mask + 1) * 4 + (int64_t)dict->direct_size * 4;
}

/* ---- growth ---- */

/* Room for one more value in the per-value arrays. Each array is stored as soon as it is
 * reallocated, so a failure part-way leaves every array at least `cap` long. */
static rk_status reserve_value(rk_dict *d, const rk_column *col) {
  if (d->n < d->cap) return RK_OK;
  if (d->n == INT32_MAX)
    return rk_error(RK_ERANGE, "column '%s' has more than %d distinct values, more than a dictionary can number",
                    col->name ? col->name : "", INT32_MAX);
  int64_t cap = d->cap > INT32_MAX / 2 ? INT32_MAX : d->cap * 2;
  if (d->key_type == RK_COL_STRING) {
    uint64_t *h = rk_realloc(d->hashes, (size_t)cap * sizeof *h);
    if (!h) return RK_ENOMEM;
    d->hashes = h;
    int64_t *o = rk_realloc(d->offsets, (size_t)(cap + 1) * sizeof *o);
    if (!o) return RK_ENOMEM;
    d->offsets = o;
  } else {
    uint64_t *k = rk_realloc(d->keys, (size_t)cap * sizeof *k);
    if (!k) return RK_ENOMEM;
    d->keys = k;
  }
  d->cap = cap;
  return RK_OK;
}

static rk_status reserve_bytes(rk_dict *d, int64_t more) {
  int64_t need = d->offsets[d->n] + more;
  if (need <= d->cap_bytes) return RK_OK;
  int64_t cap = d->cap_bytes;
  while (cap < need) cap *= 2;
  char *b = rk_realloc(d->bytes, (size_t)cap);
  if (!b) return RK_ENOMEM;
  d->bytes = b;
  d->cap_bytes = cap;
  return RK_OK;
}

/* Prefetching in stages, AHEAD rows apart: the table slot of a row, then the value its slot
 * names (prefetched a stage ago), then for strings the value's bytes. Hash buffers run
 * STAGES * AHEAD zeros past the chunk, so the last rows prefetch slot 0: harmless. */
enum { STAGES = 3, TAIL = STAGES * AHEAD };

static inline void prefetch_ahead(const rk_dict *d, const uint64_t *h, int64_t i) {
  PREFETCH(&d->table[h[i + STAGES * AHEAD] & d->mask]);
  int32_t j = d->table[h[i + 2 * AHEAD] & d->mask];
  if (d->key_type != RK_COL_STRING) {
    if (j >= 0) PREFETCH(&d->keys[j]);
    return;
  }
  if (j >= 0) {
    PREFETCH(&d->hashes[j]);
    PREFETCH(&d->offsets[j]);
  }
  j = d->table[h[i + AHEAD] & d->mask];
  if (j >= 0) PREFETCH(d->bytes + d->offsets[j]);
}

static inline uint64_t value_hash(const rk_dict *d, int64_t i) {
  return d->key_type == RK_COL_STRING ? d->hashes[i] : mix64(d->keys[i]);
}

/* Keep the table at most half full: with linear probing a hit then takes ~1.5 probes. The new
 * table is built aside, so a failed allocation leaves the old one in place. */
static rk_status reserve_slot(rk_dict *d) {
  uint64_t size = d->mask + 1;
  if ((uint64_t)(d->hashed + 1) * 2 <= size) return RK_OK;
  int32_t *t = alloc_slots(size * 2);
  if (!t) return RK_ENOMEM;
  uint64_t mask = size * 2 - 1;
  for (int64_t i = 0; i < d->n; i++) {
    if (i + AHEAD < d->n) PREFETCH(&t[value_hash(d, i + AHEAD) & mask]);   /* random writes */
    if (d->key_type != RK_COL_STRING && in_direct(d, d->keys[i])) continue;
    uint64_t s = value_hash(d, i) & mask;
    while (t[s] >= 0) s = (s + 1) & mask;
    t[s] = (int32_t)i;
  }
  rk_free(d->table);
  d->table = t;
  d->mask = mask;
  return RK_OK;
}

/* ---- numeric keys ---- */

/* The slot holding `key`, or the empty slot where it belongs. */
static inline uint64_t probe_key(const rk_dict *d, uint64_t key, uint64_t h) {
  for (uint64_t s = h & d->mask;; s = (s + 1) & d->mask) {
    int32_t i = d->table[s];
    if (i < 0 || d->keys[i] == key) return s;
  }
}

static rk_status add_hashed_key(rk_dict *d, uint64_t key, uint64_t h, const rk_column *col, int32_t *out) {
  RK_TRY(reserve_value(d, col));
  RK_TRY(reserve_slot(d));
  uint64_t s = probe_key(d, key, h);   /* again: the table may have grown */
  d->table[s] = (int32_t)d->n;
  d->hashed++;
  d->keys[d->n] = key;
  *out = (int32_t)d->n++;
  return RK_OK;
}

static inline rk_status find_or_add_direct(rk_dict *d, uint64_t key, const rk_column *col, int32_t *out) {
  int32_t *slot = &d->direct[key - d->direct_lo];
  if (*slot < 0) {
    RK_TRY(reserve_value(d, col));
    d->keys[d->n] = key;
    *slot = (int32_t)d->n++;
  }
  *out = *slot;
  return RK_OK;
}

static inline rk_status find_or_add_key(rk_dict *d, uint64_t key, uint64_t h, const rk_column *col, int32_t *out) {
  if (in_direct(d, key)) return find_or_add_direct(d, key, col, out);
  int32_t i = d->table[probe_key(d, key, h)];
  if (i >= 0) {
    *out = i;
    return RK_OK;
  }
  return add_hashed_key(d, key, h, col, out);
}

static inline int32_t find_direct(const rk_dict *d, uint64_t key) {
  int32_t i = d->direct[key - d->direct_lo];
  return i >= 0 ? i : RK_DICT_ABSENT;
}

static inline int32_t find_key(const rk_dict *d, uint64_t key, uint64_t h) {
  if (in_direct(d, key)) return find_direct(d, key);
  int32_t i = d->table[probe_key(d, key, h)];
  return i >= 0 ? i : RK_DICT_ABSENT;
}

/* Hashes of a chunk are computed up front so that lookups can be prefetched: large tables miss
 * the cache on nearly every row, twice (the slot, then the value it names). */
static void hash_keys(uint64_t *h, const uint64_t *k, int64_t n) {
  for (int64_t i = 0; i < n; i++) h[i] = mix64(k[i]);
  memset(h + n, 0, TAIL * sizeof *h);
}

static rk_status insert_numeric(rk_dict *d, const rk_column *col, int64_t begin, int64_t end, int32_t *idx) {
  uint64_t k[CHUNK], h[CHUNK + TAIL];
  bool direct_only = covered_by_direct(d, col->type);
  for (int64_t at = begin; at < end; at += CHUNK) {
    int64_t n = end - at < CHUNK ? end - at : CHUNK;
    int32_t *out = idx + (at - begin);
    load_keys(k, col, at, n);
    if (!direct_only) hash_keys(h, k, n);
    for (int64_t i = 0; i < n; i++) {
      if (row_is_null(col->validity, at + i)) {
        out[i] = RK_DICT_NULL;
      } else if (direct_only) {
        RK_TRY(find_or_add_direct(d, k[i], col, &out[i]));
      } else {
        prefetch_ahead(d, h, i);
        RK_TRY(find_or_add_key(d, k[i], h[i], col, &out[i]));
      }
    }
  }
  return RK_OK;
}

static void lookup_numeric(const rk_dict *d, const rk_column *col, int64_t begin, int64_t end, int32_t *idx) {
  uint64_t k[CHUNK], h[CHUNK + TAIL];
  bool direct_only = covered_by_direct(d, col->type);
  for (int64_t at = begin; at < end; at += CHUNK) {
    int64_t n = end - at < CHUNK ? end - at : CHUNK;
    int32_t *out = idx + (at - begin);
    load_keys(k, col, at, n);
    if (!direct_only) hash_keys(h, k, n);
    for (int64_t i = 0; i < n; i++) {
      if (row_is_null(col->validity, at + i)) {
        out[i] = RK_DICT_NULL;
      } else if (direct_only) {
        out[i] = find_direct(d, k[i]);
      } else {
        prefetch_ahead(d, h, i);
        out[i] = find_key(d, k[i], h[i]);
      }
    }
  }
}

/* ---- string keys ---- */

static inline bool value_equals(const rk_dict *d, int32_t i, const char *s, int64_t len, uint64_t h) {
  const int64_t *o = d->offsets;
  return d->hashes[i] == h && o[i + 1] - o[i] == len && (len == 0 || memcmp(d->bytes + o[i], s, (size_t)len) == 0);
}

static inline uint64_t probe_string(const rk_dict *d, const char *s, int64_t len, uint64_t h) {
  for (uint64_t slot = h & d->mask;; slot = (slot + 1) & d->mask) {
    int32_t i = d->table[slot];
    if (i < 0 || value_equals(d, i, s, len, h)) return slot;
  }
}

static rk_status add_string(rk_dict *d, const char *s, int64_t len, uint64_t h, const rk_column *col, int32_t *out) {
  RK_TRY(reserve_value(d, col));
  RK_TRY(reserve_bytes(d, len));
  RK_TRY(reserve_slot(d));
  uint64_t slot = probe_string(d, s, len, h);
  int64_t at = d->offsets[d->n];
  if (len > 0) memcpy(d->bytes + at, s, (size_t)len);
  d->offsets[d->n + 1] = at + len;
  d->hashes[d->n] = h;
  d->table[slot] = (int32_t)d->n;
  d->hashed++;
  *out = (int32_t)d->n++;
  return RK_OK;
}

/* The bytes of row r; a column of empty strings may have no byte buffer at all. */
static inline const char *row_bytes(const rk_column *col, int64_t r, int64_t *len) {
  *len = col->offsets[r + 1] - col->offsets[r];
  return *len ? (const char *)col->values + col->offsets[r] : "";
}

static void hash_strings(uint64_t *h, const rk_column *col, int64_t begin, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    int64_t len;
    const char *s = row_bytes(col, begin + i, &len);
    h[i] = XXH3_64bits(s, (size_t)len);
  }
  memset(h + n, 0, TAIL * sizeof *h);
}

static rk_status insert_strings(rk_dict *d, const rk_column *col, int64_t begin, int64_t end, int32_t *idx) {
  uint64_t h[CHUNK + TAIL];
  for (int64_t at = begin; at < end; at += CHUNK) {
    int64_t n = end - at < CHUNK ? end - at : CHUNK;
    int32_t *out = idx + (at - begin);
    hash_strings(h, col, at, n);
    for (int64_t i = 0; i < n; i++) {
      prefetch_ahead(d, h, i);
      if (row_is_null(col->validity, at + i)) {
        out[i] = RK_DICT_NULL;
        continue;
      }
      int64_t len;
      const char *s = row_bytes(col, at + i, &len);
      int32_t v = d->table[probe_string(d, s, len, h[i])];
      if (v >= 0)
        out[i] = v;
      else
        RK_TRY(add_string(d, s, len, h[i], col, &out[i]));
    }
  }
  return RK_OK;
}

static void lookup_strings(const rk_dict *d, const rk_column *col, int64_t begin, int64_t end, int32_t *idx) {
  uint64_t h[CHUNK + TAIL];
  for (int64_t at = begin; at < end; at += CHUNK) {
    int64_t n = end - at < CHUNK ? end - at : CHUNK;
    int32_t *out = idx + (at - begin);
    hash_strings(h, col, at, n);
    for (int64_t i = 0; i < n; i++) {
      prefetch_ahead(d, h, i);
      if (row_is_null(col->validity, at + i)) {
        out[i] = RK_DICT_NULL;
        continue;
      }
      int64_t len;
      const char *s = row_bytes(col, at + i, &len);
      int32_t v = d->table[probe_string(d, s, len, h[i])];
      out[i] = v >= 0 ? v : RK_DICT_ABSENT;
    }
  }
}

/* ---- the API ---- */

static bool accepts(const rk_dict *d, rk_coltype type) { return key_type_of(type) == d->key_type; }

rk_status rk_dict_insert(rk_dict *dict, const rk_column *col, int64_t begin, int64_t end, int32_t *idx) {
  RK_ASSERT(0 <= begin && begin <= end && end <= col->length);
  if (!accepts(dict, col->type))
    return rk_error(RK_EINVAL, "column '%s' is %s, but its dictionary holds %s values", col->name ? col->name : "",
                    rk_coltype_name(col->type), rk_coltype_name(dict->key_type));
  if (dict->key_type == RK_COL_STRING) return insert_strings(dict, col, begin, end, idx);
  return insert_numeric(dict, col, begin, end, idx);
}

/* A column of the wrong kind holds none of the values: every non-null row is absent. */
void rk_dict_lookup(const rk_dict *dict, const rk_column *col, int64_t begin, int64_t end, int32_t *idx) {
  RK_ASSERT(0 <= begin && begin <= end && end <= col->length);
  if (!accepts(dict, col->type)) {
    for (int64_t r = begin; r < end; r++) idx[r - begin] = row_is_null(col->validity, r) ? RK_DICT_NULL : RK_DICT_ABSENT;
  } else if (dict->key_type == RK_COL_STRING) {
    lookup_strings(dict, col, begin, end, idx);
  } else {
    lookup_numeric(dict, col, begin, end, idx);
  }
}

int64_t rk_dict_int(const rk_dict *dict, int64_t i) {
  RK_ASSERT(dict->key_type == RK_COL_INT64 && 0 <= i && i < dict->n);
  return (int64_t)dict->keys[i];
}

double rk_dict_double(const rk_dict *dict, int64_t i) {
  RK_ASSERT(dict->key_type == RK_COL_FLOAT64 && 0 <= i && i < dict->n);
  return key_double(dict->keys[i]);
}

const char *rk_dict_string(const rk_dict *dict, int64_t i, size_t *len) {
  RK_ASSERT(dict->key_type == RK_COL_STRING && 0 <= i && i < dict->n);
  *len = (size_t)(dict->offsets[i + 1] - dict->offsets[i]);
  return dict->bytes + dict->offsets[i];
}

/* A dictionary made for uint64 columns orders (and range-checks) its keys as unsigned. */
static bool is_unsigned(const rk_dict *d) { return d->type == RK_COL_UINT64; }

int rk_dict_compare(const rk_dict *dict, int64_t i, int64_t j) {
  if (dict->key_type == RK_COL_STRING) {
    size_t li, lj;
    const char *a = rk_dict_string(dict, i, &li), *b = rk_dict_string(dict, j, &lj);
    int c = memcmp(a, b, li < lj ? li : lj);
    return c != 0 ? (c < 0 ? -1 : 1) : (li > lj) - (li < lj);
  }
  uint64_t a = dict->keys[i], b = dict->keys[j];
  if (dict->key_type == RK_COL_FLOAT64) {
    double x = key_double(a), y = key_double(b);
    if (isnan(x) || isnan(y)) return isnan(x) - isnan(y);   /* NaN last */
    return (x > y) - (x < y);
  }
  if (is_unsigned(dict)) return (a > b) - (a < b);
  return ((int64_t)a > (int64_t)b) - ((int64_t)a < (int64_t)b);
}

/* ---- writing values out ---- */

static bool int_fits(uint64_t key, bool key_unsigned, rk_coltype type) {
  int64_t v = (int64_t)key;
  bool negative = !key_unsigned && v < 0;
  switch (type) {
    case RK_COL_INT8: return !key_unsigned ? v >= INT8_MIN && v <= INT8_MAX : key <= INT8_MAX;
    case RK_COL_INT16: return !key_unsigned ? v >= INT16_MIN && v <= INT16_MAX : key <= INT16_MAX;
    case RK_COL_INT32: return !key_unsigned ? v >= INT32_MIN && v <= INT32_MAX : key <= INT32_MAX;
    case RK_COL_INT64: return !key_unsigned || key <= INT64_MAX;
    case RK_COL_UINT8: return !negative && key <= UINT8_MAX;
    case RK_COL_UINT16: return !negative && key <= UINT16_MAX;
    case RK_COL_UINT32: return !negative && key <= UINT32_MAX;
    case RK_COL_UINT64: return !negative;
    default: return false;
  }
}

static void store_int(rk_column *col, int64_t row, uint64_t key) {
  void *v = col->values;
  switch (col->type) {
    case RK_COL_INT8: ((int8_t *)v)[row] = (int8_t)(int64_t)key; break;
    case RK_COL_INT16: ((int16_t *)v)[row] = (int16_t)(int64_t)key; break;
    case RK_COL_INT32: ((int32_t *)v)[row] = (int32_t)(int64_t)key; break;
    case RK_COL_UINT8: ((uint8_t *)v)[row] = (uint8_t)key; break;
    case RK_COL_UINT16: ((uint16_t *)v)[row] = (uint16_t)key; break;
    case RK_COL_UINT32: ((uint32_t *)v)[row] = (uint32_t)key; break;
    default: ((uint64_t *)v)[row] = key; break;   /* int64 and uint64: the bits */
  }
}

/* Every value is checked before the column grows, so a range error leaves it as it was. */
static rk_status append_ints(const rk_dict *d, const int64_t *order, int64_t n, rk_column *col) {
  for (int64_t k = 0; k < n; k++) {
    uint64_t key = d->keys[order[k]];
    if (int_fits(key, is_unsigned(d), col->type)) continue;
    if (is_unsigned(d))
      return rk_error(RK_ERANGE, "dictionary value %llu does not fit %s column '%s'", (unsigned long long)key,
                      rk_coltype_name(col->type), col->name ? col->name : "");
    return rk_error(RK_ERANGE, "dictionary value %lld does not fit %s column '%s'", (long long)key,
                    rk_coltype_name(col->type), col->name ? col->name : "");
  }
  RK_TRY(rk_column_reserve(col, col->length + n, 0));
  for (int64_t k = 0; k < n; k++) store_int(col, col->length + k, d->keys[order[k]]);
  return RK_OK;
}

static rk_status append_doubles(const rk_dict *d, const int64_t *order, int64_t n, rk_column *col) {
  RK_TRY(rk_column_reserve(col, col->length + n, 0));
  for (int64_t k = 0; k < n; k++) {
    double x = key_double(d->keys[order[k]]);
    if (col->type == RK_COL_FLOAT32)
      ((float *)col->values)[col->length + k] = (float)x;
    else
      ((double *)col->values)[col->length + k] = x;
  }
  return RK_OK;
}

static rk_status append_strings(const rk_dict *d, const int64_t *order, int64_t n, rk_column *col) {
  int64_t bytes = 0;
  for (int64_t k = 0; k < n; k++) bytes += d->offsets[order[k] + 1] - d->offsets[order[k]];
  int64_t at = col->offsets[col->length];
  RK_TRY(rk_column_reserve(col, col->length + n, at + bytes));
  for (int64_t k = 0; k < n; k++) {
    size_t len;
    const char *s = rk_dict_string(d, order[k], &len);
    if (len) memcpy((char *)col->values + at, s, len);
    at += (int64_t)len;
    col->offsets[col->length + k + 1] = at;
  }
  return RK_OK;
}

/* Rows appended here are valid: the bitmap (when there is one) is set for them. */
static void mark_valid(rk_column *col, int64_t from, int64_t to) {
  if (!col->validity) return;
  for (int64_t r = from; r < to; r++) col->validity[r >> 3] |= (uint8_t)(1u << (r & 7));
}

rk_status rk_dict_append_values(const rk_dict *dict, const int64_t *order, int64_t n, rk_column *col) {
  bool ok = dict->key_type == RK_COL_INT64 ? rk_coltype_is_int(col->type) : accepts(dict, col->type);
  if (!ok)
    return rk_error(RK_EINVAL, "cannot write a dictionary of %s values into %s column '%s'", rk_coltype_name(dict->key_type),
                    rk_coltype_name(col->type), col->name ? col->name : "");
  for (int64_t k = 0; k < n; k++) RK_ASSERT(0 <= order[k] && order[k] < dict->n);
  rk_status st = dict->key_type == RK_COL_INT64     ? append_ints(dict, order, n, col)
                 : dict->key_type == RK_COL_FLOAT64 ? append_doubles(dict, order, n, col)
                                                    : append_strings(dict, order, n, col);
  if (st != RK_OK) return st;
  mark_valid(col, col->length, col->length + n);
  col->length += n;
  return RK_OK;
}
