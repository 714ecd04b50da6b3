#!/usr/bin/python3
"""The PyTorch side of bench/mpi_train.sh: data-parallel training with DistributedDataParallel
(gloo, CPU), one process per rank, launched by the script as `world` python3 processes:

    ddp_torch.py --rank R --world W --init file:///tmp/x --cache DIR --schema SCHEMA.json
                 --model dlrm|wide_n_deep [--batch 4096] [--threads 1]
                 [--seed 1] [--lr 1e-3] [--max-steps 0]

The data, the models and the optimizer settings are bench/peers/train_torch.py's (its `prepare`
cache of .npy arrays; tests/reference/ranking_models.py's models with train_torch's fast lookup
and dots). Each step every rank takes its own --batch rows of one shuffled order (the same
torch.randperm(seed) on every rank, global batch = batch x world, DDP's usual weak scaling), runs
forward and backward, and DDP averages the gradients with gloo allreduce in buckets (25 MB),
started during backward. Tables are looked up as nn.Embedding's default (sparse=False): a
table's gradient is a dense tensor of the whole table, allreduced every step like any parameter
(DDP's ordinary use); Adam for everything. (Sparse gradients need DDP to see nn.Embedding
modules with sparse=True; ranking_models keeps its tables as parameters, so DDP would bucket
them as dense and refuse the sparse gradient: not run here.)

Bytes each rank sends per step, computed (gloo counts nothing for us), per the algorithm gloo runs
for dense buckets: ring allreduce, 2 (W-1)/W x 4 bytes x the elements of every parameter.

Prints, from rank 0: "ddp model=... tables=dense world=... batch=... threads=... samples_per_s=...
step_ms=... bytes_per_step=... dense_param_bytes=... table_param_bytes=... steps=...".
samples_per_s is the global rows trained / the slowest rank's epoch time (after a barrier).
"""
import argparse
import os
import sys
import time

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import train_torch as tt  # noqa: E402

rm = tt.rm


def dense_lookup(self, name, ids):
    """ranking_models' lookup with a dense gradient (nn.Embedding's default)."""
    return F.embedding(ids, self.param(name), padding_idx=0)


class Step(torch.nn.Module):
    """forward + the loss as one module, so DDP sees the whole graph (the L2 term included)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, cat, cont, y):
        logit = self.model(cat, cont)
        total, _ = rm.loss(self.model, logit, y)
        return total


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rank", type=int, required=True)
    p.add_argument("--world", type=int, required=True)
    p.add_argument("--init", required=True, help="file:///path or tcp://127.0.0.1:port")
    p.add_argument("--cache", required=True)
    p.add_argument("--schema", required=True)
    p.add_argument("--model", default="dlrm", choices=rm.KINDS)
    p.add_argument("--batch", type=int, default=4096, help="rows per rank per step")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (0: one epoch)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    dist.init_process_group("gloo", init_method=a.init, rank=a.rank, world_size=a.world)

    schema = tt.read_schema(a.schema)
    load = lambda n: torch.from_numpy(np.load(os.path.join(a.cache, n)))  # noqa: E731
    tr_cat, tr_y = load("train_cat.npy"), load("train_label.npy")
    tr_cont = load("train_cont.npy") if schema["continuous"] else None
    if a.model == "wide_n_deep":
        tt.check_hash()
    rm.hash_cross_ids = tt.hash_cross_ids_np
    rm.RankingModel._lookup = dense_lookup
    rm.RankingModel.forward = tt._forward

    torch.manual_seed(a.seed)   # the same initial weights on every rank (DDP also broadcasts rank 0's)
    model = rm.build(a.model, schema, {})
    params, table_elems = [], 0
    with torch.no_grad():
        for name, t in model.reckon_parameters():
            if model.is_sparse(name):
                t[0].zero_()
                table_elems += t.numel()
            params.append(t)
    ddp = DDP(Step(model), bucket_cap_mb=25)
    opt = torch.optim.Adam(params, lr=a.lr, betas=(0.9, 0.999), eps=1e-7)

    W, B = a.world, a.batch
    N = tr_cat.shape[0]
    gen = torch.Generator().manual_seed(a.seed)
    dist.barrier()
    t0 = time.perf_counter()
    perm = torch.randperm(N, generator=gen)
    steps, rows = 0, 0
    for s in range(0, N - W * B + 1, W * B):   # full global batches only: every rank steps together
        idx = perm[s + a.rank * B: s + (a.rank + 1) * B]
        cat, y = tr_cat[idx], tr_y[idx].unsqueeze(1)
        cont = tr_cont[idx] if tr_cont is not None else None
        total = ddp(cat, cont, y)
        total.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        steps += 1
        rows += W * B
        if a.max_steps and steps >= a.max_steps:
            break
    dist.barrier()
    train_s = time.perf_counter() - t0

    elems = sum(t.numel() for t in params)
    sent = 2.0 * (W - 1) / W * 4 * elems
    if a.rank == 0:
        print("ddp model=%s tables=dense world=%d batch=%d threads=%d samples_per_s=%.1f step_ms=%.2f bytes_per_step=%.0f "
              "dense_param_bytes=%d table_param_bytes=%d steps=%d" % (
                  a.model, W, B, a.threads, rows / train_s, 1000.0 * train_s / max(steps, 1), sent,
                  4 * (elems - table_elems), 4 * table_elems, steps))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
