/*
 * DLLogger's JSON-lines log (`log.json`): the format NVIDIA's training scripts write and their
 * analysis notebooks read, one `DLLL {json}` line per entry. Key order and the stringly typed
 * time fields follow what DLLogger itself writes (see tests/data/merlin/ for a real file).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "reckon/train.h"

struct rk_dllogger {
  FILE *f;
  char *path;
  double start;
};

rk_status rk_dllogger_open(rk_dllogger **out, const char *path) {
  *out = NULL;
  rk_dllogger *l = rk_calloc(1, sizeof *l);
  if (!l || !(l->path = rk_strdup(path))) {
    rk_free(l);
    return RK_ENOMEM;
  }
  if (!(l->f = fopen(path, "w"))) {
    rk_status st = rk_error(RK_EIO, "cannot create '%s': %s", path, strerror(errno));
    rk_free(l->path);
    rk_free(l);
    return st;
  }
  l->start = rk_now();
  *out = l;
  return RK_OK;
}

static rk_status write_entry(rk_dllogger *l, json_t *step, const json_t *data) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  time_t secs = ts.tv_sec;
  localtime_r(&secs, &tm);
  char stamp[32], when[64], elapsed[32];
  snprintf(stamp, sizeof stamp, "%lld.%06ld", (long long)ts.tv_sec, ts.tv_nsec / 1000);
  size_t k = strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
  snprintf(when + k, sizeof when - k, ".%06ld", ts.tv_nsec / 1000);
  snprintf(elapsed, sizeof elapsed, "%.6f", rk_now() - l->start);
  json_t *e = json_pack("{sssssssssOsO}", "timestamp", stamp, "datetime", when, "elapsedtime", elapsed, "type", "LOG",
                        "step", step, "data", (json_t *)data);
  char *text = e ? json_dumps(e, JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17)) : NULL;
  json_decref(e);
  if (!text) return RK_ENOMEM;
  /* DLLogger separates keys with ", " and ": " (Python's json.dumps defaults). */
  int ok = fprintf(l->f, "DLLL %s\n", text) > 0 && fflush(l->f) == 0;
  free(text);
  return ok ? RK_OK : rk_error(RK_EIO, "cannot write '%s': %s", l->path, strerror(errno));
}

rk_status rk_dllogger_parameters(rk_dllogger *l, const json_t *params) {
  json_t *step = json_string("PARAMETER");
  rk_status st = step ? write_entry(l, step, params) : RK_ENOMEM;
  json_decref(step);
  return st;
}

rk_status rk_dllogger_log(rk_dllogger *l, const json_t *step, const json_t *data) {
  return write_entry(l, (json_t *)step, data);
}

rk_status rk_dllogger_close(rk_dllogger *l) {
  if (!l) return RK_OK;
  rk_status st = fclose(l->f) == 0 ? RK_OK : rk_error(RK_EIO, "cannot write '%s': %s", l->path, strerror(errno));
  rk_free(l->path);
  rk_free(l);
  return st;
}
