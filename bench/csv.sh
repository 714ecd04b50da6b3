#!/usr/bin/env bash
# CSV read benchmark: reckon against DuckDB (read_csv) and pandas (read_csv) on a TenRec
# QK-video-shaped file, at 1 and 2 threads, reading into typed columns.
#
#   bench/csv.sh [reckon-build-dir]          (default: build)
#   ROWS=1000000 bench/csv.sh build-csv      smaller file
#
# The file is generated once by bench/csv_read --generate and cached under build/bench-data/.
# Times cover reading only (best of 3 for reckon and DuckDB, one run for pandas, which is
# single-threaded). DuckDB is given the column types and '\N' as its NULL string, and computes
# min/max of every column so every column is materialised; reckon folds every column the same way.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
rows="${ROWS:-10000000}"
data_dir="$root/build/bench-data"
file="$data_dir/qk_video_${rows}.csv"
driver="$build/bench/csv_read"
peers="$root/build/peers/node_modules"
[ -x "$driver" ] || { echo "csv.sh: no $driver (build reckon first)" >&2; exit 1; }

mkdir -p "$data_dir"
if [ ! -f "$file" ]; then
  echo "generating $file ($rows rows)..."
  "$driver" --generate "$file" --rows "$rows"   # the sink writes a temporary and renames it
fi
bytes=$(stat -c %s "$file")
mb=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1e6 }')
echo "file: $file ($mb MB, $rows rows)"
cat "$file" > /dev/null   # warm the page cache for every contender alike

cols="user_id,item_id,click,follow,like,share,video_category,watching_times,gender,age,score"
sel=""
for c in ${cols//,/ }; do sel="$sel${sel:+, }min(\"$c\"), max(\"$c\")"; done   # "like" is a keyword
types="{'user_id':'BIGINT','item_id':'BIGINT','click':'BIGINT','follow':'BIGINT','like':'BIGINT','share':'BIGINT',"
types+="'video_category':'BIGINT','watching_times':'BIGINT','gender':'BIGINT','age':'BIGINT','score':'DOUBLE'}"
sql="SELECT $sel FROM read_csv('$file', header=true, delim=',', quote='\"', escape='\"', nullstr='\\N', auto_detect=false, columns=$types)"

have_duckdb=0
[ -d "$peers/@duckdb/node-api" ] && command -v node > /dev/null && have_duckdb=1
have_pandas=0
/usr/bin/python3 -c 'import pandas' 2> /dev/null && have_pandas=1

declare -A secs
for n in 1 2; do
  export OMP_NUM_THREADS=$n OPENBLAS_NUM_THREADS=$n MKL_NUM_THREADS=$n
  out=$("$driver" "$file" --threads $n --repeat 3)
  echo "$out" | sed 's/^/  /'
  secs[reckon_$n]=$(echo "$out" | sed -n 's/.*best_s=\([0-9.]*\).*/\1/p')
  if [ $have_duckdb = 1 ]; then
    secs[duckdb_$n]=$(NODE_PATH="$peers" node "$root/bench/peers/duckdb_query.js" --threads $n --repeat 3 "$sql" |
      sed -n 's/.*"best_s":\([0-9.e-]*\).*/\1/p')
  fi
done
if [ $have_pandas = 1 ]; then
  export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
  secs[pandas_1]=$(/usr/bin/python3 - "$file" <<'PY'
import sys, time
import pandas as pd
t0 = time.perf_counter()
df = pd.read_csv(sys.argv[1], na_values=['\\N'])
t = time.perf_counter() - t0
assert len(df) > 0
print(f"{t:.4f}")
PY
)
fi

printf '\n%-8s %-7s %10s %14s %10s %14s %14s\n' tool threads seconds rows/s MB/s reckon/duckdb reckon/pandas
for n in 1 2; do
  for tool in reckon duckdb pandas; do
    s="${secs[${tool}_$n]:-}"
    [ -n "$s" ] || continue
    rd=""; rp=""
    if [ $tool = reckon ]; then
      [ -n "${secs[duckdb_$n]:-}" ] && rd=$(awk -v a="${secs[duckdb_$n]}" -v b="$s" 'BEGIN { printf "%.2fx", a / b }')
      [ -n "${secs[pandas_1]:-}" ] && rp=$(awk -v a="${secs[pandas_1]}" -v b="$s" 'BEGIN { printf "%.2fx", a / b }')
    fi
    awk -v t=$tool -v n=$n -v s="$s" -v r="$rows" -v b="$bytes" -v rd="$rd" -v rp="$rp" \
      'BEGIN { printf "%-8s %-7s %10.3f %14.0f %10.1f %14s %14s\n", t, n, s, r / s, b / 1e6 / s, rd, rp }'
  done
done
echo "(ratios are speedups: how many times faster reckon is; pandas is single-threaded, compared at 1 thread's figure)"
[ $have_duckdb = 1 ] || echo "DuckDB not installed (scripts/install-deps.sh --peers): skipped"
[ $have_pandas = 1 ] || echo "pandas not installed: skipped"
