/*
 * Each reckon op as ONNX opset-17 nodes (onnx_ops.h), computing what the op's CPU forward
 * computes in eval mode (src/nn/ops/<stem>.c says what that is). Activations keep the batch as
 * their first axis, which stays symbolic in the ONNX graph: reshapes copy it (dim 0) rather than
 * naming the size the reckon graph was built for. Parameters become initializers at first use.
 * Ops that training alone needs (losses, regularisers) and those not mapped yet are refused,
 * naming the op: a graph that computed something else would be worse than none.
 * Reference: onnx/onnx docs/Operators.md (Gemm, MatMul, Gather, ReduceSum, LayerNormalization...).
 */
#include <math.h>
#include <stdio.h>

#include "export/onnx/onnx_ops.h"

#define F32 ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT
#define I64 ONNX__TENSOR_PROTO__DATA_TYPE__INT64

const char *rk_onnx_param(rk_onnx_ctx *c, const rk_param *p) {
  for (int i = 0; i < c->n_emitted; i++)
    if (c->emitted[i] == p) return p->name;
  if (p->value.dtype != RK_DT_F32 || !p->value.data) {
    rk_onnx_fail(c->b, rk_error(RK_EINVAL, "onnx export: parameter '%s' has no float32 value", p->name));
    return NULL;
  }
  rk_onnx_initializer(c->b, p->name, F32, p->value.ndim, p->value.shape, p->value.data,
                      (size_t)rk_tensor_numel(&p->value) * sizeof(float));
  c->emitted[c->n_emitted++] = p;   /* sized for every parameter of the graph */
  return p->name;
}

static const char *in(const rk_onnx_ctx *c, const rk_node *n, int k) { return c->names[n->in[k]]; }
static const rk_value *val(const rk_onnx_ctx *c, int v) { return rk_val(c->g, v); }
static const char *scalar_f32(rk_onnx_ctx *c, float v) { return rk_onnx_const_f32(c->b, 1, &v); }
static const char *axes(rk_onnx_ctx *c, int64_t axis) { return rk_onnx_const_i64(c->b, 1, &axis); }

/* ReduceSum over one axis (opset 13+: the axes are an input). */
static const char *reduce_sum(rk_onnx_ctx *c, const char *x, int64_t axis, bool keep) {
  const char *out = rk_onnx_op2(c->b, "ReduceSum", x, axes(c, axis));
  rk_onnx_attr_int(c->b, rk_onnx_last(c->b), "keepdims", keep);
  return out;
}

static const char *transpose2(rk_onnx_ctx *c, const char *x) {
  const char *out = rk_onnx_op1(c->b, "Transpose", x);
  rk_onnx_attr_ints(c->b, rk_onnx_last(c->b), "perm", 2, (const int64_t[]){1, 0});
  return out;
}

static const char *activation(rk_onnx_ctx *c, const char *x, rk_act act) {
  switch (act) {
  case RK_ACT_RELU: return rk_onnx_op1(c->b, "Relu", x);
  case RK_ACT_SIGMOID: return rk_onnx_op1(c->b, "Sigmoid", x);
  case RK_ACT_TANH: return rk_onnx_op1(c->b, "Tanh", x);
  default: return x;
  }
}

/* out (N.., OC) = act(x w^T + b), w (OC, C): Gemm for 2-d x, else MatMul on w transposed. */
static const char *linear(rk_onnx_ctx *c, const rk_node *n) {
  const char *x = in(c, n, 0), *w = rk_onnx_param(c, n->params[0]);
  const char *bias = n->n_params > 1 ? rk_onnx_param(c, n->params[1]) : NULL, *y;
  if (val(c, n->in[0])->ndim == 2) {
    const char *ins[3] = {x, w, bias};
    y = rk_onnx_op(c->b, "Gemm", bias ? 3 : 2, ins);
    rk_onnx_attr_int(c->b, rk_onnx_last(c->b), "transB", 1);
  } else {
    y = rk_onnx_op2(c->b, "MatMul", x, transpose2(c, w));
    if (bias) y = rk_onnx_op2(c->b, "Add", y, bias);
  }
  return activation(c, y, (rk_act)n->iattr[1]);
}

static const char *concat(rk_onnx_ctx *c, const rk_node *n) {
  const char *xs[RK_NODE_MAX_IN];
  for (int k = 0; k < n->n_in; k++) xs[k] = in(c, n, k);
  const char *out = rk_onnx_op(c->b, "Concat", n->n_in, xs);
  rk_onnx_attr_int(c->b, rk_onnx_last(c->b), "axis", n->iattr[0]);
  return out;
}

/* Per-example shape kept, the batch axis copied from the input (0) when the input has one. */
static const char *reshape(rk_onnx_ctx *c, const rk_node *n) {
  const rk_value *x = val(c, n->in[0]), *o = val(c, n->out[0]);
  int64_t shape[RK_TENSOR_MAX_DIMS];
  for (int k = 0; k < o->ndim; k++) shape[k] = o->shape[k];
  if (x->kind != RK_VAL_PARAM) shape[0] = 0;
  return rk_onnx_op2(c->b, "Reshape", in(c, n, 0), rk_onnx_const_i64(c->b, o->ndim, shape));
}

static const char *reduce(rk_onnx_ctx *c, const rk_node *n, bool mean) {
  int64_t axis = n->iattr[0];
  if (!mean) {
    if (axis != RK_REDUCE_ALL) return reduce_sum(c, in(c, n, 0), axis, false);
    const char *out = rk_onnx_op1(c->b, "ReduceSum", in(c, n, 0));
    rk_onnx_attr_int(c->b, rk_onnx_last(c->b), "keepdims", 0);
    return out;
  }
  const char *out = rk_onnx_op1(c->b, "ReduceMean", in(c, n, 0));   /* opset 17: axes attribute */
  if (axis != RK_REDUCE_ALL) rk_onnx_attr_ints(c->b, rk_onnx_last(c->b), "axes", 1, &axis);
  rk_onnx_attr_int(c->b, rk_onnx_last(c->b), "keepdims", 0);
  return out;
}

/* ids == padding look up nothing (zeros): rows multiplied by (ids != padding). */
static const char *padding_mask(rk_onnx_ctx *c, const char *ids, int64_t padding) {
  const char *ne = rk_onnx_op1(c->b, "Not", rk_onnx_op2(c->b, "Equal", ids, rk_onnx_const_i64(c->b, 1, &padding)));
  const char *mask = rk_onnx_op1(c->b, "Cast", ne);
  rk_onnx_attr_int(c->b, rk_onnx_last(c->b), "to", F32);
  return mask;
}

/* out (B, F, D) = table[ids (B, F)], padding rows zero. */
static const char *embedding(rk_onnx_ctx *c, const rk_node *n) {
  const char *ids = in(c, n, 0), *rows = rk_onnx_op2(c->b, "Gather", rk_onnx_param(c, n->params[0]), ids);
  int64_t padding = n->iattr[0];
  if (padding < 0) return rows;
  const char *mask = rk_onnx_op2(c->b, "Unsqueeze", padding_mask(c, ids, padding), axes(c, -1));
  return rk_onnx_op2(c->b, "Mul", rows, mask);
}

/* out (B, D): the sum or mean of a list's rows. The list comes right-padded, ids (B, L) (the
 * ranking family's input): member (B, L) = [id is not padding], out = sum over L of
 * member * table[ids] (mean: divided by max(1, the row's count)), as the CPU op skips padding. */
static const char *embedding_bag(rk_onnx_ctx *c, const rk_node *n) {
  rk_onnx_builder *b = c->b;
  const char *ids = in(c, n, 0);
  int64_t padding = n->iattr[0];
  if (padding < 0) return rk_onnx_fail(b, rk_error(RK_EUNSUPPORTED, "onnx export: an embedding bag without a padding "
                                                   "id cannot read a padded list")), NULL;
  const char *member = padding_mask(c, ids, padding);                                        /* (B, L) */
  const char *rows = rk_onnx_op2(b, "Gather", rk_onnx_param(c, n->params[0]), ids);         /* (B, L, D) */
  rows = rk_onnx_op2(b, "Mul", rows, rk_onnx_op2(b, "Unsqueeze", member, axes(c, -1)));
  const char *sum = reduce_sum(c, rows, 1, false);                                           /* (B, D) */
  if ((rk_pool)n->iattr[1] != RK_POOL_MEAN) return sum;
  const char *count = reduce_sum(c, member, 1, true);                                        /* (B, 1) */
  return rk_onnx_op2(b, "Div", sum, rk_onnx_op2(b, "Max", count, scalar_f32(c, 1.0f)));
}

/* DLRM: T = [dense; emb] (B, F+1, D), Z = T T^T, out = [dense, Z[i][j] for j < i, row-major]. */
static const char *dot_interaction(rk_onnx_ctx *c, const rk_node *n) {
  rk_onnx_builder *b = c->b;
  const rk_value *emb = val(c, n->in[1]);
  int64_t F = emb->shape[1], T = F + 1, P = T * F / 2, k = 0;
  int64_t *pairs = rk_malloc((size_t)P * sizeof *pairs);
  if (!pairs) return rk_onnx_fail(b, RK_ENOMEM), NULL;
  for (int64_t i = 1; i < T; i++)
    for (int64_t j = 0; j < i; j++) pairs[k++] = i * T + j;
  const char *idx = rk_onnx_const_i64(b, (int)P, pairs);
  rk_free(pairs);
  const char *t = rk_onnx_op(b, "Concat", 2, (const char *[]){rk_onnx_op2(b, "Unsqueeze", in(c, n, 0), axes(c, 1)),
                                                                in(c, n, 1)});
  rk_onnx_attr_int(b, rk_onnx_last(b), "axis", 1);
  const char *tt = rk_onnx_op1(b, "Transpose", t);
  rk_onnx_attr_ints(b, rk_onnx_last(b), "perm", 3, (const int64_t[]){0, 2, 1});
  const char *z = rk_onnx_op2(b, "MatMul", t, tt);                                          /* (B, T, T) */
  const char *flat = rk_onnx_op2(b, "Reshape", z, rk_onnx_const_i64(b, 2, (const int64_t[]){0, -1}));
  const char *dots = rk_onnx_op2(b, "Gather", flat, idx);
  rk_onnx_attr_int(b, rk_onnx_last(b), "axis", 1);
  const char *out = rk_onnx_op2(b, "Concat", in(c, n, 0), dots);
  rk_onnx_attr_int(b, rk_onnx_last(b), "axis", 1);
  return out;
}

/* DCN-v2: out = x0 * (x w^T + b) + x; low rank: x w^T = (x v) u^T. */
static const char *cross(rk_onnx_ctx *c, const rk_node *n) {
  rk_onnx_builder *b = c->b;
  bool low = n->iattr[0] > 0;
  int k = 0;
  const char *x = in(c, n, 1), *h;
  const char *u = low ? rk_onnx_param(c, n->params[k++]) : NULL, *v = low ? rk_onnx_param(c, n->params[k++]) : NULL;
  const char *w = low ? NULL : rk_onnx_param(c, n->params[k++]);
  const char *bias = n->iattr[1] ? rk_onnx_param(c, n->params[k]) : NULL;
  const char *lhs = low ? rk_onnx_op2(b, "MatMul", x, v) : x;
  const char *ins[3] = {lhs, low ? u : w, bias};
  h = rk_onnx_op(b, "Gemm", bias ? 3 : 2, ins);
  rk_onnx_attr_int(b, rk_onnx_last(b), "transB", 1);
  return rk_onnx_op2(b, "Add", rk_onnx_op2(b, "Mul", in(c, n, 0), h), x);
}

/* FM: out (B, 1) = 0.5 sum_d ((sum_f v)^2 - sum_f v^2) [+ sum_f first]. */
static const char *fm(rk_onnx_ctx *c, const rk_node *n) {
  rk_onnx_builder *b = c->b;
  const char *emb = in(c, n, 0), *s = reduce_sum(c, emb, 1, false);
  const char *sq = reduce_sum(c, rk_onnx_op2(b, "Mul", emb, emb), 1, false);
  const char *diff = rk_onnx_op2(b, "Sub", rk_onnx_op2(b, "Mul", s, s), sq);
  const char *out = rk_onnx_op2(b, "Mul", reduce_sum(c, diff, 1, true), scalar_f32(c, 0.5f));
  if (n->n_in > 1) out = rk_onnx_op2(b, "Add", out, reduce_sum(c, in(c, n, 1), 1, true));
  return out;
}

static const char *softmax_last(rk_onnx_ctx *c, const char *x, float temperature) {
  if (temperature != 1.0f) x = rk_onnx_op2(c->b, "Div", x, scalar_f32(c, temperature));
  const char *out = rk_onnx_op1(c->b, "Softmax", x);
  rk_onnx_attr_int(c->b, rk_onnx_last(c->b), "axis", -1);
  return out;
}

/* out (B, D) = softmax(logits (B, E) / T) (B, 1, E) times experts (B, E, D). */
static const char *gate(rk_onnx_ctx *c, const rk_node *n) {
  rk_onnx_builder *b = c->b;
  const char *p = rk_onnx_op2(b, "Unsqueeze", softmax_last(c, in(c, n, 1), n->fattr[0]), axes(c, 1));
  return rk_onnx_op2(b, "Squeeze", rk_onnx_op2(b, "MatMul", p, in(c, n, 0)), axes(c, 1));
}

static rk_status split(rk_onnx_ctx *c, const rk_node *n) {
  int64_t axis = n->iattr[0], sizes[RK_NODE_MAX_OUT];
  const char *outs[RK_NODE_MAX_OUT];
  for (int k = 0; k < n->n_out; k++) {
    sizes[k] = val(c, n->out[k])->shape[axis];
    if (!(outs[k] = rk_onnx_fresh(c->b, "Split"))) return c->b->status;
  }
  const char *ins[2] = {in(c, n, 0), rk_onnx_const_i64(c->b, n->n_out, sizes)};
  Onnx__NodeProto *node = rk_onnx_node(c->b, "Split", 2, ins, n->n_out, outs);
  rk_onnx_attr_int(c->b, node, "axis", axis);
  for (int k = 0; k < n->n_out; k++) c->names[n->out[k]] = outs[k];
  return c->b->status;
}

static const char *transpose(rk_onnx_ctx *c, const rk_node *n) {
  int nd = val(c, n->in[0])->ndim;
  int64_t perm[RK_TENSOR_MAX_DIMS];
  for (int k = 0; k < nd; k++) perm[k] = k;
  perm[n->iattr[0]] = n->iattr[1];
  perm[n->iattr[1]] = n->iattr[0];
  const char *out = rk_onnx_op1(c->b, "Transpose", in(c, n, 0));
  rk_onnx_attr_ints(c->b, rk_onnx_last(c->b), "perm", nd, perm);
  return out;
}

/* LayerNormalization wants a scale: ones where reckon has no gamma. */
static const char *layer_norm(rk_onnx_ctx *c, const rk_node *n) {
  rk_onnx_builder *b = c->b;
  int k = 0;
  const rk_param *gamma = n->iattr[0] ? n->params[k++] : NULL, *beta = n->iattr[1] ? n->params[k] : NULL;
  const rk_value *x = val(c, n->in[0]);
  int64_t D = x->shape[x->ndim - 1];
  const char *scale;
  if (gamma) scale = rk_onnx_param(c, gamma);
  else {
    float *ones = rk_malloc((size_t)D * sizeof *ones);
    if (!ones) return rk_onnx_fail(b, RK_ENOMEM), NULL;
    for (int64_t d = 0; d < D; d++) ones[d] = 1.0f;
    scale = rk_onnx_const_f32(b, (int)D, ones);
    rk_free(ones);
  }
  const char *ins[3] = {in(c, n, 0), scale, beta ? rk_onnx_param(c, beta) : NULL};
  const char *out = rk_onnx_op(b, "LayerNormalization", beta ? 3 : 2, ins);
  rk_onnx_attr_int(b, rk_onnx_last(b), "axis", -1);
  rk_onnx_attr_float(b, rk_onnx_last(b), "epsilon", n->fattr[0]);
  return out;
}

/* GELU (opset 17 has no Gelu): 0.5 x (1 + erf(x / sqrt 2)), or the tanh form. */
static const char *gelu(rk_onnx_ctx *c, const rk_node *n) {
  rk_onnx_builder *b = c->b;
  const char *x = in(c, n, 0), *inner;
  if (n->iattr[0]) {
    const char *x3 = rk_onnx_op2(b, "Mul", rk_onnx_op2(b, "Mul", x, x), x);
    const char *arg = rk_onnx_op2(b, "Add", x, rk_onnx_op2(b, "Mul", x3, scalar_f32(c, 0.044715f)));
    inner = rk_onnx_op1(b, "Tanh", rk_onnx_op2(b, "Mul", arg, scalar_f32(c, (float)sqrt(2.0 / M_PI))));
  } else inner = rk_onnx_op1(b, "Erf", rk_onnx_op2(b, "Mul", x, scalar_f32(c, (float)M_SQRT1_2)));
  const char *half_x = rk_onnx_op2(b, "Mul", x, scalar_f32(c, 0.5f));
  return rk_onnx_op2(b, "Mul", half_x, rk_onnx_op2(b, "Add", inner, scalar_f32(c, 1.0f)));
}

/* Heads side by side (B, T, D) <-> (B, H, T, dh). */
static const char *split_heads(rk_onnx_ctx *c, const char *x, int64_t H, int64_t dh) {
  const char *r = rk_onnx_op2(c->b, "Reshape", x, rk_onnx_const_i64(c->b, 4, (const int64_t[]){0, 0, H, dh}));
  const char *out = rk_onnx_op1(c->b, "Transpose", r);
  rk_onnx_attr_ints(c->b, rk_onnx_last(c->b), "perm", 4, (const int64_t[]){0, 2, 1, 3});
  return out;
}

/* Which keys each query sees, as bool (B or 1, 1, T, T): causal (key <= query) and not padding;
 * NULL when every key is seen. */
static const char *visible_keys(rk_onnx_ctx *c, const rk_node *n, int64_t T) {
  rk_onnx_builder *b = c->b;
  const char *seen = NULL;
  if (n->iattr[2]) {
    float *lower = rk_calloc((size_t)(T * T), sizeof *lower);
    if (!lower) return rk_onnx_fail(b, RK_ENOMEM), NULL;
    for (int64_t t = 0; t < T; t++)
      for (int64_t u = 0; u <= t; u++) lower[t * T + u] = 1.0f;
    const char *flat = rk_onnx_const_f32(b, (int)(T * T), lower);
    rk_free(lower);
    seen = rk_onnx_op1(b, "Cast", rk_onnx_op2(b, "Reshape", flat, rk_onnx_const_i64(b, 2, (const int64_t[]){T, T})));
    rk_onnx_attr_int(b, rk_onnx_last(b), "to", ONNX__TENSOR_PROTO__DATA_TYPE__BOOL);
  }
  if (n->n_in > 1) {
    int64_t padding = n->iattr[1];
    const char *real = rk_onnx_op1(b, "Not", rk_onnx_op2(b, "Equal", in(c, n, 1), rk_onnx_const_i64(b, 1, &padding)));
    real = rk_onnx_op2(b, "Unsqueeze", real, rk_onnx_const_i64(b, 2, (const int64_t[]){1, 2}));   /* (B, 1, 1, T) */
    seen = seen ? rk_onnx_op2(b, "And", seen, real) : real;
  }
  return seen;
}

/* softmax(q k^T / sqrt(dh)) v per head over the visible keys; a hidden key's score is -1e30
 * before the softmax (exp gives exactly 0) and its weight is zeroed after it, so a query that
 * sees no key gets a zero row, as reckon's kernel. */
static const char *attention(rk_onnx_ctx *c, const rk_node *n) {
  rk_onnx_builder *b = c->b;
  const rk_value *qkv = val(c, n->in[0]);
  int64_t T = qkv->shape[1], D = qkv->shape[2] / 3, H = n->iattr[0], dh = D / H;
  const char *parts[3] = {rk_onnx_fresh(b, "q"), rk_onnx_fresh(b, "k"), rk_onnx_fresh(b, "v")};
  const char *ins[2] = {in(c, n, 0), rk_onnx_const_i64(b, 3, (const int64_t[]){D, D, D})};
  rk_onnx_attr_int(b, rk_onnx_node(b, "Split", 2, ins, 3, parts), "axis", 2);
  const char *q = split_heads(c, parts[0], H, dh), *k = split_heads(c, parts[1], H, dh), *v = split_heads(c, parts[2], H, dh);
  const char *kt = rk_onnx_op1(b, "Transpose", k);
  rk_onnx_attr_ints(b, rk_onnx_last(b), "perm", 4, (const int64_t[]){0, 1, 3, 2});
  const char *s = rk_onnx_op2(b, "Mul", rk_onnx_op2(b, "MatMul", q, kt), scalar_f32(c, (float)(1.0 / sqrt((double)dh))));
  const char *seen = visible_keys(c, n, T), *p;
  if (seen) {
    const char *where[3] = {seen, s, scalar_f32(c, -1e30f)};
    p = softmax_last(c, rk_onnx_op(b, "Where", 3, where), 1.0f);
    const char *weight = rk_onnx_op1(b, "Cast", seen);
    rk_onnx_attr_int(b, rk_onnx_last(b), "to", F32);
    p = rk_onnx_op2(b, "Mul", p, weight);
  } else p = softmax_last(c, s, 1.0f);
  const char *o = rk_onnx_op1(b, "Transpose", rk_onnx_op2(b, "MatMul", p, v));   /* (B, T, H, dh) */
  rk_onnx_attr_ints(b, rk_onnx_last(b), "perm", 4, (const int64_t[]){0, 2, 1, 3});
  return rk_onnx_op2(b, "Reshape", o, rk_onnx_const_i64(b, 3, (const int64_t[]){0, 0, D}));
}

/* out (B, K, D) = x (B, T, D) at positions index (B, K), -1 a zero row: a one-hot (B, K, T)
 * times x, which copies each row exactly. */
static const char *gather(rk_onnx_ctx *c, const rk_node *n) {
  rk_onnx_builder *b = c->b;
  int64_t T = val(c, n->in[0])->shape[1];
  int64_t *positions = rk_malloc((size_t)T * sizeof *positions);
  if (!positions) return rk_onnx_fail(b, RK_ENOMEM), NULL;
  for (int64_t t = 0; t < T; t++) positions[t] = t;
  const char *pos = rk_onnx_const_i64(b, (int)T, positions);
  rk_free(positions);
  const char *hot = rk_onnx_op1(b, "Cast", rk_onnx_op2(b, "Equal", rk_onnx_op2(b, "Unsqueeze", in(c, n, 1), axes(c, -1)), pos));
  rk_onnx_attr_int(b, rk_onnx_last(b), "to", F32);
  return rk_onnx_op2(b, "MatMul", hot, in(c, n, 0));
}

/* out = x with the rows whose mask is non-zero replaced by the value (D). */
static const char *mask_fill(rk_onnx_ctx *c, const rk_node *n) {
  rk_onnx_builder *b = c->b;
  int64_t zero = 0;
  const char *masked = rk_onnx_op1(b, "Not", rk_onnx_op2(b, "Equal", in(c, n, 1), rk_onnx_const_i64(b, 1, &zero)));
  const char *where[3] = {rk_onnx_op2(b, "Unsqueeze", masked, axes(c, -1)), rk_onnx_param(c, n->params[0]), in(c, n, 0)};
  return rk_onnx_op(b, "Where", 3, where);
}

rk_status rk_onnx_emit_node(rk_onnx_ctx *c, const rk_node *n) {
  rk_onnx_builder *b = c->b;
  if (b->status != RK_OK) return b->status;
  for (int k = 0; k < n->n_in; k++)
    if (!c->names[n->in[k]])
      return rk_onnx_fail(b, rk_error(RK_EINTERNAL, "onnx export: op '%s' reads value '%s', which has no ONNX name",
                                      rk_op_name(n->op), val(c, n->in[k])->name));
  const char *out = NULL;
  switch (n->op) {
  case RK_OP_LINEAR: out = linear(c, n); break;
  case RK_OP_ADD: out = rk_onnx_op2(b, "Add", in(c, n, 0), in(c, n, 1)); break;
  case RK_OP_MUL: out = rk_onnx_op2(b, "Mul", in(c, n, 0), in(c, n, 1)); break;
  case RK_OP_CONCAT: out = concat(c, n); break;
  case RK_OP_RESHAPE: out = reshape(c, n); break;
  case RK_OP_SUM: out = reduce(c, n, false); break;
  case RK_OP_MEAN: out = reduce(c, n, true); break;
  case RK_OP_RELU: out = rk_onnx_op1(b, "Relu", in(c, n, 0)); break;
  case RK_OP_SIGMOID: out = rk_onnx_op1(b, "Sigmoid", in(c, n, 0)); break;
  case RK_OP_TANH: out = rk_onnx_op1(b, "Tanh", in(c, n, 0)); break;
  case RK_OP_EMBEDDING: out = embedding(c, n); break;
  case RK_OP_EMBEDDING_BAG: out = embedding_bag(c, n); break;
  case RK_OP_DOT_INTERACTION: out = dot_interaction(c, n); break;
  case RK_OP_CROSS: out = cross(c, n); break;
  case RK_OP_FM: out = fm(c, n); break;
  case RK_OP_GATE: out = gate(c, n); break;
  case RK_OP_SPLIT: return split(c, n);
  case RK_OP_TRANSPOSE: out = transpose(c, n); break;
  case RK_OP_MATMUL: out = rk_onnx_op2(b, "MatMul", in(c, n, 0), in(c, n, 1)); break;
  case RK_OP_SOFTMAX: out = softmax_last(c, in(c, n, 0), n->fattr[0]); break;
  case RK_OP_DROPOUT: out = rk_onnx_op1(b, "Identity", in(c, n, 0)); break;   /* eval: the identity */
  case RK_OP_LAYER_NORM: out = layer_norm(c, n); break;
  case RK_OP_LEAKY_RELU:
    out = rk_onnx_op1(b, "LeakyRelu", in(c, n, 0));
    rk_onnx_attr_float(b, rk_onnx_last(b), "alpha", n->fattr[0]);
    break;
  case RK_OP_GELU: out = gelu(c, n); break;
  case RK_OP_ATTENTION: out = attention(c, n); break;
  case RK_OP_GATHER: out = gather(c, n); break;
  case RK_OP_MASK_FILL: out = mask_fill(c, n); break;
  default:
    return rk_onnx_fail(b, rk_error(RK_EUNSUPPORTED, "onnx export: reckon op '%s' has no ONNX mapping (graph node %d)",
                                    rk_op_name(n->op), n->id));
  }
  if (b->status == RK_OK && !out) rk_onnx_fail(b, RK_EINTERNAL);
  if (b->status == RK_OK) c->names[n->out[0]] = out;
  return b->status;
}
