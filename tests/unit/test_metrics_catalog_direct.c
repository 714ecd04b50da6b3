/*
 * rk_catalog_transpose (src/metrics/catalog_rank.c): a fixed catalogue's items transposed, from
 * which batches of up to RK_CATALOG_DIRECT_ROWS rows are scored without the gemm. Whatever the
 * machine, a ranker given the table ranks and lists exactly as one without it (ids, scores bit
 * for bit, target ranks) for every batch size around the limit, with a bias, first_item above 0,
 * a catalogue no block size divides and a D that is no vector width. Where the table is given it
 * is the transpose of the ranked items; on OpenBLAS's SkylakeX kernels (whose sums it was built
 * to match, docs/serving_bench.md) it must be given. Bad catalogues are refused.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "reckon/metrics.h"
#include "reckon/nn.h"
#include "support.h"

enum { V = 1037, D = 24, FIRST = 1, K = 10, MAX_B = RK_CATALOG_DIRECT_ROWS + 3 };

typedef struct {
  float items[V * D], bias[V], hidden[MAX_B * D];
  int64_t target[MAX_B];
} problem;

static void make_problem(problem *p) {
  rk_rng rng;
  rk_rng_init(&rng, 5, 1);
  for (int64_t i = 0; i < V * D; i++) p->items[i] = 0.3f * (float)rk_rng_normal(&rng);
  for (int64_t v = 0; v < V; v++) p->bias[v] = 0.1f * (float)rk_rng_normal(&rng);
  for (int64_t i = 0; i < MAX_B * D; i++) p->hidden[i] = tanhf((float)rk_rng_normal(&rng));
  for (int64_t b = 0; b < MAX_B; b++) p->target[b] = b == 2 ? 0 : 1 + (int64_t)rk_rng_below(&rng, V - 1);
}

typedef struct {
  int64_t rank[MAX_B], ids[MAX_B * K];
  float scores[MAX_B * K];
} ranked;

static void rank_with(ranked *out, const problem *p, const float *items_t, int64_t B, int64_t block) {
  rk_catalog cat = {p->items, p->bias, V, D, FIRST, block, items_t};
  rk_catalog_ranker *r;
  assert_rk_ok(rk_catalog_ranker_create(&r, &cat, MAX_B, K));
  assert_rk_ok(rk_catalog_rank(r, out->rank, out->ids, out->scores, p->hidden, p->target, B));
  rk_catalog_ranker_free(r);
}

static void test_same_ranks_and_lists(void **state) {
  (void)state;
  problem *p = malloc(sizeof *p);
  make_problem(p);
  rk_catalog cat = {p->items, p->bias, V, D, FIRST, 0, NULL};
  float *items_t;
  assert_rk_ok(rk_catalog_transpose(&items_t, &cat));
  if (!strcmp(rk_blas_corename(), "SkylakeX") && !items_t)
    fail_msg("OpenBLAS's SkylakeX kernels: the direct scores should give the gemm's bits, but the check refused them");
  for (int64_t v = 0; items_t && v < V - FIRST; v++)
    for (int64_t d = 0; d < D; d++) assert_true(items_t[d * (V - FIRST) + v] == p->items[(v + FIRST) * D + d]);
  const int64_t blocks[2] = {0, 100};   /* the whole catalogue at once, and blocks with a tail */
  for (int k = 0; k < 2; k++)
    for (int64_t B = 1; B <= MAX_B; B++) {
      ranked *want = malloc(sizeof *want), *got = malloc(sizeof *got);
      rank_with(want, p, NULL, B, blocks[k]);
      rank_with(got, p, items_t, B, blocks[k]);
      if (memcmp(want->ids, got->ids, (size_t)(B * K) * sizeof(int64_t)) ||
          memcmp(want->scores, got->scores, (size_t)(B * K) * sizeof(float)) ||
          memcmp(want->rank, got->rank, (size_t)B * sizeof(int64_t)))
        fail_msg("a batch of %lld rows, blocks of %lld: the transposed table ranks otherwise than the gemm", (long long)B,
                 (long long)blocks[k]);
      if (B > 2) assert_int_equal(want->rank[2], 0);   /* a padding target is not ranked */
      free(want), free(got);
    }
  rk_free(items_t);
  free(p);
}

static void test_refusals(void **state) {
  (void)state;
  float items[4 * 2] = {0};
  float *items_t = (float *)1;
  rk_catalog cat = {items, NULL, 4, 2, 4, 0, NULL};   /* first_item past the catalogue */
  assert_int_equal(rk_catalog_transpose(&items_t, &cat), RK_EINVAL);
  assert_null(items_t);
  assert_non_null(strstr(rk_error_message(), "first ranked item 4"));
  cat.first_item = 0;
  cat.items = NULL;
  assert_int_not_equal(rk_catalog_transpose(&items_t, &cat), RK_OK);
  assert_null(items_t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_same_ranks_and_lists),
      cmocka_unit_test(test_refusals),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
