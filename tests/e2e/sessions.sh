#!/usr/bin/env bash
# `reckon sessions` (issue 18) end to end on the session ETL's output of a synthetic click log:
# seed 001's recsys_main.py command verbatim (small sizes) writes every output file in the
# reference's formats; a run killed with SIGKILL continues from its checkpoint to the same bits;
# the window-folder layout, prediction logs, attention weights, --do_predict with a saved model and
# each flag group have their effect; bad input names the flag and the path.
set -u
source "$(dirname "$0")/lib.bash"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
R="$RECKON_BIN"

# ---- data: 1,200 sessions over 4 days, through the session ETL in two layouts ----
"$R" synth sessions --layout yoochoose --sessions 1200 --days 4 --items 150 --seed 7 --output "$tmp/clicks.csv" \
  --quiet >/dev/null 2>&1
etl=(preprocess --data_path "$tmp/clicks.csv" --csv_header false --csv_column_names session_id,timestamp,item_id,category
     --session_id_feature session_id --timestamp_feature timestamp --item_id_feature item_id
     --categorical_features item_id,category --quiet)
"$R" "${etl[@]}" --session_output_layout date_files --output_path "$tmp/dates" 2>"$tmp/err"
expect_status $? 0 "the session ETL writes date files"
"$R" "${etl[@]}" --output_path "$tmp/days" 2>"$tmp/err"
expect_status $? 0 "the session ETL writes day folders"
# The item ids' cardinality, from the schema's domain (0..max).
card=$("$R" inspect --stats false "$tmp/dates/sessions" | awk '$1 == "item_id-list_seq" && $3 ~ /\.\./ { split($3, d, "\\.\\."); print d[2] + 1; exit }')
printf 'item_id-list_seq:\n  dtype: categorical\n  cardinality: %s\n  is_label: True\n  log_with_preds_as_metadata: True\n' \
  "$card" > "$tmp/session_based_features_pid.yaml"
days=$(cd "$tmp/dates" && ls session_start_date=*-train.parquet | sed 's/session_start_date=\(.*\)-train.parquet/\1/')
first=$(echo "$days" | head -n 1)
last=$(echo "$days" | tail -n 1)

# ---- seed 001's command, verbatim but for the data, the sizes and the feature config's path ----
seed=(--do_train --do_eval --data_path "$tmp/dates/" --start_date "$first" --end_date "$last"
  --data_loader_engine nvtabular --per_device_train_batch_size 64 --per_device_eval_batch_size 128 --model_type gpt2
  --loss_type cross_entropy --logging_steps 10 --d_model 32 --n_layer 2 --n_head 4 --dropout 0.1 --learning_rate 0.001
  --similarity_type concat_mlp --num_train_epochs 1 --all_rescale_factor 1 --neg_rescale_factor 0
  --feature_config "$tmp/session_based_features_pid.yaml" --inp_merge mlp --tf_out_activation tanh
  --experiments_group local_test --weight_decay 1.3e-05 --learning_rate_schedule constant_with_warmup
  --learning_rate_warmup_steps 0 --learning_rate_num_cosine_cycles 1.25 --dataloader_drop_last
  --compute_metrics_each_n_steps 1 --hidden_act gelu_new --save_steps 0 --eval_on_last_item_seq_only --fp16
  --overwrite_output_dir --session_seq_length_max 20 --predict_top_k 1000 --eval_accumulation_steps 10 --threads 1)
seed001() { "$R" sessions --output_dir "$1" "${seed[@]}" "${@:2}"; }
seed001 "$tmp/o1" >"$tmp/out" 2>"$tmp/err"
expect_status $? 0 "seed 001's command runs"
err=$(cat "$tmp/err")
expect_contains "$err" "note: --fp16 has no effect" "--fp16 is a one-line note on a CPU"
expect_contains "$err" "note: --all_rescale_factor has no effect in reckon: removed" "a removed flag is accepted with a note"
o="$tmp/o1"
for f in log.json train_results_dates.txt eval_results_dates.txt eval_train_results_dates.csv \
  eval_results_avg_over_days.txt report.html model/model.json model/weights.safetensors; do
  [ -s "$o/$f" ] && pass "seed 001 writes $f" || fail "seed 001 did not write $f"
done
[ -d "$o/model/workflow" ] && [ -s "$o/model/schema.pbtxt" ] && pass "the model folder has the schema and the ETL's workflow" \
  || fail "model/: $(ls "$o/model")"
expect_contains "$(cat "$o/model/model.json")" '"family": "session"' "model.json names the session family"
ls "$o"/runs/events.out.tfevents.* >/dev/null 2>&1 && pass "TensorBoard events under runs/" || fail "no events under runs/"
[ ! -e "$o/checkpoint" ] && pass "a completed run leaves no checkpoint" || fail "checkpoint/ left behind"
n_days=$(echo "$days" | wc -l)
n_eval=$((n_days - 1))
[ "$(grep -c '^\*\*\*\*\* eval results (' <(tr -d '\r' <"$o/eval_results_dates.txt"))" = "$n_eval" ] \
  && pass "eval_results_dates.txt has a block per evaluated day" || fail "eval blocks: $(cat "$o/eval_results_dates.txt" | head -5)"
second=$(echo "$days" | sed -n 2p)
expect_contains "$(cat "$o/eval_results_dates.txt")" "***** eval results ($second)*****" "an eval block is labelled with the evaluated day"
expect_contains "$(cat "$o/train_results_dates.txt")" "***** train results ($first)*****" "a train block is labelled with the day trained on"
expect_contains "$(cat "$o/eval_results_dates.txt")" "eval_recall@1000 = " "metrics at the default cut-offs 10, 20, 1000"
head -n 1 "$o/eval_train_results_dates.csv" | grep -q '^index,eval_avg_precision@10,' && pass "the CSV starts with index and the eval columns" \
  || fail "CSV header: $(head -n 1 "$o/eval_train_results_dates.csv")"
[ "$(wc -l <"$o/eval_train_results_dates.csv")" = "$((n_eval + 1))" ] && pass "the CSV has a row per evaluated day" || fail "CSV rows"
expect_contains "$(cat "$o/eval_results_avg_over_days.txt")" "eval_ndcg@20_AOD = " "the averages carry _AOD"
# The averages are the means of the CSV's columns.
python3 - "$o" <<'PY' && pass "eval_results_avg_over_days.txt holds the CSV columns' means" || fail "averages differ from the CSV"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1] + "/eval_train_results_dates.csv")))
avg = dict(l.strip().split(" = ") for l in open(sys.argv[1] + "/eval_results_avg_over_days.txt") if " = " in l)
for k in ("eval_recall@20", "eval_ndcg@10", "train_mrr@1000"):
    vals = [float(r[k]) for r in rows if r[k] != ""]
    assert abs(sum(vals) / len(vals) - float(avg[k + "_AOD"])) < 1e-12, k
PY
log=$(cat "$o/log.json")
expect_contains "$log" '"step": "PARAMETER"' "log.json starts with the PARAMETER line"
expect_contains "$log" '"experiments_group": "local_test"' "PARAMETER holds the flags"
expect_contains "$log" "\"step\": [\"$second\"]" "log.json has a line per evaluated day"
expect_contains "$log" '"step": []' "log.json ends with the averages"
expect_contains "$(cat "$o/report.html")" "eval_recall@20" "report.html plots the metrics per window"
seed001 "$tmp/o_pred" --log_predictions --max_steps 2 >/dev/null 2>&1
p=$("$R" inspect --stats false "$tmp/o_pred/pred_logs/preds_date_$second.parquet" 2>&1)
expect_contains "$p" "metadata_item_id-list_seq" "pred_logs carry the feature config's log_with_preds_as_metadata column"
expect_contains "$p" "rec_item_scores" "pred_logs of the date layout are named preds_date_<day>.parquet"
"$R" convert "$tmp/o_pred/pred_logs/preds_date_$second.parquet" "$tmp/preds.csv" --quiet
python3 - "$tmp/preds.csv" <<'PY' && pass "each logged row agrees with itself: the target is the session's last item, read at len-2, and its metrics are its rank's" || fail "pred_logs rows disagree"
import csv, json, math, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert rows
for r in rows:
    items, target, recs = json.loads(r["metadata_item_id-list_seq"]), json.loads(r["relevant_item_ids"]), json.loads(r["rec_item_ids"])
    scores = json.loads(r["rec_item_scores"])
    assert target == [items[-1]] and int(r["seq_pos"]) == len(items) - 2 and int(r["seq_len"]) == len(items)
    assert len(recs) == len(set(recs)) > 20 and all(a >= b for a, b in zip(scores, scores[1:]))
    rank = recs.index(target[0]) + 1 if target[0] in recs else None
    for k in (10, 20, 1000):
        hit = rank is not None and rank <= k
        assert float(r["metric_recall@%d" % k]) == hit
        assert abs(float(r["metric_ndcg@%d" % k]) - (1 / math.log2(rank + 1) if hit else 0)) < 1e-12
        assert abs(float(r["metric_mrr@%d" % k]) - (1 / rank if hit else 0)) < 1e-12
PY
recall=$(grep '^eval_recall@20_AOD = ' "$o/eval_results_avg_over_days.txt" | cut -d' ' -f3)
python3 -c "import sys; r=float('$recall'); sys.exit(0 if 0.02 < r <= 1 else 1)" && pass "Recall@20 ($recall) is above chance" \
  || fail "Recall@20 $recall"

# ---- resume after SIGKILL continues to the same bits ----
resume_flags=(--max_steps 12 --save_steps 2 --per_device_train_batch_size 16)
seed001 "$tmp/full" "${resume_flags[@]}" >/dev/null 2>&1
"$R" sessions --output_dir "$tmp/killed" "${seed[@]}" "${resume_flags[@]}" >/dev/null 2>&1 &   # reckon itself, not a subshell
pid=$!
killed=0
# Freeze the run (SIGSTOP) as soon as a checkpoint inside a window's training is there, so the state
# read is the one it dies with, then SIGKILL it; a run that ends first is killed at any checkpoint.
state="$tmp/killed/checkpoint/state.json"
for _ in $(seq 1 1000); do
  kill -0 $pid 2>/dev/null || break
  if grep -qs '"window_step": [1-9]' "$state"; then kill -STOP $pid 2>/dev/null; break; fi
  sleep 0.005
done
if [ -f "$state" ] && kill -9 $pid 2>/dev/null; then killed=1; fi
wait $pid 2>/dev/null
if [ $killed = 1 ]; then
  pass "a run is killed with SIGKILL after a checkpoint"
  at=$(python3 -c "import json; s=json.load(open('$state')); print('window %d, step %d, %d steps into the window' % (s['window'], s['step'], s['window_step']))")
  cp -r "$tmp/killed" "$tmp/other"
  noover=()
  for a in "${seed[@]}"; do [ "$a" != --overwrite_output_dir ] && noover+=("$a"); done
  out=$("$R" sessions --output_dir "$tmp/other" "${noover[@]}" "${resume_flags[@]}" --learning_rate 0.002 2>&1)
  expect_status $? 2 "a checkpoint of a run with other flags is refused"
  expect_contains "$out" "was made by a run with other flags" "saying so"
  out=$("$R" sessions --output_dir "$tmp/other" "${seed[@]}" "${resume_flags[@]}" --learning_rate 0.002 2>&1)
  expect_contains "$out" "starting over" "with --overwrite_output_dir it is set aside and the run starts over"
  seed001 "$tmp/killed" "${resume_flags[@]}" >/dev/null 2>"$tmp/err"
  expect_status $? 0 "the same command continues the killed run (from $at)"
  expect_contains "$(cat "$tmp/err")" "resuming from the checkpoint" "it says it resumes"
  cmp -s "$tmp/full/model/weights.safetensors" "$tmp/killed/model/weights.safetensors" \
    && pass "the resumed run's weights are bit-identical to an uninterrupted run's" || fail "weights differ after resume"
  cmp -s "$tmp/full/eval_train_results_dates.csv" "$tmp/killed/eval_train_results_dates.csv" \
    && pass "and so are its results" || fail "results differ after resume"
else
  fail "the run ended before a checkpoint could be killed"
fi
seed001 "$tmp/full2" "${resume_flags[@]}" --threads 2 >/dev/null 2>&1
cmp -s "$tmp/full/model/weights.safetensors" "$tmp/full2/model/weights.safetensors" \
  && pass "two threads give the same weights as one" || fail "weights depend on the thread count"

# ---- window folders (the ETL's unpadded day_index), prediction logs, attention weights ----
"$R" sessions --threads 1 --output_dir "$tmp/w" --do_train --do_eval --data_path "$tmp/days" --start_time_window_index 1 \
  --per_device_train_batch_size 64 --per_device_eval_batch_size 64 --d_model 16 --n_layer 1 --n_head 2 --max_steps 3 \
  --eval_on_last_item_seq_only --log_predictions --predict_top_k 5 --log_attention_weights --eval_metrics_ks 5,10 \
  --synth_oracle "$tmp/clicks.csv" --quiet 2>"$tmp/err"
expect_status $? 0 "the window-folder layout runs (unpadded folders, last window found)"
for f in train_results_over_time.txt eval_results_over_time.txt eval_train_results.csv eval_results_avg_over_time.txt \
  pred_logs/preds_0002.parquet attention_weights/eval_2_layer0.npy attention_weights/eval_2_items.npy; do
  [ -s "$tmp/w/$f" ] && pass "window folders: $f" || fail "window folders: no $f"
done
expect_contains "$(cat "$tmp/w/eval_results_over_time.txt")" "***** eval results (time index): 2)*****" "the index layout's block title"
expect_contains "$(cat "$tmp/w/eval_results_avg_over_time.txt")" "eval_recall@5_AOT = " "the index layout's _AOT keys"
# --synth_oracle: the ceiling on each window's evaluated sessions, the mean of their oracle rows (K = 20)
ceiling=$(grep '^eval_oracle_recall@20_AOT = ' "$tmp/w/eval_results_avg_over_time.txt" | cut -d' ' -f3)
python3 -c "import sys; c=float('$ceiling'); sys.exit(0 if 0.3 < c <= 1 else 1)" 2>/dev/null \
  && pass "--synth_oracle adds the ceiling, eval_oracle_recall@20 ($ceiling)" || fail "oracle ceiling '$ceiling'"
"$R" convert "$tmp/clicks.csv.oracle.parquet" "$tmp/oracle.csv" --quiet && "$R" convert "$tmp/days/2/valid.parquet" "$tmp/valid2.csv" --quiet
python3 - "$tmp" <<'PY' && pass "window 2's ceiling is the mean of its valid sessions' oracle rows" || fail "window 2's ceiling"
import csv, sys
t = sys.argv[1]
hit = {r["session_id"]: float(r["expected_hit"]) for r in csv.DictReader(open(t + "/oracle.csv"))}
ids = [r["session_id"] for r in csv.DictReader(open(t + "/valid2.csv"))]
text = open(t + "/w/eval_results_over_time.txt").read().split("(time index): 2)*****")[1].split("*****")[0]
got = float([l for l in text.splitlines() if l.startswith("eval_oracle_recall@20 = ")][0].split(" = ")[1])
assert ids and abs(got - sum(hit[i] for i in ids) / len(ids)) < 1e-12, (got, len(ids))
PY
p=$("$R" inspect --stats false "$tmp/w/pred_logs/preds_0002.parquet")
for c in dataset_type metric_recall@5 metric_ndcg@10 relevant_item_ids rec_item_ids rec_item_scores seq_pos seq_len; do
  expect_contains "$p" "$c" "pred_logs has $c"
done
# The logged hits agree with the window's recall: the mean of metric_recall@5 over the rows.
rows=$(echo "$p" | grep -o '[0-9]* rows' | head -n 1 | cut -d' ' -f1)
examples=$(grep '^eval_examples = ' "$tmp/w/eval_results_over_time.txt" | head -n 1 | cut -d' ' -f3)
[ "$rows" = "$examples" ] && pass "pred_logs has a row per evaluated example ($rows)" || fail "pred_logs rows $rows, examples $examples"
python3 - "$tmp/w/attention_weights" <<'PY' && pass "attention weights are .npy files numpy reads: float32 rows of probabilities" \
  || fail "attention .npy malformed"
import ast, struct, sys
d = open(sys.argv[1] + "/eval_2_layer0.npy", "rb").read()
assert d[:8] == b"\x93NUMPY\x01\x00"
hlen = struct.unpack("<H", d[8:10])[0]
h = ast.literal_eval(d[10:10 + hlen].decode())
assert (10 + hlen) % 64 == 0 and h["descr"] == "<f4" and not h["fortran_order"] and len(h["shape"]) == 4
B, H, T, T2 = h["shape"]
vals = struct.unpack("<%df" % (B * H * T * T2), d[10 + hlen:])
assert T == T2 == 20 and H == 2
sums = [sum(vals[i * T:(i + 1) * T]) for i in range(B * H * T)]
assert all(abs(s - 1) < 1e-4 or s == 0 for s in sums) and any(abs(s - 1) < 1e-4 for s in sums)
PY

# ---- a session model folder given to a command of the ranking family ----
msg=$("$R" widedeep --evaluate --model_dir "$tmp/w" --train_data_pattern "$(ls -d "$tmp/days"/[0-9]* | sort -n | sed -n 2p)/valid.parquet" --eval_data_pattern "$(ls -d "$tmp/days"/[0-9]* | sort -n | sed -n 2p)/valid.parquet" 2>&1)
expect_status $? 1 "reckon widedeep --evaluate refuses a session model folder"
expect_contains "$msg" "is a session model" "and says which family the folder holds"

# ---- --do_predict with the saved model, on a day folder ----
day2=$(ls -d "$tmp/days"/[0-9]* | sort -n | sed -n 2p)
"$R" sessions --threads 1 --output_dir "$tmp/pred" --do_predict --model_name_or_path "$tmp/w/model" --data_path "$tmp/days" \
  --predict_data_path "$day2/test.parquet" --predict_top_k 7 --per_device_eval_batch_size 32 --quiet 2>"$tmp/err"
expect_status $? 0 "--do_predict with --model_name_or_path predicts without training"
p=$("$R" inspect --stats false "$tmp/pred/predictions.parquet")
n=$("$R" inspect --stats false "$day2/test.parquet" | grep -o '[0-9]* rows' | head -n 1)
expect_contains "$p" "$n" "a prediction per session of the day ($n)"
expect_contains "$p" "rec_item_ids" "predictions have rec_item_ids"
"$R" sessions --threads 1 --output_dir "$tmp/evalonly" --do_eval --model_name_or_path "$tmp/w/model" --data_path "$tmp/days" \
  --eval_on_last_item_seq_only --eval_metrics_ks 5,10 --quiet 2>"$tmp/err"
expect_status $? 0 "--do_eval with --model_name_or_path evaluates a saved model on every window"
a=$(grep '^eval_recall@5 = ' "$tmp/w/eval_results_over_time.txt" | tail -n 1)
b=$(grep '^eval_recall@5 = ' "$tmp/evalonly/eval_results_over_time.txt" | tail -n 1)
[ -n "$a" ] && [ "$a" = "$b" ] && pass "the saved model scores the last window as the run that trained it ($a)" \
  || fail "saved model's last window: '$b', the trained run's: '$a'"

# ---- each flag group ----
base=(sessions --threads 1 --data_path "$tmp/days" --per_device_train_batch_size 64 --per_device_eval_batch_size 64 --d_model 16
      --n_layer 1 --n_head 2 --max_steps 2 --quiet --do_train --do_eval)
"$R" "${base[@]}" --output_dir "$tmp/ni" --no_incremental_training --training_time_window_size 2 --eval_on_test_set \
  --learning_rate_schedule cosine_with_warmup --learning_rate_warmup_steps 1 --eval_steps_on_train_set 1 2>"$tmp/err"
expect_status $? 0 "data and training groups: --no_incremental_training, --eval_on_test_set, a cosine schedule"
"$R" "${base[@]}" --output_dir "$tmp/gru" --model_type gru --eval_metrics_batch_mean --eval_metrics_ks 3 2>"$tmp/err"
expect_status $? 0 "model group: --model_type gru, metrics as batch means"
expect_contains "$(cat "$tmp/gru/eval_results_over_time.txt")" "eval_ndcg@3 = " "--eval_metrics_ks sets the cut-offs"
"$R" "${base[@]}" --output_dir "$tmp/bert" --model_type bert --mlm_probability 0.3 --eval_on_last_item_seq_only 2>"$tmp/err"
expect_status $? 0 "model group: --model_type bert (masked LM)"
cmp -s "$tmp/ni/eval_train_results.csv" "$tmp/gru/eval_train_results.csv" && fail "different flags gave the same results" \
  || pass "different flags give different results"

# ---- errors name the flag and the path ----
out=$("$R" "${base[@]}" --output_dir "$tmp/e1" --final_time_window_index 9 2>&1)
expect_contains "$out" "window 5" "a missing day folder is named"
expect_contains "$out" "--final_time_window_index" "with the flag"
out=$("$R" sessions --output_dir "$tmp/e2" --do_train --data_path "$tmp/dates" --start_date 2022-02-30 --end_date 2022-03-02 2>&1)
expect_contains "$out" "'2022-02-30' for --start_date" "a date that does not exist is refused, naming the flag"
out=$("$R" sessions --output_dir "$tmp/e3" --do_train --data_path "$tmp/dates" --start_date "$first" --end_date 2030-01-01 2>&1)
expect_contains "$out" "session_start_date=" "a missing date file is named"
printf 'sess_pid_seq:\n  dtype: categorical\n  cardinality: 100\n  is_label: True\n' >"$tmp/bad.yaml"
out=$("$R" sessions --output_dir "$tmp/e4" --do_train --data_path "$tmp/dates" --start_date "$first" --end_date "$last" \
  --feature_config "$tmp/bad.yaml" 2>&1)
expect_contains "$out" "sess_pid_seq" "a feature config naming a column the data lacks names the column"
expect_contains "$out" "--feature_config" "and the flag"
[ ! -e "$tmp/e4" ] && pass "a run refused during setup leaves no output folder" || fail "$tmp/e4 left behind"
out=$("$R" "${base[@]}" --output_dir "$tmp/e5" --model_parallel 2>&1)
expect_status $? 2 "--model_parallel without mpirun is a usage error"
expect_contains "$out" "mpirun -np N reckon sessions" "saying how to run it"
[ ! -e "$tmp/e5" ] && pass "a refused run creates nothing" || fail "a refused run left $tmp/e5"
mkdir -p "$tmp/theirs" && echo x >"$tmp/theirs/log.json"
out=$("$R" "${base[@]}" --output_dir "$tmp/theirs" 2>&1)
expect_contains "$out" "log.json" "an output folder holding a log.json reckon did not write is refused"
[ "$(cat "$tmp/theirs/log.json")" = x ] && pass "and left as it was" || fail "the user's log.json was replaced"

finish
