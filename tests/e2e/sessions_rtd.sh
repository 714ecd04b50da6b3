#!/usr/bin/env bash
# `reckon sessions` with replacement token detection (issue 19, part RTD): electra with its separate,
# narrower generator (the reference's default), and electra and xlnet --mlm with a tied generator
# (replacements from the catalogue or the batch, the batch's own rows with
# --rtd_use_batch_interaction) train, evaluate, predict and save a model folder
# that evaluates to the same numbers; the separate generator's parameters have its width and the
# discriminator its own; training is bit-identical at 1 and 2 threads; the discriminator's weight
# changes what is learned; the refusals name the flag.
set -u
source "$(dirname "$0")/lib.bash"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
R="$RECKON_BIN"

# ---- data: 600 sessions over 3 days through the session ETL (day folders) ----
session_days "$tmp" 600 3 80 7
session_small_model "$tmp"
# A random ranking of 80 items puts the target in the top 20 about a quarter of the time.
for run in "electra_separate:--model_type electra --rtd" \
           "electra:--model_type electra --rtd --rtd_tied_generator" \
           "electra_batch:--model_type electra --rtd --rtd_tied_generator --rtd_sample_from_batch --rtd_discriminator_loss_weight 10" \
           "electra_interaction:--model_type electra --rtd --rtd_tied_generator --rtd_sample_from_batch --rtd_use_batch_interaction" \
           "xlnet_mlm:--model_type xlnet --mlm --rtd --rtd_tied_generator --rtd_generator_loss_weight 2"; do
  name=${run%%:*}
  # shellcheck disable=SC2086
  "$R" "${base[@]}" --output_dir "$tmp/$name" ${run#*:} 2>"$tmp/err"
  expect_status $? 0 "$name with --rtd trains, evaluates and predicts"
  r=$(session_recall "$tmp/$name")
  python3 -c "import sys; sys.exit(0 if float('$r') > 0.25 else 1)" 2>/dev/null \
    && pass "$name learns: eval_recall@20 $r beats a random ranking" || fail "$name: eval_recall@20 '$r'"
  [ -s "$tmp/$name/predictions.parquet" ] && pass "$name writes predictions.parquet" || fail "$name: no predictions"
  expect_contains "$(cat "$tmp/$name/model/model.json")" '"rtd": true' "$name's model.json records --rtd"
done
expect_contains "$(cat "$tmp/electra/model/model.json")" '"model_type": "electra"' "model.json records electra"
expect_contains "$(cat "$tmp/electra_separate/model/model.json")" '"rtd_tied_generator": false' \
  "model.json records the separate generator"
expect_contains "$(cat "$tmp/electra_batch/model/model.json")" '"rtd_sample_from_batch": true' \
  "model.json records where the replacements came from"
# safetensors opens with its JSON header, which names every tensor
expect_contains "$(head -c 65536 "$tmp/electra/model/weights.safetensors" | tr -cd '[:print:]')" \
  "dense_discriminator.weight" "the model folder holds the discriminator's head"
# The separate generator (d_model 16 x 0.25 = 4 wide, its MLP 4 x 16 as the discriminator's), and
# the discriminator's own merge and body at d_model, read from the safetensors header.
python3 - "$tmp/electra_separate/model/weights.safetensors" <<'PY' && pass "the separate generator is 4 wide and the discriminator 16" || fail "the separate generator's shapes"
import json, struct, sys
with open(sys.argv[1], "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    h = json.loads(f.read(n))
want = {"masked_item_embedding": [4], "embeddings.position_embeddings.weight": [20, 4],
        "encoder.layer.0.mlp.fc.weight": [64, 4],
        "discriminator.embeddings.position_embeddings.weight": [20, 16],
        "discriminator.encoder.layer.1.mlp.fc.weight": [64, 16], "dense_discriminator.weight": [16, 16]}
bad = {k: h.get(k, {}).get("shape") for k, v in want.items() if h.get(k, {}).get("shape") != v}
assert not bad, bad
assert h["output_layer.weight"]["shape"][1] == 4 and h["mlp_merge.weight"]["shape"][0] == 4
assert h["merge_disc.weight"]["shape"] == [16, h["mlp_merge.weight"]["shape"][1]]
PY
# ---- the discriminator takes part in training: its weight changes the weights learned ----
for w in 0 50; do
  "$R" sessions --threads 1 --data_path "$tmp/days" --output_dir "$tmp/w$w" --do_train --d_model 16 --n_layer 1 \
    --n_head 2 --max_steps 4 --model_type electra --rtd --rtd_tied_generator --rtd_discriminator_loss_weight $w \
    --quiet 2>"$tmp/err"
done
cmp -s "$tmp/w0/model/weights.safetensors" "$tmp/w50/model/weights.safetensors" \
  && fail "--rtd_discriminator_loss_weight 0 and 50 train the same weights" \
  || pass "the discriminator's loss weight changes what the model learns"

# ---- a saved model folder evaluates to the numbers of the run that trained it ----
for name in electra electra_separate; do
  session_saved_model_scores_as_its_run "$tmp" "$name"
  "$R" sessions --threads 1 --output_dir "$tmp/pred" --do_predict --model_name_or_path "$tmp/$name/model" \
    --data_path "$tmp/days" --predict_data_path "$day2/test.parquet" --predict_top_k 7 --quiet --overwrite_output_dir \
    2>"$tmp/err"
  expect_status $? 0 "--do_predict with $name's saved --rtd model"
  expect_contains "$("$R" inspect --stats false "$tmp/pred/predictions.parquet")" "rec_item_ids" "its predictions have rec_item_ids"
done

# ---- the same bits at 1 and 2 threads (dropout on, draws from the catalogue and the batch) ----
for flags in "--rtd_tied_generator" "--rtd_tied_generator --rtd_sample_from_batch" "--rtd_sample_from_batch" \
             "--rtd_tied_generator --rtd_sample_from_batch --rtd_use_batch_interaction" \
             "--electra_generator_hidden_size 1 --rtd_sample_from_batch --rtd_use_batch_interaction"; do
  for th in 1 2; do
    # shellcheck disable=SC2086
    "$R" sessions --threads $th --data_path "$tmp/days" --output_dir "$tmp/th$th" --do_train --d_model 16 --n_layer 2 \
      --n_head 2 --max_steps 12 --model_type electra --rtd $flags --dropout 0.2 --quiet 2>"$tmp/err"
  done
  cmp -s "$tmp/th1/model/weights.safetensors" "$tmp/th2/model/weights.safetensors" \
    && pass "electra --rtd $flags trains to the same bits at 1 and 2 threads" \
    || fail "electra --rtd $flags: weights differ between 1 and 2 threads"
done

# ---- refusals name the flag ----
msg=$("$R" "${base[@]}" --output_dir "$tmp/bad" --model_type gpt2 --rtd --rtd_tied_generator 2>&1)
expect_status $? 2 "--rtd on a causal model is refused"
expect_contains "$msg" "--rtd" "naming --rtd and the masked LM it needs"
msg=$("$R" "${base[@]}" --output_dir "$tmp/bad" --model_type bert --rtd 2>&1)
expect_status $? 2 "a separate generator on bert is refused (the reference builds one for electra only)"
expect_contains "$msg" "--rtd_tied_generator" "naming --rtd_tied_generator"
msg=$("$R" "${base[@]}" --output_dir "$tmp/bad" --model_type electra --rtd --electra_generator_hidden_size 0.2 2>&1)
expect_status $? 2 "a generator width that n_head does not divide is refused (round(0.2 x 16) = 3)"
expect_contains "$msg" "--electra_generator_hidden_size" "naming --electra_generator_hidden_size"
msg=$("$R" "${base[@]}" --output_dir "$tmp/bad" --model_type electra --rtd --rtd_tied_generator \
  --rtd_use_batch_interaction 2>&1)
expect_status $? 2 "--rtd_use_batch_interaction without --rtd_sample_from_batch is refused"
expect_contains "$msg" "needs --rtd_sample_from_batch" "naming the flag it needs"
msg=$("$R" "${base[@]}" --output_dir "$tmp/bad" --model_type electra --rtd --rtd_sample_from_batch \
  --rtd_use_batch_interaction 2>&1)
expect_status $? 2 "--rtd_use_batch_interaction with a generator narrower than the discriminator is refused"
expect_contains "$msg" "--electra_generator_hidden_size 1" "naming the widths' flag"
msg=$("$R" "${base[@]}" --output_dir "$tmp/bad" --model_type electra --rtd --rtd_tied_generator \
  --rtd_discriminator_loss_weight -1 2>&1)
expect_status $? 2 "a negative discriminator weight is refused"
expect_contains "$msg" "--rtd_discriminator_loss_weight" "naming the flag"
msg=$("$R" "${base[@]}" --output_dir "$tmp/bad" --model_type electra --rtd --rtd_tied_generator --sampled_softmax 2>&1)
expect_contains "$msg" "--sampled_softmax" "--rtd with --sampled_softmax is refused, naming it"
finish
