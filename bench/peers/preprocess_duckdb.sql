-- DuckDB's side of bench/preprocess.sh: the quick-start's preprocessing command in SQL.
-- @CSV@ and @OUT@ are filled in by the script. One statement per line (the runner takes each
-- as an argument). Same work as `reckon preprocess` with the seed flags: read with \N as null and
-- the casts, keep users with >= 5 rows, a seeded ~20% random eval split, vocabularies by
-- descending train frequency (ties by value) numbered from 3 (1 null, 2 unseen), ids joined
-- back, 10 Parquet files per split. Tables are materialised (DuckDB's fastest ordinary plan
-- here: every step is read more than once).
CREATE TABLE raw AS SELECT CAST(user_id AS INTEGER) AS user_id, CAST(item_id AS INTEGER) AS item_id, CAST(click AS TINYINT) AS click, CAST(follow AS TINYINT) AS follow, CAST("like" AS TINYINT) AS "like", CAST("share" AS TINYINT) AS "share", CAST(video_category AS TINYINT) AS video_category, CAST(watching_times AS SMALLINT) AS watching_times, CAST(gender AS TINYINT) AS gender, CAST(age AS TINYINT) AS age, row_number() OVER () AS rn FROM read_csv('@CSV@', header = true, nullstr = '\N');
CREATE TABLE s AS SELECT *, hash(rn, 42) % 1000 < 200 AS is_eval FROM raw WHERE user_id IN (SELECT user_id FROM raw GROUP BY user_id HAVING count(*) >= 5);
CREATE TABLE vu AS SELECT user_id AS v, row_number() OVER (ORDER BY count(*) DESC, user_id) + 2 AS id FROM s WHERE NOT is_eval AND user_id IS NOT NULL GROUP BY user_id;
CREATE TABLE vi AS SELECT item_id AS v, row_number() OVER (ORDER BY count(*) DESC, item_id) + 2 AS id FROM s WHERE NOT is_eval AND item_id IS NOT NULL GROUP BY item_id;
CREATE TABLE vc AS SELECT video_category AS v, row_number() OVER (ORDER BY count(*) DESC, video_category) + 2 AS id FROM s WHERE NOT is_eval AND video_category IS NOT NULL GROUP BY video_category;
CREATE TABLE vg AS SELECT gender AS v, row_number() OVER (ORDER BY count(*) DESC, gender) + 2 AS id FROM s WHERE NOT is_eval AND gender IS NOT NULL GROUP BY gender;
CREATE TABLE va AS SELECT age AS v, row_number() OVER (ORDER BY count(*) DESC, age) + 2 AS id FROM s WHERE NOT is_eval AND age IS NOT NULL GROUP BY age;
CREATE TABLE o AS SELECT CAST(CASE WHEN s.user_id IS NULL THEN 1 ELSE coalesce(vu.id, 2) END AS INTEGER) AS user_id, CAST(CASE WHEN s.item_id IS NULL THEN 1 ELSE coalesce(vi.id, 2) END AS INTEGER) AS item_id, CAST(CASE WHEN s.video_category IS NULL THEN 1 ELSE coalesce(vc.id, 2) END AS TINYINT) AS video_category, CAST(CASE WHEN s.gender IS NULL THEN 1 ELSE coalesce(vg.id, 2) END AS TINYINT) AS gender, CAST(CASE WHEN s.age IS NULL THEN 1 ELSE coalesce(va.id, 2) END AS TINYINT) AS age, click, follow, "like", "share", watching_times, is_eval, rn FROM s LEFT JOIN vu ON s.user_id = vu.v LEFT JOIN vi ON s.item_id = vi.v LEFT JOIN vc ON s.video_category = vc.v LEFT JOIN vg ON s.gender = vg.v LEFT JOIN va ON s.age = va.v;
COPY (SELECT * EXCLUDE (is_eval, rn), rn % 10 AS part FROM o WHERE NOT is_eval) TO '@OUT@/train' (FORMAT parquet, COMPRESSION snappy, PARTITION_BY (part), OVERWRITE_OR_IGNORE);
COPY (SELECT * EXCLUDE (is_eval, rn), rn % 10 AS part FROM o WHERE is_eval) TO '@OUT@/eval' (FORMAT parquet, COMPRESSION snappy, PARTITION_BY (part), OVERWRITE_OR_IGNORE);
SELECT (SELECT count(*) FROM o WHERE NOT is_eval) AS train_rows, (SELECT count(*) FROM o WHERE is_eval) AS eval_rows, (SELECT count(*) FROM vu) AS users, (SELECT count(*) FROM vi) AS items;
