#!/usr/bin/python3
"""Write PyTorch reference fixtures for the losses over candidate items (tests/unit/test_nn_sampled_reference.c).

Run with Debian's python3 and torch 1.13:  /usr/bin/python3 tests/reference/make_sampled_fixtures.py
Written from the published definitions, not from reckon's kernels:
  sampled softmax   Jean et al. 2015 / TensorFlow's sampled_softmax_loss: the target's logit and
                    N shared draws, each minus log(N P(id)) under the log-uniform sampler
                    P(i) = log((i + 1) / i) / log(V) over ids 1..V-1; an accidental hit (a draw
                    equal to the row's target) leaves that row's candidates
  negative sampling recsys_meta_model.py's candidates: every labelled row's target, then the
                    extra draws; a row's negatives are those not from its own session and not
                    equal to its target
  pairwise losses   GRU4Rec (Hidasi and Karatzoglou, CIKM 2018, sec. 3.1): bpr, top1, top1_max,
                    bpr_max_reg (softmax over the row's negatives), and cross-entropy over them
The head is a session model's: h = tanh(x Wh^T + bh), scores h . items_i + bias_i, divided by a
temperature. Each case is tests/reference/fixtures/sampled_<name>.json: "spec" (the op's), "params"
(names in order), "adamw" and "tensors": labels (B, T) (0: none), draws (N), <param>, out:loss,
grad:<param>, out:loss@<s> and step3:<param> after s steps of Hugging Face's AdamW (weight decay
0.01 on every parameter). The losses run in float64.
"""
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_adamw_fixtures import TransformersAdamW  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
B, T, D0, D, V, STEPS = 3, 5, 6, 4, 12, 3
TAU = 0.8
ADAMW = {"lr": 1e-2, "weight_decay": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-6}
LABELS = [[3, 1, 7, 0, 0], [1, 1, 9, 2, 11], [0, 0, 0, 0, 0]]   # a repeated item, a session without targets
DRAWS = [1, 3, 2, 1, 10, 5]                                      # repeats, and hits of targets 1 and 3


def t2j(t):
    t = torch.as_tensor(t).detach()
    data = t.reshape(-1).tolist()
    if t.dtype.is_floating_point:
        data = [float("%.9g" % v) for v in data]
    return {"shape": list(t.shape), "data": data}


def log_uniform(i):
    return math.log((i + 1) / i) / math.log(V)


def scores(P, ids):
    """(R, len(ids)) scores of every row against ids, over the temperature."""
    h = torch.tanh(P["x"].reshape(B * T, D0) @ P["head_w"].T + P["head_b"])
    return (h @ P["items"][ids].T + P["bias"][ids]) / TAU, h


def sampled_softmax(P, labels):
    y = labels.reshape(-1)
    draws = torch.tensor(DRAWS)
    rows = [r for r in range(B * T) if y[r] != 0]
    logq = torch.tensor([math.log(len(DRAWS) * log_uniform(int(i))) for i in DRAWS])
    s_draw, _ = scores(P, draws)
    total = 0.0
    for r in rows:
        target = int(y[r])
        s_pos, _ = scores(P, torch.tensor([target]))
        keep = draws != target
        z = torch.cat([s_pos[r] - math.log(len(DRAWS) * log_uniform(target)), (s_draw[r] - logq)[keep]])
        total = total - torch.log_softmax(z, 0)[0]
    return total / len(rows)


def pairwise(P, labels, kind, lam=0.3):
    y = labels.reshape(-1)
    cand = torch.cat([y, torch.tensor(DRAWS)])          # in-batch targets (0: padding), then draws
    session = torch.cat([torch.arange(B * T) // T, torch.full((len(DRAWS),), -1)])
    s_all, _ = scores(P, cand)
    rows = [r for r in range(B * T) if y[r] != 0]
    total = 0.0
    for r in rows:
        target = int(y[r])
        s_pos = scores(P, torch.tensor([target]))[0][r, 0]
        neg = (cand != 0) & (cand != target) & (session != r // T)
        z = s_all[r][neg]
        if kind == "cross_entropy":
            total = total - torch.log_softmax(torch.cat([s_pos.reshape(1), z]), 0)[0]
        elif kind == "bpr":
            total = total - torch.nn.functional.logsigmoid(s_pos - z).mean()
        elif kind == "top1":
            total = total + (torch.sigmoid(z - s_pos) + torch.sigmoid(z ** 2)).mean()
        elif kind == "top1_max":
            total = total + (torch.softmax(z, 0) * (torch.sigmoid(z - s_pos) + torch.sigmoid(z ** 2))).sum()
        elif kind == "bpr_max_reg":
            s = torch.softmax(z, 0)
            total = total - torch.log((s * torch.sigmoid(s_pos - z)).sum()) + lam * (s * z ** 2).sum()
    return total / len(rows)


def case(name, spec, loss_fn):
    gen = torch.Generator().manual_seed(len(name))
    P = {"x": torch.randn(B, T, D0, generator=gen),
         "head_w": torch.randn(D, D0, generator=gen) * 0.5, "head_b": torch.randn(D, generator=gen) * 0.1,
         "items": torch.randn(V, D, generator=gen) * 0.8, "bias": torch.randn(V, generator=gen) * 0.1}
    P = {k: v.requires_grad_() for k, v in P.items()}
    labels = torch.tensor(LABELS)
    tensors = {"labels": labels, "draws": torch.tensor(DRAWS), **{k: v.detach().clone() for k, v in P.items()}}
    loss = loss_fn(P, labels)
    loss.backward()
    tensors["out:loss"] = loss
    tensors.update({"grad:" + k: v.grad.clone() for k, v in P.items()})
    opt = TransformersAdamW(list(P.values()), lr=ADAMW["lr"], betas=(ADAMW["beta1"], ADAMW["beta2"]),
                            eps=ADAMW["eps"], weight_decay=ADAMW["weight_decay"])
    for s in range(1, STEPS + 1):
        opt.step()
        for p in P.values():
            p.grad = None
        loss = loss_fn(P, labels)
        tensors["out:loss@%d" % s] = loss
        if s < STEPS:
            loss.backward()
    tensors.update({"step%d:%s" % (STEPS, k): v for k, v in P.items()})
    with open(os.path.join(OUT, "sampled_%s.json" % name), "w") as f:
        json.dump({"name": name, "spec": {**spec, "temperature": TAU}, "params": list(P), "adamw": ADAMW,
                   "tensors": {k: t2j(v) for k, v in tensors.items()}}, f, separators=(",", ":"))


if __name__ == "__main__":
    torch.set_default_dtype(torch.float64)
    case("softmax", {"in_batch": False, "logq": True, "loss": "cross_entropy"}, sampled_softmax)
    for kind in ("cross_entropy", "bpr", "top1", "top1_max", "bpr_max_reg"):
        case("negatives_" + kind, {"in_batch": True, "logq": False, "loss": kind, "lambda": 0.3},
             lambda P, labels, kind=kind: pairwise(P, labels, kind))
