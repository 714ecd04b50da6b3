#!/usr/bin/env bash
# Bad flag values are refused before any work, with a message naming the flag, the value and its
# range (issue 15 items 11 and 14): every numeric flag's range comes from its table row. Also the
# contradictions between flags, and column-naming flags that name no column.
set -u
source "$(dirname "$0")/lib.bash"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1

# refused CHECK-NAME EXPECTED-MESSAGE reckon-arguments...: exit status 2 and the message.
refused() {
  local name=$1 want=$2
  shift 2
  local err rc
  err=$("$RECKON_BIN" "$@" 2>&1 >/dev/null); rc=$?
  expect_status $rc 2 "$name is a usage error"
  expect_contains "$err" "$want" "$name: the message names flag, value and range"
}

# The issue's values, each refused by the parser (train needs no data to get there).
refused "--dropout nan" "invalid value 'nan' for --dropout: expected a number in [0, 1)" train --dropout nan
refused "--dropout -0.5" "invalid value '-0.5' for --dropout: expected a number in [0, 1)" train --dropout=-0.5
refused "--l2_reg nan" "invalid value 'nan' for --l2_reg: expected a number >= 0" train --l2_reg nan
refused "--l2_reg -1" "invalid value '-1' for --l2_reg: expected a number >= 0" train --l2_reg -1
refused "--lr_decay_rate nan" "for --lr_decay_rate: expected a number in [0, 1]" train --lr_decay_rate nan
refused "--lr_decay_rate -2" "invalid value '-2' for --lr_decay_rate" train --lr_decay_rate -2
refused "--lr_decay_steps 0" "invalid value '0' for --lr_decay_steps: expected an integer >= 1" train --lr_decay_steps 0
refused "--lr_decay_steps -1" "invalid value '-1' for --lr_decay_steps" train --lr_decay_steps -1
refused "--embedding_sizes_multiplier -1" "for --embedding_sizes_multiplier: expected a number in (0, 1024]" \
  train --embedding_sizes_multiplier -1
refused "--embedding_sizes_multiplier nan" "invalid value 'nan' for --embedding_sizes_multiplier" \
  train --embedding_sizes_multiplier nan
refused "--stl_positive_class_weight -1" "for --stl_positive_class_weight: expected a number > 0" \
  train --stl_positive_class_weight -1
refused "--dcn_interacted_layer_num -1" "for --dcn_interacted_layer_num: expected an integer in [1, 64]" \
  train --dcn_interacted_layer_num -1
refused "--checkpoint_every_steps -1" "for --checkpoint_every_steps: expected an integer >= 0" \
  train --checkpoint_every_steps -1
refused "--wnd_hashed_cross_num_bins 0" "for --wnd_hashed_cross_num_bins: expected an integer in [1, 2^30]" \
  train --wnd_hashed_cross_num_bins 0
refused "--mtl_gates_softmax_temperature 0" "for --mtl_gates_softmax_temperature: expected a number > 0" \
  train --mtl_gates_softmax_temperature 0
refused "--gate_dim -1" "invalid value '-1' for --gate_dim: expected an integer in [0, 2^16]" train --gate_dim -1
refused "--wnd_wide_l2_reg nan" "invalid value 'nan' for --wnd_wide_l2_reg: expected a number >= 0" train --wnd_wide_l2_reg nan
refused "--threads 100000" "invalid value '100000' for --threads: expected an integer in [0, 1024]" train --threads 100000
refused "--train_batch_size 2147483648" "for --train_batch_size: expected an integer in [1, 2^28]" \
  train --train_batch_size 2147483648
refused "widedeep --global_batch_size 0" "invalid value '0' for --global_batch_size: expected an integer in [1, 2^28]" \
  widedeep --global_batch_size 0
refused "--mlp_layers 64,0" "invalid value '0' for --mlp_layers: expected whole numbers in [1, 2^16]" train --mlp_layers 64,0
refused "--mtl_loss_weight_click -1" "invalid value '-1' for --mtl_loss_weight_click: expected a number >= 0" \
  train --mtl_loss_weight_click -1
printf 'dropout: nan\n' >run.yaml
refused "a YAML config's dropout: nan" "invalid value 'nan' for 'dropout' in 'run.yaml' line 1: expected a number in [0, 1)" \
  train --config run.yaml

out=$("$RECKON_BIN" train --help)
expect_contains "$out" "--dropout P in [0, 1)" "--help shows a flag's range"

# Contradictions: preprocess refuses them before reading a row.
printf 'user,item,click,x\n1,2,1,0.5\n1,3,0,\n2,2,1,1.5\n' >d.csv
refused "--min_user_freq 10 --max_user_freq 5" "--min_user_freq 10 is above --max_user_freq 5" \
  preprocess --data_path d.csv --output_path pp --categorical_features user,item --binary_classif_targets click \
  --user_id_feature user --min_user_freq 10 --max_user_freq 5
refused "--min_item_freq 3 --max_item_freq 2" "--min_item_freq 3 is above --max_item_freq 2" \
  preprocess --data_path d.csv --output_path pp --categorical_features user,item --item_id_feature item \
  --min_item_freq 3 --max_item_freq 2
refused "--to_int8 click --to_int16 click" "column 'click' is named by both --to_int16 and --to_int8" \
  preprocess --data_path d.csv --output_path pp --categorical_features user,item --binary_classif_targets click \
  --to_int8 click --to_int16 click
refused "--continuous_features_fillna nan" "invalid value 'nan' for --continuous_features_fillna: expected a finite number or 'median'" \
  preprocess --data_path d.csv --output_path pp --continuous_features x --continuous_features_fillna nan
[ ! -e pp ]
expect_status $? 0 "a refused preprocess writes nothing"

# widedeep: a column-naming flag must name a column of the data.
"$RECKON_BIN" synth outbrain --displays 60 --output ob --quiet
expect_status $? 0 "synth outbrain writes a small dataset"
refused "widedeep --display_id_column nosuch" "--display_id_column 'nosuch' is not a column of 'ob/train' (its columns: display_id, ad_id" \
  widedeep --train_data_pattern ob/train --eval_data_pattern ob/eval --display_id_column nosuch --results_dir res \
  --model_dir mdl --num_epochs 1 --deep_hidden_units 8
refused "widedeep --is_leak_column nosuch" "--is_leak_column 'nosuch' is not a column of 'ob/eval'" \
  widedeep --train_data_pattern ob/train --eval_data_pattern ob/eval --is_leak_column nosuch --results_dir res \
  --model_dir mdl --num_epochs 1 --deep_hidden_units 8
[ ! -e mdl ]
expect_status $? 0 "a refused widedeep run trains nothing"

finish
