/*
 * reckon/models.h: ranking models built from a Merlin schema into a compute graph (reckon/nn.h):
 * mlp, dcn (DCN-v2), dlrm, wide_n_deep and deepfm, as Merlin Models' ranking_train_eval.py
 * offers them. Inputs: one embedding table per categorical feature (rows = int_domain.max + 1),
 * continuous features as one dense input, in schema order; targets never enter the model.
 *
 * The graph's inputs, filled by the caller per batch:
 *   cat_inputs[i]   int64 (B, 1)  ids of categorical feature i
 *   dense_input     float (B, n_cont) or RK_NO_VALUE
 *   label, weight   float (B, 1)  the target; per-example loss weights (binary targets)
 */
#ifndef RECKON_MODELS_H
#define RECKON_MODELS_H

#include "reckon/nn.h"
#include "reckon/optim.h"
#include "reckon/schema.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { RK_MODEL_MLP, RK_MODEL_DCN, RK_MODEL_DLRM, RK_MODEL_WIDE_N_DEEP, RK_MODEL_DEEPFM } rk_model_kind;

/* "mlp", "dcn", "dlrm", "wide_n_deep", "deepfm"; RK_EUSAGE naming the choices otherwise. */
rk_status rk_model_kind_parse(const char *name, rk_model_kind *out);
const char *rk_model_kind_name(rk_model_kind kind);
/* "relu", "tanh", "sigmoid", "linear" (src/train/model_dir.c). */
rk_status rk_act_parse(const char *name, rk_act *out);

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
  uint64_t seed;                       /* initialisation and dropout (default 42) */
  bool dlrm_top_dots_only;             /* --dlrm_top_input dots */
} rk_ranking_config;

void rk_ranking_config_default(rk_ranking_config *c);

typedef struct {
  rk_graph *g;
  int n_cat, n_cont;
  char **cat_names, **cont_names;
  int64_t *cardinality, *dims;
  int *cat_inputs;
  int dense_input;
  int label, weight;
  int logit;                           /* (B, 1): the logit, or the prediction of a regression */
  int loss;                            /* the loss with its regularisation terms (train graphs) */
  int reg;                             /* the regularisation terms alone, or RK_NO_VALUE */
  bool regression, train;
  char *target;
  rk_ranking_config cfg;               /* a copy; its lists point into the model */
  rk_param **params;                   /* every parameter, in creation order */
  int n_params;
  bool owns_params;                    /* false for a graph sharing another model's */
} rk_ranking_model;

/* Builds the graph for batch size `batch` predicting `target` (regression: MSE on the linear
 * output; else weighted BCE on the logit). Errors name the column or flag at fault (a
 * categorical column without int_domain, dlrm without categorical features, ...). */
rk_status rk_ranking_build(rk_ranking_model *m, const rk_schema *schema, const char *target, bool regression,
                           const rk_ranking_config *c, int64_t batch);
/* Another graph over `from`'s parameters (not copied: training one trains both), for batch size
 * `batch`; train: with label, weight and loss like the original, else an inference graph whose
 * only inputs are the features. `from` must outlive it. */
rk_status rk_ranking_share(rk_ranking_model *m, const rk_ranking_model *from, int64_t batch, bool train);
void rk_ranking_free(rk_ranking_model *m);
/* The parameter named `name`, or NULL. */
rk_param *rk_ranking_param(const rk_ranking_model *m, const char *name);

/* The reference's dimension rule for a table of `cardinality` rows. */
int64_t rk_model_embedding_dim(int64_t cardinality, double multiplier);

#ifdef __cplusplus
}
#endif
#endif /* RECKON_MODELS_H */
