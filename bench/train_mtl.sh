#!/usr/bin/env bash
# Multi-task training benchmark: `reckon train` with several tasks against PyTorch
# (bench/peers/train_mtl_torch.py, the models of tests/reference/multitask_models.py) on synthetic
# TenRec rows with known true probabilities.
#
# Data: the same as bench/train.sh (cached under build/bench-data/train_<rows>/, shared with it):
# `reckon synth tenrec --emit_truth` (seed 42), the quick-start's `reckon preprocess` with
# --control_features p_click,p_follow,p_like,p_share. For the peer, the Parquet parts go through
# `reckon convert` to CSV and pandas to .npy arrays (npy_mtl/: every task's label, the space
# column), before any timing.
#
# Each multi-task model (mlp: a shared bottom of 128,64,32; mmoe; cgc; ple) is trained one epoch on
# click,like,follow,share with --tasks_sample_space=,click,click,click (like, follow and share
# learn from the clicked rows only), loss weights click 4, follow 3, like 2, share 1, the
# quick-start's MMoE flags (3 experts of 128 units, gate_dim 32, towers of 64, embedding
# multiplier 4, l2_reg 1e-5, embeddings_l2_reg 1e-6, dropout 0.05 in train mode on both sides;
# cgc/ple: reckon's defaults of 1 expert per task and 2 shared; ple: PLE_LAYERS levels, default 2,
# as reckon's default of 1 would make it cgc), batch 4096, lr 1e-3 constant (Adam, eps 1e-7), eval
# batch 65536, at each of THREADS (OMP_NUM_THREADS = OPENBLAS_NUM_THREADS = MKL_NUM_THREADS =
# reckon --threads = torch.set_num_threads), for each seed, reckon and the peer alternating. The
# peer runs with OMP_WAIT_POLICY=PASSIVE (see bench/train.sh; TORCH_OMP_WAIT_POLICY to change).
# Figures: training samples/s (reckon: metrics.json train.samples_per_s, which includes reading
# the Parquet parts; the peer: the epoch over tensors in memory), the ratio reckon / torch, per
# task the eval AUC of both (mean ± sample std over the seeds; like/follow/share on the eval rows
# with click == 1, without class weights, as reckon reports <task>/binary_output/auc), and the
# task's ceiling: the AUC of the true probability on the same rows (p_click; p_<task> / p_click
# for the others: the probability given a click).
#
#   bench/train_mtl.sh [reckon-build-dir]       (default: build)
#   ROWS=200000 SEEDS=1 THREADS=1 MODELS=mmoe bench/train_mtl.sh    a quick run (default
#                                                ROWS=2000000, SEEDS="1 2 3", THREADS="1 2",
#                                                MODELS="mlp mmoe cgc ple", PLE_LAYERS=2)
# The table is printed and written to $OUT/train_mtl.md ($OUT set) or /tmp/bench_train_mtl.md.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
rows="${ROWS:-2000000}"
seeds="${SEEDS:-1 2 3}"
threads="${THREADS:-1 2}"
models="${MODELS:-mlp mmoe cgc ple}"
ple_layers="${PLE_LAYERS:-2}"
batch=4096
eval_batch=65536
lr=1e-3
data_seed=42
tasks=click,like,follow,share
space=,click,click,click
reckon="$build/reckon"
export OPENBLAS_CORETYPE="${OPENBLAS_CORETYPE:-$("$reckon" --version | sed -n 's/^blas kernels: //p')}"
py=/usr/bin/python3
peer_wait="${TORCH_OMP_WAIT_POLICY:-PASSIVE}"
peer="$root/bench/peers/train_mtl_torch.py"
data_dir="$root/build/bench-data/train_$rows"
csv="$data_dir/tenrec_truth.csv"
out="$data_dir/out"
npy="$data_dir/npy_mtl"
results="${OUT:+$OUT/train_mtl.md}"
results="${results:-/tmp/bench_train_mtl.md}"
[ -x "$reckon" ] || { echo "train_mtl.sh: no $reckon (build reckon first)" >&2; exit 1; }
"$reckon" train --help > /dev/null 2>&1 || { echo "train_mtl.sh: $reckon has no train command" >&2; exit 1; }
have_torch=0
$py -c 'import torch, numpy, pandas' 2> /dev/null && have_torch=1

# the quick-start's MMoE flags (docs/train.md, "Several tasks"), lr constant, on both sides
common=(--mmoe_num_mlp_experts 3 --expert_mlp_layers 128 --gate_dim 32 --tower_layers 64 --use_task_towers
        --embedding_sizes_multiplier 4 --l2_reg 1e-5 --embeddings_l2_reg 1e-6 --dropout 0.05
        --mtl_loss_weight_click=4 --mtl_loss_weight_follow=3 --mtl_loss_weight_like=2 --mtl_loss_weight_share=1)
peer_flags=(--experts 3 --expert-layers 128 --gate-dim 32 --tower-layers 64 --embedding-sizes-multiplier 4
            --l2-reg 1e-5 --embeddings-l2-reg 1e-6 --dropout 0.05 --tasks click,follow,like,share --loss-weights 4,3,2,1)

mkdir -p "$data_dir"
if [ ! -f "$csv" ]; then
  echo "generating $csv ($rows rows)..."
  "$reckon" synth tenrec --rows "$rows" --seed "$data_seed" --emit_truth --output "$csv.tmp.csv" --progress never > /dev/null
  mv "$csv.tmp.csv" "$csv"
  mv "$csv.tmp.csv.json" "$csv.json"
fi
if [ ! -f "$out/.done" ]; then
  echo "preprocessing..."
  rm -rf "$out" "$data_dir/npy" "$npy"
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
if [ ! -f "$npy/.done" ]; then
  echo "converting the Parquet parts for the peer..."
  rm -rf "$data_dir/csv_mtl" "$npy"
  for split in train eval; do
    mkdir -p "$data_dir/csv_mtl/$split"
    for f in "$out/$split"/*.parquet; do
      "$reckon" convert --progress never --quiet "$f" "$data_dir/csv_mtl/$split/$(basename "$f" .parquet).csv" > /dev/null
    done
  done
  $py "$peer" prepare --csv-dir "$data_dir/csv_mtl" --schema "$schema" --tasks $tasks --space "$space" \
    --cache "$npy" > "$data_dir/prepare_mtl.txt"
  rm -rf "$data_dir/csv_mtl"
  touch "$npy/.done"
fi
echo "data: $rows rows; $(grep '^train' "$data_dir/prepare_mtl.txt"); ceilings:"
grep '^ceiling' "$data_dir/prepare_mtl.txt" | sed 's/^/  /'
[ $have_torch = 1 ] || echo "train_mtl.sh: PyTorch, numpy or pandas missing in $py: the peer is skipped" >&2

log="$data_dir/runs_mtl.log"
: > "$log"
work="$data_dir/run_mtl"
bad=0
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) (the machine may be shared: 2-thread figures suffer most)"

run_reckon() {   # run_reckon MODEL THREADS SEED
  local m=$1 n=$2 s=$3 line extra=()
  [ "$m" = ple ] && extra=(--ple_num_layers "$ple_layers")
  rm -rf "$work"
  if ! "$reckon" train --train_data_path "$out/train" --eval_data_path "$out/eval" --tasks=$tasks \
      --tasks_sample_space=$space --model "$m" "${common[@]}" "${extra[@]}" \
      --lr $lr --lr_decay_rate 0 --train_batch_size $batch --eval_batch_size $eval_batch --epochs 1 \
      --random_seed "$s" --output_path "$work" --threads "$n" --quiet --progress never > "$data_dir/reckon_mtl.out" 2>&1; then
    echo "  reckon FAILED: model=$m threads=$n seed=$s" >&2; tail -n 20 "$data_dir/reckon_mtl.out" >&2
    bad=1; return 0
  fi
  line=$($py -c 'import json, sys
d = json.load(open(sys.argv[1]))
m = d["metrics"]
aucs = " ".join("auc_%s=%.6f" % (t, m["%s/binary_output/auc" % t]) for t in sys.argv[2].split(","))
print("samples_per_s=%.1f train_s=%.3f steps=%d samples=%d final_loss=%.5f %s" % (d["train"]["samples_per_s"],
      d["train"]["seconds"], d["train"]["steps"], d["train"]["samples"], d["train"]["final_loss"], aucs))' \
    "$work/metrics.json" "$tasks")
  echo "reckon model=$m batch=$batch threads=$n seed=$s $line" | tee -a "$log" | sed 's/^/  /'
}

run_torch() {   # run_torch MODEL THREADS SEED
  [ $have_torch = 1 ] || return 0
  local m=$1 n=$2 s=$3
  if ! OMP_WAIT_POLICY="$peer_wait" $py "$peer" train --cache "$npy" --schema "$schema" --model "$m" --batch $batch \
      --eval-batch $eval_batch --lr $lr --threads "$n" --seed "$s" --ple-layers "$ple_layers" "${peer_flags[@]}" \
      > "$data_dir/torch_mtl.out" 2>&1; then
    echo "  torch FAILED: model=$m threads=$n seed=$s" >&2; tail -n 20 "$data_dir/torch_mtl.out" >&2
    bad=1; return 0
  fi
  grep '^torch ' "$data_dir/torch_mtl.out" | tee -a "$log" | sed 's/^/  /'
}

for n in $threads; do
  export OMP_NUM_THREADS=$n OPENBLAS_NUM_THREADS=$n MKL_NUM_THREADS=$n
  for m in $models; do
    for s in $seeds; do
      run_reckon "$m" "$n" "$s"
      run_torch "$m" "$n" "$s"
    done
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

# the table: one row per (model, threads, task); samples/s averaged over the seeds
table=$($py - "$log" "$data_dir/prepare_mtl.txt" "$tasks" <<'PYEOF'
import re, statistics, sys
log, prep, tasks = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
ceil = {}
for line in open(prep):
    f = dict(re.findall(r"(\w+)=(\S+)", line))
    if line.startswith("ceiling"):
        ceil[f["task"]] = (float(f["auc"]), int(f["rows"]))
runs = {}
for line in open(log):
    tool, rest = line.split(" ", 1)
    f = dict(re.findall(r"(\w+)=(\S+)", rest))
    key = (f["model"], int(f["threads"]))
    runs.setdefault(key, {}).setdefault(tool, []).append(f)
order = ["mlp", "mmoe", "cgc", "ple"]
keys = sorted(runs, key=lambda k: (order.index(k[0]) if k[0] in order else 99, k[1]))
def sps(r):
    return statistics.mean(float(x["samples_per_s"]) for x in r) if r else None
def auc(r, t):
    a = [float(x["auc_" + t]) for x in r if "auc_" + t in x]
    if not a:
        return "-"
    return "%.4f ± %.4f" % (statistics.mean(a), statistics.stdev(a)) if len(a) > 1 else "%.4f" % a[0]
print("| model | threads | seeds | reckon samples/s | torch samples/s | reckon/torch | task | eval rows | reckon AUC | torch AUC | ceiling AUC |")
print("|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|")
for k in keys:
    r, t = runs[k].get("reckon", []), runs[k].get("torch", [])
    rs, ts = sps(r), sps(t)
    for i, task in enumerate(tasks):
        head = (k[0], str(k[1]), str(max(len(r), len(t))), "%.0f" % rs if rs else "-", "%.0f" % ts if ts else "-",
                "%.2fx" % (rs / ts) if rs and ts else "-") if i == 0 else ("", "", "", "", "", "")
        c = ceil.get(task)
        print("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (head + (task, c[1] if c else "-",
              auc(r, task), auc(t, task), "%.4f" % c[0] if c else "-")))
PYEOF
)
{
  echo "## reckon train (several tasks) against PyTorch ($rows synthetic TenRec rows, 1 epoch, lr 1e-3)"
  echo
  echo "tasks $tasks, --tasks_sample_space=$space, loss weights click 4, follow 3, like 2, share 1; the quick-start's"
  echo "MMoE flags (3 experts of 128, gate_dim 32, towers 64, multiplier 4, l2 1e-5, embeddings l2 1e-6, dropout 0.05);"
  echo "cgc/ple 1 task expert + 2 shared; ple $ple_layers levels; batch $batch, eval batch $eval_batch."
  echo
  echo "$table"
  echo
  echo "samples/s: training throughput averaged over the seeds (reckon's includes reading its Parquet parts;"
  echo "the peer's starts from tensors in memory); reckon/torch above 1: reckon is faster. AUC: eval AUC,"
  echo "mean ± sample std over the seeds; like/follow/share on the eval rows with click == 1 (eval rows column),"
  echo "no class weights; ceiling: the AUC of the true probability on the same rows (p_<task> / p_click under click)."
  echo "Same threads on both sides (OMP_NUM_THREADS = OPENBLAS_NUM_THREADS = --threads = torch.set_num_threads)."
} > "$results"
echo
cat "$results"
echo "(written to $results; every run's figures in $log)"
[ $bad = 0 ] || { echo "train_mtl.sh: some runs failed (above)" >&2; exit 1; }
