/*
 * Events of a click log as fixed-size records (src/etl/session_internal.h): reading them from a
 * batch of raw rows (session key, time, values, dictionary indices), sorting them by session and
 * time, and dropping consecutive repeats. Both the ETL's passes and rk_session_transform use
 * these, so the rules live in one place.
 * It is not: the grouping into session rows (session_rows.c) or the driver (session_etl.c).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etl/session_internal.h"

static rk_status add_name(const char **names, int *n, const char *name, const char *what) {
  if (*n >= SS_MAX_COLUMNS)
    return rk_error(RK_EUSAGE, "too many %s columns in session mode (at most %d)", what, SS_MAX_COLUMNS);
  names[(*n)++] = name;
  return RK_OK;
}

static int find(const char *const *names, int n, const char *name) {
  for (int i = 0; name && i < n; i++)
    if (strcmp(names[i], name) == 0) return i;
  return -1;
}

rk_status ss_plan_init(ss_plan *plan, const rk_session_workflow *sw) {
  memset(plan, 0, sizeof *plan);
  plan->sw = sw;
  plan->first_user = -1;
  RK_TRY(add_name(plan->idx_name, &plan->n_idx, sw->item_id, "categorical"));
  plan->first_categorical = plan->n_idx;
  for (int i = 0; i < sw->n_categorical; i++) RK_TRY(add_name(plan->idx_name, &plan->n_idx, sw->categorical[i], "categorical"));
  if (sw->user_id) {
    plan->first_user = plan->n_idx;
    RK_TRY(add_name(plan->idx_name, &plan->n_idx, sw->user_id, "categorical"));
  }
  plan->first_context = plan->n_idx;
  for (int i = 0; i < sw->n_context; i++) RK_TRY(add_name(plan->idx_name, &plan->n_idx, sw->context[i], "context"));
  for (int i = 0; i < sw->n_continuous; i++) RK_TRY(add_name(plan->val_name, &plan->n_val, sw->continuous[i], "continuous"));
  plan->price_val = plan->category_idx = -1;
  if (sw->price) {
    plan->price_val = find(plan->val_name, plan->n_val, sw->price);
    if (plan->price_val < 0) {
      plan->price_val = plan->n_val;
      RK_TRY(add_name(plan->val_name, &plan->n_val, sw->price, "continuous"));
    }
    plan->category_idx = find(plan->idx_name, plan->n_idx, sw->price_category);
    if (plan->category_idx < 0)
      return rk_error(RK_EUSAGE, "--relative_price_feature names category column '%s', which is not a categorical "
                      "feature: add it to --categorical_features", sw->price_category);
  }
  for (int i = 0; i < sw->n_time_features; i++) {
    const char *f = sw->time_features[i];
    if (strcmp(f, "et_dayofweek_sin") == 0) plan->wd_sin = true;
    else if (strcmp(f, "et_dayofweek_cos") == 0) plan->wd_cos = true;
    else if (strcmp(f, "product_recency_days_log_norm") == 0) plan->recency = true;
    else
      return rk_error(RK_EUSAGE, "unknown --session_time_features item '%s': expected et_dayofweek_sin, "
                      "et_dayofweek_cos or product_recency_days_log_norm", f);
  }
  size_t bytes = sizeof(ss_head) + (size_t)plan->n_val * sizeof(double) + (size_t)plan->n_idx * sizeof(int32_t);
  plan->size = (bytes + 7) & ~(size_t)7;
  return RK_OK;
}

void ss_records_free(ss_records *r) {
  rk_free(r->data);
  memset(r, 0, sizeof *r);
}

/* ---- reading one batch ---- */

static rk_status find_column(const rk_batch *in, const char *name, const char *label, int *col) {
  *col = rk_batch_find(in, name);
  if (*col < 0) return rk_error(RK_ENOTFOUND, "the session ETL needs column '%s', which '%s' does not have", name, label);
  return RK_OK;
}

/* The session key of row r (*null when the row has no session). Text ids are hashed; so are
 * integer ids read by a workflow whose ETL hashed them (its log held text ids), as their text. */
static rk_status session_key(const rk_column *c, int64_t r, int64_t row, const char *label, bool hash_ints,
                             int64_t *key, bool *null, bool *hashed) {
  *null = rk_column_is_null(c, r);
  if (*null) return RK_OK;
  if (c->type == RK_COL_STRING) {
    size_t len;
    const char *s = rk_column_get_string(c, r, &len);
    if (len == 0) {
      *null = true;
      return RK_OK;
    }
    *key = (int64_t)rk_hash_bytes(s, len);
    *hashed = true;
    return RK_OK;
  }
  if (c->type == RK_COL_UINT64) {
    *key = (int64_t)((const uint64_t *)c->values)[r];
    return RK_OK;
  }
  if (rk_coltype_is_int(c->type)) {
    *key = rk_column_get_int(c, r);
    if (hash_ints) {
      char text[24];
      int len = snprintf(text, sizeof text, "%lld", (long long)*key);
      *key = (int64_t)rk_hash_bytes(text, (size_t)len);
    }
    return RK_OK;
  }
  double x = rk_column_get_double(c, r);
  if (isnan(x)) {
    *null = true;
    return RK_OK;
  }
  if (x != floor(x) || fabs(x) >= 9.2e18)
    return rk_error(RK_EPARSE, "session id '%.17g' in '%s' row %lld, column '%s' is not a whole number", x, label,
                    (long long)row, c->name ? c->name : "?");
  *key = (int64_t)x;
  return RK_OK;
}

static bool parse_int_text(const char *s, size_t n, int64_t *v) {
  char buf[40];
  if (n == 0 || n >= sizeof buf) return false;
  memcpy(buf, s, n);
  buf[n] = '\0';
  char *end;
  errno = 0;
  long long x = strtoll(buf, &end, 10);
  if (*end || errno) return false;
  *v = x;
  return true;
}

static rk_status timestamp_us(const rk_column *c, int64_t r, int64_t row, rk_timestamp_format f, const char *label,
                              int64_t *us) {
  static const int64_t scale[] = {0, 1000000, 1000, 1};
  const char *fname = rk_timestamp_format_name(f);
  if (rk_column_is_null(c, r))
    return rk_error(RK_EPARSE, "a null timestamp in '%s' row %lld, column '%s': every event needs its time", label,
                    (long long)row, c->name);
  if (c->type == RK_COL_STRING) {
    size_t len;
    const char *s = rk_column_get_string(c, r, &len);
    int64_t v;
    bool ok = f == RK_TS_ISO8601 ? rk_iso8601_parse(s, len, us) : parse_int_text(s, len, &v);
    if (ok && f != RK_TS_ISO8601) {
      ok = v > INT64_MIN / scale[f] && v < INT64_MAX / scale[f];
      *us = v * scale[f];
    }
    if (!ok)
      return rk_error(RK_EPARSE, "cannot parse '%.*s' as a %s timestamp in '%s' row %lld, column '%s'",
                      (int)(len > 64 ? 64 : len), s, fname, label, (long long)row, c->name);
    return RK_OK;
  }
  if (f == RK_TS_ISO8601)
    return rk_error(RK_EPARSE, "column '%s' of '%s' holds %s values, not ISO-8601 text (row %lld): pass "
                    "--timestamp_format unix_s, unix_ms or unix_us", c->name, label, rk_coltype_name(c->type),
                    (long long)row);
  if (rk_coltype_is_int(c->type)) {
    int64_t v = rk_column_get_int(c, r);
    if (!(v > INT64_MIN / scale[f] && v < INT64_MAX / scale[f]))
      return rk_error(RK_ERANGE, "timestamp %lld in '%s' row %lld, column '%s' is out of range for %s", (long long)v,
                      label, (long long)row, c->name, fname);
    *us = v * scale[f];
    return RK_OK;
  }
  double x = rk_column_get_double(c, r) * (double)scale[f];
  if (!isfinite(x) || fabs(x) >= 9.2e18)
    return rk_error(RK_EPARSE, "cannot read '%g' as a %s timestamp in '%s' row %lld, column '%s'",
                    rk_column_get_double(c, r), fname, label, (long long)row, c->name);
  *us = (int64_t)llround(x);
  return RK_OK;
}

rk_status ss_records_from_batch(ss_records *out, const ss_plan *plan, const rk_batch *in, rk_dict **dicts,
                                int64_t row_base, const char *label) {
  const rk_session_workflow *sw = plan->sw;
  int sc, tc, ic[SS_MAX_COLUMNS], vc[SS_MAX_COLUMNS];
  RK_TRY(find_column(in, sw->session_id, label, &sc));
  RK_TRY(find_column(in, sw->timestamp, label, &tc));
  for (int k = 0; k < plan->n_idx; k++) RK_TRY(find_column(in, plan->idx_name[k], label, &ic[k]));
  for (int k = 0; k < plan->n_val; k++) {
    RK_TRY(find_column(in, plan->val_name[k], label, &vc[k]));
    const rk_column *c = &in->cols[vc[k]];
    if (!rk_coltype_is_int(c->type) && !rk_coltype_is_float(c->type))
      return rk_error(RK_EINVAL, "column '%s' of '%s' holds %s values, not numbers", c->name, label,
                      rk_coltype_name(c->type));
  }
  int64_t n = in->nrows;
  out->n = 0;
  if (n > out->cap) {
    int64_t bytes;
    RK_TRY(rk_size_mul(&bytes, n, (int64_t)plan->size, "session records of a batch"));
    void *g = rk_realloc(out->data, (size_t)bytes);
    if (!g) return RK_ENOMEM;
    out->data = g;
    out->cap = n;
  }
  int32_t *idx = rk_malloc((size_t)(n ? n : 1) * (size_t)(plan->n_idx ? plan->n_idx : 1) * sizeof *idx);
  if (!idx) return RK_ENOMEM;
  rk_status st = RK_OK;
  for (int k = 0; k < plan->n_idx && st == RK_OK; k++) {
    const rk_column *c = &in->cols[ic[k]];
    if (!dicts[k]) st = rk_dict_create(&dicts[k], c->type);
    if (st == RK_OK) st = rk_dict_insert(dicts[k], c, 0, n, idx + (size_t)k * (size_t)n);
    if (st != RK_OK) st = rk_error_context(st, "column '%s' of '%s'", c->name, label);
  }
  const rk_column *scol = &in->cols[sc], *tcol = &in->cols[tc];
  for (int64_t r = 0; r < n && st == RK_OK; r++) {
    int64_t key = 0, row = row_base + r + 1;
    bool null = false;
    st = session_key(scol, r, row, label, sw->hashed_session_ids, &key, &null, &out->hashed);
    if (st != RK_OK) break;
    if (null) {
      out->null_sessions++;
      continue;
    }
    void *rec = ss_head_at(plan, out->data, out->n);
    memset(rec, 0, plan->size);
    ss_head *h = rec;
    h->session = key;
    h->row = row;
    if ((st = timestamp_us(tcol, r, row, sw->timestamp_format, label, &h->ts_us)) != RK_OK) break;
    double *v = ss_vals(plan, rec);
    for (int k = 0; k < plan->n_val; k++) v[k] = rk_etl_value_double(&in->cols[vc[k]], r);
    int32_t *ix = ss_idx(plan, rec);
    for (int k = 0; k < plan->n_idx; k++) ix[k] = idx[(size_t)k * (size_t)n + (size_t)r];
    out->n++;
  }
  rk_free(idx);
  return st;
}

/* ---- sorting and dropping repeats ----
 * Records of a batch or partition are in input order, so a STABLE sort by (session, time) is the
 * sort by (session, time, input row). An LSD radix sort (11-bit digits, low to high: time, then
 * session) is stable; digits every key shares are skipped, which drops most passes (times span
 * days, session ids a small range of their 64 bits). */

typedef struct {
  uint64_t session, ts;   /* sign bit flipped: unsigned order is signed order */
  int64_t pos;
} sort_key;

#define RADIX_BITS 11
#define RADIX_SIZE (1 << RADIX_BITS)

static rk_status radix_sort(sort_key **keys, int64_t n) {
  sort_key *a = *keys, *b = rk_malloc((size_t)n * sizeof *b);
  size_t *count = rk_malloc(RADIX_SIZE * sizeof *count);
  if (!b || !count) {
    rk_free(b);
    rk_free(count);
    return RK_ENOMEM;
  }
  for (int field = 0; field < 2; field++) {
    for (int shift = 0; shift < 64; shift += RADIX_BITS) {
      memset(count, 0, RADIX_SIZE * sizeof *count);
      for (int64_t i = 0; i < n; i++) count[((field ? a[i].session : a[i].ts) >> shift) & (RADIX_SIZE - 1)]++;
      size_t first = ((field ? a[0].session : a[0].ts) >> shift) & (RADIX_SIZE - 1);
      if (count[first] == (size_t)n) continue;   /* every key has this digit */
      size_t sum = 0;
      for (int d = 0; d < RADIX_SIZE; d++) {
        size_t c = count[d];
        count[d] = sum;
        sum += c;
      }
      for (int64_t i = 0; i < n; i++) b[count[((field ? a[i].session : a[i].ts) >> shift) & (RADIX_SIZE - 1)]++] = a[i];
      sort_key *t = a;
      a = b;
      b = t;
    }
  }
  rk_free(b);
  rk_free(count);
  *keys = a;
  return RK_OK;
}

rk_status ss_sort_dedup(const ss_plan *plan, void **data, int64_t n, int64_t *kept) {
  *kept = 0;
  if (n == 0) return RK_OK;
  sort_key *keys = rk_malloc((size_t)n * sizeof *keys);
  if (!keys) return RK_ENOMEM;
  const uint64_t flip = UINT64_C(1) << 63;
  for (int64_t i = 0; i < n; i++) {
    const ss_head *h = ss_head_at(plan, *data, i);
    keys[i] = (sort_key){(uint64_t)h->session ^ flip, (uint64_t)h->ts_us ^ flip, i};
  }
  char *sorted = NULL;
  rk_status st = radix_sort(&keys, n);
  if (st == RK_OK && !(sorted = rk_malloc((size_t)n * plan->size))) st = RK_ENOMEM;
  if (st != RK_OK) {
    rk_free(keys);
    return st;
  }
  int64_t w = 0;
  for (int64_t i = 0; i < n; i++) {
    void *rec = ss_head_at(plan, *data, keys[i].pos);
    if (plan->sw->dedup_consecutive && w > 0) {
      void *prev = sorted + (size_t)(w - 1) * plan->size;
      /* the same item as the event before it in the same session: a repeat (nulls repeat too) */
      if (((ss_head *)prev)->session == ((ss_head *)rec)->session && ss_idx(plan, prev)[0] == ss_idx(plan, rec)[0])
        continue;
    }
    memcpy(sorted + (size_t)w * plan->size, rec, plan->size);
    w++;
  }
  rk_free(keys);
  rk_free(*data);
  *data = sorted;
  *kept = w;
  return RK_OK;
}

/* ---- per-event features ---- */

double ss_recency_log(int64_t ts_us, int64_t first_seen_us) {
  if (first_seen_us == INT64_MIN) first_seen_us = ts_us;   /* an item the fit never saw: new now */
  double days = (double)(ts_us - first_seen_us) / 86400e6;
  return log1p(days > 0 ? days : 0.0);
}

double ss_value_log(double x) { return isnan(x) || x <= -1 ? NAN : log1p(x); }

/* pandas' weekday (Monday 0) of a UTC time; 1970-01-01 was a Thursday (3). */
static int weekday(int64_t ts_us) {
  int64_t days = ts_us >= 0 ? ts_us / 86400000000LL : -((-ts_us + 86400000000LL - 1) / 86400000000LL);
  int64_t w = (days + 3) % 7;
  return (int)(w < 0 ? w + 7 : w);
}

static const double TWO_PI = 6.283185307179586476925;

float ss_weekday_sin(int64_t ts_us) { return (float)sin(TWO_PI * ((double)weekday(ts_us) + 1e-6) / 7.0); }
float ss_weekday_cos(int64_t ts_us) { return (float)cos(TWO_PI * ((double)weekday(ts_us) + 1e-6) / 7.0); }
