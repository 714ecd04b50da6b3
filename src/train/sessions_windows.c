/*
 * The time windows of `reckon sessions` (reckon/train.h states the two layouts): which files each
 * window of the day-by-day protocol reads, found and checked before anything is built, so a
 * missing day fails in a second naming the flag and the path, not after hours of training.
 *
 * References: Transformers4Rec tag recsys2021, hf4rec/recsys_main.py (the index loop, its
 * range(start, final) of training windows, each evaluated on the next) and recsys_data.py
 * (`<data_path>/<index zero-padded>/{train,valid,test}.parquet`); the date variant before
 * 67342caa (`session_start_date=YYYY-MM-DD-<split>.parquet`, dates start..end inclusive).
 * It is not the training loop (src/train/sessions.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "reckon/train.h"

/* More windows than this is a typo in a date or an index (the paper's longest run has 380). */
#define MAX_WINDOWS 100000

/* ---- dates (proleptic Gregorian, days since 1970-01-01: H. Hinnant's days_from_civil) ---- */

static int64_t days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static bool leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

rk_status rk_parse_date(const char *text, const char *flag, int64_t *days) {
  int y = 0, m = 0, d = 0;
  bool ok = strlen(text) == 10 && text[4] == '-' && text[7] == '-';
  for (int i = 0; ok && i < 10; i++) ok = i == 4 || i == 7 || (text[i] >= '0' && text[i] <= '9');
  if (ok) {
    y = (text[0] - '0') * 1000 + (text[1] - '0') * 100 + (text[2] - '0') * 10 + (text[3] - '0');
    m = (text[5] - '0') * 10 + (text[6] - '0');
    d = (text[8] - '0') * 10 + (text[9] - '0');
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    ok = m >= 1 && m <= 12 && d >= 1 && d <= mdays[m - 1] + (m == 2 && leap(y));
  }
  if (!ok) return rk_error(RK_EUSAGE, "invalid value '%s' for %s: expected a date YYYY-MM-DD", text, flag);
  *days = days_from_civil(y, m, d);
  return RK_OK;
}

void rk_format_date(char out[16], int64_t days) {
  /* civil_from_days */
  int64_t z = days + 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  int d = (int)(doy - (153 * mp + 2) / 5 + 1);
  int m = (int)(mp < 10 ? mp + 3 : mp - 9);
  int64_t y = yoe + era * 400 + (m <= 2);
  snprintf(out, 16, "%04d-%02d-%02d", (int)(y % 10000), m, d);
}

/* ---- paths ---- */

static bool exists(const char *p) {
  struct stat st;
  return stat(p, &st) == 0;
}

static bool is_dir(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static char *join(const char *dir, const char *name) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *p = rk_malloc(n);
  if (p) snprintf(p, n, "%s%s%s", dir, dir[0] && dir[strlen(dir) - 1] == '/' ? "" : "/", name);
  return p;
}

/* The three splits of a window whose files start with `stem` ("<dir>/session_start_date=D-" or
 * "<dir>/<folder>/") and end with `end` (".parquet" for both layouts). */
static rk_status set_paths(rk_session_window *w, const char *stem) {
  static const char *const split[] = {"train", "valid", "test"};
  char **dst[] = {&w->train, &w->valid, &w->test};
  for (int i = 0; i < 3; i++) {
    size_t n = strlen(stem) + strlen(split[i]) + 9;
    if (!(*dst[i] = rk_malloc(n))) return RK_ENOMEM;
    snprintf(*dst[i], n, "%s%s.parquet", stem, split[i]);
  }
  return RK_OK;
}

/* The folder of window `index`: padded when it exists, else unpadded when that exists, else the
 * padded name (absent; reported by the caller). */
static rk_status window_folder(char **out, const char *data_path, int64_t index, int pad) {
  char name[32];
  snprintf(name, sizeof name, "%0*" PRId64, pad, index);
  char *p = join(data_path, name);
  if (!p) return RK_ENOMEM;
  if (!is_dir(p)) {
    snprintf(name, sizeof name, "%" PRId64, index);
    char *q = join(data_path, name);
    if (!q) return rk_free(p), RK_ENOMEM;
    if (is_dir(q)) rk_free(p), p = q;
    else rk_free(q);
  }
  *out = p;
  return RK_OK;
}

static rk_status grow(rk_session_windows *out, int n) {
  out->w = rk_calloc((size_t)n, sizeof *out->w);
  if (!out->w) return RK_ENOMEM;
  out->n = n;
  return RK_OK;
}

static rk_status find_dates(rk_session_windows *out, const rk_session_window_options *o) {
  int64_t first, last;
  RK_TRY(rk_parse_date(o->start_date, "--start_date", &first));
  RK_TRY(rk_parse_date(o->end_date, "--end_date", &last));
  if (last <= first)
    return rk_error(RK_EUSAGE,
                    "--end_date %s is not after --start_date %s: the protocol trains on a day and evaluates on the "
                    "next, so it needs two days at least",
                    o->end_date, o->start_date);
  if (last - first + 1 > MAX_WINDOWS)
    return rk_error(RK_EUSAGE, "--start_date %s to --end_date %s spans %" PRId64 " days; at most %d", o->start_date,
                    o->end_date, last - first + 1, MAX_WINDOWS);
  RK_TRY(grow(out, (int)(last - first + 1)));
  for (int i = 0; i < out->n; i++) {
    rk_session_window *w = &out->w[i];
    w->index = first + i;
    rk_format_date(w->label, w->index);
    char name[64];
    snprintf(name, sizeof name, "session_start_date=%s-", w->label);
    char *stem = join(o->data_path, name);
    rk_status st = stem ? set_paths(w, stem) : RK_ENOMEM;
    rk_free(stem);
    RK_TRY(st);
  }
  return RK_OK;
}

static rk_status find_index(rk_session_windows *out, const rk_session_window_options *o) {
  int64_t final = o->final_index;
  if (final < 0) {   /* the last window present after the start */
    final = o->start_index;
    for (;;) {
      char *p;
      RK_TRY(window_folder(&p, o->data_path, final + 1, o->pad_digits));
      bool there = is_dir(p);
      rk_free(p);
      if (!there || final - o->start_index + 1 >= MAX_WINDOWS) break;
      final++;
    }
  }
  if (final <= o->start_index)
    return rk_error(RK_EUSAGE,
                    "--final_time_window_index %" PRId64 " is not after --start_time_window_index %" PRId64
                    "%s: the protocol trains on a window and evaluates on the next, so it needs two windows at least",
                    final, o->start_index, o->final_index < 0 ? " (the last window folder found in --data_path)" : "");
  if (final - o->start_index + 1 > MAX_WINDOWS)
    return rk_error(RK_EUSAGE, "--start_time_window_index %" PRId64 " to --final_time_window_index %" PRId64
                    " is more than %d windows", o->start_index, final, MAX_WINDOWS);
  RK_TRY(grow(out, (int)(final - o->start_index + 1)));
  for (int i = 0; i < out->n; i++) {
    rk_session_window *w = &out->w[i];
    w->index = o->start_index + i;
    snprintf(w->label, sizeof w->label, "%" PRId64, w->index);
    char *dir;
    RK_TRY(window_folder(&dir, o->data_path, w->index, o->pad_digits));
    char *stem = join(dir, "");
    rk_free(dir);
    rk_status st = stem ? set_paths(w, stem) : RK_ENOMEM;
    rk_free(stem);
    RK_TRY(st);
  }
  return RK_OK;
}

static rk_status missing(const rk_session_window_options *o, const rk_session_windows *ws, const rk_session_window *w,
                         const char *path, const char *role) {
  if (o->start_date)
    return rk_error(RK_EUSAGE, "no file '%s' for day %s (%s) of --start_date %s to --end_date %s in --data_path '%s'", path,
                    w->label, role, o->start_date, o->end_date, o->data_path);
  return rk_error(RK_EUSAGE,
                  "no '%s' for window %s (%s) of --start_time_window_index %" PRId64
                  " to --final_time_window_index %" PRId64 " in --data_path '%s' (folders named as "
                  "--time_window_folder_pad_digits %d pads them, or unpadded)",
                  path, w->label, role, o->start_index, ws->w[ws->n - 1].index, o->data_path, o->pad_digits);
}

rk_status rk_session_windows_find(rk_session_windows *out, const rk_session_window_options *o) {
  memset(out, 0, sizeof *out);
  if (!o->data_path || !*o->data_path) return rk_error(RK_EUSAGE, "--data_path is required: the folder of the time windows");
  if (!is_dir(o->data_path))
    return rk_error(RK_EUSAGE, "--data_path '%s' is not a folder: %s", o->data_path,
                    exists(o->data_path) ? "it is a file" : strerror(ENOENT));
  if ((o->start_date == NULL) != (o->end_date == NULL))
    return rk_error(RK_EUSAGE, "%s is given without %s: the dates layout needs both", o->start_date ? "--start_date" : "--end_date",
                    o->start_date ? "--end_date" : "--start_date");
  out->layout = o->start_date ? RK_WINDOWS_DATES : RK_WINDOWS_INDEX;
  rk_status st = o->start_date ? find_dates(out, o) : find_index(out, o);
  for (int i = 0; st == RK_OK && i < out->n; i++) {
    const rk_session_window *w = &out->w[i];
    const char *eval = o->eval_on_test_set ? w->test : w->valid;
    if (o->need_train && i < out->n - 1 && !exists(w->train)) st = missing(o, out, w, w->train, "training data");
    else if (o->need_eval && i > 0 && !exists(eval))
      st = missing(o, out, w, eval, o->eval_on_test_set ? "evaluation data, --eval_on_test_set" : "evaluation data");
  }
  if (st != RK_OK) rk_session_windows_free(out);
  return st;
}

void rk_session_windows_free(rk_session_windows *w) {
  for (int i = 0; w->w && i < w->n; i++) {
    rk_free(w->w[i].train);
    rk_free(w->w[i].valid);
    rk_free(w->w[i].test);
  }
  rk_free(w->w);
  memset(w, 0, sizeof *w);
}

void rk_session_train_windows(int *first, int t, bool incremental, int64_t size) {
  if (incremental) *first = t;
  else if (size > 0) *first = t + 1 - size > 0 ? (int)(t + 1 - size) : 0;
  else *first = 0;
}
