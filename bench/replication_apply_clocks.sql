-- The write of bench/replication_apply_plain.sql into a table with clocks:
-- the sync brings the sender's clocks of the two fields in directus_sync_meta
-- ({"s": sender node, "f": {field: clock}}, as sql/clock_rows.sql writes
-- it). The clock is the sender's wall clock now (milliseconds << 16, as 16
-- hex digits, '@', the sender's node id), later than the clocks the rows
-- were loaded with, so the sync's values are kept, as they mostly are.
\set id random(1, 100000)
\set n random(1, 1000000)
BEGIN;
UPDATE public.articles SET n = :n, at = clock_timestamp(),
       directus_sync_meta = jsonb_build_object('s', '00000000-0000-0000-0000-0000000000b0', 'f',
           jsonb_build_object('n', lpad(to_hex(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint << 16), 16, '0')
                                   || '@00000000-0000-0000-0000-0000000000b0',
                              'at', lpad(to_hex(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint << 16), 16, '0')
                                    || '@00000000-0000-0000-0000-0000000000b0'))
 WHERE id = :id;
INSERT INTO public.directus_activity (action, "user", ip, user_agent, collection, item, origin)
VALUES ('update', '00000000-0000-0000-0000-00000000000b', '127.0.0.1', 'directus_sync', 'articles', :id, 'http://127.0.0.1');
COMMIT;
