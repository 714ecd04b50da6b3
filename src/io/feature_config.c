/*
 * recsys_main.py's --feature_config (reckon/io.h states the format and the checks): one YAML
 * document, a mapping of column names to mappings of settings, read with libyaml's document API
 * (as src/cli/flags.c reads --config). JSON needs no second parser: a JSON object is a YAML flow
 * mapping, and libyaml reports lines for both.
 *
 * The reference (hf4rec/recsys_meta_model.py) reads the file with PyYAML and looks keys up as it
 * builds the model; here the whole file is checked first, so a typo fails in a second, naming
 * its line, instead of as a KeyError or a silently ignored setting after the data has loaded.
 * It is not the Merlin schema (src/io/schema.c), which describes the same columns by tags.
 */
#include <errno.h>
#include <string.h>
#include <yaml.h>

#include "reckon/io.h"

static const char *const dtype_names[] = {
#define RK_FEATURE_DTYPE_NAME(name, text) text,
    RK_FEATURE_DTYPE_LIST(RK_FEATURE_DTYPE_NAME)
#undef RK_FEATURE_DTYPE_NAME
};

const char *rk_feature_dtype_name(rk_feature_dtype dtype) {
  return (unsigned)dtype < RK_FEATURE_DTYPE_COUNT ? dtype_names[dtype] : "unknown";
}

/* ---- scalars ---- */

typedef struct {
  const char *label;     /* the file, for messages */
  const char *column;
} where;

static const char *scalar_text(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }

static int line_of(const yaml_node_t *n) { return (int)n->start_mark.line + 1; }

/* PyYAML's booleans (YAML 1.1 without y/n); an empty value is None, which the reference reads
 * as false. */
static rk_status parse_bool(const where *w, const char *key, const yaml_node_t *v, bool *out) {
  static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"};
  static const char *const no[] = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF", "", "null", "~"};
  if (v->type == YAML_SCALAR_NODE) {
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
      if (strcmp(scalar_text(v), yes[i]) == 0) return *out = true, RK_OK;
    for (size_t i = 0; i < sizeof no / sizeof *no; i++)
      if (strcmp(scalar_text(v), no[i]) == 0) return *out = false, RK_OK;
  }
  return rk_error(RK_EPARSE, "feature config '%s' line %d: '%s' of column '%s' is '%s'; expected True or False", w->label,
                  line_of(v), key, w->column, v->type == YAML_SCALAR_NODE ? scalar_text(v) : "(not a value)");
}

static rk_status parse_cardinality(const where *w, const yaml_node_t *v, int64_t *out) {
  const char *t = v->type == YAML_SCALAR_NODE ? scalar_text(v) : "";
  int64_t n = 0;
  bool ok = t[0] != '\0';
  for (const char *c = t; *c && ok; c++) {
    ok = *c >= '0' && *c <= '9' && n <= (INT64_MAX - 9) / 10;
    if (ok) n = n * 10 + (*c - '0');
  }
  if (!ok || n < 1)
    return rk_error(RK_EPARSE, "feature config '%s' line %d: cardinality of column '%s' is '%s'; expected a whole number >= 1",
                    w->label, line_of(v), w->column, v->type == YAML_SCALAR_NODE ? t : "(not a value)");
  *out = n;
  return RK_OK;
}

static rk_status parse_string(const where *w, const char *key, const yaml_node_t *v, const char **out, rk_arena *arena) {
  if (v->type != YAML_SCALAR_NODE || v->data.scalar.length == 0)
    return rk_error(RK_EPARSE, "feature config '%s' line %d: '%s' of column '%s' must be a name", w->label, line_of(v), key,
                    w->column);
  *out = rk_arena_strdup(arena, scalar_text(v));
  return *out ? RK_OK : RK_ENOMEM;
}

/* ---- one column ---- */

static rk_status parse_column(rk_feature_config *c, yaml_document_t *doc, const char *label, const yaml_node_t *key,
                              const yaml_node_t *val, rk_feature_spec *f) {
  memset(f, 0, sizeof *f);
  f->line = line_of(key);
  f->name = rk_arena_strdup(&c->strings, scalar_text(key));
  if (!f->name) return RK_ENOMEM;
  where w = {label, f->name};
  if (val->type != YAML_MAPPING_NODE)
    return rk_error(RK_EPARSE, "feature config '%s' line %d: column '%s' needs a mapping of settings (dtype, cardinality, ...)",
                    label, f->line, f->name);
  bool has_dtype = false;
  int cardinality_line = 0, table_line = 0;
  for (yaml_node_pair_t *p = val->data.mapping.pairs.start; p < val->data.mapping.pairs.top; p++) {
    const yaml_node_t *k = yaml_document_get_node(doc, p->key), *v = yaml_document_get_node(doc, p->value);
    const char *name = k->type == YAML_SCALAR_NODE ? scalar_text(k) : "";
    if (strcmp(name, "dtype") == 0) {
      int d = 0;
      while (d < RK_FEATURE_DTYPE_COUNT && !(v->type == YAML_SCALAR_NODE && strcmp(scalar_text(v), dtype_names[d]) == 0)) d++;
      if (d == RK_FEATURE_DTYPE_COUNT)
        return rk_error(RK_EPARSE, "feature config '%s' line %d: dtype of column '%s' is '%s'; expected categorical, float, "
                        "long or timestamp", label, line_of(v), f->name, v->type == YAML_SCALAR_NODE ? scalar_text(v) : "");
      f->dtype = (rk_feature_dtype)d;
      has_dtype = true;
    } else if (strcmp(name, "cardinality") == 0) {
      RK_TRY(parse_cardinality(&w, v, &f->cardinality));
      cardinality_line = line_of(k);
    } else if (strcmp(name, "emb_table") == 0) {
      RK_TRY(parse_string(&w, name, v, &f->emb_table, &c->strings));
      table_line = line_of(k);
    } else if (strcmp(name, "is_label") == 0) {
      RK_TRY(parse_bool(&w, name, v, &f->is_label));
    } else if (strcmp(name, "is_control") == 0) {
      RK_TRY(parse_bool(&w, name, v, &f->is_control));
    } else if (strcmp(name, "log_with_preds_as_metadata") == 0) {
      RK_TRY(parse_bool(&w, name, v, &f->log_with_preds_as_metadata));
    } else {
      return rk_error(RK_EPARSE, "feature config '%s' line %d: column '%s' has an unknown key '%s' (dtype, cardinality, "
                      "emb_table, is_label, is_control, log_with_preds_as_metadata)", label, line_of(k), f->name, name);
    }
  }
  if (!has_dtype) return rk_error(RK_EPARSE, "feature config '%s' line %d: column '%s' has no dtype", label, f->line, f->name);
  if (f->dtype == RK_FEATURE_CATEGORICAL) {
    if (!cardinality_line)
      return rk_error(RK_EPARSE, "feature config '%s' line %d: categorical column '%s' has no cardinality", label, f->line,
                      f->name);
    if (!f->emb_table) f->emb_table = f->name;
  } else if (cardinality_line || table_line) {
    return rk_error(RK_EPARSE, "feature config '%s' line %d: %s of column '%s' is for categorical columns, not %s", label,
                    cardinality_line ? cardinality_line : table_line, cardinality_line ? "cardinality" : "emb_table", f->name,
                    dtype_names[f->dtype]);
  }
  if (f->dtype == RK_FEATURE_TIMESTAMP && !f->is_control)
    return rk_error(RK_EPARSE, "feature config '%s' line %d: timestamp column '%s' must have is_control: True (a timestamp is "
                    "not a model input)", label, f->line, f->name);
  if (f->is_label && f->dtype != RK_FEATURE_CATEGORICAL)
    return rk_error(RK_EPARSE, "feature config '%s' line %d: label column '%s' must be categorical (the item id), not %s", label,
                    f->line, f->name, dtype_names[f->dtype]);
  return RK_OK;
}

/* ---- the whole file ---- */

static rk_status check_columns(const rk_feature_config *c, const char *label) {
  int first_label = -1;
  for (int i = 0; i < c->n; i++) {
    const rk_feature_spec *f = &c->features[i];
    for (int j = 0; j < i; j++) {
      const rk_feature_spec *g = &c->features[j];
      if (strcmp(f->name, g->name) == 0)
        return rk_error(RK_EPARSE, "feature config '%s' line %d: column '%s' is declared again (first at line %d)", label,
                        f->line, f->name, g->line);
      if (f->emb_table && g->emb_table && strcmp(f->emb_table, g->emb_table) == 0 && f->cardinality != g->cardinality)
        return rk_error(RK_EPARSE, "feature config '%s' line %d: column '%s' gives table '%s' cardinality %lld, but column "
                        "'%s' (line %d) gives it %lld", label, f->line, f->name, f->emb_table, (long long)f->cardinality,
                        g->name, g->line, (long long)g->cardinality);
    }
    if (!f->is_label) continue;
    if (first_label < 0) {
      first_label = i;
    } else if (strcmp(f->emb_table, c->features[first_label].emb_table) != 0) {
      const rk_feature_spec *g = &c->features[first_label];
      return rk_error(RK_EPARSE, "feature config '%s' line %d: label columns '%s' and '%s' (line %d) look up different "
                      "tables ('%s', '%s'); only a session-aware copy of the item id may be a second label", label,
                      f->line, f->name, g->name, g->line, f->emb_table, g->emb_table);
    }
  }
  if (first_label < 0)
    return rk_error(RK_EPARSE, "feature config '%s': no column has is_label: True (the item id the model predicts)", label);
  return RK_OK;
}

static rk_status parse_document(rk_feature_config *c, yaml_document_t *doc, const char *label) {
  const yaml_node_t *root = yaml_document_get_root_node(doc);
  if (!root) return rk_error(RK_EPARSE, "feature config '%s' is empty: it needs a mapping of columns", label);
  if (root->type != YAML_MAPPING_NODE)
    return rk_error(RK_EPARSE, "feature config '%s' line %d: expected a mapping of column names to their settings", label,
                    line_of(root));
  int n = (int)(root->data.mapping.pairs.top - root->data.mapping.pairs.start);
  c->features = rk_calloc((size_t)n + 1, sizeof *c->features);
  if (!c->features) return rk_error_context(RK_ENOMEM, "feature config '%s'", label);
  for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
    const yaml_node_t *k = yaml_document_get_node(doc, p->key), *v = yaml_document_get_node(doc, p->value);
    if (k->type != YAML_SCALAR_NODE || k->data.scalar.length == 0)
      return rk_error(RK_EPARSE, "feature config '%s' line %d: expected a column name", label, line_of(k));
    RK_TRY(parse_column(c, doc, label, k, v, &c->features[c->n]));
    c->n++;
  }
  if (c->n == 0) return rk_error(RK_EPARSE, "feature config '%s' declares no columns", label);
  RK_TRY(check_columns(c, label));
  for (c->label = 0; !c->features[c->label].is_label; c->label++) {
  }
  return RK_OK;
}

rk_status rk_feature_config_parse(rk_feature_config *out, const char *text, size_t size, const char *label) {
  memset(out, 0, sizeof *out);
  rk_arena_init(&out->strings, 4096);
  yaml_parser_t parser;
  yaml_document_t doc;
  if (!yaml_parser_initialize(&parser)) return rk_error_context(RK_ENOMEM, "a YAML parser");
  yaml_parser_set_input_string(&parser, (const unsigned char *)text, size);
  rk_status st = RK_OK;
  if (!yaml_parser_load(&parser, &doc)) {
    st = parser.error == YAML_MEMORY_ERROR
             ? rk_error_context(RK_ENOMEM, "feature config '%s'", label)
             : rk_error(RK_EPARSE, "cannot parse feature config '%s' line %zu: %s", label, parser.problem_mark.line + 1,
                        parser.problem ? parser.problem : "invalid YAML");
  } else {
    st = parse_document(out, &doc, label);
    yaml_document_delete(&doc);
  }
  yaml_parser_delete(&parser);
  if (st != RK_OK) rk_feature_config_free(out);
  return st;
}

rk_status rk_feature_config_read(rk_feature_config *out, const char *path) {
  memset(out, 0, sizeof *out);
  char *text = NULL;
  size_t size = 0;
  rk_status st = rk_read_file(path, &text, &size);
  if (st != RK_OK) return rk_error_context(st, "--feature_config");
  st = rk_feature_config_parse(out, text, size, path);
  rk_free(text);
  return st;
}

int rk_feature_config_find(const rk_feature_config *c, const char *name) {
  for (int i = 0; i < c->n; i++)
    if (strcmp(c->features[i].name, name) == 0) return i;
  return -1;
}

void rk_feature_config_free(rk_feature_config *c) {
  rk_free(c->features);
  rk_arena_free(&c->strings);
  memset(c, 0, sizeof *c);
}
