#!/usr/bin/env bash
# A list (multi-hot) column from raw logs to a served ranking model (issue 20): `reckon preprocess`
# categorifies a Parquet LIST<string> column (one vocabulary over every list's values, frequencies
# per value, empty and null lists), checked value by value against DuckDB; the same input as CSV
# (--csv_list_columns) gives the same bytes; a DLRM trains on it; `reckon export` writes Merlin's
# ragged pair `tags__values` / `tags__offsets`; `reckon serve` answers over HTTP (JSON and binary
# tensors) and gRPC with exactly `reckon predict`'s scores, and refuses bad offsets with a 4xx
# (gRPC INVALID_ARGUMENT) naming the input. The clients are in serve_lists_client.py.
set -u
source "$(dirname "$0")/lib.bash"
R=$RECKON_BIN
B=$(dirname "$R")
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
peers="$RECKON_SOURCE_DIR/build/peers/node_modules"
have_duckdb=0
[ -d "$peers/@duckdb/node-api" ] && have_duckdb=1
if [ $have_duckdb = 0 ]; then
  [ "${RECKON_REQUIRE_PEERS:-0}" = 1 ] && fail "DuckDB is missing and RECKON_REQUIRE_PEERS=1"
  echo "skipping the DuckDB checks: peer not installed"
fi

# ---- raw logs: 600 rows; tags a list of 0 to 3 strings (every 11th empty, every 13th null), the
# letters skewed so that some are rarer than --categ_min_freq_capping; click follows tag 'a' ----
awk 'BEGIN {
  print "rid,uid,item,tags,click"
  split("a b c d e f g h", L, " ")
  for (i = 0; i < 600; i++) {
    n = i % 4; t = ""
    if (i % 11 == 0) t = "[]"
    else if (i % 13 == 0) t = ""
    else {
      for (k = 0; k < n; k++) t = t (k ? ", " : "") L[1 + (k == 2 ? (int(i / 4) * 3) % 8 : (i * (k + 3) + k * k) % 4)]
      t = "\"[" t "]\""
    }
    print i "," i % 50 "," i % 7 "," t "," (index(t, "a") > 0 ? 1 : i % 5 == 0)
  }
}' >"$tmp/logs.csv"
"$R" convert --csv_list_columns tags "$tmp/logs.csv" "$tmp/logs.parquet" >/dev/null
expect_status $? 0 "the raw logs as Parquet, tags a LIST<string> column"

# ---- preprocess: Parquet and CSV give the same output ----
pp() {   # pp OUTPUT INPUT [FLAGS...]
  local out=$1 in=$2
  shift 2
  "$R" preprocess --input_data_path "$in" --output_path "$out" --categorical_features uid,item,tags \
    --control_features rid --binary_classif_targets click --categ_min_freq_capping 20 \
    --dataset_split_strategy random --random_split_eval_perc 0.2 --output_num_partitions 1 --quiet "$@"
}
pp "$tmp/pp" "$tmp/logs.parquet" --input_data_format parquet
expect_status $? 0 "preprocess categorifies the list column of a Parquet input"
pp "$tmp/ppc" "$tmp/logs.csv" --input_data_format csv --csv_list_columns tags
expect_status $? 0 "and of a CSV input (--csv_list_columns)"
same=1
for f in train/part_0.parquet eval/part_0.parquet workflow/categories/unique.tags.parquet workflow/workflow.json; do
  cmp -s "$tmp/pp/$f" "$tmp/ppc/$f" || { same=0; echo "  differs: $f"; }
done
[ $same = 1 ] && pass "CSV and Parquet inputs give byte-identical data and workflow" || fail "CSV and Parquet inputs differ"
pp "$tmp/pp_t1" "$tmp/logs.parquet" --input_data_format parquet --threads 1 --persist_intermediate_files
pp "$tmp/pp_t1" "$tmp/logs.parquet" --input_data_format parquet --threads 1 --persist_intermediate_files --overwrite
for f in train/part_0.parquet eval/part_0.parquet workflow/categories/unique.tags.parquet; do
  cmp -s "$tmp/pp/$f" "$tmp/pp_t1/$f" || { same=0; echo "  differs: $f"; }
done
[ $same = 1 ] && pass "one thread, and a reused persisted stage, give the same bytes" || fail "the output depends on threads or the cache"
"$R" convert "$tmp/logs.csv" "$tmp/plain.parquet" >/dev/null   # tags as plain text
err=$("$R" preprocess --input_data_format parquet --input_data_path "$tmp/logs.parquet" --eval_data_path "$tmp/plain.parquet" \
  --output_path "$tmp/bad" --categorical_features uid,tags --binary_classif_targets click 2>&1)
expect_status $? 1 "a list in the data but not in the eval input is refused"
expect_contains "$err" "column 'tags' is not a list in '$tmp/plain.parquet' but a list in the data input" "naming the column and the file"
err=$("$R" preprocess --input_data_path "$tmp/logs.csv" --output_path "$tmp/bad" --categorical_features uid \
  --continuous_features tags --binary_classif_targets click --csv_list_columns tags 2>&1)
expect_status $? 1 "a list named by --continuous_features is refused"
expect_contains "$err" "--continuous_features names column 'tags', a list of string" "the message names the flag, column and why"
err=$("$R" preprocess --input_data_path "$tmp/logs.csv" --output_path "$tmp/bad" --categorical_features uid,tags \
  --binary_classif_targets click --csv_list_columns tags --target_encoding_features tags 2>&1)
expect_status $? 1 "target encoding of a list is refused"
expect_contains "$err" "target encoding takes one value per row" "saying why"
[ ! -e "$tmp/bad" ] && pass "a refused run leaves no output" || fail "a refused run left $tmp/bad"

wf=$tmp/pp/workflow/workflow.json
grep -q '"is_list": true' "$wf" && grep -q '"max": 3' "$wf" && pass "workflow.json marks tags a list with value_count max 3" \
  || fail "workflow.json: $(grep -A4 '"is_list"' "$wf")"
schema=$(cat "$tmp/pp/train/schema.pbtxt")
expect_contains "$schema" "value_count {" "schema.pbtxt: tags has a value_count"
expect_contains "$(grep -o '"name": "tags", "valueCount": {[^}]*}' "$tmp/pp/train/.merlin/schema.json")" '"max": "3"' \
  "schema.json: tags valueCount max 3 (as Merlin writes it)"
expect_contains "$(sed 's/.*"name": "tags"//; s/"name": "click".*//' "$tmp/pp/train/.merlin/schema.json")" \
  '"is_list": true, "is_ragged": true' "schema.json: tags has the properties is_list and is_ragged true"

if [ $have_duckdb = 1 ]; then
  p=$tmp/pp
  cat >"$tmp/agree.sql" <<EOF
CREATE TABLE raw AS SELECT * FROM read_parquet('$tmp/logs.parquet');
CREATE TABLE outp AS SELECT * FROM read_parquet(['$p/train/part_0.parquet', '$p/eval/part_0.parquet']);
CREATE TABLE tr AS SELECT rid FROM read_parquet('$p/train/part_0.parquet');
CREATE TABLE vals AS SELECT r.rid, unnest(r.tags) AS v, generate_subscripts(r.tags, 1) AS pos FROM raw r;
CREATE TABLE counts AS SELECT v, count(*) AS n FROM vals WHERE rid IN (SELECT rid FROM tr) GROUP BY v;
CREATE TABLE vocab AS SELECT v, n, 2 + row_number() OVER (ORDER BY n DESC, v) AS id FROM counts WHERE n >= 20;
CREATE TABLE expect AS SELECT r.rid, coalesce((SELECT list(coalesce(vocab.id, 2) ORDER BY vals.pos) FROM vals
  LEFT JOIN vocab ON vals.v = vocab.v WHERE vals.rid = r.rid), []) AS tags FROM raw r;
CREATE TABLE cats AS SELECT row_number() OVER () - 1 AS id, * FROM read_parquet('$p/workflow/categories/unique.tags.parquet');
SELECT 'DuckDB: the output has every input row once (train and eval)',
  (SELECT count(*) FROM outp) = 600 AND (SELECT count(DISTINCT rid) FROM outp) = 600
UNION ALL SELECT 'DuckDB: tags is a list of BIGINT ids',
  (SELECT typeof(tags) FROM outp LIMIT 1) = 'BIGINT[]'
UNION ALL SELECT 'DuckDB: every row''s ids are its values looked up, in order (vocabulary by train count, then value; rarer than 20: id 2)',
  (SELECT count(*) FROM outp JOIN expect USING (rid) WHERE outp.tags IS DISTINCT FROM expect.tags) = 0
UNION ALL SELECT 'DuckDB: empty and null lists come out empty',
  (SELECT bool_and(len(tags) = 0) FROM outp WHERE rid % 11 = 0 OR rid % 13 = 0 OR rid % 4 = 0)
UNION ALL SELECT 'DuckDB: some values are rare and some kept (the threshold bites both ways)',
  (SELECT count(*) FROM counts WHERE n < 20) > 0 AND (SELECT count(*) FROM vocab) > 2
UNION ALL SELECT 'DuckDB: unique.tags.parquet: the vocabulary in id order with its train counts',
  (SELECT count(*) FROM cats JOIN vocab USING (id) WHERE cats.tags = vocab.v AND cats.tags_size = vocab.n) = (SELECT count(*) FROM vocab)
  AND (SELECT count(*) FROM cats) = 3 + (SELECT count(*) FROM vocab)
UNION ALL SELECT 'DuckDB: id 2 counts the rare values of train, id 1 no nulls',
  (SELECT tags_size FROM cats WHERE id = 2) = (SELECT coalesce(sum(n), 0) FROM counts WHERE n < 20)
  AND (SELECT tags_size FROM cats WHERE id = 1) = 0
UNION ALL SELECT 'DuckDB: the schema''s value_count max is the longest list',
  (SELECT max(len(tags)) FROM outp) = 3;
EOF
  duck_checks "@$tmp/agree.sql"
fi

# ---- null elements (DuckDB's NULL in a list): the null id 1, as NVTabular encodes them ----
printf 'rid,tags\n0,"[a, NULL]"\n1,[NULL]\n2,[b]\n3,\n' >"$tmp/nulls.csv"
"$R" preprocess --input_data_path "$tmp/nulls.csv" --csv_list_columns tags --output_path "$tmp/ppn" \
  --categorical_features tags --control_features rid --output_num_partitions 1 --quiet
expect_status $? 0 "a CSV list with null elements is preprocessed"
"$R" convert "$tmp/ppn/train/part_0.parquet" "$tmp/ppn.csv" >/dev/null
expect_contains "$(tr '\n' ' ' <"$tmp/ppn.csv")" 'rid,tags 0,"[3, 1]" 1,[1] 2,[4] 3,[] ' \
  "a null element is id 1 in its place; a null row is an empty list"
if [ $have_duckdb = 1 ]; then
  NODE_PATH="$peers" node "$RECKON_SOURCE_DIR/bench/peers/duckdb_query.js" "COPY (SELECT * FROM (VALUES (0, ['a', NULL]),
    (1, [NULL]), (2, ['b']), (3, NULL)) t(rid, tags)) TO '$tmp/nulls.parquet' (FORMAT parquet)" >/dev/null
  "$R" preprocess --input_data_path "$tmp/nulls.parquet" --input_data_format parquet --output_path "$tmp/ppnp" \
    --categorical_features tags --control_features rid --output_num_partitions 1 --quiet
  expect_status $? 0 "a Parquet list with null elements (written by DuckDB) is read and preprocessed"
  "$R" convert "$tmp/ppnp/train/part_0.parquet" "$tmp/ppnp.csv" >/dev/null
  [ "$(cut -d, -f2- "$tmp/ppnp.csv")" = "$(cut -d, -f2- "$tmp/ppn.csv")" ] \
    && pass "the same ids as from the CSV" || fail "Parquet: $(cat "$tmp/ppnp.csv")"
  "$R" convert "$tmp/nulls.parquet" "$tmp/nulls_back.csv" >/dev/null
  expect_contains "$(cat "$tmp/nulls_back.csv")" '"[a, NULL]"' "reckon convert writes a null element as DuckDB does (NULL)"
fi

# ---- transform reproduces preprocess; train; predict ----
"$R" transform --workflow "$tmp/pp/workflow" "$tmp/logs.parquet" "$tmp/all_t" --quiet
expect_status $? 0 "reckon transform applies the workflow to the raw Parquet"
"$R" train --train_data_path "$tmp/pp/train" --eval_data_path "$tmp/pp/eval" --tasks click --model dlrm \
  --embeddings_dim 8 --mlp_layers 16,8 --epochs 2 --output_path "$tmp/out" --save_model_path "$tmp/model" --quiet
expect_status $? 0 "a DLRM trains on the list column"
head -33 "$tmp/logs.csv" >"$tmp/rows.csv"
"$R" convert --csv_list_columns tags "$tmp/rows.csv" "$tmp/rows.parquet" >/dev/null &&
  "$R" transform --workflow "$tmp/pp/workflow" "$tmp/rows.parquet" "$tmp/rows_t" --quiet &&
  "$R" predict --load_model_path "$tmp/model" --predict_data_path "$tmp/rows_t" --predict_output_path "$tmp/pred.csv" --quiet
expect_status $? 0 "reckon predict scores 32 raw rows (transformed)"

# ---- export: the ragged pair in the ensemble and workflow configs ----
"$R" export --model_path "$tmp/model" --output_path "$tmp/repo" --name dlrm --quiet
expect_status $? 0 "reckon export writes the repository"
for m in dlrm dlrm_nvt; do
  cfg=$(tr -d '\n ' <"$tmp/repo/$m/config.pbtxt")
  expect_contains "$cfg" 'input{name:"tags__values"data_type:TYPE_STRINGdims:-1}' "$m: input tags__values, BYTES, dims [-1]"
  expect_contains "$cfg" 'input{name:"tags__offsets"data_type:TYPE_INT32dims:-1}' "$m: input tags__offsets, INT32, dims [-1]"
done
expect_contains "$(tr -d '\n ' <"$tmp/repo/dlrm_dlrm/config.pbtxt")" 'input{name:"tags"data_type:TYPE_INT64dims:-1}' \
  "the model step reads tags as one list tensor (dims [-1])"
# --format onnx: the model step as ONNX, the list as (batch, 3) padded ids (a batch axis for Triton)
onnx_csv= have_onnx=0
err=$("$R" export --model_path "$tmp/model" --output_path "$tmp/repo" --name onnx --format onnx --quiet 2>&1); rc=$?
case $err in
  *"no ONNX export"*) echo "skipping the ONNX checks: this build has no ONNX export" ;;
  *)
    expect_status $rc 0 "--format onnx exports the list model" && have_onnx=1
    expect_contains "$(tr -d '\n ' <"$tmp/repo/onnx_dlrm/config.pbtxt")" 'input{name:"tags"data_type:TYPE_INT64dims:3}' \
      "its ONNX step reads tags as dims [3] (the value_count max) under max_batch_size"
    expect_contains "$(tr -d '\n ' <"$tmp/repo/onnx_nvt/config.pbtxt")" 'output{name:"tags"data_type:TYPE_INT64dims:3}' \
      "its workflow step gives tags padded to 3"
    if [ -d "$peers/onnxruntime-node" ] && command -v node >/dev/null; then onnx_csv=$tmp/onnx_rows.csv
    else echo "skipping the ONNX Runtime check: onnxruntime-node (build/peers) not installed"; fi
    ;;
esac

desc=$B/proto/model_config.desc
if [ -f "$desc" ] && /usr/bin/python3 -c 'import google.protobuf' 2>/dev/null; then
  parsed=$(/usr/bin/python3 - "$desc" "$tmp"/repo/*/config.pbtxt <<'PY' 2>&1
import sys
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format
fds = descriptor_pb2.FileDescriptorSet()
fds.ParseFromString(open(sys.argv[1], "rb").read())
pool = descriptor_pool.DescriptorPool()
for f in fds.file:
    pool.Add(f)
cls = message_factory.MessageFactory(pool).GetPrototype(pool.FindMessageTypeByName("inference.ModelConfig"))
for path in sys.argv[2:]:
    m = text_format.Parse(open(path).read(), cls())
    print(m.name, " ".join("%s:%s" % (i.name, list(i.dims)) for i in m.input))
PY
  )
  expect_status $? 0 "every exported config parses as Triton's ModelConfig"
  expect_contains "$parsed" "dlrm_nvt uid:[1] item:[1] tags__values:[-1] tags__offsets:[-1]" "the workflow step's inputs, as parsed"
  [ $have_onnx = 0 ] || expect_contains "$parsed" "onnx_dlrm uid:[1] item:[1] tags:[3]" "the ONNX step's inputs, as parsed"
else
  echo "skipping the protobuf parse: no $desc or no python3-protobuf"
fi

# ---- serve: HTTP (JSON, binary) and gRPC ----
if ! "$R" --version | grep -q '^features:.* http' || ! /usr/bin/python3 -c 'import requests' 2>/dev/null; then
  [ "${RECKON_REQUIRE_PEERS:-0}" = 1 ] && fail "HTTP serving or python3-requests is missing (RECKON_REQUIRE_PEERS=1)"
  echo "skipping the serving checks: no HTTP frontend or no python3-requests"
  finish
fi
"$R" serve --model-repository "$tmp/repo" --http-port 0 --grpc-port 0 --metrics-port 0 --http-address 127.0.0.1 \
  --grpc-address 127.0.0.1 >"$tmp/serve.out" 2>"$tmp/serve.err" &
pid=$!
serve_wait_started "$pid" "$tmp/serve.out"
port=$(serve_port HTTP "$tmp/serve.out")
gport=$(serve_port gRPC "$tmp/serve.out")
[ -n "$port" ] && pass "reckon serve loads the list model" || fail "the server did not start: $(cat "$tmp/serve.err")"
grpc_desc=
if [ -n "$gport" ] && /usr/bin/python3 -c 'import grpc, google.protobuf' 2>/dev/null; then grpc_desc=$B/proto/grpc_service.desc; fi
[ -n "$grpc_desc" ] || echo "skipping the gRPC checks: no gRPC frontend or no python3-grpcio/protobuf"
run_python_client 120 lists "$RECKON_SOURCE_DIR/tests/e2e/serve_lists_client.py" "http://127.0.0.1:$port" \
  "$tmp/rows.csv" "$tmp/pred.csv" "$gport" "$grpc_desc" "$onnx_csv"
if [ -n "$onnx_csv" ]; then
  out=$(NODE_PATH="$peers" node "$RECKON_SOURCE_DIR/tests/e2e/onnx_check.js" "$tmp/repo/onnx_dlrm/1/model.onnx" "$onnx_csv" 1e-5 2>&1)
  expect_status $? 0 "ONNX Runtime, fed by the served workflow step, gives reckon predict's scores to 1e-5 (${out#onnx_check: })"
fi
kill -TERM "$pid"
wait "$pid"
expect_status $? 0 "the server drains and exits 0"
pid=
finish
