/*
 * The optimizers of a training run: one over every parameter, or, as the Wide & Deep recipe
 * trains, one for the wide part (FTRL there) and one for the rest (proximal Adagrad). Each
 * parameter belongs to exactly one, so checkpoints name its slots "<param>/<slot>" either way.
 */
#include <string.h>

#include "reckon/models.h"

rk_status rk_optim_set_init(rk_optim_set *s, const rk_model *m, const rk_optim_config *deep,
                            const rk_optim_config *wide, rk_param *const *stand_ins) {
  memset(s, 0, sizeof *s);
  int n = m->n_params;
  s->which = rk_calloc((size_t)n + 1, sizeof *s->which);
  s->index = rk_calloc((size_t)n + 1, sizeof *s->index);
  rk_param **part[2] = {rk_calloc((size_t)n + 1, sizeof(rk_param *)), rk_calloc((size_t)n + 1, sizeof(rk_param *))};
  int count[2] = {0, 0};
  rk_status st = s->which && s->index && part[0] && part[1] ? RK_OK : RK_ENOMEM;
  for (int i = 0; st == RK_OK && i < n; i++) {
    int k = wide ? m->ops->param_group(m, i) : 0;
    s->which[i] = k;
    s->index[i] = count[k];
    part[k][count[k]++] = stand_ins && stand_ins[i] ? stand_ins[i] : m->params[i];
  }
  const rk_optim_config *cfg[2] = {deep, wide};
  for (int k = 0; st == RK_OK && k < (wide ? 2 : 1); k++) {
    /* A part without parameters (a deep-only or wide-only model) gets no optimizer. */
    if (count[k] == 0 && k > 0) break;
    if ((st = rk_optim_init(&s->opt[k], cfg[k], part[k], count[k])) == RK_OK) s->n = k + 1;
  }
  rk_free(part[0]);
  rk_free(part[1]);
  if (st != RK_OK) rk_optim_set_free(s);
  return st;
}

rk_status rk_optim_set_step(rk_optim_set *s, double lr_factor) {
  for (int k = 0; k < s->n; k++) RK_TRY(rk_optim_step(&s->opt[k], lr_factor));
  return RK_OK;
}

int64_t rk_optim_set_steps(const rk_optim_set *s) { return s->n ? s->opt[0].step : 0; }

void rk_optim_set_set_steps(rk_optim_set *s, int64_t steps) {
  for (int k = 0; k < s->n; k++) s->opt[k].step = steps;
}

int rk_optim_set_slots(const rk_optim_set *s, int param) {
  return s->which[param] < s->n ? s->opt[s->which[param]].n_slots : 0;
}

float *rk_optim_set_slot(const rk_optim_set *s, int param, int slot, const char **name) {
  const rk_optim *o = &s->opt[s->which[param]];
  *name = rk_optim_slot_name(o, slot);
  return rk_optim_slot(o, s->index[param], slot);
}

void rk_optim_set_free(rk_optim_set *s) {
  for (int k = 0; k < s->n; k++) rk_optim_free(&s->opt[k]);
  rk_free(s->which);
  rk_free(s->index);
  memset(s, 0, sizeof *s);
}
