#!/usr/bin/python3
"""The PyTorch side of bench/train.sh: `reckon train` on one task, in PyTorch, with the models of
tests/reference/ranking_models.py (written independently from src/models/ranking.c).

    train_torch.py prepare --csv-dir DIR --schema SCHEMA.json --task click --truth p_click --cache DIR
    train_torch.py train --cache DIR --schema SCHEMA.json --model M --threads N --seed S
                         [--batch 4096] [--eval-batch 65536] [--lr 1e-3]

prepare: reads DIR/train/*.csv and DIR/eval/*.csv (`reckon convert` of the Parquet parts) with
pandas' C parser into .npy arrays under --cache (ids int64 in the schema's categorical order,
the label float32, the truth float64), and prints "ceiling auc=..." (the AUC of the true
probability on the eval rows).

train: one epoch as `reckon train --tasks T --model M --lr LR --lr_decay_rate 0
--train_batch_size B --epochs 1 --random_seed S`, then the eval AUC. The peer's best ordinary
setup: float32, every row pre-loaded as tensors in memory (no DataLoader), torch.set_num_threads(N);
tables are F.embedding(sparse=True) updated by torch.optim.SparseAdam, dense parameters by
torch.optim.Adam (lr, betas 0.9/0.999, eps 1e-7: Keras' constants as reckon; SparseAdam applies eps
in Keras' epsilon-hat form as reckon does, torch.optim.Adam after the bias correction, a difference
of order eps). The rows are shuffled once per epoch (torch.randperm with the seed); the last short
batch is kept. Timed: the epoch (the shuffle, batch slicing, forward, loss with its
regularisation, backward, both optimizer steps), not the loading, not the evaluation.

Three efficient paths, the same math as ranking_models.py:
- wide_n_deep's hashed crosses: ranking_models.hash_cross_ids is pure Python per row; here the
  same XXH64 rule (hash_int of each id, hash_cross of the pair, 1 + h mod (bins - 1), 0 when
  either id is 0) vectorised in numpy uint64, inside the step; checked against the reference's
  at start-up.
- the lookup: ranking_models masks id 0's rows to zero after F.embedding; here row 0 of every
  table is zeroed once and F.embedding(padding_idx=0) keeps it so (no gradient reaches it, and
  SparseAdam never touches it), so the mask multiply is dropped. (The data has no id 0 anyway.)
- dlrm's dot products: one product-and-sum per pair of fields instead of torch.bmm over the
  (B, N, D) stack and indexing its lower triangle (see _dots; --reference-forward for the latter).

Prints "torch model=... batch=... threads=... seed=... samples_per_s=... auc=... train_s=...".
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

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "reference"))
import ranking_models as rm  # noqa: E402


def read_schema(path):
    """The model's view of the schema, as reckon builds it (src/models/ranking.c): columns in
    schema order; targets left out; 'categorical' ones with cardinality int_domain.max + 1,
    'continuous' ones; untagged columns (control features) ignored."""
    s = json.load(open(path))
    cats, conts = [], []
    for f in s["feature"]:
        tags = f.get("annotation", {}).get("tag", [])
        if "target" in tags:
            continue
        if "categorical" in tags:
            cats.append({"name": f["name"], "cardinality": int(f["intDomain"]["max"]) + 1})
        elif "continuous" in tags:
            conts.append(f["name"])
    return {"categorical": cats, "continuous": conts}


def auc(score, label):
    """ROC AUC with ties counted half (average ranks)."""
    score = np.asarray(score, dtype=np.float64)
    label = np.asarray(label) > 0.5
    order = np.argsort(score, kind="mergesort")
    s, y = score[order], label[order]
    first = np.r_[True, s[1:] != s[:-1]]
    starts = np.flatnonzero(first)
    counts = np.diff(np.r_[starts, len(s)])
    ranks = (starts + (counts + 1) / 2.0)[np.cumsum(first) - 1]
    p = float(y.sum())
    n = len(y) - p
    if p == 0 or n == 0:
        return float("nan")
    return float((ranks[y].sum() - p * (p + 1) / 2) / (p * n))


# ---- prepare ----

def prepare(a):
    schema = read_schema(a.schema)
    names = [c["name"] for c in schema["categorical"]]
    os.makedirs(a.cache, exist_ok=True)
    for split in ("train", "eval"):
        files = sorted(glob.glob(os.path.join(a.csv_dir, split, "*.csv")))
        if not files:
            raise SystemExit("train_torch.py: no CSV under %s/%s" % (a.csv_dir, split))
        import pandas as pd
        df = pd.concat([pd.read_csv(f, engine="c") for f in files], ignore_index=True)
        np.save(os.path.join(a.cache, split + "_cat.npy"), df[names].to_numpy(dtype=np.int64))
        if schema["continuous"]:
            np.save(os.path.join(a.cache, split + "_cont.npy"), df[schema["continuous"]].to_numpy(dtype=np.float32))
        np.save(os.path.join(a.cache, split + "_label.npy"), df[a.task].to_numpy(dtype=np.float32))
        if split == "eval":
            truth = df[a.truth].to_numpy(dtype=np.float64)
            print("ceiling auc=%.6f rows=%d" % (auc(truth, df[a.task].to_numpy()), len(df)))
        else:
            print("train rows=%d" % len(df))


# ---- the vectorised XXH64 of ranking_models.hash_cross_ids ----

_U = np.uint64
_P1, _P2, _P3, _P4, _P5 = (_U(rm._P1), _U(rm._P2), _U(rm._P3), _U(rm._P4), _U(rm._P5))


def _rotl(x, r):
    return (x << _U(r)) | (x >> _U(64 - r))


def _round0(lane):
    return _rotl(lane * _P2, 31) * _P1


def _avalanche(h):
    h ^= h >> _U(33)
    h *= _P2
    h ^= h >> _U(29)
    h *= _P3
    h ^= h >> _U(32)
    return h


def _xxh64_lanes(lanes):
    """XXH64 (seed 0) of len(lanes) * 8 bytes (< 32): the little-endian 8-byte lanes, arrays."""
    h = np.full(lanes[0].shape, (rm._P5 + 8 * len(lanes)) & rm._M64, dtype=np.uint64)
    for lane in lanes:
        h ^= _round0(lane)
        h = _rotl(h, 27) * _P1 + _P4
    return _avalanche(h)


def hash_cross_ids_np(a, b, buckets):
    """ranking_models.hash_cross_ids on int64 tensors, vectorised."""
    with np.errstate(over="ignore"):
        x, y = a.numpy(), b.numpy()
        h = _xxh64_lanes([_xxh64_lanes([x.astype(np.uint64)]), _xxh64_lanes([y.astype(np.uint64)])])
        out = (h % _U(buckets - 1)).astype(np.int64) + 1
        out[(x == 0) | (y == 0)] = 0
    return torch.from_numpy(out)


def check_hash():
    g = torch.Generator().manual_seed(0)
    a = torch.randint(0, 1 << 20, (500,), generator=g)
    b = torch.randint(0, 40, (500,), generator=g)
    a[:5] = 0
    b[5:10] = 0
    for bins in (10000, 13):
        want = rm.hash_cross_ids(a, b, bins)
        got = hash_cross_ids_np(a, b, bins)
        if not torch.equal(want, got):
            raise SystemExit("train_torch.py: the vectorised hash differs from ranking_models.hash_cross_ids")


def _lookup(self, name, ids):
    """ranking_models' _lookup without the mask: row 0 is zero (zeroed at start, kept so)."""
    return F.embedding(ids, self.param(name), padding_idx=0, sparse=True)


def _dots(T):
    """ranking_models' _dots on the list of (B, D) rows T: <T_i, T_j> for i = 1.., j < i,
    row-major, as (B, N(N-1)/2). One product-and-sum per pair: on the CPU this is about twice as
    fast, forward and backward, as torch.bmm over the (B, N, D) stack and indexing its
    lower triangle (tiny per-row matrices)."""
    return torch.stack([(T[i] * T[j]).sum(1) for i in range(len(T)) for j in range(i)], dim=1)


_reference_forward = rm.RankingModel.forward


def _forward(self, cat_ids, dense=None):
    """ranking_models' forward, dlrm's branch with _dots above; the other models unchanged."""
    if self.kind != "dlrm":
        return _reference_forward(self, cat_ids, dense)
    if self.n_cont == 0:
        dense = None
    ids = [cat_ids[:, i] for i in range(self.n_cat)]
    emb = [self._lookup("embeddings." + n, ids[i]) for i, n in enumerate(self.cat_names)]
    if dense is not None:
        bottom = self._run_mlp("bottom_mlp", dense, 1)
        x = torch.cat([bottom, _dots([bottom] + emb)], dim=1)
    else:
        dots = _dots(emb)
        x = dots if self.cfg["dlrm_top_dots_only"] else torch.cat([emb[0], dots] + emb[1:], dim=1)
    self._last = (ids, {})
    return self._deep(x, "top_mlp")


# ---- train ----

def train(a):
    torch.set_num_threads(a.threads)
    schema = read_schema(a.schema)
    load = lambda n: torch.from_numpy(np.load(os.path.join(a.cache, n)))  # noqa: E731
    tr_cat, tr_y = load("train_cat.npy"), load("train_label.npy")
    ev_cat, ev_y = load("eval_cat.npy"), load("eval_label.npy")
    tr_cont = ev_cont = None
    if schema["continuous"]:
        tr_cont, ev_cont = load("train_cont.npy"), load("eval_cont.npy")
    if a.model == "wide_n_deep":
        check_hash()
    rm.hash_cross_ids = hash_cross_ids_np
    rm.RankingModel._lookup = _lookup
    if not a.reference_forward:
        rm.RankingModel.forward = _forward

    torch.manual_seed(a.seed)
    model = rm.build(a.model, schema, {})
    sparse, dense = [], []
    with torch.no_grad():
        for name, p in model.reckon_parameters():
            if model.is_sparse(name):
                p[0].zero_()
                sparse.append(p)
            else:
                dense.append(p)
    opt_sparse = torch.optim.SparseAdam(sparse, lr=a.lr, betas=(0.9, 0.999), eps=1e-7)
    opt_dense = torch.optim.Adam(dense, lr=a.lr, betas=(0.9, 0.999), eps=1e-7, foreach=a.foreach)
    model.train()
    N, B = tr_cat.shape[0], a.batch
    gen = torch.Generator().manual_seed(a.seed)

    t0 = time.perf_counter()
    perm = torch.randperm(N, generator=gen)
    cat, y = tr_cat[perm], tr_y[perm].unsqueeze(1)
    cont = tr_cont[perm] if tr_cont is not None else None
    steps = 0
    for s in range(0, N, B):
        logit = model(cat[s:s + B], cont[s:s + B] if cont is not None else None)
        total, reg = rm.loss(model, logit, y[s:s + B])
        total.backward()
        opt_dense.step()
        opt_sparse.step()
        opt_dense.zero_grad(set_to_none=True)
        opt_sparse.zero_grad(set_to_none=True)
        steps += 1
    train_s = time.perf_counter() - t0
    final_loss = float(total)

    model.eval()
    probs = []
    with torch.no_grad():
        for s in range(0, ev_cat.shape[0], a.eval_batch):
            z = model(ev_cat[s:s + a.eval_batch], ev_cont[s:s + a.eval_batch] if ev_cont is not None else None)
            probs.append(torch.sigmoid(z).reshape(-1).numpy())
    ev_auc = auc(np.concatenate(probs), ev_y.numpy())
    print("torch model=%s batch=%d threads=%d seed=%d samples_per_s=%.1f auc=%.6f train_s=%.3f steps=%d "
          "samples=%d final_loss=%.5f" % (a.model, B, a.threads, a.seed, N / train_s, ev_auc, train_s, steps, N,
                                          final_loss))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("prepare")
    q.add_argument("--csv-dir", required=True)
    q.add_argument("--schema", required=True)
    q.add_argument("--task", default="click")
    q.add_argument("--truth", default="p_click")
    q.add_argument("--cache", required=True)
    t = sub.add_parser("train")
    t.add_argument("--cache", required=True)
    t.add_argument("--schema", required=True)
    t.add_argument("--model", required=True, choices=rm.KINDS)
    t.add_argument("--threads", type=int, default=1)
    t.add_argument("--seed", type=int, default=1)
    t.add_argument("--batch", type=int, default=4096)
    t.add_argument("--eval-batch", type=int, default=65536)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--reference-forward", action="store_true", help="dlrm: ranking_models' own forward (bmm)")
    t.add_argument("--foreach", type=int, default=None, help="torch.optim.Adam's foreach (default: torch's choice)")
    a = p.parse_args()
    if a.cmd == "train" and a.foreach is not None:
        a.foreach = bool(a.foreach)
    prepare(a) if a.cmd == "prepare" else train(a)


if __name__ == "__main__":
    main()
