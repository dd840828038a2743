-- directus_activity and directus_revisions as Directus 12.4.0 leaves them
-- on PostgreSQL: its seeds (database/seeds/05-activity.yaml,
-- 11-revisions.yaml) and the migrations that change them since
-- (20201028A drops the collection foreign keys; 20210519A: revisions.activity
-- ON DELETE CASCADE; 20220429C: ip nullable; 20220826A: origin;
-- 20230823A: revisions.version; 20240305A: user_agent text; 20240924A:
-- activity.comment dropped; 20251028A, 20260113A: the retention indexes).
-- Read in the @directus/api 12.4.0 package that scripts/directus.sh installs.
--
-- Left out, because a test database has no such tables: the foreign keys of
-- activity."user" (directus_users) and revisions.version
-- (directus_versions). t/peer_directus.py writes these rows for each item
-- it changes; the loop guard of directus_sync reads directus_activity.
CREATE TABLE directus_activity (
	id serial PRIMARY KEY,
	action varchar(45) NOT NULL,
	"user" uuid,
	"timestamp" timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
	ip varchar(50),
	user_agent text,
	collection varchar(64) NOT NULL,
	item varchar(255) NOT NULL,
	origin varchar(255)
);
CREATE INDEX directus_activity_timestamp_index ON directus_activity ("timestamp");

CREATE TABLE directus_revisions (
	id serial PRIMARY KEY,
	activity integer NOT NULL REFERENCES directus_activity (id) ON DELETE CASCADE,
	collection varchar(64) NOT NULL,
	item varchar(255) NOT NULL,
	data json,
	delta json,
	parent integer REFERENCES directus_revisions (id),
	version uuid
);
CREATE INDEX directus_revisions_parent_index ON directus_revisions (parent);
CREATE INDEX directus_revisions_activity_index ON directus_revisions (activity);
