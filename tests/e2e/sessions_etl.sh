#!/usr/bin/env bash
# `reckon preprocess` session mode and `reckon transform` on raw events (issue 17): on a small
# generated click log (no header, ISO-8601 times, consecutive repeats, null sessions, prices,
# users, a context column), DuckDB recomputes every session's item list (dedup with lag, ids by
# descending frequency, last 20) and the sessions per day from the raw input; the output is the
# same bytes for 1 and 2 threads; transform on the shuffled raw events gives the ETL's rows; bad
# input is refused with file, row, column and value and leaves nothing; every flag has its effect.
set -u
source "$(dirname "$0")/lib.bash"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
R="$RECKON_BIN"
peers="$RECKON_SOURCE_DIR/build/peers/node_modules"
have_duckdb=0
[ -d "$peers/@duckdb/node-api" ] && have_duckdb=1
duck() { NODE_PATH="$peers" node "$RECKON_SOURCE_DIR/bench/peers/duckdb_query.js" "$@" | sed 's/.*"rows":\(.*\),"best_s".*/\1/'; }

# 600 sessions starting over 5 days from 05:00 (so 6 calendar days): session_id, timestamp (ISO, ms), item_id, category, price, user_id,
# country; rows in time order across sessions, as a real log; a session's times are distinct.
python3 - "$tmp" <<'PY'
import datetime, random, sys
random.seed(7)
base = datetime.datetime(2014, 4, 1, 5, 0, 0, tzinfo=datetime.timezone.utc)
rows = []
for s in range(1, 601):
    t = base + datetime.timedelta(seconds=random.randint(0, 5 * 86400 - 4000))
    item = random.randint(1, 120)
    user, country = random.randint(1, 40), random.choice("ABCD")
    for i in range(random.randint(1, 28)):
        if random.random() > 0.3:
            item = random.randint(1, 120) if random.random() < 0.5 else random.randint(1, 10)
        t += datetime.timedelta(seconds=random.randint(1, 90), milliseconds=random.randint(0, 999))
        sid = "" if random.random() < 0.004 else str(s * 7919 % 100003)
        rows.append((t, sid, item, item % 7, round(1 + item * 0.37 + random.random(), 2), user, country))
rows.sort(key=lambda r: r[0])
with open(sys.argv[1] + "/clicks.csv", "w") as iso, open(sys.argv[1] + "/clicks_unix.csv", "w") as unix:
    for t, sid, item, cat, price, user, country in rows:
        stamp = t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000)
        iso.write("%s,%s,%d,%d,%.2f,%d,%s\n" % (sid, stamp, item, cat, price, user, country))
        unix.write("%s,%d,%d,%d,%.2f,%d,%s\n" % (sid, int(t.timestamp()), item, cat, price, user, country))
PY
cols=session_id,timestamp,item_id,category,price,user_id,country
base=(preprocess --data_path "$tmp/clicks.csv" --csv_header false --csv_column_names $cols
      --session_id_feature session_id --timestamp_feature timestamp --item_id_feature item_id
      --categorical_features item_id,category --quiet)

# ---- the notebook's defaults; bytes do not depend on threads ----
"$R" "${base[@]}" --output_path "$tmp/o1" --threads 1 --session_spill_partitions 3 2>"$tmp/err"
expect_status $? 0 "session mode runs on a header-less ISO-8601 click log"
ls "$tmp/o1" | tr '\n' ' ' > "$tmp/ls"
expect_contains "$(cat "$tmp/ls")" "1 2 3 4 5 6 preprocess_report.json sessions workflow" "calendar-day folders 1..6 (5 days from 05:00 reach a sixth), sessions/, workflow/ and the report"
expect_contains "$(ls "$tmp/o1/3")" "test.parquet" "a day folder holds train, valid and test"
"$R" "${base[@]}" --output_path "$tmp/o2" --threads 2 --session_spill_partitions 3 2>/dev/null
same=1
for f in $(cd "$tmp/o1" && find . -type f ! -name preprocess_report.json ! -name .reckon-output | sort); do
  cmp -s "$tmp/o1/$f" "$tmp/o2/$f" || { same=0; echo "differs: $f"; }
done
[ $same = 1 ] && pass "every output file is byte-identical for --threads 1 and 2" || fail "outputs differ across threads"
s=$("$R" inspect --stats false "$tmp/o1/sessions")
expect_contains "$s" "item_id-list_seq         int64[]" "the item list is named as NVTabular names it, with the _seq suffix"
echo "$s" | grep -qE '^ +item_id-list_seq .*item_id,categorical,item,list$' && pass "the item list is tagged item_id, categorical, item, list" \
  || fail "item list tags: $(echo "$s" | grep item_id-list)"
for c in et_dayofweek_sin-list_seq et_dayofweek_cos-list_seq product_recency_days_log_norm-list_seq item_id-count timestamp-first day_index; do
  expect_contains "$s" "$c" "the output has $c"
done
grep -A3 '"item_id-list_seq"' "$tmp/o1/sessions/schema.pbtxt" | grep -q 'value_count' && pass "schema.pbtxt gives the lists a value_count" \
  || fail "no value_count in schema.pbtxt"
grep -A4 'value_count' "$tmp/o1/sessions/schema.pbtxt" | grep -q 'max: 20' && pass "value_count max is --session_max_length (20)" \
  || fail "value_count max is not 20"
expect_contains "$(cat "$tmp/o1/preprocess_report.json")" '"null_sessions": ' "the report counts the null sessions dropped"
[ -z "$(ls -A "$tmp/o1" | grep reckon-tmp)" ] && pass "no spill or temporary file is left" || fail "temporaries left"

if [ $have_duckdb = 1 ]; then
  raw="read_csv('$tmp/clicks.csv', header=false, columns={'session_id':'BIGINT','ts':'VARCHAR','item_id':'BIGINT','category':'BIGINT','price':'DOUBLE','user_id':'BIGINT','country':'VARCHAR'})"
  cat > "$tmp/expect.sql" <<SQL
with ev as (select * from $raw where session_id is not null),
d as (select *, lag(item_id) over (partition by session_id order by ts) as prev from ev),
k as (select * from d where prev is null or prev <> item_id),
f as (select item_id, count(*) as c from k group by item_id),
v as (select item_id, row_number() over (order by c desc, item_id) + 2 as id from f),
s as (select session_id, list(v.id order by ts) as l, count(*) as n, min(ts) as t0 from k join v using (item_id) group by session_id)
select session_id, l[greatest(n - 19, 1):n] from s where n >= 2 order by session_id
SQL
  want=$(duck "@$tmp/expect.sql")
  got=$(duck "select session_id, \"item_id-list_seq\" from read_parquet('$tmp/o1/sessions/*.parquet') order by session_id")
  [ -n "$want" ] && [ "$want" = "$got" ] && pass "DuckDB's lists (lag dedup, ids by frequency, last 20) equal every session's item list" \
    || fail "item lists differ from DuckDB's: $(printf '%s' "$want" | head -c 300) vs $(printf '%s' "$got" | head -c 300)"
  cat > "$tmp/days.sql" <<SQL
with ev as (select * from $raw where session_id is not null),
d as (select *, lag(item_id) over (partition by session_id order by ts) as prev from ev),
s as (select session_id, count(*) as n, min(cast(replace(ts, 'Z', '') as timestamp)) as t0 from d where prev is null or prev <> item_id group by session_id having count(*) >= 2)
select date_diff('day', (select date_trunc('day', min(cast(replace(ts, 'Z', '') as timestamp))) from ev), date_trunc('day', t0)) + 1 as day, count(*) from s group by 1 order by 1
SQL
  want=$(duck "@$tmp/days.sql")
  got=$(duck "select cast(regexp_extract(filename, '/(\\d+)/[a-z]+\\.parquet', 1) as bigint) as day, count(*) from read_parquet('$tmp/o1/*/*.parquet', filename=true) where filename not like '%/sessions/%' and filename not like '%/workflow/%' group by 1 order by 1")
  [ -n "$want" ] && [ "$want" = "$got" ] && pass "DuckDB's sessions per day equal the rows of each day folder" || fail "per-day counts: $want vs $got"
  fr=$(duck "select regexp_extract(filename, '([a-z]+)\\.parquet', 1) as split, count(*) from read_parquet('$tmp/o1/*/*.parquet', filename=true) where filename not like '%/sessions/%' and filename not like '%/workflow/%' group by 1 order by 1")
  n_test=$(echo "$fr" | grep -o '\["test","[0-9]*"\]' | grep -o '[0-9][0-9]*'); n_train=$(echo "$fr" | grep -o '\["train","[0-9]*"\]' | grep -o '[0-9][0-9]*')
  [ -n "$n_test" ] && [ -n "$n_train" ] && [ $((n_train * 10)) -gt $((n_test * 60)) ] && [ $((n_train * 10)) -lt $((n_test * 100)) ] \
    && pass "train holds about 8 sessions for each test one (0.8/0.1/0.1): $fr" || fail "split fractions: $fr"
  # the float features, recomputed: recency (days since the item's first click, clipped, log1p,
  # z-score), price log z-score, price relative to the category's mean, weekday sine
  "$R" "${base[@]}" --output_path "$tmp/o3" --continuous_features price --relative_price_feature price,category 2>/dev/null
  cat > "$tmp/features.sql" <<SQL
with ev as (select *, epoch_us(cast(replace(ts, 'Z', '') as timestamp)) as us from $raw where session_id is not null),
first as (select item_id, min(us) as f from ev group by item_id),
d as (select ev.*, lag(item_id) over (partition by session_id order by us) as prev from ev),
k as (select d.*, ln(1 + greatest((us - f) / 86400e6, 0)) as r, ln(1 + price) as lp, avg(price) over (partition by category) as m
      from d join first using (item_id) where prev is null or prev <> item_id),
z as (select *, (r - avg(r) over ()) / stddev_samp(r) over () as rz, (lp - avg(lp) over ()) / stddev_samp(lp) over () as pz,
             (price - m) / m as rel, sin(2 * pi() * (isodow(to_timestamp(us / 1e6)) - 1 + 1e-6) / 7) as wd from k),
e as (select session_id, list(rz order by us) as rz, list(pz order by us) as pz, list(rel order by us) as rel,
             list(wd order by us) as wd, count(*) as n from z group by session_id having count(*) >= 2),
g as (select session_id, "product_recency_days_log_norm-list_seq" as rz, "price_log_norm-list_seq" as pz,
             "relative_price_to_avg_category-list_seq" as rel, "et_dayofweek_sin-list_seq" as wd from read_parquet('$tmp/o3/sessions/*.parquet'))
select count(*), greatest(
  max(list_max(list_transform(range(1, len(g.rz) + 1), lambda i: abs(e.rz[greatest(e.n - 19, 1) + i - 1] - g.rz[i])))),
  max(list_max(list_transform(range(1, len(g.pz) + 1), lambda i: abs(e.pz[greatest(e.n - 19, 1) + i - 1] - g.pz[i])))),
  max(list_max(list_transform(range(1, len(g.rel) + 1), lambda i: abs(e.rel[greatest(e.n - 19, 1) + i - 1] - g.rel[i])))),
  max(list_max(list_transform(range(1, len(g.wd) + 1), lambda i: abs(e.wd[greatest(e.n - 19, 1) + i - 1] - g.wd[i]))))) < 1e-5
from e join g using (session_id)
SQL
  got=$(duck "@$tmp/features.sql")
  n_sessions=$(duck "select count(*) from read_parquet('$tmp/o3/sessions/*.parquet')" | tr -dc '0-9')
  [ "$got" = "[[\"$n_sessions\",true]]" ] && pass "DuckDB's recency, price z-score, relative price and weekday agree with every list within 1e-5" \
    || fail "float features differ from DuckDB's: $got (sessions $n_sessions)"
fi

# ---- transform on the raw events, shuffled, gives the ETL's rows ----
"$R" "${base[@]}" --output_path "$tmp/one" --session_spill_partitions 1 2>/dev/null
shuf --random-source=<(yes) "$tmp/clicks.csv" > "$tmp/shuffled.csv"
"$R" transform --quiet --workflow "$tmp/one/workflow" --csv_header false --csv_column_names $cols "$tmp/shuffled.csv" "$tmp/tx.parquet"
expect_status $? 0 "transform reads raw events with a session workflow"
"$R" convert "$tmp/tx.parquet" "$tmp/tx.csv" >/dev/null; "$R" convert "$tmp/one/sessions/part_0.parquet" "$tmp/etl.csv" >/dev/null
cmp -s "$tmp/tx.csv" "$tmp/etl.csv" && pass "transform on the shuffled raw log writes exactly the ETL's rows (ids, floats, list order)" \
  || fail "transform differs from the ETL: $(diff "$tmp/tx.csv" "$tmp/etl.csv" | head -c 400)"
sid=$(sed -n 2p "$tmp/etl.csv" | cut -d, -f1)
grep "^$sid," "$tmp/shuffled.csv" > "$tmp/one_session.csv"
"$R" transform --quiet --workflow "$tmp/one/workflow" --csv_header false --csv_column_names $cols "$tmp/one_session.csv" "$tmp/one.csv"
[ "$(sed -n 2p "$tmp/one.csv")" = "$(sed -n 2p "$tmp/etl.csv")" ] && pass "one session's events alone give its ETL row" \
  || fail "one session: $(sed -n 2p "$tmp/one.csv" | head -c 200)"
"$R" transform --quiet --workflow "$tmp/one/workflow" --csv_header false --csv_column_names $cols "$tmp/shuffled.csv" "$tmp/txdir"
expect_contains "$("$R" inspect --stats false "$tmp/txdir")" "item_id,categorical,item,list" "transform into a folder writes the session schema"

msg=$("$R" transform --quiet --workflow "$tmp/one/workflow" "$tmp/shuffled.csv" "$tmp/nohdr.parquet" 2>&1)
expect_status $? 1 "transform of a header-less log without --csv_header false fails"
expect_contains "$msg" "--csv_header false and --csv_column_names" "that error says how to read a header-less log"
[ ! -e "$tmp/nohdr.parquet" ] && pass "and writes nothing" || fail "a failed transform left $tmp/nohdr.parquet"

# ---- flags ----
"$R" "${base[@]}" --output_path "$tmp/f1" --session_pad --session_max_length 5 --session_list_suffix "" \
  --dedup_consecutive_items false --session_min_length 3 --session_time_features et_dayofweek_sin \
  --continuous_features price --relative_price_feature price,category --user_id_feature user_id \
  --session_context_features country --session_output_layout padded_index --session_split_fracs 1,0,0 2>/dev/null
expect_status $? 0 "every session flag together"
"$R" convert "$tmp/f1/sessions/part_0.parquet" "$tmp/f1.csv" >/dev/null
h=$(head -1 "$tmp/f1.csv")
expect_contains "$h" "session_id,item_id-list,category-list,et_dayofweek_sin-list,price_log_norm-list,relative_price_to_avg_category-list,item_id-count,timestamp-first,user_id-first,country-first,day_index" \
  "--session_list_suffix '', --session_time_features, --continuous_features, --relative_price_feature, --user_id_feature, --session_context_features name the columns"
grep -A4 'value_count' "$tmp/f1/sessions/schema.pbtxt" | grep -q 'min: 5' && pass "--session_pad pads every list to --session_max_length (value_count min 5)" \
  || fail "--session_pad: value_count min is not 5"
awk -F'"' 'NR > 1 { n = split($2, a, ","); if (n != 5) bad = 1 } END { exit bad }' "$tmp/f1.csv" && pass "every padded list has 5 items" || fail "padded lists are not 5 long"
min_count=$(awk -F, 'NR > 1 { c = $(NF - 4); if (m == "" || c < m) m = c } END { print m }' "$tmp/f1.csv")
[ "$min_count" -ge 3 ] && pass "--session_min_length 3 drops shorter sessions (shortest: $min_count)" || fail "--session_min_length: shortest $min_count"
[ -d "$tmp/f1/0001" ] && [ "$(ls "$tmp/f1" | grep -c '^000[1-6]$')" = 6 ] && pass "--session_output_layout padded_index writes 0001..0006" || fail "padded_index: $(ls "$tmp/f1")"
"$R" convert "$tmp/f1/0002/valid.parquet" "$tmp/v.csv" >/dev/null
[ "$(wc -l < "$tmp/v.csv")" = 1 ] && pass "--session_split_fracs 1,0,0 leaves valid empty" || fail "valid has $(wc -l < "$tmp/v.csv") lines"
r1=$(grep -o '"repeats_dropped": [0-9]*' "$tmp/f1/preprocess_report.json"); r0=$(grep -o '"repeats_dropped": [0-9]*' "$tmp/o1/preprocess_report.json")
[ "$r1" = '"repeats_dropped": 0' ] && [ "$r0" != '"repeats_dropped": 0' ] && pass "--dedup_consecutive_items false keeps repeats ($r0 by default)" || fail "dedup: $r1 / $r0"
"$R" "${base[@]}" --output_path "$tmp/f2" --session_output_layout date_files --session_window hour 2>/dev/null
expect_contains "$(ls "$tmp/f2")" "session_start_date=2014-04-01T05-train.parquet" "--session_output_layout date_files with --session_window hour names the hour's files"
[ "$(ls "$tmp/f2" | grep -c train)" -gt 50 ] && pass "--session_window hour gives a window per hour" || fail "hour windows: $(ls "$tmp/f2" | grep -c train)"
"$R" preprocess --data_path "$tmp/clicks_unix.csv" --csv_header false --csv_column_names $cols --session_id_feature session_id \
  --timestamp_feature timestamp --timestamp_format unix_s --item_id_feature item_id --categorical_features item_id,category \
  --output_path "$tmp/f3" --quiet 2>/dev/null
expect_status $? 0 "--timestamp_format unix_s reads whole seconds"
[ "$(ls "$tmp/f3" | grep -c '^[0-9]$')" = 6 ] && pass "unix seconds give the same 6 days" || fail "unix_s days: $(ls "$tmp/f3")"
awk -F, 'BEGIN { OFS = "," } { $2 = $2 "000"; print }' "$tmp/clicks_unix.csv" > "$tmp/clicks_ms.csv"
"$R" preprocess --data_path "$tmp/clicks_ms.csv" --csv_header false --csv_column_names $cols --session_id_feature session_id \
  --timestamp_feature timestamp --timestamp_format unix_ms --item_id_feature item_id --categorical_features item_id,category \
  --output_path "$tmp/f4" --quiet 2>/dev/null
cmp -s "$tmp/f3/sessions/part_0.parquet" "$tmp/f4/sessions/part_0.parquet" && pass "--timestamp_format unix_ms on the same times writes the same sessions" \
  || fail "unix_ms differs from unix_s"
"$R" convert --csv_header false --csv_column_names $cols "$tmp/clicks.csv" "$tmp/named.csv" >/dev/null
expect_contains "$(head -1 "$tmp/named.csv")" "session_id,timestamp,item_id,category,price,user_id,country" "convert takes --csv_header false and --csv_column_names too"
[ "$(wc -l < "$tmp/named.csv")" = "$(( $(wc -l < "$tmp/clicks.csv") + 1 ))" ] && pass "the first line is read as data" || fail "named.csv lines"
printf '1,10,1\n2,20,0\n3,10,1\n' > "$tmp/tab.csv"
"$R" preprocess --data_path "$tmp/tab.csv" --csv_header false --csv_column_names user,item,click --categorical_features user,item \
  --binary_classif_targets click --output_num_partitions 1 --output_path "$tmp/tab" --quiet
"$R" convert "$tmp/tab/train/part_0.parquet" "$tmp/tab_train.csv" >/dev/null 2>&1
[ "$(wc -l < "$tmp/tab_train.csv" 2>/dev/null)" = 4 ] && pass "tabular preprocess reads a header-less CSV by --csv_column_names (3 rows)" \
  || fail "tabular preprocess with --csv_header false"

# ---- bad input: file, row, column, value; nothing written ----
sed '7s/T[0-9:.]*Z/Tnoon/' "$tmp/clicks.csv" > "$tmp/bad_ts.csv"
line7=$(sed -n 7p "$tmp/bad_ts.csv" | cut -d, -f2)
err=$("$R" "${base[@]/$tmp\/clicks.csv/$tmp/bad_ts.csv}" --output_path "$tmp/bad1" 2>&1); rc=$?
expect_status $rc 1 "a timestamp that does not parse fails"
expect_contains "$err" "cannot parse '$line7' as a iso8601 timestamp in '$tmp/bad_ts.csv' row 7, column 'timestamp'" "the error names value, file, row and column"
[ ! -e "$tmp/bad1" ] && pass "a failed run leaves no output folder" || fail "bad1 exists: $(ls -A "$tmp/bad1")"
"$R" "${base[@]}" --output_path "$tmp/keep" 2>/dev/null; before=$(cd "$tmp/keep" && find . -type f | sort | xargs md5sum)
"$R" "${base[@]/$tmp\/clicks.csv/$tmp/bad_ts.csv}" --output_path "$tmp/keep" >/dev/null 2>&1
[ "$before" = "$(cd "$tmp/keep" && find . -type f | sort | xargs md5sum)" ] && pass "a failed run leaves the previous output as it was" || fail "previous output changed"
err=$("$R" "${base[@]}" --timestamp_format unix_ms --output_path "$tmp/bad2" 2>&1)
expect_contains "$err" "cannot parse '2014-04-01T" "ISO text read as unix_ms is refused with its value"
err=$("$R" "${base[@]}" --item_id_feature nope --output_path "$tmp/bad3" 2>&1); rc=$?
expect_status $rc 1 "a missing column fails"
expect_contains "$err" "'nope'" "the error names the missing column"
: > "$tmp/empty.csv"
err=$("$R" "${base[@]/$tmp\/clicks.csv/$tmp/empty.csv}" --output_path "$tmp/bad4" 2>&1)
expect_status $? 1 "an empty input fails"
[ ! -e "$tmp/bad4" ] && pass "an empty input writes nothing" || fail "bad4 exists"
err=$("$R" "${base[@]}" --session_min_length 1000 --output_path "$tmp/bad5" 2>&1)
expect_contains "$err" "no session of '$tmp/clicks.csv' has --session_min_length 1000 events" "no session long enough: a clear error"
err=$("$R" "${base[@]}" --session_split_fracs 0.5,0.1,0.1 --output_path "$tmp/bad6" 2>&1)
expect_contains "$err" "--session_split_fracs must add up to 1" "fractions that do not add up to 1 are refused"
err=$("$R" "${base[@]}" --session_time_features et_hour_sin --output_path "$tmp/bad7" 2>&1)
expect_contains "$err" "unknown --session_time_features item 'et_hour_sin'" "an unknown time feature is refused"
sed 's/^\([0-9]\)/s\1/' "$tmp/clicks.csv" > "$tmp/strid.csv"
err=$("$R" "${base[@]/$tmp\/clicks.csv/$tmp/strid.csv}" --output_path "$tmp/str" 2>&1); rc=$?
expect_status $rc 0 "session ids that are not integers are accepted"
expect_contains "$err" "are not integers: each is written as its xxh64 hash" "and the run says they are hashed"

finish
