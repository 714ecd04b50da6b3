#!/usr/bin/env bash
# `reckon transform --workflow OUT/workflow IN OUT`: the workflow fitted by `reckon preprocess`
# applied to new data reproduces what preprocess wrote for the same rows (eval/ of an
# --eval_data_path run, predict/ of a --predict_data_path run), into a file or a folder with its
# schema; inputs without (some) targets, other formats, a moved workflow folder, and bad
# invocations.
set -u
source "$(dirname "$0")/lib.bash"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
R="$RECKON_BIN"
peers="$RECKON_SOURCE_DIR/build/peers/node_modules"
have_duckdb=0
[ -d "$peers/@duckdb/node-api" ] && have_duckdb=1
if [ $have_duckdb = 0 ]; then
  [ "${RECKON_REQUIRE_PEERS:-0}" = 1 ] && fail "DuckDB is missing and RECKON_REQUIRE_PEERS=1"
  echo "skipping the DuckDB checks: peer not installed"
fi
duck() { NODE_PATH="$peers" node "$RECKON_SOURCE_DIR/bench/peers/duckdb_query.js" "$@" | sed 's/.*"rows":\(.*\),"best_s".*/\1/'; }
# A Parquet file as CSV text (nulls empty).
as_csv() { "$R" convert "$1" "$tmp/as_csv.csv" >/dev/null && cat "$tmp/as_csv.csv"; }
same_csv() { [ "$(as_csv "$1")" = "$(as_csv "$2")" ]; }
rows=5000
[ "${RECKON_SANITIZED:-0}" = 1 ] && rows=2000
"$R" synth tenrec --rows $rows --seed 8 --na_fraction 0.03 --output "$tmp/f.csv" >/dev/null
awk 'BEGIN { FS = OFS = "," } NR == 1 { print $0, "rid"; next } { print $0, NR - 1 }' "$tmp/f.csv" > "$tmp/fr.csv"
n_a=$(( rows * 3 / 5 ))
head -n $((n_a + 1)) "$tmp/fr.csv" > "$tmp/a.csv"
(head -n 1 "$tmp/fr.csv"; tail -n +$((n_a + 2)) "$tmp/fr.csv") > "$tmp/b.csv"
cut -d, -f1,2,7,9- "$tmp/b.csv" > "$tmp/p.csv"   # user_id, item_id, video_category, gender, age, rid: no targets
flags=(--data_path "$tmp/a.csv" --csv_na_values '\N' --control_features rid
  --categorical_features user_id,item_id,gender,video_category --continuous_features age --continuous_features_fillna median
  --binary_classif_targets click --regression_targets watching_times --target_encoding_features item_id,gender
  --target_encoding_targets click --to_int32 user_id --to_int8 gender,click --to_int16 watching_times
  --user_id_feature user_id --item_id_feature item_id --min_user_freq 3 --output_num_partitions 1 --quiet)
"$R" preprocess "${flags[@]}" --output_path "$tmp/out" --eval_data_path "$tmp/b.csv" --predict_data_path "$tmp/p.csv" >/dev/null 2>&1
expect_status $? 0 "preprocess with eval and predict inputs"
wf="$tmp/out/workflow"

# ---- a control column is copied when present, not required (a served request has none) ----
cut -d, -f1,2,7,9,10 "$tmp/b.csv" > "$tmp/nocontrol.csv"   # user_id, item_id, video_category, gender, age
"$R" transform --quiet --workflow "$wf" --csv_na_values '\N' "$tmp/nocontrol.csv" "$tmp/nc.csv" >/dev/null 2>"$tmp/err"
expect_status $? 0 "transform of rows without the control column rid"
[ "$(head -n 1 "$tmp/nc.csv" | tr ',' '\n' | grep -c '^rid$')" = 0 ] && pass "the output leaves rid out" \
  || fail "rid in the output: $(head -n 1 "$tmp/nc.csv")"
cut -d, -f1,7,9,10 "$tmp/b.csv" > "$tmp/noitem.csv"
"$R" transform --quiet --workflow "$wf" --csv_na_values '\N' "$tmp/noitem.csv" "$tmp/ni.csv" >/dev/null 2>"$tmp/err"
expect_status $? 1 "a missing feature column is still an error"
expect_contains "$(cat "$tmp/err")" "needs column 'item_id'" "naming the feature"

# ---- eval: the same rows through the saved workflow ----
"$R" transform --quiet --workflow "$wf" --csv_na_values '\N' "$tmp/b.csv" "$tmp/tb.parquet" >/dev/null
expect_status $? 0 "transform the eval input into a .parquet file"
same_csv "$tmp/tb.parquet" "$tmp/out/eval/part_0.parquet" && pass "transform reproduces eval/ value for value, in order" \
  || fail "transform differs from eval/"
if [ $have_duckdb = 1 ]; then
  got=$(duck "SELECT (SELECT count(*) FROM (SELECT * FROM '$tmp/tb.parquet' EXCEPT ALL SELECT * FROM '$tmp/out/eval/*.parquet'))
    + (SELECT count(*) FROM (SELECT * FROM '$tmp/out/eval/*.parquet' EXCEPT ALL SELECT * FROM '$tmp/tb.parquet')),
    (SELECT count(*) FROM '$tmp/tb.parquet')")
  [ "$got" = "[[\"0\",\"$((rows - n_a))\"]]" ] && pass "DuckDB: transform output EXCEPT eval/ is empty both ways ($got)" \
    || fail "DuckDB finds rows in one but not the other: $got"
  b2=$(duck "DESCRIBE SELECT * FROM '$tmp/tb.parquet'" | grep -o '"[A-Za-z_]*","[A-Z]*"' | tr '\n' ' ')
  b3=$(duck "DESCRIBE SELECT * FROM '$tmp/out/eval/*.parquet'" | grep -o '"[A-Za-z_]*","[A-Z]*"' | tr '\n' ' ')
  [ -n "$b2" ] && [ "$b2" = "$b3" ] && pass "the same column names and types as eval/ ($(echo "$b2" | head -c 120)...)" \
    || fail "column types differ: $b2 vs $b3"
  # Unseen users and null genders, checked against the raw rows.
  got=$(duck "SELECT bool_and(CASE WHEN b.gender IS NULL THEN t.gender = 1 ELSE t.gender >= 3 END),
      count(*) FILTER (b.gender IS NULL) > 0,
      bool_and((t.user_id = 2) = (b.user_id NOT IN (SELECT user_id FROM '$wf/categories/unique.user_id.parquet' WHERE user_id IS NOT NULL))),
      count(*) FILTER (t.user_id = 2) > 0
    FROM '$tmp/tb.parquet' t JOIN read_csv('$tmp/b.csv', nullstr = '\N') b USING (rid)")
  expect_contains "$got" "[[true,true,true,true]]" "nulls map to 1 and values unseen in train to 2"
fi
"$R" transform --quiet --workflow "$wf" --csv_na_values '\N' "$tmp/b.csv" "$tmp/tb.csv" >/dev/null
[ "$(cat "$tmp/tb.csv")" = "$(as_csv "$tmp/tb.parquet")" ] && pass "a .csv output holds the same values" || fail "the CSV output differs"
"$R" transform --quiet --workflow "$wf" --csv_na_values '\N' "$tmp/b.csv" "$tmp/tbdir" >/dev/null
same_csv "$tmp/tbdir/part_0.parquet" "$tmp/out/eval/part_0.parquet" && pass "a folder output: part_0.parquet equals eval/" \
  || fail "the folder output differs from eval/"
cmp -s "$tmp/tbdir/schema.pbtxt" "$tmp/out/eval/schema.pbtxt" && cmp -s "$tmp/tbdir/.merlin/schema.json" "$tmp/out/eval/.merlin/schema.json" \
  && pass "a folder output gets schema.pbtxt and .merlin/schema.json, identical to eval/'s" || fail "the folder's schema files differ from eval/'s"
"$R" convert --csv_na_values '\N' "$tmp/b.csv" "$tmp/b.parquet" >/dev/null
"$R" transform --quiet --workflow "$wf" "$tmp/b.parquet" "$tmp/tbp.parquet" >/dev/null
same_csv "$tmp/tbp.parquet" "$tmp/out/eval/part_0.parquet" && pass "a Parquet input gives the same output" || fail "Parquet input differs"
tr , '\t' < "$tmp/b.csv" > "$tmp/b.tsv"
"$R" transform --quiet --workflow "$wf" --csv_na_values '\N' --csv_sep tab "$tmp/b.tsv" "$tmp/tbt.parquet" >/dev/null
same_csv "$tmp/tbt.parquet" "$tmp/out/eval/part_0.parquet" && pass "--csv_sep tab reads a TSV input" || fail "TSV input differs"
cp -r "$wf" "$tmp/moved_workflow"
"$R" transform --quiet --workflow "$tmp/moved_workflow" --csv_na_values '\N' "$tmp/b.csv" "$tmp/tbm.parquet" >/dev/null
same_csv "$tmp/tbm.parquet" "$tmp/out/eval/part_0.parquet" && pass "a copied workflow folder works the same (relative paths)" \
  || fail "a moved workflow gives another output"
"$R" transform --quiet --workflow "$wf" --csv_na_values '\N' --compression zstd "$tmp/b.csv" "$tmp/tbz.parquet" >/dev/null
expect_contains "$("$R" inspect --stats false "$tmp/tbz.parquet")" "codec zstd" "--compression zstd"
for t in 1 2; do
  "$R" transform --quiet --threads $t --workflow "$wf" --csv_na_values '\N' "$tmp/b.csv" "$tmp/tt$t.parquet" >/dev/null
done
cmp -s "$tmp/tt1.parquet" "$tmp/tt2.parquet" && pass "1 and 2 threads give byte-identical output" || fail "the output depends on --threads"

# ---- predict: no targets ----
"$R" transform --quiet --workflow "$wf" --csv_na_values '\N' "$tmp/p.csv" "$tmp/tp" >/dev/null
expect_status $? 0 "transform an input without targets"
same_csv "$tmp/tp/part_0.parquet" "$tmp/out/predict/part_0.parquet" && pass "it reproduces predict/" || fail "transform differs from predict/"
cmp -s "$tmp/tp/schema.pbtxt" "$tmp/out/predict/schema.pbtxt" && cmp -s "$tmp/tp/.merlin/schema.json" "$tmp/out/predict/.merlin/schema.json" \
  && pass "its schema files are predict/'s: no targets" || fail "the schema differs from predict/'s"
grep -q '"click"' "$tmp/tp/.merlin/schema.json" && fail "the schema lists a target the output lacks" || pass "the schema lists no target"
# Some targets: the output and its schema carry exactly those.
cut -d, -f1-3,7,9- "$tmp/b.csv" > "$tmp/click_only.csv"
"$R" transform --quiet --workflow "$wf" --csv_na_values '\N' "$tmp/click_only.csv" "$tmp/tc" >/dev/null
expect_contains "$(as_csv "$tmp/tc/part_0.parquet" | head -1)" "TE_gender_click,click" "an input with one of two targets keeps that one"
grep -q '"click"' "$tmp/tc/.merlin/schema.json" && ! grep -q '"watching_times"' "$tmp/tc/.merlin/schema.json" \
  && pass "and the schema lists exactly the columns written" || fail "the schema does not match the columns written"
head -n 1 "$tmp/b.csv" > "$tmp/empty.csv"
"$R" transform --quiet --workflow "$wf" "$tmp/empty.csv" "$tmp/te" >/dev/null
expect_status $? 0 "an input without rows"
[ "$(as_csv "$tmp/te/part_0.parquet")" = "$(as_csv "$tmp/out/eval/part_0.parquet" | head -n 1)" ] \
  && pass "gives the header of eval/ and no rows" || fail "the empty output has other columns: $(as_csv "$tmp/te/part_0.parquet")"

# ---- a string vocabulary read back from digits ----
printf 'u,c,y\n1,a,1\n2,1,0\n3,b,1\n3,a,0\n' > "$tmp/s_train.csv"
printf 'u,c,y\n1,1,1\n2,7,0\n' > "$tmp/s_new.csv"
"$R" preprocess --data_path "$tmp/s_train.csv" --output_path "$tmp/s" --categorical_features u,c --binary_classif_targets y \
  --output_num_partitions 1 --quiet >/dev/null 2>&1
"$R" transform --quiet --workflow "$tmp/s/workflow" "$tmp/s_new.csv" "$tmp/s_new_out.csv" >/dev/null 2>&1
expect_status $? 0 "a column of a string vocabulary that reads as numbers still transforms"
expect_contains "$(cat "$tmp/s_new_out.csv" 2>/dev/null)" $'u,c,y\n4,4,1\n5,2,0' "'1' finds its category (4), '7' is out of vocabulary (2)"
"$R" preprocess --data_path "$tmp/s_train.csv" --eval_data_path "$tmp/s_new.csv" --output_path "$tmp/s2" --categorical_features u,c \
  --binary_classif_targets y --output_num_partitions 1 --quiet >/dev/null 2>&1
expect_status $? 0 "the same as --eval_data_path of preprocess"
[ "$(as_csv "$tmp/s2/eval/part_0.parquet")" = "$(cat "$tmp/s_new_out.csv")" ] && pass "and gives the same ids" || fail "eval/ differs from transform"

# ---- bad invocations ----
cut -d, -f1,3- "$tmp/b.csv" > "$tmp/no_item.csv"
err=$("$R" transform --workflow "$wf" --csv_na_values '\N' "$tmp/no_item.csv" "$tmp/bad.parquet" 2>&1); rc=$?
expect_status $rc 1 "an input without a feature column fails"
expect_contains "$err" "'item_id'" "and names the column"
[ ! -e "$tmp/bad.parquet" ] && pass "and leaves no output file" || fail "a failed transform left its output file"
err=$("$R" transform --workflow "$wf" --csv_na_values '\N' "$tmp/no_item.csv" "$tmp/baddir" 2>&1); rc=$?
expect_status $rc 1 "the same into a folder fails"
[ ! -e "$tmp/baddir/part_0.parquet" ] && [ ! -e "$tmp/baddir/schema.pbtxt" ] && pass "and leaves no part or schema file" \
  || fail "a failed transform left files in its folder"
err=$("$R" transform "$tmp/b.csv" "$tmp/x.parquet" 2>&1); rc=$?
expect_status $rc 2 "--workflow is required"
err=$("$R" transform --workflow "$wf" "$tmp/b.csv" 2>&1); rc=$?
expect_status $rc 2 "transform needs an input and an output"
err=$("$R" transform --workflow "$tmp/nowhere" "$tmp/b.csv" "$tmp/x.parquet" 2>&1); rc=$?
expect_status $rc 1 "a missing workflow folder fails"
expect_contains "$err" "workflow.json" "and names what is missing"
printf '{"format": "something-else"}' > "$tmp/moved_workflow/workflow.json"
err=$("$R" transform --workflow "$tmp/moved_workflow" "$tmp/b.csv" "$tmp/x.parquet" 2>&1); rc=$?
expect_status $rc 1 "a workflow.json of another format fails"
expect_contains "$err" "not a reckon workflow" "and says so"
finish
