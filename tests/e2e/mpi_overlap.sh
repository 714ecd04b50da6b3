#!/usr/bin/env bash
# The gradient exchange overlapped with backward (docs/distributed.md, "Overlap"): under mpirun
# the dense gradients go in buckets (--bucket_cap_mb), each started while backward still runs.
# Checked: the non-blocking collectives cross processes (test_dist_requests on 2 and 3 ranks);
# buckets of any size give the bits of one process over the same pieces, on 2, 3 and 4 ranks
# (DLRM) and for an MMoE; with small buckets metrics.json shows several buckets per step, most
# started during backward, and the seconds waited per epoch; one bucket per step starts none
# during backward (the counter has teeth). tests/e2e/mpi_train.sh has the rest of data parallelism.
# Skipped (with the reason) when reckon was built without MPI or mpirun is absent.
set -u
source "$(dirname "$0")/lib.bash"
R=$RECKON_BIN
mpi_require
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

mpi_unit_passes test_dist_requests "requests in flight complete by testing"

"$R" synth tenrec --rows 3000 --seed 5 --na_fraction 0.02 --output qk.csv >/dev/null
"$R" preprocess --input_data_format=csv --csv_na_values=\\N --input_data_path qk.csv --output_path=pp/ \
  --categorical_features=user_id,item_id,video_category,gender,age --binary_classif_targets=click,follow,like,share \
  --to_int32=user_id,item_id --to_int8=gender,age,video_category,click,follow,like,share \
  --user_id_feature=user_id --item_id_feature=item_id --dataset_split_strategy=random --random_split_eval_perc=0.2 \
  --output_num_partitions 4 --quiet
base=(--train_data_path pp/train --lr 1e-3 --lr_decay_rate 0 --epochs 2 --embeddings_dim 8 --mlp_layers 16,8
  --dropout 0.1 --quiet)
same() { cmp -s "$1" "$2" && pass "$3" || fail "$3 (weights differ)"; }
tiny=0.0005   # MB: about 500 bytes, so these small models get several buckets
field() { python3 -c "import json,sys; o=json.load(open(sys.argv[1]))['train']['data_parallel']['overlap']; print($2)" "$1" 2>/dev/null; }

# ---- DLRM: 1 rank x 4 pieces = 2 ranks (one bucket, tiny buckets) = 4 ranks; 3 ranks = 1 rank x 3 ----
dl=("${base[@]}" --model dlrm --tasks click)
"$R" train "${dl[@]}" --train_batch_size 256 --micro_batch_size 64 --output_path o1 --save_model_path m1
mpi 2 "$R" train "${dl[@]}" --train_batch_size 128 --micro_batch_size 64 --output_path o2 --save_model_path m2; rc=$?
expect_status $rc 0 "2 ranks, the default bucket size (one bucket for this model)"
same m1/weights.safetensors m2/weights.safetensors "dlrm: one bucket, 2 ranks = 1 rank"
mpi 2 "$R" train "${dl[@]}" --train_batch_size 128 --micro_batch_size 64 --bucket_cap_mb $tiny --output_path o2b \
  --save_model_path m2b; rc=$?
expect_status $rc 0 "2 ranks, --bucket_cap_mb $tiny"
same m1/weights.safetensors m2b/weights.safetensors "dlrm: tiny buckets, 2 ranks = 1 rank, bit for bit"
mpi 4 "$R" train "${dl[@]}" --train_batch_size 64 --bucket_cap_mb $tiny --output_path o4 --save_model_path m4; rc=$?
expect_status $rc 0 "4 ranks, tiny buckets"
same m1/weights.safetensors m4/weights.safetensors "dlrm: tiny buckets, 4 ranks = 1 rank, bit for bit"
"$R" train "${dl[@]}" --train_batch_size 192 --micro_batch_size 64 --output_path o3s --save_model_path m3s
mpi 3 "$R" train "${dl[@]}" --train_batch_size 64 --bucket_cap_mb $tiny --output_path o3 --save_model_path m3; rc=$?
expect_status $rc 0 "3 ranks, tiny buckets"
same m3s/weights.safetensors m3/weights.safetensors "dlrm: tiny buckets, 3 ranks (not a power of two) = 1 rank"

# ---- the overlap is used, and reported ----
per=$(field o2b/metrics.json "o['buckets_per_step']"); early=$(field o2b/metrics.json "o['buckets_started_in_backward']")
total=$(field o2b/metrics.json "o['buckets']")
[ -n "$per" ] && [ "$per" -ge 3 ] && pass "tiny buckets: $per buckets per step" || fail "buckets per step: '$per'"
# every bucket but the last (it holds the first layer and the losses) starts during backward
[ -n "$early" ] && [ "$early" -gt 0 ] && [ $((early * per)) = $((total * (per - 1))) ] \
  && pass "all but the last bucket of each step started during backward ($early of $total)" \
  || fail "buckets started during backward: '$early' of '$total' ($per per step)"
early1=$(field o2/metrics.json "o['buckets_started_in_backward']")
[ "$early1" = 0 ] && pass "the counter has teeth: one bucket per step starts after backward" || fail "one bucket: '$early1'"
epochs=$(field o2b/metrics.json "len(o['epochs'])")
waits=$(field o2b/metrics.json "all(e['comm_wait_seconds'] >= 0 and e['bytes_sent_per_step'] > 0 for e in o['epochs'])")
[ "$epochs" = 2 ] && [ "$waits" = True ] && pass "metrics.json has each epoch's seconds waited and bytes per step" \
  || fail "per-epoch communication: $epochs epochs, $waits"
b1=$(python3 -c "import json;print(json.load(open('o2/metrics.json'))['train']['data_parallel']['bytes_sent_per_step'])")
b2=$(python3 -c "import json;print(json.load(open('o2b/metrics.json'))['train']['data_parallel']['bytes_sent_per_step'])")
[ -n "$b1" ] && [ "$b1" = "$b2" ] && pass "buckets send the same bytes as one ($b1 per step)" || fail "bytes $b1 vs $b2"
out=$(mpi 2 "$R" train "${dl[@]}" --train_batch_size 128 --micro_batch_size 64 --bucket_cap_mb $tiny --output_path o2v \
  --quiet=false 2>&1)
expect_contains "$out" "gradient buckets so far started during backward" "the log says, per epoch, how many buckets overlapped"
expect_contains "$out" "s on the other ranks (not overlapped)" "and the seconds waited"

# ---- an MMoE (experts and gates: parameters read by several nodes) ----
mm=("${base[@]}" --model mmoe --tasks click,like)
"$R" train "${mm[@]}" --train_batch_size 256 --micro_batch_size 128 --output_path p1 --save_model_path n1
mpi 2 "$R" train "${mm[@]}" --train_batch_size 128 --bucket_cap_mb $tiny --output_path p2 --save_model_path n2; rc=$?
expect_status $rc 0 "mmoe on 2 ranks, tiny buckets"
same n1/weights.safetensors n2/weights.safetensors "mmoe: tiny buckets, 2 ranks = 1 rank, bit for bit"

out=$("$R" train "${dl[@]}" --train_batch_size 64 --bucket_cap_mb 0 --output_path x 2>&1); rc=$?
expect_status $rc 2 "--bucket_cap_mb 0 is refused"
expect_contains "$out" "--bucket_cap_mb" "naming the flag"
finish
