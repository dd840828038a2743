# Queue hygiene (docs/operations.md, "Queue hygiene"): an idle worker
# truncates an outbox that is empty but larger than 4 MB (it looks every
# 10 s). Autovacuum is off here, so only the worker can shrink it, and a
# new relfilenode tells a TRUNCATE from a vacuum.
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $fake = start_fake(collections => { articles => { pk => 'id' } }, log_max => 1000);
my $node = new_sync_node('shrink', extra_conf => "autovacuum = off\n");
sub sql { return run_sql($node, $_[0]) }

sql(q{CREATE TABLE articles (id int PRIMARY KEY, body text)});
sql("SELECT directus_sync.add_remote('b', '$fake->{url}', 'test-token', batch_max_items => 1000)");
sql(q{SELECT directus_sync.subscribe('b', 'articles', ARRAY['body'])});
sub outbox_bytes { return sql(q{SELECT pg_total_relation_size('directus_sync.outbox')}) }
sub outbox_file { return sql(q{SELECT pg_relation_filenode('directus_sync.outbox')}) }

# Over 4 MB queued while the remote is paused, then delivered.
sql(q{SELECT directus_sync.pause('b')});
sql(q{INSERT INTO articles SELECT g, repeat(md5(g::text), 6) FROM generate_series(1001, 21000) g});
my $full = outbox_bytes();
ok($full > 4 * 1024 * 1024, sprintf('20,000 changes queued: the outbox takes %.1f MB', $full / 1048576));
my $full_file = outbox_file();
sql(q{SELECT directus_sync.resume('b')});
ok(wait_drained($node, 'b'), 'delivered');
is(sql(q{SELECT count(*) FROM directus_sync.outbox}), 0, 'the outbox is empty');

my $shrunk;
ok(wait_for('the outbox to shrink', sub { ($shrunk = outbox_bytes()) < 1024 * 1024 }, timeout => 60),
	sprintf('the idle worker shrinks the drained outbox: %.1f MB to %d kB', $full / 1048576, ($shrunk // 0) / 1024));
isnt(outbox_file(), $full_file, '... by a TRUNCATE (a new relfilenode; autovacuum is off)');

# It goes on working afterwards.
sql(q{INSERT INTO articles VALUES (1, 'after the truncate')});
ok(wait_drained($node, 'b'), 'a change after the truncate: delivered');
is(fake_item_map($fake, 'articles', 'id')->{1}{body}, 'after the truncate', '... with its value');
is(scalar @{ fake_items($fake, 'articles') }, 20001, 'the remote has every item');

is(server_crash($node), '', 'no crash in the server log');
$node->stop;
done_testing();
