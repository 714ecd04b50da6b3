#!/usr/bin/env bash
# The gRPC frontend with a real client: python3-grpcio and python3-protobuf, messages built from
# the descriptor set of proto/grpc_service.proto (no generated Python), against a repository
# `reckon export` wrote from a DLRM that `reckon train` fitted. The seed's sequence (load, ready,
# infer, unload), every RPC, raw and typed tensors giving the same bits and `reckon predict`'s
# scores, malformed requests answered with the gRPC status and a message naming the fault, and
# SIGTERM draining the calls in flight. The server is `reckon serve --grpc-port=0`.
# Skips when gRPC is not built or Python lacks grpcio/protobuf (fails under RECKON_REQUIRE_PEERS=1).
set -u
source "$(dirname "$0")/lib.bash"
R=$RECKON_BIN
B=$(dirname "$R")
PY=/usr/bin/python3
skip() {
  if [ "${RECKON_REQUIRE_PEERS:-0}" = 1 ]; then fail "$1 (RECKON_REQUIRE_PEERS=1)"; finish; fi
  echo "skip: $1"
  exit 0
}
"$R" --version 2>&1 | grep "^features:" | grep -qw grpc || { echo "skip: gRPC is not built (no nghttp2 or protobuf-c)"; exit 0; }
"$PY" -c "import grpc, google.protobuf" 2>/dev/null || skip "python3 has no grpcio/protobuf (Debian: python3-grpcio python3-protobuf)"

tmp=$(mktemp -d)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && { kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; }
  rm -rf "$tmp"
}
trap cleanup EXIT

# ---- a small DLRM, exported ----
"$R" synth tenrec --rows 3000 --seed 5 --output "$tmp/qk.csv" >/dev/null
"$R" preprocess --input_data_format=csv --input_data_path "$tmp/qk.csv" --output_path="$tmp/pp/" \
  --categorical_features=user_id,item_id,video_category,gender,age --binary_classif_targets=click \
  --to_int32=user_id,item_id --to_int8=gender,age,video_category,click --dataset_split_strategy=random \
  --random_split_eval_perc=0.2 --quiet
"$R" train --train_path "$tmp/pp/train" --eval_path "$tmp/pp/eval" --output_path "$tmp/o" --tasks=click --model dlrm \
  --embeddings_dim 8 --mlp_layers 16 --epochs 1 --save_model_path "$tmp/m" --quiet >/dev/null
"$R" export --model_path "$tmp/m" --output_path "$tmp/repo" --name dlrm --quiet
expect_status $? 0 "reckon export writes the repository"
# The offline scores of the first 8 rows: transform, then predict.
head -9 "$tmp/qk.csv" >"$tmp/rows.csv"
"$R" transform --workflow "$tmp/pp/workflow" "$tmp/rows.csv" "$tmp/rows_t" --quiet >/dev/null &&
  "$R" predict --load_model_path "$tmp/m" --predict_data_path "$tmp/rows_t" --predict_output_path "$tmp/pred.csv" \
    --quiet >/dev/null
expect_status $? 0 "reckon transform and predict score the rows offline"

# ---- the server: `reckon serve` in explicit mode, gRPC only, on a free port ----
"$R" serve --model-repository="$tmp/repo" --model-control-mode=explicit --grpc-port=0 --grpc-address=127.0.0.1 \
  --allow-http=false --allow-metrics=false --max-body-bytes=1048576 >"$tmp/port" 2>"$tmp/server.err" &
server_pid=$!
for _ in $(seq 100); do grep -q 'gRPC on ' "$tmp/port" && break; sleep 0.1; done
port=$(sed -n 's/^reckon serve: gRPC on .*:\([0-9]*\)$/\1/p' "$tmp/port")
[ -n "$port" ] || { fail "the server starts ($(cat "$tmp/server.err"))"; finish; }
pass "the server listens for gRPC on port $port ($(head -c 40 "$tmp/port" | head -1))"

out=$("$PY" - "$B/proto/grpc_service.desc" "$port" "$tmp/rows.csv" "$tmp/pred.csv" "$server_pid" <<'PYEOF' 2>&1
import csv, os, signal, struct, sys
import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

desc, port, rows_csv, pred_csv = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
fds = descriptor_pb2.FileDescriptorSet()
fds.ParseFromString(open(desc, "rb").read())
pool = descriptor_pool.DescriptorPool()
for f in fds.file:
    pool.Add(f)
factory = message_factory.MessageFactory(pool)
def M(name):
    return factory.GetPrototype(pool.FindMessageTypeByName("inference." + name))

channel = grpc.insecure_channel("127.0.0.1:" + port)
def rpc(method, request, compression=None):
    resp = M(method + "Response")
    stub = channel.unary_unary("/inference.GRPCInferenceService/" + method,
                               request_serializer=lambda m: m.SerializeToString(),
                               response_deserializer=resp.FromString)
    return stub(request, timeout=20, compression=compression)

def check(ok, what):
    print(("ok: " if ok else "FAIL: ") + what)

def expect_error(method, request, code, words, what, compression=None):
    try:
        rpc(method, request, compression)
        check(False, what + " (it succeeded)")
    except grpc.RpcError as e:
        good = e.code() == code and all(w in e.details() for w in words)
        check(good, what + ("" if good else " (got %s: %s)" % (e.code(), e.details())))

def req(rpc_name, **kw):
    return M(rpc_name + "Request")(**kw)

# health and metadata
check(rpc("ServerLive", req("ServerLive")).live, "ServerLive: live")
check(rpc("ServerReady", req("ServerReady")).ready, "ServerReady: ready")
md = rpc("ServerMetadata", req("ServerMetadata"))
check(md.name == "reckon" and md.version != "", "ServerMetadata: name reckon and a version")
ix = rpc("RepositoryIndex", req("RepositoryIndex"))
check(sorted(m.name for m in ix.models) == ["dlrm", "dlrm_dlrm", "dlrm_nvt"], "RepositoryIndex lists the export's three models")
check(not rpc("ModelReady", req("ModelReady", name="dlrm")).ready, "ModelReady: not ready before the load")

# the seed's sequence: load, ready, infer, unload
rpc("RepositoryModelLoad", req("RepositoryModelLoad", model_name="dlrm"))
check(rpc("ModelReady", req("ModelReady", name="dlrm")).ready, "RepositoryModelLoad, then ModelReady: ready")
ix = rpc("RepositoryIndex", req("RepositoryIndex", ready=True))
check({m.name for m in ix.models} == {"dlrm", "dlrm_dlrm", "dlrm_nvt"} and all(m.state == "READY" for m in ix.models),
      "RepositoryIndex ready=true: the ensemble and its steps, READY")
meta = rpc("ModelMetadata", req("ModelMetadata", name="dlrm"))
inputs = {t.name: t for t in meta.inputs}
check(set(inputs) == {"user_id", "item_id", "video_category", "gender", "age"} and meta.platform == "ensemble"
      and [o.name for o in meta.outputs] == ["click/binary_output"] and meta.outputs[0].datatype == "FP32",
      "ModelMetadata: the raw columns in, click/binary_output out")
cfg = rpc("ModelConfig", req("ModelConfig", name="dlrm")).config
check(cfg.name == "dlrm" and cfg.platform == "ensemble" and len(cfg.ensemble_scheduling.step) == 2
      and cfg.ensemble_scheduling.step[0].model_name == "dlrm_nvt", "ModelConfig: the ensemble and its steps")
cfg = rpc("ModelConfig", req("ModelConfig", name="dlrm_dlrm")).config
db = cfg.dynamic_batching
check(cfg.backend == "reckon" and cfg.max_batch_size == 1024 and cfg.input[0].dims == [1]
      and list(db.preferred_batch_size) == [64, 256] and db.max_queue_delay_microseconds == 100
      and cfg.parameters["reckon_kind"].string_value == "model", "ModelConfig: the model step with its dynamic batching")

rows = list(csv.DictReader(open(rows_csv)))
n = len(rows)
fmt = {"INT32": "i", "INT8": "b", "INT64": "q", "FP32": "f"}
kinds = {"INT32": "int_contents", "INT8": "int_contents", "INT64": "int64_contents", "FP32": "fp32_contents"}
def infer_request(raw, names=None):
    r = req("ModelInfer", model_name="dlrm", id="seed-003")
    raws = []
    for t in meta.inputs:
        if names is not None and t.name not in names:
            continue
        vals = [int(row[t.name]) for row in rows]
        x = r.inputs.add(name=t.name, datatype=t.datatype, shape=[n, 1])
        if raw:
            raws.append(struct.pack("<%d%s" % (n, fmt[t.datatype]), *vals))
        else:
            getattr(x.contents, kinds[t.datatype]).extend(vals)
    r.raw_input_contents.extend(raws)
    return r

raw = rpc("ModelInfer", infer_request(True))
typed = rpc("ModelInfer", infer_request(False))
check(raw.id == "seed-003" and raw.model_name == "dlrm" and list(raw.outputs[0].shape) == [n, 1]
      and len(raw.raw_output_contents) == 1, "ModelInfer raw: the id echoed, one [8, 1] output in raw_output_contents")
raw_scores = struct.unpack("<%df" % n, raw.raw_output_contents[0])
typed_scores = list(typed.outputs[0].contents.fp32_contents)
check(len(typed.raw_output_contents) == 0 and struct.pack("<%df" % n, *typed_scores) == raw.raw_output_contents[0],
      "ModelInfer typed: the same bits in fp32_contents")
pred = [float(r[k]) for r in csv.DictReader(open(pred_csv)) for k in r if "click" in k]
check(len(pred) == n and all(abs(a - b) <= 1e-6 for a, b in zip(raw_scores, pred)),
      "ModelInfer: reckon predict's scores (%s vs %s)" % (raw_scores[:2], pred[:2]))
st = rpc("ModelStatistics", req("ModelStatistics", name="dlrm"))
s = {m.name: m for m in st.model_stats}
check("dlrm" in s and s["dlrm"].inference_count == 2 * n and s["dlrm"].inference_stats.success.count == 2,
      "ModelStatistics: 2 requests of 8 rows")
allst = rpc("ModelStatistics", req("ModelStatistics"))
step = {m.name: m for m in allst.model_stats}.get("dlrm")
check({"dlrm", "dlrm_nvt", "dlrm_dlrm"} <= {m.name for m in allst.model_stats} and step.version == "1"
      and step.execution_count >= 1 and sum(b.compute_infer.count for b in step.batch_stats) == step.execution_count
      and all(b.batch_size >= 1 for b in step.batch_stats),
      "ModelStatistics without a name: every model; the ensemble's batches (%s)" % str(step).replace("\n", " "))

# malformed requests: the status and a message naming the fault
C = grpc.StatusCode
expect_error("ModelReady", req("ModelReady", name="nope"), C.NOT_FOUND, ["nope"], "ModelReady of an unknown model: NOT_FOUND")
bad = infer_request(True); bad.model_name = "nope"
expect_error("ModelInfer", bad, C.NOT_FOUND, ["nope"], "ModelInfer of an unknown model: NOT_FOUND")
bad = infer_request(True); bad.inputs[0].datatype = "FP64"
expect_error("ModelInfer", bad, C.INVALID_ARGUMENT, ["user_id"], "a wrong datatype: INVALID_ARGUMENT naming the input")
bad = infer_request(True); del bad.raw_input_contents[-1]
expect_error("ModelInfer", bad, C.INVALID_ARGUMENT, ["raw_input_contents"], "raw contents missing for an input")
bad = infer_request(False); bad.inputs[1].contents.int_contents.append(3)
expect_error("ModelInfer", bad, C.INVALID_ARGUMENT, ["item_id", "int_contents has 9 values"], "typed contents of the wrong count")
bad = infer_request(False); bad.inputs[2].contents.int_contents[0] = 1000
expect_error("ModelInfer", bad, C.INVALID_ARGUMENT, ["video_category", "does not fit in INT8"], "a value out of its datatype's range")
bad = infer_request(True, names={"user_id", "item_id", "gender", "age"})
expect_error("ModelInfer", bad, C.INVALID_ARGUMENT, ["video_category"], "a missing input: INVALID_ARGUMENT naming it")
bad = infer_request(True); bad.outputs.add(name="nope/binary_output")
expect_error("ModelInfer", bad, C.INVALID_ARGUMENT, ["nope/binary_output"], "an unknown output: INVALID_ARGUMENT naming it")
big = req("ModelInfer", model_name="dlrm", id="x" * (2 << 20))
expect_error("ModelInfer", big, C.RESOURCE_EXHAUSTED, ["over the limit"], "a message over the size limit: RESOURCE_EXHAUSTED")
expect_error("ModelReady", req("ModelReady", name="dlrm" * 64), C.UNIMPLEMENTED, ["compressed"], "a gzip-compressed message: UNIMPLEMENTED",
             compression=grpc.Compression.Gzip)
stream = channel.unary_unary("/inference.GRPCInferenceService/ModelStreamInfer")
try:
    stream(b"", timeout=10); check(False, "an unknown method fails")
except grpc.RpcError as e:
    check(e.code() == C.UNIMPLEMENTED and "ModelStreamInfer" in e.details(), "an unknown method: UNIMPLEMENTED naming it")
expect_error("RepositoryModelLoad", req("RepositoryModelLoad", model_name="../etc"), C.INVALID_ARGUMENT, ["../etc"],
             "a model name leaving the repository: INVALID_ARGUMENT")
check(rpc("ServerLive", req("ServerLive")).live, "still live after the malformed requests")

rpc("RepositoryModelUnload", req("RepositoryModelUnload", model_name="dlrm"))
check(not rpc("ModelReady", req("ModelReady", name="dlrm")).ready, "RepositoryModelUnload, then ModelReady: not ready")
expect_error("ModelInfer", infer_request(True), C.UNAVAILABLE, ["dlrm"], "ModelInfer after the unload: UNAVAILABLE")

# SIGTERM while 64 calls are in flight: each is answered, or refused UNAVAILABLE (GOAWAY came first)
rpc("RepositoryModelLoad", req("RepositoryModelLoad", model_name="dlrm"))
infer = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer", request_serializer=lambda m: m.SerializeToString(),
                            response_deserializer=M("ModelInferResponse").FromString)
futures = [infer.future(infer_request(True), timeout=20) for _ in range(32)]
rpc("ServerLive", req("ServerLive"))   # the calls before it were sent; 32 more race the signal
futures += [infer.future(infer_request(True), timeout=20) for _ in range(32)]
os.kill(int(sys.argv[5]), signal.SIGTERM)
codes = [f.code() for f in futures]
answered = [f.result() for f, c in zip(futures, codes) if c == C.OK]
check(all(c in (C.OK, C.UNAVAILABLE) for c in codes) and len(answered) > 0
      and all(a.raw_output_contents[0] == raw.raw_output_contents[0] for a in answered),
      "SIGTERM drains: %d calls answered with the scores, the rest UNAVAILABLE (%s)" % (len(answered), set(codes)))
PYEOF
)
echo "$out" | grep -E "^(ok|FAIL): " | while IFS= read -r line; do echo "$line"; done
e2e_pass=$((e2e_pass + $(echo "$out" | grep -c "^ok: ")))
e2e_fail=$((e2e_fail + $(echo "$out" | grep -c "^FAIL: ")))
if ! echo "$out" | tail -1 | grep -qE "^(ok|FAIL): "; then fail "the Python client ran to its end: $(echo "$out" | tail -5)"; fi
wait "$server_pid"
expect_status $? 0 "the server stops cleanly after draining (under the sanitizers: no leak)"
server_pid=
finish
