#!/usr/bin/env bash
# Every ranking and multi-task model trains data-parallel to the same bits (issue 21's "2 ranks x
# half batch equals 1 rank x full batch for every ranking model, the multi-task models"): for each
# of mlp, dcn, wide_n_deep, deepfm, and the multi-task mlp (shared bottom), cgc and ple, 2 ranks
# with half the global batch end with the weights of 1 rank cutting the batch into the same two
# pieces. (dlrm, mmoe and the Wide & Deep recipe: mpi_train.sh; sharded tables: mpi_shard.sh.)
# Skipped (with the reason) when reckon was built without MPI or mpirun is absent.
set -u
source "$(dirname "$0")/lib.bash"
R=$RECKON_BIN
mpi_require
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

mpi_tenrec_data
base=(--train_data_path pp/train --eval_data_path pp/eval --lr 1e-3 --lr_decay_rate 0 --epochs 1 --eval_batch_size 1000
  --embeddings_dim 8 --mlp_layers 16,8 --dropout 0.1 --quiet)

check() {   # check NAME FLAGS...: 1 rank x 2 pieces = 2 ranks x 1
  local name=$1; shift
  "$R" train "${base[@]}" "$@" --train_batch_size 256 --micro_batch_size 128 --output_path "o1_$name" --save_model_path "m1_$name"
  mpi 2 "$R" train "${base[@]}" "$@" --train_batch_size 128 --output_path "o2_$name" --save_model_path "m2_$name"; rc=$?
  expect_status $rc 0 "mpirun -np 2 reckon train ($name) runs"
  cmp -s "m1_$name/weights.safetensors" "m2_$name/weights.safetensors" \
    && pass "$name: 2 ranks x half the batch = 1 rank x the whole, bit for bit" || fail "$name: the weights differ"
}
check mlp --model mlp --tasks click
check dcn --model dcn --tasks click
check wide_n_deep --model wide_n_deep --tasks click
check deepfm --model deepfm --tasks click
check shared_bottom --model mlp --tasks click,like
check cgc --model cgc --tasks click,like
check ple --model ple --tasks click,like
finish
