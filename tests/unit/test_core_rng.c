/*
 * The counter-based RNG (src/core/rng.c): Philox4x32-10 against Random123's known-answer vectors
 * (examples/kat_vectors: "philox4x32 10" lines, columns CTR[4] KEY[2] EXPECTED[4]); how
 * (seed, stream, block) map onto counter and key; seeking; rk_rng_uniform_at as a seeked stream;
 * statistical sanity of uniform, uniformf, normal, bernoulli and below (in range, unbiased even
 * where plain modulo would be biased); permutations and shuffles (a permutation, deterministic
 * per seed and stream, different across streams, uniform over the 6 orders of 3 items).
 * Reference: Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011.
 */
#include "support.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void test_philox_known_answers(void **state) {
  (void)state;
  static const struct {
    uint32_t ctr[4], key[2], want[4];
  } kat[] = {
      /* The three standard vectors of Random123's examples/kat_vectors. */
      {{0x00000000, 0x00000000, 0x00000000, 0x00000000}, {0x00000000, 0x00000000},
       {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
      {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff},
       {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
      {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0},
       {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
      /* From the longer generated kat_vectors file: single bits fix the word order. */
      {{0x00000001, 0x00000000, 0x00000000, 0x00000000}, {0x00000001, 0x00000000},
       {0xac08141b, 0xdfc5ccbe, 0x79c07a47, 0xa7f66093}},
      {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0x00000000, 0x00000001},
       {0x126514c3, 0xd1898b69, 0xda2707b3, 0x6e6fb436}},
  };
  for (size_t i = 0; i < sizeof kat / sizeof kat[0]; i++) {
    uint32_t out[4];
    rk_philox4x32_10(out, kat[i].ctr, kat[i].key);
    for (int k = 0; k < 4; k++)
      if (out[k] != kat[i].want[k])
        fail_msg("vector %zu word %d: got %08x, expected %08x", i, k, out[k], kat[i].want[k]);
  }
}

/* The stream's words are Philox blocks with counter (block lo, block hi, stream lo, stream hi)
 * and key (seed lo, seed hi), four words per block in order. */
static void test_rng_stream_is_philox_blocks(void **state) {
  (void)state;
  const uint64_t seed = 0x0123456789abcdefULL, stream = 0xfedcba9876543210ULL;
  rk_rng r;
  rk_rng_init(&r, seed, stream);
  const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
  for (uint64_t block = 0; block < 5; block++) {
    const uint32_t ctr[4] = {(uint32_t)block, (uint32_t)(block >> 32), (uint32_t)stream, (uint32_t)(stream >> 32)};
    uint32_t want[4];
    rk_philox4x32_10(want, ctr, key);
    for (int k = 0; k < 4; k++) assert_int_equal(rk_rng_u32(&r), want[k]);
  }
  /* Blocks beyond 2^32 use the counter's second word. */
  rk_rng_seek(&r, (uint64_t)1 << 32 | 5);
  const uint32_t ctr[4] = {5, 1, (uint32_t)stream, (uint32_t)(stream >> 32)};
  uint32_t want[4];
  rk_philox4x32_10(want, ctr, key);
  assert_int_equal(rk_rng_u32(&r), want[0]);
}

static void test_rng_deterministic_and_u64(void **state) {
  (void)state;
  rk_rng a, b, c;
  rk_rng_init(&a, 42, 7);
  rk_rng_init(&b, 42, 7);
  rk_rng_init(&c, 42, 7);
  for (int i = 0; i < 1000; i++) {
    uint64_t x = rk_rng_u64(&a);
    assert_true(x == rk_rng_u64(&b));
    uint64_t hi = rk_rng_u32(&c), lo = rk_rng_u32(&c);
    assert_true(x == (hi << 32 | lo));
  }
  /* Other stream, other seed: other numbers. */
  rk_rng d, e;
  rk_rng_init(&a, 42, 7);
  rk_rng_init(&d, 42, 8);
  rk_rng_init(&e, 43, 7);
  int same_d = 0, same_e = 0;
  for (int i = 0; i < 100; i++) {
    uint32_t x = rk_rng_u32(&a);
    same_d += x == rk_rng_u32(&d);
    same_e += x == rk_rng_u32(&e);
  }
  assert_true(same_d < 3 && same_e < 3);
}

static void test_rng_seek(void **state) {
  (void)state;
  rk_rng a, b;
  rk_rng_init(&a, 9, 3);
  uint32_t words[40];
  for (int i = 0; i < 40; i++) words[i] = rk_rng_u32(&a);
  for (uint64_t block = 0; block < 10; block++) {
    rk_rng_init(&b, 9, 3);
    rk_rng_u32(&b);   /* a half-read block and a pending normal are dropped by seek */
    rk_rng_normal(&b);
    rk_rng_seek(&b, block);
    for (uint64_t k = block * 4; k < 40; k++) assert_int_equal(rk_rng_u32(&b), words[k]);
  }
}

/* As implemented: element `index` is the first uniform of block `index` of (seed, stream). */
static void test_rng_uniform_at_matches_seeked_stream(void **state) {
  (void)state;
  const uint64_t seeds[] = {0, 1, 0xdeadbeefcafef00dULL};
  const uint64_t indices[] = {0, 1, 2, 1000, (uint64_t)1 << 40, UINT64_MAX};
  for (int s = 0; s < 3; s++) {
    for (int k = 0; k < 6; k++) {
      rk_rng r;
      rk_rng_init(&r, seeds[s], 77);
      rk_rng_seek(&r, indices[k]);
      double want = rk_rng_uniform(&r);
      double got = rk_rng_uniform_at(seeds[s], 77, indices[k]);
      assert_true(got == want);
      assert_true(got >= 0.0 && got < 1.0);
    }
  }
  /* Neighbouring indices differ (they are different blocks). */
  assert_true(rk_rng_uniform_at(5, 5, 10) != rk_rng_uniform_at(5, 5, 11));
}

/* ---- distributions ------------------------------------------------------------------------ */
#define DRAWS 100000

static void test_rng_uniform_stats(void **state) {
  (void)state;
  rk_rng r;
  rk_rng_init(&r, 2024, 0);
  double sum = 0, sumsq = 0, lo = 1, hi = 0;
  double sumf = 0;
  for (int i = 0; i < DRAWS; i++) {
    double u = rk_rng_uniform(&r);
    assert_true(u >= 0.0 && u < 1.0);
    assert_true(u * 0x1p53 == floor(u * 0x1p53));   /* 53-bit grid */
    sum += u;
    sumsq += u * u;
    lo = u < lo ? u : lo;
    hi = u > hi ? u : hi;
    float f = rk_rng_uniformf(&r);
    assert_true(f >= 0.0f && f < 1.0f);
    assert_true(f * 0x1p24f == floorf(f * 0x1p24f));   /* 24-bit grid */
    sumf += f;
  }
  double mean = sum / DRAWS, var = sumsq / DRAWS - mean * mean;
  double sigma = sqrt(1.0 / 12 / DRAWS);
  assert_true(fabs(mean - 0.5) < 5 * sigma);
  assert_true(fabs(var - 1.0 / 12) < 0.003);
  assert_true(fabs(sumf / DRAWS - 0.5) < 5 * sigma);
  assert_true(lo < 1e-3 && hi > 1 - 1e-3);
}

static void test_rng_normal_stats(void **state) {
  (void)state;
  rk_rng r;
  rk_rng_init(&r, 99, 1);
  double sum = 0, sumsq = 0;
  int within1 = 0;
  for (int i = 0; i < DRAWS; i++) {
    double x = rk_rng_normal(&r);
    assert_true(isfinite(x));
    sum += x;
    sumsq += x * x;
    within1 += fabs(x) < 1.0;
  }
  double mean = sum / DRAWS, var = sumsq / DRAWS - mean * mean;
  assert_true(fabs(mean) < 5 / sqrt(DRAWS));
  assert_true(fabs(var - 1.0) < 5 * sqrt(2.0 / DRAWS));
  assert_true(fabs((double)within1 / DRAWS - 0.682689) < 0.008);
}

static void test_rng_bernoulli(void **state) {
  (void)state;
  rk_rng r;
  rk_rng_init(&r, 5, 5);
  const double ps[] = {0.3, 0.5, 0.01};
  for (int k = 0; k < 3; k++) {
    int hits = 0;
    for (int i = 0; i < DRAWS; i++) hits += rk_rng_bernoulli(&r, ps[k]);
    double sigma = sqrt(ps[k] * (1 - ps[k]) / DRAWS);
    assert_true(fabs((double)hits / DRAWS - ps[k]) < 5 * sigma);
  }
  for (int i = 0; i < 1000; i++) {
    assert_false(rk_rng_bernoulli(&r, 0.0));
    assert_true(rk_rng_bernoulli(&r, 1.0));
  }
}

static void test_rng_below_in_range_and_unbiased(void **state) {
  (void)state;
  rk_rng r;
  rk_rng_init(&r, 11, 0);
  for (int i = 0; i < 100; i++) assert_true(rk_rng_below(&r, 1) == 0);
  int counts[7] = {0};
  for (int i = 0; i < DRAWS; i++) {
    uint64_t x = rk_rng_below(&r, 7);
    assert_true(x < 7);
    counts[x]++;
  }
  double expect = DRAWS / 7.0, sigma = sqrt(DRAWS * (1.0 / 7) * (6.0 / 7));
  for (int k = 0; k < 7; k++) assert_true(fabs(counts[k] - expect) < 5 * sigma);
  /* n = 3 * 2^62: plain r % n would land in [0, 2^62) half the time instead of a third. */
  const uint64_t n = (uint64_t)3 << 62;
  int low = 0;
  for (int i = 0; i < 30000; i++) {
    uint64_t x = rk_rng_below(&r, n);
    assert_true(x < n);
    low += x < ((uint64_t)1 << 62);
  }
  assert_true(fabs(low / 30000.0 - 1.0 / 3) < 0.015);
  for (int i = 0; i < 1000; i++) assert_true(rk_rng_below(&r, UINT64_MAX) < UINT64_MAX);
  for (int i = 0; i < 1000; i++) assert_true(rk_rng_below(&r, ((uint64_t)1 << 63) + 1) <= ((uint64_t)1 << 63));
}

/* ---- permutations ------------------------------------------------------------------------- */
static bool is_permutation(const int64_t *p, int64_t n) {
  bool *seen = calloc((size_t)n + 1, 1);
  bool ok = true;
  for (int64_t i = 0; i < n && ok; i++) {
    if (p[i] < 0 || p[i] >= n || seen[p[i]]) ok = false;
    else seen[p[i]] = true;
  }
  free(seen);
  return ok;
}

static void test_rng_permutation(void **state) {
  (void)state;
  enum { N = 1000 };
  int64_t a[N], b[N], c[N];
  rk_rng r;
  rk_rng_init(&r, 1, 10);
  rk_rng_permutation(&r, a, N);
  assert_true(is_permutation(a, N));
  rk_rng_init(&r, 1, 10);
  rk_rng_permutation(&r, b, N);
  assert_memory_equal(a, b, sizeof a);   /* deterministic per (seed, stream) */
  rk_rng_init(&r, 1, 11);
  rk_rng_permutation(&r, c, N);
  assert_true(is_permutation(c, N));
  int same = 0, fixed = 0;
  for (int i = 0; i < N; i++) {
    same += a[i] == c[i];
    fixed += a[i] == i;
  }
  assert_true(same < 20);    /* another stream: another order (about 1 match expected) */
  assert_true(fixed < 20);   /* and it is shuffled */
  rk_rng_init(&r, 2, 10);
  rk_rng_permutation(&r, c, N);
  assert_true(memcmp(a, c, sizeof a) != 0);
  /* Edge sizes. */
  int64_t one = 99;
  rk_rng_permutation(&r, &one, 1);
  assert_int_equal(one, 0);
  rk_rng_permutation(&r, NULL, 0);
}

static void test_rng_permutation_uniform_over_orders(void **state) {
  (void)state;
  rk_rng r;
  rk_rng_init(&r, 77, 0);
  int counts[9] = {0};   /* indexed by p[0] * 3 + p[1] */
  const int draws = 60000;
  for (int i = 0; i < draws; i++) {
    int64_t p[3];
    rk_rng_permutation(&r, p, 3);
    counts[p[0] * 3 + p[1]]++;
  }
  double expect = draws / 6.0, sigma = sqrt(draws * (1.0 / 6) * (5.0 / 6));
  int orders = 0;
  for (int k = 0; k < 9; k++) {
    if (k / 3 == k % 3) {
      assert_int_equal(counts[k], 0);
      continue;
    }
    orders++;
    assert_true(fabs(counts[k] - expect) < 5 * sigma);
  }
  assert_int_equal(orders, 6);
}

static void test_rng_shuffle_keeps_items(void **state) {
  (void)state;
  int64_t items[50], sorted[50];
  for (int i = 0; i < 50; i++) items[i] = sorted[i] = 1000 + i * i;
  rk_rng r;
  rk_rng_init(&r, 3, 3);
  rk_rng_shuffle(&r, items, 50);
  int moved = 0;
  for (int i = 0; i < 50; i++) {
    moved += items[i] != sorted[i];
    bool found = false;
    for (int k = 0; k < 50; k++) found |= items[k] == sorted[i];
    assert_true(found);
  }
  assert_true(moved > 25);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_philox_known_answers),
      cmocka_unit_test(test_rng_stream_is_philox_blocks),
      cmocka_unit_test(test_rng_deterministic_and_u64),
      cmocka_unit_test(test_rng_seek),
      cmocka_unit_test(test_rng_uniform_at_matches_seeked_stream),
      cmocka_unit_test(test_rng_uniform_stats),
      cmocka_unit_test(test_rng_normal_stats),
      cmocka_unit_test(test_rng_bernoulli),
      cmocka_unit_test(test_rng_below_in_range_and_unbiased),
      cmocka_unit_test(test_rng_permutation),
      cmocka_unit_test(test_rng_permutation_uniform_over_orders),
      cmocka_unit_test(test_rng_shuffle_keeps_items),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
