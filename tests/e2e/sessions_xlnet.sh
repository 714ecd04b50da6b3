#!/usr/bin/env bash
# `reckon sessions` with issue 19's relative-position bodies (part X): xlnet with each of its
# tasks (causal LM, --mlm, --plm with its flags) and transfoxl with its memory train, evaluate,
# predict and save a model folder that evaluates to the same numbers; training is bit-identical at
# 1 and 2 threads; the refusals name the flag.
set -u
source "$(dirname "$0")/lib.bash"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
R="$RECKON_BIN"

# ---- data: 600 sessions over 3 days through the session ETL (day folders) ----
session_days "$tmp" 600 3 80 7
session_small_model "$tmp"
# A random ranking of 80 items puts the target in the top 20 about a quarter of the time.
for run in "xlnet:--model_type xlnet" "xlnet_mlm:--model_type xlnet --mlm" \
           "xlnet_plm:--model_type xlnet --plm --plm_probability 0.5 --plm_max_span_length 2 --plm_mask_input" \
           "xlnet_plm_all:--model_type xlnet --plm --plm_permute_all --eval_on_last_item_seq_only" \
           "transfoxl:--model_type transfoxl --mem_len 2"; do
  name=${run%%:*}
  # shellcheck disable=SC2086
  "$R" "${base[@]}" --output_dir "$tmp/$name" ${run#*:} 2>"$tmp/err"
  expect_status $? 0 "$name trains, evaluates and predicts"
  r=$(session_recall "$tmp/$name")
  python3 -c "import sys; sys.exit(0 if float('$r') > 0.25 else 1)" 2>/dev/null \
    && pass "$name learns: eval_recall@20 $r beats a random ranking" || fail "$name: eval_recall@20 '$r'"
  [ -s "$tmp/$name/predictions.parquet" ] && pass "$name writes predictions.parquet" || fail "$name: no predictions"
  expect_contains "$(cat "$tmp/$name/model/model.json")" "\"model_type\": \"${name%%_*}\"" "$name's model.json records its type"
done
expect_contains "$(cat "$tmp/xlnet_plm/model/model.json")" '"plm_max_span_length": 2' "model.json records the permutation LM's settings"
expect_contains "$(cat "$tmp/transfoxl/model/model.json")" '"mem_len": 2' "model.json records transfoxl's memory"

# ---- a saved model folder evaluates to the numbers of the run that trained it (its task included) ----
for name in xlnet_plm transfoxl; do
  session_saved_model_scores_as_its_run "$tmp" "$name"
done
"$R" sessions --threads 1 --output_dir "$tmp/pred" --do_predict --model_name_or_path "$tmp/xlnet_plm/model" \
  --data_path "$tmp/days" --predict_data_path "$day2/test.parquet" --predict_top_k 7 --quiet 2>"$tmp/err"
expect_status $? 0 "--do_predict with a saved permutation-LM model"
expect_contains "$("$R" inspect --stats false "$tmp/pred/predictions.parquet")" "rec_item_ids" "its predictions have rec_item_ids"

# ---- the same bits at 1 and 2 threads (dropout on, two streams) ----
for th in 1 2; do
  "$R" sessions --threads $th --data_path "$tmp/days" --output_dir "$tmp/th$th" --do_train --d_model 16 --n_layer 2 \
    --n_head 2 --max_steps 12 --model_type xlnet --plm --dropout 0.2 --quiet 2>"$tmp/err"
done
cmp -s "$tmp/th1/model/weights.safetensors" "$tmp/th2/model/weights.safetensors" \
  && pass "xlnet --plm trains to the same bits at 1 and 2 threads" || fail "xlnet --plm: weights differ between 1 and 2 threads"

# ---- refusals name the flag ----
msg=$("$R" "${base[@]}" --output_dir "$tmp/bad" --model_type xlnet --attn_type bi 2>&1)
expect_status $? 2 "xlnet's causal LM with --attn_type bi is refused"
expect_contains "$msg" "--attn_type bi" "naming the flag and why (the row would see its target)"
msg=$("$R" "${base[@]}" --output_dir "$tmp/bad" --model_type transfoxl --plm 2>&1)
expect_status $? 2 "--plm on transfoxl is refused"
expect_contains "$msg" "--plm" "naming --plm"
msg=$("$R" "${base[@]}" --output_dir "$tmp/bad" --model_type longformer 2>&1)
expect_status $? 1 "--model_type longformer is refused (unsupported)"
expect_contains "$msg" "out of reckon's scope" "saying it is out of scope"
msg=$("$R" "${base[@]}" --output_dir "$tmp/bad" --model_type xlnet --mlm --plm 2>&1)
expect_contains "$msg" "choose one" "--mlm with --plm is refused"
finish
