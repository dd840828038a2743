# Review 11a: enable_app_status's second look (app_status_settle) waits
# for every transaction below its horizon, for every session holding a
# snapshot older than it (pg_stat_activity.backend_xmin), and for every
# prepared transaction that wrote dead_letter or conflict (its lock in
# pg_locks). Checked: a REPEATABLE READ writer of dead_letter whose
# snapshot was taken before enable_app_status committed, that writes after
# the horizon was set and then PREPAREs (it found the app status disabled
# and logged no change; its id is above the horizon; prepared, it has no
# backend_xmin) keeps the second look pending, and after COMMIT PREPARED
# its dead letter shows in sync_dead_letters. Failed before the fix (the
# second look ended, the dead letter never showed).
# Needs max_prepared_transactions > 0 (set here).
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = new_sync_node('review11a_settle_prepared', extra_conf => qq{
directus_sync.app_status_interval = 1h
max_prepared_transactions = 2
});
sub sql { return run_sql($node, $_[0]) }

sql(q{CREATE ROLE r11a_directus; ALTER SCHEMA public OWNER TO r11a_directus});
my $fixture = slurp_file('t/directus12_system.sql');
sql("SET ROLE r11a_directus;\n$fixture\nRESET ROLE;");
sql(q{SELECT directus_sync.add_remote('b', 'http://127.0.0.1:9', 'tok-b', enabled => false)});
is(sql(q{SELECT string_agg(mirror, ',' ORDER BY mirror) FROM directus_sync.app_status_backlog}),
	'sync_conflicts,sync_dead_letters', 'before: the backlog of a new install (diagnostic)');

my $writer = $node->background_psql('postgres');
# its snapshot: before enable_app_status
$writer->query_safe(q{BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM directus_sync.remote});
sql(q{SET client_min_messages = warning; SELECT directus_sync.enable_app_status()});
sql(q{SELECT directus_sync._app_status_refresh()});
is(sql(q{SELECT horizon IS NOT NULL FROM directus_sync.app_status_settle}), 't',
	'the second look has its horizon');
$writer->query_safe(q{INSERT INTO directus_sync.dead_letter (id, remote_id, collection, item_key, op, queued_at)
	SELECT 7, id, 'articles', '7', 'u', now() FROM directus_sync.remote WHERE name = 'b'});
$writer->query_safe(q{PREPARE TRANSACTION 'r11a_writer'});
sql(q{SELECT directus_sync._app_status_refresh()});
is(sql(q{SELECT count(*) FROM directus_sync.app_status_settle}), '1',
	'the prepared writer still pending: the second look waits');
$writer->query_safe(q{COMMIT PREPARED 'r11a_writer'});
$writer->quit;
sql(q{SELECT directus_sync._app_status_refresh()});
sql(q{SELECT directus_sync._app_status_refresh()});
is(sql(q{SELECT dead FROM directus_sync.remote_status WHERE remote = 'b'}), '1', 'remote_status counts the dead letter');
is(sql(q{SELECT string_agg(id::text, ',') FROM sync_dead_letters}), '7',
	'the prepared writer\'s dead letter shows after COMMIT PREPARED');
is(server_crash($node), '', 'no crash in the server log');
$node->stop;
done_testing();
