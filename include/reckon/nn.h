/*
 * reckon/nn.h: the compute engine: a static graph of ops with forward and backward passes,
 * parameters that own their gradients, and the op table keyed by op and device.
 *
 * How a model runs (docs/design.md, "Compute graph"):
 *   rk_graph_create(&g, B)                       a graph for batch size B
 *   rk_graph_input / _ids / _ragged / _param     leaves
 *   rk_graph_linear(g, &h, x, &w, &b, RK_ACT_RELU), ...   ops: shapes are checked here, and a
 *                                                bad shape is an RK_ESHAPE naming op and shapes
 *   rk_graph_output(g, v)                        values the caller reads after a pass
 *   rk_graph_build(g, loss)                      plans all activation memory once (one arena)
 *   loop: fill rk_graph_input_*(), rk_graph_forward(g, RK_TRAIN), rk_graph_backward(g),
 *         optimizer step on the params, rk_graph_zero_grad(g)
 * Forward and backward allocate nothing. Backward adds into gradients (fan-out is right).
 * Value handles are small ints (>= 0); builders write the new value's handle to *out.
 */
#ifndef RECKON_NN_H
#define RECKON_NN_H

#include "reckon/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Rows of a table kept elsewhere (a table sharded by rows over ranks, reckon/shard.h): the rows
 * a step fetched, ids ascending. */
typedef struct {
  int64_t n;
  const int64_t *ids;   /* (n) ascending, unique */
  const float *rows;    /* (n, D) */
  /* Any rows of the whole table, [first, first + n) into out (n, D), for a saved model that
   * streams it (NULL: none); a collective where the table is sharded (src/train/run_shards.c). */
  rk_status (*read_rows)(void *ctx, void *out, int64_t first, int64_t n);
  void *ctx;
} rk_row_cache;
/* The row of table row `id` (D floats), NULL when the cache does not hold it. */
const float *rk_row_cache_find(const rk_row_cache *c, int64_t id, int64_t D);

/* A trainable parameter. Dense parameters have a gradient of the value's shape. Sparse ones
 * (embedding tables, shape (V, D)) have a row-sparse gradient: after backward, grad holds
 * n_grad_rows compact rows of D floats, and grad_rows[k] is the table row of compact row k
 * (unique, ascending, so updates are deterministic). Optimizers update only those rows. */
typedef struct rk_param {
  char name[128];          /* the module path: Merlin column names with their prefixes outgrow 64 */
  rk_tensor value;          /* f32 */
  rk_tensor grad;           /* dense: like value; sparse: (max_rows, D) compact rows */
  bool sparse;
  int64_t *grad_rows;       /* sparse: (max_rows) */
  int64_t n_grad_rows;      /* sparse: rows touched by the last backward */
  int group;                /* parameter group (its own learning rate and regularisation) */
  bool no_decay;            /* its group's weight_decay is not applied (biases and LayerNorm
                               weights in Hugging Face's Trainer; reckon/optim.h) */
  bool lazy_rows;           /* dense (V, ...): the optimizer steps only the rows whose gradient is
                               non-zero, as on a sparse table (reckon/optim.h) */
  struct rk_param_arena *arena;   /* dense: the arena its value and gradient view, or NULL (own) */
  const rk_row_cache *fetched;    /* sparse, held elsewhere: value has a shape and no memory, and
                                     lookups read these rows (rk_param_init_sparse_fetched) */
} rk_param;

/* A dense parameter with a zeroed value and gradient of `shape`. */
rk_status rk_param_init(rk_param *p, const char *name, int ndim, const int64_t *shape);
/* A sparse (V, D) table. Its compact gradient buffers are sized by rk_graph_build (max_rows =
 * the most ids one backward can touch), so a table shared by several graphs fits all of them. */
rk_status rk_param_init_sparse(rk_param *p, const char *name, int64_t V, int64_t D);
/* A sparse (V, D) table whose rows live elsewhere (sharded over ranks): no memory for the
 * value; the embedding and embedding_bag lookups read `rows`, which the caller fills before each
 * forward; the gradient is the usual compact one, with table rows. CPU graphs only. */
rk_status rk_param_init_sparse_fetched(rk_param *p, const char *name, int64_t V, int64_t D, const rk_row_cache *rows);
void rk_param_free(rk_param *p);
/* value[i] = uniform in [lo, hi) / normal(0, std) from (seed, stream, i): reproducible. */
void rk_param_fill_uniform(rk_param *p, uint64_t seed, uint64_t stream, float lo, float hi);
/* A table's rows held apart (a shard, reckon/shard.h): row k of p (rows of them) gets the values
 * rk_param_fill_uniform gives row first + k * step of the whole table. */
void rk_param_fill_uniform_rows(rk_param *p, uint64_t seed, uint64_t stream, float lo, float hi, int64_t first,
                                int64_t step, int64_t rows);
void rk_param_fill_normal(rk_param *p, uint64_t seed, uint64_t stream, float std);
/* Dense: grad = 0. Sparse: n_grad_rows = 0. */
void rk_param_zero_grad(rk_param *p);
/* Sparse: compact gradient buffers for at least `rows` rows (at most V, at least 1), replaced
 * empty when they are smaller (a graph sizes them at build; data-parallel steps may need more). */
rk_status rk_param_reserve_grad_rows(rk_param *p, int64_t rows);

/* The parameter arena (llm.c's layout): the dense parameters' values live in one allocation and
 * their gradients in another, each parameter a view at its row of a size table, so zeroing the
 * gradients is one call, and a host-to-device copy or an allreduce would be one too. Builders
 * declare parameters (the size table fills), then one rk_param_arena_alloc gives them memory,
 * zeroed, from the CPU backend's alloc (src/nn/backend.h). Embedding tables are not in it: they
 * are large, sparse, and keep their own memory (rk_param_init_sparse).
 * Initial values are drawn after the allocation, keyed by (seed, parameter), never by where a
 * parameter sits in the arena. */
typedef struct rk_param_arena rk_param_arena;

rk_status rk_param_arena_create(rk_param_arena **out);
/* Declare p, a dense parameter of `shape`, as the arena's next row: it has its shape now and its
 * memory (value and gradient, zeros) at rk_param_arena_alloc. A graph may use it before that,
 * but rk_graph_build needs the memory. */
rk_status rk_param_arena_add(rk_param_arena *a, rk_param *p, const char *name, int ndim, const int64_t *shape);
/* One allocation for every declared value and one for the gradients; each parameter's tensors
 * become views at 64-byte-aligned offsets, in declaration order. Once per arena. */
rk_status rk_param_arena_alloc(rk_param_arena *a);
/* Every gradient in the arena = 0, in one call. */
void rk_param_arena_zero_grad(const rk_param_arena *a);
int rk_param_arena_count(const rk_param_arena *a);
/* Floats in each allocation (alignment padding included), and where p's value starts in it. */
int64_t rk_param_arena_numel(const rk_param_arena *a);
int64_t rk_param_arena_offset(const rk_param *p);
/* The one arena all of whose parameters are among params (which may hold tables and parameters
 * of their own too), or NULL (none, several, or only part of one): a graph zeroes such an arena
 * in one call, and an optimizer lays its slots out like it. */
rk_param_arena *rk_param_arena_whole(rk_param *const *params, int n);
/* Bytes of the value allocation (the gradients take as many); 0 before rk_param_arena_alloc. */
size_t rk_param_arena_bytes(const rk_param_arena *a);
/* NULL is fine. Frees the memory, not the rk_param structs: free those first or after, their
 * tensors are views (rk_param_free on one clears it). */
void rk_param_arena_free(rk_param_arena *a);

/* Row-major C (M, N) = alpha op(A) op(B) + beta C on OpenBLAS (src/nn/gemm.c), parallel over
 * chunks of C's rows that depend only on the sizes, with OpenBLAS single-threaded inside each:
 * the same bits for any thread count. For ops outside the graph too (catalogue scoring). */
void rk_sgemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
              const float *B, int64_t ldb, float beta, float *C, int64_t ldc);

/* ---------------------------------------------------------------------------------------------
 * Initialisers (src/nn/init.c), as Keras defines them. Element i of parameter `param_index` is a
 * pure function of (seed, param_index, i): the same values for any thread count, any order of
 * parameters and any place in a parameter arena.
 * Fans come from the shape as Keras computes them, for Keras' (in, out) kernel layout: 0-d: 1, 1;
 * 1-d (n): n, n; 2-d (a, b): a, b; more: receptive field = product of all but the last two dims,
 * fan_in = shape[-2] * field, fan_out = shape[-1] * field.
 * ------------------------------------------------------------------------------------------- */
#define RK_INIT_LIST(X)                                                                          \
  X(ZEROS,            "zeros")             /* 0 */                                               \
  X(ONES,             "ones")              /* 1 */                                               \
  X(CONSTANT,         "constant")          /* scale */                                           \
  X(UNIFORM,          "uniform")           /* U[-scale, scale): Keras RandomUniform, 0.05 */     \
  X(NORMAL,           "normal")            /* N(0, scale^2): Keras RandomNormal, 0.05 */         \
  X(TRUNCATED_NORMAL, "truncated_normal")  /* N(0, scale^2), redrawn beyond 2 scale */           \
  X(GLOROT_UNIFORM,   "glorot_uniform")    /* U(+-sqrt(6 / (fan_in + fan_out))) */               \
  X(GLOROT_NORMAL,    "glorot_normal")     /* truncated, variance 2 / (fan_in + fan_out) */      \
  X(HE_UNIFORM,       "he_uniform")        /* U(+-sqrt(6 / fan_in)) */                           \
  X(HE_NORMAL,        "he_normal")         /* truncated, variance 2 / fan_in */

typedef enum {
#define RK_INIT_ENUM(name, text) RK_INIT_##name,
  RK_INIT_LIST(RK_INIT_ENUM)
#undef RK_INIT_ENUM
  RK_INIT_COUNT
} rk_init_kind;

typedef struct {
  rk_init_kind kind;
  double scale;       /* constant: the value; uniform: the limit; (truncated) normal: the std */
  int64_t fan_in;     /* glorot / he: 0 = from the shape; set both for another weight layout */
  int64_t fan_out;
} rk_init_spec;

const char *rk_init_kind_name(rk_init_kind kind);
rk_status rk_init_kind_parse(const char *name, rk_init_kind *out);
/* Keras' defaults: scale 0.05 for uniform, normal and truncated normal, 0 otherwise. */
rk_init_spec rk_init_spec_default(rk_init_kind kind);
void rk_init_fans(int64_t *fan_in, int64_t *fan_out, const rk_tensor *t);
/* Fill an f32 CPU tensor (other dtypes: RK_EUNSUPPORTED). */
rk_status rk_init_tensor(rk_tensor *t, const rk_init_spec *spec, uint64_t seed,
                         uint64_t param_index);
/* A table's rows held apart (a shard, reckon/shard.h): t (rows, D) gets, in row k, the values
 * rk_init_tensor gives row first + k * step of the whole (V, D) table. */
rk_status rk_init_tensor_rows(rk_tensor *t, const rk_init_spec *spec, uint64_t seed, uint64_t param_index, int64_t V,
                              int64_t first, int64_t step);

/* ---------------------------------------------------------------------------------------------
 * The op list: one X-macro row per op, X(NAME, stem, backends). Each stem has its kernels in
 * src/nn/ops/<stem>.c (declared in src/nn/ops/ops.h); `backends` says which backends implement
 * it (RK_ON_CPU, RK_ON_CUDA, or both), and each backend's op table (src/nn/backend.h) has a
 * row for exactly those ops.
 * ------------------------------------------------------------------------------------------- */
#define RK_ON_CPU  (1u << RK_DEVICE_CPU)
#define RK_ON_CUDA (1u << RK_DEVICE_CUDA)
#define RK_OP_LIST(X)                             \
  X(LINEAR,          linear,          RK_ON_CPU) \
  X(ADD,             add,             RK_ON_CPU) \
  X(MUL,             mul,             RK_ON_CPU) \
  X(CONCAT,          concat,          RK_ON_CPU) \
  X(RESHAPE,         reshape,         RK_ON_CPU) \
  X(SUM,             sum,             RK_ON_CPU) \
  X(MEAN,            mean,            RK_ON_CPU) \
  X(RELU,            relu,            RK_ON_CPU) \
  X(SIGMOID,         sigmoid,         RK_ON_CPU) \
  X(TANH,            tanh,            RK_ON_CPU) \
  X(BCE_LOGITS,      bce_logits,      RK_ON_CPU) \
  X(MSE,             mse,             RK_ON_CPU) \
  X(EMBEDDING,       embedding,       RK_ON_CPU) \
  X(EMBEDDING_BAG,   embedding_bag,   RK_ON_CPU) \
  X(L2,              l2,              RK_ON_CPU) \
  X(EMBEDDING_L2,    embedding_l2,    RK_ON_CPU) \
  X(DOT_INTERACTION, dot_interaction, RK_ON_CPU) \
  X(CROSS,           cross,           RK_ON_CPU) \
  X(FM,              fm,              RK_ON_CPU) \
  X(GATE,            gate,            RK_ON_CPU) \
  X(SPLIT,           split,           RK_ON_CPU) \
  X(TRANSPOSE,       transpose,       RK_ON_CPU) \
  X(MATMUL,          matmul,          RK_ON_CPU) \
  X(LEAKY_RELU,      leaky_relu,      RK_ON_CPU) \
  X(GELU,            gelu,            RK_ON_CPU) \
  X(SELU,            selu,            RK_ON_CPU) \
  X(SOFTMAX,         softmax,         RK_ON_CPU) \
  X(LOG_SOFTMAX,     log_softmax,     RK_ON_CPU) \
  X(DROPOUT,         dropout,         RK_ON_CPU) \
  X(LAYER_NORM,      layer_norm,      RK_ON_CPU) \
  X(BATCH_NORM,      batch_norm,      RK_ON_CPU) \
  X(SOFTMAX_CE,      softmax_ce,      RK_ON_CPU) \
  X(HASH_CROSS,      hash_cross,      RK_ON_CPU) \
  X(ATTENTION,       attention,       RK_ON_CPU) \
  X(GATHER,          gather,          RK_ON_CPU) \
  X(GRU,             gru,             RK_ON_CPU) \
  X(LSTM,            lstm,            RK_ON_CPU) \
  X(RNN,             rnn,             RK_ON_CPU) \
  X(MASK_FILL,       mask_fill,       RK_ON_CPU) \
  X(PREFIX_MEAN,     prefix_mean,     RK_ON_CPU) \
  X(GATHER_ROWS,     gather_rows,     RK_ON_CPU) \
  X(REL_ATTENTION,   rel_attention,   RK_ON_CPU) \
  X(SAMPLED_LOGITS,  sampled_logits,  RK_ON_CPU) \
  X(SAMPLED_LOSS,    sampled_loss,    RK_ON_CPU) \
  X(RTD_REPLACE,     rtd_replace,     RK_ON_CPU) \
  X(RTD_INTERACTION, rtd_interaction, RK_ON_CPU) \
  X(WEIGHTED_SUM,    weighted_sum,    RK_ON_CPU) \
  X(CATALOG_CE,      catalog_ce,      RK_ON_CPU)

typedef enum {
#define RK_OP_ENUM(name, stem, backends) RK_OP_##name,
  RK_OP_LIST(RK_OP_ENUM)
#undef RK_OP_ENUM
  RK_OP_COUNT
} rk_op;

const char *rk_op_name(rk_op op);   /* the stem: "linear" */

typedef struct rk_graph rk_graph;
typedef enum { RK_TRAIN = 0, RK_EVAL = 1 } rk_mode;
typedef enum { RK_ACT_NONE, RK_ACT_RELU, RK_ACT_SIGMOID, RK_ACT_TANH } rk_act;
/* "linear" (RK_ACT_NONE), "relu", "sigmoid", "tanh" (src/nn/act.c); RK_EUSAGE naming the choices. */
rk_status rk_act_parse(const char *name, rk_act *out);
const char *rk_act_name(rk_act act);
typedef enum { RK_POOL_SUM, RK_POOL_MEAN } rk_pool;
#define RK_REDUCE_ALL (-1)          /* reduce every axis into a scalar */
#define RK_NO_VALUE (-1)            /* an optional value handle left out */

/* When OpenBLAS fell back to generic kernels on a CPU it does not know, the OPENBLAS_CORETYPE
 * that would give it the right ones ("SkylakeX", "Haswell"); NULL when its choice is fine. Only
 * a new process can use it (the reckon command re-executes itself with it set). */
const char *rk_blas_better_coretype(void);
/* The kernels OpenBLAS runs ("SkylakeX", "Prescott", ...). */
const char *rk_blas_corename(void);
/* For a program's main: when rk_blas_better_coretype names kernels and OPENBLAS_CORETYPE is
 * unset, set it and execute this program again with argv (returns when nothing is to be done
 * or the exec failed). */
void rk_blas_choose_kernels(char **argv);

/* CUDA devices visible (0 when built without CUDA or no GPU is present; src/nn/backend_cuda.*). */
int rk_cuda_device_count(void);
const char *rk_cuda_device_name(int device, char *buf, size_t size);

/* ---- the graph ----------------------------------------------------------------------------- */
rk_status rk_graph_create(rk_graph **out, int64_t batch);
void rk_graph_free(rk_graph *g);                          /* NULL is fine; params are not freed */
int64_t rk_graph_batch(const rk_graph *g);
/* Dropout masks are keyed by (seed, op, step, element); the step advances on each train forward. */
void rk_graph_set_seed(rk_graph *g, uint64_t seed);
void rk_graph_set_step(rk_graph *g, uint64_t step);
/* Keep v readable after forward (and backward); everything else may share memory. */
rk_status rk_graph_output(rk_graph *g, int v);
/* Plan memory. loss: a scalar to differentiate, or RK_NO_VALUE for an inference-only graph. */
rk_status rk_graph_build(rk_graph *g, int loss);
rk_status rk_graph_forward(rk_graph *g, rk_mode mode);
/* Seeds d loss = 1 and adds into every parameter gradient. Needs a train forward just before. */
rk_status rk_graph_backward(rk_graph *g);
/* The caller promises that the parameters g reads will not change from now on (a served model):
 * ops may then keep what they derive from them between passes (linear's transposed weight for
 * rows in use) instead of deriving it each forward. After rk_graph_build; backward is refused
 * from then on. */
rk_status rk_graph_freeze_params(rk_graph *g);
/* Zero the gradients of every parameter the graph uses. */
void rk_graph_zero_grad(rk_graph *g);
/* Told during rk_graph_backward, once per parameter of the graph (`param` as rk_graph_param_at),
 * as soon as the pass will not write that gradient again, so a caller can ship gradients while
 * backward goes on (data-parallel buckets, src/train/step_pieces.c): right after the backward
 * of the last node that writes it (the earliest in forward order); before the first node for a
 * parameter no node of the pass writes; after the row assembly for a sparse table. The order is
 * fixed by rk_graph_build (rk_graph_grad_ready_order), ties in parameter order. The hook runs on
 * the calling thread between nodes; a status other than RK_OK ends the pass with that status.
 * On a device backend the node's kernels may still be running: synchronise before reading. */
typedef rk_status (*rk_graph_grad_ready_fn)(void *ctx, int param);
void rk_graph_set_grad_ready_hook(rk_graph *g, rk_graph_grad_ready_fn fn, void *ctx);   /* fn NULL: none */
/* The graph's parameter indices (rk_graph_param_count of them) in the order the hook reports
 * them; NULL before rk_graph_build. */
const int *rk_graph_grad_ready_order(const rk_graph *g);
/* The parameters the graph uses, in first-use order (for optimizers). */
int rk_graph_param_count(const rk_graph *g);
rk_param *rk_graph_param_at(const rk_graph *g, int i);
/* Bytes of the planned activation arena, and what it would be without reuse (statistics). */
size_t rk_graph_arena_bytes(const rk_graph *g);
size_t rk_graph_unplanned_bytes(const rk_graph *g);

/* ---- values -------------------------------------------------------------------------------- */
/* A dense f32 input of per-example shape `shape`: the value is (B, shape...). */
rk_status rk_graph_input(rk_graph *g, int *out, const char *name, int ndim, const int64_t *shape);
/* Single-valued ids: int64 (B, F). */
rk_status rk_graph_input_ids(rk_graph *g, int *out, const char *name, int64_t F);
/* Multi-hot ids as a ragged list: offsets (B + 1), ids (max_ids); example b owns
 * ids[offsets[b] .. offsets[b + 1]). offsets[0] must be 0 and offsets[B] <= max_ids. */
rk_status rk_graph_input_ragged(rk_graph *g, int *out, const char *name, int64_t max_ids);
/* A dense parameter used as a value (its shape has no batch axis); grads go to p->grad. */
rk_status rk_graph_param(rk_graph *g, int *out, rk_param *p);
/* Data of inputs (valid after rk_graph_create's caller added them; stable after build). */
float *rk_graph_input_f32(rk_graph *g, int v);
int64_t *rk_graph_input_ids_data(rk_graph *g, int v);
int64_t *rk_graph_input_offsets(rk_graph *g, int v);
/* The ids the graph's lookups of table t (embedding and embedding_bag nodes) read from the
 * inputs as they are filled now, padding left out, appended to *ids (*n of them, room for *cap,
 * grown): what a table held elsewhere must fetch before the forward (reckon/shard.h). A lookup
 * whose ids are computed by the graph, not an input, is RK_EUNSUPPORTED naming the table. */
rk_status rk_graph_table_ids(const rk_graph *g, const rk_param *t, int64_t **ids, int64_t *n, int64_t *cap);
/* After a forward: a value's data (the mode of that forward). Only values marked with
 * rk_graph_output are sure to stay intact. */
const float *rk_graph_value_f32(const rk_graph *g, int v);
int rk_graph_value_ndim(const rk_graph *g, int v);
const int64_t *rk_graph_value_shape(const rk_graph *g, int v);
int64_t rk_graph_value_numel(const rk_graph *g, int v);

/* ---- ops, group 1 -------------------------------------------------------------------------- */
/* out (N.., OC) = act(x (N.., C) w^T + b); w (OC, C), b (OC) or NULL. */
rk_status rk_graph_linear(rk_graph *g, int *out, int x, rk_param *w, rk_param *b, rk_act act);
/* a + b, a * b: b has a's shape, or a trailing part of it (broadcast over the leading axes). */
rk_status rk_graph_add(rk_graph *g, int *out, int a, int b);
rk_status rk_graph_mul(rk_graph *g, int *out, int a, int b);
/* Any number of inputs (more than a node holds become a tree of concats). */
rk_status rk_graph_concat(rk_graph *g, int *out, int n, const int *xs, int axis);
/* Same numel; one entry of shape may be -1. A copy, not a view. */
rk_status rk_graph_reshape(rk_graph *g, int *out, int x, int ndim, const int64_t *shape);
/* Reduce one axis (removed) or RK_REDUCE_ALL (a scalar). */
rk_status rk_graph_sum(rk_graph *g, int *out, int x, int axis);
rk_status rk_graph_mean(rk_graph *g, int *out, int x, int axis);
rk_status rk_graph_relu(rk_graph *g, int *out, int x);
rk_status rk_graph_sigmoid(rk_graph *g, int *out, int x);
rk_status rk_graph_tanh(rk_graph *g, int *out, int x);
/* mean_i w_i * (max(z,0) - z y + log(1 + exp(-|z|))) over all elements; weights RK_NO_VALUE = 1.
 * logits, labels, weights: the same shape ((B) or (B, 1)). */
rk_status rk_graph_bce_logits(rk_graph *g, int *out, int logits, int labels, int weights);
/* mean_i w_i (pred_i - target_i)^2; weights RK_NO_VALUE = 1 (shapes as bce_logits). */
rk_status rk_graph_mse(rk_graph *g, int *out, int pred, int target, int weights);
/* out (B, F, D) = table[ids (B, F)]; ids == padding (use -1 for none) give zeros and no grad.
 * Ids outside [0, V) are an RK_ERANGE at forward. The table is sparse (row-sparse gradient), or
 * a dense (V, D) parameter (a dense gradient: an item table tied to an output layer). */
rk_status rk_graph_embedding(rk_graph *g, int *out, rk_param *table, int ids, int64_t padding);
/* out (B, D): the sum or mean of table rows over each example's ragged ids (padding skipped;
 * mean divides by the non-padding count; an empty bag gives zeros). */
rk_status rk_graph_embedding_bag(rk_graph *g, int *out, rk_param *table, int ragged, rk_pool pool,
                                 int64_t padding);
/* lambda * sum ||p||^2 over n dense parameters: a scalar. */
rk_status rk_graph_l2(rk_graph *g, int *out, int n, rk_param *const *params, float lambda);
/* lambda * sum ||table[r]||^2 over the distinct rows r an embedding / embedding_bag looked up
 * (padding skipped): a scalar; its gradient joins the table's sparse gradient. */
rk_status rk_graph_embedding_l2(rk_graph *g, int *out, int lookup, float lambda);

/* ---- ops, group 2 -------------------------------------------------------------------------- */
/* DLRM (Naumov et al. 2019, sec. 2.1.3): T = [dense (B, D); emb (B, F, D)], the dots <T_i, T_j>
 * for j < i (row-major over i), out (B, D + (F+1)F/2) = [dense, dots]. */
rk_status rk_graph_dot_interaction(rk_graph *g, int *out, int dense, int emb);
/* DCN-v2 (Wang et al. 2021, eq. 1): out = x0 * (x w^T + b) + x, x0, x (B, D), w (D, D).
 * Low rank (sec. 5.1): pass u (D, R) and v (D, R) and w = NULL: x w^T becomes u (v^T x). */
rk_status rk_graph_cross(rk_graph *g, int *out, int x0, int x, rk_param *w, rk_param *u,
                         rk_param *v, rk_param *b);
/* FM (Rendle 2010, eq. 5): out (B, 1) = 0.5 * sum_d ((sum_f v)^2 - sum_f v^2) of emb (B, F, D),
 * plus sum_f first (B, F) when first is not RK_NO_VALUE. */
rk_status rk_graph_fm(rk_graph *g, int *out, int emb, int first);
/* out (B, D) = sum_e softmax(logits (B, E) / temperature)_e * experts (B, E, D). */
rk_status rk_graph_gate(rk_graph *g, int *out, int experts, int logits, float temperature);
/* n outputs of sizes[i] along axis (the sizes add up to the axis). */
rk_status rk_graph_split(rk_graph *g, int *outs, int x, int axis, int n, const int64_t *sizes);
/* Swap axes a and b (a copy). */
rk_status rk_graph_transpose(rk_graph *g, int *out, int x, int a, int b);
/* a (M, K) b (K, N); a (S, M, K) b (S, K, N) batched; a (S, M, K) b (K, N) shared. */
rk_status rk_graph_matmul(rk_graph *g, int *out, int a, int b);

/* ---- ops, group 3 -------------------------------------------------------------------------- */
rk_status rk_graph_leaky_relu(rk_graph *g, int *out, int x, float slope);
/* approximate: the tanh form; else the erf form. */
rk_status rk_graph_gelu(rk_graph *g, int *out, int x, bool approximate);
rk_status rk_graph_selu(rk_graph *g, int *out, int x);
/* Over the last axis, of x / temperature. */
rk_status rk_graph_softmax(rk_graph *g, int *out, int x, float temperature);
rk_status rk_graph_log_softmax(rk_graph *g, int *out, int x);
/* Train: zero with probability p, else scale 1/(1-p); eval: identity. alpha: alpha dropout
 * (Klambauer et al. 2017) for SELU networks. */
rk_status rk_graph_dropout(rk_graph *g, int *out, int x, float p, bool alpha);
/* Over the last axis D; gamma, beta (D) or NULL. */
rk_status rk_graph_layer_norm(rk_graph *g, int *out, int x, rk_param *gamma, rk_param *beta,
                              float eps);
/* x (B, C): train normalises with the batch statistics (biased variance) and updates the
 * running ones (momentum as PyTorch, unbiased variance); eval uses the running ones. */
rk_status rk_graph_batch_norm(rk_graph *g, int *out, int x, rk_param *gamma, rk_param *beta,
                              float eps, float momentum);
/* The running statistics of a batch_norm value (mean, var), owned by the graph, (C) each. */
float *rk_graph_batch_norm_running(rk_graph *g, int bn, bool var);
/* mean over non-ignored rows of cross-entropy of logits (B, C) / temperature against labels
 * ids (B, 1), with label smoothing eps (PyTorch's definition); temperature 1: plain logits. */
rk_status rk_graph_softmax_ce(rk_graph *g, int *out, int logits, int labels, int64_t ignore_index,
                              float smoothing, float temperature);
/* The same loss of the logits h (R, D) W^T + b over a whole catalogue, W (V, D) and b (V) or
 * NULL, without storing the (R, V) logits (a next-item head: src/nn/ops/catalog_ce.c). h may
 * have rows in use (gather_rows); labels (R) or (R, 1). */
rk_status rk_graph_catalog_ce(rk_graph *g, int *out, int h, int labels, rk_param *w, rk_param *b,
                              int64_t ignore_index, float smoothing, float temperature);
/* ids (B, 1) = 1 + hash(a[:, fa], b[:, fb]) mod (buckets - 1), for a wide part's embedding
 * (row 0 stays the padding row; a padding id in either input gives 0). */
rk_status rk_graph_hash_cross(rk_graph *g, int *out, int a, int fa, int b, int fb, int64_t buckets);

/* ---- ops for sequences (B sessions x T positions; docs/design.md, "Sequence ops") --------- */
/* Multi-head self-attention on a fused projection qkv (B, T, 3D) = [q | k | v]: out (B, T, D)
 * = per head dropout(softmax(q k^T / sqrt(D / heads))) v, heads side by side. causal: position
 * t sees keys at or before t. key_ids: RK_NO_VALUE, or int64 (B, T) whose `padding` entries are
 * keys no query sees; a query with no visible key gives zeros. dropout: on the probabilities
 * (train only). weights: NULL, or *weights becomes a (B, heads, T, T) value of the
 * probabilities before dropout (for logging). qkv may instead be the packed real rows (R, 3D)
 * of a (B, T) body (rows in use, from gather_rows; key_ids RK_NO_VALUE and no weights): each
 * session's rows attend among themselves, out (R, D) packed alike. */
rk_status rk_graph_attention(rk_graph *g, int *out, int *weights, int qkv, int64_t heads, bool causal,
                             int key_ids, int64_t padding, float dropout);
/* Multi-head self-attention with relative positions (Transformer-XL, XLNet; src/nn/ops/
 * rel_attention.c): score(i, j) = ((q_i + r_w_bias) k_j + (q_i + r_r_bias) kr(i - j)) / sqrt(dh),
 * kr = E r^T for E the sinusoid of each distance. out (B, T, D); weights: NULL, or (B, heads, T, T)
 * probabilities before dropout at the positions' keys. q_src and kv_src may instead be the packed
 * real rows (R, 3D) of a (B, T) body, from one gather_rows (key_ids RK_NO_VALUE, no weights):
 * each session's rows attend among themselves at their original positions, out (R, D). */
typedef struct {
  int q_src;                 /* (B, T, 3D): its q columns are the queries */
  int kv_src;                /* (B, T, 3D): its k and v columns the keys and values (q_src: self-attention) */
  rk_param *r;               /* (D, D): the relative projection, (out, in) */
  rk_param *r_w_bias, *r_r_bias;   /* (D): per head dh entries each */
  int64_t heads;
  bool causal;               /* query t sees positions at or before t */
  int key_ids;               /* int64 (B, T) or RK_NO_VALUE: `padding` entries are keys no query sees */
  int64_t padding;
  int hidden;                /* int64 (B, T T) or RK_NO_VALUE: non-zero (i, j): query i does not see key j */
  bool self_visible;         /* a query sees its own position whatever `hidden` says */
  int64_t mem;               /* zero memory slots before the positions, seen by every query */
  float dropout;             /* on the probabilities (train only) */
  float pos_dropout;         /* on the sinusoid table (train only) */
} rk_rel_attention;
rk_status rk_graph_rel_attention(rk_graph *g, int *out, int *weights, const rk_rel_attention *a);
/* out (B, K, D) = x (B, T, D) at positions index (B, K) in [0, T), or -1: a zero row. */
rk_status rk_graph_gather(rk_graph *g, int *out, int x, int index);
/* Rows in use (docs/design.md, "Rows in use"): out (R, D) = the rows of x (flattened to (N, D))
 * named by index (int64, R entries in all): row numbers in [0, N) up to the first -1, then -1s.
 * Only those n leading rows of out are in use this pass: the ops after it (those that compute
 * row by row: linear, layer_norm, dropout, gelu, add, attention, the losses; any other op
 * refuses such a value at build time) compute on n rows, and rows of x no entry names get no
 * gradient. For a loss over the labelled rows only, or a session body over its real rows. */
rk_status rk_graph_gather_rows(rk_graph *g, int *out, int x, int index);
/* The rows of v's leading axis in use in the last forward (its full length unless it comes from
 * rk_graph_gather_rows). */
int64_t rk_graph_value_rows(const rk_graph *g, int v);
/* out = x (B, T, D) with the rows where mask (int64 (B, T)) is non-zero replaced by value (D):
 * the learnable [MASK] vector of masked and causal LM batches. */
rk_status rk_graph_mask_fill(rk_graph *g, int *out, int x, int mask, rk_param *value);
/* out (B, T, D) row t = the mean of x (B, T, D) rows 0..t of its session, padded ones included
 * (the avgseq model's body, AvgSeq's cumsum / arange). */
rk_status rk_graph_prefix_mean(rk_graph *g, int *out, int x);
/* index (B) = the last position of each session whose id is not padding, or -1 (empty). */
void rk_seq_last_positions(int64_t *index, const int64_t *ids, int64_t B, int64_t T, int64_t padding);
/* One recurrent layer over x (B, T, I), batch first, zero initial state, as PyTorch's nn.GRU,
 * nn.LSTM and nn.RNN (tanh) with their weight layout and gate order: w_ih (G H, I), w_hh (G H, H),
 * b_ih, b_hh (G H) or NULL, G = 3 (r, z, n), 4 (i, f, g, o), 1. out (B, T, H): the hidden state
 * of every step. step_ids: RK_NO_VALUE, or int64 (B, T); a step whose id is `padding` keeps the
 * state and outputs zeros (right padding: PyTorch's packed sequences). */
rk_status rk_graph_gru(rk_graph *g, int *out, int x, int step_ids, int64_t padding, rk_param *w_ih,
                       rk_param *w_hh, rk_param *b_ih, rk_param *b_hh);
rk_status rk_graph_lstm(rk_graph *g, int *out, int x, int step_ids, int64_t padding, rk_param *w_ih,
                        rk_param *w_hh, rk_param *b_ih, rk_param *b_hh);
rk_status rk_graph_rnn(rk_graph *g, int *out, int x, int step_ids, int64_t padding, rk_param *w_ih,
                       rk_param *w_hh, rk_param *b_ih, rk_param *b_hh);

/* ---- heads over candidate items (sampled softmax, negative sampling) ------------------------ */
/* Candidate samplers over ids [first, V): log-uniform (Zipf-like, ids sorted by decreasing
 * frequency) or uniform. */
typedef enum { RK_SAMPLER_LOG_UNIFORM, RK_SAMPLER_UNIFORM } rk_sampler;
/* P(id) of sampler s (0 outside [first, V)). */
double rk_sampler_probability(rk_sampler s, int64_t id, int64_t first, int64_t V);
/* ids (N): N draws with replacement from the stream (seed, stream). */
void rk_sampler_draw(int64_t *ids, rk_sampler s, int64_t N, int64_t first, int64_t V, uint64_t seed, uint64_t stream);
/* ids (N): the first N distinct ids of the stream's draws, in the order drawn (TensorFlow's
 * unique=True); returns the draws it took. set: scratch of rk_sampler_set_size(N) int64.
 * Needs N <= V - first. */
int64_t rk_sampler_draw_unique(int64_t *ids, int64_t *set, rk_sampler s, int64_t N, int64_t first, int64_t V,
                               uint64_t seed, uint64_t stream);
int64_t rk_sampler_set_size(int64_t N);
/* The expected count of id among `tries` draws: tries P(id) with replacement, or the chance it
 * is among the unique ones, 1 - (1 - P(id))^tries (TensorFlow's expected counts). */
double rk_sampler_expected_count(rk_sampler s, int64_t id, int64_t first, int64_t V, int64_t tries, bool unique);
typedef struct {
  int64_t n_sampled;     /* N draws per forward, shared by every row (0: none) */
  rk_sampler sampler;
  int64_t first_id;      /* draws over [first_id, V): past the padding id */
  bool in_batch;         /* the batch's targets are candidates too (before the draws) */
  bool logq;             /* subtract log(the expected count of id) from the target's and the drawn
                            logits: N P(id), or 1 - (1 - P(id))^tries with unique draws */
  bool unique;           /* draw until N distinct ids (given draws are taken as they are) */
  int64_t ignore;        /* the label of rows without a target */
  float temperature;     /* logits are divided by it */
  const int64_t *given;  /* NULL: draw; else the N ids to use at every forward instead (fixed draws
                            for tests, or a sampler of the caller's), kept by the caller while the
                            graph lives */
} rk_sampled_spec;
/* out (B, T, 1 + M) = the logits of h (B, T, D) against its target (labels (B, T), column 0)
 * and M candidates shared by the batch (the R = B T in-batch targets, then N draws from the
 * (seed, op, step) stream) under w (V, D) and b (V) or NULL; a candidate that is the row's
 * target, a padding label or (in-batch) its own session's target is -inf; ignored rows are 0.
 * h with rows in use (gather_rows): R of them, labels and (in-batch) sessions, int64 (B, T),
 * each row's session, in front; sessions RK_NO_VALUE: row r's session is r / T.
 * src/nn/ops/sampled_logits.c has the definition. */
rk_status rk_graph_sampled_logits(rk_graph *g, int *out, int h, int labels, int sessions, rk_param *w, rk_param *b,
                                  const rk_sampled_spec *s);
/* The losses over such logits (column 0 the target, -inf columns absent), mean over the rows
 * whose label is not ignore_index; lambda: bpr_max_reg's. src/nn/ops/sampled_loss.c. */
typedef enum { RK_SAMPLED_CE, RK_SAMPLED_BPR, RK_SAMPLED_TOP1, RK_SAMPLED_TOP1_MAX, RK_SAMPLED_BPR_MAX_REG } rk_sampled_loss;
rk_status rk_graph_sampled_loss(rk_graph *g, int *out, int logits, int labels, rk_sampled_loss kind,
                                int64_t ignore_index, float lambda);

/* Replacement token detection (ELECTRA, Clark et al. 2020, sec. 2), src/nn/ops/rtd_replace.c:
 * at each labelled row, an item drawn from the generator's softmax over logits (R, V) /
 * temperature (the labelled rows' logits in the order of `rows`), over the whole catalogue, or
 * (from_batch) over the labelled rows' targets (`packed`, the columns logits[:, packed]). The
 * body's rows: every row of items (B, T), or, body_rows given (int64 (B T): a packed body's
 * rows of B T in order, then -1), those; rows (int64 (B T)): the labelled rows as numbers of the
 * body's rows, then -1. Row r's draw comes from the (seed, step, r) stream, r in B T, so the
 * draws depend neither on threads nor on the packing. Outputs: over the B T rows, *fake int64,
 * items with the draws at the labelled rows, and *source int64, the row whose interaction each
 * row shows (itself, or from_batch the labelled row whose target was drawn; for
 * rk_graph_rtd_interaction); over the body's rows (its n rows in front, then 0), *replaced f32,
 * 1 where fake differs from items (a draw of the original item is not a replacement), and
 * *weight f32, n / (non-padding rows) at the rows whose item is not padding, else 0, so
 * bce_logits' mean over the n rows under it is the mean over those rows. No gradient flows back
 * (the draws are ids). */
rk_status rk_graph_rtd_replace(rk_graph *g, int *fake, int *source, int *replaced, int *weight, int logits, int rows,
                               int packed, int items, int body_rows, int64_t padding, float temperature,
                               bool from_batch);
/* Fixes the draws of the rtd_replace that made `fake`: given (B T) ids, row r's used at each
 * labelled row r, instead of the draws (NULL: draw again). Kept by the caller while the
 * graph lives (tests against a reference with fixed draws, as rk_sampled_spec.given). */
rk_status rk_graph_rtd_replace_fix(rk_graph *g, int fake, const int64_t *given);
/* out (B, T, D): row r = x (B, T, D)'s row source[r] (int64 (B, T), rows in [0, B T)), with no
 * gradient back into x: --rtd_use_batch_interaction's corrupted session from the batch's own
 * interaction rows (rk_graph_rtd_replace's source), detached as the reference detaches them.
 * src/nn/ops/rtd_interaction.c. */
rk_status rk_graph_rtd_interaction(rk_graph *g, int *out, int x, int source);
/* out () = wa a + wb b of two scalars (a joint loss's weighted terms), src/nn/ops/weighted_sum.c. */
rk_status rk_graph_weighted_sum(rk_graph *g, int *out, int a, float wa, int b, float wb);

/* ---- blocks (src/nn/blocks/) ---------------------------------------------------------------- */
/* A Transformer block's shape and regularisation. */
typedef struct {
  int64_t d_model, heads;
  int64_t d_ff;          /* the MLP's width; 0: 4 d_model */
  float dropout;         /* after each residual branch (GPT-2's resid_pdrop, BERT's hidden dropout) */
  float attn_dropout;    /* on the attention probabilities */
  float ln_eps;
  bool gelu_tanh;        /* the MLP's gelu: tanh form (GPT-2's gelu_new) or erf form (BERT's gelu) */
  bool causal;           /* each position sees only itself and the past */
} rk_transformer_config;

/* Its parameters, nn.Linear's (out, in) layout: qkv (3D, D) = [query; key; value] rows, proj
 * (D, D), fc (d_ff, D), out (D, d_ff); LayerNorms (D). */
#define RK_TRANSFORMER_BLOCK_PARAMS 12
typedef struct {
  rk_param ln1_gamma, ln1_beta, qkv_weight, qkv_bias, proj_weight, proj_bias;
  rk_param ln2_gamma, ln2_beta, fc_weight, fc_bias, out_weight, out_bias;
} rk_transformer_block;

/* Declare the block's 12 parameters in arena a, named "<prefix>.ln_1.weight", ..., in the order
 * of the struct. */
rk_status rk_transformer_block_declare(rk_transformer_block *blk, rk_param_arena *a, const char *prefix,
                                       const rk_transformer_config *c);
/* After rk_param_arena_alloc: weights N(0, std^2), the two projections into the residual
 * (attention's and the MLP's output) N(0, proj_std^2) (GPT-2 scales them by 1/sqrt(2 n_layer)),
 * biases 0, LayerNorm gamma 1 and beta 0. Parameter k of the block (struct order) draws from
 * (seed, first_stream + k): the model's parameter numbers, never the arena's layout. */
rk_status rk_transformer_block_init(rk_transformer_block *blk, uint64_t seed, uint64_t first_stream, double std,
                                    double proj_std);
/* x (B, T, d_model) -> out (B, T, d_model). GPT-2: pre-LayerNorm, x + attn(ln_1(x)), then
 * + mlp(ln_2(.)); BERT: post-LayerNorm, ln_1(x + attn(x)), then ln_2(. + mlp(.)). key_ids and
 * padding: the attention's key-padding mask (RK_NO_VALUE: none); weights: as rk_graph_attention.
 * x may be a packed body's real rows (R, d_model) from gather_rows (key_ids RK_NO_VALUE, no
 * weights): out is then packed alike, computed on the rows in use only. */
rk_status rk_graph_gpt2_block(rk_graph *g, int *out, int *weights, int x, rk_transformer_block *blk,
                              const rk_transformer_config *c, int key_ids, int64_t padding);
rk_status rk_graph_bert_block(rk_graph *g, int *out, int *weights, int x, rk_transformer_block *blk,
                              const rk_transformer_config *c, int key_ids, int64_t padding);

/* The relative-position layer of Transformer-XL and XLNet (src/nn/blocks/rel_transformer.c):
 * post-LayerNorm, rel_attention, a feed-forward of d_ff (4 d_model when 0) with ReLU or gelu. */
typedef enum { RK_REL_ACT_RELU, RK_REL_ACT_GELU, RK_REL_ACT_GELU_TANH } rk_rel_act;
typedef struct {
  int64_t d_model, heads, d_ff;
  float dropout;         /* after the attention's output, inside and after the feed-forward, on the sinusoids */
  float attn_dropout;    /* on the attention probabilities */
  float ln_eps;
  rk_rel_act act;
  bool causal;
  int64_t mem;           /* zero memory slots (rk_rel_attention.mem) */
} rk_rel_transformer_config;

/* Its parameters, nn.Linear's (out, in) layout: qkv (3D, D) = [q; k; v] rows, r (D, D), o (D, D),
 * none with a bias; r_w_bias, r_r_bias (D); fc (d_ff, D) and out (D, d_ff) with biases; LayerNorms (D). */
#define RK_REL_TRANSFORMER_BLOCK_PARAMS 13
typedef struct {
  rk_param qkv_weight, r_weight, r_w_bias, r_r_bias, o_weight, ln1_gamma, ln1_beta;
  rk_param fc_weight, fc_bias, out_weight, out_bias, ln2_gamma, ln2_beta;
} rk_rel_transformer_block;
/* Pointers to the 13 parameters in the struct's order. */
void rk_rel_transformer_block_params(rk_rel_transformer_block *blk, rk_param *ps[RK_REL_TRANSFORMER_BLOCK_PARAMS]);

/* The layer's masks (rk_rel_attention's key_ids, padding, hidden). */
typedef struct {
  int key_ids;
  int64_t padding;
  int hidden;
} rk_rel_transformer_masks;
/* x (B, T, d_model) -> out. query: RK_NO_VALUE, or XLNet's query stream (B, T, d_model), whose
 * output goes to *out_g; weights: the content stream's, as rk_graph_rel_attention. x and query
 * may be the packed real rows (R, d_model) of one gather_rows (no key ids nor weights then). */
rk_status rk_graph_rel_transformer_block(rk_graph *g, int *out, int *out_g, int *weights, int x, int query,
                                         rk_rel_transformer_block *blk, const rk_rel_transformer_config *c,
                                         const rk_rel_transformer_masks *m);

#ifdef __cplusplus
}
#endif
#endif /* RECKON_NN_H */
