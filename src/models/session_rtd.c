/*
 * Replacement token detection (issue 19, part RTD): ELECTRA's pre-training task (Clark et al.
 * 2020, sec. 2) on sessions, as Transformers4Rec's research pipeline sets it up
 * (recsys_meta_model.py, recsys_models.py and recsys_args.py, tag recsys2021):
 *
 *   generator      the model's own masked LM (the train graph's cross-entropy at the masked
 *                  rows). By default (the reference's rtd_tied_generator=False) a separate,
 *                  smaller ELECTRA: recsys_models.py builds it from the discriminator's config
 *                  with hidden_size = embedding_size = round(electra_generator_hidden_size x
 *                  d_model) (Python's round: half to even), the same n_layer, n_head and MLP width
 *                  (intermediate_size stays 4 d_model), and the meta-model built on that config
 *                  gives the generator everything else at its width: the merge, [MASK], positions,
 *                  blocks and output head. --rtd_tied_generator: generator and discriminator are
 *                  one model, as every tuned ELECTRA run of the paper sets it
 *   shared         the input stage's features (embedding tables, their projections and
 *                  LayerNorms: one feature_process in the reference) and, tied, everything
 *   replacements   at each masked row, an item sampled from the generator's softmax (by
 *                  inversion, the reference's Gumbel-max distribution, over the catalogue or,
 *                  --rtd_sample_from_batch, over the batch's masked items), no gradient through
 *                  the draw (src/nn/ops/rtd_replace.c)
 *   discriminator  the corrupted session (the side features unchanged, as the reference's "TODO:
 *                  sampling fake side info") through the input stage's features, then (separate)
 *                  its own merge (merge_disc) to d_model and ELECTRA body, or (tied) the
 *                  generator's; or, --rtd_use_batch_interaction (with --rtd_sample_from_batch),
 *                  the batch's merged rows, detached, each drawn row showing the row it was drawn
 *                  from, side features and all (src/nn/ops/rtd_interaction.c), through the body;
 *                  then dense_discriminator -> tf_out_activation -> discriminator_prediction,
 *                  BCE with logits against "replaced" on every non-padding row
 *   loss           rtd_discriminator_loss_weight x BCE + rtd_generator_loss_weight x MLM: the MLM
 *                  trains the generator and the features, the BCE the discriminator and the
 *                  features (the draws pass no gradient, so it never reaches a separate generator)
 * Packed (session_graph.c): both bodies run on the real rows when the model's body packs; the
 * draws are keyed by their rows of B T, and the discriminator's head and BCE run on the packed
 * rows, which are the non-padding rows the BCE averages over.
 * Evaluation and prediction use the generator alone (the reference evaluates self.model, the
 * generator, and its logits); the discriminator is a training device.
 * The reference's batch interaction indexes the flattened batch with the drawn column (its
 * fake_pos_emb[batch_updates], the k-th row of the batch, not the k-th masked row); reckon takes
 * the masked row whose target was drawn, the interaction the label describes
 * (docs/session_models.md).
 */
#include <math.h>

#include "session_internal.h"

static rk_status bad_weight(const char *flag, float w) {
  return rk_error(RK_EUSAGE, "invalid value '%g' for %s: expected W >= 0", w, flag);
}

bool rk_session_rtd_separate(const rk_session_config *c) { return c->rtd && !c->rtd_tied_generator; }

int64_t rk_session_width(const rk_session_config *c) {
  if (!rk_session_rtd_separate(c)) return c->d_model;
  return (int64_t)nearbyint((double)c->d_model * (double)c->electra_generator_hidden_size);   /* half to even */
}

static rk_status check_separate(const rk_session_config *c) {
  if (c->model_type != RK_SESSION_ELECTRA)
    return rk_error(RK_EUSAGE, "--rtd without --rtd_tied_generator builds ELECTRA's separate, smaller generator, which "
                    "needs --model_type electra (the reference builds two models for electra only): set "
                    "--rtd_tied_generator to train this model as its own generator");
  if (c->inp_merge == RK_SESSION_MERGE_IDENTITY)
    return rk_error(RK_EUSAGE, "--inp_merge identity with --rtd and a separate generator: the generator and the "
                    "discriminator have different widths, so each merges the features to its own (use --inp_merge "
                    "mlp, or --rtd_tied_generator)");
  const int64_t G = rk_session_width(c);
  if (G < 1 || G % c->n_head != 0)
    return rk_error(RK_EUSAGE, "invalid value '%g' for --electra_generator_hidden_size: the generator's width, "
                    "round(%g x --d_model %lld) = %lld, must be a positive multiple of --n_head %d",
                    c->electra_generator_hidden_size, c->electra_generator_hidden_size, (long long)c->d_model,
                    (long long)G, c->n_head);
  return RK_OK;
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
  if (rk_session_rtd_separate(c)) RK_TRY(check_separate(c));
  if (c->rtd_use_batch_interaction && !c->rtd_sample_from_batch)
    return rk_error(RK_EUSAGE, "--rtd_use_batch_interaction shows each draw as the batch row it was drawn from: it "
                    "needs --rtd_sample_from_batch (as the reference asserts)");
  if (c->rtd_use_batch_interaction && rk_session_width(c) != c->d_model)
    return rk_error(RK_EUSAGE, "--rtd_use_batch_interaction feeds the generator's merged rows (%lld wide) to the "
                    "discriminator (--d_model %lld): with a separate generator it needs "
                    "--electra_generator_hidden_size 1, or --rtd_tied_generator",
                    (long long)rk_session_width(c), (long long)c->d_model);
  return RK_OK;
}

/* A separate generator's discriminator: ELECTRA's body at d_model over x (B, T, d_model), as
 * session_graph.c's transformer body over the generator's parameters, packed as it is. */
static rk_status build_discriminator_body(rk_session_graph *sg, int *x, const rk_session_params *p,
                                          const rk_session_config *c) {
  rk_session_params *q = (rk_session_params *)p;   /* the graph keeps pointers to the parameters */
  rk_graph *g = sg->g;
  int pos;
  RK_TRY(rk_graph_param(g, &pos, &q->disc_positions));
  RK_TRY(rk_session_body_pack(sg, x, &pos));
  RK_TRY(rk_graph_add(g, x, *x, pos));
  RK_TRY(rk_graph_layer_norm(g, x, *x, &q->disc_emb_ln_gamma, &q->disc_emb_ln_beta, c->layer_norm_eps));
  if (c->dropout > 0.0f) RK_TRY(rk_graph_dropout(g, x, *x, c->dropout, false));
  int keys = c->key_padding_mask && !sg->packed ? sg->keys : RK_NO_VALUE;   /* packed: no padding */
  for (int l = 0; l < c->n_layer; l++) RK_TRY(rk_graph_bert_block(g, x, NULL, *x, &q->disc_blocks[l], &q->disc_block, keys, 0));
  return RK_OK;
}

rk_status rk_session_build_rtd_loss(rk_session_graph *sg, int *loss, int mlm_loss, int logits, const rk_session_params *p,
                                    const rk_session_features *f, const rk_session_config *c) {
  rk_graph *g = sg->g;
  int source, replaced, weight, x, bce;
  RK_TRY(rk_graph_rtd_replace(g, &sg->rtd_fake, &source, &replaced, &weight, logits, sg->labelled, sg->packed_labels,
                              sg->inputs[f->item], sg->packed ? sg->packed_rows : RK_NO_VALUE, c->pad_token,
                              c->softmax_temperature, c->rtd_sample_from_batch));
  RK_TRY(rk_graph_output(g, sg->rtd_fake));   /* the corrupted items stay readable after a forward */
  /* no [MASK]: the draws fill the masked rows, as the batch's own interaction rows or embedded again */
  if (c->rtd_use_batch_interaction) RK_TRY(rk_graph_rtd_interaction(g, &x, sg->merged, source));
  else RK_TRY(rk_session_inputs_build(sg, &x, p, f, c, sg->rtd_fake));
  if (rk_session_rtd_separate(c)) RK_TRY(build_discriminator_body(sg, &x, p, c));
  else RK_TRY(rk_session_body_build(sg, p, c, &x, false));
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
