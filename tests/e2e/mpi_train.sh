#!/usr/bin/env bash
# Data-parallel training under mpirun (docs/distributed.md): the same global batch cut into the
# same pieces gives bit-identical weights on 1, 2, 3 and 4 ranks for DLRM, an MMoE and the Wide &
# Deep recipe (--hvd); the collectives cross processes (test_dist under mpirun); a checkpoint
# written by 2 ranks resumes on 1 and on 4 to the weights of a run never stopped (and not with
# other pieces); a rank killed makes the job stop at once, a rank that hangs makes the others
# stop within RECKON_DIST_TIMEOUT, naming it; ranks started with different flags are refused.
# Skipped (with the reason) when reckon was built without MPI or mpirun is absent.
set -u
source "$(dirname "$0")/lib.bash"
R=$RECKON_BIN
mpi_require
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

# ---- the communication layer itself, across 2 and 3 processes ----
mpi_unit_passes test_dist "tree sums equal the single process's bits"

# ---- data: several row groups, so every rank's streams hold some ----
mpi_tenrec_data
base=(--train_data_path pp/train --eval_data_path pp/eval --lr 1e-3 --lr_decay_rate 0 --epochs 2 --eval_batch_size 1000
  --embeddings_dim 8 --mlp_layers 16,8 --dropout 0.1 --quiet)

same() { cmp -s "$1" "$2" && pass "$3" || fail "$3 (weights differ)"; }

# ---- DLRM: 1 rank x 4 pieces = 2 ranks x 2 = 4 ranks x 1; 3 ranks x 1 = 1 rank x 3 pieces ----
dl=("${base[@]}" --model dlrm --tasks click)
"$R" train "${dl[@]}" --train_batch_size 256 --micro_batch_size 64 --output_path o1 --save_model_path m1
"$R" train "${dl[@]}" --train_batch_size 256 --output_path o0 --save_model_path m0
mpi 2 "$R" train "${dl[@]}" --train_batch_size 128 --micro_batch_size 64 --output_path o2 --save_model_path m2; rc=$?
expect_status $rc 0 "mpirun -np 2 reckon train (dlrm) runs"
same m1/weights.safetensors m2/weights.safetensors "dlrm: 2 ranks x half the batch = 1 rank x the whole, bit for bit"
mpi 4 "$R" train "${dl[@]}" --train_batch_size 64 --output_path o4 --save_model_path m4; rc=$?
expect_status $rc 0 "mpirun -np 4 reckon train (dlrm) runs"
same m1/weights.safetensors m4/weights.safetensors "dlrm: 4 ranks = 1 rank, bit for bit"
cmp -s m0/weights.safetensors m1/weights.safetensors && fail "pieces change the sums (one piece gave the same bits as four)" \
  || pass "the check has teeth: one piece of 256 rows ends with other bits than four of 64"
"$R" train "${dl[@]}" --train_batch_size 192 --micro_batch_size 64 --output_path o3s --save_model_path m3s
mpi 3 "$R" train "${dl[@]}" --train_batch_size 64 --output_path o3 --save_model_path m3; rc=$?
expect_status $rc 0 "mpirun -np 3 reckon train runs (ranks not a power of two)"
same m3s/weights.safetensors m3/weights.safetensors "dlrm: 3 ranks = 1 rank, bit for bit"
grep -q '"auc"' o2/metrics.json && grep -q '"ranks": 2' o2/metrics.json && pass "rank 0 writes metrics.json with the eval AUC and the ranks" \
  || fail "o2/metrics.json: $(head -c 300 o2/metrics.json)"
a1=$(grep -o '"auc": [0-9.]*' o1/metrics.json | head -1); a2=$(grep -o '"auc": [0-9.]*' o2/metrics.json | head -1)
[ -n "$a1" ] && [ "$a1" = "$a2" ] && pass "the same eval AUC ($a1)" || fail "eval AUC $a1 vs $a2"
grep -q '"bytes_sent_per_step": [1-9]' o2/metrics.json && pass "metrics.json reports the bytes sent per step" \
  || fail "no bytes_sent_per_step"

# ---- an MMoE on two tasks ----
mm=("${base[@]}" --model mmoe --tasks click,like)
"$R" train "${mm[@]}" --train_batch_size 256 --micro_batch_size 128 --output_path p1 --save_model_path n1
mpi 2 "$R" train "${mm[@]}" --train_batch_size 128 --output_path p2 --save_model_path n2; rc=$?
expect_status $rc 0 "mpirun -np 2 reckon train (mmoe) runs"
same n1/weights.safetensors n2/weights.safetensors "mmoe: 2 ranks = 1 rank, bit for bit"

# ---- the Wide & Deep recipe with --hvd ----
"$R" synth outbrain --displays 1500 --seed 3 --bucket_scale 0.01 --row_group_rows 500 --output ob --quiet
wd=(--train_data_pattern ob/train --eval_data_pattern ob/eval --deep_hidden_units 32 16 --global_batch_size 512
  --eval_batch_size 2048 --num_epochs 2 --deep_dropout 0.1 --quiet)
"$R" widedeep "${wd[@]}" --micro_batch_size 256 --model_dir wk1 --results_dir wr1
mpi 2 "$R" widedeep --hvd "${wd[@]}" --model_dir wk2 --results_dir wr2; rc=$?
expect_status $rc 0 "mpirun -np 2 reckon widedeep --hvd runs (the seed's command on 2 processes)"
same wk1/model/weights.safetensors wk2/model/weights.safetensors "wide & deep: 2 processes = 1, bit for bit"
tail -1 wr2/log.json | grep -q '"map": ' && pass "rank 0 logs MAP@12 over all of the eval data" || fail "wr2/log.json: $(tail -1 wr2/log.json | cut -c1-200)"
m1=$(tail -1 wr1/log.json | grep -o '"map": [0-9.]*'); m2=$(tail -1 wr2/log.json | grep -o '"map": [0-9.]*')
[ -n "$m1" ] && [ "$m1" = "$m2" ] && pass "the same MAP@12 ($m1)" || fail "MAP@12 $m1 vs $m2"
out=$(mpi 2 "$R" widedeep "${wd[@]}" --model_dir wk3 --results_dir wr3 2>&1); rc=$?
[ $rc != 0 ] && pass "reckon widedeep under mpirun without --hvd is refused" || fail "ran without --hvd"
expect_contains "$out" "add --hvd" "saying to add --hvd"

# ---- a checkpoint from 2 ranks resumes on 1 and on 4 (4 pieces of 32 rows per step) ----
ck=(--train_data_path pp/train --model dlrm --tasks click --lr 1e-3 --lr_decay_rate 0 --epochs 12 --embeddings_dim 8
  --mlp_layers 16,8 --dropout 0.1 --checkpoint_every_steps 25 --metrics_log_frequency 25 --quiet)
"$R" train "${ck[@]}" --train_batch_size 128 --micro_batch_size 32 --output_path cfull --save_model_path cfull_m
ASAN_OPTIONS="$mpi_asan" mpirun --oversubscribe --allow-run-as-root -np 2 "$R" train "${ck[@]}" --train_batch_size 64 \
  --micro_batch_size 32 --output_path ckill --save_model_path ckill_m >/dev/null 2>&1 & mp=$!
kill_after_checkpoint $mp ckill 50 ranks
[ -n "$killed_step" ] && pass "2 ranks killed with SIGKILL after checkpoint step $killed_step" || fail "the 2-rank run ended before it could be killed"
[ -f ckill/checkpoint/weights.safetensors ] && [ ! -e ckill_m ] && pass "their checkpoint survives, no model folder" \
  || fail "checkpoint or model folder after the kill"
cp -r ckill ckill4
cp -r ckill ckillp
err=$("$R" train "${ck[@]}" --train_batch_size 128 --micro_batch_size 32 --output_path ckill --save_model_path ckill_m \
  --resume --quiet=false 2>&1); rc=$?
expect_status $rc 0 "1 rank resumes the 2 ranks' checkpoint"
expect_contains "$err" "resuming from step" "saying where"
same cfull_m/weights.safetensors ckill_m/weights.safetensors "the resumed run ends with the bits of a run never stopped"
mpi 4 "$R" train "${ck[@]}" --train_batch_size 32 --output_path ckill4 --save_model_path ckill4_m --resume; rc=$?
expect_status $rc 0 "4 ranks resume the 2 ranks' checkpoint"
same cfull_m/weights.safetensors ckill4_m/weights.safetensors "and end with the same bits"
err=$("$R" train "${ck[@]}" --train_batch_size 128 --micro_batch_size 64 --output_path ckillp --resume 2>&1); rc=$?
expect_status $rc 2 "resuming with other pieces is refused (the streams would cut the epoch otherwise)"
expect_contains "$err" "made by a run with other flags" "saying so"

# ---- failures: a rank killed, a rank that hangs, different flags ----
long=(--train_data_path pp/train --model dlrm --tasks click --epochs 500 --train_batch_size 64 --embeddings_dim 8
  --mlp_layers 16,8 --quiet --overwrite)
rank_pid() {   # the pid of rank $2 among mpirun $1's children
  for k in $(pgrep -P "$1"); do tr '\0' '\n' < /proc/$k/environ 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2" && echo $k; done
}
wait_started() { for i in $(seq 1 500); do [ -n "$(rank_pid "$1" 1)" ] && [ -d "$2" ] && return; sleep 0.02; done; }
RECKON_DIST_TIMEOUT=60 ASAN_OPTIONS="$mpi_asan" mpirun --oversubscribe --allow-run-as-root -np 2 "$R" train "${long[@]}" --output_path fk >fk.log 2>&1 & mp=$!
wait_started $mp fk; sleep 0.5
kill -9 "$(rank_pid $mp 1)" 2>/dev/null; t0=$SECONDS
wait $mp; rc=$?
[ $rc != 0 ] && [ $((SECONDS - t0)) -lt 30 ] && pass "rank 1 killed: the job stops (exit $rc) in $((SECONDS - t0)) s" \
  || fail "rank 1 killed: exit $rc after $((SECONDS - t0)) s"
expect_contains "$(cat fk.log)" "rank 1" "mpirun names the rank that died"
RECKON_DIST_TIMEOUT=3 ASAN_OPTIONS="$mpi_asan" mpirun --oversubscribe --allow-run-as-root -np 2 "$R" train "${long[@]}" --output_path fh >fh.log 2>&1 & mp=$!
wait_started $mp fh; sleep 0.5
hung=$(rank_pid $mp 1); kill -STOP "$hung" 2>/dev/null; t0=$SECONDS
wait $mp; rc=$?
kill -9 "$hung" 2>/dev/null
[ $rc != 0 ] && [ $((SECONDS - t0)) -lt 30 ] && pass "rank 1 stopped (SIGSTOP): rank 0 gives up after the timeout (exit $rc)" \
  || fail "rank 1 stopped: exit $rc after $((SECONDS - t0)) s"
expect_contains "$(cat fh.log)" "no answer from the other ranks within 3 s" "saying so, with the timeout"
flags=(--train_data_path pp/train --model dlrm --tasks click --train_batch_size 64 --quiet --output_path ff)
out=$(ASAN_OPTIONS="$mpi_asan" timeout 120 mpirun --oversubscribe --allow-run-as-root -np 1 "$R" train "${flags[@]}" --epochs 1 : \
  -np 1 "$R" train "${flags[@]}" --epochs 2 2>&1); rc=$?
expect_status $rc 2 "ranks started with different flags are a usage error"
expect_contains "$out" "the flags of rank 1 differ from rank 0's" "naming the rank"
out=$(mpi 2 "$R" train "${dl[@]}" --train_batch_size 64 --micro_batch_size 48 --output_path fb 2>&1); rc=$?
expect_status $rc 2 "a piece size that does not divide the global batch is refused"
expect_contains "$out" "does not divide the global batch of 128 rows" "naming both"
finish
