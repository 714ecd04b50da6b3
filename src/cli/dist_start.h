/*
 * The command line's side of data parallelism (src/cli/dist_start.c): joining the ranks, checking
 * they were given the same flags, quieting every rank but 0, and failing so that no rank is left
 * waiting. For commands that run under mpirun (train, widedeep --hvd, preprocess).
 */
#ifndef RECKON_CLI_DIST_START_H
#define RECKON_CLI_DIST_START_H

#include "cli/flags.h"
#include "reckon/dist.h"

/* Joins the world (rank 0 of 1 without a launcher), checks that every rank parsed the same flags
 * (`parse`'s values, hashed), and leaves ranks other than 0 quiet (warnings only, no progress).
 * On failure prints the message (naming the rank) and returns the exit code with *out NULL. */
int rk_cli_dist_start(rk_dist **out, const rk_flag_parse *parse);
/* Print the current error, naming the rank when there are several, and stop: with several ranks
 * every rank is stopped (another may be blocked in a collective); else d is ended (as
 * rk_cli_dist_end) and the exit code returned. */
int rk_cli_dist_fail(rk_dist *d, rk_status status);
/* Leave the world (MPI_Finalize); d may be NULL. */
void rk_cli_dist_end(rk_dist *d);

#endif
