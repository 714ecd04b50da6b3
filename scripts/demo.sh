#!/usr/bin/env bash
# `make demo`: the main job on an embedded default. Today: generate the synthetic TenRec-like
# dataset (with its true probabilities) and print its summary. Later steps (preprocess, train,
# evaluate, serve) join here as they land.
set -euo pipefail
reckon=${1:-build/reckon}
out=${DEMO_DIR:-build/demo}
mkdir -p "$out"

echo "== reckon synth tenrec: 200,000 interactions shaped like TenRec's QK-video"
"$reckon" synth tenrec --rows 200000 --seed 42 --emit_truth --na_fraction 0.001 --output "$out/tenrec.csv"
echo
echo "== the first rows"
head -n 6 "$out/tenrec.csv"
echo
echo "== the sidecar: positive rates and the best AUC any model can reach"
cat "$out/tenrec.csv.json"
echo
echo "== reckon synth sessions: 5,000 sessions over 7 days"
"$reckon" synth sessions --sessions 5000 --days 7 --seed 42 --output "$out/sessions.csv"
head -n 4 "$out/sessions.csv"
