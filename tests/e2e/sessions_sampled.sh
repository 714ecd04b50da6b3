#!/usr/bin/env bash
# `reckon sessions --sampled_softmax` and its draws (issue 19, the gap to the full softmax):
# distinct draws by default (--sampled_softmax_unique), recorded in model.json, other weights
# than repeated draws, and than uniform ones (--sampled_softmax_sampler); --item_table_updates lazy trains, differs from dense and gives the same
# weights at any thread count; too many distinct draws for the catalogue and an unknown update
# mode are usage errors that name the flag.
set -u
source "$(dirname "$0")/lib.bash"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
R="$RECKON_BIN"

session_days "$tmp" 600 3 120 13

base=(sessions --threads 1 --data_path "$tmp/days" --per_device_train_batch_size 32 --per_device_eval_batch_size 64
      --d_model 16 --n_layer 1 --n_head 2 --learning_rate 0.005 --num_train_epochs 1 --eval_on_last_item_seq_only
      --eval_metrics_ks 20 --quiet --do_train --sampled_softmax --max_n_samples 30)
weights() { echo "$tmp/$1/model/weights.safetensors"; }

"$R" "${base[@]}" --output_dir "$tmp/u" 2>"$tmp/err"
expect_status $? 0 "sampled softmax trains with distinct draws (the default)"
m=$(cat "$tmp/u/model/model.json")
expect_contains "$m" '"sampled_softmax_unique": true' "model.json records --sampled_softmax_unique"
expect_contains "$m" '"item_table_updates": "dense"' "and --item_table_updates"
"$R" "${base[@]}" --output_dir "$tmp/r" --sampled_softmax_unique false 2>"$tmp/err"
expect_status $? 0 "--sampled_softmax_unique false trains"
cmp -s "$(weights u)" "$(weights r)" && fail "repeated draws gave the distinct draws' weights" \
  || pass "repeated and distinct draws train differently"
m=$(cat "$tmp/u/model/model.json")
expect_contains "$m" '"sampled_softmax_sampler": "log_uniform"' "model.json records --sampled_softmax_sampler"
"$R" "${base[@]}" --output_dir "$tmp/n" --sampled_softmax_sampler uniform 2>"$tmp/err"
expect_status $? 0 "--sampled_softmax_sampler uniform trains"
cmp -s "$(weights u)" "$(weights n)" && fail "uniform draws gave the log-uniform draws' weights" \
  || pass "uniform and log-uniform draws train differently"

"$R" "${base[@]}" --output_dir "$tmp/l1" --item_table_updates lazy 2>"$tmp/err"
expect_status $? 0 "--item_table_updates lazy trains"
cmp -s "$(weights u)" "$(weights l1)" && fail "lazy updates gave the dense weights" || pass "lazy and dense updates differ"
"$R" "${base[@]}" --output_dir "$tmp/l2" --item_table_updates lazy --threads 2 2>"$tmp/err"
cmp -s "$(weights l1)" "$(weights l2)" && pass "lazy updates: two threads give the same weights as one" \
  || fail "lazy updates depend on threads"

out=$("$R" "${base[@]}" --output_dir "$tmp/e1" --max_n_samples 100000 2>&1)
expect_status $? 2 "more distinct draws than item ids is a usage error"
expect_contains "$out" "--sampled_softmax_unique false" "naming the way out"
out=$("$R" "${base[@]}" --output_dir "$tmp/e2" --item_table_updates sparse 2>&1)
expect_status $? 2 "an unknown --item_table_updates is a usage error"
expect_contains "$out" "--item_table_updates" "naming the flag"
finish
