#!/usr/bin/env bash
# `make demo`: the main job on an embedded default: generate the synthetic TenRec-like dataset
# (with its true probabilities), write it as Parquet, show what `reckon inspect` sees in it,
# preprocess it with the quick-start's command, train the quick-start's DLRM, evaluate the saved
# model next to the best AUC the data allows (the true p_click); then a session log and its
# session ETL (`reckon preprocess` session mode: one row per session, split per day).
set -euo pipefail
reckon=${1:-build/reckon}
out=${DEMO_DIR:-build/demo}
mkdir -p "$out"

echo "== reckon synth tenrec: 500,000 interactions shaped like TenRec's QK-video (1,000 users, 500 videos)"
"$reckon" synth tenrec --rows 500000 --users 1000 --items 500 --seed 42 --emit_truth --na_fraction 0.001 \
  --output "$out/tenrec.csv"
echo
echo "== the first rows"
head -n 4 "$out/tenrec.csv"
echo
echo "== reckon convert: the same data as Parquet"
"$reckon" convert --csv_na_values '\N' "$out/tenrec.csv" "$out/tenrec.parquet"
echo
echo "== reckon inspect: the Parquet file, its layout and a profile of every column"
"$reckon" inspect "$out/tenrec.parquet"
echo
echo "== reckon preprocess: the quick-start's command (plus the true probabilities passed through, to score the ceilings)"
"$reckon" preprocess --input_data_format=csv --csv_na_values=\\N --input_data_path "$out/tenrec.csv" \
  --output_path="$out/preproc/" --categorical_features=user_id,item_id,video_category,gender,age \
  --binary_classif_targets=click,follow,like,share --regression_targets=watching_times \
  --to_int32=user_id,item_id --to_int16=watching_times --to_int8=gender,age,video_category,click,follow,like,share \
  --user_id_feature=user_id --item_id_feature=item_id --min_user_freq 5 --persist_intermediate_files \
  --dataset_split_strategy=random --random_split_eval_perc=0.2 --control_features p_click,p_follow,p_like,p_share
echo
echo "== reckon inspect: the preprocessed train split and its schema"
"$reckon" inspect --stats false "$out/preproc/train"
head -n 20 "$out/preproc/train/schema.pbtxt"
echo
echo "== reckon train: the quick-start's DLRM on click, one epoch at lr 1e-3"
"$reckon" train --train_path "$out/preproc/train" --eval_path "$out/preproc/eval" --output_path "$out/outputs/" \
  --tasks=click --model dlrm --embeddings_dim 64 --l2_reg 1e-5 --embeddings_l2_reg 1e-6 --dropout 0.05 \
  --mlp_layers 64,32 --lr 1e-3 --lr_decay_rate 0.99 --lr_decay_steps 100 --train_batch_size 256 \
  --eval_batch_size 65536 --epochs 1 --save_model_path "$out/model"
echo
echo "== reckon evaluate: the saved model, and the ceiling (the AUC of the true click probabilities)"
metrics=$("$reckon" evaluate --load_model_path "$out/model" --eval_data_path "$out/preproc/eval" \
  --eval_batch_size 65536 --baseline_prefix p_)
echo "$metrics"
auc=$(echo "$metrics" | grep -o ' auc=[0-9.]*' | cut -d= -f2)
ceiling=$(echo "$metrics" | grep -o 'baseline_auc=[0-9.]*' | cut -d= -f2)
echo "AUC $auc; ceiling $ceiling (the best any model can reach on these rows)"
echo
echo "== reckon train: the quick-start's MMoE on click, like, follow and share (like, follow, share where click = 1)"
"$reckon" train --train_path "$out/preproc/train" --eval_path "$out/preproc/eval" --output_path "$out/outputs_mmoe/" \
  --tasks=click,like,follow,share --tasks_sample_space=,click,click,click --model mmoe --mmoe_num_mlp_experts 3 \
  --expert_mlp_layers 128 --gate_dim 32 --tower_layers 64 --embedding_sizes_multiplier 4 --l2_reg 1e-5 \
  --embeddings_l2_reg 1e-6 --dropout 0.05 --lr 1e-3 --lr_decay_rate 0.99 --lr_decay_steps 100 \
  --train_batch_size 256 --eval_batch_size 65536 --epochs 1 --mtl_loss_weight_click=4 --mtl_loss_weight_follow=3 \
  --mtl_loss_weight_like=2 --mtl_loss_weight_share=1 --use_task_towers --save_model_path "$out/model_mmoe" --quiet
metrics=$("$reckon" evaluate --load_model_path "$out/model_mmoe" --eval_data_path "$out/preproc/eval" \
  --eval_batch_size 65536 --baseline_prefix p_)
echo "task      AUC      ceiling  (rows: like, follow and share are scored where click = 1)"
for t in click follow like share; do
  a=$(echo "$metrics" | grep -o " $t/binary_output/auc=[0-9.]*" | cut -d= -f2)
  c=$(echo "$metrics" | grep -o " $t/binary_output/baseline_auc=[0-9.]*" | cut -d= -f2)
  printf '%-9s %-8.4f %-8.4f\n' "$t" "$a" "$c"
done
echo "(open $out/outputs/report.html and $out/outputs_mmoe/report.html for loss curves, gate weights, ROC and calibration)"
echo
echo "== reckon synth sessions: a raw YOOCHOOSE-style click log, 5,000 sessions over 7 days (no header, ISO times, repeats, nulls)"
"$reckon" synth sessions --layout yoochoose --price true --sessions 5000 --days 7 --seed 42 --output "$out/clicks.csv"
head -n 3 "$out/clicks.csv"
echo
echo "== reckon preprocess, session mode: the Transformers4Rec ETL on those clicks (dedup, ids, time features, last 20, per day)"
"$reckon" preprocess --input_data_format csv --data_path "$out/clicks.csv" --csv_header false \
  --csv_column_names session_id,timestamp,item_id,category,price --session_id_feature session_id \
  --timestamp_feature timestamp --item_id_feature item_id --categorical_features item_id,category \
  --continuous_features price --relative_price_feature price,category --output_path "$out/sessions_etl"
"$reckon" inspect --stats false "$out/sessions_etl/sessions"
echo "day folders: $(cd "$out/sessions_etl" && ls -d [0-9]* | tr '\n' ' ')"
