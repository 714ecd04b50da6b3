/*
 * Arenas (src/core/arena.c): every allocation honours its alignment and does not overlap the
 * others, big allocations get their own chunk, reset keeps exactly one chunk (the largest),
 * free returns live bytes to where they started, and bad alignments or impossible sizes fail
 * with a status instead of handing out a short block.
 */
#include "support.h"

#include <string.h>

static void test_arena_alignment_and_no_overlap(void **state) {
  (void)state;
  int64_t live0 = rk_alloc_live_bytes();
  rk_arena a;
  rk_arena_init(&a, 1024);
  size_t aligns[] = {0, 1, 2, 4, 8, 16, 32, 64, 256, 4096};
  unsigned char *ptrs[200];
  size_t sizes[200];
  size_t used = 0;
  for (int i = 0; i < 200; i++) {
    size_t align = aligns[i % 10];
    sizes[i] = (size_t)(1 + (i * 37) % 300);
    ptrs[i] = rk_arena_alloc(&a, sizes[i], align);
    assert_non_null(ptrs[i]);
    assert_int_equal((uintptr_t)ptrs[i] % (align ? align : 16), 0);
    memset(ptrs[i], i & 0xff, sizes[i]);   /* ASan: the block is inside a live chunk */
    used += sizes[i];
  }
  assert_int_equal(a.used, used);
  for (int i = 0; i < 200; i++)
    for (size_t k = 0; k < sizes[i]; k++) assert_int_equal(ptrs[i][k], i & 0xff);   /* no overlap */
  assert_true(rk_alloc_live_bytes() > live0);
  rk_arena_free(&a);
  assert_null(a.head);
  assert_int_equal(a.used, 0);
  assert_int_equal(rk_alloc_live_bytes(), live0);
}

static int count_chunks(const rk_arena *a) {
  int n = 0;
  /* The chunk type is private; walk through the first field, its `next` pointer. */
  for (const rk_arena_chunk *c = a->head; c; c = *(rk_arena_chunk *const *)c) n++;
  return n;
}

static void test_arena_big_allocation_own_chunk(void **state) {
  (void)state;
  int64_t live0 = rk_alloc_live_bytes();
  rk_arena a;
  rk_arena_init(&a, 4096);
  char *small = rk_arena_alloc(&a, 10, 0);
  assert_non_null(small);
  int64_t one_chunk = rk_alloc_live_bytes() - live0;
  assert_true(one_chunk >= 4096 && one_chunk < 4096 + 128);
  char *big = rk_arena_alloc(&a, 1 << 20, 64);
  assert_non_null(big);
  assert_int_equal((uintptr_t)big % 64, 0);
  memset(big, 1, 1 << 20);
  assert_true(rk_alloc_live_bytes() - live0 >= one_chunk + (1 << 20));
  assert_int_equal(count_chunks(&a), 2);
  rk_arena_free(&a);
  assert_int_equal(rk_alloc_live_bytes(), live0);
}

static void test_arena_reset_keeps_one_chunk(void **state) {
  (void)state;
  int64_t live0 = rk_alloc_live_bytes();
  rk_arena a;
  rk_arena_init(&a, 256);
  for (int i = 0; i < 100; i++) assert_non_null(rk_arena_alloc(&a, 100, 8));
  assert_non_null(rk_arena_alloc(&a, 10000, 8));   /* the largest chunk */
  for (int i = 0; i < 10; i++) assert_non_null(rk_arena_alloc(&a, 100, 8));
  assert_true(count_chunks(&a) > 2);
  rk_arena_reset(&a);
  assert_int_equal(count_chunks(&a), 1);
  assert_int_equal(a.used, 0);
  int64_t kept = rk_alloc_live_bytes() - live0;
  assert_true(kept >= 10000 && kept < 10000 + 256);   /* the largest one was kept */
  /* Allocations after a reset reuse the kept chunk: no new memory. */
  for (int i = 0; i < 90; i++) assert_non_null(rk_arena_alloc(&a, 100, 8));
  assert_int_equal(rk_alloc_live_bytes() - live0, kept);
  assert_int_equal(count_chunks(&a), 1);
  rk_arena_reset(&a);
  rk_arena_reset(&a);   /* twice is fine */
  assert_int_equal(count_chunks(&a), 1);
  rk_arena_free(&a);
  assert_int_equal(rk_alloc_live_bytes(), live0);
  rk_arena_reset(&a);   /* reset of an empty arena */
  assert_null(a.head);
}

static void test_arena_strdup(void **state) {
  (void)state;
  rk_arena a;
  rk_arena_init(&a, 0);   /* default chunk size */
  assert_true(a.chunk_size > 0);
  char *s = rk_arena_strdup(&a, "user_id");
  char *t = rk_arena_strdup(&a, "");
  assert_string_equal(s, "user_id");
  assert_string_equal(t, "");
  assert_ptr_not_equal(s, t);
  rk_arena_free(&a);
}

static void test_arena_bad_alignment(void **state) {
  (void)state;
  rk_arena a;
  rk_arena_init(&a, 1024);
  size_t bad[] = {3, 24, 8192};
  for (int i = 0; i < 3; i++) {
    rk_error_clear();
    assert_null(rk_arena_alloc(&a, 8, bad[i]));
    assert_int_equal(rk_error_status(), RK_EINVAL);
  }
  assert_null(a.head);
  rk_arena_free(&a);
}

static void test_arena_impossible_size_fails(void **state) {
  (void)state;
  int64_t live0 = rk_alloc_live_bytes();
  rk_arena a;
  rk_arena_init(&a, 1024);
  assert_non_null(rk_arena_alloc(&a, 16, 0));
  /* Sizes where size + align + header wraps (a real huge malloc would abort under ASan). */
  size_t huge[] = {SIZE_MAX, SIZE_MAX - 8, SIZE_MAX - 20, SIZE_MAX - 40};
  for (int i = 0; i < 4; i++) {
    rk_error_clear();
    assert_null(rk_arena_alloc(&a, huge[i], 16));
    assert_int_equal(rk_error_status(), RK_ENOMEM);
  }
  rk_arena_free(&a);
  assert_int_equal(rk_alloc_live_bytes(), live0);
}

static void test_arena_out_of_memory_keeps_arena(void **state) {
  (void)state;
  int64_t live0 = rk_alloc_live_bytes();
  rk_arena a;
  rk_arena_init(&a, 64);
  char *first = rk_arena_strdup(&a, "keep me");
  assert_non_null(first);
  rk_alloc_fail_after(0);
  rk_error_clear();
  assert_null(rk_arena_alloc(&a, 1000, 0));
  assert_true(rk_alloc_fail_fired());
  rk_alloc_fail_after(-1);
  assert_int_equal(rk_error_status(), RK_ENOMEM);
  assert_string_equal(first, "keep me");
  assert_non_null(rk_arena_alloc(&a, 1000, 0));   /* and works again */
  rk_arena_free(&a);
  assert_int_equal(rk_alloc_live_bytes(), live0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_arena_alignment_and_no_overlap),
      cmocka_unit_test(test_arena_big_allocation_own_chunk),
      cmocka_unit_test(test_arena_reset_keeps_one_chunk),
      cmocka_unit_test(test_arena_strdup),
      cmocka_unit_test(test_arena_bad_alignment),
      cmocka_unit_test(test_arena_impossible_size_fails),
      cmocka_unit_test(test_arena_out_of_memory_keeps_arena),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
