/*
 * Transformer blocks over the graph API, as the session models stack them: a GPT-2 block
 * (Radford et al. 2019; pre-LayerNorm) and a BERT block (Devlin et al. 2019; post-LayerNorm).
 *
 *   GPT-2:  x1 = x + dropout(proj(attn(ln_1(x))));   out = x1 + dropout(fc_out(gelu(fc(ln_2(x1)))))
 *   BERT:   h  = ln_1(x + dropout(proj(attn(x))));   out = ln_2(h + dropout(fc_out(gelu(fc(h)))))
 *
 * attn is the fused attention op (src/nn/ops/attention.c) on one fused q/k/v linear, with its
 * dropout on the probabilities; the other two dropouts sit where GPT-2 (resid_pdrop) and BERT
 * (hidden_dropout_prob) put them. The MLP is d_ff wide (4 d_model by default) with gelu's tanh
 * form (GPT-2's gelu_new) or its erf form (BERT's "gelu"). Weights are nn.Linear's (out, in)
 * layout: GPT-2's Conv1D checkpoints store the transpose, and BERT's separate query, key and value
 * weights stack into qkv's rows in that order.
 *
 * x is (B, T, d_model), or a packed session body's real rows (R, d_model) with rows in use
 * (gather_rows; docs/design.md, "Rows in use"): every op of a block then computes those rows
 * only, and attention finds each session from the rows' index (no key mask: nothing padded).
 *
 * Not here: the embeddings, the position table, the final LayerNorm and the heads (the session
 * models', which stack blocks). A block's parameters live in the model's parameter arena;
 * ALBERT-style sharing is one block used by several layers.
 */
#include <stdio.h>

#include "nn/ops/ops.h"

static rk_param *block_param(rk_transformer_block *blk, int k) {
  rk_param *ps[RK_TRANSFORMER_BLOCK_PARAMS] = {&blk->ln1_gamma, &blk->ln1_beta, &blk->qkv_weight, &blk->qkv_bias,
                                               &blk->proj_weight, &blk->proj_bias, &blk->ln2_gamma, &blk->ln2_beta,
                                               &blk->fc_weight, &blk->fc_bias, &blk->out_weight, &blk->out_bias};
  return ps[k];
}

static int64_t d_ff(const rk_transformer_config *c) { return c->d_ff > 0 ? c->d_ff : 4 * c->d_model; }

rk_status rk_transformer_block_declare(rk_transformer_block *blk, rk_param_arena *a, const char *prefix,
                                       const rk_transformer_config *c) {
  if (c->d_model < 1 || c->heads < 1 || c->d_model % c->heads != 0)
    return rk_error(RK_EINVAL, "transformer block '%s': d_model %lld must be a positive multiple of n_head %lld",
                    prefix, (long long)c->d_model, (long long)c->heads);
  const int64_t D = c->d_model, F = d_ff(c);
  static const char *const names[RK_TRANSFORMER_BLOCK_PARAMS] = {
      "ln_1.weight",      "ln_1.bias",   "attn.qkv.weight", "attn.qkv.bias", "attn.proj.weight", "attn.proj.bias",
      "ln_2.weight",      "ln_2.bias",   "mlp.fc.weight",   "mlp.fc.bias",   "mlp.proj.weight",  "mlp.proj.bias"};
  const int64_t shapes[RK_TRANSFORMER_BLOCK_PARAMS][2] = {{D, 0}, {D, 0}, {3 * D, D}, {3 * D, 0}, {D, D}, {D, 0},
                                                          {D, 0}, {D, 0}, {F, D},     {F, 0},     {D, F}, {D, 0}};
  for (int k = 0; k < RK_TRANSFORMER_BLOCK_PARAMS; k++) {
    char name[sizeof blk->ln1_gamma.name];
    if (snprintf(name, sizeof name, "%s.%s", prefix, names[k]) >= (int)sizeof name)
      return rk_error(RK_EUSAGE, "transformer block prefix '%s' is too long for its parameter names", prefix);
    RK_TRY(rk_param_arena_add(a, block_param(blk, k), name, shapes[k][1] ? 2 : 1, shapes[k]));
  }
  return RK_OK;
}

rk_status rk_transformer_block_init(rk_transformer_block *blk, uint64_t seed, uint64_t first_stream, double std,
                                    double proj_std) {
  for (int k = 0; k < RK_TRANSFORMER_BLOCK_PARAMS; k++) {
    rk_param *p = block_param(blk, k);
    rk_init_spec spec = rk_init_spec_default(RK_INIT_ZEROS);
    if (k == 0 || k == 6) spec.kind = RK_INIT_ONES;   /* the LayerNorms' gamma */
    else if (p->value.ndim == 2) {
      spec.kind = RK_INIT_NORMAL;
      spec.scale = (k == 4 || k == 10) ? proj_std : std;   /* the two projections back into the residual */
    }
    RK_TRY(rk_init_tensor(&p->value, &spec, seed, first_stream + (uint64_t)k));
  }
  return RK_OK;
}

/* attn(x) projected back to d_model, after dropout: the residual branch of either block. */
static rk_status attention_branch(rk_graph *g, int *out, int *weights, int x, rk_transformer_block *blk,
                                  const rk_transformer_config *c, int key_ids, int64_t padding) {
  int h;
  RK_TRY(rk_graph_linear(g, &h, x, &blk->qkv_weight, &blk->qkv_bias, RK_ACT_NONE));
  RK_TRY(rk_graph_attention(g, &h, weights, h, c->heads, c->causal, key_ids, padding, c->attn_dropout));
  RK_TRY(rk_graph_linear(g, &h, h, &blk->proj_weight, &blk->proj_bias, RK_ACT_NONE));
  if (c->dropout > 0.0f) RK_TRY(rk_graph_dropout(g, &h, h, c->dropout, false));
  *out = h;
  return RK_OK;
}

/* fc_out(gelu(fc(x))), after dropout. */
static rk_status mlp_branch(rk_graph *g, int *out, int x, rk_transformer_block *blk, const rk_transformer_config *c) {
  int h;
  RK_TRY(rk_graph_linear(g, &h, x, &blk->fc_weight, &blk->fc_bias, RK_ACT_NONE));
  RK_TRY(rk_graph_gelu(g, &h, h, c->gelu_tanh));
  RK_TRY(rk_graph_linear(g, &h, h, &blk->out_weight, &blk->out_bias, RK_ACT_NONE));
  if (c->dropout > 0.0f) RK_TRY(rk_graph_dropout(g, &h, h, c->dropout, false));
  *out = h;
  return RK_OK;
}

static rk_status check_input(const rk_graph *g, int x, const rk_transformer_config *c, const char *what) {
  RK_TRY(rk_graph_check_value(g, x, what));
  const rk_value *xv = rk_val(g, x);
  char bx[96];
  if (xv->ndim != (xv->partial_rows ? 2 : 3) || xv->shape[xv->ndim - 1] != c->d_model)
    return rk_error(RK_ESHAPE, "%s: input %s must be (B, T, d_model %lld) or its packed rows (R, d_model)", what,
                    rk_shape_str(xv, bx, sizeof bx), (long long)c->d_model);
  return RK_OK;
}

rk_status rk_graph_gpt2_block(rk_graph *g, int *out, int *weights, int x, rk_transformer_block *blk,
                              const rk_transformer_config *c, int key_ids, int64_t padding) {
  RK_TRY(check_input(g, x, c, "gpt2 block"));
  int h, a, x1, f;
  RK_TRY(rk_graph_layer_norm(g, &h, x, &blk->ln1_gamma, &blk->ln1_beta, c->ln_eps));
  RK_TRY(attention_branch(g, &a, weights, h, blk, c, key_ids, padding));
  RK_TRY(rk_graph_add(g, &x1, x, a));
  RK_TRY(rk_graph_layer_norm(g, &h, x1, &blk->ln2_gamma, &blk->ln2_beta, c->ln_eps));
  RK_TRY(mlp_branch(g, &f, h, blk, c));
  return rk_graph_add(g, out, x1, f);
}

rk_status rk_graph_bert_block(rk_graph *g, int *out, int *weights, int x, rk_transformer_block *blk,
                              const rk_transformer_config *c, int key_ids, int64_t padding) {
  RK_TRY(check_input(g, x, c, "bert block"));
  int a, h, f;
  RK_TRY(attention_branch(g, &a, weights, x, blk, c, key_ids, padding));
  RK_TRY(rk_graph_add(g, &h, x, a));
  RK_TRY(rk_graph_layer_norm(g, &h, h, &blk->ln1_gamma, &blk->ln1_beta, c->ln_eps));
  RK_TRY(mlp_branch(g, &f, h, blk, c));
  RK_TRY(rk_graph_add(g, &f, h, f));
  return rk_graph_layer_norm(g, out, f, &blk->ln2_gamma, &blk->ln2_beta, c->ln_eps);
}
