#!/usr/bin/python3
"""Write PyTorch reference fixtures for the sequence ops and blocks (tests/unit/test_nn_seq_reference.c).

Run with Debian's python3 and torch 1.13:  /usr/bin/python3 tests/reference/make_seq_fixtures.py
The format is make_nn_fixtures.py's (one JSON file per case under tests/reference/fixtures/:
"tensors" maps a name to {"shape", "data"}; "out:<name>" forward values, "grad:<name>" gradients
of loss = sum(out * probe)). Dropout is 0: the draws are not PyTorch's. Sessions are right-padded
with id 0; the BERT case has a session with no item at all (its queries see no key).
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import seq_blocks as sb  # noqa: E402
from make_nn_fixtures import OUT, save  # noqa: E402

torch.manual_seed(0)
B, T = 3, 5


def ids_of(lengths):
    ids = torch.zeros(B, T, dtype=torch.int64)
    for b, n in enumerate(lengths):
        ids[b, :n] = torch.randint(1, 50, (n,))
    return ids


def randomise(params, scale=0.3):
    with torch.no_grad():
        for _, p in params:
            p.copy_(torch.randn_like(p) * scale)


def block_case(name, cls, lengths):
    D = 8
    blk = cls(d_model=D, heads=2, d_ff=12, ln_eps=0.03)
    params = blk.reckon_parameters()
    randomise(params)
    with torch.no_grad():                      # LayerNorm gammas near 1, as trained ones are
        blk.ln_1.weight.add_(1.0)
        blk.ln_2.weight.add_(1.0)
    ids = ids_of(lengths)
    x = torch.randn(B, T, D).requires_grad_()
    probe = torch.randn(B, T, D)
    out = blk(x, ids != 0)
    (out * probe).sum().backward()
    tensors = {"ids": ids, "x": x, "probe": probe, **{k: v for k, v in params},
               "out:out": out, "out:weights": blk.last_weights, "grad:x": x.grad,
               **{"grad:" + k: v.grad for k, v in params}}
    save(name, tensors)


def recurrent_case(name, rnn, lengths):
    I = rnn.input_size
    params = sb.recurrent_parameters(rnn)
    randomise(params, 0.5)
    ids = ids_of(lengths)
    x = torch.randn(B, T, I).requires_grad_()
    probe = torch.randn(B, T, rnn.hidden_size)
    out = sb.recurrent(rnn, x, torch.tensor(lengths))
    (out * probe).sum().backward()
    save(name, {"ids": ids, "x": x, "probe": probe, **{k: v for k, v in params}, "out:out": out,
                "grad:x": x.grad, **{"grad:" + k: v.grad for k, v in params}})


def tied_case():
    """A session model's head: items looked up from the table E and scored against it (tied, with a
    bias): logits = tanh(e W^T + b1) E^T + bias, then the tempered, smoothed cross-entropy of the next
    item (labels shifted by one, 0 ignored). E's row 0 is the padding row (zero)."""
    V, D = 9, 4
    ids = ids_of([5, 3, 1])
    ids = torch.where(ids != 0, 1 + ids % (V - 1), ids)     # items 1 .. V-1, 0 the padding
    E = torch.randn(V, D) * 0.5
    E[0] = 0
    p = {"items": E.requires_grad_(), "w": (torch.randn(D, D) * 0.5).requires_grad_(),
         "b1": (torch.randn(D) * 0.1).requires_grad_(), "bias": (torch.randn(V) * 0.1).requires_grad_()}
    labels = torch.zeros_like(ids)
    labels[:, :-1] = ids[:, 1:]
    e = F.embedding(ids, p["items"], padding_idx=0)
    logits = F.linear(torch.tanh(F.linear(e, p["w"], p["b1"])), p["items"], p["bias"])
    loss = F.cross_entropy(logits.reshape(-1, V) / 0.7, labels.reshape(-1), ignore_index=0, label_smoothing=0.1)
    loss.backward()
    save("seq_tied", {"ids": ids, "labels": labels, **p, "out:logits": logits, "out:loss": loss,
                      **{"grad:" + k: v.grad for k, v in p.items()}})


def ce_case():
    z = (torch.randn(6, 7) * 2).requires_grad_()
    y = torch.tensor([3, 0, 6, 1, 0, 2])
    loss = F.cross_entropy(z / 0.7, y, ignore_index=0, label_smoothing=0.1)
    loss.backward()
    save("seq_ce", {"z": z, "y": y, "out:loss": loss, "grad:z": z.grad})


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    block_case("seq_gpt2", sb.GPT2Block, [5, 3, 1])
    block_case("seq_bert", sb.BertBlock, [5, 2, 0])
    recurrent_case("seq_gru", torch.nn.GRU(4, 3, batch_first=True), [5, 3, 1])
    recurrent_case("seq_lstm", torch.nn.LSTM(4, 3, batch_first=True), [5, 2, 4])
    recurrent_case("seq_rnn", torch.nn.RNN(4, 3, batch_first=True), [2, 5, 1])
    ce_case()
    tied_case()
