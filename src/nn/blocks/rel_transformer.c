/*
 * The relative-position Transformer layer over the graph API: Transformer-XL's decoder layer
 * (Dai et al. 2019, sec. 3.3 and appendix B; Hugging Face's RelPartialLearnableDecoderLayer with
 * pre_lnorm off) and XLNet's layer (Yang et al. 2019; Hugging Face's XLNetLayer) are one layer:
 *
 *   a   = dropout(o(rel_attention(qkv(x))))           no biases in qkv, r and o
 *   h   = ln_1(x + a)
 *   out = ln_2(h + dropout(fc_out(dropout(act(fc(h))))))
 *
 * with act ReLU (Transformer-XL's CoreNet) or gelu (XLNet's ff_activation). rel_attention is the
 * fused op of src/nn/ops/rel_attention.c (r_w_bias, r_r_bias, the sinusoid of each distance).
 * XLNet's two-stream attention (sec. 2.3) runs the same layer on a second stream g: its queries
 * come from g, its keys and values from the content stream x, it does not see its own position,
 * and it passes through the same o, LayerNorms and feed-forward; the content stream sees itself.
 * The query stream projects through the whole qkv weight and reads its q columns (one parameter
 * holds the three; the k and v columns it computes, two thirds of that projection, go unused).
 *
 * Packed (docs/design.md, "Rows in use"): x (and the query stream) may be the real rows (R,
 * d_model) of a (B, T) body, packed alike by one gather_rows; every op here computes those rows
 * only, and rel_attention finds each row's session and position from their row index.
 *
 * Not here: the parameters' names and initial values (the models'), the dropout on the layer
 * stack's input and output, and the sessions' masks (src/models/session_xlnet.c).
 */
#include "nn/ops/ops.h"

void rk_rel_transformer_block_params(rk_rel_transformer_block *blk, rk_param *ps[RK_REL_TRANSFORMER_BLOCK_PARAMS]) {
  rk_param *all[RK_REL_TRANSFORMER_BLOCK_PARAMS] = {
      &blk->qkv_weight, &blk->r_weight,  &blk->r_w_bias,  &blk->r_r_bias,   &blk->o_weight,   &blk->ln1_gamma, &blk->ln1_beta,
      &blk->fc_weight,  &blk->fc_bias,   &blk->out_weight, &blk->out_bias, &blk->ln2_gamma, &blk->ln2_beta};
  for (int k = 0; k < RK_REL_TRANSFORMER_BLOCK_PARAMS; k++) ps[k] = all[k];
}

/* Everything after the attention's heads, for either stream: o, the residual from `x`, ln_1, the
 * feed-forward, ln_2. */
static rk_status after_attention(rk_graph *g, int *out, int heads, int x, rk_rel_transformer_block *blk,
                                 const rk_rel_transformer_config *c) {
  int a, h, f;
  RK_TRY(rk_graph_linear(g, &a, heads, &blk->o_weight, NULL, RK_ACT_NONE));
  if (c->dropout > 0.0f) RK_TRY(rk_graph_dropout(g, &a, a, c->dropout, false));
  RK_TRY(rk_graph_add(g, &h, x, a));
  RK_TRY(rk_graph_layer_norm(g, &h, h, &blk->ln1_gamma, &blk->ln1_beta, c->ln_eps));
  RK_TRY(rk_graph_linear(g, &f, h, &blk->fc_weight, &blk->fc_bias, c->act == RK_REL_ACT_RELU ? RK_ACT_RELU : RK_ACT_NONE));
  if (c->act != RK_REL_ACT_RELU) RK_TRY(rk_graph_gelu(g, &f, f, c->act == RK_REL_ACT_GELU_TANH));
  if (c->dropout > 0.0f) RK_TRY(rk_graph_dropout(g, &f, f, c->dropout, false));
  RK_TRY(rk_graph_linear(g, &f, f, &blk->out_weight, &blk->out_bias, RK_ACT_NONE));
  if (c->dropout > 0.0f) RK_TRY(rk_graph_dropout(g, &f, f, c->dropout, false));
  RK_TRY(rk_graph_add(g, &f, h, f));
  return rk_graph_layer_norm(g, out, f, &blk->ln2_gamma, &blk->ln2_beta, c->ln_eps);
}

rk_status rk_graph_rel_transformer_block(rk_graph *g, int *out, int *out_g, int *weights, int x, int query,
                                         rk_rel_transformer_block *blk, const rk_rel_transformer_config *c,
                                         const rk_rel_transformer_masks *m) {
  RK_TRY(rk_graph_check_value(g, x, "relative transformer block"));
  const rk_value *xv = rk_val(g, x);
  char bx[96];
  if (xv->ndim != (xv->partial_rows ? 2 : 3) || xv->shape[xv->ndim - 1] != c->d_model)
    return rk_error(RK_ESHAPE, "relative transformer block: input %s must be (B, T, d_model %lld), or its packed rows "
                    "(R, d_model)", rk_shape_str(xv, bx, sizeof bx), (long long)c->d_model);
  int qkv, heads;
  RK_TRY(rk_graph_linear(g, &qkv, x, &blk->qkv_weight, NULL, RK_ACT_NONE));
  rk_rel_attention a = {.q_src = qkv, .kv_src = qkv, .r = &blk->r_weight, .r_w_bias = &blk->r_w_bias,
                        .r_r_bias = &blk->r_r_bias, .heads = c->heads, .causal = c->causal, .key_ids = m->key_ids,
                        .padding = m->padding, .hidden = m->hidden, .self_visible = true, .mem = c->mem,
                        .dropout = c->attn_dropout, .pos_dropout = c->dropout};
  RK_TRY(rk_graph_rel_attention(g, &heads, weights, &a));
  if (query != RK_NO_VALUE) {   /* the query stream: its own queries, the content's keys and values */
    int qkv_g, heads_g;
    RK_TRY(rk_graph_linear(g, &qkv_g, query, &blk->qkv_weight, NULL, RK_ACT_NONE));
    a.q_src = qkv_g;
    a.self_visible = false;
    RK_TRY(rk_graph_rel_attention(g, &heads_g, NULL, &a));
    RK_TRY(after_attention(g, out_g, heads_g, query, blk, c));
  }
  return after_attention(g, out, heads, x, blk, c);
}
