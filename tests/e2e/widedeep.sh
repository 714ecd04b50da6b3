#!/usr/bin/env bash
# `reckon widedeep` on `reckon synth outbrain` data: the recipe's four commands (train, --evaluate,
# --predict, --benchmark) with its flags; the DLLogger lines, args.json, scores and the model
# folder; MAP@12 above a random ranking; --model_type wide and deep; a run killed with SIGKILL
# and rerun continues from its checkpoint to the weights of a run never stopped; errors for
# TFRecord input, --hvd without MPI and bad flags. Hash buckets are scaled down (--bucket_scale) so the
# tables stay small.
set -u
source "$(dirname "$0")/lib.bash"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
R=$RECKON_BIN
cd "$tmp"
"$R" synth outbrain --displays 3000 --seed 3 --bucket_scale 0.01 --output ob --quiet
common=(--train_data_pattern ob/train --eval_data_pattern ob/eval --deep_hidden_units 32 16 --global_batch_size 512
        --eval_batch_size 2048 --num_epochs 2)

# ---- train, as the recipe's command ----
out=$("$R" widedeep "${common[@]}" --model_dir ck --results_dir res 2>&1); rc=$?
expect_status $rc 0 "reckon widedeep trains with the recipe's flags"
expect_contains "$out" "map=" "it prints MAP@12"
head -1 res/log.json | grep -q '"step": "PARAMETER"' && pass "log.json starts with DLLogger's PARAMETER line" || fail "no PARAMETER line"
grep -q '"linear_learning_rate": 0.2' res/log.json && pass "with every flag's value" || fail "flags missing from PARAMETER"
grep -q '"step": \[1\], "data": {.*"map"' res/log.json && pass "an evaluation after epoch 1 (step [1])" || fail "no epoch evaluation"
tail -1 res/log.json | grep -q '"step": \[\], "data": {.*"map": .*"map_with_leak"' \
  && pass "the last line has map and map_with_leak" || fail "last line: $(tail -1 res/log.json | cut -c1-200)"
[ -s res/args.json ] && grep -q '"global_batch_size": 512' res/args.json && pass "args.json holds the flags" || fail "args.json"
[ -f ck/model/weights.safetensors ] && [ -f ck/model/model.json ] && pass "the model is in <model_dir>/model" || fail "no model"
[ ! -e ck/checkpoint ] && pass "a completed run leaves no checkpoint" || fail "a checkpoint after completion"
map=$(tail -1 res/log.json | grep -o '"map": [0-9.]*' | cut -d' ' -f2)
random=$(grep -o '"random_map12": [0-9.]*' ob/synth.json | cut -d' ' -f2)
awk -v a="$map" -v b="$random" 'BEGIN { exit !(a > b + 0.02) }' && pass "MAP@12 $map beats a random ranking ($random)" \
  || fail "MAP@12 $map vs random $random"

# ---- --evaluate and --predict on the saved model ----
out=$("$R" widedeep --evaluate --eval_data_pattern ob/eval --model_dir ck --results_dir ev --eval_batch_size 1000 2>&1); rc=$?
expect_status $rc 0 "--evaluate loads <model_dir>"
tail -1 ev/log.json | grep -q '"map_infer": .*"map_with_leak_infer"' && pass "it logs map_infer and map_with_leak_infer" \
  || fail "evaluate log: $(tail -1 ev/log.json | cut -c1-200)"
mi=$(tail -1 ev/log.json | grep -o '"map_infer": [0-9.]*' | cut -d' ' -f2)
awk -v a="$mi" -v b="$map" 'BEGIN { d = a - b; exit !(d < 1e-4 && d > -1e-4) }' && pass "the MAP of training ($mi)" \
  || fail "map_infer $mi vs $map"
out=$("$R" widedeep --predict --eval_data_pattern ob/eval --model_dir ck --results_dir ev 2>&1); rc=$?
expect_status $rc 0 "--predict runs"
eval_rows=$("$R" inspect --json ob/eval 2>/dev/null | grep -o '"rows": [0-9]*' | head -1 | cut -d' ' -f2)
[ "$(wc -l < ck/scores.txt)" = "$eval_rows" ] && pass "scores.txt has one line per eval row ($eval_rows)" || fail "scores.txt lines"
grep -qvE '^0\.[0-9]{6}$' ck/scores.txt && fail "scores.txt holds something other than probabilities" \
  || pass "written as the recipe writes them (%f)"
"$R" inspect ck/predictions.parquet 2>/dev/null | grep -q "ad_id" && pass "predictions.parquet has display_id and ad_id" \
  || fail "predictions.parquet columns"

# ---- --benchmark ----
out=$("$R" widedeep --benchmark --benchmark_steps 12 --benchmark_warmup_steps 4 --train_data_pattern ob/train \
  --deep_hidden_units 32 --global_batch_size 256 --results_dir bench 2>&1); rc=$?
expect_status $rc 0 "--benchmark runs"
tail -1 bench/log.json | grep -q '"train_throughput": [0-9]' && pass "it logs train_throughput" || fail "no train_throughput"
expect_contains "$out" "12 steps" "it stops after --benchmark_steps"

# ---- the parts ----
for t in wide deep; do
  "$R" widedeep "${common[@]}" --num_epochs 1 --model_type $t --model_dir ck_$t --results_dir res_$t --quiet; rc=$?
  expect_status $rc 0 "--model_type $t trains"
done
grep -q '"wide.bias"' ck_wide/model/weights.safetensors && ! grep -q '"mlp.0.weight"' ck_wide/model/weights.safetensors \
  && pass "wide: only the linear model" || fail "wide model's tensors"
! grep -q '"wide.bias"' ck_deep/model/weights.safetensors && grep -q '"mlp.0.weight"' ck_deep/model/weights.safetensors \
  && pass "deep: no linear model" || fail "deep model's tensors"

# ---- SIGKILL, then the same command again continues ----
res=("${common[@]}" --num_epochs 6 --global_batch_size 64 --save_checkpoints_steps 20 --quiet)
"$R" widedeep "${res[@]}" --model_dir full --results_dir full_res
"$R" widedeep "${res[@]}" --model_dir killed --results_dir killed_res & pid=$!
kill_after_checkpoint $pid killed 200
[ -n "$killed_step" ] && pass "training killed with SIGKILL after checkpoint step $killed_step" || fail "the run ended before it could be killed"
[ -f killed/checkpoint/weights.safetensors ] && pass "the checkpoint survives" || fail "no checkpoint after the kill"
out=$("$R" widedeep "${res[@]}" --model_dir killed --results_dir killed_res --quiet=false 2>&1); rc=$?
expect_status $rc 0 "the same command again"
expect_contains "$out" "resuming from step" "continues from the checkpoint"
cmp -s full/model/weights.safetensors killed/model/weights.safetensors \
  && pass "and ends with the weights of the run never stopped" || fail "resumed weights differ"

# ---- errors ----
echo x > train_000.tfrecord
out=$("$R" widedeep --train_data_pattern train_000.tfrecord 2>&1); rc=$?
expect_status $rc 2 "a TFRecord file is a usage error"
expect_contains "$out" "TFRecord input is not supported; convert to Parquet" "saying so"
out=$("$R" widedeep --train_data_pattern 'nothing/part*' 2>&1); rc=$?
expect_status $rc 1 "a pattern that matches nothing fails"
expect_contains "$out" "nothing/part*" "naming it"
if ! "$R" --version | grep -q '^features:.*\bmpi\b'; then   # with MPI, tests/e2e/mpi_train.sh runs --hvd
  out=$("$R" widedeep --hvd --train_data_pattern ob/train 2>&1); rc=$?
  expect_status $rc 2 "--hvd without MPI is a usage error"
  expect_contains "$out" "reckon was built without MPI" "saying so"
fi
out=$("$R" widedeep --deep_hidden_units 32 x --train_data_pattern ob/train --results_dir e 2>&1); rc=$?
expect_status $rc 2 "a bad --deep_hidden_units is a usage error"
out=$("$R" widedeep --evaluate --eval_data_pattern ob/eval --model_dir nowhere --results_dir e 2>&1); rc=$?
expect_status $rc 1 "--evaluate without a model fails"
expect_contains "$out" "nowhere" "naming --model_dir"
out=$("$R" widedeep --xla --prebatch_size 4096 --benchmark --benchmark_steps 2 --benchmark_warmup_steps 1 \
  --train_data_pattern ob/train --deep_hidden_units 8 --global_batch_size 64 --results_dir e2 2>&1); rc=$?
expect_status $rc 0 "the recipe's pipeline flags are accepted"
expect_contains "$out" "--xla has no effect" "with a note"
out=$("$R" widedeep --help 2>&1)
for f in --linear_learning_rate --deep_learning_rate --save_checkpoints_secs --benchmark_warmup_steps --model_type; do
  expect_contains "$out" "$f" "--help lists $f"
done
finish
