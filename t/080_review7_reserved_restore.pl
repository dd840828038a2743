# Review 7: the event trigger directus_sync_reserve_app_tables refuses, in
# any schema holding directus_collections, a new relation named like one of
# the app's tables without directus_sync's CHECKs. A Directus collection of
# that name made before 0.3 (sync_conflicts, sync_subscriptions and
# sync_remotes are ordinary names for a user's own collection) is left alone
# by ALTER EXTENSION UPDATE (which warns of it). Checked: a dump of the
# database restores with the table and its row; the event trigger lets a
# restore pass (pg_restore runs with check_function_bodies off). (Failed
# before the fix: CREATE EXTENSION, early in the dump, made the event
# trigger, which then refused the collection's CREATE TABLE, and pg_restore
# went on without the table and its data.)
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = new_sync_node('review7_reserved_restore');
sub sql { return run_sql($node, $_[0], $_[1] // 'source') }

run_sql($node, q{CREATE ROLE r7_directus; CREATE DATABASE source OWNER r7_directus; CREATE DATABASE target OWNER r7_directus});
sql(q{CREATE EXTENSION directus_sync VERSION '0.2'});
my $fixture = slurp_file('t/directus12_system.sql');
# A Directus database under 0.2, with a collection of the user's named sync_conflicts.
sql("SET ROLE r7_directus;\n$fixture\n"
	. "CREATE TABLE sync_conflicts (id serial PRIMARY KEY, note text);\n"
	. "INSERT INTO directus_collections (collection) VALUES ('sync_conflicts');\n"
	. "INSERT INTO sync_conflicts (note) VALUES ('a row of the user''s');\n"
	. "RESET ROLE;");
my ($upd_out, $upd_err) = ('', '');
is($node->psql('source', q{ALTER EXTENSION directus_sync UPDATE TO '0.3'}, stdout => \$upd_out, stderr => \$upd_err),
	0, 'the upgrade succeeds');
like($upd_err, qr/WARNING:  relation public\.sync_conflicts has a name directus_sync 0\.3 reserves/,
	'... and warns of the collection named like an app table');
is(sql(q{SELECT note FROM sync_conflicts}), "a row of the user's", 'after the upgrade: the collection is there');

my $file = "$PostgreSQL::Test::Utils::tmp_check/review7_reserved.dump";
$node->command_ok([ 'pg_dump', '--format=custom', '--file', $file, '--dbname', $node->connstr('source') ], 'pg_dump');
my ($stdout, $stderr) = ('', '');
my $ok = IPC::Run::run([ 'pg_restore', '--dbname', $node->connstr('target'), $file ], '>', \$stdout, '2>', \$stderr);
ok($ok, 'pg_restore: no error') or diag($stderr);
is(run_sql($node, q{SELECT to_regclass('public.sync_conflicts') IS NOT NULL}, 'target'), 't',
	'the restored copy has table sync_conflicts');
is(run_sql($node, q{SELECT string_agg(note, ',') FROM sync_conflicts}, 'target'), "a row of the user's",
	'... and its row')
  if run_sql($node, q{SELECT to_regclass('public.sync_conflicts') IS NOT NULL}, 'target') eq 't';

$node->stop;
done_testing();
