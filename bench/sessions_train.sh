#!/usr/bin/env bash
# Session-model benchmark (issue 18, "Accuracy and speed"): `reckon sessions` against PyTorch
# (bench/peers/sessions_torch.py: the models as recsys_main.py builds them, written from the
# reference's description, not from reckon's code) on one window of synthetic sessions, the same
# settings on both sides, at the same threads.
#
# Data (cached under build/bench-data/sessions_<sessions>_<days>/): `reckon synth sessions --layout
# yoochoose` (seed 42; it also writes clicks.csv.oracle.parquet, the best possible Recall/NDCG@20 of
# every processed session), then the session ETL (`reckon preprocess --session_id_feature ...`, the
# notebook's steps) into 4-digit window folders (recsys_main's layout; the helpers live in
# bench/lib_sessions.bash, shared with bench/sessions_table.sh). Window 1's train.parquet trains,
# window 2's valid.parquet evaluates (`--start_time_window_index 1 --final_time_window_index 2`).
# Inputs: the item and category lists (a feature config, written from the ETL's schema, given to
# both). The peer reads the same Parquet through `reckon convert`.
#
# Models: gpt2 (d_model 64 and 256), bert (MLM, d_model 64), gru (d_model 64), 2 layers, 4 heads
# (8 at 256); on request (MODELS=...) any other of lib_sessions.bash's model_flags (issue 19's, at
# d_model 64; bench/sessions_table.sh runs them all over several windows). The item table as wide
# as d_model (--item_embedding_dim given: the reference's rule under --mf_constrained_embeddings;
# the category's table ceil(card^0.25 * 2) wide), dropout 0.1, gelu_new, batch 128 (eval 512),
# AdamW lr 1e-3, weight decay 1.3e-5,
# constant schedule, EPOCHS epochs over the window, eval_on_last_item_seq_only, tied output with a
# bias, inp_merge mlp, tanh; each seed of SEEDS, reckon and the peer alternating. reckon runs with
# --eval_steps_on_train_set 0: the peer does not evaluate on its training window either.
# Figures per model: Recall@20 and NDCG@20 (mean +- sample std over the seeds) of both, reckon -
# torch against the tolerance max(0.005, 2 x torch's seed std), the oracle's ceiling on the same
# evaluated sessions, training sessions/s of both and reckon / torch (the goal is >= 2x). Both clocks
# span the window's epochs of steps (bench/sessions_table.sh says what each holds).
# Then an evaluation-memory check: reckon evaluates (no training) over a catalogue of MEM_ITEMS
# items (default 1M; the feature config's cardinality) at eval batches 64 and 2048; the peak RSS of
# both is printed, and the growth must stay under a quarter of what dense batch x catalogue scores
# would add (1984 x MEM_ITEMS floats). No peer for this one.
#
#   bench/sessions_train.sh [reckon-build-dir]        (default: build)
#   SESSIONS=150000 DAYS=3 EPOCHS=2 SEEDS="1 2 3" THREADS=1 MODELS="gpt2_64 gpt2_256 bert gru"
#   MEM_ITEMS=1000000 (0: skip the memory check)
# The table is printed and written to $OUT/sessions_train.md ($OUT set) or /tmp/bench_sessions_train.md.
# Until `reckon sessions` exists (issue 18) the script says so and runs the PyTorch side alone.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
sessions="${SESSIONS:-150000}"
days="${DAYS:-3}"
epochs="${EPOCHS:-2}"
seeds="${SEEDS:-1 2 3}"
threads="${THREADS:-1}"
models="${MODELS:-gpt2_64 gpt2_256 bert gru}"
mem_items="${MEM_ITEMS:-1000000}"
mem_small_batch=64
mem_big_batch=2048
batch=128
eval_batch=512
lr=1e-3
wd=1.3e-5
data_seed=42
reckon="$build/reckon"
py=/usr/bin/python3
peer="$root/bench/peers/sessions_torch.py"
data_dir="$root/build/bench-data/sessions_${sessions}_$days"
results="${OUT:+$OUT/sessions_train.md}"
results="${results:-/tmp/bench_sessions_train.md}"
# shellcheck source=bench/lib_sessions.bash
source "$root/bench/lib_sessions.bash"
bench_start sessions_train.sh
case "$("$reckon" preprocess --help 2>&1 || true)" in
  *--session_id_feature*) ;;
  *) echo "sessions_train.sh: $reckon preprocess has no session mode (issue 17)" >&2; exit 1 ;;
esac
have_reckon=0
"$reckon" sessions --help > /dev/null 2>&1 && have_reckon=1
[ $have_reckon = 1 ] || [ $have_torch = 1 ] || { echo "sessions_train.sh: neither reckon sessions nor PyTorch" >&2; exit 1; }

data="$data_dir"
echo "data: $sessions synthetic sessions over $days days (seed $data_seed) -> session ETL ..."
make_data "$data" "$sessions" "$days" 0
feature_config "$data/etl/0001/.merlin/schema.json" 0 > "$data/features.yaml"
n_train=$(($(wc -l < "$data/0001_train.csv") - 1))
n_valid=$(($(wc -l < "$data/0002_valid.csv") - 1))
ceiling=""
[ $have_torch = 1 ] && ceiling=$($py "$peer" ceiling --eval_data "$data/0002_valid.csv" --oracle "$data/oracle.csv")
echo "window 1 train: $n_train sessions; window 2 valid: $n_valid sessions; catalogue $(sed -n '3s/.*: //p' "$data/features.yaml") ids"
echo "${ceiling:-ceiling: needs pandas}"
[ $have_reckon = 1 ] || echo "sessions_train.sh: reckon's \`sessions\` command is not available yet in $reckon (issue 18): PyTorch side only"
[ $have_torch = 1 ] || echo "sessions_train.sh: PyTorch or pandas missing in $py: the peer is skipped" >&2

common="--n_layer 2 --dropout 0.1 --hidden_act gelu_new --per_device_train_batch_size $batch
  --per_device_eval_batch_size $eval_batch --learning_rate $lr --weight_decay $wd --num_train_epochs $epochs
  --eval_on_last_item_seq_only --session_seq_length_max 20"

log="$data/runs.log"
: > "$log"
bad=0

run_reckon() {   # run_reckon MODEL SEED
  [ $have_reckon = 1 ] || return 0
  local m=$1 s=$2 work="$data/run_reckon" t0 t1 line
  rm -rf "$work"
  t0=$(date +%s.%N)
  # shellcheck disable=SC2046,SC2086
  if ! "$reckon" sessions --output_dir "$work" --overwrite_output_dir --do_train --do_eval --data_path "$data/etl" \
      --start_time_window_index 1 --final_time_window_index 2 --feature_config "$data/features.yaml" \
      $(model_flags "$m") $common --inp_merge mlp --tf_out_activation tanh --mf_constrained_embeddings \
      --learning_rate_schedule constant_with_warmup --learning_rate_warmup_steps 0 --logging_steps 50 \
      --eval_steps_on_train_set 0 \
      --seed "$s" --threads "$threads" --progress never > "$data/reckon.out" 2>&1; then
    echo "  reckon FAILED: model=$m seed=$s" >&2; tail -n 20 "$data/reckon.out" >&2
    bad=1; return 0
  fi
  t1=$(date +%s.%N)
  if ! line=$(reckon_figures "$work" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" \
      $((n_train * epochs)) $batch 50); then
    bad=1; return 0
  fi
  echo "reckon model=$m seed=$s $line" | tee -a "$log" | sed 's/^/  /'
}

run_torch() {   # run_torch MODEL SEED
  [ $have_torch = 1 ] || return 0
  local m=$1 s=$2
  # shellcheck disable=SC2046,SC2086
  if ! OMP_WAIT_POLICY=PASSIVE $py "$peer" train --train_data "$data/0001_train.csv" --eval_data "$data/0002_valid.csv" \
      --feature_config "$data/features.yaml" $(model_flags "$m") $common --logging_steps 50 \
      --seed "$s" --threads "$threads" > "$data/torch.out" 2>&1; then
    echo "  torch FAILED: model=$m seed=$s" >&2; tail -n 20 "$data/torch.out" >&2
    bad=1; return 0
  fi
  grep '^torch ' "$data/torch.out" | sed "s/^torch model_type=[^ ]*/torch model=$m/" | tee -a "$log" | sed 's/^/  /'
}

export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads MKL_NUM_THREADS=$threads
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) (the machine may be shared)"
for m in $models; do
  model_flags "$m" > /dev/null
  for s in $seeds; do
    run_reckon "$m" "$s"
    run_torch "$m" "$s"
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

table=$($py - "$log" "$ceiling" <<'EOF'
import re, statistics, sys
log, ceiling = sys.argv[1], sys.argv[2]
ceil = dict(re.findall(r"(\S+)=(\S+)", ceiling))
runs = {}
for line in open(log):
    tool, rest = line.split(" ", 1)
    f = dict(re.findall(r"(\S+)=(\S+)", rest))
    runs.setdefault(f["model"], {}).setdefault(tool, []).append(f)
def col(r, k):
    return [float(x[k]) for x in r]
def ms(v):
    if not v:
        return "-"
    return "%.4f ± %.4f" % (statistics.mean(v), statistics.stdev(v)) if len(v) > 1 else "%.4f" % v[0]
def diff(r, t, k):
    if not r or not t:
        return "-"
    d = statistics.mean(col(r, k)) - statistics.mean(col(t, k))
    tol = max(0.005, 2 * statistics.stdev(col(t, k))) if len(t) > 1 else 0.005
    return "%+.4f (tol %.4f%s)" % (d, tol, "" if abs(d) <= tol else ", OUTSIDE")
print("| model | seeds | reckon R@20 | torch R@20 | reckon - torch | reckon N@20 | torch N@20 | reckon - torch |"
      " ceiling R@20 / N@20 | reckon sess/s | torch sess/s | reckon/torch |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for m in runs:
    r, t = runs[m].get("reckon", []), runs[m].get("torch", [])
    rs = statistics.mean(col(r, "sessions_per_s")) if r else None
    ts = statistics.mean(col(t, "sessions_per_s")) if t else None
    print("| %s | %d | %s | %s | %s | %s | %s | %s | %s / %s | %s | %s | %s |" % (
        m, max(len(r), len(t)), ms(col(r, "recall@20")), ms(col(t, "recall@20")), diff(r, t, "recall@20"),
        ms(col(r, "ndcg@20")), ms(col(t, "ndcg@20")), diff(r, t, "ndcg@20"),
        ceil.get("recall@20", "-"), ceil.get("ndcg@20", "-"),
        "%.0f%s" % (rs, "*" if any(x.get("speed_from") == "wall_clock" for x in r) else "") if rs else "-",
        "%.0f" % ts if ts else "-", "%.2fx" % (rs / ts) if rs and ts else "-"))
EOF
)

memory=""
if [ "$mem_items" != 0 ] && [ $have_reckon = 1 ]; then
  # evaluation only (no training), over a MEM_ITEMS catalogue, at two eval batches: a dense
  # batch x catalogue score matrix would grow RSS by the batch difference x MEM_ITEMS floats
  mdata="$root/build/bench-data/sessions_mem_$mem_items"
  echo "memory check: evaluation over a $mem_items-item catalogue ..."
  make_data "$mdata" 20000 2 "$mem_items"
  feature_config "$mdata/etl/0001/.merlin/schema.json" "$mem_items" > "$mdata/features.yaml"
  rss=()
  for b in $mem_small_batch $mem_big_batch; do
    r=$($py - "$reckon" sessions --output_dir "$mdata/run" --overwrite_output_dir --do_eval --data_path "$mdata/etl" \
        --start_time_window_index 1 --final_time_window_index 2 --feature_config "$mdata/features.yaml" \
        --model_type gpt2 --d_model 64 --item_embedding_dim 64 --n_head 4 --n_layer 2 --per_device_eval_batch_size "$b" \
        --eval_on_last_item_seq_only --mf_constrained_embeddings --threads "$threads" --progress never <<'EOF'
import resource, subprocess, sys
r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
if r.returncode != 0:
    sys.exit("reckon sessions --do_eval failed: " + r.stderr.decode()[-800:])
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)
EOF
    ) || { bad=1; break; }
    rss+=("$r")
  done
  if [ ${#rss[@]} = 2 ]; then
    table_mb=$((mem_items * 64 * 4 / 1048576))
    dense_mb=$((mem_items * (mem_big_batch - mem_small_batch) * 4 / 1048576))
    memory="evaluation over $mem_items items (d_model 64, no training): peak RSS ${rss[0]} MB at eval batch"
    memory+=" $mem_small_batch, ${rss[1]} MB at $mem_big_batch (+$((rss[1] - rss[0])) MB; dense scores would add $dense_mb MB);"
    memory+=" the item table alone is $table_mb MB"
    if [ $((rss[1] - rss[0])) -gt $((dense_mb / 4)) ]; then memory+=" (RSS NOT bounded by the batch)"; bad=1; fi
  fi
fi

{
  echo "## reckon sessions against PyTorch ($sessions synthetic sessions over $days days; window 1 train"
  echo "($n_train sessions, $epochs epochs) -> window 2 valid ($n_valid sessions); $threads thread(s))"
  echo
  echo "$table"
  echo
  echo "R@20 / N@20: Recall@20 and NDCG@20 per evaluated session (the last item of each), mean ± sample std over"
  echo "the seeds ($seeds); reckon - torch is judged against max(0.005, 2 x torch's seed std). ceiling: the synth"
  echo "oracle's expected Recall/NDCG@20 averaged over the same sessions. sess/s: training sessions per second"
  echo "over the epochs' steps (the peer over tensors in memory; reckon reading its batches from Parquet too);"
  echo "reckon/torch above 2: the goal."
  case "$table" in *"*"*) echo "*: reckon's output gave no training throughput: its trained sessions over the whole"
                          echo "command's wall time (loading and evaluation included), a lower bound." ;; esac
  [ $have_reckon = 1 ] || echo "reckon's \`sessions\` command was not available: PyTorch only."
  [ -z "$memory" ] || { echo; echo "$memory"; }
} > "$results"
echo
cat "$results"
echo "(written to $results; every run's figures in $log)"
[ $bad = 0 ] || { echo "sessions_train.sh: some runs failed (above)" >&2; exit 1; }
