#!/usr/bin/env bash
# Preprocessing at scale: the quick-start's command on 100M synthetic TenRec rows (ROWS to change),
# reckon alone, to show that memory follows the distinct users and items, not the rows. Prints
# wall time, rows/s and peak resident memory. Needs about 15 GB of free disk (the CSV, the
# intermediate stage and the output); not part of `make bench` (it takes a few minutes).
#
#   bench/preprocess_100m.sh [reckon-build-dir]      THREADS=2 by default
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
rows="${ROWS:-100000000}"
threads="${THREADS:-2}"
data_dir="$root/build/bench-data"
csv="$data_dir/tenrec_synth_${rows}.csv"
out="$data_dir/preprocess_${rows}"
[ -x "$build/reckon" ] || { echo "preprocess_100m.sh: no $build/reckon (build reckon first)" >&2; exit 1; }
mkdir -p "$data_dir"
free_gb=$(df -Pk "$data_dir" | awk 'NR == 2 { print int($4 / 1048576) }')
need_gb=$(( rows / 6600000 + 1 ))
[ "$free_gb" -ge "$need_gb" ] || { echo "preprocess_100m.sh: $free_gb GB free under $data_dir, need about $need_gb GB" >&2; exit 1; }
[ -f "$csv" ] || "$build/reckon" synth tenrec --rows "$rows" --seed 42 --na_fraction 0.001 --output "$csv"
rm -rf "$out"
export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads
/usr/bin/time -f '%e %M' -o "$data_dir/time" "$build/reckon" preprocess --threads "$threads" --progress never \
  --input_data_format=csv --csv_na_values=\\N --input_data_path "$csv" --output_path="$out/" \
  --categorical_features=user_id,item_id,video_category,gender,age \
  --binary_classif_targets=click,follow,like,share --regression_targets=watching_times \
  --to_int32=user_id,item_id --to_int16=watching_times --to_int8=gender,age,video_category,click,follow,like,share \
  --user_id_feature=user_id --item_id_feature=item_id --min_user_freq 5 --persist_intermediate_files \
  --dataset_split_strategy=random --random_split_eval_perc=0.2
read -r wall kb < "$data_dir/time"
awk -v r="$rows" -v w="$wall" -v kb="$kb" -v t="$threads" \
  'BEGIN { printf "\n%d rows, %d threads: %.1f s, %.2fM rows/s, peak memory %.0f MB\n", r, t, w, r / w / 1e6, kb / 1024 }'
rm -rf "$out"
