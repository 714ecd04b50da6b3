#!/usr/bin/env bash
# Session-ETL benchmark (issue 17): the Transformers4Rec ETL of the 01-ETL-with-NVTabular notebook
# on a synthetic YOOCHOOSE-layout click log (session_id,timestamp,item_id,category; ISO times; no
# header), by `reckon preprocess` in session mode, by the same work in DuckDB SQL
# (bench/peers/sessions_duckdb.sql) and in pandas (bench/peers/sessions_pandas.py): dedup of
# consecutive repeats, ids by descending frequency, weekday sin/cos, item recency log z-score,
# lists per session ordered by time, the last 20, day_index, at least 2 items, the per-day
# 80/10/10 split, Parquet out. reckon and DuckDB run at THREADS threads (OMP_NUM_THREADS and
# DuckDB's setting), pandas on its one. Wall time and peak resident memory of each whole process
# (/usr/bin/time), and the ratios peer / reckon.
#
# The clicks come from `reckon synth sessions --layout yoochoose` (about EVENTS events: it counts
# sessions), else from bench/peers/sessions_raw.awk (exactly EVENTS), cached under
# build/bench-data/. Every output is read back by DuckDB (untimed) and checked: the same number
# of sessions and days, and the same train/valid/test totals (each tool draws its own sessions,
# but by the same counting rule per day, so the totals agree exactly); tests/e2e/sessions_peers.sh
# checks on a small log that the two peers write the same sessions.
#
#   bench/sessions_etl.sh [reckon-build-dir]     EVENTS=300000 for a quick run (default 30M),
#                                                THREADS=2, DAYS=30, SKIP_PANDAS=1
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
events="${EVENTS:-30000000}"
threads="${THREADS:-2}"
days="${DAYS:-30}"
seed=42
data_dir="$root/build/bench-data"
work="$data_dir/sessions_etl"
peers="$root/build/peers/node_modules"
reckon="$build/reckon"
[ -x "$reckon" ] || { echo "sessions_etl.sh: no $reckon (build reckon first)" >&2; exit 1; }
if [ ! -d "$peers/@duckdb/node-api" ] || ! command -v node > /dev/null; then
  echo "sessions_etl.sh: DuckDB is missing (scripts/install-deps.sh --peers)" >&2; exit 1
fi
have_reckon=0
# (the help is read whole first: grep -q stops reading early, and pipefail would count the writer's SIGPIPE)
help=$("$reckon" preprocess --help 2>&1 || true)
[[ $help == *--session_id_feature* ]] && have_reckon=1
have_pandas=0
[ "${SKIP_PANDAS:-0}" = 1 ] || { /usr/bin/python3 -c 'import pandas, numpy' 2> /dev/null && have_pandas=1; }
duck() { NODE_PATH="$peers" node "$root/bench/peers/duckdb_query.js" "$@"; }

mkdir -p "$data_dir" "$work"
help=$("$reckon" synth sessions --help 2>&1 || true)
if [[ $help == *yoochoose* ]]; then
  csv="$data_dir/sessions_yoochoose_${events}_${days}d.csv"
  if [ ! -f "$csv" ]; then   # ~7 events a session: 6 clicks on average, plus repeats and nulls
    echo "generating $csv (reckon synth sessions, ~$events events)..."
    "$reckon" synth sessions --layout yoochoose --sessions $((events / 7 > 0 ? events / 7 : 1)) --days "$days" \
      --seed "$seed" --output "$csv" --progress never > /dev/null
  fi
else
  csv="$data_dir/sessions_awk_${events}_${days}d.csv"
  if [ ! -f "$csv" ]; then
    echo "generating $csv (bench/peers/sessions_raw.awk: reckon synth sessions has no yoochoose layout)..."
    awk -v events="$events" -v days="$days" -v seed="$seed" -f "$root/bench/peers/sessions_raw.awk" > "$csv.tmp"
    mv "$csv.tmp" "$csv"
  fi
fi
nevents=$(wc -l < "$csv")
echo "input: $csv ($(stat -c %s "$csv") bytes, $nevents events)"
cat "$csv" > /dev/null   # warm the page cache for every tool alike

# measure LOG CMD...: CMD's output to LOG; sets $wall (s) and $kb (peak RSS); $ok 0 when CMD failed
measure() {
  local log=$1; shift
  ok=1
  if ! /usr/bin/time -f '%e %M' -o "$work/time" "$@" > "$log" 2>&1; then
    echo "sessions_etl.sh: failed: $*" >&2; tail -n 20 "$log" >&2; ok=0
  fi
  read -r wall kb < <(tail -n 1 "$work/time")
}

run_reckon() {   # the notebook's ETL as one command; every session flag at its default
  rm -rf "$work/reckon"
  measure "$work/reckon.log" "$reckon" preprocess --threads "$threads" --progress never \
    --input_data_format csv --csv_header false --csv_column_names session_id,timestamp,item_id,category \
    --input_data_path "$csv" --output_path "$work/reckon/" \
    --session_id_feature session_id --timestamp_feature timestamp --item_id_feature item_id \
    --categorical_features item_id,category --random_seed "$seed"
}

run_duckdb() {
  rm -rf "$work/duckdb" && mkdir -p "$work/duckdb"
  NODE_PATH="$peers" measure "$work/duckdb.log" node "$root/bench/peers/duckdb_query.js" --threads "$threads" --timings \
    --var "CSV=$csv" --var "OUT=$work/duckdb" --var "SEED=$seed" --script "$root/bench/peers/sessions_duckdb.sql"
}

run_pandas() {
  rm -rf "$work/pandas" && mkdir -p "$work/pandas"
  measure "$work/pandas.log" /usr/bin/python3 "$root/bench/peers/sessions_pandas.py" "$csv" "$work/pandas" "$seed"
}

# counts TOOL: "days train valid test" of a tool's output, read back by DuckDB
counts() {
  local rel split day
  case $1 in
    reckon) # the day folders: <out>/<day>/ in the issue; found wherever the output puts them
            local first base
            first=$(find "$work/reckon" -path '*/[0-9]*/train.parquet' | head -n 1)
            [ -n "$first" ] || { echo "0 0 0 0"; return; }
            base=$(dirname "$(dirname "$first")")
            rel="read_parquet('$base/[0-9]*/*.parquet', filename = true)"
            split="regexp_extract(filename, '/([a-z]+)\.parquet$', 1)" day="regexp_extract(filename, '/([0-9]+)/[a-z]+\.parquet$', 1)" ;;
    duckdb) rel="read_parquet('$work/duckdb/*/*/*.parquet', hive_partitioning = false, filename = true)"
            split="regexp_extract(filename, 'split=([a-z]+)', 1)" day="regexp_extract(filename, 'day_index=([0-9]+)', 1)" ;;
    pandas) if ls "$work"/pandas/*/*/part_0.parquet > /dev/null 2>&1; then
              rel="read_parquet('$work/pandas/*/*/*.parquet', hive_partitioning = false, filename = true)"
            else
              rel="read_csv('$work/pandas/*/*/*.csv', header = true, all_varchar = true, filename = true)"
            fi
            split="regexp_extract(filename, 'split=([a-z]+)', 1)" day="regexp_extract(filename, 'day_index=([0-9]+)', 1)" ;;
  esac
  duck --threads "$threads" "SELECT concat_ws(' ', count(DISTINCT $day), count(*) FILTER ($split = 'train'),
      count(*) FILTER ($split = 'valid'), count(*) FILTER ($split = 'test')) AS v FROM $rel" |
    sed -n 's/.*"rows":\[\["\([^"]*\)"\]\].*/\1/p'
}

bad=0
check() { echo "  CHECK FAILED: $*" >&2; bad=1; }
declare -A wall_s rss_kb res
export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads MKL_NUM_THREADS=$threads
if [ $have_reckon = 1 ]; then
  run_reckon
  if [ $ok = 1 ]; then
    wall_s[reckon]=$wall rss_kb[reckon]=$kb res[reckon]=$(counts reckon)
    echo "  reckon $threads thread(s): $wall s, $((kb / 1024)) MB; days train valid test: ${res[reckon]}"
  else bad=1; fi
fi
run_duckdb
[ $ok = 1 ] || exit 1
wall_s[duckdb]=$wall rss_kb[duckdb]=$kb res[duckdb]=$(counts duckdb)
echo "  DuckDB $threads thread(s): $wall s, $((kb / 1024)) MB; days train valid test: ${res[duckdb]}"
echo "    statements (s): $(sed -n 's/.*"statements_s":\[\([^]]*\)\].*/\1/p' "$work/duckdb.log")"
if [ $have_pandas = 1 ]; then
  export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
  run_pandas
  if [ $ok = 1 ]; then
    wall_s[pandas]=$wall rss_kb[pandas]=$kb res[pandas]=$(counts pandas)
    echo "  pandas 1 thread: $wall s, $((kb / 1024)) MB; days train valid test: ${res[pandas]}"
    echo "    $(tail -n 1 "$work/pandas.log")"
  else bad=1; fi
fi
for tool in reckon pandas; do
  [ -n "${res[$tool]:-}" ] || continue
  [ "${res[$tool]}" = "${res[duckdb]}" ] || check "$tool days/train/valid/test ${res[$tool]} != DuckDB's ${res[duckdb]}"
done

printf '\n%-8s %-7s %10s %12s %16s %16s\n' tool threads wall_s peak_rss_MB time_peer/reckon rss_peer/reckon
for tool in reckon duckdb pandas; do
  [ -n "${wall_s[$tool]:-}" ] || continue
  n=$threads; [ $tool = pandas ] && n=1
  awk -v t=$tool -v n=$n -v w="${wall_s[$tool]}" -v m="${rss_kb[$tool]}" -v rw="${wall_s[reckon]:-}" -v rm="${rss_kb[reckon]:-}" 'BEGIN {
    tr = rw == "" ? "-" : sprintf("%.2fx", w / rw); mr = rm == "" ? "-" : sprintf("%.2fx", m / rm)
    printf "%-8s %-7d %10.2f %12.0f %16s %16s\n", t, n, w, m / 1024, tr, mr }'
done
echo "(events: $nevents; ratios are peer / reckon: above 1, reckon is faster or smaller; wall time and peak RSS of"
echo " the whole process: DuckDB's include Node and the DuckDB library (~85 MB at rest); pandas is single-threaded$(
  [ -n "${wall_s[pandas]:-}" ] && grep -q '"writer": "csv"' "$work/pandas.log" && echo ", and writes CSV: no pyarrow or fastparquet here"))"
[ $have_reckon = 1 ] || echo "reckon preprocess: no session mode in $reckon (--session_id_feature): skipped"
[ $have_pandas = 1 ] || echo "pandas: skipped (SKIP_PANDAS=1, or /usr/bin/python3 cannot import pandas and numpy)"
[ $bad = 0 ] || { echo "sessions_etl.sh: some checks failed (above)" >&2; exit 1; }
