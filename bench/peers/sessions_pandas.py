"""pandas' side of bench/sessions_etl.sh: the Transformers4Rec session ETL in pandas.

The same work as `reckon preprocess` in session mode with its defaults, step for step as
bench/peers/sessions_duckdb.sql does it (its header lists the steps and the rules): drop null
sessions, sort each session by (timestamp, position in the file), drop consecutive repeats,
categorify item and category by descending frequency from id 3, weekday sin/cos, item recency
log z-score, lists per session ordered by time, the last 20, day_index, at least 2 items, and
per day a seeded shuffle cut by round(n * 0.8) and round(n * 0.1) (numpy's generator seeded with
SEED + day, so the membership differs from DuckDB's; the counts do not), each split sorted by
timestamp-first then session_id.

pandas runs on one thread. Parquet needs pyarrow or fastparquet, which Debian 12 does not
package: with neither importable each split is written as CSV with a header (lists as
`[1, 2, 3]`, DuckDB's text form), else as snappy Parquet; files go to
OUT/day_index=D/split=S/part_0.{parquet,csv}, the layout DuckDB writes. Prints one JSON line:
events kept, sessions, days, the writer and phase seconds.

    /usr/bin/python3 bench/peers/sessions_pandas.py RAW.csv OUT_DIR [SEED]
"""
import json
import os
import sys
import time

import numpy as np
import pandas as pd

MAX_LENGTH = 20
MIN_LENGTH = 2
FRACS = (0.8, 0.1, 0.1)
LISTS = ["item_id-list", "category-list", "et_dayofweek_sin-list", "et_dayofweek_cos-list",
         "product_recency_days_log_norm-list"]


def parquet_engine():
    for name in ("pyarrow", "fastparquet"):
        try:
            __import__(name)
            return name
        except ImportError:
            pass
    return None


def categorify(col):
    """Ids by descending frequency, ties by ascending value, from 3; null (and unseen) -> 1."""
    counts = col.value_counts()
    order = pd.DataFrame({"v": counts.index, "n": counts.values}).sort_values(["n", "v"], ascending=[False, True])
    ids = pd.Series(np.arange(3, 3 + len(order), dtype=np.int64), index=order["v"].values)
    return col.map(ids).fillna(1).astype(np.int64)


def split_counts(n):
    train = min(int(np.floor(n * FRACS[0] + 0.5)), n)
    valid = min(int(np.floor(n * FRACS[1] + 0.5)), n - train)
    return train, valid


def main():
    src, out = sys.argv[1], sys.argv[2]
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 42
    phases = {}
    t0 = time.time()

    # 1. read (ids as floats: a null session or item is NaN), drop null sessions, order, dedup
    df = pd.read_csv(src, header=None, names=["session_id", "ts", "item_id", "category"],
                     dtype={"session_id": "float64", "ts": "str", "item_id": "float64", "category": "float64"})
    df["ts"] = pd.to_datetime(df["ts"], format="%Y-%m-%dT%H:%M:%S.%fZ")
    df = df[df["session_id"].notna()]
    df["session_id"] = df["session_id"].astype(np.int64)
    df = df.sort_values(["session_id", "ts"], kind="stable")   # stable: ties keep the file's order
    same = df["session_id"].eq(df["session_id"].shift()) & df["item_id"].eq(df["item_id"].shift())
    df = df[~same].reset_index(drop=True)
    phases["read_dedup"] = time.time() - t0

    # 2-3. ids and time features
    t = time.time()
    first_seen = df.groupby("item_id", dropna=False)["ts"].transform("min")
    age_days = ((df["ts"] - first_seen).dt.total_seconds() / 86400.0).clip(lower=0)
    rec_log = np.log1p(age_days)
    wd = df["ts"].dt.weekday.astype(np.float64)
    feat = pd.DataFrame({
        "session_id": df["session_id"],
        "ts": df["ts"],
        "item_id-list": categorify(df["item_id"]),
        "category-list": categorify(df["category"]),
        "et_dayofweek_sin-list": np.sin(2 * np.pi * (wd + 1e-6) / 7).astype(np.float32),
        "et_dayofweek_cos-list": np.cos(2 * np.pi * (wd + 1e-6) / 7).astype(np.float32),
        "product_recency_days_log_norm-list": ((rec_log - rec_log.mean()) / rec_log.std(ddof=1)).astype(np.float32),
    })
    del df, first_seen, age_days, rec_log, wd
    phases["features"] = time.time() - t

    # 4-6. lists per session (rows are in (session, time) order already), slicing, day_index, filter
    t = time.time()
    g = feat.groupby("session_id", sort=True)
    sess = g.agg(**{c: (c, list) for c in LISTS})
    sess["item_id-count"] = g.size()
    first_ts = g["ts"].min()
    del feat, g
    for c in LISTS:
        sess[c] = sess[c].str[-MAX_LENGTH:]
    sess["timestamp-first"] = first_ts.astype(np.int64) // 10**9
    day0 = first_ts.min().normalize()
    sess["day_index"] = (first_ts.dt.normalize() - day0).dt.days + 1
    sess = sess[sess["item_id-count"] >= MIN_LENGTH].reset_index()
    phases["group"] = time.time() - t

    # 7. per-day split and write
    t = time.time()
    engine = parquet_engine()
    for day, d in sess.groupby("day_index", sort=True):
        d = d.sort_values("session_id")
        order = np.random.default_rng(seed + int(day)).permutation(len(d))
        train, valid = split_counts(len(d))
        for name, rows in (("train", order[:train]), ("valid", order[train:train + valid]), ("test", order[train + valid:])):
            part = d.iloc[rows].sort_values(["timestamp-first", "session_id"])
            folder = os.path.join(out, "day_index=%d" % day, "split=%s" % name)
            os.makedirs(folder, exist_ok=True)
            if engine:
                part.to_parquet(os.path.join(folder, "part_0.parquet"), engine=engine, compression="snappy", index=False)
            else:
                part.to_csv(os.path.join(folder, "part_0.csv"), index=False)
    phases["split_write"] = time.time() - t
    print(json.dumps({"events_kept": int(sess["item_id-count"].sum()), "sessions": len(sess),
                      "days": int(sess["day_index"].nunique()), "writer": engine or "csv",
                      "phases_s": {k: round(v, 3) for k, v in phases.items()}}))


if __name__ == "__main__":
    main()
