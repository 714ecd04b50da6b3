#!/usr/bin/env bash
# Training benchmark: `reckon train` against PyTorch (bench/peers/train_torch.py, the models of
# tests/reference/ranking_models.py) on synthetic TenRec rows with known true probabilities.
#
# Data (cached under build/bench-data/train_<rows>/): `reckon synth tenrec --emit_truth` (seed 42),
# the quick-start's `reckon preprocess` (Merlin's preprocessing.py flags, with the casts) plus
# --control_features p_click,p_follow,p_like,p_share so the true probabilities travel with the
# rows (untagged in the schema: no model reads them). For the peer, the Parquet parts go through
# `reckon convert` to CSV and pandas' C parser to .npy arrays, before any timing.
#
# Each model (mlp, dcn, dlrm, wide_n_deep, deepfm) is trained one epoch on click, batch 4096,
# lr 1e-3 constant (Adam, 0.9/0.999, eps 1e-7; tables updated lazily / by SparseAdam), the
# defaults of both otherwise (mlp_layers 128,64,32, embeddings_dim 128 for dlrm and deepfm, l2_reg
# 1e-5), at 1 and 2 threads (OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, MKL_NUM_THREADS, reckon
# --threads and torch.set_num_threads equal), for each seed, reckon and the peer alternating.
# The peer runs with OMP_WAIT_POLICY=PASSIVE (TORCH_OMP_WAIT_POLICY=ACTIVE to change): with
# libgomp's default spinning, torch at 2 threads on a busy 2-core machine ran 3-4x slower than
# at 1 thread (mlp 20K against 80K samples/s with PASSIVE, the same load); at 1 thread it changes
# nothing. reckon (also OpenMP) showed no difference either way and runs as users run it.
# Figures: training samples/s (reckon: its metrics.json train.samples_per_s, which includes
# reading the Parquet parts during the epoch; the peer: the epoch over tensors already in
# memory: shuffle, slicing, forward, loss, backward, optimizer steps), the ratio reckon / torch,
# the eval AUC of both (mean +- sample std over the seeds), and the ceiling: the AUC of the true
# p_click on the same eval rows. dlrm also at other batch sizes, once: the first seed, the first
# thread count (EXTRA_THREADS="1 2" for more).
#
#   bench/train.sh [reckon-build-dir]           (default: build)
#   ROWS=200000 SEEDS=1 THREADS=1 bench/train.sh     a quick run (default ROWS=2000000, SEEDS="1 2 3",
#   MODELS="mlp dlrm" EXTRA_BATCHES="" ...            THREADS="1 2", EXTRA_BATCHES="1024 65536",
#                                                     EXTRA_THREADS: the first of THREADS)
# The table is printed and written to $OUT/train.md ($OUT set) or /tmp/bench_train.md.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
rows="${ROWS:-2000000}"
seeds="${SEEDS:-1 2 3}"
threads="${THREADS:-1 2}"
models="${MODELS:-mlp dcn dlrm wide_n_deep deepfm}"
extra_batches="${EXTRA_BATCHES-1024 65536}"
extra_threads="${EXTRA_THREADS:-${threads%% *}}"
batch=4096
eval_batch=65536
lr=1e-3
data_seed=42
reckon="$build/reckon"
# Peers on the same OpenBLAS (PyTorch links it too) get the kernels reckon runs: reckon re-executes
# itself with OPENBLAS_CORETYPE when OpenBLAS falls back to generic kernels on a CPU it does not know.
export OPENBLAS_CORETYPE="${OPENBLAS_CORETYPE:-$("$reckon" --version | sed -n 's/^blas kernels: //p')}"
py=/usr/bin/python3
peer_wait="${TORCH_OMP_WAIT_POLICY:-PASSIVE}"   # see the header
peer="$root/bench/peers/train_torch.py"
data_dir="$root/build/bench-data/train_$rows"
csv="$data_dir/tenrec_truth.csv"
out="$data_dir/out"
results="${OUT:+$OUT/train.md}"
results="${results:-/tmp/bench_train.md}"
[ -x "$reckon" ] || { echo "train.sh: no $reckon (build reckon first)" >&2; exit 1; }
"$reckon" train --help > /dev/null 2>&1 || { echo "train.sh: $reckon has no train command" >&2; exit 1; }
have_torch=0
$py -c 'import torch, numpy, pandas' 2> /dev/null && have_torch=1

mkdir -p "$data_dir"
if [ ! -f "$csv" ]; then
  echo "generating $csv ($rows rows)..."
  "$reckon" synth tenrec --rows "$rows" --seed "$data_seed" --emit_truth --output "$csv.tmp.csv" --progress never > /dev/null
  mv "$csv.tmp.csv" "$csv"
  mv "$csv.tmp.csv.json" "$csv.json"
fi
if [ ! -f "$out/.done" ]; then
  echo "preprocessing..."
  rm -rf "$out" "$data_dir/npy"
  "$reckon" preprocess --progress never --quiet \
    --input_data_format=csv --csv_na_values=\\N --input_data_path "$csv" --output_path="$out/" \
    --categorical_features=user_id,item_id,video_category,gender,age \
    --binary_classif_targets=click,follow,like,share --regression_targets=watching_times \
    --to_int32=user_id,item_id --to_int16=watching_times \
    --to_int8=gender,age,video_category,click,follow,like,share \
    --user_id_feature=user_id --item_id_feature=item_id --min_user_freq 5 \
    --dataset_split_strategy=random --random_split_eval_perc=0.2 \
    --control_features p_click,p_follow,p_like,p_share
  touch "$out/.done"
fi
schema="$out/train/.merlin/schema.json"
if [ ! -f "$data_dir/npy/.done" ]; then
  echo "converting the Parquet parts for the peer..."
  rm -rf "$data_dir/csv" "$data_dir/npy"
  for split in train eval; do
    mkdir -p "$data_dir/csv/$split"
    for f in "$out/$split"/*.parquet; do
      "$reckon" convert --progress never --quiet "$f" "$data_dir/csv/$split/$(basename "$f" .parquet).csv" > /dev/null
    done
  done
  $py "$peer" prepare --csv-dir "$data_dir/csv" --schema "$schema" --task click --truth p_click \
    --cache "$data_dir/npy" > "$data_dir/prepare.txt"
  rm -rf "$data_dir/csv"
  touch "$data_dir/npy/.done"
fi
ceiling=$(sed -n 's/^ceiling auc=\([^ ]*\).*/\1/p' "$data_dir/prepare.txt")
echo "data: $rows rows; $(grep '^train' "$data_dir/prepare.txt"); eval $(sed -n 's/^ceiling .*rows=\([0-9]*\).*/\1/p' "$data_dir/prepare.txt") rows; ceiling AUC (p_click) $ceiling"
[ $have_torch = 1 ] || echo "train.sh: PyTorch, numpy or pandas missing in $py: the peer is skipped" >&2

log="$data_dir/runs.log"
: > "$log"
work="$data_dir/run"
bad=0
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) (the machine may be shared: 2-thread figures suffer most)"

run_reckon() {   # run_reckon MODEL BATCH THREADS SEED
  local m=$1 b=$2 n=$3 s=$4 line
  rm -rf "$work"
  if ! "$reckon" train --train_data_path "$out/train" --eval_data_path "$out/eval" --tasks click --model "$m" \
      --lr $lr --lr_decay_rate 0 --train_batch_size "$b" --eval_batch_size $eval_batch --epochs 1 \
      --random_seed "$s" --output_path "$work" --threads "$n" --quiet --progress never > "$data_dir/reckon.out" 2>&1; then
    echo "  reckon FAILED: model=$m batch=$b threads=$n seed=$s" >&2; tail -n 20 "$data_dir/reckon.out" >&2
    bad=1; return 0
  fi
  line=$($py -c 'import json, sys
d = json.load(open(sys.argv[1]))
print("samples_per_s=%.1f auc=%.6f train_s=%.3f steps=%d samples=%d final_loss=%.5f" % (d["train"]["samples_per_s"],
      d["metrics"]["auc"], d["train"]["seconds"], d["train"]["steps"], d["train"]["samples"], d["train"]["final_loss"]))' \
    "$work/metrics.json")
  echo "reckon model=$m batch=$b threads=$n seed=$s $line" | tee -a "$log" | sed 's/^/  /'
}

run_torch() {   # run_torch MODEL BATCH THREADS SEED
  [ $have_torch = 1 ] || return 0
  local m=$1 b=$2 n=$3 s=$4
  if ! OMP_WAIT_POLICY="$peer_wait" $py "$peer" train --cache "$data_dir/npy" --schema "$schema" --model "$m" --batch "$b" \
      --eval-batch $eval_batch --lr $lr --threads "$n" --seed "$s" > "$data_dir/torch.out" 2>&1; then
    echo "  torch FAILED: model=$m batch=$b threads=$n seed=$s" >&2; tail -n 20 "$data_dir/torch.out" >&2
    bad=1; return 0
  fi
  grep '^torch ' "$data_dir/torch.out" | tee -a "$log" | sed 's/^/  /'
}

run_both() {   # run_both MODEL BATCH THREADS SEED
  export OMP_NUM_THREADS=$3 OPENBLAS_NUM_THREADS=$3 MKL_NUM_THREADS=$3
  run_reckon "$@"
  run_torch "$@"
}

for n in $threads; do
  for m in $models; do
    for s in $seeds; do run_both "$m" $batch "$n" "$s"; done
  done
done
first_seed=${seeds%% *}
for n in $extra_threads; do
  for b in $extra_batches; do run_both dlrm "$b" "$n" "$first_seed"; done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

# the table: one row per (model, batch, threads); samples/s averaged over the seeds
table=$($py - "$log" "$ceiling" "$rows" <<'EOF'
import re, statistics, sys
log, ceiling, rows = sys.argv[1], sys.argv[2], sys.argv[3]
runs = {}
for line in open(log):
    tool, rest = line.split(" ", 1)
    f = dict(re.findall(r"(\w+)=(\S+)", rest))
    key = (f["model"], int(f["batch"]), int(f["threads"]))
    runs.setdefault(key, {}).setdefault(tool, []).append((float(f["samples_per_s"]), float(f["auc"])))
order = ["mlp", "dcn", "dlrm", "wide_n_deep", "deepfm"]
keys = sorted(runs, key=lambda k: (k[1] != 4096, order.index(k[0]) if k[0] in order else 99, k[1], k[2]))
def sps(r):
    return statistics.mean(x[0] for x in r) if r else None
def auc(r):
    if not r:
        return "-"
    a = [x[1] for x in r]
    return "%.4f ± %.4f" % (statistics.mean(a), statistics.stdev(a)) if len(a) > 1 else "%.4f" % a[0]
print("| model | batch | threads | seeds | reckon samples/s | torch samples/s | reckon/torch | reckon AUC | torch AUC | ceiling AUC |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for k in keys:
    r, t = runs[k].get("reckon", []), runs[k].get("torch", [])
    rs, ts = sps(r), sps(t)
    print("| %s | %d | %d | %d | %s | %s | %s | %s | %s | %s |" % (
        k[0], k[1], k[2], max(len(r), len(t)), "%.0f" % rs if rs else "-", "%.0f" % ts if ts else "-",
        "%.2fx" % (rs / ts) if rs and ts else "-", auc(r), auc(t), ceiling))
EOF
)
{
  echo "## reckon train against PyTorch ($rows synthetic TenRec rows, task click, 1 epoch, lr 1e-3)"
  echo
  echo "$table"
  echo
  echo "samples/s: training throughput averaged over the seeds (reckon's includes reading its Parquet parts;"
  echo "the peer's starts from tensors in memory); reckon/torch above 1: reckon is faster. AUC: eval AUC,"
  echo "mean ± sample std over the seeds; ceiling: the AUC of the true p_click on the same eval rows."
  echo "Same threads on both sides (OMP_NUM_THREADS = OPENBLAS_NUM_THREADS = --threads = torch.set_num_threads)."
} > "$results"
echo
cat "$results"
echo "(written to $results; every run's figures in $log)"
[ $bad = 0 ] || { echo "train.sh: some runs failed (above)" >&2; exit 1; }
