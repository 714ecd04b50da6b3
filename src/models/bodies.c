/*
 * The MLP block (the bodies, towers and experts all use it) and the single-task bodies between
 * the input block and the heads: mlp, dcn (DCN-v2, Wang et al. 2021), dlrm (Naumov et al. 2019),
 * wide_n_deep (Cheng et al. 2016) and deepfm (Guo et al. 2017). Several tasks share the body;
 * each gets its own head (heads.c).
 */
#include <stdio.h>
#include <string.h>

#include "ranking_internal.h"

/* x -> [linear -> activation -> dropout] per layer; *width becomes the last layer's. */
rk_status rk_ranking_mlp(rk_ranking_builder *b, int *out, int x, int64_t *width, const int64_t *layers, int n,
                         const char *prefix) {
  char name[300];
  for (int l = 0; l < n; l++) {
    rk_param *w, *bias;
    snprintf(name, sizeof name, "%s.%d.weight", prefix, l);
    RK_TRY(rk_ranking_dense(b, &w, name, layers[l], *width));
    snprintf(name, sizeof name, "%s.%d.bias", prefix, l);
    RK_TRY(rk_ranking_dense(b, &bias, name, layers[l], 0));
    RK_TRY(rk_ranking_track_kernel(b, w));
    RK_TRY(rk_ranking_track_kernel(b, bias));
    RK_TRY(rk_graph_linear(b->g, &x, x, w, bias, b->c->activation));
    if (b->c->dropout > 0) RK_TRY(rk_graph_dropout(b->g, &x, x, b->c->dropout, false));
    *width = layers[l];
  }
  *out = x;
  return RK_OK;
}

/* concat -> MLP: the deep part of mlp, wide_n_deep and deepfm. */
static rk_status deep_body(rk_ranking_builder *b, int *x, int64_t *w) {
  RK_TRY(rk_ranking_concat_all(b, x, w));
  return rk_ranking_mlp(b, x, *x, w, b->c->mlp_layers, b->c->n_mlp_layers, "mlp");
}

rk_status rk_ranking_build_mlp(rk_ranking_builder *b) {
  int x;
  int64_t w;
  RK_TRY(deep_body(b, &x, &w));
  return rk_ranking_shared_heads(b, x, w, NULL);
}

rk_status rk_ranking_build_dcn(rk_ranking_builder *b) {
  int x0, x;
  int64_t w;
  RK_TRY(rk_ranking_concat_all(b, &x0, &w));
  int64_t shape[2] = {b->B, w};
  RK_TRY(rk_graph_reshape(b->g, &x0, x0, 2, shape));   /* the cross op takes (B, D) */
  x = x0;
  char name[64];
  for (int l = 0; l < b->c->dcn_layers; l++) {
    rk_param *k, *bias;
    snprintf(name, sizeof name, "cross.%d.weight", l);
    RK_TRY(rk_ranking_dense(b, &k, name, w, w));
    snprintf(name, sizeof name, "cross.%d.bias", l);
    RK_TRY(rk_ranking_dense(b, &bias, name, w, 0));
    RK_TRY(rk_ranking_track_kernel(b, k));
    RK_TRY(rk_graph_cross(b->g, &x, x0, x, k, NULL, NULL, bias));
  }
  RK_TRY(rk_ranking_mlp(b, &x, x, &w, b->c->mlp_layers, b->c->n_mlp_layers, "mlp"));
  return rk_ranking_shared_heads(b, x, w, NULL);
}

rk_status rk_ranking_build_dlrm(rk_ranking_builder *b) {
  rk_ranking_model *m = b->m;
  int64_t D = b->c->embeddings_dim, w;
  int x, inter;
  if (m->dense_input != RK_NO_VALUE) {
    int64_t width = m->n_cont;
    int bottom, emb;
    RK_TRY(rk_ranking_mlp(b, &bottom, m->dense_input, &width, &D, 1, "bottom_mlp"));
    RK_TRY(rk_ranking_stack(b, &emb, 0));
    RK_TRY(rk_graph_dot_interaction(b->g, &inter, bottom, emb));   /* [bottom, dots] */
    x = inter;
    w = D + (int64_t)(m->n_cat + 1) * m->n_cat / 2;
  } else {
    /* No continuous features: the first embedding plays the dense row, so the dots cover every
     * pair of fields; the top MLP reads [dots, embeddings] (or the dots alone, as the reference). */
    if (m->n_cat < 2) return rk_error(RK_EUSAGE, "--model dlrm needs at least two categorical features");
    int emb, parts[2];
    RK_TRY(rk_ranking_stack(b, &emb, 1));
    int dense0;
    RK_TRY(rk_ranking_flat(b, 0, &dense0));
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
      for (int i = 1; i < m->n_cat && st == RK_OK; i++) st = rk_ranking_flat(b, i, &xs[i]);
      if (st == RK_OK) st = rk_graph_concat(b->g, &x, m->n_cat, xs, 1);
      rk_free(xs);
      RK_TRY(st);
      w = D * m->n_cat + dots;
    }
  }
  RK_TRY(rk_ranking_mlp(b, &x, x, &w, b->c->mlp_layers, b->c->n_mlp_layers, "top_mlp"));
  return rk_ranking_shared_heads(b, x, w, NULL);
}

/* One weight per category and task (a table of dimension K) per feature: a linear model on
 * one-hot features (a list's weights summed). Appends each feature's (B, 1, K) lookup to parts.
 * The wide tables take --wnd_wide_l2_reg; deepfm's first order none (l2 0). */
static rk_status first_order(rk_ranking_builder *b, int *parts, int *np, float l2) {
  rk_ranking_model *m = b->m;
  char name[300];
  for (int i = 0; i < m->n_cat; i++) {
    rk_param *t;
    snprintf(name, sizeof name, "first_order.%s", m->cat_names[i]);
    RK_TRY(rk_ranking_table(b, &t, name, m->cardinality[i], m->n_tasks, RK_TABLE_WIDE));
    RK_TRY(rk_ranking_lookup(b, &parts[(*np)++], t, i, RK_POOL_SUM, l2));
  }
  return RK_OK;
}

/* (B, P, K) parts summed over P, plus bias (K) when not RK_NO_VALUE: one (B, 1) term per task. */
static rk_status per_task_sums(rk_ranking_builder *b, int *parts, int np, int bias, int *terms) {
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
                                 "(the wide part crosses every pair of them)",
                      rk_ranking_setting_name(c, RK_SETTING_wnd_ignore), x);
  }
  return RK_OK;
}

/* A zero dense parameter of (K, n) (n > 0) or (K) (n == 0): the linear model's weights. */
static rk_status zeros(rk_ranking_builder *b, rk_param **out, const char *name, int64_t K, int64_t n) {
  bool fresh;
  RK_TRY(rk_ranking_next_param(b->m, b->share, name, out, &fresh));
  int64_t shape[2] = {K, n};
  return fresh ? rk_param_arena_add(b->m->arena, *out, name, n ? 2 : 1, shape) : RK_OK;
}

/* TensorFlow's linear model (RK_WIDE_LINEAR): the continuous features' weights "wide.continuous"
 * (K, n_cont) as one more (B, 1, K) part, and the bias "wide.bias" (K); *bias gets its value. */
static rk_status linear_terms(rk_ranking_builder *b, int *parts, int *np, int *bias) {
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
      RK_TRY(rk_ranking_add_to(b, &b->reg, reg));
    }
  }
  RK_TRY(zeros(b, &bp, "wide.bias", K, 0));
  return rk_graph_param(b->g, bias, bp);
}

/* The wide part: every first-order and cross weight looked up, (B, 1, K) each, summed once into
 * one (B, 1) term per task. */
static rk_status wide_part(rk_ranking_builder *b, int *terms) {
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
      if (st == RK_OK) st = rk_ranking_table(b, &t, name, b->c->wnd_hashed_cross_num_bins, m->n_tasks, RK_TABLE_WIDE);
      if (st == RK_OK) st = rk_graph_embedding(b->g, &e, t, ids, 0);
      if (st == RK_OK) parts[np++] = e;
      if (st == RK_OK) st = rk_ranking_regularise_lookup(b, e, b->c->wnd_wide_l2_reg);
    }
  }
  if (st == RK_OK && !crosses) st = linear_terms(b, parts, &np, &bias);
  if (st == RK_OK) st = per_task_sums(b, parts, np, bias, terms);
  rk_free(parts);
  return st;
}

rk_status rk_ranking_build_wide_n_deep(rk_ranking_builder *b) {
  rk_ranking_model *m = b->m;
  int wide[RK_MAX_TASKS], x;
  int64_t w;
  if (b->c->wnd_parts != RK_WND_DEEP_ONLY) RK_TRY(wide_part(b, wide));
  if (b->c->wnd_parts == RK_WND_WIDE_ONLY) {
    for (int t = 0; t < m->n_tasks; t++) m->logits[t] = wide[t];
    return RK_OK;
  }
  RK_TRY(deep_body(b, &x, &w));
  return rk_ranking_shared_heads(b, x, w, b->c->wnd_parts == RK_WND_DEEP_ONLY ? NULL : wide);
}

bool rk_ranking_param_is_wide(const rk_param *p) {
  return strncmp(p->name, "first_order.", 12) == 0 || strncmp(p->name, "wide_cross.", 11) == 0 ||
         strncmp(p->name, "wide.", 5) == 0;
}

rk_status rk_ranking_build_deepfm(rk_ranking_builder *b) {
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
  RK_TRY(rk_ranking_stack(b, &emb, 0));
  RK_TRY(rk_graph_fm(b->g, &fm, emb, first));   /* the field-wise pairwise term (plus first order) */
  if (m->n_tasks == 1) terms[0] = fm;
  for (int t = 0; m->n_tasks > 1 && t < m->n_tasks; t++) RK_TRY(rk_graph_add(b->g, &terms[t], terms[t], fm));
  RK_TRY(deep_body(b, &x, &w));
  return rk_ranking_shared_heads(b, x, w, terms);
}
