-- Review 3: subscribe's defaults (clocks, key_series) and the upgrade that
-- replaced subscribe. Each part in a database of its own.
\set SHOW_CONTEXT never
CREATE DATABASE regress_rv3_defaults;
\c regress_rv3_defaults
CREATE EXTENSION directus_sync;
\set ECHO none
\ir t/directus12_system.sql
\set ECHO all
-- a call's outcome: 'ok' or its SQLSTATE (the message is the fixer's to choose)
CREATE FUNCTION pg_temp.try(call text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE call;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE;
END
$$;
SET client_min_messages = error;
CREATE TABLE shared_uuid (id uuid PRIMARY KEY, title text);
CREATE TABLE later_uuid (id uuid PRIMARY KEY, title text);
CREATE TABLE ints (id serial PRIMARY KEY, title text);
SELECT directus_sync.add_remote('plain', 'http://127.0.0.1:9', 't') IS NOT NULL AS added;
SELECT directus_sync.add_remote('both', 'http://127.0.0.1:9', 't',
       inbound_user => '00000000-0000-0000-0000-00000000000b') IS NOT NULL AS added;
SELECT directus_sync.add_remote('later', 'http://127.0.0.1:9', 't') IS NOT NULL AS added;

-- 1. A one-way remote (a Directus without directus_sync) ships the
-- collection without clocks. Subscribing a two-way remote to the same
-- collection with the defaults must not silently give the collection
-- clocks: the one-way remote would then get directus_sync_meta in every
-- change and refuse them all (403 naming the field: the whole remote
-- fails). subscribe refuses clocks => false on a collection with clocks
-- for that very reason (55000); the other order must be refused too.
SELECT directus_sync.subscribe('plain', 'shared_uuid', ARRAY['title']);
SELECT pg_temp.try($$SELECT directus_sync.subscribe('both', 'shared_uuid', ARRAY['title'])$$) AS two_way_subscribe;
INSERT INTO shared_uuid VALUES ('00000000-0000-4000-8000-000000000001', 'x');
SELECT r.name AS remote, strpos(o.payload::text, 'directus_sync_meta') > 0 AS carries_clocks
  FROM directus_sync.outbox o JOIN directus_sync.remote r ON r.id = o.remote_id
 WHERE o.collection = 'shared_uuid' ORDER BY 1;

-- 2. A remote subscribed while one-way that becomes two-way later (its
-- inbound_user set by alter_remote, or by create_sync_user for its name)
-- writes here too: the collection needs clocks as subscribe would have
-- given them (docs/sql-api.md: clocks NULL, inbound_user yes).
SELECT directus_sync.subscribe('later', 'later_uuid', ARRAY['title']);
-- (or refuses to make the remote two-way while the collection has none)
-- (two statements: one statement's snapshot would not see what try() wrote)
SELECT pg_temp.try($$SELECT directus_sync.alter_remote('later', inbound_user => '00000000-0000-0000-0000-00000000000c')$$) AS made_two_way;
SELECT EXISTS (SELECT FROM directus_sync.clocked_collection WHERE collection = 'later_uuid') AS two_way_has_clocks;

-- 3. docs/sql-api.md: clocks => true with key_series NULL gives "a series
-- when set_instance was run, else a warning", whatever the remote.
SELECT pg_temp.try($$SELECT directus_sync.subscribe('both', 'ints', ARRAY['title'], clocks => true)$$) AS clocks_true;
SELECT collection FROM directus_sync.clocked_collection WHERE collection = 'ints';

\c contrib_regression
DROP DATABASE regress_rv3_defaults;

-- 4. The upgrade from 0.2 keeps subscribe's grants as they were: a role
-- that could grant EXECUTE on to others (WITH GRANT OPTION) still can.
CREATE ROLE regress_rv3_delegate;
CREATE DATABASE regress_rv3_upgrade;
\c regress_rv3_upgrade
CREATE EXTENSION directus_sync VERSION '0.2';
GRANT EXECUTE ON FUNCTION directus_sync.subscribe(text, text, text[], boolean)
   TO regress_rv3_delegate WITH GRANT OPTION;
ALTER EXTENSION directus_sync UPDATE TO '0.3';
SELECT has_function_privilege('regress_rv3_delegate',
         'directus_sync.subscribe(text, text, text[], boolean, boolean, boolean)',
         'EXECUTE WITH GRANT OPTION') AS delegate_may_grant;
\c contrib_regression
DROP DATABASE regress_rv3_upgrade;
DROP ROLE regress_rv3_delegate;
