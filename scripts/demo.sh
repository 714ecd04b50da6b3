#!/usr/bin/env bash
# `make demo`: the main job on an embedded default: generate the synthetic TenRec-like dataset
# (with its true probabilities), write it as Parquet, show what `reckon inspect` sees in it,
# preprocess it with the quick-start's command, train the quick-start's DLRM, evaluate the saved
# model next to the best AUC the data allows (the true p_click); then a session log and its
# session ETL (`reckon preprocess` session mode: one row per session, split per day), and a GPT-2
# session model trained day by day on it, its Recall@20 next to the oracle's ceiling; last, the
# DLRM exported as a Triton ensemble and served by `reckon serve`, scored over HTTP with curl.
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
echo
echo "== reckon sessions: a small GPT-2 trained day by day on those folders (recsys_main.py's protocol: train on day t,"
echo "   evaluate the last item of day t+1's valid sessions), next to the oracle's ceiling on the same sessions"
"$reckon" sessions --output_dir "$out/sessions_gpt2" --overwrite_output_dir --do_train --do_eval \
  --data_path "$out/sessions_etl" --start_time_window_index 1 --model_type gpt2 --d_model 64 --n_layer 2 --n_head 4 \
  --hidden_act gelu_new --dropout 0.1 --per_device_train_batch_size 64 --per_device_eval_batch_size 256 \
  --num_train_epochs 5 --learning_rate 0.003 --weight_decay 1.3e-05 --eval_on_last_item_seq_only \
  --mf_constrained_embeddings --eval_metrics_ks 20 --logging_steps 20 --synth_oracle "$out/clicks.csv" --quiet
avg="$out/sessions_gpt2/eval_results_avg_over_time.txt"
recall=$(grep '^eval_recall@20_AOT = ' "$avg" | cut -d' ' -f3)
ceiling=$(grep '^eval_oracle_recall@20_AOT = ' "$avg" | cut -d' ' -f3)
echo "day  Recall@20  ceiling  (each day's valid sessions; the model has trained on the days before)"
awk '/results \(time index\)/ { day = $NF; sub(/\).*/, "", day) } /^eval_oracle_recall@20 = / { c = $3 }
     /^eval_recall@20 = / { printf "%-4s %-10.4f %-8.4f\n", day, $3, c }' \
  "$out/sessions_gpt2/eval_results_over_time.txt"
printf 'Recall@20 %.4f; ceiling %.4f (the oracle on the same sessions), averaged over the evaluated days\n' "$recall" "$ceiling"
echo "(per day: $out/sessions_gpt2/eval_results_over_time.txt; curves: $out/sessions_gpt2/report.html)"
echo
echo "== reckon export + reckon serve: the DLRM above as a Triton ensemble (its workflow, then the model), served over"
echo "   KServe v2 by seed 003's tritonserver command with reckon serve in its place; a client sends raw columns with curl"
"$reckon" export --model_path "$out/model" --output_path "$out/models" --name dlrm
"$reckon" serve --model-repository="$out/models" --backend-config=tensorflow,version=2 --model-control-mode=explicit \
  --http-port 0 --metrics-port 0 --grpc-port 0 --http-address 127.0.0.1 --grpc-address 127.0.0.1 >"$out/serve.log" 2>&1 &
server=$!
for _ in $(seq 1 200); do grep -q '^reckon serve: repository' "$out/serve.log" && break; sleep 0.05; done
cat "$out/serve.log"
port=$(sed -n 's/^reckon serve: HTTP on .*:\([0-9]*\)$/\1/p' "$out/serve.log")
curl -s -X POST "http://127.0.0.1:$port/v2/repository/models/dlrm/load" && echo "loaded dlrm (explicit mode, as the seed's load_model)"
# three rows of the raw log (no nulls): user_id, item_id, video_category, gender, age as the workflow expects them
rows=$(awk -F, 'NR > 1 && !/\\N/ { print; if (++n == 3) exit }' "$out/tenrec.csv")
column() { printf '%s\n' "$rows" | cut -d, -f"$1" | paste -sd, -; }
request="{\"inputs\": [
  {\"name\": \"user_id\", \"datatype\": \"INT32\", \"shape\": [3, 1], \"data\": [$(column 1)]},
  {\"name\": \"item_id\", \"datatype\": \"INT32\", \"shape\": [3, 1], \"data\": [$(column 2)]},
  {\"name\": \"video_category\", \"datatype\": \"INT8\", \"shape\": [3, 1], \"data\": [$(column 7)]},
  {\"name\": \"gender\", \"datatype\": \"INT8\", \"shape\": [3, 1], \"data\": [$(column 9)]},
  {\"name\": \"age\", \"datatype\": \"INT8\", \"shape\": [3, 1], \"data\": [$(column 10)]}]}"
echo "POST /v2/models/dlrm/infer with user_id [$(column 1)], item_id [$(column 2)]:"
curl -s "http://127.0.0.1:$port/v2/models/dlrm/infer" -H 'Content-Type: application/json' -d "$request"
echo
kill -TERM "$server" && wait "$server"
tail -n 2 "$out/serve.log"
