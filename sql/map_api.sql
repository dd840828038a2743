-- The SQL API that replaces the REST endpoints of directus-extension-sync.
\set SHOW_CONTEXT never

-- create_mapping with a given sync id returns it.
SELECT directus_sync.create_mapping('dashboards', '5f9c7d0a-2b1e-4c8d-9f3a-1a2b3c4d5e6f', 'dash-sync-1');
-- Without one it generates a random uuid.
SELECT directus_sync.create_mapping('flows', 'flow-local-1') ~ '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$' AS is_uuid;
SELECT directus_sync.create_mapping('flows', 'flow-local-2', NULL) <>
       (SELECT sync_id FROM directus_sync.get_by_local_id('flows', 'flow-local-1')) AS distinct_uuids;
-- Integer keys are stored as text, like the Node extension does.
SELECT directus_sync.create_mapping('permissions', 42::text, 'perm-sync-42');
SELECT directus_sync.create_mapping('items:articles', '7', 'article-7');

-- Lookups: a row when found, no row (not an error) when not.
SELECT "table", sync_id, local_id, created_at IS NOT NULL AS has_created_at
  FROM directus_sync.get_by_sync_id('dashboards', 'dash-sync-1');
SELECT "table", sync_id, local_id FROM directus_sync.get_by_local_id('permissions', '42');
SELECT count(*) AS not_found FROM directus_sync.get_by_sync_id('dashboards', 'no-such-sync-id');
SELECT count(*) AS not_found FROM directus_sync.get_by_local_id('dashboards', 'no-such-local-id');
-- Tables are separate namespaces.
SELECT count(*) AS other_table FROM directus_sync.get_by_sync_id('flows', 'dash-sync-1');

-- A duplicate local id, then a duplicate sync id: 23505, and the message says which.
SELECT directus_sync.create_mapping('permissions', '42', 'another-sync-id');
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.create_mapping('permissions', '43', 'perm-sync-42');
\echo :LAST_ERROR_SQLSTATE
-- The same ids in another table are fine.
SELECT directus_sync.create_mapping('policies', '42', 'perm-sync-42');

-- get_all: every mapping of a table, ordered by id. The rows must be able to
-- tell: an UPDATE writes a new row version at the end of the heap, so the two
-- oldest rows of 'roles' are moved behind the others, and local and sync ids
-- sort against id order too. Without its ORDER BY, get_all would return the
-- heap order (a scan) or the order of local_id or sync_id (an index scan).
SELECT directus_sync.create_mapping('roles', 'role-b', 'role-sync-b');
SELECT directus_sync.create_mapping('roles', 'role-a', 'role-sync-a');
UPDATE directus_sync_id_map SET local_id = local_id
 WHERE "table" = 'roles' AND local_id IN ('1f5e3c1a-4a1b-4d7e-9a57-0c0d8a1e7b11', 'role-b');
SELECT array_agg(id ORDER BY ctid) <> array_agg(id ORDER BY id) AS heap_order_differs,
       array_agg(id ORDER BY local_id) <> array_agg(id ORDER BY id) AS local_id_order_differs,
       array_agg(id ORDER BY sync_id) <> array_agg(id ORDER BY id) AS sync_id_order_differs
  FROM directus_sync_id_map WHERE "table" = 'roles';
SELECT "table", sync_id, local_id FROM directus_sync.get_all('roles');
SELECT (SELECT array_agg(id) FROM directus_sync.get_all('roles')) =
       (SELECT array_agg(id ORDER BY id) FROM directus_sync.get_all('roles')) AS ordered_by_id;
SELECT count(*) FROM directus_sync.get_all('no-such-table');

-- Deletes are idempotent and return how many rows went.
SELECT directus_sync.delete_by_sync_id('roles', 'role-sync-b');
SELECT directus_sync.delete_by_sync_id('roles', 'role-sync-b');
SELECT directus_sync.delete_by_local_id('roles', 'role-a');
SELECT directus_sync.delete_by_local_id('roles', 'role-a');
SELECT count(*) FROM directus_sync.get_by_local_id('roles', 'role-b');
-- A delete touches one table only.
SELECT directus_sync.delete_by_local_id('policies', '42');
SELECT sync_id FROM directus_sync.get_by_local_id('permissions', '42');

-- After a delete the ids can be mapped again.
SELECT directus_sync.create_mapping('roles', 'role-a', 'role-sync-b');

-- Keys at the limit: 255 characters, also multibyte ones.
SELECT length(directus_sync.create_mapping('translations', repeat('x', 255), repeat('é', 255)));
SELECT length(local_id), length(sync_id) FROM directus_sync.get_by_sync_id('translations', repeat('é', 255));
