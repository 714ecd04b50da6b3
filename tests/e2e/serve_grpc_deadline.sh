#!/usr/bin/env bash
# gRPC deadlines: `reckon serve` honours a call's grpc-timeout header (gRPC over HTTP/2: digits and
# a unit). A call already past its deadline when it could run is answered DEADLINE_EXCEEDED (4)
# without running; a generous one runs (0); a malformed value is INVALID_ARGUMENT (3) naming the
# header. The calls are raw HTTP/2 from nghttp (nghttp2-client), as a gRPC client sends them
# (grpcio sets the header from its own deadline and ends the call itself, so it cannot tell the
# server's answer from its own). An empty repository: ServerLive needs no model.
# Skips without gRPC in the build or nghttp (fails under RECKON_REQUIRE_PEERS=1).
set -u
source "$(dirname "$0")/lib.bash"
R=$RECKON_BIN
"$R" --version 2>&1 | grep "^features:" | grep -qw grpc || { echo "skip: gRPC is not built (no nghttp2 or protobuf-c)"; exit 0; }
if ! command -v nghttp >/dev/null; then
  [ "${RECKON_REQUIRE_PEERS:-0}" = 1 ] && { fail "no nghttp (RECKON_REQUIRE_PEERS=1)"; finish; }
  echo "skip: no nghttp (Debian: nghttp2-client)"
  exit 0
fi
serve_scratch
mkdir "$tmp/repo"
"$R" serve --model-repository "$tmp/repo" --allow-http false --allow-metrics false --grpc-port 0 \
  --grpc-address 127.0.0.1 >"$tmp/out.txt" 2>"$tmp/err.txt" &
pid=$!
serve_wait_started $pid "$tmp/out.txt"
port=$(serve_port gRPC "$tmp/out.txt")
[ -n "$port" ] || { fail "the server starts ($(cat "$tmp/err.txt"))"; finish; }
printf '\0\0\0\0\0' >"$tmp/live.msg"   # an empty inference.ServerLiveRequest, length-prefixed

# live TIMEOUT: the trailers (or Trailers-Only headers) of one ServerLive call with that grpc-timeout.
live() {
  nghttp -v -H ':method: POST' -H 'content-type: application/grpc' -H 'te: trailers' ${1:+-H "grpc-timeout: $1"} \
    -d "$tmp/live.msg" "http://127.0.0.1:$port/inference.GRPCInferenceService/ServerLive" 2>&1 | grep -a 'grpc-'
}
out=$(live 0n)
expect_contains "$out" "grpc-status: 4" "grpc-timeout 0n: DEADLINE_EXCEEDED"
expect_contains "$out" "grpc-timeout passed before it could run" "the message says the deadline passed before the call ran"
out=$(live 0S)
expect_contains "$out" "grpc-status: 4" "grpc-timeout 0S: DEADLINE_EXCEEDED"
out=$(live 30S)
expect_contains "$out" "grpc-status: 0" "grpc-timeout 30S: the call runs (OK)"
out=$(live 99999999H)
expect_contains "$out" "grpc-status: 0" "the largest grpc-timeout (8 digits of hours): OK"
out=$(live)
expect_contains "$out" "grpc-status: 0" "no grpc-timeout: OK"
for bad in 5 5s 123456789S 1.5S; do
  out=$(live "$bad")
  expect_contains "$out" "grpc-status: 3" "grpc-timeout '$bad': INVALID_ARGUMENT"
done
expect_contains "$out" "grpc-timeout is not 1 to 8 digits and a unit" "the message names the header and its form"
kill -TERM "$pid"
for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
wait "$pid"
expect_status $? 0 "the server exits 0 on SIGTERM"
pid=
finish
