#!/usr/bin/env bash
# The PyTorch peer of bench/sessions_train.sh (bench/peers/sessions_torch.py): its selfcheck (the
# masking rules of t4rec-notes 2.2 on hand-made batches, the rank tie rule, causality and the
# key-padding mask), then GPT-2, BERT-MLM and GRU trained for a few steps on tiny sessions that
# went through Parquet and back (`reckon convert`, as the bench feeds it): each run's loss falls,
# and it prints the one line the bench parses, with metrics in [0, 1]. The oracle ceiling is the
# mean over the evaluated sessions only; a feature config naming a missing column, or too small a
# cardinality, is refused with a message naming the column.
# Skips cleanly when /usr/bin/python3 has no torch or pandas.
set -u
source "$(dirname "$0")/lib.bash"
session_peer_require
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

out=$("$py" "$peer" selfcheck 2>&1)
expect_status $? 0 "selfcheck passes"
expect_contains "$out" "selfcheck ok" "selfcheck prints its verdict"

# Sessions over items 3..42 where each next item is mostly a fixed function of the current one.
"$py" - "$tmp" <<'EOF'
import random, sys
d = sys.argv[1]
random.seed(1)
for name, n in (("train", 600), ("valid", 200)):
    with open("%s/%s_in.csv" % (d, name), "w") as f:
        f.write("session_id,item_id-list_seq,category-list_seq\n")
        for s in range(n):
            cur = random.randint(3, 42)
            items = [cur]
            for _ in range(random.randint(1, 7)):
                cur = (cur * 7 + 3) % 40 + 3 if random.random() < 0.8 else random.randint(3, 42)
                items.append(cur)
            cats = [i % 5 + 1 for i in items]
            f.write('%d,"[%s]","[%s]"\n' % (s + 1, ", ".join(map(str, items)), ", ".join(map(str, cats))))
with open(d + "/oracle.csv", "w") as f:
    f.write("session_id,expected_hit,expected_ndcg\n")
    for s in range(1, 1001):                   # sessions 1..200 (valid's) at 0.5, the rest at 0.9
        f.write("%d,%s,%s\n" % (s, "0.5" if s <= 200 else "0.9", "0.25" if s <= 200 else "0.8"))
EOF
session_peer_features "$tmp/features.yaml"
for s in train valid; do
  "$RECKON_BIN" convert --csv_list_columns item_id-list_seq,category-list_seq "$tmp/${s}_in.csv" "$tmp/$s.parquet" \
    >/dev/null \
    && "$RECKON_BIN" convert "$tmp/$s.parquet" "$tmp/$s.csv" >/dev/null
  expect_status $? 0 "$s sessions go through Parquet and back"
done

num='[0-9.]+'
line_re="^torch model_type=[a-z0-9]+ d_model=32 n_layer=2 n_head=2 seed=3 threads=1 train_sessions=[0-9]+ steps=40"
line_re+=" train_s=$num sessions_per_s=$num eval_sessions=200 recall@10=$num ndcg@10=$num recall@20=$num"
line_re+=" ndcg@20=$num first_loss=$num final_loss=$num\$"
for m in gpt2 bert gru; do
  task=(); [ "$m" = bert ] && task=(--mlm)
  out=$("$py" "$peer" train --train_data "$tmp/train.csv" --eval_data "$tmp/valid.csv" \
    --feature_config "$tmp/features.yaml" \
    --model_type "$m" "${task[@]}" --eval_on_last_item_seq_only --d_model 32 --n_layer 2 --n_head 2 \
    --per_device_train_batch_size 32 --learning_rate 3e-3 \
    --num_train_epochs 5 --max_steps 40 --logging_steps 10 --seed 3 --threads 1 2>&1)
  expect_status $? 0 "$m trains and evaluates"
  line=$(printf '%s\n' "$out" | grep '^torch ')
  [[ "$line" =~ $line_re ]] && pass "$m prints the line the bench parses" || fail "$m's line: '$line'"
  [ "$(printf '%s\n' "$out" | grep -c '^loss step=')" = 4 ] && pass "$m logs the loss every 10 steps" \
    || fail "$m's loss lines: $(printf '%s\n' "$out" | grep '^loss' | tr '\n' ' ')"
  verdict=$(printf '%s\n' "$line" | "$py" -c 'import re, sys
f = dict(re.findall(r"(\S+)=(\S+)", sys.stdin.read()))
ok = float(f["final_loss"]) < 0.9 * float(f["first_loss"])
ok = ok and all(0.0 <= float(f[k]) <= 1.0 for k in ("recall@10", "ndcg@10", "recall@20", "ndcg@20"))
ok = ok and float(f["ndcg@20"]) <= float(f["recall@20"]) and float(f["recall@10"]) <= float(f["recall@20"])
print("ok" if ok else "bad: %s" % f)')
  [ "$verdict" = ok ] && pass "$m's loss falls by more than 10% and its metrics are consistent" || fail "$m: $verdict"
done

out=$("$py" "$peer" ceiling --eval_data "$tmp/valid.csv" --oracle "$tmp/oracle.csv" 2>&1)
expect_contains "$out" "ceiling sessions=200 matched=200 recall@20=0.500000 ndcg@20=0.250000" \
  "the ceiling averages the oracle over the evaluated sessions only"

sed 's/category-list_seq/brand-list_seq/' "$tmp/features.yaml" > "$tmp/bad.yaml"
out=$("$py" "$peer" train --train_data "$tmp/train.csv" --feature_config "$tmp/bad.yaml" --max_steps 1 2>&1)
status=$?
[ $status != 0 ] && pass "a feature config naming a missing column is refused" || fail "bad.yaml was accepted"
expect_contains "$out" "has no column 'brand-list_seq'" "the refusal names the column"
sed 's/cardinality: 43/cardinality: 40/' "$tmp/features.yaml" > "$tmp/small.yaml"
out=$("$py" "$peer" train --train_data "$tmp/train.csv" --feature_config "$tmp/small.yaml" --max_steps 1 2>&1)
status=$?
[ $status != 0 ] && pass "ids past the feature config's cardinality are refused" || fail "small.yaml was accepted"
expect_contains "$out" \
  "column 'item_id-list_seq' holds ids from 0 to 42; the feature config's cardinality 40 needs them in [0, 39]" \
  "the refusal names the column and the range"
finish
