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
if ! "$R" --version | grep -q '^features:.*\bmpi\b'; then
  echo "skipped: reckon was built without MPI (install libopenmpi-dev and reconfigure)"; exit 0
fi
if ! command -v mpirun >/dev/null; then echo "skipped: no mpirun (Debian: openmpi-bin)"; exit 0; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# LeakSanitizer is off under mpirun only (OpenMPI's plugin allocations outlive MPI_Finalize; see
# mpi_train.sh); the 1-rank runs keep it.
mpi_asan="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
export OMPI_MCA_btl_vader_single_copy_mechanism=none
mpi() { ASAN_OPTIONS="$mpi_asan" timeout 300 mpirun --oversubscribe --allow-run-as-root -np "$@"; }
cd "$tmp"

"$R" synth tenrec --rows 3000 --seed 7 --na_fraction 0.02 --output qk.csv >/dev/null
"$R" preprocess --input_data_format=csv --csv_na_values=\\N --input_data_path qk.csv --output_path=pp/ \
  --categorical_features=user_id,item_id,video_category,gender,age --binary_classif_targets=click,follow,like,share \
  --to_int32=user_id,item_id --to_int8=gender,age,video_category,click,follow,like,share \
  --dataset_split_strategy=random --random_split_eval_perc=0.2 --output_num_partitions 4 --quiet
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
