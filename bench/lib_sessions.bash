# Helpers shared by the session benchmarks (bench/sessions_train.sh: one window; bench/sessions_table.sh:
# issue 19's table over several windows). Sourced, not run; the caller sets $reckon (the binary),
# $py (a python3 with pandas for the peer), $data_seed, and `set -euo pipefail`.
#
#   bench_start SCRIPT                  $reckon built (else SCRIPT says so and exits 1), OpenBLAS pinned
#       to the kernels reckon reports, have_torch=1 when $py has torch and pandas (else 0).
#   make_data DIR SESSIONS DAYS ITEMS   synth sessions (yoochoose layout, seed $data_seed) and the
#       session ETL into DIR/etl/<4-digit window>/{train,valid,test}.parquet; the peer's CSV of every
#       window, DIR/<window>_{train,valid}.csv; the oracle's, DIR/oracle.csv. Cached (DIR/.done).
#   feature_config SCHEMA.json CARD     recsys_main's feature YAML (item list + first category list).
#   model_flags NAME                    a model's recsys_main flags, the same on both sides.
#   reckon_figures OUT WALL N BATCH EVERY   a reckon run's figures, one line of key=value.
# shellcheck disable=SC2154   # reckon, py, data_seed: the caller's

# shellcheck disable=SC2034   # have_torch: the caller's to read
bench_start() {   # bench_start SCRIPT
  [ -x "$reckon" ] || { echo "$1: no $reckon (build reckon first)" >&2; exit 1; }
  export OPENBLAS_CORETYPE="${OPENBLAS_CORETYPE:-$("$reckon" --version | sed -n 's/^blas kernels: //p')}"
  have_torch=0
  $py -c 'import torch, pandas' 2> /dev/null && have_torch=1
}

make_data() {   # make_data DIR SESSIONS DAYS ITEMS
  local dir=$1 n=$2 d=$3 items=$4 w
  [ -f "$dir/.done" ] && [ -f "$dir/0001_train.csv" ] && return 0   # (a cache from before the window CSVs is redone)
  rm -rf "$dir"; mkdir -p "$dir"
  "$reckon" synth sessions --layout yoochoose --sessions "$n" --days "$d" --items "$items" --seed "$data_seed" \
    --output "$dir/clicks.csv" --progress never --quiet > /dev/null
  "$reckon" preprocess --progress never --quiet --input_data_path "$dir/clicks.csv" --input_data_format csv \
    --csv_header false --csv_column_names session_id,timestamp,item_id,category \
    --session_id_feature session_id --timestamp_feature timestamp --item_id_feature item_id \
    --categorical_features item_id,category --session_output_layout padded_index --output_path "$dir/etl" > /dev/null
  for w in "$dir"/etl/[0-9][0-9][0-9][0-9]; do
    w=${w##*/}
    "$reckon" convert --progress never --quiet "$dir/etl/$w/train.parquet" "$dir/${w}_train.csv" > /dev/null
    "$reckon" convert --progress never --quiet "$dir/etl/$w/valid.parquet" "$dir/${w}_valid.csv" > /dev/null
  done
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

model_flags() {   # model_flags NAME -> recsys_main flags shared by both sides
  local d64="--d_model 64 --item_embedding_dim 64 --n_head 4" mlm="--mlm --mlm_probability 0.3"
  case "$1" in
    gpt2|gpt2_64) echo "--model_type gpt2 $d64" ;;
    gpt2_256)  echo "--model_type gpt2 --d_model 256 --item_embedding_dim 256 --n_head 8" ;;
    bert)      echo "--model_type bert $mlm $d64" ;;
    albert)    echo "--model_type albert $mlm $d64" ;;
    electra)   echo "--model_type electra $mlm --rtd --rtd_tied_generator $d64" ;;
    xlnet_clm) echo "--model_type xlnet $d64" ;;
    xlnet_mlm) echo "--model_type xlnet $mlm $d64" ;;
    xlnet_plm) echo "--model_type xlnet --plm $d64" ;;
    xlnet_rtd) echo "--model_type xlnet $mlm --rtd --rtd_tied_generator $d64" ;;
    transfoxl) echo "--model_type transfoxl $d64" ;;
    gru|lstm|rnn|avgseq) echo "--model_type $1 $d64" ;;
    *) echo "unknown model '$1' (gpt2 gpt2_64 gpt2_256 bert albert electra xlnet_clm xlnet_mlm xlnet_plm" \
            "xlnet_rtd transfoxl gru lstm rnn avgseq)" >&2; exit 1 ;;
  esac
}

# reckon's figures, read from its output files: the DLLogger log.json ("DLLL {json}" lines) and the
# results text files ("key = value" lines); Recall@20, NDCG@20 and MRR@20 averaged over the evaluated
# windows (the _AOT / _AOD keys, else the mean of each window's eval_recall@20 or eval_hitrate@20,
# eval_ndcg@20, eval_mrr@20), the synth oracle's (eval_oracle_*@20, with --synth_oracle) and the
# training throughput over every window (train_samples_per_second weighted by each window's
# train_runtime, or a *sessions_per_s key); without one, the steps between the
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


found = {}      # key -> every value logged (one per window for the per-window keys)
if os.path.exists(os.path.join(out, "log.json")):
    for line in open(os.path.join(out, "log.json")):
        line = line.strip()
        try:
            rec = json.loads(line[4:] if line.startswith("DLLL") else line)
        except ValueError:
            continue
        for k, v in (rec.get("data") or {}).items() if isinstance(rec, dict) else ():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                found.setdefault(k, []).append(float(v))
if not found:       # the text files repeat what log.json holds: read them only without it
    for path in sorted(glob.glob(os.path.join(out, "*results*.txt"))):
        for k, v in re.findall(r"^\s*(\S+)\s*=\s*(\S+)\s*$", open(path).read(), re.M):
            try:
                found.setdefault(k, []).append(float(v))
            except ValueError:
                pass
def pick(pattern):
    """The average over windows of the first key matching pattern: its _AOT / _AOD key when logged."""
    keys = sorted(k for k in found if re.fullmatch(pattern + r"(?:_A[OT][DT])?", k))
    for k in sorted(keys, key=lambda k: not re.search(r"_A[OT][DT]$", k)):
        return sum(found[k]) / len(found[k])
    return None
rec = pick(r"eval_(?:recall|hitrate)@20")     # not eval_oracle_recall@20 (--synth_oracle)
ndcg = pick(r"eval_ndcg@20")
mrr = pick(r"eval_mrr@20")
oracle = [pick(r"eval_oracle_%s@20" % m) for m in ("recall", "ndcg", "mrr")]
rates, runtimes = found.get("train_samples_per_second", []), found.get("train_runtime", [])
if rates and len(rates) == len(runtimes) and sum(runtimes) > 0:
    sps, how = sum(r * t for r, t in zip(rates, runtimes)) / sum(runtimes), "reckon"
else:
    sps, how = pick(r"train_(?:samples|sessions)_per_s(?:econd)?|\S*sessions_per_s"), "reckon"
if sps is None:
    sps, how = tensorboard_rate(out, batch, every), "tensorboard"
if sps is None:
    sps, how = n / wall, "wall_clock"
if rec is None or ndcg is None:
    sys.exit("reckon_figures: no eval_recall@20 / eval_ndcg@20 in %s (log.json, *results*.txt)" % out)
line = "sessions_per_s=%.1f recall@20=%.6f ndcg@20=%.6f" % (sps, rec, ndcg)
line += "" if mrr is None else " mrr@20=%.6f" % mrr
if None not in oracle:
    line += " oracle_recall@20=%.6f oracle_ndcg@20=%.6f oracle_mrr@20=%.6f" % tuple(oracle)
print(line + " speed_from=%s" % how)
EOF
}
