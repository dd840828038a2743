-- Review 6: key series when the number of instances changes. Two
-- instances (set_instance(1, 2) and (2, 2)) make odd and even keys; a third
-- one joins with set_instance(3, 3). Series of two counts can meet: the new
-- instance's series (multiples of 3 above its highest key) and the second's
-- old one (even numbers above its highest key) hand out the same keys (102
-- here, then every 6th key), and so do restarted series of instances that
-- have not seen each other's latest keys. No local bound tells how far
-- another instance's series has gone, so they cannot be kept apart here;
-- instead set_instance warns when the count of a database with key series
-- changes, and docs/replication.md gives the safe procedure: pause creates
-- everywhere, let every queue drain, set the new count on every instance
-- (each series restarts above every key so far), resume. This test shows
-- the hazard, the warning, and the procedure ending with disjoint series.
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE DATABASE regress_rv6_ks2;
CREATE DATABASE regress_rv6_ks3;
\c regress_rv6_ks2
CREATE EXTENSION directus_sync;
SET client_min_messages = warning;
CREATE TABLE articles (id serial PRIMARY KEY, title text);
-- numbering an instance the first time warns of nothing
SELECT directus_sync.set_instance(2, 2);
SELECT directus_sync.enable_clocks('articles');
-- the keys it has seen so far go up to 100
INSERT INTO articles (id, title) VALUES (100, 'seen everywhere');
SELECT directus_sync.enable_clocks('articles');
INSERT INTO articles (title) SELECT 'made on instance 2' FROM generate_series(1, 4);
SELECT array_agg(id ORDER BY id) AS keys_of_instance_2 FROM articles WHERE id > 100;
\c regress_rv6_ks3
CREATE EXTENSION directus_sync;
SET client_min_messages = warning;
CREATE TABLE articles (id serial PRIMARY KEY, title text);
INSERT INTO articles (id, title) VALUES (100, 'seen everywhere');
SELECT directus_sync.set_instance(3, 3);
SELECT directus_sync.enable_clocks('articles');
INSERT INTO articles (title) SELECT 'made on instance 3' FROM generate_series(1, 4);
-- the hazard, without the procedure: 102 and 108 are also instance 2's
SELECT array_agg(id ORDER BY id) AS keys_of_instance_3 FROM articles WHERE id > 100;
-- the procedure: creates paused, every queue drained (each instance has
-- the other's items; 102 and 108 were an insert/insert conflict, decided
-- alike on both), then the new count on every instance
INSERT INTO articles (id, title) VALUES (104, 'made on instance 2'), (106, 'made on instance 2');
-- the same count again: no warning, the series restarts above every key
SELECT directus_sync.set_instance(3, 3);
\c regress_rv6_ks2
SET client_min_messages = warning;
INSERT INTO articles (id, title) VALUES (105, 'made on instance 3'), (111, 'made on instance 3');
-- the count changes on a database with key series: a warning
SELECT directus_sync.set_instance(2, 3);
SELECT instance, instances FROM directus_sync.node;
-- creates resume: instance 2 now makes keys 2 (mod 3) above 111
INSERT INTO articles (title) SELECT 'made on instance 2 after' FROM generate_series(1, 3);
SELECT array_agg(id ORDER BY id) AS new_keys_of_instance_2 FROM articles WHERE id > 111;
\c regress_rv6_ks3
SET client_min_messages = warning;
-- and instance 3 keys 0 (mod 3) above 111: none of instance 2's
INSERT INTO articles (title) SELECT 'made on instance 3 after' FROM generate_series(1, 3);
SELECT array_agg(id ORDER BY id) AS new_keys_of_instance_3 FROM articles WHERE id > 111;
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_rv6_ks2;
DROP DATABASE regress_rv6_ks3;
