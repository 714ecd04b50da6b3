/*
 * Tensors and half precision (src/core/tensor.c): shapes, numel, nbytes, shape errors,
 * describe(), dtype names; f16 decoding checked against an ldexp reference for all 65536 halves
 * and the round trip f16 -> f32 -> f16 (NaNs stay NaN); f32 -> f16 rounding to nearest even at
 * every tie between adjacent halves, for subnormals and at overflow; bf16 on selected values and
 * its exhaustive round trip. Reference: IEEE 754-2008, binary16 and roundTiesToEven.
 */
#include "support.h"

#include <float.h>
#include <math.h>
#include <string.h>

static uint32_t bits_of(float x) {
  uint32_t u;
  memcpy(&u, &x, 4);
  return u;
}

static float float_of(uint32_t u) {
  float x;
  memcpy(&x, &u, 4);
  return x;
}

/* ---- tensors ------------------------------------------------------------------------------ */
static void test_tensor_alloc_shapes(void **state) {
  (void)state;
  int64_t live0 = rk_alloc_live_bytes();
  const int64_t shape[5] = {2, 3, 4, 5, 6};
  for (int nd = 0; nd <= 5; nd++) {
    for (int d = 0; d < RK_DT_COUNT; d++) {
      rk_tensor t;
      assert_rk_ok(rk_tensor_alloc(&t, (rk_dtype)d, nd, shape));
      int64_t numel = 1;
      for (int i = 0; i < nd; i++) numel *= shape[i];
      assert_int_equal(t.ndim, nd);
      assert_int_equal(t.dtype, d);
      assert_int_equal(t.device, RK_DEVICE_CPU);
      assert_true(t.owned);
      assert_int_equal(rk_tensor_numel(&t), numel);
      assert_int_equal(rk_tensor_nbytes(&t), (size_t)numel * rk_dtype_size((rk_dtype)d));
      assert_int_equal((uintptr_t)t.data % 64, 0);
      const unsigned char *p = t.data;
      for (size_t k = 0; k < rk_tensor_nbytes(&t); k++) assert_int_equal(p[k], 0);   /* zeroed */
      rk_tensor_free(&t);
      assert_null(t.data);
      assert_false(t.owned);
    }
  }
  assert_int_equal(rk_alloc_live_bytes(), live0);
}

static void test_tensor_dtype_sizes_names(void **state) {
  (void)state;
  const size_t sizes[] = {4, 2, 2, 1, 2, 4, 8, 1};
  const char *names[] = {"f32", "f16", "bf16", "i8", "i16", "i32", "i64", "u8"};
  assert_int_equal(RK_DT_COUNT, 8);
  for (int d = 0; d < RK_DT_COUNT; d++) {
    assert_int_equal(rk_dtype_size((rk_dtype)d), sizes[d]);
    assert_string_equal(rk_dtype_name((rk_dtype)d), names[d]);
    rk_dtype back;
    assert_rk_ok(rk_dtype_parse(names[d], &back));
    assert_int_equal(back, d);
  }
  rk_dtype out = RK_DT_I8;
  assert_int_equal(rk_dtype_parse("float", &out), RK_EINVAL);
  assert_non_null(strstr(rk_error_message(), "'float'"));
  assert_int_equal(out, RK_DT_I8);
}

static void test_tensor_zero_sized_dims(void **state) {
  (void)state;
  int64_t live0 = rk_alloc_live_bytes();
  const int64_t shape[3] = {4, 0, 7};
  rk_tensor t;
  assert_rk_ok(rk_tensor_alloc(&t, RK_DT_F32, 3, shape));
  assert_int_equal(rk_tensor_numel(&t), 0);
  assert_int_equal(rk_tensor_nbytes(&t), 0);
  assert_non_null(t.data);
  rk_tensor_free(&t);
  assert_int_equal(rk_alloc_live_bytes(), live0);
}

static void test_tensor_shape_errors(void **state) {
  (void)state;
  int64_t live0 = rk_alloc_live_bytes();
  const int64_t six[6] = {1, 1, 1, 1, 1, 1};
  rk_tensor t;
  memset(&t, 0xab, sizeof t);   /* garbage: a failed alloc must still leave it safe to free */
  assert_int_equal(rk_tensor_alloc(&t, RK_DT_F32, 6, six), RK_ESHAPE);
  assert_non_null(strstr(rk_error_message(), "6 dimensions"));
  assert_null(t.data);
  assert_false(t.owned);
  rk_tensor_free(&t);
  assert_int_equal(rk_tensor_alloc(&t, RK_DT_F32, -1, six), RK_ESHAPE);
  const int64_t neg[2] = {3, -2};
  assert_int_equal(rk_tensor_alloc(&t, RK_DT_F32, 2, neg), RK_ESHAPE);
  assert_non_null(strstr(rk_error_message(), "-2"));
  const int64_t huge[2] = {INT64_MAX / 4, 16};
  assert_int_equal(rk_tensor_alloc(&t, RK_DT_F32, 2, huge), RK_ESHAPE);
  assert_int_equal(rk_tensor_alloc(&t, RK_DT_COUNT, 2, neg + 0), RK_EINVAL);
  assert_int_equal(rk_tensor_view(&t, RK_DT_F32, 6, six, NULL), RK_ESHAPE);
  rk_tensor_free(&t);
  assert_int_equal(rk_alloc_live_bytes(), live0);
}

static void test_tensor_view_does_not_own(void **state) {
  (void)state;
  float buf[12] = {0};
  const int64_t shape[2] = {3, 4};
  rk_tensor t;
  assert_rk_ok(rk_tensor_view(&t, RK_DT_F32, 2, shape, buf));
  assert_ptr_equal(t.data, buf);
  assert_false(t.owned);
  assert_int_equal(rk_tensor_nbytes(&t), sizeof buf);
  int64_t live0 = rk_alloc_live_bytes();
  rk_tensor_free(&t);   /* must not free buf */
  assert_int_equal(rk_alloc_live_bytes(), live0);
  assert_null(t.data);
}

static void test_tensor_describe(void **state) {
  (void)state;
  char buf[64];
  const int64_t shape[3] = {4096, 64, 3};
  rk_tensor t;
  assert_rk_ok(rk_tensor_view(&t, RK_DT_F32, 2, shape, NULL));
  assert_string_equal(rk_tensor_describe(&t, buf, sizeof buf), "f32[4096, 64]");
  assert_rk_ok(rk_tensor_view(&t, RK_DT_BF16, 3, shape, NULL));
  assert_string_equal(rk_tensor_describe(&t, buf, sizeof buf), "bf16[4096, 64, 3]");
  assert_rk_ok(rk_tensor_view(&t, RK_DT_I64, 0, shape, NULL));
  assert_string_equal(rk_tensor_describe(&t, buf, sizeof buf), "i64[]");
  /* A short buffer truncates, NUL-terminated, without writing past its end. */
  char small[9];
  memset(small, 'X', sizeof small);
  assert_rk_ok(rk_tensor_view(&t, RK_DT_F32, 3, shape, NULL));
  assert_string_equal(rk_tensor_describe(&t, small, 8), "f32[409");
  assert_int_equal(small[8], 'X');
}

/* ---- f16 ---------------------------------------------------------------------------------- */
/* Independent decoder: binary16 = (-1)^s * 2^(e-15) * 1.m, subnormals 2^-14 * 0.m. */
static double f16_reference(uint16_t h) {
  int s = h >> 15, e = (h >> 10) & 0x1f, m = h & 0x3ff;
  double v;
  if (e == 0) v = ldexp(m, -24);
  else if (e == 31) v = m ? NAN : INFINITY;
  else v = ldexp(1024 + m, e - 25);
  return s ? -v : v;
}

static bool f16_is_nan(uint16_t h) { return (h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0; }

static void test_f16_decode_and_round_trip_all(void **state) {
  (void)state;
  for (uint32_t i = 0; i < 65536; i++) {
    uint16_t h = (uint16_t)i;
    float f = rk_f16_to_f32(h);
    if (f16_is_nan(h)) {
      assert_true(isnan(f));
      assert_int_equal(bits_of(f) >> 31, h >> 15);   /* sign kept */
      uint16_t back = rk_f32_to_f16(f);
      assert_true(f16_is_nan(back));
      assert_int_equal(back >> 15, h >> 15);
      continue;
    }
    double ref = f16_reference(h);
    if ((double)f != ref) fail_msg("f16 0x%04x decodes to %a, expected %a", h, (double)f, ref);
    assert_int_equal(signbit(f) != 0, h >> 15);   /* -0 stays -0 */
    uint16_t back = rk_f32_to_f16(f);
    if (back != h) fail_msg("f16 0x%04x -> %a -> 0x%04x", h, (double)f, back);
  }
}

/* Between every pair of adjacent finite halves: the exact midpoint goes to the even one, a
 * float one ulp either side goes to the nearer one. Covers subnormals and the normal range. */
static void test_f16_rounds_to_nearest_even_at_every_tie(void **state) {
  (void)state;
  for (uint32_t i = 0; i < 0x7bff; i++) {
    for (int neg = 0; neg < 2; neg++) {
      uint16_t lo = (uint16_t)(i | (neg ? 0x8000 : 0)), hi = (uint16_t)((i + 1) | (neg ? 0x8000 : 0));
      double a = f16_reference(lo), b = f16_reference(hi);
      float mid = (float)((a + b) / 2);   /* exact: halves have 11 significant bits */
      assert_true((double)mid == (a + b) / 2);
      uint16_t even = (lo & 1) ? hi : lo;
      uint16_t got = rk_f32_to_f16(mid);
      if (got != even) fail_msg("tie %a between 0x%04x and 0x%04x -> 0x%04x", (double)mid, lo, hi, got);
      float toward_lo = nextafterf(mid, (float)a), toward_hi = nextafterf(mid, (float)b);
      assert_int_equal(rk_f32_to_f16(toward_lo), lo);
      assert_int_equal(rk_f32_to_f16(toward_hi), hi);
    }
  }
}

static void test_f16_subnormal_underflow_and_overflow(void **state) {
  (void)state;
  const float min_sub = 0x1p-24f;
  assert_int_equal(rk_f32_to_f16(min_sub), 0x0001);
  assert_int_equal(rk_f32_to_f16(0x1p-25f), 0x0000);                       /* tie to even: 0 */
  assert_int_equal(rk_f32_to_f16(nextafterf(0x1p-25f, 1)), 0x0001);
  assert_int_equal(rk_f32_to_f16(-nextafterf(0x1p-25f, 1)), 0x8001);
  assert_int_equal(rk_f32_to_f16(0x1p-26f), 0x0000);
  assert_int_equal(rk_f32_to_f16(-0x1p-26f), 0x8000);                      /* keeps the sign */
  assert_int_equal(rk_f32_to_f16(3 * 0x1p-25f), 0x0002);                   /* 1.5 ulp: to 2 */
  assert_int_equal(rk_f32_to_f16(FLT_MIN), 0x0000);                        /* f32 normal, tiny */
  assert_int_equal(rk_f32_to_f16(float_of(0x00000001)), 0x0000);           /* f32 subnormal */
  assert_int_equal(rk_f32_to_f16(0x1p-14f), 0x0400);                       /* smallest normal */
  assert_int_equal(rk_f32_to_f16(0x1p-14f - 0x1p-25f), 0x0400);            /* tie: 0x3ff odd */
  assert_int_equal(rk_f32_to_f16(0.0f), 0x0000);
  assert_int_equal(rk_f32_to_f16(-0.0f), 0x8000);
  assert_int_equal(rk_f32_to_f16(1.0f), 0x3c00);
  assert_int_equal(rk_f32_to_f16(-2.0f), 0xc000);
  assert_int_equal(rk_f32_to_f16(65504.0f), 0x7bff);                       /* largest half */
  assert_int_equal(rk_f32_to_f16(65519.0f), 0x7bff);
  assert_int_equal(rk_f32_to_f16(65520.0f), 0x7c00);                       /* tie: 0x7bff odd */
  assert_int_equal(rk_f32_to_f16(-65520.0f), 0xfc00);
  assert_int_equal(rk_f32_to_f16(1e6f), 0x7c00);
  assert_int_equal(rk_f32_to_f16(FLT_MAX), 0x7c00);
  assert_int_equal(rk_f32_to_f16(INFINITY), 0x7c00);
  assert_int_equal(rk_f32_to_f16(-INFINITY), 0xfc00);
  assert_true(f16_is_nan(rk_f32_to_f16(NAN)));
  assert_true(f16_is_nan(rk_f32_to_f16(float_of(0x7f800001))));   /* payload only in low bits */
  assert_true(f16_is_nan(rk_f32_to_f16(float_of(0xffc00000))));
}

/* ---- bf16 --------------------------------------------------------------------------------- */
static bool bf16_is_nan(uint16_t h) { return (h & 0x7f80) == 0x7f80 && (h & 0x7f) != 0; }

static void test_bf16_selected_values(void **state) {
  (void)state;
  assert_int_equal(rk_f32_to_bf16(1.0f), 0x3f80);
  assert_int_equal(rk_f32_to_bf16(-1.5f), 0xbfc0);
  assert_int_equal(rk_f32_to_bf16(0.0f), 0x0000);
  assert_int_equal(rk_f32_to_bf16(-0.0f), 0x8000);
  assert_int_equal(rk_f32_to_bf16(1.0f + 0x1p-8f), 0x3f80);               /* tie, 0x3f80 even */
  assert_int_equal(rk_f32_to_bf16(1.0f + 3 * 0x1p-8f), 0x3f82);           /* tie, 0x3f81 odd */
  assert_int_equal(rk_f32_to_bf16(1.0f + 0x1p-8f + 0x1p-20f), 0x3f81);    /* above the tie */
  assert_int_equal(rk_f32_to_bf16(1.0f + 0x1p-8f - 0x1p-20f), 0x3f80);    /* below the tie */
  assert_int_equal(rk_f32_to_bf16(float_of(0x7f7f7fff)), 0x7f7f);
  assert_int_equal(rk_f32_to_bf16(float_of(0x7f7f8000)), 0x7f80);          /* tie up to inf */
  assert_int_equal(rk_f32_to_bf16(FLT_MAX), 0x7f80);
  assert_int_equal(rk_f32_to_bf16(-FLT_MAX), 0xff80);
  assert_int_equal(rk_f32_to_bf16(INFINITY), 0x7f80);
  assert_int_equal(rk_f32_to_bf16(-INFINITY), 0xff80);
  assert_int_equal(rk_f32_to_bf16(float_of(0x00000001)), 0x0000);          /* subnormal: 0 */
  assert_int_equal(rk_f32_to_bf16(float_of(0x00008000)), 0x0000);          /* tie to even */
  assert_int_equal(rk_f32_to_bf16(float_of(0x00018000)), 0x0002);          /* tie to even */
  assert_int_equal(rk_f32_to_bf16(float_of(0x00010001)), 0x0001);
  assert_true(bf16_is_nan(rk_f32_to_bf16(NAN)));
  assert_true(bf16_is_nan(rk_f32_to_bf16(float_of(0x7f800001))));          /* would truncate to inf */
  assert_true(bf16_is_nan(rk_f32_to_bf16(float_of(0xffffffff))));
  assert_true(rk_bf16_to_f32(0x3f80) == 1.0f);
  assert_true(rk_bf16_to_f32(0xc0490fdb >> 16) == -3.140625f);
}

static void test_bf16_round_trip_all(void **state) {
  (void)state;
  for (uint32_t i = 0; i < 65536; i++) {
    uint16_t h = (uint16_t)i;
    float f = rk_bf16_to_f32(h);
    assert_int_equal(bits_of(f), (uint32_t)h << 16);
    uint16_t back = rk_f32_to_bf16(f);
    if (bf16_is_nan(h)) assert_true(bf16_is_nan(back));
    else if (back != h) fail_msg("bf16 0x%04x -> 0x%04x", h, back);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tensor_alloc_shapes),
      cmocka_unit_test(test_tensor_dtype_sizes_names),
      cmocka_unit_test(test_tensor_zero_sized_dims),
      cmocka_unit_test(test_tensor_shape_errors),
      cmocka_unit_test(test_tensor_view_does_not_own),
      cmocka_unit_test(test_tensor_describe),
      cmocka_unit_test(test_f16_decode_and_round_trip_all),
      cmocka_unit_test(test_f16_rounds_to_nearest_even_at_every_tie),
      cmocka_unit_test(test_f16_subnormal_underflow_and_overflow),
      cmocka_unit_test(test_bf16_selected_values),
      cmocka_unit_test(test_bf16_round_trip_all),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
