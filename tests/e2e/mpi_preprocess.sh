#!/usr/bin/env bash
# `mpirun -np N reckon preprocess` (src/etl/dist_preprocess.c): each rank reads its share of the
# input (CSV byte ranges, Parquet row groups), the shares' dictionaries, row numbers and user/item
# counts are merged, every rank fits the same workflow and writes its block of the output parts,
# rank 0 the rest. Checked: the output equals the one-process run
# file for file (cmp; all but the report and the run markers) on 2 and 3 ranks, for CSV and
# Parquet input, with the frequency filters, the splits, target encoding, median fills, eval and
# predict inputs, a share with no rows, and a stage larger than one batch (so a batch joins two
# ranks' rows). Failures: a bad value in rank 1's share is reported once, by rank 0, naming the
# rank, and leaves no output; ranks given different flags are refused; flags that cannot be
# split say so. Skipped when reckon was built without MPI or mpirun is missing.
set -u
source "$(dirname "$0")/lib.bash"
R="$RECKON_BIN"
mpi_require
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Every output file identical but the report (timings) and the run markers (run ids).
same_tree() {
  local a=$1 b=$2 f
  [ -d "$a/train" ] && [ -d "$b/train" ] || { echo "  missing output"; return 1; }
  for f in $(cd "$a" && find . -type f ! -name preprocess_report.json ! -name .reckon-output | sort); do
    cmp -s "$a/$f" "$b/$f" || { echo "  differs: $f"; return 1; }
  done
  [ "$(cd "$a" && find . -type f | sort)" = "$(cd "$b" && find . -type f | sort)" ] || { echo "  the file lists differ"; return 1; }
}
json_num() { grep -o "\"$2\": [-0-9][-0-9.e+]*" "$1" | head -1 | cut -d' ' -f2; }

# ---- inputs ----
# 6000 rows: users and items with a long tail (for the frequency filters), a category, a price,
# an age with gaps (median fill), a binary label and a regression target.
awk 'BEGIN { srand(7); print "user,item,cat,price,age,label,score,ts";
  for (i = 0; i < 6000; i++) {
    u = int(rand() * rand() * 400); it = int(rand() * rand() * 700);
    age = rand() < 0.05 ? "" : int(10 + rand() * 70);
    printf "u%d,%d,%s,%.3f,%s,%d,%.4f,%d\n", u, it, substr("abcdefgh", 1 + int(rand() * 8), 1), rand() * 100, age,
      rand() < 0.3, rand() * 5 - 1, 1600000000 + i * 37
  } }' > "$tmp/d.csv"
head -1 "$tmp/d.csv" > "$tmp/eval.csv"; sed -n 2,800p "$tmp/d.csv" | sed 's/^u/v/' >> "$tmp/eval.csv"
head -1 "$tmp/d.csv" | cut -d, -f1-5,8 > "$tmp/pred.csv"; sed -n 900,1500p "$tmp/d.csv" | cut -d, -f1-5,8 >> "$tmp/pred.csv"
"$R" convert "$tmp/d.csv" "$tmp/d.parquet" --row_group_size 700 >/dev/null 2>&1
mkdir -p "$tmp/pq"
head -3001 "$tmp/d.csv" > "$tmp/a.csv"; { head -1 "$tmp/d.csv"; sed -n 3002,6001p "$tmp/d.csv"; } > "$tmp/b.csv"
"$R" convert "$tmp/a.csv" "$tmp/pq/part_0.parquet" --row_group_size 1000 >/dev/null 2>&1
"$R" convert "$tmp/b.csv" "$tmp/pq/part_1.parquet" --row_group_size 450 >/dev/null 2>&1

base=(--categorical_features user,item,cat --continuous_features price,age --binary_classif_targets label
      --regression_targets score --user_id_feature user --item_id_feature item --output_num_partitions 3)

# One case: the one-process run, then the runs on $ranks ranks (2 unless the caller says), each
# compared file for file. Every mpirun costs about a second here: 3 ranks only where it adds a case.
check() {
  local name=$1; shift
  local ranks=${ranks:-2}
  [ "${RECKON_SANITIZED:-0}" = 1 ] && ranks=2
  rm -rf "$tmp/one" "$tmp/r2" "$tmp/r3"
  if ! "$R" preprocess "$@" --output_path "$tmp/one" >"$tmp/one.log" 2>&1; then
    fail "$name: the one-process run failed: $(head -c 400 "$tmp/one.log")"
    return
  fi
  local n
  for n in $ranks; do
    if ! mpi "$n" "$R" preprocess "$@" --output_path "$tmp/r$n" >"$tmp/r$n.log" 2>&1; then
      fail "$name: $n ranks failed: $(head -c 600 "$tmp/r$n.log")"
      continue
    fi
    [ "$(json_num "$tmp/r$n/preprocess_report.json" ranks)" = "$n" ] || { fail "$name: the report does not say $n ranks"; continue; }
    same_tree "$tmp/one" "$tmp/r$n" && pass "$name: $n ranks give the one-process output byte for byte" \
      || fail "$name: $n ranks differ from one process"
    # the report's counts (rows per split, out-of-vocabulary and null ids) are summed over ranks
    [ "$(grep -E '_oov|_nulls|"(train|eval|predict|dropped_by_filters|rows_read)"' "$tmp/one/preprocess_report.json")" = \
      "$(grep -E '_oov|_nulls|"(train|eval|predict|dropped_by_filters|rows_read)"' "$tmp/r$n/preprocess_report.json")" ] \
      && pass "$name: $n ranks report the same counts" || fail "$name: $n ranks report other counts"
  done
}

# ---- identical output ----
ranks="2 3" check "CSV, frequency filters, random split, TE, median fill" --data_path "$tmp/d.csv" "${base[@]}" \
  --continuous_features_fillna median --min_item_freq 3 --min_user_freq 2 --max_user_freq 60 \
  --dataset_split_strategy random --random_split_eval_perc 0.2 --target_encoding_features cat,item \
  --target_encoding_targets label,score
check "CSV, filter query, random_by_user, casts, capping" --data_path "$tmp/d.csv" "${base[@]}" \
  --filter_query "price > 20 and label == 0 or age >= 40" --dataset_split_strategy random_by_user \
  --random_split_eval_perc 0.3 --to_int32 item --to_float32 price --categ_min_freq_capping 2 \
  --continuous_features_fillna 0
check "CSV with eval and predict inputs (new values in both)" --data_path "$tmp/d.csv" "${base[@]}" \
  --eval_data_path "$tmp/eval.csv" --test_data_path "$tmp/pred.csv" --min_item_freq 2
check "CSV, temporal split" --data_path "$tmp/d.csv" "${base[@]}" --timestamp_feature ts \
  --dataset_split_strategy temporal --dataset_split_temporal_timestamp 1600150000
check "Parquet file (9 row groups), filters and split" --input_data_format parquet --data_path "$tmp/d.parquet" \
  "${base[@]}" --min_item_freq 3 --dataset_split_strategy random --random_split_eval_perc 0.25 \
  --continuous_features_fillna median
ranks="2 3" check "Parquet folder of two files (10 row groups)" --input_data_format parquet --data_path "$tmp/pq" "${base[@]}" \
  --min_user_freq 2 --target_encoding_features cat --target_encoding_targets label

# A share with no rows: 2 data rows over 3 ranks, and a Parquet file of one row group over 2.
head -3 "$tmp/d.csv" > "$tmp/tiny.csv"
"$R" convert "$tmp/tiny.csv" "$tmp/tiny.parquet" >/dev/null 2>&1
ranks=3 check "CSV of 2 rows (a rank reads none)" --data_path "$tmp/tiny.csv" "${base[@]}"
check "Parquet of one row group (a rank reads none)" --input_data_format parquet --data_path "$tmp/tiny.parquet" "${base[@]}"

# More rows than one stage batch (131072): the first batch joins rank 0's rows to rank 1's, and
# the moments fitted per batch must still match.
awk 'BEGIN { srand(3); print "user,item,cat,price,age,label,score,ts";
  for (i = 0; i < 140000; i++) printf "u%d,%d,c%d,%.4f,%d,%d,%.3f,%d\n", int(rand() * 900), int(rand() * rand() * 3000),
    int(rand() * 20), rand() * 1000, int(rand() * 90), rand() < 0.5, rand(), i }' > "$tmp/big.csv"
check "140000 rows (two stage batches)" --data_path "$tmp/big.csv" "${base[@]}" \
  --dataset_split_strategy random --random_split_eval_perc 0.1 --continuous_features_fillna median

# ---- failures ----
# A value that does not fit int8 in the last row: in rank 1's share of 2.
{ cat "$tmp/d.csv"; echo "u1,5,a,1.0,300,1,0.5,1"; } > "$tmp/bad.csv"
mkdir -p "$tmp/keep" && echo old > "$tmp/keep/marker.txt"
out=$(mpi 2 "$R" preprocess --data_path "$tmp/bad.csv" "${base[@]}" --to_int8 age --output_path "$tmp/bad" 2>&1)
status=$?
[ "$status" != 0 ] && pass "a bad value in rank 1's share fails the run" || fail "a bad value in rank 1's share was accepted"
expect_contains "$out" "rank 1 of 2" "the message names the rank that failed"
expect_contains "$out" "does not fit int8" "the message gives rank 1's cause"
expect_contains "$out" "bad.csv (share 2 of 2)' row" "and names the share its row number counts in"
[ "$(printf '%s\n' "$out" | grep -c 'does not fit int8')" = 1 ] && pass "the error is printed once" \
  || fail "the error is printed $(printf '%s\n' "$out" | grep -c 'does not fit int8') times"
[ ! -e "$tmp/bad" ] && pass "a failed run leaves no output folder" || fail "a failed run left $(ls -A "$tmp/bad")"

out=$(ASAN_OPTIONS="$mpi_asan" mpirun --oversubscribe --allow-run-as-root -np 1 "$R" preprocess --data_path "$tmp/d.csv" "${base[@]}" \
        --output_path "$tmp/mm" : -np 1 "$R" preprocess --data_path "$tmp/d.csv" "${base[@]}" --min_item_freq 4 \
        --output_path "$tmp/mm" 2>&1)
status=$?
[ "$status" != 0 ] && pass "ranks with different flags are refused" || fail "ranks with different flags ran"
expect_contains "$out" "differ" "the message says the flags differ"

out=$(mpi 2 "$R" preprocess --data_path "$tmp/d.csv" "${base[@]}" --persist_intermediate_files --output_path "$tmp/p" 2>&1)
[ $? != 0 ] && pass "--persist_intermediate_files under mpirun is refused" || fail "--persist_intermediate_files ran under mpirun"
expect_contains "$out" "--persist_intermediate_files is for one process" "and says why"
gzip -c "$tmp/d.csv" > "$tmp/d.csv.gz"
out=$(mpi 2 "$R" preprocess --data_path "$tmp/d.csv.gz" "${base[@]}" --output_path "$tmp/gz" 2>&1)
[ $? != 0 ] && pass "a compressed CSV cannot be split" || fail "a compressed CSV was split"
expect_contains "$out" "compressed" "and the message says it is compressed"
finish
