/*
 * `reckon preprocess`: the pipeline's driver. It checks the configuration, decides which input
 * columns play which part, builds everything in a temporary folder inside the output path and
 * moves the finished folders into place at the end, so a failed run leaves the previous output
 * (and any complete cached stage) as it was.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "etl/preprocess_internal.h"
#include "etl/session_internal.h"

void rk_preprocess_config_default(rk_preprocess_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->input_format = "csv";
  cfg->csv_sep = ',';
  cfg->output_path = "./results/";
  cfg->output_num_partitions = 10;
  cfg->te_kfold = 5;
  cfg->te_smoothing = 10;
  cfg->min_user_freq = cfg->max_user_freq = cfg->min_item_freq = cfg->max_item_freq = -1;
  cfg->num_max_rounds_filtering = 5;
  cfg->seed = 42;
  cfg->compression = "snappy";
  cfg->csv_header = true;
  /* session mode: the notebook's settings */
  rk_session_options *s = &cfg->session;
  static const char *const time_features[] = {"et_dayofweek_sin", "et_dayofweek_cos", "product_recency_days_log_norm"};
  s->timestamp_format = RK_TS_ISO8601;
  s->dedup_consecutive = true;
  s->max_length = 20;
  s->min_length = 2;
  s->time_features = time_features;
  s->n_time_features = 3;
  s->window_s = 86400;
  s->split_fracs[0] = 0.8;
  s->split_fracs[1] = 0.1;
  s->split_fracs[2] = 0.1;
  s->layout = "day_index";
  s->list_suffix = "_seq";
}

char *pp_path(const char *dir, const char *name) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *s = rk_malloc(n);
  if (s) snprintf(s, n, "%s/%s", dir, name);
  return s;
}

const char *pp_idx_name(const char *col, char *buf, size_t size) {
  snprintf(buf, size, "__idx_%s", col);
  return buf;
}

int pp_find(const pp_state *p, const char *name) { return rk_name_index_get(&p->col_index, name); }

void pp_time(pp_state *p, const char *stage, double t0) {
  json_t *old = json_object_get(p->timings, stage);
  double prev = old ? json_real_value(old) : 0.0;
  json_object_set_new(p->timings, stage, json_real(prev + rk_now() - t0));
}

static bool in_names(const rk_names *n, const char *s) {
  for (int i = 0; s && i < n->n; i++)
    if (strcmp(n->items[i], s) == 0) return true;
  return false;
}

/* ---- checking the configuration ---- */

typedef struct {
  const char *name;
  int list;
} named_in;

static int by_name_then_list(const void *a, const void *b) {
  const named_in *x = a, *y = b;
  int c = strcmp(x->name, y->name);
  return c ? c : (x->list > y->list) - (x->list < y->list);
}

/* Flags that each give a column one thing (a role, a cast): a column named by two of them is a
 * contradiction the run would settle silently, the last flag read winning. Sorting the names
 * keeps this n log n for the longest lists a config can hold. */
static rk_status check_exclusive(const rk_names *const *lists, const char *const *flags, int n, const char *what) {
  size_t total = 0;
  for (int l = 0; l < n; l++) total += (size_t)lists[l]->n;
  if (total < 2) return RK_OK;
  named_in *all = rk_malloc(total * sizeof *all);
  if (!all) return RK_ENOMEM;
  size_t k = 0;
  for (int l = 0; l < n; l++)
    for (int i = 0; i < lists[l]->n; i++) all[k++] = (named_in){lists[l]->items[i], l};
  qsort(all, total, sizeof *all, by_name_then_list);
  rk_status st = RK_OK;
  for (k = 1; k < total && st == RK_OK; k++)
    if (all[k].list != all[k - 1].list && strcmp(all[k].name, all[k - 1].name) == 0)
      st = rk_error(RK_EUSAGE, "column '%s' is named by both %s and %s: %s", all[k].name, flags[all[k - 1].list],
                    flags[all[k].list], what);
  rk_free(all);
  return st;
}

static rk_status check_config(const rk_preprocess_config *c) {
  if (!c->data_path || !*c->data_path) return rk_error(RK_EUSAGE, "--data_path (or --input_data_path) is required");
  if (c->eval_data_path && c->split != RK_SPLIT_NONE)
    return rk_error(RK_EUSAGE, "--eval_data_path gives data already split: it cannot be combined with "
                               "--dataset_split_strategy");
  if ((c->split == RK_SPLIT_RANDOM || c->split == RK_SPLIT_RANDOM_BY_USER) &&
      !(c->eval_perc > 0 && c->eval_perc < 1))
    return rk_error(RK_EUSAGE, "--random_split_eval_perc must be between 0 and 1 (exclusive) with "
                               "--dataset_split_strategy %s, got %g",
                    c->split == RK_SPLIT_RANDOM ? "random" : "random_by_user", c->eval_perc);
  if (c->split == RK_SPLIT_TEMPORAL && (!c->timestamp || !c->has_temporal_timestamp))
    return rk_error(RK_EUSAGE, "--dataset_split_strategy temporal needs --timestamp_feature and "
                               "--dataset_split_temporal_timestamp");
  if (c->split == RK_SPLIT_RANDOM_BY_USER && !c->user_id)
    return rk_error(RK_EUSAGE, "--dataset_split_strategy random_by_user needs --user_id_feature");
  if ((c->min_user_freq >= 0 || c->max_user_freq >= 0) && !c->user_id)
    return rk_error(RK_EUSAGE, "--min_user_freq and --max_user_freq need --user_id_feature");
  if ((c->min_item_freq >= 0 || c->max_item_freq >= 0) && !c->item_id)
    return rk_error(RK_EUSAGE, "--min_item_freq and --max_item_freq need --item_id_feature");
  if (c->dist && c->persist_intermediate)
    return rk_error(RK_EUSAGE, "--persist_intermediate_files is for one process: each rank reads a different share, "
                               "so a cached stage would hold only part of the input (run without mpirun to cache it)");
  if (c->output_num_partitions < 1)
    return rk_error(RK_EUSAGE, "--output_num_partitions must be at least 1, got %d", c->output_num_partitions);
  if (c->num_max_rounds_filtering < 1)
    return rk_error(RK_EUSAGE, "--num_max_rounds_filtering must be at least 1, got %d", c->num_max_rounds_filtering);
  if (c->te_kfold < 1) return rk_error(RK_EUSAGE, "--target_encoding_kfold must be at least 1, got %d", c->te_kfold);
  if (!(c->te_smoothing >= 0))
    return rk_error(RK_EUSAGE, "--target_encoding_smoothing must be 0 or more, got %g", c->te_smoothing);
  if (c->categ_min_freq_capping < 0)
    return rk_error(RK_EUSAGE, "--categ_min_freq_capping must be 0 or more, got %lld", (long long)c->categ_min_freq_capping);
  if (c->continuous_fillna && strcmp(c->continuous_fillna, "median") != 0) {
    char *end;
    double fill = strtod(c->continuous_fillna, &end);
    if (end == c->continuous_fillna || *end || !isfinite(fill))   /* a NaN fill would be no fill */
      return rk_error(RK_EUSAGE, "invalid value '%s' for --continuous_features_fillna: expected a finite number or 'median'",
                      c->continuous_fillna);
  }
  /* Contradictions the run would otherwise resolve silently. */
  if (c->eval_perc != 0 && c->split != RK_SPLIT_RANDOM && c->split != RK_SPLIT_RANDOM_BY_USER)
    return rk_error(RK_EUSAGE, "--random_split_eval_perc %g needs --dataset_split_strategy random or random_by_user "
                               "(got %s)", c->eval_perc, c->split == RK_SPLIT_TEMPORAL ? "temporal" : "no split");
  if (c->has_temporal_timestamp && c->split != RK_SPLIT_TEMPORAL)
    return rk_error(RK_EUSAGE, "--dataset_split_temporal_timestamp needs --dataset_split_strategy temporal");
  if (c->min_user_freq >= 0 && c->max_user_freq >= 0 && c->min_user_freq > c->max_user_freq)
    return rk_error(RK_EUSAGE, "--min_user_freq %lld is above --max_user_freq %lld: no user could stay",
                    (long long)c->min_user_freq, (long long)c->max_user_freq);
  if (c->min_item_freq >= 0 && c->max_item_freq >= 0 && c->min_item_freq > c->max_item_freq)
    return rk_error(RK_EUSAGE, "--min_item_freq %lld is above --max_item_freq %lld: no item could stay",
                    (long long)c->min_item_freq, (long long)c->max_item_freq);
  const rk_names *lists[] = {&c->categorical, &c->continuous, &c->control, &c->binary_targets, &c->regression_targets};
  bool any = false;
  for (size_t i = 0; i < sizeof lists / sizeof *lists; i++) any |= lists[i]->n > 0;
  if (!any)
    return rk_error(RK_EUSAGE, "nothing to preprocess: name columns with --categorical_features, "
                               "--continuous_features, --control_features or the target flags");
  /* (A target named as a feature too is found when the roles are assigned, with the id flags.) */
  const rk_names *features[] = {&c->categorical, &c->continuous, &c->control};
  const char *feature_flags[] = {"--categorical_features", "--continuous_features", "--control_features"};
  RK_TRY(check_exclusive(features, feature_flags, 3, "a feature is transformed one way"));
  const rk_names *targets[] = {&c->binary_targets, &c->regression_targets};
  const char *target_flags[] = {"--binary_classif_targets", "--regression_targets"};
  RK_TRY(check_exclusive(targets, target_flags, 2, "a target is of one kind"));
  const rk_names *casts[] = {&c->to_int32, &c->to_int16, &c->to_int8, &c->to_float32};
  const char *cast_flags[] = {"--to_int32", "--to_int16", "--to_int8", "--to_float32"};
  return check_exclusive(casts, cast_flags, 4, "a column takes one cast");
}

/* ---- column roles ---- */

static rk_status add_col(pp_state *p, const char *name, const char *flag, int *index) {
  if (!name || !*name) return rk_error(RK_EUSAGE, "%s has an empty column name", flag);
  int i = pp_find(p, name);
  if (i < 0) {
    pp_column *g = rk_realloc(p->cols, (size_t)(p->n_cols + 1) * sizeof *g);
    if (!g) return RK_ENOMEM;
    p->cols = g;
    RK_TRY(rk_name_index_put(&p->col_index, name, p->n_cols, NULL));
    i = p->n_cols++;
    memset(&g[i], 0, sizeof g[i]);
    g[i].name = name;
    g[i].flag = flag;
    g[i].is_target = true;   /* until a feature list names it */
    g[i].wf_col = -1;
  }
  if (index) *index = i;
  return RK_OK;
}

static rk_status add_list(pp_state *p, const rk_names *n, const char *flag, bool feature, bool dict) {
  for (int k = 0; k < n->n; k++) {
    int i;
    RK_TRY(add_col(p, n->items[k], flag, &i));
    if (feature) p->cols[i].is_target = false;
    p->cols[i].needs_dict |= dict;
  }
  return RK_OK;
}

static rk_status set_casts(pp_state *p, const rk_names *n, rk_coltype type, const char *flag) {
  for (int k = 0; k < n->n; k++) {
    int i = pp_find(p, n->items[k]);
    if (i < 0) {
      rk_warn("%s names column '%s', which no feature or target flag uses: ignored", flag, n->items[k]);
      continue;
    }
    p->cols[i].cast = true;
    p->cols[i].cast_type = type;
  }
  return RK_OK;
}

static rk_status plan_columns(pp_state *p) {
  const rk_preprocess_config *c = p->cfg;
  bool te = c->te_features.n > 0 || c->te_targets.n > 0;
  const rk_names *te_features = c->te_features.n ? &c->te_features : &c->categorical;
  RK_TRY(add_list(p, &c->control, "--control_features", true, false));
  RK_TRY(add_list(p, &c->categorical, "--categorical_features", true, true));
  RK_TRY(add_list(p, &c->continuous, "--continuous_features", true, false));
  if (te) RK_TRY(add_list(p, te_features, "--target_encoding_features", true, true));
  const char *ids[] = {c->user_id, c->item_id, c->timestamp, c->session_id};
  const char *id_flags[] = {"--user_id_feature", "--item_id_feature", "--timestamp_feature", "--session_id_feature"};
  int *id_index[] = {&p->user_col, &p->item_col, &p->ts_col, NULL};
  p->user_col = p->item_col = p->ts_col = -1;
  for (int k = 0; k < 4; k++) {
    if (!ids[k]) continue;
    int i;
    RK_TRY(add_col(p, ids[k], id_flags[k], &i));
    p->cols[i].is_target = false;
    if (id_index[k]) *id_index[k] = i;
  }
  if (p->user_col >= 0 && (c->min_user_freq >= 0 || c->max_user_freq >= 0 || c->split == RK_SPLIT_RANDOM_BY_USER))
    p->cols[p->user_col].needs_dict = true;
  if (p->item_col >= 0 && (c->min_item_freq >= 0 || c->max_item_freq >= 0)) p->cols[p->item_col].needs_dict = true;
  RK_TRY(add_list(p, &c->binary_targets, "--binary_classif_targets", false, false));
  RK_TRY(add_list(p, &c->regression_targets, "--regression_targets", false, false));
  for (int k = 0; k < c->binary_targets.n + c->regression_targets.n; k++) {
    const char *t = k < c->binary_targets.n ? c->binary_targets.items[k] : c->regression_targets.items[k - c->binary_targets.n];
    if (!p->cols[pp_find(p, t)].is_target)
      return rk_error(RK_EUSAGE, "column '%s' is both a target and a feature", t);
  }
  if (te) {
    rk_names all_targets = c->binary_targets;
    const rk_names *tt = c->te_targets.n ? &c->te_targets : &all_targets;
    if (!c->te_targets.n) {
      /* Every target: binary ones, then regression ones. */
      const char **items = rk_malloc((size_t)(c->binary_targets.n + c->regression_targets.n + 1) * sizeof *items);
      if (!items) return RK_ENOMEM;
      int m = 0;
      for (int k = 0; k < c->binary_targets.n; k++) items[m++] = c->binary_targets.items[k];
      for (int k = 0; k < c->regression_targets.n; k++) items[m++] = c->regression_targets.items[k];
      all_targets.items = items;
      all_targets.n = m;
    }
    rk_status st = add_list(p, tt, "--target_encoding_targets", false, false);
    for (int f = 0; f < te_features->n && st == RK_OK; f++) {
      for (int t = 0; t < tt->n && st == RK_OK; t++) {
        pp_te *g = rk_realloc(p->te, (size_t)(p->n_te + 1) * sizeof *g);
        if (!g) {
          st = RK_ENOMEM;
          break;
        }
        p->te = g;
        memset(&g[p->n_te], 0, sizeof *g);
        g[p->n_te].feature = pp_find(p, te_features->items[f]);
        g[p->n_te].target = pp_find(p, tt->items[t]);
        g[p->n_te].folds = c->te_kfold;
        g[p->n_te].wf_col = -1;
        p->n_te++;
      }
    }
    if (!c->te_targets.n) rk_free((void *)all_targets.items);
    RK_TRY(st);
    if (te && tt->n == 0) return rk_error(RK_EUSAGE, "--target_encoding_features needs targets: give --target_encoding_targets or a target flag");
  }
  RK_TRY(set_casts(p, &c->to_int32, RK_COL_INT32, "--to_int32"));
  RK_TRY(set_casts(p, &c->to_int16, RK_COL_INT16, "--to_int16"));
  RK_TRY(set_casts(p, &c->to_int8, RK_COL_INT8, "--to_int8"));
  RK_TRY(set_casts(p, &c->to_float32, RK_COL_FLOAT32, "--to_float32"));
  return RK_OK;
}

/* ---- the workflow's columns (statistics come in fit.c) ---- */

static rk_status tag_column(const pp_state *p, rk_wf_column *w, int i) {
  const rk_preprocess_config *c = p->cfg;
  const char *name = p->cols[i].name;
  bool is_user_id = i == p->user_col, is_item_id = i == p->item_col;
  bool is_session = c->session_id && strcmp(name, c->session_id) == 0;
  if (is_user_id) RK_TRY(rk_wf_column_add_tag(w, "user_id"));
  if (is_item_id) RK_TRY(rk_wf_column_add_tag(w, "item_id"));
  if (is_session) RK_TRY(rk_wf_column_add_tag(w, "session_id"));
  if (w->op == RK_WF_CATEGORIFY) RK_TRY(rk_wf_column_add_tag(w, "categorical"));
  if (w->op == RK_WF_NORMALIZE) RK_TRY(rk_wf_column_add_tag(w, "continuous"));
  if (is_user_id || in_names(&c->user_features, name)) RK_TRY(rk_wf_column_add_tag(w, "user"));
  if (is_item_id || in_names(&c->item_features, name)) RK_TRY(rk_wf_column_add_tag(w, "item"));
  if (is_session) RK_TRY(rk_wf_column_add_tag(w, "session"));
  if (is_user_id || is_item_id || is_session) RK_TRY(rk_wf_column_add_tag(w, "id"));
  if (i == p->ts_col) RK_TRY(rk_wf_column_add_tag(w, "time"));
  if (in_names(&c->binary_targets, name)) {
    RK_TRY(rk_wf_column_add_tag(w, "binary_classification"));
    RK_TRY(rk_wf_column_add_tag(w, "target"));
    RK_TRY(rk_wf_column_add_tag(w, "binary"));   /* as Merlin's own TenRec schema has it */
  }
  if (in_names(&c->regression_targets, name)) {
    RK_TRY(rk_wf_column_add_tag(w, "regression"));
    RK_TRY(rk_wf_column_add_tag(w, "target"));
  }
  return RK_OK;
}

static rk_status add_wf(pp_state *p, int i, rk_wf_op op) {
  pp_column *pc = &p->cols[i];
  if (pc->wf_col >= 0) return RK_OK;
  rk_wf_column *w;
  RK_TRY(rk_workflow_add(&p->wf, pc->name, pc->name, op, &w));
  pc->wf_col = p->wf.n_cols - 1;
  w->in_type = pc->is_list ? pc->elem_type : pc->type;
  w->is_list = pc->is_list;
  w->out_type = op == RK_WF_CATEGORIFY ? (pc->cast ? pc->cast_type : RK_COL_INT64)
                : op == RK_WF_NORMALIZE ? RK_COL_FLOAT32 : pc->type;
  w->is_target = pc->is_target;
  w->min_freq = p->cfg->categ_min_freq_capping;
  if (op == RK_WF_NORMALIZE && p->cfg->continuous_fillna) {
    bool median = strcmp(p->cfg->continuous_fillna, "median") == 0;
    w->fill = median ? RK_FILL_MEDIAN : RK_FILL_VALUE;
    w->fill_value = median ? NAN : strtod(p->cfg->continuous_fillna, NULL);
  }
  if (op == RK_WF_NORMALIZE && !rk_coltype_is_int(pc->type) && !rk_coltype_is_float(pc->type))
    return rk_error(RK_EUSAGE, "--continuous_features names '%s', which holds %s values, not numbers", pc->name,
                    rk_coltype_name(pc->type));
  return tag_column(p, w, i);
}

static rk_status plan_workflow(pp_state *p) {
  const rk_preprocess_config *c = p->cfg;
  for (int k = 0; k < c->control.n; k++) RK_TRY(add_wf(p, pp_find(p, c->control.items[k]), RK_WF_PASSTHROUGH));
  for (int k = 0; k < c->categorical.n; k++) RK_TRY(add_wf(p, pp_find(p, c->categorical.items[k]), RK_WF_CATEGORIFY));
  for (int k = 0; k < c->continuous.n; k++) RK_TRY(add_wf(p, pp_find(p, c->continuous.items[k]), RK_WF_NORMALIZE));
  for (int e = 0; e < p->n_te; e++) {
    pp_te *te = &p->te[e];
    const char *f = p->cols[te->feature].name, *t = p->cols[te->target].name;
    char name[600];
    snprintf(name, sizeof name, "TE_%s_%s", f, t);
    rk_wf_column *w;
    RK_TRY(rk_workflow_add(&p->wf, name, f, RK_WF_TARGET_ENCODE, &w));
    te->wf_col = p->wf.n_cols - 1;
    w->in_type = p->cols[te->feature].type;
    w->out_type = RK_COL_FLOAT32;
    w->te_smoothing = c->te_smoothing;
    w->te_folds = c->te_kfold;
    w->te_seed = c->seed;
    if (!(w->target = rk_strdup(t))) return RK_ENOMEM;
    RK_TRY(rk_wf_column_add_tag(w, "continuous"));
    te->nvals = rk_dict_size(p->cols[te->feature].dict);
    size_t cells = (size_t)(te->folds * te->nvals + 1);
    te->sum = rk_calloc(cells, sizeof *te->sum);
    te->cnt = rk_calloc(cells, sizeof *te->cnt);
    te->tot_sum = rk_calloc((size_t)te->nvals + 1, sizeof *te->tot_sum);
    te->tot_cnt = rk_calloc((size_t)te->nvals + 1, sizeof *te->tot_cnt);
    if (!te->sum || !te->cnt || !te->tot_sum || !te->tot_cnt) return RK_ENOMEM;
  }
  const int ids[] = {p->user_col, p->item_col, p->ts_col, c->session_id ? pp_find(p, c->session_id) : -1};
  for (int k = 0; k < 4; k++)
    if (ids[k] >= 0) RK_TRY(add_wf(p, ids[k], RK_WF_PASSTHROUGH));
  for (int k = 0; k < c->binary_targets.n; k++) RK_TRY(add_wf(p, pp_find(p, c->binary_targets.items[k]), RK_WF_PASSTHROUGH));
  for (int k = 0; k < c->regression_targets.n; k++)
    RK_TRY(add_wf(p, pp_find(p, c->regression_targets.items[k]), RK_WF_PASSTHROUGH));
  return RK_OK;
}

/* ---- folders ---- */

/* Rank 0 claims the output folder and makes the run's temporary folder in it; with several
 * ranks the others learn its name (rank 0's process id) and work in it too. */
static rk_status setup_dirs(pp_state *p) {
  const rk_preprocess_config *c = p->cfg;
  size_t n = strlen(c->output_path);
  while (n > 1 && c->output_path[n - 1] == '/') n--;
  if (!(p->out_dir = rk_malloc(n + 1))) return RK_ENOMEM;
  memcpy(p->out_dir, c->output_path, n);
  p->out_dir[n] = '\0';
  long pid = (long)getpid();
  char name[64];
  rk_status st = RK_OK;
  if (pp_dist_rank(p) == 0) {
    p->made_out_dir = access(p->out_dir, F_OK) != 0;
    /* Claimed and locked: dead runs' .reckon-tmp-<pid> folders are swept, a live run's refused. */
    st = rk_output_claim(&p->out, p->out_dir, "preprocess", c->overwrite);
    if (st == RK_OK) rk_output_run_id(p->run_id);
    snprintf(name, sizeof name, ".reckon-tmp-%ld", pid);
    if (st == RK_OK && !(p->tmp_dir = pp_path(p->out_dir, name))) st = RK_ENOMEM;
    if (st == RK_OK) st = rk_remove_tree(p->tmp_dir);
    if (st == RK_OK) st = rk_mkdir_p(p->tmp_dir);
  }
  if (pp_dist_size(p) > 1) {
    RK_TRY(pp_dist_agree(p, st));
    RK_TRY(pp_dist_broadcast_pid(p, &pid));
    snprintf(name, sizeof name, ".reckon-tmp-%ld", pid);
    if (!p->tmp_dir && !(p->tmp_dir = pp_path(p->out_dir, name))) return RK_ENOMEM;
  }
  RK_TRY(st);
  if (!(p->cache_dir = pp_path(c->persist_intermediate ? p->out_dir : p->tmp_dir, "_cache"))) return RK_ENOMEM;
  RK_TRY(rk_mkdir_p(p->cache_dir));
  static const char *const stage_names[PP_INPUTS] = {"01_data", "01_eval", "01_predict"};
  p->input_path[PP_DATA] = c->data_path;
  p->input_path[PP_EVAL] = c->eval_data_path;
  p->input_path[PP_PREDICT] = c->predict_data_path;
  for (int i = 0; i < PP_INPUTS; i++)
    if (p->input_path[i] && !(p->stage[i] = pp_path(p->cache_dir, stage_names[i]))) return RK_ENOMEM;
  return RK_OK;
}

/* Stage 1 of one input: by one process, or each rank's share then merged (dist_preprocess.c). */
static rk_status ingest(pp_state *p, int input) {
  int64_t read = 0, kept = 0;
  if (pp_dist_size(p) == 1) {
    RK_TRY(pp_ingest(p, input, p->stage[input], &read, &kept));
    if (read >= 0) pp_ingest_report(p, input, read, kept);
    return RK_OK;
  }
  int64_t *old_size = rk_calloc((size_t)p->n_cols + 1, sizeof *old_size);
  char suffix[32];
  snprintf(suffix, sizeof suffix, ".rank%d", pp_dist_rank(p));
  size_t n = strlen(p->stage[input]) + sizeof suffix;
  char *mine = rk_malloc(n);
  rk_status st = old_size && mine ? RK_OK : RK_ENOMEM;
  if (st == RK_OK) snprintf(mine, n, "%s%s", p->stage[input], suffix);
  for (int i = 0; st == RK_OK && i < p->n_cols; i++) old_size[i] = p->cols[i].dict ? rk_dict_size(p->cols[i].dict) : 0;
  if (st == RK_OK) st = pp_ingest(p, input, mine, &read, &kept);
  st = pp_dist_agree(p, st);
  if (st == RK_OK) st = pp_dist_merge_input(p, input, mine, old_size, &read, &kept);
  if (st == RK_OK) pp_ingest_report(p, input, read, kept);
  if (mine) rk_remove_tree(mine);
  rk_free(mine);
  rk_free(old_size);
  return st;
}

/* Other names of the outputs, as relative links: final_dataset -> . (the quick-start's README
 * reads <output_path>/final_dataset/train where its preprocessing.py writes <output_path>/train,
 * so both commands run verbatim in sequence) and predict -> test (reckon's earlier name of the
 * --test_data_path folder). A link whose target this run did not make is removed; an entry of
 * the name that is not a link (not reckon's) is left alone. */
static rk_status publish_aliases(pp_state *p) {
  static const char *const aliases[][2] = {{"final_dataset", "."}, {"predict", "test"}};
  for (size_t k = 0; k < sizeof aliases / sizeof *aliases; k++) {
    char *link = pp_path(p->out_dir, aliases[k][0]), *target = pp_path(p->out_dir, aliases[k][1]);
    rk_status st = link && target ? RK_OK : RK_ENOMEM;
    struct stat sb;
    bool exists = st == RK_OK && lstat(link, &sb) == 0;
    if (exists && S_ISLNK(sb.st_mode) && unlink(link) != 0)
      st = rk_error(RK_EIO, "cannot replace the link '%s': %s", link, strerror(errno));
    else if (st == RK_OK && (!exists || S_ISLNK(sb.st_mode)) && access(target, F_OK) == 0 &&
             symlink(aliases[k][1], link) != 0)
      st = rk_error(RK_EIO, "cannot link '%s' to '%s': %s", link, aliases[k][1], strerror(errno));
    rk_free(link);
    rk_free(target);
    RK_TRY(st);
  }
  return RK_OK;
}

/* Move the finished outputs into place; an output this run did not make is removed, so the
 * folder never mixes two runs (predict/ too: the folder of an earlier reckon, now test/). The moves
 * are several steps, so the run id makes them one: each part carries it, and the folder's marker
 * says "publishing <id>" before the first move and "run <id>" after the last. A reader of any part
 * (rk_output_check_set) refuses a part whose run is not the folder's, so a run killed between two
 * moves leaves a folder that is refused, not one that mixes a new train/ with an old eval/. */
static rk_status publish(pp_state *p) {
  static const char *const outputs[] = {"train", "eval", "test", "predict", "workflow", "preprocess_report.json"};
  static const char *const kinds[] = {"dataset", "dataset", "dataset", "dataset", "workflow", NULL};
  rk_status st = RK_OK;
  for (size_t k = 0; st == RK_OK && k < sizeof outputs / sizeof *outputs; k++) {
    char *from = pp_path(p->tmp_dir, outputs[k]);
    if (!from) return RK_ENOMEM;
    if (kinds[k] && access(from, F_OK) == 0) st = rk_output_mark(from, kinds[k], p->run_id);
    rk_free(from);
  }
  rk_output_marker whole;
  bool marked;
  if (st == RK_OK) st = rk_output_read_marker(p->out_dir, &whole, &marked);
  if (st == RK_OK) {
    snprintf(whole.publishing, sizeof whole.publishing, "%s", p->run_id);
    st = rk_output_write_marker(p->out_dir, &whole);
  }
  for (size_t k = 0; st == RK_OK && k < sizeof outputs / sizeof *outputs; k++) {
    char *from = pp_path(p->tmp_dir, outputs[k]), *to = pp_path(p->out_dir, outputs[k]);
    st = from && to ? RK_OK : RK_ENOMEM;
    if (st == RK_OK) st = access(from, F_OK) == 0 ? rk_replace_dir(from, to) : rk_remove_tree(to);
    rk_free(from);
    rk_free(to);
  }
  if (st == RK_OK) st = rk_output_mark(p->out_dir, "preprocess", p->run_id);
  return st == RK_OK ? publish_aliases(p) : st;
}

static rk_status write_report(pp_state *p) {
  json_object_set_new(p->report, "timings_s", json_incref(p->timings));
  json_object_set_new(p->report, "total_s", json_real(rk_now() - p->t_start));
  json_object_set_new(p->report, "peak_rss_bytes", json_integer(rk_peak_rss_bytes()));
  json_object_set_new(p->report, "threads", json_integer(rk_num_threads()));
  json_decref(p->timings);
  p->timings = NULL;
  char *text = json_dumps(p->report, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
  char *path = pp_path(p->tmp_dir, "preprocess_report.json");
  rk_status st = text && path ? rk_write_file_atomic(path, text, strlen(text)) : RK_ENOMEM;
  free(text);
  rk_free(path);
  return st;
}

static void free_state(pp_state *p) {
  for (int i = 0; i < p->n_cols; i++) {
    rk_dict_free(p->cols[i].dict);
    rk_free(p->cols[i].count);
    rk_free(p->cols[i].remap);
  }
  rk_free(p->cols);
  rk_name_index_free(&p->col_index);
  for (int e = 0; e < p->n_te; e++) {
    rk_free(p->te[e].sum);
    rk_free(p->te[e].cnt);
    rk_free(p->te[e].tot_sum);
    rk_free(p->te[e].tot_cnt);
  }
  rk_free(p->te);
  rk_free(p->keep_user);
  rk_free(p->keep_item);
  rk_free(p->user_thr);
  rk_free(p->user_has_thr);
  rk_workflow_free(&p->wf);
  for (int i = 0; i < PP_INPUTS; i++) rk_free(p->stage[i]);
  rk_free(p->out_dir);
  rk_free(p->tmp_dir);
  rk_free(p->cache_dir);
  json_decref(p->report);
  json_decref(p->timings);
}

/* The saved workflow's fingerprint into every split's schema and the report (fingerprint.c). */
static rk_status stamp_fingerprint(pp_state *p, const char *wf_dir) {
  char fp[RK_WORKFLOW_FINGERPRINT_SIZE];
  RK_TRY(rk_workflow_fingerprint(wf_dir, fp));
  static const char *const splits[] = {"train", "eval", "test"};
  for (size_t k = 0; k < sizeof splits / sizeof *splits; k++) {
    char *dir = pp_path(p->tmp_dir, splits[k]);
    rk_status st = dir ? RK_OK : RK_ENOMEM;
    if (st == RK_OK && access(dir, F_OK) == 0) st = rk_dataset_stamp_workflow_fingerprint(dir, fp);
    rk_free(dir);
    RK_TRY(st);
  }
  json_object_set_new(p->report, "workflow_fingerprint", json_string(fp));
  return RK_OK;
}

static rk_status run(pp_state *p) {
  RK_TRY(plan_columns(p));
  RK_TRY(setup_dirs(p));
  for (int input = PP_DATA; input < PP_INPUTS; input++)
    if (p->input_path[input]) RK_TRY(ingest(p, input));
  /* Every rank holds the merged stage and fits the same workflow on it (no exchange needed);
   * each writes its block of the output parts, then rank 0 writes the rest and publishes. */
  rk_status st = plan_workflow(p);
  if (st == RK_OK) st = pp_frequency_filter(p);
  if (st == RK_OK) st = pp_prepare_split(p);
  if (st == RK_OK) st = pp_fit(p);
  if (pp_dist_size(p) > 1) st = pp_dist_agree(p, st);
  RK_TRY(st);
  RK_TRY(pp_emit(p));
  if (pp_dist_rank(p) != 0) return RK_OK;
  if (pp_dist_size(p) > 1) json_object_set_new(p->report, "ranks", json_integer(pp_dist_size(p)));
  char *wf_dir = pp_path(p->tmp_dir, "workflow");
  if (!wf_dir) return RK_ENOMEM;
  st = rk_workflow_save(&p->wf, wf_dir);
  if (st == RK_OK) st = stamp_fingerprint(p, wf_dir);
  rk_free(wf_dir);
  RK_TRY(st);
  RK_TRY(write_report(p));
  return publish(p);
}

rk_status rk_preprocess(const rk_preprocess_config *cfg, json_t **report) {
  if (report) *report = NULL;
  /* A session ETL predicts the next item: with a target flag, --session_id_feature only tags. */
  if (cfg->session_id && cfg->binary_targets.n == 0 && cfg->regression_targets.n == 0) {
    if (cfg->dist)
      return rk_error(RK_EUNSUPPORTED, "session mode (--session_id_feature without targets) runs on one process: run it "
                                       "without mpirun");
    return rk_session_preprocess(cfg, report);
  }
  RK_TRY(check_config(cfg));
  pp_state p;
  memset(&p, 0, sizeof p);
  p.cfg = cfg;
  p.t_start = rk_now();
  rk_workflow_init(&p.wf);
  p.report = json_object();
  p.timings = json_object();
  if (!p.report || !p.timings) {
    free_state(&p);
    return RK_ENOMEM;
  }
  json_object_set_new(p.report, "reckon_version", json_string(rk_version()));
  json_object_set_new(p.report, "output_path", json_string(cfg->output_path));
  json_object_set_new(p.report, "inputs", json_object());
  json_object_set_new(p.report, "columns", json_object());
  rk_status st = run(&p);
  if (p.tmp_dir && pp_dist_rank(&p) == 0) rk_remove_tree(p.tmp_dir);
  if (st != RK_OK) {
    /* Leave nothing a failed run made: an empty _cache/ and an output folder it created (rmdir
     * removes only empty folders, so a complete cached stage or earlier output stays). */
    if (cfg->persist_intermediate && p.cache_dir) rmdir(p.cache_dir);
    if (p.made_out_dir && p.out_dir && p.out.held) rk_output_unclaim(&p.out, p.out_dir);
  }
  rk_output_release(&p.out);
  if (st == RK_OK && report) *report = json_incref(p.report);
  free_state(&p);
  return st;
}
