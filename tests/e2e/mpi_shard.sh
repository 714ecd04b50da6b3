#!/usr/bin/env bash
# Tables sharded by rows over the ranks (reckon/shard.h, docs/distributed.md "Sharded tables"):
# test_shard_table run by 2, 3 and 4 processes, so its exchanges cross them: every rank's ids come
# back with the whole table's rows, a graph's lookups through the fetched rows give the whole
# table's loss and gradient, a bad id stops every rank (none waits), Adam, Adagrad and
# FTRL on the shards end with the whole table's bits, and a checkpoint saved by N ranks loads as
# 1 to 4 ranks' shards. Skipped (with the reason) without MPI or mpirun.
set -u
source "$(dirname "$0")/lib.bash"
R=$RECKON_BIN
if ! "$R" --version | grep -q '^features:.*\bmpi\b'; then
  echo "skipped: reckon was built without MPI (install libopenmpi-dev and reconfigure)"; exit 0
fi
if ! command -v mpirun >/dev/null; then echo "skipped: no mpirun (Debian: openmpi-bin)"; exit 0; fi
unit=$(dirname "$R")/test_shard_table
[ -x "$unit" ] || { fail "test_shard_table is built beside reckon"; finish; }
# OpenMPI's own allocations outlive MPI_Finalize, so LeakSanitizer is off under mpirun (as in
# mpi_train.sh); ctest runs the same binary alone with leaks checked.
mpi_asan="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
export OMPI_MCA_btl_vader_single_copy_mechanism=none
for n in 2 3 4; do
  out=$(ASAN_OPTIONS="$mpi_asan" timeout 300 mpirun --oversubscribe --allow-run-as-root -np $n "$unit" 2>&1); rc=$?
  expect_status $rc 0 "test_shard_table passes on $n ranks (fetch, bad ids, optimizer slots, resharding)"
  [ $rc = 0 ] || printf '%s\n' "$out" | grep -E 'ERROR|FAIL' | head -5
  expect_contains "$out" "[  PASSED  ] 10 test(s)." "10 checks (all but the single-process allocation walk) ran on $n ranks"
done
finish
