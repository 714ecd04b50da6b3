/*
 * Flag parsing, help and docs from one table per command (see flags.h for the forms accepted).
 *
 * Order of precedence: the table's defaults, then the YAML file named by --config (keys are flag
 * names), then the command line. Every error names the flag (or file and line), the value and
 * what was expected. Not here: what a flag means; commands read their typed options struct.
 */
#include "cli/flags.h"

#include "cli/flag_range.h"

#include <ctype.h>
#include <jansson.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define RK_FLAG_STRUCT rk_global_opts
static const rk_flag global_flags[] = {RK_GLOBAL_FLAGS(RK_FLAG_ROW) RK_FLAG_END};
#undef RK_FLAG_STRUCT

/* Where a value came from, for messages. */
typedef struct {
  const char *file;   /* NULL: the command line */
  int line;
} origin;

static int table_len(const rk_flag *table) {
  int n = 0;
  while (table[n].name) n++;
  return n;
}

static bool has_field(rk_flag_kind kind) { return kind != RK_FLAG_ALIAS && kind != RK_FLAG_IGNORED; }
static bool is_family(rk_flag_kind kind) { return kind == RK_FLAG_FAMILY || kind == RK_FLAG_FAMILY_TEXT; }
static bool is_ints(rk_flag_kind kind) { return kind == RK_FLAG_INTS || kind == RK_FLAG_MULTI_INTS; }
static bool is_list(rk_flag_kind kind) {
  return kind == RK_FLAG_LIST || kind == RK_FLAG_MULTI || kind == RK_FLAG_REPEATED || is_ints(kind);
}

static const char *kind_metavar(const rk_flag *f) {
  if (f->metavar) return f->metavar;
  switch (f->kind) {
    case RK_FLAG_INT: return "N";
    case RK_FLAG_FLOAT: return "X";
    case RK_FLAG_LIST: return "A,B,...";
    case RK_FLAG_MULTI: return "V [V ...]";
    case RK_FLAG_INTS: return "N,...";
    case RK_FLAG_MULTI_INTS: return "N [N ...]";
    case RK_FLAG_FAMILY: return "X";
    case RK_FLAG_FAMILY_TEXT: return "TEXT";
    default: return "VALUE";
  }
}

static rk_status flag_error(const origin *at, const char *flagname, const char *value, const char *expected) {
  if (at->file)
    return rk_error(RK_EUSAGE, "invalid value '%s' for '%s' in '%s' line %d: expected %s", value, flagname, at->file,
                    at->line, expected);
  return rk_error(RK_EUSAGE, "invalid value '%s' for --%s: expected %s", value, flagname, expected);
}

static bool parse_bool_word(const char *s, bool *out) {
  static const char *const yes[] = {"true", "yes", "1", "y", "t", "on"};
  static const char *const no[] = {"false", "no", "0", "n", "f", "off"};
  for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
    if (strcasecmp(s, yes[i]) == 0) return *out = true, true;
  for (size_t i = 0; i < sizeof no / sizeof *no; i++)
    if (strcasecmp(s, no[i]) == 0) return *out = false, true;
  return false;
}

static bool parse_int_text(const char *s, int64_t *out) {
  if (!*s) return false;
  errno = 0;
  char *end;
  long long v = strtoll(s, &end, 10);
  if (errno == 0 && *end == '\0') return *out = v, true;
  /* Accept integral floats such as 1e6 or 4096.0, as Python's int(float(x)) users expect. */
  double d = strtod(s, &end);
  if (*end == '\0' && isfinite(d) && d == floor(d) && fabs(d) < 9.2e18) return *out = (int64_t)d, true;
  return false;
}

static bool parse_float_text(const char *s, double *out) {
  if (!*s) return false;
  errno = 0;
  char *end;
  double d = strtod(s, &end);
  if (*end != '\0' || errno == ERANGE) return false;
  *out = d;
  return true;
}

/* The metavar of a flag's value: a family's reads "key: value", e.g. "task: W >= 0". */
static const char *value_metavar(const rk_flag *f) {
  const char *colon = is_family(f->kind) && f->metavar ? strstr(f->metavar, ": ") : NULL;
  return colon ? colon + 2 : f->metavar;
}

/* The range a flag's metavar gives its values, or none; a malformed one is a bug in the table
 * (rk_flags_check_table finds it first). */
static bool flag_range(const rk_flag *f, rk_flag_range *r) {
  int found = rk_flag_range_parse(value_metavar(f), r);
  RK_ASSERT(found >= 0);
  return found > 0;
}

/* A number read for flag f: NaN never passes, infinity only where the range closes on it, and
 * every value must lie in the flag's range. `what` names the kind ("an integer", "a number"). */
static rk_status check_number(const origin *at, const char *flagname, const rk_flag *f, const char *text, double v,
                              const char *what) {
  rk_flag_range r;
  char expected[160];
  if (!flag_range(f, &r)) {   /* a flag of a test table: only the non-numbers are refused */
    if (isfinite(v)) return RK_OK;
    snprintf(expected, sizeof expected, "a finite number");
  } else {
    if (rk_flag_range_contains(&r, v)) return RK_OK;
    snprintf(expected, sizeof expected, "%s %s", what, r.text);
  }
  return flag_error(at, flagname, text, expected);
}

static rk_status split_list(rk_flag_parse *p, const char *text, const char *seps, bool keep_empty, rk_strlist *out) {
  int n = 1;
  for (const char *c = text; *c; c++)
    if (strchr(seps, *c)) n++;
  const char **items = rk_arena_alloc(&p->arena, sizeof(char *) * (size_t)n, 0);
  if (!items) return RK_ENOMEM;
  int k = 0;
  const char *start = text;
  for (const char *c = text;; c++) {
    if (*c == '\0' || strchr(seps, *c)) {
      size_t len = (size_t)(c - start);
      if (len > 0 || keep_empty) {
        char *item = rk_arena_alloc(&p->arena, len + 1, 1);
        if (!item) return RK_ENOMEM;
        memcpy(item, start, len);
        item[len] = '\0';
        items[k++] = item;
      }
      if (*c == '\0') break;
      start = c + 1;
    }
  }
  out->n = *text ? k : 0;   /* an empty value is an empty list */
  out->items = items;
  return RK_OK;
}

/* The one reader of integer lists: the items of `text` between `seps`, empty ones dropped, each a
 * whole number written as digits and inside the range of flag f (named `flagname`, a family's
 * member by its full name). */
static rk_status parse_ints(rk_flag_parse *p, const origin *at, const rk_flag *f, const char *flagname,
                            const char *text, const char *seps, rk_intlist *out) {
  rk_strlist items;
  RK_TRY(split_list(p, text, seps, false, &items));
  int64_t *values = rk_arena_alloc(&p->arena, sizeof(int64_t) * (size_t)(items.n + 1), 0);
  if (!values) return RK_ENOMEM;
  rk_flag_range r;
  bool ranged = flag_range(f, &r);
  for (int i = 0; i < items.n; i++) {
    char *end;
    errno = 0;
    long long v = strtoll(items.items[i], &end, 10);
    if (*end || errno == ERANGE) {
      char expected[160];
      snprintf(expected, sizeof expected, "whole numbers%s%s", ranged ? " " : "", ranged ? r.text : "");
      return flag_error(at, flagname, items.items[i], expected);
    }
    RK_TRY(check_number(at, flagname, f, items.items[i], (double)v, "whole numbers"));
    values[i] = v;
  }
  out->n = items.n;
  out->items = values;
  return RK_OK;
}

static bool choice_ok(const char *choices, const char *value) {
  size_t n = strlen(value);
  for (const char *c = choices; *c;) {
    const char *bar = strchr(c, '|');
    size_t len = bar ? (size_t)(bar - c) : strlen(c);
    if (len == n && strncmp(c, value, n) == 0) return true;
    if (!bar) break;
    c = bar + 1;
  }
  return false;
}

static const char *choice_list(char *buf, size_t size, const char *choices) {
  snprintf(buf, size, "one of ");
  size_t at = strlen(buf);
  for (const char *c = choices; *c && at < size; c++) {
    if (*c == '|') at += (size_t)snprintf(buf + at, size - at, ", ");
    else buf[at++] = *c, buf[at < size ? at : size - 1] = '\0';
  }
  return buf;
}

/* Store one textual value into the field of flag f. */
static rk_status set_value(rk_flag_parse *p, void *opts, const rk_flag *f, const char *value, const origin *at) {
  char *field = (char *)opts + f->offset;
  switch (f->kind) {
    case RK_FLAG_BOOL: {
      bool b;
      if (!parse_bool_word(value, &b)) return flag_error(at, f->name, value, "true or false (also 1/0, yes/no)");
      *(bool *)field = b;
      return RK_OK;
    }
    case RK_FLAG_INT: {
      int64_t v;
      if (!parse_int_text(value, &v)) return flag_error(at, f->name, value, "an integer");
      RK_TRY(check_number(at, f->name, f, value, (double)v, "an integer"));
      *(int64_t *)field = v;
      return RK_OK;
    }
    case RK_FLAG_FLOAT: {
      double v;
      if (!parse_float_text(value, &v)) return flag_error(at, f->name, value, "a number");
      RK_TRY(check_number(at, f->name, f, value, v, "a number"));
      // cppcheck-suppress invalidPointerCast ; field is the flag's double member (offsetof)
      *(double *)field = v;
      return RK_OK;
    }
    case RK_FLAG_CHOICE:
      if (!choice_ok(f->metavar, value)) {
        char buf[512];
        return flag_error(at, f->name, value, choice_list(buf, sizeof buf, f->metavar));
      }
      /* fall through */
    case RK_FLAG_STRING: {
      const char *s = rk_arena_strdup(&p->arena, value);
      if (!s) return RK_ENOMEM;
      *(const char **)field = s;
      return RK_OK;
    }
    case RK_FLAG_LIST:
    case RK_FLAG_MULTI: {   /* a list of text with a range holds whole numbers: checked, kept as text */
      const char *seps = f->kind == RK_FLAG_LIST ? "," : ", \t";
      rk_flag_range r;
      rk_intlist checked;
      if (flag_range(f, &r)) RK_TRY(parse_ints(p, at, f, f->name, value, seps, &checked));
      return split_list(p, value, seps, f->kind == RK_FLAG_LIST, (rk_strlist *)field);
    }
    case RK_FLAG_REPEATED: {   /* one more value; an empty one (the default "") adds nothing */
      rk_strlist *l = (rk_strlist *)field;
      if (!*value) return RK_OK;
      const char **items = rk_arena_alloc(&p->arena, sizeof(char *) * (size_t)(l->n + 1), 0);
      const char *s = rk_arena_strdup(&p->arena, value);
      if (!items || !s) return RK_ENOMEM;
      if (l->n) memcpy(items, l->items, sizeof(char *) * (size_t)l->n);
      items[l->n] = s;
      l->items = items, l->n++;
      return RK_OK;
    }
    case RK_FLAG_INTS: return parse_ints(p, at, f, f->name, value, ",", (rk_intlist *)field);
    case RK_FLAG_MULTI_INTS: return parse_ints(p, at, f, f->name, value, ", \t", (rk_intlist *)field);
    case RK_FLAG_FAMILY:
    case RK_FLAG_FAMILY_TEXT:
    case RK_FLAG_ALIAS:
    case RK_FLAG_IGNORED:
      break;
  }
  return RK_OK;
}

static rk_status set_family(rk_flag_parse *p, void *opts, const rk_flag *f, const char *key, const char *value,
                            const origin *at) {
  rk_flag_family *fam = (rk_flag_family *)((char *)opts + f->offset);
  double v = 0;
  char full[256];
  snprintf(full, sizeof full, "%s%s", f->name, key);
  bool text = f->kind == RK_FLAG_FAMILY_TEXT;
  rk_flag_range r;
  rk_intlist list = {0, NULL};
  if (!text) {
    if (!parse_float_text(value, &v)) return flag_error(at, full, value, "a number");
    RK_TRY(check_number(at, full, f, value, v, "a number"));
  } else if (flag_range(f, &r)) {   /* a text family with a range holds lists of whole numbers */
    RK_TRY(parse_ints(p, at, f, full, value, ",", &list));
  }
  const char *t = rk_arena_strdup(&p->arena, value);
  if (!t) return RK_ENOMEM;
  for (int i = 0; i < fam->n; i++) {
    if (strcmp(fam->keys[i], key) == 0) {   /* given twice: the last one wins */
      fam->values[i] = v;
      fam->texts[i] = t;
      fam->lists[i] = list;
      return RK_OK;
    }
  }
  const char **keys = rk_arena_alloc(&p->arena, sizeof(char *) * (size_t)(fam->n + 1), 0);
  const char **texts = rk_arena_alloc(&p->arena, sizeof(char *) * (size_t)(fam->n + 1), 0);
  double *values = rk_arena_alloc(&p->arena, sizeof(double) * (size_t)(fam->n + 1), 0);
  rk_intlist *lists = rk_arena_alloc(&p->arena, sizeof(rk_intlist) * (size_t)(fam->n + 1), 0);
  const char *k = rk_arena_strdup(&p->arena, key);
  if (!keys || !values || !texts || !lists || !k) return RK_ENOMEM;
  if (fam->n) {
    memcpy(keys, fam->keys, sizeof(char *) * (size_t)fam->n);
    memcpy(texts, fam->texts, sizeof(char *) * (size_t)fam->n);
    memcpy(values, fam->values, sizeof(double) * (size_t)fam->n);
    memcpy(lists, fam->lists, sizeof(rk_intlist) * (size_t)fam->n);
  }
  keys[fam->n] = k;
  texts[fam->n] = t;
  values[fam->n] = v;
  lists[fam->n] = list;
  fam->keys = keys;
  fam->texts = texts;
  fam->values = values;
  fam->lists = lists;
  fam->n++;
  return RK_OK;
}

/* Levenshtein distance, for "did you mean". */
int rk_edit_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 63 || lb > 63) return 99;
  int row[64];
  for (size_t j = 0; j <= lb; j++) row[j] = (int)j;
  for (size_t i = 1; i <= la; i++) {
    int diag = row[0];
    row[0] = (int)i;
    for (size_t j = 1; j <= lb; j++) {
      int up = row[j];
      int cost = a[i - 1] == b[j - 1] ? 0 : 1;
      int best = diag + cost;
      if (row[j] + 1 < best) best = row[j] + 1;
      if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
      row[j] = best;
      diag = up;
    }
  }
  return row[lb];
}

const char *rk_flags_suggest(const rk_flag *table, const char *name) {
  const char *best = NULL;
  int best_d = 1 << 30;
  const rk_flag *tables[2] = {table, global_flags};
  for (int t = 0; t < 2; t++) {
    for (const rk_flag *f = tables[t]; f && f->name; f++) {
      int d = rk_edit_distance(name, f->name);
      if (is_family(f->kind) && strncmp(name, f->name, strlen(f->name) - 1) == 0) d = 1;
      if (d < best_d) best_d = d, best = f->name;
    }
  }
  int limit = (int)strlen(name) / 3;
  if (limit < 2) limit = 2;
  return best_d <= limit ? best : NULL;
}

/* Find a flag by name in the command's table, then the globals; resolves aliases. */
typedef struct {
  const rk_flag *flag;
  void *opts;           /* the struct its field lives in */
  int given_index;      /* index into parse->given, -1 for globals */
  const char *family_key;
} lookup;

static bool find_flag(rk_flag_parse *p, const char *name, lookup *out) {
  memset(out, 0, sizeof *out);
  out->given_index = -1;
  for (int i = 0; p->table[i].name; i++) {
    const rk_flag *f = &p->table[i];
    if (is_family(f->kind)) continue;
    if (strcmp(f->name, name) == 0) {
      if (f->kind == RK_FLAG_ALIAS) return find_flag(p, f->default_value, out);
      out->flag = f, out->opts = p->opts, out->given_index = i;
      return true;
    }
  }
  for (const rk_flag *f = global_flags; f->name; f++) {
    if (strcmp(f->name, name) == 0) {
      out->flag = f, out->opts = &p->globals;
      return true;
    }
  }
  for (int i = 0; p->table[i].name; i++) {   /* families last: a real flag wins over a prefix */
    const rk_flag *f = &p->table[i];
    size_t n = strlen(f->name);
    if (is_family(f->kind) && strncmp(f->name, name, n) == 0 && name[n]) {
      out->flag = f, out->opts = p->opts, out->given_index = i, out->family_key = name + n;
      return true;
    }
  }
  return false;
}

static rk_status unknown_flag(rk_flag_parse *p, const char *name, const origin *at) {
  const char *near = rk_flags_suggest(p->table, name);
  char hint[300] = "";
  if (near) snprintf(hint, sizeof hint, "; did you mean '%s%s'?", at->file ? "" : "--", near);
  if (at->file)
    return rk_error(RK_EUSAGE, "unknown key '%s' in '%s' line %d: not a flag of 'reckon %s'%s", name, at->file,
                    at->line, p->command, hint);
  return rk_error(RK_EUSAGE, "unknown flag '--%s' for 'reckon %s'%s (see 'reckon %s --help')", name, p->command,
                  hint, p->command);
}

static void note_ignored(const rk_flag *f) {
  rk_log(RK_LOG_INFO, "note: --%s has no effect in reckon%s%s", f->name, f->help ? ": " : "", f->help ? f->help : "");
}

static rk_status apply(rk_flag_parse *p, const lookup *l, const char *value, const origin *at) {
  if (l->given_index >= 0) p->given[l->given_index] = 1;
  if (l->flag->kind == RK_FLAG_IGNORED) {
    note_ignored(l->flag);
    return RK_OK;
  }
  if (l->family_key) return set_family(p, l->opts, l->flag, l->family_key, value, at);
  return set_value(p, l->opts, l->flag, value, at);
}

/* ---- YAML config --------------------------------------------------------------------------- */

static rk_status load_config(rk_flag_parse *p, const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return rk_error(RK_EIO, "cannot open config file '%s': %s", path, strerror(errno));
  yaml_parser_t parser;
  yaml_document_t doc;
  yaml_parser_initialize(&parser);
  yaml_parser_set_input_file(&parser, f);
  rk_status st = RK_OK;
  if (!yaml_parser_load(&parser, &doc)) {
    st = rk_error(RK_EPARSE, "cannot parse config file '%s' line %zu: %s", path, parser.problem_mark.line + 1,
                  parser.problem ? parser.problem : "invalid YAML");
    yaml_parser_delete(&parser);
    fclose(f);
    return st;
  }
  yaml_node_t *root = yaml_document_get_root_node(&doc);
  if (root && root->type != YAML_MAPPING_NODE) {
    st = rk_error(RK_EPARSE, "config file '%s' line %zu: expected a mapping of flag names to values", path,
                  root->start_mark.line + 1);
  }
  for (yaml_node_pair_t *pair = root && !st ? root->data.mapping.pairs.start : NULL;
       pair && pair < root->data.mapping.pairs.top && st == RK_OK; pair++) {
    yaml_node_t *key = yaml_document_get_node(&doc, pair->key);
    yaml_node_t *val = yaml_document_get_node(&doc, pair->value);
    origin at = {path, (int)key->start_mark.line + 1};
    if (key->type != YAML_SCALAR_NODE) {
      st = rk_error(RK_EPARSE, "config file '%s' line %d: expected a flag name as key", path, at.line);
      break;
    }
    const char *name = (const char *)key->data.scalar.value;
    lookup l;
    if (!find_flag(p, name, &l) || strcmp(name, "config") == 0) {
      st = strcmp(name, "config") == 0
               ? rk_error(RK_EUSAGE, "config file '%s' line %d: 'config' cannot name another config file", path, at.line)
               : unknown_flag(p, name, &at);
      break;
    }
    if (val->type == YAML_SCALAR_NODE) {
      const char *text = (const char *)val->data.scalar.value;
      /* A bare `flag:` means true for booleans, like `--flag` on the command line. */
      if (l.flag->kind == RK_FLAG_BOOL && text[0] == '\0') text = "true";
      st = apply(p, &l, text, &at);
    } else if (val->type == YAML_SEQUENCE_NODE && is_list(l.flag->kind)) {
      /* Join the items with commas and split again: one path for both sources. Items are
       * checked before their text is read, and copied at a running end (strcat rescans the
       * whole string each time: quadratic in a long list). */
      size_t len = 1;
      for (yaml_node_item_t *it = val->data.sequence.items.start; it < val->data.sequence.items.top && !st; it++) {
        yaml_node_t *item = yaml_document_get_node(&doc, *it);
        if (item->type != YAML_SCALAR_NODE)
          st = rk_error(RK_EPARSE, "config file '%s' line %zu: '%s' items must be plain values", path,
                        item->start_mark.line + 1, name);
        else len += item->data.scalar.length + 1;
      }
      char *joined = st ? NULL : rk_arena_alloc(&p->arena, len, 1), *end = joined;
      if (!st && !joined) st = RK_ENOMEM;
      for (yaml_node_item_t *it = val->data.sequence.items.start; it < val->data.sequence.items.top && !st; it++) {
        yaml_node_t *item = yaml_document_get_node(&doc, *it);
        if (it != val->data.sequence.items.start) *end++ = ',';
        memcpy(end, item->data.scalar.value, item->data.scalar.length);
        end += item->data.scalar.length;
      }
      if (end) *end = '\0';
      if (st == RK_OK) {
        rk_flag tmp = *l.flag;   /* items may be empty strings: a LIST keeps them */
        tmp.kind = l.flag->kind == RK_FLAG_MULTI || l.flag->kind == RK_FLAG_REPEATED ? RK_FLAG_LIST
                   : l.flag->kind == RK_FLAG_MULTI_INTS                              ? RK_FLAG_INTS
                                                                                     : l.flag->kind;
        if (l.given_index >= 0) p->given[l.given_index] = 1;
        st = set_value(p, l.opts, &tmp, joined, &at);
      }
    } else {
      st = rk_error(RK_EPARSE, "config file '%s' line %d: expected a single value for '%s'%s", path, at.line, name,
                    is_list(l.flag->kind) ? " or a list" : "");
    }
  }
  yaml_document_delete(&doc);
  yaml_parser_delete(&parser);
  fclose(f);
  return st;
}

/* ---- the command line ---------------------------------------------------------------------- */

static bool is_flag_token(const char *t) { return t[0] == '-' && t[1] == '-' && t[2] != '\0'; }

static rk_status parse_args(rk_flag_parse *p, int argc, char **argv) {
  origin cmdline = {NULL, 0};
  for (int i = 0; i < argc; i++) {
    const char *tok = argv[i];
    if (strcmp(tok, "--") == 0) {
      while (++i < argc) p->positional[p->npositional++] = argv[i];
      break;
    }
    if (strcmp(tok, "-h") == 0) {
      p->globals.help = true;
      continue;
    }
    if (!is_flag_token(tok)) {
      p->positional[p->npositional++] = tok;
      continue;
    }
    /* --name=value or --name [value]; dashes inside names read as underscores */
    char name[256];
    const char *eq = strchr(tok + 2, '=');
    size_t nlen = eq ? (size_t)(eq - tok - 2) : strlen(tok + 2);
    if (nlen >= sizeof name) return rk_error(RK_EUSAGE, "flag '%.40s...' is too long", tok);
    memcpy(name, tok + 2, nlen);
    name[nlen] = '\0';
    for (char *c = name; *c; c++)
      if (*c == '-') *c = '_';
    lookup l;
    if (!find_flag(p, name, &l)) return unknown_flag(p, name, &cmdline);
    const rk_flag *f = l.flag;
    const char *next = i + 1 < argc ? argv[i + 1] : NULL;

    if (eq) {   /* MULTI: --f=a or --f=a,b */
      RK_TRY(apply(p, &l, eq + 1, &cmdline));
      continue;
    }
    bool dummy;
    switch (f->kind) {
      case RK_FLAG_BOOL:
        if (next && parse_bool_word(next, &dummy)) {
          RK_TRY(apply(p, &l, next, &cmdline));
          i++;
        } else {
          RK_TRY(apply(p, &l, "true", &cmdline));
        }
        break;
      case RK_FLAG_IGNORED:
        if (next && !is_flag_token(next)) i++;
        RK_TRY(apply(p, &l, "", &cmdline));
        break;
      case RK_FLAG_MULTI:
      case RK_FLAG_MULTI_INTS: {
        int first = i + 1, last = first;
        while (last < argc && !is_flag_token(argv[last])) last++;
        if (last == first)
          return rk_error(RK_EUSAGE, "flag --%s needs one or more values (%s)", f->name, kind_metavar(f));
        size_t len = 1;
        for (int k = first; k < last; k++) len += strlen(argv[k]) + 1;
        char *joined = rk_arena_alloc(&p->arena, len, 1);
        if (!joined) return RK_ENOMEM;
        joined[0] = '\0';
        for (int k = first; k < last; k++) {
          if (k > first) strcat(joined, " ");
          strcat(joined, argv[k]);
        }
        RK_TRY(apply(p, &l, joined, &cmdline));
        i = last - 1;
        break;
      }
      default:
        if (!next || is_flag_token(next))
          return rk_error(RK_EUSAGE, "flag --%s needs a value (%s)", name, kind_metavar(f));
        RK_TRY(apply(p, &l, next, &cmdline));
        i++;
        break;
    }
  }
  return RK_OK;
}

rk_status rk_flags_parse(rk_flag_parse *p, const char *command, const rk_flag *table, void *opts, int argc,
                         char **argv) {
  memset(p, 0, sizeof *p);
  p->command = command;
  p->table = table;
  p->opts = opts;
  rk_arena_init(&p->arena, 16 * 1024);
  int n = table_len(table);
  p->given = rk_arena_alloc(&p->arena, (size_t)n + 1, 1);
  p->positional = rk_arena_alloc(&p->arena, sizeof(char *) * (size_t)(argc + 1), 0);
  if (!p->given || !p->positional) return RK_ENOMEM;
  memset(p->given, 0, (size_t)n + 1);

  origin defaults = {"(defaults)", 0};
  for (int i = 0; i < n; i++) {
    const rk_flag *f = &table[i];
    if (has_field(f->kind) && !is_family(f->kind) && f->default_value) {
      rk_status s = set_value(p, opts, f, f->default_value, &defaults);
      if (s == RK_ENOMEM) return s;
      RK_ASSERT(s == RK_OK);   /* a bad default is our bug */
    }
  }
  for (const rk_flag *f = global_flags; f->name; f++) {
    if (f->default_value) {
      rk_status s = set_value(p, &p->globals, f, f->default_value, &defaults);
      if (s == RK_ENOMEM) return s;
      RK_ASSERT(s == RK_OK);
    }
  }

  /* --config first, so the command line can override what it sets */
  const char *config = NULL;
  for (int i = 0; i < argc; i++) {
    if (strcmp(argv[i], "--config") == 0) {
      if (i + 1 >= argc || is_flag_token(argv[i + 1]))
        return rk_error(RK_EUSAGE, "flag --config needs a value (FILE)");
      config = argv[i + 1];
    } else if (strncmp(argv[i], "--config=", 9) == 0) {
      config = argv[i] + 9;
    }
  }
  if (config) RK_TRY(load_config(p, config));
  return parse_args(p, argc, argv);
}

void rk_flags_free(rk_flag_parse *p) { rk_arena_free(&p->arena); }

bool rk_flags_given(const rk_flag_parse *p, const char *name) {
  for (int i = 0; p->table[i].name; i++)
    if (strcmp(p->table[i].name, name) == 0) return p->given[i] != 0;
  return false;
}

/* ---- the tables themselves ---------------------------------------------------------------- */

const rk_flag *rk_flags_global_table(void) { return global_flags; }

/* Whether a flag's values are numbers and so need a range: numeric kinds, and lists of text whose
 * default items are whole numbers (which should be INTS). */
static bool needs_range(const rk_flag *f) {
  if (f->kind == RK_FLAG_INT || f->kind == RK_FLAG_FLOAT || f->kind == RK_FLAG_FAMILY || is_ints(f->kind)) return true;
  if ((f->kind != RK_FLAG_LIST && f->kind != RK_FLAG_MULTI) || !f->default_value) return false;
  bool any = false;
  char item[64];
  for (const char *c = f->default_value; *c;) {
    size_t n = strcspn(c, ", ");
    int64_t v;
    snprintf(item, sizeof item, "%.*s", (int)(n < sizeof item ? n : sizeof item - 1), c);
    if (n && !parse_int_text(item, &v)) return false;
    any |= n > 0;
    c += n + (c[n] != '\0');
  }
  return any;
}

rk_status rk_flags_check_table(const char *command, const rk_flag *table) {
  size_t size = 0;   /* a scratch options struct the defaults can be parsed into */
  for (const rk_flag *f = table; f->name; f++)
    if (f->offset + sizeof(rk_flag_family) > size) size = f->offset + sizeof(rk_flag_family);
  rk_flag_parse scratch;
  memset(&scratch, 0, sizeof scratch);
  rk_arena_init(&scratch.arena, 4096);
  void *opts = rk_calloc(1, size);
  rk_status st = opts ? RK_OK : RK_ENOMEM;
  origin defaults = {NULL, 0};
  for (const rk_flag *f = table; st == RK_OK && f->name; f++) {
    if (f->kind == RK_FLAG_ALIAS || f->kind == RK_FLAG_IGNORED || f->kind == RK_FLAG_BOOL ||
        f->kind == RK_FLAG_STRING || f->kind == RK_FLAG_CHOICE)
      continue;
    rk_flag_range r;
    int found = rk_flag_range_parse(value_metavar(f), &r);
    if (found < 0)
      st = rk_error(RK_EINTERNAL, "flag table of '%s': --%s: cannot read the range in '%s' (write e.g. \"N in [1, 2^28]\", "
                                  "\"X > 0\")", command, f->name, f->metavar);
    else if (!found && needs_range(f))
      st = rk_error(RK_EINTERNAL, "flag table of '%s': --%s takes numbers but its metavar '%s' gives no range (write "
                                  "e.g. \"N in [1, 2^28]\", \"X > 0\")", command, f->name, f->metavar ? f->metavar : "");
    else if (!is_family(f->kind) && f->default_value && set_value(&scratch, opts, f, f->default_value, &defaults) != RK_OK)
      st = rk_error_context(RK_EINTERNAL, "flag table of '%s': the default of --%s", command, f->name);
  }
  rk_free(opts);
  rk_arena_free(&scratch.arena);
  return st;
}

/* ---- help and docs ------------------------------------------------------------------------- */

static const char *kind_word(rk_flag_kind k) {
  switch (k) {
    case RK_FLAG_BOOL: return "boolean";
    case RK_FLAG_INT: return "integer";
    case RK_FLAG_FLOAT: return "number";
    case RK_FLAG_STRING: return "text";
    case RK_FLAG_CHOICE: return "choice";
    case RK_FLAG_LIST: return "comma list";
    case RK_FLAG_MULTI: return "one or more values";
    case RK_FLAG_REPEATED: return "repeatable";
    case RK_FLAG_INTS: return "comma list";
    case RK_FLAG_MULTI_INTS: return "one or more values";
    case RK_FLAG_FAMILY: return "number per name";
    case RK_FLAG_FAMILY_TEXT: return "text per name";
    case RK_FLAG_ALIAS: return "alias";
    case RK_FLAG_IGNORED: return "accepted, no effect";
  }
  return "";
}

/* A family's key placeholder ("task" of "task: W >= 0") and its value's metavar. */
static void family_parts(const rk_flag *f, char *key, size_t size, const char **value) {
  const char *meta = f->metavar ? f->metavar : "name";
  const char *colon = strstr(meta, ": ");
  snprintf(key, size, "%.*s", colon ? (int)(colon - meta) : (int)strlen(meta), meta);
  *value = colon ? colon + 2 : f->kind == RK_FLAG_FAMILY ? "X" : "TEXT";
}

static void flag_usage(char *buf, size_t size, const rk_flag *f) {
  char key[64];
  const char *value;
  switch (f->kind) {
    case RK_FLAG_BOOL: snprintf(buf, size, "--%s [true|false]", f->name); break;
    case RK_FLAG_FAMILY:
    case RK_FLAG_FAMILY_TEXT:
      family_parts(f, key, sizeof key, &value);
      snprintf(buf, size, "--%s<%s> %s", f->name, key, value);
      break;
    case RK_FLAG_ALIAS: snprintf(buf, size, "--%s", f->name); break;
    case RK_FLAG_IGNORED: snprintf(buf, size, "--%s [VALUE]", f->name); break;
    default: snprintf(buf, size, "--%s %s", f->name, kind_metavar(f)); break;
  }
}

static void print_rows(FILE *out, const rk_flag *table) {
  for (const rk_flag *f = table; f->name; f++) {
    char left[160];
    flag_usage(left, sizeof left, f);
    fprintf(out, "  %-34s ", left);
    if (strlen(left) > 34) fprintf(out, "\n  %-34s ", "");
    if (f->kind == RK_FLAG_ALIAS) fprintf(out, "same as --%s\n", f->default_value);
    else if (f->kind == RK_FLAG_IGNORED) fprintf(out, "accepted for compatibility; no effect in reckon%s%s\n",
                                                 f->help ? ": " : "", f->help ? f->help : "");
    else if (f->default_value && f->default_value[0]) fprintf(out, "%s (default: %s)\n", f->help, f->default_value);
    else fprintf(out, "%s\n", f->help);
  }
}

void rk_flags_print_help(FILE *out, const char *command, const char *usage, const char *summary,
                         const rk_flag *table) {
  fprintf(out, "usage: %s\n\n%s\n\nflags:\n", usage, summary);
  (void)command;
  print_rows(out, table);
  fprintf(out, "\nglobal flags:\n");
  print_rows(out, global_flags);
}

static void md_rows(FILE *out, const rk_flag *table) {
  fprintf(out, "| flag | value | default | description |\n| --- | --- | --- | --- |\n");
  for (const rk_flag *f = table; f->name; f++) {
    const char *meta = f->kind == RK_FLAG_BOOL || f->kind == RK_FLAG_ALIAS || f->kind == RK_FLAG_IGNORED
                           ? ""
                           : kind_metavar(f);
    if (is_family(f->kind)) {
      char key[64];
      const char *value;
      family_parts(f, key, sizeof key, &value);
      fprintf(out, "| `--%s<%s>` | %s (%s) | | %s |\n", f->name, key, value, kind_word(f->kind), f->help);
    } else if (f->kind == RK_FLAG_ALIAS)
      fprintf(out, "| `--%s` | | | same as `--%s` |\n", f->name, f->default_value);
    else if (f->kind == RK_FLAG_IGNORED)
      fprintf(out, "| `--%s` | (%s) | | no effect in reckon%s%s |\n", f->name, kind_word(f->kind), f->help ? ": " : "",
              f->help ? f->help : "");
    else {
      fprintf(out, "| `--%s` | ", f->name);
      for (const char *c = meta; *c; c++) fputs(*c == '|' ? "\\|" : (char[]){*c, 0}, out);
      fprintf(out, "%s(%s) | %s%s%s | %s |\n", *meta ? " " : "", kind_word(f->kind),
              f->default_value && f->default_value[0] ? "`" : "", f->default_value ? f->default_value : "",
              f->default_value && f->default_value[0] ? "`" : "", f->help);
    }
  }
}

void rk_flags_write_markdown(FILE *out, const char *command, const char *usage, const char *summary,
                             const char *details, const rk_flag *table) {
  fprintf(out, "# reckon %s\n\n%s\n\n## Usage\n\n    %s\n\n", command, summary, usage);
  if (details && details[0]) fprintf(out, "%s\n\n", details);
  fprintf(out, "## Flags\n\n");
  md_rows(out, table);
  fprintf(out, "\n## Global flags\n\n");
  md_rows(out, global_flags);
  fprintf(out, "\nFlags take the forms `--flag=value` and `--flag value`; booleans also `--flag` alone and "
               "`--flag False`. Comma lists keep empty items (`--a=,x,y` has three). `--config FILE` reads the same "
               "flags from YAML (keys are flag names); flags on the command line win.\n\n"
               "_Generated from the flag table by `reckon docs`; do not edit by hand._\n");
}

json_t *rk_flags_to_json(const rk_flag_parse *parse) {
  json_t *o = json_object();
  for (const rk_flag *f = parse->table; o && f->name; f++) {
    if (!has_field(f->kind)) continue;
    const void *field = (const char *)parse->opts + f->offset;
    json_t *v = NULL;
    switch (f->kind) {
      case RK_FLAG_BOOL: v = json_boolean(*(const bool *)field); break;
      case RK_FLAG_INT: v = json_integer(*(const int64_t *)field); break;
      case RK_FLAG_FLOAT: v = json_real(*(const double *)field); break;
      case RK_FLAG_STRING:
      case RK_FLAG_CHOICE: {
        const char *s = *(const char *const *)field;
        v = s ? json_string(s) : json_null();
        break;
      }
      case RK_FLAG_LIST:
      case RK_FLAG_MULTI:
      case RK_FLAG_REPEATED: {
        const rk_strlist *l = field;
        v = json_array();
        for (int i = 0; v && i < l->n; i++) json_array_append_new(v, json_string(l->items[i]));
        break;
      }
      case RK_FLAG_INTS:
      case RK_FLAG_MULTI_INTS: {
        const rk_intlist *l = field;
        v = json_array();
        for (int i = 0; v && i < l->n; i++) json_array_append_new(v, json_integer(l->items[i]));
        break;
      }
      case RK_FLAG_FAMILY:
      case RK_FLAG_FAMILY_TEXT: {
        const rk_flag_family *fam = field;
        char key[256];
        for (int i = 0; i < fam->n; i++) {
          snprintf(key, sizeof key, "%s%s", f->name, fam->keys[i]);
          json_object_set_new(o, key, f->kind == RK_FLAG_FAMILY ? json_real(fam->values[i]) : json_string(fam->texts[i]));
        }
        continue;
      }
      case RK_FLAG_ALIAS:
      case RK_FLAG_IGNORED: continue;
    }
    if (v) json_object_set_new(o, f->name, v);
  }
  return o;
}
