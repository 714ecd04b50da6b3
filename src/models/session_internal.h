/*
 * Private to src/models/: what the session family's files share (reckon/sessions.h is the
 * public interface):
 *   session_settings.c  RK_SESSION_SETTINGS: defaults, checks, model.json's "model"
 *   session_features.c  the columns a model reads, from --feature_config or a Merlin schema
 *   session_params.c    the parameters: declared in one arena, named as the reference's modules,
 *                       drawn from (seed, parameter number), the no-decay marks
 *   session_inputs.c    the graph's input stage: per-feature transforms, aggregation, merge
 *   session_graph.c     a graph over the parameters: inputs, [MASK], body, head, loss
 *   session_sampling.c  losses over candidate items: sampled softmax, negative sampling
 *   session_rtd.c       replacement token detection (ELECTRA): the discriminator's pass and loss
 *   session_masking.c   per session, which rows hold [MASK], which predict what, which are read
 *   session_feed.c      batches of list columns into a graph's inputs, by phase
 *   session_model.c     build, share, free and the family's table of the model interface
 */
#ifndef RECKON_MODELS_SESSION_INTERNAL_H
#define RECKON_MODELS_SESSION_INTERNAL_H

#include "reckon/sessions.h"

bool rk_session_is_transformer(rk_session_model_kind k);
bool rk_session_is_recurrent(rk_session_model_kind k);
/* xlnet and transfoxl: relative positions (src/nn/blocks/rel_transformer.c). */
bool rk_session_is_relative(rk_session_model_kind k);

/* Features: a deep copy, and model.json's "features" array both ways. */
rk_status rk_session_features_copy(rk_session_features *dst, const rk_session_features *src);
json_t *rk_session_features_to_json(const rk_session_features *f);
rk_status rk_session_features_from_json(rk_session_features *out, const json_t *j, const char *label);

/* The parameters of one model (the owner's; shares point at them). */
typedef struct {
  rk_param_arena *arena;
  int n_tables;
  rk_param *tables;            /* (n_tables): (V, D) each, dense (PyTorch's nn.Embedding) */
  int *feature_table;          /* per feature: its table, or -1 (continuous) */
  rk_param *feature_ln;        /* per feature: gamma, beta (layer_norm_featurewise) */
  /* the input stage (session_inputs.c), per feature; a past sessions' column has none */
  rk_param *scalar_proj;       /* continuous, projected: w (W, 1), b (W); soft one-hot: to the bins;
                                  continuous_projection: (W, continuous features) at the first's */
  rk_param *soft_tables;       /* soft one-hot: (bins, numeric_features_project_to_embedding_dim) */
  rk_param *to_item;           /* elementwise aggregation: w (item_dim, W), b (item_dim) */
  int64_t merged_width;        /* the aggregated features' width */
  rk_param all_ln_gamma, all_ln_beta;   /* (merged_width): layer_norm_all_features */
  rk_param merge_w, merge_b;   /* (d_model, width), (d_model): inp_merge mlp */
  rk_param mask;               /* (d_model): the [MASK] vector */
  rk_param positions;          /* (T, d_model): transformers */
  rk_param emb_ln_gamma, emb_ln_beta;    /* bert, albert: the embeddings' LayerNorm */
  rk_param map_w, map_b;       /* albert: embedding_hidden_mapping_in */
  rk_transformer_config block; /* transformers: their blocks' shape */
  int n_blocks;                /* distinct blocks (albert: its groups) */
  rk_transformer_block *blocks;
  rk_rel_transformer_config rel;   /* xlnet, transfoxl: their layers' shape */
  rk_rel_transformer_block *rel_blocks;   /* (n_layer) */
  rk_param mask_emb;           /* xlnet with the permutation LM: the query stream's input (D) */
  rk_param ln_f_gamma, ln_f_beta;   /* gpt2: the final LayerNorm */
  rk_param *rnn;               /* recurrent: 4 per layer, w_ih, w_hh, b_ih, b_hh */
  rk_param head_w, head_b;     /* (item_dim, d_model), (item_dim): the output head */
  rk_param out_w;              /* (V, item_dim): the output layer when not tied to the item table */
  rk_param out_b;              /* (V): the output bias, tied or not */
  rk_param disc_dense_w, disc_dense_b;   /* --rtd: (d_model, d_model), (d_model) */
  rk_param disc_pred_w, disc_pred_b;     /* --rtd: (1, d_model), (1) */
  /* --rtd with a separate generator (ELECTRA's; session_rtd.c): everything above but the input
   * stage's features is the generator's, `width` wide; the discriminator has its own merge and
   * body at d_model */
  int64_t width;               /* the model's hidden size: d_model, or the generator's */
  rk_param disc_ln_gamma, disc_ln_beta;  /* (merged_width): layer_norm_all_features */
  rk_param disc_merge_w, disc_merge_b;   /* (d_model, merged_width), (d_model) */
  rk_param disc_positions;               /* (T, d_model) */
  rk_param disc_emb_ln_gamma, disc_emb_ln_beta;
  rk_transformer_config disc_block;
  rk_transformer_block *disc_blocks;     /* (n_layer) */
  int64_t item_dim, n_items;
  rk_param **list;             /* every parameter, in declaration order */
  int n;
} rk_session_params;

rk_status rk_session_params_create(rk_session_params *p, const rk_session_features *f, const rk_session_config *c);
void rk_session_params_free(rk_session_params *p);
/* The item table, scored against when tied. */
rk_param *rk_session_item_table(const rk_session_params *p, const rk_session_features *f);
/* The scoring matrix: the item table (tied) or the output layer. */
rk_param *rk_session_scoring_matrix(const rk_session_params *p, const rk_session_features *f, const rk_session_config *c);

/* A graph's value handles. */
typedef struct {
  rk_graph *g;
  int64_t B, T, K;
  int *inputs;                 /* per feature: ids (B, T) or a float (B, T, 1) input; RK_NO_VALUE
                                  for a past sessions' column (its feature's input holds it) */
  int mask_rows;               /* int64 (B, T): 1 where the row holds [MASK] */
  int keys;                    /* int64 (B, T): 1 where the row is a real position (attention keys,
                                  recurrent steps), 0 for padding */
  int reads;                   /* int64 (B, K): positions read, -1 none */
  bool packed;                 /* the body runs on the real rows only (session_graph.c) */
  bool packed_inputs;          /* packed, and so is the input stage from its merge on (all but
                                  --rtd_use_batch_interaction, which reads the (B, T) rows) */
  int packed_rows;             /* packed: int64 (B T), the rows whose key is set, in order, then -1 */
  int packed_positions;        /* packed: int64 (B T), their positions t, then -1 */
  int packed_reads;            /* packed: int64 (B, K), the rows read as packed row numbers, -1 none */
  int64_t *packed_of;          /* packed: (B T) scratch, each row's packed row number or -1 */
  int labels;                  /* int64 (B, T): the target per row, pad_token none (train graphs) */
  int labelled;                /* int64 (B T): the rows with a label (packed row numbers when
                                  packed), then -1 (train graphs) */
  int packed_labels;           /* int64 (B T): their labels in that order, then pad_token */
  int labelled_sessions;       /* --negative_sampling train graphs: int64 (B T), their sessions in
                                  that order (the in-batch mask's), then -1 */
  int hidden;                  /* permutation LM: int64 (B, T T), 1 where query i may not see key j */
  int rtd_fake;                /* --rtd train graphs: int64 (B, T), the corrupted items (an output) */
  int merged;                  /* the input stage's rows, before [MASK]: (B, T, width), or the
                                  real rows (rows in use of B T) when packed_inputs */
  int n_layers;
  int *attention;              /* per layer (B, heads, T, T), or NULL */
  rk_session_outputs out;
} rk_session_graph;

/* The first continuous feature that is not a past column, or -1 (session_inputs.c). */
int rk_session_first_continuous(const rk_session_features *f);
/* The input stage (session_inputs.c): the feature inputs (sg->inputs) and *x (B, T, width), or
 * with sg->packed_inputs its real rows (gather_rows by sg->packed_rows, before the merge's
 * LayerNorm and linear layer).
 * item_ids RK_NO_VALUE: the inputs are made here; else a second pass over the inputs already
 * made, with item_ids (int64 (B, T)) in place of the item's (RTD's corrupted session), merged by
 * the discriminator's own merge to d_model when the generator is separate. */
rk_status rk_session_inputs_build(rk_session_graph *sg, int *x, const rk_session_params *p,
                                  const rk_session_features *f, const rk_session_config *c, int item_ids);
/* The body of xlnet and transfoxl (session_xlnet.c): x (B, T, d_model) through dropout, the
 * relative layers and dropout; with the permutation LM, the query stream's output. */
rk_status rk_session_relative_body(rk_session_graph *sg, const rk_session_params *p, const rk_session_config *c, int *x,
                                   bool attention_weights);

rk_status rk_session_graph_build(rk_session_graph *sg, const rk_session_params *p, const rk_session_features *f,
                                 const rk_session_config *c, int64_t batch, bool train, bool attention_weights);
void rk_session_graph_free(rk_session_graph *sg);
/* From the keys, reads and (train graphs) labels inputs: the packed rows, their positions and
 * reads (a packed body), and the labelled rows and their labels (the loss is computed at those
 * rows only). The feed calls it after filling them; RK_EINVAL when a read or a label falls on a
 * row without a key, which a packed body does not compute. */
rk_status rk_session_graph_pack(const rk_session_graph *sg, int64_t pad);

/* Losses over candidate items (session_sampling.c): whether the settings ask for one, their
 * checks, and the loss of a train graph from the body's labelled rows (packed by gather_rows),
 * their labels and (--negative_sampling) their sessions, both int64 (B T) in the rows' order. */
bool rk_session_sampled(const rk_session_config *c);
rk_status rk_session_check_sampling(const rk_session_config *c);
rk_status rk_session_build_sampled_loss(rk_graph *g, int *loss, int rows, int labels, int sessions,
                                        const rk_session_params *p, rk_param *w, const rk_session_config *c);

/* Replacement token detection (session_rtd.c): its checks; whether the generator is a separate,
 * smaller model, and the model's (the generator's) hidden size; and a train graph's joint loss
 * from the generator's masked LM loss and logits (packed at sg->labelled): the discriminator's
 * pass over the corrupted items through the input stage's features and the discriminator's merge
 * and body (tied: the generator's). */
rk_status rk_session_check_rtd(const rk_session_config *c);
bool rk_session_rtd_separate(const rk_session_config *c);
int64_t rk_session_width(const rk_session_config *c);
rk_status rk_session_build_rtd_loss(rk_session_graph *sg, int *loss, int mlm_loss, int logits, const rk_session_params *p,
                                    const rk_session_features *f, const rk_session_config *c);
/* --rtd train graphs: replace the draws with given (B, T) ids (tests; rk_graph_rtd_replace_fix). */
rk_status rk_session_rtd_fix_draws(const rk_session_graph *sg, const int64_t *given);
/* A body's first step (session_graph.c): when the graph is packed, x (B, T, width) (unless the
 * input stage packed it already) and a position table (T, width) gathered to the real rows and
 * their positions, in place; else nothing. Every packable body (the model's, a separate
 * discriminator's) starts with it. */
rk_status rk_session_body_pack(const rk_session_graph *sg, int *x, int *positions);
/* The body of the model over x (B, T, d_model), in place (session_graph.c). */
rk_status rk_session_body_build(rk_session_graph *sg, const rk_session_params *p, const rk_session_config *c, int *x,
                                bool attention_weights);

/* Masking of one session (session_masking.c), the rules of reckon/sessions.h's phases. */
typedef struct {
  bool mlm;                    /* the masked LM task, else causal LM */
  bool train_last_only;        /* train_on_last_item_seq_only (causal LM) */
  bool eval_last_only;         /* eval_on_last_item_seq_only */
  int64_t T, K, pad;
  double mlm_probability;
  bool plm, plm_permute_all, plm_mask_input;   /* the permutation LM (session_plm.c) */
  int64_t plm_max_span_length;
  double plm_probability;
} rk_session_mask_rule;

/* items (T): the session right-padded with pad, n of them real (the feed keeps T - 1 for a
 * masked LM prediction, which needs a free row). Fills mask (T) 0/1: rows holding [MASK];
 * keys (T) 0/1: real rows (and the row a masked LM prediction reads); labels (T): each row's
 * target, pad for none; reads and targets (K): the rows read and their targets (-1 and 0:
 * none). rng: the session's draws (masked LM training only; NULL otherwise). */
void rk_session_mask(const rk_session_mask_rule *r, rk_session_phase phase, const int64_t *items, int64_t n,
                     rk_rng *rng, int64_t *mask, int64_t *keys, int64_t *labels, int64_t *reads, int64_t *targets);
/* The permutation LM's masking of one session (session_plm.c): as rk_session_mask, and hidden
 * (T, T): 1 where row i may not see row j. */
void rk_session_plm_mask(const rk_session_mask_rule *r, rk_session_phase phase, const int64_t *items, int64_t n,
                         rk_rng *rng, int64_t *mask, int64_t *keys, int64_t *labels, int64_t *reads, int64_t *targets,
                         int64_t *hidden);
/* The stream of session b's masking draws at a step: (seed, step, b), apart from the
 * parameters' and dropout's streams. */
void rk_session_mask_rng(rk_rng *rng, uint64_t seed, uint64_t step, int64_t b);

/* The family's model. */
typedef struct rk_session_model {
  rk_session_config cfg;
  rk_session_features features;      /* owned by the owner; a share's points at the owner's */
  rk_session_params own;             /* the owner's parameters */
  const rk_session_params *params;   /* &own, or the owner's */
  bool owner;
  rk_session_graph sg;
  rk_model base;
} rk_session_model;

const rk_session_model *rk_session_of(const rk_model *m);

/* The feed's table entries (session_feed.c). */
rk_status rk_session_feed_init(rk_model_feed **out, const rk_model *m, const rk_schema *schema, int64_t negatives,
                               const rk_task_weights *tw, uint64_t seed);
int rk_session_feed_max_columns(const rk_model *m);
int rk_session_feed_columns(const rk_model_feed *f, bool with_targets, const char **names);
int64_t rk_session_feed_batch_rows(const rk_model_feed *f);
rk_status rk_session_feed_fill(rk_model_feed *f, const rk_batch *batch, uint64_t step);
const int64_t *rk_session_feed_sources(const rk_model_feed *f);
const rk_task_weights *rk_session_feed_weights(const rk_model_feed *f);
void rk_session_feed_free(rk_model_feed *f);

#endif /* RECKON_MODELS_SESSION_INTERNAL_H */
