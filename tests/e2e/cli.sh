#!/usr/bin/env bash
# The `reckon` command line as a user meets it: help, version, errors and exit codes, and the
# generated docs agreeing with the flag tables.
set -u
source "$(dirname "$0")/lib.bash"

out=$("$RECKON_BIN" --version)
expect_contains "$out" "reckon 0.1.0" "--version names the version"
expect_contains "$out" "features:" "--version lists the features compiled in"

out=$("$RECKON_BIN" --help)
expect_contains "$out" "usage: reckon <command>" "--help shows the usage"
expect_contains "$out" "docs" "--help lists the commands"

"$RECKON_BIN" >/dev/null 2>&1
expect_status $? 2 "no command is a usage error"

err=$("$RECKON_BIN" dosc 2>&1); rc=$?
expect_status $rc 2 "an unknown command is a usage error"
expect_contains "$err" "did you mean 'docs'" "an unknown command suggests the nearest"

err=$("$RECKON_BIN" docs --chek x 2>&1); rc=$?
expect_status $rc 2 "an unknown flag is a usage error"
expect_contains "$err" "unknown flag '--chek' for 'reckon docs'; did you mean '--check'?" "an unknown flag suggests the nearest"

err=$("$RECKON_BIN" docs --threads=-2 x 2>&1); rc=$?
expect_status $rc 2 "a negative thread count is a usage error"
expect_contains "$err" "--threads" "the error names the flag"

out=$("$RECKON_BIN" docs --help)
expect_contains "$out" "--check" "command --help lists its flags"
expect_contains "$out" "--config FILE" "command --help lists the global flags"

# The committed pages must match the flag tables.
"$RECKON_BIN" docs --check "$RECKON_SOURCE_DIR/docs/cli"
expect_status $? 0 "docs/cli agrees with the flag tables (run 'make docs' after changing flags)"

tmp=$(mktemp -d)
"$RECKON_BIN" docs "$tmp/cli" >/dev/null
expect_status $? 0 "reckon docs writes the pages"
for page in "$RECKON_SOURCE_DIR"/docs/cli/*.md; do
  cmp -s "$page" "$tmp/cli/$(basename "$page")" || fail "docs page $(basename "$page") differs from a fresh one"
done
rm -rf "$tmp"
finish
