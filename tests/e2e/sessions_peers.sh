#!/usr/bin/env bash
# The session-ETL benchmark's two peers (bench/peers/sessions_duckdb.sql and sessions_pandas.py)
# checked against each other on a small raw click log (bench/peers/sessions_raw.awk), so the
# benchmark compares reckon with two scripts that do the same work: the same sessions, with the
# same item and category id lists, counts, first timestamps, day indexes and features, and the
# same per-day train/valid/test sizes (which sessions go where differs: each draws with its own
# random numbers). Both read the raw clicks on their own; DuckDB reads both outputs back.
# Skips when DuckDB (build/peers) or pandas (/usr/bin/python3) is missing.
set -u
source "$(dirname "$0")/lib.bash"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
peers="$RECKON_SOURCE_DIR/build/peers/node_modules"
bench="$RECKON_SOURCE_DIR/bench/peers"
missing=""
{ [ -d "$peers/@duckdb/node-api" ] && command -v node > /dev/null; } || missing="DuckDB (build/peers)"
/usr/bin/python3 -c 'import pandas, numpy' 2> /dev/null || missing="${missing:+$missing and }pandas (/usr/bin/python3)"
if [ -n "$missing" ]; then
  [ "${RECKON_REQUIRE_PEERS:-0}" = 1 ] && { fail "$missing missing and RECKON_REQUIRE_PEERS=1"; finish; }
  echo "skipping: $missing not installed"
  finish
fi

# 4000 clicks over 4 days, plus a null session and a null item to drop and to keep.
awk -v events=4000 -v days=4 -v seed=7 -f "$bench/sessions_raw.awk" > "$tmp/raw.csv"
printf ',2014-04-02T10:00:00.000Z,5,6\n900001,2014-04-03T10:00:00.000Z,,\n900001,2014-04-03T10:01:00.000Z,7,8\n' >> "$tmp/raw.csv"
mkdir -p "$tmp/duck" "$tmp/pandas"
if NODE_PATH="$peers" node "$bench/duckdb_query.js" --threads 2 --var "CSV=$tmp/raw.csv" --var "OUT=$tmp/duck" --var SEED=42 \
    --script "$bench/sessions_duckdb.sql" > "$tmp/duck.log" 2>&1; then pass "the DuckDB script runs"
else fail "the DuckDB script failed: $(head -c 800 "$tmp/duck.log")"; fi
if /usr/bin/python3 "$bench/sessions_pandas.py" "$tmp/raw.csv" "$tmp/pandas" 42 > "$tmp/pandas.log" 2>&1; then pass "the pandas script runs"
else fail "the pandas script failed: $(head -c 800 "$tmp/pandas.log")"; fi

# pandas writes CSV without pyarrow (lists in DuckDB's text form), else Parquet.
if ls "$tmp"/pandas/*/*/part_0.parquet > /dev/null 2>&1; then
  pd_rel="read_parquet('$tmp/pandas/*/*/*.parquet', hive_partitioning = false, filename = true)"
else
  pd_rel="read_csv('$tmp/pandas/*/*/*.csv', header = true, all_varchar = true, filename = true)"
fi
# One row per session and tool: the split from the folder name, lists as BIGINT[] and DOUBLE[].
norm="session_id::BIGINT AS sid, \"item_id-list\"::BIGINT[] AS il, \"category-list\"::BIGINT[] AS cl,
  \"et_dayofweek_sin-list\"::DOUBLE[] AS sl, \"et_dayofweek_cos-list\"::DOUBLE[] AS ol,
  \"product_recency_days_log_norm-list\"::DOUBLE[] AS rl, \"item_id-count\"::BIGINT AS n,
  \"timestamp-first\"::BIGINT AS t0, day_index::BIGINT AS day, regexp_extract(filename, 'split=([a-z]+)', 1) AS split"
# Largest difference between two float lists of equal length (1e9 when the lengths differ).
diff_of() { echo "(SELECT CASE WHEN len(d.$1) = len(p.$1) THEN coalesce(max(abs(d.$1[i] - p.$1[i])), 0) ELSE 1e9 END FROM range(1, len(d.$1) + 1) r(i))"; }
duck_checks --threads 2 \
  "CREATE TABLE d AS SELECT $norm FROM read_parquet('$tmp/duck/*/*/*.parquet', hive_partitioning = false, filename = true)" \
  "CREATE TABLE p AS SELECT $norm FROM $pd_rel" \
  "CREATE TABLE dc AS SELECT day, split, count(*) AS n FROM d GROUP BY ALL" \
  "CREATE TABLE pc AS SELECT day, split, count(*) AS n FROM p GROUP BY ALL" \
  "CREATE TABLE j AS SELECT d.sid, d.il = p.il AND d.cl = p.cl AND d.n = p.n AND d.t0 = p.t0 AND d.day = p.day AS same,
     greatest($(diff_of sl), $(diff_of ol), $(diff_of rl)) AS fdiff FROM d JOIN p USING (sid)" \
  "SELECT * FROM (VALUES
     ('both wrote sessions, each exactly once',
       (SELECT count(*) > 300 AND count(*) = count(DISTINCT sid) FROM d) AND (SELECT count(*) = count(DISTINCT sid) FROM p)),
     ('the same sessions', (SELECT count(*) FROM d) = (SELECT count(*) FROM p) AND (SELECT count(*) FROM j) = (SELECT count(*) FROM d)),
     ('the same id lists, counts, first timestamps and days', (SELECT bool_and(same) FROM j)),
     ('the same weekday and recency features (within 1e-5)', (SELECT max(fdiff) <= 1e-5 FROM j)),
     ('the same per-day train/valid/test sizes',
       (SELECT count(*) = 0 FROM ((FROM dc EXCEPT FROM pc) UNION ALL (FROM pc EXCEPT FROM dc)))
       AND (SELECT count(DISTINCT day) = 4 AND count(DISTINCT split) = 3 FROM d)),
     ('per day, train is round(0.8 n) and valid round(0.1 n)',
       (SELECT bool_and(tr = floor(0.8 * n + 0.5) AND va = floor(0.1 * n + 0.5)) FROM (SELECT day, count(*) AS n,
         count(*) FILTER (split = 'train') AS tr, count(*) FILTER (split = 'valid') AS va FROM d GROUP BY day))),
     ('lists keep the last 20 items; sessions have at least 2',
       (SELECT max(len(il)) = 20 AND min(n) >= 2 AND bool_and(len(il) = least(n, 20)) FROM d)),
     ('the null session is dropped, the null item kept as id 1', (SELECT il[1] = 1 AND n = 2 FROM d WHERE sid = 900001)),
     ('no consecutive repeats left', (SELECT count(*) = 0 FROM d, range(1, len(il)) r(i) WHERE il[i] = il[i + 1]))
   ) t(name, ok)"

# From the raw clicks: session 3's items after dedup, in time order, as DuckDB reads them by hand.
duck_checks --threads 1 \
  "CREATE TABLE raw AS SELECT * FROM read_csv('$tmp/raw.csv', header = false, auto_detect = false,
     columns = {'s': 'BIGINT', 'ts': 'TIMESTAMP', 'item': 'BIGINT', 'cat': 'BIGINT'})" \
  "CREATE TABLE d AS SELECT session_id AS sid, \"item_id-count\" AS n FROM read_parquet('$tmp/duck/*/*/*.parquet', hive_partitioning = false)" \
  "SELECT * FROM (VALUES ('item counts after dedup match the raw clicks for every session',
     (SELECT bool_and(d.n = r.n) AND count(*) = (SELECT count(*) FROM d) FROM d JOIN (SELECT s, count(*) AS n FROM (
        SELECT s, item, lag(item) OVER (PARTITION BY s ORDER BY ts) AS prev FROM raw WHERE s IS NOT NULL)
        WHERE prev IS NULL OR item IS NULL OR item <> prev GROUP BY s) r ON d.sid = r.s))) t(name, ok)"
finish
