/*
 * The `reckon` subcommands. Each lives in src/cli/cmd_<name>.c and exports one rk_command; the
 * list in commands.c is the single place that names them all (dispatch, `reckon --help`, docs).
 * Commands are the only code that prints to the terminal or chooses an exit code.
 */
#ifndef RECKON_CLI_COMMANDS_H
#define RECKON_CLI_COMMANDS_H

#include <string.h>

#include "cli/flags.h"
#include "reckon/io.h"

/* Exit codes: 0 success, 1 the work failed, 2 the command line was wrong. */
enum { RK_EXIT_OK = 0, RK_EXIT_FAILURE = 1, RK_EXIT_USAGE = 2 };

typedef struct {
  const char *name;       /* "synth tenrec": one or two words */
  const char *usage;      /* "reckon synth tenrec [flags]" */
  const char *summary;    /* one line */
  const char *details;    /* Markdown for docs/cli/<name>.md (may be NULL) */
  const rk_flag *flags;
  size_t opts_size;       /* sizeof the options struct the flags fill */
  int (*run)(const rk_flag_parse *parse, void *opts);
} rk_command;

extern const rk_command *const rk_commands[];   /* NULL-terminated */

/* Print "reckon: error: <message>" for the current error and return the exit code it means. */
int rk_cli_fail(rk_status status);

/* The RK_CSV_INPUT_FLAGS choices as the readers' settings (the parser has checked the names). */
static inline rk_invalid_utf8 rk_cli_invalid_utf8(const char *choice) {
  return strcmp(choice, "replace") == 0 ? RK_INVALID_UTF8_REPLACE : RK_INVALID_UTF8_ERROR;
}
static inline rk_non_finite rk_cli_non_finite(const char *choice) {
  return strcmp(choice, "as_missing") == 0 ? RK_NON_FINITE_AS_MISSING : RK_NON_FINITE_ERROR;
}

#endif
