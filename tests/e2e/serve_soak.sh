#!/usr/bin/env bash
# Soak (issue 20, "Reliability"): `reckon serve` keeps its memory flat under a stream of requests
# and switches a model in and out while clients send requests. The model: a small DLRM from
# `reckon train`, exported with `reckon export`, served in explicit mode.
# 1. SOAK_REQUESTS requests (default 20,000, a little more: wrk runs a second at a time until the
#    statistics count them; tests/long/serve_soak.sh sends a million) over keep-alive
#    connections: the server's VmRSS (/proc/<pid>/status) after them is within 10% of its VmRSS
#    after the first 10,000, and the ensemble's statistics count every one as a success and none
#    as a failure, and so do its steps' (the workflow and the model).
# 2. SOAK_CYCLES unload/load cycles (default 4) while 4 clients send requests
#    (serve_soak_client.py): every answer is 200 with unchanged scores, or 503 naming the model
#    while it is out; each cycle is seen by the clients from both sides.
# Skips without wrk or python3-requests (fails under RECKON_REQUIRE_PEERS=1).
set -u
source "$(dirname "$0")/lib.bash"
R=$RECKON_BIN
requests=${SOAK_REQUESTS:-20000}
cycles=${SOAK_CYCLES:-4}
warm=10000
skip() {
  if [ "${RECKON_REQUIRE_PEERS:-0}" = 1 ]; then fail "$1 (RECKON_REQUIRE_PEERS=1)"; finish; fi
  echo "skip: $1"
  exit 0
}
http_require
command -v wrk >/dev/null || skip "no wrk (Debian: wrk)"
/usr/bin/python3 -c 'import requests' 2>/dev/null || skip "/usr/bin/python3 has no requests module (Debian: python3-requests)"
serve_scratch

serve_dlrm_repository "$tmp" 9
# One request of 8 raw rows (values seen in training, and one user never seen: id 2).
cat >"$tmp/body.json" <<'EOF'
{"inputs": [
 {"name": "user_id", "datatype": "INT32", "shape": [8, 1], "data": [1, 2, 3, 4, 5, 6, 7, 999999]},
 {"name": "item_id", "datatype": "INT32", "shape": [8, 1], "data": [1, 2, 3, 4, 5, 6, 7, 8]},
 {"name": "video_category", "datatype": "INT8", "shape": [8, 1], "data": [0, 1, 2, 0, 1, 2, 0, 1]},
 {"name": "gender", "datatype": "INT8", "shape": [8, 1], "data": [0, 1, 2, 0, 1, 2, 0, 1]},
 {"name": "age", "datatype": "INT8", "shape": [8, 1], "data": [1, 2, 3, 4, 5, 6, 7, 1]}]}
EOF

"$R" serve --model-repository "$tmp/repo" --model-control-mode explicit --load-model dlrm --threads 2 \
  --http-port 0 --http-address 127.0.0.1 --allow-grpc false --allow-metrics false >"$tmp/out.txt" 2>"$tmp/err.txt" &
pid=$!
serve_wait_started $pid "$tmp/out.txt"
port=$(serve_port HTTP "$tmp/out.txt")
[ -n "$port" ] || { fail "the server starts ($(cat "$tmp/err.txt"))"; finish; }
url=http://127.0.0.1:$port

# send_until N: wrk (2 threads, 4 connections) a second at a time until the ensemble's statistics
# count N successes; prints the count of non-2xx answers and socket errors wrk saw.
cat >"$tmp/post.lua" <<'EOF'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open(os.getenv("BODY"), "rb"))
wrk.body = f:read("*a")
f:close()
EOF
send_until() {
  local bad=0 out ok failed before=-1
  # (a second in which no request succeeded ends it: the checks below then fail)
  while read -r ok failed _ < <(stats) && [ "$ok" -lt "$1" ] && [ "$ok" -gt "$before" ]; do
    before=$ok
    out=$(BODY="$tmp/body.json" wrk -t 2 -c 4 -d 1s --timeout 30s -s "$tmp/post.lua" "$url/v2/models/dlrm/infer" 2>&1)
    bad=$((bad + $(awk '/Non-2xx or 3xx responses:/ { n = $NF } /Socket errors:/ { gsub(",", ""); n += $6 + $8 + $10 }
                        END { print n + 0 }' <<<"$out")))
  done
  echo "$bad"
}
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status"; }
# A model's statistics (the statistics extension): successes, failures, executions, rows.
stats() {
  /usr/bin/python3 -c 'import json, sys, urllib.request
m = json.load(urllib.request.urlopen(sys.argv[1]))["model_stats"][0]
s = m["inference_stats"]
print(s["success"]["count"], s["fail"]["count"], m["execution_count"], m["inference_count"])' "$url/v2/models/${1:-dlrm}/stats"
}
bad=$(send_until $warm)
rss0=$(rss_kb)
read -r ok0 failed0 _ < <(stats)
bad=$((bad + $(send_until "$requests")))
rss1=$(rss_kb)
read -r ok1 failed1 runs1 rows1 < <(stats)
[ "$bad" = 0 ] && [ "$failed1" = 0 ] && [ "$ok1" -ge "$requests" ] &&
  pass "$ok1 requests answered 200, none failed (wrk: $bad non-2xx or socket errors; statistics: $failed1 failures)" ||
  fail "requests failed: wrk saw $bad non-2xx or socket errors; the statistics count $ok1 successes of at least $requests, $failed1 failures"
if [ "${RECKON_SANITIZED:-0}" = 1 ]; then
  # ASan's quarantine keeps freed blocks (up to 256 MB), so RSS climbs by design; LeakSanitizer
  # checks instead, at the server's exit (a leak fails "exits 0" below).
  echo "skip: the memory check under AddressSanitizer (VmRSS $rss0 kB, then $rss1 kB: its quarantine)"
else
  awk -v a="$rss0" -v b="$rss1" 'BEGIN { exit !(b <= a * 1.10) }' &&
    pass "memory flat: VmRSS $rss1 kB after $ok1 requests, $rss0 kB after the first $ok0 (within 10%)" ||
    fail "memory grew: VmRSS $rss1 kB after $ok1 requests, $rss0 kB after the first $ok0 (more than 10%)"
fi
# The ensemble's steps count what ran through them: each request, batch and row of the ensemble.
for step in dlrm_nvt dlrm_dlrm; do
  read -r ok failed runs rows < <(stats $step)
  [ "$ok $failed $runs $rows" = "$ok1 0 $runs1 $rows1" ] &&
    pass "step $step's statistics count the ensemble's $ok requests, $runs executions and $rows rows" ||
    fail "step $step's statistics: $ok successes, $failed failures, $runs executions, $rows rows; the ensemble's:" \
      "$ok1, 0, $runs1, $rows1"
done

run_python_client 300 load/unload "$RECKON_SOURCE_DIR/tests/e2e/serve_soak_client.py" "$url" dlrm "$tmp/body.json" \
  4 "$cycles"
kill -0 "$pid" 2>/dev/null && pass "the server is still up after the soak" || fail "the server died: $(tail -3 "$tmp/err.txt")"
kill -TERM "$pid"
for _ in $(seq 400); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
wait "$pid"
expect_status $? 0 "SIGTERM then drains and exits 0 (sanitized builds: and no leak)"
pid=
finish
