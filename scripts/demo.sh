#!/usr/bin/env bash
# `make demo`: the main job on an embedded default. Today: generate the synthetic TenRec-like
# dataset (with its true probabilities), write it as Parquet, show what `reckon inspect` sees in
# it, preprocess it with the quick-start's command and inspect the result; then a session log.
# Later steps (train, evaluate, serve) join here as they land.
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
echo "== reckon preprocess: the quick-start's command, verbatim"
"$reckon" preprocess --input_data_format=csv --csv_na_values=\\N --input_data_path "$out/tenrec.csv" \
  --output_path="$out/preproc/" --categorical_features=user_id,item_id,video_category,gender,age \
  --binary_classif_targets=click,follow,like,share --regression_targets=watching_times \
  --to_int32=user_id,item_id --to_int16=watching_times --to_int8=gender,age,video_category,click,follow,like,share \
  --user_id_feature=user_id --item_id_feature=item_id --min_user_freq 5 --persist_intermediate_files \
  --dataset_split_strategy=random --random_split_eval_perc=0.2
echo
echo "== reckon inspect: the preprocessed train split and its schema"
"$reckon" inspect --stats false "$out/preproc/train"
head -n 20 "$out/preproc/train/schema.pbtxt"
echo
echo "== reckon synth sessions: 5,000 sessions over 7 days"
"$reckon" synth sessions --sessions 5000 --days 7 --seed 42 --output "$out/sessions.parquet"
"$reckon" inspect --stats false "$out/sessions.parquet"
