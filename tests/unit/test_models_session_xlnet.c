/*
 * xlnet and transfoxl session models (issue 19, part X) over their built graphs, by what a row
 * may see: a causal XLNet (and Transformer-XL) row's output does not change when the item it
 * predicts changes, while a bidirectional one's does (so the check can fail); the key-padding mask
 * makes padded positions irrelevant, and without it they matter; the permutation LM's query
 * stream does not see the item it predicts. And the permutation LM's masking (session_plm.c):
 * its factorisation order is a strict order over the masked rows that unmasked rows never look
 * into, spans cover about plm_probability of the items, and evaluation and prediction hide the
 * row they read.
 */
#include <string.h>

#include "models/session_internal.h"
#include "reckon/sessions.h"
#include "support.h"

#define NB 3    /* sessions */
#define NT 8    /* positions */
#define NV 30   /* items */

static rk_session_feature item_feature = {.name = "item_id-list", .categorical = true, .cardinality = NV,
                                          .table = "item_id-list", .is_item = true};

static rk_model *build(rk_session_model_kind kind, bool mlm, bool plm, bool key_padding_mask) {
  rk_session_config c;
  rk_session_config_default(&c);
  c.model_type = kind;
  c.d_model = 16, c.n_head = 2, c.n_layer = 2, c.session_seq_length_max = NT;
  c.mlm = mlm, c.plm = plm, c.key_padding_mask = key_padding_mask;
  c.mem_len = 2;
  rk_session_features fs = {.features = &item_feature, .n = 1, .item = 0};
  rk_model *m;
  assert_rk_ok(rk_session_build(&m, &fs, &c, NB, false));
  return m;
}

/* Sessions of 8, 5 and 3 items (ids 1..V-1), padding after; no [MASK] rows unless `masked`
 * (rows >= n - 1 for a causal model: the training inputs); every real row read (a packed body
 * computes no other), packed as the feed packs. */
static void fill(rk_model *m, const int64_t *items /* (NB, NT) */, const int64_t *n /* (NB) */, bool causal_masks) {
  const rk_session_graph *sg = &rk_session_of(m)->sg;
  int64_t *ids = rk_graph_input_ids_data(sg->g, sg->inputs[0]), *mask = rk_graph_input_ids_data(sg->g, sg->mask_rows);
  int64_t *keys = rk_graph_input_ids_data(sg->g, sg->keys), *reads = rk_graph_input_ids_data(sg->g, sg->reads);
  for (int64_t b = 0; b < NB; b++)
    for (int64_t t = 0; t < NT; t++) {
      ids[b * NT + t] = items[b * NT + t];
      keys[b * NT + t] = t < n[b];
      mask[b * NT + t] = causal_masks && t >= n[b] - 1;
      reads[b * NT + t] = t < n[b] ? t : -1;
    }
  assert_rk_ok(rk_session_graph_pack(sg, 0));
}

static void sessions(int64_t *items, int64_t *n) {
  const int64_t lengths[NB] = {8, 5, 3};
  for (int64_t b = 0; b < NB; b++) {
    n[b] = lengths[b];
    for (int64_t t = 0; t < NT; t++) items[b * NT + t] = t < n[b] ? 1 + (7 * b + 3 * t) % (NV - 1) : 0;
  }
}

/* The hidden rows (NB, NT, item_dim) of one forward, copied. */
static float *forward(rk_model *m, size_t *bytes) {
  const rk_session_graph *sg = &rk_session_of(m)->sg;
  assert_rk_ok(rk_graph_forward(sg->g, RK_EVAL));
  *bytes = (size_t)rk_graph_value_numel(sg->g, sg->out.hidden) * sizeof(float);
  float *h = malloc(*bytes);
  memcpy(h, rk_graph_value_f32(sg->g, sg->out.hidden), *bytes);
  return h;
}

/* Whether row t of session b differs between two forwards. */
static bool row_differs(const rk_model *m, const float *a, const float *c, int64_t b, int64_t t) {
  const rk_session_graph *sg = &rk_session_of(m)->sg;
  int64_t I = rk_graph_value_shape(sg->g, sg->out.hidden)[2];
  return memcmp(a + (b * NT + t) * I, c + (b * NT + t) * I, (size_t)I * sizeof(float)) != 0;
}

/* Changing item t + 1 (row t's target) of the longest session: whether any row <= t changes. */
static bool target_leaks(rk_session_model_kind kind, bool mlm) {
  rk_model *m = build(kind, mlm, false, true);
  int64_t items[NB * NT], n[NB];
  sessions(items, n);
  fill(m, items, n, !mlm);
  size_t bytes;
  float *before = forward(m, &bytes);
  bool leaks = false;
  for (int64_t t = 0; t + 1 < n[0]; t++) {
    int64_t keep = items[t + 1];
    items[t + 1] = keep % (NV - 1) + 1;
    fill(m, items, n, !mlm);
    float *after = forward(m, &bytes);
    for (int64_t u = 0; u <= t; u++) leaks |= row_differs(m, before, after, 0, u);
    if (!mlm && t + 2 < n[0]) assert_true(row_differs(m, before, after, 0, t + 1));   /* its row sees it (the last holds [MASK]) */
    free(after);
    items[t + 1] = keep;
  }
  free(before);
  m->ops->free(m);
  return leaks;
}

static void test_causal_xlnet_cannot_see_its_target(void **state) {
  (void)state;
  assert_false(target_leaks(RK_SESSION_XLNET, false));
  assert_false(target_leaks(RK_SESSION_TRANSFOXL, false));
  assert_true(target_leaks(RK_SESSION_XLNET, true));   /* bidirectional (masked LM): rows see ahead */
}

/* Changing the ids at padded positions: whether a real row of a padded session changes. */
static bool padding_matters(rk_session_model_kind kind, bool mlm, bool key_padding_mask) {
  rk_model *m = build(kind, mlm, false, key_padding_mask);
  int64_t items[NB * NT], n[NB];
  sessions(items, n);
  fill(m, items, n, false);
  size_t bytes;
  float *before = forward(m, &bytes);
  for (int64_t b = 0; b < NB; b++)
    for (int64_t t = n[b]; t < NT; t++) items[b * NT + t] = 1 + (b + t) % (NV - 1);
  fill(m, items, n, false);
  float *after = forward(m, &bytes);
  bool matters = false;
  for (int64_t b = 1; b < NB; b++)
    for (int64_t t = 0; t < n[b]; t++) matters |= row_differs(m, before, after, b, t);
  free(before);
  free(after);
  m->ops->free(m);
  return matters;
}

static void test_key_padding_mask_makes_padding_irrelevant(void **state) {
  (void)state;
  assert_false(padding_matters(RK_SESSION_XLNET, true, true));
  assert_false(padding_matters(RK_SESSION_TRANSFOXL, false, true));
  assert_true(padding_matters(RK_SESSION_XLNET, true, false));   /* the reference's way: padding is seen */
}

/* The permutation LM in training: for every masked row, changing its own item leaves its output
 * (the query stream's) as it was, while changing an item it sees changes it. */
static void test_query_stream_does_not_see_its_item(void **state) {
  (void)state;
  rk_model *m = build(RK_SESSION_XLNET, false, true, true);
  const rk_session_graph *sg = &rk_session_of(m)->sg;
  rk_session_mask_rule r = {.T = NT, .K = NT, .pad = 0, .plm = true, .plm_probability = 0.5, .plm_max_span_length = 2};
  int64_t items[NB * NT], n[NB], mask[NB * NT], keys[NB * NT], labels[NB * NT], reads[NB * NT], targets[NB * NT];
  sessions(items, n);
  int64_t *hidden = rk_graph_input_ids_data(sg->g, sg->hidden);
  for (int64_t b = 0; b < NB; b++) {
    rk_rng rng;
    rk_session_mask_rng(&rng, 5, 0, b);
    rk_session_plm_mask(&r, RK_SESSION_PHASE_TRAIN, items + b * NT, n[b], &rng, mask + b * NT, keys + b * NT,
                        labels + b * NT, reads + b * NT, targets + b * NT, hidden + b * NT * NT);
  }
  fill(m, items, n, false);
  size_t bytes;
  float *before = forward(m, &bytes);
  int checked = 0;
  for (int64_t t = 0; t < n[0]; t++) {
    if (labels[t] == 0) continue;
    int64_t keep = items[t];
    items[t] = keep % (NV - 1) + 1;
    fill(m, items, n, false);
    float *after = forward(m, &bytes);
    assert_false(row_differs(m, before, after, 0, t));
    free(after);
    items[t] = keep;
    checked++;
  }
  assert_true(checked > 0);
  /* an unmasked item is seen by every row */
  int64_t seen = 0;
  while (labels[seen] != 0) seen++;
  items[seen] = items[seen] % (NV - 1) + 1;
  fill(m, items, n, false);
  float *after = forward(m, &bytes);
  for (int64_t t = 0; t < n[0]; t++)
    if (labels[t] != 0) assert_true(row_differs(m, before, after, 0, t));
  free(after);
  free(before);
  m->ops->free(m);
}

/* ---- the permutation LM's masking ---- */

static void test_plm_order_and_spans(void **state) {
  (void)state;
  enum { L = 20 };
  rk_session_mask_rule r = {.T = L, .K = L, .pad = 0, .plm = true, .plm_probability = 0.25, .plm_max_span_length = 5};
  int64_t items[L], mask[L], keys[L], labels[L], reads[L], targets[L], hidden[L * L];
  int64_t masked_total = 0, items_total = 0;
  for (int64_t s = 0; s < 2000; s++) {
    int64_t n = 2 + s % (L - 1);
    for (int64_t t = 0; t < L; t++) items[t] = t < n ? 1 + (s + t) % 50 : 0;
    rk_rng rng;
    rk_session_mask_rng(&rng, 11, (uint64_t)s, 0);
    rk_session_plm_mask(&r, RK_SESSION_PHASE_TRAIN, items, n, &rng, mask, keys, labels, reads, targets, hidden);
    int64_t masked = 0;
    for (int64_t i = 0; i < L; i++) {
      bool mi = labels[i] != 0;
      masked += mi;
      assert_true(mi ? i < n && labels[i] == items[i] : labels[i] == 0);
      assert_int_equal(mask[i], 0);   /* plm_mask_input off: the content stays */
      for (int64_t j = 0; j < L; j++) {
        bool mj = labels[j] != 0, h = hidden[i * L + j];
        if (!mj) assert_false(h);                        /* unmasked rows (and padding) are seen by all */
        else if (!mi) assert_true(h);                    /* unmasked rows see no masked row */
        else if (i == j) assert_true(h);                 /* nor does a masked row see itself */
        else assert_true(h != hidden[j * L + i]);        /* a strict order between masked rows */
      }
    }
    assert_true(masked >= 1 && masked < n);
    masked_total += masked;
    items_total += n;
  }
  double share = (double)masked_total / (double)items_total;
  assert_true(share > 0.15 && share < 0.35);
}

static void test_plm_eval_and_predict_hide_the_read_row(void **state) {
  (void)state;
  rk_session_mask_rule r = {.T = NT, .K = 1, .pad = 0, .plm = true, .eval_last_only = true, .plm_probability = 0.25,
                            .plm_max_span_length = 5};
  int64_t items[NT] = {4, 5, 6, 7, 0, 0, 0, 0}, mask[NT], keys[NT], labels[NT], reads[1], targets[1], hidden[NT * NT];
  rk_session_plm_mask(&r, RK_SESSION_PHASE_EVAL, items, 4, NULL, mask, keys, labels, reads, targets, hidden);
  assert_int_equal(reads[0], 3);
  assert_int_equal(targets[0], 7);
  for (int64_t i = 0; i < NT; i++)
    for (int64_t j = 0; j < NT; j++) assert_int_equal(hidden[i * NT + j], j > i || j == 3);
  rk_session_plm_mask(&r, RK_SESSION_PHASE_PREDICT, items, 4, NULL, mask, keys, labels, reads, targets, hidden);
  assert_int_equal(reads[0], 4);
  assert_true(mask[4] == 1 && keys[4] == 1 && keys[5] == 0);
  for (int64_t i = 0; i < NT; i++) assert_int_equal(hidden[i * NT + 4], 1);
  assert_int_equal(hidden[4 * NT + 3], 0);
}

static void test_relative_settings(void **state) {
  (void)state;
  rk_session_config c;
  rk_session_config_default(&c);
  c.model_type = RK_SESSION_XLNET;
  c.attn_type = RK_SESSION_ATTN_BI;
  assert_int_equal(rk_session_config_check(&c), RK_EUSAGE);
  assert_non_null(strstr(rk_error_message(), "--attn_type bi"));
  c.mlm = true;
  assert_rk_ok(rk_session_config_check(&c));
  c.plm = true;
  assert_int_equal(rk_session_config_check(&c), RK_EUSAGE);
  c.mlm = false;
  c.model_type = RK_SESSION_TRANSFOXL;
  assert_int_equal(rk_session_config_check(&c), RK_EUSAGE);
  assert_non_null(strstr(rk_error_message(), "--plm"));
  c.plm = false;
  c.model_type = RK_SESSION_LONGFORMER;
  assert_int_equal(rk_session_config_check(&c), RK_EUNSUPPORTED);
  assert_non_null(strstr(rk_error_message(), "longformer"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_causal_xlnet_cannot_see_its_target),
      cmocka_unit_test(test_key_padding_mask_makes_padding_irrelevant),
      cmocka_unit_test(test_query_stream_does_not_see_its_item),
      cmocka_unit_test(test_plm_order_and_spans),
      cmocka_unit_test(test_plm_eval_and_predict_hide_the_read_row),
      cmocka_unit_test(test_relative_settings),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
