/*
 * Philox4x32-10, the counter-based generator of Salmon, Moraes, Dror and Shaw, "Parallel random
 * numbers: as easy as 1, 2, 3" (SC 2011), section 4; checked against Random123's known-answer
 * vectors in tests/unit/test_core_rng.c.
 *
 * A value is a pure function of (key, counter): key = the seed, counter = (block, stream). Any
 * thread can produce any element of any stream without producing the ones before it, which is
 * what makes dropout masks, shuffles and synthetic data independent of the thread count.
 */
#include <math.h>

#include "reckon/core.h"

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u   /* golden ratio */
#define PHILOX_W1 0xBB67AE85u   /* sqrt(3) - 1 */

void rk_philox4x32_10(uint32_t out[4], const uint32_t counter[4], const uint32_t key[2]) {
  uint32_t c0 = counter[0], c1 = counter[1], c2 = counter[2], c3 = counter[3];
  uint32_t k0 = key[0], k1 = key[1];
  for (int round = 0; round < 10; round++) {
    uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
    uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
    uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
    uint32_t n1 = (uint32_t)p1;
    uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
    uint32_t n3 = (uint32_t)p0;
    c0 = n0, c1 = n1, c2 = n2, c3 = n3;
    k0 += PHILOX_W0;
    k1 += PHILOX_W1;
  }
  out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

static void philox_block(uint32_t out[4], uint64_t seed, uint64_t stream, uint64_t block) {
  const uint32_t ctr[4] = {(uint32_t)block, (uint32_t)(block >> 32), (uint32_t)stream, (uint32_t)(stream >> 32)};
  const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
  rk_philox4x32_10(out, ctr, key);
}

void rk_rng_init(rk_rng *rng, uint64_t seed, uint64_t stream) {
  rng->seed = seed;
  rng->stream = stream;
  rng->counter = 0;
  rng->avail = 0;
  rng->has_spare = false;
  rng->spare = 0.0;
}

void rk_rng_seek(rk_rng *rng, uint64_t counter) {
  rng->counter = counter;
  rng->avail = 0;
  rng->has_spare = false;
}

uint32_t rk_rng_u32(rk_rng *rng) {
  if (rng->avail == 0) {
    philox_block(rng->buf, rng->seed, rng->stream, rng->counter++);
    rng->avail = 4;
  }
  return rng->buf[4 - rng->avail--];
}

uint64_t rk_rng_u64(rk_rng *rng) {
  uint64_t hi = rk_rng_u32(rng);
  return (hi << 32) | rk_rng_u32(rng);
}

double rk_rng_uniform(rk_rng *rng) { return (double)(rk_rng_u64(rng) >> 11) * 0x1.0p-53; }

float rk_rng_uniformf(rk_rng *rng) { return (float)(rk_rng_u32(rng) >> 8) * 0x1.0p-24f; }

double rk_rng_normal(rk_rng *rng) {
  if (rng->has_spare) {
    rng->has_spare = false;
    return rng->spare;
  }
  double u1 = 1.0 - rk_rng_uniform(rng);   /* (0, 1]: log is finite */
  double u2 = rk_rng_uniform(rng);
  double r = sqrt(-2.0 * log(u1));
  double theta = 6.283185307179586476925 * u2;
  rng->spare = r * sin(theta);
  rng->has_spare = true;
  return r * cos(theta);
}

bool rk_rng_bernoulli(rk_rng *rng, double p) { return rk_rng_uniform(rng) < p; }

uint64_t rk_rng_below(rk_rng *rng, uint64_t n) {
  RK_ASSERT(n > 0);
  // cppcheck-suppress zerodivcond ; n > 0 is asserted above
  uint64_t threshold = (0 - n) % n;   /* 2^64 mod n: reject the short last bucket */
  for (;;) {
    uint64_t r = rk_rng_u64(rng);
    if (r >= threshold) return r % n;
  }
}

void rk_rng_shuffle(rk_rng *rng, int64_t *items, int64_t n) {
  for (int64_t i = n - 1; i > 0; i--) {
    int64_t j = (int64_t)rk_rng_below(rng, (uint64_t)i + 1);
    int64_t t = items[i];
    items[i] = items[j];
    items[j] = t;
  }
}

void rk_rng_permutation(rk_rng *rng, int64_t *perm, int64_t n) {
  for (int64_t i = 0; i < n; i++) perm[i] = i;
  rk_rng_shuffle(rng, perm, n);
}

double rk_rng_uniform_at(uint64_t seed, uint64_t stream, uint64_t index) {
  uint32_t out[4];
  philox_block(out, seed, stream, index);
  uint64_t bits = ((uint64_t)out[0] << 32) | out[1];
  return (double)(bits >> 11) * 0x1.0p-53;
}
