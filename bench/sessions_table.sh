#!/usr/bin/env bash
# Issue 19's comparison table, in the shape of the Transformers4Rec paper's Table 2 (rows: models
# with their training task; columns: Recall@20, NDCG@20, MRR@20): every session model of issues 18
# and 19 in `reckon sessions` beside its PyTorch version (bench/peers/sessions_torch.py, written
# from the reference's definitions, not from reckon's code) at the same settings and threads,
# between the floors (avgseq, popularity) and the ceiling (the synth oracle).
#
# Protocol (recsys_main.py's incremental training, t4rec-notes 1.3): synthetic sessions over DAYS
# days (`reckon synth sessions --layout yoochoose`, seed 42) through the session ETL into one window
# folder per day; for t = 1 .. DAYS-1 train on window t's train.parquet (weights and AdamW's moments
# carried over, the constant schedule restarted), evaluate on window t+1's valid.parquet (the last
# item of each session over the whole catalogue); each metric is the plain mean over the DAYS-1
# evaluated windows. reckon: `reckon sessions --start_time_window_index 1 --final_time_window_index
# DAYS` (its _AOT averages); the peer: the same loop over the windows' CSV (`reckon convert`).
# Models: gpt2 (causal LM), bert and albert (masked LM; albert's one shared block), electra (RTD:
# the masked LM as a tied generator, its Gumbel-max draws judged by a discriminator head), xlnet
# with the causal (attn_type uni), masked, permutation and RTD tasks, transfoxl (causal, one zero
# memory slot), gru, lstm, rnn, avgseq (causal). Settings, both sides: d_model 64 (the item table
# as wide, tied to the output with a bias), 2 layers, 4 heads, dropout 0.1, gelu_new, inp_merge
# mlp + tanh, item and category lists as inputs, mlm_probability 0.3, batch 128 (eval 512), AdamW
# lr 1e-3, weight decay 1.3e-5, EPOCHS epochs per window, eval_on_last_item_seq_only; each seed of
# SEEDS, reckon and the peer alternating.
# Floors: avgseq (a model row) and popularity (the training window's items by count, the peer's
# `popularity`); ceiling: the oracle's expected Recall / NDCG / MRR@20 over the same evaluated
# sessions (the peer's `ceiling`). Per model: mean ± sample std over the seeds, reckon - torch
# against the tolerance max(0.005, 2 x the seed std, both sides' variances pooled: three seeds of one side
# alone misjudge the spread by 4x about one time in eight), training sessions/s of both over every
# window and the ratio. Both clocks span the same work, a window's epochs of steps: the peer's
# starts after its sessions are in tensors (shuffle, slicing, masking, forward, loss, backward,
# clipping, AdamW); reckon's train_runtime (src/train/sessions.c) after its loaders are open and its
# graph built, and also holds reading each batch from the window's Parquet (under 1% of the span,
# measured with perf at SESSIONS=20000) and its logging rows; neither holds evaluation.
#
#   bench/sessions_table.sh [reckon-build-dir]        (default: build)
#   SESSIONS=40000 DAYS=4 EPOCHS=1 SEEDS="1 2 3" THREADS=1
#   MODELS="gpt2 bert albert electra xlnet_clm xlnet_mlm xlnet_plm xlnet_rtd transfoxl gru lstm rnn avgseq"
# About 30 minutes on one idle core with the defaults. The table is printed and written to
# $OUT/sessions_table.md ($OUT set) or /tmp/bench_sessions_table.md; every run's figures to
# build/bench-data/sessions_<sessions>_<days>/table_runs.log.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
sessions="${SESSIONS:-40000}"
days="${DAYS:-4}"
epochs="${EPOCHS:-1}"
seeds="${SEEDS:-1 2 3}"
threads="${THREADS:-1}"
models="${MODELS:-gpt2 bert albert electra xlnet_clm xlnet_mlm xlnet_plm xlnet_rtd transfoxl gru lstm rnn avgseq}"
batch=128
eval_batch=512
data_seed=42
reckon="$build/reckon"
py=/usr/bin/python3
peer="$root/bench/peers/sessions_torch.py"
data="$root/build/bench-data/sessions_${sessions}_$days"
results="${OUT:+$OUT/sessions_table.md}"
results="${results:-/tmp/bench_sessions_table.md}"
# shellcheck source=bench/lib_sessions.bash
source "$root/bench/lib_sessions.bash"
bench_start sessions_table.sh
"$reckon" sessions --help > /dev/null 2>&1 || { echo "sessions_table.sh: $reckon has no sessions command" >&2; exit 1; }
[ "$days" -ge 3 ] || { echo "sessions_table.sh: DAYS=$days: the protocol needs at least 3 days (2 evaluated windows)" >&2; exit 1; }
for m in $models; do model_flags "$m" > /dev/null; done
[ $have_torch = 1 ] || echo "sessions_table.sh: PyTorch or pandas missing in $py: reckon's side alone, no floors or ceiling" >&2

echo "data: $sessions synthetic sessions over $days days (seed $data_seed) -> session ETL ..."
make_data "$data" "$sessions" "$days" 0
feature_config "$data/etl/0001/.merlin/schema.json" 0 > "$data/features.yaml"
train_files="" eval_files=""
for t in $(seq 1 $((days - 1))); do
  train_files+="${train_files:+,}$data/$(printf %04d "$t")_train.csv"
  eval_files+="${eval_files:+,}$data/$(printf %04d $((t + 1)))_valid.csv"
done
floors=""
if [ $have_torch = 1 ]; then
  floors="$($py "$peer" ceiling --eval_data "$eval_files" --oracle "$data/oracle.csv")"
  floors+=$'\n'"$($py "$peer" popularity --train_data "$train_files" --eval_data "$eval_files" | grep '^popularity ')"
  printf '%s\n' "$floors"
fi

common="--n_layer 2 --dropout 0.1 --hidden_act gelu_new --per_device_train_batch_size $batch
  --per_device_eval_batch_size $eval_batch --learning_rate 1e-3 --weight_decay 1.3e-5 --num_train_epochs $epochs
  --eval_on_last_item_seq_only --session_seq_length_max 20"
log="$data/table_runs.log"
: > "$log"
bad=0

run_reckon() {   # run_reckon MODEL SEED
  local m=$1 s=$2 work="$data/table_reckon" t0 t1 line
  rm -rf "$work"
  t0=$(date +%s.%N)
  # shellcheck disable=SC2046,SC2086
  if ! "$reckon" sessions --output_dir "$work" --overwrite_output_dir --do_train --do_eval --data_path "$data/etl" \
      --start_time_window_index 1 --final_time_window_index "$days" --feature_config "$data/features.yaml" \
      $(model_flags "$m") $common --inp_merge mlp --tf_out_activation tanh --mf_constrained_embeddings \
      --learning_rate_schedule constant_with_warmup --learning_rate_warmup_steps 0 --logging_steps 50 \
      --eval_steps_on_train_set 0 --seed "$s" --threads "$threads" --progress never > "$data/reckon.out" 2>&1; then
    echo "  reckon FAILED: model=$m seed=$s" >&2; tail -n 20 "$data/reckon.out" >&2
    bad=1; return 0
  fi
  t1=$(date +%s.%N)
  line=$(reckon_figures "$work" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" 0 $batch 50) || { bad=1; return 0; }
  echo "reckon model=$m seed=$s $line" | tee -a "$log" | sed 's/^/  /'
}

run_torch() {   # run_torch MODEL SEED: the torch line, with MRR@20 averaged over its window lines
  [ $have_torch = 1 ] || return 0
  local m=$1 s=$2 mrr
  # shellcheck disable=SC2046,SC2086
  if ! OMP_WAIT_POLICY=PASSIVE $py "$peer" train --train_data "$train_files" --eval_data "$eval_files" \
      --feature_config "$data/features.yaml" $(model_flags "$m") $common --logging_steps 50 \
      --seed "$s" --threads "$threads" > "$data/torch.out" 2>&1; then
    echo "  torch FAILED: model=$m seed=$s" >&2; tail -n 20 "$data/torch.out" >&2
    bad=1; return 0
  fi
  mrr=$(awk '/^window / { for (i = 1; i <= NF; i++) if ($i ~ /^mrr@20=/) { sub(/^mrr@20=/, "", $i); s += $i; n++ } }
             END { if (n) printf "%.6f", s / n }' "$data/torch.out")
  grep '^torch ' "$data/torch.out" | sed "s/^torch model_type=[^ ]*/torch model=$m/; s/\$/ mrr@20=$mrr/" \
    | tee -a "$log" | sed 's/^/  /'
}

export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads MKL_NUM_THREADS=$threads
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "load average before: $load_before (the machine may be shared)"
start=$(date +%s)
for m in $models; do
  for s in $seeds; do
    run_reckon "$m" "$s"
    run_torch "$m" "$s"
  done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
echo "load average after: $load_after; $(($(date +%s) - start)) s"

table=$($py - "$log" "$floors" <<'EOF'
import math, re, statistics, sys
log, floors = sys.argv[1], sys.argv[2]
TASK = {"gpt2": "CLM", "bert": "MLM", "albert": "MLM", "electra": "RTD", "xlnet_clm": "CLM", "xlnet_mlm": "MLM",
        "xlnet_plm": "PLM", "xlnet_rtd": "RTD", "transfoxl": "CLM", "gru": "CLM", "lstm": "CLM", "rnn": "CLM",
        "avgseq": "CLM, floor"}
METRICS = ("recall@20", "ndcg@20", "mrr@20")
runs = {}
for line in open(log):
    tool, rest = line.split(" ", 1)
    f = dict(re.findall(r"(\S+)=(\S+)", rest))
    runs.setdefault(f["model"], {}).setdefault(tool, []).append(f)
def col(r, k):
    return [float(x[k]) for x in r if k in x]
def ms(v):
    if not v:
        return "-"
    return "%.4f ± %.4f" % (statistics.mean(v), statistics.stdev(v)) if len(v) > 1 else "%.4f" % v[0]
def diff(r, t, k):
    if not col(r, k) or not col(t, k):
        return "-"
    d = statistics.mean(col(r, k)) - statistics.mean(col(t, k))
    # the seed spread is one quantity both sides estimate (docs/session_results.md, "Seed spread"):
    # pool their sample variances rather than trust one side's few seeds
    sides = [v for v in (col(r, k), col(t, k)) if len(v) > 1]
    spread = math.sqrt(sum(statistics.variance(v) for v in sides) / len(sides)) if sides else 0.0
    tol = max(0.005, 2 * spread)
    return "%+.4f (%.4f)%s" % (d, tol, "" if abs(d) <= tol else " **out**")
head = "| model (task) | seeds |"
for m in ("R@20", "N@20", "MRR@20"):
    head += " reckon %s | torch %s | reckon - torch (tol) |" % (m, m)
print(head + " reckon sess/s | torch sess/s | reckon / torch |")
print("|---|---:|" + "---:|" * 9 + "---:|---:|---:|")
for m in runs:
    r, t = runs[m].get("reckon", []), runs[m].get("torch", [])
    row = "| %s (%s) | %d |" % (m, TASK.get(m, "?"), max(len(r), len(t)))
    for k in METRICS:
        row += " %s | %s | %s |" % (ms(col(r, k)), ms(col(t, k)) if t else "peer: not run", diff(r, t, k))
    rs = statistics.mean(col(r, "sessions_per_s")) if r else None
    ts = statistics.mean(col(t, "sessions_per_s")) if t else None
    print(row + " %s | %s | %s |" % ("%.0f" % rs if rs else "-", "%.0f" % ts if ts else "-",
                                      "%.2fx" % (rs / ts) if rs and ts else "-"))
for line in floors.splitlines():
    kind, rest = line.split(" ", 1)
    f = dict(re.findall(r"(\S+)=(\S+)", rest))
    name = {"popularity": "popularity (floor)", "ceiling": "synth oracle (ceiling)"}[kind]
    cells = "".join(" %s | | |" % ("%.4f" % float(f[k]) if k in f else "-") for k in METRICS)
    print("| %s | - |%s | | |" % (name, cells))
EOF
)

{
  echo "## reckon sessions against PyTorch: issue 19's table ($sessions synthetic sessions over $days days;"
  echo "train on window t, evaluate on t+1, t = 1..$((days - 1)), averaged; $epochs epoch(s) per window; $threads thread(s))"
  echo
  echo "$table"
  echo
  echo "R@20 / N@20 / MRR@20: Recall, NDCG and MRR at 20 of each evaluated session's last item over the whole"
  echo "catalogue, averaged over the evaluated windows, then mean ± sample std over the seeds ($seeds)."
  echo "reckon - torch: the difference of the means, (tol) = max(0.005, 2 x the pooled seed std: both sides'"
  echo "sample variances averaged), **out** when"
  echo "outside it. sess/s: training sessions per second over every window, both timing the window's epochs of"
  echo "steps (the peer over tensors in memory; reckon's train_runtime, reading its batches from Parquet too)."
  echo "Floors: avgseq (row) and popularity; ceiling: the synth oracle."
  echo "Load average before / after: $load_before / $load_after."
} > "$results"
echo
cat "$results"
echo "(written to $results; every run's figures in $log)"
[ $bad = 0 ] || { echo "sessions_table.sh: some runs failed (above)" >&2; exit 1; }
