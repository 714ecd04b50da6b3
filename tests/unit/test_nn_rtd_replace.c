/*
 * rtd_replace's draws (src/nn/ops/rtd_replace.c), the kernel called by itself: the draws (by
 * inversion) follow the generator's softmax at its temperature, a row's draw depends on (seed,
 * step, row) alone (not on the packing order, hence not on threads), --rtd_sample_from_batch
 * draws among the labelled rows' targets, a draw of the original item is not a replacement, and
 * the discriminator's weights average over the non-padding rows; each row's source row (a batch
 * draw's labelled row) and rtd_interaction's rows from it; a packed body gets the unpacked
 * body's draws with its labels and weights in its own row order. The gradient check and the
 * twin at two threads are in test_nn_gradcheck.c; the model's loss against PyTorch in
 * test_models_session_reference.c, packed against unpacked in test_models_session_rtd_packed.c.
 */
#include <math.h>
#include <string.h>

#include "nn/ops/ops.h"
#include "support.h"

#define N 20000

static int64_t fake[N], source[N], rows[N], packed[N], items[N];
static float replaced[N], weight[N], z[N * 3];

/* The draws over R rows (every row the body's) into out, from the arrays above. */
static void replace(int64_t *out, int64_t R, int64_t V, rk_rtd_draw d) {
  assert_rk_ok(rtd_replace_forward_cpu(out, source, replaced, weight, z, rows, packed, items, NULL, R, V, &d));
}

/* 20000 rows over 3 items with softmax(z / 0.5) = (0.5, 0.3, 0.2): the draws' shares within 0.015
 * (about 4 standard deviations of a share over 20000 draws), the same at 1 and 2 threads. */
static void test_draws_follow_the_softmax_at_its_temperature(void **state) {
  (void)state;
  const double p[3] = {0.5, 0.3, 0.2};
  for (int64_t i = 0; i < N; i++) {
    rows[i] = i;
    packed[i] = 1;
    items[i] = 1;
    for (int v = 0; v < 3; v++) z[i * 3 + v] = (float)(0.5 * log(p[v]));
  }
  static int64_t one_thread[N];
  assert_rk_ok(rk_set_num_threads(1));
  replace(one_thread, N, 3, (rk_rtd_draw){.temperature = 0.5f, .seed = 42, .step = 7});
  assert_rk_ok(rk_set_num_threads(2));   /* several chunks of rows: the same draws */
  replace(fake, N, 3, (rk_rtd_draw){.temperature = 0.5f, .seed = 42, .step = 7});
  assert_memory_equal(fake, one_thread, sizeof one_thread);
  int64_t count[3] = {0};
  for (int64_t i = 0; i < N; i++) {
    assert_true(fake[i] >= 0 && fake[i] < 3);
    count[fake[i]]++;
    assert_float_equal(replaced[i], fake[i] != 1 ? 1.0f : 0.0f, 0.0f);   /* drawing item 1 is no replacement */
    assert_float_equal(weight[i], 1.0f, 0.0f);                          /* no padding: the plain mean */
  }
  for (int v = 0; v < 3; v++)
    if (fabs((double)count[v] / N - p[v]) > 0.015)
      fail_msg("item %d drawn %.4f of the time; the softmax gives %.2f", v, (double)count[v] / N, p[v]);
}

/* 4000 rows over 600 items (the scan crosses blocks of 256): softmax mass 0.25 at item 5, 0.35
 * at item 300 and 0.4 at item 599, none elsewhere; the shares within 0.03 (about 4 standard
 * deviations over 4000 draws). */
static void test_draws_follow_the_softmax_across_blocks(void **state) {
  (void)state;
  enum { R = 4000, V = 600 };
  float *zz = test_malloc((size_t)R * V * sizeof *zz);
  static int64_t drawn[R], count[V];
  for (int64_t i = 0; i < R; i++) {
    rows[i] = i;
    items[i] = 1;
    for (int64_t v = 0; v < V; v++) zz[i * V + v] = -60.0f;
    zz[i * V + 5] = (float)log(0.25), zz[i * V + 300] = (float)log(0.35), zz[i * V + 599] = (float)log(0.4);
  }
  const rk_rtd_draw d = {.temperature = 1.0f, .seed = 9, .step = 1};
  assert_rk_ok(rtd_replace_forward_cpu(drawn, source, replaced, weight, zz, rows, packed, items, NULL, R, V, &d));
  for (int64_t i = 0; i < R; i++) count[drawn[i]]++;
  const int64_t at[3] = {5, 300, 599};
  const double p[3] = {0.25, 0.35, 0.4};
  for (int k = 0; k < 3; k++)
    if (fabs((double)count[at[k]] / R - p[k]) > 0.03)
      fail_msg("item %lld drawn %.4f of the time; the softmax gives %.2f", (long long)at[k], (double)count[at[k]] / R, p[k]);
  assert_int_equal(count[at[0]] + count[at[1]] + count[at[2]], R);
  test_free(zz);
}

/* The rows 0..9 of 10 sessions x 1 position, packed in two orders: the same draw per row; another
 * step draws differently. */
static void test_a_draw_depends_on_seed_step_and_row_alone(void **state) {
  (void)state;
  enum { R = 10, V = 50 };
  int64_t a[R], b[R], c[R], order[R];
  for (int64_t r = 0; r < R; r++) {
    items[r] = 1 + r;
    order[r] = (r * 7) % R;   /* a permutation of 0..9 */
  }
  for (int64_t i = 0; i < R * V; i++) z[i] = 0.0f;   /* uniform: the noise alone decides */
  for (int64_t i = 0; i < R; i++) rows[i] = i;
  replace(a, R, V, (rk_rtd_draw){.temperature = 1.0f, .seed = 42, .step = 3});
  for (int64_t i = 0; i < R; i++) rows[i] = order[i];
  replace(b, R, V, (rk_rtd_draw){.temperature = 1.0f, .seed = 42, .step = 3});
  assert_memory_equal(a, b, sizeof a);
  replace(c, R, V, (rk_rtd_draw){.temperature = 1.0f, .seed = 42, .step = 4});
  assert_memory_not_equal(a, c, sizeof a);
}

/* From the batch: 3 labelled rows of targets (5, 9, 5) among 8 rows, logits over 12 items that
 * favour item 11, which is not a candidate; then logits that favour 9 by far give 9 everywhere.
 * The unlabelled rows keep their items; padding rows weigh 0 and the others 8 / 6. */
static void test_batch_draws_come_from_the_batch_targets(void **state) {
  (void)state;
  enum { R = 8, V = 12 };
  const int64_t it[R] = {5, 2, 9, 5, 3, 4, 0, 0};
  memcpy(items, it, sizeof it);
  const int64_t labelled[R] = {0, 2, 3, -1, -1, -1, -1, -1}, targets[R] = {5, 9, 5, 0, 0, 0, 0, 0};
  memcpy(rows, labelled, sizeof labelled);
  memcpy(packed, targets, sizeof targets);
  for (int64_t i = 0; i < 3 * V; i++) z[i] = i % V == 11 ? 30.0f : 0.0f;
  replace(fake, R, V, (rk_rtd_draw){.temperature = 1.0f, .from_batch = true, .seed = 1});
  for (int64_t r = 0; r < R; r++) {
    bool drawn = r == 0 || r == 2 || r == 3;
    if (drawn) assert_true(fake[r] == 5 || fake[r] == 9);
    else assert_int_equal(fake[r], items[r]);
    /* the source: a labelled row holding the drawn target, or the row itself */
    if (drawn) assert_true((source[r] == 0 || source[r] == 2 || source[r] == 3) && items[source[r]] == fake[r]);
    else assert_int_equal(source[r], r);
    assert_float_equal(replaced[r], fake[r] != items[r] ? 1.0f : 0.0f, 0.0f);
    assert_float_equal(weight[r], items[r] ? 8.0f / 6.0f : 0.0f, 1e-6f);
  }
  for (int64_t i = 0; i < 3 * V; i++) z[i] = i % V == 9 ? 30.0f : 0.0f;
  replace(fake, R, V, (rk_rtd_draw){.temperature = 1.0f, .from_batch = true, .seed = 1});
  assert_int_equal(fake[0], 9);
  assert_int_equal(fake[2], 9);
  assert_int_equal(fake[3], 9);
  const int64_t from_row_2[R] = {2, 1, 2, 2, 4, 5, 6, 7};   /* 9 is row 2's target: every draw shows row 2 */
  assert_memory_equal(source, from_row_2, sizeof from_row_2);
  assert_float_equal(replaced[0], 1.0f, 0.0f);
  assert_float_equal(replaced[2], 0.0f, 0.0f);   /* 9 drawn at 9: the original, not replaced */
  assert_float_equal(replaced[3], 1.0f, 0.0f);
}

/* Fixed draws replace the drawn ones at the labelled rows only. */
static void test_given_draws_are_used_at_the_labelled_rows(void **state) {
  (void)state;
  enum { R = 4, V = 6 };
  const int64_t it[R] = {1, 2, 3, 0}, labelled[R] = {1, -1, -1, -1}, given[R] = {4, 5, 4, 4};
  memcpy(items, it, sizeof it);
  memcpy(rows, labelled, sizeof labelled);
  replace(fake, R, V, (rk_rtd_draw){.temperature = 1.0f, .given = given, .seed = 1});
  const int64_t want[R] = {1, 5, 3, 0}, itself[R] = {0, 1, 2, 3};
  assert_memory_equal(fake, want, sizeof want);
  assert_memory_equal(source, itself, sizeof itself);   /* catalogue draws show their own rows */
  assert_float_equal(replaced[1], 1.0f, 0.0f);
  assert_float_equal(replaced[0] + replaced[2] + replaced[3], 0.0f, 0.0f);
}

/* Fixed draws from the batch show the first labelled row whose target is the given item. */
static void test_given_batch_draws_show_the_first_labelled_row_with_the_item(void **state) {
  (void)state;
  enum { R = 5, V = 6 };
  const int64_t it[R] = {4, 2, 4, 3, 0}, labelled[R] = {1, 2, 3, -1, -1}, targets[R] = {2, 4, 3, 0, 0};
  const int64_t given[R] = {0, 4, 3, 4, 0};
  memcpy(items, it, sizeof it);
  memcpy(rows, labelled, sizeof labelled);
  memcpy(packed, targets, sizeof targets);
  replace(fake, R, V, (rk_rtd_draw){.temperature = 1.0f, .from_batch = true, .given = given, .seed = 1});
  const int64_t want_fake[R] = {4, 4, 3, 4, 0}, want_source[R] = {0, 2, 3, 2, 4};
  assert_memory_equal(fake, want_fake, sizeof want_fake);
  assert_memory_equal(source, want_source, sizeof want_source);
}

/* A packed body: 2 sessions x 4 rows, the body's rows 0, 1, 2, 4, 5 (row 2 holds the padding
 * item: it weighs 0), labelled rows 1 and 4 (packed 1 and 3). The same draws and sources over
 * the B T rows as unpacked; replaced and weight in the body's order, 5 / 4 at its 4 items and 0
 * past it; a body row outside B T or a labelled row past the body's fails, naming it. */
static void test_a_packed_body_draws_the_rows_of_the_unpacked_one(void **state) {
  (void)state;
  enum { R = 8, V = 12 };
  const int64_t it[R] = {5, 2, 0, 0, 3, 4, 0, 0}, body[R] = {0, 1, 2, 4, 5, -1, -1, -1};
  const int64_t unpacked_rows[R] = {1, 4, -1, -1, -1, -1, -1, -1}, packed_rows[R] = {1, 3, -1, -1, -1, -1, -1, -1};
  const int64_t targets[R] = {2, 3, 0, 0, 0, 0, 0, 0};
  memcpy(items, it, sizeof it);
  memcpy(packed, targets, sizeof targets);
  for (int64_t i = 0; i < 2 * V; i++) z[i] = (float)((i * 7) % 5) - 2.0f;
  for (int from_batch = 0; from_batch < 2; from_batch++) {
    const rk_rtd_draw d = {.temperature = 0.8f, .from_batch = from_batch, .seed = 5, .step = 2};
    int64_t want_fake[R], want_source[R];
    float want_replaced[R];
    memcpy(rows, unpacked_rows, sizeof unpacked_rows);
    replace(want_fake, R, V, d);
    memcpy(want_source, source, sizeof want_source);
    memcpy(want_replaced, replaced, sizeof want_replaced);
    memcpy(rows, packed_rows, sizeof packed_rows);
    assert_rk_ok(rtd_replace_forward_cpu(fake, source, replaced, weight, z, rows, packed, items, body, R, V, &d));
    assert_memory_equal(fake, want_fake, sizeof want_fake);
    assert_memory_equal(source, want_source, sizeof want_source);
    for (int64_t k = 0; k < R; k++) {
      assert_float_equal(replaced[k], k < 5 ? want_replaced[body[k]] : 0.0f, 0.0f);
      assert_float_equal(weight[k], k < 5 && items[body[k]] != 0 ? 5.0f / 4.0f : 0.0f, 1e-6f);
    }
  }
  const rk_rtd_draw d = {.temperature = 1.0f, .seed = 5};
  const int64_t outside[R] = {0, 8, -1, -1, -1, -1, -1, -1}, past[R] = {1, 5, -1, -1, -1, -1, -1, -1};
  assert_int_equal(rtd_replace_forward_cpu(fake, source, replaced, weight, z, rows, packed, items, outside, R, V, &d),
                   RK_ERANGE);
  assert_non_null(strstr(rk_error_message(), "body row 1 is 8"));
  memcpy(rows, past, sizeof past);
  assert_int_equal(rtd_replace_forward_cpu(fake, source, replaced, weight, z, rows, packed, items, body, R, V, &d),
                   RK_ERANGE);
  assert_non_null(strstr(rk_error_message(), "labelled row 1 is 5"));
}

/* rtd_interaction: each row is x's source row; a source outside the rows fails, naming it. */
static void test_interaction_rows_come_from_their_source(void **state) {
  (void)state;
  const float x[3 * 2] = {1, 2, 3, 4, 5, 6};
  const int64_t from[3] = {2, 1, 2}, outside[3] = {0, 3, 1};
  float out[3 * 2];
  assert_rk_ok(rtd_interaction_forward_cpu(out, x, from, 3, 2));
  const float want[3 * 2] = {5, 6, 3, 4, 5, 6};
  assert_memory_equal(out, want, sizeof want);
  assert_int_equal(rtd_interaction_forward_cpu(out, x, outside, 3, 2), RK_ERANGE);
  assert_non_null(strstr(rk_error_message(), "row 1's source is 3"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_draws_follow_the_softmax_at_its_temperature),
      cmocka_unit_test(test_draws_follow_the_softmax_across_blocks),
      cmocka_unit_test(test_a_draw_depends_on_seed_step_and_row_alone),
      cmocka_unit_test(test_batch_draws_come_from_the_batch_targets),
      cmocka_unit_test(test_given_draws_are_used_at_the_labelled_rows),
      cmocka_unit_test(test_given_batch_draws_show_the_first_labelled_row_with_the_item),
      cmocka_unit_test(test_a_packed_body_draws_the_rows_of_the_unpacked_one),
      cmocka_unit_test(test_interaction_rows_come_from_their_source),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
