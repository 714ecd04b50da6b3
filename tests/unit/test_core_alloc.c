/*
 * The allocation hook (src/core/alloc.c): live bytes rise and fall by exactly the sizes asked
 * for; rk_alloc_fail_after(n) fails exactly the n-th next allocation, once, with an RK_ENOMEM
 * message; calloc overflow; realloc keeps contents; aligned allocation honours its alignment and
 * counts like the rest. Not covered here: failure paths of callers (test_core_failpaths.c).
 */
#include "support.h"

#include <string.h>

static void test_alloc_live_bytes_exact(void **state) {
  (void)state;
  int64_t live0 = rk_alloc_live_bytes();
  int64_t count0 = rk_alloc_count();
  char *a = rk_malloc(100);
  assert_non_null(a);
  assert_int_equal(rk_alloc_live_bytes() - live0, 100);
  char *b = rk_calloc(7, 3);
  assert_non_null(b);
  for (int i = 0; i < 21; i++) assert_int_equal(b[i], 0);
  assert_int_equal(rk_alloc_live_bytes() - live0, 121);
  char *c = rk_strdup("hello");
  assert_string_equal(c, "hello");
  assert_int_equal(rk_alloc_live_bytes() - live0, 127);
  char *d = rk_strndup("abcdef", 3);
  assert_string_equal(d, "abc");
  assert_int_equal(rk_alloc_live_bytes() - live0, 131);
  char *z = rk_malloc(0);
  assert_non_null(z);
  assert_int_equal(rk_alloc_live_bytes() - live0, 131);
  assert_int_equal(rk_alloc_count() - count0, 5);
  rk_free(a);
  assert_int_equal(rk_alloc_live_bytes() - live0, 31);
  rk_free(b);
  rk_free(c);
  rk_free(d);
  rk_free(z);
  rk_free(NULL);
  assert_int_equal(rk_alloc_live_bytes(), live0);
  assert_int_equal(rk_alloc_count() - count0, 5);
}

static void test_alloc_realloc_keeps_contents_and_counts(void **state) {
  (void)state;
  int64_t live0 = rk_alloc_live_bytes();
  unsigned char *p = rk_realloc(NULL, 10);   /* realloc(NULL) is malloc */
  assert_non_null(p);
  for (int i = 0; i < 10; i++) p[i] = (unsigned char)i;
  assert_int_equal(rk_alloc_live_bytes() - live0, 10);
  p = rk_realloc(p, 100000);
  assert_non_null(p);
  assert_int_equal(rk_alloc_live_bytes() - live0, 100000);
  for (int i = 0; i < 10; i++) assert_int_equal(p[i], i);
  p = rk_realloc(p, 4);
  assert_int_equal(rk_alloc_live_bytes() - live0, 4);
  for (int i = 0; i < 4; i++) assert_int_equal(p[i], i);
  rk_free(p);
  assert_int_equal(rk_alloc_live_bytes(), live0);
}

static void test_alloc_fail_after_exact_call_once(void **state) {
  (void)state;
  for (int n = 0; n < 5; n++) {
    int64_t live0 = rk_alloc_live_bytes();
    void *got[8] = {0};
    rk_error_clear();
    rk_alloc_fail_after(n);
    assert_false(rk_alloc_fail_fired());
    for (int i = 0; i < 8; i++) {
      got[i] = rk_malloc(16 + (size_t)i);
      if (i == n) {
        assert_null(got[i]);
        assert_true(rk_alloc_fail_fired());
        assert_int_equal(rk_error_status(), RK_ENOMEM);
        assert_non_null(strstr(rk_error_message(), "out of memory"));
        assert_non_null(strstr(rk_error_message(), "bytes"));
      } else {
        assert_non_null(got[i]);   /* before and after the n-th: fine (fires once) */
      }
      assert_int_equal(rk_alloc_fail_fired(), i >= n);
    }
    rk_alloc_fail_after(-1);
    assert_false(rk_alloc_fail_fired());
    for (int i = 0; i < 8; i++) rk_free(got[i]);
    assert_int_equal(rk_alloc_live_bytes(), live0);
  }
}

static void test_alloc_fail_after_off_never_fires(void **state) {
  (void)state;
  rk_alloc_fail_after(-1);
  for (int i = 0; i < 100; i++) {
    void *p = rk_malloc(8);
    assert_non_null(p);
    rk_free(p);
  }
  assert_false(rk_alloc_fail_fired());
}

static void test_alloc_fail_injection_covers_every_allocator(void **state) {
  (void)state;
  int64_t live0 = rk_alloc_live_bytes();
  rk_alloc_fail_after(0);
  assert_null(rk_calloc(4, 4));
  rk_alloc_fail_after(0);
  assert_null(rk_strdup("x"));
  rk_alloc_fail_after(0);
  assert_null(rk_aligned_alloc(64, 10));
  rk_alloc_fail_after(0);
  assert_null(rk_aligned_calloc(64, 10));
  rk_alloc_fail_after(0);
  assert_null(rk_realloc(NULL, 10));
  assert_true(rk_alloc_fail_fired());

  /* A failed realloc leaves the old block alive and unchanged. */
  rk_alloc_fail_after(-1);
  char *p = rk_malloc(8);
  memcpy(p, "abcdefg", 8);
  rk_alloc_fail_after(0);
  assert_null(rk_realloc(p, 1 << 20));
  assert_true(rk_alloc_fail_fired());
  rk_alloc_fail_after(-1);
  assert_string_equal(p, "abcdefg");
  assert_int_equal(rk_alloc_live_bytes() - live0, 8);
  rk_free(p);
  assert_int_equal(rk_alloc_live_bytes(), live0);
}

static void test_alloc_calloc_overflow(void **state) {
  (void)state;
  int64_t live0 = rk_alloc_live_bytes();
  rk_error_clear();
  assert_null(rk_calloc(SIZE_MAX / 2, 3));
  assert_int_equal(rk_error_status(), RK_ENOMEM);
  assert_non_null(strstr(rk_error_message(), "out of memory"));
  rk_error_clear();
  assert_null(rk_malloc(SIZE_MAX - 4));   /* header would overflow */
  assert_int_equal(rk_error_status(), RK_ENOMEM);
  assert_null(rk_aligned_alloc(64, SIZE_MAX - 32));
  assert_int_equal(rk_error_status(), RK_ENOMEM);
  assert_int_equal(rk_alloc_live_bytes(), live0);
  /* calloc(0, n) and calloc(n, 0) are valid, empty blocks. */
  void *a = rk_calloc(0, 16), *b = rk_calloc(16, 0);
  assert_non_null(a);
  assert_non_null(b);
  rk_free(a);
  rk_free(b);
  assert_int_equal(rk_alloc_live_bytes(), live0);
}

static void test_alloc_aligned_alignment_and_counting(void **state) {
  (void)state;
  int64_t live0 = rk_alloc_live_bytes();
  size_t aligns[] = {8, 16, 32, 64, 128, 256, 4096};
  void *blocks[7 * 5];
  int k = 0;
  int64_t expect = 0;
  for (int i = 0; i < 7; i++) {
    for (size_t size = 1; size <= 10001; size += 2500) {
      void *p = rk_aligned_alloc(aligns[i], size);
      assert_non_null(p);
      assert_int_equal((uintptr_t)p % aligns[i], 0);
      memset(p, 0x5a, size);   /* the whole block is writable (ASan checks the bounds) */
      blocks[k++] = p;
      expect += (int64_t)size;
      assert_int_equal(rk_alloc_live_bytes() - live0, expect);
    }
  }
  for (int i = 0; i < k; i++) rk_free(blocks[i]);
  assert_int_equal(rk_alloc_live_bytes(), live0);
}

/* Zeroed whatever the size: small blocks come from reused heap memory, large ones from fresh pages. */
static void test_alloc_aligned_calloc_is_zeroed(void **state) {
  (void)state;
  int64_t live0 = rk_alloc_live_bytes();
  size_t sizes[] = {1, 100, 4096, 100000, 3 << 20};
  for (int round = 0; round < 2; round++)   /* the second round reuses what the first freed and dirtied */
    for (int i = 0; i < 5; i++) {
      unsigned char *p = rk_aligned_calloc(64, sizes[i]);
      assert_non_null(p);
      assert_int_equal((uintptr_t)p % 64, 0);
      for (size_t j = 0; j < sizes[i]; j++)
        if (p[j] != 0) fail_msg("byte %zu of a %zu-byte block is %d", j, sizes[i], p[j]);
      assert_int_equal(rk_alloc_live_bytes() - live0, (int64_t)sizes[i]);
      memset(p, 0xa5, sizes[i]);
      rk_free(p);
    }
  assert_int_equal(rk_alloc_live_bytes(), live0);
  rk_error_clear();
  assert_null(rk_aligned_calloc(48, 16));
  assert_int_equal(rk_error_status(), RK_EINVAL);
}

static void test_alloc_aligned_rejects_bad_alignment(void **state) {
  (void)state;
  int64_t live0 = rk_alloc_live_bytes();
  size_t bad[] = {0, 3, 12, 24, 100};
  for (int i = 0; i < 5; i++) {
    rk_error_clear();
    assert_null(rk_aligned_alloc(bad[i], 16));
    assert_int_equal(rk_error_status(), RK_EINVAL);
    assert_non_null(strstr(rk_error_message(), "power of two"));
  }
  assert_int_equal(rk_alloc_live_bytes(), live0);
}

static void test_alloc_aligned_realloc_keeps_contents(void **state) {
  (void)state;
  int64_t live0 = rk_alloc_live_bytes();
  for (size_t align = 16; align <= 1024; align *= 4) {
    unsigned char *p = rk_aligned_alloc(align, 64);
    for (int i = 0; i < 64; i++) p[i] = (unsigned char)(i * 3);
    p = rk_realloc(p, 5000);
    assert_non_null(p);
    for (int i = 0; i < 64; i++) assert_int_equal(p[i], (unsigned char)(i * 3));
    assert_int_equal(rk_alloc_live_bytes() - live0, 5000);
    rk_free(p);
    assert_int_equal(rk_alloc_live_bytes(), live0);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_alloc_live_bytes_exact),
      cmocka_unit_test(test_alloc_realloc_keeps_contents_and_counts),
      cmocka_unit_test(test_alloc_fail_after_exact_call_once),
      cmocka_unit_test(test_alloc_fail_after_off_never_fires),
      cmocka_unit_test(test_alloc_fail_injection_covers_every_allocator),
      cmocka_unit_test(test_alloc_calloc_overflow),
      cmocka_unit_test(test_alloc_aligned_alignment_and_counting),
      cmocka_unit_test(test_alloc_aligned_calloc_is_zeroed),
      cmocka_unit_test(test_alloc_aligned_rejects_bad_alignment),
      cmocka_unit_test(test_alloc_aligned_realloc_keeps_contents),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
