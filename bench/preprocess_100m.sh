#!/usr/bin/env bash
# Preprocessing at scale: the quick-start's seed command on 100M synthetic TenRec rows (ROWS to
# change), reckon alone, to show that memory follows the distinct users and items, not the rows.
# Prints wall time, rows/s and peak resident memory (/usr/bin/time). The input CSV (~2.9 GB at
# 100M rows) is generated once by `reckon synth tenrec` and cached under build/bench-data/; the
# output (and its _cache/ stage) is removed afterwards. Refuses to start with less than 20 GB
# free there (scaled down for smaller ROWS; NEED_GB to override). Not part of `make bench`: it
# takes several minutes.
#
#   bench/preprocess_100m.sh [reckon-build-dir]      THREADS=2 by default; ROWS=1000000 to try it
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
rows="${ROWS:-100000000}"
threads="${THREADS:-2}"
data_dir="$root/build/bench-data"
csv="$data_dir/tenrec_synth_${rows}.csv"
out="$data_dir/preprocess_${rows}"
reckon="$build/reckon"
[ -x "$reckon" ] || { echo "preprocess_100m.sh: no $reckon (build reckon first)" >&2; exit 1; }
"$reckon" preprocess --help > /dev/null 2>&1 ||
  { echo "preprocess_100m.sh: reckon preprocess: not available in $reckon" >&2; exit 1; }
mkdir -p "$data_dir"
free_gb=$(df -Pk "$data_dir" | awk 'NR == 2 { print int($4 / 1048576) }')
need_gb="${NEED_GB:-$(( (rows * 20 + 99999999) / 100000000 ))}"   # 20 GB per 100M rows, rounded up
if [ "$free_gb" -lt "$need_gb" ]; then
  echo "preprocess_100m.sh: only $free_gb GB free under $data_dir; $rows rows need $need_gb GB" \
    "(input CSV, intermediate stage, output). Free some space or lower ROWS." >&2
  exit 1
fi
echo "disk: $free_gb GB free under $data_dir (need $need_gb GB)"
if [ ! -f "$csv" ]; then
  echo "generating $csv ($rows rows)..."
  "$reckon" synth tenrec --rows "$rows" --seed 42 --na_fraction 0.001 --output "$csv" --progress never > /dev/null
fi
echo "input: $csv ($(stat -c %s "$csv") bytes, $rows rows)"
rm -rf "$out"
export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads MKL_NUM_THREADS=$threads
/usr/bin/time -f '%e %M' -o "$data_dir/time_100m" "$reckon" preprocess --threads "$threads" --progress never \
  --input_data_format=csv --csv_na_values=\\N --input_data_path "$csv" --output_path="$out/" \
  --categorical_features=user_id,item_id,video_category,gender,age \
  --binary_classif_targets=click,follow,like,share --regression_targets=watching_times \
  --to_int32=user_id,item_id --to_int16=watching_times --to_int8=gender,age,video_category,click,follow,like,share \
  --user_id_feature=user_id --item_id_feature=item_id --min_user_freq 5 --persist_intermediate_files \
  --dataset_split_strategy=random --random_split_eval_perc=0.2
read -r wall kb < <(tail -n 1 "$data_dir/time_100m")
out_mb=$(du -sm "$out" | cut -f1)
awk -v r="$rows" -v w="$wall" -v kb="$kb" -v t="$threads" -v o="$out_mb" 'BEGIN {
  printf "\n%d rows, %d threads: wall %.2f s, %.2fM rows/s, peak RSS %.0f MB (output with its stage: %d MB)\n",
         r, t, w, r / w / 1e6, kb / 1024, o }'
rm -rf "$out" "$data_dir/time_100m"
