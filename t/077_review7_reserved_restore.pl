# Review 7: the event trigger directus_sync_reserve_app_tables refuses, in
# any schema holding directus_collections, a new relation named like one of
# the app's tables without directus_sync's CHECKs. A Directus collection of
# that name made before 0.3 (sync_conflicts, sync_subscriptions and
# sync_remotes are ordinary names for a user's own collection) is left alone
# by ALTER EXTENSION UPDATE, and works; but a dump of the database no longer
# restores: CREATE EXTENSION (early in the dump) makes the event trigger,
# which then refuses the collection's CREATE TABLE, and pg_restore goes on
# without the table, its data and its key: the copy silently (exit status
# aside) lacks a collection of the user's. Correct: the dump restores with
# every table (the reservation does not refuse what a restore brings back,
# or the upgrade refuses or renames the clash before it can bite).
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
sql(q{ALTER EXTENSION directus_sync UPDATE TO '0.3'});
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
