/*
 * Test support for the model tests: a small ranking schema and batches that fit it.
 */
#include "ranking_data.h"
#include "support.h"

/* user_id (50 rows), item_id (30, tagged item_id), age (continuous); click target. */
void ranking_schema(rk_schema *s) {
  rk_schema_init(s);
  rk_schema_column *c;
  assert_rk_ok(rk_schema_add_column(s, "user_id", "int32", &c));
  assert_rk_ok(rk_schema_column_add_tag(c, "categorical"));
  assert_rk_ok(rk_schema_column_set_int_domain(c, 0, 49, true, "user_id"));
  assert_rk_ok(rk_schema_add_column(s, "item_id", "int32", &c));
  assert_rk_ok(rk_schema_column_add_tag(c, "categorical"));
  assert_rk_ok(rk_schema_column_add_tag(c, "item_id"));
  assert_rk_ok(rk_schema_column_set_int_domain(c, 0, 29, true, "item_id"));
  assert_rk_ok(rk_schema_add_column(s, "age", "float32", &c));
  assert_rk_ok(rk_schema_column_add_tag(c, "continuous"));
  assert_rk_ok(rk_schema_add_column(s, "click", "int8", &c));
  assert_rk_ok(rk_schema_column_add_tag(c, "target"));
  assert_rk_ok(rk_schema_column_add_tag(c, "binary_classification"));
}

/* n rows: user 3 + r % 40, item 3 + (r * 7) % 25, age r / 10, click r % 3 == 0. */
void ranking_batch(rk_batch *b, int64_t n) {
  assert_rk_ok(rk_batch_init(b, 4));
  const char *names[] = {"user_id", "item_id", "age", "click"};
  rk_coltype types[] = {RK_COL_INT32, RK_COL_INT32, RK_COL_FLOAT32, RK_COL_INT8};
  for (int k = 0; k < 4; k++) assert_rk_ok(rk_column_init(&b->cols[k], names[k], types[k], RK_COL_INT64));
  for (int64_t r = 0; r < n; r++) {
    assert_rk_ok(rk_column_append_int(&b->cols[0], 3 + r % 40));
    assert_rk_ok(rk_column_append_int(&b->cols[1], 3 + (r * 7) % 25));
    assert_rk_ok(rk_column_append_double(&b->cols[2], (double)r / 10.0));
    assert_rk_ok(rk_column_append_int(&b->cols[3], r % 3 == 0));
  }
  b->nrows = n;
}
