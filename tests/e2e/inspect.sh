#!/usr/bin/env bash
# `reckon inspect`: Parquet layout and stored statistics, CSV columns, column profiles that agree
# with the data, Merlin schemas alone or beside the data, JSON output, and clear errors.
set -u
source "$(dirname "$0")/lib.bash"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$RECKON_BIN" synth tenrec --rows 20000 --seed 5 --na_fraction 0.05 --output "$tmp/t.parquet" >/dev/null
expect_status $? 0 "synth writes Parquet directly"
out=$("$RECKON_BIN" inspect "$tmp/t.parquet")
expect_status $? 0 "inspect reads a Parquet file"
expect_contains "$out" "20000 rows in 1 row groups" "inspect shows rows and row groups"
expect_contains "$out" "codec snappy" "inspect shows the codec"
expect_contains "$out" "created by reckon version" "inspect shows created_by"
expect_contains "$out" "RLE_DICTIONARY" "inspect shows the encodings"
expect_contains "$out" "click                             0              0              1" \
  "the profile shows nulls, min and max"

json=$("$RECKON_BIN" inspect --json "$tmp/t.parquet")
nulls=$(printf '%s' "$json" | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print([c["nulls"] for c in d["profile"] if c["name"]=="gender"][0], d["files"][0]["row_groups"][0]["columns"][8]["null_count"])')
"$RECKON_BIN" convert "$tmp/t.parquet" "$tmp/t.csv" >/dev/null
want=$(awk -F, 'NR > 1 && $9 == "" { n++ } END { print n " " n }' "$tmp/t.csv")
expect_status "$nulls" "$want" "profile and stored statistics count gender's nulls as the data has them"

out=$("$RECKON_BIN" inspect "$tmp/t.csv" --columns user_id,click)
expect_contains "$out" "csv, 20000 rows" "inspect reads a CSV file"
expect_contains "$out" "user_id                  int64" "CSV columns show their inferred types"

cp "$RECKON_SOURCE_DIR/tests/data/merlin/tenrec_video.schema.pbtxt" "$tmp/schema.pbtxt"
out=$("$RECKON_BIN" inspect "$tmp/schema.pbtxt")
expect_contains "$out" "2633851 x 512" "a Merlin schema shows embedding sizes"
expect_contains "$out" "user_id,categorical,user,id" "a Merlin schema shows tags"
mkdir -p "$tmp/ds" && cp "$tmp/t.parquet" "$tmp/ds/part_0.parquet" && cp "$tmp/t.parquet" "$tmp/ds/part_1.parquet" \
  && cp "$tmp/schema.pbtxt" "$tmp/ds/"
out=$("$RECKON_BIN" inspect --stats false "$tmp/ds")
expect_contains "$out" "parquet, 40000 rows" "a folder of parts reads as one dataset"
expect_contains "$out" "Merlin schema" "a dataset's schema is shown beside it"

err=$("$RECKON_BIN" inspect "$tmp/none.parquet" 2>&1); rc=$?
expect_status $rc 1 "a missing file fails"
expect_contains "$err" "none.parquet" "the error names the file"
head -c 1000 "$tmp/t.parquet" > "$tmp/cut.parquet"
err=$("$RECKON_BIN" inspect "$tmp/cut.parquet" 2>&1); rc=$?
expect_status $rc 1 "a truncated Parquet file fails cleanly"
expect_contains "$err" "cut.parquet" "the error names the file"
finish
