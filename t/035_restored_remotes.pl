# A copy of a database (restored from pg_dump, as staging copies of
# production are made) does not ship to the original's remotes on its own:
# its remotes are paused, with the reason in remote_status and the log,
# until directus_sync.resume() is run in the copy. The original goes on.
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $fake = start_fake(collections => { articles => { pk => 'id' } });
my $node = new_sync_node('restored', extra_conf => "directus_sync.databases = 'postgres,copy'\n");
sub sql { return run_sql($node, $_[0], $_[1]) }

sql(q{CREATE TABLE articles (id int PRIMARY KEY, title text)});
sql("SET log_statement = 'none'; SELECT directus_sync.add_remote('b', '$fake->{url}', '$fake->{token}')");
sql(q{SELECT directus_sync.subscribe('b', 'articles', ARRAY['title'])});
sql(q{INSERT INTO articles VALUES (1, 'from the original')});
ok(wait_drained($node, 'b'), 'the original ships');

# The copy: a dump of the original restored into a database of its own.
my $dump = "$PostgreSQL::Test::Utils::tmp_check/original.dump";
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('postgres') ], 'pg_dump of the original');
# (the log from before the restore: the copy's worker may start as soon as
# the restore is done, before the restart below)
my $log_offset = -s $node->logfile;
sql(q{CREATE DATABASE copy});
$node->command_ok([ 'pg_restore', '-d', $node->connstr('copy'), $dump ], 'restored into database copy');
$node->restart;    # the copy's worker starts with the server

isnt(sql(q{SELECT node_id FROM directus_sync.node}, 'copy'), sql(q{SELECT node_id FROM directus_sync.node}),
	'the copy is a node of its own');
my $mark = last_seq($fake);
sql(q{INSERT INTO articles VALUES (2, 'written in the copy')}, 'copy');
ok(wait_for('the copy to pause its remote', sub { sql(q{SELECT paused FROM directus_sync.remote WHERE name = 'b'}, 'copy') eq 't' }),
	'the copy pauses the remote it was restored with');
like(sql(q{SELECT last_error FROM directus_sync.remote_status WHERE remote = 'b'}, 'copy'),
	qr/configured in another database .*paused until directus_sync\.resume\(\)/, '... and says why in remote_status');
ok(wait_for('the log line', sub { slurp_file($node->logfile, $log_offset) =~ /remote "b" of database "copy" was configured in another database and is paused/ }),
	'... and in the server log, with a hint');
like(slurp_file($node->logfile, $log_offset), qr/HINT:  Run SELECT directus_sync\.resume\('b'\) in that database/,
	'... the hint names the call');
sleep(1);
is(scalar @{ fake_requests($fake, $mark, 'articles') }, 0, 'the copy sent nothing to the original\'s remote');
is(sql(q{SELECT count(*) FROM directus_sync.outbox}, 'copy'), '1', 'its change waits in its outbox');

# The original is not affected.
sql(q{INSERT INTO articles VALUES (3, 'the original goes on')});
ok(wait_drained($node, 'b'), 'the original still ships');
is(sql(q{SELECT paused FROM directus_sync.remote WHERE name = 'b'}), 'f', 'the original\'s remote is not paused');

# resume() in the copy: it ships from now on.
sql(q{SELECT directus_sync.resume('b')}, 'copy');
ok(wait_drained($node, 'b', db => 'copy'), 'after resume the copy ships');
ok(exists fake_item_map($fake, 'articles', 'id')->{2}, 'the copy\'s change arrived');
sql(q{INSERT INTO articles VALUES (4, 'written in the copy after resume')}, 'copy');
ok(wait_drained($node, 'b', db => 'copy'), 'and keeps shipping');
is(sql(q{SELECT paused FROM directus_sync.remote WHERE name = 'b'}, 'copy'), 'f', 'resumed for good');

is(server_crash($node), '', 'no crash in the server log');
$node->stop;
done_testing();
