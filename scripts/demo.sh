#!/usr/bin/env bash
# `make demo`: the main job on an embedded default. Today: generate the synthetic TenRec-like
# dataset (with its true probabilities), write it as Parquet, and show what `reckon inspect`
# sees in it; then a session log. Later steps (preprocess, train, evaluate, serve) join here as
# they land.
set -euo pipefail
reckon=${1:-build/reckon}
out=${DEMO_DIR:-build/demo}
mkdir -p "$out"

echo "== reckon synth tenrec: 200,000 interactions shaped like TenRec's QK-video"
"$reckon" synth tenrec --rows 200000 --seed 42 --emit_truth --na_fraction 0.001 --output "$out/tenrec.csv"
echo
echo "== the first rows"
head -n 4 "$out/tenrec.csv"
echo
echo "== reckon convert: the same data as Parquet"
"$reckon" convert --csv_na_values '\N' "$out/tenrec.csv" "$out/tenrec.parquet"
echo
echo "== reckon inspect: the Parquet file, its layout and a profile of every column"
"$reckon" inspect "$out/tenrec.parquet"
echo
echo "== reckon synth sessions: 5,000 sessions over 7 days"
"$reckon" synth sessions --sessions 5000 --days 7 --seed 42 --output "$out/sessions.parquet"
"$reckon" inspect --stats false "$out/sessions.parquet"
