#!/usr/bin/env bash
# `make bench`: every benchmark, each printing its figures as ratios against a peer measured in the
# same run on the same cores with the same threads. Sizes can be lowered with ROWS=...
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$(dirname "${1:-build/reckon}")" && pwd)
for b in "$here"/csv.sh "$here"/parquet.sh "$here"/preprocess.sh "$here"/nn.sh "$here"/train.sh "$here"/train_mtl.sh "$here"/widedeep.sh "$here"/seq.sh \
         "$here"/sessions_train.sh "$here"/serve.sh; do
  echo "== $(basename "$b")"
  bash "$b" "$build"
done
