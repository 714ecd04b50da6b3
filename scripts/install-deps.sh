#!/usr/bin/env bash
# Installs what reckon needs from Debian's packages (and, for peers, npm), only what is missing.
# A quick no-op when everything is present. Run as root, or with sudo available.
#
#   scripts/install-deps.sh           build and test dependencies
#   scripts/install-deps.sh --peers   also the peers that tests and benchmarks compare against
#                                     (pandas, PyTorch, DuckDB through npm)
set -euo pipefail

build_pkgs=(
  build-essential cmake pkg-config
  libcmocka-dev                     # test framework
  libopenblas-dev                   # sgemm
  libjansson-dev libyaml-dev        # JSON (schema, model, KServe), YAML (configs)
  zlib1g-dev libzstd-dev libsnappy-dev libbrotli-dev liblz4-dev   # codecs
  libxxhash-dev                     # hashing
  libmicrohttpd-dev                 # serving: HTTP/1.1 (KServe v2 REST)
  libnghttp2-dev libprotobuf-c-dev protobuf-c-compiler   # serving: gRPC (HTTP/2 + protobuf messages)
  libopenmpi-dev openmpi-bin        # multi-machine (optional at build time)
  libclang-rt-14-dev                # sanitizer runtimes for clang builds
  strace                            # tests: a kill injected between preprocess's renames (safety.sh)
)
peer_pkgs=(python3 python3-pandas python3-numpy python3-torch libjemalloc2   # jemalloc: the PyTorch peers allocate as its CPU tuning guide advises
  python3-requests python3-grpcio python3-protobuf curl wrk nghttp2-client)   # serving: real clients and load generators
# Node.js and npm come with the machine image (NodeSource); Debian's npm conflicts with that
# nodejs, so npm is installed from Debian only where no node is present at all.
if [ "${1:-}" = "--peers" ] && ! command -v npm >/dev/null 2>&1 && ! command -v node >/dev/null 2>&1; then
  peer_pkgs+=(nodejs npm)
fi

want_peers=0
[ "${1:-}" = "--peers" ] && want_peers=1

pkgs=("${build_pkgs[@]}")
[ $want_peers = 1 ] && pkgs+=("${peer_pkgs[@]}")

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # A stale package list fails installs on a fresh machine; refresh it once.
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ $want_peers = 1 ]; then
  # DuckDB for Node, kept inside the checkout (ignored by git) so no global state changes.
  peer_dir="$(cd "$(dirname "$0")/.." && pwd)/build/peers"
  if [ ! -d "$peer_dir/node_modules/@duckdb/node-api" ]; then
    if command -v npm >/dev/null 2>&1; then
      echo "install-deps: installing @duckdb/node-api into $peer_dir"
      mkdir -p "$peer_dir"
      (cd "$peer_dir" && { [ -f package.json ] || echo '{"name":"reckon-peers","private":true}' > package.json; } \
        && npm install --silent --no-audit --no-fund @duckdb/node-api@1.5.6-r.1 >/dev/null 2>&1) \
        || echo "install-deps: npm install of @duckdb/node-api failed; DuckDB peer tests will skip" >&2
    fi
  fi
  # ONNX Runtime for Node (CPU binaries ship in the package; its install script would fetch CUDA
  # libraries from the network, so it is skipped).
  if [ ! -d "$peer_dir/node_modules/onnxruntime-node" ] && command -v npm >/dev/null 2>&1; then
    echo "install-deps: installing onnxruntime-node into $peer_dir"
    mkdir -p "$peer_dir"
    (cd "$peer_dir" && { [ -f package.json ] || echo '{"name":"reckon-peers","private":true}' > package.json; } \
      && ONNXRUNTIME_NODE_INSTALL_CUDA=skip npm install --silent --no-audit --no-fund --ignore-scripts \
         onnxruntime-node@1.31.1 >/dev/null 2>&1) \
      || echo "install-deps: npm install of onnxruntime-node failed; ONNX peer tests will skip" >&2
  fi
fi
exit 0
