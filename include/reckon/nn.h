/*
 * reckon/nn.h: the compute engine: a static graph of ops with forward and backward passes,
 * parameters that own their gradients, and the op table keyed by op and device.
 * (Being built for issue 6; this first section is the contract the optimizers build on.)
 */
#ifndef RECKON_NN_H
#define RECKON_NN_H

#include "reckon/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A trainable parameter. Dense parameters have a gradient of the value's shape. Sparse ones
 * (embedding tables, shape (V, D)) have a row-sparse gradient: after backward, grad holds
 * n_grad_rows compact rows of D floats, and grad_rows[k] is the table row of compact row k
 * (unique, ascending, so updates are deterministic). Optimizers update only those rows. */
typedef struct rk_param {
  char name[64];
  rk_tensor value;          /* f32 */
  rk_tensor grad;           /* dense: like value; sparse: (max_rows, D) compact rows */
  bool sparse;
  int64_t *grad_rows;       /* sparse: (max_rows) */
  int64_t n_grad_rows;      /* sparse: rows touched by the last backward */
  int group;                /* parameter group (its own learning rate and regularisation) */
} rk_param;

#ifdef __cplusplus
}
#endif
#endif /* RECKON_NN_H */
