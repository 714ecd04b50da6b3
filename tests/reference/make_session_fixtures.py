#!/usr/bin/python3
"""Write PyTorch reference fixtures for whole session models (tests/unit/test_models_session_reference.c).

Run with Debian's python3 and torch 1.13:  /usr/bin/python3 tests/reference/make_session_fixtures.py
The models are tests/reference/session_models.py. Three cases: a GPT-2 causal LM (untied output,
per-feature LayerNorm), a BERT-style masked LM (tied output with its bias, fixed masking draws,
label smoothing and a temperature) and a GRU causal LM. Each is
tests/reference/fixtures/session_<name>.json: "config" (reckon's settings), "features", "params"
(names in reckon's order), "adamw" and "tensors":
  lengths (B)               each session's items in the data (one is longer than T: the last T count)
  list:<feature>            the sessions' lists, concatenated
  mask, keys, labels (B, T) the masking the model saw ([MASK] rows, real rows, targets; 0 none)
  <param>                   initial values;  out:loss, grad:<param>
  out:loss@<s>, step3:<param>   after s steps of Hugging Face's AdamW (weight decay 0.01 but on
                            biases and LayerNorm weights)
Values are float32 numbers; the models run in float64, so a difference in C is reckon's float32.
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import session_models as sm  # noqa: E402
from make_adamw_fixtures import TransformersAdamW  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
B, T, V, STEPS = 4, 5, 13, 3
ADAMW = {"lr": 1e-2, "weight_decay": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-6}
LENGTHS = [7, 3, 5, 2]


def t2j(t):
    t = t.detach()
    data = t.reshape(-1).tolist()
    if t.dtype.is_floating_point:
        data = [float("%.9g" % v) for v in data]
    return {"shape": list(t.shape), "data": data}


def sessions(feats, gen):
    """Ragged lists per feature, and the (B, T) windows the model reads (the last T, right-padded)."""
    lists, ids, conts = {}, {}, {}
    for f in feats:
        vals = []
        for n in LENGTHS:
            if f["categorical"]:
                vals.append(torch.randint(1, f["cardinality"], (n,), generator=gen))
            else:
                vals.append(torch.randn(n, generator=gen, dtype=torch.float32).double())
        lists[f["name"]] = torch.cat(vals)
        win = torch.zeros(B, T, dtype=vals[0].dtype)
        for b, v in enumerate(vals):
            v = v[-T:]
            win[b, :len(v)] = v
        (ids if f["categorical"] else conts)[f["name"]] = win
    return lists, ids, conts


def case(name, cfg, mlm, plm=False):
    feats = [{"name": "category-list", "categorical": True, "cardinality": 6, "dim": 3, "is_item": False},
             {"name": "item_id-list", "categorical": True, "cardinality": V, "dim": cfg["item_dim"], "is_item": True},
             {"name": "price-list", "categorical": False, "is_item": False}]
    gen = torch.Generator().manual_seed(len(name))
    P, mods = sm.make_params(cfg, feats, seed=len(name) + 100)
    lists, ids, conts = sessions(feats, gen)
    items = ids["item_id-list"]
    keys = items != 0
    perm = None
    if plm:   # the masked rows' content stays visible (plm_mask_input off): no [MASK] rows
        masked, labels, perm = sm.plm_masking(items, cfg["plm_probability"], cfg["plm_max_span_length"], gen)
        mask = torch.zeros_like(masked)
    else:
        mask, labels = sm.masked_masking(items, 0.4, gen) if mlm else sm.causal_masking(items)
    tensors = {"lengths": torch.tensor(LENGTHS), **{"list:" + k: v for k, v in lists.items()},
               "mask": mask.long(), "keys": keys.long(), "labels": labels,
               **{k: v.detach().clone() for k, v in P.items()}}
    if plm:
        tensors["hidden"] = perm.long()

    def run():
        return sm.forward(P, mods, cfg, feats, ids, conts, mask, keys, labels, perm=perm)

    loss = run()
    loss.backward()
    tensors["out:loss"] = loss
    tensors.update({"grad:" + k: v.grad.clone() for k, v in P.items()})
    names = list(P)
    decay = [P[k] for k in names if not sm.no_decay(k, cfg["model_type"])]
    nodecay = [P[k] for k in names if sm.no_decay(k, cfg["model_type"])]
    opt = TransformersAdamW([{"params": decay, "weight_decay": ADAMW["weight_decay"]},
                             {"params": nodecay, "weight_decay": 0.0}], lr=ADAMW["lr"],
                            betas=(ADAMW["beta1"], ADAMW["beta2"]), eps=ADAMW["eps"], weight_decay=0.0)
    for s in range(1, STEPS + 1):
        opt.step()
        for p in P.values():
            p.grad = None
        loss = run()
        tensors["out:loss@%d" % s] = loss
        if s < STEPS:
            loss.backward()
    tensors.update({"step%d:%s" % (STEPS, k): v for k, v in P.items()})
    reckon_cfg = {"model_type": cfg["model_type"], "d_model": cfg["d_model"], "n_layer": cfg["n_layer"],
                  "n_head": cfg["n_head"], "session_seq_length_max": T, "item_embedding_dim": cfg["item_dim"],
                  "mf_constrained_embeddings": cfg["tied"], "layer_norm_featurewise": cfg["ln_featurewise"],
                  "layer_norm_eps": cfg["eps"], "softmax_temperature": cfg["temperature"],
                  "label_smoothing": cfg["smoothing"], "key_padding_mask": cfg["key_padding_mask"],
                  "hidden_act": "gelu_new" if cfg["model_type"] == "gpt2" else "gelu", "dropout": 0.0,
                  "embedding_dim_from_cardinality_multiplier": 1.5,
                  **{k: cfg[k] for k in ("plm", "plm_probability", "plm_max_span_length", "mem_len", "mlm") if k in cfg}}
    with open(os.path.join(OUT, "session_%s.json" % name), "w") as f:
        json.dump({"name": name, "config": reckon_cfg, "params": names, "adamw": ADAMW,
                   "tensors": {k: t2j(v) for k, v in tensors.items()}}, f, separators=(",", ":"))


if __name__ == "__main__":
    torch.set_default_dtype(torch.float64)
    base = {"d_model": 8, "n_head": 2, "n_layer": 2, "T": T, "item_dim": 6, "eps": 1e-5, "temperature": 1.0,
            "smoothing": 0.0, "key_padding_mask": True}
    case("gpt2", {**base, "model_type": "gpt2", "tied": False, "ln_featurewise": True}, mlm=False)
    case("bert", {**base, "model_type": "bert", "tied": True, "ln_featurewise": False, "temperature": 0.7,
                  "smoothing": 0.1}, mlm=True)
    case("gru", {**base, "model_type": "gru", "tied": False, "ln_featurewise": False, "n_layer": 1,
                 "key_padding_mask": False}, mlm=False)
    case("xlnet", {**base, "model_type": "xlnet", "tied": True, "ln_featurewise": False, "causal": True}, mlm=False)
    case("xlnet_mlm", {**base, "model_type": "xlnet", "tied": False, "ln_featurewise": False, "causal": False,
                       "mlm": True}, mlm=True)
    case("xlnet_plm", {**base, "model_type": "xlnet", "tied": True, "ln_featurewise": False, "causal": False,
                       "plm": True, "plm_probability": 0.4, "plm_max_span_length": 2}, mlm=False, plm=True)
    case("transfoxl", {**base, "model_type": "transfoxl", "tied": False, "ln_featurewise": False, "mem_len": 2},
         mlm=False)
