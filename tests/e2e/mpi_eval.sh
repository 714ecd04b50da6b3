#!/usr/bin/env bash
# Evaluation split over ranks (docs/distributed.md): under mpirun every rank scores its share of
# the eval batches (batch b on rank b % ranks) and rank 0 adds all of them in batch order, so AUC,
# logloss, MAP@12 and every file written from them are byte for byte those of one process, on 2
# ranks and on 3 (an uneven split); rank 0 logs each rank's share; `reckon predict` under mpirun
# is refused, saying why. Skipped (with the reason) without MPI or mpirun.
set -u
source "$(dirname "$0")/lib.bash"
R=$RECKON_BIN
mpi_require
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

same_file() { cmp -s "$1" "$2" && pass "$3" || fail "$3 ($1 and $2 differ)"; }

# ---- a saved two-task model, evaluated by `reckon evaluate` on 1, 2 and 3 ranks ----
"$R" synth tenrec --rows 3000 --seed 7 --output qk.csv >/dev/null
"$R" preprocess --input_data_format=csv --csv_na_values=\\N --input_data_path qk.csv --output_path=pp/ \
  --categorical_features=user_id,item_id,video_category,gender,age --binary_classif_targets=click,like \
  --to_int32=user_id,item_id --to_int8=gender,age,video_category,click,like --user_id_feature=user_id \
  --item_id_feature=item_id --dataset_split_strategy=random --random_split_eval_perc=0.3 --quiet
base=(--train_data_path pp/train --eval_data_path pp/eval --lr 1e-3 --epochs 1 --train_batch_size 128 --eval_batch_size 100
  --embeddings_dim 8 --mlp_layers 16,8 --quiet)
"$R" train "${base[@]}" --model mmoe --tasks click,like --output_path t0 --save_model_path m0
expect_status $? 0 "a two-task model to evaluate"
ev=(--load_model_path m0 --eval_data_path pp/eval --eval_batch_size 100 --in_batch_negatives_eval 2 --quiet)
"$R" evaluate "${ev[@]}" --output_path e1
for n in 2 3; do
  out=$(mpi $n "$R" evaluate "${ev[@]}" --output_path e$n --quiet=false 2>&1); rc=$?
  expect_status $rc 0 "mpirun -np $n reckon evaluate runs"
  same_file e1/metrics.json e$n/metrics.json "$n ranks: metrics.json is one process's, byte for byte"
  expect_contains "$out" "evaluation over $n ranks: rank 0 " "rank 0 logs each rank's share ($n ranks)"
  share[$n]=$(printf '%s' "$out" | grep -o 'rank [0-9] [0-9]* rows' | awk '{s += $3; k++} END {print k, s}')
done
[ "${share[2]% *}" = 2 ] && [ "${share[3]% *}" = 3 ] && [ "${share[2]#* }" = "${share[3]#* }" ] && [ "${share[2]#* }" -gt 0 ] \
  && pass "the shares cover the same ${share[2]#* } rows on 2 and 3 ranks" || fail "shares: '${share[2]}' vs '${share[3]}'"
jq -e '.metrics["click/binary_output/auc"] > 0' e1/metrics.json >/dev/null && pass "the metrics hold an AUC per task" \
  || fail "e1/metrics.json: $(head -c 300 e1/metrics.json)"
# the check has teeth: other negatives give other metrics
"$R" evaluate "${ev[@]}" --in_batch_negatives_eval 3 --output_path ex
cmp -s e1/metrics.json ex/metrics.json && fail "metrics.json does not depend on what was scored" \
  || pass "the comparison can fail: other negatives give another metrics.json"

# ---- train: the final evaluation and the predictions over 2 ranks equal one process's ----
"$R" train "${base[@]}" --model dlrm --tasks click --train_batch_size 256 --micro_batch_size 128 --predict \
  --output_path o1 --save_model_path s1
mpi 2 "$R" train "${base[@]}" --model dlrm --tasks click --micro_batch_size 128 --predict \
  --output_path o2 --save_model_path s2; rc=$?
expect_status $rc 0 "mpirun -np 2 reckon train with eval data runs"
same_file s1/weights.safetensors s2/weights.safetensors "the same weights on 1 and 2 ranks"
[ "$(jq -S .metrics o1/metrics.json)" = "$(jq -S .metrics o2/metrics.json)" ] \
  && pass "the eval metrics in metrics.json are one process's, every digit" \
  || fail "eval metrics differ: $(jq -c .metrics o1/metrics.json) vs $(jq -c .metrics o2/metrics.json)"
same_file o1/predictions/part_0.parquet o2/predictions/part_0.parquet "the predictions file is one process's"
dll() { grep "$2" "$1" | sed 's/^DLLL //' | jq -c -S "$3"; }   # FILE LINES FILTER: log.json's lines
[ "$(dll o1/log.json '"step": \[\]' .data)" = "$(dll o2/log.json '"step": \[\]' .data)" ] && [ -n "$(dll o1/log.json '"step": \[\]' .data)" ] \
  && pass "log.json's eval line is one process's" || fail "log.json eval lines differ"

# ---- the Wide & Deep recipe: MAP@12 over ranks, every epoch ----
"$R" synth outbrain --displays 800 --seed 3 --bucket_scale 0.01 --row_group_rows 300 --output ob --quiet
wd=(--train_data_pattern ob/train --eval_data_pattern ob/eval --deep_hidden_units 16 --global_batch_size 512
  --eval_batch_size 300 --num_epochs 2 --quiet)
"$R" widedeep "${wd[@]}" --micro_batch_size 256 --model_dir wk1 --results_dir wr1
mpi 2 "$R" widedeep --hvd "${wd[@]}" --model_dir wk2 --results_dir wr2; rc=$?
expect_status $rc 0 "mpirun -np 2 reckon widedeep --hvd runs"
m1=$(dll wr1/log.json '"map"' '.data | {map, map_with_leak, auc, logloss}')
m2=$(dll wr2/log.json '"map"' '.data | {map, map_with_leak, auc, logloss}')
[ -n "$m1" ] && [ "$m1" = "$m2" ] && pass "MAP@12, MAP with leak, AUC and logloss of every eval equal one process's ($(echo "$m1" | tail -1))" \
  || fail "eval lines differ: $m1 vs $m2"

# ---- predict stays one process ----
out=$(mpi 2 "$R" predict --load_model_path m0 --predict_data_path pp/eval --predict_output_path p.parquet 2>&1); rc=$?
[ $rc != 0 ] && pass "mpirun reckon predict is refused" || fail "mpirun reckon predict ran"
expect_contains "$out" "start it without mpirun" "saying how to run it"
finish
