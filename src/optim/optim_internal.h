/*
 * Inside the optimizers: the hyperparameters one step of one parameter group sees, and the span
 * kernels, one per optimizer file, that optim.c runs over contiguous pieces of a parameter.
 */
#ifndef RECKON_OPTIM_INTERNAL_H
#define RECKON_OPTIM_INTERNAL_H

#include "reckon/optim.h"

typedef struct {
  float lr;              /* the group's lr times the schedule's factor */
  float weight_decay;
  float l1, l2, l2_shrinkage;
  float momentum;
  bool nesterov;
  float beta1, beta2, eps;
  rk_adam_eps eps_mode;
  bool decoupled;        /* AdamW */
  float adam_step;       /* Adam: lr/(1-b1^t) (corrected) or lr*sqrt(1-b2^t)/(1-b1^t) (hat) */
  float adam_bc2_sqrt;   /* Adam: sqrt(1-b2^t), corrected form only */
  float adamw_keep;      /* AdamW, decay before the update: 1 - lr*wd */
  bool adamw_after;      /* AdamW: decay after the update (transformers.AdamW) */
  float adamw_shrink;    /* AdamW, decay after the update: -lr*wd */
  float lr_power, ftrl_beta;
} rk_optim_hyper;

/* Update n contiguous elements: w the values, s0/s1 the slots (NULL when the optimizer has
 * fewer), g the gradient or NULL for a zero gradient (rows stepped under sparse_as_dense). */
typedef void (*rk_optim_span_fn)(float *w, float *s0, float *s1, const float *g, int64_t n,
                                 const rk_optim_hyper *h);

void rk_optim_sgd_span(float *w, float *s0, float *s1, const float *g, int64_t n, const rk_optim_hyper *h);
void rk_optim_adam_span(float *w, float *s0, float *s1, const float *g, int64_t n, const rk_optim_hyper *h);
void rk_optim_adagrad_span(float *w, float *s0, float *s1, const float *g, int64_t n, const rk_optim_hyper *h);
void rk_optim_proximal_adagrad_span(float *w, float *s0, float *s1, const float *g, int64_t n, const rk_optim_hyper *h);
void rk_optim_ftrl_span(float *w, float *s0, float *s1, const float *g, int64_t n, const rk_optim_hyper *h);

#endif
