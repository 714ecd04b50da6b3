#!/usr/bin/env bash
# Preprocessing benchmark: the quick-start's preprocessing command (Merlin's preprocessing.py
# flags) on synthetic TenRec rows (`reckon synth tenrec`, cached under build/bench-data/), by
# reckon, by the same work in DuckDB SQL (bench/peers/preprocess_duckdb.sql) and in pandas
# (bench/peers/preprocess_pandas.py), at 1 and 2 threads (OMP_NUM_THREADS, OPENBLAS_NUM_THREADS
# and each tool's own setting equal; pandas is single-threaded: once). Wall time and peak
# resident memory of each whole process (/usr/bin/time), and the ratios peer / reckon.
#
# Every output is read back by DuckDB (untimed) and checked: 10 files per split, train + eval
# rows equal across tools exactly (same user filter), the eval share near 20% (each tool splits
# with its own random numbers), the id types (Parquet outputs), ids contiguous from 3 and in
# descending train frequency, eval ids within the train vocabulary, and the vocabulary sizes
# (distinct ids >= 3 in train) equal across tools for the small columns and within 2% for
# user_id and item_id (a rare user or item can fall wholly in eval under one split and not
# another).
#
#   bench/preprocess.sh [reckon-build-dir]      ROWS=1000000 for a quick run (default 10M)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
rows="${ROWS:-10000000}"
seed=42
data_dir="$root/build/bench-data"
csv="$data_dir/tenrec_synth_${rows}.csv"
work="$data_dir/preprocess"
peers="$root/build/peers/node_modules"
reckon="$build/reckon"
[ -x "$reckon" ] || { echo "preprocess.sh: no $reckon (build reckon first: it generates the data)" >&2; exit 1; }
if [ ! -d "$peers/@duckdb/node-api" ] || ! command -v node > /dev/null; then
  echo "preprocess.sh: DuckDB is missing (scripts/install-deps.sh --peers)" >&2; exit 1
fi
have_reckon=0
"$reckon" preprocess --help > /dev/null 2>&1 && have_reckon=1
have_pandas=0
/usr/bin/python3 -c 'import pandas, numpy' 2> /dev/null && have_pandas=1
duck() { NODE_PATH="$peers" node "$root/bench/peers/duckdb_query.js" "$@"; }

mkdir -p "$data_dir" "$work"
if [ ! -f "$csv" ]; then
  echo "generating $csv ($rows rows)..."
  "$reckon" synth tenrec --rows "$rows" --seed "$seed" --na_fraction 0.001 --output "$csv" --progress never > /dev/null
fi
echo "input: $csv ($(stat -c %s "$csv") bytes, $rows rows)"
cat "$csv" > /dev/null   # warm the page cache for every tool alike

# measure LOG CMD...: CMD's output to LOG; sets $wall (s) and $kb (peak RSS)
measure() {
  local log=$1; shift
  if ! /usr/bin/time -f '%e %M' -o "$work/time" "$@" > "$log" 2>&1; then
    echo "preprocess.sh: failed: $*" >&2; tail -n 20 "$log" >&2; exit 1
  fi
  read -r wall kb < <(tail -n 1 "$work/time")
}

run_reckon() {   # the seed command, as a user pastes it, with --threads
  rm -rf "$work/reckon"
  measure "$work/reckon.log" "$reckon" preprocess --threads "$1" --progress never \
    --input_data_format=csv --csv_na_values=\\N --input_data_path "$csv" --output_path="$work/reckon/" \
    --categorical_features=user_id,item_id,video_category,gender,age \
    --binary_classif_targets=click,follow,like,share --regression_targets=watching_times \
    --to_int32=user_id,item_id --to_int16=watching_times \
    --to_int8=gender,age,video_category,click,follow,like,share \
    --user_id_feature=user_id --item_id_feature=item_id --min_user_freq 5 --persist_intermediate_files \
    --dataset_split_strategy=random --random_split_eval_perc=0.2
}

run_duckdb() {
  rm -rf "$work/duckdb" && mkdir -p "$work/duckdb"
  NODE_PATH="$peers" measure "$work/duckdb.log" node "$root/bench/peers/duckdb_query.js" --threads "$1" --timings \
    --var "CSV=$csv" --var "OUT=$work/duckdb" --var "SEED=$seed" --script "$root/bench/peers/preprocess_duckdb.sql"
}

run_pandas() {
  rm -rf "$work/pandas" && mkdir -p "$work/pandas"
  measure "$work/pandas.log" /usr/bin/python3 "$root/bench/peers/preprocess_pandas.py" "$csv" "$work/pandas" "$seed"
}

cats="user_id item_id video_category gender age"
types_want="INTEGER,INTEGER,TINYINT,TINYINT,TINYINT,TINYINT,TINYINT,TINYINT,TINYINT,SMALLINT"
declare -A res   # res[tool_n]="train eval files_train files_eval types vocab ok vocab ok ..."

# verify KEY DIR: reads DIR/train and DIR/eval back (Parquet anywhere below, else CSV) and
# stores the figures in res[KEY]
verify() {
  local key=$1 dir=$2 split rel=() files=() ext=parquet q c
  ls "$dir"/train/*.csv > /dev/null 2>&1 && ext=csv
  for split in train eval; do
    if [ $ext = parquet ]; then
      rel+=("read_parquet('$dir/$split/**/*.parquet', hive_partitioning = false)")
      files+=("$dir/$split/**/*.parquet")
    else
      rel+=("read_csv('$dir/$split/*.csv', header = true)"); files+=("$dir/$split/*.csv")
    fi
  done
  q="SELECT concat_ws(' ', (SELECT count(*) FROM t), (SELECT count(*) FROM e),"
  q+=" (SELECT count(*) FROM glob('${files[0]}')), (SELECT count(*) FROM glob('${files[1]}')),"
  if [ $ext = parquet ]; then
    q+=" (SELECT concat_ws(',', typeof(user_id), typeof(item_id), typeof(video_category), typeof(gender), typeof(age),"
    q+=" typeof(click), typeof(follow), typeof(\"like\"), typeof(\"share\"), typeof(watching_times)) FROM t LIMIT 1)"
  else
    q+=" 'csv'"
  fi
  for c in $cats; do
    q+=", (SELECT count(DISTINCT $c) FILTER (WHERE $c >= 3) FROM t)"
    q+=", (SELECT (min($c) >= 1 AND max($c) = count(DISTINCT $c) FILTER (WHERE $c >= 3) + 2)::INT FROM t)"
    q+="   * (SELECT (count(*) = 0)::INT FROM (SELECT n < lead(n) OVER (ORDER BY id) AS bad"
    q+="      FROM (SELECT $c AS id, count(*) AS n FROM t WHERE $c >= 3 GROUP BY $c)) WHERE bad)"
    q+="   * (SELECT (coalesce(min($c), 1) >= 1 AND coalesce(max($c), 1) <= (SELECT max($c) FROM t))::INT FROM e)"
  done
  q+=") AS v"
  res[$key]=$(duck --threads 2 "CREATE TABLE t AS FROM ${rel[0]}" "CREATE TABLE e AS FROM ${rel[1]}" "$q" |
    sed -n 's/.*"rows":\[\["\([^"]*\)"\]\].*/\1/p')
  [ -n "${res[$key]}" ] || { echo "preprocess.sh: cannot read back $dir" >&2; exit 1; }
}

bad=0
check() { echo "  CHECK FAILED: $*" >&2; bad=1; }
ref=""   # the first run: the others are compared with it
compare() {   # compare KEY LABEL: checks res[KEY] alone and against res[$ref]
  local key=$1 label=$2 tr ev ft fe ty rest i c v r vs
  read -r tr ev ft fe ty rest <<< "${res[$key]}"
  read -ra vs <<< "$rest"
  [ "$ft $fe" = "10 10" ] || check "$label wrote $ft train and $fe eval files, not 10 and 10"
  [ "$ty" = csv ] || [ "$ty" = "$types_want" ] || check "$label column types $ty, not $types_want"
  awk -v t="$tr" -v e="$ev" 'BEGIN { n = t + e; f = e / n; tol = 6 * sqrt(0.16 / n) + 1e-9
    exit !(f > 0.2 - tol && f < 0.2 + tol) }' || check "$label eval share $ev / $((tr + ev)) is not near 20%"
  i=0
  for c in $cats; do
    [ "${vs[$((2 * i + 1))]}" = 1 ] || check "$label: $c ids not contiguous from 3 in descending train frequency, or eval ids outside"
    i=$((i + 1))
  done
  [ -n "$ref" ] || { ref=$key; return 0; }
  local rtr rev rrest rvs
  read -r rtr rev _ _ _ rrest <<< "${res[$ref]}"
  read -ra rvs <<< "$rrest"
  [ $((tr + ev)) = $((rtr + rev)) ] || check "$label train+eval $((tr + ev)) != $((rtr + rev)) of $ref"
  i=0
  for c in $cats; do
    v=${vs[$((2 * i))]} r=${rvs[$((2 * i))]}
    case $c in
      user_id|item_id) awk -v a="$v" -v b="$r" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 0.02 * b + 2) }' ;;
      *) [ "$v" = "$r" ] ;;
    esac || check "$label $c vocabulary $v, $ref has $r"
    i=$((i + 1))
  done
}
summary() {   # summary KEY: "train T eval E; vocabularies user_id U item_id I ..."
  local tr ev rest vs i=0 c s
  read -r tr ev _ _ _ rest <<< "${res[$1]}"
  read -ra vs <<< "$rest"
  s="train $tr eval $ev; vocabularies"
  for c in $cats; do s+=" $c ${vs[$((2 * i))]}"; i=$((i + 1)); done
  echo "$s"
}

declare -A wall_s rss_kb
for n in 1 2; do
  export OMP_NUM_THREADS=$n OPENBLAS_NUM_THREADS=$n MKL_NUM_THREADS=$n
  if [ $have_reckon = 1 ]; then
    run_reckon $n; wall_s[reckon_$n]=$wall rss_kb[reckon_$n]=$kb
    verify reckon_$n "$work/reckon"; compare reckon_$n "reckon ($n threads)"
    echo "  reckon $n thread(s): $wall s, $((kb / 1024)) MB; $(summary reckon_$n)"
  fi
  run_duckdb $n; wall_s[duckdb_$n]=$wall rss_kb[duckdb_$n]=$kb
  verify duckdb_$n "$work/duckdb"; compare duckdb_$n "DuckDB ($n threads)"
  echo "  DuckDB $n thread(s): $wall s, $((kb / 1024)) MB; $(summary duckdb_$n)"
  echo "    statements (s): $(sed -n 's/.*"statements_s":\[\([^]]*\)\].*/\1/p' "$work/duckdb.log")"
done
if [ $have_pandas = 1 ]; then
  export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
  run_pandas; wall_s[pandas_1]=$wall rss_kb[pandas_1]=$kb
  verify pandas_1 "$work/pandas"; compare pandas_1 "pandas"
  echo "  pandas 1 thread: $wall s, $((kb / 1024)) MB; $(summary pandas_1)"
  echo "    $(grep -o '"writer".*' "$work/pandas.log")"
fi

printf '\n%-8s %-7s %10s %12s %14s %14s\n' tool threads wall_s peak_rss_MB time/reckon rss/reckon
for n in 1 2; do
  for tool in reckon duckdb pandas; do
    [ -n "${wall_s[${tool}_$n]:-}" ] || continue
    awk -v t=$tool -v n=$n -v w="${wall_s[${tool}_$n]}" -v m="${rss_kb[${tool}_$n]}" \
        -v rw="${wall_s[reckon_$n]:-}" -v rm="${rss_kb[reckon_$n]:-}" 'BEGIN {
      tr = rw == "" ? "-" : sprintf("%.2fx", w / rw); mr = rm == "" ? "-" : sprintf("%.2fx", m / rm)
      printf "%-8s %-7d %10.2f %12.0f %14s %14s\n", t, n, w, m / 1024, tr, mr }'
  done
done
echo "(rows: $rows; ratios are peer / reckon: above 1, reckon is faster or smaller; wall time and"
echo " peak RSS of the whole process: DuckDB's include Node and the DuckDB library (~85 MB at rest); pandas is single-threaded,"
echo " compared with reckon at 1 thread$( [ -n "${wall_s[pandas_1]:-}" ] && grep -q '"writer": "csv"' "$work/pandas.log" && echo ", and writes CSV: no pyarrow or fastparquet here"))"
[ $have_reckon = 1 ] || echo "reckon preprocess: not available ($reckon has no preprocess command)"
[ $have_pandas = 1 ] || echo "pandas: not available (/usr/bin/python3 cannot import pandas and numpy): skipped"
[ $bad = 0 ] || { echo "preprocess.sh: some checks failed (above)" >&2; exit 1; }
