/*
 * The static compute graph: values, nodes, memory planning, forward, backward, and the
 * row-sparse gradients of embedding tables.
 *
 * Not here: the kernels (src/nn/ops/<stem>.c, one stem per op) and the optimizers (src/optim/).
 *
 * Memory (docs/design.md, "Compute graph"): rk_graph_build gives every activation, gradient,
 * per-op workspace and forward-to-backward saved buffer a lifetime on one timeline
 * (forward of node i at time i, backward of node i at time 2N-1-i) and packs them greedily,
 * largest first, into one arena so buffers whose lifetimes do not meet share bytes. The train
 * plan keeps activations until their producer's backward; the eval plan frees each one after its
 * last reader, so inference needs a fraction of the memory. Gradient buffers are zeroed when
 * their lifetime starts (their first writer's backward), which is why backward can always add.
 * The same timeline says when a parameter's gradient is complete (its last writer's backward):
 * backward tells a caller's hook then, so data-parallel training ships it while backward goes on.
 *
 * The device work (the arena's memory, zeroing, the sparse gradient assembly, per-op state and
 * the kernels) goes through the graph's backend (src/nn/backend.h); this file only plans and
 * orders it.
 */
#include <stdlib.h>
#include <string.h>

#include "nn/backend.h"

#define RK_ALIGN 64

const rk_op_entry rk_op_table[RK_OP_COUNT] = {
#define RK_OP_ROW(name, stem, backends) [RK_OP_##name] = {#stem, backends},
    RK_OP_LIST(RK_OP_ROW)
#undef RK_OP_ROW
};

const char *rk_op_name(rk_op op) {
  return (op >= 0 && op < RK_OP_COUNT) ? rk_op_table[op].name : "unknown";
}

/* ---- building ------------------------------------------------------------------------------ */

rk_status rk_graph_create(rk_graph **out, int64_t batch) {
  *out = NULL;
  if (batch <= 0) return rk_error(RK_EINVAL, "graph batch size %lld must be positive", (long long)batch);
  rk_graph *g = rk_calloc(1, sizeof *g);
  if (!g) return RK_ENOMEM;
  g->backend = &rk_backend_cpu;
  g->batch = batch;
  g->loss = -1;
  rk_arena_init(&g->fixed, 1 << 20);
  *out = g;
  return RK_OK;
}

void rk_graph_free(rk_graph *g) {
  if (!g) return;
  rk_free(g->values);
  rk_free(g->nodes);
  rk_free(g->params);
  rk_free(g->sparse);
  rk_free(g->grad_order);
  rk_free(g->ready_order);
  rk_free(g->ready_time);
  g->backend->free(g->arena);
  rk_arena_free(&g->fixed);
  rk_free(g);
}

int64_t rk_graph_batch(const rk_graph *g) { return g->batch; }
void rk_graph_set_seed(rk_graph *g, uint64_t seed) { g->seed = seed; }
void rk_graph_set_step(rk_graph *g, uint64_t step) { g->step = step; }

const char *rk_shape_str(const rk_value *v, char *buf, size_t size) {
  size_t n = 0;
  n += (size_t)snprintf(buf + n, size - n, "(");
  for (int i = 0; i < v->ndim && n < size; i++)
    n += (size_t)snprintf(buf + n, size - n, i ? ", %lld" : "%lld", (long long)v->shape[i]);
  if (n < size) snprintf(buf + n, size - n, ")");
  return buf;
}

static rk_status check_building(const rk_graph *g) {
  if (g->built) return rk_error(RK_EUSAGE, "graph is already built: add ops before rk_graph_build");
  return RK_OK;
}

rk_status rk_graph_set_backend(rk_graph *g, const rk_backend *b) {
  RK_TRY(check_building(g));
  g->backend = b;
  return RK_OK;
}

rk_status rk_graph_check_value(const rk_graph *g, int v, const char *op) {
  if (v < 0 || v >= g->n_values)
    return rk_error(RK_EINVAL, "%s: value handle %d is not in the graph (%d values)", op, v, g->n_values);
  return RK_OK;
}

static rk_status grow(void **items, int *cap, int need, size_t item) {
  if (need <= *cap) return RK_OK;
  int ncap = *cap ? *cap * 2 : 16;
  while (ncap < need) ncap *= 2;
  void *p = rk_realloc(*items, (size_t)ncap * item);
  if (!p) return RK_ENOMEM;
  memset((char *)p + (size_t)*cap * item, 0, (size_t)(ncap - *cap) * item);
  *items = p;
  *cap = ncap;
  return RK_OK;
}

rk_status rk_graph_add_value(rk_graph *g, int *out, rk_dtype dtype, int ndim, const int64_t *shape) {
  RK_TRY(check_building(g));
  if (ndim < 0 || ndim > RK_TENSOR_MAX_DIMS)
    return rk_error(RK_ESHAPE, "a value has %d axes; at most %d", ndim, RK_TENSOR_MAX_DIMS);
  int64_t dims[RK_TENSOR_MAX_DIMS];   /* shape may point into g->values, which grow may move */
  for (int i = 0; i < ndim; i++) dims[i] = shape[i];
  RK_TRY(grow((void **)&g->values, &g->cap_values, g->n_values + 1, sizeof(rk_value)));
  rk_value *v = &g->values[g->n_values];
  memset(v, 0, sizeof *v);
  v->kind = RK_VAL_ACT;
  v->dtype = dtype;
  v->ndim = ndim;
  for (int i = 0; i < ndim; i++) {
    if (dims[i] <= 0) return rk_error(RK_ESHAPE, "axis %d of a value has size %lld", i, (long long)dims[i]);
    v->shape[i] = dims[i];
  }
  /* Shapes grow from the batch size and the widths a user asked for: checked, not wrapped. */
  RK_TRY(rk_size_numel(&v->numel, ndim, dims, "a value of the graph (batch size x widths)"));
  v->rows = ndim > 0 ? dims[0] : 1;
  v->producer = -1;
  v->last_use = -1;
  *out = g->n_values++;
  return RK_OK;
}

static rk_status register_param(rk_graph *g, rk_param *p) {
  for (int i = 0; i < g->n_params; i++)
    if (g->params[i] == p) return RK_OK;
  RK_TRY(grow((void **)&g->params, &g->cap_params, g->n_params + 1, sizeof(rk_param *)));
  g->params[g->n_params++] = p;
  return RK_OK;
}

/* The ops that compute on a value's rows in use (input i; docs/design.md, "Rows in use"). Any
 * other op would read the unused rows. rtd_replace reads the packed rows its row index names,
 * which are those in use; gather and gather_rows read rows of a packed body by packed row
 * numbers; add's two inputs are packed alike (a residual), as are rel_attention's two streams;
 * bce_logits means over the logits' rows in use (labels and weights in front); mask_fill
 * reads its mask, and prefix_mean each row's session and position, at the row index. */
static bool reads_rows_in_use(rk_op op, int i) {
  switch (op) {
  case RK_OP_LINEAR: case RK_OP_SOFTMAX_CE: case RK_OP_CATALOG_CE: case RK_OP_RTD_REPLACE: case RK_OP_GATHER:
  case RK_OP_GATHER_ROWS: case RK_OP_LAYER_NORM: case RK_OP_DROPOUT: case RK_OP_GELU: case RK_OP_ATTENTION:
  case RK_OP_SAMPLED_LOGITS: case RK_OP_BCE_LOGITS: case RK_OP_MASK_FILL:
  case RK_OP_PREFIX_MEAN:
    return i == 0;
  case RK_OP_ADD: case RK_OP_REL_ATTENTION:
    return i <= 1;
  default:
    return false;
  }
}

/* The ops whose output has their first input's rows in use (and its row index). */
static bool passes_rows_on(rk_op op) {
  return op == RK_OP_LINEAR || op == RK_OP_LAYER_NORM || op == RK_OP_DROPOUT || op == RK_OP_GELU ||
         op == RK_OP_ATTENTION || op == RK_OP_REL_ATTENTION || op == RK_OP_ADD || op == RK_OP_MASK_FILL ||
         op == RK_OP_PREFIX_MEAN;
}

/* The ops whose backward can write their first input's gradient whole (=, every row in use)
 * instead of adding to it, when no other op wrote it first (rk_node.dx_overwrite). */
static bool overwrites_dx(rk_op op) { return op == RK_OP_SOFTMAX_CE; }

rk_status rk_graph_add_node(rk_graph *g, rk_node **out, rk_op op, int n_in, const int *in) {
  RK_TRY(check_building(g));
  if (n_in > RK_NODE_MAX_IN)
    return rk_error(RK_EINVAL, "%s: %d inputs; at most %d", rk_op_name(op), n_in, RK_NODE_MAX_IN);
  for (int i = 0; i < n_in; i++) {
    RK_TRY(rk_graph_check_value(g, in[i], rk_op_name(op)));
    if (g->values[in[i]].partial_rows && !reads_rows_in_use(op, i))
      return rk_error(RK_EINVAL, "%s: input %d has rows in use (from gather_rows), which this op does not read "
                      "(docs/design.md, \"Rows in use\", lists the ops that do)", rk_op_name(op), i);
  }
  RK_TRY(grow((void **)&g->nodes, &g->cap_nodes, g->n_nodes + 1, sizeof(rk_node)));
  rk_node *n = &g->nodes[g->n_nodes];
  memset(n, 0, sizeof *n);
  n->op = op;
  n->id = g->n_nodes;
  n->n_in = n_in;
  for (int i = 0; i < n_in; i++) n->in[i] = in[i];
  g->n_nodes++;
  *out = n;
  return RK_OK;
}

void rk_graph_node_set_out(rk_graph *g, rk_node *n, int k, int v) {
  RK_ASSERT(k < RK_NODE_MAX_OUT);
  n->out[k] = v;
  if (k + 1 > n->n_out) n->n_out = k + 1;
  g->values[v].producer = n->id;
}

rk_status rk_graph_node_add_param(rk_graph *g, rk_node *n, rk_param *p) {
  RK_ASSERT(n->n_params < RK_NODE_MAX_PARAMS);
  if (!rk_param_declared(p) || p->value.dtype != RK_DT_F32)
    return rk_error(RK_EINVAL, "%s: parameter is not initialised (rk_param_init or rk_param_arena_add)",
                    rk_op_name(n->op));
  RK_TRY(register_param(g, p));
  n->params[n->n_params++] = p;
  return RK_OK;
}

rk_sparse_table *rk_graph_sparse_table(rk_graph *g, const rk_param *p) {
  for (int i = 0; i < g->n_sparse; i++)
    if (g->sparse[i].param == p) return &g->sparse[i];
  return NULL;
}

rk_status rk_graph_node_add_slots(rk_graph *g, rk_node *n, rk_param *p, int64_t count) {
  rk_sparse_table *t = rk_graph_sparse_table(g, p);
  if (!t) {
    RK_TRY(grow((void **)&g->sparse, &g->cap_sparse, g->n_sparse + 1, sizeof(rk_sparse_table)));
    t = &g->sparse[g->n_sparse++];
    memset(t, 0, sizeof *t);
    t->param = p;
  }
  n->slot_base = t->n_slots;
  n->n_slots = count;
  RK_TRY(rk_size_add(&t->n_slots, t->n_slots, count, "the embedding rows a batch reads (batch size x ids)"));
  return RK_OK;
}

rk_status rk_graph_simple_node(rk_graph *g, rk_node **node, int *out, rk_op op, int n_in,
                               const int *in, rk_dtype dtype, int ndim, const int64_t *shape) {
  RK_TRY(check_building(g));
  for (int i = 0; i < n_in; i++) RK_TRY(rk_graph_check_value(g, in[i], rk_op_name(op)));
  int v;
  RK_TRY(rk_graph_add_value(g, &v, dtype, ndim, shape));
  rk_node *n;
  rk_status s = rk_graph_add_node(g, &n, op, n_in, in);
  if (s != RK_OK) {
    g->n_values--;   /* the value was the last one added */
    return s;
  }
  rk_graph_node_set_out(g, n, 0, v);
  if (passes_rows_on(op) && g->values[in[0]].partial_rows) {
    g->values[v].partial_rows = true;
    g->values[v].row_index = g->values[in[0]].row_index;
    g->values[v].row_span = g->values[in[0]].row_span;
  }
  if (node) *node = n;
  *out = v;
  return RK_OK;
}

static rk_status add_leaf(rk_graph *g, int *out, const char *name, rk_value_kind kind, rk_dtype dtype,
                          int ndim, const int64_t *shape) {
  RK_TRY(rk_graph_add_value(g, out, dtype, ndim, shape));
  rk_value *v = &g->values[*out];
  v->kind = kind;
  snprintf(v->name, sizeof v->name, "%s", name ? name : "");
  return RK_OK;
}

rk_status rk_graph_input(rk_graph *g, int *out, const char *name, int ndim, const int64_t *shape) {
  if (ndim < 0 || ndim >= RK_TENSOR_MAX_DIMS)
    return rk_error(RK_ESHAPE, "input '%s' has %d axes per example; at most %d", name ? name : "",
                    ndim, RK_TENSOR_MAX_DIMS - 1);
  int64_t full[RK_TENSOR_MAX_DIMS];
  full[0] = g->batch;
  for (int i = 0; i < ndim; i++) full[i + 1] = shape[i];
  return add_leaf(g, out, name, RK_VAL_INPUT, RK_DT_F32, ndim + 1, full);
}

rk_status rk_graph_input_ids(rk_graph *g, int *out, const char *name, int64_t F) {
  int64_t shape[2] = {g->batch, F};
  return add_leaf(g, out, name, RK_VAL_INPUT, RK_DT_I64, 2, shape);
}

rk_status rk_graph_input_ragged(rk_graph *g, int *out, const char *name, int64_t max_ids) {
  int64_t shape[1] = {max_ids};
  RK_TRY(add_leaf(g, out, name, RK_VAL_INPUT, RK_DT_I64, 1, shape));
  g->values[*out].ragged = true;
  return RK_OK;
}

rk_status rk_graph_param(rk_graph *g, int *out, rk_param *p) {
  if (!rk_param_declared(p)) return rk_error(RK_EINVAL, "param: parameter is not initialised");
  if (p->sparse)
    return rk_error(RK_EINVAL, "param: '%s' is a sparse table; read it with embedding ops", p->name);
  RK_TRY(add_leaf(g, out, p->name, RK_VAL_PARAM, RK_DT_F32, p->value.ndim, p->value.shape));
  g->values[*out].param = p;
  rk_status s = register_param(g, p);
  if (s != RK_OK) g->n_values--;
  return s;
}

rk_status rk_graph_output(rk_graph *g, int v) {
  RK_TRY(rk_graph_check_value(g, v, "output"));
  g->values[v].output = true;
  return RK_OK;
}

/* ---- planning ------------------------------------------------------------------------------ */

typedef struct {
  size_t size;
  int start, end;     /* inclusive times */
  int64_t *off;       /* where the planned offset goes */
} plan_item;

typedef struct {
  plan_item *items;
  int n, cap;
} plan;

static rk_status plan_add(plan *p, size_t size, int start, int end, int64_t *off) {
  *off = -1;
  if (size == 0) return RK_OK;
  RK_TRY(grow((void **)&p->items, &p->cap, p->n + 1, sizeof(plan_item)));
  p->items[p->n++] = (plan_item){(size + RK_ALIGN - 1) / RK_ALIGN * RK_ALIGN, start, end, off};
  return RK_OK;
}

static int cmp_item_size(const void *a, const void *b) {
  const plan_item *x = *(plan_item *const *)a, *y = *(plan_item *const *)b;
  if (x->size != y->size) return x->size < y->size ? 1 : -1;
  return x < y ? -1 : (x > y);   /* both point into one items array: insertion order */
}

/* Greedy best-fit by size: each item takes the lowest offset clear of every placed item whose
 * lifetime meets its own. Placed items are kept sorted by offset, so one sweep over them finds
 * that offset: the gaps between the conflicting items, lowest first (O(n) per item, not the
 * O(n^2) of trying each conflict's end against every other; a model with thousands of features
 * plans tens of thousands of items). Returns the total bytes. */
static rk_status plan_pack(plan *p, size_t *total) {
  *total = 0;
  if (p->n == 0) return RK_OK;
  plan_item **by_size = rk_malloc((size_t)p->n * sizeof *by_size);
  plan_item **placed = rk_malloc((size_t)p->n * sizeof *placed);   /* by offset */
  if (!by_size || !placed) {
    rk_free(by_size);
    rk_free(placed);
    return RK_ENOMEM;
  }
  for (int i = 0; i < p->n; i++) by_size[i] = &p->items[i];
  qsort(by_size, (size_t)p->n, sizeof *by_size, cmp_item_size);
  int n_placed = 0;
  for (int i = 0; i < p->n; i++) {
    plan_item *it = by_size[i];
    int64_t at = 0;   /* below `at` every conflicting item seen so far ends */
    for (int k = 0; k < n_placed; k++) {
      plan_item *q = placed[k];
      if (q->end < it->start || q->start > it->end) continue;
      if (*q->off >= at + (int64_t)it->size) break;   /* the gap before q fits */
      if (*q->off + (int64_t)q->size > at) at = *q->off + (int64_t)q->size;
    }
    *it->off = at;
    int k = n_placed;   /* insert after the items at lower or equal offsets */
    while (k > 0 && *placed[k - 1]->off > at) k--;
    memmove(placed + k + 1, placed + k, (size_t)(n_placed - k) * sizeof *placed);
    placed[k] = it;
    n_placed++;
    if ((size_t)at + it->size > *total) *total = (size_t)at + it->size;
  }
  rk_free(by_size);
  rk_free(placed);
  return RK_OK;
}

void *rk_graph_fixed_alloc(rk_graph *g, size_t bytes) {
  void *p = rk_arena_alloc(&g->fixed, bytes ? bytes : 1, RK_ALIGN);
  if (p) memset(p, 0, bytes ? bytes : 1);
  return p;
}


/* The planned arena and the fixed memory build is about to allocate (inputs, sparse tables
 * per-batch buffers and gradients), checked against the machine's memory before any of it is:
 * a batch size or width too large for the machine is refused with the estimate, not met by the
 * allocator or the OOM killer. */
static rk_status check_memory(const rk_graph *g, bool trainable) {
  const char *what = "the graph's memory (batch size x widths)";
  int64_t need = (int64_t)g->arena_bytes, b;
  for (int v = 0; v < g->n_values; v++) {
    const rk_value *x = &g->values[v];
    if (x->kind != RK_VAL_INPUT) continue;
    RK_TRY(rk_size_mul(&b, x->numel, (int64_t)rk_dtype_size(x->dtype), what));
    RK_TRY(rk_size_add(&need, need, b, what));
  }
  for (int i = 0; i < g->n_sparse; i++) {
    const rk_sparse_table *t = &g->sparse[i];
    /* slot ids, order and its scratch (2 pairs each), row starts; the compact gradient twice
     * (slot_grad and, when training, the parameter's row-sparse gradient) */
    int64_t per_slot;
    RK_TRY(rk_size_mul(&per_slot, t->param->value.shape[1], (int64_t)sizeof(float) * (trainable ? 2 : 1), what));
    RK_TRY(rk_size_add(&per_slot, per_slot, 6 * (int64_t)sizeof(int64_t), what));
    RK_TRY(rk_size_mul(&b, t->n_slots, per_slot, what));
    RK_TRY(rk_size_add(&need, need, b, what));
  }
  char label[96];
  snprintf(label, sizeof label, "a graph of batch %lld", (long long)g->batch);
  return rk_memory_check(need, label);
}

/* When each parameter's gradient is complete in a backward pass (rk_graph_set_grad_ready_hook):
 * the backward time of its last writer, a node that runs backward and reads its value or holds
 * it; sparse tables after the assembly. Needs needs_grad. */
static rk_status plan_grad_ready(rk_graph *g) {
  const int N = g->n_nodes, P = g->n_params;
  g->ready_order = rk_malloc((size_t)(P ? P : 1) * sizeof *g->ready_order);
  g->ready_time = rk_malloc((size_t)(P ? P : 1) * sizeof *g->ready_time);
  if (!g->ready_order || !g->ready_time) return RK_ENOMEM;
  for (int k = 0; k < P; k++) g->ready_time[k] = g->params[k]->sparse ? 2 * N : N - 1;
  for (int i = N - 1; i >= 0; i--) {   /* backward order: a later time overwrites an earlier */
    const rk_node *n = &g->nodes[i];
    bool runs = false;
    for (int k = 0; k < n->n_out; k++) runs = runs || g->values[n->out[k]].needs_grad;
    for (int k = 0; runs && k < P; k++) {
      bool writes = false;
      for (int j = 0; j < n->n_params; j++) writes = writes || n->params[j] == g->params[k];
      for (int j = 0; j < n->n_in; j++) writes = writes || g->values[n->in[j]].param == g->params[k];
      if (writes && !g->params[k]->sparse) g->ready_time[k] = 2 * N - 1 - i;
    }
  }
  for (int k = 0; k < P; k++) {   /* insertion sort by time, stable: ties in parameter order */
    int j = k - 1;
    while (j >= 0 && g->ready_time[g->ready_order[j]] > g->ready_time[k]) {
      g->ready_order[j + 1] = g->ready_order[j];
      j--;
    }
    g->ready_order[j + 1] = k;
  }
  return RK_OK;
}

/* Tells the hook about the parameters ready at backward time t and before; *next walks ready_order. */
static rk_status report_grad_ready(rk_graph *g, int t, int *next) {
  for (; *next < g->n_params && g->ready_time[g->ready_order[*next]] <= t; (*next)++)
    if (g->grad_ready) RK_TRY(g->grad_ready(g->grad_ready_ctx, g->ready_order[*next]));
  return RK_OK;
}

void rk_graph_set_grad_ready_hook(rk_graph *g, rk_graph_grad_ready_fn fn, void *ctx) {
  g->grad_ready = fn;
  g->grad_ready_ctx = ctx;
}

const int *rk_graph_grad_ready_order(const rk_graph *g) { return g->built ? g->ready_order : NULL; }

rk_status rk_graph_build(rk_graph *g, int loss) {
  RK_TRY(check_building(g));
  const int N = g->n_nodes, V = g->n_values;
  if (loss != RK_NO_VALUE) {
    RK_TRY(rk_graph_check_value(g, loss, "build"));
    if (g->values[loss].numel != 1 || g->values[loss].dtype != RK_DT_F32) {
      char b[96];
      return rk_error(RK_ESHAPE, "build: loss must be a scalar f32 value, not %s",
                      rk_shape_str(&g->values[loss], b, sizeof b));
    }
  }
  if (loss != RK_NO_VALUE) g->values[loss].output = true;   /* readable after backward too */
  const rk_backend *be = g->backend;
  if (be->device_count() < 1) return rk_error(RK_EUNSUPPORTED, "build: no %s device is present", be->name);
  for (int i = 0; i < N; i++)
    if (!(rk_op_table[g->nodes[i].op].backends & (1u << be->device)))
      return rk_error(RK_EUNSUPPORTED, "build: op '%s' has no %s kernel", rk_op_name(g->nodes[i].op), be->name);
  for (int i = 0; i < g->n_params; i++) {
    if (g->params[i]->fetched && be->device != RK_DEVICE_CPU)
      return rk_error(RK_EUNSUPPORTED, "build: table '%s' is held by other ranks (sharded), which %s graphs cannot read",
                      g->params[i]->name, be->name);
    if (!g->params[i]->value.data && !g->params[i]->fetched && rk_tensor_numel(&g->params[i]->value) > 0)
      return rk_error(RK_EINVAL, "build: parameter '%s' has no memory yet: allocate its arena first "
                      "(rk_param_arena_alloc)", g->params[i]->name);
  }
  g->whole_arena = rk_param_arena_whole(g->params, g->n_params);

  /* last readers */
  for (int i = 0; i < N; i++)
    for (int k = 0; k < g->nodes[i].n_in; k++) g->values[g->nodes[i].in[k]].last_use = i;

  /* which values carry a gradient: they depend on a parameter and reach the loss */
  bool *dep = rk_calloc((size_t)V + 1, sizeof *dep);
  bool *reach = rk_calloc((size_t)V + 1, sizeof *reach);
  if (!dep || !reach) {
    rk_free(dep);
    rk_free(reach);
    return RK_ENOMEM;
  }
  for (int v = 0; v < V; v++) dep[v] = g->values[v].kind == RK_VAL_PARAM;
  for (int i = 0; i < N; i++) {
    rk_node *n = &g->nodes[i];
    bool d = n->n_params > 0;
    for (int k = 0; k < n->n_in; k++) d = d || dep[n->in[k]];
    for (int k = 0; k < n->n_out; k++) dep[n->out[k]] = d;
  }
  if (loss != RK_NO_VALUE) reach[loss] = true;
  for (int i = N - 1; i >= 0; i--) {
    rk_node *n = &g->nodes[i];
    bool r = false;
    for (int k = 0; k < n->n_out; k++) r = r || reach[n->out[k]];
    if (r)
      for (int k = 0; k < n->n_in; k++) reach[n->in[k]] = true;
  }
  for (int v = 0; v < V; v++)
    g->values[v].needs_grad = dep[v] && reach[v] && g->values[v].dtype == RK_DT_F32;
  rk_free(dep);
  rk_free(reach);

  /* gradient births: the backward time of the last reader that runs backward */
  const int T_END = 2 * N + 1;
  for (int v = 0; v < V; v++) g->values[v].grad_birth = T_END;
  if (loss != RK_NO_VALUE) g->values[loss].grad_birth = N;
  for (int i = N - 1; i >= 0; i--) {
    rk_node *n = &g->nodes[i];
    for (int k = 0; k < n->n_in; k++) {
      rk_value *v = &g->values[n->in[k]];
      int t = 2 * N - 1 - i;
      if (v->needs_grad && t < v->grad_birth) v->grad_birth = t;
    }
  }

  /* a gradient whose first writer writes it whole is not zeroed: that writer must be the node
   * born with it, run backward (an output with a gradient) and read it once */
  for (int i = 0; i < N; i++) {
    rk_node *n = &g->nodes[i];
    n->dx_overwrite = false;
    if (!overwrites_dx(n->op) || n->n_in < 1 || n->in[0] == loss) continue;
    rk_value *x = &g->values[n->in[0]];
    bool runs = false, once = true;
    for (int k = 0; k < n->n_out; k++) runs = runs || g->values[n->out[k]].needs_grad;
    for (int k = 1; k < n->n_in; k++) once = once && n->in[k] != n->in[0];
    if (x->kind == RK_VAL_ACT && x->needs_grad && x->grad_birth == 2 * N - 1 - i && runs && once)
      n->dx_overwrite = x->grad_overwritten = true;
  }

  plan pl[2] = {{0}, {0}};
  rk_status s = RK_OK;
  size_t unplanned = 0;
  bool trainable = loss != RK_NO_VALUE;
  for (int v = 0; v < V && s == RK_OK; v++) {
    rk_value *x = &g->values[v];
    if (x->kind != RK_VAL_ACT) continue;
    size_t bytes = (size_t)x->numel * rk_dtype_size(x->dtype);
    int p = x->producer;
    int eval_end = x->output ? T_END : (x->last_use > p ? x->last_use : p);
    int train_end = x->output ? T_END : (trainable ? 2 * N - 1 - p : eval_end);
    s = plan_add(&pl[RK_TRAIN], bytes, p, train_end, &x->off[RK_TRAIN]);
    if (s == RK_OK) s = plan_add(&pl[RK_EVAL], bytes, p, eval_end, &x->off[RK_EVAL]);
    unplanned += bytes;
    if (s == RK_OK && x->needs_grad) {
      s = plan_add(&pl[RK_TRAIN], (size_t)x->numel * sizeof(float), x->grad_birth,
                   x->output ? T_END : 2 * N - 1 - p, &x->goff);
      unplanned += (size_t)x->numel * sizeof(float);
    }
  }
  for (int i = 0; i < N && s == RK_OK; i++) {
    rk_node *n = &g->nodes[i];
    int tb = 2 * N - 1 - i;
    s = plan_add(&pl[RK_TRAIN], n->ws_fwd_bytes, i, i, &n->ws_fwd_off[RK_TRAIN]);
    if (s == RK_OK) s = plan_add(&pl[RK_EVAL], n->ws_fwd_bytes, i, i, &n->ws_fwd_off[RK_EVAL]);
    if (s == RK_OK) s = plan_add(&pl[RK_TRAIN], trainable ? n->ws_bwd_bytes : 0, tb, tb, &n->ws_bwd_off);
    if (s == RK_OK)
      s = plan_add(&pl[RK_TRAIN], n->saved_bytes, i, trainable ? tb : i, &n->saved_off[RK_TRAIN]);
    if (s == RK_OK) s = plan_add(&pl[RK_EVAL], n->saved_bytes, i, i, &n->saved_off[RK_EVAL]);
    unplanned += n->ws_fwd_bytes + n->ws_bwd_bytes + n->saved_bytes;
  }
  size_t total[2] = {0, 0};
  if (s == RK_OK) s = plan_pack(&pl[RK_TRAIN], &total[RK_TRAIN]);
  if (s == RK_OK) s = plan_pack(&pl[RK_EVAL], &total[RK_EVAL]);
  rk_free(pl[0].items);
  rk_free(pl[1].items);
  RK_TRY(s);
  g->arena_bytes = total[0] > total[1] ? total[0] : total[1];
  g->unplanned_bytes = unplanned;
  RK_TRY(check_memory(g, trainable));
  g->arena = be->alloc(g->arena_bytes);
  if (!g->arena) return RK_ENOMEM;
  char *base = g->arena;

  /* leaves, sparse tables and per-op state: fixed memory */
  for (int v = 0; v < V; v++) {
    rk_value *x = &g->values[v];
    if (x->kind == RK_VAL_ACT) {
      for (int m = 0; m < 2; m++) x->data[m] = x->off[m] >= 0 ? base + x->off[m] : NULL;
      x->grad = x->needs_grad ? (float *)(base + x->goff) : NULL;
    } else if (x->kind == RK_VAL_INPUT) {
      void *d = rk_graph_fixed_alloc(g, (size_t)x->numel * rk_dtype_size(x->dtype));
      if (!d) return RK_ENOMEM;
      x->data[0] = x->data[1] = d;
      if (x->ragged) {
        x->offsets = rk_graph_fixed_alloc(g, (size_t)(g->batch + 1) * sizeof(int64_t));
        if (!x->offsets) return RK_ENOMEM;
      }
    } else {
      x->data[0] = x->data[1] = x->param->value.data;
      x->grad = x->needs_grad ? x->param->grad.data : NULL;
    }
  }
  for (int i = 0; i < g->n_sparse; i++) {
    rk_sparse_table *t = &g->sparse[i];
    int64_t D = t->param->value.shape[1];
    t->slot_ids = rk_graph_fixed_alloc(g, (size_t)t->n_slots * sizeof(int64_t));
    t->slot_grad = rk_graph_fixed_alloc(g, (size_t)(t->n_slots * D) * sizeof(float));
    t->order = rk_graph_fixed_alloc(g, (size_t)t->n_slots * 2 * sizeof(int64_t));
    t->order_tmp = rk_graph_fixed_alloc(g, (size_t)t->n_slots * 2 * sizeof(int64_t));
    t->row_start = rk_graph_fixed_alloc(g, (size_t)(t->n_slots + 1) * sizeof(int64_t));
    if (!t->slot_ids || !t->slot_grad || !t->order || !t->order_tmp || !t->row_start) return RK_ENOMEM;
    if (trainable) RK_TRY(rk_param_reserve_grad_rows(t->param, t->n_slots));
  }
  for (int i = 0; i < N; i++) {
    rk_node *n = &g->nodes[i];
    if (n->state_floats) {
      n->state = rk_graph_fixed_alloc(g, n->state_floats * sizeof(float));
      if (!n->state) return RK_ENOMEM;
      if (be->init_state[n->op]) be->init_state[n->op](g, n);
    }
  }
  g->grad_order = rk_malloc((size_t)(V ? V : 1) * sizeof(int));
  if (!g->grad_order) return RK_ENOMEM;
  g->n_grad_order = 0;
  for (int v = 0; v < V; v++)
    if (g->values[v].needs_grad && g->values[v].kind == RK_VAL_ACT) g->grad_order[g->n_grad_order++] = v;
  for (int i = 1; i < g->n_grad_order; i++) {   /* insertion sort by birth, stable */
    int v = g->grad_order[i], j = i - 1;
    while (j >= 0 && g->values[g->grad_order[j]].grad_birth > g->values[v].grad_birth) {
      g->grad_order[j + 1] = g->grad_order[j];
      j--;
    }
    g->grad_order[j + 1] = v;
  }
  RK_TRY(plan_grad_ready(g));
  g->loss = loss;
  g->built = true;
  return RK_OK;
}

/* ---- running ------------------------------------------------------------------------------- */

static void set_mode(rk_graph *g, rk_mode mode) {
  g->mode = mode;
  char *base = g->arena;
  for (int i = 0; i < g->n_nodes; i++) {
    rk_node *n = &g->nodes[i];
    n->ws_fwd = n->ws_fwd_off[mode] >= 0 ? base + n->ws_fwd_off[mode] : NULL;
    n->saved = n->saved_off[mode] >= 0 ? base + n->saved_off[mode] : NULL;
    n->ws_bwd = (mode == RK_TRAIN && n->ws_bwd_off >= 0) ? base + n->ws_bwd_off : NULL;
  }
}

rk_status rk_graph_forward(rk_graph *g, rk_mode mode) {
  if (!g->built) return rk_error(RK_EUSAGE, "forward: the graph is not built (rk_graph_build)");
  set_mode(g, mode);
  const rk_backend *be = g->backend;
  be->begin_pass();
  g->forward_done = false;
  for (int i = 0; i < g->n_nodes; i++) {
    const rk_node *n = &g->nodes[i];
    /* On the CPU, op <stem>'s row is <stem>_node_forward_cpu in src/nn/ops/<stem>.c. */
    rk_status s = be->forward[n->op](g, n);
    if (s != RK_OK) return rk_error_context(s, "forward of node %d (%s)", i, rk_op_name(n->op));
  }
  if (mode == RK_TRAIN) {
    g->forward_done = true;
    g->step++;
  }
  return RK_OK;
}

rk_status rk_graph_freeze_params(rk_graph *g) {
  if (!g->built) return rk_error(RK_EUSAGE, "freeze: the graph is not built (rk_graph_build)");
  if (g->frozen) return RK_OK;
  const rk_backend *be = g->backend;
  for (int i = 0; i < g->n_nodes; i++) {
    rk_node *n = &g->nodes[i];
    if (be->freeze[n->op]) RK_TRY(be->freeze[n->op](g, n));
  }
  g->frozen = true;
  return RK_OK;
}

rk_status rk_graph_backward(rk_graph *g) {
  if (!g->built || g->loss < 0)
    return rk_error(RK_EUSAGE, "backward: the graph was built without a loss");
  if (g->frozen) return rk_error(RK_EUSAGE, "backward: the graph's parameters are frozen (rk_graph_freeze_params)");
  if (!g->forward_done) return rk_error(RK_EUSAGE, "backward: run a train forward first");
  for (int i = 0; i < g->n_sparse; i++)
    if (g->sparse[i].param->n_grad_rows > 0)
      return rk_error(RK_EUSAGE,
                      "backward: sparse gradient of '%s' still holds %lld rows; call rk_graph_zero_grad",
                      g->sparse[i].param->name, (long long)g->sparse[i].param->n_grad_rows);
  const rk_backend *be = g->backend;
  be->begin_pass();
  for (int i = 0; i < g->n_sparse; i++) be->sparse_clear(&g->sparse[i]);
  const int N = g->n_nodes;
  int gi = 0, ready = 0;
  rk_status st = report_grad_ready(g, N - 1, &ready);
  for (int t = N; st == RK_OK && t < 2 * N; t++) {
    while (gi < g->n_grad_order && g->values[g->grad_order[gi]].grad_birth <= t) {
      rk_value *v = &g->values[g->grad_order[gi++]];
      if (v->grad_overwritten) continue;
      /* rows past a value's rows in use are neither written nor read: zero the rest only */
      be->fill(v->grad, v->partial_rows ? v->rows * (v->numel / v->shape[0]) : v->numel, 0.0f);
      if (g->grad_order[gi - 1] == g->loss) be->fill(v->grad, 1, 1.0f);   /* d loss / d loss */
    }
    const rk_node *n = &g->nodes[2 * N - 1 - t];
    bool run = false;
    for (int k = 0; k < n->n_out; k++) run = run || g->values[n->out[k]].needs_grad;
    if (run) be->backward[n->op](g, n);
    st = report_grad_ready(g, t, &ready);
  }
  for (int i = 0; st == RK_OK && i < g->n_sparse; i++) be->sparse_assemble(&g->sparse[i]);
  if (st == RK_OK) st = report_grad_ready(g, 2 * N, &ready);
  g->forward_done = false;
  return st;
}

void rk_graph_zero_grad(rk_graph *g) {
  if (g->whole_arena) rk_param_arena_zero_grad(g->whole_arena);   /* every dense gradient at once */
  for (int i = 0; i < g->n_params; i++)
    if (!g->whole_arena || g->params[i]->arena != g->whole_arena) rk_param_zero_grad(g->params[i]);
}

int rk_graph_param_count(const rk_graph *g) { return g->n_params; }
rk_param *rk_graph_param_at(const rk_graph *g, int i) {
  return (i >= 0 && i < g->n_params) ? g->params[i] : NULL;
}
size_t rk_graph_arena_bytes(const rk_graph *g) { return g->arena_bytes; }
size_t rk_graph_unplanned_bytes(const rk_graph *g) { return g->unplanned_bytes; }

/* ---- data access --------------------------------------------------------------------------- */

static rk_value *leaf(rk_graph *g, int v, rk_dtype dtype) {
  if (!g->built || v < 0 || v >= g->n_values) return NULL;
  rk_value *x = &g->values[v];
  if (x->kind != RK_VAL_INPUT || x->dtype != dtype) return NULL;
  return x;
}

float *rk_graph_input_f32(rk_graph *g, int v) {
  rk_value *x = leaf(g, v, RK_DT_F32);
  return x ? x->data[0] : NULL;
}
int64_t *rk_graph_input_ids_data(rk_graph *g, int v) {
  rk_value *x = leaf(g, v, RK_DT_I64);
  return x ? x->data[0] : NULL;
}
int64_t *rk_graph_input_offsets(rk_graph *g, int v) {
  rk_value *x = leaf(g, v, RK_DT_I64);
  return x ? x->offsets : NULL;
}
rk_status rk_graph_table_ids(const rk_graph *g, const rk_param *t, int64_t **ids, int64_t *n, int64_t *cap) {
  for (int k = 0; k < g->n_nodes; k++) {
    const rk_node *node = &g->nodes[k];
    if ((node->op != RK_OP_EMBEDDING && node->op != RK_OP_EMBEDDING_BAG) || node->params[0] != t) continue;
    const rk_value *x = rk_val(g, node->in[0]);
    if (x->kind != RK_VAL_INPUT)
      return rk_error(RK_EUNSUPPORTED, "table '%s' is looked up by ids the graph computes: it cannot be held elsewhere",
                      t->name);
    const int64_t *in = x->data[0];
    int64_t count = x->ragged ? x->offsets[g->batch] : x->numel, padding = node->iattr[0], need;
    RK_TRY(rk_size_add(&need, *n, count, "a table's ids for one step"));
    if (need > *cap) {
      int64_t room = *cap ? *cap : 256;
      while (room < need) RK_TRY(rk_size_mul(&room, room, 2, "a table's ids for one step"));
      int64_t *grown = rk_realloc(*ids, (size_t)room * sizeof *grown);
      if (!grown) return RK_ENOMEM;
      *ids = grown;
      *cap = room;
    }
    for (int64_t i = 0; i < count; i++)
      if (in[i] != padding) (*ids)[(*n)++] = in[i];
  }
  return RK_OK;
}

const float *rk_graph_value_f32(const rk_graph *g, int v) {
  if (!g->built || v < 0 || v >= g->n_values || g->values[v].dtype != RK_DT_F32) return NULL;
  return g->values[v].data[g->mode];
}
int rk_graph_value_ndim(const rk_graph *g, int v) {
  return (v >= 0 && v < g->n_values) ? g->values[v].ndim : -1;
}
const int64_t *rk_graph_value_shape(const rk_graph *g, int v) {
  return (v >= 0 && v < g->n_values) ? g->values[v].shape : NULL;
}
int64_t rk_graph_value_rows(const rk_graph *g, int v) {
  return (v >= 0 && v < g->n_values) ? g->values[v].rows : -1;
}

int64_t rk_graph_value_numel(const rk_graph *g, int v) {
  return (v >= 0 && v < g->n_values) ? g->values[v].numel : -1;
}
