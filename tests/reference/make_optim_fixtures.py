#!/usr/bin/python3
"""Write PyTorch reference trajectories for reckon's optimizers (tests/unit/test_optim_reference.c).

Run with Debian's python3 and torch 1.13:  /usr/bin/python3 tests/reference/make_optim_fixtures.py
Each fixture file holds records, one a line: `<tag> <count> <values...>`. Tags:
  cfg.<name>            optimizer settings (cfg.lr.<group>, cfg.wd.<group>, cfg.momentum, ...)
  p<i>.shape, p<i>.sparse, p<i>.group, p<i>.init       parameter i before any step
  p<i>.grad.<s>         the gradient given at step s (1-based); dense: the value's shape,
                        sparse: compact rows (coalesced: unique, ascending) of D floats
  p<i>.rows.<s>         sparse: the table rows of those compact rows
  p<i>.value.<s>        the value after step s
Values are float32 written with 9 significant digits, so they read back exactly.
"""
import os
import sys

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "optim")
STEPS = 8


def fmt(values):
    values = [float(v) for v in values]
    return "%d %s" % (len(values), " ".join("%.9g" % v for v in values))


class Writer:
    def __init__(self, name, comment):
        self.name = name
        self.lines = ["# %s: %s (torch %s, written by tests/reference/make_optim_fixtures.py)"
                      % (name, comment, torch.__version__)]

    def rec(self, tag, values):
        self.lines.append("%s %s" % (tag, fmt(values)))

    def close(self):
        with open(os.path.join(OUT, self.name + ".txt"), "w") as f:
            f.write("\n".join(self.lines) + "\n")


def dense_case(name, comment, make_opt, cfg, group_of, gen):
    """Two dense params W (4, 3) and b (3,), given random gradients each step."""
    W = torch.nn.Parameter(torch.randn(4, 3, generator=gen))
    b = torch.nn.Parameter(torch.randn(3, generator=gen))
    params = [W, b]
    opt = make_opt(params)
    w = Writer(name, comment)
    for k, v in cfg.items():
        w.rec("cfg." + k, [v])
    w.rec("cfg.steps", [STEPS])
    w.rec("cfg.nparams", [len(params)])
    for i, p in enumerate(params):
        w.rec("p%d.shape" % i, list(p.shape))
        w.rec("p%d.sparse" % i, [0])
        w.rec("p%d.group" % i, [group_of[i]])
        w.rec("p%d.init" % i, p.detach().flatten().tolist())
    for s in range(1, STEPS + 1):
        for i, p in enumerate(params):
            p.grad = torch.randn(p.shape, generator=gen)
            w.rec("p%d.grad.%d" % (i, s), p.grad.flatten().tolist())
        opt.step()
        for i, p in enumerate(params):
            w.rec("p%d.value.%d" % (i, s), p.detach().flatten().tolist())
    w.close()


def sparse_case(name, comment, make_opt, cfg, gen):
    """An Embedding(12, 4, sparse=True) table; each step looks up 6 ids (repeats included), so
    the gradient is a real sparse backward, coalesced the way the optimizers coalesce it."""
    V, D, B = 12, 4, 6
    emb = torch.nn.Embedding(V, D, sparse=True)
    with torch.no_grad():
        emb.weight.copy_(torch.randn(V, D, generator=gen))
    opt = make_opt([emb.weight])
    w = Writer(name, comment)
    for k, v in cfg.items():
        w.rec("cfg." + k, [v])
    w.rec("cfg.steps", [STEPS])
    w.rec("cfg.nparams", [1])
    w.rec("p0.shape", [V, D])
    w.rec("p0.sparse", [1])
    w.rec("p0.group", [0])
    w.rec("p0.init", emb.weight.detach().flatten().tolist())
    for s in range(1, STEPS + 1):
        opt.zero_grad(set_to_none=True)
        ids = torch.randint(0, V, (B,), generator=gen)
        ids[1] = ids[0]                                  # always at least one repeated id
        coef = torch.randn(B, D, generator=gen)
        (emb(ids) * coef).sum().backward()
        g = emb.weight.grad.coalesce()
        w.rec("p0.rows.%d" % s, g.indices()[0].tolist())
        w.rec("p0.grad.%d" % s, g.values().flatten().tolist())
        opt.step()
        w.rec("p0.value.%d" % s, emb.weight.detach().flatten().tolist())
    w.close()


def main():
    if not torch.__version__.startswith("1.13"):
        print("warning: fixtures were made with torch 1.13, this is %s" % torch.__version__, file=sys.stderr)
    os.makedirs(OUT, exist_ok=True)
    torch.set_default_dtype(torch.float32)
    gen = torch.Generator().manual_seed(20240601)
    groups = [0, 1]

    for nesterov in (False, True):
        dense_case("sgd_nesterov" if nesterov else "sgd_momentum",
                   "torch.optim.SGD, momentum 0.9%s, two groups" % (", nesterov" if nesterov else ""),
                   lambda ps: torch.optim.SGD([{"params": [ps[0]], "lr": 0.05, "weight_decay": 0.01},
                                               {"params": [ps[1]], "lr": 0.1}],
                                              lr=0.05, momentum=0.9, nesterov=nesterov),
                   {"lr.0": 0.05, "wd.0": 0.01, "lr.1": 0.1, "wd.1": 0.0, "momentum": 0.9,
                    "nesterov": int(nesterov)}, groups, gen)
    dense_case("adam", "torch.optim.Adam, L2 weight_decay in group 1",
               lambda ps: torch.optim.Adam([{"params": [ps[0]], "lr": 0.01},
                                            {"params": [ps[1]], "lr": 0.02, "weight_decay": 0.1}],
                                           betas=(0.9, 0.999), eps=1e-3),
               {"lr.0": 0.01, "wd.0": 0.0, "lr.1": 0.02, "wd.1": 0.1, "beta1": 0.9, "beta2": 0.999,
                "eps": 1e-3}, groups, gen)
    dense_case("adamw", "torch.optim.AdamW, decoupled weight decay per group",
               lambda ps: torch.optim.AdamW([{"params": [ps[0]], "lr": 0.01, "weight_decay": 0.1},
                                             {"params": [ps[1]], "lr": 0.02, "weight_decay": 0.0}],
                                            betas=(0.9, 0.999), eps=1e-3),
               {"lr.0": 0.01, "wd.0": 0.1, "lr.1": 0.02, "wd.1": 0.0, "beta1": 0.9, "beta2": 0.999,
                "eps": 1e-3}, groups, gen)
    dense_case("adagrad", "torch.optim.Adagrad, initial_accumulator_value 0.1 (Keras' value)",
               lambda ps: torch.optim.Adagrad([{"params": [ps[0]], "lr": 0.1, "weight_decay": 0.01},
                                               {"params": [ps[1]], "lr": 0.05}],
                                              initial_accumulator_value=0.1, eps=1e-10),
               {"lr.0": 0.1, "wd.0": 0.01, "lr.1": 0.05, "wd.1": 0.0, "init_acc": 0.1, "eps": 1e-10},
               groups, gen)
    sparse_case("sparse_adam", "torch.optim.SparseAdam on Embedding(12, 4, sparse=True)",
                lambda ps: torch.optim.SparseAdam(ps, lr=0.01, betas=(0.9, 0.999), eps=1e-3),
                {"lr.0": 0.01, "wd.0": 0.0, "beta1": 0.9, "beta2": 0.999, "eps": 1e-3}, gen)
    sparse_case("sparse_adagrad", "torch.optim.Adagrad on Embedding(12, 4, sparse=True)",
                lambda ps: torch.optim.Adagrad(ps, lr=0.1, initial_accumulator_value=0.1, eps=1e-10),
                {"lr.0": 0.1, "wd.0": 0.0, "init_acc": 0.1, "eps": 1e-10}, gen)


if __name__ == "__main__":
    main()
