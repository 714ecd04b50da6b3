#!/usr/bin/python3
"""Write PyTorch reference fixtures for replacement token detection (issue 19, part RTD;
tests/unit/test_models_session_rtd.c).

Run with Debian's python3 and torch 1.13:  /usr/bin/python3 tests/reference/make_rtd_fixtures.py
The model is session_models.rtd_forward (ELECTRA's joint loss with a tied generator, Clark et al.
2020, eq. 1) over make_session_fixtures' sessions, with fixed masking and fixed replacement draws
(reckon's Gumbel draws come from its own streams): one draw per masked row, one of them the
original item (a draw of the original counts as not replaced). Four cases: electra (BERT's body,
tied output layer), electra_separate (the reference's default: a separate generator of
round(0.5 x d_model) with the discriminator's own merge_disc, LayerNorm of all features and ELECTRA
body at d_model; recsys_models.py and recsys_meta_model.py, tag recsys2021),
electra_batch_interaction (--rtd_use_batch_interaction: draws among the batch's masked items, the
discriminator reading the batch's detached merged rows at each draw's source row) and xlnet --mlm
(relative attention, untied output). Each is
tests/reference/fixtures/session_rtd_<name>.json, laid out as make_session_fixtures' files, plus
  draws (B, T)    the replacement at each masked row (0 elsewhere)
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_session_fixtures as msf  # noqa: E402
import session_models as sm  # noqa: E402
from make_adamw_fixtures import TransformersAdamW  # noqa: E402

B, T, V, STEPS, ADAMW = msf.B, msf.T, msf.V, msf.STEPS, msf.ADAMW
WEIGHTS = {"rtd_discriminator_loss_weight": 20.0, "rtd_generator_loss_weight": 0.5}


def case(name, cfg):
    feats = [{"name": "category-list", "categorical": True, "cardinality": 6, "dim": 3, "is_item": False},
             {"name": "item_id-list", "categorical": True, "cardinality": V, "dim": cfg["item_dim"], "is_item": True},
             {"name": "price-list", "categorical": False, "is_item": False}]
    gen = torch.Generator().manual_seed(len(name) + 7)
    P, mods = sm.make_params(cfg, feats, seed=len(name) + 300)
    lists, ids, conts = msf.sessions(feats, gen)
    items = ids["item_id-list"]
    keys = items != 0
    mask, labels = sm.masked_masking(items, 0.4, gen)
    if cfg.get("batch_interaction"):               # draws among the batch's masked items
        pool = items[mask]
        draws = torch.where(mask, pool[torch.randint(0, pool.numel(), items.shape, generator=gen)], torch.zeros_like(items))
    else:
        draws = torch.where(mask, torch.randint(1, V, items.shape, generator=gen), torch.zeros_like(items))
    first = mask.reshape(-1).nonzero()[0, 0]
    draws.view(-1)[first] = items.view(-1)[first]          # a draw of the original item: not replaced
    fake = torch.where(mask, draws, items)
    tensors = {"lengths": torch.tensor(msf.LENGTHS), **{"list:" + k: v for k, v in lists.items()},
               "mask": mask.long(), "keys": keys.long(), "labels": labels, "draws": draws,
               **{k: v.detach().clone() for k, v in P.items()}}

    def run():
        return sm.rtd_forward(P, mods, cfg, feats, ids, conts, mask, keys, labels, fake)

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
                  "hidden_act": "gelu", "dropout": 0.0, "embedding_dim_from_cardinality_multiplier": 1.5,
                  "mlm": cfg["model_type"] == "xlnet", "rtd": True, "rtd_tied_generator": not cfg.get("separate"),
                  **WEIGHTS}
    if cfg.get("batch_interaction"):
        reckon_cfg.update(rtd_sample_from_batch=True, rtd_use_batch_interaction=True)
    if cfg.get("separate"):
        reckon_cfg.update(electra_generator_hidden_size=cfg["generator_hidden_size"], layer_norm_all_features=cfg["ln_all"])
    with open(os.path.join(msf.OUT, "session_rtd_%s.json" % name), "w") as f:
        json.dump({"name": name, "config": reckon_cfg, "params": names, "adamw": ADAMW,
                   "tensors": {k: msf.t2j(v) for k, v in tensors.items()}}, f, separators=(",", ":"))


if __name__ == "__main__":
    torch.set_default_dtype(torch.float64)
    base = {"d_model": 8, "n_head": 2, "n_layer": 2, "T": T, "item_dim": 6, "eps": 1e-5, "temperature": 1.0,
            "smoothing": 0.0, "key_padding_mask": True, "rtd": True, **WEIGHTS}
    case("electra", {**base, "model_type": "electra", "tied": True, "ln_featurewise": False, "temperature": 0.7,
                     "smoothing": 0.1})
    case("electra_separate", {**base, "model_type": "electra", "tied": True, "ln_featurewise": True, "ln_all": True,
                              "separate": True, "generator_hidden_size": 0.5})
    case("electra_batch_interaction", {**base, "model_type": "electra", "tied": True, "ln_featurewise": True,
                                       "batch_interaction": True})
    case("xlnet_mlm", {**base, "model_type": "xlnet", "tied": False, "ln_featurewise": False, "causal": False})
