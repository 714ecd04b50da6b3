#!/usr/bin/env bash
# `reckon preprocess` against docs/preprocess.md: the quick-start's seed command verbatim, its
# output read back by DuckDB and checked row by row against the CSV it came from (a copy of the
# input with a row key `rid`, passed as a control feature, ties every output row to its input
# row), the schema against Merlin's own TenRec schema, determinism across threads, the cache, and
# every flag of docs/cli/preprocess.md on small inputs. Bad inputs fail with a clear message and
# leave the output folder as it was. `reckon transform` has its own script (transform.sh).
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

# ---- helpers ----
# The rows of a DuckDB answer, e.g. [["10","3"]] (BIGINTs print as strings).
duck() { NODE_PATH="$peers" node "$RECKON_SOURCE_DIR/bench/peers/duckdb_query.js" "$@" | sed 's/.*"rows":\(.*\),"best_s".*/\1/'; }
# The statements of a --script file end with ';' at the end of a line.
# Every output file byte-identical, but the report (timings), the cache and the markers (run ids).
same_tree() {
  local a=$1 b=$2 f
  for f in $(cd "$a" && find . -type f ! -name preprocess_report.json ! -name .reckon-output ! -path './_cache/*' | sort); do
    cmp -s "$a/$f" "$b/$f" || { echo "  differs: $f"; return 1; }
  done
  [ "$(cd "$a" && find . -type f ! -path './_cache/*' | wc -l)" = "$(cd "$b" && find . -type f ! -path './_cache/*' | wc -l)" ]
}
# Every file and folder identical, the report and the cache too (a failed run must touch nothing).
same_all() {
  [ "$(cd "$1" && find . | sort)" = "$(cd "$2" && find . | sort)" ] || { echo "  the file lists differ"; return 1; }
  local f
  for f in $(cd "$1" && find . -type f); do cmp -s "$1/$f" "$2/$f" || { echo "  differs: $f"; return 1; }; done
}
# Column n of a CSV file as one line: "name v1 v2 ...".
col() { awk -F, -v n="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == n) c = i } { print $c }' "$1" | tr '\n' ' '; }
# A Parquet file as CSV text.
as_csv() { "$R" convert "$1" "$tmp/as_csv.csv" >/dev/null && cat "$tmp/as_csv.csv"; }
# A number from a report or workflow file: the first "key": value.
json_num() { grep -o "\"$2\": [-0-9][-0-9.e+]*" "$1" | head -1 | cut -d' ' -f2; }
nparts() { ls "$1"/part_*.parquet 2>/dev/null | wc -l; }
parquet_of() { echo "read_parquet('$1/*.parquet', filename = true, file_row_number = true)"; }
part_no() { echo "CAST(regexp_extract(filename, 'part_([0-9]+)[.]parquet', 1) AS INTEGER)"; }
no_tmp() { [ -z "$(ls -A "$1" 2>/dev/null | grep reckon-tmp)" ]; }

rows=20000
small=5000
sanitized=${RECKON_SANITIZED:-0}
if [ "$sanitized" = 1 ]; then rows=5000; small=2000; fi
"$R" synth tenrec --rows $rows --seed 11 --na_fraction 0.02 --output "$tmp/qk.csv" >/dev/null
csv="$tmp/qk.csv"
# The same rows with a row key (1-based input row) as last column.
add_rid() { awk 'BEGIN { FS = OFS = "," } NR == 1 { print $0, "rid"; next } { print $0, NR - 1 }' "$1" > "$2"; }
add_rid "$csv" "$tmp/qkr.csv"

seed_flags=(--input_data_format=csv --csv_na_values=\\N --output_path="$tmp/out/"
  --categorical_features=user_id,item_id,video_category,gender,age
  --binary_classif_targets=click,follow,like,share --regression_targets=watching_times
  --to_int32=user_id,item_id --to_int16=watching_times --to_int8=gender,age,video_category,click,follow,like,share
  --user_id_feature=user_id --item_id_feature=item_id --min_user_freq 5 --persist_intermediate_files
  --dataset_split_strategy=random --random_split_eval_perc=0.2)
with_out() { local o=$1; shift; echo "${@/$tmp\/out\//$o/}"; }

# ================================================================================================
# The seed command
# ================================================================================================
out=$("$R" preprocess "${seed_flags[@]}" --input_data_path "$csv" 2>&1); rc=$?
expect_status $rc 0 "the quick-start's seed command runs verbatim"
expect_contains "$out" "filter round 1:" "it reports the frequency filter"
for split in train eval; do
  n=$(nparts "$tmp/out/$split")
  [ "$n" = 10 ] && pass "$split/ has part_0 .. part_9 (default --output_num_partitions 10)" || fail "$split/ has $n parts"
  [ -f "$tmp/out/$split/schema.pbtxt" ] && [ -f "$tmp/out/$split/.merlin/schema.json" ] \
    && pass "$split/ has schema.pbtxt and .merlin/schema.json" || fail "$split/ lacks its schema files"
done
[ -f "$tmp/out/workflow/workflow.json" ] && [ -f "$tmp/out/workflow/categories/unique.user_id.parquet" ] \
  && pass "the fitted workflow is saved with NVTabular's category files" || fail "workflow/ is incomplete"
[ -f "$tmp/out/preprocess_report.json" ] && pass "the report is written" || fail "no preprocess_report.json"
[ ! -d "$tmp/out/predict" ] && pass "no predict/ without --predict_data_path" || fail "a predict/ folder appeared"
no_tmp "$tmp/out" && pass "no temporary folder is left" || fail "a .reckon-tmp folder is left"
[ -f "$tmp/out/_cache/01_data/manifest.json" ] && pass "--persist_intermediate_files keeps _cache/01_data" \
  || fail "no _cache/01_data with --persist_intermediate_files"

"$R" preprocess $(with_out "$tmp/out2" "${seed_flags[@]}") --data_path "$csv" >/dev/null 2>&1
same_tree "$tmp/out" "$tmp/out2" && pass "--data_path and --input_data_path are the same flag" \
  || fail "--data_path gives another output"

# ---- the cache ----
err=$("$R" preprocess "${seed_flags[@]}" --input_data_path "$csv" 2>&1 >/dev/null)
expect_contains "$err" "reusing" "a second run with the same input and flags reuses _cache/01_data"
same_tree "$tmp/out" "$tmp/out2" && pass "the reused stage gives byte-identical output" || fail "reusing the cache changed the output"
err=$("$R" preprocess $(with_out "$tmp/out2" "${seed_flags[@]}") --input_data_path "$csv" --to_int16=gender 2>&1 >/dev/null)
case "$err" in *reusing*) fail "a stage made with other casts is reused" ;; *) pass "other casts do not reuse the stage" ;; esac
# The same flags with a column's role changed: the stage needs that column's dictionary now.
"$R" preprocess --data_path "$csv" --csv_na_values '\N' --output_path "$tmp/cr" --control_features user_id \
  --categorical_features item_id --persist_intermediate_files --quiet >/dev/null 2>&1
err=$("$R" preprocess --data_path "$csv" --csv_na_values '\N' --output_path "$tmp/cr" --categorical_features user_id,item_id \
  --persist_intermediate_files 2>&1 >/dev/null); rc=$?
expect_status $rc 0 "a column that becomes categorical gets a fresh stage (not one without its dictionary)"
# An input rewritten with the same size (within the second of the cached run) is read again.
head -n 2001 "$csv" > "$tmp/rw.csv"
rwf=(--data_path "$tmp/rw.csv" --csv_na_values '\N' --categorical_features user_id,item_id
  --output_num_partitions 1 --persist_intermediate_files --quiet)
"$R" preprocess "${rwf[@]}" --output_path "$tmp/rw" >/dev/null 2>&1
(head -n 1 "$csv"; tail -n +2 "$tmp/rw.csv" | sort -t, -k2,2n -s) > "$tmp/rw2.csv" && mv "$tmp/rw2.csv" "$tmp/rw.csv"
"$R" preprocess "${rwf[@]}" --output_path "$tmp/rw" >/dev/null 2>&1
"$R" preprocess "${rwf[@]}" --output_path "$tmp/rwfresh" >/dev/null 2>&1
cmp -s "$tmp/rw/train/part_0.parquet" "$tmp/rwfresh/train/part_0.parquet" \
  && pass "an input rewritten with the same size is not served from the cache" || fail "a stale cached stage was reused"
"$R" preprocess $(with_out "$tmp/nocache" "${seed_flags[@]/--persist_intermediate_files/}") --data_path "$csv" >/dev/null 2>&1
[ ! -e "$tmp/nocache/_cache" ] && pass "without --persist_intermediate_files no _cache is left" || fail "_cache left without the flag"
same_tree "$tmp/out" "$tmp/nocache" && pass "the output does not depend on --persist_intermediate_files" \
  || fail "--persist_intermediate_files changes the output"

# ---- determinism ----
threads="1 2 3"
[ "$sanitized" = 1 ] && threads="1 2"
for t in $threads; do
  "$R" preprocess $(with_out "$tmp/t$t" "${seed_flags[@]}") --input_data_path "$csv" --threads $t >/dev/null 2>&1
done
same=1
for t in $threads; do same_tree "$tmp/t1" "$tmp/t$t" || same=0; done
[ $same = 1 ] && pass "--threads $threads give byte-identical output (every file but the report)" || fail "the output depends on the thread count"
cmp -s "$tmp/t1/_cache/01_data/part_0.parquet" "$tmp/t2/_cache/01_data/part_0.parquet" \
  && pass "the cached stage is byte-identical too" || fail "the cached stage depends on the thread count"

# ---- the same run with a row key: every output row traced to its input row ----
"$R" preprocess $(with_out "$tmp/r" "${seed_flags[@]}") --input_data_path "$tmp/qkr.csv" --control_features rid >/dev/null 2>&1
expect_status $? 0 "the seed command with a row key as control feature"
same_rows=1
if [ $have_duckdb = 1 ]; then   # one query instead of 40 conversions
  for split in train eval; do
    d=$(duck "SELECT count(*) FROM (SELECT $(part_no) AS part, * EXCLUDE (filename) FROM $(parquet_of "$tmp/out/$split")
      EXCEPT ALL SELECT $(part_no) AS part, * EXCLUDE (filename, rid) FROM $(parquet_of "$tmp/r/$split"))")
    n=$(duck "SELECT count(*) FROM '$tmp/r/$split/*.parquet'")
    [ "$d" = '[["0"]]' ] && [ "$n" != '[["0"]]' ] && [ "$n" = "$(duck "SELECT count(*) FROM '$tmp/out/$split/*.parquet'")" ] || same_rows=0
  done
else
  for split in train eval; do
    for i in $(seq 0 9); do
      [ "$(as_csv "$tmp/out/$split/part_$i.parquet")" = "$(as_csv "$tmp/r/$split/part_$i.parquet" | cut -d, -f2-)" ] || same_rows=0
    done
  done
fi
[ $same_rows = 1 ] && pass "with the row key, train/ and eval/ hold the seed command's rows and values, part by part" \
  || fail "adding a control column changed the other columns"
for c in user_id item_id video_category gender age; do
  cmp -s "$tmp/out/workflow/categories/unique.$c.parquet" "$tmp/r/workflow/categories/unique.$c.parquet" || same_rows=0
done
[ $same_rows = 1 ] && pass "and the same category files" || fail "adding a control column changed the vocabularies"

if [ $have_duckdb = 1 ]; then
  o="$tmp/out"; r="$tmp/r"
  # Row counts, split, types, ranges and the report on the verbatim output.
  cat > "$tmp/seed.sql" <<EOF
CREATE VIEW raw AS SELECT * FROM read_csv('$csv', nullstr = '\N');
CREATE VIEW kept AS SELECT * FROM raw WHERE user_id IN (SELECT user_id FROM raw GROUP BY user_id HAVING count(*) >= 5);
CREATE VIEW tr AS SELECT * FROM read_parquet('$o/train/*.parquet');
CREATE VIEW ev AS SELECT * FROM read_parquet('$o/eval/*.parquet');
CREATE VIEW al AS SELECT * FROM tr UNION ALL SELECT * FROM ev;
CREATE TABLE card AS SELECT 'user_id' AS c, count(*) AS n FROM '$o/workflow/categories/unique.user_id.parquet'
  UNION ALL SELECT 'item_id', count(*) FROM '$o/workflow/categories/unique.item_id.parquet'
  UNION ALL SELECT 'video_category', count(*) FROM '$o/workflow/categories/unique.video_category.parquet'
  UNION ALL SELECT 'gender', count(*) FROM '$o/workflow/categories/unique.gender.parquet'
  UNION ALL SELECT 'age', count(*) FROM '$o/workflow/categories/unique.age.parquet';
CREATE MACRO cardof(name) AS (SELECT n FROM card WHERE c = name);
SELECT 'train + eval = the rows of users with at least 5 rows, as DuckDB counts them from the CSV',
  (SELECT count(*) FROM al) = (SELECT count(*) FROM kept)
UNION ALL SELECT 'eval holds 20% of the rows (17-23%)',
  (SELECT count(*) FROM ev) BETWEEN 0.17 * (SELECT count(*) FROM al) AND 0.23 * (SELECT count(*) FROM al)
UNION ALL SELECT 'types: user_id, item_id int32; gender, age, video_category, click, follow, like, share int8; watching_times int16',
  (SELECT bool_and(typeof(user_id) = 'INTEGER' AND typeof(item_id) = 'INTEGER' AND typeof(gender) = 'TINYINT'
     AND typeof(age) = 'TINYINT' AND typeof(video_category) = 'TINYINT' AND typeof(click) = 'TINYINT'
     AND typeof(follow) = 'TINYINT' AND typeof("like") = 'TINYINT' AND typeof(share) = 'TINYINT'
     AND typeof(watching_times) = 'SMALLINT') FROM (SELECT * FROM al LIMIT 1))
UNION ALL SELECT 'every categorical id lies in 1 .. cardinality - 1 (train and eval)',
  (SELECT min(user_id) >= 1 AND max(user_id) < cardof('user_id') AND min(item_id) >= 1 AND max(item_id) < cardof('item_id')
     AND min(video_category) >= 1 AND max(video_category) < cardof('video_category') AND min(gender) >= 1
     AND max(gender) < cardof('gender') AND min(age) >= 1 AND max(age) < cardof('age') FROM al)
UNION ALL SELECT 'no train row has the out-of-vocabulary id 2 (no capping)',
  (SELECT count(*) = 0 FROM tr WHERE user_id = 2 OR item_id = 2 OR gender = 2 OR age = 2 OR video_category = 2)
UNION ALL SELECT 'nulls become id 1: as many per column as DuckDB finds nulls in the kept rows',
  (SELECT count(*) FILTER (gender = 1) = (SELECT count(*) FROM kept WHERE gender IS NULL)
     AND count(*) FILTER (age = 1) = (SELECT count(*) FROM kept WHERE age IS NULL)
     AND count(*) FILTER (video_category = 1) = (SELECT count(*) FROM kept WHERE video_category IS NULL)
     AND count(*) FILTER (gender = 1) > 0 FROM al)
UNION ALL SELECT 'no user id has fewer than 5 rows in train + eval',
  (SELECT min(n) >= 5 FROM (SELECT count(*) AS n FROM al WHERE user_id >= 3 GROUP BY user_id))
UNION ALL SELECT 'every user in the vocabulary has at least 5 rows in the CSV',
  (SELECT bool_and(n >= 5) FROM '$o/workflow/categories/unique.user_id.parquet' u
     JOIN (SELECT user_id, count(*) AS n FROM raw GROUP BY 1) c USING (user_id))
UNION ALL SELECT 'the category files sizes are the train counts of each id',
  (SELECT bool_and(u.item_id_size = coalesce(t.n, 0)) FROM
     (SELECT file_row_number AS id, item_id_size FROM read_parquet('$o/workflow/categories/unique.item_id.parquet', file_row_number = true)) u
     LEFT JOIN (SELECT item_id AS id, count(*) AS n FROM tr GROUP BY 1) t USING (id) WHERE u.id >= 1)
UNION ALL SELECT 'the report has the rows per split that the files have',
  (SELECT count(*) FROM tr) = $(json_num "$o/preprocess_report.json" train)
  AND (SELECT count(*) FROM ev) = $(json_num "$o/preprocess_report.json" eval)
  AND (SELECT count(*) FROM raw) - (SELECT count(*) FROM kept) = $(json_num "$o/preprocess_report.json" dropped_by_filters)
  AND (SELECT count(*) FROM raw) = $(json_num "$o/preprocess_report.json" rows_read);
EOF
  duck_checks --script "$tmp/seed.sql"

  # Row by row, through the row key.
  {
    echo "CREATE VIEW raw AS SELECT * FROM read_csv('$tmp/qkr.csv', nullstr = '\N');"
    echo "CREATE VIEW kept AS SELECT * FROM raw WHERE user_id IN (SELECT user_id FROM raw GROUP BY user_id HAVING count(*) >= 5);"
    echo "CREATE TABLE o AS SELECT 'train' AS split, $(part_no) AS part, * FROM $(parquet_of "$r/train")
      UNION ALL SELECT 'eval', $(part_no), * FROM $(parquet_of "$r/eval");"
    echo "CREATE TABLE j AS SELECT o.*, raw.user_id AS r_user_id, raw.item_id AS r_item_id, raw.video_category AS r_video_category,
      raw.gender AS r_gender, raw.age AS r_age, raw.click AS r_click, raw.follow AS r_follow, raw.\"like\" AS r_like,
      raw.share AS r_share, raw.watching_times AS r_watching_times FROM o JOIN raw USING (rid);"
    for c in user_id item_id video_category gender age; do
      echo "CREATE TABLE u_$c AS SELECT file_row_number AS id, $c AS v, ${c}_size AS n
        FROM read_parquet('$r/workflow/categories/unique.$c.parquet', file_row_number = true);"
    done
    echo "SELECT 'train and eval hold each kept input row once, and no other row',
      (SELECT count(*) FROM o) = (SELECT count(*) FROM kept) AND (SELECT count(DISTINCT rid) FROM o) = (SELECT count(*) FROM kept)
      AND (SELECT count(*) FROM o WHERE rid NOT IN (SELECT rid FROM kept)) = 0"
    echo "UNION ALL SELECT 'each split keeps input order across part_0 .. part_9',
      (SELECT bool_and(prev < rid) FROM (SELECT rid, lag(rid) OVER (PARTITION BY split ORDER BY part, file_row_number) AS prev FROM o)
       WHERE prev IS NOT NULL)"
    echo "UNION ALL SELECT 'targets are written unchanged, row by row (click, follow, like, share, watching_times)',
      (SELECT bool_and(click = r_click AND follow = r_follow AND \"like\" = r_like AND share = r_share
         AND watching_times IS NOT DISTINCT FROM r_watching_times) FROM j)"
    for c in user_id item_id video_category gender age; do
      echo "UNION ALL SELECT 'categorify: every $c value maps to its id in unique.$c.parquet, null to 1, unseen (eval) to 2',
        (SELECT bool_and(CASE WHEN j.r_$c IS NULL THEN j.$c = 1 WHEN u.id IS NOT NULL THEN j.$c = u.id
                              ELSE j.split = 'eval' AND j.$c = 2 END)
         FROM j LEFT JOIN (SELECT * FROM u_$c WHERE id >= 3) u ON u.v = j.r_$c)"
      echo "UNION ALL SELECT 'vocabulary of $c: ids from 3 by descending train frequency, ties by ascending value (DuckDB own count)',
        (SELECT bool_and(coalesce(e.v = u.v AND e.n = u.n, false)) FROM
          (SELECT v, n, 2 + row_number() OVER (ORDER BY n DESC, v ASC) AS id FROM
            (SELECT r_$c AS v, count(*) AS n FROM j WHERE split = 'train' AND r_$c IS NOT NULL GROUP BY 1)) e
          FULL JOIN (SELECT * FROM u_$c WHERE id >= 3) u USING (id))"
      echo "UNION ALL SELECT 'unique.$c.parquet ids 0, 1, 2 have no value; sizes: 0, the train nulls, 0 rare values',
        (SELECT bool_and(v IS NULL) FROM u_$c WHERE id < 3)
        AND (SELECT n FROM u_$c WHERE id = 0) = 0 AND (SELECT n FROM u_$c WHERE id = 2) = 0
        AND (SELECT n FROM u_$c WHERE id = 1) = (SELECT count(*) FROM j WHERE split = 'train' AND r_$c IS NULL)"
    done
    echo "UNION ALL SELECT 'id 3 of user_id is the most frequent user in train',
      (SELECT v FROM u_user_id WHERE id = 3) = (SELECT r_user_id FROM j WHERE split = 'train' GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1)"
    echo "UNION ALL SELECT 'no user has fewer than 5 rows in train + eval (raw ids)',
      (SELECT min(n) >= 5 FROM (SELECT count(*) AS n FROM j GROUP BY r_user_id))"
    echo "UNION ALL SELECT 'every user with at least 5 rows is kept',
      (SELECT count(DISTINCT r_user_id) FROM j) = (SELECT count(DISTINCT user_id) FROM kept);"
  } > "$tmp/rows.sql"
  duck_checks --script "$tmp/rows.sql"
fi

# ---- the schema against Merlin's own TenRec schema (tests/data/merlin/) ----
# The structural comparison (tags as sets, int_domain, properties, dtypes) is in
# tests/unit/test_etl_preprocess.c; here the text as written.
ref="$RECKON_SOURCE_DIR/tests/data/merlin/tenrec_video.schema.pbtxt"
names() { grep -o '^  name: "[^"]*"' "$1" | sort; }
[ "$(names "$tmp/out/train/schema.pbtxt")" = "$(names "$ref")" ] && pass "the schema has the columns of Merlin's TenRec schema" \
  || fail "the schema's columns differ from Merlin's"
tags() { awk -v c="\"$2\"" '$1 == "name:" && $2 == c { on = 1; next } $1 == "name:" { on = 0 } on && $1 == "tag:" { print $2 }' "$1" | sort | tr '\n' ' '; }
for c in user_id item_id click follow like share watching_times; do
  [ "$(tags "$tmp/out/train/schema.pbtxt" $c)" = "$(tags "$ref" $c)" ] && pass "column $c carries exactly the tags of Merlin's file" \
    || fail "column $c: tags $(tags "$tmp/out/train/schema.pbtxt" $c)vs Merlin's $(tags "$ref" $c)"
done
# Merlin's run named video_category an item feature and gender, age user features; the seed
# command does not, so these carry Merlin's tags but user/item.
for c in video_category gender age; do
  want=$(tags "$ref" $c | tr ' ' '\n' | grep -v -e '"user"' -e '"item"' | tr '\n' ' ')
  [ "$(tags "$tmp/out/train/schema.pbtxt" $c)" = "$want" ] && pass "column $c carries Merlin's tags (but user/item)" \
    || fail "column $c: tags $(tags "$tmp/out/train/schema.pbtxt" $c)vs $want"
done
desc=$("$R" inspect --stats false "$tmp/out/eval")
expect_contains "$desc" "user_id,categorical,user,id" "reckon reads eval/'s schema back: user_id tagged as in Merlin's file"
grep -q 'cat_path' "$tmp/out/train/.merlin/schema.json" && grep -q 'embedding_sizes' "$tmp/out/train/.merlin/schema.json" \
  && grep -q 'freq_threshold' "$tmp/out/train/.merlin/schema.json" \
  && pass "categorical columns carry cat_path, embedding_sizes and freq_threshold" || fail "categorical properties are missing"

# ================================================================================================
# A small hand-made input where exact values matter
# ================================================================================================
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
[ ! -d "$tmp/h1/eval" ] && pass "no --dataset_split_strategy: train/ only" || fail "an eval/ without a split"
expect_contains "$(head -1 "$tmp/h1.csv")" "ctl,user,item,cat,num,click,rating" "columns come in order: control, categorical, continuous, targets"
expect_contains "$(col "$tmp/h1.csv" ctl)" "ctl x y z x y z" "--control_features are copied unchanged, rows in input order"
expect_contains "$(col "$tmp/h1.csv" click) $(col "$tmp/h1.csv" rating)" "click 1 0 1 0 1 0  rating 2.5 3 4 1 5 2 " "targets are written unchanged"
expect_contains "$(col "$tmp/h1.csv" cat)" "cat 3 4 3 1 3 4 " "categorify: the most frequent value gets 3, null gets 1"
expect_contains "$(col "$tmp/h1.csv" item)" "item 3 4 3 5 3 4 " "ids by descending frequency: item 10 (3 rows), 11 (2), 12 (1)"
expect_contains "$(col "$tmp/h1.csv" user)" "user 3 3 4 4 5 5 " "ties go by value: users 1, 2, 3"
mean=$(json_num "$tmp/h1/workflow/workflow.json" mean)
std=$(json_num "$tmp/h1/workflow/workflow.json" std)
want=$(awk -v m="$mean" -v s="$std" 'BEGIN { printf "%.4f", (7 - m) / s }')
got=$(col "$tmp/h1.csv" num | awk '{ printf "%.4f", $3 }')
[ "$want" = "$got" ] && pass "--continuous_features_fillna 7: a null becomes (fill - mean) / std of workflow.json ($got)" || fail "filled value $got, expected $want"
awk -v m="$mean" 'BEGIN { exit !(m > 3.58 && m < 3.59) }' && pass "the mean includes the filled values (21.5 / 6)" || fail "mean $mean"
awk -v s="$std" 'BEGIN { exit !(s > 2.8175 && s < 2.8185) }' && pass "std is the sample standard deviation (n - 1)" || fail "std $std"
"$R" preprocess "${h[@]}" --output_path "$tmp/h2" --continuous_features_fillna median >/dev/null 2>&1
grep -q '"fill_value": 1.75' "$tmp/h2/workflow/workflow.json" && pass "--continuous_features_fillna median fills with the train median (1.75)" \
  || fail "the median fill is not 1.75"
"$R" convert "$tmp/h2/train/part_0.parquet" "$tmp/h2.csv" >/dev/null
mean=$(json_num "$tmp/h2/workflow/workflow.json" mean); std=$(json_num "$tmp/h2/workflow/workflow.json" std)
want=$(awk -v m="$mean" -v s="$std" 'BEGIN { printf "%.4f", (1.75 - m) / s }')
got=$(col "$tmp/h2.csv" num | awk '{ printf "%.4f", $3 }')
[ "$want" = "$got" ] && pass "a null continuous value becomes (median - mean) / std ($got)" || fail "median-filled value $got, expected $want"
"$R" preprocess "${h[@]}" --output_path "$tmp/h3" >/dev/null 2>&1
"$R" convert "$tmp/h3/train/part_0.parquet" "$tmp/h3.csv" >/dev/null
expect_contains "$(sed -n 3p "$tmp/h3.csv")" ",,0," "without a fill, a null continuous value stays null"

"$R" preprocess "${h[@]}" --output_path "$tmp/h4" --categ_min_freq_capping 2 >/dev/null 2>&1
"$R" convert "$tmp/h4/train/part_0.parquet" "$tmp/h4.csv" >/dev/null
expect_contains "$(col "$tmp/h4.csv" item)" "item 3 4 3 2 3 4 " "--categ_min_freq_capping 2 maps the value seen once to 2"
expect_contains "$(col "$tmp/h4.csv" user)" "user 3 3 4 4 5 5 " "values seen exactly N times are kept"
grep -q '"freq_threshold": 2.0' "$tmp/h4/train/.merlin/schema.json" && pass "the schema's freq_threshold is the capping" \
  || fail "freq_threshold is not 2"

"$R" preprocess "${h[@]}" --output_path "$tmp/h5" --user_id_feature user --item_id_feature item --timestamp_feature ts \
  --session_id_feature sess --user_features cat --item_features num >/dev/null 2>&1
s=$("$R" inspect --stats false "$tmp/h5/train")
expect_contains "$s" "user_id,categorical,user,id" "--user_id_feature tags user_id, user, id"
expect_contains "$s" "item_id,categorical,item,id" "--item_id_feature tags item_id, item, id"
echo "$s" | grep -qE '^ +cat .* categorical,user$' && pass "--user_features tags user" || fail "--user_features did not tag cat"
echo "$s" | grep -qE '^ +num .* continuous,item$' && pass "--item_features tags item" || fail "--item_features did not tag num"
echo "$s" | grep -qE '^ +ts .* time$' && pass "--timestamp_feature tags time (and passes the column through)" || fail "ts is not tagged time"
echo "$s" | grep -qE '^ +sess .* session_id,session,id$' && pass "--session_id_feature tags session_id, session, id" \
  || fail "sess is not tagged session_id"
"$R" convert "$tmp/h5/train/part_0.parquet" "$tmp/h5.csv" >/dev/null
expect_contains "$(head -1 "$tmp/h5.csv")" "ctl,user,item,cat,num,ts,sess,click,rating" "id/time/session columns not listed elsewhere come before the targets"
expect_contains "$(col "$tmp/h5.csv" ts)" "ts 100 110 120 130 140 150 " "the timestamp is written unchanged"
# A session column that is also categorical keeps its transform and gains the tags.
"$R" preprocess "${h[@]/user,item,cat/user,item,cat,sess}" --output_path "$tmp/h5b" --session_id_feature sess >/dev/null 2>&1
echo "$("$R" inspect --stats false "$tmp/h5b/train")" | grep -qE '^ +sess .*session_id,categorical,session,id$' \
  && pass "--session_id_feature adds tags to a categorical column instead of replacing its transform" || fail "sess lost its categorify"

"$R" preprocess "${h[@]}" --output_path "$tmp/h6" --timestamp_feature ts --dataset_split_strategy temporal \
  --dataset_split_temporal_timestamp 130 >/dev/null 2>&1
"$R" convert "$tmp/h6/train/part_0.parquet" "$tmp/h6t.csv" >/dev/null; "$R" convert "$tmp/h6/eval/part_0.parquet" "$tmp/h6e.csv" >/dev/null
expect_contains "$(col "$tmp/h6t.csv" ts)" "ts 100 110 120 " "temporal: train has the timestamps before T"
expect_contains "$(col "$tmp/h6e.csv" ts)" "ts 130 140 150 " "temporal: eval has the timestamps from T on"
sed 's/^3,11,b,,150,/3,11,b,,,/' "$tmp/h.csv" > "$tmp/hts.csv"
"$R" preprocess "${h[@]/$tmp\/h.csv/$tmp/hts.csv}" --output_path "$tmp/h6n" --timestamp_feature ts --dataset_split_strategy temporal \
  --dataset_split_temporal_timestamp 130 >/dev/null 2>&1
[ "$(json_num "$tmp/h6n/preprocess_report.json" eval)" = 2 ] && [ "$(json_num "$tmp/h6n/preprocess_report.json" dropped_by_filters)" = 1 ] \
  && pass "temporal: a row with a null timestamp is dropped and counted" || fail "the null-timestamp row is not dropped and counted"
err=$("$R" preprocess "${h[@]}" --output_path "$tmp/h6x" --dataset_split_strategy temporal --dataset_split_temporal_timestamp 130 2>&1); rc=$?
expect_status $rc 2 "temporal without --timestamp_feature is a usage error"

"$R" preprocess "${h[@]}" --output_path "$tmp/h7" --target_encoding_features item --target_encoding_targets click \
  --target_encoding_kfold 2 --target_encoding_smoothing 1 >/dev/null 2>&1
"$R" convert "$tmp/h7/train/part_0.parquet" "$tmp/h7.csv" >/dev/null
expect_contains "$(head -1 "$tmp/h7.csv")" "TE_item_click" "target encoding adds TE_<feature>_<target>"
grep -q '"prior": 0.5' "$tmp/h7/workflow/workflow.json" && pass "the target encoding's prior is the train mean" || fail "prior is not 0.5"
"$R" transform --quiet --workflow "$tmp/h7/workflow" "$tmp/h.csv" "$tmp/h7full.csv" >/dev/null
[ "$(col "$tmp/h7.csv" TE_item_click)" != "$(col "$tmp/h7full.csv" TE_item_click)" ] && pass "train rows get out-of-fold encodings" \
  || fail "train encodings equal the full-statistics ones"
expect_contains "$(col "$tmp/h7full.csv" TE_item_click)" "TE_item_click 0.875 " "full statistics: (sum + prior * s) / (count + s) = (3 + 0.5) / (3 + 1) for item 10"
"$R" preprocess "${h[@]}" --output_path "$tmp/h7b" --target_encoding_targets click,rating >/dev/null 2>&1
"$R" convert "$tmp/h7b/train/part_0.parquet" "$tmp/h7b.csv" >/dev/null
expect_contains "$(head -1 "$tmp/h7b.csv")" "TE_user_click,TE_user_rating,TE_item_click,TE_item_rating,TE_cat_click,TE_cat_rating" \
  "--target_encoding_targets alone encodes every categorical feature"

# --csv_na_values: every listed string is a null; without it, the string is a value.
sed -e 's/^2,12,,/2,12,NA,/' -e 's/^1,11,b,,/1,11,b,?,/' "$tmp/h.csv" > "$tmp/hna.csv"
"$R" preprocess "${h[@]/$tmp\/h.csv/$tmp/hna.csv}" --output_path "$tmp/hna" --csv_na_values 'NA,?' >/dev/null 2>&1
"$R" convert "$tmp/hna/train/part_0.parquet" "$tmp/hna.csv.out.csv" >/dev/null
expect_contains "$(col "$tmp/hna.csv.out.csv" cat)" "cat 3 4 3 1 3 4 " "--csv_na_values NA,?: NA is a null (id 1)"
expect_contains "$(sed -n 3p "$tmp/hna.csv.out.csv")" ",,0," "--csv_na_values NA,?: ? is a null continuous value"
"$R" preprocess "${h[@]/$tmp\/h.csv/$tmp/hna.csv}" --output_path "$tmp/hna2" --continuous_features '' --control_features num >/dev/null 2>&1
"$R" convert "$tmp/hna2/train/part_0.parquet" "$tmp/hna2.csv" >/dev/null
expect_contains "$(col "$tmp/hna2.csv" cat)" "cat 3 4 3 5 3 4 " "without --csv_na_values, NA is a category of its own"

# ================================================================================================
# Flags on a small synthetic input (with a row key)
# ================================================================================================
"$R" synth tenrec --rows $small --seed 3 --na_fraction 0.02 --output "$tmp/f.csv" >/dev/null
add_rid "$tmp/f.csv" "$tmp/fr.csv"
fr="$tmp/fr.csv"
fb=(--data_path "$fr" --csv_na_values '\N' --control_features rid --output_num_partitions 2 --quiet)
run() { local d=$1; shift; "$R" preprocess "${fb[@]}" --output_path "$tmp/$d" "$@" >/dev/null 2>"$tmp/$d.err"; }
raw_view="CREATE VIEW raw AS SELECT * FROM read_csv('$fr', nullstr = '\N')"
# train/eval of a run joined to the raw rows: columns of the output, then r_<col> of the input.
joined() {
  echo "CREATE VIEW o AS SELECT 'train' AS split, $(part_no) AS part, * FROM $(parquet_of "$1/train")"
  [ -d "$1/eval" ] && echo "UNION ALL BY NAME SELECT 'eval' AS split, $(part_no) AS part, * FROM $(parquet_of "$1/eval")"
  echo ";"
  echo "CREATE VIEW j AS SELECT o.*, raw.user_id AS r_user_id, raw.item_id AS r_item_id, raw.click AS r_click,
    raw.follow AS r_follow, raw.\"like\" AS r_like, raw.share AS r_share, raw.video_category AS r_video_category,
    raw.watching_times AS r_watching_times, raw.gender AS r_gender, raw.age AS r_age FROM o JOIN raw USING (rid);"
}

run cont --categorical_features user_id --continuous_features age,video_category --continuous_features_fillna 2.5 \
  --binary_classif_targets click --regression_targets watching_times
expect_status $? 0 "--continuous_features with a number fill"
run contm --categorical_features user_id --continuous_features age,video_category --continuous_features_fillna median \
  --binary_classif_targets click --dataset_split_strategy random --random_split_eval_perc 0.25
expect_status $? 0 "--continuous_features_fillna median with a random split"
run cont0 --categorical_features user_id --continuous_features age --binary_classif_targets click
run te --categorical_features user_id,item_id --binary_classif_targets click --target_encoding_features item_id \
  --target_encoding_targets click --target_encoding_kfold 3 --target_encoding_smoothing 5 \
  --dataset_split_strategy random --random_split_eval_perc 0.3
expect_status $? 0 "target encoding with 3 folds, smoothing 5 and a random split"
run cap --categorical_features user_id,item_id --categ_min_freq_capping 20 --binary_classif_targets click
run casts --categorical_features user_id,item_id,gender --control_features rid,age --regression_targets watching_times \
  --binary_classif_targets click --to_float32 watching_times --to_int16 age,gender --to_int8 click
expect_status $? 0 "--to_float32, --to_int16, --to_int8 on targets, control and categorical columns"
run filt --categorical_features user_id,item_id --binary_classif_targets click --user_id_feature user_id --item_id_feature item_id \
  --min_user_freq 3 --max_user_freq 40 --min_item_freq 5 --max_item_freq 150 --num_max_rounds_filtering 10 \
  --dataset_split_strategy random --random_split_eval_perc 0.2
expect_status $? 0 "--min/max_user_freq and --min/max_item_freq together"
rounds=$(grep -c '"round"' "$tmp/filt/preprocess_report.json")
[ "$rounds" -ge 2 ] && pass "the report lists each filter round ($rounds)" || fail "the report lists $rounds rounds"
last=$(tr -d ' \n' < "$tmp/filt/preprocess_report.json" | grep -o '{"round":[0-9]*,"users_removed":[0-9]*,[^}]*}' | tail -1)
expect_contains "$last" '"users_removed":0' "the rounds stop when a round removes no user ..."
expect_contains "$last" '"items_removed":0' "... and no item"
run filt1 --categorical_features user_id,item_id --binary_classif_targets click --user_id_feature user_id --item_id_feature item_id \
  --min_user_freq 3 --max_user_freq 40 --min_item_freq 5 --max_item_freq 150 --num_max_rounds_filtering 1 \
  --dataset_split_strategy random --random_split_eval_perc 0.2
[ "$(grep -c '"round"' "$tmp/filt1/preprocess_report.json")" = 1 ] && pass "--num_max_rounds_filtering 1 stops after one round" \
  || fail "more than one round with --num_max_rounds_filtering 1"
query="click==1 or (click==0 and follow==0 and like==0 and share==0)"
# Synthetic follows, likes and shares come with a click: give some rows a like or share without one.
awk 'BEGIN { FS = OFS = "," } NR > 1 && NR % 10 == 0 { $3 = 0; $5 = 1 } NR > 1 && NR % 10 == 5 { $3 = 0; $6 = 1 } { print }' \
  "$fr" > "$tmp/fq.csv"
"$R" preprocess "${fb[@]/$fr/$tmp/fq.csv}" --output_path "$tmp/fq" --categorical_features user_id,item_id \
  --binary_classif_targets click,follow,like,share --filter_query "$query" >/dev/null 2>&1
expect_status $? 0 "--filter_query with the quick-start's query"
run fq2 --categorical_features user_id,item_id --binary_classif_targets click --filter_query 'age >= 3 and gender != 1'
run rs1 --categorical_features user_id,item_id --binary_classif_targets click --dataset_split_strategy random --random_split_eval_perc 0.3 \
  --output_num_partitions 3
run rs2 --categorical_features user_id,item_id --binary_classif_targets click --dataset_split_strategy random --random_split_eval_perc 0.3 \
  --output_num_partitions 3
run rs42 --categorical_features user_id,item_id --binary_classif_targets click --dataset_split_strategy random --random_split_eval_perc 0.3 \
  --output_num_partitions 3 --random_seed 42
run rs7 --categorical_features user_id,item_id --binary_classif_targets click --dataset_split_strategy random --random_split_eval_perc 0.3 \
  --output_num_partitions 3 --random_seed 7
same_tree "$tmp/rs1" "$tmp/rs2" && pass "random split: the same seed gives the same bytes" || fail "two runs with the same seed differ"
same_tree "$tmp/rs1" "$tmp/rs42" && pass "--random_seed defaults to 42" || fail "--random_seed 42 differs from the default"
same_tree "$tmp/rs1" "$tmp/rs7" >/dev/null && fail "another --random_seed gives the same split" || pass "another --random_seed gives another split"
for s in train eval; do
  [ "$(ls "$tmp/rs1/$s")" = "$(printf 'part_0.parquet\npart_1.parquet\npart_2.parquet\nschema.pbtxt')" ] \
    && pass "--output_num_partitions 3: $s/ has part_0 .. part_2" || fail "$s/ has $(ls "$tmp/rs1/$s" | tr '\n' ' ')"
done
run ru --categorical_features user_id,item_id --binary_classif_targets click --user_id_feature user_id \
  --dataset_split_strategy random_by_user --random_split_eval_perc 0.25
expect_status $? 0 "--dataset_split_strategy random_by_user"
err=$("$R" preprocess "${fb[@]}" --output_path "$tmp/rux" --categorical_features user_id --dataset_split_strategy random_by_user \
  --random_split_eval_perc 0.25 2>&1); rc=$?
expect_status $rc 2 "random_by_user without --user_id_feature is a usage error"
err=$("$R" preprocess "${fb[@]}" --output_path "$tmp/rsx" --categorical_features user_id --dataset_split_strategy random 2>&1); rc=$?
expect_status $rc 2 "a random split without --random_split_eval_perc is a usage error"

# h.csv (6 rows) into 4 and 10 partitions: sizes differ by at most one, no empty parts (one a row at most).
"$R" preprocess "${h[@]}" --output_path "$tmp/hp4" --output_num_partitions 4 >/dev/null 2>&1
"$R" preprocess "${h[@]}" --output_path "$tmp/hp10" --output_num_partitions 10 >/dev/null 2>&1
sizes=""; for i in 0 1 2 3; do sizes="$sizes $(as_csv "$tmp/hp4/train/part_$i.parquet" | tail -n +2 | cut -d, -f1 | tr '\n' ' ')|"; done
expect_contains "$sizes" " x | y z | x | y z |" "6 rows in 4 partitions: 1, 2, 1, 2 consecutive rows"
[ "$(nparts "$tmp/hp10/train")" = 6 ] && pass "more partitions than rows: one part per row, none empty" \
  || fail "$(nparts "$tmp/hp10/train") parts for 6 rows in 10 partitions"

if [ $have_duckdb = 1 ]; then
  {
    echo "$raw_view;"
    joined "$tmp/cont"
    echo "CREATE TABLE st AS SELECT avg(coalesce(r_age, 2.5)) AS m, stddev_samp(coalesce(r_age, 2.5)) AS s,
      avg(coalesce(r_video_category, 2.5)) AS mv, stddev_samp(coalesce(r_video_category, 2.5)) AS sv FROM j;"
    echo "SELECT 'continuous features are standardised: mean 0 on train',
      (SELECT abs(avg(age)) < 1e-5 AND abs(avg(video_category)) < 1e-5 FROM j)
    UNION ALL SELECT 'continuous features are standardised: sample stddev 1 on train',
      (SELECT abs(stddev_samp(age) - 1) < 1e-5 AND abs(stddev_samp(video_category) - 1) < 1e-5 FROM j)
    UNION ALL SELECT 'continuous features are written as float32', (SELECT typeof(age) = 'FLOAT' FROM j LIMIT 1)
    UNION ALL SELECT 'fill 2.5: every value is (coalesce(x, 2.5) - mean) / std (DuckDB own mean and std)',
      (SELECT bool_and(abs(age - (coalesce(r_age, 2.5) - m) / s) < 1e-5
         AND abs(video_category - (coalesce(r_video_category, 2.5) - mv) / sv) < 1e-5) FROM j, st)
    UNION ALL SELECT 'fill 2.5 reached some null rows', (SELECT count(*) > 0 FROM j WHERE r_age IS NULL)
    UNION ALL SELECT 'without a split, train/ holds every input row in input order',
      (SELECT count(*) = (SELECT count(*) FROM raw) AND bool_and(rid = rn) FROM
        (SELECT rid, row_number() OVER (ORDER BY part, file_row_number) AS rn FROM o))
    UNION ALL SELECT 'targets are unchanged row by row in a split-less run',
      (SELECT bool_and(click = r_click AND watching_times = r_watching_times) FROM j);"
  } > "$tmp/cont.sql"
  duck_checks --script "$tmp/cont.sql"
  {
    echo "$raw_view;"
    joined "$tmp/contm"
    echo "CREATE TABLE st AS SELECT median(r_age) AS med FROM j WHERE split = 'train';"
    echo "CREATE TABLE st2 AS SELECT avg(coalesce(r_age, med)) AS m, stddev_samp(coalesce(r_age, med)) AS s FROM j, st WHERE split = 'train';"
    echo "SELECT 'fill median: the train median of DuckDB fills nulls, standardised with the train mean and std (train and eval)',
      (SELECT bool_and(abs(age - (coalesce(r_age, med) - m) / s) < 1e-5) FROM j, st, st2)
    UNION ALL SELECT 'fill median: workflow.json holds that median',
      (SELECT med FROM st) = $(json_num "$tmp/contm/workflow/workflow.json" fill_value)
    UNION ALL SELECT 'eval rows use the train statistics (their mean is not 0)', (SELECT abs(avg(age)) > 1e-4 FROM j WHERE split = 'eval');"
  } > "$tmp/contm.sql"
  duck_checks --script "$tmp/contm.sql"
  {
    echo "$raw_view;"
    joined "$tmp/cont0"
    echo "SELECT 'no fill: nulls stay null, the rest have mean 0 and stddev 1',
      (SELECT bool_and((age IS NULL) = (r_age IS NULL)) AND abs(avg(age)) < 1e-5 AND abs(stddev_samp(age) - 1) < 1e-5 FROM j);"
  } > "$tmp/cont0.sql"
  duck_checks --script "$tmp/cont0.sql"
  {
    echo "$raw_view;"
    joined "$tmp/te"
    echo "CREATE TABLE st AS SELECT r_item_id AS v, sum(r_click) AS s, count(r_click) AS n FROM j WHERE split = 'train' GROUP BY 1;"
    echo "CREATE TABLE pr AS SELECT avg(r_click) AS prior FROM j WHERE split = 'train';"
    echo "SELECT 'eval rows: TE_item_id_click = (sum + prior * 5) / (count + 5) of the train rows (DuckDB own sums)',
      (SELECT bool_and(abs(TE_item_id_click - (coalesce(st.s, 0) + prior * 5) / (coalesce(st.n, 0) + 5)) < 1e-6)
       FROM j LEFT JOIN st ON st.v = j.r_item_id, pr WHERE split = 'eval')
    UNION ALL SELECT 'train rows: out-of-fold encodings, most differ from the in-fold value',
      (SELECT avg(CASE WHEN abs(TE_item_id_click - (st.s + prior * 5) / (st.n + 5)) > 1e-6 THEN 1 ELSE 0 END) > 0.5
       FROM j JOIN st ON st.v = j.r_item_id, pr WHERE split = 'train')
    UNION ALL SELECT 'TE columns are float32',
      (SELECT typeof(TE_item_id_click) = 'FLOAT' FROM j LIMIT 1)
    UNION ALL SELECT 'the workflow prior is the train mean of the target',
      abs((SELECT prior FROM pr) - $(json_num "$tmp/te/workflow/workflow.json" prior)) < 1e-12;"
  } > "$tmp/te.sql"
  duck_checks --script "$tmp/te.sql"
  expect_contains "$(as_csv "$tmp/te/train/part_0.parquet" | head -1)" "rid,user_id,item_id,TE_item_id_click,click" "TE columns come after the categorical features"
  {
    echo "$raw_view;"
    joined "$tmp/cap"
    echo "CREATE TABLE cnt AS SELECT r_item_id AS v, count(*) AS n FROM j GROUP BY 1;"
    echo "CREATE TABLE u AS SELECT file_row_number AS id, item_id AS v, item_id_size AS n
      FROM read_parquet('$tmp/cap/workflow/categories/unique.item_id.parquet', file_row_number = true);"
    echo "SELECT '--categ_min_freq_capping 20: items seen fewer than 20 times get id 2, the others their vocabulary id',
      (SELECT bool_and(CASE WHEN cnt.n < 20 THEN j.item_id = 2 ELSE j.item_id = u.id END)
       FROM j JOIN cnt ON cnt.v = j.r_item_id LEFT JOIN u ON u.v = j.r_item_id AND u.id >= 3)
    UNION ALL SELECT '--categ_min_freq_capping 20: some items are rare and some are kept',
      (SELECT count(*) FILTER (n < 20) > 0 AND count(*) FILTER (n >= 20) > 0 FROM cnt)
    UNION ALL SELECT '--categ_min_freq_capping 20: id 2 counts the rare rows; every vocabulary id has at least 20',
      (SELECT n FROM u WHERE id = 2) = (SELECT sum(n) FROM cnt WHERE n < 20) AND (SELECT min(n) >= 20 FROM u WHERE id >= 3);"
  } > "$tmp/cap.sql"
  duck_checks --script "$tmp/cap.sql"
  {
    echo "$raw_view;"
    joined "$tmp/casts"
    echo "SELECT '--to_float32 watching_times: FLOAT, same values',
      (SELECT bool_and(typeof(watching_times) = 'FLOAT' AND watching_times = r_watching_times) FROM j)
    UNION ALL SELECT '--to_int16 age (control): SMALLINT, same values, nulls kept',
      (SELECT bool_and(typeof(age) = 'SMALLINT' AND age IS NOT DISTINCT FROM r_age) FROM j)
    UNION ALL SELECT '--to_int8 click: TINYINT', (SELECT bool_and(typeof(click) = 'TINYINT' AND click = r_click) FROM j)
    UNION ALL SELECT '--to_int16 on a categorical column: its ids are SMALLINT',
      (SELECT typeof(gender) = 'SMALLINT' FROM j LIMIT 1)
    UNION ALL SELECT 'uncast categorical ids are int64 as Merlin writes them',
      (SELECT typeof(user_id) = 'BIGINT' AND typeof(item_id) = 'BIGINT' FROM j LIMIT 1);"
  } > "$tmp/casts.sql"
  duck_checks --script "$tmp/casts.sql"
  for d in filt filt1; do
    {
      echo "$raw_view;"
      joined "$tmp/$d"
      echo "SELECT '$d: users within 3 .. 40 rows in train + eval', (SELECT min(n) >= 3 AND max(n) <= 40 FROM (SELECT count(*) AS n FROM j GROUP BY r_user_id))
      UNION ALL SELECT '$d: items within 5 .. 150 rows in train + eval', (SELECT min(n) >= 5 AND max(n) <= 150 FROM (SELECT count(*) AS n FROM j GROUP BY r_item_id))
      UNION ALL SELECT '$d: rows in train + eval as the report says', (SELECT count(*) FROM j) = $(json_num "$tmp/$d/preprocess_report.json" train) + $(json_num "$tmp/$d/preprocess_report.json" eval);"
    } > "$tmp/$d.sql"
  done
  duck_checks --script "$tmp/filt.sql"
  out=$(duck --script "$tmp/filt1.sql")
  case "$out" in *false*) pass "one round of filtering can leave counts outside the bounds (this input needs 3)" ;;
    *) fail "one round left every count within bounds: the rounds check proves nothing ($out)" ;; esac
  {
    echo "${raw_view/$fr/$tmp/fq.csv};"
    joined "$tmp/fq"
    echo "SELECT '--filter_query keeps exactly the rows DuckDB WHERE keeps (seed query)',
      (SELECT count(*) FROM j) = (SELECT count(*) FROM raw WHERE click = 1 OR (click = 0 AND follow = 0 AND \"like\" = 0 AND share = 0))
      AND (SELECT count(*) FROM j WHERE NOT (r_click = 1 OR (r_click = 0 AND r_follow = 0 AND r_like = 0 AND r_share = 0))) = 0
      AND (SELECT count(*) FROM raw) > (SELECT count(*) FROM j);"
  } > "$tmp/fq.sql"
  duck_checks --script "$tmp/fq.sql"
  {
    echo "$raw_view;"
    joined "$tmp/fq2"
    echo "SELECT '--filter_query with nulls: a null compares false, but != is true (as NaN in pandas)',
      (SELECT list(rid ORDER BY rid) FROM j) = (SELECT list(rid ORDER BY rid) FROM raw WHERE age >= 3 AND (gender != 1 OR gender IS NULL))
      AND (SELECT count(*) FROM raw WHERE gender IS NULL AND age >= 3) > 0;"
  } > "$tmp/fq2.sql"
  duck_checks --script "$tmp/fq2.sql"
  {
    echo "$raw_view;"
    joined "$tmp/rs1"
    echo "SELECT 'random split: train and eval hold every row once', (SELECT count(DISTINCT rid) = (SELECT count(*) FROM raw) AND count(*) = count(DISTINCT rid) FROM j)
    UNION ALL SELECT 'random split: eval holds about 30% (25-35%)', (SELECT avg(CASE WHEN split = 'eval' THEN 1 ELSE 0 END) BETWEEN 0.25 AND 0.35 FROM j)
    UNION ALL SELECT '--output_num_partitions 3: part sizes differ by at most one row',
      (SELECT bool_and(d <= 1) FROM (SELECT max(n) - min(n) AS d FROM (SELECT split, part, count(*) AS n FROM j GROUP BY 1, 2) GROUP BY split))
    UNION ALL SELECT '--output_num_partitions 3: parts hold consecutive rows, in input order',
      (SELECT bool_and(prev < rid) FROM (SELECT rid, lag(rid) OVER (PARTITION BY split ORDER BY part, file_row_number) AS prev FROM j) WHERE prev IS NOT NULL);"
  } > "$tmp/rs.sql"
  duck_checks --script "$tmp/rs.sql"
  {
    echo "$raw_view;"
    joined "$tmp/ru"
    echo "CREATE TABLE pu AS SELECT r_user_id AS u, count(*) AS n, count(*) FILTER (split = 'eval') AS e FROM j GROUP BY 1;"
    echo "SELECT 'random_by_user: each user has floor(0.25 * n_u) eval rows', (SELECT bool_and(e = floor(0.25 * n)) FROM pu)
    UNION ALL SELECT 'random_by_user: users with fewer than 1 / 0.25 rows stay in train', (SELECT bool_and(e = 0) AND count(*) > 0 FROM pu WHERE n < 4)
    UNION ALL SELECT 'random_by_user: every row is in train or eval', (SELECT count(*) FROM j) = (SELECT count(*) FROM raw);"
  } > "$tmp/ru.sql"
  duck_checks --script "$tmp/ru.sql"
fi

# The rounds on a hand-made input: after round 1 (users, then items) users 1 and 2 have one row.
cat > "$tmp/rounds.csv" <<'EOF'
u,i,y
1,10,1
1,20,0
2,10,1
2,30,0
3,30,1
4,40,0
4,50,1
5,40,0
5,50,1
EOF
rd=(--data_path "$tmp/rounds.csv" --categorical_features u,i --binary_classif_targets y --user_id_feature u --item_id_feature i
    --min_user_freq 2 --min_item_freq 2 --output_num_partitions 1 --quiet)
"$R" preprocess "${rd[@]}" --output_path "$tmp/rd1" --num_max_rounds_filtering 1 >/dev/null 2>&1
"$R" preprocess "${rd[@]}" --output_path "$tmp/rd5" >/dev/null 2>&1
[ "$(as_csv "$tmp/rd1/train/part_0.parquet" | wc -l)" = 7 ] && pass "--num_max_rounds_filtering 1: one round leaves users 1 and 2 with one row each" \
  || fail "one round kept $(( $(as_csv "$tmp/rd1/train/part_0.parquet" | wc -l) - 1 )) rows, expected 6"
[ "$(as_csv "$tmp/rd5/train/part_0.parquet" | wc -l)" = 5 ] && pass "more rounds converge: only users 4 and 5 with items 40 and 50 remain" \
  || fail "the rounds kept $(( $(as_csv "$tmp/rd5/train/part_0.parquet" | wc -l) - 1 )) rows, expected 4"
[ "$(grep -c '"round"' "$tmp/rd5/preprocess_report.json")" = 3 ] && pass "the report shows the 3 rounds (the last removes nothing)" \
  || fail "the report shows $(grep -c '"round"' "$tmp/rd5/preprocess_report.json") rounds"
printf 'u,i,y\n1,10,1\n,10,0\n2,,1\n2,20,0\n' > "$tmp/nullid.csv"
"$R" preprocess --data_path "$tmp/nullid.csv" --categorical_features u,i --binary_classif_targets y --user_id_feature u \
  --item_id_feature i --min_user_freq 0 --output_num_partitions 1 --output_path "$tmp/nid" --quiet >/dev/null 2>&1
expect_contains "$(col <(as_csv "$tmp/nid/train/part_0.parquet") y)" "y 1 1 0 " "--min_user_freq 0 is a bound: it removes only the null user's row"
"$R" preprocess --data_path "$tmp/nullid.csv" --categorical_features u,i --binary_classif_targets y --user_id_feature u \
  --item_id_feature i --max_item_freq 100 --output_num_partitions 1 --output_path "$tmp/nid2" --quiet >/dev/null 2>&1
expect_contains "$(col <(as_csv "$tmp/nid2/train/part_0.parquet") y)" "y 1 0 0 " "an item rule removes the row with a null item"

err=$("$R" preprocess "${fb[@]}" --output_path "$tmp/fqx" --categorical_features user_id --filter_query "click = = 1" 2>&1); rc=$?
expect_status $rc 1 "a --filter_query that does not parse fails"
expect_contains "$err" "cannot parse --filter_query" "and says so"
[ ! -e "$tmp/fqx" ] && pass "a failed run on a new output path leaves nothing there" || fail "a failed run left $(ls -A "$tmp/fqx")"
err=$("$R" preprocess "${fb[@]}" --output_path "$tmp/fqx" --categorical_features user_id --filter_query "nope == 1" 2>&1); rc=$?
expect_status $rc 1 "a --filter_query on a missing column fails"
expect_contains "$err" "'nope'" "and names the column"

# ---- input formats ----
g=(--categorical_features user_id,item_id --binary_classif_targets click --quiet)
cut -d, -f1-3 "$tmp/f.csv" > "$tmp/t3.csv"
printf 'user_id\titem_id\tclick\n' > "$tmp/t.tsv"; tail -n +2 "$tmp/t3.csv" | tr , '\t' >> "$tmp/t.tsv"
tr '\t' ';' < "$tmp/t.tsv" > "$tmp/t.ssv"
"$R" preprocess "${g[@]}" --data_path "$tmp/t3.csv" --output_path "$tmp/c1" >/dev/null 2>&1
"$R" preprocess "${g[@]}" --data_path "$tmp/t.tsv" --output_path "$tmp/c2" --input_data_format tsv >/dev/null 2>&1
same_tree "$tmp/c1" "$tmp/c2" && pass "--input_data_format tsv reads tab-separated input" || fail "TSV input differs"
"$R" preprocess "${g[@]}" --data_path "$tmp/t.ssv" --output_path "$tmp/c3" --csv_sep ';' >/dev/null 2>&1
same_tree "$tmp/c1" "$tmp/c3" && pass "--csv_sep ';'" || fail "--csv_sep input differs"
"$R" preprocess "${g[@]}" --data_path "$tmp/t.tsv" --output_path "$tmp/c3b" --csv_sep tab >/dev/null 2>&1
same_tree "$tmp/c1" "$tmp/c3b" && pass "--csv_sep tab" || fail "--csv_sep tab input differs"
"$R" convert "$tmp/t3.csv" "$tmp/t3.parquet" >/dev/null
"$R" preprocess "${g[@]}" --data_path "$tmp/t3.parquet" --output_path "$tmp/c4" --input_data_format parquet >/dev/null 2>&1
same_tree "$tmp/c1" "$tmp/c4" && pass "--input_data_format parquet gives the same output as the CSV" || fail "Parquet input differs"
mkdir -p "$tmp/pq"; cp "$tmp/t3.parquet" "$tmp/pq/part_0.parquet"
"$R" preprocess "${g[@]}" --data_path "$tmp/pq" --output_path "$tmp/c4b" --input_data_format parquet >/dev/null 2>&1
same_tree "$tmp/c1" "$tmp/c4b" && pass "--input_data_format parquet reads a folder of parts" || fail "Parquet folder input differs"
gzip -c "$tmp/t3.csv" > "$tmp/t3.csv.gz"
"$R" preprocess "${g[@]}" --data_path "$tmp/t3.csv.gz" --output_path "$tmp/c4c" >/dev/null 2>&1
same_tree "$tmp/c1" "$tmp/c4c" && pass "a gzip CSV gives the same output" || fail "gzip CSV input differs"
err=$("$R" preprocess "${g[@]}" --data_path "$tmp/t3.parquet" --output_path "$tmp/c5" 2>&1); rc=$?
expect_status $rc 2 "a Parquet file read as CSV is a usage error"
expect_contains "$err" "--input_data_format parquet" "and says which flag to use"
err=$("$R" preprocess "${g[@]}" --data_path "$tmp/t3.csv" --input_data_format parquet --output_path "$tmp/c5" 2>&1); rc=$?
expect_status $rc 2 "a CSV file read with --input_data_format parquet is a usage error"
expect_contains "$err" "is not a .parquet file" "and says so"
[ ! -e "$tmp/c5" ] && pass "nothing is left at the output path of a failed run" || fail "a failed run left $tmp/c5"
for codec in snappy gzip lz4_raw uncompressed zstd; do
  zerr=$("$R" preprocess "${g[@]}" --data_path "$tmp/t3.csv" --output_path "$tmp/z" --compression $codec 2>&1) || echo "  preprocess --compression $codec failed: $zerr"
  i=$("$R" inspect --stats false "$tmp/z/train")
  [ "$(echo "$i" | grep -o 'codec [a-z0-9_]*' | sort -u)" = "codec $codec" ] && pass "--compression $codec: every part uses $codec" \
    || fail "--compression $codec: $(echo "$i" | grep -o 'codec [a-z0-9_]*' | sort -u | tr '\n' ' ')"
done
"$R" convert "$tmp/z/train/part_9.parquet" "$tmp/z9.csv" >/dev/null && "$R" convert "$tmp/c1/train/part_9.parquet" "$tmp/c9.csv" >/dev/null
cmp -s "$tmp/z9.csv" "$tmp/c9.csv" && pass "the codec does not change the values" || fail "--compression changes the values"

# ---- eval and predict inputs ----
n_a=$(( small * 3 / 5 ))
head -n $((n_a + 1)) "$fr" > "$tmp/a.csv"; (head -n 1 "$fr"; tail -n +$((n_a + 2)) "$fr") > "$tmp/b.csv"
cut -d, -f1,2,7- "$tmp/b.csv" > "$tmp/p.csv"   # no click, follow, like, share
e=(--data_path "$tmp/a.csv" --csv_na_values '\N' --categorical_features user_id,item_id,gender --continuous_features age
   --continuous_features_fillna median --control_features rid --binary_classif_targets click --target_encoding_features item_id
   --target_encoding_targets click --user_id_feature user_id --min_user_freq 3 --to_int8 gender --output_num_partitions 1 --quiet)
"$R" preprocess "${e[@]}" --output_path "$tmp/e" --eval_data_path "$tmp/b.csv" --predict_data_path "$tmp/p.csv" >/dev/null 2>&1
expect_status $? 0 "--eval_data_path and --predict_data_path"
[ "$(json_num "$tmp/e/preprocess_report.json" eval)" = $(( small - n_a )) ] && pass "eval data is not frequency-filtered (every row of b.csv)" \
  || fail "eval rows: $(json_num "$tmp/e/preprocess_report.json" eval), expected $(( small - n_a ))"
[ "$(json_num "$tmp/e/preprocess_report.json" predict)" = $(( small - n_a )) ] && pass "predict/ has every row of the predict input" \
  || fail "predict rows: $(json_num "$tmp/e/preprocess_report.json" predict)"
grep -q '"click"' "$tmp/e/predict/.merlin/schema.json" && fail "predict/'s schema lists the target" || pass "predict/'s schema has no targets"
grep -q '"click"' "$tmp/e/eval/.merlin/schema.json" && pass "eval/'s schema has the targets" || fail "eval/'s schema lacks the target"
expect_contains "$(as_csv "$tmp/e/predict/part_0.parquet" | head -1)" "rid,user_id,item_id,gender,age,TE_item_id_click" \
  "predict/ holds the features and target encodings, no target column"
"$R" preprocess "${e[@]}" --output_path "$tmp/eq" --eval_data_path "$tmp/b.csv" --predict_data_path "$tmp/p.csv" --filter_query 'age >= 3' >/dev/null 2>&1
if [ $have_duckdb = 1 ]; then
  {
    echo "CREATE VIEW a AS SELECT * FROM read_csv('$tmp/a.csv', nullstr = '\N');"
    echo "CREATE VIEW b AS SELECT * FROM read_csv('$tmp/b.csv', nullstr = '\N');"
    echo "CREATE VIEW ev AS SELECT * FROM read_parquet('$tmp/e/eval/*.parquet', file_row_number = true);"
    echo "CREATE TABLE u AS SELECT file_row_number AS id, user_id AS v FROM read_parquet('$tmp/e/workflow/categories/unique.user_id.parquet', file_row_number = true);"
    echo "SELECT 'eval rows keep b.csv rows in order, users unseen in train get id 2',
      (SELECT list(rid ORDER BY file_row_number) FROM ev) = (SELECT list(rid ORDER BY rid) FROM b)
      AND (SELECT bool_and(CASE WHEN u.id IS NULL THEN ev.user_id = 2 ELSE ev.user_id = u.id END)
           FROM ev JOIN b USING (rid) LEFT JOIN u ON u.v = b.user_id AND u.id >= 3)
      AND (SELECT count(*) > 0 FROM ev WHERE user_id = 2)
    UNION ALL SELECT 'the filter query applies to the data and eval inputs, not to predict',
      (SELECT count(*) FROM '$tmp/eq/train/*.parquet') = (SELECT count(*) FROM a WHERE age >= 3 AND user_id IN
         (SELECT user_id FROM a WHERE age >= 3 GROUP BY 1 HAVING count(*) >= 3))
      AND (SELECT count(*) FROM '$tmp/eq/eval/*.parquet') = (SELECT count(*) FROM b WHERE age >= 3)
      AND (SELECT count(*) FROM '$tmp/eq/predict/*.parquet') = (SELECT count(*) FROM b)
    UNION ALL SELECT 'the report has the rows that train/, eval/ and predict/ hold',
      (SELECT count(*) FROM '$tmp/e/train/*.parquet') = $(json_num "$tmp/e/preprocess_report.json" train)
      AND (SELECT count(*) FROM ev) = $(json_num "$tmp/e/preprocess_report.json" eval)
      AND (SELECT count(*) FROM '$tmp/e/predict/*.parquet') = $(json_num "$tmp/e/preprocess_report.json" predict);"
  } > "$tmp/e.sql"
  duck_checks --script "$tmp/e.sql"
fi
err=$("$R" preprocess "${e[@]}" --output_path "$tmp/e2" --eval_data_path "$tmp/b.csv" --dataset_split_strategy random --random_split_eval_perc 0.2 2>&1); rc=$?
expect_status $rc 2 "--eval_data_path with a split strategy is a usage error"
expect_contains "$err" "cannot be combined" "and says why"
# A cached eval stage holds ids numbered after the data input's: another data input with the
# same eval input must not reuse it.
tail -n +2 "$tmp/a.csv" | sort -t, -k2,2n -s | (head -n 1 "$tmp/a.csv"; cat) > "$tmp/a2.csv"
"$R" preprocess "${e[@]}" --output_path "$tmp/ec" --eval_data_path "$tmp/b.csv" --persist_intermediate_files >/dev/null 2>&1
"$R" preprocess "${e[@]/$tmp\/a.csv/$tmp/a2.csv}" --output_path "$tmp/ec" --eval_data_path "$tmp/b.csv" --persist_intermediate_files >/dev/null 2>&1
"$R" preprocess "${e[@]/$tmp\/a.csv/$tmp/a2.csv}" --output_path "$tmp/ecf" --eval_data_path "$tmp/b.csv" >/dev/null 2>&1
same_tree "$tmp/ec" "$tmp/ecf" && pass "a cached eval stage is not reused after the data input changed" \
  || fail "the eval stage cached with another data input was reused (wrong ids)"
# A run without eval data on an output that has eval/: the old eval/ is removed, not mixed in.
"$R" preprocess "${e[@]}" --output_path "$tmp/e" >/dev/null 2>&1
[ ! -e "$tmp/e/eval" ] && [ ! -e "$tmp/e/predict" ] && pass "a later run without eval or predict data removes the old eval/ and predict/" \
  || fail "an old eval/ or predict/ was left next to a new train/"

# ================================================================================================
# Bad input: a clear error, exit 1, the previous output untouched, no temporary folder
# ================================================================================================
cp -a "$tmp/h1" "$tmp/h1.before"
intact() {
  same_all "$tmp/h1" "$tmp/h1.before" && pass "$1: the previous output is intact" || fail "$1: the failed run changed the output"
  no_tmp "$tmp/h1" || fail "$1: a .reckon-tmp folder is left"
}
err=$("$R" preprocess "${h[@]}" --output_path "$tmp/h1" --to_int8 num 2>&1); rc=$?
expect_status $rc 1 "a float that is not whole cannot become int8"
expect_contains "$err" "value '1.5' in '$tmp/h.csv' row 1, column 'num'" "the error names the file, row, column and value"
intact "non-whole float"
for pair in categorical_features:user,item,cat,nope continuous_features:nope control_features:nope user_id_feature:nope \
            item_id_feature:nope timestamp_feature:nope session_id_feature:nope binary_classif_targets:click,nope \
            regression_targets:nope target_encoding_features:nope; do
  flag=${pair%%:*}; value=${pair#*:}
  err=$("$R" preprocess "${h[@]}" --output_path "$tmp/h1" --persist_intermediate_files --$flag "$value" 2>&1); rc=$?
  [ $rc = 1 ] && case "$err" in *"--$flag names column 'nope'"*) true ;; *) false ;; esac \
    && pass "a missing column in --$flag: exit 1, the error names the flag and the column" \
    || fail "missing column in --$flag: exit $rc, $err"
done
intact "missing columns"
printf 'user,item,cat,num,ts,sess,ctl,click,rating\n1,10,a,1.5,100,s1,x,1,2.5\n300,11,b,2,110,s1,y,0,3.0\n' > "$tmp/big.csv"
err=$("$R" preprocess "${h[@]/$tmp\/h.csv/$tmp/big.csv}" --output_path "$tmp/h1" --to_int8 user 2>&1); rc=$?
expect_status $rc 1 "a value too large for its cast fails"
expect_contains "$err" "value '300' in '$tmp/big.csv' row 2, column 'user' does not fit int8" "the error names the file, row, column, value and type"
intact "value too large"
printf 'user,item,cat,num,ts,sess,ctl,click,rating\n1,10,a,1.5,100,s1,x,1,2.5\n2,11,b,2.x,110,s1,y,0,3.0\n' > "$tmp/nan.csv"
err=$("$R" preprocess "${h[@]/$tmp\/h.csv/$tmp/nan.csv}" --output_path "$tmp/h1" --to_float32 num 2>&1); rc=$?
expect_status $rc 1 "a non-numeric value in a --to_float32 column fails"
expect_contains "$err" "value '2.x' in '$tmp/nan.csv' row 2, column 'num'" "the error names the row, column and value"
printf 'user,item,cat,num,ts,sess,ctl,click,rating\n1,10,a,1.5,100,s1,x,1,2.5\nu2,11,b,2,110,s1,y,0,3.0\n' > "$tmp/str.csv"
err=$("$R" preprocess "${h[@]/$tmp\/h.csv/$tmp/str.csv}" --output_path "$tmp/h1" --to_int32 user 2>&1); rc=$?
expect_status $rc 1 "a non-numeric value in a --to_int32 column fails"
expect_contains "$err" "value 'u2' in '$tmp/str.csv' row 2, column 'user'" "the error names the row, column and value"
(echo 'user,item,cat,num,ts,sess,ctl,click,rating'; for i in $(seq -100 99); do echo "$i,10,a,1,1,s,x,1,1"; done) > "$tmp/wide.csv"
err=$("$R" preprocess "${h[@]/$tmp\/h.csv/$tmp/wide.csv}" --output_path "$tmp/h1" --to_int8 user 2>&1); rc=$?
expect_status $rc 1 "a vocabulary whose ids do not fit the cast type fails"
expect_contains "$err" "does not fit int8" "and says so"
err=$("$R" preprocess "${h[@]/$tmp\/h.csv/$tmp/missing.csv}" --output_path "$tmp/h1" 2>&1); rc=$?
expect_status $rc 1 "a missing input file fails"
expect_contains "$err" "missing.csv" "and names it"
intact "bad values"
err=$("$R" preprocess "${h[@]/user,item,cat/user,item,num}" --continuous_features num --output_path "$tmp/h1" 2>&1); rc=$?
expect_status $rc 2 "a column both categorical and continuous is a usage error"
err=$("$R" preprocess --data_path "$tmp/h.csv" --output_path "$tmp/h1" 2>&1); rc=$?
expect_status $rc 2 "no column to preprocess is a usage error"
err=$("$R" preprocess "${h[@]}" --output_path "$tmp/h1" --min_user_freq 2 2>&1); rc=$?
expect_status $rc 2 "--min_user_freq without --user_id_feature is a usage error"
err=$("$R" preprocess "${h[@]}" --output_path "$tmp/h1" --continuous_features_fillna mean 2>&1); rc=$?
expect_status $rc 2 "--continuous_features_fillna takes a number or median"
intact "usage errors"
[ ! -e "$tmp/h1/_cache" ] && pass "a failed run with --persist_intermediate_files leaves no _cache" || fail "a failed run left _cache"

# ================================================================================================
# The flags' surface
# ================================================================================================
out=$("$R" preprocess "${h[@]}" --output_path "$tmp/g1" --enable_dask_cuda_cluster --dask_cuda_visible_gpu_devices 0,1 \
  --dask_cuda_gpu_device_spill_frac 0.7 --visible_gpu_devices 0 --gpu_device_spill_frac 0.5 --device gpu 2>&1); rc=$?
expect_status $rc 0 "the reference's GPU and Dask flags are accepted"
for flag in enable_dask_cuda_cluster dask_cuda_visible_gpu_devices dask_cuda_gpu_device_spill_frac visible_gpu_devices \
            gpu_device_spill_frac device; do
  case "$out" in *"--$flag has no effect"*) ;; *) fail "--$flag does not say it has no effect" ;; esac
done
pass "each GPU flag prints a note that it has no effect"
same_tree "$tmp/g1" "$tmp/h3" && pass "and the output is the same as without them" || fail "the GPU flags changed the output"
printf 'data_path: %s\noutput_path: %s\ncategorical_features: [user, item, cat]\ncontinuous_features: num\ncontrol_features: ctl\nbinary_classif_targets: click\nregression_targets: rating\noutput_num_partitions: 3\ncontinuous_features_fillna: 7\n' \
  "$tmp/h.csv" "$tmp/y1" > "$tmp/run.yaml"
"$R" preprocess --config "$tmp/run.yaml" --quiet >/dev/null 2>&1
expect_status $? 0 "--config reads the flags from YAML (lists as sequences too)"
[ "$(nparts "$tmp/y1/train")" = 3 ] && pass "the YAML run writes its output" || fail "the YAML run wrote $(nparts "$tmp/y1/train") parts"
"$R" preprocess --config "$tmp/run.yaml" --output_num_partitions 1 --output_path "$tmp/y2" --quiet >/dev/null 2>&1
same_tree "$tmp/y2" "$tmp/h1" && pass "flags on the command line win over the YAML file (same output as the flags alone)" \
  || fail "the YAML run with --output_num_partitions 1 differs from the plain run"
help=$("$R" preprocess --help)
missing=""
for flag in $(grep -o '^| `--[a-z0-9_]*`' "$RECKON_SOURCE_DIR/docs/cli/preprocess.md" | tr -d '|` '); do
  case "$help" in *"$flag "*|*"$flag"$'\n'*) ;; *) missing="$missing $flag" ;; esac
done
for flag in data_path input_data_path eval_data_path predict_data_path input_data_format csv_sep csv_na_values output_path \
  output_num_partitions persist_intermediate_files control_features categorical_features continuous_features \
  continuous_features_fillna user_features item_features user_id_feature item_id_feature timestamp_feature \
  session_id_feature binary_classif_targets regression_targets target_encoding_features target_encoding_targets \
  target_encoding_kfold target_encoding_smoothing to_int32 to_int16 to_int8 to_float32 categ_min_freq_capping \
  min_user_freq max_user_freq min_item_freq max_item_freq num_max_rounds_filtering filter_query dataset_split_strategy \
  random_split_eval_perc dataset_split_temporal_timestamp random_seed compression enable_dask_cuda_cluster \
  dask_cuda_visible_gpu_devices dask_cuda_gpu_device_spill_frac visible_gpu_devices gpu_device_spill_frac device; do
  case "$help" in *"--$flag"*) ;; *) missing="$missing --$flag" ;; esac
done
[ -z "$missing" ] && pass "--help lists every flag of the reference and of docs/cli/preprocess.md" || fail "--help lacks$missing"
finish
