"""The KServe v2 REST client side of tests/e2e/serve_http.sh, written as Triton's HTTP client
library talks (python3-requests and raw sockets). Prints one "ok: ..." or "FAIL: ..." line a
check; the shell counts them.

usage: serve_http_client.py main URL METRICS_URL MODEL SERVER_PID
       serve_http_client.py limits URL MODEL
"""
import json
import os
import signal
import socket
import struct
import sys
import time

import requests

failures = 0


def check(cond, what, detail=""):
    global failures
    if cond:
        print(f"ok: {what}", flush=True)
    else:
        failures += 1
        print(f"FAIL: {what} {detail}"[:900], flush=True)


def error_of(r):
    try:
        return r.json().get("error", "")
    except ValueError:
        return ""


FMT = {"BOOL": "?", "UINT8": "B", "UINT16": "H", "UINT32": "I", "UINT64": "Q", "INT8": "b", "INT16": "h",
       "INT32": "i", "INT64": "q", "FP32": "f", "FP64": "d"}


def values_for(meta, rows):
    """Inputs for every tensor the model's metadata lists: `rows` rows, small valid values."""
    tensors = []
    for k, t in enumerate(meta["inputs"]):
        shape = [rows if d < 0 and i == 0 else (2 if d < 0 else d) for i, d in enumerate(t["shape"])]
        n = 1
        for d in shape:
            n *= d
        dt = t["datatype"]
        if dt == "BYTES":
            data = [f"v{(i * 7 + k) % 5}" for i in range(n)]
        elif dt == "BOOL":
            data = [bool(i & 1) for i in range(n)]
        elif dt.startswith("FP"):
            data = [0.25 * ((i + k) % 4) for i in range(n)]
        else:
            data = [1 + (i * 3 + k) % 5 for i in range(n)]
        tensors.append({"name": t["name"], "datatype": dt, "shape": shape, "data": data})
    return tensors


def nest(flat, shape):
    if len(shape) <= 1:
        return list(flat)
    step = len(flat) // shape[0]
    return [nest(flat[i * step:(i + 1) * step], shape[1:]) for i in range(shape[0])]


def pack(t):
    if t["datatype"] == "BYTES":
        return b"".join(struct.pack("<I", len(s.encode())) + s.encode() for s in t["data"])
    return struct.pack("<%d%s" % (len(t["data"]), FMT[t["datatype"]]), *t["data"])


def unpack(dt, raw):
    if dt == "BYTES":
        out, at = [], 0
        while at < len(raw):
            (n,) = struct.unpack_from("<I", raw, at)
            out.append(raw[at + 4:at + 4 + n].decode())
            at += 4 + n
        return out
    size = struct.calcsize(FMT[dt])
    return list(struct.unpack("<%d%s" % (len(raw) // size, FMT[dt]), raw))


def binary_request(tensors, binary_output=True, outputs=None):
    header = {"inputs": [{"name": t["name"], "datatype": t["datatype"], "shape": t["shape"],
                          "parameters": {"binary_data_size": len(pack(t))}} for t in tensors],
              "parameters": {"binary_data_output": binary_output}}
    if outputs:
        header["outputs"] = outputs
    j = json.dumps(header).encode()
    return j + b"".join(pack(t) for t in tensors), {"Inference-Header-Content-Length": str(len(j)),
                                                   "Content-Type": "application/octet-stream"}


def split_binary(r):
    n = int(r.headers["Inference-Header-Content-Length"])
    doc = json.loads(r.content[:n])
    at, out = n, {}
    for o in doc["outputs"]:
        size = o["parameters"]["binary_data_size"]
        out[o["name"]] = unpack(o["datatype"], r.content[at:at + size])
        at += size
    return doc, out, at == len(r.content)


def main(url, metrics_url, model, pid):
    s = requests.Session()
    # ---- the seed's sequence: explicit mode, load, ready, infer, metrics, unload ----
    check(s.get(f"{url}/v2/health/live").status_code == 200, "GET /v2/health/live is 200")
    check(s.get(f"{url}/v2/health/ready").status_code == 200, "GET /v2/health/ready is 200 (no model loaded yet)")
    meta = s.get(f"{url}/v2").json()
    check(meta.get("name") == "reckon" and "model_repository" in meta.get("extensions", []),
          "GET /v2: server metadata with the model_repository extension", str(meta))
    r = s.get(f"{url}/v2/models/{model}/ready")
    check(r.status_code == 503, "a model not loaded is not ready (503)", str(r.status_code))
    r = s.post(f"{url}/v2/repository/index", json={})
    names = {e["name"]: e for e in r.json()} if r.status_code == 200 else {}
    check(model in names and names[model].get("state") != "READY", "the repository index lists the model, not ready",
          r.text)
    r = s.post(f"{url}/v2/models/{model}/infer", json={"inputs": [{"name": "x", "datatype": "FP32", "shape": [1],
                                                                    "data": [1]}]})
    check(r.status_code == 503 and model in error_of(r), "infer on a model not loaded: 503 naming it", r.text)
    r = s.post(f"{url}/v2/repository/models/{model}/load")
    check(r.status_code == 200, "POST /v2/repository/models/M/load loads it", r.text)
    check(s.get(f"{url}/v2/models/{model}/ready").status_code == 200, "the model is then ready")
    ready = s.post(f"{url}/v2/repository/index", json={"ready": True}).json()
    check(any(e["name"] == model and e["state"] == "READY" for e in ready), "the index with ready=true lists it READY",
          str(ready))
    r = s.get(f"{url}/v2/models/{model}")
    meta = r.json()
    check(r.status_code == 200 and meta["name"] == model and meta["inputs"] and meta["outputs"] and meta["versions"],
          "model metadata: name, versions, inputs and outputs", r.text)
    v = meta["versions"][-1]
    r = s.get(f"{url}/v2/models/{model}/versions/{v}")
    check(r.status_code == 200 and r.json()["inputs"] == meta["inputs"], "model metadata by version", r.text)
    r = s.get(f"{url}/v2/models/{model}/versions/{v}/ready")
    check(r.status_code == 200, "model ready by version")
    r = s.get(f"{url}/v2/models/{model}/config")
    cfg = r.json() if r.status_code == 200 else {}
    check(cfg.get("name") == model and "input" in cfg and "output" in cfg, "model config as JSON", r.text)

    rows = 3
    tensors = values_for(meta, rows)
    body = {"id": "seed-003", "inputs": tensors}
    r = s.post(f"{url}/v2/models/{model}/infer", json=body)
    res = r.json() if r.status_code == 200 else {}
    check(r.status_code == 200 and res.get("id") == "seed-003" and res.get("model_name") == model,
          "infer with JSON tensors: 200, id echoed", r.text)
    outs = {o["name"]: o for o in res.get("outputs", [])}
    check(set(outs) == {o["name"] for o in meta["outputs"]}, "every output of the metadata answered", str(list(outs)))
    for o in outs.values():
        n = 1
        for d in o["shape"]:
            n *= d
        check(o["shape"][0] == rows and len(o["data"]) == n, f"output {o['name']}: {rows} rows, data matches shape",
              str(o)[:300])
    nested = {"inputs": [dict(t, data=nest(t["data"], t["shape"])) for t in tensors]}
    r2 = s.post(f"{url}/v2/models/{model}/infer", json=nested)
    check(r2.status_code == 200 and [o["data"] for o in r2.json()["outputs"]] == [o["data"] for o in res["outputs"]],
          "nested JSON data gives the same answer as flat", r2.text[:300])
    payload, headers = binary_request(tensors)
    r3 = s.post(f"{url}/v2/models/{model}/infer", data=payload, headers=headers)
    if r3.status_code == 200 and "Inference-Header-Content-Length" in r3.headers:
        doc, bins, whole = split_binary(r3)
        check(whole, "binary response: the outputs' binary_data_size add up to the body")
        same = all(struct.pack("<f", x) == struct.pack("<f", y) if outs[k]["datatype"] == "FP32" else x == y
                   for k in bins for x, y in zip(bins[k], outs[k]["data"]))
        check(same and set(bins) == set(outs), "binary tensors in and out: the same values as JSON, bit for bit")
    else:
        check(False, "binary tensors in and out", f"{r3.status_code} {r3.headers} {r3.content[:300]}")
    first = meta["outputs"][0]["name"]
    payload, headers = binary_request(tensors, binary_output=False, outputs=[{"name": first}])
    r4 = s.post(f"{url}/v2/models/{model}/infer", data=payload, headers=headers)
    check(r4.status_code == 200 and [o["name"] for o in r4.json()["outputs"]] == [first] and
          r4.json()["outputs"][0]["data"] == outs[first]["data"],
          "binary inputs with a JSON answer, one requested output", r4.text[:300])
    r = s.post(f"{url}/v2/models/{model}/infer", json={"inputs": tensors, "outputs": [
        {"name": first, "parameters": {"binary_data": True}}]})
    check(r.status_code == 200 and "Inference-Header-Content-Length" in r.headers,
          "a JSON request asking one output as binary_data gets it binary")

    r = s.get(f"{url}/v2/models/{model}/stats")
    st = r.json().get("model_stats", []) if r.status_code == 200 else []
    check(st and st[0]["name"] == model and int(st[0]["inference_stats"]["success"]["count"]) >= 5,
          "statistics: the model's successful requests counted", r.text[:400])
    check(s.get(f"{url}/v2/models/stats").status_code == 200, "GET /v2/models/stats: every model")
    m = requests.get(f"{metrics_url}/metrics")
    for name in ["nv_inference_request_success", "nv_inference_request_failure", "nv_inference_count",
                 "nv_inference_exec_count", "nv_inference_request_duration_us", "nv_inference_queue_duration_us",
                 "nv_inference_compute_infer_duration_us"]:
        line = next((l for l in m.text.splitlines() if l.startswith(name + "{") and f'model="{model}"' in l), "")
        check(line and 'version="' in line, f"metrics: {name} with model and version labels", m.text[:300])
    check(requests.get(f"{metrics_url}/nothing").status_code == 404, "metrics port: other paths are 404")

    # ---- malformed requests: a 4xx naming the fault ----
    def bad(method, path, want, needle, **kw):
        r = s.request(method, f"{url}{path}", **kw)
        check(r.status_code == want and needle in error_of(r), f"{method} {path[:40]} {needle!r}: {want}",
              f"{r.status_code} {r.text[:300]}")
    inf = f"/v2/models/{model}/infer"
    bad("POST", inf, 400, "malformed JSON", data=b'{"inputs": [')
    bad("POST", inf, 400, "'inputs' must be a non-empty array", json={"inputs": []})
    bad("POST", inf, 400, "datatype 'FP99'", json={"inputs": [dict(tensors[0], datatype="FP99")]})
    bad("POST", inf, 400, "its shape says", json={"inputs": [dict(tensors[0], shape=[rows + 1] + tensors[0]["shape"][1:])] + tensors[1:]})
    bad("POST", inf, 400, "nosuch", json={"inputs": tensors + [{"name": "nosuch", "datatype": "FP32", "shape": [rows], "data": [0] * rows}]})
    bad("POST", inf, 400, "Inference-Header-Content-Length", data=b"{}", headers={"Inference-Header-Content-Length": "x"})
    bad("POST", "/v2/models/nosuchmodel/infer", 404, "nosuchmodel", json={"inputs": tensors})
    bad("GET", "/v2/models/nosuchmodel", 404, "nosuchmodel")
    bad("GET", f"/v2/models/{model}/versions/abc", 400, "whole number")
    bad("GET", inf, 405, "takes POST")
    bad("GET", "/v2/nothing", 404, "no endpoint")
    bad("POST", "/v2/repository/models/nosuchmodel/load", 404, "nosuchmodel")
    r = s.post(f"{url}/v2/repository/models/..%2F..%2Fetc/load")
    check(400 <= r.status_code < 500, "a model name leaving the repository is refused", f"{r.status_code} {r.text}")

    # ---- unload ----
    r = s.post(f"{url}/v2/repository/models/{model}/unload")
    check(r.status_code == 200, "POST /v2/repository/models/M/unload", r.text)
    check(s.get(f"{url}/v2/models/{model}/ready").status_code == 503, "after unload the model is not ready")
    r = s.post(f"{url}{inf}", json={"inputs": tensors})
    check(r.status_code == 503, "infer after unload: 503", r.text)

    # ---- SIGTERM drains: a request half sent when the signal comes is still answered ----
    s.post(f"{url}/v2/repository/models/{model}/load")
    host, port = url.split("//")[1].split(":")
    body = json.dumps({"inputs": tensors}).encode()
    c = socket.create_connection((host, int(port)))
    c.sendall(f"POST {inf} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              f"Content-Length: {len(body)}\r\n\r\n".encode() + body[:10])
    time.sleep(0.3)
    os.kill(pid, signal.SIGTERM)
    time.sleep(0.5)
    c.sendall(body[10:])
    reply = b""
    c.settimeout(20)
    try:
        while True:
            chunk = c.recv(65536)
            if not chunk:
                break
            reply += chunk
            if b"\r\n\r\n" in reply:
                head, rest = reply.split(b"\r\n\r\n", 1)
                length = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")]
                if length and len(rest) >= length[0]:
                    break
    except OSError:
        pass
    check(reply.startswith(b"HTTP/1.1 200"), "a request in flight at SIGTERM is answered (drain)", str(reply[:200]))
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
        refused = False
    except OSError:
        refused = True
    check(refused, "after SIGTERM no new connection is accepted")


def limits(url, model):
    s = requests.Session()
    meta = s.get(f"{url}/v2/models/{model}").json()
    inf = f"{url}/v2/models/{model}/infer"
    r = s.post(f"{url}/v2/repository/models/{model}/unload")
    check(r.status_code == 400 and "explicit" in error_of(r), "unload outside explicit mode: 400 saying so",
          f"{r.status_code} {r.text[:200]}")
    r = s.post(inf, data=b"{" + b" " * 5000 + b"}")
    check(r.status_code == 413 and "--max-body-bytes" in error_of(r), "a body over --max-body-bytes: 413",
          f"{r.status_code} {r.text[:200]}")
    t = dict(values_for(meta, 1)[0])
    t.update(shape=[200] + t["shape"][1:], data=t["data"] * 200)
    r = s.post(inf, json={"inputs": [t]})
    check(r.status_code == 400 and "--max-tensor-elements" in error_of(r), "a tensor over --max-tensor-elements: 400",
          f"{r.status_code} {r.text[:200]}")
    r = s.get(f"{url}/v2/health/live", headers={f"X-Extra-{i}": "1" for i in range(30)})
    check(r.status_code == 431 and "--max-headers" in error_of(r), "more headers than --max-headers: 431",
          f"{r.status_code} {r.text[:200]}")
    check(s.get(f"{url}/v2/health/live").status_code == 200, "the server still answers after refusing")
    host, port = url.split("//")[1].split(":")
    # a client sending one byte at a time is dropped (the read deadline), before it is done
    request = (f"POST /v2/models/{model}/infer HTTP/1.1\r\nHost: x\r\n" + "X-Slow: 1\r\n" * 8).encode()
    c = socket.create_connection((host, int(port)))
    dropped = False
    for i in range(len(request)):
        try:
            c.sendall(request[i:i + 1])
        except OSError:
            dropped = True
            break
        c.settimeout(0.25)
        try:
            if c.recv(1024) == b"":
                dropped = True
                break
        except socket.timeout:
            pass
        except OSError:
            dropped = True
            break
    check(dropped, "a client trickling a request byte by byte is dropped (--read-timeout-secs)")
    # a connection that says nothing is closed (the idle timeout)
    c = socket.create_connection((host, int(port)))
    c.settimeout(30)
    try:
        closed = c.recv(1024) == b""
    except OSError:
        closed = True
    check(closed, "a silent connection is closed (--idle-timeout-secs)")


if __name__ == "__main__":
    if sys.argv[1] == "main":
        main(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    else:
        limits(sys.argv[2], sys.argv[3])
    sys.exit(1 if failures else 0)
