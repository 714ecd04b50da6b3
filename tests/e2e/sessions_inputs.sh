#!/usr/bin/env bash
# `reckon sessions`' input stage (issue 19, part F) end to end on the session ETL's output of a
# synthetic click log (its item, category and three continuous list columns, as seed 003's
# schema): side features through each aggregation and encoding train, evaluate, predict and come
# back from the model folder with the same predictions; stochastic shared embeddings change
# training only; session-aware inputs read the bef_ columns (made here by hand: the session ETL
# does not write them) and the attention sees their rows; seed 003's model as a YAML and a JSON
# config gives the same run and selects xlnet; bad combinations name the flags.
set -u
source "$(dirname "$0")/lib.bash"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
R="$RECKON_BIN"

# ---- data: 600 sessions over 3 days through the session ETL (day folders 1..3) ----
"$R" synth sessions --layout yoochoose --sessions 600 --days 3 --items 80 --seed 11 --output "$tmp/clicks.csv" \
  --quiet >/dev/null 2>&1
"$R" preprocess --data_path "$tmp/clicks.csv" --csv_header false --csv_column_names session_id,timestamp,item_id,category \
  --session_id_feature session_id --timestamp_feature timestamp --item_id_feature item_id \
  --categorical_features item_id,category --output_path "$tmp/days" --quiet 2>"$tmp/err"
expect_status $? 0 "the session ETL writes day folders with side features"

base=(sessions --threads 1 --data_path "$tmp/days" --start_time_window_index 1 --per_device_train_batch_size 32
      --per_device_eval_batch_size 64 --d_model 16 --n_head 2 --n_layer 1 --num_train_epochs 1 --learning_rate 0.005
      --eval_metrics_ks 5,10 --do_train --do_eval --do_predict --predict_top_k 5 --quiet)
# A run, then --do_predict from its model folder: the same predictions.
run_and_reload() {
  local name=$1
  shift
  "$R" "${base[@]}" --output_dir "$tmp/$name" "$@" 2>"$tmp/err"
  expect_status $? 0 "$name: trains, evaluates and predicts ($(head -c 300 "$tmp/err"))"
  [ -s "$tmp/$name/eval_results_over_time.txt" ] && [ -s "$tmp/$name/model/model.json" ] \
    && pass "$name: results and a model folder" || fail "$name: outputs $(ls "$tmp/$name" | tr '\n' ' ')"
  "$R" sessions --threads 1 --data_path "$tmp/days" --output_dir "$tmp/$name.re" --do_predict --predict_top_k 5 \
    --per_device_eval_batch_size 64 --model_name_or_path "$tmp/$name/model" --quiet 2>"$tmp/err"
  expect_status $? 0 "$name: --do_predict with the saved model"
  "$R" convert "$tmp/$name/predictions.parquet" "$tmp/$name.a.csv" --quiet
  "$R" convert "$tmp/$name.re/predictions.parquet" "$tmp/$name.b.csv" --quiet
  [ -s "$tmp/$name.a.csv" ] && cmp -s "$tmp/$name.a.csv" "$tmp/$name.b.csv" && pass "$name: the saved model predicts as the run that trained it" \
    || fail "$name: predictions differ after save and load"
}
model_json() { tr -d ' \n' <"$tmp/$1/model/model.json"; }

# ---- side features from the schema (item, category, three continuous lists) ----
run_and_reload concat_projected --model_type gpt2 --numeric_features_project_to_embedding_dim 4 --layer_norm_featurewise \
  --layer_norm_all_features --input_dropout 0.1
expect_contains "$(model_json concat_projected)" '"numeric_features_project_to_embedding_dim":4' \
  "model.json records the projection"
run_and_reload elementwise_sohe --model_type bert --input_features_aggregation elementwise_sum_multiply_item_embedding \
  --numeric_features_project_to_embedding_dim 4 --numeric_features_soft_one_hot_encoding_num_embeddings 6
expect_contains "$(model_json elementwise_sohe)" '"input_features_aggregation":"elementwise_sum_multiply_item_embedding"' \
  "model.json records the aggregation"
run_and_reload joint_projection --model_type gru --continuous_projection 8 --embedding_dim_default 8
cmp -s "$tmp/concat_projected/eval_results_over_time.txt" "$tmp/elementwise_sohe/eval_results_over_time.txt" \
  && fail "different input stages gave the same results" || pass "different input stages give different results"

# ---- stochastic shared embeddings: training changes, a run is repeatable ----
for o in sse sse2; do
  "$R" "${base[@]}" --output_dir "$tmp/$o" --model_type gpt2 --stochastic_shared_embeddings_replacement_prob 0.3 2>"$tmp/err"
done
expect_status $? 0 "--stochastic_shared_embeddings_replacement_prob trains"
cmp -s "$tmp/sse/eval_train_results.csv" "$tmp/sse2/eval_train_results.csv" && pass "replacements repeat for the same seed" \
  || fail "two equal runs with replacements differ"
"$R" "${base[@]}" --output_dir "$tmp/nosse" --model_type gpt2 2>"$tmp/err"
cmp -s "$tmp/sse/eval_train_results.csv" "$tmp/nosse/eval_train_results.csv" \
  && fail "replacements changed nothing" || pass "replacements change training"

# ---- session-aware: bef_ columns made by hand (each session's past: the sessions before it in the file) ----
for d in 1 2 3; do
  mkdir -p "$tmp/aware/$d"
  for s in train valid test; do
    "$R" convert "$tmp/days/$d/$s.parquet" "$tmp/in.csv" --quiet
    python3 - "$tmp/in.csv" "$tmp/out.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
cols = ["item_id-list_seq", "category-list_seq", "product_recency_days_log_norm-list_seq"]
with open(sys.argv[2], "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0]) + ["bef_" + c for c in cols])
    w.writeheader()
    past = {c: [] for c in cols}
    for r in rows:   # the last 6 items of the sessions before, as one user's history
        w.writerow({**r, **{"bef_" + c: "[" + ", ".join(past[c][-6:]) + "]" for c in cols}})
        for c in cols:
            past[c] += [v.strip() for v in r[c].strip("[]").split(",") if v.strip()]
PY
    "$R" convert "$tmp/out.csv" "$tmp/aware/$d/$s.parquet" --csv_list_columns \
      item_id-list_seq,category-list_seq,et_dayofweek_sin-list_seq,et_dayofweek_cos-list_seq,product_recency_days_log_norm-list_seq,bef_item_id-list_seq,bef_category-list_seq,bef_product_recency_days_log_norm-list_seq \
      --quiet 2>"$tmp/err" || fail "bef_ columns for day $d $s: $(cat "$tmp/err")"
  done
done
card=$("$R" inspect --stats false "$tmp/days/sessions" | awk '$1 == "item_id-list_seq" && $3 ~ /\.\./ { split($3, d, "\\.\\."); print d[2] + 1; exit }')
ccard=$("$R" inspect --stats false "$tmp/days/sessions" | awk '$1 == "category-list_seq" && $3 ~ /\.\./ { split($3, d, "\\.\\."); print d[2] + 1; exit }')
{
  for p in "" bef_; do
    printf '%sitem_id-list_seq:\n  dtype: categorical\n  cardinality: %s\n  is_label: True\n  emb_table: item_id\n' "$p" "$card"
    printf '%scategory-list_seq:\n  dtype: categorical\n  cardinality: %s\n  emb_table: category\n' "$p" "$ccard"
    printf '%sproduct_recency_days_log_norm-list_seq:\n  dtype: float\n' "$p"
  done
} >"$tmp/aware.yaml"
aware=(sessions --threads 1 --data_path "$tmp/aware" --start_time_window_index 1 --per_device_train_batch_size 32
       --per_device_eval_batch_size 64 --d_model 16 --n_head 2 --n_layer 1 --num_train_epochs 1 --learning_rate 0.005
       --eval_metrics_ks 5,10 --feature_config "$tmp/aware.yaml" --session_aware --session_aware_past_seq_length_max 6
       --model_type bert --quiet)
"$R" "${aware[@]}" --output_dir "$tmp/sa" --do_train --do_eval --do_predict --predict_top_k 5 --log_attention_weights \
  2>"$tmp/err"
expect_status $? 0 "--session_aware trains, evaluates and predicts ($(head -c 300 "$tmp/err"))"
expect_contains "$(model_json sa)" '"past_of":"item_id-list_seq"' "model.json pairs bef_item_id-list_seq with the item"
npy=$(ls "$tmp/sa/attention_weights/"*layer0.npy 2>/dev/null | head -n 1)
shape=$(head -c 128 "$npy" 2>/dev/null | tr -d '\0' | grep -o "'shape': ([0-9, ]*)")
expect_contains "$shape" ", 2, 26, 26)" "attention covers the past's 6 rows and the session's 20"
"$R" "${aware[@]}" --output_dir "$tmp/sa.re" --do_predict --predict_top_k 5 --model_name_or_path "$tmp/sa/model" 2>"$tmp/err"
expect_status $? 0 "the session-aware model predicts from its folder"
"$R" convert "$tmp/sa/predictions.parquet" "$tmp/sa.a.csv" --quiet
"$R" convert "$tmp/sa.re/predictions.parquet" "$tmp/sa.b.csv" --quiet
[ -s "$tmp/sa.a.csv" ] && cmp -s "$tmp/sa.a.csv" "$tmp/sa.b.csv" && pass "and as the run that trained it" || fail "session-aware predictions differ after load"
# The past is read: the last day's test sessions with another past (one item each) predict otherwise.
"$R" convert "$tmp/aware/3/test.parquet" "$tmp/t.csv" --quiet
python3 - "$tmp/t.csv" "$tmp/t0.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
with open(sys.argv[2], "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0]))
    w.writeheader()
    for r in rows:
        w.writerow({k: (("[0.5]" if "recency" in k else "[1]") if k.startswith("bef_") else v) for k, v in r.items()})
PY
"$R" convert "$tmp/t0.csv" "$tmp/t0.parquet" --quiet --csv_list_columns \
  item_id-list_seq,category-list_seq,et_dayofweek_sin-list_seq,et_dayofweek_cos-list_seq,product_recency_days_log_norm-list_seq,bef_item_id-list_seq,bef_category-list_seq,bef_product_recency_days_log_norm-list_seq
"$R" "${aware[@]}" --output_dir "$tmp/sa.nopast" --do_predict --predict_top_k 5 --model_name_or_path "$tmp/sa/model" \
  --predict_data_path "$tmp/t0.parquet" 2>"$tmp/err" || fail "predicting with another past: $(cat "$tmp/err")"
"$R" convert "$tmp/sa.nopast/predictions.parquet" "$tmp/sa.c.csv" --quiet
if [ ! -s "$tmp/sa.a.csv" ] || [ ! -s "$tmp/sa.c.csv" ]; then fail "no predictions to compare with two pasts"
elif cmp -s "$tmp/sa.a.csv" "$tmp/sa.c.csv"; then fail "another past changed no prediction"
else pass "the past sessions' columns change the predictions"; fi

# ---- seed 003's model as a config: YAML and JSON agree; the config selects xlnet ----
cfg="$RECKON_SOURCE_DIR/docs/configs/t4rec_yoochoose_xlnet_mlm"
small=(--data_path "$tmp/days" --start_time_window_index 1 --final_time_window_index 3 --model_type bert --d_model 32
       --n_head 4 --num_train_epochs 1 --per_device_train_batch_size 64 --continuous_projection 8 --embedding_dim_default 8
       --threads 1 --quiet)
"$R" sessions --config "$cfg.yaml" --output_dir "$tmp/c_yaml" "${small[@]}" 2>"$tmp/err"
expect_status $? 0 "seed 003's YAML config runs (at small sizes, with bert)"
"$R" sessions --config "$cfg.json" --output_dir "$tmp/c_json" "${small[@]}" 2>"$tmp/err"
expect_status $? 0 "seed 003's JSON config runs"
cmp -s "$tmp/c_yaml/eval_results_over_time.txt" "$tmp/c_json/eval_results_over_time.txt" \
  && pass "the YAML and JSON configs give the same results" || fail "YAML and JSON configs differ"
m=$(model_json c_yaml)
for kv in '"mlm":true' '"continuous_projection":8' '"mf_constrained_embeddings":true' '"tf_out_activation":"relu"' \
  '"n_layer":2' '"dropout":0.3'; do
  expect_contains "$m" "$kv" "the config sets $kv"
done
out=$("$R" sessions --config "$cfg.yaml" --output_dir "$tmp/c_xl" --data_path "$tmp/days" --start_time_window_index 1 \
  --final_time_window_index 2 --d_model 32 --n_head 4 --max_steps 1 --threads 1 --quiet 2>&1)
if [ -s "$tmp/c_xl/model/model.json" ]; then
  expect_contains "$(model_json c_xl)" '"model_type":"xlnet"' "the config builds an xlnet"
else
  expect_contains "$out" "xlnet" "the config selects xlnet (refused, naming it, until XLNet is built)"
fi

# ---- bad combinations name the flags ----
msg=$("$R" "${base[@]}" --output_dir "$tmp/bad1" --numeric_features_soft_one_hot_encoding_num_embeddings 4 2>&1)
expect_status $? 2 "soft one-hot encoding without a projection width is refused"
expect_contains "$msg" "--numeric_features_project_to_embedding_dim" "and names the flag it needs"
msg=$("$R" "${base[@]}" --output_dir "$tmp/bad2" --session_aware 2>&1)
expect_status $? 2 "--session_aware without bef_ columns is refused"
expect_contains "$msg" "bef_" "and names the missing past column"
msg=$("$R" "${base[@]}" --output_dir "$tmp/bad3" --continuous_projection 4 --numeric_features_project_to_embedding_dim 4 2>&1)
expect_status $? 2 "two continuous projections at once are refused"
finish
