"""The clients of serve_lists.sh: a ranking model with a list column (tags) served by `reckon serve`,
sent as Merlin sends a ragged column: tags__values (the rows' strings one after another) and
tags__offsets (rows + 1 offsets). Over HTTP JSON, HTTP binary tensors and gRPC (raw contents) the
scores must be `reckon predict`'s, bit for bit as float32; bad offsets get a 400 (gRPC
INVALID_ARGUMENT) naming the input. Prints "ok: ..." / "FAIL: ..." lines.
  serve_lists_client.py HTTP_URL ROWS_CSV PRED_CSV GRPC_PORT GRPC_DESC [ONNX_CSV]
(GRPC_DESC empty: no gRPC; ONNX_CSV: write the ONNX export's rows there, from its workflow step)
"""
import csv
import json
import struct
import sys

import requests


def check(ok, what, detail=""):
    print(("ok: " if ok else "FAIL: ") + what + ("" if ok else " " + str(detail)[:400]))


def f32(x):
    return struct.pack("<f", float(x))


def parse_list(text):
    """DuckDB's list text ([a, b], [] or an empty field for null) as a list of strings."""
    text = text.strip()
    if not text or text == "[]":
        return []
    return [v.strip() for v in text[1:-1].split(",")]


def tensors(rows, offsets_type="INT32"):
    values, offsets = [], [0]
    for r in rows:
        values += parse_list(r["tags"])
        offsets.append(len(values))
    n = len(rows)
    return [
        {"name": "uid", "datatype": "INT64", "shape": [n, 1], "data": [int(r["uid"]) for r in rows]},
        {"name": "item", "datatype": "INT64", "shape": [n, 1], "data": [int(r["item"]) for r in rows]},
        {"name": "tags__values", "datatype": "BYTES", "shape": [len(values)], "data": values},
        {"name": "tags__offsets", "datatype": offsets_type, "shape": [n + 1], "data": offsets},
    ]


FMT = {"INT64": "q", "INT32": "i", "FP32": "f"}


def pack(t):
    if t["datatype"] == "BYTES":
        return b"".join(struct.pack("<I", len(v.encode())) + v.encode() for v in t["data"])
    return struct.pack("<%d%s" % (len(t["data"]), FMT[t["datatype"]]), *t["data"])


def http_json(url, ts, model="dlrm"):
    return requests.post(url + "/v2/models/%s/infer" % model, json={"inputs": ts}, timeout=30)


def http_binary(url, ts):
    header = {"inputs": [{"name": t["name"], "datatype": t["datatype"], "shape": t["shape"],
                          "parameters": {"binary_data_size": len(pack(t))}} for t in ts],
              "parameters": {"binary_data_output": True}}
    j = json.dumps(header).encode()
    r = requests.post(url + "/v2/models/dlrm/infer", data=j + b"".join(pack(t) for t in ts), timeout=30,
                      headers={"Inference-Header-Content-Length": str(len(j)), "Content-Type": "application/octet-stream"})
    n = int(r.headers.get("Inference-Header-Content-Length", "0"))
    return r, r.content[n:]


def onnx_rows(url, rows, pred_text, path):
    """The ONNX export's workflow step (onnx_nvt) pads each list to the graph's width: its outputs
    and reckon predict's scores as onnx_check.js reads them (a list's ids space-separated)."""
    r = http_json(url, tensors(rows), "onnx_nvt")
    outs = {o["name"]: o for o in r.json().get("outputs", [])} if r.status_code == 200 else {}
    tags = outs.get("tags", {})
    check(r.status_code == 200 and tags.get("shape") == [len(rows), 3] and tags.get("datatype") == "INT64",
          "the ONNX export's workflow step gives tags as (rows, 3) int64 ids, padded with 0", (r.status_code, r.text[:300]))
    if "tags" not in outs:
        return
    with open(path, "w") as f:
        f.write("uid,item,tags,click/binary_output\n")
        for i in range(len(rows)):
            ids = " ".join(str(x) for x in tags["data"][3 * i:3 * i + 3])
            f.write("%d,%d,%s,%s\n" % (outs["uid"]["data"][i], outs["item"]["data"][i], ids, pred_text[i]))


def main(url, rows_csv, pred_csv, grpc_port, grpc_desc, onnx_csv=""):
    rows = list(csv.DictReader(open(rows_csv)))
    pred_text = [r[k] for r in csv.DictReader(open(pred_csv)) for k in r if "click" in k]
    pred = [f32(x) for x in pred_text]
    if onnx_csv:
        onnx_rows(url, rows, pred_text, onnx_csv)
    n = len(rows)
    check(n == 32 and len(pred) == n, "32 rows and their offline scores")
    ts = tensors(rows)
    check(sum(1 for r in rows if parse_list(r["tags"]) == []) > 0, "some rows send an empty list (offsets repeat)")

    md = requests.get(url + "/v2/models/dlrm", timeout=10).json()
    shapes = {t["name"]: t["shape"] for t in md.get("inputs", [])}
    check(shapes.get("tags__values") == [-1] and shapes.get("tags__offsets") == [-1] and shapes.get("uid") == [-1, 1],
          "HTTP model metadata: the ragged pair's shapes are [-1] (no batch axis)", shapes)
    r = http_json(url, ts)
    got = [f32(x) for x in r.json()["outputs"][0]["data"]] if r.status_code == 200 else []
    check(r.status_code == 200 and got == pred, "HTTP JSON: the served scores are reckon predict's, bit for bit",
          (r.status_code, r.text[:300]))
    r, raw = http_binary(url, ts)
    check(r.status_code == 200 and raw == b"".join(pred), "HTTP binary tensors: the same bits", (r.status_code, r.content[:300]))
    r = http_json(url, tensors(rows, "INT64"))
    got = [f32(x) for x in r.json()["outputs"][0]["data"]] if r.status_code == 200 else []
    check(r.status_code == 200 and got == pred, "INT64 offsets are taken too", r.text[:300])
    half = [http_json(url, tensors(rows[:16])), http_json(url, tensors(rows[16:]))]
    got = [f32(x) for h in half if h.status_code == 200 for x in h.json()["outputs"][0]["data"]]
    check(got == pred, "two requests of 16 rows score as one of 32", [h.text[:200] for h in half])
    one = http_json(url, tensors(rows[5:6]))
    check(one.status_code == 200 and [f32(x) for x in one.json()["outputs"][0]["data"]] == pred[5:6],
          "a single row", one.text[:300])

    def bad(mutate, words, what):
        t = tensors(rows)
        mutate(t)
        r = http_json(url, t)
        msg = r.json().get("error", "") if r.headers.get("Content-Type", "").startswith("application/json") else r.text
        check(r.status_code == 400 and all(w in msg for w in words), what, (r.status_code, r.text[:300]))

    def set_offsets(t, values):
        t[3]["data"] = values
        t[3]["shape"] = [len(values)]

    offs = tensors(rows)[3]["data"]
    bad(lambda t: set_offsets(t, [1] + offs[1:]), ["tags__offsets", "starts at 1"], "offsets not from 0: 400 naming the input")
    k = next(i for i in range(1, n) if offs[i + 1] > offs[i])
    bad(lambda t: set_offsets(t, offs[:k] + [offs[k + 1], offs[k]] + offs[k + 2:]), ["tags__offsets", "decreases"],
        "decreasing offsets: 400 naming the input")
    bad(lambda t: set_offsets(t, offs[:-1] + [offs[-1] + 1]), ["tags__offsets", "ends at", "tags__values"],
        "offsets past the values: 400 naming both inputs")
    bad(lambda t: set_offsets(t, offs[:-2] + [offs[-1]]), ["tags__offsets", "31 rows", "32"],
        "offsets for fewer rows than the other inputs: 400")
    bad(lambda t: set_offsets(t, []), ["tags__offsets", "empty"], "no offsets at all: 400")
    bad(lambda t: t.pop(3), ["lacks input 'tags__offsets'"], "values without offsets: 400 naming the missing input")
    bad(lambda t: t[3].update(datatype="FP32", data=[float(x) for x in offs]), ["tags__offsets", "INT32 or INT64"],
        "float offsets: 400")
    bad(lambda t: t[2].update(shape=[1, len(t[2]["data"])]), ["tags__values", "expected [-1]"], "2-D values: 400")
    bad(lambda t: t[2].update(datatype="INT64", data=[1] * len(t[2]["data"])), ["tags__values", "is INT64, expected BYTES"],
        "values of the wrong datatype: 400")

    def too_long(t):
        t[2]["data"] = ["a"] * 4 + t[2]["data"]
        t[2]["shape"] = [len(t[2]["data"])]
        t[3]["data"] = [0] + [o + 4 for o in offs[1:]]
    bad(too_long, ["tags", "4 values", "value_count max is 3"], "a row longer than the schema's value_count max: 400")
    r = requests.post(url + "/v2/models/dlrm_nvt/infer", json={"inputs": tensors(rows)}, timeout=30)
    check(r.status_code == 400 and "output 'tags' holds lists of different lengths" in r.text,
          "the workflow step asked directly: its ragged list output is a 400 naming it, not a 500", (r.status_code, r.text[:300]))
    check(requests.get(url + "/v2/health/live", timeout=10).status_code == 200, "still live after the bad requests")

    if not grpc_desc:
        return
    import grpc
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    fds = descriptor_pb2.FileDescriptorSet()
    fds.ParseFromString(open(grpc_desc, "rb").read())
    pool = descriptor_pool.DescriptorPool()
    for f in fds.file:
        pool.Add(f)
    factory = message_factory.MessageFactory(pool)

    def M(name):
        return factory.GetPrototype(pool.FindMessageTypeByName("inference." + name))

    channel = grpc.insecure_channel("127.0.0.1:" + grpc_port)
    infer = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer",
                                request_serializer=lambda m: m.SerializeToString(),
                                response_deserializer=M("ModelInferResponse").FromString)
    meta = channel.unary_unary("/inference.GRPCInferenceService/ModelMetadata",
                               request_serializer=lambda m: m.SerializeToString(),
                               response_deserializer=M("ModelMetadataResponse").FromString)
    md = meta(M("ModelMetadataRequest")(name="dlrm"), timeout=20)
    shapes = {t.name: (t.datatype, list(t.shape)) for t in md.inputs}
    check(shapes.get("tags__values") == ("BYTES", [-1]) and shapes.get("tags__offsets") == ("INT32", [-1])
          and shapes.get("uid") == ("INT64", [-1, 1]), "gRPC ModelMetadata: the ragged pair among the inputs, 1-D", shapes)

    def request(ts):
        q = M("ModelInferRequest")(model_name="dlrm")
        for t in ts:
            q.inputs.add(name=t["name"], datatype=t["datatype"], shape=t["shape"])
        q.raw_input_contents.extend(pack(t) for t in ts)
        return q

    resp = infer(request(ts), timeout=30)
    check(list(resp.raw_output_contents) == [b"".join(pred)], "gRPC ModelInfer: the same bits as reckon predict")
    t = tensors(rows)
    set_offsets(t, offs[:-1] + [offs[-1] + 1])
    try:
        infer(request(t), timeout=30)
        check(False, "gRPC: bad offsets are refused (it succeeded)")
    except grpc.RpcError as e:
        check(e.code() == grpc.StatusCode.INVALID_ARGUMENT and "tags__offsets" in e.details(),
              "gRPC: bad offsets get INVALID_ARGUMENT naming the input", (e.code(), e.details()))


if __name__ == "__main__":
    main(*sys.argv[1:7])
