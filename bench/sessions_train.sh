#!/usr/bin/env bash
# Session-model benchmark (issue 18, "Accuracy and speed"): `reckon sessions` against PyTorch
# (bench/peers/sessions_torch.py: the models as recsys_main.py builds them, written from the
# reference's description, not from reckon's code) on one window of synthetic sessions, the same
# settings on both sides, at the same threads.
#
# Data (cached under build/bench-data/sessions_<sessions>_<days>/): `reckon synth sessions --layout
# yoochoose` (seed 42; it also writes clicks.csv.oracle.parquet, the best possible Recall/NDCG@20 of
# every processed session), then the session ETL (`reckon preprocess --session_id_feature ...`, the
# notebook's steps) into 4-digit window folders (recsys_main's layout). Window 1's train.parquet
# trains, window 2's valid.parquet evaluates (`--start_time_window_index 1
# --final_time_window_index 2`). Inputs: the item and category lists (a feature config, written
# from the ETL's schema, given to both). The peer reads the same Parquet through `reckon convert`.
#
# Models: gpt2 (d_model 64 and 256), bert (MLM, d_model 64), gru (d_model 64), 2 layers, 4 heads;
# on request (MODELS=...): xlnet_mlm, xlnet_plm (issue 19, d_model 64)
# (8 at 256), the item table as wide as d_model (--item_embedding_dim given: the reference's rule
# under --mf_constrained_embeddings; the category's table ceil(card^0.25 * 2) wide), dropout 0.1, gelu_new, batch 128 (eval 512), AdamW lr 1e-3, weight decay 1.3e-5,
# constant schedule, EPOCHS epochs over the window, eval_on_last_item_seq_only, tied output with a
# bias, inp_merge mlp, tanh; each seed of SEEDS, reckon and the peer alternating. reckon runs with
# --eval_steps_on_train_set 0: the peer does not evaluate on its training window either.
# Figures per model: Recall@20 and NDCG@20 (mean +- sample std over the seeds) of both, reckon -
# torch against the tolerance max(0.005, 2 x torch's seed std), the oracle's ceiling on the same
# evaluated sessions, training sessions/s of both (the peer times its epochs over tensors already in
# memory; reckon reports its own) and reckon / torch (the goal is >= 2x).
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
[ -x "$reckon" ] || { echo "sessions_train.sh: no $reckon (build reckon first)" >&2; exit 1; }
export OPENBLAS_CORETYPE="${OPENBLAS_CORETYPE:-$("$reckon" --version | sed -n 's/^blas kernels: //p')}"
case "$("$reckon" preprocess --help 2>&1 || true)" in
  *--session_id_feature*) ;;
  *) echo "sessions_train.sh: $reckon preprocess has no session mode (issue 17)" >&2; exit 1 ;;
esac
have_reckon=0
"$reckon" sessions --help > /dev/null 2>&1 && have_reckon=1
have_torch=0
$py -c 'import torch, pandas' 2> /dev/null && have_torch=1
[ $have_reckon = 1 ] || [ $have_torch = 1 ] || { echo "sessions_train.sh: neither reckon sessions nor PyTorch" >&2; exit 1; }

# synth + session ETL into 4-digit window folders; the peer's CSV; the feature config
make_data() {   # make_data DIR SESSIONS DAYS ITEMS
  local dir=$1 n=$2 d=$3 items=$4
  [ -f "$dir/.done" ] && return 0
  rm -rf "$dir"; mkdir -p "$dir"
  "$reckon" synth sessions --layout yoochoose --sessions "$n" --days "$d" --items "$items" --seed $data_seed \
    --output "$dir/clicks.csv" --progress never --quiet > /dev/null
  "$reckon" preprocess --progress never --quiet --input_data_path "$dir/clicks.csv" --input_data_format csv \
    --csv_header false --csv_column_names session_id,timestamp,item_id,category \
    --session_id_feature session_id --timestamp_feature timestamp --item_id_feature item_id \
    --categorical_features item_id,category --session_output_layout padded_index --output_path "$dir/etl" > /dev/null
  "$reckon" convert --progress never --quiet "$dir/etl/0001/train.parquet" "$dir/train.csv" > /dev/null
  "$reckon" convert --progress never --quiet "$dir/etl/0002/valid.parquet" "$dir/valid.csv" > /dev/null
  "$reckon" convert --progress never --quiet "$dir/clicks.csv.oracle.parquet" "$dir/oracle.csv" > /dev/null
  touch "$dir/.done"
}

feature_config() {   # feature_config SCHEMA.json ITEM_CARDINALITY (0: the schema's) > YAML
  $py - "$1" "$2" <<'EOF'
import json, sys
schema, card = json.load(open(sys.argv[1])), int(sys.argv[2])
item = cat = None
for f in schema["feature"]:
    tags = f.get("annotation", {}).get("tag", [])
    if "list" in tags and "categorical" in tags:
        n = int(f["intDomain"]["max"]) + 1
        if "item_id" in tags:
            item = (f["name"], max(n, card))
        elif cat is None:
            cat = (f["name"], n)
print("%s:\n  dtype: categorical\n  cardinality: %d\n  is_label: True\n  emb_table: item_id" % item)
print("%s:\n  dtype: categorical\n  cardinality: %d\n  emb_table: category" % cat)
EOF
}

data="$data_dir"
echo "data: $sessions synthetic sessions over $days days (seed $data_seed) -> session ETL ..."
make_data "$data" "$sessions" "$days" 0
feature_config "$data/etl/0001/.merlin/schema.json" 0 > "$data/features.yaml"
n_train=$(($(wc -l < "$data/train.csv") - 1))
n_valid=$(($(wc -l < "$data/valid.csv") - 1))
ceiling=""
[ $have_torch = 1 ] && ceiling=$($py "$peer" ceiling --eval_data "$data/valid.csv" --oracle "$data/oracle.csv")
echo "window 1 train: $n_train sessions; window 2 valid: $n_valid sessions; catalogue $(sed -n '3s/.*: //p' "$data/features.yaml") ids"
echo "${ceiling:-ceiling: needs pandas}"
[ $have_reckon = 1 ] || echo "sessions_train.sh: reckon's \`sessions\` command is not available yet in $reckon (issue 18): PyTorch side only"
[ $have_torch = 1 ] || echo "sessions_train.sh: PyTorch or pandas missing in $py: the peer is skipped" >&2

model_flags() {   # model_flags NAME -> recsys_main flags shared by both sides
  case "$1" in
    gpt2_64)  echo "--model_type gpt2 --d_model 64 --item_embedding_dim 64 --n_head 4" ;;
    gpt2_256) echo "--model_type gpt2 --d_model 256 --item_embedding_dim 256 --n_head 8" ;;
    bert)     echo "--model_type bert --mlm --mlm_probability 0.3 --d_model 64 --item_embedding_dim 64 --n_head 4" ;;
    gru)      echo "--model_type gru --d_model 64 --item_embedding_dim 64 --n_head 4" ;;
    xlnet_mlm) echo "--model_type xlnet --mlm --mlm_probability 0.3 --d_model 64 --item_embedding_dim 64 --n_head 4" ;;
    xlnet_plm) echo "--model_type xlnet --plm --d_model 64 --item_embedding_dim 64 --n_head 4" ;;
    *) echo "sessions_train.sh: unknown model '$1' (gpt2_64 gpt2_256 bert gru xlnet_mlm xlnet_plm)" >&2; exit 1 ;;
  esac
}
common="--n_layer 2 --dropout 0.1 --hidden_act gelu_new --per_device_train_batch_size $batch
  --per_device_eval_batch_size $eval_batch --learning_rate $lr --weight_decay $wd --num_train_epochs $epochs
  --eval_on_last_item_seq_only --session_seq_length_max 20"

log="$data/runs.log"
: > "$log"
bad=0

# reckon's figures, read from its output files: the DLLogger log.json ("DLLL {json}" lines) and the
# results text files ("key = value" lines); Recall@20 and NDCG@20 of the evaluated window
# (eval_recall@20 or eval_hitrate@20, eval_ndcg@20, optionally suffixed _AOT / _AOD) and the training
# throughput (train_samples_per_second or a *sessions_per_s key); without one, the steps between the
# first and last full logging rows of train/loss in its TensorBoard events (runs/) times the batch,
# over their wall times; without those, the trained sessions over the command's wall time (loading
# and evaluation included: the table marks it).
reckon_figures() {   # reckon_figures OUTPUT_DIR WALL_S TRAIN_SESSIONS BATCH LOGGING_STEPS
  $py - "$@" <<'EOF'
import glob, json, os, re, struct, sys
out, wall, n, batch, every = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])


def fields(b):
    """A protobuf message's (field, wire type, value) triples."""
    def varint(i):
        v = s = 0
        while True:
            c = b[i]
            v, s, i = v | (c & 0x7F) << s, s + 7, i + 1
            if c < 0x80:
                return v, i
    i, res = 0, []
    while i < len(b):
        key, i = varint(i)
        f, t = key >> 3, key & 7
        if t == 0:
            v, i = varint(i)
        elif t in (1, 5):
            v, i = b[i:i + (8 if t == 1 else 4)], i + (8 if t == 1 else 4)
        elif t == 2:
            ln, i = varint(i)
            v, i = b[i:i + ln], i + ln
        else:
            raise ValueError("wire type %d" % t)
        res.append((f, t, v))
    return res


def tensorboard_rate(out, batch, every):
    """Sessions/s between the first and last full logging rows of train/loss in runs/ (TFRecord
    framing; Event: wall_time 1, step 2, summary 5 -> value 1 -> tag 1, simple_value 2)."""
    rows = []
    for path in glob.glob(os.path.join(out, "runs", "events.out.tfevents.*")):
        data, i = open(path, "rb").read(), 0
        while i + 12 <= len(data):
            ln = struct.unpack("<Q", data[i:i + 8])[0]
            ev, i = fields(data[i + 12:i + 12 + ln]), i + 16 + ln
            wall = dict((f, v) for f, t, v in ev if t == 1).get(1)
            step = dict((f, v) for f, t, v in ev if t == 0).get(2, 0)
            for _, _, summary in (x for x in ev if x[0] == 5):
                for _, _, value in fields(summary):
                    tag = dict((f, v) for f, t, v in fields(value) if t == 2).get(1, b"")
                    if tag == b"train/loss" and wall and step % every == 0:
                        rows.append((step, struct.unpack("<d", wall)[0]))
    rows.sort()
    if len(rows) < 2 or rows[-1][1] <= rows[0][1]:
        return None
    return (rows[-1][0] - rows[0][0]) * batch / (rows[-1][1] - rows[0][1])


found = {}
if os.path.exists(os.path.join(out, "log.json")):
    for line in open(os.path.join(out, "log.json")):
        line = line.strip()
        try:
            rec = json.loads(line[4:] if line.startswith("DLLL") else line)
        except ValueError:
            continue
        for k, v in (rec.get("data") or {}).items() if isinstance(rec, dict) else ():
            if isinstance(v, (int, float)):
                found.setdefault(k, float(v))
for path in sorted(glob.glob(os.path.join(out, "*results*.txt"))):
    for k, v in re.findall(r"^\s*(\S+)\s*=\s*(\S+)\s*$", open(path).read(), re.M):
        try:
            found.setdefault(k, float(v))
        except ValueError:
            pass
def pick(pattern):
    for k in sorted(found):
        if re.fullmatch(pattern, k):
            return found[k]
    return None
rec = pick(r"eval_(?:recall|hitrate)@20(?:_A[OT][DT])?")     # not eval_oracle_recall@20 (--synth_oracle)
ndcg = pick(r"eval_ndcg@20(?:_A[OT][DT])?")
sps, how = pick(r"train_(?:samples|sessions)_per_s(?:econd)?|\S*sessions_per_s"), "reckon"
if sps is None:
    sps, how = tensorboard_rate(out, batch, every), "tensorboard"
if sps is None:
    sps, how = n / wall, "wall_clock"
if rec is None or ndcg is None:
    sys.exit("reckon_figures: no eval_recall@20 / eval_ndcg@20 in %s (log.json, *results*.txt)" % out)
print("sessions_per_s=%.1f recall@20=%.6f ndcg@20=%.6f speed_from=%s" % (sps, rec, ndcg, how))
EOF
}

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
  if ! OMP_WAIT_POLICY=PASSIVE $py "$peer" train --train_data "$data/train.csv" --eval_data "$data/valid.csv" \
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
  echo "(the peer's epochs over tensors in memory; reckon's as it reports it); reckon/torch above 2: the goal."
  case "$table" in *"*"*) echo "*: reckon's output gave no training throughput: its trained sessions over the whole"
                          echo "command's wall time (loading and evaluation included), a lower bound." ;; esac
  [ $have_reckon = 1 ] || echo "reckon's \`sessions\` command was not available: PyTorch only."
  [ -z "$memory" ] || { echo; echo "$memory"; }
} > "$results"
echo
cat "$results"
echo "(written to $results; every run's figures in $log)"
[ $bad = 0 ] || { echo "sessions_train.sh: some runs failed (above)" >&2; exit 1; }
