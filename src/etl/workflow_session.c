/*
 * The session section of a saved workflow (workflow.json's "session" object), written and read
 * beside the columns workflow_io.c handles: the names and options the session ETL ran with, the
 * origin of window 1, and two tables keyed by raw value:
 *   <dir>/session/first_seen.<item>.parquet        `<item>`, `first_seen_us` (int64 unix µs)
 *   <dir>/session/category_price.<cat>.parquet     `<cat>`, `mean_price` (float64; null: none)
 * The vocabularies and z-score statistics are ordinary workflow columns (categorify, normalize).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "etl/session_internal.h"
#include "reckon/parquet.h"

void rk_session_workflow_free(rk_session_workflow *sw) {
  if (!sw) return;
  char **lists[] = {sw->time_features, sw->categorical, sw->continuous, sw->context};
  int counts[] = {sw->n_time_features, sw->n_categorical, sw->n_continuous, sw->n_context};
  for (int l = 0; l < 4; l++) {
    for (int i = 0; i < counts[l]; i++) rk_free(lists[l][i]);
    rk_free(lists[l]);
  }
  rk_free(sw->session_id);
  rk_free(sw->timestamp);
  rk_free(sw->item_id);
  rk_free(sw->user_id);
  rk_free(sw->list_suffix);
  rk_free(sw->price);
  rk_free(sw->price_category);
  rk_dict_free(sw->first_seen_values);
  rk_free(sw->first_seen_us);
  rk_dict_free(sw->category_values);
  rk_free(sw->category_mean_price);
  rk_free(sw);
}

static char *join(const char *a, const char *b) {
  size_t n = strlen(a) + strlen(b) + 2;
  char *s = rk_malloc(n);
  if (s) snprintf(s, n, "%s/%s", a, b);
  return s;
}

static json_t *names_json(char *const *items, int n) {
  json_t *a = json_array();
  for (int i = 0; a && i < n; i++)
    if (json_array_append_new(a, json_string(items[i])) != 0) {
      json_decref(a);
      return NULL;
    }
  return a;
}

/* A table of a dictionary's values (in index order) and one number per value. */
static rk_status write_keyed(const char *dir, const char *rel, const rk_dict *keys, const char *key_name,
                             const char *value_name, const int64_t *ints, const double *reals) {
  int64_t n = rk_dict_size(keys);
  rk_batch b = {0};
  RK_TRY(rk_batch_init(&b, 2));
  int64_t *order = rk_malloc((size_t)(n ? n : 1) * sizeof *order);
  rk_status st = order ? RK_OK : RK_ENOMEM;
  if (st == RK_OK) st = rk_column_init(&b.cols[0], key_name, rk_dict_key_type(keys), RK_COL_INT8);
  if (st == RK_OK) st = rk_column_init(&b.cols[1], value_name, ints ? RK_COL_INT64 : RK_COL_FLOAT64, RK_COL_INT8);
  for (int64_t i = 0; i < n && st == RK_OK; i++) {
    order[i] = i;
    if (ints) st = ints[i] == INT64_MIN ? rk_column_append_null(&b.cols[1]) : rk_column_append_int(&b.cols[1], ints[i]);
    else st = isnan(reals[i]) ? rk_column_append_null(&b.cols[1]) : rk_column_append_double(&b.cols[1], reals[i]);
  }
  if (st == RK_OK) st = rk_dict_append_values(keys, order, n, &b.cols[0]);
  b.nrows = n;
  char *path = st == RK_OK ? join(dir, rel) : NULL;
  if (st == RK_OK && !path) st = RK_ENOMEM;
  rk_parquet_write_options o;
  rk_parquet_write_options_default(&o);
  if (st == RK_OK) st = rk_parquet_write(path, &b, &o);
  rk_free(path);
  rk_free(order);
  rk_batch_free(&b);
  return st;
}

json_t *ss_workflow_json(const rk_session_workflow *sw, const char *dir, rk_status *st) {
  *st = RK_OK;
  char *sub = join(dir, "session");
  if (!sub || (*st = rk_mkdir_p(sub)) != RK_OK) {
    if (!sub) *st = RK_ENOMEM;
    rk_free(sub);
    return NULL;
  }
  rk_free(sub);
  char first_rel[700], price_rel[700];
  snprintf(first_rel, sizeof first_rel, "session/first_seen.%s.parquet", sw->item_id);
  snprintf(price_rel, sizeof price_rel, "session/category_price.%s.parquet", sw->price_category ? sw->price_category : "");
  json_t *o = json_pack("{sssssssssbsbsIsIsIsIsssbsoso}", "session_id", sw->session_id, "timestamp", sw->timestamp,
                        "timestamp_format", rk_timestamp_format_name(sw->timestamp_format), "item_id", sw->item_id,
                        "dedup_consecutive", sw->dedup_consecutive, "pad", sw->pad, "max_length",
                        (json_int_t)sw->max_length, "min_length", (json_int_t)sw->min_length, "window_s",
                        (json_int_t)sw->window_s, "origin_s", (json_int_t)sw->origin_s, "list_suffix", sw->list_suffix,
                        "hashed_session_ids", sw->hashed_session_ids, "time_features",
                        names_json(sw->time_features, sw->n_time_features), "categorical",
                        names_json(sw->categorical, sw->n_categorical));
  if (!o) {
    *st = RK_ENOMEM;
    return NULL;
  }
  json_object_set_new(o, "continuous", names_json(sw->continuous, sw->n_continuous));
  json_object_set_new(o, "context", names_json(sw->context, sw->n_context));
  json_object_set_new(o, "user_id", sw->user_id ? json_string(sw->user_id) : json_null());
  json_object_set_new(o, "first_seen", json_string(first_rel));
  *st = write_keyed(dir, first_rel, sw->first_seen_values, sw->item_id, "first_seen_us", sw->first_seen_us, NULL);
  if (*st == RK_OK && sw->price) {
    json_object_set_new(o, "price", json_string(sw->price));
    json_object_set_new(o, "price_category", json_string(sw->price_category));
    json_object_set_new(o, "category_price", json_string(price_rel));
    *st = write_keyed(dir, price_rel, sw->category_values, sw->price_category, "mean_price", NULL, sw->category_mean_price);
  }
  if (*st != RK_OK) {
    json_decref(o);
    return NULL;
  }
  return o;
}

/* ---- load ---- */

static rk_status bad(const char *path, const char *what) {
  return rk_error(RK_EFORMAT, "'%s' is not a reckon session workflow: %s", path, what);
}

static rk_status get_name(json_t *o, const char *key, bool optional, char **out, const char *path) {
  json_t *v = json_object_get(o, key);
  if ((!v || json_is_null(v)) && optional) return RK_OK;
  if (!json_is_string(v)) return rk_error(RK_EFORMAT, "'%s': the session section lacks \"%s\"", path, key);
  return (*out = rk_strdup(json_string_value(v))) ? RK_OK : RK_ENOMEM;
}

static rk_status get_names(json_t *o, const char *key, char ***out, int *n, const char *path) {
  json_t *a = json_object_get(o, key), *v;
  if (!json_is_array(a)) return rk_error(RK_EFORMAT, "'%s': the session section lacks the list \"%s\"", path, key);
  if (!(*out = rk_calloc(json_array_size(a) + 1, sizeof **out))) return RK_ENOMEM;
  size_t i;
  json_array_foreach(a, i, v) {
    if (!json_is_string(v)) return rk_error(RK_EFORMAT, "'%s': \"%s\" holds a non-string", path, key);
    if (!((*out)[(*n)++] = rk_strdup(json_string_value(v)))) return RK_ENOMEM;
  }
  return RK_OK;
}

static rk_status read_keyed(const char *dir, const char *rel, rk_dict **keys, int64_t **ints, double **reals) {
  if (!rel || strstr(rel, "..")) return bad(dir, "a table path is missing or leaves the folder");
  char *path = join(dir, rel);
  if (!path) return RK_ENOMEM;
  rk_batch b = {0};
  rk_parquet_read_options o;
  rk_parquet_read_options_default(&o);
  rk_status st = rk_parquet_read_all(path, &o, &b);
  if (st == RK_OK && (b.ncols != 2 || b.cols[1].type != (ints ? RK_COL_INT64 : RK_COL_FLOAT64)))
    st = rk_error(RK_EFORMAT, "'%s': expected a value column and a %s column", path, ints ? "int64" : "float64");
  int64_t n = b.nrows;
  int32_t *idx = st == RK_OK ? rk_malloc((size_t)(n ? n : 1) * sizeof *idx) : NULL;
  if (st == RK_OK && !idx) st = RK_ENOMEM;
  if (st == RK_OK) st = rk_dict_create(keys, b.cols[0].type);
  if (st == RK_OK) st = rk_dict_insert(*keys, &b.cols[0], 0, n, idx);
  if (st == RK_OK && rk_dict_size(*keys) != n) st = rk_error(RK_EFORMAT, "'%s': a value appears twice", path);
  if (st == RK_OK && ints && !(*ints = rk_malloc((size_t)(n ? n : 1) * sizeof **ints))) st = RK_ENOMEM;
  if (st == RK_OK && reals && !(*reals = rk_malloc((size_t)(n ? n : 1) * sizeof **reals))) st = RK_ENOMEM;
  for (int64_t i = 0; i < n && st == RK_OK; i++) {
    bool null = rk_column_is_null(&b.cols[1], i);
    if (ints) (*ints)[i] = null ? INT64_MIN : ((const int64_t *)b.cols[1].values)[i];
    else (*reals)[i] = null ? NAN : ((const double *)b.cols[1].values)[i];
  }
  rk_free(idx);
  rk_free(path);
  rk_batch_free(&b);
  return st;
}

static rk_status load_into(rk_session_workflow *sw, json_t *o, const char *dir, const char *path) {
  RK_TRY(get_name(o, "session_id", false, &sw->session_id, path));
  RK_TRY(get_name(o, "timestamp", false, &sw->timestamp, path));
  RK_TRY(get_name(o, "item_id", false, &sw->item_id, path));
  RK_TRY(get_name(o, "user_id", true, &sw->user_id, path));
  RK_TRY(get_name(o, "list_suffix", false, &sw->list_suffix, path));
  RK_TRY(get_name(o, "price", true, &sw->price, path));
  RK_TRY(get_name(o, "price_category", true, &sw->price_category, path));
  RK_TRY(get_names(o, "time_features", &sw->time_features, &sw->n_time_features, path));
  RK_TRY(get_names(o, "categorical", &sw->categorical, &sw->n_categorical, path));
  RK_TRY(get_names(o, "continuous", &sw->continuous, &sw->n_continuous, path));
  RK_TRY(get_names(o, "context", &sw->context, &sw->n_context, path));
  const char *fmt = json_string_value(json_object_get(o, "timestamp_format"));
  if (!fmt || rk_timestamp_format_parse(fmt, &sw->timestamp_format) != RK_OK) return bad(path, "no timestamp_format");
  sw->dedup_consecutive = json_is_true(json_object_get(o, "dedup_consecutive"));
  sw->pad = json_is_true(json_object_get(o, "pad"));
  sw->hashed_session_ids = json_is_true(json_object_get(o, "hashed_session_ids"));
  sw->max_length = json_integer_value(json_object_get(o, "max_length"));
  sw->min_length = json_integer_value(json_object_get(o, "min_length"));
  sw->window_s = json_integer_value(json_object_get(o, "window_s"));
  sw->origin_s = json_integer_value(json_object_get(o, "origin_s"));
  if (sw->max_length < 1 || sw->min_length < 0 || (sw->window_s != 86400 && sw->window_s != 3600))
    return bad(path, "max_length, min_length or window_s is out of range");
  if ((sw->price == NULL) != (sw->price_category == NULL)) return bad(path, "a price without its category");
  RK_TRY(read_keyed(dir, json_string_value(json_object_get(o, "first_seen")), &sw->first_seen_values, &sw->first_seen_us,
                    NULL));
  if (sw->price)
    RK_TRY(read_keyed(dir, json_string_value(json_object_get(o, "category_price")), &sw->category_values, NULL,
                      &sw->category_mean_price));
  return RK_OK;
}

rk_status ss_workflow_from_json(rk_session_workflow **out, json_t *o, const char *dir, const char *path) {
  *out = NULL;
  if (!json_is_object(o)) return bad(path, "\"session\" is not an object");
  rk_session_workflow *sw = rk_calloc(1, sizeof *sw);
  if (!sw) return RK_ENOMEM;
  rk_status st = load_into(sw, o, dir, path);
  if (st != RK_OK) {
    rk_session_workflow_free(sw);
    return st;
  }
  *out = sw;
  return RK_OK;
}
