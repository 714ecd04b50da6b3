/* Shared test support (see support.h). */
#include "support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#ifndef RECKON_BINARY_DIR
#define RECKON_BINARY_DIR "."
#endif
#ifndef RECKON_SOURCE_DIR
#define RECKON_SOURCE_DIR "."
#endif

const char *rk_test_path(const char *dir, const char *name) {
  static char p[4][4400];
  static int k;
  char *s = p[k++ % 4];
  snprintf(s, sizeof p[0], "%s/%s", dir, name);
  return s;
}

const char *rk_test_tmpdir(const char *name) {
  static char path[4096];
  snprintf(path, sizeof path, "%s/tmp/%s", RECKON_BINARY_DIR, name);
  char cmd[8300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", path, path);
  if (system(cmd) != 0) fail_msg("cannot create %s", path);
  return path;
}

const char *rk_test_data(const char *relative) {
  static char slots[4][4096];
  static int next = 0;
  char *p = slots[next++ % 4];
  snprintf(p, 4096, "%s/tests/data/%s", RECKON_SOURCE_DIR, relative);
  return p;
}

bool rk_test_have_peer(const char *what, bool present) {
  if (present) return true;
  const char *req = getenv("RECKON_REQUIRE_PEERS");
  if (req && strcmp(req, "1") == 0) fail_msg("peer '%s' is missing and RECKON_REQUIRE_PEERS=1", what);
  print_message("skipping: peer '%s' is not installed (scripts/install-deps.sh --peers)\n", what);
  return false;
}

bool rk_test_sanitized(void) {
  const char *s = getenv("RECKON_SANITIZED");
  return s && strcmp(s, "1") == 0;
}

void rk_test_write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "wb");
  if (!f) fail_msg("cannot write %s", path);
  fputs(text, f);
  fclose(f);
}

int rk_test_system(const char *fmt, ...) {
  char cmd[8192];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  int rc = system(cmd);
  if (rc == -1) return -1;
  return WEXITSTATUS(rc);
}

int64_t rk_test_walk_failures(rk_status (*run)(void *ctx), void *ctx) {
  int64_t start = rk_alloc_live_bytes();
  for (int64_t n = 0;; n++) {
    rk_alloc_fail_after(n);
    rk_status s = run(ctx);
    bool fired = rk_alloc_fail_fired();
    rk_alloc_fail_after(-1);
    if (rk_alloc_live_bytes() != start)
      fail_msg("allocation %lld failing leaked %lld bytes", (long long)n, (long long)(rk_alloc_live_bytes() - start));
    if (!fired) {
      if (s != RK_OK) fail_msg("the run without failures returned %s: %s", rk_status_name(s), rk_error_message());
      return n;
    }
    if (s != RK_ENOMEM)
      fail_msg("allocation %lld failing returned %s, expected RK_ENOMEM: %s", (long long)n, rk_status_name(s),
               rk_error_message());
  }
}

static void skipped(void **state) {
  (void)state;
  skip();
}

int rk_test_not_built(const char *what) {
  const struct CMUnitTest tests[] = {{what, skipped, NULL, NULL, NULL}};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
