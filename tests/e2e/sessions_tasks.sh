#!/usr/bin/env bash
# `reckon sessions` with the losses over candidate items (issue 19, part R): --sampled_softmax
# and --negative_sampling with each --loss_type train, evaluate, predict and save a model folder
# like the whole-catalogue cross-entropy; their draws do not depend on the thread count; a model
# folder records the loss and evaluates as the run that trained it; bad combinations name the flag.
set -u
source "$(dirname "$0")/lib.bash"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
R="$RECKON_BIN"

# ---- data: 800 sessions over 3 days through the session ETL (day folders) ----
session_days "$tmp" 800 3 120 11

base=(sessions --threads 1 --data_path "$tmp/days" --per_device_train_batch_size 32 --per_device_eval_batch_size 64
      --d_model 16 --n_layer 1 --n_head 2 --learning_rate 0.005 --num_train_epochs 2 --eval_on_last_item_seq_only
      --eval_metrics_ks 10,20 --quiet --do_train --do_eval)

# ---- the floor: the same model untrained (one step at a tiny learning rate) ----
"$R" "${base[@]}" --output_dir "$tmp/floor" --max_steps 1 --learning_rate 1e-9 2>"$tmp/err"
floor=$(session_recall "$tmp/floor")

# ---- sampled softmax: trains, beats the untrained floor, saves a model folder that records it ----
"$R" "${base[@]}" --output_dir "$tmp/ss" --sampled_softmax --max_n_samples 40 2>"$tmp/err"
expect_status $? 0 "--sampled_softmax trains and evaluates"
r=$(session_recall "$tmp/ss")
python3 -c "import sys; sys.exit(0 if float('$r') > float('$floor') + 0.05 else 1)" \
  && pass "sampled softmax learns: Recall@20 $r against $floor untrained" || fail "sampled softmax Recall@20 $r, untrained $floor"
m=$(cat "$tmp/ss/model/model.json")
expect_contains "$m" '"sampled_softmax": true' "model.json records --sampled_softmax"
expect_contains "$m" '"max_n_samples": 40' "and --max_n_samples"
"$R" "${base[@]}" --output_dir "$tmp/ss2" --sampled_softmax --max_n_samples 40 --threads 2 2>"$tmp/err"
cmp -s "$tmp/ss/model/weights.safetensors" "$tmp/ss2/model/weights.safetensors" \
  && pass "sampled softmax: two threads give the same weights as one" || fail "sampled softmax weights depend on threads"
"$R" "${base[@]}" --output_dir "$tmp/ss3" --sampled_softmax --max_n_samples 40 --seed 43 2>"$tmp/err"
cmp -s "$tmp/ss/model/weights.safetensors" "$tmp/ss3/model/weights.safetensors" \
  && fail "another seed gave the same weights" || pass "another seed draws other samples"
"$R" "${base[@]}" --output_dir "$tmp/ss4" --sampled_softmax --max_n_samples 5 2>"$tmp/err"
cmp -s "$tmp/ss/model/weights.safetensors" "$tmp/ss4/model/weights.safetensors" \
  && fail "--max_n_samples had no effect" || pass "--max_n_samples changes training"

# the saved model evaluates as the run that trained it, and predicts
"$R" sessions --threads 1 --output_dir "$tmp/ss_eval" --do_eval --model_name_or_path "$tmp/ss/model" \
  --data_path "$tmp/days" --eval_on_last_item_seq_only --eval_metrics_ks 10,20 --per_device_eval_batch_size 64 \
  --quiet 2>"$tmp/err"
expect_status $? 0 "a sampled-softmax model folder evaluates"
a=$(grep '^eval_recall@20 = ' "$tmp/ss/eval_results_over_time.txt" | tail -n 1)
b=$(grep '^eval_recall@20 = ' "$tmp/ss_eval/eval_results_over_time.txt" | tail -n 1)
[ -n "$a" ] && [ "$a" = "$b" ] && pass "scoring the last window as the run that trained it ($a)" \
  || fail "saved model's last window: '$b', the run's: '$a'"
day=$(ls -d "$tmp/days"/[0-9]* | sort -n | tail -n 1)
"$R" sessions --threads 1 --output_dir "$tmp/ss_pred" --do_predict --model_name_or_path "$tmp/ss/model" \
  --data_path "$tmp/days" --predict_data_path "$day/test.parquet" --predict_top_k 5 --quiet 2>"$tmp/err"
expect_status $? 0 "a sampled-softmax model folder predicts (--do_predict)"
expect_contains "$("$R" inspect --stats false "$tmp/ss_pred/predictions.parquet")" "rec_item_ids" "predictions.parquet has rec_item_ids"

# ---- negative sampling with each loss on a causal model (which must learn), and on a masked one ----
# Four epochs: at two, a pairwise loss's Recall@20 on data this small swings with the seed's
# draws (top1_max: 0.11 to 0.31 over seeds 1, 2, 3 and 42); at four each of those is 0.29 or more.
ns=(--negative_sampling --bpr_max_reg_lambda 0.1 --neg_sampling_extra_samples_per_batch 8 --num_train_epochs 4)
declare -A seen
for run in cross_entropy/gpt2 bpr/gpt2 bpr_max_reg/gpt2 top1/gpt2 top1_max/gpt2 top1_max/bert; do
  loss=${run%/*} model=${run#*/}
  o="$tmp/ns_${loss}_$model"
  "$R" "${base[@]}" --output_dir "$o" --model_type "$model" --loss_type "$loss" "${ns[@]}" 2>"$tmp/err"
  expect_status $? 0 "--negative_sampling --loss_type $loss trains $model"
  r=$(session_recall "$o")
  # a masked LM learns too slowly on data this small to beat the floor reliably: the causal one must
  [ "$model" = bert ] || python3 -c "import sys; sys.exit(0 if float('$r') > float('$floor') + 0.03 else 1)" \
    && pass "$loss on $model: Recall@20 $r (untrained $floor)" || fail "$loss on $model: Recall@20 $r, untrained $floor"
  h=$(sha256sum "$o/model/weights.safetensors" | cut -d' ' -f1)
  [ -z "${seen[$h]:-}" ] && pass "$loss on $model trains weights of its own" || fail "$loss on $model: the same weights as ${seen[$h]}"
  seen[$h]="$loss/$model"
done
expect_contains "$(cat "$tmp/ns_top1_gpt2/model/model.json")" '"loss_type": "top1"' "model.json records --loss_type"
"$R" "${base[@]}" --output_dir "$tmp/ns2" --loss_type bpr_max_reg "${ns[@]}" --threads 2 2>"$tmp/err"
cmp -s "$tmp/ns_bpr_max_reg_gpt2/model/weights.safetensors" "$tmp/ns2/model/weights.safetensors" \
  && pass "negative sampling: two threads give the same weights as one" || fail "negative sampling weights depend on threads"

# ---- bad combinations name the flag ----
out=$("$R" "${base[@]}" --output_dir "$tmp/e1" --loss_type bpr 2>&1)
expect_status $? 2 "a pairwise loss without --negative_sampling is a usage error"
expect_contains "$out" "--negative_sampling" "naming the flag it needs"
out=$("$R" "${base[@]}" --output_dir "$tmp/e2" --sampled_softmax --negative_sampling 2>&1)
expect_contains "$out" "set one of them" "--sampled_softmax with --negative_sampling is refused"
out=$("$R" "${base[@]}" --output_dir "$tmp/e3" --sampled_softmax --label_smoothing 0.1 2>&1)
expect_contains "$out" "--label_smoothing" "label smoothing with sampled softmax is refused, naming the flag"
out=$("$R" "${base[@]}" --output_dir "$tmp/e4" --sampled_softmax --max_n_samples 0 2>&1)
expect_contains "$out" "--max_n_samples" "a draw count out of range names the flag"
[ ! -e "$tmp/e1" ] && [ ! -e "$tmp/e4" ] && pass "refused runs create nothing" || fail "a refused run left an output folder"

finish
