#!/usr/bin/python3
"""The fixed request bodies of bench/serve.sh, built once before any timing.

    serve_requests.py dlrm CSV BATCH OUT_PREFIX DESC        (raw TenRec rows, `reckon synth tenrec`)
    serve_requests.py sessions CSV BATCH OUT_PREFIX DESC    (raw click events, `reckon synth sessions`)

Writes OUT_PREFIX.json (a KServe v2 JSON infer body: the raw columns the exported ensemble takes,
typed as its config types them) and OUT_PREFIX.grpc (one gRPC message: the 5-byte length prefix
and an inference.ModelInferRequest with raw_input_contents, encoded with python3-protobuf from
the project's descriptor set DESC, build/proto/grpc_service.desc), for the model "dlrm" / "t4r".

dlrm: BATCH rows of the CSV (the first ones), columns user_id, item_id (INT32), video_category,
gender, age (INT8). sessions: BATCH whole sessions of the CSV (header-less session_id, timestamp,
item_id, category; events with a null left out, as a client must), the first BATCH sessions of at
least 4 events, their first 4 events each, so a request's rows are 4 x BATCH events.
"""
import json
import struct
import sys

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

FMT = {"INT8": "b", "INT32": "i", "INT64": "q", "FP32": "f"}


def tensors_dlrm(path, batch):
    import csv
    types = {"user_id": "INT32", "item_id": "INT32", "video_category": "INT8", "gender": "INT8", "age": "INT8"}
    rows = []
    with open(path) as f:
        for r in csv.DictReader(f):
            if all(r[c] not in ("", "\\N") for c in types):
                rows.append(r)
            if len(rows) == batch:
                break
    return [(c, t, [int(r[c]) for r in rows]) for c, t in types.items()], "dlrm"


def tensors_sessions(path, batch):
    per = 4
    sessions = {}
    with open(path) as f:
        for line in f:
            sid, ts, item, cat = line.rstrip("\n").split(",")
            if "" in (sid, ts, item, cat):
                continue
            sessions.setdefault(int(sid), []).append((ts, int(item), int(cat)))
    chosen = [(s, ev[:per]) for s, ev in sessions.items() if len(ev) >= per][:batch]
    if len(chosen) < batch:
        raise SystemExit(f"serve_requests.py: {path} has {len(chosen)} sessions of {per} events, not {batch}")
    ev = [(s, e) for s, evs in chosen for e in evs]
    return [("session_id", "INT64", [s for s, _ in ev]), ("timestamp", "BYTES", [e[0] for _, e in ev]),
            ("item_id", "INT64", [e[1] for _, e in ev]), ("category", "INT64", [e[2] for _, e in ev])], "t4r"


def raw_bytes(dt, data):
    if dt == "BYTES":
        return b"".join(struct.pack("<I", len(s.encode())) + s.encode() for s in data)
    return struct.pack("<%d%s" % (len(data), FMT[dt]), *data)


def main():
    kind, path, batch, prefix, desc = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
    tensors, model = (tensors_dlrm if kind == "dlrm" else tensors_sessions)(path, batch)
    body = {"id": "bench", "inputs": [{"name": n, "datatype": t, "shape": [len(d), 1], "data": d}
                                      for n, t, d in tensors]}
    with open(prefix + ".json", "w") as f:
        json.dump(body, f, separators=(",", ":"))
    fds = descriptor_pb2.FileDescriptorSet()
    fds.ParseFromString(open(desc, "rb").read())
    pool = descriptor_pool.DescriptorPool()
    for fd in fds.file:
        pool.Add(fd)
    Request = message_factory.MessageFactory(pool).GetPrototype(pool.FindMessageTypeByName("inference.ModelInferRequest"))
    r = Request(model_name=model, id="bench")
    for n, t, d in tensors:
        x = r.inputs.add(name=n, datatype=t)
        x.shape.extend([len(d), 1])
        r.raw_input_contents.append(raw_bytes(t, d))
    msg = r.SerializeToString()
    with open(prefix + ".grpc", "wb") as f:
        f.write(b"\x00" + struct.pack(">I", len(msg)) + msg)


if __name__ == "__main__":
    main()
