/*
 * rk_init_tensor_rows: a table's rows held apart (a shard: rows r, r + R, r + 2R, ... of a
 * (V, D) table) get exactly the values rk_init_tensor gives those rows of the whole table, for
 * the draws a table can start from (uniform, normal, TensorFlow's truncated normal, Glorot with
 * the whole table's fans); and rk_init_tensor itself is unchanged by the row mapping.
 */
#include <string.h>

#include "reckon/nn.h"
#include "support.h"

enum { V = 37, D = 5 };

static void check_kind(rk_init_kind kind, double scale) {
  rk_init_spec spec = rk_init_spec_default(kind);
  if (scale > 0) spec.scale = scale;
  rk_tensor whole;
  const int64_t shape[2] = {V, D};
  assert_rk_ok(rk_tensor_alloc(&whole, RK_DT_F32, 2, shape));
  assert_rk_ok(rk_init_tensor(&whole, &spec, 42, 7));
  const float *w = whole.data;
  for (int R = 1; R <= 4; R++) {
    for (int r = 0; r < R; r++) {
      int64_t rows = (V - r + R - 1) / R, local[2] = {rows, D};
      rk_tensor part;
      assert_rk_ok(rk_tensor_alloc(&part, RK_DT_F32, 2, local));
      assert_rk_ok(rk_init_tensor_rows(&part, &spec, 42, 7, V, r, R));
      const float *p = part.data;
      for (int64_t l = 0; l < rows; l++) assert_memory_equal(p + l * D, w + (l * R + r) * D, D * sizeof(float));
      rk_tensor_free(&part);
    }
  }
  rk_tensor_free(&whole);
}

static void test_rows_equal_the_whole_tables(void **state) {
  (void)state;
  check_kind(RK_INIT_UNIFORM, 0.05);
  check_kind(RK_INIT_NORMAL, 0);
  check_kind(RK_INIT_TRUNCATED_NORMAL, 0.4472);   /* 1 / sqrt(D), the recipe's embedding_column */
  check_kind(RK_INIT_GLOROT_UNIFORM, 0);
}

static void test_rows_of_a_non_table_are_refused(void **state) {
  (void)state;
  rk_tensor t;
  const int64_t shape[1] = {8};
  assert_rk_ok(rk_tensor_alloc(&t, RK_DT_F32, 1, shape));
  rk_init_spec spec = rk_init_spec_default(RK_INIT_UNIFORM);
  assert_int_equal(rk_init_tensor_rows(&t, &spec, 1, 1, 16, 0, 2), RK_EINVAL);
  assert_non_null(strstr(rk_error_message(), "a (rows, D) table expected"));
  rk_tensor_free(&t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rows_equal_the_whole_tables),
      cmocka_unit_test(test_rows_of_a_non_table_are_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
