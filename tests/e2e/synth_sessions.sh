#!/usr/bin/env bash
# `reckon synth sessions --layout yoochoose`: the raw click log parses as YOOCHOOSE's (no header,
# ISO-8601 times with milliseconds, rows in time order); repeats and nulls come at the asked rates;
# the bytes are the same for any thread count; the Parquet log holds the same rows with names; the
# per-session oracle rows match the sessions a brute-force ETL (python3, the standard library)
# makes of the log, and the sidecar's averages are their means. DuckDB, when installed, reads the
# log with typed columns. Bad flags leave no file.
set -u
source "$(dirname "$0")/lib.bash"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

flags=(synth sessions --layout yoochoose --sessions 3000 --days 4 --seed 5 --repeat_prob 0.25 --null_fraction 0.08
       --price --users 40 --session_max_length 6 --session_min_length 3)
"$RECKON_BIN" "${flags[@]}" --threads 1 --output "$tmp/y1.csv" >/dev/null
expect_status $? 0 "synth sessions --layout yoochoose on one thread"
"$RECKON_BIN" "${flags[@]}" --threads 2 --output "$tmp/y2.csv" >/dev/null
expect_status $? 0 "synth sessions --layout yoochoose on two threads"
for f in "" .json .oracle.parquet; do
  cmp -s "$tmp/y1.csv$f" "$tmp/y2.csv$f" && pass "y.csv$f is byte-identical for 1 and 2 threads" \
    || fail "y.csv$f differs between 1 and 2 threads"
done

"$RECKON_BIN" "${flags[@]}" --output "$tmp/y.parquet" >/dev/null
"$RECKON_BIN" convert "$tmp/y.parquet" "$tmp/y_parquet.csv" >/dev/null
expect_contains "$(head -n 1 "$tmp/y_parquet.csv")" "session_id,timestamp,item_id,category,price,user_id" \
  "the Parquet log names its columns"
tail -n +2 "$tmp/y_parquet.csv" | cmp -s - "$tmp/y1.csv" && pass "the Parquet log holds the CSV log's rows" \
  || fail "the Parquet log's rows differ from the CSV log's"
"$RECKON_BIN" convert "$tmp/y1.csv.oracle.parquet" "$tmp/oracle.csv" >/dev/null
expect_status $? 0 "the per-session oracle file reads back"

if ! command -v python3 >/dev/null; then
  echo "skip: python3 is not installed: no brute-force check of the log and the oracle"
else
  check=$(python3 - "$tmp/y1.csv" "$tmp/oracle.csv" "$tmp/y1.csv.json" <<'EOF'
import csv, datetime, json, math, re, sys
log_path, oracle_path, sidecar_path = sys.argv[1:4]
side = json.load(open(sidecar_path))
cfg = side["config"]
K, N, MIN = cfg["topk"], cfg["session_max_length"], cfg["session_min_length"]
out = []
def check(ok, what):
    out.append(("ok: " if ok else "FAIL: ") + what)

iso = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
rows = list(csv.reader(open(log_path, newline="")))
check(rows and rows[0][0].isdigit(), "the log has no header (its first field is a session id)")
check(all(len(r) == 6 for r in rows), "every row has session_id, timestamp, item_id, category, price, user_id")
check(all(iso.match(r[1]) for r in rows), "every timestamp is ISO-8601 UTC with milliseconds and Z")
epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
def ms(t):
    d = datetime.datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    return (d - epoch) // datetime.timedelta(milliseconds=1)
times = [ms(r[1]) for r in rows]
check(all(a <= b for a, b in zip(times, times[1:])), "rows are in time order")
check(rows[0][0] == "1" and rows[0][1] == "2022-01-01T00:00:00.000Z", "session 1 opens the log at midnight")
check(len(rows) == side["rows"], "the sidecar counts the rows")

# The ETL by brute force: drop null sessions, sort by (session, time), drop consecutive repeats.
sessions, null_sessions = {}, 0
for r, t in zip(rows, times):
    if r[0] == "":
        null_sessions += 1
        continue
    sessions.setdefault(int(r[0]), []).append((t, r[2]))
order = [int(r[0]) for r in rows if r[0] != ""]
interleaved = any(order[i] > order[i + 1] for i in range(len(order) - 1))
check(interleaved, "sessions interleave in the log, so grouping is needed")
repeats = null_items = chain_gaps = 0
processed = {}
for sid, ev in sessions.items():
    ev.sort()
    check_times = all(a[0] < b[0] for a, b in zip(ev, ev[1:]))
    if not check_times:
        out.append("FAIL: session %d has equal times" % sid)
    items = []
    for _, x in ev:
        if items and x == items[-1]:
            repeats += 1
        else:
            items.append(x)
    nulls = items.count("")
    if items[0] == "" or items[-1] == "" or any(a == b == "" for a, b in zip(items, items[1:])):
        out.append("FAIL: session %d has a null item first, last or twice in a row" % sid)
    null_items += nulls
    chain_gaps += len(items) - nulls - 1
    if len(items) >= MIN:
        processed[sid] = (min(len(items), N), int(items[-1]), ev[0][0])
check(repeats == side["repeat_rows"], "the sidecar counts the repeats the ETL drops (%d)" % repeats)
check(null_items == side["null_item_rows"] and null_sessions == side["null_session_rows"], "the sidecar counts the nulls")
r, f, S = cfg["repeat_prob"], cfg["null_fraction"], len(sessions)
runs = len(rows) - null_sessions - null_items   # chain clicks and their repeats
check(abs(repeats / runs - r) < 4 * math.sqrt(r * (1 - r) / runs),
      "repeats are about repeat_prob of the chain clicks and repeats (%.4f, asked %g)" % (repeats / runs, r))
check(abs(null_items / chain_gaps - f) < 4 * math.sqrt(f * (1 - f) / chain_gaps),
      "null items come before about null_fraction of the chain clicks (%.4f, asked %g)" % (null_items / chain_gaps, f))
check(abs(null_sessions / S - f) < 4 * math.sqrt(f * (1 - f) / S),
      "null-session rows are about null_fraction per session (%.4f, asked %g)" % (null_sessions / S, f))

orc = list(csv.DictReader(open(oracle_path, newline="")))
check(sorted(int(o["session_id"]) for o in orc) == sorted(processed), "one oracle row per processed session")
day0 = cfg["start_time"] // 86400   # session 1 opens the log at that midnight, kept or not
bad = [o["session_id"] for o in orc
       if (int(o["length"]), int(o["last_item_id"]), int(o["first_event_ms"])) != processed[int(o["session_id"])]
       or int(o["day_index"]) != int(o["first_event_ms"]) // 86400000 - day0 + 1]
check(not bad, "each oracle row's length, last item, first time and day_index are the ETL's (%d differ)" % len(bad))
check(all(1 >= float(o["expected_hit"]) >= float(o["expected_ndcg"]) >= float(o["expected_rr"]) > 0 for o in orc),
      "expected hit >= NDCG >= reciprocal rank, in (0, 1]")
mean = lambda col, rs: sum(float(o[col]) for o in rs) / len(rs)
o = side["oracle"]
check(o["task"] == "last_item" and o["k"] == K and o["sessions"] == len(orc), "the sidecar's oracle is the last-item task")
check(all(abs(o[key] - mean(col, orc)) < 1e-9 for key, col in
          [("recall", "expected_hit"), ("ndcg", "expected_ndcg"), ("mrr", "expected_rr"), ("realized_recall", "realized_hit")]),
      "the sidecar's Recall, NDCG, MRR and realized recall are the means of the rows")
days = {}
for row in orc:
    days.setdefault(int(row["day_index"]), []).append(row)
check([d["day_index"] for d in o["by_day"]] == sorted(days) and
      all(d["sessions"] == len(days[d["day_index"]]) and abs(d["recall"] - mean("expected_hit", days[d["day_index"]])) < 1e-9
          and abs(d["mrr"] - mean("expected_rr", days[d["day_index"]])) < 1e-9 for d in o["by_day"]),
      "the sidecar's per-day averages are the means of each day's rows")
sd = math.sqrt(o["recall"] * (1 - o["recall"]) / len(orc))
check(abs(o["realized_recall"] - o["recall"]) < 4 * sd, "last items fall in the true top K as often as expected")
print("\n".join(out))
EOF
)
  echo "$check"
  e2e_pass=$((e2e_pass + $(grep -c '^ok: ' <<<"$check")))
  e2e_fail=$((e2e_fail + $(grep -c '^FAIL: ' <<<"$check")))
  grep -q '^ok: ' <<<"$check" || fail "the python3 checks did not run"
fi

peers="$RECKON_SOURCE_DIR/build/peers/node_modules"
if [ -d "$peers/@duckdb/node-api" ]; then
  got=$(NODE_PATH="$peers" node "$RECKON_SOURCE_DIR/bench/peers/duckdb_query.js" --threads 1 \
    "SELECT count(*), count(session_id), count(item_id), min(timestamp)::VARCHAR FROM read_csv('$tmp/y1.csv', header = false,
     columns = {'session_id': 'BIGINT', 'timestamp': 'TIMESTAMP', 'item_id': 'BIGINT', 'category': 'INTEGER',
                'price': 'DOUBLE', 'user_id': 'BIGINT'})" 2>&1)
  rows=$(wc -l < "$tmp/y1.csv")
  expect_contains "$got" "[[\"$rows\"," "DuckDB reads the header-less log with typed columns and ISO timestamps"
else
  echo "skip: DuckDB is not installed under build/peers"
fi

"$RECKON_BIN" synth sessions --sessions 100 --repeat_prob 0.2 --output "$tmp/bad.csv" 2>"$tmp/err"
expect_status $? 2 "--repeat_prob with the table layout is refused"
expect_contains "$(cat "$tmp/err")" "--layout yoochoose" "the refusal names the layout it needs"
"$RECKON_BIN" synth sessions --layout yoochoose --sessions 100 --emit_truth --output "$tmp/bad.csv" 2>/dev/null
expect_status $? 2 "--emit_truth with the yoochoose layout is refused"
"$RECKON_BIN" synth sessions --layout yoochoose --sessions 100 --session_min_length 30 --output "$tmp/bad.csv" 2>"$tmp/err"
expect_status $? 1 "--session_min_length above --session_max_length is refused"
expect_contains "$(cat "$tmp/err")" "session_min_length" "the error names the flag"
[ -z "$(ls "$tmp" | grep '^bad')" ] && pass "refused runs leave no file" || fail "a refused run left $(ls "$tmp" | grep '^bad')"
finish
