#!/usr/bin/env bash
# Preprocessing benchmark: the quick-start's preprocessing command on synthetic TenRec rows
# (`reckon synth tenrec`), by reckon, by the same work in DuckDB SQL (bench/peers/
# preprocess_duckdb.sql) and in pandas (bench/peers/preprocess_pandas.py), at 1 and 2 threads
# (pandas is single-threaded: once). Wall time and peak resident memory of each process, and
# the ratios peer / reckon. Each tool's row counts are checked against the others.
#
#   bench/preprocess.sh [reckon-build-dir]      ROWS=1000000 for a quick run (default 10M)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
rows="${ROWS:-10000000}"
data_dir="$root/build/bench-data"
csv="$data_dir/tenrec_synth_${rows}.csv"
work="$data_dir/preprocess"
peers="$root/build/peers/node_modules"
reckon="$build/reckon"
[ -x "$reckon" ] || { echo "preprocess.sh: no $reckon (build reckon first)" >&2; exit 1; }
[ -d "$peers/@duckdb/node-api" ] || { echo "preprocess.sh: DuckDB is missing (scripts/install-deps.sh --peers)" >&2; exit 1; }

mkdir -p "$data_dir" "$work"
[ -f "$csv" ] || "$reckon" synth tenrec --rows "$rows" --seed 42 --na_fraction 0.001 --output "$csv" --progress never >/dev/null
echo "input: $csv ($(stat -c %s "$csv") bytes, $rows rows)"
cat "$csv" > /dev/null

# "seconds peak_KB" of a command, its output to $work/last.out
measure() { /usr/bin/time -f '%e %M' -o "$work/time" "$@" > "$work/last.out" 2>&1 || { cat "$work/last.out" >&2; exit 1; }; cat "$work/time"; }

run_reckon() {
  rm -rf "$work/reckon"
  measure "$reckon" preprocess --threads "$1" --progress never --input_data_format=csv --csv_na_values=\\N \
    --input_data_path "$csv" --output_path="$work/reckon/" \
    --categorical_features=user_id,item_id,video_category,gender,age \
    --binary_classif_targets=click,follow,like,share --regression_targets=watching_times \
    --to_int32=user_id,item_id --to_int16=watching_times \
    --to_int8=gender,age,video_category,click,follow,like,share \
    --user_id_feature=user_id --item_id_feature=item_id --min_user_freq 5 --persist_intermediate_files \
    --dataset_split_strategy=random --random_split_eval_perc=0.2
}

run_duckdb() {
  rm -rf "$work/duckdb" && mkdir -p "$work/duckdb"
  local args=() i=0
  while IFS= read -r line; do
    case "$line" in ''|--*) continue ;; esac
    printf '%s\n' "$line" | sed "s|@CSV@|$csv|g; s|@OUT@|$work/duckdb|g" > "$work/stmt_$i.sql"
    args+=("@$work/stmt_$i.sql"); i=$((i + 1))
  done < "$root/bench/peers/preprocess_duckdb.sql"
  OMP_NUM_THREADS=$1 NODE_PATH="$peers" measure node "$root/bench/peers/duckdb_query.js" --threads "$1" "${args[@]}"
}

run_pandas() {
  rm -rf "$work/pandas" && mkdir -p "$work/pandas"
  OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 measure /usr/bin/python3 "$root/bench/peers/preprocess_pandas.py" "$csv" "$work/pandas"
}

# train+eval rows of each tool: the user filter is the same, so the totals must agree exactly.
reckon_rows() { sed -n 's/^rows: train \([0-9]*\) eval \([0-9]*\).*/\1 \2/p' "$work/last.out"; }
duckdb_rows() { sed -n 's/.*"rows":\[\["\{0,1\}\([0-9]*\)"\{0,1\},"\{0,1\}\([0-9]*\)"\{0,1\}.*/\1 \2/p' "$work/last.out"; }
pandas_rows() { sed -n 's/.*"train_rows": \([0-9]*\), "eval_rows": \([0-9]*\).*/\1 \2/p' "$work/last.out"; }
total() { echo $(( $1 + $2 )); }

declare -A wall rss
for n in 1 2; do
  export OMP_NUM_THREADS=$n OPENBLAS_NUM_THREADS=$n
  read -r wall[reckon_$n] rss[reckon_$n] < <(run_reckon $n); read -r rt re < <(reckon_rows)
  read -r wall[duckdb_$n] rss[duckdb_$n] < <(run_duckdb $n); read -r dt de < <(duckdb_rows)
  [ "$(total $rt $re)" = "$(total $dt $de)" ] || { echo "row counts differ: reckon $rt+$re, DuckDB $dt+$de" >&2; exit 1; }
  echo "  $n thread(s): reckon ${wall[reckon_$n]} s, DuckDB ${wall[duckdb_$n]} s (train $rt / eval $re vs $dt / $de)"
done
read -r wall[pandas_1] rss[pandas_1] < <(run_pandas); read -r pt pe < <(pandas_rows)
[ "$(total $rt $re)" = "$(total $pt $pe)" ] || { echo "row counts differ: reckon $rt+$re, pandas $pt+$pe" >&2; exit 1; }
echo "  pandas (1 thread): ${wall[pandas_1]} s; phases: $(sed -n 's/.*"seconds": \(.*\)}/\1/p' "$work/last.out")"

printf '\n%-8s %-7s %10s %12s %16s %16s\n' tool threads wall_s peak_MB time/reckon memory/reckon
for n in 1 2; do
  for tool in reckon duckdb pandas; do
    [ -n "${wall[${tool}_$n]:-}" ] || continue
    awk -v t=$tool -v n=$n -v w="${wall[${tool}_$n]}" -v m="${rss[${tool}_$n]}" \
        -v rw="${wall[reckon_$n]}" -v rm="${rss[reckon_$n]}" \
      'BEGIN { printf "%-8s %-7d %10.2f %12.0f %15.2fx %15.2fx\n", t, n, w, m / 1024, w / rw, m / rm }'
  done
done
echo "(rows: $rows; the ratios are peer / reckon, so above 1 means reckon is faster or smaller)"
