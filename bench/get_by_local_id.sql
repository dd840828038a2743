-- One map lookup by local id per call, as the REST endpoint GET table/:table/local_id/:id did.
\set id random(1, 100000)
SELECT * FROM directus_sync.get_by_local_id('items:bench', :id::text);
