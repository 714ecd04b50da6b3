/*
 * Gradient checks for every op of the op list (RK_OP_LIST), one cmocka test per op, generated
 * from the op table: an op without a case fails its test, and a failing op does not hide the
 * others.
 *
 * Each case builds a small graph whose float operands are parameters, reduces the op's output
 * to a scalar with a fixed random probe (loss = sum(out * probe)), and compares every analytic
 * gradient entry (dense, or the compact row-sparse gradient of tables) with a central
 * difference of the f32 forward. Reductions inside the ops accumulate in double, so h = 1e-3
 * leaves errors near 1e-4; the tolerance is |num - ana| <= 3e-3 + 3e-2 |ana|.
 *
 * Each case then runs again as a twin of the CPU at one thread: on the CPU at two threads,
 * where loss and gradients must be bit-identical, and on every other backend built in that
 * implements the op and has a device (CUDA with a GPU), within 1e-5 + 1e-4 |cpu|. The probe's
 * mul and sum must run there too.
 */
#include "support.h"

#include <math.h>
#include <string.h>

#include "nn/backend.h"
#include "reckon/nn.h"

#define B 3
#define MAXP 24
#define MAXF 8

/* FILL_POSITIONS: ids in [-1, hi) (gather's positions, -1 for none); FILL_ROW_LIST: the first
 * half rows in [0, hi) (repeats), then -1 (gather_rows' index: rows in use < capacity);
 * FILL_SESSION_ROWS: rows of [0, hi) in order, each kept with probability 2/3, then -1 (a packed
 * body's real rows; with seed 7 and 3 sessions of 4: positions 0, 1, 3 | 2 | all four) */
typedef enum {
  FILL_NORMAL, FILL_BINARY, FILL_IDS, FILL_RAGGED, FILL_POSITIVE, FILL_POSITIONS, FILL_ROW_LIST, FILL_SESSION_ROWS
} fill_kind;

typedef struct {
  rk_graph *g;
  rk_param params[MAXP];
  int n_params;
  struct {
    int v;
    fill_kind kind;
    int64_t hi;
  } fills[MAXF];
  int n_fills;
  bool train_only_rng;   /* dropout: same mask for every forward */
} gc_ctx;

static rk_param *dense(gc_ctx *c, const char *name, int ndim, const int64_t *shape, float std) {
  rk_param *p = &c->params[c->n_params];
  assert_rk_ok(rk_param_init(p, name, ndim, shape));
  rk_param_fill_normal(p, 42, (uint64_t)c->n_params, std);
  c->n_params++;
  return p;
}

static int dense_value(gc_ctx *c, int ndim, const int64_t *shape) {
  int v;
  assert_rk_ok(rk_graph_param(c->g, &v, dense(c, "x", ndim, shape, 1.0f)));
  return v;
}

static rk_param *table(gc_ctx *c, int64_t V, int64_t D) {
  rk_param *p = &c->params[c->n_params];
  assert_rk_ok(rk_param_init_sparse(p, "table", V, D));
  rk_param_fill_normal(p, 42, (uint64_t)c->n_params, 0.5f);
  c->n_params++;
  return p;
}

static void defer(gc_ctx *c, int v, fill_kind kind, int64_t hi) {
  c->fills[c->n_fills].v = v;
  c->fills[c->n_fills].kind = kind;
  c->fills[c->n_fills].hi = hi;
  c->n_fills++;
}

static void fill_inputs(gc_ctx *c) {
  rk_rng rng;
  rk_rng_init(&rng, 7, 0);
  for (int k = 0; k < c->n_fills; k++) {
    int v = c->fills[k].v;
    int64_t n = rk_graph_value_numel(c->g, v);
    switch (c->fills[k].kind) {
    case FILL_NORMAL:
    case FILL_BINARY:
    case FILL_POSITIVE: {
      float *x = rk_graph_input_f32(c->g, v);
      assert_non_null(x);
      for (int64_t i = 0; i < n; i++)
        x[i] = c->fills[k].kind == FILL_NORMAL ? (float)rk_rng_normal(&rng)
               : c->fills[k].kind == FILL_BINARY ? (float)(rk_rng_u32(&rng) & 1)
                                                 : 0.5f + (float)rk_rng_uniform(&rng);
      break;
    }
    case FILL_IDS:
    case FILL_POSITIONS: {
      int64_t *ids = rk_graph_input_ids_data(c->g, v), lo = c->fills[k].kind == FILL_POSITIONS ? -1 : 0;
      assert_non_null(ids);
      for (int64_t i = 0; i < n; i++) ids[i] = lo + (int64_t)rk_rng_below(&rng, (uint64_t)(c->fills[k].hi - lo));
      break;
    }
    case FILL_ROW_LIST: {
      int64_t *rows = rk_graph_input_ids_data(c->g, v);
      assert_non_null(rows);
      for (int64_t i = 0; i < n; i++) rows[i] = i < (n + 1) / 2 ? (int64_t)rk_rng_below(&rng, (uint64_t)c->fills[k].hi) : -1;
      break;
    }
    case FILL_SESSION_ROWS: {
      int64_t *rows = rk_graph_input_ids_data(c->g, v), m = 0;
      assert_non_null(rows);
      for (int64_t r = 0; r < c->fills[k].hi; r++)
        if (rk_rng_below(&rng, 3) != 0) rows[m++] = r;
      for (; m < n; m++) rows[m] = -1;
      break;
    }
    case FILL_RAGGED: {
      int64_t *ids = rk_graph_input_ids_data(c->g, v), *off = rk_graph_input_offsets(c->g, v);
      /* bags of 3, 0, 4, ... ids with repeats and padding */
      int64_t pos = 0;
      off[0] = 0;
      for (int b = 0; b < B; b++) {
        int64_t len = b == 1 ? 0 : (b % 2 ? 2 : 4);
        if (pos + len > n) len = n - pos;
        for (int64_t j = 0; j < len; j++) ids[pos + j] = (int64_t)rk_rng_below(&rng, (uint64_t)c->fills[k].hi);
        pos += len;
        off[b + 1] = pos;
      }
      break;
    }
    }
  }
}

typedef int (*case_fn)(gc_ctx *c);

static double loss_value(rk_graph *g, int loss) {
  rk_graph_set_step(g, 5);
  assert_rk_ok(rk_graph_forward(g, RK_TRAIN));
  return rk_graph_value_f32(g, loss)[0];
}

/* The case's graph on backend `be`, with the probe and the loss: returns the loss handle. */
static int build_case(gc_ctx *c, rk_param *probe, case_fn fn, const rk_backend *be) {
  memset(c, 0, sizeof *c);
  assert_rk_ok(rk_graph_create(&c->g, B));
  assert_rk_ok(rk_graph_set_backend(c->g, be));
  int out = fn(c);
  int probe_v, prod, loss;
  assert_rk_ok(rk_param_init(probe, "probe", rk_graph_value_ndim(c->g, out), rk_graph_value_shape(c->g, out)));
  rk_param_fill_normal(probe, 99, 0, 1.0f);
  assert_rk_ok(rk_graph_param(c->g, &probe_v, probe));
  assert_rk_ok(rk_graph_mul(c->g, &prod, out, probe_v));
  assert_rk_ok(rk_graph_sum(c->g, &loss, prod, RK_REDUCE_ALL));
  assert_rk_ok(rk_graph_output(c->g, loss));
  assert_rk_ok(rk_graph_build(c->g, loss));
  fill_inputs(c);
  return loss;
}

static void free_case(gc_ctx *c, rk_param *probe) {
  rk_graph_free(c->g);
  for (int k = 0; k < c->n_params; k++) rk_param_free(&c->params[k]);
  rk_param_free(probe);
}

/* One train step's loss; the gradients are left in the parameters. */
static double loss_and_grads(gc_ctx *c, int loss) {
  rk_graph_zero_grad(c->g);
  double l = loss_value(c->g, loss);
  assert_rk_ok(rk_graph_backward(c->g));
  return l;
}

/* Element i of p's gradient: dense, or looked up in the compact rows (0 when untouched). */
static float grad_at(const rk_param *p, int64_t i) {
  if (!p->sparse) return ((const float *)p->grad.data)[i];
  int64_t D = p->value.shape[1];
  for (int64_t r = 0; r < p->n_grad_rows; r++)
    if (p->grad_rows[r] == i / D) return ((const float *)p->grad.data)[r * D + i % D];
  return 0.0f;
}

static void run_case(const char *name, case_fn fn) {
  int64_t live0 = rk_alloc_live_bytes();
  gc_ctx c;
  rk_param probe;
  int loss = build_case(&c, &probe, fn, &rk_backend_cpu);
  loss_and_grads(&c, loss);
  const float h = 1e-3f;
  int checked = 0;
  for (int k = 0; k < c.n_params; k++) {
    rk_param *p = &c.params[k];
    float *w = p->value.data;
    int64_t n = rk_tensor_numel(&p->value);
    for (int64_t i = 0; i < n; i++) {
      double ana = grad_at(p, i);
      float w0 = w[i];
      w[i] = w0 + h;
      double lp = loss_value(c.g, loss);
      w[i] = w0 - h;
      double lm = loss_value(c.g, loss);
      w[i] = w0;
      double num = (lp - lm) / (2.0 * h);
      if (fabs(num - ana) > 3e-3 + 3e-2 * fabs(ana))
        fail_msg("%s: param %d ('%s') element %lld: analytic %.6g, numeric %.6g", name, k, p->name,
                 (long long)i, ana, num);
      checked++;
    }
  }
  assert_true(checked > 0);
  free_case(&c, &probe);
  assert_int_equal(rk_alloc_live_bytes(), live0);
}

/* The case on `be` at `threads` against the CPU at one thread: the loss and every gradient
 * element, bit for bit when `exact`. */
static void compare_twin(const char *name, case_fn fn, const rk_backend *be, int threads, bool exact) {
  int64_t live0 = rk_alloc_live_bytes();
  gc_ctx ref, twin;
  rk_param ref_probe, twin_probe;
  assert_rk_ok(rk_set_num_threads(1));
  int ref_loss = build_case(&ref, &ref_probe, fn, &rk_backend_cpu);
  float want = (float)loss_and_grads(&ref, ref_loss);
  assert_rk_ok(rk_set_num_threads(threads));
  int twin_loss = build_case(&twin, &twin_probe, fn, be);
  float got = (float)loss_and_grads(&twin, twin_loss);
  assert_int_equal(twin.n_params, ref.n_params);
  for (int k = -1; k < ref.n_params; k++) {
    int64_t n = k < 0 ? 1 : rk_tensor_numel(&ref.params[k].value);
    for (int64_t i = 0; i < n; i++) {
      float a = k < 0 ? want : grad_at(&ref.params[k], i), b = k < 0 ? got : grad_at(&twin.params[k], i);
      bool same = exact ? memcmp(&a, &b, sizeof a) == 0 : fabsf(a - b) <= 1e-5f + 1e-4f * fabsf(a);
      if (!same)
        fail_msg("%s on %s at %d threads: %s%s element %lld is %.9g, the CPU at 1 thread gives %.9g", name,
                 be->name, threads, k < 0 ? "the loss" : "the gradient of ", k < 0 ? "" : ref.params[k].name,
                 (long long)i, b, a);
    }
  }
  free_case(&ref, &ref_probe);
  free_case(&twin, &twin_probe);
  assert_rk_ok(rk_set_num_threads(1));
  assert_int_equal(rk_alloc_live_bytes(), live0);
}

/* ---- group 1 ----------------------------------------------------------------------------- */

static int c_linear(gc_ctx *c) {
  int64_t xs[2] = {B, 4}, ws[2] = {5, 4}, bs[1] = {5};
  int x = dense_value(c, 2, xs), out;
  rk_param *w = dense(c, "w", 2, ws, 0.5f), *b = dense(c, "b", 1, bs, 0.5f);
  assert_rk_ok(rk_graph_linear(c->g, &out, x, w, b, RK_ACT_NONE));
  return out;
}
static int linear_act(gc_ctx *c, rk_act act) {
  int64_t xs[3] = {B, 2, 4}, ws[2] = {3, 4}, bs[1] = {3};
  int x = dense_value(c, 3, xs), out;
  rk_param *w = dense(c, "w", 2, ws, 0.5f), *b = dense(c, "b", 1, bs, 0.5f);
  assert_rk_ok(rk_graph_linear(c->g, &out, x, w, b, act));
  return out;
}
static int c_linear_relu(gc_ctx *c) { return linear_act(c, RK_ACT_RELU); }
static int c_linear_sigmoid(gc_ctx *c) { return linear_act(c, RK_ACT_SIGMOID); }
static int c_linear_tanh(gc_ctx *c) { return linear_act(c, RK_ACT_TANH); }

static int binary(gc_ctx *c, bool mul, bool broadcast) {
  int64_t as[2] = {B, 4}, bs[1] = {4};
  int a = dense_value(c, 2, as), b = broadcast ? dense_value(c, 1, bs) : dense_value(c, 2, as), out;
  assert_rk_ok(mul ? rk_graph_mul(c->g, &out, a, b) : rk_graph_add(c->g, &out, a, b));
  return out;
}
static int c_add(gc_ctx *c) { return binary(c, false, false); }
static int c_add_broadcast(gc_ctx *c) { return binary(c, false, true); }
static int c_mul(gc_ctx *c) { return binary(c, true, false); }
static int c_mul_broadcast(gc_ctx *c) { return binary(c, true, true); }
static int c_add_positions(gc_ctx *c) {   /* x (B, T, D) + a learned position table (T, D) */
  int64_t xs[3] = {B, 4, 3}, ps[2] = {4, 3};
  int x = dense_value(c, 3, xs), pos = dense_value(c, 2, ps), out;
  assert_rk_ok(rk_graph_add(c->g, &out, x, pos));
  return out;
}
static int c_add_fanout(gc_ctx *c) {   /* a + a: the gradient is 2, by addition */
  int64_t as[2] = {B, 4};
  int a = dense_value(c, 2, as), out;
  assert_rk_ok(rk_graph_add(c->g, &out, a, a));
  return out;
}

static int c_concat(gc_ctx *c) {
  int64_t s1[3] = {B, 2, 3}, s2[3] = {B, 1, 3};
  int xs[2] = {dense_value(c, 3, s1), dense_value(c, 3, s2)}, out;
  assert_rk_ok(rk_graph_concat(c->g, &out, 2, xs, 1));
  return out;
}
/* More inputs than one node holds (16): built as a tree of concats, the order kept. */
static int c_concat_many(gc_ctx *c) {
  int xs[20], out;
  for (int i = 0; i < 20; i++) {
    int64_t s[3] = {B, 1 + i % 3, 2};
    xs[i] = dense_value(c, 3, s);
  }
  assert_rk_ok(rk_graph_concat(c->g, &out, 20, xs, 1));
  return out;
}
static int c_reshape(gc_ctx *c) {
  int64_t s[3] = {B, 2, 3}, ns[2] = {B, -1};
  int x = dense_value(c, 3, s), out;
  assert_rk_ok(rk_graph_reshape(c->g, &out, x, 2, ns));
  return out;
}
static int c_sum(gc_ctx *c) {
  int64_t s[3] = {B, 2, 3};
  int x = dense_value(c, 3, s), out;
  assert_rk_ok(rk_graph_sum(c->g, &out, x, 1));
  return out;
}
static int c_mean(gc_ctx *c) {
  int64_t s[3] = {B, 2, 3};
  int x = dense_value(c, 3, s), out;
  assert_rk_ok(rk_graph_mean(c->g, &out, x, 2));
  return out;
}
static int c_mean_all(gc_ctx *c) {
  int64_t s[2] = {B, 3};
  int x = dense_value(c, 2, s), out;
  assert_rk_ok(rk_graph_mean(c->g, &out, x, RK_REDUCE_ALL));
  return out;
}
static int c_relu(gc_ctx *c) {
  int64_t s[2] = {B, 5};
  int x = dense_value(c, 2, s), out;
  assert_rk_ok(rk_graph_relu(c->g, &out, x));
  return out;
}
static int c_sigmoid(gc_ctx *c) {
  int64_t s[2] = {B, 5};
  int x = dense_value(c, 2, s), out;
  assert_rk_ok(rk_graph_sigmoid(c->g, &out, x));
  return out;
}
static int c_tanh(gc_ctx *c) {
  int64_t s[2] = {B, 5};
  int x = dense_value(c, 2, s), out;
  assert_rk_ok(rk_graph_tanh(c->g, &out, x));
  return out;
}
static int c_bce(gc_ctx *c) {
  int64_t s[2] = {B, 1}, one[1] = {1};
  int z = dense_value(c, 2, s), y, w, out;
  assert_rk_ok(rk_graph_input(c->g, &y, "y", 1, one));
  assert_rk_ok(rk_graph_input(c->g, &w, "w", 1, one));
  defer(c, y, FILL_BINARY, 0);
  defer(c, w, FILL_POSITIVE, 0);
  assert_rk_ok(rk_graph_bce_logits(c->g, &out, z, y, w));
  return out;
}
/* A packed discriminator's loss: rows packed by gather_rows (6 of 12 in use), a linear to one
 * logit each, bce_logits over those rows with labels and weights in front. */
static int c_bce_rows_in_use(gc_ctx *c) {
  int64_t xs[3] = {B, 4, 3}, ws[2] = {1, 3}, bs[1] = {1}, four[1] = {4};
  int x = dense_value(c, 3, xs), ix, rows, z, y, w, out;
  rk_param *lw = dense(c, "pred_w", 2, ws, 0.5f), *lb = dense(c, "pred_b", 1, bs, 0.5f);
  assert_rk_ok(rk_graph_input_ids(c->g, &ix, "rows", 4));
  assert_rk_ok(rk_graph_input(c->g, &y, "y", 1, four));
  assert_rk_ok(rk_graph_input(c->g, &w, "w", 1, four));
  defer(c, ix, FILL_ROW_LIST, B * 4);
  defer(c, y, FILL_BINARY, 0);
  defer(c, w, FILL_POSITIVE, 0);
  assert_rk_ok(rk_graph_gather_rows(c->g, &rows, x, ix));
  assert_rk_ok(rk_graph_linear(c->g, &z, rows, lw, lb, RK_ACT_NONE));
  assert_rk_ok(rk_graph_bce_logits(c->g, &out, z, y, w));
  return out;
}
static int c_mse(gc_ctx *c) {
  int64_t s[2] = {B, 2};
  int p = dense_value(c, 2, s), t = dense_value(c, 2, s), out;
  assert_rk_ok(rk_graph_mse(c->g, &out, p, t, RK_NO_VALUE));
  return out;
}
static int c_mse_weighted(gc_ctx *c) {
  int64_t s[2] = {B, 1}, one[1] = {1};
  int p = dense_value(c, 2, s), t = dense_value(c, 2, s), w, out;
  assert_rk_ok(rk_graph_input(c->g, &w, "w", 1, one));
  defer(c, w, FILL_POSITIVE, 0);
  assert_rk_ok(rk_graph_mse(c->g, &out, p, t, w));
  return out;
}
static int c_embedding(gc_ctx *c) {
  rk_param *t = table(c, 6, 3);
  int ids, out;
  assert_rk_ok(rk_graph_input_ids(c->g, &ids, "ids", 4));
  defer(c, ids, FILL_IDS, 6);   /* includes the padding id 0 and repeats */
  assert_rk_ok(rk_graph_embedding(c->g, &out, t, ids, 0));
  return out;
}
/* A dense table read by a lookup and, tied, as an output layer's weight: one dense gradient. */
static int c_embedding_tied(gc_ctx *c) {
  int64_t ts[2] = {6, 3}, bs[1] = {6};
  rk_param *t = dense(c, "items", 2, ts, 0.5f), *b = dense(c, "bias", 1, bs, 0.5f);
  int ids, e, out;
  assert_rk_ok(rk_graph_input_ids(c->g, &ids, "ids", 4));
  defer(c, ids, FILL_IDS, 6);
  assert_rk_ok(rk_graph_embedding(c->g, &e, t, ids, 0));
  assert_rk_ok(rk_graph_linear(c->g, &out, e, t, b, RK_ACT_NONE));   /* (B, 4, 6) logits */
  return out;
}
static int bag(gc_ctx *c, rk_pool pool) {
  rk_param *t = table(c, 5, 3);
  int r, out;
  assert_rk_ok(rk_graph_input_ragged(c->g, &r, "bag", 12));
  defer(c, r, FILL_RAGGED, 5);
  assert_rk_ok(rk_graph_embedding_bag(c->g, &out, t, r, pool, 0));
  return out;
}
static int c_bag_sum(gc_ctx *c) { return bag(c, RK_POOL_SUM); }
static int c_bag_mean(gc_ctx *c) { return bag(c, RK_POOL_MEAN); }
static int c_shared_table(gc_ctx *c) {   /* one table read by a lookup and a bag: slots merge */
  rk_param *t = table(c, 5, 2);
  int ids, r, e, eb, e2, out;
  assert_rk_ok(rk_graph_input_ids(c->g, &ids, "ids", 1));
  assert_rk_ok(rk_graph_input_ragged(c->g, &r, "bag", 8));
  defer(c, ids, FILL_IDS, 5);
  defer(c, r, FILL_RAGGED, 5);
  assert_rk_ok(rk_graph_embedding(c->g, &e, t, ids, 0));
  assert_rk_ok(rk_graph_embedding_bag(c->g, &eb, t, r, RK_POOL_SUM, 0));
  int64_t s[2] = {B, 2};
  assert_rk_ok(rk_graph_reshape(c->g, &e2, e, 2, s));
  assert_rk_ok(rk_graph_mul(c->g, &out, e2, eb));
  return out;
}
static int c_l2(gc_ctx *c) {
  int64_t s1[2] = {3, 2}, s2[1] = {4};
  rk_param *ps[2] = {dense(c, "a", 2, s1, 1.0f), dense(c, "b", 1, s2, 1.0f)};
  int out;
  assert_rk_ok(rk_graph_l2(c->g, &out, 2, ps, 0.3f));
  return out;
}
static int c_embedding_l2(gc_ctx *c) {
  rk_param *t = table(c, 5, 2);
  int r, eb, l2, l2v, out;
  assert_rk_ok(rk_graph_input_ragged(c->g, &r, "bag", 8));
  defer(c, r, FILL_RAGGED, 5);
  assert_rk_ok(rk_graph_embedding_bag(c->g, &eb, t, r, RK_POOL_MEAN, 0));
  assert_rk_ok(rk_graph_embedding_l2(c->g, &l2, eb, 0.25f));
  int64_t one[1] = {1};
  assert_rk_ok(rk_graph_reshape(c->g, &l2v, l2, 1, one));
  int sum_eb;
  assert_rk_ok(rk_graph_sum(c->g, &sum_eb, eb, RK_REDUCE_ALL));
  int s1;
  assert_rk_ok(rk_graph_reshape(c->g, &s1, sum_eb, 1, one));
  assert_rk_ok(rk_graph_add(c->g, &out, s1, l2v));
  return out;
}

/* ---- group 2 ----------------------------------------------------------------------------- */

static int c_dot_interaction(gc_ctx *c) {
  int64_t ds[2] = {B, 3}, es[3] = {B, 3, 3};
  int d = dense_value(c, 2, ds), e = dense_value(c, 3, es), out;
  assert_rk_ok(rk_graph_dot_interaction(c->g, &out, d, e));
  return out;
}
static int cross_case(gc_ctx *c, bool low, bool same) {
  int64_t xs[2] = {B, 4}, ws[2] = {4, 4}, us[2] = {4, 2}, bs[1] = {4};
  int x0 = dense_value(c, 2, xs), x = same ? x0 : dense_value(c, 2, xs), out;
  rk_param *w = low ? NULL : dense(c, "w", 2, ws, 0.5f);
  rk_param *u = low ? dense(c, "u", 2, us, 0.5f) : NULL, *v = low ? dense(c, "v", 2, us, 0.5f) : NULL;
  rk_param *b = dense(c, "b", 1, bs, 0.5f);
  assert_rk_ok(rk_graph_cross(c->g, &out, x0, x, w, u, v, b));
  return out;
}
static int c_cross(gc_ctx *c) { return cross_case(c, false, false); }
static int c_cross_first_layer(gc_ctx *c) { return cross_case(c, false, true); }
static int c_cross_lowrank(gc_ctx *c) { return cross_case(c, true, false); }
static int c_fm(gc_ctx *c) {
  int64_t es[3] = {B, 4, 3}, fs[2] = {B, 4};
  int e = dense_value(c, 3, es), f = dense_value(c, 2, fs), out;
  assert_rk_ok(rk_graph_fm(c->g, &out, e, f));
  return out;
}
static int c_gate(gc_ctx *c) {
  int64_t xs[3] = {B, 3, 4}, ls[2] = {B, 3};
  int x = dense_value(c, 3, xs), l = dense_value(c, 2, ls), out;
  assert_rk_ok(rk_graph_gate(c->g, &out, x, l, 0.7f));
  return out;
}
static int c_split(gc_ctx *c) {
  int64_t xs[3] = {B, 5, 2}, sizes[2] = {2, 3};
  int x = dense_value(c, 3, xs), outs[2], out;
  assert_rk_ok(rk_graph_split(c->g, outs, x, 1, 2, sizes));
  int64_t s2[3] = {B, 2, 2};
  int t;
  assert_rk_ok(rk_graph_split(c->g, outs, x, 1, 2, sizes));   /* second split: only part 1 used */
  assert_rk_ok(rk_graph_reshape(c->g, &t, outs[0], 3, s2));
  (void)out;
  return t;
}
static int c_transpose(gc_ctx *c) {
  int64_t xs[4] = {B, 2, 3, 4};
  int x = dense_value(c, 4, xs), out;
  assert_rk_ok(rk_graph_transpose(c->g, &out, x, 1, 3));
  return out;
}
static int c_matmul(gc_ctx *c) {
  int64_t as[2] = {B, 4}, bs[2] = {4, 2};
  int a = dense_value(c, 2, as), b = dense_value(c, 2, bs), out;
  assert_rk_ok(rk_graph_matmul(c->g, &out, a, b));
  return out;
}
static int c_matmul_batched(gc_ctx *c) {
  int64_t as[3] = {B, 2, 4}, bs[3] = {B, 4, 3};
  int a = dense_value(c, 3, as), b = dense_value(c, 3, bs), out;
  assert_rk_ok(rk_graph_matmul(c->g, &out, a, b));
  return out;
}
static int c_matmul_shared(gc_ctx *c) {
  int64_t as[3] = {B, 2, 4}, bs[2] = {4, 3};
  int a = dense_value(c, 3, as), b = dense_value(c, 2, bs), out;
  assert_rk_ok(rk_graph_matmul(c->g, &out, a, b));
  return out;
}

/* ---- group 3 ----------------------------------------------------------------------------- */

static int unary3(gc_ctx *c, rk_op op) {
  int64_t s[2] = {B, 5};
  int x = dense_value(c, 2, s), out = -1;
  switch (op) {
  case RK_OP_LEAKY_RELU: assert_rk_ok(rk_graph_leaky_relu(c->g, &out, x, 0.1f)); break;
  case RK_OP_SELU: assert_rk_ok(rk_graph_selu(c->g, &out, x)); break;
  case RK_OP_SOFTMAX: assert_rk_ok(rk_graph_softmax(c->g, &out, x, 0.8f)); break;
  case RK_OP_LOG_SOFTMAX: assert_rk_ok(rk_graph_log_softmax(c->g, &out, x)); break;
  default: fail();
  }
  return out;
}
static int c_leaky_relu(gc_ctx *c) { return unary3(c, RK_OP_LEAKY_RELU); }
static int c_selu(gc_ctx *c) { return unary3(c, RK_OP_SELU); }
static int c_softmax(gc_ctx *c) { return unary3(c, RK_OP_SOFTMAX); }
static int c_log_softmax(gc_ctx *c) { return unary3(c, RK_OP_LOG_SOFTMAX); }
static int gelu_case(gc_ctx *c, bool approx) {
  int64_t s[2] = {B, 5};
  int x = dense_value(c, 2, s), out;
  assert_rk_ok(rk_graph_gelu(c->g, &out, x, approx));
  return out;
}
static int c_gelu_tanh(gc_ctx *c) { return gelu_case(c, true); }
static int c_gelu_erf(gc_ctx *c) { return gelu_case(c, false); }
static int dropout_case(gc_ctx *c, bool alpha) {
  int64_t s[2] = {B, 6};
  int x = dense_value(c, 2, s), out;
  assert_rk_ok(rk_graph_dropout(c->g, &out, x, 0.3f, alpha));
  return out;
}
static int c_dropout(gc_ctx *c) { return dropout_case(c, false); }
static int c_alpha_dropout(gc_ctx *c) { return dropout_case(c, true); }
static int c_layer_norm(gc_ctx *c) {
  int64_t s[2] = {B, 5}, d[1] = {5};
  int x = dense_value(c, 2, s), out;
  rk_param *gm = dense(c, "gamma", 1, d, 1.0f), *bt = dense(c, "beta", 1, d, 1.0f);
  assert_rk_ok(rk_graph_layer_norm(c->g, &out, x, gm, bt, 1e-5f));
  return out;
}
static int c_batch_norm(gc_ctx *c) {
  int64_t s[2] = {B, 4}, d[1] = {4};
  int x = dense_value(c, 2, s), out;
  rk_param *gm = dense(c, "gamma", 1, d, 1.0f), *bt = dense(c, "beta", 1, d, 1.0f);
  assert_rk_ok(rk_graph_batch_norm(c->g, &out, x, gm, bt, 1e-5f, 0.1f));
  return out;
}
static int c_softmax_ce(gc_ctx *c) {
  int64_t s[2] = {B, 4};
  int z = dense_value(c, 2, s), y, out;
  assert_rk_ok(rk_graph_input_ids(c->g, &y, "y", 1));
  defer(c, y, FILL_IDS, 4);
  assert_rk_ok(rk_graph_softmax_ce(c->g, &out, z, y, 2, 0.1f, 1.0f));
  return out;
}
static int c_softmax_ce_temperature(gc_ctx *c) {
  int64_t s[2] = {B, 5};
  int z = dense_value(c, 2, s), y, out;
  assert_rk_ok(rk_graph_input_ids(c->g, &y, "y", 1));
  defer(c, y, FILL_IDS, 5);
  assert_rk_ok(rk_graph_softmax_ce(c->g, &out, z, y, 0, 0.2f, 0.6f));
  return out;
}
static int c_hash_cross_wide(gc_ctx *c) {
  rk_param *t = table(c, 7, 1);
  int a, b, h, out;
  assert_rk_ok(rk_graph_input_ids(c->g, &a, "a", 2));
  assert_rk_ok(rk_graph_input_ids(c->g, &b, "b", 1));
  defer(c, a, FILL_IDS, 50);
  defer(c, b, FILL_IDS, 50);
  assert_rk_ok(rk_graph_hash_cross(c->g, &h, a, 1, b, 0, 7));
  assert_rk_ok(rk_graph_embedding(c->g, &out, t, h, 0));
  return out;
}

/* rtd_replace: draws from logits (B, 2, 4) at the listed rows looked up in a table; the draws are
 * ids (nothing flows back into the logits, an input here), so the table's gradient checks them,
 * and the twin at two threads that they do not depend on threads. */
static int rtd_case(gc_ctx *c, bool from_batch) {
  int64_t zs[2] = {2, 4};
  rk_param *t = table(c, 4, 2);
  int z, rows, packed, items, fake, source, replaced, weight, out;
  assert_rk_ok(rk_graph_input(c->g, &z, "z", 2, zs));
  assert_rk_ok(rk_graph_input_ids(c->g, &rows, "rows", 2));
  assert_rk_ok(rk_graph_input_ids(c->g, &packed, "packed", 2));
  assert_rk_ok(rk_graph_input_ids(c->g, &items, "items", 2));
  defer(c, z, FILL_NORMAL, 0);
  defer(c, rows, FILL_ROW_LIST, 2 * B);
  defer(c, packed, FILL_IDS, 4);
  defer(c, items, FILL_IDS, 4);
  assert_rk_ok(rk_graph_rtd_replace(c->g, &fake, &source, &replaced, &weight, z, rows, packed, items, RK_NO_VALUE, 0, 0.7f, from_batch));
  assert_rk_ok(rk_graph_embedding(c->g, &out, t, fake, 0));
  return out;
}
/* The same on a packed body: body rows (the first B of 2 B in use, repeats allowed), the labelled
 * rows among them. */
static int c_rtd_replace_packed(gc_ctx *c) {
  int64_t zs[2] = {2, 4};
  rk_param *t = table(c, 4, 2);
  int z, rows, packed, items, body, fake, source, replaced, weight, out;
  assert_rk_ok(rk_graph_input(c->g, &z, "z", 2, zs));
  assert_rk_ok(rk_graph_input_ids(c->g, &rows, "rows", 2));
  assert_rk_ok(rk_graph_input_ids(c->g, &packed, "packed", 2));
  assert_rk_ok(rk_graph_input_ids(c->g, &items, "items", 2));
  assert_rk_ok(rk_graph_input_ids(c->g, &body, "body rows", 2));
  defer(c, z, FILL_NORMAL, 0);
  defer(c, rows, FILL_ROW_LIST, B);
  defer(c, packed, FILL_IDS, 4);
  defer(c, items, FILL_IDS, 4);
  defer(c, body, FILL_ROW_LIST, 2 * B);
  assert_rk_ok(rk_graph_rtd_replace(c->g, &fake, &source, &replaced, &weight, z, rows, packed, items, body, 0, 0.7f, true));
  assert_rk_ok(rk_graph_embedding(c->g, &out, t, fake, 0));
  return out;
}
static int c_rtd_replace(gc_ctx *c) { return rtd_case(c, false); }
static int c_rtd_replace_from_batch(gc_ctx *c) { return rtd_case(c, true); }
/* rtd_interaction: rows (B, 2, 3) of an input at rtd_replace's batch sources, times a dense
 * value: its gradient checks the rows picked (the op itself passes none back, as detached). */
static int c_rtd_interaction(gc_ctx *c) {
  int64_t zs[2] = {2, 4}, xs[3] = {B, 2, 3};
  int z, rows, packed, items, fake, source, replaced, weight, x, picked, out;
  assert_rk_ok(rk_graph_input(c->g, &z, "z", 2, zs));
  assert_rk_ok(rk_graph_input_ids(c->g, &rows, "rows", 2));
  assert_rk_ok(rk_graph_input_ids(c->g, &packed, "packed", 2));
  assert_rk_ok(rk_graph_input_ids(c->g, &items, "items", 2));
  assert_rk_ok(rk_graph_input(c->g, &x, "x", 2, xs + 1));
  defer(c, z, FILL_NORMAL, 0);
  defer(c, rows, FILL_ROW_LIST, 2 * B);
  defer(c, packed, FILL_IDS, 4);
  defer(c, items, FILL_IDS, 4);
  defer(c, x, FILL_NORMAL, 0);
  assert_rk_ok(rk_graph_rtd_replace(c->g, &fake, &source, &replaced, &weight, z, rows, packed, items, RK_NO_VALUE, 0, 0.7f, true));
  assert_rk_ok(rk_graph_rtd_interaction(c->g, &picked, x, source));
  assert_rk_ok(rk_graph_mul(c->g, &out, picked, dense_value(c, 3, xs)));
  return out;
}
static int c_weighted_sum(gc_ctx *c) {
  int64_t s[2] = {B, 3};
  int x = dense_value(c, 2, s), y = dense_value(c, 2, s), a, b, out;
  assert_rk_ok(rk_graph_sum(c->g, &a, x, RK_REDUCE_ALL));
  assert_rk_ok(rk_graph_mean(c->g, &b, y, RK_REDUCE_ALL));
  assert_rk_ok(rk_graph_weighted_sum(c->g, &out, a, 2.5f, b, -0.75f));
  return out;
}

/* ---- sequences: B sessions x 4 positions ------------------------------------------------------ */

/* qkv (B, 4, 12), 2 heads of 2; step ids in [0, 3) hold padding (0) anywhere, whole sessions too */
static int attention_case(gc_ctx *c, bool causal, bool padded, float dropout, bool weights) {
  int64_t xs[3] = {B, 4, 12};
  int x = dense_value(c, 3, xs), ids = RK_NO_VALUE, out, w;
  if (padded) {
    assert_rk_ok(rk_graph_input_ids(c->g, &ids, "ids", 4));
    defer(c, ids, FILL_IDS, 3);
  }
  assert_rk_ok(rk_graph_attention(c->g, &out, weights ? &w : NULL, x, 2, causal, ids, 0, dropout));
  return weights ? w : out;
}
static int c_attention_causal(gc_ctx *c) { return attention_case(c, true, false, 0.0f, false); }
static int c_attention_padded(gc_ctx *c) { return attention_case(c, false, true, 0.0f, false); }
static int c_attention_causal_padded_dropout(gc_ctx *c) { return attention_case(c, true, true, 0.3f, false); }
static int c_attention_weights(gc_ctx *c) { return attention_case(c, true, true, 0.0f, true); }

/* Relative attention on qkv (B, 4, 12), 2 heads of 2: the content stream (q_src = kv_src) or a
 * query stream of its own; padding, a random hidden-key mask, memory slots, both dropouts. */
typedef struct {
  bool causal, padded, hidden, two_streams, weights;
  int64_t mem;
  float dropout, pos_dropout;
} rel_case;

static int rel_attention_case(gc_ctx *c, rel_case rc) {
  int64_t xs[3] = {B, 4, 12}, rs[2] = {4, 4}, bs[1] = {4};
  int x = dense_value(c, 3, xs), out, w;
  rk_rel_attention a = {.q_src = rc.two_streams ? dense_value(c, 3, xs) : x, .kv_src = x, .heads = 2,
                        .causal = rc.causal, .key_ids = RK_NO_VALUE, .hidden = RK_NO_VALUE, .self_visible = true,
                        .mem = rc.mem, .dropout = rc.dropout, .pos_dropout = rc.pos_dropout};
  a.r = dense(c, "r", 2, rs, 0.5f);
  a.r_w_bias = dense(c, "r_w_bias", 1, bs, 0.5f);
  a.r_r_bias = dense(c, "r_r_bias", 1, bs, 0.5f);
  if (rc.padded) {
    assert_rk_ok(rk_graph_input_ids(c->g, &a.key_ids, "ids", 4));
    defer(c, a.key_ids, FILL_IDS, 3);
  }
  if (rc.hidden) {
    assert_rk_ok(rk_graph_input_ids(c->g, &a.hidden, "hidden", 16));
    defer(c, a.hidden, FILL_IDS, 2);
    a.self_visible = !rc.two_streams;   /* XLNet's query stream does not see itself */
  }
  assert_rk_ok(rk_graph_rel_attention(c->g, &out, rc.weights ? &w : NULL, &a));
  return rc.weights ? w : out;
}
static int c_rel_attention_bi_padded(gc_ctx *c) { return rel_attention_case(c, (rel_case){.padded = true}); }
static int c_rel_attention_causal_mem(gc_ctx *c) { return rel_attention_case(c, (rel_case){.causal = true, .mem = 2}); }
static int c_rel_attention_two_streams(gc_ctx *c) {
  return rel_attention_case(c, (rel_case){.padded = true, .hidden = true, .two_streams = true});
}
static int c_rel_attention_content_hidden(gc_ctx *c) { return rel_attention_case(c, (rel_case){.hidden = true}); }
static int c_rel_attention_dropouts(gc_ctx *c) {
  return rel_attention_case(c, (rel_case){.causal = true, .padded = true, .mem = 1, .dropout = 0.3f, .pos_dropout = 0.2f});
}
static int c_rel_attention_weights(gc_ctx *c) {
  return rel_attention_case(c, (rel_case){.padded = true, .mem = 1, .weights = true});
}

/* Packed: the real rows of B sessions x 4 (kept at random, in order) through rel_attention, both
 * dropouts on, then a linear and softmax_ce on those rows: Transformer-XL's content stream with
 * a memory slot, or XLNet's query stream under a hidden-key mask (q packed by the same index). */
static int rel_attention_packed_case(gc_ctx *c, bool two_streams) {
  int64_t xs[3] = {B, 4, 12}, rs[2] = {4, 4}, bs[1] = {4}, hw[2] = {5, 4};
  int ix, y, x, out, z, loss;
  assert_rk_ok(rk_graph_input_ids(c->g, &ix, "rows", 4));
  defer(c, ix, FILL_SESSION_ROWS, B * 4);
  assert_rk_ok(rk_graph_gather_rows(c->g, &x, dense_value(c, 3, xs), ix));
  rk_rel_attention a = {.q_src = x, .kv_src = x, .heads = 2, .causal = !two_streams, .key_ids = RK_NO_VALUE,
                        .hidden = RK_NO_VALUE, .self_visible = !two_streams, .mem = two_streams ? 0 : 1,
                        .dropout = 0.3f, .pos_dropout = 0.2f};
  if (two_streams) {
    assert_rk_ok(rk_graph_gather_rows(c->g, &a.q_src, dense_value(c, 3, xs), ix));
    assert_rk_ok(rk_graph_input_ids(c->g, &a.hidden, "hidden", 16));
    defer(c, a.hidden, FILL_IDS, 2);
  }
  a.r = dense(c, "r", 2, rs, 0.5f);
  a.r_w_bias = dense(c, "r_w_bias", 1, bs, 0.5f);
  a.r_r_bias = dense(c, "r_r_bias", 1, bs, 0.5f);
  assert_rk_ok(rk_graph_rel_attention(c->g, &out, NULL, &a));
  assert_rk_ok(rk_graph_linear(c->g, &z, out, dense(c, "head_w", 2, hw, 0.5f), NULL, RK_ACT_NONE));
  assert_rk_ok(rk_graph_input_ids(c->g, &y, "labels", 4));
  defer(c, y, FILL_IDS, 5);
  assert_rk_ok(rk_graph_softmax_ce(c->g, &loss, z, y, -1, 0.0f, 1.0f));
  return loss;
}
static int c_rel_attention_packed_mem(gc_ctx *c) { return rel_attention_packed_case(c, false); }
static int c_rel_attention_packed_two_streams(gc_ctx *c) { return rel_attention_packed_case(c, true); }

static int c_gather(gc_ctx *c) {
  int64_t xs[3] = {B, 4, 3};
  int x = dense_value(c, 3, xs), ix, out;
  assert_rk_ok(rk_graph_input_ids(c->g, &ix, "positions", 3));
  defer(c, ix, FILL_POSITIONS, 4);   /* repeats and -1 */
  assert_rk_ok(rk_graph_gather(c->g, &out, x, ix));
  return out;
}

/* The session models' loss path: rows packed by gather_rows (6 of 12 in use), a head and a
 * catalogue linear on those rows only, softmax_ce over them (label 2 ignored). */
static int c_gather_rows_head(gc_ctx *c) {
  int64_t xs[3] = {B, 4, 3}, hw[2] = {5, 3}, hb[1] = {5}, ow[2] = {6, 5}, ob[1] = {6};
  int x = dense_value(c, 3, xs), ix, y, rows, h, z, out;
  rk_param *w1 = dense(c, "head_w", 2, hw, 0.5f), *b1 = dense(c, "head_b", 1, hb, 0.5f);
  rk_param *w2 = dense(c, "out_w", 2, ow, 0.5f), *b2 = dense(c, "out_b", 1, ob, 0.5f);
  assert_rk_ok(rk_graph_input_ids(c->g, &ix, "rows", 4));
  defer(c, ix, FILL_ROW_LIST, B * 4);
  assert_rk_ok(rk_graph_input_ids(c->g, &y, "labels", 4));
  defer(c, y, FILL_IDS, 6);
  assert_rk_ok(rk_graph_gather_rows(c->g, &rows, x, ix));
  assert_rk_ok(rk_graph_linear(c->g, &h, rows, w1, b1, RK_ACT_TANH));
  assert_rk_ok(rk_graph_linear(c->g, &z, h, w2, b2, RK_ACT_NONE));
  assert_rk_ok(rk_graph_softmax_ce(c->g, &out, z, y, 2, 0.1f, 0.7f));
  return out;
}
static int c_linear_rows_in_use(gc_ctx *c) { return c_gather_rows_head(c); }
static int c_softmax_ce_rows_in_use(gc_ctx *c) { return c_gather_rows_head(c); }

/* The fused catalogue head: rows (B, 4, 3) against 7 items with a bias, label 0 ignored; then
 * the session models' path, rows packed by gather_rows and a tanh head, without a bias. */
static int c_catalog_ce(gc_ctx *c) {
  int64_t hs[3] = {B, 4, 3}, ws[2] = {7, 3}, bs[1] = {7};
  int h = dense_value(c, 3, hs), y, out;
  rk_param *w = dense(c, "items", 2, ws, 0.5f), *b = dense(c, "item_bias", 1, bs, 0.5f);
  assert_rk_ok(rk_graph_input_ids(c->g, &y, "labels", 4));
  defer(c, y, FILL_IDS, 7);
  assert_rk_ok(rk_graph_catalog_ce(c->g, &out, h, y, w, b, 0, 0.1f, 0.7f));
  return out;
}

static int c_catalog_ce_rows_in_use(gc_ctx *c) {
  int64_t xs[3] = {B, 4, 3}, hw[2] = {5, 3}, hb[1] = {5}, ws[2] = {6, 5};
  int x = dense_value(c, 3, xs), ix, y, rows, h, out;
  rk_param *w1 = dense(c, "head_w", 2, hw, 0.5f), *b1 = dense(c, "head_b", 1, hb, 0.5f);
  rk_param *w = dense(c, "items", 2, ws, 0.5f);
  assert_rk_ok(rk_graph_input_ids(c->g, &ix, "rows", 4));
  defer(c, ix, FILL_ROW_LIST, B * 4);
  assert_rk_ok(rk_graph_input_ids(c->g, &y, "labels", 4));
  defer(c, y, FILL_IDS, 6);
  assert_rk_ok(rk_graph_gather_rows(c->g, &rows, x, ix));
  assert_rk_ok(rk_graph_linear(c->g, &h, rows, w1, b1, RK_ACT_TANH));
  assert_rk_ok(rk_graph_catalog_ce(c->g, &out, h, y, w, NULL, 2, 0.2f, 1.3f));
  return out;
}

static int c_mask_fill(gc_ctx *c) {
  int64_t xs[3] = {B, 4, 3}, vs[1] = {3};
  int x = dense_value(c, 3, xs), m, out;
  rk_param *v = dense(c, "mask_vector", 1, vs, 0.5f);
  assert_rk_ok(rk_graph_input_ids(c->g, &m, "mask", 4));
  defer(c, m, FILL_IDS, 2);   /* 0 keeps a row, 1 replaces it */
  assert_rk_ok(rk_graph_mask_fill(c->g, &out, x, m, v));
  return out;
}

static int c_prefix_mean(gc_ctx *c) {
  int64_t xs[3] = {B, 4, 3};
  int out;
  assert_rk_ok(rk_graph_prefix_mean(c->g, &out, dense_value(c, 3, xs)));
  return out;
}

/* Packed: the real rows of B sessions x 4 (kept at random, in order; gaps too) through
 * mask_fill (its (B, 4) mask read at each row's original place) and prefix_mean (each session's
 * run of rows, divided by the original position + 1), then a linear and softmax_ce on those rows. */
static int packed_session_case(gc_ctx *c, bool fill) {
  int64_t xs[3] = {B, 4, 3}, vs[1] = {3}, hw[2] = {5, 3};
  int ix, m, x, y, z, loss;
  assert_rk_ok(rk_graph_input_ids(c->g, &ix, "rows", 4));
  defer(c, ix, FILL_SESSION_ROWS, B * 4);
  assert_rk_ok(rk_graph_gather_rows(c->g, &x, dense_value(c, 3, xs), ix));
  if (fill) {
    assert_rk_ok(rk_graph_input_ids(c->g, &m, "mask", 4));
    defer(c, m, FILL_IDS, 2);
    assert_rk_ok(rk_graph_mask_fill(c->g, &x, x, m, dense(c, "mask_vector", 1, vs, 0.5f)));
  } else {
    assert_rk_ok(rk_graph_prefix_mean(c->g, &x, x));
  }
  assert_rk_ok(rk_graph_linear(c->g, &z, x, dense(c, "head_w", 2, hw, 0.5f), NULL, RK_ACT_NONE));
  assert_rk_ok(rk_graph_input_ids(c->g, &y, "labels", 4));
  defer(c, y, FILL_IDS, 5);
  assert_rk_ok(rk_graph_softmax_ce(c->g, &loss, z, y, -1, 0.0f, 1.0f));
  return loss;
}
static int c_mask_fill_packed(gc_ctx *c) { return packed_session_case(c, true); }
static int c_prefix_mean_packed(gc_ctx *c) { return packed_session_case(c, false); }

/* Heads over candidates: h (B, 4, 3) against a catalogue of 9 items, labels in [0, 9) with 0
 * ignored; in-batch targets and 5 draws, the losses after. Absent candidates are -inf, so the
 * logits are checked through a loss (the probe would turn -inf into nan). */
static int sampled_case(gc_ctx *c, rk_sampled_loss kind, bool in_batch, int64_t draws, rk_sampler sampler, bool logq) {
  int64_t xs[3] = {B, 4, 3}, ws[2] = {9, 3}, bs[1] = {9};
  int h = dense_value(c, 3, xs), y, z, out;
  rk_param *w = dense(c, "items", 2, ws, 0.5f), *b = dense(c, "bias", 1, bs, 0.5f);
  assert_rk_ok(rk_graph_input_ids(c->g, &y, "labels", 4));
  defer(c, y, FILL_IDS, 9);
  rk_sampled_spec s = {.n_sampled = draws, .sampler = sampler, .first_id = 1, .in_batch = in_batch, .logq = logq,
                       .ignore = 0, .temperature = 0.8f};
  assert_rk_ok(rk_graph_sampled_logits(c->g, &z, h, y, RK_NO_VALUE, w, b, &s));
  assert_rk_ok(rk_graph_sampled_loss(c->g, &out, z, y, kind, 0, 0.3f));
  return out;
}
static int c_sampled_softmax(gc_ctx *c) { return sampled_case(c, RK_SAMPLED_CE, false, 5, RK_SAMPLER_LOG_UNIFORM, true); }
static int c_sampled_in_batch_bpr(gc_ctx *c) { return sampled_case(c, RK_SAMPLED_BPR, true, 5, RK_SAMPLER_UNIFORM, false); }
static int c_sampled_in_batch_top1(gc_ctx *c) { return sampled_case(c, RK_SAMPLED_TOP1, true, 0, RK_SAMPLER_UNIFORM, false); }
static int c_sampled_in_batch_top1_max(gc_ctx *c) { return sampled_case(c, RK_SAMPLED_TOP1_MAX, true, 5, RK_SAMPLER_UNIFORM, false); }
static int c_sampled_in_batch_bpr_max_reg(gc_ctx *c) { return sampled_case(c, RK_SAMPLED_BPR_MAX_REG, true, 5, RK_SAMPLER_UNIFORM, false); }

/* The losses alone on dense logits (B, 4, 6), every column present. */
static int sampled_loss_case(gc_ctx *c, rk_sampled_loss kind) {
  int64_t zs[3] = {B, 4, 6};
  int z = dense_value(c, 3, zs), y, out;
  assert_rk_ok(rk_graph_input_ids(c->g, &y, "labels", 4));
  defer(c, y, FILL_IDS, 3);   /* 0 ignored */
  assert_rk_ok(rk_graph_sampled_loss(c->g, &out, z, y, kind, 0, 0.5f));
  return out;
}
static int c_sampled_loss_ce(gc_ctx *c) { return sampled_loss_case(c, RK_SAMPLED_CE); }
static int c_sampled_loss_bpr(gc_ctx *c) { return sampled_loss_case(c, RK_SAMPLED_BPR); }
static int c_sampled_loss_top1(gc_ctx *c) { return sampled_loss_case(c, RK_SAMPLED_TOP1); }
static int c_sampled_loss_top1_max(gc_ctx *c) { return sampled_loss_case(c, RK_SAMPLED_TOP1_MAX); }
static int c_sampled_loss_bpr_max_reg(gc_ctx *c) { return sampled_loss_case(c, RK_SAMPLED_BPR_MAX_REG); }

/* x (B, 4, 3) -> H = 2; padded steps anywhere (ids in [0, 3), padding 0) */
static int recurrent_case(gc_ctx *c, rk_op op, bool padded, bool biases) {
  int G = op == RK_OP_GRU ? 3 : op == RK_OP_LSTM ? 4 : 1;
  int64_t xs[3] = {B, 4, 3}, wi[2] = {G * 2, 3}, wh[2] = {G * 2, 2}, bs[1] = {G * 2};
  int x = dense_value(c, 3, xs), ids = RK_NO_VALUE, out;
  rk_param *w_ih = dense(c, "w_ih", 2, wi, 0.5f), *w_hh = dense(c, "w_hh", 2, wh, 0.5f);
  rk_param *b_ih = biases ? dense(c, "b_ih", 1, bs, 0.5f) : NULL, *b_hh = biases ? dense(c, "b_hh", 1, bs, 0.5f) : NULL;
  if (padded) {
    assert_rk_ok(rk_graph_input_ids(c->g, &ids, "ids", 4));
    defer(c, ids, FILL_IDS, 3);
  }
  if (op == RK_OP_GRU) assert_rk_ok(rk_graph_gru(c->g, &out, x, ids, 0, w_ih, w_hh, b_ih, b_hh));
  else if (op == RK_OP_LSTM) assert_rk_ok(rk_graph_lstm(c->g, &out, x, ids, 0, w_ih, w_hh, b_ih, b_hh));
  else assert_rk_ok(rk_graph_rnn(c->g, &out, x, ids, 0, w_ih, w_hh, b_ih, b_hh));
  return out;
}
static int c_gru(gc_ctx *c) { return recurrent_case(c, RK_OP_GRU, false, false); }
static int c_gru_padded(gc_ctx *c) { return recurrent_case(c, RK_OP_GRU, true, true); }
static int c_lstm(gc_ctx *c) { return recurrent_case(c, RK_OP_LSTM, false, false); }
static int c_lstm_padded(gc_ctx *c) { return recurrent_case(c, RK_OP_LSTM, true, true); }
static int c_rnn(gc_ctx *c) { return recurrent_case(c, RK_OP_RNN, false, false); }
static int c_rnn_padded(gc_ctx *c) { return recurrent_case(c, RK_OP_RNN, true, true); }

/* Each case under the op it checks (a case may use other ops on the way). */
#define CASE(op, fn) {RK_OP_##op, #fn, fn}
static const struct {
  rk_op op;
  const char *name;
  case_fn fn;
} cases[] = {
    CASE(LINEAR, c_linear),          CASE(LINEAR, c_linear_relu),       CASE(LINEAR, c_linear_sigmoid),
    CASE(LINEAR, c_linear_tanh),     CASE(ADD, c_add),                  CASE(ADD, c_add_broadcast),
    CASE(ADD, c_add_fanout),         CASE(ADD, c_add_positions),         CASE(MUL, c_mul),                  CASE(MUL, c_mul_broadcast),
    CASE(CONCAT, c_concat),          CASE(CONCAT, c_concat_many),       CASE(RESHAPE, c_reshape),
    CASE(SUM, c_sum),                CASE(MEAN, c_mean),                CASE(MEAN, c_mean_all),
    CASE(RELU, c_relu),              CASE(SIGMOID, c_sigmoid),          CASE(TANH, c_tanh),
    CASE(BCE_LOGITS, c_bce),         CASE(BCE_LOGITS, c_bce_rows_in_use), CASE(MSE, c_mse),                  CASE(MSE, c_mse_weighted),
    CASE(EMBEDDING, c_embedding),    CASE(EMBEDDING, c_embedding_tied),    CASE(EMBEDDING_BAG, c_bag_sum),    CASE(EMBEDDING_BAG, c_bag_mean),
    CASE(EMBEDDING_BAG, c_shared_table), CASE(L2, c_l2),                CASE(EMBEDDING_L2, c_embedding_l2),
    CASE(DOT_INTERACTION, c_dot_interaction), CASE(CROSS, c_cross),     CASE(CROSS, c_cross_first_layer),
    CASE(CROSS, c_cross_lowrank),    CASE(FM, c_fm),                    CASE(GATE, c_gate),
    CASE(SPLIT, c_split),            CASE(TRANSPOSE, c_transpose),      CASE(MATMUL, c_matmul),
    CASE(MATMUL, c_matmul_batched),  CASE(MATMUL, c_matmul_shared),     CASE(LEAKY_RELU, c_leaky_relu),
    CASE(SELU, c_selu),              CASE(SOFTMAX, c_softmax),          CASE(LOG_SOFTMAX, c_log_softmax),
    CASE(GELU, c_gelu_tanh),         CASE(GELU, c_gelu_erf),            CASE(DROPOUT, c_dropout),
    CASE(DROPOUT, c_alpha_dropout),  CASE(LAYER_NORM, c_layer_norm),    CASE(BATCH_NORM, c_batch_norm),
    CASE(SOFTMAX_CE, c_softmax_ce),  CASE(SOFTMAX_CE, c_softmax_ce_temperature), CASE(HASH_CROSS, c_hash_cross_wide),
    CASE(ATTENTION, c_attention_causal), CASE(ATTENTION, c_attention_padded),
    CASE(ATTENTION, c_attention_causal_padded_dropout), CASE(ATTENTION, c_attention_weights),
    CASE(GATHER, c_gather),          CASE(GRU, c_gru),                  CASE(GRU, c_gru_padded),
    CASE(LSTM, c_lstm),              CASE(LSTM, c_lstm_padded),         CASE(RNN, c_rnn),
    CASE(RNN, c_rnn_padded),         CASE(MASK_FILL, c_mask_fill),      CASE(PREFIX_MEAN, c_prefix_mean),
    CASE(MASK_FILL, c_mask_fill_packed), CASE(PREFIX_MEAN, c_prefix_mean_packed),
    CASE(GATHER_ROWS, c_gather_rows_head), CASE(LINEAR, c_linear_rows_in_use),
    CASE(SOFTMAX_CE, c_softmax_ce_rows_in_use),
    CASE(REL_ATTENTION, c_rel_attention_bi_padded), CASE(REL_ATTENTION, c_rel_attention_causal_mem),
    CASE(REL_ATTENTION, c_rel_attention_two_streams), CASE(REL_ATTENTION, c_rel_attention_content_hidden),
    CASE(REL_ATTENTION, c_rel_attention_dropouts), CASE(REL_ATTENTION, c_rel_attention_weights),
    CASE(REL_ATTENTION, c_rel_attention_packed_mem), CASE(REL_ATTENTION, c_rel_attention_packed_two_streams),
    CASE(SAMPLED_LOGITS, c_sampled_softmax), CASE(SAMPLED_LOGITS, c_sampled_in_batch_bpr),
    CASE(SAMPLED_LOGITS, c_sampled_in_batch_top1), CASE(SAMPLED_LOGITS, c_sampled_in_batch_top1_max),
    CASE(SAMPLED_LOGITS, c_sampled_in_batch_bpr_max_reg), CASE(SAMPLED_LOSS, c_sampled_loss_ce),
    CASE(SAMPLED_LOSS, c_sampled_loss_bpr), CASE(SAMPLED_LOSS, c_sampled_loss_top1),
    CASE(SAMPLED_LOSS, c_sampled_loss_top1_max), CASE(SAMPLED_LOSS, c_sampled_loss_bpr_max_reg),
    CASE(RTD_REPLACE, c_rtd_replace), CASE(RTD_REPLACE, c_rtd_replace_from_batch),
    CASE(RTD_REPLACE, c_rtd_replace_packed),
    CASE(RTD_INTERACTION, c_rtd_interaction),
    CASE(WEIGHTED_SUM, c_weighted_sum),
    CASE(CATALOG_CE, c_catalog_ce),  CASE(CATALOG_CE, c_catalog_ce_rows_in_use),
};

/* The test of one op (its rk_op in *state): every case of it, then its twins. */
static void test_op(void **state) {
  rk_op op = *(const rk_op *)*state;
  assert_rk_ok(rk_set_num_threads(1));
  int n = 0;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    if (cases[i].op != op) continue;
    run_case(cases[i].name, cases[i].fn);
    compare_twin(cases[i].name, cases[i].fn, &rk_backend_cpu, 2, true);
    for (int b = 0; b < rk_backend_count(); b++) {
      const rk_backend *be = rk_backend_at(b);
      if (be != &rk_backend_cpu && (rk_op_table[op].backends & (1u << be->device)) && be->device_count() > 0)
        compare_twin(cases[i].name, cases[i].fn, be, 1, false);
    }
    n++;
  }
  if (n == 0) fail_msg("op '%s' has no gradient case: add one to cases[] in %s", rk_op_name(op), __FILE__);
}

/* Every backend's op table has a forward and a backward for exactly the ops the op list gives
 * it, and nothing else. */
static void test_backend_tables_follow_the_op_list(void **state) {
  (void)state;
  assert_ptr_equal(rk_backend_at(0), &rk_backend_cpu);
  for (int b = 0; b < rk_backend_count(); b++) {
    const rk_backend *be = rk_backend_at(b);
    for (int op = 0; op < RK_OP_COUNT; op++) {
      bool listed = (rk_op_table[op].backends & (1u << be->device)) != 0;
      if ((be->forward[op] != NULL) != listed || (be->backward[op] != NULL) != listed)
        fail_msg("backend %s: op '%s' is %s the op list but %s the op table", be->name, rk_op_name((rk_op)op),
                 listed ? "on" : "not on", be->forward[op] ? "in" : "not in");
    }
  }
}

int main(void) {
  static rk_op ops[RK_OP_COUNT];
  struct CMUnitTest tests[RK_OP_COUNT + 1];
  for (int op = 0; op < RK_OP_COUNT; op++) {
    ops[op] = (rk_op)op;
    tests[op] = (struct CMUnitTest){.name = rk_op_name((rk_op)op), .test_func = test_op, .initial_state = &ops[op]};
  }
  tests[RK_OP_COUNT] = (struct CMUnitTest)cmocka_unit_test(test_backend_tables_follow_the_op_list);
  return cmocka_run_group_tests_name("gradcheck", tests, NULL, NULL);
}
