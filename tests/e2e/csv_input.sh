#!/usr/bin/env bash
# CSV input that used to be read wrongly, through `reckon convert` and `reckon preprocess` (the
# reproductions of issue 15, items 15 and 16): bare-CR line ends, invalid UTF-8, duplicated and
# NUL-holding header names, non-finite numbers and casts that overflow. Each is read correctly or
# refused with a message naming file, row and column; nothing unreadable is written; fitted
# statistics are never NaN, and a workflow holding one is refused.
set -u
source "$(dirname "$0")/lib.bash"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
R="$RECKON_BIN"
peers="$RECKON_SOURCE_DIR/build/peers/node_modules"
have_duckdb=0
[ -d "$peers/@duckdb/node-api" ] && have_duckdb=1
duck() { NODE_PATH="$peers" node "$RECKON_SOURCE_DIR/bench/peers/duckdb_query.js" "$@" | sed 's/.*"rows":\(.*\),"best_s".*/\1/'; }
pp=(--categorical_features user --continuous_features num --binary_classif_targets click --output_num_partitions 1 --quiet)

# ---- bare CR line ends: every row read, as DuckDB reads them ----
printf 'user,num,click\r1,0.5,1\r2,1.5,0\r3,"x\ry",1\r' > "$tmp/cr_only.csv"
printf 'user,num,click\r1,0.5,1\r2,1.5,0\r3,2.5,1\r' > "$tmp/cr.csv"
out=$("$R" convert "$tmp/cr.csv" "$tmp/cr.parquet" 2>&1)
expect_contains "$out" "converted 3 rows" "convert reads a bare-CR file's 3 rows (it read 0)"
"$R" convert "$tmp/cr_only.csv" "$tmp/cr2.csv" >/dev/null 2>&1
expect_contains "$(od -c "$tmp/cr2.csv" | tr -s ' ')" '" x \r y "' "a CR inside quotes stays data"
"$R" preprocess "${pp[@]}" --data_path "$tmp/cr.csv" --output_path "$tmp/cr_out" >/dev/null 2>&1
expect_status $? 0 "preprocess reads a bare-CR file"
"$R" convert "$tmp/cr_out/train/part_0.parquet" "$tmp/cr_train.csv" >/dev/null 2>&1
expect_status "$(wc -l < "$tmp/cr_train.csv")" 4 "preprocess writes the bare-CR file's 3 rows"

# ---- invalid UTF-8: refused with row and column, or replaced; never written to Parquet ----
printf 'user,name,num,click\n1,ok,0.5,1\n2,caf\xe9,1.5,0\n' > "$tmp/latin1.csv"
out=$("$R" convert "$tmp/latin1.csv" "$tmp/latin1.parquet" 2>&1)
expect_status $? 1 "convert refuses invalid UTF-8"
expect_contains "$out" "invalid UTF-8 in '$tmp/latin1.csv' row 2, column 'name': byte 0xe9 at offset 3" "the message names file, row, column and byte"
[ ! -e "$tmp/latin1.parquet" ] && pass "no Parquet file is written" || fail "a Parquet file was written"
"$R" convert --csv_invalid_utf8 replace "$tmp/latin1.csv" "$tmp/latin1.parquet" >/dev/null 2>&1
expect_status $? 0 "--csv_invalid_utf8 replace converts"
if [ $have_duckdb = 1 ]; then
  expect_contains "$(duck "select name from '$tmp/latin1.parquet' where user = 2")" '["caf�"]' "DuckDB reads the replaced value as caf U+FFFD"
fi
out=$("$R" preprocess "${pp[@]}" --categorical_features name --data_path "$tmp/latin1.csv" --output_path "$tmp/l_out" 2>&1)
expect_contains "$out" "invalid UTF-8 in '$tmp/latin1.csv' row 2, column 'name'" "preprocess refuses it the same way"

# ---- header names: a duplicate and a NUL are refused by the reader, so both commands agree ----
printf 'user,num,click,num\n1,0.5,1,9\n2,1.5,0,8\n' > "$tmp/dup.csv"
out=$("$R" convert "$tmp/dup.csv" "$tmp/dup.parquet" 2>&1)
expect_contains "$out" "duplicate column name 'num' in '$tmp/dup.csv': columns 2 and 4" "convert names both positions of a duplicate"
out=$("$R" preprocess "${pp[@]}" --data_path "$tmp/dup.csv" --output_path "$tmp/dup_out" 2>&1)
expect_contains "$out" "duplicate column name 'num' in '$tmp/dup.csv': columns 2 and 4" "preprocess refuses it too (it took the last)"
printf 'user,nu\0m,click\n1,0.5,1\n' > "$tmp/nul.csv"
out=$("$R" convert "$tmp/nul.csv" "$tmp/nul.parquet" 2>&1)
expect_contains "$out" "NUL byte in the header of '$tmp/nul.csv', column 2, after 'nu'" "a NUL in the header is refused (it cut the name)"

# ---- non-finite numbers: an error naming row and column, or missing with --non_finite ----
printf 'user,num,click\n1,0.5,1\n2,inf,0\n3,1.5,1\n4,2.5,0\n' > "$tmp/inf.csv"
printf 'user,num,click\n1,0.5,1\n2,1e400,0\n3,1.5,1\n4,2.5,0\n' > "$tmp/big.csv"
printf 'user,num,click\n1,0.5,1\n2,1e300,0\n3,1.5,1\n4,2.5,0\n' > "$tmp/f32.csv"
for f in inf big; do
  v=$([ $f = inf ] && echo inf || echo 1e400)
  out=$("$R" preprocess "${pp[@]}" --data_path "$tmp/$f.csv" --output_path "$tmp/${f}_out" 2>&1)
  expect_contains "$out" "value '$v' is not a finite float64 in '$tmp/$f.csv' row 2, column 'num'" "preprocess refuses $v, naming row and column"
  out=$("$R" convert "$tmp/$f.csv" "$tmp/$f.parquet" 2>&1)
  expect_contains "$out" "value '$v' is not a finite float64" "convert refuses $v"
done
out=$("$R" preprocess "${pp[@]}" --data_path "$tmp/f32.csv" --to_float32 num --output_path "$tmp/f32_out" 2>&1)
expect_contains "$out" "value '1e+300' in '$tmp/f32.csv' row 2, column 'num' does not fit float32" "--to_float32 of 1e300 is refused, naming row and column"
"$R" preprocess "${pp[@]}" --data_path "$tmp/f32.csv" --to_float32 num --non_finite as_missing --output_path "$tmp/f32_out" >/dev/null 2>&1
expect_status $? 0 "--non_finite as_missing: the overflowing cast becomes a missing value"
"$R" preprocess "${pp[@]}" --data_path "$tmp/inf.csv" --non_finite as_missing --output_path "$tmp/inf_out" >/dev/null 2>&1
expect_status $? 0 "--non_finite as_missing: inf becomes a missing value"
wf="$tmp/inf_out/workflow/workflow.json"
grep -q '"mean": null\|"std": null' "$wf" && fail "the workflow holds a null statistic" || pass "the fitted mean and std are numbers"
expect_contains "$(tr -d ' \n' < "$wf")" '"mean":1.5' "the mean is that of the finite values (0.5, 1.5, 2.5)"
"$R" convert "$tmp/inf_out/train/part_0.parquet" "$tmp/inf_train.csv" >/dev/null 2>&1
grep -qi 'nan' "$tmp/inf_train.csv" && fail "the normalised column holds NaN" || pass "no NaN in the normalised column"

# ---- a workflow whose statistics are not numbers is refused, not applied as raw values ----
cp -r "$tmp/inf_out/workflow" "$tmp/wf_bad"
sed -i 's/"mean": [-0-9.e+]*/"mean": null/' "$tmp/wf_bad/workflow.json"
printf 'user,num,click\n1,0.5,1\n' > "$tmp/one.csv"
out=$("$R" transform --quiet --workflow "$tmp/wf_bad" "$tmp/one.csv" "$tmp/one.parquet" 2>&1)
expect_contains "$out" "column 'num' has a mean, std or fill value that is missing or not a finite number" "transform refuses a workflow with a null mean"
# ---- a Parquet input with inf: the same refusal, by the cast every preprocess value passes ----
if [ $have_duckdb = 1 ]; then
  duck "copy (select i as user, case when i = 3 then 'inf'::double else i * 0.5 end as num, i % 2 as click from range(1, 5) t(i)) to '$tmp/inf.parquet'" >/dev/null
  out=$("$R" preprocess "${pp[@]}" --input_data_format parquet --data_path "$tmp/inf.parquet" --output_path "$tmp/pinf_out" 2>&1)
  expect_contains "$out" "value 'inf' in '$tmp/inf.parquet' row 3, column 'num' is not a finite float64" "preprocess refuses an inf in a Parquet input, naming row and column"
  out=$("$R" transform --quiet --workflow "$tmp/inf_out/workflow" "$tmp/inf.parquet" "$tmp/tinf.parquet" 2>&1)
  expect_contains "$out" "input rows 1 to 4: value 'inf' in batch row 3, column 'num' is not a finite number" "transform refuses an inf it cannot normalise"
fi

# ---- statistics that would overflow float64 are an error, not a NaN in the workflow ----
printf 'user,num,click\n1,1e308,1\n2,-1e308,0\n3,1e308,1\n' > "$tmp/huge.csv"
out=$("$R" preprocess "${pp[@]}" --data_path "$tmp/huge.csv" --output_path "$tmp/huge_out" 2>&1)
expect_contains "$out" "cannot normalise continuous column 'num': its train mean or standard deviation overflows float64" "statistics that overflow are refused"

# ---- a continuous column without train values: finite statistics and a warning ----
printf 'user,num,click\n1,,1\n2,,0\n' > "$tmp/empty.csv"
out=$("$R" preprocess --categorical_features user --continuous_features num --to_float32 num --binary_classif_targets click --output_num_partitions 1 --data_path "$tmp/empty.csv" --output_path "$tmp/empty_out" 2>&1)
expect_contains "$out" "continuous column 'num' has no values in the train rows" "an all-missing continuous column is warned about"
expect_contains "$(tr -d ' \n' < "$tmp/empty_out/workflow/workflow.json")" '"mean":0.0,"std":1.0' "and gets mean 0 and std 1, not null"

# ---- list columns to CSV as DuckDB writes them, and back ----
printf 'id,ints,tags\n1,"[1, 2, 3]","[a, '"'"'b, c'"'"', '"'"'it\\'"'"'s'"'"']"\n2,[],[x]\n3,,['"'"''"'"']\n' > "$tmp/lists.csv"
out=$("$R" convert "$tmp/lists.csv" "$tmp/lists_str.parquet" 2>&1)
expect_status $? 0 "without --csv_list_columns, list text stays a string column"
"$R" convert --csv_list_columns ints,tags "$tmp/lists.csv" "$tmp/lists.parquet" >/dev/null 2>&1
expect_status $? 0 "--csv_list_columns reads DuckDB's list text as lists"
expect_contains "$("$R" inspect "$tmp/lists.parquet" 2>&1)" "list<int64>" "the element type is inferred (int64)"
"$R" convert "$tmp/lists.parquet" "$tmp/lists_back.csv" >/dev/null 2>&1
expect_status $? 0 "convert writes list columns to CSV (it refused)"
cmp -s "$tmp/lists.csv" "$tmp/lists_back.csv" && pass "CSV -> Parquet -> CSV gives the same text" || fail "the round trip changed the text: $(cat "$tmp/lists_back.csv")"
if [ $have_duckdb = 1 ]; then
  expect_contains "$(duck "select len(ints), tags[2], tags[3] from read_csv('$tmp/lists_back.csv', columns={'id': 'BIGINT', 'ints': 'BIGINT[]', 'tags': 'VARCHAR[]'}) where id = 1")" '[["3","b, c","it'"'"'s"]]' "DuckDB reads reckon's list text as lists"
fi
finish
