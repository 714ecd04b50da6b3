/*
 * Sizes from input are checked (issue 15, item 11): each case here once wrapped around, overran
 * the stack or allocated until the machine gave out, and must now fail with a message naming
 * what was too large. Crafted safetensors headers whose shapes overflow; a schema domain of
 * INT64_MAX; embeddings, layers and batches larger than any machine (refused by the memory
 * estimate, with it); in-batch negatives past the batch; thread counts; filter queries nested
 * past the parser's bound. The sanitizer build runs these too, where UBSan catches a regression.
 */
#include <string.h>

#include "reckon/etl.h"
#include "reckon/io.h"
#include "reckon/models.h"
#include "reckon/schema.h"
#include "reckon/trainer.h"
#include "support.h"

static void assert_message(const char *want) {
  if (!strstr(rk_error_message(), want)) fail_msg("expected '%s' in: %s", want, rk_error_message());
}

/* ---- safetensors headers ---- */

/* A file of `header` (padded) and `data_len` zero bytes. */
static rk_status parse_header(const char *header, size_t data_len) {
  size_t hlen = strlen(header), padded = (hlen + 7) / 8 * 8, size = 8 + padded + data_len;
  uint8_t *buf = calloc(1, size);
  for (int b = 0; b < 8; b++) buf[b] = (uint8_t)((uint64_t)padded >> (8 * b));
  memcpy(buf + 8, header, hlen);
  memset(buf + 8 + hlen, ' ', padded - hlen);
  rk_safetensors *f = NULL;
  rk_status st = rk_safetensors_parse(&f, buf, size, "crafted.safetensors");
  rk_safetensors_free(f);
  free(buf);
  return st;
}

static void test_safetensors_shapes_that_overflow(void **state) {
  (void)state;
  /* 2^32 x 2^32 elements wrapped to 0, matching data_offsets [0, 0] */
  assert_int_equal(parse_header("{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}}", 0),
                   RK_EFORMAT);
  assert_message("'crafted.safetensors' is not a valid safetensors file");
  assert_message("the byte size of tensor 'w' is too large: 4294967296 x 4294967296");
  /* 2^62 elements x 4 bytes wrapped to 0 */
  assert_int_equal(parse_header("{\"w\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904],\"data_offsets\":[0,0]}}", 0),
                   RK_EFORMAT);
  assert_message("the byte size of tensor 'w' is too large: 4611686018427387904 exceeds");
  /* 2^31 x 2^31 x 4 = 2^64: each product but the last fits */
  assert_int_equal(parse_header("{\"w\":{\"dtype\":\"F32\",\"shape\":[2147483648,2147483648],\"data_offsets\":[0,0]}}", 0),
                   RK_EFORMAT);
  assert_message("too large");
  /* an empty axis beside a huge one is a legal empty tensor */
  assert_rk_ok(parse_header("{\"w\":{\"dtype\":\"F32\",\"shape\":[0,281474976710656],\"data_offsets\":[0,0]}}", 0));
}

/* ---- models: domains and memory ---- */

static void make_schema(rk_schema *s, int64_t user_max) {
  rk_schema_init(s);
  rk_schema_column *c;
  assert_rk_ok(rk_schema_add_column(s, "user_id", "int64", &c));
  assert_rk_ok(rk_schema_column_add_tag(c, "categorical"));
  assert_rk_ok(rk_schema_column_set_int_domain(c, 0, user_max, true, "user_id"));
  assert_rk_ok(rk_schema_add_column(s, "item_id", "int64", &c));
  assert_rk_ok(rk_schema_column_add_tag(c, "categorical"));
  assert_rk_ok(rk_schema_column_set_int_domain(c, 0, 99, true, "item_id"));
  assert_rk_ok(rk_schema_add_column(s, "click", "int8", &c));
  assert_rk_ok(rk_schema_column_add_tag(c, "target"));
  assert_rk_ok(rk_schema_column_add_tag(c, "binary_classification"));
}

static rk_status build(int64_t user_max, rk_model_kind kind, int64_t dim, int64_t layer, int64_t batch) {
  int64_t live = rk_alloc_live_bytes();
  rk_schema s;
  make_schema(&s, user_max);
  rk_ranking_config c;
  rk_ranking_config_default(&c);
  c.kind = kind;
  const int64_t layers[] = {layer, 8};
  c.mlp_layers = layers;
  c.n_mlp_layers = 2;
  c.embeddings_dim = dim;
  rk_ranking_model m;
  rk_status st = rk_ranking_build(&m, &s, "click", false, &c, batch);
  if (st == RK_OK) rk_ranking_free(&m);
  rk_schema_free(&s);
  assert_int_equal(rk_alloc_live_bytes(), live);
  return st;
}

static void test_model_sizes_checked(void **state) {
  (void)state;
  assert_rk_ok(build(199, RK_MODEL_DLRM, 8, 16, 64));
  /* int_domain max INT64_MAX: the table's rows (max + 1) overflowed */
  assert_int_equal(build(INT64_MAX, RK_MODEL_DLRM, 8, 16, 64), RK_ERANGE);
  assert_message("the table of categorical column 'user_id' (int_domain max + 1) is too large");
  /* a large domain times the dimension */
  assert_int_equal(build(INT64_C(1) << 46, RK_MODEL_DLRM, 64, 16, 64), RK_ERANGE);
  assert_message("the embedding table of column 'user_id' (rows x dimension) is too large");
  /* a batch whose graph rows pass the limit */
  assert_int_equal(build(199, RK_MODEL_MLP, 8, 16, INT64_C(1) << 47), RK_ERANGE);
  assert_message("too large");
}

/* Sizes that fit int64_t but no machine: refused before allocating, with the estimate. */
static void test_model_memory_estimated(void **state) {
  (void)state;
  int64_t total = rk_memory_total_bytes();
  assert_true(total > 0);
  assert_true(total < (INT64_C(1) << 42));   /* the cases below need more than 4 TiB */
  /* --embeddings_dim 1000000000 x 200 rows: 800 GB of table */
  assert_int_equal(build(199, RK_MODEL_DLRM, 1000000000, 16, 64), RK_ENOMEM);
  assert_message("a dlrm model at batch 64 needs ~");
  assert_message("GiB, this machine has ");
  /* --mlp_layers 100000000,8 after a 1e5-wide input: 1e13 weights */
  assert_int_equal(build(199, RK_MODEL_MLP, 100000, 100000000, 64), RK_ENOMEM);
  assert_message("needs ~");
  /* --train_batch_size 1e10: the activations alone */
  assert_int_equal(build(199, RK_MODEL_MLP, 8, 16, 10000000000), RK_ENOMEM);
  assert_message("a mlp model at batch 10000000000 needs ~");
}

static void test_in_batch_negatives_bounded_by_the_batch(void **state) {
  (void)state;
  int64_t rows;
  assert_rk_ok(rk_feed_graph_rows(&rows, 1024, 0, "--in_batch_negatives_train"));
  assert_int_equal(rows, 1024);
  assert_rk_ok(rk_feed_graph_rows(&rows, 1024, 1023, "--in_batch_negatives_train"));
  assert_int_equal(rows, 1024 * 1024);
  assert_int_equal(rk_feed_graph_rows(&rows, 1024, 100000, "--in_batch_negatives_train"), RK_EUSAGE);
  assert_message("invalid value '100000' for --in_batch_negatives_train: expected at most 1023");
  assert_int_equal(rk_feed_graph_rows(&rows, 1024, -1, "--in_batch_negatives_eval"), RK_EUSAGE);
  assert_message("--in_batch_negatives_eval");
  /* 2^31 rows x (1 + 2^30): past the limit though each flag is in range */
  assert_int_equal(rk_feed_graph_rows(&rows, INT64_C(2147483648), INT64_C(1) << 30, "--in_batch_negatives_train"),
                   RK_ERANGE);
  assert_message("the graph's rows (batch size x (1 + in-batch negatives)) is too large");
  assert_int_equal(rk_feed_graph_rows(&rows, 0, 0, "--in_batch_negatives_train"), RK_EUSAGE);
}

static void test_thread_count_bounded(void **state) {
  (void)state;
  assert_rk_ok(rk_set_num_threads(2));
  assert_int_equal(rk_set_num_threads(100000), RK_ERANGE);
  assert_message("100000 threads: reckon runs at most 1024");
  assert_int_equal(rk_num_threads(), 2);   /* unchanged */
  assert_rk_ok(rk_set_num_threads(RK_THREADS_MAX));
  assert_rk_ok(rk_set_num_threads(0));
}

/* ---- many columns ---- */

/* rk_schema_add_column's duplicate check is indexed: 20,000 columns added one by one to a parsed
 * schema, each duplicate refused, the parsed columns' too. */
static void test_schema_many_columns(void **state) {
  (void)state;
  int64_t live = rk_alloc_live_bytes();
  rk_schema s;
  const char *text = "feature { name: \"parsed\" type: INT }\n";
  assert_rk_ok(rk_schema_parse_pbtxt(&s, text, strlen(text), "t.pbtxt"));
  char name[32];
  for (int i = 0; i < 20000; i++) {
    snprintf(name, sizeof name, "f%d", i);
    assert_rk_ok(rk_schema_add_column(&s, name, "int64", NULL));
  }
  assert_int_equal(rk_schema_add_column(&s, "f12345", "int64", NULL), RK_EINVAL);
  assert_message("duplicate column 'f12345' in the schema");
  assert_int_equal(rk_schema_add_column(&s, "parsed", "int64", NULL), RK_EINVAL);
  assert_rk_ok(rk_schema_add_column(&s, "f20000", "int64", NULL));
  assert_int_equal(s.n_cols, 20002);
  assert_int_equal(rk_schema_find_index(&s, "f19999"), 20000);
  rk_schema_free(&s);
  assert_int_equal(rk_alloc_live_bytes(), live);
}

/* ---- filter queries ---- */

static rk_status parse_nested(int levels, const char *open, const char *close) {
  size_t n = strlen(open) + strlen(close);
  char *text = calloc(1, (size_t)levels * n + 16), *p = text;
  for (int i = 0; i < levels; i++) p += sprintf(p, "%s", open);
  p += sprintf(p, "a > 1");
  for (int i = 0; i < levels; i++) p += sprintf(p, "%s", close);
  rk_query *q = NULL;
  rk_status st = rk_query_parse(&q, text);
  rk_query_free(q);
  free(text);
  return st;
}

static rk_status parse_chain(int terms) {
  char *text = calloc(1, (size_t)terms * 12 + 8), *p = text;
  for (int i = 0; i < terms; i++) p += sprintf(p, i ? " and a > %d" : "a > %d", i % 10);
  rk_query *q = NULL;
  rk_status st = rk_query_parse(&q, text);
  rk_query_free(q);
  free(text);
  return st;
}

static void test_query_nesting_bounded(void **state) {
  (void)state;
  assert_rk_ok(parse_nested(64, "(", ")"));
  assert_int_equal(parse_nested(200, "(", ")"), RK_EPARSE);
  assert_message("parentheses, signs or 'not' nested deeper than 64 levels");
  assert_int_equal(parse_nested(100000, "(", ")"), RK_EPARSE);   /* once a stack overflow */
  assert_int_equal(parse_nested(100000, "not ", ""), RK_EPARSE);
  assert_int_equal(parse_nested(100000, "-", ""), RK_EPARSE);
  assert_rk_ok(parse_chain(1000));
  assert_int_equal(parse_chain(1000000), RK_EPARSE);   /* a left-deep tree freed and evaluated recursively */
  assert_message("the query is more than 1024 operations deep");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_safetensors_shapes_that_overflow),
      cmocka_unit_test(test_model_sizes_checked),
      cmocka_unit_test(test_model_memory_estimated),
      cmocka_unit_test(test_in_batch_negatives_bounded_by_the_batch),
      cmocka_unit_test(test_thread_count_bounded),
      cmocka_unit_test(test_schema_many_columns),
      cmocka_unit_test(test_query_nesting_bounded),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
