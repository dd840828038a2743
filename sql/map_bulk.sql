-- Set-based variants: many ids in one call.
\set SHOW_CONTEXT never

-- create_mappings: given and generated sync ids, returned in input order.
SELECT * FROM directus_sync.create_mappings('items:books', ARRAY['b1', 'b2', 'b3'], ARRAY['sb1', 'sb2', 'sb3']);
SELECT local_id, sync_id ~ '^[0-9a-f-]{36}$' AS generated
  FROM directus_sync.create_mappings('items:books', ARRAY['b5', 'b4']);
SELECT local_id, sync_id FROM directus_sync.create_mappings('items:books', ARRAY['b6', 'b7'], ARRAY[NULL, 'sb7']) WHERE sync_id = 'sb7';
SELECT count(*) FROM directus_sync.get_by_local_id('items:books', 'b6');
-- An empty array creates nothing.
SELECT count(*) FROM directus_sync.create_mappings('items:books', '{}');

-- All or nothing: one taken key fails the whole call, naming it.
SELECT * FROM directus_sync.create_mappings('items:books', ARRAY['b8', 'b9', 'b1']);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM directus_sync.create_mappings('items:books', ARRAY['b8', 'b9'], ARRAY['sb8', 'sb2']);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS none_created FROM directus_sync.get_by_local_ids('items:books', ARRAY['b8', 'b9']);
-- Duplicates inside the input.
SELECT * FROM directus_sync.create_mappings('items:books', ARRAY['b8', 'b9', 'b8']);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM directus_sync.create_mappings('items:books', ARRAY['b8', 'b9'], ARRAY['same', 'same']);
\echo :LAST_ERROR_SQLSTATE
-- Lengths must match (NULL elements ask for a generated sync id).
SELECT * FROM directus_sync.create_mappings('items:books', ARRAY['b8', 'b9'], ARRAY['only-one']);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS still_none FROM directus_sync.get_by_local_ids('items:books', ARRAY['b8', 'b9', 'b10']);

-- Lookups of many ids: the rows found, in the order asked. The order asked
-- is neither id order (b1, b2, b3 were made in that order) nor heap order,
-- nor the order of the ids themselves.
SELECT local_id, sync_id FROM directus_sync.get_by_local_ids('items:books', ARRAY['b3', 'missing', 'b1', 'b2']);
SELECT local_id, sync_id FROM directus_sync.get_by_sync_ids('items:books', ARRAY['sb2', 'nope', 'sb3', 'sb1']);
SELECT count(*) FROM directus_sync.get_by_sync_ids('items:books', '{}');
-- A thousand at once.
SELECT count(*) FROM directus_sync.create_mappings('items:bulk', ARRAY(SELECT 'k' || g FROM generate_series(1, 1000) g));
SELECT count(*), min(local_id), max(local_id)
  FROM directus_sync.get_by_local_ids('items:bulk', ARRAY(SELECT 'k' || g FROM generate_series(1, 1200) g));
-- Asked for in reverse (and shuffled) order, returned in that order.
SELECT array_agg(local_id::text ORDER BY n) = ARRAY(SELECT 'k' || g FROM generate_series(1000, 1, -1) g) AS reverse_order_kept
  FROM directus_sync.get_by_local_ids('items:bulk', ARRAY(SELECT 'k' || g FROM generate_series(1200, 1, -1) g))
       WITH ORDINALITY AS r(id, "table", sync_id, local_id, created_at, n);
SELECT array_agg(sync_id ORDER BY n) = (SELECT array_agg(m.sync_id ORDER BY (m.id * 7919) % 1009)
                                          FROM directus_sync_id_map m WHERE m."table" = 'items:bulk') AS shuffled_order_kept
  FROM directus_sync.get_by_sync_ids('items:bulk',
         (SELECT array_agg(m.sync_id ORDER BY (m.id * 7919) % 1009) FROM directus_sync_id_map m WHERE m."table" = 'items:bulk'))
       WITH ORDINALITY AS r(id, "table", sync_id, local_id, created_at, n);
