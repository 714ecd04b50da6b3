/*
 * `reckon docs DIR`: writes docs/cli/<command>.md for every command from its flag table;
 * `--check` compares instead of writing, so a test fails when the docs and the tables disagree.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"

#define DOCS_FLAGS(X) \
  X(check, BOOL, "false", NULL, "compare the pages in DIR with the flag tables instead of writing them")

typedef struct {
  DOCS_FLAGS(RK_FLAG_FIELD)
} docs_opts;
#define RK_FLAG_STRUCT docs_opts
static const rk_flag docs_flags[] = {DOCS_FLAGS(RK_FLAG_ROW) RK_FLAG_END};
#undef RK_FLAG_STRUCT

static void page_name(char *buf, size_t size, const char *dir, const char *command) {
  snprintf(buf, size, "%s/", dir);
  size_t at = strlen(buf);
  for (const char *c = command; *c && at + 4 < size; c++) buf[at++] = *c == ' ' ? '-' : *c;
  snprintf(buf + at, size - at, ".md");
}

static int run_docs(const rk_flag_parse *parse, void *arg) {
  docs_opts *o = arg;
  if (parse->npositional != 1) {
    fprintf(stderr, "reckon: error: 'reckon docs' takes one folder (e.g. docs/cli), got %d arguments\n",
            parse->npositional);
    return RK_EXIT_USAGE;
  }
  const char *dir = parse->positional[0];
  if (!o->check && rk_mkdir_p(dir) != RK_OK) return rk_cli_fail(rk_error_status());
  int stale = 0;
  for (const rk_command *const *c = rk_commands; *c; c++) {
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    if (!mem) return rk_cli_fail(rk_error(RK_ENOMEM, "out of memory writing docs"));
    rk_flags_write_markdown(mem, (*c)->name, (*c)->usage, (*c)->summary, (*c)->details, (*c)->flags);
    fclose(mem);
    char path[4096];
    page_name(path, sizeof path, dir, (*c)->name);
    if (o->check) {
      char *have = NULL;
      size_t have_len = 0;
      if (rk_read_file(path, &have, &have_len) != RK_OK || have_len != len || memcmp(have, text, len) != 0) {
        fprintf(stderr, "reckon: docs page '%s' disagrees with the flags of 'reckon %s' (run 'make docs')\n", path,
                (*c)->name);
        stale++;
      }
      rk_free(have);
    } else if (rk_write_file_atomic(path, text, len) != RK_OK) {
      free(text);
      return rk_cli_fail(rk_error_status());
    }
    free(text);
  }
  if (stale) return RK_EXIT_FAILURE;
  if (!o->check) printf("wrote the command pages into %s\n", dir);
  return RK_EXIT_OK;
}

const rk_command rk_cmd_docs = {
    .name = "docs",
    .usage = "reckon docs [--check] DIR",
    .summary = "write (or check) the Markdown page of every command's flags",
    .details = "Each page is generated from the same flag table that parses the command line and YAML "
               "config files, so `--help`, configs and docs cannot disagree. `make docs` runs "
               "`reckon docs docs/cli`; the test suite runs `reckon docs --check docs/cli`.",
    .flags = docs_flags,
    .opts_size = sizeof(docs_opts),
    .run = run_docs,
};
