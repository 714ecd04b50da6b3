# Helpers for the end-to-end tests: each check prints ok/FAIL; `finish` prints the closing line
# ("N passed, N failed") and exits non-zero when any check failed.
: "${RECKON_BIN:?RECKON_BIN must name the reckon binary}"
: "${RECKON_SOURCE_DIR:?RECKON_SOURCE_DIR must name the source tree}"
e2e_pass=0
e2e_fail=0
pass() { e2e_pass=$((e2e_pass + 1)); echo "ok: $1"; }
fail() { e2e_fail=$((e2e_fail + 1)); echo "FAIL: $1"; }
expect_status() { if [ "$1" = "$2" ]; then pass "$3"; else fail "$3 (exit status $1, expected $2)"; fi; }
expect_contains() {
  case "$1" in
    *"$2"*) pass "$3" ;;
    *) fail "$3 (missing '$2' in: $(printf '%s' "$1" | head -c 600))" ;;
  esac
}
# Session data for `reckon sessions`: `reckon synth sessions` (yoochoose clicks) through the
# session ETL into day folders under DIR/days (checked: "the session ETL writes day folders").
#   session_days DIR SESSIONS DAYS ITEMS SEED
session_days() {
  "$RECKON_BIN" synth sessions --layout yoochoose --sessions "$2" --days "$3" --items "$4" --seed "$5" \
    --output "$1/clicks.csv" --quiet >/dev/null 2>&1
  "$RECKON_BIN" preprocess --data_path "$1/clicks.csv" --csv_header false \
    --csv_column_names session_id,timestamp,item_id,category --session_id_feature session_id \
    --timestamp_feature timestamp --item_id_feature item_id --categorical_features item_id,category --quiet \
    --output_path "$1/days" 2>"$1/err"
  expect_status $? 0 "the session ETL writes day folders"
}
# The Recall@20 averaged over the windows that a `reckon sessions` run in DIR wrote.
#   session_recall DIR
session_recall() { grep '^eval_recall@20_AOT = ' "$1/eval_results_avg_over_time.txt" | cut -d' ' -f3; }
# The suites' small two-layer model over DIR/days (train, evaluate, predict the top 5), as `base`,
# and the second day folder as `day2`.
#   session_small_model DIR
session_small_model() {
  base=(sessions --threads 1 --data_path "$1/days" --per_device_train_batch_size 32 --per_device_eval_batch_size 64
        --d_model 16 --n_layer 2 --n_head 2 --num_train_epochs 2 --learning_rate 0.005 --quiet --do_train --do_eval
        --do_predict --predict_top_k 5 --overwrite_output_dir)
  day2=$(ls -d "$1/days"/[0-9]* | sort -n | sed -n 2p)
}
finish() {
  echo "$e2e_pass passed, $e2e_fail failed"
  [ "$e2e_fail" = 0 ]
  exit $?
}
# MPI suites. `mpi_require` ends the test here (through `finish`, so the checks already run count)
# when reckon was built without MPI or mpirun is absent, saying which; otherwise it defines
# `mpi N CMD...` (CMD on N ranks, at most 300 s) and `mpi_asan`, the ASAN_OPTIONS for the ranks.
# OpenMPI's own allocations (in plugins it unloads, so no suppression can name them) outlive
# MPI_Finalize: under mpirun LeakSanitizer is off; the 1-rank runs, without MPI_Init, keep leaks
# checked. Containers often forbid the cross-memory attach OpenMPI's shared-memory transport
# tries first, hence the vader setting.
mpi_require() {
  if ! "$RECKON_BIN" --version | grep -q '^features:.*\bmpi\b'; then
    echo "skipped: reckon was built without MPI (install libopenmpi-dev and reconfigure)"; finish
  fi
  if ! command -v mpirun >/dev/null; then echo "skipped: no mpirun (Debian: openmpi-bin)"; finish; fi
  mpi_asan="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
  export OMPI_MCA_btl_vader_single_copy_mechanism=none
}
mpi() { ASAN_OPTIONS="$mpi_asan" timeout 300 mpirun --oversubscribe --allow-run-as-root -np "$@"; }
# The unit test NAME, built beside reckon, run by 2 and by 3 processes so that its exchanges cross
# them (one check each, saying WHAT it shows); nothing when it was not built.
#   mpi_unit_passes NAME WHAT
mpi_unit_passes() {
  local unit n out rc
  unit=$(dirname "$RECKON_BIN")/$1
  [ -x "$unit" ] || return 0
  for n in 2 3; do
    out=$(mpi $n "$unit" 2>&1); rc=$?
    expect_status $rc 0 "$1 passes on $n ranks ($2)"
    [ $rc = 0 ] || printf '%s\n' "$out" | grep -E 'ERROR|FAIL' | head -5
  done
}
# The data-parallel suites' data, in this folder: qk.csv (6000 tenrec rows, seed 5, 2% missing) and
# its preprocessed pp/{train,eval} in 5 partitions, so that every rank's streams hold some rows;
# the targets click, follow, like, share and watching_times.
mpi_tenrec_data() {
  "$RECKON_BIN" synth tenrec --rows 6000 --seed 5 --na_fraction 0.02 --output qk.csv >/dev/null
  "$RECKON_BIN" preprocess --input_data_format=csv --csv_na_values=\\N --input_data_path qk.csv --output_path=pp/ \
    --categorical_features=user_id,item_id,video_category,gender,age --binary_classif_targets=click,follow,like,share \
    --regression_targets=watching_times --to_int32=user_id,item_id --to_int16=watching_times \
    --to_int8=gender,age,video_category,click,follow,like,share --user_id_feature=user_id --item_id_feature=item_id \
    --dataset_split_strategy=random --random_split_eval_perc=0.2 --output_num_partitions 5 --quiet
}
# Kill the run PID with SIGKILL once the checkpoint in DIR has reached step STEP, or with `ranks`
# the processes mpirun PID started (mpirun then ends the job); waits for PID. Sets killed_step to
# that step, empty when the run ended before it could be killed. Polled for as long as the run
# lives: a loaded machine (ASan, many jobs) may take longer to reach STEP than any fixed count of
# polls.
#   kill_after_checkpoint PID DIR STEP [ranks]
kill_after_checkpoint() {
  local pid=$1 s k
  killed_step=
  while kill -0 "$pid" 2>/dev/null; do
    s=$(grep -o '"step": [0-9]*' "$2/checkpoint/state.json" 2>/dev/null | tail -1 | cut -d' ' -f2)   # the last key
    if [ -n "$s" ] && [ "$s" -ge "$3" ]; then
      if [ "${4:-}" = ranks ]; then
        for k in $(pgrep -P "$pid"); do kill -9 "$k" 2>/dev/null; done
      else
        kill -9 "$pid" 2>/dev/null
      fi
      killed_step=$s; break
    fi
    sleep 0.01
  done
  wait "$pid" 2>/dev/null
}
# Ends the test here (skipped) when reckon was built without its HTTP frontend.
http_require() {
  if ! "$RECKON_BIN" --version | grep -q '^features:.* http'; then
    echo "skipping: this reckon has no HTTP frontend (libmicrohttpd not found at build time)"
    exit 0
  fi
}
# A serve suite's scratch: tmp, a fresh folder, and pid, empty until a server is started; at exit
# the server in pid (if any) is killed and tmp removed.
serve_scratch() {
  tmp=$(mktemp -d)
  pid=
  trap '[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
}
# `reckon serve` started in the background: wait (10 s at most) for the last line it prints at
# start, by which the ports are out, or for it to end.
#   serve_wait_started PID STDOUT_FILE
serve_wait_started() {
  local _
  for _ in $(seq 200); do
    grep -qs '^reckon serve: repository' "$2" && break
    kill -0 "$1" 2>/dev/null || break
    sleep 0.05
  done
}
# The port `reckon serve` printed for PROTOCOL (HTTP, gRPC); empty when it printed none.
#   serve_port PROTOCOL STDOUT_FILE
serve_port() { sed -n "s/^reckon serve: $1 on .*:\([0-9]*\)\$/\1/p" "$2"; }
# A model repository DIR/repo holding a small DLRM (one task, click) trained for one epoch on
# `reckon synth tenrec` rows drawn with SEED and exported as dlrm (checked: the export).
#   serve_dlrm_repository DIR SEED
serve_dlrm_repository() {
  "$RECKON_BIN" synth tenrec --rows 3000 --seed "$2" --output "$1/t.csv" >/dev/null
  "$RECKON_BIN" preprocess --input_data_format=csv --input_data_path "$1/t.csv" --output_path="$1/pp/" \
    --categorical_features=user_id,item_id,video_category,gender,age --binary_classif_targets=click \
    --to_int32=user_id,item_id --to_int8=gender,age,video_category,click \
    --dataset_split_strategy=random --random_split_eval_perc=0.2 --quiet
  "$RECKON_BIN" train --train_data_path "$1/pp/train" --eval_data_path "$1/pp/eval" --tasks click --model dlrm \
    --embeddings_dim 8 --mlp_layers 16,8 --epochs 1 --output_path "$1/out" --save_model_path "$1/model" --quiet
  "$RECKON_BIN" export --model_path "$1/model" --output_path "$1/repo" --name dlrm --quiet
  expect_status $? 0 "reckon export writes the repository"
}
# The PyTorch session peer (bench/peers/sessions_torch.py): sets py and peer, or ends the test here
# (skipped) when /usr/bin/python3 has no torch or pandas.
session_peer_require() {
  py=/usr/bin/python3
  peer="$RECKON_SOURCE_DIR/bench/peers/sessions_torch.py"
  if ! "$py" -c 'import torch, pandas' 2>/dev/null; then
    echo "skip: $py has no torch or pandas: the PyTorch session peer is not checked"
    exit 0
  fi
}
# The peer's feature config (recsys_main's YAML) for sessions of item ids below 43 and category
# ids below 6, in the list columns item_id-list_seq and category-list_seq.
#   session_peer_features FILE
session_peer_features() {
  cat >"$1" <<'YAML'
item_id-list_seq:
  dtype: categorical
  cardinality: 43
  is_label: True
  emb_table: item_id
category-list_seq:
  dtype: categorical
  cardinality: 6
  emb_table: category
YAML
}
# A session model saved in DIR/NAME/model evaluates without training (on DIR/days, into
# DIR/NAME.eval) to the last window's eval_recall@20 of the run that trained it (two checks).
#   session_saved_model_scores_as_its_run DIR NAME
session_saved_model_scores_as_its_run() {
  local a b
  "$RECKON_BIN" sessions --threads 1 --output_dir "$1/$2.eval" --do_eval --model_name_or_path "$1/$2/model" \
    --data_path "$1/days" --per_device_eval_batch_size 64 --quiet 2>"$1/err"
  expect_status $? 0 "$2's model folder evaluates without training"
  a=$(grep '^eval_recall@20 = ' "$1/$2/eval_results_over_time.txt" | tail -n 1)
  b=$(grep '^eval_recall@20 = ' "$1/$2.eval/eval_results_over_time.txt" | tail -n 1)
  [ -n "$a" ] && [ "$a" = "$b" ] && pass "$2's saved model scores the last window as its run ($a)" \
    || fail "$2 saved model: '$b', its run: '$a'"
}
# Run a Python client (/usr/bin/python3 SCRIPT ARGS..., SECONDS at most) whose "ok: ..." and
# "FAIL: ..." lines become checks; its other lines are echoed; a non-zero exit fails, naming WHAT.
#   run_python_client SECONDS WHAT SCRIPT [ARGS...]
run_python_client() {
  local seconds=$1 what=$2 line
  shift 2
  while IFS= read -r line; do
    case $line in
      ok:*) pass "${line#ok: }" ;;
      FAIL:*) fail "${line#FAIL: }" ;;
      "client exit: 0") ;;
      "client exit: "*) fail "the $what client ended with status ${line#client exit: } (a crash if no FAIL above)" ;;
      *) echo "$line" ;;
    esac
  done < <(timeout "$seconds" /usr/bin/python3 "$@" 2>&1; echo "client exit: $?")
}

# DuckDB statements (arguments, or @file) through bench/peers/duckdb_query.js, with the caller's
# $peers as NODE_PATH; the last statement answers rows (check name, ok): each row is one check,
# passed when ok is true. Names must not contain double quotes.
duck_checks() {
  local out rows row name ok
  if ! out=$(NODE_PATH="$peers" node "$RECKON_SOURCE_DIR/bench/peers/duckdb_query.js" "$@" 2>&1); then
    fail "a DuckDB query failed: $(printf '%s' "$out" | head -c 800)"
    return
  fi
  rows=$(printf '%s' "$out" | grep -o '\["[^"]*",[a-z]*\]')
  [ -n "$rows" ] || { fail "DuckDB answered no checks: $(printf '%s' "$out" | head -c 800)"; return; }
  while IFS= read -r row; do
    name=${row#\[\"}; name=${name%\",*}; ok=${row##*,}; ok=${ok%\]}
    if [ "$ok" = true ]; then pass "$name"; else fail "$name (DuckDB says $ok)"; fi
  done <<< "$rows"
}
