/*
 * reckon/sessions.h: the session model family: next-item prediction over sessions, as
 * Transformers4Rec's research pipeline (recsys_main.py, recsys_meta_model.py; tag recsys2021)
 * and its current library (masking.py, NextItemPredictionTask) define it. A batch is B sessions x
 * T = session_seq_length_max positions; every session is a row of list columns (the item id and
 * its side features), right-padded with the pad token.
 *
 *   inputs   per categorical feature an embedding table (shared by name via emb_table), per
 *            continuous feature its scalar, a linear projection or a soft one-hot encoding;
 *            optional per-feature LayerNorm; past sessions before the session (session-aware);
 *            concatenated or multiplied into the item embedding; then inp_merge mlp:
 *            dropout(input_dropout) [-> LayerNorm] -> linear to d_model -> tf_out_activation
 *            (session_inputs.c)
 *   masking  the task's: causal LM (gpt2, gru, lstm, rnn, avgseq, transfoxl, xlnet), masked LM
 *            (albert, bert, electra, xlnet --mlm) or permutation LM (xlnet --plm), hidden rows
 *            replaced by a learnable [MASK] vector
 *   body     gpt2: learned positions + n_layer GPT-2 blocks + final LayerNorm; bert/electra/albert:
 *            learned positions + LayerNorm + n_layer BERT blocks (albert: a linear map first, and
 *            blocks shared by num_hidden_groups); xlnet/transfoxl: n_layer relative-position
 *            layers (xlnet --plm: two streams); gru/lstm/rnn: n_layer recurrent layers; avgseq:
 *            the mean of the session's rows so far
 *   head     h = tanh(linear(d_model -> item_dim)); item v's logit = (h . W_v + b_v) / T, W the item
 *            table (mf_constrained_embeddings) or an output layer of its own, with a bias either way
 *   loss     cross-entropy over the whole catalogue at the target rows (label smoothing), padding
 *            ignored; with --rtd (training), plus a discriminator's BCE on the corrupted session;
 *            the model above is then ELECTRA's generator, narrower than d_model unless
 *            --rtd_tied_generator (src/models/session_rtd.c)
 * docs/session_models.md has the details and where reckon differs from the reference.
 *
 * Callers see a built model through the model interface (reckon/model.h): share, checkpoints,
 * optimizers and model folders work as for the ranking family. What is the family's own is here:
 * its settings, its features, its feed's phases, and what a forward leaves for ranking.
 */
#ifndef RECKON_SESSIONS_H
#define RECKON_SESSIONS_H

#include <jansson.h>

#include "reckon/io.h"
#include "reckon/metrics.h"
#include "reckon/model.h"
#include "reckon/models.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The model types, X(kind, name): the enum and --model_type's choices come from this list.
 * longformer is recsys_args' choice that reckon leaves out: accepted by the flag, refused by the
 * checks, saying so. */
#define RK_SESSION_MODEL_LIST(X) \
  X(RK_SESSION_GPT2,      gpt2)  \
  X(RK_SESSION_ALBERT,    albert) \
  X(RK_SESSION_BERT,      bert)  \
  X(RK_SESSION_GRU,       gru)   \
  X(RK_SESSION_LSTM,      lstm)  \
  X(RK_SESSION_RNN,       rnn)   \
  X(RK_SESSION_AVGSEQ,    avgseq) \
  X(RK_SESSION_XLNET,     xlnet) \
  X(RK_SESSION_ELECTRA,   electra) \
  X(RK_SESSION_TRANSFOXL, transfoxl) \
  X(RK_SESSION_LONGFORMER, longformer)

#define RK_SESSION_MODEL_ENUM(kind, name) kind,
typedef enum { RK_SESSION_MODEL_LIST(RK_SESSION_MODEL_ENUM) RK_SESSION_MODEL_COUNT } rk_session_model_kind;
#undef RK_SESSION_MODEL_ENUM
#define RK_SESSION_MODEL_CHOICE(kind, name) "|" #name
#define RK_SESSION_MODEL_CHOICES (&(RK_SESSION_MODEL_LIST(RK_SESSION_MODEL_CHOICE))[1])   /* past the first "|" */

/* Choices of the other PICK settings, in their enums' order. */
typedef enum { RK_SESSION_GELU, RK_SESSION_GELU_NEW } rk_session_act;      /* erf form; tanh form */
typedef enum { RK_SESSION_MERGE_MLP, RK_SESSION_MERGE_IDENTITY } rk_session_merge;
typedef enum { RK_SESSION_OUT_TANH, RK_SESSION_OUT_RELU } rk_session_out_act;
typedef enum { RK_SESSION_ATTN_UNI, RK_SESSION_ATTN_BI } rk_session_attn;
typedef enum { RK_SESSION_AGG_CONCAT, RK_SESSION_AGG_ELEMENTWISE } rk_session_aggregation;
typedef enum { RK_SESSION_LOSS_CE, RK_SESSION_LOSS_TOP1, RK_SESSION_LOSS_TOP1_MAX, RK_SESSION_LOSS_BPR,
               RK_SESSION_LOSS_BPR_MAX_REG } rk_session_loss;

/* The settings of the session family, rows as RK_RANKING_SETTINGS' (reckon/models.h):
 *   X(KIND, field, flag, section, metavar, help, default)
 * with the kinds of that table and one more:
 *   PICK    int: the index of the flag's word in the metavar's choices "a|b|c" (the enums above
 *           list them in that order); JSON holds the word    CHOICE
 * Flag names and defaults are recsys_main.py's (recsys_args.py at recsys2021). ARCH settings
 * shape the weights (a saved model's win), TRAIN ones are the run's choice. */
#define RK_SESSION_SETTINGS(X)                                                                                          \
  X(PICK,   model_type,          model_type,          ARCH,  RK_SESSION_MODEL_CHOICES, "the sequence model (longformer: not implemented)", gpt2) \
  X(SIZE,   d_model,             d_model,             ARCH,  "D in [1, 2^16]", "width of the sequence model (the merged input's too)", 256) \
  X(INT,    n_layer,             n_layer,             ARCH,  "N in [1, 64]", "layers of the sequence model", 12)                  \
  X(INT,    n_head,              n_head,              ARCH,  "H in [1, 256]", "attention heads (dividing d_model)", 4)             \
  X(REAL,   dropout,             dropout,             TRAIN, "P in [0, 1)", "dropout in the sequence model (residuals, attention, embeddings)", 0.1) \
  X(REAL,   input_dropout,       input_dropout,       TRAIN, "P in [0, 1)", "dropout on the concatenated input features before the merge", 0.0) \
  X(PICK,   hidden_act,          hidden_act,          ARCH,  "gelu|gelu_new", "the transformer MLP's activation: gelu (erf form) or gelu_new (tanh form)", gelu) \
  X(REAL,   layer_norm_eps,      layer_norm_eps,      ARCH,  "E > 0", "epsilon of the transformer's LayerNorms", 1e-12) \
  X(REAL,   initializer_range,   initializer_range,   TRAIN, "S >= 0", "std of the transformer's and heads' weights, N(0, S^2)", 0.02) \
  X(PICK,   inp_merge,           inp_merge,           ARCH,  "mlp|identity", "how features merge: mlp (dropout, linear to d_model, activation) or identity (their width must be d_model)", mlp) \
  X(PICK,   tf_out_activation,   tf_out_activation,   ARCH,  "tanh|relu", "activation after the merge's linear layer", tanh) \
  X(BOOL,   mlm,                 mlm,                 TRAIN, NULL, "masked LM task: albert and bert always train with it, and it needs one of them", false) \
  X(REAL,   mlm_probability,     mlm_probability,     TRAIN, "P in (0, 1)", "masked LM: probability of masking an item", 0.15) \
  X(BOOL,   eval_on_last_item_seq_only, eval_on_last_item_seq_only, TRAIN, NULL, "evaluate only the last item of each session (else every item that has a predecessor)", false) \
  X(BOOL,   train_on_last_item_seq_only, train_on_last_item_seq_only, TRAIN, NULL, "causal LM: train only on the last item of each session", false) \
  X(BOOL,   mf_constrained_embeddings, mf_constrained_embeddings, ARCH, NULL, "score items against the item table (tied, with a bias) instead of an output layer of their own", false) \
  X(SIZE,   item_embedding_dim,  item_embedding_dim,  ARCH,  "D in [0, 2^16]", "width of the item table (0: d_model when tied by mf_constrained_embeddings, else from its cardinality as the other tables)", 0) \
  X(REAL,   softmax_temperature, softmax_temperature, TRAIN, "T > 0", "logits are divided by T", 1.0)                     \
  X(REAL,   label_smoothing,     label_smoothing,     TRAIN, "E in [0, 1)", "cross-entropy's label smoothing", 0.0)        \
  X(REAL64, embedding_dim_from_cardinality_multiplier, embedding_dim_from_cardinality_multiplier, ARCH, "M in (0, 1024]", "a table's width is ceil(cardinality^0.25 * M)", 2.0) \
  X(REAL,   item_id_embeddings_init_std, item_id_embeddings_init_std, TRAIN, "S >= 0", "the item table's initial values, N(0, S^2)", 0.5) \
  X(REAL,   other_embeddings_init_std, other_embeddings_init_std, TRAIN, "S >= 0", "the other tables' initial values, N(0, S^2)", 0.05) \
  X(BOOL,   layer_norm_featurewise, layer_norm_featurewise, ARCH, NULL, "a LayerNorm on each categorical feature's embedding", false) \
  X(SIZE,   session_seq_length_max, session_seq_length_max, ARCH, "T in [1, 2^12]", "positions per session: a longer session keeps its last T items", 20) \
  X(INT,    num_hidden_groups,   num_hidden_groups,   ARCH,  "N = -1 or in [1, 64]", "albert: groups of layers sharing weights (-1: one per layer, no sharing)", 1) \
  X(PICK,   attn_type,           attn_type,           ARCH,  "uni|bi", "xlnet's attention with the causal LM task, which must be uni (the reference's bi lets a row see its target); masked and permutation LM attend both ways, as the reference", uni) \
  X(INT,    pad_token,           pad_token,           ARCH,  "N >= 0", "the id padding sessions (Categorify's 0)", 0)      \
  X(BOOL,   key_padding_mask,    key_padding_mask,    TRAIN, NULL, "attention ignores padding positions (false: as the reference, which passes no mask)", true) \
  /* issue 19, part F: the inputs (side features, session-aware) */                                                    \
  X(PICK,   input_features_aggregation, input_features_aggregation, ARCH, "concat|elementwise_sum_multiply_item_embedding", "how the features combine: concat, or the item embedding times (1 + the sum of the others, each sized to the item's width)", concat) \
  X(SIZE,   numeric_features_project_to_embedding_dim, numeric_features_project_to_embedding_dim, ARCH, "N in [0, 2^16]", "continuous features: a linear layer each from the scalar to N (0: the scalar itself)", 0) \
  X(SIZE,   numeric_features_soft_one_hot_encoding_num_embeddings, numeric_features_soft_one_hot_encoding_num_embeddings, ARCH, "N in [0, 2^16]", "continuous features: soft one-hot encoding over N bins, softmax(x w + b) times an (N, project_to_embedding_dim) table (0: off)", 0) \
  X(SIZE,   continuous_projection, continuous_projection, ARCH, "N in [0, 2^16]", "the continuous features together through a linear layer to N and ReLU, as one feature (Transformers4Rec's continuous_projection; 0: off)", 0) \
  X(SIZE,   embedding_dim_default, embedding_dim_default, ARCH, "D in [0, 2^16]", "every table's width (Transformers4Rec's embedding_dim_default; 0: from its cardinality); --item_embedding_dim still sets the item's", 0) \
  X(REAL,   stochastic_shared_embeddings_replacement_prob, stochastic_shared_embeddings_replacement_prob, TRAIN, "P in [0, 1]", "training: each categorical id of the inputs is replaced with probability P by an id of the same column drawn from the batch", 0.0) \
  X(BOOL,   layer_norm_all_features, layer_norm_all_features, ARCH, NULL, "a LayerNorm over the concatenated features, after input dropout (inp_merge mlp)", false) \
  X(BOOL,   session_aware,       session_aware,       ARCH,  NULL, "past sessions' columns (--session_aware_features_prefix + feature) precede the session on the time axis", false) \
  X(SIZE,   session_aware_past_seq_length_max, session_aware_past_seq_length_max, ARCH, "N in [1, 2^12]", "session-aware: positions of the past sessions (their last N items)", 20) \
  /* part X (issue 19): Transformer-XL's memory, XLNet's permutation LM */                                          \
  X(INT,    mem_len,             mem_len,             ARCH,  "N in [0, 4096]", "transfoxl: zero memory slots every position attends to, as Hugging Face's init_mems gives a segment without a past (each session is one segment); xlnet: unused, as the reference passes no memory", 1) \
  X(BOOL,   plm,                 plm,                 TRAIN, NULL, "permutation LM task (xlnet): XLNet's span masking, a random factorisation order and two-stream attention", false) \
  X(REAL,   plm_probability,     plm_probability,     TRAIN, "P in (0, 1]", "permutation LM: the share of items in masked spans (a span of L items in a context of L / P)", 0.25) \
  X(INT,    plm_max_span_length, plm_max_span_length, TRAIN, "N in [1, 4096]", "permutation LM: the longest masked span", 5) \
  X(BOOL,   plm_mask_input,      plm_mask_input,      TRAIN, NULL, "permutation LM: the content stream sees [MASK] at the masked items too", false) \
  X(BOOL,   plm_permute_all,     plm_permute_all,     TRAIN, NULL, "permutation LM: permute every item, not only the masked ones", false) \
  /* issue 19, part R: the loss at the output (sampled softmax, negative sampling; src/models/session_sampling.c) */ \
  X(BOOL,   sampled_softmax,     sampled_softmax,     TRAIN, NULL, "train against --max_n_samples log-uniform draws shared by the batch (logQ-corrected, accidental hits removed) instead of the whole catalogue", false) \
  X(SIZE,   max_n_samples,       max_n_samples,       TRAIN, "N in [1, 2^20]", "sampled softmax: draws per step", 100) \
  X(BOOL,   negative_sampling,   negative_sampling,   TRAIN, NULL, "score each target against the batch's other sessions' targets and --neg_sampling_extra_samples_per_batch uniform draws, with --loss_type", false) \
  X(PICK,   loss_type,           loss_type,           TRAIN, "cross_entropy|top1|top1_max|bpr|bpr_max_reg", "the loss: cross-entropy, or a pairwise loss of GRU4Rec (needs --negative_sampling)", cross_entropy) \
  X(REAL,   bpr_max_reg_lambda,  bpr_max_reg_lambda,  TRAIN, "L >= 0", "bpr_max_reg: weight of the softmax-weighted squared negative scores", 0.0) \
  X(SIZE,   neg_sampling_extra_samples_per_batch, neg_sampling_extra_samples_per_batch, TRAIN, "N in [0, 2^20]", "negative sampling: uniform draws added to the batch's targets each step", 32) \
  /* issue 19, part RTD: replacement token detection, ELECTRA's task (src/models/session_rtd.c) */                   \
  X(BOOL,   rtd,                 rtd,                 ARCH,  NULL, "replacement token detection (ELECTRA): items drawn from the masked LM replace its masked items, and a discriminator head learns which were replaced (a masked LM model)", false) \
  X(BOOL,   rtd_sample_from_batch, rtd_sample_from_batch, TRAIN, NULL, "rtd: draw the replacements among the batch's masked items instead of the whole catalogue", false) \
  X(BOOL,   rtd_use_batch_interaction, rtd_use_batch_interaction, TRAIN, NULL, "rtd: show each draw as the batch row it was drawn from (its side features too, detached) instead of embedding the corrupted ids again; needs --rtd_sample_from_batch", false) \
  X(REAL,   rtd_discriminator_loss_weight, rtd_discriminator_loss_weight, TRAIN, "W >= 0", "rtd: the discriminator's BCE weighs W in the loss", 50.0) \
  X(REAL,   rtd_generator_loss_weight, rtd_generator_loss_weight, TRAIN, "W >= 0", "rtd: the generator's masked LM loss weighs W in the loss", 1.0) \
  X(BOOL,   rtd_tied_generator,  rtd_tied_generator,  ARCH,  NULL, "rtd: the generator and the discriminator are one model (default: a separate, smaller ELECTRA generator, --electra_generator_hidden_size)", false) \
  X(REAL,   electra_generator_hidden_size, electra_generator_hidden_size, ARCH, "R in (0, 1]", "rtd: the separate generator's width, round(R x d_model), a multiple of n_head; it predicts at evaluation (unused with --rtd_tied_generator)", 0.25) \
  X(SEED,   seed,                seed,                TRAIN, "S >= 0", "seed of initialisation, dropout and masking", 42)

#define RK_SETTING_FIELD_PICK(field) int field;
#define RK_SETTING_FLAG_PICK CHOICE

#define RK_SESSION_SETTING_ENUM(kind, field, flag, section, meta, help, ...) RK_SESSION_SETTING_##field,
typedef enum { RK_SESSION_SETTINGS(RK_SESSION_SETTING_ENUM) RK_SESSION_SETTING_COUNT } rk_session_setting;
#undef RK_SESSION_SETTING_ENUM

typedef struct {
  RK_SESSION_SETTINGS(RK_SETTING_FIELD)
} rk_session_config;

void rk_session_config_default(rk_session_config *c);
/* A PICK setting's index of `word` in `choices` ("a|b|c"), or -1; and back: the word of index i
 * (*word, of the length returned). */
int rk_setting_pick(const char *choices, const char *word);
int rk_setting_pick_word(const char *choices, int index, const char **word);
/* "--<flag>" of setting s. */
const char *rk_session_setting_name(rk_session_setting s);
/* Ranges and combinations the flags' metavars state (n_head divides d_model, issue 19's model
 * types, ...): RK_EUSAGE naming the flag. */
rk_status rk_session_config_check(const rk_session_config *c);
/* Positions per session in the graph: session_seq_length_max, plus the past sessions' when
 * session_aware (they come first). */
int64_t rk_session_config_positions(const rk_session_config *c);
/* Whether the model trains with the masked LM task (albert, bert, electra, or --mlm). */
bool rk_session_config_mlm(const rk_session_config *c);
/* model.json's "model" object, and back (label names the file in errors; missing keys keep
 * their defaults). */
json_t *rk_session_config_to_json(const rk_session_config *c);
rk_status rk_session_config_from_json(rk_session_config *c, const json_t *j, const char *label);

/* ---- features -------------------------------------------------------------------------------- */
/* One list column the model reads. */
typedef struct {
  char *name;                 /* the column */
  bool categorical;           /* else continuous: a scalar per position */
  int64_t cardinality;        /* categorical: ids 0..cardinality-1 (the pad token looks up zeros) */
  char *table;                /* categorical: its embedding table's name (shared by equal names) */
  bool is_item;               /* the item id: the target, and the catalogue's size */
  bool is_past;               /* session-aware: the past sessions of feature past_of (read through
                                 that feature's embedding), not an input of its own */
  int past_of;
} rk_session_feature;

typedef struct {
  rk_session_feature *features;   /* (n) in input order */
  int n;
  int item;                       /* index of the item id */
} rk_session_features;

/* From recsys_main's --feature_config (reckon/io.h): its columns in file order, as
 * recsys_meta_model concatenates them; control and timestamp columns are not inputs; long and
 * float are continuous. */
rk_status rk_session_features_from_config(rk_session_features *out, const rk_feature_config *fc);
/* From a Merlin schema: the list columns tagged categorical (with int_domain; cardinality
 * max + 1) or continuous, sorted by name as Transformers4Rec's concat does; the item id is the
 * one tagged item_id. Errors name the column at fault (no item_id, a categorical list without
 * int_domain). */
rk_status rk_session_features_from_schema(rk_session_features *out, const rk_schema *schema);
/* Session-aware: each column named prefix + another feature's name becomes that feature's past
 * (is_past, past_of). Every feature needs one (as recsys_meta_model concatenates them); errors name the
 * column without its pair. */
rk_status rk_session_features_pair_past(rk_session_features *f, const char *prefix);
void rk_session_features_free(rk_session_features *f);

/* ---- the model --------------------------------------------------------------------------------- */
/* Builds a session model and its graph for `batch` sessions, parameters initialised from
 * c->seed; train: with the task's labels and loss, else an inference graph. Errors name the
 * flag or column at fault. Free with (*out)->ops->free. Every parameter is marked for Hugging
 * Face's no-decay group as the Trainer would mark the reference's (biases, LayerNorm weights:
 * rk_param.no_decay). */
rk_status rk_session_build(rk_model **out, const rk_session_features *features, const rk_session_config *c,
                           int64_t batch, bool train);
/* Another graph over m's parameters (not copied: training one trains both), as ops->share;
 * attention_weights: the graph also keeps each layer's attention probabilities (transformers). */
rk_status rk_session_share(rk_model **out, const rk_model *m, int64_t batch, bool train, bool attention_weights);
/* Whether m is a session model; its settings and features. */
bool rk_model_is_session(const rk_model *m);
const rk_session_config *rk_session_model_config(const rk_model *m);
const rk_session_features *rk_session_model_features(const rk_model *m);

/* What a forward leaves (value handles of m->g). K read rows per session, fixed at build: 1 with
 * eval_on_last_item_seq_only, else T (rows a phase does not read are -1 and give zeros). */
typedef struct {
  int loss;                 /* train graphs: the mean cross-entropy over the target rows */
  int hidden;               /* (B, K, item_dim): the head's output tanh(linear(.)) at the read rows */
  int64_t reads;            /* K */
  int n_layers;             /* attention: per transformer layer, (B, heads, N, N) probabilities, N
                               the positions (rk_session_config_positions) */
  const int *attention;     /* (before dropout), when shared with attention_weights; else NULL */
} rk_session_outputs;
const rk_session_outputs *rk_session_model_outputs(const rk_model *m);

/* The scoring matrix of the last layer: item v's score for a hidden vector h is h . items_v +
 * bias_v, divided by the temperature (which does not change the order). For rk_catalog_rank
 * (first_item 0: every item ranks, padding included, as in the reference; raise it to leave
 * padding out). The pointers are the parameters': valid while m lives, current after each step. */
void rk_session_catalog(const rk_model *m, rk_catalog *cat, float *temperature);

/* ---- the feed ---------------------------------------------------------------------------------- */
/* The feed (ops->feed_init: no negatives, task weights unused) turns a batch's list columns into
 * the graph's inputs, keeping the time axis: each session's last T items, right-padded with the
 * pad token. What it asks the model to predict depends on the phase (t4rec-notes 2.2; n = the
 * session's items after truncation):
 *   TRAIN    the task's masking, drawn from (seed, step, session): causal LM: row t predicts item
 *            t+1 (train_on_last_item_seq_only: only row n-2 does), rows without a next item hold
 *            [MASK]; masked LM: Bernoulli(mlm_probability) over the items, at least one masked
 *            and one visible, masked rows hold [MASK] and predict their own item.
 *   EVAL     causal LM: the training inputs, and row n-2 predicts item n-1
 *            (eval_on_last_item_seq_only; else row t predicts t+1 for every t < n-1); masked LM:
 *            the last item masked and its row predicts it (else, as the reference's predict_all,
 *            every row with a next item is masked and predicts that item). A session with one
 *            item has no causal target (0).
 *   PREDICT  no target: causal LM reads row n-1 with every item visible; masked LM puts [MASK]
 *            at row n (the oldest item dropped when n = T) and reads it.
 * The permutation LM (xlnet --plm) masks spans and a factorisation order in TRAIN, hides the last
 * item from every row in EVAL (causal), and reads a row n that no row sees in PREDICT
 * (src/models/session_plm.c).
 * The read rows of a phase are its target rows in order, at most K of them (K = 1: the last);
 * PREDICT reads one.  * Train graphs default to TRAIN and inference graphs to EVAL. */
typedef enum { RK_SESSION_PHASE_TRAIN, RK_SESSION_PHASE_EVAL, RK_SESSION_PHASE_PREDICT } rk_session_phase;
rk_status rk_session_feed_set_phase(rk_model_feed *f, rk_session_phase phase);
/* After a fill, per session b and read k (B x K, row-major): the target item (0: none, so a
 * ranker skips it) and the position read (-1: none; past sessions' rows count before it); per
 * session its items after truncation. */
const int64_t *rk_session_feed_targets(const rk_model_feed *f);
const int64_t *rk_session_feed_read_rows(const rk_model_feed *f);
const int64_t *rk_session_feed_lengths(const rk_model_feed *f);
/* The item ids of the last fill, (B, positions) right-padded, past sessions first when
 * session-aware (for logging attention weights). */
const int64_t *rk_session_feed_items(const rk_model_feed *f);

#ifdef __cplusplus
}
#endif
#endif /* RECKON_SESSIONS_H */
