#!/usr/bin/env bash
# `reckon serve` over HTTP with one event-loop thread (--http-thread-count 1): a connection whose
# infer waits in the dynamic-batching queue is parked, so the one thread takes the next requests
# meanwhile (src/serve/http/http_server.c). The model: a small DLRM from `reckon train`, exported,
# its model step's dynamic_batching set to gather 16 rows for up to 3 s.
# 1. 16 one-row requests at once run as one batch (the model step's statistics: 1 execution of
#    16 rows; a thread that waited for each answer would run 16), each answer the bits of its row
#    in the same 16 rows sent as one request (and as one request padded to 100 KiB).
# 2. A client trickling bytes does not hold the thread: a request is answered meanwhile, and the
#    trickler is dropped at --read-timeout-secs. A repository load (run on a thread of its own)
#    answers through its parked connection.
# 3. SIGTERM while 3 requests wait in the queue: each is answered 200, then the server exits 0.
set -u
source "$(dirname "$0")/lib.bash"
R=$RECKON_BIN
http_require
serve_scratch
client=$RECKON_SOURCE_DIR/tests/e2e/serve_http_parked_client.py

serve_dlrm_repository "$tmp" 5
cfg=$tmp/repo/dlrm_dlrm/config.pbtxt
awk '/^dynamic_batching/ { skip = 1 } !skip { print } skip && /^}/ { skip = 0 }' "$cfg" >"$tmp/cfg"
printf 'dynamic_batching {\n  preferred_batch_size: 16\n  max_queue_delay_microseconds: 3000000\n}\n' >>"$tmp/cfg"
mv "$tmp/cfg" "$cfg"

# Start the server on one HTTP thread and one inference worker; sets pid and url.
start_server() {
  "$R" serve --model-repository "$tmp/repo" --threads 1 --http-thread-count 1 --http-port 0 \
    --http-address 127.0.0.1 --allow-grpc false --allow-metrics false --read-timeout-secs 1 \
    >"$tmp/out.txt" 2>"$tmp/err.txt" &
  pid=$!
  serve_wait_started $pid "$tmp/out.txt"
  url=http://127.0.0.1:$(serve_port HTTP "$tmp/out.txt")
}
run_client() { run_python_client 120 "$1" "$client" "$@"; }
# "executions rows" of the model step, from the statistics extension.
model_step_counts() {
  /usr/bin/python3 -c 'import json, sys, urllib.request
m = json.load(urllib.request.urlopen(sys.argv[1] + "/v2/models/dlrm_dlrm/stats"))["model_stats"][0]
print(m["execution_count"], m["inference_count"])' "$url"
}

start_server
[ "$url" != "http://127.0.0.1:" ] && pass "the server starts with --http-thread-count 1" \
  || { fail "the server starts ($(cat "$tmp/err.txt"))"; finish; }
run_client burst "$url" 16
expect_status "$(model_step_counts)" "3 48" \
  "the 16 parked requests ran as one batch of 16 rows (then the 16-row request and its padded twin)"
run_client trickle "$url"
# A load runs on a thread of its own and answers through the parked connection: in mode none, the
# core's refusal (400 naming explicit mode).
out=$(/usr/bin/python3 -c 'import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(urllib.request.Request(sys.argv[1] + "/v2/repository/models/dlrm/load", data=b"{}"))
    print("200")
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode())' "$url")
expect_contains "$out" "400 " "a repository load answers from its own thread: 400 in mode none"
expect_contains "$out" "explicit" "naming explicit mode"

/usr/bin/python3 "$client" wait "$url" 3 "$tmp/answers.txt" &
waiter=$!
for _ in $(seq 100); do   # the 3 requests are in once their connections are parked: none is answered yet
  [ "$(ss -Htn state established "( sport = :${url##*:} )" 2>/dev/null | wc -l)" -ge 3 ] && break
  sleep 0.05
done
sleep 0.2
kill -TERM "$pid"
wait "$waiter"
expect_status "$(cut -d' ' -f1 "$tmp/answers.txt" | sort | uniq -c | awk '{ print $1 "x" $2 }')" "3x200" \
  "SIGTERM while 3 requests wait in the batching queue: each is answered 200"
for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
wait "$pid"
expect_status $? 0 "then the server exits 0"
pid=
finish
