#!/usr/bin/env bash
# `reckon synth`: byte-identical output for any thread count, compressed outputs, the sidecar,
# and errors that leave no half-written file behind.
set -u
source "$(dirname "$0")/lib.bash"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$RECKON_BIN" synth tenrec --rows 30000 --seed 7 --emit_truth --na_fraction 0.01 --threads 1 \
  --output "$tmp/t1.csv" >/dev/null
expect_status $? 0 "synth tenrec on one thread"
"$RECKON_BIN" synth tenrec --rows=30000 --seed=7 --emit_truth --na_fraction=0.01 --threads=2 \
  --output="$tmp/t2.csv" >/dev/null
expect_status $? 0 "synth tenrec on two threads"
cmp -s "$tmp/t1.csv" "$tmp/t2.csv" && pass "tenrec output is byte-identical for 1 and 2 threads" \
  || fail "tenrec output differs between 1 and 2 threads"
cmp -s "$tmp/t1.csv.json" "$tmp/t2.csv.json" && pass "tenrec sidecar is byte-identical for 1 and 2 threads" \
  || fail "tenrec sidecar differs between 1 and 2 threads"

header=$(head -n 1 "$tmp/t1.csv")
expect_contains "$header" "user_id,item_id,click,follow,like,share,video_category,watching_times,gender,age,p_click" \
  "tenrec has TenRec's columns, then the truth"
rows=$(($(wc -l < "$tmp/t1.csv") - 1))
expect_status "$rows" 30000 "tenrec writes --rows rows"
grep -q '\\N' "$tmp/t1.csv" && pass "na_fraction writes \\N cells" || fail "no \\N cell with --na_fraction 0.01"
expect_contains "$(cat "$tmp/t1.csv.json")" '"bayes_auc"' "the sidecar holds the Bayes-optimal AUC"

"$RECKON_BIN" synth tenrec --rows 30000 --seed 8 --output "$tmp/t3.csv" >/dev/null
cmp -s "$tmp/t1.csv" "$tmp/t3.csv" && fail "another seed gave the same data" || pass "another seed gives other data"

for ext in gz zst; do
  "$RECKON_BIN" synth tenrec --rows 30000 --seed 7 --emit_truth --na_fraction 0.01 --output "$tmp/t.csv.$ext" >/dev/null
  expect_status $? 0 "synth tenrec writes .csv.$ext"
  case $ext in gz) dec="gzip -dc" ;; zst) dec="zstd -qdc" ;; esac
  $dec "$tmp/t.csv.$ext" | cmp -s - "$tmp/t1.csv" && pass ".csv.$ext holds the same bytes" \
    || fail ".csv.$ext differs from the plain CSV"
done

"$RECKON_BIN" synth sessions --sessions 3000 --days 3 --seed 1 --threads 1 --output "$tmp/s1.csv" >/dev/null
"$RECKON_BIN" synth sessions --sessions 3000 --days 3 --seed 1 --threads 2 --output "$tmp/s2.csv" >/dev/null
cmp -s "$tmp/s1.csv" "$tmp/s2.csv" && pass "sessions output is byte-identical for 1 and 2 threads" \
  || fail "sessions output differs between 1 and 2 threads"
expect_contains "$(head -n 1 "$tmp/s1.csv")" "session_id,item_id,category,price,timestamp" "sessions columns"
expect_contains "$(cat "$tmp/s1.csv.json")" '"recall"' "the sessions sidecar holds the oracle recall"

for t in 1 2; do
  "$RECKON_BIN" synth outbrain --displays 2000 --seed 3 --emit_truth --row_group_rows 1000 --threads $t \
    --output "$tmp/ob$t" >/dev/null
  expect_status $? 0 "synth outbrain on $t thread(s)"
done
for f in train/part_0.parquet eval/part_0.parquet train/schema.pbtxt eval/.merlin/schema.json synth.json; do
  cmp -s "$tmp/ob1/$f" "$tmp/ob2/$f" && pass "outbrain $f is byte-identical for 1 and 2 threads" \
    || fail "outbrain $f differs between 1 and 2 threads"
done
out=$("$RECKON_BIN" inspect "$tmp/ob1/eval")
expect_contains "$out" "doc_event_entity_id      list<int64>" "outbrain's multi-hot columns are Parquet lists"
expect_contains "$out" "doc_ad_entity_id         int64[]  0..1300000     10000 x 64     categorical,list,item" \
  "the Merlin schema gives a list column its hash buckets, embedding size and tags"
expect_contains "$out" "event_hour               int64    0..5" "identity columns hold 0..size-1"
expect_contains "$(cat "$tmp/ob1/synth.json")" '"bayes_map12"' "the outbrain sidecar holds the best MAP@12"
out=$("$RECKON_BIN" synth outbrain --displays 300 --seed 3 --quiet --output "$tmp/ob1"); rc=$?
expect_status $rc 0 "synth outbrain replaces a folder it wrote"
expect_status "$out" "" "--quiet prints nothing"
mkdir -p "$tmp/mine" && echo keep > "$tmp/mine/notes.txt"
err=$("$RECKON_BIN" synth outbrain --displays 300 --output "$tmp/mine" 2>&1); rc=$?
expect_status $rc 2 "synth outbrain refuses a folder it did not write"
expect_contains "$err" "was not written by 'reckon synth outbrain'" "the error says why"
[ -f "$tmp/mine/notes.txt" ] && pass "the folder is left alone" || fail "the folder was touched"

err=$("$RECKON_BIN" synth tenrec --rows 10 2>&1); rc=$?
expect_status $rc 2 "synth without --output is a usage error"
expect_contains "$err" "needs --output" "the error says what is missing"
err=$("$RECKON_BIN" synth tenrec --rows ten --output "$tmp/x.csv" 2>&1); rc=$?
expect_status $rc 2 "a non-numeric --rows is a usage error"
expect_contains "$err" "invalid value 'ten' for --rows: expected an integer" "the error names flag and value"
err=$("$RECKON_BIN" synth tenrec --rows 10 --output "$tmp/no/such/dir/x.csv" 2>&1); rc=$?
expect_status $rc 1 "an unwritable output fails"
expect_contains "$err" "no/such/dir" "the error names the path"
ls "$tmp"/*.tmp* >/dev/null 2>&1 && fail "a temporary file was left behind" || pass "no temporary file is left behind"

"$RECKON_BIN" synth 2>/dev/null
expect_status $? 2 "'reckon synth' alone lists its kinds and is a usage error"
finish
