-- remove_permission_duplicates on Directus 11+ (policy) and Directus 10 (role)
-- fixtures that copy Directus's column layout.
\set SHOW_CONTEXT never

-- Not a Directus database: a clear error.
SELECT * FROM directus_sync.remove_permission_duplicates();
\echo :LAST_ERROR_SQLSTATE

-- Directus 11+ (as in 12.4.0).
CREATE TABLE directus_policies (
  id uuid PRIMARY KEY, name varchar(100) NOT NULL, icon varchar(64) NOT NULL DEFAULT 'badge',
  description text, ip_access text, enforce_tfa boolean NOT NULL DEFAULT false,
  admin_access boolean NOT NULL DEFAULT false, app_access boolean NOT NULL DEFAULT false);
CREATE TABLE directus_permissions (
  id serial PRIMARY KEY, collection varchar(64) NOT NULL, action varchar(10) NOT NULL,
  permissions json, validation json, presets json, fields text,
  policy uuid NOT NULL REFERENCES directus_policies (id) ON DELETE CASCADE);
INSERT INTO directus_policies (id, name) VALUES
  ('aaaaaaaa-0000-4000-8000-000000000001', 'Editors'),
  ('aaaaaaaa-0000-4000-8000-000000000002', 'Viewers');
INSERT INTO directus_permissions (policy, collection, action, fields) VALUES
  ('aaaaaaaa-0000-4000-8000-000000000001', 'articles', 'read', '*'),    -- 1
  ('aaaaaaaa-0000-4000-8000-000000000001', 'articles', 'read', 'id'),   -- 2
  ('aaaaaaaa-0000-4000-8000-000000000001', 'articles', 'read', 'title'),-- 3
  ('aaaaaaaa-0000-4000-8000-000000000001', 'articles', 'update', '*'),  -- 4 unique
  ('aaaaaaaa-0000-4000-8000-000000000002', 'articles', 'read', '*'),    -- 5 other policy
  ('aaaaaaaa-0000-4000-8000-000000000002', 'articles', 'read', '*'),    -- 6
  ('aaaaaaaa-0000-4000-8000-000000000002', 'directus_files', 'create', '*'); -- 7 unique

-- A dry run reports the groups and deletes nothing; it even works read-only.
BEGIN TRANSACTION READ ONLY;
SELECT * FROM directus_sync.remove_permission_duplicates(dry_run => true);
COMMIT;
SELECT count(*) AS rows_left FROM directus_permissions;

-- The function runs with the caller's rights on directus_permissions.
CREATE ROLE regress_dsync_cleaner;
GRANT USAGE ON SCHEMA directus_sync TO regress_dsync_cleaner;
GRANT EXECUTE ON FUNCTION directus_sync.remove_permission_duplicates(text, boolean) TO regress_dsync_cleaner;
SET ROLE regress_dsync_cleaner;
SELECT * FROM directus_sync.remove_permission_duplicates();
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
REVOKE ALL ON SCHEMA directus_sync FROM regress_dsync_cleaner;
REVOKE ALL ON FUNCTION directus_sync.remove_permission_duplicates(text, boolean) FROM regress_dsync_cleaner;
DROP ROLE regress_dsync_cleaner;

-- keep => 'first' keeps the lowest id of each group.
BEGIN;
SELECT * FROM directus_sync.remove_permission_duplicates('first');
SELECT id FROM directus_permissions ORDER BY id;
ROLLBACK;

-- Grouping ignores fields (and permissions, validation and presets), as the
-- helper of directus-extension-sync 3.0.6 does (DELETE
-- helpers/permissions/duplicates groups by policy, collection and action
-- only). So the rows of a group are not always equal: the group (Editors,
-- articles, read) holds fields '*' (id 1), 'id' (id 2) and 'title' (id 3),
-- and the default (keep => 'last') keeps id 3 because it has the highest id,
-- not because it grants the most: after it, Editors read only the title of
-- articles where before they read every field. This narrowing of access is
-- the documented behaviour (docs/sql-api.md, "Permission clean-up"), kept on
-- purpose for parity with the Node helper; the check below makes it visible,
-- so that a change of the rule shows here and is a conscious one.
SELECT d.kept_id, k.fields AS kept_fields,
       (SELECT array_agg(p.fields ORDER BY p.id) FROM directus_permissions p WHERE p.id = ANY (d.deleted_ids)) AS deleted_fields,
       (SELECT count(DISTINCT coalesce(p.fields, '')) > 1 FROM directus_permissions p
         WHERE p.id = d.kept_id OR p.id = ANY (d.deleted_ids)) AS fields_differ_in_group
  FROM directus_sync.remove_permission_duplicates(dry_run => true) d
  JOIN directus_permissions k ON k.id = d.kept_id
 ORDER BY d.kept_id;

-- The default keeps the last (highest) id, in one transaction.
SELECT * FROM directus_sync.remove_permission_duplicates();
SELECT id, policy, collection, action, fields FROM directus_permissions ORDER BY id;
-- Nothing left to do.
SELECT count(*) FROM directus_sync.remove_permission_duplicates();

-- Directus 10: permissions hang off roles, and a NULL role (public) is a group too.
DROP TABLE directus_permissions, directus_policies;
CREATE TABLE directus_roles (
  id uuid PRIMARY KEY, name varchar(100) NOT NULL, icon varchar(30) NOT NULL DEFAULT 'supervised_user_circle',
  description text, ip_access text, enforce_tfa boolean NOT NULL DEFAULT false,
  admin_access boolean NOT NULL DEFAULT false, app_access boolean NOT NULL DEFAULT true);
CREATE TABLE directus_permissions (
  id serial PRIMARY KEY, role uuid REFERENCES directus_roles (id) ON DELETE CASCADE,
  collection varchar(64) NOT NULL, action varchar(10) NOT NULL,
  permissions json, validation json, presets json, fields text);
INSERT INTO directus_roles (id, name) VALUES ('bbbbbbbb-0000-4000-8000-000000000001', 'Editor');
INSERT INTO directus_permissions (role, collection, action) VALUES
  ('bbbbbbbb-0000-4000-8000-000000000001', 'pages', 'read'),    -- 1
  ('bbbbbbbb-0000-4000-8000-000000000001', 'pages', 'read'),    -- 2
  (NULL, 'pages', 'read'),                                      -- 3 public
  (NULL, 'pages', 'read'),                                      -- 4
  (NULL, 'pages', 'read'),                                      -- 5
  ('bbbbbbbb-0000-4000-8000-000000000001', 'pages', 'delete');  -- 6 unique
SELECT * FROM directus_sync.remove_permission_duplicates('last', true);
SELECT * FROM directus_sync.remove_permission_duplicates('first');
SELECT id, role, collection, action FROM directus_permissions ORDER BY id;

-- A table with neither column is refused.
DROP TABLE directus_permissions, directus_roles;
CREATE TABLE directus_permissions (id serial PRIMARY KEY, collection text, action text);
SELECT * FROM directus_sync.remove_permission_duplicates();
\echo :LAST_ERROR_SQLSTATE
DROP TABLE directus_permissions;
