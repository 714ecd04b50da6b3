/*
 * Multi-task bodies: experts and gates. MMoE (Ma et al. 2018): shared experts, a gate per task;
 * CGC and PLE (Tang et al. 2020): task and shared experts, one level or several.
 */
#include <stdio.h>

#include "ranking_internal.h"

/* n experts (MLPs of --expert_mlp_layers) on x, each (B, 1, D), appended to out. */
static rk_status experts(rk_ranking_builder *b, int x, int64_t w, int n, const char *prefix, int *out, int *nout,
                         int64_t *D) {
  char name[200];
  for (int e = 0; e < n; e++) {
    int h;
    int64_t hw = w;
    snprintf(name, sizeof name, "%s.%d", prefix, e);
    RK_TRY(rk_ranking_mlp(b, &h, x, &hw, b->c->expert_layers, b->c->n_expert_layers, name));
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
static rk_status gate(rk_ranking_builder *b, int x, int64_t w, const int *ex, int n, const char *prefix, int *out,
                      int *probs) {
  char name[300];
  int h = x;
  int64_t hw = w;
  if (b->c->gate_dim > 0) {   /* ReLU whatever --activation says, and no dropout */
    rk_param *wh, *bh;
    snprintf(name, sizeof name, "%s.hidden.0.weight", prefix);
    RK_TRY(rk_ranking_dense(b, &wh, name, b->c->gate_dim, hw));
    snprintf(name, sizeof name, "%s.hidden.0.bias", prefix);
    RK_TRY(rk_ranking_dense(b, &bh, name, b->c->gate_dim, 0));
    RK_TRY(rk_ranking_track_kernel(b, wh));
    RK_TRY(rk_ranking_track_kernel(b, bh));
    RK_TRY(rk_graph_linear(b->g, &h, h, wh, bh, RK_ACT_RELU));
    hw = b->c->gate_dim;
  }
  rk_param *wg;
  snprintf(name, sizeof name, "%s.weight", prefix);
  RK_TRY(rk_ranking_dense(b, &wg, name, n, hw));
  RK_TRY(rk_ranking_track_kernel(b, wg));
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
rk_status rk_ranking_build_mmoe(rk_ranking_builder *b) {
  rk_ranking_model *m = b->m;
  int x, ex[64], nex = 0, xs[RK_MAX_TASKS];
  int64_t w, D = 0, ws[RK_MAX_TASKS];
  if (b->c->mmoe_experts < 1 || b->c->mmoe_experts > 64)
    return rk_error(RK_EUSAGE, "%s %d: expected 1 to 64", rk_ranking_setting_name(b->c, RK_SETTING_mmoe_experts),
                    b->c->mmoe_experts);
  RK_TRY(rk_ranking_concat_all(b, &x, &w));
  RK_TRY(experts(b, x, w, b->c->mmoe_experts, "mmoe.expert", ex, &nex, &D));
  char name[200];
  for (int t = 0; t < m->n_tasks; t++) {
    snprintf(name, sizeof name, "mmoe.gate.%s", m->targets[t]);
    RK_TRY(gate(b, x, w, ex, nex, name, &xs[t], &m->gate_probs[t]));
    ws[t] = D;
  }
  return rk_ranking_heads(b, xs, ws, NULL);
}

/* CGC (one level) and PLE (several): per task experts and shared experts; each task's gate
 * weighs its own experts then the shared ones; levels before the last add a shared gate over
 * every expert, whose output the next level's shared experts read. */
rk_status rk_ranking_build_ple(rk_ranking_builder *b, int levels, const char *kind) {
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
  RK_TRY(rk_ranking_concat_all(b, &x0, &w0));
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
  return rk_ranking_heads(b, xt, wt, NULL);
}
