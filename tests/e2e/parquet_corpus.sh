#!/usr/bin/env bash
# The public Parquet test corpus (apache/parquet-testing, Apache-2.0), when it is present beside
# the checkout in ../shared/data/parquet-testing/ (or RECKON_PARQUET_TESTING names its folder):
# every file either reads, with the same row count and per-column null counts as DuckDB reports,
# or is refused with a clear "unsupported: ..." (or range) error; none crashes. The corpus itself
# is not committed here: fetched files may not be, so the test runs wherever the corpus is placed.
set -u
source "$(dirname "$0")/lib.bash"
corpus="${RECKON_PARQUET_TESTING:-$RECKON_SOURCE_DIR/../shared/data/parquet-testing}"
if [ ! -d "$corpus" ]; then
  echo "skipping: no Parquet test corpus at $corpus"
  finish
fi
peers="$RECKON_SOURCE_DIR/build/peers/node_modules"
duck() { NODE_PATH="$peers" node "$RECKON_SOURCE_DIR/bench/peers/duckdb_query.js" "$@" 2>/dev/null; }
have_duckdb=0
[ -d "$peers/@duckdb/node-api" ] && have_duckdb=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

while IFS= read -r f; do
  name=${f#"$corpus"/}
  "$RECKON_BIN" inspect --json "$f" > "$tmp/out.json" 2> "$tmp/err.txt"
  rc=$?
  if [ $rc -ge 128 ]; then fail "$name: crashed (signal $((rc - 128)))"; continue; fi
  if [ $rc -ne 0 ]; then
    if grep -qE "unsupported|out of range|range error|malformed|cannot read" "$tmp/err.txt"; then
      pass "$name: refused clearly ($(head -c 120 "$tmp/err.txt"))"
    else
      fail "$name: failed without a clear reason: $(head -c 200 "$tmp/err.txt")"
    fi
    continue
  fi
  if [ $have_duckdb = 1 ]; then
    ours=$(/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["rows"], *[c["nulls"] for c in d["profile"] if c["type"] != "list"])' "$tmp/out.json" 2>/dev/null)
    cols=$(/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(",".join("count(\"%s\")" % c["name"].replace("\"", "\"\"") for c in d["profile"] if c["type"] != "list"))' "$tmp/out.json" 2>/dev/null)
    theirs=$(duck "SELECT count(*) ${cols:+, $cols} FROM read_parquet('$f')" | /usr/bin/python3 -c 'import json,sys
try:
    r = json.load(sys.stdin)["rows"][0]; n = int(r[0]); print(n, *[n - int(x) for x in r[1:]])
except Exception: print("unreadable")')
    if [ "$theirs" = "unreadable" ]; then
      pass "$name: reads (DuckDB cannot read it to compare)"
    elif [ "$ours" = "$theirs" ]; then
      pass "$name: rows and null counts agree with DuckDB"
    else
      fail "$name: rows and null counts differ (reckon: $ours, DuckDB: $theirs)"
    fi
  else
    pass "$name: reads"
  fi
done < <(find "$corpus" -name '*.parquet' | sort)
finish
