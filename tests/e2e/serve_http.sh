#!/usr/bin/env bash
# `reckon serve` over HTTP (KServe v2 REST, src/serve/http/): seed 003's tritonserver command
# verbatim but for the program name, then its client's sequence (load, ready, infer, metrics,
# unload) with python3-requests, every endpoint, JSON and binary tensors, malformed requests (a
# 4xx naming the fault), the limits (body, tensor elements, headers, a client trickling bytes,
# an idle connection) and SIGTERM's drain. The model: a small DLRM from `reckon train`, exported
# with `reckon export`. Skips when the HTTP part is not built or python3-requests is missing.
set -u
source "$(dirname "$0")/lib.bash"
R=$RECKON_BIN
http_require
if ! /usr/bin/python3 -c 'import requests' 2>/dev/null; then
  [ "${RECKON_REQUIRE_PEERS:-0}" = 1 ] && { echo "FAIL: python3-requests is required (RECKON_REQUIRE_PEERS=1)"; exit 1; }
  echo "skipping: /usr/bin/python3 has no requests module (Debian: python3-requests)"
  exit 0
fi
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
client=$RECKON_SOURCE_DIR/tests/e2e/serve_http_client.py

# ---- a model repository: synth -> preprocess -> train -> export ----
"$R" synth tenrec --rows 3000 --seed 3 --output "$tmp/t.csv" >/dev/null
"$R" preprocess --input_data_format=csv --csv_na_values=\\N --input_data_path "$tmp/t.csv" --output_path="$tmp/pp/" \
  --categorical_features=user_id,item_id,video_category,gender,age --binary_classif_targets=click \
  --to_int32=user_id,item_id --to_int8=gender,age,video_category,click \
  --dataset_split_strategy=random --random_split_eval_perc=0.2 --quiet
"$R" train --train_data_path "$tmp/pp/train" --eval_data_path "$tmp/pp/eval" --tasks click --model dlrm \
  --embeddings_dim 8 --mlp_layers 16,8 --epochs 1 --train_batch_size 512 --output_path "$tmp/out" \
  --save_model_path "$tmp/model" --quiet
if "$R" export --help >/dev/null 2>&1; then
  "$R" export --model_path "$tmp/model" --output_path "$tmp/repo" --name dlrm --quiet; rc=$?
  expect_status $rc 0 "reckon export writes the repository"
else   # until `reckon export` is in: the model step alone, as export writes it (backend "reckon")
  mkdir -p "$tmp/repo/dlrm/1" && cp -r "$tmp/model" "$tmp/repo/dlrm/1/model"
  {
    echo 'name: "dlrm"'
    echo 'backend: "reckon"'
    echo 'max_batch_size: 1024'
    for c in user_id:INT32 item_id:INT32 video_category:INT8 gender:INT8 age:INT8; do
      echo "input { name: \"${c%:*}\" data_type: TYPE_${c#*:} dims: [ 1 ] }"
    done
    echo 'output { name: "click/binary_output" data_type: TYPE_FP32 dims: [ 1 ] }'
    echo 'dynamic_batching { max_queue_delay_microseconds: 100 }'
    echo 'parameters { key: "reckon_kind" value: { string_value: "model" } }'
  } >"$tmp/repo/dlrm/config.pbtxt"
fi

# Start `reckon serve` with the given flags; sets port, metrics_port, pid (stdout in $tmp/$1.out).
start_server() {
  local name=$1
  shift
  "$R" serve "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
  pid=$!
  pids+=("$pid")
  serve_wait_started "$pid" "$tmp/$name.out"
  port=$(serve_port HTTP "$tmp/$name.out")
  metrics_port=$(sed -n 's/^reckon serve: metrics on .*:\([0-9]*\)\/metrics$/\1/p' "$tmp/$name.out")
}

# The exit status of server $1 once it exits, waiting at most $2 s (then it is killed: status 137).
wait_exit() {
  for _ in $(seq 1 $(($2 * 20))); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.05
  done
  kill -KILL "$1" 2>/dev/null
  wait "$1"
}

# Run the client; its ok/FAIL lines become checks.
run_client() { run_python_client 120 "$1" "$client" "$@"; }

# ---- the seed's command, verbatim but for the program and the ports (0: free ones, printed) ----
start_server main --model-repository="$tmp/repo" --backend-config=tensorflow,version=2 --model-control-mode=explicit \
  --http-port 0 --metrics-port 0 --grpc-port 0 --http-address 127.0.0.1 --grpc-address 127.0.0.1
[ -n "$port" ] && pass "tritonserver's flags run verbatim; port 0 picks a free port and prints it ($port)" \
  || fail "the server did not start: $(cat "$tmp/main.err")"
expect_contains "$(cat "$tmp/main.err")" "--backend_config has no effect" "--backend-config is accepted with a note"
if "$R" --version | grep -q '^features:.* grpc'; then
  grep -q '^reckon serve: gRPC on 127.0.0.1:[0-9]' "$tmp/main.out" && pass "gRPC listens beside HTTP (port 0: a free one, printed)" \
    || fail "no gRPC line: $(cat "$tmp/main.out")"
fi
url=http://127.0.0.1:$port
if command -v curl >/dev/null; then
  out=$(curl -s -o /dev/null -w '%{http_code}' "$url/v2/health/live")
  expect_status "$out" 200 "curl GET /v2/health/live"
  out=$(curl -s -o /dev/null -w '%{http_code}' "$url/v2/health/ready")
  expect_status "$out" 200 "curl GET /v2/health/ready"
else
  echo "skip: no curl (Debian: curl); python3-requests checks the same endpoints below"
fi

run_client main "$url" "http://127.0.0.1:$metrics_port" dlrm "$pid"
kill -TERM "$pid" 2>/dev/null   # the client sent one already, unless it stopped early
wait_exit "$pid" 40; rc=$?
expect_status $rc 0 "after SIGTERM the server drains and exits 0"
expect_contains "$(cat "$tmp/main.out")" "SIGTERM: draining" "it says it is draining"

# ---- limits, each its flag, on a server in mode none (every model loaded at start) ----
start_server limits --model-repository "$tmp/repo" --http-port 0 --metrics-port 0 --allow-grpc false \
  --http-address 127.0.0.1 --max-body-bytes 4096 --max-tensor-elements 64 --max-headers 20 \
  --read-timeout-secs 2 --idle-timeout-secs 1
[ -n "$port" ] && pass "a server with every limit set starts" || fail "the limits server did not start: $(cat "$tmp/limits.err")"
run_client limits "http://127.0.0.1:$port" dlrm
kill -INT "$pid"
wait_exit "$pid" 40; rc=$?
expect_status $rc 0 "SIGINT stops the server too"

# ---- command-line faults ----
err=$("$R" serve --http-port 0 2>&1); rc=$?
expect_status $rc 2 "no --model-repository: usage error"
expect_contains "$err" "--model-repository" "the message names the flag"
err=$("$R" serve --model-repository "$tmp/repo" --model-control-mode sometimes 2>&1); rc=$?
expect_status $rc 2 "a bad --model-control-mode is refused"
err=$("$R" serve --model-repository "$tmp/repo" --http-port 70000 2>&1); rc=$?
expect_status $rc 2 "a port past 65535 is refused"
err=$("$R" serve --model-repository "$tmp/repo" --http-address 999.1.1.1 --allow-grpc false 2>&1); rc=$?
expect_contains "$err" "--http-address '999.1.1.1'" "a bad --http-address is named"
help=$("$R" serve --help 2>&1)
expect_contains "$help" "--load_model NAME" "--help lists the flags"
finish
