/*
 * The results files of `reckon sessions` in the forms recsys_main.py writes them (reckon/train.h
 * lists the names per layout), so scripts that read the reference's outputs read these:
 *   per-window text   "\n***** eval results (2019-10-02)*****\n" + sorted "key = value" lines
 *                     (index layout: "(time index): 3)"), recsys_outputs.py's log_metric_results
 *   CSV               pandas' DataFrame.from_dict(results, orient="index").reset_index().to_csv:
 *                     a column "index" (the evaluated window), then the metric columns, numbers
 *                     as Python's repr, NaN as an empty field
 *   averages          "\n***** Eval results (avg over dates) *****\n" ("avg over time") and the
 *                     mean of each column over the windows, as pandas' mean (NaN skipped)
 * Unlike the reference, whose date variant wrote the averages unsuffixed and only suffixed them
 * for W&B, both layouts write suffixed keys (_AOD, _AOT), as the issue asks.
 * It is not the DLLogger log (src/train/dllogger.c) nor the training loop.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "reckon/train.h"

static const char *const names[2][4] = {
    {"train_results_dates.txt", "eval_results_dates.txt", "eval_train_results_dates.csv", "eval_results_avg_over_days.txt"},
    {"train_results_over_time.txt", "eval_results_over_time.txt", "eval_train_results.csv", "eval_results_avg_over_time.txt"},
};

const char *rk_session_results_name(rk_window_layout layout, int which) {
  return which >= 0 && which < 4 ? names[layout == RK_WINDOWS_INDEX][which] : "";
}

/* Python's repr of a float: the shortest digits that read back the same; fixed notation with at
 * least one decimal when the exponent is in [-4, 16), else d[.ddd]e[+-]XX. */
void rk_format_py_float(char *buf, size_t size, double v) {
  if (isnan(v)) return (void)snprintf(buf, size, "nan");
  if (isinf(v)) return (void)snprintf(buf, size, "%sinf", v < 0 ? "-" : "");
  if (v == 0) return (void)snprintf(buf, size, "%s0.0", signbit(v) ? "-" : "");
  char e[40];
  for (int p = 1; p <= 17; p++) {
    snprintf(e, sizeof e, "%.*e", p - 1, v);
    if (strtod(e, NULL) == v) break;
  }
  /* e: [-]d[.ddd]e[+-]XX */
  bool neg = e[0] == '-';
  char digits[24];
  int nd = 0;
  const char *c = e + neg;
  for (; *c && *c != 'e'; c++)
    if (*c != '.') digits[nd++] = *c;
  digits[nd] = '\0';
  int exp = atoi(c + 1);
  while (nd > 1 && digits[nd - 1] == '0') digits[--nd] = '\0';
  char out[64];
  int n = 0;
  if (neg) out[n++] = '-';
  if (exp >= -4 && exp < 16) {
    if (exp < 0) {
      out[n++] = '0', out[n++] = '.';
      for (int i = 0; i < -exp - 1; i++) out[n++] = '0';
      for (int i = 0; i < nd; i++) out[n++] = digits[i];
    } else {
      for (int i = 0; i <= exp; i++) out[n++] = i < nd ? digits[i] : '0';
      out[n++] = '.';
      if (nd > exp + 1)
        for (int i = exp + 1; i < nd; i++) out[n++] = digits[i];
      else out[n++] = '0';
    }
    out[n] = '\0';
  } else {
    out[n++] = digits[0];
    if (nd > 1) {
      out[n++] = '.';
      for (int i = 1; i < nd; i++) out[n++] = digits[i];
    }
    snprintf(out + n, sizeof out - (size_t)n, "e%c%02d", exp < 0 ? '-' : '+', abs(exp));
  }
  snprintf(buf, size, "%s", out);
}

/* A metric's text: numbers as Python's str(), null (a metric with no example) as nan, as numpy's
 * mean of nothing prints. */
static void value_text(char *buf, size_t size, const json_t *v) {
  if (json_is_integer(v)) snprintf(buf, size, "%lld", (long long)json_integer_value(v));
  else if (json_is_number(v)) rk_format_py_float(buf, size, json_number_value(v));
  else snprintf(buf, size, "nan");
}

static int compare_strings(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* The keys of an object, sorted (Python's sorted(): by code point, which strcmp is for UTF-8). */
static const char **sorted_keys(const json_t *o, size_t *n) {
  *n = json_object_size(o);
  const char **keys = rk_malloc((*n ? *n : 1) * sizeof *keys);
  if (!keys) return NULL;
  size_t i = 0;
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)o, k, v) keys[i++] = k;
  qsort(keys, *n, sizeof *keys, compare_strings);
  return keys;
}

static rk_status write_sorted(FILE *f, const json_t *metrics) {
  size_t n;
  const char **keys = sorted_keys(metrics, &n);
  if (!keys) return RK_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    char v[64];
    value_text(v, sizeof v, json_object_get(metrics, keys[i]));
    fprintf(f, "%s = %s\n", keys[i], v);
  }
  rk_free(keys);
  return ferror(f) ? rk_error(RK_EIO, "cannot write a results file") : RK_OK;
}

rk_status rk_session_results_block(FILE *f, rk_window_layout layout, const char *prefix, const char *label,
                                   const json_t *metrics) {
  if (layout == RK_WINDOWS_DATES) fprintf(f, "\n***** %s results (%s)*****\n", prefix, label);
  else fprintf(f, "\n***** %s results (time index): %s)*****\n", prefix, label);
  return write_sorted(f, metrics);
}

/* The CSV's columns: every key of every window, in first-seen order (pandas' from_dict unites
 * the rows' keys so; each window here has the same keys). */
static json_t *columns(const rk_session_results *r) {
  json_t *cols = json_array(), *seen = json_object();
  for (int i = 0; cols && seen && i < r->n; i++) {
    size_t n;
    const char **keys = sorted_keys(r->metrics[i], &n);
    if (!keys) {
      json_decref(cols);
      cols = NULL;
      break;
    }
    /* eval columns first, then train ones, as {**eval_metrics, **train_metrics} orders them */
    for (int pass = 0; pass < 2; pass++)
      for (size_t k = 0; k < n; k++) {
        bool train = strncmp(keys[k], "train_", 6) == 0;
        if (train != (pass == 1) || json_object_get(seen, keys[k])) continue;
        json_object_set_new(seen, keys[k], json_true());
        json_array_append_new(cols, json_string(keys[k]));
      }
    rk_free(keys);
  }
  json_decref(seen);
  return cols;
}

rk_status rk_session_results_write_csv(FILE *f, const rk_session_results *r) {
  json_t *cols = columns(r);
  if (!cols) return RK_ENOMEM;
  size_t j;
  json_t *c;
  fprintf(f, "index");
  json_array_foreach(cols, j, c) fprintf(f, ",%s", json_string_value(c));
  fprintf(f, "\n");
  for (int i = 0; i < r->n; i++) {
    fprintf(f, "%s", r->labels[i]);
    json_array_foreach(cols, j, c) {
      const json_t *v = json_object_get(r->metrics[i], json_string_value(c));
      char t[64] = "";
      if (json_is_number(v) && isfinite(json_number_value(v))) value_text(t, sizeof t, v);
      fprintf(f, ",%s", t);
    }
    fprintf(f, "\n");
  }
  json_decref(cols);
  return ferror(f) ? rk_error(RK_EIO, "cannot write a results file") : RK_OK;
}

json_t *rk_session_results_average(const rk_session_results *r) {
  json_t *cols = columns(r), *avg = cols ? json_object() : NULL;
  const char *suffix = r->layout == RK_WINDOWS_DATES ? "_AOD" : "_AOT";
  size_t j;
  json_t *c;
  json_array_foreach(cols, j, c) {
    const char *key = json_string_value(c);
    double sum = 0;
    int64_t n = 0;
    for (int i = 0; i < r->n; i++) {   /* in window order, so the same bits every time */
      const json_t *v = json_object_get(r->metrics[i], key);
      if (json_is_number(v) && isfinite(json_number_value(v))) sum += json_number_value(v), n++;
    }
    size_t len = strlen(key) + 5;
    char *name = rk_malloc(len);
    if (!name) {
      json_decref(avg);
      avg = NULL;
      break;
    }
    snprintf(name, len, "%s%s", key, suffix);
    json_object_set_new(avg, name, n ? json_real(sum / (double)n) : json_null());
    rk_free(name);
  }
  json_decref(cols);
  return avg;
}

rk_status rk_session_results_write_average(FILE *f, const rk_session_results *r, const json_t *average) {
  fprintf(f, "\n***** Eval results (avg over %s) *****\n", r->layout == RK_WINDOWS_DATES ? "dates" : "time");
  return write_sorted(f, average);
}
