-- 1,000 random existing sync ids of one table looked up in ONE call
-- (bench/directus_bench.sh; generating the ids is part of the call).
-- Run with -D per_table=<mappings per table>.
\set t random(1, 4)
SELECT count(*)
  FROM (SELECT (ARRAY['roles', 'permissions', 'flows', 'items:articles'])[:t] AS name) AS k,
       directus_sync.get_by_sync_ids(k.name, ARRAY(
           SELECT md5(k.name || ':' || (1 + floor(random() * :per_table))::int)::uuid::text
             FROM generate_series(1, 1000))) AS m;
