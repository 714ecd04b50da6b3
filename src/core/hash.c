/*
 * reckon's one documented hash: xxh64 (seed 0) over canonical little-endian bytes, so a value
 * hashes the same in preprocessing, training and serving, on any machine.
 */
#include <xxhash.h>

#include "reckon/core.h"

static void put_le64(uint8_t *out, uint64_t v) {
  for (int b = 0; b < 8; b++) out[b] = (uint8_t)(v >> (8 * b));
}

uint64_t rk_hash_int(int64_t v) {
  uint8_t bytes[8];
  put_le64(bytes, (uint64_t)v);
  return XXH64(bytes, sizeof bytes, 0);
}

uint64_t rk_hash_bytes(const void *data, size_t len) { return XXH64(data, len, 0); }

uint64_t rk_hash_cross(uint64_t a, uint64_t b) {
  uint8_t bytes[16];
  put_le64(bytes, a);
  put_le64(bytes + 8, b);
  return XXH64(bytes, sizeof bytes, 0);
}
