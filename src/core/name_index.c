/*
 * Name index: an open-addressing hash table (linear probing, at most half full) from names to
 * non-negative ints, keyed by rk_hash_bytes. It replaces a scan per lookup wherever columns are
 * matched by name, so work stays linear in the number of columns. It does not own the names.
 */
#include <string.h>

#include "reckon/core.h"

void rk_name_index_init(rk_name_index *ix) { memset(ix, 0, sizeof *ix); }

void rk_name_index_free(rk_name_index *ix) {
  rk_free(ix->names);
  rk_free(ix->values);
  rk_name_index_init(ix);
}

/* The slot holding name, or the empty slot where it would go. */
static int64_t slot_of(const rk_name_index *ix, const char *name) {
  int64_t mask = ix->cap - 1, i = (int64_t)(rk_hash_bytes(name, strlen(name)) & (uint64_t)mask);
  while (ix->names[i] && strcmp(ix->names[i], name) != 0) i = (i + 1) & mask;
  return i;
}

static rk_status grow(rk_name_index *ix) {
  int64_t cap = ix->cap ? ix->cap * 2 : 16;
  rk_name_index bigger = {rk_calloc((size_t)cap, sizeof *ix->names), rk_malloc((size_t)cap * sizeof *ix->values), cap,
                          ix->n};
  if (!bigger.names || !bigger.values) {
    rk_name_index_free(&bigger);
    return RK_ENOMEM;
  }
  for (int64_t i = 0; i < ix->cap; i++) {
    if (!ix->names[i]) continue;
    int64_t j = slot_of(&bigger, ix->names[i]);
    bigger.names[j] = ix->names[i];
    bigger.values[j] = ix->values[i];
  }
  rk_name_index_free(ix);
  *ix = bigger;
  return RK_OK;
}

rk_status rk_name_index_put(rk_name_index *ix, const char *name, int value, int *existing) {
  if (existing) *existing = -1;
  if (2 * (ix->n + 1) > ix->cap) RK_TRY(grow(ix));
  int64_t i = slot_of(ix, name);
  if (ix->names[i]) {
    if (existing) *existing = ix->values[i];
    return RK_OK;
  }
  ix->names[i] = name;
  ix->values[i] = value;
  ix->n++;
  return RK_OK;
}

int rk_name_index_get(const rk_name_index *ix, const char *name) {
  if (ix->n == 0 || !name) return -1;
  int64_t i = slot_of(ix, name);
  return ix->names[i] ? ix->values[i] : -1;
}
