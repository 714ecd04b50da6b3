#!/usr/bin/python3
"""The PyTorch side of bench/sessions_train.sh and bench/sessions_table.sh: the session models of
issues 18 and 19 as Transformers4Rec's research script recsys_main.py builds them (gpt2, bert,
albert, electra, xlnet, transfoxl, gru, lstm, rnn, avgseq; causal, masked, permutation LM and
ELECTRA's replacement token detection), in plain torch 1.13 (no HuggingFace: the blocks are
written here from the published definitions), trained window by window and evaluated on the next
window's sessions. It is written from the reference's description (docs:
/work/shared/reference/t4rec-notes.md 1.1, 1.3, 1.4, 2.2, 2.5) and the papers, not from reckon's C
code, so that the two can disagree.

    sessions_torch.py train --train_data W1.csv[,W2.csv...] --eval_data V2.csv[,V3.csv...]
                            --feature_config F.yaml
                            [recsys_main flags: --model_type gpt2 --d_model 64 --n_layer 2 ...]
                            [--threads 1] [--seed 1]
    sessions_torch.py popularity --train_data W1.csv[,...] --eval_data V2.csv[,...] [--k 20]
    sessions_torch.py ceiling --eval_data V2.csv[,...] --oracle ORACLE.csv [--k 20]
    sessions_torch.py selfcheck

Windows (recsys_main's incremental protocol, t4rec-notes 1.3): the t-th training file trains (the
weights and AdamW's moments carry over; the constant schedule has nothing to restart), then the
t-th evaluation file is evaluated; one "window index=t ..." line each (recall, ndcg, mrr at every
k), and the "torch ..." line averages recall and ndcg over the windows (unweighted) and times every
window's training.

Flags carry recsys_main.py's names and defaults (t4rec-notes 1.1; HF TrainingArguments' for the
training ones: batch 8, learning rate 5e-5, logging every 500 steps), so pass what the run needs.

Data: CSV as `reckon convert` writes the session ETL's Parquet (one row per session; list columns
as `[3, 17, 5]`); which columns the model reads, their cardinality and the label come from
--feature_config (recsys_main's YAML: `<column>: {dtype: categorical|float, cardinality: N,
is_label: True, emb_table: NAME}`; a flat two-level subset of YAML is read). Lists longer than
--session_seq_length_max keep their last items; shorter ones are right-padded with 0.

The model (recsys_meta_model.py, t4rec-notes 1.4, with `--inp_merge mlp --tf_out_activation tanh
--mf_constrained_embeddings` as the paper fixes them):
- inputs: one nn.Embedding per emb_table (padding_idx 0), the label's of dim item_embedding_dim or
  d_model, the others ceil(cardinality^0.25 * embedding_dim_from_cardinality_multiplier), drawn
  N(0, item_id_embeddings_init_std) / N(0, other_embeddings_init_std); optional per-feature
  LayerNorm (--layer_norm_featurewise); float features as scalars; concatenated; merge =
  Dropout(input_dropout) -> Linear(-> d_model) -> tanh.
- masking (Transformers4Rec's masking.py, t4rec-notes 2.2): CLM: labels shifted by one, rows with
  no next item take the learnable [MASK] vector (N(0, 0.001)); evaluation with
  eval_on_last_item_seq_only: one label at row n-2 (the last item), every real item stays an input.
  MLM (--model_type bert --mlm): Bernoulli(mlm_probability) over real items, plus one random real
  item per session, then one masked item unmasked where every real item was masked; masked inputs
  -> [MASK]; evaluation with eval_on_last_item_seq_only: the last real item is masked and is the
  only label. Without that flag both evaluate every next item (masking.py's predict_all).
- PLM (--model_type xlnet --plm; masking.py's PermutationLanguageModeling, t4rec-notes 2.2): spans of
  L ~ U{1..plm_max_span_length} in contexts of int(L / plm_probability) items, at least one masked
  and one visible; a random order of the rows, unmasked rows first; row i does not see masked row j
  when order(i) <= order(j); masked rows predict their own item. Evaluation with
  eval_on_last_item_seq_only: the last item is the label and no row sees it; every row causal.
- xlnet (HF's XLNetModel on inputs_embeds, from the paper's sec. 2.3 and A.2): no positions;
  dropout, n_layer layers of relative attention (score = ((q + r_w_bias) k + (q + r_r_bias) r(i - j))
  / sqrt(dh), r the projected sinusoid of each distance, XLNet's shift) post-LN, a 4 d_model FFN,
  dropout; with PLM two streams: the query stream starts as mask_emb, sees the content of rows
  before it in the order, never itself, and is what the head reads. Weights N(0, initializer_range).
- xlnet's causal LM attends one way (attn_type uni; the reference's bi lets a row see its target,
  Transformers4Rec issue #100, so both sides run at reckon's setting).
- transfoxl (HF's TransfoXLModel on inputs_embeds, Dai et al. 2019 sec. 3.3): relative attention as
  xlnet's over distances 0 .. M + T - 1, post-LN, no attention dropout, a ReLU FFN of 4 d_model;
  the reference passes no mems, so HF's init_mems gives --mem_len zero memory slots before every
  session: zero keys and values that take softmax weight by their position term alone.
- rtd (--rtd --rtd_tied_generator; Clark et al. 2020 sec. 2, recsys_meta_model.py at recsys2021,
  wired as docs/session_models.md describes reckon's): the masked LM is the generator; at its
  masked rows an item drawn by Gumbel-max from its softmax replaces the item (no gradient through
  the draw); the corrupted session (no [MASK], side features unchanged) runs through the same input
  stage and body; dense_discriminator (d -> d) -> tanh -> discriminator_prediction (d -> 1), BCE
  with logits on every real row against "replaced" (a draw of the original item is original);
  loss = rtd_discriminator_loss_weight BCE + rtd_generator_loss_weight MLM. Evaluation: the
  generator alone. The separate (untied) generator is not written, as in reckon.
- bodies: gpt2 = learned positions + dropout + n_layer pre-LN blocks (causal attention, gelu_new
  MLP of 4 d_model) + final LayerNorm; bert and electra (ElectraModel on inputs_embeds is BERT's
  body) = (inputs + learned positions) -> LayerNorm -> dropout -> n_layer post-LN blocks
  (bidirectional attention); albert = bert's embeddings, a d x d embedding_hidden_mapping_in, then
  layer i runs block int(i / (n_layer / num_hidden_groups)) (-1: one per layer); gru, lstm, rnn =
  torch.nn's (tanh rnn), dropout between layers; avgseq (recsys_models.py's AvgSeq) = row t is the
  mean of rows 0..t, no parameters.
  Attention takes a key-padding mask (the reference passes none; for the causal model it changes
  nothing on rows that have a label, since padding is on the right); --no_key_padding_mask drops it.
  The transformer's Linear and position weights N(0, initializer_range) (GPT-2's two residual
  projections per block N(0, initializer_range / sqrt(2 n_layer)), as HF's), biases 0, LayerNorm 1/0;
  the merge, the head and the GRU keep torch's default initialisation (as recsys_meta_model's).
- head: tanh(Linear(d_model -> item dim)), logits = h E^T + b with E the item table (tied) and b a
  bias initialised to 0, divided by softmax_temperature; cross-entropy over the whole catalogue
  (every row of E, padding included) on the labelled rows, label_smoothing as torch's.
- sampled softmax (--sampled_softmax --max_n_samples N, training only; Jean et al. 2015 and
  TensorFlow's sampled_softmax_loss, as docs/session_models.md describes reckon's): N distinct ids
  drawn log-uniformly over [1, V) per step, shared by the batch; every logit, the target's and the
  draws', minus log of its expected count 1 - (1 - P(id))^tries (the logQ correction); a draw equal
  to a row's target is removed; cross-entropy against the target. Evaluation scores every item.
- optimizer: AdamW as HuggingFace's Trainer sets it up: weight decay on every parameter whose name
  contains neither "bias" nor "LayerNorm.weight" (so GPT-2's ln_1/ln_2/ln_f weights decay, as in
  HF's GPT2Model, and BERT's LayerNorm weights do not); torch.optim.AdamW (eps after the bias
  correction, HF's own AdamW adds it before: a difference of order eps); constant learning rate
  (constant_with_warmup with 0 warm-up steps); --max_grad_norm clipping (HF's default 1.0).
- training: --num_train_epochs over the window's sessions, shuffled each epoch (torch.randperm
  keyed by the seed), batches of per_device_train_batch_size, the last short batch dropped with
  --dataloader_drop_last; --max_steps > 0 stops earlier. Everything is in tensors before the clock
  starts: the timed part is the epochs (shuffle, slicing, masking, forward, loss, backward, step).
- evaluation: the next window's sessions (the bench passes --eval_on_last_item_seq_only, as the
  paper does), full-catalogue scores per batch; r = 1 + #{v: s_v > s_t} + #{v < t: s_v = s_t}
  (reckon's tie rule, docs/session_metrics.md);
  Recall@k = [r <= k], NDCG@k = [r <= k] / log2(r + 1), averaged over examples (t4rec-notes 2.5).

Prints "loss step=N loss=X" every --logging_steps steps (the mean over those steps), a window line
per evaluated window, then one line
"torch model_type=... seed=... threads=... train_sessions=... steps=... train_s=... sessions_per_s=...
eval_sessions=... recall@10=... ndcg@10=... recall@20=... ndcg@20=... first_loss=... final_loss=...".
`ceiling` prints "ceiling sessions=N matched=M recall@K=... ndcg@K=..." (the synth oracle's
expected_hit / expected_ndcg averaged over the evaluated sessions, joined on session_id).
`popularity` prints "popularity windows=W recall@K=... ndcg@K=... mrr@K=..." (each window: the
training file's items by count, ties by lower id, never-seen items after them; the target is each
evaluated session's last item). `selfcheck` checks the masking rules on hand-made batches, the tie
rule of the ranks, MRR, causality (a row sees itself and no later row: gpt2, gru, lstm, rnn,
avgseq, xlnet causal, transfoxl; the bidirectional ones see later rows) and the key-padding mask of
every model, gelu_new, the AdamW groups (albert's), avgseq's mean, Transformer-XL's layer with
memory against a loop, RTD's draws and losses, the popularity floor on hand-made files, and the
GPT-2 / BERT blocks against tests/reference/seq_blocks.py's with the same weights, printing
"selfcheck ok" or exiting 1.
"""
import argparse
import math
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn


# ---- data ----

def read_feature_config(path):
    """recsys_main's feature YAML, the flat subset it uses: column -> {key: value}."""
    feats, cur = {}, None
    for raw in open(path):
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        if not line[0].isspace():
            cur = line.strip().rstrip(":").strip()
            feats[cur] = {}
            continue
        if cur is None or ":" not in line:
            raise SystemExit("sessions_torch.py: cannot read '%s' in %s" % (line.strip(), path))
        k, v = (s.strip() for s in line.split(":", 1))
        low = v.lower()
        feats[cur][k] = True if low == "true" else False if low == "false" else int(v) if v.isdigit() else v
    label = [c for c, f in feats.items() if f.get("is_label")]
    if len(label) != 1:
        raise SystemExit("sessions_torch.py: %s must mark exactly one column is_label: True" % path)
    for c, f in feats.items():
        if f.get("dtype") == "categorical" and "cardinality" not in f:
            raise SystemExit("sessions_torch.py: %s: column '%s' has no cardinality" % (path, c))
    return feats


def parse_lists(texts, T, dtype):
    """'[1, 2, 3]' strings -> (N, T) right-padded tensor of each list's last T values, and lengths."""
    out = torch.zeros(len(texts), T, dtype=dtype)
    lengths = torch.zeros(len(texts), dtype=torch.long)
    conv = float if dtype.is_floating_point else int
    for i, s in enumerate(texts):
        s = s.strip().strip("[]")
        vals = [conv(v) for v in s.split(",") if v.strip()] if s else []
        vals = vals[-T:]
        if vals:
            out[i, :len(vals)] = torch.tensor(vals, dtype=dtype)
        lengths[i] = len(vals)
    return out, lengths


def load_sessions(path, feats, T):
    import pandas as pd
    df = pd.read_csv(path, engine="c", dtype=str, keep_default_na=False)
    cols, n = {}, len(df)
    for c, f in feats.items():
        if f.get("is_control"):
            continue
        if c not in df.columns:
            raise SystemExit("sessions_torch.py: %s has no column '%s' (columns: %s)"
                             % (path, c, ", ".join(df.columns)))
        dtype = torch.long if f.get("dtype") == "categorical" else torch.float32
        cols[c], lengths = parse_lists(df[c].tolist(), T, dtype)
        if dtype == torch.long and n and not 0 <= int(cols[c].min()) <= int(cols[c].max()) < f["cardinality"]:
            raise SystemExit("sessions_torch.py: %s column '%s' holds ids from %d to %d; the feature config's "
                             "cardinality %d needs them in [0, %d]" % (path, c, int(cols[c].min()), int(cols[c].max()),
                                                                     f["cardinality"], f["cardinality"] - 1))
        if f.get("is_label"):
            cols["__length"] = lengths
    if n and int(cols["__length"].min()) < 2:
        raise SystemExit("sessions_torch.py: %s has a session with fewer than 2 items" % path)
    return cols, n


# ---- masking (t4rec-notes 2.2) ----

def clm_targets(items, last_only):
    """Causal LM: labels[t] = items[t + 1]; with last_only, only the last label is kept."""
    labels = torch.cat([items[:, 1:], torch.zeros_like(items[:, :1])], dim=1)
    if last_only:
        has = labels != 0
        rows = torch.arange(items.shape[0])
        last = has.sum(1) - 1
        only = torch.zeros_like(labels)
        only[rows, last] = labels[rows, last]
        return only, has              # inputs: every row with a next item keeps its item
    return labels, labels != 0


def mlm_targets(items, p, training, gen=None, last_only=True):
    """Masked LM: (labels, masked input positions)."""
    real = items != 0
    rows = torch.arange(items.shape[0])
    labels = torch.zeros_like(items)
    if not training and not last_only:  # predict_all: every item that has a successor
        labels, _ = clm_targets(items, False)
        return labels, labels != 0
    if not training:                  # eval_on_last_item_seq_only: the last real item
        last = real.sum(1) - 1
        labels[rows, last] = items[rows, last]
        return labels, labels != 0
    masked = (torch.rand(items.shape, generator=gen) < p) & real
    labels = torch.where(masked, items, labels)
    one = torch.multinomial(real.float(), 1, generator=gen).squeeze(1)    # at least one masked
    labels[rows, one] = items[rows, one]
    masked = labels != 0
    every = masked.sum(1) == real.sum(1)                                 # at least one visible
    back = torch.multinomial(masked.float(), 1, generator=gen).squeeze(1)
    labels[rows[every], back[every]] = 0
    return labels, labels != 0


# ---- model ----

def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


ACTS = {"gelu_new": gelu_new, "gelu": F.gelu, "relu": F.relu}


class Attention(nn.Module):
    def __init__(self, d, heads, p):
        super().__init__()
        self.heads, self.p = heads, p
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)

    def forward(self, x, bias):
        """x (B, T, D); bias (B or 1, 1, T, T) additive: 0 visible, -inf hidden."""
        B, T, D = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        s = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(D // self.heads)) + bias
        a = F.dropout(torch.softmax(s, dim=-1), self.p, self.training) @ v
        return self.proj(a.transpose(1, 2).reshape(B, T, D))


class GPT2Block(nn.Module):
    """Pre-LN: x + drop(attn(ln_1 x)); x + drop(mlp(ln_2 x))."""

    def __init__(self, d, heads, p, eps, act):
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(d, eps=eps), nn.LayerNorm(d, eps=eps)
        self.attn = Attention(d, heads, p)
        self.fc, self.fc_out = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
        self.p, self.act = p, act

    def forward(self, x, bias):
        x = x + F.dropout(self.attn(self.ln_1(x), bias), self.p, self.training)
        return x + F.dropout(self.fc_out(self.act(self.fc(self.ln_2(x)))), self.p, self.training)


class BertBlock(nn.Module):
    """Post-LN: h = LN(x + drop(attn x)); LN(h + drop(mlp h)). LayerNorm named as HF's BERT."""

    def __init__(self, d, heads, p, eps, act):
        super().__init__()
        self.attn = Attention(d, heads, p)
        self.attention_LayerNorm = nn.LayerNorm(d, eps=eps)
        self.fc, self.fc_out = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
        self.output_LayerNorm = nn.LayerNorm(d, eps=eps)
        self.p, self.act = p, act

    def forward(self, x, bias):
        h = self.attention_LayerNorm(x + F.dropout(self.attn(x, bias), self.p, self.training))
        return self.output_LayerNorm(h + F.dropout(self.fc_out(self.act(self.fc(h))), self.p, self.training))


def plm_targets(items, p, max_span, training, gen=None, last_only=True):
    """Permutation LM: (labels, masked input positions, perm (B, T, T) True = row i may not see row j)."""
    B, T = items.shape
    real = items != 0
    rows = torch.arange(B)
    causal = torch.triu(torch.ones(T, T, dtype=torch.bool), 1).expand(B, T, T).clone()
    if not training:
        labels = torch.zeros_like(items)
        if last_only:
            last = real.sum(1) - 1
            labels[rows, last] = items[rows, last]
            causal[rows, :, last] = True
        else:
            labels, _ = clm_targets(items, False)
        return labels, torch.zeros_like(real), causal
    masked = torch.zeros(B, T, dtype=torch.bool)
    for b in range(B):
        n, cur = int(real[b].sum()), 0
        while cur < n:
            span = int(torch.randint(1, max_span + 1, (1,), generator=gen))
            ctx = int(span / p)
            start = cur + int(torch.randint(ctx - span + 1, (1,), generator=gen))
            masked[b, start:min(start + span, n)] = True
            cur += ctx
        if not masked[b].any():
            masked[b, int(torch.multinomial(real[b].float(), 1, generator=gen))] = True
        if int(masked[b].sum()) == n:
            masked[b, int(torch.multinomial(masked[b].float(), 1, generator=gen))] = False
    order = torch.stack([torch.randperm(T, generator=gen) for _ in range(B)]).masked_fill(~masked, -1)
    perm = (order[:, :, None] <= order[:, None, :]) & masked[:, None, :]
    return torch.where(masked, items, torch.zeros_like(items)), masked, perm


def log_uniform_unique(V, pad, n, gen):
    """n distinct ids of [pad + 1, V) drawn log-uniformly (TensorFlow's log_uniform_candidate_sampler
    with unique=True: P(k) = log((k + 2) / (k + 1)) / log(V - pad), k = id - pad - 1, which assumes
    ids sorted by decreasing frequency) -> (ids in draw order, draws taken)."""
    span = V - pad - 1
    if not 0 < n <= span:
        raise SystemExit("sessions_torch.py: --max_n_samples %d: between 1 and the %d ids after the pad" % (n, span))
    seen, ids, tries = set(), [], 0
    while len(ids) < n:
        u = torch.rand(2 * n, generator=gen, dtype=torch.float64)
        for k in (torch.exp(u * math.log(span + 1)).floor().long() - 1).clamp(0, span - 1).tolist():
            tries += 1
            if k not in seen:
                seen.add(k)
                ids.append(k)
                if len(ids) == n:
                    break
    return torch.tensor(ids) + pad + 1, tries


def log_expected_count(ids, V, pad, tries):
    """log of an id's expected count among `tries` log-uniform draws: 1 - (1 - P(id))^tries."""
    k = (ids - pad - 1).double()
    p = torch.log((k + 2) / (k + 1)) / math.log(V - pad)
    return torch.log(-torch.expm1(tries * torch.log1p(-p))).float()


def sampled_softmax_loss(h, y, weight, bias, ids, tries, temperature):
    """Jean et al. 2015 as TensorFlow's sampled_softmax_loss: every logit, the target's and the draws',
    (h . w + b) / temperature minus log of its expected count; a draw equal to a row's target is
    left out (remove_accidental_hits); cross-entropy against the target."""
    V = weight.shape[0]
    pos = ((h * weight[y]).sum(1) + bias[y]) / temperature - log_expected_count(y, V, 0, tries)
    neg = (h @ weight[ids].T + bias[ids]) / temperature - log_expected_count(ids, V, 0, tries)
    neg = neg.masked_fill(ids.view(1, -1) == y.view(-1, 1), float("-inf"))
    return F.cross_entropy(torch.cat([pos.view(-1, 1), neg], 1), torch.zeros_like(y))


def gumbel_draws(logits, gen):
    """ELECTRA's replacements: one item per row drawn from softmax(logits) by the Gumbel-max trick."""
    u = torch.rand(logits.shape, generator=gen).clamp_min(1e-20)
    return torch.argmax(logits - torch.log(-torch.log(u)), dim=1)


def sinusoid(pos, d):
    s = pos[:, None] * (1.0 / 10000 ** (torch.arange(0, d, 2.0) / d))[None, :]
    return torch.cat([s.sin(), s.cos()], -1)


class XLNetLayer(nn.Module):
    """HF's XLNetLayer: q, k, v, o, r (d, heads, dh) without biases, r_w_bias, r_r_bias, post-LN, FFN."""

    def __init__(self, d, heads, p, eps, act):
        super().__init__()
        dh = d // heads
        self.q, self.k, self.v, self.o, self.r = (nn.Parameter(torch.empty(d, heads, dh)) for _ in range(5))
        self.r_w_bias, self.r_r_bias = nn.Parameter(torch.empty(heads, dh)), nn.Parameter(torch.empty(heads, dh))
        self.layer_norm, self.ff_layer_norm = nn.LayerNorm(d, eps=eps), nn.LayerNorm(d, eps=eps)
        self.layer_1, self.layer_2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
        self.p, self.act = p, act

    def core(self, q, k, v, kr, hidden):
        ac = torch.einsum("bind,bjnd->bnij", q + self.r_w_bias, k)
        bd = torch.einsum("bind,jnd->bnij", q + self.r_r_bias, kr)
        b, n, i, P = bd.shape                                     # XLNet's rel_shift_bnij
        bd = bd.reshape(b, n, P, i)[:, :, 1:, :].reshape(b, n, i, P - 1)[..., :ac.shape[3]]
        s = (ac + bd) / math.sqrt(q.shape[-1]) - 1e30 * hidden[:, None].float()
        a = F.dropout(torch.softmax(s, dim=-1), self.p, self.training)
        return torch.einsum("bnij,bjnd->bind", a, v)

    def post(self, x, vec):
        h = self.layer_norm(x + F.dropout(torch.einsum("bind,hnd->bih", vec, self.o), self.p, self.training))
        f = F.dropout(self.act(self.layer_1(h)), self.p, self.training)
        return self.ff_layer_norm(h + F.dropout(self.layer_2(f), self.p, self.training))

    def forward(self, h, g, pos, hidden_h, hidden_g):
        k, v = (torch.einsum("bih,hnd->bind", h, w) for w in (self.k, self.v))
        kr = torch.einsum("ih,hnd->ind", pos, self.r)
        out_h = self.post(h, self.core(torch.einsum("bih,hnd->bind", h, self.q), k, v, kr, hidden_h))
        if g is None:
            return out_h, None
        return out_h, self.post(g, self.core(torch.einsum("bih,hnd->bind", g, self.q), k, v, kr, hidden_g))


class TransfoXLLayer(nn.Module):
    """HF's RelPartialLearnableDecoderLayer (post-LN, no attention dropout, ReLU CoreNet) with mem_len
    zero memory slots before the segment: their keys and values are 0, so they enter the softmax by
    their position term alone (HF's init_mems when no mems are passed)."""

    def __init__(self, d, heads, p, eps, mem_len):
        super().__init__()
        self.heads, self.mem_len, self.p = heads, mem_len, p
        self.qkv_net = nn.Linear(d, 3 * d, bias=False)
        self.r_net, self.o_net = nn.Linear(d, d, bias=False), nn.Linear(d, d, bias=False)
        self.r_w_bias, self.r_r_bias = (nn.Parameter(torch.empty(heads, d // heads)) for _ in range(2))
        self.layer_norm, self.ff_layer_norm = nn.LayerNorm(d, eps=eps), nn.LayerNorm(d, eps=eps)
        self.layer_1, self.layer_2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x, pos, hidden):
        """x (B, T, D); pos (M + T, D) the sinusoids of distances M + T - 1 .. 0; hidden (B, T, M + T)."""
        B, T, D = x.shape
        M, H = self.mem_len, self.heads
        q, k, v = self.qkv_net(x).view(B, T, 3, H, D // H).unbind(2)
        k, v = (torch.cat([torch.zeros(B, M, H, D // H), t], 1) for t in (k, v))
        r = self.r_net(pos).view(M + T, H, D // H)
        ac = torch.einsum("bihd,bjhd->bhij", q + self.r_w_bias, k)
        bd = torch.einsum("bihd,phd->bhip", q + self.r_r_bias, r)
        dist = (M + torch.arange(T))[:, None] - torch.arange(M + T)[None, :]      # query i, key j
        bd = bd.gather(3, (M + T - 1 - dist).clamp(0, M + T - 1).expand(B, H, T, M + T))
        s = (ac + bd) / math.sqrt(D // H) - 1e30 * hidden[:, None].float()
        out = torch.einsum("bhij,bjhd->bihd", torch.softmax(s, dim=-1), v).reshape(B, T, D)
        h = self.layer_norm(x + F.dropout(self.o_net(out), self.p, self.training))
        f = F.dropout(self.layer_2(F.dropout(F.relu(self.layer_1(h)), self.p, self.training)), self.p, self.training)
        return self.ff_layer_norm(h + f)


class AlbertLayer(nn.Module):
    """BERT's block under ALBERT's names: full_layer_layer_norm decays (Hugging Face's Trainer rule)."""

    def __init__(self, d, heads, p, eps, act):
        super().__init__()
        self.attn = Attention(d, heads, p)
        self.attention_LayerNorm = nn.LayerNorm(d, eps=eps)
        self.ffn, self.ffn_output = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
        self.full_layer_layer_norm = nn.LayerNorm(d, eps=eps)
        self.p, self.act = p, act

    def forward(self, x, bias):
        h = self.attention_LayerNorm(x + F.dropout(self.attn(x, bias), self.p, self.training))
        return self.full_layer_layer_norm(h + F.dropout(self.ffn_output(self.act(self.ffn(h))), self.p, self.training))


MLM_BODIES = ("bert", "albert", "electra")       # always trained as masked LMs
RNNS = {"gru": nn.GRU, "lstm": nn.LSTM, "rnn": nn.RNN}


class SessionModel(nn.Module):
    def __init__(self, a, feats):
        super().__init__()
        self.a, self.feats = a, feats
        self.label = next(c for c, f in feats.items() if f.get("is_label"))
        lab = feats[self.label]
        self.item_table = lab.get("emb_table", self.label)
        d = a.d_model
        self.tables, self.norms = nn.ModuleDict(), nn.ModuleDict()
        width = 0
        for c, f in feats.items():
            if f.get("is_control"):
                continue
            if f.get("dtype") == "categorical":
                t = f.get("emb_table", c)
                if c == self.label:
                    dim = a.item_embedding_dim or d
                else:
                    dim = int(math.ceil(f["cardinality"] ** 0.25 * a.embedding_dim_from_cardinality_multiplier))
                if t not in self.tables:
                    self.tables[t] = nn.Embedding(f["cardinality"], dim, padding_idx=0)
                    std = a.item_id_embeddings_init_std if c == self.label else a.other_embeddings_init_std
                    nn.init.normal_(self.tables[t].weight, 0.0, std)
                dim = self.tables[t].embedding_dim
            else:
                dim = 1
            if a.layer_norm_featurewise:
                self.norms[c.replace(".", "_")] = nn.LayerNorm(dim, eps=a.layer_norm_eps)
            width += dim
        self.item_dim = self.tables[self.item_table].embedding_dim
        self.merge = nn.Linear(width, d)
        self.masked_item_embedding = nn.Parameter(torch.randn(d) * 0.001)
        T = a.session_seq_length_max
        if a.model_type == "gpt2":
            self.wpe = nn.Embedding(T, d)
            self.blocks = nn.ModuleList(GPT2Block(d, a.n_head, a.dropout, a.layer_norm_eps, ACTS[a.hidden_act])
                                        for _ in range(a.n_layer))
            self.ln_f = nn.LayerNorm(d, eps=a.layer_norm_eps)
        elif a.model_type in ("bert", "electra"):   # ElectraModel on inputs_embeds is BERT's body
            self.position_embeddings = nn.Embedding(T, d)
            self.embeddings_LayerNorm = nn.LayerNorm(d, eps=a.layer_norm_eps)
            self.blocks = nn.ModuleList(BertBlock(d, a.n_head, a.dropout, a.layer_norm_eps, ACTS[a.hidden_act])
                                        for _ in range(a.n_layer))
        elif a.model_type == "albert":               # groups of layers share one block
            self.position_embeddings = nn.Embedding(T, d)
            self.embeddings_LayerNorm = nn.LayerNorm(d, eps=a.layer_norm_eps)
            self.embedding_hidden_mapping_in = nn.Linear(d, d)
            groups = a.n_layer if a.num_hidden_groups == -1 else a.num_hidden_groups
            self.blocks = nn.ModuleList(AlbertLayer(d, a.n_head, a.dropout, a.layer_norm_eps, ACTS[a.hidden_act])
                                        for _ in range(groups))
        elif a.model_type == "transfoxl":
            self.layers = nn.ModuleList(TransfoXLLayer(d, a.n_head, a.dropout, a.layer_norm_eps, a.mem_len)
                                        for _ in range(a.n_layer))
            for nm, p in self.layers.named_parameters():             # HF's TransfoXL init (LayerNorms 1 / 0)
                if "norm" in nm:
                    (nn.init.ones_ if nm.endswith("weight") else nn.init.zeros_)(p)
                elif nm.endswith("bias") and "layer_" in nm:
                    nn.init.zeros_(p)
                else:
                    nn.init.normal_(p, 0.0, a.initializer_range)
        elif a.model_type == "xlnet":
            self.layers = nn.ModuleList(XLNetLayer(d, a.n_head, a.dropout, a.layer_norm_eps, ACTS[a.hidden_act])
                                        for _ in range(a.n_layer))
            for nm, p in self.layers.named_parameters():           # HF's XLNet _init_weights
                if nm.endswith("bias") and "layer_" in nm or "norm.bias" in nm:
                    nn.init.zeros_(p)
                elif "norm.weight" in nm:
                    nn.init.ones_(p)
                else:
                    nn.init.normal_(p, 0.0, a.initializer_range)
            self.mask_emb = nn.Parameter(torch.randn(d) * a.initializer_range)
        elif a.model_type in RNNS:
            self.rnn = RNNS[a.model_type](d, d, num_layers=a.n_layer, batch_first=True,
                                          dropout=a.dropout if a.n_layer > 1 else 0.0)
        self.out_proj = nn.Linear(d, self.item_dim)
        self.output_layer_bias = nn.Parameter(torch.zeros(lab["cardinality"]))
        if a.rtd:                                    # ELECTRA's discriminator head on the shared body
            self.dense_discriminator, self.discriminator_prediction = nn.Linear(d, d), nn.Linear(d, 1)
        body = list(self.blocks.modules()) if hasattr(self, "blocks") else []
        if a.model_type == "albert":
            body.append(self.embedding_hidden_mapping_in)
        for m in body:                               # HF's init, the body only
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, a.initializer_range)
                nn.init.zeros_(m.bias)
        if a.model_type == "gpt2":
            nn.init.normal_(self.wpe.weight, 0.0, a.initializer_range)
            for blk in self.blocks:      # GPT-2's residual projections: std / sqrt(2 n_layer)
                for lin in (blk.attn.proj, blk.fc_out):
                    nn.init.normal_(lin.weight, 0.0, a.initializer_range / math.sqrt(2.0 * a.n_layer))
        elif a.model_type in MLM_BODIES:
            nn.init.normal_(self.position_embeddings.weight, 0.0, a.initializer_range)
        self.causal = torch.triu(torch.full((T, T), float("-inf")), diagonal=1)

    def body_parameters(self):
        """The sequence model's own parameters (not the inputs', the [MASK]'s or the head's)."""
        skip = ("tables.", "norms.", "merge.", "masked_item_embedding", "out_proj.", "output_layer_bias")
        return [p for nm, p in self.named_parameters() if not nm.startswith(skip)]

    def embed(self, batch):
        parts = []
        for c, f in self.feats.items():
            if f.get("is_control"):
                continue
            if f.get("dtype") == "categorical":
                x = self.tables[f.get("emb_table", c)](batch[c])
            else:
                x = batch[c].unsqueeze(-1)
            if self.a.layer_norm_featurewise:
                x = self.norms[c.replace(".", "_")](x)
            parts.append(x)
        x = torch.cat(parts, dim=-1) if len(parts) > 1 else parts[0]
        return torch.tanh(self.merge(F.dropout(x, self.a.input_dropout, self.training)))

    def body(self, x, real, perm=None):
        a, (B, T, _) = self.a, x.shape
        if a.model_type in RNNS:
            return self.rnn(x)[0]
        if a.model_type == "avgseq":                 # recsys_models.py's AvgSeq: row t = mean of rows 0..t
            return x.cumsum(1) / torch.arange(1, T + 1, dtype=x.dtype).view(1, T, 1)
        later = torch.triu(torch.ones(T, T, dtype=torch.bool), 1)
        if a.model_type == "transfoxl":
            M = a.mem_len
            hidden = torch.cat([torch.zeros(T, M, dtype=torch.bool), later], 1).expand(B, T, M + T)
            if a.key_padding_mask:
                hidden = hidden | torch.cat([torch.zeros(B, M, dtype=torch.bool), ~real], 1)[:, None, :]
            pos = F.dropout(sinusoid(torch.arange(M + T - 1, -1, -1.0), x.shape[-1]), a.dropout, self.training)
            h = F.dropout(x, a.dropout, self.training)
            for layer in self.layers:
                h = layer(h, pos, hidden)
            return F.dropout(h, a.dropout, self.training)
        if a.model_type == "xlnet":
            pad = (~real if a.key_padding_mask else torch.zeros_like(real))[:, None, :].expand(B, T, T)
            if not (a.mlm or a.plm):                 # causal LM: attn_type uni (reckon's; the reference's bi leaks)
                pad = pad | later
            hidden_g = pad | perm if perm is not None else pad
            hidden_h = hidden_g & ~torch.eye(T, dtype=torch.bool) if perm is not None else pad
            pos = F.dropout(sinusoid(torch.arange(T, -T, -1.0), x.shape[-1]), a.dropout, self.training)
            h = F.dropout(x, a.dropout, self.training)
            g = None
            if perm is not None:
                g = F.dropout(torch.where(real.unsqueeze(-1), self.mask_emb.to(x.dtype), x), a.dropout, self.training)
            for layer in self.layers:
                h, g = layer(h, g, pos, hidden_h, hidden_g)
            return F.dropout(g if g is not None else h, a.dropout, self.training)
        if a.model_type == "gpt2":
            bias = self.causal[:T, :T].view(1, 1, T, T)
        else:
            bias = torch.zeros(1, 1, T, T)
        if a.key_padding_mask:
            bias = bias + torch.zeros(B, 1, 1, T).masked_fill(~real.view(B, 1, 1, T), float("-inf"))
        if a.model_type == "gpt2":
            x = F.dropout(x + self.wpe.weight[:T], a.dropout, self.training)
            for blk in self.blocks:
                x = blk(x, bias)
            return self.ln_f(x)
        x = F.dropout(self.embeddings_LayerNorm(x + self.position_embeddings.weight[:T]), a.dropout, self.training)
        if a.model_type == "albert":
            x = self.embedding_hidden_mapping_in(x)
        for i in range(a.n_layer):                   # HF's group of layer i: i // (n_layer / groups)
            x = self.blocks[int(i / (a.n_layer / len(self.blocks)))](x, bias)
        return x

    def forward(self, batch, training, gen=None):
        """-> (hidden (N, item_dim) at the labelled rows, their labels (N))."""
        return self.targets(batch, training, gen)[:2]

    def loss(self, batch, gen, label_smoothing):
        """The training loss: cross-entropy at the labelled rows; with --rtd, ELECTRA's (Clark et al.
        2020, sec. 2, as docs/session_models.md wires it with a tied generator): the masked LM is the
        generator, its Gumbel-max draws replace the masked items, the corrupted session (no [MASK],
        side features unchanged) runs through the same input stage and body, and a discriminator
        head (d -> d, activation, d -> 1) learns which rows were replaced: w_d BCE + w_g MLM."""
        h, y, sel = self.targets(batch, True, gen)
        if self.a.sampled_softmax:
            return self.sampled_loss(h, y, gen)
        logits = self.logits(h)
        mlm = F.cross_entropy(logits, y, label_smoothing=label_smoothing)
        if not self.a.rtd:
            return mlm
        items = batch[self.label]
        fake = items.clone()
        fake[sel] = gumbel_draws(logits.detach(), gen)
        x = self.embed(dict(batch, **{self.label: fake}))
        real = items != 0
        d = self.body(x, real)
        z = self.discriminator_prediction(torch.tanh(self.dense_discriminator(d))).squeeze(-1)
        bce = F.binary_cross_entropy_with_logits(z[real], (fake != items)[real].float())
        return self.a.rtd_discriminator_loss_weight * bce + self.a.rtd_generator_loss_weight * mlm

    def targets(self, batch, training, gen=None):
        """-> (hidden at the labelled rows, their labels, the labelled rows (B, T))."""
        items = batch[self.label]
        x = self.embed(batch)
        perm = None
        if self.a.plm:
            labels, masked, perm = plm_targets(items, self.a.plm_probability, self.a.plm_max_span_length, training,
                                               gen, self.a.eval_on_last_item_seq_only)
            if self.a.plm_mask_input:
                x = torch.where(masked.unsqueeze(-1), self.masked_item_embedding.to(x.dtype), x)
        elif self.a.mlm:
            labels, masked = mlm_targets(items, self.a.mlm_probability, training, gen,
                                         self.a.eval_on_last_item_seq_only)
            x = torch.where(masked.unsqueeze(-1), self.masked_item_embedding.to(x.dtype), x)
        else:
            labels, keep = clm_targets(items, not training and self.a.eval_on_last_item_seq_only)
            x = torch.where(keep.unsqueeze(-1), x, self.masked_item_embedding.to(x.dtype))
        h = self.body(x, items != 0, perm)
        sel = labels != 0
        return torch.tanh(self.out_proj(h[sel])), labels[sel], sel

    def sampled_loss(self, h, y, gen):
        """Sampled softmax (--sampled_softmax): --max_n_samples draws for the batch, sampled_softmax_loss."""
        weight = self.tables[self.item_table].weight
        ids, tries = log_uniform_unique(weight.shape[0], 0, self.a.max_n_samples, gen)
        return sampled_softmax_loss(h, y, weight, self.output_layer_bias, ids, tries, self.a.softmax_temperature)

    def logits(self, h):
        return F.linear(h, self.tables[self.item_table].weight, self.output_layer_bias) / self.a.softmax_temperature


# ---- metrics (t4rec-notes 2.5, docs/session_metrics.md's tie rule) ----

def ranks(scores, target):
    """1-based rank of each row's target: higher scores first, equal scores by lower item id."""
    st = scores.gather(1, target.view(-1, 1))
    ids = torch.arange(scores.shape[1]).view(1, -1)
    return 1 + (scores > st).sum(1) + ((scores == st) & (ids < target.view(-1, 1))).sum(1)


def metrics_at(r, k):
    """Recall@k, NDCG@k and MRR@k of each example from its rank."""
    hit = (r <= k).double()
    return hit, hit / torch.log2(r.double() + 1.0), hit / r.double()


# ---- commands ----

def batches_of(cols, idx):
    return {c: t[idx] for c, t in cols.items() if not c.startswith("__")}


def param_groups(model, weight_decay):
    """HF Trainer's rule: no decay on names containing "bias" or "LayerNorm.weight"."""
    no_decay = ("bias", "LayerNorm.weight")
    named = list(model.named_parameters())
    return [{"params": [p for nm, p in named if not any(s in nm for s in no_decay)], "weight_decay": weight_decay,
             "names": [nm for nm, _ in named if not any(s in nm for s in no_decay)]},
            {"params": [p for nm, p in named if any(s in nm for s in no_decay)], "weight_decay": 0.0,
             "names": [nm for nm, _ in named if any(s in nm for s in no_decay)]}]


def check_task(a):
    """The task each model trains, as the reference pairs them (t4rec-notes 2.2); bert, albert and
    electra are masked LMs whatever --mlm says."""
    if a.model_type in MLM_BODIES:
        a.mlm = True
    if a.plm and a.model_type != "xlnet" or a.mlm and a.model_type not in MLM_BODIES + ("xlnet",) or a.mlm and a.plm:
        raise SystemExit("sessions_torch.py: --mlm goes with bert, albert, electra or xlnet and --plm with xlnet "
                         "(%s was given --mlm=%s --plm=%s)" % (a.model_type, a.mlm, a.plm))
    if a.sampled_softmax and a.rtd:
        raise SystemExit("sessions_torch.py: --sampled_softmax does not combine with --rtd (as in reckon)")
    if a.rtd and not (a.mlm and a.rtd_tied_generator):
        raise SystemExit("sessions_torch.py: --rtd needs a masked LM (bert, albert, electra, xlnet --mlm) and "
                         "--rtd_tied_generator (the separate generator is not written, as in reckon)")


def evaluate(model, cols, n, batch, ks):
    """Full-catalogue ranks of the labelled rows -> {metric@k: mean over the examples}, examples."""
    sums, count = {}, 0
    model.eval()
    with torch.no_grad():
        for s in range(0, n, batch):
            h, y = model(batches_of(cols, torch.arange(s, min(n, s + batch))), False)
            r = ranks(model.logits(h), y)
            count += len(r)
            for k in ks:
                for name, v in zip(("recall", "ndcg", "mrr"), metrics_at(r, k)):
                    sums["%s@%d" % (name, k)] = sums.get("%s@%d" % (name, k), 0.0) + float(v.sum())
    model.train()
    return {m: v / max(count, 1) for m, v in sums.items()}, count


def windows_of(a):
    """--train_data / --eval_data: one file, or comma-separated lists of the same length (window t
    trains on the t-th training file and is evaluated on the t-th evaluation file)."""
    tr = a.train_data.split(",")
    ev = a.eval_data.split(",") if a.eval_data else []
    if ev and len(ev) != len(tr):
        raise SystemExit("sessions_torch.py: --train_data names %d windows and --eval_data %d: give one "
                         "evaluation file per training window" % (len(tr), len(ev)))
    return [(t, ev[i] if ev else "") for i, t in enumerate(tr)]


def train(a):
    """recsys_main.py's incremental protocol (t4rec-notes 1.3): per window, train (weights and AdamW's
    moments carried over, the constant schedule needs no restart), then evaluate on the next window;
    metrics are averaged over the windows (unweighted), the speed over every training step."""
    check_task(a)
    if not a.feature_config:
        raise SystemExit("sessions_torch.py: --feature_config is required (the columns, cardinalities and label)")
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    feats = read_feature_config(a.feature_config)
    T = a.session_seq_length_max
    model = SessionModel(a, feats)
    opt = torch.optim.AdamW(param_groups(model, a.weight_decay), lr=a.learning_rate,
                            betas=(a.adam_beta1, a.adam_beta2), eps=a.adam_epsilon)
    gen = torch.Generator().manual_seed(a.seed)
    bs = a.per_device_train_batch_size
    ks = [int(k) for k in a.eval_metrics_ks.split(",")]
    steps, seen, train_s, logged, window, results, en = 0, 0, 0.0, [], [], [], 0
    model.train()
    for wi, (train_path, eval_path) in enumerate(windows_of(a)):
        cols, n = load_sessions(train_path, feats, T)
        w_steps, w_seen = 0, 0
        t0 = time.perf_counter()
        for _ in range(a.num_train_epochs):
            order = torch.randperm(n, generator=gen)
            stop = n - n % bs if a.dataloader_drop_last else n
            for s in range(0, stop, bs):
                idx = order[s:s + bs]
                loss = model.loss(batches_of(cols, idx), gen, a.label_smoothing)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if a.max_grad_norm > 0:
                    nn.utils.clip_grad_norm_(model.parameters(), a.max_grad_norm)
                opt.step()
                steps, w_steps, w_seen = steps + 1, w_steps + 1, w_seen + len(idx)
                window.append(loss.item())
                if len(window) == a.logging_steps:
                    logged.append(sum(window) / len(window))
                    print("loss step=%d loss=%.5f" % (steps, logged[-1]), flush=True)
                    window = []
                if a.max_steps > 0 and w_steps >= a.max_steps:
                    break
            if a.max_steps > 0 and w_steps >= a.max_steps:
                break
        w_s = time.perf_counter() - t0
        train_s, seen = train_s + w_s, seen + w_seen
        if not eval_path:
            continue
        ecols, wn = load_sessions(eval_path, feats, T)
        res, count = evaluate(model, ecols, wn, a.per_device_eval_batch_size, ks)
        results.append(res)
        en += wn
        print("window index=%d train_sessions=%d train_s=%.3f eval_sessions=%d examples=%d %s" % (
            wi + 1, w_seen, w_s, wn, count, " ".join("%s=%.6f" % kv for kv in sorted(res.items()))), flush=True)
    if window:
        logged.append(sum(window) / len(window))
    line = "torch model_type=%s d_model=%d n_layer=%d n_head=%d seed=%d threads=%d train_sessions=%d steps=%d " \
           "train_s=%.3f sessions_per_s=%.1f eval_sessions=%d" % (
               a.model_type, a.d_model, a.n_layer, a.n_head, a.seed, a.threads, seen, steps, train_s,
               seen / train_s if train_s > 0 else 0.0, en)
    for k in ks:
        for m in ("recall", "ndcg"):
            vals = [r["%s@%d" % (m, k)] for r in results]
            line += " %s@%d=%.6f" % (m, k, sum(vals) / len(vals) if vals else 0.0)
    line += " first_loss=%.5f final_loss=%.5f" % (logged[0] if logged else float("nan"),
                                                  logged[-1] if logged else float("nan"))
    print(line)


def popularity(a):
    """The popularity floor, per window: the training file's items ranked by how often they occur
    (ties by lower id, as ranks()); each evaluation session's last item is the target."""
    import pandas as pd
    res = []
    for train_path, eval_path in windows_of(a):
        counts = {}
        for s in pd.read_csv(train_path, engine="c", usecols=[a.item_column], dtype=str)[a.item_column]:
            for v in s.strip().strip("[]").split(","):
                if v.strip():
                    counts[int(v)] = counts.get(int(v), 0) + 1
        order = sorted(counts, key=lambda v: (-counts[v], v))
        rank = {v: i + 1 for i, v in enumerate(order)}
        unseen = len(order) + 1                  # an item never trained on ranks after every seen one
        r = []
        for s in pd.read_csv(eval_path, engine="c", usecols=[a.item_column], dtype=str)[a.item_column]:
            vals = [int(v) for v in s.strip().strip("[]").split(",") if v.strip()]
            if len(vals) >= 2:
                r.append(rank.get(vals[-1], unseen))
        r = torch.tensor(r, dtype=torch.long)
        res.append([float(m.mean()) for m in metrics_at(r, a.k)])
        print("window eval_sessions=%d recall@%d=%.6f ndcg@%d=%.6f mrr@%d=%.6f" % (
            len(r), a.k, res[-1][0], a.k, res[-1][1], a.k, res[-1][2]))
    mean = [sum(x[i] for x in res) / len(res) for i in range(3)]
    print("popularity windows=%d recall@%d=%.6f ndcg@%d=%.6f mrr@%d=%.6f" % (
        len(res), a.k, mean[0], a.k, mean[1], a.k, mean[2]))


def ceiling(a):
    """The synth oracle's expected Recall / NDCG / MRR@k over each evaluated window's sessions,
    averaged over the windows (--eval_data: one file or a comma-separated list)."""
    import pandas as pd
    orc = pd.read_csv(a.oracle, engine="c")
    keys = [("recall", "expected_hit"), ("ndcg", "expected_ndcg")] + \
        ([("mrr", "expected_rr")] if "expected_rr" in orc.columns else [])
    per, total, matched = [], 0, 0
    for path in a.eval_data.split(","):
        ev = pd.read_csv(path, engine="c", usecols=["session_id"])
        m = ev.merge(orc, on="session_id", how="inner")
        if len(m) != len(ev):
            raise SystemExit("sessions_torch.py: %d of %d evaluated sessions of %s are not in %s"
                             % (len(ev) - len(m), len(ev), path, a.oracle))
        per.append([m[c].mean() for _, c in keys])
        total, matched = total + len(ev), matched + len(m)
    print("ceiling sessions=%d matched=%d " % (total, matched) + " ".join(
        "%s@%d=%.6f" % (name, a.k, sum(p[i] for p in per) / len(per)) for i, (name, _) in enumerate(keys)))

def check_against_seq_blocks(check):
    """The blocks against tests/reference/seq_blocks.py (the blocks reckon's fixtures are made with),
    with the same weights, a causal / bidirectional mask and padding: the two were written apart."""
    import os
    ref_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "reference")
    if not os.path.exists(os.path.join(ref_dir, "seq_blocks.py")):
        return
    sys.path.insert(0, ref_dir)
    import seq_blocks as sb
    torch.manual_seed(5)
    x = torch.randn(3, 7, 16)
    real = torch.tensor([[True] * 7, [True] * 4 + [False] * 3, [True] * 2 + [False] * 5])
    for name, mine, ref, causal, lns in (
            ("gpt2", GPT2Block(16, 4, 0.0, 1e-5, gelu_new), sb.GPT2Block(16, 4, ln_eps=1e-5), True, ("ln_1", "ln_2")),
            ("bert", BertBlock(16, 4, 0.0, 1e-5, F.gelu), sb.BertBlock(16, 4, ln_eps=1e-5), False,
             ("attention_LayerNorm", "output_LayerNorm"))):
        with torch.no_grad():
            for p in mine.parameters():
                p.copy_(torch.randn_like(p) * 0.3)
            ref.ln_1.load_state_dict(getattr(mine, lns[0]).state_dict())
            ref.ln_2.load_state_dict(getattr(mine, lns[1]).state_dict())
            for a, b in ((ref.qkv, mine.attn.qkv), (ref.proj, mine.attn.proj), (ref.fc, mine.fc),
                         (ref.fc_out, mine.fc_out)):
                a.load_state_dict(b.state_dict())
            T = x.shape[1]
            bias = torch.triu(torch.full((T, T), float("-inf")), 1) if causal else torch.zeros(T, T)
            bias = bias.view(1, 1, T, T) + torch.zeros(3, 1, 1, T).masked_fill(~real.view(3, 1, 1, T), float("-inf"))
            out, want = mine.eval()(x, bias), ref.eval()(x, real)
        check(torch.allclose(out[real], want[real], atol=1e-5),
              "%s block equals tests/reference/seq_blocks.py's on real rows (max diff %.2e)"
              % (name, float((out[real] - want[real]).abs().max())))


def check_transfoxl_memory(check):
    """Transformer-XL's layer against a loop over (query, head, key): query i sits at M + i, the M
    memory keys and values are zero, every score adds the position term of the distance."""
    torch.manual_seed(7)
    D, H, T, M = 8, 2, 3, 2
    dh = D // H
    layer = TransfoXLLayer(D, H, 0.0, 1e-5, M).eval()
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(torch.randn_like(p) * 0.3)
        x = torch.randn(1, T, D)
        hidden = torch.cat([torch.zeros(T, M), torch.triu(torch.ones(T, T), 1)], 1).bool()[None]
        out = layer(x, sinusoid(torch.arange(M + T - 1, -1, -1.0), D), hidden)[0]
        q, k, v = layer.qkv_net(x)[0].view(T, 3, H, dh).unbind(1)
        keys, vals = torch.cat([torch.zeros(M, H, dh), k]), torch.cat([torch.zeros(M, H, dh), v])
        vec = torch.zeros(T, H, dh)
        for i in range(T):
            for n in range(H):
                sc = []
                for j in range(M + i + 1):
                    r = layer.r_net(sinusoid(torch.tensor([float(M + i - j)]), D)).view(H, dh)[n]
                    sc.append(((q[i, n] + layer.r_w_bias[n]) @ keys[j, n] + (q[i, n] + layer.r_r_bias[n]) @ r)
                              / math.sqrt(dh))
                w = torch.softmax(torch.stack(sc), 0)
                vec[i, n] = sum(w[j] * vals[j, n] for j in range(M + i + 1))
        h = layer.layer_norm(x[0] + layer.o_net(vec.reshape(T, D)))
        want = layer.ff_layer_norm(h + layer.layer_2(F.relu(layer.layer_1(h))))
    check(torch.allclose(out, want, atol=1e-5),
          "transfoxl: relative attention over %d zero memory slots equals a loop (max diff %.2e)"
          % (M, float((out - want).abs().max())))


def check_rtd(check, feats):
    """ELECTRA's draws follow the generator's softmax; with the discriminator's weight 0 the loss is
    the masked LM's on the same masking; with it, the discriminator head gets a gradient."""
    logits = torch.log(torch.tensor([[1.0, 2.0, 3.0]])).expand(30000, 3)
    share = torch.bincount(gumbel_draws(logits, torch.Generator().manual_seed(1)), minlength=3).double() / 30000
    check(torch.allclose(share, torch.tensor([1 / 6, 2 / 6, 3 / 6], dtype=torch.double), atol=0.015),
          "RTD: Gumbel-max draws follow softmax(logits) (%s)" % share.tolist())
    items = torch.tensor([[5, 6, 7, 8, 0, 0], [9, 10, 11, 12, 13, 14], [3, 4, 0, 0, 0, 0]])
    for w_d in (0.0, 50.0):
        a = parser().parse_args(["train", "--train_data", "-", "--model_type", "electra", "--d_model", "16",
                                 "--n_head", "2", "--session_seq_length_max", "6", "--n_layer", "2", "--rtd",
                                 "--rtd_tied_generator", "--rtd_discriminator_loss_weight", str(w_d)])
        check_task(a)
        torch.manual_seed(2)
        m = SessionModel(a, feats).train()
        torch.manual_seed(3)
        loss = m.loss({"item": items}, torch.Generator().manual_seed(4), 0.0)
        torch.manual_seed(3)
        h, y = m({"item": items}, True, torch.Generator().manual_seed(4))
        mlm = F.cross_entropy(m.logits(h), y)
        if w_d == 0.0:
            check(abs(float(loss) - float(mlm)) < 1e-6, "RTD with weight 0 on the discriminator is the masked LM")
        else:
            loss.backward()
            g = m.dense_discriminator.weight.grad
            check(float(loss) > float(mlm) and g is not None and float(g.abs().sum()) > 0,
                  "RTD: the discriminator's BCE adds to the loss and trains its head")


def check_popularity_ranks(check):
    """The popularity floor on two hand-made windows' files."""
    import contextlib
    import io
    import os
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        for name, rows in (("train", ["[1, 2]", "[2, 3]", "[2, 1]"]), ("valid", ["[5, 1]", "[5, 3]", "[5, 9]", "[4]"])):
            with open(os.path.join(d, name + ".csv"), "w") as f:
                f.write("session_id,item_id-list_seq\n" + "".join('%d,"%s"\n' % (i, r) for i, r in enumerate(rows)))
        a = parser().parse_args(["popularity", "--train_data", d + "/train.csv", "--eval_data", d + "/valid.csv",
                                 "--k", "3"])
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            popularity(a)
    want = "popularity windows=1 recall@3=%.6f ndcg@3=%.6f mrr@3=%.6f" % (
        2 / 3, (1 / math.log2(3) + 1 / math.log2(4)) / 3, (1 / 2 + 1 / 3) / 3)
    check(want in out.getvalue(), "popularity: items by count, unseen last, one-item sessions skipped (%s)"
          % out.getvalue().strip().split("\n")[-1])


def check_sampler(check):
    """The sampled softmax's draws: n distinct ids of [1, V); each id's share of the calls it is drawn
    in is its expected count averaged over the calls (the logQ term's count); the loss is the
    cross-entropy of the corrected logits, a draw equal to the target left out."""
    gen = torch.Generator().manual_seed(11)
    V, n, calls = 40, 8, 4000
    seen, want = torch.zeros(V), torch.zeros(V)
    for _ in range(calls):
        ids, tries = log_uniform_unique(V, 0, n, gen)
        check(len(set(ids.tolist())) == n and int(ids.min()) >= 1 and int(ids.max()) < V, "sampled ids: n distinct in [1, V)")
        seen[ids] += 1
        want[1:] += log_expected_count(torch.arange(1, V), V, 0, tries).exp()
    err = float(((seen - want) / calls).abs().max())
    check(err < 0.03, "each id's share of the draws is its expected count (max error %.3f)" % err)
    torch.manual_seed(12)
    h, w, b = torch.randn(3, 4), torch.randn(V, 4), torch.randn(V)
    y, ids, tries = torch.tensor([1, 5, 9]), torch.tensor([2, 5, 30]), 6
    logq = lambda v: log_expected_count(v, V, 0, tries)
    want = 0.0
    for r in range(3):
        cand = [int(y[r])] + [int(v) for v in ids if int(v) != int(y[r])]
        z = torch.stack([h[r] @ w[c] + b[c] - logq(torch.tensor([c]))[0] for c in cand])
        want += float(torch.logsumexp(z, 0) - z[0]) / 3
    got = float(sampled_softmax_loss(h, y, w, b, ids, tries, 1.0))
    check(abs(got - want) < 1e-5, "sampled softmax loss against a loop (%.6f, %.6f)" % (got, want))


def selfcheck(_):
    bad = []

    def check(ok, what):
        if not ok:
            bad.append(what)

    items = torch.tensor([[5, 6, 7, 0], [8, 9, 0, 0], [3, 4, 5, 6]])
    lab, keep = clm_targets(items, False)
    check(lab.tolist() == [[6, 7, 0, 0], [9, 0, 0, 0], [4, 5, 6, 0]], "CLM labels are the next items")
    check(keep.tolist() == (lab != 0).tolist(), "CLM rows without a next item take [MASK]")
    lab, keep = clm_targets(items, True)
    check(lab.tolist() == [[0, 7, 0, 0], [9, 0, 0, 0], [0, 0, 6, 0]], "CLM eval: one label at row n-2, the last item")
    check(keep.tolist() == [[True, True, False, False], [True, False, False, False], [True, True, True, False]],
          "CLM eval keeps every item that has a successor as an input")
    lab, masked = mlm_targets(items, 0.15, False)
    check(lab.tolist() == [[0, 0, 7, 0], [0, 9, 0, 0], [0, 0, 0, 6]], "MLM eval: the last real item is the label")
    check(masked.tolist() == (lab != 0).tolist(), "MLM eval masks exactly the label")
    check_sampler(check)
    gen = torch.Generator().manual_seed(3)
    long = torch.arange(1, 201).view(10, 20)
    pad = torch.tensor([[1, 2, 0, 0, 0]] * 50)
    share, nlong = 0.0, 0
    for p in (0.0, 0.15, 0.5, 1.0):
        for batch in (long, pad, items):
            for _ in range(20):
                lab, masked = mlm_targets(batch, p, True, gen)
                real = batch != 0
                check(bool(((lab == 0) | (lab == batch)).all()), "MLM labels are the items at masked rows")
                check(not bool((masked & ~real).any()), "MLM never masks padding")
                check(bool((masked.sum(1) >= 1).all()), "MLM masks at least one item per session (p=%g)" % p)
                check(bool(((real & ~masked).sum(1) >= 1).all()), "MLM leaves one item visible (p=%g)" % p)
                if p == 0.5 and batch is long:
                    share, nlong = share + float(masked.float().mean()), nlong + 1
    check(abs(share / nlong - 0.5) < 0.05, "MLM masks about mlm_probability of a long session's items")
    for _ in range(50):
        lab, masked, perm = plm_targets(long, 0.25, 5, True, gen)
        m = lab != 0
        check(bool((m.sum(1) >= 1).all()) and bool(((long != 0) & ~m).sum(1).min() >= 1), "PLM masks some, not all")
        check(not bool((perm & ~m[:, None, :]).any()), "PLM: unmasked rows are seen by every row")
        check(bool(perm[:, torch.arange(20), torch.arange(20)][m].all()), "PLM: a masked row does not see itself")
        both = m[:, :, None] & m[:, None, :] & ~torch.eye(20, dtype=torch.bool)
        check(bool((perm ^ perm.transpose(1, 2))[both].all()), "PLM: the order is strict between masked rows")
    lab, _, perm = plm_targets(items, 0.25, 5, False, last_only=True)
    check(lab.tolist() == [[0, 0, 7, 0], [0, 9, 0, 0], [0, 0, 0, 6]] and bool(perm[0, :, 2].all()),
          "PLM eval: the last item is the label and no row sees it")
    scores = torch.tensor([[0.5, 0.9, 0.5, 0.1], [0.5, 0.9, 0.5, 0.1], [1.0, 1.0, 1.0, 1.0]])
    r = ranks(scores, torch.tensor([2, 0, 3]))
    check(r.tolist() == [3, 2, 4], "ranks: higher scores first, ties by lower id (%s)" % r.tolist())
    hit, ndcg, rr = metrics_at(r, 3)
    check(hit.tolist() == [1.0, 1.0, 0.0] and abs(ndcg[0].item() - 0.5) < 1e-12, "Recall@k and NDCG@k")
    check(abs(rr[0].item() - 1 / 3) < 1e-12 and rr[1].item() == 0.5 and rr[2].item() == 0.0, "MRR@k")
    x = torch.linspace(-5, 5, 101)
    check(torch.allclose(gelu_new(x), F.gelu(x, approximate="tanh"), atol=1e-6), "gelu_new is GELU's tanh form")
    torch.manual_seed(0)
    feats = {"item": {"dtype": "categorical", "cardinality": 30, "is_label": True, "emb_table": "item"}}
    causal = ("gpt2", "gru", "lstm", "rnn", "avgseq", "xlnet", "transfoxl")
    for mt in causal + ("bert", "albert", "electra", "xlnet_mlm"):
        a = parser().parse_args(["train", "--train_data", "-", "--model_type", mt.split("_")[0], "--d_model", "16",
                                 "--n_head", "2", "--dropout", "0", "--session_seq_length_max", "6", "--n_layer", "2"]
                                + (["--mlm"] if mt == "xlnet_mlm" else []))
        check_task(a)
        m = SessionModel(a, feats).eval()
        x = torch.randn(2, 6, 16)
        real = torch.tensor([[True] * 4 + [False] * 2] * 2)
        y = x.clone()
        y[:, 3:] += torch.randn(2, 3, 16)             # change position 3 (real) and the padding
        hx, hy = m.body(x, real), m.body(y, real)
        if mt in causal:
            check(torch.allclose(hx[:, :3], hy[:, :3], atol=1e-6), "%s: rows see no later row" % mt)
            check(not torch.allclose(hx[:, 3], hy[:, 3], atol=1e-6), "%s: a row sees itself" % mt)
        else:
            check(not torch.allclose(hx[:, :3], hy[:, :3], atol=1e-6), "%s: rows see later rows" % mt)
        z = x.clone()
        z[:, 4:] += torch.randn(2, 2, 16)             # change the padding only
        hz = m.body(z, real)
        check(torch.allclose(hx[:, :4], hz[:, :4], atol=1e-6), "%s: padding changes no real row" % mt)
        decay, keep = (set(g["names"]) for g in param_groups(m, 0.1))
        check("output_layer_bias" in keep and "merge.bias" in keep and "tables.item.weight" in decay,
              "%s: AdamW decays weights and tables, not biases" % mt)
        if mt == "albert":
            check(len(m.blocks) == 1 and "blocks.0.full_layer_layer_norm.weight" in decay
                  and "blocks.0.attention_LayerNorm.weight" in keep,
                  "albert: one shared block by default; full_layer_layer_norm decays, attention's LayerNorm not")
        if mt == "avgseq":
            check(torch.allclose(hx[:, 2], x[:, :3].mean(1), atol=1e-6) and not list(m.body_parameters()),
                  "avgseq: row t is the mean of rows 0..t, without parameters")
        if mt == "gpt2":
            check("blocks.0.ln_1.weight" in decay and "ln_f.weight" in decay,
                  "gpt2: ln_* weights decay (HF's GPT-2 names them so)")
        if mt == "bert":
            check("blocks.0.output_LayerNorm.weight" in keep and "embeddings_LayerNorm.weight" in keep,
                  "bert: LayerNorm weights do not decay")
    check_transfoxl_memory(check)
    check_rtd(check, feats)
    check_popularity_ranks(check)
    check_against_seq_blocks(check)
    if bad:
        for b in bad:
            print("FAIL: " + b)
        sys.exit(1)
    print("selfcheck ok")


def parser():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--train_data", required=True)
    t.add_argument("--eval_data", default="")
    t.add_argument("--feature_config", default="")
    t.add_argument("--model_type", default="gpt2", choices=["gpt2", "bert", "albert", "electra", "xlnet", "transfoxl",
                                                            "gru", "lstm", "rnn", "avgseq"])
    t.add_argument("--mlm", action="store_true")
    t.add_argument("--attn_type", default="uni", choices=["uni"])   # xlnet's causal LM: uni only, as reckon
    t.add_argument("--num_hidden_groups", type=int, default=1)
    t.add_argument("--mem_len", type=int, default=1)
    t.add_argument("--rtd", action="store_true")
    t.add_argument("--rtd_tied_generator", action="store_true")
    t.add_argument("--rtd_discriminator_loss_weight", type=float, default=50.0)
    t.add_argument("--rtd_generator_loss_weight", type=float, default=1.0)
    t.add_argument("--plm", action="store_true")
    t.add_argument("--plm_probability", type=float, default=0.25)
    t.add_argument("--plm_max_span_length", type=int, default=5)
    t.add_argument("--plm_mask_input", action="store_true")
    t.add_argument("--d_model", type=int, default=256)
    t.add_argument("--n_layer", type=int, default=12)
    t.add_argument("--n_head", type=int, default=4)
    t.add_argument("--dropout", type=float, default=0.1)
    t.add_argument("--input_dropout", type=float, default=0.0)
    t.add_argument("--hidden_act", default="gelu", choices=sorted(ACTS))
    t.add_argument("--layer_norm_eps", type=float, default=1e-12)
    t.add_argument("--initializer_range", type=float, default=0.02)
    t.add_argument("--mlm_probability", type=float, default=0.15)
    t.add_argument("--eval_on_last_item_seq_only", action="store_true")
    t.add_argument("--item_embedding_dim", type=int, default=0)
    t.add_argument("--embedding_dim_from_cardinality_multiplier", type=float, default=2.0)
    t.add_argument("--item_id_embeddings_init_std", type=float, default=0.5)
    t.add_argument("--other_embeddings_init_std", type=float, default=0.05)
    t.add_argument("--layer_norm_featurewise", action="store_true")
    t.add_argument("--softmax_temperature", type=float, default=1.0)
    t.add_argument("--label_smoothing", type=float, default=0.0)
    t.add_argument("--sampled_softmax", action="store_true")
    t.add_argument("--max_n_samples", type=int, default=100)
    t.add_argument("--session_seq_length_max", type=int, default=20)
    t.add_argument("--no_key_padding_mask", dest="key_padding_mask", action="store_false")
    t.add_argument("--per_device_train_batch_size", type=int, default=8)
    t.add_argument("--per_device_eval_batch_size", type=int, default=8)
    t.add_argument("--learning_rate", type=float, default=5e-5)
    t.add_argument("--weight_decay", type=float, default=0.0)
    t.add_argument("--adam_beta1", type=float, default=0.9)
    t.add_argument("--adam_beta2", type=float, default=0.999)
    t.add_argument("--adam_epsilon", type=float, default=1e-8)
    t.add_argument("--max_grad_norm", type=float, default=1.0)
    t.add_argument("--num_train_epochs", type=int, default=1)
    t.add_argument("--max_steps", type=int, default=0)
    t.add_argument("--dataloader_drop_last", action="store_true")
    t.add_argument("--logging_steps", type=int, default=500)
    t.add_argument("--eval_metrics_ks", default="10,20")
    t.add_argument("--seed", type=int, default=1)
    t.add_argument("--threads", type=int, default=1)
    c = sub.add_parser("ceiling")
    c.add_argument("--eval_data", required=True)
    c.add_argument("--oracle", required=True)
    c.add_argument("--k", type=int, default=20)
    pop = sub.add_parser("popularity")
    pop.add_argument("--train_data", required=True)
    pop.add_argument("--eval_data", required=True)
    pop.add_argument("--item_column", default="item_id-list_seq")
    pop.add_argument("--k", type=int, default=20)
    sub.add_parser("selfcheck")
    return ap


def main():
    a = parser().parse_args()
    {"train": train, "ceiling": ceiling, "popularity": popularity, "selfcheck": selfcheck}[a.cmd](a)


if __name__ == "__main__":
    main()
