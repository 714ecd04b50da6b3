#!/usr/bin/env bash
# Never destroy what reckon did not write, never publish half a set (src/core/output.c), as a user
# meets it: a model saved into a folder holding someone's file, or into the training data, and
# predictions or transformed data written into a data folder, are refused and leave everything as
# it was; --overwrite and an output of the same kind allow the replacement; a second run into a
# locked output folder is
# refused naming the holder's pid; preprocess killed between its moves leaves a folder that train
# refuses, naming both runs, and the next run repairs it; a training run that fails late (or on a
# full disk) leaves the previous run's logs, metrics and report whole; temporaries of dead
# processes are removed at the next run, those of live ones kept; evaluate leaks nothing when its
# --output_path cannot be written.
set -u
source "$(dirname "$0")/lib.bash"
tmp=$(mktemp -d)
bg=
cleanup() {
  [ -n "$bg" ] && kill "$bg" 2>/dev/null
  mountpoint -q "$tmp/full" 2>/dev/null && umount "$tmp/full"
  rm -rf "$tmp"
}
trap cleanup EXIT
R=$RECKON_BIN
"$R" synth tenrec --rows 3000 --seed 5 --output "$tmp/qk.csv" >/dev/null
PP=(preprocess --input_data_format=csv --csv_na_values=\\N --input_data_path "$tmp/qk.csv"
  --categorical_features=user_id,item_id,video_category,gender,age --binary_classif_targets=click
  --to_int32=user_id,item_id --dataset_split_strategy=random --random_split_eval_perc=0.2 --output_num_partitions 2 --quiet)
prep() { "$R" "${PP[@]}" --output_path "$1" --random_seed "$2" "${@:3}"; }   # prep OUT SEED [flags]
prep "$tmp/pp" 1
D=$tmp/pp
T=(train --train_data_path "$D/train" --eval_data_path "$D/eval" --tasks click --model mlp --epochs 1
  --train_batch_size 512 --eval_batch_size 1000 --embeddings_dim 8 --mlp_layers 8 --quiet)
sums() { (cd "$1" && find . -type f ! -name .reckon-lock | sort | xargs md5sum); }
marker_run() { sed -n 's/^run=//p' "$1/.reckon-output"; }

# ---- --output_path only gains its own files: the quick-start's ./outputs/ around the preprocessed data ----
mkdir -p "$tmp/outs" && cp -r "$D" "$tmp/outs/preproc" && echo "my notes" >"$tmp/outs/notes.txt"
before=$(sums "$tmp/outs/preproc")
"$R" "${T[@]}" --train_data_path "$tmp/outs/preproc/train" --eval_data_path "$tmp/outs/preproc/eval" --output_path "$tmp/outs"; rc=$?
expect_status $rc 0 "training into a folder that holds the user's data and notes"
[ -f "$tmp/outs/metrics.json" ] && [ "$(cat "$tmp/outs/notes.txt")" = "my notes" ] && [ "$(sums "$tmp/outs/preproc")" = "$before" ] \
  && pass "the logs are added beside them, which stay as they were" || fail "outs: $(ls -A "$tmp/outs")"
mkdir -p "$tmp/outs2" && echo "their metrics" >"$tmp/outs2/metrics.json"
out=$("$R" "${T[@]}" --output_path "$tmp/outs2" 2>&1); rc=$?
expect_status $rc 2 "a metrics.json reckon did not write is refused"
expect_contains "$out" "already holds 'metrics.json', which reckon did not write" "naming the file"
[ "$(cat "$tmp/outs2/metrics.json")" = "their metrics" ] && pass "and kept" || fail "outs2/metrics.json replaced"

# ---- a model into a folder reckon did not write ----
mkdir "$tmp/m1" && echo "my notes" >"$tmp/m1/notes.txt"
out=$("$R" "${T[@]}" --output_path "$tmp/o1" --save_model_path "$tmp/m1" 2>&1); rc=$?
expect_status $rc 2 "--save_model_path into a folder holding another's file is refused"
expect_contains "$out" "'$tmp/m1' is not empty and reckon did not write it (it holds 'notes.txt')" "naming the folder and the file"
[ "$(cat "$tmp/m1/notes.txt")" = "my notes" ] && [ ! -e "$tmp/m1/model.json" ] && pass "the file is kept, nothing written beside it" \
  || fail "the folder changed: $(ls -A "$tmp/m1")"
[ ! -e "$tmp/o1/metrics.json" ] && pass "refused before training, not after" || fail "it trained first"

# ---- the training data as --save_model_path ----
before=$(sums "$D/train")
out=$("$R" "${T[@]}" --output_path "$tmp/o2" --save_model_path "$D/train" 2>&1); rc=$?
expect_status $rc 2 "--save_model_path set to the training data is refused"
expect_contains "$out" "holds a reckon dataset output, not a model output" "saying what the folder holds"
[ "$(sums "$D/train")" = "$before" ] && pass "the data's Parquet parts are intact" || fail "the training data changed"

# ---- same kind, and --overwrite ----
"$R" "${T[@]}" --output_path "$tmp/o3" --save_model_path "$tmp/m3"; rc=$?
expect_status $rc 0 "a model into a new folder"
"$R" "${T[@]}" --output_path "$tmp/o3" --save_model_path "$tmp/m3/"; rc=$?
expect_status $rc 0 "a model replaces a model, and a train output a train output, without a flag"
[ -f "$tmp/m3/model.json" ] && [ -z "$(ls -A "$tmp" | grep '^m3\.tmp')" ] && pass "(the folder named with a slash too)" \
  || fail "m3/: $(ls -A "$tmp/m3")"
"$R" "${T[@]}" --output_path "$tmp/o1" --save_model_path "$tmp/m1" --overwrite; rc=$?
expect_status $rc 0 "--overwrite replaces the folder reckon did not write"
[ -f "$tmp/m1/model.json" ] && [ ! -e "$tmp/m1/notes.txt" ] && pass "with the model in its place" || fail "m1: $(ls -A "$tmp/m1")"

# ---- predictions into a data folder ----
before=$(sums "$D/eval")
P=(predict --load_model_path "$tmp/m3" --predict_data_path "$D/eval" --quiet)
out=$("$R" "${P[@]}" --predict_output_path "$D/eval" 2>&1); rc=$?
expect_status $rc 2 "--predict_output_path set to a data folder is refused"
expect_contains "$out" "holds a reckon dataset output, not a predictions output" "naming what it holds"
[ "$(sums "$D/eval")" = "$before" ] && "$R" inspect "$D/eval" >/dev/null 2>&1 && pass "its part_0.parquet is intact and readable" \
  || fail "the eval data changed"
"$R" "${P[@]}" --predict_output_path "$tmp/preds" && "$R" "${P[@]}" --predict_output_path "$tmp/preds"; rc=$?
expect_status $rc 0 "predictions replace predictions in a folder"
"$R" "${P[@]}" --predict_output_path "$tmp/p.parquet"; rc=$?
expect_status $rc 0 "predictions into a new file"
out=$("$R" "${P[@]}" --predict_output_path "$tmp/p.parquet" 2>&1); rc=$?
expect_status $rc 2 "an existing file is not overwritten"
expect_contains "$out" "'$tmp/p.parquet' exists; refusing to overwrite it" "naming it"
"$R" "${P[@]}" --predict_output_path "$tmp/p.parquet" --overwrite; rc=$?
expect_status $rc 0 "unless --overwrite"

# ---- transform into a data folder, or over a file ----
before=$(sums "$D/train")
out=$("$R" transform --quiet --workflow "$D/workflow" --csv_na_values '\N' "$tmp/qk.csv" "$D/train" 2>&1); rc=$?
expect_status $rc 2 "transform into the training data is refused"
[ "$(sums "$D/train")" = "$before" ] && pass "leaving it intact" || fail "transform changed the training data"
"$R" transform --quiet --workflow "$D/workflow" --csv_na_values '\N' "$tmp/qk.csv" "$tmp/t" >/dev/null \
  && "$R" transform --quiet --workflow "$D/workflow" --csv_na_values '\N' "$tmp/qk.csv" "$tmp/t" >/dev/null; rc=$?
expect_status $rc 0 "transform replaces its own output folder"
out=$("$R" transform --quiet --workflow "$D/workflow" --csv_na_values '\N' "$tmp/qk.csv" "$tmp/qk.csv" 2>&1); rc=$?
expect_status $rc 2 "transform over an existing file (here its own input) is refused"
"$R" inspect "$tmp/qk.csv" >/dev/null 2>&1 && pass "which stays readable" || fail "the input was overwritten"

# ---- one run at a time per output folder ----
mkdir "$tmp/o4"
( exec 9>>"$tmp/o4/.reckon-lock"; echo $BASHPID >&9; flock 9; exec sleep 60 ) &
bg=$!
for _ in $(seq 100); do flock -n "$tmp/o4/.reckon-lock" true 2>/dev/null || break; sleep 0.05; done
out=$("$R" "${T[@]}" --output_path "$tmp/o4" 2>&1); rc=$?
expect_status $rc 2 "a second run into a locked --output_path is refused"
expect_contains "$out" "'$tmp/o4' is in use by another reckon run (pid $bg)" "naming the other process"
kill "$bg" && wait "$bg" 2>/dev/null
bg=
"$R" "${T[@]}" --output_path "$tmp/o4"; rc=$?
expect_status $rc 0 "once it is gone, the folder is free"
[ ! -e "$tmp/o4/.reckon-lock" ] && pass "and a finished run leaves no lock file" || fail "lock file left"

# ---- a run that fails late leaves the previous set whole ----
before=$(sums "$tmp/o4")
out=$("$R" "${T[@]}" --output_path "$tmp/o4" --predict_data_path "$tmp/no_such_data" 2>&1); rc=$?
expect_status $rc 1 "a run failing after training (its predictions) fails"
[ "$(sums "$tmp/o4")" = "$before" ] && pass "train_log.jsonl, train_log.csv, log.json, metrics.json, report.html stay the last run's" \
  || fail "the previous outputs changed: $(diff <(echo "$before") <(sums "$tmp/o4") | head -5)"
[ -z "$(find "$tmp/o4" -name '*.tmp.*')" ] && pass "and nothing of the failed run is left" || fail "left: $(find "$tmp/o4" -name '*.tmp.*')"

# ---- a full disk (only where a small tmpfs can be mounted: root, outside CI) ----
mkdir "$tmp/full"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=2m tmpfs "$tmp/full" 2>/dev/null; then
  "$R" "${T[@]}" --output_path "$tmp/full/o" --metrics_log_frequency 1; rc=$?
  expect_status $rc 0 "a run onto a small disk"
  before=$(sums "$tmp/full/o")
  dd if=/dev/zero of="$tmp/full/filler" bs=64k 2>/dev/null
  out=$("$R" "${T[@]}" --output_path "$tmp/full/o" --metrics_log_frequency 1 2>&1); rc=$?
  [ $rc != 0 ] && pass "training onto a full disk fails" || fail "it ran on a full disk"
  [ -n "$before" ] && [ "$(sums "$tmp/full/o")" = "$before" ] && pass "leaving the previous logs, metrics and report whole" \
    || fail "the full disk changed the previous outputs: $(diff <(echo "$before") <(sums "$tmp/full/o") | head -5)"
  umount "$tmp/full"
else
  echo "skip: no tmpfs to fill (needs root); the failing-late check above covers the same path"
fi

# ---- temporaries of dead processes go, those of live ones stay ----
sh -c 'exit 0' & dead=$!
wait $dead
for n in "train_log.jsonl.tmp.$dead.0" "metrics.json.tmp.$$.1" "notes.txt"; do echo x >"$tmp/o4/$n"; done
mkdir -p "$tmp/o4/.reckon-tmp-$dead/train" "$tmp/m3.tmp.$dead.4" "$tmp/m3.tmp.$$.5"
"$R" "${T[@]}" --output_path "$tmp/o4" --save_model_path "$tmp/m3"; rc=$?
expect_status $rc 0 "a run beside leftovers"
[ ! -e "$tmp/o4/train_log.jsonl.tmp.$dead.0" ] && [ ! -e "$tmp/o4/.reckon-tmp-$dead" ] && [ ! -e "$tmp/m3.tmp.$dead.4" ] \
  && pass "removes the *.tmp.<pid>.* files and .reckon-tmp-<pid> folders of a dead pid" || fail "dead leftovers stay"
[ -e "$tmp/o4/metrics.json.tmp.$$.1" ] && [ -e "$tmp/m3.tmp.$$.5" ] && [ -e "$tmp/o4/notes.txt" ] \
  && pass "keeps those of a live pid, and other files" || fail "removed a live process's files"

echo x >"$tmp/c.parquet.tmp.$dead.0" && echo x >"$tmp/c.parquet.tmp.$$.1"
"$R" convert "$tmp/qk.csv" "$tmp/c.parquet" >/dev/null; rc=$?
expect_status $rc 0 "convert beside leftovers"
[ ! -e "$tmp/c.parquet.tmp.$dead.0" ] && [ -e "$tmp/c.parquet.tmp.$$.1" ] \
  && pass "every table writer (the sink) removes a dead writer's temporaries and keeps a live one's" || fail "convert's leftovers"

# ---- preprocess: train/, eval/, workflow/ from one run ----
prep "$tmp/mix" 1 && cp -a "$tmp/mix" "$tmp/mix_old" && prep "$tmp/mix" 2; rc=$?
expect_status $rc 0 "preprocess replaces its own output"
old=$(marker_run "$tmp/mix_old") new=$(marker_run "$tmp/mix")
rm -rf "$tmp/mix/eval" && cp -a "$tmp/mix_old/eval" "$tmp/mix/eval"
out=$("$R" train --train_data_path "$tmp/mix/train" --eval_data_path "$tmp/mix/eval" --tasks click --model mlp \
  --train_batch_size 512 --mlp_layers 8 --output_path "$tmp/o5" 2>&1); rc=$?
expect_status $rc 1 "train refuses eval/ of another preprocess run"
expect_contains "$out" "comes from run $old but its folder holds the outputs of run $new" "naming both runs"
if strace -f -o /dev/null true 2>/dev/null; then
  # Killed as the issue found it: after train/ moved into place, as eval/ is about to.
  prep "$tmp/mix" 3 --overwrite && rm -rf "$tmp/mix_old" && cp -a "$tmp/mix" "$tmp/mix_old"
  (strace -f -o /dev/null -P "$tmp/mix/eval" -e trace=renameat2 -e inject=renameat2:signal=KILL \
    "$R" "${PP[@]}" --output_path "$tmp/mix" --random_seed 4; true) 2>/dev/null
  [ "$(sums "$tmp/mix/eval")" = "$(sums "$tmp/mix_old/eval")" ] && ! cmp -s "$tmp/mix/train/part_0.parquet" "$tmp/mix_old/train/part_0.parquet" \
    && pass "preprocess killed between its moves: a new train/ beside the old eval/" || fail "the kill did not land between the moves"
  out=$("$R" train --train_data_path "$tmp/mix/train" --eval_data_path "$tmp/mix/eval" --tasks click --model mlp \
    --train_batch_size 512 --mlp_layers 8 --output_path "$tmp/o5" 2>&1); rc=$?
  expect_status $rc 1 "train refuses the mix"
  expect_contains "$out" "was still moving into place over run $(marker_run "$tmp/mix_old") when it stopped" "saying so"
  [ -n "$(find "$tmp/mix" -maxdepth 1 -name '.reckon-tmp-*')" ] && pass "the killed run left its .reckon-tmp-<pid>" || fail "no leftover to sweep"
  prep "$tmp/mix" 4; rc=$?
  expect_status $rc 0 "the next preprocess runs"
  [ -z "$(find "$tmp/mix" -maxdepth 1 -name '.reckon-tmp-*')" ] && pass "and removes the dead run's folder" || fail "leftover stays"
  "$R" train --train_data_path "$tmp/mix/train" --eval_data_path "$tmp/mix/eval" --tasks click --model mlp \
    --train_batch_size 512 --mlp_layers 8 --output_path "$tmp/o5" --quiet; rc=$?
  expect_status $rc 0 "after which train accepts the folder"
else
  echo "skip: strace cannot trace here; the constructed mix above covers the readers' check"
fi

# ---- evaluate with an --output_path it cannot write ----
echo x >"$tmp/a_file"
out=$("$R" evaluate --load_model_path "$tmp/m3" --eval_data_path "$D/eval" --output_path "$tmp/a_file" 2>&1); rc=$?
expect_status $rc 1 "evaluate fails when --output_path cannot be written"
case "$out" in *LeakSanitizer*) fail "and leaks: $(printf '%s' "$out" | grep -m3 'Direct leak')" ;; *) pass "and leaks nothing (LeakSanitizer under make asan)" ;; esac
finish
