#!/usr/bin/env bash
# `reckon train`, `evaluate` and `predict` on data `reckon preprocess` wrote: the quick-start's
# seed command verbatim; every model trains, saves, loads, evaluates (the same metrics as after
# training) and predicts; bit-identical weights for 1 and 2 threads; a run killed with SIGKILL
# and resumed ends with the same weights as one never stopped; outputs, flags and bad inputs.
set -u
source "$(dirname "$0")/lib.bash"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
R=$RECKON_BIN
rows=20000
epochs=1
[ "${RECKON_SANITIZED:-0}" = 1 ] && rows=10000 && epochs=3   # fewer rows, more passes: the models still learn
"$R" synth tenrec --rows $rows --seed 5 --na_fraction 0.02 --output "$tmp/qk.csv" >/dev/null
"$R" preprocess --input_data_format=csv --csv_na_values=\\N --input_data_path "$tmp/qk.csv" --output_path="$tmp/pp/" \
  --categorical_features=user_id,item_id,video_category,gender,age --binary_classif_targets=click,follow,like,share \
  --regression_targets=watching_times --to_int32=user_id,item_id --to_int16=watching_times \
  --to_int8=gender,age,video_category,click,follow,like,share --user_id_feature=user_id --item_id_feature=item_id \
  --min_user_freq 5 --dataset_split_strategy=random --random_split_eval_perc=0.2 --output_num_partitions 3 --quiet
D=$tmp/pp
json_num() { grep -o "\"$2\": [-0-9.e+]*" "$1" | head -1 | cut -d' ' -f2; }

# ---- the seed command, verbatim but for the program name and paths ----
cd "$tmp"
out=$("$R" train --train_path $D/train --eval_path $D/eval --output_path ./outputs/ --tasks=click \
  --stl_positive_class_weight 4 --model dlrm --embeddings_dim 64 --l2_reg 1e-5 \
  --embeddings_l2_reg 1e-6 --dropout 0.05 --mlp_layers 64,32 --lr 1e-4 --lr_decay_rate 0.99 \
  --lr_decay_steps 100 --train_batch_size 4096 --eval_batch_size 4096 --epochs 1 \
  --train_steps_per_epoch 10 2>&1); rc=$?
expect_status $rc 0 "the quick-start's dlrm command runs verbatim"
expect_contains "$out" "eval: loss=" "it prints the eval metrics"
expect_contains "$out" "auc=" "including the AUC"
steps=$(json_num outputs/metrics.json steps)
train_rows=$("$R" inspect --json $D/train 2>/dev/null | grep -o '"rows": [0-9]*' | head -1 | cut -d' ' -f2)
[ "$steps" = $(( (train_rows + 4095) / 4096 )) ] && pass "--train_steps_per_epoch 10 stops at the end of the data ($steps steps of 4096)" \
  || fail "steps: $steps for $train_rows rows"
for f in metrics.json train_log.jsonl train_log.csv log.json report.html; do
  [ -s outputs/$f ] && pass "writes $f" || fail "no $f"
done
head -1 outputs/train_log.csv | grep -q '^step,epoch,loss,regularization_loss,lr,samples_per_s,auc,prauc,logloss' \
  && pass "train_log.csv has the metric columns" || fail "train_log.csv header: $(head -1 outputs/train_log.csv)"
head -1 outputs/log.json | grep -q '^DLLL {.*"step": "PARAMETER".*"model": "dlrm"' && pass "log.json starts with DLLogger's PARAMETER line" \
  || fail "log.json: $(head -c 300 outputs/log.json)"
tail -1 outputs/log.json | grep -q '"step": \[\].*"auc"' && pass "log.json ends with the eval metrics" || fail "log.json tail"
grep -q '"regularization_loss"' outputs/metrics.json && pass "metrics.json has regularization_loss" || fail "no regularization_loss"
grep -q '<svg' outputs/report.html && grep -q 'ROC' outputs/report.html && pass "report.html has plots and the ROC curve" \
  || fail "report.html lacks plots"
cd - >/dev/null

# ---- every model: train, save, load, evaluate, predict ----
common=(--train_data_path $D/train --eval_data_path $D/eval --tasks click --lr 1e-3 --lr_decay_rate 0 --epochs $epochs
  --train_batch_size 512 --eval_batch_size 1000 --embeddings_dim 16 --mlp_layers 32,16 --quiet)
eval_rows=$("$R" inspect --json $D/eval 2>/dev/null | grep -o '"rows": [0-9]*' | head -1 | cut -d' ' -f2)
for m in mlp dcn dlrm wide_n_deep deepfm; do
  "$R" train "${common[@]}" --model $m --output_path "$tmp/o_$m" --save_model_path "$tmp/m_$m"; rc=$?
  expect_status $rc 0 "--model $m trains"
  auc=$(json_num "$tmp/o_$m/metrics.json" auc)
  awk -v a="$auc" 'BEGIN { exit !(a > 0.55 && a <= 1) }' && pass "$m learns (eval AUC $auc)" || fail "$m eval AUC $auc"
  for f in model.json weights.safetensors schema.pbtxt .merlin/schema.json workflow/workflow.json; do
    [ -f "$tmp/m_$m/$f" ] || fail "$m: the model folder lacks $f"
  done
  ev=$("$R" evaluate --load_model_path "$tmp/m_$m" --eval_data_path $D/eval --eval_batch_size 333 --output_path "$tmp/e_$m" 2>&1)
  expect_status $? 0 "$m: reckon evaluate loads the saved model"
  # Another batch size may round logits differently (BLAS blocking by row position), which splits
  # the exact ties between identical rows, each split moving the AUC by ~1e-7: equal to 1e-4.
  # The same batch size: exactly.
  awk -v a="$(json_num "$tmp/e_$m/metrics.json" auc)" -v b="$auc" 'BEGIN { d = a - b; exit !(d < 1e-4 && d > -1e-4) }' \
    && pass "$m: evaluate at another batch size gives the AUC of training" \
    || fail "$m: evaluate AUC $(json_num "$tmp/e_$m/metrics.json" auc) vs $auc"
  "$R" evaluate --load_model_path "$tmp/m_$m" --eval_data_path $D/eval --eval_batch_size 1000 --output_path "$tmp/e_$m" --quiet
  [ "$(json_num "$tmp/e_$m/metrics.json" auc)" = "$auc" ] && pass "$m: and at the same batch size, the same bits" \
    || fail "$m: evaluate AUC $(json_num "$tmp/e_$m/metrics.json" auc) vs $auc at the same batch size"
  # A batch far beyond the data: the graph is sized by the rows there are (a 1e8-row graph would
  # not fit in memory).
  "$R" evaluate --load_model_path "$tmp/m_$m" --eval_data_path $D/eval --eval_batch_size 100000000 --output_path "$tmp/e_$m" --quiet
  expect_status $? 0 "$m: evaluate with a batch larger than the eval set"
  awk -v a="$(json_num "$tmp/e_$m/metrics.json" auc)" -v b="$auc" 'BEGIN { d = a - b; exit !(d < 1e-4 && d > -1e-4) }' \
    && pass "$m: which evaluates the whole set once" || fail "$m: evaluate AUC $(json_num "$tmp/e_$m/metrics.json" auc) vs $auc at batch 1e8"
  "$R" predict --load_model_path "$tmp/m_$m" --predict_data_path $D/eval --predict_output_path "$tmp/p_$m.csv" \
    --predict_output_keep_cols user_id,click --quiet
  expect_status $? 0 "$m: reckon predict runs"
  [ "$(head -1 "$tmp/p_$m.csv")" = "user_id,click,click/binary_output" ] && pass "$m: predictions are named click/binary_output after the kept columns" \
    || fail "$m: header $(head -1 "$tmp/p_$m.csv")"
  [ "$(($(wc -l < "$tmp/p_$m.csv") - 1))" = "$eval_rows" ] && pass "$m: one prediction per eval row" \
    || fail "$m: $(wc -l < "$tmp/p_$m.csv") lines for $eval_rows rows"
done
# The predictions reproduce the AUC: an independent count of concordant pairs over the CSV.
pauc=$(awk -F, 'NR > 1 { print $3, $2 }' "$tmp/p_dlrm.csv" | sort -g | awk '
  { s[NR] = $1; y[NR] = $2 } END {
    i = 1; while (i <= NR) { j = i; while (j < NR && s[j + 1] == s[i]) j++
      r = (i + j) / 2; for (k = i; k <= j; k++) if (y[k] == 1) { sum += r; np++ }; i = j + 1 }
    nn = NR - np; printf "%.6f", (sum - np * (np + 1) / 2) / (np * nn) }')
awk -v a="$pauc" -v b="$(json_num "$tmp/o_dlrm/metrics.json" auc)" 'BEGIN { d = a - b; exit !(d < 1e-4 && d > -1e-4) }' \
  && pass "the AUC recomputed from the predictions by rank sums agrees ($pauc)" || fail "rank-sum AUC $pauc"

# ---- regression target ----
"$R" train "${common[@]/click/watching_times}" --model mlp --output_path "$tmp/o_reg" --save_model_path "$tmp/m_reg"
expect_status $? 0 "a regression target trains"
grep -q '"root_mean_squared_error"' "$tmp/o_reg/metrics.json" && pass "it reports root_mean_squared_error" || fail "no RMSE"
"$R" predict --load_model_path "$tmp/m_reg" --predict_data_path $D/eval --predict_output_path "$tmp/p_reg.parquet" --quiet
"$R" inspect "$tmp/p_reg.parquet" 2>/dev/null | grep -q "watching_times/regression_output" \
  && pass "regression predictions are named watching_times/regression_output" || fail "regression output name"

# ---- determinism ----
det=(--train_data_path $D/train --tasks click --model dcn --lr 1e-3 --train_batch_size 256 --dropout 0.1
  --embeddings_l2_reg 1e-4 --mlp_layers 32,16 --quiet)
for t in 1 2; do "$R" train "${det[@]}" --threads $t --output_path "$tmp/d$t" --save_model_path "$tmp/dm$t"; done
cmp -s "$tmp/dm1/weights.safetensors" "$tmp/dm2/weights.safetensors" && pass "--threads 1 and 2 give bit-identical weights" \
  || fail "the weights depend on the thread count"
cmp -s "$tmp/d1/train_log.jsonl" "$tmp/d2/train_log.jsonl" || true
[ "$(cut -d, -f1-5 "$tmp/d1/train_log.csv")" = "$(cut -d, -f1-5 "$tmp/d2/train_log.csv")" ] \
  && pass "and the same logged losses" || fail "logged losses differ across threads"

# ---- SIGKILL mid-run, then --resume ----
res=(--train_data_path $D/train --tasks click --model dlrm --embeddings_dim 16 --mlp_layers 64,32 --lr 1e-3
  --train_batch_size 64 --epochs 40 --dropout 0.05 --checkpoint_every_steps 40 --metrics_log_frequency 20 --quiet)
"$R" train "${res[@]}" --output_path "$tmp/full" --save_model_path "$tmp/full_model"
"$R" train "${res[@]}" --output_path "$tmp/killed" --save_model_path "$tmp/killed_model" & pid=$!
kill_after_checkpoint $pid "$tmp/killed" 400
[ -n "$killed_step" ] && pass "training killed with SIGKILL after checkpoint step $killed_step" || fail "the run ended before it could be killed"
[ ! -e "$tmp/killed_model" ] && pass "a killed run leaves no model folder" || fail "a killed run left a model folder"
[ -f "$tmp/killed/checkpoint/weights.safetensors" ] && pass "the checkpoint survives the kill" || fail "no checkpoint after the kill"
err=$("$R" train "${res[@]}" --output_path "$tmp/killed" --save_model_path "$tmp/killed_model" --resume --quiet=false 2>&1); rc=$?
expect_status $rc 0 "--resume continues the killed run"
expect_contains "$err" "resuming from step" "it says where it resumes"
cmp -s "$tmp/full_model/weights.safetensors" "$tmp/killed_model/weights.safetensors" \
  && pass "the resumed run ends with bit-identical weights" || fail "resumed weights differ from the uninterrupted run's"
[ "$(cut -d, -f1-5 "$tmp/full/train_log.csv")" = "$(cut -d, -f1-5 "$tmp/killed/train_log.csv")" ] \
  && pass "and the same train log" || fail "the resumed train log differs"
[ ! -e "$tmp/killed/checkpoint" ] && pass "a finished run removes its checkpoint" || fail "checkpoint left after the run"
err=$("$R" train "${res[@]/--lr/--l2_reg}" --output_path "$tmp/full" --resume 2>&1 >/dev/null); rc=$?
expect_status $rc 0 "--resume without a checkpoint starts from the beginning"

# ---- flags ----
err=$("$R" train "${common[@]}" --model mlp --output_path "$tmp/f" --log_to_wandb True --wandb_project x --validation_steps 3 2>&1 >/dev/null); rc=$?
expect_status $rc 0 "wandb and validation flags are accepted"
expect_contains "$err" "--log_to_wandb" "with a note naming the flag"
"$R" train "${common[@]}" --model mlp --output_path "$tmp/tb" --log_to_tensorboard >/dev/null 2>&1
ls "$tmp/tb/tensorboard"/events.out.tfevents.* >/dev/null 2>&1 && pass "--log_to_tensorboard writes an event file" || fail "no event file"
"$R" train "${common[@]}" --model dlrm --output_path "$tmp/neg" --in_batch_negatives_train 2 --in_batch_negatives_eval 1 >/dev/null 2>&1
expect_status $? 0 "in-batch negatives train and evaluate"
n_eval=$(json_num "$tmp/neg/metrics.json" rows)
[ "$n_eval" -gt "$eval_rows" ] && pass "eval with 1 negative per row scores more rows ($n_eval > $eval_rows)" || fail "eval rows $n_eval"
"$R" train "${common[@]}" --model wide_n_deep --output_path "$tmp/wi" --wnd_ignore_combinations user_id:item_id \
  --save_model_path "$tmp/m_wi" >/dev/null 2>&1
grep -q 'wide_cross.user_id.item_id' "$tmp/m_wi/weights.safetensors" && fail "--wnd_ignore_combinations kept the cross" \
  || pass "--wnd_ignore_combinations leaves the cross out"
grep -q 'wide_cross.item_id.video_category' "$tmp/m_wi/weights.safetensors" && pass "and keeps the others" || fail "other crosses missing"
"$R" train --train_data_path $D/train --tasks all --ignore_tasks follow,like,share,watching_times --model mlp \
  --output_path "$tmp/ig" --train_steps_per_epoch 2 --quiet
expect_status $? 0 "--tasks all with --ignore_tasks leaving one target trains it"
grep -q '"task": "click"' "$tmp/ig/metrics.json" && pass "that target is click" || fail "task of --ignore_tasks"
"$R" train --train_data_path $D/train --tasks click --model mlp --output_path "$tmp/mi" --train_steps_per_epoch 2 --quiet \
  --load_model_path "$tmp/m_mlp" --mlp_layers 32,16 --lr 1e-9 --lr_decay_rate 0 --eval_data_path $D/eval --eval_batch_size 1000
expect_status $? 0 "--load_model_path starts from a saved model's weights"
awk -v a="$(json_num "$tmp/mi/metrics.json" auc)" -v b="$(json_num "$tmp/o_mlp/metrics.json" auc)" \
  'BEGIN { d = a - b; exit !(d < 1e-3 && d > -1e-3) }' && pass "two steps at lr 1e-9 from it keep its AUC" || fail "loaded weights not used"

# ---- errors ----
err=$("$R" train --train_data_path $D/train --tasks clik --output_path "$tmp/x" 2>&1); rc=$?
expect_status $rc 2 "an unknown task is a usage error"
expect_contains "$err" "targets: click" "listing the targets"
err=$("$R" train --train_data_path $D/train --tasks click --model dlrn --output_path "$tmp/x" 2>&1); rc=$?
expect_status $rc 2 "an unknown model is a usage error"
err=$("$R" train --train_data_path "$tmp/nowhere" --tasks click 2>&1); rc=$?
expect_status $rc 1 "a missing training folder fails"
expect_contains "$err" "nowhere" "naming it"
err=$("$R" train --tasks click 2>&1); rc=$?
expect_status $rc 2 "no training data is a usage error"
err=$("$R" train "${common[@]}" --model mlp --mlp_layers 32,x --output_path "$tmp/x" 2>&1); rc=$?
expect_status $rc 2 "a bad --mlp_layers is a usage error"
"$R" train "${common[@]}" --model mlp --output_path "$tmp/x" --save_model_path "$tmp/m_small" --mlp_layers 16,8 >/dev/null 2>&1
err=$("$R" train "${common[@]}" --model mlp --output_path "$tmp/x" --load_model_path "$tmp/m_small" 2>&1); rc=$?
expect_status $rc 0 "--load_model_path takes the architecture from model.json (issue 15 item 9)"
expect_contains "$err" "mlp_layers [16,8] (flags: [32,16])" "with a warning naming both values"
printf 'garbage' > "$tmp/m_small/weights.safetensors"
err=$("$R" evaluate --load_model_path "$tmp/m_small" --eval_data_path $D/eval 2>&1); rc=$?
expect_status $rc 1 "a corrupt weights file fails"
expect_contains "$err" "weights.safetensors" "naming the file"
err=$("$R" evaluate --load_model_path "$tmp/nomodel" --eval_data_path $D/eval 2>&1); rc=$?
expect_contains "$err" "no model at" "a missing model folder is named"
# A table id beyond the model's tables (data from another workflow).
"$R" train "${common[@]}" --model mlp --output_path "$tmp/o_big" --save_model_path "$tmp/m_big" >/dev/null 2>&1
mkdir -p "$tmp/bad"
"$R" convert $D/eval/part_0.parquet "$tmp/bad.csv" >/dev/null
awk -F, 'BEGIN { OFS = "," } NR == 1 { for (i = 1; i <= NF; i++) if ($i == "item_id") c = i; print; next } NR == 2 { $c = 99999999 } { print }' \
  "$tmp/bad.csv" > "$tmp/bad2.csv"
"$R" convert "$tmp/bad2.csv" "$tmp/bad/part_0.parquet" >/dev/null 2>&1
err=$("$R" predict --load_model_path "$tmp/m_big" --predict_data_path "$tmp/bad" --predict_output_path "$tmp/bad.out.csv" 2>&1); rc=$?
expect_status $rc 1 "an id beyond the model's table fails"
expect_contains "$err" "item_id" "naming the column"
[ ! -e "$tmp/bad.out.csv" ] && pass "and writes no predictions file" || fail "a failed predict left a file"

# ---- several tasks ----
cd "$tmp"
out=$("$R" train --train_path $D/train --eval_path $D/eval --output_path ./mtl/ --tasks=click,like,follow,share \
  --tasks_sample_space=,click,click,click --model mmoe --mmoe_num_mlp_experts 3 --expert_mlp_layers 128 --gate_dim 32 \
  --tower_layers 64 --embedding_sizes_multiplier 4 --l2_reg 1e-5 --embeddings_l2_reg 1e-6 --dropout 0.05 --lr 1e-4 \
  --lr_decay_rate 0.99 --lr_decay_steps 100 --train_batch_size 4096 --eval_batch_size 65536 --epochs 1 \
  --mtl_pos_class_weight_click=1 --mtl_pos_class_weight_follow=1 --mtl_pos_class_weight_like=1 \
  --mtl_loss_weight_click=4 --mtl_loss_weight_follow=3 --mtl_loss_weight_like=2 --mtl_loss_weight_share=1 \
  --use_task_towers --train_steps_per_epoch 3 --in_batch_negatives_train 0 --save_model_path ./mtl_model 2>&1); rc=$?
cd - >/dev/null
expect_status $rc 0 "the quick-start's MMoE command runs verbatim"
expect_contains "$out" "trained mmoe on click, follow, like, share" "tasks in schema order (binary targets, then regression)"
for k in click/binary_output/auc follow/binary_output/auc like/binary_output/auc_all share/binary_output/prauc \
  follow/binary_output_loss auc_avg; do
  grep -q "\"$k\"" "$tmp/mtl/metrics.json" && pass "metrics.json has $k" || fail "metrics.json lacks $k"
done
grep -q '"click/binary_output/auc_all"' "$tmp/mtl/metrics.json" && fail "click has no sample space, yet auc_all" \
  || pass "the empty first --tasks_sample_space item keeps click on every row"
head -1 "$tmp/mtl/train_log.csv" | grep -q 'gate_share/binary_output_weight_2' && pass "the train log has each gate's expert weights" \
  || fail "no gate weights in train_log.csv"
"$R" predict --load_model_path "$tmp/mtl_model" --predict_data_path $D/eval --predict_output_path "$tmp/mtl.csv" --quiet
[ "$(head -1 "$tmp/mtl.csv")" = "click/binary_output,follow/binary_output,like/binary_output,share/binary_output" ] \
  && pass "predictions carry one column per task" || fail "multi-task predictions: $(head -1 "$tmp/mtl.csv")"
"$R" evaluate --load_model_path "$tmp/mtl_model" --eval_data_path $D/eval --eval_batch_size 65536 --output_path "$tmp/mtl_e" --quiet
[ "$(json_num "$tmp/mtl_e/metrics.json" 'follow/binary_output/auc')" = "$(json_num "$tmp/mtl/metrics.json" 'follow/binary_output/auc')" ] \
  && pass "evaluate reuses the sample spaces and gives training's follow AUC" || fail "evaluate of the MMoE differs"
# The = form of the dynamic weights takes effect: other loss weights, another loss.
"$R" train --train_path $D/train --output_path "$tmp/mtw" --tasks=click,like --model mlp --mlp_layers 16 --train_steps_per_epoch 2 \
  --mtl_loss_weight_click=1 --quiet
"$R" train --train_path $D/train --output_path "$tmp/mtw2" --tasks=click,like --model mlp --mlp_layers 16 --train_steps_per_epoch 2 \
  --mtl_loss_weight_click=5 --quiet
[ "$(json_num "$tmp/mtw/metrics.json" final_loss)" != "$(json_num "$tmp/mtw2/metrics.json" final_loss)" ] \
  && pass "--mtl_loss_weight_click=5 (the = form) changes the loss" || fail "the = form of a dynamic weight was ignored"
# Sample-weight columns (any numeric column of the data; here the gender ids), in both flag forms.
"$R" train --train_path $D/train --output_path "$tmp/sw1" --tasks=click,like --model mlp --mlp_layers 16 --train_steps_per_epoch 2 \
  --mtl_sample_weight_column_like=gender --quiet
expect_status $? 0 "--mtl_sample_weight_column_like=gender trains"
"$R" train --train_path $D/train --output_path "$tmp/sw2" --tasks=click,like --model mlp --mlp_layers 16 --train_steps_per_epoch 2 \
  --mtl_sample_weight_column_like gender --quiet
[ "$(json_num "$tmp/sw1/metrics.json" final_loss)" = "$(json_num "$tmp/sw2/metrics.json" final_loss)" ] \
  && [ "$(json_num "$tmp/sw1/metrics.json" final_loss)" != "$(json_num "$tmp/mtw/metrics.json" final_loss)" ] \
  && pass "a task's sample-weight column changes the loss, the same in both flag forms" || fail "per-task sample weights"
"$R" train --train_path $D/train --output_path "$tmp/sw3" --tasks=click,like --model mlp --mlp_layers 16 --train_steps_per_epoch 2 \
  --sample_weight_column gender --quiet
[ "$(json_num "$tmp/sw3/metrics.json" final_loss)" != "$(json_num "$tmp/sw1/metrics.json" final_loss)" ] \
  && pass "--sample_weight_column weighs every task" || fail "--sample_weight_column has no effect"
err=$("$R" train --train_path $D/train --tasks=click,like --mtl_sample_weight_column_like=nosuch --output_path "$tmp/x" 2>&1); rc=$?
expect_status $rc 2 "a sample-weight column the data lacks is a usage error"
expect_contains "$err" "nosuch" "naming it"
for m in cgc ple mlp dcn dlrm wide_n_deep deepfm; do
  "$R" train --train_path $D/train --eval_path $D/eval --output_path "$tmp/mt_$m" --tasks all --model $m --mlp_layers 16 \
    --expert_mlp_layers 16 --tower_layers 8 --embeddings_dim 8 --ple_num_layers 2 --train_steps_per_epoch 3 --quiet
  expect_status $? 0 "--tasks all (five targets, one a regression) trains --model $m"
done
grep -q '"watching_times/regression_output/root_mean_squared_error"' "$tmp/mt_ple/metrics.json" \
  && pass "the regression task reports its RMSE under Merlin's name" || fail "no watching_times RMSE"
err=$("$R" train --train_path $D/train --tasks click,like --tasks_sample_space ,click,click --output_path "$tmp/x" 2>&1); rc=$?
expect_status $rc 2 "--tasks_sample_space with another count of entries is a usage error"
err=$("$R" train --train_path $D/train --tasks click,like --mtl_loss_weight_clik=2 --output_path "$tmp/x" 2>&1); rc=$?
expect_status $rc 2 "a dynamic weight for no task is a usage error"
expect_contains "$err" "clik" "naming it"

# ---- help and docs ----
h=$("$R" train --help 2>&1)
for f in --train_path --eval_path --save_trained_model_path --predict --ignore_tasks --stl_positive_class_weight \
  --dcn_interacted_layer_num --wnd_hashed_cross_num_bins --in_batch_negatives_train --checkpoint_every_steps --resume; do
  case "$h" in *"$f"*) ;; *) fail "--help lacks $f" ;; esac
done
pass "--help lists the reference's flags"
finish
