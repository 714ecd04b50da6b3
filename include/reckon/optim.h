/*
 * reckon/optim.h: training-side numerics around the parameters: optimizers, learning-rate
 * schedules and gradient clipping (initialisers are in reckon/nn.h, with the parameters).
 *
 * It is not: the compute graph (reckon/nn.h builds the rk_param values and fills their
 * gradients), nor the training loop (which calls, per step: clip, schedule, step).
 *
 * Update rules, constants and their TensorFlow / PyTorch names: docs/optim.md.
 *
 * A training loop reads:
 *   rk_optim opt;
 *   rk_optim_config cfg;
 *   rk_optim_config_default(&cfg, RK_OPTIM_ADAM, 1e-3f);
 *   RK_TRY(rk_optim_init(&opt, &cfg, params, n_params));         // allocates all state, once
 *   for (step = 0; ...; step++) {
 *     ... forward, backward ...
 *     double norm;
 *     rk_status s = rk_optim_clip_global_norm(&norm, params, n_params, 1.0);
 *     if (s == RK_ERANGE) continue;                                 // nan/inf gradient: skip
 *     RK_TRY(rk_optim_step(&opt, rk_lr_schedule_factor(&sched, step)));   // allocates nothing
 *   }
 *   rk_optim_free(&opt);
 */
#ifndef RECKON_OPTIM_H
#define RECKON_OPTIM_H

#include "reckon/core.h"
#include "reckon/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------
 * Optimizers. X(name, text, slots): slots = state tensors per parameter, each like the value.
 * ------------------------------------------------------------------------------------------- */
#define RK_OPTIM_LIST(X)                                   \
  X(SGD,              "sgd",              1)               \
  X(ADAM,             "adam",             2)               \
  X(ADAMW,            "adamw",            2)               \
  X(ADAGRAD,          "adagrad",          1)               \
  X(PROXIMAL_ADAGRAD, "proximal_adagrad", 1)               \
  X(FTRL,             "ftrl",             2)

typedef enum {
#define RK_OPTIM_ENUM(name, text, slots) RK_OPTIM_##name,
  RK_OPTIM_LIST(RK_OPTIM_ENUM)
#undef RK_OPTIM_ENUM
  RK_OPTIM_COUNT
} rk_optim_kind;

const char *rk_optim_kind_name(rk_optim_kind kind);                 /* "adam"; never NULL */
rk_status rk_optim_kind_parse(const char *name, rk_optim_kind *out);

/* Where Adam's epsilon goes (docs/optim.md, "Adam"). */
typedef enum {
  RK_ADAM_EPS_HAT = 0,    /* w -= lr*sqrt(1-b2^t)/(1-b1^t) * m / (sqrt(v) + eps): Keras, TF,
                             torch.optim.SparseAdam (Kingma & Ba 2015, end of section 2) */
  RK_ADAM_EPS_CORRECTED,  /* w -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps): torch Adam(W) */
} rk_adam_eps;

/* Keras' constants, and PyTorch's epsilon for when matching a PyTorch model. */
#define RK_ADAM_BETA1_KERAS   0.9f
#define RK_ADAM_BETA2_KERAS   0.999f
#define RK_ADAM_EPS_KERAS     1e-7f
#define RK_ADAM_EPS_TORCH     1e-8f
#define RK_ADAGRAD_INIT_KERAS 0.1f     /* Keras / TF initial_accumulator_value */
#define RK_ADAGRAD_EPS_TORCH  1e-10f

/* A parameter group: rk_param.group indexes cfg.groups. Fields an optimizer does not use must be
 * zero (rk_optim_init rejects them rather than ignore them silently). A parameter marked
 * rk_param.no_decay gets its group's settings with weight_decay 0: Hugging Face's two groups
 * (decay, no decay) are one group and a mark. */
typedef struct {
  float lr;             /* base learning rate; a step uses lr * lr_factor */
  float weight_decay;   /* SGD, Adam, Adagrad: L2 added to the gradient (PyTorch weight_decay);
                           AdamW: decoupled decay w -= lr*wd*w (PyTorch AdamW, Keras AdamW) */
  float l1;             /* FTRL, proximal Adagrad: l1_regularization_strength */
  float l2;             /* FTRL, proximal Adagrad: l2_regularization_strength */
  float l2_shrinkage;   /* FTRL: l2_shrinkage_regularization_strength */
} rk_optim_group;

#define RK_OPTIM_MAX_GROUPS 8

typedef struct {
  rk_optim_kind kind;
  int n_groups;                                  /* 1..RK_OPTIM_MAX_GROUPS */
  rk_optim_group groups[RK_OPTIM_MAX_GROUPS];
  float momentum;              /* SGD: 0 = plain SGD (no state) */
  bool nesterov;               /* SGD */
  float beta1, beta2;          /* Adam, AdamW */
  float eps;                   /* Adam, AdamW, Adagrad (0 for TF1's Adagrad, which has none) */
  rk_adam_eps eps_mode;        /* Adam, AdamW */
  bool decay_after_update;     /* AdamW: decay the updated weight, as transformers.AdamW does;
                                  false: before the update, as torch.optim.AdamW and Keras do */
  float initial_accumulator;   /* Adagrad, proximal Adagrad, FTRL */
  float lr_power;              /* FTRL: learning_rate_power, <= 0 (-0.5: Adagrad-like) */
  float ftrl_beta;             /* FTRL: Keras' beta (0 in TF1) */
  /* Sparse parameters. false (default): lazy, only the rows in grad_rows move and only their
   * state advances (torch SparseAdam, TF's sparse apply ops). true: every row is stepped, rows
   * without a gradient with a zero gradient, as Keras' dense optimizers do on an embedding.
   * A dense parameter marked rk_param.lazy_rows is lazy either way: a row (its first dimension)
   * moves, and its state advances, only when its gradient has a non-zero value (TensorFlow
   * Addons' LazyAdam on a table whose gradient arrives dense, as the session models' does). */
  bool sparse_as_dense;
} rk_optim_config;

/* Keras' defaults for `kind` with one group of learning rate `lr`: SGD momentum 0; Adam(W)
 * beta 0.9/0.999, eps 1e-7, RK_ADAM_EPS_HAT (AdamW weight_decay 0.004 as in Keras);
 * Adagrad initial accumulator 0.1, eps 1e-7; proximal Adagrad and FTRL initial accumulator 0.1,
 * FTRL lr_power -0.5; no regularisation. */
void rk_optim_config_default(rk_optim_config *cfg, rk_optim_kind kind, float lr);

/* The optimizer Hugging Face's Trainer builds (and recsys_main.py's trainer, which imports it):
 * transformers.AdamW with correct_bias, one group of `lr` and `weight_decay` (--learning_rate,
 * --weight_decay; --adam_beta1/2, --adam_epsilon as given, 0.9/0.999/1e-8 by default). Its
 * update (src/optim/hf_adamw.c says where it differs from torch.optim.AdamW):
 *   m, v as Adam;  w -= lr sqrt(1-b2^t)/(1-b1^t) m / (sqrt(v) + eps);  w -= lr wd w
 * Mark the parameters the Trainer leaves undecayed with rk_optim_mark_no_decay. */
void rk_optim_config_hf_adamw(rk_optim_config *cfg, float lr, float weight_decay, float beta1, float beta2, float eps);
/* Hugging Face's rule for the undecayed group: a name containing "bias" or "LayerNorm.weight"
 * (recsys_trainer.py's no_decay list; the Trainer of transformers 4.x). */
bool rk_optim_hf_no_decay_name(const char *name);
/* Sets params[i]->no_decay by that rule (and clears it elsewhere); returns how many it marked. */
int rk_optim_mark_no_decay(rk_param *const *params, int n_params);

typedef struct rk_optim_entry rk_optim_entry;
typedef struct {
  rk_optim_config cfg;
  int n_params;
  rk_optim_entry *entries;   /* (n_params) */
  float *state;              /* every slot of every parameter, one allocation */
  int n_slots;               /* state tensors per parameter */
  int64_t step;              /* steps taken; Adam's bias correction uses t = step + 1 */
} rk_optim;

/* Register `params` (the caller keeps them alive and in place) and allocate their state. Checks
 * the configuration, each parameter's shapes and group. On failure nothing is left allocated. */
rk_status rk_optim_init(rk_optim *opt, const rk_optim_config *cfg, rk_param *const *params,
                        int n_params);
/* One update of every registered parameter from its gradient, with each group's learning rate
 * times lr_factor (a schedule's value). Deterministic for any thread count; allocates nothing.
 * A sparse gradient whose rows are out of range, unsorted or repeated is RK_EINVAL, checked
 * before anything moves. The configuration is copied at registration: to change a group's rate
 * or decay mid-run, write opt.cfg.groups[g]. */
rk_status rk_optim_step(rk_optim *opt, double lr_factor);
void rk_optim_free(rk_optim *opt);

/* State for checkpoints: slot `slot` of parameter `param` (numel floats, the value's layout),
 * or NULL when out of range. Names: "momentum"; "m", "v"; "accumulator"; "accumulator",
 * "linear". */
float *rk_optim_slot(const rk_optim *opt, int param, int slot);
const char *rk_optim_slot_name(const rk_optim *opt, int slot);

/* ---------------------------------------------------------------------------------------------
 * Gradient clipping by global norm (TF clip_by_global_norm, torch clip_grad_norm_ with p = 2):
 * norm = sqrt(sum over params of sum g^2); when norm > max_norm every gradient is scaled by
 * max_norm / norm. A sparse parameter contributes its n_grad_rows compact rows. The sum runs in
 * double over fixed chunks combined in order: the same bits for any thread count.
 * *norm gets the norm before clipping. A nan or inf norm is RK_ERANGE and changes nothing.
 * ------------------------------------------------------------------------------------------- */
rk_status rk_optim_clip_global_norm(double *norm, rk_param *const *params, int n_params,
                                    double max_norm);
/* The norm alone. */
double rk_optim_global_norm(rk_param *const *params, int n_params);

/* ---------------------------------------------------------------------------------------------
 * Learning-rate schedules: a factor of each group's base learning rate at a 0-based step (the
 * number of steps already taken), as PyTorch's LambdaLR applies one factor to every group.
 * ------------------------------------------------------------------------------------------- */
#define RK_LR_LIST(X)                          \
  X(CONSTANT,        "constant")               \
  X(EXPONENTIAL,     "exponential")            \
  X(WARMUP_CONSTANT, "warmup_constant")        \
  X(WARMUP_LINEAR,   "warmup_linear")          \
  X(WARMUP_COSINE,   "warmup_cosine")

typedef enum {
#define RK_LR_ENUM(name, text) RK_LR_##name,
  RK_LR_LIST(RK_LR_ENUM)
#undef RK_LR_ENUM
  RK_LR_COUNT
} rk_lr_kind;

typedef struct {
  rk_lr_kind kind;
  /* exponential (Keras ExponentialDecay): rate^(step / decay_steps), floored when staircase */
  double decay_rate;
  int64_t decay_steps;
  bool staircase;
  /* warmup_*: step / warmup_steps while step < warmup_steps, then 1 (constant), or a linear or
   * cosine decay from 1 at warmup_steps to final_factor at total_steps, held after */
  int64_t warmup_steps;
  int64_t total_steps;
  double final_factor;
  /* warmup_cosine: cosine cycles over the decay, Hugging Face's num_cycles: the factor is
   * final + (1 - final) (1 + cos(2 pi num_cycles progress)) / 2. 0 means 0.5, a half cycle
   * from 1 down to final_factor (the default of get_cosine_schedule_with_warmup). */
  double num_cycles;
} rk_lr_schedule;

const char *rk_lr_kind_name(rk_lr_kind kind);
rk_status rk_lr_kind_parse(const char *name, rk_lr_kind *out);
/* RK_EINVAL with a message naming the field when the schedule cannot be evaluated. */
rk_status rk_lr_schedule_check(const rk_lr_schedule *s);
/* The factor at `step` (>= 0). The schedule must pass rk_lr_schedule_check. */
double rk_lr_schedule_factor(const rk_lr_schedule *s, int64_t step);

/* The schedule recsys_main.py's trainer makes for one training window (its
 * create_optimizer_and_scheduler, Hugging Face's get_*_schedule_with_warmup): `name` is
 * --learning_rate_schedule, constant_with_warmup, linear_with_warmup or cosine_with_warmup;
 * window_steps the optimizer steps of the window's training (--max_steps when > 0, else the
 * steps per epoch times --num_train_epochs); the cosine makes cycles_by_epoch * epochs cycles
 * (--learning_rate_num_cosine_cycles_by_epoch times --num_train_epochs). The reference makes a
 * new scheduler for every window (reset_lr_scheduler): the caller restarts by counting `step`
 * from 0 in each window, as the factor is a pure function of the step. An unknown name is
 * RK_EINVAL naming the flag and the three values. */
rk_status rk_lr_schedule_recsys(rk_lr_schedule *out, const char *name, int64_t warmup_steps, int64_t window_steps,
                                double cycles_by_epoch, double epochs);

#ifdef __cplusplus
}
#endif
#endif /* RECKON_OPTIM_H */
