/*
 * `reckon <command> [flags]`: finds the command, parses its flags (src/cli/flags.c), applies the
 * global ones (threads, progress, quiet) and runs it. `reckon --help` lists the commands;
 * `reckon --version` prints the version, git revision and the features compiled in.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "cli/commands.h"
#include "reckon/nn.h"

static void print_commands(FILE *out) {
  fprintf(out,
          "usage: reckon <command> [flags]\n\n"
          "reckon takes interaction logs to a trained, evaluated and served recommender model.\n\n"
          "commands:\n");
  for (const rk_command *const *c = rk_commands; *c; c++) fprintf(out, "  %-18s %s\n", (*c)->name, (*c)->summary);
  fprintf(out, "\n'reckon <command> --help' shows a command's flags; 'reckon --version' the build.\n");
}

static void print_version(void) {
  char dev[256];
  printf("reckon %s (git %s)\nfeatures: %s\n", rk_version(), rk_git_revision(), rk_build_features());
  /* Benchmarks hand this to peers on the same OpenBLAS (OPENBLAS_CORETYPE), see rk_blas_choose_kernels. */
  printf("blas kernels: %s\n", rk_blas_corename());
  int n = rk_cuda_device_count();
  for (int i = 0; i < n; i++) printf("cuda device %d: %s\n", i, rk_cuda_device_name(i, dev, sizeof dev));
}

/* The command named by the first one or two words (the longer match wins). */
static const rk_command *find_command(int argc, char **argv, int *words) {
  const rk_command *best = NULL;
  for (const rk_command *const *c = rk_commands; *c; c++) {
    const char *name = (*c)->name;
    const char *space = strchr(name, ' ');
    if (!space) {
      if (strcmp(argv[1], name) == 0 && !best) best = *c, *words = 1;
    } else if (argc > 2 && strncmp(argv[1], name, (size_t)(space - name)) == 0 &&
               argv[1][space - name] == '\0' && strcmp(argv[2], space + 1) == 0) {
      best = *c, *words = 2;
    }
  }
  return best;
}

/* `reckon synth` alone: list its subcommands. */
static bool print_group(const char *group) {
  size_t n = strlen(group);
  bool any = false;
  for (const rk_command *const *c = rk_commands; *c; c++) {
    if (strncmp((*c)->name, group, n) == 0 && (*c)->name[n] == ' ') {
      if (!any) fprintf(stderr, "usage: reckon %s <kind> [flags]\n\nkinds:\n", group);
      fprintf(stderr, "  %-18s %s\n", (*c)->name + n + 1, (*c)->summary);
      any = true;
    }
  }
  return any;
}

/* Streaming commands allocate and free batch-sized buffers (a few MB) over and over; glibc would
 * hand each back to the kernel and fault it in again. Keeping them in the heap costs a little
 * memory and saves a tenth of the time of a preprocessing run. */
static void tune_allocator(void) {
#ifdef __GLIBC__
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
#endif
}

int main(int argc, char **argv) {
  rk_blas_choose_kernels(argv);
  tune_allocator();
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
    if (argc > 2 && strcmp(argv[1], "help") == 0) {
      int words = 0;
      const rk_command *c = find_command(argc - 1, argv + 1, &words);
      if (c) {
        rk_flags_print_help(stdout, c->name, c->usage, c->summary, c->flags);
        return RK_EXIT_OK;
      }
    }
    print_commands(argc < 2 ? stderr : stdout);
    return argc < 2 ? RK_EXIT_USAGE : RK_EXIT_OK;
  }
  if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
    print_version();
    return RK_EXIT_OK;
  }

  int words = 0;
  const rk_command *cmd = find_command(argc, argv, &words);
  if (!cmd) {
    if (print_group(argv[1])) return RK_EXIT_USAGE;
    const char *near = NULL;
    int best = 3;   /* suggest only close names */
    for (const rk_command *const *c = rk_commands; *c; c++) {
      char first[64];
      snprintf(first, sizeof first, "%.*s", (int)strcspn((*c)->name, " "), (*c)->name);
      int d = rk_edit_distance(argv[1], first);
      if (d < best) best = d, near = first[0] ? (*c)->name : NULL;
    }
    fprintf(stderr, "reckon: error: unknown command '%s'%s%s%s (see 'reckon --help')\n", argv[1],
            near ? "; did you mean '" : "", near ? near : "", near ? "'?" : "");
    return RK_EXIT_USAGE;
  }

  void *opts = rk_calloc(1, cmd->opts_size ? cmd->opts_size : 1);
  if (!opts) return rk_cli_fail(RK_ENOMEM);
  rk_flag_parse parse;
  rk_status st = rk_flags_parse(&parse, cmd->name, cmd->flags, opts, argc - 1 - words, argv + 1 + words);
  int rc;
  if (st != RK_OK) {
    rc = rk_cli_fail(st);
  } else if (parse.globals.help) {
    rk_flags_print_help(stdout, cmd->name, cmd->usage, cmd->summary, cmd->flags);
    rc = RK_EXIT_OK;
  } else {
    rk_progress_mode mode = RK_PROGRESS_AUTO;
    rk_progress_mode_parse(parse.globals.progress, &mode);   /* validated as a CHOICE */
    rk_progress_set_mode(mode);
    if (parse.globals.quiet) rk_log_set_level(RK_LOG_WARN);
    /* The parser checked the range; the library keeps its own limit (RK_THREADS_MAX, the same 1024) for other callers. */
    if ((st = rk_set_num_threads(parse.globals.threads)) != RK_OK)
      rc = rk_cli_fail(rk_error_context(st, "--threads"));
    else
      rc = cmd->run(&parse, opts);
  }
  rk_flags_free(&parse);
  rk_free(opts);
  return rc;
}
