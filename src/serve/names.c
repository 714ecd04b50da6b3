/*
 * The serving core's small vocabularies: KServe datatypes and their model_config.proto TYPE_*
 * names, error classes (with the per-thread class a failing call leaves), control modes and
 * model states. Tables come from the X-macro lists in reckon/serve.h.
 */
#include <stdarg.h>
#include <string.h>

#include "reckon/serve.h"
#include "serve/serve_internal.h"

static const struct {
  const char *name;
  size_t size;
  const char *config;
} dtypes[RK_SERVE_DT_COUNT] = {
    [RK_SERVE_DT_INVALID] = {"INVALID", 0, "TYPE_INVALID"},
#define RK_SERVE_DTYPE_ROW(n, s, p, t) [RK_SERVE_DT_##n] = {#n, s, t},
    RK_SERVE_DTYPE_LIST(RK_SERVE_DTYPE_ROW)
#undef RK_SERVE_DTYPE_ROW
};

static bool valid(rk_serve_dtype dt) { return dt > RK_SERVE_DT_INVALID && dt < RK_SERVE_DT_COUNT; }

const char *rk_serve_dtype_name(rk_serve_dtype dt) { return valid(dt) ? dtypes[dt].name : "INVALID"; }
size_t rk_serve_dtype_size(rk_serve_dtype dt) { return valid(dt) ? dtypes[dt].size : 0; }
const char *rk_serve_dtype_config_name(rk_serve_dtype dt) { return valid(dt) ? dtypes[dt].config : "TYPE_INVALID"; }

rk_serve_dtype rk_serve_dtype_parse(const char *name) {
  for (int i = 1; name && i < RK_SERVE_DT_COUNT; i++)
    if (strcmp(dtypes[i].name, name) == 0) return (rk_serve_dtype)i;
  return RK_SERVE_DT_INVALID;
}

rk_serve_dtype rk_serve_dtype_parse_config(const char *name) {
  for (int i = 1; name && i < RK_SERVE_DT_COUNT; i++)
    if (strcmp(dtypes[i].config, name) == 0) return (rk_serve_dtype)i;
  return RK_SERVE_DT_INVALID;
}

/* ---- error classes ------------------------------------------------------------------------- */
/* The class the last failure of this thread's serving call left, beside rk_error's message. */
static _Thread_local rk_serve_code last_code;
static _Thread_local rk_status last_status;

rk_status rk_serve_fail(rk_serve_code code, rk_status status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  rk_verror(status, fmt, ap);
  va_end(ap);
  last_code = code;
  last_status = status;
  return status;
}

rk_status rk_serve_mark(rk_serve_code code, rk_status status) {
  last_code = code;
  last_status = status;
  return status;
}

rk_serve_code rk_serve_error_code(rk_status status) {
  if (status == RK_OK) return RK_SERVE_OK;
  if (last_status == status && last_code != RK_SERVE_OK) return last_code;
  switch (status) {
    case RK_ENOTFOUND: return RK_SERVE_NOT_FOUND;
    case RK_ENOMEM:
    case RK_EIO:
    case RK_EINTERNAL: return RK_SERVE_INTERNAL;
    default: return RK_SERVE_INVALID;
  }
}

void rk_serve_clear_code(void) {
  last_code = RK_SERVE_OK;
  last_status = RK_OK;
}

int rk_serve_code_http(rk_serve_code code) {
  static const int http[] = {200, 400, 404, 503, 500};
  return code >= RK_SERVE_OK && code <= RK_SERVE_INTERNAL ? http[code] : 500;
}

const char *rk_serve_code_name(rk_serve_code code) {
  static const char *names[] = {"OK", "INVALID_ARGUMENT", "NOT_FOUND", "UNAVAILABLE", "INTERNAL"};
  return code >= RK_SERVE_OK && code <= RK_SERVE_INTERNAL ? names[code] : "INTERNAL";
}

/* ---- modes and states ------------------------------------------------------------------------ */
static const char *const control_names[] = {"none", "poll", "explicit"};

const char *rk_serve_control_name(rk_serve_control mode) {
  return mode >= RK_SERVE_CONTROL_NONE && mode <= RK_SERVE_CONTROL_EXPLICIT ? control_names[mode] : "?";
}

rk_status rk_serve_control_parse(const char *name, rk_serve_control *out) {
  for (int i = 0; i < 3; i++)
    if (name && strcmp(name, control_names[i]) == 0) return *out = (rk_serve_control)i, RK_OK;
  return rk_error(RK_EUSAGE, "invalid model control mode '%s': expected none, poll or explicit", name ? name : "");
}

const char *rk_model_state_name(rk_model_state st) {
  static const char *names[] = {"UNKNOWN", "READY", "UNAVAILABLE", "LOADING", "UNLOADING"};
  return st >= RK_MODEL_STATE_UNKNOWN && st <= RK_MODEL_STATE_UNLOADING ? names[st] : "UNKNOWN";
}

const char *rk_serve_server_name(void) { return "reckon"; }

int rk_serve_server_extensions(const char *const **names) {
  static const char *const ext[] = {"model_repository", "model_repository(unload_dependents)", "model_configuration",
                                    "binary_tensor_data", "statistics"};
  *names = ext;
  return (int)(sizeof ext / sizeof *ext);
}
