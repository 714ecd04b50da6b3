/*
 * Private to src/models/: what the ranking family's files share while building a graph. A
 * builder carries one build's state; each file adds one idea to the graph:
 *   blocks.c     parameters (made, or taken from a shared model in the same order) and the
 *                blocks every model uses: dense weights, tables
 *   inputs.c     the input block: lookups, bags, indicators, continuous features
 *   heads.c      task towers, output layers and the losses
 *   bodies.c     the MLP block and the single-task bodies: mlp, dcn, dlrm, wide_n_deep, deepfm
 *   multitask.c  experts and gates: MMoE, CGC, PLE
 *   ranking.c    schema -> features, the configuration kept, build/share/free (reckon/models.h)
 *   ranking_model.c  the family's table of the model interface (reckon/model.h)
 *   settings.c   the model names and RK_RANKING_SETTINGS' defaults
 * Not a public interface: reckon/models.h is.
 */
#ifndef RECKON_MODELS_RANKING_INTERNAL_H
#define RECKON_MODELS_RANKING_INTERNAL_H

#include "reckon/models.h"

/* A dense weight's initialiser, kept until its memory exists. */
typedef struct {
  rk_param *param;
  rk_init_spec spec;
  uint64_t stream;         /* the parameter's number: its draws do not depend on the layout */
} rk_dense_init;

typedef struct {
  rk_ranking_model *m;
  const rk_ranking_config *c;
  rk_graph *g;
  int64_t B;
  int *emb;                /* per categorical feature: (B, D) */
  int *lookups;            /* per categorical feature: its (B, 1, D) embedding, or RK_NO_VALUE */
  rk_param **kernels;      /* MLP kernels and biases, for L2 */
  int n_kernels;
  int reg;                 /* the sum of regularisation terms so far, or RK_NO_VALUE */
  const rk_ranking_model *share;   /* parameters come from here, or NULL: new ones */
  rk_dense_init *inits;       /* the dense weights' initialisers, run once the arena has memory */
  int n_inits;
} rk_ranking_builder;

/* A sparse table (V, D): an embedding (U(+-0.05) as Keras', or truncated normal(0, 1/sqrt(D)) as
 * TensorFlow's embedding_column) or a wide table (Keras' uniform, or TensorFlow's linear model's
 * zeros). */
typedef enum { RK_TABLE_EMBEDDING, RK_TABLE_WIDE } rk_table_kind;

/* ---- blocks.c ---- */
/* The next parameter named `name`: a new one (*fresh), or, sharing, `share`'s next, which must
 * have that name. */
rk_status rk_ranking_next_param(rk_ranking_model *m, const rk_ranking_model *share, const char *name, rk_param **out,
                                bool *fresh);
rk_status rk_ranking_check_unique_names(const rk_ranking_model *m);
rk_status rk_ranking_dense(rk_ranking_builder *b, rk_param **out, const char *name, int64_t o, int64_t in);
rk_status rk_ranking_init_dense_params(rk_ranking_builder *b);
rk_status rk_ranking_table(rk_ranking_builder *b, rk_param **out, const char *name, int64_t V, int64_t D,
                           rk_table_kind kind);
/* *acc += term (*acc RK_NO_VALUE: *acc = term). */
rk_status rk_ranking_add_to(rk_ranking_builder *b, int *acc, int term);
/* Remember a kernel or bias for --l2_reg. */
rk_status rk_ranking_track_kernel(rk_ranking_builder *b, rk_param *p);

/* ---- inputs.c ---- */
rk_status rk_ranking_inputs(rk_ranking_builder *b);
rk_status rk_ranking_lookup(rk_ranking_builder *b, int *out, rk_param *t, int i, rk_pool pool, float l2);
rk_status rk_ranking_regularise_lookup(rk_ranking_builder *b, int lookup_value, float l2);
rk_status rk_ranking_flat(rk_ranking_builder *b, int i, int *out);
rk_status rk_ranking_concat_all(rk_ranking_builder *b, int *out, int64_t *width);
rk_status rk_ranking_stack(rk_ranking_builder *b, int *out, int from);

/* ---- heads.c ---- */
rk_status rk_ranking_heads(rk_ranking_builder *b, const int *xs, const int64_t *ws, const int *extra);
rk_status rk_ranking_shared_heads(rk_ranking_builder *b, int x, int64_t w, const int *extra);
rk_status rk_ranking_losses(rk_ranking_builder *b);

/* ---- bodies.c and multitask.c: the MLP block (x -> [linear, activation, dropout] per layer, the
 * parameters named <prefix>.<l>.weight/bias), and one builder per model ---- */
rk_status rk_ranking_mlp(rk_ranking_builder *b, int *out, int x, int64_t *width, const int64_t *layers, int n,
                         const char *prefix);
rk_status rk_ranking_build_mlp(rk_ranking_builder *b);
rk_status rk_ranking_build_dcn(rk_ranking_builder *b);
rk_status rk_ranking_build_dlrm(rk_ranking_builder *b);
rk_status rk_ranking_build_wide_n_deep(rk_ranking_builder *b);
rk_status rk_ranking_build_deepfm(rk_ranking_builder *b);
rk_status rk_ranking_build_mmoe(rk_ranking_builder *b);
rk_status rk_ranking_build_ple(rk_ranking_builder *b, int levels, const char *kind);

/* ---- ranking_model.c, model_dir.c ---- */
/* m->base: the model interface over m, once its graph is built (its handles and arrays). */
void rk_ranking_fill_base(rk_ranking_model *m);
/* model.json's "model" (the configuration) and "features" of m: the describe hook. */
json_t *rk_ranking_describe(const rk_ranking_model *m);

#endif
