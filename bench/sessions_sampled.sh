#!/usr/bin/env bash
# Sampled softmax benchmark (issue 19, "Sampled softmax"): does training against a few log-uniform
# draws give the whole-catalogue softmax's accuracy, and does a 10M-item catalogue train here?
#
# Accuracy: synthetic sessions (`reckon synth sessions --layout yoochoose`, seed 42) through the
# session ETL into window folders (ids sorted by frequency, as the sampler assumes); window 1
# trains, window 2 evaluates (last item, Recall@20 / NDCG@20 over the whole catalogue). GPT-2
# (d_model 64, 2 layers, 4 heads, item table 64 wide, dropout 0.1, batch 128, AdamW lr LR,
# EPOCHS epochs; lr 1e-3 leaves 3 epochs far from converged, which is most of the gap:
# docs/session_models.md) with the full softmax and with --sampled_softmax --max_n_samples N, for each seed
# of SEEDS and each output layer of OUTPUTS: tied (--mf_constrained_embeddings: items scored
# against the item table) and untied (an output layer of its own, the flag's default). The goal:
# |mean Recall@20 (sampled) - mean Recall@20 (full)| <= 0.01, per output layer.
# Scale: the same data with the feature config's item cardinality set to BIG_ITEMS (default 10M):
# the tied item table is BIG_ITEMS x BIG_DIM, trained with --sampled_softmax (the scoring gemm is
# (B T) x (N + 1), nothing B x V). Two runs of STEPS_A and STEPS_B steps: sessions/s is their
# difference over the difference of their wall times (setup and saving cancel); peak RSS is
# /usr/bin/time's for the whole run (the model folder's writer stages the weights and slots, which
# adds to it) and the largest RSS seen until the last step's progress line (polled; in the longer
# run: a run too short to print progress is polled to its end). The floor is the table, its
# gradient and AdamW's two slots: 4 x BIG_ITEMS x BIG_DIM x 4 bytes. No eval for this run: ranking
# 10M items per session is evaluation's cost, not training's.
#
#   bench/sessions_sampled.sh [reckon-build-dir]        (default: build)
#   SESSIONS=20000 DAYS=3 ITEMS=5000 EPOCHS=3 LR=3e-3 SEEDS="1 2 3" N=1000 THREADS=2 OUTPUTS="tied untied"
#   SAMPLED_FLAGS="..." (added to the sampled runs: e.g. --sampled_softmax_unique false)
#   BIG_ITEMS=10000000 BIG_DIM=32 STEPS_A=2 STEPS_B=6 (BIG_ITEMS=0: skip the scale run)
# The table is printed and written to $OUT/sessions_sampled.md ($OUT set) or /tmp/bench_sessions_sampled.md.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
sessions="${SESSIONS:-20000}"
days="${DAYS:-3}"
items="${ITEMS:-5000}"
epochs="${EPOCHS:-3}"
lr="${LR:-3e-3}"
seeds="${SEEDS:-1 2 3}"
outputs="${OUTPUTS:-tied untied}"
n_sampled="${N:-1000}"
threads="${THREADS:-2}"
big_items="${BIG_ITEMS:-10000000}"
big_dim="${BIG_DIM:-32}"
steps_a="${STEPS_A:-2}"
steps_b="${STEPS_B:-6}"
batch=128
reckon="$build/reckon"
data="$root/build/bench-data/sessions_sampled_${sessions}_${days}_$items"
results="${OUT:+$OUT/sessions_sampled.md}"
results="${results:-/tmp/bench_sessions_sampled.md}"
[ -x "$reckon" ] || { echo "sessions_sampled.sh: no $reckon (build reckon first)" >&2; exit 1; }
export OPENBLAS_CORETYPE="${OPENBLAS_CORETYPE:-$("$reckon" --version | sed -n 's/^blas kernels: //p')}"

if [ ! -f "$data/.done" ]; then
  rm -rf "$data"; mkdir -p "$data"
  "$reckon" synth sessions --layout yoochoose --sessions "$sessions" --days "$days" --items "$items" --seed 42 \
    --output "$data/clicks.csv" --progress never --quiet > /dev/null
  "$reckon" preprocess --progress never --quiet --input_data_path "$data/clicks.csv" --input_data_format csv \
    --csv_header false --csv_column_names session_id,timestamp,item_id,category \
    --session_id_feature session_id --timestamp_feature timestamp --item_id_feature item_id \
    --categorical_features item_id,category --session_output_layout padded_index --output_path "$data/etl" > /dev/null
  touch "$data/.done"
fi
card=$(/usr/bin/python3 -c "
import json; s = json.load(open('$data/etl/0001/.merlin/schema.json'))
print([int(f['intDomain']['max']) + 1 for f in s['feature'] if 'item_id' in f.get('annotation', {}).get('tag', [])][0])")
features() { printf 'item_id-list_seq:\n  dtype: categorical\n  cardinality: %s\n  is_label: True\n' "$1"; }
features "$card" > "$data/features.yaml"
common=(sessions --threads "$threads" --data_path "$data/etl" --start_time_window_index 1 --final_time_window_index 2
        --model_type gpt2 --d_model 64 --n_layer 2 --n_head 4 --item_embedding_dim 64
        --dropout 0.1 --per_device_train_batch_size "$batch" --per_device_eval_batch_size 512 --learning_rate "$lr"
        --num_train_epochs "$epochs" --eval_on_last_item_seq_only --eval_metrics_ks 20 --eval_steps_on_train_set 0
        --save_steps 0 --overwrite_output_dir --quiet)
metric() { grep "^eval_$2@20 = " "$1/eval_results_over_time.txt" | tail -n 1 | cut -d' ' -f3; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "data: $sessions sessions over $days days, $card item ids; gpt2, $epochs epochs, lr $lr, seeds $seeds, $threads threads"
rows=()
for output in $outputs; do
  for seed in $seeds; do
    for mode in full sampled; do
      flags=(--mf_constrained_embeddings "$([ "$output" = tied ] && echo true || echo false)")
      # shellcheck disable=SC2206 # SAMPLED_FLAGS is a list of words
      [ $mode = sampled ] && flags+=(--sampled_softmax --max_n_samples "$n_sampled" ${SAMPLED_FLAGS:-})
      t0=$(date +%s.%N)
      "$reckon" "${common[@]}" --feature_config "$data/features.yaml" --do_train --do_eval --seed "$seed" \
        --output_dir "$out/$mode" "${flags[@]}"
      t1=$(date +%s.%N)
      rows+=("$output $mode $seed $(metric "$out/$mode" recall) $(metric "$out/$mode" ndcg) $(echo "$t1 - $t0" | bc)")
      echo "  ${rows[-1]}"
    done
  done
done

scale=""
if [ "$big_items" -gt 0 ]; then
  features "$big_items" > "$data/features_big.yaml"
  big=("${common[@]}" --feature_config "$data/features_big.yaml" --item_embedding_dim "$big_dim" --do_train
       --mf_constrained_embeddings --sampled_softmax --max_n_samples "$n_sampled" --save_steps 0)
  loud=()
  for a in "${big[@]}"; do [ "$a" != --quiet ] && loud+=("$a"); done
  for steps in "$steps_a" "$steps_b"; do
    rm -rf "$out/big"
    t0=$(date +%s.%N)
    # not --quiet: the progress line of the last step ends the training phase (the save follows)
    /usr/bin/time -f "%M" -o "$out/peak_$steps" "$reckon" "${loud[@]}" --logging_steps 1 --max_steps "$steps" \
      --output_dir "$out/big" 2> "$out/big.log" &
    sleep 1
    pid=$(pgrep -n -f "features_big.yaml" || true)
    max=0
    while kill -0 "$pid" 2> /dev/null && ! grep -q "(100%)" "$out/big.log"; do   # RSS while training
      rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2> /dev/null || echo 0)
      [ "${rss:-0}" -gt "$max" ] && max=$rss
      sleep 0.5
    done
    wait
    t1=$(date +%s.%N)
    echo "$steps $(echo "$t1 - $t0" | bc) $(cat "$out/peak_$steps") $max" >> "$out/big.txt"
    echo "  scale: $(tail -n 1 "$out/big.txt") (steps, wall s, peak KB, training KB)"
  done
  scale=$(cat "$out/big.txt")
fi

/usr/bin/python3 - "$results" "$card" "$n_sampled" "$big_items" "$big_dim" "$batch" "$scale" "${rows[@]}" <<'PY'
import statistics as st, sys
path, card, n, big, dim, batch, scale, rows = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), sys.argv[7], sys.argv[8:]
by, outputs = {}, []
for r in rows:
    output, mode, seed, rec, ndcg, wall = r.split()
    outputs += [output] if output not in outputs else []
    by.setdefault((output, mode), []).append((float(rec), float(ndcg), float(wall)))
def ms(v):
    return "%.4f +- %.4f" % (st.mean(v), st.stdev(v) if len(v) > 1 else 0.0)
lines = ["## Sampled softmax (%s item ids, N = %s draws)" % (card, n), "",
         "| output layer | softmax | Recall@20 | NDCG@20 | wall s / run |", "|---|---|---|---|---|"]
for output in outputs:
    for mode in ("full", "sampled"):
        v = by[(output, mode)]
        lines.append("| %s | %s | %s | %s | %.1f |" % (output, mode, ms([x[0] for x in v]), ms([x[1] for x in v]),
                                                  st.mean([x[2] for x in v])))
lines.append("")
for output in outputs:
    d = st.mean([x[0] for x in by[(output, "sampled")]]) - st.mean([x[0] for x in by[(output, "full")]])
    lines.append("Recall@20 sampled - full, %s: %+.4f (goal: within 0.01): %s" % (output, d, "ok" if abs(d) <= 0.01 else "MISSED"))
if scale:
    (sa, ta, pa, ra), (sb, tb, pb, rb) = [tuple(float(x) for x in l.split()) for l in scale.splitlines()]
    floor = 4 * big * dim * 4 / 2**30
    lines += ["", "## %d-item catalogue (tied table %d x %d, sampled softmax)" % (big, big, dim), "",
              "| figure | value |", "|---|---|",
              "| training sessions/s (%d vs %d steps, batch %d) | %.1f |" % (sa, sb, batch, (sb - sa) * batch / (tb - ta)),
              "| peak RSS while training (the %d-step run) | %.2f GiB |" % (sb, rb / 2**20),
              "| peak RSS of the run (with the model folder's save) | %.2f GiB |" % (max(pa, pb) / 2**20),
              "| floor: table + gradient + 2 AdamW slots | %.2f GiB |" % floor]
text = "\n".join(lines) + "\n"
print(text)
open(path, "w").write(text)
PY
