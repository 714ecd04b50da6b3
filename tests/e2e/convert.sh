#!/usr/bin/env bash
# `reckon convert`: CSV -> Parquet -> CSV gives back the same bytes, DuckDB reads what reckon
# wrote, projection keeps the asked columns, and a bad input leaves no output file behind.
set -u
source "$(dirname "$0")/lib.bash"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$RECKON_BIN" synth tenrec --rows 20000 --seed 3 --na_fraction 0.02 --output "$tmp/t.csv" >/dev/null
"$RECKON_BIN" convert --csv_na_values '\N' "$tmp/t.csv" "$tmp/t.parquet" >/dev/null
expect_status $? 0 "CSV converts to Parquet"
"$RECKON_BIN" convert --csv_na_values '\N' "$tmp/t.parquet" "$tmp/back.csv" >/dev/null
expect_status $? 0 "Parquet converts to CSV"
cmp -s "$tmp/t.csv" "$tmp/back.csv" && pass "CSV -> Parquet -> CSV is the identity" \
  || fail "CSV -> Parquet -> CSV changed the data"

for codec in zstd gzip uncompressed; do
  "$RECKON_BIN" convert --csv_na_values '\N' --compression $codec --row_group_size 7000 "$tmp/t.csv" "$tmp/t.$codec.parquet" >/dev/null
  "$RECKON_BIN" convert --csv_na_values '\N' "$tmp/t.$codec.parquet" "$tmp/back.$codec.csv" >/dev/null
  cmp -s "$tmp/t.csv" "$tmp/back.$codec.csv" && pass "round trip through $codec with 7000-row groups" \
    || fail "round trip through $codec changed the data"
done

gzip -c "$tmp/t.csv" > "$tmp/t.csv.gz"
"$RECKON_BIN" convert --csv_na_values '\N' --columns item_id,click "$tmp/t.csv.gz" "$tmp/p.csv" >/dev/null
expect_status $? 0 "a gzip CSV converts with a projection"
expect_contains "$(head -n 1 "$tmp/p.csv")" "item_id,click" "the projection keeps the asked columns in order"
cut -d, -f2,3 "$tmp/t.csv" | cmp -s - "$tmp/p.csv" && pass "projected values are the input's" \
  || fail "projected values differ from the input"

peer="$RECKON_SOURCE_DIR/build/peers/node_modules/@duckdb/node-api"
if [ -d "$peer" ]; then
  got=$(NODE_PATH="$RECKON_SOURCE_DIR/build/peers/node_modules" node "$RECKON_SOURCE_DIR/bench/peers/duckdb_query.js" \
    "SELECT count(*), sum(click), count(gender), sum(user_id) FROM '$tmp/t.parquet'")
  want=$(awk -F, 'NR > 1 { n++; c += $3; if ($9 != "\\N") g++; u += $1 } END { printf "[\"%d\",\"%d\",\"%d\",\"%d\"]", n, c, g, u }' "$tmp/t.csv")
  expect_contains "$got" "$want" "DuckDB reads reckon's Parquet with the same counts and sums"
elif [ "${RECKON_REQUIRE_PEERS:-0}" = 1 ]; then
  fail "DuckDB is missing and RECKON_REQUIRE_PEERS=1"
else
  echo "skipping the DuckDB check: peer not installed"
fi

printf 'a,b\n1,2\n3,4,5\n' > "$tmp/bad.csv"
err=$("$RECKON_BIN" convert "$tmp/bad.csv" "$tmp/bad.parquet" 2>&1); rc=$?
expect_status $rc 1 "a ragged row fails the conversion"
expect_contains "$err" "bad.csv' row 2" "the error names the file and row"
[ ! -e "$tmp/bad.parquet" ] && pass "no output file after a failure" || fail "a half file was left at the output path"
ls "$tmp" | grep -q tmp && fail "a temporary file was left behind" || pass "no temporary file left behind"

err=$("$RECKON_BIN" convert "$tmp/t.csv" 2>&1); rc=$?
expect_status $rc 2 "convert needs two paths"
err=$("$RECKON_BIN" convert "$tmp/t.csv" "$tmp/t.xlsx" 2>&1); rc=$?
expect_status $rc 1 "an unknown output format fails"
expect_contains "$err" "unknown table format" "and says so"
finish
