#!/usr/bin/env bash
# Sizes that input can ask for (issue 15, items 11 and 12): each case here once overflowed,
# aborted, divided by zero, overran the stack or ran for minutes, and must now either fail with a
# message naming what is too large (exit status 1 or 2, never a signal) or finish with the right
# output. Model folders with crafted safetensors shapes, a schema domain of INT64_MAX, thread
# counts, batch sizes, widths and in-batch negatives past any machine or batch, a filter query
# nested 200 deep, --global_batch_size 0; more partitions than rows, a long YAML list, 10,000
# CSV columns and a 300-feature model, which complete. No timing is asserted.
set -u
source "$(dirname "$0")/lib.bash"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
R=$RECKON_BIN
cd "$tmp"

# expect_refused RC OUTPUT PATTERN WHAT: exit status 1 or 2 (an error, not a crash) and an output
# matching PATTERN (grep -E; several forms where another check may refuse first with its own words).
expect_refused() {
  if [ "$1" != 1 ] && [ "$1" != 2 ]; then fail "$4 (exit status $1: $(printf '%s' "$2" | tail -c 300))"; return; fi
  printf '%s' "$2" | grep -Eq -- "$3" && pass "$4" || fail "$4 (no /$3/ in: $(printf '%s' "$2" | tail -c 400))"
}

"$R" synth tenrec --rows 3000 --seed 5 --output qk.csv >/dev/null
"$R" preprocess --input_data_format=csv --input_data_path qk.csv --output_path=pp/ \
  --categorical_features=user_id,item_id,video_category,gender,age --binary_classif_targets=click \
  --to_int32=user_id,item_id --to_int8=gender,age,video_category,click --user_id_feature=user_id \
  --item_id_feature=item_id --dataset_split_strategy=random --random_split_eval_perc=0.2 --output_num_partitions 2 --quiet
common=(--train_path pp/train --eval_path pp/eval --tasks click --epochs 1 --embeddings_dim 8 --mlp_layers 16 --quiet)
"$R" train "${common[@]}" --model dlrm --output_path o --save_model_path m
[ -f m/weights.safetensors ] && pass "a small model trains and saves" || fail "no model to craft from"

# ---- model folders whose weights claim shapes that overflow ----
# st_file PATH HEADER: a safetensors file of HEADER (padded to 8 bytes) and no data.
st_file() {
  local h=$2
  while [ $(( ${#h} % 8 )) != 0 ]; do h="$h "; done
  local n=${#h} le=""
  for b in 0 1 2 3 4 5 6 7; do le="$le$(printf '\\x%02x' $(( (n >> (8 * b)) & 255 )))"; done
  { printf "$le"; printf '%s' "$h"; } > "$1"
}
shapes=('[4294967296,4294967296]' '[4611686018427387904]' '[2147483648,2147483648]')
for k in 0 1 2; do
  rm -rf bad$k && cp -r m bad$k
  st_file bad$k/weights.safetensors "{\"embeddings.user_id\":{\"dtype\":\"F32\",\"shape\":${shapes[$k]},\"data_offsets\":[0,0]}}"
  out=$("$R" evaluate --eval_data_path pp/eval --load_model_path bad$k --quiet 2>&1); rc=$?
  expect_refused $rc "$out" "byte size of tensor 'embeddings.user_id' is too large" "evaluate: weights of shape ${shapes[$k]}"
  out=$("$R" predict --predict_data_path pp/eval --load_model_path bad$k --predict_output_path pr$k --quiet 2>&1); rc=$?
  expect_refused $rc "$out" "too large" "predict: weights of shape ${shapes[$k]}"
  out=$("$R" train "${common[@]}" --model dlrm --output_path ob$k --load_model_path bad$k 2>&1); rc=$?
  expect_refused $rc "$out" "too large" "train --load_model_path: weights of shape ${shapes[$k]}"
done

# ---- a schema domain of INT64_MAX: the table's rows (max + 1) overflowed ----
cp -r pp/train huge
sed -i '0,/max: [0-9]*/s//max: 9223372036854775807/' huge/schema.pbtxt
sed -i '0,/"max": "[0-9]*"/s//"max": "9223372036854775807"/' huge/.merlin/schema.json
out=$("$R" train --train_path huge --tasks click --model dlrm --embeddings_dim 8 --output_path oh --quiet 2>&1); rc=$?
expect_refused $rc "$out" "the table of categorical column 'user_id' \(int_domain max \+ 1\) is too large" \
  "int_domain max 9223372036854775807"

# ---- flags asking for more than a machine or a batch has ----
out=$("$R" train --threads 100000 "${common[@]}" --output_path ot 2>&1); rc=$?
expect_refused $rc "$out" "threads" "--threads 100000"
out=$("$R" train "${common[@]}" --model dlrm --output_path ob --train_batch_size 2147483648 2>&1); rc=$?
expect_refused $rc "$out" "needs ~[0-9.]+ GiB, this machine has|train_batch_size" "--train_batch_size 2147483648"
out=$("$R" train "${common[@]}" --model dlrm --output_path ob --train_batch_size 100000000 2>&1); rc=$?
expect_refused $rc "$out" "needs ~[0-9.]+ GiB, this machine has|train_batch_size" "--train_batch_size 100000000"
out=$("$R" train "${common[@]}" --model dlrm --output_path ob --embeddings_dim 1000000000 2>&1); rc=$?
expect_refused $rc "$out" "needs ~[0-9.]+ GiB, this machine has|embeddings_dim" "--embeddings_dim 1000000000"
out=$("$R" train "${common[@]}" --model mlp --output_path ob --mlp_layers 100000000 2>&1); rc=$?
expect_refused $rc "$out" "needs ~[0-9.]+ GiB, this machine has|mlp_layers" "--mlp_layers 100000000"
out=$("$R" train "${common[@]}" --model mlp --output_path ob --in_batch_negatives_train 100000 2>&1); rc=$?
expect_refused $rc "$out" "in_batch_negatives_train" "--in_batch_negatives_train 100000 (past the batch's other rows)"
out=$("$R" evaluate --eval_data_path pp/eval --load_model_path m --in_batch_negatives_eval 5000 --quiet 2>&1); rc=$?
expect_refused $rc "$out" "in_batch_negatives_eval" "--in_batch_negatives_eval 5000"

"$R" synth outbrain --displays 200 --seed 3 --bucket_scale 0.01 --output ob --quiet
out=$("$R" widedeep --train_data_pattern ob/train --eval_data_pattern ob/eval --deep_hidden_units 8 --global_batch_size 0 \
  --training_set_size 1000 --model_dir wck --results_dir wres 2>&1); rc=$?
expect_refused $rc "$out" "global_batch_size" "widedeep --global_batch_size 0 (was a division by zero)"

# ---- a filter query nested past the parser's bound ----
q="$(printf '(%.0s' $(seq 200))age >= 3$(printf ')%.0s' $(seq 200))"
out=$("$R" preprocess --input_data_format=csv --input_data_path qk.csv --output_path fq --categorical_features user_id \
  --binary_classif_targets click --filter_query "$q" --quiet 2>&1); rc=$?
expect_refused $rc "$out" "nested deeper than 64 levels" "--filter_query nested 200 deep"

# ---- large but legal: completes with the right output ----
head -101 qk.csv > small.csv
"$R" preprocess --input_data_format=csv --input_data_path small.csv --output_path=parts/ --categorical_features=user_id,item_id \
  --binary_classif_targets=click --dataset_split_strategy=random --random_split_eval_perc=0.2 \
  --output_num_partitions 4096 --quiet; rc=$?
eval_rows=$("$R" inspect --json parts/eval 2>/dev/null | grep -o '"rows": [0-9]*' | head -1 | cut -d' ' -f2)
n=$(ls parts/eval | grep -c '^part_.*\.parquet$')
[ $rc = 0 ] && [ -n "$eval_rows" ] && [ "$n" = "$eval_rows" ] \
  && pass "--output_num_partitions 4096 (its most): one part per row ($n), no empty parts" || fail "rc $rc: $n parts for $eval_rows eval rows"

{ printf 'input_data_path: qk.csv\ninput_data_format: csv\nbinary_classif_targets: click\ncategorical_features:\n'
  for i in $(seq 0 19999); do echo "  - c$i"; done; } > long.yaml
out=$("$R" preprocess --config long.yaml --output_path yl --quiet 2>&1); rc=$?
expect_refused $rc "$out" "names column 'c0', which data input 'qk.csv' does not have" "a YAML list of 20,000 names is read whole"

cols=10000
awk -v n=$cols 'BEGIN { for (r = 0; r < 3; r++) { s = ""; for (i = 0; i < n; i++) s = s (i ? "," : "") (r ? r * i : "c" i); print s } }' > wide.csv
"$R" convert wide.csv wide.parquet >/dev/null && "$R" convert wide.parquet back.csv >/dev/null; rc=$?
[ $rc = 0 ] && cmp -s wide.csv back.csv && pass "$cols CSV columns convert to Parquet and back unchanged" || fail "wide convert (rc $rc)"
n=$("$R" inspect --json wide.parquet 2>/dev/null | grep -o '"distinct_estimate"' | wc -l)
[ "$n" = $cols ] && pass "inspect profiles all $cols columns" || fail "inspect profiled $n columns"

F=300
awk -v n=$F 'BEGIN { srand(1); s = "click"; for (i = 0; i < n; i++) s = s ",f" i; print s;
  for (r = 0; r < 200; r++) { s = int(rand() * 2); for (i = 0; i < n; i++) s = s "," int(rand() * 10); print s } }' > many.csv
feats=$(awk -v n=$F 'BEGIN { for (i = 0; i < n; i++) printf "%sf%d", i ? "," : "", i }')
"$R" preprocess --input_data_format=csv --input_data_path many.csv --output_path=mp/ --categorical_features=$feats \
  --binary_classif_targets=click --dataset_split_strategy=random --random_split_eval_perc=0.2 --output_num_partitions 1 --quiet
"$R" train --train_path mp/train --tasks click --model mlp --embeddings_dim 4 --mlp_layers 8 --epochs 1 \
  --train_batch_size 64 --output_path mo --save_model_path mm --quiet; rc=$?
n=$(grep -ao '"embeddings\.f[0-9]*"' mm/weights.safetensors 2>/dev/null | sort -u | wc -l)
[ $rc = 0 ] && [ "$n" = $F ] && pass "a $F-feature model trains, with a table per feature" || fail "rc $rc, $n tables"

finish
