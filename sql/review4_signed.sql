-- Review 4: signed clocks (src/sync_signature.c). A signature proves that
-- a remote's sync made the clocks of one write of one item; it must not
-- vouch for other writes of that item in the same transaction.
\set SHOW_CONTEXT never
CREATE DATABASE regress_rv4_signed;
\c regress_rv4_signed
CREATE EXTENSION directus_sync;
CREATE EXTENSION pgcrypto;
\set ECHO none
\ir t/directus12_system.sql
\set ECHO all
SET client_min_messages = error;
INSERT INTO directus_users (id, token, status)
VALUES ('aaaaaaaa-0000-4000-8000-00000000000a', 'token-a', 'active');
INSERT INTO directus_collections (collection, accountability) VALUES ('notes', NULL);
CREATE TABLE notes (id uuid PRIMARY KEY, title text, body text);
SELECT directus_sync.add_remote('a', 'http://127.0.0.1:9', 't',
       inbound_user => 'aaaaaaaa-0000-4000-8000-00000000000a') IS NOT NULL AS added;
SELECT directus_sync.subscribe('a', 'notes', ARRAY['title', 'body']);
SELECT directus_sync.pause('a');
-- what the sender does (sync_signature_sign_payload): meta + "g"
CREATE FUNCTION pg_temp.signed(coll text, item text, meta jsonb, token text) RETURNS jsonb
LANGUAGE sql AS $$
SELECT meta || jsonb_build_object('g', encode(hmac(convert_to('directus_sync 1' || chr(31) || coll || chr(31)
       || item || chr(31) || (meta - 'g')::text, 'UTF8'), convert_to(token, 'UTF8'), 'sha256'), 'hex'))
$$;
-- a clock of the sender's node, ms ahead of now, as a sync writes it (16 hex digits)
CREATE FUNCTION pg_temp.stamp(ms bigint) RETURNS text LANGUAGE sql AS $$
SELECT lpad(to_hex(((extract(epoch FROM clock_timestamp()) * 1000)::bigint + ms) << 16), 16, '0')
$$;
CREATE TEMP TABLE seen (meta jsonb);
INSERT INTO seen SELECT pg_temp.signed('notes', 'c0000000-0000-4000-8000-000000000001',
       jsonb_build_object('s', 'dddddddd-0000-4000-8000-00000000000a',
                          'f', jsonb_build_object('title', pg_temp.stamp(-1000), 'body', pg_temp.stamp(-1000))),
       'token-a');

-- 0. The sync's create, signed by a's token: taken, and not queued back to a.
INSERT INTO notes SELECT 'c0000000-0000-4000-8000-000000000001', 'one', 'made on a', meta FROM seen;
SELECT count(*) AS queued_back_to_a FROM directus_sync.outbox;

-- 1. Whoever has seen that signed meta (Directus keeps the payload as a
-- revision's delta for a collection with accountability 'all'; flows and
-- hooks get it) brings clocks of its own choosing in one write, unsigned,
-- and replays the signed meta in another write of the same item in the
-- same transaction: the signature must vouch for its own write only, and
-- the commit must fail (only a sync may write directus_sync_meta).
BEGIN;
UPDATE notes SET title = 'forged',
       directus_sync_meta = jsonb_build_object('s', 'eeeeeeee-0000-4000-8000-00000000000e',
                                               'f', jsonb_build_object('title', pg_temp.stamp(4000)))
 WHERE id = 'c0000000-0000-4000-8000-000000000001';
UPDATE notes SET directus_sync_meta = (SELECT meta FROM seen)
 WHERE id = 'c0000000-0000-4000-8000-000000000001';
COMMIT;
SELECT title, directus_sync_meta->'f'->>'title' LIKE '%@eeeeeeee-0000-4000-8000-00000000000e' AS forged_clock_kept
  FROM notes WHERE id = 'c0000000-0000-4000-8000-000000000001';

-- 2. A local change made after a sync's signed write of the same item, in
-- the same transaction (a trigger, a Directus hook, a batch request that
-- names the item twice), is news to a: it must be queued for a.
TRUNCATE directus_sync.outbox;
BEGIN;
INSERT INTO notes SELECT 'c0000000-0000-4000-8000-000000000002', 'two', 'made on a',
       pg_temp.signed('notes', 'c0000000-0000-4000-8000-000000000002',
                      jsonb_build_object('s', 'dddddddd-0000-4000-8000-00000000000a',
                                         'f', jsonb_build_object('title', pg_temp.stamp(-1000), 'body', pg_temp.stamp(-1000))),
                      'token-a');
UPDATE notes SET body = 'edited here' WHERE id = 'c0000000-0000-4000-8000-000000000002';
COMMIT;
SELECT item_key, payload->>'body' AS body FROM directus_sync.outbox ORDER BY id;

-- 3. A singleton goes as PATCH /items/:c without key (docs/replication.md):
-- Directus updates whatever row it has, so a's row and ours may have other
-- keys (each Directus made its own). The write of a's sync here must still
-- be taken as a's (else every change of a singleton without accountability
-- fails at commit, forever): the sender signs a singleton's item without
-- its key (src/directus_wire.c).
INSERT INTO directus_collections (collection, accountability, singleton) VALUES ('settings', NULL, true);
CREATE TABLE settings (id uuid PRIMARY KEY, motto text);
INSERT INTO settings VALUES ('f0000000-0000-4000-8000-000000000007', 'ours');
SELECT directus_sync.subscribe('a', 'settings', ARRAY['motto']);
UPDATE settings SET motto = 'from a',
       directus_sync_meta = pg_temp.signed('settings', '',
           jsonb_build_object('s', 'dddddddd-0000-4000-8000-00000000000a',
                              'f', jsonb_build_object('motto', pg_temp.stamp(-10))), 'token-a');
SELECT motto FROM settings;

-- 4. Two remotes with one inbound user hold one token: a signature cannot
-- tell which of them made a change, so the change goes back to its sender
-- and never to the other one (the signer is whichever _inbound_tokens()
-- lists first). Such a configuration must be refused.
CREATE FUNCTION pg_temp.try(call text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE call;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE;
END
$$;
SELECT pg_temp.try($$SELECT directus_sync.add_remote('b', 'http://127.0.0.1:9', 't',
       inbound_user => 'aaaaaaaa-0000-4000-8000-00000000000a')$$) <> 'ok' AS shared_inbound_user_refused;

-- 5. The inbound users' tokens are read once per transaction: a token
-- revoked (Directus's admin generates a new one) in the transaction still
-- signs later writes of that transaction.
BEGIN;
INSERT INTO notes (id, title, directus_sync_meta) SELECT 'c0000000-0000-4000-8000-000000000003', 'three',
       pg_temp.signed('notes', 'c0000000-0000-4000-8000-000000000003',
           jsonb_build_object('s', 'dddddddd-0000-4000-8000-00000000000a',
                              'f', jsonb_build_object('title', pg_temp.stamp(-10))), 'token-a');
UPDATE directus_users SET token = 'token-a-new' WHERE id = 'aaaaaaaa-0000-4000-8000-00000000000a';
INSERT INTO notes (id, title, directus_sync_meta) SELECT 'c0000000-0000-4000-8000-000000000004', 'four',
       pg_temp.signed('notes', 'c0000000-0000-4000-8000-000000000004',
           jsonb_build_object('s', 'dddddddd-0000-4000-8000-00000000000a',
                              'f', jsonb_build_object('title', pg_temp.stamp(-10))), 'token-a');
COMMIT;
SELECT count(*) AS signed_with_revoked_token FROM notes WHERE id = 'c0000000-0000-4000-8000-000000000004';

-- 6. On a collection with accountability 'all' Directus keeps each
-- request's payload, directus_sync_meta and its "g" included, as the
-- revision's delta (readable by whoever may read directus_revisions): the
-- premise that a signed meta "travels only in the request" does not hold.
-- There a sync is known by its inbound user's activity row; a replay of a
-- signed meta with other values and no such row must not pass as a's sync
-- (taken, it overwrites the value under a's own clock and is never queued
-- for a: a and we diverge for good, each item's clocks equal).
INSERT INTO directus_collections (collection, accountability) VALUES ('tracked', 'all');
CREATE TABLE tracked (id uuid PRIMARY KEY, title text);
SELECT directus_sync.subscribe('a', 'tracked', ARRAY['title']);
UPDATE directus_users SET token = 'token-a6' WHERE id = 'aaaaaaaa-0000-4000-8000-00000000000a';
TRUNCATE seen;
INSERT INTO seen SELECT pg_temp.signed('tracked', 'c0000000-0000-4000-8000-000000000005',
       jsonb_build_object('s', 'dddddddd-0000-4000-8000-00000000000a',
                          'f', jsonb_build_object('title', pg_temp.stamp(-1000))), 'token-a6');
BEGIN;  -- a's sync, as Directus writes it: the item, then a's activity row
INSERT INTO tracked SELECT 'c0000000-0000-4000-8000-000000000005', 'five', meta FROM seen;
INSERT INTO directus_activity (action, "user", collection, item)
VALUES ('create', 'aaaaaaaa-0000-4000-8000-00000000000a', 'tracked', 'c0000000-0000-4000-8000-000000000005');
COMMIT;
TRUNCATE directus_sync.outbox;
UPDATE tracked SET title = 'replayed', directus_sync_meta = (SELECT meta FROM seen)
 WHERE id = 'c0000000-0000-4000-8000-000000000005';
SELECT title FROM tracked;

\c contrib_regression
DROP DATABASE regress_rv4_signed;
