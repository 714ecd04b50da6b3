#!/usr/bin/python3
"""The PyTorch side of bench/nn.sh: the same models, ids and update as bench/nn_bench.c.

    nn_torch.py --model a|b|c|d10m|d10k --batch 1024,4096 --threads N --ids-dir DIR
                [--steps S] [--time T] [--warmup W]

Reads DIR/nn_<model>_<batch>.bin written by nn_bench (the same pool of Zipf-like ids and labels;
format in nn_bench.c, write_pool). Tables are nn.Embedding / nn.EmbeddingBag(mode="mean") with
sparse=True; the update is inline plain SGD (p.add_(p.grad, alpha=-lr), what torch.optim.SGD does
without momentum, for dense and sparse gradients alike), then grads are set to None.
Prints one line per batch: "torch model=... samples_per_s=...".
"""
import argparse
import resource
import sys
import time

import numpy as np
import torch
import torch.nn as nn

LR = 0.05
ROUNDS = 3


def spec(name):
    if name in ("a", "d10m", "d10k"):
        s = dict(V=[1000000, 500000, 100000, 1000], D=[32, 16, 16, 8], bag=(50000, 8), dense=0, hidden=[64, 32])
        if name != "a":
            s["V"][0], s["D"][0] = (10000000 if name == "d10m" else 10000), 64
        return s
    if name == "b":
        return dict(V=[1000000] * 26, D=[16] * 26, bag=None, dense=0, hidden=[512, 256, 128])
    if name == "c":
        return dict(V=[], D=[], bag=None, dense=1024, hidden=[1024, 1024, 1024])
    raise SystemExit(f"nn_torch.py: unknown model {name}")


class Model(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.tables = nn.ModuleList(nn.Embedding(v, d, sparse=True) for v, d in zip(s["V"], s["D"]))
        self.bag = nn.EmbeddingBag(s["bag"][0], s["bag"][1], mode="mean", sparse=True,
                                   include_last_offset=True) if s["bag"] else None
        for t in list(self.tables) + ([self.bag] if self.bag else []):
            nn.init.uniform_(t.weight, -0.05, 0.05)
        width = s["dense"] + sum(s["D"]) + (s["bag"][1] if s["bag"] else 0)
        layers = []
        for h in s["hidden"]:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, 1))
        self.mlp = nn.Sequential(*layers)

    def forward(self, ids, offsets, bag, dense):
        parts = [t(ids[:, f]) for f, t in enumerate(self.tables)]
        if self.bag is not None:
            parts.append(self.bag(bag, offsets))
        if dense is not None:
            parts.append(dense)
        x = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
        return self.mlp(x)


def read_pool(path, n_fields):
    raw = np.fromfile(path, dtype=np.uint8)
    hdr = raw[:40].view(np.int64)
    assert hdr[0] == 0x3153444e4e4b52, path
    pool, B, F, has_bag = (int(v) for v in hdr[1:])
    assert F == n_fields, (F, n_fields)
    pos = 40
    out = []

    def take(n, dt):
        nonlocal pos
        nbytes = n * np.dtype(dt).itemsize
        a = raw[pos:pos + nbytes].view(dt)
        pos += nbytes
        return torch.from_numpy(a.copy())

    for _ in range(pool):
        ids = take(B * F, np.int64).view(B, F) if F else None
        offsets = bag = None
        if has_bag:
            offsets = take(B + 1, np.int64)
            bag = take(int(offsets[-1]), np.int64)
        labels = take(B, np.float32).view(B, 1)
        out.append((ids, offsets, bag, labels))
    assert pos == raw.size, path
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="a")
    ap.add_argument("--batch", default="1024,4096")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--ids-dir", required=True)
    ap.add_argument("--steps", type=int, default=0)
    ap.add_argument("--time", type=float, default=2.0)
    ap.add_argument("--warmup", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    s = spec(a.model)
    t0 = time.perf_counter()
    model = Model(s)
    init_s = time.perf_counter() - t0
    params = list(model.parameters())
    loss_fn = nn.BCEWithLogitsLoss()
    for B in (int(b) for b in a.batch.split(",")):
        pool = read_pool(f"{a.ids_dir}/nn_{a.model}_{B}.bin", len(s["V"]))
        dense = None
        if s["dense"]:   # the same integer formula as nn_bench.c
            i = np.arange(B * s["dense"], dtype=np.int64)
            dense = torch.from_numpy(((i * 2654435761) % 2001).astype(np.float32) / 1000.0 - 1.0).view(B, s["dense"])

        def step(k):
            ids, offsets, bag, labels = pool[k % len(pool)]
            loss = loss_fn(model(ids, offsets, bag, dense), labels)
            loss.backward()
            with torch.no_grad():
                for p in params:
                    p.add_(p.grad, alpha=-LR)
                    p.grad = None
            return float(loss)

        k = 0
        loss0 = loss = 0.0
        for i in range(a.warmup):
            v = step(k)
            k += 1
            loss0 = v if i == 0 else loss0
        # ROUNDS rounds of --steps / ROUNDS steps, else of --time / ROUNDS seconds (at least one
        # step); the best round's rate is the figure, as in nn_bench.c
        n, secs, best = 0, 0.0, 0.0
        for _ in range(ROUNDS):
            nr, sr = 0, 0.0
            t1 = time.perf_counter()
            while (nr < -(-a.steps // ROUNDS)) if a.steps > 0 else (nr < 1 or sr < a.time / ROUNDS):
                loss = step(k)
                k += 1
                nr += 1
                sr = time.perf_counter() - t1
            n, secs, best = n + nr, secs + sr, max(best, nr * B / sr)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        print(f"torch model={a.model} batch={B} threads={a.threads} steps={n} secs={secs:.4f} "
              f"samples_per_s={best:.0f} mean_samples_per_s={n * B / secs:.0f} loss_first={loss0:.4f} loss_last={loss:.4f} "
              f"init_s={init_s:.2f} peak_rss_mb={rss}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
