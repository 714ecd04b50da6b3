/*
 * A session model's input stage (recsys_meta_model.py's feature_process and ProjectionNetwork,
 * tag recsys2021): the graph from the feed's per-feature inputs to the (B, T, width) rows the
 * [MASK] and the body see. Per feature, over every position (past sessions first when
 * session-aware: the feed puts a feature's past column in front of it, so one input covers both):
 *
 *   categorical   table[ids] (B, T, D_f); elementwise aggregation: a linear layer to item_dim
 *                 (not the item itself)
 *   continuous    the scalar (B, T, 1); numeric_features_project_to_embedding_dim P > 0: a
 *                 linear layer 1 -> P (elementwise: 1 -> item_dim); with soft one-hot encoding
 *                 (Li et al. 2017, arXiv:1708.00065, sec. 3.2) softmax(x w + b) over the bins
 *                 times a (bins, P) table, then (elementwise) a linear layer to item_dim;
 *                 continuous_projection N (Transformers4Rec's): all of them side by side, linear
 *                 to N and ReLU, one feature in the first one's place
 *   featurewise   a LayerNorm on each feature (layer_norm_featurewise; eps 1e-5, nn.LayerNorm's)
 *
 * then the aggregation: concat (in feature order), or elementwise_sum_multiply_item_embedding:
 * item * (1 + the sum of the other features), scalars left unprojected taking no part (as the
 * reference's test of numeric_features_project_to_embedding_dim > 0 leaves them out); and the
 * merge: inp_merge mlp is dropout(input_dropout) [-> LayerNorm (layer_norm_all_features)] ->
 * linear to the model's width (d_model; a separate RTD generator's is smaller, session_rtd.c) ->
 * tf_out_activation, identity passes the features on.
 * Packed (sg->packed_inputs; docs/session_models.md, "Packed rows"): after the input dropout,
 * gather_rows keeps the real rows (key set), so the merge's LayerNorm, linear layer and activation
 * compute those only (about a third of B T), and the [MASK] fill and the body take them packed.
 * The features and the dropout stay on the (B, T) rows: the draws are the unpacked graph's.
 * The parameters are session_params.c's, the feed session_feed.c's; not the [MASK] nor the body.
 */
#include "session_internal.h"

int rk_session_first_continuous(const rk_session_features *f) {
  for (int i = 0; i < f->n; i++)
    if (!f->features[i].categorical && !f->features[i].is_past) return i;
  return -1;
}

/* continuous_projection: every continuous input (B, T, 1), in feature order, side by side through
 * one linear layer and ReLU (Transformers4Rec's ContinuousFeatures >> MLPBlock). */
static rk_status continuous_together(rk_session_graph *sg, int *out, const rk_session_params *p,
                                     const rk_session_features *f) {
  int first = rk_session_first_continuous(f), n = 0;
  int *xs = rk_calloc((size_t)f->n + 1, sizeof *xs);
  if (!xs) return RK_ENOMEM;
  for (int i = 0; i < f->n; i++)
    if (!f->features[i].categorical && !f->features[i].is_past) xs[n++] = sg->inputs[i];
  rk_status st = n > 1 ? rk_graph_concat(sg->g, out, n, xs, 2) : (*out = xs[0], RK_OK);
  rk_free(xs);
  RK_TRY(st);
  return rk_graph_linear(sg->g, out, *out, (rk_param *)&p->scalar_proj[2 * first],
                         (rk_param *)&p->scalar_proj[2 * first + 1], RK_ACT_RELU);
}

/* Continuous feature i's (B, T, W) rows from its (B, T, 1) input. */
static rk_status continuous(rk_session_graph *sg, int *out, const rk_session_params *p, const rk_session_features *f,
                            const rk_session_config *c, int i) {
  rk_graph *g = sg->g;
  int in = *out = sg->inputs[i];
  if (c->continuous_projection > 0)
    return i == rk_session_first_continuous(f) ? continuous_together(sg, out, p, f) : (*out = RK_NO_VALUE, RK_OK);
  if (c->numeric_features_project_to_embedding_dim == 0) return RK_OK;
  rk_param *w = (rk_param *)&p->scalar_proj[2 * i], *b = (rk_param *)&p->scalar_proj[2 * i + 1];
  RK_TRY(rk_graph_linear(g, out, in, w, b, RK_ACT_NONE));
  if (c->numeric_features_soft_one_hot_encoding_num_embeddings == 0) return RK_OK;
  int table;
  RK_TRY(rk_graph_softmax(g, out, *out, 1.0f));
  RK_TRY(rk_graph_param(g, &table, (rk_param *)&p->soft_tables[i]));
  return rk_graph_matmul(g, out, *out, table);   /* (B, T, bins) x (bins, P) */
}

/* Feature i: its graph input over T positions and its (B, T, W) rows (RK_NO_VALUE: none of its own). */
static rk_status feature(rk_session_graph *sg, int *out, const rk_session_params *p, const rk_session_features *f,
                         const rk_session_config *c, int i, int item_ids) {
  rk_graph *g = sg->g;
  const rk_session_feature *ft = &f->features[i];
  const bool elementwise = c->input_features_aggregation == RK_SESSION_AGG_ELEMENTWISE;
  bool to_item;
  if (ft->categorical) {
    if (item_ids == RK_NO_VALUE) RK_TRY(rk_graph_input_ids(g, &sg->inputs[i], ft->name, sg->T));
    int ids = item_ids != RK_NO_VALUE && i == f->item ? item_ids : sg->inputs[i];
    RK_TRY(rk_graph_embedding(g, out, &p->tables[p->feature_table[i]], ids, c->pad_token));
    to_item = elementwise && i != f->item;
  } else {
    RK_TRY(continuous(sg, out, p, f, c, i));
    to_item = elementwise && c->numeric_features_soft_one_hot_encoding_num_embeddings > 0;
  }
  if (*out == RK_NO_VALUE) return RK_OK;   /* read by the continuous projection */
  if (to_item) RK_TRY(rk_graph_linear(g, out, *out, (rk_param *)&p->to_item[2 * i], (rk_param *)&p->to_item[2 * i + 1],
                                      RK_ACT_NONE));
  if (c->layer_norm_featurewise)
    RK_TRY(rk_graph_layer_norm(g, out, *out, (rk_param *)&p->feature_ln[2 * i], (rk_param *)&p->feature_ln[2 * i + 1],
                               1e-5f));
  return RK_OK;
}

/* item * (1 + sum of the others), as item * sum + item. */
static rk_status multiply_into_item(rk_graph *g, int *x, const int *parts, const rk_session_features *f,
                                    const rk_session_config *c) {
  int sum = RK_NO_VALUE;
  for (int i = 0; i < f->n; i++) {
    const rk_session_feature *ft = &f->features[i];
    bool counts = ft->categorical || c->numeric_features_project_to_embedding_dim > 0;
    if (i == f->item || ft->is_past || !counts) continue;
    if (sum == RK_NO_VALUE) sum = parts[i];
    else RK_TRY(rk_graph_add(g, &sum, sum, parts[i]));
  }
  *x = parts[f->item];
  if (sum == RK_NO_VALUE) return RK_OK;
  int product;
  RK_TRY(rk_graph_mul(g, &product, parts[f->item], sum));
  return rk_graph_add(g, x, product, parts[f->item]);
}

static rk_status aggregate(rk_graph *g, int *x, int *parts, const rk_session_features *f, const rk_session_config *c) {
  if (c->input_features_aggregation == RK_SESSION_AGG_ELEMENTWISE) return multiply_into_item(g, x, parts, f, c);
  int n = 0;
  for (int i = 0; i < f->n; i++)
    if (parts[i] != RK_NO_VALUE) parts[n++] = parts[i];
  if (n == 1) return *x = parts[0], RK_OK;
  return rk_graph_concat(g, x, n, parts, 2);
}

/* With sg->packed_inputs, the real rows of x: after the input dropout, whose draws so stay the
 * unpacked graph's (the same op, on the same (B, T) rows), and before the merge's row-wise work. */
static rk_status pack(const rk_session_graph *sg, int *x) {
  return sg->packed_inputs ? rk_graph_gather_rows(sg->g, x, *x, sg->packed_rows) : RK_OK;
}

/* ln: the LayerNorm's gamma and beta (layer_norm_all_features), wb: the linear layer's. */
static rk_status merge(const rk_session_graph *sg, int *x, rk_param *const ln[2], rk_param *const wb[2],
                       const rk_session_config *c) {
  rk_graph *g = sg->g;
  if (c->inp_merge == RK_SESSION_MERGE_IDENTITY) return pack(sg, x);
  if (c->input_dropout > 0.0f) RK_TRY(rk_graph_dropout(g, x, *x, c->input_dropout, false));
  RK_TRY(pack(sg, x));
  if (c->layer_norm_all_features) RK_TRY(rk_graph_layer_norm(g, x, *x, ln[0], ln[1], 1e-5f));
  rk_act act = c->tf_out_activation == RK_SESSION_OUT_RELU ? RK_ACT_RELU : RK_ACT_TANH;
  return rk_graph_linear(g, x, *x, wb[0], wb[1], act);
}

rk_status rk_session_inputs_build(rk_session_graph *sg, int *x, const rk_session_params *p,
                                  const rk_session_features *f, const rk_session_config *c, int item_ids) {
  int *parts = rk_calloc((size_t)f->n + 1, sizeof *parts);
  if (!parts) return RK_ENOMEM;
  rk_status st = RK_OK;
  const bool again = item_ids != RK_NO_VALUE;
  for (int i = 0; i < f->n; i++) {
    parts[i] = RK_NO_VALUE;
    if (!again) sg->inputs[i] = RK_NO_VALUE;
  }
  for (int i = 0; !again && st == RK_OK && i < f->n; i++) {   /* the continuous inputs first: one layer may read them all */
    const int64_t shape[2] = {sg->T, 1};
    if (!f->features[i].categorical && !f->features[i].is_past)
      st = rk_graph_input(sg->g, &sg->inputs[i], f->features[i].name, 2, shape);
  }
  for (int i = 0; st == RK_OK && i < f->n; i++)
    if (!f->features[i].is_past) st = feature(sg, &parts[i], p, f, c, i, item_ids);
  if (st == RK_OK) st = aggregate(sg->g, x, parts, f, c);
  rk_free(parts);
  RK_TRY(st);
  rk_session_params *q = (rk_session_params *)p;   /* the graph keeps pointers to the parameters */
  if (again && rk_session_rtd_separate(c)) {   /* the discriminator's own merge (recsys_meta_model's merge_disc) */
    rk_param *const ln[2] = {&q->disc_ln_gamma, &q->disc_ln_beta}, *const wb[2] = {&q->disc_merge_w, &q->disc_merge_b};
    return merge(sg, x, ln, wb, c);
  }
  rk_param *const ln[2] = {&q->all_ln_gamma, &q->all_ln_beta}, *const wb[2] = {&q->merge_w, &q->merge_b};
  return merge(sg, x, ln, wb, c);
}
