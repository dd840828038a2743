# A table's owner never gets more rights through directus_sync than it has.
# Directus's role owns its tables and may change them; code it controls (a
# domain's CHECK on the key column, a function in a view that stands for
# directus_fields or directus_collections, a trigger on
# directus_notifications) must run as that role, never as the superuser that
# runs the worker or the extension's SECURITY DEFINER functions. Every path
# that reads such a table is driven here: resync, the re-creation of an item
# the remote lacks, replay of a dead letter, subscribe, and a failure
# notification. Before 0.3 each of them made the role a superuser.
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $fake = start_fake(collections => { articles => { pk => 'id' }, notes => { pk => 'id' } });
my $node = new_sync_node('table_owner');
sub sql { return run_sql($node, $_[0]) }
my $user_uuid = 'aaaaaaaa-0000-4000-8000-0000000000aa';

# Directus's role and its tables; pwn() makes it a superuser when it runs
# with a superuser's rights, and notes who ran it. (It asks pg_roles: the
# is_superuser setting tells of the session's user, not the current one.)
sql(q{
	CREATE ROLE directus LOGIN;
	GRANT CREATE ON SCHEMA public TO directus;
	SET ROLE directus;
	CREATE TABLE pwn_log (path text, who text, superuser text);
	CREATE FUNCTION pwn(path text) RETURNS boolean LANGUAGE plpgsql AS $$
	DECLARE
		super boolean := (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user);
	BEGIN
		INSERT INTO public.pwn_log VALUES (path, current_user, CASE WHEN super THEN 'on' ELSE 'off' END);
		IF super THEN
			EXECUTE 'ALTER ROLE directus SUPERUSER';
		END IF;
		RETURN true;
	END $$;
	CREATE TABLE articles (id int PRIMARY KEY, title text);
	CREATE TABLE directus_users (id uuid PRIMARY KEY);
	INSERT INTO directus_users VALUES ('aaaaaaaa-0000-4000-8000-0000000000aa');
	CREATE TABLE directus_notifications (id serial PRIMARY KEY, timestamp timestamptz DEFAULT now(),
		status varchar(255), recipient uuid NOT NULL, sender uuid, subject varchar(255), message text,
		collection varchar(64), item varchar(255));
	-- A trigger that tries to leave a SET ROLE for the session's superuser.
	CREATE FUNCTION notified() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN
		BEGIN
			RESET ROLE;
		EXCEPTION WHEN OTHERS THEN
			NULL;
		END;
		PERFORM public.pwn('notification');
		RETURN NEW;
	END $$;
	CREATE TRIGGER notified BEFORE INSERT ON directus_notifications FOR EACH ROW EXECUTE FUNCTION notified();
	-- A function of the same name as one the extension's SQL calls
	-- unqualified, and one that puts public first in search_path for the
	-- rest of the session of whoever runs it.
	CREATE FUNCTION public.to_regclass(text) RETURNS regclass LANGUAGE plpgsql AS $$
	BEGIN
		PERFORM public.pwn('planted');
		RETURN pg_catalog.to_regclass($1);
	END $$;
	CREATE FUNCTION hijack() RETURNS boolean LANGUAGE sql AS
		$$ SELECT pg_catalog.set_config('search_path', 'public, pg_catalog', false) IS NOT NULL $$;
	-- Directus's catalogs, as views that run pwn() for whoever reads them.
	CREATE VIEW directus_fields AS
		SELECT 'articles'::varchar AS collection, 'title'::varchar AS field,
		       CASE WHEN public.pwn('directus_fields') AND public.hijack() THEN NULL::text END AS special;
	CREATE VIEW directus_collections AS
		SELECT 'articles'::varchar AS collection, NOT public.pwn('directus_collections') AS singleton;
	RESET ROLE;
});
sql("SET log_statement = 'none'; SELECT directus_sync.add_remote('b', '$fake->{url}', '$fake->{token}',
	notify_users => ARRAY['$user_uuid']::uuid[])");

# Whether the role became a superuser; it is made none again, so that each
# path is judged on its own.
sub is_superuser
{
	my $super = sql(q{SELECT rolsuper FROM pg_roles WHERE rolname = 'directus'});
	sql(q{ALTER ROLE directus NOSUPERUSER});
	return $super;
}
sub ran_as
{
	my ($path) = @_;
	return sql("SELECT coalesce(string_agg(DISTINCT who || '/' || superuser, ','), 'never')
		FROM pwn_log WHERE path = '$path'");
}

# subscribe reads directus_fields and directus_collections.
like(sql(q{SELECT directus_sync.subscribe('b', 'articles', ARRAY['title']); SHOW search_path}), qr/^\s*"\$user", public$/,
	'subscribe: a SET made by the owner\'s code does not outlive it (the caller\'s search_path is as it was)');
is(ran_as('planted'), 'never', 'subscribe: a function the owner planted under a name the extension calls never ran');
is(ran_as('directus_fields'), 'directus/off', 'subscribe: the view standing for directus_fields runs as its owner');
is(ran_as('directus_collections'), 'directus/off', 'subscribe: the view standing for directus_collections runs as its owner');
is(is_superuser(), 'f', 'subscribe: the owner is still no superuser');

# The key column becomes a domain whose CHECK calls pwn().
sql(q{
	SET ROLE directus;
	CREATE DOMAIN pk AS int CHECK (public.pwn('domain'));
	ALTER TABLE articles ALTER COLUMN id TYPE pk;
	INSERT INTO articles SELECT g, 'row ' || g FROM generate_series(1, 20) g;
	RESET ROLE;
	TRUNCATE pwn_log;
});
ok(wait_drained($node, 'b'), 'the rows written by the owner are delivered');

# resync: the worker reads the table in chunks.
sql(q{TRUNCATE pwn_log; SELECT directus_sync.resync('b', 'articles')});
ok(wait_drained($node, 'b'), 'resync: done');
is(ran_as('domain'), 'directus/off', 'resync: the domain\'s CHECK ran, as the table\'s owner');
is(is_superuser(), 'f', 'resync: the owner is still no superuser');

# An update of an item the remote lacks: the worker reads the current row.
api_request($fake, 'DELETE', '/items/articles/5');
sql(q{TRUNCATE pwn_log; UPDATE articles SET title = 'changed while missing on b' WHERE id = 5});
ok(wait_drained($node, 'b'), 'recreate: done');
ok(exists fake_item_map($fake, 'articles', 'id')->{5}, 'recreate: the item is on the remote again');
is(ran_as('domain'), 'directus/off', 'recreate: the domain\'s CHECK ran, as the table\'s owner');
is(is_superuser(), 'f', 'recreate: the owner is still no superuser');

# A dead letter (the remote refuses the change) notifies, and is replayed.
ctl($fake, 'POST', 'fail', { status => 400, code => 'INVALID_PAYLOAD', count => 1, collection => 'articles' });
sql(q{TRUNCATE pwn_log; UPDATE articles SET title = 'refused once' WHERE id = 7});
ok(wait_for('the dead letter', sub { sql('SELECT count(*) FROM directus_sync.dead_letter') eq '1' }),
	'a refused change becomes a dead letter');
ok(wait_for('the notification', sub { sql('SELECT count(*) FROM directus_notifications') eq '1' }),
	'notification: written into directus_notifications');
is(ran_as('notification'), 'directus/off', 'notification: Directus\'s trigger ran as the table\'s owner');
is(is_superuser(), 'f', 'notification: the owner is still no superuser');

sql(q{TRUNCATE pwn_log});
is(sql(q{SELECT directus_sync.replay('b')}), '1', 'replay: one dead letter queued again');
is(ran_as('domain'), 'directus/off', 'replay: the domain\'s CHECK ran, as the table\'s owner');
ok(wait_drained($node, 'b'), 'replay: delivered');
is(is_superuser(), 'f', 'replay: the owner is still no superuser');

# The owner makes its table unreadable to itself: re-creating an item the
# remote lacks fails for that item alone, and the remote's other changes go on.
sql(q{SET ROLE directus; CREATE TABLE notes (id int PRIMARY KEY, body text); RESET ROLE;
	SELECT directus_sync.subscribe('b', 'notes', ARRAY['body'])});
api_request($fake, 'DELETE', '/items/articles/9');
sql(q{SELECT directus_sync.pause('b')});
sql(q{SET ROLE directus; UPDATE articles SET title = 'missing on b, unreadable here' WHERE id = 9;
	REVOKE SELECT ON articles FROM directus; INSERT INTO notes VALUES (1, 'goes on'); RESET ROLE});
sql(q{SELECT directus_sync.resume('b')});
ok(wait_for('the note', sub { exists fake_item_map($fake, 'notes', 'id')->{1} }),
	'unreadable row: the remote\'s other changes are delivered');
ok(wait_for('the item to back off alone', sub {
		sql(q{SELECT count(*) FROM directus_sync.outbox WHERE item_key = '9' AND last_error ~ 'CURRENT_ROW_UNREADABLE'}) eq '1' }),
	'unreadable row: that item backs off alone, saying why');
is(sql(q{SELECT retry_at IS NULL FROM directus_sync.remote_status WHERE remote = 'b'}), 't',
	'unreadable row: the remote itself does not back off');

is(sql(q{SELECT count(*) FROM pwn_log WHERE superuser = 'on'}), '0', 'no code of the owner ran as a superuser');
is(server_crash($node), '', 'no crash in the server log');
$node->stop;
done_testing();
