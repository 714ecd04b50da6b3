/*
 * Checked sizes: the one place where sizes computed from input are multiplied and added.
 *
 * A shape in a file header, a domain in a schema or a batch size on the command line can be any
 * int64; their products wrap around (undefined behaviour in C, and in practice a small allocation
 * that the following loop overruns). Each product and sum goes through these, with a bound,
 * RK_SIZE_MAX, low enough that the callers' own arithmetic on a checked size (times an element's
 * bytes, plus an offset) cannot overflow either. It is not an allocator and not a memory budget
 * (memory.c is).
 */
#include "reckon/core.h"

static rk_status check_operand(int64_t v, const char *what) {
  if (v < 0) return rk_error(RK_ERANGE, "%s: %lld is negative", what, (long long)v);
  if (v > RK_SIZE_MAX)
    return rk_error(RK_ERANGE, "%s is too large: %lld exceeds the limit of %lld", what, (long long)v,
                    (long long)RK_SIZE_MAX);
  return RK_OK;
}

rk_status rk_size_mul(int64_t *out, int64_t a, int64_t b, const char *what) {
  *out = 0;
  RK_TRY(check_operand(a, what));
  RK_TRY(check_operand(b, what));
  /* Both are at most 2^48, so a / b cannot overflow; compare before multiplying. */
  if (b != 0 && a > RK_SIZE_MAX / b)
    return rk_error(RK_ERANGE, "%s is too large: %lld x %lld exceeds the limit of %lld", what, (long long)a,
                    (long long)b, (long long)RK_SIZE_MAX);
  *out = a * b;
  return RK_OK;
}

rk_status rk_size_add(int64_t *out, int64_t a, int64_t b, const char *what) {
  *out = 0;
  RK_TRY(check_operand(a, what));
  RK_TRY(check_operand(b, what));
  if (a + b > RK_SIZE_MAX)   /* both at most 2^48: the sum fits int64_t */
    return rk_error(RK_ERANGE, "%s is too large: %lld + %lld exceeds the limit of %lld", what, (long long)a,
                    (long long)b, (long long)RK_SIZE_MAX);
  *out = a + b;
  return RK_OK;
}

rk_status rk_size_numel(int64_t *out, int ndim, const int64_t *shape, const char *what) {
  int64_t n = 1;
  *out = 0;
  for (int d = 0; d < ndim; d++) RK_TRY(rk_size_mul(&n, n, shape[d], what));
  *out = n;
  return RK_OK;
}
