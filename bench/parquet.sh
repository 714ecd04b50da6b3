#!/usr/bin/env bash
# Parquet benchmark: reckon against DuckDB at 1 and 2 threads on a file shaped like preprocessed
# TenRec (10 integer columns cast as the quick-start's preprocessing casts them, 2 float columns),
# written by DuckDB with snappy and its own dictionary choices.
#   read:  decode every column into memory (DuckDB: min/max of every column, which decodes all)
#   write: the same table from memory to a snappy Parquet file (DuckDB: COPY from a table)
#
#   bench/parquet.sh [reckon-build-dir]        ROWS=1000000 for a smaller file
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
rows="${ROWS:-10000000}"
data_dir="$root/build/bench-data"
csv="$data_dir/qk_video_${rows}.csv"
file="$data_dir/tenrec_preproc_${rows}.parquet"
driver="$build/bench/parquet_bench"
peers="$root/build/peers/node_modules"
duck() { NODE_PATH="$peers" node "$root/bench/peers/duckdb_query.js" "$@"; }
[ -x "$driver" ] || { echo "parquet.sh: no $driver (build reckon first)" >&2; exit 1; }
[ -d "$peers/@duckdb/node-api" ] || { echo "parquet.sh: DuckDB is missing (scripts/install-deps.sh --peers)" >&2; exit 1; }

mkdir -p "$data_dir"
[ -f "$csv" ] || "$build/bench/csv_read" --generate "$csv" --rows "$rows"
if [ ! -f "$file" ]; then
  echo "writing $file with DuckDB ($rows rows)..."
  casts="user_id:INTEGER item_id:INTEGER click:TINYINT follow:TINYINT like:TINYINT share:TINYINT"
  casts+=" video_category:TINYINT watching_times:SMALLINT gender:TINYINT age:TINYINT score:FLOAT"
  select=""
  for c in $casts; do select+="CAST(\"${c%%:*}\" AS ${c##*:}) AS \"${c%%:*}\", "; done
  duck --threads 2 "COPY (SELECT $select score * 3.0 AS score64
    FROM read_csv('$csv', header=true, nullstr='\\N')) TO '$file' (FORMAT parquet, COMPRESSION snappy)" >/dev/null
fi
echo "file: $file ($(stat -c %s "$file") bytes, $rows rows)"
cat "$file" > /dev/null

cols="user_id item_id click follow like share video_category watching_times gender age score score64"
sel=""
for c in $cols; do sel="$sel${sel:+, }min(\"$c\" + 0), max(\"$c\" + 0)"; done   # "+ 0": decode, not footer statistics
out="$data_dir/bench_write.parquet"

declare -A s
for n in 1 2; do
  export OMP_NUM_THREADS=$n OPENBLAS_NUM_THREADS=$n
  r=$("$driver" read "$file" --threads $n --repeat 3); echo "  $r"
  s[reckon_read_$n]=$(echo "$r" | sed -n 's/.*best_s=\([0-9.]*\).*/\1/p')
  s[duckdb_read_$n]=$(duck --threads $n --repeat 3 "SELECT $sel FROM '$file'" | sed -n 's/.*"best_s":\([0-9.e-]*\).*/\1/p')
  w=$("$driver" write "$file" "$out" --threads $n --repeat 3); echo "  $w"
  s[reckon_write_$n]=$(echo "$w" | sed -n 's/.*best_s=\([0-9.]*\).*/\1/p')
  s[duckdb_write_$n]=$(duck --threads $n --repeat 3 "CREATE OR REPLACE TABLE t AS SELECT * FROM '$file'" \
    "COPY t TO '$out' (FORMAT parquet, COMPRESSION snappy)" | sed -n 's/.*"best_s":\([0-9.e-]*\).*/\1/p')
done
rm -f "$out"

printf '\n%-8s %-6s %8s %12s %12s %14s\n' op threads rows reckon_s duckdb_s reckon/duckdb
for op in read write; do
  for n in 1 2; do
    awk -v op=$op -v n=$n -v rows=$rows -v r="${s[reckon_${op}_$n]}" -v d="${s[duckdb_${op}_$n]}" \
      'BEGIN { printf "%-8s %-6d %8d %12.3f %12.3f %13.2fx\n", op, n, rows, r, d, d / r }'
  done
done
echo "(ratio > 1: reckon is faster; times are the best of 3 runs on the same cores in the same run)"
