/*
 * The Outbrain generator (src/synth/outbrain.c): the same rows for any thread count and row-group
 * size; displays of 2..12 ads with exactly one click, whole displays per split, an eval share near
 * the one asked; ids, lists and numbers inside the ranges the schema states; the schema's
 * properties as read back from the written folder (both files); the sidecar's MAP@12 figures
 * against a brute-force recomputation from p_click, labels and is_leak; a clear gap between the
 * true ranking, a fixed ranking on the observed columns, and a random one; failure paths.
 */
#include "support.h"
#include "mem_sink.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "reckon/parquet.h"
#include "reckon/schema.h"
#include "reckon/synth.h"

static void small_outbrain(rk_synth_outbrain_config *cfg, int64_t displays) {
  rk_synth_outbrain_config_default(cfg);
  cfg->displays = displays;
  cfg->seed = 5;
  cfg->emit_truth = true;
}

typedef struct {
  mem_sink split[RK_SYNTH_SPLITS];
  rk_synth_outbrain_stats st;
} run_out;

static void outbrain_run(run_out *r, const rk_synth_outbrain_config *cfg) {
  for (int k = 0; k < RK_SYNTH_SPLITS; k++) mem_init(&r->split[k], true);
  assert_rk_ok(rk_synth_outbrain(&r->split[0].base, &r->split[1].base, &r->st, cfg));
}

static void run_free(run_out *r) {
  for (int k = 0; k < RK_SYNTH_SPLITS; k++) mem_free(&r->split[k]);
}

/* The stats without the wall time, for comparing runs. */
static void stats_equal(const rk_synth_outbrain_stats *a, const rk_synth_outbrain_stats *b) {
  rk_synth_outbrain_stats x = *a, y = *b;
  x.seconds = y.seconds = 0;
  x.config.row_group_rows = y.config.row_group_rows = 0;
  assert_memory_equal(&x, &y, sizeof x);
}

static rk_status run_outbrain_null(void *cfg) {
  mem_sink t, e;
  mem_init(&t, false);
  mem_init(&e, false);
  rk_status s = rk_synth_outbrain(&t.base, &e.base, NULL, cfg);
  mem_free(&t);
  mem_free(&e);
  return s;
}

/* ---------------------------------------------------------------------------------------------
 * Determinism.
 * ------------------------------------------------------------------------------------------- */
static void test_outbrain_same_for_any_threads_and_row_groups(void **state) {
  (void)state;
  rk_synth_outbrain_config cfg;
  small_outbrain(&cfg, 2500);   /* more than two parallel blocks of 1024 displays */
  cfg.row_group_rows = 4096;
  run_out ref, other;
  rk_set_num_threads(1);
  outbrain_run(&ref, &cfg);
  assert_true(ref.split[RK_SYNTH_TRAIN].batches >= 2);
  const int threads[] = {2, 4};
  for (int t = 0; t < 2; t++) {
    rk_set_num_threads(threads[t]);
    outbrain_run(&other, &cfg);
    for (int k = 0; k < RK_SYNTH_SPLITS; k++) assert_true(batches_equal(&ref.split[k].all, &other.split[k].all));
    stats_equal(&ref.st, &other.st);
    run_free(&other);
  }
  /* Other batch sizes (one below a display's most rows, one not a multiple of 8) give the same rows. */
  const int64_t sizes[] = {11, 777, 1 << 20};
  for (int i = 0; i < 3; i++) {
    cfg.row_group_rows = sizes[i];
    outbrain_run(&other, &cfg);
    for (int k = 0; k < RK_SYNTH_SPLITS; k++) assert_true(batches_equal(&ref.split[k].all, &other.split[k].all));
    stats_equal(&ref.st, &other.st);
    if (sizes[i] == 777) assert_true(other.split[RK_SYNTH_TRAIN].batches > 10);
    run_free(&other);
  }
  rk_set_num_threads(0);
  /* Another seed: other rows. */
  cfg.seed = 6;
  outbrain_run(&other, &cfg);
  assert_false(rk_column_equal(batch_col(&ref.split[0].all, "ad_id"), batch_col(&other.split[0].all, "ad_id")));
  run_free(&other);
  run_free(&ref);
}

/* ---------------------------------------------------------------------------------------------
 * Structure and ranges.
 * ------------------------------------------------------------------------------------------- */
static const struct {
  const char *name;
  int64_t lo, hi;      /* value range (list elements for lists) */
  int max_len;         /* lists: 1..max_len values */
} ranges[] = {
  {"ad_id", 1, 600000, 0},            {"doc_event_id", 1, 3000000, 0},       {"doc_id", 1, 3000000, 0},
  {"doc_event_source_id", 1, 14400, 0}, {"event_geo_location", 1, 3000, 0},  {"event_country_state", 1, 2000, 0},
  {"doc_event_publisher_id", 1, 1300, 0}, {"event_country", 1, 230, 0},      {"event_hour", 0, 5, 0},
  {"event_platform", 0, 2, 0},        {"traffic_source", 0, 2, 0},           {"event_weekend", 0, 1, 0},
  {"user_has_already_viewed_doc", 0, 1, 0}, {"doc_event_entity_id", 1, 1300000, 6},
  {"doc_event_topic_id", 1, 300, 3},  {"doc_event_category_id", 1, 100, 3},  {"doc_ad_source_id", 1, 14400, 0},
  {"ad_advertiser", 1, 4500, 0},      {"doc_ad_publisher_id", 1, 1300, 0},   {"doc_ad_topic_id", 1, 300, 3},
  {"doc_ad_entity_id", 1, 1300000, 6}, {"doc_ad_category_id", 1, 100, 3},   {"label", 0, 1, 0},
  {"is_leak", 0, 1, 0},
};

/* Context columns: the same on every row of a display. */
static const char *const per_display[] = {
  "doc_event_id", "doc_event_source_id", "event_geo_location", "event_country_state", "doc_event_publisher_id",
  "event_country", "event_hour", "event_platform", "traffic_source", "event_weekend",
  "doc_event_entity_id", "doc_event_topic_id", "doc_event_category_id", "user_views_log_01scaled",
  "doc_event_days_since_published_log_01scaled", "doc_event_hour_log_01scaled"};

static bool rows_same(const rk_column *c, int64_t a, int64_t b) {
  if (c->type != RK_COL_LIST) return rk_column_get_double(c, a) == rk_column_get_double(c, b);
  int64_t na = c->offsets[a + 1] - c->offsets[a], nb = c->offsets[b + 1] - c->offsets[b];
  return na == nb && memcmp((int64_t *)c->child->values + c->offsets[a], (int64_t *)c->child->values + c->offsets[b],
                            (size_t)na * sizeof(int64_t)) == 0;
}

static void check_split(const rk_batch *b, uint8_t *seen, int64_t ndisplays) {
  const rk_column *disp = batch_col(b, "display_id"), *label = batch_col(b, "label"), *p = batch_col(b, "p_click");
  assert_int_equal(b->ncols, 58);
  assert_string_equal(b->cols[57].name, "p_click");
  for (size_t r = 0; r < sizeof ranges / sizeof *ranges; r++) {
    const rk_column *c = batch_col(b, ranges[r].name);
    if (ranges[r].max_len) {
      assert_int_equal(c->type, RK_COL_LIST);
      for (int64_t i = 0; i < c->length; i++) {
        int64_t n = c->offsets[i + 1] - c->offsets[i];
        if (n < 1 || n > ranges[r].max_len) fail_msg("%s row %lld has %lld values", ranges[r].name, (long long)i, (long long)n);
        const int64_t *v = (const int64_t *)c->child->values + c->offsets[i];
        for (int64_t k = 0; k < n; k++) {
          assert_in_range(v[k], ranges[r].lo, ranges[r].hi);
          for (int64_t q = 0; q < k; q++) assert_true(v[q] != v[k]);   /* distinct within a row */
        }
      }
    } else {
      for (int64_t i = 0; i < c->length; i++) {
        int64_t v = rk_column_get_int(c, i);
        if (v < ranges[r].lo || v > ranges[r].hi) fail_msg("%s row %lld is %lld", ranges[r].name, (long long)i, (long long)v);
      }
    }
  }
  for (int j = 0; j < b->ncols; j++) {
    const rk_column *c = &b->cols[j];
    assert_int_equal(c->null_count, 0);
    if (c->type != RK_COL_FLOAT32) continue;
    for (int64_t i = 0; i < c->length; i++) {
      float v = ((const float *)c->values)[i];
      if (!(v >= 0.0f && v <= 1.0f)) fail_msg("%s row %lld is %g", c->name, (long long)i, (double)v);
    }
  }
  /* Displays: increasing ids, 2..12 rows, one click, probabilities summing to 1, context shared. */
  int64_t start = 0;
  while (start < b->nrows) {
    int64_t id = rk_column_get_int(disp, start), end = start;
    while (end < b->nrows && rk_column_get_int(disp, end) == id) end++;
    assert_in_range(id, 1, ndisplays);
    assert_int_equal(seen[id - 1], 0);   /* a display is whole, in one split */
    seen[id - 1] = 1;
    if (end < b->nrows) assert_true(rk_column_get_int(disp, end) > id);
    assert_in_range(end - start, 2, 12);
    int64_t clicks = 0;
    double psum = 0.0;
    for (int64_t i = start; i < end; i++) {
      clicks += rk_column_get_int(label, i);
      psum += rk_column_get_double(p, i);
    }
    assert_int_equal(clicks, 1);
    assert_true(fabs(psum - 1.0) < 1e-9);
    for (size_t k = 0; k < sizeof per_display / sizeof *per_display; k++) {
      const rk_column *c = batch_col(b, per_display[k]);
      for (int64_t i = start + 1; i < end; i++)
        if (!rows_same(c, start, i)) fail_msg("%s differs within display %lld", per_display[k], (long long)id);
    }
    start = end;
  }
}

static void test_outbrain_structure(void **state) {
  (void)state;
  rk_synth_outbrain_config cfg;
  small_outbrain(&cfg, 4000);
  run_out r;
  outbrain_run(&r, &cfg);
  uint8_t *seen = calloc((size_t)cfg.displays, 1);
  for (int k = 0; k < RK_SYNTH_SPLITS; k++) {
    check_split(&r.split[k].all, seen, cfg.displays);
    assert_int_equal(r.split[k].all.nrows, r.st.split_rows[k]);
  }
  for (int64_t d = 0; d < cfg.displays; d++) assert_int_equal(seen[d], 1);   /* every display, once */
  free(seen);
  assert_int_equal(r.st.displays, 4000);
  assert_int_equal(r.st.split_displays[0] + r.st.split_displays[1], 4000);
  assert_int_equal(r.st.rows, r.st.split_rows[0] + r.st.split_rows[1]);
  /* eval share: binomial(4000, 0.1) has sd 19 displays */
  double share = (double)r.st.split_displays[RK_SYNTH_EVAL] / 4000.0;
  if (fabs(share - 0.1) > 0.02) fail_msg("eval share %g, asked 0.1", share);
  if (fabs(r.st.mean_ads - 5.0) > 0.2) fail_msg("mean ads %g", r.st.mean_ads);
  assert_true(fabs(r.st.click_rate - 1.0 / r.st.mean_ads) < 1e-12);
  if (fabs(r.st.leak_rate_clicked - 0.3) > 0.04) fail_msg("leak rate of clicked ads %g", r.st.leak_rate_clicked);
  if (fabs(r.st.leak_rate_other - 0.02) > 0.006) fail_msg("leak rate of other ads %g", r.st.leak_rate_other);
  run_free(&r);

  /* All displays to one split, and none. */
  cfg.displays = 300;
  cfg.eval_fraction = 1.0;
  outbrain_run(&r, &cfg);
  assert_int_equal(r.st.split_displays[RK_SYNTH_EVAL], 300);
  assert_int_equal(r.split[RK_SYNTH_TRAIN].batches, 1);   /* an empty batch: the columns */
  assert_int_equal(r.split[RK_SYNTH_TRAIN].rows, 0);
  assert_int_equal(r.split[RK_SYNTH_TRAIN].all.ncols, 58);
  run_free(&r);
  cfg.displays = 0;
  outbrain_run(&r, &cfg);
  assert_int_equal(r.split[0].batches + r.split[1].batches, 2);
  assert_true(r.st.bayes_map12 == 0.0);
  run_free(&r);
}

/* ---------------------------------------------------------------------------------------------
 * The ceiling.
 * ------------------------------------------------------------------------------------------- */
/* Rank of row i among rows [s, e) by score, descending, ties by row order; 1-based. */
static int rank_in(const double *score, int64_t s, int64_t e, int64_t i) {
  int r = 1;
  for (int64_t j = s; j < e; j++) r += score[j] > score[i] || (score[j] == score[i] && j < i);
  return r;
}

typedef struct {
  double bayes, realized, leak, random, fixed;
} map_figures;

/* MAP@12 by brute force over one split's rows. `fixed` ranks by a fixed sum of observed columns,
 * the kind of score a model can learn. */
static map_figures map_of(const rk_batch *b) {
  int64_t n = b->nrows;
  const rk_column *disp = batch_col(b, "display_id"), *label = batch_col(b, "label"), *leak = batch_col(b, "is_leak");
  const rk_column *pc = batch_col(b, "p_click");
  static const char *const observed[] = {"pop_ad_id_log_01scaled", "pop_advertiser_id_log_01scaled",
                                         "pop_campain_id_log_01scaled", "pop_document_id_log_01scaled",
                                         "doc_event_doc_ad_sim_categories_log_01scaled",
                                         "doc_event_doc_ad_sim_topics_log_01scaled"};
  double *p = malloc((size_t)n * sizeof *p), *pl = malloc((size_t)n * sizeof *pl), *fx = calloc((size_t)n, sizeof *fx);
  for (int64_t i = 0; i < n; i++) {
    p[i] = rk_column_get_double(pc, i);
    pl[i] = p[i] + (double)rk_column_get_int(leak, i);
    for (size_t k = 0; k < sizeof observed / sizeof *observed; k++) fx[i] += rk_column_get_double(batch_col(b, observed[k]), i);
  }
  map_figures m = {0};
  int64_t displays = 0;
  for (int64_t s = 0; s < n;) {
    int64_t e = s;
    while (e < n && rk_column_get_int(disp, e) == rk_column_get_int(disp, s)) e++;
    int64_t clicked = s;
    while (rk_column_get_int(label, clicked) == 0) clicked++;
    for (int64_t i = s; i < e; i++) {
      int r = rank_in(p, s, e, i);
      if (r <= 12) m.bayes += p[i] / r;
    }
    int r = rank_in(p, s, e, clicked);
    m.realized += r <= 12 ? 1.0 / r : 0.0;
    r = rank_in(pl, s, e, clicked);
    m.leak += r <= 12 ? 1.0 / r : 0.0;
    r = rank_in(fx, s, e, clicked);
    m.fixed += r <= 12 ? 1.0 / r : 0.0;
    double h = 0.0;
    for (int64_t k = 1; k <= e - s && k <= 12; k++) h += 1.0 / (double)k;
    m.random += h / (double)(e - s);
    displays++;
    s = e;
  }
  m.bayes /= (double)displays;
  m.realized /= (double)displays;
  m.leak /= (double)displays;
  m.random /= (double)displays;
  m.fixed /= (double)displays;
  free(p), free(pl), free(fx);
  return m;
}

static void test_outbrain_map_matches_brute_force(void **state) {
  (void)state;
  rk_synth_outbrain_config cfg;
  small_outbrain(&cfg, 6000);
  cfg.eval_fraction = 0.5;
  run_out r;
  outbrain_run(&r, &cfg);
  map_figures m = map_of(&r.split[RK_SYNTH_EVAL].all);
  if (fabs(m.bayes - r.st.bayes_map12) > 1e-12) fail_msg("bayes_map12 %.12f, brute force %.12f", r.st.bayes_map12, m.bayes);
  if (fabs(m.realized - r.st.realized_map12) > 1e-12) fail_msg("realized %.12f vs %.12f", r.st.realized_map12, m.realized);
  if (fabs(m.leak - r.st.realized_map12_with_leak) > 1e-12)
    fail_msg("with leak %.12f vs %.12f", r.st.realized_map12_with_leak, m.leak);
  if (fabs(m.random - r.st.random_map12) > 1e-12) fail_msg("random %.12f vs %.12f", r.st.random_map12, m.random);
  /* The signal is learnable: the true ranking is far above random, a fixed ranking on observed
   * columns is in between, the realized clicks agree with the expectation (sd about 0.006 on 3000
   * displays), and the leak helps. */
  print_message("outbrain MAP@12 on %lld eval displays: bayes %.4f, realized %.4f, leak %.4f, observed-columns %.4f, "
                "random %.4f\n", (long long)r.st.split_displays[RK_SYNTH_EVAL], m.bayes, m.realized, m.leak, m.fixed, m.random);
  assert_true(m.bayes > m.random + 0.15);
  assert_true(m.fixed > m.random + 0.05);
  assert_true(m.fixed < m.bayes);
  assert_true(fabs(m.realized - m.bayes) < 0.03);
  assert_true(m.leak > m.realized + 0.02);
  run_free(&r);
}

/* ---------------------------------------------------------------------------------------------
 * The folder: Parquet rows, both schema files and the sidecar.
 * ------------------------------------------------------------------------------------------- */
static void check_schema(const rk_schema *s, const char *label) {
  assert_int_equal(s->n_cols, 57);
  assert_string_equal(s->cols[0].name, "display_id");
  assert_int_equal(s->cols[0].n_tags, 0);
  const rk_schema_column *ad = rk_schema_find(s, "ad_id");
  assert_non_null(ad);
  int64_t v = 0, card = 0, dim = 0;
  if (!rk_schema_column_num_buckets(ad, &v) || v != 250000) fail_msg("%s: ad_id num_buckets %lld", label, (long long)v);
  assert_true(rk_schema_column_embedding_sizes(ad, &card, &dim));
  assert_int_equal(card, 250000);
  assert_int_equal(dim, 128);
  assert_true(rk_schema_column_has_tag(ad, RK_TAG_ITEM_ID));
  assert_true(rk_schema_column_has_tag(ad, RK_TAG_CATEGORICAL));
  assert_true(ad->int_domain.is_categorical);
  assert_int_equal(ad->int_domain.max, 600000);
  assert_false(ad->is_list);

  const rk_schema_column *label_col = rk_schema_find(s, "label");
  assert_true(rk_schema_column_has_tag(label_col, RK_TAG_TARGET));
  assert_true(rk_schema_column_has_tag(label_col, RK_TAG_BINARY_CLASSIFICATION));
  assert_string_equal(label_col->dtype_name, "int32");
  assert_int_equal(rk_schema_find(s, "is_leak")->n_tags, 0);

  const rk_schema_column *hour = rk_schema_find(s, "event_hour");
  if (!json_is_true(rk_schema_column_property(hour, "indicator")))
    fail_msg("%s: event_hour's indicator property did not read back as true", label);
  assert_null(rk_schema_column_property(hour, "embedding_sizes"));
  assert_int_equal(hour->int_domain.max, 5);
  assert_true(rk_schema_column_has_tag(hour, RK_TAG_CONTEXT));
  assert_true(json_is_true(rk_schema_column_property(rk_schema_find(s, "user_has_already_viewed_doc"), "indicator")));
  assert_null(rk_schema_column_property(rk_schema_find(s, "doc_event_id"), "indicator"));

  const rk_schema_column *ent = rk_schema_find(s, "doc_ad_entity_id");
  assert_true(ent->is_list);
  assert_true(ent->is_ragged);
  assert_true(ent->value_count.present);
  assert_int_equal(ent->value_count.min, 1);
  assert_int_equal(ent->value_count.max, 6);
  assert_true(rk_schema_column_has_tag(ent, RK_TAG_LIST));
  assert_true(rk_schema_column_has_tag(ent, RK_TAG_ITEM));
  assert_true(rk_schema_column_num_buckets(ent, &v) && v == 10000);
  assert_true(rk_schema_column_embedding_sizes(ent, &card, &dim) && card == 10000 && dim == 64);
  const rk_schema_column *evcat = rk_schema_find(s, "doc_event_category_id");
  assert_true(evcat->is_list);
  assert_int_equal(evcat->value_count.max, 3);
  assert_true(rk_schema_column_has_tag(evcat, RK_TAG_CONTEXT));

  const rk_schema_column *num = rk_schema_find(s, "pop_ad_id_log_01scaled");
  assert_true(rk_schema_column_has_tag(num, RK_TAG_CONTINUOUS));
  assert_true(rk_schema_column_has_tag(num, RK_TAG_ITEM));
  assert_string_equal(num->dtype_name, "float32");
  assert_true(num->float_domain.present && num->float_domain.max == 1.0);
  int continuous = 0, listed = 0, hashed = 0, indicators = 0;
  for (int i = 0; i < s->n_cols; i++) {
    continuous += rk_schema_column_has_tag(&s->cols[i], RK_TAG_CONTINUOUS);
    listed += s->cols[i].is_list;
    hashed += rk_schema_column_num_buckets(&s->cols[i], &v);
    indicators += json_is_true(rk_schema_column_property(&s->cols[i], "indicator"));
  }
  assert_int_equal(continuous, 32);
  assert_int_equal(listed, 6);
  assert_int_equal(hashed, 17);
  assert_int_equal(indicators, 5);
}

static void test_outbrain_dataset_folder(void **state) {
  (void)state;
  const char *root = rk_test_tmpdir("synth_outbrain_folder");
  char dir[3800], path[4200];
  snprintf(dir, sizeof dir, "%s/ob", root);
  rk_synth_outbrain_config cfg;
  small_outbrain(&cfg, 1500);
  cfg.emit_truth = false;
  cfg.row_group_rows = 1000;
  rk_synth_outbrain_stats st;
  assert_rk_ok(rk_synth_outbrain_write_dataset(dir, &st, &cfg));

  /* The Parquet rows are the generator's rows. */
  run_out r;
  outbrain_run(&r, &cfg);
  static const char *const splits[2] = {"train", "eval"};
  for (int k = 0; k < RK_SYNTH_SPLITS; k++) {
    snprintf(path, sizeof path, "%s/%s/part_0.parquet", dir, splits[k]);
    rk_parquet_reader *rd;
    assert_rk_ok(rk_parquet_open(&rd, path, NULL));
    if (r.st.split_rows[k] > 1000) assert_true(rk_parquet_num_row_groups(rd) > 1);
    if (rk_parquet_num_row_groups(rd) > 1) assert_int_equal(rk_parquet_row_group_rows(rd, 0), 1000);
    rk_parquet_close(rd);
    rk_batch b = {0};
    assert_rk_ok(rk_parquet_read_all(path, NULL, &b));
    assert_int_equal(b.nrows, r.st.split_rows[k]);
    assert_true(batches_equal(&b, &r.split[k].all));   /* write-then-read is identity */
    rk_batch_free(&b);
  }
  run_free(&r);

  /* Both schema files, read back. */
  for (int k = 0; k < RK_SYNTH_SPLITS; k++) {
    rk_schema s;
    snprintf(path, sizeof path, "%s/%s", dir, splits[k]);
    assert_rk_ok(rk_schema_read(&s, path));   /* .merlin/schema.json */
    check_schema(&s, "schema.json");
    rk_schema_free(&s);
    snprintf(path, sizeof path, "%s/%s/schema.pbtxt", dir, splits[k]);
    assert_rk_ok(rk_schema_read(&s, path));
    check_schema(&s, "schema.pbtxt");
    rk_schema_free(&s);
  }

  /* The sidecar. */
  snprintf(path, sizeof path, "%s/synth.json", dir);
  json_error_t err;
  json_t *side = json_load_file(path, 0, &err);
  if (!side) fail_msg("sidecar does not parse: %s", err.text);
  assert_string_equal(json_string_value(json_object_get(side, "generator")), "outbrain");
  assert_int_equal(json_integer_value(json_object_get(json_object_get(side, "config"), "displays")), 1500);
  assert_int_equal(json_integer_value(json_object_get(json_object_get(side, "config"), "seed")), 5);
  assert_int_equal(json_integer_value(json_object_get(side, "rows")), st.rows);
  json_t *ev = json_object_get(json_object_get(side, "splits"), "eval");
  assert_int_equal(json_integer_value(json_object_get(ev, "displays")), st.split_displays[RK_SYNTH_EVAL]);
  assert_int_equal(json_integer_value(json_object_get(ev, "rows")), st.split_rows[RK_SYNTH_EVAL]);
  assert_true(fabs(json_real_value(json_object_get(side, "bayes_map12")) - st.bayes_map12) < 1e-9);
  assert_true(fabs(json_real_value(json_object_get(side, "realized_map12_with_leak")) - st.realized_map12_with_leak) < 1e-9);
  assert_true(json_real_value(json_object_get(side, "random_map12")) > 0.4);
  assert_int_equal(json_array_size(json_object_get(side, "columns")), 57);
  json_decref(side);

  /* Writing again replaces a folder this command wrote; nothing temporary is left beside it. */
  cfg.displays = 200;
  assert_rk_ok(rk_synth_outbrain_write_dataset(dir, &st, &cfg));
  assert_int_equal(st.displays, 200);
  assert_int_equal(rk_test_system("test $(ls -a '%s' | wc -l) -eq 3", root), 0);   /* ., .., ob */

  /* A folder that holds something else is refused and left alone; so is a bad config. */
  char other[4096];
  snprintf(other, sizeof other, "%s/mine", root);
  assert_rk_ok(rk_mkdir_p(other));
  snprintf(path, sizeof path, "%s/keep.txt", other);
  rk_test_write_file(path, "precious");
  assert_int_equal(rk_synth_outbrain_write_dataset(other, NULL, &cfg), RK_EUSAGE);
  assert_non_null(strstr(rk_error_message(), "was not written by"));
  struct stat sb;
  assert_int_equal(stat(path, &sb), 0);
  cfg.eval_fraction = 2.0;
  assert_int_equal(rk_synth_outbrain_write_dataset(dir, NULL, &cfg), RK_EINVAL);
  assert_non_null(strstr(rk_error_message(), "eval_fraction"));
  assert_int_equal(rk_test_system("test $(ls -a '%s' | wc -l) -eq 4", root), 0);   /* ., .., ob, mine */
}

/* ---------------------------------------------------------------------------------------------
 * Failures.
 * ------------------------------------------------------------------------------------------- */
static rk_status run_schema(void *cfg) {
  rk_schema s;
  rk_status st = rk_synth_outbrain_schema(&s, cfg);
  rk_schema_free(&s);
  return st;
}

static void test_outbrain_failures(void **state) {
  (void)state;
  rk_synth_outbrain_config cfg;
  small_outbrain(&cfg, 60);
  cfg.row_group_rows = 100;
  int64_t start = rk_alloc_live_bytes();
  assert_true(rk_test_walk_failures(run_outbrain_null, &cfg) > 10);
  assert_true(rk_test_walk_failures(run_schema, &cfg) > 57);
  mem_sink t, e;
  mem_init(&t, false);
  mem_init(&e, false);
  e.fail_at = 0;
  assert_int_equal(rk_synth_outbrain(&t.base, &e.base, NULL, &cfg), RK_EIO);
  assert_non_null(strstr(rk_error_message(), "injected sink failure"));
  mem_init(&t, false);
  mem_init(&e, false);
  t.fail_at = 1;   /* a flush in the middle */
  assert_int_equal(rk_synth_outbrain(&t.base, &e.base, NULL, &cfg), RK_EIO);
  assert_int_equal(rk_alloc_live_bytes(), start);
  cfg.displays = -1;
  assert_int_equal(rk_synth_outbrain(&t.base, &e.base, NULL, &cfg), RK_EINVAL);
  assert_non_null(strstr(rk_error_message(), "displays"));
  cfg.displays = 10;
  cfg.row_group_rows = 0;
  assert_int_equal(rk_synth_outbrain(&t.base, &e.base, NULL, &cfg), RK_EINVAL);
  assert_non_null(strstr(rk_error_message(), "row_group_rows"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_outbrain_same_for_any_threads_and_row_groups),
      cmocka_unit_test(test_outbrain_structure),
      cmocka_unit_test(test_outbrain_map_matches_brute_force),
      cmocka_unit_test(test_outbrain_dataset_folder),
      cmocka_unit_test(test_outbrain_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
