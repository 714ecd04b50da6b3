-- DuckDB's side of bench/preprocess.sh: the quick-start's preprocessing command in SQL, the same
-- work as `reckon preprocess` with the seed flags. Run by
--   node bench/peers/duckdb_query.js --threads N --var CSV=in.csv --var OUT=dir --var SEED=42 \
--     --script bench/peers/preprocess_duckdb.sql
-- (OUT must exist). Statements end with ';' at the end of a line. The last one prints the row
-- counts and vocabulary sizes.
--
-- Choices, each the fastest ordinary way measured on 10M rows at 2 threads (DuckDB 1.5):
-- * read_csv with the column types given (the --to_int* casts happen in the parser, no sniffing):
--   2.4 s instead of 5.3 s for read_csv + CAST + row_number() OVER ().
-- * the row number for the split is the table's rowid (insertion order is preserved, so it is
--   the row's position in the file, the same at any thread count); a window row_number() over
--   the read costs ~2 s more.
-- * the split: hash(rowid, seed) % 1000 < 200, deterministic, ~20% eval.
-- * the filtered rows are materialised (s) since the vocabularies and both outputs read them;
--   the encoded rows are not: each COPY joins s to the vocabularies itself (about 1 s less and
--   smaller than materialising the encoded table first).
-- * 10 files per split: PARTITION_BY on rowid % 10, one pass per split (from a materialised
--   encoded table: 1.1 s for both splits against 1.7 s for 20 COPY ... WHERE rowid % 10 = k
--   statements, each a scan of its own). DuckDB names them
--   train/part=K/data_0.parquet (hive layout) rather than train/part_K.parquet; rows of a file
--   are every 10th row rather than consecutive rows as reckon writes them (same counts, near
--   enough).
-- * preserve_insertion_order stays on: turning it off saves nothing here and would make the
--   rowid, and so the split, depend on the thread schedule.
CREATE TABLE raw AS SELECT * FROM read_csv('@CSV@', header = true, delim = ',', quote = '"', escape = '"',
  nullstr = '\N', auto_detect = false,
  columns = {'user_id': 'INTEGER', 'item_id': 'INTEGER', 'click': 'TINYINT', 'follow': 'TINYINT',
             'like': 'TINYINT', 'share': 'TINYINT', 'video_category': 'TINYINT',
             'watching_times': 'SMALLINT', 'gender': 'TINYINT', 'age': 'TINYINT'});

-- --min_user_freq 5: users with at least 5 rows (null users are dropped, as reckon does); one
-- round is enough with only a user rule. Then the random split.
CREATE TABLE s AS SELECT *, rowid AS rn, hash(rowid, @SEED@) % 1000 < 200 AS is_eval FROM raw
  WHERE user_id IN (SELECT user_id FROM raw GROUP BY user_id HAVING count(*) >= 5);
DROP TABLE raw;

-- Vocabularies fitted on train: descending frequency, ties by ascending value, ids from 3
-- (0 padding, 1 null, 2 out-of-vocabulary).
CREATE TABLE vu AS SELECT user_id AS v, row_number() OVER (ORDER BY count(*) DESC, user_id) + 2 AS id
  FROM s WHERE NOT is_eval AND user_id IS NOT NULL GROUP BY user_id;
CREATE TABLE vi AS SELECT item_id AS v, row_number() OVER (ORDER BY count(*) DESC, item_id) + 2 AS id
  FROM s WHERE NOT is_eval AND item_id IS NOT NULL GROUP BY item_id;
CREATE TABLE vc AS SELECT video_category AS v, row_number() OVER (ORDER BY count(*) DESC, video_category) + 2 AS id
  FROM s WHERE NOT is_eval AND video_category IS NOT NULL GROUP BY video_category;
CREATE TABLE vg AS SELECT gender AS v, row_number() OVER (ORDER BY count(*) DESC, gender) + 2 AS id
  FROM s WHERE NOT is_eval AND gender IS NOT NULL GROUP BY gender;
CREATE TABLE va AS SELECT age AS v, row_number() OVER (ORDER BY count(*) DESC, age) + 2 AS id
  FROM s WHERE NOT is_eval AND age IS NOT NULL GROUP BY age;

-- The transform of either split: ids in place of the values (int32 for user_id and item_id, int8
-- for the others, as they were cast), the targets as cast.
CREATE MACRO encoded(want_eval) AS TABLE
  SELECT CAST(CASE WHEN s.user_id IS NULL THEN 1 ELSE coalesce(vu.id, 2) END AS INTEGER) AS user_id,
         CAST(CASE WHEN s.item_id IS NULL THEN 1 ELSE coalesce(vi.id, 2) END AS INTEGER) AS item_id,
         CAST(CASE WHEN s.video_category IS NULL THEN 1 ELSE coalesce(vc.id, 2) END AS TINYINT) AS video_category,
         CAST(CASE WHEN s.gender IS NULL THEN 1 ELSE coalesce(vg.id, 2) END AS TINYINT) AS gender,
         CAST(CASE WHEN s.age IS NULL THEN 1 ELSE coalesce(va.id, 2) END AS TINYINT) AS age,
         click, follow, "like", "share", watching_times, rn % 10 AS part
  FROM s LEFT JOIN vu ON s.user_id = vu.v LEFT JOIN vi ON s.item_id = vi.v
         LEFT JOIN vc ON s.video_category = vc.v LEFT JOIN vg ON s.gender = vg.v LEFT JOIN va ON s.age = va.v
  WHERE s.is_eval = want_eval;

COPY (FROM encoded(false)) TO '@OUT@/train' (FORMAT parquet, COMPRESSION snappy, PARTITION_BY (part), OVERWRITE_OR_IGNORE);
COPY (FROM encoded(true)) TO '@OUT@/eval' (FORMAT parquet, COMPRESSION snappy, PARTITION_BY (part), OVERWRITE_OR_IGNORE);

SELECT count(*) FILTER (WHERE NOT is_eval) AS train_rows, count(*) FILTER (WHERE is_eval) AS eval_rows,
  (SELECT count(*) FROM vu) AS user_id, (SELECT count(*) FROM vi) AS item_id,
  (SELECT count(*) FROM vc) AS video_category, (SELECT count(*) FROM vg) AS gender, (SELECT count(*) FROM va) AS age
FROM s;
