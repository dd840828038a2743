-- One map lookup by sync id per call; map_bench.sh fills the map with
-- sync id = md5(n)::uuid for local id n, so any n in range is a hit.
\set n random(1, 100000)
SELECT * FROM directus_sync.get_by_sync_id('items:bench', md5(:n::text)::uuid::text);
