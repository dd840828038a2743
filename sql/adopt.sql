-- CREATE EXTENSION on a database where directus-extension-sync 3.x already
-- created the SyncID map adopts that table with every row.
\set SHOW_CONTEXT never

-- The DDL knex emits for the Node extension's IdMapper.init() on PostgreSQL.
CREATE FUNCTION regress_knex_create_map(schema_name text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  PERFORM set_config('search_path', quote_ident(schema_name), true);
  create table "directus_sync_id_map" ("id" serial primary key, "table" varchar(255) not null,
    "sync_id" varchar(255) not null, "local_id" varchar(255) not null,
    "created_at" timestamptz default CURRENT_TIMESTAMP);
  alter table "directus_sync_id_map" add constraint "directus_sync_id_map_table_sync_id_unique" unique ("table", "sync_id");
  alter table "directus_sync_id_map" add constraint "directus_sync_id_map_table_local_id_unique" unique ("table", "local_id");
  create index "directus_sync_id_map_created_at_index" on "directus_sync_id_map" ("created_at");
END
$$;

-- directus-extension-sync runs as Directus's database role, which owns the table.
CREATE ROLE regress_directus;
GRANT CREATE ON SCHEMA public TO regress_directus;
SET ROLE regress_directus;
SELECT regress_knex_create_map('public');

INSERT INTO directus_sync_id_map ("table", sync_id, local_id) VALUES
  ('roles', '_sync_default_admin_role', '1f5e3c1a-4a1b-4d7e-9a57-0c0d8a1e7b11'),
  ('permissions', 'b3c2ad9e-5c7f-4f0e-8d9b-6e1b2a3c4d5e', '17'),
  ('items:articles', 'a-string-sync-id', 'article-one'),
  ('__ping_test__', 'ping', 'pong');
RESET ROLE;
REVOKE CREATE ON SCHEMA public FROM regress_directus;

-- A table of the same name but another layout is refused, not adopted.
CREATE SCHEMA regress_other;
CREATE TABLE regress_other.directus_sync_id_map (id serial PRIMARY KEY, "table" text, sync_id text, local_id text);
CREATE EXTENSION directus_sync SCHEMA regress_other;
\echo :LAST_ERROR_SQLSTATE
-- So is the right layout with anything that could run code as the extension's
-- owner once adopted: here a trigger.
DROP TABLE regress_other.directus_sync_id_map;
SELECT regress_knex_create_map('regress_other');
CREATE FUNCTION regress_other.sneaky() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE FUNCTION regress_other.sneaky_check() RETURNS boolean LANGUAGE sql AS $$ SELECT true $$;
CREATE TRIGGER sneaky BEFORE INSERT ON regress_other.directus_sync_id_map
  FOR EACH ROW EXECUTE FUNCTION regress_other.sneaky();
CREATE EXTENSION directus_sync SCHEMA regress_other;
\echo :LAST_ERROR_SQLSTATE
DROP TRIGGER sneaky ON regress_other.directus_sync_id_map;
-- A rule.
CREATE RULE sneaky AS ON INSERT TO regress_other.directus_sync_id_map DO ALSO NOTIFY sneaky;
CREATE EXTENSION directus_sync SCHEMA regress_other;
\echo :LAST_ERROR_SQLSTATE
DROP RULE sneaky ON regress_other.directus_sync_id_map;
-- Row-level security, with a policy and without one.
ALTER TABLE regress_other.directus_sync_id_map ENABLE ROW LEVEL SECURITY;
CREATE EXTENSION directus_sync SCHEMA regress_other;
\echo :LAST_ERROR_SQLSTATE
CREATE POLICY sneaky ON regress_other.directus_sync_id_map USING (regress_other.sneaky_check());
CREATE EXTENSION directus_sync SCHEMA regress_other;
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE regress_other.directus_sync_id_map DISABLE ROW LEVEL SECURITY;
CREATE EXTENSION directus_sync SCHEMA regress_other;
\echo :LAST_ERROR_SQLSTATE
DROP POLICY sneaky ON regress_other.directus_sync_id_map;
-- Inheritance: a child of the map, and the map as a child.
CREATE TABLE regress_other.child () INHERITS (regress_other.directus_sync_id_map);
CREATE EXTENSION directus_sync SCHEMA regress_other;
\echo :LAST_ERROR_SQLSTATE
DROP TABLE regress_other.child;
CREATE TABLE regress_other.parent (created_at timestamptz);
ALTER TABLE regress_other.directus_sync_id_map INHERIT regress_other.parent;
CREATE EXTENSION directus_sync SCHEMA regress_other;
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE regress_other.directus_sync_id_map NO INHERIT regress_other.parent;
-- Each refusal left the table as it was: without them all it is adopted (in
-- a transaction, rolled back).
BEGIN;
CREATE EXTENSION directus_sync SCHEMA regress_other;
SELECT extnamespace::regnamespace AS adopted_in FROM pg_extension WHERE extname = 'directus_sync';
ROLLBACK;

-- A map table only in another schema is not adopted: CREATE EXTENSION makes a
-- new, empty one where it is told to and warns, naming the other schemas
-- (here public, which the Node extension made above, and regress_other).
BEGIN;
CREATE SCHEMA regress_empty;
CREATE EXTENSION directus_sync SCHEMA regress_empty;
SELECT count(*) AS new_map_is_empty FROM regress_empty.directus_sync_id_map;
ROLLBACK;
DROP SCHEMA regress_other CASCADE;

CREATE EXTENSION directus_sync;

-- Every row is still there, and the table and its sequence now belong to the
-- extension and are marked for pg_dump.
SELECT id, "table", sync_id, local_id FROM directus_sync_id_map ORDER BY id;
SELECT classid::regclass, objid::regclass, deptype FROM pg_depend
 WHERE refobjid = (SELECT oid FROM pg_extension WHERE extname = 'directus_sync')
   AND classid = 'pg_class'::regclass ORDER BY 2::text;
SELECT unnest(extconfig)::regclass FROM pg_extension WHERE extname = 'directus_sync' ORDER BY 1::text;

-- The layout, as a helper the drop test compares against after a fresh create.
CREATE FUNCTION regress_map_layout() RETURNS SETOF text LANGUAGE sql AS $$
  SELECT format('column %s %s%s%s', a.attname, format_type(a.atttypid, a.atttypmod),
                CASE WHEN a.attnotnull THEN ' not null' ELSE '' END,
                coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), ''))
    FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
   WHERE a.attrelid = 'public.directus_sync_id_map'::regclass AND a.attnum > 0 AND NOT a.attisdropped
  UNION ALL
  SELECT format('constraint %s %s', conname, pg_get_constraintdef(oid))
    FROM pg_constraint WHERE conrelid = 'public.directus_sync_id_map'::regclass
     AND contype <> 'n'   -- PostgreSQL 18's NOT NULL constraints: in the column lines
  UNION ALL
  SELECT format('index %s', indexdef) FROM pg_indexes
   WHERE schemaname = 'public' AND tablename = 'directus_sync_id_map'
  ORDER BY 1
$$;
SELECT * FROM regress_map_layout();

-- The table now belongs to the extension's owner; its former owner works on
-- it through the GRANT that README documents, and can no longer add triggers.
SELECT relowner = (SELECT extowner FROM pg_extension WHERE extname = 'directus_sync') AS owned_by_extension_owner
  FROM pg_class WHERE oid = 'directus_sync_id_map'::regclass;
SET ROLE regress_directus;
SELECT count(*) FROM directus_sync_id_map;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
GRANT SELECT, INSERT, DELETE ON directus_sync_id_map TO regress_directus;
GRANT USAGE ON SEQUENCE directus_sync_id_map_id_seq TO regress_directus;
SET ROLE regress_directus;
INSERT INTO directus_sync_id_map ("table", sync_id, local_id) VALUES ('flows', 'node-made', 'f1') RETURNING id, sync_id;
DELETE FROM directus_sync_id_map WHERE sync_id = 'node-made';
CREATE TRIGGER sneaky BEFORE INSERT ON directus_sync_id_map FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger();
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
REVOKE ALL ON directus_sync_id_map FROM regress_directus;
REVOKE ALL ON SEQUENCE directus_sync_id_map_id_seq FROM regress_directus;
DROP ROLE regress_directus;

-- The sequence carries on after the adopted rows.
SELECT directus_sync.create_mapping('roles', 'after-adoption', 'sync-after-adoption');
SELECT id FROM directus_sync.get_by_sync_id('roles', 'sync-after-adoption');
