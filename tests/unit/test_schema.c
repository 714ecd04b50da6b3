/*
 * The Merlin schema (src/io/schema*.c, src/io/pbtxt.c): concrete values from four real Merlin
 * files (tests/data/merlin/, see ATTRIBUTION.md); read-write-read identity across both formats;
 * Merlin's own bytes where its output is deterministic (aliccp pbtxt byte for byte, betterproto's
 * one-line JSON for a known feature, the t4rec JSON as parsed JSON); the builder; Python's float
 * spellings; malformed input (errors name file and line, random mutations never crash); and
 * allocation-failure injection over read and write.
 *
 * jansson is routed through rk_malloc / rk_free in main() (json_set_alloc_funcs, this executable
 * only), so live-byte counts and failure injection cover JSON values too.
 */
#include "support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/schema_internal.h"
#include "reckon/schema.h"

static const char *const FILES[] = {"merlin/tenrec_video.schema.pbtxt", "merlin/aliccp_transformed.schema.pbtxt",
                                    "merlin/yoochoose_sessions.schema.pbtxt", "merlin/t4rec_testing.schema.json"};
enum { NFILES = 4 };

static char *slurp(const char *path, size_t *len) {
  char *text = NULL;
  size_t n = 0;
  assert_rk_ok(rk_read_file(path, &text, &n));
  if (len) *len = n;
  return text;
}

static rk_schema_column *col_of(const rk_schema *s, const char *name) {
  rk_schema_column *c = rk_schema_find(s, name);
  if (!c) fail_msg("no column '%s'", name);
  return c;
}

static void assert_tags(const rk_schema_column *c, const char *const *tags, int n) {
  assert_int_equal(c->n_tags, n);
  for (int i = 0; i < n; i++) assert_string_equal(c->tags[i], tags[i]);
}

static void assert_equal_schemas(const rk_schema *a, const rk_schema *b) {
  char why[512];
  if (!rk_schema_equal(a, b, why, sizeof why)) fail_msg("schemas differ: %s", why);
}

/* ---- concrete values from each file --------------------------------------------------------- */
static void test_read_tenrec(void **state) {
  (void)state;
  int64_t live = rk_alloc_live_bytes();
  rk_schema s;
  assert_rk_ok(rk_schema_read(&s, rk_test_data("merlin/tenrec_video.schema.pbtxt")));
  assert_int_equal(s.n_cols, 10);
  assert_int_equal(s.n_dropped, 0);
  rk_schema_column *u = col_of(&s, "user_id");
  static const char *const utags[] = {"user_id", "categorical", "user", "id"};
  assert_tags(u, utags, 4);
  assert_int_equal(u->ftype, RK_SCHEMA_TYPE_INT);
  assert_string_equal(u->dtype_name, "int32");   /* dtype_item_size 32.0 */
  assert_int_equal(u->dtype, RK_COL_INT32);
  assert_true(u->int_domain.present);
  assert_string_equal(u->int_domain.name, "user_id");
  assert_false(u->int_domain.has_min);
  assert_int_equal(u->int_domain.max, 100000);
  assert_true(u->int_domain.is_categorical);
  assert_false(u->is_list);
  assert_false(u->is_ragged);
  int64_t card = 0, dim = 0, v = -1;
  assert_true(rk_schema_column_embedding_sizes(u, &card, &dim));
  assert_int_equal(card, 2633851);
  assert_int_equal(dim, 512);
  assert_true(rk_schema_column_start_index(u, &v));
  assert_int_equal(v, 1);
  assert_true(rk_schema_column_freq_threshold(u, &v));
  assert_int_equal(v, 0);
  assert_true(rk_schema_column_max_size(u, &v));
  assert_int_equal(v, 0);
  assert_false(rk_schema_column_num_buckets(u, &v));   /* null */
  assert_true(json_is_null(rk_schema_column_property(u, "num_buckets")));
  assert_string_equal(rk_schema_column_cat_path(u), ".//categories/unique.user_id.parquet");
  /* property order is the file's (this file's Struct starts with is_ragged) */
  assert_string_equal(json_object_iter_key(json_object_iter(u->properties)), "is_ragged");
  assert_true(rk_schema_column_has_tag(u, RK_TAG_USER));
  assert_true(rk_schema_column_has_tag(u, RK_TAG_ID));
  assert_false(rk_schema_column_has_tag(u, RK_TAG_ITEM));

  rk_schema_column *i = col_of(&s, "item_id");
  assert_true(rk_schema_column_embedding_sizes(i, &card, &dim));
  assert_int_equal(card, 179280);
  assert_int_equal(dim, 512);
  assert_int_equal(i->int_domain.max, 179280);
  rk_schema_column *vc = col_of(&s, "video_category");
  assert_true(rk_schema_column_embedding_sizes(vc, &card, &dim));
  assert_int_equal(card, 5);
  assert_int_equal(dim, 16);

  rk_schema_column *click = col_of(&s, "click");
  static const char *const ctags[] = {"target", "binary_classification", "binary"};
  assert_tags(click, ctags, 3);
  assert_string_equal(click->dtype_name, "int8");
  assert_false(click->int_domain.present);
  assert_true(rk_schema_column_has_tag(click, RK_TAG_BINARY));
  assert_true(rk_schema_column_has_tag(click, RK_TAG_TARGET));
  assert_false(rk_schema_column_embedding_sizes(click, NULL, NULL));

  rk_schema_column *w = col_of(&s, "watching_times");
  assert_true(w->int_domain.has_is_categorical);
  assert_false(w->int_domain.is_categorical);
  assert_int_equal(w->int_domain.max, 5);
  assert_string_equal(w->dtype_name, "int16");
  assert_false(rk_schema_column_has_tag(w, RK_TAG_CATEGORICAL));

  rk_schema targets;
  assert_rk_ok(rk_schema_select_by_tag(&targets, &s, RK_TAG_TARGET));
  assert_int_equal(targets.n_cols, 5);
  assert_string_equal(targets.cols[0].name, "click");
  assert_string_equal(targets.cols[4].name, "watching_times");
  rk_schema_free(&targets);
  rk_schema_free(&s);
  assert_int_equal(rk_alloc_live_bytes(), live);
}

static void test_read_aliccp(void **state) {
  (void)state;
  rk_schema s;
  assert_rk_ok(rk_schema_read(&s, rk_test_data("merlin/aliccp_transformed.schema.pbtxt")));
  assert_int_equal(s.n_cols, 27);
  rk_schema_column *u = col_of(&s, "user_id");
  int64_t card, dim, v;
  assert_true(rk_schema_column_embedding_sizes(u, &card, &dim));
  assert_int_equal(card, 294736);
  assert_int_equal(dim, 512);
  assert_true(rk_schema_column_start_index(u, &v));
  assert_int_equal(v, 0);
  assert_int_equal(u->int_domain.max, 294736);
  /* a repeated tag stays repeated: nothing is lost */
  rk_schema_column *uii = col_of(&s, "user_item_intentions");
  static const char *const tags[] = {"categorical", "user_item", "user_item"};
  assert_tags(uii, tags, 3);
  assert_int_equal(uii->tag_bits, RK_TAG_BIT(RK_TAG_CATEGORICAL));   /* user_item is not standard */
  assert_true(rk_schema_column_has_tag_name(uii, "user_item"));
  rk_schema_column *te = col_of(&s, "TE_user_id_click");
  assert_int_equal(te->ftype, RK_SCHEMA_TYPE_FLOAT);
  assert_string_equal(te->dtype_name, "float64");
  assert_int_equal(te->dtype, RK_COL_FLOAT64);
  rk_schema_column *pos = col_of(&s, "position");
  assert_true(rk_schema_column_has_tag(pos, RK_TAG_CONTEXT));
  assert_string_equal(rk_schema_column_cat_path(pos), ".//categories/unique.position.parquet");   /* \' in the bytes */
  rk_schema t;
  assert_rk_ok(rk_schema_select_by_tag(&t, &s, RK_TAG_BINARY_CLASSIFICATION));
  assert_int_equal(t.n_cols, 2);
  assert_string_equal(t.cols[0].name, "click");
  assert_string_equal(t.cols[1].name, "conversion");
  rk_schema_free(&t);
  assert_rk_ok(rk_schema_select_by_tag(&t, &s, RK_TAG_ID));   /* user_id and item_id tags imply id */
  assert_int_equal(t.n_cols, 2);
  rk_schema_free(&t);
  rk_schema_free(&s);
}

static void test_read_yoochoose(void **state) {
  (void)state;
  rk_schema s;
  assert_rk_ok(rk_schema_read(&s, rk_test_data("merlin/yoochoose_sessions.schema.pbtxt")));
  assert_int_equal(s.n_cols, 7);
  rk_schema_column *it = col_of(&s, "item_id-list");
  assert_true(it->value_count.present);
  assert_int_equal(it->value_count.min, 2);
  assert_int_equal(it->value_count.max, 20);
  assert_true(it->is_list);
  assert_true(it->is_ragged);
  assert_int_equal(it->int_domain.min, 1);
  assert_int_equal(it->int_domain.max, 52740);
  assert_string_equal(it->dtype_name, "int64");   /* no dtype_item_size: Merlin's default */
  assert_null(it->properties);
  static const char *const tags[] = {"item_id", "list", "categorical", "item"};
  assert_tags(it, tags, 4);
  rk_schema_column *age = col_of(&s, "timestamp_age_days_norm-list");
  assert_true(age->float_domain.present);
  assert_true(age->float_domain.min == -10000.0);
  assert_true(age->float_domain.max == 10000.0);
  assert_string_equal(age->dtype_name, "float64");
  rk_schema sel;
  assert_rk_ok(rk_schema_select_by_tag(&sel, &s, RK_TAG_ITEM_ID));
  assert_int_equal(sel.n_cols, 1);
  rk_schema_free(&sel);
  assert_rk_ok(rk_schema_select_by_tag(&sel, &s, RK_TAG_CONTINUOUS));
  assert_int_equal(sel.n_cols, 5);
  rk_schema_free(&sel);
  rk_schema_free(&s);
}

static void test_read_t4rec(void **state) {
  (void)state;
  rk_schema s;
  assert_rk_ok(rk_schema_read(&s, rk_test_data("merlin/t4rec_testing.schema.json")));
  assert_int_equal(s.n_cols, 14);
  rk_schema_column *it = col_of(&s, "item_id/list");
  assert_int_equal(it->value_count.min, 2);
  assert_int_equal(it->value_count.max, 185);
  assert_true(it->is_list && it->is_ragged);
  assert_int_equal(it->int_domain.min, 1);
  assert_int_equal(it->int_domain.max, 51996);
  assert_true(it->int_domain.is_categorical);
  rk_schema_column *uc = col_of(&s, "user_country");
  assert_string_equal(uc->int_domain.name, "session_id");   /* as the file has it */
  assert_int_equal(uc->int_domain.max, 62);
  assert_false(uc->is_list);
  rk_schema_column *ua = col_of(&s, "user_age");
  assert_false(ua->float_domain.has_min);
  assert_true(ua->float_domain.max == 0.4079650044441223);
  rk_schema_column *hour = col_of(&s, "timestamp/hour/list");
  static const char *const tags[] = {"continuous", "time", "list"};
  assert_tags(hour, tags, 3);
  assert_true(hour->float_domain.min == 5.7866054703481495e-06);
  assert_true(rk_schema_column_has_tag(hour, RK_TAG_TIME));
  rk_schema_free(&s);
}

/* ---- round trips ------------------------------------------------------------------------------ */
static void reparse(rk_schema *out, const rk_schema *in, bool json) {
  char *text;
  size_t len;
  if (json) {
    assert_rk_ok(rk_schema_to_json(in, &text, &len));
    assert_rk_ok(rk_schema_parse_json(out, text, len, "written.json"));
  } else {
    assert_rk_ok(rk_schema_to_pbtxt(in, &text, &len));
    assert_rk_ok(rk_schema_parse_pbtxt(out, text, len, "written.pbtxt"));
  }
  rk_free(text);
}

static void test_round_trips(void **state) {
  (void)state;
  int64_t live = rk_alloc_live_bytes();
  const char *dir = rk_test_tmpdir("schema_round_trips");
  for (int f = 0; f < NFILES; f++) {
    rk_schema orig, a, b, c;
    assert_rk_ok(rk_schema_read(&orig, rk_test_data(FILES[f])));
    reparse(&a, &orig, true);     /* -> json -> */
    assert_equal_schemas(&orig, &a);
    reparse(&b, &orig, false);    /* -> pbtxt -> */
    assert_equal_schemas(&orig, &b);
    reparse(&c, &a, false);       /* -> json -> pbtxt -> */
    assert_equal_schemas(&orig, &c);
    rk_schema_free(&a);
    rk_schema_free(&b);
    rk_schema_free(&c);
    /* through files, atomically written */
    char path[4200];
    snprintf(path, sizeof path, "%s/s%d.json", dir, f);
    assert_rk_ok(rk_schema_write_json(&orig, path));
    assert_rk_ok(rk_schema_read(&a, path));
    assert_equal_schemas(&orig, &a);
    snprintf(path, sizeof path, "%s/s%d.pbtxt", dir, f);
    assert_rk_ok(rk_schema_write_pbtxt(&a, path));
    assert_rk_ok(rk_schema_read(&b, path));
    assert_equal_schemas(&orig, &b);
    /* a copy is equal, and a change is seen */
    assert_rk_ok(rk_schema_copy(&c, &orig));
    assert_equal_schemas(&orig, &c);
    c.cols[0].is_list = !c.cols[0].is_list;
    assert_false(rk_schema_equal(&orig, &c, NULL, 0));
    rk_schema_free(&a);
    rk_schema_free(&b);
    rk_schema_free(&c);
    rk_schema_free(&orig);
  }
  assert_int_equal(rk_test_system("ls -a '%s' | grep -q tmp", dir), 1);   /* no temporaries left */
  assert_int_equal(rk_alloc_live_bytes(), live);
}

/* ---- Merlin's bytes --------------------------------------------------------------------------- */
static char *write_pbtxt_of(const char *file, size_t *len) {
  rk_schema s;
  char *text;
  assert_rk_ok(rk_schema_read(&s, rk_test_data(file)));
  assert_rk_ok(rk_schema_to_pbtxt(&s, &text, len));
  rk_schema_free(&s);
  return text;
}

static void test_pbtxt_bytes(void **state) {
  (void)state;
  size_t n_orig, n_out;
  /* aliccp: written by Merlin (text_format.MessageToString): byte for byte */
  char *orig = slurp(rk_test_data("merlin/aliccp_transformed.schema.pbtxt"), &n_orig);
  char *out = write_pbtxt_of("merlin/aliccp_transformed.schema.pbtxt", &n_out);
  assert_int_equal(n_out, n_orig);
  assert_memory_equal(out, orig, n_orig);
  rk_free(orig);
  rk_free(out);
  /* tenrec: the same, but the shipped file has one more newline at the end */
  orig = slurp(rk_test_data("merlin/tenrec_video.schema.pbtxt"), &n_orig);
  out = write_pbtxt_of("merlin/tenrec_video.schema.pbtxt", &n_out);
  assert_int_equal(n_out + 1, n_orig);
  assert_memory_equal(out, orig, n_out);
  assert_int_equal(orig[n_orig - 1], '\n');
  rk_free(orig);
  rk_free(out);
  /* yoochoose was edited by hand (blank lines, no final newline); floats print as text_format's */
  orig = slurp(rk_test_data("merlin/yoochoose_sessions.schema.pbtxt"), &n_orig);
  out = write_pbtxt_of("merlin/yoochoose_sessions.schema.pbtxt", &n_out);
  rk_schema_buf squeezed = {0};
  for (size_t i = 0; i < n_orig; i++)
    if (!(orig[i] == '\n' && (i == 0 || orig[i - 1] == '\n'))) rk_schema_buf_put(&squeezed, &orig[i], 1);
  rk_schema_buf_puts(&squeezed, "\n");
  assert_rk_ok(squeezed.status);
  assert_string_equal(out, squeezed.data);
  rk_free(squeezed.data);
  rk_free(orig);
  rk_free(out);
}

static void test_json_as_merlin_writes(void **state) {
  (void)state;
  rk_schema s;
  char *text;
  size_t len;
  /* t4rec: same document as parsed JSON */
  assert_rk_ok(rk_schema_read(&s, rk_test_data("merlin/t4rec_testing.schema.json")));
  assert_rk_ok(rk_schema_to_json(&s, &text, &len));
  json_error_t err;
  json_t *mine = json_loadb(text, len, 0, &err);
  json_t *theirs = json_load_file(rk_test_data("merlin/t4rec_testing.schema.json"), 0, &err);
  assert_non_null(mine);
  assert_non_null(theirs);
  assert_true(json_equal(mine, theirs));
  json_decref(mine);
  json_decref(theirs);
  /* betterproto's one line: declaration order, int64 strings, the Struct as a plain object */
  assert_non_null(strstr(text, "{\"feature\": [{\"name\": \"timestamp/age_days/LogOp/Normalize/list\", \"valueCount\": "
                               "{\"min\": \"2\", \"max\": \"185\"}, \"type\": \"FLOAT\", \"floatDomain\": {\"name\": "
                               "\"timestamp/age_days/LogOp/Normalize/list\", \"min\": -2.917729139328003, \"max\": "
                               "1.5231701135635376}, \"annotation\": {\"tag\": [\"continuous\", \"list\"]}}, "));
  assert_null(strchr(text, '\n'));
  rk_free(text);
  rk_schema_free(&s);

  assert_rk_ok(rk_schema_read(&s, rk_test_data("merlin/tenrec_video.schema.pbtxt")));
  assert_rk_ok(rk_schema_to_json(&s, &text, &len));
  assert_non_null(strstr(text, "{\"name\": \"click\", \"type\": \"INT\", \"annotation\": {\"tag\": [\"target\", "
                               "\"binary_classification\", \"binary\"], \"extraMetadata\": [{\"is_list\": false, "
                               "\"is_ragged\": false, \"dtype_item_size\": 8.0}]}}"));
  assert_non_null(strstr(text, "\"embedding_sizes\": {\"cardinality\": 2633851.0, \"dimension\": 512.0}"));
  assert_non_null(strstr(text, "\"num_buckets\": null"));
  assert_int_equal(text[len - 1], '}');
  rk_free(text);
  rk_schema_free(&s);
}

/* ---- the builder ---------------------------------------------------------------------------- */
static void test_builder(void **state) {
  (void)state;
  int64_t live = rk_alloc_live_bytes();
  rk_schema s;
  rk_schema_init(&s);
  rk_schema_column *c;
  assert_rk_ok(rk_schema_add_column(&s, "user_id", "int32", &c));
  assert_rk_ok(rk_schema_column_add_tag(c, "user_id"));
  assert_rk_ok(rk_schema_column_add_tag(c, "categorical"));
  assert_rk_ok(rk_schema_column_add_tag(c, "categorical"));   /* once only */
  assert_rk_ok(rk_schema_column_add_tag(c, "my_own_tag"));
  assert_int_equal(c->n_tags, 3);
  assert_rk_ok(rk_schema_column_set_int_domain(c, 0, 1000, true, "user_id"));
  assert_rk_ok(rk_schema_column_set_property_null(c, "num_buckets"));
  assert_rk_ok(rk_schema_column_set_property_number(c, "freq_threshold", 0));
  assert_rk_ok(rk_schema_column_set_property_string(c, "cat_path", ".//categories/unique.user_id.parquet"));
  assert_rk_ok(rk_schema_column_set_property(c, "embedding_sizes", json_pack("{s:i, s:i}", "cardinality", 1001, "dimension", 64)));
  assert_rk_ok(rk_schema_add_column(&s, "item_list", "int64", &c));
  assert_rk_ok(rk_schema_column_add_tag(c, "list"));
  assert_rk_ok(rk_schema_column_set_value_count(c, 1, 20));
  assert_rk_ok(rk_schema_add_column(&s, "price", "float32", &c));
  assert_rk_ok(rk_schema_column_set_float_domain(c, 0.5, 99.25, NULL));
  assert_rk_ok(rk_schema_add_column(&s, "title", "string", NULL));
  assert_int_equal(rk_schema_add_column(&s, "price", "float32", NULL), RK_EINVAL);
  assert_int_equal(rk_schema_add_column(&s, "x", "complex64", NULL), RK_EINVAL);
  assert_non_null(strstr(rk_error_message(), "'complex64'"));

  int64_t card, dim;
  assert_true(rk_schema_column_embedding_sizes(&s.cols[0], &card, &dim));
  assert_int_equal(card, 1001);
  assert_true(json_is_real(json_object_get(rk_schema_column_property(&s.cols[0], "embedding_sizes"), "dimension")));
  assert_true(rk_schema_column_has_tag(&s.cols[0], RK_TAG_ID));
  assert_true(s.cols[1].is_list && s.cols[1].is_ragged);

  char *text;
  size_t len;
  assert_rk_ok(rk_schema_to_json(&s, &text, &len));
  assert_non_null(strstr(text, "{\"name\": \"user_id\", \"type\": \"INT\", \"intDomain\": {\"name\": \"user_id\", "
                               "\"max\": \"1000\", \"isCategorical\": true}, \"annotation\": {\"tag\": "
                               "[\"user_id\", \"categorical\", \"my_own_tag\"], \"extraMetadata\": [{\"_dims\": [], "
                               "\"num_buckets\": null, \"freq_threshold\": 0.0, \"cat_path\": "
                               "\".//categories/unique.user_id.parquet\", \"embedding_sizes\": {\"cardinality\": 1001.0, "
                               "\"dimension\": 64.0}, \"is_list\": false, \"is_ragged\": false, \"dtype_item_size\": 32.0}]}}"));
  assert_non_null(strstr(text, "\"_dims\": [[0.0, null], [1.0, 20.0]], \"is_list\": true, \"is_ragged\": true, "
                               "\"dtype_item_size\": 64.0"));
  assert_non_null(strstr(text, "{\"name\": \"title\", \"type\": \"BYTES\", \"annotation\": {\"extraMetadata\": "
                               "[{\"_dims\": [], \"is_list\": false, \"is_ragged\": false}]}}"));
  rk_free(text);

  assert_rk_ok(rk_schema_to_pbtxt(&s, &text, &len));   /* zeros left out, as betterproto does */
  assert_non_null(strstr(text, "  int_domain {\n    name: \"user_id\"\n    max: 1000\n    is_categorical: true\n  }\n"));
  assert_non_null(strstr(text, "  float_domain {\n    min: 0.5\n    max: 99.25\n  }\n"));
  rk_free(text);

  const char *dir = rk_test_tmpdir("schema_builder");
  assert_rk_ok(rk_schema_write_dataset(&s, dir));
  rk_schema back;
  assert_rk_ok(rk_schema_read(&back, dir));   /* .merlin/schema.json first */
  assert_equal_schemas(&s, &back);
  assert_string_equal(back.cols[2].dtype_name, "float32");
  assert_true(back.cols[2].float_domain.max == 99.25);
  rk_schema_free(&back);
  char path[4200];
  snprintf(path, sizeof path, "%s/schema.pbtxt", dir);
  assert_rk_ok(rk_schema_read(&back, path));
  assert_equal_schemas(&s, &back);
  rk_schema_free(&back);
  snprintf(path, sizeof path, "%s/.merlin/schema.json", dir);
  assert_int_equal(remove(path), 0);
  assert_rk_ok(rk_schema_read(&back, dir));   /* then schema.pbtxt */
  assert_equal_schemas(&s, &back);
  rk_schema_free(&back);
  assert_int_equal(rk_schema_read(&back, rk_test_tmpdir("schema_empty_dir")), RK_ENOTFOUND);
  assert_non_null(strstr(rk_error_message(), "no schema in folder"));
  rk_schema_free(&s);
  assert_int_equal(rk_alloc_live_bytes(), live);
}

/* ---- spelling ------------------------------------------------------------------------------- */
static void test_python_floats(void **state) {
  (void)state;
  char buf[32];
  static const struct { double x; const char *repr; } cases[] = {
      {0.1, "0.1"}, {294737.0, "294737.0"}, {1e-05, "1e-05"}, {0.0001, "0.0001"}, {1e16, "1e+16"},
      {1234567890123456.0, "1234567890123456.0"}, {5.7866054703481495e-06, "5.7866054703481495e-06"},
      {-2.917729139328003, "-2.917729139328003"}, {-0.0, "-0.0"}, {1.5e300, "1.5e+300"}, {123456789012345678.0, "1.2345678901234568e+17"},
      {5e-324, "5e-324"}, {0.5, "0.5"}, {100.0, "100.0"}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    assert_string_equal(rk_py_float_repr(buf, cases[i].x, "NaN", "Infinity"), cases[i].repr);
  assert_string_equal(rk_py_float_repr(buf, -INFINITY, "NaN", "Infinity"), "-Infinity");
  assert_string_equal(rk_py_float32_str(buf, -10000.0), "-10000.0");
  assert_string_equal(rk_py_float32_str(buf, 1.0), "1.0");
  assert_string_equal(rk_py_float32_str(buf, 0.4079650044441223), "0.407965");
  assert_string_equal(rk_py_float32_str(buf, 0.1), "0.1");
  assert_string_equal(rk_py_float32_str(buf, 1e-7), "1e-07");
  /* every float32 survives its spelling */
  rk_rng rng;
  rk_rng_init(&rng, 7, 0);
  for (int i = 0; i < 20000; i++) {
    uint32_t bits = rk_rng_u32(&rng);
    float f;
    memcpy(&f, &bits, sizeof f);
    if (!isfinite(f)) continue;
    assert_true((float)strtod(rk_py_float32_str(buf, f), NULL) == f);
    double d;
    uint64_t b64 = rk_rng_u64(&rng);
    memcpy(&d, &b64, sizeof d);
    if (isfinite(d)) assert_true(strtod(rk_py_float_repr(buf, d, "NaN", "Infinity"), NULL) == d);
  }
}

static void test_pbtxt_strings(void **state) {
  (void)state;
  /* every byte survives CEscape and the parser */
  char all[256];
  for (int i = 0; i < 256; i++) all[i] = (char)i;
  rk_schema_buf b = {0};
  rk_schema_buf_puts(&b, "v: ");
  rk_pbtxt_write_string(&b, all, 256);
  assert_rk_ok(b.status);
  assert_non_null(strstr(b.data, "\\000\\001"));
  assert_non_null(strstr(b.data, "\\t\\n\\013\\014\\r"));
  assert_non_null(strstr(b.data, " !\\\"#$%&\\'()"));
  assert_non_null(strstr(b.data, "~\\177\\200"));
  rk_pbtxt_field root;
  assert_rk_ok(rk_pbtxt_parse(&root, b.data, b.len, "bytes"));
  assert_int_equal(root.n_fields, 1);
  assert_int_equal(root.fields[0].len, 256);
  assert_memory_equal(root.fields[0].value, all, 256);
  rk_pbtxt_field_clear(&root);
  rk_free(b.data);
  /* the other spellings text_format accepts */
  const char *text = "# comment\nf: 'single' \"joined\" ; g { h: \"\\x41\\u00e9\\101\\?\" }, l: [1, -2.5e3, inf]\n"
                     "m: < n: true > k: {}\n";
  assert_rk_ok(rk_pbtxt_parse(&root, text, strlen(text), "spellings"));
  assert_int_equal(root.n_fields, 7);
  assert_string_equal(root.fields[0].value, "singlejoined");
  assert_string_equal(root.fields[1].fields[0].value, "A\xc3\xa9" "A?");
  assert_string_equal(root.fields[2].name, "l");
  assert_string_equal(root.fields[3].value, "-2.5e3");
  assert_int_equal(root.fields[4].kind, RK_PBTXT_IDENT);
  assert_int_equal(root.fields[5].kind, RK_PBTXT_MESSAGE);
  assert_int_equal(root.fields[6].n_fields, 0);
  assert_int_equal(root.fields[6].line, 3);
  rk_pbtxt_field_clear(&root);
}

/* ---- malformed input ------------------------------------------------------------------------- */
static void expect_pbtxt_error(const char *text, rk_status status, const char *msg1, const char *msg2) {
  rk_schema s;
  rk_status got = rk_schema_parse_pbtxt(&s, text, strlen(text), "bad.pbtxt");
  if (got != status) fail_msg("'%s': expected %s, got %s (%s)", text, rk_status_name(status), rk_status_name(got), rk_error_message());
  const char *m = rk_error_message();
  if (!strstr(m, "'bad.pbtxt'") || !strstr(m, msg1) || (msg2 && !strstr(m, msg2)))
    fail_msg("message for '%s' is '%s', expected '%s' and '%s'", text, m, msg1, msg2 ? msg2 : "");
  assert_int_equal(s.n_cols, 0);
}

static void expect_json_error(const char *text, rk_status status, const char *msg1, const char *msg2) {
  rk_schema s;
  rk_status got = rk_schema_parse_json(&s, text, strlen(text), "bad.json");
  if (got != status) fail_msg("'%s': expected %s, got %s (%s)", text, rk_status_name(status), rk_status_name(got), rk_error_message());
  const char *m = rk_error_message();
  if (!strstr(m, "'bad.json'") || !strstr(m, msg1) || (msg2 && !strstr(m, msg2)))
    fail_msg("message for '%s' is '%s', expected '%s' and '%s'", text, m, msg1, msg2 ? msg2 : "");
  assert_int_equal(s.n_cols, 0);
}

static void test_malformed(void **state) {
  (void)state;
  int64_t live = rk_alloc_live_bytes();
  expect_pbtxt_error("feature {\n  name: \"a\"\n", RK_EPARSE, "line 3", "expected '}'");
  expect_pbtxt_error("feature {\n  name: \"a\\q\"\n}", RK_EPARSE, "bad escape '\\q'", "line 2");
  expect_pbtxt_error("feature {\n  name: \"abc\n}", RK_EPARSE, "unterminated string", "line 2");
  expect_pbtxt_error("feature {\n  name: \"\\777\"\n}", RK_EPARSE, "octal escape", "line 2");
  expect_pbtxt_error("feature {\n  name: 5\n}", RK_EFORMAT, "wrong type for 'name'", "line 2");
  expect_pbtxt_error("feature {\n  name: \"a\"\n  int_domain {\n    max: 1.5\n  }\n}", RK_EPARSE,
                     "cannot parse '1.5' as int64 for 'max'", "line 4");
  expect_pbtxt_error("feature {\n  name: \"a\"\n  int_domain: 3\n}", RK_EFORMAT, "wrong type for 'int_domain'", "line 3");
  expect_pbtxt_error("feature {\n  name: \"a\"\n  type: WORDS\n}", RK_EPARSE, "unknown feature type 'WORDS'", "line 3");
  expect_pbtxt_error("feature {\n  int_domain { max: 99999999999999999999 }\n}", RK_EPARSE, "as int64", "line 2");
  expect_pbtxt_error("feature {\n  type: INT\n}", RK_EFORMAT, "feature without a name", "line 1");
  expect_pbtxt_error("feature { name: \"a\" }\nfeature { name: \"a\" }", RK_EFORMAT, "duplicate feature 'a'", "line 2");
  expect_pbtxt_error("feature { name }", RK_EPARSE, "expected ':' or '{' after field 'name'", "line 1");
  expect_pbtxt_error("feature { name: }", RK_EPARSE, "unexpected '}'", "a value for field 'name'");
  expect_pbtxt_error("}", RK_EPARSE, "unexpected '}'", "line 1");
  expect_pbtxt_error("feature { name: \"a\" annotation { extra_metadata { type_url: "
                     "\"type.googleapis.com/google.protobuf.Struct\"\n value: \"\\n\\377\" } } }",
                     RK_EFORMAT, "cannot decode extra_metadata of feature 'a'", "line 2");
  expect_pbtxt_error("feature { name: \"a\" annotation { extra_metadata { type_url: \"x/y.Other\" } } }",
                     RK_EUNSUPPORTED, "extra_metadata of type 'x/y.Other'", "line 1");
  /* nesting is limited, not a stack overflow */
  rk_schema_buf deep = {0};
  for (int i = 0; i < 100000; i++) rk_schema_buf_puts(&deep, "a {");
  rk_schema s;
  assert_int_equal(rk_schema_parse_pbtxt(&s, deep.data, deep.len, "bad.pbtxt"), RK_EPARSE);
  assert_non_null(strstr(rk_error_message(), "nested more than"));
  rk_free(deep.data);

  expect_json_error("{\"feature\": [", RK_EPARSE, "line 1 column", "as JSON");
  expect_json_error("[1, 2]", RK_EFORMAT, "is an array", "expected an object");
  expect_json_error("{\"feature\": {}}", RK_EFORMAT, "\"feature\"", "expected a list");
  expect_json_error("{\"feature\": [{\"type\": \"INT\"}]}", RK_EFORMAT, "feature 0 without a name", NULL);
  expect_json_error("{\"feature\": [{\"name\": \"a\", \"intDomain\": {\"max\": \"x\"}}]}", RK_EPARSE,
                    "cannot parse 'x' as int64 for 'intDomain.max'", NULL);
  expect_json_error("{\"feature\": [{\"name\": \"a\", \"annotation\": {\"tag\": \"x\"}}]}", RK_EFORMAT,
                    "wrong type for 'annotation.tag' of feature 'a'", "an array of strings");
  expect_json_error("{\"feature\": [{\"name\": \"a\", \"type\": \"WORDS\"}]}", RK_EPARSE, "unknown type 'WORDS'", NULL);
  expect_json_error("{\"feature\": [{\"name\": \"a\", \"annotation\": {\"extraMetadata\": [{}, {}]}}]}", RK_EFORMAT,
                    "2 extraMetadata entries", NULL);
  expect_json_error("{\"feature\": [\n{\"name\": \"a\"},\n{\"name\": \"b\" \"c\"}]}", RK_EPARSE, "line 3", NULL);

  /* null is absent (betterproto writes a domain without a name as "name": null) */
  rk_schema ok;
  const char *nulls = "{\"feature\": [{\"name\": \"a\", \"type\": \"INT\", \"intDomain\": {\"name\": null, "
                      "\"max\": \"9\"}, \"annotation\": {\"tag\": [\"categorical\"], \"extraMetadata\": "
                      "[{\"num_buckets\": null, \"dtype_item_size\": 16}]}}]}";
  assert_rk_ok(rk_schema_parse_json(&ok, nulls, strlen(nulls), "nulls.json"));
  assert_null(ok.cols[0].int_domain.name);
  assert_int_equal(ok.cols[0].int_domain.max, 9);
  assert_string_equal(ok.cols[0].dtype_name, "int16");
  assert_true(json_is_real(rk_schema_column_property(&ok.cols[0], "dtype_item_size")));
  rk_schema_free(&ok);

  /* files */
  assert_int_equal(rk_schema_read(&s, "/nonexistent/schema.pbtxt"), RK_ENOTFOUND);
  assert_non_null(strstr(rk_error_message(), "'/nonexistent/schema.pbtxt'"));
  assert_int_equal(rk_alloc_live_bytes(), live);
}

/* Every prefix cut of a real file, and random byte mutations, give a result or a message naming
 * the file; nothing crashes and nothing leaks. */
static void test_mutations(void **state) {
  (void)state;
  int64_t live = rk_alloc_live_bytes();
  rk_rng rng;
  rk_rng_init(&rng, 2024, 0);
  int rounds = rk_test_sanitized() ? 300 : 1500;
  for (int f = 0; f < NFILES; f++) {
    size_t n;
    char *orig = slurp(rk_test_data(FILES[f]), &n);
    bool json = strstr(FILES[f], ".json") != NULL;
    char *copy = rk_malloc(n + 1);
    assert_non_null(copy);
    for (size_t cut = 0; cut < n; cut += 1 + n / 400) {
      rk_schema s;
      rk_status st = json ? rk_schema_parse_json(&s, orig, cut, "cut") : rk_schema_parse_pbtxt(&s, orig, cut, "cut");
      if (st != RK_OK) {
        if (!strstr(rk_error_message(), "'cut'")) fail_msg("cut at %zu: message '%s' does not name the file", cut, rk_error_message());
        if (!strstr(rk_error_message(), "line")) fail_msg("cut at %zu: message '%s' has no line", cut, rk_error_message());
      }
      rk_schema_free(&s);
    }
    static const char noise[] = "{}[]:\"\\'0179-.,# \nxeE\n";
    for (int r = 0; r < rounds; r++) {
      memcpy(copy, orig, n);
      int edits = 1 + (int)rk_rng_below(&rng, 4);
      for (int e = 0; e < edits; e++) {
        size_t at = rk_rng_below(&rng, n);
        copy[at] = rk_rng_bernoulli(&rng, 0.5) ? noise[rk_rng_below(&rng, sizeof noise - 1)] : (char)rk_rng_u32(&rng);
      }
      rk_schema s;
      rk_status st = json ? rk_schema_parse_json(&s, copy, n, "mut") : rk_schema_parse_pbtxt(&s, copy, n, "mut");
      if (st == RK_OK) {   /* whatever reads must write and read back */
        rk_schema a;
        char *text;
        size_t len;
        if (rk_schema_to_pbtxt(&s, &text, &len) == RK_OK) {
          if (rk_schema_parse_pbtxt(&a, text, len, "again") == RK_OK) rk_schema_free(&a);
          rk_free(text);
        }
        if (rk_schema_to_json(&s, &text, &len) == RK_OK) {
          if (rk_schema_parse_json(&a, text, len, "again") == RK_OK) rk_schema_free(&a);
          rk_free(text);
        }
      } else if (!strstr(rk_error_message(), "'mut'")) {
        fail_msg("mutation %d of %s: message '%s' does not name the file", r, FILES[f], rk_error_message());
      }
      rk_schema_free(&s);
    }
    rk_free(copy);
    rk_free(orig);
  }
  /* Struct bytes: random mutations of a real one decode or fail cleanly */
  static const uint8_t real[] = "\n\021\n\013num_buckets\022\002\010\000\nG\n\017embedding_sizes\0224*2\n\030\n\013"
                                "cardinality\022\t\021\000\000\000\000@\375\021A\n\026\n\tdimension\022\t\021\000\000\000\000\000\000\200@";
  uint8_t buf[sizeof real];
  for (int r = 0; r < 20000; r++) {
    memcpy(buf, real, sizeof real - 1);
    size_t len = sizeof real - 1 - rk_rng_below(&rng, 3);
    buf[rk_rng_below(&rng, len)] = (uint8_t)rk_rng_u32(&rng);
    json_t *o = NULL;
    if (rk_struct_decode(&o, buf, len) == RK_OK) {
      assert_true(json_is_object(o));
      rk_schema_buf b = {0};
      assert_rk_ok(rk_struct_encode(&b, o));
      rk_free(b.data);
    }
    json_decref(o);
  }
  assert_int_equal(rk_alloc_live_bytes(), live);
}

/* The Struct codec against the bytes of a real file, both ways. */
static void test_struct_codec(void **state) {
  (void)state;
  static const uint8_t real[] = "\n\021\n\013num_buckets\022\002\010\000\n\033\n\016freq_threshold\022\t\021\000\000\000\000\000"
                                "\000\000\000\n\025\n\010max_size\022\t\021\000\000\000\000\000\000\000\000\n\030\n\013start_index"
                                "\022\t\021\000\000\000\000\000\000\000\000\n2\n\010cat_path\022&\032$.//categories/unique.user_id"
                                ".parquet\nG\n\017embedding_sizes\0224*2\n\030\n\013cardinality\022\t\021\000\000\000\000@\375\021A"
                                "\n\026\n\tdimension\022\t\021\000\000\000\000\000\000\200@\n\034\n\017dtype_item_size\022\t\021\000"
                                "\000\000\000\000\000@@\n\r\n\007is_list\022\002 \000\n\017\n\tis_ragged\022\002 \000";
  json_t *o = NULL;
  assert_rk_ok(rk_struct_decode(&o, real, sizeof real - 1));
  assert_int_equal(json_object_size(o), 9);
  assert_true(json_real_value(json_object_get(json_object_get(o, "embedding_sizes"), "cardinality")) == 294736.0);
  rk_schema_buf b = {0};
  assert_rk_ok(rk_struct_encode(&b, o));
  assert_int_equal(b.len, sizeof real - 1);
  assert_memory_equal(b.data, real, b.len);
  rk_free(b.data);
  json_decref(o);
  /* lists, nested lists, strings with any UTF-8 */
  o = json_pack("{s:[f, n, [b, s]], s:s}", "_dims", 0.0, true, "x", "name", "\xc3\xa9\xf0\x9f\x98\x80");
  assert_non_null(o);
  b = (rk_schema_buf){0};
  assert_rk_ok(rk_struct_encode(&b, o));
  json_t *back = NULL;
  assert_rk_ok(rk_struct_decode(&back, (const uint8_t *)b.data, b.len));
  assert_true(json_equal(o, back));
  rk_free(b.data);
  json_decref(o);
  json_decref(back);
}

/* ---- failure injection ----------------------------------------------------------------------- */
static void test_alloc_failures(void **state) {
  (void)state;
  const char *dir = rk_test_tmpdir("schema_alloc");
  char out_json[4200], out_pbtxt[4200];
  snprintf(out_json, sizeof out_json, "%s/schema.json", dir);
  snprintf(out_pbtxt, sizeof out_pbtxt, "%s/schema.pbtxt", dir);
  const char *inputs[] = {"merlin/tenrec_video.schema.pbtxt", "merlin/t4rec_testing.schema.json"};
  for (int f = 0; f < 2; f++) {
    const char *in = rk_test_data(inputs[f]);
    int failures = 0;
    for (int64_t n = 0;; n++) {
      int64_t live = rk_alloc_live_bytes();
      rk_alloc_fail_after(n);
      rk_schema s, back;
      rk_status st = rk_schema_read(&s, in);
      if (st == RK_OK) {
        st = rk_schema_write_json(&s, out_json);
        if (st == RK_OK) st = rk_schema_write_pbtxt(&s, out_pbtxt);
        if (st == RK_OK) {
          st = rk_schema_read(&back, out_pbtxt);
          if (st == RK_OK) rk_schema_free(&back);
        }
        rk_schema_free(&s);
      }
      bool fired = rk_alloc_fail_fired();
      rk_alloc_fail_after(-1);
      if (st != RK_OK) {
        failures++;
        if (!fired) fail_msg("%s: failure %s without an injected one at n=%lld: %s", inputs[f], rk_status_name(st),
                             (long long)n, rk_error_message());
      }
      if (rk_alloc_live_bytes() != live)
        fail_msg("%s: %lld bytes leaked with failure at n=%lld", inputs[f], (long long)(rk_alloc_live_bytes() - live),
                 (long long)n);
      if (!fired) break;
      if (n > 200000) fail_msg("too many allocations");
    }
    assert_true(failures > 100);
  }
}

int main(void) {
  /* jansson through the hook, before any JSON value exists (this executable only) */
  json_set_alloc_funcs(rk_malloc, rk_free);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_read_tenrec),       cmocka_unit_test(test_read_aliccp),
      cmocka_unit_test(test_read_yoochoose),    cmocka_unit_test(test_read_t4rec),
      cmocka_unit_test(test_round_trips),       cmocka_unit_test(test_pbtxt_bytes),
      cmocka_unit_test(test_json_as_merlin_writes), cmocka_unit_test(test_builder),
      cmocka_unit_test(test_python_floats),     cmocka_unit_test(test_pbtxt_strings),
      cmocka_unit_test(test_struct_codec),      cmocka_unit_test(test_malformed),
      cmocka_unit_test(test_mutations),         cmocka_unit_test(test_alloc_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
