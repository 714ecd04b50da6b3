#!/usr/bin/env bash
# Tables sharded by rows over the ranks (reckon/shard.h, docs/distributed.md "Sharded tables"):
# test_shard_table run by 2, 3 and 4 processes, so its exchanges cross them: every rank's ids come
# back with the whole table's rows, a graph's lookups through the fetched rows give the whole
# table's loss and gradient, a bad id stops every rank (none waits), Adam, Adagrad and
# FTRL on the shards end with the whole table's bits, and a checkpoint saved by N ranks loads as
# 1 to 4 ranks' shards. Then `reckon train --shard_tables`: a DLRM with sharded tables on 2 and
# 4 ranks ends with the bits of 1 rank (which keeps them whole), rank 0 prints the choice per
# table, rank 0's evaluation (fetching each batch's rows) gives the 1-rank metrics, the saved
# model (streamed by rank 0 from the owners) predicts as the 1-rank one, so do predictions after
# training, a saved model to start from is read into the shards; `reckon widedeep --hvd` with its
# deep tables sharded ends as 1 process (same MAP@12); a checkpoint saved by 2 ranks
# resumes on 1 and on 4 to the bits of a run never stopped; an unknown table is refused by name.
# Skipped (with the reason) without MPI or mpirun.
set -u
source "$(dirname "$0")/lib.bash"
R=$RECKON_BIN
mpi_require
unit=$(dirname "$R")/test_shard_table
[ -x "$unit" ] || { fail "test_shard_table is built beside reckon"; finish; }
# Under mpirun LeakSanitizer is off (lib.bash); ctest runs the same binary alone with leaks checked.
for n in 2 3 4; do
  out=$(mpi $n "$unit" 2>&1); rc=$?
  expect_status $rc 0 "test_shard_table passes on $n ranks (fetch, bad ids, optimizer slots, resharding)"
  [ $rc = 0 ] || printf '%s\n' "$out" | grep -E 'ERROR|FAIL' | head -5
  expect_contains "$out" "[  PASSED  ] 10 test(s)." "10 checks (all but the single-process allocation walk) ran on $n ranks"
done

# ---- reckon train --shard_tables ----
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
same() { cmp -s "$1" "$2" && pass "$3" || fail "$3 (weights differ)"; }
mpi_tenrec_data
dl=(--train_data_path pp/train --model dlrm --tasks click --lr 1e-3 --lr_decay_rate 0 --epochs 2 --embeddings_dim 8
  --mlp_layers 16,8 --dropout 0.1 --optimizer adam)
"$R" train "${dl[@]}" --train_batch_size 256 --micro_batch_size 64 --output_path o1 --save_model_path m1 --quiet \
  --eval_data_path pp/eval
out=$(mpi 2 "$R" train "${dl[@]}" --train_batch_size 128 --micro_batch_size 64 --output_path o2 --save_model_path m2 \
  --shard_tables user_id,item_id --eval_data_path pp/eval 2>&1); rc=$?
expect_status $rc 0 "mpirun -np 2 reckon train --shard_tables user_id,item_id runs"
expect_contains "$out" "table 'user_id' (300 x 8, 0.0 MiB): sharded over 2 ranks" "rank 0 prints the choice per table"
expect_contains "$out" "table 'gender' (6 x 8, 0.0 MiB): whole on every rank" "and the tables kept whole"
[ "$(printf '%s\n' "$out" | grep -c "table 'user_id'")" = 1 ] && pass "once (rank 0 alone)" || fail "the choice printed $(printf '%s\n' "$out" | grep -c "table 'user_id'") times"
same m1/weights.safetensors m2/weights.safetensors "2 ranks with 2 sharded tables = 1 rank with them whole, bit for bit (the saved model, streamed)"
mpi 4 "$R" train "${dl[@]}" --train_batch_size 64 --output_path o4 --save_model_path m4 --shard_tables all --quiet \
  --eval_data_path pp/eval; rc=$?
expect_status $rc 0 "mpirun -np 4 reckon train --shard_tables all runs"
same m1/weights.safetensors m4/weights.safetensors "4 ranks with every table sharded = 1 rank, bit for bit"
# rank 0 evaluates, fetching each eval batch's rows from the owners: the 1-rank metrics exactly
metrics() { grep -o '"\(auc\|logloss\|prauc\|binary_accuracy\)": [-0-9.e]*' "$1"; }
m1=$(metrics o1/metrics.json)
[ -n "$m1" ] && [ "$m1" = "$(metrics o2/metrics.json)" ] && [ "$m1" = "$(metrics o4/metrics.json)" ] \
  && pass "the evaluation of the sharded runs equals the 1-rank one ($(echo $m1 | head -c 60)...)" \
  || fail "eval metrics: $m1 / $(metrics o2/metrics.json) / $(metrics o4/metrics.json)"
mpi 2 "$R" train "${dl[@]}" --train_batch_size 128 --micro_batch_size 64 --output_path o2a --save_model_path m2a \
  --shard_tables auto --shard_threshold_mb 0.005 --quiet=false >a.log 2>&1
grep -q "table 'user_id' (300 x 8, 0.0 MiB): sharded over 2 ranks" a.log && grep -q "table 'item_id' (123 x 8, 0.0 MiB): whole" a.log \
  && pass "auto shards the tables of --shard_threshold_mb or more (9.4 KiB: user_id, not item_id's 3.8)" || fail "auto: $(grep table a.log)"
same m1/weights.safetensors m2a/weights.safetensors "and ends with the same bits"
# the saved folder predicts as the 1-rank one
"$R" predict --load_model_path m1 --predict_data_path pp/eval --predict_output_path p1.csv --quiet
"$R" predict --load_model_path m2 --predict_data_path pp/eval --predict_output_path p2.csv --quiet
[ -s p1.csv ] && cmp -s p1.csv p2.csv && pass "the model saved by the sharded run predicts as the 1-rank one" \
  || fail "predictions from m2 differ from m1's"

# refusals, by name
err=$(mpi 2 "$R" train "${dl[@]}" --train_batch_size 128 --output_path ox --shard_tables user_id,nosuch 2>&1); rc=$?
[ $rc != 0 ] && pass "an unknown table is refused" || fail "--shard_tables nosuch ran"
expect_contains "$err" "'nosuch' is not a table of this model (its tables: user_id, item_id, video_category, gender, age)" "naming it and the tables"

# predictions after training (rank 0 fetching each batch's rows), and a saved model to start from
mpi 2 "$R" train "${dl[@]}" --train_batch_size 128 --micro_batch_size 64 --output_path o2p --shard_tables all \
  --predict_data_path pp/eval --predict_output_path p2t.csv --quiet; rc=$?
expect_status $rc 0 "a sharded run predicts after training"
[ -s p1.csv ] && cmp -s p1.csv p2t.csv && pass "as the 1-rank model does" || fail "predictions after sharded training differ"
"$R" train "${dl[@]}" --train_batch_size 256 --micro_batch_size 64 --output_path l1 --save_model_path lm1 --quiet \
  --load_model_path m1 --epochs 1
mpi 2 "$R" train "${dl[@]}" --train_batch_size 128 --micro_batch_size 64 --output_path l2 --save_model_path lm2 --quiet \
  --load_model_path m1 --epochs 1 --shard_tables all; rc=$?
expect_status $rc 0 "a sharded run starts from a saved model (--load_model_path: each rank keeps its rows)"
same lm1/weights.safetensors lm2/weights.safetensors "and ends as 1 rank started from it"
cmp -s m1/weights.safetensors lm1/weights.safetensors && fail "--load_model_path then an epoch left the weights as they were" \
  || pass "the check has teeth: the extra epoch changed the weights"

# ---- the Wide & Deep recipe (--hvd): its deep tables start as TensorFlow's truncated normal ----
"$R" synth outbrain --displays 1500 --seed 3 --bucket_scale 0.01 --row_group_rows 500 --output ob --quiet
wd=(--train_data_pattern ob/train --eval_data_pattern ob/eval --deep_hidden_units 32 16 --global_batch_size 512
  --eval_batch_size 2048 --num_epochs 2 --deep_dropout 0.1)
"$R" widedeep "${wd[@]}" --micro_batch_size 256 --model_dir wk1 --results_dir wr1 --quiet
out=$(mpi 2 "$R" widedeep --hvd "${wd[@]}" --model_dir wk2 --results_dir wr2 --shard_tables all 2>&1); rc=$?
expect_status $rc 0 "mpirun -np 2 reckon widedeep --hvd --shard_tables all runs"
expect_contains "$out" "table 'ad_id' (2500 x 128, 1.2 MiB): sharded over 2 ranks" "printing the choice per table"
same wk1/model/weights.safetensors wk2/model/weights.safetensors "wide & deep with its deep tables sharded: 2 processes = 1, bit for bit"
m1=$(tail -1 wr1/log.json | grep -o '"map": [0-9.]*'); m2=$(tail -1 wr2/log.json | grep -o '"map": [0-9.]*')
[ -n "$m1" ] && [ "$m1" = "$m2" ] && pass "the same MAP@12 after each epoch's evaluation ($m1)" || fail "MAP@12 $m1 vs $m2"

# ---- a checkpoint from 2 sharded ranks resumes on 1 (tables whole) and on 4 (all sharded) ----
ck=("${dl[@]}" --epochs 12 --checkpoint_every_steps 25 --metrics_log_frequency 25 --quiet)
"$R" train "${ck[@]}" --train_batch_size 128 --micro_batch_size 32 --output_path cfull --save_model_path cfull_m
ASAN_OPTIONS="$mpi_asan" mpirun --oversubscribe --allow-run-as-root -np 2 "$R" train "${ck[@]}" --train_batch_size 64 \
  --micro_batch_size 32 --output_path ckill --save_model_path ckill_m --shard_tables user_id,item_id >/dev/null 2>&1 & mp=$!
kill_after_checkpoint $mp ckill 50 ranks
[ -n "$killed_step" ] && pass "2 sharded ranks killed after checkpoint step $killed_step" || fail "the 2-rank run ended before it could be killed"
[ -f ckill/checkpoint/embeddings.user_id/shards.json ] && [ -f ckill/checkpoint/embeddings.user_id/shard-1-of-2.safetensors ] \
  && pass "the checkpoint keeps each sharded table in a folder of its rank files" || fail "no shard folder: $(ls ckill/checkpoint)"
cp -r ckill ckill4
"$R" train "${ck[@]}" --train_batch_size 128 --micro_batch_size 32 --output_path ckill --save_model_path ckill_m --resume; rc=$?
expect_status $rc 0 "1 rank resumes the 2 sharded ranks' checkpoint (resharded into whole tables)"
same cfull_m/weights.safetensors ckill_m/weights.safetensors "and ends with the bits of a run never stopped"
mpi 4 "$R" train "${ck[@]}" --train_batch_size 32 --output_path ckill4 --save_model_path ckill4_m --resume --shard_tables all; rc=$?
expect_status $rc 0 "4 ranks resume it with every table sharded (2 shards -> 4, whole tables -> 4)"
same cfull_m/weights.safetensors ckill4_m/weights.safetensors "and end with the same bits"
finish
