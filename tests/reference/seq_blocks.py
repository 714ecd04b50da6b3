"""PyTorch versions of reckon's sequence blocks (src/nn/blocks/transformer.c, src/nn/ops/attention.c,
gru.c, lstm.c, rnn.c), written from the published definitions (HuggingFace transformers is not
installed: GPT2Block and BertLayer are rewritten here from their papers and model cards), for the
reference fixtures (tests/reference/make_seq_fixtures.py) and the speed peer (bench/peers/seq_torch.py).

    blk = GPT2Block(d_model=8, heads=2, d_ff=32, ln_eps=1e-5, dropout=0.0)   # or BertBlock(...)
    out = blk(x, key_mask)          # x (B, T, D); key_mask (B, T) bool, True = a real item, or None
    out = recurrent(torch.nn.GRU(I, H, batch_first=True), x, lengths)

Parameters carry reckon's names (blk.reckon_parameters(): "ln_1.weight", "attn.qkv.weight", ...)
in rk_transformer_block's order, nn.Linear's (out, in) layout, q/k/v stacked in qkv's rows.

Semantics (the C side's, stated in its file comments):
- attention: softmax(q k^T / sqrt(dh)) over visible keys: causal (key <= query) and not padded;
  a query with no visible key gives a zero row (HuggingFace's -10000 would give a uniform one).
- GPT-2 (pre-LN): x1 = x + drop(proj(attn(ln_1(x)))); out = x1 + drop(fc_out(gelu_tanh(fc(ln_2(x1))))).
- BERT (post-LN): h = ln_1(x + drop(proj(attn(x)))); out = ln_2(h + drop(fc_out(gelu(fc(h))))).
- recurrent: right-padded sessions run as packed sequences: outputs past a session's length are
  zeros and its state stops at its last item.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn


def attention(qkv, heads, causal, key_mask, p_drop=0.0, training=False):
    """qkv (B, T, 3D) -> (B, T, D), and the probabilities (B, H, T, T) before dropout."""
    B, T, D3 = qkv.shape
    D = D3 // 3
    dh = D // heads
    q, k, v = (t.reshape(B, T, heads, dh).transpose(1, 2) for t in qkv.split(D, dim=2))
    s = q @ k.transpose(-1, -2) / math.sqrt(dh)
    visible = torch.ones(T, T, dtype=torch.bool)
    if causal:
        visible = torch.tril(visible)
    visible = visible.expand(B, 1, T, T)
    if key_mask is not None:
        visible = visible & key_mask[:, None, None, :]
    any_visible = visible.any(-1, keepdim=True)
    s = torch.where(visible, s, torch.full_like(s, float("-inf")))
    s = torch.where(any_visible, s, torch.zeros_like(s))      # no visible key: a finite row ...
    p = torch.softmax(s, dim=-1) * any_visible                  # ... multiplied away
    out = F.dropout(p, p_drop, training) @ v
    return out.transpose(1, 2).reshape(B, T, D), p


class _Block(nn.Module):
    NAMES = ["ln_1.weight", "ln_1.bias", "attn.qkv.weight", "attn.qkv.bias", "attn.proj.weight", "attn.proj.bias",
             "ln_2.weight", "ln_2.bias", "mlp.fc.weight", "mlp.fc.bias", "mlp.proj.weight", "mlp.proj.bias"]

    def __init__(self, d_model, heads, d_ff=0, ln_eps=1e-5, dropout=0.0, attn_dropout=0.0):
        super().__init__()
        d_ff = d_ff or 4 * d_model
        self.heads, self.eps, self.p, self.p_attn = heads, ln_eps, dropout, attn_dropout
        self.ln_1, self.ln_2 = nn.LayerNorm(d_model, eps=ln_eps), nn.LayerNorm(d_model, eps=ln_eps)
        self.qkv, self.proj = nn.Linear(d_model, 3 * d_model), nn.Linear(d_model, d_model)
        self.fc, self.fc_out = nn.Linear(d_model, d_ff), nn.Linear(d_ff, d_model)

    def reckon_parameters(self):
        mods = [self.ln_1, self.qkv, self.proj, self.ln_2, self.fc, self.fc_out]
        ps = [t for m in mods for t in (m.weight, m.bias)]
        return list(zip(self.NAMES, ps))

    def _attn(self, x, key_mask, causal):
        a, p = attention(self.qkv(x), self.heads, causal, key_mask, self.p_attn, self.training)
        self.last_weights = p
        return F.dropout(self.proj(a), self.p, self.training)

    def _mlp(self, x, approximate):
        return F.dropout(self.fc_out(F.gelu(self.fc(x), approximate=approximate)), self.p, self.training)


class GPT2Block(_Block):
    def forward(self, x, key_mask=None):
        x = x + self._attn(self.ln_1(x), key_mask, True)
        return x + self._mlp(self.ln_2(x), "tanh")


class BertBlock(_Block):
    def forward(self, x, key_mask=None):
        h = self.ln_1(x + self._attn(x, key_mask, False))
        return self.ln_2(h + self._mlp(h, "none"))


def recurrent(rnn, x, lengths):
    """rnn: nn.GRU / nn.LSTM / nn.RNN (batch_first) over right-padded x (B, T, I), lengths (B) >= 1."""
    T = x.shape[1]
    packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, _ = rnn(packed)
    out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=T)
    return out


def recurrent_parameters(rnn):
    """reckon's names for a one-layer nn.GRU / LSTM / RNN's weights (PyTorch's layout and gate order)."""
    return [("w_ih", rnn.weight_ih_l0), ("w_hh", rnn.weight_hh_l0), ("b_ih", rnn.bias_ih_l0), ("b_hh", rnn.bias_hh_l0)]
