/*
 * rk_graph_table_ids: the ids a graph's lookups of one table read from its filled inputs, what a
 * table sharded over ranks fetches before the forward (src/train/run_shards.c). Checked against
 * the inputs written by hand: the embedding's ids and the bag's ids up to its last offset, in
 * node order, padding left out, another table's ids not among them, appended on a second call;
 * a table looked up by ids the graph computes is refused by name.
 */
#include <string.h>

#include "reckon/nn.h"
#include "support.h"

enum { B = 4, V = 50, D = 3 };

/* loss = sum of the squares of every lookup (a graph to build; the values do not matter here). */
static void squares_loss(rk_graph *g, int *loss, const int *xs, int n) {
  int acc = -1;
  for (int k = 0; k < n; k++) {
    int sq, s;
    assert_rk_ok(rk_graph_mul(g, &sq, xs[k], xs[k]));
    assert_rk_ok(rk_graph_sum(g, &s, sq, RK_REDUCE_ALL));
    if (acc < 0) acc = s;
    else assert_rk_ok(rk_graph_add(g, &acc, acc, s));
  }
  *loss = acc;
  assert_rk_ok(rk_graph_output(g, *loss));
  assert_rk_ok(rk_graph_build(g, *loss));
}

static void test_ids_of_one_table(void **state) {
  (void)state;
  rk_param t, u;
  assert_rk_ok(rk_param_init_sparse(&t, "t", V, D));
  assert_rk_ok(rk_param_init_sparse(&u, "u", V, D));
  rk_graph *g;
  int ids, bag, other, xs[3], loss;
  assert_rk_ok(rk_graph_create(&g, B));
  assert_rk_ok(rk_graph_input_ids(g, &ids, "ids", 2));
  assert_rk_ok(rk_graph_input_ragged(g, &bag, "bag", B * 3));
  assert_rk_ok(rk_graph_input_ids(g, &other, "other", 1));
  assert_rk_ok(rk_graph_embedding(g, &xs[0], &t, ids, 0));
  assert_rk_ok(rk_graph_embedding_bag(g, &xs[1], &t, bag, RK_POOL_SUM, 0));
  assert_rk_ok(rk_graph_embedding(g, &xs[2], &u, other, 0));
  squares_loss(g, &loss, xs, 3);
  const int64_t id_values[B * 2] = {5, 0, 7, 7, 0, 0, 49, 1};   /* 0 is padding */
  memcpy(rk_graph_input_ids_data(g, ids), id_values, sizeof id_values);
  int64_t *off = rk_graph_input_offsets(g, bag), *b = rk_graph_input_ids_data(g, bag);
  const int64_t offsets[B + 1] = {0, 2, 2, 5, 6}, bag_values[6] = {3, 0, 9, 9, 4, 12};
  memcpy(off, offsets, sizeof offsets);
  memcpy(b, bag_values, sizeof bag_values);
  for (int64_t i = 6; i < B * 3; i++) b[i] = 11;   /* past the last offset: not read */
  int64_t *o = rk_graph_input_ids_data(g, other);
  for (int64_t i = 0; i < B; i++) o[i] = 40 + i;
  int64_t *got = NULL, n = 0, cap = 0;
  assert_rk_ok(rk_graph_table_ids(g, &t, &got, &n, &cap));
  const int64_t want[] = {5, 7, 7, 49, 1, 3, 9, 9, 4, 12};
  assert_int_equal(n, 10);
  assert_memory_equal(got, want, sizeof want);
  assert_rk_ok(rk_graph_table_ids(g, &u, &got, &n, &cap));   /* appended */
  assert_int_equal(n, 14);
  for (int64_t i = 0; i < B; i++) assert_int_equal(got[10 + i], 40 + i);
  assert_true(cap >= n);
  rk_free(got);
  rk_graph_free(g);
  rk_param_free(&t);
  rk_param_free(&u);
}

static void test_computed_ids_are_refused(void **state) {
  (void)state;
  rk_param w;
  assert_rk_ok(rk_param_init_sparse(&w, "cross_weights", V, 1));
  rk_graph *g;
  int a, b, cross, x, loss;
  assert_rk_ok(rk_graph_create(&g, B));
  assert_rk_ok(rk_graph_input_ids(g, &a, "a", 1));
  assert_rk_ok(rk_graph_input_ids(g, &b, "b", 1));
  assert_rk_ok(rk_graph_hash_cross(g, &cross, a, 0, b, 0, V));
  assert_rk_ok(rk_graph_embedding(g, &x, &w, cross, 0));
  squares_loss(g, &loss, &x, 1);
  int64_t *got = NULL, n = 0, cap = 0;
  assert_int_equal(rk_graph_table_ids(g, &w, &got, &n, &cap), RK_EUNSUPPORTED);
  assert_non_null(strstr(rk_error_message(), "table 'cross_weights' is looked up by ids the graph computes"));
  assert_int_equal(n, 0);
  rk_free(got);
  rk_graph_free(g);
  rk_param_free(&w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ids_of_one_table),
      cmocka_unit_test(test_computed_ids_are_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
