/*
 * Dropout's keep draws (src/nn/ops/dropout.c, rk_dropout_draws), which the dropout and attention
 * ops share: with e = i % 64, element i is kept when 16-bit word e / 8 of the Philox4x32-10
 * block 8 (i / 64) + e % 8 is >= ceil(p 2^16). Checked against rk_philox4x32_10 itself (the side-by-side rounds must
 * give its bits, also where the block number carries into the counter's high word), pieces
 * against one call (the cached group must not leak between ranges), the kept fraction, and the
 * saved 1-byte mask against the output (a dropped element is 0, a kept one x / (1 - p)).
 * Thread independence and gradients are test_nn_gradcheck.c's (dropout, attention with dropout).
 */
#include "support.h"

#include <math.h>
#include <string.h>

#include "nn/ops/ops.h"

static const uint64_t SEED = 0x0123456789ABCDEFull, STREAM = 0xFEDCBA9876543210ull;

/* The draw of element i as the contract states it, one Philox call per element. */
static uint8_t kept_by_contract(uint64_t i, uint32_t threshold) {
  uint64_t e = i % 64, word = e / 8, block = 8 * (i / 64) + e % 8;
  const uint32_t ctr[4] = {(uint32_t)block, (uint32_t)(block >> 32), (uint32_t)STREAM, (uint32_t)(STREAM >> 32)};
  const uint32_t key[2] = {(uint32_t)SEED, (uint32_t)(SEED >> 32)};
  uint32_t r[4];
  rk_philox4x32_10(r, ctr, key);
  return (r[word / 2] >> (16 * (word % 2)) & 0xFFFFu) >= threshold;
}

static void test_draws_follow_philox(void **state) {
  (void)state;
  /* unaligned starts, a start past 2^32 blocks (the counter's high word), a range over groups */
  const uint64_t firsts[] = {0, 5, 63, 1000, (UINT64_C(1) << 35) - 37};
  enum { N = 300 };
  for (size_t f = 0; f < sizeof firsts / sizeof firsts[0]; f++) {
    rk_dropout_draws d;
    rk_dropout_draws_init(&d, 0.3f, SEED, STREAM);
    assert_int_equal(d.threshold, 19661);   /* ceil(0.3 2^16) */
    uint8_t keep[N];
    rk_dropout_draws_at(&d, keep, firsts[f], N);
    for (int k = 0; k < N; k++) assert_int_equal(keep[k], kept_by_contract(firsts[f] + (uint64_t)k, d.threshold));
  }
}

static void test_pieces_equal_one_call(void **state) {
  (void)state;
  enum { N = 1000 };
  uint8_t whole[N], pieces[N];
  rk_dropout_draws d;
  rk_dropout_draws_init(&d, 0.5f, SEED, STREAM);
  rk_dropout_draws_at(&d, whole, 17, N);
  /* pieces of varying length, forwards, then one backwards jump: the cache holds one group */
  const int64_t lens[] = {1, 7, 20, 64, 65, 3, 128, 200};
  int64_t at = 0;
  for (int k = 0; at < N; k = (k + 1) % 8) {
    int64_t n = lens[k] < N - at ? lens[k] : N - at;
    rk_dropout_draws_at(&d, pieces + at, 17 + (uint64_t)at, n);
    at += n;
  }
  assert_memory_equal(whole, pieces, N);
  rk_dropout_draws_at(&d, pieces, 17, 40);
  assert_memory_equal(whole, pieces, 40);
}

static void test_kept_fraction(void **state) {
  (void)state;
  enum { N = 1 << 18 };
  uint8_t *keep = malloc(N);
  assert_non_null(keep);
  const float ps[] = {0.0f, 0.1f, 0.5f, 0.9f};
  for (int k = 0; k < 4; k++) {
    rk_dropout_draws d;
    rk_dropout_draws_init(&d, ps[k], SEED, STREAM);
    rk_dropout_draws_at(&d, keep, 0, N);
    int64_t kept = 0;
    for (int64_t i = 0; i < N; i++) kept += keep[i];
    double expect = 1.0 - ceil(ps[k] * 65536.0) / 65536.0, sd = sqrt(expect * (1.0 - expect) / N);
    if (ps[k] == 0.0f) assert_int_equal(kept, N);
    else assert_true(fabs((double)kept / N - expect) < 5.0 * sd);
  }
  free(keep);
}

static void test_forward_matches_its_mask(void **state) {
  (void)state;
  enum { N = 777 };
  float x[N], out[N], dx[N], dout[N];
  uint8_t keep[N];
  for (int i = 0; i < N; i++) x[i] = dout[i] = 0.5f + (float)i, dx[i] = 1.0f;
  const float p = 0.25f;
  dropout_forward_cpu(out, keep, x, NULL, N, N, p, false, SEED, STREAM);
  dropout_backward_cpu(dx, dout, keep, N, p, false);
  rk_dropout_draws d;
  rk_dropout_draws_init(&d, p, SEED, STREAM);
  uint8_t expect[N];
  rk_dropout_draws_at(&d, expect, 0, N);
  assert_memory_equal(keep, expect, N);
  const float scale = 1.0f / (1.0f - p);
  for (int i = 0; i < N; i++) {
    assert_true(out[i] == (keep[i] ? x[i] * scale : 0.0f));
    assert_true(dx[i] == 1.0f + (keep[i] ? dout[i] * scale : 0.0f));   /* backward adds */
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_draws_follow_philox),
      cmocka_unit_test(test_pieces_equal_one_call),
      cmocka_unit_test(test_kept_fraction),
      cmocka_unit_test(test_forward_matches_its_mask),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
