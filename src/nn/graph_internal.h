/*
 * The compute graph's insides, shared by src/nn/graph.c and the op stems in src/nn/ops/.
 *
 * A graph is an array of values (tensors with a shape, a kind and planned memory) and an array
 * of nodes (one op each, in topological order: a node only reads values made before it).
 * Each op stem provides:
 *   - plain kernels <stem>_forward_cpu / <stem>_backward_cpu (pointers and sizes, outputs first,
 *     backward adds into gradients),
 *   - the node adapters <stem>_node_forward_cpu / <stem>_node_backward_cpu that unpack a node
 *     and call them (the row of the CPU backend's op table, src/nn/backend_cpu.c),
 *   - the public builder rk_graph_<stem>, which checks shapes and adds the node.
 * src/nn/ops/ops.h declares the kernels and adapters; src/nn/backend.h the device work.
 */
#ifndef RECKON_NN_GRAPH_INTERNAL_H
#define RECKON_NN_GRAPH_INTERNAL_H

#include "reckon/nn.h"

#define RK_NODE_MAX_IN 16
#define RK_NODE_MAX_OUT 16
#define RK_NODE_MAX_PARAMS 16

typedef enum { RK_VAL_ACT, RK_VAL_INPUT, RK_VAL_PARAM } rk_value_kind;

typedef struct {
  char name[128];
  rk_value_kind kind;
  rk_dtype dtype;            /* f32, or i64 for ids */
  int ndim;
  int64_t shape[RK_TENSOR_MAX_DIMS];
  int64_t numel;
  int producer;              /* node index, -1 for leaves */
  int last_use;              /* last node reading it (forward order), -1 when none */
  bool output;               /* kept until the end of the pass */
  bool needs_grad;           /* a gradient flows into it from the loss */
  bool partial_rows;         /* only `rows` leading rows are in use (rk_graph_gather_rows) */
  int64_t rows;              /* rows of the leading axis in use in the current pass */
  int row_index;             /* partial rows: the int64 index naming each row's row in the value
                                gather_rows packed (its rows flattened), for ops keyed by the
                                original row (dropout draws, attention's sessions) */
  int64_t row_span;          /* partial rows: that value's rows per session (T of a (B, T, D)) */
  rk_param *param;           /* RK_VAL_PARAM */
  int64_t *offsets;          /* ragged inputs: (B + 1) */
  bool ragged;
  /* planning and data */
  int64_t off[2];            /* byte offsets in the arena per mode (acts) */
  int64_t goff;              /* gradient offset (train plan) */
  void *data[2];             /* per mode */
  float *grad;               /* NULL without a gradient */
  int grad_birth;            /* backward time at which the gradient buffer is zeroed */
  bool grad_overwritten;     /* its first writer writes it whole (rk_node.dx_overwrite): not zeroed */
} rk_value;

struct rk_node;
typedef rk_status (*rk_node_fwd_fn)(rk_graph *g, const struct rk_node *n);
typedef void (*rk_node_bwd_fn)(rk_graph *g, const struct rk_node *n);

typedef struct rk_node {
  rk_op op;
  int id;                    /* index in the graph (keys dropout streams) */
  int n_in, n_out;
  int in[RK_NODE_MAX_IN];
  int out[RK_NODE_MAX_OUT];
  int n_params;
  rk_param *params[RK_NODE_MAX_PARAMS];
  int64_t iattr[8];
  float fattr[4];
  /* memory the op asks for: scratch during its forward / backward, and a buffer written by
   * forward and read by backward ("saved"); planned with the activations. */
  size_t ws_fwd_bytes, ws_bwd_bytes, saved_bytes;
  int64_t ws_fwd_off[2], ws_bwd_off, saved_off[2];
  void *ws_fwd, *ws_bwd, *saved;   /* for the current mode */
  /* persistent per-op state (batch-norm running statistics), owned by the graph */
  float *state;
  size_t state_floats;
  /* sparse gradient contributions (embedding, embedding_bag): slots into the table's
   * contribution buffers; embedding_l2 adds into its lookup's slots. */
  int64_t slot_base, n_slots;
  /* set by rk_graph_build: this node's backward is the first to write input 0's gradient and
   * writes it (=) rather than adding, so the graph skips zeroing it (the ops of
   * overwrites_dx in graph.c; a catalogue-wide softmax_ce saves a pass over its logits) */
  bool dx_overwrite;
} rk_node;

/* Per sparse table: every looked-up id of one pass and its gradient row. */
typedef struct {
  rk_param *param;
  int64_t n_slots;           /* capacity over all lookups */
  int64_t *slot_ids;         /* (n_slots), -1 = nothing (padding or unused) */
  float *slot_grad;          /* (n_slots, D) */
  int64_t *order;            /* (n_slots) (id, slot) pairs: scratch for the dedupe */
  int64_t *order_tmp;        /* (n_slots) pairs: the radix sort's other buffer */
  int64_t *row_start;        /* (n_slots + 1) scratch: compact row k sums order[row_start[k]..) */
} rk_sparse_table;

struct rk_backend;

struct rk_graph {
  const struct rk_backend *backend;   /* where it runs (the CPU unless set before build) */
  int64_t batch;
  uint64_t seed, step;
  int n_values, cap_values;
  rk_value *values;
  int n_nodes, cap_nodes;
  rk_node *nodes;
  int n_params, cap_params;
  rk_param **params;
  rk_param_arena *whole_arena;   /* all of whose params are the graph's: zeroed in one call */
  int n_sparse, cap_sparse;
  rk_sparse_table *sparse;
  bool built;
  bool frozen;               /* rk_graph_freeze_params: its parameters no longer change */
  int loss;
  rk_mode mode;              /* of the last forward */
  bool forward_done;         /* a train forward happened since the last backward */
  void *arena;               /* planned activations, gradients and workspaces (backend memory) */
  size_t arena_bytes, unplanned_bytes;
  rk_arena fixed;            /* inputs, slots, op state: never shared */
  int *grad_order;           /* values with a gradient, by grad_birth */
  int n_grad_order;
  /* the gradient-ready hook (rk_graph_set_grad_ready_hook), and when each parameter is ready:
   * ready_order lists the parameters (indices into params) by ready_time, the backward time
   * after which nothing writes their gradient (N - 1: no node does; 2N - 1 - i: node i's
   * backward is the last; 2N: a sparse table, after the assembly) */
  rk_graph_grad_ready_fn grad_ready;
  void *grad_ready_ctx;
  int *ready_order;          /* (n_params) */
  int *ready_time;           /* (n_params) by parameter index */
};

/* ---- for the op builders ----------------------------------------------------------------- */
/* Zeroed memory that lives as long as the graph (64-byte aligned); NULL: no memory. */
void *rk_graph_fixed_alloc(rk_graph *g, size_t bytes);
/* A new activation value of `shape`; writes its handle. */
rk_status rk_graph_add_value(rk_graph *g, int *out, rk_dtype dtype, int ndim, const int64_t *shape);
/* A new node reading n_in values; *out points into g->nodes (valid until the next add). */
rk_status rk_graph_add_node(rk_graph *g, rk_node **out, rk_op op, int n_in, const int *in);
/* Attach a value to the node as output k, and a param. */
void rk_graph_node_set_out(rk_graph *g, rk_node *n, int k, int v);
rk_status rk_graph_node_add_param(rk_graph *g, rk_node *n, rk_param *p);
/* Reserve n slots in p's sparse table for node n. */
rk_status rk_graph_node_add_slots(rk_graph *g, rk_node *n, rk_param *p, int64_t count);
/* Check a handle (op name for the message). */
rk_status rk_graph_check_value(const rk_graph *g, int v, const char *op);
/* "(1024, 64)" */
const char *rk_shape_str(const rk_value *v, char *buf, size_t size);
rk_sparse_table *rk_graph_sparse_table(rk_graph *g, const rk_param *p);
/* A single-output builder in one call: checks inputs, makes the node and its output. */
rk_status rk_graph_simple_node(rk_graph *g, rk_node **node, int *out, rk_op op, int n_in,
                               const int *in, rk_dtype dtype, int ndim, const int64_t *shape);

/* A parameter a graph may use: it has memory of its own, or a row in an arena that will give it
 * memory before rk_graph_build. Builders check this, never value.data. */
static inline bool rk_param_declared(const rk_param *p) { return p && (p->value.data || p->arena || p->fetched); }

static inline rk_value *rk_val(const rk_graph *g, int v) { return &g->values[v]; }
static inline float *rk_x(const rk_graph *g, int v) { return (float *)g->values[v].data[g->mode]; }
static inline int64_t *rk_xi(const rk_graph *g, int v) {
  return (int64_t *)g->values[v].data[g->mode];
}
static inline float *rk_dx(const rk_graph *g, int v) { return g->values[v].grad; }
/* The elements of v in use this pass: all, or its rows in use times a row's elements. */
static inline int64_t rk_val_numel_in_use(const rk_value *v) {
  return v->partial_rows ? v->rows * (v->numel / v->shape[0]) : v->numel;
}
static inline bool rk_graph_training(const rk_graph *g) { return g->mode == RK_TRAIN; }

/* A dot product in 8 interleaved partial sums (vectorisable; the order is fixed by D alone, so
 * the bits do not depend on threads). */
static inline float rk_dot8(const float *restrict a, const float *restrict b, int64_t D) {
  float acc[8] = {0};
  int64_t d = 0;
  for (; d + 8 <= D; d += 8)
    for (int k = 0; k < 8; k++) acc[k] += a[d + k] * b[d + k];
  float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; d < D; d++) s += a[d] * b[d];
  return s;
}

/* Parallel grain for row loops: about 32 KiB of floats per chunk, at least one row. */
static inline int64_t rk_row_grain(int64_t row_len) {
  int64_t gr = 8192 / (row_len > 0 ? row_len : 1);
  return gr > 0 ? gr : 1;
}

/* Keep OpenBLAS single-threaded (rk_sgemm threads itself). */
void rk_blas_sync_threads(void);

/* ---- the op list ------------------------------------------------------------------------- */
/* One row per op from RK_OP_LIST: its stem and the backends that implement it (RK_ON_*). The
 * kernels themselves are in each backend's op table (src/nn/backend.h). */
typedef struct {
  const char *name;
  unsigned backends;
} rk_op_entry;
extern const rk_op_entry rk_op_table[RK_OP_COUNT];

#endif
