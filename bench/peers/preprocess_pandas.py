"""pandas' side of bench/preprocess.sh: the quick-start's preprocessing command in pandas.

Same work as `reckon preprocess` with the seed flags: read with \\N as null and the casts, keep
users with >= 5 rows, a seeded ~20% random eval split, vocabularies by descending train frequency
(ties by ascending value) numbered from 3 (0 padding, 1 null, 2 unseen in train), ids in place of
the values (int32 for user_id and item_id, int8 for the others), targets as cast, 10 files of
consecutive rows per split.

pandas runs on one thread. Parquet needs pyarrow or fastparquet, which Debian 12 does not
package: with neither importable the splits are written as CSV (part_K.csv, the cheapest thing
pandas writes; the phase timings show what that costs); with one of them, as snappy Parquet
(part_K.parquet). Prints one JSON line: row counts, vocabulary sizes, the writer, phase seconds.

    /usr/bin/python3 bench/peers/preprocess_pandas.py IN.csv OUT_DIR [SEED]
"""
import json
import os
import sys
import time

import numpy as np
import pandas as pd

CATEGORICAL = ["user_id", "item_id", "video_category", "gender", "age"]
CASTS = {"user_id": "int32", "item_id": "int32", "watching_times": "int16"}
for c in ["gender", "age", "video_category", "click", "follow", "like", "share"]:
    CASTS[c] = "int8"
ID_TYPE = {"user_id": "int32", "item_id": "int32", "video_category": "int8", "gender": "int8", "age": "int8"}
MIN_USER_FREQ = 5
EVAL_PERC = 0.2
PARTS = 10


def parquet_engine():
    for name in ("pyarrow", "fastparquet"):
        try:
            __import__(name)
            return name
        except ImportError:
            pass
    return None


def read(src):
    # pandas' fastest ordinary read here: the C parser told every column is a float (no type
    # inference; 8-bit columns as float32 to halve the peak), then each column cast to its
    # --to_int* type, a nullable one (Int8, ...) only where the column has nulls. Reading
    # straight into the nullable types (dtype={...: "Int8"}) is about 3x slower; letting pandas
    # infer the types takes as long and twice the memory.
    dtype = {c: ("float32" if kind in ("int8", "int16") else "float64") for c, kind in CASTS.items()}
    df = pd.read_csv(src, na_values=["\\N"], keep_default_na=False, engine="c", dtype=dtype)
    for c, kind in CASTS.items():
        col = df[c]
        df[c] = col.astype(kind.capitalize() if col.isna().any() else kind)
    return df


def encode(train_col, cols, kind):
    """Vocabulary of the train values (descending frequency, ties by ascending value) numbered
    from 3; each column of cols mapped: null -> 1, not in the vocabulary -> 2."""
    freq = train_col.value_counts(dropna=True, sort=False)
    order = np.lexsort((freq.index.to_numpy(dtype="int64"), -freq.to_numpy()))
    vocab = pd.Index(freq.index.to_numpy(dtype="int64")[order])
    out = []
    for col in cols:
        null = np.iinfo("int64").min   # no int32/16/8 value: never in the vocabulary
        values = col.to_numpy(dtype="int64", na_value=null)
        pos = vocab.get_indexer(values)
        ids = np.where(pos >= 0, pos + 3, 2)
        ids[values == null] = 1
        out.append(ids.astype(kind))
    return len(vocab), out


def main(src, out, seed):
    t = {}
    t0 = time.time()
    df = read(src)
    rows_read = len(df)
    t["read"] = time.time() - t0

    t1 = time.time()
    counts = df["user_id"].value_counts()   # nulls not counted: null users are dropped
    keep = df["user_id"].map(counts).fillna(0).to_numpy() >= MIN_USER_FREQ
    df = df[keep].reset_index(drop=True)
    is_eval = np.random.default_rng(seed).random(len(df)) < EVAL_PERC
    train, ev = df[~is_eval].reset_index(drop=True), df[is_eval].reset_index(drop=True)
    del df
    t["filter_split"] = time.time() - t1

    t2 = time.time()
    vocab = {}
    for c in CATEGORICAL:
        vocab[c], (train_ids, eval_ids) = encode(train[c], (train[c], ev[c]), ID_TYPE[c])
        train[c], ev[c] = train_ids, eval_ids
    t["fit_transform"] = time.time() - t2

    t3 = time.time()
    engine = parquet_engine()
    cols = CATEGORICAL + [c for c in train.columns if c not in CATEGORICAL]
    for name, part in (("train", train), ("eval", ev)):
        os.makedirs(f"{out}/{name}", exist_ok=True)
        bounds = np.linspace(0, len(part), PARTS + 1).astype(int)
        for i in range(PARTS):
            chunk = part.iloc[bounds[i]:bounds[i + 1]][cols]
            if engine:
                chunk.to_parquet(f"{out}/{name}/part_{i}.parquet", engine=engine, compression="snappy", index=False)
            else:
                chunk.to_csv(f"{out}/{name}/part_{i}.csv", index=False)
    t["write"] = time.time() - t3
    print(json.dumps({"train_rows": len(train), "eval_rows": len(ev), "rows_read": rows_read,
                      "vocabulary": vocab, "writer": f"parquet ({engine})" if engine else "csv",
                      "threads": 1, "seconds": {k: round(v, 3) for k, v in t.items()}}))


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) == 4 else 42)
