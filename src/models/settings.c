/*
 * The ranking family's names and settings: the model list's names, how errors name a setting,
 * and RK_RANKING_SETTINGS' defaults (reckon/models.h). Not the JSON of a configuration (the model
 * folder's) nor the flags (src/cli/cmd_train.c).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ranking_internal.h"

#define MODEL_NAME(kind, name) #name,
static const char *const kind_names[] = {RK_MODEL_LIST(MODEL_NAME)};
#undef MODEL_NAME

rk_status rk_model_kind_parse(const char *name, rk_model_kind *out) {
  for (int k = 0; k < RK_MODEL_COUNT; k++)
    if (name && strcmp(name, kind_names[k]) == 0) return *out = (rk_model_kind)k, RK_OK;
  char names[256] = "";
  for (int k = 0; k < RK_MODEL_COUNT; k++)
    snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", k == 0 ? "" : k + 1 < RK_MODEL_COUNT ? ", " : " or ",
             kind_names[k]);
  return rk_error(RK_EUSAGE, "invalid value '%s' for --model: expected %s", name ? name : "", names);
}

const char *rk_model_kind_name(rk_model_kind kind) { return kind_names[kind]; }

/* ---- settings (reckon/models.h's RK_RANKING_SETTINGS) ---- */

#define FLAG_NAME(kind, field, flag, section, meta, help, ...) "--" #flag,
static const char *const setting_flags[] = {RK_RANKING_SETTINGS(FLAG_NAME)};
#undef FLAG_NAME

const char *rk_ranking_setting_name(const rk_ranking_config *c, rk_setting s) {
  return c->setting_names && c->setting_names[s] ? c->setting_names[s] : setting_flags[s];
}

int rk_setting_switch_word(const char *choices, bool on, const char **word) {
  const char *bar = strchr(choices, '|');
  *word = on ? bar + 1 : choices;
  return on ? (int)strlen(bar + 1) : (int)(bar - choices);
}

bool rk_setting_switch_on(const char *choices, const char *word) { return strcmp(strchr(choices, '|') + 1, word) == 0; }

/* The default lists, as arrays. */
#define DEFAULT_ARRAY_INTS(field, ...) static const int64_t default_##field[] = {__VA_ARGS__};
#define DEFAULT_ARRAY_INT(field, ...)
#define DEFAULT_ARRAY_SIZE(field, ...)
#define DEFAULT_ARRAY_SEED(field, ...)
#define DEFAULT_ARRAY_REAL(field, ...)
#define DEFAULT_ARRAY_REAL64(field, ...)
#define DEFAULT_ARRAY_BOOL(field, ...)
#define DEFAULT_ARRAY_SWITCH(field, ...)
#define DEFAULT_ARRAY_STRINGS(field, ...)
#define DEFAULT_ARRAY_MODEL(field, ...)
#define DEFAULT_ARRAY_ACT(field, ...)
#define DEFAULT_ARRAY_INIT(field, ...)
#define DEFAULT_ARRAY(kind, field, flag, section, meta, help, ...) DEFAULT_ARRAY_##kind(field, __VA_ARGS__)
RK_RANKING_SETTINGS(DEFAULT_ARRAY)

/* A named default (a choice, an initialiser) is in its list: a table bug otherwise. */
static void must(rk_status st) { RK_ASSERT(st == RK_OK); }

#define SET_DEFAULT_INTS(c, field, meta, ...) \
  c->field = default_##field, c->n_##field = (int)(sizeof default_##field / sizeof *default_##field);
#define SET_DEFAULT_INT(c, field, meta, ...) c->field = (__VA_ARGS__);
#define SET_DEFAULT_SIZE(c, field, meta, ...) c->field = (__VA_ARGS__);
#define SET_DEFAULT_SEED(c, field, meta, ...) c->field = (__VA_ARGS__);
#define SET_DEFAULT_REAL(c, field, meta, ...) c->field = (float)(__VA_ARGS__);
#define SET_DEFAULT_REAL64(c, field, meta, ...) c->field = (__VA_ARGS__);
#define SET_DEFAULT_BOOL(c, field, meta, ...) c->field = (__VA_ARGS__);
#define SET_DEFAULT_SWITCH(c, field, meta, ...) c->field = rk_setting_switch_on(meta, #__VA_ARGS__);
#define SET_DEFAULT_STRINGS(c, field, meta, ...) \
  _Static_assert(sizeof #__VA_ARGS__ == 1, "a list of strings starts empty"); c->field = NULL, c->n_##field = 0;
#define SET_DEFAULT_MODEL(c, field, meta, ...) must(rk_model_kind_parse(#__VA_ARGS__, &c->field));
#define SET_DEFAULT_ACT(c, field, meta, ...) must(rk_act_parse(#__VA_ARGS__, &c->field));
#define SET_DEFAULT_INIT(c, field, meta, ...) must(rk_init_kind_parse(#__VA_ARGS__, &c->field));
#define SET_DEFAULT(kind, field, flag, section, meta, help, ...) SET_DEFAULT_##kind(c, field, meta, __VA_ARGS__)

void rk_ranking_config_default(rk_ranking_config *c) {
  memset(c, 0, sizeof *c);
  RK_RANKING_SETTINGS(SET_DEFAULT)
}

int64_t rk_model_embedding_dim(int64_t cardinality, double multiplier) {
  double d = ceil(pow((double)cardinality, 0.25) * multiplier);
  if (!(d < (double)RK_SIZE_MAX)) return RK_SIZE_MAX;   /* a huge or NaN multiplier: refused by the table's size check */
  return d < 8 ? 8 : ((int64_t)d + 7) / 8 * 8;
}
