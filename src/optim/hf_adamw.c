/*
 * AdamW as Hugging Face's Trainer sets it up, which is how recsys_main.py (Transformers4Rec's
 * 2021 paper code, hf4rec/recsys_trainer.py) trains: transformers.AdamW (optimization.py of
 * transformers 4.x, correct_bias=True) over two parameter groups, the weight decay of
 * --weight_decay for every parameter but those whose name contains "bias" or
 * "LayerNorm.weight", which get 0.
 *
 * transformers.AdamW is not torch.optim.AdamW: it puts epsilon outside the bias correction
 * (RK_ADAM_EPS_HAT: lr sqrt(1-b2^t)/(1-b1^t) m / (sqrt(v) + eps), where torch divides by
 * sqrt(v)/sqrt(1-b2^t) + eps), and it decays the weight after the Adam step (w += -lr wd w on the
 * updated w), where torch multiplies by 1 - lr wd first. Both differences are small for the
 * default eps 1e-8; tests/reference/make_adamw_fixtures.py writes both optimizers' trajectories.
 *
 * It is not a new update rule: adam.c runs it, with decay_after_update set.
 */
#include <string.h>

#include "reckon/optim.h"

void rk_optim_config_hf_adamw(rk_optim_config *cfg, float lr, float weight_decay, float beta1, float beta2, float eps) {
  rk_optim_config_default(cfg, RK_OPTIM_ADAMW, lr);
  cfg->groups[0].weight_decay = weight_decay;
  cfg->beta1 = beta1;
  cfg->beta2 = beta2;
  cfg->eps = eps;
  cfg->eps_mode = RK_ADAM_EPS_HAT;
  cfg->decay_after_update = true;
}

bool rk_optim_hf_no_decay_name(const char *name) {
  return strstr(name, "bias") != NULL || strstr(name, "LayerNorm.weight") != NULL;
}

int rk_optim_mark_no_decay(rk_param *const *params, int n_params) {
  int marked = 0;
  for (int i = 0; i < n_params; i++) {
    params[i]->no_decay = rk_optim_hf_no_decay_name(params[i]->name);
    marked += params[i]->no_decay;
  }
  return marked;
}
