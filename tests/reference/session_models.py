"""PyTorch versions of reckon's session models (src/models/session_*.c), written from the same
published definitions (recsys_meta_model.py's inputs and head, masking.py's rules, the GPT-2 / BERT
blocks and recurrent layers of seq_blocks.py), for the fixtures of make_session_fixtures.py.

    P, mods = make_params(cfg, feats, seed)    # reckon's names in reckon's declaration order
    loss = forward(P, mods, cfg, feats, ids, conts, mask, keys, labels)

cfg: model_type (gpt2|bert|electra|gru|xlnet|transfoxl; electra's body is bert's), d_model, n_head, n_layer, T (positions, the
past's included), item_dim, tied, ln_featurewise, eps, temperature, smoothing, key_padding_mask
(xlnet: plm; transfoxl: mem_len; rtd: the discriminator's head, rtd_forward; separate: ELECTRA's separate generator,
generator_hidden_size R: the model above is the generator, round(R d_model) wide, and the discriminator has its own merge
and BERT body at d_model); the input stage's (optional): aggregation (concat|elementwise),
project, bins (soft one-hot), ln_all, continuous_projection. feats: [{name, categorical,
cardinality, is_item}]
(each categorical feature has its own table, named after it). Dropout is 0: its draws are not
PyTorch's.
"""
import torch
import torch.nn.functional as F

import rel_blocks as rb
import seq_blocks as sb

# reckon's names of a relative layer's parameters (rel_blocks.NAMES' order), per model type
REL_NAMES = {
    "xlnet": ["rel_attn.qkv.weight", "rel_attn.r.weight", "rel_attn.r_w_bias", "rel_attn.r_r_bias", "rel_attn.o.weight",
              "rel_attn.layer_norm.weight", "rel_attn.layer_norm.bias", "ff.layer_1.weight", "ff.layer_1.bias",
              "ff.layer_2.weight", "ff.layer_2.bias", "ff.layer_norm.weight", "ff.layer_norm.bias"],
    "transfoxl": ["dec_attn.qkv_net.weight", "dec_attn.r_net.weight", "dec_attn.r_w_bias", "dec_attn.r_r_bias",
                  "dec_attn.o_net.weight", "dec_attn.layer_norm.weight", "dec_attn.layer_norm.bias",
                  "pos_ff.CoreNet.0.weight", "pos_ff.CoreNet.0.bias", "pos_ff.CoreNet.3.weight",
                  "pos_ff.CoreNet.3.bias", "pos_ff.layer_norm.weight", "pos_ff.layer_norm.bias"],
}


def _rand(shape, scale, gen):
    return (torch.randn(*shape, generator=gen, dtype=torch.float32) * scale).double()


def make_params(cfg, feats, seed):
    """Parameters as float32 values held in float64 (they read back exactly in C)."""
    gen = torch.Generator().manual_seed(seed)
    T, F_ = cfg["T"], 4 * cfg["d_model"]         # a separate generator keeps the discriminator's MLP width
    D = width(cfg)
    P, mods = {}, {"blocks": [], "rnns": [], "rel": [], "disc_blocks": []}

    def add(name, t):
        P[name] = t.requires_grad_()

    I = cfg["item_dim"]
    for f in feats:
        if f["categorical"]:
            t = _rand((f["cardinality"], I if f["is_item"] else f["dim"]), 0.5, gen)
            t[0] = 0                               # padding_idx's row
            add("embedding_tables.%s.weight" % f["name"], t)
    elementwise = cfg.get("aggregation") == "elementwise"
    proj, bins, joint = cfg.get("project", 0), cfg.get("bins", 0), cfg.get("continuous_projection", 0)
    continuous = [f for f in feats if not f["categorical"]]
    width_in = 0
    for f in feats:                                # the input stage, feature by feature
        name = f["name"]
        if not f["categorical"] and joint:         # one layer for them all, at the first one's place
            if f is not continuous[0]:
                f["width"] = 0
                continue
            add("continuous_projection.weight", _rand((joint, len(continuous)), 0.6, gen))
            add("continuous_projection.bias", _rand((joint,), 0.2, gen))
            w = joint
        elif f["categorical"]:
            w = I if f["is_item"] else f["dim"]
            if elementwise and not f["is_item"]:
                add("to_item_dim.%s.weight" % name, _rand((I, w), 0.4, gen))
                add("to_item_dim.%s.bias" % name, _rand((I,), 0.1, gen))
                w = I
        elif proj and bins:
            add("numeric_soft_embeddings.%s.projection.weight" % name, _rand((bins, 1), 0.8, gen))
            add("numeric_soft_embeddings.%s.projection.bias" % name, _rand((bins,), 0.3, gen))
            add("numeric_soft_embeddings.%s.table.weight" % name, _rand((bins, proj), 0.5, gen))
            w = proj
            if elementwise:
                add("to_item_dim.%s.weight" % name, _rand((I, w), 0.4, gen))
                add("to_item_dim.%s.bias" % name, _rand((I,), 0.1, gen))
                w = I
        elif proj:
            w = I if elementwise else proj
            add("numeric_to_embedding_layers.%s.weight" % name, _rand((w, 1), 0.8, gen))
            add("numeric_to_embedding_layers.%s.bias" % name, _rand((w,), 0.3, gen))
        else:
            w = 1
        f["width"] = w
        width_in += w
        if cfg["ln_featurewise"]:
            add("layernorm_features.%s.weight" % name, 1 + _rand((w,), 0.1, gen))
            add("layernorm_features.%s.bias" % name, _rand((w,), 0.1, gen))
    if elementwise:
        width_in = I
    if cfg.get("ln_all"):
        add("layer_norm_all_input.weight", 1 + _rand((width_in,), 0.1, gen))
        add("layer_norm_all_input.bias", _rand((width_in,), 0.1, gen))
    add("mlp_merge.weight", _rand((D, width_in), 0.4, gen))
    add("mlp_merge.bias", _rand((D,), 0.1, gen))
    add("masked_item_embedding", _rand((D,), 0.3, gen))
    kind = cfg["model_type"]
    if kind == "gpt2":
        add("wpe.weight", _rand((T, D), 0.3, gen))
    if kind in ("bert", "electra"):
        add("embeddings.position_embeddings.weight", _rand((T, D), 0.3, gen))
        add("embeddings.LayerNorm.weight", 1 + _rand((D,), 0.1, gen))
        add("embeddings.LayerNorm.bias", _rand((D,), 0.1, gen))
    for l in range(cfg["n_layer"]):
        if kind in ("gpt2", "bert", "electra"):
            cls = sb.GPT2Block if kind == "gpt2" else sb.BertBlock
            blk = cls(d_model=D, heads=cfg["n_head"], d_ff=F_, ln_eps=cfg["eps"]).double()
            prefix = "h.%d." % l if kind == "gpt2" else "encoder.layer.%d." % l
            for name, p in blk.reckon_parameters():
                with torch.no_grad():
                    p.copy_((1 if name.startswith("ln_") and name.endswith("weight") else 0) + _rand(p.shape, 0.3, gen))
                P[prefix + name] = p
            mods["blocks"].append(blk)
        elif kind in REL_NAMES:
            layer = rb.RelLayer(D, cfg["n_head"], "relu" if kind == "transfoxl" else "gelu", cfg["eps"]).double()
            for (short, p), full in zip(layer.reckon_parameters(), REL_NAMES[kind]):
                with torch.no_grad():
                    p.copy_((1 if short.startswith("ln_") and short.endswith("weight") else 0) + _rand(p.shape, 0.3, gen))
                P[("layer.%d." if kind == "xlnet" else "layers.%d.") % l + full] = p
            mods["rel"].append(layer)
        else:
            rnn = torch.nn.GRU(D, D, batch_first=True).double()
            for (short, p), full in zip(sb.recurrent_parameters(rnn), ["rnn.weight_ih_l%d", "rnn.weight_hh_l%d",
                                                                       "rnn.bias_ih_l%d", "rnn.bias_hh_l%d"]):
                with torch.no_grad():
                    p.copy_(_rand(p.shape, 0.4, gen))
                P[full % l] = p
            mods["rnns"].append(rnn)
    if cfg.get("plm"):
        add("mask_emb", _rand((D,), 0.3, gen))
    if kind == "gpt2":
        add("ln_f.weight", 1 + _rand((D,), 0.1, gen))
        add("ln_f.bias", _rand((D,), 0.1, gen))
    V = next(f["cardinality"] for f in feats if f["is_item"])
    add("output_layer.weight", _rand((I, D), 0.4, gen))
    add("output_layer.bias", _rand((I,), 0.1, gen))
    if cfg["tied"]:
        add("output_layer_bias", _rand((V,), 0.1, gen))
    else:
        add("output_layer_items.weight", _rand((V, I), 0.4, gen))
        add("output_layer_items.bias", _rand((V,), 0.1, gen))
    D = cfg["d_model"]
    if cfg.get("rtd"):                             # recsys_meta_model's discriminator head
        add("dense_discriminator.weight", _rand((D, D), 0.4, gen))
        add("dense_discriminator.bias", _rand((D,), 0.1, gen))
        add("discriminator_prediction.weight", _rand((1, D), 0.4, gen))
        add("discriminator_prediction.bias", _rand((1,), 0.1, gen))
    if cfg.get("separate"):                        # its own merge_disc and ElectraModel at d_model
        if cfg.get("ln_all"):
            add("merge_disc.layer_norm_all_input.weight", 1 + _rand((width_in,), 0.1, gen))
            add("merge_disc.layer_norm_all_input.bias", _rand((width_in,), 0.1, gen))
        add("merge_disc.weight", _rand((D, width_in), 0.4, gen))
        add("merge_disc.bias", _rand((D,), 0.1, gen))
        add("discriminator.embeddings.position_embeddings.weight", _rand((T, D), 0.3, gen))
        add("discriminator.embeddings.LayerNorm.weight", 1 + _rand((D,), 0.1, gen))
        add("discriminator.embeddings.LayerNorm.bias", _rand((D,), 0.1, gen))
        for l in range(cfg["n_layer"]):
            blk = sb.BertBlock(d_model=D, heads=cfg["n_head"], d_ff=F_, ln_eps=cfg["eps"]).double()
            for name, p in blk.reckon_parameters():
                with torch.no_grad():
                    p.copy_((1 if name.startswith("ln_") and name.endswith("weight") else 0) + _rand(p.shape, 0.3, gen))
                P["discriminator.encoder.layer.%d.%s" % (l, name)] = p
            mods["disc_blocks"].append(blk)
    return P, mods


def width(cfg):
    """The model's hidden size: d_model, or a separate generator's, recsys_models.py's
    int(round(d_model x electra_generator_hidden_size))."""
    if cfg.get("separate"):
        return int(round(cfg["d_model"] * cfg["generator_hidden_size"]))
    return cfg["d_model"]


def no_decay(name, kind):
    """Hugging Face's rule (bias, LayerNorm.weight) on the reference's module names: BERT calls its
    blocks' ln_1 and ln_2 LayerNorm, GPT-2 does not."""
    if "bias" in name or "LayerNorm.weight" in name:
        return True
    return kind in ("bert", "electra") and (name.endswith("ln_1.weight") or name.endswith("ln_2.weight"))


def feature(P, cfg, f, ids, conts):
    """recsys_meta_model's feature_process for one feature: (B, L) ids or values to (B, L, width)."""
    name, elementwise = f["name"], cfg.get("aggregation") == "elementwise"
    if f["categorical"]:
        e = F.embedding(ids[name], P["embedding_tables.%s.weight" % name], padding_idx=0)
        if elementwise and not f["is_item"]:
            e = F.linear(e, P["to_item_dim.%s.weight" % name], P["to_item_dim.%s.bias" % name])
    else:
        e = conts[name].unsqueeze(-1)
        if cfg.get("project") and cfg.get("bins"):     # SoftEmbedding
            w = torch.softmax(F.linear(e, P["numeric_soft_embeddings.%s.projection.weight" % name],
                                       P["numeric_soft_embeddings.%s.projection.bias" % name]), -1)
            e = (w.unsqueeze(-1) * P["numeric_soft_embeddings.%s.table.weight" % name]).sum(-2)
            if elementwise:
                e = F.linear(e, P["to_item_dim.%s.weight" % name], P["to_item_dim.%s.bias" % name])
        elif cfg.get("project"):
            e = F.linear(e, P["numeric_to_embedding_layers.%s.weight" % name],
                         P["numeric_to_embedding_layers.%s.bias" % name])
    if cfg["ln_featurewise"]:
        e = F.layer_norm(e, (e.shape[-1],), P["layernorm_features.%s.weight" % name],
                         P["layernorm_features.%s.bias" % name], 1e-5)
    return e


def inputs(P, cfg, feats, ids, conts, past=None, merge="mlp_merge"):
    """Features, past sessions first (session-aware: past = (ids, conts) of the bef_ columns, read
    through the same feature's layers and concatenated on the time axis), aggregated, merged (by
    merge: "merge_disc", a separate generator's discriminator's own)."""
    parts = {}
    continuous = [f["name"] for f in feats if not f["categorical"]]
    for f in feats:
        if not f["categorical"] and cfg.get("continuous_projection"):   # Transformers4Rec's
            if f["name"] == continuous[0]:
                x = torch.cat([conts[k].unsqueeze(-1) for k in continuous], -1)
                parts[f["name"]] = torch.relu(F.linear(x, P["continuous_projection.weight"],
                                                       P["continuous_projection.bias"]))
            continue
        e = feature(P, cfg, f, ids, conts)
        if past is not None:
            e = torch.cat([feature(P, cfg, f, *past), e], 1)
        parts[f["name"]] = e
    if cfg.get("aggregation") == "elementwise":
        item = next(f["name"] for f in feats if f["is_item"])
        others = torch.zeros_like(parts[item])
        for f in feats:
            if not f["is_item"] and (f["categorical"] or cfg.get("project")):
                others = others + parts[f["name"]]
        x = parts[item] * (others + 1.0)
    else:
        x = torch.cat(list(parts.values()), -1)
    ln = "layer_norm_all_input" if merge == "mlp_merge" else merge + ".layer_norm_all_input"
    if cfg.get("ln_all"):
        x = F.layer_norm(x, (x.shape[-1],), P[ln + ".weight"], P[ln + ".bias"], 1e-5)
    return torch.tanh(F.linear(x, P[merge + ".weight"], P[merge + ".bias"]))


def forward(P, mods, cfg, feats, ids, conts, mask, keys, labels, past=None, perm=None):
    """ids, conts: per feature (B, T) long / double; mask, keys (B, T) bool; labels (B, T) long, 0 none.
    Session-aware: past (ids, conts) per feature (B, P), and mask, keys, labels over P + T rows.
    perm (B, T, T) bool: the permutation LM's mask (xlnet with plm)."""
    return generator_loss(P, cfg, feats, encode(P, mods, cfg, feats, ids, conts, mask, keys, past, perm), labels)[0]


def rtd_forward(P, mods, cfg, feats, ids, conts, mask, keys, labels, fake):
    """Replacement token detection (ELECTRA, Clark et al. 2020, eq. 1): the masked LM's loss, and a
    discriminator over the corrupted items fake (B, T) (the draws at the masked rows; the side
    features unchanged, no [MASK]): the generator's body (tied) or, cfg separate, the features
    through merge_disc and the discriminator's own ELECTRA body (recsys_meta_model.py, tag
    recsys2021); then dense_discriminator -> tanh -> discriminator_prediction, BCE with logits on
    the real rows against fake != item. cfg batch_interaction: the discriminator's input is the
    batch's merged rows, detached, each masked row showing the row its draw came from (batch_sources).
    Returns rtd_discriminator_loss_weight x BCE + rtd_generator_loss_weight x MLM."""
    mlm, _ = generator_loss(P, cfg, feats, encode(P, mods, cfg, feats, ids, conts, mask, keys), labels)
    item = next(f["name"] for f in feats if f["is_item"])
    corrupted = dict(ids)
    corrupted[item] = fake
    if cfg.get("batch_interaction"):               # the batch's merged rows, detached, at the draws' sources
        rows = inputs(P, cfg, feats, ids, conts).detach()
        rows = rows.reshape(-1, rows.shape[-1])[batch_sources(ids[item], mask, fake).reshape(-1)]
        h = body(P, mods, cfg, rows.reshape(*fake.shape, -1), keys)
    elif cfg.get("separate"):
        h = discriminate(P, mods, cfg, feats, corrupted, conts, keys)
    else:
        h = encode(P, mods, cfg, feats, corrupted, conts, torch.zeros_like(mask), keys)
    h = torch.tanh(F.linear(h, P["dense_discriminator.weight"], P["dense_discriminator.bias"]))
    z = F.linear(h, P["discriminator_prediction.weight"], P["discriminator_prediction.bias"]).squeeze(-1)
    replaced = (fake != ids[item]).double()
    bce = F.binary_cross_entropy_with_logits(z[keys], replaced[keys])
    return cfg["rtd_discriminator_loss_weight"] * bce + cfg["rtd_generator_loss_weight"] * mlm


def batch_sources(items, mask, fake):
    """--rtd_use_batch_interaction's source row of each row (B, T): itself, or at a masked row the
    first masked row (in row order) whose item is the one drawn there. The reference's intent
    (recsys_meta_model.py, recsys2021: the drawn interaction replaces the masked one); its code
    indexes the flattened batch with the drawn column instead."""
    flat_items, flat_mask, flat_fake = items.reshape(-1), mask.reshape(-1), fake.reshape(-1)
    masked = flat_mask.nonzero().flatten()
    src = torch.arange(flat_items.numel())
    for r in masked.tolist():
        src[r] = next(j for j in masked.tolist() if flat_items[j] == flat_fake[r])
    return src.reshape(items.shape)


def discriminate(P, mods, cfg, feats, ids, conts, keys):
    """A separate generator's discriminator: the features, merge_disc, ElectraModel's embeddings
    (positions, LayerNorm) and BERT blocks at d_model: (B, T, d_model)."""
    D = cfg["d_model"]
    x = inputs(P, cfg, feats, ids, conts, merge="merge_disc")
    x = x + P["discriminator.embeddings.position_embeddings.weight"]
    x = F.layer_norm(x, (D,), P["discriminator.embeddings.LayerNorm.weight"], P["discriminator.embeddings.LayerNorm.bias"],
                     cfg["eps"])
    for blk in mods["disc_blocks"]:
        x = blk(x, keys if cfg["key_padding_mask"] else None)
    return x


def encode(P, mods, cfg, feats, ids, conts, mask, keys, past=None, perm=None):
    """The input stage, [MASK] rows and the body: (B, T, width(cfg))."""
    x = inputs(P, cfg, feats, ids, conts, past)
    x = torch.where(mask.unsqueeze(-1), P["masked_item_embedding"], x)
    return body(P, mods, cfg, x, keys, perm)


def body(P, mods, cfg, x, keys, perm=None):
    """The model's body over its input rows x (B, T, width(cfg))."""
    D = width(cfg)
    kind = cfg["model_type"]
    key_mask = keys if cfg["key_padding_mask"] else None
    if kind == "gpt2":
        x = x + P["wpe.weight"]
        for blk in mods["blocks"]:
            x = blk(x, key_mask)
        x = F.layer_norm(x, (D,), P["ln_f.weight"], P["ln_f.bias"], cfg["eps"])
    elif kind in ("bert", "electra"):
        x = x + P["embeddings.position_embeddings.weight"]
        x = F.layer_norm(x, (D,), P["embeddings.LayerNorm.weight"], P["embeddings.LayerNorm.bias"], cfg["eps"])
        for blk in mods["blocks"]:
            x = blk(x, key_mask)
    elif kind == "xlnet" and cfg.get("plm"):   # two streams; the query stream starts as mask_emb
        g = torch.where(keys.unsqueeze(-1), P["mask_emb"], x)
        for layer in mods["rel"]:
            x, g = rb.xlnet_layer(layer, x, False, key_mask, g=g, perm=perm)
        x = g
    elif kind == "xlnet":
        for layer in mods["rel"]:
            x = rb.xlnet_layer(layer, x, cfg["causal"], key_mask)
    elif kind == "transfoxl":
        for layer in mods["rel"]:
            x = rb.transfoxl_layer(layer, x, key_mask, cfg["mem_len"])
    else:
        lengths = keys.sum(1)
        for rnn in mods["rnns"]:
            x = sb.recurrent(rnn, x, lengths)
    return x


def generator_loss(P, cfg, feats, x, labels):
    """The head at every row and cross-entropy at the labelled ones; also the logits (B, T, V)."""
    h = torch.tanh(F.linear(x, P["output_layer.weight"], P["output_layer.bias"]))
    item = next(f for f in feats if f["is_item"])
    if cfg["tied"]:
        W, b = P["embedding_tables.%s.weight" % item["name"]], P["output_layer_bias"]
    else:
        W, b = P["output_layer_items.weight"], P["output_layer_items.bias"]
    logits = F.linear(h, W, b)
    V = W.shape[0]
    return F.cross_entropy(logits.reshape(-1, V) / cfg["temperature"], labels.reshape(-1), ignore_index=0,
                           label_smoothing=cfg["smoothing"]), logits


def causal_masking(items):
    """masking.py's CausalLanguageModeling in training (predict_all): row t predicts item t + 1;
    rows without a next item hold [MASK]."""
    labels = torch.cat([items[:, 1:], torch.zeros_like(items[:, :1])], 1)
    return labels == 0, labels


def plm_masking(items, p, max_span, gen):
    """masking.py's PermutationLanguageModeling in training: spans of L ~ U{1..max_span} in contexts
    of int(L / p) items, one random item forced where none is masked, one masked item unmasked where
    all are; a random order of the T rows, unmasked rows at -1; perm[i, j] = order(i) <= order(j)
    and j masked. Returns mask (the masked rows), labels, perm."""
    B, T = items.shape
    real = items != 0
    masked = torch.zeros(B, T, dtype=torch.bool)
    for b in range(B):
        n, cur = int(real[b].sum()), 0
        while cur < n:
            span = int(torch.randint(1, max_span + 1, (1,), generator=gen))
            context = int(span / p)
            start = cur + int(torch.randint(context - span + 1, (1,), generator=gen))
            if start < n:
                masked[b, start:min(start + span, n)] = True
            cur += context
        if not masked[b].any():
            masked[b, int(torch.multinomial(real[b].double(), 1, generator=gen))] = True
        if int(masked[b].sum()) == n:
            masked[b, int(torch.multinomial(masked[b].double(), 1, generator=gen))] = False
    labels = torch.where(masked, items, torch.zeros_like(items))
    perm = torch.zeros(B, T, T, dtype=torch.bool)
    for b in range(B):
        order = torch.arange(T)[torch.randperm(T, generator=gen)]
        order = order.masked_fill(~masked[b], -1)
        perm[b] = (order[:, None] <= order[None, :]) & masked[b][None, :]
    return masked, labels, perm


def masked_masking(items, p, gen):
    """masking.py's MaskedLanguageModeling in training: Bernoulli(p) over the items, one random
    item forced, and one masked item unmasked where every item is masked."""
    B = items.shape[0]
    rows = torch.arange(B)
    real = items != 0
    m = (torch.rand(items.shape, generator=gen) < p) & real
    labels = torch.where(m, items, torch.zeros_like(items))
    force = torch.multinomial(real.double(), 1, generator=gen).squeeze(1)
    labels[rows, force] = items[rows, force]
    m = labels != 0
    full = m.sum(1) == real.sum(1)
    unmask = torch.multinomial(m.double(), 1, generator=gen).squeeze(1)
    labels[rows[full], unmask[full]] = 0
    return labels != 0, labels
