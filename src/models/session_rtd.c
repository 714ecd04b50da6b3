/*
 * Replacement token detection (issue 19, part RTD): ELECTRA's pre-training task (Clark et al.
 * 2020, sec. 2) on sessions, as Transformers4Rec's research pipeline sets it up
 * (recsys_meta_model.py and recsys_args.py, tag recsys2021):
 *
 *   generator      the model's own masked LM (the train graph's cross-entropy at the masked
 *                  rows); --rtd_tied_generator: the generator and the discriminator are one
 *                  model, as every tuned ELECTRA run of the paper sets it
 *   replacements   at each masked row, an item sampled from the generator's softmax (Gumbel-max,
 *                  over the catalogue or, --rtd_sample_from_batch, over the batch's masked items),
 *                  no gradient through the draw (src/nn/ops/rtd_replace.c)
 *   discriminator  the corrupted session (the side features unchanged, as the reference's "TODO:
 *                  sampling fake side info") through the same input stage and body, then
 *                  dense_discriminator -> tf_out_activation -> discriminator_prediction, BCE
 *                  with logits against "replaced" on every non-padding row
 *   loss           rtd_discriminator_loss_weight x BCE + rtd_generator_loss_weight x MLM
 * Evaluation and prediction use the generator alone (the reference evaluates self.model).
 * Not built: a separate, smaller generator (--electra_generator_hidden_size) and
 * --rtd_use_batch_interaction; both are refused, naming the flag (docs/session_models.md).
 */
#include <math.h>

#include "session_internal.h"

static rk_status bad_weight(const char *flag, float w) {
  return rk_error(RK_EUSAGE, "invalid value '%g' for %s: expected W >= 0", w, flag);
}

rk_status rk_session_check_rtd(const rk_session_config *c) {
  if (!(c->rtd_discriminator_loss_weight >= 0.0f && c->rtd_discriminator_loss_weight < INFINITY))
    return bad_weight("--rtd_discriminator_loss_weight", c->rtd_discriminator_loss_weight);
  if (!(c->rtd_generator_loss_weight >= 0.0f && c->rtd_generator_loss_weight < INFINITY))
    return bad_weight("--rtd_generator_loss_weight", c->rtd_generator_loss_weight);
  if (!(c->electra_generator_hidden_size > 0.0f && c->electra_generator_hidden_size <= 1.0f))
    return rk_error(RK_EUSAGE, "invalid value '%g' for --electra_generator_hidden_size: expected R in (0, 1]",
                    c->electra_generator_hidden_size);
  if (!c->rtd) return RK_OK;
  if (!rk_session_config_mlm(c) || c->plm)
    return rk_error(RK_EUSAGE, "--rtd replaces the items a masked LM generator predicts: it needs the masked LM task "
                    "(--model_type electra, bert or albert, or xlnet with --mlm)");
  if (rk_session_sampled(c))
    return rk_error(RK_EUSAGE, "--rtd draws replacements from the generator's softmax over the whole catalogue: it does "
                    "not combine with %s", c->sampled_softmax ? "--sampled_softmax" : "--negative_sampling");
  if (!c->rtd_tied_generator)
    return rk_error(RK_EUNSUPPORTED, "--rtd without --rtd_tied_generator asks for a separate generator of "
                    "--electra_generator_hidden_size x d_model, which reckon does not build yet: set "
                    "--rtd_tied_generator (as every ELECTRA run of the Transformers4Rec paper does)");
  if (c->rtd_use_batch_interaction)
    return rk_error(RK_EUNSUPPORTED, "--rtd_use_batch_interaction is not built: reckon embeds the corrupted items "
                    "again (the reference's default)");
  return RK_OK;
}

rk_status rk_session_build_rtd_loss(rk_session_graph *sg, int *loss, int mlm_loss, int logits, const rk_session_params *p,
                                    const rk_session_features *f, const rk_session_config *c) {
  rk_graph *g = sg->g;
  int replaced, weight, x, bce;
  RK_TRY(rk_graph_rtd_replace(g, &sg->rtd_fake, &replaced, &weight, logits, sg->labelled, sg->packed_labels,
                              sg->inputs[f->item], c->pad_token, c->softmax_temperature, c->rtd_sample_from_batch));
  RK_TRY(rk_session_inputs_build(sg, &x, p, f, c, sg->rtd_fake));   /* no [MASK]: the draws fill the masked rows */
  RK_TRY(rk_session_body_build(sg, p, c, &x, false));
  rk_act act = c->tf_out_activation == RK_SESSION_OUT_RELU ? RK_ACT_RELU : RK_ACT_TANH;
  RK_TRY(rk_graph_linear(g, &x, x, (rk_param *)&p->disc_dense_w, (rk_param *)&p->disc_dense_b, act));
  RK_TRY(rk_graph_linear(g, &x, x, (rk_param *)&p->disc_pred_w, (rk_param *)&p->disc_pred_b, RK_ACT_NONE));
  RK_TRY(rk_graph_bce_logits(g, &bce, x, replaced, weight));
  return rk_graph_weighted_sum(g, loss, bce, c->rtd_discriminator_loss_weight, mlm_loss, c->rtd_generator_loss_weight);
}

rk_status rk_session_rtd_fix_draws(const rk_session_graph *sg, const int64_t *given) {
  if (sg->rtd_fake == RK_NO_VALUE) return rk_error(RK_EINVAL, "the session graph has no replacement draws (--rtd, training)");
  return rk_graph_rtd_replace_fix(sg->g, sg->rtd_fake, given);
}
