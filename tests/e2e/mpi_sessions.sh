#!/usr/bin/env bash
# `mpirun -np N reckon sessions ... --model_parallel` (seed 001's torch.distributed.launch
# --nproc_per_node 2 recsys_main.py ... --model_parallel; docs/distributed.md): the global batch is
# --per_device_train_batch_size x the ranks, cut into pieces of --micro_batch_size sessions, so
# 1, 2 and 4 ranks end with bit-identical weights (gpt2, gru) and identical results files;
# evaluation is split over ranks; rank 0 alone writes; a checkpoint of 2 ranks resumes on 1;
# --model_parallel without mpirun, and mpirun without it, say how to run.
# Skipped (with the reason) when reckon was built without MPI or mpirun is absent.
set -u
source "$(dirname "$0")/lib.bash"
R=$RECKON_BIN
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
session_days "$tmp" 300 3 60 11
base=(sessions --data_path "$tmp/days" --start_time_window_index 1 --per_device_eval_batch_size 5 --d_model 16
  --n_head 2 --n_layer 1 --num_train_epochs 1 --learning_rate 0.005 --dropout 0.1 --eval_metrics_ks 5,10
  --eval_steps_on_train_set 3 --do_train --do_eval --quiet)

out=$("$R" "${base[@]}" --per_device_train_batch_size 16 --output_dir np --model_parallel 2>&1)
expect_status $? 2 "--model_parallel without mpirun is a usage error"
expect_contains "$out" "mpirun -np N reckon sessions" "saying how to start it"
[ ! -e np ] && pass "and writes nothing" || fail "np left behind"

mpi_require   # the rest runs under mpirun

same() { cmp -s "$1" "$2" && pass "$3" || fail "$3 ($1 and $2 differ)"; }
results() {   # the results files of run folder $1 (their names depend on the layout)
  ls "$1" | grep -E '_results_|eval_train_results' | sort
}
same_results() {   # every line but the training speed (train_runtime, train_*_per_second: timings)
  local f ok=1
  for f in $(results "$1"); do
    cmp -s <(grep -Ev 'train_runtime|_per_second' "$1/$f") <(grep -Ev 'train_runtime|_per_second' "$2/$f") \
      || { ok=0; fail "$3: $f differs"; }
  done
  [ -n "$(results "$1")" ] && [ $ok = 1 ] && pass "$3: the results files ($(results "$1" | wc -l)) are identical but for timings"
}

for model in gpt2 gru; do
  m=(--model_type "$model")
  # one process: 4 pieces of 8 = 2 ranks x 2 pieces = 4 ranks x 1
  "$R" "${base[@]}" "${m[@]}" --per_device_train_batch_size 32 --micro_batch_size 8 --output_dir ${model}1
  expect_status $? 0 "$model: one process over 4 pieces"
  mpi 2 "$R" "${base[@]}" "${m[@]}" --per_device_train_batch_size 16 --micro_batch_size 8 --output_dir ${model}2 --model_parallel \
    --quiet=false >${model}2.log 2>&1
  expect_status $? 0 "$model: mpirun -np 2 reckon sessions --model_parallel runs"
  expect_contains "$(cat ${model}2.log)" "eval evaluation over 2 ranks: rank 0 7 sessions in 2 batches, rank 1 5 sessions in 1 batches" \
    "$model: rank 0 logs each rank's share of the evaluation (3 batches over 2 ranks)"
  same ${model}1/model/weights.safetensors ${model}2/model/weights.safetensors "$model: 2 ranks = 1 process, bit for bit"
  same_results ${model}1 ${model}2 "$model: 2 ranks"
  if [ $model = gpt2 ]; then
    mpi 4 "$R" "${base[@]}" "${m[@]}" --per_device_train_batch_size 8 --output_dir ${model}4 --model_parallel
    expect_status $? 0 "$model: mpirun -np 4 runs"
    same ${model}1/model/weights.safetensors ${model}4/model/weights.safetensors "$model: 4 ranks = 1 process, bit for bit"
    same_results ${model}1 ${model}4 "$model: 4 ranks (evaluation split 4 ways)"
    "$R" "${base[@]}" "${m[@]}" --per_device_train_batch_size 32 --output_dir ${model}p
    cmp -s ${model}1/model/weights.safetensors ${model}p/model/weights.safetensors \
      && fail "one piece of 32 gave the bits of four of 8: the check has no teeth" \
      || pass "the check has teeth: one piece of 32 ends with other bits than four of 8"
  fi
done

# rank 0 alone writes: the folder holds one run's files, no stray temporaries
[ -z "$(ls -a gpt22 | grep -i 'tmp\|\.part')" ] && pass "2 ranks leave one set of outputs" || fail "stray files: $(ls -a gpt22)"

# --log_predictions: rank 0 ranks every batch alone, the pred logs are one process's
"$R" "${base[@]}" --per_device_train_batch_size 32 --micro_batch_size 16 --log_predictions --output_dir lp1
mpi 2 "$R" "${base[@]}" --per_device_train_batch_size 16 --log_predictions --output_dir lp2 --model_parallel
expect_status $? 0 "2 ranks with --log_predictions"
for f in $(ls lp1/pred_logs); do same lp1/pred_logs/$f lp2/pred_logs/$f "pred_logs/$f is one process's"; done

# a checkpoint of 2 ranks (--save_steps) resumes on 1: the bits of a run never stopped
ck=("${base[@]}" --num_train_epochs 6 --save_steps 5 --micro_batch_size 8)
"$R" "${ck[@]}" --per_device_train_batch_size 16 --output_dir cfull
ASAN_OPTIONS="$mpi_asan" mpirun --oversubscribe --allow-run-as-root -np 2 "$R" "${ck[@]}" --per_device_train_batch_size 8 \
  --output_dir ckill --model_parallel >/dev/null 2>&1 & mp=$!
kill_after_checkpoint $mp ckill 10 ranks
if [ -n "$killed_step" ]; then
  pass "2 ranks killed after checkpoint step $killed_step"
  "$R" "${ck[@]}" --per_device_train_batch_size 16 --output_dir ckill 2>/dev/null
  expect_status $? 0 "1 process resumes the 2 ranks' checkpoint"
  same cfull/model/weights.safetensors ckill/model/weights.safetensors "the resumed run ends with the bits of a run never stopped"
else
  fail "the 2-rank run ended before it could be killed"
fi

out=$(mpi 2 "$R" "${base[@]}" --per_device_train_batch_size 16 --output_dir nomp 2>&1); rc=$?
[ $rc != 0 ] && pass "mpirun without --model_parallel is refused" || fail "mpirun without --model_parallel ran"
expect_contains "$out" "add --model_parallel" "saying to add it"
out=$(mpi 2 "$R" "${base[@]}" --per_device_train_batch_size 16 --micro_batch_size 32 --output_dir few --model_parallel 2>&1)
[ $? != 0 ] && expect_contains "$out" "fewer than the 2 ranks" "fewer pieces than ranks is refused" \
  || fail "--micro_batch_size 32 of 16 x 2 ranks ran"
out=$("$R" "${base[@]}" --per_device_train_batch_size 16 --micro_batch_size 6 --output_dir odd 2>&1)
expect_status $? 2 "a piece size that does not divide the batch is a usage error"
expect_contains "$out" "--micro_batch_size 6 does not divide the global batch of 16 sessions" "naming both"
finish
