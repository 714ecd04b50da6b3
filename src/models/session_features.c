/*
 * The columns a session model reads (reckon/sessions.h): from recsys_main's --feature_config, in
 * file order as recsys_meta_model concatenates them, or from a Merlin schema, sorted by name as
 * Transformers4Rec's concat aggregation sorts them. Also the copy a model keeps and model.json's
 * "features" array, and the session-aware pairing of past sessions' columns with their features. Not
 * the reading of either file (src/io/feature_config.c, src/io/schema.c).
 */
#include <stdlib.h>
#include <string.h>

#include "session_internal.h"

void rk_session_features_free(rk_session_features *f) {
  for (int i = 0; f->features && i < f->n; i++) {
    rk_free(f->features[i].name);
    rk_free(f->features[i].table);
  }
  rk_free(f->features);
  memset(f, 0, sizeof *f);
  f->item = -1;
}

/* Appends a feature (name and table copied). */
static rk_status add(rk_session_features *f, const char *name, bool categorical, int64_t cardinality, const char *table,
                     bool is_item) {
  rk_session_feature *x = &f->features[f->n];
  memset(x, 0, sizeof *x);
  x->categorical = categorical;
  x->cardinality = cardinality;
  x->is_item = is_item;
  x->is_past = false;
  x->past_of = -1;
  if (!(x->name = rk_strdup(name))) return RK_ENOMEM;
  f->n++;
  if (categorical && !(x->table = rk_strdup(table ? table : name))) return RK_ENOMEM;
  if (is_item) f->item = f->n - 1;
  return RK_OK;
}

rk_status rk_session_features_from_config(rk_session_features *out, const rk_feature_config *fc) {
  memset(out, 0, sizeof *out);
  out->item = -1;
  if (!(out->features = rk_calloc((size_t)fc->n + 1, sizeof *out->features))) return RK_ENOMEM;
  rk_status st = RK_OK;
  for (int i = 0; st == RK_OK && i < fc->n; i++) {
    const rk_feature_spec *s = &fc->features[i];
    if (s->is_control || s->dtype == RK_FEATURE_TIMESTAMP) continue;
    bool cat = s->dtype == RK_FEATURE_CATEGORICAL;
    /* Several is_label columns share one table (a session-aware config's bef_ copy): the first
     * is the target. */
    st = add(out, s->name, cat, s->cardinality, s->emb_table, i == fc->label);
  }
  if (st == RK_OK && out->item < 0)   /* the reader guarantees a label; it may be a control column */
    st = rk_error(RK_EUSAGE, "the feature config's label column '%s' is not a model input (is_control or a timestamp)",
                  fc->features[fc->label].name);
  if (st != RK_OK) rk_session_features_free(out);
  return st;
}

static int by_name(const void *a, const void *b) {
  return strcmp((*(const rk_schema_column *const *)a)->name, (*(const rk_schema_column *const *)b)->name);
}

rk_status rk_session_features_from_schema(rk_session_features *out, const rk_schema *schema) {
  memset(out, 0, sizeof *out);
  out->item = -1;
  const rk_schema_column **cols = rk_calloc((size_t)schema->n_cols + 1, sizeof *cols);
  if (!cols) return RK_ENOMEM;
  int n = 0;
  for (int i = 0; i < schema->n_cols; i++) {
    const rk_schema_column *c = &schema->cols[i];
    bool cat = rk_schema_column_has_tag(c, RK_TAG_CATEGORICAL), cont = rk_schema_column_has_tag(c, RK_TAG_CONTINUOUS);
    if (c->is_list && (cat || cont)) cols[n++] = c;
  }
  qsort(cols, (size_t)n, sizeof *cols, by_name);
  rk_status st = (out->features = rk_calloc((size_t)n + 1, sizeof *out->features)) ? RK_OK : RK_ENOMEM;
  for (int i = 0; st == RK_OK && i < n; i++) {
    const rk_schema_column *c = cols[i];
    bool cat = rk_schema_column_has_tag(c, RK_TAG_CATEGORICAL);
    bool item = cat && rk_schema_column_has_tag(c, RK_TAG_ITEM_ID);
    if (item && out->item >= 0)
      st = rk_error(RK_EUSAGE, "the schema tags two list columns item_id, '%s' and '%s': a session model predicts one "
                    "(give --feature_config to choose)", out->features[out->item].name, c->name);
    else if (cat && !(c->int_domain.present && c->int_domain.has_max && c->int_domain.max >= 0))
      st = rk_error(RK_EUSAGE, "the schema's categorical list column '%s' has no int_domain max: the size of its "
                    "embedding table is unknown", c->name);
    else
      st = add(out, c->name, cat, cat ? c->int_domain.max + 1 : 0, NULL, item);
  }
  if (st == RK_OK && out->item < 0)
    st = rk_error(RK_EUSAGE, "the schema has no categorical list column tagged item_id: a session model needs one to "
                  "predict (tag it, or give --feature_config)");
  rk_free(cols);
  if (st != RK_OK) rk_session_features_free(out);
  return st;
}

rk_status rk_session_features_copy(rk_session_features *dst, const rk_session_features *src) {
  memset(dst, 0, sizeof *dst);
  dst->item = -1;
  if (!(dst->features = rk_calloc((size_t)src->n + 1, sizeof *dst->features))) return RK_ENOMEM;
  rk_status st = RK_OK;
  for (int i = 0; st == RK_OK && i < src->n; i++) {
    const rk_session_feature *s = &src->features[i];
    st = add(dst, s->name, s->categorical, s->cardinality, s->table, s->is_item);
    if (st == RK_OK) dst->features[i].is_past = s->is_past, dst->features[i].past_of = s->past_of;
  }
  if (st != RK_OK) rk_session_features_free(dst);
  return st;
}

json_t *rk_session_features_to_json(const rk_session_features *f) {
  json_t *a = json_array();
  for (int i = 0; a && i < f->n; i++) {
    const rk_session_feature *x = &f->features[i];
    json_t *o = x->categorical ? json_pack("{ss sb sI ss sb}", "name", x->name, "categorical", 1, "cardinality",
                                           (json_int_t)x->cardinality, "table", x->table, "is_item", x->is_item)
                               : json_pack("{ss sb}", "name", x->name, "categorical", 0);
    if (o && x->is_past && json_object_set_new(o, "past_of", json_string(f->features[x->past_of].name)) != 0)
      json_decref(o), o = NULL;
    if (!o || json_array_append_new(a, o) != 0) {
      json_decref(a);
      return NULL;
    }
  }
  return a;
}

static int find_feature(const rk_session_features *f, const char *name);

static rk_status past_from_json(rk_session_features *f, int i, const json_t *o, const char *label) {
  const json_t *v = json_object_get(o, "past_of");
  if (!v) return RK_OK;
  int now = json_is_string(v) ? find_feature(f, json_string_value(v)) : -1;
  if (now < 0 || now == i || f->features[now].is_past)
    return rk_error(RK_EFORMAT, "%s: features[%d] ('%s'): \"past_of\" must name another feature", label, i,
                    f->features[i].name);
  f->features[i].is_past = true;
  f->features[i].past_of = now;
  return RK_OK;
}

rk_status rk_session_features_from_json(rk_session_features *out, const json_t *j, const char *label) {
  memset(out, 0, sizeof *out);
  out->item = -1;
  if (!json_is_array(j)) return rk_error(RK_EFORMAT, "%s: \"features\" must be an array", label);
  size_t n = json_array_size(j);
  if (!(out->features = rk_calloc(n + 1, sizeof *out->features))) return RK_ENOMEM;
  rk_status st = RK_OK;
  for (size_t i = 0; st == RK_OK && i < n; i++) {
    const char *name = NULL, *table = NULL;
    int cat = 0, item = 0;
    json_int_t card = 0;
    json_error_t err;
    if (json_unpack_ex(json_array_get(j, i), &err, 0, "{ss sb s?I s?s s?b}", "name", &name, "categorical", &cat,
                       "cardinality", &card, "table", &table, "is_item", &item) != 0)
      st = rk_error(RK_EFORMAT, "%s: features[%zu]: %s", label, i, err.text);
    else if (cat && (card < 1 || !table))
      st = rk_error(RK_EFORMAT, "%s: features[%zu] ('%s') is categorical without a cardinality >= 1 and a table",
                    label, i, name);
    else
      st = add(out, name, cat != 0, cat ? card : 0, table, item != 0);
  }
  if (st == RK_OK && out->item < 0) st = rk_error(RK_EFORMAT, "%s: no feature is the item id (\"is_item\")", label);
  for (size_t i = 0; st == RK_OK && i < n; i++) st = past_from_json(out, (int)i, json_array_get(j, i), label);
  if (st != RK_OK) rk_session_features_free(out);
  return st;
}

static int find_feature(const rk_session_features *f, const char *name) {
  for (int i = 0; i < f->n; i++)
    if (strcmp(f->features[i].name, name) == 0) return i;
  return -1;
}

/* A past column is read through its feature's embedding: the same kind, and ids within its table. */
static rk_status check_pair(const rk_session_feature *past, const rk_session_feature *now) {
  if (past->categorical != now->categorical)
    return rk_error(RK_EUSAGE, "the past sessions' column '%s' is %s but '%s' is %s: a past column is read like its "
                    "feature", past->name, past->categorical ? "categorical" : "continuous", now->name,
                    now->categorical ? "categorical" : "continuous");
  if (now->is_past) return rk_error(RK_EUSAGE, "'%s' is itself a past sessions' column", now->name);
  return RK_OK;
}

rk_status rk_session_features_pair_past(rk_session_features *f, const char *prefix) {
  size_t np = strlen(prefix);
  if (np == 0) return rk_error(RK_EUSAGE, "invalid value '' for --session_aware_features_prefix: expected a prefix");
  for (int i = 0; i < f->n; i++) {
    rk_session_feature *x = &f->features[i];
    if (strncmp(x->name, prefix, np) != 0) continue;
    int now = find_feature(f, x->name + np);
    if (now < 0)
      return rk_error(RK_EUSAGE, "the past sessions' column '%s' has no feature '%s' to precede", x->name, x->name + np);
    RK_TRY(check_pair(x, &f->features[now]));
    x->is_past = true;
    x->past_of = now;
    x->is_item = false;
  }
  for (int i = 0; i < f->n; i++) {
    bool paired = f->features[i].is_past;
    for (int k = 0; k < f->n && !paired; k++) paired = f->features[k].is_past && f->features[k].past_of == i;
    if (!paired)
      return rk_error(RK_EUSAGE, "feature '%s' has no past sessions' column '%s%s' (every feature needs one, as "
                      "recsys_meta_model concatenates them)", f->features[i].name, prefix, f->features[i].name);
  }
  return RK_OK;
}
