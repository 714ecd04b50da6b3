"""pandas' side of bench/preprocess.sh: the quick-start's preprocessing command in pandas.

Same work as `reckon preprocess` with the seed flags: read with \\N as null and the casts, keep
users with >= 5 rows, a seeded ~20% random eval split, vocabularies by descending train frequency
(ties by value) numbered from 3 (1 null, 2 unseen), ids mapped, 10 files per split. pandas is
single-threaded. Debian 12 packages neither pyarrow nor fastparquet, so pandas cannot write
Parquet here: the splits are written as CSV files (the phase timings show what that costs).

    /usr/bin/python3 bench/peers/preprocess_pandas.py IN.csv OUT_DIR
"""
import json
import sys
import time

import numpy as np
import pandas as pd

CATEGORICAL = ["user_id", "item_id", "video_category", "gender", "age"]
INT_TYPES = {"user_id": "Int32", "item_id": "Int32", "watching_times": "Int16"}
for c in ["gender", "age", "video_category", "click", "follow", "like", "share"]:
    INT_TYPES[c] = "Int8"


def main(src, out):
    t = {}
    t0 = time.time()
    # pandas' fast path: the C parser with its own types, then the casts (nullable types only
    # where a column has nulls: reading straight into them is several times slower).
    df = pd.read_csv(src, na_values=["\\N"], keep_default_na=False, engine="c")
    for c, kind in INT_TYPES.items():
        df[c] = df[c].astype(kind if df[c].isna().any() else kind.lower())
    t["read"] = time.time() - t0

    t1 = time.time()
    counts = df["user_id"].value_counts()
    df = df[df["user_id"].map(counts).fillna(0) >= 5].reset_index(drop=True)
    is_eval = np.random.default_rng(42).random(len(df)) < 0.2
    train, ev = df[~is_eval], df[is_eval]
    for c in CATEGORICAL:
        freq = train[c].value_counts(dropna=True).reset_index()
        freq.columns = ["value", "count"]
        freq = freq.sort_values(["count", "value"], ascending=[False, True], kind="mergesort")
        ids = pd.Series(np.arange(3, 3 + len(freq)), index=freq["value"].to_numpy())
        kind = "int32" if c in ("user_id", "item_id") else "int8"
        for part in (train, ev):
            mapped = part[c].map(ids)
            mapped = mapped.where(part[c].notna(), 1).fillna(2)
            part.loc[:, c] = mapped.astype(kind)
    t["transform"] = time.time() - t1

    t2 = time.time()
    for name, part in (("train", train), ("eval", ev)):
        for i, chunk in enumerate(np.array_split(np.arange(len(part)), 10)):
            part.iloc[chunk].to_csv(f"{out}/{name}_part_{i}.csv", index=False)
    t["write_csv"] = time.time() - t2
    print(json.dumps({"train_rows": len(train), "eval_rows": len(ev),
                      "users": int(train["user_id"].nunique()), "seconds": t}))


if __name__ == "__main__":
    pd.options.mode.chained_assignment = None
    main(sys.argv[1], sys.argv[2])
