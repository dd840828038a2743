-- Review 5: the cost of a refresh of the app status grows with the dead
-- letters kept, times the remotes, even when nothing changed. The worker
-- runs it in its own loop (deliveries wait) every app_status_interval (5 s)
-- while it works: with each remote's dead count a count(*) of the whole
-- dead_letter (remote_status), and sync_dead_letters brought in line by
-- three statements that each read all of dead_letter and sync_dead_letters
-- (300 000 dead letters, four remotes: 1.8 million rows of dead_letter read,
-- 1.3 s, every 5 s). Correct: a refresh that finds nothing new reads less
-- than the dead letters once (counters kept as they change, new dead
-- letters found above the last id seen, the gone ones by their deletion).
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE ROLE regress_r5s_directus;
CREATE DATABASE regress_r5_cost OWNER regress_r5s_directus;
\c regress_r5_cost
CREATE EXTENSION directus_sync;
SET ROLE regress_r5s_directus;
\set ECHO none
\ir t/directus12_system.sql
\set ECHO all
RESET ROLE;
SET client_min_messages = warning;
SELECT directus_sync.enable_app_status();
RESET client_min_messages;
SELECT count(directus_sync.add_remote(n, 'http://127.0.0.1:9/' || n, 'secret-token', enabled => false))
  FROM unnest(ARRAY['r1', 'r2', 'r3', 'r4']) AS n;
INSERT INTO directus_sync.dead_letter (id, remote_id, collection, item_key, op, payload, queued_at, http_status, error_message)
SELECT g, (SELECT id FROM directus_sync.remote WHERE name = 'r1'), 'articles', g::text, 'u', '{"title": "x"}',
       now(), 500, 'boom'
  FROM generate_series(1, 20000) AS g;
-- (ten thousand a round)
SELECT count(directus_sync._app_status_refresh()) FROM generate_series(1, 3);
SELECT count(*) AS shown FROM sync_dead_letters;
-- A refresh that finds nothing new, in a new session: PostgreSQL 15's
-- pg_stat_xact_* also count what the session read in earlier transactions
-- whose statistics it has not sent yet (the rounds above, within a second).
\c regress_r5_cost
BEGIN;
SELECT directus_sync._app_status_refresh() IS NOT NULL AS refreshed;
SELECT relname, seq_tup_read + coalesce(idx_tup_fetch, 0) < 20000 AS less_than_one_pass
  FROM pg_stat_xact_user_tables WHERE relname IN ('dead_letter', 'sync_dead_letters') ORDER BY 1;
COMMIT;

-- Changes after it are found without reading the rest: two discarded, three
-- new of r2, a conflict.
SELECT directus_sync.discard_dead_letters('r1', ARRAY[5, 19999]::bigint[]) AS discarded;
INSERT INTO directus_sync.dead_letter (id, remote_id, collection, item_key, op, payload, queued_at, http_status, error_message)
SELECT g, (SELECT id FROM directus_sync.remote WHERE name = 'r2'), 'articles', g::text, 'd', NULL, now(), 403, 'no'
  FROM generate_series(20001, 20003) AS g;
INSERT INTO directus_sync.conflict (remote_id, collection, item_key, field, local_value, remote_value, winner)
SELECT id, 'articles', '7', 'title', '"a"', '"b"', 'local' FROM directus_sync.remote WHERE name = 'r1';
\c regress_r5_cost
BEGIN;
SELECT directus_sync._app_status_refresh() > 0 AS written;
SELECT relname, seq_tup_read + coalesce(idx_tup_fetch, 0) < 20000 AS less_than_one_pass
  FROM pg_stat_xact_user_tables WHERE relname IN ('dead_letter', 'sync_dead_letters') ORDER BY 1;
COMMIT;
-- A renamed remote: its rows are renamed (that reads the dead letters once);
-- the tables show their source.
SELECT directus_sync.alter_remote('r2', new_name => 'r2b');
SELECT directus_sync._app_status_refresh() AS written;
SELECT remote, dead, conflicts FROM sync_remotes_status ORDER BY remote;
SELECT s.remote, s.dead = (SELECT count(*) FROM directus_sync.dead_letter d JOIN directus_sync.remote r ON r.id = d.remote_id
                            WHERE r.name = s.remote) AS dead_counted
  FROM directus_sync.remote_status s ORDER BY 1;
SELECT count(*) AS differ
  FROM ((SELECT id, remote, operation, failed_at FROM sync_dead_letters
         EXCEPT SELECT d.id, r.name, CASE d.op WHEN 'u' THEN 'update' ELSE 'delete' END, d.failed_at
                  FROM directus_sync.dead_letter d JOIN directus_sync.remote r ON r.id = d.remote_id)
        UNION ALL
        (SELECT d.id, r.name, CASE d.op WHEN 'u' THEN 'update' ELSE 'delete' END, d.failed_at
           FROM directus_sync.dead_letter d JOIN directus_sync.remote r ON r.id = d.remote_id
         EXCEPT SELECT id, remote, operation, failed_at FROM sync_dead_letters)) x;
SELECT remote, item_key, field FROM sync_conflicts;

SET client_min_messages = warning;
SELECT count(directus_sync.remove_remote(n)) FROM unnest(ARRAY['r1', 'r2b', 'r3', 'r4']) AS n;
SELECT directus_sync.disable_app_status();
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_r5_cost;
DROP ROLE regress_r5s_directus;
