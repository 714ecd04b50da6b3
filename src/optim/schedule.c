/*
 * Learning-rate schedules as factors of each group's base learning rate, at a 0-based step.
 *   constant:        1
 *   exponential:     rate^(step / decay_steps), the exponent floored when staircase
 *                    (Keras ExponentialDecay, TF1 tf.train.exponential_decay)
 *   warmup_constant: step / warmup while step < warmup, then 1 (Hugging Face
 *                    get_constant_schedule_with_warmup)
 *   warmup_linear:   the same warmup, then 1 -> final_factor linearly by total_steps (Hugging
 *                    Face get_linear_schedule_with_warmup, final_factor 0)
 *   warmup_cosine:   the same warmup, then final + (1 - final) (1 + cos(2 pi cycles progress)) / 2
 *                    (Loshchilov & Hutter, "SGDR", ICLR 2017, eq. 5 without restarts; Hugging
 *                    Face get_cosine_schedule_with_warmup, whose num_cycles is `cycles`)
 * As in Hugging Face, step 0 of a warmup has factor 0. Past total_steps the factor stays at its
 * value there (Hugging Face's cosine would go on turning; a window never steps that far).
 * It is not a stateful scheduler: a factor is a pure function of the step, so resuming a run at
 * step k needs nothing but k, and restarting it per time window is counting from 0 again.
 */
#include <math.h>
#include <string.h>

#include "reckon/optim.h"

static const char *const lr_names[] = {
#define RK_LR_NAME(name, text) text,
    RK_LR_LIST(RK_LR_NAME)
#undef RK_LR_NAME
};

const char *rk_lr_kind_name(rk_lr_kind kind) {
  return (unsigned)kind < RK_LR_COUNT ? lr_names[kind] : "unknown";
}

rk_status rk_lr_kind_parse(const char *name, rk_lr_kind *out) {
  for (int k = 0; k < RK_LR_COUNT; k++) {
    if (strcmp(name, lr_names[k]) == 0) {
      *out = (rk_lr_kind)k;
      return RK_OK;
    }
  }
  return rk_error(RK_EINVAL,
                  "unknown learning-rate schedule '%s' (constant, exponential, warmup_constant, warmup_linear, warmup_cosine)",
                  name);
}

rk_status rk_lr_schedule_check(const rk_lr_schedule *s) {
  switch (s->kind) {
  case RK_LR_CONSTANT:
    return RK_OK;
  case RK_LR_EXPONENTIAL:
    if (s->decay_steps <= 0) return rk_error(RK_EINVAL, "exponential decay needs decay_steps > 0, not %lld", (long long)s->decay_steps);
    if (!(isfinite(s->decay_rate) && s->decay_rate > 0.0))
      return rk_error(RK_EINVAL, "exponential decay rate %g must be a finite number > 0", s->decay_rate);
    return RK_OK;
  case RK_LR_WARMUP_CONSTANT:
    if (s->warmup_steps < 0) return rk_error(RK_EINVAL, "warmup_steps %lld < 0", (long long)s->warmup_steps);
    return RK_OK;
  case RK_LR_WARMUP_LINEAR:
  case RK_LR_WARMUP_COSINE:
    if (!(isfinite(s->num_cycles) && s->num_cycles >= 0.0))
      return rk_error(RK_EINVAL, "num_cycles %g must be a finite number >= 0 (0: half a cycle)", s->num_cycles);
    if (s->warmup_steps < 0) return rk_error(RK_EINVAL, "warmup_steps %lld < 0", (long long)s->warmup_steps);
    if (s->total_steps < s->warmup_steps)
      return rk_error(RK_EINVAL, "total_steps %lld is shorter than warmup_steps %lld", (long long)s->total_steps,
                      (long long)s->warmup_steps);
    if (!(isfinite(s->final_factor) && s->final_factor >= 0.0))
      return rk_error(RK_EINVAL, "final_factor %g must be a finite number >= 0", s->final_factor);
    return RK_OK;
  default:
    return rk_error(RK_EINVAL, "unknown learning-rate schedule kind %d", (int)s->kind);
  }
}

double rk_lr_schedule_factor(const rk_lr_schedule *s, int64_t step) {
  if (step < 0) step = 0;
  switch (s->kind) {
  case RK_LR_EXPONENTIAL: {
    double e = (double)step / (double)s->decay_steps;
    if (s->staircase) e = (double)(step / s->decay_steps);   /* integer floor: exact for any step */
    return pow(s->decay_rate, e);
  }
  case RK_LR_WARMUP_CONSTANT:
  case RK_LR_WARMUP_LINEAR:
  case RK_LR_WARMUP_COSINE: {
    if (step < s->warmup_steps) return (double)step / (double)s->warmup_steps;
    if (s->kind == RK_LR_WARMUP_CONSTANT) return 1.0;
    int64_t span = s->total_steps - s->warmup_steps;
    double progress = span > 0 ? (double)(step - s->warmup_steps) / (double)span : 1.0;
    if (progress > 1.0) progress = 1.0;
    double cycles = s->num_cycles > 0.0 ? s->num_cycles : 0.5;
    /* pi * cycles * 2 in Hugging Face's order: for 0.5 it is pi exactly, as before cycles */
    double decay = s->kind == RK_LR_WARMUP_LINEAR ? 1.0 - progress
                                                  : 0.5 * (1.0 + cos(3.14159265358979323846 * cycles * 2.0 * progress));
    return s->final_factor + (1.0 - s->final_factor) * decay;
  }
  default:
    return 1.0;
  }
}

rk_status rk_lr_schedule_recsys(rk_lr_schedule *out, const char *name, int64_t warmup_steps, int64_t window_steps,
                                double cycles_by_epoch, double epochs) {
  static const struct {
    const char *name;
    rk_lr_kind kind;
  } names[] = {{"constant_with_warmup", RK_LR_WARMUP_CONSTANT},
               {"linear_with_warmup", RK_LR_WARMUP_LINEAR},
               {"cosine_with_warmup", RK_LR_WARMUP_COSINE}};
  memset(out, 0, sizeof *out);
  int i = 0;
  while (i < 3 && strcmp(name, names[i].name) != 0) i++;
  if (i == 3)
    return rk_error(RK_EINVAL, "--learning_rate_schedule '%s': use constant_with_warmup, linear_with_warmup or cosine_with_warmup",
                    name);
  out->kind = names[i].kind;
  out->warmup_steps = warmup_steps;
  /* A window shorter than its warmup never leaves it (Hugging Face's factor would stay below 1 too). */
  out->total_steps = window_steps > warmup_steps ? window_steps : warmup_steps;
  if (out->kind == RK_LR_WARMUP_COSINE) {
    out->num_cycles = cycles_by_epoch * epochs;
    if (!(out->num_cycles > 0.0))
      return rk_error(RK_EINVAL, "--learning_rate_num_cosine_cycles_by_epoch %g times --num_train_epochs %g: the cosine needs "
                      "more than 0 cycles", cycles_by_epoch, epochs);
  }
  return rk_lr_schedule_check(out);
}
