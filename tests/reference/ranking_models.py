"""PyTorch versions of reckon's five ranking models (src/models/ranking.c), written independently
from that file's semantics, for the reference fixtures (tests/reference/make_model_fixtures.py)
and the PyTorch peer of the training benchmark.

    import ranking_models as rm
    model = rm.build("dlrm", schema, cfg)          # a torch.nn.Module
    logit = model(cat_ids, dense)                  # (B, n_cat) int64, (B, n_cont) float or None
    total, reg = rm.loss(model, logit, label, weight)

schema: {"categorical": [{"name": ..., "cardinality": ...}, ...],   (cardinality = int_domain.max + 1)
         "continuous": [name, ...], "target": name}
        in schema order, targets left out (the order of cat_ids' columns and dense's columns).
cfg:    rk_ranking_config's fields by name (include/reckon/models.h), anything left out taking
        rk_ranking_config_default's value: mlp_layers, activation ("relu", "sigmoid", "tanh",
        "none"), dropout, embeddings_dim, embedding_sizes_multiplier, dcn_layers,
        wnd_hashed_cross_num_bins, wnd_ignore (["a:b", ...]), l2_reg, embeddings_l2_reg,
        wnd_wide_l2_reg, dlrm_top_dots_only (or dlrm_top_input = "dots").

Parameters carry reckon's names and come in reckon's creation order: model.reckon_parameters()
gives (name, Parameter) pairs ("embeddings.user_id", "mlp.0.weight", "output.bias", ...);
model.param(name) one of them; model.is_sparse(name) whether it is a table (its gradient is a
torch sparse tensor: F.embedding(..., sparse=True), as nn.Embedding(V, D, sparse=True) gives).
Weights are (out, in) as torch.nn.Linear's. Initialisation is not reckon's (its counter-based
generator is not reproduced): tables U(+-0.05) as Keras, kernels glorot_uniform, biases 0;
tests overwrite every parameter anyway.

What reckon's graph does, and so this module (each point from ranking.c and src/nn/ops/):
- Id 0 is padding everywhere: its embedding is zero (whatever table row 0 holds), it gets no
  gradient and no regularisation. Hashed crosses give id 0 when either input id is 0.
- mlp:  [emb_0, ..., emb_{F-1}, dense] -> mlp.* (linear, activation, dropout) -> output.
- dcn:  x0 = that concat; cross.l: x = x0 * (x W^T + b) + x; then mlp.* -> output.
- dlrm with continuous features: bottom_mlp.0 (embeddings_dim units, activation) on dense;
        T = [bottom, emb_0..]; top input [bottom, <T_i, T_j> for i = 1.., j < i (row-major)].
        Without: emb_0 plays the dense row: inter = [emb_0, dots over all field pairs]; the top
        input is [inter, emb_1, ..., emb_{F-1}], or the dots alone with dlrm_top_dots_only.
        Then top_mlp.* -> output.
- wide_n_deep: wide = sum_f first_order.f[id_f] (tables of dim 1) + sum over pairs i < j not
        in wnd_ignore of wide_cross.i.j[hash ids]; deep = the mlp model; logit = wide + deep.
- deepfm: FM over the embeddings (all embeddings_dim wide): 0.5 sum_d ((sum_f v)^2 - sum_f v^2)
        + sum_f first_order.f[id_f]; plus the mlp model's logit.
- Dims: dlrm and deepfm use embeddings_dim for every table; the others
        ceil(cardinality^0.25 * multiplier) rounded up to a multiple of 8 (at least 8).
- Creation order: embeddings.* (schema order), then per model: cross.l.{weight,bias};
        bottom_mlp.0.*, top_mlp.*; first_order.*, wide_cross.*; first_order.* (deepfm); then
        mlp.* / top_mlp.*, and output.{weight,bias}.
- Loss: weighted BCE with logits, sum_i w_i l_i / B (MSE for a regression), plus
        l2_reg * sum of squares of every MLP, bottom/top MLP and output weight and bias and of
        each cross layer's weight (not its bias: ranking.c tracks only the cross kernel);
        embeddings_l2_reg * sum of squares of each distinct non-padding row of the embeddings.*
        tables the batch looked up (once per row however often it occurs);
        wide_n_deep: wnd_wide_l2_reg the same way over first_order.* and wide_cross.* rows.
        deepfm's first_order tables carry no regularisation (ranking.c passes 0).
"""
import math
from functools import lru_cache

import torch
import torch.nn as nn
import torch.nn.functional as F

KINDS = ("mlp", "dcn", "dlrm", "wide_n_deep", "deepfm")

DEFAULTS = {
    "mlp_layers": [128, 64, 32],
    "activation": "relu",
    "dropout": 0.0,
    "embeddings_dim": 128,
    "embedding_sizes_multiplier": 2.0,
    "dcn_layers": 1,
    "wnd_hashed_cross_num_bins": 10000,
    "wnd_ignore": [],
    "l2_reg": 1e-5,
    "embeddings_l2_reg": 0.0,
    "wnd_wide_l2_reg": 1e-5,
    "dlrm_top_dots_only": False,
}

# ---- XXH64 (Collet, xxHash specification, "XXH64 algorithm description") in pure Python ----
_M64 = (1 << 64) - 1
_P1 = 0x9E3779B185EBCA87
_P2 = 0xC2B2AE3D27D4EB4F
_P3 = 0x165667B19E3779F9
_P4 = 0x85EBCA77C2B2AE63
_P5 = 0x27D4EB2F165667C5


def _rotl(x, r):
    return ((x << r) | (x >> (64 - r))) & _M64


def _round(acc, lane):
    acc = (acc + lane * _P2) & _M64
    return (_rotl(acc, 31) * _P1) & _M64


def _merge(acc, v):
    acc ^= _round(0, v)
    return (acc * _P1 + _P4) & _M64


def xxh64(data, seed=0):
    """XXH64 of bytes `data`. Published vectors (seed 0), checked at import:

    >>> hex(xxh64(b""))
    '0xef46db3751d8e999'
    >>> hex(xxh64(b"a"))
    '0xd24ec4f1a98c6e5b'
    >>> hex(xxh64(b"abc"))
    '0x44bc2cf5ad770999'
    >>> hex(xxh64(b"Nobody inspects the spammish repetition"))
    '0xfbcea83c8a378bf1'
    """
    data = bytes(data)
    n, i = len(data), 0
    if n >= 32:
        v1 = (seed + _P1 + _P2) & _M64
        v2 = (seed + _P2) & _M64
        v3 = seed & _M64
        v4 = (seed - _P1) & _M64
        while i + 32 <= n:
            v1 = _round(v1, int.from_bytes(data[i:i + 8], "little"))
            v2 = _round(v2, int.from_bytes(data[i + 8:i + 16], "little"))
            v3 = _round(v3, int.from_bytes(data[i + 16:i + 24], "little"))
            v4 = _round(v4, int.from_bytes(data[i + 24:i + 32], "little"))
            i += 32
        h = (_rotl(v1, 1) + _rotl(v2, 7) + _rotl(v3, 12) + _rotl(v4, 18)) & _M64
        for v in (v1, v2, v3, v4):
            h = _merge(h, v)
    else:
        h = (seed + _P5) & _M64
    h = (h + n) & _M64
    while i + 8 <= n:
        h ^= _round(0, int.from_bytes(data[i:i + 8], "little"))
        h = (_rotl(h, 27) * _P1 + _P4) & _M64
        i += 8
    if i + 4 <= n:
        h ^= (int.from_bytes(data[i:i + 4], "little") * _P1) & _M64
        h = (_rotl(h, 23) * _P2 + _P3) & _M64
        i += 4
    while i < n:
        h ^= (data[i] * _P5) & _M64
        h = (_rotl(h, 11) * _P1) & _M64
        i += 1
    h ^= h >> 33
    h = (h * _P2) & _M64
    h ^= h >> 29
    h = (h * _P3) & _M64
    h ^= h >> 32
    return h


XXH64_VECTORS = {
    b"": 0xEF46DB3751D8E999,
    b"a": 0xD24EC4F1A98C6E5B,
    b"abc": 0x44BC2CF5AD770999,
    b"Nobody inspects the spammish repetition": 0xFBCEA83C8A378BF1,
}
for _data, _want in XXH64_VECTORS.items():
    assert xxh64(_data) == _want, "xxh64(%r) = %#x, expected %#x" % (_data, xxh64(_data), _want)


@lru_cache(maxsize=1 << 20)
def hash_int(v):
    """rk_hash_int: xxh64 (seed 0) of the int64 as 8 little-endian bytes."""
    return xxh64((int(v) & _M64).to_bytes(8, "little"))


def hash_cross(ha, hb):
    """rk_hash_cross: xxh64 of two hashes as 16 little-endian bytes."""
    return xxh64(ha.to_bytes(8, "little") + hb.to_bytes(8, "little"))


def hash_cross_ids(a, b, buckets):
    """Wide & Deep's crossed ids as reckon's hash_cross op: 1 + h mod (buckets - 1), 0 when
    either id is 0 (padding). a, b: int64 tensors of the same shape; returns one like them."""
    pairs = {}
    out = []
    for x, y in zip(a.reshape(-1).tolist(), b.reshape(-1).tolist()):
        if x == 0 or y == 0:
            out.append(0)
            continue
        k = (x, y)
        if k not in pairs:
            pairs[k] = 1 + hash_cross(hash_int(x), hash_int(y)) % (buckets - 1)
        out.append(pairs[k])
    return torch.tensor(out, dtype=torch.int64, device=a.device).reshape(a.shape)


# ---- the models ----

def embedding_dim(cardinality, multiplier):
    """rk_model_embedding_dim: ceil(cardinality^0.25 * multiplier) up to a multiple of 8, >= 8."""
    d = int(math.ceil(math.pow(float(cardinality), 0.25) * multiplier))
    return 8 if d < 8 else (d + 7) // 8 * 8


def _ignored(ignore, a, b):
    return ("%s:%s" % (a, b)) in ignore or ("%s:%s" % (b, a)) in ignore


_ACTS = {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh, "none": lambda x: x}


class RankingModel(nn.Module):
    def __init__(self, kind, schema, cfg=None):
        super().__init__()
        if kind not in KINDS:
            raise ValueError("kind %r: expected one of %s" % (kind, ", ".join(KINDS)))
        c = dict(DEFAULTS)
        c.update(cfg or {})
        if c.get("dlrm_top_input") == "dots":
            c["dlrm_top_dots_only"] = True
        self.kind, self.cfg = kind, c
        self.cat_names = [f["name"] for f in schema.get("categorical", [])]
        self.cardinality = [int(f["cardinality"]) for f in schema.get("categorical", [])]
        self.cont_names = list(schema.get("continuous", []))
        self.n_cat, self.n_cont = len(self.cat_names), len(self.cont_names)
        if self.n_cat == 0 and kind not in ("mlp", "dcn"):
            raise ValueError("model %s needs categorical features" % kind)
        same_dim = kind in ("dlrm", "deepfm")
        self.dims = [int(c["embeddings_dim"]) if same_dim else embedding_dim(v, c["embedding_sizes_multiplier"])
                     for v in self.cardinality]
        self.act = _ACTS[c["activation"]]
        self._names = []          # reckon's names in creation order
        self._sparse = set()
        self._kernels = []        # names regularised by l2_reg
        self._emb_l2 = []         # (table name, feature index or cross key): embeddings_l2_reg
        self._wide_l2 = []        # the same with wnd_wide_l2_reg
        self.crosses = []         # (i, j) of wide_n_deep's hashed crosses
        for i, n in enumerate(self.cat_names):
            self._table("embeddings." + n, self.cardinality[i], self.dims[i])
            self._emb_l2.append(("embeddings." + n, i))
        width = sum(self.dims) + self.n_cont
        if kind == "mlp":
            self._mlp("mlp", width)
        elif kind == "dcn":
            for l in range(int(c["dcn_layers"])):
                self._dense("cross.%d.weight" % l, width, width, track=True)
                self._dense("cross.%d.bias" % l, width, 0, track=False)
            self._mlp("mlp", width)
        elif kind == "dlrm":
            D = int(c["embeddings_dim"])
            if self.n_cont:
                self._dense("bottom_mlp.0.weight", D, self.n_cont)
                self._dense("bottom_mlp.0.bias", D, 0)
                top = D + (self.n_cat + 1) * self.n_cat // 2
            else:
                if self.n_cat < 2:
                    raise ValueError("dlrm needs at least two categorical features")
                dots = self.n_cat * (self.n_cat - 1) // 2
                top = dots if c["dlrm_top_dots_only"] else D * self.n_cat + dots
            self._mlp("top_mlp", top)
        elif kind == "wide_n_deep":
            for i, n in enumerate(self.cat_names):
                self._table("first_order." + n, self.cardinality[i], 1)
                self._wide_l2.append(("first_order." + n, i))
            bins = int(c["wnd_hashed_cross_num_bins"])
            for i in range(self.n_cat):
                for j in range(i + 1, self.n_cat):
                    if _ignored(c["wnd_ignore"], self.cat_names[i], self.cat_names[j]):
                        continue
                    name = "wide_cross.%s.%s" % (self.cat_names[i], self.cat_names[j])
                    self._table(name, bins, 1)
                    self._wide_l2.append((name, (i, j)))
                    self.crosses.append((i, j))
            self._mlp("mlp", width)
        else:  # deepfm
            for i, n in enumerate(self.cat_names):
                self._table("first_order." + n, self.cardinality[i], 1)
            self._mlp("mlp", width)
        self._last = None

    # -- parameters, registered as name with "." -> "/" (torch forbids dots) --
    def _add(self, name, tensor, sparse):
        self.register_parameter(name.replace(".", "/"), nn.Parameter(tensor))
        self._names.append(name)
        if sparse:
            self._sparse.add(name)

    def _table(self, name, V, D):
        self._add(name, torch.empty(V, D).uniform_(-0.05, 0.05), True)

    def _dense(self, name, out, inp, track=True):
        if inp:
            lim = math.sqrt(6.0 / (inp + out))
            t = torch.empty(out, inp).uniform_(-lim, lim)
        else:
            t = torch.zeros(out)
        self._add(name, t, False)
        if track:
            self._kernels.append(name)

    def _mlp(self, prefix, width):
        for l, units in enumerate(self.cfg["mlp_layers"]):
            self._dense("%s.%d.weight" % (prefix, l), int(units), width)
            self._dense("%s.%d.bias" % (prefix, l), int(units), 0)
            width = int(units)
        self._dense("output.weight", 1, width)
        self._dense("output.bias", 1, 0)

    def param(self, name):
        return getattr(self, name.replace(".", "/"))

    def is_sparse(self, name):
        return name in self._sparse

    def reckon_parameters(self):
        """(reckon name, Parameter) in reckon's creation order."""
        return [(n, self.param(n)) for n in self._names]

    # -- blocks --
    def _lookup(self, name, ids):
        """table[ids] with id 0 giving zeros (and no gradient), whatever row 0 holds."""
        e = F.embedding(ids, self.param(name), padding_idx=0, sparse=True)
        return e * (ids != 0).unsqueeze(-1).to(e.dtype)

    def _run_mlp(self, prefix, x, n):
        for l in range(n):
            w, b = self.param("%s.%d.weight" % (prefix, l)), self.param("%s.%d.bias" % (prefix, l))
            x = self.act(F.linear(x, w, b))
            if self.cfg["dropout"] > 0:
                x = F.dropout(x, self.cfg["dropout"], self.training)
        return x

    def _deep(self, x, prefix="mlp"):
        x = self._run_mlp(prefix, x, len(self.cfg["mlp_layers"]))
        return F.linear(x, self.param("output.weight"), self.param("output.bias"))

    @staticmethod
    def _dots(T):
        """T (B, N, D) -> <T_i, T_j> for i = 1..N-1, j < i, row-major: (B, N(N-1)/2)."""
        Z = torch.bmm(T, T.transpose(1, 2))
        li = [i for i in range(T.shape[1]) for j in range(i)]
        lj = [j for i in range(T.shape[1]) for j in range(i)]
        return Z[:, li, lj]

    def forward(self, cat_ids, dense=None):
        if self.n_cont == 0:
            dense = None
        elif dense is None or dense.shape[1] != self.n_cont:
            raise ValueError("the schema has %d continuous features: dense must be (B, %d)"
                             % (self.n_cont, self.n_cont))
        ids = [cat_ids[:, i] for i in range(self.n_cat)]
        emb = [self._lookup("embeddings." + n, ids[i]) for i, n in enumerate(self.cat_names)]
        flat = torch.cat(emb + ([dense] if dense is not None else []), dim=1) if emb or dense is not None else None
        cross_ids = {}
        c = self.cfg
        if self.kind == "mlp":
            logit = self._deep(flat)
        elif self.kind == "dcn":
            x0 = x = flat
            for l in range(int(c["dcn_layers"])):
                x = x0 * F.linear(x, self.param("cross.%d.weight" % l), self.param("cross.%d.bias" % l)) + x
            logit = self._deep(x)
        elif self.kind == "dlrm":
            if dense is not None:
                bottom = self._run_mlp("bottom_mlp", dense, 1)
                x = torch.cat([bottom, self._dots(torch.stack([bottom] + emb, dim=1))], dim=1)
            else:
                dots = self._dots(torch.stack(emb, dim=1))
                x = dots if c["dlrm_top_dots_only"] else torch.cat([emb[0], dots] + emb[1:], dim=1)
            logit = self._deep(x, "top_mlp")
        elif self.kind == "wide_n_deep":
            wide = sum(self._lookup("first_order." + n, ids[i]) for i, n in enumerate(self.cat_names))
            bins = int(c["wnd_hashed_cross_num_bins"])
            for i, j in self.crosses:
                h = hash_cross_ids(ids[i], ids[j], bins)
                cross_ids[(i, j)] = h
                wide = wide + self._lookup("wide_cross.%s.%s" % (self.cat_names[i], self.cat_names[j]), h)
            logit = wide + self._deep(flat)
        else:  # deepfm
            first = torch.cat([self._lookup("first_order." + n, ids[i]) for i, n in enumerate(self.cat_names)], dim=1)
            V = torch.stack(emb, dim=1)                                   # (B, F, D)
            fm = 0.5 * (V.sum(1) ** 2 - (V ** 2).sum(1)).sum(1, keepdim=True) + first.sum(1, keepdim=True)
            logit = fm + self._deep(flat)
        self._last = (ids, cross_ids)
        return logit

    # -- regularisation of the last forward's batch --
    def _rows_l2(self, name, ids):
        rows = torch.unique(ids[ids != 0])
        if rows.numel() == 0:
            return self.param(name).new_zeros(())
        return F.embedding(rows, self.param(name), sparse=True).pow(2).sum()

    def regularization(self):
        if self._last is None:
            raise RuntimeError("regularization() needs a forward first (it reads that batch's ids)")
        ids, cross_ids = self._last
        c = self.cfg
        reg = self.param(self._names[0]).new_zeros(())
        if c["wnd_wide_l2_reg"] > 0:
            for name, key in self._wide_l2:
                rows = cross_ids[key] if isinstance(key, tuple) else ids[key]
                reg = reg + c["wnd_wide_l2_reg"] * self._rows_l2(name, rows)
        if c["l2_reg"] > 0 and self._kernels:
            reg = reg + c["l2_reg"] * sum(self.param(n).pow(2).sum() for n in self._kernels)
        if c["embeddings_l2_reg"] > 0:
            for name, i in self._emb_l2:
                reg = reg + c["embeddings_l2_reg"] * self._rows_l2(name, ids[i])
        return reg


def build(kind, schema, cfg=None):
    """The model `kind` ("mlp", "dcn", "dlrm", "wide_n_deep", "deepfm") over `schema` with the
    rk_ranking_config fields in `cfg` (see the module's docstring)."""
    return RankingModel(kind, schema, cfg)


def loss(model, logit, label, weight=None, regression=False):
    """(total, regularisation) for the batch of model's last forward: sum_i w_i l_i / B
    (l: BCE with logits, or squared error for a regression) plus the regularisation."""
    label = label.reshape(logit.shape).to(logit.dtype)
    w = torch.ones_like(logit) if weight is None else weight.reshape(logit.shape).to(logit.dtype)
    if regression:
        data = (w * (logit - label) ** 2).mean()
    else:
        data = F.binary_cross_entropy_with_logits(logit, label, weight=w, reduction="mean")
    reg = model.regularization()
    return data + reg, reg


def adam_step(model, state, lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-7):
    """One Adam step in Keras' epsilon-hat form, lazy on tables, reckon's RK_ADAM_EPS_HAT:
    w -= lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps), t shared by all parameters.
    Dense parameters here by hand (torch.optim.Adam puts eps after the bias correction);
    tables by torch.optim.SparseAdam, which is this formula on the rows with a gradient.
    state: a dict, empty before the first step."""
    if not state:
        tables = [p for n, p in model.reckon_parameters() if model.is_sparse(n)]
        state["sparse"] = torch.optim.SparseAdam(tables, lr=lr, betas=(beta1, beta2), eps=eps) if tables else None
        state["t"] = 0
        state["m"], state["v"] = {}, {}
    state["t"] += 1
    t = state["t"]
    step = lr * math.sqrt(1 - beta2 ** t) / (1 - beta1 ** t)
    with torch.no_grad():
        for n, p in model.reckon_parameters():
            if model.is_sparse(n) or p.grad is None:
                continue
            m = state["m"].setdefault(n, torch.zeros_like(p))
            v = state["v"].setdefault(n, torch.zeros_like(p))
            m.mul_(beta1).add_(p.grad, alpha=1 - beta1)
            v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
            p.sub_(step * m / (v.sqrt() + eps))
    if state["sparse"] is not None:
        state["sparse"].step()
