/*
 * The session family's settings (reckon/sessions.h's RK_SESSION_SETTINGS): defaults, the PICK
 * kind's words, the checks the flags' metavars state, and model.json's "model" object both ways.
 * Not the flags themselves (src/cli) nor the ranking family's settings (settings.c, model_dir.c).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "session_internal.h"

int rk_setting_pick(const char *choices, const char *word) {
  size_t n = word ? strlen(word) : 0;
  int index = 0;
  for (const char *p = choices; word; index++) {
    const char *bar = strchr(p, '|');
    size_t len = bar ? (size_t)(bar - p) : strlen(p);
    if (len == n && strncmp(p, word, n) == 0) return index;
    if (!bar) break;
    p = bar + 1;
  }
  return -1;
}

int rk_setting_pick_word(const char *choices, int index, const char **word) {
  const char *p = choices, *bar = strchr(p, '|');
  for (int i = 0; i < index && bar; i++) {   /* an index past the last choice is a table bug */
    p = bar + 1;
    bar = strchr(p, '|');
  }
  *word = p;
  return bar ? (int)(bar - p) : (int)strlen(p);
}

#define FLAG_NAME(kind, field, flag, section, meta, help, ...) "--" #flag,
static const char *const setting_flags[] = {RK_SESSION_SETTINGS(FLAG_NAME)};
#undef FLAG_NAME

const char *rk_session_setting_name(rk_session_setting s) { return setting_flags[s]; }

/* A default word is among its choices: a table bug otherwise. */
static int must_pick(const char *choices, const char *word) {
  int i = rk_setting_pick(choices, word);
  RK_ASSERT(i >= 0);
  return i;
}

#define SET_DEFAULT_INT(c, field, meta, ...) c->field = (__VA_ARGS__);
#define SET_DEFAULT_SIZE(c, field, meta, ...) c->field = (__VA_ARGS__);
#define SET_DEFAULT_SEED(c, field, meta, ...) c->field = (__VA_ARGS__);
#define SET_DEFAULT_REAL(c, field, meta, ...) c->field = (float)(__VA_ARGS__);
#define SET_DEFAULT_REAL64(c, field, meta, ...) c->field = (__VA_ARGS__);
#define SET_DEFAULT_BOOL(c, field, meta, ...) c->field = (__VA_ARGS__);
#define SET_DEFAULT_PICK(c, field, meta, ...) c->field = must_pick(meta, #__VA_ARGS__);
#define SET_DEFAULT(kind, field, flag, section, meta, help, ...) SET_DEFAULT_##kind(c, field, meta, __VA_ARGS__)

void rk_session_config_default(rk_session_config *c) {
  memset(c, 0, sizeof *c);
  RK_SESSION_SETTINGS(SET_DEFAULT)
}

bool rk_session_config_mlm(const rk_session_config *c) {
  return c->mlm || c->model_type == RK_SESSION_ALBERT || c->model_type == RK_SESSION_BERT ||
         c->model_type == RK_SESSION_ELECTRA;
}

bool rk_session_is_transformer(rk_session_model_kind k) {
  return k == RK_SESSION_GPT2 || k == RK_SESSION_ALBERT || k == RK_SESSION_BERT || k == RK_SESSION_ELECTRA;
}

bool rk_session_is_relative(rk_session_model_kind k) { return k == RK_SESSION_XLNET || k == RK_SESSION_TRANSFOXL; }

static rk_status bad(rk_session_setting s, const char *value, const char *expected) {
  return rk_error(RK_EUSAGE, "invalid value '%s' for %s: expected %s", value, setting_flags[s], expected);
}

static rk_status check_int(rk_session_setting s, int64_t v, int64_t lo, int64_t hi, const char *expected) {
  char text[32];
  snprintf(text, sizeof text, "%lld", (long long)v);
  return v >= lo && v <= hi ? RK_OK : bad(s, text, expected);
}

/* lo_open/hi_open: whether each end is excluded; hi INFINITY: no upper bound (but finite). */
static rk_status check_real(rk_session_setting s, double v, double lo, bool lo_open, double hi, bool hi_open,
                            const char *expected) {
  char text[32];
  snprintf(text, sizeof text, "%g", v);
  bool ok = isfinite(v) && (lo_open ? v > lo : v >= lo) && (hi_open ? v < hi : v <= hi);
  return ok ? RK_OK : bad(s, text, expected);
}

#define S(field) RK_SESSION_SETTING_##field
/* xlnet and transfoxl's settings (part X of issue 19). */
static rk_status rk_session_config_check_relative(const rk_session_config *c) {
  RK_TRY(check_int(S(mem_len), c->mem_len, 0, 4096, "N in [0, 4096]"));
  RK_TRY(check_real(S(plm_probability), c->plm_probability, 0, true, 1, false, "P in (0, 1]"));
  RK_TRY(check_int(S(plm_max_span_length), c->plm_max_span_length, 1, 4096, "N in [1, 4096]"));
  if (c->plm && c->model_type != RK_SESSION_XLNET)
    return rk_error(RK_EUSAGE, "--plm (the permutation LM) needs --model_type xlnet: its two-stream attention is XLNet's");
  if (c->plm && c->mlm) return rk_error(RK_EUSAGE, "--plm and --mlm are two tasks: choose one");
  if (c->plm && c->session_aware)
    return rk_error(RK_EUSAGE, "--plm with --session_aware: the permutation LM's factorisation order covers the session's "
                    "own items only; train session-aware xlnet with --mlm or the causal task");
  if (rk_session_is_relative(c->model_type) && c->d_model % 2 != 0)
    return rk_error(RK_EUSAGE, "invalid value '%lld' for --d_model: %s's sinusoid position encoding needs it even",
                    (long long)c->d_model, c->model_type == RK_SESSION_XLNET ? "xlnet" : "transfoxl");
  if (c->model_type == RK_SESSION_XLNET && !c->mlm && !c->plm && c->attn_type == RK_SESSION_ATTN_BI)
    return rk_error(RK_EUSAGE, "--attn_type bi with xlnet's causal LM task would let each row see the item it "
                    "predicts (the reference builds it so: Transformers4Rec issue #100): use --attn_type uni, or --mlm "
                    "or --plm for a bidirectional task");
  return RK_OK;
}

rk_status rk_session_config_check(const rk_session_config *c) {
  if (c->model_type < 0 || c->model_type >= RK_SESSION_MODEL_COUNT) return bad(S(model_type), "?", "a model type");
  const char *type;
  int n = rk_setting_pick_word(RK_SESSION_MODEL_CHOICES, c->model_type, &type);
  if (c->model_type == RK_SESSION_LONGFORMER)
    return rk_error(RK_EUNSUPPORTED, "--model_type longformer is out of reckon's scope (its sliding-window attention "
                    "buys nothing on sessions of a few dozen items, and the paper reports no Longformer result): "
                    "choose xlnet, transfoxl, gpt2, bert, albert, electra, gru, lstm, rnn or avgseq");
  RK_TRY(check_int(S(d_model), c->d_model, 1, 1 << 16, "D in [1, 2^16]"));
  RK_TRY(check_int(S(n_layer), c->n_layer, 1, 64, "N in [1, 64]"));
  RK_TRY(check_int(S(n_head), c->n_head, 1, 256, "H in [1, 256]"));
  if ((rk_session_is_transformer(c->model_type) || rk_session_is_relative(c->model_type)) && c->d_model % c->n_head != 0)
    return rk_error(RK_EUSAGE, "invalid value '%d' for --n_head: it must divide --d_model %lld", c->n_head,
                    (long long)c->d_model);
  RK_TRY(check_real(S(dropout), c->dropout, 0, false, 1, true, "P in [0, 1)"));
  RK_TRY(check_real(S(input_dropout), c->input_dropout, 0, false, 1, true, "P in [0, 1)"));
  RK_TRY(check_real(S(layer_norm_eps), c->layer_norm_eps, 0, true, INFINITY, true, "E > 0"));
  RK_TRY(check_real(S(initializer_range), c->initializer_range, 0, false, INFINITY, true, "S >= 0"));
  RK_TRY(check_real(S(mlm_probability), c->mlm_probability, 0, true, 1, true, "P in (0, 1)"));
  if (c->mlm && !(c->model_type == RK_SESSION_ALBERT || c->model_type == RK_SESSION_BERT ||
                  c->model_type == RK_SESSION_ELECTRA || c->model_type == RK_SESSION_XLNET))
    return rk_error(RK_EUSAGE, "--mlm needs a bidirectional model (--model_type albert, bert, electra or xlnet): --model_type %.*s "
                    "is causal and trains with the causal LM task", n, type);
  RK_TRY(rk_session_config_check_relative(c));
  RK_TRY(rk_session_check_rtd(c));
  RK_TRY(check_int(S(item_embedding_dim), c->item_embedding_dim, 0, 1 << 16, "D in [0, 2^16]"));
  RK_TRY(check_real(S(softmax_temperature), c->softmax_temperature, 0, true, INFINITY, true, "T > 0"));
  RK_TRY(check_real(S(label_smoothing), c->label_smoothing, 0, false, 1, true, "E in [0, 1)"));
  RK_TRY(check_real(S(embedding_dim_from_cardinality_multiplier), c->embedding_dim_from_cardinality_multiplier, 0, true,
                    1024, false, "M in (0, 1024]"));
  RK_TRY(check_real(S(item_id_embeddings_init_std), c->item_id_embeddings_init_std, 0, false, INFINITY, true, "S >= 0"));
  RK_TRY(check_real(S(other_embeddings_init_std), c->other_embeddings_init_std, 0, false, INFINITY, true, "S >= 0"));
  RK_TRY(check_int(S(session_seq_length_max), c->session_seq_length_max, 1, 1 << 12, "T in [1, 2^12]"));
  if (c->num_hidden_groups != -1) RK_TRY(check_int(S(num_hidden_groups), c->num_hidden_groups, 1, 64, "N = -1 or in [1, 64]"));
  if (c->model_type == RK_SESSION_ALBERT && c->num_hidden_groups > 0 && c->n_layer % c->num_hidden_groups != 0)
    return rk_error(RK_EUSAGE, "invalid value '%d' for --num_hidden_groups: it must divide --n_layer %d (albert gives "
                    "each group n_layer / groups consecutive layers)", c->num_hidden_groups, c->n_layer);
  RK_TRY(check_int(S(pad_token), c->pad_token, 0, INT32_MAX, "N >= 0"));
  /* issue 19, part F: the inputs */
  RK_TRY(check_int(S(numeric_features_project_to_embedding_dim), c->numeric_features_project_to_embedding_dim, 0,
                   1 << 16, "N in [0, 2^16]"));
  RK_TRY(check_int(S(numeric_features_soft_one_hot_encoding_num_embeddings),
                   c->numeric_features_soft_one_hot_encoding_num_embeddings, 0, 1 << 16, "N in [0, 2^16]"));
  if (c->numeric_features_soft_one_hot_encoding_num_embeddings > 0 && c->numeric_features_project_to_embedding_dim == 0)
    return rk_error(RK_EUSAGE, "--numeric_features_soft_one_hot_encoding_num_embeddings needs "
                    "--numeric_features_project_to_embedding_dim > 0: the width of the encoding's table");
  RK_TRY(check_int(S(continuous_projection), c->continuous_projection, 0, 1 << 16, "N in [0, 2^16]"));
  RK_TRY(check_int(S(embedding_dim_default), c->embedding_dim_default, 0, 1 << 16, "D in [0, 2^16]"));
  if (c->continuous_projection > 0 && c->numeric_features_project_to_embedding_dim > 0)
    return rk_error(RK_EUSAGE, "--continuous_projection projects the continuous features together and "
                    "--numeric_features_project_to_embedding_dim each on its own: choose one");
  if (c->continuous_projection > 0 && c->input_features_aggregation == RK_SESSION_AGG_ELEMENTWISE)
    return rk_error(RK_EUSAGE, "--continuous_projection needs --input_features_aggregation concat");
  RK_TRY(check_real(S(stochastic_shared_embeddings_replacement_prob), c->stochastic_shared_embeddings_replacement_prob,
                    0, false, 1, false, "P in [0, 1]"));
  if (c->layer_norm_all_features && c->inp_merge != RK_SESSION_MERGE_MLP)
    return rk_error(RK_EUSAGE, "--layer_norm_all_features needs --inp_merge mlp (the LayerNorm is part of the merge)");
  RK_TRY(check_int(S(session_aware_past_seq_length_max), c->session_aware_past_seq_length_max, 1, 1 << 12,
                   "N in [1, 2^12]"));
  return rk_session_check_sampling(c);
}
#undef S

int64_t rk_session_config_positions(const rk_session_config *c) {
  return c->session_seq_length_max + (c->session_aware ? c->session_aware_past_seq_length_max : 0);
}

/* ---- model.json ---- */

static json_t *pick_json(const char *choices, int index) {
  const char *word;
  int n = rk_setting_pick_word(choices, index, &word);
  return json_stringn(word, (size_t)n);
}

#define TO_JSON_INT(c, field, meta) json_integer(c->field)
#define TO_JSON_SIZE(c, field, meta) json_integer((json_int_t)c->field)
#define TO_JSON_SEED(c, field, meta) json_integer((json_int_t)c->field)
#define TO_JSON_REAL(c, field, meta) json_real((double)c->field)
#define TO_JSON_REAL64(c, field, meta) json_real(c->field)
#define TO_JSON_BOOL(c, field, meta) json_boolean(c->field)
#define TO_JSON_PICK(c, field, meta) pick_json(meta, c->field)
#define TO_JSON(kind, field, flag, section, meta, help, ...) json_object_set_new(j, #flag, TO_JSON_##kind(c, field, meta));

json_t *rk_session_config_to_json(const rk_session_config *c) {
  json_t *j = json_object();
  if (!j) return NULL;
  RK_SESSION_SETTINGS(TO_JSON)
  return j;
}

static rk_status expected(const char *label, const char *key, const char *what) {
  return rk_error(RK_EFORMAT, "%s: \"model\".\"%s\" must be %s", label, key, what);
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

static rk_status pick_from_json(const json_t *v, const char *label, const char *key, const char *choices, int *out) {
  int i = json_is_string(v) ? rk_setting_pick(choices, json_string_value(v)) : -1;
  if (i < 0) return expected(label, key, choices);
  *out = i;
  return RK_OK;
}

#define FROM_JSON_INT(v, c, field, key, meta) st = integer_json(v, label, key, &i), c->field = (int)i;
#define FROM_JSON_SIZE(v, c, field, key, meta) st = integer_json(v, label, key, &i), c->field = (int64_t)i;
#define FROM_JSON_SEED(v, c, field, key, meta) st = integer_json(v, label, key, &i), c->field = (uint64_t)i;
#define FROM_JSON_REAL(v, c, field, key, meta) st = number_json(v, label, key, &x), c->field = (float)x;
#define FROM_JSON_REAL64(v, c, field, key, meta) st = number_json(v, label, key, &c->field);
#define FROM_JSON_BOOL(v, c, field, key, meta) \
  st = json_is_boolean(v) ? (c->field = json_is_true(v), RK_OK) : expected(label, key, "true or false");
#define FROM_JSON_PICK(v, c, field, key, meta) st = pick_from_json(v, label, key, meta, &c->field);
#define FROM_JSON(kind, field, flag, section, meta, help, ...) \
  if ((v = json_object_get(j, #flag)) != NULL) {                 \
    FROM_JSON_##kind(v, c, field, #flag, meta)                   \
    if (st != RK_OK) return st;                                  \
  }

rk_status rk_session_config_from_json(rk_session_config *c, const json_t *j, const char *label) {
  rk_session_config_default(c);
  if (!json_is_object(j)) return rk_error(RK_EFORMAT, "%s: \"model\" must be an object", label);
  rk_status st = RK_OK;
  json_int_t i = 0;
  double x = 0;
  const json_t *v;
  RK_SESSION_SETTINGS(FROM_JSON)
  (void)i, (void)x;
  st = rk_session_config_check(c);
  return st == RK_OK ? RK_OK : rk_error_context(st, "%s", label);
}
