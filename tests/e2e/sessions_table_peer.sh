#!/usr/bin/env bash
# The PyTorch peer as bench/sessions_table.sh drives it (issue 19's table): the incremental
# protocol over two windows (train on window t, evaluate on t+1: one "window" line each, the torch
# line averaging them) for the models the table added to the peer (electra with RTD, transfoxl
# with memory, lstm, avgseq): each run's loss falls (RTD's, 50 x BCE + MLM, slowly) and its metrics are consistent (MRR <= NDCG <=
# Recall, all in [0, 1]) and the averages are the windows' means; the popularity floor and the
# oracle's ceiling over two windows are the means of one-window runs; mismatched window lists are
# refused. Skips cleanly when /usr/bin/python3 has no torch or pandas.
set -u
source "$(dirname "$0")/lib.bash"
session_peer_require
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Three windows of sessions over items 3..42 where each next item is mostly a fixed function of the
# current one (CSV as `reckon convert` writes the session ETL's Parquet), and an oracle file.
"$py" - "$tmp" <<'EOF'
import random, sys
d = sys.argv[1]
random.seed(2)
sid = 0
for w in (1, 2, 3):
    for name, n in (("train", 400), ("valid", 100)):
        with open("%s/%d_%s.csv" % (d, w, name), "w") as f:
            f.write("session_id,item_id-list_seq,category-list_seq\n")
            for _ in range(n):
                sid += 1
                cur = random.randint(3, 42)
                items = [cur]
                for _ in range(random.randint(1, 7)):
                    cur = (cur * 7 + 3) % 40 + 3 if random.random() < 0.8 else random.randint(3, 42)
                    items.append(cur)
                f.write('%d,"[%s]","[%s]"\n' % (sid, ", ".join(map(str, items)), ", ".join(str(i % 5 + 1) for i in items)))
with open(d + "/oracle.csv", "w") as f:
    f.write("session_id,expected_hit,expected_ndcg,expected_rr\n")
    for s in range(1, sid + 1):
        f.write("%d,%.3f,%.3f,%.3f\n" % (s, 0.3 + 0.4 * (s % 2), 0.2, 0.1 + 0.2 * (s % 3 == 0)))
EOF
session_peer_features "$tmp/features.yaml"
trains="$tmp/1_train.csv,$tmp/2_train.csv"
evals="$tmp/2_valid.csv,$tmp/3_valid.csv"

for m in electra transfoxl lstm avgseq; do
  task=(); [ "$m" = electra ] && task=(--rtd --rtd_tied_generator --mlm_probability 0.3)
  out=$("$py" "$peer" train --train_data "$trains" --eval_data "$evals" --feature_config "$tmp/features.yaml" \
    --model_type "$m" "${task[@]}" --eval_on_last_item_seq_only --d_model 32 --n_layer 2 --n_head 2 \
    --per_device_train_batch_size 32 --learning_rate 3e-3 --max_steps 12 --logging_steps 6 --seed 3 2>&1)
  expect_status $? 0 "$m trains over two windows and evaluates each"
  verdict=$(printf '%s\n' "$out" | "$py" -c 'import re, sys
lines = sys.stdin.read().splitlines()
wins = [dict(re.findall(r"(\S+)=(\S+)", l)) for l in lines if l.startswith("window ")]
tl = [dict(re.findall(r"(\S+)=(\S+)", l)) for l in lines if l.startswith("torch ")]
bad = []
if [w.get("index") for w in wins] != ["1", "2"] or [w.get("eval_sessions") for w in wins] != ["100", "100"]:
    bad.append("window lines %s" % wins)
if len(tl) != 1:
    bad.append("%d torch lines" % len(tl))
else:
    t = tl[0]
    if t["steps"] != "24" or t["eval_sessions"] != "200":
        bad.append("steps %s, eval_sessions %s" % (t["steps"], t["eval_sessions"]))
    if not float(t["final_loss"]) < float(t["first_loss"]):
        bad.append("loss %s -> %s" % (t["first_loss"], t["final_loss"]))
    for k in ("recall@20", "ndcg@20"):
        if abs(float(t[k]) - sum(float(w[k]) for w in wins) / 2) > 2e-6:
            bad.append("%s is not the windows mean" % k)
for w in wins:
    v = [float(w[k]) for k in ("mrr@20", "ndcg@20", "recall@20")]
    if not 0.0 <= v[0] <= v[1] <= v[2] <= 1.0:
        bad.append("window %s: mrr, ndcg, recall %s" % (w["index"], v))
print("; ".join(bad) or "ok")')
  [ "$verdict" = ok ] && pass "$m: a line per window, their mean, a falling loss, MRR <= NDCG <= Recall" \
    || fail "$m: $verdict"
done

# the floors over two windows are the means of the one-window figures
same_mean() {   # same_mean WHOLE ONE TWO: WHOLE's recall, ndcg and mrr @20 are the means of ONE's and TWO's
  "$py" -c 'import re, sys
v = [dict(re.findall(r"(\S+)=(\S+)", l)) for l in sys.argv[1:]]
ok = all(abs(float(v[0][k]) - (float(v[1][k]) + float(v[2][k])) / 2) <= 1e-6 for k in ("recall@20", "ndcg@20", "mrr@20"))
print("ok" if ok else "no")' "$@"
}
for cmd in popularity ceiling; do
  args=(--train_data "$trains" --eval_data "$evals"); one=(--train_data "$tmp/1_train.csv" --eval_data "$tmp/2_valid.csv")
  two=(--train_data "$tmp/2_train.csv" --eval_data "$tmp/3_valid.csv")
  if [ $cmd = ceiling ]; then args=(--eval_data "$evals" --oracle "$tmp/oracle.csv")
    one=(--eval_data "$tmp/2_valid.csv" --oracle "$tmp/oracle.csv"); two=(--eval_data "$tmp/3_valid.csv" --oracle "$tmp/oracle.csv"); fi
  both=$("$py" "$peer" $cmd "${args[@]}" | grep "^$cmd ")
  a=$("$py" "$peer" $cmd "${one[@]}" | grep "^$cmd ")
  b=$("$py" "$peer" $cmd "${two[@]}" | grep "^$cmd ")
  [ "$(same_mean "$both" "$a" "$b")" = ok ] && pass "$cmd over two windows is the mean of each window's" || fail "$cmd: '$both' from '$a' and '$b'"
done

out=$("$py" "$peer" train --train_data "$trains" --eval_data "$tmp/2_valid.csv" --feature_config "$tmp/features.yaml" 2>&1)
[ $? != 0 ] && pass "two training windows with one evaluation file are refused" || fail "mismatched windows accepted"
expect_contains "$out" "--train_data names 2 windows and --eval_data 1" "the refusal counts both lists"
finish
