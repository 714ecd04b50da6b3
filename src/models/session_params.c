/*
 * The session models' parameters: declared in one arena (reckon/nn.h), named as the reference's
 * modules name them (recsys_meta_model.py, Hugging Face's GPT-2 / BERT / ALBERT, torch.nn.GRU),
 * drawn once the arena has memory, each from (seed, its number in declaration order), and marked
 * for Hugging Face's no-decay group as the Trainer marks the reference's.
 *
 * Initial values (the reference's, module by module):
 *   embedding tables   N(0, item_id_embeddings_init_std) for the item table, N(0,
 *                      other_embeddings_init_std) else; the pad token's row 0 (padding_idx)
 *   merge, head, untied output layer, the input stage's linear layers   nn.Linear's:
 *                      U(+-1/sqrt(fan_in)), bias too; soft one-hot tables N(0, other_embeddings_init_std)
 *   tied output bias   0;  [MASK]   N(0, 0.001)
 *   transformers       N(0, initializer_range) weights and positions, biases 0, LayerNorms 1 / 0;
 *                      GPT-2's projections into the residual N(0, range / sqrt(2 n_layer))
 *   recurrent          torch.nn.GRU/LSTM/RNN's U(+-1/sqrt(d_model))
 * --rtd with a separate generator (session_rtd.c): all of the above but the features' own
 * parameters is the generator's, rk_session_width wide (its MLPs stay 4 d_model); the
 * discriminator's head, merge and body at d_model come last.
 * Not the graph over them (session_graph.c).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "session_internal.h"

bool rk_session_is_recurrent(rk_session_model_kind k) {
  return k == RK_SESSION_GRU || k == RK_SESSION_LSTM || k == RK_SESSION_RNN;
}

/* What a parameter's initial values are, until the arena has memory. */
typedef enum { INIT_NORMAL, INIT_UNIFORM, INIT_ONES, INIT_ZEROS, INIT_BLOCK } init_kind;
typedef struct {
  rk_param *p;
  init_kind kind;
  float scale;              /* normal: the std; uniform: the limit */
  int64_t zero_row;         /* a table's padding row, or -1 */
  rk_transformer_block *block;   /* INIT_BLOCK: its 12 parameters from here */
  double proj_std;
} init_rule;

typedef struct {
  rk_session_params *p;
  const rk_session_config *c;
  init_rule *rules;
  int n_rules;
} declarer;

static rk_status declare(declarer *d, rk_param *p, const char *name, int ndim, int64_t d0, int64_t d1, init_kind kind,
                         float scale) {
  int64_t shape[2] = {d0, d1};
  RK_TRY(rk_param_arena_add(d->p->arena, p, name, ndim, shape));
  d->rules[d->n_rules++] = (init_rule){.p = p, .kind = kind, .scale = scale, .zero_row = -1};
  d->p->list[d->p->n++] = p;
  return RK_OK;
}

/* "<a><b><c>" into a parameter name, refused when it would not fit. */
static rk_status param_name(char *name, const char *a, const char *b, const char *c) {
  if (snprintf(name, sizeof ((rk_param *)0)->name, "%s%s%s", a, b, c) >= (int)sizeof ((rk_param *)0)->name)
    return rk_error(RK_EUSAGE, "the feature name '%s' is too long for a parameter name (at most %d bytes with its "
                    "prefix)", b, (int)sizeof ((rk_param *)0)->name - 1);
  return RK_OK;
}

/* A table's width: the item's is --item_embedding_dim when given; any table's is
 * --embedding_dim_default when given; else the item's is d_model when tied to the output
 * (recsys_meta_model keeps the SIGIR paper's item width = d_model that way); else the
 * cardinality rule. */
static int64_t table_dim(const rk_session_feature *x, const rk_session_config *c) {
  if (x->is_item && c->item_embedding_dim > 0) return c->item_embedding_dim;
  if (c->embedding_dim_default > 0) return c->embedding_dim_default;
  if (x->is_item && c->mf_constrained_embeddings) return c->d_model;
  double d = ceil(pow((double)x->cardinality, 0.25) * c->embedding_dim_from_cardinality_multiplier);
  return d < 1 ? 1 : d > (double)(1 << 16) ? (1 << 16) : (int64_t)d;
}

/* The features' tables, one per distinct table name (the first feature naming it sets it up). */
static rk_status declare_tables(declarer *d, const rk_session_features *f) {
  rk_session_params *p = d->p;
  const rk_session_config *c = d->c;
  for (int i = 0; i < f->n; i++) {
    const rk_session_feature *x = &f->features[i];
    p->feature_table[i] = -1;
    if (!x->categorical || x->is_past) continue;
    for (int t = 0; t < i && p->feature_table[i] < 0; t++)
      if (f->features[t].categorical && strcmp(f->features[t].table, x->table) == 0) p->feature_table[i] = p->feature_table[t];
    if (p->feature_table[i] >= 0) continue;
    /* The item's table is the item feature's, whichever feature names it first. */
    bool item_table = strcmp(x->table, f->features[f->item].table) == 0;
    const rk_session_feature *owner = item_table ? &f->features[f->item] : x;
    if (c->pad_token >= owner->cardinality)
      return rk_error(RK_EUSAGE, "invalid value '%d' for --pad_token: the table '%s' has %lld rows", c->pad_token,
                      owner->table, (long long)owner->cardinality);
    int t = p->feature_table[i] = p->n_tables++;
    char name[sizeof p->tables[t].name];
    RK_TRY(param_name(name, "embedding_tables.", owner->table, ".weight"));
    RK_TRY(declare(d, &p->tables[t], name, 2, owner->cardinality, table_dim(owner, c), INIT_NORMAL,
                   item_table ? c->item_id_embeddings_init_std : c->other_embeddings_init_std));
    d->rules[d->n_rules - 1].zero_row = c->pad_token;
  }
  return RK_OK;
}

/* Continuous feature i: the scalar projected to a vector, or soft one-hot encoded
 * (recsys_meta_model's numeric_to_embedding_layers and SoftEmbedding), or with the others
 * through one layer (Transformers4Rec's continuous_projection: width 0 but for the first): its
 * width. */
static rk_status declare_continuous(declarer *d, const rk_session_features *f, int i, int64_t *width) {
  const rk_session_feature *x = &f->features[i];
  rk_session_params *p = d->p;
  const rk_session_config *c = d->c;
  const int64_t P = c->numeric_features_project_to_embedding_dim, bins = c->numeric_features_soft_one_hot_encoding_num_embeddings;
  const bool elementwise = c->input_features_aggregation == RK_SESSION_AGG_ELEMENTWISE;
  char name[sizeof p->tables[0].name];
  *width = 1;
  if (c->continuous_projection > 0) {   /* one layer for them all, at the first one's place */
    *width = 0;
    if (i != rk_session_first_continuous(f)) return RK_OK;
    int64_t n = 0;
    for (int k = 0; k < f->n; k++) n += !f->features[k].categorical && !f->features[k].is_past;
    const float lim = (float)(1.0 / sqrt((double)n));
    *width = c->continuous_projection;
    RK_TRY(declare(d, &p->scalar_proj[2 * i], "continuous_projection.weight", 2, *width, n, INIT_UNIFORM, lim));
    return declare(d, &p->scalar_proj[2 * i + 1], "continuous_projection.bias", 1, *width, 0, INIT_UNIFORM, lim);
  }
  if (P == 0) return RK_OK;
  if (bins > 0) {
    RK_TRY(param_name(name, "numeric_soft_embeddings.", x->name, ".projection.weight"));
    RK_TRY(declare(d, &p->scalar_proj[2 * i], name, 2, bins, 1, INIT_UNIFORM, 1.0f));
    RK_TRY(param_name(name, "numeric_soft_embeddings.", x->name, ".projection.bias"));
    RK_TRY(declare(d, &p->scalar_proj[2 * i + 1], name, 1, bins, 0, INIT_UNIFORM, 1.0f));
    RK_TRY(param_name(name, "numeric_soft_embeddings.", x->name, ".table.weight"));
    *width = P;
    return declare(d, &p->soft_tables[i], name, 2, bins, P, INIT_NORMAL, c->other_embeddings_init_std);
  }
  *width = elementwise ? p->item_dim : P;   /* projected straight to the item's width */
  RK_TRY(param_name(name, "numeric_to_embedding_layers.", x->name, ".weight"));
  RK_TRY(declare(d, &p->scalar_proj[2 * i], name, 2, *width, 1, INIT_UNIFORM, 1.0f));
  RK_TRY(param_name(name, "numeric_to_embedding_layers.", x->name, ".bias"));
  return declare(d, &p->scalar_proj[2 * i + 1], name, 1, *width, 0, INIT_UNIFORM, 1.0f);
}

/* Elementwise aggregation: feature i's embedding (width W) to the item's width, nn.Linear's. */
static rk_status declare_to_item(declarer *d, const rk_session_feature *x, int i, int64_t *width) {
  rk_session_params *p = d->p;
  char name[sizeof p->tables[0].name];
  const float lim = (float)(1.0 / sqrt((double)*width));
  RK_TRY(param_name(name, "to_item_dim.", x->name, ".weight"));
  RK_TRY(declare(d, &p->to_item[2 * i], name, 2, p->item_dim, *width, INIT_UNIFORM, lim));
  RK_TRY(param_name(name, "to_item_dim.", x->name, ".bias"));
  RK_TRY(declare(d, &p->to_item[2 * i + 1], name, 1, p->item_dim, 0, INIT_UNIFORM, lim));
  *width = p->item_dim;
  return RK_OK;
}

/* The input stage's parameters, feature by feature (session_inputs.c builds the graph over
 * them); a past sessions' column has none: it reads through its feature's. */
static rk_status declare_inputs(declarer *d, const rk_session_features *f) {
  rk_session_params *p = d->p;
  const rk_session_config *c = d->c;
  int past = 0;
  for (int i = 0; i < f->n; i++) past += f->features[i].is_past;
  if (c->session_aware && past == 0)
    return rk_error(RK_EUSAGE, "--session_aware: no feature has a past sessions' column (--session_aware_features_prefix "
                    "+ its name)");
  if (!c->session_aware && past > 0)
    return rk_error(RK_EUSAGE, "the features pair past sessions' columns, but --session_aware is off");
  RK_TRY(declare_tables(d, f));
  p->item_dim = p->tables[p->feature_table[f->item]].value.shape[1];
  const bool elementwise = c->input_features_aggregation == RK_SESSION_AGG_ELEMENTWISE;
  p->merged_width = 0;
  for (int i = 0; i < f->n; i++) {
    const rk_session_feature *x = &f->features[i];
    int64_t W = 1;
    if (x->is_past) continue;
    if (x->categorical) {
      W = p->tables[p->feature_table[i]].value.shape[1];
      if (elementwise && i != f->item) RK_TRY(declare_to_item(d, x, i, &W));
    } else {
      RK_TRY(declare_continuous(d, f, i, &W));
      if (elementwise && c->numeric_features_soft_one_hot_encoding_num_embeddings > 0) RK_TRY(declare_to_item(d, x, i, &W));
    }
    p->merged_width += W;
    if (!c->layer_norm_featurewise || W == 0) continue;
    char name[sizeof p->tables[0].name];
    RK_TRY(param_name(name, "layernorm_features.", x->name, ".weight"));
    RK_TRY(declare(d, &p->feature_ln[2 * i], name, 1, W, 0, INIT_ONES, 0));
    RK_TRY(param_name(name, "layernorm_features.", x->name, ".bias"));
    RK_TRY(declare(d, &p->feature_ln[2 * i + 1], name, 1, W, 0, INIT_ZEROS, 0));
  }
  if (elementwise) p->merged_width = p->item_dim;
  const int64_t W = p->merged_width, D = p->width;
  if (c->inp_merge == RK_SESSION_MERGE_IDENTITY) {
    if (W != D)
      return rk_error(RK_EUSAGE, "--inp_merge identity needs the features' width (%lld) to equal --d_model %lld",
                      (long long)W, (long long)D);
  } else {
    if (c->layer_norm_all_features) {
      RK_TRY(declare(d, &p->all_ln_gamma, "layer_norm_all_input.weight", 1, W, 0, INIT_ONES, 0));
      RK_TRY(declare(d, &p->all_ln_beta, "layer_norm_all_input.bias", 1, W, 0, INIT_ZEROS, 0));
    }
    float lim = (float)(1.0 / sqrt((double)W));
    RK_TRY(declare(d, &p->merge_w, "mlp_merge.weight", 2, D, W, INIT_UNIFORM, lim));
    RK_TRY(declare(d, &p->merge_b, "mlp_merge.bias", 1, D, 0, INIT_UNIFORM, lim));
  }
  return declare(d, &p->mask, "masked_item_embedding", 1, D, 0, INIT_NORMAL, 0.001f);
}

static rk_status declare_block(declarer *d, rk_transformer_block *blk, const char *prefix,
                               const rk_transformer_config *shape, double proj_std) {
  int first = d->p->n;
  RK_TRY(rk_transformer_block_declare(blk, d->p->arena, prefix, shape));
  rk_param *ps[RK_TRANSFORMER_BLOCK_PARAMS] = {&blk->ln1_gamma, &blk->ln1_beta, &blk->qkv_weight, &blk->qkv_bias,
                                               &blk->proj_weight, &blk->proj_bias, &blk->ln2_gamma, &blk->ln2_beta,
                                               &blk->fc_weight, &blk->fc_bias, &blk->out_weight, &blk->out_bias};
  for (int k = 0; k < RK_TRANSFORMER_BLOCK_PARAMS; k++) d->p->list[d->p->n++] = ps[k];
  d->rules[d->n_rules++] = (init_rule){.p = d->p->list[first], .kind = INIT_BLOCK, .zero_row = -1, .block = blk,
                                       .proj_std = proj_std};
  return RK_OK;
}

/* xlnet (Hugging Face's XLNetModel: layer.<l>.rel_attn, .ff; q, k, v fused into qkv) and transfoxl
 * (TransfoXLModel: layers.<l>.dec_attn, .pos_ff): weights and the r biases N(0, initializer_range),
 * biases 0, LayerNorms 1 / 0, as XLNet's _init_weights (Transformer-XL's draws its LayerNorm
 * weights around 1; reckon starts them at 1). No segment parameters: one segment per session. */
static rk_status declare_relative(declarer *d) {
  rk_session_params *p = d->p;
  const rk_session_config *c = d->c;
  const int64_t D = c->d_model, F = 4 * D;
  const float range = c->initializer_range;
  bool xl = c->model_type == RK_SESSION_XLNET;
  static const char *const xlnet[RK_REL_TRANSFORMER_BLOCK_PARAMS] = {
      "rel_attn.qkv.weight", "rel_attn.r.weight", "rel_attn.r_w_bias", "rel_attn.r_r_bias", "rel_attn.o.weight",
      "rel_attn.layer_norm.weight", "rel_attn.layer_norm.bias", "ff.layer_1.weight", "ff.layer_1.bias",
      "ff.layer_2.weight", "ff.layer_2.bias", "ff.layer_norm.weight", "ff.layer_norm.bias"};
  static const char *const transfoxl[RK_REL_TRANSFORMER_BLOCK_PARAMS] = {
      "dec_attn.qkv_net.weight", "dec_attn.r_net.weight", "dec_attn.r_w_bias", "dec_attn.r_r_bias",
      "dec_attn.o_net.weight", "dec_attn.layer_norm.weight", "dec_attn.layer_norm.bias", "pos_ff.CoreNet.0.weight",
      "pos_ff.CoreNet.0.bias", "pos_ff.CoreNet.3.weight", "pos_ff.CoreNet.3.bias", "pos_ff.layer_norm.weight",
      "pos_ff.layer_norm.bias"};
  const int64_t shapes[RK_REL_TRANSFORMER_BLOCK_PARAMS][2] = {{3 * D, D}, {D, D}, {D, 0}, {D, 0}, {D, D}, {D, 0}, {D, 0},
                                                              {F, D},     {F, 0}, {D, F}, {D, 0}, {D, 0}, {D, 0}};
  const init_kind kinds[RK_REL_TRANSFORMER_BLOCK_PARAMS] = {INIT_NORMAL, INIT_NORMAL, INIT_NORMAL, INIT_NORMAL, INIT_NORMAL,
                                                           INIT_ONES,   INIT_ZEROS,  INIT_NORMAL, INIT_ZEROS,  INIT_NORMAL,
                                                           INIT_ZEROS,  INIT_ONES,   INIT_ZEROS};
  for (int l = 0; l < c->n_layer; l++) {
    rk_param *ps[RK_REL_TRANSFORMER_BLOCK_PARAMS];
    rk_rel_transformer_block_params(&p->rel_blocks[l], ps);
    for (int k = 0; k < RK_REL_TRANSFORMER_BLOCK_PARAMS; k++) {
      char name[sizeof ps[k]->name];
      snprintf(name, sizeof name, xl ? "layer.%d.%s" : "layers.%d.%s", l, xl ? xlnet[k] : transfoxl[k]);
      RK_TRY(declare(d, ps[k], name, shapes[k][1] ? 2 : 1, shapes[k][0], shapes[k][1], kinds[k], range));
    }
  }
  if (c->plm) RK_TRY(declare(d, &p->mask_emb, "mask_emb", 1, D, 0, INIT_NORMAL, range));
  return RK_OK;
}

static rk_status declare_body(declarer *d) {
  rk_session_params *p = d->p;
  const rk_session_config *c = d->c;
  const int64_t D = p->width, T = rk_session_config_positions(c);
  const float range = c->initializer_range;
  char prefix[48];
  if (rk_session_is_relative(c->model_type)) return declare_relative(d);
  if (c->model_type == RK_SESSION_GPT2) {
    RK_TRY(declare(d, &p->positions, "wpe.weight", 2, T, D, INIT_NORMAL, range));
    for (int l = 0; l < p->n_blocks; l++) {
      snprintf(prefix, sizeof prefix, "h.%d", l);
      RK_TRY(declare_block(d, &p->blocks[l], prefix, &p->block, range / sqrt(2.0 * c->n_layer)));
    }
    RK_TRY(declare(d, &p->ln_f_gamma, "ln_f.weight", 1, D, 0, INIT_ONES, 0));
    return declare(d, &p->ln_f_beta, "ln_f.bias", 1, D, 0, INIT_ZEROS, 0);
  }
  if (c->model_type == RK_SESSION_BERT || c->model_type == RK_SESSION_ALBERT || c->model_type == RK_SESSION_ELECTRA) {
    RK_TRY(declare(d, &p->positions, "embeddings.position_embeddings.weight", 2, T, D, INIT_NORMAL, range));
    RK_TRY(declare(d, &p->emb_ln_gamma, "embeddings.LayerNorm.weight", 1, D, 0, INIT_ONES, 0));
    RK_TRY(declare(d, &p->emb_ln_beta, "embeddings.LayerNorm.bias", 1, D, 0, INIT_ZEROS, 0));
    if (c->model_type == RK_SESSION_ALBERT) {
      RK_TRY(declare(d, &p->map_w, "encoder.embedding_hidden_mapping_in.weight", 2, D, D, INIT_NORMAL, range));
      RK_TRY(declare(d, &p->map_b, "encoder.embedding_hidden_mapping_in.bias", 1, D, 0, INIT_ZEROS, 0));
    }
    for (int l = 0; l < p->n_blocks; l++) {
      snprintf(prefix, sizeof prefix, c->model_type == RK_SESSION_ALBERT ? "encoder.albert_layer_groups.%d" : "encoder.layer.%d", l);
      RK_TRY(declare_block(d, &p->blocks[l], prefix, &p->block, range));
    }
    return RK_OK;
  }
  if (rk_session_is_recurrent(c->model_type)) {
    const int64_t G = c->model_type == RK_SESSION_GRU ? 3 : c->model_type == RK_SESSION_LSTM ? 4 : 1;
    const float lim = (float)(1.0 / sqrt((double)D));
    static const char *const names[4] = {"rnn.weight_ih_l%d", "rnn.weight_hh_l%d", "rnn.bias_ih_l%d", "rnn.bias_hh_l%d"};
    for (int l = 0; l < c->n_layer; l++)
      for (int k = 0; k < 4; k++) {
        char name[32];
        snprintf(name, sizeof name, names[k], l);
        RK_TRY(declare(d, &p->rnn[4 * l + k], name, k < 2 ? 2 : 1, G * D, D, INIT_UNIFORM, lim));
      }
  }
  return RK_OK;   /* avgseq has no parameters of its own */
}

static rk_status declare_head(declarer *d, const rk_session_features *f) {
  rk_session_params *p = d->p;
  const rk_session_config *c = d->c;
  const rk_param *items = &p->tables[p->feature_table[f->item]];
  p->n_items = items->value.shape[0];
  p->item_dim = items->value.shape[1];
  const float lim = (float)(1.0 / sqrt((double)p->width));
  RK_TRY(declare(d, &p->head_w, "output_layer.weight", 2, p->item_dim, p->width, INIT_UNIFORM, lim));
  RK_TRY(declare(d, &p->head_b, "output_layer.bias", 1, p->item_dim, 0, INIT_UNIFORM, lim));
  if (c->mf_constrained_embeddings) return declare(d, &p->out_b, "output_layer_bias", 1, p->n_items, 0, INIT_ZEROS, 0);
  const float out_lim = (float)(1.0 / sqrt((double)p->item_dim));
  RK_TRY(declare(d, &p->out_w, "output_layer_items.weight", 2, p->n_items, p->item_dim, INIT_UNIFORM, out_lim));
  return declare(d, &p->out_b, "output_layer_items.bias", 1, p->n_items, 0, INIT_UNIFORM, out_lim);
}

/* --rtd with a separate generator: the discriminator's own merge (recsys_meta_model's merge_disc,
 * a ProjectionNetwork to d_model) and ELECTRA body (the generator's shape at d_model: positions,
 * the embeddings' LayerNorm, n_layer BERT blocks), initialised as the generator's. */
static rk_status declare_separate_discriminator(declarer *d) {
  rk_session_params *p = d->p;
  const rk_session_config *c = d->c;
  const int64_t D = c->d_model, W = p->merged_width, T = rk_session_config_positions(c);
  const float range = c->initializer_range, lim = (float)(1.0 / sqrt((double)W));
  if (c->layer_norm_all_features) {
    RK_TRY(declare(d, &p->disc_ln_gamma, "merge_disc.layer_norm_all_input.weight", 1, W, 0, INIT_ONES, 0));
    RK_TRY(declare(d, &p->disc_ln_beta, "merge_disc.layer_norm_all_input.bias", 1, W, 0, INIT_ZEROS, 0));
  }
  RK_TRY(declare(d, &p->disc_merge_w, "merge_disc.weight", 2, D, W, INIT_UNIFORM, lim));
  RK_TRY(declare(d, &p->disc_merge_b, "merge_disc.bias", 1, D, 0, INIT_UNIFORM, lim));
  RK_TRY(declare(d, &p->disc_positions, "discriminator.embeddings.position_embeddings.weight", 2, T, D, INIT_NORMAL,
                 range));
  RK_TRY(declare(d, &p->disc_emb_ln_gamma, "discriminator.embeddings.LayerNorm.weight", 1, D, 0, INIT_ONES, 0));
  RK_TRY(declare(d, &p->disc_emb_ln_beta, "discriminator.embeddings.LayerNorm.bias", 1, D, 0, INIT_ZEROS, 0));
  for (int l = 0; l < c->n_layer; l++) {
    char prefix[48];
    snprintf(prefix, sizeof prefix, "discriminator.encoder.layer.%d", l);
    RK_TRY(declare_block(d, &p->disc_blocks[l], prefix, &p->disc_block, range));
  }
  return RK_OK;
}

/* --rtd: the discriminator's head, recsys_meta_model's dense_discriminator (d_model -> d_model,
 * then tf_out_activation) and discriminator_prediction (d_model -> 1), torch.nn.Linear's
 * initialisation; then, with a separate generator, the discriminator's merge and body. Declared
 * last, so a model without them draws the same other parameters. */
static rk_status declare_discriminator(declarer *d) {
  rk_session_params *p = d->p;
  const int64_t D = d->c->d_model;
  const float lim = (float)(1.0 / sqrt((double)D));
  RK_TRY(declare(d, &p->disc_dense_w, "dense_discriminator.weight", 2, D, D, INIT_UNIFORM, lim));
  RK_TRY(declare(d, &p->disc_dense_b, "dense_discriminator.bias", 1, D, 0, INIT_UNIFORM, lim));
  RK_TRY(declare(d, &p->disc_pred_w, "discriminator_prediction.weight", 2, 1, D, INIT_UNIFORM, lim));
  RK_TRY(declare(d, &p->disc_pred_b, "discriminator_prediction.bias", 1, 1, 0, INIT_UNIFORM, lim));
  return rk_session_rtd_separate(d->c) ? declare_separate_discriminator(d) : RK_OK;
}

static void run_rule(const init_rule *r, uint64_t seed, uint64_t stream) {
  rk_param *p = r->p;
  float *w = p->value.data;
  int64_t n = rk_tensor_numel(&p->value);
  switch (r->kind) {
    case INIT_NORMAL: rk_param_fill_normal(p, seed, stream, r->scale); break;
    case INIT_UNIFORM: rk_param_fill_uniform(p, seed, stream, -r->scale, r->scale); break;
    case INIT_ONES: for (int64_t i = 0; i < n; i++) w[i] = 1.0f; break;
    case INIT_ZEROS: memset(w, 0, (size_t)n * sizeof *w); break;
    case INIT_BLOCK: break;   /* run_rules: the block's own initialiser */
  }
  if (r->zero_row >= 0) memset(w + r->zero_row * p->value.shape[1], 0, (size_t)p->value.shape[1] * sizeof *w);
}

static rk_status run_rules(const declarer *d) {
  for (int i = 0; i < d->n_rules; i++) {
    const init_rule *r = &d->rules[i];
    int stream = 0;
    while (d->p->list[stream] != r->p) stream++;
    if (r->kind == INIT_BLOCK)
      RK_TRY(rk_transformer_block_init(r->block, d->c->seed, (uint64_t)stream, d->c->initializer_range, r->proj_std));
    else
      run_rule(r, d->c->seed, (uint64_t)stream);
  }
  return RK_OK;
}

/* Hugging Face's rule on the reference's names: bias, LayerNorm.weight. The blocks are named
 * GPT-2's way (ln_1, ln_2: decayed there too); BERT names both of its LayerNorms LayerNorm and
 * ALBERT only the attention's (its full_layer_layer_norm is decayed). */
static void mark_no_decay(rk_session_params *p, const rk_session_config *c) {
  rk_optim_mark_no_decay(p->list, p->n);
  if (c->model_type != RK_SESSION_BERT && c->model_type != RK_SESSION_ALBERT && c->model_type != RK_SESSION_ELECTRA) return;
  for (int l = 0; l < p->n_blocks; l++) {
    p->blocks[l].ln1_gamma.no_decay = true;
    if (c->model_type != RK_SESSION_ALBERT) p->blocks[l].ln2_gamma.no_decay = true;
  }
  for (int l = 0; rk_session_rtd_separate(c) && l < c->n_layer; l++)
    p->disc_blocks[l].ln1_gamma.no_decay = p->disc_blocks[l].ln2_gamma.no_decay = true;
}

static int count_blocks(const rk_session_config *c) {
  if (!rk_session_is_transformer(c->model_type)) return 0;
  if (c->model_type == RK_SESSION_ALBERT) return c->num_hidden_groups < 0 ? c->n_layer : c->num_hidden_groups;
  return c->n_layer;
}

rk_status rk_session_params_create(rk_session_params *p, const rk_session_features *f, const rk_session_config *c) {
  memset(p, 0, sizeof *p);
  RK_TRY(rk_session_config_check(c));
  if (f->item < 0 || f->item >= f->n || !f->features[f->item].categorical)
    return rk_error(RK_EUSAGE, "a session model needs a categorical item id feature");
  p->n_blocks = count_blocks(c);
  p->width = rk_session_width(c);
  /* A separate generator keeps the discriminator's MLP width (recsys_models.py scales only
   * hidden_size), so d_ff is 4 d_model whatever the width. */
  p->block = (rk_transformer_config){.d_model = p->width, .d_ff = 4 * c->d_model, .heads = c->n_head,
                                     .dropout = c->dropout,
                                     .attn_dropout = c->dropout, .ln_eps = c->layer_norm_eps,
                                     .gelu_tanh = c->hidden_act == RK_SESSION_GELU_NEW,
                                     .causal = c->model_type == RK_SESSION_GPT2};
  p->disc_block = p->block;
  p->disc_block.d_model = c->d_model;
  /* At most: per feature a table, 2 LayerNorm parameters and 5 of the input stage's, the
   * blocks', 4 per recurrent layer or a relative layer's, a dozen single ones and the
   * discriminator's 4, and a separate generator's discriminator: 7 and its blocks. */
  int most = 8 * f->n + RK_TRANSFORMER_BLOCK_PARAMS * p->n_blocks +
             (RK_REL_TRANSFORMER_BLOCK_PARAMS + 4 + RK_TRANSFORMER_BLOCK_PARAMS) * c->n_layer + 27;
  /* xlnet: HF's XLNet config (d_inner 4 d_model, ff_activation); transfoxl: its dropatt 0, ReLU. */
  bool xl = c->model_type == RK_SESSION_XLNET;
  p->rel = (rk_rel_transformer_config){.d_model = c->d_model, .heads = c->n_head, .dropout = c->dropout,
                                       .attn_dropout = xl ? c->dropout : 0.0f, .ln_eps = c->layer_norm_eps,
                                       .act = !xl ? RK_REL_ACT_RELU
                                              : c->hidden_act == RK_SESSION_GELU_NEW ? RK_REL_ACT_GELU_TANH : RK_REL_ACT_GELU,
                                       .causal = !xl || (!c->mlm && !c->plm),
                                       .mem = xl ? 0 : c->mem_len};
  declarer d = {.p = p, .c = c};
  p->tables = rk_calloc((size_t)f->n + 1, sizeof *p->tables);
  p->feature_table = rk_calloc((size_t)f->n + 1, sizeof *p->feature_table);
  p->feature_ln = rk_calloc(2 * (size_t)f->n + 1, sizeof *p->feature_ln);
  p->scalar_proj = rk_calloc(2 * (size_t)f->n + 1, sizeof *p->scalar_proj);
  p->soft_tables = rk_calloc((size_t)f->n + 1, sizeof *p->soft_tables);
  p->to_item = rk_calloc(2 * (size_t)f->n + 1, sizeof *p->to_item);
  p->blocks = rk_calloc((size_t)p->n_blocks + 1, sizeof *p->blocks);
  p->rnn = rk_calloc(4 * (size_t)c->n_layer + 1, sizeof *p->rnn);
  p->rel_blocks = rk_calloc((size_t)c->n_layer + 1, sizeof *p->rel_blocks);
  p->disc_blocks = rk_calloc(rk_session_rtd_separate(c) ? (size_t)c->n_layer : 1, sizeof *p->disc_blocks);
  p->list = rk_calloc((size_t)most, sizeof *p->list);
  d.rules = rk_calloc((size_t)most, sizeof *d.rules);
  bool inputs = p->scalar_proj && p->soft_tables && p->to_item;
  bool bodies = p->blocks && p->rnn && p->rel_blocks && p->disc_blocks;
  rk_status st = p->tables && p->feature_table && p->feature_ln && inputs && bodies && p->list && d.rules ? RK_OK : RK_ENOMEM;
  if (st == RK_OK) st = rk_param_arena_create(&p->arena);
  if (st == RK_OK) st = declare_inputs(&d, f);
  if (st == RK_OK) st = declare_body(&d);
  if (st == RK_OK) st = declare_head(&d, f);
  if (st == RK_OK && c->rtd) st = declare_discriminator(&d);
  if (st == RK_OK) st = rk_param_arena_alloc(p->arena);
  if (st == RK_OK) st = run_rules(&d);
  if (st == RK_OK) mark_no_decay(p, c);
  rk_free(d.rules);
  if (st != RK_OK) rk_session_params_free(p);
  return st;
}

void rk_session_params_free(rk_session_params *p) {
  for (int i = 0; p->list && i < p->n; i++) rk_param_free(p->list[i]);
  rk_param_arena_free(p->arena);
  rk_free(p->tables);
  rk_free(p->feature_table);
  rk_free(p->feature_ln);
  rk_free(p->scalar_proj);
  rk_free(p->soft_tables);
  rk_free(p->to_item);
  rk_free(p->blocks);
  rk_free(p->rnn);
  rk_free(p->rel_blocks);
  rk_free(p->disc_blocks);
  rk_free(p->list);
  memset(p, 0, sizeof *p);
}

rk_param *rk_session_item_table(const rk_session_params *p, const rk_session_features *f) {
  return &p->tables[p->feature_table[f->item]];
}

rk_param *rk_session_scoring_matrix(const rk_session_params *p, const rk_session_features *f,
                                    const rk_session_config *c) {
  return c->mf_constrained_embeddings ? rk_session_item_table(p, f) : (rk_param *)&p->out_w;
}
