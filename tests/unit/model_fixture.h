/*
 * Comparing a model against PyTorch fixtures (tests/reference/make_*_fixtures.py): tensors by
 * name, tolerances per kind (forward, gradients, after optimizer steps), failures naming the
 * model, tensor and index, and the worst differences kept for the report.
 *
 * Tolerances, |reckon - PyTorch| <= atol + rtol |PyTorch|: see the #defines.
 */
#ifndef RECKON_TEST_MODEL_FIXTURE_H
#define RECKON_TEST_MODEL_FIXTURE_H

#include <jansson.h>

#include "reckon/nn.h"
#include "reckon/optim.h"
#include "reckon/sessions.h"

#define FWD_ATOL 1e-6
#define FWD_RTOL 1e-5
#define GRAD_ATOL 1e-6
#define GRAD_RTOL 1e-4
#define STEP_ATOL 1e-5
#define STEP_RTOL 1e-4

enum { FWD, GRAD, STEP, N_KINDS };
extern const char *const fx_kind_label[N_KINDS];

typedef struct {
  const char *model;
  json_t *root, *tensors;
  double worst_abs[N_KINDS], worst_ratio[N_KINDS];   /* max |diff| and max |diff| / tolerance */
} fixture;

json_t *fx_tensor(fixture *f, const char *name, int64_t *numel);
double fx_num(json_t *data, int64_t i);
void fx_compare(fixture *f, int kind, const char *what, const char *name, int64_t i, double got, double want);
/* n floats against a fixture tensor of exactly n elements. */
void fx_compare_all(fixture *f, int kind, const char *what, const char *name, const float *got, int64_t n);
/* A parameter's gradient: dense as it is; a table's compact gradient rows against the fixture's
 * dense (V, D) gradient (rows the same, untouched rows zero there). */
void fx_compare_grad(fixture *f, const rk_param *p);

/* The fixture's "params" (names in order) against reckon's parameters, then each one's shape
 * and initial values from the fixture. */
void fx_load_params(fixture *f, rk_param *const *params, int n_params);
/* The fixture's "adam" object as reckon's Adam with Keras' epsilon hat, lazy on tables. */
void fx_adam_config(fixture *f, rk_optim_config *oc);
/* `steps` optimizer steps on the batch in the graph (whose gradients are computed): after each,
 * the loss value `loss` against "out:loss@<step>"; after the last, every parameter against
 * "step<steps>:<name>". `what` names the optimizer in failures. */
typedef rk_status (*fx_step_fn)(void *opt);
void fx_check_steps(fixture *f, rk_graph *g, int loss, rk_param *const *params, int n_params, int steps,
                    fx_step_fn step, void *opt, const char *what);
/* Session fixtures: the ragged lists "list:<feature>" (lengths per session in "lengths", the past
 * columns' in "past_lengths") as a batch of list columns in the features' order. */
void fx_session_batch(fixture *f, const rk_session_features *fs, rk_batch *b);
/* The graph's int64 input v against the fixture's `name` (when check), then set from it. */
void fx_ids_input(fixture *f, rk_graph *g, int v, const char *name, int64_t count, bool check);
/* The worst differences of each kind, one line each. */
void fx_report(const fixture *f);

#endif
