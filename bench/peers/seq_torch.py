#!/usr/bin/python3
"""The PyTorch side of bench/seq.sh: forward + backward of one GPT-2 block (tests/reference/seq_blocks.py,
the block the reference fixtures check reckon's against) or one torch.nn.GRU layer (d -> d, full
sessions, not packed), as bench/seq_bench.c times reckon's.

    seq_torch.py [--block gpt2|gru] [--d 64,256] [--batch 64] [--T 20] [--threads 1] [--time 2] [--dropout 0.1]

Heads 4 below d 256, 8 from it; causal attention with the key-padding mask, every session full;
loss = out.mean(); a step is zero_grad + forward + backward. Prints the best of 3 rounds.
"""
import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "reference"))
import seq_blocks as sb  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--block", default="gpt2", choices=["gpt2", "gru"])
    ap.add_argument("--d", default="64,256")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--T", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--time", type=float, default=2.0)
    ap.add_argument("--dropout", type=float, default=0.1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    for d in (int(v) for v in a.d.split(",")):
        heads = 8 if d >= 256 else 4
        x = torch.randn(a.batch, a.T, d)
        mask = torch.ones(a.batch, a.T, dtype=torch.bool)
        if a.block == "gru":
            heads, blk = 0, torch.nn.GRU(d, d, batch_first=True)
            run = lambda: blk(x)[0]  # noqa: E731
        else:
            blk = sb.GPT2Block(d, heads, ln_eps=1e-5, dropout=a.dropout, attn_dropout=a.dropout).train()
            run = lambda: blk(x, mask)  # noqa: E731

        def step():
            blk.zero_grad(set_to_none=True)
            run().mean().backward()

        for _ in range(3):
            step()
        best = 1e30
        for _ in range(3):
            n, t0 = 0, time.perf_counter()
            while True:
                step()
                n += 1
                if time.perf_counter() - t0 >= a.time / 3:
                    break
            best = min(best, (time.perf_counter() - t0) / n)
        print("torch %s B=%d T=%d d=%d heads=%d threads=%d ms_per_step=%.3f" %
              ("gru" if a.block == "gru" else "gpt2_block", a.batch, a.T, d, heads, a.threads, best * 1e3))


if __name__ == "__main__":
    main()
