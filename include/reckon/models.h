/*
 * reckon/models.h: ranking models built from a Merlin schema into a compute graph (reckon/nn.h):
 * mlp, dcn (DCN-v2), dlrm, wide_n_deep and deepfm, as Merlin Models' ranking_train_eval.py
 * offers them. Inputs: one embedding table per categorical feature (rows = int_domain.max + 1),
 * continuous features as one dense input, in schema order; targets never enter the model.
 *
 * The graph's inputs, filled per batch by the family's feed (src/models/ranking_feed.c):
 *   cat_inputs[i]   int64 (B, 1)  ids of categorical feature i; a list feature (the schema's
 *                                 is_list) is a ragged input instead, mean-pooled by its table
 *   dense_input     float (B, n_cont) or RK_NO_VALUE
 *   indicator_input float (B, indicator_width): the one-hot of every indicator feature, or RK_NO_VALUE
 *   label, weight   float (B, 1)  the target; per-example loss weights (binary targets)
 * Where ids come from (docs/train.md, "Features"): a column with the `num_buckets` property holds
 * raw values, hashed to 1 + rk_hash_int(v) mod (num_buckets - 1); one with the `indicator`
 * property holds raw values 0..n-1, stored as v + 1 and fed to the deep part as a one-hot; any
 * other categorical column holds Categorify's ids. Id 0 (a null) looks up nothing.
 *
 * Callers see a built model through the model interface (reckon/model.h): rk_ranking_model.base,
 * whose table is src/models/ranking_model.c.
 *
 * Also here, so that serving depends on models/ (and etl/) but not on train/:
 *   rk_feed         batches into a graph's inputs: the model's columns gathered; a short last
 *                   batch padded with rows of weight 0 while the real rows' weights are scaled by
 *                   (graph rows / real rows), so the loss is the mean over the real rows, as Keras
 *                   computes it; in-batch negatives are extra rows built from the batch
 *   rk_model_save   model folder: model.json + weights.safetensors + schema + workflow copy
 *   rk_model_load   the same folder back into a model
 *   rk_predict      a model's predictions on a dataset, with chosen columns kept
 */
#ifndef RECKON_MODELS_H
#define RECKON_MODELS_H

#include <jansson.h>

#include "reckon/data.h"
#include "reckon/model.h"
#include "reckon/nn.h"
#include "reckon/optim.h"
#include "reckon/schema.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The models, X(kind, name): the enum, the names and --model's choices come from this list. */
#define RK_MODEL_LIST(X)                                                                             \
  X(RK_MODEL_MLP,         mlp)                                                                       \
  X(RK_MODEL_DCN,         dcn)                                                                       \
  X(RK_MODEL_DLRM,        dlrm)                                                                      \
  X(RK_MODEL_WIDE_N_DEEP, wide_n_deep)                                                               \
  X(RK_MODEL_DEEPFM,      deepfm)                                                                    \
  X(RK_MODEL_MMOE,        mmoe)   /* multi-task: experts and gates */                                \
  X(RK_MODEL_CGC,         cgc)                                                                       \
  X(RK_MODEL_PLE,         ple)

#define RK_MODEL_ENUM(kind, name) kind,
#define RK_MODEL_ONE(kind, name) +1
typedef enum { RK_MODEL_LIST(RK_MODEL_ENUM) } rk_model_kind;
enum { RK_MODEL_COUNT = 0 RK_MODEL_LIST(RK_MODEL_ONE) };
#undef RK_MODEL_ENUM
#undef RK_MODEL_ONE

/* "mlp|dcn|...|ple", a CHOICE flag's metavar. */
#define RK_MODEL_CHOICE(kind, name) "|" #name
#define RK_MODEL_CHOICES (&(RK_MODEL_LIST(RK_MODEL_CHOICE))[1])   /* past the first "|" */

/* "mlp", "dcn", "dlrm", "wide_n_deep", "deepfm", "mmoe", "cgc", "ple"; RK_EUSAGE naming the
 * choices otherwise. */
rk_status rk_model_kind_parse(const char *name, rk_model_kind *out);
const char *rk_model_kind_name(rk_model_kind kind);

/* The wide part of wide_n_deep. */
typedef enum {
  RK_WIDE_CROSSES,   /* Merlin's: a weight per category of each feature, plus hashed crosses of
                        every pair of single-valued features (--wnd_hashed_cross_num_bins) */
  RK_WIDE_LINEAR     /* TensorFlow's LinearClassifier, the Wide & Deep recipe's: a weight per
                        category (a list's summed), a weight per continuous feature and a bias,
                        zero at the start; no crosses */
} rk_wide_layout;

/* Which parts wide_n_deep has (the recipe's --model_type). */
typedef enum { RK_WND_BOTH, RK_WND_WIDE_ONLY, RK_WND_DEEP_ONLY } rk_wnd_parts;

/* A task's own tower (--mtl_tower_layers_<task>), in place of the shared tower_layers. */
typedef struct {
  const char *task;
  const int64_t *layers;
  int n_layers;
} rk_task_tower;

/* The settings of the ranking family, one row each, so a setting lives in one place:
 *   X(KIND, field, flag, section, metavar, help, default)
 * The row makes the config field (below), its default (rk_ranking_config_default), its key in
 * model.json (both ways, src/models/model_dir.c), and the flag of `reckon train` (src/cli/cmd_train.c:
 * name, metavar with the range, help, default). The section says where model.json keeps it and
 * what `train --load_model_path` does with it (rk_model_read_architecture):
 *   ARCH   "model": shapes the weights, so the saved model's value wins
 *   TRAIN  "model": a training choice, so the new run's flag wins
 *   MTL    "model"."multi_task": shapes the weights (multi-task models) The default comes last and is written as C, so that it is both the
 * field's value and, stringified, the flag's text (a list's `128,64,32` initialises an array).
 * Kinds, with the field and the flag they make:
 *   INTS    const int64_t *field; int n_field   INTS flag (comma list of whole numbers)
 *   INT     int                                 INT
 *   SIZE    int64_t                             INT
 *   SEED    uint64_t                            INT
 *   REAL    float                               FLOAT
 *   REAL64  double                              FLOAT
 *   BOOL    bool                                BOOL
 *   SWITCH  bool: the metavar "off|on" names its two values; JSON holds the word  CHOICE
 *   STRINGS const char *const *field; int n_field  LIST (empty items dropped)
 *   MODEL   rk_model_kind                       CHOICE of RK_MODEL_LIST
 *   ACT     rk_act (src/nn/act.c)               CHOICE
 *   INIT    rk_init_kind (reckon/optim.h)       STRING */
#define RK_RANKING_SETTINGS(X)                                                                                        \
  X(MODEL,   kind,               model,              ARCH, RK_MODEL_CHOICES, "which model to train", mlp)                          \
  X(INTS,    mlp_layers,         mlp_layers,         ARCH, "N,... in [1, 2^16]", "units of the MLP layers (dlrm: the top MLP)", 128,64,32) \
  X(ACT,     activation,         activation,         ARCH, "relu|tanh|sigmoid|linear", "activation of the MLP layers", relu) \
  X(INIT,    mlp_init,           mlp_init,           TRAIN, "INIT", "initialiser of MLP and cross kernels (biases are 0): glorot_uniform, glorot_normal, he_uniform, he_normal, uniform, normal, truncated_normal, zeros", glorot_uniform) \
  X(REAL,    dropout,            dropout,            TRAIN, "P in [0, 1)", "dropout after every MLP layer", 0.0)       \
  X(SIZE,    embeddings_dim,     embeddings_dim,     ARCH, "D in [1, 2^16]", "dlrm and deepfm: dimension of every embedding table", 128) \
  X(REAL64,  embedding_sizes_multiplier, embedding_sizes_multiplier, ARCH, "M in (0, 1024]", "other models: a table's dimension is ceil(cardinality^0.25 * M), rounded up to a multiple of 8", 2.0) \
  X(INT,     dcn_layers,         dcn_interacted_layer_num, ARCH, "N in [1, 64]", "dcn: cross layers", 1)          \
  X(SIZE,    wnd_hashed_cross_num_bins, wnd_hashed_cross_num_bins, ARCH, "N in [1, 2^30]", "wide_n_deep: buckets of each hashed 2-way cross", 10000) \
  X(STRINGS, wnd_ignore,         wnd_ignore_combinations, ARCH, "A:B,...", "wide_n_deep: crosses left out (either order)", ) \
  X(REAL,    l2_reg,             l2_reg,             TRAIN, "L >= 0", "L2 on MLP kernels and biases", 1e-5)           \
  X(REAL,    embeddings_l2_reg,  embeddings_l2_reg,  TRAIN, "L >= 0", "L2 on each distinct embedding row looked up in a batch", 0.0) \
  X(REAL,    wnd_wide_l2_reg,    wnd_wide_l2_reg,    TRAIN, "L >= 0", "wide_n_deep: L2 on the wide weights looked up", 1e-5) \
  X(SEED,    seed,               random_seed,        TRAIN, "S >= 0", "seed of initialisation, shuffling, dropout and negatives", 42) \
  X(SWITCH,  dlrm_top_dots_only, dlrm_top_input,     ARCH, "dots_embeddings|dots", "dlrm: what the top MLP reads besides the dot products (dots: only them, as the reference without continuous features)", dots_embeddings) \
  /* multi-task (Ma et al. 2018, MMoE; Tang et al. 2020, CGC and PLE) */                                            \
  X(INT,     mmoe_experts,       mmoe_num_mlp_experts, MTL, "N in [1, 256]", "mmoe: experts", 4)                     \
  X(INTS,    expert_layers,      expert_mlp_layers,  MTL, "N,... in [1, 2^16]", "mmoe, cgc, ple: units of each expert's MLP layers", 64) \
  X(SIZE,    gate_dim,           gate_dim,           MTL, "N in [0, 2^16]", "units of each gate's ReLU layer (0: the gate reads its input)", 64) \
  X(REAL,    gate_temperature,   mtl_gates_softmax_temperature, MTL, "T > 0", "gates: softmax(W h(x) / T)", 1.0)   \
  X(BOOL,    use_task_towers,    use_task_towers,    MTL, NULL, "several tasks: an MLP tower per task before its output", true) \
  X(INTS,    tower_layers,       tower_layers,       MTL, "N,... in [1, 2^16]", "units of the task towers' layers", 64) \
  X(INT,     cgc_task_experts,   cgc_num_task_experts, MTL, "N in [1, 256]", "cgc, ple: experts per task", 1)        \
  X(INT,     cgc_shared_experts, cgc_num_shared_experts, MTL, "N in [0, 256]", "cgc, ple: shared experts", 2)        \
  X(INT,     ple_layers,         ple_num_layers,     MTL, "N in [1, 64]", "ple: extraction levels", 1)               \
  X(SWITCH,  ple_gate_original,  ple_gate_input,     MTL, "previous|original", "ple: gates read their level's input (the PLE paper) or the original input (the reference)", previous)

#define RK_SETTING_FIELD_INTS(field)    const int64_t *field; int n_##field;
#define RK_SETTING_FIELD_INT(field)     int field;
#define RK_SETTING_FIELD_SIZE(field)    int64_t field;
#define RK_SETTING_FIELD_SEED(field)    uint64_t field;
#define RK_SETTING_FIELD_REAL(field)    float field;
#define RK_SETTING_FIELD_REAL64(field)  double field;
#define RK_SETTING_FIELD_BOOL(field)    bool field;
#define RK_SETTING_FIELD_SWITCH(field)  bool field;
#define RK_SETTING_FIELD_STRINGS(field) const char *const *field; int n_##field;
#define RK_SETTING_FIELD_MODEL(field)   rk_model_kind field;
#define RK_SETTING_FIELD_ACT(field)     rk_act field;
#define RK_SETTING_FIELD_INIT(field)    rk_init_kind field;
#define RK_SETTING_FIELD(kind, field, flag, section, meta, help, ...) RK_SETTING_FIELD_##kind(field)

/* The flag kind (reckon/cli flags.h) each setting kind makes. */
#define RK_SETTING_FLAG_INTS    INTS
#define RK_SETTING_FLAG_INT     INT
#define RK_SETTING_FLAG_SIZE    INT
#define RK_SETTING_FLAG_SEED    INT
#define RK_SETTING_FLAG_REAL    FLOAT
#define RK_SETTING_FLAG_REAL64  FLOAT
#define RK_SETTING_FLAG_BOOL    BOOL
#define RK_SETTING_FLAG_SWITCH  CHOICE
#define RK_SETTING_FLAG_STRINGS LIST
#define RK_SETTING_FLAG_MODEL   CHOICE
#define RK_SETTING_FLAG_ACT     CHOICE
#define RK_SETTING_FLAG_INIT    STRING

/* One number per setting, for names callers give them (rk_ranking_config.setting_names). */
#define RK_SETTING_ENUM(kind, field, flag, section, meta, help, ...) RK_SETTING_##field,
typedef enum { RK_RANKING_SETTINGS(RK_SETTING_ENUM) RK_SETTING_COUNT } rk_setting;
#undef RK_SETTING_ENUM

typedef struct {
  RK_RANKING_SETTINGS(RK_SETTING_FIELD)
  /* Not flags of reckon train: what reckon widedeep sets (model.json's "layout"), ... */
  rk_wide_layout wide_layout;          /* default RK_WIDE_CROSSES */
  rk_wnd_parts wnd_parts;              /* default RK_WND_BOTH */
  bool schema_dims;                    /* a table's dimension from its column's embedding_sizes
                                          property when it has one (else the rules above) */
  bool tf_embedding_init;              /* tables ~ truncated normal(0, 1/sqrt(D)), TensorFlow's
                                          embedding_column, instead of Keras' U(+-0.05) */
  /* ... a family of flags (--mtl_tower_layers_<task>, model.json's multi_task.task_tower_layers) ... */
  const rk_task_tower *task_towers;    /* tasks with their own tower sizes; each names a task */
  int n_task_towers;
  /* ... and the names errors give the settings: per rk_setting, the caller's (reckon widedeep's
   * "--deep_hidden_units" for mlp_layers), or NULL for reckon train's flag. */
  const char *const *setting_names;
  /* Not a setting either (never saved): where new embedding tables' rows live, or NULL (in the
   * table). */
  const struct rk_table_placement *placement;
} rk_ranking_config;

/* A hook the builder asks about each new embedding table named `name`, (V, D), initialised by
 * `init` (NULL: U(+-0.05), Keras', as rk_param_fill_uniform draws it; else as rk_init_tensor)
 * from stream `stream` of `seed`: it answers *held = NULL to
 * keep the rows in the table, or the rows of a table held elsewhere (sharded over ranks,
 * reckon/shard.h), which it has filled with the values the table would have; the table is then
 * made by rk_param_init_sparse_fetched and allocates nothing. Before building, the memory check
 * asks `rows` how many of the table's rows this process will hold (V when whole). */
typedef struct rk_table_placement {
  void *ctx;
  rk_status (*place)(void *ctx, const char *name, int64_t V, int64_t D, const rk_init_spec *init, uint64_t seed,
                     uint64_t stream, const rk_row_cache **held);
  rk_status (*rows)(void *ctx, const char *name, int64_t V, int64_t D, int64_t *rows);
} rk_table_placement;

/* How errors name a setting: the caller's name for it, else "--<flag of reckon train>". */
const char *rk_ranking_setting_name(const rk_ranking_config *c, rk_setting s);
/* A SWITCH setting's word for `on` in its choices "off|on" (*word, of the length returned), and
 * whether `word` is the on one. */
int rk_setting_switch_word(const char *choices, bool on, const char **word);
bool rk_setting_switch_on(const char *choices, const char *word);

void rk_ranking_config_default(rk_ranking_config *c);

typedef struct {
  rk_graph *g;
  int n_cat, n_cont;
  char **cat_names, **cont_names;
  int64_t *cardinality, *dims;
  int64_t *hash_buckets;               /* per categorical: the num_buckets property, or 0 */
  bool *indicator;                     /* per categorical: the indicator property */
  int64_t *max_len;                    /* per categorical: a list's most values, or 0 (single) */
  int *cat_inputs;
  int dense_input;
  int indicator_input;
  int64_t indicator_width;
  int n_tasks;
  char **targets;                      /* per task: its target column */
  bool *task_regression;               /* per task: MSE on a linear output, else weighted BCE */
  int *labels, *weights;               /* per task: inputs (B, 1) (train graphs) */
  int *logits;                         /* per task: (B, 1) logit, or the regression's prediction */
  int *task_losses;                    /* per task: its weighted mean loss (train graphs) */
  int *gate_probs;                     /* per task: (B, E) gate weights, or RK_NO_VALUE */
  int label, weight, logit;            /* task 0's, for single-task callers */
  int loss;                            /* the loss with its regularisation terms (train graphs) */
  int reg;                             /* the regularisation terms alone, or RK_NO_VALUE */
  bool regression, train;              /* regression: task 0's */
  char *target;                        /* task 0's */
  rk_ranking_config cfg;               /* a copy; its lists point into the model */
  rk_param **params;                   /* every parameter, in creation order */
  int n_params;
  rk_param_arena *arena;               /* the dense parameters' memory (nn.h); NULL when sharing */
  bool owns_params;                    /* false for a graph sharing another model's */
  rk_model base;                       /* the model interface (reckon/model.h) over this model */
} rk_ranking_model;

/* Builds the graph for batch size `batch` predicting `target` (regression: MSE on the linear
 * output; else weighted BCE on the logit). Errors name the column or flag at fault (a
 * categorical column without int_domain, dlrm without categorical features, ...). */
rk_status rk_ranking_build(rk_ranking_model *m, const rk_schema *schema, const char *target, bool regression,
                           const rk_ranking_config *c, int64_t batch);
/* Several tasks: each gets its logit, label, weight and loss; the loss is their sum (weights per
 * example carry the loss weights, class weights and sample spaces). */
rk_status rk_ranking_build_tasks(rk_ranking_model *m, const rk_schema *schema, int n_tasks,
                                 const char *const *targets, const bool *regression, const rk_ranking_config *c,
                                 int64_t batch);
/* Another graph over `from`'s parameters (not copied: training one trains both), for batch size
 * `batch`; train: with label, weight and loss like the original, else an inference graph whose
 * only inputs are the features. `from` must outlive it. */
rk_status rk_ranking_share(rk_ranking_model *m, const rk_ranking_model *from, int64_t batch, bool train);
void rk_ranking_free(rk_ranking_model *m);
/* The parameter named `name`, or NULL. */
rk_param *rk_ranking_param(const rk_ranking_model *m, const char *name);

/* Whether a parameter belongs to the wide (linear) part of wide_n_deep, which the recipe trains
 * with its own optimizer. */
bool rk_ranking_param_is_wide(const rk_param *p);

/* The reference's dimension rule for a table of `cardinality` rows. */
int64_t rk_model_embedding_dim(int64_t cardinality, double multiplier);

/* ---- feeding batches (src/models/ranking_feed.c) ------------------------------------------- */

typedef struct {
  const rk_ranking_model *m;
  int64_t negatives;          /* in-batch negatives per row */
  rk_task_weights tw;
  uint64_t seed;
  bool *item_feature;         /* per categorical then continuous feature: tagged item / item_id */
  int item_id;                /* categorical feature telling items apart (-1: all item features) */
  int64_t *src, *item_src;    /* (graph rows): source rows; -1 = padding */
  int64_t rows;               /* real rows in the last fill (positives and negatives) */
  const rk_column **cols;     /* per feature: the batch column of the last fill */
  struct rk_feed_layout *layout;   /* where each column the feed reads sits in the batches (ranking_feed.c) */
} rk_feed;

/* The columns a feed reads from data: the model's features, and with targets its targets, sample
 * spaces and sample weights (names holds at least rk_feed_max_columns). Names point into the
 * model and the weights. */
int rk_feed_columns(const rk_feed *f, bool with_targets, const char **names);
int rk_feed_max_columns(const rk_ranking_model *m);
/* negatives > 0 needs features tagged item or item_id in the schema; tw NULL: defaults. */
rk_status rk_feed_init(rk_feed *f, const rk_ranking_model *m, const rk_schema *schema, int64_t negatives,
                       const rk_task_weights *tw, uint64_t seed);
void rk_feed_free(rk_feed *f);
/* Rows graph_rows / (1 + negatives) of data a graph of f's model takes per fill. */
int64_t rk_feed_batch_rows(const rk_feed *f);
/* Fill the graph's inputs from `batch` (at most rk_feed_batch_rows rows; columns found by name
 * once, and found again only when a batch's columns differ from the last one's),
 * `step` keys the choice of negatives. Ids beyond a table or a null target are errors naming the
 * column. */
rk_status rk_feed_fill(rk_feed *f, const rk_batch *batch, uint64_t step);

/* ---- optimizers (src/models/optim_set.c) --------------------------------------------------- */
/* One optimizer over every parameter (wide NULL), or the Wide & Deep recipe's two: `wide` for
 * the wide part (rk_ranking_param_is_wide), `deep` for the rest. They step together.
 * stand_ins (m->n_params, or NULL): where stand_ins[i] is not NULL the optimizer steps it in
 * parameter i's place (a sharded table's rows on this rank, reckon/shard.h). */
typedef struct {
  rk_optim opt[2];
  int n;
  int *which, *index;   /* per model parameter: its optimizer, and its place there */
} rk_optim_set;

rk_status rk_optim_set_init(rk_optim_set *s, const rk_model *m, const rk_optim_config *deep,
                            const rk_optim_config *wide, rk_param *const *stand_ins);
rk_status rk_optim_set_step(rk_optim_set *s, double lr_factor);
int64_t rk_optim_set_steps(const rk_optim_set *s);
void rk_optim_set_set_steps(rk_optim_set *s, int64_t steps);
/* Model parameter `param`'s state: its slot count, and slot `slot` (numel floats) with its name. */
int rk_optim_set_slots(const rk_optim_set *s, int param);
float *rk_optim_set_slot(const rk_optim_set *s, int param, int slot, const char **name);
void rk_optim_set_free(rk_optim_set *s);

/* ---- model folders (src/models/model_dir.c) ------------------------------------------------ */
/* Writes <dir>/model.json, weights.safetensors, schema.pbtxt and .merlin/schema.json, and a copy
 * of workflow_dir as <dir>/workflow (when not NULL), into a temporary folder renamed into place.
 * extra: more keys for model.json ("flags", "training"), or NULL. */
rk_status rk_model_save(const char *dir, const rk_model *m, const rk_schema *schema, const char *workflow_dir,
                        const json_t *extra);
typedef struct {
  rk_ranking_model ranking;   /* a train graph of batch 1 owning the parameters */
  rk_model *model;            /* &ranking.base, or a session model's train graph of batch 1
                                 (model.json's "family": "session", reckon/sessions.h): what
                                 evaluation and prediction take */
  rk_schema schema;
  json_t *meta;               /* model.json */
} rk_saved_model;
rk_status rk_model_load(rk_saved_model *out, const char *dir);
/* Whether the data at data_path (named by `flag` in messages) was transformed by the workflow the
 * model's training data was (their fingerprints, src/etl/fingerprint.c): a mismatch is an error
 * naming both (a warning when `allow`); data without a fingerprint, from other tools, is accepted
 * with a warning; a model without one checks nothing. */
rk_status rk_model_check_workflow(const rk_saved_model *sm, const char *data_path, const char *flag, bool allow);
void rk_saved_model_free(rk_saved_model *s);
/* Parameter values to and from a safetensors file (every parameter by name, shapes checked). */
/* opts (may be NULL): each parameter's optimizer state too, as "<param>/<slot>" (checkpoints).
 * A table held elsewhere (sharded, rk_param.fetched) is streamed whole into a model by its
 * read_rows; a checkpoint (opts) leaves it out and names it in the file's metadata
 * RK_HELD_ELSEWHERE (comma-separated), its rows and slots being in a folder of its own
 * (reckon/shard.h). Reading skips the tables a file names there, and those held elsewhere now:
 * the caller loads them (src/train/run_shards.c). */
#define RK_HELD_ELSEWHERE "held_elsewhere"
rk_status rk_model_write_weights(const char *path, const rk_model *m, const rk_optim_set *opts,
                                 const char *const *meta_keys, const char *const *meta_values, int nmeta);
rk_status rk_model_read_weights(const char *path, const rk_model *m, rk_optim_set *opts);
/* A checkpoint folder `dir`: weights.safetensors with the optimizer slots, and state.json (the
 * caller's counters and logs; the call takes the reference), built under a temporary name and
 * swapped in whole, so a crash leaves the previous checkpoint. stage: that temporary folder
 * when the caller made it and put parts in it already (sharded tables' folders), else NULL. */
rk_status rk_checkpoint_write(const char *dir, const char *stage, const rk_model *m, const rk_optim_set *opts,
                              json_t *state);
/* model.json's "task_weights" (the loss weights, positive weights and sample spaces a model was
 * trained with, which evaluation reuses), and back (strings point into j). */
json_t *rk_task_weights_to_json(const rk_task_weights *tw, const rk_model *m);
rk_status rk_task_weights_from_json(rk_task_weights *tw, const rk_model *m, const json_t *j);
/* model.json's "model" object from a configuration, and back. */
json_t *rk_ranking_config_to_json(const rk_ranking_config *c);
rk_status rk_ranking_config_from_json(rk_ranking_config *c, const json_t *j, const char *label);
/* Free what rk_ranking_config_from_json allocated (its lists). */
void rk_ranking_config_free_lists(rk_ranking_config *c);
/* The architecture of the model folder `dir` (its model.json), for `train --load_model_path`:
 * the weights' shapes follow it, whatever the flags say. The training choices (dropout, L2,
 * initialisation, seed) come from `flags`. `differ` gets each key of model.json's "model" whose
 * value in `flags` differs, with both values ("mlp_layers [16,8] (flags: [128,64,32]); ..."; empty
 * when none), for a note. Free `out`
 * with rk_ranking_config_free_lists. */
rk_status rk_model_read_architecture(const char *dir, const rk_ranking_config *flags, rk_ranking_config *out,
                                     char *differ, size_t differ_size);

/* ---- prediction (src/models/predict.c) ----------------------------------------------------- */
typedef struct {
  const char *path;           /* data to predict on */
  const char *output;         /* a file (.parquet, .csv, .tsv) or a folder (part_0.parquet) */
  const char *format;         /* parquet|csv|tsv, or NULL: from the output's extension */
  const char *const *keep;    /* columns copied next to the predictions */
  int n_keep;
  int64_t batch_size;
  bool overwrite;             /* replace an output reckon did not write (--overwrite) */
  /* NULL, or called with the graph once a batch's inputs are filled, before its forward (as
   * rk_eval_options.before_forward: a sharded table fetches the batch's rows) */
  rk_status (*before_forward)(void *ctx, const rk_graph *g);
  void *before_forward_ctx;
} rk_predict_options;

/* Writes `<target>/binary_output` (probabilities) or `<target>/regression_output`, one per task. */
rk_status rk_predict(const rk_model *m, const rk_predict_options *o, int64_t *rows);

#ifdef __cplusplus
}
#endif
#endif /* RECKON_MODELS_H */
