#!/usr/bin/python3
"""Write PyTorch reference fixtures for reckon's ranking models (tests/unit/test_models_reference.c).

Run with Debian's python3 and torch 1.13:  /usr/bin/python3 tests/reference/make_model_fixtures.py
The models are tests/reference/ranking_models.py (PyTorch, written from src/models/ranking.c).
Each fixture is tests/reference/fixtures/models/<name>.json, the tensor format of
make_nn_fixtures.py: "tensors" maps a name to {"shape": [...], "data": [...]} (row-major; ids as
integers), next to "schema", "config", "params" (reckon's names in creation order) and "adam".
Tensors:
  cat_ids (B, n_cat), dense (B, n_cont) (absent without continuous features), label, weight (B, 1)
  <param>           the initial value of every parameter (tables: row 0 too, which padding
                    must never read)
  out:logit         (B, 1); out:loss, out:reg: the loss with its regularisation, and the latter
  grad:<param>      its gradient (tables dense (V, D): untouched rows are zero)
  rows:<table>      the rows a table's sparse gradient holds (coalesced: unique, ascending)
  ids:<wide_cross>  wide_n_deep: the hashed cross ids (reckon's xxh64 rule)
  out:loss@<s>      the loss at the forward after s Adam steps (s = 1..3)
  step3:<param>     the value after 3 Adam steps (lr 1e-2, 0.9/0.999, eps 1e-7 in the
                    epsilon-hat form; tables lazily: torch.optim.SparseAdam)
Parameters and inputs are float32 values (written with 9 significant digits, so they read back
exactly); the models then run in float64, so the fixtures hold the float32 problem's exact
answer to about 1e-15 and any difference in the C test is reckon's float32 arithmetic.
"""
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ranking_models as rm  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "models")
B = 6
STEPS = 3
ADAM = {"lr": 1e-2, "beta1": 0.9, "beta2": 0.999, "eps": 1e-7, "steps": STEPS}

CATS = [{"name": "user_id", "cardinality": 11}, {"name": "item_id", "cardinality": 7},
        {"name": "category", "cardinality": 5}]
CONTS = ["age", "price"]
# Repeated ids in every column, and one padding id (user_id of row 3).
CAT_IDS = [[3, 1, 4], [5, 6, 4], [3, 6, 1], [0, 2, 2], [10, 1, 3], [5, 4, 4]]
LABELS = [1.0, 0.0, 1.0, 0.0, 0.0, 1.0]

BASE = {"mlp_layers": [8, 4], "activation": "relu", "dropout": 0.0, "embeddings_dim": 8,
        "embedding_sizes_multiplier": 2.0, "dcn_layers": 1, "wnd_hashed_cross_num_bins": 13,
        "wnd_ignore": [], "l2_reg": 1e-2, "embeddings_l2_reg": 1e-2, "wnd_wide_l2_reg": 1e-2,
        "dlrm_top_dots_only": False}

# name: (kind, continuous features?, config changes, seed)
CASES = {
    "mlp": ("mlp", True, {"embedding_sizes_multiplier": 5.0}, 1),      # tables of 16, 16 and 8
    "dcn": ("dcn", True, {"dcn_layers": 2}, 2),
    "dlrm": ("dlrm", True, {}, 3),
    "dlrm_nocont": ("dlrm", False, {}, 4),
    "dlrm_dots": ("dlrm", False, {"dlrm_top_dots_only": True}, 5),
    "wide_n_deep": ("wide_n_deep", True, {"wnd_ignore": ["category:user_id"]}, 6),   # the reversed spelling
    "deepfm": ("deepfm", True, {}, 7),
}


def t2j(t):
    t = t.detach()
    if t.is_sparse:
        t = t.to_dense()
    data = t.reshape(-1).tolist()
    if t.dtype.is_floating_point:
        data = [float("%.9g" % v) for v in data]
    return {"shape": list(t.shape), "data": data}


def f32(t):
    return t.detach().to(torch.float32).clone()   # a copy: the parameter itself moves on


def init_values(model, gen):
    """Random float32 values, larger than the defaults so every term matters; nonzero biases and
    nonzero padding rows (reckon must ignore row 0)."""
    with torch.no_grad():
        for name, p in model.reckon_parameters():
            if model.is_sparse(name):
                v = torch.randn(p.shape, generator=gen) * 0.3
            elif p.dim() == 2:
                lim = math.sqrt(6.0 / (p.shape[0] + p.shape[1]))
                v = (torch.rand(p.shape, generator=gen) * 2 - 1) * lim
            else:
                v = torch.randn(p.shape, generator=gen) * 0.1
            p.copy_(v)


class Margins:
    """The closest an activation input came to the ReLU kink, and the smallest nonzero gradient:
    both must stay well clear of float32 noise for the C test to be meaningful."""

    def __init__(self):
        self.kink = float("inf")
        self.grad = float("inf")

    def relu(self, x):
        self.kink = min(self.kink, float(x.detach().abs().min()))
        return torch.relu(x)


def make(name, kind, continuous, changes, seed):
    schema = {"categorical": CATS, "continuous": CONTS if continuous else [], "target": "click"}
    cfg = dict(BASE)
    cfg.update(changes)
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = rm.build(kind, schema, cfg)
    init_values(model, gen)
    cat_ids = torch.tensor(CAT_IDS, dtype=torch.int64)
    dense = torch.randn(B, len(CONTS), generator=gen) if continuous else None
    label = torch.tensor(LABELS).reshape(B, 1)
    weight = torch.rand(B, 1, generator=gen) + 0.5
    tensors = {"cat_ids": cat_ids}
    if continuous:
        tensors["dense"] = dense
    tensors["label"], tensors["weight"] = label, weight
    for n, p in model.reckon_parameters():
        tensors[n] = f32(p)

    model = model.double()
    margins = Margins()
    model.act = margins.relu
    dense64 = dense.double() if continuous else None
    state = {}
    for s in range(STEPS + 1):
        for _, p in model.reckon_parameters():
            p.grad = None
        logit = model(cat_ids, dense64)
        total, reg = rm.loss(model, logit, label.double(), weight.double())
        if s == STEPS:
            tensors["out:loss@%d" % s] = total
            break
        total.backward()
        if s == 0:
            tensors["out:logit"], tensors["out:loss"], tensors["out:reg"] = logit, total, reg
            for n, p in model.reckon_parameters():
                g = p.grad
                if model.is_sparse(n):
                    g = g.coalesce()
                    tensors["rows:" + n] = g.indices()[0]
                    g = g.to_dense()
                tensors["grad:" + n] = g
            ids, crosses = model._last
            for (i, j), h in crosses.items():
                tensors["ids:wide_cross.%s.%s" % (model.cat_names[i], model.cat_names[j])] = h.reshape(B, 1)
        else:
            tensors["out:loss@%d" % s] = total
        for _, p in model.reckon_parameters():
            if p.grad is None:
                continue
            g = p.grad.coalesce().values() if p.grad.is_sparse else p.grad
            nz = g.abs()[g != 0]
            if nz.numel():
                margins.grad = min(margins.grad, float(nz.min()))
        rm.adam_step(model, state, ADAM["lr"], ADAM["beta1"], ADAM["beta2"], ADAM["eps"])
    for n, p in model.reckon_parameters():
        tensors["step3:" + n] = p.detach().clone()
    if not (margins.kink > 1e-3 and margins.grad > 1e-6):
        print("%-12s seed %d: closest ReLU input %.2e, smallest gradient %.2e: too close to float32 noise, next seed"
              % (name, seed, margins.kink, margins.grad))
        return False
    doc = {"name": name, "kind": kind, "schema": schema, "config": cfg,
           "params": [n for n, _ in model.reckon_parameters()], "adam": ADAM, "batch": B,
           "generator": "tests/reference/make_model_fixtures.py, torch %s" % torch.__version__,
           "tensors": {k: t2j(v) for k, v in tensors.items()}}
    path = os.path.join(OUT, name + ".json")
    with open(path, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
    print("%-12s seed %d, %2d params, loss %.6f reg %.6f, closest ReLU input %.2e, smallest gradient %.2e, %d bytes"
          % (name, seed, len(doc["params"]), float(tensors["out:loss"]), float(tensors["out:reg"]), margins.kink,
             margins.grad, os.path.getsize(path)))
    return True


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    for name, (kind, continuous, changes, seed) in CASES.items():
        # The first seed whose problem keeps clear of ReLU kinks and float32-noise gradients.
        for attempt in range(100):
            if make(name, kind, continuous, changes, seed + 1000 * attempt):
                break
        else:
            raise SystemExit("%s: no seed gave clear margins" % name)
