-- One new mapping per call, random sync id. The sequence gives every call a
-- fresh local id, so no call ever hits a duplicate.
SELECT directus_sync.create_mapping('items:created', nextval('bench_create_seq')::text);
