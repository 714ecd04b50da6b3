#!/usr/bin/env bash
# Data-parallel training benchmark: `mpirun -np W reckon train` against PyTorch
# DistributedDataParallel (gloo, bench/peers/ddp_torch.py, W python3 processes rendezvousing
# through a file://), at W = 1 and 2 ranks of 1 thread each, on the data of bench/train.sh
# (synthetic TenRec, the quick-start's preprocess; prepared by running train.sh with no models
# when build/bench-data/train_<rows>/ lacks it), task click, Adam lr 1e-3.
#
# Weak scaling, as DDP is used: every rank trains --batch rows per step (reckon: global
# --train_batch_size = batch x W, one piece per rank; DDP: batch rows per process), so 2 ranks
# train twice the rows per step. Figures per (model, W): training samples/s over all ranks
# (reckon: metrics.json train.samples_per_s; DDP: global rows / the slowest rank's epoch), the
# time per step, and the bytes each rank sends per step: reckon counts its own
# (train.data_parallel.bytes_sent_per_step: the dense gradients and the tables' touched rows it
# exchanges); for DDP they are computed from the parameter sizes (ddp_torch.py's header: ring
# allreduce 2 (W-1)/W x 4 bytes per element of every gradient, the tables' whole gradients included).
# DDP's tables are dense (nn.Embedding's default, DDP's ordinary use): their whole gradient is
# allreduced every step, where reckon sends only the rows a step touched.
# The overlap (docs/distributed.md): reckon's seconds waited on the other ranks over the epoch
# (rank 0's, what backward did not hide), its dense buckets per step and how many of them started
# during backward; BUCKET_MB sets --bucket_cap_mb (unset: reckon's default, 25 as DDP's). The
# table also gives reckon's samples/s over DDP's for the same model and ranks, and the load
# average is printed before and after (the machine may be shared: compare within one run).
#
#   bench/mpi_train.sh [reckon-build-dir]        (default: build)
#   ROWS=200000 MODELS="dlrm wide_n_deep" BATCH=4096 RANKS="1 2" SEED=1 BUCKET_MB=0.25 bench/mpi_train.sh
# The table is printed and written to $OUT/mpi_train.md ($OUT set) or /tmp/bench_mpi_train.md.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
rows="${ROWS:-200000}"
models="${MODELS:-dlrm wide_n_deep}"
batch="${BATCH:-4096}"
ranks="${RANKS:-1 2}"
seed="${SEED:-1}"
bucket=(${BUCKET_MB:+--bucket_cap_mb "$BUCKET_MB"})
lr=1e-3
reckon="$build/reckon"
py=/usr/bin/python3
data_dir="$root/build/bench-data/train_$rows"
out="$data_dir/out"
schema="$out/train/.merlin/schema.json"
results="${OUT:+$OUT/mpi_train.md}"
results="${results:-/tmp/bench_mpi_train.md}"
mkdir -p "$(dirname "$results")"   # an OUT that does not exist yet
mpirun=(mpirun --oversubscribe --allow-run-as-root --bind-to none)
export OMPI_MCA_btl_vader_single_copy_mechanism=none   # cross-memory attach is refused in containers
[ -x "$reckon" ] || { echo "mpi_train.sh: no $reckon (build reckon first)" >&2; exit 1; }
command -v mpirun > /dev/null || { echo "mpi_train.sh: mpirun not found (Debian: openmpi-bin)" >&2; exit 1; }
have_torch=0
$py -c 'import torch, torch.distributed as d, numpy, pandas; assert d.is_gloo_available()' 2> /dev/null && have_torch=1
[ $have_torch = 1 ] || echo "mpi_train.sh: PyTorch (with gloo), numpy or pandas missing in $py: DDP is skipped" >&2

if [ ! -f "$out/.done" ] || [ ! -f "$data_dir/npy/.done" ]; then
  echo "preparing the data with bench/train.sh (no models)..."
  mkdir -p "$(dirname "$data_dir")"
  ROWS="$rows" MODELS=" " EXTRA_BATCHES="" SEEDS=1 THREADS=1 OUT="" "$root/bench/train.sh" "$build" > "$data_dir.prepare.log" 2>&1 \
    || { tail -n 20 "$data_dir.prepare.log" >&2; exit 1; }
fi
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
log="$data_dir/mpi_runs.log"
: > "$log"
work="$data_dir/mpi_run"
bad=0
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "load average before: $load_before (the machine may be shared)"

run_reckon() {   # run_reckon MODEL RANKS
  local m=$1 w=$2 launch=()
  [ "$w" -gt 1 ] && launch=("${mpirun[@]}" -np "$w")
  rm -rf "$work"
  if ! "${launch[@]}" "$reckon" train --train_data_path "$out/train" --eval_data_path "$out/eval" --tasks click \
      --model "$m" --lr $lr --lr_decay_rate 0 --train_batch_size $((batch * w)) --epochs 1 --random_seed "$seed" \
      --output_path "$work" --threads 1 --quiet --progress never "${bucket[@]}" > "$data_dir/reckon.out" 2>&1; then
    echo "  reckon FAILED: model=$m ranks=$w" >&2; tail -n 20 "$data_dir/reckon.out" >&2
    bad=1; return 0
  fi
  $py - "$work/metrics.json" "$m" "$w" "$batch" <<'EOF' | tee -a "$log" | sed 's/^/  /'
import json, sys
d = json.load(open(sys.argv[1]))
t = d["train"]
par = t.get("data_parallel", {})
sps = t["samples_per_s"]
ov = par.get("overlap", {})
print("reckon model=%s tables=reckon world=%s batch=%s samples_per_s=%.1f step_ms=%.2f bytes_per_step=%s wait_s=%.3f "
      "buckets=%s in_backward=%s" % (
    sys.argv[2], sys.argv[3], sys.argv[4], sps, 1000.0 * int(sys.argv[4]) * int(sys.argv[3]) / sps,
    par.get("bytes_sent_per_step", 0), par.get("comm_wait_seconds", 0), ov.get("buckets_per_step", "-"),
    "%.2f" % (ov["buckets_started_in_backward"] / max(ov["buckets"], 1)) if ov else "-"))
EOF
}

run_ddp() {   # run_ddp MODEL RANKS
  [ $have_torch = 1 ] || return 0
  local m=$1 w=$2 r pids=() rendezvous
  rendezvous="$data_dir/ddp_rendezvous.$$"
  rm -f "$rendezvous"
  for ((r = 0; r < w; r++)); do
    $py "$root/bench/peers/ddp_torch.py" --rank $r --world "$w" --init "file://$rendezvous" --cache "$data_dir/npy" \
      --schema "$schema" --model "$m" --batch "$batch" --threads 1 --seed "$seed" --lr $lr \
      > "$data_dir/ddp.$r.out" 2>&1 &
    pids+=($!)
  done
  local failed=0
  for r in "${pids[@]}"; do wait "$r" || failed=1; done
  rm -f "$rendezvous"
  if [ $failed = 1 ]; then
    echo "  ddp FAILED: model=$m world=$w" >&2; tail -n 20 "$data_dir"/ddp.*.out >&2
    bad=1; return 0
  fi
  grep '^ddp ' "$data_dir/ddp.0.out" | tee -a "$log" | sed 's/^/  /'
}

for m in $models; do
  for w in $ranks; do
    run_reckon "$m" "$w"
    run_ddp "$m" "$w"
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

table=$($py - "$log" <<'EOF'
import re, sys
rows = []
for line in open(sys.argv[1]):
    tool, rest = line.split(" ", 1)
    f = dict(re.findall(r"(\w+)=(\S+)", rest))
    rows.append((tool, f))
base, ddp = {}, {}
for tool, f in rows:
    if f["world"] == "1":
        base[(tool, f["model"], f["tables"])] = float(f["samples_per_s"])
    if tool == "ddp":
        ddp[(f["model"], f["world"])] = float(f["samples_per_s"])
print("| model | trainer | tables | ranks | batch/rank | samples/s | ms/step | speed-up vs 1 rank | vs DDP "
      "| bytes sent/rank/step | wait s | buckets/step (share started in backward) |")
print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for tool, f in rows:
    sps = float(f["samples_per_s"])
    b1 = base.get((tool, f["model"], f["tables"]))
    d = ddp.get((f["model"], f["world"])) if tool == "reckon" else None
    print("| %s | %s | %s | %s | %s | %.0f | %.1f | %s | %s | %s | %s | %s |" % (
        f["model"], "reckon" if tool == "reckon" else "torch DDP (gloo)", f["tables"], f["world"], f["batch"], sps,
        float(f["step_ms"]), "%.2fx" % (sps / b1) if b1 else "-", "%.2fx" % (sps / d) if d else "-",
        "{:,.0f}".format(float(f["bytes_per_step"])), f.get("wait_s", "-"),
        "%s (%s)" % (f["buckets"], f["in_backward"]) if f.get("buckets", "-") != "-" else "-"))
EOF
)
{
  echo "## data-parallel training: reckon under mpirun against PyTorch DDP ($rows synthetic TenRec rows, 1 thread per rank)"
  echo
  echo "$table"
  echo
  echo "Weak scaling: each rank trains $batch rows per step. samples/s over all ranks; bytes: what one rank hands"
  echo "to the network per step (reckon: counted; DDP: from the parameter sizes, see bench/peers/ddp_torch.py)."
  echo "wait s: rank 0's seconds blocked on the other ranks over the epoch (not overlapped with backward)."
  echo "Load average before: $load_before; after: $(cut -d' ' -f1-3 /proc/loadavg)${BUCKET_MB:+; --bucket_cap_mb $BUCKET_MB}."
} > "$results"
echo
cat "$results"
echo "(written to $results; every run's figures in $log)"
[ $bad = 0 ] || { echo "mpi_train.sh: some runs failed (above)" >&2; exit 1; }
