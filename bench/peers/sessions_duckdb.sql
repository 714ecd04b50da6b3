-- DuckDB's side of bench/sessions_etl.sh: the Transformers4Rec session ETL (the
-- 01-ETL-with-NVTabular notebook, issue 17) in SQL, the same work as `reckon preprocess` in
-- session mode with its defaults. Run by
--   node bench/peers/duckdb_query.js --threads N --var CSV=raw.csv --var OUT=dir --var SEED=42 \
--     --script bench/peers/sessions_duckdb.sql
-- (OUT must exist). Input: session_id,timestamp,item_id,category without a header, timestamps
-- ISO-8601 with a Z. The last statement prints events kept, sessions written and days.
--
-- Steps, in the notebook's order:
-- 1. drop null sessions; order each session by (timestamp, position in the file: rowid, which
--    follows the file since insertion order is preserved); drop consecutive repeats of an item
--    (lag); an item's first-seen time over the kept events.
-- 2. categorify item and category: ids by descending frequency of the kept events, ties by
--    ascending value, from 3 (0 padding, 1 null, 2 out-of-vocabulary).
-- 3. weekday (Monday 0) as sin/cos(2 pi (weekday + 1e-6) / 7); item recency in days since first
--    seen, clipped at 0, log1p, z-score (sample standard deviation) over the kept events.
-- 4. group by session, lists ordered by time: item_id-list, category-list, et_dayofweek_sin-list,
--    et_dayofweek_cos-list, product_recency_days_log_norm-list (float32), item_id-count (before
--    slicing), timestamp-first (unix seconds, rounded down).
-- 5. keep the last 20 of each list (list_slice(l, -20, -1)); 6. day_index = whole days from the
--    first event's day + 1, by the session's first event; keep sessions with item_id-count >= 2.
-- Choices, each the faster of two measured on 1M clicks at 2 threads (DuckDB 1.5): first-seen
-- times by a GROUP BY joined back (a window min() over items took ~30% longer); one ordered list
-- of structs per session, split into columns after slicing (five list(... ORDER BY ts) each
-- sort the session again: 2.2x slower).
-- 7. per day, sessions in the order of hash(session_id, SEED), the first round(n * 0.8) to train,
--    the next round(n * 0.1) to valid, the rest to test (reckon's rule, with DuckDB's own
--    random order), each sorted by timestamp-first; Parquet (snappy) partitioned by
--    (day_index, split): OUT/day_index=D/split=S/data_0.parquet, hive-style, as DuckDB writes
--    partitions (reckon writes OUT/D/S.parquet; the same work).
CREATE TABLE raw AS SELECT * FROM read_csv('@CSV@', header = false, delim = ',', auto_detect = false,
  columns = {'session_id': 'BIGINT', 'ts': 'TIMESTAMP', 'item_id': 'BIGINT', 'category': 'BIGINT'});

CREATE TABLE ev AS SELECT session_id, ts, item_id, category FROM (
  SELECT *, lag(item_id) OVER (PARTITION BY session_id ORDER BY ts, rowid) AS prev FROM raw WHERE session_id IS NOT NULL)
  WHERE prev IS NULL OR item_id IS NULL OR prev <> item_id;
DROP TABLE raw;

CREATE TABLE vi AS SELECT item_id AS v, row_number() OVER (ORDER BY count(*) DESC, item_id) + 2 AS id
  FROM ev WHERE item_id IS NOT NULL GROUP BY item_id;
CREATE TABLE vc AS SELECT category AS v, row_number() OVER (ORDER BY count(*) DESC, category) + 2 AS id
  FROM ev WHERE category IS NOT NULL GROUP BY category;

CREATE TABLE feat AS
  WITH fs AS (SELECT item_id, min(ts) AS first FROM ev GROUP BY item_id),
  f AS (SELECT ev.*, greatest(epoch(ts) - epoch(fs.first), 0) / 86400.0 AS age_days
    FROM ev JOIN fs ON ev.item_id IS NOT DISTINCT FROM fs.item_id),
  l AS (SELECT *, ln(1 + age_days) AS rec_log FROM f),
  st AS (SELECT avg(rec_log) AS mu, stddev_samp(rec_log) AS sd FROM l)
  SELECT l.session_id, l.ts,
    coalesce(vi.id, 1) AS item, coalesce(vc.id, 1) AS cat,
    sin(2 * pi() * ((isodow(l.ts) - 1) + 1e-6) / 7)::FLOAT AS wd_sin,
    cos(2 * pi() * ((isodow(l.ts) - 1) + 1e-6) / 7)::FLOAT AS wd_cos,
    ((l.rec_log - st.mu) / st.sd)::FLOAT AS rec
  FROM l CROSS JOIN st LEFT JOIN vi ON l.item_id = vi.v LEFT JOIN vc ON l.category = vc.v;
DROP TABLE ev;

CREATE TABLE sess AS
  WITH g AS (SELECT session_id, count(*) AS n, min(ts) AS first_ts,
      list_slice(list({'i': item, 'c': cat, 's': wd_sin, 'o': wd_cos, 'r': rec} ORDER BY ts), -20, -1) AS e
    FROM feat GROUP BY session_id),
  d0 AS (SELECT min(first_ts)::DATE AS day0 FROM g)
  SELECT session_id,
    list_transform(e, x -> x.i) AS "item_id-list", list_transform(e, x -> x.c) AS "category-list",
    list_transform(e, x -> x.s) AS "et_dayofweek_sin-list", list_transform(e, x -> x.o) AS "et_dayofweek_cos-list",
    list_transform(e, x -> x.r) AS "product_recency_days_log_norm-list",
    n AS "item_id-count", epoch_ms(first_ts) // 1000 AS "timestamp-first",
    date_diff('day', day0, first_ts::DATE) + 1 AS day_index
  FROM g CROSS JOIN d0 WHERE n >= 2;
DROP TABLE feat;

CREATE TABLE split AS
  WITH r AS (SELECT *, row_number() OVER (PARTITION BY day_index ORDER BY hash(session_id, @SEED@), session_id) AS k,
      count(*) OVER (PARTITION BY day_index) AS nd FROM sess)
  SELECT * EXCLUDE (k, nd), CASE WHEN k <= floor(nd * 0.8 + 0.5) THEN 'train'
      WHEN k <= floor(nd * 0.8 + 0.5) + floor(nd * 0.1 + 0.5) THEN 'valid' ELSE 'test' END AS split
  FROM r;

COPY (SELECT * FROM split ORDER BY day_index, split, "timestamp-first", session_id) TO '@OUT@'
  (FORMAT parquet, COMPRESSION snappy, PARTITION_BY (day_index, split), WRITE_PARTITION_COLUMNS true, OVERWRITE_OR_IGNORE true);

SELECT (SELECT sum("item_id-count") FROM split) AS events_kept, (SELECT count(*) FROM split) AS sessions,
  (SELECT count(DISTINCT day_index) FROM split) AS days;
