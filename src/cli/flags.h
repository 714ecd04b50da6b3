/*
 * Command-line flags: one table per command feeds the parser, `--help`, YAML config files and
 * the generated docs/cli/<command>.md, so they never disagree (STYLE.md habit 12).
 *
 * A command lists its flags once as an X-macro, X(name, KIND, default, metavar, help), which
 * expands into its options struct (one typed field per flag) and its table:
 *
 *   #define SYNTH_FLAGS(X) \
 *     X(rows, INT,  "100000", "N in [0, 2^40]", "rows to generate") \
 *     X(emit_truth, BOOL, "false", NULL, "add the true probabilities as p_<target> columns")
 *   typedef struct { SYNTH_FLAGS(RK_FLAG_FIELD) } synth_opts;
 *   #define RK_FLAG_STRUCT synth_opts
 *   static const rk_flag synth_flags[] = {SYNTH_FLAGS(RK_FLAG_ROW) RK_FLAG_END};
 *   #undef RK_FLAG_STRUCT
 *
 * A flag taking numbers (INT, FLOAT, INTS, MULTI_INTS, FAMILY; a FAMILY_TEXT of layer widths) writes its
 * valid range in its metavar after the placeholder, in interval notation: "P in [0, 1)", "N >= 1",
 * "X > 0" (src/cli/flag_range.h); a family's metavar is "key: range", e.g. "task: W >= 0". The
 * parser refuses a value outside the range, NaN always, and infinity unless the range closes on
 * it, so --help and the docs show what is checked; rk_flags_check_table (run over every command
 * by tests/unit/test_cli_ranges.c) fails a numeric flag without a range or a default outside it.
 *
 * The forms users of the reference scripts type are all accepted: `--f=v` and `--f v`;
 * booleans `--f`, `--f=true|false|1|0|yes|no` and `--f False` (argparse's str2bool);
 * comma lists whose empty items keep their position (`--tasks_sample_space=,click,click` is three
 * items); space-separated multi-value flags (`--deep_hidden_units 1024 1024`, argparse's
 * nargs='+'); dynamic families such as `--mtl_loss_weight_<task>` in both forms; dashes inside a
 * name for its underscores (Triton's `--model-repository` is `--model_repository`); flags that
 * may be repeated, each use adding a value (Triton's `--load-model`).
 */
#ifndef RECKON_CLI_FLAGS_H
#define RECKON_CLI_FLAGS_H

#include <stddef.h>

#include "reckon/core.h"

/* A list of strings (LIST and MULTI flags); items are owned by the parse. */
typedef struct {
  int n;
  const char **items;
} rk_strlist;

/* A list of whole numbers (INTS and MULTI_INTS flags, a FAMILY_TEXT with a range); owned by the
 * parse. Empty items are dropped (`--mlp_layers=128,64,` is two layers). */
typedef struct {
  int n;
  int64_t *items;
} rk_intlist;

/* A family of dynamic flags `--<prefix><key> value`: keys and their numbers (FAMILY) or their
 * texts (FAMILY_TEXT); a FAMILY_TEXT whose metavar has a range also has each text's whole numbers. */
typedef struct {
  int n;
  const char **keys;
  double *values;
  const char **texts;
  rk_intlist *lists;
} rk_flag_family;

typedef enum {
  RK_FLAG_BOOL,      /* bool            --f, --f=false, --f False */
  RK_FLAG_INT,       /* int64_t         */
  RK_FLAG_FLOAT,     /* double          */
  RK_FLAG_STRING,    /* const char *    NULL when unset and no default */
  RK_FLAG_CHOICE,    /* const char *    one of metavar's "a|b|c" */
  RK_FLAG_LIST,      /* rk_strlist      comma-separated, empty items kept */
  RK_FLAG_MULTI,     /* rk_strlist      one or more space-separated values (nargs='+') */
  RK_FLAG_INTS,      /* rk_intlist      comma-separated whole numbers, each in the metavar's range */
  RK_FLAG_MULTI_INTS, /* rk_intlist     the same, space-separated (nargs='+') */
  RK_FLAG_REPEATED,  /* rk_strlist      one value a use, each use adds it (--load-model a --load-model b) */
  RK_FLAG_FAMILY,    /* rk_flag_family  name is a prefix: --<name><key> <number> */
  RK_FLAG_FAMILY_TEXT, /* rk_flag_family name is a prefix: --<name><key> <text> */
  RK_FLAG_ALIAS,     /* (no field)      default names the flag this one stands for */
  RK_FLAG_IGNORED,   /* (no field)      accepted with any value; prints that it has no effect */
} rk_flag_kind;

typedef bool rk_flag_ctype_BOOL;
typedef int64_t rk_flag_ctype_INT;
typedef double rk_flag_ctype_FLOAT;
typedef const char *rk_flag_ctype_STRING;
typedef const char *rk_flag_ctype_CHOICE;
typedef rk_strlist rk_flag_ctype_LIST;
typedef rk_strlist rk_flag_ctype_MULTI;
typedef rk_intlist rk_flag_ctype_INTS;
typedef rk_intlist rk_flag_ctype_MULTI_INTS;
typedef rk_strlist rk_flag_ctype_REPEATED;
typedef rk_flag_family rk_flag_ctype_FAMILY;
typedef rk_flag_family rk_flag_ctype_FAMILY_TEXT;
typedef char rk_flag_ctype_ALIAS;     /* a placeholder byte: aliases store into their target */
typedef char rk_flag_ctype_IGNORED;

typedef struct {
  const char *name;
  rk_flag_kind kind;
  const char *default_value;   /* text form, parsed like a command-line value; NULL = unset */
  const char *metavar;         /* shown in --help; CHOICE: "a|b|c"; numbers: with the range; ALIAS: unused */
  const char *help;
  size_t offset;               /* of the field in the options struct */
} rk_flag;

#define RK_FLAG_FIELD(name, kind, def, meta, help) rk_flag_ctype_##kind name;
#define RK_FLAG_ROW(name, kind, def, meta, help) {#name, RK_FLAG_##kind, def, meta, help, offsetof(RK_FLAG_STRUCT, name)},
#define RK_FLAG_END {NULL, RK_FLAG_BOOL, NULL, NULL, NULL, 0}

/* A model family's settings table (reckon/models.h, X(KIND, field, flag, section, metavar, help,
 * default)) as flags: its field in the options struct and its row. The setting's kind names
 * its flag kind (RK_SETTING_FLAG_<KIND>); the default is the row's C text, stringified. */
#define RK_FLAG_CTYPE_OF(kind) RK_FLAG_CTYPE_OF_(kind)
#define RK_FLAG_CTYPE_OF_(kind) rk_flag_ctype_##kind
#define RK_FLAG_KIND_OF(kind) RK_FLAG_KIND_OF_(kind)
#define RK_FLAG_KIND_OF_(kind) RK_FLAG_##kind
#define RK_SETTING_FLAG_FIELD(kind, field, flag, section, meta, help, ...) RK_FLAG_CTYPE_OF(RK_SETTING_FLAG_##kind) flag;
#define RK_SETTING_FLAG_ROW(kind, field, flag, section, meta, help, ...) \
  {#flag, RK_FLAG_KIND_OF(RK_SETTING_FLAG_##kind), #__VA_ARGS__, meta, help, offsetof(RK_FLAG_STRUCT, flag)},
/* A setting's parsed flag value v into its configuration field c->field, per setting kind; a
 * command defines the kinds its family adds (MODEL, ACT, ...) and RK_SETTING_FROM_FLAG's use. */
#define RK_SETTING_FROM_FLAG_INTS(c, field, v, meta) c->field = v.items, c->n_##field = v.n;
#define RK_SETTING_FROM_FLAG_INT(c, field, v, meta) c->field = (int)v;
#define RK_SETTING_FROM_FLAG_SIZE(c, field, v, meta) c->field = v;
#define RK_SETTING_FROM_FLAG_SEED(c, field, v, meta) c->field = (uint64_t)v;
#define RK_SETTING_FROM_FLAG_REAL(c, field, v, meta) c->field = (float)v;
#define RK_SETTING_FROM_FLAG_REAL64(c, field, v, meta) c->field = v;
#define RK_SETTING_FROM_FLAG_BOOL(c, field, v, meta) c->field = v;
#define RK_SETTING_FROM_FLAG_SWITCH(c, field, v, meta) c->field = rk_setting_switch_on(meta, v);

/* Flags every command takes (src/cli/flags.c fills rk_global_opts). */
#define RK_GLOBAL_FLAGS(X)                                                                          \
  X(config,   STRING, NULL,    "FILE",              "read flags from a YAML file; flags on the command line win") \
  X(threads,  INT,    "0",     "N in [0, 1024]",    "worker threads (0: OMP_NUM_THREADS, else all cores)")        \
  X(progress, CHOICE, "auto",  "auto|always|never", "progress display: a bar on a terminal, a line every 10 s otherwise") \
  X(quiet,    BOOL,   "false", NULL,                "print only warnings and errors")                             \
  X(help,     BOOL,   "false", NULL,                "show this help and exit")

typedef struct {
  RK_GLOBAL_FLAGS(RK_FLAG_FIELD)
} rk_global_opts;

/* Flags of every command that reads CSV, named as the reference scripts name them. */
#define RK_CSV_INPUT_FLAGS(X)                                                                        \
  X(csv_sep,          STRING, ",",     "SEP",              "CSV field separator: ',', '\\t', 'tab' or any single byte") \
  X(csv_header,       BOOL,   "true",  NULL,               "the CSV's first line names the columns; false: it is data (YOOCHOOSE's clicks have no header)") \
  X(csv_column_names, LIST,   "",      "C,...",            "CSV column names, in order: for a file without a header, or to rename a header's columns") \
  X(csv_na_values,    LIST,   "",      "S,...",            "CSV strings read as null, e.g. \\N (a command writing CSV writes the first for nulls)") \
  X(csv_list_columns, LIST,   "",      "C,...",            "CSV columns holding lists as DuckDB writes them, [1, 2, 3], read as list columns") \
  X(csv_invalid_utf8, CHOICE, "error", "error|replace",    "CSV text that is not UTF-8: an error naming row and column, or replaced by U+FFFD") \
  X(non_finite,       CHOICE, "error", "error|as_missing", "numbers that are not finite (inf, nan, 1e400, a cast past float32): an error naming row and column, or missing")

/* The result of parsing one command line: typed values land in the command's options struct. */
typedef struct {
  const char *command;         /* "synth tenrec", for messages */
  const rk_flag *table;
  void *opts;
  rk_global_opts globals;
  rk_arena arena;              /* every string and list the parse made */
  unsigned char *given;        /* per table row: set on the command line or in the config */
  const char **positional;     /* arguments that are not flags */
  int npositional;
} rk_flag_parse;

/* Parse argv (without the program and command words) into opts (defaults first, then the YAML
 * file of --config, then the command line). Errors name the flag, the value and what was
 * expected; an unknown flag suggests the nearest known one. Free with rk_flags_free. */
rk_status rk_flags_parse(rk_flag_parse *parse, const char *command, const rk_flag *table, void *opts, int argc,
                         char **argv);
void rk_flags_free(rk_flag_parse *parse);
/* Whether a flag was given (command line or config), by name. */
bool rk_flags_given(const rk_flag_parse *parse, const char *name);

/* Whether a command's table is well made: every flag taking numbers (INT, FLOAT, FAMILY, INTS,
 * MULTI_INTS, lists of whole numbers) has a range in its metavar (src/cli/flag_range.h), every range reads, and every
 * default lies in its range. The unit tests walk every command with it. */
rk_status rk_flags_check_table(const char *command, const rk_flag *table);
/* The flags every command takes (--threads, --config, ...). */
const rk_flag *rk_flags_global_table(void);

/* Help and docs for a command: usage line, summary, flags (with kinds and defaults). */
void rk_flags_print_help(FILE *out, const char *command, const char *usage, const char *summary,
                         const rk_flag *table);
/* The Markdown page docs/cli/<command>.md is made of. */
void rk_flags_write_markdown(FILE *out, const char *command, const char *usage, const char *summary,
                             const char *details, const rk_flag *table);

/* Every flag with a value (defaults included) as a JSON object, family members by full name:
 * for logs and model files. Caller owns the result (jansson). */
struct json_t;
struct json_t *rk_flags_to_json(const rk_flag_parse *parse);

/* Levenshtein distance (names up to 63 bytes; longer ones are "far"), for "did you mean". */
int rk_edit_distance(const char *a, const char *b);

/* The nearest name in the table (and globals) to `name`, or NULL when none is close. */
const char *rk_flags_suggest(const rk_flag *table, const char *name);

#endif
