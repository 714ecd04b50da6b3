/*
 * Shared test support: temporary folders, test data paths and the peer policy.
 * Each tests/unit/test_*.c is one cmocka executable under CTest; support_*.c files link into all.
 */
#ifndef RECKON_TEST_SUPPORT_H
#define RECKON_TEST_SUPPORT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>

#include "reckon/core.h"

/* A fresh folder under the build tree's tmp/ named for the test (removed first if present). */
const char *rk_test_tmpdir(const char *name);
/* dir/name in one of four rotating buffers (a call may hold four paths at once). */
const char *rk_test_path(const char *dir, const char *name);
/* Path under tests/data/ (static buffer per call slot; copy if you need several at once). */
const char *rk_test_data(const char *relative);
/* Peers (DuckDB, pandas, PyTorch): returns true when present. When absent the test should
 * skip(), except under RECKON_REQUIRE_PEERS=1, where this fails the test. */
bool rk_test_have_peer(const char *what, bool present);
/* Whether the tests run under the sanitizers (make asan): slow tests shrink their sizes. */
bool rk_test_sanitized(void);
/* Write text to a file (test fixtures). */
void rk_test_write_file(const char *path, const char *text);
/* Run a shell command; returns its exit status. */
int rk_test_system(const char *fmt, ...);

/* The main of a test whose subject was not built (HTTP serving without its libraries): one test,
 * named `what`, that cmocka reports as skipped. */
int rk_test_not_built(const char *what);

/* Walk every allocation failure of an operation: run(ctx) with the n-th allocation failing, for
 * n = 0, 1, 2, ... until it runs without the injection firing. Each failing run must return
 * RK_ENOMEM and leave live bytes where they started (run cleans up after itself); the clean run
 * must succeed. Returns how many allocations the operation made. */
int64_t rk_test_walk_failures(rk_status (*run)(void *ctx), void *ctx);

/* DuckDB (npm @duckdb/node-api under build/peers, through bench/peers/duckdb_query.js):
 * whether it is installed (rk_test_have_peer's policy), and the parsed JSON answer
 * ({"columns", "rows", "best_s"}) of the last of nsql statements, run in order in one database.
 * Scratch files go into dir. Fails the test when DuckDB fails. */
bool rk_test_have_duckdb(void);
json_t *rk_test_duckdb(const char *dir, int nsql, const char *const *sql, size_t json_flags);

/* Fail the test with the library's error message when a status is not RK_OK. */
#define assert_rk_ok(expr)                                                              \
  do {                                                                                  \
    rk_status s_ = (expr);                                                              \
    if (s_ != RK_OK) fail_msg("%s -> %s: %s", #expr, rk_status_name(s_), rk_error_message()); \
  } while (0)

#endif
