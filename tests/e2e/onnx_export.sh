#!/usr/bin/env bash
# `reckon export --format onnx` on models `reckon train` made: for mlp, dcn, dlrm, wide_n_deep and
# deepfm (one task) and mmoe and ple (two binary tasks and a regression one), trained briefly on
# `reckon synth tenrec` data, the ONNX file run in ONNX Runtime (npm onnxruntime-node under
# build/peers, tests/e2e/onnx_check.js) on the eval rows gives `reckon predict`'s scores to 1e-5.
# wide_n_deep's hashed crosses have no ONNX form: exporting them is refused, naming hash_cross.
# Skips when onnxruntime-node or node is missing (fails under RECKON_REQUIRE_PEERS=1), and while
# this reckon has no `export` command.
set -u
source "$(dirname "$0")/lib.bash"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
R=$RECKON_BIN
peers="$RECKON_SOURCE_DIR/build/peers/node_modules"
if ! { [ -d "$peers/onnxruntime-node" ] && command -v node > /dev/null; }; then
  [ "${RECKON_REQUIRE_PEERS:-0}" = 1 ] && { fail "onnxruntime-node (build/peers) missing and RECKON_REQUIRE_PEERS=1"; finish; }
  echo "skipping: onnxruntime-node (build/peers) not installed"
  finish
fi
if ! "$R" export --help > /dev/null 2>&1; then
  echo "skipping: this reckon has no export command"
  finish
fi

"$R" synth tenrec --rows 6000 --seed 7 --na_fraction 0.02 --output "$tmp/t.csv" > /dev/null
"$R" preprocess --input_data_format=csv --csv_na_values=\\N --input_data_path "$tmp/t.csv" --output_path="$tmp/pp/" \
  --categorical_features=user_id,item_id,video_category,gender,age --binary_classif_targets=click,follow,like,share \
  --regression_targets=watching_times --to_int32=user_id,item_id --to_int16=watching_times \
  --to_int8=gender,age,video_category,click,follow,like,share --user_id_feature=user_id --item_id_feature=item_id \
  --min_user_freq 5 --dataset_split_strategy=random --random_split_eval_perc=0.2 --quiet
expect_status $? 0 "synthetic data preprocessed"
D=$tmp/pp
features=user_id,item_id,video_category,gender,age
# Every 2-way cross of the single-valued features left out: wide_n_deep's wide part is then a
# weight per category, which ONNX computes.
no_crosses=user_id:item_id,user_id:video_category,user_id:gender,user_id:age,item_id:video_category,item_id:gender
no_crosses=$no_crosses,item_id:age,video_category:gender,video_category:age,gender:age

# model, tasks, extra flags: train, predict on eval, export, run the export.
check() {
  local m=$1 tasks=$2 label=$3; shift 3
  "$R" train --train_data_path $D/train --tasks "$tasks" --model "$m" --lr 1e-3 --epochs 1 --train_batch_size 512 \
    --embeddings_dim 16 --mlp_layers 32,16 --save_model_path "$tmp/m_$label" --output_path "$tmp/o_$label" --quiet "$@"
  expect_status $? 0 "$label: trains"
  "$R" predict --load_model_path "$tmp/m_$label" --predict_data_path $D/eval --predict_output_path "$tmp/p_$label.csv" \
    --predict_output_keep_cols $features --quiet
  expect_status $? 0 "$label: predicts"
  "$R" export --model_path "$tmp/m_$label" --output_path "$tmp/repo_$label" --name rk --format onnx > /dev/null
  expect_status $? 0 "$label: exports to ONNX"
  local onnx
  onnx=$(find "$tmp/repo_$label" -name '*.onnx' | head -1)
  [ -n "$onnx" ] || { fail "$label: no .onnx file in the repository"; return; }
  local out
  out=$(NODE_PATH="$peers" node "$RECKON_SOURCE_DIR/tests/e2e/onnx_check.js" "$onnx" "$tmp/p_$label.csv" 1e-5 2>&1)
  expect_status $? 0 "$label: ONNX Runtime gives reckon predict's scores to 1e-5 (${out#onnx_check: })"
}

check mlp click mlp
check dcn click dcn
check dlrm click dlrm
check wide_n_deep click wide_n_deep --wnd_ignore_combinations "$no_crosses"
check deepfm click deepfm
check mmoe click,like,watching_times mmoe
check ple click,like,watching_times ple --ple_num_layers 2

# The hashed crosses: refused by name, and no ONNX file left behind.
"$R" train --train_data_path $D/train --tasks click --model wide_n_deep --epochs 1 --train_batch_size 512 \
  --train_steps_per_epoch 2 --save_model_path "$tmp/m_crosses" --output_path "$tmp/o_crosses" --quiet
err=$("$R" export --model_path "$tmp/m_crosses" --output_path "$tmp/repo_crosses" --name rk --format onnx 2>&1); rc=$?
[ $rc != 0 ] && pass "wide_n_deep with hashed crosses: the export fails" || fail "wide_n_deep with hashed crosses exported"
expect_contains "$err" "hash_cross" "the message names the op without an ONNX form"
[ -z "$(find "$tmp/repo_crosses" -name '*.onnx' 2> /dev/null)" ] && pass "and leaves no .onnx file" || fail "an .onnx file was left"
finish
