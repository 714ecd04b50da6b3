/*
 * reckon/models.h: ranking models built from a Merlin schema into a compute graph (reckon/nn.h):
 * mlp, dcn (DCN-v2), dlrm, wide_n_deep and deepfm, as Merlin Models' ranking_train_eval.py
 * offers them. Inputs: one embedding table per categorical feature (rows = int_domain.max + 1),
 * continuous features as one dense input, in schema order; targets never enter the model.
 *
 * The graph's inputs, filled by the caller per batch (src/train/feed.c):
 *   cat_inputs[i]   int64 (B, 1)  ids of categorical feature i; a list feature (the schema's
 *                                 is_list) is a ragged input instead, mean-pooled by its table
 *   dense_input     float (B, n_cont) or RK_NO_VALUE
 *   indicator_input float (B, indicator_width): the one-hot of every indicator feature, or RK_NO_VALUE
 *   label, weight   float (B, 1)  the target; per-example loss weights (binary targets)
 * Where ids come from (docs/train.md, "Features"): a column with the `num_buckets` property holds
 * raw values, hashed to 1 + rk_hash_int(v) mod (num_buckets - 1); one with the `indicator`
 * property holds raw values 0..n-1, stored as v + 1 and fed to the deep part as a one-hot; any
 * other categorical column holds Categorify's ids. Id 0 (a null) looks up nothing.
 */
#ifndef RECKON_MODELS_H
#define RECKON_MODELS_H

#include "reckon/nn.h"
#include "reckon/optim.h"
#include "reckon/schema.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  RK_MODEL_MLP, RK_MODEL_DCN, RK_MODEL_DLRM, RK_MODEL_WIDE_N_DEEP, RK_MODEL_DEEPFM,
  RK_MODEL_MMOE, RK_MODEL_CGC, RK_MODEL_PLE   /* multi-task: experts and gates */
} rk_model_kind;

#define RK_MAX_TASKS 16

/* "mlp", "dcn", "dlrm", "wide_n_deep", "deepfm", "mmoe", "cgc", "ple"; RK_EUSAGE naming the
 * choices otherwise. */
rk_status rk_model_kind_parse(const char *name, rk_model_kind *out);
const char *rk_model_kind_name(rk_model_kind kind);
/* "relu", "tanh", "sigmoid", "linear" (src/train/model_dir.c). */
rk_status rk_act_parse(const char *name, rk_act *out);

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

typedef struct {
  rk_model_kind kind;
  const int64_t *mlp_layers;           /* default 128, 64, 32 */
  int n_mlp_layers;
  rk_act activation;                   /* default relu */
  rk_init_kind mlp_init;               /* MLP and cross kernels (default glorot_uniform); biases 0 */
  float dropout;                       /* after every MLP layer */
  int64_t embeddings_dim;              /* dlrm and deepfm: every table's dimension (default 128) */
  double embedding_sizes_multiplier;   /* others: ceil(cardinality^0.25 * m), up to a multiple of 8 (default 2) */
  int dcn_layers;                      /* default 1 */
  int64_t wnd_hashed_cross_num_bins;   /* default 10000 */
  const char *const *wnd_ignore;       /* crosses left out of the wide part, "a:b" (either order) */
  int n_wnd_ignore;
  float l2_reg;                        /* MLP kernels and biases (default 1e-5) */
  float embeddings_l2_reg;             /* rows looked up in the batch (default 0) */
  float wnd_wide_l2_reg;               /* default 1e-5 */
  rk_wide_layout wide_layout;          /* default RK_WIDE_CROSSES */
  rk_wnd_parts wnd_parts;              /* default RK_WND_BOTH */
  bool schema_dims;                    /* a table's dimension from its column's embedding_sizes
                                          property when it has one (else the rules above) */
  bool tf_embedding_init;              /* tables ~ truncated normal(0, 1/sqrt(D)), TensorFlow's
                                          embedding_column, instead of Keras' U(+-0.05) */
  uint64_t seed;                       /* initialisation and dropout (default 42) */
  bool dlrm_top_dots_only;             /* --dlrm_top_input dots */
  /* multi-task (Ma et al. 2018, MMoE; Tang et al. 2020, CGC and PLE) */
  int mmoe_experts;                    /* default 4 */
  const int64_t *expert_layers;        /* default 64 */
  int n_expert_layers;
  int64_t gate_dim;                    /* the gate's ReLU layer (0: the gate reads its input) (default 64) */
  float gate_temperature;              /* softmax(W h(x) / T) (default 1) */
  bool use_task_towers;                /* several tasks: an MLP per task before its head (default true) */
  const int64_t *tower_layers;         /* default 64 */
  int n_tower_layers;
  const rk_task_tower *task_towers;    /* tasks with their own tower sizes; each names a task */
  int n_task_towers;
  int cgc_task_experts;                /* default 1 */
  int cgc_shared_experts;              /* default 2 */
  int ple_layers;                      /* default 1 */
  bool ple_gate_original;              /* gates read the original input (the reference) instead of
                                          their level's input (the PLE paper, default) */
} rk_ranking_config;

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

#ifdef __cplusplus
}
#endif
#endif /* RECKON_MODELS_H */
