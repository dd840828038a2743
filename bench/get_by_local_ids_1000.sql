-- 1,000 random local ids looked up in ONE call (repeats allowed: each still
-- yields a row), to compare with 1,000 get_by_local_id calls.
SELECT count(*) FROM directus_sync.get_by_local_ids('items:bench', ARRAY(SELECT (1 + floor(random()*100000))::int::text FROM generate_series(1, 1000)));
