/*
 * The ceiling of a session model on synthetic data: `reckon synth sessions --layout yoochoose`
 * writes, beside its click log FILE, FILE.oracle.parquet (one row per processed session, in
 * session_id order, with the oracle's expected hit, NDCG and reciprocal rank at K for the
 * session's last item) and FILE.json (K, as "oracle": {"k": ...}); docs/synth.md. The session ETL
 * keeps session_id, so the ceiling on exactly the sessions a window evaluates is the mean of
 * their oracle rows: no model that sees only the items can beat it in expectation.
 * It is not the metrics of the model (sessions_eval.c).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "reckon/data.h"
#include "sessions_internal.h"

static const char *const oracle_columns[] = {"session_id", "expected_hit", "expected_ndcg", "expected_rr"};

static rk_status read_k(rk_session_oracle *o, const char *file) {
  size_t n = strlen(file) + 8;
  char *p = rk_malloc(n);
  if (!p) return RK_ENOMEM;
  snprintf(p, n, "%s.json", file);
  json_error_t err;
  json_t *j = json_load_file(p, 0, &err);
  json_t *k = json_object_get(json_object_get(j, "oracle"), "k");
  rk_status st = json_is_integer(k) && json_integer_value(k) >= 1
                     ? RK_OK
                     : rk_error(RK_EFORMAT, "--synth_oracle: '%s' %s", p,
                                j ? "has no \"oracle\": {\"k\": K} (is it the sidecar of reckon synth sessions?)" : err.text);
  if (st == RK_OK) o->k = (int)json_integer_value(k);
  json_decref(j);
  rk_free(p);
  return st;
}

rk_status rk_session_oracle_read(rk_session_oracle *o, const char *file) {
  memset(o, 0, sizeof *o);
  RK_TRY(read_k(o, file));
  size_t n = strlen(file) + 16;
  char *path = rk_malloc(n);
  if (!path) return RK_ENOMEM;
  snprintf(path, n, "%s.oracle.parquet", file);
  rk_loader_options lo;
  rk_loader_options_default(&lo);
  lo.path = path;
  lo.columns = oracle_columns;
  lo.ncolumns = 4;
  lo.shuffle = false;
  lo.batch_size = 65536;
  rk_loader *l = NULL;
  rk_batch b = {0};
  rk_status st = rk_loader_open(&l, &lo);
  if (st == RK_OK) {
    o->n = rk_loader_num_rows(l);
    size_t rows = (size_t)(o->n ? o->n : 1);
    o->ids = rk_malloc(rows * sizeof *o->ids);
    o->hit = rk_malloc(rows * sizeof *o->hit);
    o->ndcg = rk_malloc(rows * sizeof *o->ndcg);
    o->rr = rk_malloc(rows * sizeof *o->rr);
    if (!o->ids || !o->hit || !o->ndcg || !o->rr) st = RK_ENOMEM;
  }
  if (st == RK_OK) st = rk_loader_start_epoch(l, 0);
  for (int64_t at = 0; st == RK_OK;) {
    if ((st = rk_loader_next(l, &b)) != RK_OK || b.nrows == 0) break;
    for (int64_t i = 0; i < b.nrows && st == RK_OK; i++, at++) {
      o->ids[at] = rk_column_get_int(&b.cols[0], i);
      o->hit[at] = rk_column_get_double(&b.cols[1], i);
      o->ndcg[at] = rk_column_get_double(&b.cols[2], i);
      o->rr[at] = rk_column_get_double(&b.cols[3], i);
      if (at > 0 && o->ids[at] <= o->ids[at - 1])
        st = rk_error(RK_EFORMAT, "--synth_oracle: '%s' row %lld: session_id %lld is not above the row before's", path,
                      (long long)at, (long long)o->ids[at]);
    }
  }
  if (l) rk_loader_close(l);
  rk_batch_free(&b);
  if (st != RK_OK) st = rk_error_context(st, "--synth_oracle '%s'", path);
  rk_free(path);
  if (st != RK_OK) rk_session_oracle_free(o);
  return st;
}

void rk_session_oracle_free(rk_session_oracle *o) {
  rk_free(o->ids);
  rk_free(o->hit);
  rk_free(o->ndcg);
  rk_free(o->rr);
  memset(o, 0, sizeof *o);
}

static int64_t find(const rk_session_oracle *o, int64_t id) {
  int64_t lo = 0, hi = o->n;
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (o->ids[mid] < id) lo = mid + 1;
    else hi = mid;
  }
  return lo < o->n && o->ids[lo] == id ? lo : -1;
}

rk_status rk_session_oracle_score(const rk_session_oracle *o, const char *path, json_t *into) {
  rk_loader_options lo;
  rk_loader_options_default(&lo);
  lo.path = path;
  lo.columns = oracle_columns;
  lo.ncolumns = 1;
  lo.shuffle = false;
  lo.batch_size = 65536;
  rk_loader *l = NULL;
  rk_batch b = {0};
  double sum[3] = {0, 0, 0};
  int64_t n = 0;
  rk_status st = rk_loader_open(&l, &lo);
  if (st != RK_OK) st = rk_error_context(st, "--synth_oracle needs the session_id column the session ETL keeps");
  if (st == RK_OK) st = rk_loader_start_epoch(l, 0);
  while (st == RK_OK) {
    if ((st = rk_loader_next(l, &b)) != RK_OK || b.nrows == 0) break;
    for (int64_t i = 0; i < b.nrows && st == RK_OK; i++) {
      int64_t id = rk_column_get_int(&b.cols[0], i), at = find(o, id);
      if (at < 0) {
        st = rk_error(RK_EUSAGE, "session_id %lld of '%s' is not in the --synth_oracle file: is it the click log this data was made from?",
                      (long long)id, path);
        break;
      }
      sum[0] += o->hit[at], sum[1] += o->ndcg[at], sum[2] += o->rr[at];   /* in file order: the same bits every run */
      n++;
    }
  }
  if (l) rk_loader_close(l);
  rk_batch_free(&b);
  static const char *const names[] = {"recall", "ndcg", "mrr"};
  for (int m = 0; st == RK_OK && m < 3; m++) {
    char key[64];
    snprintf(key, sizeof key, "eval_oracle_%s@%d", names[m], o->k);
    json_object_set_new(into, key, n ? json_real(sum[m] / (double)n) : json_null());
  }
  return st;
}
