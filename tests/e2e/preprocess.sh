#!/usr/bin/env bash
# `reckon preprocess`: the quick-start's seed command verbatim, its output read back by DuckDB
# (row counts, id ranges, types, the split, vocabularies), determinism across threads, the cache,
# and every flag of docs/cli/preprocess.md on small inputs. Bad inputs fail with a clear message
# and leave the output folder as it was.
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
# The rows of a DuckDB answer, e.g. [["10","3"]] (BIGINTs print as strings).
duck() { NODE_PATH="$peers" node "$RECKON_SOURCE_DIR/bench/peers/duckdb_query.js" "$@" | sed 's/.*"rows":\(.*\),"best_s".*/\1/'; }
same_tree() {   # every output file but the report (timings) byte-identical
  local a=$1 b=$2 f
  for f in $(cd "$a" && find . -type f ! -name preprocess_report.json ! -path './_cache/*' | sort); do
    cmp -s "$a/$f" "$b/$f" || { echo "  differs: $f"; return 1; }
  done
  [ "$(cd "$a" && find . -type f ! -path './_cache/*' | wc -l)" = "$(cd "$b" && find . -type f ! -path './_cache/*' | wc -l)" ]
}
col() { awk -F, -v n="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == n) c = i } { print $c }' "$1" | tr '\n' ' '; }
rows=20000
[ "${RECKON_SANITIZED:-0}" = 1 ] && rows=8000
"$R" synth tenrec --rows $rows --seed 11 --na_fraction 0.02 --output "$tmp/qk.csv" >/dev/null
csv="$tmp/qk.csv"

seed_flags=(--input_data_format=csv --csv_na_values=\\N --output_path="$tmp/out/"
  --categorical_features=user_id,item_id,video_category,gender,age
  --binary_classif_targets=click,follow,like,share --regression_targets=watching_times
  --to_int32=user_id,item_id --to_int16=watching_times --to_int8=gender,age,video_category,click,follow,like,share
  --user_id_feature=user_id --item_id_feature=item_id --min_user_freq 5 --persist_intermediate_files
  --dataset_split_strategy=random --random_split_eval_perc=0.2)

# ---- the seed command ----
out=$("$R" preprocess "${seed_flags[@]}" --input_data_path "$csv" 2>&1); rc=$?
expect_status $rc 0 "the quick-start's seed command runs verbatim"
expect_contains "$out" "filter round 1:" "it reports the frequency filter"
for split in train eval; do
  n=$(ls "$tmp/out/$split"/part_*.parquet 2>/dev/null | wc -l)
  [ "$n" = 10 ] && pass "$split/ has part_0 .. part_9" || fail "$split/ has $n parts"
  [ -f "$tmp/out/$split/schema.pbtxt" ] && [ -f "$tmp/out/$split/.merlin/schema.json" ] \
    && pass "$split/ has schema.pbtxt and .merlin/schema.json" || fail "$split/ lacks its schema files"
done
[ -f "$tmp/out/workflow/workflow.json" ] && [ -f "$tmp/out/workflow/categories/unique.user_id.parquet" ] \
  && pass "the fitted workflow is saved with NVTabular's category files" || fail "workflow/ is incomplete"
[ -f "$tmp/out/preprocess_report.json" ] && pass "the report is written" || fail "no preprocess_report.json"
[ -z "$(ls -A "$tmp/out" | grep reckon-tmp)" ] && pass "no temporary folder is left" || fail "a .reckon-tmp folder is left"
[ -f "$tmp/out/_cache/01_data/manifest.json" ] && pass "--persist_intermediate_files keeps _cache/01_data" \
  || fail "no _cache/01_data with --persist_intermediate_files"

"$R" preprocess "${seed_flags[@]/$tmp\/out\//$tmp/out2/}" --data_path "$csv" >/dev/null 2>&1
same_tree "$tmp/out" "$tmp/out2" && pass "--data_path and --input_data_path are the same flag" \
  || fail "--data_path gives another output"

err=$("$R" preprocess "${seed_flags[@]}" --input_data_path "$csv" 2>&1 >/dev/null)
expect_contains "$err" "reusing" "a second run reuses the cached stage"
same_tree "$tmp/out" "$tmp/out2" && pass "the cached stage gives the same output" || fail "reusing the cache changed the output"

# ---- determinism ----
for t in 1 2; do
  "$R" preprocess "${seed_flags[@]/$tmp\/out\//$tmp/t$t/}" --input_data_path "$csv" --threads $t >/dev/null 2>&1
done
same_tree "$tmp/t1" "$tmp/t2" && pass "1 and 2 threads give byte-identical output" || fail "the output depends on the thread count"

# ---- DuckDB reads what reckon wrote ----
if [ $have_duckdb = 1 ]; then
  kept=$(duck "SELECT count(*) FROM read_csv('$csv', nullstr='\\N') WHERE user_id IN
    (SELECT user_id FROM read_csv('$csv', nullstr='\\N') GROUP BY user_id HAVING count(*) >= 5)")
  got=$(duck "SELECT (SELECT count(*) FROM '$tmp/out/train/*.parquet') + (SELECT count(*) FROM '$tmp/out/eval/*.parquet')")
  [ "$got" = "$kept" ] && pass "train + eval = the rows of users with at least 5 rows ($got)" \
    || fail "train + eval = $got, DuckDB says $kept"
  share=$(duck "SELECT round(100.0 * (SELECT count(*) FROM '$tmp/out/eval/*.parquet') / $(echo "$kept" | tr -dc 0-9))")
  case "$share" in '[[17]]'|'[[18]]'|'[[19]]'|'[[20]]'|'[[21]]'|'[[22]]'|'[[23]]') pass "eval holds about 20% ($share %)" ;;
    *) fail "eval holds $share % of the rows" ;; esac
  types=$(duck "SELECT typeof(user_id), typeof(item_id), typeof(gender), typeof(click), typeof(watching_times) FROM '$tmp/out/train/*.parquet' LIMIT 1")
  expect_contains "$types" '["INTEGER","INTEGER","TINYINT","TINYINT","SMALLINT"]' "ids and targets have the cast types"
  card=$(duck "SELECT count(*) FROM '$tmp/out/workflow/categories/unique.item_id.parquet'" | tr -dc 0-9)
  range=$(duck "SELECT min(item_id) >= 1, max(item_id) < $card, min(gender) >= 1 FROM read_parquet(['$tmp/out/train/*.parquet', '$tmp/out/eval/*.parquet'])")
  expect_contains "$range" "[[true,true,true]]" "ids lie in 1 .. cardinality - 1"
  nulls=$(duck "SELECT (SELECT count(*) FROM '$tmp/out/train/*.parquet' WHERE gender = 1) = (SELECT gender_size FROM '$tmp/out/workflow/categories/unique.gender.parquet' LIMIT 1 OFFSET 1)")
  expect_contains "$nulls" "[[true]]" "null genders map to id 1, counted in the category file"
  sizes=$(duck "SELECT bool_and(ok) FROM (SELECT u.item_id_size = coalesce(t.n, 0) AS ok FROM
    (SELECT row_number() OVER () - 1 AS id, item_id_size FROM '$tmp/out/workflow/categories/unique.item_id.parquet') u
    LEFT JOIN (SELECT item_id AS id, count(*) AS n FROM '$tmp/out/train/*.parquet' GROUP BY 1) t USING (id) WHERE u.id >= 3)")
  expect_contains "$sizes" "[[true]]" "the category file's sizes are the train counts of each id"
  order=$(duck "SELECT bool_and(s >= nxt) FROM (SELECT user_id_size AS s, lead(user_id_size) OVER (ORDER BY rn) AS nxt
    FROM (SELECT row_number() OVER () AS rn, user_id_size FROM '$tmp/out/workflow/categories/unique.user_id.parquet') WHERE rn > 3) WHERE nxt IS NOT NULL")
  expect_contains "$order" "[[true]]" "ids from 3 go by descending train frequency"
fi

# ---- the schema against Merlin's own TenRec schema ----
ref="$RECKON_SOURCE_DIR/tests/data/merlin/tenrec_video.schema.pbtxt"
names() { grep -o '^  name: "[^"]*"' "$1" | sort; }
[ "$(names "$tmp/out/train/schema.pbtxt")" = "$(names "$ref")" ] && pass "the schema has the columns of Merlin's TenRec schema" \
  || fail "the schema's columns differ from Merlin's"
for tag in user_id item_id categorical user item id target binary_classification regression; do
  grep -q "tag: \"$tag\"" "$tmp/out/train/schema.pbtxt" || { fail "the schema lacks tag $tag"; continue; }
done
pass "the schema carries Merlin's tags"
desc=$("$R" inspect --stats false "$tmp/out/train")
expect_contains "$desc" "user_id,categorical,user,id" "user_id is tagged as in Merlin's file"
expect_contains "$desc" "binary_classification,target" "binary targets are tagged"
expect_contains "$desc" "regression,target" "the regression target is tagged"
# Per column, the tags of Merlin's file (its video_category, gender and age carry user/item tags
# because Merlin's run named them user and item features; the seed command does not).
for c in user_id item_id click follow like share watching_times; do
  tags() { awk -v c="\"$c\"" '$1 == "name:" && $2 == c { on = 1; next } $1 == "name:" { on = 0 } on && $1 == "tag:" { print $2 }' "$1" | sort | tr '\n' ' '; }
  [ "$(tags "$tmp/out/train/schema.pbtxt")" = "$(tags "$ref")" ] || fail "column $c: tags $(tags "$tmp/out/train/schema.pbtxt")vs Merlin's $(tags "$ref")"
done
pass "user_id, item_id and the targets carry exactly the tags of Merlin's file"
grep -q 'cat_path' "$tmp/out/train/.merlin/schema.json" && grep -q 'embedding_sizes' "$tmp/out/train/.merlin/schema.json" \
  && grep -q 'freq_threshold' "$tmp/out/train/.merlin/schema.json" \
  && pass "categorical columns carry cat_path, embedding_sizes and freq_threshold" || fail "categorical properties are missing"

# ---- a small hand-made input where exact values matter ----
cat > "$tmp/h.csv" <<'EOF'
user,item,cat,num,ts,sess,ctl,click,rating
1,10,a,1.5,100,s1,x,1,2.5
1,11,b,,110,s1,y,0,3.0
2,10,a,3.5,120,s2,z,1,4.0
2,12,,0.5,130,s2,x,0,1.0
3,10,a,2.0,140,s3,y,1,5.0
3,11,b,,150,s3,z,0,2.0
EOF
h=(--data_path "$tmp/h.csv" --categorical_features user,item,cat --continuous_features num --control_features ctl
   --binary_classif_targets click --regression_targets rating --output_num_partitions 1 --quiet)
"$R" preprocess "${h[@]}" --output_path "$tmp/h1" --continuous_features_fillna 7 >/dev/null 2>&1
expect_status $? 0 "a split-less run with control, continuous and fill flags"
"$R" convert "$tmp/h1/train/part_0.parquet" "$tmp/h1.csv" >/dev/null
expect_contains "$(head -1 "$tmp/h1.csv")" "ctl,user,item,cat,num,click,rating" "columns come in order: control, categorical, continuous, targets"
expect_contains "$(col "$tmp/h1.csv" ctl)" "ctl x y z x y z" "--control_features are copied unchanged, rows in input order"
expect_contains "$(col "$tmp/h1.csv" click) $(col "$tmp/h1.csv" rating)" "click 1 0 1 0 1 0  rating 2.5 3 4 1 5 2 " "targets are written unchanged"
expect_contains "$(col "$tmp/h1.csv" cat)" "cat 3 4 3 1 3 4 " "categorify: the most frequent value gets 3, null gets 1"
expect_contains "$(col "$tmp/h1.csv" item)" "item 3 4 3 5 3 4 " "ties go by value: item 11 before 12"
mean=$(grep -o '"mean": [-0-9.e]*' "$tmp/h1/workflow/workflow.json" | head -1 | cut -d' ' -f2)
std=$(grep -o '"std": [-0-9.e]*' "$tmp/h1/workflow/workflow.json" | head -1 | cut -d' ' -f2)
want=$(awk -v m="$mean" -v s="$std" 'BEGIN { printf "%.4f", (7 - m) / s }')
got=$(col "$tmp/h1.csv" num | awk '{ printf "%.4f", $3 }')
[ "$want" = "$got" ] && pass "a null continuous value becomes (fill - mean) / std ($got)" || fail "filled value $got, expected $want"
awk -v m="$mean" 'BEGIN { exit !(m > 3.58 && m < 3.59) }' && pass "the mean includes the filled values (21.5 / 6)" || fail "mean $mean"
"$R" preprocess "${h[@]}" --output_path "$tmp/h2" --continuous_features_fillna median >/dev/null 2>&1
grep -q '"fill_value": 1.75' "$tmp/h2/workflow/workflow.json" && pass "--continuous_features_fillna median fills with the train median (1.75)" \
  || fail "the median fill is not 1.75"
"$R" preprocess "${h[@]}" --output_path "$tmp/h3" >/dev/null 2>&1
"$R" convert "$tmp/h3/train/part_0.parquet" "$tmp/h3.csv" >/dev/null
expect_contains "$(sed -n 3p "$tmp/h3.csv")" ",,0," "without a fill, a null continuous value stays null"

"$R" preprocess "${h[@]}" --output_path "$tmp/h4" --categ_min_freq_capping 2 >/dev/null 2>&1
"$R" convert "$tmp/h4/train/part_0.parquet" "$tmp/h4.csv" >/dev/null
expect_contains "$(col "$tmp/h4.csv" item)" "item 3 4 3 2 3 4 " "--categ_min_freq_capping maps rarer values to 2"

"$R" preprocess "${h[@]}" --output_path "$tmp/h5" --user_id_feature user --item_id_feature item --timestamp_feature ts \
  --session_id_feature sess --user_features cat --item_features num >/dev/null 2>&1
s=$("$R" inspect --stats false "$tmp/h5/train")
expect_contains "$s" "user_id,categorical,user,id" "--user_id_feature tags user_id, user, id"
expect_contains "$s" "item_id,categorical,item,id" "--item_id_feature tags item_id, item, id"
echo "$s" | grep -qE '^ +cat .* categorical,user$' && pass "--user_features tags user" || fail "--user_features did not tag cat"
expect_contains "$s" "continuous,item" "--item_features tags item"
expect_contains "$s" "time" "--timestamp_feature tags time"
expect_contains "$s" "session_id,session,id" "--session_id_feature tags session_id, session, id"

"$R" preprocess "${h[@]}" --output_path "$tmp/h6" --timestamp_feature ts --dataset_split_strategy temporal \
  --dataset_split_temporal_timestamp 130 >/dev/null 2>&1
"$R" convert "$tmp/h6/train/part_0.parquet" "$tmp/h6t.csv" >/dev/null; "$R" convert "$tmp/h6/eval/part_0.parquet" "$tmp/h6e.csv" >/dev/null
expect_contains "$(col "$tmp/h6t.csv" ts)" "ts 100 110 120 " "temporal: train has timestamps before T"
expect_contains "$(col "$tmp/h6e.csv" ts)" "ts 130 140 150 " "temporal: eval has timestamps from T on"

"$R" preprocess "${h[@]}" --output_path "$tmp/h7" --target_encoding_features item --target_encoding_targets click \
  --target_encoding_kfold 2 --target_encoding_smoothing 1 >/dev/null 2>&1
"$R" convert "$tmp/h7/train/part_0.parquet" "$tmp/h7.csv" >/dev/null
expect_contains "$(head -1 "$tmp/h7.csv")" "TE_item_click" "target encoding adds TE_<feature>_<target>"
grep -q '"prior": 0.5' "$tmp/h7/workflow/workflow.json" && pass "the target encoding's prior is the train mean" || fail "prior is not 0.5"
"$R" transform --quiet --workflow "$tmp/h7/workflow" "$tmp/h.csv" "$tmp/h7full.csv" >/dev/null
[ "$(col "$tmp/h7.csv" TE_item_click)" != "$(col "$tmp/h7full.csv" TE_item_click)" ] && pass "train rows get out-of-fold encodings" \
  || fail "train encodings equal the full-statistics ones"
expect_contains "$(col "$tmp/h7full.csv" TE_item_click)" "TE_item_click 0.875 " "serving encodings: (sum + prior * s) / (count + s) = (3 + 0.5) / (3 + 1) for item 10"

# ---- filters ----
"$R" synth tenrec --rows 5000 --seed 3 --output "$tmp/f.csv" >/dev/null
f=(--data_path "$tmp/f.csv" --categorical_features user_id,item_id --binary_classif_targets click,follow,like,share
   --user_id_feature user_id --item_id_feature item_id --output_num_partitions 1 --quiet)
"$R" preprocess "${f[@]}" --output_path "$tmp/f1" --min_user_freq 3 --max_user_freq 20 --min_item_freq 4 \
  --max_item_freq 60 --num_max_rounds_filtering 10 >/dev/null 2>&1
expect_status $? 0 "min and max user and item frequencies together"
if [ $have_duckdb = 1 ]; then
  b=$(duck "SELECT (SELECT min(n) >= 3 AND max(n) <= 20 FROM (SELECT count(*) n FROM '$tmp/f1/train/*.parquet' GROUP BY user_id)),
    (SELECT min(n) >= 4 AND max(n) <= 60 FROM (SELECT count(*) n FROM '$tmp/f1/train/*.parquet' GROUP BY item_id))")
  expect_contains "$b" "[[true,true]]" "after the rounds every user and item count lies within its bounds"
  "$R" preprocess "${f[@]}" --output_path "$tmp/fq" --filter_query "click==1 or (click==0 and follow==0 and like==0 and share==0)" >/dev/null 2>&1
  want=$(duck "SELECT count(*) FROM read_csv('$tmp/f.csv') WHERE click=1 OR (click=0 AND follow=0 AND \"like\"=0 AND \"share\"=0)")
  got=$(duck "SELECT count(*) FROM '$tmp/fq/train/*.parquet'")
  [ "$got" = "$want" ] && pass "--filter_query keeps the rows DuckDB's WHERE keeps ($got)" || fail "--filter_query kept $got, DuckDB $want"
  "$R" preprocess "${f[@]}" --output_path "$tmp/fu" --dataset_split_strategy random_by_user --random_split_eval_perc 0.25 >/dev/null 2>&1
  b=$(duck "SELECT bool_and(coalesce(e.n, 0) = floor(0.25 * (t.n + coalesce(e.n, 0)))) FROM
    (SELECT user_id, count(*) n FROM '$tmp/fu/train/*.parquet' GROUP BY 1) t
    LEFT JOIN (SELECT user_id, count(*) n FROM '$tmp/fu/eval/*.parquet' GROUP BY 1) e USING (user_id)")
  expect_contains "$b" "[[true]]" "random_by_user: each user has floor(p * n_u) eval rows"
fi
"$R" preprocess "${f[@]}" --output_path "$tmp/f2" --min_user_freq 3 --min_item_freq 4 --num_max_rounds_filtering 1 >/dev/null 2>&1
expect_contains "$(grep -c '"round"' "$tmp/f2/preprocess_report.json")" "1" "--num_max_rounds_filtering 1 stops after one round"
err=$("$R" preprocess "${f[@]}" --output_path "$tmp/f3" --filter_query "click = = 1" 2>&1); rc=$?
expect_status $rc 1 "a query that does not parse fails"
expect_contains "$err" "cannot parse --filter_query" "and says where"

# ---- splits, seeds, partitions, formats ----
g=(--data_path "$tmp/f.csv" --categorical_features user_id,item_id --binary_classif_targets click --quiet)
"$R" preprocess "${g[@]}" --output_path "$tmp/s1" --dataset_split_strategy random --random_split_eval_perc 0.3 --output_num_partitions 3 >/dev/null 2>&1
"$R" preprocess "${g[@]}" --output_path "$tmp/s2" --dataset_split_strategy random --random_split_eval_perc 0.3 --output_num_partitions 3 --random_seed 7 >/dev/null 2>&1
same_tree "$tmp/s1" "$tmp/s2" >/dev/null && fail "another --random_seed gives the same split" || pass "another --random_seed gives another split"
[ "$(ls "$tmp/s1/train" | grep -c parquet)" = 3 ] && pass "--output_num_partitions 3 writes 3 files" || fail "not 3 files"
if [ $have_duckdb = 1 ]; then
  b=$(duck "SELECT max(n) - min(n) <= 1 FROM (SELECT count(*) n FROM read_parquet('$tmp/s1/train/*.parquet', filename=true) GROUP BY filename)")
  expect_contains "$b" "[[true]]" "partitions differ by at most one row"
fi
printf 'user_id\titem_id\tclick\n' > "$tmp/t.tsv"; tail -n +2 "$tmp/f.csv" | cut -d, -f1-3 | tr , '\t' >> "$tmp/t.tsv"
cut -d, -f1-3 "$tmp/f.csv" > "$tmp/t3.csv"
"$R" preprocess "${g[@]/$tmp\/f.csv/$tmp/t3.csv}" --output_path "$tmp/c1" >/dev/null 2>&1
"$R" preprocess "${g[@]/$tmp\/f.csv/$tmp/t.tsv}" --output_path "$tmp/c2" --input_data_format tsv >/dev/null 2>&1
same_tree "$tmp/c1" "$tmp/c2" && pass "--input_data_format tsv reads tab-separated input" || fail "TSV input differs"
tr '\t' ';' < "$tmp/t.tsv" > "$tmp/t.ssv"
"$R" preprocess "${g[@]/$tmp\/f.csv/$tmp/t.ssv}" --output_path "$tmp/c3" --csv_sep ';' >/dev/null 2>&1
same_tree "$tmp/c1" "$tmp/c3" && pass "--csv_sep ';'" || fail "--csv_sep input differs"
"$R" convert "$tmp/t3.csv" "$tmp/t3.parquet" >/dev/null
"$R" preprocess "${g[@]/$tmp\/f.csv/$tmp/t3.parquet}" --output_path "$tmp/c4" --input_data_format parquet >/dev/null 2>&1
same_tree "$tmp/c1" "$tmp/c4" && pass "--input_data_format parquet gives the same output" || fail "Parquet input differs"
err=$("$R" preprocess "${g[@]/$tmp\/f.csv/$tmp/t3.parquet}" --output_path "$tmp/c5" 2>&1); rc=$?
expect_status $rc 2 "a Parquet file read as CSV is a usage error"
expect_contains "$err" "--input_data_format parquet" "and says which flag to use"
"$R" preprocess "${g[@]}" --output_path "$tmp/z" --compression zstd >/dev/null 2>&1
expect_contains "$("$R" inspect --stats false "$tmp/z/train")" "codec zstd" "--compression zstd"

# ---- eval and predict inputs, transform ----
head -3001 "$tmp/f.csv" > "$tmp/a.csv"; (head -1 "$tmp/f.csv"; tail -n +3002 "$tmp/f.csv") > "$tmp/b.csv"
cut -d, -f1,2,7- "$tmp/b.csv" > "$tmp/p.csv"
e=(--data_path "$tmp/a.csv" --categorical_features user_id,item_id,gender --continuous_features age --continuous_features_fillna median
   --binary_classif_targets click --target_encoding_features item_id --target_encoding_targets click
   --user_id_feature user_id --min_user_freq 2 --to_int8 gender --output_num_partitions 1 --quiet)
"$R" preprocess "${e[@]}" --output_path "$tmp/e" --eval_data_path "$tmp/b.csv" --predict_data_path "$tmp/p.csv" >/dev/null 2>&1
expect_status $? 0 "--eval_data_path and --predict_data_path"
[ "$(grep -o '"eval": [0-9][0-9]*' "$tmp/e/preprocess_report.json")" = '"eval": 2000' ] && pass "eval data is not frequency-filtered" \
  || fail "eval rows: $(grep -o '"eval": [0-9][0-9]*' "$tmp/e/preprocess_report.json")"
grep -q '"click"' "$tmp/e/predict/.merlin/schema.json" && fail "predict/'s schema lists the target" || pass "predict/'s schema has no targets"
"$R" transform --quiet --workflow "$tmp/e/workflow" "$tmp/b.csv" "$tmp/tb.parquet" >/dev/null
"$R" convert "$tmp/tb.parquet" "$tmp/tb.csv" >/dev/null; "$R" convert "$tmp/e/eval/part_0.parquet" "$tmp/eb.csv" >/dev/null
cmp -s "$tmp/tb.csv" "$tmp/eb.csv" && pass "reckon transform reproduces eval/ exactly" || fail "transform differs from eval/"
"$R" transform --quiet --workflow "$tmp/e/workflow" "$tmp/p.csv" "$tmp/tp" >/dev/null
"$R" convert "$tmp/tp/part_0.parquet" "$tmp/tp.csv" >/dev/null; "$R" convert "$tmp/e/predict/part_0.parquet" "$tmp/ep.csv" >/dev/null
cmp -s "$tmp/tp.csv" "$tmp/ep.csv" && pass "reckon transform reproduces predict/ from data without targets" || fail "transform differs from predict/"
[ -f "$tmp/tp/.merlin/schema.json" ] && pass "transform into a folder writes the schema" || fail "no schema in the transform folder"
err=$("$R" preprocess "${e[@]}" --output_path "$tmp/e2" --eval_data_path "$tmp/b.csv" --dataset_split_strategy random --random_split_eval_perc 0.2 2>&1); rc=$?
expect_status $rc 2 "--eval_data_path with a split strategy is a usage error"
expect_contains "$err" "cannot be combined" "and says why"

# ---- bad input leaves the output as it was ----
cp -r "$tmp/h1" "$tmp/h1.before"
err=$("$R" preprocess "${h[@]}" --output_path "$tmp/h1" --to_int8 num 2>&1); rc=$?
expect_status $rc 1 "a float that is not whole cannot become int8"
expect_contains "$err" "row 1, column 'num'" "the error names the row and column"
err=$("$R" preprocess "${h[@]/user,item,cat/user,item,cat,nope}" --output_path "$tmp/h1" 2>&1); rc=$?
expect_status $rc 1 "a missing column fails"
expect_contains "$err" "--categorical_features names column 'nope'" "the error names the flag and the column"
printf 'user,item,cat,num,ts,sess,ctl,click,rating\n1,10,a,1.5,100,s1,x,1,2.5\n300,11,b,2,110,s1,y,0,3.0\n' > "$tmp/big.csv"
err=$("$R" preprocess "${h[@]/$tmp\/h.csv/$tmp/big.csv}" --output_path "$tmp/h1" --to_int8 user 2>&1); rc=$?
expect_status $rc 1 "a value too large for its cast fails"
expect_contains "$err" "value '300'" "the error quotes the value"
expect_contains "$err" "row 2, column 'user' does not fit int8" "and names the row, column and type"
same_tree "$tmp/h1" "$tmp/h1.before" && pass "failed runs leave the previous output intact" || fail "a failed run changed the output"
[ -z "$(ls -A "$tmp/h1" | grep reckon-tmp)" ] && pass "failed runs leave no temporary folder" || fail "a temporary folder is left"

# ---- the flags' surface ----
out=$("$R" preprocess "${h[@]}" --output_path "$tmp/g1" --enable_dask_cuda_cluster --dask_cuda_visible_gpu_devices 0,1 \
  --dask_cuda_gpu_device_spill_frac 0.7 2>&1); rc=$?
expect_status $rc 0 "the reference's GPU flags are accepted"
expect_contains "$out" "--enable_dask_cuda_cluster has no effect" "and say they have no effect"
printf 'data_path: %s\noutput_path: %s\ncategorical_features: user,item,cat\nbinary_classif_targets: click\noutput_num_partitions: 1\n' \
  "$tmp/h.csv" "$tmp/y1" > "$tmp/run.yaml"
"$R" preprocess --config "$tmp/run.yaml" --quiet >/dev/null 2>&1
expect_status $? 0 "--config reads the flags from YAML"
[ -f "$tmp/y1/train/part_0.parquet" ] && pass "the YAML run writes its output" || fail "the YAML run wrote nothing"
help=$("$R" preprocess --help)
for flag in data_path input_data_path eval_data_path predict_data_path input_data_format csv_sep csv_na_values output_path \
  output_num_partitions persist_intermediate_files control_features categorical_features continuous_features \
  continuous_features_fillna user_features item_features user_id_feature item_id_feature timestamp_feature \
  session_id_feature binary_classif_targets regression_targets target_encoding_features target_encoding_targets \
  target_encoding_kfold target_encoding_smoothing to_int32 to_int16 to_int8 to_float32 categ_min_freq_capping \
  min_user_freq max_user_freq min_item_freq max_item_freq num_max_rounds_filtering filter_query dataset_split_strategy \
  random_split_eval_perc dataset_split_temporal_timestamp random_seed enable_dask_cuda_cluster; do
  case "$help" in *"--$flag"*) ;; *) fail "--help lacks --$flag" ;; esac
done
pass "--help lists every flag of the reference"
finish
