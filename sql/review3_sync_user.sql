-- Review 3: create_sync_user with a collections array whose lower bound is
-- not 1 ('[5:5]={articles}', as array literals and array_prepend make).
-- The permissions must go to the sync user's role (Directus 10) or policy
-- (11, 12) and to nobody else: on Directus 10 a permission whose role is
-- NULL is the Public role's, which anyone without a token gets.
\set SHOW_CONTEXT never
CREATE ROLE regress_rv3_directus;

CREATE DATABASE regress_rv3_d10 OWNER regress_rv3_directus;
\c regress_rv3_d10
CREATE EXTENSION directus_sync;
SET ROLE regress_rv3_directus;
\set ECHO none
\ir t/directus10_system.sql
\set ECHO all
CREATE TABLE articles (id serial PRIMARY KEY, title varchar(255));
INSERT INTO directus_collections (collection) VALUES ('articles');
RESET ROLE;
SELECT directus_sync.create_sync_user('b', '[5:5]={articles}'::text[]) ~ '^ds_[0-9a-f]{64}$' AS token_made;
-- nothing granted to the Public role (role NULL); the sync user's role has CRUD on articles
SELECT count(*) FILTER (WHERE p.role IS NULL) AS public_permissions,
       count(*) FILTER (WHERE p.role = s.access_id AND p.collection = 'articles') AS sync_user_permissions,
       count(*) FILTER (WHERE p.collection <> 'articles') AS other_collections
  FROM directus_permissions p CROSS JOIN directus_sync.sync_user s;

CREATE DATABASE regress_rv3_d11 OWNER regress_rv3_directus;
\c regress_rv3_d11
CREATE EXTENSION directus_sync;
SET ROLE regress_rv3_directus;
\set ECHO none
\ir t/directus11_system.sql
\set ECHO all
CREATE TABLE articles (id serial PRIMARY KEY, title varchar(255));
INSERT INTO directus_collections (collection) VALUES ('articles');
RESET ROLE;
SELECT directus_sync.create_sync_user('b', '[0:0]={articles}'::text[]) ~ '^ds_[0-9a-f]{64}$' AS token_made;
SELECT count(*) FILTER (WHERE p.policy = s.access_id AND p.collection = 'articles') AS sync_user_permissions,
       count(*) FILTER (WHERE p.collection <> 'articles') AS other_collections
  FROM directus_permissions p CROSS JOIN directus_sync.sync_user s;

\c contrib_regression
DROP DATABASE regress_rv3_d10;
DROP DATABASE regress_rv3_d11;
DROP ROLE regress_rv3_directus;
