/*
 * Model folders: everything serving or `reckon evaluate`/`predict` needs, in one place.
 *   model.json            {"format": "reckon-model", "version": 1, "task", "regression",
 *                          "model": {the architecture's flags}, "features": {...}, ...}
 *   weights.safetensors   every parameter by name (tables whole), f32
 *   schema.pbtxt, .merlin/schema.json   the training data's schema
 *   workflow/             the preprocessing workflow the data came from, when known
 * Checkpoints reuse the weights file, adding each optimizer slot as "<param>/<slot>".
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reckon/etl.h"
#include "reckon/io.h"
#include "reckon/sessions.h"
#include "ranking_internal.h"
#include "session_internal.h"

static const char *const wnd_parts_names[] = {"wide_n_deep", "wide", "deep"};   /* rk_wnd_parts order */

/* ---- the settings, both ways, from reckon/models.h's RK_RANKING_SETTINGS ---- */

/* Where model.json keeps a setting (the table's section): its "model" object or the "multi_task"
 * object in it. */
enum { SECTION_ARCH = 0, SECTION_TRAIN = 0, SECTION_MTL = 1 };

static json_t *ints_json(const int64_t *l, int n) {
  json_t *a = json_array();
  for (int i = 0; a && i < n; i++) json_array_append_new(a, json_integer(l[i]));
  return a;
}

static json_t *strings_json(const char *const *l, int n) {
  json_t *a = json_array();
  for (int i = 0; a && i < n; i++) json_array_append_new(a, json_string(l[i]));
  return a;
}

static json_t *switch_json(const char *choices, bool on) {
  const char *word;
  int n = rk_setting_switch_word(choices, on, &word);
  return json_stringn(word, (size_t)n);
}

#define TO_JSON_INTS(c, field, meta) ints_json(c->field, c->n_##field)
#define TO_JSON_INT(c, field, meta) json_integer(c->field)
#define TO_JSON_SIZE(c, field, meta) json_integer((json_int_t)c->field)
#define TO_JSON_SEED(c, field, meta) json_integer((json_int_t)c->field)
#define TO_JSON_REAL(c, field, meta) json_real((double)c->field)
#define TO_JSON_REAL64(c, field, meta) json_real(c->field)
#define TO_JSON_BOOL(c, field, meta) json_boolean(c->field)
#define TO_JSON_SWITCH(c, field, meta) switch_json(meta, c->field)
#define TO_JSON_STRINGS(c, field, meta) strings_json(c->field, c->n_##field)
#define TO_JSON_MODEL(c, field, meta) json_string(rk_model_kind_name(c->field))
#define TO_JSON_ACT(c, field, meta) json_string(rk_act_name(c->field))
#define TO_JSON_INIT(c, field, meta) json_string(rk_init_kind_name(c->field))
#define TO_JSON(kind, field, flag, section, meta, help, ...) \
  json_object_set_new(sections[SECTION_##section], #flag, TO_JSON_##kind(c, field, meta));

json_t *rk_ranking_config_to_json(const rk_ranking_config *c) {
  json_t *top = json_object(), *mtl = json_object();
  if (!top || !mtl) {
    json_decref(top);
    json_decref(mtl);
    return NULL;
  }
  json_t *sections[] = {top, mtl};
  RK_RANKING_SETTINGS(TO_JSON)
  if (c->n_task_towers) {   /* only when given: model files without it read as before */
    json_t *towers = json_object();
    for (int k = 0; towers && k < c->n_task_towers; k++)
      json_object_set_new(towers, c->task_towers[k].task, ints_json(c->task_towers[k].layers, c->task_towers[k].n_layers));
    json_object_set_new(mtl, "task_tower_layers", towers);
  }
  json_object_set_new(top, "multi_task", mtl);
  json_object_set_new(top, "layout", json_pack("{ss ss sb sb}", "wide", c->wide_layout == RK_WIDE_LINEAR ? "linear" : "crosses",
                                               "parts", wnd_parts_names[c->wnd_parts], "schema_dims", c->schema_dims,
                                               "tf_embedding_init", c->tf_embedding_init));
  return top;
}

/* The optional "layout" section (absent in model files from before it: the defaults). */
static rk_status layout_from_json(rk_ranking_config *c, const json_t *j, const char *label) {
  if (!j) return RK_OK;
  const char *wide = NULL, *parts = NULL;
  int dims = 0, tf_init = 0;
  json_error_t err;
  if (json_unpack_ex((json_t *)j, &err, 0, "{ss ss sb sb}", "wide", &wide, "parts", &parts, "schema_dims", &dims,
                     "tf_embedding_init", &tf_init) != 0)
    return rk_error(RK_EFORMAT, "%s: \"layout\": %s", label, err.text);
  if (strcmp(wide, "linear") && strcmp(wide, "crosses"))
    return rk_error(RK_EFORMAT, "%s: layout.wide is '%s'; expected linear or crosses", label, wide);
  c->wide_layout = strcmp(wide, "linear") == 0 ? RK_WIDE_LINEAR : RK_WIDE_CROSSES;
  int k = 0;
  while (k < 3 && strcmp(parts, wnd_parts_names[k])) k++;
  if (k == 3) return rk_error(RK_EFORMAT, "%s: layout.parts is '%s'; expected wide_n_deep, wide or deep", label, parts);
  c->wnd_parts = (rk_wnd_parts)k;
  c->schema_dims = dims;
  c->tf_embedding_init = tf_init;
  return RK_OK;
}

/* A positive-integer list from JSON, owned by the caller. */
static rk_status int_list(const json_t *a, const char *label, const char *key, const int64_t **out, int *n) {
  if (!json_is_array(a)) return rk_error(RK_EFORMAT, "%s: %s must be an array", label, key);
  int64_t *l = rk_calloc(json_array_size(a) + 1, sizeof *l);
  if (!l) return RK_ENOMEM;
  *out = l;
  *n = 0;
  size_t i;
  json_t *v;
  json_array_foreach(a, i, v) {
    if (!json_is_integer(v) || json_integer_value(v) <= 0)
      return rk_error(RK_EFORMAT, "%s: %s[%zu] is not a positive integer", label, key, i);
    l[(*n)++] = json_integer_value(v);
  }
  return RK_OK;
}

/* A list of strings from JSON, owned by the caller (each string too). */
static rk_status string_list(const json_t *a, const char *label, const char *key, const char *const **out, int *n) {
  if (!json_is_array(a)) return rk_error(RK_EFORMAT, "%s: %s must be an array", label, key);
  const char **l = rk_calloc(json_array_size(a) + 1, sizeof *l);
  if (!l) return RK_ENOMEM;
  *out = l;
  *n = 0;
  size_t i;
  json_t *v;
  json_array_foreach(a, i, v) {
    if (!json_is_string(v)) return rk_error(RK_EFORMAT, "%s: %s[%zu] is not a string", label, key, i);
    if (!(l[*n] = rk_strdup(json_string_value(v)))) return RK_ENOMEM;
    (*n)++;
  }
  return RK_OK;
}

/* A copy of a default list, so that a config read from JSON owns all its lists. */
static rk_status own_ints(const int64_t **l, const int64_t *from, int n) {
  int64_t *copy = rk_calloc((size_t)n + 1, sizeof *copy);
  if (!copy) return RK_ENOMEM;
  if (n) memcpy(copy, from, (size_t)n * sizeof *copy);
  *l = copy;
  return RK_OK;
}

static rk_status expected(const char *label, const char *key, const char *what) {
  return rk_error(RK_EFORMAT, "%s: \"%s\" must be %s", label, key, what);
}

static rk_status integer_json(const json_t *v, const char *label, const char *key, json_int_t *out) {
  if (!json_is_integer(v)) return expected(label, key, "an integer");
  *out = json_integer_value(v);
  return RK_OK;
}

static rk_status number_json(const json_t *v, const char *label, const char *key, double *out) {
  if (!json_is_number(v)) return expected(label, key, "a number");
  *out = json_number_value(v);
  return RK_OK;
}

static rk_status text_json(const json_t *v, const char *label, const char *key, const char **out) {
  if (!json_is_string(v)) return expected(label, key, "a string");
  *out = json_string_value(v);
  return RK_OK;
}

static rk_status switch_from_json(const json_t *v, const char *label, const char *key, const char *choices, bool *out) {
  const char *word = NULL, *off;
  RK_TRY(text_json(v, label, key, &word));
  int n = rk_setting_switch_word(choices, false, &off);
  if (!rk_setting_switch_on(choices, word) && !((int)strlen(word) == n && strncmp(word, off, (size_t)n) == 0))
    return expected(label, key, choices);
  *out = rk_setting_switch_on(choices, word);
  return RK_OK;
}

#define FROM_JSON_INTS(v, c, field, key, meta) \
  rk_free((void *)c->field), c->field = NULL, c->n_##field = 0, st = int_list(v, label, key, &c->field, &c->n_##field);
#define FROM_JSON_INT(v, c, field, key, meta) st = integer_json(v, label, key, &i), c->field = (int)i;
#define FROM_JSON_SIZE(v, c, field, key, meta) st = integer_json(v, label, key, &i), c->field = (int64_t)i;
#define FROM_JSON_SEED(v, c, field, key, meta) st = integer_json(v, label, key, &i), c->field = (uint64_t)i;
#define FROM_JSON_REAL(v, c, field, key, meta) st = number_json(v, label, key, &x), c->field = (float)x;
#define FROM_JSON_REAL64(v, c, field, key, meta) st = number_json(v, label, key, &c->field);
#define FROM_JSON_BOOL(v, c, field, key, meta) \
  st = json_is_boolean(v) ? (c->field = json_is_true(v), RK_OK) : expected(label, key, "true or false");
#define FROM_JSON_SWITCH(v, c, field, key, meta) st = switch_from_json(v, label, key, meta, &c->field);
#define FROM_JSON_STRINGS(v, c, field, key, meta) st = string_list(v, label, key, &c->field, &c->n_##field);
#define FROM_JSON_MODEL(v, c, field, key, meta) \
  st = text_json(v, label, key, &text); if (st == RK_OK) st = rk_model_kind_parse(text, &c->field);
#define FROM_JSON_ACT(v, c, field, key, meta) \
  st = text_json(v, label, key, &text); if (st == RK_OK) st = rk_act_parse(text, &c->field);
#define FROM_JSON_INIT(v, c, field, key, meta) \
  st = text_json(v, label, key, &text); if (st == RK_OK) st = rk_init_kind_parse(text, &c->field);
/* A present section must hold every one of its settings; an absent "multi_task" (a single-task
 * model file from before it) keeps the defaults. */
#define FROM_JSON(kind, field, flag, section, meta, help, ...)                                          \
  if (sections[SECTION_##section]) {                                                                \
    json_t *v = json_object_get(sections[SECTION_##section], #flag);                               \
    if (!v) return rk_error(RK_EFORMAT, "%s: \"%s\" has no \"%s\"", label, section_names[SECTION_##section], #flag); \
    FROM_JSON_##kind(v, c, field, #flag, meta)                                                      \
    if (st != RK_OK) return st;                                                                     \
  }

/* The lists among the settings: LISTS(ints, strings, field) applies `ints` to an INTS setting,
 * `strings` to a STRINGS one, and nothing to the others. */
#define LISTS_INTS(ints, strings, field) ints(field)
#define LISTS_STRINGS(ints, strings, field) strings(field)
#define LISTS_NONE(ints, strings, field)
#define LISTS_INT LISTS_NONE
#define LISTS_SIZE LISTS_NONE
#define LISTS_SEED LISTS_NONE
#define LISTS_REAL LISTS_NONE
#define LISTS_REAL64 LISTS_NONE
#define LISTS_BOOL LISTS_NONE
#define LISTS_SWITCH LISTS_NONE
#define LISTS_MODEL LISTS_NONE
#define LISTS_ACT LISTS_NONE
#define LISTS_INIT LISTS_NONE

#define FREE_INTS(field) rk_free((void *)c->field), c->field = NULL, c->n_##field = 0;
#define FREE_STRINGS(field)                                                        \
  for (int i = 0; c->field && i < c->n_##field; i++) rk_free((void *)c->field[i]); \
  rk_free((void *)c->field), c->field = NULL, c->n_##field = 0;
#define FREE_LIST(kind, field, flag, section, meta, help, ...) LISTS_##kind(FREE_INTS, FREE_STRINGS, field)

void rk_ranking_config_free_lists(rk_ranking_config *c) {
  RK_RANKING_SETTINGS(FREE_LIST)
  for (int k = 0; c->task_towers && k < c->n_task_towers; k++) {
    rk_free((void *)c->task_towers[k].task);
    rk_free((void *)c->task_towers[k].layers);
  }
  rk_free((void *)c->task_towers);
  c->task_towers = NULL;
  c->n_task_towers = 0;
}

/* The optional multi_task.task_tower_layers, {"task": [units, ...]} (--mtl_tower_layers_<task>). */
static rk_status task_towers_from_json(rk_ranking_config *c, const json_t *j, const char *label) {
  if (!j) return RK_OK;
  if (!json_is_object(j)) return rk_error(RK_EFORMAT, "%s: multi_task.task_tower_layers must be an object", label);
  rk_task_tower *towers = rk_calloc(json_object_size(j) + 1, sizeof *towers);
  if (!(c->task_towers = towers)) return RK_ENOMEM;
  const char *task;
  json_t *layers;
  json_object_foreach((json_t *)j, task, layers) {
    rk_task_tower *t = &towers[c->n_task_towers++];
    if (!(t->task = rk_strdup(task))) return RK_ENOMEM;
    RK_TRY(int_list(layers, label, "task_tower_layers", &t->layers, &t->n_layers));
  }
  return RK_OK;
}

#define NO_INTS(field) c->field = NULL, c->n_##field = 0;
#define NO_LIST(kind, field, flag, section, meta, help, ...) LISTS_##kind(NO_INTS, NO_INTS, field)
#define OWN_INTS(field)                            \
  RK_TRY(own_ints(&c->field, d.field, d.n_##field)); \
  c->n_##field = d.n_##field;
#define OWN_LIST(kind, field, flag, section, meta, help, ...) LISTS_##kind(OWN_INTS, LISTS_NONE_ONE, field)
#define LISTS_NONE_ONE(field)

rk_status rk_ranking_config_from_json(rk_ranking_config *c, const json_t *j, const char *label) {
  static const char *const section_names[] = {"model", "multi_task"};
  rk_ranking_config_default(c);
  /* Every list is owned from here on, the defaults too, so rk_ranking_config_free_lists can free
   * them whatever fails. */
  rk_ranking_config d = *c;
  RK_RANKING_SETTINGS(NO_LIST)
  RK_RANKING_SETTINGS(OWN_LIST)
  const json_t *mtl = json_object_get(j, "multi_task");
  const json_t *sections[] = {j, mtl};
  rk_status st = RK_OK;
  json_int_t i = 0;
  double x = 0;
  const char *text = NULL;
  RK_RANKING_SETTINGS(FROM_JSON)
  (void)i, (void)x, (void)text;
  RK_TRY(layout_from_json(c, json_object_get(j, "layout"), label));
  return task_towers_from_json(c, json_object_get(mtl, "task_tower_layers"), label);
}

/* ---- weights ---- */

/* A checkpoint's tables held elsewhere: their names, comma-separated, or "" (the caller frees). */
static char *held_elsewhere(const rk_model *m) {
  size_t len = 1;
  for (int i = 0; i < m->n_params; i++)
    if (m->params[i]->fetched) len += strlen(m->params[i]->name) + 1;
  char *s = rk_malloc(len);
  if (!s) return NULL;
  s[0] = 0;
  for (int i = 0; i < m->n_params; i++)
    if (m->params[i]->fetched) snprintf(s + strlen(s), len - strlen(s), "%s%s", s[0] ? "," : "", m->params[i]->name);
  return s;
}

rk_status rk_model_write_weights(const char *path, const rk_model *m, const rk_optim_set *opts,
                                 const char *const *meta_keys, const char *const *meta_values, int nmeta) {
  int n = 0;
  for (int i = 0; i < m->n_params; i++)
    if (!(opts && m->params[i]->fetched)) n += 1 + (opts ? rk_optim_set_slots(opts, i) : 0);
  rk_st_tensor *t = rk_calloc((size_t)n + 1, sizeof *t);
  char **names = rk_calloc((size_t)n + 1, sizeof *names);
  rk_status st = t && names ? RK_OK : RK_ENOMEM;
  for (int i = 0, k = 0; st == RK_OK && i < m->n_params; i++) {
    const rk_param *p = m->params[i];
    if (opts && p->fetched) continue;   /* a checkpoint's sharded table: in its own folder */
    int per = 1 + (opts ? rk_optim_set_slots(opts, i) : 0);
    for (int s = 0; st == RK_OK && s < per; s++, k++) {
      rk_st_tensor *x = &t[k];
      x->dtype = RK_DT_F32;
      x->ndim = p->value.ndim;
      x->shape = p->value.shape;
      if (s == 0) {
        x->name = p->name;
        x->data = p->value.data;
        if (p->fetched) x->read_rows = p->fetched->read_rows, x->ctx = p->fetched->ctx;   /* held elsewhere */
        continue;
      }
      const char *slot;
      x->data = rk_optim_set_slot(opts, i, s - 1, &slot);
      size_t len = strlen(p->name) + strlen(slot) + 2;
      if (!(names[k] = rk_malloc(len))) {
        st = RK_ENOMEM;
        break;
      }
      snprintf(names[k], len, "%s/%s", p->name, slot);
      x->name = names[k];
    }
  }
  /* the metadata, with the tables held elsewhere named when a checkpoint leaves some out */
  char *held = opts ? held_elsewhere(m) : NULL;
  const char **keys = rk_calloc((size_t)nmeta + 2, sizeof *keys), **vals = rk_calloc((size_t)nmeta + 2, sizeof *vals);
  if (st == RK_OK && (!keys || !vals || (opts && !held))) st = RK_ENOMEM;
  int nm = 0;
  for (int i = 0; st == RK_OK && i < nmeta; i++, nm++) keys[nm] = meta_keys[i], vals[nm] = meta_values[i];
  if (st == RK_OK && held && held[0]) keys[nm] = RK_HELD_ELSEWHERE, vals[nm++] = held;
  if (st == RK_OK) st = rk_safetensors_write(path, t, n, keys, vals, nm);
  rk_free(held);
  rk_free(keys);
  rk_free(vals);
  for (int i = 0; names && i < n; i++) rk_free(names[i]);
  rk_free(names);
  rk_free(t);
  return st;
}

static rk_status read_tensor(const rk_safetensors *f, const char *path, const char *name, const rk_tensor *like,
                             float *dst) {
  rk_st_tensor x;
  RK_TRY(rk_safetensors_find(f, name, &x));
  bool same = x.dtype == RK_DT_F32 && x.ndim == like->ndim;
  for (int d = 0; same && d < x.ndim; d++) same = x.shape[d] == like->shape[d];
  if (!same) {
    char want[64] = "", got[64] = "";
    for (int d = 0; d < like->ndim; d++)
      snprintf(want + strlen(want), sizeof want - strlen(want), "%s%lld", d ? "x" : "", (long long)like->shape[d]);
    for (int d = 0; d < x.ndim; d++)
      snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? "x" : "", (long long)x.shape[d]);
    return rk_error(RK_ESHAPE, "'%s': tensor '%s' is %s %s; the model expects F32 %s", path, name,
                    x.dtype == RK_DT_F32 ? "F32" : "not", got, want);
  }
  /* Every weight a model or checkpoint is made of passes here: a NaN or an infinity would give
   * "nan" predictions or a silent AUC of 0.5, so it is refused by name and index. */
  int64_t n = rk_tensor_numel(like);
  memcpy(dst, x.data, (size_t)n * sizeof(float));
  for (int64_t i = 0; i < n; i++)
    if (!isfinite(dst[i]))
      return rk_error(RK_EFORMAT, "'%s': tensor '%s' holds %s at index %lld (of %lld); a model's weights must be finite",
                      path, name, isnan(dst[i]) ? "NaN" : dst[i] > 0 ? "+inf" : "-inf", (long long)i, (long long)n);
  return RK_OK;
}

rk_status rk_model_read_weights(const char *path, const rk_model *m, rk_optim_set *opts) {
  rk_safetensors *f;
  RK_TRY(rk_safetensors_read(&f, path));
  rk_status st = RK_OK;
  char name[160];
  const char *held = rk_safetensors_metadata(f, RK_HELD_ELSEWHERE);
  for (int i = 0; st == RK_OK && i < m->n_params; i++) {
    rk_param *p = m->params[i];
    /* the caller loads these: a table in its own folder, or one this run holds elsewhere */
    if (rk_name_listed(held, p->name) || p->fetched) continue;
    st = read_tensor(f, path, p->name, &p->value, p->value.data);
    for (int s = 0; st == RK_OK && opts && s < rk_optim_set_slots(opts, i); s++) {
      const char *slot;
      float *dst = rk_optim_set_slot(opts, i, s, &slot);
      snprintf(name, sizeof name, "%s/%s", p->name, slot);
      st = read_tensor(f, path, name, &p->value, dst);
    }
  }
  rk_safetensors_free(f);
  return st;
}

/* ---- the folder ---- */

static json_t *features_json(const rk_ranking_model *m) {
  json_t *cat = json_array(), *cont = json_array();
  for (int i = 0; i < m->n_cat; i++)
    json_array_append_new(cat, json_pack("{ss sI sI}", "name", m->cat_names[i], "cardinality",
                                         (json_int_t)m->cardinality[i], "dim", (json_int_t)m->dims[i]));
  for (int i = 0; i < m->n_cont; i++) json_array_append_new(cont, json_string(m->cont_names[i]));
  return json_pack("{so so}", "categorical", cat, "continuous", cont);
}

json_t *rk_ranking_describe(const rk_ranking_model *m) {
  return json_pack("{so so}", "model", rk_ranking_config_to_json(&m->cfg), "features", features_json(m));
}

static char *join(const char *a, const char *b) {
  size_t n = strlen(a) + strlen(b) + 2;
  char *s = rk_malloc(n);
  if (s) snprintf(s, n, "%s/%s", a, b);
  return s;
}

rk_status rk_model_save(const char *dir, const rk_model *m, const rk_schema *schema, const char *workflow_dir,
                        const json_t *extra) {
  /* The caller claimed `dir` (rk_output_check_dir); the staged folder carries the marker that lets
   * the next save replace it. */
  char *tmp = rk_temp_path(dir), *path = NULL;
  if (!tmp) return RK_ENOMEM;
  rk_status st = rk_mkdir_p(tmp);
  if (st == RK_OK) st = rk_output_mark(tmp, "model", NULL);
  json_t *tasks = json_array(), *regs = json_array();
  for (int t = 0; tasks && regs && t < m->out.n_tasks; t++) {
    json_array_append_new(tasks, json_string(m->out.targets[t]));
    json_array_append_new(regs, json_boolean(m->out.regression[t]));
  }
  /* A family with tasks (ranking) names them; another family says which it is, for
   * rk_model_load. */
  json_t *meta = m->out.n_tasks > 0
                     ? json_pack("{ss si ss ss sb so so}", "format", "reckon-model", "version", 1, "reckon_version",
                                 rk_version(), "task", m->out.targets[0], "regression", m->out.regression[0], "tasks",
                                 tasks, "task_regression", regs)
                     : json_pack("{ss si ss ss}", "format", "reckon-model", "version", 1, "reckon_version", rk_version(),
                                 "family", m->ops->family);
  if (m->out.n_tasks == 0) {
    json_decref(tasks);
    json_decref(regs);
  }
  json_t *family = m->ops->describe(m);   /* the family's keys ("model", "features") */
  if (!meta || !family) st = st == RK_OK ? RK_ENOMEM : st;
  if (meta && family) json_object_update(meta, family);
  json_decref(family);
  if (st == RK_OK && extra) json_object_update(meta, (json_t *)extra);
  if (st == RK_OK && !(path = join(tmp, "model.json"))) st = RK_ENOMEM;
  if (st == RK_OK) {
    char *text = json_dumps(meta, JSON_INDENT(2) | JSON_SORT_KEYS);
    st = text ? rk_write_file_atomic(path, text, strlen(text)) : RK_ENOMEM;
    free(text);
  }
  rk_free(path);
  path = NULL;
  if (st == RK_OK && !(path = join(tmp, "weights.safetensors"))) st = RK_ENOMEM;
  const char *keys[] = {"format"}, *vals[] = {"reckon"};
  if (st == RK_OK) st = rk_model_write_weights(path, m, NULL, keys, vals, 1);
  rk_free(path);
  path = NULL;
  if (st == RK_OK) st = rk_schema_write_dataset(schema, tmp);
  if (st == RK_OK && workflow_dir) {
    if (!(path = join(tmp, "workflow"))) st = RK_ENOMEM;
    if (st == RK_OK) st = rk_copy_tree(workflow_dir, path);
    rk_free(path);
  }
  if (st == RK_OK) st = rk_replace_dir(tmp, dir);
  if (st != RK_OK) {
    rk_status keep = st;
    rk_remove_tree(tmp);
    st = rk_error_context(keep, "cannot save the model to '%s'", dir);
  }
  json_decref(meta);
  rk_free(tmp);
  return st;
}

/* A session model's folder ("family": "session"): its settings and features from model.json. */
static rk_status load_session(rk_saved_model *out, const char *path) {
  json_t *model = json_object_get(out->meta, "model");
  rk_session_config c;
  rk_session_features f;
  RK_TRY(rk_session_config_from_json(&c, model, path));
  RK_TRY(rk_session_features_from_json(&f, json_object_get(out->meta, "features"), path));
  rk_status st = rk_session_build(&out->model, &f, &c, 1, true);
  rk_session_features_free(&f);
  return st;
}

rk_status rk_model_load(rk_saved_model *out, const char *dir) {
  memset(out, 0, sizeof *out);
  rk_schema_init(&out->schema);
  char *path = join(dir, "model.json");
  if (!path) return RK_ENOMEM;
  json_error_t err;
  rk_status st = RK_OK;
  out->meta = json_load_file(path, 0, &err);
  if (!out->meta) {
    struct stat sb;
    st = stat(dir, &sb) != 0 ? rk_error(RK_ENOTFOUND, "no model at '%s': the folder does not exist", dir)
                             : rk_error(RK_EFORMAT, "'%s' is not a reckon model folder: %s: %s", dir, path, err.text);
  }
  const char *family = st == RK_OK ? json_string_value(json_object_get(out->meta, "family")) : NULL;
  if (family && strcmp(family, "session") == 0) {
    st = load_session(out, path);
    if (st == RK_OK) st = rk_schema_read(&out->schema, dir);
    rk_free(path);
    path = NULL;
    if (st == RK_OK && !(path = join(dir, "weights.safetensors"))) st = RK_ENOMEM;
    if (st == RK_OK) st = rk_model_read_weights(path, out->model, NULL);
    rk_free(path);
    if (st != RK_OK) rk_saved_model_free(out);
    return st;
  }
  if (family && strcmp(family, "ranking") != 0) {
    st = rk_error(RK_EFORMAT, "'%s': family '%s' is not one reckon knows (ranking, session)", path, family);
    rk_free(path);
    rk_saved_model_free(out);
    return st;
  }
  const char *format = NULL, *task = NULL;
  int regression = 0;
  json_t *model = NULL;
  if (st == RK_OK && json_unpack_ex(out->meta, &err, 0, "{ss ss sb so}", "format", &format, "task", &task,
                                    "regression", &regression, "model", &model) != 0)
    st = rk_error(RK_EFORMAT, "'%s': %s", path, err.text);
  if (st == RK_OK && strcmp(format, "reckon-model") != 0)
    st = rk_error(RK_EFORMAT, "'%s': format is '%s', expected 'reckon-model'", path, format);
  rk_ranking_config cfg;
  memset(&cfg, 0, sizeof cfg);
  if (st == RK_OK) st = rk_ranking_config_from_json(&cfg, model, path);
  rk_schema_free(&out->schema);
  if (st == RK_OK) st = rk_schema_read(&out->schema, dir);
  /* Several tasks ("tasks", "task_regression"), or one ("task", "regression"). */
  const char *names[RK_MAX_TASKS] = {task};
  bool regs[RK_MAX_TASKS] = {regression != 0};
  int n = 1;
  json_t *tl = json_object_get(out->meta, "tasks"), *rl = json_object_get(out->meta, "task_regression");
  if (st == RK_OK && json_is_array(tl)) {
    n = (int)json_array_size(tl);
    if (n < 1 || n > RK_MAX_TASKS || !json_is_array(rl) || json_array_size(rl) != (size_t)n)
      st = rk_error(RK_EFORMAT, "'%s': \"tasks\" and \"task_regression\" must be arrays of 1 to %d entries", path,
                    RK_MAX_TASKS);
    for (int t = 0; st == RK_OK && t < n; t++) {
      names[t] = json_string_value(json_array_get(tl, (size_t)t));
      regs[t] = json_is_true(json_array_get(rl, (size_t)t));
      if (!names[t]) st = rk_error(RK_EFORMAT, "'%s': tasks[%d] is not a string", path, t);
    }
  }
  if (st == RK_OK) st = rk_ranking_build_tasks(&out->ranking, &out->schema, n, names, regs, &cfg, 1);
  if (st == RK_OK) out->model = &out->ranking.base;
  rk_ranking_config_free_lists(&cfg);
  rk_free(path);
  path = NULL;
  if (st == RK_OK && !(path = join(dir, "weights.safetensors"))) st = RK_ENOMEM;
  if (st == RK_OK) st = rk_model_read_weights(path, out->model, NULL);
  rk_free(path);
  if (st != RK_OK) rk_saved_model_free(out);
  return st;
}

/* Each setting of section ARCH that model.json and the flags give differently, "key saved (flags:
 * given)", into differ. */
static void note_difference(char *differ, size_t differ_size, const json_t *saved, const json_t *given, const char *key) {
  json_t *was = json_object_get(saved, key), *now = json_object_get(given, key);
  if (json_equal(was, now)) return;
  char *a = json_dumps(was, JSON_COMPACT | JSON_ENCODE_ANY), *b = json_dumps(now, JSON_COMPACT | JSON_ENCODE_ANY);
  size_t used = strlen(differ);
  snprintf(differ + used, differ_size - used, "%s%s %s (flags: %s)", used ? "; " : "", key, a ? a : "?", b ? b : "?");
  free(a);
  free(b);
}

#define IF_ARCH_ARCH(x) x
#define IF_ARCH_TRAIN(x)
#define IF_ARCH_MTL(x)
#define NOTE_ARCH(kind, field, flag, section, meta, help, ...) \
  IF_ARCH_##section(note_difference(differ, differ_size, saved, given, #flag);)
/* A training choice is a scalar, so a plain copy keeps `out` owning its lists. */
#define FLAGS_CHOICE_ARCH(kind, field)
#define FLAGS_CHOICE_MTL(kind, field)
#define FLAGS_CHOICE_TRAIN(kind, field) LISTS_##kind(NOT_A_CHOICE, NOT_A_CHOICE, field) out->field = flags->field;
#define NOT_A_CHOICE(field) _Static_assert(0, "a TRAIN setting cannot be a list");
#define FLAGS_CHOICE(kind, field, flag, section, meta, help, ...) FLAGS_CHOICE_##section(kind, field)

rk_status rk_model_read_architecture(const char *dir, const rk_ranking_config *flags, rk_ranking_config *out,
                                     char *differ, size_t differ_size) {
  memset(out, 0, sizeof *out);   /* no lists to free until model.json's are read */
  differ[0] = '\0';
  char *path = join(dir, "model.json");
  if (!path) return RK_ENOMEM;
  json_error_t err;
  json_t *meta = json_load_file(path, 0, &err), *saved = json_object_get(meta, "model");
  rk_status st = saved ? rk_ranking_config_from_json(out, saved, path)
                       : rk_error(RK_EFORMAT, "'%s' is not a reckon model folder: %s: %s", dir, path,
                                  meta ? "no \"model\" object" : err.text);
  json_t *given = st == RK_OK ? rk_ranking_config_to_json(flags) : NULL;
  if (given) {
    RK_RANKING_SETTINGS(NOTE_ARCH)
    note_difference(differ, differ_size, saved, given, "multi_task");
    note_difference(differ, differ_size, saved, given, "layout");
  }
  if (st == RK_OK) {   /* the training choices stay the flags' */
    RK_RANKING_SETTINGS(FLAGS_CHOICE)
  }
  json_decref(given);
  json_decref(meta);
  rk_free(path);
  return st;
}

rk_status rk_model_check_workflow(const rk_saved_model *sm, const char *data_path, const char *flag, bool allow) {
  const char *want = json_string_value(json_object_get(sm->meta, "workflow_fingerprint"));
  if (!want) want = rk_schema_workflow_fingerprint(&sm->schema);
  if (!want) return RK_OK;   /* trained on data from another tool: nothing to compare with */
  rk_schema s;
  if (rk_schema_read(&s, data_path) != RK_OK) {
    rk_error_clear();
    rk_schema_init(&s);
  }
  const char *got = rk_schema_workflow_fingerprint(&s);
  rk_status st = RK_OK;
  if (!got)
    rk_warn("%s '%s' has no workflow fingerprint in its schema (data from another tool?); the model was trained on data "
            "transformed by workflow %s: make sure this data was too", flag, data_path, want);
  else if (strcmp(got, want) != 0 && allow)
    rk_warn("%s '%s' was transformed by workflow %s, the model's training data by workflow %s (--allow_workflow_mismatch)",
            flag, data_path, got, want);
  else if (strcmp(got, want) != 0)
    st = rk_error(RK_EINVAL, "%s '%s' was transformed by workflow %s, but the model's training data by workflow %s: "
                  "its ids would index another vocabulary; transform the data with the model's workflow "
                  "(reckon transform --workflow <model>/workflow), or pass --allow_workflow_mismatch to use it anyway",
                  flag, data_path, got, want);
  rk_schema_free(&s);
  return st;
}

void rk_saved_model_free(rk_saved_model *s) {
  if (s->model && s->model != &s->ranking.base) s->model->ops->free(s->model);   /* another family's */
  rk_ranking_free(&s->ranking);
  rk_schema_free(&s->schema);
  json_decref(s->meta);
  memset(s, 0, sizeof *s);
}

json_t *rk_task_weights_to_json(const rk_task_weights *tw, const rk_model *m) {
  json_t *a = json_array();
  for (int t = 0; a && t < m->out.n_tasks; t++)
    json_array_append_new(a, json_pack("{ss sf sf ss* ss*}", "name", m->out.targets[t], "loss_weight",
                                       (double)tw->loss_weight[t], "positive_weight", (double)tw->positive_weight[t],
                                       "sample_space", tw->sample_space[t], "sample_weight", tw->task_sample_weight[t]));
  return json_pack("{so ss*}", "tasks", a, "sample_weight_column", tw->sample_weight_column);
}

rk_status rk_task_weights_from_json(rk_task_weights *tw, const rk_model *m, const json_t *j) {
  rk_task_weights_default(tw);
  if (!j) return RK_OK;
  json_t *a = json_object_get(j, "tasks"), *e;
  size_t i;
  json_array_foreach(a, i, e) {
    const char *name = json_string_value(json_object_get(e, "name"));
    for (int t = 0; name && t < m->out.n_tasks; t++) {
      if (strcmp(name, m->out.targets[t]) != 0) continue;
      tw->loss_weight[t] = (float)json_number_value(json_object_get(e, "loss_weight"));
      tw->positive_weight[t] = (float)json_number_value(json_object_get(e, "positive_weight"));
      tw->sample_space[t] = json_string_value(json_object_get(e, "sample_space"));   /* owned by j */
      tw->task_sample_weight[t] = json_string_value(json_object_get(e, "sample_weight"));
    }
  }
  tw->sample_weight_column = json_string_value(json_object_get(j, "sample_weight_column"));
  return RK_OK;
}

rk_status rk_checkpoint_write(const char *dir, const char *stage, const rk_model *m, const rk_optim_set *opts,
                              json_t *state) {
  char *tmp = stage ? rk_strdup(stage) : rk_temp_path(dir), *w = NULL, *sp = NULL, *text = NULL;
  rk_status st = tmp && state ? RK_OK : RK_ENOMEM;
  if (st == RK_OK && !stage) st = rk_mkdir_p(tmp);
  if (st == RK_OK) st = rk_output_mark(tmp, "checkpoint", NULL);
  if (st == RK_OK && !(w = join(tmp, "weights.safetensors"))) st = RK_ENOMEM;
  if (st == RK_OK) st = rk_model_write_weights(w, m, opts, NULL, NULL, 0);
  if (st == RK_OK && (!(sp = join(tmp, "state.json")) || !(text = json_dumps(state, JSON_INDENT(1) | JSON_SORT_KEYS))))
    st = RK_ENOMEM;
  if (st == RK_OK) st = rk_write_file_atomic(sp, text, strlen(text));
  if (st == RK_OK) st = rk_replace_dir(tmp, dir);
  if (st != RK_OK && tmp) rk_remove_tree(tmp);
  free(text);
  json_decref(state);
  rk_free(tmp);
  rk_free(w);
  rk_free(sp);
  return st;
}
