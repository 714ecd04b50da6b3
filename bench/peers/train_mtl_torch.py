#!/usr/bin/python3
"""The PyTorch side of bench/train_mtl.sh: `reckon train` on several tasks, in PyTorch, with the
models of tests/reference/multitask_models.py (shared-bottom mlp, mmoe, cgc, ple; written
independently from src/models/ranking.c).

    train_mtl_torch.py prepare --csv-dir DIR --schema SCHEMA.json --tasks click,like,follow,share
                               --space ,click,click,click --cache DIR
    train_mtl_torch.py train --cache DIR --schema SCHEMA.json --model M --threads N --seed S
                             [--batch 4096] [--eval-batch 65536] [--lr 1e-3] [--loss-weights 4,2,3,1]
                             [--experts 3] [--expert-layers 128] [--gate-dim 32] [--tower-layers 64]
                             [--embedding-sizes-multiplier 4] [--l2-reg 1e-5] [--embeddings-l2-reg 1e-6]
                             [--dropout 0.05]

prepare: reads DIR/train/*.csv and DIR/eval/*.csv (`reckon convert` of the Parquet parts) with
pandas' C parser into .npy arrays under --cache: the ids (int64, the schema's categorical order),
the labels (float32, one column per task) and, for the eval rows, the true probabilities p_<task>
(float64); tasks.json holds the tasks in reckon's order (binary targets in schema order, as
`reckon train` orders them whatever the order of --tasks) with their sample spaces. Prints, per
task, "ceiling task=T auc=... rows=...": the AUC of the true probability on the task's eval rows
(the rows where its space column is 1; p_<task> / p_<space> there: the probability given the
space), as `reckon train` reports a task's auc under a sample space (no class weights).

train: one epoch as `reckon train --tasks ... --tasks_sample_space ... --model M --lr LR
--lr_decay_rate 0 --train_batch_size B --epochs 1 --random_seed S` with the quick-start's MMoE
flags, then the per-task eval AUC. As bench/peers/train_torch.py: float32, every row pre-loaded as
tensors, torch.set_num_threads(N), tables by F.embedding(sparse=True, padding_idx=0, row 0 zeroed)
and torch.optim.SparseAdam, dense parameters by torch.optim.Adam (0.9/0.999, eps 1e-7), one
shuffle per epoch (torch.randperm with the seed), the last short batch kept. Dropout after every
MLP, expert and tower layer in train mode (multitask_models' _run_mlp; none in the gates), as
reckon. Loss: sum over tasks of loss weight x BCE-with-logits weighted by the task's space mask,
summed over the batch and divided by the batch size, plus the L2 terms (multitask_models). Timed:
the epoch (shuffle, slicing, forward, loss, backward, optimizer steps), not loading or evaluation.

Prints "torch model=... batch=... threads=... seed=... samples_per_s=... train_s=... auc_<task>=...".
"""
import argparse
import glob
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "..", "tests", "reference"))
sys.path.insert(0, here)
import ranking_models as rm  # noqa: E402
import multitask_models as mtl  # noqa: E402
from train_torch import auc, read_schema, _lookup  # noqa: E402


def task_order(schema_path, tasks, spaces):
    """reckon's task order: binary targets, then regression ones, each in schema order."""
    s = json.load(open(schema_path))
    want = dict(zip(tasks, spaces))
    binary, regression = [], []
    for f in s["feature"]:
        tags = f.get("annotation", {}).get("tag", [])
        if "target" in tags and f["name"] in want:
            (regression if "regression" in tags else binary).append(f["name"])
    if any(t in regression for t in tasks):
        raise SystemExit("train_mtl_torch.py: only binary tasks are supported")
    missing = [t for t in tasks if t not in binary]
    if missing:
        raise SystemExit("train_mtl_torch.py: not a target of the schema: %s" % ",".join(missing))
    return [{"name": t, "space": want[t]} for t in binary]


# ---- prepare ----

def prepare(a):
    import pandas as pd
    schema = read_schema(a.schema)
    names = [c["name"] for c in schema["categorical"]]
    tasks = a.tasks.split(",")
    spaces = a.space.split(",") if a.space is not None else [""] * len(tasks)
    if len(spaces) != len(tasks):
        raise SystemExit("train_mtl_torch.py: --space needs one item per task")
    order = task_order(a.schema, tasks, spaces)
    tnames = [t["name"] for t in order]
    os.makedirs(a.cache, exist_ok=True)
    json.dump({"tasks": order}, open(os.path.join(a.cache, "tasks.json"), "w"))
    for split in ("train", "eval"):
        files = sorted(glob.glob(os.path.join(a.csv_dir, split, "*.csv")))
        if not files:
            raise SystemExit("train_mtl_torch.py: no CSV under %s/%s" % (a.csv_dir, split))
        df = pd.concat([pd.read_csv(f, engine="c") for f in files], ignore_index=True)
        np.save(os.path.join(a.cache, split + "_cat.npy"), df[names].to_numpy(dtype=np.int64))
        if schema["continuous"]:
            np.save(os.path.join(a.cache, split + "_cont.npy"), df[schema["continuous"]].to_numpy(dtype=np.float32))
        np.save(os.path.join(a.cache, split + "_labels.npy"), df[tnames].to_numpy(dtype=np.float32))
        spcols = sorted({t["space"] for t in order if t["space"]})
        if spcols:
            np.save(os.path.join(a.cache, split + "_space.npy"), df[spcols].to_numpy(dtype=np.float32))
            json.dump(spcols, open(os.path.join(a.cache, "space_columns.json"), "w"))
        if split == "eval":
            for t in order:
                truth = df["p_" + t["name"]].to_numpy(dtype=np.float64)
                y = df[t["name"]].to_numpy()
                if t["space"]:
                    keep = df[t["space"]].to_numpy() == 1
                    truth = truth[keep] / df["p_" + t["space"]].to_numpy(dtype=np.float64)[keep]
                    y = y[keep]
                print("ceiling task=%s auc=%.6f rows=%d positives=%d" % (t["name"], auc(truth, y), len(y), int(y.sum())))
        else:
            print("train rows=%d" % len(df))


# ---- train ----

def train(a):
    torch.set_num_threads(a.threads)
    schema = read_schema(a.schema)
    order = json.load(open(os.path.join(a.cache, "tasks.json")))["tasks"]
    tnames = [t["name"] for t in order]
    lw = dict(zip(a.tasks.split(","), (float(x) for x in a.loss_weights.split(","))))
    weights = [lw.get(t, 1.0) for t in tnames]
    load = lambda n: torch.from_numpy(np.load(os.path.join(a.cache, n)))  # noqa: E731
    tr_cat, tr_y = load("train_cat.npy"), load("train_labels.npy")
    ev_cat, ev_y = load("eval_cat.npy"), load("eval_labels.npy")
    tr_cont = ev_cont = None
    if schema["continuous"]:
        tr_cont, ev_cont = load("train_cont.npy"), load("eval_cont.npy")
    # the space masks: column k of tr_mask is task k's (all ones without a space)
    spcols = []
    if any(t["space"] for t in order):
        spcols = json.load(open(os.path.join(a.cache, "space_columns.json")))
        tr_sp, ev_sp = load("train_space.npy"), load("eval_space.npy")
    ones_tr, ones_ev = torch.ones(tr_cat.shape[0]), torch.ones(ev_cat.shape[0])
    tr_mask = torch.stack([tr_sp[:, spcols.index(t["space"])] if t["space"] else ones_tr for t in order], 1)
    ev_mask = torch.stack([ev_sp[:, spcols.index(t["space"])] if t["space"] else ones_ev for t in order], 1)
    # example weight = loss weight x space mask (sum_i w_i l_i / B per task, as reckon / Keras)
    tr_w = (tr_mask * torch.tensor(weights)).contiguous()

    rm.RankingModel._lookup = _lookup
    schema["tasks"] = [{"name": t, "regression": False} for t in tnames]
    cfg = {
        "mlp_layers": [int(x) for x in a.mlp_layers.split(",")],
        "dropout": a.dropout,
        "embedding_sizes_multiplier": a.embedding_sizes_multiplier,
        "l2_reg": a.l2_reg,
        "embeddings_l2_reg": a.embeddings_l2_reg,
        "mmoe_experts": a.experts,
        "expert_layers": [int(x) for x in a.expert_layers.split(",")],
        "gate_dim": a.gate_dim,
        "tower_layers": [int(x) for x in a.tower_layers.split(",")],
        "use_task_towers": True,
        "cgc_task_experts": a.cgc_task_experts,
        "cgc_shared_experts": a.cgc_shared_experts,
        "ple_layers": a.ple_layers,
    }
    torch.manual_seed(a.seed)
    model = mtl.build(a.model, schema, cfg)
    sparse, dense = [], []
    with torch.no_grad():
        for name, p in model.reckon_parameters():
            if model.is_sparse(name):
                p[0].zero_()
                sparse.append(p)
            else:
                dense.append(p)
    opt_sparse = torch.optim.SparseAdam(sparse, lr=a.lr, betas=(0.9, 0.999), eps=1e-7)
    opt_dense = torch.optim.Adam(dense, lr=a.lr, betas=(0.9, 0.999), eps=1e-7)
    model.train()
    N, B, K = tr_cat.shape[0], a.batch, len(tnames)
    gen = torch.Generator().manual_seed(a.seed)

    t0 = time.perf_counter()
    perm = torch.randperm(N, generator=gen)
    cat, y, w = tr_cat[perm], tr_y[perm], tr_w[perm]
    cont = tr_cont[perm] if tr_cont is not None else None
    steps = 0
    for s in range(0, N, B):
        logits = model(cat[s:s + B], cont[s:s + B] if cont is not None else None)
        yb, wb = y[s:s + B], w[s:s + B]
        total = model.regularization()
        for k in range(K):
            total = total + F.binary_cross_entropy_with_logits(logits[k][:, 0], yb[:, k], weight=wb[:, k],
                                                               reduction="mean")
        total.backward()
        opt_dense.step()
        opt_sparse.step()
        opt_dense.zero_grad(set_to_none=True)
        opt_sparse.zero_grad(set_to_none=True)
        steps += 1
    train_s = time.perf_counter() - t0
    final_loss = float(total)

    model.eval()
    probs = [[] for _ in range(K)]
    with torch.no_grad():
        for s in range(0, ev_cat.shape[0], a.eval_batch):
            zs = model(ev_cat[s:s + a.eval_batch], ev_cont[s:s + a.eval_batch] if ev_cont is not None else None)
            for k in range(K):
                probs[k].append(torch.sigmoid(zs[k]).reshape(-1).numpy())
    aucs = []
    for k, t in enumerate(tnames):
        p = np.concatenate(probs[k])
        keep = ev_mask[:, k].numpy() == 1
        aucs.append("auc_%s=%.6f" % (t, auc(p[keep], ev_y[:, k].numpy()[keep])))
    print("torch model=%s batch=%d threads=%d seed=%d samples_per_s=%.1f train_s=%.3f steps=%d samples=%d "
          "final_loss=%.5f %s" % (a.model, B, a.threads, a.seed, N / train_s, train_s, steps, N, final_loss,
                                  " ".join(aucs)))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("prepare")
    q.add_argument("--csv-dir", required=True)
    q.add_argument("--schema", required=True)
    q.add_argument("--tasks", default="click,like,follow,share")
    q.add_argument("--space", default=",click,click,click", help="per task (in --tasks order), its space column")
    q.add_argument("--cache", required=True)
    t = sub.add_parser("train")
    t.add_argument("--cache", required=True)
    t.add_argument("--schema", required=True)
    t.add_argument("--model", required=True, choices=mtl.KINDS)
    t.add_argument("--threads", type=int, default=1)
    t.add_argument("--seed", type=int, default=1)
    t.add_argument("--batch", type=int, default=4096)
    t.add_argument("--eval-batch", type=int, default=65536)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--tasks", default="click,follow,like,share", help="names for --loss-weights")
    t.add_argument("--loss-weights", default="4,3,2,1")
    t.add_argument("--mlp-layers", default="128,64,32")
    t.add_argument("--experts", type=int, default=3)
    t.add_argument("--expert-layers", default="128")
    t.add_argument("--gate-dim", type=int, default=32)
    t.add_argument("--tower-layers", default="64")
    t.add_argument("--cgc-task-experts", type=int, default=1)
    t.add_argument("--cgc-shared-experts", type=int, default=2)
    t.add_argument("--ple-layers", type=int, default=1)
    t.add_argument("--embedding-sizes-multiplier", type=float, default=4.0)
    t.add_argument("--l2-reg", type=float, default=1e-5)
    t.add_argument("--embeddings-l2-reg", type=float, default=1e-6)
    t.add_argument("--dropout", type=float, default=0.05)
    a = p.parse_args()
    prepare(a) if a.cmd == "prepare" else train(a)


if __name__ == "__main__":
    main()
