/*
 * Activation names, as model settings and model.json spell them. Not here: the activations
 * themselves (src/nn/unary.c).
 */
#include <string.h>

#include "reckon/nn.h"

static const char *const act_names[] = {"linear", "relu", "sigmoid", "tanh"};   /* rk_act order */

rk_status rk_act_parse(const char *name, rk_act *out) {
  for (int a = 0; a < 4; a++)
    if (name && strcmp(name, act_names[a]) == 0) return *out = (rk_act)a, RK_OK;
  return rk_error(RK_EUSAGE, "invalid value '%s' for --activation: expected relu, tanh, sigmoid or linear",
                  name ? name : "");
}

const char *rk_act_name(rk_act act) { return act_names[act]; }
