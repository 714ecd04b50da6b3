/*
 * Status codes and the per-thread error message.
 *
 * A failing library function formats one message that says what failed, where (file, row,
 * column, flag) and what was expected, and returns its status; the caller decides whether to add
 * context or print it. Only src/cli/ prints errors to the terminal.
 */
#include <stdlib.h>
#include <string.h>

#include "reckon/core.h"

static _Thread_local char error_text[RK_ERROR_MAX];
static _Thread_local rk_status error_code = RK_OK;

const char *rk_strerror(rk_status status) {
  switch (status) {
#define RK_STATUS_TEXT(name, value, text) \
  case RK_##name:                         \
    return text;
    RK_STATUS_LIST(RK_STATUS_TEXT)
#undef RK_STATUS_TEXT
  }
  return "unknown status";
}

const char *rk_status_name(rk_status status) {
  switch (status) {
#define RK_STATUS_NAME(name, value, text) \
  case RK_##name:                         \
    return "RK_" #name;
    RK_STATUS_LIST(RK_STATUS_NAME)
#undef RK_STATUS_NAME
  }
  return "RK_UNKNOWN";
}

rk_status rk_verror(rk_status status, const char *fmt, va_list ap) {
  /* Format aside first: the arguments may quote the current message (wrapping an error). */
  char text[RK_ERROR_MAX];
  vsnprintf(text, sizeof text, fmt, ap);
  memcpy(error_text, text, strlen(text) + 1);
  error_code = status;
  return status;
}

rk_status rk_error(rk_status status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  rk_verror(status, fmt, ap);
  va_end(ap);
  return status;
}

rk_status rk_error_context(rk_status status, const char *fmt, ...) {
  char prefix[RK_ERROR_MAX];
  char old[RK_ERROR_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  snprintf(old, sizeof old, "%s", rk_error_message());
  size_t n = strlen(prefix);
  if (n > sizeof error_text - 3) n = sizeof error_text - 3;
  memcpy(error_text, prefix, n);
  memcpy(error_text + n, ": ", 2);
  size_t room = sizeof error_text - n - 2;
  size_t m = strnlen(old, room - 1);
  memcpy(error_text + n + 2, old, m);
  error_text[n + 2 + m] = '\0';
  error_code = status;
  return status;
}

const char *rk_error_message(void) {
  if (error_text[0] == '\0') return rk_strerror(error_code);
  return error_text;
}

rk_status rk_error_status(void) { return error_code; }

void rk_error_clear(void) {
  error_text[0] = '\0';
  error_code = RK_OK;
}

RK_NORETURN void rk_assert_fail(const char *expr, const char *file, int line) {
  fprintf(stderr, "reckon: internal error: assertion '%s' failed at %s:%d\n", expr, file, line);
  abort();
}
