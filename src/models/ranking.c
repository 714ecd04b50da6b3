/*
 * Ranking models from a schema: the input block (a table per categorical feature, a dense input
 * for the continuous ones), then the interaction each model names, an MLP, one output. Built
 * once per batch size into a static graph; the parameters live here, the arithmetic in nn/.
 * This file turns the schema into features, keeps the configuration and runs a build; the parts
 * of the graph come from the files ranking_internal.h lists.
 */
#include <stdio.h>
#include <string.h>

#include "ranking_internal.h"

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
                      rk_ranking_setting_name(c, RK_SETTING_kind), rk_model_kind_name(c->kind), col->name);
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
                    rk_model_kind_name(c->kind));
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
    return rk_error(RK_EUSAGE, "%s %s needs tasks", rk_ranking_setting_name(c, RK_SETTING_kind), rk_model_kind_name(c->kind));
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
    int64_t rows = m->cardinality[i];   /* a table sharded over ranks: this rank's rows only */
    char name[300];
    snprintf(name, sizeof name, "embeddings.%s", m->cat_names[i]);
    if (c->placement)
      RK_TRY(c->placement->rows(c->placement->ctx, name, m->cardinality[i], m->dims[i], &rows));
    RK_TRY(rk_size_mul(&x, rows, m->dims[i], what));
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
  snprintf(label, sizeof label, "a %s model at batch %lld", rk_model_kind_name(c->kind), (long long)batch);
  return rk_memory_check(need, label);
}

static rk_status build(rk_ranking_model *m, const rk_ranking_model *share, int64_t batch) {
  const rk_ranking_config *c = &m->cfg;
  if (batch <= 0) return rk_error(RK_EUSAGE, "invalid batch size %lld: expected at least 1", (long long)batch);
  RK_TRY(rk_graph_create(&m->g, batch));
  rk_graph_set_seed(m->g, c->seed);
  rk_ranking_builder b = {m, c, m->g, batch, rk_calloc((size_t)m->n_cat + 1, sizeof(int)),
               rk_calloc((size_t)m->n_cat + 1, sizeof(int)), NULL, 0, RK_NO_VALUE, share, NULL, 0};
  rk_status st = b.emb && b.lookups ? RK_OK : RK_ENOMEM;
  if (st == RK_OK && !share) st = rk_param_arena_create(&m->arena);
  if (st == RK_OK) st = rk_ranking_inputs(&b);
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
      case RK_MODEL_MLP: st = rk_ranking_build_mlp(&b); break;
      case RK_MODEL_DCN: st = rk_ranking_build_dcn(&b); break;
      case RK_MODEL_DLRM: st = rk_ranking_build_dlrm(&b); break;
      case RK_MODEL_WIDE_N_DEEP: st = rk_ranking_build_wide_n_deep(&b); break;
      case RK_MODEL_DEEPFM: st = rk_ranking_build_deepfm(&b); break;
      case RK_MODEL_MMOE: st = rk_ranking_build_mmoe(&b); break;
      case RK_MODEL_CGC: st = rk_ranking_build_ple(&b, 1, "cgc"); break;
      case RK_MODEL_PLE: st = rk_ranking_build_ple(&b, c->ple_layers, "ple"); break;
    }
  }
  if (st == RK_OK && !share) st = rk_ranking_check_unique_names(m);
  if (st == RK_OK && share && m->n_params != share->n_params)
    st = rk_error(RK_EINVAL, "shared model: %d parameters, the original has %d", m->n_params, share->n_params);
  if (st == RK_OK && m->train) st = rk_ranking_losses(&b);
  for (int t = 0; st == RK_OK && t < m->n_tasks; t++) st = rk_graph_output(m->g, m->logits[t]);
  if (st == RK_OK && !share) st = rk_ranking_init_dense_params(&b);
  if (st == RK_OK) st = rk_graph_build(m->g, m->loss);
  if (st == RK_OK) rk_ranking_fill_base(m);
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
  m->cfg.placement = NULL;   /* asked while building only: the hook need not outlive the build */
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
