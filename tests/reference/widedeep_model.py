"""PyTorch reference of the Wide & Deep recipe's model as reckon builds it (rk_ranking_config with
kind RK_MODEL_WIDE_N_DEEP, wide_layout RK_WIDE_LINEAR, schema_dims, tf_embedding_init: the layout
`reckon widedeep` trains, docs/widedeep.md), and the recipe's two optimizers, TensorFlow's FTRL
and proximal Adagrad, for tests/reference/make_widedeep_fixtures.py.

It is not reckon's code translated: the model follows the feature table of docs/widedeep.md and
include/reckon/models.h; the optimizers follow TensorFlow's documented update rules (the
ApplyFtrl and ApplyProximalAdagrad ops of tensorflow/core/ops/training_ops.cc and the kernels of
tensorflow/core/kernels/training_ops.cc) and are checked at import against the values TensorFlow's
own ftrl_test.py and proximal_adagrad_test.py assert. Initialisation is not reproduced: callers
overwrite every parameter.

    import widedeep_model as wd
    enc = wd.encode(schema, rows)         # raw column values -> ids, one-hot block, continuous
    model = wd.WideDeep(schema, mlp_layers=[5, 4])
    logit = model(enc)                    # (B, 1)
    loss = wd.loss(logit, label)          # mean BCE with logits

schema: a list of columns in schema order, each a dict with "name" and "kind":
  "hashed"     categorical with property num_buckets "buckets" and embedding dimension "dim";
               "max_len" makes it a list column (value_count max)
  "indicator"  categorical with the indicator property and int_domain 0..n-1 ("n")
  "continuous" a float feature
  "target"     the label (not a feature)
rows: {column name: [value per example]}, None for a null; a list column's values are lists.

The model (feature order: the schema's categorical columns, then its continuous ones):
  ids:   hashed: 1 + xxh64(value as 8 little-endian bytes, seed 0) mod (buckets - 1);
         indicator: value + 1; a null: 0, which looks up nothing (a null list: no ids).
  wide:  first_order.<col> (V, 1) per categorical (a list's rows summed), plus
         wide.continuous (1, n_cont) . continuous, plus wide.bias (1).
  deep:  x = [embeddings.<col> rows of the non-indicator categoricals, schema order (a list's
         rows averaged; an empty or null list: zeros)] ++ [the indicators' one-hots of width n,
         side by side in schema order] ++ [continuous]; mlp.<l> linear + ReLU; output (1, width).
  logit = wide + deep. Parameter order is reckon's creation order (reckon_parameters()).
"""
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ranking_models import hash_int  # noqa: E402  (pure-Python XXH64, checked there against published vectors)


# ---- features ----

def categorical(schema):
    return [c for c in schema if c["kind"] in ("hashed", "indicator")]


def continuous(schema):
    return [c for c in schema if c["kind"] == "continuous"]


def feature_id(col, v):
    """The table row of raw value v of a categorical column."""
    if col["kind"] == "hashed":
        return 1 + hash_int(v) % (col["buckets"] - 1)
    if not 0 <= v < col["n"]:
        raise ValueError("indicator column %r holds %r, outside 0..%d" % (col["name"], v, col["n"] - 1))
    return v + 1


def table_rows(col):
    return col["buckets"] if col["kind"] == "hashed" else col["n"] + 1


def encode(schema, rows):
    """Raw values -> {"bags": {name: (offsets (B + 1), ids)}, "indicators": (B, W) float64,
    "dense": (B, n_cont) float64}. Every categorical is a bag: a single value is a bag of one
    id, a null an empty bag (id 0 looks nothing up, so it needs no id)."""
    B = len(rows[schema[0]["name"]])
    bags = {}
    for col in categorical(schema):
        offsets, ids = [0], []
        for v in rows[col["name"]]:
            if v is not None:
                values = v if col.get("max_len") else [v]
                if len(values) > col.get("max_len", 1):
                    raise ValueError("column %r: a list of %d values" % (col["name"], len(values)))
                ids += [feature_id(col, x) for x in values]
            offsets.append(len(ids))
        bags[col["name"]] = (offsets, ids)
    blocks = []
    for col in categorical(schema):
        if col["kind"] != "indicator":
            continue
        block = torch.zeros(B, col["n"], dtype=torch.float64)
        offsets, ids = bags[col["name"]]
        for b in range(B):
            for k in range(offsets[b], offsets[b + 1]):
                block[b, ids[k] - 1] += 1.0
        blocks.append(block)
    ind = torch.cat(blocks, dim=1) if blocks else torch.zeros(B, 0, dtype=torch.float64)
    conts = continuous(schema)
    dense = torch.tensor([[0.0 if rows[c["name"]][b] is None else float(rows[c["name"]][b]) for c in conts]
                          for b in range(B)], dtype=torch.float64).reshape(B, len(conts))
    return {"batch": B, "bags": bags, "indicators": ind, "dense": dense}


def pooling(offsets, mean):
    """The (B, n_ids) matrix that pools a bag's looked-up rows: 1 (sum) or 1/len (mean) at each of
    its ids; an empty bag's row is zero."""
    B, n = len(offsets) - 1, offsets[-1]
    P = torch.zeros(B, n, dtype=torch.float64)
    for b in range(B):
        k = offsets[b + 1] - offsets[b]
        for j in range(offsets[b], offsets[b + 1]):
            P[b, j] = 1.0 / k if mean else 1.0
    return P


# ---- the model ----

class WideDeep(nn.Module):
    def __init__(self, schema, mlp_layers):
        super().__init__()
        self.schema = schema
        self.cats, self.conts = categorical(schema), continuous(schema)
        self.mlp_layers = list(mlp_layers)
        self._names, self._sparse = [], set()
        deep_cats = [c for c in self.cats if c["kind"] != "indicator"]
        for c in deep_cats:
            self._add("embeddings." + c["name"], (table_rows(c), c["dim"]), True)
        for c in self.cats:
            self._add("first_order." + c["name"], (table_rows(c), 1), True)
        if self.conts:
            self._add("wide.continuous", (1, len(self.conts)), False)
        self._add("wide.bias", (1,), False)
        width = sum(c["dim"] for c in deep_cats) + sum(c["n"] for c in self.cats if c["kind"] == "indicator") \
            + len(self.conts)
        for l, units in enumerate(self.mlp_layers):
            self._add("mlp.%d.weight" % l, (units, width), False)
            self._add("mlp.%d.bias" % l, (units,), False)
            width = units
        self._add("output.weight", (1, width), False)
        self._add("output.bias", (1,), False)
        self.act = torch.relu

    def _add(self, name, shape, sparse):
        self.register_parameter(name.replace(".", "/"), nn.Parameter(torch.zeros(shape, dtype=torch.float64)))
        self._names.append(name)
        if sparse:
            self._sparse.add(name)

    def param(self, name):
        return getattr(self, name.replace(".", "/"))

    def is_sparse(self, name):
        return name in self._sparse

    def is_wide(self, name):
        return name.startswith("first_order.") or name.startswith("wide.")

    def reckon_parameters(self):
        return [(n, self.param(n)) for n in self._names]

    def touched_rows(self, name, enc):
        """The rows of table `name` the batch looks up (ascending, unique): a sparse apply's rows."""
        col = name.split(".", 1)[1]
        return sorted(set(enc["bags"][col][1]))

    def _pool(self, table, enc, col, mean):
        offsets, ids = enc["bags"][col]
        W = self.param(table)
        if not ids:
            return W.new_zeros(enc["batch"], W.shape[1])
        return pooling(offsets, mean) @ W[torch.tensor(ids, dtype=torch.int64)]

    def forward(self, enc):
        wide = sum(self._pool("first_order." + c["name"], enc, c["name"], mean=False) for c in self.cats)
        if self.conts:
            wide = wide + enc["dense"] @ self.param("wide.continuous").t()
        wide = wide + self.param("wide.bias")
        parts = [self._pool("embeddings." + c["name"], enc, c["name"], mean=True)
                 for c in self.cats if c["kind"] != "indicator"]
        x = torch.cat(parts + [enc["indicators"], enc["dense"]], dim=1)
        for l in range(len(self.mlp_layers)):
            x = self.act(F.linear(x, self.param("mlp.%d.weight" % l), self.param("mlp.%d.bias" % l)))
        return wide + F.linear(x, self.param("output.weight"), self.param("output.bias"))


def loss(logit, label):
    """The recipe's loss: BCE with logits averaged over the batch (SUM_OVER_BATCH_SIZE)."""
    return F.binary_cross_entropy_with_logits(logit, label.reshape(logit.shape).to(logit.dtype))


# ---- TensorFlow's optimizers (tf.compat.v1.train.FtrlOptimizer, ProximalAdagradOptimizer) ----
#
# Both keep their state per element; a dense variable is updated everywhere, a table (a sparse
# gradient, TF's SparseApply* ops) only in the rows given, the others keeping value and state.

class Ftrl:
    """FTRL-Proximal, TF's ApplyFtrl (learning_rate_power p = -0.5, no l2 shrinkage):
        accum_new = accum + g^2
        linear   += g - (accum_new^(-p) - accum^(-p)) / lr * var
        quadratic = 1 / (accum_new^p * lr) + 2 l2
        var       = (sign(linear) l1 - linear) / quadratic  if |linear| > l1  else 0
        accum     = accum_new
    accumulators start at initial_accumulator_value (0.1), linear at 0.
    margin: the smallest ||linear| - l1| seen (how far each element was from the l1 cut)."""

    def __init__(self, lr, l1, l2, initial_accumulator=0.1, lr_power=-0.5):
        self.lr, self.l1, self.l2, self.p, self.init = lr, l1, l2, lr_power, initial_accumulator
        self.accum, self.linear = {}, {}
        self.margin = float("inf")

    def step(self, key, var, grad, rows=None):
        """var, grad: float64 tensors alike (grad dense); rows: the rows to update, or None (all)."""
        a = self.accum.setdefault(key, torch.full_like(var, self.init))
        n = self.linear.setdefault(key, torch.zeros_like(var))
        idx = slice(None) if rows is None else torch.tensor(rows, dtype=torch.int64)
        w, g, acc, lin = var[idx], grad[idx], a[idx], n[idx]
        acc_new = acc + g * g
        lin = lin + g - (acc_new.pow(-self.p) - acc.pow(-self.p)) / self.lr * w
        quadratic = 1.0 / (acc_new.pow(self.p) * self.lr) + 2.0 * self.l2
        keep = lin.abs() > self.l1
        new = torch.where(keep, (torch.sign(lin) * self.l1 - lin) / quadratic, torch.zeros_like(w))
        self.margin = min(self.margin, float((lin.abs() - self.l1).abs().min()))
        var[idx], a[idx], n[idx] = new, acc_new, lin


class ProximalAdagrad:
    """Proximal Adagrad (FOBOS with Adagrad's rate), TF's ApplyProximalAdagrad kernel:
        accum += g^2
        r      = lr / sqrt(accum)
        prox   = var - r g
        var    = sign(prox) max(|prox| - r l1, 0) / (1 + r l2)
    accumulators start at initial_accumulator_value (0.1).
    margin: the smallest ||prox| - r l1| seen (how far each element was from the l1 cut)."""

    def __init__(self, lr, l1, l2, initial_accumulator=0.1):
        self.lr, self.l1, self.l2, self.init = lr, l1, l2, initial_accumulator
        self.accum = {}
        self.margin = float("inf")

    def step(self, key, var, grad, rows=None):
        a = self.accum.setdefault(key, torch.full_like(var, self.init))
        idx = slice(None) if rows is None else torch.tensor(rows, dtype=torch.int64)
        w, g = var[idx], grad[idx]
        acc = a[idx] + g * g
        r = self.lr / acc.sqrt()
        prox = w - r * g
        if self.l1 > 0:
            self.margin = min(self.margin, float((prox.abs() - r * self.l1).abs().min()))
            new = torch.sign(prox) * torch.clamp(prox.abs() - r * self.l1, min=0.0) / (1.0 + r * self.l2)
        else:
            new = prox / (1.0 + r * self.l2)
        var[idx], a[idx] = new, acc


def _check_tf_vectors():
    """The values TF's ftrl_test.py and proximal_adagrad_test.py assert: var0 = [1, 2] and
    var1 = [4, 3] (or zeros), gradients [0.1, 0.2] and [0.01, 0.02] every step, lr 3."""
    g0 = torch.tensor([0.1, 0.2], dtype=torch.float64)
    g1 = torch.tensor([0.01, 0.02], dtype=torch.float64)
    cases = [
        (Ftrl(3.0, 0.0, 0.0), [0.0, 0.0], [0.0, 0.0], 3, [-2.60260963, -4.29698515], [-0.28432083, -0.56694895]),
        (Ftrl(3.0, 0.001, 0.0), [1.0, 2.0], [4.0, 3.0], 10, [-7.66718769, -10.91273689], [-0.93460727, -1.86147261]),
        (Ftrl(3.0, 0.001, 2.0), [1.0, 2.0], [4.0, 3.0], 10, [-0.24059935, -0.46829352], [-0.02406147, -0.04830509]),
        (ProximalAdagrad(3.0, 0.0, 0.0), [1.0, 2.0], [4.0, 3.0], 3, [-1.60261, -2.296985], [3.715679, 2.433051]),
        (ProximalAdagrad(3.0, 0.001, 0.0), [1.0, 2.0], [4.0, 3.0], 10, [-6.663634, -9.190331], [2.959304, 1.029232]),
        (ProximalAdagrad(3.0, 0.001, 2.0), [1.0, 2.0], [4.0, 3.0], 10, [-0.0495, -0.0995], [-0.0045, -0.0095]),
    ]
    for opt, v0, v1, steps, w0, w1 in cases:
        x0 = torch.tensor(v0, dtype=torch.float64)
        x1 = torch.tensor(v1, dtype=torch.float64)
        for _ in range(steps):
            opt.step(0, x0, g0)
            opt.step(1, x1, g1)
        for got, want in ((x0, w0), (x1, w1)):
            for a, b in zip(got.tolist(), want):
                # TF asserts its float32 results to 1e-6; these are float64.
                assert abs(a - b) <= 1e-5 + 1e-5 * abs(b), "%s: %r, TensorFlow's test %r" % (type(opt).__name__, got, want)


_check_tf_vectors()
