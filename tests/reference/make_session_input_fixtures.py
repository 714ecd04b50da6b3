#!/usr/bin/python3
"""Write PyTorch reference fixtures for the session models' input stage
(tests/unit/test_models_session_inputs_reference.c; reckon's src/models/session_inputs.c).

Run with Debian's python3 and torch 1.13:  /usr/bin/python3 tests/reference/make_session_input_fixtures.py
The models are tests/reference/session_models.py, whose input stage follows recsys_meta_model.py
(tag recsys2021): continuous features projected (numeric_to_embedding_layers) or soft one-hot
encoded (SoftEmbedding), the elementwise_sum_multiply_item_embedding aggregation, per-feature and
all-feature LayerNorms, and session-aware past sessions concatenated before the session. Cases:
  inputs_project       GPT-2 causal LM, concat, price projected to 3, LayerNorm per feature and over all
  inputs_elementwise   GPT-2 causal LM, item * (1 + category to item_dim + price projected to item_dim)
  inputs_soft_one_hot  BERT masked LM (fixed draws), elementwise, price soft one-hot encoded (4 bins, 3 wide)
  session_aware        GPT-2 causal LM, concat, each feature's bef_ column (P = 3) before the session
  inputs_continuous_projection   BERT masked LM, two continuous features through one layer
                       (Transformers4Rec's continuous_projection), the category table embedding_dim_default wide
Each is tests/reference/fixtures/session_<name>.json as make_session_fixtures.py writes them, plus
"features" (with past_of for a bef_ column), and for session_aware "past_lengths" (B) and the bef_
lists; mask, keys and labels cover the P + T rows (the past's: no [MASK], no label).
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import session_models as sm  # noqa: E402
from make_adamw_fixtures import TransformersAdamW  # noqa: E402
from make_session_fixtures import ADAMW, B, LENGTHS, OUT, STEPS, T, V, t2j  # noqa: E402

PAST = 3
PAST_LENGTHS = [4, 0, 2, 3]     # one longer than PAST (its last PAST count), one session without a past


def lists_and_windows(feats, lengths, width, gen):
    """Ragged lists per feature and the (B, width) windows the model reads (the last width values, right-padded)."""
    lists, ids, conts = {}, {}, {}
    for f in feats:
        vals = []
        for n in lengths:
            if f["categorical"]:
                vals.append(torch.randint(1, f["cardinality"], (n,), generator=gen))
            else:
                vals.append(torch.randn(n, generator=gen, dtype=torch.float32).double())
        lists[f["name"]] = torch.cat(vals)
        win = torch.zeros(B, width, dtype=vals[0].dtype)
        for b, v in enumerate(vals):
            v = v[len(v) - min(len(v), width):]
            win[b, :len(v)] = v
        (ids if f["categorical"] else conts)[f["name"]] = win
    return lists, ids, conts


def case(name, cfg, mlm=False, session_aware=False, extra=()):
    feats = [{"name": "category-list", "categorical": True, "cardinality": 6, "dim": cfg.get("dim", 3), "is_item": False},
             {"name": "item_id-list", "categorical": True, "cardinality": V, "dim": cfg["item_dim"], "is_item": True},
             {"name": "price-list", "categorical": False, "is_item": False}, *extra]
    gen = torch.Generator().manual_seed(len(name) + 7)
    P_, mods = sm.make_params({**cfg, "T": T + (PAST if session_aware else 0)}, feats, seed=len(name) + 200)
    lists, ids, conts = lists_and_windows(feats, LENGTHS, T, gen)
    items = ids["item_id-list"]
    mask, labels = sm.masked_masking(items, 0.4, gen) if mlm else sm.causal_masking(items)
    keys = items != 0
    past, tensors = None, {}
    if session_aware:
        past_feats = [{**f, "name": "bef_" + f["name"]} for f in feats]
        plists, pids, pconts = lists_and_windows(past_feats, PAST_LENGTHS, PAST, gen)
        strip = lambda d: {k[len("bef_"):]: v for k, v in d.items()}  # noqa: E731
        past = (strip(pids), strip(pconts))
        tensors.update({"past_lengths": torch.tensor(PAST_LENGTHS), **{"list:" + k: v for k, v in plists.items()}})
        zeros = torch.zeros(B, PAST, dtype=torch.bool)
        mask = torch.cat([zeros, mask], 1)
        labels = torch.cat([zeros.long(), labels], 1)
        keys = torch.cat([pids["bef_item_id-list"] != 0, keys], 1)
    tensors.update({"lengths": torch.tensor(LENGTHS), **{"list:" + k: v for k, v in lists.items()},
                    "mask": mask.long(), "keys": keys.long(), "labels": labels,
                    **{k: v.detach().clone() for k, v in P_.items()}})

    def run():
        return sm.forward(P_, mods, {**cfg, "T": T + (PAST if session_aware else 0)}, feats, ids, conts, mask, keys,
                          labels, past)

    loss = run()
    loss.backward()
    tensors["out:loss"] = loss
    tensors.update({"grad:" + k: v.grad.clone() for k, v in P_.items()})
    names = list(P_)
    decay = [P_[k] for k in names if not sm.no_decay(k, cfg["model_type"])]
    nodecay = [P_[k] for k in names if sm.no_decay(k, cfg["model_type"])]
    opt = TransformersAdamW([{"params": decay, "weight_decay": ADAMW["weight_decay"]},
                             {"params": nodecay, "weight_decay": 0.0}], lr=ADAMW["lr"],
                            betas=(ADAMW["beta1"], ADAMW["beta2"]), eps=ADAMW["eps"], weight_decay=0.0)
    for s in range(1, STEPS + 1):
        opt.step()
        for p in P_.values():
            p.grad = None
        loss = run()
        tensors["out:loss@%d" % s] = loss
        if s < STEPS:
            loss.backward()
    tensors.update({"step%d:%s" % (STEPS, k): v for k, v in P_.items()})
    reckon_cfg = {"model_type": cfg["model_type"], "d_model": cfg["d_model"], "n_layer": cfg["n_layer"],
                  "n_head": cfg["n_head"], "session_seq_length_max": T, "item_embedding_dim": cfg["item_dim"],
                  "mf_constrained_embeddings": False, "layer_norm_featurewise": cfg["ln_featurewise"],
                  "layer_norm_eps": cfg["eps"], "key_padding_mask": True, "dropout": 0.0,
                  "hidden_act": "gelu_new" if cfg["model_type"] == "gpt2" else "gelu",
                  "embedding_dim_from_cardinality_multiplier": 1.5,
                  "input_features_aggregation": "elementwise_sum_multiply_item_embedding"
                  if cfg.get("aggregation") == "elementwise" else "concat",
                  "numeric_features_project_to_embedding_dim": cfg.get("project", 0),
                  "numeric_features_soft_one_hot_encoding_num_embeddings": cfg.get("bins", 0),
                  "layer_norm_all_features": cfg.get("ln_all", False),
                  "continuous_projection": cfg.get("continuous_projection", 0),
                  "embedding_dim_default": cfg.get("dim", 0) if cfg.get("dim") else 0,
                  "session_aware": session_aware, "session_aware_past_seq_length_max": PAST}
    features = [{"name": f["name"], "categorical": f["categorical"], "cardinality": f.get("cardinality", 0),
                 "table": f["name"], "is_item": f["is_item"]} for f in feats]
    if session_aware:
        features += [{**x, "name": "bef_" + x["name"], "table": "bef_" + x["name"], "is_item": False,
                      "past_of": x["name"]} for x in features]
    with open(os.path.join(OUT, "session_%s.json" % name), "w") as f:
        json.dump({"name": name, "config": reckon_cfg, "features": features, "params": names, "adamw": ADAMW,
                   "tensors": {k: t2j(v) for k, v in tensors.items()}}, f, separators=(",", ":"))


if __name__ == "__main__":
    torch.set_default_dtype(torch.float64)
    base = {"d_model": 8, "n_head": 2, "n_layer": 2, "item_dim": 6, "eps": 1e-5, "temperature": 1.0,
            "smoothing": 0.0, "key_padding_mask": True, "tied": False}
    case("inputs_project", {**base, "model_type": "gpt2", "ln_featurewise": True, "project": 3, "ln_all": True})
    case("inputs_elementwise", {**base, "model_type": "gpt2", "ln_featurewise": False, "project": 3,
                                "aggregation": "elementwise"})
    case("inputs_soft_one_hot", {**base, "model_type": "bert", "ln_featurewise": False, "project": 3, "bins": 4,
                                 "aggregation": "elementwise"}, mlm=True)
    case("session_aware", {**base, "model_type": "gpt2", "ln_featurewise": True, "project": 2}, session_aware=True)
    case("inputs_continuous_projection", {**base, "model_type": "bert", "ln_featurewise": False,
                                          "continuous_projection": 4, "dim": 5},
         mlm=True, extra=[{"name": "age-list", "categorical": False, "is_item": False}])
