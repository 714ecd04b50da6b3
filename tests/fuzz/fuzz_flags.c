/*
 * Fuzz target: the flag parser (src/cli/flags.c) with a YAML config file, through its public
 * interface and the real commands' flag tables. The first byte picks the command; the rest is
 * the config file's text, then (after the first NUL byte) the command line, one argument per
 * line. The config is handed over as `--config` naming an in-memory file (memfd), so the parser
 * reads it as it reads any file: defaults, then the config, then the command line.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/commands.h"
#include "cli/flags.h"

#define MAX_ARGS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  int ncommands = 0;
  while (rk_commands[ncommands]) ncommands++;
  const rk_command *cmd = rk_commands[data[0] % ncommands];
  const char *text = (const char *)data + 1;
  size_t n = size - 1;
  const char *nul = memchr(text, 0, n);
  size_t config_len = nul ? (size_t)(nul - text) : n;

  int fd = memfd_create("fuzz.yaml", 0);
  if (fd < 0) return 0;
  if (write(fd, text, config_len) != (ssize_t)config_len) {
    close(fd);
    return 0;
  }
  char config_path[64];
  snprintf(config_path, sizeof config_path, "/proc/self/fd/%d", fd);

  /* the command line: --config first, then the lines after the NUL (each a NUL-terminated copy) */
  char *args = NULL;
  char *argv[MAX_ARGS + 2];
  int argc = 0;
  argv[argc++] = "--config";
  argv[argc++] = config_path;
  if (nul) {
    size_t len = n - config_len - 1;
    args = malloc(len + 1);
    if (!args) {
      close(fd);
      return 0;
    }
    memcpy(args, nul + 1, len);
    args[len] = 0;
    for (char *line = args; line && argc < MAX_ARGS + 2;) {
      char *end = strchr(line, '\n');
      if (end) *end = 0;
      argv[argc++] = line;
      line = end ? end + 1 : NULL;
    }
  }

  void *opts = calloc(1, cmd->opts_size ? cmd->opts_size : 1);
  if (opts) {
    rk_flag_parse parse;   /* freed whether or not it parsed, as main.c does */
    if (rk_flags_parse(&parse, cmd->name, cmd->flags, opts, argc, argv) == RK_OK) json_decref(rk_flags_to_json(&parse));
    rk_flags_free(&parse);
  }
  free(opts);
  free(args);
  close(fd);
  return 0;
}
