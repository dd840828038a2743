# remove_remote while a writer's transaction has already queued a change for
# that remote (its cached subscriptions still listed it). The outbox has no
# foreign key and capture locks no remote row, so such a row can outlive its
# remote: never claimed, never shown, and it kept the outbox from being
# truncated. Two cases:
#   - the writer's table has no other subscriber: remove_remote's DROP
#     TRIGGER waits for the writer, then removes and counts its row too;
#   - another remote still subscribes the table: nothing makes
#     remove_remote wait, the row is left behind, and the worker's idle
#     round (_shrink_outbox, every 10 s) removes it.
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = new_sync_node('remove_remote_race');
sub sql { return run_sql($node, $_[0]) }

# Nothing is shipped (the remotes are paused): only the queue matters.
sql(q{
	CREATE TABLE solo (id int PRIMARY KEY, title text);
	CREATE TABLE shared (id int PRIMARY KEY, title text);
	SELECT directus_sync.add_remote('b', 'http://127.0.0.1:9', 't');
	SELECT directus_sync.add_remote('c', 'http://127.0.0.1:9', 't');
	SELECT directus_sync.pause('b');
	SELECT directus_sync.pause('c');
	SELECT directus_sync.subscribe('b', 'solo', ARRAY['title']);
	SELECT directus_sync.subscribe('b', 'shared', ARRAY['title']);
	SELECT directus_sync.subscribe('c', 'shared', ARRAY['title']);
});

my $orphans_sql = q{SELECT count(*) FROM directus_sync.outbox o
	WHERE NOT EXISTS (SELECT FROM directus_sync.remote r WHERE r.id = o.remote_id)};

# ---------------------------------------------------------------------------
# The last subscriber of the table: remove_remote waits for the writer.

my $writer = $node->background_psql('postgres');
my $remover = $node->background_psql('postgres');
$writer->query_safe(q{BEGIN; INSERT INTO solo VALUES (1, 'queued for b')});
$remover->query_until(qr/removing\n/, "\\echo removing\nSELECT directus_sync.remove_remote('b');\n\\echo removed\n");
ok(wait_for('remove_remote to wait for the writer', sub {
	sql(q{SELECT count(*) FROM pg_stat_activity
		WHERE query LIKE '%remove_remote%' AND wait_event_type = 'Lock'}) eq '1';
}), 'last subscriber: remove_remote waits for the writer (DROP TRIGGER)');
$writer->query_safe('COMMIT');
my $out = $remover->query_until(qr/removed\n/, '');
like($out, qr/^1\nremoved\n/, 'last subscriber: remove_remote counts the change the writer queued meanwhile')
  or diag($out);
is(sql($orphans_sql), '0', 'last subscriber: no row left for the removed remote');

# ---------------------------------------------------------------------------
# Another remote subscribes the table: remove_remote does not wait.

sql(q{SELECT directus_sync.add_remote('b', 'http://127.0.0.1:9', 't');
	SELECT directus_sync.pause('b');
	SELECT directus_sync.subscribe('b', 'shared', ARRAY['title'])});
$writer->query_safe(q{BEGIN; INSERT INTO shared VALUES (1, 'queued for b and c')});
is(sql(q{SELECT directus_sync.remove_remote('b')}), '0', 'another subscriber: remove_remote does not wait');
# counted by the writer before its commit: a worker that starts after the
# commit removes the row at once (its first idle round), as one did under load
is($writer->query_safe($orphans_sql), '1', 'another subscriber: the writer left a row for the removed remote');
$writer->query_safe('COMMIT');
ok(wait_for('the worker to remove the row of the removed remote', sub { sql($orphans_sql) eq '0' }, timeout => 60),
	'another subscriber: the worker\'s idle round removes it');
is(outbox_count($node, 'c'), '1', 'another subscriber: c\'s row stays queued');

# Once c's row is gone too, the outbox is empty again (the orphan no longer
# keeps it from being truncated).
sql(q{SELECT directus_sync.unsubscribe('c', 'shared')});
is(sql('SELECT count(*) FROM directus_sync.outbox'), '0', 'the outbox is empty');

$writer->quit;
$remover->quit;
is(server_crash($node), '', 'no crash in the server log');
$node->stop;
done_testing();
