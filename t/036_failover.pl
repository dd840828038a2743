# Failover: a streaming standby runs no worker; once promoted it starts one,
# which ships what the old primary had queued and not yet delivered, and
# everything committed on the new primary arrives. The outbox is an ordinary
# table, replicated with the rows it describes, in the same transactions.
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $fake = start_fake(collections => { articles => { pk => 'id' } });
my $primary = new_sync_node('failover_primary', allows_streaming => 1);
sub on { my ($node, $sql) = @_; return run_sql($node, $sql) }

on($primary, q{CREATE TABLE articles (id int PRIMARY KEY, title text)});
on($primary, "SET log_statement = 'none'; SELECT directus_sync.add_remote('b', '$fake->{url}', '$fake->{token}')");
on($primary, q{SELECT directus_sync.subscribe('b', 'articles', ARRAY['title'])});
on($primary, q{INSERT INTO articles SELECT g, 'before the standby ' || g FROM generate_series(1, 50) g});
ok(wait_drained($primary, 'b'), 'the primary ships');

$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('failover_standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;
my $worker_sql = q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'directus_sync worker'};

# Changes queued while the remote is down: delivered by nobody yet.
ctl($fake, 'POST', 'down', { seconds => 6 });
on($primary, q{INSERT INTO articles SELECT g, 'queued on the old primary ' || g FROM generate_series(51, 150) g});
on($primary, q{UPDATE articles SET title = title || ' (edited)' WHERE id % 10 = 0});
on($primary, q{DELETE FROM articles WHERE id BETWEEN 41 AND 45});
$primary->wait_for_catchup($standby);
is(on($standby, $worker_sql), '0', 'the standby runs no worker');
ok(on($standby, q{SELECT count(*) FROM directus_sync.outbox}) > 0, 'the standby holds the queued changes');

$primary->stop('immediate');
$standby->promote;
ok(wait_for('a worker on the new primary', sub { on($standby, $worker_sql) eq '1' }, timeout => 30),
	'the promoted standby starts its worker');
on($standby, q{INSERT INTO articles SELECT g, 'on the new primary ' || g FROM generate_series(151, 200) g});
ok(wait_drained($standby, 'b', timeout => 60), 'the new primary drains the queue, old rows and new');
compare_items(fake_items($fake, 'articles'), table_rows($standby, 'SELECT id, title FROM articles', 'id'), 'id',
	'the remote equals the table of the new primary');
is(on($standby, q{SELECT paused FROM directus_sync.remote WHERE name = 'b'}), 'f',
	'a promoted standby is the same node: its remote is not paused');
is(server_crash($standby), '', 'no crash on the new primary');
$standby->stop;
done_testing();
