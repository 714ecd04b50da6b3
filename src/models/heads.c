/*
 * The end of every ranking model: per task a tower (several tasks), an output layer and, in a
 * training graph, its loss; the losses summed with the regularisation terms.
 */
#include <stdio.h>
#include <string.h>

#include "ranking_internal.h"

/* The output layer: (B, width) -> (B, 1). */
static rk_status head(rk_ranking_builder *b, int *out, int x, int64_t width, const char *name) {
  rk_param *w, *bias;
  char n[300];
  snprintf(n, sizeof n, "%s.weight", name);
  RK_TRY(rk_ranking_dense(b, &w, n, 1, width));
  snprintf(n, sizeof n, "%s.bias", name);
  RK_TRY(rk_ranking_dense(b, &bias, n, 1, 0));
  RK_TRY(rk_ranking_track_kernel(b, w));
  RK_TRY(rk_ranking_track_kernel(b, bias));
  return rk_graph_linear(b->g, out, x, w, bias, RK_ACT_NONE);
}

/* A (B, 1, 1) output as the model's (B, 1) logit. */
static rk_status as_logit(rk_ranking_builder *b, int *x) {
  if (rk_graph_value_ndim(b->g, *x) == 2) return RK_OK;
  int64_t shape[2] = {b->B, 1};
  return rk_graph_reshape(b->g, x, *x, 2, shape);
}

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
rk_status rk_ranking_heads(rk_ranking_builder *b, const int *xs, const int64_t *ws, const int *extra) {
  rk_ranking_model *m = b->m;
  char name[200];
  for (int t = 0; t < m->n_tasks; t++) {
    int x = xs[t];
    int64_t w = ws[t];
    int n_layers;
    const int64_t *layers = tower_of(b->c, m->targets[t], &n_layers);
    if (m->n_tasks > 1 && b->c->use_task_towers && n_layers > 0) {
      snprintf(name, sizeof name, "tower.%s", m->targets[t]);
      RK_TRY(rk_ranking_mlp(b, &x, x, &w, layers, n_layers, name));
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
rk_status rk_ranking_shared_heads(rk_ranking_builder *b, int x, int64_t w, const int *extra) {
  int xs[RK_MAX_TASKS];
  int64_t ws[RK_MAX_TASKS];
  for (int t = 0; t < b->m->n_tasks; t++) xs[t] = x, ws[t] = w;
  return rk_ranking_heads(b, xs, ws, extra);
}

/* A training graph's loss: each task's weighted loss (MSE on a regression's output, BCE on a
 * logit), summed, plus the L2 terms on the MLP kernels (one op per 16 kernels: an op holds at
 * most that many) and the regularisation the inputs added. */
rk_status rk_ranking_losses(rk_ranking_builder *b) {
  rk_ranking_model *m = b->m;
  int loss = RK_NO_VALUE, reg;
  rk_status st = RK_OK;
  for (int t = 0; st == RK_OK && t < m->n_tasks; t++) {
    int *l = &m->task_losses[t];
    st = m->task_regression[t] ? rk_graph_mse(m->g, l, m->logits[t], m->labels[t], m->weights[t])
                               : rk_graph_bce_logits(m->g, l, m->logits[t], m->labels[t], m->weights[t]);
    if (st == RK_OK && m->n_tasks > 1) st = rk_graph_output(m->g, *l);
    if (st == RK_OK) st = rk_ranking_add_to(b, &loss, *l);
  }
  for (int k = 0; st == RK_OK && b->c->l2_reg > 0 && k < b->n_kernels; k += 16) {
    int n = b->n_kernels - k < 16 ? b->n_kernels - k : 16;
    st = rk_graph_l2(m->g, &reg, n, b->kernels + k, b->c->l2_reg);
    if (st == RK_OK) st = rk_ranking_add_to(b, &b->reg, reg);
  }
  m->reg = b->reg;
  if (st == RK_OK && b->reg != RK_NO_VALUE) st = rk_graph_output(m->g, b->reg);
  if (st == RK_OK && b->reg != RK_NO_VALUE) st = rk_graph_add(m->g, &loss, loss, b->reg);
  m->loss = loss;
  if (st == RK_OK) st = rk_graph_output(m->g, m->loss);
  return st;
}
