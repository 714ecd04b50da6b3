#!/usr/bin/python3
"""Write PyTorch reference trajectories for Hugging Face's AdamW and learning-rate schedules
(tests/unit/test_optim_adamw.c and test_optim_schedule_warmup.c read them).

Run with Debian's python3 and torch 1.13:  /usr/bin/python3 tests/reference/make_adamw_fixtures.py
HuggingFace transformers is not installed here, so its pieces are written out below from their
published definitions (transformers 4.x, optimization.py: AdamW with correct_bias, and
get_{constant,linear,cosine}_schedule_with_warmup), and driven the way recsys_main.py's trainer
drives them: two parameter groups (weight decay for all but names containing "bias" or
"LayerNorm.weight"), torch.nn.utils.clip_grad_norm_ before each step, LambdaLR after it.
torch.optim.AdamW runs one case too: it decays before the step and puts epsilon elsewhere.

Output: tests/reference/fixtures/adamw.json
  cases[]: name, optimizer ("transformers" | "torch"), lr, weight_decay, betas, eps,
           schedule {name, warmup, total, cycles}, max_grad_norm (0: none),
           params[] {name, shape, init}, steps[] {factor, grads[], values[]}
  schedules[]: name, warmup, total, cycles, factors (LambdaLR's factor at steps 0..total)
Floats are float32 values (or float64 for factors) written with repr: they read back exactly.
"""
import json
import math
import os
import sys

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "adamw.json")


class TransformersAdamW(torch.optim.Optimizer):
    """transformers.AdamW (4.x) step, correct_bias=True."""

    def __init__(self, params, lr, betas, eps, weight_decay):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            b1, b2 = group["betas"]
            for p in group["params"]:
                st = self.state[p]
                if not st:
                    st["step"] = 0
                    st["m"] = torch.zeros_like(p)
                    st["v"] = torch.zeros_like(p)
                st["step"] += 1
                g = p.grad
                st["m"].mul_(b1).add_(g, alpha=1.0 - b1)
                st["v"].mul_(b2).addcmul_(g, g, value=1.0 - b2)
                denom = st["v"].sqrt().add_(group["eps"])
                size = group["lr"] * math.sqrt(1.0 - b2 ** st["step"]) / (1.0 - b1 ** st["step"])
                p.addcdiv_(st["m"], denom, value=-size)
                if group["weight_decay"] > 0.0:
                    p.add_(p, alpha=-group["lr"] * group["weight_decay"])


def schedule_lambda(name, warmup, total, cycles):
    def warm(s):
        return float(s) / float(max(1, warmup))

    if name == "constant_with_warmup":
        return lambda s: warm(s) if s < warmup else 1.0
    if name == "linear_with_warmup":
        return lambda s: warm(s) if s < warmup else max(0.0, float(total - s) / float(max(1, total - warmup)))
    if name == "cosine_with_warmup":
        def f(s):
            if s < warmup:
                return warm(s)
            progress = float(s - warmup) / float(max(1, total - warmup))
            return max(0.0, 0.5 * (1.0 + math.cos(math.pi * float(cycles) * 2.0 * progress)))
        return f
    raise ValueError(name)


def no_decay(name):
    return any(nd in name for nd in ["bias", "LayerNorm.weight"])


def floats(t):
    return [float(v) for v in t.detach().flatten().tolist()]


def run_case(name, optimizer, sched, max_grad_norm, gen, lr=0.01, wd=0.1, betas=(0.9, 0.999), eps=1e-3):
    shapes = [("body.layer.weight", (4, 3)), ("body.layer.bias", (3,)), ("body.LayerNorm.weight", (3,)),
              ("item_embeddings.weight", (6, 3))]
    params = [(n, torch.nn.Parameter(torch.randn(s, generator=gen))) for n, s in shapes]
    groups = [{"params": [p for n, p in params if not no_decay(n)], "weight_decay": wd},
              {"params": [p for n, p in params if no_decay(n)], "weight_decay": 0.0}]
    if optimizer == "transformers":
        opt = TransformersAdamW(groups, lr=lr, betas=betas, eps=eps, weight_decay=wd)
    else:
        opt = torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps)
    lam = schedule_lambda(sched["name"], sched["warmup"], sched["total"], sched["cycles"])
    lr_sched = torch.optim.lr_scheduler.LambdaLR(opt, lam)
    case = {"name": name, "optimizer": optimizer, "lr": lr, "weight_decay": wd, "betas": list(betas), "eps": eps,
            "schedule": sched, "max_grad_norm": max_grad_norm,
            "params": [{"name": n, "shape": list(p.shape), "init": floats(p)} for n, p in params], "steps": []}
    for s in range(sched["total"]):
        for _, p in params:
            p.grad = 2.0 * torch.randn(p.shape, generator=gen)
        grads = [floats(p.grad) for _, p in params]
        if max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_([p for _, p in params], max_grad_norm)
        factor = lam(s)
        opt.step()
        lr_sched.step()
        case["steps"].append({"factor": factor, "grads": grads, "values": [floats(p) for _, p in params]})
    return case


def main():
    if not torch.__version__.startswith("1.13"):
        print("warning: fixtures were made with torch 1.13, this is %s" % torch.__version__, file=sys.stderr)
    torch.set_default_dtype(torch.float32)
    gen = torch.Generator().manual_seed(20261205)
    cosine = {"name": "cosine_with_warmup", "warmup": 1, "total": 3, "cycles": 1.25 * 2}
    cases = [
        run_case("transformers_constant", "transformers",
                 {"name": "constant_with_warmup", "warmup": 2, "total": 3, "cycles": 0.0}, 0.0, gen),
        run_case("transformers_linear_clipped", "transformers",
                 {"name": "linear_with_warmup", "warmup": 1, "total": 3, "cycles": 0.0}, 1.0, gen),
        run_case("transformers_cosine", "transformers", cosine, 0.0, gen),
        run_case("torch_cosine", "torch", cosine, 0.0, gen),
    ]
    schedules = []
    for name, warmup, total, cycles in [("constant_with_warmup", 0, 10, 0.0), ("constant_with_warmup", 4, 10, 0.0),
                                        ("linear_with_warmup", 0, 10, 0.0), ("linear_with_warmup", 3, 17, 0.0),
                                        ("cosine_with_warmup", 0, 20, 0.5), ("cosine_with_warmup", 3, 40, 1.25),
                                        ("cosine_with_warmup", 5, 45, 1.25 * 3)]:
        lam = schedule_lambda(name, warmup, total, cycles)
        schedules.append({"name": name, "warmup": warmup, "total": total, "cycles": cycles,
                          "factors": [lam(s) for s in range(total + 1)]})
    doc = {"comment": "written by tests/reference/make_adamw_fixtures.py with torch %s" % torch.__version__,
           "cases": cases, "schedules": schedules}
    with open(OUT, "w") as f:
        json.dump(doc, f, indent=None, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
