/*
 * Joining the ranks for a command (dist_start.h). The flag check hashes the parsed flags as JSON
 * with sorted keys, so `--a 1 --b 2` and `--b 2 --a 1` agree while `--epochs 1` and `--epochs 2`
 * do not. A failing rank stops the job (MPI_Abort): the others may be inside a collective that
 * would otherwise wait out the timeout.
 */
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "cli/commands.h"
#include "cli/dist_start.h"

int rk_cli_dist_fail(rk_dist *d, rk_status status) {
  if (!d || rk_dist_size(d) == 1) {
    int code = rk_cli_fail(status);
    rk_dist_finalize(d);
    return code;
  }
  fprintf(stderr, "reckon: error: rank %d of %d: %s\n", rk_dist_rank(d), rk_dist_size(d), rk_error_message());
  fflush(stderr);
  rk_dist_abort(d, status == RK_EUSAGE ? RK_EXIT_USAGE : RK_EXIT_FAILURE);
}

int rk_cli_dist_start(rk_dist **out, const rk_flag_parse *parse) {
  *out = NULL;
  rk_dist *d;
  rk_status st = rk_dist_init(&d, 0);
  if (st != RK_OK) return rk_cli_fail(st);
  if (rk_dist_rank(d) != 0) {
    rk_log_set_level(RK_LOG_WARN);
    rk_progress_set_mode(RK_PROGRESS_NEVER);
  }
  json_t *flags = rk_flags_to_json(parse);
  char *text = flags ? json_dumps(flags, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
  json_decref(flags);
  st = text ? rk_dist_check_same(d, text, strlen(text), "flags") : RK_ENOMEM;
  free(text);
  if (st != RK_OK) return rk_cli_dist_fail(d, st);
  *out = d;
  return RK_EXIT_OK;
}

void rk_cli_dist_end(rk_dist *d) { rk_dist_finalize(d); }
