#!/usr/bin/python3
"""Write PyTorch reference fixtures for the compute graph (tests/unit/test_nn_reference.c).

Run with Debian's python3 and torch 1.13:  /usr/bin/python3 tests/reference/make_nn_fixtures.py
Each fixture is one JSON file under tests/reference/fixtures/: "tensors" maps a name to
{"shape": [...], "data": [...]} (row-major; ids as integers). Names: inputs as they are, params
as they are, "out:<name>" for forward values, "grad:<name>" for gradients of the loss (dense;
the C test compares sparse table gradients row by row). Values are float32 computations.
"""
import json
import os

import torch
import torch.nn.functional as F

torch.manual_seed(0)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
B = 4


def t2j(t):
    t = t.detach()
    data = t.reshape(-1).tolist()
    if t.dtype.is_floating_point:
        data = [float("%.8g" % v) for v in data]
    return {"shape": list(t.shape), "data": data}


def save(name, tensors):
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        json.dump({"name": name, "tensors": {k: t2j(v) for k, v in tensors.items()}}, f, separators=(",", ":"))


def param(*shape, scale=0.5):
    return (torch.randn(*shape) * scale).requires_grad_()


def table(v, d):
    """An embedding table whose padding row 0 is zero, as nn.Embedding(padding_idx=0) starts."""
    t = torch.randn(v, d) * 0.5
    t[0] = 0
    return t.requires_grad_()


def grads(loss, named):
    loss.backward()
    return {"grad:" + k: v.grad for k, v in named.items()}


def mlp():
    x = torch.randn(B, 6)
    y = torch.tensor([[1.0], [0.0], [1.0], [0.0]])
    w = torch.rand(B, 1) + 0.5
    p = {"w1": param(8, 6), "b1": param(8), "w2": param(1, 8), "b2": param(1)}
    h = F.relu(F.linear(x, p["w1"], p["b1"]))
    logit = F.linear(h, p["w2"], p["b2"])
    loss = F.binary_cross_entropy_with_logits(logit, y, weight=w)
    save("mlp", {"x": x, "y": y, "w": w, **p, "out:logit": logit, "out:loss": loss, **grads(loss, p)})


def dlrm():
    dense = torch.randn(B, 3)
    ids = torch.randint(0, 10, (B, 3))
    ids[0, 1] = 0
    y = torch.tensor([[1.0], [0.0], [0.0], [1.0]])
    p = {"bw": param(4, 3), "bb": param(4), "t0": table(10, 4), "t1": table(10, 4), "t2": table(10, 4),
         "tw": param(1, 4 + 6), "tb": param(1)}
    xd = F.relu(F.linear(dense, p["bw"], p["bb"]))
    embs = [F.embedding(ids[:, k], p["t%d" % k], padding_idx=0) for k in range(3)]
    T = torch.stack([xd] + embs, dim=1)                     # (B, 4, D)
    Z = torch.bmm(T, T.transpose(1, 2))
    li = [i for i in range(4) for j in range(i)]
    lj = [j for i in range(4) for j in range(i)]
    R = torch.cat([xd, Z[:, li, lj]], dim=1)                # DLRM's interact_features
    logit = F.linear(R, p["tw"], p["tb"])
    loss = F.binary_cross_entropy_with_logits(logit, y)
    save("dlrm", {"dense": dense, "ids": ids, "y": y, **p, "out:inter": R, "out:loss": loss, **grads(loss, p)})


def dcn():
    x = torch.randn(B, 5)
    y = torch.randn(B, 1)
    p = {"w0": param(5, 5), "b0": param(5), "u1": param(5, 2), "v1": param(5, 2), "b1": param(5),
         "wo": param(1, 5), "bo": param(1)}
    x1 = x * F.linear(x, p["w0"], p["b0"]) + x
    x2 = x * (F.linear(x1 @ p["v1"], p["u1"]) + p["b1"]) + x1
    pred = F.linear(x2, p["wo"], p["bo"])
    loss = F.mse_loss(pred, y)
    save("dcn", {"x": x, "y": y, **p, "out:x2": x2, "out:loss": loss, **grads(loss, p)})


def fm():
    ids = torch.randint(0, 12, (B, 4))
    ids[2, 3] = 0
    y = torch.tensor([[0.0], [1.0], [1.0], [0.0]])
    p = {"v": table(12, 3), "w": table(12, 1), "bias": param(1)}
    e = F.embedding(ids, p["v"], padding_idx=0)            # (B, F, D)
    first = F.embedding(ids, p["w"], padding_idx=0).squeeze(-1)
    second = 0.5 * (e.sum(1) ** 2 - (e ** 2).sum(1)).sum(1, keepdim=True)
    logit = second + first.sum(1, keepdim=True) + p["bias"]
    loss = F.binary_cross_entropy_with_logits(logit, y)
    save("fm", {"ids": ids, "y": y, **p, "out:logit": logit, "out:loss": loss, **grads(loss, p)})


def experts():
    x = torch.randn(B, 5)
    y = torch.randn(B, 1)
    p = {"e%d.w" % k: param(4, 5) for k in range(3)}
    p.update({"e%d.b" % k: param(4) for k in range(3)})
    p.update({"gw": param(3, 5), "gb": param(3), "ow": param(1, 4), "ob": param(1)})
    ex = torch.stack([F.relu(F.linear(x, p["e%d.w" % k], p["e%d.b" % k])) for k in range(3)], dim=1)
    gate = torch.softmax(F.linear(x, p["gw"], p["gb"]) / 0.5, dim=1)
    mix = (gate.unsqueeze(-1) * ex).sum(1)
    pred = F.linear(mix, p["ow"], p["ob"])
    loss = F.mse_loss(pred, y)
    save("experts", {"x": x, "y": y, **p, "out:mix": mix, "out:loss": loss, **grads(loss, p)})


def ops():
    """Single ops on x (B, 6) with loss = sum(op(x) * probe)."""
    x0 = torch.randn(B, 6)
    probe = torch.randn(B, 6)
    gamma, beta = torch.randn(6), torch.randn(6)
    labels = torch.tensor([2, 5, 1, 0])
    bag_ids = torch.tensor([3, 0, 3, 7, 1, 2, 0, 9])       # bags [3 0 3] [] [7 1] [2 0 9]
    bag_off = torch.tensor([0, 3, 3, 5, 8])
    table = torch.randn(10, 6)
    res = {"x": x0, "probe": probe, "gamma": gamma, "beta": beta, "labels": labels,
           "bag_ids": bag_ids, "bag_off": bag_off, "table": table}
    fns = {
        "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
        "gelu_erf": lambda x: F.gelu(x),
        "selu": F.selu,
        "leaky_relu": lambda x: F.leaky_relu(x, 0.1),
        "softmax": lambda x: torch.softmax(x / 0.7, dim=1),
        "log_softmax": lambda x: torch.log_softmax(x, dim=1),
        "layer_norm": lambda x: F.layer_norm(x, (6,), gamma, beta, 1e-5),
        "batch_norm": lambda x: F.batch_norm(x, torch.zeros(6), torch.ones(6), gamma, beta, True, 0.1, 1e-5),
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
    }
    for name, fn in fns.items():
        x = x0.clone().requires_grad_()
        out = fn(x)
        (out * probe).sum().backward()
        res["out:" + name] = out
        res["grad:" + name] = x.grad
    rm, rv = torch.zeros(6), torch.ones(6)
    F.batch_norm(x0, rm, rv, gamma, beta, True, 0.1, 1e-5)
    res["out:bn_running_mean"], res["out:bn_running_var"] = rm, rv
    x = x0.clone().requires_grad_()
    ce = F.cross_entropy(x, labels, ignore_index=5, label_smoothing=0.1)
    ce.backward()
    res["out:softmax_ce"], res["grad:softmax_ce"] = ce, x.grad
    tb = table.clone().requires_grad_()
    bag = F.embedding_bag(bag_ids, tb, bag_off[:-1], mode="mean", padding_idx=0)
    (bag * probe).sum().backward()
    res["out:bag_mean"], res["grad:bag_mean"] = bag, tb.grad
    save("ops", res)


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    for fn in (mlp, dlrm, dcn, fm, experts, ops):
        fn()
