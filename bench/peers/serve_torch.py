#!/usr/bin/python3
"""The PyTorch peer of bench/serve.sh: a model folder of `reckon train` (a DLRM) or `reckon
sessions` (a GPT-2) served over KServe v2's JSON infer call, as a user without Triton would serve
it: the workflow applied with pandas, the model as TorchScript, behind Python's own HTTP server.

    serve_torch.py --model_dir DIR --reckon BIN --port P --threads N [--top_k 20] [--check]

Its best ordinary setup from Debian (no flask or gunicorn there): http.server's
ThreadingHTTPServer (a thread per connection, HTTP/1.1 keep-alive, as wrk drives it),
torch.set_num_threads(N) with OMP/OpenBLAS at N (the caller sets the environment), no autograd
(torch.inference_mode), the model traced once with torch.jit.trace and frozen.

POST /v2/models/<any>/infer takes the same body reckon's ensemble takes: the raw columns as
KServe v2 JSON tensors ({"inputs": [{"name", "datatype", "shape", "data"}]}), and answers with
KServe v2 JSON outputs named as reckon's ensemble names them. GET /v2/health/ready answers 200
once the model is loaded (the bench waits on it).

- DLRM: tests/reference/ranking_models.py's model with the folder's weights (weights.safetensors
  carries reckon's parameter names, which that module uses); the flags from model.json. The
  workflow: each categorical column mapped through the saved vocabulary (categories/unique.<c>.parquet,
  read once at start through `reckon convert` to CSV, as pandas here has no Parquet engine):
  0 padding, 1 null, 2 unseen, row i of the vocabulary id i. Output: sigmoid as
  `<target>/binary_output`.
- GPT-2: bench/peers/sessions_torch.py's SessionModel with the architecture and sizes of
  model.json (d_model, heads, layers, tables' cardinalities); its weights are not reckon's (the
  names differ), which changes no timing. The workflow, as the session ETL defines it
  (docs/sessions.md): categorify item_id and category, sort each session's events by time, drop
  consecutive repeats of an item, day-of-week sin/cos, product recency (log1p of days since the
  item's first sighting, session/first_seen.item_id.parquet, normalized with the saved mean and
  std), the last session_seq_length_max events per session, sessions of fewer than 2 events
  dropped; then the hidden state at each session's last event, scores over the catalogue, top k.
  Outputs item_ids and item_id_scores, one row per session sorted by session id.

--check runs one small request through the handler's code and prints it (a self-test).
"""
import argparse
import json
import math
import os
import struct
import subprocess
import sys
import tempfile
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pandas as pd
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "reference"))
sys.path.insert(0, HERE)
warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)   # shapes stay symbolic: checked by --check

ST_DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32}


def read_safetensors(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack_from("<Q", raw, 0)
    head = json.loads(raw[8:8 + n])
    out = {}
    for name, t in head.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        out[name] = np.frombuffer(raw[8 + n + a:8 + n + b], dtype=ST_DTYPES[t["dtype"]]).reshape(t["shape"])
    return out


def parquet_csv(reckon, path, tmp):
    """A small Parquet file of the workflow, as a pandas frame (through `reckon convert`)."""
    dst = os.path.join(tmp, os.path.basename(path) + ".csv")
    subprocess.run([reckon, "convert", path, dst, "--quiet"], check=True, stdout=subprocess.DEVNULL)
    return pd.read_csv(dst, dtype=str, keep_default_na=False)


def vocabulary(reckon, wf_dir, col, tmp):
    """value (as the raw column's int) -> id; rows 0-2 of the file are the reserved ids."""
    df = parquet_csv(reckon, os.path.join(wf_dir, "categories", f"unique.{col}.parquet"), tmp)
    vals = df[col].tolist()
    return {int(v): i for i, v in enumerate(vals) if i >= 3 and v != ""}


def categorify(values, vocab):
    s = pd.Series(values)
    ids = s.map(vocab)
    ids = ids.where(s.notna(), 1).fillna(2)   # null -> 1, unseen -> 2
    return ids.to_numpy(dtype=np.int64)


def columns_of(body):
    return {t["name"]: np.asarray(t["data"]).reshape(-1) for t in body["inputs"]}


class Dlrm:
    def __init__(self, model_dir, reckon, tmp):
        import ranking_models as rm
        meta = json.load(open(os.path.join(model_dir, "model.json")))
        flags = meta["flags"]
        feats = meta["features"]
        schema = {"categorical": [{"name": c["name"], "cardinality": c["cardinality"]} for c in feats["categorical"]],
                  "continuous": list(feats["continuous"]), "target": meta["tasks"][0]}
        if schema["continuous"]:
            raise SystemExit("serve_torch.py: this peer serves DLRMs on categorical columns only")
        cfg = {k: flags[k] for k in ("mlp_layers", "activation", "embeddings_dim", "dlrm_top_input") if k in flags}
        model = rm.build("dlrm", schema, cfg)
        weights = read_safetensors(os.path.join(model_dir, "weights.safetensors"))
        with torch.no_grad():
            for name, p in model.reckon_parameters():
                p.copy_(torch.from_numpy(weights[name].copy()).reshape(p.shape))
        model.eval()
        self.cats = [c["name"] for c in feats["categorical"]]
        self.output = f"{meta['tasks'][0]}/binary_output"
        wf = os.path.join(model_dir, "workflow")
        sources = {c["name"]: c["source"] for c in json.load(open(os.path.join(wf, "workflow.json")))["columns"]}
        self.sources = [sources[c] for c in self.cats]
        self.vocab = [vocabulary(reckon, wf, c, tmp) for c in self.cats]

        class Scorer(torch.nn.Module):
            def __init__(self, m):
                super().__init__()
                self.m = m

            def forward(self, ids):
                return torch.sigmoid(self.m(ids, None))

        example = torch.ones(4, len(self.cats), dtype=torch.int64)
        with torch.inference_mode():
            self.scorer = torch.jit.freeze(torch.jit.trace(Scorer(model).eval(), example))

    def infer(self, body):
        cols = columns_of(body)
        ids = np.stack([categorify(cols[s], v) for s, v in zip(self.sources, self.vocab)], axis=1)
        with torch.inference_mode():
            p = self.scorer(torch.from_numpy(ids)).reshape(-1)
        return [{"name": self.output, "datatype": "FP32", "shape": [len(p), 1], "data": p.tolist()}]


class Sessions:
    def __init__(self, model_dir, reckon, tmp, top_k):
        import sessions_torch as st
        meta = json.load(open(os.path.join(model_dir, "model.json")))
        flags = meta["flags"]
        argv = ["train", "--train_data", "-"]
        a = st.parser().parse_args(argv)
        for k, v in flags.items():
            if hasattr(a, k) and k not in ("train_data", "eval_data", "feature_config"):
                setattr(a, k, v)
        feats = {}
        for f in meta["features"]:
            feats[f["name"]] = ({"dtype": "categorical", "cardinality": f["cardinality"], "is_label": f["is_item"],
                                 "emb_table": f["table"]} if f["categorical"] else {"dtype": "float"})
        self.model = st.SessionModel(a, feats).eval()
        self.feats, self.T, self.k = feats, a.session_seq_length_max, top_k
        wf = os.path.join(model_dir, "workflow")
        spec = json.load(open(os.path.join(wf, "workflow.json")))
        self.sess = spec["session"]
        self.norm = next(c for c in spec["columns"] if c["name"] == "product_recency_days_log_norm")
        self.vocab = {c: vocabulary(reckon, wf, c, tmp) for c in ["item_id"] + self.sess["categorical"]}
        fs = parquet_csv(reckon, os.path.join(wf, self.sess["first_seen"]), tmp)
        fs = fs[(fs["item_id"] != "") & (fs["first_seen_us"] != "")]
        self.first_seen = dict(zip(fs["item_id"].astype(np.int64), fs["first_seen_us"].astype(np.int64)))
        self.item_col = next(c for c, f in feats.items() if f.get("is_label"))
        names = list(feats)
        m, item_col = self.model, self.item_col

        class Scorer(torch.nn.Module):
            """(B, T) per feature, lengths -> top-k ids and scores at each session's last event."""
            def __init__(self):
                super().__init__()
                self.m = m

            def forward(self, cols, last):
                batch = dict(zip(names, cols))
                h = self.m.body(self.m.embed(batch), batch[item_col] != 0)
                h = torch.tanh(self.m.out_proj(h[torch.arange(h.shape[0]), last]))
                return torch.topk(self.m.logits(h), top_k, dim=1)

        example = [torch.ones(3, self.T, dtype=torch.int64 if feats[c]["dtype"] == "categorical" else torch.float32)
                   for c in names]
        self.names = names
        with torch.inference_mode():
            self.scorer = torch.jit.trace(Scorer().eval(), (example, torch.full((3,), self.T - 1)),
                                          check_trace=False)
        self.scorer = torch.jit.freeze(self.scorer)

    def infer(self, body):
        c = columns_of(body)
        df = pd.DataFrame({"session_id": c["session_id"].astype(np.int64),
                           "ts": pd.to_datetime(pd.Series(c["timestamp"]), utc=True),
                           "item": c["item_id"].astype(np.int64)})
        df["item_id"] = categorify(df["item"], self.vocab["item_id"])
        for col in self.sess["categorical"]:
            df[col] = categorify(c[col].astype(np.int64), self.vocab[col])
        df = df.sort_values(["session_id", "ts"], kind="stable")
        if self.sess["dedup_consecutive"]:
            same = (df["session_id"] == df["session_id"].shift()) & (df["item"] == df["item"].shift())
            df = df[~same]
        us = df["ts"].astype("int64").to_numpy() // 1000
        dow = ((us // 86_400_000_000) + 3) % 7              # 1970-01-01 was a Thursday (0 = Monday)
        df["et_dayofweek_sin"] = np.sin(2 * math.pi * dow / 7).astype(np.float32)
        df["et_dayofweek_cos"] = np.cos(2 * math.pi * dow / 7).astype(np.float32)
        first = df["item"].map(self.first_seen).fillna(pd.Series(us, index=df.index)).to_numpy(np.int64)
        days = np.maximum(us - first, 0) / 86_400e6
        df["product_recency_days_log_norm"] = ((np.log1p(days) - self.norm["mean"]) / self.norm["std"]).astype(np.float32)
        df = df.groupby("session_id", sort=True).tail(self.T)
        sizes = df.groupby("session_id", sort=True).size()
        keep = sizes[sizes >= self.sess["min_length"]]
        df = df[df["session_id"].isin(keep.index)]
        B, lengths = len(keep), keep.to_numpy()
        pos = df.groupby("session_id", sort=True).cumcount().to_numpy()
        row = np.repeat(np.arange(B), lengths)
        cols = []
        for name in self.names:
            src = name[:-len("-list" + self.sess["list_suffix"])]
            cat = self.feats[name]["dtype"] == "categorical"
            grid = np.zeros((B, self.T), dtype=np.int64 if cat else np.float32)
            grid[row, pos] = df[src].to_numpy()
            cols.append(torch.from_numpy(grid))
        with torch.inference_mode():
            scores, ids = self.scorer(cols, torch.from_numpy(lengths - 1))
        return [{"name": "item_ids", "datatype": "INT64", "shape": [B, self.k], "data": ids.reshape(-1).tolist()},
                {"name": "item_id_scores", "datatype": "FP32", "shape": [B, self.k], "data": scores.reshape(-1).tolist()}]


def serve(model, port):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"   # keep-alive

        def log_message(self, *args):
            pass

        def reply(self, code, obj):
            data = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self.reply(200 if self.path.startswith("/v2/health") else 404, {})

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if not self.path.endswith("/infer"):
                return self.reply(404, {"error": "unknown path " + self.path})
            try:
                req = json.loads(body)
                self.reply(200, {"id": req.get("id", ""), "outputs": model.infer(req)})
            except Exception as e:   # a peer: any fault is the client's 400
                self.reply(400, {"error": str(e)})

    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.request_queue_size = 256
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model_dir", required=True)
    ap.add_argument("--reckon", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--top_k", type=int, default=20)
    ap.add_argument("--check", default="", help="a request body file: print its response and exit")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    family = json.load(open(os.path.join(a.model_dir, "model.json"))).get("family", "ranking")
    with tempfile.TemporaryDirectory() as tmp:
        model = Sessions(a.model_dir, a.reckon, tmp, a.top_k) if family == "session" else Dlrm(a.model_dir, a.reckon, tmp)
    if a.check:
        print(json.dumps(model.infer(json.load(open(a.check))))[:2000])
        return
    print(f"serve_torch.py: {family} model ready on 127.0.0.1:{a.port}", flush=True)
    serve(model, a.port)


if __name__ == "__main__":
    main()
