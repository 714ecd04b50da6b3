/*
 * Ranking models from a schema: the input block (a table per categorical feature, a dense input
 * for the continuous ones), then the interaction each model names, an MLP, one output. Built
 * once per batch size into a static graph; the parameters live here, the arithmetic in nn/.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "reckon/models.h"

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
#define DEFAULT_ARRAY_OTHER(field, ...)
#define DEFAULT_ARRAY_INT DEFAULT_ARRAY_OTHER
#define DEFAULT_ARRAY_SIZE DEFAULT_ARRAY_OTHER
#define DEFAULT_ARRAY_SEED DEFAULT_ARRAY_OTHER
#define DEFAULT_ARRAY_REAL DEFAULT_ARRAY_OTHER
#define DEFAULT_ARRAY_REAL64 DEFAULT_ARRAY_OTHER
#define DEFAULT_ARRAY_BOOL DEFAULT_ARRAY_OTHER
#define DEFAULT_ARRAY_SWITCH DEFAULT_ARRAY_OTHER
#define DEFAULT_ARRAY_STRINGS DEFAULT_ARRAY_OTHER
#define DEFAULT_ARRAY_MODEL DEFAULT_ARRAY_OTHER
#define DEFAULT_ARRAY_ACT DEFAULT_ARRAY_OTHER
#define DEFAULT_ARRAY_INIT DEFAULT_ARRAY_OTHER
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

/* ---- parameters ---- */

/* The next parameter: a new one, or, for a graph sharing another model's, that model's next
 * (the builders create parameters in a fixed order, so the k-th is the same parameter). */
static rk_status next_param(rk_ranking_model *m, const rk_ranking_model *share, const char *name, rk_param **out,
                            bool *fresh) {
  rk_param **g = rk_realloc(m->params, (size_t)(m->n_params + 1) * sizeof *g);
  if (!g) return RK_ENOMEM;
  m->params = g;
  *fresh = share == NULL;
  if (share) {
    if (m->n_params >= share->n_params || strcmp(share->params[m->n_params]->name, name) != 0)
      return rk_error(RK_EINVAL, "shared model: parameter %d is not '%s'", m->n_params, name);
    *out = g[m->n_params] = share->params[m->n_params];
    m->n_params++;
    return RK_OK;
  }
  /* Names identify parameters in weight files: they must fit rk_param.name and differ. */
  if (strlen(name) >= sizeof g[0]->name)
    return rk_error(RK_EUSAGE, "parameter name '%s' is longer than %zu bytes (a target or column name is too long)",
                    name, sizeof g[0]->name - 1);
  if (!(g[m->n_params] = rk_calloc(1, sizeof **g))) return RK_ENOMEM;
  *out = g[m->n_params++];
  return RK_OK;
}

static int by_name(const void *a, const void *b) {
  return strcmp((*(rk_param *const *)a)->name, (*(rk_param *const *)b)->name);
}

/* Names identify parameters in weight files, so they must differ: checked once, sorted (a check
 * as each is made compared every pair, quadratic in a schema's features). */
static rk_status check_unique_names(const rk_ranking_model *m) {
  rk_param **sorted = rk_malloc((size_t)m->n_params * sizeof *sorted + 1);
  if (!sorted) return RK_ENOMEM;
  if (m->n_params) memcpy(sorted, m->params, (size_t)m->n_params * sizeof *sorted);
  qsort(sorted, (size_t)m->n_params, sizeof *sorted, by_name);
  rk_status st = RK_OK;
  for (int i = 1; i < m->n_params && st == RK_OK; i++)
    if (strcmp(sorted[i - 1]->name, sorted[i]->name) == 0)
      st = rk_error(RK_EINVAL, "two parameters named '%s'", sorted[i]->name);
  rk_free(sorted);
  return st;
}

/* ---- building blocks ---- */

/* A dense weight's initialiser, kept until its memory exists. */
typedef struct {
  rk_param *param;
  rk_init_spec spec;
  uint64_t stream;         /* the parameter's number: its draws do not depend on the layout */
} dense_init;

typedef struct {
  rk_ranking_model *m;
  const rk_ranking_config *c;
  rk_graph *g;
  int64_t B;
  int *emb;                /* per categorical feature: (B, D) */
  int *lookups;            /* per categorical feature: its (B, 1, D) embedding, or RK_NO_VALUE */
  rk_param **kernels;      /* MLP kernels and biases, for L2 */
  int n_kernels;
  int reg;                 /* the sum of regularisation terms so far, or RK_NO_VALUE */
  const rk_ranking_model *share;   /* parameters come from here, or NULL: new ones */
  dense_init *inits;       /* the dense weights' initialisers, run once the arena has memory */
  int n_inits;
} builder;

/* A dense weight (out, in) initialised by --mlp_init (fans of a Keras (in, out) kernel), or a
 * zero bias (out) when in == 0. Declared in the model's arena; its values are drawn later, by
 * init_dense_params, from the stream of its own number (1 for the first parameter made). */
static rk_status dense(builder *b, rk_param **out, const char *name, int64_t o, int64_t in) {
  bool fresh;
  RK_TRY(next_param(b->m, b->share, name, out, &fresh));
  if (!fresh) return RK_OK;
  int64_t shape[2] = {o, in};
  RK_TRY(rk_param_arena_add(b->m->arena, *out, name, in ? 2 : 1, shape));
  if (!in) return RK_OK;
  dense_init *inits = rk_realloc(b->inits, (size_t)(b->n_inits + 1) * sizeof *inits);
  if (!inits) return RK_ENOMEM;
  b->inits = inits;
  dense_init *d = &inits[b->n_inits++];
  d->param = *out;
  d->stream = (uint64_t)b->m->n_params;
  d->spec = rk_init_spec_default(b->c->mlp_init);
  d->spec.fan_in = in;
  d->spec.fan_out = o;
  return RK_OK;
}

/* Give the declared dense parameters their memory (one allocation of values, one of gradients)
 * and draw their initial values, each from its own stream: the arena's layout cannot change them. */
static rk_status init_dense_params(builder *b) {
  RK_TRY(rk_param_arena_alloc(b->m->arena));
  for (int i = 0; i < b->n_inits; i++)
    RK_TRY(rk_init_tensor(&b->inits[i].param->value, &b->inits[i].spec, b->c->seed, b->inits[i].stream));
  return RK_OK;
}

/* A sparse table (V, D): an embedding (U(+-0.05) as Keras', or truncated normal(0, 1/sqrt(D)) as
 * TensorFlow's embedding_column) or a wide table (Keras' uniform, or TensorFlow's linear model's
 * zeros). */
typedef enum { TABLE_EMBEDDING, TABLE_WIDE } table_kind;

static rk_status table(builder *b, rk_param **out, const char *name, int64_t V, int64_t D, table_kind kind) {
  bool fresh;
  RK_TRY(next_param(b->m, b->share, name, out, &fresh));
  if (!fresh) return RK_OK;
  RK_TRY(rk_param_init_sparse(*out, name, V, D));
  if (kind == TABLE_WIDE && b->c->wide_layout == RK_WIDE_LINEAR) return RK_OK;   /* zeros */
  if (kind == TABLE_EMBEDDING && b->c->tf_embedding_init) {
    rk_init_spec spec = rk_init_spec_default(RK_INIT_TRUNCATED_NORMAL);
    spec.scale = 1.0 / sqrt((double)D);
    return rk_init_tensor(&(*out)->value, &spec, b->c->seed, (uint64_t)b->m->n_params);
  }
  rk_param_fill_uniform(*out, b->c->seed, (uint64_t)b->m->n_params, -0.05f, 0.05f);
  return RK_OK;
}

static rk_status add_to(builder *b, int *acc, int term) {
  if (*acc == RK_NO_VALUE) return *acc = term, RK_OK;
  return rk_graph_add(b->g, acc, *acc, term);
}

static rk_status track_kernel(builder *b, rk_param *p) {
  rk_param **g = rk_realloc(b->kernels, (size_t)(b->n_kernels + 1) * sizeof *g);
  if (!g) return RK_ENOMEM;
  b->kernels = g;
  g[b->n_kernels++] = p;
  return RK_OK;
}

/* x -> [linear -> activation -> dropout] per layer; *width becomes the last layer's. */
static rk_status mlp(builder *b, int *out, int x, int64_t *width, const int64_t *layers, int n, const char *prefix) {
  char name[300];
  for (int l = 0; l < n; l++) {
    rk_param *w, *bias;
    snprintf(name, sizeof name, "%s.%d.weight", prefix, l);
    RK_TRY(dense(b, &w, name, layers[l], *width));
    snprintf(name, sizeof name, "%s.%d.bias", prefix, l);
    RK_TRY(dense(b, &bias, name, layers[l], 0));
    RK_TRY(track_kernel(b, w));
    RK_TRY(track_kernel(b, bias));
    RK_TRY(rk_graph_linear(b->g, &x, x, w, bias, b->c->activation));
    if (b->c->dropout > 0) RK_TRY(rk_graph_dropout(b->g, &x, x, b->c->dropout, false));
    *width = layers[l];
  }
  *out = x;
  return RK_OK;
}

/* The output layer: (B, width) -> (B, 1). */
static rk_status head(builder *b, int *out, int x, int64_t width, const char *name) {
  rk_param *w, *bias;
  char n[300];
  snprintf(n, sizeof n, "%s.weight", name);
  RK_TRY(dense(b, &w, n, 1, width));
  snprintf(n, sizeof n, "%s.bias", name);
  RK_TRY(dense(b, &bias, n, 1, 0));
  RK_TRY(track_kernel(b, w));
  RK_TRY(track_kernel(b, bias));
  return rk_graph_linear(b->g, out, x, w, bias, RK_ACT_NONE);
}

/* L2 (l2 > 0, training) on the rows a lookup read: given the embedding or embedding_bag value
 * itself, before any reshape, since the op reads that node's ids. */
static rk_status regularise_lookup(builder *b, int lookup_value, float l2) {
  if (!(l2 > 0) || !b->m->train) return RK_OK;
  int reg;
  RK_TRY(rk_graph_embedding_l2(b->g, &reg, lookup_value, l2));
  return add_to(b, &b->reg, reg);
}

/* Feature i's weights in `t` as (B, 1, D): a lookup, or a list's rows pooled (mean or sum), with
 * the table's L2 `l2`. Every categorical feature's table (embedding, list, wide weights) is read
 * here, so its regularisation cannot be left out; indicators have no table: their one-hot weights
 * are the first MLP kernel's, under --l2_reg. */
static rk_status lookup(builder *b, int *out, rk_param *t, int i, rk_pool pool, float l2) {
  rk_ranking_model *m = b->m;
  if (!m->max_len[i]) {
    RK_TRY(rk_graph_embedding(b->g, out, t, m->cat_inputs[i], 0));   /* id 0 is padding */
    return regularise_lookup(b, *out, l2);
  }
  int64_t shape[3] = {b->B, 1, t->value.shape[1]};
  RK_TRY(rk_graph_embedding_bag(b->g, out, t, m->cat_inputs[i], pool, 0));
  RK_TRY(regularise_lookup(b, *out, l2));
  return rk_graph_reshape(b->g, out, *out, 3, shape);
}

/* Per categorical feature: ids (B, 1) (a list's ragged) -> its table -> (B, 1, D)
 * (b->lookups[i]); the (B, D) form (b->emb[i]) is made only where a model needs it: reshapes are
 * copies. Indicator features have no table: their one-hots form one dense input. */
static rk_status inputs(builder *b) {
  rk_ranking_model *m = b->m;
  char name[300];
  bool deep = !(b->c->kind == RK_MODEL_WIDE_N_DEEP && b->c->wnd_parts == RK_WND_WIDE_ONLY);
  for (int i = 0; i < m->n_cat; i++) {
    if (m->max_len[i]) {
      int64_t ids;
      RK_TRY(rk_size_mul(&ids, b->B, m->max_len[i], "a list column's ids per batch (batch size x value_count max)"));
      RK_TRY(rk_graph_input_ragged(b->g, &m->cat_inputs[i], m->cat_names[i], ids));
    } else RK_TRY(rk_graph_input_ids(b->g, &m->cat_inputs[i], m->cat_names[i], 1));
    b->lookups[i] = b->emb[i] = RK_NO_VALUE;
    if (m->indicator[i] || !deep) continue;
    rk_param *t;
    snprintf(name, sizeof name, "embeddings.%s", m->cat_names[i]);
    RK_TRY(table(b, &t, name, m->cardinality[i], m->dims[i], TABLE_EMBEDDING));
    RK_TRY(lookup(b, &b->lookups[i], t, i, RK_POOL_MEAN, b->c->embeddings_l2_reg));
  }
  m->dense_input = m->indicator_input = RK_NO_VALUE;
  if (m->n_cont) {
    int64_t shape[1] = {m->n_cont};
    RK_TRY(rk_graph_input(b->g, &m->dense_input, "continuous", 1, shape));
  }
  if (m->indicator_width && deep) {
    int64_t shape[1] = {m->indicator_width};
    RK_TRY(rk_graph_input(b->g, &m->indicator_input, "indicators", 1, shape));
  }
  return RK_OK;
}

/* Embedding i as (B, D). */
static rk_status flat(builder *b, int i, int *out) {
  if (b->emb[i] == RK_NO_VALUE) {
    int64_t shape[2] = {b->B, b->m->dims[i]};
    RK_TRY(rk_graph_reshape(b->g, &b->emb[i], b->lookups[i], 2, shape));
  }
  *out = b->emb[i];
  return RK_OK;
}

/* [embeddings..., indicators, continuous] -> (B, 1, width): the lookups' own shape, so no
 * per-feature reshapes (linear treats the leading axes as rows). */
static rk_status concat_all(builder *b, int *out, int64_t *width) {
  rk_ranking_model *m = b->m;
  int *xs = rk_malloc((size_t)(m->n_cat + 2) * sizeof *xs), n = 0;
  if (!xs) return RK_ENOMEM;
  *width = 0;
  for (int i = 0; i < m->n_cat; i++)
    if (!m->indicator[i]) xs[n++] = b->lookups[i], *width += m->dims[i];
  rk_status st = RK_OK;
  if (m->indicator_input != RK_NO_VALUE) {
    int64_t shape[3] = {b->B, 1, m->indicator_width};
    st = rk_graph_reshape(b->g, &xs[n++], m->indicator_input, 3, shape);
    *width += m->indicator_width;
  }
  if (st == RK_OK && m->dense_input != RK_NO_VALUE) {
    int64_t shape[3] = {b->B, 1, m->n_cont};
    st = rk_graph_reshape(b->g, &xs[n++], m->dense_input, 3, shape);
    *width += m->n_cont;
  }
  if (st == RK_OK) st = n == 1 ? (*out = xs[0], RK_OK) : rk_graph_concat(b->g, out, n, xs, 2);
  rk_free(xs);
  return st;
}

/* A (B, 1, 1) output as the model's (B, 1) logit. */
static rk_status as_logit(builder *b, int *x) {
  if (rk_graph_value_ndim(b->g, *x) == 2) return RK_OK;
  int64_t shape[2] = {b->B, 1};
  return rk_graph_reshape(b->g, x, *x, 2, shape);
}

/* The embeddings as (B, F, D) (every table has the same D). */
static rk_status stack(builder *b, int *out, int from) {
  rk_ranking_model *m = b->m;
  int F = m->n_cat - from, *xs = rk_malloc((size_t)(F + 1) * sizeof *xs);
  if (!xs) return RK_ENOMEM;
  rk_status st = RK_OK;
  for (int i = 0; i < F; i++) xs[i] = b->lookups[from + i];   /* (B, 1, D) each */
  if (st == RK_OK) st = F == 1 ? (*out = xs[0], RK_OK) : rk_graph_concat(b->g, out, F, xs, 1);
  rk_free(xs);
  return st;
}

/* ---- the models ---- */

/* Task t's tower layers: its own (--mtl_tower_layers_<task>) or the shared --tower_layers. */
static const int64_t *tower_of(const rk_ranking_config *c, const char *task, int *n) {
  for (int k = 0; k < c->n_task_towers; k++)
    if (strcmp(c->task_towers[k].task, task) == 0) return *n = c->task_towers[k].n_layers, c->task_towers[k].layers;
  *n = c->n_tower_layers;
  return c->tower_layers;
}

/* Per task: a tower (several tasks with --use_task_towers) on its input, then its output layer;
 * extra[t] (or RK_NO_VALUE) is added to task t's logit (a wide or FM part). One task keeps the
 * single-task names ("output"). */
static rk_status heads(builder *b, const int *xs, const int64_t *ws, const int *extra) {
  rk_ranking_model *m = b->m;
  char name[200];
  for (int t = 0; t < m->n_tasks; t++) {
    int x = xs[t];
    int64_t w = ws[t];
    int n_layers;
    const int64_t *layers = tower_of(b->c, m->targets[t], &n_layers);
    if (m->n_tasks > 1 && b->c->use_task_towers && n_layers > 0) {
      snprintf(name, sizeof name, "tower.%s", m->targets[t]);
      RK_TRY(mlp(b, &x, x, &w, layers, n_layers, name));
    }
    if (m->n_tasks == 1) snprintf(name, sizeof name, "output");
    else snprintf(name, sizeof name, "output.%s", m->targets[t]);
    RK_TRY(head(b, &m->logits[t], x, w, name));
    RK_TRY(as_logit(b, &m->logits[t]));
    if (extra && extra[t] != RK_NO_VALUE) RK_TRY(rk_graph_add(b->g, &m->logits[t], extra[t], m->logits[t]));
  }
  return RK_OK;
}

/* Every task reads the same body output. */
static rk_status shared_heads(builder *b, int x, int64_t w, const int *extra) {
  int xs[RK_MAX_TASKS];
  int64_t ws[RK_MAX_TASKS];
  for (int t = 0; t < b->m->n_tasks; t++) xs[t] = x, ws[t] = w;
  return heads(b, xs, ws, extra);
}

/* concat -> MLP: the deep part of mlp, wide_n_deep and deepfm. */
static rk_status deep_body(builder *b, int *x, int64_t *w) {
  RK_TRY(concat_all(b, x, w));
  return mlp(b, x, *x, w, b->c->mlp_layers, b->c->n_mlp_layers, "mlp");
}

static rk_status build_mlp(builder *b) {
  int x;
  int64_t w;
  RK_TRY(deep_body(b, &x, &w));
  return shared_heads(b, x, w, NULL);
}

static rk_status build_dcn(builder *b) {
  int x0, x;
  int64_t w;
  RK_TRY(concat_all(b, &x0, &w));
  int64_t shape[2] = {b->B, w};
  RK_TRY(rk_graph_reshape(b->g, &x0, x0, 2, shape));   /* the cross op takes (B, D) */
  x = x0;
  char name[64];
  for (int l = 0; l < b->c->dcn_layers; l++) {
    rk_param *k, *bias;
    snprintf(name, sizeof name, "cross.%d.weight", l);
    RK_TRY(dense(b, &k, name, w, w));
    snprintf(name, sizeof name, "cross.%d.bias", l);
    RK_TRY(dense(b, &bias, name, w, 0));
    RK_TRY(track_kernel(b, k));
    RK_TRY(rk_graph_cross(b->g, &x, x0, x, k, NULL, NULL, bias));
  }
  RK_TRY(mlp(b, &x, x, &w, b->c->mlp_layers, b->c->n_mlp_layers, "mlp"));
  return shared_heads(b, x, w, NULL);
}

static rk_status build_dlrm(builder *b) {
  rk_ranking_model *m = b->m;
  int64_t D = b->c->embeddings_dim, w;
  int x, inter;
  if (m->dense_input != RK_NO_VALUE) {
    int64_t width = m->n_cont;
    int bottom, emb;
    RK_TRY(mlp(b, &bottom, m->dense_input, &width, &D, 1, "bottom_mlp"));
    RK_TRY(stack(b, &emb, 0));
    RK_TRY(rk_graph_dot_interaction(b->g, &inter, bottom, emb));   /* [bottom, dots] */
    x = inter;
    w = D + (int64_t)(m->n_cat + 1) * m->n_cat / 2;
  } else {
    /* No continuous features: the first embedding plays the dense row, so the dots cover every
     * pair of fields; the top MLP reads [dots, embeddings] (or the dots alone, as the reference). */
    if (m->n_cat < 2) return rk_error(RK_EUSAGE, "--model dlrm needs at least two categorical features");
    int emb, parts[2];
    RK_TRY(stack(b, &emb, 1));
    int dense0;
    RK_TRY(flat(b, 0, &dense0));
    RK_TRY(rk_graph_dot_interaction(b->g, &inter, dense0, emb));
    int64_t dots = (int64_t)m->n_cat * (m->n_cat - 1) / 2;
    if (b->c->dlrm_top_dots_only) {
      int64_t sizes[2] = {D, dots};
      RK_TRY(rk_graph_split(b->g, parts, inter, 1, 2, sizes));
      x = parts[1];
      w = dots;
    } else {
      int *xs = rk_malloc((size_t)(m->n_cat + 1) * sizeof *xs);
      if (!xs) return RK_ENOMEM;
      xs[0] = inter;
      rk_status st = RK_OK;
      for (int i = 1; i < m->n_cat && st == RK_OK; i++) st = flat(b, i, &xs[i]);
      if (st == RK_OK) st = rk_graph_concat(b->g, &x, m->n_cat, xs, 1);
      rk_free(xs);
      RK_TRY(st);
      w = D * m->n_cat + dots;
    }
  }
  RK_TRY(mlp(b, &x, x, &w, b->c->mlp_layers, b->c->n_mlp_layers, "top_mlp"));
  return shared_heads(b, x, w, NULL);
}

/* One weight per category and task (a table of dimension K) per feature: a linear model on
 * one-hot features (a list's weights summed). Appends each feature's (B, 1, K) lookup to parts.
 * The wide tables take --wnd_wide_l2_reg; deepfm's first order none (l2 0). */
static rk_status first_order(builder *b, int *parts, int *np, float l2) {
  rk_ranking_model *m = b->m;
  char name[300];
  for (int i = 0; i < m->n_cat; i++) {
    rk_param *t;
    snprintf(name, sizeof name, "first_order.%s", m->cat_names[i]);
    RK_TRY(table(b, &t, name, m->cardinality[i], m->n_tasks, TABLE_WIDE));
    RK_TRY(lookup(b, &parts[(*np)++], t, i, RK_POOL_SUM, l2));
  }
  return RK_OK;
}

/* (B, P, K) parts summed over P, plus bias (K) when not RK_NO_VALUE: one (B, 1) term per task. */
static rk_status per_task_sums(builder *b, int *parts, int np, int bias, int *terms) {
  int K = b->m->n_tasks, sum;
  if (np == 1) sum = parts[0];
  else RK_TRY(rk_graph_concat(b->g, &sum, np, parts, 1));
  RK_TRY(rk_graph_sum(b->g, &sum, sum, 1));   /* (B, K) */
  if (bias != RK_NO_VALUE) RK_TRY(rk_graph_add(b->g, &sum, sum, bias));
  if (K == 1) return terms[0] = sum, RK_OK;
  int64_t ones[RK_MAX_TASKS];
  for (int t = 0; t < K; t++) ones[t] = 1;
  return rk_graph_split(b->g, terms, sum, 1, K, ones);
}

/* Whether --wnd_ignore_combinations names the cross of a and b (in either order). */
static bool ignored_cross(const rk_ranking_config *c, const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  for (int k = 0; k < c->n_wnd_ignore; k++) {
    const char *x = c->wnd_ignore[k];
    size_t n = strlen(x);
    if (n == la + lb + 1 && x[la] == ':' && !strncmp(x, a, la) && !strcmp(x + la + 1, b)) return true;
    if (n == la + lb + 1 && x[lb] == ':' && !strncmp(x, b, lb) && !strcmp(x + lb + 1, a)) return true;
  }
  return false;
}

/* The single-valued categorical feature named by the n bytes at name, or -1. */
static int crossable_feature(const rk_ranking_model *m, const char *name, size_t n) {
  for (int i = 0; i < m->n_cat; i++)
    if (!m->max_len[i] && strlen(m->cat_names[i]) == n && strncmp(m->cat_names[i], name, n) == 0) return i;
  return -1;
}

/* Every --wnd_ignore_combinations entry must name a cross the wide part builds: a typo would
 * keep the cross without a word. */
static rk_status check_ignored_crosses(const rk_ranking_model *m, const rk_ranking_config *c) {
  for (int k = 0; k < c->n_wnd_ignore; k++) {
    const char *x = c->wnd_ignore[k], *colon = strchr(x, ':');
    int a = colon ? crossable_feature(m, x, (size_t)(colon - x)) : -1;
    int b = colon ? crossable_feature(m, colon + 1, strlen(colon + 1)) : -1;
    if (a < 0 || b < 0 || a == b)
      return rk_error(RK_EUSAGE, "%s: '%s' is not A:B of two single-valued categorical features "
                                 "(the wide part crosses every pair of them)", rk_ranking_setting_name(c, RK_SETTING_wnd_ignore), x);
  }
  return RK_OK;
}

/* A zero dense parameter of (K, n) (n > 0) or (K) (n == 0): the linear model's weights. */
static rk_status zeros(builder *b, rk_param **out, const char *name, int64_t K, int64_t n) {
  bool fresh;
  RK_TRY(next_param(b->m, b->share, name, out, &fresh));
  int64_t shape[2] = {K, n};
  return fresh ? rk_param_arena_add(b->m->arena, *out, name, n ? 2 : 1, shape) : RK_OK;
}

/* TensorFlow's linear model (RK_WIDE_LINEAR): the continuous features' weights "wide.continuous"
 * (K, n_cont) as one more (B, 1, K) part, and the bias "wide.bias" (K); *bias gets its value. */
static rk_status linear_terms(builder *b, int *parts, int *np, int *bias) {
  rk_ranking_model *m = b->m;
  int64_t K = m->n_tasks;
  rk_param *w, *bp;
  if (m->n_cont) {
    int x, reg;
    int64_t shape[3] = {b->B, 1, K};
    RK_TRY(zeros(b, &w, "wide.continuous", K, m->n_cont));
    RK_TRY(rk_graph_linear(b->g, &x, m->dense_input, w, NULL, RK_ACT_NONE));
    RK_TRY(rk_graph_reshape(b->g, &parts[(*np)++], x, 3, shape));
    if (b->c->wnd_wide_l2_reg > 0 && m->train) {
      RK_TRY(rk_graph_l2(b->g, &reg, 1, &w, b->c->wnd_wide_l2_reg));
      RK_TRY(add_to(b, &b->reg, reg));
    }
  }
  RK_TRY(zeros(b, &bp, "wide.bias", K, 0));
  return rk_graph_param(b->g, bias, bp);
}

/* The wide part: every first-order and cross weight looked up, (B, 1, K) each, summed once into
 * one (B, 1) term per task. */
static rk_status wide_part(builder *b, int *terms) {
  rk_ranking_model *m = b->m;
  int *parts = rk_malloc(((size_t)m->n_cat * (size_t)(m->n_cat + 1) / 2 + 2) * sizeof *parts), np = 0;
  int bias = RK_NO_VALUE;
  if (!parts) return RK_ENOMEM;
  bool crosses = b->c->wide_layout == RK_WIDE_CROSSES;
  rk_status st = crosses ? check_ignored_crosses(m, b->c) : RK_OK;
  if (st == RK_OK) st = first_order(b, parts, &np, b->c->wnd_wide_l2_reg);
  char name[600];
  for (int i = 0; crosses && i < m->n_cat && st == RK_OK; i++) {
    for (int j = i + 1; j < m->n_cat && st == RK_OK; j++) {
      if (m->max_len[i] || m->max_len[j] || ignored_cross(b->c, m->cat_names[i], m->cat_names[j])) continue;
      int ids, e;
      rk_param *t;
      snprintf(name, sizeof name, "wide_cross.%s.%s", m->cat_names[i], m->cat_names[j]);
      st = rk_graph_hash_cross(b->g, &ids, m->cat_inputs[i], 0, m->cat_inputs[j], 0, b->c->wnd_hashed_cross_num_bins);
      if (st == RK_OK) st = table(b, &t, name, b->c->wnd_hashed_cross_num_bins, m->n_tasks, TABLE_WIDE);
      if (st == RK_OK) st = rk_graph_embedding(b->g, &e, t, ids, 0);
      if (st == RK_OK) parts[np++] = e;
      if (st == RK_OK) st = regularise_lookup(b, e, b->c->wnd_wide_l2_reg);
    }
  }
  if (st == RK_OK && !crosses) st = linear_terms(b, parts, &np, &bias);
  if (st == RK_OK) st = per_task_sums(b, parts, np, bias, terms);
  rk_free(parts);
  return st;
}

static rk_status build_wide_n_deep(builder *b) {
  rk_ranking_model *m = b->m;
  int wide[RK_MAX_TASKS], x;
  int64_t w;
  if (b->c->wnd_parts != RK_WND_DEEP_ONLY) RK_TRY(wide_part(b, wide));
  if (b->c->wnd_parts == RK_WND_WIDE_ONLY) {
    for (int t = 0; t < m->n_tasks; t++) m->logits[t] = wide[t];
    return RK_OK;
  }
  RK_TRY(deep_body(b, &x, &w));
  return shared_heads(b, x, w, b->c->wnd_parts == RK_WND_DEEP_ONLY ? NULL : wide);
}

bool rk_ranking_param_is_wide(const rk_param *p) {
  return strncmp(p->name, "first_order.", 12) == 0 || strncmp(p->name, "wide_cross.", 11) == 0 ||
         strncmp(p->name, "wide.", 5) == 0;
}

static rk_status build_deepfm(builder *b) {
  rk_ranking_model *m = b->m;
  int *parts = rk_malloc(((size_t)m->n_cat + 1) * sizeof *parts), np = 0, emb, fm, x;
  int64_t w;
  if (!parts) return RK_ENOMEM;
  rk_status st = first_order(b, parts, &np, 0);
  int terms[RK_MAX_TASKS], first = RK_NO_VALUE;
  if (st == RK_OK && m->n_tasks == 1) {
    /* One task: the first-order weights join the FM op as its (B, F) linear term. */
    st = np == 1 ? (first = parts[0], RK_OK) : rk_graph_concat(b->g, &first, np, parts, 1);
    int64_t shape[2] = {b->B, m->n_cat};
    if (st == RK_OK) st = rk_graph_reshape(b->g, &first, first, 2, shape);
  } else if (st == RK_OK) {
    st = per_task_sums(b, parts, np, RK_NO_VALUE, terms);   /* task t: its own first-order weights */
  }
  rk_free(parts);
  RK_TRY(st);
  RK_TRY(stack(b, &emb, 0));
  RK_TRY(rk_graph_fm(b->g, &fm, emb, first));   /* the field-wise pairwise term (plus first order) */
  if (m->n_tasks == 1) terms[0] = fm;
  for (int t = 0; m->n_tasks > 1 && t < m->n_tasks; t++) RK_TRY(rk_graph_add(b->g, &terms[t], terms[t], fm));
  RK_TRY(deep_body(b, &x, &w));
  return shared_heads(b, x, w, terms);
}

/* ---- multi-task: experts and gates ---- */

/* n experts (MLPs of --expert_mlp_layers) on x, each (B, 1, D), appended to out. */
static rk_status experts(builder *b, int x, int64_t w, int n, const char *prefix, int *out, int *nout, int64_t *D) {
  char name[200];
  for (int e = 0; e < n; e++) {
    int h;
    int64_t hw = w;
    snprintf(name, sizeof name, "%s.%d", prefix, e);
    RK_TRY(mlp(b, &h, x, &hw, b->c->expert_layers, b->c->n_expert_layers, name));
    if (rk_graph_value_ndim(b->g, h) == 2) {
      int64_t shape[3] = {b->B, 1, hw};
      RK_TRY(rk_graph_reshape(b->g, &h, h, 3, shape));
    }
    out[(*nout)++] = h;
    *D = hw;
  }
  return RK_OK;
}

/* A gate: softmax(W h(x) / T) over the n experts (B, 1, D) each -> their weighted sum (B, D).
 * h: a ReLU layer of --gate_dim units (none when 0); W: bias-free. *probs: the weights (B, E). */
static rk_status gate(builder *b, int x, int64_t w, const int *ex, int n, const char *prefix, int *out, int *probs) {
  char name[300];
  int h = x;
  int64_t hw = w;
  if (b->c->gate_dim > 0) {   /* ReLU whatever --activation says, and no dropout */
    rk_param *wh, *bh;
    snprintf(name, sizeof name, "%s.hidden.0.weight", prefix);
    RK_TRY(dense(b, &wh, name, b->c->gate_dim, hw));
    snprintf(name, sizeof name, "%s.hidden.0.bias", prefix);
    RK_TRY(dense(b, &bh, name, b->c->gate_dim, 0));
    RK_TRY(track_kernel(b, wh));
    RK_TRY(track_kernel(b, bh));
    RK_TRY(rk_graph_linear(b->g, &h, h, wh, bh, RK_ACT_RELU));
    hw = b->c->gate_dim;
  }
  rk_param *wg;
  snprintf(name, sizeof name, "%s.weight", prefix);
  RK_TRY(dense(b, &wg, name, n, hw));
  RK_TRY(track_kernel(b, wg));
  int logits, stacked;
  RK_TRY(rk_graph_linear(b->g, &logits, h, wg, NULL, RK_ACT_NONE));
  if (rk_graph_value_ndim(b->g, logits) == 3) {
    int64_t shape[2] = {b->B, n};
    RK_TRY(rk_graph_reshape(b->g, &logits, logits, 2, shape));
  }
  RK_TRY(n == 1 ? (stacked = ex[0], RK_OK) : rk_graph_concat(b->g, &stacked, n, ex, 1));   /* (B, E, D) */
  RK_TRY(rk_graph_gate(b->g, out, stacked, logits, b->c->gate_temperature));
  RK_TRY(rk_graph_softmax(b->g, probs, logits, b->c->gate_temperature));
  return rk_graph_output(b->g, *probs);
}

/* MMoE: shared experts, a gate per task. */
static rk_status build_mmoe(builder *b) {
  rk_ranking_model *m = b->m;
  int x, ex[64], nex = 0, xs[RK_MAX_TASKS];
  int64_t w, D = 0, ws[RK_MAX_TASKS];
  if (b->c->mmoe_experts < 1 || b->c->mmoe_experts > 64)
    return rk_error(RK_EUSAGE, "%s %d: expected 1 to 64", rk_ranking_setting_name(b->c, RK_SETTING_mmoe_experts),
                    b->c->mmoe_experts);
  RK_TRY(concat_all(b, &x, &w));
  RK_TRY(experts(b, x, w, b->c->mmoe_experts, "mmoe.expert", ex, &nex, &D));
  char name[200];
  for (int t = 0; t < m->n_tasks; t++) {
    snprintf(name, sizeof name, "mmoe.gate.%s", m->targets[t]);
    RK_TRY(gate(b, x, w, ex, nex, name, &xs[t], &m->gate_probs[t]));
    ws[t] = D;
  }
  return heads(b, xs, ws, NULL);
}

/* CGC (one level) and PLE (several): per task experts and shared experts; each task's gate
 * weighs its own experts then the shared ones; levels before the last add a shared gate over
 * every expert, whose output the next level's shared experts read. */
static rk_status build_ple(builder *b, int levels, const char *kind) {
  rk_ranking_model *m = b->m;
  const rk_ranking_config *c = b->c;
  int K = m->n_tasks, te = c->cgc_task_experts, se = c->cgc_shared_experts;
  if (te < 0 || se < 0 || te + se < 1 || (K * te + se) > 64)
    return rk_error(RK_EUSAGE, "%s %d and %s %d: expected at least one expert and at most 64 in all",
                    rk_ranking_setting_name(c, RK_SETTING_cgc_task_experts), te,
                    rk_ranking_setting_name(c, RK_SETTING_cgc_shared_experts), se);
  if (levels < 1)
    return rk_error(RK_EUSAGE, "%s %d: expected at least 1", rk_ranking_setting_name(c, RK_SETTING_ple_layers), levels);
  int x0, xt[RK_MAX_TASKS], xs;
  int64_t w0, wt[RK_MAX_TASKS], wsh;
  RK_TRY(concat_all(b, &x0, &w0));
  for (int t = 0; t < K; t++) xt[t] = x0, wt[t] = w0;
  xs = x0, wsh = w0;
  char name[200];
  for (int l = 0; l < levels; l++) {
    int task_ex[RK_MAX_TASKS][64], nte[RK_MAX_TASKS], shared_ex[64], nse = 0, probs;
    int64_t D = 0;
    for (int t = 0; t < K; t++) {
      nte[t] = 0;
      snprintf(name, sizeof name, "%s.%d.expert.%s", kind, l, m->targets[t]);
      RK_TRY(experts(b, xt[t], wt[t], te, name, task_ex[t], &nte[t], &D));
    }
    snprintf(name, sizeof name, "%s.%d.expert.shared", kind, l);
    RK_TRY(experts(b, xs, wsh, se, name, shared_ex, &nse, &D));
    int nxt[RK_MAX_TASKS], nxs = xs;
    for (int t = 0; t < K; t++) {
      int sel[128], n = 0;
      for (int e = 0; e < nte[t]; e++) sel[n++] = task_ex[t][e];
      for (int e = 0; e < nse; e++) sel[n++] = shared_ex[e];
      snprintf(name, sizeof name, "%s.%d.gate.%s", kind, l, m->targets[t]);
      int in = c->ple_gate_original ? x0 : xt[t];
      int64_t inw = c->ple_gate_original ? w0 : wt[t];
      RK_TRY(gate(b, in, inw, sel, n, name, &nxt[t], l == levels - 1 ? &m->gate_probs[t] : &probs));
    }
    if (l < levels - 1) {
      int all[128], n = 0;
      for (int t = 0; t < K; t++)
        for (int e = 0; e < nte[t]; e++) all[n++] = task_ex[t][e];
      for (int e = 0; e < nse; e++) all[n++] = shared_ex[e];
      snprintf(name, sizeof name, "%s.%d.gate.shared", kind, l);
      RK_TRY(gate(b, c->ple_gate_original ? x0 : xs, c->ple_gate_original ? w0 : wsh, all, n, name, &nxs, &probs));
    }
    for (int t = 0; t < K; t++) xt[t] = nxt[t], wt[t] = D;
    xs = nxs, wsh = D;
  }
  return heads(b, xt, wt, NULL);
}

/* ---- schema -> features ---- */

static rk_status alloc_features(rk_ranking_model *m, size_t n) {
  m->cat_names = rk_calloc(n, sizeof *m->cat_names);
  m->cont_names = rk_calloc(n, sizeof *m->cont_names);
  m->cardinality = rk_calloc(n, sizeof *m->cardinality);
  m->dims = rk_calloc(n, sizeof *m->dims);
  m->hash_buckets = rk_calloc(n, sizeof *m->hash_buckets);
  m->indicator = rk_calloc(n, sizeof *m->indicator);
  m->max_len = rk_calloc(n, sizeof *m->max_len);
  m->cat_inputs = rk_calloc(n, sizeof *m->cat_inputs);
  if (!m->cat_names || !m->cont_names || !m->cardinality || !m->dims || !m->hash_buckets || !m->indicator ||
      !m->max_len || !m->cat_inputs)
    return RK_ENOMEM;
  return RK_OK;
}

/* Categorical column col as feature k: its table size, ids and dimension (models.h). */
static rk_status categorical(rk_ranking_model *m, int k, const rk_schema_column *col, const rk_ranking_config *c) {
  char what[320];
  snprintf(what, sizeof what, "the table of categorical column '%s' (int_domain max + 1)", col->name);
  json_t *ind = rk_schema_column_property(col, "indicator");
  m->indicator[k] = ind && json_is_true(ind);
  int64_t buckets = 0, card = 0, dim = 0;
  if (rk_schema_column_num_buckets(col, &buckets)) {
    if (buckets < 2 || m->indicator[k])
      return rk_error(RK_EFORMAT, "column '%s': num_buckets %lld%s; expected at least 2 buckets and no indicator property",
                      col->name, (long long)buckets, m->indicator[k] ? " with the indicator property" : "");
    m->hash_buckets[k] = m->cardinality[k] = buckets;
  } else if (!col->int_domain.present || !col->int_domain.has_max || col->int_domain.max < 0) {
    return rk_error(RK_EFORMAT, "categorical column '%s' has no int_domain max (nor num_buckets) in the schema, so its table size is unknown",
                    col->name);
  } else {
    /* An indicator's raw values 0..max are stored one up, keeping 0 for a null. */
    RK_TRY(rk_size_add(&m->cardinality[k], col->int_domain.max, 1 + m->indicator[k], what));
  }
  if (m->indicator[k]) {
    if (c->kind == RK_MODEL_DLRM || c->kind == RK_MODEL_DEEPFM)
      return rk_error(RK_EUSAGE, "%s %s needs an embedding for every feature; column '%s' is an indicator",
                      rk_ranking_setting_name(c, RK_SETTING_kind), kind_names[c->kind], col->name);
    RK_TRY(rk_size_add(&m->indicator_width, m->indicator_width, m->cardinality[k] - 1, "the indicator columns' width"));
  }
  if (col->is_list) {
    if (!col->value_count.present || !col->value_count.has_max || col->value_count.max < 1)
      return rk_error(RK_EFORMAT, "list column '%s' has no value_count max in the schema, so a batch's id count is unknown",
                      col->name);
    m->max_len[k] = col->value_count.max;
  }
  bool same_dim = c->kind == RK_MODEL_DLRM || c->kind == RK_MODEL_DEEPFM;
  if (same_dim) m->dims[k] = c->embeddings_dim;
  else if (c->schema_dims && rk_schema_column_embedding_sizes(col, &card, &dim) && dim > 0) m->dims[k] = dim;
  else m->dims[k] = rk_model_embedding_dim(m->cardinality[k], c->embedding_sizes_multiplier);
  int64_t elements;
  snprintf(what, sizeof what, "the embedding table of column '%s' (rows x dimension)", col->name);
  return rk_size_mul(&elements, m->cardinality[k], m->dims[k], what);
}

static rk_status features(rk_ranking_model *m, const rk_schema *s, const rk_ranking_config *c) {
  RK_TRY(alloc_features(m, (size_t)s->n_cols + 1));
  for (int t = 0; t < m->n_tasks; t++)
    if (rk_schema_find_index(s, m->targets[t]) < 0)
      return rk_error(RK_ENOTFOUND, "--tasks names '%s', which the schema does not have", m->targets[t]);
  for (int i = 0; i < s->n_cols; i++) {
    const rk_schema_column *col = &s->cols[i];
    if (rk_schema_column_has_tag(col, RK_TAG_TARGET)) continue;
    if (rk_schema_column_has_tag(col, RK_TAG_CATEGORICAL)) {
      int k = m->n_cat++;
      if (!(m->cat_names[k] = rk_strdup(col->name))) return RK_ENOMEM;
      RK_TRY(categorical(m, k, col, c));
    } else if (rk_schema_column_has_tag(col, RK_TAG_CONTINUOUS)) {
      if (!(m->cont_names[m->n_cont++] = rk_strdup(col->name))) return RK_ENOMEM;
    }
  }
  if (m->n_cat == 0 && m->n_cont == 0) return rk_error(RK_EUSAGE, "the schema has no categorical or continuous features");
  bool dense_ok = c->kind == RK_MODEL_MLP || c->kind == RK_MODEL_DCN || c->kind >= RK_MODEL_MMOE;
  if (!dense_ok && m->n_cat == 0)
    return rk_error(RK_EUSAGE, "%s %s needs categorical features", rk_ranking_setting_name(c, RK_SETTING_kind),
                    kind_names[c->kind]);
  return RK_OK;
}

static int64_t *copy_layers(const int64_t *from, int n) {
  int64_t *l = rk_calloc((size_t)n + 1, sizeof *l);
  if (l && n) memcpy(l, from, (size_t)n * sizeof *l);
  return l;
}

static rk_status check_layers(const int64_t *l, int n, const char *flag) {
  for (int i = 0; i < n; i++)
    if (l[i] <= 0)
      return rk_error(RK_EUSAGE, "invalid %s: layer %d has %lld units, expected at least 1", flag, i + 1, (long long)l[i]);
  return RK_OK;
}

/* Copies of the per-task towers, each checked and naming one of the tasks. */
static rk_status keep_task_towers(rk_ranking_config *kept, const rk_ranking_config *c, int n_tasks,
                                  const char *const *targets) {
  kept->n_task_towers = 0;
  rk_task_tower *towers = rk_calloc((size_t)c->n_task_towers + 1, sizeof *towers);
  if (!(kept->task_towers = towers)) return RK_ENOMEM;
  for (int k = 0; k < c->n_task_towers; k++) {
    const rk_task_tower *from = &c->task_towers[k];
    towers[k].task = rk_strdup(from->task);
    towers[k].layers = copy_layers(from->layers, from->n_layers);
    towers[k].n_layers = from->n_layers;
    kept->n_task_towers++;
    if (!towers[k].task || !towers[k].layers) return RK_ENOMEM;
    char flag[300];
    snprintf(flag, sizeof flag, "--mtl_tower_layers_%s", from->task);
    if (from->n_layers < 1) return rk_error(RK_EUSAGE, "invalid %s: expected at least one layer", flag);
    RK_TRY(check_layers(from->layers, from->n_layers, flag));
    int t = 0;
    while (t < n_tasks && strcmp(targets[t], from->task) != 0) t++;
    if (t == n_tasks) {
      char names[512] = "";
      for (int u = 0; u < n_tasks; u++)
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", u ? ", " : "", targets[u]);
      return rk_error(RK_EUSAGE, "%s: '%s' is not a task of this model; expected one of %s", flag, from->task, names);
    }
  }
  return RK_OK;
}

/* Keep a copy of the configuration (its lists too) and the tasks. */
static rk_status keep_config(rk_ranking_model *m, const rk_ranking_config *c, int n_tasks, const char *const *targets,
                             const bool *regression) {
  m->cfg = *c;
  m->cfg.task_towers = NULL;   /* copied below, once the tasks are known */
  m->cfg.n_task_towers = 0;
  m->cfg.mlp_layers = copy_layers(c->mlp_layers, c->n_mlp_layers);
  m->cfg.expert_layers = copy_layers(c->expert_layers, c->n_expert_layers);
  m->cfg.tower_layers = copy_layers(c->tower_layers, c->n_tower_layers);
  const char **ignore = rk_calloc((size_t)c->n_wnd_ignore + 1, sizeof *ignore);
  m->cfg.wnd_ignore = ignore;
  if (!m->cfg.mlp_layers || !m->cfg.expert_layers || !m->cfg.tower_layers || !ignore) return RK_ENOMEM;
  RK_TRY(check_layers(c->mlp_layers, c->n_mlp_layers, rk_ranking_setting_name(c, RK_SETTING_mlp_layers)));
  RK_TRY(check_layers(c->expert_layers, c->n_expert_layers, rk_ranking_setting_name(c, RK_SETTING_expert_layers)));
  RK_TRY(check_layers(c->tower_layers, c->n_tower_layers, rk_ranking_setting_name(c, RK_SETTING_tower_layers)));
  for (int i = 0; i < c->n_wnd_ignore; i++)
    if (!(ignore[i] = rk_strdup(c->wnd_ignore[i]))) return RK_ENOMEM;
  if (n_tasks < 1 || n_tasks > RK_MAX_TASKS)
    return rk_error(RK_EUSAGE, "%d tasks: expected 1 to %d", n_tasks, RK_MAX_TASKS);
  RK_TRY(keep_task_towers(&m->cfg, c, n_tasks, targets));
  size_t K = (size_t)n_tasks;
  m->targets = rk_calloc(K, sizeof *m->targets);
  m->task_regression = rk_calloc(K, sizeof *m->task_regression);
  m->labels = rk_malloc(K * sizeof(int));
  m->weights = rk_malloc(K * sizeof(int));
  m->logits = rk_malloc(K * sizeof(int));
  m->task_losses = rk_malloc(K * sizeof(int));
  m->gate_probs = rk_malloc(K * sizeof(int));
  if (!m->targets || !m->task_regression || !m->labels || !m->weights || !m->logits || !m->task_losses || !m->gate_probs)
    return RK_ENOMEM;
  m->n_tasks = n_tasks;
  for (int t = 0; t < n_tasks; t++) {
    for (int u = 0; u < t; u++)
      if (strcmp(targets[u], targets[t]) == 0) return rk_error(RK_EUSAGE, "--tasks names '%s' twice", targets[t]);
    if (!(m->targets[t] = rk_strdup(targets[t]))) return RK_ENOMEM;
    m->task_regression[t] = regression[t];
    m->labels[t] = m->weights[t] = m->logits[t] = m->task_losses[t] = m->gate_probs[t] = RK_NO_VALUE;
  }
  m->target = m->targets[0];
  m->regression = m->task_regression[0];
  if (c->kind >= RK_MODEL_MMOE && n_tasks < 1)
    return rk_error(RK_EUSAGE, "%s %s needs tasks", rk_ranking_setting_name(c, RK_SETTING_kind), kind_names[c->kind]);
  return RK_OK;
}

/* The features of `from`, copied. */
static rk_status copy_features(rk_ranking_model *m, const rk_ranking_model *from) {
  RK_TRY(alloc_features(m, (size_t)(from->n_cat + from->n_cont) + 1));
  for (int i = 0; i < from->n_cat; i++) {
    if (!(m->cat_names[i] = rk_strdup(from->cat_names[i]))) return RK_ENOMEM;
    m->cardinality[i] = from->cardinality[i];
    m->dims[i] = from->dims[i];
    m->hash_buckets[i] = from->hash_buckets[i];
    m->indicator[i] = from->indicator[i];
    m->max_len[i] = from->max_len[i];
    m->n_cat++;
  }
  m->indicator_width = from->indicator_width;
  for (int i = 0; i < from->n_cont; i++) {
    if (!(m->cont_names[i] = rk_strdup(from->cont_names[i]))) return RK_ENOMEM;
    m->n_cont++;
  }
  return RK_OK;
}

/* What a new model needs before any parameter is allocated: the embedding tables, the dense
 * layers' weights and gradients, and their activations and gradients at the batch size. A lower
 * bound, so it never refuses a run that fits; the graph checks its exact plan in rk_graph_build
 * and the optimizer its state in rk_optim_init, each before allocating. */
static rk_status check_memory(const rk_ranking_model *m, const rk_ranking_config *c, int64_t batch) {
  const char *what = "the model's memory (tables, layers x batch size)";
  int64_t params = 0, width = m->n_cont, units = 0, x;
  RK_TRY(rk_size_add(&width, width, m->indicator_width, what));
  for (int i = 0; i < m->n_cat; i++) {
    if (m->indicator[i]) continue;
    RK_TRY(rk_size_mul(&x, m->cardinality[i], m->dims[i], what));
    RK_TRY(rk_size_add(&params, params, x, what));
    RK_TRY(rk_size_add(&width, width, m->dims[i], what));
  }
  RK_TRY(rk_size_add(&units, units, width, what));
  bool mtl = c->kind >= RK_MODEL_MMOE;
  const int64_t *layers = mtl ? c->expert_layers : c->mlp_layers;
  for (int i = 0, n = mtl ? c->n_expert_layers : c->n_mlp_layers; i < n; i++) {
    RK_TRY(rk_size_mul(&x, width, layers[i], what));
    RK_TRY(rk_size_mul(&x, x, 2, what));   /* weight and gradient */
    RK_TRY(rk_size_add(&params, params, x, what));
    RK_TRY(rk_size_add(&units, units, layers[i], what));
    width = layers[i];
  }
  int64_t acts, need;
  RK_TRY(rk_size_mul(&acts, batch, units, what));
  RK_TRY(rk_size_mul(&acts, acts, 2, what));   /* value and gradient */
  RK_TRY(rk_size_add(&need, params, acts, what));
  RK_TRY(rk_size_mul(&need, need, (int64_t)sizeof(float), what));
  char label[96];
  snprintf(label, sizeof label, "a %s model at batch %lld", kind_names[c->kind], (long long)batch);
  return rk_memory_check(need, label);
}

static rk_status build(rk_ranking_model *m, const rk_ranking_model *share, int64_t batch) {
  const rk_ranking_config *c = &m->cfg;
  if (batch <= 0) return rk_error(RK_EUSAGE, "invalid batch size %lld: expected at least 1", (long long)batch);
  RK_TRY(rk_graph_create(&m->g, batch));
  rk_graph_set_seed(m->g, c->seed);
  builder b = {m, c, m->g, batch, rk_calloc((size_t)m->n_cat + 1, sizeof(int)),
               rk_calloc((size_t)m->n_cat + 1, sizeof(int)), NULL, 0, RK_NO_VALUE, share, NULL, 0};
  rk_status st = b.emb && b.lookups ? RK_OK : RK_ENOMEM;
  if (st == RK_OK && !share) st = rk_param_arena_create(&m->arena);
  if (st == RK_OK) st = inputs(&b);
  int64_t one[1] = {1};
  m->loss = m->reg = RK_NO_VALUE;
  char name[300];
  for (int t = 0; st == RK_OK && m->train && t < m->n_tasks; t++) {
    snprintf(name, sizeof name, "label.%s", m->targets[t]);
    st = rk_graph_input(m->g, &m->labels[t], name, 1, one);
    snprintf(name, sizeof name, "weight.%s", m->targets[t]);
    if (st == RK_OK) st = rk_graph_input(m->g, &m->weights[t], name, 1, one);
  }
  if (st == RK_OK) {
    switch (c->kind) {
      case RK_MODEL_MLP: st = build_mlp(&b); break;
      case RK_MODEL_DCN: st = build_dcn(&b); break;
      case RK_MODEL_DLRM: st = build_dlrm(&b); break;
      case RK_MODEL_WIDE_N_DEEP: st = build_wide_n_deep(&b); break;
      case RK_MODEL_DEEPFM: st = build_deepfm(&b); break;
      case RK_MODEL_MMOE: st = build_mmoe(&b); break;
      case RK_MODEL_CGC: st = build_ple(&b, 1, "cgc"); break;
      case RK_MODEL_PLE: st = build_ple(&b, c->ple_layers, "ple"); break;
    }
  }
  if (st == RK_OK && !share) st = check_unique_names(m);
  if (st == RK_OK && share && m->n_params != share->n_params)
    st = rk_error(RK_EINVAL, "shared model: %d parameters, the original has %d", m->n_params, share->n_params);
  int loss = RK_NO_VALUE, reg;
  if (st == RK_OK && m->train) {
    for (int t = 0; st == RK_OK && t < m->n_tasks; t++) {
      int *l = &m->task_losses[t];
      st = m->task_regression[t] ? rk_graph_mse(m->g, l, m->logits[t], m->labels[t], m->weights[t])
                                 : rk_graph_bce_logits(m->g, l, m->logits[t], m->labels[t], m->weights[t]);
      if (st == RK_OK && m->n_tasks > 1) st = rk_graph_output(m->g, *l);
      if (st == RK_OK) st = add_to(&b, &loss, *l);
    }
    /* One l2 term per 16 parameters (an op holds at most that many). */
    for (int k = 0; st == RK_OK && c->l2_reg > 0 && k < b.n_kernels; k += 16) {
      int n = b.n_kernels - k < 16 ? b.n_kernels - k : 16;
      if ((st = rk_graph_l2(m->g, &reg, n, b.kernels + k, c->l2_reg)) == RK_OK) st = add_to(&b, &b.reg, reg);
    }
    m->reg = b.reg;
    if (st == RK_OK && b.reg != RK_NO_VALUE) st = rk_graph_output(m->g, b.reg);
    if (st == RK_OK && b.reg != RK_NO_VALUE) st = rk_graph_add(m->g, &loss, loss, b.reg);
    m->loss = loss;
    if (st == RK_OK) st = rk_graph_output(m->g, m->loss);
  }
  for (int t = 0; st == RK_OK && t < m->n_tasks; t++) st = rk_graph_output(m->g, m->logits[t]);
  if (st == RK_OK && !share) st = init_dense_params(&b);
  if (st == RK_OK) st = rk_graph_build(m->g, m->loss);
  m->label = m->labels[0];
  m->weight = m->weights[0];
  m->logit = m->logits[0];
  rk_free(b.emb);
  rk_free(b.lookups);
  rk_free(b.kernels);
  rk_free(b.inits);
  return st;
}

rk_status rk_ranking_build_tasks(rk_ranking_model *m, const rk_schema *schema, int n_tasks,
                                 const char *const *targets, const bool *regression, const rk_ranking_config *c,
                                 int64_t batch) {
  memset(m, 0, sizeof *m);
  m->train = true;
  m->owns_params = true;
  rk_status st = keep_config(m, c, n_tasks, targets, regression);
  if (st == RK_OK) st = features(m, schema, c);
  if (st == RK_OK) st = check_memory(m, &m->cfg, batch);
  if (st == RK_OK) st = build(m, NULL, batch);
  if (st != RK_OK) rk_ranking_free(m);
  return st;
}

rk_status rk_ranking_build(rk_ranking_model *m, const rk_schema *schema, const char *target, bool regression,
                           const rk_ranking_config *c, int64_t batch) {
  const char *targets[1] = {target};
  bool reg[1] = {regression};
  return rk_ranking_build_tasks(m, schema, 1, targets, reg, c, batch);
}

rk_status rk_ranking_share(rk_ranking_model *m, const rk_ranking_model *from, int64_t batch, bool train) {
  memset(m, 0, sizeof *m);
  m->train = train;
  rk_status st = keep_config(m, &from->cfg, from->n_tasks, (const char *const *)from->targets, from->task_regression);
  if (st == RK_OK) st = copy_features(m, from);
  if (st == RK_OK) st = build(m, from, batch);
  if (st != RK_OK) rk_ranking_free(m);
  return st;
}

rk_param *rk_ranking_param(const rk_ranking_model *m, const char *name) {
  for (int i = 0; i < m->n_params; i++)
    if (strcmp(m->params[i]->name, name) == 0) return m->params[i];
  return NULL;
}

void rk_ranking_free(rk_ranking_model *m) {
  rk_graph_free(m->g);
  for (int i = 0; m->owns_params && i < m->n_params; i++) {
    rk_param_free(m->params[i]);
    rk_free(m->params[i]);
  }
  rk_free(m->params);
  rk_param_arena_free(m->arena);
  for (int i = 0; m->cat_names && i < m->n_cat; i++) rk_free(m->cat_names[i]);
  for (int i = 0; m->cont_names && i < m->n_cont; i++) rk_free(m->cont_names[i]);
  rk_free(m->cat_names);
  rk_free(m->cont_names);
  rk_free(m->cardinality);
  rk_free(m->dims);
  rk_free(m->hash_buckets);
  rk_free(m->indicator);
  rk_free(m->max_len);
  rk_free(m->cat_inputs);
  rk_free((void *)m->cfg.mlp_layers);
  rk_free((void *)m->cfg.expert_layers);
  rk_free((void *)m->cfg.tower_layers);
  for (int k = 0; m->cfg.task_towers && k < m->cfg.n_task_towers; k++) {
    rk_free((void *)m->cfg.task_towers[k].task);
    rk_free((void *)m->cfg.task_towers[k].layers);
  }
  rk_free((void *)m->cfg.task_towers);
  for (int i = 0; m->cfg.wnd_ignore && i < m->cfg.n_wnd_ignore; i++) rk_free((void *)m->cfg.wnd_ignore[i]);
  rk_free((void *)m->cfg.wnd_ignore);
  for (int t = 0; m->targets && t < m->n_tasks; t++) rk_free(m->targets[t]);
  rk_free(m->targets);
  rk_free(m->task_regression);
  rk_free(m->labels);
  rk_free(m->weights);
  rk_free(m->logits);
  rk_free(m->task_losses);
  rk_free(m->gate_probs);
  memset(m, 0, sizeof *m);
}
