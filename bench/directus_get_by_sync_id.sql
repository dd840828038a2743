-- One SyncID lookup per call (bench/directus_bench.sh): a random existing
-- mapping of one of the four tables the benchmark fills, whose sync id is
-- md5('<table>:<n>') as a uuid. Run with -D per_table=<mappings per table>.
\set t random(1, 4)
\set n random(1, :per_table)
SELECT m.*
  FROM (SELECT (ARRAY['roles', 'permissions', 'flows', 'items:articles'])[:t] AS name) AS k,
       directus_sync.get_by_sync_id(k.name, md5(k.name || ':' || :n)::uuid::text) AS m;
