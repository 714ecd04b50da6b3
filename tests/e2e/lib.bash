# Helpers for the end-to-end tests: each check prints ok/FAIL; `finish` prints the closing line
# ("N passed, N failed") and exits non-zero when any check failed.
: "${RECKON_BIN:?RECKON_BIN must name the reckon binary}"
: "${RECKON_SOURCE_DIR:?RECKON_SOURCE_DIR must name the source tree}"
e2e_pass=0
e2e_fail=0
pass() { e2e_pass=$((e2e_pass + 1)); echo "ok: $1"; }
fail() { e2e_fail=$((e2e_fail + 1)); echo "FAIL: $1"; }
expect_status() { if [ "$1" = "$2" ]; then pass "$3"; else fail "$3 (exit status $1, expected $2)"; fi; }
expect_contains() {
  case "$1" in
    *"$2"*) pass "$3" ;;
    *) fail "$3 (missing '$2' in: $(printf '%s' "$1" | head -c 600))" ;;
  esac
}
# Session data for `reckon sessions`: `reckon synth sessions` (yoochoose clicks) through the
# session ETL into day folders under DIR/days (checked: "the session ETL writes day folders").
#   session_days DIR SESSIONS DAYS ITEMS SEED
session_days() {
  "$RECKON_BIN" synth sessions --layout yoochoose --sessions "$2" --days "$3" --items "$4" --seed "$5" \
    --output "$1/clicks.csv" --quiet >/dev/null 2>&1
  "$RECKON_BIN" preprocess --data_path "$1/clicks.csv" --csv_header false \
    --csv_column_names session_id,timestamp,item_id,category --session_id_feature session_id \
    --timestamp_feature timestamp --item_id_feature item_id --categorical_features item_id,category --quiet \
    --output_path "$1/days" 2>"$1/err"
  expect_status $? 0 "the session ETL writes day folders"
}
finish() {
  echo "$e2e_pass passed, $e2e_fail failed"
  [ "$e2e_fail" = 0 ]
  exit $?
}
