# Review 9: a dead letter (or conflict) written in a transaction that is
# open while enable_app_status() runs and commits shows in the app's
# sync_dead_letters (sync_conflicts) after the writer's commit and the
# worker's next refreshes. Its statement trigger (_dead_letter_changed)
# found the app status disabled and logged no change, and
# enable_app_status's own refresh could not see the uncommitted row; so
# enable leaves a row in directus_sync.app_status_settle, and the worker
# compares the tables whole once more when every transaction that may have
# written so has ended. Before the fix enable's refresh took the backlog
# mark away and the row never showed (0 rows shown, while
# remote_status.dead said 1).
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = new_sync_node('review9_app_status_enable_race', extra_conf => qq{
directus_sync.app_status_interval = 500
});
sub sql { return run_sql($node, $_[0]) }

sql(q{CREATE ROLE r9_directus; ALTER SCHEMA public OWNER TO r9_directus});
my $fixture = slurp_file('t/directus12_system.sql');
sql("SET ROLE r9_directus;\n$fixture\nRESET ROLE;");
sql(q{SELECT directus_sync.add_remote('b', 'http://127.0.0.1:9', 'tok-b', enabled => false)});
is(sql(q{SELECT string_agg(mirror, ',' ORDER BY mirror) FROM directus_sync.app_status_backlog}),
	'sync_conflicts,sync_dead_letters', 'before: the backlog of a new install (diagnostic)');

# A writer's transaction (the worker's window, an incoming sync) is open ...
my $writer = $node->background_psql('postgres');
$writer->query_safe(q{BEGIN;
	INSERT INTO directus_sync.dead_letter (id, remote_id, collection, item_key, op, queued_at)
	SELECT 1, id, 'articles', '1', 'u', now() FROM directus_sync.remote WHERE name = 'b';
	INSERT INTO directus_sync.conflict (remote_id, collection, item_key, field, winner)
	SELECT id, 'articles', '1', 'title', 'local' FROM directus_sync.remote WHERE name = 'b'});
# ... while the app status is enabled (and commits) ...
sql(q{SET client_min_messages = warning; SELECT directus_sync.enable_app_status()});
# ... and commits after.
$writer->query_safe('COMMIT');
$writer->quit;

# The worker refreshes every 500 ms; a refresh by hand too.
sleep 2;
sql(q{SELECT directus_sync._app_status_refresh()});
is(sql(q{SELECT dead FROM sync_remotes_status WHERE remote = 'b'}), '1',
	'the status counts the dead letter');
is(sql(q{SELECT count(*) FROM sync_dead_letters}), '1', 'the dead letter shows in sync_dead_letters');
is(sql(q{SELECT count(*) FROM sync_conflicts}), '1', 'the conflict shows in sync_conflicts');
is(sql(q{SELECT count(*) FROM directus_sync.app_status_settle}), '0', 'the second look is done');

# A writer left open across several refreshes: the second look waits for it
# (nobody waits for the second look). The backlog marks are there (as after
# CREATE EXTENSION), so the writer's trigger writes none, and only the
# second look can show its row.
sql(q{SET client_min_messages = warning; SELECT directus_sync.disable_app_status()});
sql(q{INSERT INTO directus_sync.app_status_backlog VALUES ('sync_dead_letters'), ('sync_conflicts') ON CONFLICT DO NOTHING});
$writer = $node->background_psql('postgres');
$writer->query_safe(q{BEGIN;
	INSERT INTO directus_sync.dead_letter (id, remote_id, collection, item_key, op, queued_at)
	SELECT 2, id, 'articles', '2', 'u', now() FROM directus_sync.remote WHERE name = 'b'});
sql(q{SET client_min_messages = warning; SELECT directus_sync.enable_app_status()});
sleep 2;
sql(q{SELECT directus_sync._app_status_refresh()});
is(sql(q{SELECT horizon IS NOT NULL FROM directus_sync.app_status_settle}), 't',
	'a writer still open: the second look waits, its horizon set');
$writer->query_safe('COMMIT');
$writer->quit;
sleep 2;
sql(q{SELECT directus_sync._app_status_refresh()});
is(sql(q{SELECT string_agg(id::text, ',' ORDER BY id) FROM sync_dead_letters}), '1,2',
	'the long writer\'s dead letter shows after its commit');
is(sql(q{SELECT count(*) FROM directus_sync.app_status_settle}), '0', 'the second look is done again');

# A REPEATABLE READ writer whose snapshot predates enable's commit writes
# after it: its trigger still finds the app status disabled (its snapshot),
# and the backlog marks there (its snapshot again).
sql(q{SET client_min_messages = warning; SELECT directus_sync.disable_app_status()});
sql(q{INSERT INTO directus_sync.app_status_backlog VALUES ('sync_dead_letters'), ('sync_conflicts') ON CONFLICT DO NOTHING});
$writer = $node->background_psql('postgres');
$writer->query_safe(q{BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM directus_sync.remote});
sql(q{SET client_min_messages = warning; SELECT directus_sync.enable_app_status()});
$writer->query_safe(q{INSERT INTO directus_sync.dead_letter (id, remote_id, collection, item_key, op, queued_at)
	SELECT 3, id, 'articles', '3', 'u', now() FROM directus_sync.remote WHERE name = 'b'});
sleep 2;
sql(q{SELECT directus_sync._app_status_refresh()});
is(sql(q{SELECT count(*) FROM directus_sync.app_status_settle}), '1',
	'the REPEATABLE READ writer still open: the second look waits');
$writer->query_safe('COMMIT');
$writer->quit;
sleep 2;
sql(q{SELECT directus_sync._app_status_refresh()});
is(sql(q{SELECT string_agg(id::text, ',' ORDER BY id) FROM sync_dead_letters}), '1,2,3',
	'the REPEATABLE READ writer\'s dead letter shows after its commit');
is(server_crash($node), '', 'no crash in the server log');
$node->stop;
done_testing();
