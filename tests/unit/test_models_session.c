/*
 * The session model family (reckon/sessions.h, src/models/session*.c):
 *   - features: from a feature config (file order, shared tables, control columns left out) and
 *     from a Merlin schema (tagged list columns sorted by name, the item_id, errors naming columns);
 *   - settings: defaults are recsys_main.py's, model.json round-trips them, issue 19's model
 *     types and --mlm on a causal model are refused naming the flag;
 *   - masking: causal LM rows and labels per phase, masked LM's at-least-one-masked and
 *     at-least-one-visible rules over many draws, the same draws for the same (seed, step,
 *     session), masked LM's last-item evaluation, predict_all, and the [MASK] row of a prediction;
 *   - the feed: the last T items of a longer session, right padding, lists of unequal length and
 *     ids outside a table refused naming column and row;
 *   - every model type builds, trains (the loss falls) and reads finite hidden vectors;
 *   - share: the parameters are not copied (a step on one moves the other's outputs), and a
 *     shared inference graph reads what the train graph reads in eval mode;
 *   - the key-padding mask changes nothing a causal model reads (right padding: every real row's
 *     keys are real), and changes what a bidirectional one reads;
 *   - save and load: bit-identical hidden vectors and the same catalogue; the ranking commands'
 *     inference graph refuses a session model;
 *   - albert: its groups of shared blocks, its mapping, its decayed full-layer LayerNorm;
 *   - build, share, feed_init and loading a saved model fail on every injected allocation
 *     failure, leaking nothing.
 */
#include <math.h>
#include <string.h>

#include "reckon/optim.h"
#include "models/session_internal.h"
#include "reckon/sessions.h"
#include "session_model.h"

/* ---- settings ---- */

static void test_settings(void **state) {
  (void)state;
  rk_session_config c, back;
  rk_session_config_default(&c);
  assert_int_equal(c.model_type, RK_SESSION_GPT2);
  assert_int_equal(c.d_model, 256);
  assert_int_equal(c.n_layer, 12);
  assert_int_equal(c.n_head, 4);
  assert_true(c.hidden_act == RK_SESSION_GELU && c.inp_merge == RK_SESSION_MERGE_MLP);
  assert_true(fabsf(c.item_id_embeddings_init_std - 0.5f) < 1e-7f && fabsf(c.mlm_probability - 0.15f) < 1e-7f);
  assert_int_equal(c.session_seq_length_max, 20);
  assert_true(c.key_padding_mask && !c.mlm && !c.eval_on_last_item_seq_only);
  c.model_type = RK_SESSION_BERT;
  c.hidden_act = RK_SESSION_GELU_NEW;
  c.label_smoothing = 0.25f;
  json_t *j = rk_session_config_to_json(&c);
  assert_string_equal(json_string_value(json_object_get(j, "model_type")), "bert");
  assert_string_equal(json_string_value(json_object_get(j, "hidden_act")), "gelu_new");
  assert_rk_ok(rk_session_config_from_json(&back, j, "model.json"));
  assert_memory_equal(&c, &back, sizeof c);
  json_object_set_new(j, "model_type", json_string("gpt3"));
  assert_int_equal(rk_session_config_from_json(&back, j, "model.json"), RK_EFORMAT);
  assert_non_null(strstr(rk_error_message(), "model_type"));
  json_decref(j);
  c.model_type = RK_SESSION_LONGFORMER;
  assert_int_equal(rk_session_config_check(&c), RK_EUNSUPPORTED);
  assert_non_null(strstr(rk_error_message(), "out of reckon's scope"));
  c.model_type = RK_SESSION_GPT2;
  c.mlm = true;
  assert_int_equal(rk_session_config_check(&c), RK_EUSAGE);
  assert_non_null(strstr(rk_error_message(), "--mlm"));
  c.mlm = false;
  c.n_head = 3;
  assert_int_equal(rk_session_config_check(&c), RK_EUSAGE);
  assert_non_null(strstr(rk_error_message(), "--n_head"));
  assert_int_equal(rk_setting_pick("gelu|gelu_new", "gelu_new"), 1);
  assert_int_equal(rk_setting_pick("gelu|gelu_new", "gel"), -1);
}

/* ---- features ---- */

static void test_features_from_config(void **state) {
  (void)state;
  const char *yaml = "sess_pid_seq: {dtype: categorical, cardinality: 50, is_label: True, emb_table: product}\n"
                     "bef_pid_seq: {dtype: categorical, cardinality: 50, is_label: True, emb_table: product}\n"
                     "price_seq: {dtype: float}\n"
                     "cat_seq: {dtype: categorical, cardinality: 7}\n"
                     "etime_seq: {dtype: timestamp, is_control: True}\n";
  rk_feature_config fc;
  assert_rk_ok(rk_feature_config_parse(&fc, yaml, strlen(yaml), "features.yaml"));
  rk_session_features f;
  assert_rk_ok(rk_session_features_from_config(&f, &fc));
  assert_int_equal(f.n, 4);   /* the timestamp control column is not an input */
  assert_string_equal(f.features[0].name, "sess_pid_seq");
  assert_int_equal(f.item, 0);
  assert_string_equal(f.features[1].table, "product");   /* shared with the item */
  assert_false(f.features[1].is_item);
  assert_false(f.features[2].categorical);
  assert_string_equal(f.features[3].table, "cat_seq");
  /* A model over it has one table for the two product columns. */
  rk_session_config c;
  session_test_config(&c, RK_SESSION_GRU);
  rk_model *m;
  assert_rk_ok(rk_session_build(&m, &f, &c, 2, false));
  int tables = 0;
  for (int i = 0; i < m->n_params; i++) tables += strncmp(m->params[i]->name, "embedding_tables.", 17) == 0;
  assert_int_equal(tables, 2);
  m->ops->free(m);
  rk_session_features_free(&f);
  rk_feature_config_free(&fc);
}

static rk_schema_column *list_col(rk_schema *s, const char *name, const char *dtype, const char *tag1, const char *tag2) {
  rk_schema_column *col;
  assert_rk_ok(rk_schema_add_column(s, name, dtype, &col));
  assert_rk_ok(rk_schema_column_add_tag(col, "list"));
  assert_rk_ok(rk_schema_column_add_tag(col, tag1));
  if (tag2) assert_rk_ok(rk_schema_column_add_tag(col, tag2));
  assert_rk_ok(rk_schema_column_set_value_count(col, 1, 20));
  return col;
}

static void test_features_from_schema(void **state) {
  (void)state;
  rk_schema s;
  rk_schema_init(&s);
  assert_rk_ok(rk_schema_column_set_int_domain(list_col(&s, "item_id-list_seq", "int64", "categorical", "item_id"), 0, 99, true, NULL));
  list_col(&s, "price-list_seq", "float32", "continuous", NULL);
  assert_rk_ok(rk_schema_column_set_int_domain(list_col(&s, "category-list_seq", "int64", "categorical", NULL), 0, 9, true, NULL));
  rk_schema_column *sid;
  assert_rk_ok(rk_schema_add_column(&s, "session_id", "int64", &sid));   /* not a list: not an input */
  rk_session_features f;
  assert_rk_ok(rk_session_features_from_schema(&f, &s));
  assert_int_equal(f.n, 3);
  assert_string_equal(f.features[0].name, "category-list_seq");   /* sorted by name */
  assert_string_equal(f.features[1].name, "item_id-list_seq");
  assert_int_equal(f.item, 1);
  assert_int_equal(f.features[1].cardinality, 100);
  assert_false(f.features[2].categorical);
  rk_session_features_free(&f);
  /* A categorical list without int_domain, and no item_id tag: errors naming them. */
  rk_schema t;
  rk_schema_init(&t);
  list_col(&t, "cats", "int64", "categorical", NULL);
  assert_int_equal(rk_session_features_from_schema(&f, &t), RK_EUSAGE);
  assert_non_null(strstr(rk_error_message(), "'cats'"));
  rk_schema_free(&t);
  rk_schema_init(&t);
  assert_rk_ok(rk_schema_column_set_int_domain(list_col(&t, "items", "int64", "categorical", NULL), 0, 9, true, NULL));
  assert_int_equal(rk_session_features_from_schema(&f, &t), RK_EUSAGE);
  assert_non_null(strstr(rk_error_message(), "item_id"));
  rk_schema_free(&t);
  rk_schema_free(&s);
}

/* ---- masking ---- */


enum { T = 6 };

typedef struct {
  int64_t mask[T], keys[T], labels[T], reads[T], targets[T];
} masked;

static masked run_mask(bool mlm, bool last_only, int64_t K, rk_session_phase phase, const int64_t *items, int64_t n,
                       rk_rng *rng) {
  rk_session_mask_rule r = {.mlm = mlm, .train_last_only = last_only, .eval_last_only = last_only, .T = T, .K = K,
                            .pad = 0, .mlm_probability = 0.3};
  masked m;
  rk_session_mask(&r, phase, items, n, rng, m.mask, m.keys, m.labels, m.reads, m.targets);
  return m;
}

static void test_causal_masking(void **state) {
  (void)state;
  const int64_t items[T] = {4, 9, 2, 7, 0, 0};   /* n = 4 */
  /* Training: row t predicts item t + 1; rows 3.. (no next item) hold [MASK]. */
  masked m = run_mask(false, false, T, RK_SESSION_PHASE_TRAIN, items, 4, NULL);
  const int64_t mask[T] = {0, 0, 0, 1, 1, 1}, keys[T] = {1, 1, 1, 1, 0, 0}, labels[T] = {9, 2, 7, 0, 0, 0};
  assert_memory_equal(m.mask, mask, sizeof mask);
  assert_memory_equal(m.keys, keys, sizeof keys);
  assert_memory_equal(m.labels, labels, sizeof labels);
  const int64_t reads[T] = {0, 1, 2, -1, -1, -1}, targets[T] = {9, 2, 7, 0, 0, 0};
  assert_memory_equal(m.reads, reads, sizeof reads);
  assert_memory_equal(m.targets, targets, sizeof targets);
  /* Last-only evaluation: the same inputs (every earlier item visible), row 2 predicts item 7. */
  m = run_mask(false, true, 1, RK_SESSION_PHASE_EVAL, items, 4, NULL);
  assert_memory_equal(m.mask, mask, sizeof mask);
  const int64_t last_labels[T] = {0, 0, 7, 0, 0, 0};
  assert_memory_equal(m.labels, last_labels, sizeof last_labels);
  assert_int_equal(m.reads[0], 2);
  assert_int_equal(m.targets[0], 7);
  /* K = 1 while every row is labelled (training with eval-last graphs): the last one is read. */
  m = run_mask(false, false, 1, RK_SESSION_PHASE_TRAIN, items, 4, NULL);
  assert_int_equal(m.reads[0], 2);
  assert_int_equal(m.targets[0], 7);
  /* Prediction: every item visible, the last row read, no target. */
  m = run_mask(false, true, 1, RK_SESSION_PHASE_PREDICT, items, 4, NULL);
  const int64_t pmask[T] = {0, 0, 0, 0, 1, 1};
  assert_memory_equal(m.mask, pmask, sizeof pmask);
  assert_int_equal(m.reads[0], 3);
  assert_int_equal(m.targets[0], 0);
  /* One item: nothing to predict in training or evaluation; an empty session reads nothing. */
  m = run_mask(false, true, 1, RK_SESSION_PHASE_EVAL, items, 1, NULL);
  assert_int_equal(m.reads[0], -1);
  assert_int_equal(m.targets[0], 0);
  m = run_mask(false, true, 1, RK_SESSION_PHASE_PREDICT, items, 0, NULL);
  assert_int_equal(m.reads[0], -1);
}

static void test_masked_lm_training_rules(void **state) {
  (void)state;
  const int64_t items[T] = {4, 9, 2, 7, 5, 0};
  int64_t masked_total = 0, rows = 0;
  for (int64_t n = 1; n <= 5; n++)
    for (uint64_t step = 0; step < 400; step++) {
      rk_rng rng;
      rk_session_mask_rng(&rng, 42, step, (int64_t)n);
      masked m = run_mask(true, false, T, RK_SESSION_PHASE_TRAIN, items, n, &rng);
      int64_t count = 0;
      for (int64_t t = 0; t < T; t++) {
        assert_int_equal(m.mask[t], m.labels[t] != 0);   /* masked rows predict themselves */
        if (m.mask[t]) assert_int_equal(m.labels[t], items[t]);
        if (t >= n) assert_int_equal(m.mask[t], 0);       /* padding is never masked */
        count += m.mask[t];
      }
      if (n == 1) assert_int_equal(count, 0);   /* masked then unmasked: the reference's outcome */
      else assert_true(count >= 1 && count < n); /* at least one masked, at least one visible */
      masked_total += count;
      rows += n;
      /* The same (seed, step, session) draws the same mask. */
      rk_session_mask_rng(&rng, 42, step, (int64_t)n);
      masked again = run_mask(true, false, T, RK_SESSION_PHASE_TRAIN, items, n, &rng);
      assert_memory_equal(m.mask, again.mask, sizeof m.mask);
    }
  /* Bernoulli(0.3) plus the forced one: well above 0.3 of the items, below a half. */
  double rate = (double)masked_total / (double)rows;
  assert_true(rate > 0.3 && rate < 0.5);
}

static void test_masked_lm_evaluation_and_prediction(void **state) {
  (void)state;
  const int64_t items[T] = {4, 9, 2, 7, 0, 0};
  masked m = run_mask(true, true, 1, RK_SESSION_PHASE_EVAL, items, 4, NULL);
  const int64_t mask[T] = {0, 0, 0, 1, 0, 0};
  assert_memory_equal(m.mask, mask, sizeof mask);
  assert_int_equal(m.reads[0], 3);
  assert_int_equal(m.targets[0], 7);
  /* predict_all: every row with a next item masked, predicting that item. */
  m = run_mask(true, false, T, RK_SESSION_PHASE_EVAL, items, 4, NULL);
  const int64_t all_mask[T] = {1, 1, 1, 0, 0, 0}, all_labels[T] = {9, 2, 7, 0, 0, 0};
  assert_memory_equal(m.mask, all_mask, sizeof all_mask);
  assert_memory_equal(m.labels, all_labels, sizeof all_labels);
  /* Prediction: a [MASK] row after the items, visible as a key, read. */
  m = run_mask(true, true, 1, RK_SESSION_PHASE_PREDICT, items, 4, NULL);
  const int64_t pmask[T] = {0, 0, 0, 0, 1, 0}, pkeys[T] = {1, 1, 1, 1, 1, 0};
  assert_memory_equal(m.mask, pmask, sizeof pmask);
  assert_memory_equal(m.keys, pkeys, sizeof pkeys);
  assert_int_equal(m.reads[0], 4);
}

/* ---- the feed ---- */

static void test_feed_windows_and_phases(void **state) {
  (void)state;
  rk_session_features f;
  session_test_features(&f, true);
  rk_session_config c;
  session_test_config(&c, RK_SESSION_GPT2);
  c.eval_on_last_item_seq_only = true;
  rk_model *m;
  assert_rk_ok(rk_session_build(&m, &f, &c, 4, true));
  rk_model_feed *feed;
  assert_rk_ok(m->ops->feed_init(&feed, m, NULL, 0, NULL, 3));
  const char *names[3];
  assert_int_equal(m->ops->feed_columns(feed, true, names), 3);
  assert_string_equal(names[1], "item_id-list");
  const int lens[3] = {7, 2, 0};   /* longer than T = 5, short, empty */
  rk_batch b;
  session_test_batch(&b, 3, lens, true);
  assert_rk_ok(m->ops->feed_fill(feed, &b, 0));
  const int64_t *items = rk_session_feed_items(feed), *len = rk_session_feed_lengths(feed);
  const rk_column *ic = &b.cols[1];
  for (int t = 0; t < 5; t++) assert_int_equal(items[t], rk_column_get_int(ic->child, 2 + t));   /* the last 5 of 7 */
  assert_int_equal(items[5], rk_column_get_int(ic->child, 7));
  assert_int_equal(items[6], rk_column_get_int(ic->child, 8));
  for (int t = 2; t < 5; t++) assert_int_equal(items[5 + t], 0);
  int64_t want_len[4] = {5, 2, 0, 0};
  assert_memory_equal(len, want_len, sizeof want_len);
  const int64_t *src = m->ops->feed_sources(feed);
  assert_true(src[0] == 0 && src[2] == 2 && src[3] == -1);
  /* Evaluation (last only): row n-2 predicts item n-1. */
  assert_rk_ok(rk_session_feed_set_phase(feed, RK_SESSION_PHASE_EVAL));
  assert_rk_ok(m->ops->feed_fill(feed, &b, 0));
  assert_int_equal(rk_session_feed_read_rows(feed)[0], 3);
  assert_int_equal(rk_session_feed_targets(feed)[0], items[4]);
  assert_int_equal(rk_session_feed_read_rows(feed)[1], 0);
  assert_int_equal(rk_session_feed_targets(feed)[1], items[6]);
  assert_int_equal(rk_session_feed_read_rows(feed)[2], -1);
  /* Prediction: the last row is read, nothing is a target. */
  assert_rk_ok(rk_session_feed_set_phase(feed, RK_SESSION_PHASE_PREDICT));
  assert_rk_ok(m->ops->feed_fill(feed, &b, 0));
  assert_int_equal(rk_session_feed_read_rows(feed)[0], 4);
  assert_int_equal(rk_session_feed_targets(feed)[0], 0);
  /* An id outside the table, and lists of unequal length, name column and row. */
  rk_column_free(&b.cols[0]);
  const int short_lens[3] = {7, 1, 0};
  session_test_list_column(&b.cols[0], "category-list", true, 3, short_lens, 5);
  assert_int_equal(m->ops->feed_fill(feed, &b, 0), RK_EUSAGE);
  assert_non_null(strstr(rk_error_message(), "'category-list' row 1"));
  rk_column_free(&b.cols[0]);
  session_test_list_column(&b.cols[0], "category-list", true, 3, lens, 50);
  assert_int_equal(m->ops->feed_fill(feed, &b, 0), RK_ERANGE);
  assert_non_null(strstr(rk_error_message(), "'category-list' row 0"));
  rk_batch_free(&b);
  m->ops->feed_free(feed);
  m->ops->free(m);
}

/* ---- the models ---- */

/* Mean loss over steps [from, to) of SGD-like training with AdamW on a fixed batch. */
static double train_steps(rk_model *m, rk_model_feed *feed, const rk_batch *b, int steps, double *first) {
  rk_optim_config oc;
  rk_optim_config_hf_adamw(&oc, 0.01f, 0.0f, 0.9f, 0.999f, 1e-8f);
  rk_optim opt;
  assert_rk_ok(rk_optim_init(&opt, &oc, m->params, m->n_params));
  double last = 0;
  for (int s = 0; s < steps; s++) {
    assert_rk_ok(m->ops->feed_fill(feed, b, (uint64_t)s));
    rk_graph_set_step(m->g, (uint64_t)s);
    assert_rk_ok(rk_graph_forward(m->g, RK_TRAIN));
    last = rk_graph_value_f32(m->g, m->out.loss)[0];
    assert_true(isfinite(last));
    if (s == 0) *first = last;
    assert_rk_ok(rk_graph_backward(m->g));
    assert_rk_ok(rk_optim_step(&opt, 1.0));
    rk_graph_zero_grad(m->g);
  }
  rk_optim_free(&opt);
  return last;
}

static void test_every_model_trains(void **state) {
  (void)state;
  rk_session_features f;
  session_test_features(&f, true);
  const rk_session_model_kind kinds[] = {RK_SESSION_GPT2, RK_SESSION_BERT, RK_SESSION_ALBERT, RK_SESSION_GRU,
                                         RK_SESSION_LSTM, RK_SESSION_RNN, RK_SESSION_AVGSEQ};
  const int lens[4] = {5, 3, 4, 2};
  rk_batch b;
  session_test_batch(&b, 4, lens, true);
  for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
    rk_session_config c;
    session_test_config(&c, kinds[k]);
    c.mf_constrained_embeddings = k % 2 == 0;
    c.layer_norm_featurewise = k % 3 == 0;
    if (kinds[k] == RK_SESSION_ALBERT) c.num_hidden_groups = -1;
    rk_model *m;
    assert_rk_ok(rk_session_build(&m, &f, &c, 4, true));
    assert_string_equal(m->ops->family, "session");
    rk_model_feed *feed;
    assert_rk_ok(m->ops->feed_init(&feed, m, NULL, 0, NULL, 11));
    double first = 0, last = train_steps(m, feed, &b, 30, &first);
    if (last >= first) fail_msg("%s: the loss went from %g to %g", c.model_type == RK_SESSION_AVGSEQ ? "avgseq" : "model", first, last);
    if (kinds[k] != RK_SESSION_BERT && kinds[k] != RK_SESSION_ALBERT)   /* the first loss: about log V */
      assert_true(fabs(first - log((double)SESSION_TEST_ITEMS)) < 1.0);
    m->ops->feed_free(feed);
    m->ops->free(m);
  }
  rk_batch_free(&b);
}

/* The item table's width: --item_embedding_dim when given, else d_model when tied to the output
 * (recsys_meta_model's rule under mf_constrained_embeddings), else ceil(card^0.25 x multiplier). */
static void test_item_table_width(void **state) {
  (void)state;
  rk_session_features f;
  session_test_features(&f, true);
  const struct { bool tied; int64_t given, want; } cases[] = {
      {false, 0, 5},   /* ceil(20^0.25 x 2) = ceil(4.23) */
      {true, 0, 8},    /* d_model */
      {true, 6, 6}, {false, 6, 6}};
  for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
    rk_session_config c;
    session_test_config(&c, RK_SESSION_GPT2);
    c.mf_constrained_embeddings = cases[k].tied;
    c.item_embedding_dim = cases[k].given;
    rk_model *m;
    assert_rk_ok(rk_session_build(&m, &f, &c, 2, false));
    rk_catalog cat;
    float temperature;
    rk_session_catalog(m, &cat, &temperature);
    if (cat.D != cases[k].want)
      fail_msg("case %zu: the item width is %lld, expected %lld", k, (long long)cat.D, (long long)cases[k].want);
    m->ops->free(m);
  }
}

/* ALBERT: num_hidden_groups blocks shared by the layers; the mapping into the encoder. */
static void test_albert_groups(void **state) {
  (void)state;
  rk_session_features f;
  session_test_features(&f, true);
  rk_session_config c;
  session_test_config(&c, RK_SESSION_ALBERT);
  c.n_layer = 4;
  int blocks[2];
  const int groups[2] = {1, -1};
  for (int k = 0; k < 2; k++) {
    c.num_hidden_groups = groups[k];
    rk_model *m;
    assert_rk_ok(rk_session_build(&m, &f, &c, 2, true));
    blocks[k] = 0;
    bool mapping = false;
    for (int i = 0; i < m->n_params; i++) {
      const char *name = m->params[i]->name;
      blocks[k] += strstr(name, "encoder.albert_layer_groups.") == name;
      mapping |= strcmp(name, "encoder.embedding_hidden_mapping_in.weight") == 0;
      if (strstr(name, "ln_2.weight")) assert_false(m->params[i]->no_decay);   /* full_layer_layer_norm: decayed */
      if (strstr(name, "ln_1.weight")) assert_true(m->params[i]->no_decay);    /* attention.LayerNorm */
    }
    assert_true(mapping);
    m->ops->free(m);
  }
  assert_int_equal(blocks[0], 12);       /* one block for the 4 layers */
  assert_int_equal(blocks[1], 4 * 12);   /* one per layer */
  c.num_hidden_groups = 3;               /* must divide n_layer */
  assert_int_equal(rk_session_config_check(&c), RK_EUSAGE);
  assert_non_null(strstr(rk_error_message(), "--num_hidden_groups"));
}

static void test_no_decay_marks(void **state) {
  (void)state;
  rk_session_features f;
  session_test_features(&f, true);
  rk_session_config c;
  session_test_config(&c, RK_SESSION_BERT);
  rk_model *m;
  assert_rk_ok(rk_session_build(&m, &f, &c, 2, true));
  for (int i = 0; i < m->n_params; i++) {
    const rk_param *p = m->params[i];
    bool want = strstr(p->name, "bias") || strstr(p->name, "LayerNorm.weight") || strstr(p->name, "ln_1.weight") ||
                strstr(p->name, "ln_2.weight");
    if (p->no_decay != want) fail_msg("%s: no_decay %d", p->name, p->no_decay);
  }
  m->ops->free(m);
  session_test_config(&c, RK_SESSION_GPT2);   /* GPT-2's ln_1 / ln_2 / ln_f weights: decayed, as in HF */
  assert_rk_ok(rk_session_build(&m, &f, &c, 2, true));
  for (int i = 0; i < m->n_params; i++)
    if (m->params[i]->no_decay != (strstr(m->params[i]->name, "bias") != NULL))
      fail_msg("%s: no_decay %d", m->params[i]->name, m->params[i]->no_decay);
  m->ops->free(m);
}

/* The hidden vectors of a fresh model of `kind` with the key-padding mask on or off. */
static void hidden_with_mask(rk_session_model_kind kind, bool key_padding_mask, rk_session_phase phase, float *out) {
  rk_session_features f;
  session_test_features(&f, true);
  rk_session_config c;
  session_test_config(&c, kind);
  c.key_padding_mask = key_padding_mask;
  c.eval_on_last_item_seq_only = true;
  rk_model *m;
  assert_rk_ok(rk_session_build(&m, &f, &c, 3, false));
  rk_model_feed *feed;
  assert_rk_ok(m->ops->feed_init(&feed, m, NULL, 0, NULL, 1));
  const int lens[3] = {5, 2, 3};
  rk_batch b;
  session_test_batch(&b, 3, lens, true);
  session_test_hidden(m, feed, &b, phase, out);
  rk_batch_free(&b);
  m->ops->feed_free(feed);
  m->ops->free(m);
}

static void test_key_padding_mask(void **state) {
  (void)state;
  float on[3 * 6], off[3 * 6];
  for (int phase = RK_SESSION_PHASE_EVAL; phase <= RK_SESSION_PHASE_PREDICT; phase++) {
    hidden_with_mask(RK_SESSION_GPT2, true, (rk_session_phase)phase, on);
    hidden_with_mask(RK_SESSION_GPT2, false, (rk_session_phase)phase, off);
    assert_memory_equal(on, off, sizeof on);
    hidden_with_mask(RK_SESSION_BERT, true, (rk_session_phase)phase, on);
    hidden_with_mask(RK_SESSION_BERT, false, (rk_session_phase)phase, off);
    assert_memory_equal(on, off, 6 * sizeof *on);      /* the full session has no padding */
    assert_memory_not_equal(on + 6, off + 6, 6 * sizeof *on);   /* the others see their padding without it */
  }
}

/* --inp_merge identity takes the features as they are (their width must be d_model);
 * --tf_out_activation relu changes the merge. */
static void test_merge_choices(void **state) {
  (void)state;
  rk_session_features f;
  session_test_features(&f, true);
  rk_session_config c;
  session_test_config(&c, RK_SESSION_GRU);
  c.inp_merge = RK_SESSION_MERGE_IDENTITY;   /* the features are 11 wide, d_model 8 */
  rk_model *m;
  assert_int_equal(rk_session_build(&m, &f, &c, 2, true), RK_EUSAGE);
  assert_non_null(strstr(rk_error_message(), "--inp_merge identity"));
  int64_t width = 4 + 6 + 1;   /* category table ceil(6^0.25 x 2) = 4, items 6, price 1 */
  c.d_model = width;
  assert_rk_ok(rk_session_build(&m, &f, &c, 2, true));
  for (int i = 0; i < m->n_params; i++) assert_null(strstr(m->params[i]->name, "mlp_merge"));
  m->ops->free(m);
  float tanh_h[2 * 6], relu_h[2 * 6];
  const int lens[2] = {4, 3};
  rk_batch b;
  session_test_batch(&b, 2, lens, true);
  session_test_config(&c, RK_SESSION_GRU);
  c.eval_on_last_item_seq_only = true;
  for (int k = 0; k < 2; k++) {
    c.tf_out_activation = k ? RK_SESSION_OUT_RELU : RK_SESSION_OUT_TANH;
    assert_rk_ok(rk_session_build(&m, &f, &c, 2, false));
    rk_model_feed *feed;
    assert_rk_ok(m->ops->feed_init(&feed, m, NULL, 0, NULL, 1));
    session_test_hidden(m, feed, &b, RK_SESSION_PHASE_EVAL, k ? relu_h : tanh_h);
    m->ops->feed_free(feed);
    m->ops->free(m);
  }
  assert_memory_not_equal(tanh_h, relu_h, sizeof tanh_h);
  rk_batch_free(&b);
}

static void test_share_is_not_a_copy(void **state) {
  (void)state;
  rk_session_features f;
  session_test_features(&f, true);
  rk_session_config c;
  session_test_config(&c, RK_SESSION_GPT2);
  c.eval_on_last_item_seq_only = true;
  rk_model *m, *inf;
  assert_rk_ok(rk_session_build(&m, &f, &c, 4, true));
  assert_rk_ok(m->ops->share(&inf, m, 3, false));
  assert_int_equal(inf->n_params, m->n_params);
  for (int i = 0; i < m->n_params; i++) assert_ptr_equal(inf->params[i], m->params[i]);
  assert_int_equal(inf->out.loss, RK_NO_VALUE);
  const int lens[3] = {5, 3, 4};
  rk_batch b;
  session_test_batch(&b, 3, lens, true);
  rk_model_feed *ft, *fi;
  assert_rk_ok(m->ops->feed_init(&ft, m, NULL, 0, NULL, 1));
  assert_rk_ok(inf->ops->feed_init(&fi, inf, NULL, 0, NULL, 1));
  float a[4 * 6], before[3 * 6], after[3 * 6];
  session_test_hidden(m, ft, &b, RK_SESSION_PHASE_EVAL, a);
  session_test_hidden(inf, fi, &b, RK_SESSION_PHASE_EVAL, before);
  assert_memory_equal(a, before, sizeof before);   /* one code path: the train graph in eval mode reads the same */
  double first;
  assert_rk_ok(rk_session_feed_set_phase(ft, RK_SESSION_PHASE_TRAIN));
  train_steps(m, ft, &b, 2, &first);
  session_test_hidden(inf, fi, &b, RK_SESSION_PHASE_EVAL, after);
  assert_memory_not_equal(before, after, sizeof after);
  /* The catalogue is the output layer's, with its bias. */
  rk_catalog cat;
  float temp;
  rk_session_catalog(inf, &cat, &temp);
  assert_int_equal(cat.V, SESSION_TEST_ITEMS);
  assert_int_equal(cat.D, 6);
  assert_non_null(cat.bias);
  assert_true(temp == 1.0f);
  rk_batch_free(&b);
  m->ops->feed_free(ft);
  inf->ops->feed_free(fi);
  inf->ops->free(inf);
  m->ops->free(m);
}

static void test_save_load_round_trip(void **state) {
  (void)state;
  rk_session_features f;
  session_test_features(&f, true);
  rk_session_config c;
  session_test_config(&c, RK_SESSION_BERT);
  c.mf_constrained_embeddings = true;
  c.eval_on_last_item_seq_only = true;
  rk_model *m;
  assert_rk_ok(rk_session_build(&m, &f, &c, 3, true));
  const int lens[3] = {5, 3, 4};
  rk_batch b;
  session_test_batch(&b, 3, lens, true);
  rk_model_feed *feed;
  assert_rk_ok(m->ops->feed_init(&feed, m, NULL, 0, NULL, 1));
  double first;
  train_steps(m, feed, &b, 3, &first);
  float want[3 * 6], got[3 * 6];
  session_test_hidden(m, feed, &b, RK_SESSION_PHASE_PREDICT, want);
  rk_schema schema;
  rk_schema_init(&schema);
  const char *dir = rk_test_path(rk_test_tmpdir("session_save"), "model");
  assert_rk_ok(rk_model_save(dir, m, &schema, NULL, NULL));
  rk_saved_model sm;
  assert_rk_ok(rk_model_load(&sm, dir));
  assert_true(rk_model_is_session(sm.model));
  assert_memory_equal(rk_session_model_config(sm.model), &c, sizeof c);
  assert_string_equal(json_string_value(json_object_get(sm.meta, "family")), "session");
  /* The ranking commands' inference graph refuses it, naming the command that serves it. */
  rk_model *inf;
  assert_int_equal(rk_model_share_for_data(&inf, sm.model, "/nonexistent", 3, 0), RK_EUSAGE);
  assert_non_null(strstr(rk_error_message(), "reckon sessions"));
  assert_rk_ok(rk_session_share(&inf, sm.model, 3, false, true));
  rk_model_feed *fi;
  assert_rk_ok(inf->ops->feed_init(&fi, inf, NULL, 0, NULL, 1));
  session_test_hidden(inf, fi, &b, RK_SESSION_PHASE_PREDICT, got);
  assert_memory_equal(want, got, sizeof got);   /* bit-identical */
  const rk_session_outputs *o = rk_session_model_outputs(inf);
  assert_int_equal(o->n_layers, 2);
  const int64_t *shape = rk_graph_value_shape(inf->g, o->attention[0]);
  assert_true(shape[0] == 3 && shape[1] == 2 && shape[2] == 5 && shape[3] == 5);
  rk_catalog a, bcat;
  rk_session_catalog(m, &a, NULL);
  rk_session_catalog(inf, &bcat, NULL);
  assert_memory_equal(a.items, bcat.items, (size_t)(a.V * a.D) * sizeof(float));
  assert_memory_equal(a.bias, bcat.bias, (size_t)a.V * sizeof(float));
  inf->ops->feed_free(fi);
  inf->ops->free(inf);
  rk_saved_model_free(&sm);
  rk_schema_free(&schema);
  rk_batch_free(&b);
  m->ops->feed_free(feed);
  m->ops->free(m);
}

/* ---- allocation failures ---- */

static rk_status build_share_feed(void *ctx) {
  (void)ctx;
  rk_session_features f;
  session_test_features(&f, true);
  rk_session_config c;
  session_test_config(&c, RK_SESSION_GPT2);
  c.layer_norm_featurewise = true;
  return session_test_build_share_feed(&f, &c);
}

static void test_allocation_failures(void **state) {
  (void)state;
  assert_true(rk_test_walk_failures(build_share_feed, NULL) > 10);
}

static const char *saved_dir;

static rk_status load_saved(void *ctx) {
  (void)ctx;
  rk_saved_model sm;
  rk_status st = rk_model_load(&sm, saved_dir);
  if (st == RK_OK) rk_saved_model_free(&sm);
  return st;
}

static void test_load_allocation_failures(void **state) {
  (void)state;
  rk_session_features f;
  session_test_features(&f, true);
  rk_session_config c;
  session_test_config(&c, RK_SESSION_GRU);
  rk_model *m;
  assert_rk_ok(rk_session_build(&m, &f, &c, 2, true));
  rk_schema schema;
  rk_schema_init(&schema);
  static char dir[4096];
  snprintf(dir, sizeof dir, "%s", rk_test_path(rk_test_tmpdir("session_load_walk"), "model"));
  assert_rk_ok(rk_model_save(dir, m, &schema, NULL, NULL));
  saved_dir = dir;
  assert_true(rk_test_walk_failures(load_saved, NULL) > 5);
  rk_schema_free(&schema);
  m->ops->free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_settings),
      cmocka_unit_test(test_features_from_config),
      cmocka_unit_test(test_features_from_schema),
      cmocka_unit_test(test_causal_masking),
      cmocka_unit_test(test_masked_lm_training_rules),
      cmocka_unit_test(test_masked_lm_evaluation_and_prediction),
      cmocka_unit_test(test_feed_windows_and_phases),
      cmocka_unit_test(test_every_model_trains),
      cmocka_unit_test(test_item_table_width),
      cmocka_unit_test(test_albert_groups),
      cmocka_unit_test(test_no_decay_marks),
      cmocka_unit_test(test_key_padding_mask),
      cmocka_unit_test(test_merge_choices),
      cmocka_unit_test(test_share_is_not_a_copy),
      cmocka_unit_test(test_save_load_round_trip),
      cmocka_unit_test(test_allocation_failures),
      cmocka_unit_test(test_load_allocation_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
