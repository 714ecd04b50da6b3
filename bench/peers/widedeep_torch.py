#!/usr/bin/python3
"""The PyTorch side of bench/widedeep.sh: `reckon widedeep` (NVIDIA's Wide & Deep recipe) in
PyTorch, the model of tests/reference/widedeep_model.py (written independently from reckon) in
float32 with its two optimizers, TensorFlow's FTRL and proximal Adagrad, as torch ops.

    widedeep_torch.py prepare --csv-dir DIR --schema SCHEMA.json --cache DIR
    widedeep_torch.py train --cache DIR --threads N --batch B [--hidden 1024,1024,...]
                            [--linear-lr 0.2 --deep-lr 1.0 --linear-l1 0 --linear-l2 0 --deep-l1 0 --deep-l2 0]
                            (--steps N --warmup W | --epochs 1 --seed S [--eval-batch 32768])

prepare: reads DIR/train/*.csv and DIR/eval/*.csv (the Parquet parts as DuckDB writes them, list
columns as their values joined by spaces: `reckon convert` writes no list column to CSV) with
pandas' C parser, hashes the raw ids once as reckon does (1 + xxh64(v) mod (num_buckets - 1), a
vectorised numpy XXH64 checked against ranking_models.hash_int; indicators v + 1; 0 for a null),
and writes .npy arrays under --cache: per split the ids (rows, slots) int64 (each categorical
column its value_count max slots, 0 padding), the indicators' one-hots and the continuous
features, the label, display_id and is_leak; meta.json (the columns); check_rows.json (a few raw
rows for the start-up check).

train: the model of docs/widedeep.md. The peer's best ordinary setup: every row pre-loaded as
tensors, torch.set_num_threads(N), float32. Tables are merged where that saves calls: one wide
table for every categorical column (F.embedding_bag, sum, padding_idx 0: the row's weights summed
over all its ids at once), one embedding table per dimension (128, 64), looked up per group of
columns with the same dimension and value_count (F.embedding_bag, mean, padding_idx 0: a list's
rows averaged, a null gives zeros). A table's gradient is sparse when a batch looks up fewer rows
than the table has, else dense (PyTorch's default; a sparse gradient of B x 32 rows of 64 for a
38K-row table is the slower path): at batch 4096 the 128-wide table's and the wide table's are
sparse, the 64-wide table's dense. The deep input is those groups side by side, then the
indicators' one-hots, then the continuous features: the reference's columns in another order
(the first layer's columns permuted; the start-up check maps them). Optimizers: FTRL
(learning_rate_power -0.5, initial accumulator 0.1) on the wide table, wide.continuous and
wide.bias; proximal Adagrad (initial accumulator 0.1) on the embeddings and the MLP; tables move
only in the rows the batch looked up (a sparse gradient's coalesced indices, or the looked-up
rows of a dense one), as TensorFlow's sparse apply ops and reckon; dense parameters by in-place
torch ops.
Initialisation as reckon: embeddings truncated normal (std 1/sqrt(dim), cut at 2 std), the wide
part zero, dense weights Glorot uniform, biases zero.

At start-up (check_rows.json) the model and one step of both optimizers are checked in float64
against tests/reference/widedeep_model.py on a few rows (logit, then every parameter after the
step; tables cut to 1000 buckets; with sparse and with dense table gradients), and the run stops
if they differ.

--steps N --warmup W (speed): N training steps at batch B over the shuffled rows (reshuffled at
each epoch's end, the last short batch kept), timed after the first W, as `reckon widedeep
--benchmark` reports train_throughput. Prints "torch mode=speed ... samples_per_s=...".
--epochs E (accuracy): E epochs, then MAP@12 by display_id on the eval rows (the recipe's:
probability ranked, ties to the earlier row, 1/rank of the clicked ad within 12), map_with_leak
(probability + is_leak), AUC, logloss. Prints "torch mode=accuracy ... map=... map_with_leak=...".
"""
import argparse
import glob
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
sys.path.insert(0, os.path.join(here, "..", "..", "tests", "reference"))
import ranking_models as rm  # noqa: E402
from train_torch import _xxh64_lanes, auc  # noqa: E402  (the vectorised XXH64; ROC AUC)

FTRL_INIT = 0.1
ADAGRAD_INIT = 0.1


# ---- the schema ----

def _meta(f):
    m = f.get("annotation", {}).get("extraMetadata", [{}])
    return m[0] if m else {}


def read_schema(path):
    """The columns the model reads, in schema order (categorical then continuous, as reckon):
    {"name", "kind": hashed|indicator|continuous, "rows" (table rows), "dim", "max_len"}; and the
    target column's name (one)."""
    s = json.load(open(path))
    cats, conts, targets = [], [], []
    for f in s["feature"]:
        tags = f.get("annotation", {}).get("tag", [])
        meta = _meta(f)
        if "target" in tags:
            targets.append(f["name"])
            continue
        if "categorical" in tags:
            max_len = int(f["valueCount"]["max"]) if "valueCount" in f else 0
            if meta.get("indicator"):
                n = int(f["intDomain"]["max"]) + 1
                cats.append({"name": f["name"], "kind": "indicator", "n": n, "rows": n + 1, "dim": 0, "max_len": max_len})
            elif "num_buckets" in meta:
                dim = int(meta["embedding_sizes"]["dimension"])
                cats.append({"name": f["name"], "kind": "hashed", "rows": int(meta["num_buckets"]), "dim": dim,
                             "max_len": max_len})
            else:
                raise SystemExit("widedeep_torch.py: categorical column %r has neither num_buckets nor indicator "
                                 "(not in the recipe's feature set)" % f["name"])
        elif "continuous" in tags:
            conts.append({"name": f["name"], "kind": "continuous"})
    if len(targets) != 1:
        raise SystemExit("widedeep_torch.py: %s: %d target columns; the recipe's model has one" % (path, len(targets)))
    return cats + conts, targets[0]


# ---- prepare ----

def hash_ids(values, buckets):
    """reckon's bucket of each raw int64 id: 1 + xxh64(8 little-endian bytes) mod (buckets - 1)."""
    with np.errstate(over="ignore"):
        h = _xxh64_lanes([values.astype(np.int64).view(np.uint64)])
    return (h % np.uint64(buckets - 1)).astype(np.int64) + 1


def parse_lists(series):
    """Space-joined values ('' or NaN: a null or empty list) -> (lengths, values int64)."""
    s = series.fillna("").astype(str)
    lengths = np.where(s.to_numpy() == "", 0, s.str.count(" ").to_numpy() + 1).astype(np.int64)
    joined = " ".join(s[lengths > 0].tolist())
    values = np.array(joined.split(), dtype=np.int64) if joined else np.zeros(0, dtype=np.int64)
    if len(values) != lengths.sum():
        raise SystemExit("widedeep_torch.py: list column %r: %d values for %d counted" % (series.name, len(values),
                                                                                       lengths.sum()))
    return lengths, values


def prepare(a):
    import pandas as pd
    cols, target = read_schema(a.schema)
    cats = [c for c in cols if c["kind"] != "continuous"]
    conts = [c["name"] for c in cols if c["kind"] == "continuous"]
    os.makedirs(a.cache, exist_ok=True)
    slot = 0
    for c in cats:
        c["slot"], c["width"] = slot, max(c["max_len"], 1)
        slot += c["width"]
    check = None
    for split in ("train", "eval"):
        files = sorted(glob.glob(os.path.join(a.csv_dir, split, "*.csv")))
        if not files:
            raise SystemExit("widedeep_torch.py: no CSV under %s/%s" % (a.csv_dir, split))
        lists = {c["name"]: str for c in cats if c["max_len"]}
        df = pd.concat([pd.read_csv(f, engine="c", dtype=lists, keep_default_na=True) for f in files],
                       ignore_index=True)
        N = len(df)
        ids = np.zeros((N, slot), dtype=np.int64)
        onehots = []
        for c in cats:
            if c["max_len"]:
                lengths, raw = parse_lists(df[c["name"]])
                if lengths.max(initial=0) > c["max_len"]:
                    raise SystemExit("widedeep_torch.py: column %r holds a list of %d values, value_count max %d"
                                     % (c["name"], lengths.max(), c["max_len"]))
                rows = np.repeat(np.arange(N), lengths)
                pos = np.arange(len(raw)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
            else:
                col = df[c["name"]]
                valid = col.notna().to_numpy()
                rows = np.flatnonzero(valid)
                raw = col.to_numpy()[valid].astype(np.int64)
                pos = np.zeros(len(rows), dtype=np.int64)
            if c["kind"] == "hashed":
                local = hash_ids(raw, c["rows"])
            else:
                if len(raw) and (raw.min() < 0 or raw.max() >= c["n"]):
                    raise SystemExit("widedeep_torch.py: indicator column %r holds values outside 0..%d"
                                     % (c["name"], c["n"] - 1))
                local = raw + 1
                block = np.zeros((N, c["n"]), dtype=np.float32)
                np.add.at(block, (rows, raw), 1.0)
                onehots.append(block)
            ids[rows, c["slot"] + pos] = local
        dense = np.concatenate(onehots + [df[conts].fillna(0.0).to_numpy(dtype=np.float32)], axis=1)
        np.save(os.path.join(a.cache, split + "_ids.npy"), ids)
        np.save(os.path.join(a.cache, split + "_dense.npy"), np.ascontiguousarray(dense, dtype=np.float32))
        np.save(os.path.join(a.cache, split + "_label.npy"), df[target].to_numpy(dtype=np.float32))
        np.save(os.path.join(a.cache, split + "_display.npy"), df["display_id"].to_numpy(dtype=np.int64))
        leak = df["is_leak"].to_numpy(dtype=np.float32) if "is_leak" in df else np.zeros(N, dtype=np.float32)
        np.save(os.path.join(a.cache, split + "_leak.npy"), leak)
        if split == "train":
            check = df.iloc[:8]
        print("%s rows=%d displays=%d" % (split, N, df["display_id"].nunique()))
    # the hash against the reference's pure-Python XXH64, on raw ids of every hashed column
    edges = np.array([0, 1, -1, 2 ** 31, 2 ** 63 - 1, -2 ** 63], dtype=np.int64)
    for c in cats:
        if c["kind"] != "hashed":
            continue
        raw = check[c["name"]]
        vals = parse_lists(raw)[1] if c["max_len"] else raw.dropna().to_numpy().astype(np.int64)
        vals = np.concatenate([vals, edges])
        want = [1 + rm.hash_int(int(v)) % (c["rows"] - 1) for v in vals]
        if hash_ids(vals, c["rows"]).tolist() != want:
            raise SystemExit("widedeep_torch.py: the vectorised hash differs from ranking_models.hash_int (%s)" % c["name"])
    rows = {}
    for c in cols:
        v = check[c["name"]]
        if c.get("max_len"):
            rows[c["name"]] = [None if not isinstance(x, str) else [int(t) for t in x.split()] for x in v]
        else:
            rows[c["name"]] = [None if pd.isna(x) else (float(x) if c["kind"] == "continuous" else int(x)) for x in v]
    rows["_target"] = check[target].astype(float).tolist()
    json.dump(rows, open(os.path.join(a.cache, "check_rows.json"), "w"))
    json.dump({"columns": cols, "target": target, "slots": slot, "n_onehot": sum(c["n"] for c in cats if c["kind"] == "indicator"),
               "continuous": conts}, open(os.path.join(a.cache, "meta.json"), "w"), indent=1)


# ---- the model ----

class WideDeep:
    """The model on pre-hashed ids (rows, slots) and dense (rows, one-hots ++ continuous)."""

    def __init__(self, meta, hidden, dtype=torch.float32, seed=1, batch=None, sparse=None):
        """batch: the training batch, which picks each table's gradient (sparse when a batch
        looks up fewer rows than the table has, else dense); sparse: True or False for all."""
        cols = meta["columns"]
        self.cats = [c for c in cols if c["kind"] != "continuous"]
        self.n_onehot, self.n_cont = meta["n_onehot"], len(meta["continuous"])
        self.slots = meta["slots"]
        g = torch.Generator().manual_seed(seed)
        # the wide table: row 0 padding, then each column's rows 1.. (its row 0 is its null)
        self.wide_base = torch.zeros(self.slots, dtype=torch.int64)
        self.wide_of = {}
        rows = 1
        for c in self.cats:
            self.wide_base[c["slot"]:c["slot"] + c["width"]] = rows - 1
            self.wide_of[c["name"]] = rows - 1
            rows += c["rows"] - 1
        self.wide = torch.zeros(rows, 1, dtype=dtype)
        # the embedding tables, one per dimension; groups of columns with the same (dim, width)
        self.tables, self.emb_of, groups = {}, {}, {}
        for c in self.cats:
            if c["kind"] == "indicator":
                continue
            d = c["dim"]
            n = self.tables.get(d, 1)
            self.emb_of[c["name"]] = (d, n - 1)
            self.tables[d] = n + c["rows"] - 1
            groups.setdefault((d, c["width"]), []).append(c)
        for d, n in list(self.tables.items()):
            t = truncated_normal(n, d, dtype, g)
            t[0] = 0
            self.tables[d] = t
        # per group: the slots it reads and the offsets of its columns' ids into its table
        self.groups = []
        order = []   # the deep input's columns: (column name, offset in the reference's embedding block)
        for (d, w), cs in sorted(groups.items(), key=lambda kv: (-kv[0][0], kv[0][1])):
            slots = torch.cat([torch.arange(c["slot"], c["slot"] + w) for c in cs])
            base = torch.cat([torch.full((w,), self.emb_of[c["name"]][1], dtype=torch.int64) for c in cs])
            self.groups.append((d, w, len(cs), slots, base))
            order += [c["name"] for c in cs]
        # the reference's deep input: embeddings in schema order, one-hots, continuous
        ref_off, off = {}, 0
        for c in self.cats:
            if c["kind"] != "indicator":
                ref_off[c["name"]] = off
                off += c["dim"]
        perm = []
        for name in order:
            d = self.emb_of[name][0]
            perm += list(range(ref_off[name], ref_off[name] + d))
        perm += list(range(off, off + self.n_onehot + self.n_cont))
        self.ref_perm = torch.tensor(perm)   # deep input column j is the reference's column perm[j]
        width = len(perm)
        self.wide_cont = torch.zeros(self.n_cont, 1, dtype=dtype)
        self.wide_bias = torch.zeros(1, dtype=dtype)
        self.mlp = []
        for units in list(hidden) + [1]:
            lim = math.sqrt(6.0 / (width + units))
            w = torch.empty(units, width, dtype=dtype).uniform_(-lim, lim, generator=g)
            self.mlp.append((w, torch.zeros(units, dtype=dtype)))
            width = units
        self.dense_wide = [self.wide_cont, self.wide_bias]
        self.dense_deep = [p for layer in self.mlp for p in layer]
        for p in [self.wide] + list(self.tables.values()) + self.dense_wide + self.dense_deep:
            p.requires_grad_(True)
        lookups = {d: sum(n * w for dd, w, n, _, _ in self.groups if dd == d) for d in self.tables}
        pick = lambda rows, per_row: sparse if sparse is not None else batch is None or batch * per_row < rows  # noqa: E731
        self.wide_sparse = pick(self.wide.shape[0], self.slots)
        self.table_sparse = {d: pick(t.shape[0], lookups[d]) for d, t in self.tables.items()}

    def touched(self, wide_ids, deep_ids):
        """The rows a batch looks up (ascending, unique, padding left out): for the wide table,
        then each embedding table; None where the gradient is sparse (its coalesced indices are
        those rows)."""
        def rows(V, xs):
            m = torch.zeros(V, dtype=torch.bool)
            for x in xs:
                m[x.reshape(-1)] = True
            m[0] = False
            return torch.nonzero(m).reshape(-1)
        out = [None if self.wide_sparse else rows(self.wide.shape[0], [wide_ids])]
        for d, t in self.tables.items():
            xs = [x for (dd, _, _, _, _), x in zip(self.groups, deep_ids) if dd == d]
            out.append(None if self.table_sparse[d] else rows(t.shape[0], xs))
        return out

    def encode(self, ids):
        """Pre-hashed ids (rows, slots) -> the wide table's ids (rows, slots) and each group's
        ids (rows * columns, width) into its table: once for the whole dataset."""
        wide = torch.where(ids > 0, ids + self.wide_base, torch.zeros_like(ids))
        deep = []
        for d, w, n, slots, base in self.groups:
            x = ids[:, slots]
            deep.append(torch.where(x > 0, x + base, torch.zeros_like(x)).reshape(-1, n, w))
        return wide, deep

    def forward(self, wide_ids, deep_ids, dense):
        B = wide_ids.shape[0]
        cont = dense[:, self.n_onehot:]
        wide = F.embedding_bag(wide_ids, self.wide, mode="sum", padding_idx=0, sparse=self.wide_sparse)
        wide = torch.addmm(wide + self.wide_bias, cont, self.wide_cont)
        parts = []
        for (d, w, n, _, _), x in zip(self.groups, deep_ids):
            e = F.embedding_bag(x.reshape(B * n, w), self.tables[d], mode="mean", padding_idx=0,
                                sparse=self.table_sparse[d])
            parts.append(e.reshape(B, n * d))
        x = torch.cat(parts + [dense], dim=1)
        for l, (w, b) in enumerate(self.mlp):
            x = F.linear(x, w, b)
            if l < len(self.mlp) - 1:
                x = torch.relu(x)
        return wide + x


def truncated_normal(n, d, dtype, g):
    """(n, d) of TensorFlow's embedding_column initialiser: normal with std 1/sqrt(d), values
    beyond 2 std redrawn (torch 1.13's trunc_normal_ takes no generator)."""
    s = 1.0 / math.sqrt(d)
    t = torch.empty(n, d, dtype=dtype).normal_(0.0, s, generator=g)
    flat = t.view(-1)
    idx = torch.nonzero(flat.abs() > 2 * s).reshape(-1)
    while idx.numel():
        v = torch.empty(idx.numel(), dtype=dtype).normal_(0.0, s, generator=g)
        flat[idx] = v
        idx = idx[v.abs() > 2 * s]
    return t


# ---- the optimizers: TensorFlow's, element-wise; tables only in the looked-up rows ----

def _rows(g, rows):
    """A table's rows to update and their gradients: the coalesced indices of a sparse gradient,
    else the given rows of a dense one; None: a dense parameter, every element."""
    if g.is_sparse:
        g = g.coalesce()
        return g.indices()[0], g.values()
    if rows is not None:
        return rows, g.index_select(0, rows)
    return None


class Ftrl:
    """ApplyFtrl / SparseApplyFtrl, learning_rate_power -0.5 (tests/reference/widedeep_model.Ftrl)."""

    def __init__(self, params, lr, l1, l2):
        self.lr, self.l1, self.l2 = lr, l1, l2
        self.state = [(torch.full_like(p, FTRL_INIT), torch.zeros_like(p)) for p in params]
        self.params = params

    def _apply(self, w, g, acc, lin):
        acc_new = acc + g * g
        sq = acc_new.sqrt()
        lin.add_(g - (sq - acc.sqrt()) / self.lr * w)
        quadratic = sq / self.lr + 2.0 * self.l2
        if self.l1 > 0:
            new = torch.where(lin.abs() > self.l1, (torch.sign(lin) * self.l1 - lin) / quadratic, torch.zeros_like(w))
        else:
            new = -lin / quadratic
        return new, acc_new

    @torch.no_grad()
    def step(self, rows=None):
        """rows: per parameter, the rows a dense gradient updates (None: all; see _rows)."""
        for k, (p, (acc, lin)) in enumerate(zip(self.params, self.state)):
            g = p.grad
            if g is None:
                continue
            sel = _rows(g, rows[k] if rows else None)
            if sel is not None:
                idx, v = sel
                a, n = acc.index_select(0, idx), lin.index_select(0, idx)
                new, a = self._apply(p.index_select(0, idx), v, a, n)
                p.index_copy_(0, idx, new)
                acc.index_copy_(0, idx, a)
                lin.index_copy_(0, idx, n)
            else:
                new, a = self._apply(p, g, acc, lin)
                p.copy_(new)
                acc.copy_(a)
            p.grad = None


class ProximalAdagrad:
    """ApplyProximalAdagrad / SparseApplyProximalAdagrad (widedeep_model.ProximalAdagrad)."""

    def __init__(self, params, lr, l1, l2):
        self.lr, self.l1, self.l2 = lr, l1, l2
        self.state = [torch.full_like(p, ADAGRAD_INIT) for p in params]
        self.params = params

    def _apply(self, w, g, acc):
        """w and acc updated in place."""
        acc.addcmul_(g, g)
        if self.l1 == 0 and self.l2 == 0:
            w.addcdiv_(g, acc.sqrt(), value=-self.lr)
            return
        r = self.lr / acc.sqrt()
        prox = w - r * g
        if self.l1 > 0:
            prox = torch.sign(prox) * torch.clamp(prox.abs() - r * self.l1, min=0.0)
        w.copy_(prox / (1.0 + r * self.l2))

    @torch.no_grad()
    def step(self, rows=None):
        """rows: per parameter, the rows a dense gradient updates (None: all; see _rows)."""
        for k, (p, acc) in enumerate(zip(self.params, self.state)):
            g = p.grad
            if g is None:
                continue
            sel = _rows(g, rows[k] if rows else None)
            if sel is not None:
                idx, v = sel
                w, a = p.index_select(0, idx), acc.index_select(0, idx)
                self._apply(w, v, a)
                p.index_copy_(0, idx, w)
                acc.index_copy_(0, idx, a)
            else:
                self._apply(p, g, acc)
            p.grad = None


def loss_fn(logit, y):
    return F.binary_cross_entropy_with_logits(logit.reshape(-1), y)


# ---- the start-up check against tests/reference/widedeep_model.py ----

def check_against_reference(a, meta):
    """Both gradient kinds of the tables: sparse, and dense with the touched rows."""
    for sparse in (True, False):
        _check(a, meta, sparse)


def _check(a, meta, sparse):
    import widedeep_model as wd
    raw = json.load(open(os.path.join(a.cache, "check_rows.json")))
    cols = meta["columns"]
    schema = []
    for c in cols:
        if c["kind"] == "hashed":
            s = {"name": c["name"], "kind": "hashed", "buckets": c["rows"], "dim": c["dim"]}
        elif c["kind"] == "indicator":
            s = {"name": c["name"], "kind": "indicator", "n": c["n"]}
        else:
            s = {"name": c["name"], "kind": "continuous"}
        if c.get("max_len"):
            s["max_len"] = c["max_len"]
        schema.append(s)
    label = torch.tensor(raw.pop("_target"), dtype=torch.float64)
    # small tables (the ids hashed into at most 1000 buckets here; prepare checked the hash itself)
    meta = json.loads(json.dumps(meta))
    for c, s in zip(meta["columns"], schema):
        if c["kind"] == "hashed":
            c["rows"] = s["buckets"] = min(c["rows"], 1000)
    enc = wd.encode(schema, raw)
    hidden = [6, 5]
    mine = WideDeep(meta, hidden, torch.float64, seed=7, sparse=sparse)
    with torch.no_grad():   # the wide part is zero at the start: give it values to check
        g = torch.Generator().manual_seed(3)
        for p in [mine.wide, mine.wide_cont, mine.wide_bias]:
            p.uniform_(-0.3, 0.3, generator=g)
    ref = wd.WideDeep(schema, hidden)
    # this model's parameters into the reference's
    with torch.no_grad():
        for c in mine.cats:
            o = mine.wide_of[c["name"]]
            ref.param("first_order." + c["name"])[1:] = mine.wide[o + 1:o + c["rows"]]
            if c["kind"] != "indicator":
                d, o = mine.emb_of[c["name"]]
                ref.param("embeddings." + c["name"])[1:] = mine.tables[d][o + 1:o + c["rows"]]
        if mine.n_cont:
            ref.param("wide.continuous").copy_(mine.wide_cont.t())
        ref.param("wide.bias").copy_(mine.wide_bias)
        for l, (w, b) in enumerate(mine.mlp):
            name = "mlp.%d" % l if l < len(hidden) else "output"
            rw = ref.param(name + ".weight")
            if l == 0:
                rw[:, mine.ref_perm] = w
            else:
                rw.copy_(w)
            ref.param(name + ".bias").copy_(b)
    # the same rows through this model's path: ids as prepare writes them
    N = len(label)
    ids = torch.zeros(N, meta["slots"], dtype=torch.int64)
    for c in mine.cats:
        offsets, flat = enc["bags"][c["name"]]
        for r in range(N):
            for k, j in enumerate(range(offsets[r], offsets[r + 1])):
                ids[r, c["slot"] + k] = flat[j]
    dense = torch.cat([enc["indicators"], enc["dense"]], dim=1)
    wide_ids, deep_ids = mine.encode(ids)
    lm = mine.forward(wide_ids, deep_ids, dense)
    lr_ = ref(enc)
    bad = []
    if not torch.allclose(lm, lr_, rtol=1e-9, atol=1e-9):
        bad.append("logit %s, reference %s" % (lm.reshape(-1).tolist(), lr_.reshape(-1).tolist()))
    # one step of both optimizers on both
    loss_fn(lm, label).backward()
    touched = mine.touched(wide_ids, deep_ids)
    Ftrl([mine.wide] + mine.dense_wide, a.linear_lr, a.linear_l1, a.linear_l2).step(touched[:1] + [None, None])
    ProximalAdagrad(list(mine.tables.values()) + mine.dense_deep, a.deep_lr, a.deep_l1, a.deep_l2).step(
        touched[1:] + [None] * len(mine.dense_deep))
    wd.loss(lr_, label).backward()
    ftrl = wd.Ftrl(a.linear_lr, a.linear_l1, a.linear_l2)
    pa = wd.ProximalAdagrad(a.deep_lr, a.deep_l1, a.deep_l2)
    with torch.no_grad():
        for name, p in ref.reckon_parameters():
            rows = ref.touched_rows(name, enc) if ref.is_sparse(name) else None
            if rows is not None and 0 in rows:
                rows.remove(0)
            grad = p.grad if p.grad is not None else torch.zeros_like(p)
            (ftrl if ref.is_wide(name) else pa).step(name, p, grad, rows)
    with torch.no_grad():
        pairs = []
        for c in mine.cats:
            o = mine.wide_of[c["name"]]
            pairs.append(("first_order." + c["name"], mine.wide[o + 1:o + c["rows"]], ref.param("first_order." + c["name"])[1:]))
            if c["kind"] != "indicator":
                d, o = mine.emb_of[c["name"]]
                pairs.append(("embeddings." + c["name"], mine.tables[d][o + 1:o + c["rows"]],
                              ref.param("embeddings." + c["name"])[1:]))
        if mine.n_cont:
            pairs.append(("wide.continuous", mine.wide_cont.t(), ref.param("wide.continuous")))
        pairs.append(("wide.bias", mine.wide_bias, ref.param("wide.bias")))
        for l, (w, b) in enumerate(mine.mlp):
            name = "mlp.%d" % l if l < len(hidden) else "output"
            pairs.append((name + ".weight", w, ref.param(name + ".weight")[:, mine.ref_perm] if l == 0 else
                          ref.param(name + ".weight")))
            pairs.append((name + ".bias", b, ref.param(name + ".bias")))
        for name, x, y in pairs:
            if not torch.allclose(x, y.reshape(x.shape), rtol=1e-8, atol=1e-10):
                bad.append("%s after one step: max difference %.3g" % (name, float((x - y.reshape(x.shape)).abs().max())))
    if bad:
        raise SystemExit("widedeep_torch.py: differs from tests/reference/widedeep_model.py (%s table gradients):\n  "
                         % ("sparse" if sparse else "dense") + "\n  ".join(bad))


# ---- metrics ----

def map_at_k(display, score, label, k=12):
    """The recipe's MAP@k as reckon's rk_map_metrics: per display, rows ranked by score (ties: the
    earlier row first), the relevant row the first with the display's largest label; AP = 1/rank
    within k, else 0; displays whose largest label is 0 left out."""
    n = len(display)
    idx = np.arange(n)
    order = np.lexsort((idx, -score.astype(np.float64), display))
    d = display[order]
    start = np.r_[True, d[1:] != d[:-1]]
    gstart = np.flatnonzero(start)
    gid = np.cumsum(start) - 1
    rank = idx - gstart[gid] + 1
    # the relevant row: the largest label, then the earliest arrival
    o2 = np.lexsort((idx, -label.astype(np.float64), display))
    first = o2[np.r_[True, display[o2][1:] != display[o2][:-1]]]
    rank_of = np.empty(n, dtype=np.int64)
    rank_of[order] = rank
    keep = label[first] > 0
    r = rank_of[first[keep]]
    return float(np.where(r <= k, 1.0 / r, 0.0).mean()) if keep.any() else float("nan")


# ---- train ----

def train(a):
    torch.set_num_threads(a.threads)
    meta = json.load(open(os.path.join(a.cache, "meta.json")))
    hidden = [int(x) for x in a.hidden.split(",")] if a.hidden else []
    check_against_reference(a, meta)
    load = lambda n: torch.from_numpy(np.load(os.path.join(a.cache, n)))  # noqa: E731
    torch.manual_seed(a.seed)
    model = WideDeep(meta, hidden, torch.float32, seed=a.seed, batch=a.batch)
    tr_wide, tr_deep = model.encode(load("train_ids.npy"))
    tr_dense, tr_y = load("train_dense.npy"), load("train_label.npy")
    opt_wide = Ftrl([model.wide] + model.dense_wide, a.linear_lr, a.linear_l1, a.linear_l2)
    opt_deep = ProximalAdagrad(list(model.tables.values()) + model.dense_deep, a.deep_lr, a.deep_l1, a.deep_l2)
    N, B = tr_y.shape[0], a.batch
    gen = torch.Generator().manual_seed(a.seed)

    def epoch():
        perm = torch.randperm(N, generator=gen)
        return tr_wide[perm], [x[perm] for x in tr_deep], tr_dense[perm], tr_y[perm]

    n_dense = len(model.dense_deep)

    def step(data, s):
        w, d, x, y = data
        w, d = w[s:s + B], [t[s:s + B] for t in d]
        logit = model.forward(w, d, x[s:s + B])
        loss = loss_fn(logit, y[s:s + B])
        loss.backward()
        touched = model.touched(w, d)
        opt_wide.step(touched[:1] + [None, None])
        opt_deep.step(touched[1:] + [None] * n_dense)
        return float(loss), y[s:s + B].shape[0]

    if a.steps:
        data, s, timed, t0 = epoch(), 0, 0, time.perf_counter()
        for i in range(a.steps):
            if i == a.warmup:
                t0, timed = time.perf_counter(), 0
            if s >= N:
                data, s = epoch(), 0
            loss, n = step(data, s)
            if not math.isfinite(loss):
                raise SystemExit("widedeep_torch.py: the loss is %r at step %d" % (loss, i))
            s += B
            timed += n
        secs = time.perf_counter() - t0
        print("torch mode=speed batch=%d threads=%d steps=%d warmup=%d samples_per_s=%.1f timed_s=%.3f final_loss=%.5f"
              % (B, a.threads, a.steps, a.warmup, timed / secs, secs, loss))
        return

    t0 = time.perf_counter()
    steps, loss = 0, float("nan")
    for _ in range(a.epochs):
        data = epoch()
        for s in range(0, N, B):
            loss, _ = step(data, s)
            steps += 1
    train_s = time.perf_counter() - t0
    if not math.isfinite(loss):
        raise SystemExit("widedeep_torch.py: the loss is %r after training" % loss)
    ev_wide, ev_deep = model.encode(load("eval_ids.npy"))
    ev_dense, ev_y = load("eval_dense.npy"), load("eval_label.npy").numpy()
    probs = []
    with torch.no_grad():
        E = a.eval_batch
        for s in range(0, ev_y.shape[0], E):
            z = model.forward(ev_wide[s:s + E], [t[s:s + E] for t in ev_deep], ev_dense[s:s + E])
            probs.append(torch.sigmoid(z).reshape(-1).numpy())
    p = np.concatenate(probs)
    display = np.load(os.path.join(a.cache, "eval_display.npy"))
    leak = np.load(os.path.join(a.cache, "eval_leak.npy"))
    pc = np.clip(p.astype(np.float64), 1e-7, 1 - 1e-7)
    logloss = float(-np.mean(ev_y * np.log(pc) + (1 - ev_y) * np.log(1 - pc)))
    print("torch mode=accuracy batch=%d threads=%d seed=%d epochs=%d samples_per_s=%.1f map=%.6f map_with_leak=%.6f "
          "auc=%.6f logloss=%.6f train_s=%.3f steps=%d final_loss=%.5f"
          % (B, a.threads, a.seed, a.epochs, N * a.epochs / train_s, map_at_k(display, p, ev_y),
             map_at_k(display, (p + leak).astype(np.float32), ev_y), auc(p, ev_y), logloss, train_s, steps, loss))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("prepare")
    q.add_argument("--csv-dir", required=True)
    q.add_argument("--schema", required=True)
    q.add_argument("--cache", required=True)
    t = sub.add_parser("train")
    t.add_argument("--cache", required=True)
    t.add_argument("--threads", type=int, default=1)
    t.add_argument("--seed", type=int, default=1)
    t.add_argument("--batch", type=int, default=4096)
    t.add_argument("--eval-batch", type=int, default=32768)
    t.add_argument("--hidden", default="1024,1024,1024,1024,1024")
    t.add_argument("--linear-lr", type=float, default=0.2)
    t.add_argument("--linear-l1", type=float, default=0.0)
    t.add_argument("--linear-l2", type=float, default=0.0)
    t.add_argument("--deep-lr", type=float, default=1.0)
    t.add_argument("--deep-l1", type=float, default=0.0)
    t.add_argument("--deep-l2", type=float, default=0.0)
    t.add_argument("--steps", type=int, default=0, help="speed: this many steps (0: --epochs, then evaluate)")
    t.add_argument("--warmup", type=int, default=0, help="speed: steps left out of the timing")
    t.add_argument("--epochs", type=int, default=1)
    a = p.parse_args()
    if a.cmd == "train" and a.steps and a.warmup >= a.steps:
        p.error("--warmup %d leaves no step of --steps %d to time" % (a.warmup, a.steps))
    prepare(a) if a.cmd == "prepare" else train(a)


if __name__ == "__main__":
    main()
