/*
 * The session models' losses over candidate items instead of the whole catalogue (issue 19,
 * part R): what the settings ask for, checked, and the train graph's loss built from it.
 *
 *   --sampled_softmax     cross-entropy against the target and --max_n_samples distinct
 *                         log-uniform draws (--sampled_softmax_sampler uniform: uniform ones)
 *                         shared by the batch, logQ-corrected by each id's
 *                         chance to be among them, accidental hits removed (the library's
 *                         NextItemPredictionTask(sampled_softmax=True) and TensorFlow's
 *                         sampled_softmax_loss, both unique; --sampled_softmax_unique false keeps
 *                         repeated draws, corrected by N P(id): docs/session_models.md)
 *   --negative_sampling   the research pipeline's (recsys_meta_model.py): each target against
 *                         the batch's other sessions' targets plus
 *                         --neg_sampling_extra_samples_per_batch uniform draws, with
 *                         --loss_type's loss (cross_entropy over those candidates, or GRU4Rec's
 *                         bpr, bpr_max_reg, top1, top1_max)
 * The head (h = tanh(linear(body))) and the scoring gemm run on the labelled rows, packed
 * (session_graph.c), as the full softmax's: negative sampling's in-batch candidates are those
 * rows' targets, each masked for the rows of its own session (the sessions given), so its
 * gemm is n x (n + extra) over the n labelled rows, not B T x (B T + extra); nothing is B x V,
 * so a catalogue of 10M items trains in the memory of its table and the optimizer's slots.
 * Evaluation and prediction still rank the whole catalogue (rk_session_catalog). The ops:
 * src/nn/ops/sampled_logits.c, sampled_loss.c.
 */
#include <math.h>

#include "session_internal.h"

bool rk_session_sampled(const rk_session_config *c) { return c->sampled_softmax || c->negative_sampling; }

rk_status rk_session_check_sampling(const rk_session_config *c) {
  if (c->loss_type < 0 || c->loss_type > RK_SESSION_LOSS_BPR_MAX_REG)
    return rk_error(RK_EUSAGE, "invalid --loss_type: expected cross_entropy|top1|top1_max|bpr|bpr_max_reg");
  if (c->max_n_samples < 1 || c->max_n_samples > (1 << 20))
    return rk_error(RK_EUSAGE, "invalid value '%lld' for --max_n_samples: expected N in [1, 2^20]",
                    (long long)c->max_n_samples);
  if (c->neg_sampling_extra_samples_per_batch < 0 || c->neg_sampling_extra_samples_per_batch > (1 << 20))
    return rk_error(RK_EUSAGE, "invalid value '%lld' for --neg_sampling_extra_samples_per_batch: expected N in [0, 2^20]",
                    (long long)c->neg_sampling_extra_samples_per_batch);
  if (!(c->bpr_max_reg_lambda >= 0.0f && c->bpr_max_reg_lambda < INFINITY))
    return rk_error(RK_EUSAGE, "invalid value '%g' for --bpr_max_reg_lambda: expected L >= 0", c->bpr_max_reg_lambda);
  if (c->sampled_softmax && c->negative_sampling)
    return rk_error(RK_EUSAGE, "--sampled_softmax and --negative_sampling each choose the candidates the loss sees: "
                    "set one of them");
  if (c->loss_type != RK_SESSION_LOSS_CE && !c->negative_sampling)
    return rk_error(RK_EUSAGE, "--loss_type's pairwise losses rank a target against sampled negatives: they need "
                    "--negative_sampling");
  if (rk_session_sampled(c) && c->label_smoothing > 0.0f)
    return rk_error(RK_EUSAGE, "--label_smoothing spreads mass over the whole catalogue: it does not combine with %s",
                    c->sampled_softmax ? "--sampled_softmax" : "--negative_sampling");
  return RK_OK;
}

static rk_sampled_loss loss_kind(int loss_type) {
  switch ((rk_session_loss)loss_type) {
  case RK_SESSION_LOSS_TOP1: return RK_SAMPLED_TOP1;
  case RK_SESSION_LOSS_TOP1_MAX: return RK_SAMPLED_TOP1_MAX;
  case RK_SESSION_LOSS_BPR: return RK_SAMPLED_BPR;
  case RK_SESSION_LOSS_BPR_MAX_REG: return RK_SAMPLED_BPR_MAX_REG;
  case RK_SESSION_LOSS_CE: break;
  }
  return RK_SAMPLED_CE;
}

rk_status rk_session_build_sampled_loss(rk_graph *g, int *loss, int rows, int labels, int sessions,
                                        const rk_session_params *p, rk_param *w, const rk_session_config *c) {
  const bool sampled = c->sampled_softmax;
  rk_sampled_spec s = {.n_sampled = sampled ? c->max_n_samples : c->neg_sampling_extra_samples_per_batch,
                       .sampler = sampled && c->sampled_softmax_sampler == RK_SESSION_SAMPLER_LOG_UNIFORM
                                      ? RK_SAMPLER_LOG_UNIFORM
                                      : RK_SAMPLER_UNIFORM,
                       .first_id = c->pad_token + 1, .in_batch = !sampled, .logq = sampled,
                       .unique = sampled && c->sampled_softmax_unique,
                       .ignore = c->pad_token, .temperature = c->softmax_temperature};
  if (s.unique && s.n_sampled > p->n_items - s.first_id)
    return rk_error(RK_EUSAGE, "--max_n_samples %lld distinct draws: the catalogue has %lld item ids past the padding; "
                    "lower --max_n_samples or set --sampled_softmax_unique false", (long long)s.n_sampled,
                    (long long)(p->n_items - s.first_id));
  int h, logits;
  RK_TRY(rk_graph_linear(g, &h, rows, (rk_param *)&p->head_w, (rk_param *)&p->head_b, RK_ACT_TANH));
  RK_TRY(rk_graph_sampled_logits(g, &logits, h, labels, sessions, w, (rk_param *)&p->out_b, &s));
  return rk_graph_sampled_loss(g, loss, logits, labels, loss_kind(c->loss_type), c->pad_token, c->bpr_max_reg_lambda);
}
