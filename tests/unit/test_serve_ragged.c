/*
 * A list column's ragged pair at the serving core's edge (src/serve/tensors.c, reckon/serve.h):
 * `tags__values` (the rows' values one after another) and `tags__offsets` (rows + 1 offsets).
 *   - which inputs form a pair (both names, both dims [-1]);
 *   - rk_serve_check_inputs: a good pair gives the rows (INT32 or INT64 offsets, data at any
 *     alignment, no rows at all); each fault is RK_EINVAL naming the input and what was expected;
 *   - rk_serve_append_ragged: two requests' pairs appended into one list column, offsets shifted,
 *     and every allocation failure;
 *   - rk_serve_pad_list: a workflow step's list of ids as (rows, L) for an ONNX step: padded with
 *     0, in the config's integer type, a longer row refused naming the column.
 * The whole path (HTTP, gRPC, the workflow and model steps) is tests/e2e/serve_lists.sh.
 */
#include <string.h>

#include "serve/serve_internal.h"
#include "support.h"

static rk_model_config_tensor tensor(const char *name, rk_serve_dtype dt, int64_t dim) {
  rk_model_config_tensor t = {0};
  t.name = (char *)name;
  t.data_type = dt;
  t.n_dims = 1;
  t.dims[0] = dim;
  return t;
}

static rk_model_config config(rk_model_config_tensor *in, int n) {
  rk_model_config c = {0};
  c.name = (char *)"m";
  c.max_batch_size = 8;
  c.input = in;
  c.n_input = n;
  return c;
}

/* BYTES elements "a", "bb", "c". */
static const unsigned char words[] = {1, 0, 0, 0, 'a', 2, 0, 0, 0, 'b', 'b', 1, 0, 0, 0, 'c'};
static const int64_t uid[3] = {7, 8, 9};

static rk_serve_input input(const char *name, rk_serve_dtype dt, int ndim, int64_t d0, int64_t d1, const void *data,
                            int64_t nbytes) {
  rk_serve_input x = {.name = name, .datatype = dt, .ndim = ndim, .data = data, .nbytes = nbytes};
  x.shape[0] = d0;
  x.shape[1] = d1;
  return x;
}

typedef struct {
  rk_serve_input in[3];
  rk_serve_request req;
} request;

/* uid (3, 1), the three words, and `offsets` (n of them, INT32). */
static void make(request *r, const int32_t *offsets, int n) {
  r->in[0] = input("uid", RK_SERVE_DT_INT64, 2, 3, 1, uid, sizeof uid);
  r->in[1] = input("tags__values", RK_SERVE_DT_BYTES, 1, 3, 0, words, sizeof words);
  r->in[2] = input("tags__offsets", RK_SERVE_DT_INT32, 1, n, 0, offsets, 4 * (int64_t)n);
  r->req = (rk_serve_request){.model = "m", .inputs = r->in, .n_inputs = 3};
}

static rk_model_config_tensor ins[3];
static rk_model_config cfg;

static int setup(void **state) {
  (void)state;
  ins[0] = tensor("uid", RK_SERVE_DT_INT64, 1);
  ins[1] = tensor("tags__values", RK_SERVE_DT_BYTES, -1);
  ins[2] = tensor("tags__offsets", RK_SERVE_DT_INT32, -1);
  cfg = config(ins, 3);
  return 0;
}

static void test_pairs(void **state) {
  (void)state;
  assert_ptr_equal(rk_serve_ragged_partner(&cfg, "tags__values"), &ins[2]);
  assert_ptr_equal(rk_serve_ragged_partner(&cfg, "tags__offsets"), &ins[1]);
  assert_true(rk_serve_is_ragged_offsets(&cfg, "tags__offsets"));
  assert_false(rk_serve_is_ragged_offsets(&cfg, "tags__values"));
  assert_null(rk_serve_ragged_partner(&cfg, "uid"));
  /* a lone __values, or a pair of one value per row, is no pair */
  rk_model_config_tensor lone[2] = {tensor("x__values", RK_SERVE_DT_INT64, -1), tensor("y__offsets", RK_SERVE_DT_INT32, -1)};
  rk_model_config c = config(lone, 2);
  assert_null(rk_serve_ragged_partner(&c, "x__values"));
  rk_model_config_tensor flat[2] = {tensor("x__values", RK_SERVE_DT_INT64, 1), tensor("x__offsets", RK_SERVE_DT_INT32, 1)};
  c = config(flat, 2);
  assert_null(rk_serve_ragged_partner(&c, "x__values"));
}

static void expect_rows(const request *r, int64_t want) {
  int64_t rows = -2;
  assert_rk_ok(rk_serve_check_inputs(&cfg, "m", &r->req, 1000, &rows));
  assert_int_equal(rows, want);
}

static void expect_fault(const request *r, const char *a, const char *b) {
  int64_t rows;
  assert_int_equal(rk_serve_check_inputs(&cfg, "m", &r->req, 1000, &rows), RK_EINVAL);
  const char *msg = rk_error_message();
  if (!strstr(msg, a) || (b && !strstr(msg, b))) fail_msg("'%s' lacks '%s' / '%s'", msg, a, b ? b : "");
}

static void test_check(void **state) {
  (void)state;
  request r;
  static const int32_t good[] = {0, 2, 2, 3};
  make(&r, good, 4);
  expect_rows(&r, 3);

  /* INT64 offsets, at an odd address */
  unsigned char buf[1 + 32];
  const int64_t wide[] = {0, 2, 2, 3};
  memcpy(buf + 1, wide, sizeof wide);
  r.in[2] = input("tags__offsets", RK_SERVE_DT_INT64, 1, 4, 0, buf + 1, sizeof wide);
  expect_rows(&r, 3);

  /* no rows: one offset, no values, no uid rows */
  static const int32_t zero[] = {0};
  make(&r, zero, 1);
  r.in[0] = input("uid", RK_SERVE_DT_INT64, 2, 0, 1, uid, 0);
  r.in[1] = input("tags__values", RK_SERVE_DT_BYTES, 1, 0, 0, words, 0);
  expect_rows(&r, 0);

  static const int32_t from1[] = {1, 2, 2, 3}, down[] = {0, 2, 1, 3}, past[] = {0, 2, 2, 4}, two_rows[] = {0, 2, 3};
  make(&r, from1, 4);
  expect_fault(&r, "input 'tags__offsets' starts at 1", "start at 0");
  make(&r, down, 4);
  expect_fault(&r, "input 'tags__offsets' decreases at position 2", "1 after 2");
  make(&r, past, 4);
  expect_fault(&r, "input 'tags__offsets' ends at 4", "'tags__values' holds 3 values");
  make(&r, two_rows, 3);
  expect_fault(&r, "input 'tags__offsets' gives 2 rows", "before it 3");
  make(&r, good, 0);
  expect_fault(&r, "input 'tags__offsets' is empty", NULL);
  make(&r, good, 4);
  r.in[2].datatype = RK_SERVE_DT_FP32;
  expect_fault(&r, "input 'tags__offsets' is FP32", "INT32 or INT64");
  make(&r, good, 4);
  r.in[1] = input("tags__values", RK_SERVE_DT_BYTES, 2, 1, 3, words, sizeof words);
  expect_fault(&r, "input 'tags__values' has shape [1, 3]", "expected [-1]");
  make(&r, good, 4);
  r.in[1].nbytes -= 1;   /* the last word cut short */
  expect_fault(&r, "input 'tags__values' has 15 bytes", "BYTES");
  make(&r, good, 4);
  r.in[2].nbytes = 12;
  expect_fault(&r, "input 'tags__offsets' has 12 bytes", "expected 16");
  make(&r, good, 4);
  r.req.n_inputs = 2;   /* values without offsets */
  expect_fault(&r, "lacks input 'tags__offsets'", NULL);
  static const int32_t many[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0};   /* 9 rows, max_batch_size 8 */
  make(&r, many, 10);
  r.in[1] = input("tags__values", RK_SERVE_DT_BYTES, 1, 0, 0, words, 0);
  r.req.inputs = r.in + 1;
  r.req.n_inputs = 2;
  ins[0].optional = true;
  expect_fault(&r, "9 rows is above its max_batch_size 8", NULL);
  ins[0].optional = false;
}

/* Two requests' pairs into one list column: [a, bb], [], [c] then [c], [a]. */
typedef struct {
  const rk_serve_input *v[2], *o[2];
} append_args;

static rk_status append_two(void *ctx) {
  append_args *a = ctx;
  rk_column col = {0};
  rk_status st = RK_OK;
  for (int k = 0; k < 2 && st == RK_OK; k++) st = rk_serve_append_ragged(&col, a->v[k], a->o[k]);
  rk_column_free(&col);
  return st;
}

static void test_append(void **state) {
  (void)state;
  static const int32_t o1[] = {0, 2, 2, 3};
  static const int64_t o2[] = {0, 1, 2};
  static const unsigned char w2[] = {1, 0, 0, 0, 'c', 1, 0, 0, 0, 'a'};
  rk_serve_input v1 = input("tags__values", RK_SERVE_DT_BYTES, 1, 3, 0, words, sizeof words);
  rk_serve_input f1 = input("tags__offsets", RK_SERVE_DT_INT32, 1, 4, 0, o1, sizeof o1);
  rk_serve_input v2 = input("tags__values", RK_SERVE_DT_BYTES, 1, 2, 0, w2, sizeof w2);
  rk_serve_input f2 = input("tags__offsets", RK_SERVE_DT_INT64, 1, 3, 0, o2, sizeof o2);
  rk_column col = {0};
  assert_rk_ok(rk_serve_append_ragged(&col, &v1, &f1));
  assert_rk_ok(rk_serve_append_ragged(&col, &v2, &f2));
  assert_string_equal(col.name, "tags__values");
  assert_int_equal(col.type, RK_COL_LIST);
  assert_int_equal(col.length, 5);
  const int64_t offsets[] = {0, 2, 2, 3, 4, 5};
  const char *values[] = {"a", "bb", "c", "c", "a"};
  for (int r = 0; r <= 5; r++) assert_int_equal(col.offsets[r], offsets[r]);
  for (int k = 0; k < 5; k++) {
    size_t n;
    const char *s = rk_column_get_string(col.child, k, &n);
    assert_int_equal(n, strlen(values[k]));
    assert_memory_equal(s, values[k], n);
  }
  rk_column_free(&col);
  append_args a = {{&v1, &v2}, {&f1, &f2}};
  assert_true(rk_test_walk_failures(append_two, &a) > 0);
}

static rk_status pad_copy(void *ctx) {
  rk_column col = {0};
  rk_status st = rk_column_init(&col, "tags", RK_COL_LIST, RK_COL_INT32);
  if (st == RK_OK) st = rk_column_append_column(&col, ctx, 0, ((rk_column *)ctx)->length);
  if (st == RK_OK) st = rk_serve_pad_list(&col, 3, RK_SERVE_DT_INT64);
  rk_column_free(&col);
  return st;
}

static void test_pad(void **state) {
  (void)state;
  rk_column ids = {0};   /* [4, 5], [], [6] as int32 (a --to_int32 column's ids) */
  assert_rk_ok(rk_column_init(&ids, "tags", RK_COL_LIST, RK_COL_INT32));
  const int64_t rows[3][2] = {{4, 5}, {0, 0}, {6, 0}};
  const int lens[3] = {2, 0, 1};
  for (int r = 0; r < 3; r++) {
    for (int k = 0; k < lens[r]; k++) assert_rk_ok(rk_column_append_int(ids.child, rows[r][k]));
    assert_rk_ok(rk_column_finish_list_row(&ids));
  }
  rk_column col = {0};
  assert_rk_ok(rk_column_init(&col, "tags", RK_COL_LIST, RK_COL_INT32));
  assert_rk_ok(rk_column_append_column(&col, &ids, 0, 3));
  assert_rk_ok(rk_serve_pad_list(&col, 3, RK_SERVE_DT_INT64));
  assert_int_equal(col.child->type, RK_COL_INT64);
  const int64_t want[9] = {4, 5, 0, 0, 0, 0, 6, 0, 0};
  for (int r = 0; r <= 3; r++) assert_int_equal(col.offsets[r], 3 * r);
  for (int k = 0; k < 9; k++) assert_int_equal(((const int64_t *)col.child->values)[k], want[k]);
  assert_int_equal(rk_serve_pad_list(&col, 2, RK_SERVE_DT_INT64), RK_ERANGE);
  assert_non_null(strstr(rk_error_message(), "column 'tags' has a row of 3 values; its tensor takes 2"));
  rk_column_free(&col);
  assert_true(rk_test_walk_failures(pad_copy, &ids) > 0);
  rk_column_free(&ids);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_pairs, setup),
      cmocka_unit_test_setup(test_check, setup),
      cmocka_unit_test(test_append),
      cmocka_unit_test(test_pad),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
