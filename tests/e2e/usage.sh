#!/usr/bin/env bash
# What a new user runs first (issue 15, items 4 to 10), on small `reckon synth` data: embedding L2
# with list and indicator columns; `widedeep` on the recipe's glob form of paths; the seed's
# preprocess and train commands verbatim in sequence; what predict and widedeep print and accept;
# a workflow fingerprint that predict checks; weights checked finite on load, a saved model's
# architecture on --load_model_path, the schema against the data before building; per-task towers.
set -u
source "$(dirname "$0")/lib.bash"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
R=$RECKON_BIN
cd "$tmp"
"$R" synth outbrain --displays 400 --seed 1 --bucket_scale 0.001 --output ob --quiet
"$R" synth tenrec --rows 2000 --seed 5 --output qk.csv >/dev/null
"$R" synth tenrec --rows 300 --seed 6 --output test.csv >/dev/null

# ---- item 4: embedding L2 over list and indicator columns (Outbrain has both) ----
out=$("$R" train --train_path ob/train --eval_path ob/eval --tasks label --model wide_n_deep --mlp_layers 64 \
  --train_batch_size 256 --output_path o4a --quiet 2>&1); rc=$?
expect_status $rc 0 "wide_n_deep trains on list and indicator columns with the wide L2 ($out)"
out=$("$R" train --train_path ob/train --eval_path ob/eval --tasks label --model mlp --embeddings_l2_reg 1e-6 \
  --mlp_layers 16 --train_batch_size 256 --output_path o4b --quiet 2>&1); rc=$?
expect_status $rc 0 "--model mlp --embeddings_l2_reg trains on list columns ($out)"

# ---- item 5: widedeep's --*_data_pattern as a glob of files ----
out=$("$R" widedeep --train_data_pattern "$tmp/ob/train/part_*.parquet" --eval_data_pattern "$tmp/ob/eval/part_*.parquet" \
  --model_dir ck --results_dir res --global_batch_size 512 --num_epochs 1 --deep_hidden_units 16 2>&1); rc=$?
expect_status $rc 0 "widedeep reads '<dir>/part_*.parquet' with the schema beside the files"
case "$out" in *resume*|*checkpoint\ in*) fail "a fresh run prints a --resume note: $out" ;;
  *) pass "a fresh widedeep run prints no --resume note" ;; esac
mkdir bare && cp ob/train/part_0.parquet bare/
out=$("$R" widedeep --train_data_pattern 'bare/*.parquet' --model_dir ck2 --results_dir res2 2>&1); rc=$?
[ $rc -ne 0 ] && pass "files without a schema beside them are an error" || fail "files without a schema: exit 0"
expect_contains "$out" "no schema beside 'bare/part_0.parquet'" "naming the file and where the schema was expected"

# ---- item 7: widedeep's --batch_size, --eval_steps help, predictions' columns ----
out=$("$R" widedeep --batch_size 256 --train_data_pattern ob/train --model_dir ck3 --results_dir res3 --num_epochs 1 \
  --deep_hidden_units 8 --quiet 2>&1); rc=$?
expect_status $rc 0 "the recipe's --batch_size is accepted"
grep -q '"global_batch_size": 256' res3/args.json && pass "--batch_size sets --global_batch_size" \
  || fail "--batch_size did not reach --global_batch_size: $(grep -o '"global_batch_size": [0-9]*' res3/args.json)"
help=$("$R" widedeep --help 2>&1)
expect_contains "$help" "--batch_size" "--help lists --batch_size"
expect_contains "$help" "same as --global_batch_size" "as the alias of --global_batch_size"
line=$(printf '%s\n' "$help" | grep -- '--eval_steps')
case "$line" in *"default: 8"*) fail "--eval_steps help gives a default of 8 and says the whole set: $line" ;;
  *) pass "--eval_steps help states one default" ;; esac
"$R" widedeep --predict --eval_data_pattern ob/eval --model_dir ck --results_dir res --quiet
cols=$("$R" inspect --json ck/predictions.parquet 2>/dev/null | grep -o '"name": "[^"]*"' | cut -d'"' -f4 | tr '\n' ',')
expect_contains "$cols" "display_id,ad_id,label/binary_output" "predictions.parquet holds display_id, ad_id, label/binary_output"
"$R" docs pages >/dev/null 2>&1
grep -q 'predictions.parquet` (`display_id`, `ad_id`, `<target>/binary_output`)' pages/widedeep.md \
  && pass "the widedeep page names the columns predictions.parquet holds" || fail "$(grep -o 'predictions.parquet[^.]*' pages/widedeep.md)"

# ---- item 6: the seed's two commands verbatim in sequence, and test/ ----
OUT_DATASET_PATH=$tmp/preproc/
"$R" preprocess --input_data_format=csv --csv_na_values=\\N --input_data_path qk.csv --output_path=$tmp/preproc/ \
  --categorical_features=user_id,item_id,video_category,gender,age --binary_classif_targets=click,follow,like,share \
  --regression_targets=watching_times --to_int32=user_id,item_id --to_int16=watching_times \
  --to_int8=gender,age,video_category,click,follow,like,share --user_id_feature=user_id --item_id_feature=item_id \
  --min_user_freq 5 --persist_intermediate_files --dataset_split_strategy=random --random_split_eval_perc=0.2 \
  --test_data_path test.csv --quiet
expect_status $? 0 "the seed's preprocessing command runs (with --test_data_path)"
out=$("$R" train --train_path $OUT_DATASET_PATH/final_dataset/train --eval_path $OUT_DATASET_PATH/final_dataset/eval \
  --output_path ./outputs/ --tasks=click --stl_positive_class_weight 4 --model dlrm --embeddings_dim 64 --l2_reg 1e-5 \
  --embeddings_l2_reg 1e-6 --dropout 0.05 --mlp_layers 64,32  --lr 1e-4 --lr_decay_rate 0.99 --lr_decay_steps 100 \
  --train_batch_size 4096 --eval_batch_size 4096 --epochs 1 --train_steps_per_epoch 10 2>&1); rc=$?
expect_status $rc 0 "then its training command on \$OUT_DATASET_PATH/final_dataset/train runs verbatim"
expect_contains "$out" "auc=" "and evaluates"
[ -f preproc/test/part_0.parquet ] && pass "--test_data_path's rows are in test/, as the reference names it" || fail "no test/"
[ -f preproc/predict/part_0.parquet ] && pass "predict/ still reads them" || fail "predict/ is gone"
# ---- item 10: a tower size per task, in both flag forms; item 7: predict names every column ----
D=$tmp/preproc
mtl=(--train_path $D/train --eval_path $D/eval --tasks click,like --model mmoe --mmoe_num_mlp_experts 2
     --expert_mlp_layers 8 --gate_dim 4 --tower_layers 4 --train_batch_size 512 --quiet)
out=$("$R" train "${mtl[@]}" --mtl_tower_layers_click=16,8 --mtl_tower_layers_like 6 --output_path o10 \
  --save_model_path m10 2>&1); rc=$?
expect_status $rc 0 "--mtl_tower_layers_<task> in both forms ($out)"
tr -d ' \n' < m10/model.json | grep -q '"task_tower_layers":{"click":\[16,8\],"like":\[6\]}' \
  && pass "model.json keeps each task's tower" || fail "model.json: $(grep -A8 task_tower m10/model.json | tr -d ' \n')"
out=$("$R" train "${mtl[@]}" --mtl_tower_layers_clik=16 --output_path o10b 2>&1); rc=$?
[ $rc -ne 0 ] && pass "a tower for a task not trained is an error" || fail "--mtl_tower_layers_clik accepted"
expect_contains "$out" "--mtl_tower_layers_clik: 'clik' is not a task of this model; expected one of click, like" "naming the flag and the tasks"
out=$("$R" predict --load_model_path m10 --predict_data_path $D/test --predict_output_path p10.parquet 2>&1); rc=$?
expect_status $rc 0 "predict loads the model with per-task towers"
expect_contains "$out" "(click/binary_output, like/binary_output)" "predict names every column it wrote"

# ---- item 8: predict and evaluate refuse data transformed by another fitted workflow ----
# The seed's command without the regression target: the same vocabularies, another workflow.
"$R" preprocess --input_data_format=csv --csv_na_values=\\N --input_data_path qk.csv --output_path=pp8 \
  --categorical_features=user_id,item_id,video_category,gender,age --binary_classif_targets=click,follow,like,share \
  --to_int32=user_id,item_id --to_int8=gender,age,video_category,click,follow,like,share --user_id_feature=user_id \
  --item_id_feature=item_id --min_user_freq 5 --dataset_split_strategy=random --random_split_eval_perc=0.2 \
  --test_data_path test.csv --quiet
fp_model=$(grep -o '"workflow_fingerprint": "[^"]*"' m10/model.json | cut -d'"' -f4)
fp_other=$(grep -o '"workflow_fingerprint": "[^"]*"' pp8/preprocess_report.json | cut -d'"' -f4)
case "$fp_model" in xxh64:????????????????) pass "model.json records its training data's workflow fingerprint" ;;
  *) fail "model.json: '$fp_model'" ;; esac
[ -n "$fp_other" ] && [ "$fp_other" != "$fp_model" ] && pass "another workflow has another fingerprint" || fail "fingerprints '$fp_other' '$fp_model'"
out=$("$R" predict --load_model_path m10 --predict_data_path pp8/test --predict_output_path p8.parquet 2>&1); rc=$?
[ $rc -ne 0 ] && [ ! -e p8.parquet ] && pass "predict refuses data of another workflow" || fail "predict accepted it: $out"
expect_contains "$out" "transformed by workflow $fp_other, but the model's training data by workflow $fp_model" "naming both fingerprints"
expect_contains "$out" "--allow_workflow_mismatch" "and the flag that overrides"
out=$("$R" evaluate --load_model_path m10 --eval_data_path pp8/eval 2>&1); rc=$?
[ $rc -ne 0 ] && pass "evaluate refuses it too" || fail "evaluate accepted it: $out"
out=$("$R" predict --load_model_path m10 --predict_data_path pp8/test --predict_output_path p8.parquet --allow_workflow_mismatch 2>&1); rc=$?
expect_status $rc 0 "--allow_workflow_mismatch predicts anyway ($out)"
expect_contains "$out" "warning: --predict_data_path 'pp8/test' was transformed by workflow $fp_other" "with a warning"
"$R" widedeep --train_data_pattern $D/train --model_dir wd8 --results_dir wr8 --num_epochs 1 --deep_hidden_units 8 \
  --global_batch_size 512 --quiet
out=$("$R" widedeep --evaluate --eval_data_pattern pp8/eval --model_dir wd8 --results_dir wr8b 2>&1); rc=$?
[ $rc -ne 0 ] && pass "widedeep --evaluate refuses it too" || fail "widedeep --evaluate accepted it: $out"
expect_contains "$out" "--eval_data_pattern 'pp8/eval' was transformed by workflow $fp_other" "with the same message"
"$R" transform --quiet --workflow m10/workflow test.csv t8
out=$("$R" predict --load_model_path m10 --predict_data_path t8 --predict_output_path p8b.parquet 2>&1); rc=$?
expect_status $rc 0 "data transformed with the model's own workflow is accepted ($out)"
mkdir foreign && cp t8/part_0.parquet foreign/
out=$("$R" predict --load_model_path m10 --predict_data_path foreign --predict_output_path p8c.parquet 2>&1); rc=$?
expect_status $rc 0 "data without a fingerprint (another tool's) is accepted"
expect_contains "$out" "has no workflow fingerprint" "with a warning"

# ---- item 9: weights checked finite on load; the schema checked against the data first ----
# A safetensors file is an 8-byte header length, the JSON header, then the data: the first 4 bytes of data
# are element 0 of one tensor.
poke() {   # file, 4 bytes as printf escapes
  local len; len=$(od -An -t u8 -N8 "$1" | tr -d ' ')
  printf "$2" | dd of="$1" bs=1 seek=$((8 + len)) conv=notrunc status=none
}
for bad in 'NaN:\x00\x00\xc0\x7f' '+inf:\x00\x00\x80\x7f'; do
  rm -rf m9 && cp -r m10 m9 && poke m9/weights.safetensors "${bad#*:}"
  out=$("$R" predict --load_model_path m9 --predict_data_path $D/test --predict_output_path p9.parquet 2>&1); rc=$?
  [ $rc -ne 0 ] && [ ! -e p9.parquet ] && pass "predict refuses a model with ${bad%%:*} weights" || fail "predict: $rc $out"
  expect_contains "$out" "holds ${bad%%:*} at index 0" "naming the tensor and the index"
  out=$("$R" evaluate --load_model_path m9 --eval_data_path $D/eval 2>&1); rc=$?
  [ $rc -ne 0 ] && pass "evaluate refuses it the same way" || fail "evaluate: $out"
  expect_contains "$out" "holds ${bad%%:*} at index 0" "with the same message"
done
out=$("$R" train --train_path $D/train --tasks click,like --model mlp --train_batch_size 512 --load_model_path m10 \
  --output_path o9b 2>&1); rc=$?
expect_status $rc 0 "train --load_model_path builds model.json's architecture whatever --model says"
expect_contains "$out" "trained mmoe on click, like" "and trains that model"
expect_contains "$out" 'model "mmoe" (flags: "mlp")' "warning with both values"
mkdir wrong && cp $D/train/part_0.parquet wrong/ && cp -r ob/train/schema.pbtxt ob/train/.merlin wrong/
out=$("$R" train --train_path wrong --tasks label --model mlp --output_path o9 2>&1); rc=$?
[ $rc -ne 0 ] && pass "train refuses a schema that does not describe the data" || fail "train ran: $out"
expect_contains "$out" "the data has no column 'ad_id', 'label'" "naming the missing columns"
expect_contains "$out" ", ... (" "at most ten of them"
expect_contains "$out" "of the schema's columns the model reads are missing" "and how many"

"$R" preprocess --input_data_format=csv --input_data_path qk.csv --output_path=$tmp/preproc/ \
  --categorical_features=user_id,item_id --binary_classif_targets=click --quiet
[ ! -e preproc/predict ] && [ ! -e preproc/test ] && [ -d preproc/final_dataset/train ] \
  && pass "a rerun without test data removes test/ and its link, keeps final_dataset" \
  || fail "after a rerun: $(ls -A preproc | tr '\n' ' ')"

finish
