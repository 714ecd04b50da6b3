/*
 * The backend table: everything the graph asks of a device, behind one table per backend.
 *
 * The graph (src/nn/graph.c) plans memory, orders the nodes and keeps the bookkeeping; every
 * byte it touches on the device goes through a backend: the planned arena, gradient zeroing
 * and the loss seed, the row-sparse gradient of embedding tables (sort and assembly), per-op
 * state (batch-norm running statistics), and the op table (one forward and one backward per
 * op). src/nn/backend_cpu.c fills the table for the CPU; a CUDA backend fills the same table
 * from src/nn/backend_cuda.cu and the op stems' .cu twins. The op list (reckon/nn.h,
 * RK_OP_LIST) says which backends implement each op, and a backend's op table has a row for
 * exactly those (tests/unit/test_nn_gradcheck.c checks it).
 *
 * Not here: parameters and graph inputs, which still live in host memory (a device backend
 * copies them in; the parameter arena makes that one copy).
 */
#ifndef RECKON_NN_BACKEND_H
#define RECKON_NN_BACKEND_H

#include "nn/graph_internal.h"

typedef void (*rk_node_state_fn)(rk_graph *g, const rk_node *n);
typedef rk_status (*rk_node_freeze_fn)(rk_graph *g, rk_node *n);

typedef struct rk_backend {
  const char *name;          /* "cpu", "cuda": for messages */
  rk_device device;
  int (*device_count)(void); /* devices present now; the backend runs only where there is one */
  /* memory */
  void *(*alloc)(size_t bytes);                       /* zeroed, 64-byte aligned; NULL: no memory */
  void (*free)(void *p);                              /* NULL is fine */
  void (*fill)(float *dst, int64_t n, float value);   /* gradient zeroing, the loss seed */
  /* once before each forward and each backward */
  void (*begin_pass)(void);
  /* row-sparse gradients of a table: before backward, slot gradients 0 and slot ids -1 (the
   * lookups that run set theirs); after it, the compact gradient (unique ids ascending, each
   * row the sum of its slots in slot order, so the bits do not depend on threads). */
  void (*sparse_clear)(rk_sparse_table *t);
  void (*sparse_assemble)(rk_sparse_table *t);
  /* the op table: NULL where the op list does not name this backend */
  rk_node_fwd_fn forward[RK_OP_COUNT];
  rk_node_bwd_fn backward[RK_OP_COUNT];
  rk_node_state_fn init_state[RK_OP_COUNT];   /* the start of per-op state; NULL: zeros */
  rk_node_freeze_fn freeze[RK_OP_COUNT];      /* rk_graph_freeze_params: NULL keeps nothing */
} rk_backend;

extern const rk_backend rk_backend_cpu;

/* The backends built in, the CPU first (src/nn/backend.c). */
int rk_backend_count(void);
const rk_backend *rk_backend_at(int i);

/* Run g on backend b (before rk_graph_build; a graph starts on the CPU). */
rk_status rk_graph_set_backend(rk_graph *g, const rk_backend *b);

#endif
