-- An inbound change as a sync writes it through Directus (a PATCH by the
-- remote's inbound user, 00000000-0000-0000-0000-00000000000b, set by
-- bench/replication_bench.sh): one article's two fields and Directus's
-- activity row, in one transaction; the table is subscribed, without clocks.
-- bench/replication_apply_clocks.sql is the same write with the clocks.
\set id random(1, 100000)
\set n random(1, 1000000)
BEGIN;
UPDATE public.articles SET n = :n, at = clock_timestamp() WHERE id = :id;
INSERT INTO public.directus_activity (action, "user", ip, user_agent, collection, item, origin)
VALUES ('update', '00000000-0000-0000-0000-00000000000b', '127.0.0.1', 'directus_sync', 'articles', :id, 'http://127.0.0.1');
COMMIT;
