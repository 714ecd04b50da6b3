#!/usr/bin/env bash
# Serving benchmark (issue 20): `reckon serve` against a PyTorch peer (bench/peers/serve_torch.py:
# the same models as TorchScript behind Python's ThreadingHTTPServer, the workflow in pandas),
# loopback only, both given the same THREADS (reckon --threads, torch.set_num_threads,
# OMP/OpenBLAS/MKL_NUM_THREADS), measured in the same run.
#
# Models: the DLRM of `reckon train` (its defaults: embeddings_dim 128, top MLP 128,64,32; TenRec
# rows, 5 categorical columns) and a GPT-2 of `reckon sessions` (d_model 64, 2 layers, 4 heads,
# sequences of 20) exported with --top_k 20, both through `reckon export` into one repository
# ("dlrm", "t4r"), raw columns in (the ensemble's workflow step applies the fitted workflow).
# Requests (bench/serve_requests.py, built before any timing): batch B is B raw rows for the DLRM,
# B sessions of 4 click events for the GPT-2 (4 x B rows; one top-20 row per session back).
#
# Load generators from Debian: wrk for HTTP (a Lua script posting one fixed KServe v2 JSON body,
# keep-alive), h2load for gRPC (one pre-encoded inference.ModelInferRequest frame; h2load has no
# percentiles, so its per-request log gives them). Each point: 1 s of warm-up, then DURATION s.
# Figures: requests/s, p50 and p99 latency, and the server's CPU time per request ("CPU us": all
# its threads, user + system, from /proc; steadier than requests/s on a shared machine); rows/s is
# requests/s x B. Every point at batch 1 and 256 (BATCHES), 1 and 64 connections (CONNS); reckon
# over HTTP and gRPC, the peer over HTTP; the ratios are reckon HTTP / peer (the peer has no
# gRPC). Then every model at 64 connections over both protocols with its model step's
# dynamic_batching removed from its config (each request runs alone) against it left as `reckon
# export` writes it (preferred_batch_size [64, 256] rows, max queue delay 100 us; a GPT-2 batch
# joins the requests' sessions, its rows counted in events). Before timing, the peer's DLRM scores are checked against reckon's (the peer loads
# the exported weights; 1e-5): a peer answering something else would be no peer.
# When the machine has at least 2 x THREADS cores the servers are pinned (taskset) to the first
# THREADS and the load generators to the rest; otherwise they share the cores (said in the table).
#
#   bench/serve.sh [reckon-build-dir]          (default: build)
#   DURATION=5 THREADS=<half the cores, at most 8> BATCHES="1 256" CONNS="1 64" MODELS="dlrm t4r" PEER=yes
#   WORK=<folder for the data, models and repositories> (default build/bench-data/serve)
# MODELS picks the models timed; PEER=no times reckon alone (the peer's columns show "-"), for
# before/after comparisons of reckon itself. Each model gets its dynamic-batching pair.
# The table is printed and written to $OUT/serve.md ($OUT set) or /tmp/bench_serve.md.
# Goals (issue 20): reckon >= 10x the peer's requests/s at batch 1 and >= 3x at batch 256; dynamic
# batching at 64 connections >= 3x without it; p99 at batch 1, one connection, under 1 ms.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
reckon="$build/reckon"
cores=$(nproc)
threads="${THREADS:-$(( cores / 2 > 8 ? 8 : (cores / 2 > 0 ? cores / 2 : 1) ))}"
duration="${DURATION:-5}"
batches="${BATCHES:-1 256}"
conns="${CONNS:-1 64}"
models="${MODELS:-dlrm t4r}"
peer="${PEER:-yes}"
py=/usr/bin/python3
results="${OUT:+$OUT/serve.md}"
results="${results:-/tmp/bench_serve.md}"
work="${WORK:-$root/build/bench-data/serve}"
[ -x "$reckon" ] || { echo "serve.sh: no $reckon (build reckon first)" >&2; exit 1; }
"$reckon" --version | grep -q '^features:.* http' || { echo "serve.sh: this reckon has no HTTP frontend" >&2; exit 1; }
has_grpc=0
"$reckon" --version | grep -q '^features:.* grpc' && has_grpc=1
for tool in wrk h2load nghttp; do
  command -v $tool >/dev/null || { echo "serve.sh: no $tool (scripts/install-deps.sh --peers: wrk, nghttp2-client)" >&2; exit 1; }
done
if [ "$peer" = yes ]; then
  "$py" -c 'import torch, pandas, google.protobuf' 2>/dev/null ||
    { echo "serve.sh: $py needs torch, pandas and protobuf (scripts/install-deps.sh --peers)" >&2; exit 1; }
else
  "$py" -c 'import google.protobuf' 2>/dev/null ||
    { echo "serve.sh: $py needs protobuf (scripts/install-deps.sh --peers)" >&2; exit 1; }
fi
export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads MKL_NUM_THREADS=$threads
export OPENBLAS_CORETYPE="${OPENBLAS_CORETYPE:-$("$reckon" --version | sed -n 's/^blas kernels: //p')}"

# Pinning: servers on cores [0, threads), load generators on the rest, when there are enough.
server_cpus=() gen_cpus=() gen_threads=1 pinned="no (the servers and the load generators share $cores cores)"
if [ "$cores" -ge $((2 * threads)) ] && command -v taskset >/dev/null; then
  server_cpus=(taskset -c "0-$((threads - 1))")
  gen_cpus=(taskset -c "$threads-$((cores - 1))")
  gen_threads=$((cores - threads > 4 ? 4 : cores - threads))
  pinned="servers on cores 0-$((threads - 1)), load generators on $threads-$((cores - 1))"
fi

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# ---- the models (cached) and the repository (exported each run: it follows `reckon export`) ----
mkdir -p "$work"
cd "$work"
if [ ! -f w/.trained ]; then
  rm -rf repo repo_nobatch pp model out days w clicks.csv* t.csv
  "$reckon" synth tenrec --rows 100000 --seed 42 --output t.csv --quiet
  "$reckon" preprocess --input_data_format=csv --csv_na_values=\\N --input_data_path t.csv --output_path=pp/ \
    --categorical_features=user_id,item_id,video_category,gender,age --binary_classif_targets=click \
    --to_int32=user_id,item_id --to_int8=gender,age,video_category,click \
    --dataset_split_strategy=random --random_split_eval_perc=0.2 --quiet
  "$reckon" train --train_data_path pp/train --eval_data_path pp/eval --tasks click --model dlrm --epochs 1 \
    --output_path out --save_model_path model --quiet
  "$reckon" synth sessions --layout yoochoose --sessions 20000 --days 3 --items 5000 --seed 7 --output clicks.csv --quiet
  "$reckon" preprocess --data_path clicks.csv --csv_header false --csv_column_names session_id,timestamp,item_id,category \
    --session_id_feature session_id --timestamp_feature timestamp --item_id_feature item_id \
    --categorical_features item_id,category --quiet --output_path days
  "$reckon" sessions --output_dir w --do_train --data_path days --start_time_window_index 1 \
    --model_type gpt2 --d_model 64 --item_embedding_dim 64 --n_layer 2 --n_head 4 --session_seq_length_max 20 \
    --per_device_train_batch_size 128 --max_steps 50 --eval_on_last_item_seq_only --quiet
  touch w/.trained
fi
rm -rf repo
"$reckon" export --model_path model --output_path repo --name dlrm --quiet
"$reckon" export --model_path w/model --output_path repo --name t4r --top_k 20 --quiet
# The same repository with the model steps (dlrm_dlrm, t4r_gpt2) batching nothing: their
# dynamic_batching blocks cut.
rm -rf repo_nobatch && cp -r repo repo_nobatch
for step in dlrm_dlrm t4r_gpt2; do
  awk '/^dynamic_batching/ { skip = 1 } !skip { print } skip && /^}/ { skip = 0 }' "repo/$step/config.pbtxt" \
    >"repo_nobatch/$step/config.pbtxt"
  grep -q dynamic_batching "repo/$step/config.pbtxt" && ! grep -q dynamic_batching "repo_nobatch/$step/config.pbtxt" ||
    { echo "serve.sh: cannot remove dynamic_batching from repo/$step/config.pbtxt" >&2; exit 1; }
done

mkdir -p req
for b in $batches; do
  "$py" "$root/bench/serve_requests.py" dlrm t.csv "$b" "req/dlrm_$b" "$build/proto/grpc_service.desc"
  "$py" "$root/bench/serve_requests.py" sessions clicks.csv "$b" "req/t4r_$b" "$build/proto/grpc_service.desc"
done
cat >req/post.lua <<'EOF'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open(os.getenv("BODY"), "rb"))
wrk.body = f:read("*a")
f:close()
EOF

# ---- servers ----
# start_reckon REPO: sets http_port, grpc_port.
start_reckon() {
  rm -f "$work/reckon.out"   # else the last run's "repository" line can end the wait before this one writes
  "${server_cpus[@]}" "$reckon" serve --model-repository "$1" --threads "$threads" --http-port 0 --grpc-port 0 \
    --http-address 127.0.0.1 --grpc-address 127.0.0.1 --allow-metrics false --allow-grpc $([ $has_grpc = 1 ] && echo true || echo false) \
    >"$work/reckon.out" 2>"$work/reckon.err" &
  reckon_pid=$!
  pids+=("$reckon_pid")
  for _ in $(seq 600); do grep -q '^reckon serve: repository' "$work/reckon.out" && break; sleep 0.1; done
  http_port=$(sed -n 's/^reckon serve: HTTP on .*:\([0-9]*\)$/\1/p' "$work/reckon.out")
  grpc_port=$(sed -n 's/^reckon serve: gRPC on .*:\([0-9]*\)$/\1/p' "$work/reckon.out")
  [ -n "$http_port" ] || { echo "serve.sh: reckon serve did not start: $(cat "$work/reckon.err")" >&2; exit 1; }
}
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
free_port() { "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# start_peer MODEL_DIR: sets peer_port.
start_peer() {
  peer_port=$(free_port)
  "${server_cpus[@]}" "$py" "$root/bench/peers/serve_torch.py" --model_dir "$1" --reckon "$reckon" --port "$peer_port" \
    --threads "$threads" --top_k 20 >"$work/peer.out" 2>"$work/peer.err" &
  peer_pid=$!
  pids+=("$peer_pid")
  for _ in $(seq 600); do
    curl -sf "http://127.0.0.1:$peer_port/v2/health/ready" >/dev/null 2>&1 && return
    kill -0 "$peer_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "serve.sh: the peer did not start: $(tail -5 "$work/peer.err")" >&2
  exit 1
}

# ---- load generators: each prints "RPS P50_US P99_US ERRORS CPU_US" ----
# CPU_US: the server's CPU time (user + system, all its threads, /proc/PID/stat) per request over
# the timed run: unlike requests/s it hardly moves with other work on a shared machine.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
cpu_per_request() {   # TICKS_BEFORE TICKS_AFTER REQUESTS
  awk -v a="$1" -v b="$2" -v n="$3" -v t="$(getconf CLK_TCK)" 'BEGIN { printf "%.1f", (n > 0 ? (b - a) / t * 1e6 / n : 0) }'
}
us_of() {   # wrk's "123.45us" / "1.23ms" / "1.02s" -> microseconds
  awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /ms$/) n *= 1000; else if (v ~ /[0-9]s$/ && v !~ /us$/) n *= 1e6; printf "%.1f", n }'
}
run_wrk() {   # URL BODY CONNS SERVER_PID
  local t=$(($3 < gen_threads ? $3 : gen_threads)) out c0 c1
  BODY="$2" "${gen_cpus[@]}" wrk -t "$t" -c "$3" -d 1s -s req/post.lua "$1" >/dev/null 2>&1 || true
  c0=$(cpu_ticks "$4")
  out=$(BODY="$2" "${gen_cpus[@]}" wrk -t "$t" -c "$3" -d "${duration}s" --timeout 10s --latency -s req/post.lua "$1" 2>&1)
  c1=$(cpu_ticks "$4")
  local rps p50 p99 bad errs n
  rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
  p50=$(us_of "$(awk '$1 == "50%" { print $2 }' <<<"$out")")
  p99=$(us_of "$(awk '$1 == "99%" { print $2 }' <<<"$out")")
  bad=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' <<<"$out")
  errs=$(awk '/Socket errors:/ { gsub(",", ""); print $4 + $6 + $8 + $10 }' <<<"$out")
  n=$(awk '/ requests in / { print $1 }' <<<"$out")
  echo "${rps:-0} $p50 $p99 $(( ${bad:-0} + ${errs:-0} )) $(cpu_per_request "$c0" "$c1" "${n:-0}")"
}
run_h2load() {   # PORT BODY CONNS SERVER_PID
  local t=$(($3 < gen_threads ? $3 : gen_threads)) out c0 c1 n
  local args=(-c "$3" -t "$t" -m 1 -d "$2" -H 'content-type: application/grpc' -H 'te: trailers'
    "http://127.0.0.1:$1/inference.GRPCInferenceService/ModelInfer")
  "${gen_cpus[@]}" h2load -D 1 "${args[@]}" >/dev/null 2>&1 || true
  rm -f "$work/h2load.log"
  c0=$(cpu_ticks "$4")
  out=$("${gen_cpus[@]}" h2load -D "$duration" --log-file="$work/h2load.log" "${args[@]}" 2>&1)
  c1=$(cpu_ticks "$4")
  n=$(awk '/^requests:/ { print $8 }' <<<"$out")
  local rps bad
  rps=$(sed -n 's/^finished in [^,]*, \([0-9.]*\) req\/s.*/\1/p' <<<"$out")
  bad=$(awk '/^requests:/ { print $10 }' <<<"$out")   # "requests: N total, N started, N done, N succeeded, N failed"
  read -r p50 p99 < <(cut -f3 "$work/h2load.log" | sort -n | awk '{ v[NR] = $1 } END {
    if (NR == 0) { print "0 0"; exit }
    i50 = int(0.50 * NR + 0.5); i99 = int(0.99 * NR + 0.5); if (i50 < 1) i50 = 1; if (i99 < 1) i99 = 1
    printf "%.1f %.1f\n", v[i50], v[i99] }')
  echo "${rps:-0} $p50 $p99 ${bad:-0} $(cpu_per_request "$c0" "$c1" "${n:-0}")"
}
grpc_ok() {   # PORT BODY: the call answers grpc-status 0
  nghttp -v -H ':method: POST' -H 'content-type: application/grpc' -H 'te: trailers' -d "$2" \
    "http://127.0.0.1:$1/inference.GRPCInferenceService/ModelInfer" 2>&1 | grep -q 'grpc-status: 0'
}

# ---- the runs ----
load0=$(cut -d' ' -f1-3 /proc/loadavg)   # other work on the machine shows in the tails: said with the table
declare -A R   # R[model,proto,batch,conns] = "rps p50 p99 errors"
errors=0
note() { printf '%s\n' "$*" >&2; }
start_reckon "$work/repo"
for m in $models; do
  for b in $batches; do
    curl -sf -o "$work/check_${m}_$b.json" -H 'Content-Type: application/json' --data-binary "@req/${m}_$b.json" \
      "http://127.0.0.1:$http_port/v2/models/$m/infer" || { echo "serve.sh: reckon refused req/${m}_$b.json" >&2; exit 1; }
    [ $has_grpc = 1 ] && { grpc_ok "$grpc_port" "req/${m}_$b.grpc" || { echo "serve.sh: gRPC refused req/${m}_$b.grpc" >&2; exit 1; }; }
    for c in $conns; do
      note "reckon $m batch $b, $c connections"
      R[$m,http,$b,$c]=$(run_wrk "http://127.0.0.1:$http_port/v2/models/$m/infer" "req/${m}_$b.json" "$c" "$reckon_pid")
      [ $has_grpc = 1 ] && R[$m,grpc,$b,$c]=$(run_h2load "$grpc_port" "req/${m}_$b.grpc" "$c" "$reckon_pid")
    done
  done
done
curl -sf -H 'Content-Type: application/json' --data-binary "@req/dlrm_${batches##* }.json" \
  "http://127.0.0.1:$http_port/v2/models/dlrm/infer" >"$work/reckon_scores.json"
stop "$reckon_pid"
start_reckon "$work/repo_nobatch"
for m in $models; do
  for b in $batches; do
    note "reckon $m batch $b, 64 connections, no dynamic batching"
    R[$m,nobatch,$b,64]=$(run_wrk "http://127.0.0.1:$http_port/v2/models/$m/infer" "req/${m}_$b.json" 64 "$reckon_pid")
    [ $has_grpc = 1 ] && R[$m,nobatch_grpc,$b,64]=$(run_h2load "$grpc_port" "req/${m}_$b.grpc" 64 "$reckon_pid")
  done
done
stop "$reckon_pid"
load1=$(cut -d' ' -f1-3 /proc/loadavg)

peer_check="not run (PEER=no)"
peer_models=$models
[ "$peer" = yes ] || peer_models=
for m in $peer_models; do
  [ $m = dlrm ] && start_peer "$work/model" || start_peer "$work/w/model"
  if [ $m = dlrm ]; then
    curl -sf -H 'Content-Type: application/json' --data-binary "@req/dlrm_${batches##* }.json" \
      "http://127.0.0.1:$peer_port/v2/models/dlrm/infer" >"$work/peer_scores.json"
    peer_check=$("$py" - "$work/reckon_scores.json" "$work/peer_scores.json" <<'EOF'
import json, sys
a, b = (json.load(open(p))["outputs"][0]["data"] for p in sys.argv[1:3])
d = max(abs(x - y) for x, y in zip(a, b)) if len(a) == len(b) else float("inf")
print(("the same scores as reckon (max |diff| %.2g over %d rows)" if d <= 1e-5 else "DIFFERENT scores (max |diff| %.2g over %d rows)") % (d, len(a)))
EOF
)
    case $peer_check in DIFF*) echo "serve.sh: the peer's DLRM: $peer_check" >&2; exit 1 ;; esac
  fi
  for b in $batches; do
    for c in $conns; do
      note "peer $m batch $b, $c connections"
      R[$m,peer,$b,$c]=$(run_wrk "http://127.0.0.1:$peer_port/v2/models/$m/infer" "req/${m}_$b.json" "$c" "$peer_pid")
    done
  done
  stop "$peer_pid"
done

# ---- the table ----
# A point where no request finished within DURATION shows "-" (raise DURATION for it).
f() { awk -v v="$1" 'BEGIN { if (v <= 0) print "-"; else printf(v >= 100 ? "%.0f" : "%.1f", v) }'; }
ms() { awk -v v="$1" 'BEGIN { if (v <= 0) print "-"; else printf "%.3f", v / 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.1fx", a / b; else print "-" }'; }
field() { awk -v i="$2" '{ print $i }' <<<"$1"; }
{
  echo "## reckon serve vs PyTorch (TorchScript + pandas + ThreadingHTTPServer)"
  echo
  echo "$(date -u +%Y-%m-%d), $cores cores ($(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)), threads $threads for each server;" \
    "pinning: $pinned; $duration s a point after 1 s of warm-up; load average before the runs $load0;" \
    "$("$reckon" --version | head -1); load average after reckon's runs $load1."
  echo "Peer check: its DLRM gives $peer_check."
  echo
  echo "| model | batch | conns | reckon HTTP req/s | p50 ms | p99 ms | CPU us | reckon gRPC req/s | p50 ms | p99 ms | CPU us | peer req/s | p50 ms | p99 ms | CPU us | HTTP / peer |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  for m in $models; do
    for b in $batches; do
      for c in $conns; do
        h=${R[$m,http,$b,$c]} g=${R[$m,grpc,$b,$c]:-"0 0 0 0 0"} p=${R[$m,peer,$b,$c]:-"0 0 0 0 0"}
        for x in "$h" "$g" "$p"; do errors=$((errors + $(field "$x" 4))); done
        echo "| $m | $b | $c | $(f "$(field "$h" 1)") | $(ms "$(field "$h" 2)") | $(ms "$(field "$h" 3)") | $(f "$(field "$h" 5)") |" \
          "$(f "$(field "$g" 1)") | $(ms "$(field "$g" 2)") | $(ms "$(field "$g" 3)") | $(f "$(field "$g" 5)") |" \
          "$(f "$(field "$p" 1)") | $(ms "$(field "$p" 2)") | $(ms "$(field "$p" 3)") | $(f "$(field "$p" 5)") |" \
          "$(ratio "$(field "$h" 1)" "$(field "$p" 1)") |"
      done
    done
  done
  echo
  echo "Dynamic batching (64 connections; \"with\" is the table above's point):"
  echo
  echo "| model | protocol | batch | with: req/s | p99 ms | CPU us | without: req/s | p99 ms | CPU us | with / without |"
  echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  for m in $models; do
    for proto in http grpc; do
      [ $proto = grpc ] && [ $has_grpc = 0 ] && break
      nb=nobatch
      [ $proto = grpc ] && nb=nobatch_grpc
      for b in $batches; do
        w=${R[$m,$proto,$b,64]:-"0 0 0 0 0"} n=${R[$m,$nb,$b,64]:-"0 0 0 0 0"}
        errors=$((errors + $(field "$n" 4)))
        echo "| $m | $proto | $b | $(f "$(field "$w" 1)") | $(ms "$(field "$w" 3)") | $(f "$(field "$w" 5)") |" \
          "$(f "$(field "$n" 1)") | $(ms "$(field "$n" 3)") | $(f "$(field "$n" 5)") |" \
          "$(ratio "$(field "$w" 1)" "$(field "$n" 1)") |"
      done
    done
  done
  echo
  b1=${batches%% *} bn=${batches##* } c1=${conns%% *}
  goal() { awk -v v="$1" -v g="$2" 'BEGIN { print (v <= 0 ? "not measured: a side finished no request in DURATION" : v >= g ? "met" : "NOT met") }'; }
  echo "Goals (issue 20):"
  for m in $peer_models; do
    for c in $conns; do
      r1=$(awk -v a="$(field "${R[$m,http,$b1,$c]}" 1)" -v b="$(field "${R[$m,peer,$b1,$c]}" 1)" 'BEGIN { print (b > 0 ? a / b : 0) }')
      rn=$(awk -v a="$(field "${R[$m,http,$bn,$c]}" 1)" -v b="$(field "${R[$m,peer,$bn,$c]}" 1)" 'BEGIN { print (b > 0 ? a / b : 0) }')
      echo "- $m, $c connections: batch $b1 $(ratio "$r1" 1) the peer (goal 10x: $(goal "$r1" 10));" \
        "batch $bn $(ratio "$rn" 1) (goal 3x: $(goal "$rn" 3))"
    done
  done
  for m in $models; do
    dyn=$(awk -v a="$(field "${R[$m,http,$b1,64]:-0}" 1)" -v b="$(field "${R[$m,nobatch,$b1,64]:-0}" 1)" 'BEGIN { print (b > 0 ? a / b : 0) }')
    echo "- dynamic batching, $m batch $b1 at 64 connections over HTTP: $(ratio "$dyn" 1) without it (goal 3x: $(goal "$dyn" 3))"
  done
  for m in $models; do
    p99=$(field "${R[$m,http,$b1,$c1]}" 3)
    echo "- p99 at batch $b1, $c1 connection, $m over HTTP: $(ms "$p99") ms (goal < 1 ms: $(awk -v v="$p99" 'BEGIN { print (v <= 0 ? "not measured" : v < 1000 ? "met" : "NOT met") }'))"
  done
  [ $errors = 0 ] && echo "- every request answered 200 (wrk non-2xx, socket errors and h2load failures: 0)" \
    || echo "- FAILED requests: $errors (non-2xx, socket errors or h2load failures)"
} | tee "$results"
echo "(written to $results)"
[ $errors = 0 ]
