"""PyTorch versions of reckon's multi-task ranking models (src/models/ranking.c, rk_ranking_build_tasks):
the shared-bottom mlp with per-task towers, MMoE, CGC and PLE, for the fixtures of
tests/reference/make_mtl_fixtures.py. Written from the models' published descriptions and
reckon's documented semantics (include/reckon/models.h, docs/cli/train.md), reusing the
single-task module tests/reference/ranking_models.py for parameters, lookups, MLP layers,
regularisation and the Adam step.

    import multitask_models as mtl
    model = mtl.build("ple", schema, cfg)
    logits = model(cat_ids, dense)                 # a list of (B, 1), one per task
    total, task_losses, reg = mtl.loss(model, logits, labels, weights)
    model.gate_probs                               # per task: its last gate's (B, E) weights

schema: {"categorical": [{"name": ..., "cardinality": ...}, ...], "continuous": [name, ...],
         "tasks": [{"name": "click", "regression": false}, ...]}
cfg:    ranking_models' fields plus rk_ranking_config's multi-task ones: mmoe_experts,
        expert_layers, gate_dim, gate_temperature, use_task_towers, tower_layers,
        cgc_task_experts, cgc_shared_experts, ple_layers, ple_gate_original.

The models (MMoE: Ma et al. 2018; CGC and PLE: Tang et al. 2020), x0 = [emb_0, ..., dense]:
- mlp:  h = mlp.*(x0); every task reads h.
- mmoe: experts mmoe.expert.<e> (MLPs of expert_layers) on x0; task t's input is its gate
        mmoe.gate.<t> over all experts, reading x0.
- cgc:  one level (prefix "cgc"), ple: ple_layers levels (prefix "ple"). Level l has per task
        cgc_task_experts experts "<p>.<l>.expert.<task>.<e>" on the task's input (x0 at level 0,
        else the task's gate output of level l-1) and cgc_shared_experts experts
        "<p>.<l>.expert.shared.<e>" on the shared input (x0, then the shared gate's output).
        Task t's gate "<p>.<l>.gate.<task>" mixes [its own experts, then the shared ones]; every
        level but the last has a shared gate "<p>.<l>.gate.shared" mixing [task 0's experts,
        task 1's, ..., the shared ones], whose output the next level's shared experts read.
        Gates read their level's input (task t's gate: task t's input; the shared gate: the
        shared input), or x0 with ple_gate_original (the Merlin reference).
- gate: p = softmax(W_g relu(W_h x + b_h) / T) (no hidden layer when gate_dim is 0; W_g
        without bias); out = sum_e p_e expert_e. The hidden layer is named "<gate>.hidden.0".
- heads: with several tasks and use_task_towers, task t's input goes through
        "tower.<task>.*" (MLP of tower_layers) and then "output.<task>" (linear to 1 unit).
- Activations: MLP, expert and tower layers use cfg["activation"]; the gate's hidden layer is
        the documented ReLU ("units of each gate's ReLU layer", docs/cli/train.md). reckon's
        gate() builds that layer with --activation (ranking.c: mlp(..., gate_dim ...)), so the two
        agree only for activation "relu", the fixtures' setting.
- Creation order: embeddings.*, then the body (mlp.*; mmoe experts then gates in task order;
        per level: task experts in task order, shared experts, task gates, the shared gate;
        each gate hidden.0.weight, hidden.0.bias, weight), then per task tower.<task>.* and
        output.<task>.{weight,bias}.
- Loss: per task sum_i w_i l_i / B (BCE with logits, or squared error for a regression task),
        summed over tasks, plus l2_reg times the sum of squares of every dense parameter
        (MLP, expert, tower, head, gate hidden kernels and biases, gate weights) and
        embeddings_l2_reg times the sum of squares of each distinct non-padding row the batch
        looked up (ranking_models.RankingModel.regularization).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

import ranking_models as rm

KINDS = ("mlp", "mmoe", "cgc", "ple")

DEFAULTS = dict(rm.DEFAULTS)
DEFAULTS.update({
    "mmoe_experts": 4,
    "expert_layers": [64],
    "gate_dim": 64,
    "gate_temperature": 1.0,
    "use_task_towers": True,
    "tower_layers": [64],
    "cgc_task_experts": 1,
    "cgc_shared_experts": 2,
    "ple_layers": 1,
    "ple_gate_original": False,
})


class MultiTaskModel(rm.RankingModel):
    """A RankingModel's parameters and helpers (_add, _table, _dense, param, is_sparse,
    reckon_parameters, _lookup, _run_mlp, regularization) with multi-task bodies and heads."""

    def __init__(self, kind, schema, cfg=None):
        nn.Module.__init__(self)   # RankingModel.__init__ builds the single-task models
        if kind not in KINDS:
            raise ValueError("kind %r: expected one of %s" % (kind, ", ".join(KINDS)))
        c = dict(DEFAULTS)
        c.update(cfg or {})
        self.kind, self.cfg = kind, c
        self.cat_names = [f["name"] for f in schema.get("categorical", [])]
        self.cardinality = [int(f["cardinality"]) for f in schema.get("categorical", [])]
        self.cont_names = list(schema.get("continuous", []))
        self.n_cat, self.n_cont = len(self.cat_names), len(self.cont_names)
        self.tasks = [t["name"] for t in schema["tasks"]]
        self.regression = [bool(t.get("regression", False)) for t in schema["tasks"]]
        self.dims = [rm.embedding_dim(v, c["embedding_sizes_multiplier"]) for v in self.cardinality]
        self.act = rm._ACTS[c["activation"]]
        self.gate_act = torch.relu
        self._names, self._sparse, self._kernels = [], set(), []
        self._emb_l2, self._wide_l2, self.crosses = [], [], []
        self._last = None
        self.gate_probs = None
        for i, n in enumerate(self.cat_names):
            self._table("embeddings." + n, self.cardinality[i], self.dims[i])
            self._emb_l2.append(("embeddings." + n, i))
        w0 = sum(self.dims) + self.n_cont
        K = len(self.tasks)
        if kind == "mlp":
            w = self._layers("mlp", w0, c["mlp_layers"])
            widths = [w] * K
        elif kind == "mmoe":
            D = 0
            for e in range(int(c["mmoe_experts"])):
                D = self._layers("mmoe.expert.%d" % e, w0, c["expert_layers"])
            for t in self.tasks:
                self._gate("mmoe.gate." + t, w0, int(c["mmoe_experts"]))
            widths = [D] * K
        else:
            levels = 1 if kind == "cgc" else int(c["ple_layers"])
            te, se = int(c["cgc_task_experts"]), int(c["cgc_shared_experts"])
            wt, ws = [w0] * K, w0
            for l in range(levels):
                D = 0
                for k, t in enumerate(self.tasks):
                    for e in range(te):
                        D = self._layers("%s.%d.expert.%s.%d" % (kind, l, t, e), wt[k], c["expert_layers"])
                for e in range(se):
                    D = self._layers("%s.%d.expert.shared.%d" % (kind, l, e), ws, c["expert_layers"])
                for k, t in enumerate(self.tasks):
                    self._gate("%s.%d.gate.%s" % (kind, l, t), w0 if c["ple_gate_original"] else wt[k], te + se)
                if l < levels - 1:
                    self._gate("%s.%d.gate.shared" % (kind, l), w0 if c["ple_gate_original"] else ws, K * te + se)
                wt, ws = [D] * K, D
            widths = wt
        towers = K > 1 and c["use_task_towers"] and len(c["tower_layers"]) > 0
        for k, t in enumerate(self.tasks):
            w = widths[k]
            if towers:
                w = self._layers("tower." + t, w, c["tower_layers"])
            head = "output" if K == 1 else "output." + t
            self._dense(head + ".weight", 1, w)
            self._dense(head + ".bias", 1, 0)

    # -- parameters (every dense one tracked for l2_reg) --
    def _layers(self, prefix, width, layers):
        for l, units in enumerate(layers):
            self._dense("%s.%d.weight" % (prefix, l), int(units), width)
            self._dense("%s.%d.bias" % (prefix, l), int(units), 0)
            width = int(units)
        return width

    def _gate(self, prefix, width, n_experts):
        if int(self.cfg["gate_dim"]) > 0:
            width = self._layers(prefix + ".hidden", width, [int(self.cfg["gate_dim"])])
        self._dense(prefix + ".weight", n_experts, width)

    # -- blocks --
    def _experts(self, prefix, x, n):
        L = len(self.cfg["expert_layers"])
        return [self._run_mlp("%s.%d" % (prefix, e), x, L) for e in range(n)]

    def _mix(self, prefix, x, experts):
        """The gate `prefix` on x over `experts` (each (B, D)): (B, D) and its weights (B, E)."""
        h = x
        if int(self.cfg["gate_dim"]) > 0:
            h = self.gate_act(F.linear(h, self.param(prefix + ".hidden.0.weight"), self.param(prefix + ".hidden.0.bias")))
        logits = F.linear(h, self.param(prefix + ".weight"))
        p = torch.softmax(logits / float(self.cfg["gate_temperature"]), dim=-1)
        out = (p.unsqueeze(-1) * torch.stack(experts, dim=1)).sum(dim=1)
        self.all_gates[prefix] = p
        return out, p

    def forward(self, cat_ids, dense=None):
        if self.n_cont == 0:
            dense = None
        elif dense is None or dense.shape[1] != self.n_cont:
            raise ValueError("the schema has %d continuous features: dense must be (B, %d)" % (self.n_cont, self.n_cont))
        c = self.cfg
        ids = [cat_ids[:, i] for i in range(self.n_cat)]
        emb = [self._lookup("embeddings." + n, ids[i]) for i, n in enumerate(self.cat_names)]
        x0 = torch.cat(emb + ([dense] if dense is not None else []), dim=1)
        K = len(self.tasks)
        self.all_gates = {}
        probs = [None] * K
        if self.kind == "mlp":
            h = self._run_mlp("mlp", x0, len(c["mlp_layers"]))
            xs = [h] * K
        elif self.kind == "mmoe":
            ex = self._experts("mmoe.expert", x0, int(c["mmoe_experts"]))
            xs = []
            for k, t in enumerate(self.tasks):
                out, probs[k] = self._mix("mmoe.gate." + t, x0, ex)
                xs.append(out)
        else:
            levels = 1 if self.kind == "cgc" else int(c["ple_layers"])
            te, se = int(c["cgc_task_experts"]), int(c["cgc_shared_experts"])
            xt, xsh = [x0] * K, x0
            for l in range(levels):
                own = [self._experts("%s.%d.expert.%s" % (self.kind, l, t), xt[k], te) for k, t in enumerate(self.tasks)]
                shared = self._experts("%s.%d.expert.shared" % (self.kind, l), xsh, se)
                nxt = []
                for k, t in enumerate(self.tasks):
                    inp = x0 if c["ple_gate_original"] else xt[k]
                    out, probs[k] = self._mix("%s.%d.gate.%s" % (self.kind, l, t), inp, own[k] + shared)
                    nxt.append(out)
                if l < levels - 1:
                    inp = x0 if c["ple_gate_original"] else xsh
                    xsh, _ = self._mix("%s.%d.gate.shared" % (self.kind, l), inp, sum(own, []) + shared)
                xt = nxt
            xs = xt
        towers = K > 1 and c["use_task_towers"] and len(c["tower_layers"]) > 0
        logits = []
        for k, t in enumerate(self.tasks):
            x = xs[k]
            if towers:
                x = self._run_mlp("tower." + t, x, len(c["tower_layers"]))
            head = "output" if K == 1 else "output." + t
            logits.append(F.linear(x, self.param(head + ".weight"), self.param(head + ".bias")))
        self.gate_probs = probs
        self._last = (ids, {})
        return logits


def build(kind, schema, cfg=None):
    """The multi-task model `kind` ("mlp", "mmoe", "cgc", "ple") over `schema` (with "tasks")."""
    return MultiTaskModel(kind, schema, cfg)


def task_loss(logit, label, weight, regression):
    """sum_i w_i l_i / B: squared error for a regression task, else BCE with logits."""
    label = label.reshape(logit.shape).to(logit.dtype)
    w = weight.reshape(logit.shape).to(logit.dtype)
    if regression:
        return (w * (logit - label) ** 2).mean()
    return F.binary_cross_entropy_with_logits(logit, label, weight=w, reduction="mean")


def loss(model, logits, labels, weights):
    """(total, [task losses], regularisation) for the batch of the model's last forward."""
    losses = [task_loss(z, y, w, r) for z, y, w, r in zip(logits, labels, weights, model.regression)]
    reg = model.regularization()
    return sum(losses) + reg, losses, reg


adam_step = rm.adam_step
