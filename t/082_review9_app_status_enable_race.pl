# Review 9: a dead letter (or conflict) written in a transaction that is
# open while enable_app_status() runs and commits never shows in the app's
# sync_dead_letters (sync_conflicts), though sync_remotes_status.dead
# counts it. The statement trigger of dead_letter (_dead_letter_changed)
# found the app status disabled, so it logged no change and, the backlog
# mark ('compare whole') being there already, left it; enable_app_status's
# own refresh compared the tables whole without seeing the uncommitted row
# and took the backlog mark away. Afterwards nothing names the row: the
# change log has nothing, the backlog is empty, and later refreshes read
# only the log. Expected: the row shows after the writer's commit and a
# refresh or two.
# WRONG today: "the dead letter shows" and "the conflict shows" fail
# (0 rows shown, while remote_status.dead says 1).
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
is(server_crash($node), '', 'no crash in the server log');
$node->stop;
done_testing();
