/* DuckDB as a peer for tests: bench/peers/duckdb_query.js under Node (see support.h). */
#include "support.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifndef RECKON_SOURCE_DIR
#define RECKON_SOURCE_DIR "."
#endif

bool rk_test_have_duckdb(void) {
  char path[4096];
  snprintf(path, sizeof path, "%s/build/peers/node_modules/@duckdb/node-api/package.json", RECKON_SOURCE_DIR);
  bool present = access(path, R_OK) == 0 && rk_test_system("node --version > /dev/null 2>&1") == 0;
  return rk_test_have_peer("duckdb", present);
}

json_t *rk_test_duckdb(const char *dir, int nsql, const char *const *sql, size_t json_flags) {
  char args[8192] = "";
  for (int i = 0; i < nsql; i++) {   /* each statement from a file: no shell quoting to get right */
    char file[2100];
    snprintf(file, sizeof file, "%s/q%d.sql", dir, i);
    rk_test_write_file(file, sql[i]);
    size_t n = strlen(args);
    snprintf(args + n, sizeof args - n, " '@%s'", file);
  }
  int rc = rk_test_system("NODE_PATH='%s/build/peers/node_modules' node '%s/bench/peers/duckdb_query.js' --threads 2%s"
                          " > '%s/out.json'",
                          RECKON_SOURCE_DIR, RECKON_SOURCE_DIR, args, dir);
  if (rc != 0) fail_msg("duckdb_query.js failed (exit %d)", rc);
  char out[4096];
  snprintf(out, sizeof out, "%s/out.json", dir);
  json_error_t err;
  json_t *j = json_load_file(out, json_flags, &err);
  if (!j) fail_msg("cannot parse DuckDB's answer: %s", err.text);
  if (!json_is_array(json_object_get(j, "rows"))) fail_msg("no rows in DuckDB's answer");
  return j;
}
