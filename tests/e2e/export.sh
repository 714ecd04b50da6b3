#!/usr/bin/env bash
# `reckon export`: a DLRM trained on `reckon preprocess`'s data written as a Triton model
# repository (NAME_nvt, NAME_dlrm, the ensemble NAME); every config.pbtxt parses as Triton's
# ModelConfig with python3-protobuf against the descriptor set of proto/model_config.proto (skipped
# without /usr/bin/python3's google.protobuf or without protobuf-c's descriptor set, failed under
# RECKON_REQUIRE_PEERS=1); re-export, other models left alone, and errors naming the flag and path.
set -u
source "$(dirname "$0")/lib.bash"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
R=$RECKON_BIN
cd "$tmp"
"$R" synth tenrec --rows 3000 --seed 5 --output qk.csv > /dev/null
"$R" preprocess --input_data_format=csv --input_data_path qk.csv --output_path=pp/ \
  --categorical_features=user_id,item_id,video_category,gender,age --continuous_features=watching_times \
  --binary_classif_targets=click,like --to_int32=user_id,item_id --to_int8=gender,age,video_category,click,like \
  --dataset_split_strategy=random --random_split_eval_perc=0.2 --quiet
"$R" train --train_data_path pp/train --eval_data_path pp/eval --tasks click,like --model dlrm --embeddings_dim 8 \
  --mlp_layers 16,8 --epochs 1 --train_batch_size 256 --output_path o --save_model_path m --quiet

# ---- the repository ----
out=$("$R" export --model_path m --output_path repo --name tr 2>&1); rc=$?
expect_status $rc 0 "reckon export writes a repository"
expect_contains "$out" "tr_nvt (workflow), tr_dlrm (model), tr (ensemble)" "it names the three models"
for f in tr_nvt/config.pbtxt tr_nvt/1/workflow/workflow.json tr_dlrm/config.pbtxt tr_dlrm/1/model/model.json \
  tr_dlrm/1/model/weights.safetensors tr/config.pbtxt; do
  [ -f "repo/$f" ] && pass "writes $f" || fail "no repo/$f"
done
[ -d repo/tr/1 ] && pass "the ensemble has its version folder" || fail "no repo/tr/1"
ls -a repo | grep -q 'reckon-tmp' && fail "a staging folder was left: $(ls -a repo)" || pass "no staging folder left"
grep -q 'platform: "ensemble"' repo/tr/config.pbtxt && pass "the ensemble's platform" || fail "tr/config.pbtxt: no platform"
grep -q 'name: "click/binary_output"' repo/tr/config.pbtxt && pass "outputs named <target>/binary_output" \
  || fail "no click/binary_output output"
grep -q 'dynamic_batching' repo/tr_dlrm/config.pbtxt && pass "the model step batches dynamically" \
  || fail "tr_dlrm has no dynamic_batching"

# ---- every config.pbtxt is Triton's ModelConfig ----
desc="$(dirname "$R")/proto/model_config.desc"
missing=""
/usr/bin/python3 -c 'import google.protobuf' 2> /dev/null || missing="google.protobuf (/usr/bin/python3)"
[ -f "$desc" ] || missing="${missing:+$missing and }$desc (protobuf-c's protoc-c)"
if [ -n "$missing" ]; then
  if [ "${RECKON_REQUIRE_PEERS:-0}" = 1 ]; then fail "$missing missing and RECKON_REQUIRE_PEERS=1"
  else echo "skipping the protobuf checks: $missing not installed"; fi
else
  cat > parse.py << 'PY'
import sys
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format
fds = descriptor_pb2.FileDescriptorSet()
fds.ParseFromString(open(sys.argv[1], "rb").read())
pool = descriptor_pool.DescriptorPool()
for f in fds.file:
    pool.Add(f)
desc = pool.FindMessageTypeByName("inference.ModelConfig")
dtype = pool.FindEnumTypeByName("inference.DataType")
cls = message_factory.GetMessageClass(desc) if hasattr(message_factory, "GetMessageClass") \
    else message_factory.MessageFactory(pool).GetPrototype(desc)
for path in sys.argv[2:]:
    m = cls()
    text_format.Parse(open(path).read(), m)
    kind = m.WhichOneof("scheduling_choice") or "-"
    steps = ",".join(s.model_name for s in m.ensemble_scheduling.step)
    types = ",".join(sorted(set(dtype.values_by_number[i.data_type].name for i in m.input)))
    print(f"{m.name} platform={m.platform or '-'} backend={m.backend or '-'} max_batch_size={m.max_batch_size} "
          f"inputs={len(m.input)} outputs={len(m.output)} scheduling={kind} steps={steps or '-'} types={types}")
PY
  parsed=$(/usr/bin/python3 parse.py "$desc" repo/tr/config.pbtxt repo/tr_nvt/config.pbtxt repo/tr_dlrm/config.pbtxt 2>&1); rc=$?
  expect_status $rc 0 "every config.pbtxt parses as inference.ModelConfig"
  expect_contains "$parsed" "tr platform=ensemble backend=- max_batch_size=1024 inputs=6 outputs=2 scheduling=ensemble_scheduling steps=tr_nvt,tr_dlrm" \
    "the ensemble: raw columns in, a score per task out, the workflow then the model"
  expect_contains "$parsed" "tr_nvt platform=- backend=reckon" "the workflow step runs on backend reckon"
  expect_contains "$parsed" "types=TYPE_INT32,TYPE_INT64,TYPE_INT8" "raw columns keep the types the workflow read"
  expect_contains "$parsed" "tr_dlrm platform=- backend=reckon max_batch_size=1024 inputs=6 outputs=2 scheduling=dynamic_batching" \
    "the model step: features in, batched dynamically"
fi

# ---- --format onnx: the model step for Triton's onnxruntime backend ----
if [ -f "$desc" ]; then   # the ONNX export is built with protobuf-c, as the descriptor set is
  out=$("$R" export --model_path m --output_path repo_onnx --name tr --format onnx 2>&1); rc=$?
  expect_status $rc 0 "--format onnx exports"
  [ -s repo_onnx/tr_dlrm/1/model.onnx ] && pass "the model step is 1/model.onnx" || fail "no tr_dlrm/1/model.onnx"
  [ -e repo_onnx/tr_dlrm/1/model ] && fail "the onnx export also copied the model folder" || pass "no reckon model folder beside it"
  grep -q 'platform: "onnxruntime_onnx"' repo_onnx/tr_dlrm/config.pbtxt && pass "platform onnxruntime_onnx" \
    || fail "tr_dlrm: $(head -3 repo_onnx/tr_dlrm/config.pbtxt)"
  if [ -z "$missing" ]; then
    parsed=$(/usr/bin/python3 parse.py "$desc" repo_onnx/tr_dlrm/config.pbtxt repo_onnx/tr_nvt/config.pbtxt 2>&1); rc=$?
    expect_status $rc 0 "the onnx export's configs parse as inference.ModelConfig"
    expect_contains "$parsed" "tr_dlrm platform=onnxruntime_onnx backend=- max_batch_size=1024 inputs=6 outputs=2 scheduling=dynamic_batching steps=- types=TYPE_FP32,TYPE_INT64" \
      "the ONNX step takes int64 ids and float32 values"
  fi
else
  out=$("$R" export --model_path m --output_path repo_onnx --name tr --format onnx 2>&1); rc=$?
  expect_contains "$out" "--format onnx: this build has no ONNX export" "--format onnx without protobuf-c says why"
fi

# ---- a session model: raw events in, top-k items per session out ----
"$R" synth sessions --layout yoochoose --sessions 200 --days 3 --items 50 --seed 7 --output clicks.csv --quiet > /dev/null 2>&1
"$R" preprocess --data_path clicks.csv --csv_header false --csv_column_names session_id,timestamp,item_id,category \
  --session_id_feature session_id --timestamp_feature timestamp --item_id_feature item_id \
  --categorical_features item_id,category --quiet --output_path days
"$R" sessions --threads 1 --output_dir sw --do_train --data_path days --start_time_window_index 1 \
  --per_device_train_batch_size 32 --d_model 16 --n_layer 1 --n_head 2 --max_steps 2 --quiet
out=$("$R" export --model_path sw/model --output_path repo_s --name t4r --top_k 20 2>&1); rc=$?
expect_status $rc 0 "a session model exports"
expect_contains "$out" "t4r_nvt (workflow), t4r_gpt2 (model), t4r (ensemble)" "its model step is named for --model_type"
grep -q 'name: "item_id_scores"' repo_s/t4r/config.pbtxt && grep -q 'dims: 20' repo_s/t4r/config.pbtxt \
  && pass "item_ids and item_id_scores of the top 20" || fail "t4r outputs: $(grep -A3 output repo_s/t4r/config.pbtxt | head -8)"
"$R" export --model_path sw/model --output_path repo_s --name all --quiet && grep -q 'name: "next-item"' repo_s/all/config.pbtxt \
  && pass "without --top_k: next-item" || fail "no next-item output"
if [ -f "$desc" ] && [ -z "$missing" ]; then
  parsed=$(/usr/bin/python3 parse.py "$desc" repo_s/t4r/config.pbtxt repo_s/t4r_nvt/config.pbtxt repo_s/t4r_gpt2/config.pbtxt 2>&1); rc=$?
  expect_status $rc 0 "the session export's configs parse as inference.ModelConfig"
  expect_contains "$parsed" "t4r platform=ensemble backend=- max_batch_size=1024 inputs=4 outputs=2 scheduling=ensemble_scheduling steps=t4r_nvt,t4r_gpt2 types=TYPE_INT64,TYPE_STRING" \
    "raw events in: ids as INT64, ISO times as strings"
fi

# ---- again, beside other models ----
mkdir -p repo/someone_else/1 && echo 'name: "someone_else"' > repo/someone_else/config.pbtxt
"$R" export --model_path m --output_path repo --name tr --max_batch_size 64 --quiet; rc=$?
expect_status $rc 0 "exporting again replaces reckon's own models"
grep -q 'max_batch_size: 64' repo/tr/config.pbtxt && pass "--max_batch_size reaches the configs" || fail "max_batch_size"
[ -f repo/someone_else/config.pbtxt ] && pass "other models in the repository stay" || fail "someone_else was removed"

# ---- refusals name the flag and the path ----
out=$("$R" export --model_path m --output_path repo 2>&1); rc=$?
expect_status $rc 2 "no --name is a usage error"
expect_contains "$out" "--name is required" "it names --name"
out=$("$R" export --model_path m --output_path repo --name ../up 2>&1); rc=$?
expect_status $rc 2 "a --name with '/' or '..' is refused"
expect_contains "$out" "--name '../up'" "it quotes the name"
out=$("$R" export --model_path nowhere --output_path repo --name x 2>&1); rc=$?
expect_status $rc 1 "a missing --model_path fails"
expect_contains "$out" "--model_path 'nowhere'" "it names the flag and the path"
out=$("$R" export --model_path m --output_path repo --name x --top_k 5 2>&1); rc=$?
expect_contains "$out" "--top_k applies to session models" "--top_k on a ranking model is refused"
out=$("$R" export --model_path m --output_path repo --name x --format tflite 2>&1); rc=$?
expect_status $rc 2 "an unknown --format is a usage error"
out=$("$R" export --model_path m --output_path repo --name x --max_batch_size 0 2>&1); rc=$?
expect_status $rc 2 "--max_batch_size 0 is out of range"
mkdir -p plain/tr && echo keep > plain/tr/mine.txt
out=$("$R" export --model_path m --output_path plain --name tr 2>&1); rc=$?
expect_status $rc 2 "a folder reckon did not write is not replaced"
expect_contains "$out" "'plain' already holds 'tr'" "it names the folder and the model"
[ -f plain/tr/mine.txt ] && pass "the user's folder is intact" || fail "plain/tr/mine.txt is gone"
"$R" export --model_path m --output_path plain --name tr --overwrite --quiet; rc=$?
expect_status $rc 0 "--overwrite replaces it"
cp -r m m_nowf && rm -rf m_nowf/workflow
out=$("$R" export --model_path m_nowf --output_path repo --name y 2>&1); rc=$?
expect_contains "$out" "'m_nowf' has no workflow/ folder" "a model without its workflow is refused, naming the path"
finish
